/*
 * test_assignor.c -- client/assignor.c: range and roundrobin against
 * assignments worked out by hand from Java's RangeAssignor and
 * RoundRobinAssignor (including the examples in their Javadoc), member
 * ordering (static members first), unknown topics, and the consumer
 * protocol's subscription and assignment bytes.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "client/client.h"

/* "t0:0,1;t1:2" -- a member's share as text, to compare in one line. */
static const char *share(const cl_member_assignment *a, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = '\0';
	for (size_t t = 0; t < a->n_topics; t++) {
		k += (size_t)snprintf(buf + k, n - k, "%s%s:", t ? ";" : "", a->topics[t].topic);
		for (size_t p = 0; p < a->topics[t].n_partitions; p++)
			k += (size_t)snprintf(buf + k, n - k, "%s%d", p ? "," : "",
					      a->topics[t].partitions[p]);
	}
	return buf;
}

#define CHECK_SHARE(a, want)                                                   \
	do {                                                                   \
		char b_[256];                                                  \
		ck_assert_str_eq(share((a), b_, sizeof b_), (want));           \
	} while (0)

static const char *const T0[] = { "t0" };
static const char *const T01[] = { "t0", "t1" };
static const char *const T012[] = { "t0", "t1", "t2" };
static const char *const T1[] = { "t1" };

START_TEST(range_splits_each_topic_in_runs_extra_to_the_first)
{
	/* Javadoc: C0, C1 on t0, t1 with 3 partitions each. */
	cl_group_subscriber m[] = {
		{ "C1", NULL, T01, 2 },
		{ "C0", NULL, T01, 2 },
	};
	cl_topic_count c[] = { { "t0", 3 }, { "t1", 3 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_RANGE, m, 2, c, 2, &a, &out), 0);
	ck_assert_str_eq(out[0].member_id, "C1");
	CHECK_SHARE(&out[1], "t0:0,1;t1:0,1");
	CHECK_SHARE(&out[0], "t0:2;t1:2");
	kp_arena_free(&a);
}
END_TEST

START_TEST(range_seven_partitions_three_members)
{
	cl_group_subscriber m[] = {
		{ "m-c", NULL, T0, 1 },
		{ "m-a", NULL, T0, 1 },
		{ "m-b", NULL, T0, 1 },
	};
	cl_topic_count c[] = { { "t0", 7 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_RANGE, m, 3, c, 1, &a, &out), 0);
	CHECK_SHARE(&out[1], "t0:0,1,2");
	CHECK_SHARE(&out[2], "t0:3,4");
	CHECK_SHARE(&out[0], "t0:5,6");
	kp_arena_free(&a);
}
END_TEST

START_TEST(range_counts_only_a_topics_subscribers)
{
	cl_group_subscriber m[] = {
		{ "C0", NULL, T01, 2 },
		{ "C1", NULL, T1, 1 },
	};
	cl_topic_count c[] = { { "t0", 2 }, { "t1", 4 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_RANGE, m, 2, c, 2, &a, &out), 0);
	CHECK_SHARE(&out[0], "t0:0,1;t1:0,1");
	CHECK_SHARE(&out[1], "t1:2,3");
	kp_arena_free(&a);
}
END_TEST

START_TEST(range_more_members_than_partitions_leaves_the_last_empty)
{
	cl_group_subscriber m[] = {
		{ "a", NULL, T0, 1 },
		{ "b", NULL, T0, 1 },
		{ "c", NULL, T0, 1 },
	};
	cl_topic_count c[] = { { "t0", 2 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_RANGE, m, 3, c, 1, &a, &out), 0);
	CHECK_SHARE(&out[0], "t0:0");
	CHECK_SHARE(&out[1], "t0:1");
	ck_assert_uint_eq(out[2].n_topics, 0);
	kp_arena_free(&a);
}
END_TEST

START_TEST(static_members_come_first_by_instance_id)
{
	/* "a" sorts before "z" by member id, but "z" has an instance id. */
	cl_group_subscriber m[] = {
		{ "a", NULL, T0, 1 },
		{ "z", "inst-2", T0, 1 },
		{ "y", "inst-1", T0, 1 },
	};
	cl_topic_count c[] = { { "t0", 5 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_RANGE, m, 3, c, 1, &a, &out), 0);
	CHECK_SHARE(&out[2], "t0:0,1");
	CHECK_SHARE(&out[1], "t0:2,3");
	CHECK_SHARE(&out[0], "t0:4");
	kp_arena_free(&a);
}
END_TEST

START_TEST(member_ids_compare_as_strings_not_numbers)
{
	cl_group_subscriber m[] = {
		{ "consumer-2-x", NULL, T0, 1 },
		{ "consumer-10-x", NULL, T0, 1 },
	};
	cl_topic_count c[] = { { "t0", 2 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_ROUNDROBIN, m, 2, c, 1, &a, &out), 0);
	CHECK_SHARE(&out[1], "t0:0");
	CHECK_SHARE(&out[0], "t0:1");
	kp_arena_free(&a);
}
END_TEST

START_TEST(roundrobin_deals_all_partitions_in_topic_order)
{
	/* Javadoc: C0, C1 on t0, t1 with 3 partitions each. */
	cl_group_subscriber m[] = {
		{ "C0", NULL, T01, 2 },
		{ "C1", NULL, T01, 2 },
	};
	cl_topic_count c[] = { { "t1", 3 }, { "t0", 3 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_ROUNDROBIN, m, 2, c, 2, &a, &out), 0);
	CHECK_SHARE(&out[0], "t0:0,2;t1:1");
	CHECK_SHARE(&out[1], "t0:1;t1:0,2");
	kp_arena_free(&a);
}
END_TEST

START_TEST(roundrobin_skips_members_not_subscribed)
{
	/* Javadoc: C0 on t0; C1 on t0, t1; C2 on t0, t1, t2; with 1, 2 and 3
	 * partitions. */
	cl_group_subscriber m[] = {
		{ "C2", NULL, T012, 3 },
		{ "C0", NULL, T0, 1 },
		{ "C1", NULL, T01, 2 },
	};
	cl_topic_count c[] = { { "t0", 1 }, { "t1", 2 }, { "t2", 3 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_ROUNDROBIN, m, 3, c, 3, &a, &out), 0);
	CHECK_SHARE(&out[1], "t0:0");
	CHECK_SHARE(&out[2], "t1:0");
	CHECK_SHARE(&out[0], "t1:1;t2:0,1,2");
	kp_arena_free(&a);
}
END_TEST

START_TEST(topics_without_a_partition_count_are_left_out)
{
	static const char *const tx[] = { "t0", "gone" };
	cl_group_subscriber m[] = { { "a", NULL, tx, 2 } };
	cl_topic_count c[] = { { "t0", 1 }, { "gone", -1 } };
	kp_arena a;
	cl_member_assignment *out;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_RANGE, m, 1, c, 2, &a, &out), 0);
	CHECK_SHARE(&out[0], "t0:0");
	ck_assert_int_eq(cl_assign(CL_ASSIGNOR_ROUNDROBIN, m, 1, c, 1, &a, &out), 0);
	CHECK_SHARE(&out[0], "t0:0");
	kp_arena_free(&a);
}
END_TEST

START_TEST(assignor_names_parse_both_ways)
{
	ck_assert_int_eq(cl_assignor_parse("range"), CL_ASSIGNOR_RANGE);
	ck_assert_int_eq(cl_assignor_parse("roundrobin"), CL_ASSIGNOR_ROUNDROBIN);
	ck_assert_int_eq(cl_assignor_parse("sticky"), CL_ERR_ARG);
	ck_assert_int_eq(cl_assignor_parse(NULL), CL_ERR_ARG);
	ck_assert_str_eq(cl_assignor_name(CL_ASSIGNOR_ROUNDROBIN), "roundrobin");
	ck_assert_ptr_null(cl_assignor_name((enum cl_assignor)7));
}
END_TEST

START_TEST(subscription_v0_has_the_known_bytes)
{
	static const char *const t[] = { "ab", "c" };
	static const uint8_t want[] = {
		0, 0, 0, 0, 0, 2, 0, 2, 'a', 'b', 0, 1, 'c', 0xff, 0xff, 0xff, 0xff,
	};
	kp_buf b;
	kp_buf_init(&b);
	ck_assert_int_eq(cl_consumer_subscription_encode(&b, t, 2), 0);
	ck_assert_uint_eq(b.len, sizeof want);
	ck_assert_mem_eq(b.data, want, sizeof want);

	kp_arena a;
	const char **got;
	size_t n;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_consumer_subscription_parse(b.data, b.len, &a, &got, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(got[0], "ab");
	ck_assert_str_eq(got[1], "c");
	kp_arena_free(&a);
	kp_buf_free(&b);
}
END_TEST

START_TEST(subscription_of_later_versions_reads_the_topics)
{
	/* v1: topics, user data "x", owned partitions [t:[0]]. */
	static const uint8_t v1[] = {
		0, 1, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 'x',
		0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1, 0, 0, 0, 0,
	};
	kp_arena a;
	const char **got;
	size_t n;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_consumer_subscription_parse(v1, sizeof v1, &a, &got, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(got[0], "t");
	/* Cut inside the topic name; a count larger than the bytes. */
	ck_assert_int_eq(cl_consumer_subscription_parse(v1, 8, &a, &got, &n), CL_ERR_PROTOCOL);
	static const uint8_t huge[] = { 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, 't' };
	ck_assert_int_eq(cl_consumer_subscription_parse(huge, sizeof huge, &a, &got, &n),
			 CL_ERR_PROTOCOL);
	ck_assert_int_eq(cl_consumer_subscription_parse(v1, 1, &a, &got, &n), CL_ERR_PROTOCOL);
	kp_arena_free(&a);
}
END_TEST

START_TEST(assignment_encoding_reads_back)
{
	int32_t p0[] = { 0, 3 }, p1[] = { 7 };
	cl_assigned_topic t[] = { { "orders", p0, 2 }, { "x", p1, 1 } };
	kp_buf b;
	kp_arena a;
	cl_assigned_topic *got;
	size_t n;
	kp_buf_init(&b);
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_consumer_assignment_encode(&b, t, 2), 0);
	ck_assert_int_eq(cl_consumer_assignment_parse(b.data, b.len, &a, &got, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(got[0].topic, "orders");
	ck_assert_uint_eq(got[0].n_partitions, 2);
	ck_assert_int_eq(got[0].partitions[1], 3);
	ck_assert_str_eq(got[1].topic, "x");
	ck_assert_int_eq(got[1].partitions[0], 7);
	/* The last four bytes are the null user data. */
	ck_assert_uint_eq(kp_load_be32(b.data + b.len - 4), 0xffffffffu);
	kp_arena_free(&a);
	kp_buf_free(&b);
}
END_TEST

static Suite *assignor_suite(void)
{
	Suite *s = suite_create("assignor");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, range_splits_each_topic_in_runs_extra_to_the_first);
	tcase_add_test(tc, range_seven_partitions_three_members);
	tcase_add_test(tc, range_counts_only_a_topics_subscribers);
	tcase_add_test(tc, range_more_members_than_partitions_leaves_the_last_empty);
	tcase_add_test(tc, static_members_come_first_by_instance_id);
	tcase_add_test(tc, member_ids_compare_as_strings_not_numbers);
	tcase_add_test(tc, roundrobin_deals_all_partitions_in_topic_order);
	tcase_add_test(tc, roundrobin_skips_members_not_subscribed);
	tcase_add_test(tc, topics_without_a_partition_count_are_left_out);
	tcase_add_test(tc, assignor_names_parse_both_ways);
	tcase_add_test(tc, subscription_v0_has_the_known_bytes);
	tcase_add_test(tc, subscription_of_later_versions_reads_the_topics);
	tcase_add_test(tc, assignment_encoding_reads_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(assignor_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
