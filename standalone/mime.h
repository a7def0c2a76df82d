/*
 * mime: the MIME structure of one message for IMAP FETCH ENVELOPE, BODY and
 * BODYSTRUCTURE, and decoded header/body text for SEARCH.
 *
 * The output strings are those Dovecot 2.3 returns for the same message
 * (checked byte for byte by tests/integration/test_mime_vs_dovecot.py):
 * sizes are "virtual" (every bare LF counted as CRLF), text and
 * message/rfc822 parts carry a line count, a text part without charset gets
 * ("charset" "us-ascii"), Content-* headers count only in a MIME part
 * (MIME-Version or Content-Type present, or a child of a multipart).
 *
 * The message is parsed in place from one buffer (the caller maps or reads
 * the file); the parse keeps only slices into it, in an array of parts
 * bounded by xi_mime_limits.  Nothing is copied until a string is written,
 * and every written string is bounded by the caller's limit.
 *
 * No globals, no event loop: a struct xi_mime belongs to one thread.
 */
#ifndef XI_MIME_H
#define XI_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xi_error.h"

struct xi_mime_limits {
	unsigned max_depth;   /* nested multipart / message/rfc822 levels */
	unsigned max_parts;   /* parts in the whole message */
	size_t max_output;    /* bytes of one ENVELOPE/BODY/BODYSTRUCTURE string */
};

/* Dovecot's own bounds: 100 nesting levels and 10000 parts (beyond them
 * the rest of the message is one opaque body, as Dovecot does). */
#define XI_MIME_DEFAULT_MAX_DEPTH 100
#define XI_MIME_DEFAULT_MAX_PARTS 10000
#define XI_MIME_DEFAULT_MAX_OUTPUT (4u << 20)

struct xi_mime;

/* A growing string bounded by max; append failures set `overflow`. */
struct xi_mime_str {
	char *data;      /* NUL-terminated; owned */
	size_t len, cap, max;
	bool overflow;   /* an append would have passed max (or malloc failed) */
};
void xi_mime_str_init(struct xi_mime_str *s, size_t max);
void xi_mime_str_free(struct xi_mime_str *s);
/* Appends data[0..n) (sets overflow past max); n == 0 still allocates, so
 * data is never NULL after a successful append. */
void xi_mime_str_add(struct xi_mime_str *s, const void *data, size_t n);

/* Parses msg[0..len); msg must stay valid and unchanged while *out lives.
 * limits may be NULL for the defaults.  Returns 0, or -1 (no memory). */
int xi_mime_parse(const char *msg, size_t len, const struct xi_mime_limits *limits,
		  struct xi_mime **out, struct xi_error *err);
void xi_mime_free(struct xi_mime *m);

/* RFC822.SIZE: the message's size with every bare LF counted as CRLF. */
uint64_t xi_mime_virtual_size(const struct xi_mime *m);

/* The parenthesised IMAP values, without the FETCH item name:
 * ENVELOPE "(date subject from ...)", BODY / BODYSTRUCTURE "(...)".
 * Appended to out; -1 with err when out overflowed its bound. */
int xi_mime_envelope(const struct xi_mime *m, struct xi_mime_str *out, struct xi_error *err);
int xi_mime_body(const struct xi_mime *m, bool extended, struct xi_mime_str *out,
		 struct xi_error *err);

/* SEARCH support.
 *
 * xi_mime_decode_header: an unfolded header value with RFC 2047 encoded
 * words decoded to UTF-8 (charsets us-ascii, utf-8, iso-8859-1,
 * windows-1252; other charsets and broken words are kept as written; 8-bit
 * bytes that are not UTF-8 are read as ISO-8859-1).
 *
 * xi_mime_header_value: the first header `name` of the top-level message
 * decoded so; -1 when absent.
 *
 * xi_mime_search_text: whether `needle` (UTF-8) occurs, case-insensitively
 * for ASCII letters, in the decoded top-level headers (HEADERS), the
 * decoded text of all leaf parts (BODY: quoted-printable/base64 undone,
 * text converted to UTF-8 from its charset) or (TEXT) the leaf texts and
 * the headers of every part and nested message. */
int xi_mime_decode_header(const char *value, size_t len, struct xi_mime_str *out);
int xi_mime_header_value(const struct xi_mime *m, const char *name, struct xi_mime_str *out);

enum xi_mime_search_where {
	XI_MIME_SEARCH_HEADERS,
	XI_MIME_SEARCH_BODY,
	XI_MIME_SEARCH_TEXT,
};
/* 1 found, 0 not found, -1 no memory. */
int xi_mime_search_text(const struct xi_mime *m, enum xi_mime_search_where where,
			const char *needle);

/* The address list in value[0..len) as Dovecot's FROM/TO/CC/BCC search
 * sees it: `"Display Name" <user@domain>` (the name decoded, quoted
 * unless one atom), `<user@domain>` without a name, ", " between. */
int xi_mime_address_search_text(const char *value, size_t len, struct xi_mime_str *out);
/* Whether needle (UTF-8) occurs in hay[0..n), case-insensitively (ASCII
 * and Unicode simple case mapping; bytes that are not UTF-8 compare as
 * they are).  1 yes, 0 no, -1 no memory. */
int xi_mime_text_contains(const char *hay, size_t n, const char *needle);

/* Part addressing for BODY[section] (mime_section.h) and SEARCH HEADER.
 * Parts are numbered in parse order: 0 is the message itself. */
struct xi_mime_part_info {
	size_t hdr_start, body_start, body_end; /* offsets into the message */
	bool multipart;   /* Content-Type multipart (without a boundary: no children) */
	bool rfc822;      /* message/rfc822 (its child is the message inside) */
	int first_child;  /* -1: none */
	int next;         /* the next sibling, -1: none */
};
unsigned xi_mime_part_count(const struct xi_mime *m);
/* false when idx is out of range. */
bool xi_mime_part(const struct xi_mime *m, unsigned idx, struct xi_mime_part_info *out);
/* The message buffer given to xi_mime_parse. */
const char *xi_mime_data(const struct xi_mime *m, size_t *len);
/* Iterates the header fields of part idx: *pos starts at 0.  Returns 1
 * with the name and the raw value (folding kept, no final line end), 0 at
 * the end of the header. */
int xi_mime_header_next(const struct xi_mime *m, unsigned idx, size_t *pos, const char **name,
			size_t *name_len, const char **value, size_t *value_len);

#endif
