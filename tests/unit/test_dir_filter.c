/*
 * The search filters of the directory: one OR filter per find, every value
 * escaped (RFC 4515), the right attributes per map, SID links as escaped
 * binary, and a filter that matches nothing for an empty query.  With the
 * xident map the names imply the class (its schema allows them on no
 * other entry), so no objectClass term is sent but for mail addresses;
 * the other maps keep theirs.
 */
#include <string.h>

#include "dir_filter.h"
#include "tap.h"

static const char *filter(enum xi_attrmap_id id, const struct xi_dir_query *q)
{
	static char buf[XI_DIR_FILTER_MAX];
	struct xi_error err;

	if (xi_dir_ldap_filter(xi_attrmap_get(id), q, buf, sizeof(buf), &err) < 0)
		return NULL;
	return buf;
}

static int balanced(const char *f)
{
	int depth = 0;

	for (; *f; f++) {
		if (*f == '(')
			depth++;
		else if (*f == ')' && --depth < 0)
			return 0;
	}
	return depth == 0;
}

int main(void)
{
	const char *domains[] = { "EXAMPLE", "BRANCH" };
	const char *f;
	char small[40];
	struct xi_error err;

	{
		struct xi_dir_query q = { .account = "jdoe", .domains = domains, .domain_count = 2,
					  .alias = "jdoe" };
		f = filter(XI_ATTRMAP_XIDENT, &q);
		tap_is_str(f, "(|(&(xidentAccountName=jdoe)"
			   "(|(xidentDomain=EXAMPLE)(xidentDomain=BRANCH)))"
			   "(xidentAlias=jdoe))",
			   "bare name: account in the default domains OR recipient by alias, one filter, no class terms");
	}
	{
		struct xi_dir_query q = { .account = "jdoe", .domains = domains, .domain_count = 1,
					  .alias = "jdoe" };
		f = filter(XI_ATTRMAP_XIDENT, &q);
		tap_is_str(f, "(|(&(xidentAccountName=jdoe)(xidentDomain=EXAMPLE))(xidentAlias=jdoe))",
			   "DOMAIN\\account: one domain is one term, not an OR of one");
	}
	{
		struct xi_dir_query q = { .account = "jdoe" };
		f = filter(XI_ATTRMAP_XIDENT, &q);
		tap_is_str(f, "(|(xidentAccountName=jdoe))", "account in any domain: the name alone");
	}
	{
		struct xi_dir_query q = { .upn = "jdoe@example.com", .mail = "jdoe@example.com" };
		f = filter(XI_ATTRMAP_XIDENT, &q);
		tap_is_str(f, "(|(xidentUserPrincipalName=jdoe@example.com)"
			   "(&(|(objectClass=xidentMailbox)(objectClass=xidentCustomRecipient)"
			   "(objectClass=xidentDistributionList))(mail=jdoe@example.com)))",
			   "name@suffix: UPN OR a recipient's mail address (accounts have mail too: by class)");
	}
	{
		struct xi_dir_query q = { .owner_key = "uid=jdoe,ou=example,dc=example,dc=com" };
		f = filter(XI_ATTRMAP_XIDENT, &q);
		tap_is_str(f, "(|(xidentPrimaryAccount=uid=jdoe,ou=example,dc=example,dc=com))",
			   "mailboxes of an account: by primary account DN");
	}
	{
		struct xi_dir_query q = { 0 };
		f = filter(XI_ATTRMAP_XIDENT, &q);
		tap_is_str(f, "(|(&(objectClass=*)(!(objectClass=*))))", "empty query: matches nothing");
	}
	{
		/* Injection: metacharacters, NUL-free hostile text. */
		struct xi_dir_query q = { .account = "*)(xidentAccountName=*", .alias = "a\\b(c)*" };
		f = filter(XI_ATTRMAP_XIDENT, &q);
		tap_ok(f && strstr(f, "(xidentAccountName=\\2a\\29\\28xidentAccountName=\\2a)") != NULL,
		       "account name escaped: %s", f ? f : "(none)");
		tap_ok(f && strstr(f, "(xidentAlias=a\\5cb\\28c\\29\\2a)") != NULL, "alias escaped");
		tap_ok(f && balanced(f), "filter stays balanced");
		tap_ok(f && strchr(f, '*') == NULL, "no raw * from the values");
	}
	{
		struct xi_dir_query q = { .account = "jdoe", .domains = domains, .domain_count = 2,
					  .owner_key = "sid:010500000000000515000000a1b2c3d4" };
		f = filter(XI_ATTRMAP_AD, &q);
		tap_ok(f && strstr(f, "(&(objectClass=user)(sAMAccountName=jdoe))") != NULL,
		       "ad: account by sAMAccountName and class (computers have one too), no domain attribute: %s",
		       f ? f : "(none)");
		tap_ok(f && strstr(f, "(&(objectClass=user)(msExchMasterAccountSid=") != NULL,
		       "ad: mailboxes by owner SID and class");
		tap_ok(f && strstr(f, "(msExchMasterAccountSid=\\01\\05\\00\\00\\00\\00\\00\\05\\15\\00\\00\\00\\a1\\b2\\c3\\d4)") != NULL,
		       "ad: owner SID as escaped binary");
		tap_ok(f && balanced(f), "ad filter balanced");
	}
	{
		struct xi_dir_query q = { .sid_key = "sid:0102000000000005" };
		f = filter(XI_ATTRMAP_AD, &q);
		tap_is_str(f, "(|(&(objectClass=user)(objectSid=\\01\\02\\00\\00\\00\\00\\00\\05)))",
			   "ad: account by objectSid (a mailbox's msExchMasterAccountSid)");
		f = filter(XI_ATTRMAP_XIDENT, &q);
		tap_is_str(f, "(|(&(objectClass=*)(!(objectClass=*))))", "xident: no SID attribute, matches nothing");
	}
	{
		struct xi_dir_query q = { .owner_key = "sid:0105zz" };
		tap_ok(filter(XI_ATTRMAP_AD, &q) == NULL, "ad: malformed SID key refused");
	}
	{
		struct xi_dir_query q = { .account = "jdoe", .alias = "johnd", .upn = "x@y" };
		f = filter(XI_ATTRMAP_EXCHANGE55, &q);
		tap_ok(f && strstr(f, "(uid=johnd)") != NULL && strstr(f, "objectClass=remote-address") != NULL,
		       "exchange55: alias is uid, custom recipients remote-address: %s", f ? f : "(none)");
		tap_ok(f && strstr(f, "jdoe") == NULL && strstr(f, "x@y") == NULL,
		       "exchange55: no account parts (accounts are not in that directory)");
	}
	{
		struct xi_dir_query q = { .alias = "johnd-whose-alias-is-longer-than-forty-bytes" };
		tap_ok(xi_dir_ldap_filter(xi_attrmap_get(XI_ATTRMAP_XIDENT), &q, small, sizeof(small), &err) < 0 &&
		       err.status == XI_ERR_INVALID && small[0] == '\0',
		       "a filter that does not fit is refused, never cut");
	}
	tap_ok(xi_dir_ldap_class_filter("xidentMailbox", small, sizeof(small), &err) > 0 &&
	       strcmp(small, "(objectClass=xidentMailbox)") == 0, "class filter");
	return tap_done();
}
