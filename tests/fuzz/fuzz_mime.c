/* libFuzzer target: the MIME parser (standalone/mime.h) on any message,
 * with small limits.  Besides "no crash, no leak": ENVELOPE, BODY and
 * BODYSTRUCTURE are written or fail only by their bound, their parentheses
 * balance outside strings, and the search helpers run over every part. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parentheses outside quoted strings and literals must balance. */
static void check_balanced(const char *s, size_t n)
{
	long depth = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"') {
			for (i++; i < n && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
		} else if (s[i] == '{') {
			char *end;
			unsigned long len = strtoul(s + i + 1, &end, 10);
			if (*end != '}' || end[1] != '\r' || end[2] != '\n')
				abort();
			i = (size_t)(end + 3 - s) + len - 1;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')') {
			if (--depth < 0)
				abort();
		}
	}
	if (depth != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xi_mime_limits lim = {8, 64, 64 * 1024};
	struct xi_mime *m;
	struct xi_error err;
	if (xi_mime_parse((const char *)data, size, &lim, &m, &err) < 0)
		return 0;
	for (int item = 0; item < 3; item++) {
		struct xi_mime_str s;
		xi_mime_str_init(&s, lim.max_output);
		int r = item == 0 ? xi_mime_envelope(m, &s, &err) : xi_mime_body(m, item == 2, &s, &err);
		if (r == 0)
			check_balanced(s.data, s.len);
		else if (!s.overflow)
			abort();
		xi_mime_str_free(&s);
	}
	if (xi_mime_virtual_size(m) < size)
		abort();
	xi_mime_search_text(m, XI_MIME_SEARCH_TEXT, "needle");
	struct xi_mime_str h;
	xi_mime_str_init(&h, 4096);
	xi_mime_header_value(m, "Subject", &h);
	xi_mime_str_free(&h);
	xi_mime_free(m);
	return 0;
}
