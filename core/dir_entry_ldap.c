/*
 * dir_entry_ldap: one LDAP entry interpreted through the attribute map into
 * a struct xi_dir_entry.  Shared by the live directory (search results) and
 * the mirror (entries delivered by content synchronization), so that both
 * read every value with the same bounds and the same fail-closed rules.
 */
#include "dir_entry_ldap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "unicode.h"

/* ------------------------------------------------------------ keys */

/* The form in which DNs are compared: LDAPv3 string form of the parsed DN,
 * ASCII lower case (the naming attributes we link by match case-insensitively).
 * A value that is not a DN yields "" and links nowhere. */
void xi_dir_dn_key(const char *dn, char *out, size_t size)
{
	char *norm = NULL;
	size_t i, len;

	out[0] = '\0';
	if (dn == NULL || dn[0] == '\0')
		return;
	if (ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &norm, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    norm == NULL)
		return;
	len = strlen(norm);
	if (len < size) {
		for (i = 0; i <= len; i++) {
			char c = norm[i];
			out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
	}
	ldap_memfree(norm);
}

static void sid_key(const struct berval *bv, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	out[0] = '\0';
	/* A SID is 8 + 4 * subauthorities bytes, at most 15 subauthorities. */
	if (bv->bv_len < 8 || bv->bv_len > 68 || 4 + 2 * bv->bv_len >= size)
		return;
	memcpy(out, "sid:", 4);
	for (i = 0; i < bv->bv_len; i++) {
		out[4 + 2 * i] = hex[(unsigned char)bv->bv_val[i] >> 4];
		out[5 + 2 * i] = hex[(unsigned char)bv->bv_val[i] & 0xf];
	}
	out[4 + 2 * bv->bv_len] = '\0';
}

static void link_key(const struct xi_attrmap *map, const struct berval *bv, char *out, size_t size)
{
	char dn[XI_DN_MAX];

	out[0] = '\0';
	if (map->link_kind == XI_LINK_SID) {
		sid_key(bv, out, size);
		return;
	}
	if (bv->bv_len == 0 || bv->bv_len >= sizeof(dn) || memchr(bv->bv_val, '\0', bv->bv_len))
		return;
	memcpy(dn, bv->bv_val, bv->bv_len);
	dn[bv->bv_len] = '\0';
	xi_dir_dn_key(dn, out, size);
}

/* ------------------------------------------------------------ entries */

static void note_problem(struct xi_dir_entry *e, const char *attr, const char *why)
{
	size_t len = strlen(e->problem);

	if (len + 8 < sizeof(e->problem))
		snprintf(e->problem + len, sizeof(e->problem) - len, "%s%s %s", len > 0 ? "; " : "",
			 attr, why);
}

/* Copies a value meant as text: no NUL, no control byte, fits out. */
static bool copy_text(struct xi_dir_entry *e, const char *attr, const struct berval *bv,
		      char *out, size_t size)
{
	size_t i;

	if (bv->bv_len >= size) {
		note_problem(e, attr, "value too long (ignored)");
		return false;
	}
	for (i = 0; i < bv->bv_len; i++) {
		unsigned char c = (unsigned char)bv->bv_val[i];

		if (c < 0x20 || c == 0x7f) {
			note_problem(e, attr, "value holds control bytes (ignored)");
			return false;
		}
	}
	memcpy(out, bv->bv_val, bv->bv_len);
	out[bv->bv_len] = '\0';
	return true;
}

static struct berval **values(LDAP *ld, LDAPMessage *msg, const char *attr)
{
	if (attr == NULL)
		return NULL;
	return ldap_get_values_len(ld, msg, attr);
}

static void first_text(LDAP *ld, LDAPMessage *msg, struct xi_dir_entry *e, const char *attr,
		       char *out, size_t size)
{
	struct berval **v = values(ld, msg, attr);

	if (v != NULL && v[0] != NULL)
		(void)copy_text(e, attr, v[0], out, size);
	ldap_value_free_len(v);
}

static bool has_value(struct berval **v, const char *want)
{
	size_t n = strlen(want);

	for (; v != NULL && *v != NULL; v++) {
		if ((*v)->bv_len == n && strncasecmp((*v)->bv_val, want, n) == 0)
			return true;
	}
	return false;
}

/* Collects up to 16 text values of attr for the interpreting helpers.
 * *dropped (may be NULL) tells whether any value present was left out (too
 * long, control bytes, or past the 16th): a policy attribute read in part
 * must not be interpreted as if the rest did not exist. */
size_t xi_dir_entry_texts(LDAP *ld, LDAPMessage *msg, struct xi_dir_entry *e, const char *attr,
			  char buf[XI_DIR_MULTI_MAX][XI_NAME_MAX], const char *ptrs[XI_DIR_MULTI_MAX],
			  bool *dropped)
{
	struct berval **v = values(ld, msg, attr);
	size_t n = 0, i;

	if (dropped != NULL)
		*dropped = false;
	for (i = 0; v != NULL && v[i] != NULL; i++) {
		if (n < XI_DIR_MULTI_MAX && copy_text(e, attr, v[i], buf[n], XI_NAME_MAX)) {
			ptrs[n] = buf[n];
			n++;
		} else if (dropped != NULL) {
			*dropped = true;
		}
	}
	ldap_value_free_len(v);
	return n;
}

static void read_account(LDAP *ld, LDAPMessage *msg, const struct xi_attrmap *m,
			 struct xi_dir_entry *e, bool want_nt, bool want_pw)
{
	struct berval **v;
	char flag[64] = "";

	first_text(ld, msg, e, m->domain, e->domain, sizeof(e->domain));
	first_text(ld, msg, e, m->account_name, e->account_name, sizeof(e->account_name));
	first_text(ld, msg, e, m->upn, e->upn, sizeof(e->upn));
	if (m->disabled != NULL) {
		v = values(ld, msg, m->disabled);
		if (v != NULL && v[0] != NULL) {
			if (copy_text(e, m->disabled, v[0], flag, sizeof(flag)))
				e->disabled = xi_attrmap_value_disabled(m, flag);
			else
				e->disabled = true; /* unreadable flag: not trusted as enabled */
		}
		ldap_value_free_len(v);
	}
	if (m->link_kind == XI_LINK_SID) {
		v = values(ld, msg, m->account_sid);
		if (v != NULL && v[0] != NULL)
			sid_key(v[0], e->owner_key, sizeof(e->owner_key));
		ldap_value_free_len(v);
	} else {
		xi_dir_dn_key(e->dn, e->owner_key, sizeof(e->owner_key));
	}
	if (want_nt) {
		e->nt_hash_state = XI_SECRET_ABSENT;
		v = values(ld, msg, m->nt_hash);
		if (v != NULL && v[0] != NULL)
			e->nt_hash_state = xi_attrmap_parse_nt_hash(v[0]->bv_val, v[0]->bv_len, e->nt_hash) ?
				XI_SECRET_PRESENT : XI_SECRET_MALFORMED;
		ldap_value_free_len(v);
	}
	if (want_pw) {
		e->password_state = XI_SECRET_ABSENT;
		v = values(ld, msg, m->password);
		if (v != NULL && v[0] != NULL) {
			if (v[0]->bv_len > 0 && v[0]->bv_len < sizeof(e->password) &&
			    memchr(v[0]->bv_val, '\0', v[0]->bv_len) == NULL) {
				memcpy(e->password, v[0]->bv_val, v[0]->bv_len);
				e->password[v[0]->bv_len] = '\0';
				e->password_state = XI_SECRET_PRESENT;
			} else {
				e->password_state = XI_SECRET_MALFORMED;
			}
		}
		ldap_value_free_len(v);
	}
}

static void read_recipient(LDAP *ld, LDAPMessage *msg, const struct xi_attrmap *m,
			   struct xi_dir_entry *e)
{
	char buf[XI_DIR_MULTI_MAX][XI_NAME_MAX];
	const char *ptrs[XI_DIR_MULTI_MAX];
	char home[XI_DN_MAX] = "";
	struct berval **v;
	size_t n, i;
	bool dropped;

	first_text(ld, msg, e, m->alias, e->alias, sizeof(e->alias));
	v = values(ld, msg, m->primary_account);
	if (v != NULL && v[0] != NULL)
		link_key(m, v[0], e->primary_key, sizeof(e->primary_key));
	ldap_value_free_len(v);

	v = values(ld, msg, m->delegate);
	n = (size_t)ldap_count_values_len(v);
	if (n > XI_DIR_DELEGATES_MAX) {
		e->delegates_truncated = true;
		note_problem(e, m->delegate, "has too many values (first 64 used)");
		n = XI_DIR_DELEGATES_MAX;
	}
	if (n > 0 && (e->delegate_keys = calloc(n, sizeof(*e->delegate_keys))) != NULL) {
		for (i = 0; i < n; i++) {
			link_key(m, v[i], e->delegate_keys[e->delegate_count],
				 sizeof(e->delegate_keys[0]));
			if (e->delegate_keys[e->delegate_count][0] != '\0')
				e->delegate_count++;
		}
	}
	ldap_value_free_len(v);

	first_text(ld, msg, e, m->home_server, home, sizeof(home));
	if (home[0] != '\0' &&
	    xi_attrmap_home_server_name(m, home, e->home_server, sizeof(e->home_server)) < 0) {
		/* A home server we cannot read is not "any server". */
		snprintf(e->home_server, sizeof(e->home_server), "%s", "(unreadable)");
		note_problem(e, m->home_server, "value not in the expected shape");
	}
	/* Absent means "all"; present but unreadable means "none" (fail closed),
	 * and the note names the attribute for `xident resolve` and the event. */
	n = xi_dir_entry_texts(ld, msg, e, m->protocols, buf, ptrs, &dropped);
	e->protocols = dropped ? 0 : xi_attrmap_protocols(m, ptrs, n);
	if (dropped)
		note_problem(e, m->protocols, "a value could not be read: no protocol allowed");
	n = m->logon_methods != NULL ?
		xi_dir_entry_texts(ld, msg, e, m->logon_methods, buf, ptrs, &dropped) : 0;
	if (m->logon_methods == NULL)
		dropped = false;
	e->methods = dropped ? 0 : xi_attrmap_methods(ptrs, n);
	if (dropped)
		note_problem(e, m->logon_methods, "a value could not be read: no logon method allowed");

	first_text(ld, msg, e, m->target_address, e->target_address, sizeof(e->target_address));
	first_text(ld, msg, e, m->mail, e->mail, sizeof(e->mail));
	first_text(ld, msg, e, m->display_name, e->display_name, sizeof(e->display_name));
	first_text(ld, msg, e, m->mail_home, e->mail_home, sizeof(e->mail_home));
	first_text(ld, msg, e, m->mail_location, e->mail_location, sizeof(e->mail_location));
	first_text(ld, msg, e, m->mail_uid, e->mail_uid, sizeof(e->mail_uid));
	first_text(ld, msg, e, m->mail_gid, e->mail_gid, sizeof(e->mail_gid));
	{
		char quota[64] = "";

		first_text(ld, msg, e, m->mail_quota, quota, sizeof(quota));
		if (quota[0] != '\0' &&
		    xi_attrmap_quota(m, quota, e->mail_quota, sizeof(e->mail_quota)) < 0) {
			e->mail_quota[0] = '\0';
			note_problem(e, m->mail_quota, "value not in the expected shape (ignored)");
		}
	}
}

void xi_dir_entry_from_ldap(LDAP *ld, LDAPMessage *msg, const struct xi_attrmap *m,
			    const struct xi_dir_query *q, struct xi_dir_entry *e, bool want_nt,
			    bool want_pw)
{
	struct berval **classes = ldap_get_values_len(ld, msg, "objectClass");
	struct berval **marker;
	char *dn = ldap_get_dn(ld, msg);
	bool custom, dl, mailbox;

	if (dn == NULL || strlen(dn) >= sizeof(e->dn)) {
		note_problem(e, "DN", dn == NULL ? "unreadable" : "too long");
		ldap_memfree(dn);
		ldap_value_free_len(classes);
		return;
	}
	memcpy(e->dn, dn, strlen(dn) + 1);
	ldap_memfree(dn);

	if (m->account_class != NULL && has_value(classes, m->account_class)) {
		e->kinds |= XI_DIR_ACCOUNT;
		read_account(ld, msg, m, e, want_nt, want_pw);
	}
	custom = m->custom_class != NULL && has_value(classes, m->custom_class);
	dl = m->dl_class != NULL && has_value(classes, m->dl_class);
	mailbox = m->mailbox_class != NULL && has_value(classes, m->mailbox_class) && !custom && !dl;
	if (mailbox && m->mailbox_marker != NULL) {
		marker = ldap_get_values_len(ld, msg, m->mailbox_marker);
		mailbox = marker != NULL && marker[0] != NULL;
		ldap_value_free_len(marker);
	}
	ldap_value_free_len(classes);
	if (custom)
		e->kinds |= XI_DIR_CUSTOM;
	if (dl)
		e->kinds |= XI_DIR_DL;
	if (mailbox)
		e->kinds |= XI_DIR_MAILBOX;
	if (custom || dl || mailbox)
		read_recipient(ld, msg, m, e);
	/* Without an alias it is not a recipient we can name. */
	if (e->alias[0] == '\0')
		e->kinds &= ~(unsigned)(XI_DIR_CUSTOM | XI_DIR_DL | XI_DIR_MAILBOX);
	e->matched = 0;
	if (q != NULL) {
		char buf[XI_DIR_MULTI_MAX][XI_NAME_MAX];
		const char *mails[XI_DIR_MULTI_MAX];
		size_t n = 0;
		bool recipient = (e->kinds & (XI_DIR_MAILBOX | XI_DIR_CUSTOM | XI_DIR_DL)) != 0;

		/* Every readable address counts, not only the first. */
		if (recipient && q->mail != NULL && m->mail != NULL)
			n = xi_dir_entry_texts(ld, msg, e, m->mail, buf, mails, NULL);
		e->matched = xi_dir_entry_match(m, q, e, mails, n);
	}
}

bool xi_dir_entry_has_class(LDAP *ld, LDAPMessage *msg, const char *cls)
{
	struct berval **classes;
	bool has;

	if (cls == NULL)
		return false;
	classes = ldap_get_values_len(ld, msg, "objectClass");
	has = has_value(classes, cls);
	ldap_value_free_len(classes);
	return has;
}

