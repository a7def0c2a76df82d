/*
 * SEARCH criteria (standalone/imap_search.h): every key, combinations,
 * refusals and limits, on message views built here.  The corpus comparison
 * with Dovecot is tests/integration/test_imapmsg_vs_dovecot.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "imap_search.h"
#include "tap.h"

static struct xi_imap_parser *parser;
static char refusal[300];

static const struct xi_imap_arg *args_of(const char *criteria)
{
	static char line[200000];
	xi_imap_parser_free(parser);
	struct xi_imap_limits lim;
	xi_imap_limits_default(&lim);
	lim.max_args = 100000;
	lim.max_depth = 200;
	lim.max_line = sizeof(line);
	parser = xi_imap_parser_new(&lim);
	snprintf(line, sizeof(line), "x SEARCH %s\r\n", criteria);
	size_t used, off = 0, len = strlen(line);
	while (off < len) {
		enum xi_imap_feed r = xi_imap_parser_feed(parser, line + off, len - off, &used);
		off += used;
		if (r == XI_IMAP_COMMAND)
			return xi_imap_parser_command(parser)->args;
		if (r == XI_IMAP_ERROR)
			return NULL;
	}
	return NULL;
}

static struct xi_imap_search *parse(const char *criteria, const struct xi_imap_search_limits *lim)
{
	const struct xi_imap_arg *a = args_of(criteria);
	struct xi_imap_search *s = NULL;
	struct xi_imap_refusal why;
	refusal[0] = '\0';
	if (a == NULL) {
		snprintf(refusal, sizeof(refusal), "PARSER");
		return NULL;
	}
	if (xi_imap_search_parse(a, lim, &s, &why) < 0) {
		snprintf(refusal, sizeof(refusal), "%s %s", why.kind == XI_IMAP_REFUSE_BAD ? "BAD" : "NO",
			 why.text);
		return NULL;
	}
	return s;
}

static const char msg_a[] =
	"Date: Tue, 4 Mar 2025 08:00:00 +0000\n"
	"From: \"Carol Jones\" <carol@example.net>\n"
	"To: Dave <dave@example.com>, eve@example.com\n"
	"Cc: =?utf-8?q?R=C3=A9mi?= <remi@example.fr>\n"
	"Subject: =?iso-8859-1?q?Caf=E9?= report\n"
	"X-Empty:\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=b\n"
	"\n"
	"--b\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"Gr=C3=BC=C3=9Fe aus K=C3=B6ln, soft=\n"
	"break\n"
	"--b\n"
	"Content-Type: text/plain\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"aGlkZGVuIGluIGJhc2U2NA==\n"
	"--b\n"
	"Content-Type: application/octet-stream\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"YXR0YWNobWVudCBzZWNyZXQ=\n"
	"--b--\n";

static const char msg_b[] = "Subject: plain\nFrom: alice@example.org\n\nNothing here.\n";

static struct xi_imap_msg_view view_a(void)
{
	static const char *const kw[] = {"$Junk", "Work"};
	struct xi_imap_msg_view v = {.seq = 3, .uid = 30, .flags = XI_IMAP_FLAG_SEEN | XI_IMAP_FLAG_FLAGGED,
				     .keywords = kw, .nkeywords = 2,
				     .internal_date = 1741046400 /* 2025-03-04 00:00:00 UTC */,
				     .internal_tz_minutes = 0, .size = 900, .data = msg_a,
				     .len = sizeof(msg_a) - 1};
	return v;
}

static struct xi_imap_msg_view view_b(void)
{
	struct xi_imap_msg_view v = {.seq = 5, .uid = 77, .flags = XI_IMAP_FLAG_RECENT,
				     .internal_date = 1741046399 /* 2025-03-03 23:59:59 UTC */,
				     .internal_tz_minutes = 0, .size = 50, .data = msg_b,
				     .len = sizeof(msg_b) - 1};
	return v;
}

static const struct xi_imap_search_ctx ctx = {5, 77};

/* "ab": which of a and b match ("a", "b", "ab", "-"), or "BAD ..."/"NO ..." */
static char outcome[600];
static const char *which(const char *criteria)
{
	struct xi_imap_search *s = parse(criteria, NULL);
	if (s == NULL)
		return refusal;
	struct xi_imap_msg_view a = view_a(), b = view_b();
	struct xi_error err;
	int ra = xi_imap_search_match(s, &ctx, &a, &err);
	int rb = xi_imap_search_match(s, &ctx, &b, &err);
	if (ra < 0 || rb < 0)
		snprintf(outcome, sizeof(outcome), "ERR %s", err.message);
	else
		snprintf(outcome, sizeof(outcome), "%s%s%s", ra ? "a" : "", rb ? "b" : "", !ra && !rb ? "-" : "");
	xi_imap_search_free(s);
	return outcome;
}

static void test_keys(void)
{
	static const struct {
		const char *criteria, *want;
	} cases[] = {
		{"ALL", "ab"},
		{"SEEN", "a"}, {"UNSEEN", "b"}, {"FLAGGED", "a"}, {"UNFLAGGED", "b"},
		{"ANSWERED", "-"}, {"UNANSWERED", "ab"}, {"DELETED", "-"}, {"UNDELETED", "ab"},
		{"DRAFT", "-"}, {"UNDRAFT", "ab"}, {"RECENT", "b"}, {"NEW", "b"}, {"OLD", "a"},
		{"seen", "a"},
		{"KEYWORD $Junk", "a"}, {"KEYWORD work", "a"}, {"KEYWORD Other", "-"},
		{"UNKEYWORD $Junk", "b"}, {"UNKEYWORD Other", "ab"},
		{"3", "a"}, {"5", "b"}, {"1:4", "a"}, {"*", "b"}, {"4:*", "b"}, {"1,5", "b"}, {"2:3,5", "ab"},
		{"5:*", "b"}, {"6:*", "-"}, {"*:6", "-"}, {"*:*", "b"}, {"4:9", "b"}, {"9:3", "ab"}, {"6", "-"},
		{"UID 30", "a"}, {"UID *", "b"}, {"UID 31:76", "-"}, {"UID 1:30,77", "ab"}, {"UID 100:*", "b"},
		{"BEFORE 4-Mar-2025", "b"}, {"ON 4-Mar-2025", "a"}, {"ON 3-Mar-2025", "b"},
		{"SINCE 4-Mar-2025", "a"}, {"SINCE 3-Mar-2025", "ab"}, {"BEFORE 3-Mar-2025", "-"},
		{"SINCE \"4-mar-2025\"", "a"}, {"ON 04-Mar-2025", "a"},
		{"BEFORE 31-Feb-2025", "ab"}, {"SINCE 32-Jan-2025", "-"}, {"ON 0-Mar-2025", "-"},
		{"SENTON 4-Mar-2025", "a"}, {"SENTBEFORE 4-Mar-2025", "b"}, {"SENTSINCE 5-Mar-2025", "-"},
		{"SENTSINCE 1-Jan-1970", "ab"},
		{"LARGER 50", "a"}, {"LARGER 49", "ab"}, {"SMALLER 50", "-"}, {"SMALLER 51", "b"},
		{"LARGER 18446744073709551615", "-"},
		{"FROM carol", "a"}, {"FROM \"Carol Jones\"", "a"}, {"FROM \"\\\"Carol Jones\\\" <carol\"", "a"},
		{"FROM alice", "b"}, {"FROM example", "ab"}, {"TO eve", "a"}, {"TO \"<eve@\"", "a"},
		{"CC remi", "a"}, {"CC {5+}\r\nR\xc3\xa9mi", "a"}, {"BCC x", "-"}, {"BCC \"\"", "-"},
		{"SUBJECT {5+}\r\ncaf\xc3\xa9", "a"}, {"SUBJECT {5+}\r\nCAF\xc3\x89", "a"}, {"SUBJECT PLAIN", "b"},
		{"SUBJECT \"\"", "ab"}, {"SUBJECT NIL", "-"}, {"TEXT nil", "-"}, {"HEADER X-Empty \"\"", "a"}, {"HEADER x-empty \"\"", "a"},
		{"HEADER Nope \"\"", "-"}, {"HEADER Content-Type mixed", "a"},
		{"HEADER Subject \"=?iso\"", "-"},
		{"BODY {7+}\r\nGr\xc3\xbc\xc3\x9f" "e", "a"}, {"BODY {5+}\r\nk\xc3\x96ln", "a"},
		{"BODY softbreak", "a"}, {"BODY \"hidden in base64\"", "a"}, {"BODY secret", "-"},
		{"BODY \"\"", "ab"}, {"BODY nothing", "b"}, {"BODY Subject", "-"},
		{"TEXT Subject", "ab"}, {"TEXT nothing", "b"}, {"TEXT \"Content-Transfer-Encoding\"", "a"},
		{"CHARSET UTF-8 BODY {5+}\r\nK\xc3\xb6ln", "a"}, {"CHARSET us-ascii SEEN", "a"},
		{"CHARSET ISO-8859-1 BODY {4+}\r\nK\xf6ln", "a"},
		{"NOT SEEN", "b"}, {"NOT NOT SEEN", "a"}, {"OR SEEN RECENT", "ab"}, {"OR DRAFT DELETED", "-"},
		{"SEEN FLAGGED", "a"}, {"SEEN RECENT", "-"}, {"(SEEN FLAGGED)", "a"}, {"((SEEN) (FLAGGED))", "a"},
		{"OR (SEEN DRAFT) (RECENT UID 77)", "b"}, {"NOT (SEEN FLAGGED)", "b"},
		{"OR NOT SEEN NOT FLAGGED", "b"}, {"ALL ALL ALL", "ab"},
		{"UID 30 OR FROM carol SUBJECT plain", "a"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tap_is_str(which(cases[i].criteria), cases[i].want, "SEARCH %s", cases[i].criteria);
}

static void test_refusals(void)
{
	static const char *const bad[] = {
		"", "FOO", "NOT", "OR SEEN", "OR", "()", "(SEEN ())", "KEYWORD", "KEYWORD (a)",
		"UNKEYWORD", "LARGER", "LARGER x", "LARGER -1", "SMALLER 1.5", "LARGER 99999999999999999999",
		"BEFORE", "BEFORE 4-Mar-25", "BEFORE 4-Foo-2025", "BEFORE 4-Mar-2025x", "BEFORE 123-Mar-2025",
		"BEFORE Mar-4-2025", "SINCE (4-Mar-2025)", "ON \"\"", "SENTON 4/3/2025",
		"UID", "UID x", "UID 0", "UID 1:0", "UID (1)", "0", "1:", "1,,2", "4294967296",
		"HEADER", "HEADER Subject", "HEADER (a) b", "FROM", "BODY", "TEXT (x)",
		"CHARSET", "CHARSET (x) ALL", "CHARSET UTF-8", "\"SEEN\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = which(bad[i]);
		tap_ok(strncmp(r, "BAD ", 4) == 0 || strcmp(r, "PARSER") == 0, "SEARCH %s refused (BAD): %s", bad[i], r);
	}
	tap_is_str(which("CHARSET X-NOPE ALL"), "NO [BADCHARSET (US-ASCII UTF-8)] Unknown charset",
		   "an unknown charset: NO [BADCHARSET]");
	tap_is_str(which("CHARSET UTF-8//TRANSLIT ALL"), "NO [BADCHARSET (US-ASCII UTF-8)] Unknown charset",
		   "iconv options are not charset names");
	tap_ok(strncmp(which("CHARSET UTF-16 BODY x"), "NO ", 3) == 0, "a string not valid in its charset: NO");
}

static void test_limits(void)
{
	/* a 10,000-item sequence set that does not merge: over 4096 ranges */
	size_t cap = 200000, n = 0;
	char *big = malloc(cap);
	for (int i = 0; i < 10000; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s%d", i ? "," : "", 2 * i + 1);
	tap_ok(strncmp(which(big), "BAD ", 4) == 0, "10,000 separate numbers: refused");
	n = 0;
	for (int i = 0; i < 10000; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s%d", i ? "," : "", i + 1);
	tap_is_str(which(big), "ab", "10,000 consecutive numbers merge into one range");
	n = 0;
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s", "NOT ");
	snprintf(big + n, cap - n, "SEEN");
	tap_ok(strncmp(which(big), "BAD ", 4) == 0, "2000 nested NOTs: refused (depth)");
	n = 0;
	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s", "NOT ");
	snprintf(big + n, cap - n, "SEEN");
	tap_is_str(which(big), "a", "30 nested NOTs are fine");
	n = 0;
	for (int i = 0; i < 100; i++)
		big[n++] = '(';
	n += (size_t)snprintf(big + n, cap - n, "SEEN");
	for (int i = 0; i < 100; i++)
		big[n++] = ')';
	big[n] = '\0';
	tap_ok(strncmp(which(big), "BAD ", 4) == 0, "100 nested parentheses: refused");
	n = 0;
	for (int i = 0; i < 2000; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s", i ? " SEEN" : "SEEN");
	tap_ok(strncmp(which(big), "BAD Too many", 12) == 0, "2000 keys: refused");
	n = 0;
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s", "OR SEEN ");
	snprintf(big + n, cap - n, "SEEN");
	tap_ok(strncmp(which(big), "BAD ", 4) == 0, "1000 chained ORs: refused");
	memset(big, 'x', 9000);
	memcpy(big, "BODY ", 5);
	big[9000] = '\0';
	tap_ok(strncmp(which(big), "BAD ", 4) == 0, "a 9000-byte search string: refused");
	free(big);

	struct xi_imap_search_limits lim = {3, 2, 2, 10};
	struct xi_imap_search *s = parse("SEEN FLAGGED RECENT", &lim);
	tap_ok(s == NULL, "max_keys 3 (the root counts): 3 keys refused");
	xi_imap_search_free(s);
	s = parse("1,3,5", &lim);
	tap_ok(s == NULL, "max_ranges 2: 3 ranges refused");
	xi_imap_search_free(s);
	s = parse("NOT NOT SEEN", &lim);
	tap_ok(s == NULL, "max_depth 2: NOT NOT refused");
	xi_imap_search_free(s);
	s = parse("SUBJECT 01234567890", &lim);
	tap_ok(s == NULL, "max_string 10: 11 bytes refused");
	xi_imap_search_free(s);
	s = parse("SEEN FLAGGED", &lim);
	tap_ok(s != NULL, "within the custom limits");
	xi_imap_search_free(s);
}

static void test_needs(void)
{
	static const struct {
		const char *criteria;
		unsigned needs;
	} cases[] = {
		{"SEEN UID 1:* LARGER 5 SINCE 1-Jan-2020 KEYWORD x 1:*", XI_IMAP_NEED_NOTHING},
		{"SUBJECT x", XI_IMAP_NEED_HEADER},
		{"NOT HEADER a b", XI_IMAP_NEED_HEADER},
		{"SENTON 1-Jan-2020", XI_IMAP_NEED_HEADER},
		{"OR SEEN BODY x", XI_IMAP_NEED_MESSAGE},
		{"FROM a TEXT x", XI_IMAP_NEED_MESSAGE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct xi_imap_search *s = parse(cases[i].criteria, NULL);
		tap_ok(s != NULL && xi_imap_search_needs(s) == cases[i].needs, "%s needs %u", cases[i].criteria,
		       cases[i].needs);
		xi_imap_search_free(s);
	}
	/* header-only data is enough for header keys */
	struct xi_imap_search *s = parse("SUBJECT plain", NULL);
	struct xi_imap_msg_view v = view_b();
	struct xi_error err;
	v.len = 40; /* the header only */
	tap_is_int(xi_imap_search_match(s, &ctx, &v, &err), 1, "a header key on the header alone");
	v.data = NULL;
	tap_is_int(xi_imap_search_match(s, &ctx, &v, &err), -1, "without the data: an error");
	tap_is_int(err.status, XI_ERR_INTERNAL, "... internal (the caller skipped xi_imap_search_needs)");
	xi_imap_search_free(s);
	s = parse("SEEN", NULL);
	tap_is_int(xi_imap_search_match(s, &ctx, &v, &err), 0, "a flag key needs no data");
	xi_imap_search_free(s);

	/* "*" follows the mailbox: an empty mailbox matches nothing */
	s = parse("UID *", NULL);
	struct xi_imap_search_ctx empty = {0, 0};
	v = view_b();
	tap_is_int(xi_imap_search_match(s, &empty, &v, &err), 0, "UID * in an empty mailbox");
	struct xi_imap_search_ctx grown = {9, 90};
	tap_is_int(xi_imap_search_match(s, &grown, &v, &err), 0, "UID * after new mail is the new largest");
	xi_imap_search_free(s);

	/* hostile message bytes */
	static const char hostile[] = "Subject: =?utf-8?b?////?= =?x?q?\xff?=\nDate: , 99 Foo 99999\n\n\x00\xff";
	s = parse("OR SUBJECT zzz OR SENTON 1-Jan-1970 BODY zzz", NULL);
	v = view_b();
	v.data = hostile;
	v.len = sizeof(hostile) - 1;
	tap_is_int(xi_imap_search_match(s, &ctx, &v, &err), 1, "a broken Date: counts as 1-Jan-1970 (Dovecot)");
	xi_imap_search_free(s);
}

int main(void)
{
	test_keys();
	test_refusals();
	test_limits();
	test_needs();
	xi_imap_parser_free(parser);
	return tap_done();
}
