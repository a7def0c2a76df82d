/*
 * ldap_pool: fixed slots of LDAP connections, checked out one thread at a
 * time, opened lazily, dropped when broken.
 */
#include "ldap_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_SIZE_MAX 256

struct pool_slot {
	struct xi_ldap_conn *conn;  /* NULL: not open */
	bool in_use;
};

struct pool_set {
	struct pool_slot *slots;
	unsigned free_count;
	/* Signalled when a slot of this set is freed: one freed slot wakes
	 * one waiter of the same set (waking them all made every waiter
	 * fight for the lock on each release). */
	pthread_cond_t freed;
};

struct xi_ldap_pool {
	const struct xi_ldap_settings *settings;
	unsigned size;
	pthread_mutex_t lock;
	struct pool_set set[2];
	struct xi_ldap_pool_stats stats;
};

int xi_ldap_pool_create(const struct xi_ldap_settings *s, unsigned size,
			struct xi_ldap_pool **pool_r, struct xi_error *err)
{
	struct xi_ldap_pool *pool;
	pthread_condattr_t ca;
	int k;

	*pool_r = NULL;
	if (size == 0 || size > POOL_SIZE_MAX)
		return xi_error_set(err, XI_ERR_CONFIG, "ldap_pool_size %u out of range 1..%d",
				    size, POOL_SIZE_MAX);
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	pool->settings = s;
	pool->size = size;
	for (k = 0; k < 2; k++) {
		pool->set[k].slots = calloc(size, sizeof(struct pool_slot));
		pool->set[k].free_count = size;
		if (pool->set[k].slots == NULL) {
			free(pool->set[0].slots);
			free(pool);
			return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		}
	}
	pthread_mutex_init(&pool->lock, NULL);
	/* Waits are bounded by ldap_timeout measured on the monotonic clock, so
	 * that a clock step does not stall or hurry them. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (k = 0; k < 2; k++)
		pthread_cond_init(&pool->set[k].freed, &ca);
	pthread_condattr_destroy(&ca);
	*pool_r = pool;
	return 0;
}

void xi_ldap_pool_destroy(struct xi_ldap_pool *pool)
{
	unsigned i;
	int k;

	if (pool == NULL)
		return;
	for (k = 0; k < 2; k++) {
		for (i = 0; i < pool->size; i++)
			xi_ldap_conn_close(pool->set[k].slots[i].conn);
		free(pool->set[k].slots);
		pthread_cond_destroy(&pool->set[k].freed);
	}
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

/* Under the lock: a free slot, preferring one whose connection is open, or
 * with want_closed one whose connection is not (a retry after a broken
 * connection must not land on another connection opened before the server
 * went away). */
static struct pool_slot *take_slot(struct pool_set *set, unsigned size, bool want_closed)
{
	struct pool_slot *open = NULL, *closed = NULL, *sl;
	unsigned i;

	for (i = 0; i < size; i++) {
		sl = &set->slots[i];
		if (sl->in_use)
			continue;
		if (sl->conn != NULL && open == NULL)
			open = sl;
		if (sl->conn == NULL && closed == NULL)
			closed = sl;
	}
	sl = want_closed ? (closed != NULL ? closed : open) : (open != NULL ? open : closed);
	if (sl != NULL) {
		sl->in_use = true;
		set->free_count--;
	}
	return sl;
}

static void release_slot(struct pool_set *set, struct pool_slot *sl)
{
	sl->in_use = false;
	set->free_count++;
	pthread_cond_signal(&set->freed);
}

static struct pool_slot *find_conn(struct xi_ldap_pool *pool, struct xi_ldap_conn *conn,
				   struct pool_set **set_r)
{
	unsigned i;
	int k;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < pool->size; i++) {
			if (pool->set[k].slots[i].conn == conn) {
				*set_r = &pool->set[k];
				return &pool->set[k].slots[i];
			}
		}
	}
	return NULL;
}

/* want_fresh: a newly opened connection (an idle one is closed first when
 * no slot is empty). */
static int pool_get(struct xi_ldap_pool *pool, enum xi_ldap_pool_kind kind, bool want_fresh,
		    struct xi_ldap_conn **conn_r, bool *fresh_r, struct xi_error *err)
{
	struct pool_set *set = &pool->set[kind == XI_POOL_BIND ? 1 : 0];
	struct pool_slot *sl;
	struct timespec deadline;
	struct xi_ldap_conn *conn;
	int rc;

	*conn_r = NULL;
	if (fresh_r != NULL)
		*fresh_r = false;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += pool->settings->op_timeout;

	pthread_mutex_lock(&pool->lock);
	while ((sl = take_slot(set, pool->size, want_fresh)) == NULL) {
		pool->stats.waits++;
		rc = pthread_cond_timedwait(&set->freed, &pool->lock, &deadline);
		if (rc == ETIMEDOUT && (sl = take_slot(set, pool->size, want_fresh)) == NULL) {
			pthread_mutex_unlock(&pool->lock);
			return xi_error_set(err, XI_ERR_TEMP,
					    "all %u LDAP %s connections stayed busy for %d s (raise ldap_pool_size?)",
					    pool->size, kind == XI_POOL_BIND ? "bind" : "search",
					    pool->settings->op_timeout);
		}
		if (sl != NULL)
			break;
	}
	conn = sl->conn;
	if (want_fresh && conn != NULL) {
		sl->conn = NULL;
		pthread_mutex_unlock(&pool->lock);
		xi_ldap_conn_close(conn);
		conn = NULL;
	} else {
		pthread_mutex_unlock(&pool->lock);
	}
	if (conn != NULL) {
		*conn_r = conn;
		return 0;
	}

	/* Open outside the lock: connecting may take ldap_network_timeout per
	 * server, and other threads may use the other slots meanwhile. */
	rc = kind == XI_POOL_BIND ? xi_ldap_conn_open_unbound(pool->settings, &conn, err)
				  : xi_ldap_conn_open(pool->settings, &conn, err);
	pthread_mutex_lock(&pool->lock);
	if (rc < 0) {
		release_slot(set, sl);
		pthread_mutex_unlock(&pool->lock);
		return -1;
	}
	sl->conn = conn;
	pool->stats.opened++;
	pthread_mutex_unlock(&pool->lock);
	*conn_r = conn;
	if (fresh_r != NULL)
		*fresh_r = true;
	return 0;
}

int xi_ldap_pool_get(struct xi_ldap_pool *pool, enum xi_ldap_pool_kind kind,
		     struct xi_ldap_conn **conn_r, bool *fresh_r, struct xi_error *err)
{
	return pool_get(pool, kind, false, conn_r, fresh_r, err);
}

int xi_ldap_pool_try_get(struct xi_ldap_pool *pool, enum xi_ldap_pool_kind kind,
			 struct xi_ldap_conn **conn_r)
{
	struct pool_set *set = &pool->set[kind == XI_POOL_BIND ? 1 : 0];
	struct pool_slot *sl;

	*conn_r = NULL;
	pthread_mutex_lock(&pool->lock);
	sl = take_slot(set, pool->size, false);
	if (sl != NULL && sl->conn == NULL) {
		release_slot(set, sl);
		sl = NULL;
	}
	if (sl != NULL)
		*conn_r = sl->conn;
	pthread_mutex_unlock(&pool->lock);
	return *conn_r != NULL ? 1 : 0;
}

void xi_ldap_pool_put(struct xi_ldap_pool *pool, struct xi_ldap_conn *conn)
{
	struct pool_set *set = NULL;
	struct pool_slot *sl;
	struct xi_ldap_conn *to_close = NULL;

	if (conn == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	sl = find_conn(pool, conn, &set);
	if (sl == NULL) {
		/* Not ours: a caller bug.  Closing it is the safe way out. */
		pthread_mutex_unlock(&pool->lock);
		xi_ldap_conn_close(conn);
		return;
	}
	if (xi_ldap_conn_broken(conn)) {
		to_close = conn;
		sl->conn = NULL;
		pool->stats.broken++;
	}
	release_slot(set, sl);
	pthread_mutex_unlock(&pool->lock);
	xi_ldap_conn_close(to_close);
}

static void count_retry(struct xi_ldap_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->stats.retries++;
	pthread_mutex_unlock(&pool->lock);
}

int xi_ldap_pool_search(struct xi_ldap_pool *pool, const char *base, int scope,
			const char *filter, const char *const *attrs, int sizelimit,
			xi_ldap_result_fn *parse, void *parse_ctx, unsigned *ops,
			struct xi_error *err)
{
	struct xi_ldap_conn *conn;
	LDAPMessage *res;
	bool fresh, broken, truncated;
	int attempt, rc = -1;

	for (attempt = 0; attempt < 2; attempt++) {
		if (pool_get(pool, XI_POOL_SEARCH, attempt > 0, &conn, &fresh, err) < 0)
			return -1;
		if (ops != NULL)
			(*ops)++;
		rc = xi_ldap_search(conn, base, scope, filter, attrs, sizelimit, &res,
				    &truncated, err);
		if (rc == 0) {
			rc = parse(parse_ctx, xi_ldap_conn_handle(conn), res, truncated, err);
			ldap_msgfree(res);
		}
		broken = rc < 0 && xi_ldap_conn_broken(conn);
		xi_ldap_pool_put(pool, conn);
		/* A connection that had been idle may have lost its server (slapd
		 * restarted, idle timeout): worth one more try on a new one (not
		 * on another idle one, which lost it too).  A fresh connection
		 * that breaks means the server is really gone. */
		if (!broken || fresh)
			break;
		count_retry(pool);
	}
	return rc;
}

enum xi_ldap_bind_result xi_ldap_pool_user_bind(struct xi_ldap_pool *pool, const char *dn,
						const char *password, size_t password_len,
						unsigned *ops, struct xi_error *err)
{
	enum xi_ldap_bind_result r = XI_LDAP_BIND_ERROR;
	struct xi_ldap_conn *conn;
	bool fresh;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		if (pool_get(pool, XI_POOL_BIND, attempt > 0, &conn, &fresh, err) < 0)
			return XI_LDAP_BIND_ERROR;
		/* Retried only when the bind provably never reached the server
		 * (the idle connection was closed by it): a password sent
		 * twice is two failed attempts to a directory that counts
		 * them (ppolicy). */
		if (!fresh && xi_ldap_conn_closed_by_server(conn)) {
			xi_ldap_pool_put(pool, conn);
			count_retry(pool);
			continue;
		}
		if (ops != NULL && password_len > 0 && dn != NULL && dn[0] != '\0')
			(*ops)++;
		r = xi_ldap_conn_user_bind(conn, dn, password, password_len, err);
		xi_ldap_pool_put(pool, conn);
		break;
	}
	return r;
}

void xi_ldap_pool_stats(struct xi_ldap_pool *pool, struct xi_ldap_pool_stats *st)
{
	pthread_mutex_lock(&pool->lock);
	*st = pool->stats;
	pthread_mutex_unlock(&pool->lock);
}
