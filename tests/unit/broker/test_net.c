/*
 * test_net.c -- the net layer without a listener: a connection (conn.c) on
 * one end of a socketpair, its reactor's loop run by the test itself, and
 * the br_apis table, ApiVersions and the error mapping.
 *
 * The client end writes frames in awkward shapes (a byte at a time, many at
 * once, bigger than the read buffer) and reads responses with a deadline
 * while the test turns the reactor's loop.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/br_int.h"

typedef struct net_fixture {
	br_broker b;
	br_reactor *r;
	int client;                   /* the test's end */
} net_fixture;

static void fx_open(net_fixture *f, int64_t max_request)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	br_config_init(&f->b.cfg);
	f->b.cfg.socket_request_max_bytes = (int32_t)max_request;
	ck_assert_int_eq(br_metrics_new(&f->b.metrics), 0);
	ck_assert_int_eq(br__reactor_new(&f->b, 0, &f->r), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	f->client = sv[0];
	br_metrics_connections(f->b.metrics, +1);
	ck_assert_int_eq(br__conn_open(f->r, sv[1], "test-peer"), 0);
}

static void fx_close(net_fixture *f)
{
	close(f->client);
	br__reactor_free(f->r);
	ck_assert_int_eq(br_metrics_connections(f->b.metrics, 0), 0);
	br_metrics_free(f->b.metrics);
	br_config_free(&f->b.cfg);
}

static void turn(net_fixture *f)
{
	event_base_loop(br_reactor_base(f->r), EVLOOP_NONBLOCK);
}

/* Writes all of len bytes, turning the loop while the socket is full. */
static void send_all(net_fixture *f, const void *p, size_t len)
{
	const uint8_t *q = p;

	while (len > 0) {
		ssize_t n = write(f->client, q, len);

		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			turn(f);
			continue;
		}
		q += n;
		len -= (size_t)n;
	}
}

/* Reads exactly len bytes within 5 s; false on EOF. */
static bool recv_all(net_fixture *f, void *p, size_t len)
{
	uint8_t *q = p;
	int64_t deadline = br__now_ms() + 5000;

	while (len > 0) {
		ssize_t n = read(f->client, q, len);

		if (n == 0)
			return false;
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert_int_lt(br__now_ms(), deadline);
			turn(f);
			continue;
		}
		q += n;
		len -= (size_t)n;
	}
	return true;
}

/* One response frame: its correlation id and body (caller frees). */
static uint8_t *recv_response(net_fixture *f, int32_t *corr, size_t *len)
{
	uint8_t hdr[8];
	uint8_t *body;
	int32_t size;

	ck_assert(recv_all(f, hdr, 8));
	size = (int32_t)kp_load_be32(hdr);
	ck_assert_int_ge(size, 4);
	*corr = (int32_t)kp_load_be32(hdr + 4);
	*len = (size_t)size - 4;
	body = malloc(*len + 1);
	ck_assert(recv_all(f, body, *len));
	return body;
}

/* True when the broker closed the connection within 5 s. */
static bool closed(net_fixture *f)
{
	uint8_t c;

	return !recv_all(f, &c, 1);
}

static size_t api_versions_frame(uint8_t *out, int16_t version, int32_t corr, size_t pad)
{
	/* header v1: key, version, correlation id, client id "t" */
	size_t n = 4;

	kp_store_be16(out + n, KP_API_API_VERSIONS);
	kp_store_be16(out + n + 2, (uint16_t)version);
	kp_store_be32(out + n + 4, (uint32_t)corr);
	kp_store_be16(out + n + 8, 1);
	out[n + 10] = 't';
	n += 11;
	memset(out + n, 0, pad);      /* v0 has no body: trailing bytes are ignored */
	n += pad;
	kp_store_be32(out, (uint32_t)(n - 4));
	return n;
}

START_TEST(frames_split_byte_by_byte_are_answered)
{
	net_fixture f;
	uint8_t frame[64];
	size_t n = api_versions_frame(frame, 0, 11, 0);
	int32_t corr;
	size_t len;
	uint8_t *body;

	fx_open(&f, 1 << 20);
	for (size_t i = 0; i < n; i++) {
		send_all(&f, frame + i, 1);
		turn(&f);
	}
	body = recv_response(&f, &corr, &len);
	ck_assert_int_eq(corr, 11);
	ck_assert_int_eq(kp_load_be16(body), 0);                 /* ErrorCode */
	ck_assert_uint_eq(kp_load_be32(body + 2), br_apis_len);   /* ApiKeys */
	ck_assert_uint_eq(len, 2 + 4 + 6 * br_apis_len);         /* v0: no ThrottleTimeMs */
	free(body);
	fx_close(&f);
}
END_TEST

START_TEST(many_frames_in_one_write_are_answered_in_order)
{
	net_fixture f;
	uint8_t *buf = malloc(500 * 64);
	size_t n = 0;

	fx_open(&f, 1 << 20);
	for (int i = 0; i < 500; i++)
		n += api_versions_frame(buf + n, (int16_t)(i % 3), i, 0);   /* v0-v2: header v1 */
	send_all(&f, buf, n);
	for (int i = 0; i < 500; i++) {
		int32_t corr;
		size_t len;

		free(recv_response(&f, &corr, &len));
		ck_assert_int_eq(corr, i);
	}
	free(buf);
	fx_close(&f);
}
END_TEST

START_TEST(frame_bigger_than_the_read_buffer_is_read_whole)
{
	net_fixture f;
	size_t pad = 300000;
	uint8_t *buf = malloc(pad + 64);
	size_t n = api_versions_frame(buf, 0, 5, pad);
	int32_t corr;
	size_t len;

	fx_open(&f, 1 << 20);
	n += api_versions_frame(buf + n, 1, 6, 0);
	send_all(&f, buf, n);
	free(recv_response(&f, &corr, &len));
	ck_assert_int_eq(corr, 5);
	free(recv_response(&f, &corr, &len));
	ck_assert_int_eq(corr, 6);
	free(buf);
	fx_close(&f);
}
END_TEST

START_TEST(frame_over_socket_request_max_bytes_disconnects)
{
	net_fixture f;
	size_t pad = 5000;
	uint8_t *buf = malloc(pad + 64);
	size_t n = api_versions_frame(buf, 0, 5, pad);

	fx_open(&f, 4096);
	send_all(&f, buf, n);
	ck_assert(closed(&f));
	free(buf);
	fx_close(&f);
}
END_TEST

START_TEST(negative_size_and_unknown_api_disconnect)
{
	static const uint8_t negative[] = { 0xff, 0xff, 0xff, 0xfb };
	static const uint8_t unknown[] = { 0, 0, 0, 8, 0x27, 0x0f, 0, 0, 0, 0, 0, 1 };
	net_fixture f;

	fx_open(&f, 1 << 20);
	send_all(&f, negative, sizeof(negative));
	ck_assert(closed(&f));
	fx_close(&f);

	fx_open(&f, 1 << 20);
	send_all(&f, unknown, sizeof(unknown));
	ck_assert(closed(&f));
	fx_close(&f);
}
END_TEST

START_TEST(unsupported_api_versions_gets_a_v0_body_and_the_connection_stays)
{
	net_fixture f;
	uint8_t frame[64];
	size_t n = api_versions_frame(frame, 42, 9, 0);
	int32_t corr;
	size_t len;
	uint8_t *body;

	fx_open(&f, 1 << 20);
	send_all(&f, frame, n);
	body = recv_response(&f, &corr, &len);
	ck_assert_int_eq(corr, 9);
	ck_assert_int_eq(kp_load_be16(body), KE_UNSUPPORTED_VERSION);
	ck_assert_uint_eq(kp_load_be32(body + 2), br_apis_len);
	ck_assert_uint_eq(len, 2 + 4 + 6 * br_apis_len);
	free(body);
	n = api_versions_frame(frame, 3, 10, 0);
	/* v3 is flexible: header v2 has a tag section after the client id. */
	frame[n] = 0;      /* header tags */
	frame[n + 1] = 1;  /* ClientSoftwareName: empty compact string */
	frame[n + 2] = 1;  /* ClientSoftwareVersion: empty */
	frame[n + 3] = 0;  /* body tags */
	n += 4;
	kp_store_be32(frame, (uint32_t)(n - 4));
	send_all(&f, frame, n);
	body = recv_response(&f, &corr, &len);
	ck_assert_int_eq(corr, 10);
	ck_assert_int_eq(kp_load_be16(body), 0);
	ck_assert_int_eq(body[2], (int)br_apis_len + 1);         /* compact array */
	free(body);
	fx_close(&f);
}
END_TEST

/* br_reactor_post() from several threads at once, while the reactor runs
 * its own loop: every task runs. The loop is woken only by the post that
 * finds the queue empty, so a wrong decision there leaves tasks queued
 * with nobody to run them -- the deadline below catches it (it bounds a
 * hang, it measures nothing). */
enum { POSTERS = 4, POSTS = 20000 };

static atomic_int posted_ran;

static void count_task(void *arg)
{
	(void)arg;
	atomic_fetch_add(&posted_ran, 1);
}

static void *poster(void *arg)
{
	br_reactor *r = arg;

	for (int i = 0; i < POSTS; i++) {
		ck_assert_int_eq(br_reactor_post(r, count_task, NULL), 0);
		/* Now and then let the loop drain, so posts also find it
		 * empty (the case that must write the eventfd). */
		if (i % 1000 == 0)
			usleep(200);
	}
	return NULL;
}

START_TEST(posts_from_many_threads_all_run_on_the_reactor)
{
	br_broker b;
	br_reactor *r;
	pthread_t th[POSTERS];

	memset(&b, 0, sizeof(b));
	br_config_init(&b.cfg);
	atomic_store(&posted_ran, 0);
	ck_assert_int_eq(br__reactor_new(&b, 0, &r), 0);
	ck_assert_int_eq(br__reactor_start(r), 0);
	for (int i = 0; i < POSTERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, poster, r), 0);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	int64_t deadline = br__now_ms() + 20000;
	while (atomic_load(&posted_ran) < POSTERS * POSTS && br__now_ms() < deadline)
		usleep(1000);
	int ran = atomic_load(&posted_ran);
	ck_assert_int_eq(ran, POSTERS * POSTS);
	/* One more after a quiet moment: the queue is empty, so this post
	 * alone must wake the loop. */
	usleep(20000);
	ck_assert_int_eq(br_reactor_post(r, count_task, NULL), 0);
	deadline = br__now_ms() + 20000;
	while (atomic_load(&posted_ran) < POSTERS * POSTS + 1 && br__now_ms() < deadline)
		usleep(1000);
	ran = atomic_load(&posted_ran);
	ck_assert_int_eq(ran, POSTERS * POSTS + 1);
	br__reactor_free(r);
	br_config_free(&b.cfg);
}
END_TEST

START_TEST(apis_are_sorted_and_inside_the_codecs_ranges)
{
	for (size_t i = 0; i < br_apis_len; i++) {
		const kp_api_info *k = kp_api_find(br_apis[i].api_key);

		if (i > 0)
			ck_assert_int_lt(br_apis[i - 1].api_key, br_apis[i].api_key);
		ck_assert_ptr_nonnull(k);
		ck_assert_int_ge(br_apis[i].min_version, k->min_version);
		ck_assert_int_le(br_apis[i].max_version, k->max_version);
		ck_assert_int_le(br_apis[i].min_version, br_apis[i].max_version);
		ck_assert_ptr_nonnull(br_apis[i].handler);
		ck_assert_ptr_eq(br_api_find(br_apis[i].api_key), &br_apis[i]);
	}
	ck_assert_ptr_null(br_api_find(-1));
	ck_assert_ptr_null(br_api_find(9999));
	ck_assert_ptr_nonnull(br_api_find(KP_API_API_VERSIONS));
	ck_assert_ptr_nonnull(br_api_find(KP_API_METADATA));
	ck_assert_ptr_nonnull(br_api_find(KP_API_PRODUCE));
	ck_assert_ptr_nonnull(br_api_find(KP_API_FETCH));
}
END_TEST

START_TEST(errors_map_to_kafka_codes)
{
	ck_assert_int_eq(br_kafka_error(0), KE_NONE);
	ck_assert_int_eq(br_kafka_error(ST_ERR_OFFSET_OUT_OF_RANGE), KE_OFFSET_OUT_OF_RANGE);
	ck_assert_int_eq(br_kafka_error(KP_ERR_CRC), KE_CORRUPT_MESSAGE);
	ck_assert_int_eq(br_kafka_error(KP_ERR_MAGIC), KE_CORRUPT_MESSAGE);
	ck_assert_int_eq(br_kafka_error(ST_ERR_TOO_LARGE), KE_MESSAGE_TOO_LARGE);
	ck_assert_int_eq(br_kafka_error(-ENOSPC), KE_KAFKA_STORAGE_ERROR);
	ck_assert_int_eq(br_kafka_error(-EIO), KE_KAFKA_STORAGE_ERROR);
	ck_assert_int_eq(br_kafka_error(ST_ERR_OFFLINE), KE_KAFKA_STORAGE_ERROR);
	ck_assert_int_eq(br_kafka_error(-12345), KE_UNKNOWN_SERVER_ERROR);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("broker_net");
	TCase *tc = tcase_create("net");

	tcase_add_test(tc, frames_split_byte_by_byte_are_answered);
	tcase_add_test(tc, many_frames_in_one_write_are_answered_in_order);
	tcase_add_test(tc, frame_bigger_than_the_read_buffer_is_read_whole);
	tcase_add_test(tc, frame_over_socket_request_max_bytes_disconnects);
	tcase_add_test(tc, negative_size_and_unknown_api_disconnect);
	tcase_add_test(tc, unsupported_api_versions_gets_a_v0_body_and_the_connection_stays);
	tcase_add_test(tc, apis_are_sorted_and_inside_the_codecs_ranges);
	tcase_add_test(tc, errors_map_to_kafka_codes);
	tcase_add_test(tc, posts_from_many_threads_all_run_on_the_reactor);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(net_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
