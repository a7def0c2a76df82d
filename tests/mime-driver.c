/*
 * mime-driver: what standalone/mime.c answers for one message file, for
 * tests/integration/test_mime_vs_dovecot.py (compared with Dovecot's FETCH).
 *
 *   mime-driver FILE
 * prints four records "NAME LENGTH\n<LENGTH bytes>\n" for ENVELOPE, BODY,
 * BODYSTRUCTURE and RFC822.SIZE (the values may hold literals with CRLF).
 */
#include <stdio.h>
#include <stdlib.h>

#include "mime.h"

static void record(const char *name, const char *data, size_t len)
{
	printf("%s %zu\n", name, len);
	fwrite(data, 1, len, stdout);
	printf("\n");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mime-driver FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (f == NULL) {
		perror(argv[1]);
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
