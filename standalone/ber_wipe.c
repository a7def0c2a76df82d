/* liblber's free and realloc, wiping (ber_wipe.h). */
#define _GNU_SOURCE
#include "ber_wipe.h"

#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <lber.h>

/* liblber's memory-context variants: exported, not in lber.h.  The context
 * is NULL for every client library call; liblber then uses plain malloc,
 * which these keep. */
void ber_memfree_x(void *p, void *ctx);
void *ber_memrealloc_x(void *p, ber_len_t size, void *ctx);

void ber_memfree_x(void *p, void *ctx)
{
	(void)ctx;
	if (p == NULL)
		return;
	/* malloc_usable_size: the password may lie anywhere in the block. */
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void ber_memfree(void *p)
{
	ber_memfree_x(p, NULL);
}

/* Not realloc: a block it moves would be freed unwiped, and a BER buffer
 * grows (moves) while a request is encoded. */
void *ber_memrealloc_x(void *p, ber_len_t size, void *ctx)
{
	size_t old;
	void *q;

	if (p == NULL)
		return malloc(size);
	if (size == 0) {
		ber_memfree_x(p, ctx);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (size <= old)
		return p;
	q = malloc(size);
	if (q == NULL)
		return NULL;
	memcpy(q, p, old);
	ber_memfree_x(p, ctx);
	return q;
}

void *ber_memrealloc(void *p, ber_len_t size)
{
	return ber_memrealloc_x(p, size, NULL);
}

bool xd_ber_wipe_active(void)
{
	return dlsym(RTLD_DEFAULT, "ber_memfree_x") == (void *)ber_memfree_x &&
	       dlsym(RTLD_DEFAULT, "ber_memrealloc_x") == (void *)ber_memrealloc_x;
}
