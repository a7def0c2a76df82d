/* tls-idle-probe: what OpenSSL keeps allocated for one idle server
 * connection after the handshake, by allocation site, with xidentd's own
 * server context (standalone/tls.c).  tests/bench/idle-memory measures
 * the whole network process; this says whose bytes they are.
 *
 * usage: tls-idle-probe CERT.pem KEY.pem [N [tls1.2]]
 *
 * N handshakes (default 300) run over non-blocking socketpairs against a
 * default client context; the server sends a greeting the client reads,
 * the client side is freed, the server SSL kept, as in xidentd after the
 * greeting.  OpenSSL's allocations are counted through
 * CRYPTO_set_mem_functions, which passes each call's source file and line. */
#include "tls.h"
#include "xidentd.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

/* Live allocations: open addressing on the pointer, no deletion markers
 * needed because a slot is only ever cleared by moving the run back. */
#define SLOTS (1u << 20)

struct alloc {
	void *p;
	size_t n;
	const char *file;
	int line;
};

static struct alloc *table;
static bool counting;

void xd_log(int priority, const char *fmt, ...)
{
	va_list ap;

	(void)priority;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static size_t slot_of(const void *p)
{
	return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull) & (SLOTS - 1);
}

static void remember(void *p, size_t n, const char *file, int line)
{
	size_t i = slot_of(p);

	if (!counting || p == NULL)
		return;
	while (table[i].p != NULL)
		i = (i + 1) & (SLOTS - 1);
	table[i] = (struct alloc){ p, n, file, line };
}

static void forget(const void *p)
{
	size_t i = slot_of(p), j;

	if (p == NULL || table == NULL)
		return;	/* OpenSSL frees its last objects at exit, after main */
	while (table[i].p != NULL && table[i].p != p)
		i = (i + 1) & (SLOTS - 1);
	if (table[i].p == NULL)
		return;	/* allocated before counting began */
	table[i].p = NULL;
	/* Close the gap: move back every later entry of the run that may now
	 * be unreachable from its home slot. */
	for (j = (i + 1) & (SLOTS - 1); table[j].p != NULL; j = (j + 1) & (SLOTS - 1)) {
		size_t home = slot_of(table[j].p);

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			table[i] = table[j];
			table[j].p = NULL;
			i = j;
		}
	}
}

static void *count_malloc(size_t n, const char *file, int line)
{
	void *p = malloc(n);

	remember(p, n, file, line);
	return p;
}

static void *count_realloc(void *old, size_t n, const char *file, int line)
{
	void *p;

	forget(old);
	p = realloc(old, n);
	if (p == NULL && old != NULL && n != 0)
		remember(old, 0, file, line);	/* the old block lives on; size unknown */
	else
		remember(p, n, file, line);
	return p;
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	forget(p);
	free(p);
}

static int by_site(const void *a, const void *b)
{
	const struct alloc *x = a, *y = b;
	int c = strcmp(x->file, y->file);

	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int by_bytes(const void *a, const void *b)
{
	const struct alloc *x = a, *y = b;

	return (x->n < y->n) - (x->n > y->n);
}

static SSL *handshake(SSL_CTX *server, SSL_CTX *client)
{
	static const char greeting[] = "+OK xidentd ready\r\n";
	char buf[64];
	int sv[2];
	SSL *s, *c;
	bool ok = false;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return NULL;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	s = SSL_new(server);
	c = SSL_new(client);
	if (s == NULL || c == NULL || SSL_set_fd(s, sv[0]) != 1 || SSL_set_fd(c, sv[1]) != 1)
		goto out;
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (int round = 0; round < 20 && !(SSL_is_init_finished(s) && SSL_is_init_finished(c)); round++) {
		SSL_do_handshake(c);
		SSL_do_handshake(s);
	}
	ok = SSL_is_init_finished(s) && SSL_write(s, greeting, sizeof(greeting) - 1) > 0 &&
	     SSL_read(c, buf, sizeof(buf)) == (int)sizeof(greeting) - 1;
out:
	SSL_free(c);
	close(sv[1]);
	if (!ok) {
		SSL_free(s);
		close(sv[0]);
		return NULL;
	}
	return s;	/* its fd stays open with it, as a client's socket would */
}

int main(int argc, char **argv)
{
	size_t cert_len, key_len, sites = 0, total = 0, n;
	char *cert, *key;
	SSL_CTX *server, *client;
	SSL **kept;
	struct alloc *live;

	if (argc < 3) {
		fprintf(stderr, "usage: tls-idle-probe CERT.pem KEY.pem [N [tls1.2]]\n");
		return 2;
	}
	n = argc > 3 ? strtoul(argv[3], NULL, 10) : 300;
	table = calloc(SLOTS, sizeof(*table));
	kept = calloc(n ? n : 1, sizeof(*kept));
	if (n == 0 || n > 100000 || table == NULL || kept == NULL ||
	    !CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
		fprintf(stderr, "tls-idle-probe: bad N or cannot count allocations\n");
		return 2;
	}
	cert = xd_read_file(argv[1], 1 << 20, &cert_len);
	key = xd_read_file(argv[2], 1 << 20, &key_len);
	server = cert && key ? xd_tls_ctx_new(cert, cert_len, key, key_len, NULL, 0) : NULL;
	client = SSL_CTX_new(TLS_client_method());
	if (server == NULL || client == NULL) {
		fprintf(stderr, "tls-idle-probe: no TLS context\n");
		return 1;
	}
	if (argc > 4 && strcmp(argv[4], "tls1.2") == 0)
		SSL_CTX_set_max_proto_version(client, TLS1_2_VERSION);
	for (int i = 0; i < 5; i++)	/* lazily built state goes in before counting */
		SSL_free(handshake(server, client));
	counting = true;
	for (size_t i = 0; i < n; i++) {
		kept[i] = handshake(server, client);
		if (kept[i] == NULL) {
			fprintf(stderr, "tls-idle-probe: handshake %zu failed\n", i);
			return 1;
		}
	}
	counting = false;
	live = calloc(SLOTS, sizeof(*live));
	if (live == NULL)
		return 1;
	for (size_t i = 0; i < SLOTS; i++)
		if (table[i].p != NULL)
			live[sites++] = table[i];
	qsort(live, sites, sizeof(*live), by_site);
	printf("%s, %zu idle server connections; OpenSSL allocations still live, per connection:\n",
	       SSL_get_version(kept[0]), n);
	/* One entry per site (n = bytes, line kept, p = allocation count),
	 * largest first. */
	size_t groups = 0;
	for (size_t i = 0; i < sites;) {
		size_t j = i, bytes = 0;

		while (j < sites && by_site(&live[i], &live[j]) == 0)
			bytes += live[j++].n;
		total += bytes;
		live[groups] = live[i];
		live[groups].n = bytes;
		live[groups].p = (void *)(uintptr_t)(j - i);
		groups++;
		i = j;
	}
	qsort(live, groups, sizeof(*live), by_bytes);
	for (size_t i = 0; i < groups && live[i].n >= n * 16; i++)
		printf("%8.0f B  %5.1f allocations  %s:%d\n", (double)live[i].n / (double)n,
		       (double)(uintptr_t)live[i].p / (double)n, live[i].file, live[i].line);
	printf("%8.0f B  in all\n", (double)total / (double)n);
	for (size_t i = 0; i < n; i++) {
		int fd = SSL_get_fd(kept[i]);

		SSL_free(kept[i]);
		close(fd);
	}
	SSL_CTX_free(server);
	SSL_CTX_free(client);
	free(live);
	free(kept);
	free(table);
	table = NULL;
	free(cert);
	free(key);
	return 0;
}
