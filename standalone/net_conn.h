/*
 * net_conn: the narrow interface between the network process's event loop
 * (net.c, which owns connections, buffers, TLS, limits and the auth
 * requests) and a protocol's logon dialogue other than POP3 (imap_login.c).
 * The structures stay private to net.c.
 */
#ifndef XD_NET_CONN_H
#define XD_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net;
struct conn;
struct xi_config;
struct xd_imap_login;

/* Queues text for the client (closes the connection when it does not read). */
void xd_conn_send(struct net *n, struct conn *c, const char *text, size_t len);
/* Sends a logon to the auth process; the answer comes back through
 * xd_imap_login_auth_reply.  The connection reads nothing meanwhile. */
void xd_conn_auth_plain(struct net *n, struct conn *c, const char *name, const char *password);
void xd_conn_auth_ntlm(struct net *n, struct conn *c, const char *blob, size_t len);
/* NTLM: a challenge was sent, wait for the client's next blob. */
void xd_conn_sasl_ntlm_wait(struct net *n, struct conn *c);
/* NTLM exchange abandoned: the auth process drops its state. */
void xd_conn_auth_forget(struct net *n, struct conn *c);
/* A refused logon: reply (without CRLF) is sent after the source's growing
 * penalty; the connection closes after max_failed_logons. */
void xd_conn_logon_failed(struct net *n, struct conn *c, const char *reply);
/* After the STARTTLS answer: drops buffered input, starts the handshake.
 * false when the connection was closed. */
bool xd_conn_starttls(struct net *n, struct conn *c);
/* Logon granted: hands the connection (and its unread input) to the master
 * with the token and the IMAP tag to answer. */
void xd_conn_start_session(struct net *n, struct conn *c, const uint8_t *token, const char *tag);
/* Frees c now (why: event 11103 cause, or NULL). */
void xd_conn_close(struct net *n, struct conn *c, const char *why);
/* Close once the queued output is sent. */
void xd_conn_closing(struct conn *c);
bool xd_conn_tls_offered(const struct net *n, const struct conn *c);
bool xd_conn_tls_active(const struct conn *c);
void xd_conn_input(const struct conn *c, const char **data_r, size_t *len_r);
void xd_conn_consume(struct conn *c, size_t len);
const char *xd_conn_remote(const struct conn *c);
struct xd_imap_login **xd_conn_imap_state(struct conn *c);
const struct xi_config *xd_net_config(const struct net *n);
size_t xd_net_max_line(const struct net *n);

/* imap_login.c: IMAP in the not-authenticated state. */
void xd_imap_login_greet(struct net *n, struct conn *c);
/* Runs one command (or SASL line) from the connection's input: false when
 * more input is needed (everything was consumed into the parser). */
bool xd_imap_login_step(struct net *n, struct conn *c);
/* The auth process's answer to the pending logon (see privsep.h). */
void xd_imap_login_auth_reply(struct net *n, struct conn *c, uint32_t status, const char *outcome,
			      const char *text, const char *blob, const uint8_t *token,
			      size_t token_len, const char *home_server);
/* The logon service failed: answer the pending command NO [UNAVAILABLE]. */
void xd_imap_login_tempfail(struct net *n, struct conn *c);
void xd_imap_login_free(struct xd_imap_login *l);

#endif
