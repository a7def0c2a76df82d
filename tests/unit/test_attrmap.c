/*
 * The attribute maps: names per directory, and the values whose meaning
 * differs (disabled flags, protocol settings, home servers, NT hashes).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrmap.h"
#include "tap.h"

static bool has(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

static void test_names(void)
{
	const struct xi_attrmap *x = xi_attrmap_by_name("xident"), *ad = xi_attrmap_by_name("AD"),
		*ex = xi_attrmap_by_name("exchange55");

	tap_ok(x == xi_attrmap_get(XI_ATTRMAP_XIDENT) && ad == xi_attrmap_get(XI_ATTRMAP_AD) &&
	       ex == xi_attrmap_get(XI_ATTRMAP_EXCHANGE55), "maps found by config name (case-insensitive)");
	tap_ok(xi_attrmap_by_name("openldap") == NULL && xi_attrmap_by_name(NULL) == NULL,
	       "unknown map name: NULL");
	tap_ok(xi_attrmap_get((enum xi_attrmap_id)7) == NULL, "out-of-range map id: NULL");

	/* xident: the fixed names of ldap-schema/README.md */
	tap_is_str(x->account_class, "xidentAccount", "xident account class");
	tap_is_str(x->domain, "xidentDomain", "xident domain");
	tap_is_str(x->account_name, "xidentAccountName", "xident account name");
	tap_is_str(x->upn, "xidentUserPrincipalName", "xident UPN");
	tap_is_str(x->nt_hash, "xidentNTHash", "xident NT hash");
	tap_is_str(x->alias, "xidentAlias", "xident alias");
	tap_is_str(x->primary_account, "xidentPrimaryAccount", "xident primary account");
	tap_is_str(x->delegate, "xidentDelegate", "xident delegates");
	tap_is_str(x->custom_class, "xidentCustomRecipient", "xident custom recipient class");
	tap_is_str(x->target_address, "xidentTargetAddress", "xident target address");
	tap_is_int(x->link_kind, XI_LINK_DN, "xident links are DNs");

	/* AD / Samba 4 */
	tap_is_str(ad->account_name, "sAMAccountName", "ad account name");
	tap_is_str(ad->upn, "userPrincipalName", "ad UPN");
	tap_is_str(ad->alias, "mailNickname", "ad alias");
	tap_is_str(ad->primary_account, "msExchMasterAccountSid", "ad primary account");
	tap_is_str(ad->mailbox_marker, "homeMDB", "ad: a user with homeMDB has a mailbox");
	tap_is_str(ad->mail_quota, "mDBStorageQuota", "ad quota");
	tap_is_int(ad->link_kind, XI_LINK_SID, "ad links are SIDs");
	tap_is_str(ad->home_server, "msExchHomeServerName", "ad home server");
	tap_is_str(ad->custom_class, "contact", "ad custom recipients are contacts");
	tap_is_str(ad->target_address, "targetAddress", "ad target address");
	tap_is_str(ad->protocols, "protocolSettings", "ad protocol settings");
	tap_ok(ad->nt_hash == NULL && ad->domain == NULL, "ad: no readable NT hash, no domain attribute");

	/* Exchange 5.5 */
	tap_is_str(ex->alias, "uid", "exchange55 alias is uid");
	tap_is_str(ex->primary_account, "Assoc-NT-Account", "exchange55 primary account");
	tap_is_str(ex->home_server, "Home-MDB", "exchange55 home MDB");
	tap_is_str(ex->custom_class, "remote-address", "exchange55 custom recipients");
	tap_is_str(ex->target_address, "Target-Address", "exchange55 target address");
	tap_is_str(ex->protocols, "Protocol-Settings", "exchange55 protocol settings");
	tap_ok(ex->account_class == NULL, "exchange55: accounts are not in this directory");
}

static void test_attributes(void)
{
	const char *list[40];
	const struct xi_attrmap *x = xi_attrmap_get(XI_ATTRMAP_XIDENT);
	size_t n;

	n = xi_attrmap_attributes(x, false, false, list, 39);
	tap_ok(n > 10 && list[n] == NULL, "attribute list NULL-terminated (%zu)", n);
	tap_ok(has(list, "xidentAlias") && has(list, "xidentPrimaryAccount") && has(list, "objectClass"),
	       "list has the resolution attributes");
	tap_ok(!has(list, "xidentNTHash") && !has(list, "userPassword"),
	       "secrets are not fetched unless asked for");
	n = xi_attrmap_attributes(x, true, true, list, 39);
	tap_ok(has(list, "xidentNTHash") && has(list, "userPassword"), "secrets fetched when asked for");
	n = xi_attrmap_attributes(x, true, true, list, 3);
	tap_is_int(n, 3, "list bounded by max");
	n = xi_attrmap_attributes(xi_attrmap_get(XI_ATTRMAP_AD), true, true, list, 39);
	tap_ok(has(list, "sAMAccountName") && has(list, "objectSid") && !has(list, "xidentNTHash"),
	       "ad list: its own names, no NT hash");
	n = xi_attrmap_attributes(xi_attrmap_get(XI_ATTRMAP_AD), false, false, list, 39);
	{
		size_t i, j;
		bool dup = false;

		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				dup |= strcmp(list[i], list[j]) == 0;
		tap_ok(!dup, "no attribute asked for twice (ad: user is account and mailbox class)");
	}
}

static void test_disabled(void)
{
	const struct xi_attrmap *x = xi_attrmap_get(XI_ATTRMAP_XIDENT), *ad = xi_attrmap_get(XI_ATTRMAP_AD),
		*ex = xi_attrmap_get(XI_ATTRMAP_EXCHANGE55);

	tap_ok(xi_attrmap_value_disabled(x, "TRUE") && xi_attrmap_value_disabled(x, "true"),
	       "xident: TRUE = disabled");
	tap_ok(!xi_attrmap_value_disabled(x, "FALSE") && !xi_attrmap_value_disabled(x, NULL),
	       "xident: FALSE or absent = enabled");
	tap_ok(xi_attrmap_value_disabled(ad, "514"), "ad: userAccountControl 514 (0x202) disabled");
	tap_ok(!xi_attrmap_value_disabled(ad, "512"), "ad: 512 (NORMAL_ACCOUNT) enabled");
	tap_ok(xi_attrmap_value_disabled(ad, "66050"), "ad: 66050 (0x10202) disabled");
	tap_ok(xi_attrmap_value_disabled(ad, "12x") && xi_attrmap_value_disabled(ad, ""),
	       "ad: a non-number is not trusted as enabled");
	tap_ok(!xi_attrmap_value_disabled(ex, "TRUE"), "exchange55: never disabled here");
}

static void test_protocols(void)
{
	const struct xi_attrmap *x = xi_attrmap_get(XI_ATTRMAP_XIDENT), *ad = xi_attrmap_get(XI_ATTRMAP_AD);
	const char *imap_only[] = { "IMAP" };
	const char *both[] = { "imap", "pop3" };
	const char *junk[] = { "smtp" };
	const char *pop_off[] = { "POP3\xc2\xa7" "0\xc2\xa7" "1\xc2\xa7" "4\xc2\xa7ISO-8859-1" };
	const char *pop_off_latin1[] = { "POP3\xa7" "0\xa7" "1" };
	const char *imap_on[] = { "IMAP4\xc2\xa7" "1\xc2\xa7" "0" };
	const char *bad_field[] = { "POP3\xc2\xa7yes" };
	const char *no_field[] = { "POP3" };
	unsigned imap = XI_PROTO_BIT(XI_PROTO_IMAP), pop = XI_PROTO_BIT(XI_PROTO_POP3);

	tap_is_int(xi_attrmap_protocols(x, NULL, 0), XI_PROTO_ALL, "xident: absent = all");
	tap_is_int(xi_attrmap_protocols(x, imap_only, 1), imap, "xident: IMAP only (case-insensitive)");
	tap_is_int(xi_attrmap_protocols(x, both, 2), imap | pop, "xident: imap and pop3");
	tap_is_int(xi_attrmap_protocols(x, junk, 1), 0, "xident: only unknown values = none allowed");
	tap_is_int(xi_attrmap_protocols(ad, NULL, 0), XI_PROTO_ALL, "exchange: absent = all");
	tap_ok(!(xi_attrmap_protocols(ad, pop_off, 1) & pop) && (xi_attrmap_protocols(ad, pop_off, 1) & imap),
	       "exchange: POP3§0§... turns POP3 off, IMAP stays on");
	tap_ok(!(xi_attrmap_protocols(ad, pop_off_latin1, 1) & pop), "exchange: Latin-1 § separator");
	tap_ok((xi_attrmap_protocols(ad, imap_on, 1) & imap) != 0, "exchange: IMAP4§1 on");
	tap_ok(!(xi_attrmap_protocols(ad, bad_field, 1) & pop), "exchange: a flag that is not 0/1 = off");
	tap_ok(!(xi_attrmap_protocols(ad, no_field, 1) & pop), "exchange: no flag field = off");

	const char *plain[] = { "plain" }, *ntlm[] = { "NTLM" };
	tap_is_int(xi_attrmap_methods(NULL, 0), XI_METHOD_ALL, "methods: absent = all");
	tap_is_int(xi_attrmap_methods(plain, 1), XI_METHOD_BIT(XI_METHOD_PLAIN), "methods: plain only");
	tap_is_int(xi_attrmap_methods(ntlm, 1), XI_METHOD_BIT(XI_METHOD_NTLM), "methods: NTLM only");
}

static void test_home_server(void)
{
	const struct xi_attrmap *x = xi_attrmap_get(XI_ATTRMAP_XIDENT), *ad = xi_attrmap_get(XI_ATTRMAP_AD),
		*ex = xi_attrmap_get(XI_ATTRMAP_EXCHANGE55);
	char out[64];

	tap_ok(xi_attrmap_home_server_name(x, "mail2", out, sizeof(out)) == 5 && strcmp(out, "mail2") == 0,
	       "xident: the value is the name");
	tap_ok(xi_attrmap_home_server_name(ad, "/o=Org/ou=Site/cn=Configuration/cn=Servers/cn=EXCH1",
					   out, sizeof(out)) > 0 && strcmp(out, "EXCH1") == 0,
	       "ad: last RDN of the legacy server DN");
	tap_ok(xi_attrmap_home_server_name(ad, "/o=Org/ou=Site/cn=Recipients/cn=EXCH1", out,
					   sizeof(out)) < 0, "ad: a path not under cn=Servers refused");
	tap_ok(xi_attrmap_home_server_name(ex, "cn=Microsoft Private MDB,cn=EXCH2,cn=Servers,cn=Configuration,ou=Site,o=Org",
					   out, sizeof(out)) > 0 && strcmp(out, "EXCH2") == 0,
	       "exchange55: server RDN of the Home-MDB DN");
	tap_ok(xi_attrmap_home_server_name(ex, "cn=Microsoft Private MDB,cn=EXCH2", out, sizeof(out)) < 0,
	       "exchange55: Home-MDB without cn=Servers refused");
	tap_ok(xi_attrmap_home_server_name(x, "averyveryverylongservername", out, 8) < 0,
	       "a name longer than the buffer refused, not cut");
}

static void test_nt_hash(void)
{
	unsigned char h[16];
	static const unsigned char want[16] = { 0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca,
						0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f, 0xd8, 0x52 };

	tap_ok(xi_attrmap_parse_nt_hash("a4f49c406510bdcab6824ee7c30fd852", 32, h) &&
	       memcmp(h, want, 16) == 0, "NT hash parsed");
	tap_ok(xi_attrmap_parse_nt_hash("A4F49C406510BDCAB6824EE7C30FD852", 32, h), "upper-case hex");
	tap_ok(!xi_attrmap_parse_nt_hash("a4f49c406510bdcab6824ee7c30fd85", 31, h), "31 digits refused");
	tap_ok(!xi_attrmap_parse_nt_hash("a4f49c406510bdcab6824ee7c30fd8zz", 32, h), "non-hex refused");
	tap_ok(!xi_attrmap_parse_nt_hash(NULL, 32, h), "NULL refused");
}

static void test_quota(void)
{
	const struct xi_attrmap *x = xi_attrmap_get(XI_ATTRMAP_XIDENT), *ad = xi_attrmap_get(XI_ATTRMAP_AD);
	char out[32];

	tap_ok(xi_attrmap_quota(x, "1G", out, sizeof(out)) == 2 && strcmp(out, "1G") == 0,
	       "xident quota: the rule as it is");
	tap_ok(xi_attrmap_quota(ad, "1048576", out, sizeof(out)) > 0 && strcmp(out, "1G") == 0,
	       "ad quota: 1048576 KiB = 1G");
	tap_ok(xi_attrmap_quota(ad, "3145728", out, sizeof(out)) > 0 && strcmp(out, "3G") == 0,
	       "ad quota: 3145728 KiB = 3G");
	tap_ok(xi_attrmap_quota(ad, "512000", out, sizeof(out)) > 0 && strcmp(out, "512000k") == 0,
	       "ad quota: otherwise NNNk");
	tap_ok(xi_attrmap_quota(ad, "-5", out, sizeof(out)) < 0 && xi_attrmap_quota(ad, "12x", out, sizeof(out)) < 0 &&
	       xi_attrmap_quota(ad, "", out, sizeof(out)) < 0, "ad quota: not a number refused");
	tap_ok(xi_attrmap_quota(ad, "99999999999999999999999", out, sizeof(out)) < 0, "ad quota: absurd size refused");
}

/* ldap-schema/attrmap-NAME.map (written for administrators) and the
 * built-in C maps must say the same thing. */
struct field { const char *xident; size_t offset; };
#define F(name, member) { name, offsetof(struct xi_attrmap, member) }
static const struct field fields[] = {
	F("xidentDomain", domain), F("xidentAccountName", account_name),
	F("xidentUserPrincipalName", upn), F("xidentNTHash", nt_hash),
	F("xidentAccountDisabled", disabled), F("xidentAlias", alias),
	F("xidentPrimaryAccount", primary_account), F("xidentDelegate", delegate),
	F("xidentHomeServer", home_server), F("xidentProtocols", protocols),
	F("xidentLogonMethods", logon_methods), F("xidentTargetAddress", target_address),
	F("mail", mail), F("displayName", display_name), F("xidentMailHome", mail_home),
	F("xidentMailLocation", mail_location), F("xidentMailUid", mail_uid),
	F("xidentMailGid", mail_gid), F("xidentMailQuota", mail_quota),
};
static const struct field classes[] = {
	F("xidentAccount", account_class), F("xidentMailbox", mailbox_class),
	F("xidentCustomRecipient", custom_class), F("xidentDistributionList", dl_class),
};

static const char *member(const struct xi_attrmap *m, size_t offset)
{
	return *(const char *const *)((const char *)m + offset);
}

static const char *conversion(const struct xi_attrmap *m, const char *xident)
{
	if (strcmp(xident, "xidentAccountDisabled") == 0 && m->disabled_kind == XI_DISABLED_UAC)
		return "flag:2";
	if ((strcmp(xident, "xidentPrimaryAccount") == 0) && m->link_kind == XI_LINK_SID)
		return "sid";
	if (strcmp(xident, "xidentHomeServer") == 0 && m->home_kind == XI_HOME_LEGACY_DN)
		return "last-cn";
	if (strcmp(xident, "xidentHomeServer") == 0 && m->home_kind == XI_HOME_MDB_DN)
		return "mdb-server";
	if (strcmp(xident, "xidentProtocols") == 0 && m->protocols_kind == XI_PROTOCOLS_EXCHANGE)
		return "protocol-settings";
	if (strcmp(xident, "xidentMailQuota") == 0 && m->quota_kind == XI_QUOTA_KIB)
		return "kib";
	return "";
}

static void compare_map_file(const struct xi_attrmap *m)
{
	char path[512], line[512];
	FILE *f;
	unsigned checked = 0, wrong = 0;

	snprintf(path, sizeof(path), "%s/ldap-schema/attrmap-%s.map", XI_TOP_SRCDIR, m->name);
	f = fopen(path, "r");
	if (!tap_ok(f != NULL, "%s: %s readable", m->name, path))
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char key[128], value[256], conv[64] = "";
		bool is_class = strncmp(line, "class ", 6) == 0;
		const char *p = is_class ? line + 6 : line;
		size_t i;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(p, " %127[^ =] = %255s %63s", key, value, conv) < 2)
			continue;
		if (is_class) {
			/* "= (objectClass=X)" or "(&(objectClass=X)...)" or "-" */
			for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
				const char *want, *cls;
				char needle[160];

				if (strcmp(classes[i].xident, key) != 0)
					continue;
				cls = member(m, classes[i].offset);
				checked++;
				if (cls == NULL) {
					want = "-";
					if (strcmp(value, want) != 0) {
						wrong++;
						tap_diag("%s: class %s: file %s, C none", m->name, key, value);
					}
					continue;
				}
				snprintf(needle, sizeof(needle), "(objectClass=%s)", cls);
				if (strstr(value, needle) == NULL) {
					wrong++;
					tap_diag("%s: class %s: file %s, C %s", m->name, key, value, cls);
				}
				if (strcmp(key, "xidentMailbox") == 0 && m->mailbox_marker != NULL) {
					snprintf(needle, sizeof(needle), "(%s=*)", m->mailbox_marker);
					if (strstr(value, needle) == NULL) {
						wrong++;
						tap_diag("%s: mailbox marker %s not in %s", m->name, m->mailbox_marker, value);
					}
				}
			}
			continue;
		}
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			const char *attr;

			if (strcmp(fields[i].xident, key) != 0)
				continue;
			attr = member(m, fields[i].offset);
			checked++;
			if (strcmp(value, attr != NULL ? attr : "-") != 0 ||
			    strcmp(conv, conversion(m, key)) != 0) {
				wrong++;
				tap_diag("%s: %s: file \"%s %s\", C \"%s %s\"", m->name, key, value, conv,
					 attr != NULL ? attr : "-", conversion(m, key));
			}
		}
	}
	fclose(f);
	tap_is_int(checked, sizeof(fields) / sizeof(fields[0]) + sizeof(classes) / sizeof(classes[0]),
		   "%s: every class and attribute of the map file checked", m->name);
	tap_is_int(wrong, 0, "%s: the built-in map says what %s says", m->name, path);
}

int main(void)
{
	test_names();
	test_attributes();
	test_disabled();
	test_protocols();
	test_home_server();
	test_nt_hash();
	test_quota();
	compare_map_file(xi_attrmap_get(XI_ATTRMAP_XIDENT));
	compare_map_file(xi_attrmap_get(XI_ATTRMAP_AD));
	compare_map_file(xi_attrmap_get(XI_ATTRMAP_EXCHANGE55));
	return tap_done();
}
