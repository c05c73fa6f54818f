/*
 * test_produce_fetch.c -- the data layer's handlers (Produce, Fetch,
 * ListOffsets, DeleteRecords, and for idempotent producers InitProducerId
 * and DescribeProducers) driven with encoded requests.
 *
 * Each test opens real topics (br_topics_open on a temporary log dir, with a
 * real storage store) and feeds requests built with the generated encoders
 * and kp_batch_builder to the handlers, then decodes their responses. The net
 * layer is replaced by a small test reactor defined here: br_reactor_post()
 * queues tasks that the test thread runs while it waits (with a deadline) for
 * a parked request to be done, and br_request_add_slice() keeps the file
 * slices, which the test reads back with pread() to rebuild the wire bytes a
 * sendfile() would have sent. The reactor's event_base is real, so long-poll
 * timers fire as they would in the broker.
 */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/br_int.h"
#include "storage/st_int.h"   /* st__store_inject_fault */

/* ------------------------------------------------------- test reactor */

typedef struct task {
	br_task_fn *fn;
	void *arg;
	struct task *next;
} task;

/* The reactor the requests belong to: only its event_base is used; posted
 * tasks go to the queue below, run by the test thread. */
static br_reactor g_reactor;
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	task *head, **tail;
} g_tasks = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &g_tasks.head };

int br_reactor_post(br_reactor *r, br_task_fn *fn, void *arg)
{
	task *t = malloc(sizeof(*t));

	ck_assert_ptr_eq(r, &g_reactor);
	if (!t)
		return -ENOMEM;
	t->fn = fn;
	t->arg = arg;
	t->next = NULL;
	pthread_mutex_lock(&g_tasks.mu);
	*g_tasks.tail = t;
	g_tasks.tail = &t->next;
	pthread_cond_signal(&g_tasks.cv);
	pthread_mutex_unlock(&g_tasks.mu);
	return 0;
}

struct event_base *br_reactor_base(br_reactor *r)
{
	return r->base;
}

/* Runs queued tasks and due timers once, waiting up to 1 ms for a post. */
static void reactor_turn(void)
{
	task *t;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&g_tasks.mu);
	if (!g_tasks.head)
		pthread_cond_timedwait(&g_tasks.cv, &g_tasks.mu, &ts);
	t = g_tasks.head;
	g_tasks.head = NULL;
	g_tasks.tail = &g_tasks.head;
	pthread_mutex_unlock(&g_tasks.mu);
	while (t) {
		task *next = t->next;

		t->fn(t->arg);
		free(t);
		t = next;
	}
	event_base_loop(g_reactor.base, EVLOOP_NONBLOCK);
}

int br_request_add_slice(br_request *req, st_slice *s)
{
	if (req->n_slices == req->cap_slices) {
		size_t cap = req->cap_slices ? req->cap_slices * 2 : 4;
		st_slice *v = realloc(req->slices, cap * sizeof(*v));

		if (!v) {
			st_slice_release(s);
			return -ENOMEM;
		}
		req->slices = v;
		req->cap_slices = cap;
	}
	req->slices[req->n_slices++] = *s;
	return 0;
}

void br_request_done(br_request *req)
{
	ck_assert(!req->done);
	req->done = true;
}

int br_request_fail(br_request *req, int err, const char *why)
{
	(void)req;
	(void)why;
	return err < 0 ? err : -EINVAL;
}

/* ------------------------------------------------------------ fixture */

static br_broker g_b;
static char g_dir[256];
static int g_conn_token;

static void rmrf(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
}

static void broker_open(void)
{
	char err[256], set[300];

	snprintf(g_dir, sizeof(g_dir), "%s/rewind-data-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
	memset(&g_b, 0, sizeof(g_b));
	br_config_init(&g_b.cfg);
	snprintf(set, sizeof(set), "log.dirs=%s", g_dir);
	ck_assert_int_eq(br_config_set(&g_b.cfg, set, err, sizeof(err)), 0);
	ck_assert_int_eq(st_store_open(NULL, &g_b.store), 0);
	ck_assert_int_eq(br_topics_open(&g_b, &g_b.topics), 0);
	g_reactor.base = event_base_new();
	ck_assert_ptr_nonnull(g_reactor.base);
}

static void broker_close(void)
{
	br_topics_close(g_b.topics);
	st_store_close(g_b.store);
	br_config_free(&g_b.cfg);
	event_base_free(g_reactor.base);
	rmrf(g_dir);
}

static void topic_create(const char *name, int32_t parts, const char *key, const char *value)
{
	char err[256] = "";
	const char *k[1] = { key }, *v[1] = { value };
	int16_t code = br_topics_create(g_b.topics, name, strlen(name), parts, k, v, key ? 1 : 0,
					false, err, sizeof(err));

	ck_assert_msg(code == KE_NONE, "create %s: %d %s", name, code, err);
}

/* A request as the net layer hands it over: body = the encoded bytes. */
typedef struct treq {
	br_request r;
	kp_buf body;          /* the frame: produce rewrites batches in place */
	kp_buf wire;          /* the response as sent, regions filled in */
} treq;

static treq *treq_new(int16_t api_key, int16_t version)
{
	treq *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	t->r.broker = &g_b;
	t->r.reactor = &g_reactor;
	t->r.conn = (br_conn *)&g_conn_token;
	t->r.api_key = api_key;
	t->r.api_version = version;
	snprintf(t->r.peer, sizeof(t->r.peer), "test");
	kp_arena_init(&t->r.arena, 0);
	kp_buf_init(&t->r.resp);
	kp_buf_init(&t->body);
	kp_buf_init(&t->wire);
	return t;
}

static void treq_free(treq *t)
{
	for (size_t i = 0; i < t->r.n_slices; i++)
		st_slice_release(&t->r.slices[i]);
	free(t->r.slices);
	kp_arena_free(&t->r.arena);
	kp_buf_free(&t->r.resp);
	kp_buf_free(&t->body);
	kp_buf_free(&t->wire);
	free(t);
}

/* Runs the handler; waits (5 s at most) for a parked request. Returns the
 * handler's result. */
static int treq_run(treq *t, br_handler_fn *fn)
{
	int rc;
	struct timespec t0, now;

	t->r.body = kp_reader_make(t->body.data, t->body.len);
	rc = fn(&t->r);
	if (rc != BR_PARKED)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!t->r.done) {
		reactor_turn();
		clock_gettime(CLOCK_MONOTONIC, &now);
		ck_assert_msg(now.tv_sec - t0.tv_sec < 5, "parked request never completed");
	}
	return rc;
}

/* Lets posted tasks run (acks=0 cleanup, wake tasks) for a moment. */
static void reactor_settle(int ms)
{
	for (int i = 0; i < ms; i++)
		reactor_turn();
}

/* The response's wire bytes: memory and file regions in order. */
static kp_reader treq_response(treq *t)
{
	const kp_buf *b = &t->r.resp;
	size_t pos = 0;

	ck_assert_int_eq(b->err, 0);
	ck_assert_uint_eq(b->n_ext, t->r.n_slices);
	kp_buf_reset(&t->wire);
	for (size_t i = 0; i < b->n_ext; i++) {
		const st_slice *s = &t->r.slices[i];
		uint8_t *dst;

		kp_buf_put(&t->wire, b->data + pos, b->ext[i].pos - pos);
		pos = b->ext[i].pos;
		ck_assert_uint_eq(b->ext[i].len, s->len);
		dst = kp_buf_reserve(&t->wire, s->len);
		ck_assert_ptr_nonnull(dst);
		ck_assert_int_eq(pread(s->fd, dst, s->len, s->file_pos), (ssize_t)s->len);
		t->wire.len += s->len;
	}
	kp_buf_put(&t->wire, b->data + pos, b->len - pos);
	ck_assert_int_eq(t->wire.err, 0);
	return kp_reader_make(t->wire.data, t->wire.len);
}

/* -------------------------------------------------------------- batches */

/* Appends a batch of n records: keys "k<i>", values "v<i>" (i from first),
 * header "h" = "x<i>", timestamps ts0 + i. */
static void batch_build(kp_buf *out, int codec, int first, int n, int64_t ts0)
{
	kp_batch_builder bb;

	kp_batch_builder_init(&bb, codec, 0);
	for (int i = first; i < first + n; i++) {
		char k[32], v[32], x[32];
		kp_header h;

		snprintf(k, sizeof(k), "k%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		snprintf(x, sizeof(x), "x%d", i);
		h.key = (const uint8_t *)"h";
		h.key_len = 1;
		h.value = (const uint8_t *)x;
		h.value_len = (int32_t)strlen(x);
		ck_assert_int_eq(kp_batch_builder_add(&bb, ts0 + (i - first), k, (int32_t)strlen(k),
						      v, (int32_t)strlen(v), &h, 1), 0);
	}
	ck_assert_int_eq(kp_batch_builder_finish(&bb, out), 0);
	kp_batch_builder_free(&bb);
}

/* What a fetch returned for one partition, checked record by record. */
typedef struct seen {
	int batches;
	int records;
	int64_t first_offset, last_offset;
	int codec;                  /* of the last batch */
	bool log_append_time;
	int64_t timestamps[64];
} seen;

/* Walks a Records blob: every batch valid, records k<n>/v<n>/h=x<n> where n
 * = offset - base + first (the producer's numbering). */
static void records_check(kp_records rec, int first, seen *s)
{
	size_t pos = 0;

	memset(s, 0, sizeof(*s));
	s->first_offset = -1;
	ck_assert_int_ge(rec.len, 0);
	while (pos < (size_t)rec.len) {
		kp_batch_header h;
		kp_record_iter it;
		kp_record r;
		int rc;

		ck_assert_int_eq(kp_batch_validate(rec.p + pos, (size_t)rec.len - pos, &h), 0);
		ck_assert_int_eq(kp_record_iter_init(&it, rec.p + pos, kp_batch_size(&h), 1 << 20), 0);
		s->codec = kp_batch_codec(&h);
		s->log_append_time = (h.attributes & KP_ATTR_LOG_APPEND_TIME) != 0;
		while ((rc = kp_record_iter_next(&it, &r)) == 1) {
			char k[32], v[32], x[32];
			size_t hp = 0;
			kp_header hd;
			int n = (int)r.offset + first;

			if (s->first_offset < 0)
				s->first_offset = r.offset;
			ck_assert_int_eq(r.offset, s->first_offset + s->records);
			s->last_offset = r.offset;
			if (s->records < 64)
				s->timestamps[s->records] = r.timestamp;
			snprintf(k, sizeof(k), "k%d", n);
			snprintf(v, sizeof(v), "v%d", n);
			snprintf(x, sizeof(x), "x%d", n);
			ck_assert_int_eq(r.key_len, (int32_t)strlen(k));
			ck_assert(memcmp(r.key, k, strlen(k)) == 0);
			ck_assert_int_eq(r.value_len, (int32_t)strlen(v));
			ck_assert(memcmp(r.value, v, strlen(v)) == 0);
			ck_assert_int_eq(kp_record_header_next(&r, &hp, &hd), 1);
			ck_assert_int_eq(hd.key_len, 1);
			ck_assert_int_eq(hd.value_len, (int32_t)strlen(x));
			ck_assert(memcmp(hd.value, x, strlen(x)) == 0);
			ck_assert_int_eq(kp_record_header_next(&r, &hp, &hd), 0);
			s->records++;
		}
		ck_assert_int_eq(rc, 0);
		kp_record_iter_free(&it);
		s->batches++;
		pos += kp_batch_size(&h);
	}
}

/* ------------------------------------------------------------ requests */

typedef struct pp_result {
	int16_t err;
	int64_t base_offset;
	int64_t log_append_time;
	int64_t log_start;
	char message[256];            /* ErrorMessage (v8+), "" when null */
	int32_t record_errors;        /* RecordErrors' count (v8+) */
	int32_t record_index;         /* the first one's BatchIndex, or -1 */
	char record_message[256];
} pp_result;

static void copy_kstr(char *dst, size_t cap, kp_str s)
{
	snprintf(dst, cap, "%.*s", s.len > 0 ? (int)s.len : 0, s.len > 0 ? (const char *)s.p : "");
}

/* Produces `records` (one partition) and returns the partition's answer.
 * acks 0 returns err -1 (no response). */
static pp_result produce(const char *topic, int32_t part, int16_t acks, int16_t version,
			 const kp_buf *records)
{
	kp_ProduceRequest m;
	kp_ProduceRequest_TopicProduceData td;
	kp_ProduceRequest_PartitionProduceData pd;
	kp_ProduceResponse resp;
	treq *t = treq_new(KP_API_PRODUCE, version);
	pp_result res = { -1, -1, -1, -1, "", 0, -1, "" };
	kp_reader rd;
	int rc;

	kp_ProduceRequest_init(&m);
	kp_ProduceRequest_TopicProduceData_init(&td);
	kp_ProduceRequest_PartitionProduceData_init(&pd);
	pd.Index = part;
	pd.Records = (kp_records){ records->data, (int32_t)records->len, false };
	td.Name = kp_str_from(topic);
	td.PartitionData.count = 1;
	td.PartitionData.items = &pd;
	m.Acks = acks;
	m.TimeoutMs = 5000;
	m.TopicData.count = 1;
	m.TopicData.items = &td;
	ck_assert_int_eq(kp_ProduceRequest_encode(&t->body, version, &m), 0);
	rc = treq_run(t, br_api_produce);
	if (acks == 0) {
		ck_assert_int_eq(rc, BR_NO_RESPONSE);
		treq_free(t);
		reactor_settle(20);
		return res;
	}
	ck_assert_int_ge(rc, 0);
	ck_assert_int_ne(rc, BR_NO_RESPONSE);
	rd = treq_response(t);
	ck_assert_int_eq(kp_ProduceResponse_decode(&rd, version, &t->r.arena, &resp), 0);
	ck_assert_uint_eq(kp_reader_left(&rd), 0);
	ck_assert_int_eq(resp.Responses.count, 1);
	ck_assert_int_eq(resp.Responses.items[0].PartitionResponses.count, 1);
	{
		kp_ProduceResponse_PartitionProduceResponse *p =
			&resp.Responses.items[0].PartitionResponses.items[0];

		ck_assert_int_eq(p->Index, part);
		/* The request's error for /metrics is its one partition's. */
		ck_assert_int_eq(t->r.error_code, p->ErrorCode);
		res.err = p->ErrorCode;
		res.base_offset = p->BaseOffset;
		res.log_append_time = p->LogAppendTimeMs;
		res.log_start = p->LogStartOffset;
		copy_kstr(res.message, sizeof(res.message), p->ErrorMessage);
		res.record_errors = p->RecordErrors.count;
		if (p->RecordErrors.count > 0) {
			res.record_index = p->RecordErrors.items[0].BatchIndex;
			copy_kstr(res.record_message, sizeof(res.record_message),
				  p->RecordErrors.items[0].BatchIndexErrorMessage);
		}
	}
	treq_free(t);
	return res;
}

/* Produces n records k<first..> in one batch with acks=-1; asserts success
 * and returns the base offset. */
static int64_t produce_ok(const char *topic, int32_t part, int codec, int first, int n, int64_t ts0)
{
	kp_buf b;
	pp_result r;

	kp_buf_init(&b);
	batch_build(&b, codec, first, n, ts0);
	r = produce(topic, part, -1, 7, &b);
	kp_buf_free(&b);
	ck_assert_int_eq(r.err, KE_NONE);
	return r.base_offset;
}

typedef struct fetch_args {
	int16_t version;
	int64_t offset;
	int32_t part_max, max_bytes, min_bytes, max_wait_ms;
	int32_t session_id, session_epoch;
	int8_t isolation;
	const uint8_t *topic_id;   /* v13+ */
	int32_t current_epoch;     /* CurrentLeaderEpoch (v9+); 0 matches */
} fetch_args;

typedef struct fetch_result {
	int rc;                   /* the handler's return */
	int16_t top_err;
	int32_t session_id;
	int16_t err;
	int64_t hw, lso, log_start;
	kp_records records;
	bool aborted_null;
	treq *t;                  /* keeps the views alive; fetch_result_free */
} fetch_result;

static fetch_result fetch(const char *topic, int32_t part, const fetch_args *a)
{
	kp_FetchRequest m;
	kp_FetchRequest_FetchTopic ft;
	kp_FetchRequest_FetchPartition fp;
	kp_FetchResponse resp;
	fetch_result res;
	kp_reader rd;

	memset(&res, 0, sizeof(res));
	res.t = treq_new(KP_API_FETCH, a->version);
	kp_FetchRequest_init(&m);
	kp_FetchRequest_FetchTopic_init(&ft);
	kp_FetchRequest_FetchPartition_init(&fp);
	fp.Partition = part;
	fp.FetchOffset = a->offset;
	fp.PartitionMaxBytes = a->part_max ? a->part_max : 1 << 20;
	fp.CurrentLeaderEpoch = a->current_epoch;
	if (a->version >= 13)
		memcpy(ft.TopicId.b, a->topic_id, 16);
	else
		ft.Topic = kp_str_from(topic);
	ft.Partitions.count = 1;
	ft.Partitions.items = &fp;
	m.MaxWaitMs = a->max_wait_ms;
	m.MinBytes = a->min_bytes;
	m.MaxBytes = a->max_bytes ? a->max_bytes : 50 << 20;
	m.IsolationLevel = a->isolation;
	m.SessionId = a->session_id;
	m.SessionEpoch = a->session_epoch ? a->session_epoch : -1;
	if (a->session_epoch == 99)
		m.SessionEpoch = 0;
	m.Topics.count = 1;
	m.Topics.items = &ft;
	ck_assert_int_eq(kp_FetchRequest_encode(&res.t->body, a->version, &m), 0);
	res.rc = treq_run(res.t, br_api_fetch);
	ck_assert_int_ge(res.rc, 0);
	rd = treq_response(res.t);
	ck_assert_int_eq(kp_FetchResponse_decode(&rd, a->version, &res.t->r.arena, &resp), 0);
	ck_assert_uint_eq(kp_reader_left(&rd), 0);
	res.top_err = resp.ErrorCode;
	res.session_id = resp.SessionId;
	res.err = -1;
	if (resp.Responses.count == 0)
		return res;
	ck_assert_int_eq(resp.Responses.count, 1);
	ck_assert_int_eq(resp.Responses.items[0].Partitions.count, 1);
	if (a->version >= 13)
		ck_assert(memcmp(resp.Responses.items[0].TopicId.b, a->topic_id, 16) == 0);
	else
		ck_assert(resp.Responses.items[0].Topic.len == (int32_t)strlen(topic) &&
			  memcmp(resp.Responses.items[0].Topic.p, topic, strlen(topic)) == 0);
	{
		kp_FetchResponse_PartitionData *p = &resp.Responses.items[0].Partitions.items[0];

		ck_assert_int_eq(p->PartitionIndex, part);
		res.err = p->ErrorCode;
		res.hw = p->HighWatermark;
		res.lso = p->LastStableOffset;
		res.log_start = p->LogStartOffset;
		res.records = p->Records;
		res.aborted_null = p->AbortedTransactions.count == -1;
	}
	return res;
}

static void fetch_result_free(fetch_result *r)
{
	treq_free(r->t);
}

/* --------------------------------------------------------------- tests */

START_TEST(produce_assigns_offsets_and_fetch_returns_every_record)
{
	fetch_result f;
	seen s;

	broker_open();
	topic_create("t", 2, NULL, NULL);
	ck_assert_int_eq(produce_ok("t", 0, KP_CODEC_NONE, 0, 3, 1000), 0);
	ck_assert_int_eq(produce_ok("t", 0, KP_CODEC_NONE, 3, 2, 2000), 3);
	ck_assert_int_eq(produce_ok("t", 1, KP_CODEC_NONE, 0, 1, 1000), 0);

	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0 });
	ck_assert_int_eq(f.rc, BR_RESPOND);
	ck_assert_int_eq(f.top_err, KE_NONE);
	ck_assert_int_eq(f.session_id, 0);
	ck_assert_int_eq(f.err, KE_NONE);
	ck_assert_int_eq(f.hw, 5);
	ck_assert_int_eq(f.lso, 5);
	ck_assert_int_eq(f.log_start, 0);
	ck_assert(f.aborted_null);
	/* The records came from the file, not from memory. */
	ck_assert_uint_eq(f.t->r.n_slices, 1);
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.batches, 2);
	ck_assert_int_eq(s.records, 5);
	ck_assert_int_eq(s.first_offset, 0);
	ck_assert_int_eq(s.timestamps[0], 1000);
	ck_assert_int_eq(s.timestamps[3], 2000);
	fetch_result_free(&f);

	/* From an offset inside the second batch: whole batches from it. */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 4 });
	ck_assert_int_eq(f.err, KE_NONE);
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.first_offset, 3);
	ck_assert_int_eq(s.records, 2);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

START_TEST(produce_versions_3_to_9_answer_in_their_encoding)
{
	broker_open();
	topic_create("t", 1, NULL, NULL);
	for (int16_t v = 3; v <= 9; v++) {
		kp_buf b;
		pp_result r;

		kp_buf_init(&b);
		batch_build(&b, KP_CODEC_NONE, v, 1, 1000);
		r = produce("t", 0, 1, v, &b);
		kp_buf_free(&b);
		ck_assert_int_eq(r.err, KE_NONE);
		ck_assert_int_eq(r.base_offset, v - 3);
		if (v >= 5)
			ck_assert_int_eq(r.log_start, 0);
		ck_assert_int_eq(r.log_append_time, -1);
	}
	broker_close();
}
END_TEST

START_TEST(produce_acks0_appends_and_sends_nothing)
{
	kp_buf b;
	fetch_result f;
	seen s;
	struct timespec t0, now;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 4, 1000);
	produce("t", 0, 0, 7, &b);
	/* The request (and its frame) is gone: clobber our copy too, the
	 * broker must have kept its own. */
	memset(b.data, 0xee, b.len);
	kp_buf_free(&b);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0 });
		if (f.hw == 4)
			break;
		fetch_result_free(&f);
		reactor_settle(5);
		clock_gettime(CLOCK_MONOTONIC, &now);
		ck_assert(now.tv_sec - t0.tv_sec < 5);
	}
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.records, 4);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

START_TEST(produce_corrupt_crc_is_corrupt_message_and_appends_nothing)
{
	kp_buf b;
	pp_result r;
	fetch_result f;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 2, 1000);
	batch_build(&b, KP_CODEC_NONE, 2, 2, 1000);
	b.data[b.len - 1] ^= 0x01;      /* the second batch's last byte */
	r = produce("t", 0, -1, 7, &b);
	ck_assert_int_eq(r.err, KE_CORRUPT_MESSAGE);
	ck_assert_int_eq(r.base_offset, -1);
	/* Magic 1: an old format we do not take. Produce v3+ says
	 * INVALID_RECORD, as Kafka's ProduceRequest.validateRecords does;
	 * v0-v2, which carry such message sets, UNSUPPORTED_FOR_MESSAGE_FORMAT. */
	b.data[KP_BATCH_OFF_MAGIC] = 1;
	r = produce("t", 0, -1, 7, &b);
	ck_assert_int_eq(r.err, KE_INVALID_RECORD);
	r = produce("t", 0, -1, 2, &b);
	ck_assert_int_eq(r.err, KE_UNSUPPORTED_FOR_MESSAGE_FORMAT);
	kp_buf_free(&b);

	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0 });
	ck_assert_int_eq(f.err, KE_NONE);
	ck_assert_int_eq(f.hw, 0);
	ck_assert_int_eq(f.records.len, 0);
	fetch_result_free(&f);

	/* A batch that would be rebuilt for the topic's codec is checked
	 * first: recompressing must not give a damaged batch a fresh CRC. */
	topic_create("z", 1, "compression.type", "zstd");
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_GZIP, 0, 3, 1000);
	b.data[b.len - 2] ^= 0x10;
	r = produce("z", 0, -1, 7, &b);
	ck_assert_int_eq(r.err, KE_CORRUPT_MESSAGE);
	kp_buf_free(&b);
	f = fetch("z", 0, &(fetch_args){ .version = 11, .offset = 0 });
	ck_assert_int_eq(f.hw, 0);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

/* KIP-467: Produce v8+ answers a refusal with its reason (ErrorMessage)
 * and, when one record is at fault, its index in the batch (RecordErrors);
 * v7 has no room for either. */
START_TEST(produce_v8_says_why_and_names_the_record)
{
	kp_buf b;
	pp_result r;

	broker_open();
	topic_create("w", 1, "message.timestamp.before.max.ms", "60000");
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 2, 1000);   /* 1970: far outside the window */
	r = produce("w", 0, -1, 9, &b);
	ck_assert_int_eq(r.err, KE_INVALID_TIMESTAMP);
	ck_assert_int_eq(r.record_errors, 1);
	ck_assert_int_eq(r.record_index, 0);
	ck_assert_msg(strstr(r.message, "timestamp 1000 of record 0 is out of range") != NULL,
		      "ErrorMessage: %s", r.message);
	ck_assert_str_eq(r.record_message, r.message);
	r = produce("w", 0, -1, 8, &b);
	ck_assert_int_eq(r.err, KE_INVALID_TIMESTAMP);
	ck_assert_int_eq(r.record_index, 0);
	r = produce("w", 0, -1, 7, &b);
	ck_assert_int_eq(r.err, KE_INVALID_TIMESTAMP);
	ck_assert_str_eq(r.message, "");
	ck_assert_int_eq(r.record_errors, 0);
	/* A bad CRC is the batch's fault: a reason, no record. */
	b.data[b.len - 1] ^= 1;
	r = produce("w", 0, -1, 9, &b);
	ck_assert_int_eq(r.err, KE_CORRUPT_MESSAGE);
	ck_assert_int_eq(r.record_errors, 0);
	ck_assert_msg(strstr(r.message, "the batch at byte 0: ") != NULL, "ErrorMessage: %s",
		      r.message);
	kp_buf_free(&b);
	/* A refusal of the handler's own. */
	topic_create("s", 1, "max.message.bytes", "100");
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 10, 1000);
	r = produce("s", 0, -1, 9, &b);
	ck_assert_int_eq(r.err, KE_MESSAGE_TOO_LARGE);
	ck_assert_str_eq(r.message, "batch larger than max.message.bytes");
	ck_assert_int_eq(r.record_errors, 0);
	kp_buf_free(&b);
	/* An accepted batch carries neither. */
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 1, 1000);
	r = produce("s", 0, -1, 9, &b);
	ck_assert_int_eq(r.err, KE_NONE);
	ck_assert_str_eq(r.message, "");
	ck_assert_int_eq(r.record_errors, 0);
	kp_buf_free(&b);
	broker_close();
}
END_TEST

/* A topic's message.timestamp.difference.max.ms reaches the produce path:
 * two minutes off either way is refused, and a before.max.ms of its own
 * widens that side only. */
START_TEST(produce_checks_timestamps_against_the_difference_window)
{
	const char *keys[2] = { "message.timestamp.difference.max.ms", "message.timestamp.before.max.ms" };
	const char *vals[2] = { "60000", "3600000" };
	char err[256] = "";
	int64_t now = (int64_t)time(NULL) * 1000;
	const int64_t off[3] = { -120000, 120000, 0 };
	const int16_t want_d[3] = { KE_INVALID_TIMESTAMP, KE_INVALID_TIMESTAMP, KE_NONE };
	const int16_t want_b[3] = { KE_NONE, KE_INVALID_TIMESTAMP, KE_NONE };

	broker_open();
	topic_create("d", 1, keys[0], vals[0]);
	ck_assert_int_eq(br_topics_create(g_b.topics, "b", 1, 1, keys, vals, 2, false, err,
					  sizeof(err)), KE_NONE);
	for (int i = 0; i < 3; i++) {
		kp_buf b;
		kp_buf_init(&b);
		batch_build(&b, KP_CODEC_NONE, 0, 1, now + off[i]);
		ck_assert_int_eq(produce("d", 0, -1, 9, &b).err, want_d[i]);
		ck_assert_int_eq(produce("b", 0, -1, 9, &b).err, want_b[i]);
		kp_buf_free(&b);
	}
	broker_close();
}
END_TEST

/* min.insync.replicas above the one replica a single node has refuses
 * acks=all with NOT_ENOUGH_REPLICAS before the records are looked at, as
 * Kafka 3 does, and appends nothing; acks=1 does not ask for replicas. */
START_TEST(produce_acks_all_needs_min_insync_replicas_in_sync)
{
	br_config_op one[] = { { "min.insync.replicas", "1", BR_CONFIG_SET } };
	char err[256];
	kp_buf b;
	pp_result r;
	fetch_result f;

	broker_open();
	topic_create("m", 1, "min.insync.replicas", "2");
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 2, 1000);
	r = produce("m", 0, -1, 9, &b);
	ck_assert_int_eq(r.err, KE_NOT_ENOUGH_REPLICAS);
	ck_assert_msg(strstr(r.message, "min.isr requirement of 2 for partition m-0") != NULL,
		      "ErrorMessage: %s", r.message);
	b.data[b.len - 1] ^= 1;      /* the replicas are checked first */
	ck_assert_int_eq(produce("m", 0, -1, 9, &b).err, KE_NOT_ENOUGH_REPLICAS);
	b.data[b.len - 1] ^= 1;
	r = produce("m", 0, 1, 9, &b);
	ck_assert_int_eq(r.err, KE_NONE);
	ck_assert_int_eq(r.base_offset, 0);
	f = fetch("m", 0, &(fetch_args){ .version = 11, .offset = 0 });
	ck_assert_int_eq(f.hw, 2);
	fetch_result_free(&f);

	br_topic *t = br_topics_get(g_b.topics, "m", 1);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(br_topics_alter_configs(g_b.topics, t, one, 1, true, false, err,
						 sizeof(err)), KE_NONE);
	br_topic_put(t);
	r = produce("m", 0, -1, 9, &b);
	ck_assert_int_eq(r.err, KE_NONE);
	ck_assert_int_eq(r.base_offset, 2);
	kp_buf_free(&b);
	broker_close();
}
END_TEST

/* Runs fn with the process's stderr (where the broker logs) going to a
 * file; returns how many lines of what it wrote contain needle. */
static int stderr_lines_with(void (*fn)(void), const char *needle)
{
	char path[] = "/tmp/rewind-stderr-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	fn();
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	FILE *f = fdopen(fd, "r");
	ck_assert_ptr_nonnull(f);
	rewind(f);
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	unlink(path);
	return n;
}

static void produce_five_to_offline_log(void)
{
	for (int i = 0; i < 5; i++) {
		kp_buf b;
		kp_buf_init(&b);
		batch_build(&b, KP_CODEC_NONE, 0, 1, 1000);
		ck_assert_int_eq(produce("o", 0, -1, 9, &b).err, KE_KAFKA_STORAGE_ERROR);
		kp_buf_free(&b);
	}
}

/* A log offline after a failed fdatasync refuses every produce with
 * KAFKA_STORAGE_ERROR; the refusal is logged once per partition per 10 s,
 * not once per request (storage logged the failure itself). */
START_TEST(produce_to_an_offline_log_is_logged_once)
{
	kp_buf b;

	broker_open();
	topic_create("o", 1, NULL, NULL);
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 1, 1000);
	st__store_inject_fault(g_b.store, ST__IO_SYNC, -EIO, 0, 1);
	ck_assert_int_eq(produce("o", 0, -1, 9, &b).err, KE_KAFKA_STORAGE_ERROR);
	kp_buf_free(&b);
	ck_assert_int_eq(stderr_lines_with(produce_five_to_offline_log, "append refused"), 1);
	broker_close();
}
END_TEST

static void create_twenty_partitions(void)
{
	topic_create("many", 20, NULL, NULL);
}

static void reopen_topics(void)
{
	br_topics_close(g_b.topics);
	ck_assert_int_eq(br_topics_open(&g_b, &g_b.topics), 0);
}

static void create_dotted(void)
{
	topic_create("a.b", 1, NULL, NULL);
}

static void create_internal_like(void)
{
	topic_create("__internal_like", 1, NULL, NULL);
}

/* A name with '.' or '_' is warned of (metric names could collide), as
 * Kafka does; a "__" name, the broker's own kind (__consumer_offsets), is
 * not. */
START_TEST(names_that_could_collide_are_warned_of_but_not_internal_ones)
{
	broker_open();
	ck_assert_int_eq(stderr_lines_with(create_dotted, "topic a.b: names with '.' or '_' could "
					   "collide"), 1);
	ck_assert_int_eq(stderr_lines_with(create_internal_like, "could collide"), 0);
	broker_close();
}
END_TEST

/* Creating a topic logs one line for it, not one per new partition (there
 * is nothing to recover in a directory just made); a start logs each
 * partition it opens, as Kafka logs each log it loads. */
START_TEST(a_created_topic_logs_one_line_and_a_start_one_per_partition)
{
	broker_open();
	ck_assert_int_eq(stderr_lines_with(create_twenty_partitions, "many"), 1);
	ck_assert_int_eq(stderr_lines_with(reopen_topics, "many-"), 20);
	broker_close();
}
END_TEST

START_TEST(produce_refusal_of_one_partition_leaves_the_others_appended)
{
	kp_ProduceRequest m;
	kp_ProduceRequest_TopicProduceData td[2];
	kp_ProduceRequest_PartitionProduceData pd[3];
	kp_ProduceResponse resp;
	kp_buf good, bad;
	treq *t;
	kp_reader rd;

	broker_open();
	topic_create("a", 2, NULL, NULL);
	kp_buf_init(&good);
	kp_buf_init(&bad);
	batch_build(&good, KP_CODEC_NONE, 0, 2, 1000);
	batch_build(&bad, KP_CODEC_NONE, 0, 2, 1000);
	bad.data[bad.len - 1] ^= 1;
	kp_ProduceRequest_init(&m);
	for (int i = 0; i < 3; i++)
		kp_ProduceRequest_PartitionProduceData_init(&pd[i]);
	for (int i = 0; i < 2; i++)
		kp_ProduceRequest_TopicProduceData_init(&td[i]);
	pd[0].Index = 0;
	pd[0].Records = (kp_records){ good.data, (int32_t)good.len, false };
	pd[1].Index = 1;
	pd[1].Records = (kp_records){ bad.data, (int32_t)bad.len, false };
	pd[2].Index = 0;
	pd[2].Records = (kp_records){ good.data, (int32_t)good.len, false };
	td[0].Name = KP_STR_LIT("a");
	td[0].PartitionData.count = 2;
	td[0].PartitionData.items = &pd[0];
	td[1].Name = KP_STR_LIT("missing");
	td[1].PartitionData.count = 1;
	td[1].PartitionData.items = &pd[2];
	m.Acks = -1;
	m.TopicData.count = 2;
	m.TopicData.items = td;
	g_b.cfg.auto_create_topics_enable = false;
	t = treq_new(KP_API_PRODUCE, 7);
	ck_assert_int_eq(kp_ProduceRequest_encode(&t->body, 7, &m), 0);
	ck_assert_int_eq(treq_run(t, br_api_produce), BR_PARKED);
	rd = treq_response(t);
	ck_assert_int_eq(kp_ProduceResponse_decode(&rd, 7, &t->r.arena, &resp), 0);
	ck_assert_int_eq(resp.Responses.count, 2);
	ck_assert_int_eq(resp.Responses.items[0].PartitionResponses.items[0].ErrorCode, KE_NONE);
	ck_assert_int_eq(resp.Responses.items[0].PartitionResponses.items[0].BaseOffset, 0);
	ck_assert_int_eq(resp.Responses.items[0].PartitionResponses.items[1].ErrorCode,
			 KE_CORRUPT_MESSAGE);
	ck_assert_int_eq(resp.Responses.items[0].PartitionResponses.items[1].BaseOffset, -1);
	ck_assert_int_eq(resp.Responses.items[1].PartitionResponses.items[0].ErrorCode,
			 KE_UNKNOWN_TOPIC_OR_PARTITION);
	treq_free(t);
	kp_buf_free(&good);
	kp_buf_free(&bad);
	broker_close();
}
END_TEST

START_TEST(produce_batch_over_max_message_bytes_is_message_too_large)
{
	kp_buf b;
	pp_result r;

	broker_open();
	topic_create("small", 1, "max.message.bytes", "200");
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 20, 1000);
	ck_assert_uint_gt(b.len, 200);
	r = produce("small", 0, 1, 7, &b);
	ck_assert_int_eq(r.err, KE_MESSAGE_TOO_LARGE);
	kp_buf_reset(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 1, 1000);
	r = produce("small", 0, 1, 7, &b);
	ck_assert_int_eq(r.err, KE_NONE);
	kp_buf_free(&b);
	broker_close();
}
END_TEST

START_TEST(produce_unknown_partition_or_topic_is_refused)
{
	kp_buf b;
	pp_result r;
	br_topic *t;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 1, 1000);
	r = produce("t", 5, 1, 7, &b);
	ck_assert_int_eq(r.err, KE_UNKNOWN_TOPIC_OR_PARTITION);

	g_b.cfg.auto_create_topics_enable = false;
	r = produce("nope", 0, 1, 7, &b);
	ck_assert_int_eq(r.err, KE_UNKNOWN_TOPIC_OR_PARTITION);
	ck_assert_ptr_null(br_topics_get(g_b.topics, "nope", 4));

	g_b.cfg.auto_create_topics_enable = true;
	r = produce("auto", 0, 1, 7, &b);
	ck_assert_int_eq(r.err, KE_NONE);
	ck_assert_int_eq(r.base_offset, 0);
	t = br_topics_get(g_b.topics, "auto", 4);
	ck_assert_ptr_nonnull(t);
	br_topic_put(t);

	r = produce("t", 0, 2, 7, &b);
	ck_assert_int_eq(r.err, KE_INVALID_REQUIRED_ACKS);
	kp_buf_free(&b);
	broker_close();
}
END_TEST

START_TEST(produce_log_append_time_topic_stamps_the_broker_time)
{
	kp_buf b;
	pp_result r;
	fetch_result f;
	seen s;
	int64_t before = (int64_t)time(NULL) * 1000 - 1000;

	broker_open();
	topic_create("lat", 1, "message.timestamp.type", "LogAppendTime");
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 3, 1000);
	r = produce("lat", 0, -1, 7, &b);
	kp_buf_free(&b);
	ck_assert_int_eq(r.err, KE_NONE);
	ck_assert_int_ge(r.log_append_time, before);
	f = fetch("lat", 0, &(fetch_args){ .version = 11, .offset = 0 });
	records_check(f.records, 0, &s);
	ck_assert(s.log_append_time);
	ck_assert_int_eq(s.timestamps[0], r.log_append_time);
	ck_assert_int_eq(s.timestamps[2], r.log_append_time);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

START_TEST(produce_recompresses_to_the_topic_codec_keeping_records)
{
	fetch_result f;
	seen s;

	broker_open();
	topic_create("z", 1, "compression.type", "zstd");
	topic_create("p", 1, NULL, NULL);
	ck_assert_int_eq(produce_ok("z", 0, KP_CODEC_GZIP, 0, 10, 5000), 0);
	ck_assert_int_eq(produce_ok("z", 0, KP_CODEC_ZSTD, 10, 2, 6000), 10);
	ck_assert_int_eq(produce_ok("p", 0, KP_CODEC_GZIP, 0, 3, 5000), 0);

	f = fetch("z", 0, &(fetch_args){ .version = 11, .offset = 0, .part_max = 1 });
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.batches, 1);
	ck_assert_int_eq(s.records, 10);
	ck_assert_int_eq(s.codec, KP_CODEC_ZSTD);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(s.timestamps[i], 5000 + i);
	fetch_result_free(&f);
	f = fetch("z", 0, &(fetch_args){ .version = 11, .offset = 10 });
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.records, 2);
	ck_assert_int_eq(s.codec, KP_CODEC_ZSTD);
	fetch_result_free(&f);
	/* compression.type=producer keeps the producer's codec. */
	f = fetch("p", 0, &(fetch_args){ .version = 11, .offset = 0 });
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.codec, KP_CODEC_GZIP);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

START_TEST(fetch_out_of_range_offsets_are_refused)
{
	fetch_result f;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	produce_ok("t", 0, KP_CODEC_NONE, 0, 3, 1000);
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 4 });
	ck_assert_int_eq(f.err, KE_OFFSET_OUT_OF_RANGE);
	ck_assert_int_eq(f.records.len, 0);
	fetch_result_free(&f);
	/* At the end: nothing yet, no error. */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 3 });
	ck_assert_int_eq(f.err, KE_NONE);
	ck_assert_int_eq(f.hw, 3);
	ck_assert_int_eq(f.records.len, 0);
	fetch_result_free(&f);
	f = fetch("t", 7, &(fetch_args){ .version = 11, .offset = 0 });
	ck_assert_int_eq(f.err, KE_UNKNOWN_TOPIC_OR_PARTITION);
	fetch_result_free(&f);
	f = fetch("none", 0, &(fetch_args){ .version = 11, .offset = 0 });
	ck_assert_int_eq(f.err, KE_UNKNOWN_TOPIC_OR_PARTITION);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

START_TEST(fetch_bounds_by_partition_bytes_but_returns_one_batch_at_least)
{
	fetch_result f;
	seen s;
	kp_buf one;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	for (int i = 0; i < 5; i++)
		produce_ok("t", 0, KP_CODEC_NONE, i * 4, 4, 1000);
	kp_buf_init(&one);
	batch_build(&one, KP_CODEC_NONE, 0, 4, 1000);
	/* Smaller than one batch: still the first batch. */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0, .part_max = 10 });
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.batches, 1);
	fetch_result_free(&f);
	/* Room for two batches and a half: two. */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0,
					  .part_max = (int32_t)(one.len * 5 / 2) });
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.batches, 2);
	fetch_result_free(&f);
	/* The response limit applies too: batches at 4, 8 and 12 take
	 * one.len + 0, + 6 and + 12 bytes (longer keys from k10 on). */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 4,
					  .max_bytes = (int32_t)(one.len * 3 + 20) });
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.batches, 3);
	ck_assert_int_eq(s.first_offset, 4);
	fetch_result_free(&f);
	kp_buf_free(&one);
	broker_close();
}
END_TEST

START_TEST(fetch_versions_4_to_13_and_topic_ids)
{
	fetch_result f;
	seen s;
	br_topic *t;
	uint8_t id[16];

	broker_open();
	topic_create("t", 1, NULL, NULL);
	produce_ok("t", 0, KP_CODEC_LZ4, 0, 3, 1000);
	t = br_topics_get(g_b.topics, "t", 1);
	memcpy(id, t->id, 16);
	br_topic_put(t);
	for (int16_t v = 4; v <= 13; v++) {
		f = fetch("t", 0, &(fetch_args){ .version = v, .offset = 0, .topic_id = id });
		ck_assert_int_eq(f.err, KE_NONE);
		ck_assert_int_eq(f.hw, 3);
		if (v >= 5)
			ck_assert_int_eq(f.log_start, 0);
		records_check(f.records, 0, &s);
		ck_assert_int_eq(s.records, 3);
		fetch_result_free(&f);
	}
	memset(id, 0x42, sizeof(id));
	f = fetch("t", 0, &(fetch_args){ .version = 13, .offset = 0, .topic_id = id });
	ck_assert_int_eq(f.err, KE_UNKNOWN_TOPIC_ID);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

START_TEST(fetch_sessions_are_declined_or_not_found)
{
	fetch_result f;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	produce_ok("t", 0, KP_CODEC_NONE, 0, 1, 1000);
	/* Epoch 0 asks for a session: served in full, SessionId 0 declines. */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0, .session_epoch = 99 });
	ck_assert_int_eq(f.top_err, KE_NONE);
	ck_assert_int_eq(f.session_id, 0);
	ck_assert_int_eq(f.err, KE_NONE);
	ck_assert_int_gt(f.records.len, 0);
	fetch_result_free(&f);
	/* An incremental fetch in a session we never gave out. */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0, .session_id = 1234,
					  .session_epoch = 1 });
	ck_assert_int_eq(f.top_err, KE_FETCH_SESSION_ID_NOT_FOUND);
	ck_assert_int_eq(f.err, -1);
	fetch_result_free(&f);
	/* read_committed reads the same (no transactions), with an empty
	 * aborted list rather than null. */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0, .isolation = 1 });
	ck_assert_int_eq(f.err, KE_NONE);
	ck_assert(!f.aborted_null);
	ck_assert_int_gt(f.records.len, 0);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

/* As api_produce.c's callback does: wake the partition's parked fetches
 * from the writer thread once the append is readable. */
static void late_appended(st_append *a, int err)
{
	ck_assert_int_eq(err, 0);
	br_part_wake_fetches(a->arg);
}

/* A producer thread: appends 100 ms later, while the fetch is parked. */
static void *late_producer(void *arg)
{
	br_topic *t = br_topics_get(g_b.topics, "t", 1);
	kp_buf *b = arg;
	/* Storage borrows it until the callback, after this thread is gone. */
	static st_append app;
	st_append *a = &app;
	struct timespec d = { 0, 100 * 1000000 };

	nanosleep(&d, NULL);
	memset(a, 0, sizeof(*a));
	a->data = b->data;
	a->len = b->len;
	a->cb = late_appended;
	a->arg = br_topic_part(t, 0);
	ck_assert_int_eq(st_log_append(br_topic_part(t, 0)->log, a, (int64_t)time(NULL) * 1000), 0);
	br_topic_put(t);
	return NULL;
}

START_TEST(fetch_long_poll_is_answered_when_records_arrive)
{
	fetch_result f;
	pthread_t th;
	struct timespec t0, t1;
	seen s;

	kp_buf b;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	kp_buf_init(&b);
	batch_build(&b, KP_CODEC_NONE, 0, 2, 1000);
	ck_assert_int_eq(pthread_create(&th, NULL, late_producer, &b), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0, .min_bytes = 1,
					  .max_wait_ms = 4000 });
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(th, NULL);
	ck_assert_int_eq(f.rc, BR_PARKED);
	ck_assert_int_eq(f.err, KE_NONE);
	records_check(f.records, 0, &s);
	ck_assert_int_eq(s.records, 2);
	/* Woken by the append, long before max_wait_ms. */
	ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 3000);
	fetch_result_free(&f);
	reactor_settle(20);
	broker_close();
	kp_buf_free(&b);
}
END_TEST

START_TEST(fetch_long_poll_times_out_with_what_is_there)
{
	fetch_result f;
	struct timespec t0, t1;
	int64_t ms;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	produce_ok("t", 0, KP_CODEC_NONE, 0, 1, 1000);
	/* min_bytes beyond what is there: waits max_wait_ms, then answers. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 0, .min_bytes = 1 << 20,
					  .max_wait_ms = 200 });
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_eq(f.rc, BR_PARKED);
	ck_assert_int_ge(ms, 190);
	ck_assert_int_eq(f.err, KE_NONE);
	ck_assert_int_gt(f.records.len, 0);
	fetch_result_free(&f);
	/* Nothing at the end: an empty answer after the wait. */
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 1, .min_bytes = 1,
					  .max_wait_ms = 100 });
	ck_assert_int_eq(f.rc, BR_PARKED);
	ck_assert_int_eq(f.records.len, 0);
	fetch_result_free(&f);
	broker_close();
}
END_TEST

START_TEST(fetch_parked_for_a_gone_client_completes_without_it)
{
	kp_FetchRequest m;
	kp_FetchRequest_FetchTopic ft;
	kp_FetchRequest_FetchPartition fp;
	treq *t;
	struct timespec t0, now;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	t = treq_new(KP_API_FETCH, 11);
	kp_FetchRequest_init(&m);
	kp_FetchRequest_FetchTopic_init(&ft);
	kp_FetchRequest_FetchPartition_init(&fp);
	fp.PartitionMaxBytes = 1 << 20;
	ft.Topic = KP_STR_LIT("t");
	ft.Partitions.count = 1;
	ft.Partitions.items = &fp;
	m.MaxWaitMs = 10000;
	m.MinBytes = 1;
	m.Topics.count = 1;
	m.Topics.items = &ft;
	ck_assert_int_eq(kp_FetchRequest_encode(&t->body, 11, &m), 0);
	t->r.body = kp_reader_make(t->body.data, t->body.len);
	ck_assert_int_eq(br_api_fetch(&t->r), BR_PARKED);
	/* The connection goes; the next wake answers (and the net layer would
	 * drop the response) without waiting the full 10 s. */
	t->r.conn = NULL;
	produce_ok("t", 0, KP_CODEC_NONE, 0, 1, 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!t->r.done) {
		reactor_turn();
		clock_gettime(CLOCK_MONOTONIC, &now);
		ck_assert(now.tv_sec - t0.tv_sec < 5);
	}
	treq_free(t);

	/* With nothing to wake it: the net layer calls the request's on_gone
	 * hook as it closes the connection (conn_close), and that answers it
	 * at once instead of at max_wait_ms. */
	t = treq_new(KP_API_FETCH, 11);
	fp.FetchOffset = 1;
	ck_assert_int_eq(kp_FetchRequest_encode(&t->body, 11, &m), 0);
	t->r.body = kp_reader_make(t->body.data, t->body.len);
	ck_assert_int_eq(br_api_fetch(&t->r), BR_PARKED);
	ck_assert_ptr_nonnull(t->r.on_gone);
	t->r.conn = NULL;
	t->r.on_gone(&t->r);
	ck_assert_msg(t->r.done, "a gone client's fetch was not answered by on_gone");
	treq_free(t);
	reactor_settle(10);
	broker_close();
}
END_TEST

/* ListOffsets for one partition with a CurrentLeaderEpoch (v4+):
 * (offset, timestamp, error). */
static void list_offsets_at_epoch(const char *topic, int32_t part, int64_t ts, int16_t version,
				  int32_t epoch, int64_t *off, int64_t *found_ts, int16_t *err)
{
	kp_ListOffsetsRequest m;
	kp_ListOffsetsRequest_ListOffsetsTopic lt;
	kp_ListOffsetsRequest_ListOffsetsPartition lp;
	kp_ListOffsetsResponse resp;
	treq *t = treq_new(KP_API_LIST_OFFSETS, version);
	kp_reader rd;

	kp_ListOffsetsRequest_init(&m);
	kp_ListOffsetsRequest_ListOffsetsTopic_init(&lt);
	kp_ListOffsetsRequest_ListOffsetsPartition_init(&lp);
	lp.PartitionIndex = part;
	lp.Timestamp = ts;
	lp.CurrentLeaderEpoch = epoch;
	lt.Name = kp_str_from(topic);
	lt.Partitions.count = 1;
	lt.Partitions.items = &lp;
	m.ReplicaId = -1;
	m.Topics.count = 1;
	m.Topics.items = &lt;
	ck_assert_int_eq(kp_ListOffsetsRequest_encode(&t->body, version, &m), 0);
	ck_assert_int_eq(treq_run(t, br_api_list_offsets), BR_RESPOND);
	rd = treq_response(t);
	ck_assert_int_eq(kp_ListOffsetsResponse_decode(&rd, version, &t->r.arena, &resp), 0);
	ck_assert_int_eq(resp.Topics.count, 1);
	ck_assert_int_eq(resp.Topics.items[0].Partitions.count, 1);
	*off = resp.Topics.items[0].Partitions.items[0].Offset;
	*found_ts = resp.Topics.items[0].Partitions.items[0].Timestamp;
	*err = resp.Topics.items[0].Partitions.items[0].ErrorCode;
	treq_free(t);
}

/* ListOffsets for one partition without an epoch check. */
static void list_offsets(const char *topic, int32_t part, int64_t ts, int16_t version,
			 int64_t *off, int64_t *found_ts, int16_t *err)
{
	list_offsets_at_epoch(topic, part, ts, version, -1, off, found_ts, err);
}

/* A client whose metadata names a newer leader epoch than the broker's is
 * told UNKNOWN_LEADER_EPOCH (it retries after refreshing); -1 and the
 * partition's own epoch (0 on a single node) pass. */
START_TEST(current_leader_epoch_is_checked_by_fetch_and_list_offsets)
{
	fetch_result f;
	int64_t off, ts;
	int16_t err;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	produce_ok("t", 0, KP_CODEC_NONE, 0, 3, 1000);
	f = fetch("t", 0, &(fetch_args){ .version = 12, .offset = 0, .current_epoch = 5 });
	ck_assert_int_eq(f.err, KE_UNKNOWN_LEADER_EPOCH);
	ck_assert_int_eq(f.records.len, 0);
	fetch_result_free(&f);
	f = fetch("t", 0, &(fetch_args){ .version = 12, .offset = 0, .current_epoch = 0 });
	ck_assert_int_eq(f.err, KE_NONE);
	ck_assert_int_gt(f.records.len, 0);
	fetch_result_free(&f);
	f = fetch("t", 0, &(fetch_args){ .version = 12, .offset = 0, .current_epoch = -1 });
	ck_assert_int_eq(f.err, KE_NONE);
	fetch_result_free(&f);
	/* Before v9 the field is not on the wire: no check. */
	f = fetch("t", 0, &(fetch_args){ .version = 8, .offset = 0, .current_epoch = 5 });
	ck_assert_int_eq(f.err, KE_NONE);
	fetch_result_free(&f);

	list_offsets_at_epoch("t", 0, -1, 5, 5, &off, &ts, &err);
	ck_assert_int_eq(err, KE_UNKNOWN_LEADER_EPOCH);
	list_offsets_at_epoch("t", 0, -1, 5, 0, &off, &ts, &err);
	ck_assert_int_eq(err, KE_NONE);
	ck_assert_int_eq(off, 3);
	broker_close();
}
END_TEST

START_TEST(list_offsets_earliest_latest_by_time_and_max_timestamp)
{
	int64_t off, ts;
	int16_t err;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	for (int16_t v = 1; v <= 7; v++) {
		list_offsets("t", 0, -3, v, &off, &ts, &err);
		if (v >= 7) {
			ck_assert_int_eq(err, KE_NONE);
			ck_assert_int_eq(off, -1);
		} else {
			ck_assert_int_eq(err, KE_UNSUPPORTED_VERSION);
		}
		list_offsets("t", 0, -1, v, &off, &ts, &err);
		ck_assert_int_eq(err, KE_NONE);
		ck_assert_int_eq(off, 0);
	}
	produce_ok("t", 0, KP_CODEC_NONE, 0, 3, 1000);     /* offsets 0-2, ts 1000-1002 */
	produce_ok("t", 0, KP_CODEC_SNAPPY, 3, 3, 5000);   /* offsets 3-5, ts 5000-5002 */
	for (int16_t v = 1; v <= 7; v++) {
		list_offsets("t", 0, -2, v, &off, &ts, &err);
		ck_assert_int_eq(err, KE_NONE);
		ck_assert_int_eq(off, 0);
		list_offsets("t", 0, -1, v, &off, &ts, &err);
		ck_assert_int_eq(off, 6);
		list_offsets("t", 0, 1001, v, &off, &ts, &err);
		ck_assert_int_eq(err, KE_NONE);
		ck_assert_int_eq(off, 1);
		ck_assert_int_eq(ts, 1001);
		list_offsets("t", 0, 3000, v, &off, &ts, &err);
		ck_assert_int_eq(off, 3);
		ck_assert_int_eq(ts, 5000);
		list_offsets("t", 0, 9000, v, &off, &ts, &err);
		ck_assert_int_eq(err, KE_NONE);
		ck_assert_int_eq(off, -1);
		ck_assert_int_eq(ts, -1);
		if (v < 7)
			continue;
		list_offsets("t", 0, -3, v, &off, &ts, &err);
		ck_assert_int_eq(err, KE_NONE);
		ck_assert_int_eq(off, 5);
		ck_assert_int_eq(ts, 5002);
	}
	list_offsets("t", 3, -1, 5, &off, &ts, &err);
	ck_assert_int_eq(err, KE_UNKNOWN_TOPIC_OR_PARTITION);
	list_offsets("zz", 0, -1, 5, &off, &ts, &err);
	ck_assert_int_eq(err, KE_UNKNOWN_TOPIC_OR_PARTITION);
	broker_close();
}
END_TEST

static void delete_records(const char *topic, int32_t part, int64_t offset, int16_t version,
			   int64_t *low, int16_t *err)
{
	kp_DeleteRecordsRequest m;
	kp_DeleteRecordsRequest_DeleteRecordsTopic dt;
	kp_DeleteRecordsRequest_DeleteRecordsPartition dp;
	kp_DeleteRecordsResponse resp;
	treq *t = treq_new(KP_API_DELETE_RECORDS, version);
	kp_reader rd;

	kp_DeleteRecordsRequest_init(&m);
	kp_DeleteRecordsRequest_DeleteRecordsTopic_init(&dt);
	kp_DeleteRecordsRequest_DeleteRecordsPartition_init(&dp);
	dp.PartitionIndex = part;
	dp.Offset = offset;
	dt.Name = kp_str_from(topic);
	dt.Partitions.count = 1;
	dt.Partitions.items = &dp;
	m.Topics.count = 1;
	m.Topics.items = &dt;
	m.TimeoutMs = 1000;
	ck_assert_int_eq(kp_DeleteRecordsRequest_encode(&t->body, version, &m), 0);
	ck_assert_int_eq(treq_run(t, br_api_delete_records), BR_RESPOND);
	rd = treq_response(t);
	ck_assert_int_eq(kp_DeleteRecordsResponse_decode(&rd, version, &t->r.arena, &resp), 0);
	*low = resp.Topics.items[0].Partitions.items[0].LowWatermark;
	*err = resp.Topics.items[0].Partitions.items[0].ErrorCode;
	treq_free(t);
}

START_TEST(delete_records_raises_the_log_start_offset)
{
	int64_t low, off, ts;
	int16_t err;
	fetch_result f;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	for (int i = 0; i < 4; i++)
		produce_ok("t", 0, KP_CODEC_NONE, i * 2, 2, 1000);
	delete_records("t", 0, 3, 0, &low, &err);
	ck_assert_int_eq(err, KE_NONE);
	ck_assert_int_eq(low, 3);
	delete_records("t", 0, 5, 2, &low, &err);
	ck_assert_int_eq(err, KE_NONE);
	ck_assert_int_eq(low, 5);
	/* Lower than the start: nothing changes. */
	delete_records("t", 0, 1, 1, &low, &err);
	ck_assert_int_eq(err, KE_NONE);
	ck_assert_int_eq(low, 5);
	delete_records("t", 0, 99, 1, &low, &err);
	ck_assert_int_eq(err, KE_OFFSET_OUT_OF_RANGE);
	delete_records("t", 4, 1, 1, &low, &err);
	ck_assert_int_eq(err, KE_UNKNOWN_TOPIC_OR_PARTITION);

	list_offsets("t", 0, -2, 5, &off, &ts, &err);
	ck_assert_int_eq(off, 5);
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 2 });
	ck_assert_int_eq(f.err, KE_OFFSET_OUT_OF_RANGE);
	fetch_result_free(&f);
	f = fetch("t", 0, &(fetch_args){ .version = 11, .offset = 5 });
	ck_assert_int_eq(f.err, KE_NONE);
	ck_assert_int_eq(f.log_start, 5);
	fetch_result_free(&f);
	/* -1: up to the high watermark. */
	delete_records("t", 0, -1, 2, &low, &err);
	ck_assert_int_eq(err, KE_NONE);
	ck_assert_int_eq(low, 8);
	broker_close();
}
END_TEST


/* ------------------------------------------------- idempotent producers */

/* InitProducerId at `version`; the handler's return in *rc. */
static kp_InitProducerIdResponse init_pid(int16_t version, const char *txn_id, int64_t pid,
					  int16_t epoch, int *rc)
{
	kp_InitProducerIdRequest m;
	kp_InitProducerIdResponse resp;
	treq *t = treq_new(KP_API_INIT_PRODUCER_ID, version);
	kp_reader rd;

	kp_InitProducerIdRequest_init(&m);
	m.TransactionalId = txn_id ? kp_str_from(txn_id) : (kp_str){ NULL, -1 };
	m.TransactionTimeoutMs = 60000;
	m.ProducerId = pid;
	m.ProducerEpoch = epoch;
	ck_assert_int_eq(kp_InitProducerIdRequest_encode(&t->body, version, &m), 0);
	*rc = treq_run(t, br_api_init_producer_id);
	kp_InitProducerIdResponse_init(&resp);
	if (*rc == BR_RESPOND) {
		rd = treq_response(t);
		ck_assert_int_eq(kp_InitProducerIdResponse_decode(&rd, version, &t->r.arena, &resp), 0);
		ck_assert_uint_eq(kp_reader_left(&rd), 0);
		ck_assert_int_eq(t->r.error_code, resp.ErrorCode);
	}
	treq_free(t);
	return resp;
}

static kp_InitProducerIdResponse init_pid_ok(int16_t version, int64_t pid, int16_t epoch)
{
	int rc;
	kp_InitProducerIdResponse r = init_pid(version, NULL, pid, epoch, &rc);

	ck_assert_int_eq(rc, BR_RESPOND);
	ck_assert_int_eq(r.ErrorCode, KE_NONE);
	return r;
}

START_TEST(init_producer_id_hands_out_unique_ids_that_survive_a_restart)
{
	broker_open();
	for (int16_t v = 0; v <= 5; v++) {
		kp_InitProducerIdResponse r = init_pid_ok(v, -1, -1);
		ck_assert_int_eq(r.ProducerId, v);
		ck_assert_int_eq(r.ProducerEpoch, 0);
	}
	/* A restart (the manager forgets everything but its file) skips the
	 * rest of the reserved block: ids never repeat. */
	memset(&g_b.producer_ids, 0, sizeof(g_b.producer_ids));
	ck_assert_int_eq(init_pid_ok(4, -1, -1).ProducerId, BR_PRODUCER_ID_BLOCK);
	/* Past a block: the next one is reserved on the way. */
	for (int i = 1; i < BR_PRODUCER_ID_BLOCK; i++)
		(void)init_pid_ok(1, -1, -1);
	ck_assert_int_eq(init_pid_ok(1, -1, -1).ProducerId, 2 * BR_PRODUCER_ID_BLOCK);
	memset(&g_b.producer_ids, 0, sizeof(g_b.producer_ids));
	ck_assert_int_eq(init_pid_ok(1, -1, -1).ProducerId, 3 * BR_PRODUCER_ID_BLOCK);
	broker_close();
}
END_TEST

START_TEST(init_producer_id_bumps_the_epoch_of_an_id_it_handed_out)
{
	int rc;

	broker_open();
	kp_InitProducerIdResponse r = init_pid_ok(3, -1, -1);
	ck_assert_int_eq(r.ProducerId, 0);
	r = init_pid_ok(3, 0, 0);
	ck_assert_int_eq(r.ProducerId, 0);
	ck_assert_int_eq(r.ProducerEpoch, 1);
	r = init_pid_ok(4, 0, 1);
	ck_assert_int_eq(r.ProducerId, 0);
	ck_assert_int_eq(r.ProducerEpoch, 2);
	/* After a restart the earlier run's ids are still recognised. */
	memset(&g_b.producer_ids, 0, sizeof(g_b.producer_ids));
	r = init_pid_ok(5, 0, 7);
	ck_assert_int_eq(r.ProducerId, 0);
	ck_assert_int_eq(r.ProducerEpoch, 8);
	/* An id never handed out gets a new one, as does the last epoch. */
	r = init_pid_ok(3, 555555, 3);
	ck_assert_int_eq(r.ProducerId, BR_PRODUCER_ID_BLOCK);
	ck_assert_int_eq(r.ProducerEpoch, 0);
	r = init_pid_ok(3, 0, 32766);
	ck_assert_int_eq(r.ProducerId, BR_PRODUCER_ID_BLOCK + 1);
	ck_assert_int_eq(r.ProducerEpoch, 0);
	/* Before v3 the fields do not exist: always a new id. */
	r = init_pid_ok(2, -1, -1);
	ck_assert_int_eq(r.ProducerId, BR_PRODUCER_ID_BLOCK + 2);
	/* One of the two set is a bad request, as in Kafka. */
	r = init_pid(3, NULL, 0, -1, &rc);
	ck_assert_int_eq(rc, BR_RESPOND);
	ck_assert_int_eq(r.ErrorCode, KE_INVALID_REQUEST);
	ck_assert_int_eq(r.ProducerId, -1);
	r = init_pid(3, NULL, -1, 2, &rc);
	ck_assert_int_eq(r.ErrorCode, KE_INVALID_REQUEST);
	broker_close();
}
END_TEST

START_TEST(init_producer_id_refuses_transactions_bad_files_and_garbage)
{
	int rc;
	char path[512];

	broker_open();
	kp_InitProducerIdResponse r = init_pid(1, "txn-1", -1, -1, &rc);
	ck_assert_int_eq(rc, BR_RESPOND);
	ck_assert_int_eq(r.ErrorCode, KE_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
	ck_assert_int_eq(r.ProducerId, -1);
	r = init_pid(1, "", -1, -1, &rc);
	ck_assert_int_eq(r.ErrorCode, KE_INVALID_REQUEST);

	/* A block file that does not parse: no id rather than a repeated one. */
	snprintf(path, sizeof(path), "%s/producer-id-block", g_dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("0\nbanana\n", f);
	fclose(f);
	r = init_pid(1, NULL, -1, -1, &rc);
	ck_assert_int_eq(rc, BR_RESPOND);
	ck_assert_int_eq(r.ErrorCode, KE_UNKNOWN_SERVER_ERROR);
	ck_assert_int_eq(r.ProducerId, -1);
	f = fopen(path, "w");
	fputs("0\n4000\n", f);
	fclose(f);
	ck_assert_int_eq(init_pid_ok(1, -1, -1).ProducerId, 4000);

	/* A body that does not decode closes the connection. */
	treq *t = treq_new(KP_API_INIT_PRODUCER_ID, 4);
	kp_buf_put(&t->body, "\x05", 1);
	ck_assert_int_lt(treq_run(t, br_api_init_producer_id), 0);
	treq_free(t);
	broker_close();
}
END_TEST

/* One batch of n records from producer pid/epoch at sequence seq. */
static pp_result produce_seq(const char *topic, int64_t pid, int16_t epoch, int32_t seq, int n,
			     int16_t attrs)
{
	kp_batch_builder bb;
	kp_buf b;

	kp_buf_init(&b);
	kp_batch_builder_init(&bb, KP_CODEC_NONE, 0);
	bb.producer_id = pid;
	bb.producer_epoch = epoch;
	bb.base_sequence = seq;
	bb.attributes_extra = attrs;
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(kp_batch_builder_add(&bb, 1000 + i, NULL, -1, "v", 1, NULL, 0), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&bb, &b), 0);
	kp_batch_builder_free(&bb);
	pp_result r = produce(topic, 0, -1, 7, &b);
	kp_buf_free(&b);
	return r;
}

static int64_t end_offset(const char *topic)
{
	br_topic *t = br_topics_get(g_b.topics, topic, strlen(topic));
	ck_assert_ptr_nonnull(t);
	int64_t end = st_log_end_offset(br_topic_part(t, 0)->log);
	br_topic_put(t);
	return end;
}

START_TEST(produce_idempotent_retry_gap_and_old_epoch_get_kafkas_answers)
{
	pp_result r;

	broker_open();
	topic_create("t", 1, NULL, NULL);
	r = produce_seq("t", 0, 0, 0, 3, 0);
	ck_assert_int_eq(r.err, KE_NONE);
	ck_assert_int_eq(r.base_offset, 0);
	r = produce_seq("t", 0, 0, 3, 2, 0);
	ck_assert_int_eq(r.base_offset, 3);
	/* The retry: the original's offset, nothing appended. */
	r = produce_seq("t", 0, 0, 0, 3, 0);
	ck_assert_int_eq(r.err, KE_NONE);
	ck_assert_int_eq(r.base_offset, 0);
	ck_assert_int_eq(r.log_append_time, -1);
	ck_assert_int_eq(end_offset("t"), 5);
	r = produce_seq("t", 0, 0, 9, 1, 0);
	ck_assert_int_eq(r.err, KE_OUT_OF_ORDER_SEQUENCE_NUMBER);
	ck_assert_int_eq(r.base_offset, -1);
	r = produce_seq("t", 0, 1, 0, 1, 0);
	ck_assert_int_eq(r.err, KE_NONE);
	r = produce_seq("t", 0, 0, 5, 1, 0);
	ck_assert_int_eq(r.err, KE_INVALID_PRODUCER_EPOCH);
	r = produce_seq("t", 0, 1, -3, 1, 0);
	ck_assert_int_eq(r.err, KE_INVALID_RECORD);
	r = produce_seq("t", 0, 1, 1, 1, KP_ATTR_TRANSACTIONAL);
	ck_assert_int_eq(r.err, KE_INVALID_TXN_STATE);
	ck_assert_int_eq(end_offset("t"), 6);
	/* Fetch returns each record once. */
	fetch_args fa = { .version = 11, .offset = 0, .part_max = 1 << 20, .max_bytes = 1 << 20 };
	fetch_result fr = fetch("t", 0, &fa);
	ck_assert_int_eq(fr.err, KE_NONE);
	ck_assert_int_eq(fr.hw, 6);
	fetch_result_free(&fr);
	broker_close();
}
END_TEST

static kp_DescribeProducersResponse describe_producers(treq **tp, const char *topic,
						       const int32_t *parts, int n)
{
	kp_DescribeProducersRequest m;
	kp_DescribeProducersRequest_TopicRequest tr;
	kp_DescribeProducersResponse resp;
	treq *t = treq_new(KP_API_DESCRIBE_PRODUCERS, 0);

	kp_DescribeProducersRequest_init(&m);
	kp_DescribeProducersRequest_TopicRequest_init(&tr);
	tr.Name = kp_str_from(topic);
	tr.PartitionIndexes.count = n;
	tr.PartitionIndexes.items = (int32_t *)parts;
	m.Topics.count = 1;
	m.Topics.items = &tr;
	ck_assert_int_eq(kp_DescribeProducersRequest_encode(&t->body, 0, &m), 0);
	ck_assert_int_eq(treq_run(t, br_api_describe_producers), BR_RESPOND);
	kp_reader rd = treq_response(t);
	ck_assert_int_eq(kp_DescribeProducersResponse_decode(&rd, 0, &t->r.arena, &resp), 0);
	ck_assert_uint_eq(kp_reader_left(&rd), 0);
	*tp = t;
	return resp;
}

START_TEST(describe_producers_lists_each_partitions_producers)
{
	treq *t;
	const int32_t parts[] = { 0, 1, 7 };

	broker_open();
	topic_create("t", 2, NULL, NULL);
	ck_assert_int_eq(produce_seq("t", 11, 2, 0, 4, 0).err, KE_NONE);
	ck_assert_int_eq(produce_seq("t", 12, 0, 100, 1, 0).err, KE_NONE);
	kp_DescribeProducersResponse r = describe_producers(&t, "t", parts, 3);
	ck_assert_int_eq(r.Topics.count, 1);
	ck_assert_int_eq(r.Topics.items[0].Partitions.count, 3);
	kp_DescribeProducersResponse_PartitionResponse *p0 = &r.Topics.items[0].Partitions.items[0];
	ck_assert_int_eq(p0->ErrorCode, KE_NONE);
	ck_assert_int_eq(p0->ActiveProducers.count, 2);
	for (int i = 0; i < 2; i++) {
		kp_DescribeProducersResponse_ProducerState *s = &p0->ActiveProducers.items[i];
		ck_assert(s->ProducerId == 11 || s->ProducerId == 12);
		ck_assert_int_eq(s->ProducerEpoch, s->ProducerId == 11 ? 2 : 0);
		ck_assert_int_eq(s->LastSequence, s->ProducerId == 11 ? 3 : 100);
		ck_assert_int_gt(s->LastTimestamp, 0);
		ck_assert_int_eq(s->CoordinatorEpoch, -1);
		ck_assert_int_eq(s->CurrentTxnStartOffset, -1);
	}
	ck_assert_int_eq(r.Topics.items[0].Partitions.items[1].ErrorCode, KE_NONE);
	ck_assert_int_eq(r.Topics.items[0].Partitions.items[1].ActiveProducers.count, 0);
	ck_assert_int_eq(r.Topics.items[0].Partitions.items[2].ErrorCode,
			 KE_UNKNOWN_TOPIC_OR_PARTITION);
	treq_free(t);
	r = describe_producers(&t, "nope", parts, 1);
	ck_assert_int_eq(r.Topics.items[0].Partitions.items[0].ErrorCode,
			 KE_UNKNOWN_TOPIC_OR_PARTITION);
	treq_free(t);
	t = treq_new(KP_API_DESCRIBE_PRODUCERS, 0);
	kp_buf_put(&t->body, "\x02\x7f", 2);
	ck_assert_int_lt(treq_run(t, br_api_describe_producers), 0);
	treq_free(t);
	broker_close();
}
END_TEST

START_TEST(producer_id_expiration_ms_reaches_every_partition_log)
{
	char err[256];

	broker_open();
	ck_assert_int_eq(br_config_set(&g_b.cfg, "producer.id.expiration.ms=0", err, sizeof(err)),
			 BR_ERR_CONFIG);
	ck_assert_int_eq(br_config_set(&g_b.cfg, "producer.id.expiration.ms=12345", err, sizeof(err)), 0);
	ck_assert_int_eq(g_b.cfg.log.producer_id_expiration_ms, 12345);
	topic_create("t", 1, NULL, NULL);
	ck_assert_int_eq(produce_seq("t", 3, 0, 0, 1, 0).err, KE_NONE);
	br_topic *topic = br_topics_get(g_b.topics, "t", 1);
	ck_assert_int_eq(topic->cfg.log.producer_id_expiration_ms, 12345);
	st_producer *ps;
	size_t n;
	ck_assert_int_eq(st_log_producers(topic->parts[0]->log, &ps, &n), 0);
	ck_assert_int_eq(n, 1);
	/* The retention pass forgets it once idle that long. */
	ck_assert_int_eq(br_topics_enforce_retention(g_b.topics, ps[0].last_timestamp + 12346), 0);
	free(ps);
	ck_assert_int_eq(st_log_producers(topic->parts[0]->log, &ps, &n), 0);
	ck_assert_int_eq(n, 0);
	br_topic_put(topic);
	broker_close();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("produce_fetch");
	TCase *tc = tcase_create("data");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, produce_assigns_offsets_and_fetch_returns_every_record);
	tcase_add_test(tc, produce_versions_3_to_9_answer_in_their_encoding);
	tcase_add_test(tc, produce_acks0_appends_and_sends_nothing);
	tcase_add_test(tc, produce_corrupt_crc_is_corrupt_message_and_appends_nothing);
	tcase_add_test(tc, produce_v8_says_why_and_names_the_record);
	tcase_add_test(tc, produce_checks_timestamps_against_the_difference_window);
	tcase_add_test(tc, produce_acks_all_needs_min_insync_replicas_in_sync);
	tcase_add_test(tc, produce_to_an_offline_log_is_logged_once);
	tcase_add_test(tc, names_that_could_collide_are_warned_of_but_not_internal_ones);
	tcase_add_test(tc, a_created_topic_logs_one_line_and_a_start_one_per_partition);
	tcase_add_test(tc, produce_refusal_of_one_partition_leaves_the_others_appended);
	tcase_add_test(tc, produce_batch_over_max_message_bytes_is_message_too_large);
	tcase_add_test(tc, produce_unknown_partition_or_topic_is_refused);
	tcase_add_test(tc, produce_log_append_time_topic_stamps_the_broker_time);
	tcase_add_test(tc, produce_recompresses_to_the_topic_codec_keeping_records);
	tcase_add_test(tc, fetch_out_of_range_offsets_are_refused);
	tcase_add_test(tc, fetch_bounds_by_partition_bytes_but_returns_one_batch_at_least);
	tcase_add_test(tc, fetch_versions_4_to_13_and_topic_ids);
	tcase_add_test(tc, fetch_sessions_are_declined_or_not_found);
	tcase_add_test(tc, fetch_long_poll_is_answered_when_records_arrive);
	tcase_add_test(tc, fetch_long_poll_times_out_with_what_is_there);
	tcase_add_test(tc, fetch_parked_for_a_gone_client_completes_without_it);
	tcase_add_test(tc, list_offsets_earliest_latest_by_time_and_max_timestamp);
	tcase_add_test(tc, current_leader_epoch_is_checked_by_fetch_and_list_offsets);
	tcase_add_test(tc, delete_records_raises_the_log_start_offset);
	tcase_add_test(tc, init_producer_id_hands_out_unique_ids_that_survive_a_restart);
	tcase_add_test(tc, init_producer_id_bumps_the_epoch_of_an_id_it_handed_out);
	tcase_add_test(tc, init_producer_id_refuses_transactions_bad_files_and_garbage);
	tcase_add_test(tc, produce_idempotent_retry_gap_and_old_epoch_get_kafkas_answers);
	tcase_add_test(tc, describe_producers_lists_each_partitions_producers);
	tcase_add_test(tc, producer_id_expiration_ms_reaches_every_partition_log);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	if (!getenv("CK_FORK"))
		srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
