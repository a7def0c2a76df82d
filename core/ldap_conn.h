/*
 * ldap_conn: one LDAP connection opened from the configuration.
 *
 *   xi_ldap_settings_from_config(cfg, &s, &err)
 *   xi_ldap_conn_open(&s, &conn, &err)   ldap_uris in order until one answers;
 *                                        TLS; LDAPv3; service bind
 *   xi_ldap_search(conn, ...)            thin wrappers with ldap_timeout
 *   xi_ldap_conn_close(conn)
 *
 * A connection is used by one thread at a time (ldap_pool hands them out).
 * Failures are typed: XI_ERR_TEMP when a server is down, unreachable or too
 * slow (try again later, or on the next server); XI_ERR_DENIED when the
 * directory refuses the service account (bad service password,
 * insufficientAccess); XI_ERR_CONFIG when TLS or the base DN is wrong.  Every
 * message names the URI, the DN concerned and libldap's error.
 *
 * No global state: TLS options are set on each handle and a fresh TLS
 * context is made per connection (LDAP_OPT_X_TLS_NEWCTX), so two configs in
 * one process never share a CA.
 */
#ifndef XI_LDAP_CONN_H
#define XI_LDAP_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <ldap.h>

#include "xi_error.h"

struct xi_config;

/* What a connection needs from xident.conf.  Strings point into the config
 * (or the caller's storage) and must outlive every connection made. */
struct xi_ldap_settings {
	const char *const *uris;      /* NULL-terminated */
	size_t uri_count;
	const char *bind_dn;          /* NULL or "" = anonymous */
	const char *bind_password;
	bool starttls;                /* on ldap:// URIs */
	const char *ca_file;          /* NULL = system default CAs */
	bool require_cert;            /* verify chain and host name */
	int network_timeout;          /* seconds to connect to one server */
	int op_timeout;               /* seconds for one operation */
};

/* Fills s from cfg (pointers into cfg). */
int xi_ldap_settings_from_config(const struct xi_config *cfg, struct xi_ldap_settings *s,
				 struct xi_error *err);

struct xi_ldap_conn;

/* Connects to the first URI of s that answers, sets up TLS, and binds as the
 * service account (when s->bind_dn is set).  When every URI fails, the error
 * lists what each one said; its status is that of the last failure, except
 * that XI_ERR_DENIED / XI_ERR_CONFIG from any server win over XI_ERR_TEMP
 * (a wrong password does not become right on the next server). */
int xi_ldap_conn_open(const struct xi_ldap_settings *s, struct xi_ldap_conn **conn_r,
		      struct xi_error *err);

/* Same, without the service bind (for connections that only ever bind as
 * users, and for `xident doctor` which checks each step on its own): an
 * anonymous bind checks that the server answers within ldap_timeout. */
int xi_ldap_conn_open_unbound(const struct xi_ldap_settings *s, struct xi_ldap_conn **conn_r,
			      struct xi_error *err);

/* Connects to exactly one URI (doctor checks them one by one). */
int xi_ldap_conn_open_uri(const struct xi_ldap_settings *s, const char *uri, bool service_bind,
			  struct xi_ldap_conn **conn_r, struct xi_error *err);

void xi_ldap_conn_close(struct xi_ldap_conn *conn);

/* The URI this connection reached. */
const char *xi_ldap_conn_uri(const struct xi_ldap_conn *conn);
/* Whether TLS is active on it (ldaps:// or StartTLS). */
bool xi_ldap_conn_tls(const struct xi_ldap_conn *conn);
/* True once an operation failed in a way that leaves the connection
 * unusable (server down, timeout, protocol error): close and reopen it. */
bool xi_ldap_conn_broken(const struct xi_ldap_conn *conn);
/* LDAP operations (binds, searches, modifications) sent on it so far. */
unsigned long xi_ldap_conn_ops(const struct xi_ldap_conn *conn);
/* The raw handle, for what the wrappers do not cover.  Not to be closed. */
LDAP *xi_ldap_conn_handle(struct xi_ldap_conn *conn);

/* Simple bind as the service account again (after user binds). */
int xi_ldap_conn_service_bind(struct xi_ldap_conn *conn, struct xi_error *err);

enum xi_ldap_bind_result {
	XI_LDAP_BIND_OK = 0,
	XI_LDAP_BIND_REJECTED,  /* invalidCredentials (wrong password, no such DN,
				   empty password refused as unauthenticated bind) */
	XI_LDAP_BIND_ERROR      /* anything else: err says what (TEMP, DENIED...) */
};

/* Simple bind as a user to prove a password.  An empty password is refused
 * here, without asking the server: RFC 4513 5.1.2 makes it an anonymous
 * bind that "succeeds".  The connection's identity changes; only
 * connections dedicated to user binds should call this. */
enum xi_ldap_bind_result xi_ldap_conn_user_bind(struct xi_ldap_conn *conn, const char *dn,
						const char *password, size_t password_len,
						struct xi_error *err);

/* Search with ldap_timeout.  sizelimit 0 = server default.  On success *res_r
 * holds the result chain (ldap_msgfree it); a size limit exceeded is success
 * with *truncated_r set (may be NULL).  insufficientAccess -> XI_ERR_DENIED
 * naming the base; noSuchObject on the base -> XI_ERR_NOTFOUND. */
/* The same bind without waiting, for a caller with an event loop:
 * send returns 1 when the request is on its way (*msgid_r; then call poll
 * whenever xi_ldap_conn_fd is readable), 0 when answered at once
 * (*result_r: an empty DN or password, refused as above), -1 with err
 * when it was not sent (the connection may now be broken; an idle
 * connection the server has closed is found before anything is written:
 * xi_ldap_conn_closed_by_server).  poll
 * returns 0 while the answer has not arrived, 1 with *result_r (and err
 * for REJECTED and ERROR) once it has.  A bind given up before its answer
 * must be abandoned: the connection is then broken, so that the pool
 * closes it instead of handing a late answer to its next user. */
int xi_ldap_conn_fd(struct xi_ldap_conn *conn);
/* Whether the server has closed this idle connection (it is then broken):
 * checked without waiting before a password is sent on it, so that a bind
 * is retried elsewhere only when it provably never reached the server. */
bool xi_ldap_conn_closed_by_server(struct xi_ldap_conn *conn);
int xi_ldap_conn_user_bind_send(struct xi_ldap_conn *conn, const char *dn, const char *password,
				size_t password_len, int *msgid_r,
				enum xi_ldap_bind_result *result_r, struct xi_error *err);
int xi_ldap_conn_user_bind_poll(struct xi_ldap_conn *conn, int msgid,
				enum xi_ldap_bind_result *result_r, struct xi_error *err);
void xi_ldap_conn_abandon(struct xi_ldap_conn *conn, int msgid);

int xi_ldap_search(struct xi_ldap_conn *conn, const char *base, int scope, const char *filter,
		   const char *const *attrs, int sizelimit, LDAPMessage **res_r,
		   bool *truncated_r, struct xi_error *err);

/* Modifications, with ldap_timeout; DN of the entry in every error. */
int xi_ldap_add(struct xi_ldap_conn *conn, const char *dn, LDAPMod **mods, struct xi_error *err);
int xi_ldap_modify(struct xi_ldap_conn *conn, const char *dn, LDAPMod **mods,
		   struct xi_error *err);
int xi_ldap_delete(struct xi_ldap_conn *conn, const char *dn, struct xi_error *err);

/* Maps an LDAP result code to our status (TEMP, DENIED, NOTFOUND, ...). */
enum xi_status xi_ldap_status(int ldap_rc);

#endif
