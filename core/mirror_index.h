/*
 * mirror_index: a hash multimap from 32-bit key hashes to entry numbers,
 * the index kind the directory mirror keeps per lookup key (DN, account
 * name, UPN, alias, mail address, owner key, SID key, entryUUID).
 *
 * It stores hashes only, never keys: several keys may share a hash and one
 * key may map to many entries, so a lookup yields candidates that the caller
 * checks against the entry itself.  Open addressing with linear probing and
 * tombstones; grows by half (and drops tombstones) past 4/5 load.  Not thread-safe:
 * the mirror's lock guards it.
 */
#ifndef XI_MIRROR_INDEX_H
#define XI_MIRROR_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xi_mirror_slot {
	uint32_t hash;
	uint32_t id;               /* 0 = empty, UINT32_MAX = removed */
};

struct xi_mirror_index {
	struct xi_mirror_slot *slots;
	size_t cap;                /* slots; 0 before the first add */
	size_t used;               /* live slots */
	size_t removed;            /* tombstones */
};

void xi_mirror_index_init(struct xi_mirror_index *ix);
void xi_mirror_index_free(struct xi_mirror_index *ix);

/* id: 1..UINT32_MAX-1.  -1 when out of memory (the index is unchanged). */
int xi_mirror_index_add(struct xi_mirror_index *ix, uint32_t hash, uint32_t id);
/* Removes one (hash, id) pair; false when it was not there. */
bool xi_mirror_index_remove(struct xi_mirror_index *ix, uint32_t hash, uint32_t id);

/* Calls fn for every id stored under hash (an id added twice comes twice)
 * until fn returns false. */
typedef bool xi_mirror_index_fn(void *ctx, uint32_t id);
void xi_mirror_index_each(const struct xi_mirror_index *ix, uint32_t hash,
			  xi_mirror_index_fn *fn, void *ctx);

size_t xi_mirror_index_bytes(const struct xi_mirror_index *ix);

/* FNV-1a over len bytes, never 0 (so no hash looks like an empty slot's). */
uint32_t xi_mirror_hash(const void *data, size_t len);

#endif
