/*
 * ntlm_crypto: the MS-NLMP primitives (section 3.3 and 6), on OpenSSL 3.
 * Internal to core/ (the server, the tests and the fuzzer use it).
 *
 * Which OpenSSL provider each primitive needs:
 *
 *   HMAC-MD5, MD5 ........ default provider (NTLMv2, LMv2, NTProofStr, v2
 *                          session key, v1-ESS challenge, MIC)
 *   MD4 .................. legacy provider (NTOWFv1 = xi_nt_hash for the CLI,
 *                          NTLMv1 session base key)
 *   DES-ECB .............. legacy provider (NTLMv1 and v1-ESS responses)
 *   RC4 .................. legacy provider (only to decrypt a KEY_EXCH
 *                          EncryptedRandomSessionKey, i.e. only when an
 *                          NTLMv2 client sends a MIC with key exchange)
 *
 * The legacy provider is loaded into a private OSSL_LIB_CTX (with the default
 * provider beside it), created on first use behind pthread_once and never
 * changed afterwards, so the process's default library context is never
 * touched.  Verifying NTLMv2 from a stored NT hash never uses it.
 */
#ifndef XI_NTLM_CRYPTO_H
#define XI_NTLM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "xi_error.h"

/* One piece of a message to be hashed: HMAC and MD5 take several in a row. */
struct xi_ntlm_buf {
	const uint8_t *data;
	size_t len;
};

int xi_ntlm_hmac_md5(const uint8_t *key, size_t key_len,
		     const struct xi_ntlm_buf *parts, size_t nparts,
		     uint8_t out[16], struct xi_error *err);
int xi_ntlm_md5(const struct xi_ntlm_buf *parts, size_t nparts, uint8_t out[16],
		struct xi_error *err);

/* Legacy provider. */
int xi_ntlm_md4(const uint8_t *data, size_t len, uint8_t out[16], struct xi_error *err);
/* DESL(K, D): three DES-ECB encryptions of an 8-byte D under 7-byte slices of
 * the 16-byte K padded to 21 bytes (MS-NLMP 6). */
int xi_ntlm_desl(const uint8_t key[16], const uint8_t data[8], uint8_t out[24],
		 struct xi_error *err);
/* DES(K7, D): one DES-ECB block under a 7-byte key (parity bits inserted). */
int xi_ntlm_des7(const uint8_t key7[7], const uint8_t data[8], uint8_t out[8],
		 struct xi_error *err);
int xi_ntlm_rc4(const uint8_t key[16], const uint8_t *in, size_t len, uint8_t *out,
		struct xi_error *err);

/* NTOWFv2(hash, user, domain) = HMAC-MD5(NT hash, UTF-16LE(UPPER(user)) ||
 * UTF-16LE(domain)); user and domain are already in UTF-16LE here, the user
 * upper-cased by the caller. */
int xi_ntlm_ntowfv2(const uint8_t nt_hash[16], const uint8_t *user16, size_t user_len,
		    const uint8_t *domain16, size_t domain_len, uint8_t out[16],
		    struct xi_error *err);
/* Same from UTF-8 user and domain (user upper-cased here). */
int xi_ntlm_ntowfv2_utf8(const uint8_t nt_hash[16], const char *user, const char *domain,
			 uint8_t out[16], struct xi_error *err);

/* LMOWFv1 from a password (only for the test vectors: we never store LM). */
int xi_ntlm_lmowfv1(const char *password, uint8_t out[16], struct xi_error *err);

#endif
