/*
 * xident doctor: checks a deployment the way an administrator would, one
 * line per check: OK, WARN or FAIL, each failure with its remedy.
 *
 *   config       xident.conf loads
 *   ldap         every URI answers; TLS verified; the service bind works
 *   rights       the service account sees accounts, mailboxes, delegates,
 *                NT hashes (NTLM) and userPassword (hash mode): Q255269
 *   schema       the directory's subschema knows the map's attributes
 *   indexes      the equality indexes resolution needs (advice)
 *   dovecot      auth_username_chars lets `\` and `/` through
 *
 * Exit 1 when any check FAILs, 0 otherwise (WARNs included).
 */
#include "xident-config.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ldap.h>

#include "attrmap.h"
#include "commands.h"
#include "config.h"
#include "directory_mirror.h"
#include "ldap_conn.h"

#define DEFAULT_CONFIG "/etc/xident/xident.conf"
#define SAMPLE_MAX 200
/* How long doctor lets a mirror refresh before it says it is not in sync. */
#define DOCTOR_MIRROR_WAIT_MS 60000

int cmd_doctor(int argc, char **argv);

struct doctor {
	unsigned fails;
	unsigned warns;
};

__attribute__((format(printf, 4, 5)))
static void report(struct doctor *doc, const char *level, const char *remedy, const char *fmt, ...)
{
	va_list ap;

	if (strcmp(level, "FAIL") == 0)
		doc->fails++;
	else if (strcmp(level, "WARN") == 0)
		doc->warns++;
	printf("%-4s ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (remedy != NULL)
		printf("     remedy: %s\n", remedy);
}

static bool uri_is_loopback(const char *uri)
{
	return strncasecmp(uri, "ldapi://", 8) == 0 || strstr(uri, "://127.") != NULL ||
		strstr(uri, "://localhost") != NULL || strstr(uri, "://[::1]") != NULL;
}

struct count_ctx {
	const char *attr_a;     /* attribute counted as present */
	const char *attr_b;
	int entries, with_a, with_b;
};

static int count_entries(void *ctx, LDAP *ld, LDAPMessage *res, bool truncated,
			 struct xi_error *err)
{
	struct count_ctx *c = ctx;
	LDAPMessage *e;

	(void)truncated;
	(void)err;
	for (e = ldap_first_entry(ld, res); e != NULL; e = ldap_next_entry(ld, e)) {
		struct berval **v;

		c->entries++;
		if (c->attr_a != NULL && (v = ldap_get_values_len(ld, e, c->attr_a)) != NULL) {
			c->with_a += v[0] != NULL;
			ldap_value_free_len(v);
		}
		if (c->attr_b != NULL && (v = ldap_get_values_len(ld, e, c->attr_b)) != NULL) {
			c->with_b += v[0] != NULL;
			ldap_value_free_len(v);
		}
	}
	return 0;
}

static int search_count(struct xi_ldap_conn *conn, const char *base, int scope, const char *filter,
			const char *a, const char *b, struct count_ctx *c, struct xi_error *err)
{
	const char *attrs[3] = { a != NULL ? a : LDAP_NO_ATTRS, b, NULL };
	LDAPMessage *res;
	bool truncated;

	memset(c, 0, sizeof(*c));
	c->attr_a = a;
	c->attr_b = b;
	if (xi_ldap_search(conn, base, scope, filter, attrs, SAMPLE_MAX, &res, &truncated, err) < 0)
		return -1;
	count_entries(c, xi_ldap_conn_handle(conn), res, truncated, err);
	ldap_msgfree(res);
	return 0;
}

static void check_uris(struct doctor *doc, const struct xi_ldap_settings *s,
		       struct xi_ldap_conn **service_r)
{
	size_t i;

	*service_r = NULL;
	for (i = 0; i < s->uri_count; i++) {
		const char *uri = s->uris[i];
		struct xi_ldap_conn *conn;
		struct xi_error err;

		xi_error_clear(&err);
		if (xi_ldap_conn_open_uri(s, uri, false, &conn, &err) < 0) {
			report(doc, "FAIL", err.status == XI_ERR_CONFIG ?
			       "check ldap_tls_ca_file, ldap_tls_require_cert and the name in the server certificate" :
			       "start the server or remove it from ldap_uris; check firewalls",
			       "ldap %s: %s", uri, err.message);
			continue;
		}
		report(doc, "OK", NULL, "ldap %s answers", uri);
		if (xi_ldap_conn_tls(conn))
			report(doc, s->require_cert ? "OK" : "WARN",
			       s->require_cert ? NULL : "set ldap_tls_require_cert = yes (anyone in the path can pose as the directory)",
			       "tls %s: %s", uri, s->require_cert ? "certificate and host name verified" :
			       "certificate NOT verified");
		else if (!uri_is_loopback(uri))
			report(doc, "WARN", "use ldaps:// or ldap_starttls = yes: service and user passwords cross the network in clear",
			       "tls %s: none", uri);
		xi_ldap_conn_close(conn);

		xi_error_clear(&err);
		if (s->bind_dn == NULL || s->bind_dn[0] == '\0') {
			report(doc, "WARN", "set ldap_bind_dn to a service account that may read NT hashes",
			       "bind %s: anonymous (no ldap_bind_dn)", uri);
		}
		if (xi_ldap_conn_open_uri(s, uri, true, &conn, &err) < 0) {
			report(doc, "FAIL", err.status == XI_ERR_DENIED ?
			       "check ldap_bind_dn and ldap_bind_password (secrets_file)" : NULL,
			       "bind %s: %s", uri, err.message);
			continue;
		}
		report(doc, "OK", NULL, "bind %s as %s", uri,
		       s->bind_dn != NULL && s->bind_dn[0] ? s->bind_dn : "(anonymous)");
		if (*service_r == NULL)
			*service_r = conn;
		else
			xi_ldap_conn_close(conn);
	}
}

static void check_schema(struct doctor *doc, struct xi_ldap_conn *conn, const struct xi_attrmap *m)
{
	static const char *const attrs[] = { "subschemaSubentry", NULL };
	static const char *const types[] = { "attributeTypes", NULL };
	LDAP *ld = xi_ldap_conn_handle(conn);
	LDAPMessage *res = NULL, *e;
	struct berval **v;
	char sub[XI_DN_MAX] = "";
	struct xi_error err;
	bool truncated, found = false;
	size_t want_len;
	char want[128];

	xi_error_clear(&err);
	if (xi_ldap_search(conn, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, &res, &truncated,
			   &err) < 0) {
		report(doc, "WARN", "allow the service account to read the root DSE", "schema: %s",
		       err.message);
		return;
	}
	e = ldap_first_entry(ld, res);
	if (e != NULL && (v = ldap_get_values_len(ld, e, "subschemaSubentry")) != NULL) {
		if (v[0] != NULL && v[0]->bv_len < sizeof(sub)) {
			memcpy(sub, v[0]->bv_val, v[0]->bv_len);
			sub[v[0]->bv_len] = '\0';
		}
		ldap_value_free_len(v);
	}
	ldap_msgfree(res);
	if (sub[0] == '\0')
		snprintf(sub, sizeof(sub), "cn=Subschema");
	if (xi_ldap_search(conn, sub, LDAP_SCOPE_BASE, "(objectClass=subschema)", types, 1, &res,
			   &truncated, &err) < 0) {
		report(doc, "WARN", "allow the service account to read the subschema entry",
		       "schema: %s", err.message);
		return;
	}
	/* An attribute type description names it as NAME 'x' or NAME ( 'x' ... ). */
	snprintf(want, sizeof(want), "'%s'", m->alias);
	want_len = strlen(want);
	e = ldap_first_entry(ld, res);
	if (e != NULL && (v = ldap_get_values_len(ld, e, "attributeTypes")) != NULL) {
		for (size_t i = 0; v[i] != NULL && !found; i++) {
			const char *p = v[i]->bv_val;
			size_t n = v[i]->bv_len;

			for (size_t j = 0; j + want_len <= n && !found; j++)
				found = strncasecmp(p + j, want, want_len) == 0;
		}
		ldap_value_free_len(v);
	}
	ldap_msgfree(res);
	if (found)
		report(doc, "OK", NULL, "schema: the directory knows %s (%s map)", m->alias, m->name);
	else
		report(doc, "FAIL", m->id == XI_ATTRMAP_XIDENT ?
		       "load ldap-schema/xident.schema (slapd.conf) or xident.ldif (cn=config)" :
		       "set schema = to the map that matches this directory",
		       "schema: the directory does not define %s (%s map)", m->alias, m->name);
}

static void check_rights(struct doctor *doc, struct xi_ldap_conn *conn, const struct xi_config *cfg,
			 const struct xi_attrmap *m, const char *base, const char *service)
{
	char filter[256];
	struct count_ctx c;
	struct xi_error err;
	bool hash_mode = xi_config_enum(cfg, XI_CFG_PASSWORD_MODE) == 1;
	size_t ntlm_protocols = 0;

	(void)xi_config_list(cfg, XI_CFG_NTLM_PROTOCOLS, &ntlm_protocols);
	xi_error_clear(&err);
	if (m->account_class != NULL) {
		snprintf(filter, sizeof(filter), "(objectClass=%s)", m->account_class);
		if (search_count(conn, base, LDAP_SCOPE_SUBTREE, filter, m->nt_hash, m->password, &c,
				 &err) < 0) {
			report(doc, "FAIL", "grant the service account search and read access under ldap_base_dn",
			       "rights: searching accounts under %s: %s", base, err.message);
			return;
		}
		if (c.entries == 0) {
			report(doc, "FAIL", "grant the service account read access to account entries (Q255269)",
			       "rights: %s sees no %s entry under %s", service, m->account_class, base);
		} else {
			report(doc, "OK", NULL, "rights: %s sees %d%s accounts", service, c.entries,
			       c.entries >= SAMPLE_MAX ? "+" : "");
			if (ntlm_protocols > 0 && m->nt_hash != NULL)
				report(doc, c.with_a == 0 ? "FAIL" : c.with_a < c.entries ? "WARN" : "OK",
				       c.with_a == 0 ? "grant the service account read access to the NT hash attribute (NTLM needs it)" :
				       c.with_a < c.entries ? "set NT hashes with `xident passwd` (accounts without one cannot use NTLM)" : NULL,
				       "rights: %s readable on %d of %d accounts (NTLM on for %zu protocol(s))",
				       m->nt_hash, c.with_a, c.entries, ntlm_protocols);
			if (hash_mode && m->password != NULL)
				report(doc, c.with_b == 0 ? "FAIL" : c.with_b < c.entries ? "WARN" : "OK",
				       c.with_b == 0 ? "grant the service account read access to userPassword, or use password_mode = bind" :
				       c.with_b < c.entries ? "accounts without userPassword cannot log on in hash mode" : NULL,
				       "rights: %s readable on %d of %d accounts (password_mode = hash)",
				       m->password, c.with_b, c.entries);
		}
	}
	if (m->mailbox_class != NULL) {
		snprintf(filter, sizeof(filter), "(objectClass=%s)", m->mailbox_class);
		if (search_count(conn, base, LDAP_SCOPE_SUBTREE, filter, m->primary_account, m->delegate,
				 &c, &err) < 0) {
			report(doc, "FAIL", "grant the service account search and read access under ldap_base_dn",
			       "rights: searching mailboxes under %s: %s", base, err.message);
			return;
		}
		if (c.entries == 0)
			report(doc, "FAIL", "grant the service account read access to mailbox entries (Q255269)",
			       "rights: %s sees no %s entry under %s", service, m->mailbox_class, base);
		else
			report(doc, c.with_a == 0 ? "WARN" : "OK",
			       c.with_a == 0 ? "grant read access to the primary account attribute, or link mailboxes to accounts" : NULL,
			       "rights: %s sees %d%s mailboxes, %d with a primary account, %d with delegates",
			       service, c.entries, c.entries >= SAMPLE_MAX ? "+" : "", c.with_a, c.with_b);
		if (c.entries > 0 && c.with_b == 0 && m->delegate != NULL)
			report(doc, "WARN", "if mailboxes have delegates, grant read access to them",
			       "rights: no %s value visible (delegates cannot log on if hidden)", m->delegate);
	}
}

static void advise_indexes(struct doctor *doc, const struct xi_attrmap *m)
{
	report(doc, "OK", NULL,
	       "indexes (advice): equality indexes on objectClass %s%s%s %s %s %s %s keep each search cheap; "
	       "slapd: `index %s,%s,%s,%s,%s,%s eq`",
	       m->account_name ? m->account_name : "", m->domain ? " " : "", m->domain ? m->domain : "",
	       m->upn ? m->upn : "", m->alias, m->mail, m->primary_account ? m->primary_account : "",
	       m->account_name ? m->account_name : "objectClass", m->domain ? m->domain : "objectClass",
	       m->upn ? m->upn : "objectClass", m->alias, m->mail,
	       m->primary_account ? m->primary_account : "objectClass");
}

static void check_dovecot(struct doctor *doc)
{
	FILE *p;
	char line[512] = "";

	if (access("/usr/bin/doveconf", X_OK) != 0)
		return;
	p = popen("/usr/bin/doveconf -h auth_username_chars 2>/dev/null", "r");
	if (p == NULL)
		return;
	if (fgets(line, sizeof(line), p) == NULL)
		line[0] = '\0';
	if (pclose(p) != 0 && line[0] == '\0')
		return;
	line[strcspn(line, "\n")] = '\0';
	/* Empty means every character is allowed. */
	if (line[0] == '\0' || (strchr(line, '\\') != NULL && strchr(line, '/') != NULL))
		report(doc, "OK", NULL, "dovecot: auth_username_chars lets \\ and / through");
	else
		report(doc, "WARN",
		       "add \\ and / to auth_username_chars in Dovecot's config, or DOMAIN\\account\\alias logons are refused before xident sees them",
		       "dovecot: auth_username_chars lacks \\ or /");
}

/* Builds a mirror as the resolver would and waits for its refresh: says
 * how long it took and what it holds, or why it is not in sync (over
 * directory_mirror_max_entries, an entry it cannot hold, ...). */
static void check_mirror_sync(struct doctor *doc, const struct xi_config *cfg)
{
	struct xi_directory *dir = NULL;
	struct xi_mirror_stats st;
	struct xi_error err;

	xi_error_clear(&err);
	if (xi_directory_mirror_create(cfg, &dir, &err) < 0) {
		report(doc, "WARN", NULL, "directory mirror: cannot be created: %s", err.message);
		return;
	}
	(void)xi_directory_mirror_wait(dir, DOCTOR_MIRROR_WAIT_MS);
	xi_directory_mirror_stats(dir, &st);
	if (st.in_sync)
		report(doc, "OK", NULL, "directory mirror: %zu entries in %zu bytes (%zu per entry), refreshed in %.3f s",
		       st.entries, st.bytes, st.entries > 0 ? st.bytes / st.entries : 0,
		       st.last_refresh_seconds);
	else
		report(doc, "WARN", strstr(st.state, "directory_mirror_max_entries") != NULL ?
		       "raise directory_mirror_max_entries above the number of accounts, mailboxes and recipients" :
		       "see the state above; until the mirror is in sync every logon searches LDAP",
		       "directory mirror: %s", st.state);
	xi_dir_destroy(dir);
}

/* directory_mirror = yes needs RFC 4533 content synchronization (slapd:
 * the syncprov overlay) offered to the service account under the base: a
 * refreshOnly sync search of one entry tells. */
static void check_mirror(struct doctor *doc, struct xi_ldap_conn *conn, const struct xi_config *cfg,
			 const char *base, const char *service)
{
	static const char *const no_attrs[] = { LDAP_NO_ATTRS, NULL };
	static const char *const remedy =
		"load the syncprov overlay on the database holding ldap_base_dn (slapd.conf: moduleload syncprov, "
		"overlay syncprov; cn=config: olcOverlay=syncprov) and let the service account read entryUUID and "
		"entryCSN (ldap-schema/README.md); until then every logon searches LDAP";
	LDAPControl ctrl = { 0 }, *ctrls[2] = { &ctrl, NULL };
	struct timeval tv = { .tv_sec = 10 };
	LDAPMessage *res = NULL;
	BerElement *ber;
	int rc;

	if (!xi_config_bool(cfg, XI_CFG_DIRECTORY_MIRROR))
		return;
	ber = ber_alloc_t(LBER_USE_DER);
	if (ber == NULL || ber_printf(ber, "{e}", LDAP_SYNC_REFRESH_ONLY) < 0 ||
	    ber_flatten2(ber, &ctrl.ldctl_value, 0) < 0) {
		if (ber != NULL)
			ber_free(ber, 1);
		report(doc, "WARN", NULL, "directory mirror: could not build the sync request");
		return;
	}
	ctrl.ldctl_oid = (char *)LDAP_CONTROL_SYNC;
	ctrl.ldctl_iscritical = 1;
	rc = ldap_search_ext_s(xi_ldap_conn_handle(conn), base, LDAP_SCOPE_SUBTREE, "(objectClass=*)",
			       (char **)no_attrs, 0, ctrls, NULL, &tv, 1, &res);
	ldap_msgfree(res);
	ber_free(ber, 1);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
		report(doc, "OK", NULL, "directory mirror: %s offers content synchronization (RFC 4533) to %s under %s",
		       xi_ldap_conn_uri(conn), service, base);
		check_mirror_sync(doc, cfg);
	} else if (rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION || rc == LDAP_UNWILLING_TO_PERFORM)
		report(doc, "WARN", remedy,
		       "directory mirror: %s does not offer content synchronization under %s (%s): the mirror will never be in sync",
		       xi_ldap_conn_uri(conn), base, ldap_err2string(rc));
	else if (rc == LDAP_INSUFFICIENT_ACCESS)
		report(doc, "WARN", remedy, "directory mirror: %s refuses content synchronization to %s (%s)",
		       xi_ldap_conn_uri(conn), service, ldap_err2string(rc));
	else
		report(doc, "WARN", remedy, "directory mirror: content synchronization under %s failed: %s",
		       base, ldap_err2string(rc));
}

int cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = DEFAULT_CONFIG;
	struct doctor doc = { 0, 0 };
	struct xi_config_report rep;
	struct xi_config *cfg;
	struct xi_ldap_settings s;
	struct xi_ldap_conn *conn = NULL;
	const struct xi_attrmap *map;
	struct xi_error err;
	char line[1024];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'h':
			printf("usage: xident doctor [-c FILE]\nChecks config, LDAP servers, TLS, the service "
			       "account's rights, schema, indexes and Dovecot.\nexit: 0 no FAIL, 1 some FAIL, 2 usage\n");
			return XI_EXIT_OK;
		default:
			fprintf(stderr, "usage: xident doctor [-c FILE]\n");
			return XI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: xident doctor [-c FILE]\n");
		return XI_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);

	if (xi_config_load(path, &cfg, &rep) < 0) {
		for (size_t i = 0; i < rep.count; i++) {
			xi_config_problem_format(&rep.problems[i], line, sizeof(line));
			report(&doc, "FAIL", NULL, "config %s", line);
		}
		if (rep.count == 0)
			report(&doc, "FAIL", NULL, "config %s cannot be read", path);
		xi_config_report_free(&rep);
		printf("%u FAIL, %u WARN\n", doc.fails, doc.warns);
		return XI_EXIT_FAIL;
	}
	xi_config_report_free(&rep);
	report(&doc, "OK", NULL, "config %s", path);

	map = xi_attrmap_by_name(xi_config_str(cfg, XI_CFG_SCHEMA));
	xi_error_clear(&err);
	if (map == NULL || xi_ldap_settings_from_config(cfg, &s, &err) < 0) {
		report(&doc, "FAIL", NULL, "config: %s", map == NULL ? "unknown schema map" : err.message);
	} else {
		check_uris(&doc, &s, &conn);
		if (conn != NULL) {
			const char *base = xi_config_str(cfg, XI_CFG_LDAP_BASE_DN);

			check_schema(&doc, conn, map);
			check_rights(&doc, conn, cfg, map, base,
				     s.bind_dn != NULL && s.bind_dn[0] ? s.bind_dn : "(anonymous)");
			check_mirror(&doc, conn, cfg, base,
				     s.bind_dn != NULL && s.bind_dn[0] ? s.bind_dn : "(anonymous)");
			xi_ldap_conn_close(conn);
		} else {
			report(&doc, "FAIL", "make at least one server in ldap_uris reachable with the service bind",
			       "rights: not checked (no server)");
		}
		advise_indexes(&doc, map);
	}
	check_dovecot(&doc);
	printf("%u FAIL, %u WARN\n", doc.fails, doc.warns);
	xi_config_free(cfg);
	return doc.fails > 0 ? XI_EXIT_FAIL : XI_EXIT_OK;
}
