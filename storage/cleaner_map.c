/*
 * cleaner_map.c -- the cleaner's key -> latest offset map.
 *
 * One pass of the cleaner (cleaner_pass.c) reads the dirty section of a
 * log and records, for every key, the offset of its latest record; the
 * rewrite then drops every record of a key below that offset. Kafka keeps
 * a 16-byte MD5 and an 8-byte offset per slot (24 bytes). Here a slot is
 * 12 bytes, three uint32 (nothing padded; a probe touches one cache line
 * nearly always):
 *
 *   fp_lo, fp_hi  the 64-bit fingerprint: bits 63..16 the key's tag,
 *                 15..0 a check; 0 marks an empty slot
 *   rel           latest offset - base; ST__OMAP_COLLIDED: see below
 *
 * Lookups are cache misses (the map is far bigger than the caches), so a
 * pass hashes a whole batch's keys and prefetches their home slots before
 * it looks any up: the misses overlap instead of queueing.
 *
 * XXH3-128 of the key gives both: the low 64 bits are the fingerprint, the
 * high 64 bits choose the home slot (linear probing from there). The home
 * is high64 * cap / 2^64 (multiply-shift), so cap need not be a power of
 * two: a pass's map is as big as its dirty section needs, not up to twice
 * that (less memory to zero, fewer cache misses). The map
 * never grows (its memory is the pass's budget) and stops taking keys at
 * 3/4 full, so a full map costs 16 bytes per key; a pass whose dirty
 * section has more keys maps what fits and the next pass goes on.
 *
 * Collisions. A lookup matches a slot whose tag equals the key's, within
 * the probe run from the key's home slot. Two keys with the same tag in the
 * same run would be taken for one key, and the older one's latest record
 * would be dropped -- a lost value. The 16-bit check guards that: a tag
 * match whose check differs is a proven collision, and the slot is marked
 * COLLIDED for the rest of the pass; the rewrite then keeps every record of
 * every key with that tag (never drops a latest value, only keeps some
 * stale ones until a later pass, whose hash inputs are the same, so such
 * keys simply stay uncompacted -- rare: about one pair in 2^48 per run).
 * Records cleaner_pass.c's superseded bits noted before the collision go:
 * each has a later record with the same 64-bit fingerprint, which a lookup
 * made before the collision would have trusted too.
 * What slips through is two keys equal in tag and check whose runs meet:
 * 64 bits of XXH3 plus the home position, about n * run / 2^64 for n keys
 * (1e-10 for a hundred million keys), far below a disk's silent error rate.
 *
 * Offsets. rel is relative to the pass's first dirty offset, so a pass maps
 * fewer than UINT32_MAX offsets (cleaner_pass.c stops before that).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
/* XXH3 inlined here: a short key's hash is a few dozen instructions, and a
 * call through the shared library's PLT was a visible part of it. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "storage/st_int.h"

#define MIN_SLOTS 64
/* The slots live in their own anonymous mapping, in 2 MiB pieces the
 * kernel may back with huge pages: every lookup lands on a random slot, so
 * with 4 KiB pages nearly every one is also a TLB miss, and a fresh map
 * takes a page fault (two: zero page, then copy) per 4 KiB it touches. */
#define HUGE_BYTES ((size_t)2 << 20)

static size_t map_len(size_t cap)
{
	size_t len = cap * ST__OMAP_SLOT_BYTES;
	return len < HUGE_BYTES ? len : (len + HUGE_BYTES - 1) / HUGE_BYTES * HUGE_BYTES;
}

/* Zeroed memory for cap slots, 2 MiB aligned when that large; NULL when
 * the system has none. Freed by slots_free(). */
static st__omap_slot *slots_alloc(size_t cap)
{
	size_t len = map_len(cap);
	if (len < HUGE_BYTES)
		return calloc(cap, sizeof(st__omap_slot));
	/* Over-map by one huge page and trim both ends to align. */
	uint8_t *raw = mmap(NULL, len + HUGE_BYTES, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + len + HUGE_BYTES > p + len)
		munmap(p + len, (size_t)(raw + len + HUGE_BYTES - (p + len)));
	/* Advice only: without transparent huge pages the map works the same,
	 * just with more misses. */
	(void)madvise(p, len, MADV_HUGEPAGE);
	return (st__omap_slot *)p;
}

static void slots_free(st__omap_slot *s, size_t cap)
{
	if (!s)
		return;
	if (map_len(cap) < HUGE_BYTES)
		free(s);
	else
		munmap(s, map_len(cap));
}
#define TAG(fp) ((fp) >> 16)
#define CHECK(fp) ((fp) & 0xffffu)

static inline uint64_t slot_fp(const st__omap_slot *s)
{
	return (uint64_t)s->fp_hi << 32 | s->fp_lo;
}

int st__omap_init(st__omap *m, size_t bytes)
{
	size_t cap = bytes / ST__OMAP_SLOT_BYTES;

	memset(m, 0, sizeof(*m));
	if (cap < MIN_SLOTS)
		cap = MIN_SLOTS;
	/* Zeroed pages come from the kernel as they are touched; reset()
	 * clears them again only for reuse. */
	m->slots = slots_alloc(cap);
	if (!m->slots)
		return -ENOMEM;
	m->cap = cap;
	m->max = cap - cap / 4;
	return 0;
}

void st__omap_free(st__omap *m)
{
	slots_free(m->slots, m->cap);
	memset(m, 0, sizeof(*m));
}

void st__omap_reset(st__omap *m, int64_t base)
{
	if (m->n > 0 || m->collisions > 0)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->n = 0;
	m->base = base;
	m->collisions = 0;
}

bool st__omap_room(const st__omap *m, size_t more)
{
	return more <= m->max - m->n;
}

size_t st__omap_bytes(const st__omap *m)
{
	return m->cap * ST__OMAP_SLOT_BYTES;
}

void st__omap_hash_key(const st__omap *m, const void *key, size_t len, st__omap_hash *h)
{
	XXH128_hash_t x = XXH3_128bits(key, len);

	/* 0 is the empty mark; folding it onto 1 only makes those two
	 * fingerprints share a tag, which the check handles. */
	h->fp = x.low64 ? x.low64 : 1;
	h->home = (size_t)(((unsigned __int128)x.high64 * m->cap) >> 64);
}

/* The slot holding the key's tag, or the empty slot ending its run. */
static st__omap_slot *probe(const st__omap *m, const st__omap_hash *h)
{
	size_t i = h->home;

	/* The load limit keeps empty slots, so the loop ends. */
	for (;;) {
		st__omap_slot *s = &m->slots[i];
		uint64_t fp = slot_fp(s);
		if (fp == 0 || TAG(fp) == TAG(h->fp))
			return s;
		i = i + 1 == m->cap ? 0 : i + 1;
	}
}

int64_t st__omap_put_hashed(st__omap *m, const st__omap_hash *h, int64_t offset)
{
	assert(offset >= m->base && offset - m->base < (int64_t)ST__OMAP_COLLIDED);
	st__omap_slot *s = probe(m, h);
	uint64_t fp = slot_fp(s);
	if (fp == 0) {
		assert(m->n < m->max);
		s->fp_lo = (uint32_t)h->fp;
		s->fp_hi = (uint32_t)(h->fp >> 32);
		s->rel = (uint32_t)(offset - m->base);
		m->n++;
		return -1;
	}
	if (s->rel == ST__OMAP_COLLIDED)
		return -1;
	if (CHECK(fp) != CHECK(h->fp)) {
		s->rel = ST__OMAP_COLLIDED;
		m->collisions++;
		return -1;
	}
	int64_t prev = m->base + s->rel;
	s->rel = (uint32_t)(offset - m->base);
	return prev;
}

int st__omap_get_hashed(const st__omap *m, const st__omap_hash *h, int64_t *latest)
{
	const st__omap_slot *s = probe(m, h);
	uint64_t fp = slot_fp(s);

	if (fp == 0)
		return 0;
	/* A different check under the same tag: a key the map never took as
	 * itself; nothing can be said about it, so it keeps everything. */
	if (s->rel == ST__OMAP_COLLIDED || CHECK(fp) != CHECK(h->fp))
		return 2;
	*latest = m->base + s->rel;
	return 1;
}

void st__omap_put(st__omap *m, const void *key, size_t len, int64_t offset)
{
	st__omap_hash h;
	st__omap_hash_key(m, key, len, &h);
	(void)st__omap_put_hashed(m, &h, offset);
}

int st__omap_get(const st__omap *m, const void *key, size_t len, int64_t *latest)
{
	st__omap_hash h;
	st__omap_hash_key(m, key, len, &h);
	return st__omap_get_hashed(m, &h, latest);
}
