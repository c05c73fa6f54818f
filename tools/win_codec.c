/*
 * win_codec.c -- the bytes `rewind windows` writes: output records and the
 * engine's checkpoint.
 *
 * Output record (JSON, so kcat and any consumer can read it):
 *   key    {"key":K,"start":S,"end":E}
 *   value  {"key":K,"start":S,"end":E,"window":"ISO/ISO",<aggregates>,
 *           "emits":N,"final":true|false}
 * K is the key's JSON text as the events spell it (an array for several
 * --key fields), S and E the window's bounds in ms. The key holds the whole
 * window identity, so in a compacted topic a re-emission replaces the
 * previous value (an idempotent upsert) and a tombstone (null value)
 * deletes a session identity that grew or merged away.
 *
 * Engine state (big-endian, through kp_buf / kp_reader; the caller wraps
 * it with its own header, positions and a CRC32C):
 *   u32 magic "RWWE", i32 version 1, i64 spec fingerprint, i32 n_parts,
 *   i64 max_ts[n_parts], i64 stats[8],
 *   i64 n_windows, then per window:
 *     i32 key_len, key bytes, i64 start, i64 end, i64 count, i32 late,
 *     i32 flags (FIRED 1, EMITTED 2, QUEUED 4), i64 em_start, i64 em_end,
 *     per aggregate: sum, min, max as two i64 (high, low), i64 n,
 *                    i8 registers: 0 none, 1 sparse (i32 n, n x i32
 *                    index << 6 | rank), 2 dense (2^p bytes)
 *   i64 n_tombs, then per tomb: i32 key_len, key bytes, i64 start, i64 end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "tools/win_int.h"

#define WIN_STATE_MAGIC 0x52575745u   /* "RWWE" */
#define WIN_STATE_VERSION 1
#define WIN_KEY_MAX 4096

static void put_str(struct kp_buf *out, const char *s)
{
	kp_buf_put(out, s, strlen(s));
}

static void put_i64(struct kp_buf *out, int64_t v)
{
	char num[24];
	kp_buf_put(out, num, win__fmt_i64(v, num));
}

static void put_ident(const struct win_result *r, struct kp_buf *out)
{
	put_str(out, "{\"key\":");
	kp_buf_put(out, r->key, r->key_len);
	put_str(out, ",\"start\":");
	put_i64(out, r->start);
	put_str(out, ",\"end\":");
	put_i64(out, r->end);
}

int win_result_key(const struct win_result *r, struct kp_buf *out)
{
	put_ident(r, out);
	put_str(out, "}");
	return out->err;
}

int win_result_value(const struct win_engine *e, const struct win_result *r, struct kp_buf *out)
{
	const struct win_entry *w = r->entry;
	char t[40];
	put_ident(r, out);
	put_str(out, ",\"window\":\"");
	win_time_format(r->start, t, sizeof t);
	put_str(out, t);
	put_str(out, "/");
	win_time_format(r->end, t, sizeof t);
	put_str(out, t);
	put_str(out, "\"");
	for (size_t i = 0; i < e->spec.n_aggs; i++)
		win__acc_json(e, i, w ? &w->acc[i] : NULL, r->count, out);
	put_str(out, ",\"emits\":");
	put_i64(out, r->emits);
	put_str(out, r->final ? ",\"final\":true}" : ",\"final\":false}");
	return out->err;
}

static void put_fixed(struct kp_buf *out, win_fixed v)
{
	unsigned __int128 u = (unsigned __int128)v;
	kp_buf_put_i64(out, (int64_t)(uint64_t)(u >> 64));
	kp_buf_put_i64(out, (int64_t)(uint64_t)u);
}

static win_fixed read_fixed(kp_reader *r)
{
	uint64_t hi = (uint64_t)kp_read_i64(r), lo = (uint64_t)kp_read_i64(r);
	return (win_fixed)(((unsigned __int128)hi << 64) | lo);
}

static void put_key(struct kp_buf *out, const struct win_key *k)
{
	kp_buf_put_i32(out, (int32_t)k->len);
	kp_buf_put(out, k->text, k->len);
}

int win_engine_save(const struct win_engine *e, struct kp_buf *out)
{
	kp_buf_put_i32(out, (int32_t)WIN_STATE_MAGIC);
	kp_buf_put_i32(out, WIN_STATE_VERSION);
	kp_buf_put_i64(out, (int64_t)win_spec_fingerprint(&e->spec));
	kp_buf_put_i32(out, (int32_t)e->n_parts);
	for (size_t i = 0; i < e->n_parts; i++)
		kp_buf_put_i64(out, e->max_ts[i]);
	const uint64_t st[8] = { e->st.events, e->st.accepted, e->st.too_late, e->st.bad,
				 e->st.late_updates, e->st.emitted, e->st.finals, e->st.tombstones };
	for (int i = 0; i < 8; i++)
		kp_buf_put_i64(out, (int64_t)st[i]);
	kp_buf_put_i64(out, (int64_t)e->n_windows);
	for (size_t i = 0; i < e->keys_cap; i++) {
		const struct win_key *k = e->keys[i];
		for (uint32_t j = 0; k && j < k->n; j++) {
			const struct win_entry *w = k->w[j];
			put_key(out, k);
			kp_buf_put_i64(out, w->start);
			kp_buf_put_i64(out, w->end);
			kp_buf_put_i64(out, w->count);
			kp_buf_put_i32(out, (int32_t)w->late);
			kp_buf_put_i32(out, (int32_t)(w->flags & (WIN_F_FIRED | WIN_F_EMITTED | WIN_F_QUEUED)));
			kp_buf_put_i64(out, w->em_start);
			kp_buf_put_i64(out, w->em_end);
			for (size_t a = 0; a < e->spec.n_aggs; a++) {
				const struct win_acc *acc = &w->acc[a];
				put_fixed(out, acc->sum);
				put_fixed(out, acc->min);
				put_fixed(out, acc->max);
				kp_buf_put_i64(out, acc->n);
				kp_buf_put_i8(out, acc->hll ? 2 : acc->n_sparse ? 1 : 0);
				if (acc->hll) {
					kp_buf_put(out, acc->hll, e->hll_bytes);
				} else if (acc->n_sparse) {
					kp_buf_put_i32(out, (int32_t)acc->n_sparse);
					for (uint32_t q = 0; q < acc->n_sparse; q++)
						kp_buf_put_i32(out, (int32_t)acc->sparse[q]);
				}
			}
		}
	}
	kp_buf_put_i64(out, (int64_t)e->n_tombs);
	for (size_t i = 0; i < e->n_tombs; i++) {
		put_key(out, e->tombs[i].key);
		kp_buf_put_i64(out, e->tombs[i].start);
		kp_buf_put_i64(out, e->tombs[i].end);
	}
	return out->err;
}

static struct win_key *read_key(struct win_engine *e, kp_reader *r)
{
	int32_t len = kp_read_i32(r);
	if (!kp_reader_ok(r) || len <= 0 || len > WIN_KEY_MAX)
		return NULL;
	const uint8_t *p = kp_read_bytes(r, (size_t)len);
	if (p == NULL)
		return NULL;
	return win__key_get(e, (const char *)p, (size_t)len, true);
}

int win_engine_load(struct win_engine *e, const uint8_t *p, size_t len, char *err, size_t errlen)
{
	kp_reader r = kp_reader_make(p, len);
	if (e->n_windows || e->n_keys || e->st.events)
		return cmd_perr(err, errlen, "the engine is not fresh");
	if ((uint32_t)kp_read_i32(&r) != WIN_STATE_MAGIC || kp_read_i32(&r) != WIN_STATE_VERSION)
		return cmd_perr(err, errlen, "not a windows state (bad magic or version)");
	if ((uint64_t)kp_read_i64(&r) != win_spec_fingerprint(&e->spec))
		return cmd_perr(err, errlen, "it was written by a job with other options (window, "
				"key, aggregates, time field, out-of-order or lateness)");
	int32_t np = kp_read_i32(&r);
	if (!kp_reader_ok(&r) || np != (int32_t)e->n_parts)
		return cmd_perr(err, errlen, "it covers %d input partitions, the inputs have %zu now",
				(int)np, e->n_parts);
	for (size_t i = 0; i < e->n_parts; i++)
		e->max_ts[i] = kp_read_i64(&r);
	uint64_t st[8];
	for (int i = 0; i < 8; i++)
		st[i] = (uint64_t)kp_read_i64(&r);
	e->st.events = st[0];
	e->st.accepted = st[1];
	e->st.too_late = st[2];
	e->st.bad = st[3];
	e->st.late_updates = st[4];
	e->st.emitted = st[5];
	e->st.finals = st[6];
	e->st.tombstones = st[7];
	int64_t nw = kp_read_i64(&r);
	if (!kp_reader_ok(&r) || nw < 0 || (uint64_t)nw > len)
		return cmd_perr(err, errlen, "truncated or corrupt (window count)");
	for (int64_t i = 0; i < nw; i++) {
		struct win_key *k = read_key(e, &r);
		if (k == NULL)
			return cmd_perr(err, errlen, "truncated or corrupt (window %lld key)", (long long)i);
		struct win_entry *w = win__entry_new(e);
		if (w == NULL)
			return -ENOMEM;
		w->start = kp_read_i64(&r);
		w->end = kp_read_i64(&r);
		w->count = kp_read_i64(&r);
		w->late = (uint32_t)kp_read_i32(&r);
		uint32_t flags = (uint32_t)kp_read_i32(&r);
		w->em_start = kp_read_i64(&r);
		w->em_end = kp_read_i64(&r);
		bool bad = false;
		for (size_t a = 0; a < e->spec.n_aggs && !bad; a++) {
			struct win_acc *acc = &w->acc[a];
			acc->sum = read_fixed(&r);
			acc->min = read_fixed(&r);
			acc->max = read_fixed(&r);
			acc->n = kp_read_i64(&r);
			int8_t mode = kp_read_i8(&r);
			if (mode != 0 && e->spec.aggs[a].kind != WIN_AGG_DISTINCT) {
				bad = true;
			} else if (mode == 2) {
				const uint8_t *reg = kp_read_bytes(&r, e->hll_bytes);
				if (reg == NULL || (acc->hll = malloc(e->hll_bytes)) == NULL)
					bad = true;
				else
					memcpy(acc->hll, reg, e->hll_bytes);
			} else if (mode == 1) {
				int32_t ns = kp_read_i32(&r);
				if (!kp_reader_ok(&r) || ns <= 0 || (uint32_t)ns > e->hll_sparse_max)
					bad = true;
				for (int32_t q = 0; !bad && q < ns; q++) {
					uint32_t v = (uint32_t)kp_read_i32(&r);
					if (!kp_reader_ok(&r) || (v >> 6) >= e->hll_bytes || (v & 63) == 0 ||
					    win__hll_set(e, acc, v >> 6, (uint8_t)(v & 63)) < 0)
						bad = true;
				}
			} else if (mode != 0) {
				bad = true;
			}
		}
		if (bad || !kp_reader_ok(&r) || w->start >= w->end ||
		    (flags & ~(uint32_t)(WIN_F_FIRED | WIN_F_EMITTED | WIN_F_QUEUED)) ||
		    win__key_insert_window(e, k, w) < 0) {
			win__entry_free(e, w);
			return cmd_perr(err, errlen, "truncated or corrupt (window %lld)", (long long)i);
		}
		w->flags = flags & ~(uint32_t)WIN_F_QUEUED;
		if (win__heap_push(&e->purge, w) < 0 ||
		    (!(flags & WIN_F_FIRED) && win__heap_push(&e->fire, w) < 0))
			return -ENOMEM;
		if ((flags & WIN_F_QUEUED) && win__queue_add(e, w) < 0)
			return -ENOMEM;
	}
	int64_t nt = kp_read_i64(&r);
	if (!kp_reader_ok(&r) || nt < 0 || (uint64_t)nt > len)
		return cmd_perr(err, errlen, "truncated or corrupt (tombstones)");
	for (int64_t i = 0; i < nt; i++) {
		struct win_key *k = read_key(e, &r);
		int64_t s = kp_read_i64(&r), en = kp_read_i64(&r);
		if (k == NULL || !kp_reader_ok(&r))
			return cmd_perr(err, errlen, "truncated or corrupt (tombstone %lld)", (long long)i);
		if (win__tomb_add(e, k, s, en) < 0)
			return -ENOMEM;
	}
	if (kp_reader_left(&r) != 0)
		return cmd_perr(err, errlen, "corrupt (%zu bytes after the state)", kp_reader_left(&r));
	win__heaps_rebuild(e);
	return 0;
}
