/*
 * imap_login: IMAP4rev1 in the not-authenticated state (RFC 3501 6.1, 6.2),
 * run by the network process: CAPABILITY, NOOP, LOGOUT, ID, STARTTLS, LOGIN
 * and AUTHENTICATE PLAIN/LOGIN/NTLM (SASL-IR; NTLM framed as MS-OXIMAP4:
 * "+ " then the client's NEGOTIATE, "+ <challenge>", then AUTHENTICATE).
 *
 * Logon outcomes are the core's (the auth process answers with the outcome
 * name and client text); the response code is
 * the outcome table's imap_code (AUTHENTICATIONFAILED, AUTHORIZATIONFAILED,
 * CONTACTADMIN, UNAVAILABLE, ...), except that a mailbox on another home
 * server is NO [REFERRAL imap://name;AUTH=*@host/] (RFC 2221, the Exchange
 * behaviour).
 * A granted logon is handed to the master with the command's tag; the mail
 * process answers it (imap_session.c).
 *
 * Commands are read with imap_parser (literals, LITERAL+), bounded by the
 * listener's max_line_length also for literals: nothing before logon needs
 * more.  SASL responses are raw lines, read here.
 */
#define _GNU_SOURCE
#include "net_conn.h"
#include "imap_parser.h"
#include "imap_text.h"
#include "xidentd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "config.h"
#include "logon_policy.h"
#include "ntlm_sasl.h"
#include "outcome.h"
#include "privsep.h"

enum sasl_state { SASL_NONE, SASL_PLAIN, SASL_LOGIN_USER, SASL_LOGIN_PASS, SASL_NTLM };

struct xd_imap_login {
	struct xi_imap_parser *parser;
	enum sasl_state sasl;
	char *name;                 /* logon name typed (LOGIN, PLAIN, AUTH LOGIN) */
	char tag[XD_IMAP_TAG_MAX];  /* tag of the logon command in progress */
};

void xd_imap_login_free(struct xd_imap_login *l)
{
	if (l == NULL)
		return;
	xi_imap_parser_free(l->parser);
	if (l->name != NULL) {
		OPENSSL_cleanse(l->name, strlen(l->name));
		free(l->name);
	}
	free(l);
}

static struct xd_imap_login *login_state(struct net *n, struct conn *c)
{
	struct xd_imap_login **lp = xd_conn_imap_state(c);

	if (*lp == NULL) {
		struct xi_imap_limits lim;
		xi_imap_limits_default(&lim);
		/* Before logon only names and passwords travel: a line's worth. */
		lim.max_line = xd_net_max_line(n);
		lim.max_literal = xd_net_max_line(n);
		lim.max_command = 2 * xd_net_max_line(n);
		lim.max_args = 16;
		lim.max_depth = 2;
		lim.atom_backslash = true;
		*lp = calloc(1, sizeof(**lp));
		if (*lp != NULL && ((*lp)->parser = xi_imap_parser_new(&lim)) == NULL) {
			free(*lp);
			*lp = NULL;
		}
	}
	return *lp;
}

static void sendf(struct net *n, struct conn *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sendf(struct net *n, struct conn *c, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	if ((size_t)len > sizeof(line) - 3)
		len = (int)sizeof(line) - 3;
	line[len++] = '\r';
	line[len++] = '\n';
	xd_conn_send(n, c, line, (size_t)len);
}

/* plaintext_logons: where it refuses, LOGINDISABLED is announced and
 * LOGIN/AUTHENTICATE PLAIN/LOGIN answer NO [PRIVACYREQUIRED]. */
static bool plaintext_ok(struct net *n, struct conn *c)
{
	return xd_plaintext_allowed(xd_net_config(n), xd_conn_tls_active(c), xd_conn_remote(c));
}

static void refuse_plaintext(struct net *n, struct conn *c, const char *tag)
{
	const struct xi_outcome_info *info = xi_outcome_info(XI_OUTCOME_PLAINTEXT_DISABLED);
	struct xi_event ev;

	xi_event_from_outcome(&ev, XI_OUTCOME_PLAINTEXT_DISABLED, "imap");
	ev.remote = xd_conn_remote(c);
	ev.cause = "clear-text logon on a connection without TLS (plaintext_logons)";
	xd_emit(&ev);
	sendf(n, c, "%s NO [%s] %s", tag, info->imap_code, info->client_text);
}

/* Where clear text is refused, only NTLM is offered (as Dovecot hides
 * PLAIN and LOGIN with disable_plaintext_auth). */
static const char *capabilities(struct net *n, struct conn *c)
{
	bool tls = xd_conn_tls_offered(n, c), plain = plaintext_ok(n, c);

	if (plain)
		return tls ? IMAP_CAPS_COMMON " STARTTLS " IMAP_CAPS_PREAUTH_MECHS
			   : IMAP_CAPS_COMMON " " IMAP_CAPS_PREAUTH_MECHS;
	return tls ? IMAP_CAPS_COMMON " STARTTLS LOGINDISABLED AUTH=NTLM"
		   : IMAP_CAPS_COMMON " LOGINDISABLED AUTH=NTLM";
}

static void send_capability(struct net *n, struct conn *c)
{
	sendf(n, c, "* CAPABILITY %s", capabilities(n, c));
}

void xd_imap_login_greet(struct net *n, struct conn *c)
{
	sendf(n, c, "* OK [CAPABILITY %s] " IMAP_GREETING, capabilities(n, c));
}

static void set_name(struct xd_imap_login *l, const char *name)
{
	if (l->name != NULL) {
		OPENSSL_cleanse(l->name, strlen(l->name));
		free(l->name);
	}
	l->name = name != NULL ? strdup(name) : NULL;
}

static void plain_response(struct net *n, struct conn *c, struct xd_imap_login *l, const char *b64)
{
	uint8_t raw[1024];
	int len = xi_ntlm_base64_decode(b64, strlen(b64), raw, sizeof(raw) - 1);
	const char *authz, *authc, *pass;
	size_t l1, l2;
	char reply[XD_IMAP_TAG_MAX + 160];

	l->sasl = SASL_NONE;
	if (len < 0) {
		sendf(n, c, "%s BAD Invalid base64 data.", l->tag);
		return;
	}
	raw[len] = '\0';
	authz = (const char *)raw;
	l1 = strnlen(authz, (size_t)len);
	authc = l1 < (size_t)len ? authz + l1 + 1 : NULL;
	l2 = authc != NULL ? strnlen(authc, (size_t)len - l1 - 1) : 0;
	pass = authc != NULL && l1 + 1 + l2 < (size_t)len ? authc + l2 + 1 : NULL;
	if (pass == NULL || memchr(pass, '\0', (size_t)len - l1 - l2 - 2) != NULL ||
	    (l1 > 0 && strcmp(authz, authc) != 0)) {
		/* Logging on as someone else (authorization identity) is not ours. */
		snprintf(reply, sizeof(reply), "%s NO [AUTHENTICATIONFAILED] Invalid PLAIN response "
			 "(authorization identity differs, or malformed).", l->tag);
		xd_conn_logon_failed(n, c, reply);
		OPENSSL_cleanse(raw, sizeof(raw));
		return;
	}
	set_name(l, authc);
	xd_conn_auth_plain(n, c, authc, pass);
	OPENSSL_cleanse(raw, sizeof(raw));
}

/* One SASL response line (CRLF removed). */
static void sasl_line(struct net *n, struct conn *c, struct xd_imap_login *l, char *line)
{
	enum sasl_state st = l->sasl;

	if (strcmp(line, "*") == 0) {
		l->sasl = SASL_NONE;
		if (st == SASL_NTLM)
			xd_conn_auth_forget(n, c);
		sendf(n, c, "%s BAD Authentication cancelled.", l->tag);
		return;
	}
	switch (st) {
	case SASL_PLAIN:
		plain_response(n, c, l, line);
		return;
	case SASL_LOGIN_USER:
	case SASL_LOGIN_PASS: {
		uint8_t raw[1024];
		int len = xi_ntlm_base64_decode(line, strlen(line), raw, sizeof(raw) - 1);
		if (len < 0 || memchr(raw, '\0', (size_t)len) != NULL) {
			l->sasl = SASL_NONE;
			sendf(n, c, "%s BAD Invalid base64 data.", l->tag);
			return;
		}
		raw[len] = '\0';
		if (st == SASL_LOGIN_USER) {
			set_name(l, (char *)raw);
			l->sasl = SASL_LOGIN_PASS;
			sendf(n, c, "+ UGFzc3dvcmQ6");
		} else {
			l->sasl = SASL_NONE;
			xd_conn_auth_plain(n, c, l->name != NULL ? l->name : "", (char *)raw);
		}
		OPENSSL_cleanse(raw, sizeof(raw));
		return;
	}
	case SASL_NTLM:
		l->sasl = SASL_NONE;
		xd_conn_auth_ntlm(n, c, line, strlen(line));
		return;
	case SASL_NONE:
		break;
	}
}

static bool arg_is_string(const struct xi_imap_arg *a)
{
	return a != NULL && (a->type == XI_IMAP_ARG_ATOM || a->type == XI_IMAP_ARG_QUOTED ||
			     a->type == XI_IMAP_ARG_LITERAL);
}

static void cmd_authenticate(struct net *n, struct conn *c, struct xd_imap_login *l,
			     const struct xi_imap_command *cmd)
{
	const struct xi_imap_arg *mech = cmd->args, *ir = mech != NULL ? mech->next : NULL;

	if (mech == NULL || mech->type != XI_IMAP_ARG_ATOM || cmd->argc > 2 ||
	    (ir != NULL && ir->type != XI_IMAP_ARG_ATOM)) {
		sendf(n, c, "%s BAD AUTHENTICATE needs a mechanism name and at most an initial "
		      "response.", cmd->tag);
		return;
	}
	if (strcasecmp(mech->str, "PLAIN") == 0 || strcasecmp(mech->str, "LOGIN") == 0) {
		if (!plaintext_ok(n, c)) {
			refuse_plaintext(n, c, cmd->tag);
			return;
		}
	}
	if (strcasecmp(mech->str, "PLAIN") == 0) {
		if (ir != NULL) {
			plain_response(n, c, l, strcmp(ir->str, "=") == 0 ? "" : ir->str);
		} else {
			l->sasl = SASL_PLAIN;
			sendf(n, c, "+ ");
		}
	} else if (strcasecmp(mech->str, "LOGIN") == 0) {
		if (ir != NULL) {
			/* SASL-IR for LOGIN: the user name. */
			l->sasl = SASL_LOGIN_USER;
			sasl_line(n, c, l, (char *)ir->str);
		} else {
			l->sasl = SASL_LOGIN_USER;
			sendf(n, c, "+ VXNlcm5hbWU6");
		}
	} else if (strcasecmp(mech->str, "NTLM") == 0) {
		set_name(l, NULL);
		if (ir != NULL && strcmp(ir->str, "=") != 0) {
			xd_conn_auth_ntlm(n, c, ir->str, ir->len);
		} else {
			l->sasl = SASL_NTLM;
			sendf(n, c, "+ ");
		}
	} else {
		sendf(n, c, "%s NO Unsupported authentication mechanism (try PLAIN, LOGIN or NTLM).",
		      cmd->tag);
	}
}

static void run_command(struct net *n, struct conn *c, struct xd_imap_login *l,
			const struct xi_imap_command *cmd)
{
	const char *name = cmd->name;

	snprintf(l->tag, sizeof(l->tag), "%s", cmd->tag);
	const char *shape = xi_imap_command_shape_error(cmd);
	if (shape != NULL) {
		sendf(n, c, "%s BAD %s", cmd->tag, shape);
		return;
	}
	if (strcasecmp(name, "CAPABILITY") == 0) {
		send_capability(n, c);
		sendf(n, c, "%s OK Pre-login capabilities listed, post-login capabilities have more.",
		      cmd->tag);
	} else if (strcasecmp(name, "NOOP") == 0) {
		sendf(n, c, "%s OK NOOP completed.", cmd->tag);
	} else if (strcasecmp(name, "LOGOUT") == 0) {
		sendf(n, c, "* BYE Logging out.\r\n%s OK Logout completed.", cmd->tag);
		xd_conn_closing(c);
	} else if (strcasecmp(name, "ID") == 0) {
		sendf(n, c, "* ID (\"name\" \"" XIDENTD_IMPLEMENTATION "\")\r\n%s OK ID completed.",
		      cmd->tag);
	} else if (strcasecmp(name, "STARTTLS") == 0) {
		if (!xd_conn_tls_offered(n, c)) {
			sendf(n, c, "%s BAD %s", cmd->tag, xd_conn_tls_active(c) ? "TLS is already active."
									 : "TLS is not configured.");
			return;
		}
		sendf(n, c, "%s OK Begin TLS negotiation now.", cmd->tag);
		(void)xd_conn_starttls(n, c);
	} else if (strcasecmp(name, "LOGIN") == 0) {
		const struct xi_imap_arg *user = cmd->args, *pass = user != NULL ? user->next : NULL;
		if (cmd->argc != 2 || !arg_is_string(user) || !arg_is_string(pass)) {
			sendf(n, c, "%s BAD LOGIN needs a user name and a password.", cmd->tag);
			xi_imap_parser_release(l->parser); /* a password may be among them */
			return;
		}
		if (!plaintext_ok(n, c)) {
			refuse_plaintext(n, c, cmd->tag);
			xi_imap_parser_release(l->parser); /* LOGINDISABLED: never read */
			return;
		}
		set_name(l, user->str);
		xd_conn_auth_plain(n, c, user->str, pass->str);
		/* The parser's copy of the line (and of a literal) would wait
		 * for the client's next command: a refused password too. */
		xi_imap_parser_release(l->parser);
	} else if (strcasecmp(name, "AUTHENTICATE") == 0) {
		cmd_authenticate(n, c, l, cmd);
		xi_imap_parser_release(l->parser); /* SASL-IR: a PLAIN response */
	} else if (strcasecmp(name, "SELECT") == 0 || strcasecmp(name, "EXAMINE") == 0 ||
		   strcasecmp(name, "LIST") == 0 || strcasecmp(name, "LSUB") == 0 ||
		   strcasecmp(name, "STATUS") == 0 || strcasecmp(name, "APPEND") == 0 ||
		   strcasecmp(name, "CREATE") == 0 || strcasecmp(name, "DELETE") == 0 ||
		   strcasecmp(name, "RENAME") == 0 || strcasecmp(name, "SUBSCRIBE") == 0 ||
		   strcasecmp(name, "UNSUBSCRIBE") == 0 || strcasecmp(name, "NAMESPACE") == 0 ||
		   strcasecmp(name, "ENABLE") == 0 || strcasecmp(name, "IDLE") == 0 ||
		   strcasecmp(name, "FETCH") == 0 || strcasecmp(name, "UID") == 0) {
		sendf(n, c, "%s BAD Log on first.", cmd->tag);
	} else {
		sendf(n, c, "%s BAD Unknown command.", cmd->tag);
	}
}

bool xd_imap_login_step(struct net *n, struct conn *c)
{
	struct xd_imap_login *l = login_state(n, c);
	const char *data;
	size_t len, used = 0;

	if (l == NULL) {
		xd_conn_close(n, c, "out of memory");
		return false;
	}
	xd_conn_input(c, &data, &len);
	if (l->sasl != SASL_NONE) {
		const char *nl = memchr(data, '\n', len);
		size_t ll;
		char *line;
		if (nl == NULL) {
			if (len > xd_net_max_line(n)) {
				sendf(n, c, "* BYE Line too long; closing the connection.");
				xd_conn_close(n, c, "line too long");
			}
			return false;
		}
		ll = (size_t)(nl - data);
		if (ll > 0 && data[ll - 1] == '\r')
			ll--;
		/* Not strndup: the input buffer is not NUL-terminated, and
		 * strndup may look for a NUL past ll (ASan's strict string
		 * checks do, and report it). */
		line = malloc(ll + 1);
		if (line != NULL) {
			memcpy(line, data, ll);
			line[ll] = '\0';
		}
		xd_conn_consume(c, (size_t)(nl - data) + 1);
		if (line == NULL) {
			xd_conn_close(n, c, "out of memory");
			return false;
		}
		if (strlen(line) != ll) {
			l->sasl = SASL_NONE;
			sendf(n, c, "%s BAD NUL bytes are not allowed.", l->tag);
		} else {
			sasl_line(n, c, l, line);
		}
		OPENSSL_cleanse(line, ll);
		free(line);
		return true;
	}
	switch (xi_imap_parser_feed(l->parser, data, len, &used)) {
	case XI_IMAP_NEED_MORE:
		xd_conn_consume(c, used);
		return false;
	case XI_IMAP_CONTINUE:
		xd_conn_consume(c, used);
		sendf(n, c, "+ Ready for literal data.");
		return true;
	case XI_IMAP_ERROR: {
		const struct xi_imap_error *e = xi_imap_parser_error(l->parser);
		xd_conn_consume(c, used);
		if (e->fatal) {
			sendf(n, c, "* BYE %s", e->text);
			xd_conn_closing(c);
			return false;
		}
		sendf(n, c, "%s BAD %s", e->tag, e->text);
		xi_imap_parser_release(l->parser);
		return true;
	}
	case XI_IMAP_COMMAND:
		xd_conn_consume(c, used);
		run_command(n, c, l, xi_imap_parser_command(l->parser));
		return true;
	}
	return false;
}

void xd_imap_login_tempfail(struct net *n, struct conn *c)
{
	struct xd_imap_login *l = *xd_conn_imap_state(c);

	sendf(n, c, "%s NO [UNAVAILABLE] " IMAP_TEXT_TEMPFAIL, l != NULL ? l->tag : "*");
	if (l != NULL)
		l->sasl = SASL_NONE;
}

/* enc-user of RFC 5092: everything but unreserved characters %-escaped. */
static void url_user(const char *name, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; name != NULL && *name != '\0' && o + 4 < size; name++) {
		unsigned char ch = (unsigned char)*name;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

/* The outcome table's RFC 5530 code. */
static const char *response_code(const char *outcome)
{
	const struct xi_outcome_info *info = xi_outcome_by_name(outcome);

	return info != NULL && info->imap_code[0] != '\0' ? info->imap_code : "AUTHENTICATIONFAILED";
}

void xd_imap_login_auth_reply(struct net *n, struct conn *c, uint32_t status, const char *outcome,
			      const char *text, const char *blob, const uint8_t *token,
			      size_t token_len, const char *home_server)
{
	struct xd_imap_login *l = *xd_conn_imap_state(c);
	char reply[XD_IMAP_TAG_MAX + 3 * 256 + 1024];
	const char *tag = l != NULL ? l->tag : "*";

	if (l == NULL) {
		xd_conn_close(n, c, "out of memory");
		return;
	}
	switch (status) {
	case XI_AUTH_CONTINUE:
		l->sasl = SASL_NTLM;
		xd_conn_sasl_ntlm_wait(n, c);
		sendf(n, c, "+ %s", blob);
		return;
	case XI_AUTH_OK:
		l->sasl = SASL_NONE;
		if (token_len != XI_TOKEN_LEN) {
			xd_imap_login_tempfail(n, c);
			return;
		}
		xd_conn_start_session(n, c, token, tag);
		return;
	case XI_AUTH_TEMPFAIL:
		l->sasl = SASL_NONE;
		sendf(n, c, "%s NO [%s] %s", tag, response_code(outcome), text);
		return;
	default:
		break;
	}
	l->sasl = SASL_NONE;
	if (strcmp(outcome, "other_server") == 0 && home_server[0] != '\0') {
		char user[3 * 256 + 1], port[16] = "";
		long long p = xi_config_int(xd_net_config(n), XI_CFG_HOME_SERVER_PORT_IMAP);
		url_user(l->name, user, sizeof(user));
		if (p != 143)
			snprintf(port, sizeof(port), ":%lld", p);
		snprintf(reply, sizeof(reply), "%s NO [REFERRAL imap://%s;AUTH=*@%s%s/] %s", tag, user,
			 home_server, port, text);
	} else {
		snprintf(reply, sizeof(reply), "%s NO [%s] %s", tag, response_code(outcome), text);
	}
	xd_conn_logon_failed(n, c, reply);
}
