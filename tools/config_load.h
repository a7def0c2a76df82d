/*
 * config_load: how every verb of the CLI loads xident.conf.  The problems of
 * a refused file go to stderr as "file:line: reason", like a compiler's, so
 * each verb reports them the same way.
 */
#ifndef XI_TOOLS_CONFIG_LOAD_H
#define XI_TOOLS_CONFIG_LOAD_H

#include "config.h"

/* Loads path into *cfg_r: 0, or -1 after printing every problem (or, when
 * the reader could not list any, one line naming the file) to stderr. */
int xi_tool_config_load(const char *path, struct xi_config **cfg_r);

#endif
