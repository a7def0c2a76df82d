/*
 * xident: the administrator's command line.  This file only dispatches; each
 * verb is a cmd_*.c file registered in the table below.
 */
#include "xident-config.h"

#include <stdio.h>
#include <string.h>

#include "commands.h"

int cmd_config(int argc, char **argv);
int cmd_account(int argc, char **argv);
int cmd_mailbox(int argc, char **argv);
int cmd_recipient(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

static const struct xi_command commands[] = {
	{ "config", "check, show and document xident.conf", cmd_config },
	{ "account", "accounts (DOMAIN\\name): add, show, list, disable, enable, delete, passwd", cmd_account },
	{ "mailbox", "mailboxes: add, show, list, grant, revoke, set-home, set-protocols, delete", cmd_mailbox },
	{ "recipient", "custom recipients: add, show, delete", cmd_recipient },
	{ "list", "distribution lists: add, show, add-members, remove-members, delete", cmd_list },
	{ "resolve", "explain how a logon name resolves (and check a password)", cmd_resolve },
	{ "doctor", "check a deployment: LDAP, TLS, service account rights, schema", cmd_doctor },
	{ NULL, NULL, NULL }
};

static void usage(FILE *out)
{
	const struct xi_command *c;

	fprintf(out, "usage: xident VERB [ARGS...]\n\nverbs:\n");
	for (c = commands; c->name != NULL; c++)
		fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fprintf(out, "\n`xident VERB --help` describes a verb.\n");
}

int main(int argc, char **argv)
{
	const struct xi_command *c;

	if (argc < 2) {
		usage(stderr);
		return XI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return XI_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("xident %s\n", PACKAGE_VERSION);
		return XI_EXIT_OK;
	}
	for (c = commands; c->name != NULL; c++) {
		if (strcmp(c->name, argv[1]) == 0)
			return c->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "xident: unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return XI_EXIT_USAGE;
}
