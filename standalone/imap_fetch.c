/*
 * imap_fetch.c: FETCH attribute lists into plans, plans into responses
 * (imap_fetch.h).
 *
 * Response order is Dovecot 2.3's: the items it answers from the index
 * (UID, FLAGS, INTERNALDATE, RFC822.SIZE) come first in the order asked,
 * then FLAGS when \Seen was set by this FETCH and not asked for, then the
 * items read from the message (ENVELOPE, BODY, BODYSTRUCTURE, sections) in
 * the order asked.  UID FETCH puts UID first.  A repeated item is answered
 * once, a repeated section each time (as Dovecot does).
 */
#define _GNU_SOURCE
#include "imap_fetch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime_section.h"

enum item_kind {
	IT_UID,
	IT_FLAGS,
	IT_INTERNALDATE,
	IT_RFC822_SIZE,
	/* read from the message */
	IT_ENVELOPE,
	IT_BODY,
	IT_BODYSTRUCTURE,
	IT_RFC822,
	IT_RFC822_HEADER,
	IT_RFC822_TEXT,
	IT_SECTION,
};

struct item {
	enum item_kind kind;
	struct xi_mime_section sec; /* IT_SECTION */
	bool peek;
	bool partial;
	uint32_t origin, count;
	char *name; /* the response name, e.g. "BODY[1.MIME]<0>" */
};

struct xi_imap_fetch {
	struct item *items;
	unsigned count, cap;
	unsigned needs;
	bool sets_seen;
	bool has_flags;
};

static void refuse(struct xi_imap_refusal *why, enum xi_imap_refusal_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct xi_imap_refusal *why, enum xi_imap_refusal_kind kind, const char *fmt, ...)
{
	va_list ap;
	why->kind = kind;
	va_start(ap, fmt);
	vsnprintf(why->text, sizeof(why->text), fmt, ap);
	va_end(ap);
}

void xi_imap_fetch_free(struct xi_imap_fetch *f)
{
	if (f == NULL)
		return;
	for (unsigned i = 0; i < f->count; i++) {
		xi_mime_section_clear(&f->items[i].sec);
		free(f->items[i].name);
	}
	free(f->items);
	free(f);
}

static const char *simple_name(enum item_kind k)
{
	switch (k) {
	case IT_UID: return "UID";
	case IT_FLAGS: return "FLAGS";
	case IT_INTERNALDATE: return "INTERNALDATE";
	case IT_RFC822_SIZE: return "RFC822.SIZE";
	case IT_ENVELOPE: return "ENVELOPE";
	case IT_BODY: return "BODY";
	case IT_BODYSTRUCTURE: return "BODYSTRUCTURE";
	case IT_RFC822: return "RFC822";
	case IT_RFC822_HEADER: return "RFC822.HEADER";
	case IT_RFC822_TEXT: return "RFC822.TEXT";
	case IT_SECTION: break;
	}
	return "";
}

/* Adds an item (taking ownership of it); duplicates by response name are
 * dropped.  -1 when the limit is passed or no memory. */
static int add_item(struct xi_imap_fetch *f, struct item *it, unsigned max,
		    struct xi_imap_refusal *why)
{
	if (it->name == NULL)
		it->name = strdup(simple_name(it->kind));
	if (it->name == NULL) {
		xi_mime_section_clear(&it->sec);
		refuse(why, XI_IMAP_REFUSE_NO, "Out of memory");
		return -1;
	}
	/* a repeated item is answered once, except sections: Dovecot
	 * answers each BODY[...] as often as it is asked for */
	for (unsigned i = 0; i < f->count && it->kind != IT_SECTION; i++) {
		if (strcmp(f->items[i].name, it->name) == 0) {
			xi_mime_section_clear(&it->sec);
			free(it->name);
			return 0;
		}
	}
	if (f->count >= max) {
		xi_mime_section_clear(&it->sec);
		free(it->name);
		refuse(why, XI_IMAP_REFUSE_BAD, "Too many FETCH items");
		return -1;
	}
	if (f->count == f->cap) {
		unsigned cap = f->cap ? f->cap * 2 : 8;
		struct item *n = realloc(f->items, cap * sizeof(*n));
		if (n == NULL) {
			xi_mime_section_clear(&it->sec);
			free(it->name);
			refuse(why, XI_IMAP_REFUSE_NO, "Out of memory");
			return -1;
		}
		f->items = n;
		f->cap = cap;
	}
	f->items[f->count++] = *it;
	return 0;
}

static int add_simple(struct xi_imap_fetch *f, enum item_kind k, unsigned max,
		      struct xi_imap_refusal *why)
{
	struct item it;
	memset(&it, 0, sizeof(it));
	it.kind = k;
	return add_item(f, &it, max, why);
}

static bool parse_u32(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* BODY[...]<o.n> / BODY.PEEK[...]<o.n>: s points after "BODY" */
static int parse_section_item(struct xi_imap_fetch *f, const char *att, const char *s, size_t n,
			      const struct xi_imap_fetch_limits *lim, struct xi_imap_refusal *why)
{
	struct item it;
	memset(&it, 0, sizeof(it));
	it.kind = IT_SECTION;
	if (n >= 5 && strncasecmp(s, ".PEEK", 5) == 0) {
		it.peek = true;
		s += 5;
		n -= 5;
	}
	if (n == 0 || *s != '[') {
		refuse(why, XI_IMAP_REFUSE_BAD, "Invalid fetch attribute %.60s", att);
		return -1;
	}
	const char *close = memchr(s, ']', n);
	/* the last ']' ends the section: header names cannot hold one */
	for (const char *q = s; q < s + n; q++)
		if (*q == ']')
			close = q;
	if (close == NULL) {
		refuse(why, XI_IMAP_REFUSE_BAD, "Invalid fetch attribute %.60s", att);
		return -1;
	}
	char reason[96];
	if (xi_mime_section_parse(s + 1, (size_t)(close - s - 1), lim->max_section_depth,
				  lim->max_fields, &it.sec, reason, sizeof(reason)) < 0) {
		xi_mime_section_clear(&it.sec);
		refuse(why, XI_IMAP_REFUSE_BAD, "Invalid BODY[..] parameter: %s", reason);
		return -1;
	}
	const char *rest = close + 1;
	size_t rn = n - (size_t)(rest - s);
	if (rn > 0) {
		const char *dot = memchr(rest, '.', rn);
		if (rest[0] != '<' || rest[rn - 1] != '>' || dot == NULL ||
		    !parse_u32(rest + 1, (size_t)(dot - rest - 1), &it.origin) ||
		    !parse_u32(dot + 1, (size_t)(rest + rn - 1 - dot - 1), &it.count)) {
			xi_mime_section_clear(&it.sec);
			refuse(why, XI_IMAP_REFUSE_BAD, "Invalid partial in %.60s", att);
			return -1;
		}
		it.partial = true;
	}
	struct xi_mime_str name;
	xi_mime_str_init(&name, 64 * 1024);
	xi_mime_str_add(&name, "BODY[", 5);
	xi_mime_section_name(&it.sec, &name);
	xi_mime_str_add(&name, "]", 1);
	if (it.partial) {
		char o[16];
		int k = snprintf(o, sizeof(o), "<%u>", (unsigned)it.origin);
		xi_mime_str_add(&name, o, (size_t)k);
	}
	if (name.overflow) {
		xi_mime_str_free(&name);
		xi_mime_section_clear(&it.sec);
		refuse(why, XI_IMAP_REFUSE_NO, "Out of memory");
		return -1;
	}
	it.name = name.data;
	return add_item(f, &it, lim->max_items, why);
}

static int parse_att(struct xi_imap_fetch *f, const struct xi_imap_arg *a,
		     const struct xi_imap_fetch_limits *lim, bool macros_ok, struct xi_imap_refusal *why)
{
	if (a->type != XI_IMAP_ARG_ATOM) {
		refuse(why, XI_IMAP_REFUSE_BAD, "Invalid fetch attribute");
		return -1;
	}
	const char *s = a->str;
	size_t n = a->len;
	static const struct {
		const char *name;
		enum item_kind kind;
	} simple[] = {
		{"UID", IT_UID}, {"FLAGS", IT_FLAGS}, {"INTERNALDATE", IT_INTERNALDATE},
		{"RFC822.SIZE", IT_RFC822_SIZE}, {"ENVELOPE", IT_ENVELOPE}, {"BODY", IT_BODY},
		{"BODYSTRUCTURE", IT_BODYSTRUCTURE}, {"RFC822", IT_RFC822},
		{"RFC822.HEADER", IT_RFC822_HEADER}, {"RFC822.TEXT", IT_RFC822_TEXT},
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strlen(simple[i].name) == n && strncasecmp(s, simple[i].name, n) == 0)
			return add_simple(f, simple[i].kind, lim->max_items, why);
	if (macros_ok) {
		static const enum item_kind fast[] = {IT_FLAGS, IT_INTERNALDATE, IT_RFC822_SIZE};
		static const enum item_kind all[] = {IT_FLAGS, IT_INTERNALDATE, IT_RFC822_SIZE,
						     IT_ENVELOPE};
		static const enum item_kind full[] = {IT_FLAGS, IT_INTERNALDATE, IT_RFC822_SIZE,
						      IT_ENVELOPE, IT_BODY};
		const enum item_kind *list = NULL;
		size_t count = 0;
		if (n == 4 && strncasecmp(s, "FAST", 4) == 0)
			list = fast, count = 3;
		else if (n == 3 && strncasecmp(s, "ALL", 3) == 0)
			list = all, count = 4;
		else if (n == 4 && strncasecmp(s, "FULL", 4) == 0)
			list = full, count = 5;
		for (size_t i = 0; i < count; i++)
			if (add_simple(f, list[i], lim->max_items, why) < 0)
				return -1;
		if (list != NULL)
			return 0;
	}
	if (n > 4 && strncasecmp(s, "BODY", 4) == 0 && (s[4] == '[' || s[4] == '.'))
		return parse_section_item(f, s, s + 4, n - 4, lim, why);
	refuse(why, XI_IMAP_REFUSE_BAD, "Unknown parameter %.60s", s);
	return -1;
}

int xi_imap_fetch_parse(const struct xi_imap_arg *atts, bool uid_command,
			const struct xi_imap_fetch_limits *limits, struct xi_imap_fetch **out,
			struct xi_imap_refusal *why)
{
	struct xi_imap_fetch_limits lim = {XI_IMAP_FETCH_DEFAULT_MAX_ITEMS,
					   XI_IMAP_FETCH_DEFAULT_MAX_FIELDS,
					   XI_IMAP_FETCH_DEFAULT_MAX_SECTION_DEPTH};
	if (limits != NULL)
		lim = *limits;
	*out = NULL;
	if (atts == NULL) {
		refuse(why, XI_IMAP_REFUSE_BAD, "Missing FETCH items");
		return -1;
	}
	struct xi_imap_fetch *f = calloc(1, sizeof(*f));
	if (f == NULL) {
		refuse(why, XI_IMAP_REFUSE_NO, "Out of memory");
		return -1;
	}
	int rc = 0;
	if (uid_command)
		rc = add_simple(f, IT_UID, lim.max_items + 1, why);
	if (rc == 0 && atts->type == XI_IMAP_ARG_LIST) {
		if (atts->count == 0) {
			refuse(why, XI_IMAP_REFUSE_BAD, "Empty FETCH item list");
			rc = -1;
		}
		for (const struct xi_imap_arg *a = atts->list; rc == 0 && a != NULL; a = a->next)
			rc = parse_att(f, a, &lim, false, why);
	} else if (rc == 0) {
		rc = parse_att(f, atts, &lim, true, why);
	}
	if (rc < 0) {
		xi_imap_fetch_free(f);
		return -1;
	}
	for (unsigned i = 0; i < f->count; i++) {
		const struct item *it = &f->items[i];
		switch (it->kind) {
		case IT_FLAGS:
			f->has_flags = true;
			break;
		case IT_ENVELOPE:
		case IT_RFC822_HEADER:
			f->needs |= XI_IMAP_NEED_HEADER;
			break;
		case IT_BODY:
		case IT_BODYSTRUCTURE:
			f->needs |= XI_IMAP_NEED_MESSAGE;
			break;
		case IT_RFC822:
		case IT_RFC822_TEXT:
			f->needs |= XI_IMAP_NEED_MESSAGE;
			f->sets_seen = true;
			break;
		case IT_SECTION:
			if (it->sec.depth == 0 && (it->sec.text == XI_SECTION_HEADER ||
						   it->sec.text == XI_SECTION_FIELDS ||
						   it->sec.text == XI_SECTION_FIELDS_NOT))
				f->needs |= XI_IMAP_NEED_HEADER;
			else
				f->needs |= XI_IMAP_NEED_MESSAGE;
			if (!it->peek)
				f->sets_seen = true;
			break;
		default:
			break;
		}
	}
	if (f->needs & XI_IMAP_NEED_MESSAGE)
		f->needs &= ~(unsigned)XI_IMAP_NEED_HEADER;
	*out = f;
	return 0;
}

unsigned xi_imap_fetch_needs(const struct xi_imap_fetch *f)
{
	return f->needs;
}

bool xi_imap_fetch_sets_seen(const struct xi_imap_fetch *f)
{
	return f->sets_seen;
}

/* ------------------------------------------------------------ rendering */

static void adds(struct xi_mime_str *out, const char *s)
{
	xi_mime_str_add(out, s, strlen(s));
}

static void addu(struct xi_mime_str *out, uint64_t v)
{
	char b[24];
	int k = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	xi_mime_str_add(out, b, (size_t)k);
}

static void write_flags(const struct xi_imap_msg_view *v, struct xi_mime_str *out)
{
	static const struct {
		unsigned bit;
		const char *name;
	} order[] = {
		{XI_IMAP_FLAG_ANSWERED, "\\Answered"}, {XI_IMAP_FLAG_FLAGGED, "\\Flagged"},
		{XI_IMAP_FLAG_DELETED, "\\Deleted"},   {XI_IMAP_FLAG_SEEN, "\\Seen"},
		{XI_IMAP_FLAG_DRAFT, "\\Draft"},       {XI_IMAP_FLAG_RECENT, "\\Recent"},
	};
	bool first = true;
	adds(out, "FLAGS (");
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (v->flags & order[i].bit) {
			if (!first)
				adds(out, " ");
			adds(out, order[i].name);
			first = false;
		}
	}
	for (unsigned i = 0; i < v->nkeywords; i++) {
		if (v->keywords == NULL || v->keywords[i] == NULL)
			continue;
		if (!first)
			adds(out, " ");
		adds(out, v->keywords[i]);
		first = false;
	}
	adds(out, ")");
}

static void write_internaldate(const struct xi_imap_msg_view *v, struct xi_mime_str *out)
{
	static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	int tz = v->internal_tz_minutes;
	if (tz < -24 * 60 || tz > 24 * 60)
		tz = 0;
	time_t local = v->internal_date + (time_t)tz * 60;
	struct tm tm;
	if (gmtime_r(&local, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		local = 0;
		tz = 0;
		gmtime_r(&local, &tm);
	}
	int atz = tz < 0 ? -tz : tz;
	char b[64];
	int k = snprintf(b, sizeof(b), "INTERNALDATE \"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d\"",
			 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, tz < 0 ? '-' : '+', atz / 60, atz % 60);
	xi_mime_str_add(out, b, (size_t)k);
}

/* "NAME {n}\r\n<bytes>": the section's bytes (the partial's window only)
 * go to a scratch string first, as the literal announces their count. */
static int write_section(const struct xi_mime *m, const struct item *it,
			 const struct xi_mime_section *sec, struct xi_mime_str *out)
{
	struct xi_mime_str tmp;
	xi_mime_str_init(&tmp, out->max);
	int rc = it->partial ? xi_mime_section_write_partial(m, sec, it->origin, it->count, &tmp)
			     : xi_mime_section_write(m, sec, &tmp);
	if (rc == 0) {
		adds(out, it->name);
		adds(out, " {");
		addu(out, tmp.len);
		adds(out, "}\r\n");
		xi_mime_str_add(out, tmp.data != NULL ? tmp.data : "", tmp.len);
	}
	xi_mime_str_free(&tmp);
	if (rc < 0)
		out->overflow = true;
	return 0;
}

static int write_item(const struct item *it, const struct xi_imap_msg_view *v,
		      const struct xi_mime *m, struct xi_mime_str *out, struct xi_error *err)
{
	struct xi_mime_section sec;
	memset(&sec, 0, sizeof(sec));
	switch (it->kind) {
	case IT_UID:
		adds(out, "UID ");
		addu(out, v->uid);
		return 0;
	case IT_FLAGS:
		write_flags(v, out);
		return 0;
	case IT_INTERNALDATE:
		write_internaldate(v, out);
		return 0;
	case IT_RFC822_SIZE:
		adds(out, "RFC822.SIZE ");
		addu(out, v->size);
		return 0;
	case IT_ENVELOPE:
		adds(out, "ENVELOPE ");
		return xi_mime_envelope(m, out, err);
	case IT_BODY:
		adds(out, "BODY ");
		return xi_mime_body(m, false, out, err);
	case IT_BODYSTRUCTURE:
		adds(out, "BODYSTRUCTURE ");
		return xi_mime_body(m, true, out, err);
	case IT_RFC822:
		return write_section(m, it, &sec, out);
	case IT_RFC822_HEADER:
		sec.text = XI_SECTION_HEADER;
		return write_section(m, it, &sec, out);
	case IT_RFC822_TEXT:
		sec.text = XI_SECTION_TEXT;
		return write_section(m, it, &sec, out);
	case IT_SECTION:
		return write_section(m, it, &it->sec, out);
	}
	return 0;
}

static bool from_index(enum item_kind k)
{
	return k == IT_UID || k == IT_FLAGS || k == IT_INTERNALDATE || k == IT_RFC822_SIZE;
}

int xi_imap_fetch_render(const struct xi_imap_fetch *f, const struct xi_imap_msg_view *v,
			 bool seen_now, struct xi_mime_str *out, struct xi_error *err)
{
	size_t start = out->len;
	bool was_overflow = out->overflow;
	struct xi_mime *own = NULL;
	const struct xi_mime *m = v->mime;
	if (f->needs != XI_IMAP_NEED_NOTHING && m == NULL) {
		if (v->data == NULL)
			return xi_error_set(err, XI_ERR_INTERNAL, "fetch: message data not loaded");
		if (xi_mime_parse(v->data, v->len, NULL, &own, err) < 0)
			return -1;
		m = own;
	}
	char head[40];
	int k = snprintf(head, sizeof(head), "* %u FETCH (", (unsigned)v->seq);
	xi_mime_str_add(out, head, (size_t)k);
	bool first = true;
	int rc = 0;
	/* index items, then FLAGS for a \Seen just set, then message items */
	for (int pass = 0; pass < 3 && rc == 0; pass++) {
		if (pass == 1) {
			if (seen_now && !f->has_flags) {
				if (!first)
					adds(out, " ");
				write_flags(v, out);
				first = false;
			}
			continue;
		}
		for (unsigned i = 0; i < f->count && rc == 0; i++) {
			const struct item *it = &f->items[i];
			if (from_index(it->kind) != (pass == 0))
				continue;
			if (!first)
				adds(out, " ");
			first = false;
			rc = write_item(it, v, m, out, err);
		}
	}
	adds(out, ")\r\n");
	xi_mime_free(own);
	if (rc == 0 && out->overflow && !was_overflow)
		rc = xi_error_set(err, XI_ERR_INVALID, "fetch: response larger than %zu bytes",
				  out->max);
	if (rc < 0) {
		out->len = start;
		out->overflow = was_overflow;
		if (out->data != NULL)
			out->data[start] = '\0';
	}
	return rc;
}
