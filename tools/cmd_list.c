/*
 * xident list: distribution lists (groupOfNames + xidentDistributionList):
 * an alias whose mail goes to its members, and which nobody can log on to.
 *
 *   add ALIAS --member ACCOUNT... [--member-alias ALIAS...]
 *   show ALIAS
 *   add-members ALIAS --member ... / remove-members ALIAS --member ...
 *   delete ALIAS
 *
 * Members are DNs.  --member names an account (DOMAIN\name), --member-alias
 * a mailbox, custom recipient or other list, --member-dn any entry; each is
 * looked up, so a list never gains a member that does not exist.
 * groupOfNames needs one member at least: the last one cannot be removed.
 */
#include "xident-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "commands.h"

int cmd_list(int argc, char **argv);

enum { O_MEMBER, O_MEMBER_ALIAS, O_MEMBER_DN, O_DISPLAY_NAME, O_MAIL, O_PARENT, O_DN };

static const struct xi_admin_opt opts[] = {
	[O_MEMBER] = { "member", true, true },
	[O_MEMBER_ALIAS] = { "member-alias", true, true },
	[O_MEMBER_DN] = { "member-dn", true, true },
	[O_DISPLAY_NAME] = { "display-name", true, false },
	[O_MAIL] = { "mail", true, true },
	[O_PARENT] = { "parent", true, false },
	[O_DN] = { "dn", true, false },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))
#define MEMBER_OPTS (XI_BIT(O_MEMBER) | XI_BIT(O_MEMBER_ALIAS) | XI_BIT(O_MEMBER_DN))

/* Up to XI_ADMIN_REPEAT_MAX of each member option. */
#define MEMBERS_MAX (3 * XI_ADMIN_REPEAT_MAX)

#define MEMBER_HELP \
	"      --member ACCOUNT      an account: DOMAIN\\name or DOMAIN/name (repeat for more)\n" \
	"      --member-alias ALIAS  a mailbox, custom recipient or list, by alias\n" \
	"      --member-dn DN        any entry, by DN\n"
#define DN_HELP "      --dn DN               the list, when several share ALIAS\n"

/* The members named on the command line, as DNs (owned). */
struct members {
	char *dn[MEMBERS_MAX];
	const char *typed[MEMBERS_MAX];
	size_t count;
};

static void members_free(struct members *m)
{
	size_t i;

	for (i = 0; i < m->count; i++)
		free(m->dn[i]);
	m->count = 0;
}

/* The one mailbox, custom recipient or list that has alias. */
static int find_recipient_alias(struct xi_admin *a, const char *alias, struct xi_entry *out,
				struct xi_error *err)
{
	static const char *const no_attrs[] = { "1.1", NULL };
	char esc[3 * XI_ADMIN_NAME_MAX + 1], filter[3 * XI_ADMIN_NAME_MAX + 256];
	struct xi_entries es;

	memset(out, 0, sizeof(*out));
	if (xi_admin_filter_value(alias, esc, sizeof(esc), err) < 0 ||
	    xi_admin_fmt(filter, sizeof(filter), err, "the search filter",
			 "(&(xidentAlias=%s)(|(objectClass=xidentMailbox)"
			 "(objectClass=xidentCustomRecipient)(objectClass=xidentDistributionList)))",
			 esc) < 0 ||
	    xi_admin_search(a, NULL, filter, no_attrs, &es, err) < 0)
		return -1;
	if (es.count != 1) {
		if (es.count == 0)
			xi_error_set(err, XI_ERR_NOTFOUND,
				     "no mailbox, custom recipient or list with alias %s", alias);
		else
			xi_error_set(err, XI_ERR_INVALID, "alias %s is ambiguous (%s, %s%s): "
				     "use --member-dn", alias, es.items[0].dn, es.items[1].dn,
				     es.count > 2 ? ", ..." : "");
		xi_entries_free(&es);
		return -1;
	}
	xi_entries_take(&es, 0, out);
	xi_entries_free(&es);
	return 0;
}

static int find_dn(struct xi_admin *a, const char *dn, struct xi_entry *out,
		   struct xi_error *err)
{
	static const char *const no_attrs[] = { "1.1", NULL };
	struct xi_entries es;

	memset(out, 0, sizeof(*out));
	if (xi_admin_search(a, dn, "(objectClass=*)", no_attrs, &es, err) < 0)
		return -1;
	if (es.count != 1) {
		xi_entries_free(&es);
		return xi_error_set(err, XI_ERR_NOTFOUND, "no entry %s", dn);
	}
	xi_entries_take(&es, 0, out);
	xi_entries_free(&es);
	return 0;
}

/* Looks every member option up and adds it to m.  A member typed twice
 * counts once.  On failure m is emptied. */
static int resolve_members(struct xi_admin *a, const struct xi_admin_args *args,
			   struct members *m, struct xi_error *err)
{
	static const int kinds[] = { O_MEMBER, O_MEMBER_ALIAS, O_MEMBER_DN };
	size_t k, i, j;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (i = 0; i < args->nvalues[kinds[k]]; i++) {
			const char *typed = args->values[kinds[k]][i];
			struct xi_entry e;
			bool seen = false;
			int rc;

			if (kinds[k] == O_MEMBER)
				rc = xi_admin_find_account_text(a, typed, &e, err);
			else if (kinds[k] == O_MEMBER_ALIAS)
				rc = find_recipient_alias(a, typed, &e, err);
			else
				rc = find_dn(a, typed, &e, err);
			if (rc < 0) {
				members_free(m);
				return -1;
			}
			for (j = 0; j < m->count; j++)
				seen = seen || strcasecmp(m->dn[j], e.dn) == 0;
			if (!seen) {
				m->dn[m->count] = e.dn;
				m->typed[m->count++] = typed;
				e.dn = NULL;
			}
			xi_entry_free(&e);
		}
	}
	return 0;
}

static bool has_member_options(const struct xi_admin_args *args)
{
	return args->nvalues[O_MEMBER] + args->nvalues[O_MEMBER_ALIAS] +
	       args->nvalues[O_MEMBER_DN] > 0;
}

/* The list's current member value equal to dn, or NULL. */
static const char *current_member(const struct xi_entry *list, const char *dn)
{
	const struct xi_attr *v = xi_entry_attr(list, "member");
	size_t i;

	for (i = 0; v != NULL && i < v->count; i++) {
		if (strcasecmp(v->values[i], dn) == 0)
			return v->values[i];
	}
	return NULL;
}

#define LIST_CLASS "xidentDistributionList"
#define LIST_KIND "distribution list"

static int find_list(struct xi_admin *a, const char *alias, const char *dn,
		     struct xi_entry *out, struct xi_error *err)
{
	return xi_admin_find_alias(a, LIST_CLASS, LIST_KIND, alias, dn, out, err);
}

/* ------------------------------------------------------------------- add */

static const char add_usage[] =
	"usage: xident list add ALIAS --member ACCOUNT... [OPTIONS]\n"
	"Adds a distribution list: mail to ALIAS goes to its members.  It has no\n"
	"mailbox, so nobody can log on to it.  At least one member is needed.\n"
	"Refuses (exit 4) when any mailbox or recipient already has ALIAS.\n"
	MEMBER_HELP
	"      --display-name TEXT   display name\n"
	"      --mail ADDR           a mail address of the list (repeat for more)\n"
	"      --parent DN           where to add it (default ou=recipients,BASE)\n"
	XI_ADMIN_COMMON_HELP;

static int list_add(const char *prog, int argc, char **argv)
{
	char esc[3 * XI_ADMIN_NAME_MAX + 1], parent[XI_ADMIN_DN_MAX], dn[XI_ADMIN_DN_MAX];
	struct xi_admin_args args;
	struct members m = { .count = 0 };
	struct xi_admin a;
	struct xi_change ch;
	struct xi_error err;
	const char *alias;
	size_t i;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS,
			    MEMBER_OPTS | XI_BIT(O_DISPLAY_NAME) | XI_BIT(O_MAIL) | XI_BIT(O_PARENT),
			    1, 1, add_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	alias = args.pos[0];
	if (!has_member_options(&args)) {
		fprintf(stderr, "%s: a list needs a member: give --member, --member-alias or "
			"--member-dn\n%s", prog, add_usage);
		return XI_EXIT_USAGE;
	}
	if (xi_admin_check_name("alias", alias, &err) < 0 ||
	    xi_admin_dn_value(alias, esc, sizeof(esc), &err) < 0) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_alias_free(&a, alias, &err) < 0 ||
	    resolve_members(&a, &args, &m, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	if (args.value[O_PARENT] != NULL)
		rc = xi_admin_fmt(parent, sizeof(parent), &err, "--parent", "%s",
				  args.value[O_PARENT]);
	else
		rc = xi_admin_fmt(parent, sizeof(parent), &err, "the DN", "ou=recipients,%s",
				  a.base_dn) < 0 ||
		     xi_admin_ensure_ou(&a, parent, "recipients", &err) < 0 ? -1 : 0;
	if (rc < 0 || xi_admin_fmt(dn, sizeof(dn), &err, "the DN", "cn=%s,%s", esc, parent) < 0) {
		members_free(&m);
		return xi_admin_fail_close(&a, prog, &err);
	}
	xi_change_init(&ch, XI_CHANGE_ADD, dn);
	xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "groupOfNames");
	xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "xidentDistributionList");
	xi_change_value(&ch, LDAP_MOD_ADD, "cn", alias);
	xi_change_value(&ch, LDAP_MOD_ADD, "xidentAlias", alias);
	if (args.value[O_DISPLAY_NAME] != NULL)
		xi_change_value(&ch, LDAP_MOD_ADD, "displayName", args.value[O_DISPLAY_NAME]);
	for (i = 0; i < args.nvalues[O_MAIL]; i++)
		xi_change_value(&ch, LDAP_MOD_ADD, "mail", args.values[O_MAIL][i]);
	for (i = 0; i < m.count; i++)
		xi_change_value(&ch, LDAP_MOD_ADD, "member", m.dn[i]);
	rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	if (rc == 0 && !a.dry_run)
		printf("added distribution list %s with %zu member%s (%s)\n", alias, m.count,
		       m.count == 1 ? "" : "s", dn);
	members_free(&m);
	if (rc < 0)
		return xi_admin_fail_close(&a, prog, &err);
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

/* ------------------------------------------------------------------ show */

static const char show_usage[] =
	"usage: xident list show ALIAS [--dn DN]\n"
	"Prints the list: display name, mail addresses and members (accounts as\n"
	"DOMAIN\\name, other entries by DN).\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static int list_show(const char *prog, int argc, char **argv)
{
	static const char *const shown[][2] = {
		{ "xidentAlias", "alias:" }, { "displayName", "display name:" },
		{ "mail", "mail:" },
	};
	char label[XI_ADMIN_DN_MAX];
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_error err;
	const struct xi_attr *v;
	size_t i, j;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DN), 1, 1, show_usage,
			    &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    find_list(&a, args.pos[0], args.value[O_DN], &e, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	printf("%-16s%s\n", "dn:", e.dn);
	for (i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		v = xi_entry_attr(&e, shown[i][0]);
		for (j = 0; v != NULL && j < v->count; j++)
			printf("%-16s%s\n", shown[i][1], v->values[j]);
	}
	v = xi_entry_attr(&e, "member");
	for (j = 0; v != NULL && j < v->count; j++) {
		xi_admin_account_label(&a, v->values[j], label, sizeof(label));
		printf("%-16s%s\n", "member:", label);
	}
	printf("%-16s%s\n", "mailbox:", "none (distribution list)");
	xi_entry_free(&e);
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

/* ------------------------------------------- add-members / remove-members */

static const char add_members_usage[] =
	"usage: xident list add-members ALIAS --member ACCOUNT... [--dn DN]\n"
	"Adds members to the list; members it already has are left as they are.\n"
	MEMBER_HELP
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static const char remove_members_usage[] =
	"usage: xident list remove-members ALIAS --member ACCOUNT... [--dn DN]\n"
	"Removes members from the list.  A name that is not a member is an error\n"
	"(exit 3) and nothing changes.  The last member cannot be removed (a list\n"
	"needs one); delete the list instead.  --member-dn removes an entry that\n"
	"no longer exists.\n"
	MEMBER_HELP
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static int change_members(const char *prog, int argc, char **argv, bool add)
{
	struct xi_admin_args args;
	struct members m = { .count = 0 };
	struct xi_admin a;
	struct xi_entry list;
	struct xi_change ch;
	struct xi_error err;
	const struct xi_attr *v;
	size_t i, changed = 0;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, MEMBER_OPTS | XI_BIT(O_DN), 1, 1,
			    add ? add_members_usage : remove_members_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (!has_member_options(&args)) {
		fprintf(stderr, "%s: give --member, --member-alias or --member-dn\n%s", prog,
			add ? add_members_usage : remove_members_usage);
		return XI_EXIT_USAGE;
	}
	memset(&list, 0, sizeof(list));
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    find_list(&a, args.pos[0], args.value[O_DN], &list, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	if (!add) {
		/* A DN being removed need not resolve: its entry may be gone. */
		for (i = 0; i < args.nvalues[O_MEMBER_DN] && rc == 0; i++) {
			m.dn[m.count] = strdup(args.values[O_MEMBER_DN][i]);
			if (m.dn[m.count] == NULL)
				rc = xi_error_set(&err, XI_ERR_NOMEM, "out of memory");
			else
				m.typed[m.count++] = args.values[O_MEMBER_DN][i];
		}
		args.nvalues[O_MEMBER_DN] = 0;
	}
	if (rc < 0 || resolve_members(&a, &args, &m, &err) < 0) {
		members_free(&m);
		xi_entry_free(&list);
		return xi_admin_fail_close(&a, prog, &err);
	}
	xi_change_init(&ch, XI_CHANGE_MODIFY, list.dn);
	for (i = 0; i < m.count; i++) {
		const char *cur = current_member(&list, m.dn[i]);

		if (add && strcasecmp(m.dn[i], list.dn) == 0) {
			xi_error_set(&err, XI_ERR_INVALID, "a list cannot be its own member");
			rc = -1;
			break;
		}
		if (add && cur != NULL) {
			printf("%s is already a member of %s\n", m.typed[i], args.pos[0]);
			continue;
		}
		if (!add && cur == NULL) {
			xi_error_set(&err, XI_ERR_NOTFOUND, "%s is not a member of %s", m.typed[i],
				     args.pos[0]);
			rc = -1;
			break;
		}
		xi_change_value(&ch, add ? LDAP_MOD_ADD : LDAP_MOD_DELETE, "member",
				add ? m.dn[i] : cur);
		changed++;
	}
	v = xi_entry_attr(&list, "member");
	if (rc == 0 && !add && v != NULL && changed >= v->count) {
		xi_error_set(&err, XI_ERR_INVALID, "that would leave %s without members; a list "
			     "needs one (delete it with: xident list delete %s)", args.pos[0],
			     args.pos[0]);
		rc = -1;
	}
	if (rc == 0 && changed > 0)
		rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	members_free(&m);
	xi_entry_free(&list);
	if (rc < 0)
		return xi_admin_fail_close(&a, prog, &err);
	if (!a.dry_run && changed > 0)
		printf("%s %zu member%s %s %s\n", add ? "added" : "removed", changed,
		       changed == 1 ? "" : "s", add ? "to" : "from", args.pos[0]);
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

static int list_add_members(const char *prog, int argc, char **argv)
{
	return change_members(prog, argc, argv, true);
}

static int list_remove_members(const char *prog, int argc, char **argv)
{
	return change_members(prog, argc, argv, false);
}

/* ---------------------------------------------------------------- delete */

static const char delete_usage[] =
	"usage: xident list delete ALIAS [--dn DN]\n"
	"Deletes the distribution list (its members are not touched).\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static int list_delete(const char *prog, int argc, char **argv)
{
	return xi_admin_delete_alias(prog, argc, argv, opts, NOPTS, O_DN, delete_usage,
				     LIST_CLASS, LIST_KIND);
}

static const struct xi_admin_verb verbs[] = {
	{ "add", "add a distribution list with its members", list_add },
	{ "show", "show a distribution list and its members", list_show },
	{ "add-members", "add members to a list", list_add_members },
	{ "remove-members", "remove members from a list", list_remove_members },
	{ "delete", "delete a distribution list", list_delete },
	{ NULL, NULL, NULL }
};

int cmd_list(int argc, char **argv)
{
	return xi_admin_dispatch("list", verbs, argc, argv);
}
