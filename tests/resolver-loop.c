/*
 * resolver-loop: one resolver kept across many logons, for the integration
 * tests that need a long-lived process (a restarted slapd must cost no more
 * than the logons made while it was down; the pool must reconnect).
 *
 *   resolver-loop CONFIG < lines
 *
 * Each input line is "NAME<TAB>PASSWORD<TAB>PROTOCOL" (imap|pop3); each
 * output line is "outcome=NAME event=ID ops=N user=USER cause=TEXT".
 *
 *   resolver-loop CONFIG --threads N --rounds M < lines
 *
 * reads all lines first, then N threads share the one resolver and each
 * runs every line M times, checking that each logon ends as it did when
 * run alone; prints "threads ok=K mismatched=J" (the resolver is shared by
 * worker threads in a Dovecot auth-worker or xidentd).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "resolver.h"

#define LINES_MAX 64

struct logon_line {
	char name[512];
	char password[512];
	enum xi_protocol protocol;
	enum xi_outcome expected;
	char expected_user[XI_NAME_MAX];
};

struct shared {
	struct xi_resolver *rv;
	struct logon_line *lines;
	size_t count;
	unsigned rounds;
	pthread_mutex_t lock;
	unsigned ok, mismatched;
};

static void logon(struct xi_resolver *rv, const struct logon_line *l, struct xi_logon_result *r)
{
	struct xi_logon_request req = { .method = XI_METHOD_PLAIN, .remote = "127.0.0.1",
					.name = l->name, .protocol = l->protocol };

	xi_logon_plain(rv, &req, l->password, r);
}

static void *worker(void *arg)
{
	struct shared *sh = arg;
	unsigned ok = 0, bad = 0;

	for (unsigned r = 0; r < sh->rounds; r++) {
		for (size_t i = 0; i < sh->count; i++) {
			struct xi_logon_result res;

			logon(sh->rv, &sh->lines[i], &res);
			if (res.outcome == sh->lines[i].expected &&
			    strcmp(res.canonical_user, sh->lines[i].expected_user) == 0)
				ok++;
			else
				bad++;
		}
	}
	pthread_mutex_lock(&sh->lock);
	sh->ok += ok;
	sh->mismatched += bad;
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

static int run_threads(struct xi_resolver *rv, unsigned threads, unsigned rounds)
{
	static struct logon_line lines[LINES_MAX];
	struct shared sh = { .rv = rv, .lines = lines, .rounds = rounds };
	pthread_t tid[64];
	char buf[2048];
	unsigned i;

	while (sh.count < LINES_MAX && fgets(buf, sizeof(buf), stdin) != NULL) {
		struct logon_line *l = &lines[sh.count];
		struct xi_logon_result res;
		char *name, *password, *proto;

		buf[strcspn(buf, "\r\n")] = '\0';
		name = strtok(buf, "\t");
		password = strtok(NULL, "\t");
		proto = strtok(NULL, "\t");
		if (name == NULL || password == NULL)
			continue;
		snprintf(l->name, sizeof(l->name), "%s", name);
		snprintf(l->password, sizeof(l->password), "%s", password);
		l->protocol = proto != NULL && strcmp(proto, "pop3") == 0 ? XI_PROTO_POP3 : XI_PROTO_IMAP;
		/* What the logon gives alone is what it must give under load. */
		logon(rv, l, &res);
		l->expected = res.outcome;
		snprintf(l->expected_user, sizeof(l->expected_user), "%s", res.canonical_user);
		sh.count++;
	}
	pthread_mutex_init(&sh.lock, NULL);
	if (threads > 64)
		threads = 64;
	for (i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, &sh);
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&sh.lock);
	printf("threads ok=%u mismatched=%u\n", sh.ok, sh.mismatched);
	return sh.mismatched == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct xi_config *cfg;
	struct xi_resolver *rv;
	struct xi_error err;
	char line[2048];

	unsigned threads = 0, rounds = 1;

	if (argc == 6 && strcmp(argv[2], "--threads") == 0 && strcmp(argv[4], "--rounds") == 0) {
		threads = (unsigned)atoi(argv[3]);
		rounds = (unsigned)atoi(argv[5]);
	} else if (argc != 2) {
		fprintf(stderr, "usage: resolver-loop CONFIG [--threads N --rounds M]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (xi_config_load(argv[1], &cfg, NULL) < 0) {
		fprintf(stderr, "resolver-loop: %s: bad config\n", argv[1]);
		return 2;
	}
	if (xi_resolver_create(cfg, NULL, NULL, &rv, &err) < 0) {
		fprintf(stderr, "resolver-loop: %s\n", err.message);
		xi_config_free(cfg);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (threads > 0) {
		int rc = run_threads(rv, threads, rounds);

		xi_resolver_destroy(rv);
		xi_config_free(cfg);
		return rc;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		struct xi_logon_request req = { .method = XI_METHOD_PLAIN, .remote = "127.0.0.1" };
		struct xi_logon_result result;
		char *name, *password, *proto;

		line[strcspn(line, "\r\n")] = '\0';
		name = strtok(line, "\t");
		password = strtok(NULL, "\t");
		proto = strtok(NULL, "\t");
		if (name == NULL || password == NULL) {
			printf("error=bad-line\n");
			continue;
		}
		req.name = name;
		req.protocol = proto != NULL && strcmp(proto, "pop3") == 0 ? XI_PROTO_POP3 : XI_PROTO_IMAP;
		xi_logon_plain(rv, &req, password, &result);
		printf("outcome=%s event=%u ops=%u user=%s cause=%s\n",
		       xi_outcome_info(result.outcome)->name, result.event_id, result.ldap_ops,
		       result.canonical_user, result.cause);
	}
	xi_resolver_destroy(rv);
	xi_config_free(cfg);
	return 0;
}
