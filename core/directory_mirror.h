/*
 * directory_mirror: the directory interface over an in-process mirror kept
 * current by LDAP content synchronization (RFC 4533, refreshAndPersist).
 *
 * One background thread, owned by the mirror (started by create, joined by
 * destroy), holds its own connection bound as the service account (same
 * URIs, TLS, failover and bind as every other connection: ldap_conn.c) and
 * is the only writer.  Readers (resolver threads) take the read side of a
 * rwlock; the writer takes the write side for each change, which is one
 * entry at a time and short.
 *
 * Correctness first: find, read and mailboxes_visible answer from memory
 * only while the mirror is complete -- its refresh phase finished, its
 * connection is up, every entry fit.  Otherwise (starting, resyncing after
 * a reconnection, slapd down, over directory_mirror_max_entries) they fall
 * through to live LDAP (directory_ldap.c) as if there were no mirror.
 * verify_bind always goes to live LDAP.  Queries that ask for a secret fall
 * through too unless directory_mirror_secrets lets the mirror hold them.
 */
#ifndef XI_DIRECTORY_MIRROR_H
#define XI_DIRECTORY_MIRROR_H

#include <stdbool.h>
#include <stddef.h>

#include "directory.h"

struct xi_config;

int xi_directory_mirror_create(const struct xi_config *cfg, struct xi_directory **dir_r,
			       struct xi_error *err);

struct xi_mirror_stats {
	bool in_sync;              /* answering from memory */
	size_t entries;
	size_t bytes;              /* heap held by entries and indexes */
	unsigned long refreshes;   /* refresh phases completed */
	unsigned long changes;     /* persist-phase changes applied */
	double last_refresh_seconds;
	char state[256];           /* what it is doing, or why it is not in sync */
};

/* dir must come from xi_directory_mirror_create.  */
void xi_directory_mirror_stats(struct xi_directory *dir, struct xi_mirror_stats *st);
/* Waits up to timeout_ms for the mirror to be in sync, or until the
 * attempt in progress ends without it (server down, no syncprov, over the
 * entry limit); true when in sync. */
bool xi_directory_mirror_wait(struct xi_directory *dir, int timeout_ms);

/* A view of mirror dir for a caller that must never wait for the network
 * (a host's event-loop thread): find, read and mailboxes_visible answer
 * from memory exactly as dir would, and fail with XI_ERR_TEMP at once
 * wherever dir would go to live LDAP (not in sync, a secret it does not
 * keep, a forked child) or the sync thread holds the copy for a change;
 * verify_bind always fails so, but xi_dir_bind_start on the view sends the
 * bind on an idle live connection (it never waits).  The caller asks dir
 * itself, elsewhere, for what the view did not answer.
 * secrets_r: whether the mirror keeps secrets (directory_mirror_secrets).
 * XI_ERR_UNSUPPORTED when dir is not a mirror.  The view must be destroyed
 * before dir; destroying it leaves dir alone. */
int xi_directory_memory_view(struct xi_directory *dir, struct xi_directory **view_r,
			     bool *secrets_r, struct xi_error *err);

/* The source the configuration asks for: the mirror when
 * directory_mirror = yes, else live LDAP. */
int xi_directory_create(const struct xi_config *cfg, struct xi_directory **dir_r,
			struct xi_error *err);

#endif
