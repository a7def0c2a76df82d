/* xi_error: the typed result every core call returns. */
#include <string.h>

#include "tap.h"
#include "xi_error.h"

int main(void)
{
	struct xi_error err;
	char big[2 * XI_ERROR_MESSAGE_MAX];

	xi_error_clear(&err);
	tap_is_int(err.status, XI_OK, "cleared error is XI_OK");
	tap_is_str(err.message, "", "cleared error has an empty message");

	tap_is_int(xi_error_set(&err, XI_ERR_TEMP, "server %s down", "ldap://x"), -1,
		   "xi_error_set returns -1 for `return xi_error_set(...)`");
	tap_is_int(err.status, XI_ERR_TEMP, "status kept");
	tap_is_str(err.message, "server ldap://x down", "message formatted");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	xi_error_set(&err, XI_ERR_INVALID, "%s", big);
	tap_is_int(strlen(err.message), XI_ERROR_MESSAGE_MAX - 1, "over-long message truncated, terminated");

	tap_is_int(xi_error_set(NULL, XI_ERR_IO, "x"), -1, "NULL error tolerated");
	tap_is_str(xi_status_name(XI_ERR_TEMP), "temp", "status names are stable");
	return tap_done();
}
