#include "password_hash.h"

#include <crypt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "xident-config.h"

#include "base64.h"

#ifdef HAVE_ARGON2
#include <argon2.h>
#endif

/* Salted SHA: base64(digest || salt).  A salt longer than this is no salt
 * anyone generates; it bounds the decoder. */
#define SSHA_SALT_MAX 64
#define SSHA_DECODED_MAX (64 + SSHA_SALT_MAX)
#define SSHA_NEW_SALT 16

/* New {ARGON2} values: argon2id with OWASP's minimum (19 MiB, 2 passes),
 * which keeps a logon near 50 ms on one core.  Stored values asking for more
 * than the limits below are refused rather than letting a directory entry
 * make us allocate gigabytes. */
#define ARGON2_NEW_T 2
#define ARGON2_NEW_M 19456
#define ARGON2_NEW_P 1
#define ARGON2_NEW_SALT 16
#define ARGON2_NEW_HASH 32
#define ARGON2_MAX_M (256u * 1024u)
#define ARGON2_MAX_T 32u
#define ARGON2_MAX_P 16u

struct scheme_desc {
	const char *name;      /* between the braces */
	const EVP_MD *(*md)(void);
	size_t digest_len;
};

static const struct scheme_desc ssha_schemes[] = {
	[XI_PW_SSHA] = { "SSHA", EVP_sha1, 20 },
	[XI_PW_SSHA256] = { "SSHA256", EVP_sha256, 32 },
	[XI_PW_SSHA512] = { "SSHA512", EVP_sha512, 64 },
};

struct crypt_method {
	const char *prefix;
	enum xi_password_scheme scheme;
};

/* DES and other prefix-less crypt formats are refused: they truncate
 * passwords to 8 bytes. */
static const struct crypt_method crypt_methods[] = {
	{ "$6$", XI_PW_CRYPT_SHA512 },
	{ "$y$", XI_PW_CRYPT_YESCRYPT },
	{ "$2b$", XI_PW_CRYPT_BCRYPT },
	{ "$2y$", XI_PW_CRYPT_BCRYPT },
	{ "$2a$", XI_PW_CRYPT_BCRYPT },
	{ "$gy$", XI_PW_CRYPT_OTHER },
	{ "$7$", XI_PW_CRYPT_OTHER },
	{ "$5$", XI_PW_CRYPT_OTHER },
	{ "$1$", XI_PW_CRYPT_OTHER },
};

/* The value behind the {SCHEME} prefix. */
struct stored_value {
	enum xi_password_scheme scheme;
	const char *body;
	size_t body_len;
};

const char *xi_password_scheme_name(enum xi_password_scheme scheme)
{
	switch (scheme) {
	case XI_PW_SSHA: return "{SSHA}";
	case XI_PW_SSHA256: return "{SSHA256}";
	case XI_PW_SSHA512: return "{SSHA512}";
	case XI_PW_CRYPT_SHA512: return "{CRYPT}$6$";
	case XI_PW_CRYPT_YESCRYPT: return "{CRYPT}$y$";
	case XI_PW_CRYPT_BCRYPT: return "{CRYPT}$2b$";
	case XI_PW_CRYPT_OTHER: return "{CRYPT}";
	case XI_PW_ARGON2: return "{ARGON2}";
	case XI_PW__COUNT: break;
	}
	return "{?}";
}

int xi_password_scheme_from_name(const char *name, enum xi_password_scheme *scheme_r,
				 struct xi_error *err)
{
	static const char *const names[] = {
		[XI_PW_SSHA] = "ssha", [XI_PW_SSHA256] = "ssha256", [XI_PW_SSHA512] = "ssha512",
		[XI_PW_CRYPT_SHA512] = "crypt-sha512", [XI_PW_CRYPT_YESCRYPT] = "crypt-yescrypt",
		[XI_PW_CRYPT_BCRYPT] = "crypt-bcrypt", [XI_PW_ARGON2] = "argon2",
	};

	for (size_t i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i] != NULL && strcasecmp(name, names[i]) == 0) {
			*scheme_r = (enum xi_password_scheme)i;
			return 0;
		}
	}
	return xi_error_set(err, XI_ERR_INVALID, "unknown password scheme name (ssha, ssha256, ssha512, "
			    "crypt-sha512, crypt-yescrypt, crypt-bcrypt or argon2)");
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

static int parse_stored(const char *stored, size_t len, struct stored_value *v,
			struct xi_error *err)
{
	const char *close, *name;
	size_t name_len;

	if (stored == NULL || len == 0)
		return xi_error_set(err, XI_ERR_INVALID, "password value is empty");
	if (len > XI_PASSWORD_STORED_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "password value is longer than %d bytes",
				    XI_PASSWORD_STORED_MAX);
	if (memchr(stored, '\0', len) != NULL)
		return xi_error_set(err, XI_ERR_INVALID, "password value contains a NUL byte");
	if (stored[0] != '{' || (close = memchr(stored, '}', len < 16 ? len : 16)) == NULL)
		return xi_error_set(err, XI_ERR_INVALID, "password value has no {SCHEME} prefix");
	name = stored + 1;
	name_len = (size_t)(close - name);
	v->body = close + 1;
	v->body_len = len - name_len - 2;

	for (size_t i = 0; i < sizeof(ssha_schemes) / sizeof(ssha_schemes[0]); i++) {
		if (name_is(name, name_len, ssha_schemes[i].name)) {
			v->scheme = (enum xi_password_scheme)i;
			return 0;
		}
	}
	if (name_is(name, name_len, "CRYPT")) {
		for (size_t i = 0; i < sizeof(crypt_methods) / sizeof(crypt_methods[0]); i++) {
			if (starts_with(v->body, v->body_len, crypt_methods[i].prefix)) {
				v->scheme = crypt_methods[i].scheme;
				return 0;
			}
		}
		return xi_error_set(err, XI_ERR_UNSUPPORTED,
				    "{CRYPT} value uses a method that is not accepted "
				    "(only $6$, $5$, $y$, $gy$, $7$, $2b$, $2y$, $2a$, $1$)");
	}
	if (name_is(name, name_len, "ARGON2")) {
#ifdef HAVE_ARGON2
		v->scheme = XI_PW_ARGON2;
		return 0;
#else
		return xi_error_set(err, XI_ERR_UNSUPPORTED,
				    "{ARGON2} password values are not supported: xident was built without libargon2");
#endif
	}
	return xi_error_set(err, XI_ERR_UNSUPPORTED, "unsupported password scheme (%zu-character name)",
			    name_len);
}

int xi_password_scheme_of(const char *stored, size_t stored_len,
			  enum xi_password_scheme *scheme_r, struct xi_error *err)
{
	struct stored_value v;

	if (parse_stored(stored, stored_len, &v, err) < 0)
		return -1;
	*scheme_r = v.scheme;
	return 0;
}

/* ------------------------------------------------------------- salted SHA */

static int ssha_digest(enum xi_password_scheme scheme, const char *password,
		       const uint8_t *salt, size_t salt_len, uint8_t *digest)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (ctx == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, ssha_schemes[scheme].md(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
	     EVP_DigestUpdate(ctx, salt, salt_len) == 1 &&
	     EVP_DigestFinal_ex(ctx, digest, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static int ssha_verify(const struct stored_value *v, const char *password, struct xi_error *err)
{
	uint8_t decoded[SSHA_DECODED_MAX], digest[EVP_MAX_MD_SIZE];
	size_t digest_len = ssha_schemes[v->scheme].digest_len;
	int n = xi_base64_decode(v->body, v->body_len, decoded, sizeof(decoded));
	int ret;

	if (n < 0)
		ret = xi_error_set(err, XI_ERR_INVALID, "%s value is not valid base64 of a bounded size",
				   xi_password_scheme_name(v->scheme));
	else if ((size_t)n <= digest_len)
		ret = xi_error_set(err, XI_ERR_INVALID, "%s value is too short to hold digest and salt",
				   xi_password_scheme_name(v->scheme));
	else if (ssha_digest(v->scheme, password, decoded + digest_len, (size_t)n - digest_len,
			     digest) < 0)
		ret = xi_error_set(err, XI_ERR_INTERNAL, "OpenSSL digest failed");
	else
		ret = CRYPTO_memcmp(digest, decoded, digest_len) == 0 ? 1 : 0;
	/* The stored hash and the password's hash are both worth an offline
	 * dictionary attack: gone before the stack is reused. */
	OPENSSL_cleanse(decoded, sizeof(decoded));
	OPENSSL_cleanse(digest, sizeof(digest));
	return ret;
}

static const uint8_t dummy_salt[SSHA_NEW_SALT] = {
	0x78, 0x69, 0x64, 0x65, 0x6e, 0x74, 0x2d, 0x64, 0x75, 0x6d, 0x6d, 0x79, 0x2d, 0x73, 0x61, 0x6c
};

static void ssha_dummy(enum xi_password_scheme scheme, const char *password)
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	static const uint8_t never[EVP_MAX_MD_SIZE];

	if (ssha_digest(scheme, password, dummy_salt, sizeof(dummy_salt), digest) == 0)
		(void)CRYPTO_memcmp(digest, never, ssha_schemes[scheme].digest_len);
	OPENSSL_cleanse(digest, sizeof(digest));
}

static int ssha_hash(enum xi_password_scheme scheme, const char *password,
		     char *out, size_t size, struct xi_error *err)
{
	uint8_t raw[SSHA_DECODED_MAX];
	size_t digest_len = ssha_schemes[scheme].digest_len;
	size_t raw_len = digest_len + SSHA_NEW_SALT;
	const char *prefix = xi_password_scheme_name(scheme);
	size_t prefix_len = strlen(prefix);
	int ret;

	if (size < prefix_len + (raw_len + 2) / 3 * 4 + 1)
		return xi_error_set(err, XI_ERR_INVALID, "output buffer too small for %s", prefix);
	if (RAND_bytes(raw + digest_len, SSHA_NEW_SALT) != 1)
		return xi_error_set(err, XI_ERR_INTERNAL, "OpenSSL could not make a random salt");
	if (ssha_digest(scheme, password, raw + digest_len, SSHA_NEW_SALT, raw) < 0) {
		ret = xi_error_set(err, XI_ERR_INTERNAL, "OpenSSL digest failed");
	} else {
		memcpy(out, prefix, prefix_len);
		ret = (int)prefix_len + EVP_EncodeBlock((unsigned char *)out + prefix_len, raw,
							 (int)raw_len);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return ret;
}

/* ------------------------------------------------------------------ crypt */

/* A {CRYPT} value names its own cost, and crypt_r obeys it: $6$rounds=
 * 999999999$ is minutes of CPU, $2b$31$ days, a yescrypt N of 2^40 more memory
 * than the host has, and all of it spent on every logon attempt under that
 * name, whatever the password.  Costs above these limits are refused like
 * the {ARGON2} ones (about a second of CPU, at most 256 MiB). */
#define CRYPT_SHA_MAX_ROUNDS 1000000ul
#define CRYPT_BCRYPT_MAX_COST 15
/* The parameter strings libxcrypt's crypt_gensalt writes for yescrypt (and
 * gost-yescrypt) costs 1..9 and for scrypt costs 6..10: 256 MiB at most.  A
 * test checks them against crypt_gensalt_rn. */
static const char *const yescrypt_params[] = {
	"j75", "j85", "j7T", "j8T", "j9T", "jAT", "jBT", "jCT", "jDT"
};
static const char *const scrypt_params[] = {
	"BU..../....", "CU..../....", "DU..../....", "EU..../....", "FU..../...."
};

static bool crypt_params_listed(const char *params, size_t len, const char *const *list,
				size_t n, bool dollar_after)
{
	for (size_t i = 0; i < n; i++) {
		size_t plen = strlen(list[i]);

		if (len >= plen && memcmp(params, list[i], plen) == 0 &&
		    (!dollar_after || (len > plen && params[plen] == '$')))
			return true;
	}
	return false;
}

/* 0 when the cost written in the {CRYPT} body is within the limits, -1 when
 * not (err set).  A body whose cost cannot be read is left to crypt_r. */
static int crypt_cost_ok(const struct stored_value *v, struct xi_error *err)
{
	const char *b = v->body;
	size_t len = v->body_len, i;

	if (starts_with(b, len, "$5$rounds=") || starts_with(b, len, "$6$rounds=")) {
		unsigned long rounds = 0;

		for (i = 10; i < len && b[i] >= '0' && b[i] <= '9'; i++) {
			rounds = rounds * 10 + (unsigned long)(b[i] - '0');
			if (rounds > CRYPT_SHA_MAX_ROUNDS)
				return xi_error_set(err, XI_ERR_INVALID,
						    "{CRYPT} value asks for more than %lu rounds",
						    CRYPT_SHA_MAX_ROUNDS);
		}
		return 0;
	}
	if (starts_with(b, len, "$2a$") || starts_with(b, len, "$2b$") || starts_with(b, len, "$2y$")) {
		if (len >= 6 && b[4] >= '0' && b[4] <= '9' && b[5] >= '0' && b[5] <= '9' &&
		    (b[4] - '0') * 10 + (b[5] - '0') > CRYPT_BCRYPT_MAX_COST)
			return xi_error_set(err, XI_ERR_INVALID,
					    "{CRYPT} bcrypt value asks for a cost above %d",
					    CRYPT_BCRYPT_MAX_COST);
		return 0;
	}
	if (starts_with(b, len, "$y$") || starts_with(b, len, "$gy$")) {
		size_t skip = b[1] == 'y' ? 3 : 4;

		if (!crypt_params_listed(b + skip, len - skip, yescrypt_params,
					 sizeof(yescrypt_params) / sizeof(yescrypt_params[0]), true))
			return xi_error_set(err, XI_ERR_INVALID,
					    "{CRYPT} yescrypt value has parameters other than "
					    "crypt_gensalt's costs 1 to 9 (at most 256 MiB)");
		return 0;
	}
	if (starts_with(b, len, "$7$")) {
		if (!crypt_params_listed(b + 3, len - 3, scrypt_params,
					 sizeof(scrypt_params) / sizeof(scrypt_params[0]), false))
			return xi_error_set(err, XI_ERR_INVALID,
					    "{CRYPT} scrypt value has parameters other than "
					    "crypt_gensalt's costs 6 to 10 (at most 256 MiB)");
		return 0;
	}
	return 0;
}

static int crypt_verify(const struct stored_value *v, const char *password, struct xi_error *err)
{
	struct crypt_data *data;
	char setting[XI_PASSWORD_STORED_MAX + 1];
	const char *result;
	int ret;

	if (v->body_len >= CRYPT_OUTPUT_SIZE)
		return xi_error_set(err, XI_ERR_INVALID, "{CRYPT} value is too long");
	if (crypt_cost_ok(v, err) < 0)
		return -1;
	memcpy(setting, v->body, v->body_len);
	setting[v->body_len] = '\0';
	/* struct crypt_data is ~32 KiB: too much for a thread's stack in a host. */
	data = calloc(1, sizeof(*data));
	if (data == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory verifying a {CRYPT} value");
	result = crypt_r(password, setting, data);
	if (result == NULL || result[0] == '*')
		ret = xi_error_set(err, XI_ERR_INVALID, "{CRYPT} value is malformed");
	else if (strlen(result) != v->body_len)
		/* The length of crypt's output does not depend on the password,
		 * so a value of another length is a setting, not a hash. */
		ret = xi_error_set(err, XI_ERR_INVALID, "{CRYPT} value is not a complete hash");
	else
		ret = CRYPTO_memcmp(result, setting, v->body_len) == 0 ? 1 : 0;
	explicit_bzero(data, sizeof(*data));
	free(data);
	OPENSSL_cleanse(setting, v->body_len);
	return ret;
}

static const char *crypt_prefix(enum xi_password_scheme scheme)
{
	switch (scheme) {
	case XI_PW_CRYPT_YESCRYPT: return "$y$";
	case XI_PW_CRYPT_BCRYPT: return "$2b$";
	default: return "$6$";
	}
}

/* A setting string for scheme at its default cost; rbytes NULL: the fixed
 * dummy salt. */
static int crypt_setting(enum xi_password_scheme scheme, bool random, char *setting,
			 size_t size)
{
	uint8_t rbytes[16];

	if (random) {
		if (RAND_bytes(rbytes, sizeof(rbytes)) != 1)
			return -1;
	} else {
		memcpy(rbytes, dummy_salt, sizeof(rbytes));
	}
	return crypt_gensalt_rn(crypt_prefix(scheme), 0, (const char *)rbytes, sizeof(rbytes),
				setting, (int)size) == NULL ? -1 : 0;
}

static void crypt_dummy(enum xi_password_scheme scheme, const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data = calloc(1, sizeof(*data));
	const char *result;

	if (data == NULL)
		return;
	if (crypt_setting(scheme, false, setting, sizeof(setting)) == 0) {
		result = crypt_r(password, setting, data);
		if (result != NULL)
			(void)CRYPTO_memcmp(result, setting, strnlen(setting, sizeof(setting)));
	}
	explicit_bzero(data, sizeof(*data));
	free(data);
}

static int crypt_hash(enum xi_password_scheme scheme, const char *password,
		      char *out, size_t size, struct xi_error *err)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	const char *result;
	int ret;

	if (crypt_setting(scheme, true, setting, sizeof(setting)) < 0)
		return xi_error_set(err, XI_ERR_INTERNAL, "could not make a {CRYPT} salt");
	data = calloc(1, sizeof(*data));
	if (data == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory hashing a password");
	result = crypt_r(password, setting, data);
	if (result == NULL || result[0] == '*')
		ret = xi_error_set(err, XI_ERR_INTERNAL, "crypt_r refused to hash");
	else if (strlen("{CRYPT}") + strlen(result) + 1 > size)
		ret = xi_error_set(err, XI_ERR_INVALID, "output buffer too small for {CRYPT}");
	else
		ret = snprintf(out, size, "{CRYPT}%s", result);
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ret;
}

/* ----------------------------------------------------------------- argon2 */

#ifdef HAVE_ARGON2
/* Reads "key=number" at *p, bounded by max; advances past it. */
static bool read_param(const char **p, const char *key, uint32_t max, uint32_t *out)
{
	size_t key_len = strlen(key);
	unsigned long value = 0;
	const char *s = *p;

	if (strncmp(s, key, key_len) != 0)
		return false;
	s += key_len;
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		value = value * 10 + (unsigned long)(*s - '0');
		if (value > max)
			return false;
		s++;
	}
	*p = s;
	*out = (uint32_t)value;
	return true;
}

static int argon2_verify_value(const struct stored_value *v, const char *password,
			       struct xi_error *err)
{
	char encoded[XI_PASSWORD_STORED_MAX + 1];
	const char *p;
	argon2_type type;
	uint32_t m, t, par, version;
	int rc;

	memcpy(encoded, v->body, v->body_len);
	encoded[v->body_len] = '\0';
	if (strncmp(encoded, "$argon2id$", 10) == 0)
		type = Argon2_id, p = encoded + 10;
	else if (strncmp(encoded, "$argon2i$", 9) == 0)
		type = Argon2_i, p = encoded + 9;
	else if (strncmp(encoded, "$argon2d$", 9) == 0)
		type = Argon2_d, p = encoded + 9;
	else
		return xi_error_set(err, XI_ERR_INVALID, "{ARGON2} value names no argon2 variant");
	if (read_param(&p, "v=", 255, &version) && *p == '$')
		p++;
	if (!read_param(&p, "m=", ARGON2_MAX_M, &m) || *p++ != ',' ||
	    !read_param(&p, "t=", ARGON2_MAX_T, &t) || *p++ != ',' ||
	    !read_param(&p, "p=", ARGON2_MAX_P, &par) || *p != '$')
		return xi_error_set(err, XI_ERR_INVALID,
				    "{ARGON2} parameters are malformed or above the limits "
				    "(m <= %u KiB, t <= %u, p <= %u)", ARGON2_MAX_M, ARGON2_MAX_T,
				    ARGON2_MAX_P);
	/* libargon2 compares the computed tag in constant time (argon2_compare). */
	rc = argon2_verify(encoded, password, strlen(password), type);
	OPENSSL_cleanse(encoded, sizeof(encoded));
	if (rc == ARGON2_OK)
		return 1;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return 0;
	if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory verifying an {ARGON2} value");
	return xi_error_set(err, XI_ERR_INVALID, "{ARGON2} value is malformed: %s",
			    argon2_error_message(rc));
}

static void argon2_dummy(const char *password)
{
	uint8_t tag[ARGON2_NEW_HASH];
	static const uint8_t never[ARGON2_NEW_HASH];

	if (argon2id_hash_raw(ARGON2_NEW_T, ARGON2_NEW_M, ARGON2_NEW_P, password, strlen(password),
			      dummy_salt, sizeof(dummy_salt), tag, sizeof(tag)) == ARGON2_OK)
		(void)CRYPTO_memcmp(tag, never, sizeof(tag));
}

static int argon2_hash_value(const char *password, char *out, size_t size, struct xi_error *err)
{
	uint8_t salt[ARGON2_NEW_SALT];
	size_t prefix_len = strlen("{ARGON2}");
	size_t need = argon2_encodedlen(ARGON2_NEW_T, ARGON2_NEW_M, ARGON2_NEW_P, sizeof(salt),
					ARGON2_NEW_HASH, Argon2_id);
	int rc;

	if (size < prefix_len + need)
		return xi_error_set(err, XI_ERR_INVALID, "output buffer too small for {ARGON2}");
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return xi_error_set(err, XI_ERR_INTERNAL, "OpenSSL could not make a random salt");
	memcpy(out, "{ARGON2}", prefix_len);
	rc = argon2_hash(ARGON2_NEW_T, ARGON2_NEW_M, ARGON2_NEW_P, password, strlen(password),
			 salt, sizeof(salt), NULL, ARGON2_NEW_HASH, out + prefix_len,
			 size - prefix_len, Argon2_id, ARGON2_VERSION_13);
	if (rc != ARGON2_OK) {
		out[0] = '\0';
		return xi_error_set(err,
				    rc == ARGON2_MEMORY_ALLOCATION_ERROR ? XI_ERR_NOMEM : XI_ERR_INTERNAL,
				    "argon2 hashing failed: %s", argon2_error_message(rc));
	}
	return (int)strlen(out);
}
#endif

/* --------------------------------------------------------------- dispatch */

static int check_password(const char *password, struct xi_error *err)
{
	if (password == NULL)
		return xi_error_set(err, XI_ERR_INVALID, "no password given");
	if (strnlen(password, XI_PASSWORD_MAX + 1) > XI_PASSWORD_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "password is longer than %d bytes",
				    XI_PASSWORD_MAX);
	return 0;
}

int xi_password_verify(const char *password, const char *stored, size_t stored_len,
		       struct xi_error *err)
{
	struct stored_value v;

	if (check_password(password, err) < 0 || parse_stored(stored, stored_len, &v, err) < 0)
		return -1;
	switch (v.scheme) {
	case XI_PW_SSHA:
	case XI_PW_SSHA256:
	case XI_PW_SSHA512:
		return ssha_verify(&v, password, err);
	case XI_PW_CRYPT_SHA512:
	case XI_PW_CRYPT_YESCRYPT:
	case XI_PW_CRYPT_BCRYPT:
	case XI_PW_CRYPT_OTHER:
		return crypt_verify(&v, password, err);
	case XI_PW_ARGON2:
#ifdef HAVE_ARGON2
		return argon2_verify_value(&v, password, err);
#else
		break;
#endif
	case XI_PW__COUNT:
		break;
	}
	return xi_error_set(err, XI_ERR_UNSUPPORTED, "unsupported password scheme");
}

void xi_password_verify_dummy(enum xi_password_scheme scheme, const char *password)
{
	if (password == NULL || strnlen(password, XI_PASSWORD_MAX + 1) > XI_PASSWORD_MAX)
		password = "";
	switch (scheme) {
	case XI_PW_SSHA:
	case XI_PW_SSHA256:
	case XI_PW_SSHA512:
		ssha_dummy(scheme, password);
		return;
	case XI_PW_CRYPT_SHA512:
	case XI_PW_CRYPT_YESCRYPT:
	case XI_PW_CRYPT_BCRYPT:
	case XI_PW_CRYPT_OTHER:
		crypt_dummy(scheme, password);
		return;
	case XI_PW_ARGON2:
#ifdef HAVE_ARGON2
		argon2_dummy(password);
#endif
		return;
	case XI_PW__COUNT:
		return;
	}
}

int xi_password_hash(enum xi_password_scheme scheme, const char *password,
		     char *out, size_t size, struct xi_error *err)
{
	if (size > 0)
		out[0] = '\0';
	if (check_password(password, err) < 0)
		return -1;
	switch (scheme) {
	case XI_PW_SSHA:
	case XI_PW_SSHA256:
	case XI_PW_SSHA512:
		return ssha_hash(scheme, password, out, size, err);
	case XI_PW_CRYPT_SHA512:
	case XI_PW_CRYPT_YESCRYPT:
	case XI_PW_CRYPT_BCRYPT:
		return crypt_hash(scheme, password, out, size, err);
	case XI_PW_ARGON2:
#ifdef HAVE_ARGON2
		return argon2_hash_value(password, out, size, err);
#else
		return xi_error_set(err, XI_ERR_UNSUPPORTED,
				    "{ARGON2} is not supported: xident was built without libargon2");
#endif
	case XI_PW_CRYPT_OTHER:
	case XI_PW__COUNT:
		break;
	}
	return xi_error_set(err, XI_ERR_UNSUPPORTED, "cannot generate %s values",
			    xi_password_scheme_name(scheme));
}
