/*
 * ldap_conn: one LDAP connection: failover over ldap_uris, TLS, service bind,
 * and thin operation wrappers that turn libldap's codes into typed errors.
 */
#include "ldap_conn.h"
#include "ldap_wipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/time.h>


struct xi_ldap_conn {
	LDAP *ld;
	const struct xi_ldap_settings *settings;
	char *uri;
	bool tls;
	bool broken;
	unsigned long ops;
};

/* Longest piece of server-supplied diagnostic text we quote in a message. */
#define DIAG_QUOTE_MAX 160
#define XI_LDAP_URI_MAX 512

enum xi_status xi_ldap_status(int rc)
{
	switch (rc) {
	case LDAP_SUCCESS:
	case LDAP_COMPARE_TRUE:
	case LDAP_COMPARE_FALSE:
		return XI_OK;
	case LDAP_SERVER_DOWN:
	case LDAP_TIMEOUT:
	case LDAP_CONNECT_ERROR:
	case LDAP_LOCAL_ERROR:
	case LDAP_ENCODING_ERROR:
	case LDAP_DECODING_ERROR:
	case LDAP_UNAVAILABLE:
	case LDAP_BUSY:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
	case LDAP_LOOP_DETECT:
	case LDAP_OTHER:
	case LDAP_PROTOCOL_ERROR:
		return XI_ERR_TEMP;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INSUFFICIENT_ACCESS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
	case LDAP_UNWILLING_TO_PERFORM:
		return XI_ERR_DENIED;
	case LDAP_NO_SUCH_OBJECT:
		return XI_ERR_NOTFOUND;
	case LDAP_ALREADY_EXISTS:
		return XI_ERR_EXISTS;
	case LDAP_NO_MEMORY:
		return XI_ERR_NOMEM;
	case LDAP_NOT_SUPPORTED:
		return XI_ERR_UNSUPPORTED;
	default:
		return XI_ERR_INVALID;
	}
}

/* Codes after which the handle cannot be trusted for another operation. */
static bool rc_breaks_connection(int rc)
{
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_TIMEOUT:
	case LDAP_CONNECT_ERROR:
	case LDAP_LOCAL_ERROR:
	case LDAP_ENCODING_ERROR:
	case LDAP_DECODING_ERROR:
	case LDAP_UNAVAILABLE:
	case LDAP_PROTOCOL_ERROR:
		return true;
	default:
		return false;
	}
}

/* Server diagnostic text, printable ASCII only and bounded: it comes from
 * the network and ends up in logs. */
static void diagnostic_text(LDAP *ld, char *out, size_t size)
{
	char *msg = NULL;
	size_t i, n = 0;

	out[0] = '\0';
	if (ld == NULL || ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) != LDAP_OPT_SUCCESS ||
	    msg == NULL)
		return;
	for (i = 0; msg[i] != '\0' && n + 1 < size && i < DIAG_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)msg[i];
		out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[n] = '\0';
	ldap_memfree(msg);
}

/* "URI: WHAT DN: libldap text (code)[: server text]" */
static int set_ldap_error(struct xi_error *err, LDAP *ld, int rc, enum xi_status status,
			  const char *uri, const char *what, const char *dn)
{
	char diag[DIAG_QUOTE_MAX + 1];

	diagnostic_text(ld, diag, sizeof(diag));
	return xi_error_set(err, status, "%s: %s%s%s%s: %s (%d)%s%s", uri, what,
			    dn != NULL ? " \"" : "", dn != NULL ? dn : "", dn != NULL ? "\"" : "",
			    ldap_err2string(rc), rc, diag[0] != '\0' ? ": " : "", diag);
}

static int conn_fail(struct xi_ldap_conn *conn, struct xi_error *err, int rc,
		     const char *what, const char *dn)
{
	if (rc_breaks_connection(rc))
		conn->broken = true;
	return set_ldap_error(err, conn->ld, rc, xi_ldap_status(rc), conn->uri, what, dn);
}

static bool uri_is(const char *uri, const char *scheme)
{
	return strncasecmp(uri, scheme, strlen(scheme)) == 0;
}

static int set_options(LDAP *ld, const struct xi_ldap_settings *s, const char *uri, bool tls,
		       struct xi_error *err)
{
	int version = LDAP_VERSION3;
	struct timeval net = { .tv_sec = s->network_timeout, .tv_usec = 0 };
	struct timeval op = { .tv_sec = s->op_timeout, .tv_usec = 0 };
	int rc;

	if ((rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op)) != LDAP_OPT_SUCCESS)
		return xi_error_set(err, XI_ERR_INTERNAL, "%s: cannot set LDAP options: %s",
				    uri, ldap_err2string(rc));
	if (!tls)
		return 0;

	int require = s->require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
	int min_proto = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
	int newctx = 0; /* 0: a client context */

	if (s->ca_file != NULL && s->ca_file[0] != '\0' &&
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, s->ca_file)) != LDAP_OPT_SUCCESS)
		return xi_error_set(err, XI_ERR_CONFIG, "%s: ldap_tls_ca_file \"%s\": %s",
				    uri, s->ca_file, ldap_err2string(rc));
	if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min_proto)) != LDAP_OPT_SUCCESS)
		return xi_error_set(err, XI_ERR_CONFIG, "%s: cannot set TLS options: %s",
				    uri, ldap_err2string(rc));
	/* The options above live on this handle; NEWCTX builds the TLS context
	 * from them instead of from the process-wide default. */
	if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &newctx)) != LDAP_OPT_SUCCESS)
		return xi_error_set(err, XI_ERR_CONFIG,
				    "%s: cannot create a TLS context (ldap_tls_ca_file \"%s\" unreadable or not PEM?): %s",
				    uri, s->ca_file != NULL ? s->ca_file : "(system default)",
				    ldap_err2string(rc));
	return 0;
}

static int service_bind(struct xi_ldap_conn *conn, struct xi_error *err)
{
	const struct xi_ldap_settings *s = conn->settings;
	const char *dn = s->bind_dn != NULL ? s->bind_dn : "";
	const char *pw = s->bind_password != NULL ? s->bind_password : "";
	struct berval cred = { .bv_len = strlen(pw), .bv_val = (char *)pw };
	int rc;

	if (xi_ldap_wipe_writes(conn->ld, err) < 0)
		return -1;
	conn->ops++;
	rc = ldap_sasl_bind_s(conn->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc == LDAP_SUCCESS)
		return 0;
	if (rc == LDAP_INVALID_CREDENTIALS) {
		return xi_error_set(err, XI_ERR_DENIED,
				    "%s: service bind as \"%s\" refused: %s (%d): check ldap_bind_dn and ldap_bind_password",
				    conn->uri, dn, ldap_err2string(rc), rc);
	}
	return conn_fail(conn, err, rc, "service bind as", dn);
}

/* libldap reports an ldaps:// certificate refusal like a server that is
 * down.  Tell them apart by connecting to the same host and port without
 * TLS (through libldap, which only opens the TCP connection): if that works,
 * the server is up and it was the handshake that failed. */
static bool port_answers(const char *uri, const struct xi_ldap_settings *s)
{
	char plain[XI_LDAP_URI_MAX];
	struct timeval net = { .tv_sec = s->network_timeout, .tv_usec = 0 };
	LDAP *ld = NULL;
	bool up;

	if (strlen(uri) >= sizeof(plain) || strncasecmp(uri, "ldaps://", 8) != 0)
		return false;
	snprintf(plain, sizeof(plain), "ldap://%s", uri + 8);
	if (ldap_initialize(&ld, plain) != LDAP_SUCCESS)
		return false;
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net);
	up = ldap_connect(ld) == LDAP_SUCCESS;
	ldap_unbind_ext_s(ld, NULL, NULL);
	return up;
}

/* A server that accepts TCP connections but never answers (hung, or not an
 * LDAP server) must fail here, within ldap_timeout, so that the next URI is
 * tried: a connection used only for user binds would otherwise keep it.  An
 * anonymous bind is legal in every LDAPv3 server; any answer, even a
 * refusal, shows that the server is alive. */
static int probe(struct xi_ldap_conn *conn, struct xi_error *err)
{
	struct berval none = { .bv_len = 0, .bv_val = (char *)"" };
	int rc;

	conn->ops++;
	rc = ldap_sasl_bind_s(conn->ld, "", LDAP_SASL_SIMPLE, &none, NULL, NULL, NULL);
	if (rc_breaks_connection(rc))
		return conn_fail(conn, err, rc, "server does not answer: anonymous bind", NULL);
	return 0;
}

/* A user-bind connection reads each answer with one read() instead of
 * libldap's two (the header, then the rest): liblber's read-ahead layer
 * above the socket (below TLS).  Only there: a bind connection has one
 * answer outstanding at a time, so nothing it buffers waits unseen while
 * the caller watches the fd (xi_ldap_conn_closed_by_server looks at the
 * buffer too).  Without it the connection works as before. */
static void read_ahead(struct xi_ldap_conn *conn)
{
	Sockbuf *sb = NULL;

	if (ldap_get_option(conn->ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL)
		(void)ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER,
					 NULL);
}

int xi_ldap_conn_open_uri(const struct xi_ldap_settings *s, const char *uri, bool bind,
			  struct xi_ldap_conn **conn_r, struct xi_error *err)
{
	struct xi_ldap_conn *conn;
	bool ldaps = uri_is(uri, "ldaps://");
	bool starttls = s->starttls && uri_is(uri, "ldap://");
	int rc;

	*conn_r = NULL;
	conn = calloc(1, sizeof(*conn));
	if (conn == NULL || (conn->uri = strdup(uri)) == NULL) {
		free(conn);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	conn->settings = s;
	rc = ldap_initialize(&conn->ld, uri);
	if (rc != LDAP_SUCCESS) {
		xi_error_set(err, XI_ERR_CONFIG, "%s: not a usable LDAP URI: %s", uri,
			     ldap_err2string(rc));
		goto fail;
	}
	if (set_options(conn->ld, s, uri, ldaps || starttls, err) < 0)
		goto fail;

	rc = ldap_connect(conn->ld);
	if (rc != LDAP_SUCCESS) {
		/* With ldaps:// the handshake is part of connecting: a certificate
		 * the CA does not vouch for shows up here as a connect error. */
		if (ldaps && (rc == LDAP_CONNECT_ERROR || port_answers(uri, s)))
			set_ldap_error(err, conn->ld, rc, XI_ERR_CONFIG, uri,
				       "TLS handshake failed (check ldap_tls_ca_file and the server certificate's name)",
				       NULL);
		else
			set_ldap_error(err, conn->ld, rc, XI_ERR_TEMP, uri, "cannot connect", NULL);
		goto fail;
	}
	conn->tls = ldaps;
	/* Before the first request that carries a password (ldap_wipe.h). */
	if (xi_ldap_wipe_writes(conn->ld, err) < 0)
		goto fail;
	if (starttls) {
		conn->ops++;
		rc = ldap_start_tls_s(conn->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			enum xi_status st = (rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT) ?
				XI_ERR_TEMP : XI_ERR_CONFIG;
			set_ldap_error(err, conn->ld, rc, st, uri,
				       "StartTLS failed (check ldap_tls_ca_file and the server certificate's name)",
				       NULL);
			goto fail;
		}
		conn->tls = true;
	}
	if (bind && s->bind_dn != NULL && s->bind_dn[0] != '\0') {
		if (service_bind(conn, err) < 0)
			goto fail;
	} else if (probe(conn, err) < 0) {
		goto fail;
	}
	if (!bind)
		read_ahead(conn);
	*conn_r = conn;
	return 0;
fail:
	xi_ldap_conn_close(conn);
	return -1;
}

static int open_any(const struct xi_ldap_settings *s, bool bind, struct xi_ldap_conn **conn_r,
		    struct xi_error *err)
{
	char tried[XI_ERROR_MESSAGE_MAX] = "";
	size_t used = 0;
	enum xi_status worst = XI_ERR_TEMP;
	struct xi_error one;
	size_t i;

	*conn_r = NULL;
	if (s->uris == NULL || s->uri_count == 0)
		return xi_error_set(err, XI_ERR_CONFIG, "ldap_uris: no LDAP server configured");
	for (i = 0; i < s->uri_count && s->uris[i] != NULL; i++) {
		xi_error_clear(&one);
		if (xi_ldap_conn_open_uri(s, s->uris[i], bind, conn_r, &one) == 0)
			return 0;
		if (one.status != XI_ERR_TEMP)
			worst = one.status;
		if (s->uri_count == 1) {
			if (err != NULL)
				*err = one;
			return -1;
		}
		int n = snprintf(tried + used, sizeof(tried) - used, "%s%s", used > 0 ? "; " : "",
				 one.message);
		if (n > 0)
			used = (size_t)n + used >= sizeof(tried) ? sizeof(tried) - 1 : used + (size_t)n;
	}
	return xi_error_set(err, worst, "no LDAP server usable (%zu tried): %s", i, tried);
}

int xi_ldap_conn_open(const struct xi_ldap_settings *s, struct xi_ldap_conn **conn_r,
		      struct xi_error *err)
{
	return open_any(s, true, conn_r, err);
}

int xi_ldap_conn_open_unbound(const struct xi_ldap_settings *s, struct xi_ldap_conn **conn_r,
			      struct xi_error *err)
{
	return open_any(s, false, conn_r, err);
}

void xi_ldap_conn_close(struct xi_ldap_conn *conn)
{
	if (conn == NULL)
		return;
	if (conn->ld != NULL)
		ldap_unbind_ext_s(conn->ld, NULL, NULL);
	free(conn->uri);
	free(conn);
}

const char *xi_ldap_conn_uri(const struct xi_ldap_conn *conn)
{
	return conn->uri;
}

bool xi_ldap_conn_tls(const struct xi_ldap_conn *conn)
{
	return conn->tls;
}

bool xi_ldap_conn_broken(const struct xi_ldap_conn *conn)
{
	return conn->broken;
}

unsigned long xi_ldap_conn_ops(const struct xi_ldap_conn *conn)
{
	return conn->ops;
}

LDAP *xi_ldap_conn_handle(struct xi_ldap_conn *conn)
{
	return conn->ld;
}

int xi_ldap_conn_service_bind(struct xi_ldap_conn *conn, struct xi_error *err)
{
	return service_bind(conn, err);
}

enum xi_ldap_bind_result xi_ldap_conn_user_bind(struct xi_ldap_conn *conn, const char *dn,
						const char *password, size_t password_len,
						struct xi_error *err)
{
	struct berval cred = { .bv_len = password_len, .bv_val = (char *)password };
	int rc;

	if (dn == NULL || dn[0] == '\0' || password_len == 0) {
		xi_error_set(err, XI_OK, "empty DN or password: not sent (it would be an anonymous bind)");
		return XI_LDAP_BIND_REJECTED;
	}
	if (xi_ldap_wipe_writes(conn->ld, err) < 0)
		return XI_LDAP_BIND_ERROR;
	conn->ops++;
	rc = ldap_sasl_bind_s(conn->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc == LDAP_SUCCESS)
		return XI_LDAP_BIND_OK;
	if (rc == LDAP_INVALID_CREDENTIALS) {
		xi_error_set(err, XI_OK, "%s: bind as \"%s\": %s", conn->uri, dn, ldap_err2string(rc));
		return XI_LDAP_BIND_REJECTED;
	}
	conn_fail(conn, err, rc, "bind as", dn);
	return XI_LDAP_BIND_ERROR;
}

int xi_ldap_conn_fd(struct xi_ldap_conn *conn)
{
	int fd = -1;

	if (ldap_get_option(conn->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS)
		return -1;
	return fd;
}

bool xi_ldap_conn_closed_by_server(struct xi_ldap_conn *conn)
{
	struct pollfd p = { .fd = xi_ldap_conn_fd(conn), .events = POLLIN };
	Sockbuf *sb = NULL;

	if (p.fd < 0) {
		conn->broken = true;
		return true;
	}
	/* read ahead already (see read_ahead) */
	if (ldap_get_option(conn->ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL &&
	    ber_sockbuf_ctrl(sb, LBER_SB_OPT_DATA_READY, NULL) > 0) {
		conn->broken = true;
		return true;
	}
	/* An idle connection has nothing to read: input, a hang-up or an
	 * error there is the server's end (a close after its idle timeout or
	 * a restart, perhaps a Notice of Disconnection before it). */
	if (poll(&p, 1, 0) > 0 && p.revents != 0) {
		conn->broken = true;
		return true;
	}
	return false;
}

static enum xi_ldap_bind_result user_bind_result(struct xi_ldap_conn *conn, const char *dn,
						 int rc, struct xi_error *err)
{
	if (rc == LDAP_SUCCESS)
		return XI_LDAP_BIND_OK;
	if (rc == LDAP_INVALID_CREDENTIALS) {
		xi_error_set(err, XI_OK, "%s: bind as \"%s\": %s", conn->uri,
			     dn != NULL ? dn : "", ldap_err2string(rc));
		return XI_LDAP_BIND_REJECTED;
	}
	conn_fail(conn, err, rc, "bind as", dn);
	return XI_LDAP_BIND_ERROR;
}

int xi_ldap_conn_user_bind_send(struct xi_ldap_conn *conn, const char *dn, const char *password,
				size_t password_len, int *msgid_r,
				enum xi_ldap_bind_result *result_r, struct xi_error *err)
{
	struct berval cred = { .bv_len = password_len, .bv_val = (char *)password };
	int rc;

	*msgid_r = -1;
	if (dn == NULL || dn[0] == '\0' || password_len == 0) {
		xi_error_set(err, XI_OK, "empty DN or password: not sent (it would be an anonymous bind)");
		*result_r = XI_LDAP_BIND_REJECTED;
		return 0;
	}
	if (xi_ldap_conn_closed_by_server(conn)) {
		xi_error_set(err, XI_ERR_TEMP, "%s: the server closed the idle connection: "
			     "bind not sent", conn->uri);
		return -1;
	}
	if (xi_ldap_wipe_writes(conn->ld, err) < 0) {
		conn->broken = true;
		return -1;
	}
	conn->ops++;
	/* The request is encoded (password included) and written here; a
	 * request this small never waits for the socket, and a failed write
	 * of it sent nothing. */
	rc = ldap_sasl_bind(conn->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, msgid_r);
	if (rc != LDAP_SUCCESS) {
		conn_fail(conn, err, rc, "bind as", dn);
		conn->broken = true;
		return -1;
	}
	return 1;
}

int xi_ldap_conn_user_bind_poll(struct xi_ldap_conn *conn, int msgid,
				enum xi_ldap_bind_result *result_r, struct xi_error *err)
{
	struct timeval zero = { 0, 0 };
	LDAPMessage *msg = NULL;
	int rc, code = LDAP_OTHER;

	rc = ldap_result(conn->ld, msgid, LDAP_MSG_ALL, &zero, &msg);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		if (ldap_get_option(conn->ld, LDAP_OPT_RESULT_CODE, &code) != LDAP_OPT_SUCCESS)
			code = LDAP_SERVER_DOWN;
		*result_r = user_bind_result(conn, NULL, code, err);
		conn->broken = true;
		return 1;
	}
	rc = ldap_parse_result(conn->ld, msg, &code, NULL, NULL, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS)
		code = rc;
	*result_r = user_bind_result(conn, NULL, code, err);
	return 1;
}

void xi_ldap_conn_abandon(struct xi_ldap_conn *conn, int msgid)
{
	(void)ldap_abandon_ext(conn->ld, msgid, NULL, NULL);
	conn->broken = true;
}

int xi_ldap_search(struct xi_ldap_conn *conn, const char *base, int scope, const char *filter,
		   const char *const *attrs, int sizelimit, LDAPMessage **res_r,
		   bool *truncated_r, struct xi_error *err)
{
	struct timeval tv = { .tv_sec = conn->settings->op_timeout, .tv_usec = 0 };
	LDAPMessage *res = NULL;
	int rc;

	*res_r = NULL;
	if (truncated_r != NULL)
		*truncated_r = false;
	conn->ops++;
	rc = ldap_search_ext_s(conn->ld, base, scope, filter, (char **)attrs, 0, NULL, NULL,
			       &tv, sizelimit, &res);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
		if (truncated_r != NULL)
			*truncated_r = rc == LDAP_SIZELIMIT_EXCEEDED;
		*res_r = res;
		return 0;
	}
	if (res != NULL)
		ldap_msgfree(res);
	return conn_fail(conn, err, rc, "search under", base);
}

int xi_ldap_add(struct xi_ldap_conn *conn, const char *dn, LDAPMod **mods, struct xi_error *err)
{
	int rc;

	conn->ops++;
	rc = ldap_add_ext_s(conn->ld, dn, mods, NULL, NULL);
	return rc == LDAP_SUCCESS ? 0 : conn_fail(conn, err, rc, "add", dn);
}

int xi_ldap_modify(struct xi_ldap_conn *conn, const char *dn, LDAPMod **mods,
		   struct xi_error *err)
{
	int rc;

	conn->ops++;
	rc = ldap_modify_ext_s(conn->ld, dn, mods, NULL, NULL);
	return rc == LDAP_SUCCESS ? 0 : conn_fail(conn, err, rc, "modify", dn);
}

int xi_ldap_delete(struct xi_ldap_conn *conn, const char *dn, struct xi_error *err)
{
	int rc;

	conn->ops++;
	rc = ldap_delete_ext_s(conn->ld, dn, NULL, NULL);
	return rc == LDAP_SUCCESS ? 0 : conn_fail(conn, err, rc, "delete", dn);
}
