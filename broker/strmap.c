/*
 * strmap.c -- a hash map from byte-string keys to pointers.
 *
 * Separate chaining with a power-of-two slot array that doubles when the
 * load passes 1; keys are copied into their entries, values are borrowed
 * pointers the caller owns. Hashing is XXH3 (64 bits), so the order of
 * iteration depends on the keys only, never on addresses: two runs that
 * insert the same keys iterate alike. Not thread-safe: one owner (the
 * group coordinator's thread uses it for groups and committed offsets).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "broker/br_int.h"

struct br_strmap_entry {
	struct br_strmap_entry *next;
	uint64_t hash;
	void *value;
	size_t klen;
	uint8_t key[];
};

static uint64_t key_hash(const void *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

void br_strmap_init(br_strmap *m)
{
	memset(m, 0, sizeof(*m));
}

void br_strmap_free(br_strmap *m, void (*free_value)(void *value))
{
	for (size_t i = 0; i < m->cap; i++) {
		br_strmap_entry *e = m->slots[i];

		while (e) {
			br_strmap_entry *next = e->next;

			if (free_value)
				free_value(e->value);
			free(e);
			e = next;
		}
	}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static br_strmap_entry **find_slot(const br_strmap *m, const void *key, size_t klen, uint64_t h)
{
	br_strmap_entry **pp;

	if (m->cap == 0)
		return NULL;
	for (pp = &m->slots[h & (m->cap - 1)]; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
			return pp;
	return NULL;
}

void *br_strmap_get(const br_strmap *m, const void *key, size_t klen)
{
	br_strmap_entry **pp = find_slot(m, key, klen, key_hash(key, klen));

	return pp ? (*pp)->value : NULL;
}

static int grow(br_strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	br_strmap_entry **slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		br_strmap_entry *e = m->slots[i];

		while (e) {
			br_strmap_entry *next = e->next;
			size_t s = e->hash & (cap - 1);

			e->next = slots[s];
			slots[s] = e;
			e = next;
		}
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int br_strmap_put(br_strmap *m, const void *key, size_t klen, void *value, void **old)
{
	uint64_t h = key_hash(key, klen);
	br_strmap_entry **pp = find_slot(m, key, klen, h);
	br_strmap_entry *e;
	size_t s;

	if (old)
		*old = NULL;
	if (pp) {
		if (old)
			*old = (*pp)->value;
		(*pp)->value = value;
		return 0;
	}
	if (m->n + 1 > m->cap && grow(m) < 0)
		return -ENOMEM;
	if (!(e = malloc(sizeof(*e) + klen)))
		return -ENOMEM;
	e->hash = h;
	e->value = value;
	e->klen = klen;
	memcpy(e->key, key, klen);
	s = h & (m->cap - 1);
	e->next = m->slots[s];
	m->slots[s] = e;
	m->n++;
	return 0;
}

void *br_strmap_del(br_strmap *m, const void *key, size_t klen)
{
	br_strmap_entry **pp = find_slot(m, key, klen, key_hash(key, klen));
	br_strmap_entry *e;
	void *value;

	if (!pp)
		return NULL;
	e = *pp;
	*pp = e->next;
	value = e->value;
	free(e);
	m->n--;
	return value;
}

br_strmap_entry *br_strmap_next(const br_strmap *m, br_strmap_iter *it)
{
	if (it->entry && it->entry->next) {
		it->entry = it->entry->next;
		return it->entry;
	}
	for (it->slot = it->entry ? it->slot + 1 : 0; it->slot < m->cap; it->slot++) {
		if (m->slots[it->slot]) {
			it->entry = m->slots[it->slot];
			return it->entry;
		}
	}
	it->entry = NULL;
	return NULL;
}

const void *br_strmap_entry_key(const br_strmap_entry *e, size_t *klen)
{
	*klen = e->klen;
	return e->key;
}

void *br_strmap_entry_value(const br_strmap_entry *e)
{
	return e->value;
}
