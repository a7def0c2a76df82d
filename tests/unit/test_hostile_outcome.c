/* Client texts filled with hostile values: a typed name or a directory value
 * goes back to the client (and into logs), so anything but printable UTF-8
 * must become '?': controls, C1 controls, ill-formed and overlong bytes. */
#include <string.h>

#include "outcome.h"
#include "tap.h"

static const char *fill(const char *value, char *buf, size_t size)
{
	const char *args[1] = { value };

	xi_text_fill("[%s]", args, 1, buf, size);
	return buf;
}

int main(void)
{
	char buf[600];

	tap_is_str(fill("a\r\n* OK fake", buf, sizeof(buf)), "[a?\?* OK fake]", "CR LF become '?'");
	tap_is_str(fill("\xc2\x9b" "31m", buf, sizeof(buf)), "[?\?31m]",
		   "C1 control (U+009B as UTF-8) becomes '?' per byte");
	tap_is_str(fill("x\xffy", buf, sizeof(buf)), "[x?y]", "a stray byte becomes '?'");
	tap_is_str(fill("\xc0\xaf", buf, sizeof(buf)), "[?\?]", "overlong '/' becomes '?\?'");
	tap_is_str(fill("\xe0\x80\x8a", buf, sizeof(buf)), "[?\?\?]", "overlong newline becomes '?\?\?'");
	tap_is_str(fill("\xed\xa0\x80", buf, sizeof(buf)), "[?\?\?]", "surrogate becomes '?\?\?'");
	tap_is_str(fill("\xe2\x82", buf, sizeof(buf)), "[?\?]", "truncated sequence becomes '?\?'");
	tap_is_str(fill("J\xc3\xb6rg \xe4\xb8\xad \xf0\x9f\x98\x80", buf, sizeof(buf)),
		   "[J\xc3\xb6rg \xe4\xb8\xad \xf0\x9f\x98\x80]", "printable UTF-8 kept");
	/* The template itself is ours and is copied as it is. */
	{
		const char *args[1] = { "v" };

		xi_text_fill("J\xc3\xb6rg %s", args, 1, buf, sizeof(buf));
		tap_ok(strcmp(buf, "J\xc3\xb6rg v") == 0, "template text copied as it is");
	}
	/* Cut short in a small buffer: never half a character. */
	tap_is_str(fill("\xc3\xb6\xc3\xb6\xc3\xb6", buf, 5), "[\xc3\xb6",
		   "cut on a character boundary");
	return tap_done();
}
