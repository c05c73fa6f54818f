/*
 * test_time_parse.c -- the ISO 8601 and duration syntaxes of the tools
 * (tools/time_parse.c): known instants in every accepted shape, zones and
 * the local-zone case, calendar limits, and what is refused.
 */
#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "tools/tools.h"

/* 2024-05-01T12:00:00Z */
#define MAY1_NOON 1714564800000LL

static int64_t iso(const char *s)
{
	int64_t v = -12345;
	ck_assert_msg(cmd_parse_iso8601(s, &v) == 0, "'%s' should parse", s);
	return v;
}

static void iso_refused(const char *s)
{
	int64_t v = -12345;
	ck_assert_msg(cmd_parse_iso8601(s, &v) == -1, "'%s' should be refused", s);
	ck_assert_msg(v == -12345, "'%s': a refusal leaves the output alone", s);
}

START_TEST(iso8601_utc_forms_give_the_known_instant)
{
	ck_assert_int_eq(iso("2024-05-01T12:00:00Z"), MAY1_NOON);
	ck_assert_int_eq(iso("2024-05-01t12:00:00z"), MAY1_NOON);
	ck_assert_int_eq(iso("2024-05-01T12:00Z"), MAY1_NOON);
	ck_assert_int_eq(iso("2024-05-01T12:00:00.123Z"), MAY1_NOON + 123);
	ck_assert_int_eq(iso("2024-05-01T12:00:00.1Z"), MAY1_NOON + 100);
	ck_assert_int_eq(iso("2024-05-01T12:00:00.123456789Z"), MAY1_NOON + 123);
	ck_assert_int_eq(iso("1970-01-01T00:00:00Z"), 0);
	ck_assert_int_eq(iso("2024-01-01T00:00:00Z"), 1704067200000LL);
}
END_TEST

START_TEST(iso8601_zone_offsets_are_subtracted)
{
	ck_assert_int_eq(iso("2024-05-01T14:00:00+02:00"), MAY1_NOON);
	ck_assert_int_eq(iso("2024-05-01T14:00:00+0200"), MAY1_NOON);
	ck_assert_int_eq(iso("2024-05-01T14:00:00+02"), MAY1_NOON);
	ck_assert_int_eq(iso("2024-05-01T06:30:00-05:30"), MAY1_NOON);
	ck_assert_int_eq(iso("2024-05-01T12:00:00.500+00:00"), MAY1_NOON + 500);
}
END_TEST

START_TEST(iso8601_without_zone_is_local_time)
{
	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_int_eq(iso("2024-05-01T12:00:00"), MAY1_NOON);
	ck_assert_int_eq(iso("2024-05-01"), MAY1_NOON - 12 * 3600 * 1000LL);
	ck_assert_int_eq(iso("2024-05-01 12:00:00.250"), MAY1_NOON + 250);
	/* POSIX TZ "EET-2": two hours east of UTC, no daylight saving. */
	setenv("TZ", "EET-2", 1);
	tzset();
	ck_assert_int_eq(iso("2024-05-01T14:00:00"), MAY1_NOON);
}
END_TEST

START_TEST(iso8601_calendar_limits)
{
	ck_assert_int_eq(iso("2024-02-29T00:00:00Z"), 1709164800000LL);
	ck_assert_int_eq(iso("2000-02-29T00:00:00Z"), 951782400000LL);
	iso_refused("2023-02-29T00:00:00Z");
	iso_refused("1900-02-29T00:00:00Z");
	iso_refused("2024-04-31T00:00:00Z");
	iso_refused("2024-13-01T00:00:00Z");
	iso_refused("2024-00-01T00:00:00Z");
	iso_refused("2024-05-00T00:00:00Z");
	iso_refused("2024-05-01T24:00:00Z");
	iso_refused("2024-05-01T12:60:00Z");
	iso_refused("2024-05-01T12:00:60Z");
	iso_refused("1969-12-31T23:59:59Z");
}
END_TEST

START_TEST(iso8601_refuses_malformed_text)
{
	iso_refused("");
	iso_refused("now");
	iso_refused("2024-5-1");
	iso_refused("2024-05-01T12");
	iso_refused("2024-05-01T12:00:00Zjunk");
	iso_refused("2024-05-01T12:00:00+19:00");
	iso_refused("2024-05-01T12:00:00+02:60");
	iso_refused("2024-05-01T12:00:00.");
	iso_refused("2024-05-01T12:00:00.1234567890Z");
	iso_refused("2024-05-01T12:00:00 Z");
	iso_refused("1714564800000");
}
END_TEST

static int64_t dur(const char *s)
{
	int64_t v = -12345;
	ck_assert_msg(cmd_parse_duration(s, &v) == 0, "'%s' should parse", s);
	return v;
}

static void dur_refused(const char *s)
{
	int64_t v = -12345;
	ck_assert_msg(cmd_parse_duration(s, &v) == -1, "'%s' should be refused", s);
	ck_assert_int_eq(v, -12345);
}

START_TEST(duration_parts_add_up)
{
	ck_assert_int_eq(dur("PT30M"), 30 * 60000LL);
	ck_assert_int_eq(dur("P1DT2H"), 26 * 3600000LL);
	ck_assert_int_eq(dur("PT1H30M"), 90 * 60000LL);
	ck_assert_int_eq(dur("P2D"), 2 * 86400000LL);
	ck_assert_int_eq(dur("PT1H2M3S"), 3723000LL);
	ck_assert_int_eq(dur("PT1.5S"), 1500);
	ck_assert_int_eq(dur("PT0.001S"), 1);
	ck_assert_int_eq(dur("pt10m"), 600000);
	ck_assert_int_eq(dur("PT0S"), 0);
	ck_assert_int_eq(dur("P1DT1M"), 86400000LL + 60000);
	ck_assert_int_eq(dur("PT48H"), 2 * 86400000LL);
}
END_TEST

START_TEST(duration_refuses_what_java_refuses)
{
	dur_refused("");
	dur_refused("P");
	dur_refused("PT");
	dur_refused("P1DT");
	dur_refused("30M");
	dur_refused("PT30");
	dur_refused("PT30X");
	dur_refused("-PT5M");
	dur_refused("PT-5M");
	dur_refused("PT5M1H");
	dur_refused("PT5M5M");
	dur_refused("P1H");
	dur_refused("P1.5D");
	dur_refused("PT1.5M");
	dur_refused("PT1M ");
	dur_refused("P99999999999999999999D");
	dur_refused("P999999999999999D");
}
END_TEST

static Suite *time_parse_suite(void)
{
	Suite *s = suite_create("time_parse");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, iso8601_utc_forms_give_the_known_instant);
	tcase_add_test(tc, iso8601_zone_offsets_are_subtracted);
	tcase_add_test(tc, iso8601_without_zone_is_local_time);
	tcase_add_test(tc, iso8601_calendar_limits);
	tcase_add_test(tc, iso8601_refuses_malformed_text);
	tcase_add_test(tc, duration_parts_add_up);
	tcase_add_test(tc, duration_refuses_what_java_refuses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(time_parse_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
