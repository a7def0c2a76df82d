/*
 * unicode: the few Unicode operations logons need, with bounded inputs.
 *
 * Logon names and aliases are UTF-8; NTLM carries UTF-16LE; Exchange matched
 * names case-insensitively, and so do we, for non-ASCII letters too (simple
 * case mapping, as LDAP's caseIgnoreMatch does).  No global state: the case
 * tables come from glibc's C.UTF-8 locale object, created once per process
 * behind pthread_once and never changed.
 */
#ifndef XI_UNICODE_H
#define XI_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xi_error.h"

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) and holds no NUL or C0/C1 control character. */
bool xi_utf8_valid_text(const char *s, size_t len);

/* UTF-16LE (len bytes, must be even) -> NUL-terminated UTF-8 in out (size
 * bytes).  Unpaired surrogates and NULs are refused.  Returns the UTF-8 length
 * or -1 with err set. */
int xi_utf16le_to_utf8(const uint8_t *in, size_t len, char *out, size_t size,
		       struct xi_error *err);

/* UTF-8 -> UTF-16LE into out (size bytes).  Returns bytes written or -1. */
int xi_utf8_to_utf16le(const char *in, size_t len, uint8_t *out, size_t size,
		       struct xi_error *err);

/* Upper-cases (NTLMv2's NTOWFv2 needs it) or lower-cases (case folding for
 * comparisons) valid UTF-8 into out.  Returns the length or -1. */
int xi_utf8_upper(const char *in, char *out, size_t size, struct xi_error *err);
int xi_utf8_lower(const char *in, char *out, size_t size, struct xi_error *err);

/* Case-insensitive equality of two valid UTF-8 strings ("Jörg" == "JÖRG"). */
bool xi_utf8_caseeq(const char *a, const char *b);

#endif
