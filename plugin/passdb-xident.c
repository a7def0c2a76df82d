/*
 * passdb xident: Exchange-style logons resolved against the directory.
 *
 *   passdb {
 *     driver = xident
 *     args = /etc/xident/xident.conf
 *   }
 *
 * Not blocking: resolver threads inside the auth process run the LDAP work
 * and the answer comes back through the ioloop (authdb-jobs.h); with
 * `args = ... blocking=yes` Dovecot runs it in auth-worker processes.
 * With directory_mirror = yes the main thread first tries the logon from
 * the mirror's memory (xi_resolver_memory_only: hash mode and NTLM with
 * directory_mirror_secrets), and in bind mode sends the bind itself without
 * waiting, its answer read from the ioloop; whatever it cannot answer so
 * (mirror out of sync, slow hash, no bind connection of its own) goes to a
 * thread as before.
 *
 * verify_plain        clear-text logons: the whole resolution (core
 *                     xi_logon_plain), then the outcome as Dovecot's result
 *                     and extra fields.
 * lookup_credentials  the NTLM mechanism's path: resolution phase 1 gives
 *                     the account's NT hash (a dummy one for unknown names);
 *                     the mechanism proves the response.  What a proven
 *                     logon leads to travels in private fields that the
 *                     mechanism applies only after the proof
 *                     (xident-fields.h).
 *
 * Outcome -> Dovecot (clear text):
 *   ok                  OK, user=<canonical>, userdb_home/mail/uid/gid/quota_rule
 *   bad credentials,
 *   invalid name        PASSWORD_MISMATCH, reason=<text>
 *   account disabled    USER_DISABLED, reason=<text>
 *   no mailbox, denied,
 *   ambiguous, protocol
 *   or method disabled,
 *   NTLM disabled       OK, nologin, reason=<text>    (password was proven)
 *   other server        home_server_action = proxy: OK, proxy, host, port,
 *                       destuser=<name as typed>, user=<canonical>;
 *                       referral: OK, nologin, host, port, reason=<text>
 *                       (IMAP sends [REFERRAL imap://...])
 *   temporary failure   INTERNAL_FAILURE (client: [UNAVAILABLE] / [SYS/TEMP])
 */
#include "lib.h"
#include "ioloop.h"
#include "llist.h"
#include "str.h"
#include "auth-common.h"
#include "auth-fields.h"
#include "auth-request.h"
#include "passdb.h"

#include <openssl/crypto.h>

#include "event-log.h"
#include "authdb-jobs.h"
#include "authdb-xident.h"
#include "xident-fields.h"

struct xident_passdb_module {
	struct passdb_module module;
	struct xi_authdb *db;
};

static struct xi_authdb *request_db(struct auth_request *request)
{
	return ((struct xident_passdb_module *)request->passdb->passdb)->db;
}

static bool is_imap(struct auth_request *request)
{
	return xi_dovecot_protocol(request->fields.service) == XI_PROTO_IMAP;
}

/* Sets name=value, or prefixed with XI_FIELD_PROVEN_PREFIX when deferred. */
static void set_field(struct auth_request *request, bool deferred,
		      const char *name, const char *value)
{
	auth_request_set_field(request, deferred ?
			       t_strconcat(XI_FIELD_PROVEN_PREFIX, name, NULL) : name,
			       value, NULL);
}

static void set_userdb_fields(struct auth_request *request, const struct xi_logon_result *r)
{
	if (r->home[0] != '\0')
		auth_request_set_field(request, "userdb_home", r->home, NULL);
	if (r->mail[0] != '\0')
		auth_request_set_field(request, "userdb_mail", r->mail, NULL);
	if (r->uid[0] != '\0')
		auth_request_set_field(request, "userdb_uid", r->uid, NULL);
	if (r->gid[0] != '\0')
		auth_request_set_field(request, "userdb_gid", r->gid, NULL);
	if (r->quota[0] != '\0') {
		/* A bare size ("2G") is a storage limit; a full rule passes as is. */
		auth_request_set_field(request, "userdb_quota_rule",
				       strchr(r->quota, ':') != NULL ? r->quota :
				       t_strconcat("*:storage=", r->quota, NULL), NULL);
	}
}

static const char *reason_text(const struct xi_logon_result *r)
{
	if (r->client_text[0] != '\0')
		return r->client_text;
	const struct xi_outcome_info *info = xi_outcome_info(r->outcome);
	return info != NULL && info->client_text != NULL ? info->client_text : "";
}

/* The outcome of a logon whose password is proven (or, deferred, would be
 * once the NTLM mechanism has proven it) as extra fields; returns the
 * Dovecot result. */
static enum passdb_result
apply_outcome(struct auth_request *request, const struct xi_logon_result *r, bool deferred)
{
	switch (r->outcome) {
	case XI_OUTCOME_OK:
		if (r->canonical_user[0] != '\0')
			set_field(request, deferred, "user", r->canonical_user);
		set_userdb_fields(request, r);
		return PASSDB_RESULT_OK;
	case XI_OUTCOME_BAD_CREDENTIALS:
	case XI_OUTCOME_INVALID_NAME:
	case XI_OUTCOME_NTLM_FAILED:
		auth_request_set_field(request, "reason", reason_text(r), NULL);
		return PASSDB_RESULT_PASSWORD_MISMATCH;
	case XI_OUTCOME_ACCOUNT_DISABLED:
		if (!deferred) {
			auth_request_set_field(request, "reason", reason_text(r), NULL);
			return PASSDB_RESULT_USER_DISABLED;
		}
		/* NTLM: a failed credentials lookup carries no fields to the
		 * auth process, so a proven refusal is OK + nologin there. */
		set_field(request, TRUE, "nologin", "y");
		set_field(request, TRUE, "reason", reason_text(r));
		return PASSDB_RESULT_OK;
	case XI_OUTCOME_OTHER_SERVER:
		/* The resolver decided: proxy (never for NTLM) or referral. */
		if (r->home_action == XI_HOME_PROXY && r->home_server[0] != '\0') {
			/* The home server resolves the name again: it gets the
			 * name as typed and the same password. */
			if (r->canonical_user[0] != '\0')
				auth_request_set_field(request, "user", r->canonical_user, NULL);
			auth_request_set_field(request, "proxy", "y", NULL);
			auth_request_set_field(request, "host", r->home_server, NULL);
			auth_request_set_field(request, "port", dec2str(r->home_port), NULL);
			auth_request_set_field(request, "destuser",
					       request->fields.original_username, NULL);
			return PASSDB_RESULT_OK;
		}
		set_field(request, deferred, "nologin", "y");
		if (r->home_server[0] != '\0' && is_imap(request)) {
			/* nologin + host: imap-login answers with a
			 * [REFERRAL imap://...] (RFC 2221). */
			set_field(request, deferred, "host", r->home_server);
			set_field(request, deferred, "port", dec2str(r->home_port));
		}
		set_field(request, deferred, "reason", reason_text(r));
		return PASSDB_RESULT_OK;
	case XI_OUTCOME_NO_MAILBOX:
	case XI_OUTCOME_ACCESS_DENIED:
	case XI_OUTCOME_AMBIGUOUS:
	case XI_OUTCOME_PROTOCOL_DISABLED:
	case XI_OUTCOME_METHOD_DISABLED:
	case XI_OUTCOME_NTLM_DISABLED:
	case XI_OUTCOME_PLAINTEXT_DISABLED: /* decided by xidentd, never by the resolver */
	case XI_OUTCOME_SESSION_LIMIT:      /* Dovecot has its own limit */
	case XI_OUTCOME_NTLM_TIMEOUT:       /* xidentd's NTLM table; Dovecot times out its own */
		set_field(request, deferred, "nologin", "y");
		set_field(request, deferred, "reason", reason_text(r));
		return PASSDB_RESULT_OK;
	case XI_OUTCOME_TEMPFAIL:
	case XI_OUTCOME__COUNT:
		break;
	}
	return PASSDB_RESULT_INTERNAL_FAILURE;
}

/* One logon handed to a resolver thread: inputs copied from the request
 * (the thread never touches it), outputs for the main thread. */
struct passdb_job {
	struct xi_job job;
	struct xi_authdb *db;
	/* db->resolver, or db->memory_resolver for the attempt on the main
	 * thread */
	struct xi_resolver *resolver;
	struct auth_request *request;
	verify_plain_callback_t *plain_callback;
	lookup_credentials_callback_t *credentials_callback;

	char *name, *ntlm_domain, *remote, *password;
	enum xi_protocol protocol;
	enum xi_auth_method method;

	int resolve_ret;
	char error[256];
	bool have_hash;
	uint8_t nt_hash[16];
	struct xi_logon_result result;
	struct xi_captured_event event;

	/* A bind-mode logon resolved from the mirror on the main thread,
	 * waiting for its bind's answer (passdb_job_try_bind). */
	struct xi_resolution *res;
	struct bind_conn *conn;
	struct timeout *to;
	struct passdb_job *prev, *next;
};

/* A bind connection the main thread holds while a bind of its own is on
 * it.  After an answer it stays held, its fd watched, when another logon
 * waits for a connection: that one's bind goes out on it at once, with no
 * epoll_ctl() to stop and start watching (two system calls per logon).
 * It goes back to the pool when no logon waits (io removed first: the
 * pool closes a broken connection). */
struct bind_conn {
	struct xi_bind_wait *wait;
	struct io *io;
	struct passdb_job *job;
};

/* The binds in flight from the main thread, and the logons resolved from
 * memory that wait for one of their connections (every bind connection
 * busy): both answered at deinit. */
static struct passdb_job *pending_binds;
static struct passdb_job *bind_queue, *bind_queue_tail;
static unsigned bind_queue_count;

static struct passdb_job *passdb_job_new(struct auth_request *request, enum xi_auth_method method)
{
	struct passdb_job *job = i_new(struct passdb_job, 1);
	const char *ntlm_domain = NULL, *remote = xi_dovecot_remote(request);

	job->db = request_db(request);
	job->resolver = job->db->resolver;
	job->request = request;
	job->name = i_strdup(request->fields.user);
	if (method == XI_METHOD_NTLM) {
		/* The realm does not travel to auth-workers; the mechanism's
		 * private field does. */
		ntlm_domain = auth_fields_find(request->fields.extra_fields, XI_FIELD_NTLM_DOMAIN);
		if (ntlm_domain == NULL)
			ntlm_domain = request->fields.realm;
	}
	job->ntlm_domain = i_strdup(ntlm_domain);
	job->remote = i_strdup(remote);
	job->protocol = xi_dovecot_protocol(request->fields.service);
	job->method = method;
	return job;
}

static void passdb_job_free(struct passdb_job *job)
{
	if (job->password != NULL) {
		OPENSSL_cleanse(job->password, strlen(job->password));
		i_free(job->password);
	}
	OPENSSL_cleanse(job->nt_hash, sizeof(job->nt_hash));
	i_free(job->name);
	i_free(job->ntlm_domain);
	i_free(job->remote);
	i_free(job);
}

static void logon_request(const struct passdb_job *job, struct xi_logon_request *req_r)
{
	memset(req_r, 0, sizeof(*req_r));
	req_r->name = job->name;
	req_r->ntlm_domain = job->ntlm_domain;
	req_r->protocol = job->protocol;
	req_r->method = job->method;
	req_r->remote = job->remote;
}

/* Resolver thread (or the caller, when blocking): core calls only. */
static void plain_run(struct xi_job *_job)
{
	struct passdb_job *job = (struct passdb_job *)_job;
	struct xi_logon_request req;

	logon_request(job, &req);
	xi_authdb_capture(&job->event);
	xi_logon_plain(job->resolver, &req, job->password, &job->result);
	xi_authdb_capture(NULL);
	/* A memory-only attempt may need the password again on a thread. */
	if (job->resolver == job->db->resolver)
		OPENSSL_cleanse(job->password, strlen(job->password));
}

static void credentials_run(struct xi_job *_job)
{
	struct passdb_job *job = (struct passdb_job *)_job;
	struct xi_logon_request req;
	struct xi_resolution *res = NULL;
	struct xi_error err;

	logon_request(job, &req);
	/* Dovecot's mechanism checks the response after this lookup. */
	req.finish_before_proof = true;
	xi_authdb_capture(&job->event);
	job->resolve_ret = xi_resolve(job->resolver, &req, NULL, NULL, &res, &err);
	if (job->resolve_ret < 0) {
		xi_copy_text(job->error, sizeof(job->error), err.message);
	} else {
		job->have_hash = xi_resolution_nt_hash(res, job->nt_hash);
		/* What a proven response leads to.  The event is kept, not
		 * written: the mechanism writes it once the response verified. */
		xi_proof_ntlm(res, job->have_hash);
		xi_finish(job->resolver, res, &job->result);
		xi_resolution_free(res);
	}
	xi_authdb_capture(NULL);
}

/* Main thread: the results as Dovecot's answer. */
static void plain_answer(struct passdb_job *job)
{
	struct auth_request *request = job->request;
	enum passdb_result result;

	xi_authdb_log_captured(authdb_event(request), &job->event);
	result = apply_outcome(request, &job->result, FALSE);
	if (result == PASSDB_RESULT_PASSWORD_MISMATCH)
		auth_request_log_password_mismatch(request, AUTH_SUBSYS_DB);
	job->plain_callback(result, request);
}

static void set_captured_event(struct auth_request *request, const struct xi_captured_event *ev)
{
	if (ev->line[0] != '\0') {
		auth_request_set_field(request, XI_FIELD_EVENT, ev->line, NULL);
		auth_request_set_field(request, XI_FIELD_EVENT_SEVERITY, ev->severity, NULL);
	}
}

static void credentials_answer(struct passdb_job *job)
{
	struct auth_request *request = job->request;
	const struct xi_logon_result *r = &job->result;
	lookup_credentials_callback_t *callback = job->credentials_callback;
	enum passdb_result result;

	if (job->resolve_ret < 0) {
		e_error(authdb_event(request), "xident: %s", job->error);
		callback(PASSDB_RESULT_INTERNAL_FAILURE, NULL, 0, request);
		return;
	}
	switch (r->outcome) {
	case XI_OUTCOME_BAD_CREDENTIALS:
	case XI_OUTCOME_INVALID_NAME:
	case XI_OUTCOME_NTLM_FAILED:
	case XI_OUTCOME_TEMPFAIL:
		/* Refused whatever the response: unknown name, no NT hash,
		 * directory down.  The event is true now. */
		xi_authdb_log_captured(authdb_event(request), &job->event);
		result = r->outcome == XI_OUTCOME_TEMPFAIL ? PASSDB_RESULT_INTERNAL_FAILURE :
			PASSDB_RESULT_PASSWORD_MISMATCH;
		callback(result, NULL, 0, request);
		return;
	case XI_OUTCOME_NTLM_DISABLED:
		/* Decided before any proof and told as such; a failed lookup
		 * carries no text to the auth process, so it travels as a
		 * private field of an answer no response can verify. */
		auth_request_set_field(request, XI_FIELD_REFUSE_REASON, reason_text(r), NULL);
		set_captured_event(request, &job->event);
		memset(job->nt_hash, 0, sizeof(job->nt_hash));
		callback(PASSDB_RESULT_OK, job->nt_hash, sizeof(job->nt_hash), request);
		return;
	default:
		break;
	}
	set_captured_event(request, &job->event);
	result = apply_outcome(request, r, TRUE);
	if (result != PASSDB_RESULT_OK) {
		callback(result, NULL, 0, request);
		return;
	}
	callback(PASSDB_RESULT_OK, job->nt_hash, sizeof(job->nt_hash), request);
}

static void passdb_job_fail(struct passdb_job *job)
{
	if (job->plain_callback != NULL)
		job->plain_callback(PASSDB_RESULT_INTERNAL_FAILURE, job->request);
	else
		job->credentials_callback(PASSDB_RESULT_INTERNAL_FAILURE, NULL, 0, job->request);
}

/* Main thread: Dovecot's answer for whichever lookup the job serves. */
static void passdb_job_answer(struct passdb_job *job)
{
	if (job->plain_callback != NULL)
		plain_answer(job);
	else
		credentials_answer(job);
}

static void passdb_job_done(struct xi_job *_job, bool ran)
{
	struct passdb_job *job = (struct passdb_job *)_job;
	struct auth_request *request = job->request;

	if (!ran) {
		e_error(authdb_event(request), "xident: auth process stopping: "
			"logon not resolved (temporary failure)");
		passdb_job_fail(job);
	} else {
		passdb_job_answer(job);
	}
	passdb_job_free(job);
	auth_request_unref(&request);
}

/* The logon answered from the mirror's memory here on the main thread,
 * when the memory-only resolver can: true when the job is answered.  Any
 * temporary failure (the mirror not in sync now, a slow hash, the sync
 * thread changing an entry) leaves the job as it was, for a thread, and
 * the failed attempt leaves no trace (its event is dropped). */
static bool passdb_job_try_memory(struct passdb_job *job)
{
	struct xi_resolver *memory = job->db->memory_resolver;

	if (!xi_resolver_memory_answers(memory, job->method))
		return FALSE;
	job->resolver = memory;
	job->job.run(&job->job);
	job->resolver = job->db->resolver;
	if (job->resolve_ret < 0 || job->result.outcome == XI_OUTCOME_TEMPFAIL) {
		job->resolve_ret = 0;
		job->have_hash = FALSE;
		OPENSSL_cleanse(job->nt_hash, sizeof(job->nt_hash));
		i_zero(&job->result);
		i_zero(&job->event);
		e_debug(authdb_event(job->request), "xident: not answered from the mirror's "
			"memory: to a resolver thread");
		return FALSE;
	}
	e_debug(authdb_event(job->request), "xident: answered from the mirror's memory "
		"in the auth process's main thread");
	if (job->password != NULL)
		OPENSSL_cleanse(job->password, strlen(job->password));
	passdb_job_answer(job);
	return TRUE;
}

/* Runs the job where the module says: a resolver thread (answered later
 * from the ioloop), here and now, or nowhere (the process is stopping).
 * One reference on the request goes with the job: the caller's. */
static void passdb_job_dispatch(struct passdb_job *job, bool module_blocking)
{
	struct auth_request *request = job->request;

	switch (xi_authdb_where(job->db, module_blocking)) {
	case XI_RUN_THREAD:
		job->job.done = passdb_job_done;
		if (xi_jobs_submit(xi_authdb_jobs(job->db), &job->job))
			return;
		e_error(authdb_event(request), "xident: %u logons already wait for a "
			"resolver thread (queue limit; raise threads= or queue= in the "
			"passdb args, or check the directory's speed): temporary failure",
			job->db->queue_limit);
		passdb_job_fail(job);
		break;
	case XI_RUN_HERE:
		job->job.run(&job->job);
		passdb_job_answer(job);
		break;
	case XI_RUN_REFUSE:
		e_error(authdb_event(request), "xident: auth process stopping: "
			"logon not resolved (temporary failure)");
		passdb_job_fail(job);
		break;
	}
	passdb_job_free(job);
	auth_request_unref(&request);
}

static void passdb_job_forget_attempt(struct passdb_job *job)
{
	xi_resolution_free(job->res);
	job->res = NULL;
	i_zero(&job->result);
	i_zero(&job->event);
	e_debug(authdb_event(job->request), "xident: bind not answered in the main thread: "
		"to a resolver thread");
}

/* The proof is made: phase 3, then Dovecot's answer.  retry_on_thread:
 * no bind was sent (answered without one), so a temporary failure may go
 * to a thread, which might not have it.  Once a bind was sent, the
 * password is never sent again for this logon, whatever ended it (server
 * gone, busy, timeout): a directory that counts failed attempts
 * (ppolicy) would count the one attempt twice. */
static void passdb_job_bind_finish(struct passdb_job *job, bool retry_on_thread)
{
	struct auth_request *request = job->request;

	xi_authdb_capture(&job->event);
	xi_finish(job->db->memory_resolver, job->res, &job->result);
	xi_authdb_capture(NULL);
	if (retry_on_thread && job->result.outcome == XI_OUTCOME_TEMPFAIL) {
		passdb_job_forget_attempt(job);
		passdb_job_dispatch(job, FALSE);
		return;
	}
	xi_resolution_free(job->res);
	job->res = NULL;
	e_debug(authdb_event(request), "xident: answered from the mirror's memory and a bind "
		"sent from the auth process's main thread");
	plain_answer(job);
	passdb_job_free(job);
	auth_request_unref(&request);
}

static void bind_conn_input(struct bind_conn *bc);
static void passdb_job_bind_timeout(struct passdb_job *job);

/* job's bind is on bc: wait for its answer. */
static void bind_conn_attach(struct bind_conn *bc, struct passdb_job *job)
{
	bc->job = job;
	job->conn = bc;
	DLLIST_PREPEND(&pending_binds, job);
	job->to = timeout_add(1000 * (unsigned)xi_config_int(job->db->cfg, XI_CFG_LDAP_TIMEOUT),
			      passdb_job_bind_timeout, job);
}

static void bind_conn_detach(struct passdb_job *job)
{
	job->conn->job = NULL;
	job->conn = NULL;
	timeout_remove(&job->to);
	DLLIST_REMOVE(&pending_binds, job);
}

/* Back to the pool: off the ioloop first, the pool may close it. */
static void bind_conn_release(struct xi_resolver *memory, struct bind_conn *bc)
{
	io_remove(&bc->io);
	xi_verify_password_release(memory, bc->wait);
	i_free(bc);
}

/* Gives a bind up (ldap_timeout, deinit): its connection is closed. */
static void bind_conn_cancel(struct passdb_job *job, const char *why)
{
	struct bind_conn *bc = job->conn;

	bind_conn_detach(job);
	io_remove(&bc->io);
	xi_verify_password_cancel(job->db->memory_resolver, job->res, bc->wait, why);
	i_free(bc);
}

/* Starts the bind of a resolved job on an idle pool connection: false
 * when none is idle or the bind was not sent (the job is untouched). */
static bool passdb_job_bind_send(struct passdb_job *job)
{
	struct xi_bind_wait *wait;
	struct bind_conn *bc;
	int fd, rc;

	xi_authdb_capture(&job->event);
	rc = xi_verify_password_start(job->db->memory_resolver, job->res, job->password,
				      &wait, &fd);
	xi_authdb_capture(NULL);
	if (rc < 0)
		return FALSE;
	if (rc == 0) {
		passdb_job_bind_finish(job, TRUE);
		return TRUE;
	}
	bc = i_new(struct bind_conn, 1);
	bc->wait = wait;
	bc->io = io_add(fd, IO_READ, bind_conn_input, bc);
	bind_conn_attach(bc, job);
	return TRUE;
}

static struct passdb_job *bind_queue_pop(void);

static void bind_queue_push_front(struct passdb_job *job)
{
	job->next = bind_queue;
	bind_queue = job;
	if (bind_queue_tail == NULL)
		bind_queue_tail = job;
	bind_queue_count++;
}

static bool passdb_job_bind_send_queued(struct passdb_job *job)
{
	(void)bind_queue_pop(); /* job is the head */
	if (passdb_job_bind_send(job))
		return TRUE;
	/* still none idle: back at the head */
	bind_queue_push_front(job);
	return FALSE;
}

static struct passdb_job *bind_queue_pop(void)
{
	struct passdb_job *job = bind_queue;

	if (job != NULL) {
		bind_queue = job->next;
		if (bind_queue == NULL)
			bind_queue_tail = NULL;
		job->next = NULL;
		bind_queue_count--;
	}
	return job;
}

/* A bind connection may have come free: the waiting logons take it in
 * order.  With no bind of ours in flight nothing would wake them (threads
 * hold every connection): they go to threads then. */
static void bind_queue_kick(void)
{
	struct passdb_job *job;

	while (bind_queue != NULL) {
		job = bind_queue;
		if (!passdb_job_bind_send_queued(job))
			break;
	}
	if (pending_binds != NULL)
		return;
	while ((job = bind_queue_pop()) != NULL) {
		passdb_job_forget_attempt(job);
		passdb_job_dispatch(job, FALSE);
	}
}

/* bc has answered: the next waiting logon's bind goes out on it, else it
 * goes back to the pool. */
static void bind_conn_reuse(struct xi_resolver *memory, struct bind_conn *bc)
{
	struct passdb_job *job;
	int rc;

	while ((job = bind_queue_pop()) != NULL) {
		xi_authdb_capture(&job->event);
		rc = xi_verify_password_again(memory, job->res, job->password, bc->wait);
		xi_authdb_capture(NULL);
		if (rc > 0) {
			bind_conn_attach(bc, job);
			return;
		}
		if (rc < 0) {
			/* not sent (the server closed it): another
			 * connection, or a thread, serves this one */
			bind_queue_push_front(job);
			break;
		}
		passdb_job_bind_finish(job, TRUE);
	}
	bind_conn_release(memory, bc);
}

static void bind_conn_input(struct bind_conn *bc)
{
	struct passdb_job *job = bc->job;
	struct xi_resolver *memory = job->db->memory_resolver;
	int rc;

	xi_authdb_capture(&job->event);
	rc = xi_verify_password_continue(memory, job->res, bc->wait);
	xi_authdb_capture(NULL);
	if (rc == 0)
		return; /* part of the answer only */
	bind_conn_detach(job);
	passdb_job_bind_finish(job, FALSE);
	bind_conn_reuse(memory, bc);
	bind_queue_kick();
}

static void passdb_job_bind_timeout(struct passdb_job *job)
{
	bind_conn_cancel(job, "no answer within ldap_timeout");
	passdb_job_bind_finish(job, FALSE);
	bind_queue_kick();
}

enum bind_attempt { BIND_NOT_HERE, BIND_ANSWERED, BIND_PENDING };

/* Bind mode with the mirror: the lookups from memory and the bind sent
 * without waiting, here on the main thread; its answer comes back through
 * the ioloop.  BIND_NOT_HERE leaves the job as it was, for a thread. */
static enum bind_attempt passdb_job_try_bind(struct passdb_job *job)
{
	struct xi_resolver *memory = job->db->memory_resolver;
	struct xi_logon_request req;
	struct xi_error err;

	if (job->plain_callback == NULL || memory == NULL || !xi_resolver_binds(memory))
		return BIND_NOT_HERE;
	logon_request(job, &req);
	xi_authdb_capture(&job->event);
	if (xi_resolve(memory, &req, NULL, NULL, &job->res, &err) < 0) {
		xi_authdb_capture(NULL);
		return BIND_NOT_HERE;
	}
	xi_authdb_capture(NULL);
	auth_request_ref(job->request);
	/* Behind the logons already waiting, in order. */
	if (bind_queue == NULL && passdb_job_bind_send(job))
		return BIND_PENDING;
	if (pending_binds != NULL && bind_queue_count < job->db->queue_limit) {
		job->next = NULL;
		if (bind_queue_tail != NULL)
			bind_queue_tail->next = job;
		else
			bind_queue = job;
		bind_queue_tail = job;
		bind_queue_count++;
		return BIND_PENDING;
	}
	passdb_job_forget_attempt(job);
	struct auth_request *request = job->request;
	auth_request_unref(&request); /* job->request stays: the caller's */
	return BIND_NOT_HERE;
}

/* Runs the job where the module says: from memory here, a resolver thread
 * (answered later from the ioloop), or here and now. */
static void passdb_job_start(struct passdb_job *job, bool module_blocking)
{
	struct auth_request *request = job->request;

	if (xi_authdb_try_memory(job->db, module_blocking)) {
		if (passdb_job_try_memory(job)) {
			passdb_job_free(job);
			return;
		}
		/* BIND_ANSWERED and BIND_PENDING own the job now */
		if (passdb_job_try_bind(job) != BIND_NOT_HERE)
			return;
	}
	auth_request_ref(request);
	passdb_job_dispatch(job, module_blocking);
}

static void passdb_xident_verify_plain(struct auth_request *request, const char *password,
				       verify_plain_callback_t *callback)
{
	struct passdb_job *job = passdb_job_new(request, XI_METHOD_PLAIN);

	job->password = i_strdup(password);
	job->plain_callback = callback;
	job->job.run = plain_run;
	passdb_job_start(job, request->passdb->passdb->blocking);
}

static void passdb_xident_lookup_credentials(struct auth_request *request,
					     lookup_credentials_callback_t *callback)
{
	struct passdb_job *job;

	if (strcasecmp(request->wanted_credentials_scheme, "NTLM") != 0) {
		e_info(authdb_event(request),
		       "xident serves only NTLM credentials (asked for '%s')",
		       request->wanted_credentials_scheme);
		callback(PASSDB_RESULT_SCHEME_NOT_AVAILABLE, NULL, 0, request);
		return;
	}
	job = passdb_job_new(request, XI_METHOD_NTLM);
	job->credentials_callback = callback;
	job->job.run = credentials_run;
	passdb_job_start(job, request->passdb->passdb->blocking);
}

static struct passdb_module *passdb_xident_preinit(pool_t pool, const char *args)
{
	struct xident_passdb_module *module;
	struct xi_authdb_options opts;

	module = p_new(pool, struct xident_passdb_module, 1);
	module->db = xi_authdb_get(args, &opts);
	/* Not blocking: resolver threads in this process serve it (see
	 * authdb-xident.h); blocking=yes sends it to auth-workers. */
	module->module.blocking = opts.blocking;
	return &module->module;
}

static void passdb_xident_deinit(struct passdb_module *_module)
{
	struct xident_passdb_module *module = (struct xident_passdb_module *)_module;

	/* Dovecot expects every pending request answered. */
	struct passdb_job *queued;

	while ((queued = bind_queue_pop()) != NULL) {
		struct auth_request *request = queued->request;

		passdb_job_fail(queued);
		xi_resolution_free(queued->res);
		queued->res = NULL;
		passdb_job_free(queued);
		auth_request_unref(&request);
	}
	while (pending_binds != NULL) {
		struct passdb_job *job = pending_binds;

		bind_conn_cancel(job, "the auth process is stopping");
		passdb_job_bind_finish(job, FALSE);
	}

	xi_authdb_unref(&module->db);
}

struct passdb_module_interface passdb_xident = {
	.name = "xident",
	.preinit = passdb_xident_preinit,
	.deinit = passdb_xident_deinit,
	.verify_plain = passdb_xident_verify_plain,
	.lookup_credentials = passdb_xident_lookup_credentials,
};
