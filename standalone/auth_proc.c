/*
 * The auth process: the only one that holds the bind password and talks to
 * the directory.  It answers the network process one request at a time (the
 * resolver blocks on LDAP; part 1 accepts that logons are serialised here)
 * and, for each successful logon, sends the master a grant: a random token
 * with the mailbox's uid, gid and home.  The network process only ever sees
 * the token, so even a compromised network process cannot choose whose mail
 * a session opens.
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "mailbox_target.h"
#include "privsep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "config.h"
#include "ntlm_sasl.h"
#include "resolver.h"

/* NTLM exchanges in progress, by network-process connection id.  Few at a
 * time (an exchange lasts two round trips); a small array keeps it simple. */
#define NTLM_SLOTS 256

struct ntlm_slot {
	uint32_t conn;
	struct xi_ntlm_sasl *sasl;
};

struct auth {
	const struct xi_config *cfg;
	struct xi_resolver *resolver;
	struct xi_ntlm_settings ntlm;
	char computer[256];
	char computer_upper[256];
	int net, master;
	struct ntlm_slot slots[NTLM_SLOTS];
};

static enum xi_protocol protocol_of(const char *name)
{
	if (strcmp(name, "pop3") == 0)
		return XI_PROTO_POP3;
	if (strcmp(name, "imap") == 0)
		return XI_PROTO_IMAP;
	return XI_PROTO_OTHER;
}

static void ntlm_settings_init(struct auth *a)
{
	const char *s;
	size_t i, ndomains;
	const char *const *domains;

	a->ntlm.allow_v1 = xi_config_bool(a->cfg, XI_CFG_NTLM_V1);
	a->ntlm.timestamp_window = (unsigned)xi_config_int(a->cfg, XI_CFG_NTLM_TIMESTAMP_WINDOW);
	if (gethostname(a->computer, sizeof(a->computer) - 1) < 0 || a->computer[0] == '\0')
		snprintf(a->computer, sizeof(a->computer), "xidentd");
	for (i = 0; a->computer[i] != '\0' && a->computer[i] != '.'; i++)
		a->computer_upper[i] = (char)((a->computer[i] >= 'a' && a->computer[i] <= 'z')
					      ? a->computer[i] - 32 : a->computer[i]);
	a->computer_upper[i] = '\0';
	a->ntlm.netbios_computer = a->computer_upper;
	a->ntlm.dns_computer = a->computer;
	a->ntlm.netbios_domain = "WORKGROUP";
	domains = xi_config_list(a->cfg, XI_CFG_DEFAULT_DOMAINS, &ndomains);
	if (ndomains > 0)
		a->ntlm.netbios_domain = domains[0];
	if ((s = xi_config_str(a->cfg, XI_CFG_NTLM_NETBIOS_DOMAIN)) != NULL)
		a->ntlm.netbios_domain = s;
	if ((s = xi_config_str(a->cfg, XI_CFG_NTLM_DNS_DOMAIN)) != NULL)
		a->ntlm.dns_domain = s;
	if ((s = xi_config_str(a->cfg, XI_CFG_NTLM_NETBIOS_COMPUTER)) != NULL)
		a->ntlm.netbios_computer = s;
	if ((s = xi_config_str(a->cfg, XI_CFG_NTLM_DNS_COMPUTER)) != NULL)
		a->ntlm.dns_computer = s;
}

static struct ntlm_slot *slot_find(struct auth *a, uint32_t conn, bool create)
{
	struct ntlm_slot *free_slot = NULL;

	for (size_t i = 0; i < NTLM_SLOTS; i++) {
		if (a->slots[i].sasl != NULL && a->slots[i].conn == conn)
			return &a->slots[i];
		if (a->slots[i].sasl == NULL && free_slot == NULL)
			free_slot = &a->slots[i];
	}
	if (!create || free_slot == NULL)
		return NULL;
	free_slot->conn = conn;
	return free_slot;
}

static void slot_drop(struct ntlm_slot *s)
{
	if (s != NULL && s->sasl != NULL) {
		xi_ntlm_sasl_free(s->sasl);
		s->sasl = NULL;
	}
}

/* Sends the reply for a finished logon (and the grant first, on success, so
 * that the master holds it before the network process can present it). */
static void reply_result(struct auth *a, uint32_t conn, const char *protocol, const char *remote,
			 struct xi_logon_result *r)
{
	struct xi_msg m;
	uint8_t token[XI_TOKEN_LEN];
	uint32_t status;
	unsigned uid, gid;
	const char *text = r->client_text;
	char maildir[XI_FIELD_MAX + 16];

	status = r->outcome == XI_OUTCOME_OK ? XI_AUTH_OK
		 : xi_outcome_info(r->outcome)->temporary ? XI_AUTH_TEMPFAIL : XI_AUTH_FAIL;
	if (status == XI_AUTH_OK) {
		if (!xd_mailbox_target(a->cfg, r, &uid, &gid, maildir, sizeof(maildir))) {
			xd_log(LOG_ERR, "event=13005 category=Authentication severity=error protocol=%s "
			       "remote=%s resolved=%s cause=\"mailbox has no usable uid, gid or home "
			       "(uid=%s gid=%s home=%s), or the home lies outside mail_root\" "
			       "remedy=\"set the mailbox's uid, gid and home in the directory\"",
			       protocol, remote, r->canonical_user, r->uid, r->gid, r->home);
			status = XI_AUTH_TEMPFAIL;
			text = "The mailbox is not available now; the administrator has been told.";
		} else if (RAND_bytes(token, sizeof(token)) != 1) {
			status = XI_AUTH_TEMPFAIL;
			text = "Temporary failure; try again later.";
		} else {
			xi_msg_init(&m, XI_MSG_GRANT, conn);
			xi_msg_put(&m, token, sizeof(token));
			xi_msg_put_str(&m, protocol);
			xi_msg_put_str(&m, remote);
			xi_msg_put_str(&m, r->canonical_user);
			xi_msg_put_u32(&m, uid);
			xi_msg_put_u32(&m, gid);
			xi_msg_put_str(&m, r->home);
			xi_msg_put_str(&m, maildir);
			if (xi_msg_send(a->master, &m, -1) < 0) {
				xd_log(LOG_ERR, "auth: cannot send grant to master: %m");
				status = XI_AUTH_TEMPFAIL;
				text = "Temporary failure; try again later.";
			}
		}
	}
	xi_msg_init(&m, XI_MSG_AUTH_REPLY, conn);
	xi_msg_put_u32(&m, status);
	xi_msg_put_str(&m, xi_outcome_info(r->outcome)->name);
	xi_msg_put_str(&m, text);
	xi_msg_put_str(&m, "");
	xi_msg_put(&m, token, status == XI_AUTH_OK ? sizeof(token) : 0);
	xi_msg_put_str(&m, r->canonical_user);
	/* IMAP's [REFERRAL imap://...] names the home server (RFC 2221). */
	xi_msg_put_str(&m, r->outcome == XI_OUTCOME_OTHER_SERVER ? r->home_server : "");
	if (xi_msg_send(a->net, &m, -1) < 0)
		xd_log(LOG_ERR, "auth: cannot reply to network process: %m");
	OPENSSL_cleanse(token, sizeof(token));
}

static void reply_simple(struct auth *a, uint32_t conn, uint32_t status, const char *outcome,
			 const char *text, const char *blob)
{
	struct xi_msg m;

	xi_msg_init(&m, XI_MSG_AUTH_REPLY, conn);
	xi_msg_put_u32(&m, status);
	xi_msg_put_str(&m, outcome);
	xi_msg_put_str(&m, text);
	xi_msg_put_str(&m, blob);
	xi_msg_put(&m, "", 0);
	xi_msg_put_str(&m, "");
	if (xi_msg_send(a->net, &m, -1) < 0)
		xd_log(LOG_ERR, "auth: cannot reply to network process: %m");
}

static void handle_plain(struct auth *a, struct xi_msg *m)
{
	char protocol[16], remote[64], name[XI_NAME_MAX * 3], password[1024];
	struct xi_logon_request req = { 0 };
	struct xi_logon_result *r;

	if (!xi_msg_str(m, protocol, sizeof(protocol)) || !xi_msg_str(m, remote, sizeof(remote)) ||
	    !xi_msg_str(m, name, sizeof(name)) || !xi_msg_str(m, password, sizeof(password))) {
		reply_simple(a, m->conn, XI_AUTH_FAIL, "invalid_name",
			     xi_outcome_info(XI_OUTCOME_BAD_CREDENTIALS)->client_text, "");
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, "tempfail", "Out of memory.", "");
		return;
	}
	req.name = name;
	req.protocol = protocol_of(protocol);
	req.method = XI_METHOD_PLAIN;
	req.remote = remote;
	xi_logon_plain(a->resolver, &req, password, r);
	OPENSSL_cleanse(password, sizeof(password));
	reply_result(a, m->conn, protocol, remote, r);
	free(r);
}

static void ntlm_event(enum xi_ntlm_failure f, const char *protocol, const char *remote,
		       const char *login)
{
	struct xi_event ev;

	xi_ntlm_event_fill(&ev, f);
	ev.protocol = protocol;
	ev.remote = remote;
	ev.login = login;
	xd_emit(&ev);
}

static void handle_ntlm(struct auth *a, struct xi_msg *m)
{
	char protocol[16], remote[64];
	const uint8_t *blob;
	size_t blob_len;
	struct ntlm_slot *slot;
	char *out = NULL;
	struct xi_error err = { 0 };
	enum xi_ntlm_sasl_status st;

	if (!xi_msg_str(m, protocol, sizeof(protocol)) || !xi_msg_str(m, remote, sizeof(remote)) ||
	    !xi_msg_bytes(m, &blob, &blob_len, XI_MSG_MAX)) {
		slot_drop(slot_find(a, m->conn, false));
		reply_simple(a, m->conn, XI_AUTH_FAIL, "ntlm_failed",
			     xi_outcome_info(XI_OUTCOME_BAD_CREDENTIALS)->client_text, "");
		return;
	}
	slot = slot_find(a, m->conn, true);
	if (slot == NULL) {
		reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, "tempfail",
			     "Too many NTLM logons at once; try again later.", "");
		return;
	}
	if (slot->sasl == NULL) {
		slot->sasl = xi_ntlm_sasl_new(&a->ntlm, xi_config_list_has(a->cfg, XI_CFG_NTLM_PROTOCOLS,
									    protocol));
		if (slot->sasl == NULL) {
			reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, "tempfail", "Out of memory.", "");
			return;
		}
	}
	st = xi_ntlm_sasl_step(slot->sasl, (const char *)blob, blob_len, &out, &err);
	if (st == XI_NTLM_SASL_CONTINUE) {
		reply_simple(a, m->conn, XI_AUTH_CONTINUE, "", "", out);
		free(out);
		return;
	}
	free(out);
	if (st == XI_NTLM_SASL_FAILURE) {
		bool disabled = xi_ntlm_sasl_disabled(slot->sasl);
		if (disabled) {
			struct xi_event ev;
			xi_event_from_outcome(&ev, XI_OUTCOME_NTLM_DISABLED, protocol);
			ev.remote = remote;
			ev.cause = "NTLM is not in ntlm_protocols for this protocol";
			xd_emit(&ev);
		} else {
			ntlm_event(xi_ntlm_sasl_failure(slot->sasl), protocol, remote,
				   xi_ntlm_sasl_user(slot->sasl));
		}
		reply_simple(a, m->conn, XI_AUTH_FAIL, disabled ? "ntlm_disabled" : "ntlm_failed",
			     disabled ? XI_NTLM_SASL_REFUSAL_TEXT
				      : xi_outcome_info(XI_OUTCOME_BAD_CREDENTIALS)->client_text, "");
		slot_drop(slot);
		return;
	}
	/* NEED_HASH: resolve the AUTHENTICATE's names, verify, finish. */
	{
		struct xi_logon_request req = { 0 };
		struct xi_resolution *res = NULL;
		struct xi_logon_result *r = calloc(1, sizeof(*r));
		uint8_t hash[16];
		bool have_hash;

		req.name = xi_ntlm_sasl_user(slot->sasl);
		req.ntlm_domain = xi_ntlm_sasl_domain(slot->sasl);
		req.protocol = protocol_of(protocol);
		req.method = XI_METHOD_NTLM;
		req.remote = remote;
		if (r == NULL || xi_resolve(a->resolver, &req, NULL, NULL, &res, &err) < 0) {
			free(r);
			reply_simple(a, m->conn, XI_AUTH_TEMPFAIL, "tempfail",
				     "Temporary failure; try again later.", "");
			slot_drop(slot);
			return;
		}
		have_hash = xi_resolution_nt_hash(res, hash);
		st = xi_ntlm_sasl_finish(slot->sasl, have_hash ? hash : NULL, &err);
		OPENSSL_cleanse(hash, sizeof(hash));
		if (st != XI_NTLM_SASL_DONE && have_hash &&
		    xi_ntlm_sasl_failure(slot->sasl) != XI_NTLM_BAD_RESPONSE)
			ntlm_event(xi_ntlm_sasl_failure(slot->sasl), protocol, remote, req.name);
		xi_proof_ntlm(res, st == XI_NTLM_SASL_DONE);
		xi_finish(a->resolver, res, r);
		xi_resolution_free(res);
		slot_drop(slot);
		reply_result(a, m->conn, protocol, remote, r);
		free(r);
	}
}

int xd_auth_main(const struct xi_config *cfg, int net_sock, int master_sock)
{
	struct auth a = { .cfg = cfg, .net = net_sock, .master = master_sock };
	struct xi_error err = { 0 };
	struct xi_msg *m;
	int ret = 0;

	ntlm_settings_init(&a);
	if (xi_resolver_create(cfg, xd_event_sink, NULL, &a.resolver, &err) < 0) {
		xd_log(LOG_ERR, "auth: cannot create the resolver: %s", err.message);
		return 1;
	}
	m = malloc(sizeof(*m));
	if (m == NULL) {
		xi_resolver_destroy(a.resolver);
		return 1;
	}
	for (;;) {
		int r = xi_msg_recv(net_sock, m, NULL);
		if (r == 0)
			break; /* network process gone: the master restarts us or is stopping */
		if (r < 0) {
			if (errno == EPROTO) {
				xd_log(LOG_ERR, "auth: malformed message from the network process");
				continue;
			}
			xd_log(LOG_ERR, "auth: read: %m");
			ret = 1;
			break;
		}
		switch (m->type) {
		case XI_MSG_AUTH_PLAIN:
			handle_plain(&a, m);
			/* The request held a clear-text password: do not keep it
			 * until a later, maybe shorter, message overwrites it. */
			OPENSSL_cleanse(m, sizeof(*m));
			break;
		case XI_MSG_AUTH_NTLM: handle_ntlm(&a, m); break;
		case XI_MSG_AUTH_FORGET: slot_drop(slot_find(&a, m->conn, false)); break;
		default:
			xd_log(LOG_ERR, "auth: unexpected message type %u", m->type);
			break;
		}
	}
	for (size_t i = 0; i < NTLM_SLOTS; i++)
		slot_drop(&a.slots[i]);
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
	xi_resolver_destroy(a.resolver);
	return ret;
}
