/*
 * win_int.h -- what the files of `rewind windows`' engine share
 * (win_engine.c, win_agg.c, win_codec.c); nothing outside them includes it.
 *
 * State: a table of keys (open addressing on XXH3 of the key's JSON text),
 * each key holding its open windows sorted by start; two binary heaps over
 * all windows, one by end (windows not fired yet) and one by the time after
 * which no event can reach them (their purge time). Every window lives in
 * exactly one key's array and in the purge heap; heap positions are kept
 * in the window so a session that grows moves in place.
 */
#ifndef REWIND_TOOLS_WIN_INT_H
#define REWIND_TOOLS_WIN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tools/tools.h"

#define WIN_HASH_SEED UINT64_C(0x7265776e64)   /* "rewnd": fixed, never random */

/* One aggregate's running state. */
struct win_acc {
	win_fixed sum, min, max;
	int64_t n;                    /* values seen (numbers, or distinct items) */
	uint8_t *hll;                 /* distinct, dense: 1 << precision
	                                 registers, owned; NULL while sparse */
	uint32_t *sparse;             /* distinct, sparse: (index << 6 | rank)
	                                 of the non-zero registers, owned, in
	                                 arrival order; NULL when none or dense */
	uint32_t n_sparse, cap_sparse;
};

/* One event's value for one aggregate, worked out once however many
 * windows take the event. */
struct win_prep {
	bool ok;                      /* a usable value */
	win_fixed x;                  /* numeric aggregates */
	uint32_t idx;                 /* distinct: register and rank */
	uint8_t rank;
};

enum {
	WIN_F_FIRED = 1u << 0,        /* the firing watermark passed its end */
	WIN_F_EMITTED = 1u << 1,      /* (em_start, em_end) is in the output */
	WIN_F_QUEUED = 1u << 2,       /* in e->queue for the next emit */
	WIN_F_FINAL = 1u << 3,        /* finalized: emit final, then drop */
};

struct win_key;

struct win_entry {
	struct win_key *key;          /* the key that owns this window */
	int64_t start, end;
	int64_t count;
	uint32_t late;                /* late updates accepted */
	uint32_t flags;
	int64_t em_start, em_end;     /* identity last written to the output */
	size_t fire_idx, purge_idx;   /* heap positions; SIZE_MAX = not there */
	struct win_acc acc[];         /* spec.n_aggs */
};

struct win_key {
	uint64_t hash;
	char *text;                   /* owned key JSON, len bytes (+ NUL) */
	uint32_t len;
	uint32_t n, cap;
	struct win_entry **w;         /* owned array of open windows by start */
	bool doomed;                  /* listed for deletion by win_engine_emit */
};

/* A tombstone due: an identity a session left. */
struct win_tomb {
	struct win_key *key;
	int64_t start, end;
};

struct win_heap {
	struct win_entry **a;
	size_t n, cap;
	bool purge;                   /* ordered by purge time, else by end */
};

struct win_engine {
	struct win_spec spec;
	struct win_fields fields;     /* time, keys, aggregate fields */
	int time_slot;
	int key_slot[WIN_MAX_KEYS];
	int agg_slot[WIN_MAX_AGGS];
	size_t n_parts;
	int64_t *max_ts;              /* per partition: max event time seen */
	bool *idle;
	struct win_key **keys;        /* open-addressing table, cap slots */
	size_t keys_cap, n_keys, n_windows;
	struct win_heap fire, purge;
	struct win_entry **queue;     /* windows to emit */
	size_t n_queue, cap_queue;
	struct win_tomb *tombs;
	size_t n_tombs, cap_tombs;
	size_t entry_size;
	size_t hll_bytes;
	uint32_t hll_sparse_max;      /* sparse entries before going dense */
	char agg_label[WIN_MAX_AGGS][160]; /* ,"sum_position_ms": */
	struct win_stats st;
};

/* win_json.c: v in decimal into buf (>= 21 bytes); the length. */
size_t win__fmt_i64(int64_t v, char *buf);

/* win_agg.c */
void win__acc_init(const struct win_engine *e, struct win_acc *a);
void win__acc_free(struct win_acc *a);
/* Works out field value v (found by the scanner) for aggregate i. */
void win__acc_prep(const struct win_engine *e, size_t i, const struct win_val *v,
		   struct win_prep *p);
/* Adds a prepared value to aggregate i. -ENOMEM or 0. */
int win__acc_add(const struct win_engine *e, size_t i, struct win_acc *a, const struct win_prep *p);
/* Raises register idx of a to rank (sparse while few, then dense). */
int win__hll_set(const struct win_engine *e, struct win_acc *a, uint32_t idx, uint8_t rank);
/* dst += src (sessions merging). -ENOMEM or 0. */
int win__acc_merge(const struct win_engine *e, size_t i, struct win_acc *dst,
		   const struct win_acc *src);
/* The HyperLogLog estimate of a's registers (0 when none). */
uint64_t win__hll_estimate(const struct win_engine *e, const struct win_acc *a);
/* Appends ,"name":value for aggregate i to out. */
void win__acc_json(const struct win_engine *e, size_t i, const struct win_acc *a,
		   int64_t count, struct kp_buf *out);

/* win_engine.c, for the checkpoint loader */
struct win_entry *win__entry_new(struct win_engine *e);
void win__entry_free(struct win_engine *e, struct win_entry *w);
struct win_key *win__key_get(struct win_engine *e, const char *text, size_t len, bool create);
int win__key_insert_window(struct win_engine *e, struct win_key *k, struct win_entry *w);
int win__heap_push(struct win_heap *h, struct win_entry *w);
/* Queues w for the next emit (once). -ENOMEM or 0. */
int win__queue_add(struct win_engine *e, struct win_entry *w);
/* Remembers that (k, start, end) must be deleted from the output. */
int win__tomb_add(struct win_engine *e, struct win_key *k, int64_t start, int64_t end);
/* Restores heap order once the loader has pushed every window. */
void win__heaps_rebuild(struct win_engine *e);
int64_t win__purge_time(const struct win_engine *e, const struct win_entry *w);

#endif /* REWIND_TOOLS_WIN_INT_H */
