/*
 * bench_crc32c.c -- speed of proto's CRC-32C, the check the broker runs over
 * every produced byte.
 *
 * For each size (default 64 B, 1 KiB, 16 KiB, 1 MiB) it checksums a buffer
 * of pseudo-random bytes at an odd offset (as a batch inside a request is)
 * with kp_crc32c() (the hardware path where the CPU has one) and with
 * kp_crc32c_portable() (slicing-by-8), and prints GB/s (10^9 bytes per
 * second of this thread's CPU time).
 *
 * Each figure is the best of --repeat trials of about --ms milliseconds of
 * this thread's CPU time (bench_best.h says why). Compare runs taken on the
 * same machine in the same state.
 *
 * Output, one line per size and implementation:
 *
 *   result crc=hw size=1048576 gb_per_s=... ns_per_call=... trials=7
 *
 * Exit 0 unless an argument is wrong or the two paths disagree.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "tests/bench/bench_best.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* One call under test; sink keeps the calls from being optimised away. */
typedef struct crc_run {
	crc_fn fn;
	const uint8_t *p;
	size_t len;
	uint32_t sink;
} crc_run;

static void crc_once(void *arg)
{
	crc_run *r = arg;
	r->sink ^= r->fn(r->sink, r->p, r->len);
}

/* Best GB/s over `trials` trials of ~ms milliseconds each. */
static double best_gbps(crc_fn fn, const uint8_t *p, size_t len, int trials, double ms,
			uint32_t *sink)
{
	crc_run r = { fn, p, len, *sink };
	double s = bench_best_s_per_call(crc_once, &r, trials, ms);

	*sink = r.sink;
	return (double)len / s / 1e9;
}

int main(int argc, char **argv)
{
	size_t sizes[16] = { 64, 1024, 16384, 1048576 };
	int nsizes = 4, trials = 7;
	double ms = 100;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
			trials = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--ms") && i + 1 < argc) {
			ms = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
			nsizes = 0;
			for (char *tok = strtok(argv[++i], ","); tok && nsizes < 16;
			     tok = strtok(NULL, ",")) {
				char *end;
				sizes[nsizes] = (size_t)strtoull(tok, &end, 10);
				if (*end != '\0' || sizes[nsizes] == 0) {
					nsizes = 0;
					break;
				}
				nsizes++;
			}
		} else {
			fprintf(stderr, "usage: bench_crc32c [--repeat N] [--ms MS] "
					"[--sizes A,B,...]\n");
			return 1;
		}
	}
	if (trials < 1 || ms <= 0 || nsizes == 0) {
		fprintf(stderr, "bench_crc32c: --repeat >= 1, --ms > 0, --sizes a list of byte counts\n");
		return 1;
	}

	size_t max = 0;
	for (int i = 0; i < nsizes; i++)
		if (sizes[i] > max)
			max = sizes[i];
	uint8_t *buf = malloc(max + 1);
	if (!buf) {
		fprintf(stderr, "bench_crc32c: out of memory\n");
		return 1;
	}
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < max + 1; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	const uint8_t *p = buf + 1;     /* odd offset, as inside a request */
	uint32_t sink = 0;

	fprintf(stderr, "bench_crc32c: hardware path %s\n",
		kp_crc32c_hw_available() ? "available (SSE4.2)" : "not available");
	for (int i = 0; i < nsizes; i++) {
		if (kp_crc32c(0, p, sizes[i]) != kp_crc32c_portable(0, p, sizes[i])) {
			fprintf(stderr, "bench_crc32c: the two paths disagree at size %zu\n", sizes[i]);
			return 1;
		}
		double hw = best_gbps(kp_crc32c, p, sizes[i], trials, ms, &sink);
		double sw = best_gbps(kp_crc32c_portable, p, sizes[i], trials, ms, &sink);
		printf("result crc=%s size=%zu gb_per_s=%.2f ns_per_call=%.1f trials=%d\n",
		       kp_crc32c_hw_available() ? "hw" : "table", sizes[i], hw,
		       (double)sizes[i] / hw, trials);
		printf("result crc=portable size=%zu gb_per_s=%.2f ns_per_call=%.1f trials=%d\n",
		       sizes[i], sw, (double)sizes[i] / sw, trials);
	}
	fprintf(stderr, "(sink %08x)\n", sink);
	free(buf);
	return 0;
}
