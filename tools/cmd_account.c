/*
 * xident account: Windows-style accounts (DOMAIN\name) in the directory.
 *
 *   add DOMAIN\NAME     a new account (refuses a name or UPN already taken)
 *   show NAME           its attributes, state and mailboxes
 *   list [PATTERN]      accounts, one a line
 *   disable / enable    xidentAccountDisabled
 *   delete NAME         refuses while it owns mailboxes, unless --force
 *   passwd NAME         userPassword ({SSHA512} or {ARGON2}) and xidentNTHash
 *
 * NAME is DOMAIN\name, DOMAIN/name, or name alone (with --domain, or any
 * domain when it is unambiguous).  New accounts go to
 * uid=NAME,ou=DOMAIN,ou=accounts,BASE unless --parent says otherwise.
 */
#include "xident-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "admin_password.h"
#include "commands.h"
#include "config.h"

int cmd_account(int argc, char **argv);

enum {
	O_DOMAIN, O_UPN, O_CN, O_DISPLAY_NAME, O_MAIL, O_PASSWORD_STDIN, O_NO_PASSWORD,
	O_SCHEME, O_PARENT, O_DISABLED, O_MAILBOX, O_FORCE
};

static const struct xi_admin_opt opts[] = {
	[O_DOMAIN] = { "domain", true, false },
	[O_UPN] = { "upn", true, false },
	[O_CN] = { "cn", true, false },
	[O_DISPLAY_NAME] = { "display-name", true, false },
	[O_MAIL] = { "mail", true, true },
	[O_PASSWORD_STDIN] = { "password-stdin", false, false },
	[O_NO_PASSWORD] = { "no-password", false, false },
	[O_SCHEME] = { "scheme", true, false },
	[O_PARENT] = { "parent", true, false },
	[O_DISABLED] = { "disabled", false, false },
	[O_MAILBOX] = { "mailbox", true, false },
	[O_FORCE] = { "force", false, false },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

#define NAME_HELP \
	"NAME is DOMAIN\\name or DOMAIN/name, or name with --domain (or alone when\n" \
	"only one domain has it).\n"

/* Opens the directory with the parsed common options. */
static int open_admin(struct xi_admin *a, const char *prog, const struct xi_admin_args *args,
		      struct xi_error *err)
{
	return xi_admin_open(a, prog, &args->common, err);
}

/* Finds the account named on the command line. */
static int find_named(struct xi_admin *a, const struct xi_admin_args *args, const char *text,
		      struct xi_entry *out, struct xi_error *err)
{
	char domain[XI_ADMIN_NAME_MAX + 1], name[XI_ADMIN_NAME_MAX + 1];
	bool has_domain;

	if (xi_admin_split_account(text, args->value[O_DOMAIN], domain, sizeof(domain), name,
				   sizeof(name), &has_domain, err) < 0)
		return -1;
	return xi_admin_find_account(a, has_domain ? domain : NULL, name, out, err);
}

static const char *label_of(const struct xi_entry *e, char *buf, size_t size)
{
	const char *d = xi_entry_value(e, "xidentDomain");
	const char *n = xi_entry_value(e, "xidentAccountName");

	snprintf(buf, size, "%s\\%s", d != NULL ? d : "?", n != NULL ? n : "?");
	return buf;
}

/* ------------------------------------------------------------------- add */

static const char add_usage[] =
	"usage: xident account add DOMAIN\\NAME [OPTIONS]\n"
	"Adds an account.  Refuses (exit 4) when DOMAIN\\NAME or the UPN exists.\n"
	"The password is asked twice on the terminal, or read from the first line of\n"
	"standard input with --password-stdin; it is never taken from the command line.\n"
	"      --domain DOMAIN      the domain, when NAME has none (default: first of\n"
	"                           default_domains)\n"
	"      --upn UPN            user principal name (name@suffix)\n"
	"      --cn TEXT            full name (cn; default NAME)\n"
	"      --display-name TEXT  display name (default: --cn)\n"
	"      --mail ADDR          a mail address (repeat for more)\n"
	"      --password-stdin     read the password from standard input\n"
	"      --no-password        set no password (the account cannot log on yet)\n"
	"      --scheme S           ssha512 (default) or argon2\n"
	"      --disabled           create it disabled\n"
	"      --mailbox ALIAS      the entry also carries the account's mailbox ALIAS\n"
	"      --parent DN          where to add it (default ou=DOMAIN,ou=accounts,BASE)\n"
	XI_ADMIN_COMMON_HELP;

static void add_mail_attrs(struct xi_change *ch, const struct xi_admin_args *args)
{
	size_t i;

	for (i = 0; i < args->nvalues[O_MAIL]; i++)
		xi_change_value(ch, LDAP_MOD_ADD, "mail", args->values[O_MAIL][i]);
}

/* Fails with XI_ERR_EXISTS when another account has this UPN. */
static int upn_free(struct xi_admin *a, const char *upn, struct xi_error *err)
{
	static const char *const no_attrs[] = { "1.1", NULL };
	char esc[3 * 512 + 1], filter[2048];
	struct xi_entries es;

	if (xi_admin_filter_value(upn, esc, sizeof(esc), err) < 0)
		return -1;
	snprintf(filter, sizeof(filter), "(xidentUserPrincipalName=%s)", esc);
	if (xi_admin_search(a, NULL, filter, no_attrs, &es, err) < 0)
		return -1;
	if (es.count > 0) {
		xi_error_set(err, XI_ERR_EXISTS, "user principal name %s is already used by %s",
			     upn, es.items[0].dn);
		xi_entries_free(&es);
		return -1;
	}
	xi_entries_free(&es);
	return 0;
}

/* Builds the add record of the account entry. */
static int account_add_record(struct xi_admin *a, const struct xi_admin_args *args,
			      const char *dn, const char *domain, const char *name,
			      const char *userpw, const char *nt_hex, struct xi_change *ch)
{
	const char *cn = args->value[O_CN] != NULL ? args->value[O_CN] : name;
	const char *display = args->value[O_DISPLAY_NAME] != NULL ? args->value[O_DISPLAY_NAME] :
		args->value[O_CN];
	const char *sn = strrchr(cn, ' ');

	(void)a;
	sn = sn != NULL && sn[1] != '\0' ? sn + 1 : cn;
	xi_change_init(ch, XI_CHANGE_ADD, dn);
	xi_change_value(ch, LDAP_MOD_ADD, "objectClass", "inetOrgPerson");
	xi_change_value(ch, LDAP_MOD_ADD, "objectClass", "xidentAccount");
	if (args->value[O_MAILBOX] != NULL)
		xi_change_value(ch, LDAP_MOD_ADD, "objectClass", "xidentMailbox");
	xi_change_value(ch, LDAP_MOD_ADD, "uid", name);
	xi_change_value(ch, LDAP_MOD_ADD, "cn", cn);
	xi_change_value(ch, LDAP_MOD_ADD, "sn", sn);
	if (display != NULL)
		xi_change_value(ch, LDAP_MOD_ADD, "displayName", display);
	xi_change_value(ch, LDAP_MOD_ADD, "xidentDomain", domain);
	xi_change_value(ch, LDAP_MOD_ADD, "xidentAccountName", name);
	if (args->value[O_UPN] != NULL)
		xi_change_value(ch, LDAP_MOD_ADD, "xidentUserPrincipalName", args->value[O_UPN]);
	if (userpw != NULL) {
		xi_change_value(ch, LDAP_MOD_ADD, "userPassword", userpw);
		xi_change_value(ch, LDAP_MOD_ADD, "xidentNTHash", nt_hex);
	}
	if (args->value[O_DISABLED] != NULL)
		xi_change_value(ch, LDAP_MOD_ADD, "xidentAccountDisabled", "TRUE");
	if (args->value[O_MAILBOX] != NULL) {
		xi_change_value(ch, LDAP_MOD_ADD, "xidentAlias", args->value[O_MAILBOX]);
		xi_change_value(ch, LDAP_MOD_ADD, "xidentPrimaryAccount", dn);
	}
	add_mail_attrs(ch, args);
	return 0;
}

static int account_add(const char *prog, int argc, char **argv)
{
	const unsigned long allowed = XI_BIT(O_DOMAIN) | XI_BIT(O_UPN) | XI_BIT(O_CN) |
		XI_BIT(O_DISPLAY_NAME) | XI_BIT(O_MAIL) | XI_BIT(O_PASSWORD_STDIN) |
		XI_BIT(O_NO_PASSWORD) | XI_BIT(O_SCHEME) | XI_BIT(O_PARENT) | XI_BIT(O_DISABLED) |
		XI_BIT(O_MAILBOX);
	char domain[XI_ADMIN_NAME_MAX + 1], name[XI_ADMIN_NAME_MAX + 1];
	char esc_name[3 * XI_ADMIN_NAME_MAX + 1], esc_domain[3 * XI_ADMIN_NAME_MAX + 1];
	char parent[XI_ADMIN_DN_MAX], dn[XI_ADMIN_DN_MAX], accounts_ou[XI_ADMIN_DN_MAX];
	char password[XI_PASSWORD_MAX + 2], userpw[XI_PASSWORD_STORED_MAX], nt_hex[33];
	enum xi_password_scheme scheme = XI_PW_SSHA512;
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry existing;
	struct xi_change ch;
	struct xi_error err;
	bool has_domain, with_password;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, allowed, 1, 1, add_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	with_password = args.value[O_NO_PASSWORD] == NULL;
	if (!with_password && args.value[O_PASSWORD_STDIN] != NULL) {
		fprintf(stderr, "%s: --password-stdin and --no-password exclude each other\n", prog);
		return XI_EXIT_USAGE;
	}
	if (xi_admin_split_account(args.pos[0], args.value[O_DOMAIN], domain, sizeof(domain),
				   name, sizeof(name), &has_domain, &err) < 0 ||
	    (args.value[O_UPN] != NULL && xi_admin_check_name("UPN", args.value[O_UPN], &err) < 0) ||
	    (args.value[O_MAILBOX] != NULL &&
	     xi_admin_check_name("alias", args.value[O_MAILBOX], &err) < 0) ||
	    (args.value[O_SCHEME] != NULL &&
	     xi_admin_parse_scheme(args.value[O_SCHEME], &scheme, &err) < 0)) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	if (open_admin(&a, prog, &args, &err) < 0) {
		rc = xi_admin_fail(&a, prog, &err);
		xi_admin_close(&a);
		return rc;
	}
	if (!has_domain) {
		const char *const *domains = xi_config_list(a.cfg, XI_CFG_DEFAULT_DOMAINS, NULL);

		if (domains[0] == NULL || strlen(domains[0]) >= sizeof(domain)) {
			fprintf(stderr, "%s: name the domain (DOMAIN\\%s or --domain); "
				"default_domains is not set\n", prog, name);
			xi_admin_close(&a);
			return XI_EXIT_USAGE;
		}
		strcpy(domain, domains[0]);
	}
	password[0] = '\0';
	rc = xi_admin_find_account(&a, domain, name, &existing, &err);
	if (rc == 0) {
		xi_error_set(&err, XI_ERR_EXISTS, "account %s\\%s already exists (%s)", domain, name,
			     existing.dn);
		xi_entry_free(&existing);
		goto fail;
	}
	if (err.status != XI_ERR_NOTFOUND ||
	    (args.value[O_UPN] != NULL && upn_free(&a, args.value[O_UPN], &err) < 0) ||
	    (args.value[O_MAILBOX] != NULL &&
	     xi_admin_alias_free(&a, args.value[O_MAILBOX], &err) < 0))
		goto fail;
	if (xi_admin_dn_value(name, esc_name, sizeof(esc_name), &err) < 0 ||
	    xi_admin_dn_value(domain, esc_domain, sizeof(esc_domain), &err) < 0)
		goto fail;
	if (args.value[O_PARENT] != NULL) {
		if (xi_admin_fmt(parent, sizeof(parent), &err, "--parent", "%s",
				 args.value[O_PARENT]) < 0)
			goto fail;
	} else if (xi_admin_fmt(accounts_ou, sizeof(accounts_ou), &err, "the DN",
				"ou=accounts,%s", a.base_dn) < 0 ||
		   xi_admin_fmt(parent, sizeof(parent), &err, "the DN", "ou=%s,%s", esc_domain,
				accounts_ou) < 0 ||
		   xi_admin_ensure_ou(&a, accounts_ou, "accounts", &err) < 0 ||
		   xi_admin_ensure_ou(&a, parent, domain, &err) < 0) {
		goto fail;
	}
	if (xi_admin_fmt(dn, sizeof(dn), &err, "the DN", "uid=%s,%s", esc_name, parent) < 0)
		goto fail;
	if (with_password) {
		if (xi_admin_read_password(args.value[O_PASSWORD_STDIN] != NULL, true, password,
					   sizeof(password), &err) < 0 ||
		    xi_admin_password_values(password, scheme, userpw, sizeof(userpw), nt_hex,
					     &err) < 0)
			goto fail;
		OPENSSL_cleanse(password, sizeof(password));
	}
	account_add_record(&a, &args, dn, domain, name, with_password ? userpw : NULL, nt_hex,
			   &ch);
	OPENSSL_cleanse(userpw, sizeof(userpw));
	OPENSSL_cleanse(nt_hex, sizeof(nt_hex));
	rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	if (rc < 0)
		goto fail;
	if (!a.dry_run)
		printf("added account %s\\%s (%s)%s\n", domain, name, dn,
		       with_password ? "" : ", no password set");
	xi_admin_close(&a);
	return XI_EXIT_OK;
fail:
	OPENSSL_cleanse(password, sizeof(password));
	rc = xi_admin_fail(&a, prog, &err);
	xi_admin_close(&a);
	return rc;
}

/* ------------------------------------------------------------------ show */

static const char show_usage[] =
	"usage: xident account show NAME [--domain DOMAIN]\n"
	"Prints the account's attributes, state and mailboxes (owned and delegated).\n"
	"Password values are never printed, only whether they are set.\n"
	NAME_HELP
	XI_ADMIN_COMMON_HELP;

/* Prints the aliases of mailboxes whose attr names dn. */
static int print_linked(struct xi_admin *a, const char *attr, const char *dn,
			const char *title, const char *skip_dn, struct xi_error *err)
{
	static const char *const attrs[] = { "xidentAlias", NULL };
	char esc[3 * XI_ADMIN_DN_MAX + 1], filter[3 * XI_ADMIN_DN_MAX + 128];
	struct xi_entries es;
	size_t i;

	if (xi_admin_filter_value(dn, esc, sizeof(esc), err) < 0)
		return -1;
	snprintf(filter, sizeof(filter), "(&(objectClass=xidentMailbox)(%s=%s))", attr, esc);
	if (xi_admin_search(a, NULL, filter, attrs, &es, err) < 0)
		return -1;
	for (i = 0; i < es.count; i++) {
		const char *alias = xi_entry_value(&es.items[i], "xidentAlias");

		if (skip_dn != NULL && strcasecmp(es.items[i].dn, skip_dn) == 0)
			continue;
		printf("%-16s%s (%s)\n", title, alias != NULL ? alias : "?", es.items[i].dn);
	}
	xi_entries_free(&es);
	return 0;
}

static void print_values(const struct xi_entry *e, const char *attr, const char *title)
{
	const struct xi_attr *v = xi_entry_attr(e, attr);
	size_t i;

	for (i = 0; v != NULL && i < v->count; i++)
		printf("%-16s%s\n", title, v->values[i]);
}

static int account_show(const char *prog, int argc, char **argv)
{
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_error err;
	char label[2 * XI_ADMIN_NAME_MAX + 2];
	const char *pw;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DOMAIN), 1, 1, show_usage,
			    &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (open_admin(&a, prog, &args, &err) < 0 || find_named(&a, &args, args.pos[0], &e, &err) < 0) {
		rc = xi_admin_fail(&a, prog, &err);
		xi_admin_close(&a);
		return rc;
	}
	printf("%-16s%s\n", "account:", label_of(&e, label, sizeof(label)));
	printf("%-16s%s\n", "dn:", e.dn);
	print_values(&e, "xidentUserPrincipalName", "upn:");
	print_values(&e, "cn", "name:");
	print_values(&e, "displayName", "display name:");
	printf("%-16s%s\n", "state:",
	       xi_entry_has_value(&e, "xidentAccountDisabled", "TRUE", true) ? "disabled" :
									 "enabled");
	pw = xi_entry_value(&e, "userPassword");
	if (pw != NULL && pw[0] == '{' && strchr(pw, '}') != NULL)
		printf("%-16s%.*s\n", "password:", (int)(strchr(pw, '}') - pw + 1), pw);
	else
		printf("%-16s%s\n", "password:", pw != NULL ? "set" : "not set (or not readable)");
	printf("%-16s%s\n", "nt hash:",
	       xi_entry_value(&e, "xidentNTHash") != NULL ? "set" : "not set (or not readable)");
	print_values(&e, "mail", "mail:");
	if (xi_entry_has_value(&e, "objectClass", "xidentMailbox", true))
		print_values(&e, "xidentAlias", "mailbox:");
	if (print_linked(&a, "xidentPrimaryAccount", e.dn, "owns:", e.dn, &err) < 0 ||
	    print_linked(&a, "xidentDelegate", e.dn, "delegate of:", NULL, &err) < 0) {
		rc = xi_admin_fail(&a, prog, &err);
		xi_entry_free(&e);
		xi_admin_close(&a);
		return rc;
	}
	xi_entry_free(&e);
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

/* ------------------------------------------------------------------ list */

static const char list_usage[] =
	"usage: xident account list [PATTERN] [--domain DOMAIN]\n"
	"Lists accounts as DOMAIN\\name, state and UPN separated by tabs, sorted.\n"
	"PATTERN matches account names; * stands for any text.\n"
	XI_ADMIN_COMMON_HELP;

static int compare_lines(const void *x, const void *y)
{
	return strcasecmp(*(char *const *)x, *(char *const *)y);
}

/* Prints lines sorted; frees them. */
static void print_sorted(char **lines, size_t n)
{
	size_t i;

	qsort(lines, n, sizeof(*lines), compare_lines);
	for (i = 0; i < n; i++) {
		printf("%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
}

static int account_list(const char *prog, int argc, char **argv)
{
	static const char *const attrs[] = { "xidentDomain", "xidentAccountName",
					     "xidentUserPrincipalName", "xidentAccountDisabled",
					     NULL };
	char pattern[3 * XI_ADMIN_NAME_MAX + 1], domain[3 * XI_ADMIN_NAME_MAX + 1];
	char filter[2 * 3 * XI_ADMIN_NAME_MAX + 128];
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entries es;
	struct xi_error err;
	char **lines;
	size_t i;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DOMAIN), 0, 1, list_usage,
			    &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if ((args.npos > 0 &&
	     xi_admin_glob_value(args.pos[0], pattern, sizeof(pattern), &err) < 0) ||
	    (args.value[O_DOMAIN] != NULL &&
	     xi_admin_filter_value(args.value[O_DOMAIN], domain, sizeof(domain), &err) < 0)) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	snprintf(filter, sizeof(filter), "(&(objectClass=xidentAccount)%s%s%s%s%s%s)",
		 args.npos > 0 ? "(xidentAccountName=" : "", args.npos > 0 ? pattern : "",
		 args.npos > 0 ? ")" : "", args.value[O_DOMAIN] != NULL ? "(xidentDomain=" : "",
		 args.value[O_DOMAIN] != NULL ? domain : "",
		 args.value[O_DOMAIN] != NULL ? ")" : "");
	if (open_admin(&a, prog, &args, &err) < 0 ||
	    xi_admin_search(&a, NULL, filter, attrs, &es, &err) < 0) {
		rc = xi_admin_fail(&a, prog, &err);
		xi_admin_close(&a);
		return rc;
	}
	lines = calloc(es.count + 1, sizeof(*lines));
	for (i = 0; lines != NULL && i < es.count; i++) {
		const struct xi_entry *e = &es.items[i];
		const char *d = xi_entry_value(e, "xidentDomain");
		const char *n = xi_entry_value(e, "xidentAccountName");
		const char *upn = xi_entry_value(e, "xidentUserPrincipalName");
		size_t size = 64 + (d != NULL ? strlen(d) : 1) + (n != NULL ? strlen(n) : 1) +
			(upn != NULL ? strlen(upn) : 1);

		lines[i] = malloc(size);
		if (lines[i] == NULL)
			break;
		snprintf(lines[i], size, "%s\\%s\t%s\t%s", d != NULL ? d : "?", n != NULL ? n : "?",
			 xi_entry_has_value(e, "xidentAccountDisabled", "TRUE", true) ? "disabled" :
										  "enabled",
			 upn != NULL ? upn : "-");
	}
	if (lines == NULL || i < es.count) {
		fprintf(stderr, "%s: out of memory\n", prog);
		rc = XI_EXIT_FAIL;
		while (lines != NULL && i > 0)
			free(lines[--i]);
		free(lines);
	} else {
		print_sorted(lines, es.count);
		rc = XI_EXIT_OK;
	}
	xi_entries_free(&es);
	xi_admin_close(&a);
	return rc;
}

/* ------------------------------------------------------- disable / enable */

static const char disable_usage[] =
	"usage: xident account disable NAME [--domain DOMAIN]\n"
	"Marks the account disabled (xidentAccountDisabled: TRUE).\n"
	NAME_HELP
	XI_ADMIN_COMMON_HELP;

static const char enable_usage[] =
	"usage: xident account enable NAME [--domain DOMAIN]\n"
	"Enables the account again (removes xidentAccountDisabled).\n"
	NAME_HELP
	XI_ADMIN_COMMON_HELP;

static int set_disabled(const char *prog, int argc, char **argv, bool disable)
{
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_change ch;
	struct xi_error err;
	char label[2 * XI_ADMIN_NAME_MAX + 2];
	bool is_disabled;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DOMAIN), 1, 1,
			    disable ? disable_usage : enable_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (open_admin(&a, prog, &args, &err) < 0 || find_named(&a, &args, args.pos[0], &e, &err) < 0) {
		rc = xi_admin_fail(&a, prog, &err);
		xi_admin_close(&a);
		return rc;
	}
	label_of(&e, label, sizeof(label));
	is_disabled = xi_entry_has_value(&e, "xidentAccountDisabled", "TRUE", true);
	if (is_disabled == disable && !a.dry_run) {
		printf("account %s is already %s\n", label, disable ? "disabled" : "enabled");
		xi_entry_free(&e);
		xi_admin_close(&a);
		return XI_EXIT_OK;
	}
	xi_change_init(&ch, XI_CHANGE_MODIFY, e.dn);
	if (disable)
		xi_change_value(&ch, LDAP_MOD_REPLACE, "xidentAccountDisabled", "TRUE");
	else if (xi_entry_attr(&e, "xidentAccountDisabled") != NULL)
		xi_change_value(&ch, LDAP_MOD_DELETE, "xidentAccountDisabled", NULL);
	rc = ch.count == 0 ? 0 : xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	xi_entry_free(&e);
	if (rc < 0) {
		rc = xi_admin_fail(&a, prog, &err);
		xi_admin_close(&a);
		return rc;
	}
	if (!a.dry_run)
		printf("account %s %s\n", label, disable ? "disabled" : "enabled");
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

static int account_disable(const char *prog, int argc, char **argv)
{
	return set_disabled(prog, argc, argv, true);
}

static int account_enable(const char *prog, int argc, char **argv)
{
	return set_disabled(prog, argc, argv, false);
}

/* ---------------------------------------------------------------- delete */

static const char delete_usage[] =
	"usage: xident account delete NAME [--domain DOMAIN] [--force]\n"
	"Deletes the account (and the mailbox its own entry carries).  Refuses while\n"
	"other mailboxes name it as their primary account, unless --force; --force\n"
	"also removes it from the delegates of every mailbox.\n"
	NAME_HELP
	XI_ADMIN_COMMON_HELP;

static int account_delete(const char *prog, int argc, char **argv)
{
	static const char *const attrs[] = { "xidentAlias", "xidentDelegate", NULL };
	char esc[3 * XI_ADMIN_DN_MAX + 1], filter[3 * XI_ADMIN_DN_MAX + 128];
	char label[2 * XI_ADMIN_NAME_MAX + 2];
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_entries owned, delegated;
	struct xi_change ch;
	struct xi_error err;
	size_t i, j, others = 0;
	int rc;

	memset(&owned, 0, sizeof(owned));
	memset(&delegated, 0, sizeof(delegated));
	memset(&e, 0, sizeof(e));
	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DOMAIN) | XI_BIT(O_FORCE), 1,
			    1, delete_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (open_admin(&a, prog, &args, &err) < 0 || find_named(&a, &args, args.pos[0], &e, &err) < 0)
		goto fail;
	label_of(&e, label, sizeof(label));
	if (xi_admin_filter_value(e.dn, esc, sizeof(esc), &err) < 0)
		goto fail;
	snprintf(filter, sizeof(filter), "(&(objectClass=xidentMailbox)(xidentPrimaryAccount=%s))",
		 esc);
	if (xi_admin_search(&a, NULL, filter, attrs, &owned, &err) < 0)
		goto fail;
	for (i = 0; i < owned.count; i++) {
		if (strcasecmp(owned.items[i].dn, e.dn) != 0)
			others++;
	}
	if (others > 0 && args.value[O_FORCE] == NULL) {
		fprintf(stderr, "%s: %s is the primary account of:\n", prog, label);
		for (i = 0; i < owned.count; i++) {
			const char *alias = xi_entry_value(&owned.items[i], "xidentAlias");

			if (strcasecmp(owned.items[i].dn, e.dn) != 0)
				fprintf(stderr, "  %s (%s)\n", alias != NULL ? alias : "?",
					owned.items[i].dn);
		}
		xi_error_set(&err, XI_ERR_INVALID,
			     "delete or reassign those mailboxes first, or use --force");
		goto fail;
	}
	snprintf(filter, sizeof(filter), "(&(objectClass=xidentMailbox)(xidentDelegate=%s))", esc);
	if (xi_admin_search(&a, NULL, filter, attrs, &delegated, &err) < 0)
		goto fail;
	if (delegated.count > 0 && args.value[O_FORCE] == NULL) {
		fprintf(stderr, "%s: %s is a delegate of %zu mailbox(es), e.g. %s\n", prog, label,
			delegated.count, delegated.items[0].dn);
		xi_error_set(&err, XI_ERR_INVALID, "revoke those grants first, or use --force");
		goto fail;
	}
	for (i = 0; i < delegated.count; i++) {
		const struct xi_attr *d = xi_entry_attr(&delegated.items[i], "xidentDelegate");

		xi_change_init(&ch, XI_CHANGE_MODIFY, delegated.items[i].dn);
		for (j = 0; d != NULL && j < d->count; j++) {
			if (strcasecmp(d->values[j], e.dn) == 0)
				xi_change_value(&ch, LDAP_MOD_DELETE, "xidentDelegate", d->values[j]);
		}
		rc = ch.count > 0 ? xi_admin_commit(&a, &ch, &err) : 0;
		xi_change_free(&ch);
		if (rc < 0)
			goto fail;
	}
	xi_change_init(&ch, XI_CHANGE_DELETE, e.dn);
	rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	if (rc < 0)
		goto fail;
	if (!a.dry_run)
		printf("deleted account %s (%s)\n", label, e.dn);
	xi_entries_free(&owned);
	xi_entries_free(&delegated);
	xi_entry_free(&e);
	xi_admin_close(&a);
	return XI_EXIT_OK;
fail:
	rc = xi_admin_fail(&a, prog, &err);
	xi_entries_free(&owned);
	xi_entries_free(&delegated);
	xi_entry_free(&e);
	xi_admin_close(&a);
	return rc;
}

/* ---------------------------------------------------------------- passwd */

static const char passwd_usage[] =
	"usage: xident account passwd NAME [--domain DOMAIN] [--password-stdin] [--scheme S]\n"
	"Sets the account's password: userPassword ({SSHA512}, or {ARGON2} with\n"
	"--scheme argon2 when built with libargon2) and xidentNTHash (for NTLM).\n"
	"The password is asked twice on the terminal, or read from the first line of\n"
	"standard input with --password-stdin; never from the command line.\n"
	NAME_HELP
	XI_ADMIN_COMMON_HELP;

static int account_passwd(const char *prog, int argc, char **argv)
{
	char password[XI_PASSWORD_MAX + 2], userpw[XI_PASSWORD_STORED_MAX], nt_hex[33];
	char label[2 * XI_ADMIN_NAME_MAX + 2];
	enum xi_password_scheme scheme = XI_PW_SSHA512;
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_change ch;
	struct xi_error err;
	int rc;

	memset(&e, 0, sizeof(e));
	password[0] = '\0';
	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS,
			    XI_BIT(O_DOMAIN) | XI_BIT(O_PASSWORD_STDIN) | XI_BIT(O_SCHEME), 1, 1,
			    passwd_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (args.value[O_SCHEME] != NULL &&
	    xi_admin_parse_scheme(args.value[O_SCHEME], &scheme, &err) < 0) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	if (open_admin(&a, prog, &args, &err) < 0 || find_named(&a, &args, args.pos[0], &e, &err) < 0)
		goto fail;
	label_of(&e, label, sizeof(label));
	if (xi_admin_read_password(args.value[O_PASSWORD_STDIN] != NULL, true, password,
				   sizeof(password), &err) < 0 ||
	    xi_admin_password_values(password, scheme, userpw, sizeof(userpw), nt_hex, &err) < 0)
		goto fail;
	OPENSSL_cleanse(password, sizeof(password));
	xi_change_init(&ch, XI_CHANGE_MODIFY, e.dn);
	xi_change_value(&ch, LDAP_MOD_REPLACE, "userPassword", userpw);
	xi_change_value(&ch, LDAP_MOD_REPLACE, "xidentNTHash", nt_hex);
	OPENSSL_cleanse(userpw, sizeof(userpw));
	OPENSSL_cleanse(nt_hex, sizeof(nt_hex));
	rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	if (rc < 0)
		goto fail;
	if (!a.dry_run)
		printf("password of %s set (%s and NT hash)\n", label,
		       xi_password_scheme_name(scheme));
	xi_entry_free(&e);
	xi_admin_close(&a);
	return XI_EXIT_OK;
fail:
	OPENSSL_cleanse(password, sizeof(password));
	rc = xi_admin_fail(&a, prog, &err);
	xi_entry_free(&e);
	xi_admin_close(&a);
	return rc;
}

static const struct xi_admin_verb verbs[] = {
	{ "add", "add an account (DOMAIN\\NAME)", account_add },
	{ "show", "show an account, its state and mailboxes", account_show },
	{ "list", "list accounts", account_list },
	{ "disable", "disable an account", account_disable },
	{ "enable", "enable an account", account_enable },
	{ "delete", "delete an account", account_delete },
	{ "passwd", "set an account's password (and NT hash)", account_passwd },
	{ NULL, NULL, NULL }
};

int cmd_account(int argc, char **argv)
{
	return xi_admin_dispatch("account", verbs, argc, argv);
}
