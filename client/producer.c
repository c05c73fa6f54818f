/*
 * producer.c -- the asynchronous producer (see client.h "producer" for the
 * contract): batching, one Produce request per broker, idempotence,
 * retries that keep order, delivery reports.
 *
 * Two sides share one mutex (p->mu), held only for short, I/O-free steps:
 *
 *   application side  cl_producer_send() finds the topic (waiting once for
 *                     its metadata), picks the partition and appends the
 *                     record to that partition's open batch (the bytes go
 *                     straight into the batch's record buffer); a batch
 *                     that reaches batch_size is sealed onto the
 *                     partition's `ready` list and the io thread is kicked.
 *                     cl_producer_poll() takes finished batches off the
 *                     delivery queue and runs the callback outside the lock.
 *   io side           drain() (on a kick, a timer, an answer) seals open
 *                     batches older than linger_ms, moves ready batches to
 *                     the partition's send queue (io-only), and builds one
 *                     Produce request per leader broker with the head batch
 *                     of each partition that may send, while the broker has
 *                     fewer than max_in_flight requests out; it repeats
 *                     while that takes batches, so a partition pipelines.
 *
 * Per partition (io-only fields), batches move sendq -> inflight -> done;
 * both lists stay in sequence order. A batch gets its sequence number and
 * its final bytes (compressed, CRC) the first time it is sent, and keeps
 * them across retries. After a retriable error the batch goes back into
 * sendq at its sequence's place and the partition is "recovering": it
 * sends nothing until every batch it has in flight is back (the broker
 * refuses those with OUT_OF_ORDER_SEQUENCE_NUMBER since the failed one is
 * missing; they queue up behind it) and retry_backoff_ms has passed; then
 * it resends from the oldest, in order.
 *
 * Producer id (idempotence): InitProducerId before the first Produce.
 * Epoch bump (KIP-360, as Java): when the broker forgot our sequence (OOO
 * or UNKNOWN_PRODUCER_ID on the oldest unacknowledged batch) or a batch
 * that had been sent fails for good, state goes to PID_BUMP: nothing new
 * is sent, requests in flight finish, then InitProducerId gives a new
 * id/epoch and every partition's unacknowledged batches are renumbered
 * from 0 (their header fields patched and CRC recomputed).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Buffer memory counted per record beyond its key, value and headers. */
#define RECORD_OVERHEAD 24
/* How often the io thread looks at waiting batches' deadlines. */
#define EXPIRY_TICK_MS 100

/* Buffers kept for reuse (see cl_producer.pool). */
#define POOL_MAX 16

enum topic_state { T_UNKNOWN, T_PENDING, T_KNOWN, T_ERROR };
enum pid_state { PID_NONE, PID_REQUESTING, PID_READY, PID_BUMP };

struct pbatch {
	struct pbatch *next;
	struct ppart *part;
	kp_batch_builder bb;          /* records until built */
	kp_buf wire;                  /* the built batch */
	bool built;
	void **opaques;               /* count entries */
	int32_t cap_opaques;
	int32_t count;
	size_t mem;                   /* buffer memory it holds */
	int64_t created_ms;
	int64_t deadline_ms;          /* created + delivery_timeout_ms */
	int32_t base_seq;             /* -1 until first sent (idempotent) */
	int attempts;
	/* outcome, for the delivery report */
	int err;
	int64_t base_offset;
};

struct ppart {
	struct ptopic *t;
	int32_t id;
	/* under p->mu */
	struct pbatch *open;
	struct pbatch *ready_head, *ready_tail;
	/* io thread only */
	struct pbatch *sendq_head, *sendq_tail;
	struct pbatch *infl_head, *infl_tail;
	int n_inflight;
	int32_t next_seq;             /* next sequence to hand out */
	int32_t acked_seq;            /* the sequence the broker expects next,
	                                 as far as answers tell */
	bool recovering;
	bool have_ack;                /* a batch of this epoch was acknowledged */
	int64_t retry_at;
	int32_t leader;
	uint64_t leader_gen;          /* cluster generation leader was read at */
};

struct ptopic {
	char *name;
	/* under p->mu */
	enum topic_state state;
	int err;                      /* T_ERROR: why */
	int32_t n_parts;
	struct ppart **parts;
	int32_t sticky;               /* -1: pick one at the next null key */
	int32_t last_sticky;
	int waiters;
};

struct preq {
	cl_producer *p;
	int32_t node;
	cl_wire *wire;
	struct pbatch **b;
	int n, cap;
	size_t bytes;
	int16_t acks;
};

struct cl_producer {
	cl_producer_conf conf;
	char bootstrap[1024];
	char client_id[128];
	cl_io *io;
	cl_cluster *cl;

	pthread_mutex_t mu;
	pthread_cond_t cv;            /* topic states, delivery queue */
	struct ptopic **topics;       /* grown by copying: the io thread may
	                                 walk an older array (the first
	                                 n_topics it read stay valid) */
	size_t n_topics, cap_topics;
	struct ptopic ***retired;     /* older topic arrays, freed at close */
	size_t n_retired;
	size_t mem_used;
	int64_t outstanding;
	struct pbatch *dr_head, *dr_tail;
	/* Record and batch buffers kept for reuse: a fresh megabyte buffer
	 * per batch costs page faults and the growth copies of realloc. */
	kp_buf pool[POOL_MAX];
	int n_pool;
	size_t pool_bytes;            /* capacity held, at most buffer_memory / 2 */
	bool kick_pending;
	int64_t io_wake_at;           /* when the io thread drains next */
	int flushing;
	bool closing;
	int fatal;
	uint64_t rnd;
	char errmsg[768];

	/* io thread only */
	struct event *timer;
	int64_t timer_at;             /* INT64_MAX when not armed */
	struct event *drain_ev;       /* drain_soon() */
	bool drain_pending;
	enum pid_state pid_state;
	int64_t pid;
	int16_t epoch;
	int64_t pid_retry_at;
	bool pid_inflight;            /* an InitProducerId is out */
	int produce_inflight;
	uint64_t seen_gen;
	bool io_closing;
};

static void drain(cl_producer *p);

/* ------------------------------------------------------------- helpers */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void errf_locked(cl_producer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errf_locked(cl_producer *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
	va_end(ap);
}

static void errf(cl_producer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errf(cl_producer *p, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&p->mu);
	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&p->mu);
}

/* xorshift64*: the sticky partitioner's randomness. Under p->mu. */
static uint32_t rnd_next(cl_producer *p)
{
	uint64_t x = p->rnd;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->rnd = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static void batch_free(struct pbatch *b)
{
	if (b == NULL)
		return;
	kp_batch_builder_free(&b->bb);
	kp_buf_free(&b->wire);
	free(b->opaques);
	free(b);
}

static void list_push(struct pbatch **head, struct pbatch **tail, struct pbatch *b)
{
	b->next = NULL;
	if (*tail)
		(*tail)->next = b;
	else
		*head = b;
	*tail = b;
}

static void list_remove(struct pbatch **head, struct pbatch **tail, struct pbatch *b)
{
	struct pbatch *prev = NULL;
	for (struct pbatch *x = *head; x; prev = x, x = x->next) {
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

static void free_list(struct pbatch *b)
{
	while (b) {
		struct pbatch *n = b->next;
		batch_free(b);
		b = n;
	}
}

/* Under p->mu: an empty buffer, from the pool when it has one. */
static kp_buf pool_get_locked(cl_producer *p)
{
	kp_buf b;
	if (p->n_pool > 0) {
		b = p->pool[--p->n_pool];
		p->pool_bytes -= b.cap;
		kp_buf_reset(&b);
	} else {
		kp_buf_init(&b);
	}
	return b;
}

/* Gives a buffer back (to the pool, or freed when the pool is full or the
 * buffer is oversized). Takes the lock. */
static void pool_put(cl_producer *p, kp_buf *b)
{
	if (b->data == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	if (p->n_pool < POOL_MAX && b->n_ext == 0 &&
	    p->pool_bytes + b->cap <= p->conf.buffer_memory / 2) {
		p->pool_bytes += b->cap;
		p->pool[p->n_pool++] = *b;
		kp_buf_init(b);
	}
	pthread_mutex_unlock(&p->mu);
	kp_buf_free(b);
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

static void on_kick(void *arg)
{
	cl_producer *p = arg;
	pthread_mutex_lock(&p->mu);
	p->kick_pending = false;
	pthread_mutex_unlock(&p->mu);
	drain(p);
}

/* Under p->mu: true when the caller must cl_io_call(on_kick) after
 * unlocking (one kick in flight at a time). */
static bool kick_locked(cl_producer *p)
{
	if (p->kick_pending || p->closing)
		return false;
	p->kick_pending = true;
	return true;
}

static void kick(cl_producer *p)
{
	if (cl_io_call(p->io, on_kick, p) < 0) {
		pthread_mutex_lock(&p->mu);
		p->kick_pending = false;   /* the next send or the timer tries again */
		pthread_mutex_unlock(&p->mu);
	}
}

/* -------------------------------------------------- delivery and outcome */

/* io thread: the batch is done (delivered or failed); queue its report. */
static void batch_complete(cl_producer *p, struct pbatch *b, int err, int64_t base_offset)
{
	b->err = err;
	b->base_offset = err ? -1 : base_offset;
	pthread_mutex_lock(&p->mu);
	list_push(&p->dr_head, &p->dr_tail, b);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void need_bump(cl_producer *p)
{
	if (p->conf.idempotence && p->pid_state == PID_READY)
		p->pid_state = PID_BUMP;
}

/* A batch that will not be delivered. */
static void batch_fail(cl_producer *p, struct pbatch *b, int err)
{
	struct ptopic *t = b->part->t;
	if (err != CL_ERR_STOPPED)
		errf(p, "%d record(s) for %s [%d] not delivered: %s%s", b->count, t->name,
		     b->part->id, cl_err_name(err),
		     err == CL_ERR_MSG_TIMED_OUT ? " (delivery.timeout.ms passed; is the broker up?)" : "");
	/* A sent batch leaves a hole in the sequence the broker expects. */
	if (b->base_seq >= 0)
		need_bump(p);
	batch_complete(p, b, err, -1);
}

/* Puts b back into its partition's sendq at its sequence's place. */
static void sendq_insert(struct ppart *pp, struct pbatch *b)
{
	struct pbatch *prev = NULL, *x = pp->sendq_head;
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
static void batch_retry(cl_producer *p, struct pbatch *b, int err)
{
	struct ppart *pp = b->part;
	int64_t now = cl__now_ms();
	if (now >= b->deadline_ms || b->attempts > p->conf.retries) {
		batch_fail(p, b, now >= b->deadline_ms ? CL_ERR_MSG_TIMED_OUT : err);
		return;
	}
	errf(p, "retrying %d record(s) for %s [%d] after %s", b->count, pp->t->name, pp->id,
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
	pthread_mutex_lock(&p->mu);
	size_t nt = p->n_topics;
	struct ptopic **topics = p->topics;
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < nt; i++) {
		struct ptopic *t = topics[i];
		for (int32_t k = 0; k < t->n_parts; k++) {
			struct ppart *pp = t->parts[k];
			int32_t seq = 0;
			for (struct pbatch *b = pp->sendq_head; b; b = b->next) {
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

static void fail_everything(cl_producer *p, int err);

static void on_init_pid(void *arg, int err, int16_t version, kp_reader *body)
{
	cl_producer *p = arg;
	p->pid_inflight = false;
	if (p->io_closing)
		return;
	bool bump = p->pid_state == PID_BUMP;
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
				errf(p, "InitProducerId failed with %s; the producer cannot go on (try --no-idempotence?)",
				     cl_err_name(err));
				fail_everything(p, err);
				return;
			}
		} else {
			p->pid = m.ProducerId;
			p->epoch = m.ProducerEpoch;
			p->pid_state = PID_READY;
			if (bump)
				renumber(p);
		}
		kp_arena_free(&a);
	}
	if (err != 0) {
		errf(p, "InitProducerId: %s; retrying", cl_err_name(err));
		p->pid_state = bump ? PID_BUMP : PID_NONE;
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
		errf(p, "InitProducerId: %s", w ? cl_wire_errmsg(w) : cl_cluster_errmsg(p->cl));
		p->pid_retry_at = cl__now_ms() + p->conf.retry_backoff_ms;
		arm_timer(p, p->pid_retry_at);
		refresh_metadata(p);
		return;
	}
	/* A bump stays PID_BUMP until the answer; nothing is sent meanwhile. */
	if (p->pid_state == PID_NONE)
		p->pid_state = PID_REQUESTING;
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
		struct pbatch *b = r->b[i];
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

/* One batch's answer. */
static void batch_answer(cl_producer *p, struct pbatch *b, int16_t code, int64_t base_offset,
			 bool *refresh)
{
	struct ppart *pp = b->part;
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
			batch_fail(p, b, cl_err_kafka(code));
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
	batch_fail(p, b, cl_err_kafka(code));
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
			struct ppart *pp = r->b[i]->part;
			list_remove(&pp->infl_head, &pp->infl_tail, r->b[i]);
			pp->n_inflight--;
			batch_complete(p, r->b[i], CL_ERR_STOPPED, -1);
		}
		preq_free(r);
		return;
	}
	if (err == 0 && body == NULL) {           /* acks=0: written */
		for (int i = 0; i < r->n; i++)
			batch_answer(p, r->b[i], 0, -1, &refresh);
		preq_free(r);
		drain_soon(p);
		return;
	}
	kp_ProduceResponse m;
	kp_arena a;
	kp_arena_init(&a, 0);
	if (err == 0 && kp_ProduceResponse_decode(body, version, &a, &m) < 0) {
		errf(p, "the Produce v%d answer from %s does not parse", version, cl_wire_addr(r->wire));
		err = CL_ERR_PROTOCOL;
	}
	if (err != 0) {
			if (err != CL_ERR_PROTOCOL)
			errf(p, "Produce to %s: %s", cl_wire_addr(r->wire), cl_wire_errmsg(r->wire));
		for (int i = 0; i < r->n; i++) {
			struct ppart *pp = r->b[i]->part;
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
					struct pbatch *b = r->b[i];
					if ((seen && seen[i]) || b->part->id != pr->Index ||
					    (size_t)tr->Name.len != strlen(b->part->t->name) ||
					    memcmp(tr->Name.p, b->part->t->name, (size_t)tr->Name.len) != 0)
						continue;
					if (seen)
						seen[i] = true;
					if (pr->ErrorCode != 0 && pr->ErrorMessage.len > 0)
						errf(p, "%s [%d]: %s: %.*s", b->part->t->name, b->part->id,
						     cl_kafka_err_name(pr->ErrorCode) ? cl_kafka_err_name(pr->ErrorCode) : "?",
						     pr->ErrorMessage.len, (const char *)pr->ErrorMessage.p);
					batch_answer(p, b, pr->ErrorCode, pr->BaseOffset, &refresh);
					break;
				}
			}
		}
		/* A partition the answer does not mention is retried. */
		for (int i = 0; i < r->n; i++) {
			if (seen && seen[i])
				continue;
			struct ppart *pp = r->b[i]->part;
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
static int batch_build(cl_producer *p, struct pbatch *b)
{
	struct ppart *pp = b->part;
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
	b->wire = pool_get_locked(p);
	pthread_mutex_unlock(&p->mu);
	int rc = kp_batch_builder_finish(&b->bb, &b->wire);
	pool_put(p, &b->bb.records);
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

static bool preq_add(struct preq *r, struct pbatch *b)
{
	if (r->n == r->cap) {
		int cap = r->cap ? r->cap * 2 : 8;
		struct pbatch **nb = realloc(r->b, (size_t)cap * sizeof *nb);
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
static int topic_set_parts(struct ptopic *t, int32_t n)
{
	if (n <= t->n_parts)
		return 0;
	struct ppart **np = realloc(t->parts, (size_t)n * sizeof *np);
	if (np == NULL)
		return -ENOMEM;
	t->parts = np;
	for (int32_t i = t->n_parts; i < n; i++) {
		struct ppart *pp = calloc(1, sizeof *pp);
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
		struct ptopic *t = p->topics[i];
		if (gen != p->seen_gen && t->state == T_KNOWN) {
			int c = cl_cluster_partition_count(p->cl, t->name);
			if (c > t->n_parts)
				(void)topic_set_parts(t, c);
		}
		for (int32_t k = 0; k < t->n_parts; k++) {
			struct ppart *pp = t->parts[k];
			struct pbatch *o = pp->open;
			if (o) {
				int64_t due = o->created_ms + p->conf.linger_ms;
				if (flushing || now >= due) {
					list_push(&pp->ready_head, &pp->ready_tail, o);
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
static bool expire(cl_producer *p, struct ppart *pp, int64_t now)
{
	while (pp->sendq_head && now >= pp->sendq_head->deadline_ms) {
		struct pbatch *b = pp->sendq_head;
		pp->sendq_head = b->next;
		if (pp->sendq_head == NULL)
			pp->sendq_tail = NULL;
		batch_fail(p, b, CL_ERR_MSG_TIMED_OUT);
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

	pthread_mutex_lock(&p->mu);
	size_t nt = p->n_topics;
	struct ptopic **topics = p->topics;
	pthread_mutex_unlock(&p->mu);

	if (p->conf.idempotence && p->pid_state != PID_READY) {
		for (size_t i = 0; i < nt; i++)
			for (int32_t k = 0; k < topics[i]->n_parts; k++)
				waiting |= expire(p, topics[i]->parts[k], now);
		if (p->pid_state == PID_NONE ||
		    (p->pid_state == PID_BUMP && p->produce_inflight == 0))
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
			struct ptopic *t = topics[i];
			for (int32_t k = 0; k < t->n_parts; k++) {
				struct ppart *pp = t->parts[k];
				if (!expire(p, pp, now))
					continue;
				waiting = true;
				struct pbatch *b = pp->sendq_head;
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
					batch_fail(p, b, CL_ERR_ARG);
					continue;
				}
				if (r->n > 0 && r->bytes + b->wire.len > p->conf.max_request_size)
					continue;
				if (!preq_add(r, b))
					continue;
				pp->sendq_head = b->next;
				if (pp->sendq_head == NULL)
					pp->sendq_tail = NULL;
				list_push(&pp->infl_head, &pp->infl_tail, b);
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
				errf(p, "Produce to %s: %s", cl_wire_addr(r->wire),
				     cl_wire_errmsg(r->wire)[0] ? cl_wire_errmsg(r->wire) : cl_strerror(rc));
				for (int j = 0; j < r->n; j++) {
					struct ppart *pp = r->b[j]->part;
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

static void io_topic_meta(void *arg)
{
	cl_producer *p = arg;
	if (p->io_closing)
		return;
	const char *names[64];
	size_t n = 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n_topics && n < 64; i++)
		if (p->topics[i]->state == T_PENDING)
			names[n++] = p->topics[i]->name;
	pthread_mutex_unlock(&p->mu);
	if (n == 0)
		return;
	if (cl_cluster_refresh(p->cl, names, n, on_topic_meta, p) < 0) {
		pthread_mutex_lock(&p->mu);
		for (size_t i = 0; i < p->n_topics; i++)
			if (p->topics[i]->state == T_PENDING) {
				p->topics[i]->state = T_ERROR;
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
		struct ptopic *t = p->topics[i];
		if (t->state != T_PENDING)
			continue;
		int c = cl_cluster_partition_count(p->cl, t->name);
		if (c > 0) {
			if (topic_set_parts(t, c) < 0) {
				t->state = T_ERROR;
				t->err = -ENOMEM;
			} else {
				t->state = T_KNOWN;
			}
		} else if (c == cl_err_kafka(KAFKA_UNKNOWN_TOPIC_OR_PARTITION) ||
			   (c < -1 && !cl_kafka_err_retriable(cl_err_kafka_code(c)))) {
			t->state = T_ERROR;
			t->err = c;
			errf_locked(p, "topic '%s': %s (%s)", t->name, cl_err_name(c),
				    cl_kafka_err_desc(cl_err_kafka_code(c)));
		} else if (t->waiters > 0) {
			if (err < 0)
				errf_locked(p, "%s", cl_cluster_errmsg(p->cl));
			t->err = err < 0 ? err : (c < -1 ? c : CL_ERR_TIMEOUT);
			again = true;
		} else {
			t->state = T_UNKNOWN;
		}
	}
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (again)
		io_topic_meta(p);
	else
		drain_soon(p);
}

/* Under p->mu: the topic named name, added when new. */
static struct ptopic *topic_get(cl_producer *p, const char *name)
{
	for (size_t i = 0; i < p->n_topics; i++)
		if (strcmp(p->topics[i]->name, name) == 0)
			return p->topics[i];
	if (p->n_topics == p->cap_topics) {
		size_t cap = p->cap_topics ? p->cap_topics * 2 : 8;
		struct ptopic **nt = malloc(cap * sizeof *nt);
		struct ptopic ***nr = realloc(p->retired, (p->n_retired + 1) * sizeof *nr);
		if (nr)
			p->retired = nr;
		if (nt == NULL || nr == NULL) {
			free(nt);
			return NULL;
		}
		if (p->n_topics)
			memcpy(nt, p->topics, p->n_topics * sizeof *nt);
		if (p->topics)
			p->retired[p->n_retired++] = p->topics;
		p->topics = nt;
		p->cap_topics = cap;
	}
	struct ptopic *t = calloc(1, sizeof *t);
	if (t == NULL || (t->name = strdup(name)) == NULL) {
		free(t);
		return NULL;
	}
	t->sticky = -1;
	t->last_sticky = -1;
	p->topics[p->n_topics++] = t;
	return t;
}

/* Under p->mu: waits until t's partition count is known. 0 or an error. */
static int topic_wait(cl_producer *p, struct ptopic *t)
{
	if (t->state == T_KNOWN)
		return 0;
	if (t->state != T_PENDING) {
		t->state = T_PENDING;
		if (cl_io_call(p->io, io_topic_meta, p) < 0) {
			t->state = T_UNKNOWN;
			return -ENOMEM;
		}
	}
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	int64_t ns = dl.tv_nsec + (int64_t)(p->conf.max_block_ms % 1000) * 1000000;
	dl.tv_sec += p->conf.max_block_ms / 1000 + ns / 1000000000;
	dl.tv_nsec = ns % 1000000000;
	t->waiters++;
	int rc = 0;
	while (t->state == T_PENDING && !p->closing) {
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT) {
			rc = t->err ? t->err : CL_ERR_TIMEOUT;
			if (rc == CL_ERR_NO_BROKER)
				;   /* errmsg holds the cluster's sentence */
			else
				errf_locked(p, "no metadata for topic '%s' within %d ms (%s)", t->name,
					    p->conf.max_block_ms, cl_err_name(rc));
			break;
		}
	}
	t->waiters--;
	if (p->closing)
		return CL_ERR_STOPPED;
	if (rc == 0 && t->state == T_ERROR) {
		rc = t->err;
		t->state = T_UNKNOWN;   /* the next send asks again */
	}
	if (rc != 0 && t->waiters == 0 && t->state == T_PENDING)
		t->state = T_UNKNOWN;
	return rc;
}

/* ------------------------------------------------------------ send path */

int cl_producer_send(cl_producer *p, const cl_record *r)
{
	if (r == NULL || r->topic == NULL || r->topic[0] == '\0' || r->key_len < -1 ||
	    r->value_len < -1 || (r->key_len > 0 && r->key == NULL) ||
	    (r->value_len > 0 && r->value == NULL) || r->n_headers < 0 ||
	    (r->n_headers > 0 && r->headers == NULL))
		return CL_ERR_ARG;
	size_t mem = RECORD_OVERHEAD + (size_t)(r->key_len > 0 ? r->key_len : 0) +
		     (size_t)(r->value_len > 0 ? r->value_len : 0);
	for (int32_t i = 0; i < r->n_headers; i++)
		mem += 8 + (size_t)(r->headers[i].key_len > 0 ? r->headers[i].key_len : 0) +
		       (size_t)(r->headers[i].value_len > 0 ? r->headers[i].value_len : 0);
	int64_t ts = r->timestamp > 0 ? r->timestamp : wall_ms();

	pthread_mutex_lock(&p->mu);
	int rc = 0;
	bool do_kick = false;
	if (p->closing) {
		rc = CL_ERR_STOPPED;
		goto out;
	}
	if (p->fatal) {
		rc = CL_ERR_FATAL;
		goto out;
	}
	if (p->mem_used + mem > p->conf.buffer_memory && p->mem_used > 0) {
		rc = CL_ERR_QUEUE_FULL;
		goto out;
	}
	struct ptopic *t = topic_get(p, r->topic);
	if (t == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = topic_wait(p, t)) < 0)
		goto out;
	int32_t part = r->partition;
	if (part >= t->n_parts || part < CL_PARTITION_ANY) {
		errf_locked(p, "topic '%s' has %d partition(s); there is no partition %d", t->name,
			    t->n_parts, part);
		rc = cl_err_kafka(KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
		goto out;
	}
	if (part < 0) {
		if (r->key_len >= 0) {
			part = cl_partition_for_key(r->key, (size_t)r->key_len, t->n_parts);
		} else {
			if (t->sticky < 0) {
				/* KIP-480: a new partition for each new batch, not the
				 * one just closed when there is a choice. */
				int32_t s = (int32_t)(rnd_next(p) % (uint32_t)t->n_parts);
				if (s == t->last_sticky && t->n_parts > 1)
					s = (s + 1 + (int32_t)(rnd_next(p) % (uint32_t)(t->n_parts - 1))) %
					    t->n_parts;
				t->sticky = t->last_sticky = s;
			}
			part = t->sticky;
		}
	}
	struct ppart *pp = t->parts[part];
	struct pbatch *b = pp->open;
	if (b && b->count > 0 && b->bb.records.len + mem > p->conf.batch_size) {
		/* This record would overflow the batch: close it first. */
		list_push(&pp->ready_head, &pp->ready_tail, b);
		pp->open = b = NULL;
		do_kick |= kick_locked(p);
		if (r->key_len < 0 && r->partition < 0 && t->sticky == part) {
			t->sticky = -1;
			/* the record itself goes to the next sticky partition */
			pthread_mutex_unlock(&p->mu);
			if (do_kick)
				kick(p);
			return cl_producer_send(p, r);
		}
	}
	if (b == NULL) {
		b = calloc(1, sizeof *b);
		if (b == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		b->part = pp;
		b->base_seq = -1;
		kp_batch_builder_init(&b->bb, p->conf.codec, 0);
		b->bb.records = pool_get_locked(p);
		b->created_ms = cl__now_ms();
		b->deadline_ms = b->created_ms + p->conf.delivery_timeout_ms;
		pp->open = b;
		if (b->created_ms + p->conf.linger_ms < p->io_wake_at) {
			p->io_wake_at = b->created_ms + p->conf.linger_ms;
			do_kick |= kick_locked(p);
		}
	}
	if (b->count == b->cap_opaques) {
		int32_t cap = b->cap_opaques ? b->cap_opaques * 2 : 64;
		void **no = realloc(b->opaques, (size_t)cap * sizeof *no);
		if (no == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		b->opaques = no;
		b->cap_opaques = cap;
	}
	rc = kp_batch_builder_add(&b->bb, ts, r->key, r->key_len, r->value, r->value_len,
				  r->headers, r->n_headers);
	if (rc < 0) {
		errf_locked(p, "record refused: %s", cl_strerror(rc));
		if (b->count == 0) {
			pp->open = NULL;
			batch_free(b);
		}
		goto out;
	}
	b->opaques[b->count++] = r->opaque;
	b->mem += mem;
	p->mem_used += mem;
	p->outstanding++;
	if (b->bb.records.len >= p->conf.batch_size) {
		list_push(&pp->ready_head, &pp->ready_tail, b);
		pp->open = NULL;
		if (t->sticky == part)
			t->sticky = -1;
		do_kick |= kick_locked(p);
	}
out:
	pthread_mutex_unlock(&p->mu);
	if (do_kick)
		kick(p);
	return rc;
}

/* ------------------------------------------------------ reports, flush */

int cl_producer_poll(cl_producer *p, int timeout_ms)
{
	pthread_mutex_lock(&p->mu);
	if (p->dr_head == NULL && timeout_ms != 0) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		int64_t ns = dl.tv_nsec + (int64_t)(timeout_ms % 1000) * 1000000;
		dl.tv_sec += timeout_ms / 1000 + ns / 1000000000;
		dl.tv_nsec = ns % 1000000000;
		while (p->dr_head == NULL) {
			if (timeout_ms < 0)
				pthread_cond_wait(&p->cv, &p->mu);
			else if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
				break;
		}
	}
	struct pbatch *list = p->dr_head;
	p->dr_head = p->dr_tail = NULL;
	pthread_mutex_unlock(&p->mu);

	int n = 0;
	size_t mem = 0;
	int64_t recs = 0;
	for (struct pbatch *b = list; b; b = b->next) {
		if (p->conf.on_delivery) {
			cl_delivery d = { .topic = b->part->t->name, .partition = b->part->id, .err = b->err };
			for (int32_t i = 0; i < b->count; i++) {
				d.offset = b->base_offset >= 0 ? b->base_offset + i : -1;
				d.opaque = b->opaques[i];
				p->conf.on_delivery(p->conf.app, &d);
			}
		}
		n += b->count;
		mem += b->mem;
		recs += b->count;
	}
	for (struct pbatch *b = list; b; b = b->next)
		pool_put(p, &b->wire);
	free_list(list);
	if (list) {
		pthread_mutex_lock(&p->mu);
		p->mem_used -= mem;
		p->outstanding -= recs;
		pthread_mutex_unlock(&p->mu);
	}
	return n;
}

int64_t cl_producer_outstanding(cl_producer *p)
{
	pthread_mutex_lock(&p->mu);
	int64_t n = p->outstanding;
	pthread_mutex_unlock(&p->mu);
	return n;
}

int cl_producer_flush(cl_producer *p, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : cl__now_ms() + timeout_ms;
	pthread_mutex_lock(&p->mu);
	p->flushing++;
	bool k = kick_locked(p);
	pthread_mutex_unlock(&p->mu);
	if (k)
		kick(p);
	int rc = 0;
	while (cl_producer_outstanding(p) > 0) {
		int64_t left = deadline - cl__now_ms();
		if (left <= 0) {
			rc = CL_ERR_TIMEOUT;
			break;
		}
		cl_producer_poll(p, left > 100 ? 100 : (int)left);
	}
	pthread_mutex_lock(&p->mu);
	p->flushing--;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

const char *cl_producer_errmsg(cl_producer *p, char *buf, size_t len)
{
	pthread_mutex_lock(&p->mu);
	snprintf(buf, len, "%s", p->errmsg);
	pthread_mutex_unlock(&p->mu);
	return buf;
}

/* io: a fatal error fails every queued batch (in-flight ones fail when
 * their answers come). */
static void fail_everything(cl_producer *p, int err)
{
	pthread_mutex_lock(&p->mu);
	p->fatal = err;
	pthread_mutex_unlock(&p->mu);
	collect(p, INT64_MAX);
	pthread_mutex_lock(&p->mu);
	size_t nt = p->n_topics;
	struct ptopic **topics = p->topics;
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < nt; i++) {
		struct ptopic *t = topics[i];
		for (int32_t k = 0; k < t->n_parts; k++) {
			struct ppart *pp = t->parts[k];
			struct pbatch *b;
			while ((b = pp->sendq_head) != NULL) {
				pp->sendq_head = b->next;
				batch_complete(p, b, err, -1);
			}
			pp->sendq_tail = NULL;
		}
	}
	p->pid_state = PID_NONE;
	p->pid_retry_at = INT64_MAX;
}

/* ------------------------------------------------------------ lifecycle */

void cl_producer_conf_init(cl_producer_conf *c)
{
	memset(c, 0, sizeof *c);
	c->bootstrap = "localhost:9092";
	c->client_id = "rewind-producer";
	c->acks = -1;
	c->linger_ms = 5;
	c->batch_size = 1000000;
	c->codec = KP_CODEC_NONE;
	c->idempotence = true;
	c->retries = INT32_MAX;
	c->retry_backoff_ms = 100;
	c->delivery_timeout_ms = 120000;
	c->request_timeout_ms = 30000;
	c->max_block_ms = 60000;
	c->buffer_memory = (size_t)32 << 20;
	c->max_in_flight = 5;
	c->max_request_size = (size_t)8 << 20;
	c->allow_auto_create = true;
}

struct setup {
	cl_producer *p;
	cl_opts opts;
	int rc;
	char err[512];
	bool done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* io: the cluster and the timer belong to the io thread from birth. */
static void io_setup(void *arg)
{
	struct setup *s = arg;
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

static void io_teardown(void *arg)
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

static int conf_err(char *err, size_t errlen, const char *msg)
{
	if (errlen)
		snprintf(err, errlen, "%s", msg);
	return CL_ERR_ARG;
}

int cl_producer_new(const cl_producer_conf *conf, cl_producer **out, char *err, size_t errlen)
{
	*out = NULL;
	cl_producer_conf c;
	if (conf)
		c = *conf;
	else
		cl_producer_conf_init(&c);
	if (c.acks != -1 && c.acks != 0 && c.acks != 1)
		return conf_err(err, errlen, "acks must be -1 (all), 0 or 1");
	if (c.idempotence && c.acks != -1)
		return conf_err(err, errlen,
				"idempotence needs acks=-1 (all); set acks to all or turn idempotence off");
	if (c.idempotence && (c.max_in_flight > 5 || c.max_in_flight < 1))
		return conf_err(err, errlen, "idempotence allows 1 to 5 requests in flight per broker");
	if (c.max_in_flight < 1 || c.linger_ms < 0 || c.batch_size < 1 || c.retry_backoff_ms < 0 ||
	    c.delivery_timeout_ms < 1 || c.request_timeout_ms < 1 || c.max_block_ms < 0 ||
	    c.buffer_memory < 1 || c.retries < 0 || c.max_request_size < 1)
		return conf_err(err, errlen,
				"a producer setting is out of range (linger_ms >= 0, sizes and timeouts > 0)");
	if (kp_codec_name(c.codec) == NULL)
		return conf_err(err, errlen, "unknown compression codec (none, gzip, snappy, lz4, zstd)");

	cl_producer *p = calloc(1, sizeof *p);
	if (p == NULL)
		return conf_err(err, errlen, "out of memory"), -ENOMEM;
	p->conf = c;
	snprintf(p->bootstrap, sizeof p->bootstrap, "%s", c.bootstrap ? c.bootstrap : "localhost:9092");
	snprintf(p->client_id, sizeof p->client_id, "%s", c.client_id ? c.client_id : "rewind-producer");
	p->conf.bootstrap = p->bootstrap;
	p->conf.client_id = p->client_id;
	p->io_wake_at = INT64_MAX;
	p->timer_at = INT64_MAX;
	p->seen_gen = UINT64_MAX;
	p->pid = -1;
	p->epoch = -1;
	p->pid_state = c.idempotence ? PID_NONE : PID_READY;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	p->rnd = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uintptr_t)p;
	if (p->rnd == 0)
		p->rnd = 88172645463325252ULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);

	int rc;
	if ((rc = cl_io_start("rw-producer", &p->io)) < 0) {
		snprintf(err, errlen, "cannot start the producer's io thread: %s", cl_strerror(rc));
		goto fail;
	}
	struct setup s = { .p = p, .opts = { .client_id = p->client_id,
					     .request_timeout_ms = c.request_timeout_ms } };
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	if ((rc = cl_io_call(p->io, io_setup, &s)) == 0) {
		pthread_mutex_lock(&s.mu);
		while (!s.done)
			pthread_cond_wait(&s.cv, &s.mu);
		pthread_mutex_unlock(&s.mu);
		rc = s.rc;
		if (rc < 0 && errlen)
			snprintf(err, errlen, "%s", s.err);
	}
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	if (rc < 0) {
		cl_io_stop(p->io);
		goto fail;
	}
	*out = p;
	return 0;
fail:
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
	return rc;
}

int cl_producer_close(cl_producer *p, int timeout_ms)
{
	if (p == NULL)
		return 0;
	int rc = 0;
	if (timeout_ms != 0)
		rc = cl_producer_flush(p, timeout_ms);
	else if (cl_producer_outstanding(p) > 0)
		rc = CL_ERR_TIMEOUT;
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	while (cl_io_call(p->io, io_teardown, p) < 0)
		cl__sleep_ms(1);
	cl_io_stop(p->io);
	for (size_t i = 0; i < p->n_topics; i++) {
		struct ptopic *t = p->topics[i];
		for (int32_t k = 0; k < t->n_parts; k++) {
			struct ppart *pp = t->parts[k];
			batch_free(pp->open);
			free_list(pp->ready_head);
			free_list(pp->sendq_head);
			free_list(pp->infl_head);
			free(pp);
		}
		free(t->parts);
		free(t->name);
		free(t);
	}
	free(p->topics);
	for (size_t i = 0; i < p->n_retired; i++)
		free(p->retired[i]);
	free(p->retired);
	free_list(p->dr_head);
	for (int i = 0; i < p->n_pool; i++)
		kp_buf_free(&p->pool[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
	return rc;
}
