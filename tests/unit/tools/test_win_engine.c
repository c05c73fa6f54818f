/*
 * test_win_engine.c -- the windowing engine of `rewind windows`
 * (tools/win_engine.c, win_agg.c, win_codec.c) against hand-worked
 * expectations: the seeds' clicks in tumbling and hopping windows, the
 * watermark with out-of-orderness, allowed lateness and re-emission, the
 * side output, session merging with tombstones, idle partitions, and the
 * determinism contract (any interleaving of partitions and a checkpoint
 * round trip give the same final results).
 *
 * Times are minutes after 2024-01-01T00:00Z (T0, a multiple of 5 minutes,
 * so windows align as they do at the epoch).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "tools/tools.h"

#define T0 INT64_C(1704067200000)
#define MIN INT64_C(60000)

/* One emission as the output topic would get it. */
struct out {
	char key[256];
	char value[512];              /* "" = tombstone */
	int64_t start, end;
	bool final, tomb;
	int64_t count;
	uint32_t emits;
};

struct sink {
	struct win_engine *e;
	struct out *o;
	size_t n, cap;
};

static int collect(void *arg, const struct win_result *r)
{
	struct sink *s = arg;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->o = realloc(s->o, s->cap * sizeof *s->o);
		ck_assert_ptr_nonnull(s->o);
	}
	struct out *o = &s->o[s->n++];
	memset(o, 0, sizeof *o);
	kp_buf k, v;
	kp_buf_init(&k);
	kp_buf_init(&v);
	ck_assert_int_eq(win_result_key(r, &k), 0);
	if (!r->tombstone)
		ck_assert_int_eq(win_result_value(s->e, r, &v), 0);
	ck_assert_uint_lt(k.len, sizeof o->key);
	ck_assert_uint_lt(v.len, sizeof o->value);
	memcpy(o->key, k.data, k.len);
	if (v.len)
		memcpy(o->value, v.data, v.len);
	kp_buf_free(&k);
	kp_buf_free(&v);
	o->start = r->start;
	o->end = r->end;
	o->final = r->final;
	o->tomb = r->tombstone;
	o->count = r->count;
	o->emits = r->emits;
	return 0;
}

static struct win_engine *engine(const struct win_spec *s, size_t parts)
{
	struct win_engine *e;
	char err[256];
	ck_assert_msg(win_engine_new(s, parts, &e, err, sizeof err) == 0, "%s", err);
	return e;
}

/* Feeds {"user":USER,"ts":T0 + minutes} to partition part. */
static int click(struct win_engine *e, size_t part, const char *user, double minutes)
{
	char line[256];
	int n = snprintf(line, sizeof line, "{\"user\":\"%s\",\"ts\":%lld,\"ms\":%d}", user,
			 (long long)(T0 + (int64_t)(minutes * 60000)), (int)(minutes * 10));
	return win_engine_feed(e, part, line, (size_t)n);
}

static int feed_str(struct win_engine *e, const char *json)
{
	return win_engine_feed(e, 0, json, strlen(json));
}

static const struct out *find(const struct sink *s, const char *user, double start_min,
			      double end_min)
{
	char key[64];
	snprintf(key, sizeof key, "\"%s\"", user);
	const struct out *last = NULL;
	for (size_t i = 0; i < s->n; i++) {
		const struct out *o = &s->o[i];
		if (strncmp(o->key + 7, key, strlen(key)) == 0 &&
		    o->start == T0 + (int64_t)(start_min * MIN) && o->end == T0 + (int64_t)(end_min * MIN))
			last = o;
	}
	return last;
}

static struct win_spec spec_user(enum win_kind kind)
{
	struct win_spec s;
	win_spec_default(&s);
	s.kind = kind;
	s.keys[s.n_keys++] = "user";
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_COUNT, NULL };
	s.out_of_order_ms = 0;
	s.lateness_ms = 0;
	return s;
}

START_TEST(seeds_clicks_in_five_minute_tumbling_windows)
{
	/* Alice clicks at 00:01, 00:03, 00:07: [00:00,00:05) holds two,
	 * [00:05,00:10) one. Bob at 00:20 moves the watermark past both. */
	struct win_spec s = spec_user(WIN_TUMBLING);
	struct win_engine *e = engine(&s, 1);
	struct sink k = { .e = e };
	ck_assert_int_eq(click(e, 0, "alice", 1), WIN_ACCEPTED);
	ck_assert_int_eq(click(e, 0, "alice", 3), WIN_ACCEPTED);
	ck_assert_int_eq(click(e, 0, "alice", 7), WIN_ACCEPTED);
	ck_assert_int_eq(win_engine_emit(e, false, collect, &k), 0);
	/* Watermark 00:07: [0,5) is due, [5,10) is not. */
	ck_assert_uint_eq(k.n, 1);
	ck_assert_int_eq(k.o[0].count, 2);
	ck_assert(k.o[0].final);       /* lateness 0: final at once */
	ck_assert_int_eq(click(e, 0, "bob", 20), WIN_ACCEPTED);
	ck_assert_int_eq(win_engine_emit(e, false, collect, &k), 0);
	const struct out *a = find(&k, "alice", 0, 5), *b = find(&k, "alice", 5, 10);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(a->count, 2);
	ck_assert_int_eq(b->count, 1);
	ck_assert(b->final);
	ck_assert_str_eq(b->value, "{\"key\":\"alice\",\"start\":1704067500000,\"end\":1704067800000,"
			 "\"window\":\"2024-01-01T00:05:00.000Z/2024-01-01T00:10:00.000Z\","
			 "\"count\":1,\"emits\":1,\"final\":true}");
	ck_assert_str_eq(b->key, "{\"key\":\"alice\",\"start\":1704067500000,\"end\":1704067800000}");
	win_engine_free(e);
	free(k.o);
}
END_TEST

START_TEST(seeds_clicks_in_five_minute_windows_hopping_by_one)
{
	/* 5m windows every 1m; a click at minute m is in the five windows
	 * starting at m-4 .. m (floor):
	 *   00:01 -> [-4,1) no: starts -3,-2,-1,0,1  (window [s, s+5) holds 1
	 *            when s <= 1 < s+5)
	 *   00:03 -> starts -1,0,1,2,3
	 *   00:07 -> starts 3,4,5,6,7
	 * so by start: -3:1 -2:1 -1:2 0:2 1:2 2:1 3:2 4:1 5:1 6:1 7:1. */
	struct win_spec s = spec_user(WIN_HOPPING);
	s.size_ms = 5 * MIN;
	s.slide_ms = 1 * MIN;
	struct win_engine *e = engine(&s, 1);
	struct sink k = { .e = e };
	click(e, 0, "alice", 1);
	click(e, 0, "alice", 3);
	click(e, 0, "alice", 7);
	ck_assert_int_eq(win_engine_emit(e, true, collect, &k), 0);
	static const int expect[][2] = { { -3, 1 }, { -2, 1 }, { -1, 2 }, { 0, 2 }, { 1, 2 },
					 { 2, 1 },  { 3, 2 },  { 4, 1 },  { 5, 1 }, { 6, 1 }, { 7, 1 } };
	ck_assert_uint_eq(k.n, 11);
	for (size_t i = 0; i < 11; i++) {
		const struct out *o = find(&k, "alice", expect[i][0], expect[i][0] + 5);
		ck_assert_msg(o != NULL, "window starting at minute %d", expect[i][0]);
		ck_assert_int_eq(o->count, expect[i][1]);
	}
	/* Emitted in window-end order. */
	for (size_t i = 1; i < k.n; i++)
		ck_assert_int_le(k.o[i - 1].end, k.o[i].end);
	win_engine_free(e);
	free(k.o);
}
END_TEST

START_TEST(window_fires_only_when_watermark_passes_its_end)
{
	struct win_spec s = spec_user(WIN_TUMBLING);
	s.out_of_order_ms = 10000;
	struct win_engine *e = engine(&s, 1);
	struct sink k = { .e = e };
	click(e, 0, "alice", 1);
	click(e, 0, "alice", 5 + 5.0 / 60);     /* 00:05:05 -> watermark 00:04:55 */
	win_engine_emit(e, false, collect, &k);
	ck_assert_uint_eq(k.n, 0);
	/* Out of order but within 10 s: still counted in [0,5). */
	ck_assert_int_eq(click(e, 0, "alice", 4 + 58.0 / 60), WIN_ACCEPTED);
	click(e, 0, "alice", 5 + 10.0 / 60);    /* watermark 00:05:00 = the end */
	win_engine_emit(e, false, collect, &k);
	ck_assert_uint_eq(k.n, 1);
	ck_assert_int_eq(k.o[0].count, 2);
	win_engine_free(e);
	free(k.o);
}
END_TEST

START_TEST(allowed_lateness_reemits_then_late_events_go_to_side_output)
{
	struct win_spec s = spec_user(WIN_TUMBLING);
	s.lateness_ms = 1 * MIN;
	struct win_engine *e = engine(&s, 1);
	struct sink k = { .e = e };
	click(e, 0, "alice", 1);
	click(e, 0, "alice", 5);                 /* watermark 00:05: [0,5) fires */
	win_engine_emit(e, false, collect, &k);
	ck_assert_uint_eq(k.n, 1);
	ck_assert(!k.o[0].final);
	ck_assert_uint_eq(k.o[0].emits, 1);
	/* 00:04 is late (end 00:05 <= watermark) but within a minute: an
	 * updated result, emission count 2. */
	ck_assert_int_eq(click(e, 0, "alice", 4), WIN_ACCEPTED);
	win_engine_emit(e, false, collect, &k);
	ck_assert_uint_eq(k.n, 2);
	ck_assert_int_eq(k.o[1].count, 2);
	ck_assert_uint_eq(k.o[1].emits, 2);
	ck_assert(!k.o[1].final);
	/* Watermark 00:06 = end + lateness: final, and the window is gone. */
	click(e, 0, "bob", 6);
	win_engine_emit(e, false, collect, &k);
	const struct out *a = find(&k, "alice", 0, 5);
	ck_assert(a->final);
	ck_assert_int_eq(a->count, 2);
	ck_assert_uint_eq(a->emits, 2);
	/* Beyond the lateness: side output, counted, window untouched. */
	ck_assert_int_eq(click(e, 0, "alice", 4.5), WIN_TOO_LATE);
	size_t before = k.n;
	win_engine_emit(e, false, collect, &k);
	ck_assert_uint_eq(k.n, before);
	struct win_stats st;
	win_engine_stats(e, &st);
	ck_assert_uint_eq(st.too_late, 1);
	ck_assert_uint_eq(st.late_updates, 1);
	ck_assert_uint_eq(st.events, 5);
	win_engine_free(e);
	free(k.o);
}
END_TEST

START_TEST(watermark_is_the_minimum_over_partitions_and_idle_ones_only_delay_emission)
{
	struct win_spec s = spec_user(WIN_TUMBLING);
	s.lateness_ms = 10 * MIN;
	struct win_engine *e = engine(&s, 2);
	struct sink k = { .e = e };
	click(e, 0, "alice", 1);
	click(e, 0, "alice", 30);                /* partition 0 at 00:30 */
	click(e, 1, "bob", 2);                   /* partition 1 at 00:02 */
	win_engine_emit(e, false, collect, &k);
	ck_assert_uint_eq(k.n, 0);               /* min is 00:02 */
	/* Partition 1 idle: it stops holding back emission ... */
	win_engine_set_idle(e, 1, true);
	win_engine_emit(e, false, collect, &k);
	ck_assert_uint_eq(k.n, 2);               /* alice and bob [0,5) */
	ck_assert(!k.o[0].final && !k.o[1].final);
	/* ... but not finality: partition 1 may still send 00:03 for bob, and
	 * by its own watermark that is on time. */
	ck_assert_int_eq(click(e, 1, "bob", 3), WIN_ACCEPTED);
	win_engine_set_idle(e, 1, false);
	win_engine_emit(e, false, collect, &k);
	const struct out *b = find(&k, "bob", 0, 5);
	ck_assert_int_eq(b->count, 2);
	ck_assert_uint_eq(b->emits, 1);          /* not a late update */
	click(e, 1, "bob", 16);                  /* min watermark 00:16 > 00:15 */
	win_engine_emit(e, false, collect, &k);
	ck_assert(find(&k, "bob", 0, 5)->final);
	ck_assert(find(&k, "alice", 0, 5)->final);
	/* Every partition idle (the stream paused): the largest watermark
	 * fires, so alice's [30,35) is written -- not final. */
	ck_assert_ptr_null(find(&k, "alice", 30, 35));
	click(e, 0, "alice", 40);
	win_engine_set_idle(e, 0, true);
	win_engine_set_idle(e, 1, true);
	win_engine_emit(e, false, collect, &k);
	ck_assert_ptr_nonnull(find(&k, "alice", 30, 35));
	ck_assert(!find(&k, "alice", 30, 35)->final);
	win_engine_free(e);
	free(k.o);
}
END_TEST

START_TEST(late_event_bridging_two_sessions_merges_them_and_deletes_the_old_ones)
{
	struct win_spec s = spec_user(WIN_SESSION);
	s.gap_ms = 30 * MIN;
	s.lateness_ms = 120 * MIN;
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_SUM, "ms" };
	struct win_engine *e = engine(&s, 1);
	struct sink k = { .e = e };
	click(e, 0, "alice", 0);                 /* session [0,30) */
	click(e, 0, "alice", 50);                /* session [50,80) */
	click(e, 0, "bob", 100);                 /* watermark 01:40 */
	win_engine_emit(e, false, collect, &k);
	ck_assert_ptr_nonnull(find(&k, "alice", 0, 30));
	ck_assert_ptr_nonnull(find(&k, "alice", 50, 80));
	size_t before = k.n;
	/* 00:25 spans [25,55): it overlaps both, so they merge into [0,80). */
	ck_assert_int_eq(click(e, 0, "alice", 25), WIN_ACCEPTED);
	win_engine_emit(e, false, collect, &k);
	ck_assert_uint_eq(k.n, before + 3);
	const struct out *m = find(&k, "alice", 0, 80);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->count, 3);
	ck_assert_uint_eq(m->emits, 2);          /* one late update */
	ck_assert(strstr(m->value, "\"sum_ms\":750") != NULL);   /* 0 + 500 + 250 */
	ck_assert(find(&k, "alice", 0, 30)->tomb);
	ck_assert(find(&k, "alice", 50, 80)->tomb);
	/* A session that is only extended moves too: 00:79 grows [0,80) to
	 * [0,109) ... and the old identity is deleted. */
	click(e, 0, "alice", 79);
	click(e, 0, "bob", 200);
	win_engine_emit(e, false, collect, &k);
	ck_assert(find(&k, "alice", 0, 80)->tomb);
	ck_assert_int_eq(find(&k, "alice", 0, 109)->count, 4);
	win_engine_free(e);
	free(k.o);
}
END_TEST

START_TEST(aggregates_are_exact_and_distinct_is_close)
{
	struct win_spec s;
	win_spec_default(&s);
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_COUNT, NULL };
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_SUM, "v" };
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_MIN, "v" };
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_MAX, "v" };
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_AVG, "v" };
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_DISTINCT, "u" };
	struct win_engine *e = engine(&s, 1);
	struct sink k = { .e = e };
	char line[128];
	/* 0.1 ten thousand times is exactly 1000 (a double sum is not). */
	for (int i = 0; i < 10000; i++) {
		int n = snprintf(line, sizeof line, "{\"ts\":%lld,\"v\":0.1,\"u\":\"user%d\"}",
				 (long long)T0 + i, i);
		ck_assert_int_eq(win_engine_feed(e, 0, line, (size_t)n), WIN_ACCEPTED);
	}
	/* Missing and non-numeric values are left out, not zero. */
	feed_str(e, "{\"ts\":1704067200000,\"v\":\"x\"}");
	feed_str(e, "{\"ts\":1704067200000,\"v\":-2.5}");
	ck_assert_int_eq(win_engine_emit(e, true, collect, &k), 0);
	ck_assert_uint_eq(k.n, 1);
	ck_assert_msg(strstr(k.o[0].value, "\"count\":10002,\"sum_v\":997.5,\"min_v\":-2.5,"
			     "\"max_v\":0.1,\"avg_v\":0.099740026,\"distinct_u\":") != NULL,
		      "%s", k.o[0].value);
	unsigned long d = strtoul(strstr(k.o[0].value, "distinct_u\":") + 12, NULL, 10);
	ck_assert_msg(d > 9500 && d < 10500, "distinct %lu", d);
	win_engine_free(e);
	free(k.o);
}
END_TEST

START_TEST(unparsable_events_are_counted_not_windowed)
{
	struct win_spec s = spec_user(WIN_TUMBLING);
	struct win_engine *e = engine(&s, 1);
	ck_assert_int_eq(feed_str(e, "not json"), WIN_BAD);
	ck_assert_int_eq(feed_str(e, "{\"user\":\"a\"}"), WIN_BAD);   /* no ts */
	ck_assert_int_eq(feed_str(e, "{\"ts\":\"yesterday\"}"), WIN_BAD);
	ck_assert_int_eq(feed_str(e, "{\"ts\":\"2024-01-01T00:01:00Z\"}"), WIN_ACCEPTED);
	struct win_stats st;
	win_engine_stats(e, &st);
	ck_assert_uint_eq(st.bad, 3);
	ck_assert_uint_eq(st.accepted, 1);
	win_engine_free(e);
}
END_TEST

/* ------------------------------------------------------ determinism */

struct latest {
	char **kv;                    /* "KEY\tVALUE" of the last emission per key */
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Latest value per key, as a compacted topic would hold it (tombstones
 * delete). */
static struct latest latest_of(const struct sink *k)
{
	struct latest l = { calloc(k->n + 1, sizeof(char *)), 0 };
	for (size_t i = k->n; i-- > 0;) {
		bool seen = false;
		for (size_t j = i + 1; j < k->n && !seen; j++)
			seen = strcmp(k->o[j].key, k->o[i].key) == 0;
		if (seen || k->o[i].tomb)
			continue;
		size_t n = strlen(k->o[i].key) + strlen(k->o[i].value) + 2;
		l.kv[l.n] = malloc(n);
		snprintf(l.kv[l.n++], n, "%s\t%s", k->o[i].key, k->o[i].value);
	}
	qsort(l.kv, l.n, sizeof *l.kv, cmp_str);
	return l;
}

static void latest_free(struct latest *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->kv[i]);
	free(l->kv);
}

static void latest_eq(const struct latest *a, const struct latest *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		ck_assert_str_eq(a->kv[i], b->kv[i]);
}

#define NEV 6000
#define NP 3

/* Generated events, partitioned by video as a keyed producer would. */
static char *events[NEV];
static size_t event_part[NEV];

static void make_events(void)
{
	struct gen_events_opts o;
	gen_events_opts_default(&o);
	o.count = NEV;
	o.videos = 20;
	o.users = 300;
	o.rate = 5;                   /* 200 ms apart: 20 minutes of event time */
	o.out_of_order = 0.05;
	o.late = 0.02;
	o.late_min_ms = 60000;
	o.late_max_ms = 600000;
	struct gen_events *g;
	ck_assert_int_eq(gen_events_new(&o, &g), 0);
	for (size_t i = 0; i < NEV; i++) {
		struct gen_event ev;
		char line[512];
		gen_events_next(g, &ev);
		int n = gen_events_format(g, &ev, line, sizeof line);
		ck_assert_int_gt(n, 0);
		char *json = strchr(line, '\t') + 1;
		events[i] = strdup(json);
		event_part[i] = ev.video % NP;
	}
	gen_events_free(g);
}

static struct win_spec spec_video(enum win_kind kind)
{
	struct win_spec s;
	win_spec_default(&s);
	s.kind = kind;
	s.size_ms = 2 * MIN;
	s.slide_ms = kind == WIN_HOPPING ? 30000 : s.size_ms;
	s.gap_ms = 5000;
	s.out_of_order_ms = 10000;
	s.lateness_ms = 2 * MIN;
	s.keys[s.n_keys++] = "video_id";
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_COUNT, NULL };
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_AVG, "position_ms" };
	s.aggs[s.n_aggs++] = (struct win_agg_spec){ WIN_AGG_DISTINCT, "user_id" };
	return s;
}

/* Runs the events through an engine: order 0 round-robin over partitions
 * emitting every 97 events, order 1 one partition after another emitting
 * every 1000, with partition 2 marked idle for a while; stop_at > 0 saves
 * the state there and continues in a fresh engine. */
static struct latest run(enum win_kind kind, int order, size_t stop_at)
{
	struct win_spec s = spec_video(kind);
	struct win_engine *e = engine(&s, NP);
	struct sink k = { .e = e };
	/* The feeding order: round-robin over the partitions, or each
	 * partition whole in turn; within a partition always its own order. */
	size_t seq[NEV], n = 0;
	if (order == 0) {
		size_t next[NP] = { 0 };
		while (n < NEV) {
			for (size_t p = 0; p < NP; p++) {
				while (next[p] < NEV && event_part[next[p]] != p)
					next[p]++;
				if (next[p] < NEV)
					seq[n++] = next[p]++;
			}
		}
	} else {
		for (size_t p = 0; p < NP; p++)
			for (size_t i = 0; i < NEV; i++)
				if (event_part[i] == p)
					seq[n++] = i;
	}
	for (size_t fed = 1; fed <= NEV; fed++) {
		size_t idx = seq[fed - 1];
		win_engine_set_idle(e, 2, order == 1 && fed > 1000 && fed < 3000);
		int rc = win_engine_feed(e, event_part[idx], events[idx], strlen(events[idx]));
		ck_assert_int_ge(rc, 0);
		if (fed % (order == 0 ? 97 : 1000) == 0)
			ck_assert_int_eq(win_engine_emit(e, false, collect, &k), 0);
		if (stop_at && fed == stop_at) {
			ck_assert_int_eq(win_engine_emit(e, false, collect, &k), 0);
			kp_buf b;
			kp_buf_init(&b);
			ck_assert_int_eq(win_engine_save(e, &b), 0);
			win_engine_free(e);
			e = engine(&s, NP);
			char err[256] = "";
			ck_assert_msg(win_engine_load(e, b.data, b.len, err, sizeof err) == 0, "%s", err);
			kp_buf_free(&b);
			k.e = e;
		}
	}
	ck_assert_int_eq(win_engine_emit(e, true, collect, &k), 0);
	struct win_stats st;
	win_engine_stats(e, &st);
	ck_assert_uint_gt(st.too_late, 0);
	ck_assert_uint_gt(st.late_updates, 0);
	struct latest l = latest_of(&k);
	win_engine_free(e);
	free(k.o);
	return l;
}

static void same_results_for_kind(enum win_kind kind)
{
	make_events();
	struct latest a = run(kind, 0, 0);
	struct latest b = run(kind, 1, 0);
	struct latest c = run(kind, 0, NEV / 2);
	ck_assert_uint_gt(a.n, 20);
	latest_eq(&a, &b);
	latest_eq(&a, &c);
	latest_free(&a);
	latest_free(&b);
	latest_free(&c);
	for (size_t i = 0; i < NEV; i++)
		free(events[i]);
}

START_TEST(tumbling_results_do_not_depend_on_partition_interleaving_or_checkpoints)
{
	same_results_for_kind(WIN_TUMBLING);
}
END_TEST

START_TEST(hopping_results_do_not_depend_on_partition_interleaving_or_checkpoints)
{
	same_results_for_kind(WIN_HOPPING);
}
END_TEST

START_TEST(session_results_do_not_depend_on_partition_interleaving_or_checkpoints)
{
	same_results_for_kind(WIN_SESSION);
}
END_TEST

START_TEST(checkpoint_of_another_job_or_corrupt_bytes_is_refused)
{
	struct win_spec s = spec_user(WIN_TUMBLING);
	struct win_engine *e = engine(&s, 1);
	click(e, 0, "alice", 1);
	kp_buf b;
	kp_buf_init(&b);
	ck_assert_int_eq(win_engine_save(e, &b), 0);
	char err[256];
	struct win_spec other = s;
	other.size_ms = 10 * MIN;
	struct win_engine *o = engine(&other, 1);
	ck_assert_int_eq(win_engine_load(o, b.data, b.len, err, sizeof err), -1);
	ck_assert(strstr(err, "other options") != NULL);
	win_engine_free(o);
	o = engine(&s, 2);
	ck_assert_int_eq(win_engine_load(o, b.data, b.len, err, sizeof err), -1);
	win_engine_free(o);
	for (size_t cut = 0; cut < b.len; cut += 7) {
		o = engine(&s, 1);
		ck_assert_int_eq(win_engine_load(o, b.data, cut, err, sizeof err), -1);
		win_engine_free(o);
	}
	kp_buf_free(&b);
	win_engine_free(e);
}
END_TEST

START_TEST(bad_specs_are_refused_with_a_sentence)
{
	struct win_spec s = spec_user(WIN_HOPPING);
	struct win_engine *e;
	char err[256];
	s.size_ms = 5 * MIN;
	s.slide_ms = 10 * MIN;
	ck_assert_int_eq(win_engine_new(&s, 1, &e, err, sizeof err), -1);
	ck_assert(strstr(err, "hop") != NULL);
	s = spec_user(WIN_SESSION);
	s.gap_ms = 0;
	ck_assert_int_eq(win_engine_new(&s, 1, &e, err, sizeof err), -1);
	s = spec_user(WIN_TUMBLING);
	ck_assert_int_eq(win_engine_new(&s, 0, &e, err, sizeof err), -1);
}
END_TEST

START_TEST(reconcile_rewrites_fired_windows_and_deletes_unknown_identities)
{
	/* After a restart, identities the dead run wrote: a fired window of
	 * the restored state is written again, anything else deleted. */
	struct win_spec s = spec_user(WIN_TUMBLING);
	s.lateness_ms = 10 * MIN;
	struct win_engine *e = engine(&s, 1);
	struct sink k = { .e = e };
	click(e, 0, "alice", 1);
	click(e, 0, "alice", 6);                 /* [0,5) fires */
	ck_assert_int_eq(win_engine_emit(e, false, collect, &k), 0);
	ck_assert_uint_eq(k.n, 1);
	const char *alice = "\"alice\"", *bob = "\"bob\"";
	ck_assert_int_eq(win_engine_reconcile(e, alice, strlen(alice), T0, T0 + 5 * MIN), 0);
	ck_assert_int_eq(win_engine_reconcile(e, alice, strlen(alice), T0 + 5 * MIN, T0 + 10 * MIN), 0);
	ck_assert_int_eq(win_engine_reconcile(e, bob, strlen(bob), T0, T0 + 5 * MIN), 0);
	ck_assert_int_eq(win_engine_emit(e, false, collect, &k), 0);
	ck_assert_uint_eq(k.n, 4);
	ck_assert(!find(&k, "alice", 0, 5)->tomb);          /* written again */
	ck_assert_int_eq(find(&k, "alice", 0, 5)->count, 1);
	ck_assert(find(&k, "alice", 5, 10)->tomb);          /* not fired here */
	ck_assert(find(&k, "bob", 0, 5)->tomb);             /* unknown */
	struct win_stats st;
	win_engine_stats(e, &st);
	ck_assert_uint_eq(st.keys, 1);                       /* bob's key is gone */
	win_engine_free(e);
	free(k.o);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tools_win_engine");
	TCase *tc = tcase_create("win_engine");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, seeds_clicks_in_five_minute_tumbling_windows);
	tcase_add_test(tc, seeds_clicks_in_five_minute_windows_hopping_by_one);
	tcase_add_test(tc, window_fires_only_when_watermark_passes_its_end);
	tcase_add_test(tc, allowed_lateness_reemits_then_late_events_go_to_side_output);
	tcase_add_test(tc, watermark_is_the_minimum_over_partitions_and_idle_ones_only_delay_emission);
	tcase_add_test(tc, late_event_bridging_two_sessions_merges_them_and_deletes_the_old_ones);
	tcase_add_test(tc, aggregates_are_exact_and_distinct_is_close);
	tcase_add_test(tc, unparsable_events_are_counted_not_windowed);
	tcase_add_test(tc, tumbling_results_do_not_depend_on_partition_interleaving_or_checkpoints);
	tcase_add_test(tc, hopping_results_do_not_depend_on_partition_interleaving_or_checkpoints);
	tcase_add_test(tc, session_results_do_not_depend_on_partition_interleaving_or_checkpoints);
	tcase_add_test(tc, checkpoint_of_another_job_or_corrupt_bytes_is_refused);
	tcase_add_test(tc, bad_specs_are_refused_with_a_sentence);
	tcase_add_test(tc, reconcile_rewrites_fired_windows_and_deletes_unknown_identities);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
