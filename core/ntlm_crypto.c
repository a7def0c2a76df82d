/*
 * ntlm_crypto: MS-NLMP primitives on OpenSSL 3.  See ntlm_crypto.h for which
 * provider each needs and why the legacy one lives in a private library
 * context.
 */
#include "ntlm_crypto.h"

#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "ntlm_server.h"
#include "unicode.h"

/* The private context for MD4/DES/RC4: built once, then only read (OpenSSL's
 * library contexts are safe to fetch from concurrently).  Never freed: it
 * lives as long as the process, like OpenSSL's own default context. */
static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *legacy_ctx;

static void legacy_init(void)
{
	OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

	if (ctx == NULL)
		return;
	if (OSSL_PROVIDER_load(ctx, "legacy") == NULL ||
	    OSSL_PROVIDER_load(ctx, "default") == NULL) {
		OSSL_LIB_CTX_free(ctx);
		return;
	}
	legacy_ctx = ctx;
}

static OSSL_LIB_CTX *legacy(struct xi_error *err)
{
	pthread_once(&legacy_once, legacy_init);
	if (legacy_ctx == NULL)
		xi_error_set(err, XI_ERR_UNSUPPORTED,
			     "OpenSSL legacy provider unavailable (needed for MD4/DES/RC4: NT hashes, NTLMv1, NTLM key exchange)");
	return legacy_ctx;
}

/* HMAC fetched once: fetching per call cost more than the MAC itself (about
 * 5 us against 1 us here).  Immutable after the once; EVP_MAC objects may be
 * shared between threads. */
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac;

static void hmac_init(void)
{
	hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int xi_ntlm_hmac_md5(const uint8_t *key, size_t key_len,
		     const struct xi_ntlm_buf *parts, size_t nparts,
		     uint8_t out[16], struct xi_error *err)
{
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t i, out_len = 0;
	int ok = 0;

	pthread_once(&hmac_once, hmac_init);
	if (hmac != NULL)
		ctx = EVP_MAC_CTX_new(hmac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"MD5", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1) {
		ok = 1;
		for (i = 0; i < nparts && ok; i++)
			ok = EVP_MAC_update(ctx, parts[i].data, parts[i].len) == 1;
		ok = ok && EVP_MAC_final(ctx, out, &out_len, 16) == 1 && out_len == 16;
	}
	EVP_MAC_CTX_free(ctx);
	if (!ok)
		return xi_error_set(err, XI_ERR_INTERNAL, "HMAC-MD5 unavailable from OpenSSL's default provider");
	return 0;
}

static int digest(OSSL_LIB_CTX *libctx, const char *name, const struct xi_ntlm_buf *parts,
		  size_t nparts, uint8_t out[16], struct xi_error *err)
{
	EVP_MD *md = EVP_MD_fetch(libctx, name, NULL);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int out_len = 0;
	size_t i;
	int ok = 0;

	if (md != NULL && ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) == 1) {
		ok = 1;
		for (i = 0; i < nparts && ok; i++)
			ok = EVP_DigestUpdate(ctx, parts[i].data, parts[i].len) == 1;
		ok = ok && EVP_DigestFinal_ex(ctx, out, &out_len) == 1 && out_len == 16;
	}
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	if (!ok)
		return xi_error_set(err, XI_ERR_INTERNAL, "%s digest failed in OpenSSL", name);
	return 0;
}

int xi_ntlm_md5(const struct xi_ntlm_buf *parts, size_t nparts, uint8_t out[16],
		struct xi_error *err)
{
	return digest(NULL, "MD5", parts, nparts, out, err);
}

int xi_ntlm_md4(const uint8_t *data, size_t len, uint8_t out[16], struct xi_error *err)
{
	struct xi_ntlm_buf part = { data, len };
	OSSL_LIB_CTX *ctx = legacy(err);

	if (ctx == NULL)
		return -1;
	return digest(ctx, "MD4", &part, 1, out, err);
}

/* Encrypts (or, for RC4, streams) len bytes with a cipher from the legacy
 * context; no padding, one shot. */
static int legacy_cipher(const char *name, const uint8_t *key, const uint8_t *in, size_t len,
			 uint8_t *out, struct xi_error *err)
{
	OSSL_LIB_CTX *libctx = legacy(err);
	EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *ctx;
	int n1 = 0, n2 = 0, ok = 0;

	if (libctx == NULL)
		return -1;
	if (len > INT32_MAX)
		return xi_error_set(err, XI_ERR_INTERNAL, "cipher input too long");
	cipher = EVP_CIPHER_fetch(libctx, name, NULL);
	ctx = EVP_CIPHER_CTX_new();
	if (cipher != NULL && ctx != NULL &&
	    EVP_EncryptInit_ex2(ctx, cipher, key, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, out, &n1, in, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(ctx, out + n1, &n2) == 1 &&
	    (size_t)(n1 + n2) == len)
		ok = 1;
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(cipher);
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
	rc = legacy_cipher("DES-ECB", key, data, 8, out, err);
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
	return legacy_cipher("RC4", key, in, len, out, err);
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
