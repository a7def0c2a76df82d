/* IMAP and POP3 logons on fresh TCP connections, the way a mail client
 * checks a mailbox: greeting, LOGIN (or USER/PASS, or AUTHENTICATE/AUTH NTLM), LOGOUT
 * (or QUIT), close.  A logon is timed from connect() to the server's OK for
 * the password. */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum mail_state {
	MAIL_GREETING = 0,
	MAIL_WAIT_USER,		/* POP3 only */
	MAIL_WAIT_LOGIN,
	MAIL_WAIT_LOGOUT,
	MAIL_WAIT_NTLM_GO,	/* POP3 NTLM: "+ " after AUTH NTLM */
	MAIL_WAIT_NTLM_CHALLENGE,
};

static int mail_open(struct bench_conn *conn)
{
	if (bench_begin_logon(conn) == NULL)
		return -1;
	conn->fd = bench_connect_tcp(conn->opts->host, conn->opts->port);
	conn->connecting = true;
	conn->state = MAIL_GREETING;
	return conn->fd < 0 ? -1 : 0;
}

/* IMAP quoted string: bench names and passwords hold no CR/LF. */
int bench_imap_quote(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	out[n++] = '"';
	for (; *s != '\0'; s++) {
		if (n + 3 >= cap)
			return -1;
		if (*s == '"' || *s == '\\')
			out[n++] = '\\';
		out[n++] = *s;
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

static enum bench_step imap_line(struct bench_conn *conn, const char *line)
{
	char user[600], pass[600];

	switch (conn->state) {
	case MAIL_GREETING:
		if (strncmp(line, "* OK", 4) != 0)
			return BENCH_ERROR;
		if (bench_imap_quote(conn->user->name, user, sizeof(user)) < 0 ||
		    bench_imap_quote(conn->user->password, pass, sizeof(pass)) < 0 ||
		    bench_sendf(conn, "a LOGIN %s %s\r\n", user, pass) < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_LOGIN;
		return BENCH_MORE;
	case MAIL_WAIT_LOGIN:
		if (line[0] == '*')
			return BENCH_MORE;	/* untagged CAPABILITY and the like */
		if (bench_sendf(conn, "b LOGOUT\r\n") < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_LOGOUT;
		if (strncmp(line, "a OK", 4) == 0)
			return BENCH_LOGON_OK;
		if (strncmp(line, "a NO", 4) == 0)
			return BENCH_LOGON_FAILED;
		return BENCH_ERROR;
	case MAIL_WAIT_LOGOUT:
		if (strncmp(line, "b ", 2) == 0)
			return BENCH_CLOSE;
		return BENCH_MORE;	/* * BYE */
	}
	return BENCH_ERROR;
}

static enum bench_step pop3_line(struct bench_conn *conn, const char *line)
{
	bool ok = strncmp(line, "+OK", 3) == 0;

	switch (conn->state) {
	case MAIL_GREETING:
		if (!ok || bench_sendf(conn, "USER %s\r\n", conn->user->name) < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_USER;
		return BENCH_MORE;
	case MAIL_WAIT_USER:
		if (!ok || bench_sendf(conn, "PASS %s\r\n", conn->user->password) < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_LOGIN;
		return BENCH_MORE;
	case MAIL_WAIT_LOGIN:
		if (bench_sendf(conn, "QUIT\r\n") < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_LOGOUT;
		return ok ? BENCH_LOGON_OK : BENCH_LOGON_FAILED;
	case MAIL_WAIT_LOGOUT:
		return BENCH_CLOSE;
	}
	return BENCH_ERROR;
}

/* MS-POP3 NTLM (the framing Outlook uses): AUTH NTLM, "+ ", the
 * NEGOTIATE in base64, "+ CHALLENGE", the AUTHENTICATE, then +OK or -ERR. */
static enum bench_step pop3_ntlm_line(struct bench_conn *conn, const char *line)
{
	bool ok = strncmp(line, "+OK", 3) == 0;
	unsigned char raw[4096];
	char b64[6000];
	size_t len;
	int clen;

	switch (conn->state) {
	case MAIL_GREETING:
		if (!ok || bench_sendf(conn, "AUTH NTLM\r\n") < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_NTLM_GO;
		return BENCH_MORE;
	case MAIL_WAIT_NTLM_GO:
		if (line[0] != '+' || ok)
			return BENCH_ERROR;
		len = bench_ntlm_negotiate(raw, sizeof(raw));
		if (len == 0 || bench_b64_encode(raw, len, b64, sizeof(b64)) < 0 ||
		    bench_sendf(conn, "%s\r\n", b64) < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_NTLM_CHALLENGE;
		return BENCH_MORE;
	case MAIL_WAIT_NTLM_CHALLENGE:
		if (strncmp(line, "+ ", 2) != 0) {
			if (strncmp(line, "-ERR", 4) != 0 || bench_sendf(conn, "QUIT\r\n") < 0)
				return BENCH_ERROR;
			conn->state = MAIL_WAIT_LOGOUT;
			return BENCH_LOGON_FAILED;
		}
		clen = bench_b64_decode(line + 2, raw, sizeof(raw));
		if (clen <= 0)
			return BENCH_ERROR;
		{
			unsigned char msg[4096];

			len = bench_ntlm_authenticate_user(raw, (size_t)clen, conn->opts->domain, conn->user,
					      msg, sizeof(msg));
			if (len == 0 || bench_b64_encode(msg, len, b64, sizeof(b64)) < 0 ||
			    bench_sendf(conn, "%s\r\n", b64) < 0)
				return BENCH_ERROR;
		}
		conn->state = MAIL_WAIT_LOGIN;
		return BENCH_MORE;
	case MAIL_WAIT_LOGIN:
		if (bench_sendf(conn, "QUIT\r\n") < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_LOGOUT;
		return ok ? BENCH_LOGON_OK : BENCH_LOGON_FAILED;
	case MAIL_WAIT_LOGOUT:
		return BENCH_CLOSE;
	}
	return BENCH_ERROR;
}

/* IMAP AUTHENTICATE NTLM (RFC 3501 SASL continuations, no SASL-IR: the
 * exchange Outlook performs): "+ ", the NEGOTIATE, "+ CHALLENGE", the
 * AUTHENTICATE, then the tagged OK or NO. */
static enum bench_step imap_ntlm_line(struct bench_conn *conn, const char *line)
{
	unsigned char raw[4096], msg[4096];
	char b64[6000];
	size_t len;
	int clen;

	switch (conn->state) {
	case MAIL_GREETING:
		if (strncmp(line, "* OK", 4) != 0 || bench_sendf(conn, "a AUTHENTICATE NTLM\r\n") < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_NTLM_GO;
		return BENCH_MORE;
	case MAIL_WAIT_NTLM_GO:
		if (line[0] != '+')
			break;	/* refused at once (no NTLM here): the tagged line */
		len = bench_ntlm_negotiate(raw, sizeof(raw));
		if (len == 0 || bench_b64_encode(raw, len, b64, sizeof(b64)) < 0 ||
		    bench_sendf(conn, "%s\r\n", b64) < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_NTLM_CHALLENGE;
		return BENCH_MORE;
	case MAIL_WAIT_NTLM_CHALLENGE:
		if (strncmp(line, "+ ", 2) != 0)
			break;	/* refused before the challenge: the tagged line */
		clen = bench_b64_decode(line + 2, raw, sizeof(raw));
		if (clen <= 0)
			return BENCH_ERROR;
		len = bench_ntlm_authenticate_user(raw, (size_t)clen, conn->opts->domain, conn->user,
					      msg, sizeof(msg));
		if (len == 0 || bench_b64_encode(msg, len, b64, sizeof(b64)) < 0 ||
		    bench_sendf(conn, "%s\r\n", b64) < 0)
			return BENCH_ERROR;
		conn->state = MAIL_WAIT_LOGIN;
		return BENCH_MORE;
	case MAIL_WAIT_LOGIN:
		break;
	case MAIL_WAIT_LOGOUT:
		if (strncmp(line, "b ", 2) == 0)
			return BENCH_CLOSE;
		return BENCH_MORE;	/* * BYE */
	default:
		return BENCH_ERROR;
	}
	/* MAIL_WAIT_LOGIN, or a refusal instead of a continuation */
	if (line[0] == '*')
		return BENCH_MORE;
	if (bench_sendf(conn, "b LOGOUT\r\n") < 0)
		return BENCH_ERROR;
	conn->state = MAIL_WAIT_LOGOUT;
	if (strncmp(line, "a OK", 4) == 0)
		return BENCH_LOGON_OK;
	if (strncmp(line, "a NO", 4) == 0)
		return BENCH_LOGON_FAILED;
	return BENCH_ERROR;
}

static void mail_close(struct bench_conn *conn)
{
	close(conn->fd);
}

const struct bench_driver bench_imap_driver = {
	.name = "imap", .open = mail_open, .line = imap_line, .close = mail_close,
};

const struct bench_driver bench_imap_ntlm_driver = {
	.name = "imap-ntlm", .open = mail_open, .line = imap_ntlm_line, .close = mail_close,
};

const struct bench_driver bench_pop3_driver = {
	.name = "pop3", .open = mail_open, .line = pop3_line, .close = mail_close,
};

const struct bench_driver bench_pop3_ntlm_driver = {
	.name = "pop3-ntlm", .open = mail_open, .line = pop3_ntlm_line, .close = mail_close,
};
