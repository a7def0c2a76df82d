/*
 * ntlm_base64: the base64 encoder for SASL blobs, and the decoder hosts call
 * for SASL lines.  Decoding is core/base64.c's strict decoder; only the
 * SASL rule that an empty line is an empty string is added here.
 */
#include "ntlm_sasl.h"

#include "base64.h"

#include <stdlib.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int xi_ntlm_base64_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
	if (len == 0)
		return 0;
	return xi_base64_decode(in, len, out, size);
}

char *xi_ntlm_base64_encode(const uint8_t *in, size_t len)
{
	size_t i, o = 0;
	char *out;
	uint32_t n;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	out = malloc((len + 2) / 3 * 4 + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		n = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
		out[o++] = alphabet[(n >> 18) & 63];
		out[o++] = alphabet[(n >> 12) & 63];
		out[o++] = alphabet[(n >> 6) & 63];
		out[o++] = alphabet[n & 63];
	}
	if (i < len) {
		n = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			n |= (uint32_t)in[i + 1] << 8;
		out[o++] = alphabet[(n >> 18) & 63];
		out[o++] = alphabet[(n >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}
