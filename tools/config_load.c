/*
 * config_load: xident.conf for the CLI, problems on stderr.
 */
#include "config_load.h"

#include <stdio.h>

int xi_tool_config_load(const char *path, struct xi_config **cfg_r)
{
	struct xi_config_report report = { 0, NULL };
	char line[sizeof(report.problems[0].file) + sizeof(report.problems[0].reason) + 16];
	size_t i;

	if (xi_config_load(path, cfg_r, &report) == 0) {
		xi_config_report_free(&report);
		return 0;
	}
	for (i = 0; i < report.count; i++) {
		xi_config_problem_format(&report.problems[i], line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	if (report.count == 0)
		fprintf(stderr, "xident: %s was refused (out of memory?)\n", path);
	xi_config_report_free(&report);
	return -1;
}
