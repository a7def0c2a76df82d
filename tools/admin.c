/*
 * admin: connection, common options and lookups shared by the account,
 * mailbox and recipient verbs.
 */
#include "xident-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "commands.h"
#include "config.h"
#include "ldap_escape.h"
#include "unicode.h"

#define BIND_PASSWORD_MAX 1024

int xi_admin_exit_code(enum xi_status status)
{
	switch (status) {
	case XI_OK:
		return XI_EXIT_OK;
	case XI_ERR_TEMP:
		return XI_EXIT_TEMP;
	case XI_ERR_NOTFOUND:
		return XI_EXIT_NOTFOUND;
	case XI_ERR_EXISTS:
		return XI_EXIT_EXISTS;
	default:
		return XI_EXIT_FAIL;
	}
}

int xi_admin_fail(const struct xi_admin *a, const char *prog, const struct xi_error *err)
{
	fprintf(stderr, "%s: %s\n", a != NULL && a->prog != NULL ? a->prog : prog,
		err->message[0] != '\0' ? err->message : xi_status_name(err->status));
	return xi_admin_exit_code(err->status);
}

int xi_admin_fail_close(struct xi_admin *a, const char *prog, const struct xi_error *err)
{
	int rc = xi_admin_fail(a, prog, err);

	xi_admin_close(a);
	return rc;
}

int xi_admin_commit_close(struct xi_admin *a, const char *prog, struct xi_change *ch,
			  struct xi_entry *e, const char *done_fmt, ...)
{
	struct xi_error err;
	va_list ap;
	int rc = 0;

	if (ch->kind != XI_CHANGE_MODIFY || ch->count > 0)
		rc = xi_admin_commit(a, ch, &err);
	xi_change_free(ch);
	if (e != NULL)
		xi_entry_free(e);
	if (rc < 0)
		return xi_admin_fail_close(a, prog, &err);
	if (!a->dry_run) {
		va_start(ap, done_fmt);
		vprintf(done_fmt, ap);
		va_end(ap);
	}
	xi_admin_close(a);
	return XI_EXIT_OK;
}

int xi_admin_delete_alias(const char *prog, int argc, char **argv,
			  const struct xi_admin_opt *defs, size_t ndefs, int dn_opt,
			  const char *usage, const char *cls, const char *kind)
{
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_change ch;
	struct xi_error err;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, defs, ndefs, XI_BIT(dn_opt), 1, 1, usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_find_alias(&a, cls, kind, args.pos[0], args.value[dn_opt], &e, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	xi_change_init(&ch, XI_CHANGE_DELETE, e.dn);
	rc = xi_admin_commit_close(&a, prog, &ch, NULL, "deleted %s %s (%s)\n", kind,
				   args.pos[0], e.dn);
	xi_entry_free(&e);
	return rc;
}

/* Reads the first line of path (the bind password) into a new string.  The
 * file holds a directory administrator's password, so like secrets_file
 * only its owner may access it (a pipe, e.g. <(pass show x), is 0600). */
static int read_password_file(const char *path, char **out, struct xi_error *err)
{
	char buf[BIND_PASSWORD_MAX + 2];
	size_t len;
	struct stat st;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return xi_error_set(err, XI_ERR_IO, "cannot read the bind password file %s: %s",
				    path, strerror(errno));
	if (fstat(fileno(f), &st) < 0) {
		fclose(f);
		return xi_error_set(err, XI_ERR_IO, "cannot stat the bind password file %s: %s",
				    path, strerror(errno));
	}
	if ((st.st_mode & 077) != 0) {
		fclose(f);
		return xi_error_set(err, XI_ERR_INVALID,
				    "the bind password file %s has mode %04o, open to group or others; "
				    "it must be readable by its owner only: chmod 600 %s",
				    path, (unsigned)(st.st_mode & 07777), path);
	}
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	len = strcspn(buf, "\r\n");
	if (len > BIND_PASSWORD_MAX) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return xi_error_set(err, XI_ERR_INVALID, "the password in %s is longer than %d bytes",
				    path, BIND_PASSWORD_MAX);
	}
	buf[len] = '\0';
	if (len == 0)
		return xi_error_set(err, XI_ERR_INVALID, "%s holds no password on its first line",
				    path);
	*out = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (*out == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	return 0;
}

static int load_config(const char *path, struct xi_config **cfg_r, struct xi_error *err)
{
	struct xi_config_report report;
	char line[sizeof(report.problems[0].file) + sizeof(report.problems[0].reason) + 16];
	size_t i;

	memset(&report, 0, sizeof(report));
	if (xi_config_load(path, cfg_r, &report) == 0) {
		xi_config_report_free(&report);
		return 0;
	}
	for (i = 0; i < report.count; i++) {
		xi_config_problem_format(&report.problems[i], line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	xi_config_report_free(&report);
	return xi_error_set(err, XI_ERR_CONFIG, "%s was refused (problems above)", path);
}

int xi_admin_open(struct xi_admin *a, const char *prog, const struct xi_admin_options *o,
		  struct xi_error *err)
{
	const char *path = o->config_path != NULL ? o->config_path : XI_ADMIN_DEFAULT_CONFIG;
	const char *admin_dn;

	memset(a, 0, sizeof(*a));
	a->prog = prog;
	a->dry_run = o->dry_run;
	if (load_config(path, &a->cfg, err) < 0)
		return -1;
	a->base_dn = xi_config_str(a->cfg, XI_CFG_LDAP_BASE_DN);
	if (xi_ldap_settings_from_config(a->cfg, &a->settings, err) < 0)
		return -1;
	admin_dn = xi_config_str(a->cfg, XI_CFG_ADMIN_BIND_DN);
	if (o->bind_dn != NULL) {
		if (o->bind_password_file == NULL)
			return xi_error_set(err, XI_ERR_INVALID,
					    "--bind-dn needs --bind-password-file");
		if (read_password_file(o->bind_password_file, &a->bind_password, err) < 0)
			return -1;
		a->settings.bind_dn = o->bind_dn;
		a->settings.bind_password = a->bind_password;
	} else if (o->bind_password_file != NULL) {
		return xi_error_set(err, XI_ERR_INVALID, "--bind-password-file needs --bind-dn");
	} else if (admin_dn != NULL && admin_dn[0] != '\0') {
		a->settings.bind_dn = admin_dn;
		a->settings.bind_password = xi_config_str(a->cfg, XI_CFG_ADMIN_BIND_PASSWORD);
		if (a->settings.bind_password == NULL)
			return xi_error_set(err, XI_ERR_CONFIG,
					    "admin_bind_dn is set but admin_bind_password is not "
					    "(put it in the secrets file)");
	}
	return xi_ldap_conn_open(&a->settings, &a->conn, err);
}

void xi_admin_close(struct xi_admin *a)
{
	if (a->conn != NULL)
		xi_ldap_conn_close(a->conn);
	if (a->bind_password != NULL) {
		OPENSSL_cleanse(a->bind_password, strlen(a->bind_password));
		free(a->bind_password);
	}
	if (a->cfg != NULL)
		xi_config_free(a->cfg);
	memset(a, 0, sizeof(*a));
}

int xi_admin_check_name(const char *what, const char *name, struct xi_error *err)
{
	size_t len = strlen(name);

	if (len == 0)
		return xi_error_set(err, XI_ERR_INVALID, "the %s is empty", what);
	if (len > XI_ADMIN_NAME_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "the %s is longer than %d bytes", what,
				    XI_ADMIN_NAME_MAX);
	if (!xi_utf8_valid_text(name, len))
		return xi_error_set(err, XI_ERR_INVALID,
				    "the %s is not UTF-8 text (or holds control characters)", what);
	return 0;
}

int xi_admin_split_account(const char *text, const char *domain_opt, char *domain,
			   size_t domain_size, char *name, size_t name_size, bool *has_domain_r,
			   struct xi_error *err)
{
	const char *sep = domain_opt != NULL ? NULL : strpbrk(text, "\\/");
	size_t dlen;

	*has_domain_r = false;
	domain[0] = '\0';
	if (domain_opt != NULL) {
		if (strlen(domain_opt) >= domain_size)
			return xi_error_set(err, XI_ERR_INVALID, "the domain is too long");
		strcpy(domain, domain_opt);
		*has_domain_r = true;
	} else if (sep != NULL) {
		dlen = (size_t)(sep - text);
		if (dlen >= domain_size)
			return xi_error_set(err, XI_ERR_INVALID, "the domain is too long");
		memcpy(domain, text, dlen);
		domain[dlen] = '\0';
		text = sep + 1;
		*has_domain_r = true;
	}
	if (strlen(text) >= name_size)
		return xi_error_set(err, XI_ERR_INVALID, "the account name is longer than %d bytes",
				    XI_ADMIN_NAME_MAX);
	strcpy(name, text);
	if (*has_domain_r && xi_admin_check_name("domain", domain, err) < 0)
		return -1;
	return xi_admin_check_name("account name", name, err);
}

int xi_admin_filter_value(const char *in, char *out, size_t size, struct xi_error *err)
{
	return xi_ldap_filter_escape(in, strlen(in), out, size, err) < 0 ? -1 : 0;
}

int xi_admin_dn_value(const char *in, char *out, size_t size, struct xi_error *err)
{
	return xi_ldap_dn_value_escape(in, strlen(in), out, size, err) < 0 ? -1 : 0;
}

int xi_admin_fmt(char *out, size_t size, struct xi_error *err, const char *what,
		 const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			out[0] = '\0';
		return xi_error_set(err, XI_ERR_INVALID, "%s is too long", what);
	}
	return 0;
}

int xi_admin_glob_value(const char *glob, char *out, size_t size, struct xi_error *err)
{
	char piece[3 * XI_ADMIN_NAME_MAX + 1], chunk[XI_ADMIN_NAME_MAX + 1];
	size_t used = 0;
	const char *p = glob;

	out[0] = '\0';
	for (;;) {
		size_t n = strcspn(p, "*");

		if (n >= sizeof(chunk))
			return xi_error_set(err, XI_ERR_INVALID, "pattern too long");
		memcpy(chunk, p, n);
		chunk[n] = '\0';
		if (xi_admin_filter_value(chunk, piece, sizeof(piece), err) < 0)
			return -1;
		/* Checked before the next out + used is formed: past the end
		 * of out that pointer would be undefined even unwritten. */
		used += (size_t)snprintf(out + used, size - used, "%s%s", piece,
					 p[n] == '*' ? "*" : "");
		if (used >= size) {
			out[0] = '\0';
			return xi_error_set(err, XI_ERR_INVALID, "pattern too long");
		}
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

int xi_admin_search(struct xi_admin *a, const char *base, const char *filter,
		    const char *const *attrs, struct xi_entries *out, struct xi_error *err)
{
	LDAPMessage *res = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = xi_ldap_search(a->conn, base != NULL ? base : a->base_dn,
			    base != NULL ? LDAP_SCOPE_BASE : LDAP_SCOPE_SUBTREE, filter, attrs, 0,
			    &res, NULL, err);
	if (rc == 0)
		rc = xi_entries_from_result(xi_ldap_conn_handle(a->conn), res, out, err);
	if (res != NULL)
		ldap_msgfree(res);
	return rc;
}

/* Builds "(&(objectClass=cls)(attr=value)...)" with escaped values; pairs
 * of (attr, value) end with NULL; a NULL value skips its pair. */
static int build_filter(char *out, size_t size, const char *cls, struct xi_error *err, ...)
{
	char esc[3 * XI_ADMIN_NAME_MAX + 1];
	size_t used;
	va_list ap;
	const char *attr;

	/* Stops as soon as out is full: out + used past its end would be
	 * undefined even with nothing written. */
	used = (size_t)snprintf(out, size, "(&(objectClass=%s)", cls);
	va_start(ap, err);
	while (used < size && (attr = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);

		if (value == NULL)
			continue;
		if (xi_admin_filter_value(value, esc, sizeof(esc), err) < 0) {
			va_end(ap);
			return -1;
		}
		used += (size_t)snprintf(out + used, size - used, "(%s=%s)", attr, esc);
	}
	va_end(ap);
	if (used < size)
		used += (size_t)snprintf(out + used, size - used, ")");
	if (used >= size) {
		out[0] = '\0';
		return xi_error_set(err, XI_ERR_INVALID, "search filter too long");
	}
	return 0;
}

int xi_admin_find_account(struct xi_admin *a, const char *domain, const char *name,
			  struct xi_entry *out, struct xi_error *err)
{
	char filter[1024];
	struct xi_entries es;

	memset(out, 0, sizeof(*out));
	if (build_filter(filter, sizeof(filter), "xidentAccount", err, "xidentAccountName", name,
			 "xidentDomain", domain, NULL) < 0 ||
	    xi_admin_search(a, NULL, filter, NULL, &es, err) < 0)
		return -1;
	if (es.count == 0) {
		xi_entries_free(&es);
		if (domain != NULL)
			return xi_error_set(err, XI_ERR_NOTFOUND, "no account %s\\%s", domain,
					    name);
		return xi_error_set(err, XI_ERR_NOTFOUND, "no account %s in any domain", name);
	}
	if (es.count > 1) {
		const char *d0 = xi_entry_value(&es.items[0], "xidentDomain");
		const char *d1 = xi_entry_value(&es.items[1], "xidentDomain");

		xi_error_set(err, XI_ERR_INVALID,
			     "%zu accounts are named %s (%s\\%s, %s\\%s...): write DOMAIN\\%s",
			     es.count, name, d0 != NULL ? d0 : "?", name, d1 != NULL ? d1 : "?",
			     name, name);
		xi_entries_free(&es);
		return -1;
	}
	xi_entries_take(&es, 0, out);
	xi_entries_free(&es);
	return 0;
}

int xi_admin_find_account_text(struct xi_admin *a, const char *text, struct xi_entry *out,
			       struct xi_error *err)
{
	char domain[XI_ADMIN_NAME_MAX + 1], name[XI_ADMIN_NAME_MAX + 1];
	bool has_domain;

	memset(out, 0, sizeof(*out));
	if (xi_admin_split_account(text, NULL, domain, sizeof(domain), name, sizeof(name),
				   &has_domain, err) < 0)
		return -1;
	return xi_admin_find_account(a, has_domain ? domain : NULL, name, out, err);
}

int xi_admin_find_mailbox(struct xi_admin *a, const char *alias, const char *dn,
			  struct xi_entry *out, struct xi_error *err)
{
	return xi_admin_find_alias(a, "xidentMailbox", "mailbox", alias, dn, out, err);
}

int xi_admin_find_alias(struct xi_admin *a, const char *cls, const char *kind,
			const char *alias, const char *dn, struct xi_entry *out,
			struct xi_error *err)
{
	char filter[1024];
	struct xi_entries es;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (build_filter(filter, sizeof(filter), cls, err, "xidentAlias", alias, NULL) < 0 ||
	    xi_admin_search(a, NULL, filter, NULL, &es, err) < 0)
		return -1;
	if (es.count == 0) {
		xi_entries_free(&es);
		return xi_error_set(err, XI_ERR_NOTFOUND, "no %s with alias %s", kind, alias);
	}
	for (i = 0; dn != NULL && i < es.count; i++) {
		if (strcasecmp(es.items[i].dn, dn) == 0) {
			xi_entries_take(&es, i, out);
			xi_entries_free(&es);
			return 0;
		}
	}
	if (dn != NULL) {
		xi_entries_free(&es);
		return xi_error_set(err, XI_ERR_NOTFOUND, "no %s with alias %s at %s", kind,
				    alias, dn);
	}
	if (es.count > 1) {
		xi_error_set(err, XI_ERR_INVALID,
			     "alias %s is ambiguous: %zu %s entries have it (%s, %s%s); "
			     "choose one with --dn", alias, es.count, kind, es.items[0].dn,
			     es.items[1].dn, es.count > 2 ? ", ..." : "");
		xi_entries_free(&es);
		return -1;
	}
	xi_entries_take(&es, 0, out);
	xi_entries_free(&es);
	return 0;
}

int xi_admin_alias_free(struct xi_admin *a, const char *alias, struct xi_error *err)
{
	static const char *const no_attrs[] = { "1.1", NULL };
	char esc[3 * XI_ADMIN_NAME_MAX + 1], filter[1024];
	struct xi_entries es;

	if (xi_admin_filter_value(alias, esc, sizeof(esc), err) < 0)
		return -1;
	snprintf(filter, sizeof(filter), "(xidentAlias=%s)", esc);
	if (xi_admin_search(a, NULL, filter, no_attrs, &es, err) < 0)
		return -1;
	if (es.count > 0) {
		xi_error_set(err, XI_ERR_EXISTS, "alias %s is already used by %s", alias,
			     es.items[0].dn);
		xi_entries_free(&es);
		return -1;
	}
	xi_entries_free(&es);
	return 0;
}

void xi_admin_account_label(struct xi_admin *a, const char *dn, char *out, size_t size)
{
	static const char *const attrs[] = { "xidentDomain", "xidentAccountName", NULL };
	struct xi_entries es;
	struct xi_error err;
	const char *d = NULL, *n = NULL;

	if (xi_admin_search(a, dn, "(objectClass=xidentAccount)", attrs, &es, &err) == 0 &&
	    es.count == 1) {
		d = xi_entry_value(&es.items[0], "xidentDomain");
		n = xi_entry_value(&es.items[0], "xidentAccountName");
	}
	if (d != NULL && n != NULL)
		snprintf(out, size, "%s\\%s", d, n);
	else
		snprintf(out, size, "%s", dn);
	xi_entries_free(&es);
}

int xi_admin_ensure_ou(struct xi_admin *a, const char *dn, const char *ou,
		       struct xi_error *err)
{
	static const char *const no_attrs[] = { "1.1", NULL };
	struct xi_entries es;
	struct xi_change ch;
	int rc;

	rc = xi_admin_search(a, dn, "(objectClass=*)", no_attrs, &es, err);
	if (rc == 0 && es.count > 0) {
		xi_entries_free(&es);
		return 0;
	}
	xi_entries_free(&es);
	if (rc < 0 && err->status != XI_ERR_NOTFOUND)
		return -1;
	xi_change_init(&ch, XI_CHANGE_ADD, dn);
	xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "organizationalUnit");
	xi_change_value(&ch, LDAP_MOD_ADD, "ou", ou);
	rc = xi_admin_commit(a, &ch, err);
	xi_change_free(&ch);
	return rc;
}

int xi_admin_commit(struct xi_admin *a, const struct xi_change *ch, struct xi_error *err)
{
	LDAPMod **mods;
	int rc;

	if (ch->failed)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	if (a->dry_run) {
		xi_change_print_ldif(ch, stdout);
		return 0;
	}
	if (ch->kind == XI_CHANGE_DELETE)
		return xi_ldap_delete(a->conn, ch->dn, err);
	mods = xi_change_ldapmods(ch);
	if (mods == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	if (ch->kind == XI_CHANGE_ADD)
		rc = xi_ldap_add(a->conn, ch->dn, mods, err);
	else
		rc = xi_ldap_modify(a->conn, ch->dn, mods, err);
	xi_change_ldapmods_free(mods);
	return rc;
}
