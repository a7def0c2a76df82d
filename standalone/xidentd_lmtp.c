/*
 * xidentd-lmtp: xidentd's LMTP delivery server (RFC 2033) for the MTA.
 *
 *   xidentd-lmtp [-c FILE]
 *
 * Listens on every lmtp_listen entry (a unix socket path, or address:port),
 * runs in the foreground, one process per connection.  A connection's
 * process resolves recipients through libxident (lmtp_deliver.c) and forks
 * one short-lived child per recipient that becomes the mailbox's uid/gid
 * before it touches the Maildir.  SIGTERM or SIGINT: stop accepting, remove
 * the unix sockets, exit.  SIGHUP is ignored (no reload yet: restart).
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "lmtp.h"
#include "lmtp_deliver.h"
#include "resolver.h"

#define LISTEN_MAX 8
#define IDLE_TIMEOUT_MS (300 * 1000)   /* RFC 5321 4.5.3.2.7: 5 minutes */
#define MESSAGE_MAX ((size_t)64 << 20)
#define RCPT_MAX 100
/* sessions at once: an MTA opens a few; each is a process */
#define SESSIONS_MAX 64
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

/* One connection, in its own process. */
static int serve(const struct xi_config *cfg, int fd, const char *remote)
{
	struct lmtp_deliver d = { .cfg = cfg, .remote = remote };
	struct lmtp_settings set = { .line_max = (size_t)xi_config_int(cfg, XI_CFG_MAX_LINE_LENGTH),
				     .size_max = MESSAGE_MAX, .rcpt_max = RCPT_MAX };
	struct lmtp_session *s;
	struct xi_error err;
	char host[256], buf[16384];

	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	set.hostname = host;
	xi_error_clear(&err);
	if (xi_resolver_create(cfg, log_event, NULL, &d.resolver, &err) < 0) {
		static const char busy[] = "421 4.3.0 Directory not available\r\n";
		fprintf(stderr, "xidentd-lmtp: %s\n", err.message);
		(void)write_all(fd, busy, sizeof(busy) - 1);
		return 1;
	}
	s = lmtp_session_new(&set, &lmtp_deliver_callbacks, &d);
	if (s == NULL) {
		xi_resolver_destroy(d.resolver);
		return 1;
	}
	for (;;) {
		size_t n;
		const char *out = lmtp_session_output(s, &n);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (n > 0) {
			if (!write_all(fd, out, n))
				break;
			lmtp_session_output_consume(s, n);
		}
		if (lmtp_session_finished(s))
			break;
		r = poll(&p, 1, IDLE_TIMEOUT_MS);
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
	xi_resolver_destroy(d.resolver);
	return 0;
}

int main(int argc, char **argv)
{
	const char *config_path = DEFAULT_CONFIG;
	struct xi_config_report report = { 0 };
	struct xi_config *cfg = NULL;
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
	if (xi_config_load(config_path, &cfg, &report) < 0) {
		char line[sizeof(report.problems[0].file) + sizeof(report.problems[0].reason) + 16];
		for (i = 0; i < report.count; i++) {
			xi_config_problem_format(&report.problems[i], line, sizeof(line));
			fprintf(stderr, "%s\n", line);
		}
		xi_config_report_free(&report);
		return 78;
	}
	xi_config_report_free(&report);
	specs = xi_config_list(cfg, XI_CFG_LMTP_LISTEN, &n);
	if (n == 0 || n > LISTEN_MAX) {
		fprintf(stderr, "xidentd-lmtp: lmtp_listen must name 1 to %d listeners\n", LISTEN_MAX);
		xi_config_free(cfg);
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
	fprintf(stderr, "xidentd-lmtp: listening on %zu socket(s)\n", nl);

	while (!stop_requested) {
		int r = poll(pfd, nl, 1000);

		while (waitpid(-1, NULL, WNOHANG) > 0)
			if (sessions > 0)
				sessions--;
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
				int rc = serve(cfg, fd, remote);
				close(fd);
				xi_config_free(cfg);
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
	xi_config_free(cfg);
	return stop_requested ? 0 : 1;
}
