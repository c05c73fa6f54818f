/*
 * test_producer.c -- idempotent producer state of a partition log
 * (storage/producer.c): every outcome of the sequence checks, duplicates
 * answered with the original's offsets, snapshots at roll and close,
 * rebuild by replay after a crash, corrupt snapshots, retention,
 * DeleteRecords, expiry and a failed write rolling the state back.
 *
 * Runs with io_uring and with the pwrite fallback (meson sets
 * REWIND_IO_URING); each test is a forked child.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st_test.h"
#include "storage/st_int.h"

/* One idempotent batch of n records, values "v<seq>". */
static void pbatch(kp_buf *out, int64_t pid, int16_t epoch, int32_t seq, int n)
{
	kp_batch_builder b;
	char val[32];

	kp_batch_builder_init(&b, KP_CODEC_NONE, 0);
	b.producer_id = pid;
	b.producer_epoch = epoch;
	b.base_sequence = seq;
	for (int i = 0; i < n; i++) {
		int len = snprintf(val, sizeof(val), "v%" PRId32, seq + i);
		ck_assert_int_eq(kp_batch_builder_add(&b, 1000 + i, NULL, -1, val, len, NULL, 0), 0);
	}
	ck_assert_int_eq(kp_batch_builder_finish(&b, out), 0);
	kp_batch_builder_free(&b);
}

/* Appends one idempotent batch; *base (may be NULL) gets its base offset
 * and *dup whether it was a duplicate. */
static int produce(st_log *log, int64_t pid, int16_t epoch, int32_t seq, int n, int64_t now_ms,
		   int64_t *base, bool *dup)
{
	kp_buf buf;
	st_append a;

	kp_buf_init(&buf);
	pbatch(&buf, pid, epoch, seq, n);
	int rc = tst_append_buf(log, &buf, 0, now_ms, &a);
	kp_buf_free(&buf);
	if (rc == 0 && base)
		*base = a.base_offset;
	if (rc == 0 && dup)
		*dup = a.duplicate;
	return rc;
}

static void produce_ok(st_log *log, int64_t pid, int16_t epoch, int32_t seq, int n,
		       int64_t want_base)
{
	int64_t base;
	bool dup;

	ck_assert_int_eq(produce(log, pid, epoch, seq, n, 1000, &base, &dup), 0);
	ck_assert(!dup);
	ck_assert_int_eq(base, want_base);
}

static void produce_dup(st_log *log, int64_t pid, int16_t epoch, int32_t seq, int n,
			int64_t want_base)
{
	int64_t base, end = st_log_end_offset(log);
	bool dup;

	ck_assert_int_eq(produce(log, pid, epoch, seq, n, 1000, &base, &dup), 0);
	ck_assert(dup);
	ck_assert_int_eq(base, want_base);
	ck_assert_int_eq(st_log_end_offset(log), end);
}

/* The log's entry for pid (asserts it exists). */
static st_producer producer_of(st_log *log, int64_t pid)
{
	st_producer *all, found;
	size_t n;
	bool seen = false;

	ck_assert_int_eq(st_log_producers(log, &all, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (all[i].producer_id == pid) {
			found = all[i];
			seen = true;
		}
	}
	free(all);
	ck_assert_msg(seen, "producer %" PRId64 " not in the state", pid);
	return found;
}

static size_t producer_count(st_log *log)
{
	st_producer *all;
	size_t n;

	ck_assert_int_eq(st_log_producers(log, &all, &n), 0);
	free(all);
	return n;
}

static int count_snapshots(const char *dir, int64_t *newest)
{
	char cmd[4200];
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls %s", dir);
	FILE *p = popen(cmd, "r");
	char line[256];
	*newest = -1;
	while (p && fgets(line, sizeof(line), p)) {
		long long off;
		if (sscanf(line, "%20lld.snapshot", &off) == 1 && strstr(line, ".snapshot")) {
			n++;
			if (off > *newest)
				*newest = off;
		}
	}
	if (p)
		pclose(p);
	return n;
}

START_TEST(producer_batches_in_sequence_are_appended_and_tracked)
{
	tst_fixture f;

	tst_fx_open(&f, "prod", NULL);
	produce_ok(f.log, 7, 0, 0, 3, 0);
	produce_ok(f.log, 7, 0, 3, 2, 3);
	/* Batches without a producer id are not checked at all. */
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 0, 1000, NULL), 0);
	produce_ok(f.log, 8, 3, 100, 1, 7);
	st_producer p = producer_of(f.log, 7);
	ck_assert_int_eq(p.producer_epoch, 0);
	ck_assert_int_eq(p.n_batches, 2);
	ck_assert_int_eq(p.batches[1].first_seq, 3);
	ck_assert_int_eq(p.batches[1].last_seq, 4);
	ck_assert_int_eq(p.batches[1].first_offset, 3);
	ck_assert_int_eq(p.batches[1].last_offset, 4);
	ck_assert_int_eq(p.last_timestamp, 1000);
	ck_assert_int_eq(producer_count(f.log), 2);
	ck_assert_int_eq(st_log_end_offset(f.log), 8);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_retry_of_each_of_the_last_five_batches_is_a_duplicate)
{
	tst_fixture f;

	tst_fx_open(&f, "prod", NULL);
	for (int i = 0; i < 7; i++)
		produce_ok(f.log, 1, 0, i * 2, 2, i * 2);
	/* The last five are batches 2..6: answered with their own offsets. */
	for (int i = 2; i < 7; i++)
		produce_dup(f.log, 1, 0, i * 2, 2, i * 2);
	/* Older ones are beyond the window: a sequence that does not follow. */
	ck_assert_int_eq(produce(f.log, 1, 0, 2, 2, 1000, NULL, NULL), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	/* A retry must match the batch exactly: same first, other last. */
	ck_assert_int_eq(produce(f.log, 1, 0, 12, 1, 1000, NULL, NULL), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	ck_assert_int_eq(st_log_end_offset(f.log), 14);
	produce_ok(f.log, 1, 0, 14, 1, 14);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_sequence_gap_is_out_of_order_and_appends_nothing)
{
	tst_fixture f;

	tst_fx_open(&f, "prod", NULL);
	produce_ok(f.log, 1, 0, 0, 5, 0);
	ck_assert_int_eq(produce(f.log, 1, 0, 6, 1, 1000, NULL, NULL), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	ck_assert_int_eq(produce(f.log, 1, 0, 4, 1, 1000, NULL, NULL), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	ck_assert_int_eq(st_log_end_offset(f.log), 5);
	ck_assert_int_eq(producer_of(f.log, 1).n_batches, 1);
	produce_ok(f.log, 1, 0, 5, 1, 5);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_old_epoch_is_fenced_and_new_epoch_starts_at_zero)
{
	tst_fixture f;

	tst_fx_open(&f, "prod", NULL);
	produce_ok(f.log, 1, 2, 0, 3, 0);
	ck_assert_int_eq(produce(f.log, 1, 1, 3, 1, 1000, NULL, NULL), ST_ERR_INVALID_PRODUCER_EPOCH);
	/* Even a retry of an old batch under an old epoch is fenced. */
	ck_assert_int_eq(produce(f.log, 1, 1, 0, 3, 1000, NULL, NULL), ST_ERR_INVALID_PRODUCER_EPOCH);
	/* A bumped epoch must restart its sequence. */
	ck_assert_int_eq(produce(f.log, 1, 3, 3, 1, 1000, NULL, NULL), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	produce_ok(f.log, 1, 3, 0, 2, 3);
	st_producer p = producer_of(f.log, 1);
	ck_assert_int_eq(p.producer_epoch, 3);
	ck_assert_int_eq(p.n_batches, 1);
	/* The previous epoch's batches are no longer retried. */
	ck_assert_int_eq(produce(f.log, 1, 2, 0, 3, 1000, NULL, NULL), ST_ERR_INVALID_PRODUCER_EPOCH);
	ck_assert_int_eq(st_log_end_offset(f.log), 5);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_unknown_to_the_log_is_accepted_at_any_sequence)
{
	tst_fixture f;

	tst_fx_open(&f, "prod", NULL);
	/* Kafka since 2.5 (KIP-360): a producer whose state is gone goes on. */
	produce_ok(f.log, 42, 5, 1234, 2, 0);
	produce_ok(f.log, 42, 5, 1236, 1, 2);
	ck_assert_int_eq(produce(f.log, 42, 5, 1238, 1, 1000, NULL, NULL), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_fields_no_producer_sends_are_invalid_record)
{
	tst_fixture f;

	tst_fx_open(&f, "prod", NULL);
	ck_assert_int_eq(produce(f.log, 1, 0, -5, 1, 1000, NULL, NULL), ST_ERR_INVALID_RECORD);
	ck_assert_int_eq(produce(f.log, 1, -1, 0, 1, 1000, NULL, NULL), ST_ERR_INVALID_RECORD);
	ck_assert_int_eq(produce(f.log, -7, 0, 0, 1, 1000, NULL, NULL), ST_ERR_INVALID_RECORD);
	ck_assert_int_eq(st_log_end_offset(f.log), 0);
	ck_assert_int_eq(producer_count(f.log), 0);
	ck_assert_str_eq(st_strerror(ST_ERR_INVALID_RECORD),
			 "invalid record: negative producer sequence or epoch, "
			 "records that do not parse, or no key on a compacted log");
	/* The refusal says why, with no one record at fault; a sequence gap
	 * (the producer's state, not the bytes) has no words of storage's. */
	kp_buf buf;
	st_append a;
	kp_buf_init(&buf);
	pbatch(&buf, 1, 0, -5, 1);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, &a), ST_ERR_INVALID_RECORD);
	ck_assert_int_eq(a.refused_index, -1);
	ck_assert_str_eq(a.refused_why, "a batch's producer id, epoch or base sequence is "
			 "negative where no producer's is");
	kp_buf_free(&buf);
	produce_ok(f.log, 1, 0, 0, 1, 0);
	kp_buf_init(&buf);
	pbatch(&buf, 1, 0, 7, 1);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, &a), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	ck_assert_str_eq(a.refused_why, "");
	kp_buf_free(&buf);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_sequence_wraps_after_int32_max)
{
	tst_fixture f;

	tst_fx_open(&f, "prod", NULL);
	produce_ok(f.log, 9, 0, INT32_MAX - 3, 2, 0);
	/* INT32_MAX-1 .. INT32_MAX, then 0 .. 1 in one batch. */
	produce_ok(f.log, 9, 0, INT32_MAX - 1, 4, 2);
	st_producer p = producer_of(f.log, 9);
	ck_assert_int_eq(p.batches[1].first_seq, INT32_MAX - 1);
	ck_assert_int_eq(p.batches[1].last_seq, 1);
	produce_dup(f.log, 9, 0, INT32_MAX - 1, 4, 2);
	ck_assert_int_eq(produce(f.log, 9, 0, 3, 1, 1000, NULL, NULL), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	produce_ok(f.log, 9, 0, 2, 1, 6);
	/* And a batch ending exactly at INT32_MAX is followed by 0. */
	produce_ok(f.log, 10, 0, INT32_MAX, 1, 7);
	produce_ok(f.log, 10, 0, 0, 1, 8);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_batches_of_one_append_are_checked_in_order)
{
	tst_fixture f;
	kp_buf buf;
	st_append a;

	tst_fx_open(&f, "prod", NULL);
	kp_buf_init(&buf);
	pbatch(&buf, 1, 0, 0, 2);
	pbatch(&buf, 1, 0, 2, 2);
	pbatch(&buf, 2, 0, 0, 1);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, &a), 0);
	ck_assert(!a.duplicate);
	ck_assert_int_eq(producer_of(f.log, 1).n_batches, 2);
	ck_assert_int_eq(producer_of(f.log, 1).batches[1].first_offset, 2);
	/* A gap in the second batch refuses the whole append. */
	kp_buf_free(&buf);
	kp_buf_init(&buf);
	pbatch(&buf, 1, 0, 4, 1);
	pbatch(&buf, 1, 0, 9, 1);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, NULL), ST_ERR_OUT_OF_ORDER_SEQUENCE);
	ck_assert_int_eq(st_log_end_offset(f.log), 5);
	ck_assert_int_eq(producer_of(f.log, 1).n_batches, 2);
	/* A duplicate anywhere makes the append a duplicate (Kafka's rule). */
	kp_buf_free(&buf);
	kp_buf_init(&buf);
	pbatch(&buf, 2, 0, 1, 1);
	pbatch(&buf, 1, 0, 2, 2);
	ck_assert_int_eq(tst_append_buf(f.log, &buf, 0, 1000, &a), 0);
	ck_assert(a.duplicate);
	ck_assert_int_eq(a.base_offset, 2);
	ck_assert_int_eq(a.last_offset, 3);
	ck_assert_int_eq(st_log_end_offset(f.log), 5);
	kp_buf_free(&buf);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_state_survives_a_clean_close_through_the_snapshot)
{
	tst_fixture f;
	int64_t newest;

	tst_fx_open(&f, "prod", NULL);
	produce_ok(f.log, 1, 0, 0, 2, 0);
	produce_ok(f.log, 2, 4, 10, 3, 2);
	tst_fx_reopen(&f);
	ck_assert_int_eq(count_snapshots(f.dir, &newest), 1);
	ck_assert_int_eq(newest, 5);
	ck_assert(st_log_recovery(f.log)->clean);
	produce_dup(f.log, 2, 4, 10, 3, 2);
	produce_dup(f.log, 1, 0, 0, 2, 0);
	ck_assert_int_eq(produce(f.log, 2, 3, 13, 1, 1000, NULL, NULL), ST_ERR_INVALID_PRODUCER_EPOCH);
	produce_ok(f.log, 2, 4, 13, 1, 5);

	/* The file reads back as the state it was taken from. */
	char path[4200];
	int64_t off;
	st_producer *ps;
	size_t n;
	snprintf(path, sizeof(path), "%s/00000000000000000005.snapshot", f.dir);
	ck_assert_int_eq(st_snapshot_read(path, &off, &ps, &n), 0);
	ck_assert_int_eq(off, 5);
	ck_assert_int_eq(n, 2);
	free(ps);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_snapshot_is_written_at_roll_and_only_two_are_kept)
{
	tst_fixture f;
	st_log_config cfg;
	int64_t newest;

	st_log_config_default(&cfg);
	cfg.segment_bytes = 300;
	tst_fx_open(&f, "prod", &cfg);
	for (int i = 0; i < 12; i++)
		produce_ok(f.log, 1, 0, i, 1, i);
	st_log_stats st;
	st_log_get_stats(f.log, &st);
	ck_assert_int_ge(st.segments, 3);
	/* Seals run on the writer: wait for them. */
	st__store_barrier(f.store);
	ck_assert_int_eq(count_snapshots(f.dir, &newest), 2);
	ck_assert_int_eq(newest, st.active_base_offset);

	/* A crash (no close): a copy of the directory recovers by loading
	 * the roll's snapshot and replaying the active segment. */
	tst_fixture g;
	char *copy = tst_tmpdir("prodcopy");
	tst_copy_dir(f.dir, copy);
	tst_fx_open_at(&g, copy, &cfg, 2000);
	ck_assert(!st_log_recovery(g.log)->clean);
	st_producer p = producer_of(g.log, 1);
	ck_assert_int_eq(p.n_batches, 5);
	ck_assert_int_eq(p.batches[4].last_seq, 11);
	produce_dup(g.log, 1, 0, 9, 1, 9);
	produce_ok(g.log, 1, 0, 12, 1, 12);
	tst_fx_close(&g);
	free(copy);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_state_is_rebuilt_from_the_log_without_any_snapshot)
{
	tst_fixture f;
	st_log_config cfg;

	st_log_config_default(&cfg);
	cfg.segment_bytes = 300;
	tst_fx_open(&f, "prod", &cfg);
	for (int i = 0; i < 10; i++)
		produce_ok(f.log, 3, 1, i * 3, 3, i * 3);
	st__store_barrier(f.store);
	char *copy = tst_tmpdir("prodcopy");
	tst_copy_dir(f.dir, copy);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.snapshot", copy);
	ck_assert_int_eq(system(cmd), 0);
	tst_fixture g;
	tst_fx_open_at(&g, copy, &cfg, 2000);
	st_producer p = producer_of(g.log, 3);
	ck_assert_int_eq(p.producer_epoch, 1);
	ck_assert_int_eq(p.n_batches, 5);
	ck_assert_int_eq(p.batches[0].first_seq, 15);
	ck_assert_int_eq(p.batches[4].last_offset, 29);
	/* Replayed producers count as seen at open. */
	ck_assert_int_eq(p.last_timestamp, 2000);
	produce_dup(g.log, 3, 1, 24, 3, 24);
	tst_fx_close(&g);
	free(copy);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_corrupt_snapshot_is_ignored_and_the_state_rebuilt)
{
	tst_fixture f;
	tst_lines lines;

	tst_fx_open(&f, "prod", NULL);
	produce_ok(f.log, 1, 0, 0, 2, 0);
	produce_ok(f.log, 1, 0, 2, 2, 2);
	st_log_close(f.log);
	f.log = NULL;
	char path[4200];
	snprintf(path, sizeof(path), "%s/00000000000000000004.snapshot", f.dir);
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	uint8_t byte;
	ck_assert_int_eq(pread(fd, &byte, 1, 40), 1);
	byte ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &byte, 1, 40), 1);
	close(fd);
	int64_t off;
	st_producer *ps;
	size_t n;
	ck_assert_int_eq(st_snapshot_read(path, &off, &ps, &n), ST_ERR_CORRUPT);

	/* Reopen with a hook that collects the log lines. */
	st_store_close(f.store);
	f.store = tst_store_open_collecting(&lines);
	ck_assert_int_eq(st_log_open(f.store, f.dir, &f.cfg, 1000, &f.log), 0);
	ck_assert_msg(tst_lines_contain(&lines, "00000000000000000004.snapshot"), "%s", lines.text);
	ck_assert_int_eq(access(path, F_OK), -1);
	produce_dup(f.log, 1, 0, 2, 2, 2);
	produce_ok(f.log, 1, 0, 4, 1, 4);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_snapshot_reader_refuses_garbage)
{
	char *dir = tst_tmpdir("snap");
	char path[4200];
	int64_t off;
	st_producer *ps;
	size_t n;
	st__pstate st;
	uint8_t *buf;
	size_t len;

	snprintf(path, sizeof(path), "%s/x.snapshot", dir);
	ck_assert_int_eq(st_snapshot_read(path, &off, &ps, &n), -ENOENT);
	/* A good one to damage. */
	st__pstate_init(&st);
	ck_assert_int_eq(st__pstate_reserve(&st, 1), 0);
	st_producer p = { .producer_id = 5, .producer_epoch = 1, .n_batches = 1, .last_timestamp = 7,
			  .batches = { { 0, 9, 0, 9 } } };
	st__pstate_put(&st, &p);
	ck_assert_int_eq(st__pstate_encode(&st, 10, &buf, &len), 0);
	ck_assert_int_eq(len, 24 + 144 + 8);
	static const struct { size_t at; uint8_t x; size_t cut; } cases[] = {
		{ 0, 'X', 0 },          /* magic */
		{ 5, 2, 0 },            /* version */
		{ 100, 1, 0 },          /* a byte of an entry: checksum */
		{ 0, 0, 8 },            /* short by the trailer */
		{ 0, 0, 170 },          /* shorter than a header and trailer */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *copy = malloc(len);
		memcpy(copy, buf, len);
		copy[cases[i].at] ^= cases[i].x;
		FILE *fp = fopen(path, "w");
		fwrite(copy, 1, len - cases[i].cut, fp);
		fclose(fp);
		ck_assert_int_eq(st_snapshot_read(path, &off, &ps, &n), ST_ERR_CORRUPT);
		free(copy);
	}
	/* A well-formed file whose batch lies beyond its own offset. */
	st_producer *e = st__pstate_find(&st, 5);
	e->batches[0].last_offset = 10;
	free(buf);
	ck_assert_int_eq(st__pstate_encode(&st, 10, &buf, &len), 0);
	st__pstate dec;
	st__pstate_init(&dec);
	ck_assert_int_eq(st__pstate_decode(buf, len, &off, &dec), ST_ERR_CORRUPT);
	/* And the good one decodes. */
	e->batches[0].last_offset = 9;
	free(buf);
	ck_assert_int_eq(st__pstate_encode(&st, 10, &buf, &len), 0);
	ck_assert_int_eq(st__pstate_decode(buf, len, &off, &dec), 0);
	ck_assert_int_eq(off, 10);
	ck_assert_int_eq(dec.n, 1);
	ck_assert_int_eq(st__pstate_find(&dec, 5)->last_timestamp, 7);
	st__pstate_free(&dec);
	free(buf);
	st__pstate_free(&st);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(producer_snapshot_beyond_the_recovered_end_is_removed)
{
	tst_fixture f;

	tst_fx_open(&f, "prod", NULL);
	produce_ok(f.log, 1, 0, 0, 2, 0);
	tst_fx_reopen(&f);   /* snapshot at 2 */
	produce_ok(f.log, 1, 0, 2, 2, 2);
	st_log_close(f.log);  /* snapshot at 4 */
	f.log = NULL;
	/* Cut the log back to offset 2: the snapshot at 4 describes batches
	 * that are gone; the one at 2 is right. */
	char path[4200];
	snprintf(path, sizeof(path), "%s/00000000000000000000.log", f.dir);
	int64_t size = tst_file_size(path);
	ck_assert_int_eq(truncate(path, size / 2), 0);
	snprintf(path, sizeof(path), "%s/.clean-shutdown", f.dir);
	unlink(path);
	ck_assert_int_eq(st_log_open(f.store, f.dir, &f.cfg, 1000, &f.log), 0);
	ck_assert_int_eq(st_log_end_offset(f.log), 2);
	snprintf(path, sizeof(path), "%s/00000000000000000004.snapshot", f.dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(producer_of(f.log, 1).batches[0].last_seq, 1);
	produce_ok(f.log, 1, 0, 2, 2, 2);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_without_data_left_is_forgotten_by_retention_and_delete_records)
{
	tst_fixture f;
	st_log_config cfg;
	int deleted;

	st_log_config_default(&cfg);
	cfg.segment_bytes = 300;
	cfg.retention_ms = -1;
	tst_fx_open(&f, "prod", &cfg);
	produce_ok(f.log, 1, 0, 0, 1, 0);
	for (int i = 0; i < 8; i++)
		produce_ok(f.log, 2, 0, i, 1, 1 + i);
	st__store_barrier(f.store);
	/* DeleteRecords past producer 1's only batch. */
	ck_assert_int_eq(st_log_delete_records(f.log, 3), 0);
	ck_assert_int_eq(producer_count(f.log), 1);
	/* It may go on at any sequence, as after Kafka's eviction. */
	produce_ok(f.log, 1, 0, 57, 1, 9);
	ck_assert_int_eq(st_log_delete_records(f.log, 9), 0);
	ck_assert_int_eq(producer_count(f.log), 1);
	ck_assert_int_eq(st_log_enforce_retention(f.log, 5000, &deleted), 0);
	ck_assert_int_gt(deleted, 0);
	ck_assert_int_eq(producer_count(f.log), 1);
	/* The state after a reopen agrees. */
	tst_fx_reopen(&f);
	ck_assert_int_eq(producer_count(f.log), 1);
	ck_assert_int_eq(producer_of(f.log, 1).batches[0].last_seq, 57);
	tst_fx_close(&f);
}
END_TEST

START_TEST(producer_idle_past_expiration_is_forgotten)
{
	tst_fixture f;
	st_log_config cfg;

	st_log_config_default(&cfg);
	cfg.producer_id_expiration_ms = 60000;
	tst_fx_open(&f, "prod", &cfg);
	ck_assert_int_eq(produce(f.log, 1, 0, 0, 1, 10000, NULL, NULL), 0);
	ck_assert_int_eq(produce(f.log, 2, 0, 0, 1, 50000, NULL, NULL), 0);
	ck_assert_int_eq(st_log_enforce_retention(f.log, 69999, NULL), 0);
	ck_assert_int_eq(producer_count(f.log), 2);
	ck_assert_int_eq(st_log_enforce_retention(f.log, 70001, NULL), 0);
	ck_assert_int_eq(producer_count(f.log), 1);
	(void)producer_of(f.log, 2);
	/* Bad configuration is refused. */
	cfg.producer_id_expiration_ms = 0;
	ck_assert_int_eq(st_log_set_config(f.log, &cfg), ST_ERR_CONFIG);
	tst_fx_close(&f);
}
END_TEST

static ino_t inode_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_ino : 0;
}

/* A close rewrites the snapshot only when the state differs from the
 * newest file: not after an open that changed nothing, but after an
 * expiry that changed the state and not the log end. */
START_TEST(producer_snapshot_is_rewritten_only_when_the_state_changed)
{
	tst_fixture f;
	st_log_config cfg;
	char path[4200];

	st_log_config_default(&cfg);
	cfg.producer_id_expiration_ms = 60000;
	tst_fx_open(&f, "prod", &cfg);
	ck_assert_int_eq(produce(f.log, 1, 0, 0, 2, 10000, NULL, NULL), 0);
	ck_assert_int_eq(produce(f.log, 2, 0, 0, 3, 50000, NULL, NULL), 0);
	tst_fx_reopen(&f);
	snprintf(path, sizeof(path), "%s/00000000000000000005.snapshot", f.dir);
	ino_t first = inode_of(path);
	ck_assert_uint_ne(first, 0);
	tst_fx_reopen(&f);
	ck_assert_uint_eq(inode_of(path), first);
	ck_assert_int_eq(producer_count(f.log), 2);

	/* Producer 1 expires: same end, one producer fewer. */
	ck_assert_int_eq(st_log_enforce_retention(f.log, 70001, NULL), 0);
	ck_assert_int_eq(producer_count(f.log), 1);
	tst_fx_reopen(&f);
	ck_assert_uint_ne(inode_of(path), first);
	ck_assert_int_eq(producer_count(f.log), 1);
	(void)producer_of(f.log, 2);
	tst_fx_close(&f);
}
END_TEST

/* An append whose callback holds the writer thread until released, so the
 * appends queued meanwhile are all in flight together. */
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool entered, open;
} gate;

static void gate_cb(st_append *a, int err)
{
	gate *g = a->arg;
	ck_assert_int_eq(err, 0);
	pthread_mutex_lock(&g->mu);
	g->entered = true;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_hold(st_log *log, gate *g, kp_buf *buf, st_append *a)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->entered = g->open = false;
	kp_buf_init(buf);
	ck_assert_int_eq(tst_build_batch(buf, 0, 0, 1, 1, 0), 0);
	memset(a, 0, sizeof(*a));
	a->data = buf->data;
	a->len = buf->len;
	a->cb = gate_cb;
	a->arg = g;
	ck_assert_int_eq(st_log_append(log, a, 1000), 0);
	pthread_mutex_lock(&g->mu);
	while (!g->entered)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

START_TEST(producer_state_rolls_back_with_a_failed_write)
{
	tst_fixture f;
	kp_buf b1, b2;
	tst_wait w1, w2;
	st_append a1, a2;

	tst_fx_open(&f, "prod", NULL);
	produce_ok(f.log, 1, 0, 0, 2, 0);
	st__store_inject_fault(f.store, ST__IO_WRITE, -EIO, 0, 1);
	ck_assert_int_eq(produce(f.log, 1, 0, 2, 2, 1000, NULL, NULL), -EIO);
	ck_assert_int_eq(st_log_end_offset(f.log), 2);
	ck_assert_int_eq(producer_of(f.log, 1).n_batches, 1);
	/* The retry is accepted (not a duplicate of bytes that are gone). */
	produce_ok(f.log, 1, 0, 2, 2, 2);

	/* A retry queued while the original is in flight waits for it, and
	 * fails with it. The gate holds the writer so both are queued before
	 * the original is written. */
	gate g;
	kp_buf gb;
	st_append ga;
	kp_buf_init(&b1);
	kp_buf_init(&b2);
	pbatch(&b1, 1, 0, 4, 1);
	pbatch(&b2, 1, 0, 4, 1);
	for (int round = 0; round < 2; round++) {
		bool fail = round == 0;
		tst_wait_init(&w1);
		tst_wait_init(&w2);
		memset(&a1, 0, sizeof(a1));
		memset(&a2, 0, sizeof(a2));
		a1.data = b1.data, a1.len = b1.len, a1.cb = tst_wait_cb, a1.arg = &w1;
		a2.data = b2.data, a2.len = b2.len, a2.cb = tst_wait_cb, a2.arg = &w2;
		gate_hold(f.log, &g, &gb, &ga);
		if (fail)
			st__store_inject_fault(f.store, ST__IO_WRITE, -EIO, 0, 1);
		ck_assert_int_eq(st_log_append(f.log, &a1, 1000), 0);
		ck_assert_int_eq(st_log_append(f.log, &a2, 1000), 0);
		ck_assert(a2.duplicate);
		ck_assert_int_eq(a2.base_offset, a1.base_offset);
		gate_open(&g);
		ck_assert_int_eq(tst_wait_for(&w1), fail ? -EIO : 0);
		ck_assert_int_eq(tst_wait_for(&w2), fail ? ST_ERR_TRUNCATED : 0);
		ck_assert(fail || a2.durable);
		tst_wait_destroy(&w1);
		tst_wait_destroy(&w2);
		kp_buf_free(&gb);
	}
	/* The gates' batches at 4 and 5 (the failed a1 was rolled back from
	 * 5), the second a1 at 6. */
	ck_assert_int_eq(st_log_end_offset(f.log), 7);
	ck_assert_int_eq(producer_of(f.log, 1).batches[producer_of(f.log, 1).n_batches - 1].first_offset, 6);
	kp_buf_free(&b1);
	kp_buf_free(&b2);
	tst_fx_close(&f);
}
END_TEST

static bool keep_even(st_producer *p, void *arg)
{
	(void)arg;
	return p->producer_id % 2 == 0;
}

START_TEST(producer_table_keeps_every_entry_through_growth_and_removal)
{
	st__pstate ps;

	st__pstate_init(&ps);
	for (int64_t id = 0; id < 20000; id++) {
		ck_assert_int_eq(st__pstate_reserve(&ps, 1), 0);
		st_producer p = { .producer_id = id * 7919, .n_batches = 1,
				  .batches = { { 0, 0, id, id } } };
		st__pstate_put(&ps, &p);
	}
	ck_assert_int_eq(ps.n, 20000);
	st__pstate_filter(&ps, keep_even, NULL);
	ck_assert_int_eq(ps.n, 10000);
	for (int64_t id = 0; id < 20000; id++) {
		st_producer *p = st__pstate_find(&ps, id * 7919);
		if ((id * 7919) % 2 == 0) {
			ck_assert_ptr_nonnull(p);
			ck_assert_int_eq(p->batches[0].first_offset, id);
		} else {
			ck_assert_ptr_null(p);
		}
	}
	st__pstate_evict(&ps, 15000, -1);
	ck_assert_int_eq(ps.n, 2500);
	st__pstate_free(&ps);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("producer");
	TCase *tc = tcase_create("producer");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, producer_batches_in_sequence_are_appended_and_tracked);
	tcase_add_test(tc, producer_retry_of_each_of_the_last_five_batches_is_a_duplicate);
	tcase_add_test(tc, producer_sequence_gap_is_out_of_order_and_appends_nothing);
	tcase_add_test(tc, producer_old_epoch_is_fenced_and_new_epoch_starts_at_zero);
	tcase_add_test(tc, producer_unknown_to_the_log_is_accepted_at_any_sequence);
	tcase_add_test(tc, producer_fields_no_producer_sends_are_invalid_record);
	tcase_add_test(tc, producer_sequence_wraps_after_int32_max);
	tcase_add_test(tc, producer_batches_of_one_append_are_checked_in_order);
	tcase_add_test(tc, producer_state_survives_a_clean_close_through_the_snapshot);
	tcase_add_test(tc, producer_snapshot_is_written_at_roll_and_only_two_are_kept);
	tcase_add_test(tc, producer_state_is_rebuilt_from_the_log_without_any_snapshot);
	tcase_add_test(tc, producer_corrupt_snapshot_is_ignored_and_the_state_rebuilt);
	tcase_add_test(tc, producer_snapshot_reader_refuses_garbage);
	tcase_add_test(tc, producer_snapshot_beyond_the_recovered_end_is_removed);
	tcase_add_test(tc, producer_without_data_left_is_forgotten_by_retention_and_delete_records);
	tcase_add_test(tc, producer_idle_past_expiration_is_forgotten);
	tcase_add_test(tc, producer_snapshot_is_rewritten_only_when_the_state_changed);
	tcase_add_test(tc, producer_state_rolls_back_with_a_failed_write);
	tcase_add_test(tc, producer_table_keeps_every_entry_through_growth_and_removal);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
