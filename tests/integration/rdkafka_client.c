/*
 * rdkafka_client.c -- librdkafka against a running rewind broker.
 *
 *   rdkafka_client BOOTSTRAP TOPIC
 *
 * Exercises what a C application on librdkafka does, checking every answer:
 *   1. admin: rd_kafka_CreateTopics (3 partitions, compression.type=lz4);
 *      creating it again is TOPIC_ALREADY_EXISTS;
 *   2. an acks=all producer (zstd) with delivery reports: N records per
 *      partition with keys, two headers and explicit CreateTime timestamps;
 *      every report must be a success with the next offset of its partition;
 *   3. rd_kafka_query_watermark_offsets and rd_kafka_offsets_for_times
 *      (ListOffsets by time) against what was produced;
 *   4. a consumer by rd_kafka_assign at an offset, then rd_kafka_seek back to
 *      the beginning: every record's key, value, headers, timestamp and
 *      offset compared with what was produced;
 *   5. long poll: a consumer parked at the end (fetch.wait.max.ms 10 s)
 *      gets a newly produced record within 3 s: the append woke its fetch;
 *   6. rd_kafka_DeleteRecords raises a partition's low watermark;
 *   7. rd_kafka_DeleteTopics removes the topic.
 * Exits 0 when all holds; prints the first mismatch and exits 1 otherwise.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define N_PARTS 3
#define N_PER_PART 200
#define TS_BASE 1700000000000LL      /* record i of a partition: TS_BASE + i * 10 */

static const char *g_bootstrap, *g_topic;
static int g_delivered[N_PARTS];
static int g_dr_errors;
static int64_t g_next_offset[N_PARTS];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "rdkafka_client: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static rd_kafka_conf_t *conf_new(void)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[256];

	if (rd_kafka_conf_set(c, "bootstrap.servers", g_bootstrap, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die("conf: %s", err);
	return c;
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die("conf %s=%s: %s", k, v, err);
}

/* --------------------------------------------------------------- admin */

static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type)
{
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);

	if (!ev)
		die("admin: no result in 20 s");
	if (rd_kafka_event_type(ev) != type)
		die("admin: unexpected event %s", rd_kafka_event_name(ev));
	if (rd_kafka_event_error(ev))
		die("admin: %s", rd_kafka_event_error_string(ev));
	return ev;
}

static rd_kafka_resp_err_t create_topic(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
	char err[256];
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(g_topic, N_PARTS, 1, err, sizeof(err));
	rd_kafka_event_t *ev;
	const rd_kafka_topic_result_t **res;
	size_t n;
	rd_kafka_resp_err_t e;

	if (!nt)
		die("NewTopic: %s", err);
	if (rd_kafka_NewTopic_set_config(nt, "compression.type", "lz4"))
		die("NewTopic_set_config");
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
	res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	if (n != 1)
		die("CreateTopics: %zu results", n);
	e = rd_kafka_topic_result_error(res[0]);
	rd_kafka_event_destroy(ev);
	rd_kafka_NewTopic_destroy(nt);
	return e;
}

static void delete_topic(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
	rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(g_topic);
	rd_kafka_event_t *ev;
	const rd_kafka_topic_result_t **res;
	size_t n;

	rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
	ev = admin_wait(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
	res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
	if (n != 1 || rd_kafka_topic_result_error(res[0]))
		die("DeleteTopics: %s", n ? rd_kafka_err2str(rd_kafka_topic_result_error(res[0])) : "none");
	rd_kafka_event_destroy(ev);
	rd_kafka_DeleteTopic_destroy(dt);
}

static void delete_records(rd_kafka_t *rk, rd_kafka_queue_t *q, int32_t part, int64_t before)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_DeleteRecords_t *dr;
	rd_kafka_event_t *ev;
	const rd_kafka_topic_partition_list_t *out;

	rd_kafka_topic_partition_list_add(l, g_topic, part)->offset = before;
	dr = rd_kafka_DeleteRecords_new(l);
	rd_kafka_DeleteRecords(rk, &dr, 1, NULL, q);
	ev = admin_wait(q, RD_KAFKA_EVENT_DELETERECORDS_RESULT);
	out = rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
	if (!out || out->cnt != 1 || out->elems[0].err)
		die("DeleteRecords: %s", out && out->cnt ? rd_kafka_err2str(out->elems[0].err) : "no result");
	if (out->elems[0].offset != before)
		die("DeleteRecords: low watermark %" PRId64 ", expected %" PRId64, out->elems[0].offset, before);
	rd_kafka_event_destroy(ev);
	rd_kafka_DeleteRecords_destroy(dr);
	rd_kafka_topic_partition_list_destroy(l);
}

/* ------------------------------------------------------------ producer */

static void record_text(char *key, size_t kl, char *val, size_t vl, int32_t part, int i)
{
	snprintf(key, kl, "key-%d-%d", part, i);
	/* Values of varied length, some long enough to compress well. */
	snprintf(val, vl, "value %d/%d %.*s", part, i, (i * 37) % 300,
		 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
		 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
		 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
		 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
		 "abcdefghijklmnopqrstuvwxyz0123456789");
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	int i = (int)(intptr_t)m->_private;

	(void)rk;
	(void)opaque;
	if (m->err) {
		fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
		g_dr_errors++;
		return;
	}
	/* One partition's records go in order: offsets are 0, 1, 2, ... */
	if (m->partition < 0 || m->partition >= N_PARTS || m->offset != i)
		die("delivery report: partition %d offset %" PRId64 " for record %d", m->partition,
		    m->offset, i);
	g_delivered[m->partition]++;
	if (m->offset + 1 > g_next_offset[m->partition])
		g_next_offset[m->partition] = m->offset + 1;
}

static void produce_all(void)
{
	rd_kafka_conf_t *c = conf_new();
	rd_kafka_t *rk;
	char err[256];

	conf_set(c, "acks", "all");
	conf_set(c, "compression.codec", "zstd");
	conf_set(c, "linger.ms", "5");
	conf_set(c, "batch.num.messages", "50");
	/* One in flight keeps each partition's offsets in produce order. */
	conf_set(c, "max.in.flight.requests.per.connection", "1");
	rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!rk)
		die("producer: %s", err);
	for (int i = 0; i < N_PER_PART; i++)
		for (int32_t p = 0; p < N_PARTS; p++) {
			char key[64], val[512], hv[64];
			rd_kafka_resp_err_t e;

			record_text(key, sizeof(key), val, sizeof(val), p, i);
			snprintf(hv, sizeof(hv), "hdr-%d", i);
			e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(g_topic), RD_KAFKA_V_PARTITION(p),
					      RD_KAFKA_V_KEY(key, strlen(key)),
					      RD_KAFKA_V_VALUE(val, strlen(val)),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_TIMESTAMP(TS_BASE + i * 10),
					      RD_KAFKA_V_HEADER("h1", hv, -1),
					      RD_KAFKA_V_HEADER("h2", NULL, 0),
					      RD_KAFKA_V_OPAQUE((void *)(intptr_t)i),
					      RD_KAFKA_V_END);
			if (e)
				die("producev: %s", rd_kafka_err2str(e));
			rd_kafka_poll(rk, 0);
		}
	if (rd_kafka_flush(rk, 30000))
		die("flush timed out");
	for (int32_t p = 0; p < N_PARTS; p++)
		if (g_delivered[p] != N_PER_PART)
			die("partition %d: %d of %d delivered (%d errors)", p, g_delivered[p], N_PER_PART,
			    g_dr_errors);
	rd_kafka_destroy(rk);
}

/* ------------------------------------------------------------ consumer */

static void check_offsets(rd_kafka_t *rk)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(N_PARTS);
	rd_kafka_resp_err_t e;

	for (int32_t p = 0; p < N_PARTS; p++) {
		int64_t lo, hi;

		e = rd_kafka_query_watermark_offsets(rk, g_topic, p, &lo, &hi, 10000);
		if (e || lo != 0 || hi != N_PER_PART)
			die("watermarks of %d: %s %" PRId64 "..%" PRId64, p, rd_kafka_err2str(e), lo, hi);
	}
	/* Record 57 has TS_BASE + 570; asking for +565 finds it; after the
	 * last record there is nothing (-1: the end). */
	rd_kafka_topic_partition_list_add(l, g_topic, 0)->offset = TS_BASE + 565;
	rd_kafka_topic_partition_list_add(l, g_topic, 1)->offset = TS_BASE;
	rd_kafka_topic_partition_list_add(l, g_topic, 2)->offset = TS_BASE + N_PER_PART * 10 + 5;
	e = rd_kafka_offsets_for_times(rk, l, 10000);
	if (e)
		die("offsets_for_times: %s", rd_kafka_err2str(e));
	if (l->elems[0].err || l->elems[0].offset != 57)
		die("offsets_for_times p0: %s %" PRId64, rd_kafka_err2str(l->elems[0].err), l->elems[0].offset);
	if (l->elems[1].err || l->elems[1].offset != 0)
		die("offsets_for_times p1: %" PRId64, l->elems[1].offset);
	if (l->elems[2].err || l->elems[2].offset != -1)
		die("offsets_for_times p2 (after the end): %" PRId64, l->elems[2].offset);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Consumes until every partition has given records [from[p], N_PER_PART). */
static void consume_check(rd_kafka_t *rk, const int64_t from[N_PARTS])
{
	int64_t next[N_PARTS];
	int left = 0;
	time_t deadline = time(NULL) + 30;

	for (int32_t p = 0; p < N_PARTS; p++) {
		next[p] = from[p];
		left += N_PER_PART - (int)from[p];
	}
	while (left > 0) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
		char key[64], val[512], hv[64];
		rd_kafka_headers_t *hs;
		const void *v;
		size_t vlen;
		rd_kafka_timestamp_type_t tst;
		int64_t ts;
		int i;

		if (time(NULL) > deadline)
			die("consume: %d records missing after 30 s", left);
		if (!m)
			continue;
		if (m->err) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				rd_kafka_message_destroy(m);
				continue;
			}
			die("consume: %s", rd_kafka_message_errstr(m));
		}
		if (m->partition < 0 || m->partition >= N_PARTS || m->offset != next[m->partition])
			die("consume: partition %d offset %" PRId64 ", expected %" PRId64, m->partition,
			    m->offset, m->partition >= 0 && m->partition < N_PARTS ? next[m->partition] : -1);
		i = (int)m->offset;
		record_text(key, sizeof(key), val, sizeof(val), m->partition, i);
		if (m->key_len != strlen(key) || memcmp(m->key, key, m->key_len) != 0)
			die("record %d/%d: key differs", m->partition, i);
		if (m->len != strlen(val) || memcmp(m->payload, val, m->len) != 0)
			die("record %d/%d: value differs", m->partition, i);
		ts = rd_kafka_message_timestamp(m, &tst);
		if (tst != RD_KAFKA_TIMESTAMP_CREATE_TIME || ts != TS_BASE + i * 10)
			die("record %d/%d: timestamp %" PRId64 " (type %d)", m->partition, i, ts, tst);
		if (rd_kafka_message_headers(m, &hs) || rd_kafka_header_cnt(hs) != 2)
			die("record %d/%d: headers missing", m->partition, i);
		snprintf(hv, sizeof(hv), "hdr-%d", i);
		if (rd_kafka_header_get_last(hs, "h1", &v, &vlen) || vlen != strlen(hv) ||
		    memcmp(v, hv, vlen) != 0)
			die("record %d/%d: header h1 differs", m->partition, i);
		if (rd_kafka_header_get_last(hs, "h2", &v, &vlen) || v != NULL)
			die("record %d/%d: header h2 should be null", m->partition, i);
		next[m->partition]++;
		left--;
		rd_kafka_message_destroy(m);
	}
}

static void consume_all(void)
{
	rd_kafka_conf_t *c = conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(N_PARTS);
	char err[256];
	int64_t from[N_PARTS] = { 150, 150, 150 }, zero[N_PARTS] = { 0, 0, 0 };
	rd_kafka_error_t *e;

	conf_set(c, "group.id", "rdkafka-client-test");
	conf_set(c, "enable.auto.commit", "false");
	conf_set(c, "enable.partition.eof", "true");
	conf_set(c, "fetch.wait.max.ms", "100");
	conf_set(c, "fetch.message.max.bytes", "4096");   /* many fetches */
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	if (!rk)
		die("consumer: %s", err);
	check_offsets(rk);
	for (int32_t p = 0; p < N_PARTS; p++)
		rd_kafka_topic_partition_list_add(l, g_topic, p)->offset = from[p];
	if (rd_kafka_assign(rk, l))
		die("assign");
	consume_check(rk, from);
	/* Seek every partition back to its start. */
	for (int32_t p = 0; p < N_PARTS; p++)
		l->elems[p].offset = 0;
	e = rd_kafka_seek_partitions(rk, l, 10000);
	if (e)
		die("seek: %s", rd_kafka_error_string(e));
	for (int i = 0; i < l->cnt; i++)
		if (l->elems[i].err)
			die("seek %d: %s", i, rd_kafka_err2str(l->elems[i].err));
	consume_check(rk, zero);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Long poll: a consumer waits at the end of partition 0 with a 10 s
 * fetch.wait.max.ms; one record produced then must reach it well before
 * that, because the append wakes the parked fetch.
 */
static void long_poll_check(void)
{
	rd_kafka_conf_t *c = conf_new(), *pc = conf_new();
	rd_kafka_t *rk, *prod;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_message_t *m;
	char err[256];
	int64_t t0, deadline, waited;
	bool eof = false;

	conf_set(c, "group.id", "rdkafka-client-longpoll");
	conf_set(c, "enable.auto.commit", "false");
	conf_set(c, "enable.partition.eof", "true");
	conf_set(c, "fetch.wait.max.ms", "10000");
	conf_set(c, "socket.timeout.ms", "30000");
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	if (!rk)
		die("consumer: %s", err);
	rd_kafka_topic_partition_list_add(l, g_topic, 0)->offset = N_PER_PART;
	if (rd_kafka_assign(rk, l))
		die("assign");
	/* At the end: EOF comes from the first (immediate) fetch; the next
	 * one parks on the broker. */
	deadline = mono_ms() + 20000;
	while (!eof) {
		if (mono_ms() > deadline)
			die("long poll: no EOF at the end of partition 0");
		m = rd_kafka_consumer_poll(rk, 200);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			eof = true;
		else
			die("long poll: unexpected %s at %" PRId64, m->err ? rd_kafka_message_errstr(m) : "record",
			    m->offset);
		rd_kafka_message_destroy(m);
	}
	/* Give the consumer time to send its parked fetch: poll idle. */
	m = rd_kafka_consumer_poll(rk, 500);
	if (m)
		die("long poll: unexpected message while idle");

	conf_set(pc, "acks", "all");
	prod = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
	if (!prod)
		die("producer: %s", err);
	if (rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(g_topic), RD_KAFKA_V_PARTITION(0),
			      RD_KAFKA_V_VALUE("late", 4), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			      RD_KAFKA_V_END))
		die("producev late");
	if (rd_kafka_flush(prod, 10000))
		die("flush late");
	t0 = mono_ms();
	for (;;) {
		m = rd_kafka_consumer_poll(rk, 100);
		waited = mono_ms() - t0;
		if (m && !m->err)
			break;
		if (m)
			rd_kafka_message_destroy(m);
		if (waited > 8000)
			die("long poll: the record did not arrive before the 10 s wait ended");
	}
	if (m->offset != N_PER_PART || m->len != 4 || memcmp(m->payload, "late", 4) != 0)
		die("long poll: got offset %" PRId64, m->offset);
	rd_kafka_message_destroy(m);
	if (waited > 3000)
		die("long poll: record arrived after %" PRId64 " ms; the append did not wake the fetch",
		    waited);
	printf("long poll woken %" PRId64 " ms after the acknowledged produce\n", waited);
	rd_kafka_destroy(prod);
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

int main(int argc, char **argv)
{
	rd_kafka_conf_t *c;
	rd_kafka_t *admin;
	rd_kafka_queue_t *q;
	rd_kafka_resp_err_t e;
	char err[256];

	if (argc != 3) {
		fprintf(stderr, "usage: rdkafka_client BOOTSTRAP TOPIC\n");
		return 2;
	}
	g_bootstrap = argv[1];
	g_topic = argv[2];
	c = conf_new();
	admin = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!admin)
		die("admin client: %s", err);
	q = rd_kafka_queue_new(admin);

	if ((e = create_topic(admin, q)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("CreateTopics: %s", rd_kafka_err2str(e));
	if ((e = create_topic(admin, q)) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
		die("CreateTopics again: %s, expected TOPIC_ALREADY_EXISTS", rd_kafka_err2str(e));
	printf("created %s\n", g_topic);
	produce_all();
	printf("produced %d records, all acknowledged\n", N_PARTS * N_PER_PART);
	consume_all();
	printf("consumed by assign and seek, offsets for times ok\n");
	long_poll_check();
	delete_records(admin, q, 1, 120);
	{
		int64_t lo, hi;

		e = rd_kafka_query_watermark_offsets(admin, g_topic, 1, &lo, &hi, 10000);
		if (e || lo != 120 || hi != N_PER_PART)
			die("after DeleteRecords: %s %" PRId64 "..%" PRId64, rd_kafka_err2str(e), lo, hi);
	}
	printf("delete records ok\n");
	delete_topic(admin, q);
	printf("deleted %s\n", g_topic);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(admin);
	return 0;
}
