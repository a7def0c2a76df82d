/*
 * admin_args: the command line of the directory verbs: options every verb
 * shares (-c, --bind-dn, --bind-password-file, --dry-run, --help), each
 * group's own options checked against what a verb accepts, positional
 * arguments, and the dispatch from "account add" to its function.
 * Long options must be spelled out in full: a typo never selects another
 * option.
 */
#ifndef XI_ADMIN_ARGS_H
#define XI_ADMIN_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#define XI_ADMIN_DEFAULT_CONFIG "/etc/xident/xident.conf"

/* Options every verb accepts; parsed by xi_admin_common_option. */
struct xi_admin_options {
	const char *config_path;
	const char *bind_dn;
	const char *bind_password_file;
	bool dry_run;
	bool help;
};

/* Long options shared by every verb; a verb's option table starts with them. */
enum {
	XI_OPT_CONFIG = 'c',
	XI_OPT_HELP = 'h',
	XI_OPT_BIND_DN = 0x100,
	XI_OPT_BIND_PASSWORD_FILE,
	XI_OPT_DRY_RUN,
	XI_OPT__FIRST_VERB /* verbs number their own options from here */
};
#define XI_ADMIN_COMMON_LONGOPTS \
	{ "config", required_argument, NULL, XI_OPT_CONFIG }, \
	{ "help", no_argument, NULL, XI_OPT_HELP }, \
	{ "bind-dn", required_argument, NULL, XI_OPT_BIND_DN }, \
	{ "bind-password-file", required_argument, NULL, XI_OPT_BIND_PASSWORD_FILE }, \
	{ "dry-run", no_argument, NULL, XI_OPT_DRY_RUN }
#define XI_ADMIN_COMMON_HELP \
	"  -c, --config FILE             xident.conf (default " XI_ADMIN_DEFAULT_CONFIG ")\n" \
	"      --bind-dn DN              bind as DN (default: admin_bind_dn, else the service account)\n" \
	"      --bind-password-file FILE its password, first line of FILE\n" \
	"      --dry-run                 print the changes as LDIF instead of writing them\n" \
	"  -h, --help                    this text\n"

/* Handles a common option; returns false when opt is not one of them. */
bool xi_admin_common_option(struct xi_admin_options *o, int opt, const char *arg);

/* A verb group's own options (one table per cmd_*.c file). */
struct xi_admin_opt {
	const char *name;   /* long name, without "--" */
	bool has_arg;
	bool repeat;        /* values accumulate (--mail A --mail B) */
};

#define XI_ADMIN_OPTS_MAX 32
#define XI_ADMIN_REPEAT_MAX 16
#define XI_ADMIN_POS_MAX 8

/* What one command line said. */
struct xi_admin_args {
	struct xi_admin_options common;
	const char *value[XI_ADMIN_OPTS_MAX];  /* last value; "" for a flag; NULL unset */
	const char *values[XI_ADMIN_OPTS_MAX][XI_ADMIN_REPEAT_MAX + 1]; /* repeat options */
	size_t nvalues[XI_ADMIN_OPTS_MAX];
	const char *pos[XI_ADMIN_POS_MAX];     /* positional arguments */
	int npos;
};

#define XI_BIT(i) (1UL << (i))

/* Parses argv (argv[0] is the verb) against the common options and defs;
 * allowed has bit i set when defs[i] applies to this verb; positional
 * arguments must number min_pos..max_pos.  On error prints what was wrong
 * and usage on stderr and returns XI_EXIT_USAGE; on --help prints usage on
 * stdout and returns -1 (the caller exits 0); otherwise returns 0. */
int xi_admin_parse(const char *prog, int argc, char **argv, const struct xi_admin_opt *defs,
		   size_t ndefs, unsigned long allowed, int min_pos, int max_pos,
		   const char *usage, struct xi_admin_args *out);

/* A verb of a group ("add" of "account"); prog is "xident account add". */
struct xi_admin_verb {
	const char *name;
	const char *summary;
	int (*run)(const char *prog, int argc, char **argv);
};

/* Runs the verb argv[1] of group (argv[0]); lists the verbs for --help. */
int xi_admin_dispatch(const char *group, const struct xi_admin_verb *verbs, int argc,
		      char **argv);

#endif
