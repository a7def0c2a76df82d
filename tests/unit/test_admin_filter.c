/*
 * The CLI's filter values (tools/admin.c): a glob that does not fit is an
 * error and leaves no truncated filter behind, and one that just fits is
 * whole.
 */
#include "xident-config.h"

#include <string.h>

#include "admin.h"
#include "tap.h"

int main(void)
{
	char glob[4 * 200 + 8], out[512];
	struct xi_error err;
	size_t i;

	/* Four 199-byte chunks: each escapes to itself, together they are far
	 * longer than out, so the writing position passes its end. */
	glob[0] = '\0';
	for (i = 0; i < 4; i++) {
		memset(glob + strlen(glob), 'a', 199);
		glob[(i + 1) * 200 - 1] = '\0';
		if (i < 3)
			strcat(glob, "*");
	}
	memset(out, 'x', sizeof(out));
	tap_is_int(xi_admin_glob_value(glob, out, sizeof(out), &err), -1, "a glob longer than the buffer is refused");
	tap_ok(strstr(err.message, "too long") != NULL, "as too long: %s", err.message);
	tap_is_int(out[0], '\0', "and leaves no truncated filter value behind");

	tap_is_int(xi_admin_glob_value("ab*c(d*", out, 10, &err), 0, "a glob that just fits");
	tap_is_str(out, "ab*c\\28d*", "escaped, stars kept");
	tap_is_int(xi_admin_glob_value("ab*c(d*", out, 9, &err), -1, "one byte less: refused");
	tap_is_int(out[0], '\0', "nothing left behind");
	return tap_done();
}
