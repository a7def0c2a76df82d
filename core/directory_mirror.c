/*
 * directory_mirror: lookups answered from an in-process copy of the
 * directory, kept current by RFC 4533 refreshAndPersist through libldap's
 * consumer API (ldap_sync_init / ldap_sync_poll).  See directory_mirror.h.
 *
 * Why a rwlock rather than swapping whole copies: persist-phase changes
 * come one entry at a time, and copying a 100,000-entry store per change
 * is out of the question; a write lock held for one entry's replacement
 * (microseconds) is not.  During a refresh the mirror is not in sync, so
 * readers only take the lock long enough to see that and go to LDAP.
 */
#include "directory_mirror.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>
#include <openssl/crypto.h>

#include "config.h"
#include "dir_entry_ldap.h"
#include "dir_filter.h"
#include "ldap_conn.h"
#include "mirror_store.h"

#define ATTRS_MAX 40
#define POLL_SECONDS 1
#define RETRY_MIN_SECONDS 1
#define RETRY_MAX_SECONDS 30
#define RETRY_BACKOFF (-1)          /* session(): wait 1, 2, 4... 30 s */
#define RETRY_OVER_LIMIT_SECONDS 300
#define SYNC_THREAD_STACK (512 * 1024)

struct directory_mirror {
	struct xi_directory dir;
	struct xi_directory *live;
	struct xi_ldap_settings settings;
	const char *base_dn;
	bool keep_secrets;
	const char *attrs[ATTRS_MAX + 1];
	char filter[1024];

	/* The process that runs the sync thread: a child forked from it has
	 * the copy but not the thread, so its copy would never change. */
	pid_t owner;
	/* Non-zero in the owner only: a page the kernel wipes in a forked
	 * child (MADV_WIPEONFORK), so that every lookup knows without a
	 * getpid() system call (three per logon before).  NULL where the
	 * kernel cannot: getpid() then. */
	volatile unsigned char *owner_page;
	size_t owner_page_size;

	/* Readers and the writer: the store and whether it may answer. */
	pthread_rwlock_t lock;
	struct xi_mirror_store *store;
	bool in_sync;

	/* Control: stop request, the sync socket (to interrupt a blocked
	 * read at destroy), what the thread is doing, counters. */
	pthread_mutex_t ctl;
	pthread_cond_t wake;
	bool stop;
	int fd;
	char state[256];
	unsigned long refreshes, changes, attempts_failed;
	double last_refresh_seconds;
	pthread_t thread;
	bool thread_started;

	/* Writer-only (the sync thread). */
	struct berval cookie;
	bool incomplete;           /* an entry could not be stored */
	bool over_limit;
	bool session_ended;        /* the server ended the search */
	int backoff;               /* seconds before the next reconnection */
	struct timespec refresh_start;
	struct xi_dir_entry scratch, scratch_notes;
};

/* ------------------------------------------------------------ control */

/* snprintf that may cut (status and trace text only). */
static void fmt(char *out, size_t size, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt(char *out, size_t size, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	(void)vsnprintf(out, size, format, ap);
	va_end(ap);
}


static void set_state(struct directory_mirror *dm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_state(struct directory_mirror *dm, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&dm->ctl);
	va_start(ap, fmt);
	vsnprintf(dm->state, sizeof(dm->state), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&dm->ctl);
}

static bool stopping(struct directory_mirror *dm)
{
	bool stop;

	pthread_mutex_lock(&dm->ctl);
	stop = dm->stop;
	pthread_mutex_unlock(&dm->ctl);
	return stop;
}

static void set_in_sync(struct directory_mirror *dm, bool in_sync)
{
	pthread_rwlock_wrlock(&dm->lock);
	dm->in_sync = in_sync;
	pthread_rwlock_unlock(&dm->lock);
	if (in_sync) {
		pthread_mutex_lock(&dm->ctl);
		pthread_cond_broadcast(&dm->wake);
		pthread_mutex_unlock(&dm->ctl);
	}
}

/* Sleeps up to seconds, or until destroy asks the thread to stop. */
static void pause_for(struct directory_mirror *dm, int seconds)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += seconds;
	pthread_mutex_lock(&dm->ctl);
	while (!dm->stop && pthread_cond_timedwait(&dm->wake, &dm->ctl, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&dm->ctl);
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------ applying changes */

static struct directory_mirror *of(ldap_sync_t *ls)
{
	return ls->ls_private;
}

static void store_failed(struct directory_mirror *dm, const struct xi_error *err)
{
	/* One entry missing makes every answer suspect: stop answering. */
	dm->incomplete = true;
	dm->over_limit = err->status == XI_ERR_INVALID &&
		strstr(err->message, "directory_mirror_max_entries") != NULL;
	set_in_sync(dm, false);
	set_state(dm, "not in sync: %s", err->message);
}

static void put_entry(struct directory_mirror *dm, LDAP *ld, LDAPMessage *msg,
		      const struct berval *uuid)
{
	char buf[XI_DIR_MULTI_MAX][XI_NAME_MAX];
	const char *mails[XI_DIR_MULTI_MAX];
	struct xi_dir_entry *e = &dm->scratch;
	struct xi_error err;
	size_t n = 0;
	bool mailbox_class;
	int rc;

	xi_error_clear(&err);
	memset(e, 0, sizeof(*e));
	xi_dir_entry_from_ldap(ld, msg, dm->dir.map, NULL, e, dm->keep_secrets, dm->keep_secrets);
	if (dm->dir.map->mail != NULL) {
		memset(&dm->scratch_notes, 0, sizeof(dm->scratch_notes));
		n = xi_dir_entry_texts(ld, msg, &dm->scratch_notes, dm->dir.map->mail, buf, mails, NULL);
	}
	mailbox_class = xi_dir_entry_has_class(ld, msg, dm->dir.map->mailbox_class);
	pthread_rwlock_wrlock(&dm->lock);
	rc = xi_mirror_store_put(dm->store, (const uint8_t *)uuid->bv_val, e, mailbox_class, mails, n,
				 &err);
	pthread_rwlock_unlock(&dm->lock);
	/* The scratch entry held secrets: wipe it. */
	free(e->delegate_keys);
	OPENSSL_cleanse(e, sizeof(*e));
	if (rc < 0)
		store_failed(dm, &err);
}

static int on_entry(ldap_sync_t *ls, LDAPMessage *msg, struct berval *uuid,
		    ldap_sync_refresh_t phase)
{
	struct directory_mirror *dm = of(ls);

	if (uuid == NULL || uuid->bv_len != XI_MIRROR_UUID_LEN) {
		/* An entry (or a deletion) we cannot key would be missing from
		 * a copy that says it is complete. */
		struct xi_error err;

		xi_error_set(&err, XI_ERR_INVALID, "the server sent an entry without a valid entryUUID");
		store_failed(dm, &err);
		return 0;
	}
	switch (phase) {
	case LDAP_SYNC_CAPI_ADD:
	case LDAP_SYNC_CAPI_MODIFY:
		put_entry(dm, ls->ls_ld, msg, uuid);
		break;
	case LDAP_SYNC_CAPI_PRESENT:
		pthread_rwlock_wrlock(&dm->lock);
		(void)xi_mirror_store_mark(dm->store, (const uint8_t *)uuid->bv_val);
		pthread_rwlock_unlock(&dm->lock);
		return 0;
	case LDAP_SYNC_CAPI_DELETE:
		pthread_rwlock_wrlock(&dm->lock);
		(void)xi_mirror_store_delete(dm->store, (const uint8_t *)uuid->bv_val);
		pthread_rwlock_unlock(&dm->lock);
		break;
	default:
		return 0;
	}
	if (dm->in_sync) {
		pthread_mutex_lock(&dm->ctl);
		dm->changes++;
		pthread_mutex_unlock(&dm->ctl);
	}
	return 0;
}

/* Whether a sync info message ended a present phase (refreshPresent):
 * then every entry the server did not name is gone (RFC 4533 3.4.1).  A
 * refreshDelete ends a delete phase, which names the deleted instead. */
static bool ends_present_phase(LDAP *ld, LDAPMessage *msg)
{
	char *oid = NULL;
	struct berval *data = NULL;
	BerElement *ber;
	ber_len_t len;
	bool present = false;

	if (ldap_parse_intermediate(ld, msg, &oid, &data, NULL, 0) != LDAP_SUCCESS)
		return false;
	if (oid != NULL && strcmp(oid, LDAP_SYNC_INFO) == 0 && data != NULL &&
	    (ber = ber_init(data)) != NULL) {
		present = ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_REFRESH_PRESENT;
		ber_free(ber, 1);
	}
	ldap_memfree(oid);
	ber_bvfree(data);
	return present;
}

static void refresh_done(struct directory_mirror *dm)
{
	size_t entries, bytes;
	double took = since(&dm->refresh_start);

	if (dm->incomplete)
		return;
	dm->backoff = RETRY_MIN_SECONDS;
	pthread_rwlock_rdlock(&dm->lock);
	entries = xi_mirror_store_count(dm->store);
	bytes = xi_mirror_store_bytes(dm->store);
	pthread_rwlock_unlock(&dm->lock);
	pthread_mutex_lock(&dm->ctl);
	dm->refreshes++;
	dm->last_refresh_seconds = took;
	fmt(dm->state, sizeof(dm->state),
		 "in sync: %zu entries, %zu bytes, refreshed in %.3f s", entries, bytes, took);
	pthread_mutex_unlock(&dm->ctl);
	set_in_sync(dm, true);
}

static int on_intermediate(ldap_sync_t *ls, LDAPMessage *msg, BerVarray uuids,
			   ldap_sync_refresh_t phase)
{
	struct directory_mirror *dm = of(ls);
	size_t i;

	switch (phase) {
	case LDAP_SYNC_CAPI_PRESENTS_IDSET:
	case LDAP_SYNC_CAPI_DELETES_IDSET:
		pthread_rwlock_wrlock(&dm->lock);
		for (i = 0; uuids != NULL && uuids[i].bv_val != NULL; i++) {
			if (uuids[i].bv_len != XI_MIRROR_UUID_LEN)
				continue;
			if (phase == LDAP_SYNC_CAPI_PRESENTS_IDSET)
				(void)xi_mirror_store_mark(dm->store, (const uint8_t *)uuids[i].bv_val);
			else
				(void)xi_mirror_store_delete(dm->store, (const uint8_t *)uuids[i].bv_val);
		}
		pthread_rwlock_unlock(&dm->lock);
		break;
	case LDAP_SYNC_CAPI_PRESENTS:
	case LDAP_SYNC_CAPI_DELETES:
	case LDAP_SYNC_CAPI_DONE:
		if (ends_present_phase(ls->ls_ld, msg)) {
			pthread_rwlock_wrlock(&dm->lock);
			(void)xi_mirror_store_sweep(dm->store);
			pthread_rwlock_unlock(&dm->lock);
		}
		if (phase == LDAP_SYNC_CAPI_DONE)
			refresh_done(dm);
		break;
	default:
		break;
	}
	return 0;
}

static int on_result(ldap_sync_t *ls, LDAPMessage *msg, int refresh_deletes)
{
	(void)msg;
	(void)refresh_deletes;
	of(ls)->session_ended = true;
	return 0;
}

/* ------------------------------------------------------------ the sync thread */

static void keepalive(int fd)
{
	int on = 1, idle = 30, interval = 10, count = 3;

	/* A server that vanishes without closing the connection must not
	 * leave the mirror "in sync" for hours. */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

/* One connection: refresh, then persist until it breaks.  Returns the
 * seconds to wait before the next attempt. */
static int session(struct directory_mirror *dm)
{
	struct xi_ldap_conn *conn = NULL;
	struct xi_error err;
	ldap_sync_t ls;
	LDAP *ld;
	int fd = -1, rc, wait = RETRY_BACKOFF;

	xi_error_clear(&err);
	set_state(dm, "connecting");
	if (xi_ldap_conn_open(&dm->settings, &conn, &err) < 0) {
		set_state(dm, "not in sync: %s", err.message);
		return RETRY_BACKOFF;
	}
	ld = xi_ldap_conn_handle(conn);
	if (ldap_get_option(ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS && fd >= 0)
		keepalive(fd);
	pthread_mutex_lock(&dm->ctl);
	dm->fd = dm->stop ? -1 : fd;
	pthread_mutex_unlock(&dm->ctl);

	ldap_sync_initialize(&ls);
	ls.ls_base = (char *)dm->base_dn;
	ls.ls_scope = LDAP_SCOPE_SUBTREE;
	ls.ls_filter = dm->filter;
	ls.ls_attrs = (char **)dm->attrs;
	ls.ls_timeout = POLL_SECONDS;
	ls.ls_search_entry = on_entry;
	ls.ls_intermediate = on_intermediate;
	ls.ls_search_result = on_result;
	ls.ls_private = dm;
	ls.ls_ld = ld;
	if (dm->cookie.bv_val != NULL)
		ber_dupbv(&ls.ls_cookie, &dm->cookie);

	dm->incomplete = false;
	dm->over_limit = false;
	dm->session_ended = false;
	clock_gettime(CLOCK_MONOTONIC, &dm->refresh_start);
	set_state(dm, "refreshing%s", dm->cookie.bv_val != NULL ? " from the last cookie" : "");
	pthread_rwlock_wrlock(&dm->lock);
	if (dm->cookie.bv_val == NULL)
		xi_mirror_store_clear(dm->store);
	xi_mirror_store_unmark_all(dm->store);
	pthread_rwlock_unlock(&dm->lock);

	if (!stopping(dm)) {
		rc = ldap_sync_init(&ls, LDAP_SYNC_REFRESH_AND_PERSIST);
		if (rc == LDAP_SYNC_REFRESH_REQUIRED) {
			/* The server cannot resume from our cookie: full reload. */
			ber_memfree(dm->cookie.bv_val);
			dm->cookie.bv_val = NULL;
			dm->cookie.bv_len = 0;
			set_state(dm, "not in sync: the server asked for a full refresh");
			wait = 0;
		} else if (rc != LDAP_SUCCESS || dm->session_ended) {
			set_state(dm, "not in sync: content synchronization with %s failed: %s%s",
				  xi_ldap_conn_uri(conn), rc == -1 ? "connection lost" : ldap_err2string(rc),
				  rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION ?
				  " (does the server run the syncprov overlay? see ldap-schema/README.md)" : "");
			/* A refresh cut by a lost connection or a server too slow
			 * for ldap_timeout is worth retrying soon (1, 2, 4... s);
			 * a refusal (no syncprov, no rights) is not. */
			wait = (rc == -1 || rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ||
				rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMELIMIT_EXCEEDED || rc == LDAP_BUSY ||
				rc == LDAP_UNAVAILABLE) ? RETRY_BACKOFF : RETRY_MAX_SECONDS;
		} else if (dm->incomplete) {
			wait = dm->over_limit ? RETRY_OVER_LIMIT_SECONDS : RETRY_MAX_SECONDS;
		} else {
			while (!stopping(dm) && !dm->incomplete && !dm->session_ended) {
				rc = ldap_sync_poll(&ls);
				if (rc != LDAP_SUCCESS)
					break;
			}
			if (!stopping(dm) && !dm->incomplete)
				set_state(dm, "not in sync: connection to %s lost", xi_ldap_conn_uri(conn));
			wait = dm->incomplete ?
				(dm->over_limit ? RETRY_OVER_LIMIT_SECONDS : RETRY_MAX_SECONDS) :
				RETRY_BACKOFF;
		}
	}
	set_in_sync(dm, false);
	pthread_mutex_lock(&dm->ctl);
	dm->attempts_failed++;
	pthread_cond_broadcast(&dm->wake);
	pthread_mutex_unlock(&dm->ctl);
	/* Keep the cookie for the next session unless the copy is incomplete
	 * (then the next refresh must be a full one). */
	ber_memfree(dm->cookie.bv_val);
	dm->cookie.bv_val = NULL;
	dm->cookie.bv_len = 0;
	if (!dm->incomplete && ls.ls_cookie.bv_val != NULL)
		ber_dupbv(&dm->cookie, &ls.ls_cookie);

	pthread_mutex_lock(&dm->ctl);
	dm->fd = -1;
	pthread_mutex_unlock(&dm->ctl);
	/* The search parameters and the handle are ours, not the API's. */
	ls.ls_base = NULL;
	ls.ls_filter = NULL;
	ls.ls_attrs = NULL;
	ls.ls_ld = NULL;
	ldap_sync_destroy(&ls, 0);
	xi_ldap_conn_close(conn);
	return wait;
}

static void *sync_thread(void *arg)
{
	struct directory_mirror *dm = arg;
	int wait;

	dm->backoff = RETRY_MIN_SECONDS;
	while (!stopping(dm)) {
		wait = session(dm);
		if (wait == RETRY_BACKOFF) {
			/* A short outage costs a second; a long one is retried
			 * every RETRY_MAX_SECONDS. */
			wait = dm->backoff;
			dm->backoff = dm->backoff * 2 > RETRY_MAX_SECONDS ? RETRY_MAX_SECONDS : dm->backoff * 2;
		}
		if (wait > 0)
			pause_for(dm, wait);
	}
	return NULL;
}

/* ------------------------------------------------------------ the interface */

static const char *short_state(struct directory_mirror *dm, char *buf, size_t size)
{
	pthread_mutex_lock(&dm->ctl);
	fmt(buf, size, "%s", dm->state);
	pthread_mutex_unlock(&dm->ctl);
	return buf;
}

/* Whether this process runs the sync thread (see owner). */
static bool followed(const struct directory_mirror *dm)
{
	if (dm->owner_page != NULL)
		return dm->owner_page[0] != 0;
	return getpid() == dm->owner;
}

static void mark_owner(struct directory_mirror *dm)
{
#ifdef MADV_WIPEONFORK
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (page <= 0)
		return;
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (madvise(p, (size_t)page, MADV_WIPEONFORK) < 0) {
		munmap(p, (size_t)page);
		return;
	}
	dm->owner_page = p;
	dm->owner_page_size = (size_t)page;
	dm->owner_page[0] = 1;
#else
	(void)dm;
#endif
}

/* Prefixes what the live search says with why the mirror did not answer. */
static void note_fallthrough(struct directory_mirror *dm, bool secret, struct xi_dir_result *res)
{
	char state[128], searched[sizeof(res->searched)];

	if (!followed(dm))
		fmt(state, sizeof(state), "%s", "not followed in this forked process");
	else if (secret && !dm->keep_secrets)
		fmt(state, sizeof(state), "%s", "holds no secrets: directory_mirror_secrets = no");
	else
		short_state(dm, state, sizeof(state));
	fmt(searched, sizeof(searched), "%s", res->searched);
	fmt(res->searched, sizeof(res->searched), "LDAP (mirror %s): %s", state, searched);
}

static void note_mirror(struct directory_mirror *dm, const struct xi_dir_query *q, const char *dn,
			struct xi_dir_result *res)
{
	char filter[XI_DIR_FILTER_MAX];

	if (dn != NULL)
		fmt(res->searched, sizeof(res->searched), "mirror: entry \"%s\"", dn);
	else if (xi_dir_ldap_filter(dm->dir.map, q, filter, sizeof(filter), NULL) >= 0)
		fmt(res->searched, sizeof(res->searched), "mirror of base=\"%s\": filter=%s",
			 dm->base_dn, filter);
	else
		fmt(res->searched, sizeof(res->searched), "mirror of base=\"%s\"", dm->base_dn);
}

/* Takes the read side, or (wait = false) says it is taken for writing. */
static bool read_lock(struct directory_mirror *dm, bool wait)
{
	if (wait)
		return pthread_rwlock_rdlock(&dm->lock) == 0;
	return pthread_rwlock_tryrdlock(&dm->lock) == 0;
}

/* The answers from memory: true when answered, false when only live LDAP
 * can answer (not in sync, secrets not kept, a forked child, or the store
 * refused) and, with wait = false, when the writer holds the lock. */
static bool memory_find(struct directory_mirror *dm, const struct xi_dir_query *q, bool wait,
			struct xi_dir_result *res, struct xi_error *err)
{
	bool answered = false;

	if (!followed(dm) || (!dm->keep_secrets && (q->want_nt_hash || q->want_password)) ||
	    !read_lock(dm, wait))
		return false;
	if (dm->in_sync) {
		answered = xi_mirror_store_find(dm->store, q, res, err) == 0;
		if (!answered)
			xi_error_clear(err);
	}
	pthread_rwlock_unlock(&dm->lock);
	if (answered)
		note_mirror(dm, q, NULL, res);
	return answered;
}

static bool memory_read(struct directory_mirror *dm, const char *dn, bool want_nt, bool want_pw,
			bool wait, struct xi_dir_result *res, struct xi_error *err)
{
	bool answered = false;

	if (!followed(dm) || (!dm->keep_secrets && (want_nt || want_pw)) || !read_lock(dm, wait))
		return false;
	if (dm->in_sync) {
		answered = xi_mirror_store_read(dm->store, dn, want_nt, want_pw, res, err) == 0;
		if (!answered)
			xi_error_clear(err);
	}
	pthread_rwlock_unlock(&dm->lock);
	if (answered)
		note_mirror(dm, NULL, dn, res);
	return answered;
}

/* followed() first, as everywhere: a forked child must not take a lock the
 * sync thread may have held at the fork. */
static bool memory_mailboxes_visible(struct directory_mirror *dm, bool wait, bool *visible_r)
{
	bool answered = false;

	if (!followed(dm) || !read_lock(dm, wait))
		return false;
	if (dm->in_sync) {
		*visible_r = xi_mirror_store_mailboxes_visible(dm->store);
		answered = true;
	}
	pthread_rwlock_unlock(&dm->lock);
	return answered;
}

static int dm_find(struct xi_directory *dir, const struct xi_dir_query *q,
		   struct xi_dir_result *res, unsigned *ops, struct xi_error *err)
{
	struct directory_mirror *dm = (struct directory_mirror *)dir;
	int rc;

	if (memory_find(dm, q, true, res, err))
		return 0;
	rc = xi_dir_find(dm->live, q, res, ops, err);
	if (rc == 0)
		note_fallthrough(dm, q->want_nt_hash || q->want_password, res);
	return rc;
}

static int dm_read(struct xi_directory *dir, const char *dn, bool want_nt, bool want_pw,
		   struct xi_dir_result *res, unsigned *ops, struct xi_error *err)
{
	struct directory_mirror *dm = (struct directory_mirror *)dir;
	int rc;

	if (memory_read(dm, dn, want_nt, want_pw, true, res, err))
		return 0;
	rc = xi_dir_read(dm->live, dn, want_nt, want_pw, res, ops, err);
	if (rc == 0)
		note_fallthrough(dm, want_nt || want_pw, res);
	return rc;
}

static enum xi_dir_bind dm_verify_bind(struct xi_directory *dir, const char *dn,
				       const char *password, size_t password_len, unsigned *ops,
				       struct xi_error *err)
{
	struct directory_mirror *dm = (struct directory_mirror *)dir;

	return xi_dir_verify_bind(dm->live, dn, password, password_len, ops, err);
}

static int dm_mailboxes_visible(struct xi_directory *dir, bool *visible_r, unsigned *ops,
				struct xi_error *err)
{
	struct directory_mirror *dm = (struct directory_mirror *)dir;

	if (memory_mailboxes_visible(dm, true, visible_r))
		return 0;
	return xi_dir_mailboxes_visible(dm->live, visible_r, ops, err);
}

static void dm_destroy(struct xi_directory *dir)
{
	struct directory_mirror *dm = (struct directory_mirror *)dir;

	if (dm->thread_started && followed(dm)) {
		pthread_mutex_lock(&dm->ctl);
		dm->stop = true;
		/* Wakes a thread blocked reading the sync connection (the
		 * refresh of ldap_sync_init has no deadline of its own). */
		if (dm->fd >= 0)
			(void)shutdown(dm->fd, SHUT_RDWR);
		pthread_cond_broadcast(&dm->wake);
		pthread_mutex_unlock(&dm->ctl);
		pthread_join(dm->thread, NULL);
	}
	ber_memfree(dm->cookie.bv_val);
	xi_mirror_store_free(dm->store);
	xi_dir_destroy(dm->live);
	pthread_rwlock_destroy(&dm->lock);
	pthread_cond_destroy(&dm->wake);
	pthread_mutex_destroy(&dm->ctl);
	if (dm->owner_page != NULL)
		munmap((void *)dm->owner_page, dm->owner_page_size);
	free(dm);
}

/* verify_bind always goes to live LDAP, and so does its non-blocking form. */
static struct xi_ldap_pool *dm_bind_pool(struct xi_directory *dir)
{
	struct directory_mirror *dm = (struct directory_mirror *)dir;

	return dm->live->ops->bind_pool != NULL ? dm->live->ops->bind_pool(dm->live) : NULL;
}

static const struct xi_directory_ops mirror_ops = {
	.find = dm_find,
	.read = dm_read,
	.verify_bind = dm_verify_bind,
	.mailboxes_visible = dm_mailboxes_visible,
	.destroy = dm_destroy,
	.bind_pool = dm_bind_pool,
};

/* (|(objectClass=ACCOUNT)(objectClass=MAILBOX)...): what the mirror holds. */
static int sync_filter(const struct xi_attrmap *m, char *out, size_t size, struct xi_error *err)
{
	const char *classes[] = { m->account_class, m->mailbox_class, m->custom_class, m->dl_class };
	char one[256];
	size_t len, i;

	snprintf(out, size, "(|");
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		if (classes[i] == NULL)
			continue;
		if (xi_dir_ldap_class_filter(classes[i], one, sizeof(one), err) < 0)
			return -1;
		len = strlen(out);
		if (len + strlen(one) + 2 > size)
			return xi_error_set(err, XI_ERR_INTERNAL, "mirror filter too long");
		snprintf(out + len, size - len, "%s", one);
	}
	len = strlen(out);
	snprintf(out + len, size - len, ")");
	return 0;
}

int xi_directory_mirror_create(const struct xi_config *cfg, struct xi_directory **dir_r,
			       struct xi_error *err)
{
	struct directory_mirror *dm;
	const char *bind_dn;

	*dir_r = NULL;
	dm = calloc(1, sizeof(*dm));
	if (dm == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	dm->fd = -1;
	dm->owner = getpid();
	{
		pthread_rwlockattr_t la;
		int rc;

		pthread_rwlockattr_init(&la);
#ifdef __GLIBC__
		/* glibc prefers readers by default: resolver threads reading
		 * back to back could hold the writer (and every change) off
		 * indefinitely.  No reader takes the lock twice, so the
		 * non-recursive writer preference is safe. */
		pthread_rwlockattr_setkind_np(&la, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
		rc = pthread_rwlock_init(&dm->lock, &la);
		pthread_rwlockattr_destroy(&la);
		if (rc != 0) {
			free(dm);
			return xi_error_set(err, XI_ERR_NOMEM, "cannot create the mirror's lock");
		}
	}
	mark_owner(dm);
	pthread_mutex_init(&dm->ctl, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&dm->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	dm->dir.ops = &mirror_ops;
	if (xi_directory_ldap_create(cfg, &dm->live, err) < 0)
		goto fail;
	dm->dir.map = dm->live->map;
	dm->dir.service_dn = dm->live->service_dn;
	dm->base_dn = xi_config_str(cfg, XI_CFG_LDAP_BASE_DN);
	dm->keep_secrets = xi_config_bool(cfg, XI_CFG_DIRECTORY_MIRROR_SECRETS);
	xi_attrmap_attributes(dm->dir.map, dm->keep_secrets, dm->keep_secrets, dm->attrs, ATTRS_MAX);
	if (sync_filter(dm->dir.map, dm->filter, sizeof(dm->filter), err) < 0 ||
	    xi_ldap_settings_from_config(cfg, &dm->settings, err) < 0)
		goto fail;
	dm->store = xi_mirror_store_new(dm->dir.map, dm->base_dn,
					(size_t)xi_config_int(cfg, XI_CFG_DIRECTORY_MIRROR_MAX_ENTRIES),
					dm->keep_secrets);
	if (dm->store == NULL) {
		xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		goto fail;
	}
	bind_dn = dm->settings.bind_dn;
	fmt(dm->state, sizeof(dm->state), "starting (bound as %s)",
		 bind_dn != NULL && bind_dn[0] != '\0' ? bind_dn : "anonymous");
	{
		sigset_t all, old;
		int rc;

		/* The host's signals are the host's: the mirror's thread takes
		 * none (and a SIGPIPE from a dead sync connection stays pending
		 * on it instead of ending the process). */
		pthread_attr_t attr;

		/* A small stack: hosts such as Dovecot's auth process run
		 * under a virtual size limit. */
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, SYNC_THREAD_STACK);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&dm->thread, &attr, sync_thread, dm);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			xi_error_set(err, XI_ERR_NOMEM, "cannot start the mirror's thread");
			goto fail;
		}
	}
	dm->thread_started = true;
	*dir_r = &dm->dir;
	return 0;
fail:
	dm_destroy(&dm->dir);
	return -1;
}

void xi_directory_mirror_stats(struct xi_directory *dir, struct xi_mirror_stats *st)
{
	struct directory_mirror *dm = (struct directory_mirror *)dir;

	memset(st, 0, sizeof(*st));
	pthread_rwlock_rdlock(&dm->lock);
	st->in_sync = dm->in_sync;
	st->entries = xi_mirror_store_count(dm->store);
	st->bytes = xi_mirror_store_bytes(dm->store);
	pthread_rwlock_unlock(&dm->lock);
	pthread_mutex_lock(&dm->ctl);
	st->refreshes = dm->refreshes;
	st->changes = dm->changes;
	st->last_refresh_seconds = dm->last_refresh_seconds;
	fmt(st->state, sizeof(st->state), "%s", dm->state);
	pthread_mutex_unlock(&dm->ctl);
}

bool xi_directory_mirror_wait(struct xi_directory *dir, int timeout_ms)
{
	struct directory_mirror *dm = (struct directory_mirror *)dir;
	struct timespec until, now, step;
	unsigned long failed0;
	bool in_sync = false, failed = false;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&dm->ctl);
	failed0 = dm->attempts_failed;
	pthread_mutex_unlock(&dm->ctl);
	for (;;) {
		pthread_rwlock_rdlock(&dm->lock);
		in_sync = dm->in_sync;
		pthread_rwlock_unlock(&dm->lock);
		if (in_sync || failed)
			return in_sync;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until.tv_sec ||
		    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
			return false;
		/* set_in_sync broadcasts after the flag is set, outside the
		 * rwlock: a short bounded wait covers the gap between the two. */
		step = now;
		step.tv_nsec += 50 * 1000000L;
		if (step.tv_nsec >= 1000000000L) {
			step.tv_sec++;
			step.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&dm->ctl);
		if (dm->attempts_failed == failed0 && !dm->stop)
			(void)pthread_cond_timedwait(&dm->wake, &dm->ctl, &step);
		/* An attempt that ended without sync ends the wait: it will not
		 * become in sync before the next attempt. */
		failed = dm->attempts_failed != failed0 || dm->stop;
		pthread_mutex_unlock(&dm->ctl);
	}
}

int xi_directory_create(const struct xi_config *cfg, struct xi_directory **dir_r,
			struct xi_error *err)
{
	if (xi_config_bool(cfg, XI_CFG_DIRECTORY_MIRROR))
		return xi_directory_mirror_create(cfg, dir_r, err);
	return xi_directory_ldap_create(cfg, dir_r, err);
}

/* ------------------------------------------------------------ memory view */

/* The mirror seen by a caller that must not wait for the network (a host's
 * event loop thread): what the mirror answers from memory, and otherwise
 * XI_ERR_TEMP at once instead of live LDAP.  It does not even wait for the
 * rwlock: the writer holds it only for one entry's change, but the caller
 * that finds it taken can hand the work to a thread instead. */
struct mirror_memory_view {
	struct xi_directory dir;
	struct directory_mirror *dm;
};

static int cannot_from_memory(struct xi_error *err)
{
	return xi_error_set(err, XI_ERR_TEMP, "the mirror cannot answer this from memory now");
}

static int mv_find(struct xi_directory *dir, const struct xi_dir_query *q,
		   struct xi_dir_result *res, unsigned *ops, struct xi_error *err)
{
	struct mirror_memory_view *mv = (struct mirror_memory_view *)dir;

	(void)ops;
	return memory_find(mv->dm, q, false, res, err) ? 0 : cannot_from_memory(err);
}

static int mv_read(struct xi_directory *dir, const char *dn, bool want_nt, bool want_pw,
		   struct xi_dir_result *res, unsigned *ops, struct xi_error *err)
{
	struct mirror_memory_view *mv = (struct mirror_memory_view *)dir;

	(void)ops;
	return memory_read(mv->dm, dn, want_nt, want_pw, false, res, err) ? 0 :
		cannot_from_memory(err);
}

static enum xi_dir_bind mv_verify_bind(struct xi_directory *dir, const char *dn,
				       const char *password, size_t password_len, unsigned *ops,
				       struct xi_error *err)
{
	(void)dir; (void)dn; (void)password; (void)password_len; (void)ops;
	cannot_from_memory(err);
	return XI_DIR_BIND_ERROR;
}

static int mv_mailboxes_visible(struct xi_directory *dir, bool *visible_r, unsigned *ops,
				struct xi_error *err)
{
	struct mirror_memory_view *mv = (struct mirror_memory_view *)dir;

	(void)ops;
	return memory_mailboxes_visible(mv->dm, false, visible_r) ? 0 : cannot_from_memory(err);
}

static void mv_destroy(struct xi_directory *dir)
{
	free(dir);
}

/* The bind a caller without a thread may still send, without waiting. */
static struct xi_ldap_pool *mv_bind_pool(struct xi_directory *dir)
{
	return dm_bind_pool(&((struct mirror_memory_view *)dir)->dm->dir);
}

static const struct xi_directory_ops memory_view_ops = {
	.find = mv_find,
	.read = mv_read,
	.verify_bind = mv_verify_bind,
	.mailboxes_visible = mv_mailboxes_visible,
	.destroy = mv_destroy,
	.bind_pool = mv_bind_pool,
};

int xi_directory_memory_view(struct xi_directory *dir, struct xi_directory **view_r,
			     bool *secrets_r, struct xi_error *err)
{
	struct mirror_memory_view *mv;

	*view_r = NULL;
	if (dir->ops != &mirror_ops)
		return xi_error_set(err, XI_ERR_UNSUPPORTED,
				    "the directory is not a mirror (directory_mirror = no)");
	mv = calloc(1, sizeof(*mv));
	if (mv == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	mv->dm = (struct directory_mirror *)dir;
	mv->dir.ops = &memory_view_ops;
	mv->dir.map = dir->map;
	mv->dir.service_dn = dir->service_dn;
	*secrets_r = mv->dm->keep_secrets;
	*view_r = &mv->dir;
	return 0;
}
