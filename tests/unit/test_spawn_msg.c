/* The master -> spawner session message (standalone/spawn_msg.c), and the
 * master's count when one mail process serves sessions in turn. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session_count.h"
#include "spawner.h"
#include "tap.h"

static struct xd_spawn sample(void)
{
	static const uint8_t pending[] = "a2 LOGOUT\r\n";
	struct xd_spawn sp = { .key = 7, .uid = 5000, .gid = 5001,
			       .pending = pending, .pending_len = sizeof(pending) - 1,
			       .set = { .idle_s = 600, .max_line = 8192, .sessions = 100 } };

	strcpy(sp.protocol, "imap");
	strcpy(sp.user, "johnd");
	strcpy(sp.home, "/srv/vmail/johnd");
	strcpy(sp.maildir, "/srv/vmail/johnd/Maildir");
	strcpy(sp.tag, "a1");
	return sp;
}

/* What the receiving end makes of a message put from sp, sent over a
 * socketpair as the master sends it. */
static bool round_trip(const struct xd_spawn *sp, struct xd_spawn *out)
{
	static struct xi_msg m, r;
	int pair[2], fd = -1;
	bool ok;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) < 0)
		return false;
	xd_spawn_put(&m, sp);
	ok = !m.bad && xi_msg_send(pair[0], &m, pair[0]) == 0 && xi_msg_recv(pair[1], &r, &fd) == 1 &&
	     fd >= 0 && xd_spawn_get(&r, out);
	if (fd >= 0)
		close(fd);
	close(pair[0]);
	close(pair[1]);
	return ok;
}

int main(void)
{
	struct xd_spawn sp = sample(), got;
	struct xd_sessions *s;

	tap_ok(round_trip(&sp, &got), "a session message reads back");
	tap_ok(got.key == 7 && got.uid == 5000 && got.gid == 5001 && strcmp(got.user, "johnd") == 0 &&
	       strcmp(got.tag, "a1") == 0 && got.pending_len == 11 &&
	       memcmp(got.pending, "a2 LOGOUT\r\n", 11) == 0, "every field as sent");
	tap_ok(got.set.idle_s == 600 && got.set.max_line == 8192 && got.set.sessions == 100,
	       "the settings, mail_process_sessions included");
	sp.set.sessions = 0;
	tap_ok(!round_trip(&sp, &got), "0 sessions per process is refused");
	sp = sample();
	sp.uid = 0;
	tap_ok(!round_trip(&sp, &got), "a session as root is refused");
	sp = sample();
	sp.gid = 0;
	tap_ok(!round_trip(&sp, &got), "gid 0 is refused");

	/* One pid, sessions in turn: ENDED for the first comes before the
	 * spawner hands the process the second (spawner.h). */
	s = xd_sessions_new();
	tap_ok(s != NULL && xd_sessions_add(s, -1, "johnd", "192.0.2.1") &&
	       xd_sessions_rekey(s, -1, 4242), "first session: provisional key, then the pid");
	tap_ok(xd_sessions_remove(s, 4242) && xd_sessions_count(s, "johnd", "192.0.2.1") == 0,
	       "its end frees the slot though the process lives on");
	tap_ok(xd_sessions_add(s, -2, "asmith", "192.0.2.9") && xd_sessions_rekey(s, -2, 4242) &&
	       xd_sessions_count(s, "asmith", "192.0.2.9") == 1, "the same pid takes another user's session");
	tap_ok(xd_sessions_remove(s, 4242) && !xd_sessions_remove(s, 4242) &&
	       xd_sessions_count(s, "asmith", "192.0.2.9") == 0, "and ends it once");
	xd_sessions_free(s);
	return tap_done();
}
