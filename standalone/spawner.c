/*
 * xidentd-session: the spawner (spawner.h) and, in the processes it forks,
 * the mail processes.  Run by the xidentd master only:
 *
 *   xidentd-session --spawner FD [--syslog]
 *
 * FD is its socket to the master.  It serves until the master closes it
 * (or dies: PR_SET_PDEATHSIG, set before the exec), then exits; mail
 * processes running then finish on their own, as they always did.
 */
#define _GNU_SOURCE
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Mail processes the spawner can hand another session (mail_process_sessions
 * > 1): each has a socketpair to the spawner.  Beyond WORKERS_MAX a session
 * still gets a process, one that serves it alone. */
#define WORKERS_MAX 1024
/* An idle mail process is told to exit (its socket closed) after this long,
 * and when more than IDLE_MAX wait, the longest waiting goes. */
#define IDLE_SECONDS 60
#define IDLE_MAX 64

struct worker {
	pid_t pid;
	int sock;            /* -1: told to exit (or gone), waits to be reaped */
	uint32_t uid, gid;
	bool busy;           /* serving a session the master counts */
	/* The busy session's client descriptor, duplicated: when the
	 * process says the session ended, end_session shuts the connection
	 * down, so a process that says so and goes on serving the client (a
	 * compromised one, to get past max_user_sessions) loses it. */
	int client;
	struct timespec idle_since;
};

struct spawner {
	int master;
	int sigfd;
	sigset_t blocked;
	struct worker workers[WORKERS_MAX];
	size_t n;
};

/* The client's answer when its session cannot start. */
static void unavailable(const struct xd_spawn *sp, int fd)
{
	char err[XD_IMAP_TAG_MAX + 80];

	if (strcmp(sp->protocol, "imap") == 0)
		snprintf(err, sizeof(err), "%s NO [UNAVAILABLE] The mailbox is not available now.\r\n",
			 sp->tag[0] ? sp->tag : "*");
	else
		snprintf(err, sizeof(err), "-ERR [SYS/TEMP] The mailbox is not available now.\r\n");
	if (write(fd, err, strlen(err)) < 0) {
		/* nothing more to say */
	}
}

/* Serves one session in this process, as the mailbox's user already, and
 * closes the client's socket (xd_mail_main closes it itself). */
static int serve_session(const struct xd_spawn *sp, int fd)
{
	int ret;

	if (chdir(sp->home) < 0) {
		int e = errno;
		unavailable(sp, fd);
		errno = e;
		xd_log(LOG_ERR, "session %s: cannot enter %s as %u:%u: %m", sp->user, sp->home, sp->uid,
		       sp->gid);
		close(fd);
		return 1;
	}
	if (strcmp(sp->protocol, "imap") != 0)
		return xd_mail_main(&sp->set, fd, sp->user, sp->maildir, (const char *)sp->pending,
				    sp->pending_len);
	ret = xd_imap_main(&sp->set, fd, sp->user, sp->maildir, sp->tag, (const char *)sp->pending,
			   sp->pending_len);
	close(fd);
	return ret;
}

/* The session's own process: becomes the mailbox's user, then serves.
 * With a spawner socket (wsock >= 0) it then tells the spawner it is free
 * and serves the sessions it is handed, all of the same uid and gid (it
 * could not become another, and refuses one), until it has served
 * set.sessions of them, one fails, or the spawner closes the socket. */
static void run_session(struct xd_spawn *sp, int fd, int wsock)
{
	uint32_t uid = sp->uid, gid = sp->gid, served = 0;
	struct xi_msg *msg = NULL;

	prctl(PR_SET_NAME, "xidentd-mail");
	if (xd_drop_privileges(sp->uid, sp->gid) < 0) {
		unavailable(sp, fd);
		xd_log(LOG_ERR, "session %s: cannot become %u:%u", sp->user, sp->uid, sp->gid);
		_exit(1);
	}
	for (;;) {
		int ret = serve_session(sp, fd), r;

		served++;
		fd = -1;
		if (wsock < 0 || ret != 0 || served >= sp->set.sessions)
			_exit(ret);
		if (msg == NULL && (msg = malloc(sizeof(*msg))) == NULL)
			_exit(0);
		xi_msg_init(msg, XI_MSG_ENDED, 0);
		if (xi_msg_send(wsock, msg, -1) < 0)
			_exit(0);
		do
			r = xi_msg_recv(wsock, msg, &fd);
		while (r < 0 && errno == EINTR);
		/* EOF: the spawner lets us go.  Anything but a session of our
		 * own uid and gid is a broken spawner: leave. */
		if (r <= 0 || fd < 0 || !xd_spawn_get(msg, sp) || sp->uid != uid || sp->gid != gid)
			_exit(r == 0 ? 0 : 1);
	}
}

static int report(int sock, struct xi_msg *msg, uint32_t type, uint32_t a, uint32_t b, bool two)
{
	xi_msg_init(msg, type, 0);
	xi_msg_put_u32(msg, a);
	if (two)
		xi_msg_put_u32(msg, b);
	if (xi_msg_send(sock, msg, -1) < 0) {
		xd_log(LOG_ERR, "spawner: cannot report to the master: %m");
		return -1;
	}
	return 0;
}

static struct worker *worker_of(struct spawner *s, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->workers[i].pid == pid)
			return &s->workers[i];
	return NULL;
}

/* The session of a busy process ended (it said so, or it was reaped):
 * shutdown ends the client connection for every descriptor of it, the
 * process's own included, so what the master is told is true. */
static void end_session(struct worker *w)
{
	if (w->client >= 0) {
		(void)shutdown(w->client, SHUT_RDWR);
		close(w->client);
	}
	w->client = -1;
	w->busy = false;
}

/* Tells a mail process to exit: it reads EOF where it waits. */
static void retire(struct worker *w)
{
	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
	if (w->client >= 0)
		close(w->client);
	w->client = -1;
	w->busy = false;
}

/* The idle process of this uid and gid that became idle last (its pages
 * are the likeliest still warm), or NULL. */
static struct worker *idle_worker(struct spawner *s, uint32_t uid, uint32_t gid)
{
	struct worker *best = NULL;

	for (size_t i = 0; i < s->n; i++) {
		struct worker *w = &s->workers[i];
		if (w->sock >= 0 && !w->busy && w->uid == uid && w->gid == gid &&
		    (best == NULL || w->idle_since.tv_sec > best->idle_since.tv_sec ||
		     (w->idle_since.tv_sec == best->idle_since.tv_sec &&
		      w->idle_since.tv_nsec > best->idle_since.tv_nsec)))
			best = w;
	}
	return best;
}

/* Hands the session to an idle process of its uid and gid; the pid that
 * took it, or 0 when none could. */
static pid_t hand_over(struct spawner *s, const struct xd_spawn *sp, const struct xi_msg *msg, int fd)
{
	struct worker *w;

	while ((w = idle_worker(s, sp->uid, sp->gid)) != NULL) {
		int client = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		if (client < 0)
			return 0; /* a process of its own, which says nothing */
		if (xi_msg_send(w->sock, msg, fd) == 0) {
			w->busy = true;
			w->client = client;
			return w->pid;
		}
		close(client);
		retire(w); /* gone or broken: its reaping says no more */
	}
	return 0;
}

/* Forks a mail process for the session; with room to keep it, one that
 * may serve further sessions (a socketpair to it).  Its pid or -1. */
static pid_t fork_session(struct spawner *s, struct xd_spawn *sp, int fd)
{
	int pair[2] = { -1, -1 }, client = -1;
	pid_t pid;

	if (sp->set.sessions > 1 && s->n < WORKERS_MAX &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		pair[0] = pair[1] = -1;
	/* A process that will report its sessions' ends: keep the client to
	 * end it (end_session); without a copy, one session and exit. */
	if (pair[0] >= 0 && (client = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		close(pair[0]);
		close(pair[1]);
		pair[0] = pair[1] = -1;
	}
	pid = fork();
	if (pid == 0) {
		close(s->master);
		close(s->sigfd);
		/* Nothing of the other sessions' processes: a mail process
		 * must not be able to hand work to, or end, another, nor
		 * reach another's client. */
		for (size_t i = 0; i < s->n; i++) {
			if (s->workers[i].sock >= 0)
				close(s->workers[i].sock);
			if (s->workers[i].client >= 0)
				close(s->workers[i].client);
		}
		if (pair[0] >= 0)
			close(pair[0]);
		if (client >= 0)
			close(client);
		sigprocmask(SIG_UNBLOCK, &s->blocked, NULL);
		run_session(sp, fd, pair[1]);
	}
	if (pair[1] >= 0)
		close(pair[1]);
	if (pid < 0) {
		if (pair[0] >= 0)
			close(pair[0]);
		if (client >= 0)
			close(client);
		return -1;
	}
	if (pair[0] >= 0) {
		struct worker *w = &s->workers[s->n++];
		*w = (struct worker){ .pid = pid, .sock = pair[0], .uid = sp->uid, .gid = sp->gid,
				      .busy = true, .client = client };
		fcntl(w->sock, F_SETFL, O_NONBLOCK);
	}
	return pid;
}

/* One session from the master: an idle mail process of its uid and gid
 * takes it, or a new one is forked; the master is told which. */
static int spawn(struct spawner *s, struct xi_msg *msg, int fd)
{
	struct xd_spawn sp;
	struct xi_msg *reply;
	pid_t pid;
	int r;

	if (fd < 0 || !xd_spawn_get(msg, &sp)) {
		xd_log(LOG_ERR, "spawner: malformed session message from the master");
		if (fd >= 0)
			close(fd);
		return 0;
	}
	pid = sp.set.sessions > 1 ? hand_over(s, &sp, msg, fd) : 0;
	if (pid == 0)
		pid = fork_session(s, &sp, fd);
	close(fd);
	if (pid < 0)
		xd_log(LOG_ERR, "cannot fork a session for %s: %m", sp.user);
	/* The message buffer is still the session's (pending points into it). */
	reply = malloc(sizeof(*reply));
	if (reply == NULL)
		return -1;
	r = report(s->master, reply, XI_MSG_SPAWNED, sp.key, pid > 0 ? (uint32_t)pid : 0, true);
	free(reply);
	return r;
}

/* A mail process says its session ended and it waits for another. */
static int on_worker(struct spawner *s, struct worker *w, struct xi_msg *msg)
{
	int r = xi_msg_recv(w->sock, msg, NULL);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r > 0 && msg->type == XI_MSG_ENDED && w->busy) {
		end_session(w);
		clock_gettime(CLOCK_MONOTONIC, &w->idle_since);
		return report(s->master, msg, XI_MSG_ENDED, (uint32_t)w->pid, 0, false);
	}
	/* EOF (it is exiting: reaping reports the session if it was busy), or
	 * a message out of turn from a process we no longer trust. */
	if (r != 0)
		kill(w->pid, SIGKILL);
	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
	return 0;
}

static int reap(struct spawner *s, struct xi_msg *msg)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w = worker_of(s, pid);
		bool in_session = w == NULL || w->busy;

		if (WIFSIGNALED(status))
			xd_log(LOG_WARNING, "process %d (session) killed by signal %d", (int)pid,
			       WTERMSIG(status));
		if (w != NULL) {
			if (w->sock >= 0)
				close(w->sock);
			end_session(w);
			*w = s->workers[--s->n];
		}
		/* An idle process's last session was reported when it ended. */
		if (in_session && report(s->master, msg, XI_MSG_ENDED, (uint32_t)pid, 0, false) < 0)
			return -1;
	}
	return 0;
}

static long ms_since(const struct timespec *then, const struct timespec *now)
{
	return (long)(now->tv_sec - then->tv_sec) * 1000 + (now->tv_nsec - then->tv_nsec) / 1000000;
}

/* Retires idle processes past IDLE_SECONDS, and the longest waiting beyond
 * IDLE_MAX; returns the poll timeout until the next one is due (-1: none). */
static int retire_idle(struct spawner *s)
{
	struct timespec now;
	long next = -1;
	size_t idle = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < s->n; i++) {
		struct worker *w = &s->workers[i];
		if (w->sock < 0 || w->busy)
			continue;
		long left = IDLE_SECONDS * 1000L - ms_since(&w->idle_since, &now);
		if (left <= 0) {
			retire(w);
			continue;
		}
		idle++;
		if (next < 0 || left < next)
			next = left;
	}
	while (idle > IDLE_MAX) {
		struct worker *oldest = NULL;
		for (size_t i = 0; i < s->n; i++) {
			struct worker *w = &s->workers[i];
			if (w->sock >= 0 && !w->busy &&
			    (oldest == NULL || ms_since(&w->idle_since, &oldest->idle_since) > 0))
				oldest = w;
		}
		retire(oldest);
		idle--;
	}
	return next < 0 ? -1 : (int)(next + 1);
}

static int serve(int sock)
{
	struct spawner *s = calloc(1, sizeof(*s));
	struct xi_msg *msg = malloc(sizeof(*msg));
	struct pollfd *p = calloc(WORKERS_MAX + 2, sizeof(*p));
	pid_t *polled = calloc(WORKERS_MAX, sizeof(*polled));
	int ret = 0;

	if (s == NULL || msg == NULL || p == NULL || polled == NULL) {
		xd_log(LOG_ERR, "spawner: cannot start: out of memory");
		free(s);
		free(msg);
		free(p);
		free(polled);
		return 1;
	}
	s->master = sock;
	sigemptyset(&s->blocked);
	sigaddset(&s->blocked, SIGCHLD);
	sigprocmask(SIG_BLOCK, &s->blocked, NULL);
	s->sigfd = signalfd(-1, &s->blocked, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0) {
		xd_log(LOG_ERR, "spawner: cannot start: %m");
		free(s);
		free(msg);
		free(p);
		free(polled);
		return 1;
	}
	for (;;) {
		int timeout = retire_idle(s);
		size_t np = 2, nw = 0;

		p[0] = (struct pollfd){ .fd = sock, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = s->sigfd, .events = POLLIN };
		for (size_t i = 0; i < s->n; i++)
			if (s->workers[i].sock >= 0) {
				p[np++] = (struct pollfd){ .fd = s->workers[i].sock, .events = POLLIN };
				polled[nw++] = s->workers[i].pid;
			}
		if (poll(p, np, timeout) < 0) {
			if (errno == EINTR)
				continue;
			ret = 1;
			break;
		}
		/* Session ends before reaping: a process that ended its session
		 * and then died must not count it twice. */
		for (size_t i = 0; i < nw && ret == 0; i++) {
			struct worker *w;
			if (!(p[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			w = worker_of(s, polled[i]);
			if (w != NULL && w->sock == p[2 + i].fd && on_worker(s, w, msg) < 0)
				ret = 1;
		}
		if (ret != 0)
			break;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(s->sigfd, &si, sizeof(si)) == sizeof(si)) {
				/* one reap() takes every child that ended */
			}
			if (reap(s, msg) < 0) {
				ret = 1;
				break;
			}
		}
		if (p[0].revents & POLLIN) {
			int fd = -1, r = xi_msg_recv(sock, msg, &fd);
			if (r == 0)
				break; /* the master is gone */
			if (r < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				if (errno == EPROTO) {
					xd_log(LOG_ERR, "spawner: malformed message from the master");
					continue;
				}
				ret = 1;
				break;
			}
			if (msg->type != XI_MSG_SPAWN) {
				if (fd >= 0)
					close(fd);
				continue;
			}
			if (spawn(s, msg, fd) < 0) {
				ret = 1;
				break;
			}
		} else if (p[0].revents & (POLLHUP | POLLERR)) {
			break;
		}
	}
	/* Idle mail processes read EOF and exit; busy ones finish first. */
	for (size_t i = 0; i < s->n; i++)
		retire(&s->workers[i]);
	close(s->sigfd);
	free(s);
	free(msg);
	free(p);
	free(polled);
	return ret;
}

int main(int argc, char **argv)
{
	char *end;
	long sock;

	if (argc < 3 || argc > 4 || strcmp(argv[1], "--spawner") != 0 ||
	    (argc == 4 && strcmp(argv[3], "--syslog") != 0)) {
		fprintf(stderr, "xidentd-session: the xidentd master runs this program\n");
		return 2;
	}
	errno = 0;
	sock = strtol(argv[2], &end, 10);
	if (errno != 0 || *end != '\0' || sock < 3 || sock > 1024 || fcntl((int)sock, F_GETFD) < 0) {
		fprintf(stderr, "xidentd-session: bad socket '%s'\n", argv[2]);
		return 2;
	}
	xd_log_open(argc == 4);
	if (geteuid() != 0) {
		xd_log(LOG_ERR, "spawner: must run as root (each session becomes its mailbox's user)");
		return 1;
	}
	fcntl((int)sock, F_SETFD, FD_CLOEXEC); /* the mail processes close it anyway */
	prctl(PR_SET_NAME, "xidentd-spawn");
	signal(SIGPIPE, SIG_IGN);
	return serve((int)sock);
}
