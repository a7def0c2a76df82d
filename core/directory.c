/*
 * directory: dispatch to the source in use, and the result helpers every
 * source shares.
 */
#include "directory.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "unicode.h"

int xi_dir_find(struct xi_directory *dir, const struct xi_dir_query *q,
		struct xi_dir_result *res, unsigned *ops, struct xi_error *err)
{
	return dir->ops->find(dir, q, res, ops, err);
}

int xi_dir_read(struct xi_directory *dir, const char *dn, bool want_nt_hash, bool want_password,
		struct xi_dir_result *res, unsigned *ops, struct xi_error *err)
{
	return dir->ops->read(dir, dn, want_nt_hash, want_password, res, ops, err);
}

enum xi_dir_bind xi_dir_verify_bind(struct xi_directory *dir, const char *dn,
				    const char *password, size_t password_len, unsigned *ops,
				    struct xi_error *err)
{
	return dir->ops->verify_bind(dir, dn, password, password_len, ops, err);
}

int xi_dir_mailboxes_visible(struct xi_directory *dir, bool *visible_r, unsigned *ops,
			     struct xi_error *err)
{
	return dir->ops->mailboxes_visible(dir, visible_r, ops, err);
}

void xi_dir_destroy(struct xi_directory *dir)
{
	if (dir != NULL)
		dir->ops->destroy(dir);
}

void xi_dir_result_init(struct xi_dir_result *res)
{
	memset(res, 0, sizeof(*res));
}

void xi_dir_result_free(struct xi_dir_result *res)
{
	size_t i;

	for (i = 0; i < res->count; i++) {
		struct xi_dir_entry *e = &res->entries[i];

		OPENSSL_cleanse(e->nt_hash, sizeof(e->nt_hash));
		OPENSSL_cleanse(e->password, sizeof(e->password));
		free(e->delegate_keys);
	}
	free(res->entries);
	res->entries = NULL;
	res->count = 0;
}

bool xi_dir_entry_has_delegate(const struct xi_dir_entry *e, const char *key)
{
	size_t i;

	if (key == NULL || key[0] == '\0')
		return false;
	for (i = 0; i < e->delegate_count; i++) {
		if (strcmp(e->delegate_keys[i], key) == 0)
			return true;
	}
	return false;
}

static bool domain_listed(const struct xi_dir_query *q, const char *domain)
{
	size_t i;

	if (q->domain_count == 0)
		return true;
	for (i = 0; i < q->domain_count; i++) {
		if (xi_utf8_caseeq(q->domains[i], domain))
			return true;
	}
	return false;
}

unsigned xi_dir_entry_match(const struct xi_attrmap *m, const struct xi_dir_query *q,
			    const struct xi_dir_entry *e, const char *const *mails,
			    size_t mail_count)
{
	unsigned bits = 0;
	bool recipient = (e->kinds & (XI_DIR_MAILBOX | XI_DIR_CUSTOM | XI_DIR_DL)) != 0;
	size_t i;

	if (q == NULL)
		return 0;
	if ((e->kinds & XI_DIR_ACCOUNT) && q->account != NULL &&
	    xi_utf8_caseeq(e->account_name, q->account) &&
	    (m->domain == NULL || domain_listed(q, e->domain)))
		bits |= XI_MATCH_ACCOUNT;
	if ((e->kinds & XI_DIR_ACCOUNT) && q->upn != NULL && e->upn[0] != '\0' &&
	    xi_utf8_caseeq(e->upn, q->upn))
		bits |= XI_MATCH_UPN;
	if (recipient && q->alias != NULL && xi_utf8_caseeq(e->alias, q->alias))
		bits |= XI_MATCH_ALIAS;
	for (i = 0; recipient && q->mail != NULL && i < mail_count; i++) {
		if (xi_utf8_caseeq(mails[i], q->mail)) {
			bits |= XI_MATCH_MAIL;
			break;
		}
	}
	if ((e->kinds & XI_DIR_MAILBOX) && q->owner_key != NULL && e->primary_key[0] != '\0' &&
	    strcmp(e->primary_key, q->owner_key) == 0)
		bits |= XI_MATCH_OWNER;
	if ((e->kinds & XI_DIR_ACCOUNT) && q->sid_key != NULL && e->owner_key[0] != '\0' &&
	    strcmp(e->owner_key, q->sid_key) == 0)
		bits |= XI_MATCH_SID;
	return bits;
}
