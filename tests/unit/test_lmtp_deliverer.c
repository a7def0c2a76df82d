/*
 * test_lmtp_deliverer: xidentd-lmtp's deliverer (root, no secrets) answers
 * a malformed request from its protocol process (the process that parses
 * the network) with a reply built only from what it read: no stack bytes
 * of the root process travel back.  The deliverer runs here in-process on
 * socketpairs; the stack below it is painted first so that a field left
 * unset shows.
 */
#define main xidentd_lmtp_main
int xidentd_lmtp_main(int argc, char **argv);
#include "xidentd_lmtp.c"
#undef main

#include "tap.h"

/* Fills the stack the deliverer's frame will occupy with 'Z' (no NUL). */
static __attribute__((noinline)) void paint_stack(void)
{
	volatile char area[64 * 1024];

	memset((char *)area, 'Z', sizeof(area));
}

static __attribute__((noinline)) int run_deliverer(int proto, int res)
{
	paint_stack();
	return deliverer_main(proto, res, "127.0.0.1");
}

/* Sends one DATA request built by fill, runs the deliverer until EOF and
 * returns its reply line in reply. */
static bool data_reply(void (*fill)(struct xi_msg *m), char *reply, size_t size)
{
	int proto[2], res[2], memfd = memfd_create("msg", MFD_CLOEXEC);
	struct xi_msg *m = calloc(1, sizeof(*m));
	bool ok = false;

	reply[0] = '\0';
	if (m == NULL || memfd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, proto) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, res) < 0)
		return false;
	if (write(memfd, "Subject: x\r\n\r\nbody\r\n", 20) != 20)
		return false;
	xi_msg_init(m, XI_MSG_LMTP_DATA, 0);
	fill(m);
	if (xi_msg_send(proto[0], m, memfd) < 0)
		return false;
	shutdown(proto[0], SHUT_WR);
	(void)run_deliverer(proto[1], res[1]);
	if (xi_msg_recv(proto[0], m, NULL) > 0 && m->type == XI_MSG_LMTP_DATA_REPLY &&
	    xi_msg_str(m, reply, size))
		ok = true;
	close(proto[0]);
	close(proto[1]);
	close(res[0]);
	close(res[1]);
	close(memfd);
	free(m);
	return ok;
}

static void fill_nothing(struct xi_msg *m)
{
	(void)m;
}

static void fill_id_only(struct xi_msg *m)
{
	xi_msg_put_u32(m, 7);
}

static void fill_unknown(struct xi_msg *m)
{
	xi_msg_put_u32(m, 7);
	xi_msg_put_str(m, "someone@example.com");
}

int main(void)
{
	char reply[700];

	signal(SIGPIPE, SIG_IGN);
	tap_ok(data_reply(fill_unknown, reply, sizeof(reply)), "DATA for an unknown recipient answered");
	tap_is_str(reply, "451 4.3.0 <someone@example.com> Unknown recipient",
		   "an unknown recipient id is refused by name");
	tap_ok(data_reply(fill_nothing, reply, sizeof(reply)), "DATA without fields answered");
	tap_is_str(reply, "451 4.3.0 <> Unknown recipient",
		   "DATA without fields: the reply holds no stack bytes (nor an earlier address)");
	tap_ok(data_reply(fill_id_only, reply, sizeof(reply)), "DATA without an address answered");
	tap_is_str(reply, "451 4.3.0 <> Unknown recipient",
		   "DATA without an address: the reply holds no stack bytes (nor an earlier address)");
	return tap_done();
}
