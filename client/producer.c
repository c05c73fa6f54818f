/*
 * producer.c -- the asynchronous producer (see client.h "producer" for the
 * contract): batching, one Produce request per broker, idempotence,
 * retries that keep order, delivery reports. This file is the application
 * side (send, poll, flush, topics, lifecycle) and the picture of the whole;
 * producer_io.c is the io thread's side. Shared structures: cl_int.h.
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
 * that had been sent fails for good, state goes to CL__PID_BUMP: nothing new
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

#include "client/cl_int.h"

#define KAFKA_UNKNOWN_TOPIC_OR_PARTITION 3

/* Buffer memory counted per record beyond its key, value and headers. */
#define RECORD_OVERHEAD 24
/* ------------------------------------------------------------- helpers */

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cl__prod_errf_locked(cl_producer *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
	va_end(ap);
}

void cl__prod_errf(cl_producer *p, const char *fmt, ...)
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

void cl__prod_batch_free(struct cl__pbatch *b)
{
	if (b == NULL)
		return;
	kp_batch_builder_free(&b->bb);
	kp_buf_free(&b->wire);
	free(b->opaques);
	free(b);
}

void cl__prod_list_push(struct cl__pbatch **head, struct cl__pbatch **tail, struct cl__pbatch *b)
{
	b->next = NULL;
	if (*tail)
		(*tail)->next = b;
	else
		*head = b;
	*tail = b;
}

static void free_list(struct cl__pbatch *b)
{
	while (b) {
		struct cl__pbatch *n = b->next;
		cl__prod_batch_free(b);
		b = n;
	}
}

/* Under p->mu: an empty buffer, from the pool when it has one. */
kp_buf cl__prod_pool_get_locked(cl_producer *p)
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
void cl__prod_pool_put(cl_producer *p, kp_buf *b)
{
	if (b->data == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	if (p->n_pool < CL__POOL_MAX && b->n_ext == 0 &&
	    p->pool_bytes + b->cap <= p->conf.buffer_memory / 2) {
		p->pool_bytes += b->cap;
		p->pool[p->n_pool++] = *b;
		kp_buf_init(b);
	}
	pthread_mutex_unlock(&p->mu);
	kp_buf_free(b);
}

/* Under p->mu: true when the caller must cl_io_call(cl__prod_on_kick) after
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
	if (cl_io_call(p->io, cl__prod_on_kick, p) < 0) {
		pthread_mutex_lock(&p->mu);
		p->kick_pending = false;   /* the next send or the timer tries again */
		pthread_mutex_unlock(&p->mu);
	}
}

/* Under p->mu: the topic named name, added when new. */
static struct cl__ptopic *topic_get(cl_producer *p, const char *name)
{
	for (size_t i = 0; i < p->n_topics; i++)
		if (strcmp(p->topics[i]->name, name) == 0)
			return p->topics[i];
	if (p->n_topics == p->cap_topics) {
		size_t cap = p->cap_topics ? p->cap_topics * 2 : 8;
		struct cl__ptopic **nt = malloc(cap * sizeof *nt);
		struct cl__ptopic ***nr = realloc(p->retired, (p->n_retired + 1) * sizeof *nr);
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
	struct cl__ptopic *t = calloc(1, sizeof *t);
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
static int topic_wait(cl_producer *p, struct cl__ptopic *t)
{
	if (t->state == CL__T_KNOWN)
		return 0;
	if (t->state != CL__T_PENDING) {
		t->state = CL__T_PENDING;
		if (cl_io_call(p->io, cl__prod_io_topic_meta, p) < 0) {
			t->state = CL__T_UNKNOWN;
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
	while (t->state == CL__T_PENDING && !p->closing) {
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT) {
			rc = t->err ? t->err : CL_ERR_TIMEOUT;
			if (rc == CL_ERR_NO_BROKER)
				;   /* errmsg holds the cluster's sentence */
			else
				cl__prod_errf_locked(p, "no metadata for topic '%s' within %d ms (%s)", t->name,
					    p->conf.max_block_ms, cl_err_name(rc));
			break;
		}
	}
	t->waiters--;
	if (p->closing)
		return CL_ERR_STOPPED;
	if (rc == 0 && t->state == CL__T_ERROR) {
		rc = t->err;
		t->state = CL__T_UNKNOWN;   /* the next send asks again */
	}
	if (rc != 0 && t->waiters == 0 && t->state == CL__T_PENDING)
		t->state = CL__T_UNKNOWN;
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
	struct cl__ptopic *t = topic_get(p, r->topic);
	if (t == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = topic_wait(p, t)) < 0)
		goto out;
	int32_t part = r->partition;
	if (part >= t->n_parts || part < CL_PARTITION_ANY) {
		cl__prod_errf_locked(p, "topic '%s' has %d partition(s); there is no partition %d", t->name,
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
	struct cl__ppart *pp = t->parts[part];
	struct cl__pbatch *b = pp->open;
	if (b && b->count > 0 && b->bb.records.len + mem > p->conf.batch_size) {
		/* This record would overflow the batch: close it first. */
		cl__prod_list_push(&pp->ready_head, &pp->ready_tail, b);
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
		b->bb.records = cl__prod_pool_get_locked(p);
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
		cl__prod_errf_locked(p, "record refused: %s", cl_strerror(rc));
		if (b->count == 0) {
			pp->open = NULL;
			cl__prod_batch_free(b);
		}
		goto out;
	}
	b->opaques[b->count++] = r->opaque;
	b->mem += mem;
	p->mem_used += mem;
	p->outstanding++;
	if (b->bb.records.len >= p->conf.batch_size) {
		cl__prod_list_push(&pp->ready_head, &pp->ready_tail, b);
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
	struct cl__pbatch *list = p->dr_head;
	p->dr_head = p->dr_tail = NULL;
	pthread_mutex_unlock(&p->mu);

	int n = 0;
	size_t mem = 0;
	int64_t recs = 0;
	for (struct cl__pbatch *b = list; b; b = b->next) {
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
	for (struct cl__pbatch *b = list; b; b = b->next)
		cl__prod_pool_put(p, &b->wire);
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
	p->pid_state = c.idempotence ? CL__PID_NONE : CL__PID_READY;
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
	struct cl__prod_setup s = { .p = p, .opts = { .client_id = p->client_id,
					     .request_timeout_ms = c.request_timeout_ms } };
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	if ((rc = cl_io_call(p->io, cl__prod_io_setup, &s)) == 0) {
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
	while (cl_io_call(p->io, cl__prod_io_teardown, p) < 0)
		cl__sleep_ms(1);
	cl_io_stop(p->io);
	for (size_t i = 0; i < p->n_topics; i++) {
		struct cl__ptopic *t = p->topics[i];
		for (int32_t k = 0; k < t->n_parts; k++) {
			struct cl__ppart *pp = t->parts[k];
			cl__prod_batch_free(pp->open);
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
