/*
 * base64: strict RFC 4648 decoding, for every place where a value must be
 * exactly base64 or refused ({SSHA} values, SASL blobs).  OpenSSL's
 * EVP_DecodeBlock accepts blanks and hides the padding, so it will not do.
 */
#ifndef XI_BASE64_H
#define XI_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Decodes in[0..len): the standard alphabet, padded to a multiple of four,
 * canonical (the bits padding leaves over are zero), no blanks.  Writes at
 * most size bytes; returns the decoded length, or -1 for anything else
 * (also when it does not fit). */
int xi_base64_decode(const char *in, size_t len, uint8_t *out, size_t size);

#endif
