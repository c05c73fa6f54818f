/*
 * bench_cleaner.c -- throughput of one log compaction pass, and the memory
 * its key map costs per key.
 *
 * Each run:
 *   1. builds a compacted log in a fresh directory under --dir: --versions
 *      rounds over --keys keys (each round in a shuffled key order), values
 *      of --value-bytes, batches of 500 records with --codec, 64 MiB
 *      segments (4 MiB with --quick), appended without syncs (flush.messages
 *      high), then rolled and reopened so every segment is closed and sealed;
 *   2. drops nothing from the page cache (a cleaner usually reads segments
 *      written not long before; storage.sh notes it);
 *   3. times one st_log_clean() pass over the whole log: the map over the
 *      dirty section, the rewrite, the fsyncs and the swaps;
 *   4. checks the result: exactly one record per key left (the latest).
 *
 * Output, for tests/bench/cleaner.sh to put beside fio's sequential write:
 *
 *   result phase=clean keys=... versions=... codec=... log_bytes=...
 *          seconds=... mb_per_s=... read_bytes=... written_bytes=...
 *          records=... kept=... map_keys=... map_bytes=...
 *          map_bytes_per_key=... runs=... mb_per_s_min=... mb_per_s_max=...
 *   result phase=map slot_bytes=12 keys=... bytes=... bytes_per_key=...
 *
 * mb_per_s is the log's size before the pass over the pass's duration (MB
 * = 10^6 bytes, as fio's). The map line fills a map to its load limit with
 * distinct keys: the cost per key when a pass's map is full. Exit 0 when
 * every run worked (whatever the speed), 1 otherwise.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_int.h"
#include "test_cleaner_util.h"

#define PER_BATCH 500

struct opts {
	const char *dir;
	int keys, versions, value_bytes, codec, repeat;
	size_t map_bytes;
	int64_t segment_bytes;
};

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the calling thread: st_log_clean() runs on it, so this is
 * the pass's own CPU (a fair measure on a busy machine, where wall time
 * is mostly waiting for a core). */
static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rmrf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *codec_names[] = { "none", "gzip", "snappy", "lz4", "zstd" };

static void log_config(const struct opts *o, st_log_config *cfg)
{
	st_log_config_default(cfg);
	cfg->segment_bytes = o->segment_bytes;
	cfg->compact = true;
	cfg->flush_messages = INT64_MAX;
	cfg->flush_ms = INT64_MAX / 2;
}

/* Builds the log; its size in *bytes. 0 or -1. */
static int build(const struct opts *o, st_store *s, const char *dir, int64_t *bytes)
{
	st_log_config cfg;
	st_log *log;
	int rc;

	log_config(o, &cfg);
	if ((rc = st_log_open(s, dir, &cfg, wall_ms(), &log)) < 0) {
		fprintf(stderr, "bench_cleaner: cannot open %s: %s\n", dir, st_strerror(rc));
		return -1;
	}
	int *order = malloc((size_t)o->keys * sizeof(*order));
	ctu_rec *r = malloc(PER_BATCH * sizeof(*r));
	if (!order || !r) {
		fprintf(stderr, "bench_cleaner: out of memory\n");
		return -1;
	}
	for (int k = 0; k < o->keys; k++)
		order[k] = k;
	ctu_batch_opts bo;
	ctu_opts_default(&bo);
	bo.codec = o->codec;
	bo.pad = (size_t)o->value_bytes;
	for (int v = 0; v < o->versions && rc == 0; v++) {
		for (int k = o->keys - 1; k > 0; k--) {
			int j = rand() % (k + 1), t = order[k];
			order[k] = order[j];
			order[j] = t;
		}
		for (int k = 0; k < o->keys && rc == 0; k += PER_BATCH) {
			int n = o->keys - k < PER_BATCH ? o->keys - k : PER_BATCH;
			for (int i = 0; i < n; i++)
				r[i] = (ctu_rec){ order[k + i], v };
			bo.timestamp = wall_ms();
			rc = ctu_append(log, r, n, &bo, wall_ms(), NULL);
		}
	}
	free(order);
	free(r);
	if (rc == 0)
		rc = st_log_roll(log, wall_ms());
	if (rc < 0) {
		fprintf(stderr, "bench_cleaner: building the log failed: %s\n", st_strerror(rc));
		st_log_close(log);
		return -1;
	}
	st_log_close(log);   /* waits for the seal of the last rolled segment */
	st_log_stats st;
	if ((rc = st_log_open(s, dir, &cfg, wall_ms(), &log)) < 0)
		return -1;
	st_log_get_stats(log, &st);
	*bytes = st.size_bytes;
	st_log_close(log);
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int run(const struct opts *o)
{
	st_store *s;
	double mbps[16], cpus[16];
	st_clean_result last;
	int64_t log_bytes = 0;
	double secs = 0;
	int rc;

	if ((rc = st_store_open(NULL, &s)) < 0) {
		fprintf(stderr, "bench_cleaner: cannot start storage: %s\n", st_strerror(rc));
		return 1;
	}
	for (int i = 0; i < o->repeat; i++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/compact-%d", o->dir, i);
		rmrf(dir);
		if (build(o, s, dir, &log_bytes) < 0)
			return 1;
		st_log_config cfg;
		st_log *log;
		log_config(o, &cfg);
		if ((rc = st_log_open(s, dir, &cfg, wall_ms(), &log)) < 0)
			return 1;
		st_clean_options co = { .map_bytes = o->map_bytes };
		double t0 = mono(), c0 = thread_cpu();
		rc = st_log_clean(log, &co, wall_ms(), &last);
		secs = mono() - t0;
		cpus[i] = thread_cpu() - c0;
		if (rc < 0 || !last.cleaned) {
			fprintf(stderr, "bench_cleaner: the pass failed: %s\n", st_strerror(rc));
			return 1;
		}
		ctu_seen seen;
		rc = ctu_read_all(log, o->keys, &seen);
		bool ok = rc == 0 && seen.records == o->keys && seen.duplicates == 0 && seen.ordered;
		for (int k = 0; ok && k < o->keys; k++)
			ok = seen.latest[k] == o->versions - 1;
		ctu_seen_free(&seen);
		st_log_close(log);
		rmrf(dir);
		if (!ok) {
			fprintf(stderr, "bench_cleaner: the cleaned log is not one latest record per key "
				"(a map too small for the keys leaves more: raise --map-bytes)\n");
			return 1;
		}
		mbps[i] = (double)log_bytes / 1e6 / secs;
		fprintf(stderr, "bench_cleaner: run %d: %.1f MB in %.3f s = %.1f MB/s (map %.3f s, "
			"rewrite %.3f s; CPU %.3f s = %.2f ms/MB)\n", i + 1, (double)log_bytes / 1e6,
			secs, mbps[i], last.map_seconds, last.rewrite_seconds, cpus[i],
			cpus[i] * 1e3 / ((double)log_bytes / 1e6));
	}
	st_store_close(s);
	double sorted[16];
	memcpy(sorted, mbps, (size_t)o->repeat * sizeof(double));
	qsort(sorted, (size_t)o->repeat, sizeof(double), cmp_d);
	double cpu_sorted[16];
	memcpy(cpu_sorted, cpus, (size_t)o->repeat * sizeof(double));
	qsort(cpu_sorted, (size_t)o->repeat, sizeof(double), cmp_d);
	double cpu = cpu_sorted[(o->repeat - 1) / 2];
	printf("result phase=clean keys=%d versions=%d codec=%s value_bytes=%d log_bytes=%" PRId64
	       " seconds=%.3f mb_per_s=%.1f read_bytes=%" PRId64 " written_bytes=%" PRId64
	       " records=%" PRId64 " kept=%d map_keys=%" PRId64 " map_bytes=%zu"
	       " map_bytes_per_key=%.2f runs=%d mb_per_s_min=%.1f mb_per_s_max=%.1f"
	       " cpu_seconds=%.3f cpu_ms_per_mb=%.2f cpu_mb_per_s=%.1f\n",
	       o->keys, o->versions, codec_names[o->codec], o->value_bytes, log_bytes, secs,
	       sorted[(o->repeat - 1) / 2], last.bytes_read, last.bytes_written, last.records_read,
	       o->keys, last.map_keys, last.map_bytes,
	       last.map_keys ? (double)last.map_bytes / (double)last.map_keys : 0.0, o->repeat,
	       sorted[0], sorted[o->repeat - 1], cpu, cpu * 1e3 / ((double)log_bytes / 1e6),
	       cpu > 0 ? (double)log_bytes / 1e6 / cpu : 0.0);

	/* The map at its load limit. */
	st__omap m;
	if (st__omap_init(&m, o->map_bytes) < 0)
		return 1;
	st__omap_reset(&m, 0);
	char key[32];
	size_t n = 0;
	while (st__omap_room(&m, 1)) {
		int kl = snprintf(key, sizeof(key), "key-%zu", n);
		st__omap_put(&m, key, (size_t)kl, (int64_t)n);
		n++;
	}
	printf("result phase=map slot_bytes=%zu keys=%zu bytes=%zu bytes_per_key=%.2f\n",
	       ST__OMAP_SLOT_BYTES, n, st__omap_bytes(&m), (double)st__omap_bytes(&m) / (double)n);
	st__omap_free(&m);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .dir = NULL, .keys = 1000000, .versions = 4, .value_bytes = 100,
			  .codec = 0, .repeat = 1, .map_bytes = (size_t)128 << 20,
			  .segment_bytes = 64 << 20 };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--quick") == 0) {
			o.keys = 50000;
			o.versions = 4;
			o.segment_bytes = 4 << 20;
			continue;
		}
		if (!v) {
			fprintf(stderr, "bench_cleaner: %s needs a value (see the top of "
				"tests/bench/bench_cleaner.c)\n", a);
			return 1;
		}
		i++;
		if (strcmp(a, "--dir") == 0)
			o.dir = v;
		else if (strcmp(a, "--keys") == 0)
			o.keys = atoi(v);
		else if (strcmp(a, "--versions") == 0)
			o.versions = atoi(v);
		else if (strcmp(a, "--value-bytes") == 0)
			o.value_bytes = atoi(v);
		else if (strcmp(a, "--repeat") == 0)
			o.repeat = atoi(v);
		else if (strcmp(a, "--map-bytes") == 0)
			o.map_bytes = (size_t)strtoull(v, NULL, 10);
		else if (strcmp(a, "--codec") == 0) {
			o.codec = -1;
			for (int c = 0; c < 5; c++)
				if (strcmp(v, codec_names[c]) == 0)
					o.codec = c;
		} else {
			fprintf(stderr, "bench_cleaner: unknown option %s\n", a);
			return 1;
		}
	}
	if (!o.dir || o.keys < 1 || o.versions < 1 || o.value_bytes < 0 || o.value_bytes > 4000 ||
	    o.repeat < 1 || o.repeat > 16 || o.codec < 0 || o.map_bytes < 4096) {
		fprintf(stderr, "usage: bench_cleaner --dir DIR [--quick] [--keys N] [--versions V] "
			"[--value-bytes B (<= 4000)] [--codec none|gzip|snappy|lz4|zstd] "
			"[--map-bytes M] [--repeat R (<= 16)]\n");
		return 1;
	}
	mkdir(o.dir, 0755);
	srand(1);
	return run(&o);
}
