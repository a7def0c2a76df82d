/*
 * libauthdb_xident: module registration and the per-process shared state of
 * the passdb and userdb `xident`.
 */
#include "lib.h"
#include "str.h"
#include "auth-common.h"
#include "passdb.h"
#include "userdb.h"
#include "module-dir.h"

#include "directory.h"
#include "event-log.h"
#include "ntlm-scheme.h"
#include "authdb-jobs.h"
#include "authdb-xident.h"

#define DEFAULT_QUEUE_LIMIT 1024
#define MAX_THREADS 256
#define MAX_QUEUE_LIMIT 1000000

/* One per process: Dovecot may list the passdb and the userdb with the same
 * args, and they then share one resolver (one LDAP pool). */
static struct xi_authdb *authdb_shared;
static bool authdb_registered_scheme;

/* Where the calling thread's resolver events go: each pool thread (and the
 * main thread around a direct call) points it at the job's buffer. */
static __thread struct xi_captured_event *thread_capture;

const char *authdb_xident_version = DOVECOT_ABI_VERSION;
void authdb_xident_init(struct module *module);
void authdb_xident_deinit(void);

static void authdb_sink(void *ctx ATTR_UNUSED, const struct xi_event *ev, const char *line)
{
	struct xi_captured_event *capture = thread_capture;

	if (capture == NULL) {
		xi_dovecot_event_sink(NULL, ev, line);
		return;
	}
	xi_copy_text(capture->line, sizeof(capture->line), line);
	xi_copy_text(capture->severity, sizeof(capture->severity),
		     ev->severity != NULL ? ev->severity : "");
}

void xi_authdb_capture(struct xi_captured_event *capture)
{
	if (capture != NULL) {
		capture->line[0] = '\0';
		capture->severity[0] = '\0';
	}
	thread_capture = capture;
}

void xi_authdb_log_captured(struct event *event, const struct xi_captured_event *capture)
{
	if (capture->line[0] == '\0')
		return;
	struct xi_event ev = { .severity = capture->severity };
	xi_dovecot_event_sink(event, &ev, capture->line);
}

static unsigned parse_count(const char *args, const char *value, unsigned max)
{
	unsigned n;

	if (str_to_uint(value, &n) < 0 || n < 1 || n > max)
		i_fatal("xident: args '%s': '%s' must be a number from 1 to %u", args, value, max);
	return n;
}

static void parse_options(const char *args, struct xi_authdb_options *opts)
{
	const char *const *tok = t_strsplit_spaces(args, " ");

	i_zero(opts);
	/* tok[0] is the path */
	for (tok++; *tok != NULL; tok++) {
		if (strcmp(*tok, "threads=0") == 0)
			opts->inline_main = TRUE;
		else if (str_begins(*tok, "threads="))
			opts->threads = parse_count(args, *tok + 8, MAX_THREADS);
		else if (str_begins(*tok, "queue="))
			opts->queue_limit = parse_count(args, *tok + 6, MAX_QUEUE_LIMIT);
		else if (strcmp(*tok, "blocking=yes") == 0 || strcmp(*tok, "blocking") == 0)
			opts->blocking = TRUE;
		else if (strcmp(*tok, "blocking=no") == 0)
			opts->blocking = FALSE;
		else
			i_fatal("xident: args '%s': unknown option '%s' "
				"(threads=N, threads=0, queue=N, blocking=yes|no)", args, *tok);
	}
}

static void apply_options(struct xi_authdb *db, const struct xi_authdb_options *opts)
{
	/* Modules sharing one configuration share one pool: the largest
	 * size asked for serves them all. */
	if (opts->threads > db->threads)
		db->threads = opts->threads;
	if (opts->inline_main)
		db->inline_main = TRUE;
	if (opts->queue_limit > db->queue_limit)
		db->queue_limit = opts->queue_limit;
}

struct xi_authdb *xi_authdb_get(const char *args, struct xi_authdb_options *opts_r)
{
	struct xi_config_report report = { 0, NULL };
	struct xi_authdb *db;
	struct xi_error err;
	const char *path = t_strcut(args, ' ');

	if (*path == '\0')
		i_fatal("xident: args must be the path of xident.conf");
	parse_options(args, opts_r);
	if (authdb_shared != NULL) {
		if (strcmp(authdb_shared->path, path) != 0)
			i_fatal("xident: every passdb and userdb xident must use the same "
				"configuration file (%s and %s)", authdb_shared->path, path);
		authdb_shared->refcount++;
		apply_options(authdb_shared, opts_r);
		return authdb_shared;
	}
	db = i_new(struct xi_authdb, 1);
	db->refcount = 1;
	db->path = i_strdup(path);
	if (xi_config_load(path, &db->cfg, &report) < 0) {
		char line[700];
		for (size_t i = 0; i < report.count; i++) {
			xi_config_problem_format(&report.problems[i], line, sizeof(line));
			i_error("xident: %s", line);
		}
		xi_config_report_free(&report);
		i_fatal("xident: %s is invalid (errors above)", path);
	}
	xi_config_report_free(&report);
	/* Measured (doc/benchmarks.md): 19 auth-workers, each refreshing a
	 * mirror of 10,000 users at once, took 9 s to answer some logons. */
	if (!worker && opts_r->blocking && xi_config_bool(db->cfg, XI_CFG_DIRECTORY_MIRROR))
		i_warning("xident: %s: directory_mirror = yes with blocking=yes: every auth-worker "
			  "process keeps a mirror of its own (a full refresh and a copy of the "
			  "directory each); drop blocking=yes to share one mirror in the auth process",
			  path);
	if (xi_resolver_create(db->cfg, authdb_sink, db, &db->resolver, &err) < 0)
		i_fatal("xident: %s: %s", path, err.message);
	if (xi_resolver_memory_only(db->resolver, &db->memory_resolver, &err) < 0 &&
	    err.status != XI_ERR_UNSUPPORTED)
		i_warning("xident: %s: every logon goes to a resolver thread: %s", path, err.message);
	apply_options(db, opts_r);
	authdb_shared = db;
	return db;
}

void xi_authdb_close_jobs(struct xi_authdb *db)
{
	if (db->jobs_closed)
		return;
	/* Before destroy answers the jobs: a Dovecot callback that goes on
	 * to the next passdb or userdb xident finds the pool closed. */
	db->jobs_closed = TRUE;
	xi_jobs_destroy(&db->jobs);
}

void xi_authdb_unref(struct xi_authdb **_db)
{
	struct xi_authdb *db = *_db;

	*_db = NULL;
	if (db == NULL)
		return;
	xi_authdb_close_jobs(db);
	if (--db->refcount > 0)
		return;
	xi_resolver_destroy(db->memory_resolver);
	xi_resolver_destroy(db->resolver);
	xi_config_free(db->cfg);
	i_free(db->path);
	if (authdb_shared == db)
		authdb_shared = NULL;
	i_free(db);
}

struct xi_directory *xi_authdb_directory(struct xi_authdb *db, struct xi_error *err ATTR_UNUSED)
{
	/* The passdb's resolver's: a userdb of its own would hold a second
	 * LDAP pool, and never use the mirror. */
	return xi_resolver_directory(db->resolver);
}

enum xi_authdb_run xi_authdb_where(struct xi_authdb *db, bool module_blocking)
{
	/* An auth-worker serves one request at a time and was sent it
	 * because the module is blocking: call the resolver directly. */
	if (worker || module_blocking || db->inline_main)
		return XI_RUN_HERE;
	if (db->jobs_closed)
		return XI_RUN_REFUSE;
	return xi_authdb_jobs(db) != NULL ? XI_RUN_THREAD : XI_RUN_HERE;
}

bool xi_authdb_try_memory(const struct xi_authdb *db, bool module_blocking)
{
	/* Before xi_authdb_where: while the mirror answers every logon, the
	 * pool's threads are never started. */
	return db->memory_resolver != NULL && !worker && !module_blocking && !db->inline_main &&
		!db->jobs_closed;
}

struct xi_jobs *xi_authdb_jobs(struct xi_authdb *db)
{
	const char *error;
	unsigned threads, queue_limit;

	if (db->jobs != NULL || db->jobs_closed)
		return db->jobs;
	threads = db->threads != 0 ? db->threads : xi_resolver_default_threads(db->cfg);
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	queue_limit = db->queue_limit != 0 ? db->queue_limit : DEFAULT_QUEUE_LIMIT;
	if (xi_jobs_create(threads, queue_limit, &db->jobs, &error) < 0) {
		i_error("xident: cannot start resolver threads (%s): "
			"logons are resolved in the auth process's main thread", error);
		db->jobs = NULL;
		return NULL;
	}
	db->threads = threads;
	db->queue_limit = queue_limit;
	e_debug(auth_event, "xident: %u resolver threads, at most %u queued logons",
		xi_jobs_thread_count(db->jobs), queue_limit);
	return db->jobs;
}

void authdb_xident_init(struct module *module ATTR_UNUSED)
{
	authdb_registered_scheme = xi_ntlm_scheme_register();
	passdb_register_module(&passdb_xident);
	userdb_register_module(&userdb_xident);
}

void authdb_xident_deinit(void)
{
	passdb_unregister_module(&passdb_xident);
	userdb_unregister_module(&userdb_xident);
	if (authdb_registered_scheme)
		xi_ntlm_scheme_unregister();
	authdb_registered_scheme = FALSE;
}
