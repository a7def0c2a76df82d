/* Dovecot's auth-client protocol (version 1.2), as a login process speaks
 * it on the auth-client socket: handshake (VERSION, CPID; the server answers
 * VERSION, MECH..., SPID, CUID, COOKIE, DONE), then one AUTH at a time on
 * each connection, with CONT rounds for NTLM, answered by OK or FAIL. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum auth_state {
	AUTH_HANDSHAKE = 0,
	AUTH_WAIT_RESULT,
	AUTH_WAIT_CHALLENGE,
};

/* Request ids are per connection; the id in an answer must match. */
static bool answer_is_ours(const struct bench_conn *conn, const char *rest)
{
	char *end;
	unsigned long id = strtoul(rest, &end, 10);

	return id == conn->next_id && (*end == '\t' || *end == '\0');
}

static int auth_open(struct bench_conn *conn)
{
	conn->fd = bench_connect_unix(conn->opts->socket_path);
	if (conn->fd < 0)
		return -1;
	conn->state = AUTH_HANDSHAKE;
	/* The auth-client listener ignores CPID for uniqueness (it is not a
	 * login listener), but a distinct value keeps its log readable. */
	return bench_sendf(conn, "VERSION\t1\t2\nCPID\t%u\n", 100000 + conn->index);
}

static int send_plain(struct bench_conn *conn)
{
	const struct bench_user *u = bench_begin_logon(conn);
	unsigned char raw[1024];
	char b64[1400];
	size_t nl = strlen(u->name), pl = strlen(u->password);

	if (nl + pl + 2 > sizeof(raw))
		return -1;
	/* PLAIN: authzid (empty) NUL authcid NUL password */
	raw[0] = '\0';
	memcpy(raw + 1, u->name, nl);
	raw[1 + nl] = '\0';
	memcpy(raw + 2 + nl, u->password, pl);
	if (bench_b64_encode(raw, nl + pl + 2, b64, sizeof(b64)) < 0)
		return -1;
	conn->next_id++;
	conn->state = AUTH_WAIT_RESULT;
	return bench_sendf(conn, "AUTH\t%u\tPLAIN\tservice=%s\tsecured\tlip=127.0.0.1\trip=127.0.0.1\tresp=%s\n",
			   conn->next_id, conn->opts->service, b64);
}

static int send_ntlm_negotiate(struct bench_conn *conn)
{
	unsigned char raw[64];
	char b64[128];
	size_t len;

	bench_begin_logon(conn);
	len = bench_ntlm_negotiate(raw, sizeof(raw));
	if (len == 0 || bench_b64_encode(raw, len, b64, sizeof(b64)) < 0)
		return -1;
	conn->next_id++;
	conn->state = AUTH_WAIT_CHALLENGE;
	return bench_sendf(conn, "AUTH\t%u\tNTLM\tservice=%s\tsecured\tlip=127.0.0.1\trip=127.0.0.1\tresp=%s\n",
			   conn->next_id, conn->opts->service, b64);
}

static int send_ntlm_authenticate(struct bench_conn *conn, const char *challenge_b64)
{
	unsigned char challenge[2048], msg[4096];
	char b64[6000];
	int clen = bench_b64_decode(challenge_b64, challenge, sizeof(challenge));
	size_t mlen;

	if (clen <= 0)
		return -1;
	mlen = bench_ntlm_authenticate_user(challenge, (size_t)clen, conn->opts->domain, conn->user,
					      msg, sizeof(msg));
	if (mlen == 0 || bench_b64_encode(msg, mlen, b64, sizeof(b64)) < 0)
		return -1;
	conn->state = AUTH_WAIT_RESULT;
	return bench_sendf(conn, "CONT\t%u\t%s\n", conn->next_id, b64);
}

static int start_logon(struct bench_conn *conn)
{
	return conn->driver == &bench_auth_ntlm_driver ? send_ntlm_negotiate(conn) : send_plain(conn);
}

static enum bench_step auth_line(struct bench_conn *conn, const char *line)
{
	if (conn->state == AUTH_HANDSHAKE) {
		if (strcmp(line, "DONE") != 0)
			return BENCH_MORE;	/* VERSION, MECH, SPID, CUID, COOKIE */
		return start_logon(conn) < 0 ? BENCH_ERROR : BENCH_MORE;
	}
	if (strncmp(line, "OK\t", 3) == 0 && answer_is_ours(conn, line + 3))
		return start_logon(conn) < 0 ? BENCH_ERROR : BENCH_LOGON_OK;
	if (strncmp(line, "FAIL\t", 5) == 0 && answer_is_ours(conn, line + 5)) {
		static unsigned reported;

		/* Say why once: a benchmark full of failures measures nothing. */
		if (reported++ == 0)
			fprintf(stderr, "xibench: first refusal: %s\n", line);
		return start_logon(conn) < 0 ? BENCH_ERROR : BENCH_LOGON_FAILED;
	}
	if (strncmp(line, "CONT\t", 5) == 0 && answer_is_ours(conn, line + 5) &&
	    conn->state == AUTH_WAIT_CHALLENGE) {
		const char *data = strchr(line + 5, '\t');

		return data != NULL && send_ntlm_authenticate(conn, data + 1) == 0 ?
			BENCH_MORE : BENCH_ERROR;
	}
	fprintf(stderr, "xibench: unexpected auth line: %.200s\n", line);
	return BENCH_ERROR;
}

static void auth_close(struct bench_conn *conn)
{
	close(conn->fd);
}

const struct bench_driver bench_auth_plain_driver = {
	.name = "auth-plain", .open = auth_open, .line = auth_line, .close = auth_close,
};

const struct bench_driver bench_auth_ntlm_driver = {
	.name = "auth-ntlm", .open = auth_open, .line = auth_line, .close = auth_close,
};
