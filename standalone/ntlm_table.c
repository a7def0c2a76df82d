/* The auth process's NTLM exchanges in progress (ntlm_table.h). */
#include "ntlm_table.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ntlm_sasl.h"

/* A remote address as the network process wrote it (an IPv6 text is at
 * most 45 bytes; longer ones are cut, which only merges their counts). */
#define SOURCE_MAX 64

/* How many max ages an expired exchange's tombstone is kept. */
#define TOMBSTONE_AGES 4

struct source {
	struct source *next; /* in its bucket */
	size_t exchanges;
	char addr[SOURCE_MAX];
};

struct xd_ntlm_exchange {
	struct xi_ntlm_sasl *sasl;
	struct xd_ntlm_exchange *bucket_next;
	struct xd_ntlm_exchange *older, *newer; /* the age list */
	struct source *source;
	uint64_t started_ms;
	uint32_t conn;
	bool busy;    /* a worker holds it (outside the lock) */
	bool forget;  /* its connection is gone: drop when released */
	bool expired; /* older than max_age_ms: a tombstone once no worker holds it */
	/* A tombstone holds no SASL state and counts for nothing: it only
	 * remembers, for a while, that conn's exchange expired, so that the
	 * connection's late AUTHENTICATE is reported as a timeout, not as a
	 * malformed message.  It lives in by_conn and on the tombstone list
	 * (older/newer), and since expired_ms. */
	bool tombstone;
	bool after_expiry; /* started where conn's previous exchange had expired */
	uint64_t expired_ms;
};

struct xd_ntlm_table {
	pthread_mutex_t lock;
	size_t capacity, per_source, count;
	uint64_t max_age_ms;
	/* Both hashes have a power-of-two number of buckets, about one per two
	 * entries at capacity: lookups stay short however full the table. */
	size_t nbuckets;
	struct xd_ntlm_exchange **by_conn;
	struct source **by_source;
	struct xd_ntlm_exchange *oldest, *newest;
	/* Tombstones, oldest first: each is kept TOMBSTONE_AGES max ages (a
	 * client slower still gets the plain failure) and at most capacity of
	 * them, so a connection that never comes back costs a few bytes for
	 * a while. */
	struct xd_ntlm_exchange *tomb_oldest, *tomb_newest;
	size_t tombs;
};

static size_t conn_bucket(const struct xd_ntlm_table *t, uint32_t conn)
{
	/* Connection ids are sequential: a multiplicative hash spreads them. */
	return (size_t)((conn * 2654435761u) & (uint32_t)(t->nbuckets - 1));
}

static size_t source_bucket(const struct xd_ntlm_table *t, const char *addr)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *addr != '\0'; addr++)
		h = (h ^ (uint8_t)*addr) * 16777619u;
	return (size_t)(h & (uint32_t)(t->nbuckets - 1));
}

struct xd_ntlm_table *xd_ntlm_table_new(size_t capacity, size_t per_source, uint64_t max_age_ms)
{
	struct xd_ntlm_table *t;
	size_t nb = 16;

	if (capacity < 1 || per_source < 1)
		return NULL;
	while (nb < capacity / 2 && nb < ((size_t)1 << 20))
		nb <<= 1;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->by_conn = calloc(nb, sizeof(*t->by_conn));
	t->by_source = calloc(nb, sizeof(*t->by_source));
	if (t->by_conn == NULL || t->by_source == NULL) {
		free(t->by_conn);
		free(t->by_source);
		free(t);
		return NULL;
	}
	t->nbuckets = nb;
	t->capacity = capacity;
	t->per_source = per_source;
	t->max_age_ms = max_age_ms;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

static struct source *source_find(struct xd_ntlm_table *t, const char *addr, size_t bucket)
{
	for (struct source *s = t->by_source[bucket]; s != NULL; s = s->next)
		if (strcmp(s->addr, addr) == 0)
			return s;
	return NULL;
}

static void unlink_by_conn(struct xd_ntlm_table *t, struct xd_ntlm_exchange *e)
{
	struct xd_ntlm_exchange **pp = &t->by_conn[conn_bucket(t, e->conn)];

	while (*pp != e)
		pp = &(*pp)->bucket_next;
	*pp = e->bucket_next;
}

/* Takes a live exchange off the age list and its source, uncounted; it
 * stays in by_conn. */
static void unlink_live(struct xd_ntlm_table *t, struct xd_ntlm_exchange *e)
{
	struct source *s = e->source;

	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->newest = e->older;
	t->count--;
	if (--s->exchanges == 0) {
		struct source **sp = &t->by_source[source_bucket(t, s->addr)];
		while (*sp != s)
			sp = &(*sp)->next;
		*sp = s->next;
		free(s);
	}
	e->source = NULL;
	e->older = e->newer = NULL;
}

/* Unlinks a live exchange from both lists and its source; the caller frees it. */
static void unlink_exchange(struct xd_ntlm_table *t, struct xd_ntlm_exchange *e)
{
	unlink_by_conn(t, e);
	unlink_live(t, e);
}

/* Unlinks a tombstone from by_conn and the tombstone list; the caller frees it. */
static void unlink_tombstone(struct xd_ntlm_table *t, struct xd_ntlm_exchange *e)
{
	unlink_by_conn(t, e);
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		t->tomb_oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		t->tomb_newest = e->older;
	t->tombs--;
}

static void exchange_free(struct xd_ntlm_exchange *e)
{
	xi_ntlm_sasl_free(e->sasl);
	free(e);
}

/* Turns an expired live exchange (held by no worker, still in by_conn)
 * into a tombstone.  Its SASL state is freed under the lock: expiry is the
 * rare path.  The oldest tombstones go (onto dead) when there are capacity
 * of them. */
static void bury(struct xd_ntlm_table *t, struct xd_ntlm_exchange *e, uint64_t now_ms,
		 struct xd_ntlm_exchange **dead)
{
	unlink_live(t, e);
	xi_ntlm_sasl_free(e->sasl);
	e->sasl = NULL;
	e->tombstone = true;
	e->expired_ms = now_ms;
	e->older = t->tomb_newest;
	if (t->tomb_newest != NULL)
		t->tomb_newest->newer = e;
	else
		t->tomb_oldest = e;
	t->tomb_newest = e;
	t->tombs++;
	while (t->tombs > t->capacity) {
		struct xd_ntlm_exchange *old = t->tomb_oldest;
		unlink_tombstone(t, old);
		old->bucket_next = *dead;
		*dead = old;
	}
}

/* Ends the exchanges older than max_age_ms (one a worker holds ends when
 * it is released) and drops the tombstones kept long enough.  Returns the
 * list of what to free (outside the lock). */
static struct xd_ntlm_exchange *expire(struct xd_ntlm_table *t, uint64_t now_ms)
{
	struct xd_ntlm_exchange *e = t->oldest, *dead = NULL;

	/* Workers read the clock before the lock: a list entry may be a
	 * millisecond younger than now_ms says, hence the first test. */
	while (e != NULL && now_ms > e->started_ms && now_ms - e->started_ms >= t->max_age_ms) {
		struct xd_ntlm_exchange *next = e->newer;
		if (e->busy) {
			if (!e->expired) {
				e->expired = true;
				e->expired_ms = now_ms;
			}
		} else {
			bury(t, e, now_ms, &dead);
		}
		e = next;
	}
	while ((e = t->tomb_oldest) != NULL && now_ms > e->expired_ms &&
	       now_ms - e->expired_ms >= TOMBSTONE_AGES * t->max_age_ms) {
		unlink_tombstone(t, e);
		e->bucket_next = dead;
		dead = e;
	}
	return dead;
}

static enum xd_ntlm_take start(struct xd_ntlm_table *t, uint32_t conn, const char *addr,
			       uint64_t now_ms, struct xd_ntlm_exchange **exchange_r)
{
	char key[SOURCE_MAX];
	size_t sb;
	struct source *s;
	struct xd_ntlm_exchange *e;

	if (t->count >= t->capacity)
		return XD_NTLM_TABLE_FULL;
	/* Bounded copy: the key is what is counted, whatever the caller passed. */
	strncpy(key, addr, sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	sb = source_bucket(t, key);
	s = source_find(t, key, sb);
	if (s != NULL && s->exchanges >= t->per_source)
		return XD_NTLM_SOURCE_FULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return XD_NTLM_NO_MEMORY;
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL) {
			free(e);
			return XD_NTLM_NO_MEMORY;
		}
		memcpy(s->addr, key, sizeof(key));
		s->next = t->by_source[sb];
		t->by_source[sb] = s;
	}
	s->exchanges++;
	e->source = s;
	e->conn = conn;
	e->started_ms = now_ms;
	e->busy = true;
	e->bucket_next = t->by_conn[conn_bucket(t, conn)];
	t->by_conn[conn_bucket(t, conn)] = e;
	e->older = t->newest;
	if (t->newest != NULL)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
	t->count++;
	*exchange_r = e;
	return XD_NTLM_TAKEN;
}

enum xd_ntlm_take xd_ntlm_table_take(struct xd_ntlm_table *t, uint32_t conn, const char *source,
				     uint64_t now_ms, struct xd_ntlm_exchange **exchange_r)
{
	struct xd_ntlm_exchange *e, *dead;
	enum xd_ntlm_take ret;

	*exchange_r = NULL;
	pthread_mutex_lock(&t->lock);
	dead = expire(t, now_ms);
	for (e = t->by_conn[conn_bucket(t, conn)]; e != NULL; e = e->bucket_next)
		if (e->conn == conn && !e->forget)
			break;
	if (e != NULL && e->tombstone) {
		unlink_tombstone(t, e);
		e->bucket_next = dead;
		dead = e;
		ret = start(t, conn, source, now_ms, exchange_r);
		if (ret == XD_NTLM_TAKEN)
			(*exchange_r)->after_expiry = true;
	} else if (e == NULL) {
		ret = start(t, conn, source, now_ms, exchange_r);
	} else if (e->busy) {
		ret = XD_NTLM_BUSY;
	} else {
		e->busy = true;
		*exchange_r = e;
		ret = XD_NTLM_TAKEN;
	}
	pthread_mutex_unlock(&t->lock);
	while (dead != NULL) {
		e = dead;
		dead = e->bucket_next;
		exchange_free(e);
	}
	return ret;
}

struct xi_ntlm_sasl **xd_ntlm_exchange_sasl(struct xd_ntlm_exchange *e)
{
	return &e->sasl;
}

bool xd_ntlm_exchange_after_expiry(const struct xd_ntlm_exchange *e)
{
	return e->after_expiry;
}

void xd_ntlm_table_release(struct xd_ntlm_table *t, struct xd_ntlm_exchange *e, bool keep)
{
	struct xd_ntlm_exchange *dead = NULL;

	pthread_mutex_lock(&t->lock);
	e->busy = false;
	if (!keep || e->forget) {
		unlink_exchange(t, e);
		e->bucket_next = dead;
		dead = e;
	} else if (e->expired) {
		/* It expired while its worker answered: the connection's next
		 * message finds the tombstone. */
		bury(t, e, e->expired_ms, &dead);
	}
	pthread_mutex_unlock(&t->lock);
	while (dead != NULL) {
		struct xd_ntlm_exchange *d = dead;
		dead = d->bucket_next;
		exchange_free(d);
	}
}

void xd_ntlm_table_forget(struct xd_ntlm_table *t, uint32_t conn)
{
	struct xd_ntlm_exchange *e, *drop = NULL;

	pthread_mutex_lock(&t->lock);
	for (e = t->by_conn[conn_bucket(t, conn)]; e != NULL; e = e->bucket_next) {
		if (e->conn != conn || e->forget)
			continue;
		if (e->tombstone) {
			unlink_tombstone(t, e);
			drop = e;
		} else if (e->busy) {
			e->forget = true;
		} else {
			unlink_exchange(t, e);
			drop = e;
		}
		break;
	}
	pthread_mutex_unlock(&t->lock);
	if (drop != NULL)
		exchange_free(drop);
}

size_t xd_ntlm_table_count(struct xd_ntlm_table *t, const char *source)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	if (source == NULL) {
		n = t->count;
	} else {
		char key[SOURCE_MAX];
		struct source *s;
		strncpy(key, source, sizeof(key) - 1);
		key[sizeof(key) - 1] = '\0';
		s = source_find(t, key, source_bucket(t, key));
		n = s != NULL ? s->exchanges : 0;
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

size_t xd_ntlm_table_capacity(const struct xd_ntlm_table *t)
{
	return t->capacity;
}

size_t xd_ntlm_table_per_source(const struct xd_ntlm_table *t)
{
	return t->per_source;
}

void xd_ntlm_table_free(struct xd_ntlm_table *t)
{
	if (t == NULL)
		return;
	while (t->oldest != NULL) {
		struct xd_ntlm_exchange *e = t->oldest;
		unlink_exchange(t, e);
		exchange_free(e);
	}
	while (t->tomb_oldest != NULL) {
		struct xd_ntlm_exchange *e = t->tomb_oldest;
		unlink_tombstone(t, e);
		exchange_free(e);
	}
	free(t->by_conn);
	free(t->by_source);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
