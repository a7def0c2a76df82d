#include "lib.h"
#include "array.h"
#include "password-scheme.h"

#include <openssl/crypto.h>

#include "ntlm_server.h"
#include "ntlm-scheme.h"

#define NT_HASH_SIZE 16

static int ntlm_scheme_verify(const char *plaintext,
			      const struct password_generate_params *params ATTR_UNUSED,
			      const unsigned char *raw_password, size_t size,
			      const char **error_r)
{
	uint8_t hash[NT_HASH_SIZE];
	struct xi_error err;
	int ret;

	if (size != NT_HASH_SIZE) {
		*error_r = "NTLM hash is not 16 bytes";
		return -1;
	}
	if (xi_nt_hash(plaintext, hash, &err) < 0) {
		*error_r = t_strdup(err.message);
		return -1;
	}
	ret = CRYPTO_memcmp(hash, raw_password, NT_HASH_SIZE) == 0 ? 1 : 0;
	OPENSSL_cleanse(hash, sizeof(hash));
	return ret;
}

static void ntlm_scheme_generate(const char *plaintext,
				 const struct password_generate_params *params ATTR_UNUSED,
				 const unsigned char **raw_password_r, size_t *size_r)
{
	unsigned char *hash = t_malloc0(NT_HASH_SIZE);
	struct xi_error err;

	/* Dovecot's generate cannot fail: a password that is not valid UTF-8
	 * yields the all-zero hash, which no response ever verifies against
	 * by chance and which the mechanism refuses outright. */
	if (xi_nt_hash(plaintext, hash, &err) < 0)
		memset(hash, 0, NT_HASH_SIZE);
	*raw_password_r = hash;
	*size_r = NT_HASH_SIZE;
}

static const struct password_scheme ntlm_scheme = {
	.name = "NTLM",
	.default_encoding = PW_ENCODING_HEX,
	.raw_password_len = NT_HASH_SIZE,
	.password_verify = ntlm_scheme_verify,
	.password_generate = ntlm_scheme_generate,
};

static bool ntlm_scheme_exists(void)
{
	ARRAY_TYPE(password_scheme_p) schemes;
	const struct password_scheme *s;
	bool found = FALSE;

	T_BEGIN {
		t_array_init(&schemes, 32);
		password_schemes_get(&schemes);
		array_foreach_elem(&schemes, s) {
			if (strcasecmp(s->name, ntlm_scheme.name) == 0)
				found = TRUE;
		}
	} T_END;
	return found;
}

bool xi_ntlm_scheme_register(void)
{
	if (ntlm_scheme_exists())
		return FALSE;
	password_scheme_register(&ntlm_scheme);
	return TRUE;
}

void xi_ntlm_scheme_unregister(void)
{
	password_scheme_unregister(&ntlm_scheme);
}
