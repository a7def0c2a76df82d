/*
 * The verbs of the `xident` CLI.  Each lives in its own cmd_*.c file and is
 * listed once in the table of xident.c.
 *
 * Exit codes are part of the interface that scripts rely on:
 */
#ifndef XI_COMMANDS_H
#define XI_COMMANDS_H

#define XI_EXIT_OK 0        /* done / everything checked out */
#define XI_EXIT_FAIL 1      /* the thing asked about is wrong (errors printed) */
#define XI_EXIT_USAGE 2     /* bad command line */
#define XI_EXIT_NOTFOUND 3  /* the named entry does not exist */
#define XI_EXIT_EXISTS 4    /* refused: would create a duplicate */
#define XI_EXIT_TEMP 75     /* temporary failure (directory down): try again (EX_TEMPFAIL) */

struct xi_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv); /* argv[0] is the verb */
};

#endif
