/*
 * test_wire.c -- the asynchronous wire and cluster against a real
 * rewind-broker on loopback (broker_proc.c): the ApiVersions handshake,
 * pipelined requests answered in order, acks=0 requests done once written,
 * refused connects, a silent peer timing out, close and a done that closes
 * its own wire; the cluster's Metadata cache (partition counts, leaders,
 * unknown topics), coalesced refreshes and a bootstrap list with no broker.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker_proc.h"
#include "client/client.h"
#include "proto/schema/kp_msgs.h"

/* The program's broker (broker_proc.c), num.partitions=3. */
static struct broker_proc *const broker = &broker_proc_shared;

/* ------------------------------------------------------------ harness */

#define MAXREQ 256

struct box {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	cl_io *io;
	cl_wire *wire;
	cl_cluster *cl;
	int ndone;
	int err[MAXREQ];
	int order[MAXREQ];
	int nbrokers[MAXREQ];
	bool body_null[MAXREQ];
	size_t in_flight_after_send;
	bool close_in_done;
	char msg[512];
	int port;
	cl_opts opts;
	const char *topic;
};

struct req {
	struct box *b;
	int i;
	bool produce;
};

static struct req reqs[MAXREQ];

static void box_init(struct box *b)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	ck_assert_int_eq(cl_io_start("test-wire", &b->io), 0);
}

/* Waits until n dones ran, for at most 20 s. */
static void box_wait(struct box *b, int n)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 20;
	pthread_mutex_lock(&b->mu);
	while (b->ndone < n) {
		if (pthread_cond_timedwait(&b->cv, &b->mu, &dl) == ETIMEDOUT)
			break;
	}
	int got = b->ndone;
	pthread_mutex_unlock(&b->mu);
	ck_assert_int_ge(got, n);
}

static void box_note(struct box *b, int i, int err, int nbrokers, bool body_null)
{
	pthread_mutex_lock(&b->mu);
	if (b->ndone < MAXREQ) {
		b->order[b->ndone] = i;
		b->err[b->ndone] = err;
		b->nbrokers[b->ndone] = nbrokers;
		b->body_null[b->ndone] = body_null;
	}
	b->ndone++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static int encode_metadata(void *arg, int16_t version, kp_buf *body)
{
	(void)arg;
	kp_MetadataRequest q;
	kp_MetadataRequest_init(&q);
	q.Topics.count = -1;
	q.AllowAutoTopicCreation = false;
	return kp_MetadataRequest_encode(body, version, &q);
}

static int encode_produce0(void *arg, int16_t version, kp_buf *body)
{
	(void)arg;
	kp_batch_builder bb;
	kp_buf batch;
	kp_buf_init(&batch);
	kp_batch_builder_init(&bb, KP_CODEC_NONE, 0);
	kp_batch_builder_add(&bb, 1000, "k", 1, "v", 1, NULL, 0);
	kp_batch_builder_finish(&bb, &batch);
	kp_batch_builder_free(&bb);
	kp_ProduceRequest q;
	kp_ProduceRequest_TopicProduceData t;
	kp_ProduceRequest_PartitionProduceData p;
	kp_ProduceRequest_init(&q);
	kp_ProduceRequest_TopicProduceData_init(&t);
	kp_ProduceRequest_PartitionProduceData_init(&p);
	p.Index = 0;
	p.Records = (kp_records){ batch.data, (int32_t)batch.len, false };
	t.Name = KP_STR_LIT("acks0");
	t.PartitionData.count = 1;
	t.PartitionData.items = &p;
	q.Acks = 0;
	q.TimeoutMs = 1000;
	q.TopicData.count = 1;
	q.TopicData.items = &t;
	int rc = kp_ProduceRequest_encode(body, version, &q);
	kp_buf_free(&batch);
	return rc;
}

static void on_done(void *arg, int err, int16_t version, kp_reader *body)
{
	struct req *r = arg;
	int nb = -1;
	if (err == 0 && body && !r->produce) {
		kp_arena a;
		kp_MetadataResponse m;
		kp_arena_init(&a, 0);
		if (kp_MetadataResponse_decode(body, version, &a, &m) == 0)
			nb = m.Brokers.count;
		kp_arena_free(&a);
	}
	if (err < 0 && r->b->msg[0] == '\0' && r->b->wire)
		snprintf(r->b->msg, sizeof r->b->msg, "%s", cl_wire_errmsg(r->b->wire));
	box_note(r->b, r->i, err, nb, body == NULL);
	if (r->b->close_in_done && r->i == 0) {
		cl_wire *w = r->b->wire;
		r->b->wire = NULL;
		cl_wire_close(w);   /* the others' dones run inside this */
	}
}

/* On the io thread: opens a wire to b->port and sends n Metadata
 * requests (plus one acks=0 Produce first when b->topic is "acks0"). */
static int nsend;
static void io_open_and_send(void *arg)
{
	struct box *b = arg;
	ck_assert_int_eq(cl_wire_open(b->io, "127.0.0.1", b->port, &b->opts, &b->wire), 0);
	for (int i = 0; i < nsend; i++) {
		reqs[i] = (struct req){ b, i, b->topic && i == 0 };
		int rc = cl_wire_send(b->wire, reqs[i].produce ? KP_API_PRODUCE : KP_API_METADATA,
				      !reqs[i].produce,
				      reqs[i].produce ? encode_produce0 : encode_metadata,
				      on_done, &reqs[i]);
		if (rc < 0) {
			snprintf(b->msg, sizeof b->msg, "%s", cl_wire_errmsg(b->wire));
			box_note(b, i, rc, -1, true);
		}
	}
	b->in_flight_after_send = cl_wire_in_flight(b->wire);
	if (b->close_in_done == false && b->topic && strcmp(b->topic, "close-now") == 0) {
		cl_wire_close(b->wire);
		b->wire = NULL;
	}
}

static void io_close(void *arg)
{
	struct box *b = arg;
	cl_wire_close(b->wire);
	b->wire = NULL;
}

static void box_done(struct box *b)
{
	cl_io_call(b->io, io_close, b);
	cl_io_stop(b->io);
}

/* --------------------------------------------------------------- wire */

START_TEST(wire_handshakes_and_answers_metadata)
{
	struct box b;
	box_init(&b);
	b.port = broker->port;
	nsend = 1;
	cl_io_call(b.io, io_open_and_send, &b);
	box_wait(&b, 1);
	ck_assert_msg(b.err[0] == 0, "error %s: %s", cl_strerror(b.err[0]), b.msg);
	ck_assert_int_eq(b.nbrokers[0], 1);
	box_done(&b);
}
END_TEST

START_TEST(wire_pipelines_requests_and_answers_in_order)
{
	struct box b;
	box_init(&b);
	b.port = broker->port;
	nsend = 200;
	cl_io_call(b.io, io_open_and_send, &b);
	box_wait(&b, 200);
	ck_assert_int_eq(b.in_flight_after_send, 200);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(b.order[i], i);
		ck_assert_int_eq(b.err[i], 0);
		ck_assert_int_eq(b.nbrokers[i], 1);
	}
	box_done(&b);
}
END_TEST

START_TEST(wire_acks0_request_is_done_once_written)
{
	struct box b;
	box_init(&b);
	b.port = broker->port;
	b.topic = "acks0";
	nsend = 3;      /* an acks=0 Produce, then two Metadata */
	cl_io_call(b.io, io_open_and_send, &b);
	box_wait(&b, 3);
	ck_assert_int_eq(b.order[0], 0);
	ck_assert_int_eq(b.err[0], 0);
	ck_assert(b.body_null[0]);
	/* the stream stays in step: the Metadata answers still match */
	ck_assert_int_eq(b.err[1], 0);
	ck_assert_int_eq(b.err[2], 0);
	ck_assert_int_eq(b.nbrokers[2], 1);
	box_done(&b);
}
END_TEST

START_TEST(wire_refused_connect_fails_every_request_with_a_sentence)
{
	struct box b;
	box_init(&b);
	b.port = broker_proc_closed_port();
	nsend = 3;
	cl_io_call(b.io, io_open_and_send, &b);
	box_wait(&b, 3);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", b.port);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(b.err[i] == -ECONNREFUSED || b.err[i] == CL_ERR_BROKEN,
			      "err %d", b.err[i]);
	ck_assert_msg(strstr(b.msg, addr) && strstr(b.msg, "refused"), "message: %s", b.msg);
	box_done(&b);
}
END_TEST

START_TEST(wire_silent_peer_times_out)
{
	/* A listener that never accepts: the kernel completes the connect,
	 * nobody ever answers ApiVersions. */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&a, &l);
	struct box b;
	box_init(&b);
	b.port = ntohs(a.sin_port);
	b.opts.connect_timeout_ms = 300;
	nsend = 2;
	cl_io_call(b.io, io_open_and_send, &b);
	box_wait(&b, 2);
	ck_assert_int_eq(b.err[0], CL_ERR_TIMEOUT);
	ck_assert_int_eq(b.err[1], CL_ERR_TIMEOUT);
	ck_assert_msg(strstr(b.msg, "no answer within 300 ms"), "message: %s", b.msg);
	box_done(&b);
	close(lfd);
}
END_TEST

START_TEST(wire_close_fails_pending_requests_with_closed)
{
	struct box b;
	box_init(&b);
	b.port = broker->port;
	b.topic = "close-now";
	nsend = 5;
	cl_io_call(b.io, io_open_and_send, &b);
	box_wait(&b, 5);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(b.order[i], i);
		ck_assert_int_eq(b.err[i], CL_ERR_CLOSED);
	}
	box_done(&b);
}
END_TEST

START_TEST(wire_done_may_close_its_own_wire)
{
	struct box b;
	box_init(&b);
	b.port = broker->port;
	b.close_in_done = true;
	nsend = 4;
	cl_io_call(b.io, io_open_and_send, &b);
	box_wait(&b, 4);
	ck_assert_int_eq(b.order[0], 0);
	ck_assert_int_eq(b.err[0], 0);
	/* the others were answered already or failed by the close */
	for (int i = 1; i < 4; i++)
		ck_assert(b.err[i] == 0 || b.err[i] == CL_ERR_CLOSED);
	box_done(&b);
}
END_TEST

/* ------------------------------------------------------------ cluster */

struct cbox {
	struct box b;
	const char *topics[4];
	size_t n;
	int asks;
	bool auto_create;
	const char *bootstrap;
	/* results, read on the io thread after the refresh */
	int count;
	int32_t leader;
	bool wire_ok;
	char errmsg[768];
};

static void on_refreshed(void *arg, int err)
{
	struct cbox *c = arg;
	if (c->n > 0) {
		c->count = cl_cluster_partition_count(c->b.cl, c->topics[0]);
		c->leader = cl_cluster_leader(c->b.cl, c->topics[0], 0);
		c->wire_ok = c->leader >= 0 && cl_cluster_wire(c->b.cl, c->leader) != NULL;
	}
	snprintf(c->errmsg, sizeof c->errmsg, "%s", cl_cluster_errmsg(c->b.cl));
	box_note(&c->b, 0, err, 0, false);
}

static void io_refresh(void *arg)
{
	struct cbox *c = arg;
	char err[256];
	ck_assert_int_eq(cl_cluster_new(c->b.io, c->bootstrap, NULL, &c->b.cl, err, sizeof err), 0);
	cl_cluster_set_auto_create(c->b.cl, c->auto_create);
	for (int i = 0; i < c->asks; i++)
		ck_assert_int_eq(cl_cluster_refresh(c->b.cl, c->topics, c->n, on_refreshed, c), 0);
}

static void io_cluster_free(void *arg)
{
	struct cbox *c = arg;
	cl_cluster_free(c->b.cl);
}

static void cbox_run(struct cbox *c)
{
	box_init(&c->b);
	if (c->asks == 0)
		c->asks = 1;
	cl_io_call(c->b.io, io_refresh, c);
	box_wait(&c->b, c->asks);
	cl_io_call(c->b.io, io_cluster_free, c);
	cl_io_stop(c->b.io);
}

START_TEST(cluster_refresh_learns_partitions_and_leaders)
{
	struct cbox c = { .topics = { "cl-auto" }, .n = 1, .auto_create = true,
			  .bootstrap = broker->bootstrap };
	cbox_run(&c);
	ck_assert_msg(c.b.err[0] == 0, "%s: %s", cl_strerror(c.b.err[0]), c.errmsg);
	ck_assert_int_eq(c.count, 3);
	ck_assert_int_eq(c.leader, 0);
	ck_assert(c.wire_ok);
}
END_TEST

START_TEST(cluster_unknown_topic_is_a_kafka_error_without_auto_create)
{
	struct cbox c = { .topics = { "cl-missing" }, .n = 1, .auto_create = false,
			  .bootstrap = broker->bootstrap };
	cbox_run(&c);
	ck_assert_int_eq(c.b.err[0], 0);
	ck_assert_int_eq(c.count, cl_err_kafka(3));   /* UNKNOWN_TOPIC_OR_PARTITION */
	ck_assert_int_eq(c.leader, -1);
}
END_TEST

START_TEST(cluster_asks_in_a_burst_all_get_answers)
{
	struct cbox c = { .topics = { "cl-burst" }, .n = 1, .auto_create = true,
			  .asks = 20, .bootstrap = broker->bootstrap };
	cbox_run(&c);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(c.b.err[i], 0);
	ck_assert_int_eq(c.count, 3);
}
END_TEST

START_TEST(cluster_without_a_broker_says_so)
{
	char bs[64];
	int port = broker_proc_closed_port();
	snprintf(bs, sizeof bs, "127.0.0.1:%d", port);
	struct cbox c = { .topics = { "x" }, .n = 1, .bootstrap = bs };
	cbox_run(&c);
	ck_assert_int_eq(c.b.err[0], CL_ERR_NO_BROKER);
	ck_assert_msg(strstr(c.errmsg, bs) && strstr(c.errmsg, "is the broker running"),
		      "message: %s", c.errmsg);
}
END_TEST

START_TEST(cluster_bad_bootstrap_is_refused_with_a_sentence)
{
	cl_io *io;
	cl_cluster *cl = NULL;
	char err[256] = "";
	ck_assert_int_eq(cl_io_start("t", &io), 0);
	ck_assert_int_eq(cl_cluster_new(io, "host:notaport", NULL, &cl, err, sizeof err),
			 CL_ERR_BOOTSTRAP);
	ck_assert_ptr_null(cl);
	ck_assert_msg(strstr(err, "bad port"), "%s", err);
	cl_io_stop(io);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("client_wire");
	TCase *t = tcase_create("wire");
	tcase_add_unchecked_fixture(t, broker_proc_fixture_up, broker_proc_fixture_down);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, wire_handshakes_and_answers_metadata);
	tcase_add_test(t, wire_pipelines_requests_and_answers_in_order);
	tcase_add_test(t, wire_acks0_request_is_done_once_written);
	tcase_add_test(t, wire_refused_connect_fails_every_request_with_a_sentence);
	tcase_add_test(t, wire_silent_peer_times_out);
	tcase_add_test(t, wire_close_fails_pending_requests_with_closed);
	tcase_add_test(t, wire_done_may_close_its_own_wire);
	tcase_add_test(t, cluster_refresh_learns_partitions_and_leaders);
	tcase_add_test(t, cluster_unknown_topic_is_a_kafka_error_without_auto_create);
	tcase_add_test(t, cluster_asks_in_a_burst_all_get_answers);
	tcase_add_test(t, cluster_without_a_broker_says_so);
	tcase_add_test(t, cluster_bad_bootstrap_is_refused_with_a_sentence);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	broker_proc_shared.sets[0] = "num.partitions=3";
	SRunner *sr = srunner_create(wire_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
