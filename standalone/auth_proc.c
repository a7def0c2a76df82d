/*
 * The auth process: the only one that holds the bind password and talks to
 * the directory.  For each successful logon it sends the master a grant: a
 * random token with the mailbox's uid, gid and home.  The network process
 * only ever sees the token, so even a compromised network process cannot
 * choose whose mail a session opens.
 *
 * Concurrency: the main thread reads requests and queues them (bounded:
 * auth_queue); auth_threads workers run them on the one resolver, which is
 * thread-safe and shares its LDAP pool, so a slow directory answer holds up
 * one logon, not every logon.  Threads rather than several auth processes:
 * one LDAP pool and one NTLM table serve every request, and an NTLM
 * exchange's second message can be handled by any worker without routing
 * it back to the process that holds its state.  Replies go over the same
 * SOCK_SEQPACKET sockets: one sendmsg is one whole message, so replies of
 * different workers never interleave.  The network process sends at most
 * one request per connection at a time, so a connection's NTLM state is
 * used by one worker at a time (ntlm_table.h bounds and expires them).
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "ber_wipe.h"
#include "mailbox_target.h"
#include "ntlm_table.h"
#include "privsep.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "config.h"
#include "ntlm_sasl.h"
#include "resolver.h"

/* The top of auth_threads' range: the default derived from a large
 * ldap_pool_size stays within what a setting may ask for. */
#define XD_AUTH_THREADS_MAX 64

/* A request as read, waiting for a worker. */
struct job {
	struct job *next;
	uint32_t type, conn;
	size_t len, pos;
	uint8_t buf[];
};

struct auth {
	const struct xi_config *cfg;
	struct xi_resolver *resolver;
	struct xi_ntlm_settings ntlm;
	char computer[256];
	char computer_upper[256];
	int net, master;
	struct xd_ntlm_table *ntlm_table;
	/* the queue */
	pthread_mutex_t queue_lock;
	pthread_cond_t queue_cond;
	struct job *head, *tail;
	size_t queued, queue_max;
	bool closing;
};

static enum xi_protocol protocol_of(const char *name)
{
	if (strcmp(name, "pop3") == 0)
		return XI_PROTO_POP3;
	if (strcmp(name, "imap") == 0)
		return XI_PROTO_IMAP;
	return XI_PROTO_OTHER;
}

static void ntlm_settings_init(struct auth *a)
{
	const char *s;
	size_t i, ndomains;
	const char *const *domains;

	a->ntlm.allow_v1 = xi_config_bool(a->cfg, XI_CFG_NTLM_V1);
	a->ntlm.timestamp_window = (unsigned)xi_config_int(a->cfg, XI_CFG_NTLM_TIMESTAMP_WINDOW);
	if (gethostname(a->computer, sizeof(a->computer) - 1) < 0 || a->computer[0] == '\0')
		snprintf(a->computer, sizeof(a->computer), "xidentd");
	for (i = 0; a->computer[i] != '\0' && a->computer[i] != '.'; i++)
		a->computer_upper[i] = (char)((a->computer[i] >= 'a' && a->computer[i] <= 'z')
					      ? a->computer[i] - 32 : a->computer[i]);
	a->computer_upper[i] = '\0';
	a->ntlm.netbios_computer = a->computer_upper;
	a->ntlm.dns_computer = a->computer;
	a->ntlm.netbios_domain = "WORKGROUP";
	domains = xi_config_list(a->cfg, XI_CFG_DEFAULT_DOMAINS, &ndomains);
	if (ndomains > 0)
		a->ntlm.netbios_domain = domains[0];
	if ((s = xi_config_str(a->cfg, XI_CFG_NTLM_NETBIOS_DOMAIN)) != NULL)
		a->ntlm.netbios_domain = s;
	if ((s = xi_config_str(a->cfg, XI_CFG_NTLM_DNS_DOMAIN)) != NULL)
		a->ntlm.dns_domain = s;
	if ((s = xi_config_str(a->cfg, XI_CFG_NTLM_NETBIOS_COMPUTER)) != NULL)
		a->ntlm.netbios_computer = s;
	if ((s = xi_config_str(a->cfg, XI_CFG_NTLM_DNS_COMPUTER)) != NULL)
		a->ntlm.dns_computer = s;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sends the reply for a finished logon (and the grant first, on success, so
 * that the master holds it before the network process can present it). */
static void reply_result(struct auth *a, uint32_t conn, const char *protocol, const char *remote,
			 struct xi_logon_result *r)
{
	struct xi_msg m;
	uint8_t token[XI_TOKEN_LEN];
	uint32_t status;
	unsigned uid, gid;
	const char *text = r->client_text;
	char maildir[XI_FIELD_MAX + 16];

	status = r->outcome == XI_OUTCOME_OK ? XI_AUTH_OK
		 : xi_outcome_info(r->outcome)->temporary ? XI_AUTH_TEMPFAIL : XI_AUTH_FAIL;
	if (status == XI_AUTH_OK) {
		if (!xd_mailbox_target(a->cfg, r, &uid, &gid, maildir, sizeof(maildir))) {
			xd_log(LOG_ERR, "event=13005 category=Authentication severity=error protocol=%s "
			       "remote=%s resolved=%s cause=\"mailbox has no usable uid, gid or home "
			       "(uid=%s gid=%s home=%s), or the home lies outside mail_root\" "
			       "remedy=\"set the mailbox's uid, gid and home in the directory\"",
			       protocol, remote, r->canonical_user, r->uid, r->gid, r->home);
			status = XI_AUTH_TEMPFAIL;
			text = xi_outcome_info(XI_OUTCOME_TEMPFAIL)->client_text;
		} else if (RAND_bytes(token, sizeof(token)) != 1) {
			status = XI_AUTH_TEMPFAIL;
			text = xi_outcome_info(XI_OUTCOME_TEMPFAIL)->client_text;
		} else {
			xi_msg_init(&m, XI_MSG_GRANT, conn);
			xi_msg_put(&m, token, sizeof(token));
			xi_msg_put_str(&m, protocol);
			xi_msg_put_str(&m, remote);
			xi_msg_put_str(&m, r->canonical_user);
			xi_msg_put_u32(&m, uid);
			xi_msg_put_u32(&m, gid);
			xi_msg_put_str(&m, r->home);
			xi_msg_put_str(&m, maildir);
			if (xi_msg_send(a->master, &m, -1) < 0) {
				xd_log(LOG_ERR, "auth: cannot send grant to master: %m");
				status = XI_AUTH_TEMPFAIL;
				text = xi_outcome_info(XI_OUTCOME_TEMPFAIL)->client_text;
			}
		}
	}
	xi_msg_init(&m, XI_MSG_AUTH_REPLY, conn);
	xi_msg_put_u32(&m, status);
	/* A grant that could not be made is a tempfail, whatever the outcome. */
	xi_msg_put_str(&m, xi_outcome_info(status == XI_AUTH_TEMPFAIL ? XI_OUTCOME_TEMPFAIL
							       : r->outcome)->name);
	xi_msg_put_str(&m, text);
	xi_msg_put_str(&m, "");
	xi_msg_put(&m, token, status == XI_AUTH_OK ? sizeof(token) : 0);
	xi_msg_put_str(&m, r->canonical_user);
	/* IMAP's [REFERRAL imap://...] names the home server (RFC 2221). */
	xi_msg_put_str(&m, r->outcome == XI_OUTCOME_OTHER_SERVER ? r->home_server : "");
	if (xi_msg_send(a->net, &m, -1) < 0)
		xd_log(LOG_ERR, "auth: cannot reply to network process: %m");
	OPENSSL_cleanse(token, sizeof(token));
}

/* A reply decided here, without a logon result: its name and client text
 * come from the outcome table (blob: the NTLM challenge of a CONTINUE). */
static void reply_simple(struct auth *a, uint32_t conn, uint32_t status, enum xi_outcome outcome,
			 const char *blob)
{
	struct xi_msg m;
	bool cont = status == XI_AUTH_CONTINUE;

	xi_msg_init(&m, XI_MSG_AUTH_REPLY, conn);
	xi_msg_put_u32(&m, status);
	xi_msg_put_str(&m, cont ? "" : xi_outcome_info(outcome)->name);
	xi_msg_put_str(&m, cont ? "" : xi_outcome_info(outcome)->client_text);
	xi_msg_put_str(&m, blob);
	xi_msg_put(&m, "", 0);
	xi_msg_put_str(&m, "");
	if (m.bad || xi_msg_send(a->net, &m, -1) < 0)
		xd_log(LOG_ERR, "auth: cannot reply to network process: %m");
}

static void handle_plain(struct auth *a, struct xi_msg *m)
{
	char protocol[16], remote[64], name[XI_NAME_MAX * 3], password[1024];
	struct xi_logon_request req = { 0 };
	struct xi_logon_result *r;

	if (!xi_msg_str(m, protocol, sizeof(protocol)) || !xi_msg_str(m, remote, sizeof(remote)) ||
	    !xi_msg_str(m, name, sizeof(name)) || !xi_msg_str(m, password, sizeof(password))) {
		reply_simple(a, m->conn, XI_AUTH_FAIL, XI_OUTCOME_INVALID_NAME, "");
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, XI_OUTCOME_TEMPFAIL, "");
		return;
	}
	req.name = name;
	req.protocol = protocol_of(protocol);
	req.method = XI_METHOD_PLAIN;
	req.remote = remote;
	xi_logon_plain(a->resolver, &req, password, r);
	OPENSSL_cleanse(password, sizeof(password));
	reply_result(a, m->conn, protocol, remote, r);
	free(r);
}

static void ntlm_event(enum xi_ntlm_failure f, const char *protocol, const char *remote,
		       const char *login)
{
	struct xi_event ev;

	xi_ntlm_event_fill(&ev, f);
	ev.protocol = protocol;
	ev.remote = remote;
	ev.login = login;
	xd_emit(&ev);
}

static void handle_ntlm(struct auth *a, struct xi_msg *m)
{
	char protocol[16], remote[64];
	const uint8_t *blob;
	size_t blob_len;
	struct xd_ntlm_exchange *slot;
	struct xi_ntlm_sasl **sasl;
	enum xd_ntlm_take took;
	char *out = NULL;
	struct xi_error err = { 0 };
	enum xi_ntlm_sasl_status st;

	if (!xi_msg_str(m, protocol, sizeof(protocol)) || !xi_msg_str(m, remote, sizeof(remote)) ||
	    !xi_msg_bytes(m, &blob, &blob_len, XI_MSG_MAX)) {
		xd_ntlm_table_forget(a->ntlm_table, m->conn);
		reply_simple(a, m->conn, XI_AUTH_FAIL, XI_OUTCOME_NTLM_FAILED, "");
		return;
	}
	took = xd_ntlm_table_take(a->ntlm_table, m->conn, remote, monotonic_ms(), &slot);
	if (took != XD_NTLM_TAKEN) {
		if (took == XD_NTLM_SOURCE_FULL)
			xd_log(LOG_WARNING, "auth: remote=%s holds max_ntlm_exchanges_per_source (%zu) "
			       "NTLM exchanges already; refusing another", remote,
			       xd_ntlm_table_per_source(a->ntlm_table));
		else if (took == XD_NTLM_TABLE_FULL)
			xd_log(LOG_WARNING, "auth: %zu NTLM exchanges at once (max_connections); "
			       "refusing one from remote=%s", xd_ntlm_table_capacity(a->ntlm_table), remote);
		reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, XI_OUTCOME_TEMPFAIL, "");
		return;
	}
	sasl = xd_ntlm_exchange_sasl(slot);
	if (*sasl == NULL) {
		*sasl = xi_ntlm_sasl_new(&a->ntlm, xi_config_list_has(a->cfg, XI_CFG_NTLM_PROTOCOLS,
								       protocol));
		if (*sasl == NULL) {
			xd_ntlm_table_release(a->ntlm_table, slot, false);
			reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, XI_OUTCOME_TEMPFAIL, "");
			return;
		}
	}
	st = xi_ntlm_sasl_step(*sasl, (const char *)blob, blob_len, &out, &err);
	if (st == XI_NTLM_SASL_CONTINUE) {
		xd_ntlm_table_release(a->ntlm_table, slot, true);
		reply_simple(a, m->conn, XI_AUTH_CONTINUE, XI_OUTCOME_OK, out);
		free(out);
		return;
	}
	free(out);
	if (st == XI_NTLM_SASL_FAILURE) {
		bool disabled = xi_ntlm_sasl_disabled(*sasl);
		bool late = !disabled && xd_ntlm_exchange_after_expiry(slot);
		if (disabled) {
			struct xi_event ev;
			xi_event_from_outcome(&ev, XI_OUTCOME_NTLM_DISABLED, protocol);
			ev.remote = remote;
			ev.cause = "NTLM is not in ntlm_protocols for this protocol";
			xd_emit(&ev);
		} else if (late) {
			/* The connection's exchange expired before this message
			 * came: the client is slow, its message is not malformed. */
			struct xi_event ev;
			char cause[160];
			xi_event_from_outcome(&ev, XI_OUTCOME_NTLM_TIMEOUT, protocol);
			snprintf(cause, sizeof(cause), "the client answered the NTLM challenge after "
				 "ntlm_exchange_timeout (%lld s): the exchange had expired",
				 xi_config_int(a->cfg, XI_CFG_NTLM_EXCHANGE_TIMEOUT));
			ev.remote = remote;
			ev.cause = cause;
			xd_emit(&ev);
		} else {
			ntlm_event(xi_ntlm_sasl_failure(*sasl), protocol, remote,
				   xi_ntlm_sasl_user(*sasl));
		}
		xd_ntlm_table_release(a->ntlm_table, slot, false);
		reply_simple(a, m->conn, XI_AUTH_FAIL,
			     disabled ? XI_OUTCOME_NTLM_DISABLED :
			     late ? XI_OUTCOME_NTLM_TIMEOUT : XI_OUTCOME_NTLM_FAILED, "");
		return;
	}
	/* NEED_HASH: resolve the AUTHENTICATE's names, verify, finish. */
	{
		struct xi_logon_request req = { 0 };
		struct xi_resolution *res = NULL;
		struct xi_logon_result *r = calloc(1, sizeof(*r));
		uint8_t hash[16];
		bool have_hash;

		req.name = xi_ntlm_sasl_user(*sasl);
		req.ntlm_domain = xi_ntlm_sasl_domain(*sasl);
		req.protocol = protocol_of(protocol);
		req.method = XI_METHOD_NTLM;
		req.remote = remote;
		if (r == NULL || xi_resolve(a->resolver, &req, NULL, NULL, &res, &err) < 0) {
			free(r);
			xd_ntlm_table_release(a->ntlm_table, slot, false);
			reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, XI_OUTCOME_TEMPFAIL, "");
			return;
		}
		have_hash = xi_resolution_nt_hash(res, hash);
		st = xi_ntlm_sasl_finish(*sasl, have_hash ? hash : NULL, &err);
		OPENSSL_cleanse(hash, sizeof(hash));
		if (st != XI_NTLM_SASL_DONE && have_hash &&
		    xi_ntlm_sasl_failure(*sasl) != XI_NTLM_BAD_RESPONSE)
			ntlm_event(xi_ntlm_sasl_failure(*sasl), protocol, remote, req.name);
		xi_proof_ntlm(res, st == XI_NTLM_SASL_DONE);
		xi_finish(a->resolver, res, r);
		xi_resolution_free(res);
		xd_ntlm_table_release(a->ntlm_table, slot, false);
		reply_result(a, m->conn, protocol, remote, r);
		free(r);
	}
}

/* Runs one request; m is the worker's own message buffer. */
static void run_job(struct auth *a, struct job *j, struct xi_msg *m)
{
	m->type = j->type;
	m->conn = j->conn;
	m->len = j->len;
	m->pos = j->pos;
	m->bad = false;
	memcpy(m->buf, j->buf, j->len);
	/* The job may hold a clear-text password: wipe it before it is freed. */
	OPENSSL_cleanse(j->buf, j->len);
	switch (m->type) {
	case XI_MSG_AUTH_PLAIN: handle_plain(a, m); break;
	case XI_MSG_AUTH_NTLM: handle_ntlm(a, m); break;
	default: break;
	}
	OPENSSL_cleanse(m->buf, m->len);
}

static void *worker(void *arg)
{
	struct auth *a = arg;
	struct xi_msg *m = malloc(sizeof(*m));

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&a->queue_lock);
		while (a->head == NULL && !a->closing)
			pthread_cond_wait(&a->queue_cond, &a->queue_lock);
		j = a->head;
		if (j != NULL) {
			a->head = j->next;
			if (a->head == NULL)
				a->tail = NULL;
			a->queued--;
		}
		pthread_mutex_unlock(&a->queue_lock);
		if (j == NULL)
			break; /* closing and drained */
		if (m != NULL)
			run_job(a, j, m);
		else
			reply_simple(a, j->conn, XI_AUTH_TEMPFAIL, XI_OUTCOME_TEMPFAIL, "");
		OPENSSL_cleanse(j->buf, j->len);
		free(j);
	}
	if (m != NULL)
		OPENSSL_cleanse(m, sizeof(*m));
	free(m);
	return NULL;
}

/* Queues a request for the workers; a full queue is answered at once. */
static void enqueue(struct auth *a, const struct xi_msg *m)
{
	struct job *j = NULL;
	bool full;

	pthread_mutex_lock(&a->queue_lock);
	full = a->queued >= a->queue_max;
	pthread_mutex_unlock(&a->queue_lock);
	if (!full)
		j = malloc(sizeof(*j) + m->len);
	if (j == NULL) {
		xd_log(LOG_WARNING, "auth: %s; a logon is answered as a temporary failure",
		       full ? "auth_queue is full (the directory is slow, or auth_threads too few)"
			    : "out of memory");
		reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, XI_OUTCOME_TEMPFAIL, "");
		return;
	}
	j->next = NULL;
	j->type = m->type;
	j->conn = m->conn;
	j->len = m->len;
	j->pos = m->pos;
	memcpy(j->buf, m->buf, m->len);
	pthread_mutex_lock(&a->queue_lock);
	if (a->tail != NULL)
		a->tail->next = j;
	else
		a->head = j;
	a->tail = j;
	a->queued++;
	pthread_cond_signal(&a->queue_cond);
	pthread_mutex_unlock(&a->queue_lock);
}

/* auth_threads, or with 0 the resolver's rule (xi_resolver_default_threads)
 * within the setting's own range. */
static size_t auth_thread_count(const struct xi_config *cfg)
{
	size_t threads = (size_t)xi_config_int(cfg, XI_CFG_AUTH_THREADS);

	if (threads != 0)
		return threads;
	threads = xi_resolver_default_threads(cfg);
	return threads < XD_AUTH_THREADS_MAX ? threads : XD_AUTH_THREADS_MAX;
}

int xd_auth_main(const struct xi_config *cfg, int net_sock, int master_sock)
{
	struct auth *a = calloc(1, sizeof(*a));
	struct xi_error err = { 0 };
	struct xi_msg *m;
	size_t nthreads = auth_thread_count(cfg), started = 0;
	pthread_t *threads = calloc(nthreads, sizeof(*threads));
	int ret = 0;

	if (a == NULL || threads == NULL) {
		free(a);
		free(threads);
		return 1;
	}
	if (!xd_ber_wipe_active())
		xd_log(LOG_WARNING, "auth: libldap frees its buffers unwiped here (ber_wipe.c not "
		       "linked in): a bind's password may stay in memory");
	a->cfg = cfg;
	a->net = net_sock;
	a->master = master_sock;
	a->queue_max = (size_t)xi_config_int(cfg, XI_CFG_AUTH_QUEUE);
	pthread_mutex_init(&a->queue_lock, NULL);
	pthread_cond_init(&a->queue_cond, NULL);
	ntlm_settings_init(a);
	/* One exchange per connection at most: max_connections of them can
	 * never fill the table, and the cap per source (by default the
	 * source's connection limit, which a NAT gateway's many clients may
	 * need whole) keeps one address from taking the entries every other
	 * address needs. */
	{
		long long per_source = xi_config_int(cfg, XI_CFG_MAX_NTLM_EXCHANGES_PER_SOURCE);
		if (per_source == 0)
			per_source = xi_config_int(cfg, XI_CFG_MAX_CONNECTIONS_PER_SOURCE);
		a->ntlm_table = xd_ntlm_table_new((size_t)xi_config_int(cfg, XI_CFG_MAX_CONNECTIONS),
						  (size_t)per_source,
						  (uint64_t)xi_config_int(cfg, XI_CFG_NTLM_EXCHANGE_TIMEOUT) * 1000);
	}
	if (a->ntlm_table == NULL) {
		xd_log(LOG_ERR, "auth: out of memory for the NTLM table");
		free(threads);
		free(a);
		return 1;
	}
	if (xi_resolver_create(cfg, xd_event_sink, NULL, &a->resolver, &err) < 0) {
		xd_log(LOG_ERR, "auth: cannot create the resolver: %s", err.message);
		xd_ntlm_table_free(a->ntlm_table);
		free(threads);
		free(a);
		return 1;
	}
	m = malloc(sizeof(*m));
	for (; m != NULL && started < nthreads; started++)
		if (pthread_create(&threads[started], NULL, worker, a) != 0)
			break;
	if (m == NULL || started == 0) {
		xd_log(LOG_ERR, "auth: cannot start worker threads");
		ret = 1;
	}
	while (ret == 0) {
		int r = xi_msg_recv(net_sock, m, NULL);
		if (r == 0)
			break; /* network process gone: the master restarts us or is stopping */
		if (r < 0) {
			if (errno == EPROTO) {
				xd_log(LOG_ERR, "auth: malformed message from the network process");
				continue;
			}
			xd_log(LOG_ERR, "auth: read: %m");
			ret = 1;
			break;
		}
		switch (m->type) {
		case XI_MSG_AUTH_PLAIN:
		case XI_MSG_AUTH_NTLM:
			enqueue(a, m);
			break;
		case XI_MSG_AUTH_FORGET: xd_ntlm_table_forget(a->ntlm_table, m->conn); break;
		default:
			xd_log(LOG_ERR, "auth: unexpected message type %u", m->type);
			break;
		}
		/* A request may have held a clear-text password: do not keep it
		 * until a later, maybe shorter, message overwrites it. */
		OPENSSL_cleanse(m->buf, m->len);
	}
	pthread_mutex_lock(&a->queue_lock);
	a->closing = true;
	pthread_cond_broadcast(&a->queue_cond);
	pthread_mutex_unlock(&a->queue_lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	xd_ntlm_table_free(a->ntlm_table);
	if (m != NULL)
		OPENSSL_cleanse(m, sizeof(*m));
	free(m);
	free(threads);
	xi_resolver_destroy(a->resolver);
	pthread_mutex_destroy(&a->queue_lock);
	pthread_cond_destroy(&a->queue_cond);
	free(a);
	return ret;
}
