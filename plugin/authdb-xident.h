/*
 * authdb-xident: what the passdb and userdb `xident` share in one process:
 * the configuration named by their args and the resolver built from it, and
 * where the resolver's events go while a request is being served.
 *
 * Dovecot serves one request at a time in an auth-worker and the resolver
 * answers synchronously, so "the request being served" is a field of the
 * shared object, set around each call.
 */
#ifndef XI_PLUGIN_AUTHDB_XIDENT_H
#define XI_PLUGIN_AUTHDB_XIDENT_H

#include "config.h"
#include "resolver.h"

enum xi_authdb_sink_mode {
	XI_SINK_LOG,      /* write events on the current request's event */
	XI_SINK_CAPTURE   /* keep the last event line for the caller */
};

struct xi_authdb {
	int refcount;
	char *path;
	struct xi_config *cfg;
	struct xi_resolver *resolver;
	/* The userdb's own view of the directory (mailbox by alias), opened
	 * on first use. */
	struct xi_directory *dir;

	struct event *current_event;
	enum xi_authdb_sink_mode mode;
	char captured[2048];
	char captured_severity[16];
};

/* The shared object for args (the path of xident.conf); created on first
 * use.  Exits Dovecot with the file, line and reason when the file is
 * invalid: a passdb that cannot work must not start. */
struct xi_authdb *xi_authdb_get(const char *args);
void xi_authdb_unref(struct xi_authdb **db);

/* The directory for userdb lookups; NULL with err when it cannot be made. */
struct xi_directory *xi_authdb_directory(struct xi_authdb *db, struct xi_error *err);

/* Sets where events go for the next resolver call. */
void xi_authdb_begin(struct xi_authdb *db, struct event *event, enum xi_authdb_sink_mode mode);
void xi_authdb_end(struct xi_authdb *db);

extern struct passdb_module_interface passdb_xident;
extern struct userdb_module_interface userdb_xident;

#endif
