/*
 * ntlm_base64: strict RFC 4648 base64 for SASL blobs.  OpenSSL's
 * EVP_DecodeBlock accepts blanks and hides padding, and a SASL blob must be
 * either exactly base64 or refused, so the few lines are written out here.
 */
#include "ntlm_sasl.h"

#include <stdlib.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int value(unsigned char c)
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

int xi_ntlm_base64_decode(const char *in, size_t len, uint8_t *out, size_t size)
{
	size_t i, used = 0, pad = 0;
	int v[4], k;

	if (len % 4 != 0)
		return -1;
	if (len / 4 * 3 > (size_t)INT32_MAX)
		return -1;
	for (i = 0; i < len; i += 4) {
		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return -1;  /* data after '=' */
			v[k] = value(c);
			if (v[k] < 0)
				return -1;
		}
		if (used + 3 - pad > size)
			return -1;
		out[used++] = (uint8_t)((v[0] << 2) | (v[1] >> 4));
		if (pad < 2)
			out[used++] = (uint8_t)(((v[1] & 0xF) << 4) | (v[2] >> 2));
		if (pad < 1)
			out[used++] = (uint8_t)(((v[2] & 0x3) << 6) | v[3]);
	}
	return (int)used;
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
