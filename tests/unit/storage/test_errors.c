/*
 * test_errors.c -- failures the log must survive: a full disk (a small
 * tmpfs), a read-only file system, a second open of a locked directory,
 * damaged data and indexes, a failed write and a failed fsync (injected
 * through the writer backend, st__store_inject_fault()).
 *
 * Each must give the caller a named error, log one line naming the file,
 * and leave the log readable and consistent. The mount tests need root
 * (CAP_SYS_ADMIN); without it they say so and pass.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "st_test.h"
#include "storage/st_int.h"

typedef struct fixture {
	char *dir;
	st_store *store;
	st_log *log;
	st_log_config cfg;
	tst_lines lines;
} fixture;

static void fx_store(fixture *f)
{
	f->store = tst_store_open_collecting(&f->lines);
	st_log_config_default(&f->cfg);
}

static void fx_open(fixture *f, const char *dir)
{
	memset(f, 0, sizeof(*f));
	f->dir = strdup(dir);
	fx_store(f);
	ck_assert_int_eq(st_log_open(f->store, f->dir, &f->cfg, 1000, &f->log), 0);
}

static void fx_close(fixture *f)
{
	if (f->log)
		st_log_close(f->log);
	st_store_close(f->store);
	free(f->dir);
}

/*
 * A tmpfs of `size` mounted on a new directory, or NULL (not root). The
 * test child first moves to a mount namespace of its own, so the mount
 * vanishes with it even when an assertion ends the test early.
 */
static char *mount_tmpfs(const char *size)
{
	char *mnt = tst_tmpdir("mnt");
	char opts[64];
	snprintf(opts, sizeof(opts), "size=%s,mode=0755", size);
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, opts) != 0) {
		fprintf(stderr, "skipped: cannot mount a tmpfs (%s); run as root\n", strerror(errno));
		rmdir(mnt);
		free(mnt);
		return NULL;
	}
	return mnt;
}

static void unmount(char *mnt)
{
	ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);
	rmdir(mnt);
	free(mnt);
}

static void fill_file(const char *path, size_t bytes)
{
	static char chunk[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	while (bytes > 0) {
		size_t n = bytes < sizeof(chunk) ? bytes : sizeof(chunk);
		ck_assert_int_eq(write(fd, chunk, n), (ssize_t)n);
		bytes -= n;
	}
	close(fd);
}

/* Writes path until the file system has no byte left for it. */
static void fill_rest(const char *path)
{
	static char page[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	while (write(fd, page, sizeof(page)) == (ssize_t)sizeof(page))
		;
	close(fd);
}

/* Structure-only check (values are not derived from offsets after a
 * rollback): every batch valid, offsets contiguous from 0. */
static int64_t check_structure(st_log *log)
{
	int64_t next = 0;
	uint8_t *buf = malloc(4 << 20);
	for (;;) {
		st_slice sl;
		ck_assert_int_eq(st_log_read(log, next, 4 << 20, -1, &sl), 0);
		if (sl.len == 0) {
			st_slice_release(&sl);
			break;
		}
		ck_assert_int_eq(pread(sl.fd, buf, sl.len, sl.file_pos), (ssize_t)sl.len);
		for (size_t pos = 0; pos < sl.len;) {
			kp_batch_header h;
			ck_assert_int_eq(kp_batch_validate(buf + pos, sl.len - pos, &h), 0);
			ck_assert_int_eq(h.base_offset, next);
			next = kp_batch_last_offset(&h) + 1;
			pos += kp_batch_size(&h);
		}
		st_slice_release(&sl);
	}
	free(buf);
	return next;
}

/* A burst of appends queued at once; errs[] gets each callback's error. */
typedef struct burst {
	int n;
	kp_buf bufs[32];
	st_append as[32];
	int errs[32];
	atomic_int done;
} burst;

static void burst_cb(st_append *a, int err)
{
	burst *b = a->arg;
	b->errs[a - b->as] = err;
	atomic_fetch_add(&b->done, 1);
}

static void burst_run(burst *b, st_log *log, int n, size_t pad)
{
	memset(b, 0, sizeof(*b));
	b->n = n;
	for (int i = 0; i < n; i++) {
		kp_buf_init(&b->bufs[i]);
		ck_assert_int_eq(tst_build_batch(&b->bufs[i], 0, 0, 3, 1, pad), 0);
		b->as[i] = (st_append){ .data = b->bufs[i].data, .len = b->bufs[i].len,
					.leader_epoch = -1, .cb = burst_cb, .arg = b };
		ck_assert_int_eq(st_log_append(log, &b->as[i], 1000), 0);
	}
	int64_t deadline = tst_now_ms() + 20000;
	while (atomic_load(&b->done) < n && tst_now_ms() < deadline)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&b->done), n);
}

static void burst_free(burst *b)
{
	for (int i = 0; i < b->n; i++)
		kp_buf_free(&b->bufs[i]);
}

/*
 * Every callback error is 0 until the first failure, which is `first`;
 * after it come appends discarded behind it (ST_ERR_TRUNCATED), appends
 * queued after the rollback (0), or a new failure of the same kind.
 * Successes tile the offsets from `start` to `end`. Returns their count.
 */
static int check_burst(const burst *b, int first, int64_t start, int64_t end)
{
	bool failed = false;
	int ok = 0;
	int64_t next = start;
	for (int i = 0; i < b->n; i++) {
		int e = b->errs[i];
		if (e == 0) {
			ck_assert_int_eq(b->as[i].base_offset, next);
			next = b->as[i].last_offset + 1;
			ok++;
		} else if (e == first) {
			failed = true;
		} else {
			ck_assert_msg(e == ST_ERR_TRUNCATED && failed, "append %d: unexpected %s", i,
				      st_strerror(e));
		}
	}
	ck_assert(failed);
	ck_assert_int_eq(next, end);
	return ok;
}

START_TEST(enospc_fails_the_append_and_the_log_stays_consistent)
{
	char *mnt = mount_tmpfs("1m");
	if (!mnt)
		return;
	char dir[4096], filler[4096], name[64];
	fixture f;
	st_append a;
	int rc = 0;

	snprintf(dir, sizeof(dir), "%s/log", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	fill_file(filler, 256 << 10);
	fx_open(&f, dir);
	/* Fill the disk with ~20 KB batches until one does not fit. */
	int ok = 0;
	while ((rc = tst_append_sync(f.log, 0, 4, 1, 5000, 0, 1000, &a)) == 0)
		ok++;
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_int_gt(ok, 5);
	/* What the refused batch left free goes too, so that no smaller
	 * batch below fits by chance of page counts. */
	snprintf(filler, sizeof(filler), "%s/rest", mnt);
	fill_rest(filler);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	int64_t end = st_log_end_offset(f.log);
	ck_assert_int_eq(end, 4 * ok);
	ck_assert_int_eq(st_log_readable_end(f.log), end);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), end);
	/* The file was cut back to the last good batch. */
	char path[4200];
	st_segment_filename(name, sizeof(name), 0, ".log");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	st_log_stats st;
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(tst_file_size(path), st.size_bytes);
	ck_assert(!st.offline);
	ck_assert_msg(tst_lines_contain(&f.lines, name), "%s", f.lines.text);
	ck_assert_msg(tst_lines_contain(&f.lines, "No space left on device"), "%s", f.lines.text);

	/* Still full: a burst fails as a whole, in order; the failures that
	 * repeat the first one within ST__WRITE_FAIL_LOG_MS are not logged
	 * again (a producer retrying into a full disk must not flood). */
	burst b;
	burst_run(&b, f.log, 12, 5000);
	ck_assert_int_eq(check_burst(&b, -ENOSPC, end, end), 0);
	burst_free(&b);
	ck_assert_int_eq(st_log_end_offset(f.log), end);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), end);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(tst_append_sync(f.log, 0, 4, 1, 5000, 0, 1000, &a), -ENOSPC);
	ck_assert_msg(tst_lines_count(&f.lines, "No space left on device") == 1, "%s",
		      f.lines.text);

	/* Closing and reopening on the full disk works: reads stay possible. */
	st_log_close(f.log);
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &f.log), 0);
	ck_assert_int_eq(st_log_end_offset(f.log), end);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), end);

	/* Space again: appends continue at the same offset, and the log says
	 * writes work again. */
	ck_assert_int_eq(tst_append_sync(f.log, 0, 4, 1, 5000, 0, 1000, &a), -ENOSPC);
	ck_assert_int_eq(unlink(filler), 0);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 4, 1, 5000, 0, 1000, &a), 0);
	ck_assert_int_eq(a.base_offset, end);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), end + 4);
	ck_assert_msg(tst_lines_contain(&f.lines, "writes succeed again, after 1 failed"), "%s",
		      f.lines.text);
	/* And the directory reopens clean and whole. */
	st_log_close(f.log);
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &f.log), 0);
	ck_assert(st_log_recovery(f.log)->clean);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), end + 4);
	fx_close(&f);
	unmount(mnt);
}
END_TEST

START_TEST(enospc_in_a_burst_discards_the_appends_queued_behind)
{
	char *mnt = mount_tmpfs("512k");
	if (!mnt)
		return;
	char dir[4096];
	fixture f;

	snprintf(dir, sizeof(dir), "%s/log", mnt);
	fx_open(&f, dir);
	/* 30 x ~24 KB queued at once into 512 KB. */
	burst b;
	burst_run(&b, f.log, 30, 8000);
	int ok = check_burst(&b, -ENOSPC, 0, st_log_end_offset(f.log));
	ck_assert_int_gt(ok, 3);
	ck_assert_int_lt(ok, 30);
	ck_assert_int_eq(st_log_readable_end(f.log), st_log_end_offset(f.log));
	ck_assert_int_eq(check_structure(f.log), st_log_end_offset(f.log));
	burst_free(&b);
	fx_close(&f);
	unmount(mnt);
}
END_TEST

START_TEST(read_only_file_system_is_refused_at_open)
{
	char *mnt = mount_tmpfs("1m");
	if (!mnt)
		return;
	char dir[4096], other[4096];
	fixture f;
	st_log *log;

	snprintf(dir, sizeof(dir), "%s/log", mnt);
	snprintf(other, sizeof(other), "%s/other", mnt);
	fx_open(&f, dir);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 1, 0, 0, 1000, NULL), 0);
	st_log_close(f.log);
	f.log = NULL;
	ck_assert_int_eq(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &log), -EROFS);
	ck_assert_msg(tst_lines_contain(&f.lines, "/log/.lock"), "%s", f.lines.text);
	ck_assert_msg(tst_lines_contain(&f.lines, "Read-only file system"), "%s", f.lines.text);
	ck_assert_int_eq(st_log_open(f.store, other, &f.cfg, 1000, &log), -EROFS);
	ck_assert_msg(tst_lines_contain(&f.lines, "/other: cannot create"), "%s", f.lines.text);
	ck_assert_str_eq(st_strerror(-EROFS), "Read-only file system");
	/* Writable again: the log is intact. */
	ck_assert_int_eq(mount(NULL, mnt, NULL, MS_REMOUNT, NULL), 0);
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &f.log), 0);
	ck_assert(st_log_recovery(f.log)->clean);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 3);
	fx_close(&f);
	unmount(mnt);
}
END_TEST

START_TEST(second_open_of_a_locked_directory_is_refused)
{
	char *dir = tst_tmpdir("lock");
	fixture f;
	st_log *log;

	fx_open(&f, dir);
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &log), ST_ERR_LOCKED);
	ck_assert_msg(tst_lines_contain(&f.lines, "/.lock"), "%s", f.lines.text);
	/* Another process as well. */
	pid_t pid = fork();
	if (pid == 0) {
		st_store *s;
		if (st_store_open(NULL, &s) != 0)
			_exit(2);
		_exit(st_log_open(s, dir, NULL, 1000, &log) == ST_ERR_LOCKED ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Released by close. */
	st_log_close(f.log);
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &f.log), 0);
	fx_close(&f);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(damaged_sealed_segment_reports_corrupt_and_rest_stays_readable)
{
	char *dir = tst_tmpdir("corrupt");
	fixture f;
	st_slice sl;
	char name[64], path[4096];

	memset(&f, 0, sizeof(f));
	f.dir = strdup(dir);
	fx_store(&f);
	f.cfg.segment_bytes = 4096;
	f.cfg.index_interval_bytes = 256;
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &f.log), 0);
	for (int i = 0; i < 40; i++)
		ck_assert_int_eq(tst_append_sync(f.log, 0, 3, 1, 100, 0, 1000, NULL), 0);
	st_log_close(f.log);

	/* The magic byte of the 4th batch of segment 0 (offsets 9..11). */
	st_segment_filename(name, sizeof(name), 0, ".log");
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR);
	uint8_t hdr[KP_BATCH_HEADER_SIZE];
	int64_t pos = 0;
	for (int i = 0; i < 3; i++) {
		kp_batch_header h;
		ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), pos), (ssize_t)sizeof(hdr));
		ck_assert_int_eq(kp_batch_header_parse(hdr, sizeof(hdr), &h), 0);
		pos += (int64_t)kp_batch_size(&h);
	}
	uint8_t bad = 7;
	ck_assert_int_eq(pwrite(fd, &bad, 1, pos + KP_BATCH_OFF_MAGIC), 1);
	close(fd);

	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &f.log), 0);
	ck_assert_int_eq(st_log_end_offset(f.log), 120);
	/* Before the damage: readable. (A long read that jumps over the damage
	 * by the index hands it to the client, whose CRC check sees it, as
	 * Kafka does; a read that starts at the damage reports it.) */
	ck_assert_int_eq(st_log_read(f.log, 0, (size_t)pos, -1, &sl), 0);
	ck_assert_int_eq(sl.first_offset, 0);
	ck_assert_int_le(sl.next_offset, 9);
	ck_assert_int_le(sl.len, pos);
	st_slice_release(&sl);
	/* At the damage: a named error, logged once. */
	int before = f.lines.count;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(st_log_read(f.log, 10, 1 << 20, -1, &sl), ST_ERR_CORRUPT);
	ck_assert_msg(tst_lines_contain(&f.lines, name), "%s", f.lines.text);
	ck_assert_msg(f.lines.count - before <= 2, "%s", f.lines.text);
	/* Other segments are untouched. */
	ck_assert_int_eq(st_log_read(f.log, 100, 1, -1, &sl), 0);
	ck_assert_int_eq(sl.first_offset, 99);
	st_slice_release(&sl);
	fx_close(&f);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(failed_write_rolls_back_and_discards_later_appends)
{
	char *dir = tst_tmpdir("eio");
	fixture f;
	st_append a;

	fx_open(&f, dir);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 50, 0, 1000, NULL), 0);
	st__store_inject_fault(f.store, ST__IO_WRITE, -EIO, 0, 1);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 50, 0, 1000, &a), -EIO);
	ck_assert_int_eq(st_log_end_offset(f.log), 5);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 50, 0, 1000, &a), 0);
	ck_assert_int_eq(a.base_offset, 5);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 10);
	ck_assert_msg(tst_lines_contain(&f.lines, "Input/output error"), "%s", f.lines.text);

	/* In a burst: the failed append, those queued behind it, then the
	 * ones queued after the rollback. */
	st__store_inject_fault(f.store, ST__IO_WRITE, -EIO, 0, 1);
	burst b;
	burst_run(&b, f.log, 20, 50);
	int ok = check_burst(&b, -EIO, 10, st_log_end_offset(f.log));
	ck_assert_int_lt(ok, 20);
	ck_assert_int_eq(b.errs[0], -EIO);
	burst_free(&b);
	ck_assert_int_eq(check_structure(f.log), st_log_end_offset(f.log));
	st_log_stats st;
	st_log_get_stats(f.log, &st);
	ck_assert(!st.offline);
	/* What is on disk is what the log says. */
	st_log_close(f.log);
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &f.log), 0);
	ck_assert_int_eq(check_structure(f.log), st_log_end_offset(f.log));
	char name[64];
	st_segment_filename(name, sizeof(name), 0, ".log");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	st_log_get_stats(f.log, &st);
	ck_assert_int_eq(tst_file_size(path), st.size_bytes);
	fx_close(&f);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(failed_fsync_takes_the_log_offline)
{
	char *dir = tst_tmpdir("fsync");
	fixture f;
	st_log_stats st;
	kp_buf buf;
	st_slice sl;

	fx_open(&f, dir);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 50, 0, 1000, NULL), 0);
	st__store_inject_fault(f.store, ST__IO_SYNC, -EIO, 0, 1);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 5, 1, 50, 0, 1000, NULL), -EIO);
	st_log_get_stats(f.log, &st);
	ck_assert(st.offline);
	ck_assert_int_eq(st.readable_end, 5);
	/* Writes refused at once, without a callback. */
	kp_buf_init(&buf);
	ck_assert_int_eq(tst_build_batch(&buf, 0, 10, 1, 1, 0), 0);
	st_append a = { .data = buf.data, .len = buf.len, .leader_epoch = -1, .cb = tst_wait_cb };
	ck_assert_int_eq(st_log_append(f.log, &a, 1000), ST_ERR_OFFLINE);
	ck_assert_int_eq(st_log_roll(f.log, 1000), ST_ERR_OFFLINE);
	kp_buf_free(&buf);
	/* Reads continue up to the readable end. */
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), 5);
	ck_assert_int_eq(st_log_read(f.log, 5, 1, -1, &sl), 0);
	ck_assert_int_eq(sl.len, 0);
	st_slice_release(&sl);
	ck_assert_msg(tst_lines_contain(&f.lines, "offline"), "%s", f.lines.text);
	/* Closed uncleanly; reopening recovers it online. */
	st_log_close(f.log);
	char path[4096];
	snprintf(path, sizeof(path), "%s/.clean-shutdown", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(st_log_open(f.store, dir, &f.cfg, 1000, &f.log), 0);
	ck_assert(!st_log_recovery(f.log)->clean);
	int64_t end = st_log_end_offset(f.log);
	/* The unsynced append may or may not have survived; it is whole if so. */
	ck_assert(end == 5 || end == 10);
	ck_assert_int_eq(tst_check_log(f.log, 0, 0, NULL), end);
	ck_assert_int_eq(tst_append_sync(f.log, 0, 1, 1, 0, 0, 1000, NULL), 0);
	fx_close(&f);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *errors_suite(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("errors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, enospc_fails_the_append_and_the_log_stays_consistent);
	tcase_add_test(tc, enospc_in_a_burst_discards_the_appends_queued_behind);
	tcase_add_test(tc, read_only_file_system_is_refused_at_open);
	tcase_add_test(tc, second_open_of_a_locked_directory_is_refused);
	tcase_add_test(tc, damaged_sealed_segment_reports_corrupt_and_rest_stays_readable);
	tcase_add_test(tc, failed_write_rolls_back_and_discards_later_appends);
	tcase_add_test(tc, failed_fsync_takes_the_log_offline);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(errors_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
