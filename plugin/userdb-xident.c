/*
 * userdb xident: the mailbox's home, mail location, uid, gid and quota.
 *
 *   userdb {
 *     driver = prefetch        # the passdb already returned them at logon
 *   }
 *   userdb {
 *     driver = xident          # LMTP deliveries, doveadm, no prefetch
 *     args = /etc/xident/xident.conf
 *   }
 *
 * The user is the canonical user the passdb renamed the logon to: the
 * mailbox alias (canonical_user_format = %a, the default) or its mail
 * address (%m).  It is looked up as exactly that, through the directory
 * interface, not as a logon name: a logon name "reception" would open the
 * account reception's mailbox, while the mailbox named reception may be
 * another.  A userdb lookup is not a logon: no event, no password.
 */
#include "lib.h"
#include "auth-common.h"
#include "auth-request.h"
#include "userdb.h"

#include "directory.h"
#include "event-log.h"
#include "authdb-xident.h"

struct xident_userdb_module {
	struct userdb_module module;
	struct xi_authdb *db;
};

static void set_fields(struct auth_request *request, const struct xi_dir_entry *e)
{
	if (e->mail_home[0] != '\0')
		auth_request_set_userdb_field(request, "home", e->mail_home);
	if (e->mail_location[0] != '\0')
		auth_request_set_userdb_field(request, "mail", e->mail_location);
	if (e->mail_uid[0] != '\0')
		auth_request_set_userdb_field(request, "uid", e->mail_uid);
	if (e->mail_gid[0] != '\0')
		auth_request_set_userdb_field(request, "gid", e->mail_gid);
	if (e->mail_quota[0] != '\0') {
		/* A bare size ("2G") is a storage limit; a full rule passes as is. */
		auth_request_set_userdb_field(request, "quota_rule",
			strchr(e->mail_quota, ':') != NULL ? e->mail_quota :
			t_strconcat("*:storage=", e->mail_quota, NULL));
	}
}

static void userdb_xident_lookup(struct auth_request *request, userdb_callback_t *callback)
{
	struct xident_userdb_module *module =
		(struct xident_userdb_module *)request->userdb->userdb;
	struct xi_authdb *db = module->db;
	const char *format = xi_config_str(db->cfg, XI_CFG_CANONICAL_USER_FORMAT);
	struct xi_directory *dir;
	struct xi_dir_query q;
	struct xi_dir_result res;
	struct xi_error err;
	const struct xi_dir_entry *found = NULL;
	unsigned found_count = 0;
	enum userdb_result result;

	xi_error_clear(&err);
	if ((dir = xi_authdb_directory(db, &err)) == NULL) {
		e_error(authdb_event(request), "xident: directory: %s", err.message);
		callback(USERDB_RESULT_INTERNAL_FAILURE, request);
		return;
	}
	i_zero(&q);
	if (format != NULL && strcmp(format, "%m") == 0)
		q.mail = request->fields.user;
	else
		q.alias = request->fields.user;
	xi_dir_result_init(&res);
	if (xi_dir_find(dir, &q, &res, NULL, &err) < 0) {
		e_error(authdb_event(request), "xident: looking up mailbox %s: %s",
			request->fields.user, err.message);
		callback(USERDB_RESULT_INTERNAL_FAILURE, request);
		return;
	}
	for (size_t i = 0; i < res.count; i++) {
		if ((res.entries[i].kinds & XI_DIR_MAILBOX) != 0 &&
		    (res.entries[i].matched & (XI_MATCH_ALIAS | XI_MATCH_MAIL)) != 0) {
			found = &res.entries[i];
			found_count++;
		}
	}
	if (found_count == 1) {
		set_fields(request, found);
		result = USERDB_RESULT_OK;
	} else {
		e_debug(authdb_event(request), "xident: %s mailbox named %s",
			found_count == 0 ? "no" : "more than one", request->fields.user);
		result = USERDB_RESULT_USER_UNKNOWN;
	}
	xi_dir_result_free(&res);
	callback(result, request);
}

static struct userdb_module *userdb_xident_preinit(pool_t pool, const char *args)
{
	struct xident_userdb_module *module;

	module = p_new(pool, struct xident_userdb_module, 1);
	module->db = xi_authdb_get(args);
	/* LDAP calls block: Dovecot runs them in auth-worker processes. */
	module->module.blocking = TRUE;
	return &module->module;
}

static void userdb_xident_deinit(struct userdb_module *_module)
{
	struct xident_userdb_module *module = (struct xident_userdb_module *)_module;

	xi_authdb_unref(&module->db);
}

struct userdb_module_interface userdb_xident = {
	.name = "xident",
	.preinit = userdb_xident_preinit,
	.deinit = userdb_xident_deinit,
	.lookup = userdb_xident_lookup,
};
