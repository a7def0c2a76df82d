/*
 * passdb xident: Exchange-style logons resolved against the directory.
 *
 *   passdb {
 *     driver = xident
 *     args = /etc/xident/xident.conf
 *   }
 *
 * Blocking (LDAP): Dovecot runs it in auth-worker processes.
 *
 * verify_plain        clear-text logons: the whole resolution (core
 *                     xi_logon_plain), then the outcome as Dovecot's result
 *                     and extra fields.
 * lookup_credentials  the NTLM mechanism's path: resolution phase 1 gives
 *                     the account's NT hash (a dummy one for unknown names);
 *                     the mechanism proves the response.  What a proven
 *                     logon leads to travels in private fields that the
 *                     mechanism applies only after the proof
 *                     (xident-fields.h).
 *
 * Outcome -> Dovecot (clear text):
 *   ok                  OK, user=<canonical>, userdb_home/mail/uid/gid/quota_rule
 *   bad credentials,
 *   invalid name        PASSWORD_MISMATCH, reason=<text>
 *   account disabled    USER_DISABLED, reason=<text>
 *   no mailbox, denied,
 *   ambiguous, protocol
 *   or method disabled,
 *   NTLM disabled       OK, nologin, reason=<text>    (password was proven)
 *   other server        home_server_action = proxy: OK, proxy, host, port,
 *                       destuser=<name as typed>, user=<canonical>;
 *                       referral: OK, nologin, host, port, reason=<text>
 *                       (IMAP sends [REFERRAL imap://...])
 *   temporary failure   INTERNAL_FAILURE (client: [UNAVAILABLE] / [SYS/TEMP])
 */
#include "lib.h"
#include "str.h"
#include "auth-common.h"
#include "auth-fields.h"
#include "auth-request.h"
#include "passdb.h"

#include <openssl/crypto.h>

#include "event-log.h"
#include "authdb-xident.h"
#include "xident-fields.h"

struct xident_passdb_module {
	struct passdb_module module;
	struct xi_authdb *db;
};

static struct xi_authdb *request_db(struct auth_request *request)
{
	return ((struct xident_passdb_module *)request->passdb->passdb)->db;
}

static void logon_request(struct auth_request *request, enum xi_auth_method method,
			  struct xi_logon_request *req_r)
{
	i_zero(req_r);
	req_r->name = request->fields.user;
	if (method == XI_METHOD_NTLM) {
		/* The realm does not travel to auth-workers; the mechanism's
		 * private field does. */
		req_r->ntlm_domain = auth_fields_find(request->fields.extra_fields,
						      XI_FIELD_NTLM_DOMAIN);
		if (req_r->ntlm_domain == NULL)
			req_r->ntlm_domain = request->fields.realm;
	}
	req_r->protocol = xi_dovecot_protocol(request->fields.service);
	req_r->method = method;
	req_r->remote = xi_dovecot_remote(request);
}

static bool is_imap(struct auth_request *request)
{
	return xi_dovecot_protocol(request->fields.service) == XI_PROTO_IMAP;
}

static const char *home_server_port(struct xi_authdb *db, struct auth_request *request)
{
	return dec2str(xi_config_int(db->cfg, is_imap(request) ? XI_CFG_HOME_SERVER_PORT_IMAP :
				     XI_CFG_HOME_SERVER_PORT_POP3));
}

static bool proxy_mode(struct xi_authdb *db)
{
	/* home_server_action = referral|proxy */
	return xi_config_enum(db->cfg, XI_CFG_HOME_SERVER_ACTION) == 1;
}

/* Sets name=value, or prefixed with XI_FIELD_PROVEN_PREFIX when deferred. */
static void set_field(struct auth_request *request, bool deferred,
		      const char *name, const char *value)
{
	auth_request_set_field(request, deferred ?
			       t_strconcat(XI_FIELD_PROVEN_PREFIX, name, NULL) : name,
			       value, NULL);
}

static void set_userdb_fields(struct auth_request *request, const struct xi_logon_result *r)
{
	if (r->home[0] != '\0')
		auth_request_set_field(request, "userdb_home", r->home, NULL);
	if (r->mail[0] != '\0')
		auth_request_set_field(request, "userdb_mail", r->mail, NULL);
	if (r->uid[0] != '\0')
		auth_request_set_field(request, "userdb_uid", r->uid, NULL);
	if (r->gid[0] != '\0')
		auth_request_set_field(request, "userdb_gid", r->gid, NULL);
	if (r->quota[0] != '\0') {
		/* A bare size ("2G") is a storage limit; a full rule passes as is. */
		auth_request_set_field(request, "userdb_quota_rule",
				       strchr(r->quota, ':') != NULL ? r->quota :
				       t_strconcat("*:storage=", r->quota, NULL), NULL);
	}
}

static const char *reason_text(const struct xi_logon_result *r)
{
	if (r->client_text[0] != '\0')
		return r->client_text;
	const struct xi_outcome_info *info = xi_outcome_info(r->outcome);
	return info != NULL && info->client_text != NULL ? info->client_text : "";
}

/* The outcome of a logon whose password is proven (or, deferred, would be
 * once the NTLM mechanism has proven it) as extra fields; returns the
 * Dovecot result. */
static enum passdb_result
apply_outcome(struct xi_authdb *db, struct auth_request *request,
	      const struct xi_logon_result *r, bool deferred)
{
	switch (r->outcome) {
	case XI_OUTCOME_OK:
		if (r->canonical_user[0] != '\0')
			set_field(request, deferred, "user", r->canonical_user);
		set_userdb_fields(request, r);
		return PASSDB_RESULT_OK;
	case XI_OUTCOME_BAD_CREDENTIALS:
	case XI_OUTCOME_INVALID_NAME:
	case XI_OUTCOME_NTLM_FAILED:
		auth_request_set_field(request, "reason", reason_text(r), NULL);
		return PASSDB_RESULT_PASSWORD_MISMATCH;
	case XI_OUTCOME_ACCOUNT_DISABLED:
		if (!deferred) {
			auth_request_set_field(request, "reason", reason_text(r), NULL);
			return PASSDB_RESULT_USER_DISABLED;
		}
		/* NTLM: a failed credentials lookup carries no fields to the
		 * auth process, so a proven refusal is OK + nologin there. */
		set_field(request, TRUE, "nologin", "y");
		set_field(request, TRUE, "reason", reason_text(r));
		return PASSDB_RESULT_OK;
	case XI_OUTCOME_OTHER_SERVER:
		if (proxy_mode(db) && !deferred && r->home_server[0] != '\0') {
			/* The home server resolves the name again: it gets the
			 * name as typed and the same password. */
			if (r->canonical_user[0] != '\0')
				auth_request_set_field(request, "user", r->canonical_user, NULL);
			auth_request_set_field(request, "proxy", "y", NULL);
			auth_request_set_field(request, "host", r->home_server, NULL);
			auth_request_set_field(request, "port", home_server_port(db, request), NULL);
			auth_request_set_field(request, "destuser",
					       request->fields.original_username, NULL);
			return PASSDB_RESULT_OK;
		}
		set_field(request, deferred, "nologin", "y");
		if (r->home_server[0] != '\0' && is_imap(request)) {
			/* nologin + host: imap-login answers with a
			 * [REFERRAL imap://...] (RFC 2221). */
			set_field(request, deferred, "host", r->home_server);
			set_field(request, deferred, "port", home_server_port(db, request));
		}
		set_field(request, deferred, "reason", reason_text(r));
		return PASSDB_RESULT_OK;
	case XI_OUTCOME_NO_MAILBOX:
	case XI_OUTCOME_ACCESS_DENIED:
	case XI_OUTCOME_AMBIGUOUS:
	case XI_OUTCOME_PROTOCOL_DISABLED:
	case XI_OUTCOME_METHOD_DISABLED:
	case XI_OUTCOME_NTLM_DISABLED:
	case XI_OUTCOME_PLAINTEXT_DISABLED: /* decided by xidentd, never by the resolver */
	case XI_OUTCOME_SESSION_LIMIT:      /* Dovecot has its own limit */
		set_field(request, deferred, "nologin", "y");
		set_field(request, deferred, "reason", reason_text(r));
		return PASSDB_RESULT_OK;
	case XI_OUTCOME_TEMPFAIL:
	case XI_OUTCOME__COUNT:
		break;
	}
	return PASSDB_RESULT_INTERNAL_FAILURE;
}

static void passdb_xident_verify_plain(struct auth_request *request, const char *password,
				       verify_plain_callback_t *callback)
{
	struct xi_authdb *db = request_db(request);
	struct xi_logon_request req;
	struct xi_logon_result *r;
	enum passdb_result result;

	r = i_new(struct xi_logon_result, 1);
	logon_request(request, XI_METHOD_PLAIN, &req);
	xi_authdb_begin(db, authdb_event(request), XI_SINK_LOG);
	xi_logon_plain(db->resolver, &req, password, r);
	xi_authdb_end(db);
	result = apply_outcome(db, request, r, FALSE);
	if (result == PASSDB_RESULT_PASSWORD_MISMATCH)
		auth_request_log_password_mismatch(request, AUTH_SUBSYS_DB);
	i_free(r);
	callback(result, request);
}

static void passdb_xident_lookup_credentials(struct auth_request *request,
					     lookup_credentials_callback_t *callback)
{
	struct xi_authdb *db = request_db(request);
	struct xi_logon_request req;
	struct xi_resolution *res = NULL;
	struct xi_logon_result *r;
	struct xi_error err;
	uint8_t nt_hash[16];
	bool have_hash;
	enum passdb_result result;

	if (strcasecmp(request->wanted_credentials_scheme, "NTLM") != 0) {
		e_info(authdb_event(request),
		       "xident serves only NTLM credentials (asked for '%s')",
		       request->wanted_credentials_scheme);
		callback(PASSDB_RESULT_SCHEME_NOT_AVAILABLE, NULL, 0, request);
		return;
	}
	logon_request(request, XI_METHOD_NTLM, &req);
	xi_authdb_begin(db, authdb_event(request), XI_SINK_LOG);
	if (xi_resolve(db->resolver, &req, NULL, NULL, &res, &err) < 0) {
		xi_authdb_end(db);
		e_error(authdb_event(request), "xident: %s", err.message);
		callback(PASSDB_RESULT_INTERNAL_FAILURE, NULL, 0, request);
		return;
	}
	have_hash = xi_resolution_nt_hash(res, nt_hash);
	/* What a proven response leads to.  The event is kept, not written:
	 * the mechanism writes it once the response verified. */
	xi_proof_ntlm(res, have_hash);
	r = i_new(struct xi_logon_result, 1);
	xi_authdb_begin(db, authdb_event(request), XI_SINK_CAPTURE);
	xi_finish(db->resolver, res, r);
	xi_resolution_free(res);
	switch (r->outcome) {
	case XI_OUTCOME_BAD_CREDENTIALS:
	case XI_OUTCOME_INVALID_NAME:
	case XI_OUTCOME_NTLM_FAILED:
	case XI_OUTCOME_TEMPFAIL:
		/* Refused whatever the response: unknown name, no NT hash,
		 * directory down.  The event is true now. */
		if (db->captured[0] != '\0') {
			struct xi_event ev = { .severity = db->captured_severity };
			xi_dovecot_event_sink(authdb_event(request), &ev, db->captured);
		}
		xi_authdb_end(db);
		result = r->outcome == XI_OUTCOME_TEMPFAIL ? PASSDB_RESULT_INTERNAL_FAILURE :
			PASSDB_RESULT_PASSWORD_MISMATCH;
		OPENSSL_cleanse(nt_hash, sizeof(nt_hash));
		i_free(r);
		callback(result, NULL, 0, request);
		return;
	case XI_OUTCOME_NTLM_DISABLED:
		/* Decided before any proof and told as such; a failed lookup
		 * carries no text to the auth process, so it travels as a
		 * private field of an answer no response can verify. */
		auth_request_set_field(request, XI_FIELD_REFUSE_REASON, reason_text(r), NULL);
		if (db->captured[0] != '\0') {
			auth_request_set_field(request, XI_FIELD_EVENT, db->captured, NULL);
			auth_request_set_field(request, XI_FIELD_EVENT_SEVERITY,
					       db->captured_severity, NULL);
		}
		xi_authdb_end(db);
		i_free(r);
		memset(nt_hash, 0, sizeof(nt_hash));
		callback(PASSDB_RESULT_OK, nt_hash, sizeof(nt_hash), request);
		return;
	default:
		break;
	}
	if (db->captured[0] != '\0') {
		auth_request_set_field(request, XI_FIELD_EVENT, db->captured, NULL);
		auth_request_set_field(request, XI_FIELD_EVENT_SEVERITY,
				       db->captured_severity, NULL);
	}
	xi_authdb_end(db);
	result = apply_outcome(db, request, r, TRUE);
	i_free(r);
	if (result != PASSDB_RESULT_OK) {
		OPENSSL_cleanse(nt_hash, sizeof(nt_hash));
		callback(result, NULL, 0, request);
		return;
	}
	callback(PASSDB_RESULT_OK, nt_hash, sizeof(nt_hash), request);
	OPENSSL_cleanse(nt_hash, sizeof(nt_hash));
}

static struct passdb_module *passdb_xident_preinit(pool_t pool, const char *args)
{
	struct xident_passdb_module *module;

	module = p_new(pool, struct xident_passdb_module, 1);
	module->db = xi_authdb_get(args);
	/* LDAP calls block: Dovecot runs them in auth-worker processes. */
	module->module.blocking = TRUE;
	return &module->module;
}

static void passdb_xident_deinit(struct passdb_module *_module)
{
	struct xident_passdb_module *module = (struct xident_passdb_module *)_module;

	xi_authdb_unref(&module->db);
}

struct passdb_module_interface passdb_xident = {
	.name = "xident",
	.preinit = passdb_xident_preinit,
	.deinit = passdb_xident_deinit,
	.verify_plain = passdb_xident_verify_plain,
	.lookup_credentials = passdb_xident_lookup_credentials,
};
