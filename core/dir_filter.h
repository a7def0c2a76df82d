/*
 * dir_filter: the LDAP search filters of directory_ldap, built apart so that
 * their shape and escaping are unit-tested without a server.
 *
 * A find is one filter that ORs the parts of the query:
 *   account  (&(objectClass=ACCOUNT)(NAME=v)(|(DOMAIN=d1)(DOMAIN=d2)...))
 *   upn      (&(objectClass=ACCOUNT)(UPN=v))
 *   alias    (&(|(objectClass=MAILBOX)(objectClass=CUSTOM)(objectClass=DL))(ALIAS=v))
 *   mail     (&(|(...recipient classes...))(MAIL=v))
 *   owner    (&(objectClass=MAILBOX)(PRIMARY=dn))   SID maps: (PRIMARY=\xx\xx...)
 * Every value is RFC 4515-escaped; a query with no part gets a filter that
 * matches nothing (the same work must still be done: equal cost).
 */
#ifndef XI_DIR_FILTER_H
#define XI_DIR_FILTER_H

#include <stddef.h>

#include "attrmap.h"
#include "directory.h"
#include "xi_error.h"

#define XI_DIR_FILTER_MAX 4096

/* The filter of a find into out.  Returns its length, or -1 with err
 * (XI_ERR_INVALID) when it would not fit or a SID key is malformed. */
int xi_dir_ldap_filter(const struct xi_attrmap *map, const struct xi_dir_query *q, char *out,
		       size_t size, struct xi_error *err);

/* (objectClass=CLASS), escaped. */
int xi_dir_ldap_class_filter(const char *cls, char *out, size_t size, struct xi_error *err);

#endif
