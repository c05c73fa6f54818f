/*
 * win_engine.c -- the windowing engine of `rewind windows`: keys, window
 * assignment, watermarks, lateness, firing and finalizing.
 *
 * Determinism is the contract. The final value of every window must be a
 * function of the input logs alone -- not of how fetches from different
 * partitions interleave, not of the wall clock, not of hash order -- so
 * that a replay from offset 0 writes the same bytes as the live run did.
 * Three rules make it so:
 *
 *   1. Lateness is judged per partition. An event of partition p is
 *      compared with p's own watermark (the largest event time p has shown
 *      so far minus --out-of-order), which depends only on p's prefix. A
 *      window [s, e) takes it unless e + lateness <= wm_p (then it is too
 *      late for that window; when every window of the event refuses it, it
 *      goes to the side output); it counts as a late update when e <= wm_p.
 *      Sessions judge the event's own span [ts, ts + gap) the same way.
 *   2. Aggregates are order-free: counts, exact fixed-point sums, minima,
 *      maxima, register-wise-max HyperLogLog; sessions are the connected
 *      components of the accepted events' spans, whatever the order.
 *   3. A window is dropped (finalized) only when the minimum of every
 *      partition's watermark -- idle ones included -- is past the point
 *      after which rule 1 refuses every event that could reach it
 *      (e + lateness; for sessions e + gap + lateness, since an event just
 *      before e could still bridge into it). So no accepted event ever
 *      finds its window gone.
 *
 * What is not a function of the input is *when* results are written: a
 * window is first emitted when the firing watermark (the minimum over the
 * partitions not marked idle) passes its end, re-emitted after late
 * updates, and emitted final when dropped. Idleness is measured by the
 * caller on the wall clock and only moves the firing watermark. Each value
 * carries the emission count 1 + late updates, which is again a function
 * of the input. Within one emit call results are sorted by (end, key,
 * start) with tombstones first, so the output order never depends on hash
 * order either.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "tools/win_int.h"

void win_spec_default(struct win_spec *s)
{
	memset(s, 0, sizeof *s);
	s->kind = WIN_TUMBLING;
	s->size_ms = 5 * 60000;
	s->slide_ms = s->size_ms;
	s->gap_ms = 0;
	s->out_of_order_ms = 10000;
	s->lateness_ms = 60000;
	s->time_field = "ts";
	s->hll_precision = 12;
}

static uint64_t fp_mix(uint64_t h, const void *p, size_t n)
{
	return XXH3_64bits_withSeed(p, n, h);
}

static uint64_t fp_i64(uint64_t h, int64_t v)
{
	return fp_mix(h, &v, sizeof v);
}

static uint64_t fp_str(uint64_t h, const char *s)
{
	return fp_mix(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

uint64_t win_spec_fingerprint(const struct win_spec *s)
{
	uint64_t h = WIN_HASH_SEED;
	h = fp_i64(h, s->kind);
	h = fp_i64(h, s->size_ms);
	h = fp_i64(h, s->slide_ms);
	h = fp_i64(h, s->gap_ms);
	h = fp_i64(h, s->out_of_order_ms);
	h = fp_i64(h, s->lateness_ms);
	h = fp_str(h, s->time_field);
	h = fp_i64(h, (int64_t)s->n_keys);
	for (size_t i = 0; i < s->n_keys; i++)
		h = fp_str(h, s->keys[i]);
	h = fp_i64(h, (int64_t)s->n_aggs);
	for (size_t i = 0; i < s->n_aggs; i++) {
		h = fp_i64(h, s->aggs[i].kind);
		h = fp_str(h, s->aggs[i].field);
	}
	return fp_i64(h, s->hll_precision);
}

/* ------------------------------------------------------------ heaps */

int64_t win__purge_time(const struct win_engine *e, const struct win_entry *w)
{
	int64_t t = w->end + e->spec.lateness_ms;
	if (e->spec.kind == WIN_SESSION)
		t += e->spec.gap_ms;
	return t;
}

static inline int64_t heap_key(const struct win_engine *e, const struct win_heap *h,
			       const struct win_entry *w)
{
	return h->purge ? win__purge_time(e, w) : w->end;
}

static inline size_t *heap_idx(const struct win_heap *h, struct win_entry *w)
{
	return h->purge ? &w->purge_idx : &w->fire_idx;
}

static void heap_set(struct win_heap *h, size_t i, struct win_entry *w)
{
	h->a[i] = w;
	*heap_idx(h, w) = i;
}

/* The engine is needed for the purge key; a static pointer would be
 * global state, so every heap call takes it. */
static void heap_up(const struct win_engine *e, struct win_heap *h, size_t i)
{
	struct win_entry *w = h->a[i];
	int64_t k = heap_key(e, h, w);
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (heap_key(e, h, h->a[p]) <= k)
			break;
		heap_set(h, i, h->a[p]);
		i = p;
	}
	heap_set(h, i, w);
}

static void heap_down(const struct win_engine *e, struct win_heap *h, size_t i)
{
	struct win_entry *w = h->a[i];
	int64_t k = heap_key(e, h, w);
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && heap_key(e, h, h->a[c + 1]) < heap_key(e, h, h->a[c]))
			c++;
		if (heap_key(e, h, h->a[c]) >= k)
			break;
		heap_set(h, i, h->a[c]);
		i = c;
	}
	heap_set(h, i, w);
}

/* Puts w last in h (growing it), out of heap order until sifted. */
static int heap_append(struct win_heap *h, struct win_entry *w)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 256;
		struct win_entry **a = realloc(h->a, cap * sizeof *a);
		if (a == NULL)
			return -ENOMEM;
		h->a = a;
		h->cap = cap;
	}
	h->a[h->n] = w;
	*heap_idx(h, w) = h->n;
	h->n++;
	return 0;
}

static int heap_push(const struct win_engine *e, struct win_heap *h, struct win_entry *w)
{
	if (heap_append(h, w) < 0)
		return -ENOMEM;
	heap_up(e, h, h->n - 1);
	return 0;
}

static void heap_remove(const struct win_engine *e, struct win_heap *h, struct win_entry *w)
{
	size_t i = *heap_idx(h, w);
	if (i == SIZE_MAX)
		return;
	*heap_idx(h, w) = SIZE_MAX;
	h->n--;
	if (i == h->n)
		return;
	struct win_entry *last = h->a[h->n];
	heap_set(h, i, last);
	heap_up(e, h, i);
	heap_down(e, h, *heap_idx(h, last));
}

static void heap_fix(const struct win_engine *e, struct win_heap *h, struct win_entry *w)
{
	size_t i = *heap_idx(h, w);
	if (i == SIZE_MAX)
		return;
	heap_up(e, h, i);
	heap_down(e, h, *heap_idx(h, w));
}

int win__heap_push(struct win_heap *h, struct win_entry *w)
{
	/* Only the loader uses this: win__heaps_rebuild() orders the heaps
	 * once every window is in. */
	return heap_append(h, w);
}

static void heap_rebuild(const struct win_engine *e, struct win_heap *h)
{
	for (size_t i = h->n / 2; i-- > 0;)
		heap_down(e, h, i);
}

/* ------------------------------------------------------------- keys */

static size_t key_slot(const struct win_engine *e, uint64_t hash, const char *text, size_t len,
		       bool *found)
{
	size_t mask = e->keys_cap - 1, i = (size_t)hash & mask;
	for (;;) {
		struct win_key *k = e->keys[i];
		if (k == NULL) {
			*found = false;
			return i;
		}
		if (k->hash == hash && k->len == len && memcmp(k->text, text, len) == 0) {
			*found = true;
			return i;
		}
		i = (i + 1) & mask;
	}
}

static int keys_grow(struct win_engine *e)
{
	size_t cap = e->keys_cap * 2;
	struct win_key **old = e->keys, **nk = calloc(cap, sizeof *nk);
	if (nk == NULL)
		return -ENOMEM;
	size_t old_cap = e->keys_cap;
	e->keys = nk;
	e->keys_cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i] == NULL)
			continue;
		size_t j = (size_t)old[i]->hash & (cap - 1);
		while (nk[j])
			j = (j + 1) & (cap - 1);
		nk[j] = old[i];
	}
	free(old);
	return 0;
}

struct win_key *win__key_get(struct win_engine *e, const char *text, size_t len, bool create)
{
	uint64_t hash = XXH3_64bits_withSeed(text, len, WIN_HASH_SEED);
	bool found;
	size_t i = key_slot(e, hash, text, len, &found);
	if (found)
		return e->keys[i];
	if (!create)
		return NULL;
	if ((e->n_keys + 1) * 2 > e->keys_cap) {
		if (keys_grow(e) < 0)
			return NULL;
		i = key_slot(e, hash, text, len, &found);
	}
	struct win_key *k = calloc(1, sizeof *k);
	char *t = malloc(len + 1);
	if (k == NULL || t == NULL) {
		free(k);
		free(t);
		return NULL;
	}
	memcpy(t, text, len);
	t[len] = '\0';
	k->hash = hash;
	k->text = t;
	k->len = (uint32_t)len;
	e->keys[i] = k;
	e->n_keys++;
	return k;
}

/* Removes k (no windows left) with backward-shift deletion. */
static void key_delete(struct win_engine *e, struct win_key *k)
{
	bool found;
	size_t mask = e->keys_cap - 1;
	size_t i = key_slot(e, k->hash, k->text, k->len, &found);
	if (!found)
		return;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (e->keys[j] == NULL)
			break;
		size_t home = (size_t)e->keys[j]->hash & mask;
		/* Move j back into the hole at i unless its home lies in (i, j]. */
		bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!in_range) {
			e->keys[i] = e->keys[j];
			i = j;
		}
	}
	e->keys[i] = NULL;
	e->n_keys--;
	free(k->w);
	free(k->text);
	free(k);
}

int win__key_insert_window(struct win_engine *e, struct win_key *k, struct win_entry *w)
{
	(void)e;
	if (k->n == k->cap) {
		uint32_t cap = k->cap ? k->cap * 2 : 4;
		struct win_entry **a = realloc(k->w, cap * sizeof *a);
		if (a == NULL)
			return -ENOMEM;
		k->w = a;
		k->cap = cap;
	}
	uint32_t i = k->n;
	while (i > 0 && k->w[i - 1]->start > w->start) {
		k->w[i] = k->w[i - 1];
		i--;
	}
	k->w[i] = w;
	k->n++;
	w->key = k;
	return 0;
}

static void key_remove_window(struct win_key *k, struct win_entry *w)
{
	for (uint32_t i = 0; i < k->n; i++) {
		if (k->w[i] == w) {
			memmove(&k->w[i], &k->w[i + 1], (k->n - i - 1) * sizeof *k->w);
			k->n--;
			return;
		}
	}
}

/* ------------------------------------------------------------ windows */

struct win_entry *win__entry_new(struct win_engine *e)
{
	struct win_entry *w = calloc(1, e->entry_size);
	if (w == NULL)
		return NULL;
	w->fire_idx = w->purge_idx = SIZE_MAX;
	for (size_t i = 0; i < e->spec.n_aggs; i++)
		win__acc_init(e, &w->acc[i]);
	e->n_windows++;
	return w;
}

void win__entry_free(struct win_engine *e, struct win_entry *w)
{
	for (size_t i = 0; i < e->spec.n_aggs; i++)
		win__acc_free(&w->acc[i]);
	e->n_windows--;
	free(w);
}

int win__queue_add(struct win_engine *e, struct win_entry *w)
{
	if (w->flags & WIN_F_QUEUED)
		return 0;
	if (e->n_queue == e->cap_queue) {
		size_t cap = e->cap_queue ? e->cap_queue * 2 : 256;
		struct win_entry **q = realloc(e->queue, cap * sizeof *q);
		if (q == NULL)
			return -ENOMEM;
		e->queue = q;
		e->cap_queue = cap;
	}
	e->queue[e->n_queue++] = w;
	w->flags |= WIN_F_QUEUED;
	return 0;
}

static void queue_drop(struct win_engine *e, struct win_entry *w)
{
	if (!(w->flags & WIN_F_QUEUED))
		return;
	for (size_t i = 0; i < e->n_queue; i++) {
		if (e->queue[i] == w) {
			e->queue[i] = e->queue[--e->n_queue];
			break;
		}
	}
	w->flags &= ~(uint32_t)WIN_F_QUEUED;
}

int win__tomb_add(struct win_engine *e, struct win_key *k, int64_t start, int64_t end)
{
	if (e->n_tombs == e->cap_tombs) {
		size_t cap = e->cap_tombs ? e->cap_tombs * 2 : 64;
		struct win_tomb *t = realloc(e->tombs, cap * sizeof *t);
		if (t == NULL)
			return -ENOMEM;
		e->tombs = t;
		e->cap_tombs = cap;
	}
	e->tombs[e->n_tombs++] = (struct win_tomb){ k, start, end };
	return 0;
}

int win_engine_new(const struct win_spec *spec, size_t n_parts, struct win_engine **out,
		   char *err, size_t errlen)
{
	*out = NULL;
	if (n_parts == 0)
		return cmd_perr(err, errlen, "no input partitions");
	if (spec->kind == WIN_SESSION ? spec->gap_ms <= 0 : spec->size_ms <= 0)
		return cmd_perr(err, errlen, "the window size (or session gap) must be above 0");
	if (spec->kind == WIN_HOPPING && (spec->slide_ms <= 0 || spec->slide_ms > spec->size_ms))
		return cmd_perr(err, errlen, "a hop must be above 0 and at most the window size "
				"(--hopping SIZE/HOP, e.g. 5m/1m)");
	if (spec->kind == WIN_HOPPING && spec->size_ms / spec->slide_ms > 1000)
		return cmd_perr(err, errlen, "--hopping puts each event into more than 1000 "
				"windows; use a larger hop");
	if (spec->out_of_order_ms < 0 || spec->lateness_ms < 0)
		return cmd_perr(err, errlen, "--out-of-order and --allowed-lateness cannot be negative");
	if (spec->hll_precision < 4 || spec->hll_precision > 16)
		return cmd_perr(err, errlen, "the distinct-count precision must be 4..16");
	struct win_engine *e = calloc(1, sizeof *e);
	if (e == NULL)
		return -ENOMEM;
	e->spec = *spec;
	if (e->spec.kind == WIN_TUMBLING)
		e->spec.slide_ms = e->spec.size_ms;
	e->time_slot = win_fields_add(&e->fields, spec->time_field);
	for (size_t i = 0; i < spec->n_keys; i++)
		e->key_slot[i] = win_fields_add(&e->fields, spec->keys[i]);
	for (size_t i = 0; i < spec->n_aggs; i++)
		e->agg_slot[i] = spec->aggs[i].field ? win_fields_add(&e->fields, spec->aggs[i].field)
						     : -1;
	bool full = e->time_slot < 0;
	for (size_t i = 0; i < spec->n_keys; i++)
		full |= e->key_slot[i] < 0;
	for (size_t i = 0; i < spec->n_aggs; i++)
		full |= spec->aggs[i].field && e->agg_slot[i] < 0;
	if (full) {
		free(e);
		return cmd_perr(err, errlen, "more than %d distinct fields between --time-field, "
				"--key and --agg", WIN_MAX_FIELDS);
	}
	e->n_parts = n_parts;
	e->max_ts = malloc(n_parts * sizeof *e->max_ts);
	e->idle = calloc(n_parts, sizeof *e->idle);
	e->keys_cap = 1024;
	e->keys = calloc(e->keys_cap, sizeof *e->keys);
	e->entry_size = sizeof(struct win_entry) + spec->n_aggs * sizeof(struct win_acc);
	e->hll_bytes = (size_t)1 << spec->hll_precision;
	for (size_t i = 0; i < spec->n_aggs; i++) {
		char name[140];
		win_agg_name(&spec->aggs[i], name, sizeof name);
		snprintf(e->agg_label[i], sizeof e->agg_label[i], ",\"%s\":", name);
	}
	e->hll_sparse_max = (uint32_t)(e->hll_bytes / 16 > 4 ? e->hll_bytes / 16 : 4);
	e->purge.purge = true;
	if (e->max_ts == NULL || e->idle == NULL || e->keys == NULL) {
		win_engine_free(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_parts; i++)
		e->max_ts[i] = INT64_MIN;
	*out = e;
	return 0;
}

void win_engine_free(struct win_engine *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; e->keys && i < e->keys_cap; i++) {
		struct win_key *k = e->keys[i];
		if (k == NULL)
			continue;
		for (uint32_t j = 0; j < k->n; j++)
			win__entry_free(e, k->w[j]);
		free(k->w);
		free(k->text);
		free(k);
	}
	free(e->keys);
	free(e->fire.a);
	free(e->purge.a);
	free(e->queue);
	free(e->tombs);
	free(e->max_ts);
	free(e->idle);
	free(e);
}

void win_engine_set_idle(struct win_engine *e, size_t part, bool idle)
{
	if (part < e->n_parts)
		e->idle[part] = idle;
}

int64_t win_engine_part_watermark(const struct win_engine *e, size_t part)
{
	if (part >= e->n_parts || e->max_ts[part] == INT64_MIN)
		return INT64_MIN;
	return e->max_ts[part] - e->spec.out_of_order_ms;
}

static int64_t final_watermark(const struct win_engine *e)
{
	int64_t m = INT64_MAX;
	for (size_t i = 0; i < e->n_parts; i++) {
		int64_t w = win_engine_part_watermark(e, i);
		if (w < m)
			m = w;
	}
	return m;
}

/* The minimum over the partitions not idle; when every partition is idle
 * (the stream paused), the maximum over all: emission timing never changes
 * a value, so writing early only means a later re-emission if more comes. */
static int64_t fire_watermark(const struct win_engine *e)
{
	int64_t m = INT64_MAX, all_max = INT64_MIN;
	bool any = false;
	for (size_t i = 0; i < e->n_parts; i++) {
		int64_t w = win_engine_part_watermark(e, i);
		if (w > all_max)
			all_max = w;
		if (e->idle[i])
			continue;
		any = true;
		if (w < m)
			m = w;
	}
	return any ? m : all_max;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* w takes the event (its prepared values v): a late update when the
 * span's end (the window's, or the event's own for sessions) is at or
 * below the partition's watermark wm; a window already fired is queued to
 * be written again. */
static int window_take(struct win_engine *e, struct win_entry *w, const struct win_prep *v,
		       int64_t span_end, int64_t wm)
{
	w->count++;
	for (size_t i = 0; i < e->spec.n_aggs; i++) {
		if (e->agg_slot[i] < 0)
			continue;
		int rc = win__acc_add(e, i, &w->acc[i], &v[i]);
		if (rc < 0)
			return rc;
	}
	if (wm != INT64_MIN && span_end <= wm) {
		w->late++;
		e->st.late_updates++;
	}
	if ((w->flags & WIN_F_FIRED) && win__queue_add(e, w) < 0)
		return -ENOMEM;
	return 0;
}

static struct win_entry *window_new(struct win_engine *e, struct win_key *k, int64_t start,
				    int64_t end)
{
	struct win_entry *w = win__entry_new(e);
	if (w == NULL)
		return NULL;
	w->start = start;
	w->end = end;
	if (win__key_insert_window(e, k, w) < 0 || heap_push(e, &e->fire, w) < 0 ||
	    heap_push(e, &e->purge, w) < 0) {
		key_remove_window(k, w);
		heap_remove(e, &e->fire, w);
		heap_remove(e, &e->purge, w);
		win__entry_free(e, w);
		return NULL;
	}
	return w;
}

/* Drops w (merged into another): out of its key, the heaps and the queue. */
static void window_drop(struct win_engine *e, struct win_entry *w)
{
	key_remove_window(w->key, w);
	heap_remove(e, &e->fire, w);
	heap_remove(e, &e->purge, w);
	queue_drop(e, w);
	win__entry_free(e, w);
}

static int feed_fixed(struct win_engine *e, struct win_key **kp, const char *kt, size_t kl,
		      int64_t ts, int64_t wm, const struct win_prep *v)
{
	const struct win_spec *s = &e->spec;
	int64_t last = floor_div(ts, s->slide_ms) * s->slide_ms;
	bool accepted = false;
	for (int64_t st = last; st > ts - s->size_ms; st -= s->slide_ms) {
		int64_t end = st + s->size_ms;
		if (wm != INT64_MIN && end + s->lateness_ms <= wm)
			continue;
		if (*kp == NULL && (*kp = win__key_get(e, kt, kl, true)) == NULL)
			return -ENOMEM;
		struct win_key *k = *kp;
		struct win_entry *w = NULL;
		for (uint32_t i = k->n; i-- > 0;) {
			if (k->w[i]->start == st) {
				w = k->w[i];
				break;
			}
			if (k->w[i]->start < st)
				break;
		}
		if (w == NULL && (w = window_new(e, k, st, end)) == NULL)
			return -ENOMEM;
		int rc = window_take(e, w, v, end, wm);
		if (rc < 0)
			return rc;
		accepted = true;
	}
	return accepted ? WIN_ACCEPTED : WIN_TOO_LATE;
}

static int feed_session(struct win_engine *e, const char *kt, size_t kl, int64_t ts, int64_t wm,
			const struct win_prep *v)
{
	const struct win_spec *s = &e->spec;
	int64_t end = ts + s->gap_ms;
	if (wm != INT64_MIN && end + s->lateness_ms <= wm)
		return WIN_TOO_LATE;
	struct win_key *k = win__key_get(e, kt, kl, true);
	if (k == NULL)
		return -ENOMEM;
	/* Sessions of a key are disjoint and sorted: the ones [ts, end)
	 * overlaps are the run [lo, hi). */
	uint32_t hi = k->n, lo;
	while (hi > 0 && k->w[hi - 1]->start >= end)
		hi--;
	lo = hi;
	while (lo > 0 && k->w[lo - 1]->end > ts)
		lo--;
	struct win_entry *w;
	if (lo == hi) {
		if ((w = window_new(e, k, ts, end)) == NULL)
			return -ENOMEM;
	} else {
		w = k->w[lo];
		int64_t ns = w->start < ts ? w->start : ts;
		int64_t ne = k->w[hi - 1]->end > end ? k->w[hi - 1]->end : end;
		/* Absorb the others (from the back: indexes stay valid). */
		for (uint32_t i = hi - 1; i > lo; i--) {
			struct win_entry *o = k->w[i];
			for (size_t a = 0; a < s->n_aggs; a++)
				if (win__acc_merge(e, a, &w->acc[a], &o->acc[a]) < 0)
					return -ENOMEM;
			w->count += o->count;
			w->late += o->late;
			if ((o->flags & WIN_F_EMITTED) && win__tomb_add(e, k, o->em_start, o->em_end) < 0)
				return -ENOMEM;
			window_drop(e, o);
		}
		if (ns != w->start || ne != w->end) {
			w->start = ns;
			w->end = ne;
			/* A session that grew fires again at its new end. */
			if (w->flags & WIN_F_FIRED) {
				w->flags &= ~(uint32_t)WIN_F_FIRED;
				if (heap_push(e, &e->fire, w) < 0)
					return -ENOMEM;
			} else {
				heap_fix(e, &e->fire, w);
			}
			heap_fix(e, &e->purge, w);
		}
	}
	int rc = window_take(e, w, v, end, wm);
	return rc < 0 ? rc : WIN_ACCEPTED;
}

#define WIN_KEY_MAX 4096

int win_engine_feed(struct win_engine *e, size_t part, const char *json, size_t len)
{
	struct win_val v[WIN_MAX_FIELDS];
	int64_t ts;
	e->st.events++;
	if (part >= e->n_parts || win_json_scan(json, len, &e->fields, v) < 0 ||
	    win_time_parse(&v[e->time_slot], &ts) < 0) {
		e->st.bad++;
		return WIN_BAD;
	}
	/* The key's JSON text: one field's raw value, several as an array. */
	char kbuf[WIN_KEY_MAX];
	const char *kt;
	size_t kl;
	if (e->spec.n_keys == 1 && v[e->key_slot[0]].type != WIN_V_ABSENT) {
		kt = v[e->key_slot[0]].p;
		kl = v[e->key_slot[0]].len;
	} else if (e->spec.n_keys <= 1) {
		kt = "null";
		kl = 4;
	} else {
		kl = 0;
		kbuf[kl++] = '[';
		for (size_t i = 0; i < e->spec.n_keys; i++) {
			const struct win_val *x = &v[e->key_slot[i]];
			const char *p = x->type == WIN_V_ABSENT ? "null" : x->p;
			size_t n = x->type == WIN_V_ABSENT ? 4 : x->len;
			if (kl + n + 2 > sizeof kbuf) {
				e->st.bad++;
				return WIN_BAD;
			}
			if (i)
				kbuf[kl++] = ',';
			memcpy(kbuf + kl, p, n);
			kl += n;
		}
		kbuf[kl++] = ']';
		kt = kbuf;
	}
	if (kl > WIN_KEY_MAX) {
		e->st.bad++;
		return WIN_BAD;
	}
	int64_t wm = win_engine_part_watermark(e, part);
	struct win_prep prep[WIN_MAX_AGGS];
	for (size_t i = 0; i < e->spec.n_aggs; i++) {
		prep[i].ok = false;
		if (e->agg_slot[i] >= 0)
			win__acc_prep(e, i, &v[e->agg_slot[i]], &prep[i]);
	}
	int rc;
	if (e->spec.kind == WIN_SESSION) {
		rc = feed_session(e, kt, kl, ts, wm, prep);
	} else {
		struct win_key *k = NULL;
		rc = feed_fixed(e, &k, kt, kl, ts, wm, prep);
	}
	if (rc < 0)
		return rc;
	if (ts > e->max_ts[part])
		e->max_ts[part] = ts;
	if (rc == WIN_ACCEPTED)
		e->st.accepted++;
	else
		e->st.too_late++;
	return rc;
}

/* --------------------------------------------------------------- emit */

struct emit_item {
	const struct win_key *key;
	int64_t start, end;
	struct win_entry *w;          /* NULL: a tombstone */
};

static int item_cmp(const void *pa, const void *pb)
{
	const struct emit_item *a = pa, *b = pb;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	if (a->key != b->key) {
		size_t n = a->key->len < b->key->len ? a->key->len : b->key->len;
		int c = memcmp(a->key->text, b->key->text, n);
		if (c)
			return c;
		if (a->key->len != b->key->len)
			return a->key->len < b->key->len ? -1 : 1;
	}
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if ((a->w == NULL) != (b->w == NULL))
		return a->w == NULL ? -1 : 1;
	return 0;
}

int win_engine_emit(struct win_engine *e, bool flush_all, win_emit_fn *fn, void *arg)
{
	int64_t fire = fire_watermark(e), fin = final_watermark(e);
	int rc = 0;

	while (e->fire.n && e->fire.a[0]->end <= fire) {
		struct win_entry *w = e->fire.a[0];
		heap_remove(e, &e->fire, w);
		w->flags |= WIN_F_FIRED;
		if (win__queue_add(e, w) < 0)
			return -ENOMEM;
	}
	while (e->purge.n && win__purge_time(e, e->purge.a[0]) <= fin) {
		struct win_entry *w = e->purge.a[0];
		heap_remove(e, &e->purge, w);
		heap_remove(e, &e->fire, w);
		w->flags |= WIN_F_FINAL | WIN_F_FIRED;
		if (win__queue_add(e, w) < 0)
			return -ENOMEM;
	}
	if (flush_all) {
		for (size_t i = 0; i < e->keys_cap; i++) {
			struct win_key *k = e->keys[i];
			for (uint32_t j = 0; k && j < k->n; j++)
				if (win__queue_add(e, k->w[j]) < 0)
					return -ENOMEM;
		}
	}
	size_t cap = 2 * e->n_queue + e->n_tombs, n = 0;
	struct emit_item *items = cap ? malloc(cap * sizeof *items) : NULL;
	if (cap && items == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < e->n_queue; i++) {
		struct win_entry *w = e->queue[i];
		w->flags &= ~(uint32_t)WIN_F_QUEUED;
		if (!(w->flags & (WIN_F_FIRED | WIN_F_FINAL)) && !flush_all)
			continue;
		if ((w->flags & WIN_F_EMITTED) && (w->em_start != w->start || w->em_end != w->end))
			items[n++] = (struct emit_item){ w->key, w->em_start, w->em_end, NULL };
		items[n++] = (struct emit_item){ w->key, w->start, w->end, w };
	}
	for (size_t i = 0; i < e->n_tombs; i++)
		items[n++] = (struct emit_item){ e->tombs[i].key, e->tombs[i].start, e->tombs[i].end,
						 NULL };
	e->n_queue = 0;
	e->n_tombs = 0;
	if (n > 1)
		qsort(items, n, sizeof *items, item_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct emit_item *it = &items[i];
		struct win_result r = {
			.key = it->key->text, .key_len = it->key->len, .start = it->start,
			.end = it->end, .tombstone = it->w == NULL,
		};
		if (it->w) {
			r.final = (it->w->flags & WIN_F_FINAL) != 0;
			r.emits = 1 + it->w->late;
			r.count = it->w->count;
			r.entry = it->w;
		}
		rc = fn(arg, &r);
		if (rc < 0)
			break;
		if (it->w) {
			it->w->flags |= WIN_F_EMITTED;
			it->w->em_start = it->start;
			it->w->em_end = it->end;
			e->st.emitted++;
			e->st.finals += r.final;
		} else {
			e->st.tombstones++;
		}
	}
	/* Finalized windows go now (also after a failed fn: the caller stops
	 * and restarts from its checkpoint anyway); then the keys left without
	 * windows -- also ones that only carried tombstones -- leave the
	 * table, each once. At most n keys; without the memory to list them
	 * they just stay. */
	struct win_key **doomed = n ? malloc(n * sizeof *doomed) : NULL;
	size_t n_doomed = 0;
	for (size_t i = 0; i < n; i++) {
		struct win_entry *w = items[i].w;
		struct win_key *k = (struct win_key *)items[i].key;
		if (w && !(w->flags & WIN_F_FINAL))
			continue;             /* still open: its key stays */
		if (w) {
			key_remove_window(k, w);
			win__entry_free(e, w);
		}
		if (k->n == 0 && !k->doomed && doomed) {
			k->doomed = true;
			doomed[n_doomed++] = k;
		}
	}
	for (size_t i = 0; i < n_doomed; i++)
		key_delete(e, doomed[i]);
	free(doomed);
	free(items);
	return rc;
}

int win_engine_reconcile(struct win_engine *e, const char *key, size_t key_len, int64_t start,
			 int64_t end)
{
	struct win_key *k = win__key_get(e, key, key_len, true);
	if (k == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < k->n; i++) {
		struct win_entry *w = k->w[i];
		if (w->start != start || w->end != end || !(w->flags & WIN_F_FIRED))
			continue;
		/* Fired: write it again at the next emit; from now on the
		 * engine knows this identity is in the output. */
		if (!(w->flags & WIN_F_EMITTED)) {
			w->flags |= WIN_F_EMITTED;
			w->em_start = start;
			w->em_end = end;
		}
		return win__queue_add(e, w);
	}
	/* Not a fired window of ours: delete it; whatever replaces it is
	 * written when it fires. */
	return win__tomb_add(e, k, start, end);
}

void win_engine_stats(const struct win_engine *e, struct win_stats *out)
{
	*out = e->st;
	out->open_windows = e->n_windows;
	out->keys = e->n_keys;
	out->watermark = fire_watermark(e);
	out->final_watermark = final_watermark(e);
}

void win__heaps_rebuild(struct win_engine *e)
{
	heap_rebuild(e, &e->fire);
	heap_rebuild(e, &e->purge);
}
