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
 * The machine this runs on is shared, so each figure is the best of
 * --repeat trials of about --ms milliseconds of CPU time each: the thread's
 * own CPU clock (CLOCK_THREAD_CPUTIME_ID) leaves out the time it spent
 * descheduled, and the best trial is the one least disturbed by neighbours
 * on the same core. A figure is still wall-clock-ish; compare runs taken on
 * the same machine in the same state.
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
#include <time.h>

#include "proto/proto.h"

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* Best GB/s over `trials` trials of ~ms milliseconds each. *sink keeps the
 * calls from being optimised away. */
static double best_gbps(crc_fn fn, const uint8_t *p, size_t len, int trials, double ms,
			uint32_t *sink)
{
	double best = 0;
	long iters = 1;

	/* Calibrate: double the iterations until one trial takes ~ms/4. */
	for (;;) {
		double t0 = cpu_s();
		for (long i = 0; i < iters; i++)
			*sink ^= fn(*sink, p, len);
		double dt = cpu_s() - t0;
		if (dt * 1e3 >= ms / 4 || iters > (1L << 40))
			break;
		iters *= 2;
	}
	iters *= 4;
	for (int t = 0; t < trials; t++) {
		double t0 = cpu_s();
		for (long i = 0; i < iters; i++)
			*sink ^= fn(*sink, p, len);
		double dt = cpu_s() - t0;
		double gbps = (double)len * (double)iters / dt / 1e9;
		if (gbps > best)
			best = gbps;
	}
	return best;
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
