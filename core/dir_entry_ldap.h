/*
 * dir_entry_ldap: reading LDAP entries into struct xi_dir_entry.
 *
 *   xi_dir_entry_from_ldap   every field the map names, bounded; values that
 *                            do not fit are dropped and named in e->problem;
 *                            e->matched from query q (NULL: 0)
 *   xi_dir_entry_texts       up to XI_DIR_MULTI_MAX text values of one
 *                            attribute (mail addresses, protocol values)
 *   xi_dir_dn_key            the form DNs are linked and compared in
 */
#ifndef XI_DIR_ENTRY_LDAP_H
#define XI_DIR_ENTRY_LDAP_H

#include <stdbool.h>
#include <stddef.h>

#include <ldap.h>

#include "directory.h"

#define XI_DIR_MULTI_MAX 16

void xi_dir_entry_from_ldap(LDAP *ld, LDAPMessage *msg, const struct xi_attrmap *m,
			    const struct xi_dir_query *q, struct xi_dir_entry *e, bool want_nt,
			    bool want_pw);

/* *dropped (may be NULL) tells whether any value present was left out (too
 * long, control bytes, or past the XI_DIR_MULTI_MAX-th). */
size_t xi_dir_entry_texts(LDAP *ld, LDAPMessage *msg, struct xi_dir_entry *e, const char *attr,
			  char buf[XI_DIR_MULTI_MAX][XI_NAME_MAX], const char *ptrs[XI_DIR_MULTI_MAX],
			  bool *dropped);

/* Whether the entry lists objectClass cls (ASCII case-insensitive). */
bool xi_dir_entry_has_class(LDAP *ld, LDAPMessage *msg, const char *cls);

/* LDAPv3 string form of the parsed DN, ASCII lower case; "" when dn is not
 * a DN or the key does not fit. */
void xi_dir_dn_key(const char *dn, char *out, size_t size);

#endif
