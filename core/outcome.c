/* The one table of outcomes: design.md section 3 (client texts) and
 * section 4 (event ids, categories, levels). */
#include "outcome.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "unicode.h"

#define BAD_CREDENTIALS_TEXT "Logon failure: unknown user name or bad password."

static const struct xi_outcome_info outcomes[XI_OUTCOME__COUNT] = {
	[XI_OUTCOME_OK] = {
		XI_OUTCOME_OK, "ok", 11202, XI_CAT_AUTHENTICATION, XI_LEVEL_MINIMUM, "success",
		"",
		"None: the logon succeeded.", 0, "", "" },
	[XI_OUTCOME_BAD_CREDENTIALS] = {
		XI_OUTCOME_BAD_CREDENTIALS, "bad_credentials", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		BAD_CREDENTIALS_TEXT,
		"If the user is sure of the password, check how the logon name resolves with "
		"`xident resolve NAME`; many failures from one address may be a password-guessing attack.",
		0, "AUTH", "AUTHENTICATIONFAILED" },
	[XI_OUTCOME_INVALID_NAME] = {
		XI_OUTCOME_INVALID_NAME, "invalid_name", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		BAD_CREDENTIALS_TEXT,
		"The client sent a name that is no logon name: tell the user to log on as "
		"DOMAIN\\account\\alias, DOMAIN\\account, account, alias or user@domain.",
		0, "AUTH", "AUTHENTICATIONFAILED" },
	[XI_OUTCOME_ACCOUNT_DISABLED] = {
		XI_OUTCOME_ACCOUNT_DISABLED, "account_disabled", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"Logon failure: account currently disabled.",
		"Enable the account in the directory if this user should log on.", 0, "AUTH", "AUTHENTICATIONFAILED" },
	[XI_OUTCOME_NO_MAILBOX] = {
		XI_OUTCOME_NO_MAILBOX, "no_mailbox", 13005, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"The requested mailbox is not available on this server. %s",
		"The name is a custom recipient, a distribution list or an account without a "
		"mailbox: log on with the alias of a real mailbox, or create a mailbox for the account.",
		0, "AUTH", "CONTACTADMIN" },
	[XI_OUTCOME_ACCESS_DENIED] = {
		XI_OUTCOME_ACCESS_DENIED, "access_denied", 1023, XI_CAT_LOGONS,
		XI_LEVEL_NONE, "error",
		"Access to mailbox %s is denied for %s",
		"Make the account the mailbox's primary account or a delegate of it "
		"(`xident mailbox grant ALIAS DOMAIN\\account`), or log on with the account that owns the mailbox.",
		0, "AUTH", "AUTHORIZATIONFAILED" },
	[XI_OUTCOME_AMBIGUOUS] = {
		XI_OUTCOME_AMBIGUOUS, "ambiguous", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"Ambiguous Alias: the logon name %s is ambiguous; log on as %s (DOMAIN\\account\\alias).",
		"Tell the user to log on with the three-part name DOMAIN\\account\\alias, or make "
		"the alias unique, or name the account's own mailbox after the account.",
		0, "AUTH", "CONTACTADMIN" },
	[XI_OUTCOME_PROTOCOL_DISABLED] = {
		XI_OUTCOME_PROTOCOL_DISABLED, "protocol_disabled", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"%s is disabled for this mailbox",
		"Enable the protocol for the mailbox (its protocols attribute) and on this server "
		"(`protocols` in xident.conf), or have the user use another protocol.",
		0, "AUTH", "CONTACTADMIN" },
	[XI_OUTCOME_METHOD_DISABLED] = {
		XI_OUTCOME_METHOD_DISABLED, "method_disabled", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"%s logons are disabled for this mailbox",
		"Configure the client to use a logon method the mailbox allows, or change the "
		"mailbox's setting.",
		0, "AUTH", "CONTACTADMIN" },
	[XI_OUTCOME_OTHER_SERVER] = {
		XI_OUTCOME_OTHER_SERVER, "other_server", 13005, XI_CAT_AUTHENTICATION,
		XI_LEVEL_MINIMUM, "warning",
		"The mailbox %s is on server %s; connect to that server.",
		"Point the client at the mailbox's home server, or set home_server_action = proxy "
		"so this server forwards the session.",
		0, "AUTH", "CONTACTADMIN" },
	[XI_OUTCOME_NTLM_DISABLED] = {
		XI_OUTCOME_NTLM_DISABLED, "ntlm_disabled", 13004, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"The NTLM Authentication package has been disabled for this protocol.",
		"Add the protocol to ntlm_protocols in xident.conf, or turn off Secure Password "
		"Authentication in the client and send the password over TLS.",
		0, "AUTH", "CONTACTADMIN" },
	[XI_OUTCOME_NTLM_FAILED] = {
		XI_OUTCOME_NTLM_FAILED, "ntlm_failed", 13004, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		BAD_CREDENTIALS_TEXT,
		"The cause names the failed step: check the client's NTLM settings (NTLMv2; set "
		"ntlm_v1 = yes only for old clients), the password, and both clocks "
		"(ntlm_timestamp_window).",
		0, "AUTH", "AUTHENTICATIONFAILED" },
	[XI_OUTCOME_TEMPFAIL] = {
		XI_OUTCOME_TEMPFAIL, "tempfail", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "error",
		"The logon service is temporarily unavailable; please try again later.",
		"Check that the servers in ldap_uris answer, and that the service account "
		"(ldap_bind_dn) may read the attributes and entries named in the cause.",
		1, "SYS/TEMP", "UNAVAILABLE" },
	[XI_OUTCOME_PLAINTEXT_DISABLED] = {
		XI_OUTCOME_PLAINTEXT_DISABLED, "plaintext_disabled", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
		"Configure the client to use TLS (STLS/STARTTLS, or ports 995/993) or NTLM (Secure "
		"Password Authentication); to allow clear-text passwords without TLS set "
		"plaintext_logons = always in xident.conf (not advised: the password crosses the "
		"network readable).",
		0, "AUTH", "PRIVACYREQUIRED" },
	[XI_OUTCOME_SESSION_LIMIT] = {
		XI_OUTCOME_SESSION_LIMIT, "session_limit", 13003, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"Too many sessions for this mailbox from your address (%s); close another mail "
		"client or try again later.",
		"The user has more mail clients open from one address than max_user_sessions allows: "
		"have the user close some (or check for a client that leaves sessions open), or raise "
		"max_user_sessions in xident.conf.",
		1, "IN-USE", "LIMIT" },
	[XI_OUTCOME_NTLM_TIMEOUT] = {
		XI_OUTCOME_NTLM_TIMEOUT, "ntlm_timeout", 13004, XI_CAT_AUTHENTICATION,
		XI_LEVEL_NONE, "failure",
		"The NTLM logon took too long to complete; please try again.",
		"The client answered the NTLM challenge after ntlm_exchange_timeout: it is too slow "
		"or stalled (a slow network, a client waiting for its user); if clients are "
		"legitimately that slow, raise ntlm_exchange_timeout in xident.conf.",
		0, "AUTH", "AUTHENTICATIONFAILED" },
};

const char *xi_outcome_no_recipient_remedy(void)
{
	return "Check the recipient's address; if it should receive mail here, add it as a "
		"mailbox (`xident mailbox add`) or as a custom recipient (`xident recipient add`).";
}

const struct xi_outcome_info *xi_outcome_info(enum xi_outcome outcome)
{
	if ((unsigned)outcome >= XI_OUTCOME__COUNT)
		return &outcomes[XI_OUTCOME_TEMPFAIL];
	return &outcomes[outcome];
}

const struct xi_outcome_info *xi_outcome_by_name(const char *name)
{
	for (size_t i = 0; name != NULL && i < XI_OUTCOME__COUNT; i++)
		if (strcmp(outcomes[i].name, name) == 0)
			return &outcomes[i];
	return NULL;
}

const char *xi_category_name(enum xi_event_category cat)
{
	switch (cat) {
	case XI_CAT_AUTHENTICATION: return "Authentication";
	case XI_CAT_LOGONS: return "Logons";
	case XI_CAT_CONNECTIONS: return "Connections";
	case XI_CAT_CLIENT_ACTIONS: return "Client Actions";
	case XI_CAT_CONFIGURATION: return "Configuration";
	case XI_CAT__COUNT: break;
	}
	return "Unknown";
}

unsigned xi_outcome_event_id(enum xi_outcome outcome, const char *protocol)
{
	if (outcome == XI_OUTCOME_PROTOCOL_DISABLED && protocol != NULL &&
	    strcasecmp(protocol, "pop3") == 0)
		return 11310;
	return xi_outcome_info(outcome)->event_id;
}

/* Length of the longest prefix of s[0..len) that ends on a UTF-8 sequence
 * boundary, so a cut never leaves half a character. */
static size_t utf8_cut(const char *s, size_t len)
{
	size_t i = len;

	while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	return i;
}

struct text_out {
	char *buf;
	size_t size, len;
	bool full;
};

/* Bytes of the well-formed, printable UTF-8 character at p[0..n), or 0. */
static size_t printable_char(const char *p, size_t n)
{
	unsigned char c = (unsigned char)p[0];
	size_t seq = c >= 0x20 && c < 0x7f ? 1 : c >= 0xc2 && c <= 0xdf ? 2 :
		     c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;

	/* xi_utf8_valid_text also refuses overlongs, surrogates and C1 controls. */
	return seq > 0 && seq <= n && xi_utf8_valid_text(p, seq) ? seq : 0;
}

static void out_bytes(struct text_out *o, const char *p, size_t n, bool sanitize)
{
	size_t room, i, seq;

	if (o->full || o->size == 0)
		return;
	room = o->size - 1 - o->len;
	if (n > room) {
		/* utf8_cut looks at p[room], which exists because n > room. */
		n = utf8_cut(p, room);
		o->full = true;
	}
	for (i = 0; i < n; i += seq) {
		/* A value (a typed name, a directory value) goes to the client
		 * and into logs: anything but printable UTF-8 becomes '?', byte
		 * for byte, so the length is unchanged. */
		seq = sanitize ? printable_char(p + i, n - i) : 1;
		if (seq == 0) {
			o->buf[o->len++] = '?';
			seq = 1;
			continue;
		}
		memcpy(o->buf + o->len, p + i, seq);
		o->len += seq;
	}
}

size_t xi_text_fill(const char *text, const char *const *args, size_t nargs,
		    char *buf, size_t size)
{
	struct text_out o = { buf, size, 0, false };
	size_t next = 0;

	if (size == 0)
		return 0;
	for (const char *p = text; *p != '\0' && !o.full; p++) {
		if (p[0] == '%' && p[1] == 's') {
			const char *v = next < nargs && args[next] != NULL ? args[next] : "";
			size_t vlen = strnlen(v, XI_TEXT_VALUE_MAX + 1);

			if (vlen > XI_TEXT_VALUE_MAX)
				vlen = utf8_cut(v, XI_TEXT_VALUE_MAX);
			out_bytes(&o, v, vlen, true);
			next++;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			out_bytes(&o, "%", 1, false);
			p++;
		} else {
			out_bytes(&o, p, 1, false);
		}
	}
	while (o.len > 0 && o.buf[o.len - 1] == ' ')
		o.len--;
	o.buf[o.len] = '\0';
	return o.len;
}

size_t xi_outcome_client_text(enum xi_outcome outcome, const char *const *args, size_t nargs,
			      char *buf, size_t size)
{
	return xi_text_fill(xi_outcome_info(outcome)->client_text, args, nargs, buf, size);
}
