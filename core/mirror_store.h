/*
 * mirror_store: the directory mirror's entries, held compactly and indexed
 * for every question struct xi_dir_query can ask.
 *
 * An entry is stored as it was interpreted through the attribute map (a
 * struct xi_dir_entry from dir_entry_ldap.c), packed into one allocation:
 * the fixed fields, then the non-empty strings back to back (no
 * XI_DN_MAX-sized arrays); DNs under the base DN end in a one-byte marker
 * instead of the base; the owner key is not stored when it is the DN's own
 * key.  Indexes (mirror_index.c) by entryUUID, DN, account name, UPN,
 * alias, every mail address, primary-account key and the account's own
 * link key.  Lookups fold case the way xi_utf8_caseeq compares (upper, then
 * lower case) and then check each candidate with xi_dir_entry_match, the
 * rule live searches use, so the mirror and live LDAP agree.
 *
 * Secrets (NT hash, userPassword) are stored only when keep_secrets; every
 * entry's memory is wiped when it is replaced, deleted or freed.
 *
 * Not thread-safe: directory_mirror.c serialises the writer against readers.
 */
#ifndef XI_MIRROR_STORE_H
#define XI_MIRROR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "directory.h"

#define XI_MIRROR_UUID_LEN 16

struct xi_mirror_store;

struct xi_mirror_store *xi_mirror_store_new(const struct xi_attrmap *map, const char *base_dn,
					    size_t max_entries,
					    bool keep_secrets);
void xi_mirror_store_free(struct xi_mirror_store *st);

/* Adds the entry, or replaces the one with the same entryUUID (it keeps its
 * place in the order results come in).  mailbox_class: the entry lists the
 * map's mailbox class (for mailboxes_visible).  Returns 0, or -1 with err:
 * XI_ERR_NOMEM, XI_ERR_INVALID when max_entries would be exceeded or the
 * entry's strings exceed 1 MiB; the entry with that entryUUID is then gone. */
int xi_mirror_store_put(struct xi_mirror_store *st, const uint8_t uuid[XI_MIRROR_UUID_LEN],
			const struct xi_dir_entry *e, bool mailbox_class,
			const char *const *mails, size_t mail_count, struct xi_error *err);
/* False when no entry has that entryUUID. */
bool xi_mirror_store_delete(struct xi_mirror_store *st, const uint8_t uuid[XI_MIRROR_UUID_LEN]);
void xi_mirror_store_clear(struct xi_mirror_store *st);

/* Present-phase bookkeeping (RFC 4533 3.4.1): unmark all, mark what the
 * server says is present (put marks too), sweep deletes the unmarked. */
void xi_mirror_store_unmark_all(struct xi_mirror_store *st);
bool xi_mirror_store_mark(struct xi_mirror_store *st, const uint8_t uuid[XI_MIRROR_UUID_LEN]);
size_t xi_mirror_store_sweep(struct xi_mirror_store *st);

/* The answers of struct xi_directory_ops, from memory.  Secrets asked for
 * and not kept come back XI_SECRET_NOT_ASKED (the caller must not ask). */
int xi_mirror_store_find(const struct xi_mirror_store *st, const struct xi_dir_query *q,
			 struct xi_dir_result *res, struct xi_error *err);
int xi_mirror_store_read(const struct xi_mirror_store *st, const char *dn, bool want_nt_hash,
			 bool want_password, struct xi_dir_result *res, struct xi_error *err);
bool xi_mirror_store_mailboxes_visible(const struct xi_mirror_store *st);

size_t xi_mirror_store_count(const struct xi_mirror_store *st);
/* Heap bytes held: entries (as allocated) and index tables. */
size_t xi_mirror_store_bytes(const struct xi_mirror_store *st);

#endif
