/*
 * xidentd-lmtp: xidentd's LMTP delivery server (RFC 2033) for the MTA.
 *
 *   xidentd-lmtp [-c FILE]
 *
 * Listens on every lmtp_listen entry (a unix socket path, or address:port)
 * and runs in the foreground.  Processes, privilege-separated like xidentd:
 *
 *   master     root: the config, the listeners; forks the others.
 *   resolver   one, as xidentd_user: the only process with the service
 *              bind password and the directory; answers recipient lookups
 *              from every session over a channel each session registers,
 *              several at once (lmtp_resolver_threads).
 *   deliverer  one per connection, root without secrets: never reads the
 *              network; takes length-checked requests from its protocol
 *              process, asks the resolver where a recipient's mail goes and
 *              forks a child per recipient that becomes the mailbox's
 *              uid/gid before it touches the Maildir.
 *   protocol   one per connection, as xidentd_user, chrooted to
 *              xidentd_chroot: the LMTP session with the MTA.
 *
 * So the code that parses what the network sends has neither the bind
 * password nor root nor access to any mailbox, and a recipient's mail is
 * written only where the resolver (not the protocol process) said.
 * Why a binary of its own rather than a listener of xidentd: an MTA talks to
 * it on a local socket, and a process per connection with blocking I/O is
 * simplest there; xidentd's network process is an event loop built for many
 * idle clients, which LMTP does not have.
 *
 * SIGTERM or SIGINT: stop accepting, remove the unix sockets, exit.  SIGHUP
 * is ignored (no reload: restart).
 */
#define _GNU_SOURCE /* accept4, memfd_create, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "event.h"
#include "lmtp.h"
#include "lmtp_deliver.h"
#include "privsep.h"
#include "resolver.h"
#include "xidentd.h"

#define LISTEN_MAX 8
#define IDLE_TIMEOUT_MS (300 * 1000)   /* RFC 5321 4.5.3.2.7: 5 minutes */
#define MESSAGE_MAX ((size_t)64 << 20)
#define RCPT_MAX 100
/* sessions at once: an MTA opens a few; each is a process */
#define SESSIONS_MAX 64
/* recipients a deliverer remembers: more than one transaction holds */
#define TARGETS 256
#define DEFAULT_CONFIG "/etc/xident/xident.conf"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void log_event(void *ctx, const struct xi_event *ev, const char *line)
{
	(void)ctx;
	(void)ev;
	fprintf(stderr, "%s\n", line);
}

struct listener {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix socket, else "" */
};

static int listen_unix(const char *path, struct listener *l)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "xidentd-lmtp: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)unlink(path);  /* a socket left by a previous run */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 64) < 0) {
		fprintf(stderr, "xidentd-lmtp: %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	l->fd = fd;
	strcpy(l->path, path);
	return 0;
}

static int listen_tcp(const char *spec, struct listener *l)
{
	char host[256];
	const char *colon = strrchr(spec, ':'), *h = spec;
	size_t hl;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *ai;
	int fd, one = 1;

	if (colon == NULL || colon == spec) {
		fprintf(stderr, "xidentd-lmtp: lmtp_listen: not a path or address:port: %s\n", spec);
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
		fprintf(stderr, "xidentd-lmtp: lmtp_listen: bad address: %s\n", spec);
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "xidentd-lmtp: %s: %s\n", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	l->fd = fd;
	l->path[0] = '\0';
	return 0;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void forget_secrets(const struct xi_config *cfg)
{
	char *secret = (char *)xi_config_str(cfg, XI_CFG_LDAP_BIND_PASSWORD);

	if (secret != NULL)
		OPENSSL_cleanse(secret, strlen(secret));
}

/* Sends m on sock and waits for the answer into m; false on any failure. */
static bool ask(int sock, struct xi_msg *m, uint32_t want, int fd)
{
	if (m->bad || xi_msg_send(sock, m, fd) < 0)
		return false;
	return xi_msg_recv(sock, m, NULL) > 0 && m->type == want;
}

/* ------------------------------------------------------------ resolver */

/* The resolver process: answers every session's lookups.  The main thread
 * polls the sessions' channels and queues each request; lmtp_resolver_threads
 * workers resolve them on the one thread-safe resolver (one LDAP pool), so a
 * directory slow to answer for one recipient holds up that delivery only.
 * A deliverer asks one question at a time and waits, so a channel has at
 * most one request in flight: the queue is bounded by SESSIONS_MAX, and a
 * channel is not polled (so never closed) while a worker owns it; the
 * worker hands it back through the done list and a wakeup pipe. */
struct lookup {
	struct lookup *next;
	int fd;               /* the session's channel */
	uint32_t conn;
	char remote[NI_MAXHOST];
	char address[LMTP_ADDRESS_MAX + 1];
};

struct lookups {
	const struct xi_config *cfg;
	struct xi_resolver *resolver;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct lookup *head, *tail;   /* waiting for a worker */
	struct lookup *done;          /* answered: channels to poll again */
	int wake[2];                  /* a worker wrote to done */
	bool closing;
};

static void answer(struct lookups *q, struct lookup *l, struct xi_msg *m)
{
	struct lmtp_rcpt_target t;
	char reply[600];
	bool ok = lmtp_resolve_rcpt(q->cfg, q->resolver, l->remote, l->address, &t, reply,
				    sizeof(reply));

	xi_msg_init(m, XI_MSG_LMTP_RCPT_REPLY, l->conn);
	xi_msg_put_u32(m, ok);
	xi_msg_put_str(m, ok ? "" : reply);
	xi_msg_put_u32(m, ok ? t.uid : 0);
	xi_msg_put_u32(m, ok ? t.gid : 0);
	xi_msg_put_str(m, ok ? t.user : "");
	xi_msg_put_str(m, ok ? t.maildir : "");
	(void)xi_msg_send(l->fd, m, -1);
}

static void *lookup_worker(void *arg)
{
	struct lookups *q = arg;
	struct xi_msg m; /* on the thread's stack (8 MiB): no allocation to fail */

	for (;;) {
		struct lookup *l;

		pthread_mutex_lock(&q->lock);
		while (q->head == NULL && !q->closing)
			pthread_cond_wait(&q->cond, &q->lock);
		l = q->head;
		if (l != NULL && (q->head = l->next) == NULL)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);
		if (l == NULL)
			break; /* closing, and nothing left */
		answer(q, l, &m);
		pthread_mutex_lock(&q->lock);
		l->next = q->done;
		q->done = l;
		pthread_mutex_unlock(&q->lock);
		while (write(q->wake[1], "", 1) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

static void queue_lookup(struct lookups *q, struct lookup *l)
{
	l->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail != NULL)
		q->tail->next = l;
	else
		q->head = l;
	q->tail = l;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* p[2..n): the channels; a negative fd is one a worker owns (poll skips it). */
static void channels_hand_back(struct lookups *q, struct pollfd *p, size_t n)
{
	struct lookup *done;
	char drain[64];

	while (read(q->wake[0], drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&q->lock);
	done = q->done;
	q->done = NULL;
	pthread_mutex_unlock(&q->lock);
	while (done != NULL) {
		struct lookup *l = done;
		done = l->next;
		for (size_t i = 2; i < n; i++)
			if (p[i].fd == -1 - l->fd)
				p[i].fd = l->fd;
		free(l);
	}
}

static int resolver_main(const struct xi_config *cfg, int reg)
{
	struct lookups q = { .cfg = cfg, .wake = { -1, -1 } };
	struct xi_error err;
	struct pollfd p[SESSIONS_MAX * 2 + 2];
	size_t n = 2, nthreads = (size_t)xi_config_int(cfg, XI_CFG_LMTP_RESOLVER_THREADS), started = 0;
	pthread_t threads[64];
	struct xi_msg *m = malloc(sizeof(*m));
	int ret = 0;

	xi_error_clear(&err);
	if (nthreads > sizeof(threads) / sizeof(threads[0]))
		nthreads = sizeof(threads) / sizeof(threads[0]);
	if (m == NULL || pipe2(q.wake, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    xi_resolver_create(cfg, log_event, NULL, &q.resolver, &err) < 0) {
		fprintf(stderr, "xidentd-lmtp: resolver: %s\n",
			m == NULL || q.wake[0] < 0 ? "out of memory" : err.message);
		if (q.wake[0] >= 0) {
			close(q.wake[0]);
			close(q.wake[1]);
		}
		free(m);
		return 1;
	}
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.cond, NULL);
	for (; started < nthreads; started++)
		if (pthread_create(&threads[started], NULL, lookup_worker, &q) != 0)
			break;
	if (started == 0) {
		fprintf(stderr, "xidentd-lmtp: resolver: cannot start a thread\n");
		ret = 1;
	}
	p[0].fd = reg;
	p[0].events = POLLIN;
	p[1].fd = q.wake[0];
	p[1].events = POLLIN;
	while (ret == 0) {
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & (POLLHUP | POLLERR))
			break; /* the master is gone */
		if (p[1].revents & POLLIN)
			channels_hand_back(&q, p, n);
		if (p[0].revents & POLLIN) {
			int fd = -1;
			if (xi_msg_recv(reg, m, &fd) > 0 && m->type == XI_MSG_LMTP_REGISTER && fd >= 0) {
				if (n < sizeof(p) / sizeof(p[0])) {
					p[n].fd = fd;
					p[n].events = POLLIN;
					p[n].revents = 0;
					n++;
					fd = -1;
				}
			}
			if (fd >= 0)
				close(fd);
		}
		for (size_t i = 2; i < n; i++) {
			struct lookup *l;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			l = calloc(1, sizeof(*l));
			if (l == NULL || xi_msg_recv(p[i].fd, m, NULL) <= 0 ||
			    m->type != XI_MSG_LMTP_RCPT || !xi_msg_str(m, l->remote, sizeof(l->remote)) ||
			    !xi_msg_str(m, l->address, sizeof(l->address))) {
				/* gone, or a request a deliverer never sends */
				free(l);
				close(p[i].fd);
				p[i].revents = 0;
				p[i--] = p[--n];
				continue;
			}
			l->fd = p[i].fd;
			l->conn = m->conn;
			p[i].fd = -1 - l->fd;
			queue_lookup(&q, l);
		}
	}
	pthread_mutex_lock(&q.lock);
	q.closing = true;
	pthread_cond_broadcast(&q.cond);
	pthread_mutex_unlock(&q.lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	channels_hand_back(&q, p, n);
	for (size_t i = 2; i < n; i++)
		close(p[i].fd < 0 ? -1 - p[i].fd : p[i].fd);
	close(q.wake[0]);
	close(q.wake[1]);
	pthread_mutex_destroy(&q.lock);
	pthread_cond_destroy(&q.cond);
	free(m);
	xi_resolver_destroy(q.resolver);
	return ret;
}

/* ------------------------------------------------------------ protocol */

struct proto {
	int chan;             /* to the deliverer */
	struct xi_msg m;
};

static bool proto_rcpt(void *ctx, const char *address, void **rcpt_ctx, char *reply, size_t size)
{
	struct proto *p = ctx;
	uint32_t ok = 0, id = 0;
	uint32_t *keep;

	xi_msg_init(&p->m, XI_MSG_LMTP_RCPT, 0);
	xi_msg_put_str(&p->m, address);
	if (!ask(p->chan, &p->m, XI_MSG_LMTP_RCPT_REPLY, -1) || !xi_msg_u32(&p->m, &ok) ||
	    !xi_msg_str(&p->m, reply, size) || !xi_msg_u32(&p->m, &id)) {
		snprintf(reply, size, "451 4.3.0 <%s> The delivery service is unavailable; try again later.",
			 address);
		return false;
	}
	if (!ok)
		return false;
	keep = malloc(sizeof(*keep));
	if (keep == NULL) {
		snprintf(reply, size, "451 4.3.0 <%s> Out of memory", address);
		return false;
	}
	*keep = id;
	*rcpt_ctx = keep;
	return true;
}

static void proto_deliver(void *ctx, void *rcpt_ctx, const char *address, const char *sender,
			  const uint8_t *data, size_t len, char *reply, size_t size)
{
	struct proto *p = ctx;
	int fd = memfd_create("lmtp-message", MFD_CLOEXEC);
	size_t off = 0;

	(void)sender;
	while (fd >= 0 && off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			fd = -1;
			break;
		}
		off += (size_t)w;
	}
	xi_msg_init(&p->m, XI_MSG_LMTP_DATA, 0);
	xi_msg_put_u32(&p->m, *(const uint32_t *)rcpt_ctx);
	xi_msg_put_str(&p->m, address);
	if (fd < 0 || !ask(p->chan, &p->m, XI_MSG_LMTP_DATA_REPLY, fd) ||
	    !xi_msg_str(&p->m, reply, size))
		snprintf(reply, size, "451 4.3.0 <%s> The delivery service is unavailable; try again later.",
			 address);
	if (fd >= 0)
		close(fd);
}

static void proto_rcpt_free(void *ctx, void *rcpt_ctx)
{
	(void)ctx;
	free(rcpt_ctx);
}

static const struct lmtp_callbacks proto_callbacks = { proto_rcpt, proto_deliver, proto_rcpt_free };

/* The protocol process: the LMTP session with the MTA. */
static int protocol_main(const struct xi_config *cfg, int fd, int chan)
{
	struct lmtp_settings set = { .line_max = (size_t)xi_config_int(cfg, XI_CFG_MAX_LINE_LENGTH),
				     .size_max = MESSAGE_MAX, .rcpt_max = RCPT_MAX };
	struct proto *p = calloc(1, sizeof(*p));
	struct lmtp_session *s;
	char host[256], buf[16384];

	if (p == NULL)
		return 1;
	p->chan = chan;
	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	set.hostname = host;
	s = lmtp_session_new(&set, &proto_callbacks, p);
	if (s == NULL) {
		free(p);
		return 1;
	}
	for (;;) {
		size_t n;
		const char *out = lmtp_session_output(s, &n);
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (n > 0) {
			if (!write_all(fd, out, n))
				break;
			lmtp_session_output_consume(s, n);
		}
		if (lmtp_session_finished(s))
			break;
		r = poll(&pf, 1, IDLE_TIMEOUT_MS);
		if (r == 0) {
			static const char idle[] = "421 4.4.2 Idle timeout, closing connection\r\n";
			(void)write_all(fd, idle, sizeof(idle) - 1);
			break;
		}
		if (r < 0 && errno == EINTR)
			continue;
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || lmtp_session_input(s, buf, (size_t)r) < 0)
			break;
	}
	lmtp_session_free(s);
	free(p);
	return 0;
}

/* ------------------------------------------------------------ deliverer */

struct target_slot {
	uint32_t id;          /* 0: empty */
	struct lmtp_rcpt_target t;
};

/* Reads the protocol process's message (a memfd it may still change: read
 * into our own memory, never mapped). */
static uint8_t *read_message(int fd, size_t *len_r)
{
	struct stat st;
	uint8_t *data;
	size_t off = 0;

	if (fstat(fd, &st) < 0 || st.st_size < 0 || (size_t)st.st_size > MESSAGE_MAX ||
	    (data = malloc((size_t)st.st_size + 1)) == NULL)
		return NULL;
	while (off < (size_t)st.st_size) {
		ssize_t r = pread(fd, data + off, (size_t)st.st_size - off, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	*len_r = off;
	return data;
}

/* The deliverer: root, no secrets, no network input. */
static int deliverer_main(int proto, int res, const char *remote)
{
	struct xi_msg *m = malloc(sizeof(*m)), *q = malloc(sizeof(*q));
	struct target_slot *slots = calloc(TARGETS, sizeof(*slots));
	uint32_t next_id = 0;

	if (m == NULL || q == NULL || slots == NULL) {
		free(m);
		free(q);
		free(slots);
		return 1;
	}
	for (;;) {
		/* address starts empty: a malformed request is answered with
		 * it, and no stack bytes may travel back to the protocol process. */
		char address[LMTP_ADDRESS_MAX + 1] = "", reply[600];
		int fd = -1;

		if (xi_msg_recv(proto, m, &fd) <= 0)
			break;
		if (m->type == XI_MSG_LMTP_RCPT && xi_msg_str(m, address, sizeof(address))) {
			uint32_t ok = 0;
			struct target_slot *slot;

			if (++next_id == 0)
				next_id = 1;
			slot = &slots[next_id % TARGETS];
			memset(slot, 0, sizeof(*slot));
			xi_msg_init(q, XI_MSG_LMTP_RCPT, 0);
			xi_msg_put_str(q, remote);
			xi_msg_put_str(q, address);
			if (!ask(res, q, XI_MSG_LMTP_RCPT_REPLY, -1) || !xi_msg_u32(q, &ok) ||
			    !xi_msg_str(q, reply, sizeof(reply)) || !xi_msg_u32(q, &slot->t.uid) ||
			    !xi_msg_u32(q, &slot->t.gid) || !xi_msg_str(q, slot->t.user, sizeof(slot->t.user)) ||
			    !xi_msg_str(q, slot->t.maildir, sizeof(slot->t.maildir))) {
				ok = 0;
				snprintf(reply, sizeof(reply), "451 4.3.0 <%s> The directory cannot be asked "
					 "now; try again later.", address);
			}
			if (ok && (slot->t.uid == 0 || slot->t.gid == 0)) {
				ok = 0; /* never deliver as root, whatever the directory says */
				snprintf(reply, sizeof(reply), "451 4.3.5 <%s> The mailbox is not available "
					 "now; the administrator has been told.", address);
			}
			if (ok)
				slot->id = next_id;
			xi_msg_init(m, XI_MSG_LMTP_RCPT_REPLY, 0);
			xi_msg_put_u32(m, ok);
			xi_msg_put_str(m, ok ? "" : reply);
			xi_msg_put_u32(m, ok ? next_id : 0);
			(void)xi_msg_send(proto, m, -1);
		} else if (m->type == XI_MSG_LMTP_DATA && fd >= 0) {
			uint32_t id = 0;
			struct target_slot *slot = NULL;
			uint8_t *data = NULL;
			size_t len = 0;

			if (xi_msg_u32(m, &id) && xi_msg_str(m, address, sizeof(address)) && id != 0 &&
			    slots[id % TARGETS].id == id)
				slot = &slots[id % TARGETS];
			if (slot == NULL)
				snprintf(reply, sizeof(reply), "451 4.3.0 <%s> Unknown recipient", address);
			else if ((data = read_message(fd, &len)) == NULL)
				snprintf(reply, sizeof(reply), "451 4.3.0 <%s> Cannot read the message", address);
			else
				lmtp_deliver_message(&slot->t, address, data, len, reply, sizeof(reply));
			free(data);
			xi_msg_init(m, XI_MSG_LMTP_DATA_REPLY, 0);
			xi_msg_put_str(m, reply);
			(void)xi_msg_send(proto, m, -1);
		} else {
			fprintf(stderr, "xidentd-lmtp: malformed request from a protocol process\n");
			if (fd >= 0)
				close(fd);
			break;
		}
		if (fd >= 0)
			close(fd);
	}
	free(m);
	free(q);
	free(slots);
	return 0;
}

/* ------------------------------------------------------------ master */

struct lmtp_master {
	struct xi_config *cfg;
	unsigned run_uid, run_gid;
	const char *chroot;
	int reg[2];           /* [0] the resolver reads, [1] sessions register on */
	pid_t resolver;
};

static pid_t start_resolver(struct lmtp_master *lm, const struct listener *ls, size_t nl)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	for (size_t j = 0; j < nl; j++)
		close(ls[j].fd);
	close(lm->reg[1]);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	prctl(PR_SET_NAME, "xlmtp-resolver");
	if (xd_drop_privileges(lm->run_uid, lm->run_gid) < 0)
		_exit(1);
	int rc = resolver_main(lm->cfg, lm->reg[0]);
	xi_config_free(lm->cfg);
	exit(rc);
}

/* One connection: the deliverer (this process) and its protocol child. */
static int session_main(struct lmtp_master *lm, int fd, const char *remote)
{
	struct xi_msg *m = malloc(sizeof(*m));
	int res[2], proto[2], rc;
	pid_t pid;

	forget_secrets(lm->cfg);
	prctl(PR_SET_NAME, "xlmtp-deliver");
	if (m == NULL || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, res) < 0) {
		free(m);
		return 1;
	}
	xi_msg_init(m, XI_MSG_LMTP_REGISTER, 0);
	rc = xi_msg_send(lm->reg[1], m, res[1]);
	free(m);
	close(res[1]);
	close(lm->reg[1]);
	close(lm->reg[0]);
	if (rc < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, proto) < 0) {
		static const char busy[] = "421 4.3.0 Delivery service not available\r\n";
		(void)write_all(fd, busy, sizeof(busy) - 1);
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		close(res[0]);
		close(proto[0]);
		prctl(PR_SET_NAME, "xlmtp-protocol");
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (chroot(lm->chroot) < 0 || chdir("/") < 0 ||
		    xd_drop_privileges(lm->run_uid, lm->run_gid) < 0) {
			fprintf(stderr, "xidentd-lmtp: cannot chroot to %s as %u:%u: %s\n", lm->chroot,
				lm->run_uid, lm->run_gid, strerror(errno));
			_exit(1);
		}
		rc = protocol_main(lm->cfg, fd, proto[1]);
		close(fd);
		xi_config_free(lm->cfg);
		/* _exit: in the chroot there is no /proc, where the sanitizer
		 * build's leak checker would look at exit (xidentd's chrooted
		 * network process ends the same way). */
		_exit(rc);
	}
	close(fd);
	close(proto[1]);
	rc = pid < 0 ? 1 : deliverer_main(proto[0], res[0], remote);
	close(proto[0]);
	close(res[0]);
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	return rc;
}

int main(int argc, char **argv)
{
	const char *config_path = DEFAULT_CONFIG;
	struct xi_config_report report = { 0 };
	struct lmtp_master lm = { .reg = { -1, -1 } };
	struct listener ls[LISTEN_MAX];
	struct pollfd pfd[LISTEN_MAX];
	const char *const *specs;
	struct sigaction sa = { .sa_handler = on_stop };
	size_t n, i, nl = 0;
	unsigned sessions = 0;
	int c;

	while ((c = getopt(argc, argv, "c:F")) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'F': break; /* always in the foreground; accepted like xidentd */
		default:
			fprintf(stderr, "usage: xidentd-lmtp [-c FILE]\n");
			return 64;
		}
	}
	if (xi_config_load(config_path, &lm.cfg, &report) < 0) {
		char line[sizeof(report.problems[0].file) + sizeof(report.problems[0].reason) + 16];
		for (i = 0; i < report.count; i++) {
			xi_config_problem_format(&report.problems[i], line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
		xi_config_report_free(&report);
		return 78;
	}
	xi_config_report_free(&report);
	xd_log_open(false);
	if (geteuid() != 0) {
		fprintf(stderr, "xidentd-lmtp: must start as root (it drops privileges per process)\n");
		xi_config_free(lm.cfg);
		return 77;
	}
	if (xd_lookup_user(xi_config_str(lm.cfg, XI_CFG_XIDENTD_USER), &lm.run_uid, &lm.run_gid) < 0 ||
	    lm.run_uid == 0) {
		fprintf(stderr, "xidentd-lmtp: xidentd_user '%s' does not exist or is root\n",
			xi_config_str(lm.cfg, XI_CFG_XIDENTD_USER));
		xi_config_free(lm.cfg);
		return 78;
	}
	lm.chroot = xi_config_str(lm.cfg, XI_CFG_XIDENTD_CHROOT);
	if (!xd_chroot_ready(lm.chroot)) {
		fprintf(stderr, "xidentd-lmtp: xidentd_chroot %s must be a folder owned by root, "
				"writable by nobody else\n", lm.chroot);
		xi_config_free(lm.cfg);
		return 78;
	}
	specs = xi_config_list(lm.cfg, XI_CFG_LMTP_LISTEN, &n);
	if (n == 0 || n > LISTEN_MAX) {
		fprintf(stderr, "xidentd-lmtp: lmtp_listen must name 1 to %d listeners\n", LISTEN_MAX);
		xi_config_free(lm.cfg);
		return 78;
	}
	for (i = 0; i < n; i++) {
		int rc = specs[i][0] == '/' ? listen_unix(specs[i], &ls[nl]) : listen_tcp(specs[i], &ls[nl]);
		if (rc < 0)
			goto out;
		pfd[nl].fd = ls[nl].fd;
		pfd[nl].events = POLLIN;
		nl++;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* no reload yet: a SIGHUP meant for xidentd must not stop delivery */
	signal(SIGHUP, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lm.reg) < 0 ||
	    (lm.resolver = start_resolver(&lm, ls, nl)) < 0) {
		fprintf(stderr, "xidentd-lmtp: cannot start the resolver process: %s\n", strerror(errno));
		goto out;
	}
	fprintf(stderr, "xidentd-lmtp: listening on %zu socket(s), resolver process %d\n", nl,
		(int)lm.resolver);

	while (!stop_requested) {
		int r = poll(pfd, nl, 1000);
		pid_t done;

		while ((done = waitpid(-1, NULL, WNOHANG)) > 0) {
			if (done == lm.resolver) {
				fprintf(stderr, "xidentd-lmtp: resolver process ended; starting a new one\n");
				lm.resolver = start_resolver(&lm, ls, nl);
			} else if (sessions > 0) {
				sessions--;
			}
		}
		if (r <= 0)
			continue;
		for (i = 0; i < nl; i++) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			char remote[NI_MAXHOST] = "local";
			pid_t pid;
			int fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(ls[i].fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
			if (fd < 0)
				continue;
			if (ss.ss_family != AF_UNIX)
				(void)getnameinfo((struct sockaddr *)&ss, sl, remote, sizeof(remote),
						  NULL, 0, NI_NUMERICHOST);
			if (sessions >= SESSIONS_MAX) {
				static const char full[] = "421 4.3.2 Too many connections, try again later\r\n";
				(void)write_all(fd, full, sizeof(full) - 1);
				close(fd);
				continue;
			}
			pid = fork();
			if (pid == 0) {
				size_t j;
				for (j = 0; j < nl; j++)
					close(ls[j].fd);
				signal(SIGTERM, SIG_DFL);
				signal(SIGINT, SIG_DFL);
				/* exit, not _exit: the leak checker of the sanitizer
				 * build runs at exit and should see each session */
				int rc = session_main(&lm, fd, remote);
				xi_config_free(lm.cfg);
				exit(rc);
			}
			if (pid < 0)
				fprintf(stderr, "xidentd-lmtp: fork: %s\n", strerror(errno));
			else
				sessions++;
			close(fd);
		}
	}
out:
	for (i = 0; i < nl; i++) {
		close(ls[i].fd);
		if (ls[i].path[0] != '\0')
			(void)unlink(ls[i].path);
	}
	if (lm.resolver > 0)
		kill(lm.resolver, SIGTERM);
	if (lm.reg[0] >= 0) {
		close(lm.reg[0]);
		close(lm.reg[1]);
	}
	xi_config_free(lm.cfg);
	return stop_requested ? 0 : 1;
}
