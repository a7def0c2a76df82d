/* outcome: the table of design.md sections 3 and 4, and the client-text
 * formatter. */
#include <string.h>

#include "outcome.h"
#include "tap.h"

static const char *str(const char *s)
{
	return s;
}

struct row {
	enum xi_outcome outcome;
	const char *name;
	unsigned id;
	enum xi_event_category cat;
};

int main(void)
{
	static const struct row rows[] = {
		{ XI_OUTCOME_OK, "ok", 11202, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_BAD_CREDENTIALS, "bad_credentials", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_INVALID_NAME, "invalid_name", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_ACCOUNT_DISABLED, "account_disabled", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_NO_MAILBOX, "no_mailbox", 13005, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_ACCESS_DENIED, "access_denied", 1023, XI_CAT_LOGONS },
		{ XI_OUTCOME_AMBIGUOUS, "ambiguous", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_PROTOCOL_DISABLED, "protocol_disabled", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_METHOD_DISABLED, "method_disabled", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_OTHER_SERVER, "other_server", 13005, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_NTLM_DISABLED, "ntlm_disabled", 13004, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_NTLM_FAILED, "ntlm_failed", 13004, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_TEMPFAIL, "tempfail", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_PLAINTEXT_DISABLED, "plaintext_disabled", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_SESSION_LIMIT, "session_limit", 13003, XI_CAT_AUTHENTICATION },
		{ XI_OUTCOME_NTLM_TIMEOUT, "ntlm_timeout", 13004, XI_CAT_AUTHENTICATION },
	};
	char buf[XI_TEXT_VALUE_MAX * 3];
	char tiny[12];
	char big[1000];

	tap_is_int(sizeof(rows) / sizeof(rows[0]), XI_OUTCOME__COUNT, "every outcome has a row here");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct xi_outcome_info *info = xi_outcome_info(rows[i].outcome);

		tap_is_int(info->outcome, rows[i].outcome, "%s: row is in enum order", rows[i].name);
		tap_is_str(info->name, rows[i].name, "%s: name", rows[i].name);
		tap_is_int(info->event_id, rows[i].id, "%s: event id %u", rows[i].name, rows[i].id);
		tap_is_int(info->category, rows[i].cat, "%s: category", rows[i].name);
		tap_ok(info->severity != NULL && info->severity[0] != '\0', "%s: severity", rows[i].name);
		tap_ok(info->remedy != NULL && strlen(info->remedy) > 10, "%s: remedy", rows[i].name);
		if (rows[i].outcome != XI_OUTCOME_OK)
			tap_ok(info->client_text != NULL && strlen(info->client_text) > 10,
			       "%s: client text", rows[i].name);
		tap_is_int(info->level, rows[i].outcome == XI_OUTCOME_OK ||
				      rows[i].outcome == XI_OUTCOME_OTHER_SERVER ?
				      XI_LEVEL_MINIMUM : XI_LEVEL_NONE,
			   "%s: level", rows[i].name);
		tap_is_int(info->temporary, rows[i].outcome == XI_OUTCOME_TEMPFAIL ||
					    rows[i].outcome == XI_OUTCOME_SESSION_LIMIT,
			   "%s: temporary only for tempfail and the session limit", rows[i].name);
		tap_ok(info->pop3_code != NULL && info->imap_code != NULL &&
		       (rows[i].outcome == XI_OUTCOME_OK) == (info->pop3_code[0] == '\0') &&
		       (rows[i].outcome == XI_OUTCOME_OK) == (info->imap_code[0] == '\0'),
		       "%s: POP3 and IMAP response codes (%s, %s)", rows[i].name,
		       info->pop3_code != NULL ? info->pop3_code : "-",
		       info->imap_code != NULL ? info->imap_code : "-");
		tap_ok(xi_outcome_by_name(rows[i].name) == info, "%s: found by name", rows[i].name);
	}
	tap_is_str(xi_outcome_info(XI_OUTCOME_OK)->severity, "success", "ok is a success audit");
	tap_ok(xi_outcome_by_name("no_such_outcome") == NULL && xi_outcome_by_name(NULL) == NULL,
	       "an unknown name finds no row");
	tap_is_str(xi_outcome_info(XI_OUTCOME_TEMPFAIL)->pop3_code, "SYS/TEMP", "tempfail is [SYS/TEMP]");
	tap_ok(strstr(xi_outcome_info(XI_OUTCOME_NTLM_TIMEOUT)->remedy, "ntlm_exchange_timeout") != NULL,
	       "ntlm_timeout's remedy names the key to raise");
	tap_is_str(xi_outcome_info(XI_OUTCOME_SESSION_LIMIT)->pop3_code, "IN-USE",
		   "the session limit is [IN-USE]");
	tap_is_str(xi_outcome_info(XI_OUTCOME_PLAINTEXT_DISABLED)->client_text,
		   "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
		   "plaintext refusal says what Dovecot says");
	tap_is_str(xi_outcome_info(XI_OUTCOME_PLAINTEXT_DISABLED)->imap_code, "PRIVACYREQUIRED",
		   "plaintext refusal is [PRIVACYREQUIRED] on IMAP (RFC 5530)");
	tap_is_str(xi_outcome_info((enum xi_outcome)99)->name, "tempfail",
		   "an out-of-range outcome reads as tempfail, never ok");

	/* Texts of design.md section 3, word for word. */
	tap_is_str(xi_outcome_info(XI_OUTCOME_BAD_CREDENTIALS)->client_text,
		   "Logon failure: unknown user name or bad password.", "bad credentials text");
	tap_is_str(xi_outcome_info(XI_OUTCOME_INVALID_NAME)->client_text,
		   xi_outcome_info(XI_OUTCOME_BAD_CREDENTIALS)->client_text,
		   "an invalid name is told as bad credentials");
	tap_is_str(xi_outcome_info(XI_OUTCOME_NTLM_FAILED)->client_text,
		   xi_outcome_info(XI_OUTCOME_BAD_CREDENTIALS)->client_text,
		   "a failed NTLM exchange is told as bad credentials");
	tap_is_str(xi_outcome_info(XI_OUTCOME_NTLM_DISABLED)->client_text,
		   "The NTLM Authentication package has been disabled for this protocol.",
		   "NTLM disabled text");

	{
		const char *args[] = { "sales", "CORP\\jsmith" };

		xi_outcome_client_text(XI_OUTCOME_ACCESS_DENIED, args, 2, buf, sizeof(buf));
		tap_is_str(str(buf), "Access to mailbox sales is denied for CORP\\jsmith",
			   "access denied names mailbox and account");
	}
	{
		const char *args[] = { "POP3" };

		xi_outcome_client_text(XI_OUTCOME_PROTOCOL_DISABLED, args, 1, buf, sizeof(buf));
		tap_is_str(str(buf), "POP3 is disabled for this mailbox", "POP3 disabled text");
	}
	{
		const char *args[] = { "partner is a custom recipient (SMTP:p@example.net)" };

		xi_outcome_client_text(XI_OUTCOME_NO_MAILBOX, args, 1, buf, sizeof(buf));
		tap_is_str(str(buf), "The requested mailbox is not available on this server. "
			   "partner is a custom recipient (SMTP:p@example.net)",
			   "no mailbox text says what the name is");
		xi_outcome_client_text(XI_OUTCOME_NO_MAILBOX, NULL, 0, buf, sizeof(buf));
		tap_is_str(str(buf), "The requested mailbox is not available on this server.",
			   "no mailbox text without detail has no trailing space");
	}
	{
		const char *args[] = { "jsmith", "CORP\\jsmith\\jsmith" };

		xi_outcome_client_text(XI_OUTCOME_AMBIGUOUS, args, 2, buf, sizeof(buf));
		tap_is_str(str(buf), "Ambiguous Alias: the logon name jsmith is ambiguous; log on as "
			   "CORP\\jsmith\\jsmith "
			   "(DOMAIN\\account\\alias).", "ambiguous names the three-part form");
	}
	{
		const char *args[] = { "sales", "mail2.corp.example" };

		xi_outcome_client_text(XI_OUTCOME_OTHER_SERVER, args, 2, buf, sizeof(buf));
		tap_ok(strstr(buf, "mail2.corp.example") != NULL, "referral names the server: %s", buf);
	}
	xi_outcome_client_text(XI_OUTCOME_TEMPFAIL, NULL, 0, buf, sizeof(buf));
	tap_ok(strstr(buf, "temporarily") != NULL && strstr(buf, "password") == NULL,
	       "tempfail never speaks of a bad password");
	{
		const char *args[] = { "cn=xident,dc=corp,dc=example", "xidentNTHash",
				       "cn=jsmith,ou=accounts,dc=corp,dc=example" };

		xi_text_fill(XI_CAUSE_PRIVILEGE_NOT_HELD, args, 3, buf, sizeof(buf));
		tap_is_str(str(buf), "A required privilege is not held by the client: "
			   "cn=xident,dc=corp,dc=example may not read xidentNTHash of "
			   "cn=jsmith,ou=accounts,dc=corp,dc=example",
			   "tempfail cause names the service DN, the attribute and the entry");
	}
	tap_is_int(xi_outcome_client_text(XI_OUTCOME_OK, NULL, 0, buf, sizeof(buf)), 0,
		   "ok has no client text");

	/* Hostile values. */
	{
		const char *args[] = { "x\r\nA1 OK LOGIN done", "CORP\\\x1b[2J" };

		xi_outcome_client_text(XI_OUTCOME_ACCESS_DENIED, args, 2, buf, sizeof(buf));
		tap_is_str(str(buf), "Access to mailbox x??A1 OK LOGIN done is denied for CORP\\?[2J",
			   "CR, LF and ESC in values become '?'");
	}
	{
		const char *args[] = { "%s%s%n" };

		xi_text_fill("a %s b %s", args, 1, buf, sizeof(buf));
		tap_is_str(str(buf), "a %s%s%n b", "a value's percent signs are not placeholders; a missing arg is empty");
	}
	xi_text_fill("100%% sure", NULL, 0, buf, sizeof(buf));
	tap_is_str(str(buf), "100% sure", "%% is a percent sign");
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		const char *args[] = { big };

		tap_is_int(xi_text_fill("[%s]", args, 1, buf, sizeof(buf)), XI_TEXT_VALUE_MAX + 2,
			   "a long value is cut to XI_TEXT_VALUE_MAX");
	}
	{
		const char *args[] = { "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" };

		tap_is_int(xi_text_fill("ab%s", args, 1, tiny, sizeof(tiny)), 10,
			   "the output is cut to the buffer, on a UTF-8 boundary");
		tap_is_str(str(tiny), "ab\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "cut output is whole characters");
	}
	tap_is_int(xi_text_fill("abc", NULL, 0, tiny, 0), 0, "zero-size buffer tolerated");

	tap_is_int(xi_outcome_event_id(XI_OUTCOME_PROTOCOL_DISABLED, "pop3"), 11310,
		   "POP3 disabled logs 11310 (POP3 LOGIN FAILURE)");
	tap_is_int(xi_outcome_event_id(XI_OUTCOME_PROTOCOL_DISABLED, "imap"), 13003,
		   "IMAP disabled logs 13003");
	tap_is_int(xi_outcome_event_id(XI_OUTCOME_PROTOCOL_DISABLED, NULL), 13003,
		   "no protocol: the table's id");
	tap_is_int(xi_outcome_event_id(XI_OUTCOME_OK, "pop3"), 11202, "other outcomes keep their id");
	tap_is_str(xi_category_name(XI_CAT_CLIENT_ACTIONS), "Client Actions", "category names");
	return tap_done();
}
