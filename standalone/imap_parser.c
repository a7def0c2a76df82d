/*
 * imap_parser.c: the IMAP command parser (see imap_parser.h).
 *
 * Two layers.  The byte layer collects one command into `raw`: line text up
 * to LF, then for a line ending in a literal announcement {n} / {n+} the n
 * literal bytes (followed by a NUL we add, so every value can be handed out
 * NUL-terminated), then the next line text, and so on.  A quoted string
 * cannot hold CR or LF, so LF outside a literal always ends a line segment
 * and the byte layer needs no knowledge of quoting.
 *
 * The token layer runs once per segment, at its LF, over the bytes just
 * received, keeping its state (phase, open lists) between segments.  So a
 * synchronizing literal is acknowledged only when everything before it is
 * valid, and a literal that is too large is refused from its announcement,
 * before any byte of it is stored.
 *
 * Values and list links are kept as offsets while the buffers may grow and
 * turned into pointers (struct xi_imap_arg) when the command is complete.
 */
#include "imap_parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


enum byte_state {
	ST_LINE,          /* reading line text up to LF */
	ST_LITERAL,       /* reading literal bytes into raw */
	ST_SKIP_LINE,     /* after an error: discarding up to LF */
	ST_SKIP_LITERAL,  /* after an error: discarding a LITERAL+ literal */
	ST_FATAL,
};

enum phase { PH_TAG, PH_NAME, PH_ARGS };

struct node {
	enum xi_imap_arg_type type;
	size_t off, len;   /* value: in arena (atom, quoted) or raw (literal) */
	int first, last, next;
	unsigned count;
	bool plus;
};

struct xi_imap_parser {
	struct xi_imap_limits lim;
	enum byte_state state;
	bool reset_due;   /* the previous result was a command or an error */

	char *raw;
	size_t raw_len, raw_cap;
	size_t line_bytes;   /* text bytes of this command, literals excluded */
	size_t tok_pos;      /* where the token layer resumes in raw */
	uint64_t lit_left;
	int lit_node;        /* the node the current literal fills */
	char tail[24];       /* last bytes of a line being skipped */
	size_t tail_len;

	enum phase phase;
	bool need_sep;       /* after an argument: SP, ')' or end of line */
	bool after_space;
	char *arena;
	size_t arena_len, arena_cap;
	size_t tag_off, name_off;
	struct node *nodes;
	unsigned nnodes, nodes_cap;
	int *stack;          /* open lists, max_depth entries */
	unsigned depth;
	int top_first, top_last;
	unsigned argc;

	struct xi_imap_arg *args;
	struct xi_imap_command cmd;
	struct xi_imap_error err;
};

void xi_imap_limits_default(struct xi_imap_limits *l)
{
	l->max_line = XI_IMAP_DEFAULT_MAX_LINE;
	l->max_literal = XI_IMAP_DEFAULT_MAX_LITERAL;
	l->max_command = XI_IMAP_DEFAULT_MAX_LINE + XI_IMAP_DEFAULT_MAX_LITERAL;
	l->max_depth = XI_IMAP_DEFAULT_MAX_DEPTH;
	l->max_args = XI_IMAP_DEFAULT_MAX_ARGS;
	l->literal_plus = true;
	l->atom_backslash = false;
}

struct xi_imap_parser *xi_imap_parser_new(const struct xi_imap_limits *limits)
{
	struct xi_imap_parser *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	if (limits != NULL)
		p->lim = *limits;
	else
		xi_imap_limits_default(&p->lim);
	if (p->lim.max_depth == 0)
		p->lim.max_depth = 1;
	if (p->lim.max_line < 16)
		p->lim.max_line = 16;
	if (p->lim.max_command < p->lim.max_line)
		p->lim.max_command = p->lim.max_line;
	p->stack = calloc(p->lim.max_depth, sizeof(int));
	if (p->stack == NULL) {
		free(p);
		return NULL;
	}
	p->lit_node = -1;
	p->top_first = p->top_last = -1;
	return p;
}

/* Frees a text buffer wiped: before logon it may hold a password (LOGIN).
 * explicit_bzero (glibc), not OpenSSL's cleanse: the parser also runs in the
 * mail processes, whose program (xidentd-session, spawner.h) stays libc-only
 * so that forking a session is cheap. */
static void free_wiped(char *buf, size_t cap)
{
	if (buf != NULL)
		explicit_bzero(buf, cap);
	free(buf);
}

/* Forgets the command being read and frees its buffers: an idle
 * connection holds only the struct. */
static void reset_command(struct xi_imap_parser *p)
{
	free_wiped(p->raw, p->raw_cap);
	free_wiped(p->arena, p->arena_cap);
	free(p->nodes);
	free(p->args);
	p->raw = p->arena = NULL;
	p->nodes = NULL;
	p->args = NULL;
	p->raw_len = p->raw_cap = p->arena_len = p->arena_cap = 0;
	p->nodes_cap = p->nnodes = 0;
	p->line_bytes = p->tok_pos = 0;
	/* A discarded command's LITERAL+ data may still be on its way: the
	 * count of bytes to skip outlives the command. */
	if (p->state != ST_SKIP_LITERAL)
		p->lit_left = 0;
	p->lit_node = -1;
	p->phase = PH_TAG;
	p->need_sep = p->after_space = false;
	p->depth = 0;
	p->top_first = p->top_last = -1;
	p->argc = 0;
	memset(&p->cmd, 0, sizeof(p->cmd));
}

void xi_imap_parser_free(struct xi_imap_parser *p)
{
	if (p == NULL)
		return;
	reset_command(p);
	free(p->stack);
	explicit_bzero(p, sizeof(*p)); /* tail: the end of a discarded line */
	free(p);
}

const struct xi_imap_command *xi_imap_parser_command(const struct xi_imap_parser *p)
{
	return &p->cmd;
}

const struct xi_imap_error *xi_imap_parser_error(const struct xi_imap_parser *p)
{
	return &p->err;
}

uint64_t xi_imap_parser_literal_left(const struct xi_imap_parser *p)
{
	return p->state == ST_LITERAL ? p->lit_left : 0;
}

size_t xi_imap_parser_buffered(const struct xi_imap_parser *p)
{
	return p->raw_cap + p->arena_cap + p->nodes_cap * sizeof(struct node);
}

/* ------------------------------------------------------------ errors */

__attribute__((format(printf, 4, 5)))
static enum xi_imap_feed set_error(struct xi_imap_parser *p, enum xi_imap_errcode code, bool fatal,
				   const char *fmt, ...)
{
	va_list ap;
	p->err.code = code;
	p->err.fatal = fatal;
	if (p->phase != PH_TAG && p->arena != NULL)
		snprintf(p->err.tag, sizeof(p->err.tag), "%s", p->arena + p->tag_off);
	else
		strcpy(p->err.tag, "*");
	va_start(ap, fmt);
	vsnprintf(p->err.text, sizeof(p->err.text), fmt, ap);
	va_end(ap);
	if (fatal)
		p->state = ST_FATAL;
	p->reset_due = true;
	return XI_IMAP_ERROR;
}

/* ------------------------------------------------------------ buffers */

static bool reserve(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	/* Not realloc: the old block, which may hold a password, is wiped
	 * before it goes back to the heap. */
	char *b = malloc(n);
	if (b == NULL)
		return false;
	if (*buf != NULL)
		memcpy(b, *buf, *cap);
	free_wiped(*buf, *cap);
	*buf = b;
	*cap = n;
	return true;
}

static bool raw_append(struct xi_imap_parser *p, const char *d, size_t n)
{
	if (!reserve(&p->raw, &p->raw_cap, p->raw_len + n))
		return false;
	memcpy(p->raw + p->raw_len, d, n);
	p->raw_len += n;
	return true;
}

/* A NUL-terminated copy in the arena; its offset, or SIZE_MAX. */
static size_t arena_add(struct xi_imap_parser *p, const char *d, size_t n)
{
	if (!reserve(&p->arena, &p->arena_cap, p->arena_len + n + 1))
		return SIZE_MAX;
	size_t off = p->arena_len;
	memcpy(p->arena + off, d, n);
	p->arena[off + n] = '\0';
	p->arena_len += n + 1;
	return off;
}

/* ------------------------------------------------------------ tokens */

enum tok_result { TOK_DONE, TOK_LITERAL, TOK_CONTINUE_LINE, TOK_ERROR };

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* ATOM-CHAR of RFC 3501, and ']' (ASTRING-CHAR) */
static bool is_astring_char(unsigned char c)
{
	if (is_ctl(c) || c >= 0x80)
		return false;
	return strchr(" (){%*\"\\", c) == NULL;
}

static int new_node(struct xi_imap_parser *p, enum xi_imap_arg_type type)
{
	if (p->nnodes >= p->lim.max_args)
		return -1;
	if (p->nnodes >= p->nodes_cap) {
		unsigned cap = p->nodes_cap ? p->nodes_cap * 2 : 16;
		struct node *n = realloc(p->nodes, cap * sizeof(*n));
		if (n == NULL)
			return -2;
		p->nodes = n;
		p->nodes_cap = cap;
	}
	int idx = (int)p->nnodes++;
	struct node *n = &p->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->first = n->last = n->next = -1;
	if (p->depth > 0) {
		struct node *parent = &p->nodes[p->stack[p->depth - 1]];
		if (parent->last >= 0)
			p->nodes[parent->last].next = idx;
		else
			parent->first = idx;
		parent->last = idx;
		parent->count++;
	} else {
		if (p->top_last >= 0)
			p->nodes[p->top_last].next = idx;
		else
			p->top_first = idx;
		p->top_last = idx;
		p->argc++;
	}
	return idx;
}

static enum tok_result node_error(struct xi_imap_parser *p, int r)
{
	if (r == -2)
		set_error(p, XI_IMAP_ERR_NOMEM, true, "Out of memory");
	else
		set_error(p, XI_IMAP_ERR_TOO_MANY_ARGS, false, "Too many arguments (limit %u)", p->lim.max_args);
	return TOK_ERROR;
}

/* Parses "{n}" or "{n+}" that ends the line at s..e. */
static bool literal_header(const char *s, const char *e, uint64_t *n, bool *plus)
{
	if (e - s < 3 || *s != '{' || e[-1] != '}')
		return false;
	const char *q = s + 1;
	uint64_t v = 0;
	unsigned digits = 0;
	while (q < e && *q >= '0' && *q <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX; /* saturate: refused as too big */
		else
			v = v * 10 + (uint64_t)(*q - '0');
		q++;
		digits++;
	}
	if (digits == 0)
		return false;
	*plus = false;
	if (q < e && *q == '+') {
		*plus = true;
		q++;
	}
	if (q != e - 1)
		return false;
	*n = v;
	return true;
}

static enum tok_result tokenize(struct xi_imap_parser *p, uint64_t *lit_n, bool *lit_plus)
{
	const char *base = p->raw;
	const char *s = base + p->tok_pos;
	const char *lend = base + p->raw_len;
	/* the segment ends with LF; CRLF or a bare LF end the line */
	lend--;
	if (lend > s && lend[-1] == '\r')
		lend--;
	const char *pos = s;
	p->tok_pos = p->raw_len;

	if (p->phase == PH_TAG) {
		const char *t = pos;
		while (pos < lend && *pos != ' ') {
			unsigned char c = (unsigned char)*pos;
			if (!is_astring_char(c) || c == '+') {
				set_error(p, c >= 0x80 ? XI_IMAP_ERR_8BIT : XI_IMAP_ERR_TAG, false, "Invalid tag");
				return TOK_ERROR;
			}
			pos++;
		}
		if (pos == t || pos - t >= (long)sizeof(p->err.tag)) {
			set_error(p, XI_IMAP_ERR_TAG, false, pos == t ? "Missing tag" : "Tag too long");
			return TOK_ERROR;
		}
		p->tag_off = arena_add(p, t, (size_t)(pos - t));
		if (p->tag_off == SIZE_MAX) {
			set_error(p, XI_IMAP_ERR_NOMEM, true, "Out of memory");
			return TOK_ERROR;
		}
		p->phase = PH_NAME;
		if (pos == lend) {
			set_error(p, XI_IMAP_ERR_COMMAND, false, "Missing command");
			return TOK_ERROR;
		}
		pos++;
	}
	/* after the tag, so the BAD can carry it */
	for (const char *q = pos; q < lend; q++) {
		if (*q == '\0') {
			set_error(p, XI_IMAP_ERR_NUL, false, "NUL byte in command");
			return TOK_ERROR;
		}
		if (*q == '\r' || *q == '\n') {
			set_error(p, XI_IMAP_ERR_SYNTAX, false, "CR or LF inside the command line");
			return TOK_ERROR;
		}
	}
	if (p->phase == PH_NAME) {
		const char *n = pos;
		while (pos < lend && *pos != ' ') {
			unsigned char c = (unsigned char)*pos;
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			      c == '-' || c == '.' || c == '_')) {
				set_error(p, XI_IMAP_ERR_COMMAND, false, "Invalid command name");
				return TOK_ERROR;
			}
			pos++;
		}
		if (pos == n) {
			set_error(p, XI_IMAP_ERR_COMMAND, false, "Missing command");
			return TOK_ERROR;
		}
		p->name_off = arena_add(p, n, (size_t)(pos - n));
		if (p->name_off == SIZE_MAX) {
			set_error(p, XI_IMAP_ERR_NOMEM, true, "Out of memory");
			return TOK_ERROR;
		}
		p->phase = PH_ARGS;
		p->need_sep = true;
		p->after_space = false;
	}

	for (;;) {
		if (pos == lend) {
			if (p->after_space) {
				set_error(p, XI_IMAP_ERR_SYNTAX, false, "Unexpected space at end of line");
				return TOK_ERROR;
			}
			if (p->depth > 0) {
				set_error(p, XI_IMAP_ERR_SYNTAX, false, "Missing ')'");
				return TOK_ERROR;
			}
			return TOK_DONE;
		}
		unsigned char c = (unsigned char)*pos;
		if (c == ')') {
			if (p->depth == 0) {
				set_error(p, XI_IMAP_ERR_SYNTAX, false, "Unexpected ')'");
				return TOK_ERROR;
			}
			if (p->after_space) {
				set_error(p, XI_IMAP_ERR_SYNTAX, false, "Unexpected space before ')'");
				return TOK_ERROR;
			}
			p->depth--;
			pos++;
			p->need_sep = true;
			continue;
		}
		if (p->need_sep) {
			if (c != ' ') {
				set_error(p, XI_IMAP_ERR_SYNTAX, false, "Missing space between arguments");
				return TOK_ERROR;
			}
			pos++;
			p->need_sep = false;
			p->after_space = true;
			continue;
		}
		if (c == ' ') {
			set_error(p, XI_IMAP_ERR_SYNTAX, false, "Unexpected space");
			return TOK_ERROR;
		}
		p->after_space = false;
		if (c == '(') {
			if (p->depth >= p->lim.max_depth) {
				set_error(p, XI_IMAP_ERR_TOO_DEEP, false, "Lists nested too deeply (limit %u)",
					  p->lim.max_depth);
				return TOK_ERROR;
			}
			int idx = new_node(p, XI_IMAP_ARG_LIST);
			if (idx < 0)
				return node_error(p, idx);
			p->stack[p->depth++] = idx;
			pos++;
			continue;
		}
		if (c == '"') {
			const char *q = ++pos;
			size_t start = p->arena_len;
			if (!reserve(&p->arena, &p->arena_cap, p->arena_len + (size_t)(lend - q) + 1)) {
				set_error(p, XI_IMAP_ERR_NOMEM, true, "Out of memory");
				return TOK_ERROR;
			}
			for (;;) {
				if (q == lend) {
					set_error(p, XI_IMAP_ERR_SYNTAX, false, "Unterminated quoted string");
					return TOK_ERROR;
				}
				if (*q == '"')
					break;
				if (*q == '\\') {
					if (q + 1 == lend || (q[1] != '"' && q[1] != '\\')) {
						set_error(p, XI_IMAP_ERR_SYNTAX, false,
							  "Invalid escape in quoted string");
						return TOK_ERROR;
					}
					q++;
				}
				p->arena[p->arena_len++] = *q++;
			}
			p->arena[p->arena_len++] = '\0';
			pos = q + 1;
			int idx = new_node(p, XI_IMAP_ARG_QUOTED);
			if (idx < 0)
				return node_error(p, idx);
			p->nodes[idx].off = start;
			p->nodes[idx].len = p->arena_len - 1 - start;
			p->need_sep = true;
			continue;
		}
		if (c == '{') {
			uint64_t n;
			bool plus;
			if (!literal_header(pos, lend, &n, &plus)) {
				set_error(p, XI_IMAP_ERR_SYNTAX, false, "Invalid literal or '{' not at end of line");
				return TOK_ERROR;
			}
			if (plus && !p->lim.literal_plus) {
				set_error(p, XI_IMAP_ERR_LITERAL_PLUS, false, "LITERAL+ is not enabled");
				*lit_n = n;
				*lit_plus = true;
				return TOK_ERROR;
			}
			if (n > p->lim.max_literal) {
				*lit_n = n;
				*lit_plus = plus;
				set_error(p, XI_IMAP_ERR_LITERAL_TOO_BIG, false,
					  "Literal too big (%llu bytes, limit %llu)", (unsigned long long)n,
					  (unsigned long long)p->lim.max_literal);
				return TOK_ERROR;
			}
			if (p->raw_len + n + 1 > p->lim.max_command) {
				*lit_n = n;
				*lit_plus = plus;
				set_error(p, XI_IMAP_ERR_COMMAND_TOO_BIG, false, "Command too big (limit %zu bytes)",
					  p->lim.max_command);
				return TOK_ERROR;
			}
			int idx = new_node(p, XI_IMAP_ARG_LITERAL);
			if (idx < 0)
				return node_error(p, idx);
			p->nodes[idx].plus = plus;
			p->nodes[idx].len = (size_t)n;
			p->lit_node = idx;
			p->need_sep = true;
			*lit_n = n;
			*lit_plus = plus;
			return TOK_LITERAL;
		}
		/* atom, NIL, flag, sequence set, search key, fetch attribute */
		const char *a = pos;
		unsigned brackets = 0;
		if (c == '\\')
			pos++;
		while (pos < lend) {
			unsigned char ch = (unsigned char)*pos;
			if (ch >= 0x80) {
				set_error(p, XI_IMAP_ERR_8BIT, false, "8-bit byte in atom");
				return TOK_ERROR;
			}
			if (brackets > 0) {
				if (ch == ']') {
					brackets--;
				} else if (ch == '[') {
					brackets++;
				} else if (ch == '"') {
					/* header names in a section may be quoted */
					pos++;
					while (pos < lend && *pos != '"') {
						if (*pos == '\\' && pos + 1 < lend)
							pos++;
						pos++;
					}
					if (pos == lend)
						break;
				} else if (ch == '{' || ch == '\\' || is_ctl(ch)) {
					set_error(p, XI_IMAP_ERR_SYNTAX, false, "Invalid character in section");
					return TOK_ERROR;
				}
				pos++;
				continue;
			}
			if (ch == ' ' || ch == '(' || ch == ')')
				break;
			if (ch == '[') {
				brackets++;
				pos++;
				continue;
			}
			if (ch == '"' || ch == '{' || (ch == '\\' && !p->lim.atom_backslash) || is_ctl(ch)) {
				set_error(p, XI_IMAP_ERR_SYNTAX, false, "Invalid character in atom");
				return TOK_ERROR;
			}
			pos++;
		}
		if (brackets > 0) {
			set_error(p, XI_IMAP_ERR_SYNTAX, false, "Missing ']'");
			return TOK_ERROR;
		}
		size_t alen = (size_t)(pos - a);
		if (alen == 0 || (alen == 1 && c == '\\')) {
			set_error(p, XI_IMAP_ERR_SYNTAX, false, "Empty atom");
			return TOK_ERROR;
		}
		bool nil = alen == 3 && strncasecmp(a, "NIL", 3) == 0;
		int idx = new_node(p, nil ? XI_IMAP_ARG_NIL : XI_IMAP_ARG_ATOM);
		if (idx < 0)
			return node_error(p, idx);
		size_t off = arena_add(p, a, alen);
		if (off == SIZE_MAX) {
			set_error(p, XI_IMAP_ERR_NOMEM, true, "Out of memory");
			return TOK_ERROR;
		}
		p->nodes[idx].off = off;
		p->nodes[idx].len = alen;
		p->need_sep = true;
	}
}

static const struct xi_imap_arg *arg_at(const struct xi_imap_parser *p, int idx)
{
	return idx >= 0 ? &p->args[idx] : NULL;
}

static bool finalize(struct xi_imap_parser *p)
{
	if (p->nnodes > 0) {
		p->args = calloc(p->nnodes, sizeof(*p->args));
		if (p->args == NULL)
			return false;
	}
	for (unsigned i = 0; i < p->nnodes; i++) {
		const struct node *n = &p->nodes[i];
		struct xi_imap_arg *a = &p->args[i];
		a->type = n->type;
		a->len = n->len;
		a->literal_plus = n->plus;
		if (n->type == XI_IMAP_ARG_ATOM || n->type == XI_IMAP_ARG_QUOTED)
			a->str = p->arena + n->off;
		else if (n->type == XI_IMAP_ARG_LITERAL)
			a->str = p->raw + n->off;
		else if (n->type == XI_IMAP_ARG_NIL)
			a->str = "NIL";
		a->count = n->count;
	}
	for (unsigned i = 0; i < p->nnodes; i++) {
		p->args[i].list = arg_at(p, p->nodes[i].first);
		p->args[i].next = arg_at(p, p->nodes[i].next);
	}
	p->cmd.tag = p->arena + p->tag_off;
	p->cmd.name = p->arena + p->name_off;
	p->cmd.args = arg_at(p, p->top_first);
	p->cmd.argc = p->argc;
	return true;
}

/* After an error at the end of a line that announced a literal: the data of
 * a LITERAL+ literal follows anyway and is discarded (or, beyond the
 * literal limit, cannot be waited out: fatal); a synchronizing literal is
 * never sent by the client without our "+". */
static void skip_announced(struct xi_imap_parser *p, uint64_t n, bool plus)
{
	if (p->state == ST_FATAL)
		return;
	if (!plus) {
		p->state = ST_LINE;
		return;
	}
	if (n > p->lim.max_literal) {
		p->err.fatal = true;
		snprintf(p->err.text, sizeof(p->err.text),
			 "Literal too big (%llu bytes, limit %llu): closing the connection",
			 (unsigned long long)n, (unsigned long long)p->lim.max_literal);
		p->state = ST_FATAL;
		return;
	}
	p->lit_left = n;
	p->state = n > 0 ? ST_SKIP_LITERAL : ST_SKIP_LINE;
}

/* The literal announced at the end of a skipped line, from its tail. */
static bool tail_literal(const struct xi_imap_parser *p, uint64_t *n, bool *plus)
{
	const char *e = p->tail + p->tail_len;
	if (e > p->tail && e[-1] == '\r')
		e--;
	const char *s = e;
	while (s > p->tail && s[-1] != '{')
		s--;
	if (s == p->tail)
		return false;
	return literal_header(s - 1, e, n, plus);
}

static void tail_add(struct xi_imap_parser *p, const char *d, size_t n)
{
	if (n >= sizeof(p->tail)) {
		memcpy(p->tail, d + n - sizeof(p->tail), sizeof(p->tail));
		p->tail_len = sizeof(p->tail);
		return;
	}
	if (p->tail_len + n > sizeof(p->tail)) {
		size_t drop = p->tail_len + n - sizeof(p->tail);
		memmove(p->tail, p->tail + drop, p->tail_len - drop);
		p->tail_len -= drop;
	}
	memcpy(p->tail + p->tail_len, d, n);
	p->tail_len += n;
}

void xi_imap_parser_release(struct xi_imap_parser *p)
{
	if (!p->reset_due)
		return; /* a command is still being read: its bytes are needed */
	reset_command(p);
	p->reset_due = false;
	memset(&p->err, 0, sizeof(p->err));
}

enum xi_imap_feed xi_imap_parser_feed(struct xi_imap_parser *p, const char *data, size_t len,
				      size_t *consumed)
{
	size_t i = 0;
	*consumed = 0;
	if (p->state == ST_FATAL)
		return XI_IMAP_ERROR;
	if (p->reset_due) {
		reset_command(p);
		p->reset_due = false;
		memset(&p->err, 0, sizeof(p->err));
	}

	while (i < len) {
		switch (p->state) {
		case ST_LINE: {
			const char *lf = memchr(data + i, '\n', len - i);
			size_t chunk = lf != NULL ? (size_t)(lf - (data + i)) + 1 : len - i;
			if (p->line_bytes + chunk > p->lim.max_line || p->raw_len + chunk > p->lim.max_command) {
				bool line = p->line_bytes + chunk > p->lim.max_line;
				/* keep what fits: the tag may be in it */
				size_t fits = line ? p->lim.max_line - p->line_bytes : 0;
				if (p->raw_len + fits > p->lim.max_command)
					fits = 0;
				if (fits > 0 && raw_append(p, data + i, fits)) {
					p->line_bytes += fits;
					i += fits;
				}
				/* the tag, for the BAD, if the line has one so far */
				if (p->phase == PH_TAG) {
					size_t tl = 0;
					while (tl < p->raw_len && tl < sizeof(p->err.tag) - 1 &&
					       is_astring_char((unsigned char)p->raw[tl]) && p->raw[tl] != '+')
						tl++;
					if (tl > 0 && tl < p->raw_len && p->raw[tl] == ' ' &&
					    (p->tag_off = arena_add(p, p->raw, tl)) != SIZE_MAX)
						p->phase = PH_NAME;
				}
				p->state = ST_SKIP_LINE;
				p->tail_len = 0;
				*consumed = i;
				return line ? set_error(p, XI_IMAP_ERR_LINE_TOO_LONG, false,
							"Command line too long (limit %zu bytes)", p->lim.max_line)
					    : set_error(p, XI_IMAP_ERR_COMMAND_TOO_BIG, false,
							"Command too big (limit %zu bytes)", p->lim.max_command);
			}
			if (!raw_append(p, data + i, chunk)) {
				*consumed = i;
				return set_error(p, XI_IMAP_ERR_NOMEM, true, "Out of memory");
			}
			p->line_bytes += chunk;
			i += chunk;
			if (lf == NULL)
				break;
			uint64_t n = 0;
			bool plus = false;
			enum tok_result r = tokenize(p, &n, &plus);
			*consumed = i;
			if (r == TOK_ERROR) {
				/* An error before the end of the line: the line may
				 * still end in a literal announcement whose LITERAL+
				 * data follows, and that data must not be read as
				 * commands (e.g. APPEND with literal8 "~{n+}"). */
				if (n == 0 && !plus && p->state != ST_FATAL) {
					size_t keep = p->raw_len < sizeof(p->tail) ? p->raw_len
										   : sizeof(p->tail);
					memcpy(p->tail, p->raw + p->raw_len - keep, keep);
					p->tail_len = keep;
					if (p->tail_len > 0 && p->tail[p->tail_len - 1] == '\n')
						p->tail_len--;
					if (!tail_literal(p, &n, &plus))
						n = 0, plus = false;
					/* the line may hold a password (LOGIN) */
					explicit_bzero(p->tail, sizeof(p->tail));
					p->tail_len = 0;
				}
				if (n > 0 || plus)
					skip_announced(p, n, plus);
				else if (p->state != ST_FATAL)
					p->state = ST_LINE;
				return XI_IMAP_ERROR;
			}
			if (r == TOK_DONE) {
				if (!finalize(p))
					return set_error(p, XI_IMAP_ERR_NOMEM, true, "Out of memory");
				p->reset_due = true;
				return XI_IMAP_COMMAND;
			}
			/* TOK_LITERAL: room for the bytes and our NUL, now */
			if (!reserve(&p->raw, &p->raw_cap, p->raw_len + (size_t)n + 1))
				return set_error(p, XI_IMAP_ERR_NOMEM, true, "Out of memory");
			p->nodes[p->lit_node].off = p->raw_len;
			p->lit_left = n;
			p->state = ST_LITERAL;
			if (!plus)
				return XI_IMAP_CONTINUE;
			if (n == 0)
				continue;
			break;
		}
		case ST_LITERAL:
		case ST_SKIP_LITERAL: {
			size_t take = len - i;
			if ((uint64_t)take > p->lit_left)
				take = (size_t)p->lit_left;
			if (p->state == ST_LITERAL)
				raw_append(p, data + i, take); /* reserved: cannot fail */
			i += take;
			p->lit_left -= take;
			if (p->lit_left > 0)
				break;
			if (p->state == ST_SKIP_LITERAL) {
				p->state = ST_SKIP_LINE;
				p->tail_len = 0;
				break;
			}
			const struct node *lit = &p->nodes[p->lit_node];
			bool nul = memchr(p->raw + lit->off, '\0', lit->len) != NULL;
			p->raw[p->raw_len++] = '\0';
			p->tok_pos = p->raw_len;
			p->state = ST_LINE;
			if (nul) {
				p->state = ST_SKIP_LINE;
				p->tail_len = 0;
				*consumed = i;
				return set_error(p, XI_IMAP_ERR_NUL, false, "NUL byte in literal");
			}
			break;
		}
		case ST_SKIP_LINE: {
			const char *lf = memchr(data + i, '\n', len - i);
			size_t chunk = lf != NULL ? (size_t)(lf - (data + i)) + 1 : len - i;
			tail_add(p, data + i, lf != NULL ? chunk - 1 : chunk);
			i += chunk;
			if (lf == NULL)
				break;
			uint64_t n;
			bool plus;
			if (tail_literal(p, &n, &plus) && plus) {
				if (n > p->lim.max_literal) {
					*consumed = i;
					return set_error(p, XI_IMAP_ERR_LITERAL_TOO_BIG, true,
							 "Literal too big (%llu bytes) in a discarded command: "
							 "closing the connection", (unsigned long long)n);
				}
				p->lit_left = n;
				p->state = ST_SKIP_LITERAL;
				p->tail_len = 0;
				break;
			}
			p->state = ST_LINE;
			p->tail_len = 0;
			reset_command(p);
			break;
		}
		case ST_FATAL:
			*consumed = i;
			return XI_IMAP_ERROR;
		}
	}
	*consumed = i;
	return XI_IMAP_NEED_MORE;
}

/* ------------------------------------------------------------ sequence sets */

static bool seq_number(const char **s, const char *e, uint32_t *v)
{
	if (*s < e && **s == '*') {
		(*s)++;
		*v = XI_IMAP_SEQ_STAR;
		return true;
	}
	if (*s >= e || **s < '1' || **s > '9')
		return false; /* nz-number: no 0, no leading zero */
	uint64_t n = 0;
	while (*s < e && **s >= '0' && **s <= '9') {
		n = n * 10 + (uint64_t)(**s - '0');
		if (n > 4294967295u)
			return false;
		(*s)++;
	}
	if (n == XI_IMAP_SEQ_STAR)
		return false; /* 2^32-1 would read as "*" */
	*v = (uint32_t)n;
	return true;
}

int xi_imap_seqset_parse(const char *s, size_t len, struct xi_imap_seq_range *out, unsigned max)
{
	const char *e = s + len;
	unsigned count = 0;
	if (len == 0)
		return -1;
	while (s < e) {
		uint32_t lo, hi;
		if (!seq_number(&s, e, &lo))
			return -1;
		hi = lo;
		if (s < e && *s == ':') {
			s++;
			if (!seq_number(&s, e, &hi))
				return -1;
		}
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		/* merge with the previous range when they touch (no "*") */
		if (count > 0 && hi != XI_IMAP_SEQ_STAR && out[count - 1].hi != XI_IMAP_SEQ_STAR &&
		    lo <= out[count - 1].hi + 1 && hi + 1 >= out[count - 1].lo) {
			if (lo < out[count - 1].lo)
				out[count - 1].lo = lo;
			if (hi > out[count - 1].hi)
				out[count - 1].hi = hi;
		} else {
			if (count >= max)
				return -1;
			out[count].lo = lo;
			out[count].hi = hi;
			count++;
		}
		if (s < e) {
			if (*s != ',' || s + 1 == e)
				return -1;
			s++;
		}
	}
	return (int)count;
}

bool xi_imap_seq_range_resolve(const struct xi_imap_seq_range *r, uint32_t largest, uint32_t *lo,
			       uint32_t *hi)
{
	if (largest == 0)
		return false;
	uint32_t a = r->lo == XI_IMAP_SEQ_STAR ? largest : r->lo;
	uint32_t b = r->hi == XI_IMAP_SEQ_STAR ? largest : r->hi;
	*lo = a < b ? a : b;
	*hi = a < b ? b : a;
	return true;
}

/* ------------------------------------------------------------ responses */

struct out {
	char *p;
	size_t cap, len;
};

static void out_add(struct out *o, const char *d, size_t n)
{
	if (o->len < o->cap) {
		size_t room = o->cap - o->len - 1;
		memcpy(o->p + o->len, d, n < room ? n : room);
		o->p[o->len + (n < room ? n : room)] = '\0';
	}
	o->len += n;
}

static void out_addc(struct out *o, char c)
{
	out_add(o, &c, 1);
}

size_t xi_imap_write_string(char *buf, size_t cap, const char *s, size_t len)
{
	struct out o = {buf, cap, 0};
	bool literal = false;
	if (cap > 0)
		buf[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80)
			literal = true;
	}
	if (literal) {
		char head[32];
		int n = snprintf(head, sizeof(head), "{%zu}\r\n", len);
		out_add(&o, head, (size_t)n);
		out_add(&o, s, len);
		return o.len;
	}
	out_addc(&o, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			out_addc(&o, '\\');
		out_addc(&o, s[i]);
	}
	out_addc(&o, '"');
	return o.len;
}

size_t xi_imap_write_nstring(char *buf, size_t cap, const char *s, size_t len)
{
	if (s == NULL) {
		struct out o = {buf, cap, 0};
		if (cap > 0)
			buf[0] = '\0';
		out_add(&o, "NIL", 3);
		return o.len;
	}
	return xi_imap_write_string(buf, cap, s, len);
}

/* ------------------------------------------------------------ modified UTF-7 */

static const char mb64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* Next code point of UTF-8 at *i; -1 when invalid. */
static long utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	size_t k;
	uint32_t cp, min;
	if (c < 0x80) {
		(*i)++;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		k = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		k = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else {
		return -1;
	}
	if (*i + k >= len)
		return -1;
	for (size_t j = 1; j <= k; j++) {
		if ((s[*i + j] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[*i + j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += k + 1;
	return (long)cp;
}

static void put_utf8(struct out *o, uint32_t cp)
{
	char b[4];
	if (cp < 0x80) {
		b[0] = (char)cp;
		out_add(o, b, 1);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		out_add(o, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		out_add(o, b, 3);
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		out_add(o, b, 4);
	}
}

long xi_imap_mutf7_encode(const char *utf8, size_t len, char *buf, size_t cap)
{
	const unsigned char *s = (const unsigned char *)utf8;
	struct out o = {buf, cap, 0};
	size_t i = 0;
	if (cap > 0)
		buf[0] = '\0';
	while (i < len) {
		if (s[i] >= 0x20 && s[i] <= 0x7e) {
			if (s[i] == '&')
				out_add(&o, "&-", 2);
			else
				out_addc(&o, (char)s[i]);
			i++;
			continue;
		}
		/* a run of characters outside printable ASCII, as UTF-16 in base64 */
		out_addc(&o, '&');
		uint32_t acc = 0;
		unsigned bits = 0;
		while (i < len && !(s[i] >= 0x20 && s[i] <= 0x7e)) {
			long cp = utf8_next(s, len, &i);
			if (cp < 0)
				return -1;
			uint16_t units[2];
			int nu = 1;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = (uint16_t)(0xd800 | (cp >> 10));
				units[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
				nu = 2;
			} else {
				units[0] = (uint16_t)cp;
			}
			for (int u = 0; u < nu; u++) {
				acc = (acc << 16) | units[u];
				bits += 16;
				while (bits >= 6) {
					bits -= 6;
					out_addc(&o, mb64[(acc >> bits) & 0x3f]);
				}
				acc &= (1u << bits) - 1;
			}
		}
		if (bits > 0)
			out_addc(&o, mb64[(acc << (6 - bits)) & 0x3f]);
		out_addc(&o, '-');
	}
	return (long)o.len;
}

static int mb64_val(unsigned char c)
{
	const char *p = c != 0 ? strchr(mb64, c) : NULL;
	return p != NULL ? (int)(p - mb64) : -1;
}

long xi_imap_mutf7_decode(const char *in, size_t len, char *buf, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	struct out o = {buf, cap, 0};
	size_t i = 0;
	bool prev_shift = false;
	if (cap > 0)
		buf[0] = '\0';
	while (i < len) {
		unsigned char c = s[i];
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			out_addc(&o, (char)c);
			i++;
			prev_shift = false;
			continue;
		}
		i++;
		if (i < len && s[i] == '-') {
			out_addc(&o, '&');
			i++;
			prev_shift = false;
			continue;
		}
		if (prev_shift)
			return -1; /* "&AGE-&AGE-" must be one shift */
		uint32_t acc = 0;
		unsigned bits = 0;
		uint32_t high = 0; /* pending high surrogate */
		size_t start = i;
		while (i < len && s[i] != '-') {
			int v = mb64_val(s[i]);
			if (v < 0)
				return -1;
			acc = (acc << 6) | (uint32_t)v;
			bits += 6;
			if (bits >= 16) {
				bits -= 16;
				uint32_t unit = (acc >> bits) & 0xffff;
				acc &= (1u << bits) - 1;
				if (high != 0) {
					if (unit < 0xdc00 || unit > 0xdfff)
						return -1;
					put_utf8(&o, 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
					high = 0;
				} else if (unit >= 0xd800 && unit <= 0xdbff) {
					high = unit;
				} else if (unit >= 0xdc00 && unit <= 0xdfff) {
					return -1;
				} else if (unit >= 0x20 && unit <= 0x7e) {
					return -1; /* printable ASCII must not be encoded */
				} else {
					put_utf8(&o, unit);
				}
			}
			i++;
		}
		if (i == len || i == start || high != 0 || bits >= 6 || acc != 0)
			return -1; /* unterminated, empty, half a pair, bad padding */
		i++;
		prev_shift = true;
	}
	return (long)o.len;
}

/* ------------------------------------------------------------ command shapes */

static bool is_string(const struct xi_imap_arg *a)
{
	return a->type == XI_IMAP_ARG_QUOTED || a->type == XI_IMAP_ARG_LITERAL;
}

/* RFC 2971: "(" string SP nstring *(SP string SP nstring) ")" / NIL. */
static bool id_params_ok(const struct xi_imap_arg *a)
{
	if (a->type == XI_IMAP_ARG_NIL)
		return true;
	if (a->type != XI_IMAP_ARG_LIST || a->count == 0 || a->count % 2 != 0)
		return false;
	for (const struct xi_imap_arg *k = a->list; k != NULL; k = k->next->next) {
		const struct xi_imap_arg *v = k->next;
		if (!is_string(k) || !(is_string(v) || v->type == XI_IMAP_ARG_NIL))
			return false;
	}
	return true;
}

const char *xi_imap_command_shape_error(const struct xi_imap_command *cmd)
{
	static const char *const bare[] = { "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK",
					    "CLOSE", "UNSELECT", "EXPUNGE", "NAMESPACE", "IDLE" };
	const char *name = cmd->name;

	for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++)
		if (strcasecmp(name, bare[i]) == 0)
			return cmd->argc == 0 ? NULL : "Unexpected arguments.";
	if (strcasecmp(name, "ENABLE") == 0) {
		if (cmd->argc == 0)
			return "ENABLE needs at least one capability name.";
		for (const struct xi_imap_arg *a = cmd->args; a != NULL; a = a->next)
			if (a->type != XI_IMAP_ARG_ATOM)
				return "ENABLE takes capability names (atoms).";
		return NULL;
	}
	if (strcasecmp(name, "ID") == 0) {
		if (cmd->argc != 1 || !id_params_ok(cmd->args))
			return "ID needs NIL or a parenthesised list of field/value pairs.";
		return NULL;
	}
	return NULL;
}
