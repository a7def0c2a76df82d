/* tls: the server's OpenSSL context, built from PEM text so that the
 * chrooted network process can take new certificates on SIGHUP without
 * reading files. */
#ifndef XD_TLS_H
#define XD_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* TLS 1.2 and later, OpenSSL's default cipher list (no export, no RC4,
 * no CBC preference games), no renegotiation, no compression, server
 * cipher preference, buffers released while idle.  NULL on error (logged). */
SSL_CTX *xd_tls_ctx_new(const char *cert_pem, size_t cert_len, const char *key_pem,
			size_t key_len, const char *ca_pem, size_t ca_len);

/* Reads a whole (small) file; malloc'd, NUL-terminated; NULL on error. */
char *xd_read_file(const char *path, size_t max, size_t *len_r);

#endif
