/*
 * mime_section.c: BODY[<section>] parsing and extraction (mime_section.h).
 *
 * Part lookup follows RFC 3501 6.4.5 as Dovecot applies it: a number
 * indexes the children of a multipart; a non-multipart accepts only 1 (the
 * part itself, and then nothing but message/rfc822 may continue); after a
 * message/rfc822 part, a following number, HEADER or TEXT applies to the
 * message inside it (MIME stays on the part itself).
 */
#include "mime_section.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void xi_mime_section_clear(struct xi_mime_section *sec)
{
	free(sec->path);
	for (unsigned i = 0; i < sec->nfields; i++)
		free(sec->fields[i]);
	free(sec->fields);
	free(sec->name);
	memset(sec, 0, sizeof(*sec));
}

static int fail(char *why, size_t cap, const char *text)
{
	if (cap > 0)
		snprintf(why, cap, "%s", text);
	return -1;
}

static bool word_at(const char *s, size_t len, size_t pos, const char *w)
{
	size_t n = strlen(w);
	return len - pos >= n && strncasecmp(s + pos, w, n) == 0;
}

/* astring characters of a header-fld-name (RFC 3501: ATOM-CHAR and
 * resp-specials), minus what would end the list. */
static bool is_field_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"' && c != '\\' &&
	       c != '%' && c != '*' && c != ':';
}

static int parse_fields(const char *s, size_t len, size_t pos, unsigned max_fields,
			struct xi_mime_section *out, char *why, size_t cap)
{
	if (pos >= len || s[pos] != ' ')
		return fail(why, cap, "Missing header field list");
	pos++;
	if (pos >= len || s[pos] != '(')
		return fail(why, cap, "Header field list must be parenthesised");
	pos++;
	for (;;) {
		if (pos >= len)
			return fail(why, cap, "Unterminated header field list");
		if (s[pos] == ')') {
			pos++;
			break;
		}
		if (out->nfields > 0) {
			if (s[pos] != ' ')
				return fail(why, cap, "Invalid header field list");
			pos++;
		}
		const char *name;
		size_t n;
		if (pos < len && s[pos] == '"') {
			/* a quoted field name: no escapes needed in a field name */
			size_t e = pos + 1;
			while (e < len && s[e] != '"' && is_field_char((unsigned char)s[e]))
				e++;
			if (e >= len || s[e] != '"' || e == pos + 1)
				return fail(why, cap, "Invalid header field name");
			name = s + pos + 1;
			n = e - pos - 1;
			pos = e + 1;
		} else {
			size_t e = pos;
			while (e < len && is_field_char((unsigned char)s[e]))
				e++;
			if (e == pos)
				return fail(why, cap, "Invalid header field name");
			name = s + pos;
			n = e - pos;
			pos = e;
		}
		if (out->nfields >= max_fields)
			return fail(why, cap, "Too many header fields");
		char **f = realloc(out->fields, (out->nfields + 1) * sizeof(*f));
		if (f == NULL)
			return fail(why, cap, "Out of memory");
		out->fields = f;
		char *copy = malloc(n + 1);
		if (copy == NULL)
			return fail(why, cap, "Out of memory");
		for (size_t i = 0; i < n; i++) {
			char c = name[i];
			copy[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
		}
		copy[n] = '\0';
		out->fields[out->nfields++] = copy;
	}
	if (pos != len)
		return fail(why, cap, "Junk after header field list");
	if (out->nfields == 0)
		return fail(why, cap, "Empty header field list");
	return 0;
}

int xi_mime_section_parse(const char *s, size_t len, unsigned max_depth, unsigned max_fields,
			  struct xi_mime_section *out, char *why, size_t cap)
{
	memset(out, 0, sizeof(*out));
	out->text = XI_SECTION_ALL;
	out->name = malloc(len + 1);
	if (out->name == NULL)
		return fail(why, cap, "Out of memory");
	for (size_t i = 0; i < len; i++)
		out->name[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 32) : s[i];
	out->name[len] = '\0';
	size_t pos = 0;
	/* part numbers */
	while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
		uint64_t v = 0;
		size_t start = pos;
		while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
			v = v * 10 + (unsigned)(s[pos] - '0');
			if (v > UINT32_MAX)
				return fail(why, cap, "Invalid section number");
			pos++;
		}
		if (v == 0 || s[start] == '0')
			return fail(why, cap, "Invalid section number");
		if (out->depth >= max_depth)
			return fail(why, cap, "Section nested too deeply");
		unsigned *p = realloc(out->path, (out->depth + 1) * sizeof(*p));
		if (p == NULL)
			return fail(why, cap, "Out of memory");
		out->path = p;
		out->path[out->depth++] = (unsigned)v;
		if (pos == len)
			return 0;
		if (s[pos] != '.')
			return fail(why, cap, "Invalid section");
		pos++;
		if (pos == len)
			return fail(why, cap, "Invalid section");
	}
	if (pos == len)
		return 0;
	if (word_at(s, len, pos, "HEADER.FIELDS.NOT")) {
		out->text = XI_SECTION_FIELDS_NOT;
		return parse_fields(s, len, pos + 17, max_fields, out, why, cap);
	}
	if (word_at(s, len, pos, "HEADER.FIELDS")) {
		out->text = XI_SECTION_FIELDS;
		return parse_fields(s, len, pos + 13, max_fields, out, why, cap);
	}
	if (len - pos == 6 && word_at(s, len, pos, "HEADER")) {
		out->text = XI_SECTION_HEADER;
		return 0;
	}
	if (len - pos == 4 && word_at(s, len, pos, "TEXT")) {
		out->text = XI_SECTION_TEXT;
		return 0;
	}
	if (len - pos == 4 && out->depth > 0 && word_at(s, len, pos, "MIME")) {
		out->text = XI_SECTION_MIME;
		return 0;
	}
	return fail(why, cap, "Invalid section");
}

static void add_name(struct xi_mime_str *out, const char *text)
{
	xi_mime_str_add(out, text, strlen(text));
}

/* Where section bytes go: all of them, or only the window of a partial
 * <origin.count> (so a small partial of a large part copies little). */
struct sink {
	struct xi_mime_str *out;
	bool window;
	uint64_t skip, left; /* window: bytes still to skip / to keep */
};

/* Appends converted bytes c[0..n) through the window. */
static void sink_put(struct sink *k, const char *c, size_t n)
{
	if (!k->window) {
		xi_mime_str_add(k->out, c, n);
		return;
	}
	if (k->skip >= n) {
		k->skip -= n;
		return;
	}
	c += k->skip;
	n -= (size_t)k->skip;
	k->skip = 0;
	if (n > k->left)
		n = (size_t)k->left;
	k->left -= n;
	xi_mime_str_add(k->out, c, n);
}

static void add(struct sink *k, const char *text)
{
	sink_put(k, text, strlen(text));
}

void xi_mime_section_name(const struct xi_mime_section *sec, struct xi_mime_str *out)
{
	add_name(out, sec->name != NULL ? sec->name : "");
}

/* Appends p[0..n) with every LF not preceded by CR written as CRLF and
 * every NUL as 0x80.
 * prev_cr: whether the byte before p[0] (in the message) is a CR. */
static void add_crlf_out(struct xi_mime_str *out, const char *p, size_t n, bool prev_cr);

static void add_crlf(struct sink *k, const char *p, size_t n, bool prev_cr)
{
	if (!k->window) {
		add_crlf_out(k->out, p, n, prev_cr);
		return;
	}
	/* through the window in chunks, stopping once it is full */
	char buf[512];
	size_t b = 0;
	for (size_t i = 0; i < n && k->left > 0; i++) {
		if (b + 2 > sizeof(buf)) {
			sink_put(k, buf, b);
			b = 0;
		}
		if (p[i] == '\n' && !(i > 0 ? p[i - 1] == '\r' : prev_cr))
			buf[b++] = '\r';
		buf[b++] = p[i] == '\0' ? (char)0x80 : p[i];
	}
	if (b > 0 && k->left > 0)
		sink_put(k, buf, b);
}

static void add_crlf_out(struct xi_mime_str *out, const char *p, size_t n, bool prev_cr)
{
	size_t extra = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' && !(i > 0 ? p[i - 1] == '\r' : prev_cr))
			extra++;
	if (out->overflow)
		return;
	if (n > out->max || extra > out->max - n || out->len > out->max - n - extra) {
		out->overflow = true;
		return;
	}
	size_t need = out->len + n + extra + 1;
	if (need > out->cap) {
		size_t c = out->cap ? out->cap : 128;
		while (c < need)
			c = c > SIZE_MAX / 2 ? need : c * 2;
		char *q = realloc(out->data, c);
		if (q == NULL) {
			out->overflow = true;
			return;
		}
		out->data = q;
		out->cap = c;
	}
	char *w = out->data + out->len;
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && !(i > 0 ? p[i - 1] == '\r' : prev_cr)) {
			memcpy(w, p + start, i - start);
			w += i - start;
			*w++ = '\r';
			start = i;
		} else if (p[i] == '\0') {
			/* a NUL may not be sent in a literal: Dovecot sends 0x80 */
			memcpy(w, p + start, i - start);
			w += i - start;
			*w++ = (char)0x80;
			start = i + 1;
		}
	}
	memcpy(w, p + start, n - start);
	w += n - start;
	*w = '\0';
	out->len = (size_t)(w - out->data);
}

static void add_span(struct sink *k, const char *msg, size_t from, size_t to)
{
	if (to > from)
		add_crlf(k, msg + from, to - from, from > 0 && msg[from - 1] == '\r');
}

/* The n-th child (1-based) of part idx, or -1. */
static int child(const struct xi_mime *m, int idx, unsigned n)
{
	struct xi_mime_part_info pi;
	if (!xi_mime_part(m, (unsigned)idx, &pi))
		return -1;
	int c = pi.first_child;
	while (c >= 0 && --n > 0) {
		struct xi_mime_part_info ci;
		if (!xi_mime_part(m, (unsigned)c, &ci))
			return -1;
		c = ci.next;
	}
	return c;
}

/* The part the section's numbers (and text) address, or -1. */
static int find_part(const struct xi_mime *m, const struct xi_mime_section *sec)
{
	int cur = 0;
	for (unsigned i = 0; i < sec->depth; i++) {
		struct xi_mime_part_info pi;
		if (!xi_mime_part(m, (unsigned)cur, &pi))
			return -1;
		bool more = i + 1 < sec->depth;
		if (pi.multipart) {
			cur = child(m, cur, sec->path[i]);
			if (cur < 0)
				return -1;
			if (!xi_mime_part(m, (unsigned)cur, &pi))
				return -1;
		} else if (sec->path[i] != 1 || (more && !pi.rfc822)) {
			return -1;
		}
		bool into = more || sec->text == XI_SECTION_HEADER || sec->text == XI_SECTION_TEXT ||
			    sec->text == XI_SECTION_FIELDS || sec->text == XI_SECTION_FIELDS_NOT;
		if (pi.rfc822 && into) {
			if (pi.first_child < 0)
				return -1;
			cur = pi.first_child;
		} else if (!more && into) {
			/* HEADER/TEXT of a part that holds no message */
			return -1;
		}
	}
	return cur;
}

static bool field_listed(const struct xi_mime_section *sec, const char *name, size_t n)
{
	for (unsigned i = 0; i < sec->nfields; i++)
		if (strlen(sec->fields[i]) == n && strncasecmp(sec->fields[i], name, n) == 0)
			return true;
	return false;
}

/* Where a part's header ends.  A part whose header (or its blank line) is
 * directly followed by a boundary has an empty body and, as the newline
 * before a boundary belongs to the boundary, a header without that last
 * newline (Dovecot's sizes). */
static size_t header_end(const char *msg, size_t len, int idx, const struct xi_mime_part_info *pi)
{
	size_t e = pi->body_start;
	if (idx == 0 || pi->body_end != e || e < pi->hdr_start + 2 || len - e < 2 || msg[e] != '-' ||
	    msg[e + 1] != '-')
		return e;
	if (msg[e - 1] != '\n')
		return e;
	e--;
	if (e > pi->hdr_start && msg[e - 1] == '\r')
		e--;
	return e;
}

static void write_fields(const struct xi_mime *m, unsigned idx, const struct xi_mime_section *sec,
			 const struct xi_mime_part_info *pi, struct sink *out)
{
	size_t len;
	const char *msg = xi_mime_data(m, &len);
	size_t pos = pi->hdr_start;
	const char *name, *value;
	size_t nlen, vlen;
	bool keep = sec->text == XI_SECTION_FIELDS;
	size_t end = pos;
	for (;;) {
		size_t start = pos;
		if (xi_mime_header_next(m, idx, &pos, &name, &nlen, &value, &vlen) != 1)
			break;
		end = pos;
		/* a line without a colon is no field of any name */
		bool listed = value > name + nlen && field_listed(sec, name, nlen);
		if (listed != keep)
			continue;
		add_span(out, msg, start, pos);
		/* HEADER.FIELDS: a last field cut by the end of the message
		 * gets its line end, as the blank line follows */
		if (keep && pos > start && msg[pos - 1] != '\n')
			add(out, "\r\n");
	}
	/* HEADER.FIELDS always ends with a blank line; .NOT passes the
	 * message's own blank line, if it has one (Dovecot) */
	if (keep)
		add(out, "\r\n");
	else
		add_span(out, msg, end, header_end(msg, len, (int)idx, pi));
}

static int write_section(const struct xi_mime *m, const struct xi_mime_section *sec,
			 struct sink *out)
{
	size_t len;
	const char *msg = xi_mime_data(m, &len);
	if (sec->depth == 0 && sec->text == XI_SECTION_ALL) {
		add_span(out, msg, 0, len);
		xi_mime_str_add(out->out, "", 0);
		return out->out->overflow ? -1 : 0;
	}
	int idx = find_part(m, sec);
	struct xi_mime_part_info pi;
	xi_mime_str_add(out->out, "", 0);
	if (idx < 0 || !xi_mime_part(m, (unsigned)idx, &pi))
		return out->out->overflow ? -1 : 0;
	switch (sec->text) {
	case XI_SECTION_ALL:
	case XI_SECTION_TEXT:
		add_span(out, msg, pi.body_start, pi.body_end);
		break;
	case XI_SECTION_HEADER:
	case XI_SECTION_MIME:
		add_span(out, msg, pi.hdr_start, header_end(msg, len, idx, &pi));
		break;
	case XI_SECTION_FIELDS:
	case XI_SECTION_FIELDS_NOT:
		write_fields(m, (unsigned)idx, sec, &pi, out);
		break;
	}
	return out->out->overflow ? -1 : 0;
}

int xi_mime_section_write(const struct xi_mime *m, const struct xi_mime_section *sec,
			  struct xi_mime_str *out)
{
	struct sink k = {out, false, 0, 0};
	return write_section(m, sec, &k);
}

int xi_mime_section_write_partial(const struct xi_mime *m, const struct xi_mime_section *sec,
				  uint64_t origin, uint64_t count, struct xi_mime_str *out)
{
	struct sink k = {out, true, origin, count};
	return write_section(m, sec, &k);
}
