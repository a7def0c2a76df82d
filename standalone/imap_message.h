/*
 * imap_message: what FETCH (imap_fetch.h) and SEARCH (imap_search.h) are
 * told about ONE message by the session engine.
 *
 * The engine fills a view from its index (sequence number, UID, flags,
 * keywords, internal date, RFC822.SIZE) and, only when the parsed command
 * says it needs them (xi_imap_fetch_needs / xi_imap_search_needs), the
 * message bytes.  Nothing here owns memory: every pointer belongs to the
 * caller and must stay valid for the one render/evaluate call.
 */
#ifndef XI_IMAP_MESSAGE_H
#define XI_IMAP_MESSAGE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* System flags, a bitmask in xi_imap_msg_view.flags. */
enum xi_imap_flag {
	XI_IMAP_FLAG_SEEN = 1u << 0,
	XI_IMAP_FLAG_ANSWERED = 1u << 1,
	XI_IMAP_FLAG_FLAGGED = 1u << 2,
	XI_IMAP_FLAG_DELETED = 1u << 3,
	XI_IMAP_FLAG_DRAFT = 1u << 4,
	XI_IMAP_FLAG_RECENT = 1u << 5,
};

/* What the engine must load before a render/evaluate. */
enum xi_imap_need {
	XI_IMAP_NEED_NOTHING = 0,       /* index data only (flags, uid, dates, size) */
	XI_IMAP_NEED_HEADER = 1u << 0,  /* the header (data may then be the whole message too) */
	XI_IMAP_NEED_MESSAGE = 1u << 1, /* the whole message in data/len */
};

struct xi_mime;

struct xi_imap_msg_view {
	uint32_t seq; /* 1-based message sequence number */
	uint32_t uid;
	unsigned flags;                 /* enum xi_imap_flag bits */
	const char *const *keywords;    /* keyword names set on the message */
	unsigned nkeywords;
	time_t internal_date;           /* INTERNALDATE as a UTC instant */
	int internal_tz_minutes;        /* its zone for output and date search (e.g. +60) */
	uint64_t size;                  /* RFC822.SIZE: CRLF-counted size */
	/* The message as stored (bare LF or CRLF lines), NULL when not
	 * loaded.  When only XI_IMAP_NEED_HEADER was asked for, data may
	 * hold the header alone (up to and including the blank line). */
	const char *data;
	size_t len;
	/* Optional: a parse of data[0..len) the caller keeps (a cache); when
	 * NULL the render/evaluate parses data itself and frees the parse. */
	const struct xi_mime *mime;
};

/* Why a command was refused: the engine sends "<tag> BAD <text>" or
 * "<tag> NO <text>" (text may start with a response code such as
 * "[BADCHARSET (US-ASCII UTF-8)]"). */
enum xi_imap_refusal_kind {
	XI_IMAP_REFUSE_BAD, /* syntax, unknown item, over a limit */
	XI_IMAP_REFUSE_NO,  /* understood but not done (charset, no memory) */
};
struct xi_imap_refusal {
	enum xi_imap_refusal_kind kind;
	char text[200];
};

#endif
