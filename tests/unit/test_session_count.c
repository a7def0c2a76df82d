/* session_count: xidentd's live sessions per (user, remote address). */
#include "session_count.h"
#include "tap.h"

int main(void)
{
	struct xd_sessions *s = xd_sessions_new();

	tap_ok(s != NULL, "created");
	tap_ok(xd_sessions_count(s, "alice", "192.0.2.1") == 0, "nothing counted at first");
	tap_ok(xd_sessions_add(s, 100, "alice", "192.0.2.1") &&
	       xd_sessions_add(s, 101, "alice", "192.0.2.1") &&
	       xd_sessions_add(s, 102, "alice", "192.0.2.2") &&
	       xd_sessions_add(s, 103, "bob", "192.0.2.1"), "four sessions added");
	tap_ok(xd_sessions_count(s, "alice", "192.0.2.1") == 2, "alice from .1: 2");
	tap_ok(xd_sessions_count(s, "alice", "192.0.2.2") == 1, "alice from .2: 1 (per address)");
	tap_ok(xd_sessions_count(s, "bob", "192.0.2.1") == 1, "bob from .1: 1 (per user)");
	/* user and address are not simply concatenated */
	tap_ok(xd_sessions_add(s, 104, "alice1", "92.0.2.1"), "a pair that concatenates alike");
	tap_ok(xd_sessions_count(s, "alice", "192.0.2.1") == 2 &&
	       xd_sessions_count(s, "alice1", "92.0.2.1") == 1, "kept apart");
	tap_ok(xd_sessions_remove(s, 100), "a reaped session is forgotten");
	tap_ok(xd_sessions_count(s, "alice", "192.0.2.1") == 1, "alice from .1: 1 left");
	tap_ok(!xd_sessions_remove(s, 100), "a pid is forgotten once");
	tap_ok(!xd_sessions_remove(s, 999), "an unknown pid (the network or auth process) is no session");
	tap_ok(xd_sessions_remove(s, 101) && xd_sessions_count(s, "alice", "192.0.2.1") == 0,
	       "the last session of a pair: the pair is gone");
	tap_ok(xd_sessions_add(s, 101 + 1024, "alice", "192.0.2.1") &&
	       xd_sessions_count(s, "alice", "192.0.2.1") == 1, "pids in one bucket and a pair anew");
	/* many sessions, then all gone */
	for (int i = 0; i < 5000; i++)
		xd_sessions_add(s, 10000 + i, i % 2 ? "carol" : "dave", "198.51.100.7");
	tap_ok(xd_sessions_count(s, "carol", "198.51.100.7") == 2500 &&
	       xd_sessions_count(s, "dave", "198.51.100.7") == 2500, "5000 sessions counted");
	for (int i = 0; i < 5000; i++)
		xd_sessions_remove(s, 10000 + i);
	tap_ok(xd_sessions_count(s, "carol", "198.51.100.7") == 0, "and all reaped");
	/* Provisional keys (the master's, before the spawner reports the pid). */
	tap_ok(xd_sessions_add(s, -1, "erin", "203.0.113.5") && xd_sessions_add(s, -2, "erin", "203.0.113.5") &&
	       xd_sessions_add(s, -3, "erin", "203.0.113.5"), "three sessions under provisional keys");
	tap_ok(xd_sessions_count(s, "erin", "203.0.113.5") == 3, "they count before they have a pid");
	tap_ok(xd_sessions_rekey(s, -1, 4242), "rekeyed to the reported pid");
	tap_ok(!xd_sessions_rekey(s, -1, 4243), "a key is rekeyed once");
	tap_ok(!xd_sessions_remove(s, -1) && xd_sessions_count(s, "erin", "203.0.113.5") == 3,
	       "the old key is gone, the count unchanged");
	tap_ok(xd_sessions_remove_unstarted(s) == 2 && xd_sessions_count(s, "erin", "203.0.113.5") == 1,
	       "the spawner died: the two never started are forgotten, the started one counts");
	tap_ok(xd_sessions_count(s, "alice", "192.0.2.1") == 1, "others untouched");
	tap_ok(xd_sessions_remove(s, 4242) && xd_sessions_count(s, "erin", "203.0.113.5") == 0,
	       "the started one is forgotten when reaped under its pid");
	tap_ok(xd_sessions_remove_unstarted(s) == 0, "nothing left to forget");
	xd_sessions_free(s);
	xd_sessions_free(NULL);
	return tap_done();
}
