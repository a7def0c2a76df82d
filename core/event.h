/*
 * event: one logged fact about a logon or a connection, written as one
 * key=value line ("event=13003 category=Authentication ...") through a sink
 * the host provides (Dovecot's log, syslog, stderr, a test buffer).  An event
 * is written when its level is at or below its category's diagnostics level;
 * errors (level 0) are always written.  Never carries a password or a hash.
 */
#ifndef XI_EVENT_H
#define XI_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "outcome.h"

struct xi_config;

struct xi_event {
	unsigned id;                  /* 11202, 13003, ... */
	enum xi_event_category category;
	enum xi_diag_level level;
	const char *severity;
	const char *outcome;          /* outcome name, or NULL for connection events */
	const char *protocol;         /* "imap", "pop3", ... */
	const char *remote;           /* remote address as text */
	const char *login;            /* the logon name as typed (sanitised for logging) */
	const char *resolved;         /* "DOMAIN\\account -> alias" or NULL */
	const char *account_dn;
	const char *mailbox_dn;
	const char *cause;            /* why, in words */
	const char *remedy;           /* what to do */
};

/* Receives each event that passes the level filter, already formatted. */
typedef void xi_event_sink_fn(void *ctx, const struct xi_event *ev, const char *line);

/* Diagnostics levels per category, from the config (diag_* keys). */
struct xi_event_levels {
	enum xi_diag_level level[XI_CAT__COUNT];
};

void xi_event_levels_from_config(const struct xi_config *cfg, struct xi_event_levels *lv);

/* Every category at one level; and the check xi_event_emit makes (lv NULL:
 * every category at minimum, the default). */
void xi_event_levels_set_all(struct xi_event_levels *lv, enum xi_diag_level level);
bool xi_event_wanted(const struct xi_event_levels *lv, const struct xi_event *ev);

/* Starts an event for an outcome: id (xi_outcome_event_id), category, level,
 * severity, outcome name, protocol and remedy from the outcome table; every
 * other field NULL for the caller to fill. */
void xi_event_from_outcome(struct xi_event *ev, enum xi_outcome outcome, const char *protocol);

/* Each value is written as at most XI_EVENT_VALUE_MAX bytes (escapes
 * included), then "..."; a whole line fits XI_EVENT_LINE_MAX. */
#define XI_EVENT_VALUE_MAX 512
#define XI_EVENT_LINE_MAX 8192

/* Formats ev as one key=value line: values with spaces are double-quoted,
 * control bytes and quotes escaped, each value bounded.  Returns the length
 * that would have been written (like snprintf). */
size_t xi_event_format(const struct xi_event *ev, char *buf, size_t size);

/* Filters by level, formats and hands to sink (sink may be NULL: dropped). */
void xi_event_emit(const struct xi_event_levels *lv, xi_event_sink_fn *sink, void *ctx,
		   const struct xi_event *ev);

#endif
