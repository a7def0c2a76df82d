/*
 * mime.c: our own MIME parser, not GMime.
 *
 * Why not GMime (libgmime-3.0): the two criteria are bounded memory and
 * Dovecot's exact output.  GMime builds a full object tree with copied,
 * decoded headers and GObject overhead per part, and its job is to repair
 * and normalise messages (it unquotes, re-folds, decodes parameters and
 * resolves RFC 2231 into values), while an IMAP server must reproduce the
 * raw header text exactly as Dovecot does: RFC 2231 continuations joined
 * but left encoded, "name*" keys, comments dropped only where Dovecot drops
 * them, Dovecot's boundary rules (prefix match, the newline before a
 * boundary belongs to the boundary, outer boundaries close inner parts),
 * Content-* ignored without MIME-Version or Content-Type.  Undoing GMime's
 * normalisation would be more code than this parser, and its memory would
 * still grow with the message.  Here the parse is one array of parts of
 * slices into the caller's buffer, bounded by xi_mime_limits; strings are
 * produced only when written, into bounded buffers.
 */
#define _GNU_SOURCE
#include "mime.h"
#include "unicode.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct slice {
	const char *p;
	size_t len;
};

enum part_flag {
	PF_MULTIPART = 1u << 0,
	PF_RFC822 = 1u << 1,
	PF_TEXT = 1u << 2,
	PF_IS_MIME = 1u << 3,
	PF_DIGEST = 1u << 4,
	PF_MULTIPART_NB = 1u << 5, /* multipart type without a boundary: no children */
};

enum env_field {
	ENV_DATE, ENV_SUBJECT, ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO, ENV_CC, ENV_BCC,
	ENV_IN_REPLY_TO, ENV_MESSAGE_ID, ENV_COUNT
};
static const char *const env_names[ENV_COUNT] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-ID",
};

enum content_field {
	CF_TYPE, CF_TRANSFER_ENCODING, CF_ID, CF_DESCRIPTION, CF_DISPOSITION, CF_MD5,
	CF_LANGUAGE, CF_LOCATION, CF_COUNT
};
static const char *const content_names[CF_COUNT] = {
	"Type", "Transfer-Encoding", "ID", "Description", "Disposition", "MD5", "Language", "Location",
};

struct part {
	size_t hdr_start, body_start, body_end;
	unsigned flags;
	int parent, first_child, last_child, next;
	struct slice content[CF_COUNT];
	bool has[CF_COUNT];
	struct slice env[ENV_COUNT]; /* for a message's root part */
	bool env_has[ENV_COUNT];
	unsigned env_count[ENV_COUNT]; /* occurrences: address fields join them all */
	uint64_t body_vsize;
	unsigned body_lines;
};

struct xi_mime {
	const char *msg;
	size_t len;
	struct xi_mime_limits limits;
	struct part *parts;
	unsigned count, cap;
};

/* ------------------------------------------------------------ strings */

void xi_mime_str_init(struct xi_mime_str *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

void xi_mime_str_free(struct xi_mime_str *s)
{
	free(s->data);
	memset(s, 0, sizeof(*s));
}

static void str_add(struct xi_mime_str *s, const void *data, size_t n)
{
	if (s->overflow)
		return;
	if (n > s->max || s->len > s->max - n) {
		s->overflow = true;
		return;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 128;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *p = realloc(s->data, cap);
		if (p == NULL) {
			s->overflow = true;
			return;
		}
		s->data = p;
		s->cap = cap;
	}
	if (n > 0)
		memcpy(s->data + s->len, data, n);
	s->len += n;
	s->data[s->len] = '\0';
}

void xi_mime_str_add(struct xi_mime_str *s, const void *data, size_t n)
{
	str_add(s, data, n);
}

static void str_adds(struct xi_mime_str *s, const char *text)
{
	str_add(s, text, strlen(text));
}

static void str_addc(struct xi_mime_str *s, char c)
{
	str_add(s, &c, 1);
}

static void str_addu(struct xi_mime_str *s, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	str_add(s, buf, (size_t)n);
}

/* Dovecot's choice between a quoted string and a literal: a literal for
 * CR, LF, NUL, 8-bit bytes or more than four characters to escape. */
static void imap_string(struct xi_mime_str *s, const char *p, size_t n)
{
	unsigned escapes = 0;
	bool literal = false;

	for (size_t i = 0; i < n && !literal; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '"' || c == '\\') {
			if (escapes++ >= 4)
				literal = true;
		} else if (c == '\r' || c == '\n' || c == '\0' || c >= 0x80) {
			literal = true;
		}
	}
	if (literal) {
		str_addc(s, '{');
		str_addu(s, n);
		str_adds(s, "}\r\n");
		str_add(s, p, n);
		return;
	}
	str_addc(s, '"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			str_addc(s, '\\');
		str_addc(s, p[i]);
	}
	str_addc(s, '"');
}

/* An nstring of a header value with its line breaks removed, the way
 * Dovecot unfolds Date, Message-ID, Content-Description...: a CR or LF
 * disappears, or becomes a space when the next character is not blank. */
static void imap_nstring_nolf(struct xi_mime_str *s, const struct slice *v, bool present)
{
	if (!present) {
		str_adds(s, "NIL");
		return;
	}
	struct xi_mime_str tmp;
	xi_mime_str_init(&tmp, v->len + 1);
	str_add(&tmp, "", 0);
	for (size_t i = 0; i < v->len; i++) {
		char c = v->p[i];
		if (c != '\r' && c != '\n') {
			str_addc(&tmp, c);
			continue;
		}
		char next = i + 1 < v->len ? v->p[i + 1] : '\0';
		if (next != ' ' && next != '\t' && next != '\r' && next != '\n' && next != '\0')
			str_addc(&tmp, ' ');
	}
	if (tmp.overflow)
		s->overflow = true;
	else
		imap_string(s, tmp.data, tmp.len);
	xi_mime_str_free(&tmp);
}

/* Free text for people (ENVELOPE subject and display names), as Dovecot
 * writes it: runs of blanks and line breaks become one space, leading and
 * trailing ones go; anything that needed changing, a quote, a backslash, a
 * NUL (sent as 0x80) or an 8-bit byte makes it a literal. */
static void imap_string_for_humans(struct xi_mime_str *s, const char *p, size_t n)
{
	bool modify = false, last_lwsp = true, prefix = true;
	size_t removed = 0, i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		switch (c) {
		case '\0':
			last_lwsp = false;
			modify = true;
			break;
		case '\r':
		case '\n':
		case '\t':
			modify = true;
			/* fall through */
		case ' ':
			if (last_lwsp) {
				modify = true;
				removed++;
			}
			last_lwsp = true;
			break;
		case '"':
		case '\\':
			modify = true;
			last_lwsp = false;
			break;
		default:
			if (c >= 0x80)
				modify = true;
			last_lwsp = false;
			break;
		}
		if (!last_lwsp)
			prefix = false;
	}
	if (last_lwsp && n > 0 && !prefix) {
		modify = true;
		removed++;
	}
	if (!modify) {
		str_addc(s, '"');
		str_add(s, p, n);
		str_addc(s, '"');
		return;
	}
	if (n == removed) {
		str_adds(s, "\"\"");
		return;
	}
	str_addc(s, '{');
	str_addu(s, n - removed);
	str_adds(s, "}\r\n");
	size_t start = s->len;
	last_lwsp = true;
	prefix = true;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\0') {
			str_addc(s, (char)0x80);
			last_lwsp = false;
		} else if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
			if (!last_lwsp)
				str_addc(s, ' ');
			last_lwsp = true;
		} else {
			last_lwsp = false;
			str_addc(s, (char)c);
		}
		if (!last_lwsp)
			prefix = false;
	}
	if (last_lwsp && n > 0 && !prefix && !s->overflow && s->len > start) {
		s->len--;
		s->data[s->len] = '\0';
	}
}

/* ------------------------------------------------------------ lines */

/* End of the line starting at pos: the index after its LF, or len. */
static size_t line_end(const char *msg, size_t len, size_t pos)
{
	const char *lf = memchr(msg + pos, '\n', len - pos);
	return lf != NULL ? (size_t)(lf - msg) + 1 : len;
}

static void count_body(const char *p, size_t n, uint64_t *vsize, unsigned *lines)
{
	uint64_t v = n;
	unsigned l = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			l++;
			if (i == 0 || p[i - 1] != '\r')
				v++;
		}
	}
	*vsize = v;
	*lines = l;
}

/* ------------------------------------------------------------ headers */

struct header {
	struct slice name, value;
};

/* Reads the header at *pos of [*pos, end); 0 at the blank line or end
 * (then *pos is the body start), 1 with h filled. */
static int next_header(const char *msg, size_t end, size_t *pos, struct header *h)
{
	size_t p = *pos;

	if (p >= end)
		return 0;
	if (msg[p] == '\n') {
		*pos = p + 1;
		return 0;
	}
	if (msg[p] == '\r' && p + 1 < end && msg[p + 1] == '\n') {
		*pos = p + 2;
		return 0;
	}
	size_t e = line_end(msg, end, p);
	while (e < end && (msg[e] == ' ' || msg[e] == '\t'))
		e = line_end(msg, end, e);
	*pos = e;

	size_t vend = e;
	if (vend > p && msg[vend - 1] == '\n')
		vend--;
	if (vend > p && msg[vend - 1] == '\r')
		vend--;
	const char *colon = memchr(msg + p, ':', vend - p);
	if (colon == NULL) {
		h->name = (struct slice){msg + p, vend - p};
		h->value = (struct slice){msg + vend, 0};
		return 1;
	}
	size_t nlen = (size_t)(colon - (msg + p));
	while (nlen > 0 && (msg[p + nlen - 1] == ' ' || msg[p + nlen - 1] == '\t'))
		nlen--;
	h->name = (struct slice){msg + p, nlen};
	size_t v = (size_t)(colon - msg) + 1;
	while (v < vend && (msg[v] == ' ' || msg[v] == '\t'))
		v++;
	h->value = (struct slice){msg + v, vend - v};
	return 1;
}

static bool slice_is(const struct slice *s, const char *name)
{
	return strlen(name) == s->len && strncasecmp(s->p, name, s->len) == 0;
}

/* ------------------------------------------------------------ RFC 822 tokens */

struct lexer {
	const char *p, *end;
	struct slice comment; /* the last comment skipped (without parens) */
};

static void skip_cfws(struct lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			lx->p++;
		} else if (c == '(') {
			const char *start = ++lx->p;
			int depth = 1;
			while (lx->p < lx->end && depth > 0) {
				if (*lx->p == '\\' && lx->p + 1 < lx->end)
					lx->p++;
				else if (*lx->p == '(')
					depth++;
				else if (*lx->p == ')')
					depth--;
				lx->p++;
			}
			lx->comment = (struct slice){start, (size_t)(lx->p - start) - (depth == 0)};
		} else {
			break;
		}
	}
}

static bool is_atext(unsigned char c)
{
	if (c <= ' ' || c == 0x7f)
		return false;
	return strchr("()<>[]:;@\\,.\"", c) == NULL;
}

static bool is_token_char(unsigned char c)
{
	if (c <= ' ' || c == 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* A MIME token (RFC 2045). */
static bool lex_token(struct lexer *lx, struct slice *out)
{
	const char *s = lx->p;
	while (lx->p < lx->end && is_token_char((unsigned char)*lx->p))
		lx->p++;
	*out = (struct slice){s, (size_t)(lx->p - s)};
	return out->len > 0;
}

/* A quoted string, unescaped into out. */
static bool lex_quoted(struct lexer *lx, struct xi_mime_str *out)
{
	if (lx->p >= lx->end || *lx->p != '"')
		return false;
	const char *start = lx->p;
	size_t keep = out->len;
	lx->p++;
	while (lx->p < lx->end && *lx->p != '"') {
		if (*lx->p == '\\' && lx->p + 1 < lx->end)
			lx->p++;
		if (*lx->p != '\r' && *lx->p != '\n')
			str_addc(out, *lx->p);
		lx->p++;
	}
	if (lx->p >= lx->end) {
		/* unterminated: nothing read (Dovecot fails the word) */
		lx->p = start;
		if (!out->overflow && out->data != NULL) {
			out->len = keep;
			out->data[keep] = '\0';
		}
		return false;
	}
	lx->p++;
	return true;
}

/* ------------------------------------------------------------ parameters */

struct param {
	struct xi_mime_str name, value;
};

#define MAX_PARAMS 64

/* On the heap: parts nest (BODYSTRUCTURE is written recursively), so
 * nothing large may live in those stack frames. */
struct params {
	struct param *v; /* MAX_PARAMS entries once the first is added */
	unsigned count;
};

static void params_free(struct params *ps)
{
	for (unsigned i = 0; i < ps->count; i++) {
		xi_mime_str_free(&ps->v[i].name);
		xi_mime_str_free(&ps->v[i].value);
	}
	free(ps->v);
	ps->v = NULL;
	ps->count = 0;
}

struct raw_param {
	struct slice key;     /* without the RFC 2231 suffix */
	unsigned index;       /* UINT32_MAX: no section number */
	bool rfc2231, extended;
	struct xi_mime_str value;
};

static int raw_param_cmp(const void *a, const void *b)
{
	const struct raw_param *x = a, *y = b;
	size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = strncasecmp(x->key.p, y->key.p, n);
	if (c != 0)
		return c;
	if (x->key.len != y->key.len)
		return x->key.len < y->key.len ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static void param_add(struct params *ps, const char *name, size_t nlen, const char *val, size_t vlen)
{
	if (ps->count >= MAX_PARAMS)
		return;
	if (ps->v == NULL && (ps->v = calloc(MAX_PARAMS, sizeof(*ps->v))) == NULL)
		return;
	struct param *p = &ps->v[ps->count];
	xi_mime_str_init(&p->name, 64 * 1024);
	xi_mime_str_init(&p->value, 64 * 1024);
	str_add(&p->name, name, nlen);
	str_add(&p->value, val, vlen);
	if (p->name.overflow || p->value.overflow || p->name.data == NULL || p->value.data == NULL) {
		/* too long to keep (or no memory): the parameter is dropped */
		xi_mime_str_free(&p->name);
		xi_mime_str_free(&p->value);
		return;
	}
	ps->count++;
}

/* `; key=value` pairs after a content type or disposition, RFC 2231
 * sections joined (left encoded, key given a trailing '*' when a section
 * was extended) and placed after the plain parameters. */
static void parse_params(struct lexer *lx, struct params *out)
{
	struct raw_param raw[MAX_PARAMS];
	unsigned nraw = 0;

	out->count = 0;
	out->v = NULL;
	for (;;) {
		skip_cfws(lx);
		if (lx->p >= lx->end || *lx->p != ';')
			break;
		lx->p++;
		skip_cfws(lx);
		struct slice key;
		if (!lex_token(lx, &key))
			break;
		skip_cfws(lx);
		if (lx->p >= lx->end || *lx->p != '=')
			break;
		lx->p++;
		skip_cfws(lx);
		if (nraw >= MAX_PARAMS)
			break;
		struct raw_param *r = &raw[nraw];
		memset(r, 0, sizeof(*r));
		xi_mime_str_init(&r->value, 64 * 1024);
		str_add(&r->value, "", 0);
		struct slice tok;
		if (lx->p < lx->end && *lx->p == '"') {
			lex_quoted(lx, &r->value);
		} else if (lex_token(lx, &tok)) {
			str_add(&r->value, tok.p, tok.len);
		} else {
			xi_mime_str_free(&r->value);
			break;
		}
		nraw++;
		r->key = key;
		r->index = UINT32_MAX;
		const char *star = memchr(key.p, '*', key.len);
		if (star != NULL) {
			/* name*  name*N  name*N*  (RFC 2231 section 3 and 4) */
			const char *q = star + 1, *kend = key.p + key.len;
			unsigned idx = 0;
			bool numbered = false, ext = false, ok;
			if (q == kend) {
				ext = true;
				ok = true;
			} else {
				while (q < kend && *q >= '0' && *q <= '9' && idx < 100000) {
					idx = idx * 10 + (unsigned)(*q - '0');
					q++;
					numbered = true;
				}
				if (q < kend && *q == '*') {
					ext = true;
					q++;
				}
				ok = numbered && q == kend;
			}
			if (ok) {
				r->rfc2231 = true;
				r->extended = ext;
				r->index = numbered ? idx : UINT32_MAX;
				r->key.len = (size_t)(star - key.p);
			}
		}
	}

	/* plain parameters first, in order */
	for (unsigned i = 0; i < nraw; i++)
		if (!raw[i].rfc2231)
			param_add(out, raw[i].key.p, raw[i].key.len, raw[i].value.data, raw[i].value.len);

	struct raw_param sorted[MAX_PARAMS];
	unsigned ns = 0;
	for (unsigned i = 0; i < nraw; i++)
		if (raw[i].rfc2231)
			sorted[ns++] = raw[i];
	qsort(sorted, ns, sizeof(sorted[0]), raw_param_cmp);
	for (unsigned i = 0; i < ns;) {
		struct raw_param *r = &sorted[i];
		char name[1100];
		if (r->index == UINT32_MAX) {
			int n = snprintf(name, sizeof(name), "%.*s*", (int)(r->key.len > 1024 ? 1024 : r->key.len), r->key.p);
			param_add(out, name, (size_t)n, r->value.data, r->value.len);
			i++;
			continue;
		}
		/* the sections of one name: joined when they run 0, 1, 2...
		 * without a gap, else each kept under its own "name*N" */
		unsigned j = i;
		bool contiguous = true;
		while (j < ns && sorted[j].key.len == r->key.len &&
		       strncasecmp(sorted[j].key.p, r->key.p, r->key.len) == 0) {
			if (sorted[j].index != j - i)
				contiguous = false;
			j++;
		}
		int klen = (int)(r->key.len > 1024 ? 1024 : r->key.len);
		if (!contiguous) {
			for (unsigned k = i; k < j; k++) {
				int n;
				if (sorted[k].index == UINT32_MAX)
					n = snprintf(name, sizeof(name), "%.*s*", klen, r->key.p);
				else
					n = snprintf(name, sizeof(name), "%.*s*%u%s", klen, r->key.p, sorted[k].index,
						     sorted[k].extended ? "*" : "");
				param_add(out, name, (size_t)n, sorted[k].value.data, sorted[k].value.len);
			}
			i = j;
			continue;
		}
		struct xi_mime_str joined;
		xi_mime_str_init(&joined, 64 * 1024);
		str_add(&joined, "", 0);
		bool extended = false;
		for (unsigned k = i; k < j; k++) {
			if (sorted[k].extended)
				extended = true;
			str_add(&joined, sorted[k].value.data, sorted[k].value.len);
		}
		int n = snprintf(name, sizeof(name), "%.*s%s", klen, r->key.p, extended ? "*" : "");
		param_add(out, name, (size_t)n, joined.data, joined.len);
		xi_mime_str_free(&joined);
		i = j;
	}
	for (unsigned i = 0; i < nraw; i++)
		xi_mime_str_free(&raw[i].value);
}

/* "type/subtype" of a Content-Type value; false when malformed (then the
 * parameters are not read, as Dovecot does). */
static bool parse_content_type(const struct slice *v, struct slice *type, struct slice *subtype,
			       struct lexer *rest)
{
	struct lexer lx = {v->p, v->p + v->len, {NULL, 0}};
	skip_cfws(&lx);
	*subtype = (struct slice){"", 0};
	if (!lex_token(&lx, type)) {
		*type = (struct slice){"", 0};
		return false;
	}
	skip_cfws(&lx);
	if (lx.p >= lx.end || *lx.p != '/')
		return false;
	lx.p++;
	skip_cfws(&lx);
	if (!lex_token(&lx, subtype))
		return false;
	*rest = lx;
	return true;
}

/* ------------------------------------------------------------ parsing */

struct boundary {
	const char *p;
	size_t len;
	int part; /* the multipart it belongs to */
};

#define BOUNDARY_MAX_LEN 80

struct parser {
	struct xi_mime *m;
	struct boundary *bounds;
	unsigned nbounds;
	bool nomem;
};

static int new_part(struct parser *ps, int parent, size_t start)
{
	struct xi_mime *m = ps->m;
	if (m->count >= m->cap) {
		unsigned cap = m->cap ? m->cap * 2 : 8;
		struct part *p = realloc(m->parts, cap * sizeof(*p));
		if (p == NULL) {
			ps->nomem = true;
			return -1;
		}
		m->parts = p;
		m->cap = cap;
	}
	int idx = (int)m->count++;
	struct part *p = &m->parts[idx];
	memset(p, 0, sizeof(*p));
	p->hdr_start = start;
	p->parent = parent;
	p->first_child = p->last_child = p->next = -1;
	if (parent >= 0) {
		struct part *pp = &m->parts[parent];
		if (pp->last_child >= 0)
			m->parts[pp->last_child].next = idx;
		else
			pp->first_child = idx;
		pp->last_child = idx;
	}
	return idx;
}

/* A line at pos that starts with "--" and an active boundary: the index of
 * that boundary in ps->bounds (innermost first), or -1. */
static int boundary_at(const struct parser *ps, size_t pos, size_t end)
{
	const char *msg = ps->m->msg;
	if (end - pos < 2 || msg[pos] != '-' || msg[pos + 1] != '-')
		return -1;
	for (int i = (int)ps->nbounds - 1; i >= 0; i--) {
		const struct boundary *b = &ps->bounds[i];
		if (end - pos - 2 >= b->len && memcmp(msg + pos + 2, b->p, b->len) == 0)
			return i;
	}
	return -1;
}

/* Scans from pos for the next boundary line; returns the start of the
 * newline before it (the part's end) and sets *line to the boundary line
 * and *which; with no boundary, returns end and *which = -1. */
static size_t find_boundary(const struct parser *ps, size_t pos, size_t end, size_t *line, int *which)
{
	const char *msg = ps->m->msg;
	size_t p = pos;
	*which = -1;
	if (ps->nbounds == 0)
		return end;
	for (;;) {
		int w = boundary_at(ps, p, end);
		if (w >= 0) {
			*which = w;
			*line = p;
			size_t stop = p;
			if (stop > pos && msg[stop - 1] == '\n') {
				stop--;
				if (stop > pos && msg[stop - 1] == '\r')
					stop--;
			}
			return stop;
		}
		p = line_end(msg, end, p);
		if (p >= end)
			return end;
	}
}

static void apply_header(struct parser *ps, int idx, const struct header *h, bool is_message_root)
{
	struct part *p = &ps->m->parts[idx];
	if (h->name.len > 8 && strncasecmp(h->name.p, "Content-", 8) == 0) {
		struct slice rest = {h->name.p + 8, h->name.len - 8};
		for (int f = 0; f < CF_COUNT; f++) {
			if (slice_is(&rest, content_names[f]) && !p->has[f]) {
				p->has[f] = true;
				p->content[f] = h->value;
			}
		}
	}
	if (slice_is(&h->name, "MIME-Version"))
		p->flags |= PF_IS_MIME;
	if (is_message_root) {
		for (int f = 0; f < ENV_COUNT; f++) {
			/* as Dovecot: the last Date/Subject/In-Reply-To/
			 * Message-ID wins; address fields keep the first
			 * slice and a count (the writer joins them all) */
			bool address = f >= ENV_FROM && f <= ENV_BCC;
			if (slice_is(&h->name, env_names[f]) && (!p->env_has[f] || !address)) {
				p->env_has[f] = true;
				p->env[f] = h->value;
			}
			if (slice_is(&h->name, env_names[f]) && p->env_count[f] < UINT32_MAX) {
				p->env_count[f]++;
			}
		}
	}
}

/* Parses a part starting at pos (its header, then its body) up to the next
 * active boundary or end.  Returns where the part ends; *which is the
 * boundary found there (-1: end). */
static size_t parse_part(struct parser *ps, int parent, size_t pos, size_t end, unsigned depth,
			 bool is_message_root, bool digest_child, size_t *bline, int *which)
{
	struct xi_mime *m = ps->m;
	int idx = new_part(ps, parent, pos);
	if (idx < 0)
		return end;

	/* headers */
	/* headers; an active boundary ends them too (the newline before it
	 * then stays with the headers) */
	struct header h;
	size_t hp = pos, hdr_bline = 0;
	int hdr_boundary = -1;
	for (;;) {
		if (ps->nbounds > 0 && hp < end && (hdr_boundary = boundary_at(ps, hp, end)) >= 0) {
			hdr_bline = hp;
			break;
		}
		if (next_header(m->msg, end, &hp, &h) != 1)
			break;
		apply_header(ps, idx, &h, is_message_root);
	}
	struct part *p = &m->parts[idx];
	p->body_start = hp;
	if (parent >= 0 && (m->parts[parent].flags & PF_MULTIPART))
		p->flags |= PF_IS_MIME;

	struct slice type = {NULL, 0}, subtype = {NULL, 0};
	struct lexer rest;
	const char *boundary = NULL;
	size_t boundary_len = 0;
	if (p->has[CF_TYPE]) {
		p->flags |= PF_IS_MIME;
		bool ok = parse_content_type(&p->content[CF_TYPE], &type, &subtype, &rest);
		if (type.len > 0 && slice_is(&type, "message") && subtype.len > 0 && slice_is(&subtype, "rfc822"))
			p->flags |= PF_RFC822;
		else if (type.len > 0 && slice_is(&type, "text"))
			p->flags |= PF_TEXT;
		else if (type.len > 0 && slice_is(&type, "multipart") && subtype.len > 0) {
			p->flags |= PF_MULTIPART;
			if (slice_is(&subtype, "digest"))
				p->flags |= PF_DIGEST;
		}
		if (ok && (p->flags & PF_MULTIPART)) {
			struct params params;
			parse_params(&rest, &params);
			for (unsigned i = 0; i < params.count; i++) {
				if (strcasecmp(params.v[i].name.data, "boundary") == 0 && params.v[i].value.len > 0) {
					/* a slice of the message for the raw boundary:
					 * quoted boundaries rarely contain escapes, and
					 * we search the raw text for the unescaped one */
					size_t blen = params.v[i].value.len;
					const char *found = memmem(p->content[CF_TYPE].p, p->content[CF_TYPE].len,
								   params.v[i].value.data, blen);
					if (found != NULL) {
						boundary = found;
						boundary_len = blen > BOUNDARY_MAX_LEN ? BOUNDARY_MAX_LEN : blen;
					}
					break;
				}
			}
			params_free(&params);
		}
	} else if (digest_child) {
		p->flags |= PF_RFC822;
	}
	if ((p->flags & PF_MULTIPART) && boundary == NULL)
		p->flags = (p->flags & ~(unsigned)(PF_MULTIPART | PF_DIGEST)) | PF_MULTIPART_NB;
	if (!(p->flags & PF_IS_MIME))
		p->flags &= ~(unsigned)(PF_MULTIPART | PF_DIGEST | PF_TEXT | PF_RFC822 | PF_MULTIPART_NB);
	if (!(p->flags & PF_IS_MIME) && digest_child)
		p->flags |= PF_RFC822;

	bool room = depth < m->limits.max_depth && m->count < m->limits.max_parts;
	size_t body_end;

	if (hdr_boundary >= 0) {
		if ((p->flags & PF_RFC822) && room) {
			size_t l;
			int w;
			parse_part(ps, idx, hdr_bline, end, depth + 1, true, false, &l, &w);
			if (ps->nomem)
				return end;
		}
		body_end = hdr_bline;
		*which = hdr_boundary;
		*bline = hdr_bline;
	} else if ((p->flags & PF_MULTIPART) && room) {
		if (ps->nbounds >= m->limits.max_depth + 1) {
			body_end = find_boundary(ps, hp, end, bline, which);
		} else {
			ps->bounds[ps->nbounds++] = (struct boundary){boundary, boundary_len, idx};
			unsigned mine = ps->nbounds - 1;
			size_t line;
			int w;
			/* preamble */
			size_t stop = find_boundary(ps, hp, end, &line, &w);
			(void)stop;
			for (;;) {
				if (w < 0) {
					body_end = end;
					*which = -1;
					break;
				}
				if ((unsigned)w != mine) {
					/* an outer boundary closes this multipart */
					body_end = stop;
					*which = w;
					*bline = line;
					break;
				}
				size_t after = line + 2 + boundary_len;
				bool closing = end - after >= 2 && m->msg[after] == '-' && m->msg[after + 1] == '-';
				size_t next = line_end(m->msg, end, line);
				if (closing) {
					/* the epilogue runs to an outer boundary */
					ps->nbounds--;
					stop = find_boundary(ps, next, end, &line, &w);
					ps->nbounds++;
					body_end = stop;
					*which = w;
					if (w >= 0)
						*bline = line;
					break;
				}
				if (m->count >= m->limits.max_parts) {
					body_end = end;
					*which = -1;
					break;
				}
				stop = parse_part(ps, idx, next, end, depth + 1, false,
						  (m->parts[idx].flags & PF_DIGEST) != 0, &line, &w);
				if (ps->nomem)
					return end;
			}
			ps->nbounds = mine;
		}
	} else if ((p->flags & PF_RFC822) && room) {
		body_end = parse_part(ps, idx, hp, end, depth + 1, true, false, bline, which);
		if (ps->nomem)
			return end;
	} else {
		body_end = find_boundary(ps, hp, end, bline, which);
	}
	p = &m->parts[idx];
	if (body_end < p->body_start)
		body_end = p->body_start;
	p->body_end = body_end;
	count_body(m->msg + p->body_start, body_end - p->body_start, &p->body_vsize, &p->body_lines);
	return body_end;
}

int xi_mime_parse(const char *msg, size_t len, const struct xi_mime_limits *limits,
		  struct xi_mime **out, struct xi_error *err)
{
	struct xi_mime *m = calloc(1, sizeof(*m));
	*out = NULL;
	if (m == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "mime: out of memory");
	m->msg = msg;
	m->len = len;
	if (limits != NULL)
		m->limits = *limits;
	else
		m->limits = (struct xi_mime_limits){XI_MIME_DEFAULT_MAX_DEPTH, XI_MIME_DEFAULT_MAX_PARTS,
						    XI_MIME_DEFAULT_MAX_OUTPUT};
	if (m->limits.max_depth == 0)
		m->limits.max_depth = 1;
	if (m->limits.max_parts == 0)
		m->limits.max_parts = 1;

	struct parser ps = {m, calloc(m->limits.max_depth + 2, sizeof(struct boundary)), 0, false};
	if (ps.bounds == NULL) {
		free(m);
		return xi_error_set(err, XI_ERR_NOMEM, "mime: out of memory");
	}
	size_t bline;
	int which;
	parse_part(&ps, -1, 0, len, 0, true, false, &bline, &which);
	free(ps.bounds);
	if (ps.nomem || m->count == 0) {
		xi_mime_free(m);
		return xi_error_set(err, XI_ERR_NOMEM, "mime: out of memory");
	}
	*out = m;
	return 0;
}

void xi_mime_free(struct xi_mime *m)
{
	if (m == NULL)
		return;
	free(m->parts);
	free(m);
}

uint64_t xi_mime_virtual_size(const struct xi_mime *m)
{
	uint64_t v;
	unsigned lines;
	count_body(m->msg, m->len, &v, &lines);
	return v;
}

/* ------------------------------------------------------------ addresses */

struct address {
	struct xi_mime_str name, route, mailbox, domain;
	bool has_name, has_route, has_mailbox, has_domain;
};

static void address_init(struct address *a)
{
	memset(a, 0, sizeof(*a));
	xi_mime_str_init(&a->name, 64 * 1024);
	xi_mime_str_init(&a->route, 64 * 1024);
	xi_mime_str_init(&a->mailbox, 64 * 1024);
	xi_mime_str_init(&a->domain, 64 * 1024);
	str_add(&a->name, "", 0);
	str_add(&a->route, "", 0);
	str_add(&a->mailbox, "", 0);
	str_add(&a->domain, "", 0);
}

static void address_free(struct address *a)
{
	xi_mime_str_free(&a->name);
	xi_mime_str_free(&a->route);
	xi_mime_str_free(&a->mailbox);
	xi_mime_str_free(&a->domain);
}

static void write_field(struct xi_mime_str *out, struct xi_mime_str *v, bool has)
{
	struct slice s = {v->data, v->len};
	imap_nstring_nolf(out, &s, has);
}

static void write_address(struct xi_mime_str *out, struct address *a)
{
	str_addc(out, '(');
	if (a->has_name)
		imap_string_for_humans(out, a->name.data, a->name.len);
	else
		str_adds(out, "NIL");
	str_addc(out, ' ');
	write_field(out, &a->route, a->has_route);
	str_addc(out, ' ');
	write_field(out, &a->mailbox, a->has_mailbox);
	str_addc(out, ' ');
	write_field(out, &a->domain, a->has_domain);
	str_addc(out, ')');
}

/* A phrase: atoms, quoted strings and dots, words joined by one space. */
static bool lex_phrase(struct lexer *lx, struct xi_mime_str *out)
{
	bool any = false;
	for (;;) {
		skip_cfws(lx);
		if (lx->p >= lx->end)
			break;
		unsigned char c = (unsigned char)*lx->p;
		if (c == '"') {
			const char *before = lx->p;
			size_t keep = out->len;
			if (any)
				str_addc(out, ' ');
			if (!lex_quoted(lx, out)) {
				lx->p = before;
				if (!out->overflow && out->data != NULL) {
					out->len = keep;
					out->data[keep] = '\0';
				}
				break;
			}
		} else if (is_atext(c) || c == '.') {
			if (any && c != '.')
				str_addc(out, ' ');
			const char *s = lx->p;
			while (lx->p < lx->end && (is_atext((unsigned char)*lx->p) || *lx->p == '.'))
				lx->p++;
			str_add(out, s, (size_t)(lx->p - s));
		} else {
			break;
		}
		any = true;
	}
	return any;
}

/* local-part or domain: dot-separated atoms/quoted strings, no spaces. */
static void lex_dotted(struct lexer *lx, struct xi_mime_str *out, bool domain)
{
	for (;;) {
		skip_cfws(lx);
		if (lx->p >= lx->end)
			return;
		unsigned char c = (unsigned char)*lx->p;
		if (c == '"' && !domain) {
			/* Dovecot keeps the unquoted content of a quoted local part */
			if (!lex_quoted(lx, out))
				return;
		} else if (c == '[' && domain) {
			const char *s = lx->p;
			while (lx->p < lx->end && *lx->p != ']')
				lx->p++;
			if (lx->p < lx->end)
				lx->p++;
			str_add(out, s, (size_t)(lx->p - s));
		} else if (is_atext(c)) {
			const char *s = lx->p;
			while (lx->p < lx->end && is_atext((unsigned char)*lx->p))
				lx->p++;
			str_add(out, s, (size_t)(lx->p - s));
		} else {
			return;
		}
		skip_cfws(lx);
		if (lx->p < lx->end && *lx->p == '.') {
			str_addc(out, '.');
			lx->p++;
			continue;
		}
		return;
	}
}

/* addr-spec (local@domain) into a; MISSING_* filled as Dovecot does. */
static void parse_addr_spec(struct lexer *lx, struct address *a)
{
	lex_dotted(lx, &a->mailbox, false);
	a->has_mailbox = true;
	skip_cfws(lx);
	if (lx->p < lx->end && *lx->p == '@') {
		lx->p++;
		lex_dotted(lx, &a->domain, true);
	}
	a->has_domain = true;
	if (a->mailbox.len == 0)
		str_adds(&a->mailbox, "MISSING_MAILBOX");
	if (a->domain.len == 0)
		str_adds(&a->domain, "MISSING_DOMAIN");
}

static void parse_angle_addr(struct lexer *lx, struct address *a)
{
	lx->p++; /* '<' */
	skip_cfws(lx);
	if (lx->p < lx->end && *lx->p == '@') {
		/* obs-route: @a,@b: */
		const char *s = lx->p;
		while (lx->p < lx->end && *lx->p != ':' && *lx->p != '>')
			lx->p++;
		str_add(&a->route, s, (size_t)(lx->p - s));
		a->has_route = true;
		if (lx->p < lx->end && *lx->p == ':')
			lx->p++;
	}
	parse_addr_spec(lx, a);
	skip_cfws(lx);
	if (lx->p < lx->end && *lx->p == '>')
		lx->p++;
}

/* One mailbox; false when nothing could be read. */
static bool parse_mailbox(struct lexer *lx, struct address *a)
{
	const char *start = lx->p;
	lx->comment = (struct slice){NULL, 0};
	struct xi_mime_str phrase;
	xi_mime_str_init(&phrase, 64 * 1024);
	str_add(&phrase, "", 0);
	lex_phrase(lx, &phrase);
	skip_cfws(lx);
	if (lx->p < lx->end && *lx->p == '<') {
		if (phrase.len > 0) {
			str_add(&a->name, phrase.data, phrase.len);
			a->has_name = true;
		}
		parse_angle_addr(lx, a);
	} else {
		lx->p = start;
		lx->comment = (struct slice){NULL, 0};
		parse_addr_spec(lx, a);
		skip_cfws(lx);
		if (lx->comment.p != NULL) {
			str_add(&a->name, lx->comment.p, lx->comment.len);
			a->has_name = true;
		}
	}
	xi_mime_str_free(&phrase);
	return lx->p != start;
}

/* Skips to the next ',' (or ';' in a group) after a broken address. */
static void skip_to_separator(struct lexer *lx, bool in_group)
{
	while (lx->p < lx->end && *lx->p != ',' && !(in_group && *lx->p == ';')) {
		if (*lx->p == '"') {
			struct xi_mime_str q;
			xi_mime_str_init(&q, 0);
			if (!lex_quoted(lx, &q))
				lx->p = lx->end;
			xi_mime_str_free(&q);
		} else if (*lx->p == '(') {
			skip_cfws(lx);
		} else {
			lx->p++;
		}
	}
}

static void write_address_list(struct xi_mime_str *out, const struct slice *vals, unsigned nvals,
			       bool present)
{
	if (!present) {
		str_adds(out, "NIL");
		return;
	}
	struct xi_mime_str list;
	xi_mime_str_init(&list, out->max);
	str_add(&list, "", 0);
	unsigned count = 0;
	for (unsigned vi = 0; vi < nvals; vi++) {
	const struct slice *v = &vals[vi];
	struct lexer lx = {v->p, v->p + v->len, {NULL, 0}};
	bool in_group = false;
	bool expect = true; /* at the start or after ',': an address is due */

	while (lx.p < lx.end && !list.overflow) {
		skip_cfws(&lx);
		if (lx.p >= lx.end)
			break;
		if (*lx.p == ',') {
			/* an empty element before a comma is a missing address */
			if (expect) {
				str_adds(&list, "(NIL NIL \"MISSING_MAILBOX\" \"MISSING_DOMAIN\")");
				count++;
			}
			lx.p++;
			expect = true;
			continue;
		}
		if (in_group && *lx.p == ';') {
			lx.p++;
			str_adds(&list, "(NIL NIL NIL NIL)");
			in_group = false;
			expect = false;
			count++;
			continue;
		}
		if (*lx.p == ';') {
			lx.p++; /* a stray group end: ignored */
			continue;
		}
		expect = false;
		/* a group starts with "phrase:" */
		const char *start = lx.p;
		struct xi_mime_str phrase;
		xi_mime_str_init(&phrase, 64 * 1024);
		str_add(&phrase, "", 0);
		lex_phrase(&lx, &phrase);
		skip_cfws(&lx);
		if (!in_group && lx.p < lx.end && *lx.p == ':' && phrase.len > 0) {
			lx.p++;
			struct address g;
			address_init(&g);
			str_add(&g.mailbox, phrase.data, phrase.len);
			g.has_mailbox = true;
			write_address(&list, &g);
			address_free(&g);
			xi_mime_str_free(&phrase);
			in_group = true;
			count++;
			continue;
		}
		xi_mime_str_free(&phrase);
		lx.p = start;
		struct address a;
		address_init(&a);
		parse_mailbox(&lx, &a);
		write_address(&list, &a);
		count++;
		address_free(&a);
		skip_cfws(&lx);
		if (lx.p < lx.end && *lx.p != ',' && !(in_group && *lx.p == ';'))
			skip_to_separator(&lx, in_group);
	}
	if (in_group) {
		str_adds(&list, "(NIL NIL NIL NIL)");
		count++;
	}
	}
	if (list.overflow) {
		out->overflow = true;
	} else if (count == 0) {
		str_adds(out, "NIL");
	} else {
		str_addc(out, '(');
		str_add(out, list.data, list.len);
		str_addc(out, ')');
	}
	xi_mime_str_free(&list);
}

/* ------------------------------------------------------------ writing */

/* Every value of the address header f of part p (Dovecot joins repeated
 * From/To/... headers into one list). */
static void write_address_field(const struct xi_mime *m, const struct part *p, int f,
				struct xi_mime_str *out)
{
	if (!p->env_has[f] || p->env_count[f] <= 1) {
		write_address_list(out, &p->env[f], 1, p->env_has[f]);
		return;
	}
	struct slice *vals = calloc(p->env_count[f], sizeof(*vals));
	if (vals == NULL) {
		out->overflow = true;
		return;
	}
	unsigned n = 0;
	size_t pos = p->hdr_start;
	struct header h;
	while (n < p->env_count[f] && next_header(m->msg, p->body_start, &pos, &h) == 1)
		if (slice_is(&h.name, env_names[f]))
			vals[n++] = h.value;
	write_address_list(out, vals, n, true);
	free(vals);
}

static void write_envelope(const struct xi_mime *m, const struct part *p, struct xi_mime_str *out)
{
	imap_nstring_nolf(out, &p->env[ENV_DATE], p->env_has[ENV_DATE]);
	str_addc(out, ' ');
	if (p->env_has[ENV_SUBJECT])
		imap_string_for_humans(out, p->env[ENV_SUBJECT].p, p->env[ENV_SUBJECT].len);
	else
		str_adds(out, "NIL");
	static const int addr_fields[] = {ENV_FROM, ENV_SENDER, ENV_REPLY_TO, ENV_TO, ENV_CC, ENV_BCC};
	for (size_t i = 0; i < sizeof(addr_fields) / sizeof(addr_fields[0]); i++) {
		int f = addr_fields[i];
		if ((f == ENV_SENDER || f == ENV_REPLY_TO) && !p->env_has[f])
			f = ENV_FROM;
		str_addc(out, ' ');
		write_address_field(m, p, f, out);
	}
	str_addc(out, ' ');
	imap_nstring_nolf(out, &p->env[ENV_IN_REPLY_TO], p->env_has[ENV_IN_REPLY_TO]);
	str_addc(out, ' ');
	imap_nstring_nolf(out, &p->env[ENV_MESSAGE_ID], p->env_has[ENV_MESSAGE_ID]);
}

static void write_params(struct xi_mime_str *out, struct params *ps, bool default_charset)
{
	if (ps->count == 0 && !default_charset) {
		str_adds(out, "NIL");
		return;
	}
	bool charset = false;
	str_addc(out, '(');
	for (unsigned i = 0; i < ps->count; i++) {
		if (i > 0)
			str_addc(out, ' ');
		if (strcasecmp(ps->v[i].name.data, "charset") == 0)
			charset = true;
		imap_string(out, ps->v[i].name.data, ps->v[i].name.len);
		str_addc(out, ' ');
		imap_string(out, ps->v[i].value.data, ps->v[i].value.len);
	}
	if (default_charset && !charset) {
		if (ps->count > 0)
			str_addc(out, ' ');
		str_adds(out, "\"charset\" \"us-ascii\"");
	}
	str_addc(out, ')');
}

/* A MIME token value (Content-Transfer-Encoding, Content-Disposition). */
static bool first_token(const struct slice *v, struct slice *tok, struct lexer *rest)
{
	struct lexer lx = {v->p, v->p + v->len, {NULL, 0}};
	skip_cfws(&lx);
	if (!lex_token(&lx, tok))
		return false;
	*rest = lx;
	return true;
}

static void write_extension_common(const struct part *p, struct xi_mime_str *out)
{
	bool mime = (p->flags & PF_IS_MIME) != 0;
	struct slice tok;
	struct lexer rest;

	str_addc(out, ' ');
	if (mime && p->has[CF_DISPOSITION] && first_token(&p->content[CF_DISPOSITION], &tok, &rest)) {
		struct params ps;
		parse_params(&rest, &ps);
		str_addc(out, '(');
		imap_string(out, tok.p, tok.len);
		str_addc(out, ' ');
		write_params(out, &ps, false);
		str_addc(out, ')');
		params_free(&ps);
	} else {
		str_adds(out, "NIL");
	}

	str_addc(out, ' ');
	bool any = false;
	if (mime && p->has[CF_LANGUAGE]) {
		struct lexer lx = {p->content[CF_LANGUAGE].p, p->content[CF_LANGUAGE].p + p->content[CF_LANGUAGE].len,
				   {NULL, 0}};
		for (;;) {
			skip_cfws(&lx);
			const char *s = lx.p;
			while (lx.p < lx.end && (is_atext((unsigned char)*lx.p)))
				lx.p++;
			if (lx.p == s)
				break;
			str_adds(out, any ? " " : "(");
			imap_string(out, s, (size_t)(lx.p - s));
			any = true;
			skip_cfws(&lx);
			if (lx.p >= lx.end || *lx.p != ',')
				break;
			lx.p++;
		}
	}
	str_adds(out, any ? ")" : "NIL");

	str_addc(out, ' ');
	imap_nstring_nolf(out, &p->content[CF_LOCATION], mime && p->has[CF_LOCATION]);
}

static void write_part(const struct xi_mime *m, int idx, bool extended, struct xi_mime_str *out);

static void write_multipart(const struct xi_mime *m, int idx, bool extended, struct xi_mime_str *out)
{
	const struct part *p = &m->parts[idx];
	struct slice type, subtype;
	struct lexer rest;

	if (p->first_child < 0) {
		str_adds(out, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0");
		if (extended)
			str_adds(out, " NIL NIL NIL NIL");
		str_addc(out, ')');
	}
	for (int c = p->first_child; c >= 0; c = m->parts[c].next) {
		str_addc(out, '(');
		write_part(m, c, extended, out);
		str_addc(out, ')');
	}
	bool ok = parse_content_type(&p->content[CF_TYPE], &type, &subtype, &rest);
	str_addc(out, ' ');
	imap_string(out, subtype.p, subtype.len);
	if (!extended)
		return;
	str_addc(out, ' ');
	struct params ps = {NULL, 0};
	if (ok)
		parse_params(&rest, &ps);
	write_params(out, &ps, false);
	params_free(&ps);
	write_extension_common(p, out);
}

static void write_part(const struct xi_mime *m, int idx, bool extended, struct xi_mime_str *out)
{
	const struct part *p = &m->parts[idx];
	bool mime = (p->flags & PF_IS_MIME) != 0;
	bool text = false;
	struct params ps = {NULL, 0};

	/* a multipart without boundary has no children but is still
	 * written as a multipart (with Dovecot's empty text/plain child) */
	struct slice mt, mst;
	struct lexer mrest;
	if ((p->flags & PF_MULTIPART) ||
	    (mime && !(p->flags & PF_RFC822) && p->has[CF_TYPE] &&
	     parse_content_type(&p->content[CF_TYPE], &mt, &mst, &mrest) && slice_is(&mt, "multipart"))) {
		write_multipart(m, idx, extended, out);
		return;
	}
	if (p->flags & PF_RFC822) {
		str_adds(out, "\"message\" \"rfc822\"");
		struct slice type, subtype;
		struct lexer rest;
		if (mime && p->has[CF_TYPE] && parse_content_type(&p->content[CF_TYPE], &type, &subtype, &rest))
			parse_params(&rest, &ps);
	} else {
		struct slice type = {NULL, 0}, subtype = {NULL, 0};
		struct lexer rest;
		bool ok = false;
		if (mime && p->has[CF_TYPE])
			ok = parse_content_type(&p->content[CF_TYPE], &type, &subtype, &rest);
		if (!(mime && p->has[CF_TYPE])) {
			text = true;
			str_adds(out, "\"text\" \"plain\"");
		} else {
			/* a malformed Content-Type keeps what could be read of
			 * it, "" for the rest, as Dovecot does */
			text = slice_is(&type, "text");
			imap_string(out, type.p, type.len);
			str_addc(out, ' ');
			imap_string(out, subtype.p, subtype.len);
		}
		if (ok)
			parse_params(&rest, &ps);
	}
	str_addc(out, ' ');
	write_params(out, &ps, text);
	params_free(&ps);

	str_addc(out, ' ');
	imap_nstring_nolf(out, &p->content[CF_ID], mime && p->has[CF_ID]);
	str_addc(out, ' ');
	imap_nstring_nolf(out, &p->content[CF_DESCRIPTION], mime && p->has[CF_DESCRIPTION]);
	str_addc(out, ' ');
	struct slice cte;
	struct lexer rest;
	if (mime && p->has[CF_TRANSFER_ENCODING] && first_token(&p->content[CF_TRANSFER_ENCODING], &cte, &rest))
		imap_string(out, cte.p, cte.len);
	else
		str_adds(out, "\"7bit\"");
	str_addc(out, ' ');
	str_addu(out, p->body_vsize);

	if (text) {
		str_addc(out, ' ');
		str_addu(out, p->body_lines);
	} else if ((p->flags & PF_RFC822) && p->first_child >= 0) {
		const struct part *child = &m->parts[p->first_child];
		str_adds(out, " (");
		write_envelope(m, child, out);
		str_adds(out, ") (");
		write_part(m, p->first_child, extended, out);
		str_adds(out, ") ");
		str_addu(out, p->body_lines);
	}
	if (!extended)
		return;
	str_addc(out, ' ');
	imap_nstring_nolf(out, &p->content[CF_MD5], mime && p->has[CF_MD5]);
	write_extension_common(p, out);
}

static int finish(struct xi_mime_str *out, struct xi_error *err, const char *what)
{
	if (out->overflow)
		return xi_error_set(err, XI_ERR_INVALID, "mime: %s longer than %zu bytes", what, out->max);
	return 0;
}

int xi_mime_envelope(const struct xi_mime *m, struct xi_mime_str *out, struct xi_error *err)
{
	str_addc(out, '(');
	write_envelope(m, &m->parts[0], out);
	str_addc(out, ')');
	return finish(out, err, "ENVELOPE");
}

int xi_mime_body(const struct xi_mime *m, bool extended, struct xi_mime_str *out, struct xi_error *err)
{
	str_addc(out, '(');
	write_part(m, 0, extended, out);
	str_addc(out, ')');
	return finish(out, err, extended ? "BODYSTRUCTURE" : "BODY");
}

/* ------------------------------------------------------------ decoding for SEARCH */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void decode_qp(const char *p, size_t n, bool header, struct xi_mime_str *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '_' && header) {
			str_addc(out, ' ');
		} else if (c == '=' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
			str_addc(out, (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2])));
			i += 2;
		} else if (c == '=' && !header) {
			/* soft line break: "=" then optional spaces then newline */
			size_t j = i + 1;
			while (j < n && (p[j] == ' ' || p[j] == '\t'))
				j++;
			if (j < n && p[j] == '\r')
				j++;
			if (j < n && p[j] == '\n')
				i = j;
			else if (j >= n)
				i = n;
			else
				str_addc(out, c);
		} else {
			str_addc(out, c);
		}
	}
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void decode_b64(const char *p, size_t n, struct xi_mime_str *out)
{
	unsigned acc = 0, bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)p[i]);
		if (p[i] == '=')
			break;
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			str_addc(out, (char)((acc >> bits) & 0xff));
		}
	}
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++)
			if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

/* Appends p[0..n) in `charset` as UTF-8; false for a charset we do not
 * convert.  iconv for the single-byte sets; invalid UTF-8 read as Latin-1. */
static bool to_utf8(const char *charset, size_t clen, const char *p, size_t n, struct xi_mime_str *out)
{
	char cs[32];
	if (clen == 0 || clen >= sizeof(cs))
		return false;
	memcpy(cs, charset, clen);
	cs[clen] = '\0';
	char *star = strchr(cs, '*'); /* RFC 2231 language suffix */
	if (star != NULL)
		*star = '\0';
	if (strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "us-ascii") == 0) {
		if (valid_utf8((const unsigned char *)p, n)) {
			str_add(out, p, n);
			return true;
		}
		strcpy(cs, "iso-8859-1");
	}
	const char *from;
	if (strcasecmp(cs, "iso-8859-1") == 0 || strcasecmp(cs, "latin1") == 0)
		from = "ISO-8859-1";
	else if (strcasecmp(cs, "windows-1252") == 0 || strcasecmp(cs, "cp1252") == 0)
		from = "WINDOWS-1252";
	else
		return false;
	iconv_t cd = iconv_open("UTF-8", from);
	if (cd == (iconv_t)-1)
		return false;
	char buf[1024];
	char *in = (char *)p;
	size_t inleft = n;
	while (inleft > 0) {
		char *o = buf;
		size_t oleft = sizeof(buf);
		size_t r = iconv(cd, &in, &inleft, &o, &oleft);
		str_add(out, buf, (size_t)(o - buf));
		if (r == (size_t)-1 && errno != E2BIG) {
			/* unconvertible byte (0x81 in windows-1252): skip it */
			in++;
			inleft--;
		}
	}
	iconv_close(cd);
	return true;
}

/* One encoded word "=?cs?E?text?=" at p; its length or 0. */
static size_t encoded_word(const char *p, size_t n, struct xi_mime_str *out)
{
	if (n < 8 || p[0] != '=' || p[1] != '?')
		return 0;
	const char *cs = p + 2, *end = p + n;
	const char *q1 = memchr(cs, '?', (size_t)(end - cs));
	if (q1 == NULL || q1 + 3 >= end || q1[2] != '?')
		return 0;
	char enc = q1[1];
	const char *text = q1 + 3;
	const char *close = NULL;
	for (const char *t = text; t + 1 < end; t++) {
		if (t[0] == '?' && t[1] == '=') {
			close = t;
			break;
		}
		if (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
			return 0;
	}
	if (close == NULL)
		return 0;
	struct xi_mime_str raw;
	xi_mime_str_init(&raw, 64 * 1024);
	str_add(&raw, "", 0);
	if (enc == 'Q' || enc == 'q')
		decode_qp(text, (size_t)(close - text), true, &raw);
	else if (enc == 'B' || enc == 'b')
		decode_b64(text, (size_t)(close - text), &raw);
	else {
		xi_mime_str_free(&raw);
		return 0;
	}
	bool ok = !raw.overflow && to_utf8(cs, (size_t)(q1 - cs), raw.data, raw.len, out);
	xi_mime_str_free(&raw);
	return ok ? (size_t)(close + 2 - p) : 0;
}

int xi_mime_decode_header(const char *value, size_t len, struct xi_mime_str *out)
{
	struct xi_mime_str plain;
	xi_mime_str_init(&plain, len + 1);
	str_add(&plain, "", 0);
	str_add(out, "", 0);
	/* unfold: drop CR and LF; a tab that starts a folded line reads
	 * as a space (as Dovecot's search sees "To:\n\tx" as "To: x") */
	for (size_t i = 0; i < len; i++) {
		if (value[i] == '\r' || value[i] == '\n')
			continue;
		char c = value[i] == '\t' && i > 0 && value[i - 1] == '\n' ? ' ' : value[i];
		/* a value that starts on a folded line starts after its
		 * whitespace, as on the first line */
		if (plain.len == 0 && (c == ' ' || c == '\t'))
			continue;
		str_addc(&plain, c);
	}
	const char *p = plain.data;
	size_t n = plain.len, i = 0;
	bool last_was_word = false;
	size_t pending_ws = 0, ws_start = 0;
	while (i < n) {
		if (p[i] == ' ' || p[i] == '\t') {
			if (pending_ws == 0)
				ws_start = i;
			pending_ws++;
			i++;
			continue;
		}
		struct xi_mime_str word;
		xi_mime_str_init(&word, out->max);
		size_t used = encoded_word(p + i, n - i, &word);
		if (used > 0) {
			/* whitespace between two encoded words is dropped */
			if (pending_ws > 0 && !last_was_word)
				str_add(out, p + ws_start, pending_ws);
			str_add(out, word.data, word.len);
			xi_mime_str_free(&word);
			i += used;
			last_was_word = true;
			pending_ws = 0;
			continue;
		}
		xi_mime_str_free(&word);
		if (pending_ws > 0)
			str_add(out, p + ws_start, pending_ws);
		pending_ws = 0;
		size_t s = i;
		while (i < n && p[i] != ' ' && p[i] != '\t')
			i++;
		/* raw 8-bit text: UTF-8 when valid, else Latin-1 */
		if (!valid_utf8((const unsigned char *)p + s, i - s))
			to_utf8("iso-8859-1", 10, p + s, i - s, out);
		else
			str_add(out, p + s, i - s);
		last_was_word = false;
	}
	if (pending_ws > 0)
		str_add(out, p + ws_start, pending_ws);
	xi_mime_str_free(&plain);
	return out->overflow ? -1 : 0;
}

int xi_mime_header_value(const struct xi_mime *m, const char *name, struct xi_mime_str *out)
{
	size_t pos = 0;
	struct header h;
	while (next_header(m->msg, m->len, &pos, &h) == 1)
		if (slice_is(&h.name, name))
			return xi_mime_decode_header(h.value.p, h.value.len, out);
	return -1;
}

int xi_mime_text_contains(const char *hay, size_t n, const char *needle);

/* Case-insensitive search (simple Unicode case mapping). */
static bool contains_ci(const char *hay, size_t n, const char *needle)
{
	return xi_mime_text_contains(hay, n, needle) == 1;
}

static int search_headers(const struct xi_mime *m, const struct part *p, const char *needle)
{
	size_t pos = p->hdr_start;
	struct header h;
	int found = 0;
	while (!found && next_header(m->msg, p->body_start, &pos, &h) == 1) {
		struct xi_mime_str d;
		xi_mime_str_init(&d, 1u << 20);
		str_add(&d, h.name.p, h.name.len);
		str_adds(&d, ": ");
		xi_mime_decode_header(h.value.p, h.value.len, &d);
		if (d.overflow && d.data == NULL)
			found = -1;
		else if (d.data != NULL && contains_ci(d.data, d.len, needle))
			found = 1;
		xi_mime_str_free(&d);
	}
	return found;
}

static int search_leaf(const struct xi_mime *m, const struct part *p, const char *needle)
{
	const char *body = m->msg + p->body_start;
	size_t n = p->body_end - p->body_start;
	bool mime = (p->flags & PF_IS_MIME) != 0;
	struct xi_mime_str dec, utf;
	xi_mime_str_init(&dec, n + 16);
	xi_mime_str_init(&utf, 4 * n + 16);
	str_add(&dec, "", 0);
	str_add(&utf, "", 0);
	/* Dovecot's search decodes with the last Content-Type and
	 * Content-Transfer-Encoding of a part (BODYSTRUCTURE shows the first) */
	struct slice ctype = p->content[CF_TYPE], ctenc = p->content[CF_TRANSFER_ENCODING];
	if (mime) {
		size_t pos = p->hdr_start;
		struct header h;
		while (next_header(m->msg, p->body_start, &pos, &h) == 1) {
			if (slice_is(&h.name, "Content-Type"))
				ctype = h.value;
			else if (slice_is(&h.name, "Content-Transfer-Encoding"))
				ctenc = h.value;
		}
	}
	struct slice cte = {NULL, 0};
	struct lexer rest;
	if (mime && p->has[CF_TRANSFER_ENCODING])
		first_token(&ctenc, &cte, &rest);
	if (cte.len > 0 && slice_is(&cte, "quoted-printable"))
		decode_qp(body, n, false, &dec);
	else if (cte.len > 0 && slice_is(&cte, "base64"))
		decode_b64(body, n, &dec);
	else
		str_add(&dec, body, n);

	const char *charset = "us-ascii";
	size_t clen = 8;
	struct params ps = {NULL, 0};
	struct slice type, subtype;
	if (mime && p->has[CF_TYPE]) {
		/* Dovecot searches text and message bodies only, not
		 * attachments such as application/pdf, nor parts whose
		 * Content-Type is no type/subtype ("text", empty) */
		bool ok = parse_content_type(&ctype, &type, &subtype, &rest);
		if (!ok || type.len == 0 || subtype.len == 0 ||
		    (!slice_is(&type, "text") && !slice_is(&type, "message"))) {
			xi_mime_str_free(&dec);
			xi_mime_str_free(&utf);
			return 0;
		}
		parse_params(&rest, &ps);
		for (unsigned i = 0; i < ps.count; i++)
			if (strcasecmp(ps.v[i].name.data, "charset") == 0) {
				charset = ps.v[i].value.data;
				clen = ps.v[i].value.len;
			}
	}
	if (!to_utf8(charset, clen, dec.data, dec.len, &utf))
		str_add(&utf, dec.data, dec.len);
	params_free(&ps);
	int found = utf.overflow ? -1 : contains_ci(utf.data, utf.len, needle);
	xi_mime_str_free(&dec);
	xi_mime_str_free(&utf);
	return found;
}

int xi_mime_search_text(const struct xi_mime *m, enum xi_mime_search_where where, const char *needle)
{
	if (where != XI_MIME_SEARCH_BODY) {
		/* TEXT covers every header of the message, those of the MIME
		 * parts and nested messages too (as Dovecot's TEXT does) */
		unsigned last = where == XI_MIME_SEARCH_HEADERS ? 1 : m->count;
		for (unsigned i = 0; i < last; i++) {
			int r = search_headers(m, &m->parts[i], needle);
			if (r != 0)
				return r;
		}
		if (where == XI_MIME_SEARCH_HEADERS)
			return 0;
	}
	for (unsigned i = 0; i < m->count; i++) {
		const struct part *p = &m->parts[i];
		if (p->first_child >= 0)
			continue;
		int r = search_leaf(m, p, needle);
		if (r != 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------ part access */

unsigned xi_mime_part_count(const struct xi_mime *m)
{
	return m->count;
}

bool xi_mime_part(const struct xi_mime *m, unsigned idx, struct xi_mime_part_info *out)
{
	if (idx >= m->count)
		return false;
	const struct part *p = &m->parts[idx];
	out->hdr_start = p->hdr_start;
	out->body_start = p->body_start;
	out->body_end = p->body_end;
	out->multipart = (p->flags & (PF_MULTIPART | PF_MULTIPART_NB)) != 0;
	out->rfc822 = (p->flags & PF_RFC822) != 0;
	out->first_child = p->first_child;
	out->next = p->next;
	return true;
}

const char *xi_mime_data(const struct xi_mime *m, size_t *len)
{
	*len = m->len;
	return m->msg;
}

int xi_mime_header_next(const struct xi_mime *m, unsigned idx, size_t *pos, const char **name,
			size_t *name_len, const char **value, size_t *value_len)
{
	if (idx >= m->count)
		return 0;
	const struct part *p = &m->parts[idx];
	size_t at = *pos < p->hdr_start ? p->hdr_start : *pos;
	if (at >= p->body_start)
		return 0;
	struct header h;
	if (next_header(m->msg, p->body_start, &at, &h) != 1) {
		*pos = p->body_start;
		return 0;
	}
	*pos = at;
	*name = h.name.p;
	*name_len = h.name.len;
	*value = h.value.p;
	*value_len = h.value.len;
	return 1;
}

/* ------------------------------------------------------------ address search text */

static void write_search_name(struct xi_mime_str *out, const struct xi_mime_str *raw)
{
	struct xi_mime_str d;
	xi_mime_str_init(&d, 4 * raw->len + 16);
	xi_mime_decode_header(raw->data, raw->len, &d);
	bool quote = false;
	for (size_t i = 0; i < d.len && !quote; i++)
		quote = (unsigned char)d.data[i] < 0x80 && !is_atext((unsigned char)d.data[i]);
	if (quote)
		str_addc(out, '"');
	for (size_t i = 0; i < d.len; i++) {
		if (quote && (d.data[i] == '"' || d.data[i] == '\\'))
			str_addc(out, '\\');
		str_addc(out, d.data[i]);
	}
	if (quote)
		str_addc(out, '"');
	xi_mime_str_free(&d);
}

static void write_search_address(struct xi_mime_str *out, const struct address *a)
{
	if (a->has_name && a->name.len > 0) {
		write_search_name(out, &a->name);
		str_addc(out, ' ');
	}
	str_addc(out, '<');
	if (a->has_route) {
		str_add(out, a->route.data, a->route.len);
		str_addc(out, ':');
	}
	str_add(out, a->mailbox.data, a->mailbox.len);
	if (a->has_domain) {
		str_addc(out, '@');
		str_add(out, a->domain.data, a->domain.len);
	}
	str_addc(out, '>');
}

int xi_mime_address_search_text(const char *value, size_t len, struct xi_mime_str *out)
{
	struct lexer lx = {value, value + len, {NULL, 0}};
	bool in_group = false, first = true;
	str_add(out, "", 0);
	while (lx.p < lx.end && !out->overflow) {
		skip_cfws(&lx);
		if (lx.p >= lx.end)
			break;
		if (*lx.p == ',' || *lx.p == ';') {
			if (*lx.p == ';' && in_group) {
				str_addc(out, ';');
				in_group = false;
			}
			lx.p++;
			continue;
		}
		if (!first)
			str_adds(out, ", ");
		first = false;
		const char *start = lx.p;
		struct xi_mime_str phrase;
		xi_mime_str_init(&phrase, 64 * 1024);
		str_add(&phrase, "", 0);
		lex_phrase(&lx, &phrase);
		skip_cfws(&lx);
		if (!in_group && lx.p < lx.end && *lx.p == ':' && phrase.len > 0) {
			lx.p++;
			write_search_name(out, &phrase);
			str_adds(out, ": ");
			xi_mime_str_free(&phrase);
			in_group = true;
			first = true;
			continue;
		}
		xi_mime_str_free(&phrase);
		lx.p = start;
		struct address a;
		address_init(&a);
		parse_mailbox(&lx, &a);
		write_search_address(out, &a);
		address_free(&a);
		skip_cfws(&lx);
		if (lx.p < lx.end && *lx.p != ',' && !(in_group && *lx.p == ';'))
			skip_to_separator(&lx, in_group);
	}
	if (in_group)
		str_addc(out, ';');
	return out->overflow ? -1 : 0;
}

/* ------------------------------------------------------------ folded matching */

/* One code point at p (n > 0 bytes): its length, or 0 when not UTF-8. */
static size_t utf8_cp(const unsigned char *p, size_t n, uint32_t *cp)
{
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	size_t k = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
	if (k == 0 || k > n || p[0] > 0xf4)
		return 0;
	uint32_t v = p[0] & (0x7f >> k);
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if ((k == 3 && v < 0x800) || (k == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return k;
}

/* U+00C0..U+00FF decomposed: the base letter (' ' none) and its mark
 * (index into fold()'s marks: grave, acute, circumflex, tilde, diaeresis,
 * ring, cedilla). */
static const char latin1_base[65] = "AAAAAA CEEEEIIII NOOOOO  UUUUY  aaaaaa ceeeeiiii nooooo  uuuuy y";
static const char latin1_mark[65] = "012345 601240124 301234  01241  012345 601240124 301234  01241 4";

/* Lower-cases UTF-8 text for matching: ASCII here, other letters through
 * core's simple case mapping; bytes that are not UTF-8 are kept. */
static void fold(const char *s, size_t n, struct xi_mime_str *out)
{
	str_add(out, "", 0);
	size_t i = 0;
	while (i < n && !out->overflow) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {
			str_addc(out, c >= 'A' && c <= 'Z' ? (char)(c + 32) : (char)c);
			i++;
			continue;
		}
		uint32_t cp;
		size_t k = utf8_cp((const unsigned char *)s + i, n - i, &cp);
		if (k == 0) {
			str_addc(out, (char)c);
			i++;
			continue;
		}
		if (cp >= 0xc0 && cp <= 0xff && latin1_base[cp - 0xc0] != ' ') {
			/* Dovecot compares decomposed text: "è" is "e" and a
			 * combining grave, so "e" finds "crème" */
			static const uint16_t marks[] = {0x300, 0x301, 0x302, 0x303, 0x308, 0x30a, 0x327};
			char base = latin1_base[cp - 0xc0];
			str_addc(out, base >= 'A' && base <= 'Z' ? (char)(base + 32) : base);
			uint32_t mk = marks[latin1_mark[cp - 0xc0] - '0'];
			char mb[2] = {(char)(0xc0 | (mk >> 6)), (char)(0x80 | (mk & 0x3f))};
			str_add(out, mb, 2);
			i += k;
			continue;
		}
		char one[8], low[16];
		memcpy(one, s + i, k);
		one[k] = '\0';
		int m = xi_utf8_lower(one, low, sizeof(low), NULL);
		if (m > 0)
			str_add(out, low, (size_t)m);
		else
			str_add(out, one, k);
		i += k;
	}
}

int xi_mime_text_contains(const char *hay, size_t n, const char *needle)
{
	if (needle[0] == '\0')
		return 1;
	struct xi_mime_str h, k;
	xi_mime_str_init(&h, 4 * n + 16);
	xi_mime_str_init(&k, 4 * strlen(needle) + 16);
	fold(hay, n, &h);
	fold(needle, strlen(needle), &k);
	int r = h.overflow || k.overflow ? -1 : memmem(h.data, h.len, k.data, k.len) != NULL;
	xi_mime_str_free(&h);
	xi_mime_str_free(&k);
	return r;
}
