/*
 * perf_stats.c -- what `rewind perf produce|consume|e2e` measure and how
 * they print it: counts, a latency histogram, a live progress line on a
 * terminal, the final summary (text or --json).
 *
 * The histogram is log-linear (HdrHistogram's idea, small): values in
 * microseconds; below 2^PERF_SUB_BITS each value has its own bucket, above
 * it every power of two is split into 2^PERF_SUB_BITS equal buckets, so a
 * percentile is off by at most 1/2^PERF_SUB_BITS (< 1 %) of its value, and
 * memory is fixed (PERF_BUCKETS counters) whatever the record count.
 * Percentiles are bucket upper bounds (never understate); the maximum is
 * exact.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/tools.h"

int64_t cmd_perf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t bucket_of(uint64_t us)
{
	const uint64_t sub = (uint64_t)1 << PERF_SUB_BITS;
	if (us < sub)
		return (size_t)us;
	int msb = 63 - __builtin_clzll(us);
	int shift = msb - PERF_SUB_BITS;
	size_t idx = (size_t)(shift + 1) * sub + (size_t)((us >> shift) - sub);
	return idx < PERF_BUCKETS ? idx : PERF_BUCKETS - 1;
}

/* The largest value that falls in bucket idx. */
static uint64_t bucket_top(size_t idx)
{
	const uint64_t sub = (uint64_t)1 << PERF_SUB_BITS;
	if (idx < sub)
		return idx;
	size_t shift = idx / sub - 1;
	uint64_t base = (sub + idx % sub) << shift;
	return base + ((uint64_t)1 << shift) - 1;
}

void cmd_perf_stats_init(struct perf_stats *s, const char *mode)
{
	memset(s, 0, sizeof *s);
	s->mode = mode;
	s->tty = isatty(2);
	s->start_ns = cmd_perf_now_ns();
	s->last_progress_ns = s->start_ns;
}

void cmd_perf_stats_latency(struct perf_stats *s, int64_t ns)
{
	uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
	s->hist[bucket_of(us)]++;
	s->lat_count++;
	s->lat_sum_us += us;
	if (us > s->lat_max_us)
		s->lat_max_us = us;
}

double cmd_perf_stats_percentile_ms(const struct perf_stats *s, double q)
{
	if (s->lat_count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)s->lat_count);
	if (rank >= s->lat_count)
		rank = s->lat_count - 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < PERF_BUCKETS; i++) {
		seen += s->hist[i];
		if (seen > rank) {
			uint64_t top = bucket_top(i);
			if (top > s->lat_max_us)
				top = s->lat_max_us;
			return (double)top / 1000.0;
		}
	}
	return (double)s->lat_max_us / 1000.0;
}

void cmd_perf_stats_progress(struct perf_stats *s, bool force)
{
	if (!s->tty)
		return;
	int64_t now = cmd_perf_now_ns();
	if (!force && now - s->last_progress_ns < 500000000)
		return;
	double dt = (double)(now - s->last_progress_ns) / 1e9;
	if (dt <= 0)
		dt = 1e-9;
	double rate = (double)(s->records - s->last_records) / dt;
	double mb = (double)(s->bytes - s->last_bytes) / dt / 1e6;
	fprintf(stderr, "\r%s: %" PRId64 " records, %.0f records/s, %.2f MB/s, latency avg %.2f ms max %.2f ms   ",
		s->mode, s->records, rate, mb,
		s->lat_count ? (double)s->lat_sum_us / (double)s->lat_count / 1000.0 : 0.0,
		(double)s->lat_max_us / 1000.0);
	s->last_progress_ns = now;
	s->last_records = s->records;
	s->last_bytes = s->bytes;
	s->progress_shown = true;
}

void cmd_perf_stats_summary(struct perf_stats *s, FILE *out, bool json)
{
	int64_t end = s->end_ns ? s->end_ns : cmd_perf_now_ns();
	double secs = (double)(end - s->start_ns) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	if (s->progress_shown) {
		fputc('\n', stderr);
		s->progress_shown = false;
	}
	double rps = (double)s->records / secs, mbps = (double)s->bytes / secs / 1e6;
	double p50 = cmd_perf_stats_percentile_ms(s, 0.50), p99 = cmd_perf_stats_percentile_ms(s, 0.99);
	double p999 = cmd_perf_stats_percentile_ms(s, 0.999), mx = (double)s->lat_max_us / 1000.0;
	if (json) {
		fprintf(out, "{\"mode\":\"%s\",\"records\":%" PRId64 ",\"bytes\":%" PRId64
			",\"errors\":%" PRId64 ",\"seconds\":%.3f,\"records_per_s\":%.1f,\"mb_per_s\":%.3f,"
			"\"latency_ms\":{\"count\":%" PRIu64 ",\"avg\":%.3f,\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}}\n",
			s->mode, s->records, s->bytes, s->errors, secs, rps, mbps, s->lat_count,
			s->lat_count ? (double)s->lat_sum_us / (double)s->lat_count / 1000.0 : 0.0,
			p50, p99, p999, mx);
		return;
	}
	fprintf(out, "%s: %" PRId64 " records (%" PRId64 " bytes) in %.2f s: %.1f records/s, %.2f MB/s",
		s->mode, s->records, s->bytes, secs, rps, mbps);
	if (s->errors)
		fprintf(out, ", %" PRId64 " errors", s->errors);
	fputc('\n', out);
	if (s->lat_count)
		fprintf(out, "%s latency (%s): p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
			s->mode, s->latency_what ? s->latency_what : "ms", p50, p99, p999, mx);
}
