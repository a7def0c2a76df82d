/* imap-session: a whole IMAP session per connection, the way a mail client
 * checks a mailbox and reads a message, rather than only logging on:
 *
 *   LOGIN, SELECT INBOX, FETCH 1:* (FLAGS), FETCH of one random message
 *   (UID RFC822.SIZE ENVELOPE BODY.PEEK[]), SEARCH UNSEEN,
 *   SEARCH HEADER Subject "message", STORE +FLAGS (\Seen) then -FLAGS
 *   (\Seen) on that message (the mailbox ends as it began), LOGOUT.
 *
 * A session is timed from connect() to the tagged OK of LOGOUT; every
 * command is also timed from its sending to its tagged answer.  Message
 * bodies arrive as literals ({N} at the end of a line), which the loop
 * skips byte-exactly (conn->literal_left), so the content of the corpus
 * can never pass for a tagged answer.  A LOGIN refused counts as a failed
 * logon; any other NO or BAD is a protocol error. */
#include "bench.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One tag per command, in the order they are sent: state n waits for the
 * answer tagged session_tags[n]. */
enum session_cmd {
	CMD_LOGIN,
	CMD_SELECT,
	CMD_FETCH_FLAGS,
	CMD_FETCH_MESSAGE,
	CMD_SEARCH_UNSEEN,
	CMD_SEARCH_HEADER,
	CMD_STORE_SEEN,
	CMD_STORE_UNSEEN,
	CMD_LOGOUT,
	CMD_COUNT
};

static const char *const command_names[CMD_COUNT] = {
	"LOGIN", "SELECT", "FETCH-FLAGS", "FETCH-MESSAGE", "SEARCH-UNSEEN",
	"SEARCH-HEADER", "STORE+SEEN", "STORE-SEEN", "LOGOUT",
};

/* conn->state: -1 = LOGOUT answered (the server's close is expected),
 * 0 = greeting, 1 + cmd = waiting for cmd's tagged answer. */
#define STATE_GREETING 0
#define STATE_WAIT(cmd) (1 + (int)(cmd))

struct session_priv {
	unsigned long exists;	/* from SELECT's * N EXISTS */
	unsigned long message;	/* the sequence number fetched and flagged */
	unsigned long fetched;	/* FETCH responses to FETCH 1:* */
	bool body_seen;		/* the random message's body literal came */
};

static int session_open(struct bench_conn *conn)
{
	if (conn->priv == NULL && (conn->priv = calloc(1, sizeof(struct session_priv))) == NULL)
		return -1;
	memset(conn->priv, 0, sizeof(struct session_priv));
	if (bench_begin_logon(conn) == NULL)
		return -1;
	conn->fd = bench_connect_tcp(conn->opts->host, conn->opts->port);
	conn->connecting = true;
	conn->state = STATE_GREETING;
	return conn->fd < 0 ? -1 : 0;
}

/* A protocol error, said on stderr (the first few only: the run's
 * output keeps the tail of stderr) so a row with errors tells why. */
static enum bench_step session_error(struct bench_conn *conn, const char *why, const char *line)
{
	static unsigned said;

	if (said++ < 5)
		fprintf(stderr, "xibench imap-session: %s: %s (state %d): %.200s\n",
			conn->user ? conn->user->name : "?", why, conn->state, line);
	return BENCH_ERROR;
}

/* Sends command cmd (tagged with its letter) and waits for its answer. */
static enum bench_step send_cmd(struct bench_conn *conn, enum session_cmd cmd, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum bench_step send_cmd(struct bench_conn *conn, enum session_cmd cmd, const char *fmt, ...)
{
	char buf[BENCH_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    bench_sendf(conn, "%c %s\r\n", 'a' + (int)cmd, buf) < 0)
		return BENCH_ERROR;
	conn->command_ns = bench_now_ns();
	conn->state = STATE_WAIT(cmd);
	return BENCH_MORE;
}

/* A literal announced at the end of the line ({N} or {N+}): the loop
 * skips its N bytes before splitting lines again. */
static void note_literal(struct bench_conn *conn, const char *line)
{
	size_t len = strlen(line);
	const char *open;
	char *end;
	unsigned long long n;

	if (len < 3 || line[len - 1] != '}')
		return;
	open = strrchr(line, '{');
	if (open == NULL)
		return;
	n = strtoull(open + 1, &end, 10);
	if (end == open + 1 || (*end != '}' && !(end[0] == '+' && end[1] == '}')))
		return;
	conn->literal_left = (size_t)n;
}

/* "x OK", "x NO", "x BAD" for tag x: the answer's status, or NULL when the
 * line is not tagged x. */
static const char *tagged(const char *line, char tag)
{
	if (line[0] != tag || line[1] != ' ')
		return NULL;
	return line + 2;
}

static enum bench_step untagged(struct bench_conn *conn, const char *line)
{
	struct session_priv *p = conn->priv;
	unsigned long n;
	char word[16];

	note_literal(conn, line);
	if (sscanf(line, "* %lu %15s", &n, word) == 2) {
		if (strcmp(word, "EXISTS") == 0)
			p->exists = n;
		else if (strcmp(word, "FETCH") == 0) {
			if (conn->state == STATE_WAIT(CMD_FETCH_FLAGS))
				p->fetched++;
		}
	}
	return BENCH_MORE;
}

static enum bench_step session_line(struct bench_conn *conn, const char *line)
{
	struct session_priv *p = conn->priv;
	char user[600], pass[600];
	const char *status;
	enum session_cmd cmd;

	if (conn->state == STATE_GREETING) {
		if (strncmp(line, "* OK", 4) != 0)
			return session_error(conn, "no greeting", line);
		if (bench_imap_quote(conn->user->name, user, sizeof(user)) < 0 ||
		    bench_imap_quote(conn->user->password, pass, sizeof(pass)) < 0)
			return BENCH_ERROR;
		return send_cmd(conn, CMD_LOGIN, "LOGIN %s %s", user, pass);
	}
	if (conn->state < 0)
		return BENCH_MORE;	/* anything after LOGOUT's answer: wait for the close */
	/* The body's literal may follow an ENVELOPE holding literals itself,
	 * so its announcement can be on a continuation line. */
	if (conn->state == STATE_WAIT(CMD_FETCH_MESSAGE) && strstr(line, "BODY[] {") != NULL)
		p->body_seen = true;
	if (line[0] == '*' || line[0] == '+' || line[0] == ')' || line[0] == ' ')
		return untagged(conn, line);
	cmd = (enum session_cmd)(conn->state - 1);
	status = tagged(line, (char)('a' + (int)cmd));
	if (status == NULL) {
		note_literal(conn, line);	/* the rest of a response after a literal */
		return BENCH_MORE;
	}
	if (strncmp(status, "OK", 2) != 0) {
		if (cmd == CMD_LOGIN && strncmp(status, "NO", 2) == 0) {
			send_cmd(conn, CMD_LOGOUT, "LOGOUT");
			conn->state = -2;	/* the LOGOUT's answer and the close end it */
			return BENCH_LOGON_FAILED;
		}
		return session_error(conn, "command refused", line);
	}
	bench_command_done(conn, cmd);
	switch (cmd) {
	case CMD_LOGIN:
		return send_cmd(conn, CMD_SELECT, "SELECT INBOX");
	case CMD_SELECT:
		if (p->exists == 0)
			return session_error(conn, "empty INBOX (the bench delivers mail first)", line);
		p->message = 1 + (unsigned long)(bench_random(conn) % p->exists);
		return send_cmd(conn, CMD_FETCH_FLAGS, "FETCH 1:* (FLAGS)");
	case CMD_FETCH_FLAGS:
		/* More is fine: a session of the same user elsewhere may change
		 * flags meanwhile, which this one is told of with FETCH too. */
		if (p->fetched < p->exists)
			return session_error(conn, "fewer FETCH responses than messages", line);
		return send_cmd(conn, CMD_FETCH_MESSAGE, "FETCH %lu (UID RFC822.SIZE ENVELOPE BODY.PEEK[])",
				p->message);
	case CMD_FETCH_MESSAGE:
		if (!p->body_seen)
			return session_error(conn, "no BODY[] in the answer", line);
		return send_cmd(conn, CMD_SEARCH_UNSEEN, "SEARCH UNSEEN");
	case CMD_SEARCH_UNSEEN:
		return send_cmd(conn, CMD_SEARCH_HEADER, "SEARCH HEADER Subject \"message\"");
	case CMD_SEARCH_HEADER:
		return send_cmd(conn, CMD_STORE_SEEN, "STORE %lu +FLAGS (\\Seen)", p->message);
	case CMD_STORE_SEEN:
		return send_cmd(conn, CMD_STORE_UNSEEN, "STORE %lu -FLAGS (\\Seen)", p->message);
	case CMD_STORE_UNSEEN:
		return send_cmd(conn, CMD_LOGOUT, "LOGOUT");
	case CMD_LOGOUT:
		conn->state = -1;
		return BENCH_LOGON_OK;	/* the session, timed from connect() */
	case CMD_COUNT:
		break;
	}
	return BENCH_ERROR;
}

static void session_close(struct bench_conn *conn)
{
	close(conn->fd);
}

const struct bench_driver bench_imap_session_driver = {
	.name = "imap-session", .unit = "session",
	.open = session_open, .line = session_line, .close = session_close,
	.commands = command_names, .command_count = CMD_COUNT,
};
