/*
 * arena.c -- kp_arena, a bump allocator whose memory is freed all at once.
 *
 * Decoded messages allocate their arrays here: one request's memory goes
 * with one kp_arena_free() (or kp_arena_reset()) when it has been answered,
 * so decoders never free and cannot leak on their error paths.
 *
 * Memory comes from malloc in chunks. A chunk is at least ARENA_MIN_CHUNK
 * bytes and twice the previous one, up to ARENA_MAX_CHUNK; a request larger
 * than that gets a chunk of its own, so growth stays geometric without one
 * big array forcing every later chunk to be big. Every allocation is aligned
 * for any C object (max_align_t).
 *
 * `limit` caps the bytes handed out (padding included), so a caller can bound
 * what one request may cost no matter what its frame claims.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "proto/kp_int.h"

#define ARENA_MIN_CHUNK ((size_t)4096)
#define ARENA_MAX_CHUNK ((size_t)1 << 20)
#define ARENA_ALIGN alignof(max_align_t)

struct kp_arena_chunk {
	struct kp_arena_chunk *prev;  /* older chunk, freed with this one */
	size_t size;                  /* bytes in data[] */
	size_t used;                  /* bytes of data[] handed out */
	max_align_t data[];           /* max_align_t: data starts aligned */
};

void kp_arena_init(kp_arena *a, size_t limit)
{
	a->chunk = NULL;
	a->used = 0;
	a->limit = limit;
	a->err = 0;
}

static void arena_fail(kp_arena *a, int err)
{
	if (a->err == 0)
		a->err = err;
}

/* Rounds n up to ARENA_ALIGN; false when that would overflow. */
static bool align_up(size_t n, size_t *out)
{
	if (n > SIZE_MAX - (ARENA_ALIGN - 1))
		return false;
	*out = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	return true;
}

void *kp_arena_alloc(kp_arena *a, size_t size)
{
	struct kp_arena_chunk *c = a->chunk;
	size_t need, csize;
	void *p;

	if (a->err != 0)
		return NULL;
	if (!align_up(size == 0 ? 1 : size, &need)) {
		arena_fail(a, KP_ERR_OVERFLOW);
		return NULL;
	}
	if (a->limit != 0 && need > a->limit - a->used) {
		arena_fail(a, KP_ERR_TOO_LARGE);
		return NULL;
	}
	if (c == NULL || c->size - c->used < need) {
		csize = c == NULL ? ARENA_MIN_CHUNK : c->size * 2;
		if (csize > ARENA_MAX_CHUNK)
			csize = ARENA_MAX_CHUNK;
		if (csize < need)
			csize = need;
		if (csize > SIZE_MAX - sizeof *c) {
			arena_fail(a, KP_ERR_OVERFLOW);
			return NULL;
		}
		c = malloc(sizeof *c + csize);
		if (c == NULL) {
			arena_fail(a, KP_ERR_NOMEM);
			return NULL;
		}
		c->prev = a->chunk;
		c->size = csize;
		c->used = 0;
		a->chunk = c;
	}
	p = (uint8_t *)c->data + c->used;
	c->used += need;
	a->used += need;
	return p;
}

void *kp_arena_calloc(kp_arena *a, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size) {
		arena_fail(a, KP_ERR_OVERFLOW);
		return NULL;
	}
	p = kp_arena_alloc(a, n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

void kp_arena_reset(kp_arena *a)
{
	struct kp_arena_chunk *keep = a->chunk, *c;

	if (keep != NULL) {
		/* Keep the newest (largest) chunk: a connection that decodes
		 * similar requests in turn stops calling malloc. */
		c = keep->prev;
		while (c != NULL) {
			struct kp_arena_chunk *prev = c->prev;
			free(c);
			c = prev;
		}
		keep->prev = NULL;
		keep->used = 0;
	}
	a->used = 0;
	a->err = 0;
}

void kp_arena_free(kp_arena *a)
{
	struct kp_arena_chunk *c = a->chunk;

	while (c != NULL) {
		struct kp_arena_chunk *prev = c->prev;
		free(c);
		c = prev;
	}
	a->chunk = NULL;
	a->used = 0;
	a->err = 0;
}
