/*
 * FETCH plans and responses (standalone/imap_fetch.h) and BODY[section]
 * extraction (mime_section.h), on small messages built here.  The corpus
 * comparison with Dovecot is tests/integration/test_imapmsg_vs_dovecot.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_fetch.h"
#include "imap_parser.h"
#include "mime_section.h"
#include "tap.h"

static struct xi_imap_parser *parser;

/* The FETCH attribute argument of "x FETCH 1 <atts>". */
static const struct xi_imap_arg *atts_of(const char *atts)
{
	static char line[70000];
	xi_imap_parser_free(parser);
	struct xi_imap_limits lim;
	xi_imap_limits_default(&lim);
	lim.max_args = 100000;
	parser = xi_imap_parser_new(&lim);
	snprintf(line, sizeof(line), "x FETCH 1 %s\r\n", atts);
	size_t used;
	if (xi_imap_parser_feed(parser, line, strlen(line), &used) != XI_IMAP_COMMAND)
		return NULL;
	const struct xi_imap_command *c = xi_imap_parser_command(parser);
	return c->args != NULL ? c->args->next : NULL;
}

/* Parses atts; on success renders msg (whole) with the view below.  The
 * result: the response, or "BAD <text>" / "NO <text>" / "ERR <text>". */
static char result[1 << 20];
static const char *fetch_ex(const char *atts, bool uid, const char *msg, unsigned flags, bool seen_now,
			    size_t max)
{
	const struct xi_imap_arg *a = atts_of(atts);
	struct xi_imap_fetch *f;
	struct xi_imap_refusal why;
	if (a == NULL)
		return "PARSER";
	if (xi_imap_fetch_parse(a, uid, NULL, &f, &why) < 0) {
		snprintf(result, sizeof(result), "%s %s", why.kind == XI_IMAP_REFUSE_BAD ? "BAD" : "NO",
			 why.text);
		return result;
	}
	static const char *const kw[] = {"$Junk", "Work"};
	struct xi_imap_msg_view v = {.seq = 7, .uid = 42, .flags = flags, .keywords = kw, .nkeywords = 2,
				     .internal_date = 1700000000, .internal_tz_minutes = -300,
				     .size = 1234, .data = msg, .len = msg ? strlen(msg) : 0};
	struct xi_mime_str out;
	struct xi_error err;
	xi_mime_str_init(&out, max);
	xi_mime_str_add(&out, "", 0);
	if (xi_imap_fetch_render(f, &v, seen_now, &out, &err) < 0)
		snprintf(result, sizeof(result), "ERR %s|%zu", err.message, out.len);
	else
		snprintf(result, sizeof(result), "%s", out.data);
	xi_mime_str_free(&out);
	xi_imap_fetch_free(f);
	return result;
}

static const char *fetch(const char *atts, const char *msg)
{
	return fetch_ex(atts, false, msg, 0, false, 1 << 20);
}

static const char *section(const char *msg, const char *sec)
{
	struct xi_mime *m;
	struct xi_error err;
	struct xi_mime_section s;
	char why[100];
	if (xi_mime_section_parse(sec, strlen(sec), 100, 100, &s, why, sizeof(why)) < 0) {
		xi_mime_section_clear(&s);
		snprintf(result, sizeof(result), "BAD %s", why);
		return result;
	}
	if (xi_mime_parse(msg, strlen(msg), NULL, &m, &err) < 0)
		return "NOMEM";
	struct xi_mime_str out;
	xi_mime_str_init(&out, 1 << 20);
	int rc = xi_mime_section_write(m, &s, &out);
	snprintf(result, sizeof(result), "%s", rc == 0 ? (out.data ? out.data : "") : "OVERFLOW");
	xi_mime_str_free(&out);
	xi_mime_free(m);
	xi_mime_section_clear(&s);
	return result;
}

static const char plain[] = "From: a@b\nSubject: hi\n there\nTo: c@d\n\nline1\nline2\n";

static const char nested[] =
	"From: a@b\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"X\"\r\n"
	"\r\n"
	"preamble\r\n"
	"--X\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"one\r\n"
	"--X\r\n"
	"Content-Type: message/rfc822\r\n"
	"X-Part: two\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"Content-Type: multipart/alternative; boundary=\"Y\"\r\n"
	"\r\n"
	"--Y\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"alt1\r\n"
	"--Y\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<b>alt2</b>\r\n"
	"--Y--\r\n"
	"\r\n"
	"--X\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: simple\r\n"
	"\r\n"
	"simple body\r\n"
	"--X--\r\n"
	"epilogue\r\n";

static void test_sections(void)
{
	tap_is_str(section(plain, ""), "From: a@b\r\nSubject: hi\r\n there\r\nTo: c@d\r\n\r\nline1\r\nline2\r\n",
		   "BODY[] turns bare LF into CRLF");
	tap_is_str(section(plain, "HEADER"), "From: a@b\r\nSubject: hi\r\n there\r\nTo: c@d\r\n\r\n",
		   "HEADER keeps the blank line");
	tap_is_str(section(plain, "TEXT"), "line1\r\nline2\r\n", "TEXT");
	tap_is_str(section(plain, "1"), "line1\r\nline2\r\n", "part 1 of a single-part message is its body");
	tap_is_str(section(plain, "2"), "", "part 2 of a single-part message is empty");
	tap_is_str(section(plain, "1.MIME"), "From: a@b\r\nSubject: hi\r\n there\r\nTo: c@d\r\n\r\n",
		   "1.MIME of a single-part message is its header (Dovecot)");
	tap_is_str(section(plain, "1.1"), "", "1.1 of a text part is empty");
	tap_is_str(section(plain, "1.HEADER"), "", "HEADER of a part without a message is empty");
	tap_is_str(section(plain, "HEADER.FIELDS (SUBJECT)"), "Subject: hi\r\n there\r\n\r\n",
		   "HEADER.FIELDS keeps folded lines whole");
	tap_is_str(section(plain, "header.fields (to FROM)"), "From: a@b\r\nTo: c@d\r\n\r\n",
		   "HEADER.FIELDS: any case, message order");
	tap_is_str(section(plain, "HEADER.FIELDS.NOT (Subject)"), "From: a@b\r\nTo: c@d\r\n\r\n",
		   "HEADER.FIELDS.NOT");
	tap_is_str(section(plain, "HEADER.FIELDS (X-None)"), "\r\n", "no listed field: the blank line");
	tap_is_str(section(plain, "HEADER.FIELDS (\"subject\")"), "Subject: hi\r\n there\r\n\r\n",
		   "a quoted field name");
	tap_is_str(section("Subject: x", "HEADER.FIELDS (Subject)"), "Subject: x\r\n\r\n",
		   "a field cut by the end of the message gets its line end");
	tap_is_str(section("", ""), "", "an empty message");
	tap_is_str(section("", "TEXT"), "", "TEXT of an empty message");
	tap_is_str(section("a\r\rb\n", ""), "a\r\rb\r\n", "a bare CR stays as it is");

	tap_is_str(section(nested, "1"), "one", "multipart: part 1 (the newline before a boundary is the boundary's)");
	tap_is_str(section(nested, "1.MIME"), "Content-Type: text/plain\r\n\r\n", "1.MIME");
	tap_is_str(section(nested, "2.MIME"), "Content-Type: message/rfc822\r\nX-Part: two\r\n\r\n",
		   "2.MIME: the message/rfc822 part's own header");
	tap_is_str(section(nested, "2.HEADER"),
		   "Subject: inner\r\nContent-Type: multipart/alternative; boundary=\"Y\"\r\n\r\n",
		   "2.HEADER: the header of the message inside");
	tap_is_str(section(nested, "2.HEADER.FIELDS (subject)"), "Subject: inner\r\n\r\n",
		   "2.HEADER.FIELDS");
	tap_ok(strncmp(section(nested, "2.TEXT"), "--Y\r\n", 5) == 0, "2.TEXT: the body of the message inside");
	tap_is_str(section(nested, "2.1"), "alt1", "2.1: first part of the inner multipart");
	tap_is_str(section(nested, "2.2"), "<b>alt2</b>", "2.2");
	tap_is_str(section(nested, "2.2.MIME"), "Content-Type: text/html\r\n\r\n", "2.2.MIME");
	tap_is_str(section(nested, "2.3"), "", "2.3 does not exist");
	tap_is_str(section(nested, "3.1"), "simple body", "3.1: the body of a non-multipart inner message");
	tap_is_str(section(nested, "3.TEXT"), "simple body", "3.TEXT");
	tap_is_str(section(nested, "3.1.1"), "", "3.1.1 of a text part is empty");
	tap_is_str(section(nested, "4"), "", "part 4 does not exist");
	tap_is_str(section(nested, "1.2"), "", "below a text part nothing exists");
	tap_is_str(section(nested, "4294967295"), "", "the largest part number");
	tap_ok(strncmp(section(nested, "TEXT"), "preamble\r\n--X\r\n", 15) == 0,
	       "TEXT of a multipart starts with its preamble");

	static const char odd[] = "Subject: a\nX-No-Colon\nsubject : b\nFrom: x@y";
	tap_is_str(section(odd, "HEADER.FIELDS (X-No-Colon)"), "\r\n", "a line without a colon is no field");
	tap_is_str(section(odd, "HEADER.FIELDS (subject)"), "Subject: a\r\nsubject : b\r\n\r\n",
		   "space before the colon: still the field");
	tap_is_str(section(odd, "HEADER.FIELDS.NOT (Subject)"), "X-No-Colon\r\nFrom: x@y",
		   "HEADER.FIELDS.NOT without a blank line in the message: none added (Dovecot)");
	tap_is_str(section(plain, "HEADER.FIELDS.NOT (Subject)"), "From: a@b\r\nTo: c@d\r\n\r\n",
		   "HEADER.FIELDS.NOT passes the message's blank line");
	tap_is_str(section("", "HEADER.FIELDS.NOT (A)"), "", "HEADER.FIELDS.NOT of an empty message");
	tap_is_str(section("", "HEADER.FIELDS (A)"), "\r\n", "HEADER.FIELDS of an empty message");
	{
		static const char nul[] = "S: x\n\na\0b\n";
		struct xi_mime *m;
		struct xi_error err;
		struct xi_mime_section s0;
		char w[10];
		xi_mime_section_parse("TEXT", 4, 10, 10, &s0, w, sizeof(w));
		xi_mime_parse(nul, sizeof(nul) - 1, NULL, &m, &err);
		struct xi_mime_str out;
		xi_mime_str_init(&out, 100);
		xi_mime_section_write(m, &s0, &out);
		tap_ok(out.len == 5 && memcmp(out.data, "a\x80" "b\r\n", 5) == 0, "a NUL is sent as 0x80 (Dovecot)");
		xi_mime_str_free(&out);
		xi_mime_free(m);
		xi_mime_section_clear(&s0);
	}

	static const char *const bad[] = {
		"0", "01", "1.", ".1", "1..2", "MIME", "HEADER.FIELDS", "HEADER.FIELDS ()",
		"HEADER.FIELDS (a", "HEADER.FIELDS(a)", "HEADER.FIELDS (a)x", "HEADERX", "TEXT.1",
		"1.TEXTX", "4294967296", "HEADER.FIELDS (a  b)", "HEADER.FIELDS (\"\")", "1.2.MIMEX",
		"HEADER.FIELDS (a:b)", "x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		tap_ok(strncmp(section(plain, bad[i]), "BAD ", 4) == 0, "section [%s] refused", bad[i]);

	struct xi_mime_section s;
	char why[100];
	tap_ok(xi_mime_section_parse("1.2.3.4", 7, 3, 10, &s, why, sizeof(why)) < 0,
	       "section depth limit");
	xi_mime_section_clear(&s);
	tap_ok(xi_mime_section_parse("HEADER.FIELDS (A B C)", 21, 3, 2, &s, why, sizeof(why)) < 0,
	       "header field count limit");
	xi_mime_section_clear(&s);

	/* a deep message: 200 nested message/rfc822 parts, past Dovecot's 100 */
	size_t cap = 200 * 64 + 64, n = 0;
	char *deep = malloc(cap);
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(deep + n, cap - n, "MIME-Version: 1.0\nContent-Type: message/rfc822\n\n");
	snprintf(deep + n, cap - n, "Subject: bottom\n\nend\n");
	char path[1200];
	n = 0;
	for (int i = 0; i < 150; i++)
		n += (size_t)snprintf(path + n, sizeof(path) - n, i ? ".1" : "1");
	tap_ok(section(deep, path) != NULL, "a 150-level section of a 200-level message: no crash");
	tap_is_str(section(deep, "1.1.1.HEADER"), "MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n",
		   "nested message/rfc822 headers");
	free(deep);
}

static void test_parse(void)
{
	tap_is_str(fetch("FLAGS", NULL), "* 7 FETCH (FLAGS ($Junk Work))\r\n",
		   "FLAGS with keywords, no message needed");
	tap_is_str(fetch_ex("FLAGS", false, NULL, XI_IMAP_FLAG_SEEN | XI_IMAP_FLAG_ANSWERED | XI_IMAP_FLAG_RECENT |
					    XI_IMAP_FLAG_DELETED | XI_IMAP_FLAG_DRAFT | XI_IMAP_FLAG_FLAGGED,
			    false, 1 << 20),
		   "* 7 FETCH (FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Recent $Junk Work))\r\n",
		   "system flags in Dovecot's order, then keywords");
	tap_is_str(fetch("INTERNALDATE", NULL), "* 7 FETCH (INTERNALDATE \"14-Nov-2023 17:13:20 -0500\")\r\n",
		   "INTERNALDATE in its zone");
	tap_is_str(fetch("UID", NULL), "* 7 FETCH (UID 42)\r\n", "UID");
	tap_is_str(fetch("RFC822.SIZE", NULL), "* 7 FETCH (RFC822.SIZE 1234)\r\n", "RFC822.SIZE from the view");
	tap_is_str(fetch("fast", NULL),
		   "* 7 FETCH (FLAGS ($Junk Work) INTERNALDATE \"14-Nov-2023 17:13:20 -0500\" RFC822.SIZE 1234)\r\n",
		   "FAST (any case)");
	tap_ok(strncmp(fetch("ALL", plain), "* 7 FETCH (FLAGS ($Junk Work) INTERNALDATE \"14-Nov-2023 17:13:20 -0500\" RFC822.SIZE 1234 ENVELOPE (NIL \"hi there\"", 80) == 0,
	       "ALL: FLAGS INTERNALDATE RFC822.SIZE ENVELOPE");
	tap_ok(strstr(fetch("FULL", plain), " ENVELOPE (") != NULL && strstr(result, " BODY (\"text\" \"plain\"") != NULL,
	       "FULL adds ENVELOPE and BODY");
	tap_is_str(fetch("(ALL)", plain), "BAD Unknown parameter ALL", "a macro inside a list is refused");
	tap_is_str(fetch("()", plain), "BAD Empty FETCH item list", "an empty list is refused");
	tap_is_str(fetch("BOGUS", plain), "BAD Unknown parameter BOGUS", "an unknown item is refused");
	tap_is_str(fetch("(UID \"FLAGS\")", plain), "BAD Invalid fetch attribute", "a quoted item is refused");
	tap_is_str(fetch("(UID (FLAGS))", plain), "BAD Invalid fetch attribute", "a nested list is refused");
	tap_ok(strncmp(fetch("BODY.PEEK", plain), "BAD ", 4) == 0, "BODY.PEEK without a section is refused");
	tap_ok(strncmp(fetch("BODY.PEEKX[]", plain), "BAD ", 4) == 0, "BODY.PEEKX[] is refused");
	tap_ok(strncmp(fetch("BODY[]<0>", plain), "BAD ", 4) == 0, "a partial without count is refused");
	tap_ok(strncmp(fetch("BODY[]<0.1", plain), "BAD ", 4) == 0, "an unclosed partial is refused");
	tap_ok(strncmp(fetch("BODY[]<a.1>", plain), "BAD ", 4) == 0, "a partial with letters is refused");
	tap_ok(strncmp(fetch("BODY[]<4294967296.1>", plain), "BAD ", 4) == 0, "a partial past 2^32-1 is refused");
	tap_ok(strncmp(fetch("BODY[]<-1.1>", plain), "BAD ", 4) == 0, "a negative partial is refused");
	tap_ok(strncmp(fetch("BODY[]x", plain), "BAD ", 4) == 0, "junk after the section is refused");
	tap_ok(strncmp(fetch("BODY[MIME]", plain), "BAD ", 4) == 0, "MIME of the message is refused");
	tap_ok(strncmp(fetch("RFC822.HEADERS", plain), "BAD ", 4) == 0, "RFC822.HEADERS is refused");

	/* needs and \Seen */
	static const struct {
		const char *atts;
		unsigned needs;
		bool seen;
	} plans[] = {
		{"(FLAGS UID INTERNALDATE RFC822.SIZE)", XI_IMAP_NEED_NOTHING, false},
		{"ENVELOPE", XI_IMAP_NEED_HEADER, false},
		{"RFC822.HEADER", XI_IMAP_NEED_HEADER, false},
		{"BODY.PEEK[HEADER.FIELDS (A)]", XI_IMAP_NEED_HEADER, false},
		{"BODY[HEADER]", XI_IMAP_NEED_HEADER, true},
		{"BODY", XI_IMAP_NEED_MESSAGE, false},
		{"BODYSTRUCTURE", XI_IMAP_NEED_MESSAGE, false},
		{"BODY.PEEK[1]", XI_IMAP_NEED_MESSAGE, false},
		{"BODY[TEXT]", XI_IMAP_NEED_MESSAGE, true},
		{"RFC822", XI_IMAP_NEED_MESSAGE, true},
		{"RFC822.TEXT", XI_IMAP_NEED_MESSAGE, true},
		{"(ENVELOPE BODY.PEEK[])", XI_IMAP_NEED_MESSAGE, false},
		{"(BODY.PEEK[1] BODY[1])", XI_IMAP_NEED_MESSAGE, true},
	};
	for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
		struct xi_imap_fetch *f;
		struct xi_imap_refusal why;
		const struct xi_imap_arg *a = atts_of(plans[i].atts);
		if (a == NULL || xi_imap_fetch_parse(a, false, NULL, &f, &why) < 0) {
			tap_ok(0, "plan %s parses", plans[i].atts);
			continue;
		}
		tap_ok(xi_imap_fetch_needs(f) == plans[i].needs && xi_imap_fetch_sets_seen(f) == plans[i].seen,
		       "%s: needs %u, sets \\Seen %d", plans[i].atts, plans[i].needs, plans[i].seen);
		xi_imap_fetch_free(f);
	}

	/* limits */
	char many[4096];
	size_t n = 0;
	n += (size_t)snprintf(many + n, sizeof(many) - n, "(");
	for (int i = 1; i <= 70; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%sBODY.PEEK[%d]", i > 1 ? " " : "", i);
	snprintf(many + n, sizeof(many) - n, ")");
	tap_is_str(fetch(many, plain), "BAD Too many FETCH items", "more than 64 items are refused");
	tap_ok(strncmp(fetch("(UID UID FLAGS UID FLAGS)", NULL), "* 7 FETCH (UID 42 FLAGS ($Junk Work))\r\n", 40) == 0,
	       "a repeated item is answered once");
	char fields[70000];
	n = (size_t)snprintf(fields, sizeof(fields), "BODY.PEEK[HEADER.FIELDS (");
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(fields + n, sizeof(fields) - n, "%sF%d", i ? " " : "", i);
	snprintf(fields + n, sizeof(fields) - n, ")]");
	tap_ok(strncmp(fetch(fields, plain), "BAD ", 4) == 0, "more than 256 header fields are refused");
	n = (size_t)snprintf(fields, sizeof(fields), "BODY.PEEK[1");
	for (int i = 0; i < 150; i++)
		n += (size_t)snprintf(fields + n, sizeof(fields) - n, ".1");
	snprintf(fields + n, sizeof(fields) - n, "]");
	tap_ok(strncmp(fetch(fields, plain), "BAD ", 4) == 0, "a section deeper than 100 is refused");
}

static void test_render(void)
{
	tap_is_str(fetch("BODY.PEEK[HEADER.FIELDS (Subject)]", plain),
		   "* 7 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {23}\r\nSubject: hi\r\n there\r\n\r\n)\r\n",
		   "a section: upper-cased name, literal");
	tap_is_str(fetch("BODY.PEEK[TEXT]<2.5>", plain), "* 7 FETCH (BODY[TEXT]<2> {5}\r\nne1\r\n)\r\n",
		   "a partial: origin in the name, bytes of the CRLF text");
	tap_is_str(fetch("BODY.PEEK[TEXT]<1000.5>", plain), "* 7 FETCH (BODY[TEXT]<1000> {0}\r\n)\r\n",
		   "a partial past the end is empty");
	tap_is_str(fetch("BODY.PEEK[TEXT]<0.0>", plain), "* 7 FETCH (BODY[TEXT]<0> {0}\r\n)\r\n",
		   "a partial of 0 bytes");
	tap_is_str(fetch("BODY.PEEK[TEXT]<10.4294967295>", plain), "* 7 FETCH (BODY[TEXT]<10> {4}\r\ne2\r\n)\r\n",
		   "a partial count past the end is cut");
	tap_is_str(fetch("BODY.PEEK[TEXT]<5.1>", plain), "* 7 FETCH (BODY[TEXT]<5> {1}\r\n\r)\r\n",
		   "a partial may end between the CR it adds and the LF");
	tap_is_str(fetch("BODY.PEEK[TEXT]<6.3>", plain), "* 7 FETCH (BODY[TEXT]<6> {3}\r\n\nli)\r\n",
		   "... or start there");
	tap_is_str(fetch("BODY.PEEK[HEADER.FIELDS (To)]<3.100>", plain),
		   "* 7 FETCH (BODY[HEADER.FIELDS (TO)]<3> {8}\r\n c@d\r\n\r\n)\r\n",
		   "a partial of HEADER.FIELDS includes the added blank line");
	{
		/* a 1 MB part: a small partial copies only its window */
		size_t big = 1u << 20;
		char *m = malloc(big + 64);
		strcpy(m, "Subject: big\n\n");
		size_t hl = strlen(m);
		memset(m + hl, 'a', big);
		m[hl + big - 1] = 'z';
		m[hl + big] = '\0';
		tap_is_str(fetch_ex("BODY.PEEK[TEXT]<1048575.10>", false, m, 0, false, 4096),
			   "* 7 FETCH (BODY[TEXT]<1048575> {1}\r\nz)\r\n",
			   "a partial of a 1 MB part within a 4 KB response bound");
		free(m);
	}
	tap_is_str(fetch("BODY.PEEK[9]", plain), "* 7 FETCH (BODY[9] {0}\r\n)\r\n", "a missing part: {0}");
	tap_is_str(fetch("RFC822.TEXT", plain), "* 7 FETCH (RFC822.TEXT {14}\r\nline1\r\nline2\r\n)\r\n", "RFC822.TEXT");
	tap_is_str(fetch("RFC822.HEADER", "Subject: x\n\nbody"), "* 7 FETCH (RFC822.HEADER {14}\r\nSubject: x\r\n\r\n)\r\n",
		   "RFC822.HEADER");
	tap_is_str(fetch("RFC822", "Subject: x\n\nbody"), "* 7 FETCH (RFC822 {18}\r\nSubject: x\r\n\r\nbody)\r\n",
		   "RFC822");
	tap_is_str(fetch("(BODY.PEEK[TEXT] UID FLAGS)", plain),
		   "* 7 FETCH (UID 42 FLAGS ($Junk Work) BODY[TEXT] {14}\r\nline1\r\nline2\r\n)\r\n",
		   "index items first, then message items (Dovecot's order)");
	tap_is_str(fetch_ex("(FLAGS BODY.PEEK[TEXT])", true, plain, 0, false, 1 << 20),
		   "* 7 FETCH (UID 42 FLAGS ($Junk Work) BODY[TEXT] {14}\r\nline1\r\nline2\r\n)\r\n",
		   "UID FETCH puts UID first");
	tap_is_str(fetch_ex("BODY[TEXT]", false, plain, XI_IMAP_FLAG_SEEN, true, 1 << 20),
		   "* 7 FETCH (FLAGS (\\Seen $Junk Work) BODY[TEXT] {14}\r\nline1\r\nline2\r\n)\r\n",
		   "\\Seen just set: FLAGS added before the body");
	tap_is_str(fetch_ex("(UID RFC822.TEXT)", true, plain, XI_IMAP_FLAG_SEEN, true, 1 << 20),
		   "* 7 FETCH (UID 42 FLAGS (\\Seen $Junk Work) RFC822.TEXT {14}\r\nline1\r\nline2\r\n)\r\n",
		   "... after the other index items");
	tap_is_str(fetch("(BODY.PEEK[1]<0.2> BODY[1]<0.2>)", plain),
		   "* 7 FETCH (BODY[1]<0> {2}\r\nli BODY[1]<0> {2}\r\nli)\r\n",
		   "a repeated section is answered each time (Dovecot)");
	tap_ok(strncmp(fetch("BODYSTRUCTURE", plain), "* 7 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\")", 60) == 0,
	       "BODYSTRUCTURE from mime.c");

	/* bounds: the whole response must fit out->max; out is left as it was */
	tap_ok(strncmp(fetch_ex("BODY.PEEK[]", false, plain, 0, false, 40), "ERR ", 4) == 0 &&
		       strstr(result, "|0") != NULL,
	       "a response over the bound is refused, nothing appended");
	tap_ok(strncmp(fetch_ex("(UID FLAGS)", false, NULL, 0, false, 20), "ERR ", 4) == 0,
	       "index items over the bound are refused too");
	tap_ok(strncmp(fetch_ex("BODY.PEEK[]", false, NULL, 0, false, 1 << 20), "ERR ", 4) == 0 &&
		       strstr(result, "not loaded") != NULL,
	       "a plan that needs the message, without it: an internal error");

	/* INTERNALDATE: day < 10, zones */
	struct xi_imap_fetch *f;
	struct xi_imap_refusal why;
	xi_imap_fetch_parse(atts_of("INTERNALDATE"), false, NULL, &f, &why);
	static const struct {
		time_t t;
		int tz;
		const char *want;
	} dates[] = {
		{0, 0, "01-Jan-1970 00:00:00 +0000"},
		{1709251200, 60, "01-Mar-2024 01:00:00 +0100"},
		{1709251200, -570, "29-Feb-2024 14:30:00 -0930"},
		{1709251200, 100000, "01-Mar-2024 00:00:00 +0000"},
	};
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		struct xi_imap_msg_view v = {.seq = 1, .internal_date = dates[i].t,
					     .internal_tz_minutes = dates[i].tz};
		struct xi_mime_str out;
		struct xi_error err;
		char want[100];
		xi_mime_str_init(&out, 1000);
		xi_imap_fetch_render(f, &v, false, &out, &err);
		snprintf(want, sizeof(want), "* 1 FETCH (INTERNALDATE \"%s\")\r\n", dates[i].want);
		tap_is_str(out.data, want, "INTERNALDATE %s", dates[i].want);
		xi_mime_str_free(&out);
	}
	xi_imap_fetch_free(f);

	tap_ok(strstr(fetch("ENVELOPE", "Subject: one\nSubject: two\nTo: a@b\nTo: c@d\n\n"),
		      "(NIL \"two\" NIL NIL NIL ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) ") != NULL,
	       "ENVELOPE: the last Subject, every To joined (Dovecot)");

	/* hostile: 8-bit and NUL bytes in a body go out as a literal, exact */
	static const char bin[] = "Subject: b\n\n\x01\xff\x80x";
	tap_is_str(fetch("BODY.PEEK[TEXT]", bin), "* 7 FETCH (BODY[TEXT] {4}\r\n\x01\xff\x80x)\r\n",
		   "8-bit body bytes as they are");
}

int main(void)
{
	test_sections();
	test_parse();
	test_render();
	xi_imap_parser_free(parser);
	return tap_done();
}
