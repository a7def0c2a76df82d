/*
 * libmech_ntlm: the SASL mechanism NTLM for Dovecot 2.3 (2.3.13 removed its
 * own).  The NTLMSSP exchange is core/ntlm_server; the account's NT hash
 * comes from the passdb's credentials lookup in the scheme NTLM, which this
 * module registers, so any passdb that holds NT hashes or clear-text
 * passwords (passwd-file with {NTLM} or {PLAIN}) serves it, and the xident
 * passdb resolves Exchange-style names for it.
 *
 * The NTLM user field is the user name (it may be account\alias), the
 * domain field becomes the request's realm.  NTLM settings (v1, timestamp
 * window, names announced in the challenge, ntlm_protocols) come from
 * xident.conf: $XIDENT_CONF (pass it with Dovecot's import_environment) or
 * /etc/xident/xident.conf; without that file the safe defaults apply.
 */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "auth-common.h"
#include "auth-fields.h"
#include "auth-request.h"
#include "auth-request-handler.h"
#include "mech.h"
#include "module-dir.h"
#include "passdb.h"

#include <openssl/crypto.h>
#include <ctype.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "ntlm_config.h"
#include "ntlm_server.h"
#include "resolver.h"
#include "event-log.h"
#include "ntlm-scheme.h"
#include "xident-fields.h"

#define XI_DEFAULT_CONF "/etc/xident/xident.conf"

struct ntlm_auth_request {
	struct auth_request auth_request;
	struct xi_ntlm_server *server;
};

/* Read once at module init (before Dovecot drops privileges) and never
 * changed afterwards. */
static struct {
	struct xi_config *cfg;         /* NULL: no xident.conf, defaults */
	bool broken;                   /* xident.conf present but invalid */
	struct xi_ntlm_settings ntlm;  /* points into ncfg, or into computer* without a config */
	struct xi_ntlm_config ncfg;
	struct xi_event_levels levels;
	char computer[256], computer_upper[256];
	bool registered_scheme;
} ntlm_state;

const char *mech_ntlm_version = DOVECOT_ABI_VERSION;
void mech_ntlm_init(struct module *module);
void mech_ntlm_deinit(void);

static const char *typed_login(struct ntlm_auth_request *request)
{
	const char *user = NULL, *domain = NULL;

	if (request->server != NULL) {
		user = xi_ntlm_server_user(request->server);
		domain = xi_ntlm_server_domain(request->server);
	}
	if (user == NULL)
		return NULL;
	if (domain == NULL || *domain == '\0')
		return user;
	return t_strconcat(domain, "\\", user, NULL);
}

/* Event 13004 (or the row of outcome): the exchange failed at NTLM level. */
static void log_ntlm_event(struct ntlm_auth_request *request, enum xi_outcome outcome,
			   const char *cause)
{
	struct auth_request *auth_request = &request->auth_request;
	const struct xi_outcome_info *info = xi_outcome_info(outcome);
	struct xi_event ev;

	if (info == NULL)
		return;
	i_zero(&ev);
	ev.id = info->event_id;
	ev.category = info->category;
	ev.level = info->level;
	ev.severity = info->severity;
	ev.outcome = info->name;
	ev.protocol = auth_request->fields.service;
	ev.remote = xi_dovecot_remote(auth_request);
	ev.login = typed_login(request);
	ev.cause = cause;
	ev.remedy = info->remedy;
	xi_event_emit(&ntlm_state.levels, xi_dovecot_event_sink, auth_request->mech_event, &ev);
}

/* Drops every private field; returns the proven-case fields in the order
 * found, as key/value pairs, when keep_proven. */
static void take_private_fields(struct auth_request *auth_request, bool keep_proven,
				ARRAY_TYPE(const_string) *proven, const char **event_r,
				const char **severity_r)
{
	const ARRAY_TYPE(auth_field) *fields;
	const struct auth_field *f;
	ARRAY_TYPE(const_string) remove;
	const char *key;

	*event_r = NULL;
	*severity_r = NULL;
	if (auth_request->fields.extra_fields == NULL)
		return;
	t_array_init(&remove, 8);
	fields = auth_fields_export(auth_request->fields.extra_fields);
	array_foreach(fields, f) {
		if (strncmp(f->key, XI_FIELD_PREFIX, strlen(XI_FIELD_PREFIX)) != 0)
			continue;
		key = t_strdup(f->key);
		array_push_back(&remove, &key);
		if (!keep_proven)
			continue;
		if (str_begins(f->key, XI_FIELD_PROVEN_PREFIX)) {
			const char *k = t_strdup(f->key + strlen(XI_FIELD_PROVEN_PREFIX));
			const char *v = t_strdup(f->value != NULL ? f->value : "");
			array_push_back(proven, &k);
			array_push_back(proven, &v);
		} else if (strcmp(f->key, XI_FIELD_EVENT) == 0) {
			*event_r = t_strdup(f->value);
		} else if (strcmp(f->key, XI_FIELD_EVENT_SEVERITY) == 0) {
			*severity_r = t_strdup(f->value);
		}
	}
	array_foreach_elem(&remove, key)
		auth_fields_remove(auth_request->fields.extra_fields, key);
}

/* The text the login process shows the client.  Set directly: before the
 * user name is known auth_request_set_field() must not be called (it
 * dereferences the user). */
static void set_reason(struct auth_request *auth_request, const char *text)
{
	if (text != NULL && *text != '\0')
		auth_fields_add(auth_request->fields.extra_fields, "reason", text, 0);
}

/* A refusal before or without proof.  The client sees Dovecot's own
 * "Authentication failed.", exactly as for a wrong clear-text password
 * (Dovecot drops a failing passdb's reason): nothing about the account leaks
 * and both mechanisms read the same. */
static void ntlm_fail(struct ntlm_auth_request *request, enum xi_outcome outcome,
		      const char *cause)
{
	struct auth_request *auth_request = &request->auth_request;

	T_BEGIN {
		const char *event, *severity;
		take_private_fields(auth_request, FALSE, NULL, &event, &severity);
		log_ntlm_event(request, outcome, cause);
	} T_END;
	auth_request_fail(auth_request);
}

/* The passdb refused whatever the response: its text and its event. */
static void ntlm_refuse(struct ntlm_auth_request *request)
{
	struct auth_request *auth_request = &request->auth_request;

	T_BEGIN {
		const char *reason = t_strdup(auth_fields_find(auth_request->fields.extra_fields,
							       XI_FIELD_REFUSE_REASON));
		ARRAY_TYPE(const_string) proven;
		const char *event, *severity;

		t_array_init(&proven, 4);
		take_private_fields(auth_request, TRUE, &proven, &event, &severity);
		if (event != NULL) {
			struct xi_event ev;
			i_zero(&ev);
			ev.severity = severity;
			xi_dovecot_event_sink(auth_request->mech_event, &ev, event);
		}
		set_reason(auth_request, reason);
	} T_END;
	auth_request_fail(auth_request);
}

static void ntlm_succeed(struct ntlm_auth_request *request)
{
	struct auth_request *auth_request = &request->auth_request;

	T_BEGIN {
		ARRAY_TYPE(const_string) proven;
		const char *event, *severity, *const *kv;
		unsigned int i, count;

		t_array_init(&proven, 16);
		take_private_fields(auth_request, TRUE, &proven, &event, &severity);
		kv = array_get(&proven, &count);
		for (i = 0; i + 1 < count; i += 2)
			auth_request_set_field(auth_request, kv[i], kv[i + 1], NULL);
		if (event != NULL) {
			struct xi_event ev;
			i_zero(&ev);
			ev.severity = severity;
			xi_dovecot_event_sink(auth_request->mech_event, &ev, event);
		}
	} T_END;
	auth_request_success(auth_request, "", 0);
}

static void ntlm_credentials_callback(enum passdb_result result,
				      const unsigned char *credentials, size_t size,
				      struct auth_request *auth_request)
{
	struct ntlm_auth_request *request = (struct ntlm_auth_request *)auth_request;
	struct xi_error err;
	static const uint8_t zero_hash[16];
	enum xi_ntlm_failure f;

	switch (result) {
	case PASSDB_RESULT_OK:
		break;
	case PASSDB_RESULT_INTERNAL_FAILURE:
		T_BEGIN {
			const char *event, *severity;
			take_private_fields(auth_request, FALSE, NULL, &event, &severity);
		} T_END;
		auth_request_internal_failure(auth_request);
		return;
	case PASSDB_RESULT_SCHEME_NOT_AVAILABLE:
		ntlm_fail(request, XI_OUTCOME_NTLM_FAILED,
			  "the passdb holds no NT hash (NTLM scheme) for this user");
		return;
	default:
		/* Unknown user, disabled before proof, mismatch: the passdb
		 * already logged why. */
		T_BEGIN {
			const char *event, *severity;
			take_private_fields(auth_request, FALSE, NULL, &event, &severity);
		} T_END;
		auth_request_fail(auth_request);
		return;
	}
	if (auth_request->fields.extra_fields != NULL &&
	    auth_fields_exists(auth_request->fields.extra_fields, XI_FIELD_REFUSE_REASON)) {
		ntlm_refuse(request);
		return;
	}
	if (size != sizeof(zero_hash) || CRYPTO_memcmp(credentials, zero_hash, size) == 0) {
		ntlm_fail(request, XI_OUTCOME_NTLM_FAILED,
			  "the passdb returned an NT hash of the wrong size or an empty one");
		return;
	}
	/* No signing or sealing follows a SASL logon: no session key. */
	f = xi_ntlm_server_verify(request->server, credentials, NULL, &err);
	if (f == XI_NTLM_OK) {
		ntlm_succeed(request);
		return;
	}
	ntlm_fail(request, f == XI_NTLM_BAD_RESPONSE ? XI_OUTCOME_BAD_CREDENTIALS :
		  XI_OUTCOME_NTLM_FAILED,
		  t_strdup_printf("%s: %s", xi_ntlm_failure_name(f), err.message));
}

static bool protocol_allowed(struct auth_request *auth_request)
{
	const char *service = auth_request->fields.service;

	/* Without xident.conf the mechanism serves any passdb on every
	 * protocol; with it, the core's ntlm_protocols rule decides. */
	if (ntlm_state.cfg == NULL)
		return TRUE;
	return service != NULL && xi_ntlm_config_allowed(ntlm_state.cfg, service);
}

static void ntlm_negotiate(struct ntlm_auth_request *request,
			   const unsigned char *data, size_t data_size)
{
	struct auth_request *auth_request = &request->auth_request;
	struct xi_error err;
	uint8_t *challenge = NULL;
	size_t challenge_len = 0;
	enum xi_ntlm_failure f;

	if (ntlm_state.broken) {
		e_error(auth_request->mech_event,
			"NTLM refused: xident.conf is invalid (see the errors at startup)");
		auth_request_internal_failure(auth_request);
		return;
	}
	if (!protocol_allowed(auth_request)) {
		const struct xi_outcome_info *info = xi_outcome_info(XI_OUTCOME_NTLM_DISABLED);
		log_ntlm_event(request, XI_OUTCOME_NTLM_DISABLED,
			       t_strdup_printf("ntlm_protocols does not list %s",
					       auth_request->fields.service));
		if (info != NULL && info->client_text != NULL)
			set_reason(auth_request, info->client_text);
		auth_request_fail(auth_request);
		return;
	}
	request->server = xi_ntlm_server_new(&ntlm_state.ntlm);
	if (request->server == NULL) {
		e_error(auth_request->mech_event, "NTLM: out of memory");
		auth_request_internal_failure(auth_request);
		return;
	}
	f = xi_ntlm_server_challenge(request->server, data, data_size,
				     &challenge, &challenge_len, &err);
	if (f != XI_NTLM_OK) {
		ntlm_fail(request, XI_OUTCOME_NTLM_FAILED,
			  t_strdup_printf("NEGOTIATE %s: %s", xi_ntlm_failure_name(f), err.message));
		return;
	}
	auth_request_handler_reply_continue(auth_request, challenge, challenge_len);
	free(challenge);
}

static void ntlm_authenticate(struct ntlm_auth_request *request,
			      const unsigned char *data, size_t data_size)
{
	struct auth_request *auth_request = &request->auth_request;
	struct xi_error err;
	const char *user, *domain, *error;
	enum xi_ntlm_failure f;

	f = xi_ntlm_server_authenticate(request->server, data, data_size, &err);
	if (f != XI_NTLM_OK) {
		ntlm_fail(request, XI_OUTCOME_NTLM_FAILED,
			  t_strdup_printf("AUTHENTICATE %s: %s", xi_ntlm_failure_name(f), err.message));
		return;
	}
	user = xi_ntlm_server_user(request->server);
	domain = xi_ntlm_server_domain(request->server);
	if (user == NULL || *user == '\0') {
		ntlm_fail(request, XI_OUTCOME_NTLM_FAILED, "AUTHENTICATE names no user");
		return;
	}
	if (!auth_request_set_username(auth_request, user, &error)) {
		ntlm_fail(request, XI_OUTCOME_INVALID_NAME,
			  t_strdup_printf("user name refused by Dovecot: %s", error));
		return;
	}
	if (domain != NULL && *domain != '\0') {
		auth_request_set_realm(auth_request, domain);
		auth_fields_add(auth_request->fields.extra_fields, XI_FIELD_NTLM_DOMAIN, domain, 0);
	}
	auth_request_lookup_credentials(auth_request, "NTLM", ntlm_credentials_callback);
}

static void mech_ntlm_auth_continue(struct auth_request *auth_request,
				    const unsigned char *data, size_t data_size)
{
	struct ntlm_auth_request *request = (struct ntlm_auth_request *)auth_request;

	T_BEGIN {
		if (data_size > XI_NTLM_MESSAGE_MAX) {
			ntlm_fail(request, XI_OUTCOME_NTLM_FAILED,
				  t_strdup_printf("message of %zu bytes (limit %d)",
						  data_size, XI_NTLM_MESSAGE_MAX));
		} else if (request->server == NULL) {
			ntlm_negotiate(request, data, data_size);
		} else {
			ntlm_authenticate(request, data, data_size);
		}
	} T_END;
}

static struct auth_request *mech_ntlm_auth_new(void)
{
	struct ntlm_auth_request *request;
	pool_t pool;

	pool = pool_alloconly_create(MEMPOOL_GROWING"ntlm_auth_request", 2048);
	request = p_new(pool, struct ntlm_auth_request, 1);
	request->auth_request.pool = pool;
	return &request->auth_request;
}

static void mech_ntlm_auth_free(struct auth_request *auth_request)
{
	struct ntlm_auth_request *request = (struct ntlm_auth_request *)auth_request;

	xi_ntlm_server_free(request->server);
	request->server = NULL;
	mech_generic_auth_free(auth_request);
}

static const struct mech_module mech_ntlm = {
	"NTLM",

	.flags = MECH_SEC_DICTIONARY | MECH_SEC_ACTIVE | MECH_SEC_ALLOW_NULS,
	.passdb_need = MECH_PASSDB_NEED_LOOKUP_CREDENTIALS,

	mech_ntlm_auth_new,
	mech_generic_auth_initial,
	mech_ntlm_auth_continue,
	mech_ntlm_auth_free
};

static void load_settings(void)
{
	const char *path = getenv("XIDENT_CONF");
	struct xi_config_report report = { 0, NULL };
	char *p;

	if (path == NULL || *path == '\0')
		path = XI_DEFAULT_CONF;
	ntlm_state.ntlm.allow_v1 = false;
	ntlm_state.ntlm.timestamp_window = 300;
	if (access(path, F_OK) == 0) {
		if (xi_config_load(path, &ntlm_state.cfg, &report) < 0) {
			size_t i;
			char line[700];
			for (i = 0; i < report.count; i++) {
				xi_config_problem_format(&report.problems[i], line, sizeof(line));
				i_error("NTLM: %s", line);
			}
			i_error("NTLM: %s is invalid: NTLM logons are refused until it is fixed", path);
			ntlm_state.broken = TRUE;
			ntlm_state.cfg = NULL;
		}
		xi_config_report_free(&report);
	}
	if (gethostname(ntlm_state.computer, sizeof(ntlm_state.computer) - 1) < 0 ||
	    ntlm_state.computer[0] == '\0')
		i_strocpy(ntlm_state.computer, "localhost", sizeof(ntlm_state.computer));
	i_strocpy(ntlm_state.computer_upper, ntlm_state.computer, sizeof(ntlm_state.computer_upper));
	/* The NetBIOS computer name is the first label of the host name. */
	if ((p = strchr(ntlm_state.computer_upper, '.')) != NULL)
		*p = '\0';
	for (p = ntlm_state.computer_upper; *p != '\0'; p++)
		*p = i_toupper(*p);
	ntlm_state.ntlm.netbios_computer = ntlm_state.computer_upper;
	ntlm_state.ntlm.dns_computer = ntlm_state.computer;
	ntlm_state.ntlm.netbios_domain = "WORKGROUP";
	ntlm_state.ntlm.dns_domain = "";
	if (ntlm_state.cfg == NULL) {
		for (int cat = 0; cat < XI_CAT__COUNT; cat++)
			ntlm_state.levels.level[cat] = XI_LEVEL_MINIMUM;
		return;
	}
	xi_event_levels_from_config(ntlm_state.cfg, &ntlm_state.levels);
	/* The ntlm_* keys and their documented defaults are the core's. */
	{
		struct xi_error err;

		if (xi_ntlm_config_load(ntlm_state.cfg, &ntlm_state.ncfg, &err) < 0) {
			i_error("NTLM: %s: NTLM logons are refused until it is fixed", err.message);
			ntlm_state.broken = TRUE;
			return;
		}
		ntlm_state.ntlm = ntlm_state.ncfg.settings;
	}
}

void mech_ntlm_init(struct module *module ATTR_UNUSED)
{
	load_settings();
	ntlm_state.registered_scheme = xi_ntlm_scheme_register();
	mech_register_module(&mech_ntlm);
}

void mech_ntlm_deinit(void)
{
	mech_unregister_module(&mech_ntlm);
	if (ntlm_state.registered_scheme)
		xi_ntlm_scheme_unregister();
	xi_config_free(ntlm_state.cfg);
	i_zero(&ntlm_state);
}
