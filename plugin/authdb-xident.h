/*
 * authdb-xident: what the passdb and userdb `xident` share in one process:
 * the configuration named by their args, the resolver built from it, and
 * the threads that run resolver calls without blocking the auth process.
 *
 * args = <path of xident.conf> [threads=N] [queue=N] [blocking=yes|no]
 *
 *   threads   resolver threads in the auth process (default: twice
 *             ldap_pool_size; a bind-mode logon holds a search connection,
 *             then a bind connection, so that many threads keep both
 *             connection sets busy, and more would only wait for one)
 *   queue     logons waiting for a thread at most (default 1024); one more
 *             is answered "temporary failure" at once, with a logged reason
 *   threads=0 no threads: the resolver runs in the auth process's main
 *             thread and blocks it for the directory work.  Only for a
 *             directory answered from memory (a local mirror): there a
 *             thread hand-off costs more than the work; with live LDAP every
 *             logon would wait for the one before it.
 *   blocking  yes: the old way, resolver calls in Dovecot's auth-worker
 *             processes (one logon per process at a time)
 *
 * Inside an auth-worker process the resolver is always called directly.
 */
#ifndef XI_PLUGIN_AUTHDB_XIDENT_H
#define XI_PLUGIN_AUTHDB_XIDENT_H

#include <string.h>

#include "config.h"
#include "resolver.h"
#include "event.h"

struct xi_jobs;

/* The event a resolver call emitted (a logon emits one), kept for the main
 * thread to write on the request's log event. */
struct xi_captured_event {
	char line[XI_EVENT_LINE_MAX];
	char severity[16];
};

struct xi_authdb_options {
	bool blocking;
	bool inline_main;       /* threads=0 */
	unsigned threads;       /* 0 = default */
	unsigned queue_limit;   /* 0 = default */
};

struct xi_authdb {
	int refcount;
	char *path;
	struct xi_config *cfg;
	struct xi_resolver *resolver;
	/* directory_mirror = yes: the same resolver answering from the
	 * mirror's memory only, run on the main thread (no hand-off, no
	 * wake-up); a logon it cannot answer goes to a thread.  NULL without
	 * a mirror. */
	struct xi_resolver *memory_resolver;

	unsigned threads, queue_limit;
	bool inline_main;
	/* Started on the first non-blocking request (the ioloop runs then);
	 * closed for good at the first module deinit. */
	struct xi_jobs *jobs;
	bool jobs_closed;
};

/* The shared object for args (path and options, parsed into opts_r);
 * created on first use.  Exits Dovecot with the file, line and reason when
 * the file or an option is invalid: a passdb that cannot work must not
 * start. */
struct xi_authdb *xi_authdb_get(const char *args, struct xi_authdb_options *opts_r);
void xi_authdb_unref(struct xi_authdb **db);

/* The directory for userdb lookups: the resolver's own (its mirror and
 * LDAP pool, shared with the passdb), never NULL; err stays clear. */
struct xi_directory *xi_authdb_directory(struct xi_authdb *db, struct xi_error *err);

/* Where a module's request runs. */
enum xi_authdb_run {
	XI_RUN_HERE,      /* call the resolver now (auth-worker, blocking=yes) */
	XI_RUN_THREAD,    /* submit a job to xi_authdb_jobs() */
	XI_RUN_REFUSE     /* shutting down: answer temporary failure */
};
enum xi_authdb_run xi_authdb_where(struct xi_authdb *db, bool module_blocking);
/* Whether a request may first try db->memory_resolver on the main thread:
 * a mirror, and a request the module would hand to a thread. */
bool xi_authdb_try_memory(const struct xi_authdb *db, bool module_blocking);
/* The pool, started when needed; NULL when it could not be (logged), and
 * then requests run here. */
struct xi_jobs *xi_authdb_jobs(struct xi_authdb *db);
/* Stops the pool: running jobs finish and are answered, queued ones are
 * answered as failed.  Called by each module's deinit (Dovecot expects a
 * passdb's pending requests answered when it is deinitialised). */
void xi_authdb_close_jobs(struct xi_authdb *db);

/* Resolver events emitted by this thread go to capture until the next call
 * (NULL: to Dovecot's global log, main thread only). */
void xi_authdb_capture(struct xi_captured_event *capture);
/* A bounded copy for the resolver threads, which call no Dovecot function
 * (not even the pure string ones: the rule is simpler to check). */
static inline void xi_copy_text(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Writes a captured event (if any) on a request's log event. */
struct event;
void xi_authdb_log_captured(struct event *event, const struct xi_captured_event *capture);

extern struct passdb_module_interface passdb_xident;
extern struct userdb_module_interface userdb_xident;

#endif
