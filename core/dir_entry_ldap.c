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

static bool ascii_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_alnum(char c)
{
	return ascii_alpha(c) || (c >= '0' && c <= '9');
}

/* Whether dn is already in the form ldap_dn_normalize gives: RDNs
 * "type=value" joined by ",", each type a letter then letters, digits or
 * '-', each value one or more letters, digits, '.', '-' or '_' (nothing to
 * escape, no space to trim, no multi-valued RDN).  Directory DNs mostly
 * are; a logon links two of them, and parsing each with libldap costs more
 * than the rest of reading the entry. */
static bool plain_dn(const char *p)
{
	for (;;) {
		if (!ascii_alpha(*p))
			return false;
		while (ascii_alnum(*p) || *p == '-')
			p++;
		if (*p++ != '=')
			return false;
		if (!ascii_alnum(*p) && *p != '.' && *p != '-' && *p != '_')
			return false;
		while (ascii_alnum(*p) || *p == '.' || *p == '-' || *p == '_')
			p++;
		if (*p == '\0')
			return true;
		if (*p++ != ',')
			return false;
	}
}

static void lower_into(const char *s, size_t len, char *out)
{
	size_t i;

	for (i = 0; i <= len; i++) {
		char c = s[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
}

/* The form in which DNs are compared: LDAPv3 string form of the parsed DN,
 * ASCII lower case (the naming attributes we link by match case-insensitively).
 * A value that is not a DN yields "" and links nowhere. */
void xi_dir_dn_key(const char *dn, char *out, size_t size)
{
	char *norm = NULL;
	size_t len;

	out[0] = '\0';
	if (dn == NULL || dn[0] == '\0')
		return;
	if (plain_dn(dn)) {
		len = strlen(dn);
		if (len < size)
			lower_into(dn, len, out);
		return;
	}
	if (ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &norm, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    norm == NULL)
		return;
	len = strlen(norm);
	if (len < size)
		lower_into(norm, len, out);
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

/* Every attribute of one entry, decoded in one pass over its BER.  The
 * interpretation below asks for some twenty attributes, and
 * ldap_get_values_len decodes the entry from its start for each one; the
 * table costs one pass, and the values point into the message (no copy). */
#define ENTRY_ATTRS_MAX 64

struct entry_attrs {
	size_t n;
	struct {
		struct berval name;
		struct berval *vals;    /* ends with bv_val == NULL; NULL: no value */
	} a[ENTRY_ATTRS_MAX];
};

static void entry_attrs_free(struct entry_attrs *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		ber_memfree(t->a[i].vals);
	t->n = 0;
}

static bool name_is(const struct berval *name, const char *attr)
{
	size_t n = strlen(attr);

	return name->bv_len == n && strncasecmp(name->bv_val, attr, n) == 0;
}

/* Whether the table should hold attribute name: when every attribute does
 * not fit, only those the map names (never more than ENTRY_ATTRS_MAX). */
static bool wanted(const struct xi_attrmap *m, const struct berval *name)
{
	const char *list[ENTRY_ATTRS_MAX + 1];
	size_t n, i;

	if (name_is(name, "objectClass") ||
	    (m->mailbox_marker != NULL && name_is(name, m->mailbox_marker)))
		return true;
	n = xi_attrmap_attributes(m, true, true, list, ENTRY_ATTRS_MAX);
	for (i = 0; i < n; i++) {
		if (name_is(name, list[i]))
			return true;
	}
	return false;
}

/* Fills t from msg and copies the DN into dn (size).  Returns 0, or -1
 * (with what went wrong in *why) when the entry cannot be read. */
static int entry_attrs_read(LDAP *ld, LDAPMessage *msg, const struct xi_attrmap *m,
			    bool only_wanted, struct entry_attrs *t, char *dn, size_t size,
			    const char **why)
{
	BerElement *ber = NULL;
	struct berval name, dnv, *vals = NULL;
	int rc;

	t->n = 0;
	*why = "unreadable";
	if (ldap_get_dn_ber(ld, msg, &ber, &dnv) != LDAP_SUCCESS || dnv.bv_val == NULL) {
		if (ber != NULL)
			ber_free(ber, 0);
		return -1;
	}
	if (dnv.bv_len >= size || memchr(dnv.bv_val, '\0', dnv.bv_len) != NULL) {
		*why = dnv.bv_len >= size ? "too long" : "unreadable";
		ber_free(ber, 0);
		return -1;
	}
	memcpy(dn, dnv.bv_val, dnv.bv_len);
	dn[dnv.bv_len] = '\0';
	for (rc = ldap_get_attribute_ber(ld, msg, ber, &name, &vals);
	     rc == LDAP_SUCCESS && name.bv_val != NULL;
	     rc = ldap_get_attribute_ber(ld, msg, ber, &name, &vals)) {
		if (only_wanted && !wanted(m, &name)) {
			ber_memfree(vals);
		} else if (t->n == ENTRY_ATTRS_MAX) {
			ber_memfree(vals);
			ber_free(ber, 0);
			entry_attrs_free(t);
			*why = "has too many attributes";
			return -1;
		} else {
			t->a[t->n].name = name;
			t->a[t->n].vals = vals;
			t->n++;
		}
		vals = NULL;
	}
	ber_free(ber, 0);
	if (rc != LDAP_SUCCESS) {
		entry_attrs_free(t);
		return -1;
	}
	return 0;
}

static const struct berval *values(const struct entry_attrs *t, const char *attr)
{
	size_t i;

	if (attr == NULL)
		return NULL;
	for (i = 0; i < t->n; i++) {
		if (name_is(&t->a[i].name, attr))
			return t->a[i].vals != NULL && t->a[i].vals[0].bv_val != NULL ? t->a[i].vals : NULL;
	}
	return NULL;
}

static size_t count_values(const struct berval *v)
{
	size_t n = 0;

	while (v != NULL && v[n].bv_val != NULL)
		n++;
	return n;
}

static void first_text(const struct entry_attrs *t, struct xi_dir_entry *e, const char *attr,
		       char *out, size_t size)
{
	const struct berval *v = values(t, attr);

	if (v != NULL)
		(void)copy_text(e, attr, &v[0], out, size);
}

static bool has_value(const struct berval *v, const char *want)
{
	for (; v != NULL && v->bv_val != NULL; v++) {
		if (name_is(v, want))
			return true;
	}
	return false;
}

/* Up to XI_DIR_MULTI_MAX text values of attr from the table; *dropped as
 * xi_dir_entry_texts. */
static size_t texts(const struct entry_attrs *t, struct xi_dir_entry *e, const char *attr,
		    char buf[XI_DIR_MULTI_MAX][XI_NAME_MAX], const char *ptrs[XI_DIR_MULTI_MAX],
		    bool *dropped)
{
	const struct berval *v = values(t, attr);
	size_t n = 0, i;

	if (dropped != NULL)
		*dropped = false;
	for (i = 0; v != NULL && v[i].bv_val != NULL; i++) {
		if (n < XI_DIR_MULTI_MAX && copy_text(e, attr, &v[i], buf[n], XI_NAME_MAX)) {
			ptrs[n] = buf[n];
			n++;
		} else if (dropped != NULL) {
			*dropped = true;
		}
	}
	return n;
}

static bool has_value_ptrs(struct berval **v, const char *want)
{
	for (; v != NULL && *v != NULL; v++) {
		if (name_is(*v, want))
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
	struct berval **v = attr != NULL ? ldap_get_values_len(ld, msg, attr) : NULL;
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

static void read_account(const struct entry_attrs *t, const struct xi_attrmap *m,
			 struct xi_dir_entry *e, bool want_nt, bool want_pw)
{
	const struct berval *v;
	char flag[64] = "";

	first_text(t, e, m->domain, e->domain, sizeof(e->domain));
	first_text(t, e, m->account_name, e->account_name, sizeof(e->account_name));
	first_text(t, e, m->upn, e->upn, sizeof(e->upn));
	if (m->disabled != NULL && (v = values(t, m->disabled)) != NULL) {
		if (copy_text(e, m->disabled, &v[0], flag, sizeof(flag)))
			e->disabled = xi_attrmap_value_disabled(m, flag);
		else
			e->disabled = true; /* unreadable flag: not trusted as enabled */
	}
	if (m->link_kind == XI_LINK_SID) {
		if ((v = values(t, m->account_sid)) != NULL)
			sid_key(&v[0], e->owner_key, sizeof(e->owner_key));
	} else {
		xi_dir_dn_key(e->dn, e->owner_key, sizeof(e->owner_key));
	}
	if (want_nt) {
		e->nt_hash_state = XI_SECRET_ABSENT;
		if ((v = values(t, m->nt_hash)) != NULL)
			e->nt_hash_state = xi_attrmap_parse_nt_hash(v[0].bv_val, v[0].bv_len, e->nt_hash) ?
				XI_SECRET_PRESENT : XI_SECRET_MALFORMED;
	}
	if (want_pw) {
		e->password_state = XI_SECRET_ABSENT;
		if ((v = values(t, m->password)) != NULL) {
			if (v[0].bv_len > 0 && v[0].bv_len < sizeof(e->password) &&
			    memchr(v[0].bv_val, '\0', v[0].bv_len) == NULL) {
				memcpy(e->password, v[0].bv_val, v[0].bv_len);
				e->password[v[0].bv_len] = '\0';
				e->password_state = XI_SECRET_PRESENT;
			} else {
				e->password_state = XI_SECRET_MALFORMED;
			}
		}
	}
}

static void read_recipient(const struct entry_attrs *t, const struct xi_attrmap *m,
			   struct xi_dir_entry *e)
{
	char buf[XI_DIR_MULTI_MAX][XI_NAME_MAX];
	const char *ptrs[XI_DIR_MULTI_MAX];
	char home[XI_DN_MAX] = "";
	const struct berval *v;
	size_t n, i;
	bool dropped;

	first_text(t, e, m->alias, e->alias, sizeof(e->alias));
	if ((v = values(t, m->primary_account)) != NULL)
		link_key(m, &v[0], e->primary_key, sizeof(e->primary_key));

	v = values(t, m->delegate);
	n = count_values(v);
	if (n > XI_DIR_DELEGATES_MAX) {
		e->delegates_truncated = true;
		note_problem(e, m->delegate, "has too many values (first 64 used)");
		n = XI_DIR_DELEGATES_MAX;
	}
	if (n > 0 && (e->delegate_keys = calloc(n, sizeof(*e->delegate_keys))) != NULL) {
		for (i = 0; i < n; i++) {
			link_key(m, &v[i], e->delegate_keys[e->delegate_count],
				 sizeof(e->delegate_keys[0]));
			if (e->delegate_keys[e->delegate_count][0] != '\0')
				e->delegate_count++;
		}
	}

	first_text(t, e, m->home_server, home, sizeof(home));
	if (home[0] != '\0' &&
	    xi_attrmap_home_server_name(m, home, e->home_server, sizeof(e->home_server)) < 0) {
		/* A home server we cannot read is not "any server". */
		snprintf(e->home_server, sizeof(e->home_server), "%s", "(unreadable)");
		note_problem(e, m->home_server, "value not in the expected shape");
	}
	/* Absent means "all"; present but unreadable means "none" (fail closed),
	 * and the note names the attribute for `xident resolve` and the event. */
	n = texts(t, e, m->protocols, buf, ptrs, &dropped);
	e->protocols = dropped ? 0 : xi_attrmap_protocols(m, ptrs, n);
	if (dropped)
		note_problem(e, m->protocols, "a value could not be read: no protocol allowed");
	n = m->logon_methods != NULL ? texts(t, e, m->logon_methods, buf, ptrs, &dropped) : 0;
	if (m->logon_methods == NULL)
		dropped = false;
	e->methods = dropped ? 0 : xi_attrmap_methods(ptrs, n);
	if (dropped)
		note_problem(e, m->logon_methods, "a value could not be read: no logon method allowed");

	first_text(t, e, m->target_address, e->target_address, sizeof(e->target_address));
	first_text(t, e, m->mail, e->mail, sizeof(e->mail));
	first_text(t, e, m->display_name, e->display_name, sizeof(e->display_name));
	first_text(t, e, m->mail_home, e->mail_home, sizeof(e->mail_home));
	first_text(t, e, m->mail_location, e->mail_location, sizeof(e->mail_location));
	first_text(t, e, m->mail_uid, e->mail_uid, sizeof(e->mail_uid));
	first_text(t, e, m->mail_gid, e->mail_gid, sizeof(e->mail_gid));
	{
		char quota[64] = "";

		first_text(t, e, m->mail_quota, quota, sizeof(quota));
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
	struct entry_attrs t;
	const struct berval *classes;
	const char *why;
	bool custom, dl, mailbox;

	/* An entry with more attributes than the table holds (the mirror's,
	 * or a server that returns more than asked) is read again keeping only
	 * those the map names. */
	if (entry_attrs_read(ld, msg, m, false, &t, e->dn, sizeof(e->dn), &why) < 0 &&
	    (strcmp(why, "has too many attributes") != 0 ||
	     entry_attrs_read(ld, msg, m, true, &t, e->dn, sizeof(e->dn), &why) < 0)) {
		/* Unreadable: no kind, so nothing is decided from it. */
		e->dn[0] = '\0';
		note_problem(e, strcmp(why, "has too many attributes") == 0 ? "entry" : "DN", why);
		return;
	}
	classes = values(&t, "objectClass");
	if (m->account_class != NULL && has_value(classes, m->account_class)) {
		e->kinds |= XI_DIR_ACCOUNT;
		read_account(&t, m, e, want_nt, want_pw);
	}
	custom = m->custom_class != NULL && has_value(classes, m->custom_class);
	dl = m->dl_class != NULL && has_value(classes, m->dl_class);
	mailbox = m->mailbox_class != NULL && has_value(classes, m->mailbox_class) && !custom && !dl;
	if (mailbox && m->mailbox_marker != NULL)
		mailbox = values(&t, m->mailbox_marker) != NULL;
	if (custom)
		e->kinds |= XI_DIR_CUSTOM;
	if (dl)
		e->kinds |= XI_DIR_DL;
	if (mailbox)
		e->kinds |= XI_DIR_MAILBOX;
	if (custom || dl || mailbox)
		read_recipient(&t, m, e);
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
			n = texts(&t, e, m->mail, buf, mails, NULL);
		e->matched = xi_dir_entry_match(m, q, e, mails, n);
	}
	entry_attrs_free(&t);
}

bool xi_dir_entry_has_class(LDAP *ld, LDAPMessage *msg, const char *cls)
{
	struct berval **classes;
	bool has;

	if (cls == NULL)
		return false;
	classes = ldap_get_values_len(ld, msg, "objectClass");
	has = has_value_ptrs(classes, cls);
	ldap_value_free_len(classes);
	return has;
}
