/* ntlm_table: xidentd's NTLM exchanges in progress, bounded by capacity,
 * per source and by age. */
#include "ntlm_table.h"
#include "tap.h"

#include <stdio.h>

#include "ntlm_sasl.h"

static bool take(struct xd_ntlm_table *t, uint32_t conn, const char *src, uint64_t now,
		 struct xd_ntlm_exchange **e)
{
	return xd_ntlm_table_take(t, conn, src, now, e) == XD_NTLM_TAKEN;
}

int main(void)
{
	struct xd_ntlm_table *t = xd_ntlm_table_new(100, 3, 30000);
	struct xd_ntlm_exchange *e, *e2, *held;
	struct xi_ntlm_settings settings = { .netbios_computer = "XD", .netbios_domain = "EXAMPLE",
					     .dns_computer = "xd.example.com", .timestamp_window = 300 };
	bool all;

	tap_ok(t != NULL, "created: capacity 100, 3 per source, 30 s");
	tap_ok(xd_ntlm_table_new(0, 3, 1) == NULL && xd_ntlm_table_new(3, 0, 1) == NULL,
	       "a zero capacity or cap is refused");

	/* An exchange goes on across takes and keeps its SASL state. */
	tap_ok(take(t, 1, "192.0.2.1", 0, &e) && *xd_ntlm_exchange_sasl(e) == NULL,
	       "a new exchange has no SASL state yet");
	*xd_ntlm_exchange_sasl(e) = xi_ntlm_sasl_new(&settings, true);
	tap_ok(*xd_ntlm_exchange_sasl(e) != NULL, "its holder sets one");
	tap_ok(xd_ntlm_table_take(t, 1, "192.0.2.1", 1, &e2) == XD_NTLM_BUSY && e2 == NULL,
	       "taken twice at once: busy");
	xd_ntlm_table_release(t, e, true);
	tap_ok(take(t, 1, "192.0.2.1", 2, &e2) && e2 == e && *xd_ntlm_exchange_sasl(e2) != NULL,
	       "kept: the next take finds the same exchange");
	xd_ntlm_table_release(t, e2, false);
	tap_ok(xd_ntlm_table_count(t, NULL) == 0 && xd_ntlm_table_count(t, "192.0.2.1") == 0,
	       "ended: nothing counted");

	/* The cap per source leaves room for everyone else. */
	all = true;
	for (uint32_t c = 10; c < 13; c++) {
		all = all && take(t, c, "192.0.2.66", 10, &e);
		if (all)
			xd_ntlm_table_release(t, e, true);
	}
	tap_ok(all && xd_ntlm_table_count(t, "192.0.2.66") == 3, "one source starts 3 exchanges");
	tap_ok(xd_ntlm_table_take(t, 13, "192.0.2.66", 11, &e) == XD_NTLM_SOURCE_FULL,
	       "its 4th is refused (per source)");
	tap_ok(take(t, 20, "192.0.2.7", 11, &e), "another source still starts one");
	xd_ntlm_table_release(t, e, false);
	tap_ok(take(t, 10, "192.0.2.66", 12, &e), "the source's own exchanges go on at its cap");
	xd_ntlm_table_release(t, e, false);
	tap_ok(take(t, 13, "192.0.2.66", 13, &e), "one ended: room for the source again");
	xd_ntlm_table_release(t, e, true);

	/* Forget: at once, or when the holder gives it back. */
	xd_ntlm_table_forget(t, 11);
	tap_ok(xd_ntlm_table_count(t, "192.0.2.66") == 2, "a forgotten connection's exchange ends");
	tap_ok(take(t, 12, "192.0.2.66", 14, &held), "taken by a worker");
	xd_ntlm_table_forget(t, 12);
	tap_ok(xd_ntlm_table_count(t, "192.0.2.66") == 2, "forgotten while held: still counted");
	xd_ntlm_table_release(t, held, true);
	tap_ok(xd_ntlm_table_count(t, "192.0.2.66") == 1, "ends when given back, even when kept");

	/* Age: an exchange left half-done ends after max_age. */
	tap_ok(take(t, 30, "192.0.2.8", 1000, &held), "a worker holds an old exchange");
	tap_ok(xd_ntlm_table_count(t, NULL) == 2, "two in progress");
	tap_ok(take(t, 31, "192.0.2.9", 31000, &e), "30 s later a new one starts");
	tap_ok(xd_ntlm_table_count(t, "192.0.2.66") == 0, "the source's abandoned one expired");
	tap_ok(xd_ntlm_table_count(t, "192.0.2.8") == 1, "the held one waits for its worker");
	xd_ntlm_table_release(t, held, true);
	tap_ok(xd_ntlm_table_count(t, "192.0.2.8") == 0, "and ends when given back");
	tap_ok(take(t, 30, "192.0.2.8", 31001, &e2) && *xd_ntlm_exchange_sasl(e2) == NULL,
	       "its connection's next message starts afresh");
	xd_ntlm_table_release(t, e2, false);
	tap_ok(take(t, 32, "192.0.2.9", 30999, &e2), "a clock a little behind (another worker's) is no expiry");
	xd_ntlm_table_release(t, e2, true);
	tap_ok(xd_ntlm_table_count(t, "192.0.2.9") == 2, "both kept");
	xd_ntlm_table_release(t, e, true);

	/* An expired exchange leaves a tombstone: its connection's next
	 * message starts a new exchange that knows, for one more max age. */
	{
		struct xd_ntlm_table *tt = xd_ntlm_table_new(2, 2, 1000);
		struct xd_ntlm_exchange *x = NULL;
		tap_ok(tt != NULL && take(tt, 1, "192.0.2.1", 0, &x) && !xd_ntlm_exchange_after_expiry(x),
		       "tombstones: a first exchange follows no expiry");
		*xd_ntlm_exchange_sasl(x) = xi_ntlm_sasl_new(&settings, true);
		xd_ntlm_table_release(tt, x, true);
		tap_ok(take(tt, 2, "192.0.2.2", 1500, &x), "1.5 s later another connection starts one");
		xd_ntlm_table_release(tt, x, true);
		tap_ok(xd_ntlm_table_count(tt, "192.0.2.1") == 0 && xd_ntlm_table_count(tt, NULL) == 1,
		       "the expired one counts no more (its source may start others)");
		tap_ok(take(tt, 1, "192.0.2.1", 1600, &x) && xd_ntlm_exchange_after_expiry(x) &&
		       *xd_ntlm_exchange_sasl(x) == NULL,
		       "its connection's late message starts afresh, after an expiry");
		xd_ntlm_table_release(tt, x, false);
		tap_ok(take(tt, 1, "192.0.2.1", 1700, &x) && !xd_ntlm_exchange_after_expiry(x),
		       "the tombstone is used once");
		xd_ntlm_table_release(tt, x, false);
		/* Forgotten, or kept too long: no tombstone left. */
		tap_ok(take(tt, 3, "192.0.2.3", 2000, &x), "a third connection");
		xd_ntlm_table_release(tt, x, true);
		tap_ok(take(tt, 4, "192.0.2.4", 3000, &x), "expires the other two");
		xd_ntlm_table_release(tt, x, true);
		xd_ntlm_table_forget(tt, 3);
		tap_ok(take(tt, 3, "192.0.2.3", 3100, &x) && !xd_ntlm_exchange_after_expiry(x),
		       "a forgotten connection's tombstone is gone");
		xd_ntlm_table_release(tt, x, false);
		/* Expired while a worker holds it and keeps it: buried on release. */
		tap_ok(take(tt, 5, "192.0.2.5", 5000, &held), "a worker holds an exchange");
		tap_ok(take(tt, 6, "192.0.2.6", 6000, &x), "it expires meanwhile");
		xd_ntlm_table_release(tt, x, true);
		xd_ntlm_table_release(tt, held, true);
		tap_ok(xd_ntlm_table_count(tt, "192.0.2.5") == 0, "given back kept: ended all the same");
		tap_ok(take(tt, 5, "192.0.2.5", 6100, &x) && xd_ntlm_exchange_after_expiry(x),
		       "and its connection's next message knows why");
		xd_ntlm_table_release(tt, x, true);
		/* At most capacity tombstones: the oldest go first. */
		for (uint32_t c = 100; c < 110; c++) {
			if (take(tt, c, "192.0.2.100", 10000 + c, &x))
				xd_ntlm_table_release(tt, x, true);
			if (take(tt, c + 1000, "192.0.2.101", 12000 + c, &x))
				xd_ntlm_table_release(tt, x, false);
		}
		tap_ok(take(tt, 109, "192.0.2.100", 12500, &x) && xd_ntlm_exchange_after_expiry(x),
		       "a recent tombstone is kept");
		xd_ntlm_table_release(tt, x, false);
		tap_ok(take(tt, 100, "192.0.2.100", 12501, &x) && !xd_ntlm_exchange_after_expiry(x),
		       "the oldest went when there were more than capacity");
		xd_ntlm_table_release(tt, x, true);
		xd_ntlm_table_free(tt); /* tombstones and live ones freed (ASan checks) */

		/* A tombstone is kept four max ages. */
		tt = xd_ntlm_table_new(10, 10, 1000);
		tap_ok(tt != NULL && take(tt, 1, "192.0.2.1", 0, &x), "tombstone age: one");
		xd_ntlm_table_release(tt, x, true);
		tap_ok(take(tt, 2, "192.0.2.1", 0, &x), "and two");
		xd_ntlm_table_release(tt, x, true);
		tap_ok(take(tt, 3, "192.0.2.3", 1000, &x), "both expire at 1 s");
		xd_ntlm_table_release(tt, x, true);
		tap_ok(take(tt, 1, "192.0.2.1", 4999, &x) && xd_ntlm_exchange_after_expiry(x),
		       "a tombstone 3.999 s old is kept");
		xd_ntlm_table_release(tt, x, false);
		tap_ok(take(tt, 2, "192.0.2.1", 5000, &x) && !xd_ntlm_exchange_after_expiry(x),
		       "one 4 s old is gone");
		xd_ntlm_table_release(tt, x, false);
		xd_ntlm_table_free(tt);
	}

	/* Capacity: the whole table, from many sources. */
	all = true;
	for (uint32_t c = 1000; c < 1098 && all; c++) {
		char src[32];
		snprintf(src, sizeof(src), "198.51.100.%u", c % 50);
		all = take(t, c, src, 40000, &e);
		if (all)
			xd_ntlm_table_release(t, e, true);
	}
	tap_ok(all && xd_ntlm_table_count(t, NULL) == 100, "filled to capacity from 50 sources");
	tap_ok(xd_ntlm_table_take(t, 5000, "203.0.113.1", 40001, &e) == XD_NTLM_TABLE_FULL,
	       "then full");
	xd_ntlm_table_forget(t, 1000);
	tap_ok(take(t, 5000, "203.0.113.1", 40002, &e), "one forgotten: one starts");
	xd_ntlm_table_release(t, e, true);

	/* A source longer than an address is cut, not overrun. */
	{
		char longsrc[200];
		memset(longsrc, 'a', sizeof(longsrc) - 1);
		longsrc[sizeof(longsrc) - 1] = '\0';
		xd_ntlm_table_forget(t, 1001);
		tap_ok(take(t, 6000, longsrc, 40003, &e), "a 199-byte source");
		xd_ntlm_table_release(t, e, true);
		tap_ok(xd_ntlm_table_count(t, longsrc) == 1, "counted under its cut key");
	}
	tap_ok(take(t, 7000, "192.0.2.100", 100000, &e) && xd_ntlm_table_count(t, NULL) == 1,
	       "everything else expired at once");
	xd_ntlm_table_release(t, e, true);
	xd_ntlm_table_free(t); /* frees what is left, SASL state included (ASan checks) */
	return tap_done();
}
