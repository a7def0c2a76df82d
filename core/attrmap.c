/*
 * attrmap: the three built-in attribute maps and the interpretation of the
 * values whose meaning differs between directories.
 */
#include "attrmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct xi_attrmap maps[] = {
	[XI_ATTRMAP_XIDENT] = {
		.id = XI_ATTRMAP_XIDENT, .name = "xident",
		.account_class = "xidentAccount",
		.mailbox_class = "xidentMailbox",
		.custom_class = "xidentCustomRecipient",
		.dl_class = "xidentDistributionList",
		.names_imply_class = true,
		.domain = "xidentDomain",
		.account_name = "xidentAccountName",
		.upn = "xidentUserPrincipalName",
		.nt_hash = "xidentNTHash",
		.password = "userPassword",
		.disabled = "xidentAccountDisabled", .disabled_kind = XI_DISABLED_BOOLEAN,
		.alias = "xidentAlias",
		.primary_account = "xidentPrimaryAccount",
		.delegate = "xidentDelegate",
		.link_kind = XI_LINK_DN,
		.home_server = "xidentHomeServer", .home_kind = XI_HOME_NAME,
		.protocols = "xidentProtocols", .protocols_kind = XI_PROTOCOLS_LIST,
		.logon_methods = "xidentLogonMethods",
		.target_address = "xidentTargetAddress",
		.mail = "mail",
		.display_name = "displayName",
		.mail_home = "xidentMailHome",
		.mail_location = "xidentMailLocation",
		.mail_uid = "xidentMailUid",
		.mail_gid = "xidentMailGid",
		.mail_quota = "xidentMailQuota",
	},
	/* Active Directory / Samba 4 (the same mapping as
	 * ldap-schema/attrmap-ad.map, which test_attrmap compares).  A user is a
	 * mailbox when it has homeMDB.  The NetBIOS domain is not an attribute of
	 * a user (it is the naming context's), so accounts belong to the
	 * configured default domains.  The NT hash (unicodePwd) is never
	 * readable over LDAP: NTLM needs a different source there.  A mailbox
	 * is normally on the user's own entry; msExchMasterAccountSid links a
	 * resource or linked mailbox to the account that owns it, and
	 * msExchDelegateListLink lists those granted full access. */
	[XI_ATTRMAP_AD] = {
		.id = XI_ATTRMAP_AD, .name = "ad",
		.account_class = "user",
		.mailbox_class = "user",
		.mailbox_marker = "homeMDB",
		.custom_class = "contact",
		.dl_class = "group",
		.domain = NULL,
		.account_name = "sAMAccountName",
		.upn = "userPrincipalName",
		.account_sid = "objectSid",
		.nt_hash = NULL,
		.password = NULL,
		.disabled = "userAccountControl", .disabled_kind = XI_DISABLED_UAC,
		.alias = "mailNickname",
		.primary_account = "msExchMasterAccountSid",
		.delegate = "msExchDelegateListLink",
		.link_kind = XI_LINK_SID,
		.home_server = "msExchHomeServerName", .home_kind = XI_HOME_LEGACY_DN,
		.protocols = "protocolSettings", .protocols_kind = XI_PROTOCOLS_EXCHANGE,
		.logon_methods = NULL,
		.target_address = "targetAddress",
		.mail = "mail",
		.display_name = "displayName",
		/* Where the mail lives is the host's default with AD. */
		.mail_home = NULL,
		.mail_location = NULL,
		.mail_uid = NULL,
		.mail_gid = NULL,
		.mail_quota = "mDBStorageQuota", .quota_kind = XI_QUOTA_KIB,
	},
	/* Exchange 5.5's own directory over LDAP.  Accounts live in the NT
	 * domain (SAM), not in this directory: a mailbox names its primary
	 * account by SID (Assoc-NT-Account), so account lookups need a
	 * directory that also holds the accounts with their objectSid. */
	[XI_ATTRMAP_EXCHANGE55] = {
		.id = XI_ATTRMAP_EXCHANGE55, .name = "exchange55",
		.account_class = NULL,
		.mailbox_class = "organizationalPerson",
		.mailbox_marker = "Home-MDB",
		.custom_class = "remote-address",
		.dl_class = "groupOfNames",
		.domain = NULL,
		.account_name = NULL,
		.upn = NULL,
		.account_sid = "objectSid",
		.nt_hash = NULL,
		.password = NULL,
		.disabled = NULL, .disabled_kind = XI_DISABLED_NONE,
		.alias = "uid",
		.primary_account = "Assoc-NT-Account",
		.delegate = NULL,
		.link_kind = XI_LINK_SID,
		.home_server = "Home-MDB", .home_kind = XI_HOME_MDB_DN,
		.protocols = "Protocol-Settings", .protocols_kind = XI_PROTOCOLS_EXCHANGE,
		.logon_methods = NULL,
		.target_address = "Target-Address",
		.mail = "mail",
		.display_name = "cn",
		.mail_home = NULL,
		.mail_location = NULL,
		.mail_uid = NULL,
		.mail_gid = NULL,
		.mail_quota = NULL,
	},
};

const struct xi_attrmap *xi_attrmap_get(enum xi_attrmap_id id)
{
	if ((size_t)id >= sizeof(maps) / sizeof(maps[0]))
		return NULL;
	return &maps[id];
}

const struct xi_attrmap *xi_attrmap_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		if (strcasecmp(maps[i].name, name) == 0)
			return &maps[i];
	}
	return NULL;
}

static void add_attr(const char **out, size_t *n, size_t max, const char *attr)
{
	size_t i;

	if (attr == NULL || *n >= max)
		return;
	for (i = 0; i < *n; i++) {
		if (strcasecmp(out[i], attr) == 0)
			return;
	}
	out[(*n)++] = attr;
}

size_t xi_attrmap_attributes(const struct xi_attrmap *m, bool want_nt_hash, bool want_password,
			     const char **out, size_t max)
{
	size_t n = 0;

	add_attr(out, &n, max, "objectClass");
	add_attr(out, &n, max, m->domain);
	add_attr(out, &n, max, m->account_name);
	add_attr(out, &n, max, m->upn);
	add_attr(out, &n, max, m->account_sid);
	add_attr(out, &n, max, m->disabled);
	add_attr(out, &n, max, m->mailbox_marker);
	add_attr(out, &n, max, m->alias);
	add_attr(out, &n, max, m->primary_account);
	add_attr(out, &n, max, m->delegate);
	add_attr(out, &n, max, m->home_server);
	add_attr(out, &n, max, m->protocols);
	add_attr(out, &n, max, m->logon_methods);
	add_attr(out, &n, max, m->target_address);
	add_attr(out, &n, max, m->mail);
	add_attr(out, &n, max, m->display_name);
	add_attr(out, &n, max, m->mail_home);
	add_attr(out, &n, max, m->mail_location);
	add_attr(out, &n, max, m->mail_uid);
	add_attr(out, &n, max, m->mail_gid);
	add_attr(out, &n, max, m->mail_quota);
	if (want_nt_hash)
		add_attr(out, &n, max, m->nt_hash);
	if (want_password)
		add_attr(out, &n, max, m->password);
	out[n] = NULL;
	return n;
}

bool xi_attrmap_value_disabled(const struct xi_attrmap *m, const char *value)
{
	char *end;
	unsigned long uac;

	if (value == NULL)
		return false;
	switch (m->disabled_kind) {
	case XI_DISABLED_BOOLEAN:
		return strcasecmp(value, "TRUE") == 0;
	case XI_DISABLED_UAC:
		uac = strtoul(value, &end, 10);
		/* A value that is not a number is not trusted as "enabled". */
		if (end == value || *end != '\0')
			return true;
		return (uac & 0x2) != 0;
	case XI_DISABLED_NONE:
	default:
		return false;
	}
}

/* Protocol names as both schemas spell them. */
static unsigned protocol_bit(const char *name, size_t len)
{
	static const struct { const char *name; enum xi_protocol p; } names[] = {
		{ "imap", XI_PROTO_IMAP }, { "imap4", XI_PROTO_IMAP },
		{ "pop3", XI_PROTO_POP3 }, { "pop", XI_PROTO_POP3 },
		{ "lmtp", XI_PROTO_LMTP },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == len && strncasecmp(names[i].name, name, len) == 0)
			return XI_PROTO_BIT(names[i].p);
	}
	return 0;
}

/* "§" in UTF-8; Exchange wrote it in Latin-1 (0xA7) on older servers. */
static const char *next_field(const char *s, size_t *len_r)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)p[0] == 0xc2 && (unsigned char)p[1] == 0xa7) {
			*len_r = (size_t)(p - s);
			return p + 2;
		}
		if ((unsigned char)p[0] == 0xa7) {
			*len_r = (size_t)(p - s);
			return p + 1;
		}
	}
	*len_r = (size_t)(p - s);
	return NULL;
}

unsigned xi_attrmap_protocols_value(const struct xi_attrmap *m, const char *value,
				    unsigned *about_r)
{
	const char *rest;
	size_t len, len2;
	unsigned bit;

	*about_r = 0;
	if (value == NULL)
		return 0;
	if (m->protocols_kind == XI_PROTOCOLS_LIST) {
		bit = protocol_bit(value, strlen(value));
		*about_r = bit;
		return bit;
	}
	rest = next_field(value, &len);
	bit = protocol_bit(value, len);
	*about_r = bit;
	if (bit == 0 || rest == NULL)
		return 0;
	(void)next_field(rest, &len2);
	/* Second field: 1 enabled, 0 disabled; anything else is not trusted. */
	return len2 == 1 && rest[0] == '1' ? bit : 0;
}

unsigned xi_attrmap_protocols(const struct xi_attrmap *m, const char *const *values, size_t n)
{
	unsigned allowed, about, on;
	size_t i;

	if (n == 0)
		return XI_PROTO_ALL;
	if (m->protocols_kind == XI_PROTOCOLS_LIST) {
		allowed = 0;
		for (i = 0; i < n; i++)
			allowed |= xi_attrmap_protocols_value(m, values[i], &about);
		return allowed;
	}
	/* Exchange: every protocol is on unless a value turns it off. */
	allowed = XI_PROTO_ALL;
	for (i = 0; i < n; i++) {
		on = xi_attrmap_protocols_value(m, values[i], &about);
		if (about != 0 && on == 0)
			allowed &= ~about;
	}
	return allowed;
}

unsigned xi_attrmap_methods(const char *const *values, size_t n)
{
	unsigned allowed = 0;
	size_t i;

	if (n == 0)
		return XI_METHOD_ALL;
	for (i = 0; i < n; i++) {
		if (strcasecmp(values[i], "plain") == 0)
			allowed |= XI_METHOD_BIT(XI_METHOD_PLAIN);
		else if (strcasecmp(values[i], "ntlm") == 0)
			allowed |= XI_METHOD_BIT(XI_METHOD_NTLM);
	}
	return allowed;
}

static int copy_out(const char *s, size_t len, char *out, size_t size)
{
	if (len == 0 || len >= size)
		return -1;
	memcpy(out, s, len);
	out[len] = '\0';
	return (int)len;
}

int xi_attrmap_home_server_name(const struct xi_attrmap *m, const char *value, char *out,
				size_t size)
{
	const char *p, *start, *end;

	if (value == NULL)
		return -1;
	switch (m->home_kind) {
	case XI_HOME_NAME:
		return copy_out(value, strlen(value), out, size);
	case XI_HOME_LEGACY_DN:
		/* /o=Org/ou=Site/cn=Configuration/cn=Servers/cn=NAME: the last RDN,
		 * and only under cn=Servers. */
		p = strrchr(value, '/');
		if (p == NULL || strncasecmp(p, "/cn=", 4) != 0 || p - value < 11 ||
		    strncasecmp(p - 11, "/cn=Servers", 11) != 0)
			return -1;
		return copy_out(p + 4, strlen(p + 4), out, size);
	case XI_HOME_MDB_DN:
		/* cn=Microsoft Private MDB,cn=NAME,cn=Servers,...: the RDN after
		 * the store's and before cn=Servers. */
		p = strchr(value, ',');
		if (p == NULL || strncasecmp(p + 1, "cn=", 3) != 0)
			return -1;
		start = p + 4;
		end = strchr(start, ',');
		if (end == NULL || strncasecmp(end + 1, "cn=Servers,", 11) != 0 || end == start ||
		    memchr(start, '\\', (size_t)(end - start)) != NULL)
			return -1;
		return copy_out(start, (size_t)(end - start), out, size);
	}
	return -1;
}

int xi_attrmap_quota(const struct xi_attrmap *m, const char *value, char *out, size_t size)
{
	unsigned long long kib;
	char *end;
	int n;

	if (value == NULL || value[0] == '\0')
		return -1;
	if (m->quota_kind == XI_QUOTA_RULE)
		return copy_out(value, strlen(value), out, size);
	if (value[0] < '0' || value[0] > '9')
		return -1;
	kib = strtoull(value, &end, 10);
	if (*end != '\0' || kib > (1ULL << 50))
		return -1;
	if (kib != 0 && kib % (1024ULL * 1024) == 0)
		n = snprintf(out, size, "%lluG", kib / (1024ULL * 1024));
	else
		n = snprintf(out, size, "%lluk", kib);
	return n > 0 && (size_t)n < size ? n : -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool xi_attrmap_parse_nt_hash(const char *value, size_t len, unsigned char out[16])
{
	size_t i;

	if (value == NULL || len != 32)
		return false;
	for (i = 0; i < 16; i++) {
		int hi = hexval(value[2 * i]), lo = hexval(value[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}
