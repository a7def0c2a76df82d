/*
 * xident resolve: explain how a logon name resolves, step by step: how it
 * parsed, what was searched, what was found, which rule decided, and (with a
 * password) the outcome, what the client is told and the event logged.  The
 * tool an administrator runs when a user says "logon failure".
 *
 *   xident resolve [-c FILE] [--password-stdin] [--protocol imap|pop3]
 *                  [--ntlm [--ntlm-domain DOMAIN]] [--lookup] [--remote ADDR] NAME
 *
 * Exit: 0 the logon would succeed, 1 it is refused, 75 temporary failure,
 * 2 usage or configuration.
 */
#include "xident-config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "commands.h"
#include "config_load.h"
#include "config.h"
#include "ntlm_server.h"
#include "resolver.h"

#define DEFAULT_CONFIG "/etc/xident/xident.conf"
#define PASSWORD_LINE_MAX 1024

int cmd_resolve(int argc, char **argv);

static void resolve_usage(FILE *out)
{
	fprintf(out,
		"usage: xident resolve [-c FILE] [--password-stdin] [--protocol imap|pop3]\n"
		"                      [--ntlm [--ntlm-domain DOMAIN]] [--lookup] [--remote ADDR] NAME\n"
		"Explains how NAME resolves against the directory.  With --password-stdin the\n"
		"password (first line of standard input) is checked too, and the outcome, the\n"
		"client's text and the event are printed.  --ntlm resolves as an NTLM logon\n"
		"would (NAME is the user field, DOMAIN the domain field).  --lookup resolves\n"
		"as a userdb lookup does (no password; the host vouches for the user).\n"
		"exit: 0 logon succeeds, 1 refused, 75 temporary failure, 2 usage\n");
}

static void print_step(void *ctx, const char *step)
{
	(void)ctx;
	printf("  %s\n", step);
}

struct event_capture {
	char line[8192];
	unsigned count;
};

static void capture_event(void *ctx, const struct xi_event *ev, const char *line)
{
	struct event_capture *c = ctx;

	(void)ev;
	snprintf(c->line, sizeof(c->line), "%s", line);
	c->count++;
}

static int read_password(char *buf, size_t size)
{
	size_t len;

	if (fgets(buf, (int)size, stdin) == NULL) {
		buf[0] = '\0';
		return 0;
	}
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return 0;
}

int cmd_resolve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "password-stdin", no_argument, NULL, 'p' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "ntlm", no_argument, NULL, 'n' },
		{ "ntlm-domain", required_argument, NULL, 'd' },
		{ "lookup", no_argument, NULL, 'l' },
		{ "remote", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config_path = DEFAULT_CONFIG;
	struct xi_logon_request req = { .protocol = XI_PROTO_IMAP, .method = XI_METHOD_PLAIN,
					.remote = "127.0.0.1" };
	bool with_password = false;
	char password[PASSWORD_LINE_MAX];
	struct event_capture events = { .count = 0 };
	struct xi_config *cfg = NULL;
	struct xi_resolver *rv = NULL;
	struct xi_resolution *res = NULL;
	struct xi_logon_result result;
	struct xi_error err;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'p': with_password = true; break;
		case 'P':
			if (strcmp(optarg, "imap") == 0)
				req.protocol = XI_PROTO_IMAP;
			else if (strcmp(optarg, "pop3") == 0)
				req.protocol = XI_PROTO_POP3;
			else {
				fprintf(stderr, "xident resolve: --protocol must be imap or pop3\n");
				return XI_EXIT_USAGE;
			}
			break;
		case 'n': req.method = XI_METHOD_NTLM; break;
		case 'd': req.ntlm_domain = optarg; break;
		case 'l': req.method = XI_METHOD_NONE; break;
		case 'r': req.remote = optarg; break;
		case 'h': resolve_usage(stdout); return XI_EXIT_OK;
		default: resolve_usage(stderr); return XI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		resolve_usage(stderr);
		return XI_EXIT_USAGE;
	}
	req.name = argv[optind];
	/* libldap writes to sockets the server may have closed. */
	signal(SIGPIPE, SIG_IGN);

	if (with_password)
		read_password(password, sizeof(password));
	if (xi_tool_config_load(config_path, &cfg) < 0)
		return XI_EXIT_USAGE;
	xi_error_clear(&err);
	if (xi_resolver_create(cfg, capture_event, &events, &rv, &err) < 0) {
		fprintf(stderr, "xident resolve: %s\n", err.message);
		xi_config_free(cfg);
		return err.status == XI_ERR_TEMP ? XI_EXIT_TEMP : XI_EXIT_USAGE;
	}

	printf("resolving \"%s\" (%s, %s)\n", req.name, xi_protocol_name(req.protocol),
	       req.method == XI_METHOD_NTLM ? "NTLM" : req.method == XI_METHOD_NONE ? "lookup" :
	       "clear text");
	if (xi_resolve(rv, &req, print_step, NULL, &res, &err) < 0) {
		fprintf(stderr, "xident resolve: %s\n", err.message);
		xi_resolver_destroy(rv);
		xi_config_free(cfg);
		return XI_EXIT_TEMP;
	}
	if (req.method == XI_METHOD_NONE) {
		xi_proof_trusted(res);
		password[0] = '\0';
	} else if (!with_password) {
		printf("no password given (--password-stdin): the steps above are what the directory says;\n"
		       "the outcome below is what a client would get without a proven password\n");
		password[0] = '\0';
	}
	if (req.method == XI_METHOD_NONE) {
		/* proven above */
	} else if (req.method == XI_METHOD_NTLM) {
		uint8_t stored[16], typed[16];
		bool same = false;

		if (with_password && xi_nt_hash(password, typed, &err) == 0 &&
		    xi_resolution_nt_hash(res, stored))
			same = CRYPTO_memcmp(stored, typed, sizeof(stored)) == 0;
		xi_proof_ntlm(res, same);
		OPENSSL_cleanse(typed, sizeof(typed));
		OPENSSL_cleanse(stored, sizeof(stored));
	} else {
		xi_verify_password(rv, res, password);
	}
	OPENSSL_cleanse(password, sizeof(password));
	xi_finish(rv, res, &result);
	xi_resolution_free(res);

	printf("outcome: %s\n", xi_outcome_info(result.outcome)->name);
	printf("client: %s\n", result.client_text[0] ? result.client_text : "(logged on)");
	printf("event: %u\n", result.event_id);
	printf("cause: %s\n", result.cause);
	if (result.canonical_user[0] != '\0')
		printf("user: %s\n", result.canonical_user);
	if (result.mailbox_dn[0] != '\0')
		printf("mailbox: %s (%s)\n", result.alias, result.mailbox_dn);
	if (result.home_server[0] != '\0')
		printf("home server: %s\n", result.home_server);
	if (result.outcome == XI_OUTCOME_OK)
		printf("userdb: home=%s mail=%s uid=%s gid=%s quota=%s\n", result.home, result.mail,
		       result.uid, result.gid, result.quota);
	printf("ldap operations: %u\n", result.ldap_ops);
	if (events.count > 0)
		printf("logged: %s\n", events.line);
	else
		printf("logged: (nothing: below the category's diagnostics level)\n");

	rc = result.outcome == XI_OUTCOME_OK ? XI_EXIT_OK :
		result.outcome == XI_OUTCOME_TEMPFAIL ? XI_EXIT_TEMP : XI_EXIT_FAIL;
	xi_resolver_destroy(rv);
	xi_config_free(cfg);
	return rc;
}
