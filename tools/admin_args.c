/*
 * admin_args: option parsing and verb dispatch for the directory verbs.
 */
#include "xident-config.h"

#include <stdio.h>
#include <string.h>

#include "admin_args.h"
#include "commands.h"

bool xi_admin_common_option(struct xi_admin_options *o, int opt, const char *arg)
{
	switch (opt) {
	case XI_OPT_CONFIG:
		o->config_path = arg;
		return true;
	case XI_OPT_HELP:
		o->help = true;
		return true;
	case XI_OPT_BIND_DN:
		o->bind_dn = arg;
		return true;
	case XI_OPT_BIND_PASSWORD_FILE:
		o->bind_password_file = arg;
		return true;
	case XI_OPT_DRY_RUN:
		o->dry_run = true;
		return true;
	default:
		return false;
	}
}

int xi_admin_parse(const char *prog, int argc, char **argv, const struct xi_admin_opt *defs,
		   size_t ndefs, unsigned long allowed, int min_pos, int max_pos,
		   const char *usage, struct xi_admin_args *out)
{
	static const struct option common[] = { XI_ADMIN_COMMON_LONGOPTS };
	const size_t ncommon = sizeof(common) / sizeof(common[0]);
	struct option longopts[sizeof(common) / sizeof(common[0]) + XI_ADMIN_OPTS_MAX + 1];
	size_t i;
	int opt;

	memset(out, 0, sizeof(*out));
	memset(longopts, 0, sizeof(longopts));
	if (ndefs > XI_ADMIN_OPTS_MAX)
		ndefs = XI_ADMIN_OPTS_MAX;
	memcpy(longopts, common, sizeof(common));
	for (i = 0; i < ndefs; i++) {
		longopts[ncommon + i].name = defs[i].name;
		longopts[ncommon + i].has_arg = defs[i].has_arg ? required_argument : no_argument;
		longopts[ncommon + i].val = XI_OPT__FIRST_VERB + (int)i;
	}
	/* getopt_long accepts unambiguous prefixes (--password for
	 * --password-stdin); an administrator's typo must not select another
	 * option, so every long option must be spelled out. */
	for (i = 1; i < (size_t)argc && strcmp(argv[i], "--") != 0; i++) {
		size_t k, n;

		if (strncmp(argv[i], "--", 2) != 0)
			continue;
		n = strcspn(argv[i] + 2, "=");
		for (k = 0; longopts[k].name != NULL; k++) {
			if (strlen(longopts[k].name) == n &&
			    strncmp(longopts[k].name, argv[i] + 2, n) == 0)
				break;
		}
		if (longopts[k].name == NULL) {
			fprintf(stderr, "%s: unknown option %s\n%s", prog, argv[i], usage);
			return XI_EXIT_USAGE;
		}
		if (longopts[k].has_arg == required_argument && argv[i][2 + n] == '\0')
			i++; /* its value may itself start with "--" */
	}
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		if (xi_admin_common_option(&out->common, opt, optarg))
			continue;
		if (opt >= XI_OPT__FIRST_VERB && (size_t)(opt - XI_OPT__FIRST_VERB) < ndefs) {
			size_t k = (size_t)(opt - XI_OPT__FIRST_VERB);

			if ((allowed & XI_BIT(k)) == 0) {
				fprintf(stderr, "%s: --%s does not apply here\n%s", prog,
					defs[k].name, usage);
				return XI_EXIT_USAGE;
			}
			out->value[k] = defs[k].has_arg ? optarg : "";
			if (defs[k].repeat) {
				if (out->nvalues[k] >= XI_ADMIN_REPEAT_MAX) {
					fprintf(stderr, "%s: --%s given more than %d times\n", prog,
						defs[k].name, XI_ADMIN_REPEAT_MAX);
					return XI_EXIT_USAGE;
				}
				out->values[k][out->nvalues[k]++] = optarg;
			}
			continue;
		}
		if (opt == ':')
			fprintf(stderr, "%s: %s needs a value\n%s", prog, argv[optind - 1], usage);
		else
			fprintf(stderr, "%s: unknown option %s\n%s", prog, argv[optind - 1], usage);
		return XI_EXIT_USAGE;
	}
	if (out->common.help) {
		fputs(usage, stdout);
		return -1;
	}
	for (; optind < argc; optind++) {
		if (out->npos >= XI_ADMIN_POS_MAX || out->npos >= max_pos) {
			fprintf(stderr, "%s: unexpected argument '%s'\n%s", prog, argv[optind], usage);
			return XI_EXIT_USAGE;
		}
		out->pos[out->npos++] = argv[optind];
	}
	if (out->npos < min_pos) {
		fprintf(stderr, "%s: missing argument\n%s", prog, usage);
		return XI_EXIT_USAGE;
	}
	return 0;
}

static void group_usage(FILE *out, const char *group, const struct xi_admin_verb *verbs)
{
	const struct xi_admin_verb *v;

	fprintf(out, "usage: xident %s VERB [OPTIONS] ...\n\nverbs:\n", group);
	for (v = verbs; v->name != NULL; v++)
		fprintf(out, "  %-14s %s\n", v->name, v->summary);
	fprintf(out, "\n`xident %s VERB --help` describes a verb.\n"
		"exit: 0 done, 1 failed, 2 usage, 3 not found, 4 would duplicate, 75 directory "
		"unavailable\n", group);
}

int xi_admin_dispatch(const char *group, const struct xi_admin_verb *verbs, int argc,
		      char **argv)
{
	const struct xi_admin_verb *v;
	char prog[64];

	if (argc < 2) {
		group_usage(stderr, group, verbs);
		return XI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		group_usage(stdout, group, verbs);
		return XI_EXIT_OK;
	}
	for (v = verbs; v->name != NULL; v++) {
		if (strcmp(v->name, argv[1]) == 0) {
			snprintf(prog, sizeof(prog), "xident %s %s", group, v->name);
			return v->run(prog, argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "xident %s: unknown verb '%s'\n", group, argv[1]);
	group_usage(stderr, group, verbs);
	return XI_EXIT_USAGE;
}
