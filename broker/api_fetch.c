/*
 * api_fetch.c -- the Fetch API (key 1): record batches out of partition logs,
 * zero copy, with long polling.
 *
 * Per requested partition the handler reads with st_log_read() from the
 * fetch offset up to the high watermark (consumers) or the readable end
 * (replicas, replica_id >= 0): a slice of one segment file holding whole
 * batches. The slice is not copied: the response's Records field is an
 * external region (kp_records.external) and the slice goes to the request
 * with br_request_add_slice(), so the net layer sends it with sendfile().
 * Limits follow Kafka (KIP-74): each partition gets at most
 * PartitionMaxBytes and the response at most MaxBytes, except that the first
 * batch of the first non-empty partition is returned whatever its size, so a
 * consumer always makes progress.
 *
 * Long poll: when fewer than MinBytes are readable and MaxWaitMs > 0 the
 * request is parked. A br_fetch_waiter per partition goes on the partition's
 * list (br_part.waiters under br_part.mu) and a libevent timer on the
 * request's reactor. br_part_wake_fetches(), called by the produce path from
 * storage's writer thread once an append is readable, posts a wake task to
 * each waiter's reactor; the task reads again and answers when MinBytes are
 * there. The timer answers with whatever is there. Nothing blocks: the only
 * lock is br_part.mu, held to walk or change a list and to post.
 *
 * Lifetime: the fetch state is malloc'ed and reference counted, because a
 * wake task posted from the writer thread may run after the request was
 * answered. References: one for the request until it is answered, one per
 * posted wake task. Waiters are unlinked (under each partition's mu) when
 * the request is answered, so no wake is posted for an answered request; a
 * task already posted finds `answered` and only drops its reference. All of
 * this happens on the request's reactor, except the posting itself.
 * A client that goes away while its fetch is parked: the net layer calls
 * the request's on_gone hook, which answers at once (br_request_done()
 * drops the response), so the partitions and topics are let go then.
 *
 * Fetch sessions (KIP-227): none are kept. A full fetch (epoch -1) is served
 * as it is; a request to create a session (epoch 0) is served as a full
 * fetch and declined by answering SessionId 0, which KIP-227 allows; any
 * other epoch names a session we cannot have: FETCH_SESSION_ID_NOT_FOUND.
 * read_committed reads up to the last stable offset, which equals the high
 * watermark until transactions exist.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "broker/br_int.h"

/* A parked fetch's entry on one partition's waiter list. */
struct br_fetch_waiter {
	struct br_fetch_waiter *next;
	struct br_fetch_waiter **pprev;   /* the pointer that points at us */
	struct fetch_state *fs;
	br_part *part;
	bool linked;
};

/* One requested partition. */
typedef struct fetch_item {
	br_topic *topic;              /* borrowed from the state's reference, or NULL */
	bool topic_ref;               /* this item holds the topic's reference */
	br_part *part;                /* NULL when code says why */
	int16_t code;                 /* error known before reading */
	const kp_FetchRequest_FetchPartition *fp;   /* in req->arena */
	kp_FetchResponse_PartitionData *out;        /* in req->arena */
	/* the latest read */
	int16_t err;
	int64_t hw, log_start;
	st_slice slice;               /* len 0 when nothing is held */
} fetch_item;

typedef struct fetch_state {
	br_request *req;              /* NULL once answered */
	br_reactor *reactor;
	atomic_int refs;
	atomic_bool wake_posted;      /* a wake task is queued: no need for another */
	bool parked;
	bool answered;
	bool replica;                 /* ReplicaId >= 0: read to the readable end */
	bool read_committed;
	int32_t min_bytes;
	int64_t max_bytes;
	struct event *timer;
	kp_FetchResponse resp;        /* arrays in req->arena */
	size_t n_items;
	fetch_item *items;
	struct br_fetch_waiter *waiters;   /* n_items of them */
} fetch_state;

static void fetch_release_slices(fetch_state *fs)
{
	for (size_t i = 0; i < fs->n_items; i++)
		if (fs->items[i].slice.len > 0) {
			st_slice_release(&fs->items[i].slice);
			memset(&fs->items[i].slice, 0, sizeof(fs->items[i].slice));
		}
}

/* Drops the topic references. @locality the request's reactor */
static void fetch_put_topics(fetch_state *fs)
{
	for (size_t i = 0; i < fs->n_items; i++)
		if (fs->items[i].topic_ref) {
			br_topic_put(fs->items[i].topic);
			fs->items[i].topic_ref = false;
		}
}

static void fetch_unref(fetch_state *fs)
{
	if (atomic_fetch_sub(&fs->refs, 1) != 1)
		return;
	fetch_release_slices(fs);
	fetch_put_topics(fs);
	free(fs->waiters);
	free(fs->items);
	free(fs);
}

static void fetch_unlink_waiters(fetch_state *fs)
{
	for (size_t i = 0; i < fs->n_items; i++) {
		struct br_fetch_waiter *w = &fs->waiters[i];

		if (!w->linked)
			continue;
		pthread_mutex_lock(&w->part->mu);
		*w->pprev = w->next;
		if (w->next)
			w->next->pprev = w->pprev;
		w->linked = false;
		pthread_mutex_unlock(&w->part->mu);
	}
}

static void fetch_link_waiters(fetch_state *fs)
{
	for (size_t i = 0; i < fs->n_items; i++) {
		struct br_fetch_waiter *w = &fs->waiters[i];
		br_part *p = fs->items[i].part;

		if (!p)
			continue;
		w->fs = fs;
		w->part = p;
		pthread_mutex_lock(&p->mu);
		w->next = p->waiters;
		if (w->next)
			w->next->pprev = &w->next;
		w->pprev = &p->waiters;
		p->waiters = w;
		w->linked = true;
		pthread_mutex_unlock(&p->mu);
	}
}

/*
 * Reads every partition under the limits. Returns the bytes held; *errors
 * is set when a partition has an error (Kafka answers those at once).
 */
static int64_t fetch_collect(fetch_state *fs, bool *errors)
{
	int64_t total = 0;

	*errors = false;
	for (size_t i = 0; i < fs->n_items; i++) {
		fetch_item *it = &fs->items[i];
		int64_t hw, upper, limit;
		int err;

		memset(&it->slice, 0, sizeof(it->slice));
		it->hw = -1;
		it->log_start = -1;
		it->err = it->code;
		if (it->code != KE_NONE) {
			*errors = true;
			continue;
		}
		hw = st_log_high_watermark(it->part->log);
		/* Last stable offset = high watermark: no transactions yet, so
		 * read_committed reads as far as read_uncommitted. */
		upper = fs->replica ? st_log_readable_end(it->part->log) : hw;
		it->hw = hw;
		it->log_start = st_log_start_offset(it->part->log);
		limit = it->fp->PartitionMaxBytes;
		if (limit > fs->max_bytes - total)
			limit = fs->max_bytes - total;
		if (total > 0 && limit <= 0)
			continue;               /* response full: empty records */
		if (limit < 0)
			limit = 0;
		err = st_log_read(it->part->log, it->fp->FetchOffset, (size_t)limit, upper, &it->slice);
		if (err) {
			memset(&it->slice, 0, sizeof(it->slice));
			it->err = br_kafka_error(err);
			it->hw = -1;
			it->log_start = -1;
			*errors = true;
			if (err != ST_ERR_OFFSET_OUT_OF_RANGE)
				br__logf(ST_LOG_WARN, "fetch %s-%d at %lld: %s", it->topic->name,
					 it->part->index, (long long)it->fp->FetchOffset,
					 st_strerror(err));
			continue;
		}
		/* Only the first non-empty partition may exceed the limits. */
		if (total > 0 && (int64_t)it->slice.len > limit) {
			st_slice_release(&it->slice);
			memset(&it->slice, 0, sizeof(it->slice));
		}
		total += (int64_t)it->slice.len;
	}
	return total;
}

/*
 * Encodes the response from the latest collect into req->resp, handing the
 * slices to the request, and completes the request if it was parked.
 * @locality the request's reactor
 */
static int fetch_answer(fetch_state *fs)
{
	br_request *req = fs->req;
	int err;

	fetch_unlink_waiters(fs);
	if (fs->timer) {
		event_free(fs->timer);
		fs->timer = NULL;
	}
	for (size_t i = 0; i < fs->n_items; i++) {
		fetch_item *it = &fs->items[i];
		kp_FetchResponse_PartitionData *o = it->out;

		o->ErrorCode = br_request_note_error(req, it->err);
		o->HighWatermark = it->hw;
		o->LastStableOffset = it->hw;
		o->LogStartOffset = it->log_start;
		/* read_uncommitted answers a null list, as Kafka does; with
		 * read_committed the (empty) list of aborted transactions. */
		o->AbortedTransactions.count = fs->read_committed && it->err == KE_NONE ? 0 : -1;
		o->AbortedTransactions.items = NULL;
		if (it->slice.len > 0)
			o->Records = (kp_records){ NULL, (int32_t)it->slice.len, true };
		else
			o->Records = (kp_records){ (const uint8_t *)"", 0, false };
	}
	err = kp_FetchResponse_encode(&req->resp, req->api_version, &fs->resp);
	if (err == 0) {
		/* The encoder recorded one external region per non-empty Records,
		 * in item order: hand the slices over in the same order. */
		for (size_t i = 0; i < fs->n_items; i++) {
			fetch_item *it = &fs->items[i];

			if (it->slice.len == 0)
				continue;
			/* On failure the slice is released and the response cannot be
			 * sent: mark it failed like an encoder would. */
			if (br_request_add_slice(req, &it->slice) != 0 && err == 0) {
				err = KP_ERR_NOMEM;
				req->resp.err = err;
			}
			memset(&it->slice, 0, sizeof(it->slice));
		}
	}
	fetch_release_slices(fs);
	fetch_put_topics(fs);
	fs->answered = true;
	fs->req = NULL;
	if (err)
		br__logf(ST_LOG_ERROR, "fetch from %s: response encoding failed: %s", req->peer,
			 kp_strerror(err));
	if (fs->parked)
		br_request_done(req);
	fetch_unref(fs);
	return err;
}

/* Reads; answers when MinBytes are there (or `force`). True if answered. */
static bool fetch_try(fetch_state *fs, bool force)
{
	bool errors;
	int64_t total = fetch_collect(fs, &errors);

	if (force || errors || total >= fs->min_bytes || fs->req->conn == NULL) {
		fetch_answer(fs);
		return true;
	}
	fetch_release_slices(fs);
	return false;
}

/* Arms the timer for max_wait_ms. */
static void fetch_timer_arm(fetch_state *fs, int64_t wait_ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(wait_ms / 1000);
	tv.tv_usec = (suseconds_t)(wait_ms % 1000) * 1000;
	evtimer_add(fs->timer, &tv);
}

static void fetch_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	fetch_state *fs = arg;
	bool errors;
	int64_t total = fetch_collect(fs, &errors);

	(void)fd;
	(void)what;
	/* MinBytes were readable and no wake-up is on its way: the produce
	 * that made them readable did not wake this fetch, and the consumer
	 * waited MaxWaitMs for nothing. The answer is right either way; the
	 * line says where the latency went. (A wake-up racing with the timer
	 * is queued, so it does not count here.) */
	if (!errors && total > 0 && total >= fs->min_bytes && !atomic_load(&fs->wake_posted))
		br__logf(ST_LOG_WARN, "fetch from %s: answered by its MaxWaitMs timer with %lld "
			 "bytes readable and no wake-up queued (a missed wake-up)", fs->req->peer,
			 (long long)total);
	fetch_answer(fs);
}

/* The client went away: answer now (the answer is dropped) so the
 * partitions and topics are let go. @locality the request's reactor */
static void fetch_on_gone(br_request *req)
{
	fetch_state *fs = req->handler_state;

	if (!fs->answered)
		fetch_try(fs, true);
}

/* Posted by br_part_wake_fetches(). @locality the request's reactor */
static void fetch_wake_task(void *arg)
{
	fetch_state *fs = arg;

	atomic_store(&fs->wake_posted, false);
	if (!fs->answered)
		fetch_try(fs, false);
	fetch_unref(fs);
}

void br_part_wake_fetches(br_part *p)
{
	pthread_mutex_lock(&p->mu);
	for (struct br_fetch_waiter *w = p->waiters; w; w = w->next) {
		fetch_state *fs = w->fs;

		if (atomic_exchange(&fs->wake_posted, true))
			continue;
		/* The waiter is linked, so the request's reference is held and
		 * this one cannot be the last. */
		atomic_fetch_add(&fs->refs, 1);
		if (br_reactor_post(fs->reactor, fetch_wake_task, fs) != 0) {
			atomic_fetch_sub(&fs->refs, 1);
			atomic_store(&fs->wake_posted, false);
			/* The timer still answers it. */
		}
	}
	pthread_mutex_unlock(&p->mu);
}

/* Answers a request carrying only a top-level error (sessions). */
static int fetch_answer_error(br_request *req, int16_t code)
{
	kp_FetchResponse resp;

	kp_FetchResponse_init(&resp);
	resp.ErrorCode = br_request_note_error(req, code);
	resp.SessionId = 0;
	if (kp_FetchResponse_encode(&req->resp, req->api_version, &resp) != 0)
		return br_request_fail(req, req->resp.err, "Fetch response encoding");
	return BR_RESPOND;
}

/* Resolves one requested topic (by id from v13, else by name). */
static br_topic *fetch_topic(br_request *req, const kp_FetchRequest_FetchTopic *ft,
			     int16_t *code)
{
	br_topics *ts = req->broker->topics;

	if (req->api_version >= 13) {
		*code = KE_UNKNOWN_TOPIC_ID;
		return br_topics_get_by_id(ts, ft->TopicId.b);
	}
	*code = KE_UNKNOWN_TOPIC_OR_PARTITION;
	if (ft->Topic.len <= 0)
		return NULL;
	return br_topics_get(ts, (const char *)ft->Topic.p, (size_t)ft->Topic.len);
}

int br_api_fetch(br_request *req)
{
	kp_FetchRequest msg;
	fetch_state *fs;
	size_t n = 0, k = 0;
	int err;

	err = kp_FetchRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed Fetch request");
	if (req->api_version >= 7 && msg.SessionEpoch != -1 && msg.SessionEpoch != 0)
		return fetch_answer_error(req, KE_FETCH_SESSION_ID_NOT_FOUND);

	for (int32_t t = 0; t < msg.Topics.count; t++)
		if (msg.Topics.items[t].Partitions.count > 0)
			n += (size_t)msg.Topics.items[t].Partitions.count;
	fs = calloc(1, sizeof(*fs));
	if (fs) {
		fs->items = calloc(n + 1, sizeof(*fs->items));
		fs->waiters = calloc(n + 1, sizeof(*fs->waiters));
	}
	if (fs) {
		kp_FetchResponse_init(&fs->resp);
		fs->resp.Responses.count = msg.Topics.count > 0 ? msg.Topics.count : 0;
		fs->resp.Responses.items = kp_arena_calloc(&req->arena,
							   (size_t)fs->resp.Responses.count + 1,
							   sizeof(*fs->resp.Responses.items));
	}
	if (!fs || !fs->items || !fs->waiters || !fs->resp.Responses.items) {
		if (fs) {
			free(fs->items);
			free(fs->waiters);
		}
		free(fs);
		return br_request_fail(req, -ENOMEM, "out of memory for a Fetch request");
	}
	fs->req = req;
	fs->reactor = req->reactor;
	atomic_init(&fs->refs, 1);
	atomic_init(&fs->wake_posted, false);
	fs->n_items = n;
	fs->replica = (req->api_version >= 15 ? msg.ReplicaState.ReplicaId : msg.ReplicaId) >= 0;
	fs->read_committed = msg.IsolationLevel == 1;
	fs->min_bytes = msg.MinBytes;
	fs->max_bytes = msg.MaxBytes;
	/* Declining a session (KIP-227): SessionId 0 means "no session". */
	fs->resp.SessionId = 0;

	for (int32_t t = 0; t < fs->resp.Responses.count; t++) {
		const kp_FetchRequest_FetchTopic *ft = &msg.Topics.items[t];
		kp_FetchResponse_FetchableTopicResponse *tr = &fs->resp.Responses.items[t];
		int32_t np = ft->Partitions.count > 0 ? ft->Partitions.count : 0;
		int16_t code = KE_NONE;
		br_topic *topic = np > 0 ? fetch_topic(req, ft, &code) : NULL;

		kp_FetchResponse_FetchableTopicResponse_init(tr);
		tr->Topic = ft->Topic;
		tr->TopicId = ft->TopicId;
		tr->Partitions.count = np;
		tr->Partitions.items = kp_arena_calloc(&req->arena, (size_t)np + 1,
						       sizeof(*tr->Partitions.items));
		for (int32_t p = 0; p < np; p++) {
			fetch_item *it = &fs->items[k++];

			it->fp = &ft->Partitions.items[p];
			it->topic = topic;
			it->topic_ref = topic && p == 0;
			if (!tr->Partitions.items)
				continue;
			it->out = &tr->Partitions.items[p];
			kp_FetchResponse_PartitionData_init(it->out);
			it->out->PartitionIndex = it->fp->Partition;
			if (!topic) {
				it->code = code;
				continue;
			}
			it->part = br_topic_part(topic, it->fp->Partition);
			if (!it->part)
				it->code = KE_UNKNOWN_TOPIC_OR_PARTITION;
			else
				it->code = br_part_check_leader_epoch(it->part,
								      it->fp->CurrentLeaderEpoch);
		}
		if (!tr->Partitions.items) {
			fetch_unref(fs);
			return br_request_fail(req, -ENOMEM, "out of memory for a Fetch response");
		}
	}

	if (fetch_try(fs, msg.MaxWaitMs <= 0))
		goto answered;
	fs->timer = evtimer_new(br_reactor_base(req->reactor), fetch_timer_cb, fs);
	if (!fs->timer) {
		fetch_try(fs, true);
		goto answered;
	}
	fetch_link_waiters(fs);
	/* Data may have become readable between the first read and linking
	 * the waiters, with nobody to wake: look once more. */
	if (fetch_try(fs, false))
		goto answered;
	fetch_timer_arm(fs, msg.MaxWaitMs);
	fs->parked = true;
	req->handler_state = fs;
	req->on_gone = fetch_on_gone;
	return BR_PARKED;

answered:
	return req->resp.err ? br_request_fail(req, req->resp.err, "Fetch response encoding")
	                     : BR_RESPOND;
}
