/*
 * xident recipient: custom recipients (an alias and a target address, no
 * mailbox; Q173776).  Logons to one fail with "not a mailbox on this
 * server", never "bad password".
 *
 *   add ALIAS --target SMTP:user@elsewhere.example
 *   show ALIAS
 *   delete ALIAS
 */
#include "xident-config.h"

#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "commands.h"

int cmd_recipient(int argc, char **argv);

enum { O_TARGET, O_DISPLAY_NAME, O_MAIL, O_PARENT, O_DN };

static const struct xi_admin_opt opts[] = {
	[O_TARGET] = { "target", true, false },
	[O_DISPLAY_NAME] = { "display-name", true, false },
	[O_MAIL] = { "mail", true, true },
	[O_PARENT] = { "parent", true, false },
	[O_DN] = { "dn", true, false },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

#define TARGET_MAX 1024

#define RECIPIENT_CLASS "xidentCustomRecipient"
#define RECIPIENT_KIND "custom recipient"

static int find_recipient(struct xi_admin *a, const char *alias, const char *dn,
			  struct xi_entry *out, struct xi_error *err)
{
	return xi_admin_find_alias(a, RECIPIENT_CLASS, RECIPIENT_KIND, alias, dn, out, err);
}

#define DN_HELP "      --dn DN               the recipient, when several share ALIAS\n"

/* "SMTP:addr" as given, or "SMTP:" + a bare address. */
static int make_target(const char *in, char *out, size_t size, struct xi_error *err)
{
	const char *colon = strchr(in, ':');
	size_t i, len = strlen(in);

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= 0x20 || c >= 0x7f)
			return xi_error_set(err, XI_ERR_INVALID,
					    "the target address must be printable ASCII without "
					    "spaces (TYPE:address, e.g. SMTP:user@example.com)");
	}
	if (len == 0 || (colon != NULL && (colon == in || colon[1] == '\0')))
		return xi_error_set(err, XI_ERR_INVALID,
				    "the target address must be TYPE:address (SMTP:user@example.com)");
	if ((size_t)snprintf(out, size, "%s%s", colon != NULL ? "" : "SMTP:", in) >= size)
		return xi_error_set(err, XI_ERR_INVALID, "the target address is too long");
	return 0;
}

static const char add_usage[] =
	"usage: xident recipient add ALIAS --target ADDRESS [OPTIONS]\n"
	"Adds a custom recipient: mail to ALIAS goes to ADDRESS (SMTP:user@host; a bare\n"
	"address gets SMTP:).  It has no mailbox, so nobody can log on to it.  Refuses\n"
	"(exit 4) when any mailbox or recipient already has ALIAS.\n"
	"      --target ADDRESS      where mail goes (required)\n"
	"      --display-name TEXT   display name\n"
	"      --mail ADDR           a mail address of ours (repeat for more)\n"
	"      --parent DN           where to add it (default ou=recipients,BASE)\n"
	XI_ADMIN_COMMON_HELP;

static int recipient_add(const char *prog, int argc, char **argv)
{
	char target[TARGET_MAX + 8], esc[3 * XI_ADMIN_NAME_MAX + 1];
	char parent[XI_ADMIN_DN_MAX], dn[XI_ADMIN_DN_MAX];
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_change ch;
	struct xi_error err;
	const char *alias;
	size_t i;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS,
			    XI_BIT(O_TARGET) | XI_BIT(O_DISPLAY_NAME) | XI_BIT(O_MAIL) |
			    XI_BIT(O_PARENT), 1, 1, add_usage, &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	alias = args.pos[0];
	if (args.value[O_TARGET] == NULL) {
		fprintf(stderr, "%s: --target ADDRESS is required\n%s", prog, add_usage);
		return XI_EXIT_USAGE;
	}
	if (xi_admin_check_name("alias", alias, &err) < 0 ||
	    make_target(args.value[O_TARGET], target, sizeof(target), &err) < 0 ||
	    xi_admin_dn_value(alias, esc, sizeof(esc), &err) < 0) {
		xi_admin_fail(NULL, prog, &err);
		return XI_EXIT_USAGE;
	}
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    xi_admin_alias_free(&a, alias, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	if (args.value[O_PARENT] != NULL) {
		if (xi_admin_fmt(parent, sizeof(parent), &err, "--parent", "%s",
				 args.value[O_PARENT]) < 0)
			return xi_admin_fail_close(&a, prog, &err);
	} else if (xi_admin_fmt(parent, sizeof(parent), &err, "the DN", "ou=recipients,%s",
				a.base_dn) < 0 ||
		   xi_admin_ensure_ou(&a, parent, "recipients", &err) < 0) {
		return xi_admin_fail_close(&a, prog, &err);
	}
	if (xi_admin_fmt(dn, sizeof(dn), &err, "the DN", "cn=%s,%s", esc, parent) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	xi_change_init(&ch, XI_CHANGE_ADD, dn);
	xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "inetOrgPerson");
	xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "xidentCustomRecipient");
	xi_change_value(&ch, LDAP_MOD_ADD, "cn", alias);
	xi_change_value(&ch, LDAP_MOD_ADD, "sn", alias);
	if (args.value[O_DISPLAY_NAME] != NULL)
		xi_change_value(&ch, LDAP_MOD_ADD, "displayName", args.value[O_DISPLAY_NAME]);
	xi_change_value(&ch, LDAP_MOD_ADD, "xidentAlias", alias);
	xi_change_value(&ch, LDAP_MOD_ADD, "xidentTargetAddress", target);
	for (i = 0; i < args.nvalues[O_MAIL]; i++)
		xi_change_value(&ch, LDAP_MOD_ADD, "mail", args.values[O_MAIL][i]);
	rc = xi_admin_commit(&a, &ch, &err);
	xi_change_free(&ch);
	if (rc < 0)
		return xi_admin_fail_close(&a, prog, &err);
	if (!a.dry_run)
		printf("added custom recipient %s -> %s (%s)\n", alias, target, dn);
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

static const char show_usage[] =
	"usage: xident recipient show ALIAS [--dn DN]\n"
	"Prints the custom recipient: target address, display name, mail addresses.\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static int recipient_show(const char *prog, int argc, char **argv)
{
	static const char *const shown[][2] = {
		{ "xidentAlias", "alias:" }, { "xidentTargetAddress", "target:" },
		{ "displayName", "display name:" }, { "mail", "mail:" },
	};
	struct xi_admin_args args;
	struct xi_admin a;
	struct xi_entry e;
	struct xi_error err;
	size_t i, j;
	int rc;

	rc = xi_admin_parse(prog, argc, argv, opts, NOPTS, XI_BIT(O_DN), 1, 1, show_usage,
			    &args);
	if (rc != 0)
		return rc < 0 ? XI_EXIT_OK : rc;
	if (xi_admin_open(&a, prog, &args.common, &err) < 0 ||
	    find_recipient(&a, args.pos[0], args.value[O_DN], &e, &err) < 0)
		return xi_admin_fail_close(&a, prog, &err);
	printf("%-16s%s\n", "dn:", e.dn);
	for (i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		const struct xi_attr *v = xi_entry_attr(&e, shown[i][0]);

		for (j = 0; v != NULL && j < v->count; j++)
			printf("%-16s%s\n", shown[i][1], v->values[j]);
	}
	printf("%-16s%s\n", "mailbox:", "none (custom recipient)");
	xi_entry_free(&e);
	xi_admin_close(&a);
	return XI_EXIT_OK;
}

static const char delete_usage[] =
	"usage: xident recipient delete ALIAS [--dn DN]\n"
	"Deletes the custom recipient.\n"
	DN_HELP
	XI_ADMIN_COMMON_HELP;

static int recipient_delete(const char *prog, int argc, char **argv)
{
	return xi_admin_delete_alias(prog, argc, argv, opts, NOPTS, O_DN, delete_usage,
				     RECIPIENT_CLASS, RECIPIENT_KIND);
}

static const struct xi_admin_verb verbs[] = {
	{ "add", "add a custom recipient (alias -> target address)", recipient_add },
	{ "show", "show a custom recipient", recipient_show },
	{ "delete", "delete a custom recipient", recipient_delete },
	{ NULL, NULL, NULL }
};

int cmd_recipient(int argc, char **argv)
{
	return xi_admin_dispatch("recipient", verbs, argc, argv);
}
