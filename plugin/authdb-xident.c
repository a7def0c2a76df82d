/*
 * libauthdb_xident: module registration and the per-process shared state of
 * the passdb and userdb `xident`.
 */
#include "lib.h"
#include "auth-common.h"
#include "passdb.h"
#include "userdb.h"
#include "module-dir.h"

#include "directory.h"
#include "event-log.h"
#include "ntlm-scheme.h"
#include "authdb-xident.h"

/* One per process: Dovecot may list the passdb and the userdb with the same
 * args, and they then share one resolver (one LDAP pool). */
static struct xi_authdb *authdb_shared;
static bool authdb_registered_scheme;

const char *authdb_xident_version = DOVECOT_ABI_VERSION;
void authdb_xident_init(struct module *module);
void authdb_xident_deinit(void);

static void authdb_sink(void *ctx, const struct xi_event *ev, const char *line)
{
	struct xi_authdb *db = ctx;

	switch (db->mode) {
	case XI_SINK_CAPTURE:
		i_strocpy(db->captured, line, sizeof(db->captured));
		i_strocpy(db->captured_severity, ev->severity != NULL ? ev->severity : "",
			  sizeof(db->captured_severity));
		return;
	case XI_SINK_LOG:
		xi_dovecot_event_sink(db->current_event, ev, line);
		return;
	}
}

struct xi_authdb *xi_authdb_get(const char *args)
{
	struct xi_config_report report = { 0, NULL };
	struct xi_authdb *db;
	struct xi_error err;
	const char *path = t_strcut(args, ' ');

	if (*path == '\0')
		i_fatal("xident: args must be the path of xident.conf");
	if (authdb_shared != NULL) {
		if (strcmp(authdb_shared->path, path) != 0)
			i_fatal("xident: every passdb and userdb xident must use the same "
				"configuration file (%s and %s)", authdb_shared->path, path);
		authdb_shared->refcount++;
		return authdb_shared;
	}
	db = i_new(struct xi_authdb, 1);
	db->refcount = 1;
	db->path = i_strdup(path);
	if (xi_config_load(path, &db->cfg, &report) < 0) {
		char line[700];
		for (size_t i = 0; i < report.count; i++) {
			xi_config_problem_format(&report.problems[i], line, sizeof(line));
			i_error("xident: %s", line);
		}
		xi_config_report_free(&report);
		i_fatal("xident: %s is invalid (errors above)", path);
	}
	xi_config_report_free(&report);
	if (xi_resolver_create(db->cfg, authdb_sink, db, &db->resolver, &err) < 0)
		i_fatal("xident: %s: %s", path, err.message);
	authdb_shared = db;
	return db;
}

void xi_authdb_unref(struct xi_authdb **_db)
{
	struct xi_authdb *db = *_db;

	*_db = NULL;
	if (db == NULL || --db->refcount > 0)
		return;
	if (db->dir != NULL)
		xi_dir_destroy(db->dir);
	xi_resolver_destroy(db->resolver);
	xi_config_free(db->cfg);
	i_free(db->path);
	if (authdb_shared == db)
		authdb_shared = NULL;
	i_free(db);
}

struct xi_directory *xi_authdb_directory(struct xi_authdb *db, struct xi_error *err)
{
	if (db->dir == NULL && xi_directory_ldap_create(db->cfg, &db->dir, err) < 0)
		db->dir = NULL;
	return db->dir;
}

void xi_authdb_begin(struct xi_authdb *db, struct event *event, enum xi_authdb_sink_mode mode)
{
	db->current_event = event;
	db->mode = mode;
	db->captured[0] = '\0';
	db->captured_severity[0] = '\0';
}

void xi_authdb_end(struct xi_authdb *db)
{
	db->current_event = NULL;
	db->mode = XI_SINK_LOG;
}

void authdb_xident_init(struct module *module ATTR_UNUSED)
{
	authdb_registered_scheme = xi_ntlm_scheme_register();
	passdb_register_module(&passdb_xident);
	userdb_register_module(&userdb_xident);
}

void authdb_xident_deinit(void)
{
	passdb_unregister_module(&passdb_xident);
	userdb_unregister_module(&userdb_xident);
	if (authdb_registered_scheme)
		xi_ntlm_scheme_unregister();
	authdb_registered_scheme = FALSE;
}
