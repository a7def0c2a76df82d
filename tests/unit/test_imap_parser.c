/*
 * test_imap_parser: the IMAP command parser (standalone/imap_parser.h):
 * every grammar element, literals sync and LITERAL+, sequence sets, the
 * response strings, modified UTF-7, and hostile input (1 GB literal
 * announce, deep parentheses, 10,000-item sequence sets, NUL bytes,
 * over-long lines, unterminated literals) refused within the limits and
 * followed by a command that parses again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "tap.h"

/* The tree as text: atom, "quoted", {literal}, NIL, (list). */
static void render_args(const struct xi_imap_arg *a, char *out, size_t cap)
{
	size_t len = strlen(out);
	for (; a != NULL; a = a->next) {
		const char *sep = len > 0 && out[len - 1] != '(' ? " " : "";
		switch (a->type) {
		case XI_IMAP_ARG_ATOM:
			snprintf(out + len, cap - len, "%s%s", sep, a->str);
			break;
		case XI_IMAP_ARG_QUOTED:
			snprintf(out + len, cap - len, "%s\"%s\"", sep, a->str);
			break;
		case XI_IMAP_ARG_LITERAL:
			snprintf(out + len, cap - len, "%s{%s}", sep, a->str);
			break;
		case XI_IMAP_ARG_NIL:
			snprintf(out + len, cap - len, "%sNIL", sep);
			break;
		case XI_IMAP_ARG_LIST:
			snprintf(out + len, cap - len, "%s(", sep);
			render_args(a->list, out, cap);
			len = strlen(out);
			snprintf(out + len, cap - len, ")");
			break;
		}
		len = strlen(out);
	}
}

static char rendered[8192];

static const char *render(const struct xi_imap_command *c)
{
	snprintf(rendered, sizeof(rendered), "%s|%s|", c->tag, c->name);
	char args[8000] = "";
	render_args(c->args, args, sizeof(args));
	strncat(rendered, args, sizeof(rendered) - strlen(rendered) - 1);
	return rendered;
}

/* Feeds data[0..len) until a result other than NEED_MORE or the end;
 * *used gets the bytes consumed. */
static enum xi_imap_feed feed_n(struct xi_imap_parser *p, const char *data, size_t len, size_t *used)
{
	size_t total = 0, c;
	enum xi_imap_feed r = XI_IMAP_NEED_MORE;
	while (total < len) {
		r = xi_imap_parser_feed(p, data + total, len - total, &c);
		total += c;
		if (r != XI_IMAP_NEED_MORE)
			break;
	}
	if (used != NULL)
		*used = total;
	return r;
}

static enum xi_imap_feed feed(struct xi_imap_parser *p, const char *s)
{
	return feed_n(p, s, strlen(s), NULL);
}

/* One whole command through a fresh default parser, rendered, or "ERR:text". */
static const char *parse1(const char *s)
{
	static char buf[8192];
	struct xi_imap_parser *p = xi_imap_parser_new(NULL);
	enum xi_imap_feed r = feed(p, s);
	if (r == XI_IMAP_COMMAND)
		snprintf(buf, sizeof(buf), "%s", render(xi_imap_parser_command(p)));
	else if (r == XI_IMAP_ERROR)
		snprintf(buf, sizeof(buf), "ERR:%s BAD %s", xi_imap_parser_error(p)->tag,
			 xi_imap_parser_error(p)->text);
	else
		snprintf(buf, sizeof(buf), "RESULT:%d", (int)r);
	xi_imap_parser_free(p);
	return buf;
}

static int err_code(const char *s, const struct xi_imap_limits *lim, bool *fatal)
{
	struct xi_imap_parser *p = xi_imap_parser_new(lim);
	enum xi_imap_feed r = feed(p, s);
	int code = r == XI_IMAP_ERROR ? (int)xi_imap_parser_error(p)->code : -1;
	if (fatal != NULL)
		*fatal = xi_imap_parser_error(p)->fatal;
	xi_imap_parser_free(p);
	return code;
}

static void test_grammar(void)
{
	tap_is_str(parse1("a1 NOOP\r\n"), "a1|NOOP|", "bare command");
	tap_is_str(parse1("a1 noop\n"), "a1|noop|", "bare LF ends a line too; name kept as sent");
	tap_is_str(parse1("A.2 LOGIN \"us\\\"er\" \"p\\\\w d\"\r\n"), "A.2|LOGIN|\"us\"er\" \"p\\w d\"",
		   "quoted strings with \\\" and \\\\ unescaped");
	tap_is_str(parse1("t SELECT \"\"\r\n"), "t|SELECT|\"\"", "empty quoted string");
	tap_is_str(parse1("t STATUS INBOX (MESSAGES UIDNEXT)\r\n"), "t|STATUS|INBOX (MESSAGES UIDNEXT)",
		   "atoms and a list");
	tap_is_str(parse1("t X NIL nil \"NIL\" ()\r\n"), "t|X|NIL NIL \"NIL\" ()", "NIL (any case), \"NIL\" and ()");
	tap_is_str(parse1("t X ((a) (b (c)))\r\n"), "t|X|((a) (b (c)))", "nested lists");
	tap_is_str(parse1("t STORE 1:* +FLAGS.SILENT (\\Seen \\Answered $Forwarded \\*)\r\n"),
		   "t|STORE|1:* +FLAGS.SILENT (\\Seen \\Answered $Forwarded \\*)", "flags with backslash");
	tap_is_str(parse1("t UID FETCH 2,4:7,* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM \"TO\")]<0.1024> "
			  "BODY[1.2.MIME] BODY[]<5.10> RFC822.SIZE)\r\n"),
		   "t|UID|FETCH 2,4:7,* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM \"TO\")]<0.1024> BODY[1.2.MIME] "
		   "BODY[]<5.10> RFC822.SIZE)",
		   "fetch attributes with sections and partials are single tokens");
	tap_is_str(parse1("t SEARCH CHARSET UTF-8 OR (FROM \"x\" SINCE 1-Feb-2025) NOT DELETED UID 1:5\r\n"),
		   "t|SEARCH|CHARSET UTF-8 OR (FROM \"x\" SINCE 1-Feb-2025) NOT DELETED UID 1:5",
		   "search keys as generic tokens");
	tap_is_str(parse1("t LIST \"\" %\r\n"), "t|LIST|\"\" %", "list wildcard as an atom");
	tap_is_str(parse1("t LIST \"\" INBOX.*\r\n"), "t|LIST|\"\" INBOX.*", "list wildcard * in an atom");
	tap_is_str(parse1("t SELECT \"Entw&APw-rfe\"\r\n"), "t|SELECT|\"Entw&APw-rfe\"", "mUTF-7 mailbox");
	tap_is_str(parse1("t SEARCH SUBJECT \"caf\xc3\xa9\"\r\n"), "t|SEARCH|SUBJECT \"caf\xc3\xa9\"",
		   "8-bit UTF-8 accepted in a quoted string");
	tap_is_str(parse1("t ID (\"name\" \"x\" \"version\" NIL)\r\n"), "t|ID|(\"name\" \"x\" \"version\" NIL)",
		   "ID parameter list");

	struct xi_imap_parser *p = xi_imap_parser_new(NULL);
	tap_is_int(feed(p, "t X a (b c) \"d\"\r\n"), XI_IMAP_COMMAND, "argc command");
	const struct xi_imap_command *c = xi_imap_parser_command(p);
	tap_is_int(c->argc, 3, "three top-level arguments");
	tap_ok(c->args->next->type == XI_IMAP_ARG_LIST && c->args->next->count == 2, "list with two items");
	tap_is_int(c->args->next->next->len, 1, "quoted length");
	xi_imap_parser_free(p);
}

static void test_literals(void)
{
	struct xi_imap_parser *p = xi_imap_parser_new(NULL);
	size_t used;

	tap_is_int(feed(p, "a LOGIN {4}\r\n"), XI_IMAP_CONTINUE, "sync literal asks for a continuation");
	tap_is_int(xi_imap_parser_literal_left(p), 4, "4 bytes due");
	tap_is_int(feed(p, "us"), XI_IMAP_NEED_MORE, "half the literal");
	tap_is_int(xi_imap_parser_literal_left(p), 2, "2 bytes due");
	tap_is_int(feed(p, "er {2}\r\n"), XI_IMAP_CONTINUE, "second literal asks again");
	tap_is_int(feed(p, "pw\r\n"), XI_IMAP_COMMAND, "command after two literals");
	tap_is_str(render(xi_imap_parser_command(p)), "a|LOGIN|{user} {pw}", "literal values");

	const char *ap = "b APPEND INBOX (\\Seen) \"5-Mar-2025 10:00:00 +0000\" {12+}\r\nline\r\nline\r\n\r\n";
	tap_is_int(feed_n(p, ap, strlen(ap), &used), XI_IMAP_COMMAND, "LITERAL+ in one go, no continuation");
	tap_is_int(used, strlen(ap), "all consumed");
	const struct xi_imap_command *c = xi_imap_parser_command(p);
	const struct xi_imap_arg *lit = c->args->next->next->next;
	tap_ok(lit != NULL && lit->type == XI_IMAP_ARG_LITERAL && lit->literal_plus && lit->len == 12 &&
	       memcmp(lit->str, "line\r\nline\r\n", 12) == 0 && lit->str[12] == '\0',
	       "literal with CRLF inside, NUL-terminated");

	tap_is_int(feed(p, "c X {0}\r\n"), XI_IMAP_CONTINUE, "{0} still synchronises");
	tap_is_int(feed(p, " x\r\n"), XI_IMAP_COMMAND, "empty literal then an atom");
	tap_is_str(render(xi_imap_parser_command(p)), "c|X|{} x", "empty literal");
	tap_is_int(feed(p, "c X {0+}\r\n\r\n"), XI_IMAP_COMMAND, "{0+}");
	tap_is_int(feed(p, "d X ({3}\r\n"), XI_IMAP_CONTINUE, "literal inside a list");
	tap_is_int(feed(p, "abc)\r\n"), XI_IMAP_COMMAND, "list closes after the literal");
	tap_is_str(render(xi_imap_parser_command(p)), "d|X|({abc})", "literal in list");

	tap_is_int(feed(p, "e X {3}x\r\n"), XI_IMAP_ERROR, "{n} not at end of line");
	tap_is_int(feed(p, "e X {}\r\n"), XI_IMAP_ERROR, "{} without a number");
	tap_is_int(feed(p, "e X {3}\r\n"), XI_IMAP_CONTINUE, "literal then garbage after it");
	tap_is_int(feed(p, "abcdef\r\n"), XI_IMAP_ERROR, "no space after a literal is an error");
	tap_is_int(feed(p, "f NOOP\r\n"), XI_IMAP_COMMAND, "and the next command parses");
	xi_imap_parser_free(p);

	/* byte by byte gives the same tree */
	const char *cmd = "g1 UID FETCH 1:* (FLAGS BODY[HEADER.FIELDS (A B)]) {3+}\r\nx\"y \"q\\\"\" (NIL)\r\n";
	p = xi_imap_parser_new(NULL);
	enum xi_imap_feed r = XI_IMAP_NEED_MORE;
	for (size_t i = 0; cmd[i] != '\0'; i++) {
		size_t k;
		r = xi_imap_parser_feed(p, cmd + i, 1, &k);
		if (k != 1 || (r != XI_IMAP_NEED_MORE && cmd[i + 1] != '\0'))
			break;
	}
	tap_is_int(r, XI_IMAP_COMMAND, "fed byte by byte");
	tap_is_str(render(xi_imap_parser_command(p)),
		   "g1|UID|FETCH 1:* (FLAGS BODY[HEADER.FIELDS (A B)]) {x\"y} \"q\"\" (NIL)", "same tree");
	xi_imap_parser_free(p);

	/* two commands in one read */
	p = xi_imap_parser_new(NULL);
	const char *two = "a NOOP\r\nb CHECK\r\n";
	size_t k;
	tap_is_int(xi_imap_parser_feed(p, two, strlen(two), &k), XI_IMAP_COMMAND, "first of two");
	tap_is_int(k, 8, "consumed exactly the first");
	tap_is_int(xi_imap_parser_feed(p, two + k, strlen(two) - k, &k), XI_IMAP_COMMAND, "second of two");
	tap_is_str(xi_imap_parser_command(p)->name, "CHECK", "second name");
	xi_imap_parser_free(p);
}

static void test_syntax_errors(void)
{
	tap_is_str(parse1("\r\n"), "ERR:* BAD Missing tag", "empty line");
	tap_is_str(parse1(" NOOP\r\n"), "ERR:* BAD Missing tag", "leading space");
	tap_is_str(parse1("a+ NOOP\r\n"), "ERR:* BAD Invalid tag", "'+' in tag");
	tap_is_str(parse1("a* NOOP\r\n"), "ERR:* BAD Invalid tag", "'*' in tag");
	tap_is_str(parse1("a\"b NOOP\r\n"), "ERR:* BAD Invalid tag", "quote in tag");
	tap_is_str(parse1("a\r\n"), "ERR:a BAD Missing command", "tag only");
	tap_is_str(parse1("a \r\n"), "ERR:a BAD Missing command", "tag and space");
	tap_is_str(parse1("a NO(OP\r\n"), "ERR:a BAD Invalid command name", "bad command name");
	tap_is_str(parse1("a NOOP \r\n"), "ERR:a BAD Unexpected space at end of line", "trailing space");
	tap_is_str(parse1("a X  b\r\n"), "ERR:a BAD Unexpected space", "double space");
	tap_is_str(parse1("a X (b\r\n"), "ERR:a BAD Missing ')'", "unclosed list");
	tap_is_str(parse1("a X b)\r\n"), "ERR:a BAD Unexpected ')'", "stray ')'");
	tap_is_str(parse1("a X (b )\r\n"), "ERR:a BAD Unexpected space before ')'", "space before ')'");
	tap_is_str(parse1("a X (b)c\r\n"), "ERR:a BAD Missing space between arguments", "no space after list");
	tap_is_str(parse1("a X \"b\"c\r\n"), "ERR:a BAD Missing space between arguments", "no space after quoted");
	tap_is_str(parse1("a LOGIN \"abc\r\n"), "ERR:a BAD Unterminated quoted string", "unterminated quoted");
	tap_is_str(parse1("a X \"a\\b\"\r\n"), "ERR:a BAD Invalid escape in quoted string", "bad escape");
	tap_is_str(parse1("a X BODY[HEADER\r\n"), "ERR:a BAD Missing ']'", "unterminated section");
	tap_is_str(parse1("a X ab\"c\r\n"), "ERR:a BAD Invalid character in atom", "quote inside atom");
	tap_is_str(parse1("a X a\\b\r\n"), "ERR:a BAD Invalid character in atom", "backslash inside atom");
	tap_is_str(parse1("a X \\\r\n"), "ERR:a BAD Empty atom", "lone backslash");
	tap_is_str(parse1("a X \x01\r\n"), "ERR:a BAD Invalid character in atom", "control byte");
	tap_is_str(parse1("a X caf\xc3\xa9\r\n"), "ERR:a BAD 8-bit byte in atom", "8-bit atom");
	tap_is_str(parse1("a X a\rb\r\n"), "ERR:a BAD CR or LF inside the command line", "bare CR");

	/* every error leaves the parser ready for the next command */
	static const char *const bad[] = {
		"\r\n", "a\r\n", "a X (\r\n", "a X \"x\r\n", "a X )\r\n", "a X {5}y\r\n", "a X a\0b\r\n",
	};
	struct xi_imap_parser *p = xi_imap_parser_new(NULL);
	int ok = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = i == 6 ? 10 : strlen(bad[i]);
		enum xi_imap_feed r = feed_n(p, bad[i], len, NULL);
		ok += r == XI_IMAP_ERROR && !xi_imap_parser_error(p)->fatal && feed(p, "n NOOP\r\n") == XI_IMAP_COMMAND;
	}
	tap_is_int(ok, 7, "seven kinds of errors, each non-fatal and followed by a good command");
	xi_imap_parser_free(p);
}

static void test_hostile(void)
{
	struct xi_imap_parser *p = xi_imap_parser_new(NULL);
	bool fatal;

	/* 1 GB synchronizing literal: BAD at once, nothing allocated */
	tap_is_int(feed(p, "big APPEND INBOX {1073741824}\r\n"), XI_IMAP_ERROR, "1 GB literal refused");
	const struct xi_imap_error *e = xi_imap_parser_error(p);
	tap_is_int(e->code, XI_IMAP_ERR_LITERAL_TOO_BIG, "as too big");
	tap_is_str(e->tag, "big", "with the command's tag");
	tap_ok(!e->fatal, "not fatal: the client waits for our '+' and never sends it");
	tap_ok(strstr(e->text, "1073741824") != NULL, "the text names the size: %s", e->text);
	tap_ok(xi_imap_parser_buffered(p) < 4096, "no literal buffer allocated (%zu bytes)",
	       xi_imap_parser_buffered(p));
	tap_is_int(feed(p, "n NOOP\r\n"), XI_IMAP_COMMAND, "next command parses");
	xi_imap_parser_free(p);

	tap_is_int(err_code("big APPEND INBOX {1073741824+}\r\n", NULL, &fatal), XI_IMAP_ERR_LITERAL_TOO_BIG,
		   "1 GB LITERAL+ refused");
	tap_ok(fatal, "and fatal: 1 GB follows that cannot be waited out");
	tap_is_int(err_code("big X {99999999999999999999999999}\r\n", NULL, &fatal), XI_IMAP_ERR_LITERAL_TOO_BIG,
		   "literal size overflowing 64 bits refused");

	/* LITERAL+ within limits but refused: its data is skipped */
	struct xi_imap_limits lim;
	xi_imap_limits_default(&lim);
	lim.literal_plus = false;
	p = xi_imap_parser_new(&lim);
	tap_is_int(feed(p, "a LOGIN {5+}\r\n"), XI_IMAP_ERROR, "{n+} without LITERAL+");
	tap_is_int(xi_imap_parser_error(p)->code, XI_IMAP_ERR_LITERAL_PLUS, "named");
	tap_is_int(feed(p, "a NOO rest\r\nb NOOP\r\n"), XI_IMAP_COMMAND, "its data and line skipped");
	tap_is_str(xi_imap_parser_command(p)->tag, "b", "then the next command");
	xi_imap_parser_free(p);

	/* An error before the end of a line that announces LITERAL+ data
	 * (APPEND with a literal8): the data, several lines fed in a later
	 * read, is skipped whole, never read as commands. */
	p = xi_imap_parser_new(NULL);
	tap_is_int(feed(p, "a APPEND INBOX ~{24+}\r\n"), XI_IMAP_ERROR, "literal8 refused");
	tap_is_int(feed(p, "x1 NOOP\r\nx2 NOOP\r\nx3 X\r\n\r\nb NOOP\r\n"), XI_IMAP_COMMAND,
		   "its multi-line LITERAL+ data skipped in a later read");
	tap_is_str(xi_imap_parser_command(p)->tag, "b", "then the next command, not a line of the data");
	xi_imap_parser_free(p);

	/* command size limit */
	xi_imap_limits_default(&lim);
	lim.max_command = 100000;
	p = xi_imap_parser_new(&lim);
	tap_is_int(feed(p, "a APPEND INBOX {200000}\r\n"), XI_IMAP_ERROR, "literal over the command limit");
	tap_is_int(xi_imap_parser_error(p)->code, XI_IMAP_ERR_COMMAND_TOO_BIG, "as command too big");
	tap_is_int(feed(p, "b NOOP\r\n"), XI_IMAP_COMMAND, "recovers");
	xi_imap_parser_free(p);

	/* deep parentheses */
	char deep[12000];
	strcpy(deep, "d X ");
	for (int i = 0; i < 5000; i++)
		strcat(deep, "(");
	for (int i = 0; i < 5000; i++)
		strcat(deep, ")");
	strcat(deep, "\r\n");
	p = xi_imap_parser_new(NULL);
	tap_is_int(feed(p, deep), XI_IMAP_ERROR, "5000 nested lists refused");
	tap_is_int(xi_imap_parser_error(p)->code, XI_IMAP_ERR_TOO_DEEP, "as too deep");
	tap_ok(!xi_imap_parser_error(p)->fatal, "not fatal");
	tap_is_int(feed(p, "n NOOP\r\n"), XI_IMAP_COMMAND, "next command parses");
	char ok16[200] = "d X ";
	for (int i = 0; i < XI_IMAP_DEFAULT_MAX_DEPTH; i++)
		strcat(ok16, "(");
	for (int i = 0; i < XI_IMAP_DEFAULT_MAX_DEPTH; i++)
		strcat(ok16, ")");
	strcat(ok16, "\r\n");
	tap_is_int(feed(p, ok16), XI_IMAP_COMMAND, "exactly the depth limit is accepted");
	xi_imap_parser_free(p);

	/* 10,000-item sequence set: parsed as a token, decoded without expansion */
	size_t cap = 100000;
	char *set = malloc(cap), *line = malloc(cap + 64);
	size_t n = 0;
	for (int i = 1; i <= 10000; i++)
		n += (size_t)snprintf(set + n, cap - n, "%s%d", i > 1 ? "," : "", i);
	snprintf(line, cap + 64, "s FETCH %s FLAGS\r\n", set);
	p = xi_imap_parser_new(NULL);
	tap_is_int(feed(p, line), XI_IMAP_COMMAND, "10,000-item set in a 48 KB line parses");
	struct xi_imap_seq_range r[16];
	const struct xi_imap_arg *a = xi_imap_parser_command(p)->args;
	tap_is_int(xi_imap_seqset_parse(a->str, a->len, r, 16), 1, "1,2,...,10000 is one range");
	tap_ok(r[0].lo == 1 && r[0].hi == 10000, "1:10000");
	xi_imap_parser_free(p);
	n = 0;
	for (int i = 1; i <= 10000; i++)
		n += (size_t)snprintf(set + n, cap - n, "%s%d", i > 1 ? "," : "", i * 2);
	struct xi_imap_seq_range *many = calloc(1000, sizeof(*many));
	tap_is_int(xi_imap_seqset_parse(set, n, many, 1000), -1, "10,000 disjoint items over a 1000-range limit refused");
	free(many);
	many = calloc(10000, sizeof(*many));
	tap_is_int(xi_imap_seqset_parse(set, n, many, 10000), 10000, "and accepted with room for them");
	free(many);
	free(set);
	free(line);

	/* NUL bytes */
	p = xi_imap_parser_new(NULL);
	tap_is_int(feed_n(p, "a LOGIN u\0x p\r\n", 15, NULL), XI_IMAP_ERROR, "NUL in a line");
	tap_is_int(xi_imap_parser_error(p)->code, XI_IMAP_ERR_NUL, "named NUL");
	static const char nul_lit[] = "a LOGIN {3+}\r\nu\0x p\r\n";
	size_t nul_used;
	tap_is_int(feed_n(p, nul_lit, 21, &nul_used), XI_IMAP_ERROR, "NUL in a literal");
	tap_is_int(xi_imap_parser_error(p)->code, XI_IMAP_ERR_NUL, "named NUL");
	tap_is_int(feed_n(p, &nul_lit[nul_used], 21 - nul_used, NULL), XI_IMAP_NEED_MORE,
		   "the rest of the line is fed and discarded");
	tap_is_int(feed(p, "n NOOP\r\n"), XI_IMAP_COMMAND, "the rest of that line was skipped");
	xi_imap_parser_free(p);

	/* over-long line */
	xi_imap_limits_default(&lim);
	lim.max_line = 1024;
	p = xi_imap_parser_new(&lim);
	char *lng = malloc(5001);
	memset(lng, 'x', 5000);
	lng[5000] = '\0';
	memcpy(lng, "long FETCH ", 11);
	tap_is_int(feed(p, lng), XI_IMAP_ERROR, "line over 1024 bytes refused before its end");
	tap_is_int(xi_imap_parser_error(p)->code, XI_IMAP_ERR_LINE_TOO_LONG, "as too long");
	tap_is_str(xi_imap_parser_error(p)->tag, "long", "with its tag");
	tap_ok(xi_imap_parser_buffered(p) <= 4096, "buffer stayed bounded (%zu)", xi_imap_parser_buffered(p));
	size_t used;
	for (int i = 0; i < 100; i++)
		feed_n(p, lng, 5000, &used);
	tap_ok(xi_imap_parser_buffered(p) <= 4096, "500 KB more of the line kept nothing");
	tap_is_int(feed(p, " {10+}\r\n0123456789 more\r\nn NOOP\r\n"), XI_IMAP_COMMAND,
		   "the line's LITERAL+ data is skipped too, then the next command");
	tap_is_str(xi_imap_parser_command(p)->tag, "n", "next tag");
	tap_is_int(feed(p, "x"), XI_IMAP_NEED_MORE, "partial");
	for (int i = 0; i < 100; i++)
		feed_n(p, lng, 5000, &used);
	tap_is_int(feed(p, " {1073741824+}\r\n"), XI_IMAP_ERROR, "skipped line announcing 1 GB LITERAL+");
	tap_ok(xi_imap_parser_error(p)->fatal, "is fatal");
	tap_is_int(feed(p, "n NOOP\r\n"), XI_IMAP_ERROR, "and stays failed");
	free(lng);
	xi_imap_parser_free(p);

	/* too many arguments */
	xi_imap_limits_default(&lim);
	lim.max_args = 100;
	char args[2000] = "a X";
	for (int i = 0; i < 200; i++)
		strcat(args, " a");
	strcat(args, "\r\n");
	tap_is_int(err_code(args, &lim, &fatal), XI_IMAP_ERR_TOO_MANY_ARGS, "200 arguments over a 100 limit");
	tap_ok(!fatal, "not fatal");

	/* unterminated literal: it simply waits, bounded by the announce */
	p = xi_imap_parser_new(NULL);
	tap_is_int(feed(p, "u APPEND INBOX {10}\r\n"), XI_IMAP_CONTINUE, "literal announced");
	tap_is_int(feed(p, "abc"), XI_IMAP_NEED_MORE, "three bytes of ten");
	tap_is_int(xi_imap_parser_literal_left(p), 7, "seven still due");
	tap_ok(xi_imap_parser_buffered(p) < 4096, "only the announced size reserved (%zu)", xi_imap_parser_buffered(p));
	xi_imap_parser_free(p);
}

static void test_seqset(void)
{
	struct xi_imap_seq_range r[8];
	tap_is_int(xi_imap_seqset_parse("1:*", 3, r, 8), 1, "1:*");
	tap_ok(r[0].lo == 1 && r[0].hi == XI_IMAP_SEQ_STAR, "1 to star");
	tap_is_int(xi_imap_seqset_parse("2,4:7,*", 7, r, 8), 3, "2,4:7,*");
	tap_ok(r[0].lo == 2 && r[0].hi == 2 && r[1].lo == 4 && r[1].hi == 7 && r[2].lo == XI_IMAP_SEQ_STAR,
	       "three ranges");
	tap_is_int(xi_imap_seqset_parse("7:4", 3, r, 8), 1, "7:4");
	tap_ok(r[0].lo == 4 && r[0].hi == 7, "ordered");
	tap_is_int(xi_imap_seqset_parse("1:3,2:6,7", 9, r, 8), 1, "overlapping and adjacent merged");
	tap_ok(r[0].lo == 1 && r[0].hi == 7, "1:7");
	tap_is_int(xi_imap_seqset_parse("4294967294", 10, r, 8), 1, "largest number");
	tap_is_int(xi_imap_seqset_parse("4294967295", 10, r, 8), -1, "2^32-1 is not a message number");
	tap_is_int(xi_imap_seqset_parse("4294967296", 10, r, 8), -1, "over 32 bits");
	tap_is_int(xi_imap_seqset_parse("0", 1, r, 8), -1, "zero");
	tap_is_int(xi_imap_seqset_parse("01", 2, r, 8), -1, "leading zero");
	tap_is_int(xi_imap_seqset_parse("1:", 2, r, 8), -1, "open range");
	tap_is_int(xi_imap_seqset_parse(",1", 2, r, 8), -1, "leading comma");
	tap_is_int(xi_imap_seqset_parse("1,", 2, r, 8), -1, "trailing comma");
	tap_is_int(xi_imap_seqset_parse("1,,2", 4, r, 8), -1, "double comma");
	tap_is_int(xi_imap_seqset_parse("1:2:3", 5, r, 8), -1, "double colon");
	tap_is_int(xi_imap_seqset_parse("a", 1, r, 8), -1, "letter");
	tap_is_int(xi_imap_seqset_parse("", 0, r, 8), -1, "empty");
	tap_is_int(xi_imap_seqset_parse("1,3,5", 5, r, 2), -1, "more ranges than room");
	uint32_t lo, hi;
	struct xi_imap_seq_range star5 = {5, XI_IMAP_SEQ_STAR};
	tap_ok(xi_imap_seq_range_resolve(&star5, 3, &lo, &hi) && lo == 3 && hi == 5, "5:* with 3 messages is 3:5");
	tap_ok(!xi_imap_seq_range_resolve(&star5, 0, &lo, &hi), "no messages: nothing");
}

static void test_strings(void)
{
	char b[64];
	tap_is_int(xi_imap_write_string(b, sizeof(b), "abc", 3), 5, "quoted length");
	tap_is_str(b, "\"abc\"", "quoted");
	xi_imap_write_string(b, sizeof(b), "a\"b\\c", 5);
	tap_is_str(b, "\"a\\\"b\\\\c\"", "escaped");
	xi_imap_write_string(b, sizeof(b), "a\r\nb", 4);
	tap_is_str(b, "{4}\r\na\r\nb", "CRLF forces a literal");
	xi_imap_write_string(b, sizeof(b), "caf\xc3\xa9", 5);
	tap_is_str(b, "{5}\r\ncaf\xc3\xa9", "8-bit forces a literal");
	xi_imap_write_nstring(b, sizeof(b), NULL, 0);
	tap_is_str(b, "NIL", "NULL nstring");
	xi_imap_write_nstring(b, sizeof(b), "", 0);
	tap_is_str(b, "\"\"", "empty string");
	tap_is_int(xi_imap_write_string(b, 4, "abcdef", 6), 8, "needed length when truncated");
	tap_is_str(b, "\"ab", "truncated and terminated");

	static const struct {
		const char *utf8, *mutf7;
	} v[] = {
		{"INBOX", "INBOX"},
		{"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
		{"A&B", "A&-B"},
		{"\xe5\x8f\xb0\xe5\x8c\x97", "&U,BTFw-"},
		{"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		 "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"\xf0\x9f\x98\x80", "&2D3eAA-"},
		{"\xd0\x92\xd1\x85\xd0\xbe\xd0\xb4\xd1\x8f\xd1\x89\xd0\xb8\xd0\xb5", "&BBIERQQ+BDQETwRJBDgENQ-"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char o[128];
		long n = xi_imap_mutf7_encode(v[i].utf8, strlen(v[i].utf8), o, sizeof(o));
		tap_ok(n >= 0 && strcmp(o, v[i].mutf7) == 0, "encode %s -> %s (got %s)", v[i].mutf7, v[i].mutf7, o);
		n = xi_imap_mutf7_decode(v[i].mutf7, strlen(v[i].mutf7), o, sizeof(o));
		tap_ok(n >= 0 && strcmp(o, v[i].utf8) == 0, "decode %s", v[i].mutf7);
	}
	static const char *const bad7[] = {
		"&U,BTFw", "&", "&AGE-", "&U,BTFw-&ZeVnLIqe-", "abc\x80", "a\tb", "&APx-", "&2D0-", "&3gA-",
		"&A!-", "&AP-",
	};
	for (size_t i = 0; i < sizeof(bad7) / sizeof(bad7[0]); i++) {
		char o[64];
		tap_is_int(xi_imap_mutf7_decode(bad7[i], strlen(bad7[i]), o, sizeof(o)), -1,
			   "invalid mUTF-7 refused: %zu", i);
	}
	static const char *const bad8[] = {"\xc3(", "\xc0\x80", "\xed\xa0\x80", "\xf5\x80\x80\x80", "\xe2\x82"};
	for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
		char o[64];
		tap_is_int(xi_imap_mutf7_encode(bad8[i], strlen(bad8[i]), o, sizeof(o)), -1,
			   "invalid UTF-8 refused: %zu", i);
	}
}

/* atom_backslash (xidentd's logon parser): DOMAIN\account\alias unquoted. */
static void test_atom_backslash(void)
{
	struct xi_imap_limits lim;
	struct xi_imap_parser *p;

	xi_imap_limits_default(&lim);
	tap_ok(err_code("a LOGIN DOM\\acct\\alias pw\r\n", &lim, NULL) == XI_IMAP_ERR_SYNTAX,
	       "backslash inside an atom refused by default");
	lim.atom_backslash = true;
	p = xi_imap_parser_new(&lim);
	tap_ok(feed(p, "a LOGIN DOM\\acct\\alias pw\r\n") == XI_IMAP_COMMAND &&
	       strcmp(xi_imap_parser_command(p)->args->str, "DOM\\acct\\alias") == 0,
	       "atom_backslash: DOM\\acct\\alias read as one atom");
	xi_imap_parser_free(p);
	tap_ok(err_code("a LOGIN DOM\\x\"y pw\r\n", &lim, NULL) == XI_IMAP_ERR_SYNTAX,
	       "atom_backslash: a quote inside an atom still refused");
}

int main(void)
{
	test_grammar();
	test_literals();
	test_syntax_errors();
	test_hostile();
	test_seqset();
	test_strings();
	test_atom_backslash();
	return tap_done();
}
