/*
 * test_gen_events.c -- the generator of `rewind gen-events`
 * (tools/gen_events.c): same seed and options give the same bytes; the
 * out-of-order and late fractions come out as asked (within a tolerance
 * far wider than the binomial spread at 100k events); lateness stays in
 * its bounds; video popularity follows Zipf; the options refuse what makes
 * no sense.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

#define ARGV(...) ((char *[]){ "gen-events", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "gen-events", __VA_ARGS__ }) / sizeof(char *)))

static char err[512];

/* A generator for opts, failing the test when it cannot be made. */
static struct gen_events *gen(const struct gen_events_opts *o)
{
	struct gen_events *g;
	ck_assert_int_eq(gen_events_new(o, &g), 0);
	return g;
}

/* n lines of output in one malloc'ed string. */
static char *render(const struct gen_events_opts *o, size_t n)
{
	struct gen_events *g = gen(o);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char line[512];
	for (size_t i = 0; i < n; i++) {
		struct gen_event e;
		gen_events_next(g, &e);
		int l = gen_events_format(g, &e, line, sizeof line);
		ck_assert_int_gt(l, 0);
		fwrite(line, 1, (size_t)l, f);
	}
	fclose(f);
	gen_events_free(g);
	return buf;
}

START_TEST(same_seed_same_bytes_other_seed_other_bytes)
{
	struct gen_events_opts o;
	gen_events_opts_default(&o);
	char *a = render(&o, 5000), *b = render(&o, 5000);
	ck_assert_str_eq(a, b);
	o.seed = 43;
	char *c = render(&o, 5000);
	ck_assert_str_ne(a, c);
	free(a);
	free(b);
	free(c);
}
END_TEST

START_TEST(rng_matches_published_splitmix64)
{
	/* splitmix64 from state 0: the reference implementation's first
	 * outputs (Vigna, splitmix64.c). */
	uint64_t s = 0;
	ck_assert_uint_eq(gen_splitmix64(&s), 0xe220a8397b1dcdafULL);
	ck_assert_uint_eq(gen_splitmix64(&s), 0x6e789e6aa1b965f4ULL);
	struct gen_rng r;
	gen_rng_seed(&r, 1);
	for (int i = 0; i < 1000; i++) {
		ck_assert_uint_lt(gen_rng_below(&r, 7), 7);
		double u = gen_rng_unit(&r);
		ck_assert(u >= 0 && u < 1);
	}
	ck_assert_uint_eq(gen_rng_below(&r, 0), 0);
}
END_TEST

START_TEST(first_line_is_key_tab_json)
{
	struct gen_events_opts o;
	gen_events_opts_default(&o);
	char *out = render(&o, 1);
	char *tab = strchr(out, '\t');
	ck_assert_ptr_nonnull(tab);
	ck_assert_int_eq(tab - out, 6);            /* "v" + 5 digits */
	ck_assert_int_eq(out[0], 'v');
	ck_assert(strncmp(tab + 1, "{\"event\":\"", 10) == 0);
	ck_assert_ptr_nonnull(strstr(out, "\"user_id\":\"u"));
	ck_assert_ptr_nonnull(strstr(out, ",\"seq\":0}\n"));
	/* The key is the video_id field's value. */
	char key[16];
	memcpy(key, out, 6);
	key[6] = '\0';
	char want[40];
	snprintf(want, sizeof want, "\"video_id\":\"%s\"", key);
	ck_assert_ptr_nonnull(strstr(out, want));
	struct gen_events *g = gen(&o);
	ck_assert_uint_eq(gen_events_key_len(g), 6);
	gen_events_free(g);
	free(out);

	ck_assert_int_eq(gen_events_parse(ARGC("--key-field", "user_id", "--key-separator", "|"),
					  ARGV("--key-field", "user_id", "--key-separator", "|"),
					  &o, err, sizeof err), 0);
	out = render(&o, 1);
	ck_assert_int_eq(out[0], 'u');
	ck_assert_int_eq(out[7], '|');
	free(out);
}
END_TEST

START_TEST(event_time_starts_at_the_fixed_epoch_and_advances)
{
	struct gen_events_opts o;
	gen_events_opts_default(&o);
	o.out_of_order = 0;
	o.late = 0;
	o.rate = 100;    /* 10 ms per event on average */
	struct gen_events *g = gen(&o);
	struct gen_event e;
	int64_t prev = GEN_DEFAULT_START_MS;
	for (int i = 0; i < 10000; i++) {
		gen_events_next(g, &e);
		ck_assert_int_ge(e.ts, prev);
		ck_assert_int_eq(e.ts, e.true_ts);
		prev = e.ts;
	}
	/* 10000 events at a mean step of 10 ms: about 100 s of event time. */
	int64_t span = prev - GEN_DEFAULT_START_MS;
	ck_assert_int_gt(span, 90000);
	ck_assert_int_lt(span, 110000);
	gen_events_free(g);
}
END_TEST

START_TEST(fractions_and_lateness_stay_within_bounds)
{
	struct gen_events_opts o;
	gen_events_opts_default(&o);
	o.out_of_order = 0.10;
	o.late = 0.02;
	o.max_disorder_ms = 10000;
	o.late_min_ms = 60000;
	o.late_max_ms = 3600000;
	struct gen_events *g = gen(&o);
	const int n = 100000;
	int ooo = 0, late = 0, types[3] = { 0 };
	for (int i = 0; i < n; i++) {
		struct gen_event e;
		gen_events_next(g, &e);
		int64_t back = e.true_ts - e.ts;
		types[e.type]++;
		switch (e.timing) {
		case GEN_ON_TIME:
			ck_assert_int_eq(back, 0);
			break;
		case GEN_OUT_OF_ORDER:
			ooo++;
			ck_assert_int_ge(back, 1);
			ck_assert_int_le(back, 10000);
			break;
		case GEN_LATE:
			late++;
			ck_assert_int_ge(back, 60000);
			ck_assert_int_le(back, 3600000);
			break;
		}
	}
	/* Binomial sd at n=100k: ~95 for 10 %, ~44 for 2 %; allow ~5 sd. */
	ck_assert_int_gt(ooo, 9500);
	ck_assert_int_lt(ooo, 10500);
	ck_assert_int_gt(late, 1780);
	ck_assert_int_lt(late, 2220);
	ck_assert_int_gt(types[GEN_PLAY], 59000);
	ck_assert_int_lt(types[GEN_PLAY], 61000);
	ck_assert_int_gt(types[GEN_REBUFFER], 14300);
	ck_assert_int_lt(types[GEN_REBUFFER], 15700);
	gen_events_free(g);
}
END_TEST

START_TEST(video_popularity_follows_zipf)
{
	struct gen_events_opts o;
	gen_events_opts_default(&o);
	o.videos = 100;
	o.skew = 1.0;
	struct gen_events *g = gen(&o);
	const int n = 200000;
	int *count = calloc(o.videos, sizeof *count);
	for (int i = 0; i < n; i++) {
		struct gen_event e;
		gen_events_next(g, &e);
		ck_assert_uint_lt(e.video, o.videos);
		count[e.video]++;
	}
	/* P(v) = (1/(v+1)) / H_100, H_100 ~ 5.187: video 0 ~ 19.3 %, video 1
	 * half of that, video 9 a tenth. */
	double h = 0;
	for (int v = 1; v <= 100; v++)
		h += 1.0 / v;
	for (int v = 0; v < 10; v++) {
		double want = n / ((v + 1) * h);
		ck_assert_msg(fabs(count[v] - want) < 0.05 * want + 150,
			      "video %d: %d events, Zipf says %.0f", v, count[v], want);
	}
	ck_assert_int_gt(count[0], 3 * count[3]);
	free(count);
	gen_events_free(g);

	/* skew 0: every video alike. */
	o.skew = 0;
	g = gen(&o);
	count = calloc(o.videos, sizeof *count);
	for (int i = 0; i < n; i++) {
		struct gen_event e;
		gen_events_next(g, &e);
		count[e.video]++;
	}
	for (uint32_t v = 0; v < o.videos; v++)
		ck_assert_msg(count[v] > 1700 && count[v] < 2300, "video %u: %d", v, count[v]);
	free(count);
	gen_events_free(g);
}
END_TEST

START_TEST(options_parse_and_refuse_nonsense)
{
	struct gen_events_opts o;
	ck_assert_int_eq(gen_events_parse(ARGC("--count", "5", "--rate=200", "--skew", "1.2",
					       "--out-of-order", "0.1", "--max-disorder", "5s",
					       "--late", "0.02", "--late-min", "2m", "--late-max",
					       "PT3H", "--start-time", "2024-05-01T00:00:00Z",
					       "--seed", "9"),
					  ARGV("--count", "5", "--rate=200", "--skew", "1.2",
					       "--out-of-order", "0.1", "--max-disorder", "5s",
					       "--late", "0.02", "--late-min", "2m", "--late-max",
					       "PT3H", "--start-time", "2024-05-01T00:00:00Z",
					       "--seed", "9"), &o, err, sizeof err), 0);
	ck_assert_uint_eq(o.count, 5);
	ck_assert(o.rate == 200);
	ck_assert_int_eq(o.max_disorder_ms, 5000);
	ck_assert_int_eq(o.late_min_ms, 120000);
	ck_assert_int_eq(o.late_max_ms, 3 * 3600000);
	ck_assert_int_eq(o.start_ms, 1714521600000LL);
	ck_assert_uint_eq(o.seed, 9);

	ck_assert_int_eq(gen_events_parse(ARGC("--start-time", "1000"), ARGV("--start-time", "1000"),
					  &o, err, sizeof err), 0);
	ck_assert_int_eq(o.start_ms, 1000);

#define FAILS(needle, ...) do { \
	ck_assert_int_eq(gen_events_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &o, err, \
					  sizeof err), -1); \
	ck_assert_msg(strstr(err, needle), "'%s' lacks '%s'", err, needle); \
} while (0)
	FAILS("fraction from 0 to 1", "--late", "1.5");
	FAILS("fraction from 0 to 1", "--out-of-order", "-0.1");
	FAILS("not a duration", "--max-disorder", "10 parsecs");
	FAILS("must be above --max-disorder", "--late-min", "5s");
	FAILS("above --late-max", "--late-min", "3h");
	FAILS("plus --late is above 1", "--out-of-order", "0.6", "--late", "0.5");
	FAILS("use video_id or user_id", "--key-field", "ts");
	FAILS("unknown option", "--colour", "red");
	FAILS("needs a value", "--count");
	FAILS("count from 1", "--videos", "0");
	FAILS("neither ms since the epoch nor ISO 8601", "--start-time", "yesterday");
	FAILS("takes only options", "extra");
	FAILS("--bootstrap is for --topic", "--bootstrap", "h:1");
	FAILS("--topic needs a topic name", "--topic", "");
	ck_assert_int_eq(gen_events_parse(ARGC("--topic", "t", "-b", "h:1"), ARGV("--topic", "t", "-b", "h:1"),
					  &o, err, sizeof err), 0);
	ck_assert_str_eq(o.topic, "t");
	ck_assert_str_eq(o.bootstrap, "h:1");
#undef FAILS
}
END_TEST

START_TEST(durations_parse_with_units)
{
	int64_t ms;
	ck_assert_int_eq(gen_parse_duration_ms("250", &ms), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_eq(gen_parse_duration_ms("1.5s", &ms), 0);
	ck_assert_int_eq(ms, 1500);
	ck_assert_int_eq(gen_parse_duration_ms("1d", &ms), 0);
	ck_assert_int_eq(ms, 86400000);
	ck_assert_int_eq(gen_parse_duration_ms("PT1M30S", &ms), 0);
	ck_assert_int_eq(ms, 90000);
	ck_assert_int_eq(gen_parse_duration_ms("-1s", &ms), -1);
	ck_assert_int_eq(gen_parse_duration_ms("", &ms), -1);
	ck_assert_int_eq(gen_parse_duration_ms("5y", &ms), -1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tools_gen_events");
	TCase *tc = tcase_create("gen_events");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, same_seed_same_bytes_other_seed_other_bytes);
	tcase_add_test(tc, rng_matches_published_splitmix64);
	tcase_add_test(tc, first_line_is_key_tab_json);
	tcase_add_test(tc, event_time_starts_at_the_fixed_epoch_and_advances);
	tcase_add_test(tc, fractions_and_lateness_stay_within_bounds);
	tcase_add_test(tc, video_popularity_follows_zipf);
	tcase_add_test(tc, options_parse_and_refuse_nonsense);
	tcase_add_test(tc, durations_parse_with_units);
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
