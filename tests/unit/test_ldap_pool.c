/*
 * LDAP connection and pool logic that needs no server: URI checks, failover
 * over dead ports, typed errors naming every URI, slots released after a
 * failed open, bounds on the pool size, try_get never opening.  Servers are in the integration
 * suites (tests/integration/test_resolver.py).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ldap_conn.h"
#include "ldap_pool.h"
#include "tap.h"

/* A loopback port nobody listens on: bound then closed, never listened. */
static int dead_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return 1;
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int parsed;

static int never_called(void *ctx, LDAP *ld, LDAPMessage *res, bool truncated,
			struct xi_error *err)
{
	parsed++;
	return 0;
}

static void settings(struct xi_ldap_settings *s, const char *const *uris, size_t n)
{
	memset(s, 0, sizeof(*s));
	s->uris = uris;
	s->uri_count = n;
	s->bind_dn = "cn=svc,dc=example,dc=com";
	s->bind_password = "secret";
	s->require_cert = true;
	s->network_timeout = 2;
	s->op_timeout = 2;
}

int main(void)
{
	char u1[64], u2[64];
	const char *uris[3] = { u1, u2, NULL };
	const char *bad[2] = { "http://example.com/", NULL };
	const char *tls[2] = { NULL, NULL };
	struct xi_ldap_settings s;
	struct xi_ldap_conn *conn;
	struct xi_ldap_pool *pool;
	struct xi_ldap_pool_stats st;
	struct xi_error err;
	unsigned ops = 0;
	char tlsuri[64];

	snprintf(u1, sizeof(u1), "ldap://127.0.0.1:%d", dead_port());
	snprintf(u2, sizeof(u2), "ldap://127.0.0.1:%d", dead_port());

	settings(&s, bad, 1);
	tap_ok(xi_ldap_conn_open(&s, &conn, &err) < 0 && err.status == XI_ERR_CONFIG,
	       "a non-LDAP URI is a configuration error");
	tap_ok(strstr(err.message, "http://example.com/") != NULL, "the error names the URI: %s",
	       err.message);

	settings(&s, uris, 2);
	tap_ok(xi_ldap_conn_open(&s, &conn, &err) < 0, "no server on either URI: open fails");
	tap_is_int(err.status, XI_ERR_TEMP, "servers down is a temporary failure");
	tap_ok(strstr(err.message, u1) && strstr(err.message, u2),
	       "the error names every URI tried: %s", err.message);

	snprintf(tlsuri, sizeof(tlsuri), "ldaps://127.0.0.1:%d", dead_port());
	tls[0] = tlsuri;
	settings(&s, tls, 1);
	s.ca_file = "/nonexistent/ca.pem";
	tap_ok(xi_ldap_conn_open(&s, &conn, &err) < 0 && err.status == XI_ERR_CONFIG,
	       "an unreadable CA file is a configuration error");
	tap_ok(strstr(err.message, "/nonexistent/ca.pem") != NULL, "the error names the CA file: %s",
	       err.message);

	settings(&s, uris, 2);
	tap_ok(xi_ldap_pool_create(&s, 0, &pool, &err) < 0 && err.status == XI_ERR_CONFIG,
	       "pool size 0 refused");
	tap_ok(xi_ldap_pool_create(&s, 257, &pool, &err) < 0, "pool size 257 refused");
	tap_ok(xi_ldap_pool_create(&s, 1, &pool, &err) == 0, "pool of one created while servers are down");

	tap_ok(xi_ldap_pool_search(pool, "dc=example,dc=com", LDAP_SCOPE_SUBTREE, "(objectClass=*)",
				   NULL, 0, never_called, NULL, &ops, &err) < 0 && err.status == XI_ERR_TEMP,
	       "search with servers down: temporary failure");
	tap_is_int(ops, 0, "no search was sent without a connection");
	/* The slot must have been released: a second call fails the same way
	 * at once instead of waiting ldap_timeout for a free connection. */
	tap_ok(xi_ldap_pool_search(pool, "dc=example,dc=com", LDAP_SCOPE_SUBTREE, "(objectClass=*)",
				   NULL, 0, never_called, NULL, &ops, &err) < 0 && err.status == XI_ERR_TEMP,
	       "second search fails the same way");
	tap_ok(xi_ldap_pool_user_bind(pool, "uid=x,dc=example,dc=com", "pw", 2, &ops, &err) ==
	       XI_LDAP_BIND_ERROR && err.status == XI_ERR_TEMP,
	       "user bind with servers down: error, temporary (never a rejected password)");
	tap_is_int(parsed, 0, "no result parsed");
	/* The non-blocking checkout never opens a connection (the event-loop
	 * caller must not wait for a connect) and leaves the slot free. */
	conn = (struct xi_ldap_conn *)&ops;
	tap_ok(xi_ldap_pool_try_get(pool, XI_POOL_BIND, &conn) == 0 && conn == NULL,
	       "try_get with no open connection: none, at once");
	/* A slot try_get kept would make this bind wait for it (counted in
	 * st.waits below) on the pool of one. */
	tap_ok(xi_ldap_pool_user_bind(pool, "uid=x,dc=example,dc=com", "pw", 2, &ops, &err) ==
	       XI_LDAP_BIND_ERROR && err.status == XI_ERR_TEMP,
	       "a user bind after try_get: the bind slot was left free");
	xi_ldap_pool_stats(pool, &st);
	tap_is_int(st.waits, 0, "no caller waited for a slot: failed opens release them");
	tap_is_int(st.opened, 0, "nothing opened");
	xi_ldap_pool_destroy(pool);
	return tap_done();
}
