#include "event.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Appends like snprintf: counts everything, stores what fits. */
struct line {
	char *buf;
	size_t size, len;
};

static void line_put(struct line *l, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++, l->len++) {
		if (l->len + 1 < l->size)
			l->buf[l->len] = p[i];
	}
}

static void line_str(struct line *l, const char *s)
{
	line_put(l, s, strlen(s));
}


/* Length of the well-formed UTF-8 sequence at p when it is safe to write into
 * a log as it is, else 0 (the bytes are then escaped one by one).  Not safe:
 * overlong forms (E0 82 8A is a newline to a lenient reader), surrogates and
 * values above U+10FFFF, C1 controls (a terminal acts on them), the line and
 * paragraph separators (a log viewer may break the line there) and the bidi
 * embedding/override/isolate controls (they can make a line read as
 * something else). */
static size_t utf8_sequence(const unsigned char *p)
{
	uint32_t cp;
	size_t n;

	if (*p >= 0xc2 && *p <= 0xdf) {
		n = 2;
		cp = *p & 0x1fu;
	} else if (*p >= 0xe0 && *p <= 0xef) {
		n = 3;
		cp = *p & 0x0fu;
	} else if (*p >= 0xf0 && *p <= 0xf4) {
		n = 4;
		cp = *p & 0x07u;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return n;
}

/* A bare value is printable ASCII without space, quote, backslash or `=`
 * (so `key=value` splits at the first `=`), or UTF-8 beyond ASCII; anything
 * that must be escaped is quoted, so an escape never reads as plain text. */
static bool needs_quotes(const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	if (*p == '\0')
		return true;
	while (*p != '\0') {
		size_t seq = 1;

		if (*p <= ' ' || *p == '"' || *p == '\\' || *p == '=' || *p == 0x7f)
			return true;
		if (*p >= 0x80 && (seq = utf8_sequence(p)) == 0)
			return true;
		p += seq;
	}
	return false;
}

/* The escaped form of the character at p: its bytes in out, their count in
 * *escaped_len; returns how many input bytes it stands for. */
static size_t escape_one(const unsigned char *p, char out[8], size_t *escaped_len)
{
	size_t seq;

	switch (*p) {
	case '"': memcpy(out, "\\\"", 2); *escaped_len = 2; return 1;
	case '\\': memcpy(out, "\\\\", 2); *escaped_len = 2; return 1;
	case '\n': memcpy(out, "\\n", 2); *escaped_len = 2; return 1;
	case '\r': memcpy(out, "\\r", 2); *escaped_len = 2; return 1;
	case '\t': memcpy(out, "\\t", 2); *escaped_len = 2; return 1;
	default: break;
	}
	if (*p < 0x20 || *p == 0x7f) {
		snprintf(out, 8, "\\x%02x", *p);
		*escaped_len = 4;
		return 1;
	}
	if (*p < 0x80) {
		out[0] = (char)*p;
		*escaped_len = 1;
		return 1;
	}
	seq = utf8_sequence(p);
	if (seq == 0) {
		snprintf(out, 8, "\\x%02x", *p);
		*escaped_len = 4;
		return 1;
	}
	memcpy(out, p, seq);
	*escaped_len = seq;
	return seq;
}

static void line_value(struct line *l, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;
	bool quoted = needs_quotes(v);
	size_t written = 0;

	if (quoted)
		line_put(l, "\"", 1);
	while (*p != '\0') {
		char esc[8];
		size_t esc_len, used = escape_one(p, esc, &esc_len);

		if (written + esc_len > XI_EVENT_VALUE_MAX) {
			line_put(l, "...", 3);
			break;
		}
		line_put(l, esc, esc_len);
		written += esc_len;
		p += used;
	}
	if (quoted)
		line_put(l, "\"", 1);
}

static void line_field(struct line *l, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (l->len > 0)
		line_put(l, " ", 1);
	line_str(l, key);
	line_put(l, "=", 1);
	line_value(l, value);
}

size_t xi_event_format(const struct xi_event *ev, char *buf, size_t size)
{
	struct line l = { buf, size, 0 };
	char number[16];

	snprintf(number, sizeof(number), "%u", ev->id);
	line_field(&l, "event", number);
	line_field(&l, "category", xi_category_name(ev->category));
	snprintf(number, sizeof(number), "%d", (int)ev->level);
	line_field(&l, "level", number);
	line_field(&l, "severity", ev->severity);
	line_field(&l, "outcome", ev->outcome);
	line_field(&l, "protocol", ev->protocol);
	line_field(&l, "remote", ev->remote);
	line_field(&l, "login", ev->login);
	line_field(&l, "resolved", ev->resolved);
	line_field(&l, "account_dn", ev->account_dn);
	line_field(&l, "mailbox_dn", ev->mailbox_dn);
	line_field(&l, "cause", ev->cause);
	line_field(&l, "remedy", ev->remedy);
	if (size > 0)
		buf[l.len < size ? l.len : size - 1] = '\0';
	return l.len;
}

void xi_event_levels_set_all(struct xi_event_levels *lv, enum xi_diag_level level)
{
	for (size_t i = 0; i < XI_CAT__COUNT; i++)
		lv->level[i] = level;
}

bool xi_event_wanted(const struct xi_event_levels *lv, const struct xi_event *ev)
{
	if (ev->level == XI_LEVEL_NONE)
		return true;
	if ((unsigned)ev->category >= XI_CAT__COUNT)
		return false;
	/* No levels given: the configuration's default, minimum. */
	if (lv == NULL)
		return ev->level <= XI_LEVEL_MINIMUM;
	return ev->level <= lv->level[ev->category];
}

void xi_event_emit(const struct xi_event_levels *lv, xi_event_sink_fn *sink, void *ctx,
		   const struct xi_event *ev)
{
	char line[XI_EVENT_LINE_MAX];

	if (sink == NULL || !xi_event_wanted(lv, ev))
		return;
	xi_event_format(ev, line, sizeof(line));
	sink(ctx, ev, line);
}

void xi_event_from_outcome(struct xi_event *ev, enum xi_outcome outcome, const char *protocol)
{
	const struct xi_outcome_info *info = xi_outcome_info(outcome);

	memset(ev, 0, sizeof(*ev));
	ev->id = xi_outcome_event_id(outcome, protocol);
	ev->category = info->category;
	ev->level = info->level;
	ev->severity = info->severity;
	ev->outcome = info->name;
	ev->protocol = protocol;
	ev->remedy = info->remedy;
}
