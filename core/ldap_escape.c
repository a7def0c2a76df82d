#include "ldap_escape.h"

#include <stdbool.h>

static const char hex_digits[] = "0123456789abcdef";

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Appends n bytes to out unless they would leave no room for the NUL. */
static bool put(char *out, size_t size, size_t *pos, const char *bytes, size_t n)
{
	if (*pos + n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		out[(*pos)++] = bytes[i];
	return true;
}

static bool put_hex(char *out, size_t size, size_t *pos, unsigned char c)
{
	char esc[3] = { '\\', hex_digits[c >> 4], hex_digits[c & 0xf] };

	return put(out, size, pos, esc, sizeof(esc));
}

static int too_long(char *out, size_t size, size_t len, const char *what,
		    struct xi_error *err)
{
	if (size > 0)
		out[0] = '\0';
	return xi_error_set(err, XI_ERR_INVALID,
			    "%s of %zu bytes does not fit in %zu bytes once escaped",
			    what, len, size);
}

int xi_ldap_filter_escape(const char *in, size_t len, char *out, size_t size,
			  struct xi_error *err)
{
	size_t pos = 0;
	bool fits = true;

	for (size_t i = 0; i < len && fits; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '*' || c == '(' || c == ')' || c == '\\' || is_control(c))
			fits = put_hex(out, size, &pos, c);
		else
			fits = put(out, size, &pos, &in[i], 1);
	}
	if (!fits || size == 0)
		return too_long(out, size, len, "LDAP filter value", err);
	out[pos] = '\0';
	return (int)pos;
}

static bool dn_special(unsigned char c)
{
	switch (c) {
	case ',': case '+': case '"': case '\\': case '<': case '>': case ';': case '=':
		return true;
	default:
		return false;
	}
}

int xi_ldap_dn_value_escape(const char *in, size_t len, char *out, size_t size,
			    struct xi_error *err)
{
	size_t pos = 0;
	bool fits = true;

	for (size_t i = 0; i < len && fits; i++) {
		unsigned char c = (unsigned char)in[i];
		bool leading = i == 0 && (c == ' ' || c == '#');
		bool trailing = i == len - 1 && c == ' ';

		if (is_control(c)) {
			fits = put_hex(out, size, &pos, c);
		} else if (dn_special(c) || leading || trailing) {
			char esc[2] = { '\\', (char)c };

			fits = put(out, size, &pos, esc, sizeof(esc));
		} else {
			fits = put(out, size, &pos, &in[i], 1);
		}
	}
	if (!fits || size == 0)
		return too_long(out, size, len, "DN attribute value", err);
	out[pos] = '\0';
	return (int)pos;
}
