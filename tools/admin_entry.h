/*
 * admin_entry: directory entries as the CLI reads them (owned copies of a
 * search result), and changes as it writes them (one add, modify or delete
 * of one entry), which are either sent to the server or printed as LDIF
 * (RFC 2849) for --dry-run.  Values are text; those that are not an LDIF
 * SAFE-STRING (non-ASCII, leading space, ...) are printed in base64.
 */
#ifndef XI_ADMIN_ENTRY_H
#define XI_ADMIN_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <ldap.h>

#include "xi_error.h"

struct xi_attr {
	char *name;
	char **values;     /* NULL-terminated */
	size_t count;
};

struct xi_entry {
	char *dn;
	struct xi_attr *attrs;
	size_t count;
};

struct xi_entries {
	struct xi_entry *items;
	size_t count;
};

/* Copies every entry of a search result. */
int xi_entries_from_result(LDAP *ld, LDAPMessage *res, struct xi_entries *out,
			   struct xi_error *err);
void xi_entries_free(struct xi_entries *es);
void xi_entry_free(struct xi_entry *e);
/* Moves item i out of es into out (es keeps an empty slot). */
void xi_entries_take(struct xi_entries *es, size_t i, struct xi_entry *out);

/* The attribute (case-insensitive name) or NULL; its first value or NULL. */
const struct xi_attr *xi_entry_attr(const struct xi_entry *e, const char *name);
const char *xi_entry_value(const struct xi_entry *e, const char *name);
/* Whether the attribute holds value (ASCII case-insensitive for
 * objectClass names and booleans; exact otherwise). */
bool xi_entry_has_value(const struct xi_entry *e, const char *name, const char *value,
			bool ignore_case);

enum xi_change_kind { XI_CHANGE_ADD, XI_CHANGE_MODIFY, XI_CHANGE_DELETE };

struct xi_change_mod {
	int op;            /* LDAP_MOD_ADD / LDAP_MOD_REPLACE / LDAP_MOD_DELETE */
	char *attr;
	char **values;     /* NULL-terminated; empty for "delete all values" */
	size_t count;
};

struct xi_change {
	enum xi_change_kind kind;
	char *dn;
	struct xi_change_mod *mods;
	size_t count;
	bool failed;       /* an allocation failed while building */
};

void xi_change_init(struct xi_change *ch, enum xi_change_kind kind, const char *dn);
/* Adds one value to the mod (op, attr), creating it at the end when needed.
 * value NULL creates the mod without values (delete or replace all). */
void xi_change_value(struct xi_change *ch, int op, const char *attr, const char *value);
void xi_change_free(struct xi_change *ch);

/* The change's modifications as libldap wants them (pointing into ch):
 * NULL when out of memory.  Free with xi_change_ldapmods_free. */
LDAPMod **xi_change_ldapmods(const struct xi_change *ch);
void xi_change_ldapmods_free(LDAPMod **mods);
/* Prints the change as an LDIF change record followed by a blank line. */
void xi_change_print_ldif(const struct xi_change *ch, FILE *out);

/* Prints "attr: value" in LDIF form (base64 when needed). */
void xi_ldif_line(FILE *out, const char *attr, const char *value);

#endif
