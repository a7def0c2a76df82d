/*
 * imap_search: the SEARCH command's criteria (RFC 3501 6.4.4), parsed
 * once into a tree and evaluated per message.
 *
 * The engine parses "SEARCH [CHARSET x] <keys>" with imap_parser, then
 *   1. xi_imap_search_parse(<first argument after SEARCH>) -> a tree, or a
 *      refusal: BAD for syntax/limits, NO "[BADCHARSET (US-ASCII UTF-8)]"
 *      for another charset;
 *   2. for each message: needs = xi_imap_search_needs(tree) (flags-only
 *      searches never load a message; HEADER/FROM/SENT* need the header;
 *      BODY/TEXT the whole message); xi_imap_search_match(tree, ctx, view);
 *   3. "* SEARCH <seq or uid>..." and "<tag> OK".
 *
 * Keys: ALL ANSWERED BCC BEFORE BODY CC DELETED DRAFT FLAGGED FROM HEADER
 * KEYWORD LARGER NEW NOT OLD ON OR RECENT SEEN SENTBEFORE SENTON SENTSINCE
 * SINCE SMALLER SUBJECT TEXT TO UID UNANSWERED UNDELETED UNDRAFT UNFLAGGED
 * UNKEYWORD UNSEEN, sequence sets and parenthesised lists.  Strings are
 * matched as Dovecot 2.3 matches them: decoded (RFC 2047 headers,
 * QP/base64 bodies, charsets to UTF-8), case-insensitively for ASCII.
 * Dates: BEFORE/ON/SINCE compare the day of INTERNALDATE in its own zone;
 * SENT* the day of the Date: header in its own zone.
 *
 * A tree is immutable after parsing; "*" in sets is resolved at match time
 * from ctx (the mailbox may change between commands, not during one).
 */
#ifndef XI_IMAP_SEARCH_H
#define XI_IMAP_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "imap_message.h"
#include "imap_parser.h"
#include "xi_error.h"

struct xi_imap_search_limits {
	unsigned max_keys;   /* search keys in the whole tree */
	unsigned max_depth;  /* nesting of NOT / OR / parentheses */
	unsigned max_ranges; /* ranges in one sequence set, after merging */
	size_t max_string;   /* bytes of one search string */
};
#define XI_IMAP_SEARCH_DEFAULT_MAX_KEYS 1024
#define XI_IMAP_SEARCH_DEFAULT_MAX_DEPTH 32
#define XI_IMAP_SEARCH_DEFAULT_MAX_RANGES 4096
#define XI_IMAP_SEARCH_DEFAULT_MAX_STRING 8192

struct xi_imap_search;

/* The mailbox as the command sees it: for "*" and for NEW/OLD/RECENT. */
struct xi_imap_search_ctx {
	uint32_t messages; /* EXISTS: "*" in a sequence set */
	uint32_t max_uid;  /* largest UID in the mailbox: "*" in UID sets (0: empty) */
};

/* args: the first argument after SEARCH (CHARSET may lead).  limits NULL:
 * defaults.  Returns 0 with *out, or -1 with *why. */
int xi_imap_search_parse(const struct xi_imap_arg *args, const struct xi_imap_search_limits *limits,
			 struct xi_imap_search **out, struct xi_imap_refusal *why);
void xi_imap_search_free(struct xi_imap_search *s);

/* enum xi_imap_need bits (NEED_HEADER or NEED_MESSAGE or nothing). */
unsigned xi_imap_search_needs(const struct xi_imap_search *s);

/* 1 match, 0 no match, -1 with err (no memory, or the data asked for by
 * xi_imap_search_needs is missing from v: XI_ERR_INTERNAL). */
int xi_imap_search_match(const struct xi_imap_search *s, const struct xi_imap_search_ctx *ctx,
			 const struct xi_imap_msg_view *v, struct xi_error *err);

#endif
