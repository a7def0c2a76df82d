/*
 * ntlm_server: whole exchanges against a small NTLM client written here from
 * MS-NLMP (v2 with and without MIC and key exchange, LMv2, v1, v1-ESS, OEM),
 * then hostile input: every refusal must be the right typed failure.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "event.h"
#include "ntlm_crypto.h"
#include "ntlm_message.h"
#include "ntlm_sasl.h"
#include "ntlm_server.h"
#include "tap.h"
#include "unicode.h"

/* tap_is_str tests its arguments for NULL; arrays never are (-Waddress). */
static const char *S(const char *s) { return s; }

static const struct xi_ntlm_settings settings = {
	.allow_v1 = false, .timestamp_window = 300,
	.netbios_domain = "XIDENT", .dns_domain = "xident.test",
	.netbios_computer = "MAILHOST", .dns_computer = "mailhost.xident.test",
};
static const struct xi_ntlm_settings settings_v1 = {
	.allow_v1 = true, .timestamp_window = 300,
	.netbios_domain = "XIDENT", .netbios_computer = "MAILHOST",
};

static uint8_t nt_hash[16];       /* of "Secret1" */
static uint8_t wrong_hash[16];    /* of "secret1" */

/* ------------------------------------------------- wiping before freeing */

/* This test is linked with -Wl,--wrap=free, and OpenSSL's allocator is
 * routed here too, so every buffer the core hands back to either allocator
 * is seen just before it goes: one that still starts with the NTLMSSP
 * signature is a message that was freed readable. */
/* volatile: the compiler takes free() for a call that touches no globals */
static volatile size_t readable_messages_freed;

void __real_free(void *p);
void __wrap_free(void *p);

static void note_if_readable(void *p)
{
	if (p != NULL && malloc_usable_size(p) >= 8 && memcmp(p, "NTLMSSP", 8) == 0)
		readable_messages_freed++;
}

void __wrap_free(void *p)
{
	note_if_readable(p);
	__real_free(p);
}

static void *crypto_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void *crypto_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return realloc(p, n);
}

static void crypto_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	__wrap_free(p);
}

/* ------------------------------------------------------------ test client */

enum kind { V2, LMV2_ONLY, LM_ONLY, V1, V1_ESS, ANON };

struct client {
	enum kind kind;
	const char *user, *domain, *workstation;
	const char *password;          /* NULL: "Secret1" */
	bool oem;
	bool mic;
	bool key_exch;
	int64_t skew;                  /* seconds added to the blob timestamp */
	uint32_t extra_flags;
	/* filled by the client */
	uint8_t neg[64];
	size_t neg_len;
	uint8_t session_base_key[16];
};

static size_t put_field(uint8_t *msg, size_t at, size_t pos, const void *data, size_t len)
{
	msg[at] = (uint8_t)len;
	msg[at + 1] = (uint8_t)(len >> 8);
	msg[at + 2] = msg[at];
	msg[at + 3] = msg[at + 1];
	msg[at + 4] = (uint8_t)pos;
	msg[at + 5] = (uint8_t)(pos >> 8);
	msg[at + 6] = 0;
	msg[at + 7] = 0;
	if (len > 0)
		memcpy(msg + pos, data, len);
	return pos + len;
}

static void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static void put64le(uint8_t *p, uint64_t v)
{
	put32le(p, (uint32_t)v);
	put32le(p + 4, (uint32_t)(v >> 32));
}

static size_t client_negotiate(struct client *c)
{
	uint32_t flags = XI_NTLMSSP_REQUEST_TARGET | XI_NTLMSSP_NEGOTIATE_NTLM |
			 XI_NTLMSSP_NEGOTIATE_ALWAYS_SIGN | XI_NTLMSSP_NEGOTIATE_VERSION |
			 XI_NTLMSSP_NEGOTIATE_128 | XI_NTLMSSP_NEGOTIATE_LM_KEY | c->extra_flags;

	flags |= c->oem ? XI_NTLMSSP_NEGOTIATE_OEM : XI_NTLMSSP_NEGOTIATE_UNICODE;
	if (c->kind == V1_ESS)
		flags |= XI_NTLMSSP_NEGOTIATE_ESS;
	if (c->key_exch)
		flags |= XI_NTLMSSP_NEGOTIATE_KEY_EXCH | XI_NTLMSSP_NEGOTIATE_SIGN;
	memset(c->neg, 0, sizeof(c->neg));
	memcpy(c->neg, "NTLMSSP", 8);
	c->neg[8] = 1;
	put32le(c->neg + 12, flags);
	c->neg_len = 40;
	return c->neg_len;
}

static size_t name_bytes(const struct client *c, const char *s, uint8_t *out)
{
	if (c->oem) {
		memcpy(out, s, strlen(s));
		return strlen(s);
	}
	return (size_t)xi_utf8_to_utf16le(s, strlen(s), out, 512, NULL);
}

/* Builds the AUTHENTICATE answering chal; returns its length. */
static size_t client_authenticate(struct client *c, const uint8_t *chal, size_t chal_len,
				  uint8_t *msg)
{
	static const uint8_t cc[8] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
	static const uint8_t random_key[16] = { 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
						0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55 };
	const uint8_t *sc = chal + 24;
	uint32_t flags = xi_ntlm_le32(chal + 20);
	uint16_t ti_len = xi_ntlm_le16(chal + 40);
	const uint8_t *ti = chal + xi_ntlm_le32(chal + 44);
	uint8_t hash[16], ntowf[16], blob[1024], nt[1100], lm[24], proof[16];
	uint8_t dom[512], usr[512], ws[512], enc_key[16], exported[16], mic[16];
	size_t blob_len = 0, nt_len = 0, lm_len = 0, pos, dlen, ulen, wlen, sk_len = 0;
	struct xi_ntlm_buf parts[2];

	(void)chal_len;
	xi_nt_hash(c->password ? c->password : "Secret1", hash, NULL);
	xi_ntlm_ntowfv2_utf8(hash, c->user, c->domain, ntowf, NULL);
	memset(lm, 0, sizeof(lm));
	switch (c->kind) {
	case V2:
		memset(blob, 0, 28);
		blob[0] = blob[1] = 1;
		put64le(blob + 8, xi_ntlm_filetime_now() + (uint64_t)(c->skew * 10000000));
		memcpy(blob + 16, cc, 8);
		blob_len = 28;
		memcpy(blob + blob_len, ti, ti_len - 4u);    /* without MsvAvEOL */
		blob_len += ti_len - 4u;
		if (c->mic) {
			uint8_t av[8] = { 6, 0, 4, 0, 2, 0, 0, 0 };
			memcpy(blob + blob_len, av, 8);
			blob_len += 8;
		}
		memset(blob + blob_len, 0, 8);               /* MsvAvEOL + padding */
		blob_len += 8;
		parts[0] = (struct xi_ntlm_buf){ sc, 8 };
		parts[1] = (struct xi_ntlm_buf){ blob, blob_len };
		xi_ntlm_hmac_md5(ntowf, 16, parts, 2, proof, NULL);
		memcpy(nt, proof, 16);
		memcpy(nt + 16, blob, blob_len);
		nt_len = 16 + blob_len;
		parts[1] = (struct xi_ntlm_buf){ proof, 16 };
		xi_ntlm_hmac_md5(ntowf, 16, parts + 1, 1, c->session_base_key, NULL);
		parts[1] = (struct xi_ntlm_buf){ cc, 8 };
		xi_ntlm_hmac_md5(ntowf, 16, parts, 2, lm, NULL);
		memcpy(lm + 16, cc, 8);
		lm_len = 24;
		break;
	case LMV2_ONLY:
		parts[0] = (struct xi_ntlm_buf){ sc, 8 };
		parts[1] = (struct xi_ntlm_buf){ cc, 8 };
		xi_ntlm_hmac_md5(ntowf, 16, parts, 2, lm, NULL);
		memcpy(lm + 16, cc, 8);
		lm_len = 24;
		break;
	case LM_ONLY: {
		uint8_t lmhash[16];
		xi_ntlm_lmowfv1(c->password ? c->password : "Secret1", lmhash, NULL);
		xi_ntlm_desl(lmhash, sc, lm, NULL);
		lm_len = 24;
		break;
	}
	case V1:
		xi_ntlm_desl(hash, sc, nt, NULL);
		nt_len = 24;
		xi_ntlm_desl(hash, sc, lm, NULL);  /* any 24 bytes: ignored */
		lm_len = 24;
		break;
	case V1_ESS: {
		uint8_t md5[16];
		memcpy(lm, cc, 8);
		lm_len = 24;
		parts[0] = (struct xi_ntlm_buf){ sc, 8 };
		parts[1] = (struct xi_ntlm_buf){ cc, 8 };
		xi_ntlm_md5(parts, 2, md5, NULL);
		xi_ntlm_desl(hash, md5, nt, NULL);
		nt_len = 24;
		flags |= XI_NTLMSSP_NEGOTIATE_ESS;
		break;
	}
	case ANON:
		lm_len = 1;
		flags |= XI_NTLMSSP_NEGOTIATE_ANONYMOUS;
		break;
	}
	if (c->key_exch) {
		xi_ntlm_rc4(c->session_base_key, random_key, 16, enc_key, NULL);
		memcpy(exported, random_key, 16);
		sk_len = 16;
	} else {
		memcpy(exported, c->session_base_key, 16);
	}
	if (c->oem)
		flags = (flags & ~XI_NTLMSSP_NEGOTIATE_UNICODE) | XI_NTLMSSP_NEGOTIATE_OEM;
	dlen = name_bytes(c, c->domain, dom);
	ulen = name_bytes(c, c->user, usr);
	wlen = name_bytes(c, c->workstation ? c->workstation : "WS1", ws);

	memset(msg, 0, 88);
	memcpy(msg, "NTLMSSP", 8);
	msg[8] = 3;
	pos = 88;
	pos = put_field(msg, 28, pos, dom, dlen);
	pos = put_field(msg, 36, pos, usr, ulen);
	pos = put_field(msg, 44, pos, ws, wlen);
	pos = put_field(msg, 12, pos, lm, lm_len);
	pos = put_field(msg, 20, pos, nt, nt_len);
	pos = put_field(msg, 52, pos, enc_key, sk_len);
	put32le(msg + 60, flags);
	if (c->mic) {
		struct xi_ntlm_buf m[3] = { { c->neg, c->neg_len }, { chal, chal_len }, { msg, pos } };
		xi_ntlm_hmac_md5(exported, 16, m, 3, mic, NULL);
		memcpy(msg + 72, mic, 16);
	}
	return pos;
}

/* -------------------------------------------------------------- exchange */

struct run {
	struct xi_ntlm_server *srv;
	uint8_t *chal;
	size_t chal_len;
	uint8_t auth[XI_NTLM_MESSAGE_MAX];
	size_t auth_len;
	enum xi_ntlm_failure auth_result;
	struct xi_error err;
};

/* NEGOTIATE + CHALLENGE + building the client's AUTHENTICATE (not sent). */
static void start(struct run *r, const struct xi_ntlm_settings *s, struct client *c)
{
	memset(r, 0, sizeof(*r));
	r->srv = xi_ntlm_server_new(s);
	client_negotiate(c);
	if (xi_ntlm_server_challenge(r->srv, c->neg, c->neg_len, &r->chal, &r->chal_len, &r->err) != XI_NTLM_OK) {
		tap_diag("challenge failed: %s", r->err.message);
		return;
	}
	r->auth_len = client_authenticate(c, r->chal, r->chal_len, r->auth);
}

static void finish_run(struct run *r)
{
	xi_ntlm_server_free(r->srv);
	free(r->chal);
}

/* XI_NTLM_SAVE_CORPUS=DIR: each exchange becomes a seed for
 * tests/fuzz/fuzz_ntlm (mode 7, NEGOTIATE length, NEGOTIATE, AUTHENTICATE). */
static void save_seed(const struct client *c, const struct run *r)
{
	static int n;
	const char *dir = getenv("XI_NTLM_SAVE_CORPUS");
	char path[512];
	FILE *f;

	if (dir == NULL || r->auth_len == 0)
		return;
	snprintf(path, sizeof(path), "%s/spec-client-%02d", dir, n++);
	f = fopen(path, "wb");
	if (f == NULL)
		return;
	fputc(7, f);
	fputc((int)(c->neg_len & 0xFF), f);
	fputc((int)(c->neg_len >> 8), f);
	fwrite(c->neg, 1, c->neg_len, f);
	fwrite(r->auth, 1, r->auth_len, f);
	fclose(f);
}

/* Whole exchange; returns the first failure (authenticate, then verify). */
static enum xi_ntlm_failure exchange(const struct xi_ntlm_settings *s, struct client *c,
				     const uint8_t *hash, uint8_t key[16])
{
	struct run r;
	enum xi_ntlm_failure f;
	uint8_t k[16];

	start(&r, s, c);
	save_seed(c, &r);
	f = xi_ntlm_server_authenticate(r.srv, r.auth, r.auth_len, &r.err);
	if (f == XI_NTLM_OK)
		f = xi_ntlm_server_verify(r.srv, hash, key ? key : k, &r.err);
	if (f != XI_NTLM_OK)
		tap_diag("refusal: %s: %s", xi_ntlm_failure_name(f), r.err.message);
	finish_run(&r);
	return f;
}

/* Sends a hand-altered AUTHENTICATE; returns what authenticate says. */
static enum xi_ntlm_failure send_auth(struct run *r, const uint8_t *msg, size_t len)
{
	return xi_ntlm_server_authenticate(r->srv, msg, len, &r->err);
}

#define IS_FAIL(got, want, ...) \
	(tap_ok((got) == (want), __VA_ARGS__) ? 1 : \
	 (tap_diag("  got %s, want %s", xi_ntlm_failure_name(got), xi_ntlm_failure_name(want)), 0))

/* ------------------------------------------------------------------ tests */

static void test_challenge(void)
{
	struct client c = { .kind = V2, .user = "alice", .domain = "XIDENT" };
	struct run r;
	uint32_t flags;
	uint16_t ti_len;
	const uint8_t *ti;
	char names[1024] = "";
	size_t pos;
	bool has_ts = false;

	start(&r, &settings, &c);
	tap_ok(r.chal != NULL && r.chal_len > 56, "CHALLENGE built (%zu bytes)", r.chal_len);
	if (r.chal == NULL)
		return;
	tap_ok(memcmp(r.chal, "NTLMSSP\0\2\0\0\0", 12) == 0, "CHALLENGE signature and type 2");
	flags = xi_ntlm_le32(r.chal + 20);
	tap_ok(flags & XI_NTLMSSP_NEGOTIATE_UNICODE, "Unicode echoed");
	tap_ok(flags & XI_NTLMSSP_NEGOTIATE_TARGET_INFO, "target info announced");
	tap_ok(!(flags & XI_NTLMSSP_NEGOTIATE_LM_KEY), "LM_KEY never granted");
	ti_len = xi_ntlm_le16(r.chal + 40);
	ti = r.chal + xi_ntlm_le32(r.chal + 44);
	for (pos = 0; pos + 4 <= ti_len;) {
		uint16_t id = xi_ntlm_le16(ti + pos), l = xi_ntlm_le16(ti + pos + 2);
		char u8[256];
		if (id == XI_MSV_AV_TIMESTAMP && l == 8) {
			uint64_t ts = xi_ntlm_le64(ti + pos + 4), now = xi_ntlm_filetime_now();
			has_ts = ts <= now && now - ts < 600000000ull;
		} else if (id != 0 && xi_utf16le_to_utf8(ti + pos + 4, l, u8, sizeof(u8), NULL) >= 0) {
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%u=%s ", id, u8);
		}
		pos += 4u + l;
	}
	tap_is_str(S(names), "2=XIDENT 1=MAILHOST 4=xident.test 3=mailhost.xident.test ",
		   "target info: NetBIOS/DNS domain and computer");
	tap_ok(has_ts, "target info: MsvAvTimestamp is now");
	{
		struct run r2;
		struct client c2 = c;
		start(&r2, &settings, &c2);
		tap_ok(memcmp(r.chal + 24, r2.chal + 24, 8) != 0, "server challenges are random");
		finish_run(&r2);
	}
	finish_run(&r);

	c.oem = true;
	start(&r, &settings, &c);
	flags = xi_ntlm_le32(r.chal + 20);
	tap_ok((flags & XI_NTLMSSP_NEGOTIATE_OEM) && !(flags & XI_NTLMSSP_NEGOTIATE_UNICODE),
	       "OEM client gets an OEM challenge");
	tap_is_int(xi_ntlm_le16(r.chal + 12), 6, "OEM target name is 6 bytes (XIDENT)");
	finish_run(&r);
}

static void test_good(void)
{
	uint8_t key[16];
	struct client c = { .kind = V2, .user = "alice", .domain = "XIDENT" };

	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 right password");
	tap_ok(memcmp(key, c.session_base_key, 16) == 0, "NTLMv2 session base key matches the client's");
	IS_FAIL(exchange(&settings, &c, wrong_hash, key), XI_NTLM_BAD_RESPONSE, "NTLMv2 wrong password");
	IS_FAIL(exchange(&settings, &c, NULL, key), XI_NTLM_BAD_RESPONSE, "NTLMv2 unknown user (no hash)");
	c.domain = "";
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 without domain");
	c.user = "ALICE";
	c.domain = "XIDENT";
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 user name case does not matter");
	c.user = "alice\\sales";
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 with account\\alias as user");
	c.user = "J\xc3\xb6rg";
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 non-ASCII user (Jörg, upper-cased in NTOWFv2)");
	c.user = "alice";
	c.oem = true;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 with OEM names");
	c.oem = false;
	c.mic = true;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 with MIC");
	c.key_exch = true;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 with MIC and key exchange (RC4)");
	c.mic = c.key_exch = false;
	c.skew = 200;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_OK, "NTLMv2 client clock 200 s ahead, window 300");
	c.skew = -3600;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_EXPIRED, "NTLMv2 timestamp an hour old: expired");
	c.skew = 3600;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_EXPIRED, "NTLMv2 timestamp an hour ahead: expired");
	c.skew = -3600;
	IS_FAIL(exchange(&settings, &c, wrong_hash, key), XI_NTLM_BAD_RESPONSE,
		"old timestamp with wrong password says bad response, not expired");
	c.skew = 0;

	c.kind = LMV2_ONLY;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_V1_REFUSED,
		"LMv2 alone refused with ntlm_v1 = no (no MIC, no timestamp to check)");
	IS_FAIL(exchange(&settings_v1, &c, nt_hash, key), XI_NTLM_OK, "LMv2 alone accepted with allow_v1");
	IS_FAIL(exchange(&settings_v1, &c, wrong_hash, key), XI_NTLM_BAD_RESPONSE, "LMv2 wrong password");
	c.kind = LM_ONLY;
	IS_FAIL(exchange(&settings_v1, &c, nt_hash, key), XI_NTLM_BAD_RESPONSE, "plain LM alone never accepted, even with v1 on");

	c.kind = V1;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_V1_REFUSED, "NTLMv1 refused by default");
	{
		struct run r;
		start(&r, &settings, &c);
		send_auth(&r, r.auth, r.auth_len);
		tap_is_str(xi_ntlm_server_user(r.srv), "alice", "the refused v1 user is known for the event");
		IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, key, &r.err), XI_NTLM_STATE,
			"verify after a v1 refusal: state");
		finish_run(&r);
	}
	IS_FAIL(exchange(&settings_v1, &c, nt_hash, key), XI_NTLM_OK, "NTLMv1 accepted with allow_v1");
	IS_FAIL(exchange(&settings_v1, &c, wrong_hash, key), XI_NTLM_BAD_RESPONSE, "NTLMv1 wrong password");
	c.kind = V1_ESS;
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_V1_REFUSED, "NTLMv1-ESS refused by default");
	IS_FAIL(exchange(&settings_v1, &c, nt_hash, key), XI_NTLM_OK, "NTLMv1-ESS accepted with allow_v1");
	IS_FAIL(exchange(&settings_v1, &c, wrong_hash, key), XI_NTLM_BAD_RESPONSE, "NTLMv1-ESS wrong password");

	c.kind = ANON;
	c.user = "";
	IS_FAIL(exchange(&settings, &c, nt_hash, key), XI_NTLM_ANONYMOUS, "anonymous refused");
	c.kind = V2;
	c.user = "alice";
	c.extra_flags = XI_NTLMSSP_NEGOTIATE_ANONYMOUS;
	/* the flag in the AUTHENTICATE is what counts; set it there */
	{
		struct run r;
		start(&r, &settings, &c);
		r.auth[60 + 1] |= 0x08;   /* 0x00000800 */
		IS_FAIL(send_auth(&r, r.auth, r.auth_len), XI_NTLM_ANONYMOUS, "ANONYMOUS flag refused");
		finish_run(&r);
	}
}

static void test_mic(void)
{
	struct client c = { .kind = V2, .user = "alice", .domain = "XIDENT", .mic = true };
	struct run r;
	uint8_t key[16];

	start(&r, &settings, &c);
	r.auth[80] ^= 1;
	IS_FAIL(send_auth(&r, r.auth, r.auth_len), XI_NTLM_OK, "altered MIC still parses");
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, key, &r.err), XI_NTLM_BAD_MIC, "altered MIC refused");
	finish_run(&r);

	start(&r, &settings, &c);
	r.auth[64] ^= 1;   /* inside Version: covered by the MIC, not by NTProofStr */
	send_auth(&r, r.auth, r.auth_len);
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, key, &r.err), XI_NTLM_BAD_MIC, "altered header under a MIC refused");
	finish_run(&r);

	c.key_exch = true;
	start(&r, &settings, &c);
	r.auth[r.auth_len - 1] ^= 1;   /* the encrypted session key */
	send_auth(&r, r.auth, r.auth_len);
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, key, &r.err), XI_NTLM_BAD_MIC, "altered session key under a MIC refused");
	finish_run(&r);
}

/* A host that does not want the session key (the Dovecot mechanism) passes
 * NULL: the response is proven all the same, and a MIC is still checked
 * (its key is then derived for it alone). */
static void test_no_session_key(void)
{
	struct client c = { .kind = V2, .user = "alice", .domain = "XIDENT" };
	struct run r;

	start(&r, &settings, &c);
	send_auth(&r, r.auth, r.auth_len);
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, NULL, &r.err), XI_NTLM_OK, "NTLMv2 verified without a session key wanted");
	finish_run(&r);

	start(&r, &settings, &c);
	send_auth(&r, r.auth, r.auth_len);
	IS_FAIL(xi_ntlm_server_verify(r.srv, wrong_hash, NULL, &r.err), XI_NTLM_BAD_RESPONSE, "wrong password refused without a session key wanted");
	finish_run(&r);

	c.mic = true;
	start(&r, &settings, &c);
	send_auth(&r, r.auth, r.auth_len);
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, NULL, &r.err), XI_NTLM_OK, "NTLMv2 with MIC verified without a session key wanted");
	finish_run(&r);

	start(&r, &settings, &c);
	r.auth[80] ^= 1;
	send_auth(&r, r.auth, r.auth_len);
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, NULL, &r.err), XI_NTLM_BAD_MIC, "altered MIC refused without a session key wanted");
	finish_run(&r);

	c.kind = V1;
	start(&r, &settings_v1, &c);
	send_auth(&r, r.auth, r.auth_len);
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, NULL, &r.err), XI_NTLM_OK, "NTLMv1 verified without a session key wanted");
	finish_run(&r);
}

static void test_replay_and_order(void)
{
	struct client c = { .kind = V2, .user = "alice", .domain = "XIDENT" };
	struct run r;
	uint8_t key[16], *chal2 = NULL;
	size_t chal2_len;

	start(&r, &settings, &c);
	IS_FAIL(send_auth(&r, r.auth, r.auth_len), XI_NTLM_OK, "first AUTHENTICATE accepted");
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, key, &r.err), XI_NTLM_OK, "and verified");
	IS_FAIL(send_auth(&r, r.auth, r.auth_len), XI_NTLM_REPLAYED, "same AUTHENTICATE again: replayed");
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, key, &r.err), XI_NTLM_REPLAYED, "verify again: replayed");
	r.auth[r.auth_len - 1] ^= 1;
	IS_FAIL(send_auth(&r, r.auth, r.auth_len), XI_NTLM_STATE, "another AUTHENTICATE for a used challenge: state");
	IS_FAIL(xi_ntlm_server_challenge(r.srv, c.neg, c.neg_len, &chal2, &chal2_len, &r.err), XI_NTLM_STATE,
		"second NEGOTIATE: state");
	finish_run(&r);

	/* a malformed AUTHENTICATE spends the challenge too */
	start(&r, &settings, &c);
	IS_FAIL(send_auth(&r, r.auth, 20), XI_NTLM_MALFORMED, "truncated AUTHENTICATE");
	IS_FAIL(send_auth(&r, r.auth, r.auth_len), XI_NTLM_STATE, "then the good one is too late");
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, key, &r.err), XI_NTLM_STATE, "verify after a refusal: state");
	finish_run(&r);

	/* the same AUTHENTICATE on a fresh challenge does not verify */
	{
		struct run r2;
		start(&r, &settings, &c);
		start(&r2, &settings, &c);
		send_auth(&r2, r.auth, r.auth_len);
		IS_FAIL(xi_ntlm_server_verify(r2.srv, nt_hash, key, &r2.err), XI_NTLM_BAD_RESPONSE,
			"AUTHENTICATE replayed onto another challenge: bad response");
		finish_run(&r2);
		finish_run(&r);
	}

	r.srv = xi_ntlm_server_new(&settings);
	IS_FAIL(xi_ntlm_server_authenticate(r.srv, r.auth, 64, &r.err), XI_NTLM_STATE, "AUTHENTICATE before CHALLENGE: state");
	IS_FAIL(xi_ntlm_server_verify(r.srv, nt_hash, key, &r.err), XI_NTLM_STATE, "verify before anything: state");
	tap_ok(xi_ntlm_server_user(r.srv) == NULL, "no user before an accepted AUTHENTICATE");
	xi_ntlm_server_free(r.srv);
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void test_hostile_authenticate(void)
{
	struct client c = { .kind = V2, .user = "alice", .domain = "XIDENT" };
	struct run r;
	uint8_t m[XI_NTLM_MESSAGE_MAX + 16];
	size_t len, cut;
	int bad = 0;

#define ALTERED(desc, code, want) do { \
		start(&r, &settings, &c); \
		memcpy(m, r.auth, r.auth_len); \
		len = r.auth_len; \
		code; \
		IS_FAIL(send_auth(&r, m, len), want, desc); \
		finish_run(&r); \
	} while (0)

	/* every truncation of a good message is refused, never read past */
	for (cut = 0; cut < 200 && cut < c.neg_len + 400; cut++) {
		start(&r, &settings, &c);
		if (cut >= r.auth_len) {
			finish_run(&r);
			break;
		}
		if (send_auth(&r, r.auth, cut) != XI_NTLM_MALFORMED)
			bad++;
		finish_run(&r);
	}
	tap_is_int(bad, 0, "every truncated AUTHENTICATE (0..%zu bytes) is malformed", cut);

	ALTERED("wrong signature", m[0] = 'X', XI_NTLM_MALFORMED);
	ALTERED("wrong message type (2)", m[8] = 2, XI_NTLM_MALFORMED);
	ALTERED("NEGOTIATE sent as AUTHENTICATE", (memcpy(m, c.neg, c.neg_len), len = c.neg_len), XI_NTLM_MALFORMED);
	ALTERED("user offset past the end", put16le(m + 40, (uint16_t)len), XI_NTLM_MALFORMED);
	ALTERED("user offset inside the header", put16le(m + 40, 8), XI_NTLM_MALFORMED);
	ALTERED("user length past the end", put16le(m + 36, (uint16_t)(len - xi_ntlm_le16(m + 40) + 2)), XI_NTLM_MALFORMED);
	ALTERED("huge NT response length", put16le(m + 20, 0xFFFF), XI_NTLM_MALFORMED);
	ALTERED("offset near 2^32 (wrap-around)", (m[24] = 0xF0, m[25] = 0xFF, m[26] = 0xFF, m[27] = 0xFF), XI_NTLM_MALFORMED);
	ALTERED("user overlapping domain", memcpy(m + 40, m + 32, 4), XI_NTLM_MALFORMED);
	ALTERED("NT response overlapping LM response", put16le(m + 24, xi_ntlm_le16(m + 16) + 4), XI_NTLM_MALFORMED);
	ALTERED("odd-length Unicode user name", put16le(m + 36, 9), XI_NTLM_MALFORMED);
	ALTERED("control character in user name", m[xi_ntlm_le16(m + 40)] = '\n', XI_NTLM_MALFORMED);
	ALTERED("unpaired surrogate in user name",
		(m[xi_ntlm_le16(m + 40)] = 0x00, m[xi_ntlm_le16(m + 40) + 1] = 0xD8), XI_NTLM_MALFORMED);
	ALTERED("NT response of 30 bytes", put16le(m + 20, 30), XI_NTLM_MALFORMED);
	ALTERED("NTLMv2 blob version 2", m[xi_ntlm_le16(m + 24) + 16] = 2, XI_NTLM_MALFORMED);
	ALTERED("NTLMv2 AV pair running past the blob",
		put16le(m + xi_ntlm_le16(m + 24) + 16 + 28 + 2, 0x7FFF), XI_NTLM_MALFORMED);
	ALTERED("message longer than XI_NTLM_MESSAGE_MAX", len = XI_NTLM_MESSAGE_MAX + 1, XI_NTLM_MALFORMED);
	ALTERED("empty message", len = 0, XI_NTLM_MALFORMED);
	c.mic = true;
	ALTERED("MIC announced but fields start at 64",
		put16le(m + 32, 76), XI_NTLM_MALFORMED);
	c.mic = false;
#undef ALTERED
}

static void test_hostile_negotiate(void)
{
	struct xi_ntlm_server *srv;
	struct xi_error err;
	uint8_t neg[64], *chal;
	size_t chal_len;

	memset(neg, 0, sizeof(neg));
	memcpy(neg, "NTLMSSP", 8);
	neg[8] = 1;
	neg[12] = 1;

#define NEG(desc, len, want) do { \
		srv = xi_ntlm_server_new(&settings); \
		IS_FAIL(xi_ntlm_server_challenge(srv, neg, len, &chal, &chal_len, &err), want, desc); \
		tap_ok((want == XI_NTLM_OK) == (chal != NULL), "  and a CHALLENGE only when accepted"); \
		free(chal); \
		xi_ntlm_server_free(srv); \
	} while (0)

	NEG("minimal 16-byte NEGOTIATE", 16, XI_NTLM_OK);
	NEG("NEGOTIATE of 15 bytes", 15, XI_NTLM_MALFORMED);
	NEG("NEGOTIATE of 0 bytes", 0, XI_NTLM_MALFORMED);
	neg[20] = 0xFF;   /* domain offset past the end, length 4 */
	neg[16] = 4;
	NEG("NEGOTIATE domain past the end", 40, XI_NTLM_MALFORMED);
	neg[16] = 0;
	neg[20] = 0;
	neg[8] = 3;
	NEG("AUTHENTICATE type sent as NEGOTIATE", 40, XI_NTLM_MALFORMED);
	neg[8] = 1;
	neg[3] = 'X';
	NEG("NEGOTIATE with a wrong signature", 40, XI_NTLM_MALFORMED);
#undef NEG
	srv = xi_ntlm_server_new(&settings);
	IS_FAIL(xi_ntlm_server_challenge(srv, NULL, 0, &chal, &chal_len, &err), XI_NTLM_MALFORMED, "NULL NEGOTIATE");
	xi_ntlm_server_free(srv);
}

static void test_settings(void)
{
	struct xi_ntlm_settings s = settings;
	char long_name[400];

	memset(long_name, 'A', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	s.netbios_domain = long_name;
	tap_ok(xi_ntlm_server_new(&s) == NULL, "over-long configured name refused");
	s.netbios_domain = "BAD\nNAME";
	tap_ok(xi_ntlm_server_new(&s) == NULL, "control character in configured name refused");
	tap_ok(xi_ntlm_server_new(NULL) == NULL, "NULL settings refused");
	s = settings;
	s.netbios_domain = NULL;
	s.netbios_computer = NULL;
	{
		struct xi_ntlm_server *srv = xi_ntlm_server_new(&s);
		tap_ok(srv != NULL, "missing names take defaults");
		xi_ntlm_server_free(srv);
	}
	tap_is_str(xi_ntlm_failure_name(XI_NTLM_V1_REFUSED), "v1_refused", "failure names are stable");
}

static void test_sasl_and_events(void)
{
	struct client c = { .kind = V2, .user = "alice\\sales", .domain = "XIDENT" };
	struct xi_ntlm_sasl *s;
	struct xi_error err;
	struct xi_event ev;
	char *out = NULL, *b64;
	uint8_t chal[XI_NTLM_MESSAGE_MAX], auth[XI_NTLM_MESSAGE_MAX];
	int chal_len;
	size_t auth_len;

	s = xi_ntlm_sasl_new(&settings, false);
	client_negotiate(&c);
	b64 = xi_ntlm_base64_encode(c.neg, c.neg_len);
	tap_is_int(xi_ntlm_sasl_step(s, b64, strlen(b64), &out, &err), XI_NTLM_SASL_FAILURE,
		   "SASL: NTLM off for the protocol fails");
	tap_is_str(S(err.message), "The NTLM Authentication package has been disabled for this protocol.",
		   "SASL: with Exchange's refusal text");
	tap_ok(xi_ntlm_sasl_disabled(s), "SASL: refusal marked as the protocol switch");
	xi_ntlm_sasl_free(s);

	s = xi_ntlm_sasl_new(&settings, true);
	tap_is_int(xi_ntlm_sasl_step(s, "not base64!", 11, &out, &err), XI_NTLM_SASL_FAILURE, "SASL: garbage refused");
	tap_is_int(xi_ntlm_sasl_failure(s), XI_NTLM_MALFORMED, "SASL: as malformed");
	xi_ntlm_sasl_free(s);

	s = xi_ntlm_sasl_new(&settings, true);
	tap_is_int(xi_ntlm_sasl_step(s, b64, strlen(b64), &out, &err), XI_NTLM_SASL_CONTINUE, "SASL: NEGOTIATE -> CHALLENGE");
	chal_len = out ? xi_ntlm_base64_decode(out, strlen(out), chal, sizeof(chal)) : -1;
	tap_ok(chal_len > 56, "SASL: CHALLENGE is base64");
	free(out);
	free(b64);
	auth_len = client_authenticate(&c, chal, (size_t)chal_len, auth);
	b64 = xi_ntlm_base64_encode(auth, auth_len);
	tap_is_int(xi_ntlm_sasl_step(s, b64, strlen(b64), &out, &err), XI_NTLM_SASL_NEED_HASH, "SASL: AUTHENTICATE -> need hash");
	tap_is_str(xi_ntlm_sasl_user(s), "alice\\sales", "SASL: user account\\alias");
	tap_is_str(xi_ntlm_sasl_domain(s), "XIDENT", "SASL: domain");
	tap_is_int(xi_ntlm_sasl_finish(s, nt_hash, &err), XI_NTLM_SASL_DONE, "SASL: done");
	tap_ok(xi_ntlm_sasl_session_key(s) != NULL &&
	       memcmp(xi_ntlm_sasl_session_key(s), c.session_base_key, 16) == 0, "SASL: session key");
	tap_is_int(xi_ntlm_sasl_step(s, b64, strlen(b64), &out, &err), XI_NTLM_SASL_FAILURE, "SASL: replay refused");
	tap_is_int(xi_ntlm_sasl_failure(s), XI_NTLM_REPLAYED, "SASL: as replayed");
	free(b64);
	xi_ntlm_sasl_free(s);

	xi_ntlm_event_fill(&ev, XI_NTLM_REPLAYED);
	tap_is_int(ev.id, 13004, "event id 13004");
	tap_is_int(ev.category, XI_CAT_AUTHENTICATION, "event category Authentication");
	tap_ok(strstr(ev.cause, "replayed") != NULL, "replayed cause");
	tap_ok(ev.remedy != NULL && ev.remedy[0] != '\0', "with a remedy");
	{
		char line[2048];
		ev.protocol = "imap";
		ev.login = "XIDENT\\alice";
		xi_event_format(&ev, line, sizeof(line));
		tap_ok(strstr(line, "event=13004") != NULL && strstr(line, "category=Authentication") != NULL &&
		       strstr(line, "outcome=ntlm_failed") != NULL && strstr(line, "replayed") != NULL,
		       "formatted: %s", line);
	}
	xi_ntlm_event_fill(&ev, XI_NTLM_V1_REFUSED);
	tap_ok(strstr(ev.remedy, "ntlm_v1") != NULL, "v1 remedy names ntlm_v1");
	xi_ntlm_event_fill(&ev, XI_NTLM_EXPIRED);
	tap_ok(strstr(ev.remedy, "clock") != NULL, "expired remedy names the clocks");
	{
		enum xi_ntlm_failure f;
		bool distinct = true;
		for (f = XI_NTLM_MALFORMED; f <= XI_NTLM_INTERNAL; f++)
			if (strcmp(xi_ntlm_failure_cause(f), xi_ntlm_failure_cause(XI_NTLM_OK)) == 0 ||
			    strcmp(xi_ntlm_failure_name(f), "unknown") == 0)
				distinct = false;
		tap_ok(distinct, "every failure kind has a name and its own cause");
	}
}

static void test_base64(void)
{
	uint8_t out[16];
	char *e;

	e = xi_ntlm_base64_encode((const uint8_t *)"ab", 2);
	tap_is_str(e, "YWI=", "base64 encode with padding");
	free(e);
	tap_is_int(xi_ntlm_base64_decode("YWI=", 4, out, sizeof(out)), 2, "base64 decode");
	tap_is_int(xi_ntlm_base64_decode("YWI", 3, out, sizeof(out)), -1, "base64 length not a multiple of 4");
	tap_is_int(xi_ntlm_base64_decode("Y=I=", 4, out, sizeof(out)), -1, "base64 data after padding");
	tap_is_int(xi_ntlm_base64_decode("YW I", 4, out, sizeof(out)), -1, "base64 blank inside");
	tap_is_int(xi_ntlm_base64_decode("YWJj", 4, out, 2), -1, "base64 output bound");
	tap_is_int(xi_ntlm_base64_decode("YWJ=", 4, out, sizeof(out)), -1,
		   "base64 non-canonical padding bits refused (the one strict decoder)");
	tap_is_int(xi_ntlm_base64_decode("", 0, out, sizeof(out)), 0, "base64 empty SASL line is empty");
}

static void test_wiped(void)
{
	struct client c = { .kind = V2, .user = "alice", .domain = "XIDENT" };
	struct xi_ntlm_sasl *s;
	struct xi_error err;
	char *out = NULL, *b64;
	uint8_t chal[XI_NTLM_MESSAGE_MAX], auth[XI_NTLM_MESSAGE_MAX];
	int chal_len;
	size_t auth_len;
	/* volatile: or the compiler drops the malloc/free pair as dead */
	char *volatile control = malloc(16);

	memcpy(control, "NTLMSSP\0rest", 13);
	readable_messages_freed = 0;
	free(control);
	tap_is_int((int)readable_messages_freed, 1, "wipe check: the free() hook sees a readable message");

	s = xi_ntlm_sasl_new(&settings, true);
	client_negotiate(&c);
	b64 = xi_ntlm_base64_encode(c.neg, c.neg_len);
	readable_messages_freed = 0;
	xi_ntlm_sasl_step(s, b64, strlen(b64), &out, &err);
	tap_is_int((int)readable_messages_freed, 0, "NEGOTIATE step frees no message readable");
	free(b64);
	chal_len = out ? xi_ntlm_base64_decode(out, strlen(out), chal, sizeof(chal)) : -1;
	free(out);
	auth_len = client_authenticate(&c, chal, chal_len > 0 ? (size_t)chal_len : 0, auth);
	b64 = xi_ntlm_base64_encode(auth, auth_len);
	readable_messages_freed = 0;
	tap_is_int(xi_ntlm_sasl_step(s, b64, strlen(b64), &out, &err), XI_NTLM_SASL_NEED_HASH,
		   "wipe check: AUTHENTICATE accepted");
	tap_is_int(xi_ntlm_sasl_finish(s, nt_hash, &err), XI_NTLM_SASL_DONE, "wipe check: verified");
	xi_ntlm_sasl_free(s);
	tap_is_int((int)readable_messages_freed, 0,
		   "decoded AUTHENTICATE and the kept NEGOTIATE/CHALLENGE/AUTHENTICATE are wiped before free");
	free(b64);
}

int main(void)
{
	/* Before anything allocates through OpenSSL, or it refuses. */
	tap_ok(CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free) == 1,
	       "OpenSSL allocator routed through the wipe check");
	xi_nt_hash("Secret1", nt_hash, NULL);
	xi_nt_hash("secret1", wrong_hash, NULL);
	test_challenge();
	test_good();
	test_mic();
	test_no_session_key();
	test_replay_and_order();
	test_hostile_authenticate();
	test_hostile_negotiate();
	test_settings();
	test_sasl_and_events();
	test_base64();
	test_wiped();
	return tap_done();
}
