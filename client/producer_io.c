/*
 * producer_io.c -- the producer's io-thread side (producer.c has the whole
 * picture, client.h "producer" the contract): sealing lingered batches,
 * one Produce request per broker, answers, retries that keep each
 * partition's order, InitProducerId and the epoch bump, and the topic
 * metadata application threads wait for in send().
 *
 * Everything here runs on the producer's io thread. Partitions' send
 * queues, in-flight lists and sequences and the producer id are io-only;
 * what the application side shares (open and ready batches, topic states,
 * the delivery queue, the buffer pool) is touched under p->mu, briefly,
 * never across I/O.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "client/cl_int.h"

#define KAFKA_UNKNOWN_TOPIC_OR_PARTITION 3
#define KAFKA_LEADER_NOT_AVAILABLE 5
#define KAFKA_NOT_LEADER_OR_FOLLOWER 6
#define KAFKA_OUT_OF_ORDER_SEQUENCE 45
#define KAFKA_DUPLICATE_SEQUENCE 46
#define KAFKA_INVALID_PRODUCER_EPOCH 47
#define KAFKA_UNKNOWN_PRODUCER_ID 59
#define KAFKA_PRODUCER_FENCED 90

/* How often the io thread looks at waiting batches' deadlines. */
#define EXPIRY_TICK_MS 100

struct preq {
	cl_producer *p;
	int32_t node;
	cl_wire *wire;
	struct cl__pbatch **b;
	int n, cap;
	size_t bytes;
	int16_t acks;
};

static void drain(cl_producer *p);
static void fail_everything(cl_producer *p, int err);

/* The topic array and its length now. The io thread walks it without the
 * mutex: send() grows it by copying, and the first nt entries of any
 * array it handed out stay valid (cl_producer.topics). */
static struct cl__ptopic **topics_now(cl_producer *p, size_t *nt)
{
	pthread_mutex_lock(&p->mu);
	struct cl__ptopic **topics = p->topics;
	*nt = p->n_topics;
	pthread_mutex_unlock(&p->mu);
	return topics;
}

static void list_remove(struct cl__pbatch **head, struct cl__pbatch **tail, struct cl__pbatch *b)
{
	struct cl__pbatch *prev = NULL;
	for (struct cl__pbatch *x = *head; x; prev = x, x = x->next) {
		if (x != b)
			continue;
		if (prev)
			prev->next = x->next;
		else
			*head = x->next;
		if (*tail == x)
			*tail = prev;
		x->next = NULL;
		return;
	}
}

/* ------------------------------------------------------------ io timer */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	cl_producer *p = arg;
	(void)fd;
	(void)what;
	p->timer_at = INT64_MAX;
	drain(p);
}

static void arm_timer(cl_producer *p, int64_t at)
{
	if (at == INT64_MAX || at >= p->timer_at || p->io_closing)
		return;
	int64_t d = at - cl__now_ms();
	if (d < 0)
		d = 0;
	struct timeval tv = { (time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000 };
	event_add(p->timer, &tv);
	p->timer_at = at;
}

static void on_drain_ev(evutil_socket_t fd, short what, void *arg)
{
	cl_producer *p = arg;
	(void)fd;
	(void)what;
	p->drain_pending = false;
	drain(p);
}

/*
 * Drains at the next turn of the loop rather than now. Every callback of
 * a wire or of the cluster uses this: when a connection fails, its wire
 * fails each pending request in turn, and a drain run from the first
 * failure would send newer batches of a partition whose older batch is in
 * a request not yet failed -- out of sequence. Deferred, the drain sees
 * every failure first.
 */
static void drain_soon(cl_producer *p)
{
	if (!p->drain_pending && p->drain_ev && !p->io_closing) {
		p->drain_pending = true;
		event_active(p->drain_ev, 0, 0);
	}
}

void cl__prod_on_kick(void *arg)
{
	cl_producer *p = arg;
	pthread_mutex_lock(&p->mu);
	p->kick_pending = false;
	pthread_mutex_unlock(&p->mu);
	drain(p);
}

/* -------------------------------------------------- delivery and outcome */

/* io thread: the batch is done (delivered or failed); queue its report. */
static void batch_complete(cl_producer *p, struct cl__pbatch *b, int err, int64_t base_offset)
{
	b->err = err;
	b->base_offset = err ? -1 : base_offset;
	pthread_mutex_lock(&p->mu);
	cl__prod_list_push(&p->dr_head, &p->dr_tail, b);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void need_bump(cl_producer *p)
{
	if (p->conf.idempotence && p->pid_state == CL__PID_READY)
		p->pid_state = CL__PID_BUMP;
}

/* A batch that will not be delivered; why is the broker's reason (Produce
 * v8+ ErrorMessage) or KP_STR_NULL. */
static void batch_fail(cl_producer *p, struct cl__pbatch *b, int err, kp_str why)
{
	struct cl__ptopic *t = b->part->t;
	if (err != CL_ERR_STOPPED && why.len > 0)
		cl__prod_errf(p, "%d record(s) for %s [%d] not delivered: %s: %.*s", b->count,
			      t->name, b->part->id, cl_err_name(err), (int)why.len,
			      (const char *)why.p);
	else if (err != CL_ERR_STOPPED)
		cl__prod_errf(p, "%d record(s) for %s [%d] not delivered: %s%s", b->count, t->name,
		     b->part->id, cl_err_name(err),
		     err == CL_ERR_MSG_TIMED_OUT ? " (delivery.timeout.ms passed; is the broker up?)" : "");
	/* A sent batch leaves a hole in the sequence the broker expects. */
	if (b->base_seq >= 0)
		need_bump(p);
	batch_complete(p, b, err, -1);
}

/* Puts b back into its partition's sendq at its sequence's place. */
static void sendq_insert(struct cl__ppart *pp, struct cl__pbatch *b)
{
	struct cl__pbatch *prev = NULL, *x = pp->sendq_head;
	while (x && x->base_seq >= 0 && (b->base_seq < 0 || x->base_seq < b->base_seq)) {
		prev = x;
		x = x->next;
	}
	b->next = x;
	if (prev)
		prev->next = b;
	else
		pp->sendq_head = b;
	if (x == NULL)
		pp->sendq_tail = b;
}

/* A retriable failure of an in-flight batch (already off inflight). */
static void batch_retry(cl_producer *p, struct cl__pbatch *b, int err)
{
	struct cl__ppart *pp = b->part;
	int64_t now = cl__now_ms();
	if (now >= b->deadline_ms || b->attempts > p->conf.retries) {
		batch_fail(p, b, now >= b->deadline_ms ? CL_ERR_MSG_TIMED_OUT : err, KP_STR_NULL);
		return;
	}
	cl__prod_errf(p, "retrying %d record(s) for %s [%d] after %s", b->count, pp->t->name, pp->id,
	     cl_err_name(err));
	sendq_insert(pp, b);
	pp->recovering = true;
	pp->retry_at = now + p->conf.retry_backoff_ms;
}

static void refresh_done(void *arg, int err)
{
	(void)err;
	drain_soon(arg);
}

static void refresh_metadata(cl_producer *p)
{
	static const char *none[1];
	if (!p->io_closing)
		(void)cl_cluster_refresh(p->cl, none, 0, refresh_done, p);
}

/* ----------------------------------------------------- producer id */

static int encode_init_pid(void *arg, int16_t version, kp_buf *body)
{
	cl_producer *p = arg;
	kp_InitProducerIdRequest q;
	kp_InitProducerIdRequest_init(&q);
	q.TransactionalId = KP_STR_NULL;
	q.TransactionTimeoutMs = 60000;
	(void)p;
	return kp_InitProducerIdRequest_encode(body, version, &q);
}

/* Renumbers every partition's unacknowledged batches from 0 under the new
 * id/epoch (nothing is in flight now). */
static void renumber(cl_producer *p)
{
	size_t nt;
	struct cl__ptopic **topics = topics_now(p, &nt);
	for (size_t i = 0; i < nt; i++) {
		struct cl__ptopic *t = topics[i];
		for (int32_t k = 0; k < t->n_parts; k++) {
			struct cl__ppart *pp = t->parts[k];
			int32_t seq = 0;
			for (struct cl__pbatch *b = pp->sendq_head; b; b = b->next) {
				if (!b->built)
					continue;
				b->base_seq = seq;
				seq += b->count;
				uint8_t *d = b->wire.data;
				kp_store_be64(d + KP_BATCH_OFF_PRODUCER_ID, (uint64_t)p->pid);
				kp_store_be16(d + KP_BATCH_OFF_PRODUCER_EPOCH, (uint16_t)p->epoch);
				kp_store_be32(d + KP_BATCH_OFF_BASE_SEQUENCE, (uint32_t)b->base_seq);
				kp_batch_update_crc(d, b->wire.len);
			}
			pp->next_seq = seq;
			pp->acked_seq = 0;
			pp->have_ack = false;
			pp->recovering = false;
		}
	}
}

static void on_init_pid(void *arg, int err, int16_t version, kp_reader *body)
{
	cl_producer *p = arg;
	p->pid_inflight = false;
	if (p->io_closing)
		return;
	bool bump = p->pid_state == CL__PID_BUMP;
	if (err == 0) {
		kp_InitProducerIdResponse m;
		kp_arena a;
		kp_arena_init(&a, 0);
		if (kp_InitProducerIdResponse_decode(body, version, &a, &m) < 0) {
			err = CL_ERR_PROTOCOL;
		} else if (m.ErrorCode != 0) {
			err = cl_err_kafka(m.ErrorCode);
			if (!cl_kafka_err_retriable(m.ErrorCode) && m.ErrorCode != 15 /* COORDINATOR_NOT_AVAILABLE */) {
				kp_arena_free(&a);
				cl__prod_errf(p, "InitProducerId failed with %s; the producer cannot go on (try --no-idempotence?)",
				     cl_err_name(err));
				fail_everything(p, err);
				return;
			}
		} else {
			p->pid = m.ProducerId;
			p->epoch = m.ProducerEpoch;
			p->pid_state = CL__PID_READY;
			if (bump)
				renumber(p);
		}
		kp_arena_free(&a);
	}
	if (err != 0) {
		cl__prod_errf(p, "InitProducerId: %s; retrying", cl_err_name(err));
		p->pid_state = bump ? CL__PID_BUMP : CL__PID_NONE;
		p->pid_retry_at = cl__now_ms() + p->conf.retry_backoff_ms;
		arm_timer(p, p->pid_retry_at);
		if (err < 0)
			refresh_metadata(p);
		return;
	}
	drain_soon(p);
}

static void request_pid(cl_producer *p)
{
	if (p->pid_inflight)
		return;
	if (cl__now_ms() < p->pid_retry_at) {
		arm_timer(p, p->pid_retry_at);
		return;
	}
	cl_wire *w = cl_cluster_any_wire(p->cl);
	int rc = w ? cl_wire_send(w, KP_API_INIT_PRODUCER_ID, true, encode_init_pid, on_init_pid, p)
		   : CL_ERR_NO_BROKER;
	if (rc < 0) {
		cl__prod_errf(p, "InitProducerId: %s", w ? cl_wire_errmsg(w) : cl_cluster_errmsg(p->cl));
		p->pid_retry_at = cl__now_ms() + p->conf.retry_backoff_ms;
		arm_timer(p, p->pid_retry_at);
		refresh_metadata(p);
		return;
	}
	/* A bump stays CL__PID_BUMP until the answer; nothing is sent meanwhile. */
	if (p->pid_state == CL__PID_NONE)
		p->pid_state = CL__PID_REQUESTING;
	p->pid_inflight = true;
}

/* --------------------------------------------------------------- produce */

static int encode_produce(void *arg, int16_t version, kp_buf *body)
{
	struct preq *r = arg;
	if (version < 3)
		return CL_ERR_UNSUPPORTED;   /* RecordBatch v2 needs Produce v3+ */
	kp_ProduceRequest q;
	kp_ProduceRequest_init(&q);
	kp_ProduceRequest_TopicProduceData *td = calloc((size_t)r->n, sizeof *td);
	kp_ProduceRequest_PartitionProduceData *pd = calloc((size_t)r->n, sizeof *pd);
	if (td == NULL || pd == NULL) {
		free(td);
		free(pd);
		return -ENOMEM;
	}
	int nt = 0;
	for (int i = 0; i < r->n; i++) {
		struct cl__pbatch *b = r->b[i];
		if (nt == 0 || r->b[i - 1]->part->t != b->part->t) {
			kp_ProduceRequest_TopicProduceData_init(&td[nt]);
			td[nt].Name = kp_str_from(b->part->t->name);
			td[nt].PartitionData.items = &pd[i];
			nt++;
		}
		kp_ProduceRequest_PartitionProduceData_init(&pd[i]);
		pd[i].Index = b->part->id;
		pd[i].Records = (kp_records){ b->wire.data, (int32_t)b->wire.len, false };
		td[nt - 1].PartitionData.count++;
	}
	q.Acks = r->acks;
	q.TimeoutMs = r->p->conf.request_timeout_ms;
	q.TopicData.count = nt;
	q.TopicData.items = td;
	int rc = kp_ProduceRequest_encode(body, version, &q);
	free(td);
	free(pd);
	return rc;
}

static bool leader_error(int16_t code)
{
	return code == KAFKA_NOT_LEADER_OR_FOLLOWER || code == KAFKA_LEADER_NOT_AVAILABLE ||
	       code == KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
}

/* One batch's answer; why is its ErrorMessage (v8+, else null). */
static void batch_answer(cl_producer *p, struct cl__pbatch *b, int16_t code, int64_t base_offset,
			 kp_str why, bool *refresh)
{
	struct cl__ppart *pp = b->part;
	list_remove(&pp->infl_head, &pp->infl_tail, b);
	pp->n_inflight--;
	if (code == 0 || code == KAFKA_DUPLICATE_SEQUENCE) {
		if (b->base_seq >= 0)
			pp->acked_seq = b->base_seq + b->count;
		pp->have_ack = true;
		batch_complete(p, b, 0, code == 0 ? base_offset : -1);
		return;
	}
	if (code == KAFKA_OUT_OF_ORDER_SEQUENCE || code == KAFKA_UNKNOWN_PRODUCER_ID ||
	    code == KAFKA_INVALID_PRODUCER_EPOCH || code == KAFKA_PRODUCER_FENCED) {
		/* Behind an earlier failed batch: just retry in order. As the
		 * oldest unacknowledged one: the broker lost our state. Older
		 * than what the broker acknowledged: no retry can help. */
		if (code == KAFKA_OUT_OF_ORDER_SEQUENCE && b->base_seq >= 0 &&
		    b->base_seq < pp->acked_seq && pp->acked_seq - b->base_seq < (1 << 30)) {
			batch_fail(p, b, cl_err_kafka(code), why);
			return;
		}
		if (b->base_seq == pp->acked_seq || code != KAFKA_OUT_OF_ORDER_SEQUENCE)
			need_bump(p);
		batch_retry(p, b, cl_err_kafka(code));
		return;
	}
	if (cl_kafka_err_retriable(code)) {
		if (leader_error(code))
			*refresh = true;
		batch_retry(p, b, cl_err_kafka(code));
		return;
	}
	batch_fail(p, b, cl_err_kafka(code), why);
}

static void preq_free(struct preq *r)
{
	free(r->b);
	free(r);
}

static void on_produce(void *arg, int err, int16_t version, kp_reader *body)
{
	struct preq *r = arg;
	cl_producer *p = r->p;
	bool refresh = false;

	p->produce_inflight--;
	if (p->io_closing) {
		for (int i = 0; i < r->n; i++) {
			struct cl__ppart *pp = r->b[i]->part;
			list_remove(&pp->infl_head, &pp->infl_tail, r->b[i]);
			pp->n_inflight--;
			batch_complete(p, r->b[i], CL_ERR_STOPPED, -1);
		}
		preq_free(r);
		return;
	}
	if (err == 0 && body == NULL) {           /* acks=0: written */
		for (int i = 0; i < r->n; i++)
			batch_answer(p, r->b[i], 0, -1, KP_STR_NULL, &refresh);
		preq_free(r);
		drain_soon(p);
		return;
	}
	kp_ProduceResponse m;
	kp_arena a;
	kp_arena_init(&a, 0);
	if (err == 0 && kp_ProduceResponse_decode(body, version, &a, &m) < 0) {
		cl__prod_errf(p, "the Produce v%d answer from %s does not parse", version, cl_wire_addr(r->wire));
		err = CL_ERR_PROTOCOL;
	}
	if (err != 0) {
			if (err != CL_ERR_PROTOCOL)
			cl__prod_errf(p, "Produce to %s: %s", cl_wire_addr(r->wire), cl_wire_errmsg(r->wire));
		for (int i = 0; i < r->n; i++) {
			struct cl__ppart *pp = r->b[i]->part;
			list_remove(&pp->infl_head, &pp->infl_tail, r->b[i]);
			pp->n_inflight--;
			batch_retry(p, r->b[i], err);
		}
		refresh = true;
	} else {
		bool *seen = calloc((size_t)r->n, sizeof *seen);
		for (int32_t ti = 0; ti < m.Responses.count; ti++) {
			const kp_ProduceResponse_TopicProduceResponse *tr = &m.Responses.items[ti];
			for (int32_t pi = 0; pi < tr->PartitionResponses.count; pi++) {
				const kp_ProduceResponse_PartitionProduceResponse *pr =
					&tr->PartitionResponses.items[pi];
				for (int i = 0; i < r->n; i++) {
					struct cl__pbatch *b = r->b[i];
					if ((seen && seen[i]) || b->part->id != pr->Index ||
					    (size_t)tr->Name.len != strlen(b->part->t->name) ||
					    memcmp(tr->Name.p, b->part->t->name, (size_t)tr->Name.len) != 0)
						continue;
					if (seen)
						seen[i] = true;
					batch_answer(p, b, pr->ErrorCode, pr->BaseOffset, pr->ErrorMessage,
						     &refresh);
					break;
				}
			}
		}
		/* A partition the answer does not mention is retried. */
		for (int i = 0; i < r->n; i++) {
			if (seen && seen[i])
				continue;
			struct cl__ppart *pp = r->b[i]->part;
			if (seen == NULL) {
				/* out of memory above: nothing was matched */
			}
			list_remove(&pp->infl_head, &pp->infl_tail, r->b[i]);
			pp->n_inflight--;
			batch_retry(p, r->b[i], CL_ERR_PROTOCOL);
		}
		free(seen);
	}
	kp_arena_free(&a);
	preq_free(r);
	if (refresh)
		refresh_metadata(p);
	drain_soon(p);
}

/* Builds b's final bytes (sequence, id, compression, CRC). */
static int batch_build(cl_producer *p, struct cl__pbatch *b)
{
	struct cl__ppart *pp = b->part;
	if (p->conf.idempotence) {
		b->base_seq = pp->next_seq;
		pp->next_seq += b->count;   /* Kafka wraps at INT32_MAX */
		if (pp->next_seq < 0)
			pp->next_seq -= INT32_MIN;
		b->bb.producer_id = p->pid;
		b->bb.producer_epoch = p->epoch;
		b->bb.base_sequence = b->base_seq;
	}
	pthread_mutex_lock(&p->mu);
	b->wire = cl__prod_pool_get_locked(p);
	pthread_mutex_unlock(&p->mu);
	int rc = kp_batch_builder_finish(&b->bb, &b->wire);
	cl__prod_pool_put(p, &b->bb.records);
	kp_batch_builder_free(&b->bb);
	if (rc < 0) {
		if (b->base_seq >= 0)
			pp->next_seq = b->base_seq;
		b->base_seq = -1;
		return rc;
	}
	b->built = true;
	return 0;
}

static struct preq *preq_for(cl_producer *p, struct preq ***reqs, int *nreq, int *capreq,
			     int32_t node, cl_wire *w)
{
	for (int i = 0; i < *nreq; i++)
		if ((*reqs)[i]->node == node)
			return (*reqs)[i];
	if (*nreq == *capreq) {
		int cap = *capreq ? *capreq * 2 : 4;
		struct preq **nr = realloc(*reqs, (size_t)cap * sizeof *nr);
		if (nr == NULL)
			return NULL;
		*reqs = nr;
		*capreq = cap;
	}
	struct preq *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->p = p;
	r->node = node;
	r->wire = w;
	r->acks = (int16_t)p->conf.acks;
	(*reqs)[(*nreq)++] = r;
	return r;
}

static bool preq_add(struct preq *r, struct cl__pbatch *b)
{
	if (r->n == r->cap) {
		int cap = r->cap ? r->cap * 2 : 8;
		struct cl__pbatch **nb = realloc(r->b, (size_t)cap * sizeof *nb);
		if (nb == NULL)
			return false;
		r->b = nb;
		r->cap = cap;
	}
	r->b[r->n++] = b;
	r->bytes += b->wire.len;
	return true;
}

/* Grows a known topic's partitions (under p->mu). */
static int topic_set_parts(struct cl__ptopic *t, int32_t n)
{
	if (n <= t->n_parts)
		return 0;
	struct cl__ppart **np = realloc(t->parts, (size_t)n * sizeof *np);
	if (np == NULL)
		return -ENOMEM;
	t->parts = np;
	for (int32_t i = t->n_parts; i < n; i++) {
		struct cl__ppart *pp = calloc(1, sizeof *pp);
		if (pp == NULL)
			return -ENOMEM;
		pp->t = t;
		pp->id = i;
		pp->leader = -1;
		pp->leader_gen = UINT64_MAX;
		t->parts[i] = pp;
		t->n_parts = i + 1;
	}
	return 0;
}

/* io: seals lingered batches, moves ready ones to the send queues, and
 * returns the next linger deadline. */
static int64_t collect(cl_producer *p, int64_t now)
{
	int64_t next = INT64_MAX;
	uint64_t gen = cl_cluster_generation(p->cl);
	pthread_mutex_lock(&p->mu);
	bool flushing = p->flushing > 0;
	for (size_t i = 0; i < p->n_topics; i++) {
		struct cl__ptopic *t = p->topics[i];
		if (gen != p->seen_gen && t->state == CL__T_KNOWN) {
			int c = cl_cluster_partition_count(p->cl, t->name);
			if (c > t->n_parts)
				(void)topic_set_parts(t, c);
		}
		for (int32_t k = 0; k < t->n_parts; k++) {
			struct cl__ppart *pp = t->parts[k];
			struct cl__pbatch *o = pp->open;
			if (o) {
				int64_t due = o->created_ms + p->conf.linger_ms;
				if (flushing || now >= due) {
					cl__prod_list_push(&pp->ready_head, &pp->ready_tail, o);
					pp->open = NULL;
					if (t->sticky == pp->id)
						t->sticky = -1;
				} else if (due < next) {
					next = due;
				}
			}
			if (pp->ready_head) {
				if (pp->sendq_tail)
					pp->sendq_tail->next = pp->ready_head;
				else
					pp->sendq_head = pp->ready_head;
				pp->sendq_tail = pp->ready_tail;
				pp->ready_head = pp->ready_tail = NULL;
			}
		}
	}
	p->seen_gen = gen;
	p->io_wake_at = next;
	pthread_mutex_unlock(&p->mu);
	return next;
}

/* Fails queued batches whose delivery.timeout.ms passed. Returns whether
 * any batch is still waiting (for the expiry tick). */
static bool expire(cl_producer *p, struct cl__ppart *pp, int64_t now)
{
	while (pp->sendq_head && now >= pp->sendq_head->deadline_ms) {
		struct cl__pbatch *b = pp->sendq_head;
		pp->sendq_head = b->next;
		if (pp->sendq_head == NULL)
			pp->sendq_tail = NULL;
		batch_fail(p, b, CL_ERR_MSG_TIMED_OUT, KP_STR_NULL);
	}
	return pp->sendq_head != NULL || pp->n_inflight > 0;
}

static void drain(cl_producer *p)
{
	if (p->io_closing)
		return;
	int64_t now = cl__now_ms();
	int64_t next = collect(p, now);
	bool waiting = false;

	size_t nt;
	struct cl__ptopic **topics = topics_now(p, &nt);

	if (p->conf.idempotence && p->pid_state != CL__PID_READY) {
		for (size_t i = 0; i < nt; i++)
			for (int32_t k = 0; k < topics[i]->n_parts; k++)
				waiting |= expire(p, topics[i]->parts[k], now);
		if (p->pid_state == CL__PID_NONE ||
		    (p->pid_state == CL__PID_BUMP && p->produce_inflight == 0))
			request_pid(p);
		arm_timer(p, next);
		if (waiting)
			arm_timer(p, now + EXPIRY_TICK_MS);
		return;
	}

	struct preq **reqs = NULL;
	int nreq = 0, capreq = 0;
	bool need_meta = false, took = true;
	while (took) {
		took = false;
		for (size_t i = 0; i < nt; i++) {
			struct cl__ptopic *t = topics[i];
			for (int32_t k = 0; k < t->n_parts; k++) {
				struct cl__ppart *pp = t->parts[k];
				if (!expire(p, pp, now))
					continue;
				waiting = true;
				struct cl__pbatch *b = pp->sendq_head;
				if (b == NULL)
					continue;
				if (pp->recovering) {
					if (pp->n_inflight > 0)
						continue;
					if (now < pp->retry_at) {
						arm_timer(p, pp->retry_at);
						continue;
					}
					pp->recovering = false;
				}
				/* A broker that has no state for this producer on the
				 * partition takes any sequence first (Kafka's rule,
				 * for state lost to retention): until one batch is
				 * acknowledged, a second in flight could be written
				 * ahead of a first that failed. One at a time then. */
				if (p->conf.idempotence && !pp->have_ack && pp->n_inflight > 0)
					continue;
				uint64_t gen = cl_cluster_generation(p->cl);
				if (pp->leader_gen != gen) {
					pp->leader = cl_cluster_leader(p->cl, t->name, pp->id);
					pp->leader_gen = gen;
				}
				if (pp->leader < 0) {
					need_meta = true;
					continue;
				}
				cl_wire *w = cl_cluster_wire(p->cl, pp->leader);
				if (w == NULL) {
					need_meta = true;
					continue;
				}
				struct preq *r = preq_for(p, &reqs, &nreq, &capreq, pp->leader, w);
				if (r == NULL)
					continue;
				if (r->n > 0 && r->b[r->n - 1]->part == pp)
					continue;   /* one batch per partition per request */
				bool fresh = r->n == 0;
				if (fresh && cl_wire_in_flight(w) >= (size_t)p->conf.max_in_flight)
					continue;
				if (!b->built && batch_build(p, b) < 0) {
					pp->sendq_head = b->next;
					if (pp->sendq_head == NULL)
						pp->sendq_tail = NULL;
					batch_fail(p, b, CL_ERR_ARG, KP_STR_NULL);
					continue;
				}
				if (r->n > 0 && r->bytes + b->wire.len > p->conf.max_request_size)
					continue;
				if (!preq_add(r, b))
					continue;
				pp->sendq_head = b->next;
				if (pp->sendq_head == NULL)
					pp->sendq_tail = NULL;
				cl__prod_list_push(&pp->infl_head, &pp->infl_tail, b);
				pp->n_inflight++;
				b->attempts++;
			}
		}
		/* Send this round's requests; a partition with more batches
		 * goes again in the next round's request. */
		for (int i = 0; i < nreq; i++) {
			struct preq *r = reqs[i];
			if (r->n == 0) {
				preq_free(r);
				continue;
			}
			took = true;
			p->produce_inflight++;
			int rc = cl_wire_send(r->wire, KP_API_PRODUCE, r->acks != 0, encode_produce,
					      on_produce, r);
			if (rc < 0) {
				p->produce_inflight--;
				cl__prod_errf(p, "Produce to %s: %s", cl_wire_addr(r->wire),
				     cl_wire_errmsg(r->wire)[0] ? cl_wire_errmsg(r->wire) : cl_strerror(rc));
				for (int j = 0; j < r->n; j++) {
					struct cl__ppart *pp = r->b[j]->part;
					list_remove(&pp->infl_head, &pp->infl_tail, r->b[j]);
					pp->n_inflight--;
					batch_retry(p, r->b[j], rc);
				}
				preq_free(r);
				need_meta = true;
				took = false;
			}
		}
		nreq = 0;
	}
	free(reqs);
	if (need_meta)
		refresh_metadata(p);
	arm_timer(p, next);
	if (waiting)
		arm_timer(p, now + EXPIRY_TICK_MS);
}

/* ------------------------------------------------------ topic metadata */

static void on_topic_meta(void *arg, int err);

void cl__prod_io_topic_meta(void *arg)
{
	cl_producer *p = arg;
	if (p->io_closing)
		return;
	const char *names[64];
	size_t n = 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_topics && n < 64; i++)
		if (p->topics[i]->state == CL__T_PENDING)
			names[n++] = p->topics[i]->name;
	pthread_mutex_unlock(&p->mu);
	if (n == 0)
		return;
	if (cl_cluster_refresh(p->cl, names, n, on_topic_meta, p) < 0) {
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < p->n_topics; i++)
			if (p->topics[i]->state == CL__T_PENDING) {
				p->topics[i]->state = CL__T_ERROR;
				p->topics[i]->err = -ENOMEM;
			}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

static void on_topic_meta(void *arg, int err)
{
	cl_producer *p = arg;
	bool again = false;
	if (p->io_closing)
		return;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_topics; i++) {
		struct cl__ptopic *t = p->topics[i];
		if (t->state != CL__T_PENDING)
			continue;
		int c = cl_cluster_partition_count(p->cl, t->name);
		if (c > 0) {
			if (topic_set_parts(t, c) < 0) {
				t->state = CL__T_ERROR;
				t->err = -ENOMEM;
			} else {
				t->state = CL__T_KNOWN;
			}
		} else if (c == cl_err_kafka(KAFKA_UNKNOWN_TOPIC_OR_PARTITION) ||
			   (c < -1 && !cl_kafka_err_retriable(cl_err_kafka_code(c)))) {
			t->state = CL__T_ERROR;
			t->err = c;
			cl__prod_errf_locked(p, "topic '%s': %s (%s)", t->name, cl_err_name(c),
				    cl_kafka_err_desc(cl_err_kafka_code(c)));
		} else if (t->waiters > 0) {
			if (err < 0)
				cl__prod_errf_locked(p, "%s", cl_cluster_errmsg(p->cl));
			t->err = err < 0 ? err : (c < -1 ? c : CL_ERR_TIMEOUT);
			again = true;
		} else {
			t->state = CL__T_UNKNOWN;
		}
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (again)
		cl__prod_io_topic_meta(p);
	else
		drain_soon(p);
}

/* io: a fatal error fails every queued batch (in-flight ones fail when
 * their answers come). */
static void fail_everything(cl_producer *p, int err)
{
	pthread_mutex_lock(&p->mu);
	p->fatal = err;
	pthread_mutex_unlock(&p->mu);
	collect(p, INT64_MAX);
	size_t nt;
	struct cl__ptopic **topics = topics_now(p, &nt);
	for (size_t i = 0; i < nt; i++) {
		struct cl__ptopic *t = topics[i];
		for (int32_t k = 0; k < t->n_parts; k++) {
			struct cl__ppart *pp = t->parts[k];
			struct cl__pbatch *b;
			while ((b = pp->sendq_head) != NULL) {
				pp->sendq_head = b->next;
				batch_complete(p, b, err, -1);
			}
			pp->sendq_tail = NULL;
		}
	}
	p->pid_state = CL__PID_NONE;
	p->pid_retry_at = INT64_MAX;
}

/* io: the cluster and the timer belong to the io thread from birth. */
void cl__prod_io_setup(void *arg)
{
	struct cl__prod_setup *s = arg;
	cl_producer *p = s->p;
	s->rc = cl_cluster_new(p->io, p->bootstrap, &s->opts, &p->cl, s->err, sizeof s->err);
	if (s->rc == 0) {
		cl_cluster_set_auto_create(p->cl, p->conf.allow_auto_create);
		cl_cluster_set_refresh_backoff(p->cl, p->conf.retry_backoff_ms);
		p->timer = evtimer_new(cl_io_base(p->io), on_timer, p);
		p->drain_ev = event_new(cl_io_base(p->io), -1, 0, on_drain_ev, p);
		if (p->timer == NULL || p->drain_ev == NULL) {
			if (p->timer)
				event_free(p->timer);
			if (p->drain_ev)
				event_free(p->drain_ev);
			p->timer = p->drain_ev = NULL;
			cl_cluster_free(p->cl);
			p->cl = NULL;
			s->rc = -ENOMEM;
			snprintf(s->err, sizeof s->err, "out of memory");
		}
	}
	pthread_mutex_lock(&s->mu);
	s->done = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void cl__prod_io_teardown(void *arg)
{
	cl_producer *p = arg;
	p->io_closing = true;
	/* Closing the wires answers every request in flight with
	 * CL_ERR_CLOSED; on_produce then reports its batches as stopped. */
	cl_cluster_free(p->cl);
	p->cl = NULL;
	if (p->timer)
		event_free(p->timer);
	if (p->drain_ev)
		event_free(p->drain_ev);
	p->timer = p->drain_ev = NULL;
}
