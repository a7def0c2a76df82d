/*
 * admin_entry: owned copies of directory entries, and changes printed as
 * LDIF or handed to libldap.
 */
#include "xident-config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "admin_entry.h"

static char *dup_len(const char *s, size_t len)
{
	char *d = malloc(len + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static void attr_free(struct xi_attr *a)
{
	size_t i;

	for (i = 0; i < a->count; i++)
		free(a->values[i]);
	free(a->values);
	free(a->name);
}

void xi_entry_free(struct xi_entry *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->count; i++)
		attr_free(&e->attrs[i]);
	free(e->attrs);
	free(e->dn);
	memset(e, 0, sizeof(*e));
}

void xi_entries_free(struct xi_entries *es)
{
	size_t i;

	if (es == NULL)
		return;
	for (i = 0; i < es->count; i++)
		xi_entry_free(&es->items[i]);
	free(es->items);
	memset(es, 0, sizeof(*es));
}

void xi_entries_take(struct xi_entries *es, size_t i, struct xi_entry *out)
{
	*out = es->items[i];
	memset(&es->items[i], 0, sizeof(es->items[i]));
}

/* Copies one attribute's values.  Values holding a NUL byte are refused:
 * every attribute the CLI reads is text. */
static int copy_attr(LDAP *ld, LDAPMessage *msg, const char *name, struct xi_attr *a,
		     struct xi_error *err)
{
	struct berval **vals = ldap_get_values_len(ld, msg, name);
	size_t n = 0, i;

	memset(a, 0, sizeof(*a));
	if (vals != NULL)
		n = (size_t)ldap_count_values_len(vals);
	a->name = strdup(name);
	a->values = calloc(n + 1, sizeof(*a->values));
	if (a->name == NULL || a->values == NULL) {
		ldap_value_free_len(vals);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++) {
		if (memchr(vals[i]->bv_val, '\0', vals[i]->bv_len) != NULL)
			continue;
		a->values[a->count] = dup_len(vals[i]->bv_val, vals[i]->bv_len);
		if (a->values[a->count] == NULL) {
			ldap_value_free_len(vals);
			return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		}
		a->count++;
	}
	ldap_value_free_len(vals);
	return 0;
}

static int copy_entry(LDAP *ld, LDAPMessage *msg, struct xi_entry *e, struct xi_error *err)
{
	BerElement *ber = NULL;
	char *dn, *name;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	dn = ldap_get_dn(ld, msg);
	if (dn == NULL)
		return xi_error_set(err, XI_ERR_INVALID, "the server sent an entry without a DN");
	e->dn = strdup(dn);
	ldap_memfree(dn);
	if (e->dn == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	for (name = ldap_first_attribute(ld, msg, &ber); name != NULL && rc == 0;
	     name = ldap_next_attribute(ld, msg, ber)) {
		struct xi_attr *grown = realloc(e->attrs, (e->count + 1) * sizeof(*grown));

		if (grown == NULL) {
			rc = xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		} else {
			e->attrs = grown;
			rc = copy_attr(ld, msg, name, &e->attrs[e->count], err);
			e->count++;
		}
		ldap_memfree(name);
	}
	if (name != NULL)
		ldap_memfree(name);
	ber_free(ber, 0);
	return rc;
}

int xi_entries_from_result(LDAP *ld, LDAPMessage *res, struct xi_entries *out,
			   struct xi_error *err)
{
	LDAPMessage *msg;
	int n = ldap_count_entries(ld, res);

	memset(out, 0, sizeof(*out));
	if (n <= 0)
		return 0;
	out->items = calloc((size_t)n, sizeof(*out->items));
	if (out->items == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	for (msg = ldap_first_entry(ld, res); msg != NULL && out->count < (size_t)n;
	     msg = ldap_next_entry(ld, msg)) {
		if (copy_entry(ld, msg, &out->items[out->count], err) < 0) {
			out->count++;
			xi_entries_free(out);
			return -1;
		}
		out->count++;
	}
	return 0;
}

const struct xi_attr *xi_entry_attr(const struct xi_entry *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->count; i++) {
		if (strcasecmp(e->attrs[i].name, name) == 0)
			return &e->attrs[i];
	}
	return NULL;
}

const char *xi_entry_value(const struct xi_entry *e, const char *name)
{
	const struct xi_attr *a = xi_entry_attr(e, name);

	return a != NULL && a->count > 0 ? a->values[0] : NULL;
}

bool xi_entry_has_value(const struct xi_entry *e, const char *name, const char *value,
			bool ignore_case)
{
	const struct xi_attr *a = xi_entry_attr(e, name);
	size_t i;

	if (a == NULL)
		return false;
	for (i = 0; i < a->count; i++) {
		if (ignore_case ? strcasecmp(a->values[i], value) == 0 :
				  strcmp(a->values[i], value) == 0)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ changes */

void xi_change_init(struct xi_change *ch, enum xi_change_kind kind, const char *dn)
{
	memset(ch, 0, sizeof(*ch));
	ch->kind = kind;
	ch->dn = strdup(dn);
	ch->failed = ch->dn == NULL;
}

void xi_change_value(struct xi_change *ch, int op, const char *attr, const char *value)
{
	struct xi_change_mod *m = NULL;
	char **grown_values;
	size_t i;

	if (ch->failed)
		return;
	/* Values of one attribute with one op accumulate in one mod; an add
	 * record groups by attribute whatever the order of calls. */
	for (i = 0; i < ch->count; i++) {
		if (ch->mods[i].op == op && strcasecmp(ch->mods[i].attr, attr) == 0) {
			m = &ch->mods[i];
			break;
		}
	}
	if (m == NULL) {
		struct xi_change_mod *grown = realloc(ch->mods, (ch->count + 1) * sizeof(*grown));

		if (grown == NULL) {
			ch->failed = true;
			return;
		}
		ch->mods = grown;
		m = &ch->mods[ch->count];
		memset(m, 0, sizeof(*m));
		m->op = op;
		m->attr = strdup(attr);
		m->values = calloc(1, sizeof(*m->values));
		ch->count++;
		if (m->attr == NULL || m->values == NULL) {
			ch->failed = true;
			return;
		}
	}
	if (value == NULL)
		return;
	grown_values = realloc(m->values, (m->count + 2) * sizeof(*grown_values));
	if (grown_values == NULL) {
		ch->failed = true;
		return;
	}
	m->values = grown_values;
	m->values[m->count] = strdup(value);
	if (m->values[m->count] == NULL) {
		ch->failed = true;
		return;
	}
	m->count++;
	m->values[m->count] = NULL;
}

void xi_change_free(struct xi_change *ch)
{
	size_t i, j;

	for (i = 0; i < ch->count; i++) {
		for (j = 0; j < ch->mods[i].count; j++) {
			/* Password hashes pass through here: wipe them. */
			OPENSSL_cleanse(ch->mods[i].values[j], strlen(ch->mods[i].values[j]));
			free(ch->mods[i].values[j]);
		}
		free(ch->mods[i].values);
		free(ch->mods[i].attr);
	}
	free(ch->mods);
	free(ch->dn);
	memset(ch, 0, sizeof(*ch));
}

LDAPMod **xi_change_ldapmods(const struct xi_change *ch)
{
	/* One block: the NULL-terminated pointer array, then the cells. */
	LDAPMod **mods = calloc(1, (ch->count + 1) * sizeof(LDAPMod *) +
				ch->count * sizeof(LDAPMod));
	LDAPMod *cells;
	size_t i;

	if (mods == NULL)
		return NULL;
	cells = (LDAPMod *)(void *)(mods + ch->count + 1);
	for (i = 0; i < ch->count; i++) {
		cells[i].mod_op = ch->mods[i].op;
		cells[i].mod_type = ch->mods[i].attr;
		cells[i].mod_values = ch->mods[i].count > 0 ? ch->mods[i].values : NULL;
		mods[i] = &cells[i];
	}
	return mods;
}

void xi_change_ldapmods_free(LDAPMod **mods)
{
	free(mods);
}

/* ------------------------------------------------------------------- LDIF */

/* RFC 2849 SAFE-STRING: ASCII without NUL, CR, LF; not starting with a
 * space, ':' or '<'.  A trailing space is kept safe by base64 too, since
 * readers may strip it. */
static bool ldif_safe(const char *v)
{
	size_t len = strlen(v), i;

	if (len == 0)
		return true;
	if (v[0] == ' ' || v[0] == ':' || v[0] == '<' || v[len - 1] == ' ')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c >= 0x80 || c == '\r' || c == '\n')
			return false;
	}
	return true;
}

void xi_ldif_line(FILE *out, const char *attr, const char *value)
{
	size_t len = strlen(value);
	unsigned char *b64;

	if (ldif_safe(value)) {
		fprintf(out, "%s: %s\n", attr, value);
		return;
	}
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (b64 == NULL) {
		fprintf(out, "# %s: (out of memory)\n", attr);
		return;
	}
	EVP_EncodeBlock(b64, (const unsigned char *)value, (int)len);
	fprintf(out, "%s:: %s\n", attr, (const char *)b64);
	free(b64);
}

void xi_change_print_ldif(const struct xi_change *ch, FILE *out)
{
	size_t i, j;

	xi_ldif_line(out, "dn", ch->dn);
	switch (ch->kind) {
	case XI_CHANGE_ADD:
		fprintf(out, "changetype: add\n");
		for (i = 0; i < ch->count; i++) {
			for (j = 0; j < ch->mods[i].count; j++)
				xi_ldif_line(out, ch->mods[i].attr, ch->mods[i].values[j]);
		}
		break;
	case XI_CHANGE_MODIFY:
		fprintf(out, "changetype: modify\n");
		for (i = 0; i < ch->count; i++) {
			const char *op = ch->mods[i].op == LDAP_MOD_ADD ? "add" :
				ch->mods[i].op == LDAP_MOD_DELETE ? "delete" : "replace";

			fprintf(out, "%s: %s\n", op, ch->mods[i].attr);
			for (j = 0; j < ch->mods[i].count; j++)
				xi_ldif_line(out, ch->mods[i].attr, ch->mods[i].values[j]);
			fprintf(out, "-\n");
		}
		break;
	case XI_CHANGE_DELETE:
		fprintf(out, "changetype: delete\n");
		break;
	}
	fprintf(out, "\n");
}
