/*
 * session_count: the master's count of live mail processes per user and
 * remote address, for max_user_sessions (Dovecot's
 * mail_max_userip_connections).  The master alone forks and reaps mail
 * processes, so it alone can count them truthfully: a count the network
 * process kept could be forged by it, and the mail processes cannot see each
 * other.  Single-threaded (the master's loop); no globals.
 */
#ifndef XD_SESSION_COUNT_H
#define XD_SESSION_COUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct xd_sessions;

struct xd_sessions *xd_sessions_new(void);
void xd_sessions_free(struct xd_sessions *s);

/* Live sessions of user from remote. */
size_t xd_sessions_count(const struct xd_sessions *s, const char *user, const char *remote);
/* Records the mail process pid as a session of user from remote; false when
 * out of memory (the session then goes uncounted). */
bool xd_sessions_add(struct xd_sessions *s, pid_t pid, const char *user, const char *remote);
/* Forgets pid (reaped); false when it was not a counted session. */
bool xd_sessions_remove(struct xd_sessions *s, pid_t pid);

#endif
