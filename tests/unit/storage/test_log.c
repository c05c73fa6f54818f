/*
 * test_log.c -- appends, reads and lookups on one partition log.
 *
 * Runs once with io_uring and once with the pwrite fallback (the meson test
 * sets REWIND_IO_URING); each test is a forked child (Check's fork mode).
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_test.h"

START_TEST(store_backend_follows_environment)
{
	st_store_options o;
	st_store *s;
	const char *env = getenv("REWIND_IO_URING");

	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	if (env && strcmp(env, "0") == 0)
		ck_assert(!st_store_uses_io_uring(s));
	else if (env && strcmp(env, "1") == 0)
		ck_assert_msg(st_store_uses_io_uring(s), "io_uring requested but not in use");
	st_store_close(s);

	o.use_io_uring = false;
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	ck_assert(!st_store_uses_io_uring(s));
	st_store_close(s);
}
END_TEST

START_TEST(append_assigns_offsets_and_reads_back)
{
	tst_fixture f;
	st_append a;

	tst_fx_open(&f, "log", NULL);
	ck_assert_int_eq(st_log_end_offset(f.log), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 100 + i * 10, 10, 0, 1000, &a), 0);
		ck_assert_int_eq(a.base_offset, i * 5);
		ck_assert_int_eq(a.last_offset, i * 5 + 4);
		ck_assert_int_eq(a.log_append_time, -1);
		ck_assert(a.durable);
	}
	ck_assert_int_eq(st_log_end_offset(f.log), 15);
	ck_assert_int_eq(st_log_readable_end(f.log), 15);
	ck_assert_int_eq(st_log_high_watermark(f.log), 15);
	ck_assert_int_eq(st_log_start_offset(f.log), 0);
	int batches;
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, &batches), 15);
	ck_assert_int_eq(batches, 3);

	st_log_stats st;
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.appends, 3);
	ck_assert_int_ge(st.syncs, 3);
	ck_assert_int_eq(st.segments, 1);
	ck_assert(!st.offline);
	tst_fx_close(&f);
}
END_TEST

START_TEST(append_of_several_batches_at_once_is_contiguous)
{
	tst_fixture f;
	kp_buf buf;
	tst_wait w;
	st_append a = { 0 };

	tst_fx_open(&f, "log", NULL);
	kp_buf_init(&buf);
	ck_assert_int_eq(tst_build_batch(&buf, 0, 0, 3, 1, 0), 0);
	ck_assert_int_eq(tst_build_batch(&buf, 0, 3, 4, 1, 0), 0);
	tst_wait_init(&w);
	a.data = buf.data;
	a.len = buf.len;
	a.leader_epoch = -1;
	a.cb = tst_wait_cb;
	a.arg = &w;
	ck_assert_int_eq(st_log_append(f.log, &a, 1000), 0);
	ck_assert_int_eq(a.base_offset, 0);
	ck_assert_int_eq(a.last_offset, 6);
	ck_assert_int_eq(tst_wait_for(&w), 0);
	int batches;
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, &batches), 7);
	ck_assert_int_eq(batches, 2);
	/* The second batch of the buffer got base offset 3 in place. */
	size_t second = (size_t)kp_load_be32(buf.data + KP_BATCH_OFF_LENGTH) + KP_BATCH_LOG_OVERHEAD;
	ck_assert_int_eq((int64_t)kp_load_be64(buf.data + second), 3);
	tst_wait_destroy(&w);
	kp_buf_free(&buf);
	tst_fx_close(&f);
}
END_TEST

static void never_cb(st_append *a, int err)
{
	(void)a;
	(void)err;
	ck_abort_msg("callback of a refused append ran");
}

START_TEST(append_rejects_bad_batches_without_callback)
{
	tst_fixture f;
	kp_buf buf;
	st_append a = { 0 };
	st_log_config cfg;

	st_log_config_default(&cfg);
	cfg.segment_bytes = 200;
	tst_fx_open(&f, "log", &cfg);
	kp_buf_init(&buf);
	ck_assert_int_eq(tst_build_batch(&buf, 0, 0, 3, 1, 0), 0);
	a.cb = never_cb;
	a.leader_epoch = -1;

	/* A flipped bit in the records: CRC. */
	a.data = buf.data;
	a.len = buf.len;
	buf.data[buf.len - 1] ^= 1;
	ck_assert_int_eq(st_log_append(f.log, &a, 1000), KP_ERR_CRC);
	buf.data[buf.len - 1] ^= 1;
	/* Cut short. */
	a.len = buf.len - 1;
	ck_assert_int_eq(st_log_append(f.log, &a, 1000), KP_ERR_SHORT);
	/* Empty. */
	a.len = 0;
	ck_assert_int_eq(st_log_append(f.log, &a, 1000), KP_ERR_SHORT);
	/* Bigger than a segment. */
	kp_buf big;
	kp_buf_init(&big);
	ck_assert_int_eq(tst_build_batch(&big, 0, 0, 3, 1, 300), 0);
	a.data = big.data;
	a.len = big.len;
	ck_assert_int_eq(st_log_append(f.log, &a, 1000), ST_ERR_TOO_LARGE);
	ck_assert_int_eq(st_log_end_offset(f.log), 0);
	ck_assert_str_eq(st_strerror(ST_ERR_TOO_LARGE), "batch larger than the segment size");
	ck_assert_str_eq(st_strerror(-ENOSPC), "No space left on device");
	kp_buf_free(&big);
	kp_buf_free(&buf);
	tst_fx_close(&f);
}
END_TEST

START_TEST(read_returns_at_least_one_whole_batch)
{
	tst_fixture f;
	st_slice sl;

	tst_fx_open(&f, "log", NULL);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(tst_append_sync(f.log, 0, 10, 1, 100, 0, 1000, NULL), 0);
	/* KIP-74: max_bytes below one batch still returns that batch. */
	ck_assert_int_eq(st_log_read(f.log, 0, 1, -1, &sl), 0);
	ck_assert_int_gt(sl.len, 1);
	ck_assert_int_eq(sl.first_offset, 0);
	ck_assert_int_eq(sl.next_offset, 10);
	size_t one = sl.len;
	st_slice_release(&sl);
	/* Two and a half batches of room: two batches. */
	ck_assert_int_eq(st_log_read(f.log, 0, one * 2 + one / 2, -1, &sl), 0);
	ck_assert_int_eq(sl.len, one * 2);
	ck_assert_int_eq(sl.next_offset, 20);
	st_slice_release(&sl);
	/* An offset inside a batch returns that whole batch. */
	ck_assert_int_eq(st_log_read(f.log, 17, 1, -1, &sl), 0);
	ck_assert_int_eq(sl.first_offset, 10);
	ck_assert_int_eq(sl.file_pos, (int64_t)one);
	ck_assert_int_eq(sl.next_offset, 20);
	st_slice_release(&sl);
	tst_fx_close(&f);
}
END_TEST

START_TEST(read_bounds_and_out_of_range)
{
	tst_fixture f;
	st_slice sl;

	tst_fx_open(&f, "log", NULL);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 0, 0, 1000, NULL), 0);
	/* At the end: empty, not an error. */
	ck_assert_int_eq(st_log_read(f.log, 15, 1000, -1, &sl), 0);
	ck_assert_int_eq(sl.len, 0);
	ck_assert_int_eq(sl.next_offset, 15);
	st_slice_release(&sl);
	ck_assert_int_eq(st_log_read(f.log, 16, 1000, -1, &sl), ST_ERR_OFFSET_OUT_OF_RANGE);
	ck_assert_int_eq(st_log_read(f.log, -1, 1000, -1, &sl), ST_ERR_OFFSET_OUT_OF_RANGE);
	/* An upper bound stops before batches that reach it. */
	ck_assert_int_eq(st_log_read(f.log, 0, 1 << 20, 10, &sl), 0);
	ck_assert_int_eq(sl.next_offset, 10);
	st_slice_release(&sl);
	ck_assert_int_eq(st_log_read(f.log, 10, 1 << 20, 10, &sl), 0);
	ck_assert_int_eq(sl.len, 0);
	st_slice_release(&sl);
	tst_fx_close(&f);
}
END_TEST

START_TEST(read_finds_every_offset_through_the_sparse_index)
{
	tst_fixture f;
	st_log_config cfg;
	st_slice sl;

	st_log_config_default(&cfg);
	cfg.index_interval_bytes = 300;
	tst_fx_open(&f, "log", &cfg);
	int64_t n = 0;
	for (int i = 0; i < 60; i++) {
		int nrec = 1 + i % 4;
		ck_assert_int_eq(tst_append_sync(f.log, 0, nrec, i, 40, 0, 1000, NULL), 0);
		n += nrec;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int64_t off = 0; off < n; off++) {
			ck_assert_int_eq(st_log_read(f.log, off, 1, -1, &sl), 0);
			ck_assert_int_le(sl.first_offset, off);
			ck_assert_int_gt(sl.next_offset, off);
			uint8_t hdr[KP_BATCH_HEADER_SIZE];
			kp_batch_header h;
			ck_assert_int_eq(pread(sl.fd, hdr, sizeof(hdr), sl.file_pos), (ssize_t)sizeof(hdr));
			ck_assert_int_eq(kp_batch_header_parse(hdr, sizeof(hdr), &h), 0);
			ck_assert_int_eq(h.base_offset, sl.first_offset);
			ck_assert_int_eq(kp_batch_size(&h), sl.len);
			st_slice_release(&sl);
		}
		/* Second pass: from the index files written at close. */
		tst_fx_reopen(&f);
	}
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), n);
	tst_fx_close(&f);
}
END_TEST

/* Walks batch headers from position 0 of fd up to `end`: the expected
 * slice for (offset, max_bytes) by the plain definition, one header at a
 * time. */
static void naive_slice(int fd, int64_t end, int64_t offset, size_t max_bytes,
			int64_t *pos, size_t *len, int64_t *next)
{
	int64_t at = 0;
	*pos = -1;
	*len = 0;
	while (at < end) {
		uint8_t hdr[KP_BATCH_HEADER_SIZE];
		kp_batch_header h;
		ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), at), (ssize_t)sizeof(hdr));
		ck_assert_int_eq(kp_batch_header_parse(hdr, sizeof(hdr), &h), 0);
		size_t bsize = kp_batch_size(&h);
		if (kp_batch_last_offset(&h) >= offset) {
			if (*pos < 0) {
				*pos = at;
				*len = bsize;
			} else if (*len + bsize > max_bytes) {
				break;
			} else {
				*len += bsize;
			}
			*next = kp_batch_last_offset(&h) + 1;
		}
		at += (int64_t)bsize;
	}
}

START_TEST(read_budget_ends_at_the_same_batch_as_a_header_walk)
{
	tst_fixture f;
	st_log_config cfg;
	st_slice sl;
	unsigned seed = 7;

	st_log_config_default(&cfg);
	cfg.index_interval_bytes = 500;
	tst_fx_open(&f, "log", &cfg);
	int64_t n = 0;
	for (int i = 0; i < 200; i++) {
		int nrec = 1 + i % 5;
		ck_assert_int_eq(tst_append_sync(f.log, 0, nrec, i, (size_t)(20 + (i * 37) % 300),
						 0, 1000, NULL), 0);
		n += nrec;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < 400; k++) {
			int64_t off = rand_r(&seed) % n;
			size_t budget = (size_t)(rand_r(&seed) % 20000);
			int64_t pos, next = -1;
			size_t len;
			ck_assert_int_eq(st_log_read(f.log, off, budget, -1, &sl), 0);
			naive_slice(sl.fd, lseek(sl.fd, 0, SEEK_END),
				    off, budget, &pos, &len, &next);
			ck_assert_int_eq(sl.file_pos, pos);
			ck_assert_int_eq(sl.len, len);
			ck_assert_int_eq(sl.next_offset, next);
			st_slice_release(&sl);
		}
		/* A read bounded by an upper offset never includes a batch at or
		 * above it, however large the budget. */
		ck_assert_int_eq(st_log_read(f.log, 0, 1 << 20, n / 2, &sl), 0);
		ck_assert_int_le(sl.next_offset, n / 2);
		ck_assert_int_gt(sl.next_offset, n / 2 - 6);
		st_slice_release(&sl);
		tst_fx_reopen(&f);
	}
	tst_fx_close(&f);
}
END_TEST

START_TEST(offset_for_timestamp_finds_first_record_at_or_after)
{
	tst_fixture f;
	st_log_config cfg;
	int64_t off, ts;

	st_log_config_default(&cfg);
	cfg.index_interval_bytes = 100;
	cfg.segment_bytes = 2000;
	tst_fx_open(&f, "log", &cfg);
	/* Batch i holds 4 records with timestamps 1000 + 10 i + 0..3. */
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(tst_append_sync(f.log, 0, 4, 1000 + 10 * i, 20, 0, 1000, NULL), 0);
	st_log_stats st;
	st_log_get_stats(f.log, &st);
	ck_assert_int_gt(st.segments, 2);
	for (int reopen = 0; reopen < 2; reopen++) {
		for (int i = 0; i < 40; i++) {
			for (int k = 0; k < 4; k++) {
				ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 1000 + 10 * i + k, &off, &ts), 0);
				ck_assert_int_eq(off, 4 * i + k);
				ck_assert_int_eq(ts, 1000 + 10 * i + k);
			}
			/* Between batches: the next batch's first record. */
			if (i < 39) {
				ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 1000 + 10 * i + 5, &off, &ts), 0);
				ck_assert_int_eq(off, 4 * (i + 1));
			}
		}
		ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 0, &off, &ts), 0);
		ck_assert_int_eq(off, 0);
		ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 5000, &off, &ts), ST_ERR_NOT_FOUND);
		ck_assert_int_eq(st_log_max_timestamp(f.log, &off, &ts), 0);
		ck_assert_int_eq(off, 159);
		ck_assert_int_eq(ts, 1000 + 390 + 3);
		tst_fx_reopen(&f);
	}
	tst_fx_close(&f);
}
END_TEST

START_TEST(max_timestamp_names_first_record_with_largest)
{
	tst_fixture f;
	int64_t off, ts;

	tst_fx_open(&f, "log", NULL);
	ck_assert_int_eq(st_log_max_timestamp(f.log, &off, &ts), ST_ERR_NOT_FOUND);
	ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 0, &off, &ts), ST_ERR_NOT_FOUND);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 500, 0, 0, 1000, NULL), 0);   /* 500..502 */
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 900, 0, 0, 1000, NULL), 0);   /* 900..902 */
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 100, 0, 0, 1000, NULL), 0);   /* 100..102 */
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 902, 0, 0, 1000, NULL), 0);   /* 902..904 */
	ck_assert_int_eq(st_log_max_timestamp(f.log, &off, &ts), 0);
	ck_assert_int_eq(off, 11);
	ck_assert_int_eq(ts, 904);
	/* Out of order timestamps: the first record (by offset) >= 600 is
	 * offset 3 (900); >= 150 is offset 0 (500), not offset 6 (100). */
	ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 600, &off, &ts), 0);
	ck_assert_int_eq(off, 3);
	ck_assert_int_eq(ts, 900);
	ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 150, &off, &ts), 0);
	ck_assert_int_eq(off, 0);
	ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 903, &off, &ts), 0);
	ck_assert_int_eq(off, 10);
	tst_fx_close(&f);
}
END_TEST

START_TEST(log_append_time_rewrites_timestamps)
{
	tst_fixture f;
	st_log_config cfg;
	st_append a;
	st_slice sl;
	int64_t off, ts;

	st_log_config_default(&cfg);
	cfg.log_append_time = true;
	tst_fx_open(&f, "log", &cfg);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 5, 0, 0, 777000, &a), 0);
	ck_assert_int_eq(a.log_append_time, 777000);
	ck_assert_int_eq(st_log_read(f.log, 0, 1, -1, &sl), 0);
	uint8_t buf[4096];
	ck_assert_int_lt(sl.len, sizeof(buf));
	ck_assert_int_eq(pread(sl.fd, buf, sl.len, sl.file_pos), (ssize_t)sl.len);
	kp_batch_header h;
	ck_assert_int_eq(kp_batch_validate(buf, sl.len, &h), 0);
	ck_assert(h.attributes & KP_ATTR_LOG_APPEND_TIME);
	ck_assert_int_eq(h.max_timestamp, 777000);
	st_slice_release(&sl);
	ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 700000, &off, &ts), 0);
	ck_assert_int_eq(off, 0);
	ck_assert_int_eq(ts, 777000);
	tst_fx_close(&f);
}
END_TEST

START_TEST(leader_epochs_are_stamped_and_checkpointed)
{
	tst_fixture f;
	st_slice sl;
	char path[4096], text[256];

	tst_fx_open(&f, "log", NULL);
	ck_assert_int_eq(st_log_latest_epoch(f.log), -1);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 3, 1000, NULL), 0);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 3, 1000, NULL), 0);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 5, 1000, NULL), 0);
	ck_assert_int_eq(st_log_latest_epoch(f.log), 5);
	ck_assert_int_eq(st_log_read(f.log, 4, 1, -1, &sl), 0);
	uint8_t hdr[KP_BATCH_HEADER_SIZE];
	kp_batch_header h;
	ck_assert_int_eq(pread(sl.fd, hdr, sizeof(hdr), sl.file_pos), (ssize_t)sizeof(hdr));
	ck_assert_int_eq(kp_batch_header_parse(hdr, sizeof(hdr), &h), 0);
	ck_assert_int_eq(h.partition_leader_epoch, 5);
	st_slice_release(&sl);

	snprintf(path, sizeof(path), "%s/leader-epoch-checkpoint", f.dir);
	FILE *fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	size_t n = fread(text, 1, sizeof(text) - 1, fp);
	text[n] = 0;
	fclose(fp);
	ck_assert_str_eq(text, "0\n2\n3 0\n5 4\n");

	/* Lost checkpoint: rebuilt from the batches by recovery. */
	st_log_close(f.log);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.clean-shutdown", f.dir);
	unlink(path);
	ck_assert_int_eq(st_log_open(f.store, f.dir, &f.cfg, 1000, &f.log), 0);
	ck_assert_int_eq(st_log_latest_epoch(f.log), 5);
	tst_fx_close(&f);
}
END_TEST

START_TEST(high_watermark_can_be_set_apart_from_readable_end)
{
	tst_fixture f;
	st_slice sl;

	tst_fx_open(&f, "log", NULL);
	st_log_set_auto_high_watermark(f.log, false);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 0, 0, 1000, NULL), 0);
	ck_assert_int_eq(st_log_readable_end(f.log), 15);
	ck_assert_int_eq(st_log_high_watermark(f.log), 0);
	st_log_set_high_watermark(f.log, 10);
	ck_assert_int_eq(st_log_high_watermark(f.log), 10);
	ck_assert_int_eq(st_log_read(f.log, 0, 1 << 20, st_log_high_watermark(f.log), &sl), 0);
	ck_assert_int_eq(sl.next_offset, 10);
	st_slice_release(&sl);
	ck_assert_int_eq(st_log_delete_records(f.log, 12), ST_ERR_OFFSET_OUT_OF_RANGE);
	st_log_set_high_watermark(f.log, 1000);
	ck_assert_int_eq(st_log_high_watermark(f.log), 15);
	st_log_set_auto_high_watermark(f.log, true);
	ck_assert_int_eq(st_log_high_watermark(f.log), 15);
	tst_fx_close(&f);
}
END_TEST

/* Many appends in flight at once: they share syncs (group commit). */
typedef struct counter {
	atomic_int done, failed, durable;
} counter;

static void count_cb(st_append *a, int err)
{
	counter *c = a->arg;
	if (err)
		atomic_fetch_add(&c->failed, 1);
	if (a->durable)
		atomic_fetch_add(&c->durable, 1);
	atomic_fetch_add(&c->done, 1);
}

START_TEST(queued_appends_share_syncs)
{
	tst_fixture f;
	enum { N = 400 };
	kp_buf bufs[N];
	st_append as[N];
	counter c = { 0 };

	tst_fx_open(&f, "log", NULL);
	for (int i = 0; i < N; i++) {
		kp_buf_init(&bufs[i]);
		ck_assert_int_eq(tst_build_batch(&bufs[i], 0, i * 2, 2, i, 30), 0);
		memset(&as[i], 0, sizeof(as[i]));
		as[i].data = bufs[i].data;
		as[i].len = bufs[i].len;
		as[i].leader_epoch = -1;
		as[i].cb = count_cb;
		as[i].arg = &c;
	}
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(st_log_append(f.log, &as[i], 1000), 0);
		ck_assert_int_eq(as[i].base_offset, 2 * i);
	}
	int64_t deadline = tst_now_ms() + 30000;
	while (atomic_load(&c.done) < N && tst_now_ms() < deadline)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&c.done), N);
	ck_assert_int_eq(atomic_load(&c.failed), 0);
	ck_assert_int_eq(atomic_load(&c.durable), N);
	st_log_stats st;
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.appends, N);
	ck_assert_msg(st.syncs < N, "%" PRId64 " syncs for %d appends: no group commit", st.syncs, N);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 2 * N);
	for (int i = 0; i < N; i++)
		kp_buf_free(&bufs[i]);
	tst_fx_close(&f);
}
END_TEST

START_TEST(relaxed_flush_acks_before_sync_and_syncs_by_count_or_time)
{
	tst_fixture f;
	st_log_config cfg;
	st_append a;

	st_log_config_default(&cfg);
	cfg.flush_messages = 10;
	cfg.flush_ms = 200;
	tst_fx_open(&f, "log", &cfg);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 1, 0, 0, 1000, &a), 0);
	ck_assert_int_eq(st_log_readable_end(f.log), 3);
	st_log_stats st;
	st_log_get_stats(f.log, &st);
	int64_t s0 = st.syncs;
	/* Reaching flush.messages syncs in the same round: durable. */
	tst_wait w;
	tst_wait_init(&w);
	kp_buf buf;
	kp_buf_init(&buf);
	ck_assert_int_eq(tst_build_batch(&buf, 0, 3, 8, 1, 0), 0);
	st_append b = { .data = buf.data, .len = buf.len, .leader_epoch = -1, .cb = tst_wait_cb, .arg = &w };
	ck_assert_int_eq(st_log_append(f.log, &b, 1000), 0);
	ck_assert_int_eq(tst_wait_for(&w), 0);
	ck_assert(w.durable);
	st_log_get_stats(f.log, &st);
	ck_assert_int_gt(st.syncs, s0);
	s0 = st.syncs;
	tst_wait_destroy(&w);
	kp_buf_free(&buf);

	/* One more, below the count: acked at once, not durable ... */
	tst_wait_init(&w);
	kp_buf_init(&buf);
	ck_assert_int_eq(tst_build_batch(&buf, 0, 11, 1, 1, 0), 0);
	st_append c = { .data = buf.data, .len = buf.len, .leader_epoch = -1, .cb = tst_wait_cb, .arg = &w };
	ck_assert_int_eq(st_log_append(f.log, &c, 1000), 0);
	ck_assert_int_eq(tst_wait_for(&w), 0);
	ck_assert(!w.durable);
	ck_assert_int_eq(st_log_readable_end(f.log), 12);
	/* ... and synced once flush.ms has passed. */
	int64_t deadline = tst_now_ms() + 5000;
	do {
		usleep(10000);
		st_log_get_stats(f.log, &st);
	} while (st.syncs == s0 && tst_now_ms() < deadline);
	ck_assert_int_gt(st.syncs, s0);
	tst_wait_destroy(&w);
	kp_buf_free(&buf);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 12);
	tst_fx_close(&f);
}
END_TEST

START_TEST(close_waits_for_queued_appends)
{
	tst_fixture f;
	enum { N = 50 };
	kp_buf bufs[N];
	st_append as[N];
	counter c = { 0 };

	tst_fx_open(&f, "log", NULL);
	for (int i = 0; i < N; i++) {
		kp_buf_init(&bufs[i]);
		ck_assert_int_eq(tst_build_batch(&bufs[i], 0, i, 1, i, 100), 0);
		as[i] = (st_append){ .data = bufs[i].data, .len = bufs[i].len, .leader_epoch = -1,
				     .cb = count_cb, .arg = &c };
		ck_assert_int_eq(st_log_append(f.log, &as[i], 1000), 0);
	}
	st_log_close(f.log);
	ck_assert_int_eq(atomic_load(&c.done), N);
	ck_assert_int_eq(atomic_load(&c.failed), 0);
	ck_assert_int_eq(st_log_open(f.store, f.dir, &f.cfg, 1000, &f.log), 0);
	ck_assert(st_log_recovery(f.log)->clean);
	ck_assert_int_eq(st_log_recovery(f.log)->segments_scanned, 0);
	ck_assert_int_eq(st_log_end_offset(f.log), N);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), N);
	/* Appending continues where it stopped. */
	st_append a;
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 0, 1000, &a), 0);
	ck_assert_int_eq(a.base_offset, N);
	for (int i = 0; i < N; i++)
		kp_buf_free(&bufs[i]);
	tst_fx_close(&f);
}
END_TEST

/* Several appender threads and several readers on one log. Readers check
 * that what they see is always whole, valid, contiguous and below the
 * readable end. */
typedef struct shared {
	st_log *log;
	atomic_int appenders_left;
	atomic_long records;
	atomic_int errors;
} shared;

static void *appender(void *arg)
{
	shared *sh = arg;
	for (int i = 0; i < 150; i++) {
		kp_buf buf;
		tst_wait w;
		kp_buf_init(&buf);
		/* Offsets are not known in advance with several appenders: the
		 * values carry partition 9 and are not checked against offsets. */
		if (tst_build_batch(&buf, 9, 0, 1 + i % 5, i, 50) != 0) {
			atomic_fetch_add(&sh->errors, 1);
			break;
		}
		tst_wait_init(&w);
		st_append a = { .data = buf.data, .len = buf.len, .leader_epoch = -1,
				.cb = tst_wait_cb, .arg = &w };
		if (st_log_append(sh->log, &a, 1000) != 0 || tst_wait_for(&w) != 0)
			atomic_fetch_add(&sh->errors, 1);
		else
			atomic_fetch_add(&sh->records, a.last_offset - a.base_offset + 1);
		tst_wait_destroy(&w);
		kp_buf_free(&buf);
	}
	atomic_fetch_sub(&sh->appenders_left, 1);
	return NULL;
}

static void *reader(void *arg)
{
	shared *sh = arg;
	uint8_t *buf = malloc(1 << 20);
	int64_t next = 0;

	while (buf) {
		bool last_pass = atomic_load(&sh->appenders_left) == 0;
		int64_t end = st_log_readable_end(sh->log);
		st_slice sl;
		int rc = st_log_read(sh->log, next, 64 << 10, -1, &sl);
		if (rc != 0) {
			atomic_fetch_add(&sh->errors, 1);
			break;
		}
		if (sl.len == 0) {
			st_slice_release(&sl);
			if (last_pass && next == st_log_end_offset(sh->log))
				break;
			continue;
		}
		if (pread(sl.fd, buf, sl.len, sl.file_pos) != (ssize_t)sl.len)
			atomic_fetch_add(&sh->errors, 1);
		size_t pos = 0;
		while (pos < sl.len) {
			kp_batch_header h;
			if (kp_batch_validate(buf + pos, sl.len - pos, &h) != 0 || h.base_offset != next) {
				atomic_fetch_add(&sh->errors, 1);
				break;
			}
			next = kp_batch_last_offset(&h) + 1;
			pos += kp_batch_size(&h);
		}
		if (sl.first_offset < 0 || next > st_log_readable_end(sh->log) || next > end + (1 << 30))
			atomic_fetch_add(&sh->errors, 1);
		st_slice_release(&sl);
	}
	free(buf);
	return (void *)(intptr_t)next;
}

START_TEST(concurrent_appenders_and_readers_see_consistent_log)
{
	tst_fixture f;
	st_log_config cfg;
	shared sh;
	pthread_t ap[4], rd[3];

	st_log_config_default(&cfg);
	cfg.segment_bytes = 16 << 10;
	cfg.index_interval_bytes = 512;
	tst_fx_open(&f, "log", &cfg);
	sh.log = f.log;
	atomic_init(&sh.appenders_left, 4);
	atomic_init(&sh.records, 0);
	atomic_init(&sh.errors, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(pthread_create(&rd[i], NULL, reader, &sh), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&ap[i], NULL, appender, &sh), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(ap[i], NULL);
	for (int i = 0; i < 3; i++) {
		void *r;
		pthread_join(rd[i], &r);
		ck_assert_int_eq((int64_t)(intptr_t)r, atomic_load(&sh.records));
	}
	ck_assert_int_eq(atomic_load(&sh.errors), 0);
	ck_assert_int_eq(st_log_end_offset(f.log), atomic_load(&sh.records));
	st_log_stats st;
	st_log_get_stats(f.log, &st);
	ck_assert_int_gt(st.segments, 3);
	tst_fx_close(&f);
}
END_TEST

/* ----------------------------------------------- records (LogValidator) */

/* One record for rec_batch(): key NULL means keyless. */
typedef struct rec_spec {
	int64_t ts;
	const char *key;
} rec_spec;

static void rec_batch(kp_buf *out, int codec, const rec_spec *r, int n)
{
	kp_batch_builder b;

	kp_buf_init(out);
	kp_batch_builder_init(&b, codec, 0);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(kp_batch_builder_add(&b, r[i].ts, r[i].key,
						      r[i].key ? (int32_t)strlen(r[i].key) : -1,
						      "value", 5, NULL, 0), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&b, out), 0);
	kp_batch_builder_free(&b);
}

/* The header of the batch holding `offset`, as stored; its CRC must hold. */
static void stored_header(st_log *log, int64_t offset, kp_batch_header *h)
{
	st_slice sl;
	uint8_t buf[4096];

	ck_assert_int_eq(st_log_read(log, offset, 1, -1, &sl), 0);
	ck_assert_int_lt(sl.len, sizeof(buf));
	ck_assert_int_eq(pread(sl.fd, buf, sl.len, sl.file_pos), (ssize_t)sl.len);
	ck_assert_int_eq(kp_batch_validate(buf, sl.len, h), 0);
	st_slice_release(&sl);
}

/* kafkajs writes maxTimestamp as the largest timestamp its caller gave,
 * leaving out the records it stamps itself; Kafka sets the field from the
 * records, and so does storage, plain or compressed, CRC and all. */
START_TEST(max_timestamp_is_taken_from_the_records)
{
	static const int codecs[] = { KP_CODEC_NONE, KP_CODEC_GZIP, KP_CODEC_ZSTD };
	const rec_spec r[] = { { 500, "a" }, { 900, "b" }, { 700, "c" } };
	tst_fixture f;
	kp_batch_header h;
	int64_t off, ts;

	tst_fx_open(&f, "log", NULL);
	for (int c = 0; c < 3; c++) {
		kp_buf buf;
		rec_batch(&buf, codecs[c], r, 3);
		/* As the producer claims it: 600, not 900. */
		kp_store_be64(buf.data + KP_BATCH_OFF_MAX_TIMESTAMP, 600);
		kp_batch_update_crc(buf.data, buf.len);
		ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, NULL), 0);
		stored_header(f.log, c * 3, &h);
		ck_assert_int_eq(h.max_timestamp, 900);
		ck_assert_int_eq(kp_batch_codec(&h), codecs[c]);
		kp_buf_free(&buf);
	}
	/* A right maxTimestamp is left as it is (the bytes and CRC too). */
	kp_buf buf;
	rec_batch(&buf, KP_CODEC_NONE, r, 3);
	uint8_t *copy = malloc(buf.len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, buf.data, buf.len);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, NULL), 0);
	ck_assert_int_eq(memcmp(buf.data + KP_BATCH_OFF_MAX_TIMESTAMP, copy + KP_BATCH_OFF_MAX_TIMESTAMP,
				buf.len - KP_BATCH_OFF_MAX_TIMESTAMP), 0);
	free(copy);
	kp_buf_free(&buf);
	/* ListOffsets by time now finds the record at 900 in the first batch. */
	ck_assert_int_eq(st_log_offset_for_timestamp(f.log, 800, &off, &ts), 0);
	ck_assert_int_eq(off, 1);
	ck_assert_int_eq(ts, 900);
	tst_fx_close(&f);
}
END_TEST

/* message.timestamp.before.max.ms / after.max.ms on a CreateTime log, and
 * the LogAppendTime a producer may not claim. */
START_TEST(timestamps_outside_the_window_are_refused)
{
	static const struct { int64_t ts; int rc; } cases[] = {
		{ 8999, ST_ERR_INVALID_TIMESTAMP }, { 9000, 0 }, { 10000, 0 }, { 10500, 0 },
		{ 10501, ST_ERR_INVALID_TIMESTAMP }, { -1, 0 },
		{ INT64_MIN, ST_ERR_INVALID_TIMESTAMP }, { INT64_MAX, ST_ERR_INVALID_TIMESTAMP },
	};
	tst_fixture f;
	st_log_config cfg;
	kp_buf buf;

	st_log_config_default(&cfg);
	cfg.ts_before_max_ms = 1000;
	cfg.ts_after_max_ms = 500;
	tst_fx_open(&f, "log", &cfg);
	int64_t end = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rec_spec r[] = { { cases[i].ts, "a" } };
		rec_batch(&buf, KP_CODEC_NONE, r, 1);
		ck_assert_msg(tst_append_buf(f.log, &buf, 0, 10000, NULL) == cases[i].rc, "timestamp %" PRId64,
			      cases[i].ts);
		end += cases[i].rc == 0 ? 1 : 0;
		ck_assert_int_eq(st_log_end_offset(f.log), end);
		kp_buf_free(&buf);
	}
	/* One record out of the window refuses the whole batch, and the
	 * refusal names that record and the window. */
	st_append out;
	rec_spec two[] = { { 10000, "a" }, { 8999, "b" } };
	rec_batch(&buf, KP_CODEC_NONE, two, 2);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 10000, &out), ST_ERR_INVALID_TIMESTAMP);
	ck_assert_int_eq(st_log_end_offset(f.log), end);
	ck_assert_int_eq(out.refused_index, 1);
	ck_assert_str_eq(out.refused_why, "timestamp 8999 of record 1 is out of range: "
			 "it should be within [9000, 10500]");
	kp_buf_free(&buf);
	/* The window's ends are held to int64_t in the words. */
	cfg.ts_before_max_ms = INT64_MAX;
	cfg.ts_after_max_ms = 0;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), 0);
	rec_spec late[] = { { 10001, "a" } };
	rec_batch(&buf, KP_CODEC_NONE, late, 1);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 10000, &out), ST_ERR_INVALID_TIMESTAMP);
	ck_assert_str_eq(out.refused_why, "timestamp 10001 of record 0 is out of range: "
			 "it should be within [-9223372036854765807, 10000]");
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, -10, &out), ST_ERR_INVALID_TIMESTAMP);
	ck_assert_str_eq(out.refused_why, "timestamp 10001 of record 0 is out of range: "
			 "it should be within [-9223372036854775808, -10]");
	kp_buf_free(&buf);
	cfg.ts_before_max_ms = 0;
	cfg.ts_after_max_ms = INT64_MAX;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), 0);
	rec_batch(&buf, KP_CODEC_NONE, two, 1);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 10001, &out), ST_ERR_INVALID_TIMESTAMP);
	ck_assert_str_eq(out.refused_why, "timestamp 10000 of record 0 is out of range: "
			 "it should be within [10001, 9223372036854775807]");
	kp_buf_free(&buf);
	/* A producer's batch marked LogAppendTime. */
	rec_spec one[] = { { 10000, "a" } };
	rec_batch(&buf, KP_CODEC_NONE, one, 1);
	buf.data[KP_BATCH_OFF_ATTRIBUTES + 1] |= KP_ATTR_LOG_APPEND_TIME;
	kp_batch_update_crc(buf.data, buf.len);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 10000, &out), ST_ERR_INVALID_TIMESTAMP);
	ck_assert_int_eq(out.refused_index, 0);
	ck_assert_ptr_nonnull(strstr(out.refused_why, "LogAppendTime"));
	kp_buf_free(&buf);
	/* The window is for CreateTime: a LogAppendTime log stamps its own. */
	cfg.log_append_time = true;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), 0);
	rec_spec old[] = { { 5, "a" } };
	rec_batch(&buf, KP_CODEC_NONE, old, 1);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 10000, NULL), 0);
	kp_buf_free(&buf);
	cfg.ts_before_max_ms = -1;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), ST_ERR_CONFIG);
	tst_fx_close(&f);
}
END_TEST

START_TEST(compacted_log_refuses_records_without_key)
{
	const rec_spec mixed[] = { { 100, "a" }, { 101, NULL } };
	tst_fixture f;
	st_log_config cfg;
	kp_buf buf;

	st_log_config_default(&cfg);
	cfg.compact = true;
	tst_fx_open(&f, "log", &cfg);
	st_append out;
	rec_batch(&buf, KP_CODEC_NONE, mixed, 2);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, &out), ST_ERR_INVALID_RECORD);
	ck_assert_int_eq(out.refused_index, 1);
	ck_assert_str_eq(out.refused_why, "record 1 has no key, which a compacted topic "
			 "(cleanup.policy=compact) needs");
	kp_buf_free(&buf);
	/* Compressed: the records are inflated to see their keys. */
	rec_batch(&buf, KP_CODEC_LZ4, mixed, 2);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, &out), ST_ERR_INVALID_RECORD);
	ck_assert_int_eq(out.refused_index, 1);
	kp_buf_free(&buf);
	ck_assert_int_eq(st_log_end_offset(f.log), 0);
	rec_batch(&buf, KP_CODEC_NONE, mixed, 1);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, NULL), 0);
	kp_buf_free(&buf);
	/* Without compaction a keyless record is fine. */
	cfg.compact = false;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), 0);
	rec_batch(&buf, KP_CODEC_NONE, mixed, 2);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, NULL), 0);
	kp_buf_free(&buf);
	ck_assert_int_eq(st_log_end_offset(f.log), 3);
	tst_fx_close(&f);
}
END_TEST

/* A batch whose CRC holds but whose records do not add up: what the
 * producer built, so INVALID_RECORD (not CORRUPT_MESSAGE, which a client
 * retries). */
START_TEST(records_that_do_not_parse_are_invalid)
{
	const rec_spec r[] = { { 100, "a" }, { 101, "b" } };
	tst_fixture f;
	kp_buf buf;

	tst_fx_open(&f, "log", NULL);
	rec_batch(&buf, KP_CODEC_NONE, r, 2);
	/* The first record's length (a zigzag varint, one byte here) one
	 * larger: it swallows a byte of the next record. */
	uint8_t *len = buf.data + KP_BATCH_HEADER_SIZE;
	ck_assert_int_lt(*len, 0x7e);
	*len += 2;
	kp_batch_update_crc(buf.data, buf.len);
	st_append out;
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, &out), ST_ERR_INVALID_RECORD);
	ck_assert_int_eq(st_log_end_offset(f.log), 0);
	/* The first record reads past its end, into the second. */
	ck_assert_int_eq(out.refused_index, 0);
	ck_assert_ptr_nonnull(strstr(out.refused_why, "record 0 of 2 does not parse"));
	/* A bad CRC is the whole batch's fault, and said so. */
	buf.data[buf.len - 1] ^= 1;
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, &out), KP_ERR_CRC);
	ck_assert_int_eq(out.refused_index, -1);
	ck_assert_ptr_nonnull(strstr(out.refused_why, "the batch at byte 0: "));
	kp_buf_free(&buf);
	tst_fx_close(&f);
}
END_TEST

START_TEST(config_out_of_range_is_refused)
{
	tst_fixture f;
	st_log_config cfg;
	st_log *l2;

	tst_fx_open(&f, "log", NULL);
	st_log_config_default(&cfg);
	cfg.segment_bytes = (int64_t)1 << 31;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), ST_ERR_CONFIG);
	st_log_config_default(&cfg);
	cfg.flush_messages = 0;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), ST_ERR_CONFIG);
	/* An open refused says so itself, naming the directory. */
	tst_lines lines;
	st_store *s = tst_store_open_collecting(&lines);
	ck_assert_int_eq(st_log_open(s, "/nonexistent-dir-x", &cfg, 0, &l2), ST_ERR_CONFIG);
	ck_assert_int_eq(lines.count, 1);
	ck_assert(tst_lines_contain(&lines, "/nonexistent-dir-x: cannot open the log: "));
	st_store_close(s);
	st_log_config_default(&cfg);
	cfg.retention_ms = -1;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), 0);
	char name[64];
	st_segment_filename(name, sizeof(name), 42, ".log");
	ck_assert_str_eq(name, "00000000000000000042.log");
	tst_fx_close(&f);
}
END_TEST

/* A log whose directory is renamed away for deletion: from the moment it is
 * told, appends, rolls, retention and DeleteRecords stop, reads go on from
 * the open files, and neither the rename nor the close that discards it
 * makes a log line (before, a roll racing the rename found the directory
 * gone, said so and took the log offline). Told it stays after all (the
 * rename failed), it takes appends again. */
START_TEST(deleting_log_stops_writing_and_stays_quiet)
{
	tst_lines lines;
	st_store *s = tst_store_open_collecting(&lines);
	st_log_config cfg;
	st_log *log;
	char *dir = tst_tmpdir("deleting");
	char moved[4096];
	int deleted = -1;

	st_log_config_default(&cfg);
	cfg.segment_bytes = 4096;
	cfg.retention_ms = 0;
	ck_assert_int_eq(st_log_open(s, dir, &cfg, tst_now_ms(), &log), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(tst_append_sync(log, 0, 4, 1000 + i, 400, 0, tst_now_ms(), NULL), 0);
	int64_t end = st_log_end_offset(log);

	/* Undone: appends resume. */
	st_log_set_deleting(log, true);
	ck_assert_int_eq(tst_append_sync(log, 0, 1, 2000, 0, 0, tst_now_ms(), NULL), ST_ERR_DELETING);
	st_log_set_deleting(log, false);
	ck_assert_int_eq(tst_append_sync(log, 0, 1, 2000, 0, 0, tst_now_ms(), NULL), 0);
	end++;

	st_log_set_deleting(log, true);
	ck_assert_int_eq(tst_append_sync(log, 0, 1, 3000, 0, 0, tst_now_ms(), NULL), ST_ERR_DELETING);
	ck_assert_int_eq(st_log_roll(log, tst_now_ms()), ST_ERR_DELETING);
	ck_assert_int_eq(st_log_delete_records(log, 1), ST_ERR_DELETING);
	ck_assert_int_eq(st_log_enforce_retention(log, tst_now_ms() + 3600 * 1000, &deleted), 0);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(st_log_start_offset(log), 0);

	snprintf(moved, sizeof(moved), "%s.x-delete", dir);
	ck_assert_int_eq(rename(dir, moved), 0);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), end);
	st_log_close_discard(log);
	ck_assert_msg(lines.count == 0, "said: %s", lines.text);
	st_store_close(s);
	tst_rmrf(moved);
	free(dir);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, store_backend_follows_environment);
	tcase_add_test(tc, append_assigns_offsets_and_reads_back);
	tcase_add_test(tc, append_of_several_batches_at_once_is_contiguous);
	tcase_add_test(tc, append_rejects_bad_batches_without_callback);
	tcase_add_test(tc, read_returns_at_least_one_whole_batch);
	tcase_add_test(tc, read_bounds_and_out_of_range);
	tcase_add_test(tc, read_finds_every_offset_through_the_sparse_index);
	tcase_add_test(tc, read_budget_ends_at_the_same_batch_as_a_header_walk);
	tcase_add_test(tc, offset_for_timestamp_finds_first_record_at_or_after);
	tcase_add_test(tc, max_timestamp_names_first_record_with_largest);
	tcase_add_test(tc, log_append_time_rewrites_timestamps);
	tcase_add_test(tc, leader_epochs_are_stamped_and_checkpointed);
	tcase_add_test(tc, high_watermark_can_be_set_apart_from_readable_end);
	tcase_add_test(tc, queued_appends_share_syncs);
	tcase_add_test(tc, relaxed_flush_acks_before_sync_and_syncs_by_count_or_time);
	tcase_add_test(tc, close_waits_for_queued_appends);
	tcase_add_test(tc, concurrent_appenders_and_readers_see_consistent_log);
	tcase_add_test(tc, config_out_of_range_is_refused);
	tcase_add_test(tc, max_timestamp_is_taken_from_the_records);
	tcase_add_test(tc, timestamps_outside_the_window_are_refused);
	tcase_add_test(tc, compacted_log_refuses_records_without_key);
	tcase_add_test(tc, records_that_do_not_parse_are_invalid);
	tcase_add_test(tc, deleting_log_stops_writing_and_stays_quiet);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(log_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
