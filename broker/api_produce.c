/*
 * api_produce.c -- the Produce API (key 0): record batches into partition logs.
 *
 * A request names topics and partitions, each with a buffer of RecordBatch v2
 * bytes. Per partition the handler checks what Kafka checks before an
 * append -- the topic and partition exist (or are auto-created), every batch
 * is no larger than the topic's max.message.bytes, has magic 2 and a record
 * count that matches its offset deltas -- and then hands the batches to
 * st_log_append(), which checks every CRC and every record before queueing
 * anything (so a bad batch appends nothing: CORRUPT_MESSAGE; records that do
 * not parse or lack a key on a compacted topic: INVALID_RECORD; a timestamp
 * outside message.timestamp.before/after.max.ms: INVALID_TIMESTAMP), sets a
 * wrong maxTimestamp from the records, assigns offsets (and LogAppendTime
 * when the topic says so) and queues them to storage's writer thread. A batch
 * whose codec differs from the topic's compression.type is rebuilt with the
 * topic's codec first (records, timestamps, headers and producer fields kept).
 * A partition with a bad batch appends nothing; other partitions of the same
 * request are not affected, as in Kafka. The refusal goes back with its
 * reason (Produce v8+ ErrorMessage) and, when one record is at fault, that
 * record's index in its batch (RecordErrors, KIP-467): storage words what
 * it refuses (st_append.refused_why), this file what it refuses itself.
 *
 * Idempotent producers: storage checks each batch's producer id, epoch and
 * sequence under the log lock (st_log_append). A retry of a batch already
 * appended comes back as a duplicate and is answered with the original's
 * base offset, as Kafka answers it; a sequence gap is
 * OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch INVALID_PRODUCER_EPOCH.
 * Transactional batches are refused (INVALID_TXN_STATE): no producer can
 * hold a transactional id here (producer_ids.c).
 *
 * Completion: each accepted append's callback runs on the writer thread once
 * its bytes are written (and synced, per the log's flush policy). It records
 * the result, wakes long-poll fetches on the partition and counts down
 * `pending`; the last one posts produce_finish() to the request's reactor,
 * which encodes the response and calls br_request_done(). The handler holds
 * one count of its own while it queues appends, so if every callback has run
 * before it returns it answers at once (BR_RESPOND) and nothing is posted.
 *
 * Auto-create: a Produce naming a topic that does not exist creates it
 * when auto.create.topics.enable says so. Creating writes and fsyncs
 * files, which a reactor must not wait for: the request is parked, the
 * admin thread creates the missing topics, and the handler then runs again
 * on the request's reactor with the topics in place (or refused, when the
 * create failed).
 *
 * Memory: the appended bytes are views into the request's frame (or a
 * rebuilt buffer owned by the state), which storage borrows until the
 * callback -- the frame lives as long as the parked request. acks=0 has no
 * request to park (the net layer frees it when the handler returns), so its
 * batches are copied into the state first. The state (malloc'ed, not in the
 * request's arena, because with acks=0 it outlives the request) holds a
 * reference on every topic it appends to; those are dropped on the reactor,
 * never on the writer thread, because the last reference of a deleted topic
 * closes its logs, which a storage callback must not do.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"

/* One partition entry of the request, and its outcome. */
typedef struct produce_part {
	struct produce_state *ps;     /* back-pointer for the storage callback */
	kp_ProduceResponse_PartitionProduceResponse *out;   /* in the response */
	br_topic *topic;              /* borrowed from the state's reference, or NULL */
	bool topic_ref;               /* this entry holds that reference */
	br_part *part;                /* borrowed from topic */
	st_append app;
	kp_buf owned;                 /* rebuilt or copied bytes, when not the frame's */
	int err;                      /* the callback's error */
	bool queued;                  /* st_log_append() accepted it */
} produce_part;

typedef struct produce_state {
	br_request *req;              /* NULL for acks=0: the request is gone */
	br_reactor *reactor;          /* where cleanup runs */
	kp_ProduceResponse resp;      /* arrays in req->arena (acks != 0 only) */
	atomic_int pending;           /* queued appends not yet called back, +1
	                                 for the handler while it runs */
	size_t n_parts;
	produce_part parts[];
} produce_state;

static void produce_state_free(produce_state *ps)
{
	for (size_t i = 0; i < ps->n_parts; i++) {
		kp_buf_free(&ps->parts[i].owned);
		if (ps->parts[i].topic_ref)
			br_topic_put(ps->parts[i].topic);
	}
	free(ps);
}

/*
 * Rebuilds every batch of [data, data+len) (already validated) with `codec`
 * into out, keeping each record's timestamp, key, value and headers and each
 * batch's producer id, epoch, base sequence and attribute bits. 0 or a kp_err.
 */
static int produce_recompress(const uint8_t *data, size_t len, int codec, int32_t max_bytes,
			      kp_buf *out)
{
	size_t pos = 0;

	while (pos < len) {
		kp_batch_header h;
		kp_record_iter it;
		kp_batch_builder bb;
		kp_record rec;
		kp_header hdrs_small[16];
		kp_header *hdrs = hdrs_small;
		int err, more;

		err = kp_batch_validate(data + pos, len - pos, &h);
		if (err)
			return err;
		/* A batch's records inflate to at most a few times max.message.bytes
		 * in practice; the bound keeps a zip bomb from taking the heap. */
		err = kp_record_iter_init(&it, data + pos, kp_batch_size(&h),
					  (size_t)max_bytes * 64 + (1u << 20));
		if (err) {
			kp_record_iter_free(&it);
			return err;
		}
		kp_batch_builder_init(&bb, codec, 0);
		bb.attributes_extra = (int16_t)(h.attributes & ~KP_ATTR_CODEC_MASK);
		bb.producer_id = h.producer_id;
		bb.producer_epoch = h.producer_epoch;
		bb.base_sequence = h.base_sequence;
		while ((more = kp_record_iter_next(&it, &rec)) == 1) {
			size_t hp = 0;
			int32_t nh = 0;
			kp_header hv;

			if (rec.headers_count > (int32_t)(sizeof(hdrs_small) / sizeof(hdrs_small[0]))) {
				if (hdrs != hdrs_small)
					free(hdrs);
				hdrs = calloc((size_t)rec.headers_count, sizeof(*hdrs));
				if (!hdrs) {
					hdrs = hdrs_small;
					more = KP_ERR_NOMEM;
					break;
				}
			}
			while (nh < rec.headers_count &&
			       (more = kp_record_header_next(&rec, &hp, &hv)) == 1)
				hdrs[nh++] = hv;
			if (more < 0)
				break;
			err = kp_batch_builder_add(&bb, rec.timestamp, rec.key, rec.key_len,
						   rec.value, rec.value_len, hdrs, nh);
			if (err) {
				more = err;
				break;
			}
		}
		if (hdrs != hdrs_small)
			free(hdrs);
		if (more == 0)
			more = kp_batch_builder_finish(&bb, out);
		kp_batch_builder_free(&bb);
		kp_record_iter_free(&it);
		if (more < 0)
			return more;
		pos += kp_batch_size(&h);
	}
	return out->err;
}

/*
 * Checks every batch of one partition's records. Returns KE_NONE, or the
 * Kafka error for the partition. *needs_rebuild is set when a batch's codec
 * differs from the topic's compression.type.
 */
static int16_t produce_check(const br_topic *topic, const uint8_t *data, size_t len,
			     int16_t version, bool *needs_rebuild, const char **why)
{
	size_t pos = 0;

	*needs_rebuild = false;
	if (len == 0) {
		*why = "no record batch";
		return KE_CORRUPT_MESSAGE;
	}
	while (pos < len) {
		kp_batch_header h;
		int err;

		/* An old message set (magic 0 or 1) keeps its magic byte where a
		 * v2 batch does (offset 16), but a small one is shorter than a v2
		 * header: look at the byte before parsing, so it is named for
		 * what it is rather than called corrupt. Kafka answers produce
		 * v3+ with INVALID_RECORD (ProduceRequest.validateRecords); for
		 * v0-v2, which carry such message sets, Kafka 3 converts them
		 * and rewind, storing v2 only, says the format is unsupported. */
		if (len - pos > 16 && (data[pos + 16] == 0 || data[pos + 16] == 1)) {
			*why = version >= 3 ? "Produce requests with version 3 and above are only "
					      "allowed to contain record batches with magic version 2"
					    : "message format v0/v1 (magic 0 or 1): rewind stores "
					      "record batches v2 only";
			return version >= 3 ? KE_INVALID_RECORD : KE_UNSUPPORTED_FOR_MESSAGE_FORMAT;
		}
		err = kp_batch_header_parse(data + pos, len - pos, &h);

		if (err == 0 && topic->cfg.max_message_bytes > 0 &&
		    kp_batch_size(&h) > (size_t)topic->cfg.max_message_bytes) {
			*why = "batch larger than max.message.bytes";
			return KE_MESSAGE_TOO_LARGE;
		}
		/* The CRC is left to st_log_append(), which checks every batch of
		 * the buffer before queueing any: one pass over the bytes, not
		 * two. A batch that is rebuilt is checked before (recompress). */
		if (err == 0 && kp_batch_size(&h) > len - pos)
			err = KP_ERR_SHORT;
		if (err == KP_ERR_MAGIC) {
			*why = "message format other than v2 (magic 2)";
			return version >= 3 ? KE_INVALID_RECORD : KE_UNSUPPORTED_FOR_MESSAGE_FORMAT;
		}
		if (err) {
			*why = kp_strerror(err);
			return KE_CORRUPT_MESSAGE;
		}
		/* Kafka's LogValidator: the batch must hold records, and its
		 * offset deltas must run 0 .. count-1 (offsets are the broker's). */
		if (h.records_count <= 0 || h.last_offset_delta != h.records_count - 1) {
			*why = "record count does not match lastOffsetDelta";
			return KE_CORRUPT_MESSAGE;
		}
		if (h.attributes & KP_ATTR_CONTROL) {
			*why = "control batch from a producer";
			return KE_CORRUPT_MESSAGE;
		}
		if (h.attributes & KP_ATTR_TRANSACTIONAL) {
			*why = "transactional batch (transactions are not supported)";
			return KE_INVALID_TXN_STATE;
		}
		if (kp_batch_codec(&h) > KP_CODEC_ZSTD) {
			*why = "unknown compression codec";
			return KE_CORRUPT_MESSAGE;
		}
		if (topic->cfg.compression_type >= 0 &&
		    kp_batch_codec(&h) != topic->cfg.compression_type)
			*needs_rebuild = true;
		pos += kp_batch_size(&h);
	}
	return KE_NONE;
}

/* Runs on the request's reactor once every append has called back. */
static void produce_finish(void *arg)
{
	produce_state *ps = arg;
	br_request *req = ps->req;

	if (!req) {
		produce_state_free(ps);
		return;
	}
	for (size_t i = 0; i < ps->n_parts; i++) {
		produce_part *pp = &ps->parts[i];

		if (!pp->queued)
			continue;
		if (pp->err) {
			pp->out->ErrorCode = br_request_note_error(req, br_kafka_error(pp->err));
			pp->out->BaseOffset = -1;
			pp->out->LogAppendTimeMs = -1;
			pp->out->LogStartOffset = -1;
		} else {
			pp->out->ErrorCode = KE_NONE;
			pp->out->BaseOffset = pp->app.base_offset;
			pp->out->LogAppendTimeMs = pp->app.log_append_time;
			pp->out->LogStartOffset = st_log_start_offset(pp->part->log);
		}
	}
	if (kp_ProduceResponse_encode(&req->resp, req->api_version, &ps->resp) != 0)
		br__logf(ST_LOG_ERROR, "produce from %s: response encoding failed: %s", req->peer,
			 kp_strerror(req->resp.err));
	produce_state_free(ps);
}

/* Runs on the request's reactor after the last storage callback. */
static void produce_done_task(void *arg)
{
	produce_state *ps = arg;
	br_request *req = ps->req;

	produce_finish(ps);
	if (req)
		br_request_done(req);
}

/* Storage callback. @locality writer */
static void produce_appended_cb(st_append *a, int err)
{
	produce_part *pp = a->arg;
	produce_state *ps = pp->ps;

	pp->err = err;
	/* A failed write is logged by storage, which names the file and does
	 * not repeat itself while a disk stays full; the appends discarded
	 * behind it (ST_ERR_TRUNCATED) are its consequence. */
	if (err == 0 && a->duplicate)
		br__logf(ST_LOG_INFO, "produce to %s-%d: retry of the batch at offsets %lld-%lld "
			 "answered with its offsets, not appended again", pp->topic->name,
			 pp->part->index, (long long)a->base_offset, (long long)a->last_offset);
	else if (err == 0)
		br_part_wake_fetches(pp->part);
	if (atomic_fetch_sub(&ps->pending, 1) != 1)
		return;
	/* The last callback: the handler has returned (it held a count), so the
	 * request is parked (or, with acks=0, gone). */
	if (br_reactor_post(ps->reactor, produce_done_task, ps) != 0)
		br__logf(ST_LOG_ERROR, "produce: cannot post completion to reactor (out of memory); "
			 "a request stays unanswered");
}

/* Looks the topic up, auto-creating it when the broker allows and
 * `may_create` (false once the admin thread has tried). */
static br_topic *produce_topic(br_request *req, kp_str name, bool may_create, int16_t *code)
{
	br_topics *ts = req->broker->topics;
	br_topic *t;
	char errbuf[256];

	*code = KE_UNKNOWN_TOPIC_OR_PARTITION;
	if (name.len <= 0)
		return NULL;
	t = br_topics_get(ts, (const char *)name.p, (size_t)name.len);
	if (t || !req->broker->cfg.auto_create_topics_enable || !may_create)
		return t;
	errbuf[0] = '\0';
	*code = br_topics_create(ts, (const char *)name.p, (size_t)name.len, -1, NULL, NULL, 0,
				 false, errbuf, sizeof(errbuf));
	if (*code != KE_NONE && *code != KE_TOPIC_ALREADY_EXISTS) {
		br__logf(ST_LOG_WARN, "produce from %s: auto-creating topic %.*s failed: %s",
			 req->peer, (int)name.len, (const char *)name.p, errbuf);
		return NULL;
	}
	br__logf(ST_LOG_INFO, "auto-created topic %.*s on produce from %s", (int)name.len,
		 (const char *)name.p, req->peer);
	t = br_topics_get(ts, (const char *)name.p, (size_t)name.len);
	*code = t ? KE_NONE : KE_UNKNOWN_TOPIC_OR_PARTITION;
	return t;
}

/*
 * Answers one partition with a refusal: its Kafka error and, in Produce v8+,
 * the reason as ErrorMessage and the record at fault (index >= 0) as
 * RecordErrors, which Kafka fills for what its LogValidator refuses and
 * Java clients show; rewind gives the reason for every refusal it has
 * words for. The strings live in the request's arena.
 */
static void produce_refuse(br_request *req, produce_part *pp, int16_t code, int32_t index,
			   const char *why)
{
	pp->out->ErrorCode = br_request_note_error(req, code);
	pp->out->ErrorMessage = br__kstr_msg(&req->arena, why);
	if (index < 0 || pp->out->ErrorMessage.len <= 0)
		return;
	kp_ProduceResponse_BatchIndexAndErrorMessage *e =
		kp_arena_calloc(&req->arena, 1, sizeof(*e));
	if (!e)
		return;   /* the error code and message still go out */
	kp_ProduceResponse_BatchIndexAndErrorMessage_init(e);
	e->BatchIndex = index;
	e->BatchIndexErrorMessage = pp->out->ErrorMessage;
	pp->out->RecordErrors.count = 1;
	pp->out->RecordErrors.items = e;
}

/* How often a produce refusal for a partition's state is logged. */
#define STATE_REFUSAL_LOG_MS 10000

/* True when a refusal that every request to the partition meets while a
 * state lasts is due a log line: the first, then one per
 * STATE_REFUSAL_LOG_MS per partition. */
static bool state_refusal_log_due(br_part *part)
{
	int64_t now = br__now_ms();
	int64_t last = atomic_load(&part->state_refusal_logged_ms);
	return (last == 0 || now - last >= STATE_REFUSAL_LOG_MS) &&
	       atomic_compare_exchange_strong(&part->state_refusal_logged_ms, &last, now);
}

/* Whether storage's refusal err is the log's state -- offline after a
 * failed sync, closing, a segment that cannot be created on a full disk --
 * rather than anything in the request. */
static bool refusal_is_log_state(int err)
{
	bool errno_err = err < 0 && err > -1000;   /* -errno: a roll that failed */
	return err == ST_ERR_OFFLINE || err == ST_ERR_CLOSING || errno_err;
}

/*
 * Validates and queues one partition's records. Sets pp->out's error for a
 * refusal; on success pp->queued is set and the callback will run.
 */
static void produce_partition(br_request *req, produce_state *ps, produce_part *pp,
			      kp_str tname, const kp_ProduceRequest_PartitionProduceData *pd,
			      int16_t acks, int64_t now_ms)
{
	const uint8_t *data = pd->Records.p;
	size_t len = pd->Records.len > 0 ? (size_t)pd->Records.len : 0;
	const char *why = NULL;
	bool rebuild;
	int16_t code;
	int err;

	pp->part = br_topic_part(pp->topic, pd->Index);
	if (!pp->part) {
		pp->out->ErrorCode = br_request_note_error(req, KE_UNKNOWN_TOPIC_OR_PARTITION);
		return;
	}
	/* Kafka's check comes before the records are looked at: acks=all
	 * promises min.insync.replicas copies, so fewer replicas in sync
	 * refuse it (NOT_ENOUGH_REPLICAS, which producers retry); acks 0 and
	 * 1 do not ask. */
	if (acks == -1 && pp->topic->cfg.min_insync_replicas > BR_IN_SYNC_REPLICAS) {
		char msg[400];   /* room for a 249-character topic name */
		snprintf(msg, sizeof(msg), "The size of the current ISR (%d) is insufficient to "
			 "satisfy the min.isr requirement of %" PRId32 " for partition %.*s-%" PRId32,
			 BR_IN_SYNC_REPLICAS, pp->topic->cfg.min_insync_replicas, (int)tname.len,
			 (const char *)tname.p, pd->Index);
		if (state_refusal_log_due(pp->part))
			br__logf(ST_LOG_WARN, "produce from %s refused: %s", req->peer, msg);
		produce_refuse(req, pp, KE_NOT_ENOUGH_REPLICAS, -1, msg);
		return;
	}
	code = produce_check(pp->topic, data, len, req->api_version, &rebuild, &why);
	if (code != KE_NONE) {
		br__logf(ST_LOG_WARN, "produce from %s to %.*s-%d refused: %s", req->peer,
			 (int)tname.len, (const char *)tname.p, pd->Index, why);
		produce_refuse(req, pp, code, -1, why);
		return;
	}
	if (rebuild) {
		err = produce_recompress(data, len, pp->topic->cfg.compression_type,
					 pp->topic->cfg.max_message_bytes, &pp->owned);
		if (err) {
			br__logf(ST_LOG_WARN, "produce from %s to %.*s-%d: cannot recompress: %s",
				 req->peer, (int)tname.len, (const char *)tname.p, pd->Index,
				 kp_strerror(err));
			produce_refuse(req, pp, err == KP_ERR_NOMEM ? KE_UNKNOWN_SERVER_ERROR
								   : KE_CORRUPT_MESSAGE,
				       -1, kp_strerror(err));
			kp_buf_free(&pp->owned);
			return;
		}
		pp->app.data = pp->owned.data;
		pp->app.len = pp->owned.len;
	} else if (acks == 0) {
		/* Nobody waits: the frame goes with the request, not the append. */
		kp_buf_put(&pp->owned, data, len);
		if (pp->owned.err) {
			pp->out->ErrorCode = br_request_note_error(req, KE_UNKNOWN_SERVER_ERROR);
			return;
		}
		pp->app.data = pp->owned.data;
		pp->app.len = pp->owned.len;
	} else {
		/* Storage rewrites baseOffset in place: the frame is ours while
		 * the request is parked. */
		pp->app.data = (uint8_t *)data;
		pp->app.len = len;
	}
	pp->app.leader_epoch = 0;
	pp->app.cb = produce_appended_cb;
	pp->app.arg = pp;
	atomic_fetch_add(&ps->pending, 1);
	err = st_log_append(pp->part->log, &pp->app, now_ms);
	if (err) {
		kp_batch_header h;
		atomic_fetch_sub(&ps->pending, 1);
		/* A sequence refusal names the producer (from the first batch,
		 * which storage has validated); a refusal of the bytes says what
		 * in them is wrong. */
		if ((err == ST_ERR_OUT_OF_ORDER_SEQUENCE || err == ST_ERR_INVALID_PRODUCER_EPOCH) &&
		    kp_batch_header_parse(pp->app.data, pp->app.len, &h) == 0)
			br__logf(ST_LOG_WARN, "produce from %s to %.*s-%d: producer %lld epoch %d "
				 "sequence %d (%d records) refused: %s", req->peer, (int)tname.len,
				 (const char *)tname.p, pd->Index, (long long)h.producer_id,
				 h.producer_epoch, h.base_sequence, h.records_count, st_strerror(err));
		else if (err != ST_ERR_DELETING &&    /* the topic's "deleting" line says it */
			 (!refusal_is_log_state(err) || state_refusal_log_due(pp->part)))
			br__logf(ST_LOG_WARN, "produce from %s to %.*s-%d: append refused: %s",
				 req->peer, (int)tname.len, (const char *)tname.p, pd->Index,
				 pp->app.refused_why[0] ? pp->app.refused_why : st_strerror(err));
		produce_refuse(req, pp, br_kafka_error(err), pp->app.refused_index,
			       pp->app.refused_why);
		return;
	}
	pp->queued = true;
}

static int produce_handle(br_request *req, bool may_create);

/* A request parked while the admin thread creates its missing topics. */
typedef struct produce_offload {
	br_request *req;
	kp_reader body;               /* the body as it was before decoding */
	const kp_ProduceRequest *msg; /* decoded once, in req->arena */
} produce_offload;

/* Back on the request's reactor: the handler runs again, creating nothing,
 * and its outcome completes the parked request as the net layer would. A
 * handler refusing the request marks the response failed: the net layer
 * then closes the connection naming why. @locality the request's reactor */
static void produce_offload_done(void *arg)
{
	produce_offload *po = arg;
	br_request *req = po->req;
	int rc;

	req->body = po->body;
	rc = produce_handle(req, false);
	if (rc == BR_PARKED)
		return;         /* its storage callbacks complete it */
	if (rc == BR_NO_RESPONSE)
		req->no_response = true;
	if (rc < 0) {
		br__logf(ST_LOG_WARN, "produce from %s: %s", req->peer,
			 req->fail_why[0] ? req->fail_why : "refused");
		if (req->resp.err == 0)
			req->resp.err = rc;
	}
	br_request_done(req);
}

/* @locality admin */
static void produce_offload_run(void *arg)
{
	produce_offload *po = arg;
	br_request *req = po->req;
	const kp_ProduceRequest *msg = po->msg;

	for (int32_t t = 0; t < msg->TopicData.count; t++) {
		const kp_ProduceRequest_TopicProduceData *td = &msg->TopicData.items[t];
		int16_t code;
		br_topic *topic;

		if (td->PartitionData.count <= 0)
			continue;
		topic = produce_topic(req, td->Name, true, &code);
		if (topic)
			br_topic_put(topic);
	}
	/* Without memory for the post, the request is lost until shutdown:
	 * said rather than hidden, as conn.c does for its offloads. */
	if (br_reactor_post(req->reactor, produce_offload_done, po) < 0)
		br__logf(ST_LOG_ERROR, "out of memory returning a Produce request to %s; it is lost",
			 req->peer);
}

/*
 * When the request names a topic that auto-create would make, parks it for
 * the admin thread (BR_PARKED); otherwise 0 and the caller handles it
 * here. @locality reactor
 */
static int produce_offload_if_creating(br_request *req)
{
	kp_reader body = req->body;
	kp_ProduceRequest *msg = kp_arena_calloc(&req->arena, 1, sizeof(*msg));
	bool missing = false;

	if (!msg || kp_ProduceRequest_decode(&req->body, req->api_version, &req->arena, msg) != 0) {
		req->body = body;   /* the handler reports the error */
		return 0;
	}
	req->body = body;
	if (msg->Acks != 0 && msg->Acks != 1 && msg->Acks != -1)
		return 0;
	for (int32_t t = 0; t < msg->TopicData.count && !missing; t++) {
		const kp_ProduceRequest_TopicProduceData *td = &msg->TopicData.items[t];
		br_topic *topic;

		if (td->PartitionData.count <= 0 || td->Name.len <= 0)
			continue;
		topic = br_topics_get(req->broker->topics, (const char *)td->Name.p,
				      (size_t)td->Name.len);
		if (topic)
			br_topic_put(topic);
		else
			missing = true;
	}
	if (!missing)
		return 0;
	produce_offload *po = kp_arena_calloc(&req->arena, 1, sizeof(*po));
	if (!po)
		return 0;
	po->req = req;
	po->body = body;
	po->msg = msg;
	if (br_reactor_post(req->broker->admin, produce_offload_run, po) < 0)
		return 0;   /* no memory to post: create here rather than fail */
	return BR_PARKED;
}

int br_api_produce(br_request *req)
{
	if (req->broker->admin && req->broker->cfg.auto_create_topics_enable) {
		int rc = produce_offload_if_creating(req);
		if (rc != 0)
			return rc;
	}
	return produce_handle(req, true);
}

/* The handler proper; may_create as for produce_topic(). */
static int produce_handle(br_request *req, bool may_create)
{
	kp_ProduceRequest msg;
	produce_state *ps;
	size_t n = 0, k = 0;
	bool acks0;
	int64_t now_ms = br__wall_ms();
	int err;

	err = kp_ProduceRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed Produce request");
	for (int32_t t = 0; t < msg.TopicData.count; t++)
		n += (size_t)(msg.TopicData.items[t].PartitionData.count > 0
			      ? msg.TopicData.items[t].PartitionData.count : 0);
	acks0 = msg.Acks == 0;

	ps = calloc(1, sizeof(*ps) + n * sizeof(ps->parts[0]));
	if (!ps)
		return br_request_fail(req, -ENOMEM, "out of memory for a Produce request");
	ps->req = acks0 ? NULL : req;
	ps->reactor = req->reactor;
	ps->n_parts = n;
	atomic_init(&ps->pending, 1);

	/* The response mirrors the request; with acks=0 it is built anyway (in
	 * the arena, which lives until the handler returns) but never sent. */
	kp_ProduceResponse_init(&ps->resp);
	ps->resp.Responses.count = msg.TopicData.count > 0 ? msg.TopicData.count : 0;
	ps->resp.Responses.items = kp_arena_calloc(&req->arena, (size_t)ps->resp.Responses.count + 1,
						   sizeof(*ps->resp.Responses.items));
	if (!ps->resp.Responses.items) {
		free(ps);
		return br_request_fail(req, -ENOMEM, "out of memory for a Produce response");
	}
	/* Every allocation comes first: once an append is queued the state
	 * belongs to its callback, and a failure then could not unwind. */
	for (int32_t t = 0; t < ps->resp.Responses.count; t++) {
		const kp_ProduceRequest_TopicProduceData *td = &msg.TopicData.items[t];
		kp_ProduceResponse_TopicProduceResponse *tr = &ps->resp.Responses.items[t];
		int32_t np = td->PartitionData.count > 0 ? td->PartitionData.count : 0;

		kp_ProduceResponse_TopicProduceResponse_init(tr);
		tr->Name = td->Name;
		tr->PartitionResponses.count = np;
		tr->PartitionResponses.items = kp_arena_calloc(&req->arena, (size_t)np + 1,
							       sizeof(*tr->PartitionResponses.items));
		if (!tr->PartitionResponses.items) {
			free(ps);
			return br_request_fail(req, -ENOMEM, "out of memory for a Produce response");
		}
		for (int32_t p = 0; p < np; p++) {
			produce_part *pp = &ps->parts[k++];

			pp->ps = ps;
			pp->out = &tr->PartitionResponses.items[p];
			kp_ProduceResponse_PartitionProduceResponse_init(pp->out);
			pp->out->Index = td->PartitionData.items[p].Index;
			pp->out->BaseOffset = -1;
			pp->out->LogStartOffset = -1;
			kp_buf_init(&pp->owned);
		}
	}
	k = 0;
	for (int32_t t = 0; t < ps->resp.Responses.count; t++) {
		const kp_ProduceRequest_TopicProduceData *td = &msg.TopicData.items[t];
		int32_t np = td->PartitionData.count > 0 ? td->PartitionData.count : 0;
		br_topic *topic = NULL;
		int16_t tcode = KE_INVALID_REQUIRED_ACKS;

		if (np > 0 && (msg.Acks == 0 || msg.Acks == 1 || msg.Acks == -1))
			topic = produce_topic(req, td->Name, may_create, &tcode);
		for (int32_t p = 0; p < np; p++) {
			produce_part *pp = &ps->parts[k++];

			if (!topic) {
				pp->out->ErrorCode = br_request_note_error(req, tcode);
				continue;
			}
			/* The first entry of the topic keeps the lookup's reference
			 * for all of them; they are freed together. */
			pp->topic = topic;
			pp->topic_ref = p == 0;
			produce_partition(req, ps, pp, td->Name, &td->PartitionData.items[p], msg.Acks,
					  now_ms);
		}
	}

	if (acks0) {
		/* Nobody waits: drop the handler's count; the last callback (or
		 * this, if none is left) frees the state on this reactor. */
		if (atomic_fetch_sub(&ps->pending, 1) == 1)
			produce_state_free(ps);
		return BR_NO_RESPONSE;
	}
	if (atomic_fetch_sub(&ps->pending, 1) != 1)
		return BR_PARKED;
	/* Every append has already called back (or none was queued). */
	produce_finish(ps);
	return req->resp.err ? br_request_fail(req, req->resp.err, "Produce response encoding")
	                     : BR_RESPOND;
}
