/*
 * userdb xident: the mailbox's home, mail location, uid, gid and quota.
 *
 *   userdb {
 *     driver = prefetch        # the passdb already returned them at logon
 *   }
 *   userdb {
 *     driver = xident          # LMTP deliveries, doveadm, no prefetch
 *     args = /etc/xident/xident.conf
 *   }
 *
 * The user is the canonical user the passdb renamed the logon to: the
 * mailbox alias (canonical_user_format = %a, the default) or its mail
 * address (%m).  It is looked up as exactly that, through the directory
 * interface, not as a logon name: a logon name "reception" would open the
 * account reception's mailbox, while the mailbox named reception may be
 * another.  A userdb lookup is not a logon: no event, no password.
 * While the passdb's mirror is in sync the lookup is answered from its
 * memory on the main thread; otherwise on a resolver thread.
 */
#include "lib.h"
#include "auth-common.h"
#include "auth-request.h"
#include "userdb.h"

#include "directory.h"
#include "event-log.h"
#include "authdb-jobs.h"
#include "authdb-xident.h"

struct xident_userdb_module {
	struct userdb_module module;
	struct xi_authdb *db;
};

/* One lookup handed to a resolver thread: the name copied in, the
 * mailbox's fields copied out. */
struct userdb_job {
	struct xi_job job;
	struct xi_authdb *db;
	struct xi_directory *dir;
	struct auth_request *request;
	userdb_callback_t *callback;

	char *user;
	bool by_mail;

	int ret;
	char error[256];
	char searched[256];   /* where the answer came from (mirror or LDAP), for auth_debug */
	unsigned found_count;
	char home[XI_FIELD_MAX];
	char mail[XI_FIELD_MAX];
	char uid[32];
	char gid[32];
	char quota[64];
};

static void set_fields(struct auth_request *request, const struct userdb_job *job)
{
	if (job->home[0] != '\0')
		auth_request_set_userdb_field(request, "home", job->home);
	if (job->mail[0] != '\0')
		auth_request_set_userdb_field(request, "mail", job->mail);
	if (job->uid[0] != '\0')
		auth_request_set_userdb_field(request, "uid", job->uid);
	if (job->gid[0] != '\0')
		auth_request_set_userdb_field(request, "gid", job->gid);
	if (job->quota[0] != '\0') {
		/* A bare size ("2G") is a storage limit; a full rule passes as is. */
		auth_request_set_userdb_field(request, "quota_rule",
			strchr(job->quota, ':') != NULL ? job->quota :
			t_strconcat("*:storage=", job->quota, NULL));
	}
}

/* Resolver thread (or the caller: blocking, or the main thread with the
 * mirror's memory view): core calls only. */
static void lookup_run(struct xi_job *_job)
{
	struct userdb_job *job = (struct userdb_job *)_job;
	struct xi_dir_query q;
	struct xi_dir_result res;
	struct xi_error err;
	const struct xi_dir_entry *found = NULL;

	memset(&q, 0, sizeof(q));
	if (job->by_mail)
		q.mail = job->user;
	else
		q.alias = job->user;
	xi_dir_result_init(&res);
	job->ret = xi_dir_find(job->dir, &q, &res, NULL, &err);
	xi_copy_text(job->searched, sizeof(job->searched), res.searched);
	if (job->ret < 0) {
		xi_copy_text(job->error, sizeof(job->error), err.message);
		xi_dir_result_free(&res);
		return;
	}
	for (size_t i = 0; i < res.count; i++) {
		if ((res.entries[i].kinds & XI_DIR_MAILBOX) != 0 &&
		    (res.entries[i].matched & (XI_MATCH_ALIAS | XI_MATCH_MAIL)) != 0) {
			found = &res.entries[i];
			job->found_count++;
		}
	}
	if (job->found_count == 1) {
		xi_copy_text(job->home, sizeof(job->home), found->mail_home);
		xi_copy_text(job->mail, sizeof(job->mail), found->mail_location);
		xi_copy_text(job->uid, sizeof(job->uid), found->mail_uid);
		xi_copy_text(job->gid, sizeof(job->gid), found->mail_gid);
		xi_copy_text(job->quota, sizeof(job->quota), found->mail_quota);
	}
	xi_dir_result_free(&res);
}

/* Main thread: the fields as Dovecot's answer. */
static void lookup_answer(struct userdb_job *job)
{
	struct auth_request *request = job->request;

	if (job->ret < 0) {
		e_error(authdb_event(request), "xident: looking up mailbox %s: %s",
			job->user, job->error);
		job->callback(USERDB_RESULT_INTERNAL_FAILURE, request);
	} else if (job->found_count == 1) {
		e_debug(authdb_event(request), "xident: mailbox %s found (%s)", job->user, job->searched);
		set_fields(request, job);
		job->callback(USERDB_RESULT_OK, request);
	} else {
		e_debug(authdb_event(request), "xident: %s mailbox named %s (%s)",
			job->found_count == 0 ? "no" : "more than one", job->user, job->searched);
		job->callback(USERDB_RESULT_USER_UNKNOWN, request);
	}
}

static void userdb_job_free(struct userdb_job *job)
{
	i_free(job->user);
	i_free(job);
}

static void userdb_job_done(struct xi_job *_job, bool ran)
{
	struct userdb_job *job = (struct userdb_job *)_job;
	struct auth_request *request = job->request;

	if (ran) {
		lookup_answer(job);
	} else {
		e_error(authdb_event(request), "xident: auth process stopping: "
			"mailbox %s not looked up (temporary failure)", job->user);
		job->callback(USERDB_RESULT_INTERNAL_FAILURE, request);
	}
	userdb_job_free(job);
	auth_request_unref(&request);
}

/* The mailbox looked up in the mirror's memory here on the main thread,
 * as the passdb answers logons: true when answered.  Whatever the memory
 * cannot answer now (the mirror not in sync, the sync thread changing an
 * entry) leaves the job as it was, for a resolver thread. */
static bool userdb_job_try_memory(struct userdb_job *job)
{
	struct xi_directory *shared = job->dir;

	job->dir = xi_resolver_directory(job->db->memory_resolver);
	lookup_run(&job->job);
	job->dir = shared;
	if (job->ret < 0) {
		e_debug(authdb_event(job->request), "xident: mailbox %s not looked up in the "
			"mirror's memory (%s): to a resolver thread", job->user, job->error);
		job->ret = 0;
		job->error[0] = '\0';
		job->searched[0] = '\0';
		return FALSE;
	}
	e_debug(authdb_event(job->request), "xident: mailbox %s looked up in the mirror's "
		"memory in the auth process's main thread", job->user);
	lookup_answer(job);
	return TRUE;
}

/* The passdb xident of this same request already returned the mailbox's
 * userdb fields (with the logon): they are the answer, as userdb prefetch
 * would give it, and no directory work is needed. */
static bool prefetched_by_xident(const struct auth_request *request)
{
	return request->userdb_prefetch_set && request->passdb != NULL &&
		strcmp(request->passdb->passdb->iface.name, "xident") == 0;
}

static void userdb_xident_lookup(struct auth_request *request, userdb_callback_t *callback)
{
	struct xident_userdb_module *module =
		(struct xident_userdb_module *)request->userdb->userdb;
	struct xi_authdb *db = module->db;
	const char *format = xi_config_str(db->cfg, XI_CFG_CANONICAL_USER_FORMAT);
	struct userdb_job *job;
	struct xi_directory *dir;
	struct xi_error err;

	if (prefetched_by_xident(request)) {
		e_debug(authdb_event(request), "xident: mailbox fields came with the logon");
		callback(USERDB_RESULT_OK, request);
		return;
	}
	xi_error_clear(&err);
	if ((dir = xi_authdb_directory(db, &err)) == NULL) {
		e_error(authdb_event(request), "xident: directory: %s", err.message);
		callback(USERDB_RESULT_INTERNAL_FAILURE, request);
		return;
	}
	e_debug(authdb_event(request), "xident: looking up mailbox %s in the directory",
		request->fields.user);
	job = i_new(struct userdb_job, 1);
	job->job.run = lookup_run;
	job->job.done = userdb_job_done;
	job->db = db;
	job->dir = dir;
	job->request = request;
	job->callback = callback;
	job->user = i_strdup(request->fields.user);
	job->by_mail = format != NULL && strcmp(format, "%m") == 0;

	if (xi_authdb_try_memory(db, module->module.blocking) && userdb_job_try_memory(job)) {
		userdb_job_free(job);
		return;
	}
	switch (xi_authdb_where(db, module->module.blocking)) {
	case XI_RUN_THREAD:
		auth_request_ref(request);
		if (xi_jobs_submit(xi_authdb_jobs(db), &job->job))
			return;
		e_error(authdb_event(request), "xident: %u lookups already wait for a "
			"resolver thread (queue limit; raise threads= or queue= in the "
			"userdb args, or check the directory's speed): temporary failure",
			db->queue_limit);
		callback(USERDB_RESULT_INTERNAL_FAILURE, request);
		auth_request_unref(&request);
		break;
	case XI_RUN_HERE:
		lookup_run(&job->job);
		lookup_answer(job);
		break;
	case XI_RUN_REFUSE:
		e_error(authdb_event(request), "xident: auth process stopping: "
			"mailbox %s not looked up (temporary failure)", job->user);
		callback(USERDB_RESULT_INTERNAL_FAILURE, request);
		break;
	}
	userdb_job_free(job);
}

static struct userdb_module *userdb_xident_preinit(pool_t pool, const char *args)
{
	struct xident_userdb_module *module;
	struct xi_authdb_options opts;

	module = p_new(pool, struct xident_userdb_module, 1);
	module->db = xi_authdb_get(args, &opts);
	/* Not blocking: resolver threads in this process serve it (see
	 * authdb-xident.h); blocking=yes sends it to auth-workers. */
	module->module.blocking = opts.blocking;
	return &module->module;
}

static void userdb_xident_deinit(struct userdb_module *_module)
{
	struct xident_userdb_module *module = (struct xident_userdb_module *)_module;

	xi_authdb_unref(&module->db);
}

struct userdb_module_interface userdb_xident = {
	.name = "xident",
	.preinit = userdb_xident_preinit,
	.deinit = userdb_xident_deinit,
	.lookup = userdb_xident_lookup,
};
