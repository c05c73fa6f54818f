/*
 * st_test.h -- helpers shared by the storage tests and the crash loop.
 *
 * Batches are built with proto's kp_batch_builder. Record values are
 * derived from (partition, offset) so a reader can check every record it
 * gets back without remembering what was written; the builder does not know
 * the offset a log will assign, so callers pass the offset they expect and
 * check st_append.base_offset afterwards.
 *
 * Temporary directories live under $TMPDIR (or /tmp) and are removed by
 * tst_rmrf(). Every helper aborts the test (ck_assert) on an unexpected
 * failure, except where it returns an error for the test to check.
 */
#ifndef REWIND_TESTS_ST_TEST_H
#define REWIND_TESTS_ST_TEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "storage/storage.h"

/* A new empty directory; caller frees the string (and removes the tree). */
char *tst_tmpdir(const char *tag);
void tst_rmrf(const char *path);

/* The value of the record at `offset` of partition `part`: "p<part>-o<offset>"
 * padded with a pattern to `pad` bytes. Returns its length. */
size_t tst_value(char *buf, size_t cap, int part, int64_t offset, size_t pad);

/*
 * Appends to `out` one batch of `nrec` records expected at offsets
 * [first, first + nrec), timestamps ts0, ts0 + 1, ..., values tst_value()
 * padded to `pad` bytes. 0 or a kp_err.
 */
int tst_build_batch(kp_buf *out, int part, int64_t first, int nrec, int64_t ts0, size_t pad);

/* A waiter for one append's callback (an st_append with it as arg). */
typedef struct tst_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
	bool durable;
} tst_wait;

void tst_wait_init(tst_wait *w);
void tst_wait_destroy(tst_wait *w);
void tst_wait_cb(st_append *a, int err);
/* Waits for the callback; returns its err. */
int tst_wait_for(tst_wait *w);

/*
 * Appends one batch (nrec records, expected at the log end) and waits for
 * its callback. Returns st_log_append()'s error, or the callback's; *out
 * (may be NULL) receives the append's OUT fields.
 */
int tst_append_sync(st_log *log, int part, int nrec, int64_t ts0, size_t pad,
		    int32_t epoch, int64_t now_ms, st_append *out);
/* Appends the batches in buf (borrowed; storage rewrites their offsets) and
 * waits likewise; same returns and *out. */
int tst_append_buf(st_log *log, const kp_buf *buf, int32_t epoch, int64_t now_ms, st_append *out);

/*
 * Reads the whole readable log from `from` and checks it: every batch
 * passes kp_batch_validate, offsets are contiguous from the first batch,
 * every record's value is tst_value(part, offset, ...) (pad 0 = any pad).
 * Returns the offset after the last batch, or a negative error; *batches
 * (may be NULL) counts them.
 */
int64_t tst_check_log(st_log *log, int part, int64_t from, int *batches);

/* Collects log lines (the store's hook) so tests can check what was said. */
typedef struct tst_lines {
	pthread_mutex_t mu;
	char text[16384];
	size_t len;
	int count;
} tst_lines;

void tst_lines_init(tst_lines *l);
void tst_lines_hook(void *arg, enum st_log_level level, const char *msg);
bool tst_lines_contain(tst_lines *l, const char *needle);
/* How many times needle occurs in what was said (non-empty needle). */
int tst_lines_count(tst_lines *l, const char *needle);

/* A store with default options whose log lines go to *lines (initialised
 * here). Asserts it opens. */
st_store *tst_store_open_collecting(tst_lines *lines);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t tst_now_ms(void);

/* Size of a file, or -1. */
int64_t tst_file_size(const char *path);
/* Copies every regular file of one directory into another (created). */
void tst_copy_dir(const char *from, const char *to);

/*
 * The main() of a crash loop (tests/crash/): sets *cycles from argv[1] or
 * REWIND_CRASH_CYCLES when given (at least 1; else it keeps its default),
 * runs `test` (a START_TEST test) in a forked Check runner named
 * `name` with a timeout that grows with the cycles, and returns the exit
 * status.
 */
struct TTest;
int tst_crash_main(int argc, char **argv, const char *name, const struct TTest *test,
		   int *cycles);

/*
 * A store and one open log in a directory, for tests of one log. Open
 * asserts success; close closes the log (if open) and the store, removes
 * the directory and frees it.
 */
typedef struct tst_fixture {
	char *dir;                    /* owned */
	st_store *store;
	st_log *log;
	st_log_config cfg;
} tst_fixture;

/* Opens in a copy of `dir`, with cfg (NULL: defaults) at time now_ms. */
void tst_fx_open_at(tst_fixture *f, const char *dir, const st_log_config *cfg, int64_t now_ms);
/* Opens in a fresh temporary directory named after tag. */
void tst_fx_open(tst_fixture *f, const char *tag, const st_log_config *cfg);
/* Closes and reopens the log (the store stays). */
void tst_fx_reopen(tst_fixture *f);
void tst_fx_close(tst_fixture *f);

#endif /* REWIND_TESTS_ST_TEST_H */
