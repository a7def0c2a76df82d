/*
 * test_mime: standalone/mime.h beyond the Dovecot corpus comparison
 * (tests/integration/test_mime_vs_dovecot.py): bounded depth and part
 * count on hostile nesting, output bounds, virtual size, and the SEARCH
 * side: RFC 2047 decoding and body text through QP/base64 and charsets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "tap.h"

static char *body_of(const char *msg, bool extended)
{
	struct xi_mime *m;
	struct xi_error err;
	static char out[8192];
	if (xi_mime_parse(msg, strlen(msg), NULL, &m, &err) < 0)
		return NULL;
	struct xi_mime_str s;
	xi_mime_str_init(&s, sizeof(out) - 1);
	int r = xi_mime_body(m, extended, &s, &err);
	snprintf(out, sizeof(out), "%s", r == 0 ? s.data : "ERR");
	xi_mime_str_free(&s);
	xi_mime_free(m);
	return out;
}

static void test_structure(void)
{
	tap_is_str(body_of("Subject: x\n\nhello\n", false),
		   "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 7 1)",
		   "no MIME headers: text/plain us-ascii, LF counted as CRLF");
	tap_is_str(body_of("Content-Transfer-Encoding: base64\n\nAAAA\n", false),
		   "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)",
		   "Content-* without MIME-Version or Content-Type ignored");
	tap_is_str(body_of("MIME-Version: 1.0\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\nAAAA", true),
		   "(\"image\" \"png\" NIL NIL NIL \"base64\" 4 NIL NIL NIL NIL)", "non-text: no line count, NIL params");
	tap_is_str(body_of("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b--\n", false),
		   "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0)"
		   "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 0) \"mixed\")",
		   "the newline before a boundary belongs to the boundary");
	tap_is_str(body_of("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; "
			   "boundary=c\n\n--c\n\ninner\n--b\n\nouter\n--b--\n", false),
		   "(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"alternative\")"
		   "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"mixed\")",
		   "an outer boundary closes an inner multipart without its end boundary");
	tap_is_str(body_of("Content-Type: multipart/mixed; boundary=b\n\n--b--\n", false),
		   "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
		   "multipart without parts: Dovecot's empty text/plain");
}

static void test_hostile(void)
{
	/* 5000 nested multiparts, each with its own boundary */
	size_t cap = 5000 * 80 + 100, n = 0;
	char *msg = malloc(cap);
	for (int i = 0; i < 5000 && n + 80 < cap; i++)
		n += (size_t)snprintf(msg + n, cap - n, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	msg[n] = '\0';
	struct xi_mime_limits lim = {10, 10000, 1 << 20};
	struct xi_mime *m;
	struct xi_error err;
	tap_is_int(xi_mime_parse(msg, n, &lim, &m, &err), 0, "5000 nested multiparts parse with depth limit 10");
	struct xi_mime_str s;
	xi_mime_str_init(&s, 1 << 20);
	tap_is_int(xi_mime_body(m, true, &s, &err), 0, "and are written");
	int depth = 0, maxd = 0;
	for (size_t i = 0; i < s.len; i++) {
		depth += s.data[i] == '(' ? 1 : s.data[i] == ')' ? -1 : 0;
		if (depth > maxd)
			maxd = depth;
	}
	tap_ok(maxd <= 2 * 10 + 4, "output depth bounded (%d)", maxd);
	xi_mime_str_free(&s);
	xi_mime_free(m);

	lim = (struct xi_mime_limits){100, 50, 1 << 20};
	n = (size_t)snprintf(msg, cap, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(msg + n, cap - n, "--b\n\np%d\n", i);
	tap_is_int(xi_mime_parse(msg, n, &lim, &m, &err), 0, "2000 parts with a 50-part limit");
	xi_mime_str_init(&s, 1 << 20);
	xi_mime_body(m, false, &s, &err);
	int parts = 0;
	for (const char *q = s.data; (q = strstr(q, "\"plain\"")) != NULL; q++)
		parts++;
	tap_ok(parts < 50, "at most the limit of parts written (%d)", parts);
	xi_mime_str_free(&s);

	xi_mime_str_init(&s, 16);
	tap_is_int(xi_mime_body(m, true, &s, &err), -1, "output over its bound is an error");
	tap_ok(strstr(err.message, "BODYSTRUCTURE") != NULL, "named: %s", err.message);
	xi_mime_str_free(&s);
	xi_mime_free(m);
	free(msg);

	/* a parameter name or value too long to keep is dropped, not a crash */
	size_t big = 200000;
	char *longp = malloc(big + 200);
	n = (size_t)snprintf(longp, 200, "MIME-Version: 1.0\nContent-Type: text/plain; ");
	memset(longp + n, 'k', 70000);
	n += 70000;
	n += (size_t)snprintf(longp + n, 100, "=v; charset=utf-8\n\nbody\n");
	tap_is_str(body_of(longp, false), "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 6 1)",
		   "70,000-byte parameter name dropped, the rest kept");
	free(longp);

	tap_is_int(xi_mime_parse("", 0, NULL, &m, &err), 0, "empty message");
	tap_is_int(xi_mime_virtual_size(m), 0, "size 0");
	xi_mime_free(m);
	tap_is_int(xi_mime_parse("a\r\nb\nc", 7, NULL, &m, &err), 0, "mixed line ends");
	tap_is_int(xi_mime_virtual_size(m), 8, "bare LF counted as CRLF");
	xi_mime_free(m);
}

static const char *decode(const char *v)
{
	static char out[512];
	struct xi_mime_str s;
	xi_mime_str_init(&s, 500);
	xi_mime_decode_header(v, strlen(v), &s);
	snprintf(out, sizeof(out), "%s", s.data ? s.data : "");
	xi_mime_str_free(&s);
	return out;
}

static void test_search(void)
{
	tap_is_str(decode("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?="), "Patrik F\xc3\xa4ltstr\xc3\xb6m", "Q latin-1");
	tap_is_str(decode("=?utf-8?B?0JLQu9Cw0LTQuNC80LjRgA==?="), "\xd0\x92\xd0\xbb\xd0\xb0\xd0\xb4\xd0\xb8\xd0\xbc\xd0\xb8\xd1\x80",
		   "B utf-8");
	tap_is_str(decode("=?windows-1252?Q?=93q=94_=80?="), "\xe2\x80\x9cq\xe2\x80\x9d \xe2\x82\xac", "windows-1252");
	tap_is_str(decode("=?utf-8?q?a?= \n =?utf-8?q?b?= c"), "ab c", "whitespace between encoded words dropped, folding undone");
	tap_is_str(decode("=?x-unknown?q?a?= b"), "=?x-unknown?q?a?= b", "unknown charset kept as written");
	tap_is_str(decode("=?utf-8?q?broken"), "=?utf-8?q?broken", "unterminated word kept");
	tap_is_str(decode("caf\xe9"), "caf\xc3\xa9", "8-bit non-UTF-8 read as Latin-1");

	const char *msg =
		"From: =?utf-8?q?Ren=C3=A9?= <r@example.com>\n"
		"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/mixed; boundary=x\n\n"
		"--x\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
		"Caf=E9 na=\nive\n"
		"--x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
		"w5xiZXJyYXNjaHVuZw==\n"
		"--x--\n";
	struct xi_mime *m;
	struct xi_error err;
	xi_mime_parse(msg, strlen(msg), NULL, &m, &err);
	tap_is_int(xi_mime_search_text(m, XI_MIME_SEARCH_HEADERS, "gr\xc3\xbc\xc3\x9f"), 1, "header: decoded subject");
	tap_is_int(xi_mime_search_text(m, XI_MIME_SEARCH_HEADERS, "REN\xc3\xa9"), 1, "header: ASCII case-insensitive");
	tap_is_int(xi_mime_search_text(m, XI_MIME_SEARCH_BODY, "caf\xc3\xa9 naive"), 1, "body: QP with soft break, latin-1");
	tap_is_int(xi_mime_search_text(m, XI_MIME_SEARCH_BODY, "\xc3\x9c" "berraschung"), 1, "body: base64 utf-8");
	tap_is_int(xi_mime_search_text(m, XI_MIME_SEARCH_BODY, "Gr\xc3\xbc"), 0, "body search skips headers");
	tap_is_int(xi_mime_search_text(m, XI_MIME_SEARCH_HEADERS, "naive"), 0, "header search skips the body");
	tap_is_int(xi_mime_search_text(m, XI_MIME_SEARCH_TEXT, "naive"), 1, "TEXT covers both");
	tap_is_int(xi_mime_search_text(m, XI_MIME_SEARCH_TEXT, "absent"), 0, "not found");
	struct xi_mime_str s;
	xi_mime_str_init(&s, 100);
	tap_is_int(xi_mime_header_value(m, "subject", &s), 0, "header value by name");
	tap_is_str(s.data, "Gr\xc3\xbc\xc3\x9f" "e", "decoded");
	xi_mime_str_free(&s);
	xi_mime_str_init(&s, 100);
	tap_is_int(xi_mime_header_value(m, "X-None", &s), -1, "absent header");
	xi_mime_str_free(&s);
	xi_mime_free(m);
}

int main(void)
{
	test_structure();
	test_hostile();
	test_search();
	return tap_done();
}
