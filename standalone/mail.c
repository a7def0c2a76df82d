/*
 * The mail process: one POP3 session in the TRANSACTION and UPDATE states
 * (RFC 1939), running as the mailbox's uid/gid.  It takes the POP3 session
 * lock first (the store's, which is Dovecot's pop3_lock_session file, so a
 * Dovecot POP3 session and ours exclude each other too; the second one is
 * told [IN-USE]), then opens the INBOX through the store (maildir.h) and
 * answers the logon with +OK.
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
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "maildir.h"

#define OUT_CHUNK 16384
/* A session that just ended may still be closing: wait this long before
 * telling the client the mailbox is in use. */
#define LOCK_WAIT_SECONDS 2
/* The store wants the session lock touched at least every 150 s (others
 * override it after XI_MAILDIR_SESSION_LOCK_STALE); an idle client must not
 * let it go stale, so poll() wakes up at least this often. */
#define LOCK_TOUCH_MS (60 * 1000)

struct session {
	int fd;
	int idle_ms;
	size_t max_line;
	const char *user;
	struct xi_mailbox *mb;
	struct xi_maildir_session_lock *lock;
	struct timespec lock_touched;
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
	/* Sized per call, as the network process's: a long line is never cut. */
	char small[512], *line = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n + 2 >= sizeof(small)) {
		if ((line = malloc((size_t)n + 3)) == NULL)
			return;
		va_start(ap, fmt);
		vsnprintf(line, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	memcpy(line + n, "\r\n", 2);
	out_put(s, line, (size_t)n + 2);
	if (line != small)
		free(line);
}

static int64_t ms_since(const struct timespec *then)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - then->tv_sec) * 1000 + (now.tv_nsec - then->tv_nsec) / 1000000;
}

/* Keeps the session lock fresh; false (after telling the client) when it
 * was taken over, since then another session may be changing the mailbox
 * and ours must end without its UPDATE state. */
static bool lock_refresh(struct session *s)
{
	struct xi_error err = { 0 };

	if (s->lock == NULL || ms_since(&s->lock_touched) < LOCK_TOUCH_MS)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &s->lock_touched);
	if (xi_maildir_session_lock_touch(s->lock, &err) == 0)
		return true;
	if (err.status != XI_ERR_TEMP) {
		/* The lock is still ours; the next touch may succeed. */
		xd_log(LOG_WARNING, "mail: user %s: %s", s->user, err.message);
		return true;
	}
	xd_log(LOG_ERR, "mail: user %s: %s; ending the session", s->user, err.message);
	replyf(s, "-ERR [IN-USE] The mailbox was taken over by another session; nothing was removed.");
	out_flush(s);
	return false;
}

/* Reads one line (without CRLF) into *line_r: 1, 0 at EOF/timeout/error
 * or when the session lock was lost, -1 when the line is longer than the
 * limit. */
static int read_line(struct session *s, char **line_r)
{
	int idle_ms = 0;

	for (;;) {
		/* Also here, not only around poll(): pipelined commands may keep
		 * a busy session from ever waiting. */
		if (!lock_refresh(s))
			return 0;
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
		int slice = s->idle_ms - idle_ms;
		if (slice > LOCK_TOUCH_MS)
			slice = LOCK_TOUCH_MS;
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int r = poll(&p, 1, slice);
		if (r == 0) {
			idle_ms += slice;
			if (idle_ms < s->idle_ms)
				continue;
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

int xd_mail_main(const struct xd_session_settings *set, int fd, const char *user, const char *maildir,
		 const char *pending, size_t pending_len)
{
	struct session s = { .fd = fd, .user = user };
	struct xi_maildir *md = NULL;
	struct xi_error err = { 0 };
	int ret = 0;

	s.idle_ms = (int)set->idle_s * 1000;
	s.max_line = set->max_line;
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
	if (xi_maildir_session_lock(md, LOCK_WAIT_SECONDS, &s.lock, &err) < 0) {
		if (err.status == XI_ERR_TEMP) {
			replyf(&s, "-ERR [IN-USE] " POP3_TEXT_IN_USE);
		} else {
			xd_log(LOG_ERR, "mail: user %s: cannot take the POP3 session lock in %s: %s",
			       user, maildir, err.message);
			replyf(&s, "-ERR [SYS/TEMP] The mailbox cannot be locked now.");
		}
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &s.lock_touched);
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
	xi_maildir_session_unlock(s.lock); /* before QUIT's answer, see transaction() */
	if (md != NULL)
		xi_maildir_close(md);
	if (s.final[0] != '\0') {
		replyf(&s, "%s", s.final);
		out_flush(&s);
	}
	free(s.deleted);
	free(s.in);
	close(fd);
	return ret;
}
