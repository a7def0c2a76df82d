/*
 * xident mailbox: mailboxes (known by their alias), their primary account,
 * delegates, home server and protocols.
 *
 *   add ALIAS --owner DOMAIN\NAME   a new mailbox (refuses an alias in use)
 *   show ALIAS / list [PATTERN]
 *   grant ALIAS ACCOUNT / revoke ALIAS ACCOUNT     delegates (full access)
 *   set-home ALIAS SERVER|--clear                  xidentHomeServer
 *   set-protocols ALIAS PROTO...|all [--logon-methods M]
 *   set-mail ALIAS [--home D] [--location L] [--uid U] [--gid G] [--quota Q]
 *            [--unset FIELD]...                    userdb fields (xidentMail*)
 *   delete ALIAS
 *
 * A mailbox is its own entry (cn=ALIAS,ou=mailboxes,BASE, Exchange 5.5
 * style) or, with --on-account, part of its owner's account entry (Active
 * Directory style).  Where an alias is shared by several mailboxes (which
 * the directory may hold but this tool never creates) --dn picks one.
 */
#include "xident-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "commands.h"

int cmd_mailbox(int argc, char **argv);

enum {
	O_OWNER, O_DISPLAY_NAME, O_MAIL, O_HOME_SERVER, O_PROTOCOLS, O_LOGON_METHODS, O_HOME,
	O_LOCATION, O_UID, O_GID, O_QUOTA, O_PARENT, O_DN, O_ON_ACCOUNT, O_CLEAR, O_UNSET
};

static const struct xi_admin_opt opts[] = {
	[O_OWNER] = { "owner", true, false },
	[O_DISPLAY_NAME] = { "display-name", true, false },
	[O_MAIL] = { "mail", true, true },
	[O_HOME_SERVER] = { "home-server", true, false },
	[O_PROTOCOLS] = { "protocols", true, false },
	[O_LOGON_METHODS] = { "logon-methods", true, false },
	[O_HOME] = { "home", true, false },
	[O_LOCATION] = { "location", true, false },
	[O_UID] = { "uid", true, false },
	[O_GID] = { "gid", true, false },
	[O_QUOTA] = { "quota", true, false },
	[O_PARENT] = { "parent", true, false },
	[O_DN] = { "dn", true, false },
	[O_ON_ACCOUNT] = { "on-account", false, false },
	[O_CLEAR] = { "clear", false, false },
	[O_UNSET] = { "unset", true, true },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

#define DN_HELP "      --dn DN              the mailbox, when several share ALIAS\n"
#define ACCOUNT_HELP \
	"ACCOUNT is DOMAIN\\name or DOMAIN/name (or name alone when only one domain\n" \
	"has it).\n"

/* The attributes a mailbox may carry beyond its alias (xidentMailbox MAY). */
static const char *const mailbox_attrs[] = {
	"xidentAlias", "xidentPrimaryAccount", "xidentDelegate", "xidentHomeServer",
	"xidentProtocols", "xidentLogonMethods", "xidentMailHome", "xidentMailLocation",
	"xidentMailUid", "xidentMailGid", "xidentMailQuota", NULL
};

/* Splits a list "a,b c" into words, checks each against allowed ("imap pop3"),
 * and adds them as values of attr with op. */
static int add_word_list(struct xi_change *ch, int op, const char *attr, const char *list,
			 const char *const *allowed, struct xi_error *err)
{
	char word[32];
	const char *p = list;
	size_t n, i;
	int count = 0;

	while (*p != '\0') {
		p += strspn(p, ", ");
		n = strcspn(p, ", ");
		if (n == 0)
			break;
		if (n >= sizeof(word))
			return xi_error_set(err, XI_ERR_INVALID, "unknown value in %s", attr);
		memcpy(word, p, n);
		word[n] = '\0';
		for (i = 0; allowed[i] != NULL && strcasecmp(allowed[i], word) != 0; i++)
			;
		if (allowed[i] == NULL)
			return xi_error_set(err, XI_ERR_INVALID, "%s is not one of the values of %s",
					    word, attr);
		xi_change_value(ch, op, attr, allowed[i]);
		count++;
		p += n;
	}
	if (count == 0)
		return xi_error_set(err, XI_ERR_INVALID, "no value given for %s", attr);
	return 0;
}

static const char *const protocol_words[] = { "imap", "pop3", NULL };
static const char *const method_words[] = { "plain", "ntlm", NULL };

/* ------------------------------------------------------------------- add */

static const char add_usage[] =
	"usage: xident mailbox add ALIAS --owner ACCOUNT [OPTIONS]\n"
	"Adds a mailbox whose primary account is ACCOUNT.  Refuses (exit 4) when any\n"
	"mailbox, custom recipient or distribution list already has ALIAS.\n"
	"      --owner ACCOUNT       primary account (DOMAIN\\name)\n"
	"      --on-account          put the mailbox on the owner's own entry\n"
	"      --display-name TEXT   display name\n"
	"      --mail ADDR           a mail address (repeat for more)\n"
	"      --home-server NAME    server holding the mailbox (default: any)\n"
	"      --protocols LIST      imap,pop3 (default: all)\n"
	"      --logon-methods LIST  plain,ntlm (default: all)\n"
	"      --home DIR --location LOC --uid UID --gid GID --quota Q\n"
	"                            userdb home, mail location, uid, gid, quota\n"
	"      --parent DN           where to add it (default ou=mailboxes,BASE)\n"
	ACCOUNT_HELP
	XI_ADMIN_COMMON_HELP;

static int add_mailbox_values(struct xi_change *ch, int op, const struct xi_admin_args *args,
			      const char *alias, const char *owner_dn, struct xi_error *err)
{
	static const struct { int opt; const char *attr; } simple[] = {
		{ O_HOME_SERVER, "xidentHomeServer" }, { O_HOME, "xidentMailHome" },
		{ O_LOCATION, "xidentMailLocation" }, { O_UID, "xidentMailUid" },
		{ O_GID, "xidentMailGid" }, { O_QUOTA, "xidentMailQuota" },
		{ O_DISPLAY_NAME, "displayName" },
	};
	size_t i;

	xi_change_value(ch, op, "xidentAlias", alias);
	xi_change_value(ch, op, "xidentPrimaryAccount", owner_dn);
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (args->value[simple[i].opt] != NULL)
			xi_change_value(ch, op, simple[i].attr, args->value[simple[i].opt]);
	}
	if (args->value[O_PROTOCOLS] != NULL &&
	    add_word_list(ch, op, "xidentProtocols", args->value[O_PROTOCOLS], protocol_words,
			  err) < 0)
		return -1;
	if (args->value[O_LOGON_METHODS] != NULL &&
	    add_word_list(ch, op, "xidentLogonMethods", args->value[O_LOGON_METHODS],
			  method_words, err) < 0)
		return -1;
	for (i = 0; i < args->nvalues[O_MAIL]; i++)
		xi_change_value(ch, op, "mail", args->values[O_MAIL][i]);
	return 0;
}

static int mailbox_add(const char *prog, int argc, char **argv)
{
	const unsigned long allowed = XI_BIT(O_OWNER) | XI_BIT(O_DISPLAY_NAME) | XI_BIT(O_MAIL) |
		XI_BIT(O_HOME_SERVER) | XI_BIT(O_PROTOCOLS) | XI_BIT(O_LOGON_METHODS) |
		XI_BIT(O_HOME) | XI_BIT(O_LOCATION) | XI_BIT(O_UID) | XI_BIT(O_GID) |
		XI_BIT(O_QUOTA) | XI_BIT(O_PARENT) | XI_BIT(O_ON_ACCOUNT);
	char esc[3 * XI_ADMIN_NAME_MAX + 1], parent[XI_ADMIN_DN_MAX], dn[XI_ADMIN_DN_MAX];
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry owner;
	struct xi_change ch;
	struct xi_error err;
	const char *alias;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, allowed, 1, 1, add_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	alias = args.pos[0];
	if (args.value[O_OWNER] == NULL) {
		fprintf(stderr, "%s: --owner ACCOUNT is required\n%s", prog, add_usage);
		return XI_EXIT_USAGE;
	}
	if (xi_admin_check_name("alias", alias, &err) < 0 ||
	    (args.value[O_DISPLAY_NAME] != NULL &&
	     xi_admin_check_name("display name", args.value[O_DISPLAY_NAME], &err) < 0)) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	memset(&owner, 0, sizeof(owner));
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_alias_free(&a, alias, &err) < 0 ||
	    xi_admin_find_account_text(&a, args.value[O_OWNER], &owner, &err) < 0)
		goto fail;
	if (args.value[O_ON_ACCOUNT] != NULL) {
		if (xi_entry_has_value(&owner, "objectClass", "xidentMailbox", true)) {
			xi_error_set(&err, XI_ERR_EXISTS, "the entry of %s already carries mailbox %s",
				     args.value[O_OWNER],
				     xi_entry_value(&owner, "xidentAlias") != NULL ?
				     xi_entry_value(&owner, "xidentAlias") : "?");
			goto fail;
		}
		if (xi_admin_fmt(dn, sizeof(dn), &err, "the DN", "%s", owner.dn) < 0)
			goto fail;
		xi_change_init(&ch, XI_CHANGE_MODIFY, owner.dn);
		xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "xidentMailbox");
		if (args.value[O_DISPLAY_NAME] != NULL &&
		    xi_entry_attr(&owner, "displayName") != NULL) {
			/* displayName is single-valued: replace the account's own. */
			xi_change_value(&ch, LDAP_MOD_REPLACE, "displayName",
					args.value[O_DISPLAY_NAME]);
			args.value[O_DISPLAY_NAME] = NULL;
		}
	} else {
		if (xi_admin_dn_value(alias, esc, sizeof(esc), &err) < 0)
			goto fail;
		if (args.value[O_PARENT] != NULL) {
			if (xi_admin_fmt(parent, sizeof(parent), &err, "--parent", "%s",
					 args.value[O_PARENT]) < 0)
				goto fail;
		} else if (xi_admin_fmt(parent, sizeof(parent), &err, "the DN", "ou=mailboxes,%s",
					a.base_dn) < 0 ||
			   xi_admin_ensure_ou(&a, parent, "mailboxes", &err) < 0) {
			goto fail;
		}
		if (xi_admin_fmt(dn, sizeof(dn), &err, "the DN", "cn=%s,%s", esc, parent) < 0)
			goto fail;
		xi_change_init(&ch, XI_CHANGE_ADD, dn);
		xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "inetOrgPerson");
		xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "xidentMailbox");
		xi_change_value(&ch, LDAP_MOD_ADD, "cn", alias);
		xi_change_value(&ch, LDAP_MOD_ADD, "sn", alias);
	}
	if (add_mailbox_values(&ch, LDAP_MOD_ADD, &args, alias, owner.dn, &err) < 0) {
		xi_change_free(&ch);
		err.status = XI_ERR_INVALID;
		xi_admin_fail(&a, prog, &err);
		xi_entry_free(&owner);
		xi_admin_close(&a);
		return XI_EXIT_USAGE;
	}
	rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	if (rc < 0)
		goto fail;
	if (!a.dry_run)
		printf("added mailbox %s (%s), primary account %s\n", alias, dn,
		       args.value[O_OWNER]);
	xi_entry_free(&owner);
	xi_admin_close(&a);
	return XI_EXIT_OK;
fail:
	xi_entry_free(&owner);
	return xi_admin_fail_close(&a, prog, &err);
}

/* ------------------------------------------------------------------ show */

static const char show_usage[] =
	"usage: xident mailbox show ALIAS [--dn DN]\n"
	"Prints the mailbox: primary account, delegates, home server, protocols,\n"
	"logon methods, addresses and where the mail lives.\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static void print_attr(const struct xi_entry *e, const char *attr, const char *title,
		       const char *absent)
{
	const struct xi_attr *v = xi_entry_attr(e, attr);
	size_t i;

	if ((v == NULL || v->count == 0) && absent != NULL)
		printf("%-16s%s\n", title, absent);
	for (i = 0; v != NULL && i < v->count; i++)
		printf("%-16s%s\n", title, v->values[i]);
}

static int mailbox_show(const char *prog, int argc, char **argv)
{
	char label[XI_ADMIN_DN_MAX];
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_error err;
	const struct xi_attr *d;
	const char *owner;
	size_t i;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DN), 1, 1, show_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_find_mailbox(&a, args.pos[0], args.value[O_DN], &e, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	print_attr(&e, "xidentAlias", "alias:", NULL);
	printf("%-16s%s\n", "dn:", e.dn);
	print_attr(&e, "displayName", "display name:", NULL);
	owner = xi_entry_value(&e, "xidentPrimaryAccount");
	if (owner != NULL) {
		xi_admin_account_label(&a, owner, label, sizeof(label));
		printf("%-16s%s\n", "owner:", label);
	} else {
		printf("%-16s%s\n", "owner:", "none");
	}
	d = xi_entry_attr(&e, "xidentDelegate");
	for (i = 0; d != NULL && i < d->count; i++) {
		xi_admin_account_label(&a, d->values[i], label, sizeof(label));
		printf("%-16s%s\n", "delegate:", label);
	}
	print_attr(&e, "xidentHomeServer", "home server:", "any");
	print_attr(&e, "xidentProtocols", "protocols:", "all");
	print_attr(&e, "xidentLogonMethods", "logon methods:", "all");
	print_attr(&e, "mail", "mail:", NULL);
	print_attr(&e, "xidentMailHome", "home:", NULL);
	print_attr(&e, "xidentMailLocation", "location:", NULL);
	print_attr(&e, "xidentMailUid", "uid:", NULL);
	print_attr(&e, "xidentMailGid", "gid:", NULL);
	print_attr(&e, "xidentMailQuota", "quota:", NULL);
	if (xi_entry_has_value(&e, "objectClass", "xidentAccount", true))
		printf("%-16s%s\n", "entry:", "also the account's entry");
	xi_entry_free(&e);
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

/* ------------------------------------------------------------------ list */

static const char list_usage[] =
	"usage: xident mailbox list [PATTERN] [--owner ACCOUNT]\n"
	"Lists mailboxes as alias, primary account and home server separated by tabs,\n"
	"sorted.  PATTERN matches aliases; * stands for any text.\n"
	XI_ADMIN_COMMON_HELP;

static int compare_lines(const void *x, const void *y)
{
	return strcasecmp(*(char *const *)x, *(char *const *)y);
}

static int compare_entry_dn(const void *x, const void *y)
{
	return strcasecmp(((const struct xi_entry *)x)->dn, ((const struct xi_entry *)y)->dn);
}

/* DOMAIN\name of the account at dn: from accounts (sorted by DN) when it is
 * there, else by a lookup of its own. */
static void owner_label(struct xi_admin *a, const struct xi_entries *accounts, const char *dn,
			char *out, size_t size)
{
	struct xi_entry key = { .dn = (char *)dn };
	const struct xi_entry *e = NULL;
	const char *d, *n;

	if (accounts->count > 0)
		e = bsearch(&key, accounts->items, accounts->count, sizeof(key), compare_entry_dn);
	if (e != NULL && (d = xi_entry_value(e, "xidentDomain")) != NULL &&
	    (n = xi_entry_value(e, "xidentAccountName")) != NULL) {
		snprintf(out, size, "%s\\%s", d, n);
		return;
	}
	xi_admin_account_label(a, dn, out, size);
}

/* Past this many mailboxes, one search for every account's name is cheaper
 * than one lookup per mailbox owner. */
#define LIST_PREFETCH_OWNERS 32

static int mailbox_list(const char *prog, int argc, char **argv)
{
	static const char *const attrs[] = { "xidentAlias", "xidentPrimaryAccount",
					     "xidentHomeServer", NULL };
	char pattern[3 * XI_ADMIN_NAME_MAX + 1], esc_owner[3 * XI_ADMIN_DN_MAX + 1];
	char filter[3 * XI_ADMIN_NAME_MAX + 3 * XI_ADMIN_DN_MAX + 128], label[XI_ADMIN_DN_MAX];
	struct xi_admin_args args;
	struct xi_admin a;
	static const char *const account_attrs[] = { "xidentDomain", "xidentAccountName", NULL };
	struct xi_entries es, accounts;
	struct xi_entry owner;
	struct xi_error err;
	char **lines;
	size_t i, n = 0;
	int rc;

	memset(&accounts, 0, sizeof(accounts));
	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_OWNER), 0, 1, list_usage,
			    &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (args.npos > 0 && xi_admin_glob_value(args.pos[0], pattern, sizeof(pattern), &err) < 0) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	memset(&owner, 0, sizeof(owner));
	esc_owner[0] = '\0';
	if (xi_admin_open(&a, prog, &args.common, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	if (args.value[O_OWNER] != NULL &&
	    (xi_admin_find_account_text(&a, args.value[O_OWNER], &owner, &err) < 0 ||
	     xi_admin_filter_value(owner.dn, esc_owner, sizeof(esc_owner), &err) < 0)) {
		xi_entry_free(&owner);
		return xi_admin_fail_close(&a, prog, &err);
	}
	snprintf(filter, sizeof(filter), "(&(objectClass=xidentMailbox)%s%s%s%s%s%s)",
		 args.npos > 0 ? "(xidentAlias=" : "", args.npos > 0 ? pattern : "",
		 args.npos > 0 ? ")" : "", owner.dn != NULL ? "(xidentPrimaryAccount=" : "",
		 esc_owner, owner.dn != NULL ? ")" : "");
	xi_entry_free(&owner);
	if (xi_admin_search(&a, NULL, filter, attrs, &es, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	if (es.count > LIST_PREFETCH_OWNERS) {
		if (xi_admin_search(&a, NULL, "(objectClass=xidentAccount)", account_attrs,
				    &accounts, &err) < 0) {
			xi_entries_free(&es);
			return xi_admin_fail_close(&a, prog, &err);
		}
		if (accounts.count > 0)
			qsort(accounts.items, accounts.count, sizeof(*accounts.items),
			      compare_entry_dn);
	}
	lines = calloc(es.count + 1, sizeof(*lines));
	for (i = 0; lines != NULL && i < es.count; i++) {
		const char *alias = xi_entry_value(&es.items[i], "xidentAlias");
		const char *odn = xi_entry_value(&es.items[i], "xidentPrimaryAccount");
		const char *home = xi_entry_value(&es.items[i], "xidentHomeServer");
		size_t size;

		if (odn != NULL)
			owner_label(&a, &accounts, odn, label, sizeof(label));
		else
			snprintf(label, sizeof(label), "-");
		size = 16 + strlen(label) + (alias != NULL ? strlen(alias) : 1) +
			(home != NULL ? strlen(home) : 1);
		lines[i] = malloc(size);
		if (lines[i] == NULL)
			break;
		snprintf(lines[i], size, "%s\t%s\t%s", alias != NULL ? alias : "?", label,
			 home != NULL ? home : "-");
		n++;
	}
	rc = lines == NULL || n < es.count ? XI_EXIT_FAIL : XI_EXIT_OK;
	if (rc != XI_EXIT_OK)
		fprintf(stderr, "%s: out of memory\n", prog);
	if (lines != NULL)
		qsort(lines, n, sizeof(*lines), compare_lines);
	for (i = 0; i < n; i++) {
		if (rc == XI_EXIT_OK)
			printf("%s\n", lines[i]);
		free(lines[i]);
	}
	free(lines);
	xi_entries_free(&accounts);
	xi_entries_free(&es);
	xi_admin_close(&a);
	return rc;
}

/* --------------------------------------------------------- grant / revoke */

static const char grant_usage[] =
	"usage: xident mailbox grant ALIAS ACCOUNT [--dn DN]\n"
	"Makes ACCOUNT a delegate of the mailbox (full access: ACCOUNT may log on as\n"
	"DOMAIN\\account\\ALIAS).  Granting twice changes nothing.\n"
	DN_HELP ACCOUNT_HELP
	XI_ADMIN_COMMON_HELP;

static const char revoke_usage[] =
	"usage: xident mailbox revoke ALIAS ACCOUNT [--dn DN]\n"
	"Removes ACCOUNT from the mailbox's delegates (exit 3 when it is not one).\n"
	DN_HELP ACCOUNT_HELP
	XI_ADMIN_COMMON_HELP;

static int grant_revoke(const char *prog, int argc, char **argv, bool grant)
{
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry mbox, acct;
	struct xi_change ch;
	struct xi_error err;
	const struct xi_attr *d;
	const char *current = NULL;
	const char *alias;
	size_t i;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DN), 2, 2,
			    grant ? grant_usage : revoke_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	alias = args.pos[0];
	memset(&mbox, 0, sizeof(mbox));
	memset(&acct, 0, sizeof(acct));
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_find_mailbox(&a, alias, args.value[O_DN], &mbox, &err) < 0 ||
	    xi_admin_find_account_text(&a, args.pos[1], &acct, &err) < 0)
		goto fail;
	d = xi_entry_attr(&mbox, "xidentDelegate");
	for (i = 0; d != NULL && i < d->count; i++) {
		if (strcasecmp(d->values[i], acct.dn) == 0)
			current = d->values[i];
	}
	if (grant && current != NULL) {
		printf("%s is already a delegate of %s\n", args.pos[1], alias);
		goto done;
	}
	if (!grant && current == NULL) {
		xi_error_set(&err, XI_ERR_NOTFOUND, "%s is not a delegate of %s", args.pos[1], alias);
		goto fail;
	}
	xi_change_init(&ch, XI_CHANGE_MODIFY, mbox.dn);
	xi_change_value(&ch, grant ? LDAP_MOD_ADD : LDAP_MOD_DELETE, "xidentDelegate",
			grant ? acct.dn : current);
	rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	if (rc < 0)
		goto fail;
	if (!a.dry_run)
		printf("%s %s %s %s\n", grant ? "granted" : "revoked", args.pos[1],
		       grant ? "full access to" : "from", alias);
done:
	xi_entry_free(&mbox);
	xi_entry_free(&acct);
	xi_admin_close(&a);
	return XI_EXIT_OK;
fail:
	xi_entry_free(&mbox);
	xi_entry_free(&acct);
	return xi_admin_fail_close(&a, prog, &err);
}

static int mailbox_grant(const char *prog, int argc, char **argv)
{
	return grant_revoke(prog, argc, argv, true);
}

static int mailbox_revoke(const char *prog, int argc, char **argv)
{
	return grant_revoke(prog, argc, argv, false);
}

/* ----------------------------------------------- set-home / set-protocols */

static const char set_home_usage[] =
	"usage: xident mailbox set-home ALIAS SERVER [--dn DN]\n"
	"       xident mailbox set-home ALIAS --clear [--dn DN]\n"
	"Sets the server that holds the mailbox (xidentHomeServer); --clear makes it\n"
	"usable on any server.\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static const char set_protocols_usage[] =
	"usage: xident mailbox set-protocols ALIAS PROTOCOL...|all [--logon-methods M] [--dn DN]\n"
	"Sets the protocols the mailbox may use (imap, pop3; all removes the limit)\n"
	"and with --logon-methods the logon methods (plain, ntlm, comma-separated,\n"
	"or all).  PROTOCOL may be omitted when --logon-methods is given.\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

/* Replaces attr with the words of list, or deletes it for "all". */
static int set_words(struct xi_change *ch, const struct xi_entry *e, const char *attr,
		     const char *list, const char *const *allowed, struct xi_error *err)
{
	if (strcasecmp(list, "all") == 0) {
		if (xi_entry_attr(e, attr) != NULL)
			xi_change_value(ch, LDAP_MOD_DELETE, attr, NULL);
		return 0;
	}
	xi_change_value(ch, LDAP_MOD_REPLACE, attr, NULL);
	return add_word_list(ch, LDAP_MOD_REPLACE, attr, list, allowed, err);
}

static int set_mailbox(const char *prog, int argc, char **argv, bool home)
{
	char protocols[256];
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_change ch;
	struct xi_error err;
	size_t used = 0;
	int rc, i;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS,
			    home ? XI_BIT(O_DN) | XI_BIT(O_CLEAR) :
				   XI_BIT(O_DN) | XI_BIT(O_LOGON_METHODS),
			    1, home ? 2 : 4, home ? set_home_usage : set_protocols_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (home && (args.npos == 2) == (args.value[O_CLEAR] != NULL)) {
		fprintf(stderr, "%s: give SERVER or --clear\n%s", prog, set_home_usage);
		return XI_EXIT_USAGE;
	}
	if (!home && args.npos == 1 && args.value[O_LOGON_METHODS] == NULL) {
		fprintf(stderr, "%s: give protocols or --logon-methods\n%s", prog,
			set_protocols_usage);
		return XI_EXIT_USAGE;
	}
	protocols[0] = '\0';
	/* Stops once full: protocols + used past the end is undefined. */
	for (i = 1; !home && i < args.npos && used < sizeof(protocols); i++)
		used += (size_t)snprintf(protocols + used, sizeof(protocols) - used, "%s%s",
					 i > 1 ? " " : "", args.pos[i]);
	if (used >= sizeof(protocols)) {
		fprintf(stderr, "%s: too many protocols\n", prog);
		return XI_EXIT_USAGE;
	}
	if (home && args.npos == 2 && xi_admin_check_name("server", args.pos[1], &err) < 0) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_find_mailbox(&a, args.pos[0], args.value[O_DN], &e, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	xi_change_init(&ch, XI_CHANGE_MODIFY, e.dn);
	rc = 0;
	if (home && args.npos == 2)
		xi_change_value(&ch, LDAP_MOD_REPLACE, "xidentHomeServer", args.pos[1]);
	else if (home && xi_entry_attr(&e, "xidentHomeServer") != NULL)
		xi_change_value(&ch, LDAP_MOD_DELETE, "xidentHomeServer", NULL);
	if (!home && args.npos > 1)
		rc = set_words(&ch, &e, "xidentProtocols", protocols, protocol_words, &err);
	if (!home && rc == 0 && args.value[O_LOGON_METHODS] != NULL)
		rc = set_words(&ch, &e, "xidentLogonMethods", args.value[O_LOGON_METHODS],
			       method_words, &err);
	if (rc < 0) {
		xi_change_free(&ch);
		xi_entry_free(&e);
		xi_admin_fail(&a, prog, &err);
		xi_admin_close(&a);
		return XI_EXIT_USAGE;
	}
	return xi_admin_commit_close(&a, prog, &ch, &e, "mailbox %s updated\n", args.pos[0]);
}

static int mailbox_set_home(const char *prog, int argc, char **argv)
{
	return set_mailbox(prog, argc, argv, true);
}

static int mailbox_set_protocols(const char *prog, int argc, char **argv)
{
	return set_mailbox(prog, argc, argv, false);
}

/* -------------------------------------------------------------- set-mail */

static const char set_mail_usage[] =
	"usage: xident mailbox set-mail ALIAS [--home DIR] [--location LOC] [--uid UID]\n"
	"                              [--gid GID] [--quota Q] [--unset FIELD]... [--dn DN]\n"
	"Changes the mailbox's mail storage, the fields Dovecot's userdb returns:\n"
	"      --home DIR            home directory, absolute (xidentMailHome)\n"
	"      --location LOC        mail location, e.g. maildir:~/Maildir (xidentMailLocation)\n"
	"      --uid UID --gid GID   system user and group, number or name\n"
	"      --quota Q             quota rule value, e.g. 1G (xidentMailQuota)\n"
	"      --unset FIELD         remove one: home, location, uid, gid or quota\n"
	"                            (the server's defaults then apply); repeatable\n"
	"Fields not named keep their values.  Moving the mail itself is not done here.\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static const struct mail_field {
	const char *word;
	int opt;
	const char *attr;
} mail_fields[] = {
	{ "home", O_HOME, "xidentMailHome" },
	{ "location", O_LOCATION, "xidentMailLocation" },
	{ "uid", O_UID, "xidentMailUid" },
	{ "gid", O_GID, "xidentMailGid" },
	{ "quota", O_QUOTA, "xidentMailQuota" },
};
#define NMAIL_FIELDS (sizeof(mail_fields) / sizeof(mail_fields[0]))

/* The fields are IA5Strings that end up in Dovecot's userdb: printable
 * ASCII only, and the home must be absolute. */
static int check_mail_value(const struct mail_field *f, const char *value,
			    struct xi_error *err)
{
	size_t i, len = strlen(value);

	if (len == 0 || len > XI_ADMIN_DN_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "--%s must be 1 to %d bytes "
				    "(--unset %s removes it)", f->word, XI_ADMIN_DN_MAX, f->word);
	for (i = 0; i < len; i++) {
		if (value[i] < 0x20 || value[i] > 0x7e)
			return xi_error_set(err, XI_ERR_INVALID,
					    "--%s must be printable ASCII", f->word);
	}
	if (f->opt == O_HOME && value[0] != '/')
		return xi_error_set(err, XI_ERR_INVALID, "--home must be an absolute path");
	return 0;
}

/* Fills ch from checked options: replace what is given, delete what
 * --unset names and the entry has. */
static void mail_changes(struct xi_change *ch, const struct xi_admin_args *args,
			 const struct xi_entry *e)
{
	size_t i, j;

	for (i = 0; i < NMAIL_FIELDS; i++) {
		const char *value = args->value[mail_fields[i].opt];

		if (value != NULL)
			xi_change_value(ch, LDAP_MOD_REPLACE, mail_fields[i].attr, value);
	}
	for (j = 0; j < args->nvalues[O_UNSET]; j++) {
		for (i = 0; i < NMAIL_FIELDS; i++) {
			if (strcasecmp(args->values[O_UNSET][j], mail_fields[i].word) == 0)
				break;
		}
		if (i < NMAIL_FIELDS && xi_entry_attr(e, mail_fields[i].attr) != NULL)
			xi_change_value(ch, LDAP_MOD_DELETE, mail_fields[i].attr, NULL);
	}
}

/* Checks the options before anything is opened: usage errors exit 2. */
static int check_mail_options(const struct xi_admin_args *args, struct xi_error *err)
{
	size_t i, j;
	bool any = false;

	for (i = 0; i < NMAIL_FIELDS; i++) {
		const char *value = args->value[mail_fields[i].opt];

		if (value == NULL)
			continue;
		any = true;
		if (check_mail_value(&mail_fields[i], value, err) < 0)
			return -1;
	}
	for (j = 0; j < args->nvalues[O_UNSET]; j++) {
		const char *word = args->values[O_UNSET][j];

		for (i = 0; i < NMAIL_FIELDS; i++) {
			if (strcasecmp(word, mail_fields[i].word) == 0)
				break;
		}
		if (i == NMAIL_FIELDS)
			return xi_error_set(err, XI_ERR_INVALID, "--unset %s: not one of home, "
					    "location, uid, gid, quota", word);
		if (args->value[mail_fields[i].opt] != NULL)
			return xi_error_set(err, XI_ERR_INVALID, "--%s and --unset %s together",
					    mail_fields[i].word, mail_fields[i].word);
		any = true;
	}
	if (!any)
		return xi_error_set(err, XI_ERR_INVALID, "nothing to change: give --home, "
				    "--location, --uid, --gid, --quota or --unset");
	return 0;
}

static int mailbox_set_mail(const char *prog, int argc, char **argv)
{
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_change ch;
	struct xi_error err;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS,
			    XI_BIT(O_HOME) | XI_BIT(O_LOCATION) | XI_BIT(O_UID) | XI_BIT(O_GID) |
			    XI_BIT(O_QUOTA) | XI_BIT(O_UNSET) | XI_BIT(O_DN),
			    1, 1, set_mail_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (check_mail_options(&args, &err) < 0) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_find_mailbox(&a, args.pos[0], args.value[O_DN], &e, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	xi_change_init(&ch, XI_CHANGE_MODIFY, e.dn);
	mail_changes(&ch, &args, &e);
	return xi_admin_commit_close(&a, prog, &ch, &e, "mailbox %s: mail storage updated\n",
				     args.pos[0]);
}

/* ---------------------------------------------------------------- delete */

static const char delete_usage[] =
	"usage: xident mailbox delete ALIAS [--dn DN]\n"
	"Deletes the mailbox.  When it lives on its account's entry, only the mailbox\n"
	"class and attributes are removed and the account stays.\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static int mailbox_delete(const char *prog, int argc, char **argv)
{
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_change ch;
	struct xi_error err;
	bool on_account;
	size_t i;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DN), 1, 1, delete_usage,
			    &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_find_mailbox(&a, args.pos[0], args.value[O_DN], &e, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	on_account = xi_entry_has_value(&e, "objectClass", "xidentAccount", true);
	if (on_account) {
		xi_change_init(&ch, XI_CHANGE_MODIFY, e.dn);
		xi_change_value(&ch, LDAP_MOD_DELETE, "objectClass", "xidentMailbox");
		for (i = 0; mailbox_attrs[i] != NULL; i++) {
			if (xi_entry_attr(&e, mailbox_attrs[i]) != NULL)
				xi_change_value(&ch, LDAP_MOD_DELETE, mailbox_attrs[i], NULL);
		}
	} else {
		xi_change_init(&ch, XI_CHANGE_DELETE, e.dn);
	}
	rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	if (rc < 0) {
		xi_entry_free(&e);
		return xi_admin_fail_close(&a, prog, &err);
	}
	if (!a.dry_run)
		printf("deleted mailbox %s (%s)%s\n", args.pos[0], e.dn,
		       on_account ? "; the account stays" : "");
	xi_entry_free(&e);
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

static const struct xi_admin_verb verbs[] = {
	{ "add", "add a mailbox with its primary account", mailbox_add },
	{ "show", "show a mailbox", mailbox_show },
	{ "list", "list mailboxes", mailbox_list },
	{ "grant", "make an account a delegate (full access)", mailbox_grant },
	{ "revoke", "remove a delegate", mailbox_revoke },
	{ "set-home", "set or clear the mailbox's home server", mailbox_set_home },
	{ "set-protocols", "limit protocols and logon methods", mailbox_set_protocols },
	{ "set-mail", "change home, mail location, uid, gid and quota", mailbox_set_mail },
	{ "delete", "delete a mailbox", mailbox_delete },
	{ NULL, NULL, NULL }
};

int cmd_mailbox(int argc, char **argv)
{
	return xi_admin_dispatch("mailbox", verbs, argc, argv);
}
