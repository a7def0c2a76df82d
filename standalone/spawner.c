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
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

/* The session's own process: becomes the mailbox's user, then serves. */
static void run_session(const struct xd_spawn *sp, int fd)
{
	prctl(PR_SET_NAME, "xidentd-mail");
	if (xd_drop_privileges(sp->uid, sp->gid) < 0 || chdir(sp->home) < 0) {
		char err[XD_IMAP_TAG_MAX + 80];
		if (strcmp(sp->protocol, "imap") == 0)
			snprintf(err, sizeof(err), "%s NO [UNAVAILABLE] The mailbox is not available now.\r\n",
				 sp->tag[0] ? sp->tag : "*");
		else
			snprintf(err, sizeof(err), "-ERR [SYS/TEMP] The mailbox is not available now.\r\n");
		if (write(fd, err, strlen(err)) < 0) {
			/* nothing more to say */
		}
		xd_log(LOG_ERR, "session %s: cannot become %u:%u in %s: %m", sp->user, sp->uid, sp->gid,
		       sp->home);
		_exit(1);
	}
	if (strcmp(sp->protocol, "imap") == 0)
		_exit(xd_imap_main(&sp->set, fd, sp->user, sp->maildir, sp->tag,
				   (const char *)sp->pending, sp->pending_len));
	_exit(xd_mail_main(&sp->set, fd, sp->user, sp->maildir, (const char *)sp->pending,
			   sp->pending_len));
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

/* One session from the master: forks its mail process and says so. */
static int spawn(int sock, int sigfd, const sigset_t *blocked, struct xi_msg *msg, int fd)
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
	pid = fork();
	if (pid == 0) {
		close(sock);
		close(sigfd);
		sigprocmask(SIG_UNBLOCK, blocked, NULL);
		run_session(&sp, fd);
	}
	close(fd);
	if (pid < 0)
		xd_log(LOG_ERR, "cannot fork a session for %s: %m", sp.user);
	/* The message buffer is still the session's (pending points into it). */
	reply = malloc(sizeof(*reply));
	if (reply == NULL)
		return -1;
	r = report(sock, reply, XI_MSG_SPAWNED, sp.key, pid > 0 ? (uint32_t)pid : 0, true);
	free(reply);
	return r;
}

static int reap(int sock, struct xi_msg *msg)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (WIFSIGNALED(status))
			xd_log(LOG_WARNING, "process %d (session) killed by signal %d", (int)pid,
			       WTERMSIG(status));
		if (report(sock, msg, XI_MSG_ENDED, (uint32_t)pid, 0, false) < 0)
			return -1;
	}
	return 0;
}

static int serve(int sock)
{
	struct xi_msg *msg = malloc(sizeof(*msg));
	sigset_t mask;
	int sigfd, ret = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (msg == NULL || sigfd < 0) {
		xd_log(LOG_ERR, "spawner: cannot start: %m");
		free(msg);
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN }, { .fd = sigfd, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = 1;
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				/* one reap() takes every child that ended */
			}
			if (reap(sock, msg) < 0) {
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
			if (spawn(sock, sigfd, &mask, msg, fd) < 0) {
				ret = 1;
				break;
			}
		} else if (p[0].revents & (POLLHUP | POLLERR)) {
			break;
		}
	}
	close(sigfd);
	free(msg);
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
