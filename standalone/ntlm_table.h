/*
 * ntlm_table: the auth process's NTLM exchanges in progress, by network
 * connection id.  An exchange lives from the client's NEGOTIATE until its
 * AUTHENTICATE is answered, the connection goes away, or it grows too old.
 *
 * A NEGOTIATE costs the client one line and the server an entry, so the
 * table is bounded three ways, each answering a way to hold entries: the
 * capacity (from max_connections: one exchange per connection at most),
 * a cap per remote address (max_ntlm_exchanges_per_source, by default
 * max_connections_per_source: one address holding many half-done
 * exchanges cannot take the entries others need)
 * and an age (ntlm_exchange_timeout: a client answers a challenge at
 * once, so an exchange older than that is abandoned and is dropped long
 * before the pre-logon idle timeout closes its connection).  An expired
 * exchange leaves a tombstone for four more max ages (at most capacity
 * of them): the connection's next message starts a new exchange that knows
 * its predecessor expired, so a late AUTHENTICATE is reported as a client
 * too slow (outcome ntlm_timeout), not as a malformed message.
 *
 * Thread-safe (one mutex): the auth process's workers take an exchange,
 * use its SASL state outside the lock, and give it back.  The clock is the
 * caller's (milliseconds, monotonic), so the tests can drive it.
 */
#ifndef XD_NTLM_TABLE_H
#define XD_NTLM_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xi_ntlm_sasl;
struct xd_ntlm_table;
struct xd_ntlm_exchange;

enum xd_ntlm_take {
	XD_NTLM_TAKEN,       /* *exchange_r is the caller's until released */
	XD_NTLM_BUSY,        /* another worker holds it (a misbehaving network process) */
	XD_NTLM_TABLE_FULL,  /* capacity exchanges in progress */
	XD_NTLM_SOURCE_FULL, /* this source holds per_source exchanges already */
	XD_NTLM_NO_MEMORY
};

/* NULL when out of memory.  capacity, per_source >= 1. */
struct xd_ntlm_table *xd_ntlm_table_new(size_t capacity, size_t per_source, uint64_t max_age_ms);
void xd_ntlm_table_free(struct xd_ntlm_table *t);

/* Takes conn's exchange, or starts one for it from source (its SASL state
 * NULL: the caller creates it).  Exchanges older than max_age_ms are
 * dropped first. */
enum xd_ntlm_take xd_ntlm_table_take(struct xd_ntlm_table *t, uint32_t conn, const char *source,
				     uint64_t now_ms, struct xd_ntlm_exchange **exchange_r);
/* The SASL state of a taken exchange, for its holder to read and set. */
struct xi_ntlm_sasl **xd_ntlm_exchange_sasl(struct xd_ntlm_exchange *e);
/* Whether this exchange began where its connection's previous one had
 * expired unanswered: a message that cannot start an exchange is then a
 * client that answered too late. */
bool xd_ntlm_exchange_after_expiry(const struct xd_ntlm_exchange *e);
/* Gives a taken exchange back: keep it (the exchange goes on) or end it.
 * It ends anyway when its connection was forgotten or it expired meanwhile. */
void xd_ntlm_table_release(struct xd_ntlm_table *t, struct xd_ntlm_exchange *e, bool keep);
/* The connection is gone: end its exchange now, or when its holder is done. */
void xd_ntlm_table_forget(struct xd_ntlm_table *t, uint32_t conn);

/* Exchanges in progress (all, or of one source). */
size_t xd_ntlm_table_count(struct xd_ntlm_table *t, const char *source);
size_t xd_ntlm_table_capacity(const struct xd_ntlm_table *t);
size_t xd_ntlm_table_per_source(const struct xd_ntlm_table *t);

#endif
