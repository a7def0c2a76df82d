/* base64: strict decoding of hostile input (what {SSHA} values go through). */
#include <string.h>

#include "base64.h"
#include "tap.h"

static int dec(const char *in, uint8_t *out, size_t size)
{
	return xi_base64_decode(in, strlen(in), out, size);
}

int main(void)
{
	uint8_t out[16];

	tap_is_int(dec("Zm9vYmFy", out, sizeof(out)), 6, "foobar decodes");
	tap_ok(memcmp(out, "foobar", 6) == 0, "to the right bytes");
	tap_is_int(dec("Zm9vYg==", out, sizeof(out)), 4, "two '=' of padding");
	tap_is_int(dec("Zm9vYmE=", out, sizeof(out)), 5, "one '=' of padding");
	tap_is_int(dec("", out, sizeof(out)), -1, "empty refused");
	tap_is_int(dec("Zm9", out, sizeof(out)), -1, "length not a multiple of four refused");
	tap_is_int(dec("Zm9vYh==", out, sizeof(out)), -1, "non-canonical bits under '==' refused");
	tap_is_int(dec("Zm9vYmF=", out, sizeof(out)), -1, "non-canonical bits under '=' refused");
	tap_is_int(dec("Zg==Zm9v", out, sizeof(out)), -1, "padding before the end refused");
	tap_is_int(dec("Z===", out, sizeof(out)), -1, "three '=' refused");
	tap_is_int(dec("====", out, sizeof(out)), -1, "only padding refused");
	tap_is_int(dec("Zm9v YmFy", out, sizeof(out)), -1, "a blank refused");
	tap_is_int(dec("Zm9v\nYmFy", out, sizeof(out)), -1, "a newline refused");
	tap_is_int(dec("Zm9-YmFy", out, sizeof(out)), -1, "the URL alphabet refused");
	tap_is_int(xi_base64_decode("Zm9v\0mFy", 8, out, sizeof(out)), -1, "a NUL refused");
	tap_is_int(dec("Zm9vYmFy", out, 5), -1, "output one byte too small refused");
	tap_is_int(dec("Zm9vYmFy", out, 6), 6, "output exactly big enough");
	tap_is_int(dec("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", out, sizeof(out)), -1,
		   "24 bytes into 16 refused");
	return tap_done();
}
