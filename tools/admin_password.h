/*
 * admin_password: passwords for `xident account add` and `passwd`: read
 * without echo from the terminal, or from standard input with
 * --password-stdin, never from the command line; turned into the two values
 * the directory stores (userPassword in a strong scheme and the NT hash).
 */
#ifndef XI_ADMIN_PASSWORD_H
#define XI_ADMIN_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "password_hash.h"
#include "xi_error.h"

/* Reads a password into buf (size > XI_PASSWORD_MAX).  from_stdin: the
 * first line of standard input.  Otherwise standard input must be a
 * terminal: prompts on stderr with echo off, twice when confirm is set.
 * Refuses an empty password, one with a NUL byte or one that is not UTF-8. */
int xi_admin_read_password(bool from_stdin, bool confirm, char *buf, size_t size,
			   struct xi_error *err);

/* userPassword value in scheme and the NT hash as 32 lower-case hex digits. */
int xi_admin_password_values(const char *password, enum xi_password_scheme scheme,
			     char *userpw, size_t userpw_size, char nt_hex[33],
			     struct xi_error *err);

/* Parses --scheme: "ssha512" or "argon2" (only when built with libargon2). */
int xi_admin_parse_scheme(const char *text, enum xi_password_scheme *scheme_r,
			  struct xi_error *err);

#endif
