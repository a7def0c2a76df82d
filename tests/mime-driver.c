/*
 * mime-driver: what standalone/mime.c answers for one message file, for
 * tests/integration/test_mime_vs_dovecot.py (compared with Dovecot's FETCH).
 *
 *   mime-driver FILE
 *   mime-driver --search text|body|headers NEEDLE FILE   prints 1 or 0
 * The first prints four records "NAME LENGTH\n<LENGTH bytes>\n" for ENVELOPE, BODY,
 * BODYSTRUCTURE and RFC822.SIZE (the values may hold literals with CRLF).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

static void record(const char *name, const char *data, size_t len)
{
	printf("%s %zu\n", name, len);
	fwrite(data, 1, len, stdout);
	printf("\n");
}

int main(int argc, char **argv)
{
	const char *search = NULL, *needle = NULL, *path;
	if (argc == 5 && strcmp(argv[1], "--search") == 0) {
		search = argv[2];
		needle = argv[3];
		path = argv[4];
	} else if (argc == 2) {
		path = argv[1];
	} else {
		fprintf(stderr, "usage: mime-driver [--search text|body|headers NEEDLE] FILE\n");
		return 2;
	}
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return 1;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *p = realloc(buf, cap * 2);
			if (p == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	fclose(f);
	if (buf == NULL)
		return 1;

	struct xi_error err;
	struct xi_mime *m;
	if (xi_mime_parse(buf, len, NULL, &m, &err) < 0) {
		fprintf(stderr, "mime-driver: %s\n", err.message);
		return 1;
	}
	if (search != NULL) {
		enum xi_mime_search_where w = strcmp(search, "body") == 0      ? XI_MIME_SEARCH_BODY
					      : strcmp(search, "headers") == 0 ? XI_MIME_SEARCH_HEADERS
									     : XI_MIME_SEARCH_TEXT;
		int r = xi_mime_search_text(m, w, needle);
		printf("%d\n", r);
		xi_mime_free(m);
		free(buf);
		return r < 0;
	}
	struct xi_mime_str s;
	int rc = 0;
	xi_mime_str_init(&s, XI_MIME_DEFAULT_MAX_OUTPUT);
	if (xi_mime_envelope(m, &s, &err) == 0)
		record("ENVELOPE", s.data, s.len);
	else
		rc = 1;
	xi_mime_str_free(&s);
	xi_mime_str_init(&s, XI_MIME_DEFAULT_MAX_OUTPUT);
	if (xi_mime_body(m, false, &s, &err) == 0)
		record("BODY", s.data, s.len);
	else
		rc = 1;
	xi_mime_str_free(&s);
	xi_mime_str_init(&s, XI_MIME_DEFAULT_MAX_OUTPUT);
	if (xi_mime_body(m, true, &s, &err) == 0)
		record("BODYSTRUCTURE", s.data, s.len);
	else
		rc = 1;
	xi_mime_str_free(&s);
	char size[32];
	int k = snprintf(size, sizeof(size), "%llu", (unsigned long long)xi_mime_virtual_size(m));
	record("RFC822.SIZE", size, (size_t)k);
	xi_mime_free(m);
	free(buf);
	return rc;
}
