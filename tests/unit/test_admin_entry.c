/*
 * The CLI's change records: grouping of values per attribute and operation,
 * their LDIF form for --dry-run (RFC 2849: base64 exactly when a value is not
 * a SAFE-STRING), and their libldap form.
 */
#include "xident-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_entry.h"
#include "tap.h"

static char *ldif_of(const struct xi_change *ch)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	xi_change_print_ldif(ch, f);
	fclose(f);
	return text;
}

static char *line_of(const char *attr, const char *value)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	xi_ldif_line(f, attr, value);
	fclose(f);
	return text;
}

static void check_line(const char *value, const char *want)
{
	char *got = line_of("a", value);

	/* The expected line names the case; a value may hold a newline. */
	tap_is_str(got, want, "LDIF line %.*s", (int)strcspn(want, "\n"), want);
	free(got);
}

int main(void)
{
	struct xi_change ch;
	LDAPMod **mods;
	char *text;

	check_line("plain", "a: plain\n");
	check_line("", "a: \n");
	check_line("müller", "a:: bcO8bGxlcg==\n");
	check_line(" lead", "a:: IGxlYWQ=\n");
	check_line("trail ", "a:: dHJhaWwg\n");
	check_line(":colon", "a:: OmNvbG9u\n");
	check_line("<lt", "a:: PGx0\n");
	check_line("two\nlines", "a:: dHdvCmxpbmVz\n");
	check_line("mid:dle<ok>", "a: mid:dle<ok>\n");

	xi_change_init(&ch, XI_CHANGE_ADD, "cn=a\\2Cb,dc=example,dc=com");
	xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "inetOrgPerson");
	xi_change_value(&ch, LDAP_MOD_ADD, "cn", "a,b");
	xi_change_value(&ch, LDAP_MOD_ADD, "objectClass", "xidentMailbox");
	tap_is_int(ch.count, 2, "values of one attribute and op share one mod");
	text = ldif_of(&ch);
	tap_is_str(text, "dn: cn=a\\2Cb,dc=example,dc=com\nchangetype: add\n"
		   "objectClass: inetOrgPerson\nobjectClass: xidentMailbox\ncn: a,b\n\n",
		   "add record groups values by attribute");
	free(text);
	mods = xi_change_ldapmods(&ch);
	tap_ok(mods != NULL && mods[0] != NULL && mods[1] != NULL && mods[2] == NULL &&
	       strcmp(mods[0]->mod_type, "objectClass") == 0 &&
	       strcmp(mods[0]->mod_values[1], "xidentMailbox") == 0 &&
	       mods[0]->mod_values[2] == NULL, "libldap mods: NULL-terminated, values in order");
	xi_change_ldapmods_free(mods);
	xi_change_free(&ch);

	xi_change_init(&ch, XI_CHANGE_MODIFY, "uid=jörg,dc=example,dc=com");
	xi_change_value(&ch, LDAP_MOD_REPLACE, "xidentNTHash", "a4f49c406510bdcab6824ee7c30fd852");
	xi_change_value(&ch, LDAP_MOD_DELETE, "xidentAccountDisabled", NULL);
	xi_change_value(&ch, LDAP_MOD_ADD, "xidentDelegate", "uid=x,dc=example,dc=com");
	text = ldif_of(&ch);
	tap_is_str(text, "dn:: dWlkPWrDtnJnLGRjPWV4YW1wbGUsZGM9Y29t\nchangetype: modify\n"
		   "replace: xidentNTHash\nxidentNTHash: a4f49c406510bdcab6824ee7c30fd852\n-\n"
		   "delete: xidentAccountDisabled\n-\n"
		   "add: xidentDelegate\nxidentDelegate: uid=x,dc=example,dc=com\n-\n\n",
		   "modify record: replace, delete all values, add; base64 DN");
	free(text);
	mods = xi_change_ldapmods(&ch);
	tap_ok(mods != NULL && mods[1]->mod_op == LDAP_MOD_DELETE && mods[1]->mod_values == NULL,
	       "delete of every value has no value list");
	xi_change_ldapmods_free(mods);
	xi_change_free(&ch);

	xi_change_init(&ch, XI_CHANGE_DELETE, "cn=x,dc=example,dc=com");
	text = ldif_of(&ch);
	tap_is_str(text, "dn: cn=x,dc=example,dc=com\nchangetype: delete\n\n", "delete record");
	free(text);
	mods = xi_change_ldapmods(&ch);
	tap_ok(mods != NULL && mods[0] == NULL, "no mods for a delete");
	xi_change_ldapmods_free(mods);
	xi_change_free(&ch);
	return tap_done();
}
