/*
 * test_topics_args.c -- the pure parts of `rewind topics`
 * (tools/topics_args.c): the command line of each action, the errors that
 * say what to try, and the formatters (Kafka's base64 topic ids, sizes,
 * JSON strings), plus the aligned tables of tools/table.c.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

#define ARGV(...) ((char *[]){ "topics", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "topics", __VA_ARGS__ }) / sizeof(char *)))

static char err[512];

#define PARSE_OK(a, ...) do { \
	err[0] = '\0'; \
	ck_assert_msg(cmd_topics_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), err, \
				       sizeof err) == 0, "unexpected error: %s", err); \
} while (0)

#define PARSE_FAILS(needle, ...) do { \
	struct topics_args a_; \
	err[0] = '\0'; \
	ck_assert_int_eq(cmd_topics_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &a_, err, \
					  sizeof err), -1); \
	ck_assert_msg(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle); \
	cmd_topics_args_free(&a_); \
} while (0)

START_TEST(create_reads_partitions_factor_and_configs)
{
	struct topics_args a;
	PARSE_OK(&a, "create", "events", "--partitions", "6", "--replication-factor=1",
		 "--config", "cleanup.policy=compact", "--config=retention.ms=1000",
		 "--if-not-exists", "-b", "h:1");
	ck_assert_int_eq(a.action, TOPICS_CREATE);
	ck_assert_uint_eq(a.n_names, 1);
	ck_assert_str_eq(a.names[0], "events");
	ck_assert_int_eq(a.partitions, 6);
	ck_assert_int_eq(a.replication_factor, 1);
	ck_assert_uint_eq(a.n_configs, 2);
	ck_assert_str_eq(a.configs[0].key, "cleanup.policy");
	ck_assert_str_eq(a.configs[0].value, "compact");
	ck_assert_str_eq(a.configs[1].key, "retention.ms");
	ck_assert_str_eq(a.configs[1].value, "1000");
	ck_assert(a.if_not_exists);
	ck_assert_str_eq(a.bootstrap, "h:1");
	cmd_topics_args_free(&a);
}
END_TEST

START_TEST(defaults_are_localhost_and_broker_defaults)
{
	struct topics_args a;
	PARSE_OK(&a, "create", "t");
	ck_assert_str_eq(a.bootstrap, "localhost:9092");
	cmd_topics_args_free(&a);
	PARSE_OK(&a, "create", "t", "--bootstrap-server=h:3");
	ck_assert_str_eq(a.bootstrap, "h:3");
	ck_assert_int_eq(a.partitions, -1);
	ck_assert_int_eq(a.replication_factor, -1);
	ck_assert(!a.json);
	cmd_topics_args_free(&a);
}
END_TEST

START_TEST(config_value_keeps_later_equals_signs)
{
	struct topics_args a;
	PARSE_OK(&a, "alter", "t", "--config", "k=a=b");
	ck_assert_str_eq(a.configs[0].key, "k");
	ck_assert_str_eq(a.configs[0].value, "a=b");
	cmd_topics_args_free(&a);
}
END_TEST

START_TEST(bad_numbers_and_configs_say_what_to_give)
{
	PARSE_FAILS("is not a partition count", "create", "t", "--partitions", "0");
	PARSE_FAILS("is not a partition count", "create", "t", "--partitions", "3x");
	PARSE_FAILS("is not a partition count", "create", "t", "--partitions", "-2");
	PARSE_FAILS("is not a replica count", "create", "t", "--replication-factor", "40000");
	PARSE_FAILS("is not KEY=VALUE", "create", "t", "--config", "retention.ms");
	PARSE_FAILS("is not KEY=VALUE", "create", "t", "--config", "=5");
	PARSE_FAILS("given twice", "create", "t", "--config", "a=1", "--config", "a=2");
	PARSE_FAILS("needs a value", "create", "t", "--partitions");
	PARSE_FAILS("milliseconds", "list", "--timeout", "soon");
}
END_TEST

START_TEST(actions_check_their_arguments)
{
	PARSE_FAILS("missing action", "--bootstrap", "x:1");
	PARSE_FAILS("missing action", "--json");
	PARSE_FAILS("unknown action 'make'", "make", "t");
	PARSE_FAILS("create needs a topic name", "create");
	PARSE_FAILS("one topic name", "create", "a", "b");
	PARSE_FAILS("list takes no topic names", "list", "a");
	PARSE_FAILS("alter needs something to change", "alter", "t");
	PARSE_FAILS("alter needs a topic name", "alter", "--partitions", "3");
	PARSE_FAILS("both set", "alter", "t", "--config", "a=1", "--delete-config", "a");
	PARSE_FAILS("key alone", "alter", "t", "--delete-config", "a=1");
	PARSE_FAILS("delete needs at least one", "delete");
	PARSE_FAILS("cannot be empty", "delete", "");
}
END_TEST

START_TEST(options_belong_to_their_actions)
{
	PARSE_FAILS("--partitions is for create and alter", "delete", "t", "--partitions", "3");
	PARSE_FAILS("--replication-factor is for create", "alter", "t", "--replication-factor", "1");
	PARSE_FAILS("--delete-config is for alter", "create", "t", "--delete-config", "x");
	PARSE_FAILS("unknown option '--long'", "describe", "--long");
	PARSE_FAILS("unknown option '--if-exists'", "create", "t", "--if-exists");
	PARSE_FAILS("unknown option '--nope'", "list", "--nope");
}
END_TEST

START_TEST(list_describe_delete_flags)
{
	struct topics_args a;
	PARSE_OK(&a, "list", "--internal", "--long", "--json");
	ck_assert(a.internal && a.long_list && a.json);
	cmd_topics_args_free(&a);
	PARSE_OK(&a, "describe", "a", "b", "--internal");
	ck_assert_uint_eq(a.n_names, 2);
	cmd_topics_args_free(&a);
	PARSE_OK(&a, "describe");
	ck_assert_uint_eq(a.n_names, 0);
	cmd_topics_args_free(&a);
	PARSE_OK(&a, "delete", "a", "--if-exists", "--", "-odd");
	ck_assert(a.if_exists);
	ck_assert_uint_eq(a.n_names, 2);
	ck_assert_str_eq(a.names[1], "-odd");
	cmd_topics_args_free(&a);
	PARSE_OK(&a, "alter", "t", "--partitions", "4", "--delete-config", "retention.ms");
	ck_assert_int_eq(a.partitions, 4);
	ck_assert_uint_eq(a.n_delete_configs, 1);
	cmd_topics_args_free(&a);
}
END_TEST

START_TEST(common_options_may_come_before_the_action)
{
	struct topics_args a;
	PARSE_OK(&a, "--bootstrap", "h:2", "--json", "list");
	ck_assert_int_eq(a.action, TOPICS_LIST);
	ck_assert_str_eq(a.bootstrap, "h:2");
	ck_assert(a.json);
	cmd_topics_args_free(&a);
	PARSE_OK(&a, "-b", "create", "create", "x");
	ck_assert_int_eq(a.action, TOPICS_CREATE);
	ck_assert_str_eq(a.bootstrap, "create");
	ck_assert_str_eq(a.names[0], "x");
	cmd_topics_args_free(&a);
}
END_TEST

START_TEST(help_anywhere_skips_checks)
{
	struct topics_args a;
	PARSE_OK(&a, "--help");
	ck_assert(a.help);
	ck_assert_int_eq(a.action, TOPICS_NONE);
	cmd_topics_args_free(&a);
	PARSE_OK(&a, "create", "--help");
	ck_assert(a.help);
	ck_assert_int_eq(a.action, TOPICS_CREATE);
	cmd_topics_args_free(&a);
}
END_TEST

START_TEST(uuid_is_kafkas_url_safe_base64)
{
	/* Known values: Kafka's Uuid.toString() of these bytes. */
	uint8_t zero[16] = { 0 }, ones[16], seq[16];
	char out[23];
	memset(ones, 0xff, sizeof ones);
	for (int i = 0; i < 16; i++)
		seq[i] = (uint8_t)i;
	cmd_uuid_base64(zero, out);
	ck_assert_str_eq(out, "AAAAAAAAAAAAAAAAAAAAAA");
	cmd_uuid_base64(ones, out);
	ck_assert_str_eq(out, "_____________________w");
	cmd_uuid_base64(seq, out);
	ck_assert_str_eq(out, "AAECAwQFBgcICQoLDA0ODw");
	ck_assert_uint_eq(strlen(out), 22);
}
END_TEST

START_TEST(human_bytes_uses_binary_units)
{
	char b[32];
	ck_assert_str_eq(cmd_human_bytes(0, b, sizeof b), "0 B");
	ck_assert_str_eq(cmd_human_bytes(1023, b, sizeof b), "1023 B");
	ck_assert_str_eq(cmd_human_bytes(1536, b, sizeof b), "1.5 KiB");
	ck_assert_str_eq(cmd_human_bytes(50 * 1048576LL, b, sizeof b), "50 MiB");
	ck_assert_str_eq(cmd_human_bytes(-1, b, sizeof b), "-");
}
END_TEST

START_TEST(json_strings_are_escaped)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cmd_json_str(f, "a\"b\\c\n\x01\xc3\xa9");
	fclose(f);
	ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
	free(buf);
}
END_TEST

START_TEST(table_aligns_columns_and_shows_null_as_dash)
{
	struct cmd_table t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cmd_table_init(&t, 3);
	cmd_table_row(&t, "A", "BB", "C");
	cmd_table_row(&t, "xxx", NULL, "z");
	cmd_table_print(&t, f);
	fclose(f);
	ck_assert(!t.oom);
	ck_assert_str_eq(buf, "A    BB  C\nxxx  -   z\n");
	cmd_table_free(&t);
	free(buf);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tools_topics_args");
	TCase *tc = tcase_create("topics_args");
	tcase_add_test(tc, create_reads_partitions_factor_and_configs);
	tcase_add_test(tc, defaults_are_localhost_and_broker_defaults);
	tcase_add_test(tc, config_value_keeps_later_equals_signs);
	tcase_add_test(tc, bad_numbers_and_configs_say_what_to_give);
	tcase_add_test(tc, actions_check_their_arguments);
	tcase_add_test(tc, options_belong_to_their_actions);
	tcase_add_test(tc, list_describe_delete_flags);
	tcase_add_test(tc, common_options_may_come_before_the_action);
	tcase_add_test(tc, help_anywhere_skips_checks);
	tcase_add_test(tc, uuid_is_kafkas_url_safe_base64);
	tcase_add_test(tc, human_bytes_uses_binary_units);
	tcase_add_test(tc, json_strings_are_escaped);
	tcase_add_test(tc, table_aligns_columns_and_shows_null_as_dash);
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
