/*
 * consumer_fetch.c -- where the consumer's partitions start, who leads
 * them and the fetches, on the background thread (see consumer.c for the
 * threads and the invariants).
 *
 * A partition starts at an offset, the group's committed offset
 * (OffsetFetch; else auto.offset.reset), or at ListOffsets' answer for
 * earliest, latest or a timestamp. Leaders come from Metadata, asked
 * again after any fetch error that says the leader moved. A Fetch goes to
 * each leader with the partitions ready there (resolved, leader known, no
 * backoff, fewer than 4 chunks queued); the complete batches of each
 * partition's answer are queued as one chunk for poll and the fetch
 * offset moves past them. A batch cut at the size limit is asked again
 * whole next time. Fetch stays at v12 at most: v13 names topics by id,
 * which this consumer does not track.
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

/* ---------------------------------------------------- offset resolution */

struct resolve_row {
	struct cl__cons_part *p;
	uint32_t epoch;
	int64_t spec, ts;
	int64_t offset;               /* OUT */
	int16_t error;                /* OUT */
};

void cl__cons_resolve_step(cl_consumer *c, int64_t now)
{
	size_t n = 0, k = 0;
	bool committed = false;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		if (p->assigned && p->need_resolve && !p->failed && p->retry_at <= now)
			n++;
	if (n == 0)
		return;
	struct resolve_row *rows = calloc(n, sizeof *rows);
	cl_list_offset *q = calloc(n, sizeof *q);
	if (rows == NULL || q == NULL) {
		free(rows);
		free(q);
		return;
	}
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		if (p->assigned && p->need_resolve && !p->failed && p->retry_at <= now) {
			rows[k++] = (struct resolve_row){ p, p->epoch, p->spec, p->spec_ts, -1, 0 };
			committed |= p->spec == CL_OFFSET_COMMITTED;
		}
	int reset = c->conf.auto_offset_reset;
	pthread_mutex_unlock(&c->mu);

	/* Committed offsets first: they may turn into a reset. */
	int rc = 0;
	char why[700] = "";
	if (committed) {
		cl_group_offsets *o = NULL;
		if ((rc = cl_offset_fetch(c->gcl, c->group_id, &o)) < 0)
			snprintf(why, sizeof why, "%s", cl_client_errmsg(c->gcl));
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (rows[i].spec != CL_OFFSET_COMMITTED)
				continue;
			rows[i].spec = reset == CL_RESET_EARLIEST ? CL_OFFSET_EARLIEST : CL_OFFSET_LATEST;
			for (size_t j = 0; j < o->n_offsets; j++)
				if (o->offsets[j].partition == rows[i].p->partition &&
				    strcmp(o->offsets[j].topic, rows[i].p->topic) == 0 &&
				    o->offsets[j].offset >= 0)
					rows[i].spec = o->offsets[j].offset;
			if (rows[i].spec < 0 && reset == CL_RESET_ERROR)
				rows[i].error = 1; /* OFFSET_OUT_OF_RANGE: nothing to start from */
		}
		cl_group_offsets_free(o);
	}
	size_t nq = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (rows[i].error || rows[i].spec >= 0) {
			rows[i].offset = rows[i].spec;
			continue;
		}
		q[nq].topic = rows[i].p->topic;
		q[nq].partition = rows[i].p->partition;
		q[nq].timestamp = rows[i].spec == CL_OFFSET_AT_TIME ? rows[i].ts : rows[i].spec;
		nq++;
	}
	if (rc == 0 && nq && (rc = cl_list_offsets(c->fcl, q, nq)) < 0)
		snprintf(why, sizeof why, "%s", cl_client_errmsg(c->fcl));
	for (size_t i = 0, j = 0; i < n && rc == 0; i++) {
		if (rows[i].error || rows[i].spec >= 0)
			continue;
		rows[i].error = q[j].error;
		rows[i].offset = q[j].offset;
		j++;
	}
	pthread_mutex_lock(&c->mu);
	now = cl__now_ms();
	for (size_t i = 0; i < n; i++) {
		struct cl__cons_part *p = rows[i].p;
		if (p->epoch != rows[i].epoch)
			continue;
		if (rc < 0) {
			cl__cons_note(c, "finding where to start %s [%d]: %s", p->topic, p->partition, why);
			p->retry_at = now + 500;
			continue;
		}
		int16_t e = rows[i].error;
		if (e == 0 && rows[i].offset < 0 && rows[i].spec == CL_OFFSET_AT_TIME) {
			/* No record at or after the time: start at the end. */
			p->spec = CL_OFFSET_LATEST;
			continue;
		}
		if (e == 0 && rows[i].offset >= 0) {
			p->need_resolve = false;
			p->fetch_offset = p->position = rows[i].offset;
			continue;
		}
		if (e == 1 && rows[i].p->spec == CL_OFFSET_COMMITTED) {
			p->failed = true;
			cl__cons_report(c, cl_err_kafka(1), "%s [%d]: the group has no committed offset and "
			       "auto.offset.reset is error", p->topic, p->partition);
		} else if (e == 3 || e == 5 || e == 6 || e == 14 || cl_kafka_err_retriable(e)) {
			cl__cons_note(c, "finding where to start %s [%d]: %s", p->topic, p->partition,
			     cl_kafka_err_name(e) ? cl_kafka_err_name(e) : "?");
			p->retry_at = now + 500;
			c->need_metadata = true;
		} else {
			p->failed = true;
			cl__cons_report(c, cl_err_kafka(e), "finding where to start %s [%d]: %s (%s)", p->topic,
			       p->partition, cl_kafka_err_name(e) ? cl_kafka_err_name(e) : "?",
			       cl_kafka_err_desc(e));
		}
	}
	free(rows);
	free(q);
}

/* ------------------------------------------------------------- metadata */

void cl__cons_metadata_step(cl_consumer *c, int64_t now)
{
	bool want = c->need_metadata;
	size_t n = 0;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		if (p->assigned && !p->failed) {
			n++;
			want |= p->leader < 0;
		}
	if (!want || n == 0 || now < c->meta_retry_at)
		return;
	const char **names = calloc(n, sizeof *names);
	size_t k = 0;
	if (names == NULL)
		return;
	/* Topic names stay valid: parts are never freed before close. */
	for (struct cl__cons_part *p = c->parts; p; p = p->next) {
		if (!p->assigned || p->failed)
			continue;
		bool seen = false;
		for (size_t i = 0; i < k && !seen; i++)
			seen = strcmp(names[i], p->topic) == 0;
		if (!seen)
			names[k++] = p->topic;
	}
	pthread_mutex_unlock(&c->mu);
	cl_metadata *md = NULL;
	int rc = cl_metadata_get(c->fcl, names, k, &md);
	pthread_mutex_lock(&c->mu);
	free(names);
	now = cl__now_ms();
	if (rc < 0) {
		cl__cons_note(c, "metadata: %s", cl_client_errmsg(c->fcl));
		c->meta_retry_at = now + cl__cons_backoff(c, &c->meta_backoff);
		return;
	}
	bool missing = false;
	for (struct cl__cons_part *p = c->parts; p; p = p->next) {
		if (!p->assigned || p->failed)
			continue;
		const cl_topic_info *t = cl_metadata_topic(md, p->topic);
		p->leader = -1;
		if (t == NULL || t->error == 3 || (t->error == 0 && (size_t)p->partition >= t->n_partitions
						    && t->n_partitions > 0)) {
			p->failed = true;
			cl__cons_report(c, cl_err_kafka(3), "topic '%s' partition %d does not exist "
			       "(UNKNOWN_TOPIC_OR_PARTITION)", p->topic, p->partition);
			continue;
		}
		if (t->error != 0) {
			if (!cl_kafka_err_retriable(t->error) && t->error != 5) {
				p->failed = true;
				cl__cons_report(c, cl_err_kafka(t->error), "topic '%s': %s (%s)", p->topic,
				       cl_kafka_err_name(t->error) ? cl_kafka_err_name(t->error) : "?",
				       cl_kafka_err_desc(t->error));
			}
			missing = true;
			continue;
		}
		for (size_t i = 0; i < t->n_partitions; i++)
			if (t->partitions[i].partition == p->partition)
				p->leader = t->partitions[i].leader;
		missing |= p->leader < 0;
	}
	cl_metadata_free(md);
	c->need_metadata = missing;
	if (missing)
		c->meta_retry_at = now + cl__cons_backoff(c, &c->meta_backoff);
	else
		c->meta_backoff = 0;
}

/* ---------------------------------------------------------------- fetch */

struct fetch_row {
	struct cl__cons_part *p;
	uint32_t epoch;
	int64_t offset;
};

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

/* One partition's part of a Fetch answer (with mu). */
static void fetch_partition(cl_consumer *c, struct fetch_row *row, int16_t err, int64_t hw,
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

/* One Fetch to `leader` for rows[0..n) (mu dropped for the request). */
static void fetch_from(cl_consumer *c, int32_t leader, struct fetch_row *rows, size_t n,
		       int max_wait)
{
	kp_buf body, resp;
	kp_arena a;
	cl_conn *conn;
	int16_t v;
	int rc;
	char why[700] = "";

	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_arena_init(&a, 0);
	pthread_mutex_unlock(&c->mu);
	if ((rc = cl_client_broker(c->fcl, leader, &conn)) < 0 ||
	    (rc = cl__version(c->fcl, conn, KP_API_FETCH, &v)) < 0) {
		snprintf(why, sizeof why, "%s", cl_client_errmsg(c->fcl));
		goto relock;
	}
	/* v13+ names topics by id, which this client does not track. */
	if (v > 12)
		v = 12;
	const char **names = kp_arena_calloc(&a, n, sizeof *names);
	size_t *sel = kp_arena_calloc(&a, n, sizeof *sel);
	struct cl__tgroup *g;
	size_t ng;
	if (names == NULL || sel == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		names[i] = rows[i].p->topic;
		sel[i] = i;
	}
	if (cl__group_by_topic(&a, names, sel, n, &g, &ng) < 0)
		goto nomem;
	kp_FetchRequest q;
	kp_FetchRequest_init(&q);
	q.ReplicaId = -1;
	q.MaxWaitMs = max_wait;
	q.MinBytes = c->conf.fetch_min_bytes;
	q.MaxBytes = c->conf.fetch_max_bytes;
	q.IsolationLevel = 0;
	q.SessionId = 0;
	q.SessionEpoch = -1;
	q.Topics.items = kp_arena_calloc(&a, ng, sizeof *q.Topics.items);
	if (q.Topics.items == NULL)
		goto nomem;
	q.Topics.count = (int32_t)ng;
	for (size_t t = 0; t < ng; t++) {
		kp_FetchRequest_FetchTopic *ft = &q.Topics.items[t];
		kp_FetchRequest_FetchTopic_init(ft);
		ft->Topic = kp_str_from(g[t].topic);
		ft->Partitions.items = kp_arena_calloc(&a, g[t].n, sizeof *ft->Partitions.items);
		if (ft->Partitions.items == NULL)
			goto nomem;
		ft->Partitions.count = (int32_t)g[t].n;
		for (size_t j = 0; j < g[t].n; j++) {
			kp_FetchRequest_FetchPartition *fp = &ft->Partitions.items[j];
			kp_FetchRequest_FetchPartition_init(fp);
			fp->Partition = rows[g[t].idx[j]].p->partition;
			fp->FetchOffset = rows[g[t].idx[j]].offset;
			fp->PartitionMaxBytes = c->conf.max_partition_fetch_bytes;
		}
	}
	if ((rc = kp_FetchRequest_encode(&body, v, &q)) < 0) {
		snprintf(why, sizeof why, "cannot encode Fetch v%d: %s", v, cl_strerror(rc));
		goto relock;
	}
	if ((rc = cl__call(c->fcl, conn, KP_API_FETCH, v, &body, &resp)) < 0) {
		snprintf(why, sizeof why, "%s", cl_client_errmsg(c->fcl));
		goto relock;
	}
	kp_FetchResponse m;
	kp_reader r = kp_reader_make(resp.data, resp.len);
	if (kp_FetchResponse_decode(&r, v, &a, &m) < 0) {
		rc = CL_ERR_PROTOCOL;
		snprintf(why, sizeof why, "the Fetch v%d answer from %s does not parse", v,
			 cl_conn_addr(conn));
		goto relock;
	}
	pthread_mutex_lock(&c->mu);
	int64_t now = cl__now_ms();
	if (m.ErrorCode != 0) {
		cl__cons_note(c, "Fetch from broker %d: %s", leader,
		     cl_kafka_err_name(m.ErrorCode) ? cl_kafka_err_name(m.ErrorCode) : "?");
		for (size_t i = 0; i < n; i++)
			rows[i].p->retry_at = now + 200;
		goto out;
	}
	for (int32_t ti = 0; ti < m.Responses.count; ti++) {
		const kp_FetchResponse_FetchableTopicResponse *t = &m.Responses.items[ti];
		for (int32_t pi = 0; pi < t->Partitions.count; pi++) {
			const kp_FetchResponse_PartitionData *pd = &t->Partitions.items[pi];
			for (size_t i = 0; i < n; i++)
				if (rows[i].p->partition == pd->PartitionIndex &&
				    cl__kstr_eq(t->Topic, rows[i].p->topic))
					fetch_partition(c, &rows[i], pd->ErrorCode, pd->HighWatermark,
							pd->Records, now);
		}
	}
	goto out;
nomem:
	rc = -ENOMEM;
	snprintf(why, sizeof why, "out of memory building Fetch");
relock:
	pthread_mutex_lock(&c->mu);
	if (rc < 0) {
		int64_t at = cl__now_ms() + cl__cons_backoff(c, &c->meta_backoff);
		cl__cons_note(c, "fetching from broker %d: %s", leader, why);
		for (size_t i = 0; i < n; i++) {
			rows[i].p->retry_at = at;
			rows[i].p->leader = -1;
		}
		c->need_metadata = true;
	}
out:
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_arena_free(&a);
}

static bool fetch_ready(const struct cl__cons_part *p, int64_t now)
{
	/* A partition with a few chunks queued waits for poll, so one busy
	 * partition does not fill the whole prefetch buffer. */
	return p->assigned && !p->failed && !p->need_resolve && p->fetch_offset >= 0 &&
	       p->leader >= 0 && p->retry_at <= now && p->queued < 4;
}

/* One Fetch to each leader with ready partitions (each leader once per
 * call, so the group's timers run between rounds); false when there was
 * nothing to fetch. */
bool cl__cons_fetch_step(cl_consumer *c, int64_t now, int max_wait)
{
	if (c->qbytes >= c->conf.prefetch_max_bytes)
		return false;
	size_t n = 0;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		n++;
	struct fetch_row *rows = n ? calloc(n, sizeof *rows) : NULL;
	int32_t *leaders = n ? calloc(n, sizeof *leaders) : NULL;
	size_t nl = 0;
	bool any = false;
	if (rows == NULL || leaders == NULL)
		goto out;
	for (struct cl__cons_part *p = c->parts; p; p = p->next) {
		if (!fetch_ready(p, now))
			continue;
		size_t i = 0;
		while (i < nl && leaders[i] != p->leader)
			i++;
		if (i == nl)
			leaders[nl++] = p->leader;
	}
	for (size_t l = 0; l < nl && !c->stop; l++) {
		size_t k = 0;
		/* fetch_from drops mu: take the rows again for each leader. */
		for (struct cl__cons_part *p = c->parts; p; p = p->next)
			if (fetch_ready(p, now) && p->leader == leaders[l])
				rows[k++] = (struct fetch_row){ p, p->epoch, p->fetch_offset };
		if (k == 0)
			continue;
		/* With several leaders, only the last may wait at the broker. */
		fetch_from(c, leaders[l], rows, k, l + 1 == nl ? max_wait : 0);
		any = true;
	}
out:
	free(rows);
	free(leaders);
	return any;
}
