/*
 * password_hash: clear-text passwords against userPassword values, and new
 * userPassword values for `xident passwd`.
 *
 * Schemes (names case-insensitive): {SSHA} {SSHA256} {SSHA512} (salted SHA,
 * base64 of digest || salt), {CRYPT} (crypt(3) through libxcrypt: $6$, $5$,
 * $y$, $gy$, $7$, $2b$/$2y$/$2a$, $1$), {ARGON2} (OpenLDAP's encoding,
 * $argon2i$ / $argon2id$ / $argon2d$; only when built with libargon2).
 * Digests are compared in constant time.  Nothing here logs, and no error
 * message quotes a password or a hash.
 */
#ifndef XI_PASSWORD_HASH_H
#define XI_PASSWORD_HASH_H

#include <stddef.h>

#include "xi_error.h"

/* Longest password and stored value accepted (longer: XI_ERR_INVALID). */
#define XI_PASSWORD_MAX 1024
#define XI_PASSWORD_STORED_MAX 1024

enum xi_password_scheme {
	XI_PW_SSHA,
	XI_PW_SSHA256,
	XI_PW_SSHA512,
	XI_PW_CRYPT_SHA512,    /* {CRYPT}$6$ */
	XI_PW_CRYPT_YESCRYPT,  /* {CRYPT}$y$ */
	XI_PW_CRYPT_BCRYPT,    /* {CRYPT}$2b$ (and $2y$, $2a$) */
	XI_PW_ARGON2,
	XI_PW_CRYPT_OTHER,     /* {CRYPT} with another accepted method */
	XI_PW__COUNT
};
/* The first seven are in the order of the password_dummy_scheme config
 * values; xi_password_scheme_from_name maps those names without relying on it. */

/* "ssha", "ssha256", "ssha512", "crypt-sha512", "crypt-yescrypt",
 * "crypt-bcrypt", "argon2" (any case; the values of password_dummy_scheme).
 * Returns 0, or -1 with XI_ERR_INVALID. */
int xi_password_scheme_from_name(const char *name, enum xi_password_scheme *scheme_r,
				 struct xi_error *err);

/* The scheme of a stored value.  Returns 0, or -1: XI_ERR_INVALID when it has
 * no {SCHEME} prefix or an unknown one, XI_ERR_UNSUPPORTED for {ARGON2}
 * without libargon2. */
int xi_password_scheme_of(const char *stored, size_t stored_len,
			  enum xi_password_scheme *scheme_r, struct xi_error *err);

/* Verifies a NUL-terminated password against one userPassword value.
 * Returns 1 on a match, 0 on a mismatch, -1 when the value cannot be checked
 * (XI_ERR_INVALID: malformed; XI_ERR_UNSUPPORTED: unknown scheme or
 * {ARGON2} without libargon2; XI_ERR_NOMEM). */
int xi_password_verify(const char *password, const char *stored, size_t stored_len,
		       struct xi_error *err);

/* Does the work of verifying against a value of this scheme and always
 * fails, so that an unknown name costs what a wrong password costs.  The
 * cost is that of the values xi_password_hash makes (the default cost of the
 * method for {CRYPT} and {ARGON2}). */
void xi_password_verify_dummy(enum xi_password_scheme scheme, const char *password);

/* A new userPassword value for password, with a fresh random salt, into out
 * (size bytes, XI_PASSWORD_STORED_MAX is always enough).  Returns its length
 * or -1 (XI_ERR_UNSUPPORTED: {ARGON2} without libargon2). */
int xi_password_hash(enum xi_password_scheme scheme, const char *password,
		     char *out, size_t size, struct xi_error *err);

/* "{SSHA512}", "{CRYPT}$y$", ... for messages and `xident passwd --scheme`. */
const char *xi_password_scheme_name(enum xi_password_scheme scheme);

#endif
