/*
 * ntlm_message: NTLMSSP wire format.  Every length and offset read from a
 * message is checked against that message before anything is dereferenced;
 * fields may not overlap each other or the fixed header, and no field may be
 * longer than XI_NTLM_FIELD_MAX.
 */
#include "ntlm_message.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ntlm_server.h"
#include "unicode.h"

static const uint8_t signature[8] = { 'N', 'T', 'L', 'M', 'S', 'S', 'P', 0 };

uint16_t xi_ntlm_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t xi_ntlm_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

uint64_t xi_ntlm_le64(const uint8_t *p)
{
	return (uint64_t)xi_ntlm_le32(p) | ((uint64_t)xi_ntlm_le32(p + 4) << 32);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

uint64_t xi_ntlm_filetime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* 11644473600 s from 1601-01-01 to 1970-01-01 */
	return ((uint64_t)ts.tv_sec + 11644473600ull) * 10000000ull +
	       (uint64_t)ts.tv_nsec / 100;
}

static int check_header(const uint8_t *msg, size_t len, size_t min, uint32_t type,
			const char *what, struct xi_error *err)
{
	if (msg == NULL || len < 12)
		return xi_error_set(err, XI_ERR_INVALID, "%s: message too short (%zu bytes)", what, len);
	if (len > XI_NTLM_MESSAGE_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "%s: message too long (%zu bytes, limit %d)",
				    what, len, XI_NTLM_MESSAGE_MAX);
	if (memcmp(msg, signature, sizeof(signature)) != 0)
		return xi_error_set(err, XI_ERR_INVALID, "%s: no NTLMSSP signature", what);
	if (xi_ntlm_le32(msg + 8) != type)
		return xi_error_set(err, XI_ERR_INVALID, "%s: message type %u, expected %u",
				    what, xi_ntlm_le32(msg + 8), type);
	if (len < min)
		return xi_error_set(err, XI_ERR_INVALID, "%s: message truncated (%zu bytes, need %zu)",
				    what, len, min);
	return 0;
}

/* Reads the 8-byte field descriptor at msg+at and checks that the field lies
 * within [header, len). */
static int read_field(const uint8_t *msg, size_t len, size_t at, size_t header,
		      const char *what, const char *name, struct xi_ntlm_field *f,
		      struct xi_error *err)
{
	uint16_t flen = xi_ntlm_le16(msg + at);
	uint32_t off = xi_ntlm_le32(msg + at + 4);

	f->len = flen;
	f->offset = off;
	f->data = NULL;
	if (flen == 0)
		return 0;
	if (flen > XI_NTLM_FIELD_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "%s: %s field too long (%u bytes)", what, name, flen);
	if (off < header || off > len || flen > len - off)
		return xi_error_set(err, XI_ERR_INVALID, "%s: %s field (offset %u, length %u) outside the message",
				    what, name, off, flen);
	f->data = msg + off;
	return 0;
}

int xi_ntlm_parse_negotiate(const uint8_t *msg, size_t len, struct xi_ntlm_negotiate *out,
			    struct xi_error *err)
{
	struct xi_ntlm_field domain, ws;

	if (check_header(msg, len, 16, 1, "NEGOTIATE", err) < 0)
		return -1;
	out->flags = xi_ntlm_le32(msg + 12);
	/* The supplied domain/workstation are informational; they are only
	 * checked for sanity, never used. */
	if (len >= 32) {
		if (read_field(msg, len, 16, 32, "NEGOTIATE", "domain", &domain, err) < 0 ||
		    read_field(msg, len, 24, 32, "NEGOTIATE", "workstation", &ws, err) < 0)
			return -1;
	}
	return 0;
}

static bool fields_overlap(const struct xi_ntlm_field *a, const struct xi_ntlm_field *b)
{
	if (a->len == 0 || b->len == 0)
		return false;
	return a->offset < b->offset + (uint32_t)b->len && b->offset < a->offset + (uint32_t)a->len;
}

int xi_ntlm_parse_authenticate(const uint8_t *msg, size_t len, struct xi_ntlm_authenticate *out,
			       struct xi_error *err)
{
	static const char *const names[6] = {
		"LmChallengeResponse", "NtChallengeResponse", "DomainName",
		"UserName", "Workstation", "EncryptedRandomSessionKey"
	};
	/* Through NegotiateFlags; Version and MIC are optional (older clients). */
	const size_t header = 64;
	struct xi_ntlm_field *fields[6];
	size_t i, j;

	memset(out, 0, sizeof(*out));
	if (check_header(msg, len, header, 3, "AUTHENTICATE", err) < 0)
		return -1;
	fields[0] = &out->lm;
	fields[1] = &out->nt;
	fields[2] = &out->domain;
	fields[3] = &out->user;
	fields[4] = &out->workstation;
	fields[5] = &out->session_key;
	out->payload_start = (uint32_t)len;
	for (i = 0; i < 6; i++) {
		if (read_field(msg, len, 12 + 8 * i, header, "AUTHENTICATE", names[i], fields[i], err) < 0)
			return -1;
		if (fields[i]->len > 0 && fields[i]->offset < out->payload_start)
			out->payload_start = fields[i]->offset;
	}
	for (i = 0; i < 6; i++)
		for (j = i + 1; j < 6; j++)
			if (fields_overlap(fields[i], fields[j]))
				return xi_error_set(err, XI_ERR_INVALID, "AUTHENTICATE: %s and %s fields overlap",
						    names[i], names[j]);
	out->flags = xi_ntlm_le32(msg + 60);
	return 0;
}

int xi_ntlm_parse_v2_blob(const uint8_t *blob, size_t len, struct xi_ntlm_v2_blob *out,
			  struct xi_error *err)
{
	size_t pos;
	uint16_t id, alen;

	memset(out, 0, sizeof(*out));
	if (len < XI_NTLM_V2_BLOB_MIN)
		return xi_error_set(err, XI_ERR_INVALID, "NTLMv2 response too short (%zu bytes)", len);
	if (blob[0] != 1 || blob[1] != 1)
		return xi_error_set(err, XI_ERR_INVALID, "NTLMv2 response version %u.%u, expected 1.1",
				    blob[0], blob[1]);
	out->timestamp = xi_ntlm_le64(blob + 8);
	out->client_challenge = blob + 16;
	/* AvPairs follow the 4 reserved bytes at 24.  Each pair is bounded by
	 * the blob; MsvAvEOL ends the list, and trailing bytes after it (the
	 * padding clients add) are allowed. */
	pos = XI_NTLM_V2_BLOB_MIN;
	while (pos + 4 <= len) {
		id = xi_ntlm_le16(blob + pos);
		alen = xi_ntlm_le16(blob + pos + 2);
		pos += 4;
		if (alen > len - pos)
			return xi_error_set(err, XI_ERR_INVALID, "NTLMv2 response: AV pair %u runs past the end", id);
		if (id == XI_MSV_AV_EOL)
			return 0;
		if (id == XI_MSV_AV_FLAGS) {
			if (alen != 4)
				return xi_error_set(err, XI_ERR_INVALID, "NTLMv2 response: MsvAvFlags of %u bytes", alen);
			out->has_av_flags = true;
			out->av_flags = xi_ntlm_le32(blob + pos);
		} else if (id == XI_MSV_AV_TIMESTAMP) {
			if (alen != 8)
				return xi_error_set(err, XI_ERR_INVALID, "NTLMv2 response: MsvAvTimestamp of %u bytes", alen);
			out->has_av_timestamp = true;
			out->av_timestamp = xi_ntlm_le64(blob + pos);
		}
		pos += alen;
	}
	if (pos != len)
		return xi_error_set(err, XI_ERR_INVALID, "NTLMv2 response: truncated AV pair");
	/* No MsvAvEOL: tolerated when the pairs end exactly at the end. */
	return 0;
}

/* Appends one AV pair holding name as UTF-16LE; returns the new position or
 * 0 when it does not fit. */
static size_t put_av_string(uint8_t *buf, size_t pos, size_t size, uint16_t id,
			    const char *name, struct xi_error *err)
{
	int n;

	if (name == NULL || name[0] == '\0')
		return pos;
	if (size - pos < 4)
		return 0;
	n = xi_utf8_to_utf16le(name, strlen(name), buf + pos + 4, size - pos - 4, err);
	if (n < 0 || n > 0xFFFF)
		return 0;
	put16(buf + pos, id);
	put16(buf + pos + 2, (uint16_t)n);
	return pos + 4 + (size_t)n;
}

int xi_ntlm_build_challenge(const struct xi_ntlm_challenge_spec *spec, uint8_t **out_r,
			    size_t *len_r, struct xi_error *err)
{
	/* Names are bounded by server_new (255 bytes each), so this is ample. */
	const size_t size = XI_NTLM_MESSAGE_MAX;
	uint8_t *buf;
	size_t pos = XI_NTLM_CHALLENGE_HEADER, info_start;
	uint16_t target_len = 0;
	int n;

	*out_r = NULL;
	*len_r = 0;
	buf = malloc(size);
	if (buf == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	/* Only the header needs zeroes (reserved fields, the version); every
	 * byte after it up to pos is written below, and nothing past pos is
	 * ever read. */
	memset(buf, 0, XI_NTLM_CHALLENGE_HEADER);
	memcpy(buf, signature, sizeof(signature));
	put32(buf + 8, 2);
	if ((spec->flags & XI_NTLMSSP_REQUEST_TARGET) && spec->target_name != NULL) {
		if (spec->flags & XI_NTLMSSP_NEGOTIATE_UNICODE) {
			n = xi_utf8_to_utf16le(spec->target_name, strlen(spec->target_name),
					       buf + pos, 512, err);
		} else {
			n = (int)strlen(spec->target_name);
			if (n > 512)
				n = -1;
			else
				memcpy(buf + pos, spec->target_name, (size_t)n);
		}
		if (n < 0)
			goto toolong;
		target_len = (uint16_t)n;
	}
	put16(buf + 12, target_len);
	put16(buf + 14, target_len);
	put32(buf + 16, target_len ? (uint32_t)pos : 0);
	pos += target_len;
	put32(buf + 20, spec->flags);
	memcpy(buf + 24, spec->server_challenge, 8);
	/* Version (only meaningful with NEGOTIATE_VERSION): 6.1 build 7600,
	 * NTLMSSP revision 15, as Windows 7 announces it. */
	if (spec->flags & XI_NTLMSSP_NEGOTIATE_VERSION) {
		buf[48] = 6;
		buf[49] = 1;
		put16(buf + 50, 7600);
		buf[55] = 15;
	}
	info_start = pos;
	pos = put_av_string(buf, pos, size, XI_MSV_AV_NB_DOMAIN, spec->nb_domain, err);
	if (pos)
		pos = put_av_string(buf, pos, size, XI_MSV_AV_NB_COMPUTER, spec->nb_computer, err);
	if (pos)
		pos = put_av_string(buf, pos, size, XI_MSV_AV_DNS_DOMAIN, spec->dns_domain, err);
	if (pos)
		pos = put_av_string(buf, pos, size, XI_MSV_AV_DNS_COMPUTER, spec->dns_computer, err);
	if (pos == 0 || size - pos < 12 + 4)
		goto toolong;
	put16(buf + pos, XI_MSV_AV_TIMESTAMP);
	put16(buf + pos + 2, 8);
	put64(buf + pos + 4, spec->timestamp);
	pos += 12;
	put16(buf + pos, XI_MSV_AV_EOL);
	put16(buf + pos + 2, 0);
	pos += 4;
	put16(buf + 40, (uint16_t)(pos - info_start));
	put16(buf + 42, (uint16_t)(pos - info_start));
	put32(buf + 44, (uint32_t)info_start);
	*out_r = buf;
	*len_r = pos;
	return 0;
toolong:
	free(buf);
	return xi_error_set(err, XI_ERR_INVALID, "CHALLENGE: names do not fit in a message");
}
