/*
 * The mail process: one POP3 session in the TRANSACTION and UPDATE states
 * (RFC 1939), running as the mailbox's uid/gid.  It takes the POP3 session
 * lock first, so that two sessions on one mailbox cannot corrupt each other
 * (the second one is told [IN-USE]), then opens the Maildir through the
 * store (maildir.h) and answers the logon with +OK.
 *
 * One process per session: blocking I/O with poll() for the idle timeout
 * is the simplest correct thing, and a crash here ends this session only.
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "pop3_text.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "maildir.h"

#define OUT_CHUNK 16384
/* The POP3 session lock file, next to dovecot-uidlist in the Maildir root. */
#define LOCK_NAME "xidentd-pop3.lock"
#define LOCK_WAIT_MS 2000

struct session {
	int fd;
	int idle_ms;
	size_t max_line;
	const char *user;
	struct xi_mailbox *mb;
	size_t count;
	bool *deleted;
	char *in;
	size_t in_len, in_cap;
	size_t consumed;      /* bytes of the current line, its LF included */
	char final[128];      /* QUIT's answer, sent after unlocking */
	char out[OUT_CHUNK];
	size_t out_len;
	bool failed;
};

static void out_flush(struct session *s)
{
	size_t off = 0;

	while (!s->failed && off < s->out_len) {
		ssize_t w = write(s->fd, s->out + off, s->out_len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->failed = true;
			break;
		}
		off += (size_t)w;
	}
	s->out_len = 0;
}

static void out_put(struct session *s, const char *data, size_t len)
{
	while (len > 0) {
		size_t n = sizeof(s->out) - s->out_len;
		if (n > len)
			n = len;
		memcpy(s->out + s->out_len, data, n);
		s->out_len += n;
		data += n;
		len -= n;
		if (s->out_len == sizeof(s->out))
			out_flush(s);
	}
}

static void replyf(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void replyf(struct session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	out_put(s, line, (size_t)n + 2);
}

/* Reads one line (without CRLF) into *line_r: 1, 0 at EOF/timeout/error,
 * -1 when the line is longer than the limit. */
static int read_line(struct session *s, char **line_r)
{
	for (;;) {
		char *nl = s->in_len > 0 ? memchr(s->in, '\n', s->in_len) : NULL;
		if (nl != NULL) {
			size_t len = (size_t)(nl - s->in);
			*nl = '\0';
			if (len > 0 && s->in[len - 1] == '\r')
				s->in[len - 1] = '\0';
			s->consumed = len + 1;
			*line_r = s->in;
			return 1;
		}
		if (s->in_len > s->max_line)
			return -1;
		if (s->in_cap - s->in_len < 512) {
			size_t cap = s->in_cap * 2 + 1024;
			char *p = realloc(s->in, cap);
			if (p == NULL)
				return 0;
			s->in = p;
			s->in_cap = cap;
		}
		out_flush(s);
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int r = poll(&p, 1, s->idle_ms);
		if (r == 0) {
			replyf(s, "-ERR " POP3_TEXT_IDLE);
			out_flush(s);
			return 0;
		}
		if (r < 0 && errno == EINTR)
			continue;
		ssize_t n = read(s->fd, s->in + s->in_len, s->in_cap - s->in_len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		s->in_len += (size_t)n;
	}
}

static void line_done(struct session *s, const char *line)
{
	(void)line;
	if (s->consumed > s->in_len)
		s->consumed = s->in_len;
	memmove(s->in, s->in + s->consumed, s->in_len - s->consumed);
	s->in_len -= s->consumed;
	s->consumed = 0;
}

/* Message number argument: 1..count and not deleted; else replies -ERR. */
static bool msg_arg(struct session *s, const char *arg, size_t *index_r)
{
	char *end;
	unsigned long v;

	if (arg == NULL || arg[0] < '0' || arg[0] > '9') {
		replyf(s, "-ERR Message number required.");
		return false;
	}
	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || (*end != '\0' && *end != ' ') || v == 0 || v > s->count) {
		replyf(s, "-ERR No such message.");
		return false;
	}
	if (s->deleted[v - 1]) {
		replyf(s, "-ERR Message %lu is deleted.", v);
		return false;
	}
	*index_r = v - 1;
	return true;
}

static void uidl_of(struct session *s, size_t i, char *buf, size_t size)
{
	/* Dovecot's default pop3_uidl_format %08Xu%08Xv, so a client sees the
	 * same UIDLs whether Dovecot or xidentd serves the Maildir. */
	snprintf(buf, size, "%08" PRIX32 "%08" PRIX32, xi_mailbox_message(s->mb, i)->uid,
		 xi_mailbox_uidvalidity(s->mb));
}

/* Sends message i: CRLF line ends, dot-stuffed, header plus `lines` body
 * lines (all when lines < 0), then ".". */
static void send_message(struct session *s, size_t i, long lines)
{
	FILE *fp;
	struct xi_error err = { 0 };
	bool bol = true, in_body = false, header_line_empty = true;
	long body_lines = 0;
	int ch;

	if (xi_mailbox_message_stream(s->mb, i, &fp, &err) < 0) {
		replyf(s, "-ERR [SYS/TEMP] Cannot read the message: %s", err.message);
		return;
	}
	replyf(s, "+OK %" PRIu64 " octets", xi_mailbox_message(s->mb, i)->vsize);
	while ((ch = getc(fp)) != EOF) {
		if (in_body && lines >= 0 && body_lines >= lines)
			break;
		if (bol && ch == '.')
			out_put(s, ".", 1);
		if (ch == '\n') {
			out_put(s, "\r\n", 2);
			if (!in_body && header_line_empty)
				in_body = true;
			else if (in_body)
				body_lines++;
			header_line_empty = true;
			bol = true;
			continue;
		}
		if (ch == '\r')
			continue; /* a CR is written with its LF */
		header_line_empty = false;
		bol = false;
		char c = (char)ch;
		out_put(s, &c, 1);
	}
	fclose(fp);
	if (!bol)
		out_put(s, "\r\n", 2);
	out_put(s, ".\r\n", 3);
}

static void transaction(struct session *s)
{
	char *raw, line[1024];
	int r;

	while (!s->failed && (r = read_line(s, &raw)) != 0) {
		char *arg;
		size_t wlen, i;
		bool has_nul;

		if (r < 0) {
			replyf(s, "-ERR " POP3_TEXT_LINE_TOO_LONG);
			return;
		}
		has_nul = strlen(raw) + 1 != s->consumed && strlen(raw) + 2 != s->consumed;
		/* Transaction commands are short (RFC 2449: 255 octets). */
		snprintf(line, sizeof(line), "%s", raw);
		line_done(s, raw);
		if (has_nul) {
			replyf(s, "-ERR " POP3_TEXT_NUL);
			continue;
		}
		wlen = strcspn(line, " ");
		arg = line[wlen] == ' ' ? line + wlen + 1 : NULL;
		line[wlen] = '\0';
		if (strcasecmp(line, "STAT") == 0) {
			uint64_t total = 0;
			size_t n = 0;
			for (i = 0; i < s->count; i++)
				if (!s->deleted[i]) {
					n++;
					total += xi_mailbox_message(s->mb, i)->vsize;
				}
			replyf(s, "+OK %zu %" PRIu64, n, total);
		} else if (strcasecmp(line, "LIST") == 0 || strcasecmp(line, "UIDL") == 0) {
			bool uidl = line[0] == 'U' || line[0] == 'u';
			char u[24];
			if (arg != NULL) {
				if (msg_arg(s, arg, &i)) {
					if (uidl) {
						uidl_of(s, i, u, sizeof(u));
						replyf(s, "+OK %zu %s", i + 1, u);
					} else {
						replyf(s, "+OK %zu %" PRIu64, i + 1,
						       xi_mailbox_message(s->mb, i)->vsize);
					}
				}
			} else {
				replyf(s, "+OK");
				for (i = 0; i < s->count; i++) {
					if (s->deleted[i])
						continue;
					if (uidl) {
						uidl_of(s, i, u, sizeof(u));
						replyf(s, "%zu %s", i + 1, u);
					} else {
						replyf(s, "%zu %" PRIu64, i + 1, xi_mailbox_message(s->mb, i)->vsize);
					}
				}
				replyf(s, ".");
			}
		} else if (strcasecmp(line, "RETR") == 0) {
			if (msg_arg(s, arg, &i))
				send_message(s, i, -1);
		} else if (strcasecmp(line, "TOP") == 0) {
			char *lines_arg = arg != NULL ? strchr(arg, ' ') : NULL;
			char *end;
			long nl;
			if (lines_arg == NULL) {
				replyf(s, "-ERR Usage: TOP message lines");
				continue;
			}
			errno = 0;
			nl = strtol(lines_arg + 1, &end, 10);
			if (errno != 0 || *end != '\0' || nl < 0 || lines_arg[1] < '0' || lines_arg[1] > '9') {
				replyf(s, "-ERR Usage: TOP message lines");
				continue;
			}
			if (msg_arg(s, arg, &i))
				send_message(s, i, nl);
		} else if (strcasecmp(line, "DELE") == 0) {
			if (msg_arg(s, arg, &i)) {
				s->deleted[i] = true;
				replyf(s, "+OK Message %zu deleted.", i + 1);
			}
		} else if (strcasecmp(line, "RSET") == 0) {
			memset(s->deleted, 0, s->count * sizeof(*s->deleted));
			replyf(s, "+OK");
		} else if (strcasecmp(line, "NOOP") == 0) {
			replyf(s, "+OK");
		} else if (strcasecmp(line, "CAPA") == 0) {
			replyf(s, "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
			       "AUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION " XIDENTD_IMPLEMENTATION "\r\n.");
		} else if (strcasecmp(line, "QUIT") == 0) {
			/* UPDATE state: remove what was marked. */
			size_t failed = 0;
			for (i = s->count; i-- > 0;) {
				struct xi_error err = { 0 };
				if (s->deleted[i] && xi_mailbox_expunge(s->mb, i, &err) < 0)
					failed++;
			}
			/* The answer goes out after the lock is released (xd_mail_main),
			 * so a client that logs on again at once finds it free. */
			if (failed > 0)
				snprintf(s->final, sizeof(s->final),
					 "-ERR [SYS/TEMP] %zu messages could not be removed.", failed);
			else
				snprintf(s->final, sizeof(s->final), "+OK " XIDENTD_IMPLEMENTATION " signing off.");
			return;
		} else if (strcasecmp(line, "USER") == 0 || strcasecmp(line, "PASS") == 0 ||
			   strcasecmp(line, "AUTH") == 0 || strcasecmp(line, "STLS") == 0 ||
			   strcasecmp(line, "APOP") == 0) {
			replyf(s, "-ERR Already logged on.");
		} else {
			replyf(s, "-ERR " POP3_TEXT_UNKNOWN_COMMAND);
		}
	}
}

int xd_mail_main(const struct xi_config *cfg, int fd, const char *user, const char *maildir,
		 const char *pending, size_t pending_len)
{
	struct session s = { .fd = fd, .user = user };
	struct xi_maildir *md = NULL;
	struct xi_error err = { 0 };
	char lock_path[4096];
	int lock_fd = -1, ret = 0;

	s.idle_ms = (int)xi_config_int(cfg, XI_CFG_IDLE_TIMEOUT) * 1000;
	s.max_line = (size_t)xi_config_int(cfg, XI_CFG_MAX_LINE_LENGTH);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	s.in_cap = pending_len + 1024;
	s.in = malloc(s.in_cap);
	if (s.in == NULL)
		return 1;
	memcpy(s.in, pending, pending_len);
	s.in_len = pending_len;

	if (xi_maildir_open(maildir, true, NULL, &md, &err) < 0) {
		xd_log(LOG_ERR, "mail: user %s: cannot open Maildir %s: %s", user, maildir, err.message);
		replyf(&s, "-ERR [SYS/TEMP] The mailbox cannot be opened now; the administrator has been told.");
		ret = 1;
		goto out;
	}
	snprintf(lock_path, sizeof(lock_path), "%s/" LOCK_NAME, maildir);
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	/* A session that just ended may still be closing: wait a little
	 * (LOCK_WAIT_MS) before telling the client the mailbox is in use. */
	for (int waited = 0; lock_fd >= 0 && flock(lock_fd, LOCK_EX | LOCK_NB) < 0; waited += 50) {
		if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_MS)
			break;
		usleep(50 * 1000);
	}
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (lock_fd >= 0 && errno == EWOULDBLOCK) {
			replyf(&s, "-ERR [IN-USE] " POP3_TEXT_IN_USE);
		} else {
			xd_log(LOG_ERR, "mail: user %s: cannot lock %s: %m", user, lock_path);
			replyf(&s, "-ERR [SYS/TEMP] The mailbox cannot be locked now.");
		}
		goto out;
	}
	if (xi_mailbox_open(md, NULL, false, &s.mb, &err) < 0) {
		xd_log(LOG_ERR, "mail: user %s: cannot open INBOX in %s: %s", user, maildir, err.message);
		replyf(&s, "-ERR [SYS/TEMP] The mailbox cannot be opened now; the administrator has been told.");
		ret = 1;
		goto out;
	}
	s.count = xi_mailbox_count(s.mb);
	s.deleted = calloc(s.count + 1, sizeof(*s.deleted));
	if (s.deleted == NULL) {
		replyf(&s, "-ERR [SYS/TEMP] Out of memory.");
		goto out;
	}
	{
		uint64_t total = 0;
		for (size_t i = 0; i < s.count; i++)
			total += xi_mailbox_message(s.mb, i)->vsize;
		replyf(&s, "+OK Logged on to mailbox %s: %zu messages (%" PRIu64 " octets).",
		       user, s.count, total);
	}
	transaction(&s);
out:
	out_flush(&s);
	if (s.mb != NULL)
		xi_mailbox_close(s.mb);
	if (md != NULL)
		xi_maildir_close(md);
	if (lock_fd >= 0)
		close(lock_fd); /* releases the lock */
	if (s.final[0] != '\0') {
		replyf(&s, "%s", s.final);
		out_flush(&s);
	}
	free(s.deleted);
	free(s.in);
	close(fd);
	return ret;
}
