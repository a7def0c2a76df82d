/*
 * outcome: how a logon ends, and the ONE table that says, for each outcome,
 * what the client is told, which event is logged and what the administrator
 * should do.  Adapters (Dovecot plugin, xidentd) map from enum xi_outcome;
 * they never invent texts of their own.  Design: design.md sections 3 and 4.
 */
#ifndef XI_OUTCOME_H
#define XI_OUTCOME_H

#include <stddef.h>

enum xi_outcome {
	XI_OUTCOME_OK = 0,
	XI_OUTCOME_BAD_CREDENTIALS,   /* unknown name or wrong password: one text, one cost */
	XI_OUTCOME_INVALID_NAME,      /* malformed logon name: told as bad credentials */
	XI_OUTCOME_ACCOUNT_DISABLED,  /* after proof; before proof it is bad credentials */
	XI_OUTCOME_NO_MAILBOX,        /* custom recipient, distribution list, account without mailbox */
	XI_OUTCOME_ACCESS_DENIED,     /* neither primary account nor delegate (event 1023) */
	XI_OUTCOME_AMBIGUOUS,         /* duplicate alias, or account owning several mailboxes */
	XI_OUTCOME_PROTOCOL_DISABLED, /* the mailbox (or server) has this protocol off */
	XI_OUTCOME_METHOD_DISABLED,   /* the mailbox refuses this logon method (e.g. NTLM only) */
	XI_OUTCOME_OTHER_SERVER,      /* mailbox homed on another server: referral or proxy */
	XI_OUTCOME_NTLM_DISABLED,     /* NTLM off for this protocol */
	XI_OUTCOME_NTLM_FAILED,       /* NTLM exchange failed (malformed, replayed, v1 refused...) */
	XI_OUTCOME_TEMPFAIL,          /* directory down/timeout/missing right: never "bad password" */
	/* Decided by a server (xidentd) around the resolver, not by it: */
	XI_OUTCOME_PLAINTEXT_DISABLED, /* clear-text logon on a connection that is not secure */
	XI_OUTCOME_SESSION_LIMIT,     /* the user already has the allowed number of sessions */
	XI_OUTCOME_NTLM_TIMEOUT,      /* the client answered the NTLM challenge after ntlm_exchange_timeout */
	XI_OUTCOME__COUNT
};

enum xi_event_category {
	XI_CAT_AUTHENTICATION = 0,
	XI_CAT_LOGONS,
	XI_CAT_CONNECTIONS,
	XI_CAT_CLIENT_ACTIONS,
	XI_CAT_CONFIGURATION,
	XI_CAT__COUNT
};

/* Diagnostics levels as Exchange's registry numbers. */
enum xi_diag_level {
	XI_LEVEL_NONE = 0,
	XI_LEVEL_MINIMUM = 1,
	XI_LEVEL_MEDIUM = 3,
	XI_LEVEL_MAXIMUM = 5
};

struct xi_outcome_info {
	enum xi_outcome outcome;
	const char *name;          /* stable identifier: "bad_credentials" */
	unsigned event_id;         /* 11202, 13003, 13004, 13005, 1023, ... */
	enum xi_event_category category;
	enum xi_diag_level level;  /* errors are XI_LEVEL_NONE: always written */
	const char *severity;      /* "success", "failure", "error", "warning" */
	const char *client_text;   /* what the client sees; may hold %s placeholders
				      documented per row, filled by xi_outcome_client_text */
	const char *remedy;        /* what the administrator should do */
	int temporary;             /* 1: client should retry later (tempfail) */
	const char *pop3_code;     /* RFC 2449/3206 response code: "AUTH", "SYS/TEMP", "IN-USE" */
	const char *imap_code;     /* RFC 5530 response code: "AUTHENTICATIONFAILED", ... */
};

const struct xi_outcome_info *xi_outcome_info(enum xi_outcome outcome);
const char *xi_category_name(enum xi_event_category cat);
/* The row whose name is name ("ambiguous"), for a host that carried the name
 * between processes; NULL when there is none. */
const struct xi_outcome_info *xi_outcome_by_name(const char *name);

/* The event id for an outcome on a protocol ("pop3", "imap", NULL): the
 * table's id, except that POP3 reports a disabled protocol as 11310 (POP3
 * LOGIN FAILURE), as Exchange did. */
unsigned xi_outcome_event_id(enum xi_outcome outcome, const char *protocol);

/* Fills a text's %s placeholders, in order, from args (missing ones become
 * ""; "%%" is a percent sign).  Each value is cut to XI_TEXT_VALUE_MAX bytes
 * and every byte of it that is not part of printable UTF-8 (controls, C1
 * controls, ill-formed or overlong sequences) becomes '?', so a hostile name
 * cannot add a line to a protocol response; the result is cut to size (never
 * inside a UTF-8 sequence) and trailing spaces are dropped.  Returns the
 * length written. */
#define XI_TEXT_VALUE_MAX 256
size_t xi_text_fill(const char *text, const char *const *args, size_t nargs,
		    char *buf, size_t size);

/* xi_text_fill on the outcome's client_text.  Placeholders per outcome:
 *   no_mailbox         what the name is instead ("sales is a custom recipient")
 *   access_denied      mailbox alias, DOMAIN\account
 *   ambiguous          the name as typed, the three-part name to use
 *   protocol_disabled  the protocol's name ("POP3", "IMAP4")
 *   method_disabled    the method's name ("NTLM", "clear-text")
 *   other_server       mailbox alias, home server
 *   session_limit      the limit's key and value ("max_user_sessions = 10")
 * The others have none. */
size_t xi_outcome_client_text(enum xi_outcome outcome, const char *const *args, size_t nargs,
			      char *buf, size_t size);

/* The no_mailbox row's remedy when a password-less lookup (an LMTP
 * recipient, `xident resolve --lookup`) names nothing in the directory: a
 * variant of that row, not another outcome. */
const char *xi_outcome_no_recipient_remedy(void);

/* Cause of a tempfail when the service account lacks a right; placeholders:
 * service account DN, attribute, entry DN. */
#define XI_CAUSE_PRIVILEGE_NOT_HELD \
	"A required privilege is not held by the client: %s may not read %s of %s"

#endif
