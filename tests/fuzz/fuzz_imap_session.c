/* libFuzzer target: the logged-on IMAP session engine (xd_imap_main:
 * standalone/imap_session.c, imap_cmd_*.c, imap_mailbox.c) over a real
 * temporary Maildir.  The input is the client's byte stream; the session
 * runs in this process on one end of a socketpair (no network), a thread
 * drains its answers, and the client side is closed after the input, so
 * every command, literal and IDLE ends.  The Maildir is rebuilt for each
 * input from a template (three messages, a subfolder, a keyword), so a run
 * is reproducible from its input alone.  Besides "no crash, no leak": the
 * session returns, and every answer line ends in CRLF. */
#define _GNU_SOURCE
#include "xident-config.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "xidentd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The session logs through xidentd's log.c; here nothing is logged. */
void xd_log(int priority, const char *fmt, ...)
{
	(void)priority;
	(void)fmt;
}

static char root[64];
static char maildir[128];
static struct xi_config *cfg;

static const char *const messages[] = {
	"From: Alice <a@example.com>\r\nTo: b@example.com\r\nSubject: one\r\n"
	"Date: Tue, 1 Jul 2025 10:52:37 +0200\r\nMessage-ID: <1@x>\r\n\r\nbody one\r\n",
	"From: b@example.com\r\nSubject: =?utf-8?q?M=C3=BCller?=\r\nMIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
	"part\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner\r\n--B--\r\n",
	"Subject: three\r\n\r\n",
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void build_maildir(void)
{
	static const char *const dirs[] = { "", "/tmp", "/new", "/cur", "/.Sub", "/.Sub/tmp", "/.Sub/new",
					    "/.Sub/cur" };
	char path[256];

	(void)nftw(maildir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", maildir, dirs[i]);
		if (mkdir(path, 0700) < 0)
			abort();
	}
	for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s/170000000%zu.M%zuP1.fuzz%s", maildir, i == 0 ? "new" : "cur",
			 i, i, i == 0 ? "" : i == 1 ? ":2,Sa" : ":2,T");
		write_file(path, messages[i]);
	}
	snprintf(path, sizeof(path), "%s/dovecot-keywords", maildir);
	write_file(path, "0 $Important\n");
	snprintf(path, sizeof(path), "%s/subscriptions", maildir);
	write_file(path, "Sub\n");
}

static void cleanup(void)
{
	(void)nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	xi_config_free(cfg);
}

static void setup(void)
{
	if (cfg != NULL)
		return;
	signal(SIGPIPE, SIG_IGN);
	snprintf(root, sizeof(root), "/tmp/xi-fuzz-session-XXXXXX");
	if (mkdtemp(root) == NULL)
		abort();
	snprintf(maildir, sizeof(maildir), "%s/Maildir", root);
	atexit(cleanup);
	if (xi_config_load_string("fuzz.conf",
				  "ldap_uris = ldap://127.0.0.1:1/\nldap_base_dn = dc=example,dc=com\n",
				  &cfg, NULL) < 0)
		abort();
}

static void *drain(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536], last[2] = { '\r', '\n' };
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			/* a bare LF is never sent: every line ends in CRLF */
			if (buf[i] == '\n' && (i > 0 ? buf[i - 1] : last[1]) != '\r')
				__builtin_trap();
		}
		last[1] = buf[n - 1];
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	pthread_t th;

	if (size > 16384)
		return 0;
	setup();
	build_maildir();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (pthread_create(&th, NULL, drain, &sv[0]) != 0)
		abort();
	/* The input fits the socket buffer: written whole, then EOF. */
	int sz = 1 << 20;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(sv[0], data + off, size - off);
		if (w <= 0)
			abort();
		off += (size_t)w;
	}
	shutdown(sv[0], SHUT_WR);
	/* What the master hands every session (xidentd.h); the input ends
	 * in EOF, so the idle timeout never fires. */
	static const struct xd_session_settings set = { .idle_s = 60, .max_line = 65536 };
	(void)xd_imap_main(&set, sv[1], "fuzz", maildir, "a0", NULL, 0);
	close(sv[1]);
	pthread_join(th, NULL);
	close(sv[0]);
	return 0;
}
