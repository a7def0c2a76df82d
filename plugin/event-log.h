/*
 * event-log: xident events into Dovecot's log, with the auth request's
 * context (its event carries the log prefix: service, user, remote IP,
 * session).  One key=value line per event, as core/event.h formats it.
 */
#ifndef XI_PLUGIN_EVENT_LOG_H
#define XI_PLUGIN_EVENT_LOG_H

#include "event.h"

/* An xi_event_sink_fn: ctx is the struct event * to log on (NULL = the
 * process's global log). */
void xi_dovecot_event_sink(void *ctx, const struct xi_event *ev, const char *line);

/* Name of the Dovecot service as xident's protocol ("imap", "pop3", ...). */
enum xi_protocol;
enum xi_protocol xi_dovecot_protocol(const char *service);

/* The remote address of a request as text (data stack), or NULL. */
struct auth_request;
const char *xi_dovecot_remote(const struct auth_request *request);

#endif
