/*
 * The IMAP mail process: one logged-on session (authenticated and selected
 * states), running as the mailbox's uid/gid.  Reads commands with
 * imap_parser (literals, LITERAL+; parser errors are answered BAD and the
 * session goes on), runs them, and sends the selected mailbox's changes
 * by the rules of RFC 3501 7.4.1 (imap_mailbox.c).
 *
 * Blocking I/O with poll(): one process per session, so the simplest
 * correct thing.  IDLE also waits on inotify (new/, cur/ and the folder
 * itself, where dovecot-uidlist is replaced), so a delivery shows within
 * the time a sync takes.
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "imap_session.h"
#include "imap_text.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"

#define OUT_FLUSH_AT (64 * 1024)
#define READ_CHUNK 16384
/* IDLE: the client re-issues it within 29 minutes (RFC 2177); a sync
 * anyway this often, in case an inotify event was missed. */
#define IDLE_TIMEOUT_MS (XD_IMAP_AUTOLOGOUT_MS + 60 * 1000)
#define IDLE_RESYNC_MS (30 * 1000)

/* ---------------------------------------------------------------- output */

void imap_flush(struct imap_session *s)
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

void imap_out(struct imap_session *s, const char *data, size_t len)
{
	if (s->failed)
		return;
	if (s->out_len + len > s->out_cap) {
		size_t cap = s->out_cap ? s->out_cap : 4096;
		while (cap < s->out_len + len)
			cap *= 2;
		char *p = realloc(s->out, cap);
		if (p == NULL) {
			s->failed = true;
			return;
		}
		s->out = p;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
	if (s->out_len >= OUT_FLUSH_AT)
		imap_flush(s);
}

static void imap_vprintf(struct imap_session *s, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void imap_vprintf(struct imap_session *s, const char *fmt, va_list ap)
{
	char small[1024], *buf = small;
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n < 0) {
		va_end(ap2);
		return;
	}
	if ((size_t)n >= sizeof(small)) {
		buf = malloc((size_t)n + 1);
		if (buf == NULL) {
			va_end(ap2);
			s->failed = true;
			return;
		}
		vsnprintf(buf, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	imap_out(s, buf, (size_t)n);
	if (buf != small)
		free(buf);
}

void imap_printf(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	imap_vprintf(s, fmt, ap);
	va_end(ap);
}

void imap_out_string(struct imap_session *s, const char *str, size_t len)
{
	char small[512];
	size_t need = xi_imap_write_string(small, sizeof(small), str, len);

	if (need < sizeof(small)) {
		imap_out(s, small, need);
		return;
	}
	char *buf = malloc(need + 1);
	if (buf == NULL) {
		s->failed = true;
		return;
	}
	xi_imap_write_string(buf, need + 1, str, len);
	imap_out(s, buf, need);
	free(buf);
}

void imap_out_astring(struct imap_session *s, const char *str, size_t len)
{
	bool atom = len > 0;

	for (size_t i = 0; i < len && atom; i++) {
		unsigned char ch = (unsigned char)str[i];
		atom = ch > 0x20 && ch < 0x7f && strchr("(){%*\"\\", ch) == NULL;
	}
	if (atom)
		imap_out(s, str, len);
	else
		imap_out_string(s, str, len);
}

void imap_notify(struct imap_session *s, bool allow_expunge)
{
	struct xi_error err = { 0 };

	if (s->view == NULL || imap_view_sync(s, s->view, allow_expunge, &err) == 0)
		return;
	if (!imap_folder_exists(s->md, s->view->name)) {
		/* Deleted or renamed by another session: nothing left to show. */
		imap_printf(s, "* BYE Selected mailbox was deleted, have to disconnect.\r\n");
		s->logout = true;
		imap_view_close(s->view);
		s->view = NULL;
		return;
	}
	xd_log(LOG_WARNING, "imap: user %s: sync of %s failed: %s", s->user, s->view->name,
	       err.message);
}

void imap_tagged(struct imap_session *s, const char *tag, const char *fmt, ...)
{
	va_list ap;

	if (strncmp(fmt, "BAD", 3) != 0)
		imap_notify(s, s->allow_expunge);
	imap_printf(s, "%s ", tag);
	va_start(ap, fmt);
	imap_vprintf(s, fmt, ap);
	va_end(ap);
	imap_out(s, "\r\n", 2);
}

/* ---------------------------------------------------------------- arguments */

const char *imap_arg_string(const struct xi_imap_arg *a)
{
	if (a == NULL || (a->type != XI_IMAP_ARG_ATOM && a->type != XI_IMAP_ARG_QUOTED &&
			  a->type != XI_IMAP_ARG_LITERAL))
		return NULL;
	return a->str;
}

bool imap_mailbox_arg(struct imap_session *s, const char *tag, const struct xi_imap_arg *a,
		      char *out, size_t size)
{
	const char *name = imap_arg_string(a);
	struct xi_error err = { 0 };
	size_t len;

	if (name == NULL) {
		imap_tagged(s, tag, "BAD Mailbox name expected.");
		return false;
	}
	len = strlen(name);
	if (len > 0 && name[len - 1] == IMAP_SEP)
		len--;
	if (len == 0 || len >= size) {
		imap_tagged(s, tag, "NO Invalid mailbox name.");
		return false;
	}
	memcpy(out, name, len);
	out[len] = '\0';
	if (strcasecmp(out, "INBOX") == 0) {
		memcpy(out, "INBOX", 6);
		return true;
	}
	/* INBOX's children: the prefix in any case is INBOX (RFC 3501 5.1). */
	if (strncasecmp(out, "INBOX", 5) == 0 && out[5] == IMAP_SEP)
		memcpy(out, "INBOX", 5);
	if (xi_maildir_folder_name_check(out, &err) < 0) {
		imap_tagged(s, tag, "NO Invalid mailbox name: %s", err.message);
		return false;
	}
	{
		/* Names travel and are stored in modified UTF-7: it must decode. */
		char utf8[XI_MAILDIR_FOLDER_NAME_MAX * 4 + 1];
		if (xi_imap_mutf7_decode(out, strlen(out), utf8, sizeof(utf8)) < 0) {
			imap_tagged(s, tag, "NO Mailbox name is not valid modified UTF-7.");
			return false;
		}
	}
	return true;
}

/* ---------------------------------------------------------------- input */

/* Reads more input: false at EOF, error or idle timeout. */
static bool read_more(struct imap_session *s, int timeout_ms)
{
	imap_flush(s);
	if (s->failed)
		return false;
	if (s->in_cap - s->in_len < READ_CHUNK) {
		char *p = realloc(s->in, s->in_len + READ_CHUNK * 2);
		if (p == NULL)
			return false;
		s->in = p;
		s->in_cap = s->in_len + READ_CHUNK * 2;
	}
	for (;;) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			imap_printf(s, "* BYE " IMAP_TEXT_IDLE "\r\n");
			imap_flush(s);
			return false;
		}
		ssize_t n = read(s->fd, s->in + s->in_len, s->in_cap - s->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		s->in_len += (size_t)n;
		return true;
	}
}

static void consume(struct imap_session *s, size_t n)
{
	if (n > s->in_len)
		n = s->in_len;
	memmove(s->in, s->in + n, s->in_len - n);
	s->in_len -= n;
}

/* ---------------------------------------------------------------- IDLE */

static int idle_watch(struct imap_session *s)
{
	char path[4200];
	const char *root = xi_maildir_root(s->md);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	const uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
			      IN_ATTRIB;

	if (fd < 0 || s->view == NULL)
		return fd;
	if (strcmp(s->view->name, "INBOX") == 0)
		snprintf(path, sizeof(path), "%s", root);
	else
		snprintf(path, sizeof(path), "%s/.%s", root, s->view->name);
	(void)inotify_add_watch(fd, path, IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE);
	size_t pl = strlen(path);
	snprintf(path + pl, sizeof(path) - pl, "/new");
	(void)inotify_add_watch(fd, path, mask);
	snprintf(path + pl, sizeof(path) - pl, "/cur");
	(void)inotify_add_watch(fd, path, mask);
	return fd;
}

static void cmd_idle(struct imap_session *s, const char *tag)
{
	int ino = idle_watch(s);
	int waited = 0;

	s->allow_expunge = true;
	imap_notify(s, true);
	imap_printf(s, "+ idling\r\n");
	imap_flush(s);
	while (!s->failed) {
		char *nl = s->in_len > 0 ? memchr(s->in, '\n', s->in_len) : NULL;
		if (nl != NULL) {
			size_t len = (size_t)(nl - s->in);
			bool done = (len == 4 || (len == 5 && s->in[4] == '\r')) &&
				    strncasecmp(s->in, "DONE", 4) == 0;
			consume(s, len + 1);
			if (done)
				imap_tagged(s, tag, "OK Idle completed.");
			else
				imap_tagged(s, tag, "BAD Expected DONE.");
			break;
		}
		if (s->in_len > 1024) {
			imap_tagged(s, tag, "BAD Expected DONE.");
			s->in_len = 0;
			break;
		}
		struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN }, { .fd = ino, .events = POLLIN } };
		int r = poll(p, ino >= 0 ? 2 : 1, IDLE_RESYNC_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			waited += IDLE_RESYNC_MS;
			if (waited >= IDLE_TIMEOUT_MS) {
				imap_printf(s, "* BYE " IMAP_TEXT_IDLE "\r\n");
				s->failed = true;
				break;
			}
			imap_notify(s, true);
			imap_flush(s);
			continue;
		}
		if (ino >= 0 && (p[1].revents & POLLIN)) {
			char evbuf[4096];
			while (read(ino, evbuf, sizeof(evbuf)) > 0)
				;
			imap_notify(s, true);
			imap_flush(s);
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (s->in_cap - s->in_len < 512) {
				char *q = realloc(s->in, s->in_cap + 2048);
				if (q == NULL)
					break;
				s->in = q;
				s->in_cap += 2048;
			}
			ssize_t n = read(s->fd, s->in + s->in_len, s->in_cap - s->in_len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				s->failed = true;
				break;
			}
			s->in_len += (size_t)n;
			waited = 0;
		}
	}
	if (ino >= 0)
		close(ino);
}

/* ---------------------------------------------------------------- dispatch */

static void unselect(struct imap_session *s, bool expunge)
{
	struct xi_error err = { 0 };

	if (s->view == NULL)
		return;
	if (expunge && !s->view->read_only)
		(void)xi_mailbox_expunge_deleted(s->view->mb, NULL, &err);
	imap_view_close(s->view);
	s->view = NULL;
}

static bool needs_selected(const char *name)
{
	static const char *const names[] = { "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "FETCH", "STORE",
					     "COPY", "MOVE", "SEARCH", "UID" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return false;
}

static void run_uid(struct imap_session *s, const struct xi_imap_command *cmd)
{
	const struct xi_imap_arg *sub = cmd->args;
	const char *name = sub != NULL && sub->type == XI_IMAP_ARG_ATOM ? sub->str : "";
	const struct xi_imap_arg *args = sub != NULL ? sub->next : NULL;

	if (strcasecmp(name, "FETCH") == 0)
		imap_cmd_fetch(s, cmd, args, true);
	else if (strcasecmp(name, "STORE") == 0)
		imap_cmd_store(s, cmd, args, true);
	else if (strcasecmp(name, "COPY") == 0)
		imap_cmd_copy(s, cmd, args, true, false);
	else if (strcasecmp(name, "MOVE") == 0)
		imap_cmd_copy(s, cmd, args, true, true);
	else if (strcasecmp(name, "SEARCH") == 0)
		imap_cmd_search(s, cmd, args, true);
	else if (strcasecmp(name, "EXPUNGE") == 0) {
		if (args == NULL || args->next != NULL)
			imap_tagged(s, cmd->tag, "BAD UID EXPUNGE needs a UID set.");
		else
			imap_cmd_expunge(s, cmd, args);
	} else
		imap_tagged(s, cmd->tag, "BAD Unknown UID command.");
}

static void run_command(struct imap_session *s, const struct xi_imap_command *cmd)
{
	const char *name = cmd->name, *tag = cmd->tag;

	s->allow_expunge = !(strcasecmp(name, "FETCH") == 0 || strcasecmp(name, "STORE") == 0 ||
			     strcasecmp(name, "SEARCH") == 0);
	if (s->view == NULL && needs_selected(name)) {
		imap_tagged(s, tag, "BAD No mailbox selected.");
		return;
	}
	const char *shape = xi_imap_command_shape_error(cmd);
	if (shape != NULL) {
		imap_tagged(s, tag, "BAD %s", shape);
		return;
	}
	if (strcasecmp(name, "CAPABILITY") == 0) {
		imap_printf(s, "* CAPABILITY " IMAP_CAPS_SESSION "\r\n");
		imap_tagged(s, tag, "OK Capability completed.");
	} else if (strcasecmp(name, "NOOP") == 0 || strcasecmp(name, "CHECK") == 0) {
		imap_tagged(s, tag, "OK %s completed.", strcasecmp(name, "NOOP") == 0 ? "NOOP" : "Check");
	} else if (strcasecmp(name, "LOGOUT") == 0) {
		imap_printf(s, "* BYE Logging out.\r\n%s OK Logout completed.\r\n", tag);
		s->logout = true;
	} else if (strcasecmp(name, "ID") == 0) {
		imap_printf(s, "* ID (\"name\" \"" XIDENTD_IMPLEMENTATION "\")\r\n");
		imap_tagged(s, tag, "OK ID completed.");
	} else if (strcasecmp(name, "NAMESPACE") == 0) {
		imap_printf(s, "* NAMESPACE ((\"\" \"" IMAP_SEP_STR "\")) NIL NIL\r\n");
		imap_tagged(s, tag, "OK Namespace completed.");
	} else if (strcasecmp(name, "ENABLE") == 0) {
		/* No extension here is enabled by ENABLE (no CONDSTORE/QRESYNC). */
		imap_printf(s, "* ENABLED\r\n");
		imap_tagged(s, tag, "OK Enabled.");
	} else if (strcasecmp(name, "IDLE") == 0) {
		cmd_idle(s, tag);
	} else if (strcasecmp(name, "SELECT") == 0 || strcasecmp(name, "EXAMINE") == 0) {
		if (s->view != NULL) {
			/* RFC 7162 3.2.11, as Dovecot sends it to every client. */
			unselect(s, false);
			imap_printf(s, "* OK [CLOSED] Previous mailbox closed.\r\n");
		}
		imap_cmd_select(s, cmd, strcasecmp(name, "EXAMINE") == 0);
	} else if (strcasecmp(name, "CREATE") == 0) {
		imap_cmd_create(s, cmd);
	} else if (strcasecmp(name, "DELETE") == 0) {
		imap_cmd_delete(s, cmd);
	} else if (strcasecmp(name, "RENAME") == 0) {
		imap_cmd_rename(s, cmd);
	} else if (strcasecmp(name, "SUBSCRIBE") == 0 || strcasecmp(name, "UNSUBSCRIBE") == 0) {
		imap_cmd_subscribe(s, cmd, strcasecmp(name, "SUBSCRIBE") == 0);
	} else if (strcasecmp(name, "LIST") == 0 || strcasecmp(name, "LSUB") == 0) {
		imap_cmd_list(s, cmd, strcasecmp(name, "LSUB") == 0);
	} else if (strcasecmp(name, "STATUS") == 0) {
		imap_cmd_status(s, cmd);
	} else if (strcasecmp(name, "APPEND") == 0) {
		imap_cmd_append(s, cmd);
	} else if (strcasecmp(name, "CLOSE") == 0 || strcasecmp(name, "UNSELECT") == 0) {
		/* No EXPUNGE responses: the mailbox is no longer selected. */
		unselect(s, strcasecmp(name, "CLOSE") == 0);
		imap_tagged(s, tag, "OK %s completed.", strcasecmp(name, "CLOSE") == 0 ? "Close"
											: "Unselect");
	} else if (strcasecmp(name, "EXPUNGE") == 0) {
		if (cmd->argc != 0)
			imap_tagged(s, tag, "BAD EXPUNGE takes no arguments.");
		else
			imap_cmd_expunge(s, cmd, NULL);
	} else if (strcasecmp(name, "FETCH") == 0) {
		imap_cmd_fetch(s, cmd, cmd->args, false);
	} else if (strcasecmp(name, "STORE") == 0) {
		imap_cmd_store(s, cmd, cmd->args, false);
	} else if (strcasecmp(name, "COPY") == 0 || strcasecmp(name, "MOVE") == 0) {
		imap_cmd_copy(s, cmd, cmd->args, false, strcasecmp(name, "MOVE") == 0);
	} else if (strcasecmp(name, "SEARCH") == 0) {
		imap_cmd_search(s, cmd, cmd->args, false);
	} else if (strcasecmp(name, "UID") == 0) {
		run_uid(s, cmd);
	} else if (strcasecmp(name, "LOGIN") == 0 || strcasecmp(name, "AUTHENTICATE") == 0) {
		imap_tagged(s, tag, "BAD Already logged in.");
	} else if (strcasecmp(name, "STARTTLS") == 0) {
		imap_tagged(s, tag, "BAD STARTTLS is only valid before logon.");
	} else {
		imap_tagged(s, tag, "BAD Unknown command.");
	}
}

int xd_imap_main(const struct xd_session_settings *set, int fd, const char *user, const char *maildir,
		 const char *tag, const char *pending, size_t pending_len)
{
	struct imap_session s = { .fd = fd, .user = user };
	struct xi_error err = { 0 };
	struct xi_imap_limits lim;

	s.idle_ms = (int)set->idle_s * 1000;
	if (s.idle_ms < XD_IMAP_AUTOLOGOUT_MS)
		s.idle_ms = XD_IMAP_AUTOLOGOUT_MS;
	{
		/* A client that stops reading must not hold this process in
		 * write() for ever: the write fails after the idle time. */
		struct timeval tv = { .tv_sec = s.idle_ms / 1000 };
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (tag == NULL || tag[0] == '\0')
		tag = "*";
	if (xi_maildir_open(maildir, true, NULL, &s.md, &err) < 0) {
		xd_log(LOG_ERR, "imap: user %s: cannot open %s: %s", user, maildir, err.message);
		imap_printf(&s, "%s NO [UNAVAILABLE] The mailbox is not available now.\r\n", tag);
		imap_flush(&s);
		free(s.out);
		return 1;
	}
	xi_imap_limits_default(&lim);
	s.parser = xi_imap_parser_new(&lim);
	if (s.parser == NULL || (pending_len > 0 && (s.in = malloc(pending_len + READ_CHUNK)) == NULL)) {
		imap_printf(&s, "%s NO [UNAVAILABLE] Out of memory.\r\n", tag);
		imap_flush(&s);
		return 1;
	}
	if (pending_len > 0) {
		memcpy(s.in, pending, pending_len);
		s.in_len = pending_len;
		s.in_cap = pending_len + READ_CHUNK;
	}
	imap_printf(&s, "%s OK [CAPABILITY " IMAP_CAPS_SESSION "] Logged in.\r\n", tag);

	while (!s.failed && !s.logout) {
		size_t used = 0;
		enum xi_imap_feed r;

		if (s.in_len == 0 && !read_more(&s, s.idle_ms))
			break;
		r = xi_imap_parser_feed(s.parser, s.in, s.in_len, &used);
		consume(&s, used);
		switch (r) {
		case XI_IMAP_NEED_MORE:
			break; /* all consumed: the loop reads more */
		case XI_IMAP_CONTINUE:
			imap_printf(&s, "+ Ready for literal data.\r\n");
			imap_flush(&s);
			break;
		case XI_IMAP_ERROR: {
			const struct xi_imap_error *e = xi_imap_parser_error(s.parser);
			if (e->fatal) {
				imap_printf(&s, "* BYE %s\r\n", e->text);
				s.logout = true;
			} else {
				imap_printf(&s, "%s BAD %s\r\n", e->tag, e->text);
			}
			break;
		}
		case XI_IMAP_COMMAND:
			run_command(&s, xi_imap_parser_command(s.parser));
			break;
		}
	}
	imap_flush(&s);
	unselect(&s, false);
	xi_imap_parser_free(s.parser);
	xi_maildir_close(s.md);
	free(s.in);
	free(s.out);
	return 0;
}
