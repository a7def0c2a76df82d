/*
 * ntlm_crypto: MS-NLMP primitives on OpenSSL 3.  See ntlm_crypto.h for which
 * provider each needs and why the legacy one lives in a private library
 * context.
 */
#include "ntlm_crypto.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "ntlm_server.h"
#include "unicode.h"

/* Every algorithm is fetched once, on first use, and then only read:
 * fetching by name per call (what HMAC(EVP_md5(), ...) and an EVP_MAC with a
 * digest parameter do) cost more than the MD5 work of an NTLMv2 check.
 * The legacy provider (MD4/DES/RC4) lives in a private library context.
 * Nothing here is ever changed after the once, and fetched EVP_MD /
 * EVP_CIPHER objects may be shared between threads; never freed: they live
 * as long as the process, like OpenSSL's own default context. */
struct algorithms {
	EVP_MD *md5;
	OSSL_LIB_CTX *legacy;   /* NULL: the legacy provider did not load */
	EVP_MD *md4;
	EVP_CIPHER *des_ecb, *rc4;
};

static pthread_once_t algorithms_once = PTHREAD_ONCE_INIT;
static struct algorithms algorithms;

static void algorithms_init(void)
{
	OSSL_LIB_CTX *ctx;

	algorithms.md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	ctx = OSSL_LIB_CTX_new();
	if (ctx == NULL)
		return;
	if (OSSL_PROVIDER_load(ctx, "legacy") == NULL ||
	    OSSL_PROVIDER_load(ctx, "default") == NULL) {
		OSSL_LIB_CTX_free(ctx);
		return;
	}
	algorithms.legacy = ctx;
	algorithms.md4 = EVP_MD_fetch(ctx, "MD4", NULL);
	algorithms.des_ecb = EVP_CIPHER_fetch(ctx, "DES-ECB", NULL);
	algorithms.rc4 = EVP_CIPHER_fetch(ctx, "RC4", NULL);
}

static const struct algorithms *fetched(void)
{
	pthread_once(&algorithms_once, algorithms_init);
	return &algorithms;
}

static int legacy_missing(struct xi_error *err)
{
	return xi_error_set(err, XI_ERR_UNSUPPORTED,
			    "OpenSSL legacy provider unavailable (needed for MD4/DES/RC4: NT hashes, NTLMv1, NTLM key exchange)");
}

/* One digest of a row of parts into out[16], on a context the caller owns
 * (so HMAC's two passes share it). */
static bool digest_on(EVP_MD_CTX *ctx, const EVP_MD *md, const struct xi_ntlm_buf *parts,
		      size_t nparts, uint8_t out[16])
{
	unsigned int out_len = 0;
	size_t i;

	if (md == NULL || EVP_DigestInit_ex2(ctx, md, NULL) != 1)
		return false;
	for (i = 0; i < nparts; i++)
		if (parts[i].len > 0 && EVP_DigestUpdate(ctx, parts[i].data, parts[i].len) != 1)
			return false;
	return EVP_DigestFinal_ex(ctx, out, &out_len) == 1 && out_len == 16;
}

#define HMAC_MD5_BLOCK 64
#define HMAC_MD5_PARTS_MAX 8

/* HMAC-MD5 as RFC 2104 defines it, on the fetched MD5: the same bytes as
 * OpenSSL's HMAC, without building a MAC context and fetching its digest by
 * name on every call. */
int xi_ntlm_hmac_md5(const uint8_t *key, size_t key_len,
		     const struct xi_ntlm_buf *parts, size_t nparts,
		     uint8_t out[16], struct xi_error *err)
{
	const struct algorithms *alg = fetched();
	struct xi_ntlm_buf inner_parts[1 + HMAC_MD5_PARTS_MAX], outer_parts[2];
	uint8_t ipad[HMAC_MD5_BLOCK], opad[HMAC_MD5_BLOCK], inner[16], hashed_key[16];
	EVP_MD_CTX *ctx;
	size_t i;
	bool ok = false;

	if (nparts > HMAC_MD5_PARTS_MAX)
		return xi_error_set(err, XI_ERR_INTERNAL, "HMAC-MD5 over more than %d parts",
				    HMAC_MD5_PARTS_MAX);
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || alg->md5 == NULL) {
		EVP_MD_CTX_free(ctx);
		return xi_error_set(err, XI_ERR_INTERNAL, "HMAC-MD5 unavailable from OpenSSL's default provider");
	}
	if (key_len > HMAC_MD5_BLOCK) {
		/* A key longer than a block is hashed first (RFC 2104 2). */
		struct xi_ntlm_buf k = { key, key_len };

		if (!digest_on(ctx, alg->md5, &k, 1, hashed_key))
			goto out;
		key = hashed_key;
		key_len = sizeof(hashed_key);
	}
	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (i = 0; i < key_len; i++) {
		ipad[i] ^= key[i];
		opad[i] ^= key[i];
	}
	inner_parts[0] = (struct xi_ntlm_buf){ ipad, sizeof(ipad) };
	for (i = 0; i < nparts; i++)
		inner_parts[1 + i] = parts[i];
	outer_parts[0] = (struct xi_ntlm_buf){ opad, sizeof(opad) };
	outer_parts[1] = (struct xi_ntlm_buf){ inner, sizeof(inner) };
	ok = digest_on(ctx, alg->md5, inner_parts, 1 + nparts, inner) &&
	     digest_on(ctx, alg->md5, outer_parts, 2, out);
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	OPENSSL_cleanse(inner, sizeof(inner));
	OPENSSL_cleanse(hashed_key, sizeof(hashed_key));
	if (!ok)
		return xi_error_set(err, XI_ERR_INTERNAL, "HMAC-MD5 failed in OpenSSL");
	return 0;
}

static int digest(const EVP_MD *md, const char *name, const struct xi_ntlm_buf *parts,
		  size_t nparts, uint8_t out[16], struct xi_error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx != NULL && digest_on(ctx, md, parts, nparts, out);

	EVP_MD_CTX_free(ctx);
	if (!ok)
		return xi_error_set(err, XI_ERR_INTERNAL, "%s digest failed in OpenSSL", name);
	return 0;
}

int xi_ntlm_md5(const struct xi_ntlm_buf *parts, size_t nparts, uint8_t out[16],
		struct xi_error *err)
{
	return digest(fetched()->md5, "MD5", parts, nparts, out, err);
}

int xi_ntlm_md4(const uint8_t *data, size_t len, uint8_t out[16], struct xi_error *err)
{
	struct xi_ntlm_buf part = { data, len };
	const struct algorithms *alg = fetched();

	if (alg->legacy == NULL)
		return legacy_missing(err);
	return digest(alg->md4, "MD4", &part, 1, out, err);
}

/* Encrypts (or, for RC4, streams) len bytes with a cipher from the legacy
 * context; no padding, one shot. */
static int legacy_cipher(const EVP_CIPHER *cipher, const char *name, const uint8_t *key,
			 const uint8_t *in, size_t len, uint8_t *out, struct xi_error *err)
{
	EVP_CIPHER_CTX *ctx;
	int n1 = 0, n2 = 0, ok = 0;

	if (fetched()->legacy == NULL)
		return legacy_missing(err);
	if (len > INT32_MAX)
		return xi_error_set(err, XI_ERR_INTERNAL, "cipher input too long");
	ctx = EVP_CIPHER_CTX_new();
	if (cipher != NULL && ctx != NULL &&
	    EVP_EncryptInit_ex2(ctx, cipher, key, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, out, &n1, in, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(ctx, out + n1, &n2) == 1 &&
	    (size_t)(n1 + n2) == len)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return xi_error_set(err, XI_ERR_INTERNAL, "%s failed in OpenSSL's legacy provider", name);
	return 0;
}

int xi_ntlm_des7(const uint8_t k[7], const uint8_t data[8], uint8_t out[8],
		 struct xi_error *err)
{
	uint8_t key[8];
	int i, rc;

	/* Spread 56 key bits over 8 bytes, leaving the low (parity) bit free;
	 * DES ignores parity, so it is not computed. */
	key[0] = k[0];
	key[1] = (uint8_t)((k[0] << 7) | (k[1] >> 1));
	key[2] = (uint8_t)((k[1] << 6) | (k[2] >> 2));
	key[3] = (uint8_t)((k[2] << 5) | (k[3] >> 3));
	key[4] = (uint8_t)((k[3] << 4) | (k[4] >> 4));
	key[5] = (uint8_t)((k[4] << 3) | (k[5] >> 5));
	key[6] = (uint8_t)((k[5] << 2) | (k[6] >> 6));
	key[7] = (uint8_t)(k[6] << 1);
	for (i = 0; i < 8; i++)
		key[i] &= 0xFE;
	rc = legacy_cipher(fetched()->des_ecb, "DES-ECB", key, data, 8, out, err);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

int xi_ntlm_desl(const uint8_t key[16], const uint8_t data[8], uint8_t out[24],
		 struct xi_error *err)
{
	uint8_t k[21];
	int rc;

	memcpy(k, key, 16);
	memset(k + 16, 0, 5);
	rc = xi_ntlm_des7(k, data, out, err);
	if (rc == 0)
		rc = xi_ntlm_des7(k + 7, data, out + 8, err);
	if (rc == 0)
		rc = xi_ntlm_des7(k + 14, data, out + 16, err);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

int xi_ntlm_rc4(const uint8_t key[16], const uint8_t *in, size_t len, uint8_t *out,
		struct xi_error *err)
{
	return legacy_cipher(fetched()->rc4, "RC4", key, in, len, out, err);
}

int xi_ntlm_ntowfv2(const uint8_t nt_hash[16], const uint8_t *user16, size_t user_len,
		    const uint8_t *domain16, size_t domain_len, uint8_t out[16],
		    struct xi_error *err)
{
	struct xi_ntlm_buf parts[2] = { { user16, user_len }, { domain16, domain_len } };

	return xi_ntlm_hmac_md5(nt_hash, 16, parts, 2, out, err);
}

/* Longest user or domain name, in bytes of UTF-8, the helpers accept. */
#define XI_NTLM_NAME_MAX 512

int xi_ntlm_ntowfv2_utf8(const uint8_t nt_hash[16], const char *user, const char *domain,
			 uint8_t out[16], struct xi_error *err)
{
	char upper[XI_NTLM_NAME_MAX + 1];
	uint8_t user16[2 * XI_NTLM_NAME_MAX], domain16[2 * XI_NTLM_NAME_MAX];
	int ulen, dlen;

	if (xi_utf8_upper(user, upper, sizeof(upper), err) < 0)
		return -1;
	ulen = xi_utf8_to_utf16le(upper, strlen(upper), user16, sizeof(user16), err);
	if (ulen < 0)
		return -1;
	dlen = xi_utf8_to_utf16le(domain, strlen(domain), domain16, sizeof(domain16), err);
	if (dlen < 0)
		return -1;
	return xi_ntlm_ntowfv2(nt_hash, user16, (size_t)ulen, domain16, (size_t)dlen, out, err);
}

int xi_ntlm_lmowfv1(const char *password, uint8_t out[16], struct xi_error *err)
{
	static const uint8_t magic[8] = { 'K', 'G', 'S', '!', '@', '#', '$', '%' };
	uint8_t pw[14];
	size_t i;
	int rc;

	memset(pw, 0, sizeof(pw));
	for (i = 0; i < sizeof(pw) && password[i] != '\0'; i++) {
		uint8_t c = (uint8_t)password[i];
		pw[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
	}
	rc = xi_ntlm_des7(pw, magic, out, err);
	if (rc == 0)
		rc = xi_ntlm_des7(pw + 7, magic, out + 8, err);
	OPENSSL_cleanse(pw, sizeof(pw));
	return rc;
}

int xi_nt_hash(const char *password_utf8, uint8_t out[16], struct xi_error *err)
{
	size_t len;
	uint8_t *u16;
	int n, rc;

	if (password_utf8 == NULL)
		return xi_error_set(err, XI_ERR_INVALID, "no password given");
	len = strlen(password_utf8);
	if (len > 4096)
		return xi_error_set(err, XI_ERR_INVALID, "password longer than 4096 bytes");
	u16 = OPENSSL_malloc(2 * len + 2);
	if (u16 == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	n = xi_utf8_to_utf16le(password_utf8, len, u16, 2 * len + 2, err);
	rc = n < 0 ? -1 : xi_ntlm_md4(u16, (size_t)n, out, err);
	OPENSSL_clear_free(u16, 2 * len + 2);
	return rc;
}
