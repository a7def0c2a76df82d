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
 * The user is the canonical user the passdb renamed the logon to (the
 * mailbox alias by default).  A userdb lookup is not a logon: it writes no
 * logon event and asks for no password.
 */
#include "lib.h"
#include "auth-common.h"
#include "auth-request.h"
#include "userdb.h"

#include "event-log.h"
#include "authdb-xident.h"

struct xident_userdb_module {
	struct userdb_module module;
	struct xi_authdb *db;
};

static void userdb_xident_lookup(struct auth_request *request, userdb_callback_t *callback)
{
	struct xident_userdb_module *module =
		(struct xident_userdb_module *)request->userdb->userdb;
	struct xi_authdb *db = module->db;
	struct xi_logon_request req;
	struct xi_logon_result *r;
	struct xi_resolution *res = NULL;
	struct xi_error err;
	enum userdb_result result;

	i_zero(&req);
	req.name = request->fields.user;
	/* Mail delivery and administration reach every mailbox whatever its
	 * logon protocols; the resolver's protocol rules are for logons. */
	req.protocol = XI_PROTO_OTHER;
	req.method = XI_METHOD_NTLM;
	req.remote = xi_dovecot_remote(request);
	xi_authdb_begin(db, authdb_event(request), XI_SINK_DROP);
	if (xi_resolve(db->resolver, &req, NULL, NULL, &res, &err) < 0) {
		xi_authdb_end(db);
		e_error(authdb_event(request), "xident: %s", err.message);
		callback(USERDB_RESULT_INTERNAL_FAILURE, request);
		return;
	}
	/* The user was authenticated already (or needs none: LMTP, doveadm). */
	xi_proof_ntlm(res, TRUE);
	r = i_new(struct xi_logon_result, 1);
	xi_finish(db->resolver, res, r);
	xi_resolution_free(res);
	xi_authdb_end(db);

	switch (r->outcome) {
	case XI_OUTCOME_OK:
	case XI_OUTCOME_PROTOCOL_DISABLED:
	case XI_OUTCOME_METHOD_DISABLED:
	case XI_OUTCOME_NTLM_DISABLED:
		if (r->home[0] != '\0')
			auth_request_set_userdb_field(request, "home", r->home);
		if (r->mail[0] != '\0')
			auth_request_set_userdb_field(request, "mail", r->mail);
		if (r->uid[0] != '\0')
			auth_request_set_userdb_field(request, "uid", r->uid);
		if (r->gid[0] != '\0')
			auth_request_set_userdb_field(request, "gid", r->gid);
		if (r->quota[0] != '\0')
			auth_request_set_userdb_field(request, "quota_rule",
				strchr(r->quota, ':') != NULL ? r->quota :
				t_strconcat("*:storage=", r->quota, NULL));
		result = USERDB_RESULT_OK;
		break;
	case XI_OUTCOME_TEMPFAIL:
		e_error(authdb_event(request), "xident: directory unavailable: %s", r->cause);
		result = USERDB_RESULT_INTERNAL_FAILURE;
		break;
	default:
		e_debug(authdb_event(request), "xident: no mailbox for this user (%s)",
			xi_outcome_info(r->outcome) != NULL ?
			xi_outcome_info(r->outcome)->name : "?");
		result = USERDB_RESULT_USER_UNKNOWN;
		break;
	}
	i_free(r);
	callback(result, request);
}

static struct userdb_module *userdb_xident_preinit(pool_t pool, const char *args)
{
	struct xident_userdb_module *module;

	module = p_new(pool, struct xident_userdb_module, 1);
	module->db = xi_authdb_get(args);
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
