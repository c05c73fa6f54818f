/*
 * test_win_json.c -- the input side of `rewind windows` (tools/win_json.c)
 * and its command line (tools/win_args.c): fields found in flat objects
 * with escapes and nested values skipped, malformed objects refused,
 * numbers kept exactly, event times in ms and ISO 8601 (UTC when no zone),
 * and the options' defaults and refusals.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

static struct win_fields fields(const char *a, const char *b, const char *c)
{
	struct win_fields f = { 0 };
	win_fields_add(&f, a);
	if (b)
		win_fields_add(&f, b);
	if (c)
		win_fields_add(&f, c);
	return f;
}

static bool val_is(const struct win_val *v, enum win_val_type t, const char *text)
{
	return v->type == t && v->len == strlen(text) && memcmp(v->p, text, v->len) == 0;
}

START_TEST(scanner_finds_fields_and_skips_the_rest)
{
	struct win_fields f = fields("ts", "user", "n");
	struct win_val v[3];
	const char *s = "{ \"nested\": {\"ts\": 1, \"a\": [1, \"}\"]}, \"user\" : \"a\\\"b\","
			"\"x\":true, \"ts\":-12.5e1,\"n\":null }";
	ck_assert_int_eq(win_json_scan(s, strlen(s), &f, v), 0);
	ck_assert(val_is(&v[0], WIN_V_NUMBER, "-12.5e1"));
	ck_assert(val_is(&v[1], WIN_V_STRING, "\"a\\\"b\""));
	ck_assert(val_is(&v[2], WIN_V_OTHER, "null"));
	/* Missing fields are absent; first occurrence wins. */
	s = "{\"user\":\"a\",\"user\":\"b\"}";
	ck_assert_int_eq(win_json_scan(s, strlen(s), &f, v), 0);
	ck_assert_int_eq(v[0].type, WIN_V_ABSENT);
	ck_assert(val_is(&v[1], WIN_V_STRING, "\"a\""));
	ck_assert_int_eq(win_json_scan("{}", 2, &f, v), 0);
}
END_TEST

START_TEST(scanner_refuses_what_is_not_an_object)
{
	struct win_fields f = fields("ts", NULL, NULL);
	struct win_val v[1];
	static const char *const bad[] = {
		"", "[1]", "\"ts\"", "{\"ts\" 1}", "{\"ts\":}", "{\"ts\":\"open", "{\"a\":1 \"ts\":2}",
		"{\"a\":{\"b\":1}", "{ts:1}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(win_json_scan(bad[i], strlen(bad[i]), &f, v) == -1, "%s", bad[i]);
}
END_TEST

static const char *fmt(win_fixed x)
{
	static char b[64];
	win_fixed_format(x, b);
	return b;
}

static const char *num(const char *s)
{
	win_fixed x;
	if (win_num_parse(s, strlen(s), &x) < 0)
		return "refused";
	return fmt(x);
}

START_TEST(numbers_are_exact_fixed_point)
{
	ck_assert_str_eq(num("0"), "0");
	ck_assert_str_eq(num("-0"), "0");
	ck_assert_str_eq(num("42"), "42");
	ck_assert_str_eq(num("-1.5"), "-1.5");
	ck_assert_str_eq(num("0.1"), "0.1");
	ck_assert_str_eq(num("1e3"), "1000");
	ck_assert_str_eq(num("2.5E-3"), "0.0025");
	ck_assert_str_eq(num("0.0000000005"), "0.000000001");     /* half away from zero */
	ck_assert_str_eq(num("-0.0000000004"), "0");
	ck_assert_str_eq(num("123456789012345678.123456789"), "123456789012345678.123456789");
	ck_assert_str_eq(num("1e30"), "refused");
	ck_assert_str_eq(num("abc"), "refused");
	ck_assert_str_eq(num("1.2.3"), "refused");
	ck_assert_str_eq(num("-"), "refused");
	ck_assert_str_eq(num("1e"), "refused");
}
END_TEST

static int64_t t(const char *json)
{
	struct win_fields f = fields("ts", NULL, NULL);
	struct win_val v[1];
	int64_t ms;
	if (win_json_scan(json, strlen(json), &f, v) < 0 || win_time_parse(&v[0], &ms) < 0)
		return -1;
	return ms;
}

START_TEST(event_times_in_ms_or_iso8601_utc_by_default)
{
	setenv("TZ", "America/New_York", 1);   /* must not matter */
	ck_assert_int_eq(t("{\"ts\":1704067200123}"), INT64_C(1704067200123));
	ck_assert_int_eq(t("{\"ts\":1704067200123.9}"), INT64_C(1704067200123));
	ck_assert_int_eq(t("{\"ts\":\"2024-01-01T00:00:00Z\"}"), INT64_C(1704067200000));
	ck_assert_int_eq(t("{\"ts\":\"2024-01-01T00:00:00\"}"), INT64_C(1704067200000));
	ck_assert_int_eq(t("{\"ts\":\"2024-01-01T00:05:00.250Z\"}"), INT64_C(1704067500250));
	ck_assert_int_eq(t("{\"ts\":\"2024-01-01T01:00:00+01:00\"}"), INT64_C(1704067200000));
	ck_assert_int_eq(t("{\"ts\":\"2023-12-31T19:00:00-0500\"}"), INT64_C(1704067200000));
	ck_assert_int_eq(t("{\"ts\":\"2024-02-29T12:00Z\"}"), INT64_C(1709208000000));
	ck_assert_int_eq(t("{\"ts\":\"2024-01-01\"}"), INT64_C(1704067200000));
	ck_assert_int_eq(t("{\"ts\":\"yesterday\"}"), -1);
	ck_assert_int_eq(t("{\"ts\":\"2024-13-01T00:00Z\"}"), -1);
	ck_assert_int_eq(t("{\"ts\":true}"), -1);
	ck_assert_int_eq(t("{\"x\":1}"), -1);
	char b[40];
	win_time_format(INT64_C(1709208000123), b, sizeof b);
	ck_assert_str_eq(b, "2024-02-29T12:00:00.123Z");
	win_time_format(-1, b, sizeof b);
	ck_assert_str_eq(b, "1969-12-31T23:59:59.999Z");
}
END_TEST

#define ARGV(...) ((char *[]){ "windows", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "windows", __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(a, ...) cmd_windows_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), a, err, sizeof err)

static char err[512];

START_TEST(arguments_parse_with_defaults)
{
	struct windows_args a;
	ck_assert_int_eq(PARSE(&a, "events", "--output", "m1", "--key", "video_id,event", "--hopping", "5m/1m",
			       "--agg", "count", "--agg=sum:position_ms", "--agg", "distinct:user_id",
			       "--allowed-lateness", "2m", "-e"), 0);
	ck_assert_uint_eq(a.n_inputs, 1);
	ck_assert_str_eq(a.inputs[0], "events");
	ck_assert_int_eq(a.spec.kind, WIN_HOPPING);
	ck_assert_int_eq(a.spec.size_ms, 300000);
	ck_assert_int_eq(a.spec.slide_ms, 60000);
	ck_assert_uint_eq(a.spec.n_keys, 2);
	ck_assert_str_eq(a.spec.keys[1], "event");
	ck_assert_uint_eq(a.spec.n_aggs, 3);
	ck_assert_int_eq(a.spec.aggs[1].kind, WIN_AGG_SUM);
	ck_assert_str_eq(a.spec.aggs[1].field, "position_ms");
	ck_assert_int_eq(a.spec.lateness_ms, 120000);
	ck_assert_int_eq(a.spec.out_of_order_ms, 10000);
	ck_assert_str_eq(a.late_topic, "m1-late");
	ck_assert_str_eq(a.group, "windows-m1");
	ck_assert_str_eq(a.checkpoint, "windows-m1.ckpt");
	ck_assert(a.exit_at_end);
	cmd_windows_args_free(&a);

	ck_assert_int_eq(PARSE(&a, "a", "b", "--output", "o", "--session", "30m", "--late-topic",
			       "none"), 0);
	ck_assert_uint_eq(a.n_inputs, 2);
	ck_assert_int_eq(a.spec.kind, WIN_SESSION);
	ck_assert_int_eq(a.spec.gap_ms, 1800000);
	ck_assert_str_eq(a.late_topic, "");
	ck_assert_uint_eq(a.spec.n_aggs, 1);            /* count by default */
	cmd_windows_args_free(&a);

	ck_assert_int_eq(PARSE(&a, "verify", "m1", "m2", "--max-diffs", "3"), 0);
	ck_assert(a.verify);
	ck_assert_str_eq(a.verify_b, "m2");
	ck_assert_int_eq(a.max_diffs, 3);
	cmd_windows_args_free(&a);
}
END_TEST

START_TEST(arguments_refuse_nonsense_with_a_sentence)
{
	struct windows_args a;
#define REFUSED(word, ...) \
	do { \
		ck_assert_int_eq(PARSE(&a, __VA_ARGS__), -1); \
		ck_assert_msg(strstr(err, word) != NULL, "%s", err); \
		cmd_windows_args_free(&a); \
	} while (0)
	REFUSED("no input", "--output", "o");
	REFUSED("--output", "events");
	REFUSED("also an input", "events", "--output", "events");
	REFUSED("one of", "e", "--output", "o", "--tumbling", "5m", "--session", "1m");
	REFUSED("SIZE/HOP", "e", "--output", "o", "--hopping", "5m");
	REFUSED("longer than", "e", "--output", "o", "--hopping", "1m/5m");
	REFUSED("whole number", "e", "--output", "o", "--hopping", "5m/2m");
	REFUSED("duration", "e", "--output", "o", "--tumbling", "soon");
	REFUSED("duration", "e", "--output", "o", "--tumbling", "0");
	REFUSED("needs a field", "e", "--output", "o", "--agg", "sum");
	REFUSED("count takes no field", "e", "--output", "o", "--agg", "count:x");
	REFUSED("use count", "e", "--output", "o", "--agg", "median:x");
	REFUSED("twice", "e", "--output", "o", "--agg", "sum:x", "--agg", "sum:x");
	REFUSED("unknown option", "e", "--output", "o", "--bogus");
	REFUSED("two output topics", "verify", "m1");
	REFUSED("4 to 16", "e", "--output", "o", "--hll-precision", "20");
	REFUSED("needs a value", "e", "--output");
	REFUSED("empty field", "e", "--output", "o", "--key", "a,,b");
	REFUSED("empty field", "e", "--output", "o", "--key", "");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tools_win_json");
	TCase *tc = tcase_create("win_json");
	tcase_add_test(tc, scanner_finds_fields_and_skips_the_rest);
	tcase_add_test(tc, scanner_refuses_what_is_not_an_object);
	tcase_add_test(tc, numbers_are_exact_fixed_point);
	tcase_add_test(tc, event_times_in_ms_or_iso8601_utc_by_default);
	tcase_add_test(tc, arguments_parse_with_defaults);
	tcase_add_test(tc, arguments_refuse_nonsense_with_a_sentence);
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
