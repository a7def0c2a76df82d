/* A minimal NTLMv2 client (MS-NLMP 3.1.5, 3.3.2): NEGOTIATE, then an
 * AUTHENTICATE answering the server's CHALLENGE with an NTLMv2 and an LMv2
 * response.  No signing or sealing, no MIC: the benchmark needs a logon
 * the way curl and ntlm_auth perform one, nothing more. */
#include "bench.h"

#include <ctype.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#define NTLM_UNICODE			0x00000001u
#define NTLM_REQUEST_TARGET		0x00000004u
#define NTLM_NTLM			0x00000200u
#define NTLM_ALWAYS_SIGN		0x00008000u
#define NTLM_EXTENDED_SESSIONSECURITY	0x00080000u
#define NTLM_TARGET_INFO		0x00800000u

#define AUTH_HEADER_LEN 64
#define AV_TIMESTAMP 7
/* Seconds from 1601-01-01 (FILETIME epoch) to 1970-01-01. */
#define FILETIME_UNIX_OFFSET 11644473600ull

static const unsigned char signature[8] = { 'N', 'T', 'L', 'M', 'S', 'S', 'P', 0 };

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static unsigned get16(const unsigned char *p)
{
	return p[0] | (unsigned)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t bench_ntlm_negotiate(unsigned char *out, size_t cap)
{
	if (cap < 32)
		return 0;
	memset(out, 0, 32);
	memcpy(out, signature, 8);
	put32(out + 8, 1);
	put32(out + 12, NTLM_UNICODE | NTLM_REQUEST_TARGET | NTLM_NTLM | NTLM_ALWAYS_SIGN |
			NTLM_EXTENDED_SESSIONSECURITY | NTLM_TARGET_INFO);
	return 32;	/* domain and workstation fields stay empty */
}

/* ASCII/Latin-1 to UTF-16LE, optionally upper-cased; bench names are ASCII. */
static size_t to_utf16le(const char *s, bool upper, unsigned char *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (n + 2 > cap)
			return (size_t)-1;
		out[n++] = upper ? (unsigned char)toupper(c) : c;
		out[n++] = 0;
	}
	return n;
}

/* MD5 fetched once and one digest context reused for every HMAC: HMAC()
 * with EVP_md5() fetches the algorithm and builds a MAC context per call,
 * which cost the client more than the MAC itself.  xibench runs one thread,
 * so the static context is never shared. */
static EVP_MD *md5;
static EVP_MD_CTX *md5_ctx;

static bool md5_parts(const unsigned char *a, size_t a_len, const unsigned char *b,
		      size_t b_len, const unsigned char *c, size_t c_len, unsigned char out[16])
{
	unsigned int len = 0;

	if (md5 == NULL && (md5 = EVP_MD_fetch(NULL, "MD5", NULL)) == NULL)
		return false;
	if (md5_ctx == NULL && (md5_ctx = EVP_MD_CTX_new()) == NULL)
		return false;
	return EVP_DigestInit_ex2(md5_ctx, md5, NULL) == 1 &&
	       EVP_DigestUpdate(md5_ctx, a, a_len) == 1 &&
	       (b_len == 0 || EVP_DigestUpdate(md5_ctx, b, b_len) == 1) &&
	       (c_len == 0 || EVP_DigestUpdate(md5_ctx, c, c_len) == 1) &&
	       EVP_DigestFinal_ex(md5_ctx, out, &len) == 1 && len == 16;
}

/* HMAC-MD5 (RFC 2104) of a || b with a key of at most 64 bytes. */
static bool hmac_md5(const unsigned char *key, size_t key_len, const unsigned char *a, size_t a_len,
		     const unsigned char *b, size_t b_len, unsigned char out[16])
{
	unsigned char ipad[64], opad[64], inner[16];
	size_t i;

	if (key_len > sizeof(ipad))
		return false;
	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (i = 0; i < key_len; i++) {
		ipad[i] ^= key[i];
		opad[i] ^= key[i];
	}
	return md5_parts(ipad, sizeof(ipad), a, a_len, b, b_len, inner) &&
	       md5_parts(opad, sizeof(opad), inner, sizeof(inner), NULL, 0, out);
}

/* Finds the server's timestamp in the target info, so the response falls
 * inside any window the server checks even when clocks differ. */
static bool find_timestamp(const unsigned char *info, size_t len, unsigned char ts[8])
{
	size_t off = 0;

	while (off + 4 <= len) {
		unsigned id = get16(info + off), alen = get16(info + off + 2);

		if (id == 0 || off + 4 + alen > len)
			break;
		if (id == AV_TIMESTAMP && alen == 8) {
			memcpy(ts, info + off + 4, 8);
			return true;
		}
		off += 4 + alen;
	}
	return false;
}

static void put_field(unsigned char *header, unsigned char *msg, size_t *off,
		      const unsigned char *data, size_t len)
{
	put16(header, (unsigned)len);
	put16(header + 2, (unsigned)len);
	put32(header + 4, (uint32_t)*off);
	if (len > 0)
		memcpy(msg + *off, data, len);
	*off += len;
}

/* NTOWFv2 = HMAC-MD5(NT hash, UTF-16LE(UPPER(user) + domain)) */
static bool ntowfv2(const char *domain, const char *user, const unsigned char nt_hash[16],
		    unsigned char out[16])
{
	unsigned char ident[1024];
	size_t ulen, dlen;

	ulen = to_utf16le(user, true, ident, sizeof(ident) / 2);
	dlen = to_utf16le(domain, false, ident + (ulen == (size_t)-1 ? 0 : ulen), sizeof(ident) / 2);
	return ulen != (size_t)-1 && dlen != (size_t)-1 &&
	       hmac_md5(nt_hash, 16, ident, ulen + dlen, NULL, 0, out);
}

/* The AUTHENTICATE for a user whose NTOWFv2 is known. */
static size_t authenticate_ntowf(const unsigned char *chal, size_t chal_len,
				 const char *domain, const char *user,
				 const unsigned char ntowf[16],
				 const unsigned char *fixed_client_challenge,
				 const unsigned char *fixed_timestamp,
				 unsigned char *out, size_t cap)
{
	unsigned char blob[2048], nt_resp[2048 + 16], lm_resp[24];
	unsigned char udom[512], uuser[512];
	const unsigned char *server_challenge, *info;
	size_t ulen, dlen, info_len, info_off, blob_len, off;
	unsigned char client_challenge[8], ts[8];
	uint32_t flags;

	if (chal_len < 48 || memcmp(chal, signature, 8) != 0 || get32(chal + 8) != 2)
		return 0;
	flags = get32(chal + 20);
	server_challenge = chal + 24;
	info_len = get16(chal + 40);
	info_off = get32(chal + 44);
	if (info_off > chal_len || info_len > chal_len - info_off)
		return 0;
	info = chal + info_off;

	if (fixed_timestamp != NULL) {
		memcpy(ts, fixed_timestamp, 8);
	} else if (!find_timestamp(info, info_len, ts)) {
		uint64_t ft = ((uint64_t)time(NULL) + FILETIME_UNIX_OFFSET) * 10000000ull;

		for (int i = 0; i < 8; i++)
			ts[i] = (unsigned char)(ft >> (8 * i));
	}
	if (fixed_client_challenge != NULL)
		memcpy(client_challenge, fixed_client_challenge, 8);
	else if (RAND_bytes(client_challenge, sizeof(client_challenge)) != 1)
		return 0;

	/* temp = 01 01 0000 00000000 timestamp client-challenge 00000000 info 00000000 */
	blob_len = 28 + info_len + 4;
	if (blob_len > sizeof(blob))
		return 0;
	memset(blob, 0, blob_len);
	blob[0] = 1;
	blob[1] = 1;
	memcpy(blob + 8, ts, 8);
	memcpy(blob + 16, client_challenge, 8);
	memcpy(blob + 28, info, info_len);

	/* NT response = NTProofStr + temp;  LMv2 = HMAC(server+client chal) + client chal */
	if (!hmac_md5(ntowf, 16, server_challenge, 8, blob, blob_len, nt_resp) ||
	    !hmac_md5(ntowf, 16, server_challenge, 8, client_challenge, 8, lm_resp))
		return 0;
	memcpy(nt_resp + 16, blob, blob_len);
	memcpy(lm_resp + 16, client_challenge, 8);

	ulen = to_utf16le(user, false, uuser, sizeof(uuser));
	dlen = to_utf16le(domain, false, udom, sizeof(udom));
	if (ulen == (size_t)-1 || dlen == (size_t)-1 ||
	    AUTH_HEADER_LEN + 24 + 16 + blob_len + ulen + dlen > cap)
		return 0;

	memset(out, 0, AUTH_HEADER_LEN);
	memcpy(out, signature, 8);
	put32(out + 8, 3);
	off = AUTH_HEADER_LEN;
	put_field(out + 12, out, &off, lm_resp, 24);
	put_field(out + 20, out, &off, nt_resp, 16 + blob_len);
	put_field(out + 28, out, &off, udom, dlen);
	put_field(out + 36, out, &off, uuser, ulen);
	put_field(out + 44, out, &off, NULL, 0);	/* workstation */
	put_field(out + 52, out, &off, NULL, 0);	/* no session key exchange */
	put32(out + 60, (flags & (NTLM_UNICODE | NTLM_NTLM | NTLM_ALWAYS_SIGN |
				  NTLM_EXTENDED_SESSIONSECURITY | NTLM_TARGET_INFO)) | NTLM_UNICODE);
	return off;
}

size_t bench_ntlm_authenticate_fixed(const unsigned char *chal, size_t chal_len,
				     const char *domain, const char *user,
				     const unsigned char nt_hash[16],
				     const unsigned char *fixed_client_challenge,
				     const unsigned char *fixed_timestamp,
				     unsigned char *out, size_t cap)
{
	unsigned char ntowf[16];

	if (!ntowfv2(domain, user, nt_hash, ntowf))
		return 0;
	return authenticate_ntowf(chal, chal_len, domain, user, ntowf, fixed_client_challenge,
				  fixed_timestamp, out, cap);
}

size_t bench_ntlm_authenticate(const unsigned char *chal, size_t chal_len,
			       const char *domain, const char *user,
			       const unsigned char nt_hash[16],
			       unsigned char *out, size_t cap)
{
	return bench_ntlm_authenticate_fixed(chal, chal_len, domain, user, nt_hash,
					     NULL, NULL, out, cap);
}

bool bench_ntlm_ntowfv2(const char *domain, const char *user, const unsigned char nt_hash[16],
			unsigned char out[16])
{
	return ntowfv2(domain, user, nt_hash, out);
}

size_t bench_ntlm_authenticate_user(const unsigned char *chal, size_t chal_len,
				    const char *domain, const struct bench_user *u,
				    unsigned char *out, size_t cap)
{
	unsigned char ntowf[16];

	if (u->has_ntowfv2)
		return authenticate_ntowf(chal, chal_len, domain, u->name, u->ntowfv2, NULL, NULL,
					  out, cap);
	if (!ntowfv2(domain, u->name, u->nt_hash, ntowf))
		return 0;
	return authenticate_ntowf(chal, chal_len, domain, u->name, ntowf, NULL, NULL, out, cap);
}

bool bench_nt_hash(const char *password, unsigned char out[16])
{
	/* MD4 lives in OpenSSL's legacy provider: loaded once into a private
	 * library context (the process default stays untouched) and kept, so
	 * that a users file without NT hashes costs one MD4 per user. */
	static OSSL_LIB_CTX *ctx;
	static EVP_MD *md4;
	unsigned char utf16[1024];
	size_t len = to_utf16le(password, false, utf16, sizeof(utf16));
	unsigned int outlen = 16;

	if (len == (size_t)-1)
		return false;
	if (md4 == NULL) {
		if (ctx == NULL && (ctx = OSSL_LIB_CTX_new()) == NULL)
			return false;
		if (OSSL_PROVIDER_load(ctx, "legacy") == NULL ||
		    (md4 = EVP_MD_fetch(ctx, "MD4", NULL)) == NULL)
			return false;
	}
	return EVP_Digest(utf16, len, out, &outlen, md4, NULL) == 1 && outlen == 16;
}

int bench_b64_encode(const unsigned char *in, size_t len, char *out, size_t cap)
{
	if (cap < 4 * ((len + 2) / 3) + 1)
		return -1;
	return EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

int bench_b64_decode(const char *in, unsigned char *out, size_t cap)
{
	size_t len = strlen(in);
	int n;

	if (len % 4 != 0 || len / 4 * 3 > cap)
		return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	/* EVP_DecodeBlock counts the padding as zero bytes; take them off. */
	if (n >= 0 && len >= 1 && in[len - 1] == '=')
		n--;
	if (n >= 0 && len >= 2 && in[len - 2] == '=')
		n--;
	return n;
}
