/*
 * The network process: every client connection before logon (and the TLS
 * side of sessions after it), in one epoll loop.
 *
 * Why epoll and not libevent: we need only sockets, timers and signals on
 * Linux; epoll (with a signalfd and deadlines computed per loop turn) does
 * that in a few hundred lines with no dependency, and lets us keep the
 * per-connection state as small as we like.
 *
 * Memory: an idle connection is a struct conn (about 100 bytes) plus its
 * slot pointer; input and output buffers are allocated only while a line
 * is incomplete or output is blocked, and freed when empty.  TLS adds
 * OpenSSL's SSL object (buffers released while idle).
 *
 * This process runs chrooted in an empty folder as an unprivileged user
 * and never sees the config's secrets: passwords go to the auth process,
 * which answers with a token the master redeems to start a mail process.
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "logon_policy.h"
#include "privsep.h"
#include "net_conn.h"
#include "pop3_text.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "ntlm_sasl.h"
#include "outcome.h"
#include "resolver.h"

#define SLOT_BITS 21
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define KIND_LISTENER 0
#define KIND_CLIENT 1
#define KIND_PROXY 2
#define KIND_CONTROL 3
#define CONTROL_SIGNAL 0
#define CONTROL_AUTH 1
#define CONTROL_MASTER 2
#define CONTROL_AUTH_OLD 3
#define SOURCE_BUCKETS 4096
#define SOURCE_FORGET_MS (15 * 60 * 1000)
/* Output queued for a client beyond this closes it (a client that never reads). */
#define OUTPUT_MAX (1024 * 1024)
#define READ_CHUNK 16384

enum conn_state {
	ST_TLS_HANDSHAKE,   /* implicit TLS or after STLS */
	ST_AUTHORIZATION,   /* reading commands */
	ST_SASL_PLAIN,      /* waiting for the AUTH PLAIN response line */
	ST_SASL_LOGIN_USER,
	ST_SASL_LOGIN_PASS,
	ST_SASL_NTLM,       /* waiting for the next NTLM blob */
	ST_WAIT_AUTH,       /* request sent to the auth process */
	ST_DELAY,           /* failure answer held back (penalty) */
	ST_PROXY,           /* logged on over TLS: relaying to the mail process */
	ST_CLOSING          /* flush output, then close */
};

enum { LIST_PREAUTH, LIST_PROXY, LIST_DELAY, LIST__COUNT };

struct conn;
struct idle_list {
	struct conn *oldest, *newest;
};

struct source {
	struct source *next;
	uint64_t last_failure_ms;
	uint32_t conns;
	uint16_t failures;
	char addr[INET6_ADDRSTRLEN];
};

struct buf {
	char *data;
	uint32_t len, cap;
};

struct conn {
	uint32_t id;
	int fd;
	int proxy_fd;
	uint8_t state;
	uint8_t failures;
	bool tls;             /* TLS is (or is being) used */
	bool implicit_tls;
	bool sasl_ntlm;       /* the pending auth request is NTLM */
	bool delayed_close;   /* close after the delayed reply */
	bool tls_want_write;  /* OpenSSL needs the socket writable to go on */
	bool imap;            /* an IMAP listener's connection (imap_login.c) */
	bool old_auth;        /* its request or NTLM exchange is at the replaced auth process */
	SSL *ssl;
	struct xd_imap_login *imap_login;
	struct source *src;
	char *user;           /* USER argument, or AUTH LOGIN name */
	struct buf in, out, to_mail;
	char *delayed_reply;
	uint64_t due_ms;      /* delayed reply, or idle deadline */
	uint8_t list;         /* which deadline list it is on (LIST_*) */
	struct conn *prev, *next;   /* that list, earliest deadline first */
};

struct net {
	const struct xi_config *cfg;
	int ep;
	int auth, master, sigfd;
	/* After a SIGHUP: the replaced auth process, kept until the requests and
	 * NTLM exchanges it holds are answered (old_users), then closed. */
	int auth_old;
	uint32_t old_users;
	bool auth_dead;       /* EOF on auth: its pending requests are lost */
	SSL_CTX *tls;
	int listen_fds[XD_LISTEN_MAX];
	bool listen_tls[XD_LISTEN_MAX];
	bool listen_imap[XD_LISTEN_MAX];
	size_t nlisten;
	/* A new listener set arriving from the master (SIGHUP), one per message. */
	int pending_fds[XD_LISTEN_MAX];
	bool pending_tls[XD_LISTEN_MAX];
	bool pending_imap[XD_LISTEN_MAX];
	size_t npending;
	int plaintext_mode;
	struct conn **slots;
	uint32_t nslots, used, next_slot;
	uint16_t *gens;
	/* Deadlines, one list per kind so that each stays sorted by appending:
	 * idle before logon, idle TLS sessions, and delayed failure answers
	 * (inserted in order; delays vary). */
	struct idle_list lists[LIST__COUNT];
	struct source *sources[SOURCE_BUCKETS];
	/* limits */
	size_t max_line, max_conns, max_per_source, max_failures;
	uint64_t delay_ms, delay_max_ms, idle_pre_ms, idle_ms;
	bool stopping;
	uint64_t last_sweep_ms;
	char readbuf[READ_CHUNK];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- buffers */

static int buf_append(struct buf *b, const char *data, size_t len, size_t max)
{
	if ((size_t)b->len + len > max)
		return -1;
	if ((size_t)b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < (size_t)b->len + len)
			cap *= 2;
		if (cap > max)
			cap = max;
		/* Not realloc: the old block may hold a password line, and
		 * realloc would free it unwiped. */
		char *d = malloc(cap);
		if (d == NULL)
			return -1;
		if (b->data != NULL) {
			memcpy(d, b->data, b->len);
			OPENSSL_cleanse(b->data, b->cap);
			free(b->data);
		}
		b->data = d;
		b->cap = (uint32_t)cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += (uint32_t)len;
	return 0;
}

static void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		/* Empty: give the memory back, idle connections hold none;
		 * wipe it first, it may have held a password line. */
		if (b->data != NULL)
			OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
		b->data = NULL;
		b->len = b->cap = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	OPENSSL_cleanse(b->data + (b->len - n), n);
	b->len -= (uint32_t)n;
}

static void buf_free(struct buf *b)
{
	if (b->data != NULL)
		OPENSSL_cleanse(b->data, b->cap); /* may hold a password line */
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---------------------------------------------------------------- sources */

static unsigned source_hash(const char *addr)
{
	unsigned h = 2166136261u;
	for (; *addr != '\0'; addr++)
		h = (h ^ (unsigned char)*addr) * 16777619u;
	return h % SOURCE_BUCKETS;
}

static struct source *source_get(struct net *n, const char *addr, bool create)
{
	unsigned h = source_hash(addr);
	struct source *s;

	for (s = n->sources[h]; s != NULL; s = s->next)
		if (strcmp(s->addr, addr) == 0)
			return s;
	if (!create || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->next = n->sources[h];
	n->sources[h] = s;
	return s;
}

static void source_release(struct net *n, struct source *s)
{
	unsigned h;
	struct source **pp;

	if (s->conns > 0 || (s->failures > 0 && now_ms() - s->last_failure_ms < SOURCE_FORGET_MS))
		return;
	h = source_hash(s->addr);
	for (pp = &n->sources[h]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			free(s);
			return;
		}
	}
}

/* Penalty before answering a failed logon: doubles per recent failure from
 * the same address, like Dovecot's auth penalty, up to the maximum. */
static uint64_t source_penalty(struct net *n, struct source *s)
{
	uint64_t now = now_ms(), d = n->delay_ms;

	if (s->failures > 0 && now - s->last_failure_ms >= SOURCE_FORGET_MS)
		s->failures = 0;
	if (s->failures < UINT16_MAX)
		s->failures++;
	s->last_failure_ms = now;
	for (unsigned i = 1; i < s->failures && d < n->delay_max_ms; i++)
		d *= 2;
	return d > n->delay_max_ms ? n->delay_max_ms : d;
}

/* ---------------------------------------------------------------- idle list */

static void idle_unlink(struct net *n, struct conn *c)
{
	struct idle_list *l = &n->lists[c->list];

	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (l->oldest == c)
		l->oldest = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else if (l->newest == c)
		l->newest = c->prev;
	c->prev = c->next = NULL;
}

/* Puts c on list at c->due_ms, searching from the newest end (appending in
 * the common case of a constant timeout). */
static void idle_insert(struct net *n, struct conn *c, uint8_t list)
{
	struct idle_list *l = &n->lists[list];
	struct conn *p = l->newest;

	c->list = list;
	while (p != NULL && p->due_ms > c->due_ms)
		p = p->prev;
	c->prev = p;
	c->next = p != NULL ? p->next : l->oldest;
	if (c->next != NULL)
		c->next->prev = c;
	else
		l->newest = c;
	if (p != NULL)
		p->next = c;
	else
		l->oldest = c;
}

static void idle_touch(struct net *n, struct conn *c)
{
	idle_unlink(n, c);
	uint64_t idle = c->state == ST_PROXY ? n->idle_ms : n->idle_pre_ms;
	/* A logged-on IMAP session may stay silent 30 minutes (RFC 3501 5.4),
	 * and IDLE is re-issued every 29 (RFC 2177): the mail process keeps
	 * time; the relay only must not cut it sooner. */
	if (c->imap && c->state == ST_PROXY && idle < XD_IMAP_AUTOLOGOUT_MS + 60000)
		idle = XD_IMAP_AUTOLOGOUT_MS + 60000;
	c->due_ms = now_ms() + idle;
	idle_insert(n, c, c->state == ST_PROXY ? LIST_PROXY : LIST_PREAUTH);
}

/* The connection whose deadline comes first, or NULL. */
static struct conn *idle_first(struct net *n)
{
	struct conn *first = NULL;

	for (int i = 0; i < LIST__COUNT; i++) {
		struct conn *c = n->lists[i].oldest;
		if (c != NULL && (first == NULL || c->due_ms < first->due_ms))
			first = c;
	}
	return first;
}

/* ---------------------------------------------------------------- events */

static void conn_event(struct conn *c, unsigned id, const char *cause)
{
	struct xi_event ev = {
		.id = id,
		.category = XI_CAT_CONNECTIONS,
		.level = id == 13002 ? XI_LEVEL_NONE : XI_LEVEL_MEDIUM,
		.severity = id == 13002 ? "error" : "information",
		.protocol = c->imap ? "imap" : "pop3",
		.remote = c->src != NULL ? c->src->addr : NULL,
		.login = c->user,
		.cause = cause,
	};
	if (id == 13002)
		ev.remedy = "Check that the client supports TLS 1.2 or later and trusts the "
			    "server certificate (tls_cert_file); repeated failures from one "
			    "address may be a scan.";
	xd_emit(&ev);
}

/* ---------------------------------------------------------------- I/O */

static void conn_close(struct net *n, struct conn *c, const char *why);

static void conn_update_events(struct net *n, struct conn *c)
{
	struct epoll_event ev = { .data.u64 = ((uint64_t)(c->id & SLOT_MASK) << 2) | KIND_CLIENT };
	bool want_read = c->state != ST_WAIT_AUTH && c->state != ST_DELAY &&
			 c->state != ST_CLOSING && c->to_mail.len < OUTPUT_MAX / 4;
	bool want_write = c->out.len > 0 || c->tls_want_write;

	if (c->ssl != NULL && c->state == ST_TLS_HANDSHAKE) {
		want_read = true;
	}
	ev.events = (want_read ? EPOLLIN : 0) | (want_write ? EPOLLOUT : 0) | EPOLLRDHUP;
	epoll_ctl(n->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is queued; -1 when the connection failed. */
static int conn_flush(struct net *n, struct conn *c)
{
	while (c->out.len > 0) {
		ssize_t w;
		if (c->ssl != NULL) {
			int r;
			ERR_clear_error();
			r = SSL_write(c->ssl, c->out.data, (int)c->out.len);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					break;
				return -1;
			}
			w = r;
		} else {
			w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				return -1;
			}
		}
		buf_consume(&c->out, (size_t)w);
	}
	conn_update_events(n, c);
	return 0;
}

static void conn_send(struct net *n, struct conn *c, const char *text, size_t len)
{
	if (buf_append(&c->out, text, len, OUTPUT_MAX) < 0) {
		c->state = ST_CLOSING;
		return;
	}
	if (conn_flush(n, c) < 0)
		c->state = ST_CLOSING;
}

static void conn_sendf(struct net *n, struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conn_sendf(struct net *n, struct conn *c, const char *fmt, ...)
{
	/* Sized per call: an NTLM challenge or a long text is never cut. */
	char small[512], *line = small;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (len < 0) {
		c->state = ST_CLOSING;
		return;
	}
	if ((size_t)len + 2 >= sizeof(small)) {
		if ((size_t)len + 3 > OUTPUT_MAX || (line = malloc((size_t)len + 3)) == NULL) {
			c->state = ST_CLOSING;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(line, (size_t)len + 1, fmt, ap);
		va_end(ap);
	}
	line[len++] = '\r';
	line[len++] = '\n';
	conn_send(n, c, line, (size_t)len);
	if (line != small)
		free(line);
}

/* A logon refusal decided here (no auth round trip), with the response code
 * and text of the outcome table. */
static void send_outcome(struct net *n, struct conn *c, enum xi_outcome outcome)
{
	const struct xi_outcome_info *info = xi_outcome_info(outcome);

	conn_sendf(n, c, "-ERR [%s] %s", info->pop3_code, info->client_text);
}

/* The auth process that holds c's request or NTLM state. */
static int auth_of(const struct net *n, const struct conn *c)
{
	return c->old_auth && n->auth_old >= 0 ? n->auth_old : n->auth;
}

static void old_auth_close(struct net *n)
{
	if (n->auth_old < 0)
		return;
	epoll_ctl(n->ep, EPOLL_CTL_DEL, n->auth_old, NULL);
	close(n->auth_old); /* the old auth process sees EOF and exits */
	n->auth_old = -1;
}

/* c no longer needs the replaced auth process. */
static void old_auth_release(struct net *n, struct conn *c)
{
	if (!c->old_auth)
		return;
	c->old_auth = false;
	if (n->old_users > 0 && --n->old_users == 0)
		old_auth_close(n);
}

static void conn_free(struct net *n, struct conn *c)
{
	uint32_t slot = c->id & SLOT_MASK;

	idle_unlink(n, c);
	if (c->fd >= 0) {
		epoll_ctl(n->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	if (c->proxy_fd >= 0) {
		epoll_ctl(n->ep, EPOLL_CTL_DEL, c->proxy_fd, NULL);
		close(c->proxy_fd);
	}
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->sasl_ntlm || c->state == ST_SASL_NTLM) {
		struct xi_msg *m = malloc(sizeof(*m));
		if (m != NULL) {
			xi_msg_init(m, XI_MSG_AUTH_FORGET, c->id);
			(void)xi_msg_send(auth_of(n, c), m, -1);
			free(m);
		}
	}
	old_auth_release(n, c);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->to_mail);
	xd_imap_login_free(c->imap_login);
	if (c->user != NULL) {
		OPENSSL_cleanse(c->user, strlen(c->user));
		free(c->user);
	}
	free(c->delayed_reply);
	if (c->src != NULL) {
		c->src->conns--;
		source_release(n, c->src);
	}
	n->slots[slot] = NULL;
	n->used--;
	free(c);
}

static void conn_close(struct net *n, struct conn *c, const char *why)
{
	if (why != NULL)
		conn_event(c, 11103, why);
	conn_free(n, c);
}

/* ---------------------------------------------------------------- auth */

/* The logon service failed us (auth process gone, no memory). */
static void conn_tempfail(struct net *n, struct conn *c)
{
	if (c->imap)
		xd_imap_login_tempfail(n, c);
	else
		send_outcome(n, c, XI_OUTCOME_TEMPFAIL);
}

static void send_auth(struct net *n, struct conn *c, struct xi_msg *m)
{
	if (m->bad || xi_msg_send(auth_of(n, c), m, -1) < 0) {
		c->state = ST_AUTHORIZATION;
		conn_tempfail(n, c);
		return;
	}
	c->state = ST_WAIT_AUTH;
	conn_update_events(n, c);
}

static void auth_plain(struct net *n, struct conn *c, const char *name, const char *password)
{
	struct xi_msg *m = malloc(sizeof(*m));

	if (m == NULL) {
		conn_tempfail(n, c);
		return;
	}
	c->sasl_ntlm = false;
	old_auth_release(n, c);
	xi_msg_init(m, XI_MSG_AUTH_PLAIN, c->id);
	xi_msg_put_str(m, c->imap ? "imap" : "pop3");
	xi_msg_put_str(m, c->src->addr);
	xi_msg_put_str(m, name);
	xi_msg_put_str(m, password);
	send_auth(n, c, m);
	OPENSSL_cleanse(m->buf, m->len);
	free(m);
}

static void auth_ntlm(struct net *n, struct conn *c, const char *blob, size_t len)
{
	struct xi_msg *m = malloc(sizeof(*m));

	if (m == NULL) {
		conn_tempfail(n, c);
		return;
	}
	c->sasl_ntlm = true;
	xi_msg_init(m, XI_MSG_AUTH_NTLM, c->id);
	xi_msg_put_str(m, c->imap ? "imap" : "pop3");
	xi_msg_put_str(m, c->src->addr);
	xi_msg_put(m, blob, len);
	send_auth(n, c, m);
	free(m);
}

/* A failed logon: count it, answer after the source's penalty, close after
 * max_failed_logons. */
static void logon_failed(struct net *n, struct conn *c, const char *reply)
{
	uint64_t delay = source_penalty(n, c->src);
	size_t len = strlen(reply);

	c->failures++;
	c->delayed_close = c->failures >= n->max_failures;
	free(c->delayed_reply);
	c->delayed_reply = malloc(len + 3);
	if (c->delayed_reply == NULL) {
		conn_close(n, c, "out of memory");
		return;
	}
	memcpy(c->delayed_reply, reply, len);
	memcpy(c->delayed_reply + len, "\r\n", 3);
	c->state = ST_DELAY;
	idle_unlink(n, c);
	c->due_ms = now_ms() + delay;
	idle_insert(n, c, LIST_DELAY);
	conn_update_events(n, c);
}

static void process_input(struct net *n, struct conn *c);
static void auth_lost(struct net *n, bool old);

static void delayed_due(struct net *n, struct conn *c)
{
	char *reply = c->delayed_reply;

	c->delayed_reply = NULL;
	c->state = c->delayed_close ? ST_CLOSING : ST_AUTHORIZATION;
	conn_send(n, c, reply, strlen(reply));
	free(reply);
	if (c->delayed_close) {
		if (c->imap)
			conn_sendf(n, c, "* BYE Too many failed logons; closing the connection.");
		conn_event(c, 11103, "too many failed logons on this connection");
		conn_close(n, c, NULL);
		return;
	}
	idle_touch(n, c);
	conn_update_events(n, c);
	/* Commands the client pipelined behind the failed logon. */
	process_input(n, c);
}

/* Hands the logged-on connection to the master with the token: plain
 * connections go over whole (this process forgets them); TLS ones stay here
 * and are relayed to the mail process over a socketpair. */
static void start_session(struct net *n, struct conn *c, const uint8_t *token, const char *tag)
{
	struct xi_msg *m = malloc(sizeof(*m));
	int pair[2] = { -1, -1 };
	int give;

	if (m == NULL)
		goto fail;
	if (c->ssl != NULL) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
			goto fail;
		give = pair[1];
	} else {
		give = c->fd;
	}
	xi_msg_init(m, XI_MSG_SESSION, c->id);
	xi_msg_put(m, token, XI_TOKEN_LEN);
	xi_msg_put_u32(m, c->ssl != NULL);
	xi_msg_put(m, c->in.data, c->in.len);
	if (tag != NULL)
		xi_msg_put_str(m, tag);
	if (xi_msg_send(n->master, m, give) < 0)
		goto fail;
	free(m);
	buf_consume(&c->in, c->in.len);
	if (c->ssl == NULL) {
		/* The mail process owns the connection now. */
		conn_free(n, c);
		return;
	}
	close(pair[1]);
	c->proxy_fd = pair[0];
	c->state = ST_PROXY;
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.u64 = ((uint64_t)(c->id & SLOT_MASK) << 2) | KIND_PROXY };
		epoll_ctl(n->ep, EPOLL_CTL_ADD, c->proxy_fd, &ev);
	}
	idle_touch(n, c);
	conn_update_events(n, c);
	return;
fail:
	free(m);
	if (pair[0] >= 0) {
		close(pair[0]);
		close(pair[1]);
	}
	c->state = ST_AUTHORIZATION;
	conn_tempfail(n, c);
	conn_update_events(n, c);
}

static void handle_auth_reply(struct net *n, struct xi_msg *m)
{
	uint32_t slot = m->conn & SLOT_MASK, status;
	struct conn *c = slot < n->nslots ? n->slots[slot] : NULL;
	char outcome[64], text[XI_CLIENT_TEXT_MAX], user[XI_NAME_MAX];
	static char blob[XI_MSG_MAX];
	const uint8_t *token;
	size_t token_len;

	if (c == NULL || c->id != m->conn || c->state != ST_WAIT_AUTH)
		return; /* connection gone meanwhile */
	if (!xi_msg_u32(m, &status) || !xi_msg_str(m, outcome, sizeof(outcome)) ||
	    !xi_msg_str(m, text, sizeof(text)) || !xi_msg_str(m, blob, sizeof(blob)) ||
	    !xi_msg_bytes(m, &token, &token_len, XI_TOKEN_LEN) ||
	    !xi_msg_str(m, user, sizeof(user))) {
		old_auth_release(n, c);
		c->state = ST_AUTHORIZATION;
		conn_tempfail(n, c);
		conn_update_events(n, c);
		return;
	}
	if (status != XI_AUTH_CONTINUE)
		old_auth_release(n, c); /* the exchange ends here */
	if (c->imap) {
		/* Optional trailing field: the home server of other_server. */
		char home[XI_NAME_MAX];
		if (m->pos >= m->len || !xi_msg_str(m, home, sizeof(home)))
			home[0] = '\0';
		c->state = ST_AUTHORIZATION;
		xd_imap_login_auth_reply(n, c, status, outcome, text, blob, token, token_len, home);
		if (n->slots[slot] == c && c->state != ST_PROXY)
			conn_update_events(n, c);
		return;
	}
	switch (status) {
	case XI_AUTH_CONTINUE:
		c->state = ST_SASL_NTLM;
		conn_sendf(n, c, "+ %s", blob);
		break;
	case XI_AUTH_OK:
		c->sasl_ntlm = false;
		if (token_len != XI_TOKEN_LEN) {
			send_outcome(n, c, XI_OUTCOME_TEMPFAIL);
			c->state = ST_AUTHORIZATION;
			break;
		}
		start_session(n, c, token, NULL);
		return;
	case XI_AUTH_TEMPFAIL: {
		const struct xi_outcome_info *info = xi_outcome_by_name(outcome);
		c->sasl_ntlm = false;
		conn_sendf(n, c, "-ERR [%s] %s", info != NULL ? info->pop3_code : "SYS/TEMP", text);
		c->state = ST_AUTHORIZATION;
		break;
	}
	default: {
		/* The response code and the text both come from the outcome table. */
		const struct xi_outcome_info *info = xi_outcome_by_name(outcome);
		char reply[XI_CLIENT_TEXT_MAX + 32];
		c->sasl_ntlm = false;
		snprintf(reply, sizeof(reply), "-ERR [%s] %s",
			 info != NULL && info->pop3_code[0] != '\0' ? info->pop3_code : "AUTH", text);
		logon_failed(n, c, reply);
		return;
	}
	}
	conn_update_events(n, c);
	if (c->state == ST_AUTHORIZATION)
		process_input(n, c);
}

/* ---------------------------------------------------------------- POP3 */

static void sasl_plain_response(struct net *n, struct conn *c, const char *b64)
{
	uint8_t raw[1024];
	int len = xi_ntlm_base64_decode(b64, strlen(b64), raw, sizeof(raw) - 1);
	const char *authz, *authc, *pass;
	size_t l1, l2;

	c->state = ST_AUTHORIZATION;
	if (len < 0) {
		conn_sendf(n, c, "-ERR [AUTH] " POP3_TEXT_BAD_BASE64);
		return;
	}
	raw[len] = '\0';
	authz = (const char *)raw;
	l1 = strnlen(authz, (size_t)len);
	if (l1 >= (size_t)len) {
		logon_failed(n, c, "-ERR [AUTH] " POP3_TEXT_BAD_PLAIN);
		return;
	}
	authc = authz + l1 + 1;
	l2 = strnlen(authc, (size_t)len - l1 - 1);
	if (l1 + 1 + l2 >= (size_t)len) {
		logon_failed(n, c, "-ERR [AUTH] " POP3_TEXT_BAD_PLAIN);
		OPENSSL_cleanse(raw, sizeof(raw));
		return;
	}
	pass = authc + l2 + 1;
	if (memchr(pass, '\0', (size_t)len - l1 - l2 - 2) != NULL ||
	    (l1 > 0 && strcmp(authz, authc) != 0)) {
		/* Logging on as someone else (authorization identity) is not ours. */
		logon_failed(n, c, "-ERR [AUTH] " POP3_TEXT_BAD_PLAIN);
		OPENSSL_cleanse(raw, sizeof(raw));
		return;
	}
	auth_plain(n, c, authc, pass);
	OPENSSL_cleanse(raw, sizeof(raw));
}

static bool word_is(const char *line, size_t wlen, const char *word)
{
	return strlen(word) == wlen && strncasecmp(line, word, wlen) == 0;
}

/* May this connection send a clear-text password (plaintext_logons)? */
static bool plaintext_ok(struct net *n, struct conn *c)
{
	return xd_plaintext_allowed_mode(n->plaintext_mode, c->tls, c->src->addr);
}

/* USER/PASS or AUTH PLAIN/LOGIN where plaintext_logons forbids them:
 * refused before any password is read, not counted as a failed logon. */
static void refuse_plaintext(struct net *n, struct conn *c)
{
	struct xi_event ev;

	xi_event_from_outcome(&ev, XI_OUTCOME_PLAINTEXT_DISABLED, "pop3");
	ev.remote = c->src->addr;
	ev.login = c->user;
	ev.cause = "clear-text logon on a connection without TLS (plaintext_logons)";
	xd_emit(&ev);
	send_outcome(n, c, XI_OUTCOME_PLAINTEXT_DISABLED);
}

static void cmd_capa(struct net *n, struct conn *c)
{
	bool plain = plaintext_ok(n, c);

	/* RFC 2595: before STLS, hide what may not be used without TLS. */
	conn_sendf(n, c, "+OK Capability list follows\r\n"
		   "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
		   "%sSASL %sNTLM\r\n%s"
		   "IMPLEMENTATION " XIDENTD_IMPLEMENTATION "\r\n.",
		   plain ? "USER\r\n" : "", plain ? "PLAIN LOGIN " : "",
		   n->tls != NULL && !c->tls ? "STLS\r\n" : "");
}

static void start_tls(struct net *n, struct conn *c)
{
	c->ssl = SSL_new(n->tls);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		conn_close(n, c, "cannot start TLS");
		return;
	}
	SSL_set_accept_state(c->ssl);
	c->tls = true;
	c->state = ST_TLS_HANDSHAKE;
}

static void handle_line(struct net *n, struct conn *c, char *line)
{
	char *arg;
	size_t wlen;

	switch (c->state) {
	case ST_SASL_PLAIN:
		if (strcmp(line, "*") == 0) {
			c->state = ST_AUTHORIZATION;
			conn_sendf(n, c, "-ERR [AUTH] " POP3_TEXT_CANCELLED);
		} else {
			sasl_plain_response(n, c, line);
		}
		return;
	case ST_SASL_LOGIN_USER:
	case ST_SASL_LOGIN_PASS: {
		uint8_t raw[1024];
		int len;
		if (strcmp(line, "*") == 0) {
			c->state = ST_AUTHORIZATION;
			conn_sendf(n, c, "-ERR [AUTH] " POP3_TEXT_CANCELLED);
			return;
		}
		len = xi_ntlm_base64_decode(line, strlen(line), raw, sizeof(raw) - 1);
		if (len < 0 || memchr(raw, '\0', (size_t)len) != NULL) {
			c->state = ST_AUTHORIZATION;
			conn_sendf(n, c, "-ERR [AUTH] " POP3_TEXT_BAD_BASE64);
			return;
		}
		raw[len] = '\0';
		if (c->state == ST_SASL_LOGIN_USER) {
			free(c->user);
			c->user = strdup((char *)raw);
			c->state = ST_SASL_LOGIN_PASS;
			conn_sendf(n, c, "+ UGFzc3dvcmQ6");
		} else {
			auth_plain(n, c, c->user != NULL ? c->user : "", (char *)raw);
			OPENSSL_cleanse(raw, sizeof(raw));
		}
		return;
	}
	case ST_SASL_NTLM:
		if (strcmp(line, "*") == 0) {
			struct xi_msg *m = malloc(sizeof(*m));
			if (m != NULL) {
				xi_msg_init(m, XI_MSG_AUTH_FORGET, c->id);
				(void)xi_msg_send(auth_of(n, c), m, -1);
				free(m);
			}
			old_auth_release(n, c);
			c->sasl_ntlm = false;
			c->state = ST_AUTHORIZATION;
			conn_sendf(n, c, "-ERR [AUTH] " POP3_TEXT_CANCELLED);
			return;
		}
		auth_ntlm(n, c, line, strlen(line));
		return;
	default:
		break;
	}

	wlen = strcspn(line, " ");
	arg = line[wlen] == ' ' ? line + wlen + 1 : NULL;
	if (word_is(line, wlen, "CAPA")) {
		cmd_capa(n, c);
	} else if (word_is(line, wlen, "QUIT")) {
		conn_sendf(n, c, "+OK " XIDENTD_IMPLEMENTATION " signing off");
		c->state = ST_CLOSING;
	} else if (word_is(line, wlen, "NOOP")) {
		conn_sendf(n, c, "+OK");
	} else if (word_is(line, wlen, "STLS")) {
		if (n->tls == NULL || c->tls) {
			conn_sendf(n, c, "-ERR %s", c->tls ? "TLS is already active." : "TLS is not configured.");
			return;
		}
		conn_sendf(n, c, "+OK Begin TLS negotiation");
		if (c->out.len > 0) {
			conn_close(n, c, "could not send the STLS answer");
			return;
		}
		/* Whatever the client sent after STLS was sent in clear text:
		 * drop it (RFC 2595 section 3.1, the STARTTLS injection). */
		buf_consume(&c->in, c->in.len);
		start_tls(n, c);
	} else if ((word_is(line, wlen, "USER") || word_is(line, wlen, "PASS")) &&
		   !plaintext_ok(n, c)) {
		if (arg != NULL)
			OPENSSL_cleanse(arg, strlen(arg));
		refuse_plaintext(n, c);
	} else if (word_is(line, wlen, "USER")) {
		if (arg == NULL || arg[0] == '\0') {
			conn_sendf(n, c, "-ERR " POP3_TEXT_USER_SYNTAX);
			return;
		}
		free(c->user);
		c->user = strdup(arg);
		conn_sendf(n, c, c->user != NULL ? "+OK" : "-ERR [SYS/TEMP] out of memory");
	} else if (word_is(line, wlen, "PASS")) {
		if (c->user == NULL) {
			conn_sendf(n, c, "-ERR " POP3_TEXT_USER_FIRST);
			return;
		}
		auth_plain(n, c, c->user, arg != NULL ? arg : "");
		if (arg != NULL)
			OPENSSL_cleanse(arg, strlen(arg));
	} else if (word_is(line, wlen, "AUTH")) {
		char *mech = arg, *ir = NULL;
		if (mech == NULL || mech[0] == '\0') {
			/* MS-POP3: AUTH alone lists the mechanisms, then ".". */
			conn_sendf(n, c, "+OK\r\n%sNTLM\r\n.",
				   plaintext_ok(n, c) ? "PLAIN\r\nLOGIN\r\n" : "");
			return;
		}
		if ((ir = strchr(mech, ' ')) != NULL)
			*ir++ = '\0';
		if ((strcasecmp(mech, "PLAIN") == 0 || strcasecmp(mech, "LOGIN") == 0) &&
		    !plaintext_ok(n, c)) {
			if (ir != NULL)
				OPENSSL_cleanse(ir, strlen(ir));
			refuse_plaintext(n, c);
		} else if (strcasecmp(mech, "PLAIN") == 0) {
			if (ir != NULL && strcmp(ir, "=") != 0)
				sasl_plain_response(n, c, ir);
			else if (ir != NULL)
				sasl_plain_response(n, c, "");
			else {
				c->state = ST_SASL_PLAIN;
				conn_sendf(n, c, "+ ");
			}
		} else if (strcasecmp(mech, "LOGIN") == 0) {
			c->state = ST_SASL_LOGIN_USER;
			conn_sendf(n, c, "+ VXNlcm5hbWU6");
		} else if (strcasecmp(mech, "NTLM") == 0) {
			if (ir != NULL && strcmp(ir, "=") != 0) {
				auth_ntlm(n, c, ir, strlen(ir));
			} else {
				c->state = ST_SASL_NTLM;
				conn_sendf(n, c, "+ ");
			}
		} else {
			conn_sendf(n, c, "-ERR " POP3_TEXT_UNKNOWN_MECH);
		}
	} else if (word_is(line, wlen, "APOP")) {
		conn_sendf(n, c, "-ERR " POP3_TEXT_NO_APOP);
	} else if (word_is(line, wlen, "STAT") || word_is(line, wlen, "LIST") ||
		   word_is(line, wlen, "RETR") || word_is(line, wlen, "DELE") ||
		   word_is(line, wlen, "RSET") || word_is(line, wlen, "TOP") ||
		   word_is(line, wlen, "UIDL")) {
		conn_sendf(n, c, "-ERR " POP3_TEXT_LOG_ON_FIRST);
	} else {
		conn_sendf(n, c, "-ERR " POP3_TEXT_UNKNOWN_COMMAND);
	}
}

/* Runs every complete line in the input buffer while the state lets us. */
static void process_input(struct net *n, struct conn *c)
{
	uint32_t id = c->id;

	if (c->imap) {
		while (n->slots[id & SLOT_MASK] == c &&
		       (c->state == ST_AUTHORIZATION || c->state == ST_SASL_NTLM) && c->in.len > 0)
			if (!xd_imap_login_step(n, c))
				break;
		if (n->slots[id & SLOT_MASK] == c && c->state == ST_CLOSING && c->out.len == 0)
			conn_close(n, c, NULL);
		return;
	}

	while (n->slots[id & SLOT_MASK] == c &&
	       (c->state == ST_AUTHORIZATION || c->state == ST_SASL_PLAIN ||
		c->state == ST_SASL_LOGIN_USER || c->state == ST_SASL_LOGIN_PASS ||
		c->state == ST_SASL_NTLM)) {
		char *nl = c->in.len > 0 ? memchr(c->in.data, '\n', c->in.len) : NULL;
		size_t len;

		if (nl == NULL) {
			if (c->in.len > n->max_line) {
				conn_sendf(n, c, "-ERR " POP3_TEXT_LINE_TOO_LONG);
				conn_close(n, c, "line too long");
			}
			return;
		}
		len = (size_t)(nl - c->in.data);
		if (len > n->max_line) {
			conn_sendf(n, c, "-ERR " POP3_TEXT_LINE_TOO_LONG);
			conn_close(n, c, "line too long");
			return;
		}
		*nl = '\0';
		if (len > 0 && c->in.data[len - 1] == '\r')
			c->in.data[--len] = '\0';
		if (memchr(c->in.data, '\0', len) != NULL) {
			/* A NUL inside a line: a name cut there would not be the name typed. */
			buf_consume(&c->in, (size_t)(nl - c->in.data) + 1);
			conn_sendf(n, c, "-ERR " POP3_TEXT_NUL);
			continue;
		}
		{
			/* handle_line may consume the buffer (STLS) or free c. */
			char *line = strndup(c->in.data, len);
			buf_consume(&c->in, (size_t)(nl - c->in.data) + 1);
			if (line == NULL) {
				conn_close(n, c, "out of memory");
				return;
			}
			handle_line(n, c, line);
			OPENSSL_cleanse(line, len);
			free(line);
		}
		if (n->slots[id & SLOT_MASK] != c)
			return;
		if (c->state == ST_CLOSING) {
			if (c->out.len == 0)
				conn_close(n, c, NULL);
			return;
		}
	}
}

static void tls_handshake(struct net *n, struct conn *c)
{
	int r;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->tls_want_write = false;
		c->state = ST_AUTHORIZATION;
		if (c->implicit_tls && c->imap)
			xd_imap_login_greet(n, c);
		else if (c->implicit_tls)
			conn_sendf(n, c, "+OK " POP3_GREETING);
		conn_update_events(n, c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		c->tls_want_write = SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE;
		conn_update_events(n, c);
		return;
	default: {
		char why[256];
		unsigned long e = ERR_peek_last_error();
		snprintf(why, sizeof(why), "TLS handshake failed: %s",
			 e != 0 ? ERR_reason_error_string(e) : "connection closed");
		ERR_clear_error();
		conn_event(c, 13002, why);
		conn_close(n, c, NULL);
	}
	}
}

static void relay_to_mail(struct net *n, struct conn *c)
{
	while (c->to_mail.len > 0) {
		ssize_t w = send(c->proxy_fd, c->to_mail.data, c->to_mail.len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_close(n, c, "mail process gone");
			return;
		}
		buf_consume(&c->to_mail, (size_t)w);
	}
	{
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (c->to_mail.len > 0 ? EPOLLOUT : 0),
					  .data.u64 = ((uint64_t)(c->id & SLOT_MASK) << 2) | KIND_PROXY };
		epoll_ctl(n->ep, EPOLL_CTL_MOD, c->proxy_fd, &ev);
	}
	conn_update_events(n, c);
}

static void on_client(struct net *n, struct conn *c, uint32_t events)
{
	uint32_t id = c->id;

	if (events & EPOLLOUT) {
		if (conn_flush(n, c) < 0) {
			conn_close(n, c, "write failed");
			return;
		}
		if (c->state == ST_CLOSING && c->out.len == 0) {
			conn_close(n, c, NULL);
			return;
		}
	}
	if (c->state == ST_TLS_HANDSHAKE) {
		tls_handshake(n, c);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) &&
	    !(c->tls_want_write && (events & EPOLLOUT)))
		return;
	for (;;) {
		ssize_t r;
		if (c->ssl != NULL) {
			int sr;
			ERR_clear_error();
			sr = SSL_read(c->ssl, n->readbuf, sizeof(n->readbuf));
			if (sr <= 0) {
				int e = SSL_get_error(c->ssl, sr);
				c->tls_want_write = e == SSL_ERROR_WANT_WRITE;
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					break;
				conn_close(n, c, e == SSL_ERROR_ZERO_RETURN ? "client closed TLS" : "TLS read failed");
				return;
			}
			r = sr;
		} else {
			r = recv(c->fd, n->readbuf, sizeof(n->readbuf), 0);
			if (r < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				conn_close(n, c, "read failed");
				return;
			}
			if (r == 0) {
				conn_close(n, c, c->state == ST_PROXY ? NULL : "client disconnected");
				return;
			}
		}
		if (c->state == ST_PROXY) {
			if (buf_append(&c->to_mail, n->readbuf, (size_t)r, OUTPUT_MAX) < 0) {
				conn_close(n, c, "client sends faster than the session reads");
				return;
			}
		} else {
			int full = buf_append(&c->in, n->readbuf, (size_t)r, n->max_line + READ_CHUNK);
			/* Before logon a read may carry a password: the copy in
			 * c->in is wiped when consumed, this one now. */
			OPENSSL_cleanse(n->readbuf, (size_t)r);
			if (full < 0) {
				if (c->imap)
					conn_sendf(n, c, "* BYE " POP3_TEXT_LINE_TOO_LONG);
				else
					conn_sendf(n, c, "-ERR " POP3_TEXT_LINE_TOO_LONG);
				conn_close(n, c, "line too long");
				return;
			}
		}
		if ((size_t)r < sizeof(n->readbuf) && (c->ssl == NULL || SSL_pending(c->ssl) == 0))
			break;
	}
	idle_touch(n, c);
	if (c->state == ST_PROXY) {
		relay_to_mail(n, c);
		return;
	}
	process_input(n, c);
	if (n->slots[id & SLOT_MASK] == c)
		conn_update_events(n, c);
}

static void on_proxy(struct net *n, struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT) {
		relay_to_mail(n, c);
		if (n->slots[c->id & SLOT_MASK] != c)
			return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		return;
	if (c->out.len >= OUTPUT_MAX / 4)
		return; /* client is slow: let the mail process wait */
	for (;;) {
		ssize_t r = recv(c->proxy_fd, n->readbuf, sizeof(n->readbuf), 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			r = 0;
		}
		if (r == 0) {
			/* Session over: send what is left, then close. */
			epoll_ctl(n->ep, EPOLL_CTL_DEL, c->proxy_fd, NULL);
			close(c->proxy_fd);
			c->proxy_fd = -1;
			c->state = ST_CLOSING;
			if (c->out.len == 0)
				conn_close(n, c, NULL);
			else
				conn_update_events(n, c);
			return;
		}
		if (buf_append(&c->out, n->readbuf, (size_t)r, OUTPUT_MAX) < 0) {
			conn_close(n, c, "client does not read");
			return;
		}
		if ((size_t)r < sizeof(n->readbuf))
			break;
	}
	idle_touch(n, c);
	if (conn_flush(n, c) < 0)
		conn_close(n, c, "write failed");
}

/* ---------------------------------------------------------------- accept */

static void on_listener(struct net *n, size_t idx)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char addr[INET6_ADDRSTRLEN];
		struct source *src;
		struct conn *c;
		uint32_t slot;
		int fd = accept4(n->listen_fds[idx], (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				xd_log(LOG_ERR, "accept: %m");
			return;
		}
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
				inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr, sizeof(addr));
			else
				inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
		}
		if (n->used >= n->max_conns || n->stopping) {
			static const char busy[] = "-ERR [SYS/TEMP] " POP3_TEXT_TOO_MANY "\r\n";
			static const char busy_imap[] = "* BYE [UNAVAILABLE] " POP3_TEXT_TOO_MANY "\r\n";
			if (n->listen_imap[idx])
				(void)send(fd, busy_imap, sizeof(busy_imap) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			else
				(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			xd_log(LOG_WARNING, "event=11103 category=Connections severity=warning protocol=pop3 "
			       "remote=%s cause=\"max_connections (%zu) reached\"", addr, n->max_conns);
			continue;
		}
		src = source_get(n, addr, true);
		if (src == NULL || src->conns >= n->max_per_source) {
			static const char busy[] = "-ERR [SYS/TEMP] " POP3_TEXT_TOO_MANY_SOURCE "\r\n";
			static const char busy_imap[] = "* BYE [UNAVAILABLE] " POP3_TEXT_TOO_MANY_SOURCE "\r\n";
			if (n->listen_imap[idx])
				(void)send(fd, busy_imap, sizeof(busy_imap) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			else
				(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			xd_log(LOG_WARNING, "event=11103 category=Connections severity=warning protocol=pop3 "
			       "remote=%s cause=\"max_connections_per_source (%zu) reached\"",
			       addr, n->max_per_source);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			source_release(n, src);
			continue;
		}
		for (slot = n->next_slot; n->slots[slot] != NULL; slot = (slot + 1) % n->nslots)
			;
		n->next_slot = (slot + 1) % n->nslots;
		n->gens[slot]++;
		c->id = slot | ((uint32_t)(n->gens[slot] & 0x7ff) << SLOT_BITS);
		c->fd = fd;
		c->proxy_fd = -1;
		c->imap = n->listen_imap[idx];
		c->src = src;
		src->conns++;
		n->slots[slot] = c;
		n->used++;
		{
			struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
						  .data.u64 = ((uint64_t)slot << 2) | KIND_CLIENT };
			epoll_ctl(n->ep, EPOLL_CTL_ADD, fd, &ev);
		}
		if (n->listen_tls[idx]) {
			if (n->tls == NULL) {
				conn_close(n, c, "implicit TLS port without a certificate");
				continue;
			}
			c->implicit_tls = true;
			start_tls(n, c);
			idle_touch(n, c);
			if (n->slots[slot] == c)
				conn_update_events(n, c);
		} else {
			c->state = ST_AUTHORIZATION;
			idle_touch(n, c);
			if (c->imap)
				xd_imap_login_greet(n, c);
			else
				conn_sendf(n, c, "+OK " POP3_GREETING);
		}
	}
}

/* ---------------------------------------------------------------- control */

static void apply_limits(struct net *n, const struct xd_limits *l)
{
	if (l->max_conns > n->nslots) {
		/* Grow the slot tables (zeroed: untouched pages cost nothing). */
		struct conn **slots = realloc(n->slots, l->max_conns * sizeof(*slots));
		uint16_t *gens = slots != NULL ? realloc(n->gens, l->max_conns * sizeof(*gens)) : NULL;
		if (slots != NULL)
			n->slots = slots;
		if (gens == NULL) {
			xd_log(LOG_ERR, "network: out of memory growing to max_connections %u; keeping %u",
			       l->max_conns, n->nslots);
		} else {
			n->gens = gens;
			memset(n->slots + n->nslots, 0, (l->max_conns - n->nslots) * sizeof(*slots));
			memset(n->gens + n->nslots, 0, (l->max_conns - n->nslots) * sizeof(*gens));
			n->nslots = l->max_conns;
		}
	}
	n->max_line = l->max_line;
	n->max_conns = l->max_conns < n->nslots ? l->max_conns : n->nslots;
	n->max_per_source = l->max_per_source;
	n->max_failures = l->max_failures;
	n->delay_ms = l->delay_ms;
	n->delay_max_ms = l->delay_max_ms;
	n->idle_pre_ms = (uint64_t)l->idle_pre_s * 1000;
	n->idle_ms = (uint64_t)l->idle_s * 1000;
	n->plaintext_mode = (int)l->plaintext_mode;
}

static void listeners_watch(struct net *n, bool add)
{
	for (size_t i = 0; i < n->nlisten; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ((uint64_t)i << 2) | KIND_LISTENER };
		epoll_ctl(n->ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, n->listen_fds[i], &ev);
	}
}

/* One listener of a new set (SIGHUP); the last one swaps the sets.  The
 * master passes sockets it kept again, so closing our old copies closes
 * only the listeners the new config dropped; connections already accepted
 * are not touched. */
static void listener_received(struct net *n, struct xi_msg *m, int fd)
{
	uint32_t index, count, tls, imap = 0;

	if (!xi_msg_u32(m, &index) || !xi_msg_u32(m, &count) || !xi_msg_u32(m, &tls) ||
	    (m->pos < m->len && !xi_msg_u32(m, &imap)) ||
	    count == 0 || count > XD_LISTEN_MAX || index != n->npending || index >= count) {
		xd_log(LOG_ERR, "network: malformed listener set from the master");
		close(fd);
		for (size_t i = 0; i < n->npending; i++)
			close(n->pending_fds[i]);
		n->npending = 0;
		return;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	n->pending_fds[n->npending] = fd;
	n->pending_tls[n->npending] = tls != 0;
	n->pending_imap[n->npending] = imap != 0;
	n->npending++;
	if (n->npending < count)
		return;
	listeners_watch(n, false);
	for (size_t i = 0; i < n->nlisten; i++)
		close(n->listen_fds[i]);
	memcpy(n->listen_fds, n->pending_fds, count * sizeof(int));
	memcpy(n->listen_tls, n->pending_tls, count * sizeof(bool));
	memcpy(n->listen_imap, n->pending_imap, count * sizeof(bool));
	n->nlisten = count;
	n->npending = 0;
	listeners_watch(n, true);
	xd_log(LOG_INFO, "network: %u listeners after reload", count);
}

static void on_master(struct net *n)
{
	struct xi_msg *m = malloc(sizeof(*m));
	int fd = -1, r;

	if (m == NULL)
		return;
	r = xi_msg_recv(n->master, m, &fd);
	if (r == 0) {
		n->stopping = true; /* master gone: stop */
	} else if (r > 0 && m->type == XI_MSG_TLS) {
		const uint8_t *cert, *key, *ca;
		size_t cl, kl, cal;
		if (xi_msg_bytes(m, &cert, &cl, XI_MSG_MAX) && xi_msg_bytes(m, &key, &kl, XI_MSG_MAX) &&
		    xi_msg_bytes(m, &ca, &cal, XI_MSG_MAX) && cl > 0) {
			SSL_CTX *ctx = xd_tls_ctx_new((const char *)cert, cl, (const char *)key, kl,
						      (const char *)ca, cal);
			if (ctx != NULL) {
				/* Connections keep a reference to the context they started with. */
				SSL_CTX_free(n->tls);
				n->tls = ctx;
				xd_log(LOG_INFO, "tls: certificates loaded");
			}
		}
		OPENSSL_cleanse(m->buf, m->len);
	} else if (r > 0 && m->type == XI_MSG_LIMITS) {
		struct xd_limits l;
		if (xd_limits_get(m, &l))
			apply_limits(n, &l);
		else
			xd_log(LOG_ERR, "network: malformed limits from the master");
	} else if (r > 0 && m->type == XI_MSG_LISTENER && fd >= 0) {
		listener_received(n, m, fd);
		fd = -1;
	} else if (r > 0 && m->type == XI_MSG_AUTH_SOCKET && fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = ((uint64_t)CONTROL_AUTH << 2) | KIND_CONTROL };
		/* At most one replaced auth process is waited for: requests still
		 * at an older one are answered as a temporary failure. */
		auth_lost(n, true);
		epoll_ctl(n->ep, EPOLL_CTL_DEL, n->auth, NULL);
		if (n->auth_dead) {
			/* It died: what it held is lost. */
			close(n->auth);
			n->auth = -1;
			auth_lost(n, false);
		} else {
			/* SIGHUP: its requests and NTLM exchanges finish there. */
			struct epoll_event ov = { .events = EPOLLIN,
						  .data.u64 = ((uint64_t)CONTROL_AUTH_OLD << 2) | KIND_CONTROL };
			n->auth_old = n->auth;
			epoll_ctl(n->ep, EPOLL_CTL_ADD, n->auth_old, &ov);
			for (uint32_t i = 0; i < n->nslots; i++) {
				struct conn *c = n->slots[i];
				if (c != NULL && (c->state == ST_WAIT_AUTH || c->state == ST_SASL_NTLM)) {
					c->old_auth = true;
					n->old_users++;
				}
			}
			if (n->old_users == 0)
				old_auth_close(n);
		}
		n->auth = fd;
		n->auth_dead = false;
		fd = -1;
		/* Non-blocking like the first: on_auth drains it in a loop (and may
		 * be called for an event of the old socket in this same batch). */
		fcntl(n->auth, F_SETFL, O_NONBLOCK);
		epoll_ctl(n->ep, EPOLL_CTL_ADD, n->auth, &ev);
	}
	if (fd >= 0)
		close(fd);
	free(m);
}

/* Requests and NTLM exchanges held by an auth process that is gone (old:
 * the replaced one; else the current one) are answered as a temporary
 * failure. */
static void auth_lost(struct net *n, bool old)
{
	for (uint32_t i = 0; i < n->nslots; i++) {
		struct conn *c = n->slots[i];
		if (c == NULL || c->old_auth != old ||
		    (c->state != ST_WAIT_AUTH && c->state != ST_SASL_NTLM))
			continue;
		old_auth_release(n, c);
		c->sasl_ntlm = false;
		c->state = ST_AUTHORIZATION;
		conn_tempfail(n, c);
		conn_update_events(n, c);
	}
	if (old) {
		n->old_users = 0;
		old_auth_close(n);
	}
}

static void on_auth(struct net *n, bool old)
{
	static struct xi_msg m;

	for (;;) {
		int sock = old ? n->auth_old : n->auth;
		int r = sock >= 0 ? xi_msg_recv(sock, &m, NULL) : -1;
		if (r <= 0) {
			if (r == 0 && old) {
				auth_lost(n, true);
			} else if (r == 0) {
				/* Auth process gone; the master starts a new one and sends its socket. */
				epoll_ctl(n->ep, EPOLL_CTL_DEL, n->auth, NULL);
				n->auth_dead = true;
			}
			return;
		}
		if (m.type == XI_MSG_AUTH_REPLY)
			handle_auth_reply(n, &m);
	}
}

/* Forgets sources with no connection whose failures are old, once a minute
 * (a source is otherwise freed when its last connection closes). */
static void sweep_sources(struct net *n, uint64_t now)
{
	if (now - n->last_sweep_ms < 60000)
		return;
	n->last_sweep_ms = now;
	for (unsigned h = 0; h < SOURCE_BUCKETS; h++) {
		struct source **pp = &n->sources[h];
		while (*pp != NULL) {
			struct source *s = *pp;
			if (s->conns == 0 && now - s->last_failure_ms >= SOURCE_FORGET_MS) {
				*pp = s->next;
				free(s);
			} else {
				pp = &s->next;
			}
		}
	}
}

static void expire(struct net *n)
{
	uint64_t now = now_ms();

	sweep_sources(n, now);

	struct conn *c;

	while ((c = idle_first(n)) != NULL && c->due_ms <= now) {
		if (c->state == ST_DELAY) {
			delayed_due(n, c);
			continue;
		}
		if (c->state == ST_WAIT_AUTH) {
			/* The auth process is slow (directory timeout): not idle. */
			idle_touch(n, c);
			continue;
		}
		if (c->state != ST_PROXY && c->imap)
			conn_sendf(n, c, "* BYE Idle for too long; closing the connection.");
		else if (c->state != ST_PROXY)
			conn_sendf(n, c, "-ERR " POP3_TEXT_IDLE);
		conn_close(n, c, "idle timeout");
	}
}

int xd_net_main(const struct xi_config *cfg, const int *listen_fds, const bool *listen_tls,
		const bool *listen_imap, size_t nlisten, int auth_sock, int master_sock)
{
	struct net *n = calloc(1, sizeof(*n));
	sigset_t mask;
	struct epoll_event ev;

	if (n == NULL)
		return 1;
	n->cfg = cfg;
	n->auth = auth_sock;
	n->auth_old = -1;
	n->master = master_sock;
	if (nlisten > XD_LISTEN_MAX)
		nlisten = XD_LISTEN_MAX;
	memcpy(n->listen_fds, listen_fds, nlisten * sizeof(int));
	memcpy(n->listen_tls, listen_tls, nlisten * sizeof(bool));
	memcpy(n->listen_imap, listen_imap, nlisten * sizeof(bool));
	n->nlisten = nlisten;
	{
		struct xd_limits l;
		xd_limits_from_config(cfg, &l);
		n->nslots = l.max_conns;
		/* Slot tables are allocated whole but only touched as slots are
		 * used: untouched pages cost no memory. */
		n->slots = calloc(n->nslots, sizeof(*n->slots));
		n->gens = calloc(n->nslots, sizeof(*n->gens));
		apply_limits(n, &l);
	}
	n->ep = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	n->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (n->slots == NULL || n->gens == NULL || n->ep < 0 || n->sigfd < 0) {
		xd_log(LOG_ERR, "network: cannot set up the event loop: %m");
		return 1;
	}
	fcntl(n->auth, F_SETFL, O_NONBLOCK);
	/* The master's first message says whether there is TLS (and with which
	 * certificates): take it before accepting anyone, so that the first
	 * client is offered STLS. */
	on_master(n);
	if (n->stopping)
		return 1;
	fcntl(n->master, F_SETFL, O_NONBLOCK);
	listeners_watch(n, true);
	ev.events = EPOLLIN;
	ev.data.u64 = ((uint64_t)CONTROL_SIGNAL << 2) | KIND_CONTROL;
	epoll_ctl(n->ep, EPOLL_CTL_ADD, n->sigfd, &ev);
	ev.data.u64 = ((uint64_t)CONTROL_AUTH << 2) | KIND_CONTROL;
	epoll_ctl(n->ep, EPOLL_CTL_ADD, n->auth, &ev);
	ev.data.u64 = ((uint64_t)CONTROL_MASTER << 2) | KIND_CONTROL;
	epoll_ctl(n->ep, EPOLL_CTL_ADD, n->master, &ev);

	while (!n->stopping) {
		struct epoll_event evs[64];
		int timeout = 60000, k;

		struct conn *first = idle_first(n);
		if (first != NULL) {
			uint64_t now = now_ms();
			timeout = first->due_ms <= now ? 0 : (int)(first->due_ms - now);
			if (timeout > 60000)
				timeout = 60000;
		}
		k = epoll_wait(n->ep, evs, 64, timeout);
		if (k < 0 && errno != EINTR) {
			xd_log(LOG_ERR, "epoll_wait: %m");
			break;
		}
		for (int i = 0; i < k; i++) {
			uint64_t d = evs[i].data.u64;
			uint32_t idx = (uint32_t)(d >> 2);
			switch (d & 3) {
			case KIND_LISTENER:
				on_listener(n, idx);
				break;
			case KIND_CLIENT:
				if (idx < n->nslots && n->slots[idx] != NULL)
					on_client(n, n->slots[idx], evs[i].events);
				break;
			case KIND_PROXY:
				if (idx < n->nslots && n->slots[idx] != NULL && n->slots[idx]->proxy_fd >= 0)
					on_proxy(n, n->slots[idx], evs[i].events);
				break;
			case KIND_CONTROL:
				if (idx == CONTROL_SIGNAL) {
					struct signalfd_siginfo si;
					while (read(n->sigfd, &si, sizeof(si)) == sizeof(si))
						if (si.ssi_signo != SIGHUP)
							n->stopping = true;
				} else if (idx == CONTROL_AUTH || idx == CONTROL_AUTH_OLD) {
					on_auth(n, idx == CONTROL_AUTH_OLD);
				} else {
					on_master(n);
				}
				break;
			}
		}
		expire(n);
	}
	/* Clean shutdown: close every connection (mail processes keep theirs). */
	for (uint32_t i = 0; i < n->nslots; i++)
		if (n->slots[i] != NULL)
			conn_free(n, n->slots[i]);
	for (unsigned h = 0; h < SOURCE_BUCKETS; h++)
		while (n->sources[h] != NULL) {
			struct source *s = n->sources[h];
			n->sources[h] = s->next;
			free(s);
		}
	SSL_CTX_free(n->tls);
	free(n->slots);
	free(n->gens);
	close(n->ep);
	close(n->sigfd);
	free(n);
	return 0;
}

/* ---------------------------------------------------------------- net_conn.h
 * What imap_login.c may do with a connection; the structures stay here. */

void xd_conn_send(struct net *n, struct conn *c, const char *text, size_t len)
{
	conn_send(n, c, text, len);
}

void xd_conn_auth_plain(struct net *n, struct conn *c, const char *name, const char *password)
{
	auth_plain(n, c, name, password);
}

void xd_conn_auth_ntlm(struct net *n, struct conn *c, const char *blob, size_t len)
{
	auth_ntlm(n, c, blob, len);
}

void xd_conn_sasl_ntlm_wait(struct net *n, struct conn *c)
{
	c->state = ST_SASL_NTLM;
	conn_update_events(n, c);
}

void xd_conn_auth_forget(struct net *n, struct conn *c)
{
	struct xi_msg *m = malloc(sizeof(*m));

	if (m != NULL) {
		xi_msg_init(m, XI_MSG_AUTH_FORGET, c->id);
		/* The auth process that holds the exchange: after a SIGHUP it
		 * may be the replaced one, which waits for this release. */
		(void)xi_msg_send(auth_of(n, c), m, -1);
		free(m);
	}
	old_auth_release(n, c);
	c->sasl_ntlm = false;
	c->state = ST_AUTHORIZATION;
}

void xd_conn_logon_failed(struct net *n, struct conn *c, const char *reply)
{
	logon_failed(n, c, reply);
}

bool xd_conn_starttls(struct net *n, struct conn *c)
{
	if (c->out.len > 0) {
		conn_close(n, c, "could not send the STARTTLS answer");
		return false;
	}
	/* What the client sent after STARTTLS came in clear text: drop it
	 * (RFC 3501 6.2.1, the STARTTLS injection). */
	buf_consume(&c->in, c->in.len);
	start_tls(n, c);
	return n->slots[c->id & SLOT_MASK] == c;
}

void xd_conn_start_session(struct net *n, struct conn *c, const uint8_t *token, const char *tag)
{
	start_session(n, c, token, tag);
}

void xd_conn_close(struct net *n, struct conn *c, const char *why)
{
	conn_close(n, c, why);
}

void xd_conn_closing(struct conn *c)
{
	c->state = ST_CLOSING;
}

bool xd_conn_tls_offered(const struct net *n, const struct conn *c)
{
	return n->tls != NULL && !c->tls;
}

bool xd_conn_tls_active(const struct conn *c)
{
	return c->tls;
}

void xd_conn_input(const struct conn *c, const char **data_r, size_t *len_r)
{
	*data_r = c->in.data;
	*len_r = c->in.len;
}

void xd_conn_consume(struct conn *c, size_t len)
{
	buf_consume(&c->in, len);
}

const char *xd_conn_remote(const struct conn *c)
{
	return c->src != NULL ? c->src->addr : "";
}

struct xd_imap_login **xd_conn_imap_state(struct conn *c)
{
	return &c->imap_login;
}

const struct xi_config *xd_net_config(const struct net *n)
{
	return n->cfg;
}

size_t xd_net_max_line(const struct net *n)
{
	return n->max_line;
}
