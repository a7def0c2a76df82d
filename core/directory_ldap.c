/*
 * directory_ldap: the directory interface over live LDAP searches.
 *
 * A find is one subtree search whose filter ORs the parts of the query, each
 * value RFC 4515-escaped; entries come back interpreted through the
 * attribute map with every value bounded (dir_entry_ldap.c).  Binds to prove passwords go to
 * the pool's dedicated bind connections.
 */
#include "directory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "config.h"
#include "dir_entry_ldap.h"
#include "dir_filter.h"
#include "ldap_pool.h"
#include "unicode.h"

#define ATTRS_MAX 40

struct directory_ldap {
	struct xi_directory dir;
	struct xi_ldap_settings settings;
	struct xi_ldap_pool *pool;
	const char *base_dn;
	/* The attribute lists a search asks for, [want NT hash][want password],
	 * built once: the map is immutable. */
	const char *attrs[2][2][ATTRS_MAX + 1];
};

struct collect_ctx {
	const struct xi_attrmap *map;
	const struct xi_dir_query *query;
	bool want_nt, want_pw;
	struct xi_dir_result *out;
};

static int collect(void *ctx, LDAP *ld, LDAPMessage *res, bool truncated, struct xi_error *err)
{
	struct collect_ctx *c = ctx;
	struct xi_dir_result *out = c->out;
	LDAPMessage *msg;
	int n;

	n = ldap_count_entries(ld, res);
	if (n < 0)
		n = 0;
	out->truncated = truncated || n > XI_DIR_ENTRIES_MAX;
	if (n > XI_DIR_ENTRIES_MAX)
		n = XI_DIR_ENTRIES_MAX;
	out->entries = calloc(n > 0 ? (size_t)n : 1, sizeof(*out->entries));
	if (out->entries == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	for (msg = ldap_first_entry(ld, res); msg != NULL && out->count < (size_t)n;
	     msg = ldap_next_entry(ld, msg))
		xi_dir_entry_from_ldap(ld, msg, c->map, c->query, &out->entries[out->count++], c->want_nt, c->want_pw);
	return 0;
}

static int search_and_collect(struct directory_ldap *d, const char *base, int scope,
			      const char *filter, const struct xi_dir_query *q, bool want_nt, bool want_pw,
			      struct xi_dir_result *out, unsigned *ops, struct xi_error *err)
{
	const char **attrs = d->attrs[want_nt ? 1 : 0][want_pw ? 1 : 0];
	struct collect_ctx c = { .map = d->dir.map, .want_nt = want_nt, .want_pw = want_pw,
				 .out = out, .query = q };

	snprintf(out->searched, sizeof(out->searched), "base=\"%s\" scope=%s filter=%s", base,
		 scope == LDAP_SCOPE_BASE ? "base" : "sub", filter);
	if (xi_ldap_pool_search(d->pool, base, scope, filter, attrs, XI_DIR_ENTRIES_MAX + 1,
				collect, &c, ops, err) < 0) {
		xi_dir_result_free(out);
		return -1;
	}
	return 0;
}

static int dl_find(struct xi_directory *dir, const struct xi_dir_query *q,
		     struct xi_dir_result *out, unsigned *ops, struct xi_error *err)
{
	struct directory_ldap *d = (struct directory_ldap *)dir;
	char filter[XI_DIR_FILTER_MAX];

	xi_dir_result_init(out);
	if (xi_dir_ldap_filter(dir->map, q, filter, sizeof(filter), err) < 0)
		return -1;
	return search_and_collect(d, d->base_dn, LDAP_SCOPE_SUBTREE, filter, q, q->want_nt_hash,
				  q->want_password, out, ops, err);
}

static int dl_read(struct xi_directory *dir, const char *dn, bool want_nt, bool want_pw,
		     struct xi_dir_result *out, unsigned *ops, struct xi_error *err)
{
	struct directory_ldap *d = (struct directory_ldap *)dir;
	int rc;

	xi_dir_result_init(out);
	rc = search_and_collect(d, dn, LDAP_SCOPE_BASE, "(objectClass=*)", NULL, want_nt, want_pw, out,
				ops, err);
	/* An entry that is not there is an empty result, not an error. */
	if (rc < 0 && err != NULL && err->status == XI_ERR_NOTFOUND) {
		xi_error_clear(err);
		return 0;
	}
	return rc;
}

static enum xi_dir_bind dl_verify_bind(struct xi_directory *dir, const char *dn,
					 const char *password, size_t password_len,
					 unsigned *ops, struct xi_error *err)
{
	struct directory_ldap *d = (struct directory_ldap *)dir;

	switch (xi_ldap_pool_user_bind(d->pool, dn, password, password_len, ops, err)) {
	case XI_LDAP_BIND_OK:
		return XI_DIR_BIND_OK;
	case XI_LDAP_BIND_REJECTED:
		return XI_DIR_BIND_REJECTED;
	case XI_LDAP_BIND_ERROR:
	default:
		return XI_DIR_BIND_ERROR;
	}
}

static int count_only(void *ctx, LDAP *ld, LDAPMessage *res, bool truncated,
		      struct xi_error *err)
{
	bool *visible = ctx;

	*visible = truncated || ldap_count_entries(ld, res) > 0;
	return 0;
}

static int dl_mailboxes_visible(struct xi_directory *dir, bool *visible_r, unsigned *ops,
				struct xi_error *err)
{
	struct directory_ldap *d = (struct directory_ldap *)dir;
	static const char *const no_attrs[] = { LDAP_NO_ATTRS, NULL };
	char filter[XI_DIR_FILTER_MAX];

	*visible_r = false;
	if (dir->map->mailbox_class == NULL) {
		*visible_r = true;
		return 0;
	}
	if (xi_dir_ldap_class_filter(dir->map->mailbox_class, filter, sizeof(filter), err) < 0)
		return -1;
	return xi_ldap_pool_search(d->pool, d->base_dn, LDAP_SCOPE_SUBTREE, filter, no_attrs, 1,
				   count_only, visible_r, ops, err);
}

static void dl_destroy(struct xi_directory *dir)
{
	struct directory_ldap *d = (struct directory_ldap *)dir;

	xi_ldap_pool_destroy(d->pool);
	free(d);
}

static struct xi_ldap_pool *dl_bind_pool(struct xi_directory *dir)
{
	return ((struct directory_ldap *)dir)->pool;
}

static const struct xi_directory_ops ldap_ops = {
	.find = dl_find,
	.read = dl_read,
	.verify_bind = dl_verify_bind,
	.mailboxes_visible = dl_mailboxes_visible,
	.destroy = dl_destroy,
	.bind_pool = dl_bind_pool,
};

int xi_directory_ldap_create(const struct xi_config *cfg, struct xi_directory **dir_r,
			     struct xi_error *err)
{
	struct directory_ldap *d;
	const char *schema;

	*dir_r = NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	d->dir.ops = &ldap_ops;
	schema = xi_config_str(cfg, XI_CFG_SCHEMA);
	d->dir.map = xi_attrmap_by_name(schema != NULL ? schema : "xident");
	if (d->dir.map == NULL) {
		free(d);
		return xi_error_set(err, XI_ERR_CONFIG, "schema: unknown attribute map \"%s\"", schema);
	}
	for (int nt = 0; nt < 2; nt++) {
		for (int pw = 0; pw < 2; pw++)
			xi_attrmap_attributes(d->dir.map, nt == 1, pw == 1, d->attrs[nt][pw], ATTRS_MAX);
	}
	d->base_dn = xi_config_str(cfg, XI_CFG_LDAP_BASE_DN);
	if (d->base_dn == NULL || d->base_dn[0] == '\0') {
		free(d);
		return xi_error_set(err, XI_ERR_CONFIG, "ldap_base_dn is not set");
	}
	if (xi_ldap_settings_from_config(cfg, &d->settings, err) < 0 ||
	    xi_ldap_pool_create(&d->settings, (unsigned)xi_config_int(cfg, XI_CFG_LDAP_POOL_SIZE),
				&d->pool, err) < 0) {
		free(d);
		return -1;
	}
	d->dir.service_dn = d->settings.bind_dn != NULL && d->settings.bind_dn[0] != '\0' ?
		d->settings.bind_dn : "(anonymous)";
	*dir_r = &d->dir;
	return 0;
}
