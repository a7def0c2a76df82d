/* libFuzzer target: LDAP filter and DN value escaping.  Unescaping the output
 * must give back the input exactly, and the filter output must hold no raw
 * metacharacter, whatever the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ldap_escape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	abort();
}

/* Undoes both escapings: \XX and \<special>. */
static size_t unescape(const char *s, uint8_t *out)
{
	size_t n = 0;

	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] != '\\') {
			out[n++] = (uint8_t)s[i];
		} else if (strchr(",+\"\\<>;= #", s[i + 1]) != NULL && s[i + 1] != '\0') {
			out[n++] = (uint8_t)s[++i];
		} else {
			out[n++] = (uint8_t)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
			i += 2;
		}
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap = size * 3 + 1;
	char *out = malloc(cap);
	uint8_t *back = malloc(size + 1);
	struct xi_error err;
	int n;

	if (out == NULL || back == NULL)
		goto done;
	n = xi_ldap_filter_escape((const char *)data, size, out, cap, &err);
	if (n < 0 || (size_t)n != strlen(out) || strpbrk(out, "*()") != NULL)
		abort();
	if (unescape(out, back) != size || memcmp(back, data, size) != 0)
		abort();
	n = xi_ldap_dn_value_escape((const char *)data, size, out, cap, &err);
	if (n < 0 || (size_t)n != strlen(out))
		abort();
	if (unescape(out, back) != size || memcmp(back, data, size) != 0)
		abort();
	/* Too small a buffer is refused, never overrun. */
	if (size > 0 && xi_ldap_dn_value_escape((const char *)data, size, out, size, &err) != -1)
		abort();
done:
	free(out);
	free(back);
	return 0;
}
