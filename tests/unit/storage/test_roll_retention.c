/*
 * test_roll_retention.c -- rolling segments (segment.bytes, segment.ms, the
 * int32 relative-offset limit, by hand), retention (retention.bytes,
 * retention.ms, DeleteRecords) and the log start offset on disk.
 *
 * Seals run on the writer thread after the roll; st__store_barrier() (an
 * internal call, hence st_int.h) waits for them where a test depends on it.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st_test.h"
#include "storage/st_int.h"

static bool seg_file_exists(const tst_fixture *f, int64_t base, const char *suffix)
{
	char name[64], path[4096];
	st_segment_filename(name, sizeof(name), base, suffix);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return access(path, F_OK) == 0;
}

static int64_t seg_file_size(const tst_fixture *f, int64_t base)
{
	char name[64], path[4096];
	st_segment_filename(name, sizeof(name), base, ".log");
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return tst_file_size(path);
}

static int64_t read_offset_file(const tst_fixture *f, const char *name)
{
	char path[4096], text[64];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	size_t n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = 0;
	int64_t v = -1;
	ck_assert_int_eq(sscanf(text, "0\n%" SCNd64 "\n", &v), 1);
	return v;
}

/* Size of one batch of 5 records padded to 100 bytes (what the tests append). */
static int64_t batch_size(void)
{
	kp_buf b;
	kp_buf_init(&b);
	ck_assert_int_eq(tst_build_batch(&b, 0, 0, 5, 1, 100), 0);
	int64_t n = (int64_t)b.len;
	kp_buf_free(&b);
	return n;
}

START_TEST(roll_by_segment_bytes_keeps_every_offset_readable)
{
	tst_fixture f;
	st_log_config cfg;
	st_log_stats st;

	st_log_config_default(&cfg);
	cfg.segment_bytes = batch_size() * 3;
	tst_fx_open(&f, "roll", &cfg);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 100, 0, 1000, NULL), 0);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.segments, 4);
	ck_assert_int_eq(st.active_base_offset, 45);
	ck_assert(seg_file_exists(&f, 0, ".log"));
	ck_assert(seg_file_exists(&f, 15, ".log"));
	ck_assert(seg_file_exists(&f, 30, ".log"));
	ck_assert(seg_file_exists(&f, 45, ".log"));
	ck_assert_int_eq(seg_file_size(&f, 0), 3 * batch_size());
	ck_assert_int_eq(st.size_bytes, 10 * batch_size());
	st__store_barrier(f.store);
	/* Sealed: indexes on disk, recovery point at the active segment. */
	ck_assert(seg_file_exists(&f, 0, ".index"));
	ck_assert(seg_file_exists(&f, 30, ".timeindex"));
	ck_assert_int_eq(read_offset_file(&f, "recovery-point"), 45);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 50);
	for (int64_t off = 0; off < 50; off++) {
		st_slice sl;
		ck_assert_int_eq(st_log_read(f.log, off, 1, -1, &sl), 0);
		ck_assert_int_eq(sl.first_offset, off / 5 * 5);
		st_slice_release(&sl);
	}
	tst_fx_reopen(&f);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 50);
	tst_fx_close(&f);
}
END_TEST

START_TEST(roll_by_segment_ms)
{
	tst_fixture f;
	st_log_config cfg;
	st_log_stats st;

	st_log_config_default(&cfg);
	cfg.segment_ms = 100;
	tst_fx_open(&f, "roll", &cfg);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 0, 1000, NULL), 0);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 0, 1050, NULL), 0);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.segments, 1);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 0, 1100, NULL), 0);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.segments, 2);
	ck_assert_int_eq(st.active_base_offset, 4);
	/* The new segment's clock starts at its creation. */
	ck_assert_int_eq(tst_append_sync(f.log, 0, 2, 1, 0, 0, 1150, NULL), 0);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.segments, 2);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 8);
	tst_fx_close(&f);
}
END_TEST

START_TEST(roll_when_relative_offset_would_not_fit_int32)
{
	char *dir = tst_tmpdir("roll");
	char path[4096];
	kp_batch_builder b;
	kp_buf buf;
	tst_fixture f;
	st_append a;
	st_log_stats st;

	/* A segment at base 0 whose one batch sits just below 2^31 - 1 (a
	 * segment with a gap, as compaction can leave). */
	kp_buf_init(&buf);
	kp_batch_builder_init(&b, KP_CODEC_NONE, (int64_t)INT32_MAX - 2);
	for (int i = 0; i < 2; i++) {
		char v[32];
		size_t n = tst_value(v, sizeof(v), 0, (int64_t)INT32_MAX - 2 + i, 0);
		ck_assert_int_eq(kp_batch_builder_add(&b, 1, NULL, -1, v, (int32_t)n, NULL, 0), 0);
	}
	ck_assert_int_eq(kp_batch_builder_finish(&b, &buf), 0);
	kp_batch_builder_free(&b);
	snprintf(path, sizeof(path), "%s/00000000000000000000.log", dir);
	FILE *fp = fopen(path, "w");
	ck_assert_int_eq(fwrite(buf.data, 1, buf.len, fp), buf.len);
	fclose(fp);
	kp_buf_free(&buf);
	/* Marked clean, with empty indexes: trusted as written (an unclean
	 * open validates offsets as contiguous from the segment base). */
	static const char *const extra[] = { "00000000000000000000.index",
					     "00000000000000000000.timeindex", ".clean-shutdown" };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, extra[i]);
		fp = fopen(path, "w");
		fclose(fp);
	}

	tst_fx_open_at(&f, dir, NULL, 1000);
	ck_assert_int_eq(st_log_end_offset(f.log), INT32_MAX);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 0, 0, 1000, &a), 0);
	ck_assert_int_eq(a.base_offset, INT32_MAX);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.segments, 2);
	ck_assert_int_eq(st.active_base_offset, INT32_MAX);
	ck_assert_int_eq(tst_check_log(f.log, 0, INT32_MAX - 2, NULL), (int64_t)INT32_MAX + 5);
	tst_fx_close(&f);
	free(dir);
}
END_TEST

START_TEST(manual_roll_skips_an_empty_segment)
{
	tst_fixture f;
	st_log_stats st;

	tst_fx_open(&f, "roll", NULL);
	ck_assert_int_eq(st_log_roll(f.log, 1000), 0);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.segments, 1);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 1, 0, 0, 1000, NULL), 0);
	ck_assert_int_eq(st_log_roll(f.log, 1000), 0);
	ck_assert_int_eq(st_log_roll(f.log, 1000), 0);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.segments, 2);
	ck_assert_int_eq(st.active_base_offset, 3);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 1, 0, 0, 1000, NULL), 0);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 6);
	tst_fx_close(&f);
}
END_TEST

/* Five segments of three batches (15 offsets) each, the last active. */
static void five_segments(tst_fixture *f, int64_t ts_step)
{
	st_log_config cfg;
	st_log_config_default(&cfg);
	cfg.segment_bytes = batch_size() * 3;
	tst_fx_open(f, "roll", &cfg);
	for (int i = 0; i < 13; i++)
		ck_assert_int_eq(tst_append_sync(f->log, 0, 5, 1000 + ts_step * (i / 3), 100, 0, 1000, NULL), 0);
	st__store_barrier(f->store);
	st_log_stats st;
	st_log_get_stats(f->log, &st);
	ck_assert_int_eq(st.segments, 5);
}

START_TEST(retention_by_bytes_deletes_oldest_closed_segments)
{
	tst_fixture f;
	st_log_stats st;
	int deleted;
	st_slice sl;

	five_segments(&f, 0);
	int64_t seg = 3 * batch_size();
	/* Room for everything but the first segment: exactly one goes. */
	f.cfg.retention_bytes = 13 * batch_size() - seg;
	ck_assert_int_eq(st_log_set_config(f.log, &f.cfg), 0);
	ck_assert_int_eq(st_log_enforce_retention(f.log, 1000, &deleted), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(st_log_start_offset(f.log), 15);
	ck_assert(!seg_file_exists(&f, 0, ".log"));
	ck_assert(!seg_file_exists(&f, 0, ".index"));
	ck_assert_int_eq(st_log_read(f.log, 14, 1, -1, &sl), ST_ERR_OFFSET_OUT_OF_RANGE);
	ck_assert_int_eq(tst_check_log(f.log, 0, 15, NULL), 65);
	/* Again: nothing more to do. */
	ck_assert_int_eq(st_log_enforce_retention(f.log, 1000, &deleted), 0);
	ck_assert_int_eq(deleted, 0);
	/* One byte: every closed segment goes, never the active one. */
	f.cfg.retention_bytes = 1;
	ck_assert_int_eq(st_log_set_config(f.log, &f.cfg), 0);
	ck_assert_int_eq(st_log_enforce_retention(f.log, 1000, &deleted), 0);
	ck_assert_int_eq(deleted, 3);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(st.segments, 1);
	ck_assert_int_eq(st.start_offset, 60);
	ck_assert_int_eq(st.size_bytes, batch_size());
	ck_assert_int_eq(read_offset_file(&f, "log-start-offset"), 60);
	tst_fx_reopen(&f);
	ck_assert_int_eq(st_log_start_offset(f.log), 60);
	ck_assert_int_eq(tst_check_log(f.log, 0, 60, NULL), 65);
	tst_fx_close(&f);
}
END_TEST

START_TEST(retention_by_ms_uses_each_segment_max_timestamp)
{
	tst_fixture f;
	int deleted;

	/* Segment k's records carry timestamps 1000 + 10000 k .. + 4. */
	five_segments(&f, 10000);
	f.cfg.retention_ms = 15000;
	ck_assert_int_eq(st_log_set_config(f.log, &f.cfg), 0);
	/* Now 26000: segment 0 (max 1004) and 1 (max 11004) are older than
	 * 15 s; segment 2 (max 21004) is not. */
	ck_assert_int_eq(st_log_enforce_retention(f.log, 26005, &deleted), 0);
	ck_assert_int_eq(deleted, 2);
	ck_assert_int_eq(st_log_start_offset(f.log), 30);
	/* After a reopen the max timestamps come from the time index files. */
	tst_fx_reopen(&f);
	ck_assert_int_eq(st_log_enforce_retention(f.log, 36005, &deleted), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(st_log_start_offset(f.log), 45);
	/* Far in the future: all closed segments, but the active one stays. */
	ck_assert_int_eq(st_log_enforce_retention(f.log, INT64_MAX / 2, &deleted), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(st_log_start_offset(f.log), 60);
	ck_assert_int_eq(st_log_enforce_retention(f.log, INT64_MAX / 2, &deleted), 0);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(tst_check_log(f.log, 0, 60, NULL), 65);
	tst_fx_close(&f);
}
END_TEST

START_TEST(delete_records_raises_start_and_persists_it)
{
	tst_fixture f;
	st_slice sl;
	int deleted;

	five_segments(&f, 0);
	ck_assert_int_eq(st_log_delete_records(f.log, 22), 0);
	ck_assert_int_eq(st_log_start_offset(f.log), 22);
	/* Lowering is a no-op. */
	ck_assert_int_eq(st_log_delete_records(f.log, 3), 0);
	ck_assert_int_eq(st_log_start_offset(f.log), 22);
	ck_assert_int_eq(st_log_delete_records(f.log, 66), ST_ERR_OFFSET_OUT_OF_RANGE);
	ck_assert_int_eq(st_log_read(f.log, 21, 1, -1, &sl), ST_ERR_OFFSET_OUT_OF_RANGE);
	ck_assert_int_eq(st_log_read(f.log, 22, 1, -1, &sl), 0);
	ck_assert_int_eq(sl.first_offset, 20);
	st_slice_release(&sl);
	ck_assert_int_eq(read_offset_file(&f, "log-start-offset"), 22);
	/* Segment 0 is wholly below 22 and goes at the next pass; segment 1
	 * holds 22 and stays. */
	ck_assert_int_eq(st_log_enforce_retention(f.log, 1000, &deleted), 0);
	ck_assert_int_eq(deleted, 1);
	ck_assert_int_eq(st_log_start_offset(f.log), 22);
	tst_fx_reopen(&f);
	ck_assert_int_eq(st_log_start_offset(f.log), 22);
	ck_assert_int_eq(tst_check_log(f.log, 0, 22, NULL), 65);
	/* Up to the high watermark is allowed: the log is then empty. */
	ck_assert_int_eq(st_log_delete_records(f.log, 65), 0);
	ck_assert_int_eq(st_log_read(f.log, 65, 1, -1, &sl), 0);
	ck_assert_int_eq(sl.len, 0);
	st_slice_release(&sl);
	tst_fx_close(&f);
}
END_TEST

START_TEST(reader_holding_a_slice_of_a_deleted_segment_still_reads_it)
{
	tst_fixture f;
	st_slice sl;
	int deleted;

	five_segments(&f, 0);
	ck_assert_int_eq(st_log_read(f.log, 0, 1 << 20, -1, &sl), 0);
	ck_assert_int_eq(sl.len, 3 * batch_size());
	f.cfg.retention_bytes = 1;
	ck_assert_int_eq(st_log_set_config(f.log, &f.cfg), 0);
	ck_assert_int_eq(st_log_enforce_retention(f.log, 1000, &deleted), 0);
	ck_assert_int_eq(deleted, 4);
	ck_assert(!seg_file_exists(&f, 0, ".log"));
	/* The slice's descriptor still reads the unlinked file whole. */
	uint8_t *buf = malloc(sl.len);
	ck_assert_int_eq(pread(sl.fd, buf, sl.len, sl.file_pos), (ssize_t)sl.len);
	size_t pos = 0;
	int64_t next = 0;
	while (pos < sl.len) {
		kp_batch_header h;
		ck_assert_int_eq(kp_batch_validate(buf + pos, sl.len - pos, &h), 0);
		ck_assert_int_eq(h.base_offset, next);
		next += h.records_count;
		pos += kp_batch_size(&h);
	}
	ck_assert_int_eq(next, 15);
	free(buf);
	st_slice_release(&sl);
	ck_assert_int_eq(st_log_read(f.log, 0, 1, -1, &sl), ST_ERR_OFFSET_OUT_OF_RANGE);
	tst_fx_close(&f);
}
END_TEST

static Suite *roll_suite(void)
{
	Suite *s = suite_create("roll_retention");
	TCase *tc = tcase_create("roll_retention");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, roll_by_segment_bytes_keeps_every_offset_readable);
	tcase_add_test(tc, roll_by_segment_ms);
	tcase_add_test(tc, roll_when_relative_offset_would_not_fit_int32);
	tcase_add_test(tc, manual_roll_skips_an_empty_segment);
	tcase_add_test(tc, retention_by_bytes_deletes_oldest_closed_segments);
	tcase_add_test(tc, retention_by_ms_uses_each_segment_max_timestamp);
	tcase_add_test(tc, delete_records_raises_start_and_persists_it);
	tcase_add_test(tc, reader_holding_a_slice_of_a_deleted_segment_still_reads_it);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(roll_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
