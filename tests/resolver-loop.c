/*
 * resolver-loop: one resolver kept across many logons, for the integration
 * tests that need a long-lived process (a restarted slapd must cost no more
 * than the logons made while it was down; the pool must reconnect).
 *
 *   resolver-loop CONFIG < lines
 *
 * Each input line is "NAME<TAB>PASSWORD<TAB>PROTOCOL" (imap|pop3); each
 * output line is "outcome=NAME event=ID ops=N user=USER" followed by the
 * pool statistics "pool opened=N broken=N retries=N" on request ("stats").
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "resolver.h"

int main(int argc, char **argv)
{
	struct xi_config *cfg;
	struct xi_resolver *rv;
	struct xi_error err;
	char line[2048];

	if (argc != 2) {
		fprintf(stderr, "usage: resolver_loop CONFIG\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (xi_config_load(argv[1], &cfg, NULL) < 0) {
		fprintf(stderr, "resolver_loop: %s: bad config\n", argv[1]);
		return 2;
	}
	if (xi_resolver_create(cfg, NULL, NULL, &rv, &err) < 0) {
		fprintf(stderr, "resolver_loop: %s\n", err.message);
		xi_config_free(cfg);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
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
