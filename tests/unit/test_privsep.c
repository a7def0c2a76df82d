/* xidentd's privilege-separation messages (standalone/privsep.h): round
 * trips, every bound, and hostile messages from a compromised peer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "privsep.h"
#include "tap.h"

static struct xi_msg m, r;

static void round_trip(void)
{
	int sv[2];
	char buf[64];
	uint32_t v;
	const uint8_t *d;
	size_t l;
	int fd = -1, pfd[2];

	tap_ok(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "seqpacket socketpair");
	xi_msg_init(&m, XI_MSG_AUTH_PLAIN, 0x12345);
	xi_msg_put_str(&m, "pop3");
	xi_msg_put_u32(&m, 77);
	xi_msg_put(&m, "a\0b", 3);
	xi_msg_put_str(&m, NULL);
	tap_ok(!m.bad, "fields fit");
	tap_ok(pipe(pfd) == 0, "pipe to pass");
	tap_ok(xi_msg_send(sv[0], &m, pfd[0]) == 0, "send with a descriptor");
	tap_is_int(xi_msg_recv(sv[1], &r, &fd), 1, "receive");
	tap_ok(fd >= 0 && fd != pfd[0], "descriptor received");
	tap_is_int(r.type, XI_MSG_AUTH_PLAIN, "type");
	tap_is_int(r.conn, 0x12345, "conn id");
	tap_ok(xi_msg_str(&r, buf, sizeof(buf)) && strcmp(buf, "pop3") == 0, "string field");
	tap_ok(xi_msg_u32(&r, &v) && v == 77, "u32 field");
	tap_ok(!xi_msg_str(&r, buf, sizeof(buf)) && r.bad, "a field holding NUL is no string");
	r.bad = false;
	r.pos = 8 + 2 + 4 + 2 + 4;
	tap_ok(xi_msg_bytes(&r, &d, &l, 16) && l == 3 && memcmp(d, "a\0b", 3) == 0, "bytes field");
	tap_ok(xi_msg_str(&r, buf, sizeof(buf)) && buf[0] == '\0', "empty string");
	tap_ok(!xi_msg_bytes(&r, &d, &l, 16) && r.bad, "reading past the last field fails");
	if (fd >= 0)
		close(fd);
	close(pfd[0]);
	close(pfd[1]);

	/* Bounds on the reader's side. */
	xi_msg_init(&m, 1, 1);
	xi_msg_put_str(&m, "0123456789");
	xi_msg_send(sv[0], &m, -1);
	xi_msg_recv(sv[1], &r, NULL);
	tap_ok(!xi_msg_str(&r, buf, 10) && r.bad, "string longer than the buffer refused");
	xi_msg_init(&m, 1, 1);
	xi_msg_put(&m, "abc", 3);
	xi_msg_send(sv[0], &m, -1);
	xi_msg_recv(sv[1], &r, NULL);
	tap_ok(!xi_msg_u32(&r, &v), "u32 of the wrong length refused");

	/* Hostile raw messages. */
	{
		uint8_t raw[32] = { 1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 'x' };
		send(sv[0], raw, 11, 0);
		tap_is_int(xi_msg_recv(sv[1], &r, NULL), 1, "raw message received");
		tap_ok(!xi_msg_bytes(&r, &d, &l, XI_MSG_MAX) && r.bad,
		       "field length beyond the message refused");
		send(sv[0], raw, 5, 0);
		errno = 0;
		tap_ok(xi_msg_recv(sv[1], &r, NULL) == -1 && errno == EPROTO, "message shorter than a header refused");
		send(sv[0], raw, 9, 0);
		xi_msg_recv(sv[1], &r, NULL);
		tap_ok(!xi_msg_bytes(&r, &d, &l, 10), "half a length prefix refused");
	}
	{
		uint8_t *big = calloc(1, XI_MSG_MAX + 100);
		int size = XI_MSG_MAX * 4;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		ssize_t n = send(sv[0], big, XI_MSG_MAX + 100, 0);
		errno = 0;
		tap_ok(n < 0 || (xi_msg_recv(sv[1], &r, NULL) == -1 && errno == EPROTO),
		       "message larger than XI_MSG_MAX refused (truncated)");
		free(big);
	}
	/* The writer refuses what does not fit. */
	{
		static char chunk[60000];
		xi_msg_init(&m, 1, 1);
		xi_msg_put(&m, chunk, sizeof(chunk));
		tap_ok(!m.bad, "one large field fits");
		xi_msg_put(&m, chunk, 10000);
		tap_ok(m.bad, "overflowing the message marks it bad");
		tap_ok(xi_msg_send(sv[0], &m, -1) == -1 && errno == EMSGSIZE, "a bad message is never sent");
		xi_msg_init(&m, 1, 1);
		xi_msg_put(&m, chunk, 70000);
		tap_ok(m.bad, "a field over 65535 bytes marks it bad");
	}
	close(sv[0]);
	tap_is_int(xi_msg_recv(sv[1], &r, NULL), 0, "EOF when the peer is gone");
	close(sv[1]);
}

int main(void)
{
	round_trip();
	return tap_done();
}
