/* logon_name: every form of design.md section 2, every separator, and every
 * malformed input we know of. */
#include <string.h>

#include "logon_name.h"
#include "tap.h"

struct want {
	enum xi_logon_form form;
	const char *domain, *account, *upn, *mailbox;
	bool is_address;
};

static void check_parts(const struct xi_logon_name *n, const struct want *w, const char *what)
{
	tap_ok(n->form == w->form && strcmp(n->domain, w->domain) == 0 &&
	       strcmp(n->account, w->account) == 0 && strcmp(n->upn, w->upn) == 0 &&
	       strcmp(n->mailbox, w->mailbox) == 0 && n->mailbox_is_address == w->is_address,
	       "%s", what);
	if (n->form != w->form)
		tap_diag("  form %s, want %s", xi_logon_form_name(n->form), xi_logon_form_name(w->form));
	if (strcmp(n->domain, w->domain) || strcmp(n->account, w->account) ||
	    strcmp(n->upn, w->upn) || strcmp(n->mailbox, w->mailbox))
		tap_diag("  got domain='%s' account='%s' upn='%s' mailbox='%s'",
			 n->domain, n->account, n->upn, n->mailbox);
}

static void parses(const char *typed, struct want w, const char *what)
{
	struct xi_logon_name n;
	struct xi_error err;

	xi_error_clear(&err);
	if (!tap_ok(xi_logon_name_parse(typed, strlen(typed), &n, &err) == 0,
		    "accepted: %s", what)) {
		tap_diag("  %s", err.message);
		return;
	}
	check_parts(&n, &w, what);
	tap_ok(!n.via_ntlm, "%s: not marked as NTLM", what);
}

static void refused_len(const char *typed, size_t len, const char *reason, const char *what)
{
	struct xi_logon_name n;
	struct xi_error err;
	int ret;

	memset(&n, 0x55, sizeof(n));
	xi_error_clear(&err);
	ret = xi_logon_name_parse(typed, len, &n, &err);
	tap_ok(ret == -1 && err.status == XI_ERR_INVALID && strstr(err.message, reason) != NULL,
	       "refused: %s", what);
	if (strstr(err.message, reason) == NULL)
		tap_diag("  message '%s' lacks '%s'", err.message, reason);
	tap_ok(n.account[0] == '\0' && n.mailbox[0] == '\0' && n.domain[0] == '\0',
	       "refused: %s: output cleared", what);
}

static void refused(const char *typed, const char *reason, const char *what)
{
	refused_len(typed, strlen(typed), reason, what);
}

static void ntlm_parses(const char *domain, const char *user, struct want w, const char *what)
{
	struct xi_logon_name n;
	struct xi_error err;

	xi_error_clear(&err);
	if (!tap_ok(xi_logon_name_parse_ntlm(domain, user, &n, &err) == 0,
		    "ntlm accepted: %s", what)) {
		tap_diag("  %s", err.message);
		return;
	}
	check_parts(&n, &w, what);
	tap_ok(n.via_ntlm, "%s: marked as NTLM", what);
}

static void ntlm_refused(const char *domain, const char *user, const char *reason,
			 const char *what)
{
	struct xi_logon_name n;
	struct xi_error err;

	xi_error_clear(&err);
	tap_ok(xi_logon_name_parse_ntlm(domain, user, &n, &err) == -1 &&
	       err.status == XI_ERR_INVALID && strstr(err.message, reason) != NULL,
	       "ntlm refused: %s", what);
	if (strstr(err.message, reason) == NULL)
		tap_diag("  message '%s' lacks '%s'", err.message, reason);
}

#define W(form, d, a, u, m, addr) ((struct want){ form, d, a, u, m, addr })

int main(void)
{
	char longname[XI_LOGON_NAME_MAX + 2];

	/* --- every form, every separator ------------------------------------ */
	parses("CORP\\jsmith\\john", W(XI_LOGON_DOMAIN_ACCOUNT_ALIAS, "CORP", "jsmith", "", "john", false),
	       "DOMAIN\\account\\alias");
	parses("CORP/jsmith/john", W(XI_LOGON_DOMAIN_ACCOUNT_ALIAS, "CORP", "jsmith", "", "john", false),
	       "DOMAIN/account/alias");
	parses("CORP\\jsmith/john", W(XI_LOGON_DOMAIN_ACCOUNT_ALIAS, "CORP", "jsmith", "", "john", false),
	       "mixed DOMAIN\\account/alias");
	parses("CORP/jsmith\\john", W(XI_LOGON_DOMAIN_ACCOUNT_ALIAS, "CORP", "jsmith", "", "john", false),
	       "mixed DOMAIN/account\\alias");
	parses("CORP\\jsmith", W(XI_LOGON_DOMAIN_ACCOUNT, "CORP", "jsmith", "", "", false),
	       "DOMAIN\\account");
	parses("CORP/jsmith", W(XI_LOGON_DOMAIN_ACCOUNT, "CORP", "jsmith", "", "", false),
	       "DOMAIN/account");
	parses("jsmith", W(XI_LOGON_BARE, "", "jsmith", "", "", false), "bare name");
	parses("John.Smith-2_x", W(XI_LOGON_BARE, "", "John.Smith-2_x", "", "", false),
	       "bare name with punctuation, case kept");
	parses("J\xc3\xb6rg", W(XI_LOGON_BARE, "", "J\xc3\xb6rg", "", "", false), "bare non-ASCII name");
	parses("John Smith", W(XI_LOGON_BARE, "", "John Smith", "", "", false), "inner space kept");
	parses("jsmith@corp.example", W(XI_LOGON_AT, "", "", "jsmith@corp.example", "", false),
	       "name@suffix");
	parses("jsmith@corp.example/john",
	       W(XI_LOGON_UPN_ALIAS, "", "", "jsmith@corp.example", "john", false), "upn/alias");
	parses("jsmith@corp.example\\john",
	       W(XI_LOGON_UPN_ALIAS, "", "", "jsmith@corp.example", "john", false), "upn\\alias");
	parses("jsmith@corp.example/sales@corp.example",
	       W(XI_LOGON_UPN_ADDRESS, "", "", "jsmith@corp.example", "sales@corp.example", true),
	       "upn/mailbox@addr");
	parses("CORP/jsmith/sales@corp.example",
	       W(XI_LOGON_DOMAIN_ACCOUNT_ADDRESS, "CORP", "jsmith", "", "sales@corp.example", true),
	       "DOMAIN/account/mailbox@addr");
	parses("CORP\\jsmith\\sales@corp.example",
	       W(XI_LOGON_DOMAIN_ACCOUNT_ADDRESS, "CORP", "jsmith", "", "sales@corp.example", true),
	       "DOMAIN\\account\\mailbox@addr");
	parses("corp.example\\jsmith", W(XI_LOGON_DOMAIN_ACCOUNT, "corp.example", "jsmith", "", "", false),
	       "DNS domain name as the domain");
	parses("*)(uid=*", W(XI_LOGON_BARE, "", "*)(uid=*", "", "", false),
	       "LDAP metacharacters are the escaper's job, not refused here");

	/* --- malformed ------------------------------------------------------- */
	refused("", "empty", "empty name");
	refused_len(NULL, 0, "empty", "NULL name");
	refused("\\jsmith", "empty", "empty domain");
	refused("CORP\\", "empty", "empty account");
	refused("CORP\\\\john", "empty", "empty middle part");
	refused("CORP\\jsmith\\", "empty", "empty alias");
	refused("\\", "empty", "separator only");
	refused("CORP//jsmith", "empty", "doubled separator");
	refused("A\\B\\C\\D", "too many separators", "four parts");
	refused("A/B\\C/D/E", "too many separators", "five parts, mixed separators");
	refused("a@b/c/d", "one mailbox only", "upn with two more parts");
	refused("@corp.example", "one '@'", "empty local part");
	refused("jsmith@", "one '@'", "empty suffix");
	refused("a@b@c", "one '@'", "two '@'");
	refused("a@b/@x", "one '@'", "empty local part of the mailbox address");
	refused("CORP\\jsmith\\sales@", "one '@'", "empty suffix of the mailbox address");
	refused("a@/john", "one '@'", "empty suffix of the upn");
	refused("CO@RP\\jsmith\\john", "one mailbox only", "'@' in the first of three parts reads as a UPN");
	refused("CORP\\js@mith\\john", "account name", "'@' in the account of three parts");
	refused("CORP\\js@mith", "account name", "'@' in the account of two parts (upn/x is upn first)");
	refused(" jsmith", "space", "leading space");
	refused("jsmith ", "space", "trailing space");
	refused("CORP\\ jsmith", "space", "leading space in a part");
	refused_len("js\0mith", 7, "NUL", "NUL inside");
	refused_len("jsmith\0", 7, "NUL", "NUL at the end");
	refused("js\nmith", "control", "newline");
	refused("js\rmith", "control", "carriage return");
	refused("js\tmith", "control", "tab");
	refused("js\x7fmith", "control", "DEL");
	refused("js\x1bmith", "control", "escape");
	refused("js\xc2\x9bmith", "UTF-8", "C1 control (CSI)");
	refused("j\xffsmith", "UTF-8", "byte 0xff");
	refused("j\xc3smith", "UTF-8", "truncated sequence");
	refused("j\xc0\xafsmith", "UTF-8", "overlong encoding");
	refused("j\xed\xa0\x80smith", "UTF-8", "UTF-16 surrogate");
	refused("j\xf4\x90\x80\x80", "UTF-8", "above U+10FFFF");
	refused("\xc3", "UTF-8", "lone lead byte");

	memset(longname, 'a', XI_LOGON_NAME_MAX);
	longname[XI_LOGON_NAME_MAX] = '\0';
	parses(longname, W(XI_LOGON_BARE, "", longname, "", "", false), "name of exactly the limit");
	memset(longname, 'a', XI_LOGON_NAME_MAX + 1);
	longname[XI_LOGON_NAME_MAX + 1] = '\0';
	refused(longname, "longer than", "name one byte over the limit");
	refused_len(longname, 100000, "longer than", "huge length refused before reading it");

	/* --- NTLM ------------------------------------------------------------ */
	ntlm_parses("CORP", "jsmith", W(XI_LOGON_DOMAIN_ACCOUNT, "CORP", "jsmith", "", "", false),
		    "(domain, account)");
	ntlm_parses("CORP", "jsmith\\john",
		    W(XI_LOGON_DOMAIN_ACCOUNT_ALIAS, "CORP", "jsmith", "", "john", false),
		    "(domain, account\\alias)");
	ntlm_parses("CORP", "jsmith/john",
		    W(XI_LOGON_DOMAIN_ACCOUNT_ALIAS, "CORP", "jsmith", "", "john", false),
		    "(domain, account/alias)");
	ntlm_parses("CORP", "jsmith/sales@corp.example",
		    W(XI_LOGON_DOMAIN_ACCOUNT_ADDRESS, "CORP", "jsmith", "", "sales@corp.example", true),
		    "(domain, account/mailbox@addr)");
	ntlm_parses("CORP", "jsmith@corp.example",
		    W(XI_LOGON_AT, "CORP", "", "jsmith@corp.example", "", false),
		    "(domain, upn): domain kept beside the UPN");
	ntlm_parses("", "jsmith@corp.example",
		    W(XI_LOGON_AT, "", "", "jsmith@corp.example", "", false), "('', upn)");
	ntlm_parses(NULL, "CORP\\jsmith\\john",
		    W(XI_LOGON_DOMAIN_ACCOUNT_ALIAS, "CORP", "jsmith", "", "john", false),
		    "(NULL, DOMAIN\\account\\alias) parsed as typed");
	ntlm_parses("", "jsmith", W(XI_LOGON_BARE, "", "jsmith", "", "", false), "('', bare name)");
	ntlm_refused("CORP", "", "empty", "empty user");
	ntlm_refused(NULL, NULL, "empty", "NULL user");
	ntlm_refused("CORP", "a\\b\\c", "too many separators", "user with three parts");
	ntlm_refused("CO\\RP", "jsmith", "separator", "domain with a separator");
	ntlm_refused("CORP", "jsmith\\", "empty", "empty alias");
	ntlm_refused("CORP", "js@mith\\john", "account name", "'@' in the account");
	ntlm_refused("CO@RP", "jsmith", "domain name cannot contain '@'", "'@' in the domain");
	ntlm_refused("CORP", "js\nmith", "control", "control byte in the user");
	ntlm_refused("CO\x01RP", "jsmith", "control", "control byte in the domain");
	ntlm_refused("CORP", "j\xffsmith", "UTF-8", "invalid UTF-8 in the user");
	ntlm_refused(" CORP", "jsmith", "space", "leading space in the domain");
	memset(longname, 'a', XI_LOGON_NAME_MAX - 5);
	longname[XI_LOGON_NAME_MAX - 5] = '\0';
	ntlm_refused("CORPX", longname, "together", "domain + user over the limit");
	ntlm_parses("CORP", longname,
		    W(XI_LOGON_DOMAIN_ACCOUNT, "CORP", longname, "", "", false),
		    "domain + user exactly at the limit");

	tap_is_str(xi_logon_form_name(XI_LOGON_UPN_ADDRESS), "upn_address", "form names are stable");
	return tap_done();
}
