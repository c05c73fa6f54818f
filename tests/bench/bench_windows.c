/*
 * bench_windows.c -- replay throughput of `rewind windows`' engine on one
 * core, on events already in memory: gen-events' workload (5 % out of
 * order, 1 % late, 3 partitions by video as a keyed producer spreads them)
 * fed through the JSON scanner, window assignment, aggregates (count,
 * sum:position_ms, distinct:user_id) and output encoding, emitting every
 * 4096 events as the tool does after each poll. Tumbling 5m and hopping
 * 5m/1m by video_id; sessions (30 s gap) by user_id.
 *
 * Usage: bench_windows [--count N] [--json]
 * Reports events/s of the thread's CPU time (and wall time) per kind.
 * tests/bench/windows.sh runs it beside the whole tool on a local broker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/proto.h"
#include "tools/tools.h"

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sink {
	struct win_engine *e;
	kp_buf k, v;
	uint64_t results, bytes;
};

static int encode(void *arg, const struct win_result *r)
{
	struct sink *s = arg;
	kp_buf_reset(&s->k);
	kp_buf_reset(&s->v);
	win_result_key(r, &s->k);
	if (!r->tombstone)
		win_result_value(s->e, r, &s->v);
	s->results++;
	s->bytes += s->k.len + s->v.len;
	return s->k.err | s->v.err;
}

int main(int argc, char **argv)
{
	size_t n = 1000000;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else {
			fprintf(stderr, "usage: bench_windows [--count N] [--json]\n");
			return 2;
		}
	}
	struct gen_events_opts o;
	gen_events_opts_default(&o);
	o.count = n;
	o.out_of_order = 0.05;
	o.late = 0.01;
	struct gen_events *g;
	if (gen_events_new(&o, &g) < 0)
		return 1;
	/* One buffer of JSON values; offsets per event. */
	size_t cap = n * 200, used = 0;
	char *buf = malloc(cap);
	size_t *off = malloc((n + 1) * sizeof *off);
	unsigned char *part = malloc(n);
	if (buf == NULL || off == NULL || part == NULL)
		return 1;
	size_t klen = gen_events_key_len(g) + 1;
	for (size_t i = 0; i < n; i++) {
		struct gen_event ev;
		char line[512];
		gen_events_next(g, &ev);
		int len = gen_events_format(g, &ev, line, sizeof line);
		if (len < 0 || used + (size_t)len > cap)
			return 1;
		off[i] = used;
		memcpy(buf + used, line + klen, (size_t)len - klen - 1);
		used += (size_t)len - klen - 1;
		part[i] = (unsigned char)(ev.video % 3);
	}
	off[n] = used;
	gen_events_free(g);

	static const struct {
		const char *name;
		enum win_kind kind;
		int64_t size, slide, gap;
		const char *key;
	} kinds[] = {
		{ "tumbling 5m", WIN_TUMBLING, 300000, 300000, 0, "video_id" },
		{ "hopping 5m/1m", WIN_HOPPING, 300000, 60000, 0, "video_id" },
		{ "session 30s", WIN_SESSION, 0, 0, 30000, "user_id" },
	};
	if (json)
		printf("[");
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		struct win_spec s;
		win_spec_default(&s);
		s.kind = kinds[k].kind;
		s.size_ms = kinds[k].size;
		s.slide_ms = kinds[k].slide;
		s.gap_ms = kinds[k].gap;
		s.keys[s.n_keys++] = kinds[k].key;
		s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_COUNT, NULL };
		s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_SUM, "position_ms" };
		s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_DISTINCT, "user_id" };
		struct sink sk = { 0 };
		char err[256];
		kp_buf_init(&sk.k);
		kp_buf_init(&sk.v);
		if (win_engine_new(&s, 3, &sk.e, err, sizeof err) < 0) {
			fprintf(stderr, "bench_windows: %s\n", err);
			return 1;
		}
		double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
		for (size_t i = 0; i < n; i++) {
			if (win_engine_feed(sk.e, part[i], buf + off[i], off[i + 1] - off[i]) < 0)
				return 1;
			if ((i & 4095) == 4095 && win_engine_emit(sk.e, false, encode, &sk) < 0)
				return 1;
		}
		if (win_engine_emit(sk.e, true, encode, &sk) < 0)
			return 1;
		double cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0, wall = now(CLOCK_MONOTONIC) - w0;
		struct win_stats st;
		win_engine_stats(sk.e, &st);
		if (json)
			printf("%s{\"kind\":\"%s\",\"events\":%zu,\"cpu_s\":%.3f,\"wall_s\":%.3f,"
			       "\"events_per_cpu_s\":%.0f,\"results\":%llu,\"late\":%llu}",
			       k ? "," : "", kinds[k].name, n, cpu, wall, (double)n / cpu,
			       (unsigned long long)sk.results, (unsigned long long)st.too_late);
		else
			printf("%-14s %zu events  %.3f s CPU  %.3f s wall  %10.0f events/s (CPU)  "
			       "%llu results  %llu late\n", kinds[k].name, n, cpu, wall, (double)n / cpu,
			       (unsigned long long)sk.results, (unsigned long long)st.too_late);
		win_engine_free(sk.e);
		kp_buf_free(&sk.k);
		kp_buf_free(&sk.v);
	}
	if (json)
		printf("]\n");
	free(buf);
	free(off);
	free(part);
	return 0;
}
