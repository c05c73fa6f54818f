/*
 * test_frame.c -- client/'s pure parts: bootstrap lists, request and
 * response framing against known bytes, version choice, the error table
 * and the consumer-protocol assignment decoder on good and hostile bytes.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "proto/schema/kp_msgs.h"

START_TEST(bootstrap_lists_parse_hosts_ports_and_ipv6)
{
	cl_hostport hp[4];
	char err[256];
	ck_assert_int_eq(cl_bootstrap_parse("localhost:9092", hp, 4, err, sizeof err), 1);
	ck_assert_str_eq(hp[0].host, "localhost");
	ck_assert_int_eq(hp[0].port, 9092);
	ck_assert_int_eq(cl_bootstrap_parse(" a:1 , b ,[::1]:3,[fe80::2]", hp, 4, err, sizeof err), 4);
	ck_assert_str_eq(hp[0].host, "a");
	ck_assert_int_eq(hp[0].port, 1);
	ck_assert_str_eq(hp[1].host, "b");
	ck_assert_int_eq(hp[1].port, CL_DEFAULT_PORT);
	ck_assert_str_eq(hp[2].host, "::1");
	ck_assert_int_eq(hp[2].port, 3);
	ck_assert_str_eq(hp[3].host, "fe80::2");
	ck_assert_int_eq(hp[3].port, CL_DEFAULT_PORT);
}
END_TEST

START_TEST(bootstrap_lists_refuse_bad_entries_with_a_reason)
{
	cl_hostport hp[2];
	char err[256];
	static const struct { const char *in, *why; } bad[] = {
		{ "", "empty entry" },
		{ "a:1,", "empty entry" },
		{ "a:1,,b:2", "empty entry" },
		{ "a:0", "bad port" },
		{ "a:65536", "bad port" },
		{ "a:", "bad port" },
		{ "a:12x", "bad port" },
		{ ":9092", "missing host" },
		{ "::1:9092", "ambiguous" },
		{ "[::1", "bad IPv6" },
		{ "[]:1", "bad IPv6" },
		{ "[::1]x", "unexpected text" },
		{ "a,b,c", "too many" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		ck_assert_int_eq(cl_bootstrap_parse(bad[i].in, hp, 2, err, sizeof err),
				 CL_ERR_BOOTSTRAP);
		ck_assert_msg(strstr(err, bad[i].why), "'%s': message '%s' lacks '%s'",
			      bad[i].in, err, bad[i].why);
	}
	ck_assert_int_eq(cl_bootstrap_parse(NULL, hp, 2, NULL, 0), CL_ERR_BOOTSTRAP);
}
END_TEST

START_TEST(request_frame_matches_known_bytes)
{
	kp_buf body, out;
	kp_buf_init(&body);
	kp_buf_init(&out);
	kp_buf_put_i32(&body, 0x01020304);
	/* ListGroups v0: header v1 = api key, version, correlation id,
	 * client id as int16 string. */
	ck_assert_int_eq(cl_frame_request(&out, KP_API_LIST_GROUPS, 0, 7, "ab", &body), 0);
	static const uint8_t want[] = {
		0, 0, 0, 16,          /* size */
		0, 16, 0, 0,          /* ListGroups v0 */
		0, 0, 0, 7,           /* correlation id */
		0, 2, 'a', 'b',       /* client id */
		1, 2, 3, 4,           /* body */
	};
	ck_assert_uint_eq(out.len, sizeof want);
	ck_assert_mem_eq(out.data, want, sizeof want);

	/* A flexible version adds the header's empty tagged-field section;
	 * the client id stays a classic string; NULL client id is -1. */
	kp_buf_reset(&out);
	ck_assert_int_eq(cl_frame_request(&out, KP_API_LIST_GROUPS, 3, 8, NULL, &body), 0);
	static const uint8_t want3[] = {
		0, 0, 0, 15, 0, 16, 0, 3, 0, 0, 0, 8, 0xff, 0xff, 0, 1, 2, 3, 4,
	};
	ck_assert_uint_eq(out.len, sizeof want3);
	ck_assert_mem_eq(out.data, want3, sizeof want3);
	kp_buf_free(&body);
	kp_buf_free(&out);
}
END_TEST

START_TEST(response_frames_split_by_header_version)
{
	int32_t corr = 0;
	kp_reader body;
	/* v0 header (ListGroups v2): correlation id, then the body. */
	static const uint8_t v0[] = { 0, 0, 1, 0, 0xaa, 0xbb };
	ck_assert_int_eq(cl_frame_response(v0, sizeof v0, KP_API_LIST_GROUPS, 2, &corr, &body), 0);
	ck_assert_int_eq(corr, 256);
	ck_assert_uint_eq(kp_reader_left(&body), 2);
	ck_assert_int_eq(body.p[0], 0xaa);
	/* v1 header (ListGroups v3): correlation id, tagged fields. */
	static const uint8_t v1[] = { 0, 0, 0, 9, 0, 0xcc };
	ck_assert_int_eq(cl_frame_response(v1, sizeof v1, KP_API_LIST_GROUPS, 3, &corr, &body), 0);
	ck_assert_int_eq(corr, 9);
	ck_assert_uint_eq(kp_reader_left(&body), 1);
	ck_assert_int_eq(body.p[0], 0xcc);
	/* ApiVersions answers with a v0 header even in flexible versions. */
	static const uint8_t av[] = { 0, 0, 0, 5, 0, 35 };
	ck_assert_int_eq(cl_frame_response(av, sizeof av, KP_API_API_VERSIONS, 3, &corr, &body), 0);
	ck_assert_uint_eq(kp_reader_left(&body), 2);
	/* Too short for a header. */
	ck_assert_int_eq(cl_frame_response(v0, 3, KP_API_LIST_GROUPS, 2, &corr, &body),
			 CL_ERR_PROTOCOL);
	ck_assert_int_eq(cl_frame_response(v1, 4, KP_API_LIST_GROUPS, 3, &corr, &body),
			 CL_ERR_PROTOCOL);
}
END_TEST

START_TEST(version_pick_takes_the_highest_common_version)
{
	const kp_api_info *of = kp_api_find(KP_API_OFFSET_FETCH);
	ck_assert_ptr_nonnull(of);
	ck_assert_int_eq(cl_version_pick(KP_API_OFFSET_FETCH, 0, 8, 0), 8);
	ck_assert_int_eq(cl_version_pick(KP_API_OFFSET_FETCH, 0, 100, 0), of->max_version);
	ck_assert_int_eq(cl_version_pick(KP_API_OFFSET_FETCH, 3, 5, 1), 5);
	ck_assert_int_eq(cl_version_pick(KP_API_OFFSET_FETCH, 0, 0, 1), -1);
	ck_assert_int_eq(cl_version_pick(KP_API_OFFSET_FETCH, 5, 3, 0), -1);
	ck_assert_int_eq(cl_version_pick(KP_API_OFFSET_FETCH, -1, -1, 0), -1);
	ck_assert_int_eq(cl_version_pick(KP_API_OFFSET_FETCH, of->max_version + 1,
					 of->max_version + 5, 0), -1);
	ck_assert_int_eq(cl_version_pick(12345, 0, 3, 0), -1);
}
END_TEST

START_TEST(errors_have_kafka_names_and_sentences)
{
	ck_assert_str_eq(cl_kafka_err_name(0), "NONE");
	ck_assert_str_eq(cl_kafka_err_name(-1), "UNKNOWN_SERVER_ERROR");
	ck_assert_str_eq(cl_kafka_err_name(16), "NOT_COORDINATOR");
	ck_assert_str_eq(cl_kafka_err_name(68), "NON_EMPTY_GROUP");
	ck_assert_str_eq(cl_kafka_err_name(69), "GROUP_ID_NOT_FOUND");
	ck_assert_str_eq(cl_kafka_err_name(86), "GROUP_SUBSCRIBED_TO_TOPIC");
	ck_assert_str_eq(cl_kafka_err_name(113), "STALE_MEMBER_EPOCH");
	ck_assert_ptr_null(cl_kafka_err_name(-2));
	ck_assert_ptr_null(cl_kafka_err_name(30000));
	ck_assert_ptr_nonnull(cl_kafka_err_desc(30000));
	ck_assert(cl_kafka_err_retriable(15));
	ck_assert(!cl_kafka_err_retriable(68));

	int e = cl_err_kafka(68);
	ck_assert(cl_err_is_kafka(e));
	ck_assert_int_eq(cl_err_kafka_code(e), 68);
	ck_assert_str_eq(cl_strerror(e), "NON_EMPTY_GROUP");
	ck_assert(cl_err_is_kafka(cl_err_kafka(-1)));
	ck_assert_int_eq(cl_err_kafka_code(cl_err_kafka(-1)), -1);
	ck_assert_int_eq(cl_err_kafka(0), 0);
	ck_assert(!cl_err_is_kafka(CL_ERR_TIMEOUT));
	ck_assert(!cl_err_is_kafka(KP_ERR_SHORT));
	ck_assert(!cl_err_is_kafka(-ECONNREFUSED));
	ck_assert_str_eq(cl_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
	ck_assert_str_eq(cl_strerror(KP_ERR_SHORT), kp_strerror(KP_ERR_SHORT));
	for (int err = CL_ERR_BROKEN; err <= CL_ERR_TIMEOUT; err++)
		ck_assert_msg(strcmp(cl_strerror(err), "unknown error") != 0, "%d unnamed", err);
	ck_assert_str_eq(cl_strerror(-5000), "unknown error");
}
END_TEST

/* Builds a ConsumerProtocolAssignment v0 for {t1: [0, 2], x: []}. */
static size_t make_assignment(uint8_t *p)
{
	kp_buf b;
	kp_buf_init(&b);
	kp_buf_put_i16(&b, 0);           /* version */
	kp_buf_put_i32(&b, 2);           /* topics */
	kp_buf_put_i16(&b, 2);
	kp_buf_put(&b, "t1", 2);
	kp_buf_put_i32(&b, 2);
	kp_buf_put_i32(&b, 0);
	kp_buf_put_i32(&b, 2);
	kp_buf_put_i16(&b, 1);
	kp_buf_put(&b, "x", 1);
	kp_buf_put_i32(&b, 0);
	kp_buf_put_i32(&b, -1);          /* user data: null */
	size_t n = b.len;
	memcpy(p, b.data, n);
	kp_buf_free(&b);
	return n;
}

START_TEST(assignment_decodes_topics_and_partitions)
{
	uint8_t buf[128];
	size_t n = make_assignment(buf);
	kp_arena a;
	cl_assigned_topic *t;
	size_t nt;
	kp_arena_init(&a, 0);
	ck_assert_int_eq(cl_consumer_assignment_parse(buf, n, &a, &t, &nt), 0);
	ck_assert_uint_eq(nt, 2);
	ck_assert_str_eq(t[0].topic, "t1");
	ck_assert_uint_eq(t[0].n_partitions, 2);
	ck_assert_int_eq(t[0].partitions[0], 0);
	ck_assert_int_eq(t[0].partitions[1], 2);
	ck_assert_str_eq(t[1].topic, "x");
	ck_assert_uint_eq(t[1].n_partitions, 0);
	/* An empty assignment is no topics. */
	ck_assert_int_eq(cl_consumer_assignment_parse(buf, 0, &a, &t, &nt), 0);
	ck_assert_uint_eq(nt, 0);
	kp_arena_free(&a);
}
END_TEST

START_TEST(assignment_refuses_every_truncation_and_absurd_counts)
{
	uint8_t buf[128];
	size_t n = make_assignment(buf);
	kp_arena a;
	cl_assigned_topic *t;
	size_t nt;
	kp_arena_init(&a, 0);
	/* Cutting anywhere inside the topics is an error, never an overrun;
	 * the trailing user data is not read. */
	for (size_t cut = 1; cut < n - 4; cut++) {
		uint8_t *copy = malloc(cut);
		memcpy(copy, buf, cut);
		ck_assert_msg(cl_consumer_assignment_parse(copy, cut, &a, &t, &nt) == CL_ERR_PROTOCOL,
			      "cut at %zu", cut);
		free(copy);
	}
	uint8_t huge[] = { 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, 'a' };
	ck_assert_int_eq(cl_consumer_assignment_parse(huge, sizeof huge, &a, &t, &nt), CL_ERR_PROTOCOL);
	uint8_t negative[] = { 0, 0, 0xff, 0xff, 0xff, 0xfe };
	ck_assert_int_eq(cl_consumer_assignment_parse(negative, sizeof negative, &a, &t, &nt),
			 CL_ERR_PROTOCOL);
	uint8_t parts[] = { 0, 0, 0, 0, 0, 1, 0, 1, 'a', 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1 };
	ck_assert_int_eq(cl_consumer_assignment_parse(parts, sizeof parts, &a, &t, &nt), CL_ERR_PROTOCOL);
	uint8_t badver[] = { 0xff, 0xff, 0, 0, 0, 0 };
	ck_assert_int_eq(cl_consumer_assignment_parse(badver, sizeof badver, &a, &t, &nt),
			 CL_ERR_PROTOCOL);
	kp_arena_free(&a);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("client_frame");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, bootstrap_lists_parse_hosts_ports_and_ipv6);
	tcase_add_test(tc, bootstrap_lists_refuse_bad_entries_with_a_reason);
	tcase_add_test(tc, request_frame_matches_known_bytes);
	tcase_add_test(tc, response_frames_split_by_header_version);
	tcase_add_test(tc, version_pick_takes_the_highest_common_version);
	tcase_add_test(tc, errors_have_kafka_names_and_sentences);
	tcase_add_test(tc, assignment_decodes_topics_and_partitions);
	tcase_add_test(tc, assignment_refuses_every_truncation_and_absurd_counts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
