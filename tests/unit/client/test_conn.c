/*
 * test_conn.c -- cl_conn and cl_client against a scripted fake broker: a
 * thread serving 127.0.0.1 on a kernel-chosen port, answering with the
 * generated encoders. Checks the ApiVersions handshake (highest common
 * version; the UNSUPPORTED_VERSION fallback), the request shapes spoken to
 * older brokers (FindCoordinator v3, OffsetFetch v7), and that every
 * broken answer (absurd size, wrong correlation id, garbage, a close, a
 * silence) becomes an error value with a sentence, never a crash.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.h"
#include "proto/schema/kp_msgs.h"

enum fake_mode {
	FAKE_NORMAL,
	FAKE_REFUSE_NEW_APIVERSIONS,  /* UNSUPPORTED_VERSION above v2 */
	FAKE_HUGE_SIZE,
	FAKE_WRONG_CORRELATION,
	FAKE_GARBAGE_BODY,
	FAKE_CLOSE,
	FAKE_SILENT,
	FAKE_BAD_METADATA,            /* ApiVersions fine, Metadata garbage */
};

struct fake {
	enum fake_mode mode;
	int lfd;
	int port;
	int stop_pipe[2];
	pthread_t thread;
	/* what the client sent, for assertions */
	int16_t apiversions_versions[4];
	int n_apiversions;
	int16_t findcoord_version;
	char findcoord_key[64];
	int16_t offsetfetch_version;
	char offsetfetch_group[64];
	bool offsetfetch_all_topics;
};

/* The ranges the fake advertises: older than the codecs on purpose. */
static const kp_ApiVersionsResponse_ApiVersion fake_apis[] = {
	{ KP_API_METADATA, 0, 5 },
	{ KP_API_LIST_OFFSETS, 1, 3 },
	{ KP_API_OFFSET_FETCH, 0, 7 },
	{ KP_API_FIND_COORDINATOR, 0, 3 },
	{ KP_API_API_VERSIONS, 0, 2 },
	{ KP_API_OFFSET_COMMIT, 0, 1 },  /* below the helpers' minimum (2) */
};

static bool read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static void write_full(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w <= 0)
			return;
		b += w;
		n -= (size_t)w;
	}
}

/* Sends size + response header (v0 or v1) + body. */
static void respond(int fd, int32_t corr, int16_t api, int16_t ver, const kp_buf *body)
{
	kp_buf f;
	kp_buf_init(&f);
	kp_buf_put_i32(&f, 0);
	kp_ResponseHeader h = { corr };
	kp_ResponseHeader_encode(&f, (int16_t)kp_response_header_version(api, ver), &h);
	kp_buf_put(&f, body->data, body->len);
	kp_store_be32(f.data, (uint32_t)(f.len - 4));
	write_full(fd, f.data, f.len);
	kp_buf_free(&f);
}

static void copy_str(char *dst, size_t n, kp_str s)
{
	snprintf(dst, n, "%.*s", s.len > 0 ? s.len : 0, (const char *)s.p);
}

/* Serves one request frame on fd; false to close the connection. */
static bool serve_one(struct fake *f, int fd)
{
	uint8_t szb[4];
	if (!read_full(fd, szb, 4))
		return false;
	uint32_t size = kp_load_be32(szb);
	if (size > (1u << 20))
		return false;
	uint8_t *frame = malloc(size);
	if (!read_full(fd, frame, size)) {
		free(frame);
		return false;
	}
	kp_reader r = kp_reader_make(frame, size);
	int16_t api = (int16_t)kp_load_be16(frame), ver = (int16_t)kp_load_be16(frame + 2);
	kp_RequestHeader h;
	kp_arena a;
	kp_buf body;
	bool keep = true;
	kp_arena_init(&a, 0);
	kp_buf_init(&body);
	ck_assert_int_eq(kp_RequestHeader_decode(&r, (int16_t)kp_request_header_version(api, ver),
						 &a, &h), 0);

	if (f->mode == FAKE_CLOSE) {
		keep = false;
	} else if (f->mode == FAKE_SILENT) {
		/* never answers; the client times out */
	} else if (f->mode == FAKE_HUGE_SIZE) {
		uint8_t huge[8] = { 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0 };
		kp_store_be32(huge + 4, (uint32_t)h.CorrelationId);
		write_full(fd, huge, sizeof huge);
	} else if (f->mode == FAKE_WRONG_CORRELATION) {
		kp_buf_put_i16(&body, 0);
		respond(fd, h.CorrelationId + 1, api, ver, &body);
	} else if (f->mode == FAKE_GARBAGE_BODY) {
		kp_buf_put_i16(&body, 0);        /* ErrorCode 0, then a count */
		kp_buf_put_i32(&body, 1000);     /* ... of entries that are not there */
		respond(fd, h.CorrelationId, api, ver, &body);
	} else if (api == KP_API_API_VERSIONS) {
		if (f->n_apiversions < 4)
			f->apiversions_versions[f->n_apiversions++] = ver;
		kp_ApiVersionsResponse m;
		kp_ApiVersionsResponse_init(&m);
		m.ApiKeys.count = (int32_t)(sizeof fake_apis / sizeof fake_apis[0]);
		m.ApiKeys.items = (kp_ApiVersionsResponse_ApiVersion *)fake_apis;
		int16_t answer = ver;
		if (ver > 2) {
			/* Kafka's rule: UNSUPPORTED_VERSION in a v0 body. */
			m.ErrorCode = 35;
			answer = 0;
		}
		ck_assert_int_eq(kp_ApiVersionsResponse_encode(&body, answer, &m), 0);
		respond(fd, h.CorrelationId, api, ver, &body);
	} else if (f->mode == FAKE_BAD_METADATA) {
		kp_buf_put_i32(&body, 5);        /* five brokers, none present */
		respond(fd, h.CorrelationId, api, ver, &body);
	} else if (api == KP_API_METADATA) {
		kp_MetadataResponse m;
		kp_MetadataResponse_MetadataResponseBroker b;
		kp_MetadataResponse_MetadataResponseTopic t;
		kp_MetadataResponse_MetadataResponsePartition p[2];
		kp_MetadataResponse_init(&m);
		kp_MetadataResponse_MetadataResponseBroker_init(&b);
		kp_MetadataResponse_MetadataResponseTopic_init(&t);
		b.NodeId = 7;
		b.Host = KP_STR_LIT("127.0.0.1");
		b.Port = f->port;
		m.Brokers.count = 1;
		m.Brokers.items = &b;
		/* partitions listed out of order: the client sorts them */
		for (int i = 0; i < 2; i++) {
			kp_MetadataResponse_MetadataResponsePartition_init(&p[i]);
			p[i].PartitionIndex = 1 - i;
			p[i].LeaderId = 7;
		}
		t.Name = KP_STR_LIT("t");
		t.Partitions.count = 2;
		t.Partitions.items = p;
		kp_MetadataRequest q;
		ck_assert_int_eq(kp_MetadataRequest_decode(&r, ver, &a, &q), 0);
		if (q.Topics.count != 0) {
			m.Topics.count = 1;
			m.Topics.items = &t;
		}
		ck_assert_int_eq(kp_MetadataResponse_encode(&body, ver, &m), 0);
		respond(fd, h.CorrelationId, api, ver, &body);
	} else if (api == KP_API_FIND_COORDINATOR) {
		kp_FindCoordinatorRequest q;
		ck_assert_int_eq(kp_FindCoordinatorRequest_decode(&r, ver, &a, &q), 0);
		f->findcoord_version = ver;
		copy_str(f->findcoord_key, sizeof f->findcoord_key, q.Key);
		kp_FindCoordinatorResponse m;
		kp_FindCoordinatorResponse_init(&m);
		m.NodeId = 7;
		m.Host = KP_STR_LIT("127.0.0.1");
		m.Port = f->port;
		ck_assert_int_eq(kp_FindCoordinatorResponse_encode(&body, ver, &m), 0);
		respond(fd, h.CorrelationId, api, ver, &body);
	} else if (api == KP_API_OFFSET_FETCH) {
		kp_OffsetFetchRequest q;
		ck_assert_int_eq(kp_OffsetFetchRequest_decode(&r, ver, &a, &q), 0);
		f->offsetfetch_version = ver;
		copy_str(f->offsetfetch_group, sizeof f->offsetfetch_group, q.GroupId);
		f->offsetfetch_all_topics = q.Topics.count == -1;
		kp_OffsetFetchResponse m;
		kp_OffsetFetchResponse_OffsetFetchResponseTopic t;
		kp_OffsetFetchResponse_OffsetFetchResponsePartition p[2];
		kp_OffsetFetchResponse_init(&m);
		kp_OffsetFetchResponse_OffsetFetchResponseTopic_init(&t);
		for (int i = 0; i < 2; i++) {
			kp_OffsetFetchResponse_OffsetFetchResponsePartition_init(&p[i]);
			p[i].PartitionIndex = 1 - i;
			p[i].CommittedOffset = i ? 42 : 7;
			p[i].Metadata = KP_STR_LIT("");
		}
		t.Name = KP_STR_LIT("t");
		t.Partitions.count = 2;
		t.Partitions.items = p;
		m.Topics.count = 1;
		m.Topics.items = &t;
		ck_assert_int_eq(kp_OffsetFetchResponse_encode(&body, ver, &m), 0);
		respond(fd, h.CorrelationId, api, ver, &body);
	} else {
		keep = false;  /* the client should never send what we did not offer */
	}
	kp_buf_free(&body);
	kp_arena_free(&a);
	free(frame);
	return keep;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p[9];
	int n = 2;
	p[0] = (struct pollfd){ .fd = f->lfd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = f->stop_pipe[0], .events = POLLIN };
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0)
			continue;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN) {
			int c = accept(f->lfd, NULL, NULL);
			if (c >= 0 && n < 9)
				p[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
			else if (c >= 0)
				close(c);
		}
		for (int i = 2; i < n; i++) {
			if (!p[i].revents)
				continue;
			if (!serve_one(f, p[i].fd)) {
				close(p[i].fd);
				p[i--] = p[--n];
			}
		}
	}
	for (int i = 2; i < n; i++)
		close(p[i].fd);
	return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	memset(f, 0, sizeof *f);
	f->mode = mode;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(f->lfd, 8), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
	ck_assert_int_eq(pipe(f->stop_pipe), 0);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	write_full(f->stop_pipe[1], "x", 1);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	close(f->stop_pipe[0]);
	close(f->stop_pipe[1]);
}

/* A port with nothing listening: bound, never listened on. */
static int closed_port(int *fd)
{
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	ck_assert_int_eq(bind(*fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&sa, &sl), 0);
	return ntohs(sa.sin_port);
}

/* ------------------------------------------------------------------ tests */

START_TEST(handshake_falls_back_and_picks_highest_common_versions)
{
	struct fake f;
	cl_conn *c;
	char err[512];
	fake_start(&f, FAKE_NORMAL);
	ck_assert_int_eq(cl_conn_open("127.0.0.1", f.port, NULL, &c, err, sizeof err), 0);
	/* Asked in our newest ApiVersions, refused, asked again in v2. */
	ck_assert_int_eq(f.n_apiversions, 2);
	ck_assert_int_eq(f.apiversions_versions[0], kp_api_find(KP_API_API_VERSIONS)->max_version);
	ck_assert_int_eq(f.apiversions_versions[1], 2);
	ck_assert_int_eq(cl_conn_api_version(c, KP_API_METADATA), 5);
	ck_assert_int_eq(cl_conn_api_version(c, KP_API_LIST_OFFSETS), 3);
	ck_assert_int_eq(cl_conn_api_version(c, KP_API_OFFSET_FETCH), 7);
	ck_assert_int_eq(cl_conn_api_version(c, KP_API_FIND_COORDINATOR), 3);
	ck_assert_int_eq(cl_conn_api_version(c, KP_API_OFFSET_COMMIT), -1);
	ck_assert_int_eq(cl_conn_api_version(c, KP_API_DELETE_GROUPS), -1);
	ck_assert_int_eq(cl_conn_api_version(c, -3), -1);
	int16_t lo, hi;
	ck_assert(cl_conn_broker_range(c, KP_API_OFFSET_COMMIT, &lo, &hi));
	ck_assert_int_eq(lo, 0);
	ck_assert_int_eq(hi, 1);
	ck_assert(!cl_conn_broker_range(c, KP_API_DELETE_GROUPS, &lo, &hi));
	ck_assert(!cl_conn_broken(c));
	cl_conn_close(c);
	fake_stop(&f);
}
END_TEST

START_TEST(client_reads_metadata_and_speaks_old_group_shapes)
{
	struct fake f;
	cl_client *cl;
	char err[512], boot[64];
	int cfd;
	fake_start(&f, FAKE_NORMAL);
	/* The first bootstrap entry refuses; the second is the fake. */
	snprintf(boot, sizeof boot, "127.0.0.1:%d,127.0.0.1:%d", closed_port(&cfd), f.port);
	ck_assert_int_eq(cl_client_new(boot, NULL, &cl, err, sizeof err), 0);
	ck_assert_int_eq(cl_client_connect(cl), 0);

	cl_metadata *md;
	const char *names[] = { "t" };
	ck_assert_int_eq(cl_metadata_get(cl, names, 1, &md), 0);
	const cl_topic_info *t = cl_metadata_topic(md, "t");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->n_partitions, 2);
	ck_assert_int_eq(t->partitions[0].partition, 0);
	ck_assert_int_eq(t->partitions[1].partition, 1);
	ck_assert_int_eq(t->partitions[1].leader, 7);
	ck_assert_ptr_null(cl_metadata_topic(md, "u"));
	ck_assert_uint_eq(md->n_brokers, 1);
	ck_assert_str_eq(md->brokers[0].host, "127.0.0.1");
	cl_metadata_free(md);

	/* FindCoordinator v3 carries the group in Key; OffsetFetch v7 asks
	 * for every topic with a null list. */
	cl_group_offsets *o;
	ck_assert_int_eq(cl_offset_fetch(cl, "g1", &o), 0);
	ck_assert_int_eq(f.findcoord_version, 3);
	ck_assert_str_eq(f.findcoord_key, "g1");
	ck_assert_int_eq(f.offsetfetch_version, 7);
	ck_assert_str_eq(f.offsetfetch_group, "g1");
	ck_assert(f.offsetfetch_all_topics);
	ck_assert_uint_eq(o->n_offsets, 2);
	ck_assert_int_eq(o->offsets[0].partition, 0);
	ck_assert_int_eq(o->offsets[0].offset, 42);
	ck_assert_int_eq(o->offsets[1].partition, 1);
	ck_assert_int_eq(o->offsets[1].offset, 7);
	cl_group_offsets_free(o);

	/* What the broker does not offer is an error with a sentence. */
	cl_tp_offset q = { .topic = "t", .partition = 0, .offset = 1 };
	ck_assert_int_eq(cl_offset_commit(cl, "g1", &q, 1), CL_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(cl_client_errmsg(cl), "OffsetCommit v0-v1"));
	ck_assert_int_eq(cl_delete_group(cl, "g1"), CL_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(cl_client_errmsg(cl), "does not offer the DeleteGroups API"));
	cl_group_list *gl;
	ck_assert_int_eq(cl_list_groups(cl, &gl), CL_ERR_UNSUPPORTED);

	cl_client_free(cl);
	close(cfd);
	fake_stop(&f);
}
END_TEST

/* Opens a connection to a fake in `mode` and expects failure `want` with
 * `needle` in the message. */
static void open_fails(enum fake_mode mode, int want, const char *needle, int timeout_ms)
{
	struct fake f;
	cl_conn *c = (cl_conn *)1;
	char err[512] = "";
	cl_opts o = { .request_timeout_ms = timeout_ms };
	fake_start(&f, mode);
	ck_assert_int_eq(cl_conn_open("127.0.0.1", f.port, &o, &c, err, sizeof err), want);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
	fake_stop(&f);
}

START_TEST(absurd_frame_size_is_a_protocol_error)
{
	open_fails(FAKE_HUGE_SIZE, CL_ERR_PROTOCOL, "claims 2147483647 bytes", 0);
}
END_TEST

START_TEST(wrong_correlation_id_is_a_protocol_error)
{
	open_fails(FAKE_WRONG_CORRELATION, CL_ERR_PROTOCOL, "correlation id", 0);
}
END_TEST

START_TEST(garbage_apiversions_body_is_a_protocol_error)
{
	open_fails(FAKE_GARBAGE_BODY, CL_ERR_PROTOCOL, "does not parse", 0);
}
END_TEST

START_TEST(broker_closing_mid_request_is_closed)
{
	open_fails(FAKE_CLOSE, CL_ERR_CLOSED, "closed the connection", 0);
}
END_TEST

START_TEST(silent_broker_times_out)
{
	open_fails(FAKE_SILENT, CL_ERR_TIMEOUT, "timed out", 200);
}
END_TEST

START_TEST(refused_connection_names_the_address)
{
	int cfd, port = closed_port(&cfd);
	cl_conn *c;
	char err[512], want[64];
	ck_assert_int_eq(cl_conn_open("127.0.0.1", port, NULL, &c, err, sizeof err), -ECONNREFUSED);
	snprintf(want, sizeof want, "connect to 127.0.0.1:%d", port);
	ck_assert_msg(strstr(err, want), "message '%s' lacks '%s'", err, want);

	cl_client *cl;
	char boot[32];
	snprintf(boot, sizeof boot, "127.0.0.1:%d", port);
	ck_assert_int_eq(cl_client_new(boot, NULL, &cl, err, sizeof err), 0);
	cl_group_list *gl;
	ck_assert_int_eq(cl_list_groups(cl, &gl), CL_ERR_NO_BROKER);
	ck_assert_ptr_nonnull(strstr(cl_client_errmsg(cl), "is the broker running"));
	cl_client_free(cl);
	ck_assert_int_eq(cl_client_new("a:1,,b", NULL, &cl, err, sizeof err), CL_ERR_BOOTSTRAP);
	ck_assert_ptr_null(cl);
	close(cfd);
}
END_TEST

START_TEST(unresolvable_host_is_resolve_error)
{
	cl_conn *c;
	char err[512];
	ck_assert_int_eq(cl_conn_open("no-such-host.invalid", 9092, NULL, &c, err, sizeof err),
			 CL_ERR_RESOLVE);
	ck_assert_ptr_nonnull(strstr(err, "cannot resolve no-such-host.invalid:9092"));
}
END_TEST

START_TEST(malformed_metadata_fails_cleanly_and_breaks_nothing_else)
{
	struct fake f;
	cl_client *cl;
	char err[512], boot[32];
	fake_start(&f, FAKE_BAD_METADATA);
	snprintf(boot, sizeof boot, "127.0.0.1:%d", f.port);
	ck_assert_int_eq(cl_client_new(boot, NULL, &cl, err, sizeof err), 0);
	ck_assert_int_eq(cl_client_connect(cl), CL_ERR_NO_BROKER);
	ck_assert_ptr_nonnull(strstr(cl_client_errmsg(cl), "Metadata v5 answer"));
	cl_metadata *md;
	ck_assert_int_eq(cl_metadata_get(cl, NULL, 0, &md), CL_ERR_NO_BROKER);
	ck_assert_ptr_null(md);
	cl_client_free(cl);
	fake_stop(&f);
}
END_TEST

START_TEST(a_broken_connection_refuses_later_calls)
{
	struct fake f;
	cl_conn *c;
	char err[512];
	kp_buf body, resp;
	fake_start(&f, FAKE_NORMAL);
	ck_assert_int_eq(cl_conn_open("127.0.0.1", f.port, NULL, &c, err, sizeof err), 0);
	f.mode = FAKE_WRONG_CORRELATION;
	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_MetadataRequest q;
	kp_MetadataRequest_init(&q);
	ck_assert_int_eq(kp_MetadataRequest_encode(&body, 5, &q), 0);
	ck_assert_int_eq(cl_conn_call(c, KP_API_METADATA, 5, &body, &resp), CL_ERR_PROTOCOL);
	ck_assert(cl_conn_broken(c));
	ck_assert_int_eq(cl_conn_call(c, KP_API_METADATA, 5, &body, &resp), CL_ERR_BROKEN);
	ck_assert_ptr_nonnull(strstr(cl_conn_errmsg(c), "failed earlier"));
	kp_buf_free(&body);
	kp_buf_free(&resp);
	cl_conn_close(c);
	fake_stop(&f);
}
END_TEST

static Suite *conn_suite(void)
{
	Suite *s = suite_create("client_conn");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, handshake_falls_back_and_picks_highest_common_versions);
	tcase_add_test(tc, client_reads_metadata_and_speaks_old_group_shapes);
	tcase_add_test(tc, absurd_frame_size_is_a_protocol_error);
	tcase_add_test(tc, wrong_correlation_id_is_a_protocol_error);
	tcase_add_test(tc, garbage_apiversions_body_is_a_protocol_error);
	tcase_add_test(tc, broker_closing_mid_request_is_closed);
	tcase_add_test(tc, silent_broker_times_out);
	tcase_add_test(tc, refused_connection_names_the_address);
	tcase_add_test(tc, unresolvable_host_is_resolve_error);
	tcase_add_test(tc, malformed_metadata_fails_cleanly_and_breaks_nothing_else);
	tcase_add_test(tc, a_broken_connection_refuses_later_calls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
