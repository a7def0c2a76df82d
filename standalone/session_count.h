/*
 * session_count: the master's count of live mail processes per user and
 * remote address, for max_user_sessions (Dovecot's
 * mail_max_userip_connections).  The master alone decides which sessions
 * start and learns from the spawner (or its own reaping) when they end, so
 * it alone can count them truthfully: a count the network process kept
 * could be forged by it, and the mail processes cannot see each other.
 * Single-threaded (the master's loop); no globals.
 *
 * A session is keyed by its mail process's pid once the spawner has forked
 * it, and before that by a negative number the master chose (so that a
 * session counts from the moment the master lets it start).
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
/* The session keyed from is keyed to from now on; false when there is none. */
bool xd_sessions_rekey(struct xd_sessions *s, pid_t from, pid_t to);
/* Forgets every session still under a negative key (its process was never
 * reported: the spawner died first); returns how many. */
size_t xd_sessions_remove_unstarted(struct xd_sessions *s);

#endif
