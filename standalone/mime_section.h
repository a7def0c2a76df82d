/*
 * mime_section: BODY[<section>] of RFC 3501 (6.4.5, 9 "section"): which
 * bytes of one message a section names, written as Dovecot 2.3 writes them
 * (every bare LF as CRLF).
 *
 *   ""                     the whole message
 *   HEADER / TEXT          the message's header (blank line included) / body
 *   HEADER.FIELDS (a b)    only those header lines (folded lines whole),
 *   HEADER.FIELDS.NOT (..) all but those, then the blank line
 *   1.2.3                  a part's body (numbering of RFC 3501: a non-
 *                          multipart message has part 1 = its body)
 *   1.2.MIME               that part's MIME header
 *   2.HEADER, 2.TEXT, 2.HEADER.FIELDS (..)   of a message/rfc822 part
 *
 * A section names no bytes (a part that does not exist, HEADER of a part
 * that is not message/rfc822) -> an empty string, as Dovecot answers.
 * The partial <origin.count> counts bytes of that CRLF text.
 */
#ifndef XI_MIME_SECTION_H
#define XI_MIME_SECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mime.h"

enum xi_mime_section_text {
	XI_SECTION_ALL,        /* "" or a bare part number: the part's body */
	XI_SECTION_HEADER,
	XI_SECTION_FIELDS,
	XI_SECTION_FIELDS_NOT,
	XI_SECTION_TEXT,
	XI_SECTION_MIME,
};

struct xi_mime_section {
	unsigned *path;            /* part numbers, each >= 1; owned */
	unsigned depth;            /* 0: the message itself */
	enum xi_mime_section_text text;
	char **fields;             /* HEADER.FIELDS[.NOT] names, upper-cased; owned */
	unsigned nfields;
	char *name;                /* the section as sent, upper-cased; owned */
};

/* Parses the text between "[" and "]" (s[0..len), as the client sent
 * it).  Returns 0, or -1 with a reason in why[0..cap) (syntax, a limit,
 * no memory).  *out must be freed with xi_mime_section_clear either way. */
int xi_mime_section_parse(const char *s, size_t len, unsigned max_depth, unsigned max_fields,
			  struct xi_mime_section *out, char *why, size_t cap);
void xi_mime_section_clear(struct xi_mime_section *sec);

/* The section name as Dovecot repeats it in the response: the text the
 * client sent, upper-cased ("1.header.fields (from \"x\")" ->
 * "1.HEADER.FIELDS (FROM \"X\")"). */
void xi_mime_section_name(const struct xi_mime_section *sec, struct xi_mime_str *out);

/* Appends the section's bytes (CRLF line ends) to out.  Returns 0, or -1
 * when out overflowed. */
int xi_mime_section_write(const struct xi_mime *m, const struct xi_mime_section *sec,
			  struct xi_mime_str *out);

/* The same cut to the partial <origin.count> of those bytes; only the
 * window is copied. */
int xi_mime_section_write_partial(const struct xi_mime *m, const struct xi_mime_section *sec,
				  uint64_t origin, uint64_t count, struct xi_mime_str *out);

#endif
