/*
 * imap_fetch: the FETCH command for one message (RFC 3501 6.4.5, 7.4.2).
 *
 * The engine parses "FETCH <set> <atts>" with imap_parser, then
 *   1. xi_imap_fetch_parse(<atts>)  -> a plan, or a refusal (tagged BAD);
 *   2. for each message of the set:
 *        needs = xi_imap_fetch_needs(plan): load the bytes if asked;
 *        if xi_imap_fetch_sets_seen(plan) and the mailbox is read-write
 *        and the message lacks \Seen: store \Seen, pass seen_now = true;
 *        xi_imap_fetch_render(plan, view, seen_now, out) appends the whole
 *        "* <seq> FETCH (...)\r\n" line (literals "{n}\r\n<bytes>" inside);
 *   3. "<tag> OK FETCH completed".
 *
 * Items: the macros ALL, FAST, FULL; UID, FLAGS, INTERNALDATE, RFC822.SIZE,
 * ENVELOPE, BODY, BODYSTRUCTURE, RFC822, RFC822.HEADER, RFC822.TEXT,
 * BODY[<section>]<<origin>.<count>> and BODY.PEEK[...] (sections as in
 * mime_section.h).  UID is always sent for UID FETCH.  Items are answered
 * in the order Dovecot 2.3 answers them, values byte for byte as Dovecot
 * writes them (BODY[] contents with every bare LF sent as CRLF).
 *
 * A plan is immutable after parsing and may be used for any number of
 * messages; no globals.
 */
#ifndef XI_IMAP_FETCH_H
#define XI_IMAP_FETCH_H

#include <stdbool.h>

#include "imap_message.h"
#include "imap_parser.h"
#include "mime.h"
#include "xi_error.h"

struct xi_imap_fetch_limits {
	unsigned max_items;    /* attributes in one FETCH (after macro expansion) */
	unsigned max_fields;   /* header names in one HEADER.FIELDS list */
	unsigned max_section_depth; /* numbers in one section (1.2.3...) */
};
#define XI_IMAP_FETCH_DEFAULT_MAX_ITEMS 64
#define XI_IMAP_FETCH_DEFAULT_MAX_FIELDS 256
#define XI_IMAP_FETCH_DEFAULT_MAX_SECTION_DEPTH 100

struct xi_imap_fetch;

/* atts: the argument after the sequence set (an atom, or a list of
 * atoms); it must be the command's last argument (the caller checks).
 * uid_command: the command was UID FETCH.  limits NULL: defaults.
 * Returns 0 with *out set, or -1 with *why filled (BAD for syntax/limits,
 * NO for no memory). */
int xi_imap_fetch_parse(const struct xi_imap_arg *atts, bool uid_command,
			const struct xi_imap_fetch_limits *limits, struct xi_imap_fetch **out,
			struct xi_imap_refusal *why);
void xi_imap_fetch_free(struct xi_imap_fetch *f);

/* enum xi_imap_need bits: what the view must carry for a render. */
unsigned xi_imap_fetch_needs(const struct xi_imap_fetch *f);
/* The plan has a non-PEEK BODY[...], RFC822 or RFC822.TEXT. */
bool xi_imap_fetch_sets_seen(const struct xi_imap_fetch *f);

/* Appends "* <seq> FETCH (...)\r\n" for the message to out (out->max
 * bounds the response: a message larger than that is refused).  seen_now:
 * \Seen was just set because of this FETCH (v->flags include it); FLAGS is
 * then sent even if not asked for.  Returns 0, or -1 with err (out
 * overflowed: XI_ERR_INVALID; the needed data missing from v:
 * XI_ERR_INTERNAL; no memory) and out back at its length before the call. */
int xi_imap_fetch_render(const struct xi_imap_fetch *f, const struct xi_imap_msg_view *v,
			 bool seen_now, struct xi_mime_str *out, struct xi_error *err);

#endif
