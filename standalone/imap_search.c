/*
 * imap_search.c: SEARCH criteria into a tree, the tree against one message
 * (imap_search.h).
 *
 * The tree is an array of nodes (children linked by index), bounded by
 * max_keys; recursion in parse and match is bounded by max_depth.  Strings
 * and sequence sets are copied out of the parser's arguments, so the tree
 * outlives the command buffer.
 */
#define _GNU_SOURCE
#include "imap_search.h"

#include <errno.h>
#include <iconv.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime.h"

enum key {
	K_AND,      /* children: all (the top level and "(...)") */
	K_OR,       /* two children */
	K_NOT,      /* one child */
	K_ALL,
	K_FLAG_SET, /* flag bit set */
	K_FLAG_UNSET,
	K_NEW,
	K_OLD,
	K_KEYWORD,
	K_UNKEYWORD,
	K_SEQSET,
	K_UIDSET,
	K_BEFORE, K_ON, K_SINCE,
	K_SENTBEFORE, K_SENTON, K_SENTSINCE,
	K_LARGER, K_SMALLER,
	K_HEADER,   /* field + str */
	K_BODY,
	K_TEXT,
};

struct node {
	enum key key;
	int first, next;          /* children / next sibling (-1 none) */
	unsigned flag;            /* K_FLAG_* */
	char *str;                /* KEYWORD, HEADER value, BODY, TEXT */
	char *field;              /* HEADER field name */
	bool address;             /* FROM/TO/CC/BCC: matched on the normalised address list */
	struct xi_imap_seq_range *ranges;
	int nranges;
	long day;                 /* dates: days since 1970-01-01 */
	uint64_t size;
};

struct xi_imap_search {
	struct node *nodes;
	unsigned count, cap;
	struct xi_imap_search_limits lim;
	unsigned needs;
};

struct parse {
	struct xi_imap_search *s;
	struct xi_imap_refusal *why;
	iconv_t cd; /* CHARSET other than UTF-8/US-ASCII: to UTF-8, else (iconv_t)-1 */
};

static int bad(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	p->why->kind = XI_IMAP_REFUSE_BAD;
	va_start(ap, fmt);
	vsnprintf(p->why->text, sizeof(p->why->text), fmt, ap);
	va_end(ap);
	return -1;
}

static int nomem(struct parse *p)
{
	p->why->kind = XI_IMAP_REFUSE_NO;
	snprintf(p->why->text, sizeof(p->why->text), "Out of memory");
	return -1;
}

void xi_imap_search_free(struct xi_imap_search *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->count; i++) {
		free(s->nodes[i].str);
		free(s->nodes[i].field);
		free(s->nodes[i].ranges);
	}
	free(s->nodes);
	free(s);
}

static int new_node(struct parse *p, enum key key)
{
	struct xi_imap_search *s = p->s;
	if (s->count >= s->lim.max_keys)
		return bad(p, "Too many search keys"), -2;
	if (s->count == s->cap) {
		unsigned cap = s->cap ? s->cap * 2 : 16;
		struct node *n = realloc(s->nodes, cap * sizeof(*n));
		if (n == NULL)
			return nomem(p), -2;
		s->nodes = n;
		s->cap = cap;
	}
	struct node *n = &s->nodes[s->count];
	memset(n, 0, sizeof(*n));
	n->key = key;
	n->first = n->next = -1;
	return (int)s->count++;
}

/* An astring argument's text (atom, quoted or literal). */
static const struct xi_imap_arg *string_arg(struct parse *p, const struct xi_imap_arg *a,
					    const char *key)
{
	/* NIL is the astring "NIL" here, as Dovecot reads it */
	if (a == NULL || a->type == XI_IMAP_ARG_LIST) {
		bad(p, "Missing or invalid argument to %.40s", key);
		return NULL;
	}
	if (a->len > p->s->lim.max_string) {
		bad(p, "Search string for %.40s too long", key);
		return NULL;
	}
	return a;
}

/* A search string in UTF-8 (converted from the CHARSET), or NULL with
 * *why set. */
static char *search_string(struct parse *p, const struct xi_imap_arg *a)
{
	if (p->cd == (iconv_t)-1) {
		char *c = malloc(a->len + 1);
		if (c == NULL)
			return nomem(p), NULL;
		memcpy(c, a->str, a->len);
		c[a->len] = '\0';
		return c;
	}
	size_t cap = 4 * a->len + 8;
	char *out = malloc(cap);
	if (out == NULL)
		return nomem(p), NULL;
	char *in = (char *)a->str, *o = out;
	size_t inleft = a->len, outleft = cap - 1;
	iconv(p->cd, NULL, NULL, NULL, NULL);
	if (iconv(p->cd, &in, &inleft, &o, &outleft) == (size_t)-1 ||
	    iconv(p->cd, NULL, NULL, &o, &outleft) == (size_t)-1) {
		free(out);
		p->why->kind = XI_IMAP_REFUSE_NO;
		snprintf(p->why->text, sizeof(p->why->text), "Search string not valid in its CHARSET");
		return NULL;
	}
	*o = '\0';
	return out;
}

static char *dup_arg(const struct xi_imap_arg *a)
{
	char *c = malloc(a->len + 1);
	if (c != NULL) {
		memcpy(c, a->str, a->len);
		c[a->len] = '\0';
	}
	return c;
}

static bool is_leap(long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* days since 1970-01-01 of a proleptic Gregorian date */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int month_of(const char *s)
{
	static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, months[i], 3) == 0)
			return i + 1;
	return 0;
}

static bool valid_day(long y, int m, int d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m >= 1 && m <= 12 && d >= 1 && d <= mdays[m - 1] + (m == 2 && is_leap(y));
}

/* RFC 3501 date: 1*2DIGIT "-" Mon "-" 4DIGIT */
static bool parse_imap_date(const char *s, size_t n, long *day)
{
	size_t i = 0;
	int d = 0;
	while (i < n && i < 2 && s[i] >= '0' && s[i] <= '9')
		d = d * 10 + (s[i++] - '0');
	if (i == 0 || i >= n || s[i] != '-' || n - i != 9)
		return false;
	int m = month_of(s + i + 1);
	if (m == 0 || s[i + 4] != '-')
		return false;
	long y = 0;
	for (size_t k = i + 5; k < n; k++) {
		if (s[k] < '0' || s[k] > '9')
			return false;
		y = y * 10 + (s[k] - '0');
	}
	/* a day the month does not have is a date after every message (as
	 * Dovecot answers: BEFORE finds all, ON and SINCE none) */
	*day = valid_day(y, m, d) ? days_from_civil(y, (unsigned)m, (unsigned)d) : LONG_MAX;
	return true;
}

static bool parse_number(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

static bool is_seqset_start(const struct xi_imap_arg *a)
{
	return a->type == XI_IMAP_ARG_ATOM && a->len > 0 &&
	       ((a->str[0] >= '0' && a->str[0] <= '9') || a->str[0] == '*');
}

static int parse_key(struct parse *p, const struct xi_imap_arg **ap, unsigned depth);

/* Keys from *ap up to the end of the list into node parent (K_AND). */
static int parse_list(struct parse *p, int parent, const struct xi_imap_arg *a, unsigned depth)
{
	int last = -1;
	while (a != NULL) {
		int idx = parse_key(p, &a, depth);
		if (idx < 0)
			return -1;
		if (last < 0)
			p->s->nodes[parent].first = idx;
		else
			p->s->nodes[last].next = idx;
		last = idx;
	}
	return 0;
}

static int set_ranges(struct parse *p, int idx, const struct xi_imap_arg *a, const char *key)
{
	unsigned max = p->s->lim.max_ranges ? p->s->lim.max_ranges : 1;
	struct xi_imap_seq_range *r = malloc(max * sizeof(*r));
	if (r == NULL)
		return nomem(p);
	int n = xi_imap_seqset_parse(a->str, a->len, r, max);
	if (n <= 0) {
		free(r);
		return bad(p, "Invalid or too large sequence set for %.40s", key);
	}
	struct xi_imap_seq_range *shrunk = realloc(r, (size_t)n * sizeof(*r));
	p->s->nodes[idx].ranges = shrunk != NULL ? shrunk : r;
	p->s->nodes[idx].nranges = n;
	return 0;
}

static int parse_key(struct parse *p, const struct xi_imap_arg **ap, unsigned depth)
{
	const struct xi_imap_arg *a = *ap;
	struct xi_imap_search *s = p->s;
	if (depth >= s->lim.max_depth)
		return bad(p, "Search keys nested too deeply");
	if (a->type == XI_IMAP_ARG_LIST) {
		if (a->count == 0)
			return bad(p, "Empty search key list");
		int idx = new_node(p, K_AND);
		if (idx < 0)
			return -1;
		if (parse_list(p, idx, a->list, depth + 1) < 0)
			return -1;
		*ap = a->next;
		return idx;
	}
	if (a->type != XI_IMAP_ARG_ATOM)
		return bad(p, "Invalid search key");
	*ap = a->next;
	if (is_seqset_start(a)) {
		int idx = new_node(p, K_SEQSET);
		if (idx < 0 || set_ranges(p, idx, a, "sequence set") < 0)
			return -1;
		return idx;
	}
	const char *k = a->str;
#define IS(word) (strcasecmp(k, word) == 0)
	static const struct {
		const char *name;
		enum key key;
		unsigned flag;
	} plain[] = {
		{"ALL", K_ALL, 0},
		{"ANSWERED", K_FLAG_SET, XI_IMAP_FLAG_ANSWERED},
		{"DELETED", K_FLAG_SET, XI_IMAP_FLAG_DELETED},
		{"DRAFT", K_FLAG_SET, XI_IMAP_FLAG_DRAFT},
		{"FLAGGED", K_FLAG_SET, XI_IMAP_FLAG_FLAGGED},
		{"RECENT", K_FLAG_SET, XI_IMAP_FLAG_RECENT},
		{"SEEN", K_FLAG_SET, XI_IMAP_FLAG_SEEN},
		{"UNANSWERED", K_FLAG_UNSET, XI_IMAP_FLAG_ANSWERED},
		{"UNDELETED", K_FLAG_UNSET, XI_IMAP_FLAG_DELETED},
		{"UNDRAFT", K_FLAG_UNSET, XI_IMAP_FLAG_DRAFT},
		{"UNFLAGGED", K_FLAG_UNSET, XI_IMAP_FLAG_FLAGGED},
		{"UNSEEN", K_FLAG_UNSET, XI_IMAP_FLAG_SEEN},
		{"NEW", K_NEW, 0},
		{"OLD", K_OLD, 0},
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (IS(plain[i].name)) {
			int idx = new_node(p, plain[i].key);
			if (idx >= 0)
				s->nodes[idx].flag = plain[i].flag;
			return idx < 0 ? -1 : idx;
		}
	}
	if (IS("NOT") || IS("OR")) {
		bool or = IS("OR");
		int idx = new_node(p, or ? K_OR : K_NOT);
		if (idx < 0)
			return -1;
		int last = -1;
		for (int i = 0; i < (or ? 2 : 1); i++) {
			if (*ap == NULL)
				return bad(p, "Missing search key after %.10s", k);
			int c = parse_key(p, ap, depth + 1);
			if (c < 0)
				return -1;
			if (last < 0)
				s->nodes[idx].first = c;
			else
				s->nodes[last].next = c;
			last = c;
		}
		return idx;
	}
	static const struct {
		const char *name;
		enum key key;
	} dates[] = {
		{"BEFORE", K_BEFORE}, {"ON", K_ON}, {"SINCE", K_SINCE},
		{"SENTBEFORE", K_SENTBEFORE}, {"SENTON", K_SENTON}, {"SENTSINCE", K_SENTSINCE},
	};
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		if (IS(dates[i].name)) {
			const struct xi_imap_arg *v = string_arg(p, *ap, k);
			long day;
			if (v == NULL)
				return -1;
			if (!parse_imap_date(v->str, v->len, &day))
				return bad(p, "Invalid date for %.20s", k);
			*ap = v->next;
			int idx = new_node(p, dates[i].key);
			if (idx < 0)
				return -1;
			s->nodes[idx].day = day;
			if (dates[i].key >= K_SENTBEFORE)
				s->needs |= XI_IMAP_NEED_HEADER;
			return idx;
		}
	}
	if (IS("LARGER") || IS("SMALLER")) {
		const struct xi_imap_arg *v = *ap;
		uint64_t n;
		if (v == NULL || v->type != XI_IMAP_ARG_ATOM || !parse_number(v->str, v->len, &n))
			return bad(p, "Invalid size for %.20s", k);
		*ap = v->next;
		int idx = new_node(p, IS("LARGER") ? K_LARGER : K_SMALLER);
		if (idx >= 0)
			s->nodes[idx].size = n;
		return idx < 0 ? -1 : idx;
	}
	if (IS("UID")) {
		const struct xi_imap_arg *v = *ap;
		if (v == NULL || v->type != XI_IMAP_ARG_ATOM)
			return bad(p, "Missing UID set");
		*ap = v->next;
		int idx = new_node(p, K_UIDSET);
		if (idx < 0 || set_ranges(p, idx, v, "UID") < 0)
			return -1;
		return idx;
	}
	if (IS("KEYWORD") || IS("UNKEYWORD")) {
		const struct xi_imap_arg *v = *ap;
		if (v == NULL || v->type != XI_IMAP_ARG_ATOM)
			return bad(p, "Missing keyword for %.20s", k);
		*ap = v->next;
		int idx = new_node(p, IS("KEYWORD") ? K_KEYWORD : K_UNKEYWORD);
		if (idx < 0)
			return -1;
		if ((s->nodes[idx].str = dup_arg(v)) == NULL)
			return nomem(p);
		return idx;
	}
	static const char *const addr[] = {"FROM", "TO", "CC", "BCC", "SUBJECT"};
	const char *field = NULL;
	for (size_t i = 0; i < sizeof(addr) / sizeof(addr[0]); i++)
		if (IS(addr[i]))
			field = addr[i];
	if (field != NULL || IS("HEADER") || IS("BODY") || IS("TEXT")) {
		const struct xi_imap_arg *f = NULL;
		if (IS("HEADER")) {
			f = string_arg(p, *ap, k);
			if (f == NULL)
				return -1;
			*ap = f->next;
		}
		const struct xi_imap_arg *v = string_arg(p, *ap, k);
		if (v == NULL)
			return -1;
		*ap = v->next;
		enum key key = IS("BODY") ? K_BODY : IS("TEXT") ? K_TEXT : K_HEADER;
		int idx = new_node(p, key);
		if (idx < 0)
			return -1;
		struct node *n = &s->nodes[idx];
		if ((n->str = search_string(p, v)) == NULL)
			return -1;
		if (key == K_HEADER) {
			n->field = f != NULL ? dup_arg(f) : strdup(field);
			if (n->field == NULL)
				return nomem(p);
			n->address = f == NULL && strcmp(field, "SUBJECT") != 0;
			s->needs |= XI_IMAP_NEED_HEADER;
		} else {
			s->needs |= XI_IMAP_NEED_MESSAGE;
		}
		return idx;
	}
#undef IS
	return bad(p, "Unknown argument %.40s", k);
}

int xi_imap_search_parse(const struct xi_imap_arg *args, const struct xi_imap_search_limits *limits,
			 struct xi_imap_search **out, struct xi_imap_refusal *why)
{
	*out = NULL;
	struct xi_imap_search *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		why->kind = XI_IMAP_REFUSE_NO;
		snprintf(why->text, sizeof(why->text), "Out of memory");
		return -1;
	}
	s->lim = (struct xi_imap_search_limits){XI_IMAP_SEARCH_DEFAULT_MAX_KEYS,
						XI_IMAP_SEARCH_DEFAULT_MAX_DEPTH,
						XI_IMAP_SEARCH_DEFAULT_MAX_RANGES,
						XI_IMAP_SEARCH_DEFAULT_MAX_STRING};
	if (limits != NULL)
		s->lim = *limits;
	struct parse p = {s, why, (iconv_t)-1};
	const struct xi_imap_arg *a = args;
	if (a != NULL && a->type == XI_IMAP_ARG_ATOM && strcasecmp(a->str, "CHARSET") == 0) {
		const struct xi_imap_arg *cs = a->next;
		if (cs == NULL || (cs->type != XI_IMAP_ARG_ATOM && cs->type != XI_IMAP_ARG_QUOTED &&
				   cs->type != XI_IMAP_ARG_LITERAL)) {
			bad(&p, "Missing CHARSET name");
			xi_imap_search_free(s);
			return -1;
		}
		if (strcasecmp(cs->str, "UTF-8") != 0 && strcasecmp(cs->str, "US-ASCII") != 0) {
			/* any charset iconv converts, as Dovecot; names only of
			 * charset characters, so no option suffix reaches iconv */
			bool plain = cs->len > 0 && cs->len < 64;
			for (size_t i = 0; plain && i < cs->len; i++)
				plain = (cs->str[i] >= 'A' && cs->str[i] <= 'Z') ||
					(cs->str[i] >= 'a' && cs->str[i] <= 'z') ||
					(cs->str[i] >= '0' && cs->str[i] <= '9') || cs->str[i] == '-' ||
					cs->str[i] == '_' || cs->str[i] == '.' || cs->str[i] == ':';
			if (plain && strchr(cs->str, '/') == NULL)
				p.cd = iconv_open("UTF-8", cs->str);
			if (p.cd == (iconv_t)-1) {
				why->kind = XI_IMAP_REFUSE_NO;
				snprintf(why->text, sizeof(why->text),
					 "[BADCHARSET (US-ASCII UTF-8)] Unknown charset");
				xi_imap_search_free(s);
				return -1;
			}
		}
		a = cs->next;
	}
	if (a == NULL) {
		bad(&p, "Missing search parameters");
		if (p.cd != (iconv_t)-1)
			iconv_close(p.cd);
		xi_imap_search_free(s);
		return -1;
	}
	int root = new_node(&p, K_AND);
	int rc = root < 0 ? -1 : parse_list(&p, root, a, 0);
	if (p.cd != (iconv_t)-1)
		iconv_close(p.cd);
	if (rc < 0) {
		xi_imap_search_free(s);
		return -1;
	}
	if (s->needs & XI_IMAP_NEED_MESSAGE)
		s->needs &= ~(unsigned)XI_IMAP_NEED_HEADER;
	*out = s;
	return 0;
}

unsigned xi_imap_search_needs(const struct xi_imap_search *s)
{
	return s->needs;
}

/* ------------------------------------------------------------ matching */

struct match {
	const struct xi_imap_search *s;
	const struct xi_imap_search_ctx *ctx;
	const struct xi_imap_msg_view *v;
	const struct xi_mime *m; /* parsed on first need */
	struct xi_mime *own;
	struct xi_error *err;
};

static const struct xi_mime *mime_of(struct match *mt)
{
	if (mt->m != NULL)
		return mt->m;
	if (mt->v->mime != NULL)
		return mt->m = mt->v->mime;
	if (mt->v->data == NULL) {
		xi_error_set(mt->err, XI_ERR_INTERNAL, "search: message data not loaded");
		return NULL;
	}
	if (xi_mime_parse(mt->v->data, mt->v->len, NULL, &mt->own, mt->err) < 0)
		return NULL;
	return mt->m = mt->own;
}

/* UID sets: "*" is the largest UID, so "UID 100:*" always holds the last
 * message (RFC 3501).  Sequence sets as Dovecot reads them: a lone "*" is
 * the last message, but in a range "*" is past every message, so "45:*"
 * in a mailbox of 40 is empty while "39:45" is 39 and 40. */
static bool in_ranges(const struct node *n, uint32_t value, uint32_t largest, bool uid)
{
	if (largest == 0)
		return false;
	for (int i = 0; i < n->nranges; i++) {
		const struct xi_imap_seq_range *r = &n->ranges[i];
		uint32_t lo, hi;
		if (uid || (r->lo == XI_IMAP_SEQ_STAR && r->hi == XI_IMAP_SEQ_STAR)) {
			if (!xi_imap_seq_range_resolve(r, largest, &lo, &hi))
				continue;
		} else {
			lo = r->lo < r->hi ? r->lo : r->hi;
			hi = r->lo < r->hi ? r->hi : r->lo;
		}
		if (value >= lo && value <= hi)
			return true;
	}
	return false;
}

static int match_header(struct match *mt, const struct node *n)
{
	const struct xi_mime *m = mime_of(mt);
	if (m == NULL)
		return -1;
	size_t pos = 0, nlen, vlen;
	const char *name, *value;
	while (xi_mime_header_next(m, 0, &pos, &name, &nlen, &value, &vlen) == 1) {
		/* a line without a colon is a field named "" whose value
		 * is the line (Dovecot) */
		if (value <= name + nlen) {
			value = name;
			vlen = nlen;
			nlen = 0;
		}
		if (strlen(n->field) != nlen || strncasecmp(name, n->field, nlen) != 0)
			continue;
		if (n->str[0] == '\0')
			return 1;
		struct xi_mime_str d;
		xi_mime_str_init(&d, 4 * vlen + 64);
		if (n->address)
			xi_mime_address_search_text(value, vlen, &d);
		else
			xi_mime_decode_header(value, vlen, &d);
		int found = d.data == NULL ? -1 : xi_mime_text_contains(d.data, d.len, n->str);
		xi_mime_str_free(&d);
		if (found != 0) {
			if (found < 0)
				xi_error_set(mt->err, XI_ERR_NOMEM, "search: out of memory");
			return found;
		}
	}
	return 0;
}

/* The day of the Date: header as written (its own zone), or 0 (1970-01-01,
 * Dovecot's value for a missing or unreadable date). */
static long sent_day(struct match *mt, int *fail)
{
	const struct xi_mime *m = mime_of(mt);
	*fail = m == NULL;
	if (m == NULL)
		return 0;
	size_t pos = 0, nlen, vlen;
	const char *name, *value;
	while (xi_mime_header_next(m, 0, &pos, &name, &nlen, &value, &vlen) == 1) {
		if (nlen != 4 || strncasecmp(name, "Date", 4) != 0)
			continue;
		/* [day-name ","] 1*2DIGIT month 2*4DIGIT ... */
		char buf[128];
		size_t k = 0;
		for (size_t i = 0; i < vlen && k + 1 < sizeof(buf); i++)
			buf[k++] = value[i] == '\r' || value[i] == '\n' || value[i] == '\t' ? ' '
											     : value[i];
		buf[k] = '\0';
		char *p = buf;
		char *comma = strchr(p, ',');
		if (comma != NULL)
			p = comma + 1;
		int d, y;
		char mon[4];
		if (sscanf(p, " %2d %3s %4d", &d, mon, &y) != 3)
			return 0;
		int mo = month_of(mon);
		if (y < 100)
			y += y < 50 ? 2000 : 1900;
		else if (y < 1000)
			y += 1900;
		if (mo == 0 || !valid_day(y, mo, d))
			return 0;
		return days_from_civil(y, (unsigned)mo, (unsigned)d);
	}
	return 0;
}

static long floor_div(long long a, long b)
{
	return (long)(a >= 0 ? a / b : -((-a + b - 1) / b));
}

static int match_node(struct match *mt, int idx)
{
	const struct node *n = &mt->s->nodes[idx];
	const struct xi_imap_msg_view *v = mt->v;
	switch (n->key) {
	case K_AND:
		for (int c = n->first; c >= 0; c = mt->s->nodes[c].next) {
			int r = match_node(mt, c);
			if (r <= 0)
				return r;
		}
		return 1;
	case K_OR: {
		int a = match_node(mt, n->first);
		if (a != 0)
			return a;
		return match_node(mt, mt->s->nodes[n->first].next);
	}
	case K_NOT: {
		int r = match_node(mt, n->first);
		return r < 0 ? r : !r;
	}
	case K_ALL:
		return 1;
	case K_FLAG_SET:
		return (v->flags & n->flag) != 0;
	case K_FLAG_UNSET:
		return (v->flags & n->flag) == 0;
	case K_NEW:
		return (v->flags & XI_IMAP_FLAG_RECENT) && !(v->flags & XI_IMAP_FLAG_SEEN);
	case K_OLD:
		return !(v->flags & XI_IMAP_FLAG_RECENT);
	case K_KEYWORD:
	case K_UNKEYWORD: {
		bool has = false;
		for (unsigned i = 0; i < v->nkeywords && v->keywords != NULL; i++)
			if (v->keywords[i] != NULL && strcasecmp(v->keywords[i], n->str) == 0)
				has = true;
		return has == (n->key == K_KEYWORD);
	}
	case K_SEQSET:
		return in_ranges(n, v->seq, mt->ctx->messages, false);
	case K_UIDSET:
		return in_ranges(n, v->uid, mt->ctx->max_uid, true);
	case K_BEFORE:
	case K_ON:
	case K_SINCE: {
		long day = floor_div((long long)v->internal_date + (long long)v->internal_tz_minutes * 60,
				     86400);
		return n->key == K_BEFORE ? day < n->day : n->key == K_ON ? day == n->day : day >= n->day;
	}
	case K_SENTBEFORE:
	case K_SENTON:
	case K_SENTSINCE: {
		int fail;
		long day = sent_day(mt, &fail);
		if (fail)
			return -1;
		return n->key == K_SENTBEFORE ? day < n->day
		       : n->key == K_SENTON   ? day == n->day
					      : day >= n->day;
	}
	case K_LARGER:
		return v->size > n->size;
	case K_SMALLER:
		return v->size < n->size;
	case K_HEADER:
		return match_header(mt, n);
	case K_BODY:
	case K_TEXT: {
		const struct xi_mime *m = mime_of(mt);
		if (m == NULL)
			return -1;
		int r = xi_mime_search_text(m, n->key == K_BODY ? XI_MIME_SEARCH_BODY : XI_MIME_SEARCH_TEXT,
					    n->str);
		if (r < 0)
			xi_error_set(mt->err, XI_ERR_NOMEM, "search: out of memory");
		return r;
	}
	}
	return 0;
}

int xi_imap_search_match(const struct xi_imap_search *s, const struct xi_imap_search_ctx *ctx,
			 const struct xi_imap_msg_view *v, struct xi_error *err)
{
	struct match mt = {s, ctx, v, NULL, NULL, err};
	int r = match_node(&mt, 0);
	xi_mime_free(mt.own);
	return r;
}
