/*
 * crash_cleaner.c -- kill -9 a process in the middle of log compaction,
 * again and again, and check that no key's latest value is ever lost.
 *
 * Each cycle forks a child that opens one compacted log (small segments),
 * reads it back to learn every key's latest version, then loops: appends a
 * round of new versions for random keys (each batch waits for its durable
 * acknowledgement, then reports (key, version) pairs to the parent over a
 * pipe), rolls, and runs a cleaning pass, telling the parent when a pass
 * starts. The parent SIGKILLs the child a random few hundred microseconds
 * after a pass started (so most kills land inside a pass: in the map, the
 * rewrite, the commit record or the renames), reopens the log (recovery
 * finishes or rolls back the swap) and checks:
 *
 *   - no .cleaned or .swap file is left;
 *   - every batch passes its CRC check and decodes, offsets ascend strictly;
 *   - for every key, versions only go up along the log (no older value
 *     resurfaces after a newer one), and the last is at least the highest
 *     one acknowledged to the parent (an acknowledged latest value is never
 *     lost);
 *   - the log takes appends and cleans again (the next cycle goes on).
 *
 * The short form (the `crash` suite) runs 24 cycles. The long form:
 * REWIND_CRASH_CYCLES=500 (or the first argument), as scripts/soak.sh runs
 * it. The seed is printed and can be fixed with REWIND_TEST_SEED.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "st_test.h"
#include "test_cleaner_util.h"

#define KEYS 300
#define ROUND 240                     /* records appended per round */

typedef struct msg {
	int32_t kind;                 /* 0 acked (key, version), 1 pass started */
	int32_t key, version;
} msg;

static void log_config(st_log_config *cfg)
{
	st_log_config_default(cfg);
	cfg->segment_bytes = 8192;
	cfg->index_interval_bytes = 512;
	cfg->compact = true;
	cfg->min_cleanable_dirty_ratio = 0;
	cfg->delete_retention_ms = 0;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_msg(int fd, msg m)
{
	if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(3);
}

static void run_child(const char *dir, int fd, unsigned seed)
{
	st_store *s;
	st_log *log;
	st_log_config cfg;
	ctu_seen seen;
	ctu_batch_opts o;

	srand(seed);
	log_config(&cfg);
	if (st_store_open(NULL, &s) < 0 || st_log_open(s, dir, &cfg, wall_ms(), &log) < 0)
		_exit(2);
	if (ctu_read_all(log, KEYS, &seen) < 0)
		_exit(2);
	int version[KEYS];
	for (int k = 0; k < KEYS; k++)
		version[k] = seen.latest[k] < 0 ? 0 : seen.latest[k];
	ctu_seen_free(&seen);
	ctu_opts_default(&o);
	o.pad = 60;
	for (;;) {
		for (int n = 0; n < ROUND;) {
			ctu_rec r[16];
			int nrec = 1 + rand() % 16;
			o.codec = rand() % 5;
			for (int i = 0; i < nrec; i++) {
				int k = rand() % KEYS;
				r[i] = (ctu_rec){ k, ++version[k] };
			}
			o.timestamp = wall_ms();
			if (ctu_append(log, r, nrec, &o, wall_ms(), NULL) < 0)
				_exit(4);
			for (int i = 0; i < nrec; i++)
				send_msg(fd, (msg){ 0, r[i].key, r[i].version });
			n += nrec;
		}
		if (st_log_roll(log, wall_ms()) < 0)
			_exit(5);
		send_msg(fd, (msg){ 1, 0, 0 });
		st_clean_options co = { .map_bytes = 1 << 20 };
		st_clean_result res;
		int rc = st_log_clean(log, &co, wall_ms(), &res);
		if (rc < 0 && rc != ST_ERR_BUSY)
			_exit(6);
	}
}

static int count_leftovers(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strstr(e->d_name, ".cleaned") != NULL || strstr(e->d_name, ".swap") != NULL;
	closedir(d);
	return n;
}

/* Checks the recovered log; 0 or 1 (a message on stderr). */
static int verify(const char *dir, const int *acked, int cycle)
{
	st_store *s;
	st_log *log;
	st_log_config cfg;
	ctu_seen seen;
	int bad = 0;

	log_config(&cfg);
	if (st_store_open(NULL, &s) < 0 || st_log_open(s, dir, &cfg, wall_ms(), &log) < 0) {
		fprintf(stderr, "cycle %d: the log does not open after the kill\n", cycle);
		return 1;
	}
	if (count_leftovers(dir) != 0) {
		fprintf(stderr, "cycle %d: .cleaned or .swap files left after recovery\n", cycle);
		bad = 1;
	}
	int rc = ctu_read_all(log, KEYS, &seen);
	if (rc < 0) {
		fprintf(stderr, "cycle %d: reading the log failed: %s\n", cycle, st_strerror(rc));
		bad = 1;
	} else {
		if (!seen.ordered) {
			fprintf(stderr, "cycle %d: offsets not strictly ascending\n", cycle);
			bad = 1;
		}
		if (seen.regressions) {
			fprintf(stderr, "cycle %d: %" PRId64 " record(s) older than a version before "
				"them (a stale value resurfaced)\n", cycle, seen.regressions);
			bad = 1;
		}
		for (int k = 0; k < KEYS && !bad; k++) {
			if (acked[k] > 0 && seen.latest[k] < acked[k]) {
				fprintf(stderr, "cycle %d: key-%d ends at version %d, %d was acknowledged\n",
					cycle, k, seen.latest[k], acked[k]);
				bad = 1;
			}
		}
		ctu_seen_free(&seen);
	}
	st_log_close(log);
	st_store_close(s);
	return bad;
}

static int cycles = 24;

START_TEST(kill_during_cleaning_never_loses_a_latest_value)
{
	const char *se = getenv("REWIND_TEST_SEED");
	unsigned seed = se ? (unsigned)strtoul(se, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
	printf("crash_cleaner: %d cycles, seed %u\n", cycles, seed);
	fflush(stdout);
	srand(seed);

	char *dir = tst_tmpdir("crash-cleaner");
	int acked[KEYS];
	for (int k = 0; k < KEYS; k++)
		acked[k] = 0;
	for (int cycle = 0; cycle < cycles; cycle++) {
		int p[2];
		ck_assert_int_eq(pipe(p), 0);
		unsigned cseed = (unsigned)rand();
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(p[0]);
			run_child(dir, p[1], cseed);
			_exit(0);
		}
		close(p[1]);
		/* Kill during the 1st to 3rd pass of this child, 0-3 ms in. */
		int passes = 1 + rand() % 3, seen_passes = 0;
		int delay_us = rand() % 3000;
		msg m;
		bool killed = false;
		while (read(p[0], &m, sizeof(m)) == (ssize_t)sizeof(m)) {
			if (m.kind == 0 && m.version > acked[m.key])
				acked[m.key] = m.version;
			if (m.kind == 1 && ++seen_passes == passes && !killed) {
				usleep((useconds_t)delay_us);   /* the crash moment */
				kill(pid, SIGKILL);
				killed = true;
			}
		}
		close(p[0]);
		int status;
		waitpid(pid, &status, 0);
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			      "cycle %d: child ended with status %d before the kill", cycle, status);
		ck_assert_msg(verify(dir, acked, cycle) == 0,
			      "FAILED at cycle %d (seed %u); log kept in %s", cycle, seed, dir);
	}
	printf("crash_cleaner: %d cycles, each killed 0-3 ms into a cleaning pass: every "
	       "acknowledged latest value present\n", cycles);
	tst_rmrf(dir);
	free(dir);
}
END_TEST

int main(int argc, char **argv)
{
	return tst_crash_main(argc, argv, "crash_cleaner",
			      kill_during_cleaning_never_loses_a_latest_value, &cycles);
}
