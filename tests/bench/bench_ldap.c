/* Raw directory rate: on each connection, bound as the service account,
 * one search at a time for a random user's entry, as a password-lookup
 * passdb performs it (or, with --ldap-filter and --ldap-attrs, any other
 * search per user, e.g. xident's first search).  libldap does the I/O; the loop only waits on its
 * descriptor and collects results without blocking. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define LDAP_DEPRECATED 0
#include <ldap.h>

#define ATTRS_MAX 32

struct ldap_state {
	LDAP *ld;
	int msgid;
	char *attr_text;
	char *attrs[ATTRS_MAX + 1];
};

/* RFC 4515 escaping of a filter value. */
static int escape_filter_value(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;

		if (n + 4 >= cap)
			return -1;
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(out + n, cap - n, "\\%02x", c);
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* The filter of --ldap-filter: every %u becomes the escaped name, %% a %. */
static int expand_filter(const char *tmpl, const char *value, char *out, size_t cap)
{
	size_t n = 0;

	for (; *tmpl != '\0'; tmpl++) {
		const char *add = NULL;
		char one[2] = { *tmpl, '\0' };
		size_t len;

		if (*tmpl == '%' && tmpl[1] == 'u')
			add = value, tmpl++;
		else if (*tmpl == '%' && tmpl[1] == '%')
			add = "%", tmpl++;
		else
			add = one;
		len = strlen(add);
		if (n + len >= cap)
			return -1;
		memcpy(out + n, add, len);
		n += len;
	}
	out[n] = '\0';
	return 0;
}

static int send_search(struct bench_conn *conn)
{
	struct ldap_state *st = conn->priv;
	const struct bench_user *u = bench_begin_logon(conn);
	char value[1024], filter[4096];

	if (escape_filter_value(u->name, value, sizeof(value)) < 0)
		return -1;
	if (conn->opts->ldap_filter != NULL) {
		if (expand_filter(conn->opts->ldap_filter, value, filter, sizeof(filter)) < 0)
			return -1;
	} else {
		snprintf(filter, sizeof(filter), "(&(objectClass=inetOrgPerson)(%s=%s))",
			 conn->opts->ldap_attr, value);
	}
	return ldap_search_ext(st->ld, conn->opts->ldap_base, LDAP_SCOPE_SUBTREE, filter, st->attrs,
			       0, NULL, NULL, NULL, 0, &st->msgid) == LDAP_SUCCESS ? 0 : -1;
}

/* --ldap-attrs a,b,c (or the lookup passdb's userPassword) as a NULL-ended list. */
static int split_attrs(struct ldap_state *st, const char *list)
{
	size_t n = 0;
	char *save = NULL, *tok;

	st->attr_text = strdup(list != NULL ? list : "userPassword");
	if (st->attr_text == NULL)
		return -1;
	for (tok = strtok_r(st->attr_text, ",", &save); tok != NULL && n < ATTRS_MAX;
	     tok = strtok_r(NULL, ",", &save))
		st->attrs[n++] = tok;
	st->attrs[n] = NULL;
	return tok == NULL ? 0 : -1;
}

static void ldap_state_free(struct bench_conn *conn)
{
	struct ldap_state *st = conn->priv;

	if (st != NULL) {
		if (st->ld != NULL)
			ldap_unbind_ext_s(st->ld, NULL, NULL);
		free(st->attr_text);
		free(st);
	}
	conn->priv = NULL;
}

static int ldap_open(struct bench_conn *conn)
{
	struct ldap_state *st = calloc(1, sizeof(*st));
	int version = LDAP_VERSION3, fd = -1;

	conn->priv = st;
	if (st == NULL || split_attrs(st, conn->opts->ldap_attrs) < 0 ||
	    ldap_initialize(&st->ld, conn->opts->ldap_uri) != LDAP_SUCCESS)
		goto fail;
	ldap_set_option(st->ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	if (conn->opts->ldap_bind_dn != NULL) {
		struct berval cred = {
			.bv_val = (char *)conn->opts->ldap_bind_pw,
			.bv_len = conn->opts->ldap_bind_pw ? strlen(conn->opts->ldap_bind_pw) : 0,
		};
		int rc = ldap_sasl_bind_s(st->ld, conn->opts->ldap_bind_dn, LDAP_SASL_SIMPLE,
					  &cred, NULL, NULL, NULL);

		if (rc != LDAP_SUCCESS) {
			fprintf(stderr, "xibench: bind as %s: %s\n", conn->opts->ldap_bind_dn,
				ldap_err2string(rc));
			goto fail;
		}
	}
	if (send_search(conn) < 0 || ldap_get_option(st->ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS ||
	    fd < 0)
		goto fail;
	conn->fd = fd;
	return 0;
fail:
	ldap_state_free(conn);
	return -1;
}

static enum bench_step ldap_readable(struct bench_conn *conn)
{
	struct ldap_state *st = conn->priv;
	struct timeval poll_only = { 0, 0 };
	LDAPMessage *res = NULL;
	int rc = ldap_result(st->ld, st->msgid, LDAP_MSG_ALL, &poll_only, &res);
	int err = LDAP_OTHER, entries;

	if (rc == 0)
		return BENCH_MORE;
	if (rc < 0)
		return BENCH_ERROR;
	entries = ldap_count_entries(st->ld, res);
	if (ldap_parse_result(st->ld, res, &err, NULL, NULL, NULL, NULL, 1) != LDAP_SUCCESS)
		err = LDAP_OTHER;
	if (send_search(conn) < 0)
		return BENCH_ERROR;
	/* The lookup passdb's filter finds one entry; a --ldap-filter like
	 * xident's finds the account and its mailbox. */
	if (conn->opts->ldap_filter != NULL)
		return err == LDAP_SUCCESS && entries >= 1 ? BENCH_LOGON_OK : BENCH_LOGON_FAILED;
	return err == LDAP_SUCCESS && entries == 1 ? BENCH_LOGON_OK : BENCH_LOGON_FAILED;
}

static void ldap_close(struct bench_conn *conn)
{
	/* ldap_unbind closes the descriptor the loop watched. */
	ldap_state_free(conn);
}

const struct bench_driver bench_ldap_search_driver = {
	.name = "ldap-search", .open = ldap_open, .readable = ldap_readable, .close = ldap_close,
};
