/* ldap_escape: RFC 4515 filter values and RFC 4514 DN attribute values. */
#include <string.h>

#include "ldap_escape.h"
#include "tap.h"

#define S(lit) lit, sizeof(lit) - 1

/* tap_is_str on an array trips -Waddress; a call hides the array. */
static const char *str(const char *s)
{
	return s;
}

static void filter_is(const char *in, size_t len, const char *want, const char *what)
{
	char out[256];
	struct xi_error err;
	int n = xi_ldap_filter_escape(in, len, out, sizeof(out), &err);

	tap_is_str(str(out), want, "filter: %s", what);
	tap_is_int(n, strlen(want), "filter: %s: length returned", what);
}

static void dn_is(const char *in, size_t len, const char *want, const char *what)
{
	char out[256];
	struct xi_error err;
	int n = xi_ldap_dn_value_escape(in, len, out, sizeof(out), &err);

	tap_is_str(str(out), want, "dn: %s", what);
	tap_is_int(n, strlen(want), "dn: %s: length returned", what);
}


int main(void)
{
	char small[8];
	struct xi_error err;

	filter_is(S("jsmith"), "jsmith", "plain value unchanged");
	filter_is(S("*)(uid=*"), "\\2a\\29\\28uid=\\2a", "injection *)(uid=* neutralised");
	filter_is(S("a\\b"), "a\\5cb", "backslash");
	filter_is(S("a\0b"), "a\\00b", "NUL inside the value");
	filter_is(S("\\00"), "\\5c00", "literal \\00 text is not taken as an escape");
	filter_is(S("x\ny\r\x7f"), "x\\0ay\\0d\\7f", "control bytes and DEL");
	filter_is(S("J\xc3\xb6rg \xe2\x82\xac"), "J\xc3\xb6rg \xe2\x82\xac", "non-ASCII passes through");
	filter_is(S("a,b+c=d;\"<>#"), "a,b+c=d;\"<>#", "DN specials are plain in a filter");
	filter_is(S(""), "", "empty value");

	dn_is(S("jsmith"), "jsmith", "plain value unchanged");
	dn_is(S("Smith, John"), "Smith\\, John", "comma");
	dn_is(S("a+b\"c\\d<e>f;g=h"), "a\\+b\\\"c\\\\d\\<e\\>f\\;g\\=h", "every special");
	dn_is(S(" lead"), "\\ lead", "leading space");
	dn_is(S("#lead"), "\\#lead", "leading #");
	dn_is(S("mid#dle"), "mid#dle", "# not at the start is plain");
	dn_is(S("trail "), "trail\\ ", "trailing space");
	dn_is(S(" "), "\\ ", "a single space is leading (and trailing) once");
	dn_is(S("in side"), "in side", "inner space is plain");
	dn_is(S("a\0b"), "a\\00b", "NUL");
	dn_is(S("a\nb"), "a\\0ab", "newline");
	dn_is(S("*()"), "*()", "filter specials are plain in a DN");
	dn_is(S("J\xc3\xb6rg"), "J\xc3\xb6rg", "non-ASCII passes through");

	/* Bounded output: exactly fitting, one byte short, and expansion. */
	tap_is_int(xi_ldap_filter_escape(S("1234567"), small, sizeof(small), &err), 7,
		   "filter: value that exactly fits");
	tap_is_int(xi_ldap_filter_escape(S("12345678"), small, sizeof(small), &err), -1,
		   "filter: value one byte too long refused");
	tap_is_int(err.status, XI_ERR_INVALID, "filter: refusal is XI_ERR_INVALID");
	tap_is_str(str(small), "", "filter: refused output is empty, never half-escaped");
	tap_is_int(xi_ldap_filter_escape(S("ab**"), small, sizeof(small), &err), -1,
		   "filter: escaping that overflows refused");
	tap_is_int(xi_ldap_dn_value_escape(S("a,b,c"), small, sizeof(small), &err), 7,
		   "dn: escaped value that exactly fits");
	tap_is_int(xi_ldap_dn_value_escape(S("a,b,c,"), small, sizeof(small), &err), -1,
		   "dn: escaping that overflows refused");
	tap_ok(strstr(err.message, "DN") != NULL, "dn: message says what: %s", err.message);
	tap_is_int(xi_ldap_dn_value_escape(S("x"), small, 0, &err), -1, "dn: zero-size buffer refused");
	tap_is_int(xi_ldap_filter_escape(S("x"), small, 1, NULL), -1, "filter: NULL err tolerated");
	return tap_done();
}
