/*
 * attrmap: how the directory spells accounts, mailboxes and custom
 * recipients (config key `schema`).  Resolution never names an LDAP
 * attribute itself; it asks the map.  Three maps are built in, immutable:
 *
 *   xident      this project's schema (ldap-schema/README.md)
 *   ad          Active Directory / Samba 4 with Exchange attributes
 *   exchange55  an Exchange 5.5 directory read over LDAP
 *
 * Only the xident map is exercised end to end against slapd; the other two
 * are documented mappings with unit tests of their value interpretations
 * (ldap-schema/attrmap-*.map documents the same tables for administrators).
 */
#ifndef XI_ATTRMAP_H
#define XI_ATTRMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "resolver.h"

enum xi_attrmap_id { XI_ATTRMAP_XIDENT = 0, XI_ATTRMAP_AD, XI_ATTRMAP_EXCHANGE55 };

/* How "account disabled" is stored. */
enum xi_disabled_kind {
	XI_DISABLED_NONE = 0,     /* not stored: never disabled */
	XI_DISABLED_BOOLEAN,      /* Boolean TRUE = disabled */
	XI_DISABLED_UAC           /* userAccountControl, bit 0x2 ACCOUNTDISABLE */
};

/* How a mailbox names its primary account and delegates. */
enum xi_link_kind {
	XI_LINK_NONE = 0,         /* not stored: a mailbox is owned by the account on its own entry */
	XI_LINK_DN,               /* the account's DN */
	XI_LINK_SID               /* the account's objectSid (binary): msExchMasterAccountSid, Assoc-NT-Account */
};

/* How the home server is spelled. */
enum xi_home_kind {
	XI_HOME_NAME = 0,         /* the server name itself */
	XI_HOME_LEGACY_DN,        /* X.500 path "/o=Org/ou=Site/cn=Configuration/cn=Servers/cn=NAME" */
	XI_HOME_MDB_DN            /* LDAP DN of the store "cn=Microsoft Private MDB,cn=NAME,cn=Servers,..." */
};

/* How per-mailbox protocol permissions are stored. */
enum xi_protocols_kind {
	XI_PROTOCOLS_LIST = 0,    /* one value per allowed protocol ("imap", "pop3"); absent = all */
	XI_PROTOCOLS_EXCHANGE     /* Protocol-Settings: "POP3§1§...", second field 1/0 = enabled; absent = all */
};

/* How the quota is stored. */
enum xi_quota_kind {
	XI_QUOTA_RULE = 0,        /* a quota rule value as it is ("1G") */
	XI_QUOTA_KIB              /* a number of KiB (mDBStorageQuota) */
};

struct xi_attrmap {
	enum xi_attrmap_id id;
	const char *name;              /* config value: "xident", "ad", "exchange55" */

	/* objectClass values that make an entry an account, a mailbox, a
	 * custom recipient, a distribution list (NULL: that kind does not
	 * exist in this directory).  An entry may be several at once. */
	const char *account_class;
	const char *mailbox_class;
	const char *custom_class;
	const char *dl_class;
	/* When set, a mailbox_class entry is a mailbox only if it also has this
	 * attribute (AD: a user with msExchHomeServerName has a mailbox, a
	 * mail-enabled user without one is a custom recipient). */
	const char *mailbox_marker;
	/* The schema allows the account attributes (name, UPN) only on
	 * account_class entries and the alias and primary account only on the
	 * recipient classes, so a search by them need not also test
	 * objectClass: that term makes the server read the largest index list
	 * of the directory (measured with slapd, tests/bench/search-cost: it
	 * was two thirds of a logon's search).  Entries are still classified by
	 * the objectClass values they return. */
	bool names_imply_class;

	/* account */
	const char *domain;            /* NULL: not stored; accounts belong to default_domains */
	const char *account_name;
	const char *upn;
	const char *account_sid;       /* for XI_LINK_SID maps */
	const char *nt_hash;           /* NULL: NTLM impossible with this directory */
	const char *password;          /* userPassword (hash mode) */
	const char *disabled;
	enum xi_disabled_kind disabled_kind;

	/* mailbox */
	const char *alias;
	const char *primary_account;
	const char *delegate;
	enum xi_link_kind link_kind;
	const char *home_server;
	enum xi_home_kind home_kind;
	const char *protocols;
	enum xi_protocols_kind protocols_kind;
	const char *logon_methods;     /* NULL: every method allowed */
	const char *target_address;
	const char *mail;
	const char *display_name;
	const char *mail_home;
	const char *mail_location;
	const char *mail_uid;
	const char *mail_gid;
	const char *mail_quota;
	enum xi_quota_kind quota_kind;
};

const struct xi_attrmap *xi_attrmap_get(enum xi_attrmap_id id);
/* NULL for an unknown name. */
const struct xi_attrmap *xi_attrmap_by_name(const char *name);

/* Up to max attribute names a lookup asks for (NULL-terminated in out,
 * which must hold max + 1).  The NT hash and password attributes only when
 * asked for: they are never fetched without a reason.  Returns the count. */
size_t xi_attrmap_attributes(const struct xi_attrmap *map, bool want_nt_hash, bool want_password,
			     const char **out, size_t max);

/* Whether a value of map->disabled means disabled. */
bool xi_attrmap_value_disabled(const struct xi_attrmap *map, const char *value);

/* Protocol bits, as (1 << enum xi_protocol). */
#define XI_PROTO_BIT(p) (1u << (unsigned)(p))
#define XI_PROTO_ALL (XI_PROTO_BIT(XI_PROTO_IMAP) | XI_PROTO_BIT(XI_PROTO_POP3) | \
		      XI_PROTO_BIT(XI_PROTO_LMTP) | XI_PROTO_BIT(XI_PROTO_OTHER))
/* Protocols one value of map->protocols enables (LIST) or, for EXCHANGE,
 * the protocol it is about in *about_r and whether it is on. */
unsigned xi_attrmap_protocols_value(const struct xi_attrmap *map, const char *value,
				    unsigned *about_r);
/* Combines all values: the bits of protocols allowed (XI_PROTO_ALL when none). */
unsigned xi_attrmap_protocols(const struct xi_attrmap *map, const char *const *values, size_t n);

/* Logon method bits, as (1 << enum xi_auth_method); absent = all. */
#define XI_METHOD_BIT(m) (1u << (unsigned)(m))
#define XI_METHOD_ALL (XI_METHOD_BIT(XI_METHOD_PLAIN) | XI_METHOD_BIT(XI_METHOD_NTLM))
unsigned xi_attrmap_methods(const char *const *values, size_t n);

/* The server name in a home server value (per home_kind) into out.
 * Returns its length, or -1 when the value does not have the expected shape. */
int xi_attrmap_home_server_name(const struct xi_attrmap *map, const char *value, char *out,
				size_t size);

/* A quota value as a quota rule ("1G", "512k") into out.  Returns its
 * length, or -1 when the value is not in the expected shape. */
int xi_attrmap_quota(const struct xi_attrmap *map, const char *value, char *out, size_t size);

/* An NT hash value (32 hex digits) into 16 bytes.  False when malformed. */
bool xi_attrmap_parse_nt_hash(const char *value, size_t len, unsigned char out[16]);

#endif
