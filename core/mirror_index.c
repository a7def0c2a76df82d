/*
 * mirror_index: hash multimap of the directory mirror (see mirror_index.h).
 */
#include "mirror_index.h"

#include <stdlib.h>

#define SLOT_REMOVED UINT32_MAX
#define CAP_MIN 16

void xi_mirror_index_init(struct xi_mirror_index *ix)
{
	ix->slots = NULL;
	ix->cap = ix->used = ix->removed = 0;
}

void xi_mirror_index_free(struct xi_mirror_index *ix)
{
	free(ix->slots);
	xi_mirror_index_init(ix);
}

uint32_t xi_mirror_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h != 0 ? h : 1;
}

/* Home slot of a hash: the hash scaled to the capacity (any capacity, so
 * the table grows by half rather than doubling). */
static size_t home(uint32_t hash, size_t cap)
{
	return (size_t)(((uint64_t)hash * (uint64_t)cap) >> 32);
}

static size_t next(size_t i, size_t cap)
{
	return i + 1 == cap ? 0 : i + 1;
}

static void place(struct xi_mirror_slot *slots, size_t cap, uint32_t hash, uint32_t id)
{
	size_t i = home(hash, cap);

	while (slots[i].id != 0)
		i = next(i, cap);
	slots[i].hash = hash;
	slots[i].id = id;
}

/* Rehashes into a table where want live slots fill two thirds. */
static int resize(struct xi_mirror_index *ix, size_t want)
{
	struct xi_mirror_slot *slots;
	size_t cap, i;

	if (want > UINT32_MAX / 2)
		return -1;
	cap = want + want / 2 + CAP_MIN;
	slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -1;
	for (i = 0; i < ix->cap; i++) {
		if (ix->slots[i].id != 0 && ix->slots[i].id != SLOT_REMOVED)
			place(slots, cap, ix->slots[i].hash, ix->slots[i].id);
	}
	free(ix->slots);
	ix->slots = slots;
	ix->cap = cap;
	ix->removed = 0;
	return 0;
}

int xi_mirror_index_add(struct xi_mirror_index *ix, uint32_t hash, uint32_t id)
{
	if (id == 0 || id == SLOT_REMOVED)
		return -1;
	if (5 * (ix->used + ix->removed + 1) > 4 * ix->cap &&
	    resize(ix, ix->used + 1) < 0)
		return -1;
	place(ix->slots, ix->cap, hash, id);
	ix->used++;
	return 0;
}

bool xi_mirror_index_remove(struct xi_mirror_index *ix, uint32_t hash, uint32_t id)
{
	size_t i;

	if (ix->cap == 0)
		return false;
	for (i = home(hash, ix->cap); ix->slots[i].id != 0; i = next(i, ix->cap)) {
		if (ix->slots[i].hash == hash && ix->slots[i].id == id) {
			ix->slots[i].id = SLOT_REMOVED;
			ix->used--;
			ix->removed++;
			return true;
		}
	}
	return false;
}

void xi_mirror_index_each(const struct xi_mirror_index *ix, uint32_t hash,
			  xi_mirror_index_fn *fn, void *ctx)
{
	size_t i;

	if (ix->cap == 0)
		return;
	for (i = home(hash, ix->cap); ix->slots[i].id != 0; i = next(i, ix->cap)) {
		if (ix->slots[i].hash == hash && ix->slots[i].id != SLOT_REMOVED &&
		    !fn(ctx, ix->slots[i].id))
			return;
	}
}

size_t xi_mirror_index_bytes(const struct xi_mirror_index *ix)
{
	return ix->cap * sizeof(*ix->slots);
}
