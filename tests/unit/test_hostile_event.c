/* event lines from hostile values: byte sequences that a lenient UTF-8
 * reader, a terminal or a log viewer would turn into a line break, a
 * control or reordered text must be escaped, not written as they are. */
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "tap.h"

static const char *line_for(const char *login, char *buf, size_t size)
{
	struct xi_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.id = 13003;
	ev.login = login;
	xi_event_format(&ev, buf, size);
	return buf;
}

static void escaped(const char *login, const char *want, const char *what)
{
	char buf[512];

	line_for(login, buf, sizeof(buf));
	if (!tap_ok(strstr(buf, want) != NULL, "%s escaped", what))
		tap_diag("  line: %s", buf);
}

int main(void)
{
	char buf[512];

	escaped("a\xe0\x80\x8a" "b", "login=\"a\\xe0\\x80\\x8ab\"", "overlong newline (E0 80 8A)");
	escaped("a\xc0\x8a", "login=\"a\\xc0\\x8a\"", "two-byte overlong newline (C0 8A)");
	escaped("\xe0\x82\x9b", "login=\"\\xe0\\x82\\x9b\"", "overlong C1 CSI (E0 82 9B)");
	escaped("\xf0\x80\x80\x8a", "login=\"\\xf0\\x80\\x80\\x8a\"", "four-byte overlong newline");
	escaped("\xed\xa0\x80", "login=\"\\xed\\xa0\\x80\"", "UTF-16 surrogate (ED A0 80)");
	escaped("\xf4\x90\x80\x80", "login=\"\\xf4\\x90\\x80\\x80\"", "code point above U+10FFFF");
	escaped("ok\xe2\x80\xa8" "event=11202", "login=\"ok\\xe2\\x80\\xa8event=11202\"",
		"U+2028 line separator");
	escaped("\xe2\x80\xa9", "login=\"\\xe2\\x80\\xa9\"", "U+2029 paragraph separator");
	escaped("user\xe2\x80\xae" "nimda", "login=\"user\\xe2\\x80\\xaenimda\"",
		"U+202E right-to-left override");
	escaped("\xe2\x81\xa6x", "login=\"\\xe2\\x81\\xa6x\"", "U+2066 left-to-right isolate");

	/* What must still pass bare. */
	line_for("J\xc3\xb6rg", buf, sizeof(buf));
	tap_ok(strstr(buf, "login=J\xc3\xb6rg") != NULL, "Latin-1 letter stays bare");
	line_for("\xe4\xb8\xad\xe6\x96\x87", buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\xe4\xb8\xad\xe6\x96\x87") != NULL, "CJK stays bare");
	line_for("\xf0\x9f\x98\x80", buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\xf0\x9f\x98\x80") != NULL, "four-byte emoji stays bare");
	line_for("\xc2\xa0x", buf, sizeof(buf));
	tap_ok(strstr(buf, "login=\xc2\xa0x") != NULL, "U+00A0 (first after C1) stays bare");
	return tap_done();
}
