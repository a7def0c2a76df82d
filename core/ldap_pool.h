/*
 * ldap_pool: LDAP connections kept open across logons and shared by threads.
 *
 * Two sets of ldap_pool_size connections each:
 *   search  bound once as the service account; searches and modifications;
 *   bind    never bound as the service: each one only proves user passwords
 *           (bind mode), so a search never runs under a user's identity.
 * Connections are opened lazily (a resolver can be created while the
 * directory is down; logons then fail temporarily until it is back).  A
 * connection that breaks (server down, timeout) is closed, and a search is
 * retried once on a freshly opened one when it had run on an old
 * connection: a restarted slapd costs no failed logon.  A bind is retried
 * only when it was never sent (see xi_ldap_pool_user_bind).
 *
 * Thread-safe: a mutex and a condition variable guard the slots; the LDAP
 * work itself runs outside the lock, one thread per connection.
 */
#ifndef XI_LDAP_POOL_H
#define XI_LDAP_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "ldap_conn.h"

struct xi_ldap_pool;

enum xi_ldap_pool_kind { XI_POOL_SEARCH = 0, XI_POOL_BIND = 1 };

/* s must outlive the pool.  size = connections per kind (1..256). */
int xi_ldap_pool_create(const struct xi_ldap_settings *s, unsigned size,
			struct xi_ldap_pool **pool_r, struct xi_error *err);
/* No connection may be checked out. */
void xi_ldap_pool_destroy(struct xi_ldap_pool *pool);

/* Checks a connection out (opening it if needed), waiting at most
 * ldap_timeout for one to be free.  *fresh_r (may be NULL) says whether it
 * was opened just now. */
int xi_ldap_pool_get(struct xi_ldap_pool *pool, enum xi_ldap_pool_kind kind,
		     struct xi_ldap_conn **conn_r, bool *fresh_r, struct xi_error *err);
/* An idle connection that is already open, checked out without waiting
 * for one or opening one: 1, or 0 when there is none (*conn_r NULL). */
int xi_ldap_pool_try_get(struct xi_ldap_pool *pool, enum xi_ldap_pool_kind kind,
			 struct xi_ldap_conn **conn_r);
/* Returns it; a broken connection is closed and its slot emptied. */
void xi_ldap_pool_put(struct xi_ldap_pool *pool, struct xi_ldap_conn *conn);

/* Reads a search result while its connection is still checked out (libldap
 * parses results through the handle).  Returns 0 or -1 with err set. */
typedef int xi_ldap_result_fn(void *ctx, LDAP *ld, LDAPMessage *res, bool truncated,
			      struct xi_error *err);

/* A search on a service connection, retried once on a new connection when
 * the old one turned out broken; parse reads the result, which is freed
 * afterwards.  *ops (may be NULL) is increased by the searches sent. */
int xi_ldap_pool_search(struct xi_ldap_pool *pool, const char *base, int scope,
			const char *filter, const char *const *attrs, int sizelimit,
			xi_ldap_result_fn *parse, void *parse_ctx, unsigned *ops,
			struct xi_error *err);

/* A user bind on a bind connection.  Retried on a new connection only when
 * the idle one was found closed by the server before the password was
 * sent; once sent, whatever ends it (server gone, busy, timeout) is the
 * answer: the same password is never sent twice for one call. */
enum xi_ldap_bind_result xi_ldap_pool_user_bind(struct xi_ldap_pool *pool, const char *dn,
						const char *password, size_t password_len,
						unsigned *ops, struct xi_error *err);

struct xi_ldap_pool_stats {
	unsigned long opened;      /* connections opened (including reopenings) */
	unsigned long broken;      /* connections dropped as broken */
	unsigned long retries;     /* operations retried on a fresh connection */
	unsigned long waits;       /* times a caller waited for a free connection */
};

void xi_ldap_pool_stats(struct xi_ldap_pool *pool, struct xi_ldap_pool_stats *st);

#endif
