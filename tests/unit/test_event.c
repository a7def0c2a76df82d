/* event: the key=value line, escaping of hostile values, level filtering. */
#include <string.h>

#include "event.h"
#include "tap.h"

static const char *str(const char *s)
{
	return s;
}

struct capture {
	int count;
	char line[XI_EVENT_LINE_MAX];
};

static void capture_sink(void *ctx, const struct xi_event *ev, const char *line)
{
	struct capture *c = ctx;

	c->count++;
	snprintf(c->line, sizeof(c->line), "%s", line);
}

static int emitted(const struct xi_event_levels *lv, enum xi_event_category cat,
		   enum xi_diag_level level)
{
	struct capture c = { 0, "" };
	struct xi_event ev = { .id = 1, .category = cat, .level = level, .severity = "x" };

	xi_event_emit(lv, capture_sink, &c, &ev);
	return c.count;
}

int main(void)
{
	struct xi_event ev;
	struct xi_event_levels lv;
	struct capture c = { 0, "" };
	char buf[XI_EVENT_LINE_MAX];
	char big[3000];
	size_t n;

	/* --- exact line ------------------------------------------------------- */
	xi_event_from_outcome(&ev, XI_OUTCOME_BAD_CREDENTIALS, "imap");
	ev.remote = "127.0.0.1";
	ev.login = "CORP\\jsmith";
	ev.account_dn = "cn=jsmith,ou=accounts,dc=corp,dc=example";
	ev.cause = "wrong password";
	ev.remedy = "Check it.";
	n = xi_event_format(&ev, buf, sizeof(buf));
	tap_is_str(str(buf), "event=13003 category=Authentication level=0 severity=failure "
		   "outcome=bad_credentials protocol=imap remote=127.0.0.1 login=\"CORP\\\\jsmith\" "
		   "account_dn=\"cn=jsmith,ou=accounts,dc=corp,dc=example\" cause=\"wrong password\" "
		   "remedy=\"Check it.\"", "exact line for a known event (NULL fields left out)");
	tap_is_int(n, strlen(buf), "returns the length written");

	xi_event_from_outcome(&ev, XI_OUTCOME_OK, "pop3");
	ev.resolved = "CORP\\jsmith -> john";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strncmp(buf, "event=11202 category=Authentication level=1 severity=success outcome=ok "
		       "protocol=pop3 resolved=\"CORP\\\\jsmith -> john\" remedy=", 116) == 0,
	       "success audit line: %s", buf);
	xi_event_from_outcome(&ev, XI_OUTCOME_PROTOCOL_DISABLED, "pop3");
	tap_is_int(ev.id, 11310, "from_outcome uses the per-protocol id");
	xi_event_from_outcome(&ev, XI_OUTCOME_ACCESS_DENIED, "imap");
	tap_ok(ev.id == 1023 && ev.category == XI_CAT_LOGONS, "access denied: 1023 in Logons");
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "category=Logons ") != NULL, "category name in the line");

	/* --- hostile values --------------------------------------------------- */
	memset(&ev, 0, sizeof(ev));
	ev.id = 13003;
	ev.severity = "failure";
	ev.login = "evil\nevent=11202 outcome=ok";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strchr(buf, '\n') == NULL && strstr(buf, "login=\"evil\\nevent=11202 outcome=ok\"") != NULL,
	       "newline escaped: one line, injected pairs stay inside the quotes");
	ev.login = "a\"b c=\\d";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\"a\\\"b c=\\\\d\"") != NULL, "quote and backslash escaped: %s", buf);
	ev.login = "\r\t\x01\x7f";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\"\\r\\t\\x01\\x7f\"") != NULL, "CR, tab, C0 and DEL escaped: %s", buf);
	ev.login = "\xc2\x9b" "31m";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\"\\xc2\\x9b31m\"") != NULL, "C1 control (CSI) escaped: %s", buf);
	ev.login = "J\xc3\xb6rg";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "login=J\xc3\xb6rg") != NULL, "UTF-8 name passes bare");
	ev.login = "J\xffrg";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\"J\\xffrg\"") != NULL, "invalid UTF-8 escaped and quoted: %s", buf);
	ev.login = "\xe2\x82";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\"\\xe2\\x82\"") != NULL, "truncated sequence at the end escaped");
	ev.login = "";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\"\"") != NULL, "empty value quoted");
	ev.login = "a=b";
	xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\"a=b\"") != NULL, "'=' in a value quoted");

	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.login = big;
	ev.cause = big;
	ev.remedy = big;
	ev.account_dn = big;
	ev.mailbox_dn = big;
	ev.resolved = big;
	ev.remote = big;
	ev.protocol = big;
	ev.outcome = big;
	ev.severity = big;
	n = xi_event_format(&ev, buf, sizeof(buf));
	tap_ok(n < sizeof(buf), "ten huge hostile values still fit one line (%zu bytes)", n);
	tap_ok(strstr(buf, "login=\"") != NULL && strstr(buf, "...\"") != NULL, "cut values end with ...");
	{
		const char *v = strstr(buf, "login=\"") + 7;
		const char *end = strstr(v, "...\"");

		tap_is_int(end - v, XI_EVENT_VALUE_MAX, "a value holds at most XI_EVENT_VALUE_MAX bytes");
	}
	n = xi_event_format(&ev, buf, 10);
	tap_ok(n > 1000 && strlen(buf) == 9, "small buffer: cut and terminated, full length returned");
	tap_is_int(xi_event_format(&ev, buf, 0), n, "zero-size buffer: length only");

	/* --- level filter ------------------------------------------------------ */
	xi_event_levels_set_all(&lv, XI_LEVEL_NONE);
	tap_is_int(emitted(&lv, XI_CAT_AUTHENTICATION, XI_LEVEL_NONE), 1, "none: errors still written");
	tap_is_int(emitted(&lv, XI_CAT_AUTHENTICATION, XI_LEVEL_MINIMUM), 0, "none: level 1 dropped");
	xi_event_levels_set_all(&lv, XI_LEVEL_MINIMUM);
	tap_is_int(emitted(&lv, XI_CAT_AUTHENTICATION, XI_LEVEL_MINIMUM), 1, "minimum: level 1 written");
	tap_is_int(emitted(&lv, XI_CAT_AUTHENTICATION, XI_LEVEL_MEDIUM), 0, "minimum: level 3 dropped");
	xi_event_levels_set_all(&lv, XI_LEVEL_MEDIUM);
	tap_is_int(emitted(&lv, XI_CAT_LOGONS, XI_LEVEL_MEDIUM), 1, "medium: level 3 written");
	tap_is_int(emitted(&lv, XI_CAT_LOGONS, XI_LEVEL_MAXIMUM), 0, "medium: level 5 dropped");
	xi_event_levels_set_all(&lv, XI_LEVEL_MAXIMUM);
	tap_is_int(emitted(&lv, XI_CAT_CONNECTIONS, XI_LEVEL_MAXIMUM), 1, "maximum: level 5 written");
	tap_is_int(emitted(&lv, XI_CAT_CONNECTIONS, XI_LEVEL_NONE), 1, "maximum: errors written");
	xi_event_levels_set_all(&lv, XI_LEVEL_NONE);
	lv.level[XI_CAT_LOGONS] = XI_LEVEL_MAXIMUM;
	tap_is_int(emitted(&lv, XI_CAT_LOGONS, XI_LEVEL_MEDIUM), 1, "per category: Logons at maximum");
	tap_is_int(emitted(&lv, XI_CAT_AUTHENTICATION, XI_LEVEL_MEDIUM), 0,
		   "per category: Authentication still at none");
	tap_is_int(emitted(&lv, (enum xi_event_category)42, XI_LEVEL_MINIMUM), 0,
		   "unknown category: only errors pass");

	tap_is_int(emitted(NULL, XI_CAT_LOGONS, XI_LEVEL_MINIMUM), 1, "no levels: minimum written");
	tap_is_int(emitted(NULL, XI_CAT_LOGONS, XI_LEVEL_MEDIUM), 0, "no levels: medium dropped");

	xi_event_levels_set_all(&lv, XI_LEVEL_NONE);
	xi_event_from_outcome(&ev, XI_OUTCOME_OK, "imap");
	xi_event_emit(&lv, capture_sink, &c, &ev);
	tap_is_int(c.count, 0, "success audit dropped at none");
	xi_event_from_outcome(&ev, XI_OUTCOME_BAD_CREDENTIALS, "imap");
	xi_event_emit(&lv, capture_sink, &c, &ev);
	tap_ok(c.count == 1 && strncmp(c.line, "event=13003 ", 12) == 0,
	       "logon failure written at none, formatted for the sink");
	xi_event_emit(&lv, NULL, NULL, &ev);
	tap_ok(1, "NULL sink drops silently");
	return tap_done();
}
