/*
 * test_cleaner.c -- log compaction: the key -> offset map (bytes per key,
 * collisions), one pass over a log (latest value per key, offsets kept with
 * gaps, tombstones and their delete horizon, producers' last batches, every
 * codec, headers), the crash-safe swap (an uncommitted pass rolls back, a
 * committed one rolls forward) and the cleaner threads with their
 * checkpoint file.
 *
 * Seals run on the writer thread after a roll; st__store_barrier() waits
 * for them before a pass, which only cleans sealed segments.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "st_test.h"
#include "storage/st_int.h"
#include "test_cleaner_util.h"

#define NOW 1700000000000LL
#define DAY (24LL * 3600 * 1000)

/* ----------------------------------------------------------------- map */

START_TEST(map_costs_at_most_16_bytes_per_key_when_full)
{
	st__omap m;
	char key[32];

	ck_assert_int_eq(st__omap_init(&m, 1 << 20), 0);
	st__omap_reset(&m, 1000);
	size_t n = 0;
	while (st__omap_room(&m, 1)) {
		int kl = snprintf(key, sizeof(key), "key-%zu", n);
		st__omap_put(&m, key, (size_t)kl, 1000 + (int64_t)n);
		n++;
	}
	ck_assert_uint_eq(n, m.n);
	double per_key = (double)st__omap_bytes(&m) / (double)n;
	ck_assert_msg(per_key <= 16.0, "%.2f bytes per key", per_key);
	ck_assert_uint_le(st__omap_bytes(&m), 1 << 20);
	for (size_t i = 0; i < n; i += 97) {
		int64_t latest = -1;
		int kl = snprintf(key, sizeof(key), "key-%zu", i);
		ck_assert_int_eq(st__omap_get(&m, key, (size_t)kl, &latest), 1);
		ck_assert_int_eq(latest, 1000 + (int64_t)i);
	}
	ck_assert_int_eq(st__omap_get(&m, "absent", 6, &(int64_t){ 0 }), 0);
	st__omap_free(&m);
}
END_TEST

START_TEST(map_holds_the_latest_offset_of_a_key)
{
	st__omap m;
	int64_t latest = -1;

	ck_assert_int_eq(st__omap_init(&m, 4096), 0);
	st__omap_reset(&m, 10);
	st__omap_put(&m, "a", 1, 10);
	st__omap_put(&m, "b", 1, 11);
	st__omap_put(&m, "a", 1, 15);
	ck_assert_int_eq(st__omap_get(&m, "a", 1, &latest), 1);
	ck_assert_int_eq(latest, 15);
	ck_assert_int_eq(st__omap_get(&m, "b", 1, &latest), 1);
	ck_assert_int_eq(latest, 11);
	ck_assert_uint_eq(m.n, 2);
	/* A put tells the key's previous offset (what the pass's superseded
	 * bits note), -1 for a key new to the map. */
	st__omap_hash h;
	st__omap_hash_key(&m, "a", 1, &h);
	ck_assert_int_eq(st__omap_put_hashed(&m, &h, 20), 15);
	st__omap_hash_key(&m, "c", 1, &h);
	ck_assert_int_eq(st__omap_put_hashed(&m, &h, 21), -1);
	ck_assert_int_eq(st__omap_put_hashed(&m, &h, 22), 21);
	st__omap_free(&m);
}
END_TEST

/* A second key whose tag equals a mapped key's but whose check differs
 * (made here by flipping the stored check bits) is a proven collision:
 * from then on nothing of that tag may be dropped. */
START_TEST(map_collision_keeps_every_record_of_the_tag)
{
	st__omap m;
	int64_t latest = -1;

	ck_assert_int_eq(st__omap_init(&m, 4096), 0);
	st__omap_reset(&m, 0);
	st__omap_put(&m, "key", 3, 5);
	size_t slot = m.cap;
	for (size_t i = 0; i < m.cap; i++)
		if (m.slots[i].fp_lo || m.slots[i].fp_hi)
			slot = i;
	ck_assert_uint_lt(slot, m.cap);
	m.slots[slot].fp_lo ^= 1;  /* as if another key had the same tag */
	ck_assert_int_eq(st__omap_get(&m, "key", 3, &latest), 2);
	st__omap_put(&m, "key", 3, 9);
	ck_assert_int_eq(m.slots[slot].rel, ST__OMAP_COLLIDED);
	ck_assert_int_eq(m.collisions, 1);
	m.slots[slot].fp_lo ^= 1;  /* even with the right check now */
	ck_assert_int_eq(st__omap_get(&m, "key", 3, &latest), 2);
	st__omap_free(&m);
}
END_TEST

/* ---------------------------------------------------------------- passes */

static void compact_config(st_log_config *c)
{
	st_log_config_default(c);
	c->segment_bytes = 4096;
	c->index_interval_bytes = 256;
	c->compact = true;
	c->min_cleanable_dirty_ratio = 0.01;
	c->delete_retention_ms = DAY;
}

/* Writes `versions` versions of keys [0, nkeys), `per` records a batch,
 * in rounds (every key once a round). */
static void write_versions(st_log *log, int nkeys, int v0, int versions, int per,
			   const ctu_batch_opts *o)
{
	ctu_rec r[64];
	int n = 0;

	ck_assert_int_le(per, 64);
	for (int v = v0; v < v0 + versions; v++) {
		for (int k = 0; k < nkeys; k++) {
			r[n++] = (ctu_rec){ k, v };
			if (n == per) {
				ck_assert_int_eq(ctu_append(log, r, n, o, NOW, NULL), 0);
				n = 0;
			}
		}
	}
	if (n)
		ck_assert_int_eq(ctu_append(log, r, n, o, NOW, NULL), 0);
}

/* Opens at NOW: segment.ms counts from the open. */
static void fx_open(tst_fixture *f, const char *tag, const st_log_config *cfg)
{
	char *dir = tst_tmpdir(tag);
	tst_fx_open_at(f, dir, cfg, NOW);
	free(dir);
}

static void roll_and_seal(tst_fixture *f)
{
	ck_assert_int_eq(st_log_roll(f->log, NOW), 0);
	st__store_barrier(f->store);
}

static void clean(tst_fixture *f, int64_t now, st_clean_result *res)
{
	st_clean_options o = { .map_bytes = 1 << 20 };
	ck_assert_int_eq(st_log_clean(f->log, &o, now, res), 0);
}

static void check_latest(st_log *log, int nkeys, int want, bool no_dups)
{
	ctu_seen s;
	ck_assert_int_eq(ctu_read_all(log, nkeys, &s), 0);
	ck_assert(s.ordered);
	ck_assert(s.headers_ok);
	for (int k = 0; k < nkeys; k++)
		ck_assert_msg(s.latest[k] == want, "key-%d: version %d, want %d", k, s.latest[k], want);
	if (no_dups)
		ck_assert_int_eq(s.duplicates, 0);
	ctu_seen_free(&s);
}

START_TEST(pass_keeps_the_latest_value_of_every_key_with_offsets_and_gaps)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;
	st_log_stats before, after;

	compact_config(&cfg);
	fx_open(&f, "clean-latest", &cfg);
	ctu_opts_default(&o);
	o.headers = true;
	write_versions(f.log, 50, 0, 20, 5, &o);
	ctu_rec even[25];
	for (int k = 0; k < 25; k++)
		even[k] = (ctu_rec){ 2 * k, 20 };   /* odd keys stay at 19: gaps */
	ck_assert_int_eq(ctu_append(f.log, even, 25, &o, NOW, NULL), 0);
	roll_and_seal(&f);
	st_log_get_stats(f.log, &before);

	st_log_clean_info info;
	ck_assert_int_eq(st_log_clean_info_get(f.log, NOW, &info), 0);
	ck_assert(info.due);
	ck_assert(info.dirty_ratio > 0.99);

	clean(&f, NOW, &res);
	ck_assert(res.cleaned);
	ck_assert_int_eq(res.records_read, 1025);
	ck_assert_int_eq(res.records_removed, 975);
	ck_assert_int_eq(res.map_keys, 50);
	ck_assert_int_lt(res.segments_after, res.segments_before);
	st_log_get_stats(f.log, &after);
	ck_assert_int_lt(after.size_bytes, before.size_bytes / 5);
	ck_assert_int_eq(after.end_offset, before.end_offset);
	ck_assert_int_eq(after.start_offset, 0);

	ctu_seen s;
	ck_assert_int_eq(ctu_read_all(f.log, 50, &s), 0);
	ck_assert(s.ordered);
	ck_assert(s.headers_ok);
	ck_assert_int_eq(s.records, 50);
	ck_assert_int_eq(s.duplicates, 0);
	ck_assert_int_gt(s.gaps, 0);
	for (int k = 0; k < 50; k++) {
		ck_assert_int_eq(s.latest[k], k % 2 ? 19 : 20);
		/* offsets kept */
		ck_assert_int_eq(s.latest_offset[k], k % 2 ? 19 * 50 + k : 1000 + k / 2);
	}
	ctu_seen_free(&s);

	/* A read at an offset cleaned away returns the next batch. */
	st_slice sl;
	ck_assert_int_eq(st_log_read(f.log, 3, 1 << 20, -1, &sl), 0);
	ck_assert_int_gt(sl.len, 0);
	ck_assert_int_ge(sl.first_offset, 950);
	st_slice_release(&sl);

	ck_assert_int_eq(st_log_clean_info_get(f.log, NOW, &info), 0);
	ck_assert(!info.due);
	ck_assert(info.dirty_ratio == 0);

	/* The same after a clean and after an unclean reopen. */
	tst_fx_reopen(&f);
	ck_assert_int_eq(ctu_read_all(f.log, 50, &s), 0);
	ck_assert_int_eq(s.records, 50);
	ck_assert_int_eq(s.duplicates, 0);
	ctu_seen_free(&s);
	st_log_close_discard(f.log);   /* no clean-shutdown marker: recovery */
	ck_assert_int_eq(st_log_open(f.store, f.dir, &f.cfg, NOW, &f.log), 0);
	ck_assert_int_eq(ctu_read_all(f.log, 50, &s), 0);
	ck_assert_int_eq(s.records, 50);
	ck_assert_int_eq(s.latest[1], 19);
	ck_assert_int_eq(s.latest[2], 20);
	ctu_seen_free(&s);
	tst_fx_close(&f);
}
END_TEST

START_TEST(pass_never_touches_the_active_segment)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;

	compact_config(&cfg);
	cfg.segment_bytes = 1 << 20;
	fx_open(&f, "clean-active", &cfg);
	ctu_opts_default(&o);
	write_versions(f.log, 10, 0, 10, 5, &o);
	clean(&f, NOW, &res);
	ck_assert(!res.cleaned);
	ctu_seen s;
	ck_assert_int_eq(ctu_read_all(f.log, 10, &s), 0);
	ck_assert_int_eq(s.records, 100);
	ctu_seen_free(&s);
	tst_fx_close(&f);
}
END_TEST

START_TEST(tombstones_stay_until_their_delete_horizon_then_go)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;
	ctu_seen s;
	ctu_rec r[10];

	compact_config(&cfg);
	fx_open(&f, "clean-tomb", &cfg);
	ctu_opts_default(&o);
	write_versions(f.log, 20, 0, 5, 4, &o);
	for (int k = 0; k < 10; k++)
		r[k] = (ctu_rec){ k, -1 };  /* delete keys 0..9 */
	ck_assert_int_eq(ctu_append(f.log, r, 10, &o, NOW, NULL), 0);
	roll_and_seal(&f);

	/* The first pass keeps them and stamps the horizon NOW + 1 day. */
	clean(&f, NOW, &res);
	ck_assert(res.cleaned);
	ck_assert_int_eq(res.tombstones_removed, 0);
	ck_assert_int_eq(ctu_read_all(f.log, 20, &s), 0);
	for (int k = 0; k < 20; k++)
		ck_assert_int_eq(s.latest[k], k < 10 ? -1 : 4);
	ck_assert_int_eq(s.records, 20);
	ctu_seen_free(&s);

	/* New versions of keys 10..19 make the log dirty; a pass just before
	 * the horizon keeps the tombstones. */
	for (int k = 0; k < 10; k++)
		r[k] = (ctu_rec){ k + 10, 10 };
	ck_assert_int_eq(ctu_append(f.log, r, 10, &o, NOW, NULL), 0);
	roll_and_seal(&f);
	clean(&f, NOW + DAY - 1, &res);
	ck_assert(res.cleaned);
	ck_assert_int_eq(res.tombstones_removed, 0);
	ck_assert_int_eq(ctu_read_all(f.log, 20, &s), 0);
	for (int k = 0; k < 10; k++)
		ck_assert_int_eq(s.latest[k], -1);
	ctu_seen_free(&s);

	/* After the horizon they go; the horizon came from the batch, not
	 * from this handle: reopen first. */
	tst_fx_reopen(&f);
	for (int k = 0; k < 10; k++)
		r[k] = (ctu_rec){ k + 10, 11 };
	ck_assert_int_eq(ctu_append(f.log, r, 10, &o, NOW, NULL), 0);
	roll_and_seal(&f);
	clean(&f, NOW + DAY, &res);
	ck_assert_int_eq(res.tombstones_removed, 10);
	ck_assert_int_eq(ctu_read_all(f.log, 20, &s), 0);
	for (int k = 0; k < 20; k++)
		ck_assert_int_eq(s.latest[k], k < 10 ? -2 : 11);
	ck_assert_int_eq(s.duplicates, 0);
	ck_assert_int_eq(s.records, 10);
	ctu_seen_free(&s);
	tst_fx_close(&f);
}
END_TEST

START_TEST(every_codec_is_recompressed_with_its_own)
{
	static const int codecs[] = { KP_CODEC_NONE, KP_CODEC_GZIP, KP_CODEC_SNAPPY,
				      KP_CODEC_LZ4, KP_CODEC_ZSTD };
	for (size_t c = 0; c < 5; c++) {
		tst_fixture f;
		st_log_config cfg;
		ctu_batch_opts o;
		st_clean_result res;

		compact_config(&cfg);
		fx_open(&f, "clean-codec", &cfg);
		ctu_opts_default(&o);
		o.codec = codecs[c];
		o.headers = true;
		o.pad = 40;
		write_versions(f.log, 30, 0, 6, 7, &o);   /* batches mix keys: partial drops */
		roll_and_seal(&f);
		clean(&f, NOW, &res);
		ck_assert(res.cleaned);
		ck_assert_int_gt(res.records_removed, 0);

		/* Rebuilt batches keep the codec. */
		st_slice sl;
		int64_t off = 0;
		int rebuilt = 0;
		for (;;) {
			ck_assert_int_eq(st_log_read(f.log, off, 1 << 20, -1, &sl), 0);
			if (sl.len == 0) {
				st_slice_release(&sl);
				break;
			}
			uint8_t *b = malloc(sl.len);
			ck_assert_int_eq(pread(sl.fd, b, sl.len, sl.file_pos), (ssize_t)sl.len);
			for (size_t pos = 0; pos < sl.len;) {
				kp_batch_header h;
				ck_assert_int_eq(kp_batch_validate(b + pos, sl.len - pos, &h), 0);
				if (h.records_count > 0)
					ck_assert_int_eq(kp_batch_codec(&h), codecs[c]);
				if (h.records_count > 0 && h.records_count < 7)
					rebuilt++;
				pos += kp_batch_size(&h);
			}
			free(b);
			off = sl.next_offset;
			st_slice_release(&sl);
		}
		ck_assert_int_gt(rebuilt, 0);
		check_latest(f.log, 30, 5, true);
		tst_fx_close(&f);
	}
}
END_TEST

/* Every batch of the readable log, concatenated (a whole-log copy). */
static void read_log_bytes(st_log *log, kp_buf *out)
{
	int64_t off = st_log_start_offset(log);

	kp_buf_reset(out);
	for (;;) {
		st_slice sl;
		ck_assert_int_eq(st_log_read(log, off, 1 << 20, -1, &sl), 0);
		if (sl.len == 0) {
			st_slice_release(&sl);
			break;
		}
		uint8_t *p = kp_buf_reserve(out, sl.len);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(pread(sl.fd, p, sl.len, sl.file_pos), (ssize_t)sl.len);
		out->len += sl.len;
		ck_assert_int_gt(sl.next_offset, off);
		off = sl.next_offset;
		st_slice_release(&sl);
	}
}

/* The batch with base offset `base` in a whole-log copy (CRC-checked). */
static const uint8_t *find_batch(const kp_buf *b, int64_t base, kp_batch_header *h)
{
	for (size_t pos = 0; pos < b->len; pos += kp_batch_size(h)) {
		ck_assert_int_eq(kp_batch_validate(b->data + pos, b->len - pos, h), 0);
		if (h->base_offset == base)
			return b->data + pos;
	}
	ck_abort_msg("no batch at offset %" PRId64, base);
	return NULL;
}

/* A batch's records part, decompressed when it is compressed. */
static void batch_records_bytes(const uint8_t *b, const kp_batch_header *h, kp_buf *out)
{
	kp_buf_reset(out);
	const uint8_t *recs = b + KP_BATCH_HEADER_SIZE;
	size_t len = kp_batch_size(h) - KP_BATCH_HEADER_SIZE;
	if (kp_batch_codec(h) == KP_CODEC_NONE)
		kp_buf_put(out, recs, len);
	else
		ck_assert_int_eq(kp_decompress(kp_batch_codec(h), recs, len, 1 << 20, out), 0);
	ck_assert_int_eq(out->err, 0);
}

/* Splits a records part into records (each from its length varint on):
 * up to `cap` of them into at[]/len[]; returns how many. */
static int split_records(const kp_buf *recs, const uint8_t **at, size_t *len, int cap)
{
	kp_reader r = kp_reader_make(recs->data, recs->len);
	int n = 0;
	while (kp_reader_left(&r) > 0) {
		ck_assert_int_lt(n, cap);
		const uint8_t *start = r.p;
		int32_t body = kp_read_varint(&r);
		ck_assert(kp_reader_ok(&r) && body >= 0);
		ck_assert_ptr_nonnull(kp_read_bytes(&r, (size_t)body));
		at[n] = start;
		len[n++] = (size_t)(r.p - start);
	}
	return n;
}

/* The log's bytes around one pass, and its first batch before and after. */
typedef struct around {
	kp_buf before, after;
	const uint8_t *b0, *a0;       /* views into before/after */
	kp_batch_header hb, ha;
} around;

static void clean_around(tst_fixture *f, around *x, st_clean_result *res)
{
	kp_buf_init(&x->before);
	kp_buf_init(&x->after);
	read_log_bytes(f->log, &x->before);
	clean(f, NOW, res);
	ck_assert(res->cleaned);
	read_log_bytes(f->log, &x->after);
	x->b0 = find_batch(&x->before, 0, &x->hb);
	x->a0 = find_batch(&x->after, 0, &x->ha);
}

static void around_free(around *x)
{
	kp_buf_free(&x->before);
	kp_buf_free(&x->after);
}

/* The first batch came through the pass byte for byte. */
static void assert_first_batch_unchanged(const around *x)
{
	ck_assert_uint_eq(kp_batch_size(&x->ha), kp_batch_size(&x->hb));
	ck_assert(memcmp(x->a0, x->b0, kp_batch_size(&x->hb)) == 0);
}

START_TEST(a_batch_that_loses_nothing_is_copied_byte_for_byte)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;
	around x;
	ctu_rec r[5];

	compact_config(&cfg);
	fx_open(&f, "clean-whole", &cfg);
	ctu_opts_default(&o);
	o.headers = true;
	for (int k = 0; k < 5; k++)
		r[k] = (ctu_rec){ 100 + k, 0 };    /* keys never written again */
	ck_assert_int_eq(ctu_append(f.log, r, 5, &o, NOW, NULL), 0);
	write_versions(f.log, 10, 0, 4, 5, &o);
	roll_and_seal(&f);
	clean_around(&f, &x, &res);
	ck_assert_int_eq(res.records_removed, 30);
	assert_first_batch_unchanged(&x);
	around_free(&x);
	tst_fx_close(&f);
}
END_TEST

START_TEST(a_rewritten_batch_keeps_its_records_bytes_and_offset_range)
{
	static const int codecs[] = { KP_CODEC_NONE, KP_CODEC_LZ4, KP_CODEC_ZSTD };
	for (size_t c = 0; c < 3; c++) {
		tst_fixture f;
		st_log_config cfg;
		ctu_batch_opts o;
		st_clean_result res;
		around x;
		kp_buf rb, ra;
		ctu_rec r[10];
		const uint8_t *at_b[16], *at_a[16];
		size_t len_b[16], len_a[16];

		compact_config(&cfg);
		fx_open(&f, "clean-verbatim", &cfg);
		ctu_opts_default(&o);
		o.codec = codecs[c];
		o.headers = true;
		for (int k = 0; k < 10; k++)
			r[k] = (ctu_rec){ k, 0 };
		ck_assert_int_eq(ctu_append(f.log, r, 10, &o, NOW, NULL), 0);
		o.timestamp = 5000;
		for (int k = 0; k < 5; k++)
			r[k] = (ctu_rec){ 2 * k, 1 };  /* even keys superseded */
		ck_assert_int_eq(ctu_append(f.log, r, 5, &o, NOW, NULL), 0);
		roll_and_seal(&f);
		kp_buf_init(&rb);
		kp_buf_init(&ra);
		clean_around(&f, &x, &res);
		ck_assert_int_eq(res.records_removed, 5);
		const kp_batch_header hb = x.hb, ha = x.ha;
		/* The header: same offsets, producer fields, timestamps and
		 * codec; five records. */
		ck_assert_int_eq(ha.records_count, 5);
		ck_assert_int_eq(ha.last_offset_delta, hb.last_offset_delta);
		ck_assert_int_eq(ha.base_timestamp, hb.base_timestamp);
		ck_assert_int_eq(ha.max_timestamp, 1000 + 9);
		ck_assert_int_eq(ha.attributes, hb.attributes);
		ck_assert_int_eq(ha.producer_id, hb.producer_id);
		ck_assert_int_eq(ha.partition_leader_epoch, hb.partition_leader_epoch);
		/* The odd keys' records are the original bytes. */
		batch_records_bytes(x.b0, &hb, &rb);
		batch_records_bytes(x.a0, &ha, &ra);
		ck_assert_int_eq(split_records(&rb, at_b, len_b, 16), 10);
		ck_assert_int_eq(split_records(&ra, at_a, len_a, 16), 5);
		for (int i = 0; i < 5; i++) {
			ck_assert_uint_eq(len_a[i], len_b[2 * i + 1]);
			ck_assert(memcmp(at_a[i], at_b[2 * i + 1], len_a[i]) == 0);
		}
		ctu_seen seen;
		ck_assert_int_eq(ctu_read_all(f.log, 10, &seen), 0);
		ck_assert_int_eq(seen.records, 10);
		for (int k = 0; k < 10; k++)
			ck_assert_int_eq(seen.latest[k], k % 2 ? 0 : 1);
		ctu_seen_free(&seen);
		around_free(&x);
		kp_buf_free(&rb);
		kp_buf_free(&ra);
		tst_fx_close(&f);
	}
}
END_TEST

START_TEST(stamping_a_delete_horizon_keeps_record_timestamps_and_bytes)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;
	around x;
	ctu_rec r[4] = { { 0, 0 }, { 1, -1 }, { 2, 0 }, { 3, 0 } };

	compact_config(&cfg);
	fx_open(&f, "clean-rebase", &cfg);
	ctu_opts_default(&o);
	o.headers = true;
	ck_assert_int_eq(ctu_append(f.log, r, 4, &o, NOW, NULL), 0);
	r[0] = (ctu_rec){ 0, 1 };                /* key 0 superseded */
	ck_assert_int_eq(ctu_append(f.log, r, 1, &o, NOW, NULL), 0);
	roll_and_seal(&f);
	clean_around(&f, &x, &res);
	const kp_batch_header hb = x.hb, ha = x.ha;
	ck_assert(ha.attributes & 0x40);
	ck_assert_int_eq(ha.base_timestamp, NOW + DAY);
	ck_assert_int_eq(ha.records_count, 3);
	ck_assert_int_eq(ha.max_timestamp, 1000 + 3);
	ck_assert_int_eq(ha.last_offset_delta, hb.last_offset_delta);

	/* Records 1..3 (the tombstone and two values): same offsets,
	 * timestamps, keys, values and headers. */
	kp_record_iter ib, ia;
	kp_record rb, ra;
	ck_assert_int_eq(kp_record_iter_init(&ib, x.b0, kp_batch_size(&hb), 1 << 20), 0);
	ck_assert_int_eq(kp_record_iter_init(&ia, x.a0, kp_batch_size(&ha), 1 << 20), 0);
	ck_assert_int_eq(kp_record_iter_next(&ib, &rb), 1);  /* key 0: gone */
	for (int i = 1; i < 4; i++) {
		ck_assert_int_eq(kp_record_iter_next(&ib, &rb), 1);
		ck_assert_int_eq(kp_record_iter_next(&ia, &ra), 1);
		ck_assert_int_eq(ra.offset, rb.offset);
		ck_assert_int_eq(ra.timestamp, rb.timestamp);
		ck_assert_int_eq(ra.attributes, rb.attributes);
		ck_assert_int_eq(ra.key_len, rb.key_len);
		ck_assert(memcmp(ra.key, rb.key, (size_t)rb.key_len) == 0);
		ck_assert_int_eq(ra.value_len, rb.value_len);
		if (rb.value_len > 0)
			ck_assert(memcmp(ra.value, rb.value, (size_t)rb.value_len) == 0);
		ck_assert_uint_eq(ra.headers_len, rb.headers_len);
		ck_assert(memcmp(ra.headers, rb.headers, rb.headers_len) == 0);
	}
	ck_assert_int_eq(kp_record_iter_next(&ia, &ra), 0);
	kp_record_iter_free(&ib);
	kp_record_iter_free(&ia);
	around_free(&x);
	tst_fx_close(&f);
}
END_TEST

/* Writes the same history to a log: versions, tombstones, a pass, more. */
static void write_history(tst_fixture *f, size_t map_bytes, st_clean_result *res)
{
	ctu_batch_opts o;
	ctu_rec r[8];
	st_clean_options co = { .map_bytes = map_bytes };

	ctu_opts_default(&o);
	o.headers = true;
	write_versions(f->log, 50, 0, 40, 10, &o);
	for (int k = 0; k < 8; k++)
		r[k] = (ctu_rec){ 3 * k, -1 };
	ck_assert_int_eq(ctu_append(f->log, r, 8, &o, NOW, NULL), 0);
	roll_and_seal(f);
	ck_assert_int_eq(st_log_clean(f->log, &co, NOW, res), 0);
	ck_assert(res->cleaned);
	/* A second pass: its clean section is looked up in the map, its
	 * dirty section may use the bits. */
	write_versions(f->log, 50, 40, 40, 10, &o);
	roll_and_seal(f);
	ck_assert_int_eq(st_log_clean(f->log, &co, NOW + 1, res), 0);
	ck_assert(res->cleaned);
	ck_assert_int_gt(res->first_dirty, 0);
}

START_TEST(superseded_bits_and_map_lookups_clean_alike)
{
	tst_fixture a, b;
	st_log_config cfg;
	st_clean_result ra, rb;
	kp_buf ba, bb;

	compact_config(&cfg);
	fx_open(&a, "clean-bits", &cfg);
	fx_open(&b, "clean-lookups", &cfg);
	/* 1 MiB: the bits fit the budget. 3 KiB: the map still holds the 50
	 * keys, but the bits (a bit per offset: 2,000 offsets a pass, 250
	 * bytes) would take more than 1/16 of it, so the rewrite looks every
	 * key up. */
	write_history(&a, 1 << 20, &ra);
	write_history(&b, 3072, &rb);
	ck_assert_int_eq(ra.records_removed, rb.records_removed);
	ck_assert_int_eq(ra.map_end, rb.map_end);
	kp_buf_init(&ba);
	kp_buf_init(&bb);
	read_log_bytes(a.log, &ba);
	read_log_bytes(b.log, &bb);
	ck_assert_uint_eq(ba.len, bb.len);
	ck_assert(memcmp(ba.data, bb.data, ba.len) == 0);
	check_latest(a.log, 50, 79, true);
	kp_buf_free(&ba);
	kp_buf_free(&bb);
	tst_fx_close(&a);
	tst_fx_close(&b);
}
END_TEST

START_TEST(a_batch_with_a_record_outside_its_offsets_is_kept_whole)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;
	kp_buf bad;
	around x;
	ctu_rec r[3] = { { 0, 0 }, { 1, 0 }, { 2, 0 } };

	compact_config(&cfg);
	fx_open(&f, "clean-bad-offset", &cfg);
	ctu_opts_default(&o);
	/* Three records; the third claims offsetDelta 5 in a batch whose
	 * lastOffsetDelta is 2 (a one-byte varint either way), CRC fixed. */
	kp_buf_init(&bad);
	ck_assert_int_eq(ctu_build(&bad, r, 3, &o), 0);
	kp_reader rd = kp_reader_make(bad.data + KP_BATCH_HEADER_SIZE, bad.len - KP_BATCH_HEADER_SIZE);
	for (int i = 0; i < 2; i++) {
		int32_t body = kp_read_varint(&rd);
		ck_assert_ptr_nonnull(kp_read_bytes(&rd, (size_t)body));
	}
	uint8_t *rec = (uint8_t *)rd.p;
	ck_assert_int_eq(rec[0] & 0x80, 0);     /* length: one byte */
	/* rec: length, attributes, timestampDelta (varlong), offsetDelta */
	size_t offd = 2;
	while (rec[offd] & 0x80)
		offd++;
	offd++;
	ck_assert_int_eq(rec[offd], 2 * 2);     /* zigzag of 2 */
	rec[offd] = 2 * 5;
	kp_batch_update_crc(bad.data, bad.len);
	ck_assert_int_eq(ctu_append_raw(f.log, bad.data, bad.len, NOW, NULL), 0);
	r[0] = (ctu_rec){ 0, 1 };               /* supersedes the bad batch's key 0 */
	ck_assert_int_eq(ctu_append(f.log, r, 1, &o, NOW, NULL), 0);
	roll_and_seal(&f);
	clean_around(&f, &x, &res);
	assert_first_batch_unchanged(&x);
	kp_buf_free(&bad);
	around_free(&x);
	tst_fx_close(&f);
}
END_TEST

START_TEST(a_pass_of_several_groups_survives_an_unclean_reopen)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;
	int64_t rp = -1;

	compact_config(&cfg);
	fx_open(&f, "clean-groups", &cfg);
	ctu_opts_default(&o);
	o.pad = 60;
	/* Each round a new key set: half of every segment is superseded by
	 * the next round, so no cleaned segment leaves room for a whole
	 * neighbour and every group is one segment. */
	for (int round = 0; round < 6; round++) {
		ctu_rec r[40];
		for (int k = 0; k < 40; k++)
			r[k] = (ctu_rec){ round * 20 + k, round };
		ck_assert_int_eq(ctu_append(f.log, r, 40, &o, NOW, NULL), 0);
	}
	roll_and_seal(&f);
	clean(&f, NOW, &res);
	ck_assert(res.cleaned);
	ck_assert_int_gt(res.segments_after, 2);
	ck_assert_int_gt(res.records_removed, 0);
	/* The recovery point on disk is past every group (the pass writes it
	 * once, before its first swap record), so recovery trusts the gaps. */
	ck_assert_int_eq(st__offset_file_read(f.dir, "recovery-point", &rp), 0);
	ck_assert_int_ge(rp, res.map_end);

	st_log_close_discard(f.log);   /* no clean-shutdown marker: recovery */
	ck_assert_int_eq(st_log_open(f.store, f.dir, &f.cfg, NOW, &f.log), 0);
	ctu_seen s;
	ck_assert_int_eq(ctu_read_all(f.log, 140, &s), 0);
	ck_assert(s.ordered);
	ck_assert_int_eq(s.duplicates, 0);
	ck_assert_int_eq(s.records, 140);
	for (int k = 0; k < 140; k++)
		ck_assert_int_eq(s.latest[k], k / 20 < 6 ? k / 20 : 5);
	ctu_seen_free(&s);
	tst_fx_close(&f);
}
END_TEST

/* Every segment ends with batches of a hot key that later segments
 * supersede, so cleaning empties each segment's tail. The cleaned segments
 * must still end where the old ones did, or a recovery that scans them
 * (here: the recovery-point file is lost) would take the gap for a torn tail
 * and drop every segment after it. */
START_TEST(a_cleaned_segment_ends_where_the_old_ones_did)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;
	char path[4096];

	compact_config(&cfg);
	fx_open(&f, "clean-ends", &cfg);
	ctu_opts_default(&o);
	o.pad = 300;   /* a cleaned segment leaves no room for a neighbour */
	for (int round = 0; round < 6; round++) {
		ctu_rec uniq[8];
		for (int k = 0; k < 8; k++)
			uniq[k] = (ctu_rec){ 1 + round * 8 + k, 0 };
		ck_assert_int_eq(ctu_append(f.log, uniq, 8, &o, NOW, NULL), 0);
		for (int v = 0; v < 3; v++) {
			ctu_rec hot = { 0, round * 3 + v };
			ck_assert_int_eq(ctu_append(f.log, &hot, 1, &o, NOW, NULL), 0);
		}
		roll_and_seal(&f);
	}
	clean(&f, NOW, &res);
	ck_assert(res.cleaned);
	ck_assert_int_eq(res.records_removed, 17);
	ck_assert_int_gt(res.segments_after, 2);

	st_log_close_discard(f.log);   /* no clean-shutdown marker: recovery */
	snprintf(path, sizeof(path), "%s/recovery-point", f.dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(st_log_open(f.store, f.dir, &f.cfg, NOW, &f.log), 0);
	for (size_t i = 0; i + 1 < f.log->nsegs; i++)
		ck_assert_int_eq(f.log->segs[i]->next_offset, f.log->segs[i + 1]->base);
	/* A read at the end batch's offset is answered from the next segment:
	 * a response of only an empty batch trips some clients. */
	st_slice sl;
	int64_t next_base = f.log->segs[1]->base;
	ck_assert_int_eq(st_log_read(f.log, next_base - 1, 1 << 20, -1, &sl), 0);
	ck_assert_int_gt(sl.len, 0);
	ck_assert_int_eq(sl.first_offset, next_base);
	st_slice_release(&sl);
	ctu_seen s;
	ck_assert_int_eq(ctu_read_all(f.log, 49, &s), 0);
	ck_assert(s.ordered);
	ck_assert_int_eq(s.records, 49);
	ck_assert_int_eq(s.latest[0], 17);
	for (int k = 1; k < 49; k++)
		ck_assert_int_eq(s.latest[k], 0);
	ctu_seen_free(&s);
	tst_fx_close(&f);
}
END_TEST

START_TEST(a_producers_last_batch_stays_as_an_empty_batch)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o, idem;
	st_clean_result res;

	compact_config(&cfg);
	fx_open(&f, "clean-producer", &cfg);
	ctu_opts_default(&o);
	ctu_opts_default(&idem);
	idem.producer_id = 7;
	idem.producer_epoch = 3;
	for (int i = 0; i < 4; i++) {
		idem.base_sequence = i * 2;
		ctu_rec r[2] = { { 0, i }, { 1, i } };
		ck_assert_int_eq(ctu_append(f.log, r, 2, &idem, NOW, NULL), 0);
	}
	write_versions(f.log, 2, 10, 30, 2, &o);   /* supersedes every idempotent record */
	roll_and_seal(&f);
	clean(&f, NOW, &res);
	ck_assert_int_eq(res.batches_emptied, 1);

	ctu_seen s;
	ck_assert_int_eq(ctu_read_all(f.log, 2, &s), 0);
	ck_assert_int_eq(s.empty_batches, 1);
	ck_assert_int_eq(s.latest[0], 39);
	ck_assert_int_eq(s.records, 2);
	ctu_seen_free(&s);

	/* The producer is rebuilt from the log alone: no snapshot. */
	st_log_close_discard(f.log);
	DIR *d = opendir(f.dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strstr(e->d_name, ".snapshot")) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", f.dir, e->d_name);
			unlink(p);
		}
	}
	closedir(d);
	ck_assert_int_eq(st_log_open(f.store, f.dir, &f.cfg, NOW, &f.log), 0);
	st_producer *ps;
	size_t n;
	ck_assert_int_eq(st_log_producers(f.log, &ps, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ps[0].producer_id, 7);
	ck_assert_int_eq(ps[0].producer_epoch, 3);
	ck_assert_int_eq(ps[0].batches[ps[0].n_batches - 1].last_seq, 7);
	ck_assert_int_eq(ps[0].batches[ps[0].n_batches - 1].last_offset, 7);
	free(ps);
	/* And it goes on at the next sequence. */
	idem.base_sequence = 8;
	ck_assert_int_eq(ctu_append(f.log, (ctu_rec[]){ { 0, 99 } }, 1, &idem, NOW, NULL), 0);
	tst_fx_close(&f);
}
END_TEST

START_TEST(min_compaction_lag_keeps_young_segments_dirty)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;

	compact_config(&cfg);
	cfg.min_compaction_lag_ms = 60000;
	fx_open(&f, "clean-lag", &cfg);
	ctu_opts_default(&o);
	o.timestamp = NOW - 1000;            /* a second old */
	write_versions(f.log, 10, 0, 10, 5, &o);
	roll_and_seal(&f);
	clean(&f, NOW, &res);
	ck_assert(!res.cleaned);
	clean(&f, NOW + 120000, &res);       /* two minutes later */
	ck_assert(res.cleaned);
	check_latest(f.log, 10, 9, true);
	tst_fx_close(&f);
}
END_TEST

START_TEST(max_compaction_lag_makes_old_dirt_due_and_rolls_the_active_segment)
{
	tst_fixture f;
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;
	st_log_clean_info info;

	compact_config(&cfg);
	cfg.min_cleanable_dirty_ratio = 0.9;
	cfg.max_compaction_lag_ms = 60000;
	fx_open(&f, "clean-maxlag", &cfg);
	ctu_opts_default(&o);
	o.timestamp = NOW;
	write_versions(f.log, 40, 0, 5, 5, &o);
	roll_and_seal(&f);
	clean(&f, NOW, &res);
	ck_assert(res.cleaned);

	/* A little dirt: far below the ratio, young. */
	write_versions(f.log, 2, 10, 1, 2, &o);
	roll_and_seal(&f);
	ck_assert_int_eq(st_log_clean_info_get(f.log, NOW + 1000, &info), 0);
	ck_assert(info.dirty_ratio < 0.9);
	ck_assert(!info.overdue);
	ck_assert(!info.due);
	/* Two minutes on it is overdue, whatever the ratio. */
	ck_assert_int_eq(st_log_clean_info_get(f.log, NOW + 120000, &info), 0);
	ck_assert(info.overdue);
	ck_assert(info.due);
	ck_assert(!info.roll_due);               /* the active segment is empty */

	write_versions(f.log, 2, 11, 1, 2, &o);  /* into the active segment */
	ck_assert_int_eq(st_log_clean_info_get(f.log, NOW + 1000, &info), 0);
	ck_assert(!info.roll_due);
	ck_assert_int_eq(st_log_clean_info_get(f.log, NOW + 120000, &info), 0);
	ck_assert(info.roll_due);
	tst_fx_close(&f);
}
END_TEST

struct progress_log {
	int64_t bytes;
	int calls, stop_after;        /* stop_after < 0: never abandon */
};

static bool on_progress(void *arg, int64_t bytes)
{
	struct progress_log *pl = arg;
	pl->bytes += bytes;
	pl->calls++;
	return pl->stop_after < 0 || pl->calls < pl->stop_after;
}

static int count_suffix(const char *dir, const char *sfx);

/* The throttle sees every byte a pass reads and writes (it is fed through
 * the progress callback), and a callback that says stop abandons the pass,
 * leaving the log exactly as it was. */
/* A compacted log of 300 keys x 6 versions with ~200-byte values in
 * sealed 64 KiB segments: a pass over it makes several progress reports. */
static void fx_open_reporting(tst_fixture *f, const char *tag)
{
	st_log_config cfg;
	ctu_batch_opts o;

	compact_config(&cfg);
	cfg.segment_bytes = 64 << 10;
	fx_open(f, tag, &cfg);
	ctu_opts_default(&o);
	o.pad = 200;
	write_versions(f->log, 300, 0, 6, 20, &o);
	roll_and_seal(f);
}

START_TEST(progress_sees_every_byte_and_can_abandon_a_pass)
{
	tst_fixture f;
	st_clean_result res;

	fx_open_reporting(&f, "clean-progress");
	st_log_stats before;
	st_log_get_stats(f.log, &before);

	struct progress_log stop = { 0, 0, 2 };
	st_clean_options co = { .map_bytes = 1 << 20, .progress = on_progress, .progress_arg = &stop };
	ck_assert_int_eq(st_log_clean(f.log, &co, NOW, &res), ST_ERR_CLOSING);
	ck_assert_int_eq(count_suffix(f.dir, ".cleaned.log"), 0);
	ck_assert_int_eq(count_suffix(f.dir, ".swap"), 0);
	st_log_stats after;
	st_log_get_stats(f.log, &after);
	ck_assert_int_eq(after.size_bytes, before.size_bytes);
	ck_assert_int_eq(after.segments, before.segments);
	ctu_seen s;
	ck_assert_int_eq(ctu_read_all(f.log, 300, &s), 0);
	ck_assert_int_eq(s.records, 1800);
	ctu_seen_free(&s);

	struct progress_log all = { 0, 0, -1 };
	co.progress_arg = &all;
	ck_assert_int_eq(st_log_clean(f.log, &co, NOW, &res), 0);
	ck_assert(res.cleaned);
	ck_assert_int_ge(all.bytes, res.bytes_read + res.bytes_written);
	check_latest(f.log, 300, 5, true);
	tst_fx_close(&f);
}
END_TEST

/* Retention (here after a DeleteRecords) takes segments while a pass is
 * reading: one it had not opened yet is gone by name. The pass is moot
 * and ends ST_ERR_BUSY, as when the swap finds segments gone -- not a
 * failure the cleaner logs and counts -- and leaves nothing behind. */
struct retention_midway {
	st_log *log;
	int calls;
	int deleted;
};

static bool retention_on_first_report(void *arg, int64_t bytes)
{
	struct retention_midway *r = arg;
	(void)bytes;
	if (r->calls++ == 0) {
		ck_assert_int_eq(st_log_delete_records(r->log, st_log_end_offset(r->log)), 0);
		ck_assert_int_eq(st_log_enforce_retention(r->log, NOW, &r->deleted), 0);
	}
	return true;
}

START_TEST(retention_during_a_pass_leaves_it_busy_not_failed)
{
	tst_fixture f;
	st_clean_result res;

	fx_open_reporting(&f, "clean-retention");
	/* Reopened, the closed segments are opened only when read. */
	tst_fx_reopen(&f);

	struct retention_midway r = { f.log, 0, 0 };
	st_clean_options co = { .map_bytes = 1 << 20, .progress = retention_on_first_report,
				.progress_arg = &r };
	ck_assert_int_eq(st_log_clean(f.log, &co, NOW, &res), ST_ERR_BUSY);
	ck_assert_int_ge(r.deleted, 2);
	ck_assert_int_eq(count_suffix(f.dir, ".cleaned.log"), 0);
	ck_assert_int_eq(count_suffix(f.dir, ".swap"), 0);
	ck_assert_int_eq(st_log_start_offset(f.log), st_log_end_offset(f.log));
	tst_fx_close(&f);
}
END_TEST

/* ------------------------------------------------------------ crash safety */

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[65536];
	size_t n;
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

static int count_suffix(const char *dir, const char *sfx)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), s = strlen(sfx);
		n += l > s && strcmp(e->d_name + l - s, sfx) == 0;
	}
	closedir(d);
	return n;
}

/* Builds a log, copies it (old), cleans the original (new). */
static void old_and_new(tst_fixture *f, char **old_dir)
{
	st_log_config cfg;
	ctu_batch_opts o;
	st_clean_result res;

	compact_config(&cfg);
	fx_open(f, "clean-swap", &cfg);
	ctu_opts_default(&o);
	write_versions(f->log, 40, 0, 8, 5, &o);
	roll_and_seal(f);
	st_log_close(f->log);
	*old_dir = tst_tmpdir("clean-swap-old");
	tst_copy_dir(f->dir, *old_dir);
	ck_assert_int_eq(st_log_open(f->store, f->dir, &f->cfg, NOW, &f->log), 0);
	clean(f, NOW, &res);
	ck_assert(res.cleaned);
	ck_assert_int_eq(res.segments_after, 1);
	st_log_close(f->log);
	f->log = NULL;
}

START_TEST(an_uncommitted_pass_rolls_back_at_open)
{
	tst_fixture f;
	char *old, from[4096], to[4096], name[64];

	old_and_new(&f, &old);
	int old_logs = count_suffix(old, ".log");
	/* The new segment as .cleaned files next to the old ones, no record. */
	static const char *const sfx[] = { ".log", ".index", ".timeindex" };
	for (int k = 0; k < 3; k++) {
		st_segment_filename(name, sizeof(name), 0, sfx[k]);
		snprintf(from, sizeof(from), "%s/%s", f.dir, name);
		st_segment_filename(name, sizeof(name), 0, ".cleaned");
		snprintf(to, sizeof(to), "%s/%s%s", old, name, sfx[k]);
		copy_file(from, to);
	}
	ck_assert_int_gt(old_logs, 2);
	st_log *log;
	ck_assert_int_eq(st_log_open(f.store, old, &f.cfg, NOW, &log), 0);
	ck_assert_int_eq(count_suffix(old, ".cleaned.log"), 0);
	ck_assert_int_eq(count_suffix(old, ".log"), old_logs);
	ctu_seen s;
	ck_assert_int_eq(ctu_read_all(log, 40, &s), 0);
	ck_assert_int_eq(s.records, 320);     /* nothing lost, nothing cleaned */
	ctu_seen_free(&s);
	st_log_close(log);
	tst_rmrf(old);
	free(old);
	tst_fx_close(&f);
}
END_TEST

START_TEST(a_committed_swap_rolls_forward_at_open)
{
	tst_fixture f;
	char *old, from[4096], to[4096], name[64], rec[128];

	old_and_new(&f, &old);
	int64_t end = -1;
	/* The end of the group: the active segment's base. */
	DIR *d = opendir(f.dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		long long b;
		if (strlen(e->d_name) == 24 && sscanf(e->d_name, "%20lld.log", &b) == 1 && b > end)
			end = b;
	}
	closedir(d);
	ck_assert_int_gt(end, 0);
	/* Crash right after the commit record, before any rename. */
	static const char *const sfx[] = { ".log", ".index", ".timeindex" };
	for (int k = 0; k < 3; k++) {
		st_segment_filename(name, sizeof(name), 0, sfx[k]);
		snprintf(from, sizeof(from), "%s/%s", f.dir, name);
		st_segment_filename(name, sizeof(name), 0, ".cleaned");
		snprintf(to, sizeof(to), "%s/%s%s", old, name, sfx[k]);
		copy_file(from, to);
	}
	int n = snprintf(rec, sizeof(rec), "rewind-swap 1 0 %" PRId64, end);
	n += snprintf(rec + n, sizeof(rec) - (size_t)n, " %016" PRIx64 "\n",
		      (uint64_t)XXH64(rec, (size_t)n, 0));
	st_segment_filename(name, sizeof(name), 0, ".swap");
	ck_assert_int_eq(st_file_write_atomic(old, name, rec, (size_t)n), 0);

	st_log *log;
	ck_assert_int_eq(st_log_open(f.store, old, &f.cfg, NOW, &log), 0);
	ck_assert_int_eq(count_suffix(old, ".swap"), 0);
	ck_assert_int_eq(count_suffix(old, ".cleaned.log"), 0);
	ck_assert_int_eq(count_suffix(old, ".log"), 2);   /* cleaned + active */
	check_latest(log, 40, 7, true);
	ck_assert_int_eq(st_log_end_offset(log), 320);
	st_log_close(log);
	tst_rmrf(old);
	free(old);
	tst_fx_close(&f);
}
END_TEST

/* ---------------------------------------------------------------- threads */

START_TEST(cleaner_threads_clean_due_logs_and_write_the_checkpoint)
{
	char *parent = tst_tmpdir("clean-threads"), dir[4096], path[4096];
	st_store *s;
	st_log *log;
	st_log_config cfg;
	ctu_batch_opts o;
	st_cleaner *c;
	st_cleaner_options co;

	snprintf(dir, sizeof(dir), "%s/topic-a-3", parent);
	ck_assert_int_eq(st_store_open(NULL, &s), 0);
	compact_config(&cfg);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, NOW, &log), 0);
	ctu_opts_default(&o);
	o.timestamp = tst_now_ms();
	write_versions(log, 25, 0, 12, 5, &o);
	ck_assert_int_eq(st_log_roll(log, NOW), 0);
	st__store_barrier(s);

	st_cleaner_options_default(&co);
	co.backoff_ms = 20;
	co.threads = 2;
	co.io_max_bytes_per_second = 50 << 20;
	ck_assert_int_eq(st_cleaner_start(s, &co, &c), 0);
	ck_assert_int_eq(st_cleaner_add(c, log), 0);
	st_cleaner_stats stats;
	int64_t deadline = tst_now_ms() + 20000;
	do {
		st_cleaner_get_stats(c, &stats);
		if (stats.passes > 0)
			break;
		usleep(5000);
	} while (tst_now_ms() < deadline);
	ck_assert_int_ge(stats.passes, 1);
	ck_assert_int_gt(stats.records_removed, 0);
	ck_assert_int_eq(stats.logs, 1);
	check_latest(log, 25, 11, true);

	snprintf(path, sizeof(path), "%s/cleaner-offset-checkpoint", parent);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	char text[256];
	size_t n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = 0;
	long long off = -1;
	ck_assert_int_eq(sscanf(text, "0\n1\ntopic-a 3 %lld\n", &off), 1);
	ck_assert_int_eq(off, st_log_end_offset(log));

	/* Closing takes the log back; a new handle reads the checkpoint. */
	st_log_close(log);
	st_cleaner_get_stats(c, &stats);
	ck_assert_int_eq(stats.logs, 0);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, NOW, &log), 0);
	ck_assert_int_eq(st_cleaner_add(c, log), 0);
	st_log_clean_info info;
	ck_assert_int_eq(st_log_clean_info_get(log, NOW, &info), 0);
	ck_assert_int_eq(info.first_dirty, off);
	ck_assert(!info.due);
	st_cleaner_stop(c);
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(parent);
	free(parent);
}
END_TEST

static Suite *cleaner_suite(void)
{
	Suite *s = suite_create("cleaner");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, map_costs_at_most_16_bytes_per_key_when_full);
	tcase_add_test(tc, map_holds_the_latest_offset_of_a_key);
	tcase_add_test(tc, map_collision_keeps_every_record_of_the_tag);
	tcase_add_test(tc, pass_keeps_the_latest_value_of_every_key_with_offsets_and_gaps);
	tcase_add_test(tc, pass_never_touches_the_active_segment);
	tcase_add_test(tc, tombstones_stay_until_their_delete_horizon_then_go);
	tcase_add_test(tc, every_codec_is_recompressed_with_its_own);
	tcase_add_test(tc, a_batch_that_loses_nothing_is_copied_byte_for_byte);
	tcase_add_test(tc, a_rewritten_batch_keeps_its_records_bytes_and_offset_range);
	tcase_add_test(tc, stamping_a_delete_horizon_keeps_record_timestamps_and_bytes);
	tcase_add_test(tc, superseded_bits_and_map_lookups_clean_alike);
	tcase_add_test(tc, a_batch_with_a_record_outside_its_offsets_is_kept_whole);
	tcase_add_test(tc, a_pass_of_several_groups_survives_an_unclean_reopen);
	tcase_add_test(tc, a_cleaned_segment_ends_where_the_old_ones_did);
	tcase_add_test(tc, a_producers_last_batch_stays_as_an_empty_batch);
	tcase_add_test(tc, min_compaction_lag_keeps_young_segments_dirty);
	tcase_add_test(tc, max_compaction_lag_makes_old_dirt_due_and_rolls_the_active_segment);
	tcase_add_test(tc, progress_sees_every_byte_and_can_abandon_a_pass);
	tcase_add_test(tc, retention_during_a_pass_leaves_it_busy_not_failed);
	tcase_add_test(tc, an_uncommitted_pass_rolls_back_at_open);
	tcase_add_test(tc, a_committed_swap_rolls_forward_at_open);
	tcase_add_test(tc, cleaner_threads_clean_due_logs_and_write_the_checkpoint);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cleaner_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
