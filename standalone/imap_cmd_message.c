/*
 * Message commands of the selected state (RFC 3501 6.4, UIDPLUS RFC 4315,
 * MOVE RFC 6851): FETCH, STORE, COPY, MOVE, EXPUNGE, SEARCH and their UID
 * forms.  Sequence sets are resolved against the client's view
 * (imap_mailbox.c), never expanded: a set is sorted, merged ranges and a
 * message is looked up in it by binary search.
 *
 * FETCH renders ENVELOPE/BODY/BODYSTRUCTURE with mime.c (Dovecot's output)
 * and BODY[section]<partial> for the whole message, HEADER, TEXT,
 * HEADER.FIELDS(.NOT) and part 1 of a single-part message.
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "imap_session.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "mime.h"

#define SET_MAX_RANGES 65536
#define FETCH_MAX_ITEMS 64

/* ---------------------------------------------------------------- sets */

struct set {
	struct { uint32_t lo, hi; } *r;
	size_t n;
};

static int range_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Parses and resolves a sequence set against largest (count, or the last
 * UID); false with a BAD answered. */
static bool set_parse(struct imap_session *s, const char *tag, const struct xi_imap_arg *a,
		      uint32_t largest, struct set *set)
{
	struct xi_imap_seq_range *raw;
	int n;

	set->r = NULL;
	set->n = 0;
	if (a == NULL || a->type != XI_IMAP_ARG_ATOM) {
		imap_tagged(s, tag, "BAD Sequence set expected.");
		return false;
	}
	raw = malloc(SET_MAX_RANGES * sizeof(*raw));
	if (raw == NULL) {
		imap_tagged(s, tag, "NO [LIMIT] Out of memory.");
		return false;
	}
	n = xi_imap_seqset_parse(a->str, a->len, raw, SET_MAX_RANGES);
	if (n < 0) {
		free(raw);
		imap_tagged(s, tag, "BAD Invalid sequence set (or more than %d ranges).", SET_MAX_RANGES);
		return false;
	}
	set->r = malloc(((size_t)n + 1) * sizeof(*set->r));
	if (set->r == NULL) {
		free(raw);
		imap_tagged(s, tag, "NO [LIMIT] Out of memory.");
		return false;
	}
	for (int i = 0; i < n; i++) {
		uint32_t lo, hi;
		if (xi_imap_seq_range_resolve(&raw[i], largest, &lo, &hi)) {
			set->r[set->n].lo = lo;
			set->r[set->n].hi = hi;
			set->n++;
		}
	}
	free(raw);
	qsort(set->r, set->n, sizeof(*set->r), range_cmp);
	size_t w = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (w > 0 && set->r[i].lo <= set->r[w - 1].hi + 1ull) {
			if (set->r[i].hi > set->r[w - 1].hi)
				set->r[w - 1].hi = set->r[i].hi;
		} else {
			set->r[w++] = set->r[i];
		}
	}
	set->n = w;
	return true;
}

static bool set_has(const struct set *set, uint32_t x)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (x < set->r[mid].lo)
			hi = mid;
		else if (x > set->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static uint32_t view_largest(const struct imap_view *v, bool uid)
{
	if (v->count == 0)
		return 0;
	return uid ? v->msgs[v->count - 1].uid : (uint32_t)v->count;
}

/* Sequence-set text of sorted UIDs ("1:3,7"), appended to buf. */
static void uid_set_text(const uint32_t *uids, size_t n, char **buf, size_t *len, size_t *cap)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		char part[32];
		int pl = j > i ? snprintf(part, sizeof(part), "%s%u:%u", *len ? "," : "", uids[i], uids[j])
			       : snprintf(part, sizeof(part), "%s%u", *len ? "," : "", uids[i]);
		if (*len + (size_t)pl + 1 > *cap) {
			size_t nc = *cap ? *cap * 2 : 256;
			while (nc < *len + (size_t)pl + 1)
				nc *= 2;
			char *p = realloc(*buf, nc);
			if (p == NULL)
				return;
			*buf = p;
			*cap = nc;
		}
		memcpy(*buf + *len, part, (size_t)pl + 1);
		*len += (size_t)pl;
		i = j + 1;
	}
}

/* ---------------------------------------------------------------- flags */

bool imap_flags_parse(const struct xi_imap_arg *arg, struct xi_mailbox *mb, unsigned *flags,
		      uint32_t *keywords, char *why, size_t why_size)
{
	static const struct { const char *name; unsigned bit; } sys[] = {
		{ "\\Answered", XI_MAIL_ANSWERED }, { "\\Flagged", XI_MAIL_FLAGGED },
		{ "\\Deleted", XI_MAIL_DELETED }, { "\\Seen", XI_MAIL_SEEN }, { "\\Draft", XI_MAIL_DRAFT },
	};
	const struct xi_imap_arg *a = arg != NULL && arg->type == XI_IMAP_ARG_LIST ? arg->list : arg;

	*flags = 0;
	*keywords = 0;
	for (; a != NULL; a = a->next) {
		bool found = false;
		if (a->type != XI_IMAP_ARG_ATOM) {
			snprintf(why, why_size, "Flags must be atoms.");
			return false;
		}
		if (a->str[0] == '\\') {
			if (strcasecmp(a->str, "\\Recent") == 0)
				continue;
			for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
				if (strcasecmp(a->str, sys[i].name) == 0) {
					*flags |= sys[i].bit;
					found = true;
				}
			if (!found) {
				snprintf(why, why_size, "Invalid system flag %.64s.", a->str);
				return false;
			}
			continue;
		}
		if (strpbrk(a->str, "[]") != NULL || a->len > XI_MAILDIR_KEYWORD_NAME_MAX) {
			snprintf(why, why_size, "Invalid keyword.");
			return false;
		}
		if (mb != NULL) {
			unsigned idx;
			struct xi_error err = { 0 };
			if (xi_mailbox_keyword_lookup(mb, a->str, true, &idx, &err) < 0) {
				snprintf(why, why_size, "%s", err.message);
				return false;
			}
			*keywords |= 1u << idx;
		}
	}
	return true;
}

/* ---------------------------------------------------------------- message data */

struct msgdata {
	char *raw;          /* file bytes */
	size_t raw_len;
	char *crlf;         /* with every bare LF as CRLF */
	size_t crlf_len;
	size_t header_len;  /* of crlf, blank line included */
	struct xi_mime *mime;
};

static void msgdata_free(struct msgdata *d)
{
	xi_mime_free(d->mime);
	free(d->raw);
	free(d->crlf);
	memset(d, 0, sizeof(*d));
}

static int msgdata_load(struct xi_mailbox *mb, size_t idx, struct msgdata *d, bool mime,
			struct xi_error *err)
{
	int fd;
	size_t cap = 8192;

	memset(d, 0, sizeof(*d));
	if (xi_mailbox_message_open(mb, idx, &fd, err) < 0)
		return -1;
	d->raw = malloc(cap);
	for (;;) {
		if (d->raw == NULL) {
			close(fd);
			return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		}
		ssize_t r = read(fd, d->raw + d->raw_len, cap - d->raw_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return xi_error_set(err, XI_ERR_IO, "read: %s", strerror(errno));
		}
		if (r == 0)
			break;
		d->raw_len += (size_t)r;
		if (d->raw_len == cap) {
			if (cap >= XI_MAILDIR_MESSAGE_MAX) {
				close(fd);
				return xi_error_set(err, XI_ERR_INVALID, "message too large");
			}
			cap *= 2;
			char *p = realloc(d->raw, cap);
			if (p == NULL)
				free(d->raw);
			d->raw = p;
		}
	}
	close(fd);
	d->crlf = malloc(d->raw_len * 2 + 1);
	if (d->crlf == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < d->raw_len; i++) {
		if (d->raw[i] == '\n' && (i == 0 || d->raw[i - 1] != '\r'))
			d->crlf[d->crlf_len++] = '\r';
		d->crlf[d->crlf_len++] = d->raw[i];
	}
	/* The header ends with the first empty line (kept with the header). */
	d->header_len = d->crlf_len;
	if (d->crlf_len >= 2 && d->crlf[0] == '\r' && d->crlf[1] == '\n') {
		d->header_len = 2;
	} else {
		const char *e = memmem(d->crlf, d->crlf_len, "\r\n\r\n", 4);
		if (e != NULL)
			d->header_len = (size_t)(e - d->crlf) + 4;
	}
	if (mime && xi_mime_parse(d->raw, d->raw_len, NULL, &d->mime, err) < 0)
		return -1;
	return 0;
}

/* ---------------------------------------------------------------- FETCH */

enum item_kind {
	IT_UID, IT_FLAGS, IT_INTERNALDATE, IT_SIZE, IT_ENVELOPE, IT_BODY, IT_BODYSTRUCTURE,
	IT_RFC822, IT_RFC822_HEADER, IT_RFC822_TEXT, IT_SECTION
};
enum section_kind { SEC_ALL, SEC_HEADER, SEC_TEXT, SEC_FIELDS, SEC_FIELDS_NOT, SEC_PART1 };

struct item {
	enum item_kind kind;
	enum section_kind sec;
	bool peek;
	bool partial;
	uint32_t origin, count;
	char *fields;           /* HEADER.FIELDS names, space separated, upper case */
	char label[256];        /* "BODY[HEADER.FIELDS (A B)]" as answered */
};

static bool add_item(struct item *items, size_t *n, enum item_kind k)
{
	if (*n >= FETCH_MAX_ITEMS)
		return false;
	memset(&items[*n], 0, sizeof(items[*n]));
	items[(*n)++].kind = k;
	return true;
}

static bool parse_section(const char *atom, struct item *it)
{
	bool peek = strncasecmp(atom, "BODY.PEEK[", 10) == 0;
	const char *p = atom + (peek ? 10 : 5), *close = strchr(p, ']');
	char sec[200];
	size_t sl;

	if (close == NULL || (sl = (size_t)(close - p)) >= sizeof(sec))
		return false;
	memcpy(sec, p, sl);
	sec[sl] = '\0';
	it->kind = IT_SECTION;
	it->peek = peek;
	if (sl == 0) {
		it->sec = SEC_ALL;
	} else if (strcasecmp(sec, "HEADER") == 0) {
		it->sec = SEC_HEADER;
	} else if (strcasecmp(sec, "TEXT") == 0) {
		it->sec = SEC_TEXT;
	} else if (strcmp(sec, "1") == 0) {
		it->sec = SEC_PART1;
	} else if (strncasecmp(sec, "HEADER.FIELDS", 13) == 0) {
		const char *q = sec + 13;
		it->sec = SEC_FIELDS;
		if (strncasecmp(q, ".NOT", 4) == 0) {
			it->sec = SEC_FIELDS_NOT;
			q += 4;
		}
		while (*q == ' ')
			q++;
		if (*q != '(' || sec[sl - 1] != ')')
			return false;
		it->fields = strndup(q + 1, (size_t)(&sec[sl - 1] - (q + 1)));
		if (it->fields == NULL)
			return false;
		for (char *f = it->fields; *f != '\0'; f++) {
			if (*f == '"')
				*f = ' ';
			*f = (char)toupper((unsigned char)*f);
		}
	} else {
		return false;
	}
	snprintf(it->label, sizeof(it->label), "BODY[%s]", sec);
	for (char *l = it->label + 5; *l != ']' && *l != '\0'; l++)
		*l = (char)toupper((unsigned char)*l);
	p = close + 1;
	if (*p == '<') {
		char *end;
		unsigned long o = strtoul(p + 1, &end, 10), c;
		if (*end != '.' || !isdigit((unsigned char)end[1]))
			return false;
		c = strtoul(end + 1, &end, 10);
		if (*end != '>' || end[1] != '\0' || o > UINT32_MAX || c > UINT32_MAX || c == 0)
			return false;
		it->partial = true;
		it->origin = (uint32_t)o;
		it->count = (uint32_t)c;
	} else if (*p != '\0') {
		return false;
	}
	return true;
}

static bool parse_item(const struct xi_imap_arg *a, struct item *items, size_t *n)
{
	const char *s = a->str;

	if (a->type != XI_IMAP_ARG_ATOM)
		return false;
	if (strcasecmp(s, "ALL") == 0 || strcasecmp(s, "FAST") == 0 || strcasecmp(s, "FULL") == 0) {
		bool ok = add_item(items, n, IT_FLAGS) && add_item(items, n, IT_INTERNALDATE) &&
			  add_item(items, n, IT_SIZE);
		if (strcasecmp(s, "FAST") != 0)
			ok = ok && add_item(items, n, IT_ENVELOPE);
		if (strcasecmp(s, "FULL") == 0)
			ok = ok && add_item(items, n, IT_BODY);
		return ok;
	}
	static const struct { const char *name; enum item_kind k; } simple[] = {
		{ "UID", IT_UID }, { "FLAGS", IT_FLAGS }, { "INTERNALDATE", IT_INTERNALDATE },
		{ "RFC822.SIZE", IT_SIZE }, { "ENVELOPE", IT_ENVELOPE }, { "BODY", IT_BODY },
		{ "BODYSTRUCTURE", IT_BODYSTRUCTURE }, { "RFC822", IT_RFC822 },
		{ "RFC822.HEADER", IT_RFC822_HEADER }, { "RFC822.TEXT", IT_RFC822_TEXT },
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (strcasecmp(s, simple[i].name) == 0)
			return add_item(items, n, simple[i].k);
	if (strncasecmp(s, "BODY[", 5) == 0 || strncasecmp(s, "BODY.PEEK[", 10) == 0) {
		if (*n >= FETCH_MAX_ITEMS)
			return false;
		memset(&items[*n], 0, sizeof(items[*n]));
		if (!parse_section(s, &items[*n])) {
			free(items[*n].fields);
			return false;
		}
		(*n)++;
		return true;
	}
	return false;
}

/* Is header line name (len bytes) in the upper-case, space separated list? */
static bool field_listed(const char *fields, const char *name, size_t len)
{
	for (const char *p = fields; *p != '\0';) {
		while (*p == ' ')
			p++;
		size_t l = strcspn(p, " ");
		if (l == len && strncasecmp(p, name, len) == 0)
			return true;
		p += l;
	}
	return false;
}

static void out_literal(struct imap_session *s, const char *data, size_t len, const struct item *it)
{
	if (it != NULL && it->partial) {
		if (it->origin >= len)
			len = 0, data = "";
		else {
			data += it->origin;
			len -= it->origin;
			if (len > it->count)
				len = it->count;
		}
	}
	imap_printf(s, "{%zu}\r\n", len);
	imap_out(s, data, len);
}

static void out_section(struct imap_session *s, const struct msgdata *d, const struct item *it)
{
	const char *body = d->crlf + d->header_len;
	size_t body_len = d->crlf_len - d->header_len;

	imap_printf(s, "%s", it->label);
	if (it->partial)
		imap_printf(s, "<%u>", it->origin);
	imap_out(s, " ", 1);
	switch (it->sec) {
	case SEC_ALL:
		out_literal(s, d->crlf, d->crlf_len, it);
		break;
	case SEC_HEADER:
		out_literal(s, d->crlf, d->header_len, it);
		break;
	case SEC_TEXT:
	case SEC_PART1:
		out_literal(s, body, body_len, it);
		break;
	case SEC_FIELDS:
	case SEC_FIELDS_NOT: {
		char *buf = malloc(d->header_len + 3);
		size_t bl = 0;
		if (buf == NULL) {
			s->failed = true;
			return;
		}
		for (size_t i = 0; i < d->header_len;) {
			/* one header with its continuation lines */
			size_t j = i;
			do {
				const char *nl = memchr(d->crlf + j, '\n', d->header_len - j);
				j = nl != NULL ? (size_t)(nl - d->crlf) + 1 : d->header_len;
			} while (j < d->header_len && (d->crlf[j] == ' ' || d->crlf[j] == '\t'));
			const char *colon = memchr(d->crlf + i, ':', j - i);
			if (colon != NULL && j - i > 2) {
				size_t nl = (size_t)(colon - (d->crlf + i));
				while (nl > 0 && (d->crlf[i + nl - 1] == ' ' || d->crlf[i + nl - 1] == '\t'))
					nl--;
				bool listed = field_listed(it->fields, d->crlf + i, nl);
				if (listed == (it->sec == SEC_FIELDS)) {
					memcpy(buf + bl, d->crlf + i, j - i);
					bl += j - i;
				}
			}
			i = j;
		}
		memcpy(buf + bl, "\r\n", 2);
		bl += 2;
		out_literal(s, buf, bl, it);
		free(buf);
		break;
	}
	}
}

static void format_internaldate(time_t t, char *buf, size_t size)
{
	struct tm tm;
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	gmtime_r(&t, &tm);
	snprintf(buf, size, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, mon[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void imap_cmd_fetch(struct imap_session *s, const struct xi_imap_command *cmd,
		    const struct xi_imap_arg *args, bool uid)
{
	struct imap_view *v = s->view;
	struct item items[FETCH_MAX_ITEMS];
	size_t nitems = 0;
	struct set set;
	bool need_data = false, need_mime = false, sets_seen = false, any_gone = false;
	const struct xi_imap_arg *atts = args != NULL ? args->next : NULL;

	if (atts == NULL || atts->next != NULL) {
		imap_tagged(s, cmd->tag, "BAD FETCH needs a sequence set and data items.");
		return;
	}
	if (uid)
		add_item(items, &nitems, IT_UID);
	bool ok = true;
	if (atts->type == XI_IMAP_ARG_LIST) {
		for (const struct xi_imap_arg *a = atts->list; a != NULL && ok; a = a->next)
			ok = parse_item(a, items, &nitems);
		ok = ok && atts->count > 0;
	} else {
		ok = parse_item(atts, items, &nitems);
	}
	if (!ok) {
		for (size_t i = 0; i < nitems; i++)
			free(items[i].fields);
		imap_tagged(s, cmd->tag, "BAD Invalid or unsupported FETCH data item.");
		return;
	}
	for (size_t i = 0; i < nitems; i++) {
		enum item_kind k = items[i].kind;
		need_mime |= k == IT_ENVELOPE || k == IT_BODY || k == IT_BODYSTRUCTURE;
		need_data |= k >= IT_ENVELOPE;
		sets_seen |= k == IT_RFC822 || k == IT_RFC822_TEXT || (k == IT_SECTION && !items[i].peek);
	}
	if (!set_parse(s, cmd->tag, args, view_largest(v, uid), &set)) {
		for (size_t i = 0; i < nitems; i++)
			free(items[i].fields);
		return;
	}
	for (size_t i = 0; i < v->count && !s->failed; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		struct msgdata d = { 0 };
		struct xi_error err = { 0 };
		bool seen_now = false, first = true;
		ssize_t idx;

		if (!set_has(&set, uid ? vm->uid : (uint32_t)(i + 1)))
			continue;
		if (vm->gone || (idx = xi_mailbox_find_uid(v->mb, vm->uid)) < 0) {
			any_gone = true;
			continue;
		}
		const struct xi_maildir_message *m = xi_mailbox_message(v->mb, (size_t)idx);
		if (need_data && msgdata_load(v->mb, (size_t)idx, &d, need_mime, &err) < 0) {
			msgdata_free(&d);
			if (err.status == XI_ERR_NOTFOUND) {
				any_gone = true;
				continue;
			}
			xd_log(LOG_ERR, "imap: user %s: fetch uid %u: %s", s->user, vm->uid, err.message);
			any_gone = true;
			continue;
		}
		if (sets_seen && !v->read_only && !(m->flags & XI_MAIL_SEEN)) {
			if (xi_mailbox_set_flags(v->mb, (size_t)idx, XI_FLAGS_ADD, XI_MAIL_SEEN, 0, &err) == 0) {
				vm->flags |= XI_MAIL_SEEN;
				seen_now = true;
			}
		}
		imap_printf(s, "* %zu FETCH (", i + 1);
		bool flags_sent = false;
		for (size_t k = 0; k < nitems; k++) {
			const struct item *it = &items[k];
			if (!first)
				imap_out(s, " ", 1);
			first = false;
			switch (it->kind) {
			case IT_UID:
				imap_printf(s, "UID %u", vm->uid);
				break;
			case IT_FLAGS:
				imap_printf(s, "FLAGS ");
				imap_view_write_flags(s, v, vm->flags, vm->keywords, vm->recent);
				flags_sent = true;
				break;
			case IT_INTERNALDATE: {
				time_t t = 0;
				char date[64];
				(void)xi_mailbox_message_received(v->mb, (size_t)idx, &t, &err);
				format_internaldate(t, date, sizeof(date));
				imap_printf(s, "INTERNALDATE %s", date);
				break;
			}
			case IT_SIZE:
				imap_printf(s, "RFC822.SIZE %" PRIu64, m->vsize);
				break;
			case IT_ENVELOPE:
			case IT_BODY:
			case IT_BODYSTRUCTURE: {
				struct xi_mime_str str;
				int r;
				xi_mime_str_init(&str, XI_MIME_DEFAULT_MAX_OUTPUT);
				r = it->kind == IT_ENVELOPE ? xi_mime_envelope(d.mime, &str, &err)
							    : xi_mime_body(d.mime, it->kind == IT_BODYSTRUCTURE,
									   &str, &err);
				imap_printf(s, "%s %s", it->kind == IT_ENVELOPE ? "ENVELOPE"
							 : it->kind == IT_BODY ? "BODY" : "BODYSTRUCTURE",
					    r == 0 && str.data != NULL ? str.data : "NIL");
				xi_mime_str_free(&str);
				break;
			}
			case IT_RFC822:
				imap_printf(s, "RFC822 ");
				out_literal(s, d.crlf, d.crlf_len, NULL);
				break;
			case IT_RFC822_HEADER:
				imap_printf(s, "RFC822.HEADER ");
				out_literal(s, d.crlf, d.header_len, NULL);
				break;
			case IT_RFC822_TEXT:
				imap_printf(s, "RFC822.TEXT ");
				out_literal(s, d.crlf + d.header_len, d.crlf_len - d.header_len, NULL);
				break;
			case IT_SECTION:
				out_section(s, &d, it);
				break;
			}
		}
		if (seen_now && !flags_sent) {
			imap_printf(s, " FLAGS ");
			imap_view_write_flags(s, v, vm->flags, vm->keywords, vm->recent);
		}
		imap_out(s, ")\r\n", 3);
		msgdata_free(&d);
	}
	for (size_t i = 0; i < nitems; i++)
		free(items[i].fields);
	free(set.r);
	if (any_gone)
		imap_tagged(s, cmd->tag, "NO [EXPUNGEISSUED] Some of the requested messages no longer exist.");
	else
		imap_tagged(s, cmd->tag, "OK Fetch completed.");
}

/* ---------------------------------------------------------------- STORE */

void imap_cmd_store(struct imap_session *s, const struct xi_imap_command *cmd,
		    const struct xi_imap_arg *args, bool uid)
{
	struct imap_view *v = s->view;
	const struct xi_imap_arg *item = args != NULL ? args->next : NULL;
	const struct xi_imap_arg *flags = item != NULL ? item->next : NULL;
	enum xi_flag_mode mode;
	bool silent;
	const char *name;
	unsigned fl;
	uint32_t kw;
	char why[160];
	struct set set;
	bool any_gone = false;

	if (flags == NULL || item->type != XI_IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD STORE needs a sequence set, a data item and flags.");
		return;
	}
	name = item->str;
	mode = name[0] == '+' ? XI_FLAGS_ADD : name[0] == '-' ? XI_FLAGS_REMOVE : XI_FLAGS_REPLACE;
	if (mode != XI_FLAGS_REPLACE)
		name++;
	silent = strcasecmp(name, "FLAGS.SILENT") == 0;
	if (!silent && strcasecmp(name, "FLAGS") != 0) {
		imap_tagged(s, cmd->tag, "BAD Invalid STORE data item.");
		return;
	}
	if (v->read_only) {
		imap_tagged(s, cmd->tag, "NO Mailbox is read-only.");
		return;
	}
	if (!imap_flags_parse(flags, v->mb, &fl, &kw, why, sizeof(why))) {
		imap_tagged(s, cmd->tag, "BAD %s", why);
		return;
	}
	if (xi_mailbox_keyword_count(v->mb) != v->keywords_told)
		imap_view_send_flags(s, v);
	if (!set_parse(s, cmd->tag, args, view_largest(v, uid), &set))
		return;
	for (size_t i = 0; i < v->count && !s->failed; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		struct xi_error err = { 0 };
		ssize_t idx;

		if (!set_has(&set, uid ? vm->uid : (uint32_t)(i + 1)))
			continue;
		if (vm->gone || (idx = xi_mailbox_find_uid(v->mb, vm->uid)) < 0 ||
		    xi_mailbox_set_flags(v->mb, (size_t)idx, mode, fl, kw, &err) < 0) {
			any_gone = true;
			continue;
		}
		const struct xi_maildir_message *m = xi_mailbox_message(v->mb, (size_t)idx);
		vm->flags = m->flags;
		vm->keywords = m->keywords;
		if (!silent) {
			imap_printf(s, "* %zu FETCH (FLAGS ", i + 1);
			imap_view_write_flags(s, v, vm->flags, vm->keywords, vm->recent);
			if (uid)
				imap_printf(s, " UID %u", vm->uid);
			imap_out(s, ")\r\n", 3);
		}
	}
	free(set.r);
	if (any_gone)
		imap_tagged(s, cmd->tag, "NO [EXPUNGEISSUED] Some of the messages no longer exist.");
	else
		imap_tagged(s, cmd->tag, "OK Store completed.");
}

/* ---------------------------------------------------------------- COPY, MOVE */

int imap_copy_message(struct xi_mailbox *src, size_t index, struct xi_maildir *md,
		      const char *dest, uint32_t *uid_out, struct xi_error *err)
{
	const struct xi_maildir_message *m = xi_mailbox_message(src, index);
	unsigned flags = m->flags;
	struct xi_maildir_delivery *dlv;
	time_t received = 0;
	char buf[16384];
	int fd;
	ssize_t r;

	if (xi_mailbox_message_received(src, index, &received, err) < 0 ||
	    xi_mailbox_message_open(src, index, &fd, err) < 0)
		return -1;
	if (xi_maildir_delivery_begin(md, strcmp(dest, "INBOX") == 0 ? NULL : dest, &dlv, err) < 0) {
		close(fd);
		return -1;
	}
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || xi_maildir_delivery_write(dlv, buf, (size_t)r, err) < 0) {
			if (r < 0)
				xi_error_set(err, XI_ERR_IO, "read: %s", strerror(errno));
			close(fd);
			xi_maildir_delivery_abort(dlv);
			return -1;
		}
	}
	close(fd);
	xi_maildir_delivery_set_received(dlv, received);
	return xi_maildir_delivery_commit(dlv, flags, uid_out, err);
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void imap_cmd_copy(struct imap_session *s, const struct xi_imap_command *cmd,
		   const struct xi_imap_arg *args, bool uid, bool move)
{
	struct imap_view *v = s->view;
	char dest[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	struct set set;
	uint32_t *src_uids = NULL, *dst_uids = NULL;
	size_t n = 0;
	struct xi_error err = { 0 };
	bool failed = false;

	if (args == NULL || args->next == NULL || args->next->next != NULL) {
		imap_tagged(s, cmd->tag, "BAD %s needs a sequence set and a mailbox.", move ? "MOVE" : "COPY");
		return;
	}
	if (move && v->read_only) {
		imap_tagged(s, cmd->tag, "NO Mailbox is read-only.");
		return;
	}
	if (!imap_mailbox_arg(s, cmd->tag, args->next, dest, sizeof(dest)))
		return;
	if (!imap_folder_exists(s->md, dest)) {
		imap_tagged(s, cmd->tag, "NO [TRYCREATE] Mailbox doesn't exist.");
		return;
	}
	if (!set_parse(s, cmd->tag, args, view_largest(v, uid), &set))
		return;
	src_uids = malloc((v->count + 1) * sizeof(*src_uids));
	dst_uids = malloc((v->count + 1) * sizeof(*dst_uids));
	if (src_uids == NULL || dst_uids == NULL) {
		free(set.r);
		free(src_uids);
		free(dst_uids);
		imap_tagged(s, cmd->tag, "NO [LIMIT] Out of memory.");
		return;
	}
	for (size_t i = 0; i < v->count && !failed; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		ssize_t idx;
		if (!set_has(&set, uid ? vm->uid : (uint32_t)(i + 1)) || vm->gone ||
		    (idx = xi_mailbox_find_uid(v->mb, vm->uid)) < 0)
			continue;
		if (imap_copy_message(v->mb, (size_t)idx, s->md, dest, &dst_uids[n], &err) < 0) {
			failed = true;
			break;
		}
		src_uids[n++] = vm->uid;
	}
	free(set.r);
	if (failed) {
		xd_log(LOG_ERR, "imap: user %s: copy to %s: %s", s->user, dest, err.message);
		imap_tagged(s, cmd->tag, "NO %s failed: %s", move ? "Move" : "Copy", err.message);
	} else if (n == 0) {
		imap_tagged(s, cmd->tag, "OK No messages found.");
	} else {
		struct xi_mailbox *mb;
		char *a = NULL, *b = NULL;
		size_t al = 0, ac = 0, bl = 0, bc = 0;
		uint32_t validity = 0;
		if (xi_mailbox_open(s->md, strcmp(dest, "INBOX") == 0 ? NULL : dest, false, &mb, &err) == 0) {
			validity = xi_mailbox_uidvalidity(mb);
			xi_mailbox_close(mb);
		}
		/* UIDs were assigned in source order, so both lists stay paired. */
		qsort(src_uids, n, sizeof(*src_uids), uid_cmp);
		uid_set_text(src_uids, n, &a, &al, &ac);
		uid_set_text(dst_uids, n, &b, &bl, &bc);
		if (move) {
			imap_printf(s, "* OK [COPYUID %u %s %s] Moved UIDs.\r\n", validity, a ? a : "",
				    b ? b : "");
			for (size_t i = 0; i < v->count; i++) {
				ssize_t idx;
				if (!v->msgs[i].gone &&
				    bsearch(&v->msgs[i].uid, src_uids, n, sizeof(*src_uids), uid_cmp) != NULL &&
				    (idx = xi_mailbox_find_uid(v->mb, v->msgs[i].uid)) >= 0)
					(void)xi_mailbox_expunge(v->mb, (size_t)idx, &err);
			}
			imap_tagged(s, cmd->tag, "OK Move completed.");
		} else {
			imap_tagged(s, cmd->tag, "OK [COPYUID %u %s %s] Copy completed.", validity,
				    a ? a : "", b ? b : "");
		}
		free(a);
		free(b);
	}
	free(src_uids);
	free(dst_uids);
}

/* ---------------------------------------------------------------- EXPUNGE */

void imap_cmd_expunge(struct imap_session *s, const struct xi_imap_command *cmd,
		      const struct xi_imap_arg *uidset)
{
	struct imap_view *v = s->view;
	struct set set = { 0 };

	if (v->read_only) {
		imap_tagged(s, cmd->tag, "NO Mailbox is read-only.");
		return;
	}
	if (uidset != NULL && !set_parse(s, cmd->tag, uidset, view_largest(v, true), &set))
		return;
	for (size_t i = 0; i < v->count; i++) {
		struct xi_error err = { 0 };
		ssize_t idx;
		if (v->msgs[i].gone || (uidset != NULL && !set_has(&set, v->msgs[i].uid)) ||
		    (idx = xi_mailbox_find_uid(v->mb, v->msgs[i].uid)) < 0)
			continue;
		if (xi_mailbox_message(v->mb, (size_t)idx)->flags & XI_MAIL_DELETED)
			(void)xi_mailbox_expunge(v->mb, (size_t)idx, &err);
	}
	free(set.r);
	imap_tagged(s, cmd->tag, "OK Expunge completed.");
}

/* ---------------------------------------------------------------- SEARCH */

struct search_ctx {
	struct imap_session *s;
	struct imap_view *v;
	size_t seq;               /* 1-based; 0 = checking syntax only */
	ssize_t idx;
	struct msgdata d;
	bool loaded, load_failed;
	const char *error;        /* syntax error (BAD) */
	unsigned depth;
};

static bool search_load(struct search_ctx *c)
{
	struct xi_error err = { 0 };

	if (!c->loaded && !c->load_failed) {
		if (msgdata_load(c->v->mb, (size_t)c->idx, &c->d, true, &err) < 0)
			c->load_failed = true;
		else
			c->loaded = true;
	}
	return c->loaded;
}

static bool contains_ci(const char *hay, const char *needle)
{
	return needle[0] == '\0' || strcasestr(hay, needle) != NULL;
}

static bool header_has(struct search_ctx *c, const char *field, const char *needle)
{
	struct xi_mime_str str;
	bool r;

	if (!search_load(c))
		return false;
	xi_mime_str_init(&str, 1 << 20);
	r = xi_mime_header_value(c->d.mime, field, &str) == 0 &&
	    contains_ci(str.data != NULL ? str.data : "", needle);
	xi_mime_str_free(&str);
	return r;
}

/* RFC 2822 Date header -> the day (00:00 UTC), or -1. */
static time_t sent_day(struct search_ctx *c)
{
	struct xi_mime_str str;
	static const char *const mon[] = { "jan", "feb", "mar", "apr", "may", "jun",
					   "jul", "aug", "sep", "oct", "nov", "dec" };
	time_t r = -1;
	int day, year;
	char m[4];

	if (!search_load(c))
		return -1;
	xi_mime_str_init(&str, 4096);
	if (xi_mime_header_value(c->d.mime, "Date", &str) == 0 && str.data != NULL) {
		const char *p = strchr(str.data, ',');
		p = p != NULL ? p + 1 : str.data;
		if (sscanf(p, " %d %3s %d", &day, m, &year) == 3) {
			for (int i = 0; i < 12; i++)
				if (strcasecmp(m, mon[i]) == 0) {
					struct tm tm = { .tm_mday = day, .tm_mon = i,
							 .tm_year = (year < 100 ? year + 2000 : year) - 1900 };
					r = timegm(&tm);
				}
		}
	}
	xi_mime_str_free(&str);
	return r;
}

static bool search_key(struct search_ctx *c, const struct xi_imap_arg **ap);

/* All keys from a to the end of its list (AND). */
static bool search_all(struct search_ctx *c, const struct xi_imap_arg *a)
{
	bool r = true;

	while (a != NULL && c->error == NULL)
		r &= search_key(c, &a);
	return r;
}

static const char *next_string(struct search_ctx *c, const struct xi_imap_arg **ap)
{
	const struct xi_imap_arg *a = *ap;
	const char *s = imap_arg_string(a);

	if (s == NULL) {
		c->error = "Missing argument to a search key.";
		return NULL;
	}
	*ap = a->next;
	return s;
}

static bool search_key(struct search_ctx *c, const struct xi_imap_arg **ap)
{
	const struct xi_imap_arg *a = *ap;
	struct imap_view_msg *vm = c->seq ? &c->v->msgs[c->seq - 1] : NULL;
	const struct xi_maildir_message *m =
		c->seq && c->idx >= 0 ? xi_mailbox_message(c->v->mb, (size_t)c->idx) : NULL;
	unsigned flags = m != NULL ? m->flags : 0;
	const char *k, *arg;

	*ap = a->next;
	if (a->type == XI_IMAP_ARG_LIST) {
		if (++c->depth > 32) {
			c->error = "Search keys nested too deeply.";
			return false;
		}
		bool r = search_all(c, a->list);
		c->depth--;
		return r;
	}
	if (a->type != XI_IMAP_ARG_ATOM) {
		c->error = "Invalid search key.";
		return false;
	}
	k = a->str;
	static const struct { const char *name; unsigned bit; bool set; } fk[] = {
		{ "ANSWERED", XI_MAIL_ANSWERED, true }, { "UNANSWERED", XI_MAIL_ANSWERED, false },
		{ "DELETED", XI_MAIL_DELETED, true }, { "UNDELETED", XI_MAIL_DELETED, false },
		{ "DRAFT", XI_MAIL_DRAFT, true }, { "UNDRAFT", XI_MAIL_DRAFT, false },
		{ "FLAGGED", XI_MAIL_FLAGGED, true }, { "UNFLAGGED", XI_MAIL_FLAGGED, false },
		{ "SEEN", XI_MAIL_SEEN, true }, { "UNSEEN", XI_MAIL_SEEN, false },
	};
	for (size_t i = 0; i < sizeof(fk) / sizeof(fk[0]); i++)
		if (strcasecmp(k, fk[i].name) == 0)
			return m != NULL && ((flags & fk[i].bit) != 0) == fk[i].set;
	if (strcasecmp(k, "ALL") == 0)
		return true;
	if (strcasecmp(k, "RECENT") == 0)
		return vm != NULL && vm->recent;
	if (strcasecmp(k, "OLD") == 0)
		return vm != NULL && !vm->recent;
	if (strcasecmp(k, "NEW") == 0)
		return vm != NULL && vm->recent && !(flags & XI_MAIL_SEEN);
	if (strcasecmp(k, "NOT") == 0) {
		if (*ap == NULL) {
			c->error = "NOT needs a search key.";
			return false;
		}
		return !search_key(c, ap);
	}
	if (strcasecmp(k, "OR") == 0) {
		if (*ap == NULL || (*ap)->next == NULL) {
			c->error = "OR needs two search keys.";
			return false;
		}
		bool x = search_key(c, ap);
		bool y = search_key(c, ap);
		return x || y;
	}
	if (strcasecmp(k, "KEYWORD") == 0 || strcasecmp(k, "UNKEYWORD") == 0) {
		unsigned idx;
		struct xi_error err = { 0 };
		bool has;
		if ((arg = next_string(c, ap)) == NULL)
			return false;
		has = m != NULL && xi_mailbox_keyword_lookup(c->v->mb, arg, false, &idx, &err) == 0 &&
		      (m->keywords & (1u << idx));
		return m != NULL && (strcasecmp(k, "KEYWORD") == 0 ? has : !has);
	}
	if (strcasecmp(k, "LARGER") == 0 || strcasecmp(k, "SMALLER") == 0) {
		char *end;
		if ((arg = next_string(c, ap)) == NULL)
			return false;
		unsigned long long n = strtoull(arg, &end, 10);
		if (*end != '\0' || end == arg) {
			c->error = "Invalid number.";
			return false;
		}
		return m != NULL && (k[0] == 'L' || k[0] == 'l' ? m->vsize > n : m->vsize < n);
	}
	if (strcasecmp(k, "BEFORE") == 0 || strcasecmp(k, "ON") == 0 || strcasecmp(k, "SINCE") == 0 ||
	    strcasecmp(k, "SENTBEFORE") == 0 || strcasecmp(k, "SENTON") == 0 ||
	    strcasecmp(k, "SENTSINCE") == 0) {
		time_t day, t = 0;
		bool sent = strncasecmp(k, "SENT", 4) == 0;
		const char *op = sent ? k + 4 : k;
		if ((arg = next_string(c, ap)) == NULL)
			return false;
		if (!imap_parse_date(arg, &day)) {
			c->error = "Invalid date.";
			return false;
		}
		if (m == NULL)
			return false;
		if (sent) {
			t = sent_day(c);
			if (t < 0)
				return false;
		} else {
			struct xi_error err = { 0 };
			(void)xi_mailbox_message_received(c->v->mb, (size_t)c->idx, &t, &err);
			t -= t % 86400;
		}
		return strcasecmp(op, "BEFORE") == 0 ? t < day : strcasecmp(op, "ON") == 0 ? t == day
										 : t >= day;
	}
	static const char *const hdr[] = { "FROM", "TO", "CC", "BCC", "SUBJECT" };
	for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
		if (strcasecmp(k, hdr[i]) != 0)
			continue;
		if ((arg = next_string(c, ap)) == NULL)
			return false;
		char field[8];
		snprintf(field, sizeof(field), "%c%s", hdr[i][0], hdr[i] + 1);
		for (char *f = field + 1; *f != '\0'; f++)
			*f = (char)tolower((unsigned char)*f);
		return m != NULL && header_has(c, field, arg);
	}
	if (strcasecmp(k, "HEADER") == 0) {
		const char *field = next_string(c, ap);
		if (field == NULL || (arg = next_string(c, ap)) == NULL)
			return false;
		return m != NULL && header_has(c, field, arg);
	}
	if (strcasecmp(k, "BODY") == 0 || strcasecmp(k, "TEXT") == 0) {
		if ((arg = next_string(c, ap)) == NULL)
			return false;
		return m != NULL && search_load(c) &&
		       xi_mime_search_text(c->d.mime, strcasecmp(k, "BODY") == 0 ? XI_MIME_SEARCH_BODY
										 : XI_MIME_SEARCH_TEXT,
					   arg) == 1;
	}
	if (strcasecmp(k, "UID") == 0 || isdigit((unsigned char)k[0]) || k[0] == '*') {
		bool by_uid = strcasecmp(k, "UID") == 0;
		const struct xi_imap_arg *setarg = by_uid ? *ap : a;
		struct xi_imap_seq_range r[256];
		int n;
		if (setarg == NULL || setarg->type != XI_IMAP_ARG_ATOM) {
			c->error = "UID needs a sequence set.";
			return false;
		}
		if (by_uid)
			*ap = setarg->next;
		n = xi_imap_seqset_parse(setarg->str, setarg->len, r, 256);
		if (n < 0) {
			c->error = "Invalid sequence set in SEARCH (at most 256 ranges).";
			return false;
		}
		if (vm == NULL)
			return false;
		uint32_t x = by_uid ? vm->uid : (uint32_t)c->seq;
		uint32_t largest = c->v->count == 0 ? 0
				   : by_uid ? c->v->msgs[c->v->count - 1].uid : (uint32_t)c->v->count;
		for (int i = 0; i < n; i++) {
			uint32_t lo, hi;
			if (xi_imap_seq_range_resolve(&r[i], largest, &lo, &hi) && x >= lo && x <= hi)
				return true;
		}
		return false;
	}
	c->error = "Unknown search key.";
	return false;
}

void imap_cmd_search(struct imap_session *s, const struct xi_imap_command *cmd,
		     const struct xi_imap_arg *args, bool uid)
{
	struct imap_view *v = s->view;
	struct search_ctx c = { .s = s, .v = v };
	const struct xi_imap_arg *keys = args;

	if (keys != NULL && keys->type == XI_IMAP_ARG_ATOM && strcasecmp(keys->str, "CHARSET") == 0) {
		const char *cs = imap_arg_string(keys->next);
		if (cs == NULL) {
			imap_tagged(s, cmd->tag, "BAD CHARSET needs a name.");
			return;
		}
		if (strcasecmp(cs, "UTF-8") != 0 && strcasecmp(cs, "US-ASCII") != 0) {
			imap_tagged(s, cmd->tag, "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.");
			return;
		}
		keys = keys->next->next;
	}
	if (keys == NULL) {
		imap_tagged(s, cmd->tag, "BAD SEARCH needs search keys.");
		return;
	}
	/* A dry run first: syntax errors are BAD even in an empty mailbox. */
	(void)search_all(&c, keys);
	if (c.error != NULL) {
		imap_tagged(s, cmd->tag, "BAD %s", c.error);
		return;
	}
	imap_printf(s, "* SEARCH");
	for (size_t i = 0; i < v->count && !s->failed; i++) {
		if (v->msgs[i].gone)
			continue;
		c.seq = i + 1;
		c.idx = xi_mailbox_find_uid(v->mb, v->msgs[i].uid);
		c.loaded = c.load_failed = false;
		if (c.idx >= 0 && search_all(&c, keys))
			imap_printf(s, " %u", uid ? v->msgs[i].uid : (unsigned)(i + 1));
		if (c.loaded)
			msgdata_free(&c.d);
	}
	imap_out(s, "\r\n", 2);
	imap_tagged(s, cmd->tag, "OK Search completed.");
}
