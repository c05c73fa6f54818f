/*
 * test_groups_plan.c -- the pure parts of `rewind groups`
 * (tools/groups_plan.c): the command line, and the reset plan with Kafka's
 * rules (clamping into [log start, log end], shift-by needing a committed
 * offset, to-datetime falling back to the log end).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

/* ------------------------------------------------------------ arguments */

#define ARGV(...) ((char *[]){ "groups", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "groups", __VA_ARGS__ }) / sizeof(char *)))

static char err[512];

/* Parses and expects success. */
#define PARSE_OK(a, ...) do { \
	err[0] = '\0'; \
	ck_assert_msg(cmd_groups_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), err, \
				       sizeof err) == 0, "unexpected error: %s", err); \
} while (0)

/* Parses, expects failure with `needle` in the message. */
#define PARSE_FAILS(needle, ...) do { \
	struct groups_args a_; \
	err[0] = '\0'; \
	ck_assert_int_eq(cmd_groups_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &a_, err, \
					  sizeof err), -1); \
	ck_assert_msg(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle); \
	cmd_groups_args_free(&a_); \
} while (0)

START_TEST(list_defaults_to_localhost_9092)
{
	struct groups_args a;
	PARSE_OK(&a, "list");
	ck_assert_int_eq(a.action, GROUPS_LIST);
	ck_assert_str_eq(a.bootstrap, "localhost:9092");
	ck_assert(!a.state);
	ck_assert_int_eq(a.timeout_ms, 0);
	cmd_groups_args_free(&a);
}
END_TEST

START_TEST(bootstrap_is_taken_in_every_spelling_and_position)
{
	struct groups_args a;
	PARSE_OK(&a, "--bootstrap", "h1:1", "list");
	ck_assert_str_eq(a.bootstrap, "h1:1");
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "list", "--bootstrap=h2:2,h3:3", "--state");
	ck_assert_str_eq(a.bootstrap, "h2:2,h3:3");
	ck_assert(a.state);
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "describe", "g", "-b", "h4");
	ck_assert_str_eq(a.bootstrap, "h4");
	ck_assert_str_eq(a.group, "g");
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "delete", "--bootstrap-server", "h5:5", "g");
	ck_assert_str_eq(a.bootstrap, "h5:5");
	ck_assert_str_eq(a.group, "g");
	cmd_groups_args_free(&a);
	PARSE_FAILS("--bootstrap needs a value", "list", "--bootstrap");
}
END_TEST

START_TEST(help_anywhere_wins_over_missing_arguments)
{
	struct groups_args a;
	PARSE_OK(&a, "--help");
	ck_assert(a.help);
	ck_assert_int_eq(a.action, GROUPS_NONE);
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "reset-offsets", "--help");
	ck_assert(a.help);
	ck_assert_int_eq(a.action, GROUPS_RESET_OFFSETS);
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "-h", "delete-offsets");
	ck_assert(a.help);
	ck_assert_int_eq(a.action, GROUPS_DELETE_OFFSETS);
	cmd_groups_args_free(&a);
}
END_TEST

START_TEST(actions_and_groups_are_required)
{
	PARSE_FAILS("say what to do", "--bootstrap", "x:1");
	PARSE_FAILS("unknown action 'lst'", "lst");
	PARSE_FAILS("needs a GROUP", "describe");
	PARSE_FAILS("needs a GROUP", "delete");
	PARSE_FAILS("needs a GROUP", "reset-offsets", "--to-earliest", "--topic", "t");
	PARSE_FAILS("the group id is empty", "describe", "");
	PARSE_FAILS("unexpected argument 'h'", "describe", "g", "h");
	PARSE_FAILS("unexpected argument 'x'", "list", "x");
	PARSE_FAILS("unknown option '--frob'", "describe", "g", "--frob");
	PARSE_FAILS("--timeout 'soon'", "list", "--timeout", "soon");
	PARSE_FAILS("--timeout '0'", "list", "--timeout", "0");
	PARSE_FAILS("--state belongs to", "describe", "g", "--state");
	PARSE_FAILS("--topic belongs to", "describe", "g", "--topic", "t");
	PARSE_FAILS("reset options belong", "describe", "g", "--to-earliest");
	PARSE_FAILS("reset options belong", "delete", "g", "--execute");
}
END_TEST

START_TEST(group_may_come_from_group_option)
{
	struct groups_args a;
	PARSE_OK(&a, "describe", "--group", "g1", "--timeout", "500");
	ck_assert_str_eq(a.group, "g1");
	ck_assert_int_eq(a.timeout_ms, 500);
	cmd_groups_args_free(&a);
}
END_TEST

START_TEST(topic_arguments_name_partitions_once_each)
{
	struct groups_args a;
	PARSE_OK(&a, "reset-offsets", "g", "--to-latest", "--topic", "orders:0,2,2,5",
		 "--topic=clicks");
	ck_assert_int_eq(a.n_topics, 2);
	ck_assert_str_eq(a.topics[0].topic, "orders");
	ck_assert_int_eq(a.topics[0].n_partitions, 3);
	ck_assert_int_eq(a.topics[0].partitions[0], 0);
	ck_assert_int_eq(a.topics[0].partitions[1], 2);
	ck_assert_int_eq(a.topics[0].partitions[2], 5);
	ck_assert_str_eq(a.topics[1].topic, "clicks");
	ck_assert_ptr_null(a.topics[1].partitions);
	ck_assert(!a.execute);
	cmd_groups_args_free(&a);

	PARSE_FAILS("no topic name", "delete-offsets", "g", "--topic", ":1");
	PARSE_FAILS("partitions must be numbers", "delete-offsets", "g", "--topic", "t:");
	PARSE_FAILS("partitions must be numbers", "delete-offsets", "g", "--topic", "t:x");
	PARSE_FAILS("partitions must be numbers", "delete-offsets", "g", "--topic", "t:1,,2");
	PARSE_FAILS("partitions must be numbers", "delete-offsets", "g", "--topic", "t:-1");
	PARSE_FAILS("partitions must be numbers", "delete-offsets", "g", "--topic",
		    "t:99999999999");
	PARSE_FAILS("needs a topic name", "delete-offsets", "g", "--topic", "");
	PARSE_FAILS("delete-offsets needs --topic", "delete-offsets", "g");
}
END_TEST

START_TEST(reset_specs_parse_their_values)
{
	struct groups_args a;
	PARSE_OK(&a, "reset-offsets", "g", "--topic", "t", "--to-offset", "42", "--execute");
	ck_assert_int_eq(a.reset, RESET_OFFSET);
	ck_assert_int_eq(a.value, 42);
	ck_assert(a.execute);
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "reset-offsets", "g", "--topic", "t", "--shift-by", "-5", "--dry-run");
	ck_assert_int_eq(a.reset, RESET_SHIFT);
	ck_assert_int_eq(a.value, -5);
	ck_assert(!a.execute);
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "reset-offsets", "g", "--topic", "t", "--shift-by=7");
	ck_assert_int_eq(a.value, 7);
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "reset-offsets", "g", "--topic", "t", "--to-datetime",
		 "2024-05-01T12:00:00Z");
	ck_assert_int_eq(a.reset, RESET_DATETIME);
	ck_assert_int_eq(a.value, 1714564800000LL);
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "reset-offsets", "g", "--all-topics", "--by-duration", "PT1H");
	ck_assert_int_eq(a.reset, RESET_DURATION);
	ck_assert_int_eq(a.value, 3600000);
	ck_assert(a.all_topics);
	cmd_groups_args_free(&a);
	PARSE_OK(&a, "reset-offsets", "g", "--topic", "t", "--to-earliest");
	ck_assert_int_eq(a.reset, RESET_EARLIEST);
	cmd_groups_args_free(&a);
}
END_TEST

START_TEST(reset_refuses_bad_or_conflicting_specs)
{
	PARSE_FAILS("reset-offsets needs one of", "reset-offsets", "g", "--topic", "t");
	PARSE_FAILS("give only one of", "reset-offsets", "g", "--topic", "t", "--to-earliest",
		    "--to-latest");
	PARSE_FAILS("give only one of", "reset-offsets", "g", "--topic", "t", "--shift-by", "1",
		    "--to-offset", "3");
	PARSE_FAILS("give an offset >= 0", "reset-offsets", "g", "--topic", "t", "--to-offset",
		    "-1");
	PARSE_FAILS("give an offset >= 0", "reset-offsets", "g", "--topic", "t", "--to-offset",
		    "12abc");
	PARSE_FAILS("whole number of records", "reset-offsets", "g", "--topic", "t",
		    "--shift-by", "1.5");
	PARSE_FAILS("not an ISO 8601 time", "reset-offsets", "g", "--topic", "t",
		    "--to-datetime", "yesterday");
	PARSE_FAILS("not a duration", "reset-offsets", "g", "--topic", "t", "--by-duration",
		    "30m");
	PARSE_FAILS("--to-offset needs a value", "reset-offsets", "g", "--topic", "t",
		    "--to-offset");
	PARSE_FAILS("not both", "reset-offsets", "g", "--topic", "t", "--to-latest",
		    "--execute", "--dry-run");
	PARSE_FAILS("needs --topic", "reset-offsets", "g", "--to-latest");
	PARSE_FAILS("not both", "reset-offsets", "g", "--to-latest", "--topic", "t",
		    "--all-topics");
	PARSE_FAILS("--all-topics belongs", "delete-offsets", "g", "--topic", "t",
		    "--all-topics");
}
END_TEST

/* ----------------------------------------------------------------- plan */

static struct groups_plan_row row(int64_t current, int64_t start, int64_t end, int64_t by_time)
{
	return (struct groups_plan_row){ .topic = "t", .partition = 0, .current = current,
					 .log_start = start, .log_end = end, .by_time = by_time,
					 .target = -99 };
}

START_TEST(plan_earliest_and_latest_take_the_log_bounds)
{
	struct groups_plan_row r[2] = { row(5, 2, 9, -1), row(-1, 0, 0, -1) };
	ck_assert_uint_eq(cmd_groups_plan(RESET_EARLIEST, 0, r, 2), 0);
	ck_assert_int_eq(r[0].target, 2);
	ck_assert_int_eq(r[1].target, 0);
	ck_assert(!r[0].clamped && !r[1].clamped);
	ck_assert_uint_eq(cmd_groups_plan(RESET_LATEST, 0, r, 2), 0);
	ck_assert_int_eq(r[0].target, 9);
	ck_assert_int_eq(r[1].target, 0);
}
END_TEST

START_TEST(plan_to_offset_clamps_into_the_log)
{
	struct groups_plan_row r[5] = { row(5, 10, 20, -1), row(5, 10, 20, -1),
					row(5, 10, 20, -1), row(5, 10, 20, -1),
					row(5, 10, 20, -1) };
	int64_t asks[5] = { 3, 10, 15, 20, 21 };
	int64_t want[5] = { 10, 10, 15, 20, 20 };
	bool clamped[5] = { true, false, false, false, true };
	for (int i = 0; i < 5; i++) {
		ck_assert_uint_eq(cmd_groups_plan(RESET_OFFSET, asks[i], &r[i], 1), 0);
		ck_assert_int_eq(r[i].target, want[i]);
		ck_assert_int_eq(r[i].clamped, clamped[i]);
	}
}
END_TEST

START_TEST(plan_shift_moves_from_the_committed_offset_and_clamps)
{
	struct groups_plan_row r[4] = { row(15, 10, 20, -1), row(15, 10, 20, -1),
					row(15, 10, 20, -1), row(15, 10, 20, -1) };
	ck_assert_uint_eq(cmd_groups_plan(RESET_SHIFT, -3, &r[0], 1), 0);
	ck_assert_int_eq(r[0].target, 12);
	ck_assert(!r[0].clamped);
	ck_assert_uint_eq(cmd_groups_plan(RESET_SHIFT, -100, &r[1], 1), 0);
	ck_assert_int_eq(r[1].target, 10);
	ck_assert(r[1].clamped);
	ck_assert_uint_eq(cmd_groups_plan(RESET_SHIFT, 5, &r[2], 1), 0);
	ck_assert_int_eq(r[2].target, 20);
	ck_assert(!r[2].clamped);
	ck_assert_uint_eq(cmd_groups_plan(RESET_SHIFT, INT64_MAX, &r[3], 1), 0);
	ck_assert_int_eq(r[3].target, 20);
	ck_assert(r[3].clamped);
}
END_TEST

START_TEST(plan_shift_without_a_committed_offset_is_reported)
{
	struct groups_plan_row r[3] = { row(15, 10, 20, -1), row(-1, 10, 20, -1),
					row(-1, 0, 5, -1) };
	ck_assert_uint_eq(cmd_groups_plan(RESET_SHIFT, 1, r, 3), 2);
	ck_assert(!r[0].no_current);
	ck_assert_int_eq(r[0].target, 16);
	ck_assert(r[1].no_current);
	ck_assert(r[2].no_current);
	/* Another spec over the same rows clears the flag. */
	ck_assert_uint_eq(cmd_groups_plan(RESET_EARLIEST, 0, r, 3), 0);
	ck_assert(!r[1].no_current);
}
END_TEST

START_TEST(plan_by_time_falls_back_to_the_log_end)
{
	struct groups_plan_row r[3] = { row(3, 0, 9, 4), row(3, 0, 9, -1), row(-1, 2, 2, -1) };
	ck_assert_uint_eq(cmd_groups_plan(RESET_DATETIME, 1714564800000LL, r, 3), 0);
	ck_assert_int_eq(r[0].target, 4);
	ck_assert_int_eq(r[1].target, 9);
	ck_assert_int_eq(r[2].target, 2);
	struct groups_plan_row d[1] = { row(3, 0, 9, 0) };
	ck_assert_uint_eq(cmd_groups_plan(RESET_DURATION, 60000, d, 1), 0);
	ck_assert_int_eq(d[0].target, 0);
}
END_TEST

static Suite *groups_plan_suite(void)
{
	Suite *s = suite_create("groups_plan");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, list_defaults_to_localhost_9092);
	tcase_add_test(tc, bootstrap_is_taken_in_every_spelling_and_position);
	tcase_add_test(tc, help_anywhere_wins_over_missing_arguments);
	tcase_add_test(tc, actions_and_groups_are_required);
	tcase_add_test(tc, group_may_come_from_group_option);
	tcase_add_test(tc, topic_arguments_name_partitions_once_each);
	tcase_add_test(tc, reset_specs_parse_their_values);
	tcase_add_test(tc, reset_refuses_bad_or_conflicting_specs);
	tcase_add_test(tc, plan_earliest_and_latest_take_the_log_bounds);
	tcase_add_test(tc, plan_to_offset_clamps_into_the_log);
	tcase_add_test(tc, plan_shift_moves_from_the_committed_offset_and_clamps);
	tcase_add_test(tc, plan_shift_without_a_committed_offset_is_reported);
	tcase_add_test(tc, plan_by_time_falls_back_to_the_log_end);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(groups_plan_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
