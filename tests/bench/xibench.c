/* xibench: drives logons at a server over N concurrent non-blocking
 * connections for a given time and prints one JSON line: logons/s and the
 * p50/p90/p99/max latency of successful logons.
 *
 * Modes: auth-plain and auth-ntlm speak Dovecot's auth-client protocol on
 * its UNIX socket (the directory path without login processes); imap and
 * pop3 log on and out on fresh TCP connections (pop3-ntlm with MS-POP3's
 * AUTH NTLM, imap-ntlm with AUTHENTICATE NTLM); imap-session runs a whole IMAP session per connection
 * (bench_imap_session.c: LOGIN, SELECT, FETCH, SEARCH, STORE, LOGOUT) and
 * reports sessions/s, the latency of whole sessions and of every command;
 * ldap-search runs the search
 * a password-lookup passdb would, as the raw directory ceiling.
 *
 * Users come from a file of `user<TAB>password[<TAB>nthash-hex]` lines and
 * are picked at random for every logon. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct latency_log {
	uint32_t *us;
	size_t len, cap;
};

struct bench_run {
	struct bench_opts opts;
	const struct bench_driver *driver;
	struct bench_user *users;
	size_t user_count;
	struct bench_conn *conns;
	int epfd;
	uint64_t measure_from_ns, measure_until_ns;
	uint64_t logons, failures, errors, reconnects;
	uint64_t logons_all;  /* warm-up included: what the directory saw */
	size_t sequence;		/* --sequential: next user; each is used once */
	unsigned active;		/* connections still working */
	struct latency_log lat;
	struct latency_log *command_lat;	/* one per driver command */
};

static const struct bench_driver *const drivers[] = {
	&bench_auth_plain_driver, &bench_auth_ntlm_driver, &bench_imap_driver,
	&bench_imap_session_driver,
	&bench_pop3_driver, &bench_pop3_ntlm_driver, &bench_imap_ntlm_driver, &bench_ldap_search_driver,
};

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: a per-connection generator, so picks need no shared state. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 2685821657736338717ull;
}

uint64_t bench_random(struct bench_conn *conn)
{
	return next_random(&conn->rng);
}

const struct bench_user *bench_begin_logon(struct bench_conn *conn)
{
	if (conn->sequence != NULL) {
		if (*conn->sequence >= conn->user_count)
			return NULL;
		conn->user = &conn->users[(*conn->sequence)++];
		conn->started_ns = bench_now_ns();
		return conn->user;
	}
	conn->user = &conn->users[next_random(&conn->rng) % conn->user_count];
	conn->started_ns = bench_now_ns();
	return conn->user;
}

int bench_send(struct bench_conn *conn, const void *data, size_t len)
{
	if (conn->out_off > 0 && conn->out_off == conn->out_len)
		conn->out_off = conn->out_len = 0;
	if (conn->out_len + len > conn->out_cap) {
		size_t cap = conn->out_cap ? conn->out_cap : 1024;
		char *p;

		while (cap < conn->out_len + len)
			cap *= 2;
		p = realloc(conn->out, cap);
		if (p == NULL)
			return -1;
		conn->out = p;
		conn->out_cap = cap;
	}
	memcpy(conn->out + conn->out_len, data, len);
	conn->out_len += len;
	return 0;
}

int bench_sendf(struct bench_conn *conn, const char *fmt, ...)
{
	char buf[BENCH_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return bench_send(conn, buf, (size_t)n);
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int bench_connect_tcp(const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char portstr[16];
	int fd = -1, one = 1;

	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (set_nonblocking(fd) == 0 &&
		    (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS))
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int bench_connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A UNIX connect completes or fails at once; go non-blocking after. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || set_nonblocking(fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------ user list */

static bool parse_hex16(const char *s, unsigned char out[16])
{
	for (int i = 0; i < 16; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (unsigned char)v;
	}
	return strlen(s) == 32;
}

static int load_users(struct bench_run *run, const char *path, bool need_nt, const char *domain)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t cap = 0;

	if (f == NULL) {
		fprintf(stderr, "xibench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *name = line, *pw, *nt;
		struct bench_user *u;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		pw = strchr(name, '\t');
		if (pw == NULL)
			continue;
		*pw++ = '\0';
		nt = strchr(pw, '\t');
		if (nt != NULL)
			*nt++ = '\0';
		if (run->user_count == cap) {
			cap = cap ? cap * 2 : 1024;
			u = realloc(run->users, cap * sizeof(*u));
			if (u == NULL)
				goto fail;
			run->users = u;
		}
		u = &run->users[run->user_count];
		memset(u, 0, sizeof(*u));
		u->name = strdup(name);
		u->password = strdup(pw);
		if (u->name == NULL || u->password == NULL)
			goto fail;
		run->user_count++;
		if (nt != NULL && parse_hex16(nt, u->nt_hash))
			u->has_nt_hash = true;
		else if (need_nt && !(u->has_nt_hash = bench_nt_hash(pw, u->nt_hash))) {
			fprintf(stderr, "xibench: no NT hash for %s and MD4 is unavailable\n", name);
			goto fail;
		}
		if (need_nt && domain != NULL)
			u->has_ntowfv2 = bench_ntlm_ntowfv2(domain, u->name, u->nt_hash, u->ntowfv2);
	}
	fclose(f);
	if (run->user_count == 0) {
		fprintf(stderr, "xibench: %s holds no user\n", path);
		return -1;
	}
	return 0;
fail:
	fclose(f);
	return -1;
}

/* ------------------------------------------------------------ the loop */

static void record_latency(struct latency_log *lat, uint64_t ns)
{
	uint64_t us = ns / 1000;

	if (lat->len == lat->cap) {
		size_t cap = lat->cap ? lat->cap * 2 : 65536;
		uint32_t *p = realloc(lat->us, cap * sizeof(*p));

		if (p == NULL)
			return;	/* the count stays right; the percentiles lose a sample */
		lat->us = p;
		lat->cap = cap;
	}
	lat->us[lat->len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static bool in_window(const struct bench_run *run, uint64_t now);

void bench_command_done(struct bench_conn *conn, unsigned i)
{
	struct bench_run *run = conn->run;
	uint64_t now = bench_now_ns();

	if (run->command_lat != NULL && i < run->driver->command_count && in_window(run, now))
		record_latency(&run->command_lat[i], now - conn->command_ns);
}

static void watch(struct bench_run *run, struct bench_conn *conn, int op)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP |
			  (conn->connecting || conn->out_off < conn->out_len ? EPOLLOUT : 0),
		.data.ptr = conn,
	};

	if (epoll_ctl(run->epfd, op, conn->fd, &ev) < 0 && op == EPOLL_CTL_MOD)
		epoll_ctl(run->epfd, EPOLL_CTL_ADD, conn->fd, &ev);
}

static void conn_close(struct bench_run *run, struct bench_conn *conn)
{
	if (conn->fd >= 0) {
		epoll_ctl(run->epfd, EPOLL_CTL_DEL, conn->fd, NULL);
		if (run->driver->close != NULL)
			run->driver->close(conn);
		else
			close(conn->fd);
	}
	conn->fd = -1;
	conn->in_len = conn->out_len = conn->out_off = 0;
	conn->literal_left = 0;
	conn->state = 0;
}

static int conn_open(struct bench_run *run, struct bench_conn *conn)
{
	if (conn->sequence != NULL && *conn->sequence >= conn->user_count) {
		run->active--;	/* every user had its logon: this connection is done */
		return 0;
	}
	if (run->driver->open(conn) < 0 || conn->fd < 0)
		return -1;
	watch(run, conn, EPOLL_CTL_ADD);
	return 0;
}

static bool in_window(const struct bench_run *run, uint64_t now)
{
	return now >= run->measure_from_ns && now < run->measure_until_ns;
}

/* Applies a driver's verdict.  Returns false when the connection must be
 * reopened. */
static bool apply_step(struct bench_run *run, struct bench_conn *conn, enum bench_step step,
		       uint64_t started_ns)
{
	uint64_t now = bench_now_ns();

	switch (step) {
	case BENCH_MORE:
		return true;
	case BENCH_LOGON_OK:
		run->logons_all++;
		if (in_window(run, now)) {
			run->logons++;
			record_latency(&run->lat, now - started_ns);
		}
		return true;
	case BENCH_LOGON_FAILED:
		if (in_window(run, now))
			run->failures++;
		return true;
	case BENCH_ERROR:
		if (in_window(run, now))
			run->errors++;
		return false;
	case BENCH_CLOSE:
		return false;
	}
	return false;
}

/* Reads what arrived and hands each line to the driver; false when the
 * connection must be reopened. */
static bool read_lines(struct bench_run *run, struct bench_conn *conn)
{
	for (;;) {
		ssize_t n = read(conn->fd, conn->in + conn->in_len, sizeof(conn->in) - conn->in_len);
		size_t start = 0;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (n <= 0)	/* a close the driver expected (state < 0) is no error */
			return apply_step(run, conn, conn->state < 0 ? BENCH_CLOSE : BENCH_ERROR, 0);
		conn->in_len += (size_t)n;
		for (size_t i = 0; i < conn->in_len;) {
			enum bench_step step;
			uint64_t started;

			if (conn->literal_left > 0) {	/* a literal's bytes are no lines */
				size_t take = conn->in_len - i;

				if (take > conn->literal_left)
					take = conn->literal_left;
				conn->literal_left -= take;
				i += take;
				start = i;
				continue;
			}
			if (conn->in[i] != '\n') {
				i++;
				continue;
			}
			conn->in[i] = '\0';
			if (i > start && conn->in[i - 1] == '\r')
				conn->in[i - 1] = '\0';
			started = conn->started_ns;
			step = run->driver->line(conn, conn->in + start);
			start = ++i;
			if (!apply_step(run, conn, step, started))
				return false;
		}
		if (start == 0 && conn->in_len == sizeof(conn->in))
			return apply_step(run, conn, BENCH_ERROR, 0);	/* an over-long line */
		memmove(conn->in, conn->in + start, conn->in_len - start);
		conn->in_len -= start;
	}
}

static bool flush_output(struct bench_conn *conn)
{
	while (conn->out_off < conn->out_len) {
		ssize_t n = write(conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		conn->out_off += (size_t)n;
	}
	return true;
}

static void handle_event(struct bench_run *run, struct bench_conn *conn, uint32_t events)
{
	bool keep = true;

	if (conn->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		conn->connecting = false;
		if (err != 0)
			keep = apply_step(run, conn, BENCH_ERROR, 0);
	}
	if (keep && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		if (run->driver->readable != NULL) {
			uint64_t started = conn->started_ns;
			enum bench_step step = run->driver->readable(conn);

			keep = apply_step(run, conn, step, started);
		} else {
			keep = read_lines(run, conn);
		}
	}
	if (keep && !conn->connecting)
		keep = flush_output(conn);
	if (!keep) {
		conn_close(run, conn);
		run->reconnects++;
		if (conn_open(run, conn) < 0 && in_window(run, bench_now_ns()))
			run->errors++;
		return;
	}
	watch(run, conn, EPOLL_CTL_MOD);
}

static int run_load(struct bench_run *run)
{
	struct epoll_event events[256];
	uint64_t start;

	run->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (run->epfd < 0)
		return -1;
	run->conns = calloc(run->opts.connections, sizeof(*run->conns));
	if (run->conns == NULL)
		return -1;
	start = bench_now_ns();
	run->active = run->opts.connections;
	run->measure_from_ns = start + (uint64_t)(run->opts.warmup * 1e9);
	run->measure_until_ns = run->measure_from_ns + (uint64_t)(run->opts.duration * 1e9);
	for (unsigned i = 0; i < run->opts.connections; i++) {
		struct bench_conn *c = &run->conns[i];

		c->opts = &run->opts;
		c->driver = run->driver;
		c->users = run->users;
		c->user_count = run->user_count;
		c->index = i;
		c->run = run;
		c->sequence = run->opts.sequential ? &run->sequence : NULL;
		c->fd = -1;
		c->rng = (start ^ ((uint64_t)getpid() << 20)) + 0x9e3779b97f4a7c15ull * (i + 1);
		if (c->fd < 0 && conn_open(run, c) < 0) {
			fprintf(stderr, "xibench: connection %u could not open\n", i);
			return -1;
		}
		if (c->fd >= 0)
			watch(run, c, EPOLL_CTL_MOD);
	}
	while (run->active > 0 && bench_now_ns() < run->measure_until_ns) {
		int n = epoll_wait(run->epfd, events, 256, 100);

		if (n < 0 && errno != EINTR)
			return -1;
		for (int i = 0; i < n; i++) {
			struct bench_conn *c = events[i].data.ptr;

			if (c->fd >= 0)
				handle_event(run, c, events[i].events);
		}
	}
	for (unsigned i = 0; i < run->opts.connections; i++)
		conn_close(run, &run->conns[i]);
	close(run->epfd);
	return 0;
}

/* ------------------------------------------------------------ report */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static double percentile_ms(const struct latency_log *lat, double p)
{
	size_t i;

	if (lat->len == 0)
		return 0;
	i = (size_t)ceil(p / 100.0 * (double)lat->len);
	if (i > 0)
		i--;
	if (i >= lat->len)
		i = lat->len - 1;
	return lat->us[i] / 1000.0;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void report_commands(struct bench_run *run)
{
	printf(",\"commands\":{");
	for (unsigned i = 0; i < run->driver->command_count; i++) {
		struct latency_log *lat = &run->command_lat[i];

		qsort(lat->us, lat->len, sizeof(*lat->us), cmp_u32);
		printf("%s", i ? "," : "");
		json_string(run->driver->commands[i]);
		printf(":{\"count\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f}", lat->len,
		       percentile_ms(lat, 50), percentile_ms(lat, 99));
	}
	printf("}");
}

static void report(struct bench_run *run)
{
	qsort(run->lat.us, run->lat.len, sizeof(*run->lat.us), cmp_u32);
	printf("{\"label\":");
	json_string(run->opts.label ? run->opts.label : run->opts.mode);
	printf(",\"mode\":");
	json_string(run->opts.mode);
	/* logons/logons_per_s count the driver's unit (a whole session for
	 * imap-session), so that one table holds every mode. */
	printf(",\"unit\":");
	json_string(run->driver->unit ? run->driver->unit : "logon");
	if (run->command_lat != NULL)
		report_commands(run);
	printf(",\"connections\":%u,\"duration_s\":%.3f,\"users\":%zu,"
	       "\"logons\":%llu,\"logons_all\":%llu,\"failed\":%llu,\"errors\":%llu,\"reconnects\":%llu,"
	       "\"logons_per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
	       run->opts.connections, run->opts.duration, run->user_count,
	       (unsigned long long)run->logons, (unsigned long long)run->logons_all,
	       (unsigned long long)run->failures,
	       (unsigned long long)run->errors, (unsigned long long)run->reconnects,
	       run->logons / run->opts.duration,
	       percentile_ms(&run->lat, 50), percentile_ms(&run->lat, 90),
	       percentile_ms(&run->lat, 99),
	       run->lat.len ? run->lat.us[run->lat.len - 1] / 1000.0 : 0.0);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: xibench --mode MODE --users FILE [options]\n"
		"modes: auth-plain auth-ntlm (--socket PATH) | imap imap-ntlm imap-session pop3 pop3-ntlm\n"
		"       (--host H --port P)\n"
		"       ldap-search (--uri URI --base DN [--bind-dn DN --bind-pw PW] [--attr uid]\n"
		"                    [--ldap-filter TEMPLATE (%%u = escaped name)] [--ldap-attrs a,b,...])\n"
		"  -c, --connections N   concurrent connections (10)\n"
		"  -d, --duration S      seconds measured (5)\n"
		"  -w, --warmup S        seconds run before measuring (0.5)\n"
		"      --service NAME    auth modes: service= (imap)\n"
		"      --domain NAME     NTLM domain (BENCH)\n"
		"      --label TEXT      label in the JSON line\n"
		"      --sequential      imap, imap-session, pop3: every user once, in order, then stop\n"
		"      --ntlm-client DOMAIN USER PASSWORD   one NTLM exchange on stdin/stdout\n"
		"      --selftest        check the NTLM client against MS-NLMP vectors (TAP)\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "users", required_argument, NULL, 'u' },
		{ "connections", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "socket", required_argument, NULL, 's' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "uri", required_argument, NULL, 'U' },
		{ "base", required_argument, NULL, 'b' },
		{ "bind-dn", required_argument, NULL, 'D' },
		{ "bind-pw", required_argument, NULL, 'W' },
		{ "attr", required_argument, NULL, 'a' },
		{ "ldap-filter", required_argument, NULL, 'F' },
		{ "ldap-attrs", required_argument, NULL, 'A' },
		{ "service", required_argument, NULL, 'S' },
		{ "domain", required_argument, NULL, 'N' },
		{ "label", required_argument, NULL, 'l' },
		{ "selftest", no_argument, NULL, 'T' },
		{ "sequential", no_argument, NULL, 'Q' },
		{ "ntlm-client", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_run run = {
		.opts = {
			.host = "127.0.0.1", .connections = 10, .duration = 5, .warmup = 0.5,
			.service = "imap", .domain = "BENCH", .ldap_attr = "uid",
		},
	};
	const char *users_path = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, "m:u:c:d:w:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': run.opts.mode = optarg; break;
		case 'u': users_path = optarg; break;
		case 'c': run.opts.connections = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': run.opts.duration = strtod(optarg, NULL); break;
		case 'w': run.opts.warmup = strtod(optarg, NULL); break;
		case 's': run.opts.socket_path = optarg; break;
		case 'H': run.opts.host = optarg; break;
		case 'p': run.opts.port = atoi(optarg); break;
		case 'U': run.opts.ldap_uri = optarg; break;
		case 'b': run.opts.ldap_base = optarg; break;
		case 'D': run.opts.ldap_bind_dn = optarg; break;
		case 'W': run.opts.ldap_bind_pw = optarg; break;
		case 'a': run.opts.ldap_attr = optarg; break;
		case 'F': run.opts.ldap_filter = optarg; break;
		case 'A': run.opts.ldap_attrs = optarg; break;
		case 'S': run.opts.service = optarg; break;
		case 'N': run.opts.domain = optarg; break;
		case 'l': run.opts.label = optarg; break;
		case 'T': return bench_ntlm_selftest();
		case 'Q': run.opts.sequential = true; break;
		case 'C':
			if (argc - optind != 3) {
				usage(stderr);
				return 2;
			}
			return bench_ntlm_client(argv[optind], argv[optind + 1], argv[optind + 2]);
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	for (size_t i = 0; run.opts.mode != NULL && i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, run.opts.mode) == 0)
			run.driver = drivers[i];
	if (run.driver == NULL || users_path == NULL || run.opts.connections == 0 ||
	    run.opts.connections > 10000 || !(run.opts.duration > 0) || run.opts.warmup < 0 ||
	    (run.opts.sequential && strncmp(run.opts.mode, "imap", 4) != 0 &&
	     strcmp(run.opts.mode, "pop3") != 0)) {
		usage(stderr);
		return 2;
	}
	if ((strncmp(run.opts.mode, "auth-", 5) == 0 && run.opts.socket_path == NULL) ||
	    ((strncmp(run.opts.mode, "imap", 4) == 0 || strncmp(run.opts.mode, "pop3", 4) == 0) &&
	     run.opts.port <= 0) ||
	    (strcmp(run.opts.mode, "ldap-search") == 0 &&
	     (run.opts.ldap_uri == NULL || run.opts.ldap_base == NULL))) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (load_users(&run, users_path, strstr(run.opts.mode, "ntlm") != NULL, run.opts.domain) < 0)
		return 1;
	if (run.driver->command_count > 0 &&
	    (run.command_lat = calloc(run.driver->command_count, sizeof(*run.command_lat))) == NULL)
		return 1;
	if (run_load(&run) < 0) {
		fprintf(stderr, "xibench: %s\n", strerror(errno));
		return 1;
	}
	report(&run);
	for (size_t i = 0; i < run.user_count; i++) {
		free(run.users[i].name);
		free(run.users[i].password);
	}
	for (unsigned i = 0; i < run.opts.connections; i++) {
		free(run.conns[i].out);
		free(run.conns[i].priv);
	}
	for (unsigned i = 0; run.command_lat != NULL && i < run.driver->command_count; i++)
		free(run.command_lat[i].us);
	free(run.command_lat);
	free(run.users);
	free(run.conns);
	free(run.lat.us);
	return run.logons > 0 ? 0 : 1;
}
