/*
 * test_imap_parser_wipe: the IMAP parser runs in the network process before
 * logon, where LOGIN and its literals carry clear-text passwords.  No
 * buffer of the parser may go back to the heap (free, or realloc moving
 * it) still holding one.  free and realloc are wrapped at link time
 * (-Wl,--wrap) to look into every block the parser gives back.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parser.h"
#include "tap.h"

#define SECRET "s3cr3t-pw-7781"

void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_realloc(void *p, size_t n);

static bool watching;
static int leaked;

static void inspect(void *p)
{
	if (watching && p != NULL &&
	    memmem(p, malloc_usable_size(p), SECRET, strlen(SECRET)) != NULL)
		leaked++;
}

void __wrap_free(void *p)
{
	inspect(p);
	__real_free(p);
}

void *__wrap_realloc(void *p, size_t n)
{
	inspect(p);
	return __real_realloc(p, n);
}

/* The network process's pre-logon limits (imap_login.c). */
static struct xi_imap_parser *prelogon_parser(void)
{
	struct xi_imap_limits lim;

	xi_imap_limits_default(&lim);
	lim.max_line = 8192;
	lim.max_literal = 8192;
	lim.max_command = 16384;
	lim.max_args = 16;
	lim.max_depth = 2;
	lim.atom_backslash = true;
	return xi_imap_parser_new(&lim);
}

static enum xi_imap_feed feed(struct xi_imap_parser *p, const char *s)
{
	size_t used = 0;

	return xi_imap_parser_feed(p, s, strlen(s), &used);
}

/* What imap_login.c does with a LOGIN: wipe the password argument. */
static void login_done(struct xi_imap_parser *p)
{
	const struct xi_imap_command *cmd = xi_imap_parser_command(p);
	const struct xi_imap_arg *pass = cmd->args != NULL ? cmd->args->next : NULL;

	if (pass != NULL)
		memset((void *)pass->str, 0, pass->len);
}

int main(void)
{
	struct xi_imap_parser *p;
	char line[1024];

	watching = true;
	p = prelogon_parser();
	tap_ok(feed(p, "a1 LOGIN \"EXAMPLE\\\\jdoe\" \"" SECRET "\"\r\n") == XI_IMAP_COMMAND,
	       "LOGIN with a quoted password parsed");
	login_done(p);
	(void)feed(p, "a2 NOOP\r\n");
	xi_imap_parser_free(p);
	tap_ok(leaked == 0, "quoted password: no freed buffer holds it (%d did)", leaked);

	leaked = 0;
	p = prelogon_parser();
	/* The password as a literal, then a long second argument that makes
	 * the command buffer grow while it holds the password. */
	(void)feed(p, "a1 LOGIN {14+}\r\n");
	(void)feed(p, SECRET);
	memset(line, 'x', 600);
	line[0] = ' ';
	line[1] = '"';
	memcpy(line + 600, "\"\r\n", 4);
	(void)feed(p, line);
	xi_imap_parser_free(p);
	tap_ok(leaked == 0, "literal then a growing command: no freed buffer holds the password "
	       "(%d did)", leaked);

	leaked = 0;
	p = prelogon_parser();
	tap_ok(feed(p, "a1 LOGIN jdoe " SECRET "\r\n") == XI_IMAP_COMMAND,
	       "LOGIN with an atom password parsed");
	login_done(p);
	xi_imap_parser_free(p);
	tap_ok(leaked == 0, "atom password: no freed buffer holds it (%d did)", leaked);

	/* A refused LOGIN: the connection waits for the next command, and
	 * the parser must not hold the line meanwhile. */
	leaked = 0;
	p = prelogon_parser();
	tap_ok(feed(p, "a1 LOGIN jdoe {14+}\r\n" SECRET "\r\n") == XI_IMAP_COMMAND,
	       "LOGIN with a literal password parsed");
	tap_ok(xi_imap_parser_buffered(p) > 0, "the parser holds the command");
	xi_imap_parser_release(p);
	tap_ok(xi_imap_parser_buffered(p) == 0 && leaked == 0,
	       "released at once: nothing held, nothing freed unwiped (%d)", leaked);
	xi_imap_parser_release(p);
	tap_ok(feed(p, "a2 NOOP\r\n") == XI_IMAP_COMMAND &&
	       strcmp(xi_imap_parser_command(p)->name, "NOOP") == 0,
	       "released twice, the parser reads the next command");
	tap_ok(feed(p, "a3 LOGIN jdoe {14}\r\n") == XI_IMAP_CONTINUE, "a synchronising literal announced");
	xi_imap_parser_release(p);
	tap_ok(xi_imap_parser_buffered(p) > 0, "release leaves a command being read alone");
	xi_imap_parser_free(p);
	watching = false;
	return tap_done();
}
