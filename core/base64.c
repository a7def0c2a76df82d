/*
 * base64: strict decoding.  One group of four characters at a time; only the
 * last group may hold '=' padding, and then only at its end.
 */
#include "base64.h"

#include <stdbool.h>

static int value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int xi_base64_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
	size_t pad = 0, n = 0;

	/* The decoded form is at least len / 4 * 3 - 2 bytes: refuse early what
	 * cannot fit instead of reading all of it. */
	if (in == NULL || len == 0 || len % 4 != 0 || len / 4 * 3 > (size_t)INT32_MAX ||
	    len / 4 * 3 > size + 2)
		return -1;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t acc = 0;
		bool last = i + 4 == len;
		size_t chars = last ? 4 - pad : 4;

		for (size_t j = 0; j < 4; j++) {
			int val = j < chars ? value_of((unsigned char)in[i + j]) : 0;

			if (val < 0 || (j >= chars && in[i + j] != '='))
				return -1;
			acc = acc << 6 | (uint32_t)val;
		}
		if ((pad == 1 && last && (acc & 0xff) != 0) ||
		    (pad == 2 && last && (acc & 0xffff) != 0))
			return -1;
		for (size_t j = 0; j < chars - 1; j++) {
			if (n == size)
				return -1;
			out[n++] = (uint8_t)(acc >> (16 - 8 * j));
		}
	}
	return (int)n;
}
