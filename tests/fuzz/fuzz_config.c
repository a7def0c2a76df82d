/*
 * fuzz_config: xi_config_load_string over arbitrary text.
 *
 * Besides crashes and leaks (the sanitizers), it traps when the reader breaks
 * its promises: a load fails exactly when it reports a problem, a failed load
 * hands out no config, and a reason never carries a control character (they
 * are printed on administrators' terminals).
 */
#include "xident-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reasons(const struct xi_config_report *report)
{
	char line[1024];
	size_t i;
	const char *p;

	for (i = 0; i < report->count; i++) {
		xi_config_problem_format(&report->problems[i], line, sizeof(line));
		for (p = report->problems[i].reason; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				__builtin_trap();
		}
	}
}

static void read_everything(const struct xi_config *cfg)
{
	const struct xi_config_key_info *table;
	size_t count, i, n;
	volatile size_t sink = 0;

	table = xi_config_key_table(&count);
	for (i = 0; i < count; i++) {
		const char *const *w = xi_config_list(cfg, table[i].key, &n);
		const char *s = xi_config_str(cfg, table[i].key);

		for (; *w != NULL; w++)
			sink += strlen(*w);
		if (s != NULL)
			sink += strlen(s);
		sink += (size_t)xi_config_int(cfg, table[i].key) + xi_config_bool(cfg, table[i].key) +
			(size_t)xi_config_enum(cfg, table[i].key) + xi_config_is_set(cfg, table[i].key) +
			xi_config_list_has(cfg, table[i].key, "imap");
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xi_config_report report;
	struct xi_config *cfg = NULL;
	char *text;
	int rc;

	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = xi_config_load_string("fuzz.conf", text, &cfg, &report);
	if (rc == 0 && (cfg == NULL || report.count != 0))
		__builtin_trap();
	if (rc != 0 && (cfg != NULL || report.count == 0))
		__builtin_trap();
	check_reasons(&report);
	if (cfg != NULL)
		read_everything(cfg);
	xi_config_free(cfg);
	xi_config_report_free(&report);
	free(text);
	return 0;
}
