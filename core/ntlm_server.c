/*
 * ntlm_server: one NTLMSSP exchange, server side (MS-NLMP 3.2.5 / 3.3).
 *
 * States: NEW -> CHALLENGED -> AUTHENTICATED -> DONE.  A challenge is used
 * once: the first AUTHENTICATE consumes it, well-formed or not, and any later
 * one is refused (REPLAYED when it is the same message, STATE otherwise).
 *
 * What is accepted:
 *   NTLMv2 (NT response > 24 bytes): NTProofStr must verify, then the blob's
 *     timestamp must be within the window, then the MIC if MsvAvFlags says
 *     one is present.
 *   LMv2 alone (NT response empty, 24-byte LM response): verified as LMv2;
 *     a plain LM response can never match it, so "LM alone" is never
 *     accepted.
 *   NTLMv1 and NTLMv1-ESS (24-byte NT response): only with allow_v1; the LM
 *     response beside them is ignored.
 *   Anonymous (empty user, or the ANONYMOUS flag): refused.
 * For the identity hashed into NTOWFv2 the domain is tried as sent, then
 * empty (MS-NLMP 3.3.2 retries with a NIL domain); OEM names with 8-bit bytes
 * are also tried zero-extended (what curl and libntlm do).
 */
#include "ntlm_server.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ntlm_crypto.h"
#include "ntlm_message.h"
#include "unicode.h"

#define NAME_MAX_BYTES 255              /* configured names */
#define ID_UTF8_MAX (3 * XI_NTLM_FIELD_MAX / 2 + 1)

enum server_state { ST_NEW, ST_CHALLENGED, ST_AUTHENTICATED, ST_DONE };

struct xi_ntlm_server {
	bool allow_v1;
	unsigned window;

	enum server_state state;
	bool names_ok;                  /* user/domain/workstation decoded */
	bool auth_ok;                   /* the AUTHENTICATE parsed and passed policy */
	bool oem;                       /* names in the AUTHENTICATE are OEM bytes */
	uint32_t challenge_flags;
	uint8_t server_challenge[8];

	uint8_t *negotiate, *challenge, *authenticate;
	size_t negotiate_len, challenge_len, authenticate_len;
	struct xi_ntlm_authenticate auth;  /* points into authenticate */

	/* The names last: public text, and 5.6 KB that neither needs zeroing
	 * when the exchange starts (each is written before it is read) nor
	 * wiping when it ends; the fields above are both. */
	char nb_domain[NAME_MAX_BYTES + 1];
	char dns_domain[NAME_MAX_BYTES + 1];
	char nb_computer[NAME_MAX_BYTES + 1];
	char dns_computer[NAME_MAX_BYTES + 1];
	char user[ID_UTF8_MAX];
	char domain[ID_UTF8_MAX];
	char workstation[ID_UTF8_MAX];
};

#define SERVER_STATE_SIZE offsetof(struct xi_ntlm_server, nb_domain)

const char *xi_ntlm_failure_name(enum xi_ntlm_failure f)
{
	switch (f) {
	case XI_NTLM_OK: return "ok";
	case XI_NTLM_MALFORMED: return "malformed";
	case XI_NTLM_STATE: return "state";
	case XI_NTLM_REPLAYED: return "replayed";
	case XI_NTLM_ANONYMOUS: return "anonymous";
	case XI_NTLM_V1_REFUSED: return "v1_refused";
	case XI_NTLM_EXPIRED: return "expired";
	case XI_NTLM_BAD_RESPONSE: return "bad_response";
	case XI_NTLM_BAD_MIC: return "bad_mic";
	case XI_NTLM_INTERNAL: return "internal";
	}
	return "unknown";
}

static bool copy_name(char *dst, const char *src, const char *fallback)
{
	if (src == NULL || src[0] == '\0')
		src = fallback;
	if (strlen(src) > NAME_MAX_BYTES || !xi_utf8_valid_text(src, strlen(src)))
		return false;
	strcpy(dst, src);
	return true;
}

struct xi_ntlm_server *xi_ntlm_server_new(const struct xi_ntlm_settings *settings)
{
	struct xi_ntlm_server *srv;

	if (settings == NULL)
		return NULL;
	srv = malloc(sizeof(*srv));
	if (srv == NULL)
		return NULL;
	memset(srv, 0, SERVER_STATE_SIZE);
	srv->user[0] = srv->domain[0] = srv->workstation[0] = '\0';
	srv->allow_v1 = settings->allow_v1;
	srv->window = settings->timestamp_window;
	/* impacket refuses a challenge without the NetBIOS computer name, so
	 * there is always one; DNS names are left out when not configured. */
	if (!copy_name(srv->nb_domain, settings->netbios_domain, "WORKGROUP") ||
	    !copy_name(srv->nb_computer, settings->netbios_computer, "XIDENT") ||
	    !copy_name(srv->dns_domain, settings->dns_domain, "") ||
	    !copy_name(srv->dns_computer, settings->dns_computer, "")) {
		free(srv);
		return NULL;
	}
	return srv;
}

void xi_ntlm_server_free(struct xi_ntlm_server *srv)
{
	if (srv == NULL)
		return;
	/* The CHALLENGE and AUTHENTICATE together are a crackable NetNTLMv2
	 * record, so they do not go back to the heap readable. */
	OPENSSL_clear_free(srv->negotiate, srv->negotiate_len);
	OPENSSL_clear_free(srv->challenge, srv->challenge_len);
	OPENSSL_clear_free(srv->authenticate, srv->authenticate_len);
	OPENSSL_cleanse(srv, SERVER_STATE_SIZE);
	free(srv);
}

static enum xi_ntlm_failure fail(struct xi_error *err, enum xi_ntlm_failure f,
				 enum xi_status status, const char *message)
{
	xi_error_set(err, status, "%s", message);
	return f;
}

static uint32_t negotiate_flags(uint32_t client)
{
	uint32_t flags = XI_NTLMSSP_NEGOTIATE_NTLM | XI_NTLMSSP_NEGOTIATE_TARGET_INFO;
	const uint32_t echo = XI_NTLMSSP_NEGOTIATE_ESS | XI_NTLMSSP_NEGOTIATE_ALWAYS_SIGN |
			      XI_NTLMSSP_NEGOTIATE_SIGN | XI_NTLMSSP_NEGOTIATE_SEAL |
			      XI_NTLMSSP_NEGOTIATE_128 | XI_NTLMSSP_NEGOTIATE_56 |
			      XI_NTLMSSP_NEGOTIATE_KEY_EXCH | XI_NTLMSSP_NEGOTIATE_VERSION;

	if (client & XI_NTLMSSP_NEGOTIATE_UNICODE)
		flags |= XI_NTLMSSP_NEGOTIATE_UNICODE;
	else
		flags |= XI_NTLMSSP_NEGOTIATE_OEM;
	if (client & XI_NTLMSSP_REQUEST_TARGET)
		flags |= XI_NTLMSSP_REQUEST_TARGET | XI_NTLMSSP_TARGET_TYPE_DOMAIN;
	/* Never LM_KEY: it needs the LM hash, which is never stored. */
	return flags | (client & echo);
}

enum xi_ntlm_failure xi_ntlm_server_challenge(struct xi_ntlm_server *srv,
					      const uint8_t *negotiate, size_t len,
					      uint8_t **challenge_r, size_t *challenge_len_r,
					      struct xi_error *err)
{
	struct xi_ntlm_negotiate neg;
	struct xi_ntlm_challenge_spec spec;
	uint8_t *out;
	size_t out_len;

	*challenge_r = NULL;
	*challenge_len_r = 0;
	if (srv->state != ST_NEW)
		return fail(err, XI_NTLM_STATE, XI_ERR_INVALID, "NEGOTIATE after the challenge was sent");
	if (xi_ntlm_parse_negotiate(negotiate, len, &neg, err) < 0)
		return XI_NTLM_MALFORMED;
	memset(&spec, 0, sizeof(spec));
	spec.flags = negotiate_flags(neg.flags);
	if (RAND_bytes(spec.server_challenge, sizeof(spec.server_challenge)) != 1)
		return fail(err, XI_NTLM_INTERNAL, XI_ERR_INTERNAL, "OpenSSL RAND_bytes failed");
	spec.timestamp = xi_ntlm_filetime_now();
	spec.target_name = srv->nb_domain;
	spec.nb_domain = srv->nb_domain;
	spec.nb_computer = srv->nb_computer;
	spec.dns_domain = srv->dns_domain;
	spec.dns_computer = srv->dns_computer;
	if (xi_ntlm_build_challenge(&spec, &out, &out_len, err) < 0)
		return XI_NTLM_INTERNAL;
	srv->negotiate = OPENSSL_malloc(len);
	srv->challenge = OPENSSL_malloc(out_len);
	if (srv->negotiate == NULL || srv->challenge == NULL) {
		free(out);
		return fail(err, XI_NTLM_INTERNAL, XI_ERR_NOMEM, "out of memory");
	}
	/* Kept for the MIC, which covers all three messages. */
	memcpy(srv->negotiate, negotiate, len);
	srv->negotiate_len = len;
	memcpy(srv->challenge, out, out_len);
	srv->challenge_len = out_len;
	memcpy(srv->server_challenge, spec.server_challenge, 8);
	srv->challenge_flags = spec.flags;
	srv->state = ST_CHALLENGED;
	*challenge_r = out;
	*challenge_len_r = out_len;
	return XI_NTLM_OK;
}

/* One name field to UTF-8 text (no controls). */
static int field_to_utf8(const struct xi_ntlm_field *f, bool oem, char *out, size_t size,
			 struct xi_error *err)
{
	size_t i, used = 0;

	if (f->len == 0) {
		out[0] = '\0';
		return 0;
	}
	if (!oem) {
		if (xi_utf16le_to_utf8(f->data, f->len, out, size, err) < 0)
			return -1;
	} else if (xi_utf8_valid_text((const char *)f->data, f->len)) {
		if ((size_t)f->len >= size)
			return xi_error_set(err, XI_ERR_INVALID, "name too long");
		memcpy(out, f->data, f->len);
		out[f->len] = '\0';
	} else {
		/* Not UTF-8: the OEM code page is unknown, Latin-1 is the
		 * least surprising reading (and what zero-extension means). */
		for (i = 0; i < f->len; i++) {
			uint8_t c = f->data[i];
			if (used + 3 > size)
				return xi_error_set(err, XI_ERR_INVALID, "name too long");
			if (c < 0x80) {
				out[used++] = (char)c;
			} else {
				out[used++] = (char)(0xC0 | (c >> 6));
				out[used++] = (char)(0x80 | (c & 0x3F));
			}
		}
		out[used] = '\0';
	}
	if (!xi_utf8_valid_text(out, strlen(out)))
		return xi_error_set(err, XI_ERR_INVALID, "name holds control characters");
	return 0;
}

enum xi_ntlm_failure xi_ntlm_server_authenticate(struct xi_ntlm_server *srv,
						 const uint8_t *authenticate, size_t len,
						 struct xi_error *err)
{
	struct xi_ntlm_authenticate *a = &srv->auth;
	struct xi_ntlm_v2_blob blob;

	if (srv->state == ST_AUTHENTICATED || srv->state == ST_DONE) {
		if (authenticate != NULL && len == srv->authenticate_len && len > 0 &&
		    CRYPTO_memcmp(authenticate, srv->authenticate, len) == 0)
			return fail(err, XI_NTLM_REPLAYED, XI_ERR_DENIED, "AUTHENTICATE replayed: this challenge was already answered");
		return fail(err, XI_NTLM_STATE, XI_ERR_DENIED, "second AUTHENTICATE for one challenge");
	}
	if (srv->state != ST_CHALLENGED)
		return fail(err, XI_NTLM_STATE, XI_ERR_INVALID, "AUTHENTICATE before CHALLENGE");
	/* From here on the challenge is spent, whatever the message holds. */
	srv->state = ST_AUTHENTICATED;
	if (authenticate == NULL || len == 0 || len > XI_NTLM_MESSAGE_MAX)
		return fail(err, XI_NTLM_MALFORMED, XI_ERR_INVALID, "AUTHENTICATE: empty or longer than the limit");
	srv->authenticate = OPENSSL_malloc(len);
	if (srv->authenticate == NULL)
		return fail(err, XI_NTLM_INTERNAL, XI_ERR_NOMEM, "out of memory");
	memcpy(srv->authenticate, authenticate, len);
	srv->authenticate_len = len;
	if (xi_ntlm_parse_authenticate(srv->authenticate, len, a, err) < 0)
		return XI_NTLM_MALFORMED;

	if (a->flags & XI_NTLMSSP_NEGOTIATE_UNICODE)
		srv->oem = false;
	else if (a->flags & XI_NTLMSSP_NEGOTIATE_OEM)
		srv->oem = true;
	else
		srv->oem = !(srv->challenge_flags & XI_NTLMSSP_NEGOTIATE_UNICODE);
	if (field_to_utf8(&a->user, srv->oem, srv->user, sizeof(srv->user), err) < 0 ||
	    field_to_utf8(&a->domain, srv->oem, srv->domain, sizeof(srv->domain), err) < 0 ||
	    field_to_utf8(&a->workstation, srv->oem, srv->workstation, sizeof(srv->workstation), err) < 0) {
		srv->user[0] = srv->domain[0] = srv->workstation[0] = '\0';
		return XI_NTLM_MALFORMED;
	}
	srv->names_ok = true;

	if ((a->flags & XI_NTLMSSP_NEGOTIATE_ANONYMOUS) || srv->user[0] == '\0')
		return fail(err, XI_NTLM_ANONYMOUS, XI_ERR_DENIED, "anonymous NTLM logon refused");

	if (a->nt.len == 24) {
		if (!srv->allow_v1)
			return fail(err, XI_NTLM_V1_REFUSED, XI_ERR_DENIED, "NTLMv1 response refused (ntlm_v1 = no)");
		if ((a->flags & XI_NTLMSSP_NEGOTIATE_ESS) && a->lm.len < 8)
			return fail(err, XI_NTLM_MALFORMED, XI_ERR_INVALID, "NTLMv1-ESS without the client challenge in the LM field");
	} else if (a->nt.len == 0) {
		if (a->lm.len != 24)
			return fail(err, XI_NTLM_MALFORMED, XI_ERR_INVALID, "AUTHENTICATE without an NT response or a 24-byte LM response");
		/* Our CHALLENGE carries MsvAvTimestamp, so an NTLMv2 client sends
		 * Z(24) as LM (MS-NLMP 3.1.5.1.2): LMv2 alone comes from a legacy
		 * client or from someone who stripped the NT response, and with
		 * it the MIC and the timestamp check. */
		if (!srv->allow_v1)
			return fail(err, XI_NTLM_V1_REFUSED, XI_ERR_DENIED, "LMv2-only response refused (ntlm_v1 = no)");
	} else if (a->nt.len >= 16 + XI_NTLM_V2_BLOB_MIN) {
		if (xi_ntlm_parse_v2_blob(a->nt.data + 16, a->nt.len - 16u, &blob, err) < 0)
			return XI_NTLM_MALFORMED;
		if (blob.has_av_flags && (blob.av_flags & XI_MSV_AV_FLAG_MIC_PRESENT) &&
		    (a->payload_start < XI_NTLM_AUTH_HEADER_MIC || len < XI_NTLM_AUTH_HEADER_MIC))
			return fail(err, XI_NTLM_MALFORMED, XI_ERR_INVALID, "AUTHENTICATE announces a MIC but has no room for one");
		if ((a->flags & XI_NTLMSSP_NEGOTIATE_KEY_EXCH) && a->session_key.len != 0 &&
		    a->session_key.len != 16)
			return fail(err, XI_NTLM_MALFORMED, XI_ERR_INVALID, "EncryptedRandomSessionKey is not 16 bytes");
	} else {
		return fail(err, XI_NTLM_MALFORMED, XI_ERR_INVALID, "NT response of an impossible length");
	}
	srv->auth_ok = true;
	return XI_NTLM_OK;
}

const char *xi_ntlm_server_user(const struct xi_ntlm_server *srv)
{
	return srv->names_ok ? srv->user : NULL;
}

const char *xi_ntlm_server_domain(const struct xi_ntlm_server *srv)
{
	return srv->names_ok ? srv->domain : NULL;
}

const char *xi_ntlm_server_workstation(const struct xi_ntlm_server *srv)
{
	return srv->names_ok ? srv->workstation : NULL;
}

/* The UTF-16LE spellings of user and domain to try in NTOWFv2. */
#define ID16_MAX (2 * ID_UTF8_MAX)
struct identity {
	uint8_t user[2][ID16_MAX];
	size_t user_len[2];
	size_t nusers;
	uint8_t domain[3][ID16_MAX];
	size_t domain_len[3];
	size_t ndomains;
};

static bool has_8bit(const struct xi_ntlm_field *f)
{
	uint16_t i;

	for (i = 0; i < f->len; i++)
		if (f->data[i] & 0x80)
			return true;
	return false;
}

/* Zero-extends OEM bytes (upper-casing ASCII letters when asked). */
static size_t zero_extend(const struct xi_ntlm_field *f, bool upper, uint8_t *out)
{
	uint16_t i;

	for (i = 0; i < f->len; i++) {
		uint8_t c = f->data[i];
		if (upper && c >= 'a' && c <= 'z')
			c = (uint8_t)(c - 32);
		out[2 * i] = c;
		out[2 * i + 1] = 0;
	}
	return 2u * f->len;
}

static int build_identity(const struct xi_ntlm_server *srv, struct identity *id,
			  struct xi_error *err)
{
	char upper[ID_UTF8_MAX * 2];
	int n;

	/* Only the counts: every spelling is written before it is read. */
	id->nusers = id->ndomains = 0;
	if (xi_utf8_upper(srv->user, upper, sizeof(upper), err) < 0)
		return -1;
	n = xi_utf8_to_utf16le(upper, strlen(upper), id->user[0], ID16_MAX, err);
	if (n < 0)
		return -1;
	id->user_len[0] = (size_t)n;
	id->nusers = 1;
	if (srv->oem && has_8bit(&srv->auth.user))
		id->user_len[id->nusers++] = zero_extend(&srv->auth.user, true, id->user[1]);

	if (!srv->oem) {
		/* as sent, byte for byte */
		if (srv->auth.domain.len > 0)
			memcpy(id->domain[0], srv->auth.domain.data, srv->auth.domain.len);
		id->domain_len[0] = srv->auth.domain.len;
	} else {
		n = xi_utf8_to_utf16le(srv->domain, strlen(srv->domain), id->domain[0], ID16_MAX, err);
		if (n < 0)
			return -1;
		id->domain_len[0] = (size_t)n;
	}
	id->ndomains = 1;
	if (srv->oem && has_8bit(&srv->auth.domain))
		id->domain_len[id->ndomains++] = zero_extend(&srv->auth.domain, false, id->domain[1]);
	if (srv->auth.domain.len > 0)
		id->domain_len[id->ndomains++] = 0;  /* the NIL-domain retry */
	return 0;
}

static enum xi_ntlm_failure check_mic(struct xi_ntlm_server *srv, const uint8_t kxkey[16],
				      struct xi_error *err)
{
	const struct xi_ntlm_authenticate *a = &srv->auth;
	uint8_t exported[16], mic[16], zero[16];
	struct xi_ntlm_buf parts[5];
	enum xi_ntlm_failure f = XI_NTLM_OK;

	if ((a->flags & XI_NTLMSSP_NEGOTIATE_KEY_EXCH) && a->session_key.len == 16) {
		if (xi_ntlm_rc4(kxkey, a->session_key.data, 16, exported, err) < 0)
			return XI_NTLM_INTERNAL;
	} else {
		memcpy(exported, kxkey, 16);
	}
	memset(zero, 0, sizeof(zero));
	parts[0] = (struct xi_ntlm_buf){ srv->negotiate, srv->negotiate_len };
	parts[1] = (struct xi_ntlm_buf){ srv->challenge, srv->challenge_len };
	parts[2] = (struct xi_ntlm_buf){ srv->authenticate, XI_NTLM_AUTH_MIC_OFFSET };
	parts[3] = (struct xi_ntlm_buf){ zero, 16 };
	parts[4] = (struct xi_ntlm_buf){ srv->authenticate + XI_NTLM_AUTH_HEADER_MIC,
					 srv->authenticate_len - XI_NTLM_AUTH_HEADER_MIC };
	if (xi_ntlm_hmac_md5(exported, 16, parts, 5, mic, err) < 0)
		f = XI_NTLM_INTERNAL;
	else if (CRYPTO_memcmp(mic, srv->authenticate + XI_NTLM_AUTH_MIC_OFFSET, 16) != 0)
		f = fail(err, XI_NTLM_BAD_MIC, XI_ERR_DENIED, "AUTHENTICATE MIC does not match (message altered in transit?)");
	OPENSSL_cleanse(exported, sizeof(exported));
	return f;
}

static enum xi_ntlm_failure verify_v2(struct xi_ntlm_server *srv, const uint8_t nt_hash[16],
				      bool hash_known, uint8_t session_base_key[16],
				      struct xi_error *err)
{
	const struct xi_ntlm_authenticate *a = &srv->auth;
	struct identity *id;
	struct xi_ntlm_v2_blob blob;
	struct xi_ntlm_buf parts[2];
	uint8_t ntowf[16] = { 0 }, proof[16] = { 0 }, key[16] = { 0 };
	const uint8_t *want, *lm_cc = NULL;
	bool lmv2 = a->nt.len == 0, found = false, need_key = session_base_key != NULL;
	enum xi_ntlm_failure f = XI_NTLM_OK;
	size_t i, j;
	uint64_t now, diff, window;

	id = malloc(sizeof(*id));
	if (id == NULL)
		return fail(err, XI_NTLM_INTERNAL, XI_ERR_NOMEM, "out of memory");
	if (build_identity(srv, id, err) < 0) {
		free(id);
		return XI_NTLM_MALFORMED;
	}
	if (!lmv2 && !need_key) {
		/* The MIC is keyed with the session key: derive it when one is
		 * announced (parsed once already in authenticate). */
		if (xi_ntlm_parse_v2_blob(a->nt.data + 16, a->nt.len - 16u, &blob, err) < 0) {
			free(id);
			return XI_NTLM_MALFORMED;
		}
		need_key = blob.has_av_flags && (blob.av_flags & XI_MSV_AV_FLAG_MIC_PRESENT);
	}
	parts[0] = (struct xi_ntlm_buf){ srv->server_challenge, 8 };
	if (lmv2) {
		want = a->lm.data;
		lm_cc = a->lm.data + 16;
		parts[1] = (struct xi_ntlm_buf){ lm_cc, 8 };
	} else {
		want = a->nt.data;
		parts[1] = (struct xi_ntlm_buf){ a->nt.data + 16, a->nt.len - 16u };
	}
	/* Every candidate is computed, found or not, so the time taken does not
	 * say which spelling matched. */
	for (i = 0; i < id->nusers; i++) {
		for (j = 0; j < id->ndomains; j++) {
			if (xi_ntlm_ntowfv2(nt_hash, id->user[i], id->user_len[i], id->domain[j],
					    id->domain_len[j], ntowf, err) < 0 ||
			    xi_ntlm_hmac_md5(ntowf, 16, parts, 2, proof, err) < 0) {
				f = XI_NTLM_INTERNAL;
				goto out;
			}
			if (CRYPTO_memcmp(proof, want, 16) == 0 && !found) {
				struct xi_ntlm_buf kp = { proof, 16 };
				if (need_key && xi_ntlm_hmac_md5(ntowf, 16, &kp, 1, key, err) < 0) {
					f = XI_NTLM_INTERNAL;
					goto out;
				}
				found = true;
			}
		}
	}
	if (!found || !hash_known) {
		f = fail(err, XI_NTLM_BAD_RESPONSE, XI_ERR_DENIED, lmv2 ? "LMv2 response does not match (wrong password, user or domain; plain LM is never accepted)"
			      : "NTLMv2 response does not match (wrong password, user or domain)");
		goto out;
	}
	if (!lmv2) {
		/* parsed once already in authenticate: cannot fail now */
		if (xi_ntlm_parse_v2_blob(a->nt.data + 16, a->nt.len - 16u, &blob, err) < 0) {
			f = XI_NTLM_MALFORMED;
			goto out;
		}
		now = xi_ntlm_filetime_now();
		diff = blob.timestamp > now ? blob.timestamp - now : now - blob.timestamp;
		window = (uint64_t)srv->window * 10000000ull;
		if (diff > window) {
			f = fail(err, XI_NTLM_EXPIRED, XI_ERR_DENIED, "NTLMv2 timestamp outside the window (replayed response, or client clock wrong)");
			goto out;
		}
		if (blob.has_av_flags && (blob.av_flags & XI_MSV_AV_FLAG_MIC_PRESENT)) {
			f = check_mic(srv, key, err);
			if (f != XI_NTLM_OK)
				goto out;
		}
	}
	if (session_base_key != NULL)
		memcpy(session_base_key, key, 16);
out:
	OPENSSL_cleanse(ntowf, sizeof(ntowf));
	OPENSSL_cleanse(proof, sizeof(proof));
	OPENSSL_cleanse(key, sizeof(key));
	/* The identity holds the user's and domain's names, nothing secret. */
	free(id);
	return f;
}

static enum xi_ntlm_failure verify_v1(struct xi_ntlm_server *srv, const uint8_t nt_hash[16],
				      bool hash_known, uint8_t session_base_key[16],
				      struct xi_error *err)
{
	const struct xi_ntlm_authenticate *a = &srv->auth;
	uint8_t data[16], expect[24];
	enum xi_ntlm_failure f = XI_NTLM_OK;

	if (a->flags & XI_NTLMSSP_NEGOTIATE_ESS) {
		struct xi_ntlm_buf parts[2] = { { srv->server_challenge, 8 }, { a->lm.data, 8 } };
		if (xi_ntlm_md5(parts, 2, data, err) < 0)
			return XI_NTLM_INTERNAL;
	} else {
		memcpy(data, srv->server_challenge, 8);
	}
	if (xi_ntlm_desl(nt_hash, data, expect, err) < 0)
		return XI_NTLM_INTERNAL;
	if (CRYPTO_memcmp(expect, a->nt.data, 24) != 0 || !hash_known)
		f = fail(err, XI_NTLM_BAD_RESPONSE, XI_ERR_DENIED, "NTLMv1 response does not match (wrong password or user)");
	else if (session_base_key != NULL && xi_ntlm_md4(nt_hash, 16, session_base_key, err) < 0)
		f = XI_NTLM_INTERNAL;
	OPENSSL_cleanse(expect, sizeof(expect));
	return f;
}

enum xi_ntlm_failure xi_ntlm_server_verify(struct xi_ntlm_server *srv,
					   const uint8_t nt_hash[16],
					   uint8_t session_base_key[16],
					   struct xi_error *err)
{
	static const uint8_t no_hash[16];
	bool hash_known = nt_hash != NULL;

	if (srv->state == ST_DONE)
		return fail(err, XI_NTLM_REPLAYED, XI_ERR_DENIED, "this AUTHENTICATE was already verified");
	if (srv->state != ST_AUTHENTICATED || !srv->auth_ok)
		return fail(err, XI_NTLM_STATE, XI_ERR_INVALID, "verify without an accepted AUTHENTICATE");
	srv->state = ST_DONE;
	/* An unknown user costs the same work as a wrong password. */
	if (!hash_known)
		nt_hash = no_hash;
	if (srv->auth.nt.len == 24) {
		if (!srv->allow_v1)
			return fail(err, XI_NTLM_V1_REFUSED, XI_ERR_DENIED, "NTLMv1 response refused (ntlm_v1 = no)");
		return verify_v1(srv, nt_hash, hash_known, session_base_key, err);
	}
	return verify_v2(srv, nt_hash, hash_known, session_base_key, err);
}
