#define _GNU_SOURCE
#include "tls.h"
#include "xidentd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

static void log_ssl_error(const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	xd_log(LOG_ERR, "tls: %s: %s", what, e != 0 ? buf : "unknown error");
	ERR_clear_error();
}

SSL_CTX *xd_tls_ctx_new(const char *cert_pem, size_t cert_len, const char *key_pem,
			size_t key_len, const char *ca_pem, size_t ca_len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO *bio = NULL;
	X509 *x = NULL;
	EVP_PKEY *key = NULL;
	bool first = true;

	if (ctx == NULL) {
		log_ssl_error("SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* CLEANSE_PLAINTEXT: OpenSSL decrypts a record in place and, with
	 * RELEASE_BUFFERS, frees the buffer unwiped when idle; a LOGIN's
	 * password stayed readable in freed heap (test_xidentd_hardening.py
	 * found it in the sanitizer build, whose allocator reuses late). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* No session cache: each client is one process-local connection and a
	 * cache would cost memory per connection. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);

	bio = BIO_new_mem_buf(cert_pem, (int)cert_len);
	while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int ok = first ? SSL_CTX_use_certificate(ctx, x) : SSL_CTX_add0_chain_cert(ctx, x);
		if (first || ok != 1)
			X509_free(x);
		if (ok != 1) {
			log_ssl_error("certificate");
			goto fail;
		}
		first = false;
	}
	ERR_clear_error();
	BIO_free(bio);
	bio = NULL;
	if (first) {
		xd_log(LOG_ERR, "tls: tls_cert_file holds no certificate");
		goto fail;
	}
	bio = BIO_new_mem_buf(key_pem, (int)key_len);
	if (bio == NULL || (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl_error("private key (tls_key_file) missing or not matching the certificate");
		goto fail;
	}
	EVP_PKEY_free(key);
	key = NULL;
	BIO_free(bio);
	bio = NULL;
	if (ca_len > 0) {
		bio = BIO_new_mem_buf(ca_pem, (int)ca_len);
		while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
				X509_free(x);
				log_ssl_error("tls_ca_file");
				goto fail;
			}
		}
		ERR_clear_error();
		BIO_free(bio);
		bio = NULL;
	}
	return ctx;
fail:
	EVP_PKEY_free(key);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return NULL;
}

char *xd_read_file(const char *path, size_t max, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	size_t got = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len_r = got;
	return buf;
}
