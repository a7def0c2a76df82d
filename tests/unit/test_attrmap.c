/*
 * The attribute maps: names per directory, and the values whose meaning
 * differs (disabled flags, protocol settings, home servers, NT hashes).
 */
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

int main(void)
{
	test_names();
	test_attributes();
	test_disabled();
	test_protocols();
	test_home_server();
	test_nt_hash();
	return tap_done();
}
