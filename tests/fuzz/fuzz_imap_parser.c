/* libFuzzer target: the IMAP command parser (standalone/imap_parser.h).
 * The input is fed in pieces whose sizes come from its first byte, with
 * small limits so every limit is reached.  Besides "no crash, no leak":
 * the parser always makes progress, a command's tree is consistent (list
 * counts match, values are NUL-terminated at their length), an error has a
 * text, after a fatal error nothing more is accepted, and every atom that
 * decodes as a sequence set or mUTF-7 round-trips through the helpers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned check_args(const struct xi_imap_arg *a, unsigned depth)
{
	unsigned n = 0;
	if (depth > 8)
		abort();
	for (; a != NULL; a = a->next) {
		n++;
		if (a->type == XI_IMAP_ARG_LIST) {
			if (check_args(a->list, depth + 1) != a->count)
				abort();
		} else if (a->str == NULL || a->str[a->len] != '\0') {
			abort();
		}
		if (a->type == XI_IMAP_ARG_ATOM) {
			struct xi_imap_seq_range r[8];
			int k = xi_imap_seqset_parse(a->str, a->len, r, 8);
			for (int i = 0; i < k; i++)
				if (r[i].lo > r[i].hi)
					abort();
			char u8[512], m7[1024];
			long d = xi_imap_mutf7_decode(a->str, a->len, u8, sizeof(u8));
			if (d >= 0 && (size_t)d < sizeof(u8)) {
				long e = xi_imap_mutf7_encode(u8, (size_t)d, m7, sizeof(m7));
				if (e < 0 || (size_t)e != a->len || memcmp(m7, a->str, a->len) != 0)
					abort();
			}
		}
		char q[256];
		size_t need = xi_imap_write_string(q, sizeof(q), a->str != NULL ? a->str : "", a->len);
		if (need < a->len + 2)
			abort();
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct xi_imap_limits lim = {
		.max_line = 512, .max_literal = 256, .max_command = 1024,
		.max_depth = 8, .max_args = 64, .literal_plus = (data[0] & 0x80) != 0,
	};
	size_t piece = (data[0] & 0x7f) + 1;
	data++;
	size--;
	struct xi_imap_parser *p = xi_imap_parser_new(&lim);
	if (p == NULL)
		return 0;
	size_t off = 0;
	bool fatal = false;
	while (off < size) {
		size_t len = size - off < piece ? size - off : piece;
		size_t used;
		enum xi_imap_feed r = xi_imap_parser_feed(p, (const char *)data + off, len, &used);
		if (used > len)
			abort();
		if (fatal && r != XI_IMAP_ERROR)
			abort();
		if (r == XI_IMAP_ERROR) {
			const struct xi_imap_error *e = xi_imap_parser_error(p);
			if (!fatal && (e->text[0] == '\0' || e->tag[0] == '\0'))
				abort();
			if (e->fatal)
				fatal = true;
			if (fatal)
				break;
		} else if (r == XI_IMAP_COMMAND) {
			const struct xi_imap_command *c = xi_imap_parser_command(p);
			if (c->tag[0] == '\0' || c->name[0] == '\0' || check_args(c->args, 0) != c->argc)
				abort();
		} else if (r == XI_IMAP_NEED_MORE && used != len) {
			abort();
		}
		if (xi_imap_parser_buffered(p) > 8 * 1024)
			abort();
		off += used;
	}
	xi_imap_parser_free(p);
	return 0;
}
