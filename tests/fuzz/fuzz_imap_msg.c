/* libFuzzer target: FETCH attribute and SEARCH criteria parsing
 * (standalone/imap_fetch.h, imap_search.h) and their use on one message
 * (mime_section.h).  The input is "<mode byte><command text>\n<message>":
 * an even mode byte parses the text as "x FETCH 1 <text>", an odd one as
 * "x SEARCH <text>" (small parser and search limits so they are reached).
 * A parsed plan is rendered and a parsed tree matched against the message.
 * Besides "no crash, no leak": a refusal has a text; a response starts with
 * "* 1 FETCH (" and ends with ")\r\n", or fails leaving the buffer as it
 * was; a match is 0 or 1 (the data is always given). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_fetch.h"
#include "imap_parser.h"
#include "imap_search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct xi_imap_command *parse_line(struct xi_imap_parser *p, const char *line, size_t len)
{
	size_t off = 0;
	while (off < len) {
		size_t used;
		enum xi_imap_feed r = xi_imap_parser_feed(p, line + off, len - off, &used);
		off += used;
		if (r == XI_IMAP_COMMAND)
			return xi_imap_parser_command(p);
		if (r == XI_IMAP_ERROR || (used == 0 && r != XI_IMAP_CONTINUE))
			return NULL;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool search = data[0] & 1;
	const char *text = (const char *)data + 1;
	size_t rest = size - 1;
	const char *nl = memchr(text, '\n', rest);
	size_t tlen = nl != NULL ? (size_t)(nl - text) : rest;
	const char *msg = nl != NULL ? nl + 1 : "";
	size_t mlen = nl != NULL ? rest - tlen - 1 : 0;

	char *line = malloc(tlen + 32);
	if (line == NULL)
		return 0;
	size_t llen = 0;
	const char *verb = search ? "x SEARCH " : "x FETCH 1 ";
	memcpy(line, verb, strlen(verb));
	llen = strlen(verb);
	memcpy(line + llen, text, tlen);
	llen += tlen;
	memcpy(line + llen, "\r\n", 2);
	llen += 2;

	struct xi_imap_limits lim;
	xi_imap_limits_default(&lim);
	lim.max_depth = 40;
	lim.max_args = 512;
	struct xi_imap_parser *p = xi_imap_parser_new(&lim);
	const struct xi_imap_command *cmd = p != NULL ? parse_line(p, line, llen) : NULL;
	static const char *const kw[] = {"$Junk", "Work"};
	struct xi_imap_msg_view v = {.seq = 1, .uid = 9, .flags = XI_IMAP_FLAG_RECENT, .keywords = kw,
				     .nkeywords = 2, .internal_date = 1700000000, .size = mlen,
				     .data = msg, .len = mlen};
	struct xi_imap_refusal why;
	struct xi_error err;
	if (cmd != NULL && !search && cmd->argc == 2) {
		struct xi_imap_fetch *f;
		if (xi_imap_fetch_parse(cmd->args->next, (data[0] & 2) != 0, NULL, &f, &why) < 0) {
			if (why.text[0] == '\0')
				abort();
		} else {
			struct xi_mime_str out;
			xi_mime_str_init(&out, (data[0] & 4) ? 256 : 1u << 20);
			xi_mime_str_add(&out, "pre", 3);
			if (xi_imap_fetch_render(f, &v, (data[0] & 8) != 0, &out, &err) == 0) {
				if (out.len < 3 + 14 || memcmp(out.data + 3, "* 1 FETCH (", 11) != 0 ||
				    memcmp(out.data + out.len - 3, ")\r\n", 3) != 0)
					abort();
			} else if (out.len != 3 || out.overflow) {
				abort();
			}
			xi_mime_str_free(&out);
			xi_imap_fetch_free(f);
		}
	} else if (cmd != NULL && search) {
		struct xi_imap_search_limits sl = {64, 12, 16, 256};
		struct xi_imap_search *s;
		if (xi_imap_search_parse(cmd->args, (data[0] & 2) ? &sl : NULL, &s, &why) < 0) {
			if (why.text[0] == '\0')
				abort();
		} else {
			struct xi_imap_search_ctx ctx = {3, 20};
			int r = xi_imap_search_match(s, &ctx, &v, &err);
			if (r != 0 && r != 1 && err.status != XI_ERR_NOMEM)
				abort();
			xi_imap_search_free(s);
		}
	}
	xi_imap_parser_free(p);
	free(line);
	return 0;
}
