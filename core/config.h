/*
 * config: xident.conf, read once into an immutable value.
 *
 * Syntax: `key = value` lines, `#` comments, values optionally in double
 * quotes (with \" and \\ escapes).  Keys are those of config_keys.h and no
 * others.  A loaded struct xi_config never changes and may be shared by
 * threads; reloading means loading a new one and swapping the pointer.
 */
#ifndef XI_CONFIG_H
#define XI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config_keys.h"
#include "xi_error.h"

enum xi_config_type {
	XI_CT_STRING, XI_CT_INT, XI_CT_BOOL, XI_CT_ENUM, XI_CT_LIST,
	XI_CT_URI_LIST, XI_CT_PATH, XI_CT_SECRET, XI_CT_LEVEL
};

enum xi_config_flags {
	XI_CF_REQUIRED = 1 << 0,
	XI_CF_SECRET_FILE_ONLY = 1 << 1
};

#define XI_CONFIG_ENUM_ID(id, ...) XI_CFG_##id,
enum xi_config_key {
	XI_CONFIG_KEYS(XI_CONFIG_ENUM_ID)
	XI_CFG__COUNT
};
#undef XI_CONFIG_ENUM_ID

struct xi_config_key_info {
	enum xi_config_key key;
	const char *name;
	enum xi_config_type type;
	const char *default_value;
	unsigned flags;
	const char *constraint;
	const char *doc;
};

/* Hard limits on what the reader accepts. */
#define XI_CONFIG_LINE_MAX 4096
#define XI_CONFIG_FILE_MAX (1024 * 1024)

/* One problem found while reading: "file:line: reason". line 0 = whole file. */
struct xi_config_problem {
	char file[256];
	unsigned line;
	char reason[384];
};

/* Every problem found in one load, in file order. */
struct xi_config_report {
	size_t count;
	struct xi_config_problem *problems;
};

struct xi_config;

/* Reads path (and the secrets file it names).  On success returns 0 and sets
 * *cfg_r.  On failure returns -1, *cfg_r is NULL and report lists every
 * problem found (not just the first).  report may be NULL. */
int xi_config_load(const char *path, struct xi_config **cfg_r,
		   struct xi_config_report *report);

/* Same, from text in memory; name stands for the file name in problems. */
int xi_config_load_string(const char *name, const char *text,
			  struct xi_config **cfg_r, struct xi_config_report *report);

void xi_config_free(struct xi_config *cfg);
void xi_config_report_free(struct xi_config_report *report);

/* Formats problem i as "file:line: reason" into buf. */
void xi_config_problem_format(const struct xi_config_problem *p, char *buf, size_t size);

/* Typed getters.  The value is the one in the file, else the default, else
 * NULL / 0 / false / an empty list.  Calling a getter of the wrong type for a
 * key is a programming error and returns the empty value. */
const char *xi_config_str(const struct xi_config *cfg, enum xi_config_key key);
long long xi_config_int(const struct xi_config *cfg, enum xi_config_key key);
bool xi_config_bool(const struct xi_config *cfg, enum xi_config_key key);
/* ENUM: index of the value among the constraint's alternatives. */
int xi_config_enum(const struct xi_config *cfg, enum xi_config_key key);
/* LIST and URI_LIST: NULL-terminated array; *count_r may be NULL. */
const char *const *xi_config_list(const struct xi_config *cfg, enum xi_config_key key,
				  size_t *count_r);
/* LIST membership, case-insensitive ASCII ("imap" in ntlm_protocols). */
bool xi_config_list_has(const struct xi_config *cfg, enum xi_config_key key, const char *word);
/* Whether the key was set in the file (as opposed to defaulted). */
bool xi_config_is_set(const struct xi_config *cfg, enum xi_config_key key);

/* The key table, for documentation generators and `xident config`. */
const struct xi_config_key_info *xi_config_key_table(size_t *count_r);

/* Writes the xident.conf(5) manual page (troff) generated from the table. */
int xi_config_write_manpage(FILE *out);

#endif
