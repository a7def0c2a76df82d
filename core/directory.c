/*
 * directory: dispatch to the source in use, and the result helpers every
 * source shares.
 */
#include "directory.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

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
