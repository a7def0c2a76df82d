/*
 * xidentd: the master process.  See xidentd.h for the process model.
 *
 *   xidentd -c FILE [-F] [-p PIDFILE]
 *
 * -F stays in the foreground (systemd, tests); otherwise it daemonizes.
 * SIGTERM/SIGINT: stop the network, auth and spawner processes and exit
 * (running mail sessions finish on their own).  SIGHUP: reread the config; a new
 * auth process takes over with it and the network process gets the
 * certificates, its limits and its listener set anew (opened and closed
 * as the config says; established sessions are not touched).  A config that
 * cannot be applied whole is refused and the running one kept.
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "privsep.h"
#include "session_count.h"
#include "spawner.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "outcome.h"

#define LISTEN_MAX XD_LISTEN_MAX
#define SPEC_MAX 128
#define GRANTS_MAX 256
#define GRANT_TTL_SECONDS 30
#define PEM_MAX (256 * 1024)

struct grant {
	bool used;
	time_t created;
	uint8_t token[XI_TOKEN_LEN];
	unsigned uid, gid;
	char protocol[16];
	char remote[64];
	char user[256];
	char home[1024];
	char maildir[1040];
};

struct listeners {
	int fds[LISTEN_MAX];
	bool tls[LISTEN_MAX];
	bool imap[LISTEN_MAX];           /* IMAP listener (else POP3) */
	char spec[LISTEN_MAX][SPEC_MAX]; /* as written in the config, to match on SIGHUP */
	size_t n;
};

struct master {
	const char *config_path;
	struct xi_config *cfg;
	struct listeners ls;
	unsigned run_uid, run_gid;
	pid_t net_pid, auth_pid;
	int net_sock;      /* master <-> network */
	int auth_sock;     /* master <- auth (grants) */
	int auth_sock_old; /* grants of the auth process a SIGHUP replaced, while it finishes */
	int sigfd;
	bool use_syslog;
	int spawner_exe;   /* xidentd-session, opened at start (an upgrade in place does not mix versions) */
	int spawner_sock;  /* master <-> spawner */
	pid_t spawner_pid;
	uint32_t next_key; /* provisional session keys, see session_count.h */
	size_t sessions;   /* sessions started and not ended */
	struct xd_sessions *live; /* the same, per user and remote (max_user_sessions) */
	pid_t retired_auth_pid; /* the auth process a SIGHUP replaced */
	struct grant grants[GRANTS_MAX];
	/* grants[grants_top..] are all unused: a lookup reads only the slots
	 * below (a grant is 2.6 KB; walking all 256 per session cost the
	 * master a cache and TLB miss per slot). */
	size_t grants_top;
};

/* The master's copy of the config holds the bind password; a child that
 * must not know it wipes it from its copy-on-write memory. */
static void forget_secrets(const struct xi_config *cfg)
{
	char *secret = (char *)xi_config_str(cfg, XI_CFG_LDAP_BIND_PASSWORD);

	if (secret != NULL)
		OPENSSL_cleanse(secret, strlen(secret));
}

static int open_listener(const char *spec, bool tls, bool imap, struct listeners *ls)
{
	char host[256];
	const char *port, *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST };
	struct addrinfo *ai = NULL;
	int fd, one = 1, r;
	size_t hl;
	const char *whole = spec;

	if (colon == NULL || colon == spec || ls->n >= LISTEN_MAX || strlen(spec) >= SPEC_MAX) {
		xd_log(LOG_ERR, "bad listener '%s' (want address:port)", spec);
		return -1;
	}
	port = colon + 1;
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		xd_log(LOG_ERR, "bad listener address in '%s'", spec);
		return -1;
	}
	memcpy(host, spec, hl);
	host[hl] = '\0';
	r = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints, &ai);
	if (r != 0) {
		xd_log(LOG_ERR, "bad listener '%s': %s", spec, gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		xd_log(LOG_ERR, "cannot listen on %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	ls->fds[ls->n] = fd;
	ls->tls[ls->n] = tls;
	ls->imap[ls->n] = imap;
	snprintf(ls->spec[ls->n], SPEC_MAX, "%s", whole);
	ls->n++;
	return 0;
}

/* The listeners cfg asks for, into next: sockets of cur with the same spec
 * and kind are reused (a kept listener is never closed, so no connection
 * waiting in its backlog is lost), others are opened.  cur may be next (at
 * start, when it is empty).  -1, logged, with next's newly opened sockets
 * closed, when one cannot be opened or there is none. */
static int listeners_for(const struct listeners *cur, const struct xi_config *cfg,
			 struct listeners *next)
{
	static const struct { enum xi_config_key key; bool tls, imap; const char *name; } kinds[] = {
		{ XI_CFG_POP3_LISTEN, false, false, "pop3_listen" },
		{ XI_CFG_POP3S_LISTEN, true, false, "pop3s_listen" },
		{ XI_CFG_IMAP_LISTEN, false, true, "imap_listen" },
		{ XI_CFG_IMAPS_LISTEN, true, true, "imaps_listen" },
	};
	struct listeners built = { .n = 0 };
	bool reused[LISTEN_MAX] = { false }, fresh[LISTEN_MAX] = { false };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t n;
		const char *const *specs = xi_config_list(cfg, kinds[k].key, &n);
		for (size_t i = 0; i < n; i++) {
			size_t j;
			for (j = 0; j < cur->n; j++)
				if (!reused[j] && cur->tls[j] == kinds[k].tls && cur->imap[j] == kinds[k].imap &&
				    strcmp(cur->spec[j], specs[i]) == 0)
					break;
			if (j < cur->n && built.n < LISTEN_MAX) {
				reused[j] = true;
				built.fds[built.n] = cur->fds[j];
				built.tls[built.n] = cur->tls[j];
				built.imap[built.n] = cur->imap[j];
				memcpy(built.spec[built.n], cur->spec[j], SPEC_MAX);
				built.n++;
			} else if (open_listener(specs[i], kinds[k].tls, kinds[k].imap, &built) == 0) {
				fresh[built.n - 1] = true;
			} else {
				goto fail;
			}
		}
		if (kinds[k].tls && n > 0 && xi_config_str(cfg, XI_CFG_TLS_CERT_FILE) == NULL) {
			xd_log(LOG_ERR, "%s needs tls_cert_file and tls_key_file", kinds[k].name);
			goto fail;
		}
	}
	if (built.n == 0) {
		xd_log(LOG_ERR, "no listeners: set pop3_listen, pop3s_listen, imap_listen and/or "
		       "imaps_listen");
		goto fail;
	}
	*next = built;
	return 0;
fail:
	for (size_t i = 0; i < built.n; i++)
		if (fresh[i])
			close(built.fds[i]);
	return -1;
}

static struct xi_config *load_config(const char *path)
{
	struct xi_config *cfg = NULL;
	struct xi_config_report rep = { 0 };

	if (xi_config_load(path, &cfg, &rep) < 0) {
		for (size_t i = 0; i < rep.count; i++) {
			char line[800];
			xi_config_problem_format(&rep.problems[i], line, sizeof(line));
			xd_log(LOG_ERR, "config: %s", line);
		}
		xi_config_report_free(&rep);
		return NULL;
	}
	xi_config_report_free(&rep);
	return cfg;
}

/* Sends the certificates to the network process (it cannot read files). */
static int send_tls(struct master *m)
{
	const char *cert = xi_config_str(m->cfg, XI_CFG_TLS_CERT_FILE);
	const char *key = xi_config_str(m->cfg, XI_CFG_TLS_KEY_FILE);
	const char *ca = xi_config_str(m->cfg, XI_CFG_TLS_CA_FILE);
	char *cp = NULL, *kp = NULL, *ap = NULL;
	size_t cl = 0, kl = 0, al = 0;
	struct xi_msg *msg;
	int ret = -1;

	if (cert == NULL && key == NULL) {
		/* Tell the network process there is none: it waits for this. */
		msg = malloc(sizeof(*msg));
		if (msg == NULL)
			return -1;
		xi_msg_init(msg, XI_MSG_TLS, 0);
		xi_msg_put(msg, "", 0);
		xi_msg_put(msg, "", 0);
		xi_msg_put(msg, "", 0);
		ret = xi_msg_send(m->net_sock, msg, -1);
		free(msg);
		return ret;
	}
	if (cert == NULL || key == NULL) {
		xd_log(LOG_ERR, "config: tls_cert_file and tls_key_file go together");
		return -1;
	}
	cp = xd_read_file(cert, PEM_MAX, &cl);
	kp = xd_read_file(key, PEM_MAX, &kl);
	if (ca != NULL)
		ap = xd_read_file(ca, PEM_MAX, &al);
	msg = malloc(sizeof(*msg));
	if (cp == NULL || kp == NULL || (ca != NULL && ap == NULL) || msg == NULL) {
		xd_log(LOG_ERR, "tls: cannot read %s: %m", cp == NULL ? cert : kp == NULL ? key : ca);
		goto out;
	}
	/* Check here too, so that a bad file is reported at start, not per client. */
	{
		SSL_CTX *ctx = xd_tls_ctx_new(cp, cl, kp, kl, ap, al);
		if (ctx == NULL)
			goto out;
		SSL_CTX_free(ctx);
	}
	xi_msg_init(msg, XI_MSG_TLS, 0);
	xi_msg_put(msg, cp, cl);
	xi_msg_put(msg, kp, kl);
	xi_msg_put(msg, ap, al);
	if (msg->bad) {
		xd_log(LOG_ERR, "tls: certificate files too large to pass on");
		goto out;
	}
	ret = xi_msg_send(m->net_sock, msg, -1);
	OPENSSL_cleanse(msg->buf, msg->len);
out:
	if (kp != NULL)
		OPENSSL_cleanse(kp, kl);
	free(cp);
	free(kp);
	free(ap);
	free(msg);
	return ret;
}

static void close_listeners(struct master *m)
{
	for (size_t i = 0; i < m->ls.n; i++)
		close(m->ls.fds[i]);
}

static void child_signals(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Die with the master: no orphaned network or auth process. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* The unprivileged children must not hold the spawner's socket: whoever
 * can write to it starts sessions as any user. */
static void close_spawner_fds(struct master *m)
{
	if (m->spawner_sock >= 0)
		close(m->spawner_sock);
	if (m->spawner_exe >= 0)
		close(m->spawner_exe);
}

/* Opens xidentd-session in the folder this program was run from. */
static int open_spawner_exe(void)
{
	char self[4096], path[4096 + sizeof(XD_SPAWNER_PROGRAM) + 1];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	int fd;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/%s", self, XD_SPAWNER_PROGRAM);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		xd_log(LOG_ERR, "cannot open %s: %m", path);
	return fd;
}

/* Runs the spawner (spawner.h): forked here, but exec'ed at once, so that
 * what it forks per session is a small process, not a copy of the master. */
static int start_spawner(struct master *m)
{
	int pair[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	if (pid == 0) {
		char fdarg[16];
		char *argv[] = { (char *)XD_SPAWNER_PROGRAM, (char *)"--spawner", fdarg,
				 m->use_syslog ? (char *)"--syslog" : NULL, NULL };
		child_signals(); /* PR_SET_PDEATHSIG survives the exec */
		snprintf(fdarg, sizeof(fdarg), "%d", pair[1]);
		if (fcntl(pair[1], F_SETFD, 0) < 0)
			_exit(127);
		/* Everything else the master holds is close-on-exec. */
		fexecve(m->spawner_exe, argv, environ);
		xd_log(LOG_ERR, "cannot run %s: %m", XD_SPAWNER_PROGRAM);
		_exit(127);
	}
	close(pair[1]);
	if (m->spawner_sock >= 0)
		close(m->spawner_sock);
	m->spawner_sock = pair[0];
	fcntl(m->spawner_sock, F_SETFL, O_NONBLOCK);
	m->spawner_pid = pid;
	return 0;
}

/* Forks the auth process; returns the network process's end of its socket. */
static int start_auth(struct master *m, bool keep_old)
{
	int to_net[2], to_master[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, to_net) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, to_master) < 0) {
		close(to_net[0]);
		close(to_net[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_signals();
		close_listeners(m);
		close(to_net[0]);
		close(to_master[0]);
		if (m->net_sock >= 0)
			close(m->net_sock);
		if (m->auth_sock >= 0)
			close(m->auth_sock);
		if (m->auth_sock_old >= 0)
			close(m->auth_sock_old);
		close(m->sigfd);
		close_spawner_fds(m);
		prctl(PR_SET_NAME, "xidentd-auth");
		if (xd_drop_privileges(m->run_uid, m->run_gid) < 0)
			_exit(1);
		_exit(xd_auth_main(m->cfg, to_net[1], to_master[1]));
	}
	close(to_net[1]);
	close(to_master[1]);
	if (m->auth_sock >= 0 && keep_old) {
		/* The replaced auth process finishes what it holds (the network
		 * process sends it no new work): its grants still count. */
		if (m->auth_sock_old >= 0)
			close(m->auth_sock_old);
		m->auth_sock_old = m->auth_sock;
	} else if (m->auth_sock >= 0) {
		close(m->auth_sock);
	}
	m->auth_sock = to_master[0];
	fcntl(m->auth_sock, F_SETFL, O_NONBLOCK); /* the master drains it in a loop */
	m->auth_pid = pid;
	return to_net[0];
}

static int start_net(struct master *m, int auth_end)
{
	int pair[2];
	pid_t pid;
	const char *root = xi_config_str(m->cfg, XI_CFG_XIDENTD_CHROOT);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_signals();
		close(pair[0]);
		close(m->auth_sock);
		close(m->sigfd);
		/* Above all here: the network process must never reach the spawner. */
		close_spawner_fds(m);
		prctl(PR_SET_NAME, "xidentd-net");
		forget_secrets(m->cfg);
		if (chroot(root) < 0 || chdir("/") < 0) {
			xd_log(LOG_ERR, "network: cannot chroot to %s: %m", root);
			_exit(1);
		}
		if (xd_drop_privileges(m->run_uid, m->run_gid) < 0)
			_exit(1);
		_exit(xd_net_main(m->cfg, m->ls.fds, m->ls.tls, m->ls.imap, m->ls.n, auth_end, pair[1]));
	}
	close(pair[1]);
	close(auth_end);
	m->net_sock = pair[0];
	fcntl(m->net_sock, F_SETFL, O_NONBLOCK);
	m->net_pid = pid;
	return 0;
}

/* Starts a new auth process and hands its socket to the network process
 * (after a SIGHUP, or when the old one died). */
static void replace_auth(struct master *m, bool keep_old)
{
	int end = start_auth(m, keep_old);
	struct xi_msg *msg;

	if (end < 0) {
		xd_log(LOG_ERR, "cannot start an auth process: %m");
		return;
	}
	msg = malloc(sizeof(*msg));
	if (msg != NULL) {
		xi_msg_init(msg, XI_MSG_AUTH_SOCKET, 0);
		if (xi_msg_send(m->net_sock, msg, end) < 0)
			xd_log(LOG_ERR, "cannot pass the auth socket to the network process: %m");
		free(msg);
	} else {
		xd_log(LOG_ERR, "cannot pass the auth socket to the network process: out of memory");
	}
	close(end);
}

/* The limits the network process applies (sent at start and on SIGHUP). */
static int send_limits(struct master *m)
{
	struct xi_msg *msg = malloc(sizeof(*msg));
	struct xd_limits l;
	int r = -1;

	if (msg == NULL)
		return -1;
	xd_limits_from_config(m->cfg, &l);
	xi_msg_init(msg, XI_MSG_LIMITS, 0);
	xd_limits_put(msg, &l);
	if (!msg->bad)
		r = xi_msg_send(m->net_sock, msg, -1);
	free(msg);
	return r;
}

/* The whole listener set, one socket per message; the network process
 * swaps sets when the last arrives. */
static int send_listeners(struct master *m)
{
	struct xi_msg *msg = malloc(sizeof(*msg));
	int r = 0;

	if (msg == NULL)
		return -1;
	for (size_t i = 0; i < m->ls.n && r == 0; i++) {
		xi_msg_init(msg, XI_MSG_LISTENER, 0);
		xi_msg_put_u32(msg, (uint32_t)i);
		xi_msg_put_u32(msg, (uint32_t)m->ls.n);
		xi_msg_put_u32(msg, m->ls.tls[i]);
		xi_msg_put_u32(msg, m->ls.imap[i]);
		r = xi_msg_send(m->net_sock, msg, m->ls.fds[i]);
	}
	free(msg);
	return r;
}

static bool listener_in(const struct listeners *ls, int fd)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->fds[i] == fd)
			return true;
	return false;
}

/* SIGHUP: reread the config; apply it whole, or (any error: a bad key, a
 * listener that cannot be opened, unreadable certificates) keep the old one
 * and log why.  Established sessions are not touched: mail processes run
 * on, the network process keeps its connections, kept listeners stay open. */
static void reload(struct master *m)
{
	struct xi_config *cfg = load_config(m->config_path), *old = m->cfg;
	struct listeners next;
	struct xi_event_levels lv;

	if (cfg == NULL) {
		xd_log(LOG_ERR, "reload: config has errors, keeping the old one");
		return;
	}
	if (listeners_for(&m->ls, cfg, &next) < 0) {
		xd_log(LOG_ERR, "reload: listeners of the new config cannot be opened, keeping the old one");
		xi_config_free(cfg);
		return;
	}
	m->cfg = cfg;
	if (send_tls(m) < 0) {
		m->cfg = old;
		for (size_t i = 0; i < next.n; i++)
			if (!listener_in(&m->ls, next.fds[i]))
				close(next.fds[i]);
		xi_config_free(cfg);
		xd_log(LOG_ERR, "reload: TLS certificates of the new config cannot be used, keeping the old one");
		return;
	}
	for (size_t i = 0; i < m->ls.n; i++)
		if (!listener_in(&next, m->ls.fds[i]))
			close(m->ls.fds[i]);
	m->ls = next;
	if (strcmp(xi_config_str(cfg, XI_CFG_XIDENTD_USER), xi_config_str(old, XI_CFG_XIDENTD_USER)) != 0 ||
	    strcmp(xi_config_str(cfg, XI_CFG_XIDENTD_CHROOT), xi_config_str(old, XI_CFG_XIDENTD_CHROOT)) != 0)
		xd_log(LOG_WARNING, "reload: xidentd_user and xidentd_chroot change at restart only");
	xi_config_free(old);
	xi_event_levels_from_config(m->cfg, &lv);
	xd_event_levels_set(&lv);
	/* The old auth process is not stopped: the network process closes its
	 * socket once the logons it holds are answered, and it exits then.  One
	 * replaced before it (a quick second SIGHUP) is stopped now. */
	if (m->retired_auth_pid > 0)
		kill(m->retired_auth_pid, SIGTERM);
	m->retired_auth_pid = m->auth_pid;
	replace_auth(m, true);
	if (send_limits(m) < 0 || send_listeners(m) < 0)
		xd_log(LOG_ERR, "reload: cannot pass limits or listeners to the network process: %m");
	xd_log(LOG_INFO, "reloaded %s (%zu listeners)", m->config_path, m->ls.n);
}

/* Takes the grants waiting on one auth socket. */
static void take_grants(struct master *m, int sock, struct xi_msg *msg)
{
	struct grant g = { 0 };
	const uint8_t *token;
	size_t tl;
	time_t now = time(NULL);

	while (sock >= 0 && xi_msg_recv(sock, msg, NULL) > 0) {
		if (msg->type != XI_MSG_GRANT || !xi_msg_bytes(msg, &token, &tl, XI_TOKEN_LEN) ||
		    tl != XI_TOKEN_LEN || !xi_msg_str(msg, g.protocol, sizeof(g.protocol)) ||
		    !xi_msg_str(msg, g.remote, sizeof(g.remote)) || !xi_msg_str(msg, g.user, sizeof(g.user)) ||
		    !xi_msg_u32(msg, &g.uid) || !xi_msg_u32(msg, &g.gid) ||
		    !xi_msg_str(msg, g.home, sizeof(g.home)) ||
		    !xi_msg_str(msg, g.maildir, sizeof(g.maildir)) || g.uid == 0 || g.gid == 0)
			continue;
		memcpy(g.token, token, XI_TOKEN_LEN);
		g.used = true;
		g.created = now;
		/* Reuse a free or expired slot; when all are live, the oldest goes. */
		size_t pick = 0;
		for (size_t i = 0; i < GRANTS_MAX; i++) {
			if (!m->grants[i].used || now - m->grants[i].created > GRANT_TTL_SECONDS) {
				pick = i;
				break;
			}
			if (m->grants[i].created < m->grants[pick].created)
				pick = i;
		}
		m->grants[pick] = g;
		if (pick >= m->grants_top)
			m->grants_top = pick + 1;
	}
	OPENSSL_cleanse(&g, sizeof(g));
}

/* Grants of the current auth process and of one a SIGHUP replaced. */
static void on_grant(struct master *m)
{
	struct xi_msg *msg = malloc(sizeof(*msg));

	if (msg == NULL)
		return;
	take_grants(m, m->auth_sock, msg);
	take_grants(m, m->auth_sock_old, msg);
	free(msg);
}

/* max_user_sessions: refuses (and tells the client, [IN-USE]) a session
 * beyond the user's limit from this address.  The master counts the mail
 * processes it forked, so neither the network process nor a client can
 * make the count lie. */
static bool over_user_limit(struct master *m, const struct grant *g, int fd, const char *tag)
{
	long long limit = xi_config_int(m->cfg, XI_CFG_MAX_USER_SESSIONS);
	size_t live;
	char value[64], text[XI_TEXT_VALUE_MAX * 2], line[XI_TEXT_VALUE_MAX * 2 + 32], cause[512];
	const char *args[1] = { value };
	const struct xi_outcome_info *info = xi_outcome_info(XI_OUTCOME_SESSION_LIMIT);
	struct xi_event ev;
	int len;

	if (limit <= 0 || (live = xd_sessions_count(m->live, g->user, g->remote)) < (size_t)limit)
		return false;
	snprintf(value, sizeof(value), "max_user_sessions = %lld", limit);
	xi_outcome_client_text(XI_OUTCOME_SESSION_LIMIT, args, 1, text, sizeof(text));
	if (strcmp(g->protocol, "imap") == 0)
		len = snprintf(line, sizeof(line), "%s NO [%s] %s\r\n", tag[0] ? tag : "*",
			       info->imap_code, text);
	else
		len = snprintf(line, sizeof(line), "-ERR [%s] %s\r\n", info->pop3_code, text);
	if (len > 0 && write(fd, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1) < 0) {
		/* the client is gone anyway */
	}
	snprintf(cause, sizeof(cause), "%zu sessions of %s from %s are open; max_user_sessions is %lld",
		 live, g->user, g->remote, limit);
	xi_event_from_outcome(&ev, XI_OUTCOME_SESSION_LIMIT, g->protocol);
	ev.remote = g->remote;
	ev.login = g->user;
	ev.cause = cause;
	xd_emit(&ev);
	return true;
}

/* A session ended (the spawner reaped it, or the master did after the
 * spawner died): key is its pid. */
static void session_ended(struct master *m, pid_t key)
{
	if (xd_sessions_remove(m->live, key) && m->sessions > 0)
		m->sessions--;
}

/* What the spawner reports: sessions started (or not) and ended. */
static void on_spawner(struct master *m)
{
	struct xi_msg *msg = malloc(sizeof(*msg));
	uint32_t key, pid;

	if (msg == NULL)
		return;
	while (m->spawner_sock >= 0 && xi_msg_recv(m->spawner_sock, msg, NULL) > 0) {
		if (msg->type == XI_MSG_SPAWNED && xi_msg_u32(msg, &key) && xi_msg_u32(msg, &pid) &&
		    key > 0 && key <= INT32_MAX && pid <= INT32_MAX) {
			if (pid == 0)
				session_ended(m, -(pid_t)key);
			else
				xd_sessions_rekey(m->live, -(pid_t)key, (pid_t)pid);
		} else if (msg->type == XI_MSG_ENDED && xi_msg_u32(msg, &pid) && pid > 0 && pid <= INT32_MAX) {
			session_ended(m, (pid_t)pid);
		}
	}
	free(msg);
}

/* Sends a session to the spawner.  Its socket is non-blocking (the master
 * drains it in a loop); when it is full, wait for room while taking what
 * the spawner reports, since it may be waiting for room on our side. */
static int spawner_send(struct master *m, const struct xi_msg *msg, int fd)
{
	for (int waited_ms = 0; m->spawner_sock >= 0; waited_ms += 50) {
		struct pollfd p = { .fd = m->spawner_sock, .events = POLLOUT | POLLIN };

		if (xi_msg_send(m->spawner_sock, msg, fd) == 0)
			return 0;
		if ((errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) || waited_ms >= 5000)
			return -1;
		if (poll(&p, 1, 50) > 0 && (p.revents & POLLIN))
			on_spawner(m);
	}
	errno = EPIPE;
	return -1;
}

static void start_mail(struct master *m, const struct grant *g, int fd, const char *pending,
		       size_t pending_len, const char *tag)
{
	struct xd_spawn *sp = NULL;
	struct xi_msg *msg = NULL;

	/* Logged-on sessions count against max_connections too: the network
	 * process forgets plain connections once they are handed over. */
	if (m->sessions >= (size_t)xi_config_int(m->cfg, XI_CFG_MAX_CONNECTIONS)) {
		char busy[XD_IMAP_TAG_MAX + 80];
		if (strcmp(g->protocol, "imap") == 0)
			snprintf(busy, sizeof(busy), "%s NO [UNAVAILABLE] Too many sessions; try again "
				 "later.\r\n", tag[0] ? tag : "*");
		else
			snprintf(busy, sizeof(busy), "-ERR [SYS/TEMP] Too many sessions; try again later.\r\n");
		if (write(fd, busy, strlen(busy)) < 0) {
			/* the client is gone anyway */
		}
		xd_log(LOG_WARNING, "event=11103 category=Connections severity=warning protocol=pop3 "
		       "login=%s cause=\"max_connections (%lld) sessions running\"", g->user,
		       xi_config_int(m->cfg, XI_CFG_MAX_CONNECTIONS));
		return;
	}
	if (over_user_limit(m, g, fd, tag))
		return;
	sp = malloc(sizeof(*sp));
	msg = malloc(sizeof(*msg));
	if (sp == NULL || msg == NULL)
		goto fail;
	*sp = (struct xd_spawn){ .uid = g->uid, .gid = g->gid,
				 .pending = (const uint8_t *)pending, .pending_len = pending_len };
	snprintf(sp->protocol, sizeof(sp->protocol), "%s", g->protocol);
	snprintf(sp->user, sizeof(sp->user), "%s", g->user);
	snprintf(sp->home, sizeof(sp->home), "%s", g->home);
	snprintf(sp->maildir, sizeof(sp->maildir), "%s", g->maildir);
	snprintf(sp->tag, sizeof(sp->tag), "%s", tag);
	sp->set.idle_s = (uint32_t)xi_config_int(m->cfg, XI_CFG_IDLE_TIMEOUT);
	sp->set.max_line = (uint32_t)xi_config_int(m->cfg, XI_CFG_MAX_LINE_LENGTH);
	sp->set.sessions = (uint32_t)xi_config_int(m->cfg, XI_CFG_MAIL_PROCESS_SESSIONS);
	/* The session counts from now on, under a provisional key until the
	 * spawner reports its pid: two logons in quick succession must not
	 * both pass max_user_sessions. */
	m->next_key = m->next_key >= INT32_MAX ? 1 : m->next_key + 1;
	sp->key = m->next_key;
	xd_spawn_put(msg, sp);
	if (msg->bad) {
		xd_log(LOG_ERR, "session %s: too much pending input to pass on", g->user);
		goto fail;
	}
	if (!xd_sessions_add(m->live, -(pid_t)sp->key, g->user, g->remote)) {
		xd_log(LOG_ERR, "session %s: out of memory", g->user);
		goto fail;
	}
	m->sessions++;
	if (spawner_send(m, msg, fd) < 0) {
		xd_log(LOG_ERR, "cannot pass a session for %s to the spawner: %m", g->user);
		if (xd_sessions_remove(m->live, -(pid_t)sp->key))
			m->sessions--;
		goto fail;
	}
	free(sp);
	free(msg);
	return;
fail:
	free(sp);
	free(msg);
	{
		char err[XD_IMAP_TAG_MAX + 80];
		if (strcmp(g->protocol, "imap") == 0)
			snprintf(err, sizeof(err), "%s NO [UNAVAILABLE] The mailbox is not available now.\r\n",
				 tag[0] ? tag : "*");
		else
			snprintf(err, sizeof(err), "-ERR [SYS/TEMP] The mailbox is not available now.\r\n");
		if (write(fd, err, strlen(err)) < 0) {
			/* the client is gone anyway */
		}
	}
}

static struct grant *find_grant(struct master *m, const uint8_t *token, time_t now)
{
	struct grant *g = NULL;

	for (size_t i = 0; i < m->grants_top; i++) {
		if (m->grants[i].used && now - m->grants[i].created <= GRANT_TTL_SECONDS &&
		    CRYPTO_memcmp(m->grants[i].token, token, XI_TOKEN_LEN) == 0)
			g = &m->grants[i];
	}
	return g;
}

static void on_session(struct master *m)
{
	struct xi_msg *msg = malloc(sizeof(*msg));
	const uint8_t *token, *pending;
	size_t tl, pl;
	uint32_t tls;
	int fd = -1;
	time_t now = time(NULL);

	if (msg == NULL)
		return;
	for (;;) {
		int r = xi_msg_recv(m->net_sock, msg, &fd);
		if (r <= 0)
			break;
		if (msg->type == XI_MSG_SESSION && fd >= 0 &&
		    xi_msg_bytes(msg, &token, &tl, XI_TOKEN_LEN) && tl == XI_TOKEN_LEN &&
		    xi_msg_u32(msg, &tls) && xi_msg_bytes(msg, &pending, &pl, XI_MSG_MAX)) {
			struct grant *g = find_grant(m, token, now);
			if (g == NULL) {
				/* This loop drains sessions that arrived after the
				 * grants were read; their grants were sent first, so
				 * they are waiting on the auth socket now. */
				on_grant(m);
				g = find_grant(m, token, now);
			}
			/* IMAP: the tag of the logon command, for the mail process's answer. */
			char tag[XD_IMAP_TAG_MAX];
			if (msg->pos >= msg->len || !xi_msg_str(msg, tag, sizeof(tag)))
				tag[0] = '\0';
			if (g != NULL) {
				start_mail(m, g, fd, (const char *)pending, pl, tag);
				/* A token opens one session. */
				OPENSSL_cleanse(g, sizeof(*g));
				while (m->grants_top > 0 && !m->grants[m->grants_top - 1].used)
					m->grants_top--;
			} else {
				xd_log(LOG_ERR, "network process presented an unknown session token");
			}
		}
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(msg);
}

static void reap(struct master *m, bool *net_died, bool *auth_died, bool *spawner_died)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		const char *what = "session";
		if (pid == m->net_pid) {
			*net_died = true;
			m->net_pid = 0;
			what = "network";
		} else if (pid == m->auth_pid) {
			*auth_died = true;
			m->auth_pid = 0;
			what = "auth";
		} else if (pid == m->retired_auth_pid) {
			m->retired_auth_pid = 0;
			what = "previous auth";
			on_grant(m); /* whatever it sent last */
			if (m->auth_sock_old >= 0) {
				close(m->auth_sock_old);
				m->auth_sock_old = -1;
			}
		} else if (pid == m->spawner_pid) {
			*spawner_died = true;
			m->spawner_pid = 0;
			what = "spawner";
		} else {
			/* A mail process whose spawner died before it: the master is
			 * the subreaper.  What the spawner reported last tells its pid. */
			on_spawner(m);
			session_ended(m, pid);
		}
		if (WIFSIGNALED(status))
			xd_log(LOG_WARNING, "process %d (%s) killed by signal %d", (int)pid, what,
			       WTERMSIG(status));
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: xidentd -c FILE [-F] [-p PIDFILE]\n"
			"  -c FILE     xident.conf (the plugin's and the CLI's file)\n"
			"  -F          stay in the foreground (systemd)\n"
			"  -p PIDFILE  write the master's pid there\n");
}

int main(int argc, char **argv)
{
	struct master m = { .net_sock = -1, .auth_sock = -1, .auth_sock_old = -1, .spawner_exe = -1,
			    .spawner_sock = -1 };
	const char *pidfile = NULL;
	bool foreground = false, stopping = false;
	struct xi_event_levels lv;
	sigset_t mask;
	int opt, auth_end;

	while ((opt = getopt(argc, argv, "c:Fp:h")) != -1) {
		switch (opt) {
		case 'c': m.config_path = optarg; break;
		case 'F': foreground = true; break;
		case 'p': pidfile = optarg; break;
		default: usage(); return 2;
		}
	}
	if (m.config_path == NULL || optind != argc) {
		usage();
		return 2;
	}
	m.cfg = load_config(m.config_path);
	if (m.cfg == NULL)
		return 2;
	m.use_syslog = xi_config_enum(m.cfg, XI_CFG_XIDENTD_LOG) == 1;
	xd_log_open(m.use_syslog);
	xi_event_levels_from_config(m.cfg, &lv);
	xd_event_levels_set(&lv);
	if (geteuid() != 0) {
		fprintf(stderr, "xidentd: must start as root (it drops privileges per process)\n");
		return 1;
	}
	if (xd_lookup_user(xi_config_str(m.cfg, XI_CFG_XIDENTD_USER), &m.run_uid, &m.run_gid) < 0 ||
	    m.run_uid == 0) {
		fprintf(stderr, "xidentd: xidentd_user '%s' does not exist or is root\n",
			xi_config_str(m.cfg, XI_CFG_XIDENTD_USER));
		return 1;
	}
	{
		const char *root = xi_config_str(m.cfg, XI_CFG_XIDENTD_CHROOT);
		if (!xd_chroot_ready(root)) {
			fprintf(stderr, "xidentd: xidentd_chroot %s must be a folder owned by root, "
					"writable by nobody else\n", root);
			return 1;
		}
	}
	m.spawner_exe = open_spawner_exe();
	if (m.spawner_exe < 0) {
		fprintf(stderr, "xidentd: cannot find %s next to xidentd (the reason is logged above)\n",
			XD_SPAWNER_PROGRAM);
		return 1;
	}
	if (listeners_for(&m.ls, m.cfg, &m.ls) < 0) {
		fprintf(stderr, "xidentd: cannot open the listeners (the reason is logged above)\n");
		return 1;
	}
	if (!foreground && daemon(0, 0) < 0) {
		perror("xidentd: daemon");
		return 1;
	}
	if (pidfile != NULL) {
		FILE *f = fopen(pidfile, "w");
		if (f != NULL) {
			fprintf(f, "%d\n", (int)getpid());
			fclose(f);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	m.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	m.live = xd_sessions_new();
	/* Mail processes whose spawner dies become ours, so they are still
	 * reaped and uncounted. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (m.sigfd < 0 || m.live == NULL || start_spawner(&m) < 0 || (auth_end = start_auth(&m, false)) < 0 ||
	    start_net(&m, auth_end) < 0 || send_tls(&m) < 0) {
		xd_log(LOG_ERR, "cannot start: %m");
		if (m.spawner_pid > 0)
			kill(m.spawner_pid, SIGTERM);
		if (m.net_pid > 0)
			kill(m.net_pid, SIGTERM);
		if (m.auth_pid > 0)
			kill(m.auth_pid, SIGTERM);
		return 1;
	}
	xd_log(LOG_INFO, "started: %zu listeners, network process %d, auth process %d", m.ls.n,
	       (int)m.net_pid, (int)m.auth_pid);

	while (!stopping) {
		struct pollfd p[5] = {
			{ .fd = m.sigfd, .events = POLLIN },
			{ .fd = m.auth_sock, .events = POLLIN },
			{ .fd = m.net_sock, .events = POLLIN },
			{ .fd = m.auth_sock_old, .events = POLLIN },
			{ .fd = m.spawner_sock, .events = POLLIN },
		};
		bool net_died = false, auth_died = false, spawner_died = false;

		if (poll(p, 5, -1) < 0 && errno != EINTR)
			break;
		/* Ends first, so that a user at max_user_sessions who logs off and
		 * on again is not refused. */
		if (p[4].revents & POLLIN)
			on_spawner(&m);
		if ((p[4].revents & (POLLHUP | POLLERR)) && !(p[4].revents & POLLIN)) {
			close(m.spawner_sock); /* it is gone; reap() starts a new one */
			m.spawner_sock = -1;
		}
		/* Grants first: the auth process sent a grant before its reply, so
		 * it is here before the network process can present the token. */
		if ((p[1].revents | p[3].revents) & POLLIN)
			on_grant(&m);
		if ((p[3].revents & (POLLHUP | POLLERR)) && !(p[3].revents & POLLIN)) {
			close(m.auth_sock_old); /* the replaced auth process is done */
			m.auth_sock_old = -1;
		}
		if (p[2].revents & POLLIN)
			on_session(&m);
		if (p[2].revents & (POLLHUP | POLLERR))
			net_died = true;
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(m.sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD) {
					reap(&m, &net_died, &auth_died, &spawner_died);
				} else if (si.ssi_signo == SIGHUP) {
					reload(&m);
				} else {
					stopping = true;
				}
			}
		}
		if (net_died && !stopping) {
			xd_log(LOG_ERR, "network process ended; stopping (systemd restarts us)");
			stopping = true;
		}
		if (auth_died && !stopping) {
			xd_log(LOG_ERR, "auth process ended; starting a new one");
			replace_auth(&m, false);
		}
		if (spawner_died) {
			/* Sessions it reported run on (and are reaped here); those it
			 * never reported did not start. */
			size_t lost;
			on_spawner(&m);
			lost = xd_sessions_remove_unstarted(m.live);
			m.sessions -= lost < m.sessions ? lost : m.sessions;
			if (m.spawner_sock >= 0)
				close(m.spawner_sock);
			m.spawner_sock = -1;
			if (!stopping) {
				xd_log(LOG_ERR, "spawner ended; starting a new one");
				if (start_spawner(&m) < 0)
					xd_log(LOG_ERR, "cannot start a spawner: %m");
			}
		}
	}
	if (m.net_pid > 0)
		kill(m.net_pid, SIGTERM);
	if (m.auth_pid > 0)
		kill(m.auth_pid, SIGTERM);
	if (m.spawner_sock >= 0)
		close(m.spawner_sock); /* the spawner exits at EOF; its sessions run on */
	if (m.spawner_pid > 0)
		kill(m.spawner_pid, SIGTERM);
	/* Wait for them so that the listeners are closed when we return. */
	for (int i = 0; i < 50 && (m.net_pid > 0 || m.auth_pid > 0 || m.spawner_pid > 0); i++) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0)
			break;
		if (pid == m.net_pid)
			m.net_pid = 0;
		if (pid == m.auth_pid)
			m.auth_pid = 0;
		if (pid == m.spawner_pid)
			m.spawner_pid = 0;
	}
	close_listeners(&m);
	if (pidfile != NULL)
		unlink(pidfile);
	xd_log(LOG_INFO, "stopped");
	xd_sessions_free(m.live);
	xi_config_free(m.cfg);
	close(m.spawner_exe);
	return 0;
}
