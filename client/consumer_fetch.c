/*
 * consumer_fetch.c -- where the consumer's partitions start, who leads
 * them and the fetches, as requests on the io thread (see consumer.c for
 * the threads and the invariants).
 *
 * A partition starts at an offset, the group's committed offset
 * (OffsetFetch at the coordinator; else auto.offset.reset), or at
 * ListOffsets' answer for earliest, latest or a timestamp, asked at its
 * leader. Leaders come from the data cluster's Metadata cache (c->fc),
 * refreshed when a partition has none or a fetch says the leader moved.
 *
 * One Fetch at a time goes to each leader, for every partition ready there
 * (resolved, leader known, no backoff); several leaders are fetched from at
 * once, and nothing is fetched while the queue holds prefetch_max_bytes. The
 * complete batches of each partition's answer are queued as one chunk and
 * the fetch offset moves past them, so the next Fetch goes out before poll
 * has read the last; a batch cut at the size limit is asked again whole.
 * Fetch v13+ names topics by id: the ids come from a Metadata request of
 * our own on the leader's wire, the first time a wire speaks v13.
 *
 * Every done callback takes c->mu, applies its answer only to partitions
 * whose epoch is unchanged, runs a tick and frees its context.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/cl_int.h"

/* A request's context: the consumer, its partitions, scratch memory. */
struct req {
	cl_consumer *c;
	struct cl__cons_row *rows;
	size_t n;
	int32_t leader;
	bool need_ids;                /* Fetch: v13+ without topic ids yet */
	kp_arena a;
};

static struct req *req_new(cl_consumer *c, size_t n)
{
	struct req *k = calloc(1, sizeof *k);
	if (k == NULL || (n && (k->rows = calloc(n, sizeof *k->rows)) == NULL)) {
		free(k);
		return NULL;
	}
	k->c = c;
	k->leader = -1;
	kp_arena_init(&k->a, 0);
	return k;
}

static void req_free(struct req *k)
{
	kp_arena_free(&k->a);
	free(k->rows);
	free(k);
}

/* The rows' topic groups (names borrowed from the parts). */
static int req_groups(struct req *k, struct cl__tgroup **g, size_t *ng)
{
	return cl__cons_row_groups(&k->a, k->rows, k->n, g, ng);
}

static bool row_current(const struct cl__cons_row *r)
{
	return r->p->epoch == r->epoch && r->p->assigned;
}

/* ------------------------------------------------ committed offsets */

static int offsets_encode(void *arg, int16_t v, kp_buf *body)
{
	struct req *k = arg;
	return cl__offset_fetch_encode(body, v, &k->a, k->c->group_id);
}

/* Finds the committed offset of the row (the committed_find arg). */
struct committed_find {
	const struct cl__cons_row *r;
	int64_t offset;               /* -1 until found */
};

static int committed_match(void *arg, kp_str topic, int32_t partition, int64_t offset,
			   kp_str metadata, int16_t error)
{
	struct committed_find *f = arg;
	(void)metadata;
	if (partition != f->r->p->partition || error != 0 || !cl__str_eq(topic, f->r->p->topic))
		return 0;
	f->offset = offset;
	return 1;
}

/* The committed offset the answer gives for r, or -1. */
static int64_t committed_of(const kp_OffsetFetchResponse *m, int16_t v, const struct cl__cons_row *r)
{
	struct committed_find f = { r, -1 };
	cl__offset_fetch_each(m, v, committed_match, &f);
	return f.offset;
}

static void offsets_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct req *k = arg;
	cl_consumer *c = k->c;
	kp_arena a;
	kp_arena_init(&a, 0);
	pthread_mutex_lock(&c->mu);
	c->offsets_inflight = false;
	int64_t now = cl__now_ms();
	kp_OffsetFetchResponse m;
	int16_t code = 0;
	bool ok = err == 0 && kp_OffsetFetchResponse_decode(body, v, &a, &m) == 0 &&
		  (v < 8 || m.Groups.count == 1);
	if (ok)
		code = v >= 8 ? m.Groups.items[0].ErrorCode : m.ErrorCode;
	if (!ok || code != 0) {
		if (err < 0 || cl__coordinator_moved(code)) {
			c->coord = -1;
			c->coord_retry_at = now + cl__cons_backoff(c, &c->coord_backoff);
		}
		cl__cons_note(c, "fetching the committed offsets of group '%s': %s", c->group_id,
			      err < 0 ? cl_strerror(err) : ok ? cl__kname(code) : "an answer that does not parse");
		for (size_t i = 0; i < k->n; i++) {
			k->rows[i].p->resolving = false;
			k->rows[i].p->retry_at = now + 200;
		}
	} else {
		int reset = c->conf.auto_offset_reset;
		for (size_t i = 0; i < k->n; i++) {
			struct cl__cons_row *r = &k->rows[i];
			struct cl__cons_part *p = r->p;
			p->resolving = false;
			if (!row_current(r) || p->spec != CL_OFFSET_COMMITTED)
				continue;
			int64_t off = committed_of(&m, v, r);
			if (off >= 0) {
				p->need_resolve = false;
				p->fetch_offset = p->position = off;
			} else if (reset == CL_RESET_ERROR) {
				p->failed = true;
				cl__cons_report(c, cl_err_kafka(1), "%s [%d]: the group has no committed "
						"offset and auto.offset.reset is error", p->topic,
						p->partition);
			} else {
				p->spec = reset == CL_RESET_EARLIEST ? CL_OFFSET_EARLIEST : CL_OFFSET_LATEST;
			}
		}
	}
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	kp_arena_free(&a);
	req_free(k);
}

/* --------------------------------------------------------- ListOffsets */

/* cl__part_ask_fn over a request's rows. */
static void row_ask(const void *arg, size_t idx, int32_t *partition, int64_t *timestamp)
{
	const struct cl__cons_row *r = &((const struct req *)arg)->rows[idx];
	*partition = r->p->partition;
	*timestamp = r->spec == CL_OFFSET_AT_TIME ? r->ts : r->spec;
}

static int list_encode(void *arg, int16_t v, kp_buf *body)
{
	struct req *k = arg;
	struct cl__tgroup *g;
	size_t ng;
	if (req_groups(k, &g, &ng) < 0)
		return KP_ERR_NOMEM;
	return cl__list_offsets_encode(body, v, &k->a, g, ng, row_ask, k);
}

static void list_apply(cl_consumer *c, struct cl__cons_row *r, int16_t e, int64_t offset, int64_t now)
{
	struct cl__cons_part *p = r->p;
	if (!row_current(r) || p->spec != r->spec)
		return;
	if (e == 0 && offset < 0 && r->spec == CL_OFFSET_AT_TIME) {
		p->spec = CL_OFFSET_LATEST; /* nothing at or after the time: the end */
	} else if (e == 0 && offset >= 0) {
		p->need_resolve = false;
		p->fetch_offset = p->position = offset;
	} else if (e == 3 || e == 5 || e == 6 || cl_kafka_err_retriable(e)) {
		cl__cons_note(c, "finding where to start %s [%d]: %s", p->topic, p->partition,
			      cl__kname(e));
		p->retry_at = now + 200;
		p->leader = -1;
		c->need_metadata = true;
	} else {
		p->failed = true;
		cl__cons_report(c, cl_err_kafka(e), "finding where to start %s [%d]: %s (%s)",
				p->topic, p->partition, cl__kname(e), cl_kafka_err_desc(e));
	}
}

static void list_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct req *k = arg;
	cl_consumer *c = k->c;
	kp_arena a;
	kp_arena_init(&a, 0);
	pthread_mutex_lock(&c->mu);
	int64_t now = cl__now_ms();
	kp_ListOffsetsResponse m;
	for (size_t i = 0; i < k->n; i++)
		k->rows[i].p->resolving = false;
	if (err < 0 || kp_ListOffsetsResponse_decode(body, v, &a, &m) < 0) {
		cl__cons_note(c, "ListOffsets at broker %d: %s", k->leader,
			      err < 0 ? cl_strerror(err) : "an answer that does not parse");
		for (size_t i = 0; i < k->n; i++) {
			k->rows[i].p->retry_at = now + cl__cons_backoff(c, &c->meta_backoff);
			k->rows[i].p->leader = -1;
		}
		c->need_metadata = true;
	} else {
		for (size_t i = 0; i < k->n; i++) {
			struct cl__cons_row *r = &k->rows[i];
			const kp_ListOffsetsResponse_ListOffsetsPartitionResponse *pp =
				cl__list_offsets_find(&m, r->p->topic, r->p->partition);
			/* unanswered: UNKNOWN_TOPIC_OR_PARTITION */
			list_apply(c, r, pp ? pp->ErrorCode : 3, pp ? pp->Offset : -1, now);
		}
	}
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	kp_arena_free(&a);
	req_free(k);
}

static bool resolvable(const struct cl__cons_part *p, int64_t now)
{
	return p->assigned && p->need_resolve && !p->failed && !p->resolving && p->retry_at <= now;
}

void cl__cons_resolve_step(cl_consumer *c, int64_t now)
{
	/* Committed offsets, at the coordinator. */
	size_t n = 0;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		n += resolvable(p, now) && p->spec == CL_OFFSET_COMMITTED;
	if (n && c->coord >= 0 && !c->offsets_inflight) {
		struct req *k = req_new(c, n);
		if (k) {
			for (struct cl__cons_part *p = c->parts; p; p = p->next)
				if (resolvable(p, now) && p->spec == CL_OFFSET_COMMITTED)
					k->rows[k->n++] = (struct cl__cons_row){ p, p->epoch, -1, p->spec, 0 };
			if (cl__cons_coord_send(c, KP_API_OFFSET_FETCH, offsets_encode, offsets_done,
						k) < 0) {
				req_free(k);
			} else {
				c->offsets_inflight = true;
				for (size_t i = 0; i < k->n; i++)
					k->rows[i].p->resolving = true;
			}
		}
	}
	/* Earliest, latest, a time: ListOffsets at each leader. */
	for (;;) {
		int32_t leader = -1;
		n = 0;
		for (struct cl__cons_part *p = c->parts; p; p = p->next) {
			if (!resolvable(p, now) || p->spec == CL_OFFSET_COMMITTED)
				continue;
			if (p->leader < 0) {
				c->need_metadata = true;
				continue;
			}
			if (leader < 0)
				leader = p->leader;
			n += p->leader == leader;
		}
		if (n == 0)
			return;
		struct req *k = req_new(c, n);
		cl_wire *w = cl_cluster_wire(c->fc, leader);
		if (k == NULL || w == NULL) {
			if (k)
				req_free(k);
			for (struct cl__cons_part *p = c->parts; p; p = p->next)
				if (p->leader == leader)
					p->leader = -1;
			c->need_metadata = true;
			return;
		}
		k->leader = leader;
		for (struct cl__cons_part *p = c->parts; p; p = p->next)
			if (resolvable(p, now) && p->spec != CL_OFFSET_COMMITTED && p->leader == leader)
				k->rows[k->n++] = (struct cl__cons_row){ p, p->epoch, -1, p->spec, p->spec_ts };
		if (cl_wire_send(w, KP_API_LIST_OFFSETS, true, list_encode, list_done, k) < 0) {
			for (size_t i = 0; i < k->n; i++) {
				k->rows[i].p->leader = -1;
				k->rows[i].p->retry_at = now + 100;
			}
			req_free(k);
			c->need_metadata = true;
			return;
		}
		for (size_t i = 0; i < k->n; i++)
			k->rows[i].p->resolving = true;
	}
}

/* ------------------------------------------------------------- metadata */

static void meta_done(void *arg, int err)
{
	cl_consumer *c = arg;
	pthread_mutex_lock(&c->mu);
	c->meta_inflight = false;
	int64_t now = cl__now_ms();
	if (c->closing)
		goto out;
	if (err < 0) {
		cl__cons_note(c, "metadata: %s", cl_cluster_errmsg(c->fc));
		c->meta_retry_at = now + cl__cons_backoff(c, &c->meta_backoff);
		goto out;
	}
	bool missing = false;
	for (struct cl__cons_part *p = c->parts; p; p = p->next) {
		if (!p->assigned || p->failed)
			continue;
		int n = cl_cluster_partition_count(c->fc, p->topic);
		p->leader = -1;
		if (n == cl_err_kafka(3) || (n > 0 && p->partition >= n)) {
			p->failed = true;
			cl__cons_report(c, cl_err_kafka(3), "topic '%s' partition %d does not exist "
					"(UNKNOWN_TOPIC_OR_PARTITION)", p->topic, p->partition);
			continue;
		}
		if (n < 0 && n != -1 && cl_err_is_kafka(n) &&
		    !cl_kafka_err_retriable(cl_err_kafka_code(n)) && cl_err_kafka_code(n) != 5) {
			p->failed = true;
			cl__cons_report(c, n, "topic '%s': %s (%s)", p->topic,
					cl__kname(cl_err_kafka_code(n)),
					cl_kafka_err_desc(cl_err_kafka_code(n)));
			continue;
		}
		p->leader = cl_cluster_leader(c->fc, p->topic, p->partition);
		missing |= p->leader < 0;
	}
	c->need_metadata = missing;
	if (missing)
		c->meta_retry_at = now + cl__cons_backoff(c, &c->meta_backoff);
	else
		c->meta_backoff = 0;
out:
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
}

void cl__cons_metadata_step(cl_consumer *c, int64_t now)
{
	bool want = c->need_metadata;
	size_t n = 0;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		if (p->assigned && !p->failed) {
			n++;
			want |= p->leader < 0;
		}
	if (!want || n == 0 || c->meta_inflight || now < c->meta_retry_at)
		return;
	const char **names = calloc(n, sizeof *names);
	size_t k = 0;
	if (names == NULL)
		return;
	for (struct cl__cons_part *p = c->parts; p; p = p->next) {
		if (!p->assigned || p->failed)
			continue;
		bool seen = false;
		for (size_t i = 0; i < k && !seen; i++)
			seen = strcmp(names[i], p->topic) == 0;
		if (!seen)
			names[k++] = p->topic;
	}
	c->meta_inflight = true;
	c->need_metadata = false;
	if (cl_cluster_refresh(c->fc, names, k, meta_done, c) < 0) {
		c->meta_inflight = false;
		c->need_metadata = true;
		c->meta_retry_at = now + cl__cons_backoff(c, &c->meta_backoff);
	}
	free(names);
}

/* ---------------------------------------------------------------- fetch */

/* The end of the complete batches at the start of data (bytes) and the
 * offset after them; a batch cut by the size limit is left for the next
 * fetch. KP_ERR_MAGIC and friends for a batch that cannot be read. */
static int complete_batches(const uint8_t *data, size_t len, size_t *used, int64_t *next)
{
	size_t off = 0;
	while (len - off >= KP_BATCH_LOG_OVERHEAD + 5) {
		/* Old message formats (magic 0/1) are not read: the magic byte
		 * sits at the same place in every format. */
		if (len - off < KP_BATCH_HEADER_SIZE) {
			if (data[off + KP_BATCH_OFF_MAGIC] != 2)
				return KP_ERR_MAGIC;
			break;
		}
		kp_batch_header h;
		int rc = kp_batch_header_parse(data + off, len - off, &h);
		if (rc < 0)
			return rc;
		if (kp_batch_size(&h) > len - off)
			break;
		off += kp_batch_size(&h);
		*next = kp_batch_last_offset(&h) + 1;
	}
	*used = off;
	return 0;
}

/* One partition's part of a Fetch answer. */
static void fetch_partition(cl_consumer *c, const struct cl__cons_row *row, int16_t err, int64_t hw,
			    kp_records recs, int64_t now)
{
	struct cl__cons_part *p = row->p;
	if (p->epoch != row->epoch || !p->assigned || p->fetch_offset != row->offset)
		return;
	if (err == 1) { /* OFFSET_OUT_OF_RANGE */
		if (c->conf.auto_offset_reset == CL_RESET_ERROR) {
			p->failed = true;
			cl__cons_report(c, cl_err_kafka(1), "%s [%d]: offset %" PRId64 " is out of range "
			       "(OFFSET_OUT_OF_RANGE) and auto.offset.reset is error", p->topic,
			       p->partition, row->offset);
			return;
		}
		cl__cons_note(c, "%s [%d]: offset %" PRId64 " is out of range; resetting to the %s",
		     p->topic, p->partition, row->offset,
		     c->conf.auto_offset_reset == CL_RESET_EARLIEST ? "earliest" : "latest");
		cl__cons_part_restart(p, c->conf.auto_offset_reset == CL_RESET_EARLIEST
			     ? CL_OFFSET_EARLIEST : CL_OFFSET_LATEST, 0);
		cl__cons_queue_purge(c);
		return;
	}
	if (err != 0) {
		/* Leader moved, broker restarting, partition being created, ...:
		 * learn the leaders again and retry. */
		cl__cons_note(c, "fetching %s [%d]: %s", p->topic, p->partition,
		     cl_kafka_err_name(err) ? cl_kafka_err_name(err) : "?");
		if (err == 29 || err == 73) { /* authorization */
			p->failed = true;
			cl__cons_report(c, cl_err_kafka(err), "fetching %s [%d]: %s (%s)", p->topic, p->partition,
			       cl_kafka_err_name(err), cl_kafka_err_desc(err));
			return;
		}
		p->leader = -1;
		c->need_metadata = true;
		p->retry_at = now + 200;
		return;
	}
	p->hw = hw;
	p->fetched = true;
	if (recs.len <= 0)
		return;
	size_t used;
	int64_t next = p->fetch_offset;
	int rc = complete_batches(recs.p, (size_t)recs.len, &used, &next);
	if (rc < 0) {
		p->failed = true;
		cl__cons_report(c, rc, "%s [%d] at offset %" PRId64 ": records rewind cannot read (%s)",
		       p->topic, p->partition, row->offset, cl_strerror(rc));
		return;
	}
	if (used == 0)
		return; /* only part of a batch; it comes whole next time */
	struct cl__cons_chunk *k = malloc(sizeof *k + used);
	if (k == NULL) {
		p->retry_at = now + 100;
		return;
	}
	k->next = NULL;
	k->p = p;
	k->epoch = p->epoch;
	k->next_offset = next;
	k->len = used;
	memcpy(k->data, recs.p, used);
	if (c->qtail)
		c->qtail->next = k;
	else
		c->qhead = k;
	c->qtail = k;
	c->qbytes += used;
	p->queued++;
	if (next > p->fetch_offset)
		p->fetch_offset = next;
	pthread_cond_broadcast(&c->app_cond);
}

/* Topic ids for Fetch v13+: Metadata of the rows' topics, on the wire. */
static int ids_encode(void *arg, int16_t v, kp_buf *body)
{
	struct req *k = arg;
	struct cl__tgroup *g;
	size_t ng;
	if (req_groups(k, &g, &ng) < 0)
		return KP_ERR_NOMEM;
	kp_MetadataRequest q;
	kp_MetadataRequest_init(&q);
	q.Topics.items = kp_arena_calloc(&k->a, ng, sizeof *q.Topics.items);
	if (q.Topics.items == NULL)
		return KP_ERR_NOMEM;
	q.Topics.count = (int32_t)ng;
	for (size_t t = 0; t < ng; t++) {
		kp_MetadataRequest_MetadataRequestTopic_init(&q.Topics.items[t]);
		q.Topics.items[t].Name = kp_str_from(g[t].topic);
	}
	q.AllowAutoTopicCreation = false;
	return kp_MetadataRequest_encode(body, v, &q);
}

static void ids_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct req *k = arg;
	cl_consumer *c = k->c;
	kp_arena a;
	kp_arena_init(&a, 0);
	pthread_mutex_lock(&c->mu);
	c->ids_inflight = false;
	kp_MetadataResponse m;
	if (err < 0 || kp_MetadataResponse_decode(body, v, &a, &m) < 0 || v < 10) {
		cl__cons_note(c, "topic ids from broker %d: %s", k->leader,
			      err < 0 ? cl_strerror(err) : "no usable answer");
		for (size_t i = 0; i < k->n; i++)
			k->rows[i].p->retry_at = cl__now_ms() + cl__cons_backoff(c, &c->meta_backoff);
	} else {
		for (int32_t t = 0; t < m.Topics.count; t++)
			for (struct cl__cons_part *p = c->parts; p; p = p->next)
				if (m.Topics.items[t].ErrorCode == 0 &&
				    cl__str_eq(m.Topics.items[t].Name, p->topic)) {
					memcpy(p->topic_id, m.Topics.items[t].TopicId.b, 16);
					p->have_id = true;
				}
	}
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	kp_arena_free(&a);
	req_free(k);
}

static int fetch_encode(void *arg, int16_t v, kp_buf *body)
{
	struct req *k = arg;
	cl_consumer *c = k->c;
	struct cl__tgroup *g;
	size_t ng;
	if (v >= 13)
		for (size_t i = 0; i < k->n; i++)
			if (!k->rows[i].p->have_id) {
				k->need_ids = true;
				return CL_ERR_UNSUPPORTED;
			}
	if (req_groups(k, &g, &ng) < 0)
		return KP_ERR_NOMEM;
	kp_FetchRequest q;
	kp_FetchRequest_init(&q);
	q.ReplicaId = -1;
	q.MaxWaitMs = c->conf.fetch_max_wait_ms;
	q.MinBytes = c->conf.fetch_min_bytes;
	q.MaxBytes = c->conf.fetch_max_bytes;
	q.IsolationLevel = 0;
	q.SessionId = 0;
	q.SessionEpoch = -1;
	q.Topics.items = kp_arena_calloc(&k->a, ng, sizeof *q.Topics.items);
	if (q.Topics.items == NULL)
		return KP_ERR_NOMEM;
	q.Topics.count = (int32_t)ng;
	for (size_t t = 0; t < ng; t++) {
		kp_FetchRequest_FetchTopic *ft = &q.Topics.items[t];
		kp_FetchRequest_FetchTopic_init(ft);
		if (v >= 13)
			memcpy(ft->TopicId.b, k->rows[g[t].idx[0]].p->topic_id, 16);
		else
			ft->Topic = kp_str_from(g[t].topic);
		ft->Partitions.items = kp_arena_calloc(&k->a, g[t].n, sizeof *ft->Partitions.items);
		if (ft->Partitions.items == NULL)
			return KP_ERR_NOMEM;
		ft->Partitions.count = (int32_t)g[t].n;
		for (size_t j = 0; j < g[t].n; j++) {
			kp_FetchRequest_FetchPartition *fp = &ft->Partitions.items[j];
			kp_FetchRequest_FetchPartition_init(fp);
			fp->Partition = k->rows[g[t].idx[j]].p->partition;
			fp->FetchOffset = k->rows[g[t].idx[j]].offset;
			fp->PartitionMaxBytes = c->conf.max_partition_fetch_bytes;
		}
	}
	return kp_FetchRequest_encode(body, v, &q);
}

static void fetch_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct req *k = arg;
	cl_consumer *c = k->c;
	pthread_mutex_lock(&c->mu);
	int64_t now = cl__now_ms();
	kp_FetchResponse m;
	for (size_t i = 0; i < k->n; i++)
		k->rows[i].p->fetching = false;
	if (err < 0 && k->need_ids && !c->closing) {
		/* Ask for the ids on the same wire, then fetch again. */
		cl_wire *w = cl_cluster_wire(c->fc, k->leader);
		struct req *q = req_new(c, k->n);
		if (q && w && !c->ids_inflight) {
			q->leader = k->leader;
			q->n = k->n;
			memcpy(q->rows, k->rows, k->n * sizeof *q->rows);
			if (cl_wire_send(w, KP_API_METADATA, true, ids_encode, ids_done, q) == 0) {
				c->ids_inflight = true;
				q = NULL;
			}
		}
		if (q)
			req_free(q);
		for (size_t i = 0; i < k->n; i++)
			k->rows[i].p->retry_at = now + 50;
	} else if (err < 0 || kp_FetchResponse_decode(body, v, &k->a, &m) < 0) {
		cl__cons_note(c, "fetching from broker %d: %s", k->leader,
			      err < 0 ? cl_strerror(err) : "an answer that does not parse");
		int64_t at = now + cl__cons_backoff(c, &c->meta_backoff);
		for (size_t i = 0; i < k->n; i++) {
			k->rows[i].p->retry_at = at;
			k->rows[i].p->leader = -1;
		}
		c->need_metadata = true;
	} else if (m.ErrorCode != 0) {
		cl__cons_note(c, "Fetch from broker %d: %s", k->leader, cl__kname(m.ErrorCode));
		for (size_t i = 0; i < k->n; i++)
			k->rows[i].p->retry_at = now + 200;
	} else {
		for (int32_t ti = 0; ti < m.Responses.count; ti++) {
			const kp_FetchResponse_FetchableTopicResponse *t = &m.Responses.items[ti];
			for (int32_t pi = 0; pi < t->Partitions.count; pi++) {
				const kp_FetchResponse_PartitionData *pd = &t->Partitions.items[pi];
				for (size_t i = 0; i < k->n; i++) {
					const struct cl__cons_part *p = k->rows[i].p;
					bool topic = v >= 13 ? memcmp(t->TopicId.b, p->topic_id, 16) == 0
							     : cl__str_eq(t->Topic, p->topic);
					if (topic && p->partition == pd->PartitionIndex)
						fetch_partition(c, &k->rows[i], pd->ErrorCode,
								pd->HighWatermark, pd->Records, now);
				}
			}
		}
	}
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	req_free(k);
}

static bool fetch_ready(const struct cl__cons_part *p, int64_t now)
{
	return p->assigned && !p->failed && !p->need_resolve && !p->fetching &&
	       p->fetch_offset >= 0 && p->leader >= 0 && p->retry_at <= now;
}

/* True when a Fetch to leader is out. */
static bool leader_busy(const cl_consumer *c, int32_t leader)
{
	for (const struct cl__cons_part *p = c->parts; p; p = p->next)
		if (p->fetching && p->leader == leader)
			return true;
	return false;
}

void cl__cons_fetch_step(cl_consumer *c, int64_t now)
{
	/* One Fetch per leader at a time, for all its ready partitions: a
	 * second request on the wire would wait behind a long poll. The
	 * prefetch bound is global, so a Fetch always asks for everything
	 * and waits at the broker only when every partition is at its end. */
	while (c->qbytes < c->conf.prefetch_max_bytes) {
		int32_t leader = -1;
		size_t n = 0;
		for (struct cl__cons_part *p = c->parts; p; p = p->next) {
			if (!fetch_ready(p, now) || (leader >= 0 && p->leader != leader))
				continue;
			if (leader < 0 && leader_busy(c, p->leader))
				continue;
			leader = p->leader;
			n++;
		}
		if (n == 0)
			return;
		struct req *k = req_new(c, n);
		cl_wire *w = cl_cluster_wire(c->fc, leader);
		if (k == NULL || w == NULL) {
			if (k)
				req_free(k);
			for (struct cl__cons_part *p = c->parts; p; p = p->next)
				if (p->leader == leader) {
					p->leader = -1;
					p->retry_at = now + 100;
				}
			c->need_metadata = true;
			continue;
		}
		k->leader = leader;
		for (struct cl__cons_part *p = c->parts; p; p = p->next)
			if (fetch_ready(p, now) && p->leader == leader)
				k->rows[k->n++] = (struct cl__cons_row){ p, p->epoch, p->fetch_offset, 0, 0 };
		if (cl_wire_send(w, KP_API_FETCH, true, fetch_encode, fetch_done, k) < 0) {
			for (size_t i = 0; i < k->n; i++) {
				k->rows[i].p->leader = -1;
				k->rows[i].p->retry_at = now + 100;
			}
			req_free(k);
			c->need_metadata = true;
			continue;
		}
		for (size_t i = 0; i < k->n; i++)
			k->rows[i].p->fetching = true;
	}
}
