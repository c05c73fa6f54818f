/*
 * test_producer.c -- the asynchronous producer against a real
 * rewind-broker on loopback (broker_proc.c): keyed records land where
 * murmur2 says, records without a key stick to one partition per batch and
 * the next batch moves (KIP-480), explicit partitions are honoured, offsets
 * come back in order, and the errors: a partition past the count, an
 * unknown topic the client may not create, no broker, a full buffer, a
 * broker that went away (delivery.timeout.ms). Batches are also read back
 * from the broker's segment file: sizes, codec, producer id, sequences.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker_proc.h"
#include "client/client.h"

/* The program's broker (broker_proc.c), num.partitions=3. */
static struct broker_proc *const broker = &broker_proc_shared;

#define MAXREC 20000

struct reports {
	int n;
	int32_t partition[MAXREC];
	int64_t offset[MAXREC];
	int err[MAXREC];
	intptr_t id[MAXREC];
};

static void on_delivery(void *app, const cl_delivery *d)
{
	struct reports *r = app;
	if (r->n < MAXREC) {
		r->partition[r->n] = d->partition;
		r->offset[r->n] = d->offset;
		r->err[r->n] = d->err;
		r->id[r->n] = (intptr_t)d->opaque;
	}
	r->n++;
}

static cl_producer *producer(struct reports *r, cl_producer_conf *c, const char *bootstrap)
{
	cl_producer *p;
	char err[256];
	c->bootstrap = bootstrap;
	c->on_delivery = on_delivery;
	c->app = r;
	ck_assert_msg(cl_producer_new(c, &p, err, sizeof err) == 0, "%s", err);
	return p;
}

static int send_kv(cl_producer *p, const char *topic, int32_t part, const char *key,
		   const char *value, intptr_t id)
{
	cl_record rec = { .topic = topic, .partition = part, .key = key,
			  .key_len = key ? (int32_t)strlen(key) : -1, .value = value,
			  .value_len = value ? (int32_t)strlen(value) : -1,
			  .opaque = (void *)id };
	return cl_producer_send(p, &rec);
}

START_TEST(keyed_records_land_in_their_murmur2_partition_in_order)
{
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	cl_producer *p = producer(r, &c, broker->bootstrap);
	char key[32];
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "key-%d", i);
		ck_assert_int_eq(send_kv(p, "keyed", CL_PARTITION_ANY, key, "v", i), 0);
	}
	ck_assert_int_eq(cl_producer_flush(p, 20000), 0);
	ck_assert_int_eq(r->n, 300);
	int64_t next[3] = { 0, 0, 0 };
	/* reports per partition come in send order, offsets consecutive */
	int64_t seen_by_id[300];
	for (int i = 0; i < r->n; i++) {
		ck_assert_int_eq(r->err[i], 0);
		snprintf(key, sizeof key, "key-%d", (int)r->id[i]);
		ck_assert_int_eq(r->partition[i], cl_partition_for_key(key, strlen(key), 3));
		seen_by_id[r->id[i]] = r->offset[i];
	}
	for (int id = 0; id < 300; id++) {
		snprintf(key, sizeof key, "key-%d", id);
		int32_t part = cl_partition_for_key(key, strlen(key), 3);
		ck_assert_int_eq(seen_by_id[id], next[part]);
		next[part]++;
	}
	ck_assert_int_eq(cl_producer_close(p, 5000), 0);
	free(r);
}
END_TEST

START_TEST(null_key_records_stick_to_one_partition_per_batch)
{
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	c.linger_ms = 60000;      /* only flush closes the batch */
	cl_producer *p = producer(r, &c, broker->bootstrap);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(send_kv(p, "sticky", CL_PARTITION_ANY, NULL, "v", i), 0);
	ck_assert_int_eq(cl_producer_flush(p, 20000), 0);
	for (int i = 50; i < 100; i++)
		ck_assert_int_eq(send_kv(p, "sticky", CL_PARTITION_ANY, NULL, "v", i), 0);
	ck_assert_int_eq(cl_producer_flush(p, 20000), 0);
	ck_assert_int_eq(r->n, 100);
	for (int i = 1; i < 50; i++)
		ck_assert_int_eq(r->partition[i], r->partition[0]);
	for (int i = 51; i < 100; i++)
		ck_assert_int_eq(r->partition[i], r->partition[50]);
	/* a new batch goes elsewhere when there is a choice */
	ck_assert_int_ne(r->partition[0], r->partition[50]);
	cl_producer_close(p, 5000);
	free(r);
}
END_TEST

START_TEST(small_batches_still_deliver_every_record_in_order)
{
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	c.batch_size = 500;       /* a few records per batch: many requests */
	c.linger_ms = 0;
	cl_producer *p = producer(r, &c, broker->bootstrap);
	char v[100];
	memset(v, 'x', sizeof v - 1);
	v[sizeof v - 1] = '\0';
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(send_kv(p, "small", 1, NULL, v, i), 0);
	ck_assert_int_eq(cl_producer_flush(p, 30000), 0);
	ck_assert_int_eq(r->n, 5000);
	for (int i = 0; i < 5000; i++) {
		ck_assert_int_eq(r->err[i], 0);
		ck_assert_int_eq(r->partition[i], 1);
		ck_assert_int_eq(r->id[i], i);
		ck_assert_int_eq(r->offset[i], i);
	}
	cl_producer_close(p, 5000);
	free(r);
}
END_TEST

START_TEST(a_partition_past_the_count_is_unknown)
{
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	cl_producer *p = producer(r, &c, broker->bootstrap);
	ck_assert_int_eq(send_kv(p, "past", 3, NULL, "v", 0), cl_err_kafka(3));
	char msg[256];
	ck_assert_msg(strstr(cl_producer_errmsg(p, msg, sizeof msg), "no partition 3"), "%s", msg);
	ck_assert_int_eq(send_kv(p, "past", 2, NULL, "v", 0), 0);
	ck_assert_int_eq(cl_producer_close(p, 10000), 0);
	ck_assert_int_eq(r->n, 1);
	free(r);
}
END_TEST

START_TEST(an_unknown_topic_is_refused_when_the_client_may_not_create_it)
{
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	c.allow_auto_create = false;
	cl_producer *p = producer(r, &c, broker->bootstrap);
	ck_assert_int_eq(send_kv(p, "never-created", CL_PARTITION_ANY, NULL, "v", 0), cl_err_kafka(3));
	char msg[256];
	cl_producer_errmsg(p, msg, sizeof msg);
	ck_assert_msg(strstr(msg, "never-created") && strstr(msg, "UNKNOWN_TOPIC_OR_PARTITION"), "%s", msg);
	ck_assert_int_eq(cl_producer_close(p, 1000), 0);
	ck_assert_int_eq(r->n, 0);
	free(r);
}
END_TEST

START_TEST(no_broker_is_an_error_within_max_block_ms)
{
	struct reports *r = calloc(1, sizeof *r);
	char bs[64];
	snprintf(bs, sizeof bs, "127.0.0.1:%d", broker_proc_closed_port());
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	c.max_block_ms = 700;
	cl_producer *p = producer(r, &c, bs);
	int rc = send_kv(p, "t", CL_PARTITION_ANY, NULL, "v", 0);
	ck_assert_msg(rc == CL_ERR_NO_BROKER, "got %s", cl_err_name(rc));
	char msg[512];
	cl_producer_errmsg(p, msg, sizeof msg);
	ck_assert_msg(strstr(msg, bs) && strstr(msg, "refused"), "%s", msg);
	ck_assert_int_eq(cl_producer_close(p, 1000), 0);
	free(r);
}
END_TEST

START_TEST(a_full_buffer_is_queue_full_until_reports_are_polled)
{
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	c.buffer_memory = 10000;
	c.linger_ms = 60000;
	cl_producer *p = producer(r, &c, broker->bootstrap);
	char v[1001];
	memset(v, 'q', 1000);
	v[1000] = '\0';
	int ok = 0, rc;
	while ((rc = send_kv(p, "full", 0, NULL, v, ok)) == 0)
		ok++;
	ck_assert_int_eq(rc, CL_ERR_QUEUE_FULL);
	ck_assert_int_ge(ok, 5);
	ck_assert_int_le(ok, 10);
	ck_assert_int_eq(cl_producer_flush(p, 20000), 0);   /* frees the buffer */
	ck_assert_int_eq(r->n, ok);
	ck_assert_int_eq(send_kv(p, "full", 0, NULL, v, ok), 0);
	ck_assert_int_eq(cl_producer_close(p, 20000), 0);
	free(r);
}
END_TEST

START_TEST(bad_settings_are_refused_with_a_sentence)
{
	cl_producer_conf c;
	cl_producer *p = NULL;
	char err[256];
	cl_producer_conf_init(&c);
	c.acks = 1;   /* idempotence needs acks=all */
	ck_assert_int_eq(cl_producer_new(&c, &p, err, sizeof err), CL_ERR_ARG);
	ck_assert_msg(strstr(err, "idempotence"), "%s", err);
	cl_producer_conf_init(&c);
	c.bootstrap = "host:99999";
	ck_assert_int_eq(cl_producer_new(&c, &p, err, sizeof err), CL_ERR_BOOTSTRAP);
	ck_assert_msg(strstr(err, "bad port"), "%s", err);
	ck_assert_ptr_null(p);
}
END_TEST

/* Its own broker: stopped in the middle. */
START_TEST(records_for_a_stopped_broker_time_out_with_msg_timed_out)
{
	struct broker_proc b;
	ck_assert_int_eq(broker_proc_init(&b), 0);
	ck_assert_int_eq(broker_proc_start(&b), 0);
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	c.delivery_timeout_ms = 1500;
	c.request_timeout_ms = 1000;
	cl_producer *p = producer(r, &c, b.bootstrap);
	ck_assert_int_eq(send_kv(p, "gone", 0, NULL, "before", 0), 0);
	ck_assert_int_eq(cl_producer_flush(p, 10000), 0);
	ck_assert_int_eq(r->err[0], 0);
	broker_proc_stop(&b, true);
	ck_assert_int_eq(send_kv(p, "gone", 0, NULL, "after", 1), 0);
	ck_assert_int_eq(cl_producer_flush(p, 20000), 0);
	ck_assert_int_eq(r->n, 2);
	ck_assert_msg(r->err[1] == CL_ERR_MSG_TIMED_OUT, "got %s", cl_err_name(r->err[1]));
	ck_assert_int_eq(r->offset[1], -1);
	ck_assert_int_eq(cl_producer_close(p, 1000), 0);
	broker_proc_cleanup(&b);
	free(r);
}
END_TEST

/* The batches as the broker stored them, read from the segment file. */
struct on_disk {
	int n;
	int32_t count[64];
	int32_t base_seq[64];
	int64_t pid[64];
	int codec[64];
};

static void read_batches(const char *topic, int32_t part, struct on_disk *d)
{
	char path[512];
	snprintf(path, sizeof path, "%s/data/%s-%d/%020d.log", broker->dir, topic, part, 0);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "no segment %s", path);
	static uint8_t buf[1 << 22];
	size_t len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	memset(d, 0, sizeof *d);
	for (size_t pos = 0; pos < len && d->n < 64;) {
		kp_batch_header h;
		ck_assert_int_eq(kp_batch_validate(buf + pos, len - pos, &h), 0);
		d->count[d->n] = h.records_count;
		d->base_seq[d->n] = h.base_sequence;
		d->pid[d->n] = h.producer_id;
		d->codec[d->n] = kp_batch_codec(&h);
		d->n++;
		pos += kp_batch_size(&h);
	}
}

START_TEST(linger_gathers_records_and_batch_size_closes_batches)
{
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	c.linger_ms = 60000;       /* nothing leaves before a batch is full or flushed */
	c.batch_size = 2000;
	c.codec = KP_CODEC_LZ4;
	cl_producer *p = producer(r, &c, broker->bootstrap);
	char v[101];
	memset(v, 'b', 100);
	v[100] = '\0';
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(send_kv(p, "batching", 2, NULL, v, i), 0);
	ck_assert_int_eq(cl_producer_flush(p, 20000), 0);
	ck_assert_int_eq(r->n, 100);
	ck_assert_int_eq(cl_producer_close(p, 5000), 0);

	struct on_disk d;
	read_batches("batching", 2, &d);
	/* ~2000 bytes of ~110-byte records per batch: full batches of the
	 * same size, the last one what flush found */
	ck_assert_int_ge(d.n, 5);
	int32_t total = 0, seq = 0;
	for (int i = 0; i < d.n; i++) {
		ck_assert_int_le(d.count[i], 2000 / 100);
		if (i + 1 < d.n)
			ck_assert_int_eq(d.count[i], d.count[0]);
		/* idempotent: one producer id, sequences back to back */
		ck_assert_int_ge(d.pid[i], 0);
		ck_assert_int_eq(d.pid[i], d.pid[0]);
		ck_assert_int_eq(d.base_seq[i], seq);
		ck_assert_int_eq(d.codec[i], KP_CODEC_LZ4);
		seq += d.count[i];
		total += d.count[i];
	}
	ck_assert_int_eq(total, 100);
	free(r);
}
END_TEST

START_TEST(without_idempotence_batches_carry_no_producer_id)
{
	struct reports *r = calloc(1, sizeof *r);
	cl_producer_conf c;
	cl_producer_conf_init(&c);
	c.idempotence = false;
	c.acks = 1;
	c.linger_ms = 60000;
	cl_producer *p = producer(r, &c, broker->bootstrap);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(send_kv(p, "plain", 0, "k", "v", i), 0);
	ck_assert_int_eq(cl_producer_close(p, 20000), 0);   /* close flushes */
	ck_assert_int_eq(r->n, 10);
	struct on_disk d;
	read_batches("plain", 0, &d);
	ck_assert_int_eq(d.n, 1);
	ck_assert_int_eq(d.count[0], 10);
	ck_assert_int_eq(d.pid[0], -1);
	ck_assert_int_eq(d.base_seq[0], -1);
	free(r);
}
END_TEST

static Suite *producer_suite(void)
{
	Suite *s = suite_create("client_producer");
	TCase *t = tcase_create("producer");
	tcase_add_unchecked_fixture(t, broker_proc_fixture_up, broker_proc_fixture_down);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, keyed_records_land_in_their_murmur2_partition_in_order);
	tcase_add_test(t, null_key_records_stick_to_one_partition_per_batch);
	tcase_add_test(t, small_batches_still_deliver_every_record_in_order);
	tcase_add_test(t, linger_gathers_records_and_batch_size_closes_batches);
	tcase_add_test(t, without_idempotence_batches_carry_no_producer_id);
	tcase_add_test(t, a_partition_past_the_count_is_unknown);
	tcase_add_test(t, an_unknown_topic_is_refused_when_the_client_may_not_create_it);
	tcase_add_test(t, no_broker_is_an_error_within_max_block_ms);
	tcase_add_test(t, a_full_buffer_is_queue_full_until_reports_are_polled);
	tcase_add_test(t, bad_settings_are_refused_with_a_sentence);
	suite_add_tcase(s, t);
	TCase *t2 = tcase_create("broker_goes_away");
	tcase_set_timeout(t2, 60);
	tcase_add_test(t2, records_for_a_stopped_broker_time_out_with_msg_timed_out);
	suite_add_tcase(s, t2);
	return s;
}

int main(void)
{
	broker_proc_shared.sets[0] = "num.partitions=3";
	SRunner *sr = srunner_create(producer_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
