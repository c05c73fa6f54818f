/*
 * test_recovery.c -- what st_log_open() makes of a log directory after a
 * crash: torn or garbled tails at many byte positions, garbage after the
 * last batch, missing or corrupt indexes, rolled segments never sealed, and
 * the clean-shutdown marker.
 *
 * The property checked every time: the reopened log is a prefix of what was
 * written, ends on a batch boundary, holds no bad batch (tst_check_log()
 * validates every batch and every record value), and takes appends again
 * at its end. Random positions come from a fixed seed, overridable with
 * REWIND_TEST_SEED, and are printed on failure.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "st_test.h"

typedef struct batch_pos {
	int64_t pos, size, base, last;
} batch_pos;

static unsigned seed(void)
{
	const char *e = getenv("REWIND_TEST_SEED");
	return e ? (unsigned)strtoul(e, NULL, 10) : 20240601u;
}

static void cfg_small(st_log_config *cfg)
{
	st_log_config_default(cfg);
	cfg->segment_bytes = 4096;
	cfg->index_interval_bytes = 256;
}

/* Appends n batches of varying shape (partition 0 values). */
static void fill(st_log *log, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(tst_append_sync(log, 0, 1 + (i * 7) % 5, 1000 + i * 10,
						 (size_t)((i * 13) % 200), 1, 1000, NULL), 0);
}

/* Builds a log in a child that exits without closing it: a crash after
 * every append was acknowledged. */
static void crashed_log(const char *dir, const st_log_config *cfg, int n)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		st_store_options o;
		st_store *s;
		st_log *log;
		st_store_options_default(&o);
		if (st_store_open(&o, &s) != 0 || st_log_open(s, dir, cfg, 1000, &log) != 0)
			_exit(2);
		fill(log, n);
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The base offset of the last segment file of a directory. */
static int64_t active_base(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int64_t best = -1;
	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".log") == 0) {
			int64_t b = strtoll(e->d_name, NULL, 10);
			if (b > best)
				best = b;
		}
	}
	closedir(d);
	return best;
}

static void seg_path(char *buf, size_t cap, const char *dir, int64_t base, const char *sfx)
{
	char name[64];
	st_segment_filename(name, sizeof(name), base, sfx);
	snprintf(buf, cap, "%s/%s", dir, name);
}

/* The batches of one segment file, by parsing it. */
static size_t layout(const char *path, batch_pos *out, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	int64_t size = tst_file_size(path), pos = 0;
	size_t n = 0;
	while (pos < size) {
		uint8_t hdr[KP_BATCH_HEADER_SIZE];
		kp_batch_header h;
		ck_assert_int_eq(pread(fd, hdr, sizeof(hdr), pos), (ssize_t)sizeof(hdr));
		ck_assert_int_eq(kp_batch_header_parse(hdr, sizeof(hdr), &h), 0);
		ck_assert_uint_lt(n, cap);
		out[n++] = (batch_pos){ pos, (int64_t)kp_batch_size(&h), h.base_offset,
					kp_batch_last_offset(&h) };
		pos += (int64_t)kp_batch_size(&h);
	}
	ck_assert_int_eq(pos, size);
	close(fd);
	return n;
}

/* Opens a copy of `dir0` after `damage` ran on it and checks the result.
 * Returns the recovered end offset. */
typedef void damage_fn(const char *dir, void *arg);

static int64_t reopen_checked(st_store *s, const char *dir0, damage_fn *damage, void *arg,
			      const char *what, int64_t want_end, int64_t want_truncated)
{
	char *dir = tst_tmpdir("rec");
	st_log_config cfg;
	st_log *log;

	cfg_small(&cfg);
	tst_rmrf(dir);
	tst_copy_dir(dir0, dir);
	damage(dir, arg);
	ck_assert_msg(st_log_open(s, dir, &cfg, 1000, &log) == 0, "%s: open failed", what);
	const st_recovery_report *rep = st_log_recovery(log);
	ck_assert_msg(!rep->clean, "%s", what);
	int64_t end = st_log_end_offset(log);
	ck_assert_msg(end == want_end, "%s: end %" PRId64 ", want %" PRId64, what, end, want_end);
	ck_assert_msg(rep->bytes_truncated == want_truncated,
		      "%s: truncated %" PRId64 ", want %" PRId64, what, rep->bytes_truncated,
		      want_truncated);
	ck_assert_int_eq(st_log_readable_end(log), end);
	ck_assert_msg(tst_check_log(log, 0, 0, NULL) == end, "%s: bad log", what);
	/* And it takes appends at its end. */
	st_append a;
	ck_assert_int_eq(tst_append_sync(log, 0, 2, 5, 0, 1, 1000, &a), 0);
	ck_assert_int_eq(a.base_offset, end);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), end + 2);
	st_log_close(log);
	tst_rmrf(dir);
	free(dir);
	return end;
}

typedef struct cut {
	int64_t base;     /* segment */
	int64_t pos;      /* truncate here / garble this byte */
	const void *junk; /* append this */
	size_t junk_len;
} cut;

static void do_truncate(const char *dir, void *arg)
{
	cut *c = arg;
	char path[4096];
	seg_path(path, sizeof(path), dir, c->base, ".log");
	ck_assert_int_eq(truncate(path, c->pos), 0);
}

static void do_garble(const char *dir, void *arg)
{
	cut *c = arg;
	char path[4096];
	uint8_t b;
	seg_path(path, sizeof(path), dir, c->base, ".log");
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, c->pos), 1);
	b ^= (uint8_t)(1 + c->pos % 255);
	ck_assert_int_eq(pwrite(fd, &b, 1, c->pos), 1);
	close(fd);
}

static void do_append_junk(const char *dir, void *arg)
{
	cut *c = arg;
	char path[4096];
	seg_path(path, sizeof(path), dir, c->base, ".log");
	int fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, c->junk, c->junk_len), (ssize_t)c->junk_len);
	close(fd);
}

typedef struct crashed {
	char *dir;
	int64_t base, size, end;
	batch_pos b[512];
	size_t nb;
} crashed;

static void crashed_setup(crashed *c, int nbatches)
{
	st_log_config cfg;
	cfg_small(&cfg);
	c->dir = tst_tmpdir("crashed");
	crashed_log(c->dir, &cfg, nbatches);
	c->base = active_base(c->dir);
	char path[4096];
	seg_path(path, sizeof(path), c->dir, c->base, ".log");
	c->size = tst_file_size(path);
	c->nb = layout(path, c->b, 512);
	ck_assert_int_ge(c->nb, 1);
	c->end = c->b[c->nb - 1].last + 1;
	ck_assert_int_gt(c->base, 0);   /* several segments */
}

static void crashed_teardown(crashed *c)
{
	tst_rmrf(c->dir);
	free(c->dir);
}

START_TEST(recovery_truncates_a_torn_tail_at_any_byte)
{
	crashed c;
	st_store_options o;
	st_store *s;
	unsigned sd = seed();
	char what[128];

	crashed_setup(&c, 40);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	srand(sd);
	for (int iter = 0; iter < 200; iter++) {
		cut k = { .base = c.base };
		/* Every batch boundary and its neighbours first, then random. */
		if ((size_t)iter < c.nb * 2)
			k.pos = c.b[iter / 2].pos + (iter % 2 ? 1 : 0);
		else
			k.pos = rand() % (c.size + 1);
		int64_t want_end = c.base, cut_at = 0;
		for (size_t i = 0; i < c.nb; i++) {
			if (c.b[i].pos + c.b[i].size <= k.pos) {
				want_end = c.b[i].last + 1;
				cut_at = c.b[i].pos + c.b[i].size;
			}
		}
		snprintf(what, sizeof(what), "seed %u: torn at %" PRId64 "/%" PRId64, sd, k.pos, c.size);
		reopen_checked(s, c.dir, do_truncate, &k, what, want_end, k.pos - cut_at);
	}
	st_store_close(s);
	crashed_teardown(&c);
}
END_TEST

START_TEST(recovery_truncates_at_a_garbled_batch)
{
	crashed c;
	st_store_options o;
	st_store *s;
	unsigned sd = seed() + 1;
	char what[128];

	crashed_setup(&c, 40);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	srand(sd);
	for (int iter = 0; iter < 200; iter++) {
		cut k = { .base = c.base, .pos = rand() % c.size };
		size_t i = 0;
		while (c.b[i].pos + c.b[i].size <= k.pos)
			i++;
		int64_t r = k.pos - c.b[i].pos;
		int64_t want_end = c.b[i].base, want_trunc = c.size - c.b[i].pos;
		/* partitionLeaderEpoch is outside the CRC and carries no offset:
		 * a changed epoch leaves a valid batch. */
		if (r >= KP_BATCH_OFF_LEADER_EPOCH && r < KP_BATCH_OFF_MAGIC) {
			want_end = c.end;
			want_trunc = 0;
		}
		snprintf(what, sizeof(what), "seed %u: garbled byte %" PRId64 " (batch %zu + %" PRId64 ")",
			 sd, k.pos, i, r);
		reopen_checked(s, c.dir, do_garble, &k, what, want_end, want_trunc);
	}
	st_store_close(s);
	crashed_teardown(&c);
}
END_TEST

START_TEST(recovery_drops_garbage_after_the_last_batch)
{
	crashed c;
	st_store_options o;
	st_store *s;
	uint8_t junk[4096];

	crashed_setup(&c, 44);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);

	/* Zeros, as a file extended but never written reads back. */
	memset(junk, 0, sizeof(junk));
	cut k = { .base = c.base, .junk = junk, .junk_len = sizeof(junk) };
	reopen_checked(s, c.dir, do_append_junk, &k, "zeros", c.end, sizeof(junk));
	k.junk_len = 7;
	reopen_checked(s, c.dir, do_append_junk, &k, "short zeros", c.end, 7);

	/* A valid copy of the last batch: right CRC, wrong offset. */
	char path[4096];
	seg_path(path, sizeof(path), c.dir, c.base, ".log");
	int fd = open(path, O_RDONLY);
	const batch_pos *last = &c.b[c.nb - 1];
	ck_assert_int_le(last->size, (int64_t)sizeof(junk));
	ck_assert_int_eq(pread(fd, junk, (size_t)last->size, last->pos), (ssize_t)last->size);
	close(fd);
	k.junk_len = (size_t)last->size;
	reopen_checked(s, c.dir, do_append_junk, &k, "duplicate batch", c.end, last->size);
	/* Its first half: a torn copy. */
	k.junk_len = (size_t)last->size / 2;
	reopen_checked(s, c.dir, do_append_junk, &k, "torn duplicate", c.end, last->size / 2);
	/* Random bytes. */
	srand(seed());
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)rand();
	k.junk_len = sizeof(junk);
	reopen_checked(s, c.dir, do_append_junk, &k, "random bytes", c.end, sizeof(junk));

	st_store_close(s);
	crashed_teardown(&c);
}
END_TEST

START_TEST(clean_marker_skips_validation_and_is_removed_at_open)
{
	char *dir = tst_tmpdir("rec");
	st_store_options o;
	st_store *s;
	st_log *log;
	st_log_config cfg;
	char path[4096];

	cfg_small(&cfg);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	ck_assert(!st_log_recovery(log)->clean);
	fill(log, 40);
	int64_t end = st_log_end_offset(log);
	st_log_close(log);
	snprintf(path, sizeof(path), "%s/.clean-shutdown", dir);
	ck_assert_int_eq(access(path, F_OK), 0);

	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	const st_recovery_report *rep = st_log_recovery(log);
	ck_assert(rep->clean);
	ck_assert_int_gt(rep->segments, 3);
	ck_assert_int_eq(rep->segments_scanned, 0);
	ck_assert_int_eq(rep->batches_scanned, 0);
	ck_assert_int_eq(rep->indexes_rebuilt, 0);
	ck_assert_int_ne(access(path, F_OK), 0);
	ck_assert_int_eq(st_log_end_offset(log), end);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), end);
	st_log_close(log);

	/* A crash: only the segment holding the recovery point is scanned. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	rep = st_log_recovery(log);
	ck_assert(!rep->clean);
	ck_assert_int_eq(rep->segments_scanned, 1);
	ck_assert_int_eq(rep->bytes_truncated, 0);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), end);
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

static void write_bytes(const char *path, const uint8_t *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(recovery_rebuilds_missing_and_corrupt_indexes)
{
	char *dir = tst_tmpdir("rec");
	st_store *s;
	st_log *log;
	st_log_config cfg;
	tst_lines lines;
	char path[4096];

	cfg_small(&cfg);
	s = tst_store_open_collecting(&lines);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	fill(log, 60);
	int64_t end = st_log_end_offset(log);
	st_log_stats st;
	st_log_get_stats(log, &st);
	ck_assert_int_ge(st.segments, 5);
	st_log_close(log);

	/* Segment bases, from the files. */
	int64_t bases[64];
	int nb = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".log") == 0)
			bases[nb++] = strtoll(e->d_name, NULL, 10);
	closedir(d);
	for (int i = 0; i < nb; i++)
		for (int j = i + 1; j < nb; j++)
			if (bases[j] < bases[i]) {
				int64_t t = bases[i];
				bases[i] = bases[j];
				bases[j] = t;
			}

	/* 0: .index missing. 1: .timeindex cut to a partial entry. */
	seg_path(path, sizeof(path), dir, bases[0], ".index");
	ck_assert_int_eq(unlink(path), 0);
	seg_path(path, sizeof(path), dir, bases[1], ".timeindex");
	ck_assert_int_eq(truncate(path, tst_file_size(path) - 5), 0);
	/* 2: entries out of order (same size): found when first loaded. */
	seg_path(path, sizeof(path), dir, bases[2], ".index");
	int64_t isz = tst_file_size(path);
	ck_assert_int_ge(isz, 16);
	int fd = open(path, O_RDWR);
	uint8_t ent[16];
	ck_assert_int_eq(pread(fd, ent, 16, 0), 16);
	ck_assert_int_eq(pwrite(fd, ent + 8, 8, 0), 8);
	ck_assert_int_eq(pwrite(fd, ent, 8, 8), 8);
	close(fd);
	/* 3: in order and in range, but one position off a batch boundary. */
	seg_path(path, sizeof(path), dir, bases[3], ".index");
	ck_assert_int_ge(tst_file_size(path), 8);
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pread(fd, ent, 8, 0), 8);
	kp_store_be32(ent + 4, kp_load_be32(ent + 4) + 3);
	ck_assert_int_eq(pwrite(fd, ent, 8, 0), 8);
	close(fd);

	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	const st_recovery_report *rep = st_log_recovery(log);
	ck_assert(rep->clean);
	ck_assert_int_eq(rep->indexes_rebuilt, 2);
	seg_path(path, sizeof(path), dir, bases[0], ".index");
	ck_assert_int_eq(access(path, F_OK), 0);
	/* Every offset still reads right, through rebuilt indexes. */
	for (int64_t off = 0; off < end; off++) {
		st_slice sl;
		uint8_t hdr[KP_BATCH_HEADER_SIZE];
		kp_batch_header h;
		ck_assert_int_eq(st_log_read(log, off, 1, -1, &sl), 0);
		ck_assert_int_eq(pread(sl.fd, hdr, sizeof(hdr), sl.file_pos), (ssize_t)sizeof(hdr));
		ck_assert_int_eq(kp_batch_header_parse(hdr, sizeof(hdr), &h), 0);
		ck_assert_int_le(h.base_offset, off);
		ck_assert_int_ge(kp_batch_last_offset(&h), off);
		st_slice_release(&sl);
	}
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), end);
	int64_t toff, tts;
	ck_assert_int_eq(st_log_offset_for_timestamp(log, 1000 + 10 * 30, &toff, &tts), 0);
	ck_assert_int_eq(tts, 1000 + 10 * 30);
	/* Each problem was logged, naming its file. */
	char name[64];
	st_segment_filename(name, sizeof(name), bases[0], ".index: missing");
	ck_assert_msg(tst_lines_contain(&lines, name), "%s", lines.text);
	st_segment_filename(name, sizeof(name), bases[2], ".index: corrupt");
	ck_assert_msg(tst_lines_contain(&lines, name), "%s", lines.text);
	st_segment_filename(name, sizeof(name), bases[3], ".index: an entry leads off");
	ck_assert_msg(tst_lines_contain(&lines, name), "%s", lines.text);
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(recovery_scans_rolled_segments_that_were_never_sealed)
{
	char *dir = tst_tmpdir("rec");
	st_store_options o;
	st_store *s;
	st_log *log;
	st_log_config cfg;
	char path[4096];

	cfg_small(&cfg);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	fill(log, 40);
	int64_t end = st_log_end_offset(log);
	st_log_stats st;
	st_log_get_stats(log, &st);
	st_log_close(log);
	/* As if it crashed before any seal: no marker, no recovery point, no
	 * index files. */
	snprintf(path, sizeof(path), "%s/.clean-shutdown", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/recovery-point", dir);
	unlink(path);
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, "index")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	}
	closedir(d);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	const st_recovery_report *rep = st_log_recovery(log);
	ck_assert_int_eq(rep->segments_scanned, st.segments);
	ck_assert_int_eq(rep->indexes_rebuilt, st.segments - 1);
	ck_assert_int_eq(rep->batches_scanned, 40);
	ck_assert_int_eq(rep->bytes_truncated, 0);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), end);
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

/* A new log writes no recovery-point file: an absent one means offset 0,
 * which is where a new log starts. A crash before its first roll then
 * scans the one segment, as it would with the file, and every
 * acknowledged batch is there. */
START_TEST(a_new_log_writes_no_recovery_point_and_a_crash_keeps_its_records)
{
	char *dir = tst_tmpdir("rec");
	st_log_config cfg;
	st_store_options o;
	st_store *s;
	st_log *log;
	char path[4096];
	struct stat sb;

	st_log_config_default(&cfg);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	snprintf(path, sizeof(path), "%s/recovery-point", dir);
	ck_assert_int_eq(stat(path, &sb), -1);
	st_log_close(log);
	tst_rmrf(dir);

	crashed_log(dir, &cfg, 25);
	ck_assert_int_eq(stat(path, &sb), -1);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	const st_recovery_report *rep = st_log_recovery(log);
	ck_assert(!rep->clean);
	ck_assert_int_eq(rep->segments_scanned, 1);
	ck_assert_int_eq(rep->batches_scanned, 25);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), st_log_end_offset(log));
	ck_assert_int_gt(st_log_end_offset(log), 25);
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

/* The inode of dir/name, 0 when it does not exist. A file rewritten
 * through a temporary file and rename gets a new one. */
static ino_t inode_of(const char *dir, const char *name)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? sb.st_ino : 0;
}

/* Opens dir with the lines hook, checks the open was clean, scanned
 * nothing, rebuilt no index and said nothing but its report. */
static st_log *open_quietly(st_store *s, tst_lines *lines, const char *dir,
			    const st_log_config *cfg)
{
	st_log *log;

	lines->count = 0;
	ck_assert_int_eq(st_log_open(s, dir, cfg, 1000, &log), 0);
	const st_recovery_report *rep = st_log_recovery(log);
	ck_assert(rep->clean);
	ck_assert_int_eq(rep->segments_scanned, 0);
	ck_assert_int_eq(rep->indexes_rebuilt, 0);
	ck_assert_msg(lines->count == 0, "the open said: %s", lines->text);
	return log;
}

/* A close writes what changed since the open and no more: a new log gets
 * only its clean marker (no index files, no producer snapshot; their
 * absence means empty), an unchanged log rewrites nothing, and a log that
 * took appends writes its index and snapshot. Each open after is clean
 * and quiet. */
START_TEST(a_close_writes_only_what_changed_since_the_open)
{
	static const char *const seg_files[] = {
		"00000000000000000000.index", "00000000000000000000.timeindex"
	};
	char *dir = tst_tmpdir("rec");
	st_log_config cfg;
	tst_lines lines;
	st_store *s;
	st_log *log;

	st_log_config_default(&cfg);
	s = tst_store_open_collecting(&lines);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	st_log_close(log);
	for (int round = 0; round < 2; round++) {
		ck_assert_uint_ne(inode_of(dir, ".clean-shutdown"), 0);
		for (size_t i = 0; i < 2; i++)
			ck_assert_uint_eq(inode_of(dir, seg_files[i]), 0);
		ck_assert_uint_eq(inode_of(dir, "00000000000000000000.snapshot"), 0);
		log = open_quietly(s, &lines, dir, &cfg);
		ck_assert_int_eq(st_log_end_offset(log), 0);
		st_log_close(log);
	}

	/* Appends: the time index gets its max entry and the snapshot its
	 * offset; both are written at close. */
	log = open_quietly(s, &lines, dir, &cfg);
	ck_assert_int_eq(tst_append_sync(log, 0, 10, 5000, 20, 1, 1000, NULL), 0);
	st_log_close(log);
	ino_t timeindex = inode_of(dir, seg_files[1]);
	ino_t snapshot = inode_of(dir, "00000000000000000010.snapshot");
	ck_assert_uint_ne(timeindex, 0);
	ck_assert_uint_ne(snapshot, 0);

	/* Opened and closed with nothing done: the same files. */
	log = open_quietly(s, &lines, dir, &cfg);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), 10);
	st_log_close(log);
	ck_assert_uint_eq(inode_of(dir, seg_files[1]), timeindex);
	ck_assert_uint_eq(inode_of(dir, "00000000000000000010.snapshot"), snapshot);

	/* A later timestamp changes the time index, the end the snapshot. */
	log = open_quietly(s, &lines, dir, &cfg);
	ck_assert_int_eq(tst_append_sync(log, 0, 5, 9000, 20, 1, 1000, NULL), 0);
	st_log_close(log);
	ck_assert_uint_ne(inode_of(dir, seg_files[1]), timeindex);
	ck_assert_uint_ne(inode_of(dir, "00000000000000000015.snapshot"), 0);
	log = open_quietly(s, &lines, dir, &cfg);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), 15);
	int64_t at, ts;
	ck_assert_int_eq(st_log_max_timestamp(log, &at, &ts), 0);
	ck_assert_int_eq(at, 14);
	ck_assert_int_eq(ts, 9004);
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

/* A new log's close writes no index files, so any found at the next open
 * would be wrong for its empty segment. Those a deletion cut short left
 * without their .log are removed at open, before the segment is made. */
START_TEST(index_files_left_without_their_log_are_gone_before_a_new_log_closes)
{
	char *dir = tst_tmpdir("rec");
	st_log_config cfg;
	tst_lines lines;
	st_store *s;
	st_log *log;
	char path[4096];

	st_log_config_default(&cfg);
	s = tst_store_open_collecting(&lines);
	/* One entry each: offset 5 at position 256; timestamp 5000 at 5. */
	static const uint8_t oentry[8] = { 0, 0, 0, 5, 0, 0, 1, 0 };
	static const uint8_t tentry[12] = { 0, 0, 0, 0, 0, 0, 0x13, 0x88, 0, 0, 0, 5 };
	snprintf(path, sizeof(path), "%s/00000000000000000000.index", dir);
	write_bytes(path, oentry, sizeof(oentry));
	snprintf(path, sizeof(path), "%s/00000000000000000000.timeindex", dir);
	write_bytes(path, tentry, sizeof(tentry));
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	ck_assert_uint_eq(inode_of(dir, "00000000000000000000.index"), 0);
	ck_assert_uint_eq(inode_of(dir, "00000000000000000000.timeindex"), 0);
	st_log_close(log);
	log = open_quietly(s, &lines, dir, &cfg);
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(recovery_deletes_segments_after_a_torn_one)
{
	char *dir = tst_tmpdir("rec");
	st_store_options o;
	st_store *s;
	st_log *log;
	st_log_config cfg;
	char path[4096];

	cfg_small(&cfg);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	fill(log, 40);
	st_log_stats st;
	st_log_get_stats(log, &st);
	ck_assert_int_ge(st.segments, 4);
	st_log_close(log);

	/* The second segment is torn in its third batch, and the recovery
	 * point says only the first was known good. */
	int64_t b1 = -1, total = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	int64_t bases[64];
	int nb = 0;
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".log") == 0)
			bases[nb++] = strtoll(e->d_name, NULL, 10);
	closedir(d);
	for (int i = 0; i < nb; i++)
		if (bases[i] > 0 && (b1 < 0 || bases[i] < b1))
			b1 = bases[i];
	for (int i = 0; i < nb; i++) {
		seg_path(path, sizeof(path), dir, bases[i], ".log");
		if (bases[i] > b1)
			total += tst_file_size(path);
	}
	batch_pos bp[64];
	seg_path(path, sizeof(path), dir, b1, ".log");
	int64_t size1 = tst_file_size(path);
	size_t n = layout(path, bp, 64);
	ck_assert_uint_gt(n, 3);
	ck_assert_int_eq(truncate(path, bp[2].pos + bp[2].size / 2), 0);
	snprintf(path, sizeof(path), "%s/.clean-shutdown", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/recovery-point", dir);
	write_file(path, "0\n0\n");

	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	const st_recovery_report *rep = st_log_recovery(log);
	ck_assert_int_eq(rep->segments_scanned, 2);
	ck_assert_int_eq(rep->bytes_truncated, total + bp[2].size / 2);
	ck_assert_int_eq(st_log_end_offset(log), bp[2].base);
	st_log_get_stats(log, &st);
	ck_assert_int_eq(st.segments, 2);
	ck_assert_int_eq(st.active_base_offset, b1);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), bp[2].base);
	(void)size1;
	fill(log, 10);
	ck_assert_int_eq(tst_check_log(log, 0, 0, NULL), st_log_end_offset(log));
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(recovery_ignores_garbled_checkpoints)
{
	char *dir = tst_tmpdir("rec");
	st_store_options o;
	st_store *s;
	st_log *log;
	st_log_config cfg;
	char path[4096];

	cfg_small(&cfg);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	fill(log, 20);
	int64_t end = st_log_end_offset(log);
	st_log_close(log);
	snprintf(path, sizeof(path), "%s/.clean-shutdown", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/recovery-point", dir);
	write_file(path, "zz\n");
	snprintf(path, sizeof(path), "%s/log-start-offset", dir);
	write_file(path, "0\n999999\n");
	snprintf(path, sizeof(path), "%s/leader-epoch-checkpoint", dir);
	write_file(path, "0\n3\n1 0\n");
	snprintf(path, sizeof(path), "%s/00000000000000000000.log.tmp", dir);
	write_file(path, "leftover");

	ck_assert_int_eq(st_log_open(s, dir, &cfg, 1000, &log), 0);
	ck_assert_int_eq(st_log_end_offset(log), end);
	/* A start offset beyond the end is clamped to it. */
	ck_assert_int_eq(st_log_start_offset(log), end);
	ck_assert_int_eq(st_log_latest_epoch(log), 1);
	ck_assert_int_ne(access(path, F_OK), 0);
	st_log_close(log);
	st_store_close(s);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *recovery_suite(void)
{
	Suite *s = suite_create("recovery");
	TCase *tc = tcase_create("recovery");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, recovery_truncates_a_torn_tail_at_any_byte);
	tcase_add_test(tc, a_new_log_writes_no_recovery_point_and_a_crash_keeps_its_records);
	tcase_add_test(tc, recovery_truncates_at_a_garbled_batch);
	tcase_add_test(tc, recovery_drops_garbage_after_the_last_batch);
	tcase_add_test(tc, clean_marker_skips_validation_and_is_removed_at_open);
	tcase_add_test(tc, recovery_rebuilds_missing_and_corrupt_indexes);
	tcase_add_test(tc, recovery_scans_rolled_segments_that_were_never_sealed);
	tcase_add_test(tc, recovery_deletes_segments_after_a_torn_one);
	tcase_add_test(tc, a_close_writes_only_what_changed_since_the_open);
	tcase_add_test(tc, index_files_left_without_their_log_are_gone_before_a_new_log_closes);
	tcase_add_test(tc, recovery_ignores_garbled_checkpoints);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(recovery_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
