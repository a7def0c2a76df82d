/*
 * ldap_escape: every value that goes into an LDAP filter or a DN passes
 * through here, so that a logon name like `*)(uid=*` can never change the
 * shape of a search (RFC 4515) or of a DN (RFC 4514).
 *
 * Both functions write a NUL-terminated result into out (size bytes) and
 * return its length, or -1 with err set (XI_ERR_INVALID) when the escaped
 * value would not fit; out then holds "" so a half-escaped value is never
 * used by mistake.  Bytes >= 0x80 pass through unchanged (UTF-8 is valid in
 * both syntaxes; the logon-name parser has already checked it).
 */
#ifndef XI_LDAP_ESCAPE_H
#define XI_LDAP_ESCAPE_H

#include <stddef.h>

#include "xi_error.h"

/* RFC 4515 assertion value: `*` `(` `)` `\` NUL and the other bytes below
 * 0x20 or equal to 0x7f become \XX (two lower-case hex digits). */
int xi_ldap_filter_escape(const char *in, size_t len, char *out, size_t size,
			  struct xi_error *err);

/* RFC 4514 attribute value: `,` `+` `"` `\` `<` `>` `;` `=` are preceded by
 * a backslash, as are a leading space or `#` and a trailing space; NUL and
 * the other control bytes become \XX. */
int xi_ldap_dn_value_escape(const char *in, size_t len, char *out, size_t size,
			    struct xi_error *err);

#endif
