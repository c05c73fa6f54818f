/*
 * bench_record_walk.c -- speed of proto's record walk (kp_record_iter), which
 * the produce path runs over every record of every batch it takes (storage's
 * LogValidator checks: the records must parse, keys on compacted topics,
 * timestamps in the window).
 *
 * For each value size (default 100 B and 1 KiB, as the broker benchmark's
 * records: no key, no headers) it builds one uncompressed batch of --records
 * records with kp_batch_builder, then walks it record by record, reading
 * each record's key, timestamp and headers count as storage does, and
 * prints nanoseconds per record. A third shape adds a key and two headers.
 *
 * Timing: the best of --repeat trials of about --ms milliseconds of this
 * thread's CPU time (bench_best.h).
 *
 * Output, one line per shape:
 *
 *   result walk=plain value=100 records=5000 ns_per_record=... trials=7
 *
 * Exit 0 unless an argument is wrong or a walk fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "tests/bench/bench_best.h"

/* One walk of the batch: what storage reads of each record. Returns a sum
 * of the fields, so the walk cannot be optimised away; -1 on a failure. */
static int64_t walk(const kp_buf *batch)
{
	kp_record_iter it;
	kp_record rec;
	int64_t sum = 0;
	int rc;

	if (kp_record_iter_init(&it, batch->data, batch->len, 1 << 30) < 0)
		return -1;
	while ((rc = kp_record_iter_next(&it, &rec)) == 1)
		sum += rec.timestamp + (rec.key != NULL) + rec.headers_count + rec.value_len;
	kp_record_iter_free(&it);
	return rc == 0 ? sum : -1;
}

typedef struct walk_run {
	const kp_buf *batch;
	int64_t sink;
} walk_run;

static void walk_once(void *arg)
{
	walk_run *r = arg;
	r->sink += walk(r->batch);
}

/* Best ns per record over `trials` trials of ~ms milliseconds each. */
static double best_ns(const kp_buf *batch, int records, int trials, double ms, int64_t *sink)
{
	walk_run r = { batch, 0 };
	double s = bench_best_s_per_call(walk_once, &r, trials, ms);

	*sink += r.sink;
	return s * 1e9 / records;
}

/* An uncompressed batch of n records of `size`-byte values, stamped one ms
 * apart; with `rich`, each has a key and two headers too. */
static int build(kp_buf *out, int n, size_t size, int rich)
{
	kp_batch_builder bb;
	uint8_t *val = malloc(size ? size : 1);
	kp_header h[2] = {
		{ (const uint8_t *)"trace", 5, (const uint8_t *)"0af7651916cd43dd", 16 },
		{ (const uint8_t *)"type", 4, (const uint8_t *)"order", 5 },
	};
	int rc = 0;

	if (!val)
		return -1;
	memset(val, 'v', size);
	kp_batch_builder_init(&bb, KP_CODEC_NONE, 0);
	for (int i = 0; i < n && rc == 0; i++) {
		char key[16];
		int klen = snprintf(key, sizeof(key), "k%07d", i);
		rc = kp_batch_builder_add(&bb, 1700000000000LL + i, rich ? key : NULL, rich ? klen : -1,
					  val, (int32_t)size, rich ? h : NULL, rich ? 2 : 0);
	}
	if (rc == 0)
		rc = kp_batch_builder_finish(&bb, out);
	kp_batch_builder_free(&bb);
	free(val);
	return rc;
}

int main(int argc, char **argv)
{
	int records = 5000, trials = 7;
	double ms = 100;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			trials = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ms") && i + 1 < argc)
			ms = atof(argv[++i]);
		else if (!strcmp(argv[i], "--records") && i + 1 < argc)
			records = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: bench_record_walk [--records N] [--repeat N] [--ms MS]\n");
			return 1;
		}
	}
	if (trials < 1 || ms <= 0 || records < 1 || records > 1000000) {
		fprintf(stderr, "bench_record_walk: --repeat >= 1, --ms > 0, --records 1..1000000\n");
		return 1;
	}

	const struct { const char *name; size_t size; int rich; } shapes[] = {
		{ "plain", 100, 0 }, { "plain", 1024, 0 }, { "key+2headers", 100, 1 },
	};
	int64_t sink = 0;

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		kp_buf batch;

		kp_buf_init(&batch);
		if (build(&batch, records, shapes[s].size, shapes[s].rich) != 0 || walk(&batch) < 0) {
			fprintf(stderr, "bench_record_walk: the %s batch does not build or walk\n",
				shapes[s].name);
			return 1;
		}
		double ns = best_ns(&batch, records, trials, ms, &sink);
		printf("result walk=%s value=%zu records=%d ns_per_record=%.1f trials=%d\n",
		       shapes[s].name, shapes[s].size, records, ns, trials);
		kp_buf_free(&batch);
	}
	fprintf(stderr, "(sink %lld)\n", (long long)sink);
	return 0;
}
