/*
 * resolver: the rules of design.md sections 2 and 3 over the directory
 * interface.
 *
 * Cost before the proof: one search for every form whose first search
 * can name both ends of the logon.  DOMAIN\account and a bare account name
 * also ask, in the same search, for the mailbox whose alias is the account
 * name (Exchange's default, and section 2's tie-break): when that mailbox's
 * primary account is the account found, it is the mailbox the rules pick
 * however many the account owns, and no second search is made.  When it
 * does not settle the choice (another alias, another owner, several
 * candidates, UPN names), the search for the account's mailboxes is
 * postponed until the password is proven (xi_finish): before the proof
 * every account-form name, known or not, costs one search (plus one bind
 * in bind mode).  Only a name that is no account but the alias or address
 * of a mailbox with a primary account costs a second operation before the
 * proof: the primary account is read for what the proof needs.  Hash mode
 * checks a dummy hash of the configured scheme for unknown names.
 *
 * Nothing about the mailbox is revealed before the password is proven:
 * refusals about it (no mailbox, access denied, protocol, method, other
 * server, disabled account) are decided in xi_resolve and only become the
 * outcome in xi_finish once the proof succeeded.
 */
#include "resolver.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config.h"
#include "directory.h"
#include "directory_mirror.h"
#include "event.h"
#include "logon_name.h"
#include "password_hash.h"
#include "unicode.h"

#define TRACE_MAX 1024
#define LOGIN_MAX 512

struct xi_resolver {
	const struct xi_config *cfg;
	struct xi_directory *dir;
	xi_event_sink_fn *sink;
	void *sink_ctx;
	struct xi_event_levels levels;
	bool hash_mode;
	bool proxy_home;
	unsigned home_port_imap, home_port_pop3;
	enum xi_password_scheme dummy_scheme;
	const char *const *domains;
	size_t domain_count;
	const char *server_name;
	bool upn_logon;
	bool mail_logon;
	const char *canonical_format;
	char dummy_dn[XI_DN_MAX];
	/* xi_resolver_memory_only: dir is a memory view of the mirror. */
	bool memory_only;
	bool memory_secrets;
};

enum proof_state { PROOF_PENDING = 0, PROOF_OK, PROOF_FAILED, PROOF_ERROR };

/* A refusal decided before the proof, shown after it. */
struct verdict {
	enum xi_outcome outcome;
	char args[2][XI_CLIENT_TEXT_MAX];
	size_t nargs;
	char cause[XI_CLIENT_TEXT_MAX];
	const char *remedy; /* a variant of the table row's remedy, or NULL for the row's own */
};

struct xi_resolution {
	struct xi_resolver *resolver;
	xi_trace_fn *trace;
	void *trace_ctx;
	enum xi_protocol protocol;
	enum xi_auth_method method;
	char remote[64];
	char login[LOGIN_MAX];

	/* Decided without proof (invalid name, NTLM off, directory trouble,
	 * ambiguous alias with no account to prove): final whatever happens. */
	bool decided;
	struct verdict pre;
	/* Decided from the directory, shown only once the password is proven. */
	struct verdict after;

	/* What the proof is checked against; dummy unless real_account. */
	bool real_account;
	bool account_disabled;
	char bind_dn[XI_DN_MAX];
	char stored[XI_DIR_PASSWORD_MAX];
	uint8_t nt_hash[16];
	bool nt_hash_missing;
	enum proof_state proof;
	char proof_note[XI_CLIENT_TEXT_MAX];

	/* The account whose mailboxes are searched once the password is
	 * proven (its first search did not settle the choice); NULL when
	 * nothing is postponed.  A copy without secrets or delegates. */
	struct xi_dir_entry *postponed;

	/* Directory operations every name of this form costs before the
	 * proof (even_out): 2 where an alias costs 2, else 1. */
	unsigned pre_proof_ops;

	unsigned ops;
	struct xi_logon_result r;     /* resolved fields, filled as we go */
	char mail_address[XI_NAME_MAX];
};

/* ------------------------------------------------------------ helpers */

const char *xi_protocol_name(enum xi_protocol p)
{
	switch (p) {
	case XI_PROTO_IMAP: return "imap";
	case XI_PROTO_POP3: return "pop3";
	case XI_PROTO_LMTP: return "lmtp";
	case XI_PROTO_OTHER: break;
	}
	return "other";
}

/* The protocol as Exchange's messages spell it. */
static const char *protocol_display(enum xi_protocol p)
{
	switch (p) {
	case XI_PROTO_IMAP: return "IMAP4";
	case XI_PROTO_POP3: return "POP3";
	case XI_PROTO_LMTP: return "LMTP";
	case XI_PROTO_OTHER: break;
	}
	return "This protocol";
}

__attribute__((format(printf, 2, 3)))
static void trace(struct xi_resolution *res, const char *fmt, ...)
{
	char buf[TRACE_MAX];
	va_list ap;

	if (res->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	res->trace(res->trace_ctx, buf);
}

/* Bounded formatting where cutting is the intended behaviour (texts for
 * logs and clients, whose sources are already bounded). */
__attribute__((format(printf, 3, 4)))
static void xfmt(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
}

/* A bounded string copy, cut to size like xfmt: called a dozen times a
 * logon, where a printf costs more than the copy. */
static void copy(char *out, size_t size, const char *s)
{
	size_t len = 0;

	if (size == 0)
		return;
	if (s != NULL) {
		while (len + 1 < size && s[len] != '\0')
			len++;
		memcpy(out, s, len);
	}
	out[len] = '\0';
}

__attribute__((format(printf, 3, 4)))
static void set_verdict(struct verdict *v, enum xi_outcome outcome, const char *fmt, ...)
{
	va_list ap;

	v->outcome = outcome;
	v->nargs = 0;
	v->remedy = NULL;
	va_start(ap, fmt);
	vsnprintf(v->cause, sizeof(v->cause), fmt, ap);
	va_end(ap);
}

static void verdict_arg(struct verdict *v, const char *arg)
{
	if (v->nargs < 2)
		copy(v->args[v->nargs++], sizeof(v->args[0]), arg);
}

/* Decided now, whatever the proof says. */
__attribute__((format(printf, 3, 4)))
static void decide(struct xi_resolution *res, enum xi_outcome outcome, const char *fmt, ...)
{
	va_list ap;

	res->decided = true;
	res->pre.outcome = outcome;
	res->pre.nargs = 0;
	res->pre.remedy = NULL;
	va_start(ap, fmt);
	vsnprintf(res->pre.cause, sizeof(res->pre.cause), fmt, ap);
	va_end(ap);
	trace(res, "decision: %s (%s)", xi_outcome_info(outcome)->name, res->pre.cause);
}

static void tempfail_from(struct xi_resolution *res, const struct xi_error *err, const char *what)
{
	if (err->status == XI_ERR_DENIED)
		decide(res, XI_OUTCOME_TEMPFAIL,
		       "%s: the directory refused the service account %s: %s (a required privilege is not held)",
		       what, res->resolver->dir->service_dn, err->message);
	else
		decide(res, XI_OUTCOME_TEMPFAIL, "%s: %s", what, err->message);
}

static bool domain_configured(const struct xi_resolver *rv, const char *domain)
{
	size_t i;

	for (i = 0; i < rv->domain_count; i++) {
		if (xi_utf8_caseeq(rv->domains[i], domain))
			return true;
	}
	return false;
}

static const char *kind_name(unsigned kinds)
{
	if (kinds & XI_DIR_CUSTOM)
		return "custom recipient";
	if (kinds & XI_DIR_DL)
		return "distribution list";
	if ((kinds & XI_DIR_MAILBOX) && (kinds & XI_DIR_ACCOUNT))
		return "account with mailbox";
	if (kinds & XI_DIR_MAILBOX)
		return "mailbox";
	if (kinds & XI_DIR_ACCOUNT)
		return "account";
	return "other entry";
}

/* A name that matches nothing.  A logon hides that behind bad credentials
 * (one text, one cost, whatever the name); a password-less lookup (an LMTP
 * recipient) has no secret to guard and its host needs the reason. */
static void decide_unknown(struct xi_resolution *res, const char *name)
{
	if (res->method != XI_METHOD_NONE) {
		decide(res, XI_OUTCOME_BAD_CREDENTIALS, "unknown user name %s", name);
		return;
	}
	decide(res, XI_OUTCOME_NO_MAILBOX, "no mailbox or recipient named %s in the directory", name);
	verdict_arg(&res->pre, res->pre.cause);
	res->pre.remedy = xi_outcome_no_recipient_remedy();
}

static void trace_result(struct xi_resolution *res, const char *label,
			 const struct xi_dir_result *dr)
{
	size_t i;

	trace(res, "%s: %s", label, dr->searched);
	trace(res, "  %zu entr%s found%s", dr->count, dr->count == 1 ? "y" : "ies",
	      dr->truncated ? " (more than the limit: truncated)" : "");
	for (i = 0; i < dr->count; i++) {
		const struct xi_dir_entry *e = &dr->entries[i];

		trace(res, "  %s: %s%s%s%s%s%s", e->dn, kind_name(e->kinds),
		      e->alias[0] ? ", alias " : "", e->alias,
		      e->account_name[0] ? ", account " : "", e->account_name,
		      e->problem[0] ? " [ignored values]" : "");
		if (e->problem[0])
			trace(res, "    ignored: %s", e->problem);
	}
}

/* ------------------------------------------------------------ the account */

/* Which domain an account is in: its own attribute, or (maps without one)
 * the domain typed, or the first default domain. */
static void account_domain(struct xi_resolution *res, const struct xi_dir_entry *a,
			   const struct xi_logon_name *n, char *out, size_t size)
{
	if (a->domain[0] != '\0')
		copy(out, size, a->domain);
	else if (n->domain[0] != '\0')
		copy(out, size, n->domain);
	else if (res->resolver->domain_count > 0)
		copy(out, size, res->resolver->domains[0]);
	else
		copy(out, size, "");
}

/* The account among entries that matched the account or UPN part: for a
 * bare name, the first default domain (in order) that has one.  NULL when
 * none; sets *ambiguous when the directory holds two. */
static const struct xi_dir_entry *pick_account(struct xi_resolution *res,
					       const struct xi_dir_result *dr, unsigned part,
					       bool *ambiguous)
{
	const struct xi_resolver *rv = res->resolver;
	const struct xi_dir_entry *best = NULL;
	size_t best_rank = (size_t)-1, i, d;
	bool dup = false;

	*ambiguous = false;
	for (i = 0; i < dr->count; i++) {
		const struct xi_dir_entry *e = &dr->entries[i];
		size_t rank = 0;

		if (!(e->matched & part))
			continue;
		if (part == XI_MATCH_ACCOUNT && rv->dir->map->domain != NULL && rv->domain_count > 0 &&
		    e->domain[0] != '\0') {
			rank = rv->domain_count;
			for (d = 0; d < rv->domain_count; d++) {
				if (xi_utf8_caseeq(rv->domains[d], e->domain)) {
					rank = d;
					break;
				}
			}
		}
		if (best == NULL || rank < best_rank) {
			best = e;
			best_rank = rank;
			dup = false;
		} else if (rank == best_rank) {
			dup = true;
		}
	}
	*ambiguous = dup;
	return best;
}

/* Takes the account as the one to prove the password against. */
static void use_account(struct xi_resolution *res, const struct xi_dir_entry *a,
			const struct xi_logon_name *n)
{
	const struct xi_resolver *rv = res->resolver;

	account_domain(res, a, n, res->r.domain, sizeof(res->r.domain));
	copy(res->r.account, sizeof(res->r.account), a->account_name);
	copy(res->r.account_dn, sizeof(res->r.account_dn), a->dn);
	res->account_disabled = a->disabled;
	trace(res, "account: %s\\%s = %s%s", res->r.domain, res->r.account, a->dn,
	      a->disabled ? " (disabled)" : "");

	if (res->method == XI_METHOD_NONE) {
		/* A lookup for a user the host vouches for: nothing to prove. */
		res->real_account = true;
		return;
	}
	if (res->method == XI_METHOD_NTLM) {
		if (a->nt_hash_state != XI_SECRET_PRESENT) {
			res->nt_hash_missing = true;
			decide(res, XI_OUTCOME_TEMPFAIL,
			       "A required privilege is not held by the client: %s %s %s of %s (%s)",
			       rv->dir->service_dn,
			       a->nt_hash_state == XI_SECRET_MALFORMED ? "got a malformed" : "may not read (or the account has no)",
			       rv->dir->map->nt_hash != NULL ? rv->dir->map->nt_hash : "an NT hash attribute",
			       a->dn,
			       a->nt_hash_state == XI_SECRET_MALFORMED ?
			       "it must be 32 hex digits; reset the password with `xident passwd`" :
			       "grant the service account read access to it, or set the NT hash with `xident passwd`");
			return;
		}
		memcpy(res->nt_hash, a->nt_hash, sizeof(res->nt_hash));
	} else if (rv->hash_mode) {
		if (a->password_state != XI_SECRET_PRESENT) {
			decide(res, XI_OUTCOME_TEMPFAIL,
			       "A required privilege is not held by the client: %s %s userPassword of %s (%s)",
			       rv->dir->service_dn,
			       a->password_state == XI_SECRET_MALFORMED ? "got an unusable" : "may not read (or the account has no)",
			       a->dn,
			       "grant the service account read access to userPassword in hash mode, or use password_mode = bind");
			return;
		}
		copy(res->stored, sizeof(res->stored), a->password);
	} else {
		copy(res->bind_dn, sizeof(res->bind_dn), a->dn);
	}
	res->real_account = true;
}

/* ------------------------------------------------------------ the mailbox */

static void use_mailbox(struct xi_resolution *res, const struct xi_dir_entry *m)
{
	copy(res->r.alias, sizeof(res->r.alias), m->alias);
	copy(res->r.mailbox_dn, sizeof(res->r.mailbox_dn), m->dn);
	copy(res->r.home, sizeof(res->r.home), m->mail_home);
	copy(res->r.mail, sizeof(res->r.mail), m->mail_location);
	copy(res->r.uid, sizeof(res->r.uid), m->mail_uid);
	copy(res->r.gid, sizeof(res->r.gid), m->mail_gid);
	copy(res->r.quota, sizeof(res->r.quota), m->mail_quota);
	copy(res->mail_address, sizeof(res->mail_address), m->mail);
	trace(res, "mailbox: %s = %s", m->alias, m->dn);
}

/* The checks a mailbox must pass once it is chosen and the account may open
 * it: protocols (server, then mailbox), logon method, home server. */
static void check_mailbox(struct xi_resolution *res, const struct xi_dir_entry *m)
{
	const struct xi_resolver *rv = res->resolver;
	struct verdict *v = &res->after;
	const char *proto = xi_protocol_name(res->protocol);

	if (res->method == XI_METHOD_NONE)
		goto home_server;
	if (!xi_config_list_has(rv->cfg, XI_CFG_PROTOCOLS, proto)) {
		set_verdict(v, XI_OUTCOME_PROTOCOL_DISABLED,
			    "%s is not in this server's protocols setting", proto);
		verdict_arg(v, protocol_display(res->protocol));
		return;
	}
	if (!(m->protocols & XI_PROTO_BIT(res->protocol))) {
		set_verdict(v, XI_OUTCOME_PROTOCOL_DISABLED,
			    "the mailbox %s does not allow %s (its protocols attribute)", m->dn, proto);
		verdict_arg(v, protocol_display(res->protocol));
		return;
	}
	if (!(m->methods & XI_METHOD_BIT(res->method))) {
		set_verdict(v, XI_OUTCOME_METHOD_DISABLED,
			    "the mailbox %s does not allow %s logons (its logon methods attribute)",
			    m->dn, res->method == XI_METHOD_NTLM ? "NTLM" : "clear-text");
		verdict_arg(v, res->method == XI_METHOD_NTLM ? "NTLM" : "Clear-text");
		return;
	}
home_server:
	if (rv->server_name != NULL && rv->server_name[0] != '\0' && m->home_server[0] != '\0' &&
	    !xi_utf8_caseeq(m->home_server, rv->server_name)) {
		set_verdict(v, XI_OUTCOME_OTHER_SERVER, "the mailbox %s is homed on %s, this is %s",
			    m->dn, m->home_server, rv->server_name);
		verdict_arg(v, m->alias);
		verdict_arg(v, m->home_server);
		copy(res->r.home_server, sizeof(res->r.home_server), m->home_server);
		return;
	}
	set_verdict(v, XI_OUTCOME_OK, "logged on to mailbox %s", m->alias);
}

/* A recipient named explicitly (three-part forms) or found by alias/address. */
static const struct xi_dir_entry *named_recipient(struct xi_resolution *res,
						  const struct xi_dir_result *dr, unsigned part,
						  const char *typed, size_t *count_r)
{
	const struct xi_dir_entry *found = NULL;
	size_t i, n = 0;

	for (i = 0; i < dr->count; i++) {
		if (dr->entries[i].matched & part) {
			if (found == NULL)
				found = &dr->entries[i];
			n++;
		}
	}
	*count_r = dr->truncated && n > 0 ? n + 1 : n;
	(void)typed;
	(void)res;
	return found;
}

/* The account (already chosen) opens recipient m, named by the user. */
static void open_named(struct xi_resolution *res, const struct xi_dir_entry *acct,
		       const struct xi_dir_entry *m, size_t count, const char *typed)
{
	struct verdict *v = &res->after;
	char who[2 * XI_NAME_MAX + 2];

	xfmt(who, sizeof(who), "%s\\%s", res->r.domain, res->r.account);
	if (count == 0) {
		set_verdict(v, XI_OUTCOME_NO_MAILBOX, "%s validated, but no mailbox %s exists here",
			    who, typed);
		verdict_arg(v, "");
		return;
	}
	if (count > 1) {
		set_verdict(v, XI_OUTCOME_AMBIGUOUS, "%zu recipients share the alias or address %s",
			    count, typed);
		verdict_arg(v, typed);
		verdict_arg(v, "a unique alias");
		return;
	}
	if (m->kinds & (XI_DIR_CUSTOM | XI_DIR_DL)) {
		char what[XI_CLIENT_TEXT_MAX];

		xfmt(what, sizeof(what), "%s is a %s%s%s, not a mailbox.", m->alias,
			 kind_name(m->kinds), m->target_address[0] ? " for " : "", m->target_address);
		set_verdict(v, XI_OUTCOME_NO_MAILBOX, "%s was validated but %s has no mailbox (%s%s%s)",
			    who, m->dn, kind_name(m->kinds), m->target_address[0] ? " for " : "",
			    m->target_address);
		verdict_arg(v, what);
		copy(res->r.mailbox_dn, sizeof(res->r.mailbox_dn), m->dn);
		copy(res->r.alias, sizeof(res->r.alias), m->alias);
		return;
	}
	use_mailbox(res, m);
	if (acct->owner_key[0] != '\0' && strcmp(m->primary_key, acct->owner_key) == 0) {
		trace(res, "rule: %s is the mailbox's primary account", who);
	} else if (acct->owner_key[0] != '\0' && m->primary_key[0] == '\0' &&
		   strcmp(m->dn, acct->dn) == 0) {
		trace(res, "rule: the mailbox is on the account's own entry");
	} else if (xi_dir_entry_has_delegate(m, acct->owner_key)) {
		trace(res, "rule: %s is a delegate of the mailbox", who);
	} else {
		set_verdict(v, XI_OUTCOME_ACCESS_DENIED,
			    "%s was validated as %s but was unable to log on to %s: neither its primary account nor a delegate",
			    who, acct->dn, m->dn);
		verdict_arg(v, m->alias);
		verdict_arg(v, who);
		trace(res, "rule: %s is neither the primary account nor a delegate of %s", who, m->alias);
		return;
	}
	check_mailbox(res, m);
}

/* The account's own mailbox (two-part and one-part forms). */
static void open_owned(struct xi_resolution *res, const struct xi_dir_entry *acct,
		       const struct xi_dir_result *owned)
{
	struct verdict *v = &res->after;
	const struct xi_dir_entry *list[XI_DIR_ENTRIES_MAX + 1];
	const struct xi_dir_entry *pick = NULL;
	char who[2 * XI_NAME_MAX + 2];
	size_t n = 0, i;

	xfmt(who, sizeof(who), "%s\\%s", res->r.domain, res->r.account);
	/* A mailbox on the account's own entry (AD style) belongs to it. */
	if ((acct->kinds & XI_DIR_MAILBOX) &&
	    (acct->primary_key[0] == '\0' || strcmp(acct->primary_key, acct->owner_key) == 0))
		list[n++] = acct;
	for (i = 0; owned != NULL && i < owned->count && n < XI_DIR_ENTRIES_MAX; i++) {
		const struct xi_dir_entry *e = &owned->entries[i];

		if ((e->matched & XI_MATCH_OWNER) && (e->kinds & XI_DIR_MAILBOX) &&
		    strcmp(e->dn, acct->dn) != 0)
			list[n++] = e;
	}
	if (n == 0) {
		set_verdict(v, XI_OUTCOME_NO_MAILBOX,
			    "%s was validated as %s but is the primary account of no mailbox", who,
			    acct->dn);
		verdict_arg(v, "The account has no mailbox.");
		trace(res, "rule: %s owns no mailbox", who);
		return;
	}
	if (n == 1 && !(owned != NULL && owned->truncated)) {
		pick = list[0];
		trace(res, "rule: %s is the primary account of exactly one mailbox", who);
	} else {
		for (i = 0; i < n; i++) {
			if (xi_utf8_caseeq(list[i]->alias, acct->account_name)) {
				pick = list[i];
				trace(res, "rule: %s owns %zu mailboxes; the one whose alias equals the account name wins",
				      who, n);
				break;
			}
		}
	}
	if (pick == NULL) {
		char forms[XI_CLIENT_TEXT_MAX] = "";
		size_t used = 0;

		for (i = 0; i < n && used + 1 < sizeof(forms); i++) {
			int w = snprintf(forms + used, sizeof(forms) - used, "%s%s\\%s", i > 0 ? " or " : "",
					 who, list[i]->alias);
			if (w < 0)
				break;
			used += (size_t)w < sizeof(forms) - used ? (size_t)w : sizeof(forms) - used - 1;
		}
		set_verdict(v, XI_OUTCOME_AMBIGUOUS,
			    "%s is the primary account of %zu mailboxes and none is named %s", who, n,
			    acct->account_name);
		verdict_arg(v, res->login);
		verdict_arg(v, forms);
		trace(res, "rule: %s owns %zu mailboxes, none named after the account: ambiguous", who, n);
		return;
	}
	use_mailbox(res, pick);
	check_mailbox(res, pick);
}

/* ------------------------------------------------------------ phase 1 */

static bool want_password(const struct xi_resolution *res)
{
	return res->resolver->hash_mode && res->method == XI_METHOD_PLAIN;
}

/* Whether mailbox e names acct as its primary account. */
static bool owned_by(const struct xi_dir_entry *e, const struct xi_dir_entry *acct)
{
	return acct->owner_key[0] != '\0' && e->primary_key[0] != '\0' &&
	       strcmp(e->primary_key, acct->owner_key) == 0;
}

/* The account's mailbox when search 1 alone settles it, else NULL.
 * open_owned lists the account's own entry first (when it is a mailbox of
 * its own) and picks the only mailbox, or the first whose alias is the
 * account name: a mailbox the account owns whose alias is the account name
 * is therefore its pick whatever else it owns, provided it is the only
 * entry of that alias search 1 saw (an alias two entries share is left to
 * the full list, as is a truncated result). */
static const struct xi_dir_entry *settled_by_search1(const struct xi_dir_entry *acct,
						     const struct xi_dir_result *dr)
{
	const struct xi_dir_entry *cand = NULL;
	size_t i, n = 0;

	if ((acct->kinds & XI_DIR_MAILBOX) &&
	    (acct->primary_key[0] == '\0' || strcmp(acct->primary_key, acct->owner_key) == 0) &&
	    xi_utf8_caseeq(acct->alias, acct->account_name))
		return acct;
	if (dr->truncated)
		return NULL;
	for (i = 0; i < dr->count; i++) {
		const struct xi_dir_entry *e = &dr->entries[i];

		if (!(e->matched & XI_MATCH_ALIAS) || strcmp(e->dn, acct->dn) == 0)
			continue;
		cand = e;
		n++;
	}
	if (n != 1 || !(cand->kinds & XI_DIR_MAILBOX) || !owned_by(cand, acct) ||
	    !xi_utf8_caseeq(cand->alias, acct->account_name))
		return NULL;
	return cand;
}

/* The two-part and one-part forms: the account's mailbox, from search 1
 * when it settles the choice, else from the search of the account's
 * mailboxes that xi_finish makes once the password is proven. */
static void choose_owned(struct xi_resolution *res, const struct xi_dir_entry *acct,
			 const struct xi_dir_result *dr)
{
	const struct xi_attrmap *map = res->resolver->dir->map;
	const struct xi_dir_entry *m;
	struct xi_dir_entry *copy_acct;

	if (acct->owner_key[0] == '\0' || map->primary_account == NULL ||
	    map->mailbox_class == NULL || map->link_kind == XI_LINK_NONE) {
		/* Nothing links to the account: only its own entry can be its mailbox. */
		open_owned(res, acct, NULL);
		return;
	}
	m = settled_by_search1(acct, dr);
	if (m != NULL) {
		if (m == acct)
			trace(res, "rule: the mailbox on the account's own entry has the account name as alias: the one whose alias equals the account name wins, however many mailboxes %s owns",
			      acct->account_name);
		else
			trace(res, "rule: %s is the primary account of %s, whose alias is the account name: the one whose alias equals the account name wins, however many mailboxes it owns (no second search)",
			      acct->dn, m->dn);
		use_mailbox(res, m);
		check_mailbox(res, m);
		return;
	}
	copy_acct = malloc(sizeof(*copy_acct));
	if (copy_acct == NULL) {
		decide(res, XI_OUTCOME_TEMPFAIL, "out of memory");
		return;
	}
	*copy_acct = *acct;
	/* open_owned reads neither the secrets nor the delegates. */
	copy_acct->delegate_keys = NULL;
	copy_acct->delegate_count = 0;
	OPENSSL_cleanse(copy_acct->password, sizeof(copy_acct->password));
	OPENSSL_cleanse(copy_acct->nt_hash, sizeof(copy_acct->nt_hash));
	res->postponed = copy_acct;
	trace(res, "rule: search 1 does not settle which mailbox %s opens (no single mailbox it owns has the account name as alias): its mailboxes are searched once the password is proven",
	      acct->dn);
}

/* The postponed search of the account's mailboxes, then the choice among
 * them into res->after.  False (with v set) when the directory failed. */
static bool search_owned(struct xi_resolution *res, struct verdict *v)
{
	const struct xi_dir_entry *acct = res->postponed;
	struct xi_dir_query q = { .owner_key = acct->owner_key };
	struct xi_dir_result dr;
	struct xi_error err;

	xi_error_clear(&err);
	if (xi_dir_find(res->resolver->dir, &q, &dr, &res->ops, &err) < 0) {
		if (err.status == XI_ERR_DENIED)
			set_verdict(v, XI_OUTCOME_TEMPFAIL,
				    "search for the account's mailboxes: the directory refused the service account %s: %s (a required privilege is not held)",
				    res->resolver->dir->service_dn, err.message);
		else
			set_verdict(v, XI_OUTCOME_TEMPFAIL, "search for the account's mailboxes: %s",
				    err.message);
		trace(res, "decision: %s (%s)", xi_outcome_info(v->outcome)->name, v->cause);
		return false;
	}
	trace_result(res, "search 2 (mailboxes of the account, the password being proven)", &dr);
	open_owned(res, acct, &dr);
	xi_dir_result_free(&dr);
	return true;
}

/* A recipient found by alias or address, authenticated as its primary
 * account (read by DN in the second operation). */
static void via_recipient(struct xi_resolution *res, const struct xi_dir_result *dr,
			  unsigned part, const struct xi_logon_name *n, const char *typed)
{
	const struct xi_resolver *rv = res->resolver;
	const struct xi_dir_entry *m;
	struct xi_dir_result ar;
	struct xi_error err;
	size_t count;
	int rc;

	m = named_recipient(res, dr, part, typed, &count);
	if (m == NULL) {
		trace(res, "rule: %s is neither an account nor a recipient: unknown name", typed);
		decide_unknown(res, typed);
		return;
	}
	if (count > 1) {
		decide(res, XI_OUTCOME_AMBIGUOUS, "Ambiguous Alias: %zu recipients answer to %s", count,
		       typed);
		verdict_arg(&res->pre, typed);
		{
			char form[XI_NAME_MAX + 20];

			xfmt(form, sizeof(form), "DOMAIN\\account\\%s", typed);
			verdict_arg(&res->pre, form);
		}
		return;
	}
	if ((m->kinds & XI_DIR_ACCOUNT) && (m->kinds & XI_DIR_MAILBOX) &&
	    (m->primary_key[0] == '\0' || strcmp(m->primary_key, m->owner_key) == 0)) {
		/* The mailbox is on its account's own entry (AD style): search 1
		 * fetched the account already. */
		trace(res, "rule: %s is the alias of %s, which is also its own account", typed, m->dn);
		use_account(res, m, n);
		if (!res->decided) {
			use_mailbox(res, m);
			check_mailbox(res, m);
		}
		return;
	}
	if (m->kinds & (XI_DIR_CUSTOM | XI_DIR_DL) || m->primary_key[0] == '\0' ||
	    rv->dir->map->link_kind == XI_LINK_NONE) {
		if (res->method == XI_METHOD_NONE) {
			/* A lookup: no password to guard, so the host is told
			 * what the name is instead of a mailbox. */
			decide(res, XI_OUTCOME_NO_MAILBOX, "%s is %s %s%s%s%s, not a mailbox with an account",
			       typed, (m->kinds & (XI_DIR_CUSTOM | XI_DIR_DL)) ? "a" : "mailbox",
			       (m->kinds & (XI_DIR_CUSTOM | XI_DIR_DL)) ? kind_name(m->kinds) : m->dn,
			       m->target_address[0] ? " (target " : "",
			       m->target_address[0] ? m->target_address : "",
			       m->target_address[0] ? ")" : "");
			verdict_arg(&res->pre, res->pre.cause);
			return;
		}
		decide(res, XI_OUTCOME_BAD_CREDENTIALS,
		       "%s is %s %s with no primary account to log on as%s%s%s", typed,
		       (m->kinds & (XI_DIR_CUSTOM | XI_DIR_DL)) ? "the" : "mailbox",
		       (m->kinds & (XI_DIR_CUSTOM | XI_DIR_DL)) ? kind_name(m->kinds) : m->dn,
		       m->target_address[0] ? " (target " : "",
		       m->target_address[0] ? m->target_address : "",
		       m->target_address[0] ? ")" : "");
		return;
	}
	trace(res, "rule: %s is no account; it is the alias/address of %s, whose primary account is %s",
	      typed, m->dn, m->primary_key);
	xi_error_clear(&err);
	if (rv->dir->map->link_kind == XI_LINK_SID) {
		/* The link is the account's objectSid: find it by that. */
		struct xi_dir_query sq = { .sid_key = m->primary_key,
					   .want_nt_hash = res->method == XI_METHOD_NTLM,
					   .want_password = want_password(res) };

		rc = xi_dir_find(rv->dir, &sq, &ar, &res->ops, &err);
	} else {
		rc = xi_dir_read(rv->dir, m->primary_key, res->method == XI_METHOD_NTLM,
				 want_password(res), &ar, &res->ops, &err);
	}
	if (rc < 0) {
		tempfail_from(res, &err, "reading the primary account");
		return;
	}
	trace_result(res, "search 2 (the mailbox's primary account)", &ar);
	if (ar.count != 1 || !(ar.entries[0].kinds & XI_DIR_ACCOUNT)) {
		decide(res, XI_OUTCOME_BAD_CREDENTIALS,
		       "the primary account %s of mailbox %s does not exist or is not an account",
		       m->primary_key, m->dn);
		xi_dir_result_free(&ar);
		return;
	}
	use_account(res, &ar.entries[0], n);
	if (!res->decided) {
		use_mailbox(res, m);
		check_mailbox(res, m);
	}
	xi_dir_result_free(&ar);
}

static void resolve_name(struct xi_resolution *res, const struct xi_logon_name *n)
{
	struct xi_resolver *rv = res->resolver;
	struct xi_dir_query q = { 0 };
	struct xi_dir_result dr;
	struct xi_error err;
	const struct xi_dir_entry *acct = NULL, *m;
	const char *single_domain[1];
	bool two_step, ambiguous = false;
	unsigned acct_part = XI_MATCH_ACCOUNT, rcpt_part = 0;
	const char *rcpt_typed = NULL;
	size_t count;

	q.want_nt_hash = res->method == XI_METHOD_NTLM;
	q.want_password = want_password(res);

	switch (n->form) {
	case XI_LOGON_BARE:
		q.account = n->account;
		q.domains = rv->domains;
		q.domain_count = rv->domain_count;
		q.alias = n->account;
		rcpt_part = XI_MATCH_ALIAS;
		rcpt_typed = n->account;
		two_step = true;
		break;
	case XI_LOGON_DOMAIN_ACCOUNT:
	case XI_LOGON_DOMAIN_ACCOUNT_ALIAS:
	case XI_LOGON_DOMAIN_ACCOUNT_ADDRESS:
		single_domain[0] = n->domain;
		q.account = n->account;
		q.domains = single_domain;
		q.domain_count = 1;
		two_step = n->form == XI_LOGON_DOMAIN_ACCOUNT;
		/* The mailbox named after the account, in the same search (see
		 * choose_owned); not a recipient to log on through. */
		if (two_step)
			q.alias = n->account;
		break;
	case XI_LOGON_AT:
		if (rv->upn_logon)
			q.upn = n->upn;
		if (rv->mail_logon) {
			q.mail = n->upn;
			rcpt_part = XI_MATCH_MAIL;
			rcpt_typed = n->upn;
		}
		acct_part = XI_MATCH_UPN;
		two_step = true;
		break;
	case XI_LOGON_UPN_ALIAS:
	case XI_LOGON_UPN_ADDRESS:
	default:
		q.upn = rv->upn_logon ? n->upn : NULL;
		acct_part = XI_MATCH_UPN;
		two_step = false;
		break;
	}
	if (n->form == XI_LOGON_DOMAIN_ACCOUNT_ALIAS || n->form == XI_LOGON_UPN_ALIAS) {
		q.alias = n->mailbox;
		rcpt_part = XI_MATCH_ALIAS;
		rcpt_typed = n->mailbox;
	} else if (n->form == XI_LOGON_DOMAIN_ACCOUNT_ADDRESS || n->form == XI_LOGON_UPN_ADDRESS) {
		q.mail = n->mailbox;
		rcpt_part = XI_MATCH_MAIL;
		rcpt_typed = n->mailbox;
	}

	/* A name that may be a recipient's alias or address costs two
	 * operations when it is one (search 1, then its primary account). */
	res->pre_proof_ops = two_step && rcpt_part != 0 ? 2 : 1;

	trace(res, "name: form %s%s%s%s%s%s%s%s%s", xi_logon_form_name(n->form),
	      n->domain[0] ? ", domain " : "", n->domain, n->account[0] ? ", account " : "",
	      n->account, n->upn[0] ? ", name@suffix " : "", n->upn,
	      n->mailbox[0] ? (n->mailbox_is_address ? ", mailbox address " : ", mailbox alias ") : "",
	      n->mailbox);
	if (n->form == XI_LOGON_BARE && rv->domain_count == 0)
		trace(res, "note: default_domains is empty: an account of that name in any domain matches");

	xi_error_clear(&err);
	if (xi_dir_find(rv->dir, &q, &dr, &res->ops, &err) < 0) {
		tempfail_from(res, &err, "search 1");
		return;
	}
	trace_result(res, "search 1", &dr);
	if (n->form == XI_LOGON_DOMAIN_ACCOUNT && dr.truncated &&
	    pick_account(res, &dr, XI_MATCH_ACCOUNT, &ambiguous) == NULL) {
		/* More mailboxes named after the account than a result holds may
		 * have crowded the account out: ask for the account alone. */
		xi_dir_result_free(&dr);
		q.alias = NULL;
		if (xi_dir_find(rv->dir, &q, &dr, &res->ops, &err) < 0) {
			tempfail_from(res, &err, "search 1, the account alone");
			return;
		}
		trace_result(res, "search 1 again, the account alone (the first result was truncated)", &dr);
	}

	/* Accounts in a domain this server does not serve, for maps that do
	 * not store domains, are not ours. */
	if (q.account != NULL && rv->dir->map->domain == NULL && n->domain[0] != '\0' &&
	    !domain_configured(rv, n->domain)) {
		trace(res, "rule: domain %s is not in default_domains (the directory does not store domains)",
		      n->domain);
		acct_part = 0;
	}
	if (acct_part != 0)
		acct = pick_account(res, &dr, acct_part, &ambiguous);
	if (acct != NULL && ambiguous) {
		decide(res, XI_OUTCOME_AMBIGUOUS,
		       "more than one account answers to %s%s%s (same name in domains of equal rank, or a duplicate UPN)",
		       n->domain, n->domain[0] ? "\\" : "", n->account[0] ? n->account : n->upn);
		verdict_arg(&res->pre, res->login);
		verdict_arg(&res->pre, "DOMAIN\\account\\alias with your domain");
		xi_dir_result_free(&dr);
		return;
	}

	if (acct != NULL) {
		if (rcpt_part != 0 && two_step) {
			m = named_recipient(res, &dr, rcpt_part, rcpt_typed, &count);
			if (m != NULL && m != acct && !owned_by(m, acct))
				trace(res, "rule: %s is an account and also the %s of %s: the account wins",
				      rcpt_typed, rcpt_part == XI_MATCH_ALIAS ? "alias" : "address", m->dn);
		}
		use_account(res, acct, n);
		if (two_step) {
			if (!res->decided)
				choose_owned(res, acct, &dr);
		} else if (!res->decided) {
			m = named_recipient(res, &dr, rcpt_part, rcpt_typed, &count);
			open_named(res, acct, m, count, rcpt_typed);
		}
		xi_dir_result_free(&dr);
		return;
	}

	if (two_step && rcpt_part != 0) {
		via_recipient(res, &dr, rcpt_part, n, rcpt_typed);
	} else {
		char typed[XI_NAME_MAX * 2 + 2];

		xfmt(typed, sizeof(typed), "%s%s%s", n->domain, n->domain[0] ? "\\" : "",
		     n->account[0] ? n->account : n->upn);
		decide_unknown(res, typed);
	}
	xi_dir_result_free(&dr);
}

static void sanitize_login(char *out, size_t size, const char *a, const char *sep, const char *b)
{
	size_t i, n;

	xfmt(out, size, "%s%s%s", a != NULL ? a : "", sep, b != NULL ? b : "");
	n = strlen(out);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f)
			out[i] = '?';
	}
}

static bool search_owned(struct xi_resolution *res, struct verdict *v);

/* design.md §3: nothing about the directory may show before the password
 * is proven, the number of directory round trips included.  Every name of
 * a form costs what its dearest kind costs (pre_proof_ops), made up with
 * reads of a DN that does not exist.  A host that finishes before it
 * checks an NTLM response has the postponed search made here, and two
 * operations for every name. */
static void even_out(struct xi_resolution *res, unsigned made, bool finish_before_proof)
{
	const struct xi_resolver *rv = res->resolver;
	unsigned want = res->pre_proof_ops;
	struct xi_dir_result dr;
	struct xi_error err;
	struct verdict v;

	if (res->method == XI_METHOD_NONE)
		return; /* a lookup: no password to guard */
	if (finish_before_proof && res->method == XI_METHOD_NTLM) {
		if (want < 2)
			want = 2;
		if (res->postponed != NULL && !res->decided) {
			unsigned before = res->ops;

			if (!search_owned(res, &v)) {
				res->pre = v;
				res->decided = true;
			}
			made += res->ops - before;
			free(res->postponed);
			res->postponed = NULL;
		}
	}
	if (res->decided && res->pre.outcome == XI_OUTCOME_TEMPFAIL)
		return;
	for (; made < want; made++) {
		xi_error_clear(&err);
		if (xi_dir_read(rv->dir, rv->dummy_dn, false, false, &dr, &res->ops, &err) < 0)
			return;
		xi_dir_result_free(&dr);
		trace(res, "before the proof: a read of %s, so that this name costs what every name of its form costs",
		      rv->dummy_dn);
	}
}

int xi_resolve(struct xi_resolver *rv, const struct xi_logon_request *req,
	       xi_trace_fn *trace_fn, void *trace_ctx,
	       struct xi_resolution **res_r, struct xi_error *err)
{
	struct xi_resolution *res;
	struct xi_logon_name n;
	struct xi_error perr;
	const char *name = req->name != NULL ? req->name : "";
	int rc;

	*res_r = NULL;
	res = calloc(1, sizeof(*res));
	if (res == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	res->resolver = rv;
	res->trace = trace_fn;
	res->trace_ctx = trace_ctx;
	res->protocol = req->protocol;
	res->method = req->method;
	copy(res->remote, sizeof(res->remote), req->remote);
	if (req->method == XI_METHOD_NTLM && req->ntlm_domain != NULL && req->ntlm_domain[0] != '\0')
		sanitize_login(res->login, sizeof(res->login), req->ntlm_domain, "\\", name);
	else
		sanitize_login(res->login, sizeof(res->login), name, "", NULL);
	res->after.outcome = XI_OUTCOME_OK;
	*res_r = res;

	trace(res, "logon: \"%s\" over %s with %s, password_mode = %s", res->login,
	      xi_protocol_name(req->protocol),
	      req->method == XI_METHOD_NTLM ? "NTLM" :
	      req->method == XI_METHOD_NONE ? "no password (lookup)" : "a clear-text password",
	      rv->hash_mode ? "hash" : "bind");

	if (req->method == XI_METHOD_NTLM &&
	    !xi_config_list_has(rv->cfg, XI_CFG_NTLM_PROTOCOLS, xi_protocol_name(req->protocol))) {
		decide(res, XI_OUTCOME_NTLM_DISABLED, "ntlm_protocols does not include %s",
		       xi_protocol_name(req->protocol));
		return 0;
	}

	xi_error_clear(&perr);
	if (req->method == XI_METHOD_NTLM)
		rc = xi_logon_name_parse_ntlm(req->ntlm_domain != NULL ? req->ntlm_domain : "", name,
					      &n, &perr);
	else
		rc = xi_logon_name_parse(name, strlen(name), &n, &perr);
	if (rc < 0) {
		decide(res, XI_OUTCOME_INVALID_NAME, "%s", perr.message);
		return 0;
	}
	resolve_name(res, &n);
	even_out(res, res->ops, req->finish_before_proof);
	if (!res->decided && res->postponed != NULL && !res->account_disabled)
		trace(res, "if the password is proven: search 2 finds the mailboxes of %s and the rules above choose one",
		      res->r.account_dn);
	else if (!res->decided)
		trace(res, "if the password is proven: %s (%s)",
		      res->account_disabled ? "account_disabled" : xi_outcome_info(res->after.outcome)->name,
		      res->account_disabled ? "the account is disabled" : res->after.cause);
	return 0;
}

/* ------------------------------------------------------------ phase 2 */

/* Salted SHA digests cost microseconds; {CRYPT} and {ARGON2} are made to
 * cost milliseconds. */
static bool quick_scheme(enum xi_password_scheme scheme)
{
	return scheme == XI_PW_SSHA || scheme == XI_PW_SSHA256 || scheme == XI_PW_SSHA512;
}

static bool quick_stored_hash(const char *stored)
{
	enum xi_password_scheme scheme;
	struct xi_error err;

	return xi_password_scheme_of(stored, strlen(stored), &scheme, &err) == 0 &&
		quick_scheme(scheme);
}

/* The proof of a bind-mode logon from the bind's answer, whether the bind
 * was made here or sent without waiting (xi_verify_password_continue). */
static void bind_proof(struct xi_resolution *res, const char *dn, enum xi_dir_bind r,
		       const struct xi_error *err)
{
	switch (r) {
	case XI_DIR_BIND_OK:
		res->proof = res->real_account ? PROOF_OK : PROOF_FAILED;
		break;
	case XI_DIR_BIND_REJECTED:
		res->proof = PROOF_FAILED;
		copy(res->proof_note, sizeof(res->proof_note), "the directory rejected the bind");
		break;
	case XI_DIR_BIND_ERROR:
	default:
		res->proof = PROOF_ERROR;
		xfmt(res->proof_note, sizeof(res->proof_note), "bind as %s: %s", dn, err->message);
		break;
	}
	trace(res, "proof: bind as %s: %s", res->real_account ? dn : "a DN that does not exist",
	      res->proof == PROOF_OK ? "accepted" : res->proof == PROOF_FAILED ? "rejected" :
	      res->proof_note);
}

void xi_verify_password(struct xi_resolver *rv, struct xi_resolution *res, const char *password)
{
	size_t len = password != NULL ? strlen(password) : 0;
	struct xi_error err;
	int rc;

	if (res->proof != PROOF_PENDING)
		return;
	if (password == NULL)
		password = "";
	/* Decided outcomes that no proof changes.  INVALID_NAME still pays for
	 * a hash in hash mode so that malformed names answer no faster. */
	if (res->decided && res->pre.outcome != XI_OUTCOME_BAD_CREDENTIALS &&
	    res->pre.outcome != XI_OUTCOME_AMBIGUOUS) {
		if (rv->hash_mode && res->pre.outcome == XI_OUTCOME_INVALID_NAME)
			xi_password_verify_dummy(rv->dummy_scheme, password);
		res->proof = PROOF_FAILED;
		return;
	}
	if (!rv->hash_mode) {
		const char *dn = res->real_account ? res->bind_dn : rv->dummy_dn;

		xi_error_clear(&err);
		bind_proof(res, dn, xi_dir_verify_bind(rv->dir, dn, password, len, &res->ops, &err),
			   &err);
		return;
	}
	if (!res->real_account) {
		xi_password_verify_dummy(rv->dummy_scheme, password);
		res->proof = PROOF_FAILED;
		trace(res, "proof: checked against a dummy %s hash (unknown name)",
		      xi_password_scheme_name(rv->dummy_scheme));
		return;
	}
	if (rv->memory_only && !quick_stored_hash(res->stored)) {
		/* Its cost would stall the host's event loop: the host runs
		 * the logon again on a thread. */
		res->proof = PROOF_ERROR;
		copy(res->proof_note, sizeof(res->proof_note),
		     "a slow password hash is not checked without a thread");
		OPENSSL_cleanse(res->stored, sizeof(res->stored));
		return;
	}
	xi_error_clear(&err);
	rc = xi_password_verify(password, res->stored, strlen(res->stored), &err);
	if (rc == 1) {
		res->proof = PROOF_OK;
	} else if (rc == 0) {
		res->proof = PROOF_FAILED;
	} else {
		res->proof = PROOF_ERROR;
		xfmt(res->proof_note, sizeof(res->proof_note),
			 "the userPassword of %s cannot be checked: %s", res->r.account_dn, err.message);
	}
	OPENSSL_cleanse(res->stored, sizeof(res->stored));
	trace(res, "proof: userPassword hash: %s", rc == 1 ? "matches" : rc == 0 ? "does not match" :
	      res->proof_note);
}

struct xi_bind_wait {
	struct xi_dir_bind_wait *dir_wait;
	char dn[XI_DN_MAX];
};

/* Everything but a bind to send is proven as xi_verify_password does (the
 * decided cases, hash mode): true when that is done. */
static bool proof_without_bind(struct xi_resolver *rv, struct xi_resolution *res,
			       const char *password)
{
	if (rv->hash_mode || res->proof != PROOF_PENDING ||
	    (res->decided && res->pre.outcome != XI_OUTCOME_BAD_CREDENTIALS &&
	     res->pre.outcome != XI_OUTCOME_AMBIGUOUS)) {
		xi_verify_password(rv, res, password);
		return true;
	}
	return false;
}

int xi_verify_password_start(struct xi_resolver *rv, struct xi_resolution *res,
			     const char *password, struct xi_bind_wait **wait_r, int *fd_r)
{
	size_t len = password != NULL ? strlen(password) : 0;
	struct xi_bind_wait *w;
	enum xi_dir_bind r = XI_DIR_BIND_ERROR;
	struct xi_error err;
	int rc;

	*wait_r = NULL;
	*fd_r = -1;
	if (proof_without_bind(rv, res, password))
		return 0;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	copy(w->dn, sizeof(w->dn), res->real_account ? res->bind_dn : rv->dummy_dn);
	xi_error_clear(&err);
	rc = xi_dir_bind_start(rv->dir, w->dn, password != NULL ? password : "", len, &w->dir_wait,
			       fd_r, &r, &res->ops, &err);
	if (rc <= 0) {
		if (rc == 0)
			bind_proof(res, w->dn, r, &err);
		free(w);
		return rc;
	}
	*wait_r = w;
	return 1;
}

int xi_verify_password_again(struct xi_resolver *rv, struct xi_resolution *res,
			     const char *password, struct xi_bind_wait *w)
{
	size_t len = password != NULL ? strlen(password) : 0;
	enum xi_dir_bind r = XI_DIR_BIND_ERROR;
	struct xi_error err;
	int rc;

	if (proof_without_bind(rv, res, password))
		return 0;
	copy(w->dn, sizeof(w->dn), res->real_account ? res->bind_dn : rv->dummy_dn);
	xi_error_clear(&err);
	rc = xi_dir_bind_again(w->dir_wait, w->dn, password != NULL ? password : "", len, &r,
			       &res->ops, &err);
	if (rc == 0)
		bind_proof(res, w->dn, r, &err);
	return rc;
}

int xi_verify_password_continue(struct xi_resolver *rv, struct xi_resolution *res,
				struct xi_bind_wait *w)
{
	enum xi_dir_bind r = XI_DIR_BIND_ERROR;
	struct xi_error err;

	(void)rv;
	xi_error_clear(&err);
	if (xi_dir_bind_poll(w->dir_wait, &r, &err) == 0)
		return 0;
	bind_proof(res, w->dn, r, &err);
	return 1;
}

void xi_verify_password_release(struct xi_resolver *rv, struct xi_bind_wait *w)
{
	(void)rv;
	if (w == NULL)
		return;
	xi_dir_bind_release(w->dir_wait);
	free(w);
}

void xi_verify_password_cancel(struct xi_resolver *rv, struct xi_resolution *res,
			       struct xi_bind_wait *w, const char *why)
{
	(void)rv;
	if (w == NULL)
		return;
	xi_dir_bind_cancel(w->dir_wait);
	res->proof = PROOF_ERROR;
	xfmt(res->proof_note, sizeof(res->proof_note), "bind as %s: %s", w->dn, why);
	free(w);
}

bool xi_resolution_nt_hash(const struct xi_resolution *res, uint8_t nt_hash[16])
{
	/* Unknown names get a hash no password produces with any chance worth
	 * counting; the caller verifies anyway, at the same cost. */
	static const uint8_t dummy[16] = { 0x5a, 0x0e, 0x3c, 0x91, 0x7b, 0x22, 0xd4, 0x68,
					   0xf1, 0x09, 0xae, 0x47, 0x3d, 0xc5, 0x80, 0x1f };

	if (res->real_account && !res->decided) {
		memcpy(nt_hash, res->nt_hash, 16);
		return true;
	}
	memcpy(nt_hash, dummy, 16);
	return !res->nt_hash_missing;
}

void xi_proof_trusted(struct xi_resolution *res)
{
	if (res->proof != PROOF_PENDING)
		return;
	res->proof = res->method == XI_METHOD_NONE && res->real_account && !res->decided ?
		PROOF_OK : PROOF_FAILED;
	trace(res, "proof: none needed (the host vouches for the user)");
}

void xi_proof_ntlm(struct xi_resolution *res, bool verified)
{
	if (res->proof != PROOF_PENDING)
		return;
	res->proof = verified && res->real_account && !res->decided ? PROOF_OK : PROOF_FAILED;
	trace(res, "proof: NTLM response %s", verified ? "verified" : "not verified");
}

/* ------------------------------------------------------------ phase 3 */

/* canonical_user_format: %a alias, %d domain, %u account, %m mail, %%. */
static void canonical_user(const struct xi_resolver *rv, const struct xi_resolution *res,
			   char *out, size_t size)
{
	const char *f = rv->canonical_format != NULL && rv->canonical_format[0] ? rv->canonical_format : "%a";
	size_t len = 0;

	out[0] = '\0';
	for (; *f != '\0' && len + 1 < size; f++) {
		const char *piece = NULL;
		char one[2] = { *f, '\0' };

		if (*f == '%' && f[1] != '\0') {
			f++;
			switch (*f) {
			case 'a': piece = res->r.alias; break;
			case 'd': piece = res->r.domain; break;
			case 'u': piece = res->r.account; break;
			case 'm': piece = res->mail_address; break;
			case '%': piece = "%"; break;
			default: one[0] = *f; piece = one; break;
			}
		} else {
			piece = one;
		}
		len += (size_t)snprintf(out + len, size - len, "%s", piece);
		if (len >= size)
			len = size - 1;
	}
}

static void finish_result(struct xi_resolver *rv, struct xi_resolution *res,
			  const struct verdict *v, bool reveal, struct xi_logon_result *result)
{
	const char *args[2] = { v->args[0], v->args[1] };
	char resolved[3 * XI_NAME_MAX + 16] = "";
	struct xi_event ev;

	*result = res->r;
	if (!reveal) {
		/* Before proof nothing about the directory goes back to the host. */
		memset(result, 0, sizeof(*result));
	}
	result->outcome = v->outcome;
	xi_outcome_client_text(v->outcome, args, v->nargs, result->client_text,
			       sizeof(result->client_text));
	copy(result->cause, sizeof(result->cause), v->cause);
	result->event_id = xi_outcome_event_id(v->outcome, xi_protocol_name(res->protocol));
	result->ldap_ops = res->ops;
	if (reveal && (v->outcome == XI_OUTCOME_OK || v->outcome == XI_OUTCOME_OTHER_SERVER))
		canonical_user(rv, res, result->canonical_user, sizeof(result->canonical_user));
	if (reveal && v->outcome == XI_OUTCOME_OTHER_SERVER) {
		result->home_action = rv->proxy_home && res->method != XI_METHOD_NTLM ?
			XI_HOME_PROXY : XI_HOME_REFER;
		result->home_port = res->protocol == XI_PROTO_IMAP ? rv->home_port_imap :
			rv->home_port_pop3;
	}

	if (res->r.account[0] != '\0')
		xfmt(resolved, sizeof(resolved), "%s\\%s -> %s", res->r.domain, res->r.account,
			 res->r.alias[0] ? res->r.alias : "(no mailbox)");
	xi_event_from_outcome(&ev, v->outcome, xi_protocol_name(res->protocol));
	ev.remote = res->remote[0] ? res->remote : NULL;
	ev.login = res->login;
	ev.resolved = resolved[0] ? resolved : NULL;
	ev.account_dn = res->r.account_dn[0] ? res->r.account_dn : NULL;
	ev.mailbox_dn = res->r.mailbox_dn[0] ? res->r.mailbox_dn : NULL;
	ev.cause = v->cause;
	if (v->remedy != NULL)
		ev.remedy = v->remedy;
	xi_event_emit(&rv->levels, rv->sink, rv->sink_ctx, &ev);
	trace(res, "outcome: %s, event %u, client told \"%s\"", xi_outcome_info(v->outcome)->name,
	      result->event_id, result->client_text);
	trace(res, "directory operations: %u", res->ops);
}

/* "No mailbox" found by a service account that sees no mailbox at all is a
 * missing right (Q255269: after dcpromo the service lost its rights), not a
 * fact about the user.  Checked only after the proof, so it costs nothing
 * to logons that fail and reveals nothing before the password is known. */
static bool missing_right(struct xi_resolver *rv, struct xi_resolution *res, struct verdict *v)
{
	struct xi_error err;
	bool visible = false;

	xi_error_clear(&err);
	if (xi_dir_mailboxes_visible(rv->dir, &visible, &res->ops, &err) < 0) {
		set_verdict(v, XI_OUTCOME_TEMPFAIL, "checking whether mailboxes are visible: %s",
			    err.message);
		return true;
	}
	if (visible)
		return false;
	set_verdict(v, XI_OUTCOME_TEMPFAIL,
		    "A required privilege is not held by the client: %s may not read %s entries under the base DN (it sees none), so the mailbox of %s cannot be found",
		    rv->dir->service_dn,
		    rv->dir->map->mailbox_class != NULL ? rv->dir->map->mailbox_class : "mailbox",
		    res->r.account_dn);
	trace(res, "check: the service account sees no mailbox at all: a missing right, not a missing mailbox");
	return true;
}

void xi_finish(struct xi_resolver *rv, struct xi_resolution *res, struct xi_logon_result *result)
{
	struct verdict v;

	memset(&v, 0, sizeof(v));
	if (res->decided && res->pre.outcome != XI_OUTCOME_BAD_CREDENTIALS) {
		finish_result(rv, res, &res->pre, res->pre.outcome == XI_OUTCOME_AMBIGUOUS, result);
		return;
	}
	if (res->proof == PROOF_ERROR) {
		set_verdict(&v, XI_OUTCOME_TEMPFAIL, "%s", res->proof_note);
		finish_result(rv, res, &v, false, result);
		return;
	}
	if (res->proof != PROOF_OK) {
		if (res->decided)
			set_verdict(&v, XI_OUTCOME_BAD_CREDENTIALS, "%s", res->pre.cause);
		else
			set_verdict(&v, XI_OUTCOME_BAD_CREDENTIALS, "wrong password for %s\\%s (%s)%s",
				    res->r.domain, res->r.account, res->r.account_dn,
				    res->account_disabled ? "; the account is also disabled" : "");
		finish_result(rv, res, &v, false, result);
		return;
	}
	if (res->account_disabled) {
		set_verdict(&v, XI_OUTCOME_ACCOUNT_DISABLED, "%s\\%s (%s) is disabled", res->r.domain,
			    res->r.account, res->r.account_dn);
		finish_result(rv, res, &v, true, result);
		return;
	}
	if (res->postponed != NULL && !search_owned(res, &v)) {
		finish_result(rv, res, &v, false, result);
		return;
	}
	if (res->after.outcome == XI_OUTCOME_NO_MAILBOX && res->r.mailbox_dn[0] == '\0' &&
	    missing_right(rv, res, &v)) {
		finish_result(rv, res, &v, false, result);
		return;
	}
	finish_result(rv, res, &res->after, true, result);
}

void xi_resolution_free(struct xi_resolution *res)
{
	if (res == NULL)
		return;
	free(res->postponed);
	OPENSSL_cleanse(res, sizeof(*res));
	free(res);
}

void xi_logon_plain(struct xi_resolver *rv, const struct xi_logon_request *req,
		    const char *password, struct xi_logon_result *result)
{
	struct xi_resolution *res;
	struct xi_error err;
	struct xi_logon_request plain = *req;

	plain.method = XI_METHOD_PLAIN;
	xi_error_clear(&err);
	if (xi_resolve(rv, &plain, NULL, NULL, &res, &err) < 0) {
		memset(result, 0, sizeof(*result));
		result->outcome = XI_OUTCOME_TEMPFAIL;
		xi_outcome_client_text(XI_OUTCOME_TEMPFAIL, NULL, 0, result->client_text,
				       sizeof(result->client_text));
		copy(result->cause, sizeof(result->cause), err.message);
		result->event_id = xi_outcome_event_id(XI_OUTCOME_TEMPFAIL, xi_protocol_name(req->protocol));
		return;
	}
	xi_verify_password(rv, res, password);
	xi_finish(rv, res, result);
	xi_resolution_free(res);
}

/* ------------------------------------------------------------ lifetime */

static enum xi_password_scheme dummy_scheme(const struct xi_config *cfg)
{
	/* Order of the password_dummy_scheme constraint in config_keys.h. */
	static const enum xi_password_scheme by_index[] = {
		XI_PW_SSHA, XI_PW_SSHA256, XI_PW_SSHA512, XI_PW_CRYPT_SHA512,
		XI_PW_CRYPT_YESCRYPT, XI_PW_CRYPT_BCRYPT, XI_PW_ARGON2,
	};
	int i = xi_config_enum(cfg, XI_CFG_PASSWORD_DUMMY_SCHEME);

	if (i < 0 || (size_t)i >= sizeof(by_index) / sizeof(by_index[0]))
		return XI_PW_SSHA512;
	return by_index[i];
}

int xi_resolver_create(const struct xi_config *cfg, xi_event_sink_fn *sink, void *sink_ctx,
		       struct xi_resolver **resolver_r, struct xi_error *err)
{
	struct xi_resolver *rv;
	const char *base;

	*resolver_r = NULL;
	rv = calloc(1, sizeof(*rv));
	if (rv == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	rv->cfg = cfg;
	rv->sink = sink;
	rv->sink_ctx = sink_ctx;
	if (xi_directory_create(cfg, &rv->dir, err) < 0) {
		free(rv);
		return -1;
	}
	xi_event_levels_from_config(cfg, &rv->levels);
	/* ENUM index 1 of "bind|hash". */
	rv->hash_mode = xi_config_enum(cfg, XI_CFG_PASSWORD_MODE) == 1;
	rv->proxy_home = xi_config_enum(cfg, XI_CFG_HOME_SERVER_ACTION) == 1; /* referral|proxy */
	rv->home_port_imap = (unsigned)xi_config_int(cfg, XI_CFG_HOME_SERVER_PORT_IMAP);
	rv->home_port_pop3 = (unsigned)xi_config_int(cfg, XI_CFG_HOME_SERVER_PORT_POP3);
	rv->dummy_scheme = dummy_scheme(cfg);
	rv->domains = xi_config_list(cfg, XI_CFG_DEFAULT_DOMAINS, &rv->domain_count);
	if (rv->domains == NULL)
		rv->domain_count = 0;
	rv->server_name = xi_config_str(cfg, XI_CFG_SERVER_NAME);
	rv->upn_logon = xi_config_bool(cfg, XI_CFG_UPN_LOGON);
	rv->mail_logon = xi_config_bool(cfg, XI_CFG_MAIL_ADDRESS_LOGON);
	rv->canonical_format = xi_config_str(cfg, XI_CFG_CANONICAL_USER_FORMAT);
	base = xi_config_str(cfg, XI_CFG_LDAP_BASE_DN);
	/* A DN under the base that no entry has: unknown names bind to it (the
	 * server answers invalidCredentials, as for a wrong password). */
	xfmt(rv->dummy_dn, sizeof(rv->dummy_dn), "cn=xident-no-such-account,%s",
		 base != NULL ? base : "");
	*resolver_r = rv;
	return 0;
}

int xi_resolver_memory_only(struct xi_resolver *rv, struct xi_resolver **view_r,
			    struct xi_error *err)
{
	struct xi_resolver *view;

	*view_r = NULL;
	view = malloc(sizeof(*view));
	if (view == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	*view = *rv;
	if (xi_directory_memory_view(rv->dir, &view->dir, &view->memory_secrets, err) < 0) {
		free(view);
		return -1;
	}
	view->memory_only = true;
	*view_r = view;
	return 0;
}

struct xi_directory *xi_resolver_directory(struct xi_resolver *rv)
{
	return rv->dir;
}

bool xi_resolver_binds(const struct xi_resolver *rv)
{
	return !rv->hash_mode;
}

unsigned xi_resolver_default_threads(const struct xi_config *cfg)
{
	unsigned pool = (unsigned)xi_config_int(cfg, XI_CFG_LDAP_POOL_SIZE);

	/* ENUM index 1 of "bind|hash", as in xi_resolver_create. */
	return xi_config_enum(cfg, XI_CFG_PASSWORD_MODE) == 1 ? pool : 2 * pool;
}

bool xi_resolver_memory_answers(const struct xi_resolver *rv, enum xi_auth_method method)
{
	if (!rv->memory_only)
		return false;
	switch (method) {
	case XI_METHOD_NONE:
		return true;
	case XI_METHOD_NTLM:
		return rv->memory_secrets;
	case XI_METHOD_PLAIN:
		/* Bind mode binds; the dummy scheme says what the directory's
		 * hashes cost. */
		return rv->hash_mode && rv->memory_secrets && quick_scheme(rv->dummy_scheme);
	}
	return false;
}

void xi_resolver_destroy(struct xi_resolver *rv)
{
	if (rv == NULL)
		return;
	xi_dir_destroy(rv->dir);
	free(rv);
}
