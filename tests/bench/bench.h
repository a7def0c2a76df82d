/* xibench: a logon load client.  Shared types between the event loop
 * (xibench.c) and the protocol drivers (bench_auth.c, bench_mail.c,
 * bench_ldap.c) and the NTLMv2 client (bench_ntlm.c). */
#ifndef XI_BENCH_H
#define XI_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_LINE_MAX 8192

struct bench_user {
	char *name;
	char *password;
	unsigned char nt_hash[16];
	bool has_nt_hash;
	/* NTOWFv2 for --domain, computed once when the users are loaded: it
	 * depends only on the NT hash, the user and the domain, and a real
	 * client keeps it too; the server still derives it on every logon. */
	unsigned char ntowfv2[16];
	bool has_ntowfv2;
};

struct bench_opts {
	const char *mode;
	const char *label;
	const char *socket_path;	/* auth modes */
	const char *host;		/* imap, pop3 */
	int port;
	const char *ldap_uri;		/* ldap-search */
	const char *ldap_base;
	const char *ldap_bind_dn;
	const char *ldap_bind_pw;
	const char *ldap_attr;		/* attribute the user name is matched on */
	const char *ldap_filter;	/* filter template, %u = the escaped user name (NULL: the lookup passdb's) */
	const char *ldap_attrs;		/* comma-separated attributes asked for (NULL: userPassword) */
	const char *service;		/* auth modes: service=... */
	const char *domain;		/* NTLM domain */
	unsigned connections;
	double duration;
	double warmup;
	bool sequential;
};

/* What a driver tells the loop after handling input. */
enum bench_step {
	BENCH_MORE,		/* keep reading */
	BENCH_LOGON_OK,		/* a logon completed; the driver may have queued the next one */
	BENCH_LOGON_FAILED,	/* the server refused a logon */
	BENCH_CLOSE,		/* the session is over; reconnect and start again */
	BENCH_ERROR,		/* protocol error: count a failure, reconnect */
};

struct bench_conn;

struct bench_driver {
	const char *name;
	const char *unit;		/* what one success is: "logon" (NULL) or "session" */
	/* Drivers that time their commands name them; bench_command_done(conn, i)
	 * records commands[i]. */
	const char *const *commands;
	unsigned command_count;
	/* Opens a fresh session: sets conn->fd (non-blocking, connecting). */
	int (*open)(struct bench_conn *conn);
	/* Handles one input line (CRLF/LF removed). */
	enum bench_step (*line)(struct bench_conn *conn, const char *line);
	/* Drivers that are not line based (LDAP) handle readiness themselves. */
	enum bench_step (*readable)(struct bench_conn *conn);
	void (*close)(struct bench_conn *conn);
};

struct bench_conn {
	const struct bench_opts *opts;
	const struct bench_driver *driver;
	const struct bench_user *users;
	size_t user_count;
	unsigned index;
	int fd;
	bool connecting;
	int state;			/* driver-private state */
	unsigned next_id;		/* auth: request id */
	uint64_t started_ns;		/* when the logon being timed began */
	uint64_t command_ns;		/* when the command being timed was sent */
	size_t literal_left;		/* bytes of a literal the loop skips before the next line */
	void *run;			/* the loop's state (bench_command_done) */
	const struct bench_user *user;	/* user of the logon being timed */
	char in[BENCH_LINE_MAX];
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	void *priv;			/* driver-private (LDAP handle, NTLM state) */
	uint64_t rng;
	size_t *sequence;		/* --sequential: the run's next user */
};

uint64_t bench_now_ns(void);
/* Appends bytes to the connection's output; the loop sends them. */
int bench_send(struct bench_conn *conn, const void *data, size_t len);
int bench_sendf(struct bench_conn *conn, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Picks a random user (with --sequential the next one, NULL after the
 * last) and marks the start of a timed logon. */
const struct bench_user *bench_begin_logon(struct bench_conn *conn);
/* The connection's random generator (no shared state). */
uint64_t bench_random(struct bench_conn *conn);
/* Records the latency of command i of the driver's list, from command_ns
 * to now, when inside the measured window. */
void bench_command_done(struct bench_conn *conn, unsigned i);
int bench_connect_tcp(const char *host, int port);
/* s as an IMAP quoted string into out (bench_mail.c); -1 when it does not fit. */
int bench_imap_quote(const char *s, char *out, size_t cap);
int bench_connect_unix(const char *path);

extern const struct bench_driver bench_auth_plain_driver;
extern const struct bench_driver bench_auth_ntlm_driver;
extern const struct bench_driver bench_imap_driver;
extern const struct bench_driver bench_imap_session_driver;
extern const struct bench_driver bench_pop3_driver;
extern const struct bench_driver bench_pop3_ntlm_driver;
extern const struct bench_driver bench_imap_ntlm_driver;
extern const struct bench_driver bench_ldap_search_driver;

/* NTLMv2 client (bench_ntlm.c).  Messages are raw bytes. */
size_t bench_ntlm_negotiate(unsigned char *out, size_t cap);
/* Builds the AUTHENTICATE message answering a CHALLENGE; returns its length,
 * 0 when the challenge is malformed or cap too small. */
size_t bench_ntlm_authenticate(const unsigned char *challenge, size_t challenge_len,
			       const char *domain, const char *user,
			       const unsigned char nt_hash[16],
			       unsigned char *out, size_t cap);
/* bench_ntlm_authenticate for a bench user, from its kept NTOWFv2 when it
 * has one (for this domain). */
size_t bench_ntlm_authenticate_user(const unsigned char *challenge, size_t challenge_len,
				    const char *domain, const struct bench_user *u,
				    unsigned char *out, size_t cap);
/* NTOWFv2 = HMAC-MD5(NT hash, UTF-16LE(UPPER(user) + domain)). */
bool bench_ntlm_ntowfv2(const char *domain, const char *user, const unsigned char nt_hash[16],
			unsigned char out[16]);
/* The same with a given client challenge and timestamp (8 bytes each; NULL
 * = random / the server's or the current time), for the MS-NLMP vectors. */
size_t bench_ntlm_authenticate_fixed(const unsigned char *challenge, size_t challenge_len,
				     const char *domain, const char *user,
				     const unsigned char nt_hash[16],
				     const unsigned char *client_challenge,
				     const unsigned char *timestamp,
				     unsigned char *out, size_t cap);
/* Checks the NTLM client against MS-NLMP 4.2.1 and 4.2.4; prints TAP. */
int bench_ntlm_selftest(void);
/* One client exchange over stdin/stdout (base64 lines), for tests. */
int bench_ntlm_client(const char *domain, const char *user, const char *password);
/* NT hash = MD4(UTF-16LE(password)); false when MD4 is unavailable. */
bool bench_nt_hash(const char *password, unsigned char out[16]);

/* Base64 with OpenSSL's EVP encoder; return the output length or -1. */
int bench_b64_encode(const unsigned char *in, size_t len, char *out, size_t cap);
int bench_b64_decode(const char *in, unsigned char *out, size_t cap);

#endif
