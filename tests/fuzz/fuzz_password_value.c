/* libFuzzer target: userPassword values as a directory might hold them.
 * Only the salted-SHA schemes are verified (crypt and argon2 cost tens of
 * milliseconds a call, which would starve the fuzzer); every value is
 * classified, which exercises the scheme and {CRYPT} method parsing. */
#include <stdint.h>
#include <stdlib.h>

#include "password_hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum xi_password_scheme scheme;
	struct xi_error err;
	int ret;

	if (xi_password_scheme_of((const char *)data, size, &scheme, &err) < 0)
		return 0;
	if (scheme != XI_PW_SSHA && scheme != XI_PW_SSHA256 && scheme != XI_PW_SSHA512)
		return 0;
	ret = xi_password_verify("Correct horse 1", (const char *)data, size, &err);
	if (ret < -1 || ret > 1 || (ret == -1 && err.status == XI_OK))
		abort();
	return 0;
}
