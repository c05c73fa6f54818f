/*
 * test_consumer.c -- client/consumer.c against a real rewind-broker on
 * loopback (broker_proc.c), records written by client/'s producer: assign
 * and poll (keys, values, headers, offsets, compressed batches handed out
 * one record per poll), positions and the end of the log, seek back and to
 * a time, commits outside group management read back by OffsetFetch, a
 * group member that gets every partition, the errors poll reports
 * (OFFSET_OUT_OF_RANGE with auto.offset.reset=error, an unknown topic),
 * bad arguments, wakeup, and a member that stops polling for
 * max.poll.interval.ms leaving and joining again on its next poll.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker_proc.h"
#include "client/client.h"

static struct broker_proc *const broker = &broker_proc_shared;

/* n records "v<i>" keyed "k<i>" with header h=<i> to topic/partition, in
 * batches of `per_batch` (flushed between) with codec. */
static void produce(const char *topic, int32_t partition, int n, int codec, int per_batch,
		    int64_t ts)
{
	cl_producer_conf c;
	cl_producer *p;
	char err[256];
	cl_producer_conf_init(&c);
	c.bootstrap = broker->bootstrap;
	c.codec = codec;
	c.linger_ms = 1000; /* batches end at the flushes below */
	ck_assert_msg(cl_producer_new(&c, &p, err, sizeof err) == 0, "%s", err);
	for (int i = 0; i < n; i++) {
		char k[32], v[32], h[32];
		snprintf(k, sizeof k, "k%d", i);
		snprintf(v, sizeof v, "v%d", i);
		snprintf(h, sizeof h, "%d", i);
		kp_header hd = { (const uint8_t *)"h", 1, (const uint8_t *)h, (int32_t)strlen(h) };
		cl_record r = { .topic = topic, .partition = partition, .key = k,
				.key_len = (int32_t)strlen(k), .value = v,
				.value_len = (int32_t)strlen(v), .headers = &hd, .n_headers = 1,
				.timestamp = ts ? ts + i : 0 };
		ck_assert_int_eq(cl_producer_send(p, &r), 0);
		if ((i + 1) % per_batch == 0)
			ck_assert_int_eq(cl_producer_flush(p, 30000), 0);
	}
	ck_assert_int_eq(cl_producer_flush(p, 30000), 0);
	ck_assert_int_eq(cl_producer_close(p, 10000), 0);
}

static cl_consumer *consumer(cl_consumer_conf *c)
{
	cl_consumer *cons;
	char err[256];
	c->bootstrap = broker->bootstrap;
	ck_assert_msg(cl_consumer_new(c, &cons, err, sizeof err) == 0, "%s", err);
	return cons;
}

static bool value_is(const cl_message *m, int i)
{
	char v[32];
	snprintf(v, sizeof v, "v%d", i);
	return m->rec.value_len == (int32_t)strlen(v) && memcmp(m->rec.value, v, strlen(v)) == 0;
}

/* Polls until n records came (30 s at most) into offsets[]/values ok. */
static int poll_n(cl_consumer *c, int n, size_t max, int64_t *offsets)
{
	int got = 0;
	time_t end = time(NULL) + 30;
	while (got < n && time(NULL) < end) {
		const cl_message *m;
		int k = cl_consumer_poll(c, 200, &m, max);
		ck_assert_msg(k >= 0, "poll: %s", cl_consumer_errmsg(c));
		for (int i = 0; i < k && got < n; i++)
			offsets[got++] = m[i].rec.offset;
	}
	return got;
}

/* Polls until poll fails (30 s at most); the failure, or 0. */
static int poll_error(cl_consumer *c)
{
	int rc = 0;
	time_t end = time(NULL) + 30;
	while (rc >= 0 && time(NULL) < end) {
		const cl_message *m;
		rc = cl_consumer_poll(c, 200, &m, 10);
	}
	return rc < 0 ? rc : 0;
}

START_TEST(assigned_partition_is_read_in_order_with_keys_values_headers)
{
	produce("c-read", 0, 30, KP_CODEC_LZ4, 10, 0);
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	cl_consumer *c = consumer(&conf);
	cl_consumer_tp tp = { "c-read", 0, CL_OFFSET_EARLIEST, 0 };
	ck_assert_int_eq(cl_consumer_assign(c, &tp, 1), 0);
	int seen = 0;
	time_t end = time(NULL) + 30;
	while (seen < 30 && time(NULL) < end) {
		const cl_message *m;
		int k = cl_consumer_poll(c, 200, &m, 1000);
		ck_assert_int_ge(k, 0);
		for (int i = 0; i < k; i++, seen++) {
			ck_assert_str_eq(m[i].topic, "c-read");
			ck_assert_int_eq(m[i].partition, 0);
			ck_assert_int_eq(m[i].rec.offset, seen);
			ck_assert(value_is(&m[i], seen));
			char key[32];
			snprintf(key, sizeof key, "k%d", seen);
			ck_assert_int_eq(m[i].rec.key_len, (int32_t)strlen(key));
			ck_assert(memcmp(m[i].rec.key, key, strlen(key)) == 0);
			size_t pos = 0;
			kp_header h;
			ck_assert_int_eq(kp_record_header_next(&m[i].rec, &pos, &h), 1);
			ck_assert_int_eq(h.key_len, 1);
			/* The value is a view into the batch, not a C string:
			 * compare its bytes, never read past value_len. */
			char hv[32];
			snprintf(hv, sizeof hv, "%d", seen);
			ck_assert_int_eq(h.value_len, (int32_t)strlen(hv));
			ck_assert(memcmp(h.value, hv, strlen(hv)) == 0);
		}
	}
	ck_assert_int_eq(seen, 30);
	int64_t pos;
	ck_assert_int_eq(cl_consumer_position(c, "c-read", 0, &pos), 0);
	ck_assert_int_eq(pos, 30);
	end = time(NULL) + 30;
	while (!cl_consumer_at_end(c) && time(NULL) < end) {
		const cl_message *m;
		ck_assert_int_eq(cl_consumer_poll(c, 100, &m, 10), 0);
	}
	ck_assert(cl_consumer_at_end(c));
	ck_assert_int_eq(cl_consumer_position(c, "c-read", 1, &pos), CL_ERR_ARG);
	ck_assert_int_eq(cl_consumer_close(c), 0);
}
END_TEST

START_TEST(one_record_per_poll_walks_compressed_batches)
{
	produce("c-one", 0, 25, KP_CODEC_ZSTD, 10, 0);
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	cl_consumer *c = consumer(&conf);
	cl_consumer_tp tp = { "c-one", 0, CL_OFFSET_EARLIEST, 0 };
	ck_assert_int_eq(cl_consumer_assign(c, &tp, 1), 0);
	for (int i = 0; i < 25;) {
		const cl_message *m;
		int k = cl_consumer_poll(c, 1000, &m, 1);
		ck_assert_int_ge(k, 0);
		if (k == 0)
			continue;
		ck_assert_int_eq(k, 1);
		ck_assert_int_eq(m[0].rec.offset, i);
		ck_assert(value_is(&m[0], i));
		i++;
	}
	cl_consumer_close(c);
}
END_TEST

START_TEST(seek_goes_back_and_to_a_time)
{
	int64_t base = 1700000000000LL;
	produce("c-seek", 0, 20, KP_CODEC_NONE, 5, base);
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	cl_consumer *c = consumer(&conf);
	cl_consumer_tp tp = { "c-seek", 0, 5, 0 };
	int64_t off[64];
	ck_assert_int_eq(cl_consumer_assign(c, &tp, 1), 0);
	ck_assert_int_eq(poll_n(c, 15, 100, off), 15);
	ck_assert_int_eq(off[0], 5);
	ck_assert_int_eq(off[14], 19);

	tp.offset = 2;
	ck_assert_int_eq(cl_consumer_seek(c, &tp), 0);
	ck_assert_int_eq(poll_n(c, 3, 100, off), 3);
	ck_assert_int_eq(off[0], 2);
	ck_assert_int_eq(off[2], 4);

	tp.offset = CL_OFFSET_AT_TIME;
	tp.timestamp = base + 12;
	ck_assert_int_eq(cl_consumer_seek(c, &tp), 0);
	ck_assert_int_eq(poll_n(c, 1, 100, off), 1);
	ck_assert_int_eq(off[0], 12);

	cl_consumer_tp other = { "c-seek", 1, 0, 0 };
	ck_assert_int_eq(cl_consumer_seek(c, &other), CL_ERR_ARG);
	cl_consumer_close(c);
}
END_TEST

START_TEST(commit_outside_a_group_is_read_back)
{
	produce("c-commit", 1, 10, KP_CODEC_GZIP, 10, 0);
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	conf.group_id = "c-commit-g";
	conf.enable_auto_commit = false;
	cl_consumer *c = consumer(&conf);
	cl_consumer_tp tp = { "c-commit", 1, CL_OFFSET_EARLIEST, 0 };
	int64_t off[16];
	ck_assert_int_eq(cl_consumer_assign(c, &tp, 1), 0);
	ck_assert_int_eq(poll_n(c, 7, 7, off), 7);
	ck_assert_int_eq(cl_consumer_commit(c, false), 0);
	ck_assert_int_eq(cl_consumer_close(c), 0);

	cl_client *cl;
	cl_group_offsets *o;
	char err[256];
	ck_assert_int_eq(cl_client_new(broker->bootstrap, NULL, &cl, err, sizeof err), 0);
	ck_assert_msg(cl_offset_fetch(cl, "c-commit-g", &o) == 0, "%s", cl_client_errmsg(cl));
	ck_assert_uint_eq(o->n_offsets, 1);
	ck_assert_int_eq(o->offsets[0].partition, 1);
	ck_assert_int_eq(o->offsets[0].offset, 7);
	cl_group_offsets_free(o);
	cl_client_free(cl);

	/* A new consumer starting at the committed offset reads the rest. */
	c = consumer(&conf);
	tp.offset = CL_OFFSET_COMMITTED;
	ck_assert_int_eq(cl_consumer_assign(c, &tp, 1), 0);
	ck_assert_int_eq(poll_n(c, 3, 100, off), 3);
	ck_assert_int_eq(off[0], 7);
	cl_consumer_close(c);
}
END_TEST

START_TEST(a_lone_group_member_gets_every_partition)
{
	produce("c-group", 0, 4, KP_CODEC_SNAPPY, 4, 0);
	produce("c-group", 1, 6, KP_CODEC_NONE, 6, 0);
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	conf.group_id = "c-group-g";
	conf.auto_offset_reset = CL_RESET_EARLIEST;
	conf.assignor = CL_ASSIGNOR_ROUNDROBIN;
	cl_consumer *c = consumer(&conf);
	const char *t = "c-group";
	int64_t off[16];
	ck_assert_int_eq(cl_consumer_subscribe(c, &t, 1), 0);
	ck_assert_int_eq(poll_n(c, 10, 100, off), 10);
	const cl_consumer_tp *as;
	size_t n;
	ck_assert_int_eq(cl_consumer_assignment(c, &as, &n), 0);
	ck_assert_uint_eq(n, 2);
	cl_client *cl;
	cl_group_desc *d;
	char err[256];
	ck_assert_int_eq(cl_client_new(broker->bootstrap, NULL, &cl, err, sizeof err), 0);
	ck_assert_int_eq(cl_describe_group(cl, "c-group-g", &d), 0);
	ck_assert_str_eq(d->state, "Stable");
	ck_assert_str_eq(d->protocol, "roundrobin");
	ck_assert_uint_eq(d->n_members, 1);
	ck_assert_uint_eq(d->members[0].n_assignment, 1);
	ck_assert_uint_eq(d->members[0].assignment[0].n_partitions, 2);
	cl_group_desc_free(d);
	/* Subscribed consumers cannot assign by hand. */
	cl_consumer_tp tp = { "c-group", 0, 0, 0 };
	ck_assert_int_eq(cl_consumer_assign(c, &tp, 1), CL_ERR_ARG);
	ck_assert_int_eq(cl_consumer_close(c), 0);

	/* Closing committed and left: the group is empty, its offsets at the end. */
	cl_group_offsets *o;
	/* The coordinator empties the group just after answering LeaveGroup. */
	time_t end = time(NULL) + 10;
	for (;;) {
		ck_assert_int_eq(cl_describe_group(cl, "c-group-g", &d), 0);
		ck_assert_uint_eq(d->n_members, 0);
		if (strcmp(d->state, "Empty") == 0 || time(NULL) > end)
			break;
		cl_group_desc_free(d);
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	ck_assert_str_eq(d->state, "Empty");
	cl_group_desc_free(d);
	ck_assert_int_eq(cl_offset_fetch(cl, "c-group-g", &o), 0);
	ck_assert_uint_eq(o->n_offsets, 2);
	ck_assert_int_eq(o->offsets[0].offset, 4);
	ck_assert_int_eq(o->offsets[1].offset, 6);
	cl_group_offsets_free(o);
	cl_client_free(cl);
}
END_TEST

START_TEST(out_of_range_with_reset_error_is_reported)
{
	produce("c-range", 0, 3, KP_CODEC_NONE, 3, 0);
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	conf.auto_offset_reset = CL_RESET_ERROR;
	cl_consumer *c = consumer(&conf);
	cl_consumer_tp tp = { "c-range", 0, 1000, 0 };
	ck_assert_int_eq(cl_consumer_assign(c, &tp, 1), 0);
	int rc = poll_error(c);
	ck_assert_int_eq(rc, cl_err_kafka(1));
	ck_assert_ptr_nonnull(strstr(cl_consumer_errmsg(c), "OFFSET_OUT_OF_RANGE"));
	cl_consumer_close(c);
}
END_TEST

START_TEST(an_unknown_topic_is_reported)
{
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	cl_consumer *c = consumer(&conf);
	cl_consumer_tp tp = { "c-no-such-topic", 0, CL_OFFSET_EARLIEST, 0 };
	ck_assert_int_eq(cl_consumer_assign(c, &tp, 1), 0);
	int rc = poll_error(c);
	ck_assert_int_eq(rc, cl_err_kafka(3));
	ck_assert_ptr_nonnull(strstr(cl_consumer_errmsg(c), "c-no-such-topic"));
	cl_consumer_close(c);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
	cl_consumer_conf conf;
	cl_consumer *c;
	char err[256];
	cl_consumer_conf_init(&conf);
	ck_assert_int_eq(cl_consumer_new(&conf, &c, err, sizeof err), CL_ERR_ARG);
	ck_assert_ptr_null(c);
	conf.bootstrap = broker->bootstrap;
	conf.session_timeout_ms = 0;
	ck_assert_int_eq(cl_consumer_new(&conf, &c, err, sizeof err), CL_ERR_ARG);
	cl_consumer_conf_init(&conf);
	conf.group_id = "";
	conf.bootstrap = broker->bootstrap;
	ck_assert_int_eq(cl_consumer_new(&conf, &c, err, sizeof err), CL_ERR_ARG);
	cl_consumer_conf_init(&conf);
	c = consumer(&conf);
	const char *t = "x";
	ck_assert_int_eq(cl_consumer_subscribe(c, &t, 1), CL_ERR_ARG); /* no group */
	ck_assert_int_eq(cl_consumer_commit(c, false), CL_ERR_ARG);
	cl_consumer_tp bad[] = { { "x", -1, 0, 0 }, { "x", 0, -7, 0 },
				 { "x", 0, CL_OFFSET_COMMITTED, 0 } };
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(cl_consumer_assign(c, &bad[i], 1), CL_ERR_ARG);
	cl_consumer_close(c);
	ck_assert_int_eq(cl_consumer_close(NULL), 0);
}
END_TEST

/* The group's state and member count, by DescribeGroups. */
static void group_state(const char *group, char *state, size_t len, size_t *members)
{
	cl_client *cl;
	cl_group_desc *d;
	char err[256];
	ck_assert_int_eq(cl_client_new(broker->bootstrap, NULL, &cl, err, sizeof err), 0);
	ck_assert_int_eq(cl_describe_group(cl, group, &d), 0);
	snprintf(state, len, "%s", d->state);
	*members = d->n_members;
	cl_group_desc_free(d);
	cl_client_free(cl);
}

START_TEST(a_member_that_stops_polling_leaves_and_the_next_poll_rejoins)
{
	produce("c-stall", 0, 3, KP_CODEC_NONE, 3, 0);
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	conf.group_id = "c-stall-g";
	conf.auto_offset_reset = CL_RESET_EARLIEST;
	conf.max_poll_interval_ms = 1000;
	conf.heartbeat_interval_ms = 200;
	cl_consumer *c = consumer(&conf);
	const char *t = "c-stall";
	int64_t off[8];
	char state[32];
	size_t members = 0;
	ck_assert_int_eq(cl_consumer_subscribe(c, &t, 1), 0);
	ck_assert_int_eq(poll_n(c, 3, 10, off), 3);
	/* No poll now: within a few max.poll.interval.ms the member is gone. */
	time_t end = time(NULL) + 20;
	do {
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
		group_state("c-stall-g", state, sizeof state, &members);
	} while (members != 0 && time(NULL) < end);
	ck_assert_uint_eq(members, 0);
	ck_assert_ptr_nonnull(strstr(cl_consumer_errmsg(c), "max.poll.interval.ms"));
	/* Polling again joins again and reads what came meanwhile. */
	produce("c-stall", 0, 2, KP_CODEC_NONE, 2, 0);
	ck_assert_int_eq(poll_n(c, 2, 10, off), 2);
	ck_assert_int_eq(off[0], 3);
	group_state("c-stall-g", state, sizeof state, &members);
	ck_assert_uint_eq(members, 1);
	cl_consumer_close(c);
}
END_TEST

static void *wake_later(void *arg)
{
	struct timespec ts = { 0, 100 * 1000000L };
	nanosleep(&ts, NULL);
	cl_consumer_wakeup(arg);
	return NULL;
}

START_TEST(wakeup_ends_a_poll_without_records)
{
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	cl_consumer *c = consumer(&conf);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, wake_later, c), 0);
	const cl_message *m;
	ck_assert_int_eq(cl_consumer_poll(c, -1, &m, 10), 0);
	pthread_join(th, NULL);
	cl_consumer_close(c);
}
END_TEST

static Suite *consumer_suite(void)
{
	Suite *s = suite_create("consumer");
	TCase *t = tcase_create("broker");
	tcase_add_unchecked_fixture(t, broker_proc_fixture_up, broker_proc_fixture_down);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, assigned_partition_is_read_in_order_with_keys_values_headers);
	tcase_add_test(t, one_record_per_poll_walks_compressed_batches);
	tcase_add_test(t, seek_goes_back_and_to_a_time);
	tcase_add_test(t, commit_outside_a_group_is_read_back);
	tcase_add_test(t, a_lone_group_member_gets_every_partition);
	tcase_add_test(t, out_of_range_with_reset_error_is_reported);
	tcase_add_test(t, an_unknown_topic_is_reported);
	tcase_add_test(t, bad_arguments_are_refused);
	tcase_add_test(t, wakeup_ends_a_poll_without_records);
	tcase_add_test(t, a_member_that_stops_polling_leaves_and_the_next_poll_rejoins);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	broker_proc_shared.sets[0] = "num.partitions=2";
	broker_proc_shared.sets[1] = "group.initial.rebalance.delay.ms=0";
	broker_proc_shared.sets[2] = "offsets.topic.num.partitions=2";
	SRunner *sr = srunner_create(consumer_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
