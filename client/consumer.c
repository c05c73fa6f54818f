/*
 * consumer.c -- the consumer: assign/seek or subscribe (group membership),
 * fetches ahead of poll, offset commits.
 *
 * Two threads meet here. The application's thread (@locality owner) calls
 * poll, seek, assign, subscribe, commit and close. A background thread
 * started by cl_consumer_new ("bg") does all the talking to brokers, on
 * the blocking layer (two cl_clients of its own: `fcl` for metadata,
 * ListOffsets and Fetch; `gcl` for the group coordinator, whose request
 * timeout covers a JoinGroup parked for a whole rebalance):
 *
 *   group      FindCoordinator, JoinGroup (member-id handshake), as leader
 *              the assignment (assignor.c) from every member's
 *              subscription, SyncGroup, Heartbeat every
 *              heartbeat.interval.ms, a rejoin whenever the coordinator
 *              says REBALANCE_IN_PROGRESS (eager: commit, revoke all,
 *              join), LeaveGroup when poll stops for max.poll.interval.ms;
 *   offsets    a new partition's start: the group's committed offset
 *              (OffsetFetch), else auto.offset.reset; or earliest, latest,
 *              a timestamp (ListOffsets);
 *   fetch      one Fetch per leader for every partition ready to read; the
 *              complete batches of each partition's answer go to a queue
 *              as one chunk (bytes copied, not decoded) and the partition's
 *              fetch offset moves past them, so the next fetch goes out
 *              before poll has read the last; fetching pauses while the
 *              queue holds prefetch_max_bytes;
 *   commits    auto-commit every auto.commit.interval.ms, and the commits
 *              commit() asks for; always of the positions poll reached.
 *
 * Invariants:
 *   - one mutex (mu) guards everything both threads see; bg never holds it
 *     across a request: it copies what a request needs, unlocks, asks,
 *     locks again and applies the answer only if the partition's `epoch`
 *     is unchanged (seek, assign, revoke bump it);
 *   - a struct part is never freed before close, so chunks and answers may
 *     point at one after it was unassigned; a chunk whose epoch is not its
 *     partition's current one is dropped unread;
 *   - position (next offset poll hands out) moves only in poll, seek and
 *     offset resolution; a record is "consumed" once poll returned it:
 *     commits store positions (librdkafka's semantics);
 *   - records returned by poll point into chunks and decompression buffers
 *     retired at the start of the next poll, never earlier.
 * Transient failures (a broker down, a leader moved, a rebalance) are
 * retried with backoff (retry_backoff_ms doubling to 1 s) and only noted in
 * errmsg; failures the application must see are handed to the next poll.
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

/* Records a decompressed batch may grow to. */
#define CL__MAX_INFLATE ((size_t)256 << 20)

struct part {
	struct part *next;            /* c->parts; freed at close only */
	char *topic;                  /* owned */
	int32_t partition;
	bool assigned;
	uint32_t epoch;
	/* where to start, while need_resolve */
	bool need_resolve;
	int64_t spec;                 /* offset or CL_OFFSET_* */
	int64_t spec_ts;
	int64_t fetch_offset;         /* next offset to fetch; -1 unresolved */
	int32_t leader;               /* -1 unknown */
	int64_t hw;                   /* high watermark of the latest fetch */
	bool fetched;                 /* a fetch answered in this epoch */
	bool failed;                  /* reported to the app; not fetched */
	int64_t retry_at;             /* ms; backoff after an error */
	int64_t position;             /* next offset for poll; -1 unresolved */
	int64_t committed;            /* last position committed; -1 none */
	size_t queued;                /* chunks of this part in the queue */
	bool revoked;                 /* taken by revoke_all, position not yet
	                                 committed */
};

struct chunk {
	struct chunk *next;
	struct part *p;
	uint32_t epoch;
	int64_t next_offset;          /* after the last complete batch */
	size_t len;
	uint8_t data[];               /* complete batches */
};

struct cl_consumer {
	cl_consumer_conf conf;        /* strings point at the copies below */
	char *bootstrap, *client_id, *group_id;
	cl_client *fcl, *gcl;         /* bg's (the app's after the join) */
	pthread_t thr;
	bool thr_started;
	pthread_mutex_t mu;
	pthread_cond_t app_cond;      /* records, errors, commit results */
	pthread_cond_t bg_cond;       /* new work for bg */
	bool stop;

	struct part *parts;
	struct chunk *qhead, *qtail;
	size_t qbytes;

	char **topics;                /* subscription, owned */
	size_t n_topics;
	bool subscribed, manual;

	/* group (bg) */
	char member_id[512];
	int32_t generation;
	bool joined;
	bool stalled;                 /* left for want of polls; poll clears */
	bool group_failed;
	int64_t next_heartbeat, next_autocommit, group_retry_at;
	int group_backoff;

	int64_t meta_retry_at;
	int meta_backoff;
	bool need_metadata;

	/* commits asked by the app */
	uint64_t commit_req, commit_done;
	int commit_rc;
	bool commit_async;

	/* what the app must hear */
	int err_pending;
	char errmsg[640];
	char errmsg_app[640];
	bool woken;
	int64_t last_poll_ms;

	/* poll's own (app thread, no lock) */
	struct chunk *cur;
	size_t cur_off;
	kp_record_iter it;
	bool it_live, it_log_append;
	kp_record_iter *retired_it;
	size_t n_retired_it, cap_retired_it;
	struct chunk *retired_chunks;
	cl_message *msgs;
	size_t cap_msgs;
	cl_consumer_tp *view;
	size_t n_view;
};

/* ---------------------------------------------------------------- misc */

void cl_consumer_conf_init(cl_consumer_conf *c)
{
	memset(c, 0, sizeof *c);
	c->assignor = CL_ASSIGNOR_RANGE;
	c->session_timeout_ms = 45000;
	c->heartbeat_interval_ms = 3000;
	c->max_poll_interval_ms = 300000;
	c->auto_offset_reset = CL_RESET_LATEST;
	c->enable_auto_commit = true;
	c->auto_commit_interval_ms = 5000;
	c->fetch_min_bytes = 1;
	c->fetch_max_wait_ms = 500;
	c->max_partition_fetch_bytes = 1 << 20;
	c->fetch_max_bytes = 50 << 20;
	c->prefetch_max_bytes = (size_t)64 << 20;
	c->request_timeout_ms = 30000;
	c->connect_timeout_ms = 10000;
	c->retry_backoff_ms = 100;
}

static void note(cl_consumer *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(cl_consumer *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
}

/* An error the next poll returns (the first one wins until it is read). */
static void report(cl_consumer *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report(cl_consumer *c, int err, const char *fmt, ...)
{
	if (c->err_pending != 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
	c->err_pending = err;
	pthread_cond_broadcast(&c->app_cond);
}

static int next_backoff(const cl_consumer *c, int *b)
{
	int cur = *b > 0 ? *b : c->conf.retry_backoff_ms;
	*b = cur * 2 > 1000 ? 1000 : cur * 2;
	return cur;
}

static struct timespec abs_time(int64_t ms_from_now)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms_from_now / 1000;
	ts.tv_nsec += (long)(ms_from_now % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static void wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = abs_time(ms);
	pthread_cond_timedwait(cv, mu, &ts);
}

static struct part *part_find(cl_consumer *c, const char *topic, int32_t partition)
{
	for (struct part *p = c->parts; p; p = p->next)
		if (p->partition == partition && strcmp(p->topic, topic) == 0)
			return p;
	return NULL;
}

static struct part *part_get(cl_consumer *c, const char *topic, int32_t partition)
{
	struct part *p = part_find(c, topic, partition);
	if (p)
		return p;
	if ((p = calloc(1, sizeof *p)) == NULL || (p->topic = strdup(topic)) == NULL) {
		free(p);
		return NULL;
	}
	p->partition = partition;
	p->leader = -1;
	p->fetch_offset = -1;
	p->position = -1;
	p->committed = -1;
	p->hw = -1;
	p->next = c->parts;
	c->parts = p;
	return p;
}

/* Frees queued chunks whose partition moved to another epoch. */
static void queue_purge(cl_consumer *c)
{
	struct chunk **pp = &c->qhead;
	c->qtail = NULL;
	while (*pp) {
		struct chunk *k = *pp;
		if (k->epoch != k->p->epoch || !k->p->assigned) {
			*pp = k->next;
			c->qbytes -= k->len;
			k->p->queued--;
			free(k);
			continue;
		}
		c->qtail = k;
		pp = &k->next;
	}
	pthread_cond_broadcast(&c->bg_cond);
}

/* Starts p over from spec in a new epoch. */
static void part_restart(struct part *p, int64_t spec, int64_t ts)
{
	p->epoch++;
	p->need_resolve = spec < 0;
	p->spec = spec;
	p->spec_ts = ts;
	p->fetch_offset = spec >= 0 ? spec : -1;
	p->position = spec >= 0 ? spec : -1;
	p->hw = -1;
	p->fetched = false;
	p->failed = false;
	p->retry_at = 0;
}

/* --------------------------------------------------------- offset commit */

struct commit_row {
	struct part *p;
	uint32_t epoch;
	int64_t offset;
};

/*
 * OffsetCommit of rows[0..n) as this member (generation -1 and no member
 * id outside group management, as Java's assign() consumers commit).
 * Called without mu. 0, or an error with errmsg-worthy text in why.
 */
static int commit_request(cl_consumer *c, const struct commit_row *rows, size_t n,
			  int32_t generation, const char *member_id, bool *rejoin,
			  char *why, size_t whylen)
{
	kp_buf body, resp;
	kp_arena a;
	int rc = 0, wait = c->conf.retry_backoff_ms;
	*rejoin = false;
	why[0] = '\0';
	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_arena_init(&a, 0);
	for (int attempt = 0; attempt < 5; attempt++) {
		cl_conn *conn;
		int16_t v;
		kp_buf_reset(&body);
		kp_arena_reset(&a);
		if ((rc = cl_coordinator(c->gcl, c->group_id, &conn)) < 0 ||
		    (rc = cl__version(c->gcl, conn, KP_API_OFFSET_COMMIT, &v)) < 0) {
			snprintf(why, whylen, "%s", cl_client_errmsg(c->gcl));
			break;
		}
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
		kp_OffsetCommitRequest q;
		kp_OffsetCommitRequest_init(&q);
		q.GroupId = kp_str_from(c->group_id);
		q.GenerationIdOrMemberEpoch = generation;
		q.MemberId = kp_str_from(member_id);
		q.Topics.items = kp_arena_calloc(&a, ng, sizeof *q.Topics.items);
		if (q.Topics.items == NULL)
			goto nomem;
		q.Topics.count = (int32_t)ng;
		for (size_t t = 0; t < ng; t++) {
			kp_OffsetCommitRequest_OffsetCommitRequestTopic *tt = &q.Topics.items[t];
			kp_OffsetCommitRequest_OffsetCommitRequestTopic_init(tt);
			tt->Name = kp_str_from(g[t].topic);
			tt->Partitions.items = kp_arena_calloc(&a, g[t].n, sizeof *tt->Partitions.items);
			if (tt->Partitions.items == NULL)
				goto nomem;
			tt->Partitions.count = (int32_t)g[t].n;
			for (size_t j = 0; j < g[t].n; j++) {
				kp_OffsetCommitRequest_OffsetCommitRequestPartition *pp = &tt->Partitions.items[j];
				kp_OffsetCommitRequest_OffsetCommitRequestPartition_init(pp);
				pp->PartitionIndex = rows[g[t].idx[j]].p->partition;
				pp->CommittedOffset = rows[g[t].idx[j]].offset;
				pp->CommittedMetadata = KP_STR_LIT("");
			}
		}
		if ((rc = kp_OffsetCommitRequest_encode(&body, v, &q)) < 0) {
			snprintf(why, whylen, "cannot encode OffsetCommit v%d: %s", v, cl_strerror(rc));
			break;
		}
		if ((rc = cl__call(c->gcl, conn, KP_API_OFFSET_COMMIT, v, &body, &resp)) < 0) {
			snprintf(why, whylen, "%s", cl_client_errmsg(c->gcl));
			break;
		}
		kp_OffsetCommitResponse m;
		kp_reader r = kp_reader_make(resp.data, resp.len);
		if (kp_OffsetCommitResponse_decode(&r, v, &a, &m) < 0) {
			rc = CL_ERR_PROTOCOL;
			snprintf(why, whylen, "the OffsetCommit v%d answer from %s does not parse",
				 v, cl_conn_addr(conn));
			break;
		}
		int16_t first = 0;
		bool coord = false;
		for (int32_t ti = 0; ti < m.Topics.count; ti++)
			for (int32_t pi = 0; pi < m.Topics.items[ti].Partitions.count; pi++) {
				int16_t e = m.Topics.items[ti].Partitions.items[pi].ErrorCode;
				if (e == 14 || e == 15 || e == 16)
					coord = true;
				if (e && !first)
					first = e;
			}
		if (coord) {
			cl__sleep_ms(wait);
			wait = wait * 2 > 1000 ? 1000 : wait * 2;
			continue;
		}
		rc = cl_err_kafka(first);
		if (first == 27 || first == 22 || first == 25)
			*rejoin = true;
		if (first)
			snprintf(why, whylen, "committing offsets of group '%s': %s (%s)", c->group_id,
				 cl_kafka_err_name(first) ? cl_kafka_err_name(first) : "?",
				 cl_kafka_err_desc(first));
		break;
	}
	goto out;
nomem:
	rc = -ENOMEM;
	snprintf(why, whylen, "out of memory building OffsetCommit");
out:
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_arena_free(&a);
	return rc;
}

/* A partition whose position a commit should store. */
static bool commit_wants(const struct part *p, bool revoked)
{
	return (revoked ? p->revoked : p->assigned) && p->position >= 0 &&
	       p->position != p->committed;
}

/*
 * Commits the positions of the assigned partitions (or, with `revoked`,
 * of those revoke_all just took, whose positions poll can no longer move)
 * that moved since their last commit. With mu held when `locked` (it is
 * dropped for the request).
 */
static int commit_positions(cl_consumer *c, bool locked, bool revoked)
{
	size_t n = 0, k = 0;
	for (struct part *p = c->parts; p; p = p->next)
		n += commit_wants(p, revoked);
	if (n == 0)
		return 0;
	struct commit_row *rows = calloc(n, sizeof *rows);
	if (rows == NULL)
		return -ENOMEM;
	for (struct part *p = c->parts; p; p = p->next)
		if (commit_wants(p, revoked))
			rows[k++] = (struct commit_row){ p, p->epoch, p->position };
	int32_t gen = c->manual ? -1 : c->generation;
	char member[sizeof c->member_id];
	snprintf(member, sizeof member, "%s", c->manual ? "" : c->member_id);
	char why[600];
	bool rejoin;
	if (locked)
		pthread_mutex_unlock(&c->mu);
	int rc = commit_request(c, rows, n, gen, member, &rejoin, why, sizeof why);
	if (locked)
		pthread_mutex_lock(&c->mu);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			if (rows[i].p->epoch == rows[i].epoch || revoked)
				rows[i].p->committed = rows[i].offset;
	} else {
		note(c, "%s", why);
		if (rejoin && !c->manual)
			c->joined = false;
	}
	free(rows);
	return rc;
}

/* ------------------------------------------------------------- the group */

static bool kstr_eq(kp_str s, const char *z)
{
	size_t n = strlen(z);
	return s.len >= 0 && (size_t)s.len == n && memcmp(s.p, z, n) == 0;
}

static bool subscribed_to(const cl_consumer *c, const char *topic)
{
	for (size_t i = 0; i < c->n_topics; i++)
		if (strcmp(c->topics[i], topic) == 0)
			return true;
	return false;
}

/* Eager rebalance: every partition goes (with mu). Poll stops handing
 * them out at once, so their positions are final for the commit that
 * follows. */
static void revoke_all(cl_consumer *c)
{
	for (struct part *p = c->parts; p; p = p->next) {
		p->revoked = p->assigned;
		if (p->assigned) {
			p->assigned = false;
			p->epoch++;
		}
	}
	queue_purge(c);
}

/* The leader's work: SyncGroup assignments for every member, from mem. */
static int leader_assign(cl_consumer *c, const kp_JoinGroupResponse *m, kp_arena *mem,
			 kp_SyncGroupRequest_SyncGroupRequestAssignment **out, int32_t *nout)
{
	int how = cl_assignor_parse(cl__strdup(mem, m->ProtocolName));
	size_t n = m->Members.count > 0 ? (size_t)m->Members.count : 0;
	if (how < 0) {
		note(c, "the group chose assignor '%.*s', which rewind does not implement",
		     (int)(m->ProtocolName.len > 0 ? m->ProtocolName.len : 0),
		     (const char *)m->ProtocolName.p);
		return CL_ERR_UNSUPPORTED;
	}
	cl_group_subscriber *subs = n ? kp_arena_calloc(mem, n, sizeof *subs) : NULL;
	const char **all = NULL;
	size_t n_all = 0, cap_all = 0;
	if (n && subs == NULL)
		return KP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const kp_JoinGroupResponse_JoinGroupResponseMember *jm = &m->Members.items[i];
		const char **t;
		size_t nt;
		subs[i].member_id = cl__strdup(mem, jm->MemberId);
		subs[i].group_instance_id = jm->GroupInstanceId.len >= 0
			? cl__strdup(mem, jm->GroupInstanceId) : NULL;
		if (cl_consumer_subscription_parse(jm->Metadata.p,
						   jm->Metadata.len > 0 ? (size_t)jm->Metadata.len : 0,
						   mem, &t, &nt) < 0) {
			/* A member we cannot read gets nothing, as Java would fail
			 * the whole group: better to keep the rest consuming. */
			t = NULL;
			nt = 0;
		}
		subs[i].topics = t;
		subs[i].n_topics = nt;
		for (size_t j = 0; j < nt; j++) {
			bool seen = false;
			for (size_t x = 0; x < n_all && !seen; x++)
				seen = strcmp(all[x], t[j]) == 0;
			if (seen)
				continue;
			if (n_all == cap_all) {
				size_t nc = cap_all ? cap_all * 2 : 8;
				const char **na = kp_arena_calloc(mem, nc, sizeof *na);
				if (na == NULL)
					return KP_ERR_NOMEM;
				if (n_all)
					memcpy(na, all, n_all * sizeof *na);
				all = na;
				cap_all = nc;
			}
			all[n_all++] = t[j];
		}
	}
	cl_topic_count *counts = n_all ? kp_arena_calloc(mem, n_all, sizeof *counts) : NULL;
	if (n_all && counts == NULL)
		return KP_ERR_NOMEM;
	cl_metadata *md = NULL;
	int rc = n_all ? cl_metadata_get(c->fcl, all, n_all, &md) : 0;
	if (rc < 0) {
		note(c, "group leader: metadata for the assignment: %s", cl_client_errmsg(c->fcl));
		return rc;
	}
	for (size_t i = 0; i < n_all; i++) {
		const cl_topic_info *ti = cl_metadata_topic(md, all[i]);
		counts[i].topic = all[i];
		counts[i].partitions = ti && ti->error == 0 ? (int32_t)ti->n_partitions : -1;
	}
	cl_metadata_free(md);
	cl_member_assignment *as;
	if ((rc = cl_assign((enum cl_assignor)how, subs, n, counts, n_all, mem, &as)) < 0)
		return rc;
	kp_SyncGroupRequest_SyncGroupRequestAssignment *sa =
		n ? kp_arena_calloc(mem, n, sizeof *sa) : NULL;
	if (n && sa == NULL)
		return KP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		kp_buf b;
		kp_buf_init(&b);
		rc = cl_consumer_assignment_encode(&b, as[i].topics, as[i].n_topics);
		uint8_t *copy = rc == 0 ? kp_arena_alloc(mem, b.len ? b.len : 1) : NULL;
		if (copy)
			memcpy(copy, b.data, b.len);
		kp_SyncGroupRequest_SyncGroupRequestAssignment_init(&sa[i]);
		sa[i].MemberId = kp_str_from(subs[i].member_id);
		sa[i].Assignment = (kp_bytes){ copy, (int32_t)b.len };
		kp_buf_free(&b);
		if (rc < 0)
			return rc;
		if (copy == NULL)
			return KP_ERR_NOMEM;
	}
	*out = sa;
	*nout = (int32_t)n;
	return 0;
}

enum join_outcome { JOIN_OK, JOIN_AGAIN, JOIN_BACKOFF, JOIN_FATAL };

/* Sends one request of the group on gcl; resp holds the answer. */
static int group_call(cl_consumer *c, int16_t api, kp_buf *body, kp_buf *resp,
		      int (*encode)(kp_buf *, int16_t, const void *), const void *req,
		      int16_t *v_out, cl_conn **conn_out)
{
	cl_conn *conn;
	int16_t v;
	int rc;
	if ((rc = cl_coordinator(c->gcl, c->group_id, &conn)) < 0 ||
	    (rc = cl__version(c->gcl, conn, api, &v)) < 0)
		return rc;
	kp_buf_reset(body);
	if ((rc = encode(body, v, req)) < 0)
		return rc;
	if ((rc = cl__call(c->gcl, conn, api, v, body, resp)) < 0)
		return rc;
	*v_out = v;
	*conn_out = conn;
	return 0;
}

static int enc_join(kp_buf *b, int16_t v, const void *q) { return kp_JoinGroupRequest_encode(b, v, q); }
static int enc_sync(kp_buf *b, int16_t v, const void *q) { return kp_SyncGroupRequest_encode(b, v, q); }
static int enc_hb(kp_buf *b, int16_t v, const void *q) { return kp_HeartbeatRequest_encode(b, v, q); }
/* LeaveGroup names the member by MemberId up to v2, in Members from v3. */
static int enc_leave(kp_buf *b, int16_t v, const void *q)
{
	kp_LeaveGroupRequest l = *(const kp_LeaveGroupRequest *)q;
	if (v >= 3)
		l.MemberId = KP_STR_LIT("");
	else
		l.Members.count = 0;
	return kp_LeaveGroupRequest_encode(b, v, &l);
}

static bool coordinator_error(int16_t e)
{
	return e == 14 || e == 15 || e == 16;
}

/* Installs the assignment SyncGroup gave (with mu). */
static void apply_assignment(cl_consumer *c, const cl_assigned_topic *t, size_t n)
{
	revoke_all(c);
	for (size_t i = 0; i < n; i++) {
		if (!subscribed_to(c, t[i].topic))
			continue;
		for (size_t j = 0; j < t[i].n_partitions; j++) {
			struct part *p = part_get(c, t[i].topic, t[i].partitions[j]);
			if (p == NULL) {
				report(c, -ENOMEM, "out of memory taking an assignment");
				return;
			}
			p->assigned = true;
			part_restart(p, CL_OFFSET_COMMITTED, 0);
			p->committed = -1;
		}
	}
	c->need_metadata = true;
}

/* JoinGroup then SyncGroup, with mu dropped around each request. */
static enum join_outcome join_and_sync(cl_consumer *c)
{
	kp_buf body, resp, sub;
	kp_arena a;
	enum join_outcome out = JOIN_BACKOFF;
	char member[sizeof c->member_id];
	int16_t v;
	cl_conn *conn;
	int rc;

	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_buf_init(&sub);
	kp_arena_init(&a, 0);
	snprintf(member, sizeof member, "%s", c->member_id);
	if (cl_consumer_subscription_encode(&sub, (const char *const *)c->topics, c->n_topics) < 0) {
		report(c, CL_ERR_ARG, "cannot encode the subscription");
		out = JOIN_FATAL;
		goto done;
	}
	kp_JoinGroupRequest_JoinGroupRequestProtocol proto;
	kp_JoinGroupRequest_JoinGroupRequestProtocol_init(&proto);
	proto.Name = kp_str_from(cl_assignor_name(c->conf.assignor));
	proto.Metadata = (kp_bytes){ sub.data, (int32_t)sub.len };
	kp_JoinGroupRequest jq;
	kp_JoinGroupRequest_init(&jq);
	jq.GroupId = kp_str_from(c->group_id);
	jq.SessionTimeoutMs = c->conf.session_timeout_ms;
	jq.RebalanceTimeoutMs = c->conf.max_poll_interval_ms;
	jq.MemberId = kp_str_from(member);
	jq.ProtocolType = KP_STR_LIT("consumer");
	jq.Protocols.count = 1;
	jq.Protocols.items = &proto;

	pthread_mutex_unlock(&c->mu);
	rc = group_call(c, KP_API_JOIN_GROUP, &body, &resp, enc_join, &jq, &v, &conn);
	pthread_mutex_lock(&c->mu);
	if (rc < 0) {
		note(c, "joining group '%s': %s", c->group_id, cl_client_errmsg(c->gcl));
		goto done;
	}
	kp_JoinGroupResponse jm;
	kp_reader r = kp_reader_make(resp.data, resp.len);
	if (kp_JoinGroupResponse_decode(&r, v, &a, &jm) < 0) {
		note(c, "the JoinGroup v%d answer from %s does not parse", v, cl_conn_addr(conn));
		goto done;
	}
	if (jm.ErrorCode == 79 || jm.ErrorCode == 25) { /* MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID */
		snprintf(c->member_id, sizeof c->member_id, "%.*s",
			 jm.ErrorCode == 79 ? (int)jm.MemberId.len : 0, (const char *)jm.MemberId.p);
		out = JOIN_AGAIN;
		goto done;
	}
	if (jm.ErrorCode == 27) { /* REBALANCE_IN_PROGRESS */
		out = JOIN_AGAIN;
		goto done;
	}
	if (coordinator_error(jm.ErrorCode)) {
		note(c, "joining group '%s': %s", c->group_id, cl_kafka_err_name(jm.ErrorCode));
		goto done;
	}
	if (jm.ErrorCode != 0) {
		report(c, cl_err_kafka(jm.ErrorCode), "joining group '%s' at %s: %s (%s)",
		       c->group_id, cl_conn_addr(conn),
		       cl_kafka_err_name(jm.ErrorCode) ? cl_kafka_err_name(jm.ErrorCode) : "?",
		       cl_kafka_err_desc(jm.ErrorCode));
		out = JOIN_FATAL;
		goto done;
	}
	snprintf(c->member_id, sizeof c->member_id, "%.*s", (int)jm.MemberId.len,
		 (const char *)jm.MemberId.p);
	int32_t generation = jm.GenerationId;
	bool leader = jm.Leader.len == jm.MemberId.len &&
		      memcmp(jm.Leader.p, jm.MemberId.p, (size_t)jm.MemberId.len) == 0;

	kp_SyncGroupRequest sq;
	kp_SyncGroupRequest_init(&sq);
	sq.GroupId = kp_str_from(c->group_id);
	sq.GenerationId = generation;
	snprintf(member, sizeof member, "%s", c->member_id);
	sq.MemberId = kp_str_from(member);
	sq.ProtocolType = KP_STR_LIT("consumer");
	sq.ProtocolName = jm.ProtocolName;
	if (leader) {
		pthread_mutex_unlock(&c->mu);
		rc = leader_assign(c, &jm, &a, &sq.Assignments.items, &sq.Assignments.count);
		pthread_mutex_lock(&c->mu);
		if (rc < 0) {
			/* Still answer SyncGroup (with nothing), so the others are not
			 * left waiting; the rejoin below tries again. */
			sq.Assignments.count = 0;
			sq.Assignments.items = NULL;
		}
	}
	kp_buf_reset(&resp);
	pthread_mutex_unlock(&c->mu);
	rc = group_call(c, KP_API_SYNC_GROUP, &body, &resp, enc_sync, &sq, &v, &conn);
	pthread_mutex_lock(&c->mu);
	if (rc < 0) {
		note(c, "SyncGroup of group '%s': %s", c->group_id, cl_client_errmsg(c->gcl));
		goto done;
	}
	kp_SyncGroupResponse sm;
	r = kp_reader_make(resp.data, resp.len);
	if (kp_SyncGroupResponse_decode(&r, v, &a, &sm) < 0) {
		note(c, "the SyncGroup v%d answer from %s does not parse", v, cl_conn_addr(conn));
		goto done;
	}
	if (sm.ErrorCode == 27 || sm.ErrorCode == 22 || sm.ErrorCode == 25) {
		if (sm.ErrorCode == 25)
			c->member_id[0] = '\0';
		out = JOIN_AGAIN;
		goto done;
	}
	if (sm.ErrorCode != 0) {
		note(c, "SyncGroup of group '%s': %s", c->group_id,
		     cl_kafka_err_name(sm.ErrorCode) ? cl_kafka_err_name(sm.ErrorCode) : "?");
		goto done;
	}
	cl_assigned_topic *t;
	size_t nt;
	if (cl_consumer_assignment_parse(sm.Assignment.p,
					 sm.Assignment.len > 0 ? (size_t)sm.Assignment.len : 0,
					 &a, &t, &nt) < 0) {
		note(c, "the assignment of group '%s' does not parse", c->group_id);
		goto done;
	}
	c->generation = generation;
	apply_assignment(c, t, nt);
	out = JOIN_OK;
done:
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_buf_free(&sub);
	kp_arena_free(&a);
	return out;
}

static void heartbeat(cl_consumer *c)
{
	kp_buf body, resp;
	kp_arena a;
	char member[sizeof c->member_id];
	int16_t v;
	cl_conn *conn;

	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_arena_init(&a, 0);
	snprintf(member, sizeof member, "%s", c->member_id);
	kp_HeartbeatRequest q;
	kp_HeartbeatRequest_init(&q);
	q.GroupId = kp_str_from(c->group_id);
	q.GenerationId = c->generation;
	q.MemberId = kp_str_from(member);
	pthread_mutex_unlock(&c->mu);
	int rc = group_call(c, KP_API_HEARTBEAT, &body, &resp, enc_hb, &q, &v, &conn);
	pthread_mutex_lock(&c->mu);
	int64_t now = cl__now_ms();
	c->next_heartbeat = now + c->conf.heartbeat_interval_ms;
	if (rc < 0) {
		note(c, "heartbeat to group '%s': %s", c->group_id, cl_client_errmsg(c->gcl));
		c->next_heartbeat = now + next_backoff(c, &c->group_backoff);
		goto out;
	}
	kp_HeartbeatResponse m;
	kp_reader r = kp_reader_make(resp.data, resp.len);
	if (kp_HeartbeatResponse_decode(&r, v, &a, &m) < 0) {
		note(c, "the Heartbeat v%d answer does not parse", v);
		goto out;
	}
	c->group_backoff = 0;
	if (m.ErrorCode == 25)
		c->member_id[0] = '\0';
	if (m.ErrorCode == 27 || m.ErrorCode == 25 || m.ErrorCode == 22)
		c->joined = false;
	else if (coordinator_error(m.ErrorCode))
		c->next_heartbeat = now + next_backoff(c, &c->group_backoff);
	else if (m.ErrorCode != 0)
		report(c, cl_err_kafka(m.ErrorCode), "heartbeat to group '%s': %s (%s)",
		       c->group_id, cl_kafka_err_name(m.ErrorCode) ? cl_kafka_err_name(m.ErrorCode) : "?",
		       cl_kafka_err_desc(m.ErrorCode));
out:
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_arena_free(&a);
}

/* LeaveGroup (no lock needed: bg is gone or mu is dropped by the caller). */
static void leave_group(cl_consumer *c, const char *member)
{
	kp_buf body, resp;
	int16_t v;
	cl_conn *conn;
	kp_LeaveGroupRequest_MemberIdentity mi;
	kp_LeaveGroupRequest q;

	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_LeaveGroupRequest_MemberIdentity_init(&mi);
	mi.MemberId = kp_str_from(member);
	kp_LeaveGroupRequest_init(&q);
	q.GroupId = kp_str_from(c->group_id);
	q.MemberId = kp_str_from(member);
	q.Members.count = 1;
	q.Members.items = &mi;
	(void)group_call(c, KP_API_LEAVE_GROUP, &body, &resp, enc_leave, &q, &v, &conn);
	kp_buf_free(&body);
	kp_buf_free(&resp);
}

static void group_step(cl_consumer *c, int64_t now)
{
	if (!c->subscribed || c->group_failed || c->stalled)
		return;
	if (c->joined && now - c->last_poll_ms > c->conf.max_poll_interval_ms) {
		/* Java's rule: a member that stops polling leaves, so the group
		 * does not wait for it; the next poll joins again. */
		char member[sizeof c->member_id];
		snprintf(member, sizeof member, "%s", c->member_id);
		note(c, "poll was not called for max.poll.interval.ms (%d ms): left group '%s'",
		     c->conf.max_poll_interval_ms, c->group_id);
		revoke_all(c);
		c->joined = false;
		c->stalled = true;
		pthread_mutex_unlock(&c->mu);
		leave_group(c, member);
		pthread_mutex_lock(&c->mu);
		return;
	}
	if (!c->joined) {
		if (now < c->group_retry_at)
			return;
		revoke_all(c);
		if (c->generation > 0 && c->conf.enable_auto_commit)
			commit_positions(c, true, true);
		for (struct part *p = c->parts; p; p = p->next)
			p->revoked = false;
		enum join_outcome o = join_and_sync(c);
		now = cl__now_ms();
		if (o == JOIN_OK) {
			c->joined = true;
			c->group_backoff = 0;
			c->next_heartbeat = now + c->conf.heartbeat_interval_ms;
			c->next_autocommit = now + c->conf.auto_commit_interval_ms;
		} else if (o == JOIN_FATAL) {
			c->group_failed = true;
		} else if (o == JOIN_BACKOFF) {
			c->group_retry_at = now + next_backoff(c, &c->group_backoff);
		}
		return;
	}
	if (now >= c->next_heartbeat)
		heartbeat(c);
}

/* ---------------------------------------------------- offset resolution */

struct resolve_row {
	struct part *p;
	uint32_t epoch;
	int64_t spec, ts;
	int64_t offset;               /* OUT */
	int16_t error;                /* OUT */
};

static void resolve_step(cl_consumer *c, int64_t now)
{
	size_t n = 0, k = 0;
	bool committed = false;
	for (struct part *p = c->parts; p; p = p->next)
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
	for (struct part *p = c->parts; p; p = p->next)
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
		struct part *p = rows[i].p;
		if (p->epoch != rows[i].epoch)
			continue;
		if (rc < 0) {
			note(c, "finding where to start %s [%d]: %s", p->topic, p->partition, why);
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
			report(c, cl_err_kafka(1), "%s [%d]: the group has no committed offset and "
			       "auto.offset.reset is error", p->topic, p->partition);
		} else if (e == 3 || e == 5 || e == 6 || e == 14 || cl_kafka_err_retriable(e)) {
			note(c, "finding where to start %s [%d]: %s", p->topic, p->partition,
			     cl_kafka_err_name(e) ? cl_kafka_err_name(e) : "?");
			p->retry_at = now + 500;
			c->need_metadata = true;
		} else {
			p->failed = true;
			report(c, cl_err_kafka(e), "finding where to start %s [%d]: %s (%s)", p->topic,
			       p->partition, cl_kafka_err_name(e) ? cl_kafka_err_name(e) : "?",
			       cl_kafka_err_desc(e));
		}
	}
	free(rows);
	free(q);
}

/* ------------------------------------------------------------- metadata */

static void metadata_step(cl_consumer *c, int64_t now)
{
	bool want = c->need_metadata;
	size_t n = 0;
	for (struct part *p = c->parts; p; p = p->next)
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
	for (struct part *p = c->parts; p; p = p->next) {
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
		note(c, "metadata: %s", cl_client_errmsg(c->fcl));
		c->meta_retry_at = now + next_backoff(c, &c->meta_backoff);
		return;
	}
	bool missing = false;
	for (struct part *p = c->parts; p; p = p->next) {
		if (!p->assigned || p->failed)
			continue;
		const cl_topic_info *t = cl_metadata_topic(md, p->topic);
		p->leader = -1;
		if (t == NULL || t->error == 3 || (t->error == 0 && (size_t)p->partition >= t->n_partitions
						    && t->n_partitions > 0)) {
			p->failed = true;
			report(c, cl_err_kafka(3), "topic '%s' partition %d does not exist "
			       "(UNKNOWN_TOPIC_OR_PARTITION)", p->topic, p->partition);
			continue;
		}
		if (t->error != 0) {
			if (!cl_kafka_err_retriable(t->error) && t->error != 5) {
				p->failed = true;
				report(c, cl_err_kafka(t->error), "topic '%s': %s (%s)", p->topic,
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
		c->meta_retry_at = now + next_backoff(c, &c->meta_backoff);
	else
		c->meta_backoff = 0;
}

/* ---------------------------------------------------------------- fetch */

struct fetch_row {
	struct part *p;
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
	struct part *p = row->p;
	if (p->epoch != row->epoch || !p->assigned || p->fetch_offset != row->offset)
		return;
	if (err == 1) { /* OFFSET_OUT_OF_RANGE */
		if (c->conf.auto_offset_reset == CL_RESET_ERROR) {
			p->failed = true;
			report(c, cl_err_kafka(1), "%s [%d]: offset %" PRId64 " is out of range "
			       "(OFFSET_OUT_OF_RANGE) and auto.offset.reset is error", p->topic,
			       p->partition, row->offset);
			return;
		}
		note(c, "%s [%d]: offset %" PRId64 " is out of range; resetting to the %s",
		     p->topic, p->partition, row->offset,
		     c->conf.auto_offset_reset == CL_RESET_EARLIEST ? "earliest" : "latest");
		part_restart(p, c->conf.auto_offset_reset == CL_RESET_EARLIEST
			     ? CL_OFFSET_EARLIEST : CL_OFFSET_LATEST, 0);
		queue_purge(c);
		return;
	}
	if (err != 0) {
		/* Leader moved, broker restarting, partition being created, ...:
		 * learn the leaders again and retry. */
		note(c, "fetching %s [%d]: %s", p->topic, p->partition,
		     cl_kafka_err_name(err) ? cl_kafka_err_name(err) : "?");
		if (err == 29 || err == 73) { /* authorization */
			p->failed = true;
			report(c, cl_err_kafka(err), "fetching %s [%d]: %s (%s)", p->topic, p->partition,
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
		report(c, rc, "%s [%d] at offset %" PRId64 ": records rewind cannot read (%s)",
		       p->topic, p->partition, row->offset, cl_strerror(rc));
		return;
	}
	if (used == 0)
		return; /* only part of a batch; it comes whole next time */
	struct chunk *k = malloc(sizeof *k + used);
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
		note(c, "Fetch from broker %d: %s", leader,
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
				    kstr_eq(t->Topic, rows[i].p->topic))
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
		int64_t at = cl__now_ms() + next_backoff(c, &c->meta_backoff);
		note(c, "fetching from broker %d: %s", leader, why);
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

static bool fetch_ready(const struct part *p, int64_t now)
{
	/* A partition with a few chunks queued waits for poll, so one busy
	 * partition does not fill the whole prefetch buffer. */
	return p->assigned && !p->failed && !p->need_resolve && p->fetch_offset >= 0 &&
	       p->leader >= 0 && p->retry_at <= now && p->queued < 4;
}

/* One Fetch to each leader with ready partitions (each leader once per
 * call, so the group's timers run between rounds); false when there was
 * nothing to fetch. */
static bool fetch_step(cl_consumer *c, int64_t now, int max_wait)
{
	if (c->qbytes >= c->conf.prefetch_max_bytes)
		return false;
	size_t n = 0;
	for (struct part *p = c->parts; p; p = p->next)
		n++;
	struct fetch_row *rows = n ? calloc(n, sizeof *rows) : NULL;
	int32_t *leaders = n ? calloc(n, sizeof *leaders) : NULL;
	size_t nl = 0;
	bool any = false;
	if (rows == NULL || leaders == NULL)
		goto out;
	for (struct part *p = c->parts; p; p = p->next) {
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
		for (struct part *p = c->parts; p; p = p->next)
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

/* ----------------------------------------------------------- bg thread */

static void *bg_main(void *arg)
{
	cl_consumer *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		int64_t now = cl__now_ms();
		group_step(c, now);
		if (c->stop)
			break;
		now = cl__now_ms();
		bool group_ok = c->subscribed ? c->joined : true;
		bool can_commit = c->group_id && (c->manual || (c->subscribed && c->joined));
		if (c->commit_req > c->commit_done) {
			uint64_t upto = c->commit_req;
			int rc = can_commit ? commit_positions(c, true, false) : CL_ERR_ARG;
			if (!can_commit)
				note(c, "nothing to commit: not a member of group '%s' right now",
				     c->group_id ? c->group_id : "");
			c->commit_rc = rc;
			c->commit_done = upto;
			pthread_cond_broadcast(&c->app_cond);
		} else if (can_commit && (c->commit_async ||
					  (c->conf.enable_auto_commit && now >= c->next_autocommit))) {
			c->commit_async = false;
			c->next_autocommit = now + c->conf.auto_commit_interval_ms;
			commit_positions(c, true, false);
		}
		if (c->stop)
			break;
		if (group_ok) {
			resolve_step(c, cl__now_ms());
			metadata_step(c, cl__now_ms());
		}
		now = cl__now_ms();
		int max_wait = c->conf.fetch_max_wait_ms;
		if (c->subscribed && c->joined && c->next_heartbeat - now < max_wait)
			max_wait = (int)(c->next_heartbeat - now > 0 ? c->next_heartbeat - now : 0);
		if (!c->stop && group_ok && fetch_step(c, now, max_wait))
			continue;
		/* Nothing to fetch: sleep until something changes or a timer. */
		int64_t sleep = 100;
		if (c->subscribed && c->joined && c->next_heartbeat - now < sleep)
			sleep = c->next_heartbeat - now;
		if (!c->stop && c->commit_req == c->commit_done)
			wait_ms(&c->bg_cond, &c->mu, sleep);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* --------------------------------------------------------------- public */

static char *dup_or_null(const char *s, bool *oom)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

int cl_consumer_new(const cl_consumer_conf *conf, cl_consumer **out, char *err, size_t errlen)
{
	*out = NULL;
	if (conf == NULL || conf->bootstrap == NULL) {
		snprintf(err, errlen, "no bootstrap brokers given");
		return CL_ERR_ARG;
	}
	if (cl_assignor_name(conf->assignor) == NULL || conf->session_timeout_ms <= 0 ||
	    conf->heartbeat_interval_ms <= 0 || conf->max_poll_interval_ms <= 0 ||
	    conf->fetch_max_wait_ms < 0 || conf->max_partition_fetch_bytes <= 0 ||
	    conf->fetch_max_bytes <= 0 || conf->auto_commit_interval_ms <= 0) {
		snprintf(err, errlen, "a consumer setting is out of range (timeouts, intervals and "
			 "sizes must be positive)");
		return CL_ERR_ARG;
	}
	if (conf->group_id && conf->group_id[0] == '\0') {
		snprintf(err, errlen, "the group id is empty");
		return CL_ERR_ARG;
	}
	cl_consumer *c = calloc(1, sizeof *c);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	bool oom = false;
	c->conf = *conf;
	c->bootstrap = dup_or_null(conf->bootstrap, &oom);
	c->client_id = dup_or_null(conf->client_id ? conf->client_id : "rewind", &oom);
	c->group_id = dup_or_null(conf->group_id, &oom);
	c->conf.bootstrap = c->bootstrap;
	c->conf.client_id = c->client_id;
	c->conf.group_id = c->group_id;
	if (c->conf.retry_backoff_ms <= 0)
		c->conf.retry_backoff_ms = 100;
	if (c->conf.prefetch_max_bytes == 0)
		c->conf.prefetch_max_bytes = (size_t)64 << 20;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->app_cond, &ca);
	pthread_cond_init(&c->bg_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (oom) {
		snprintf(err, errlen, "out of memory");
		cl_consumer_close(c);
		return -ENOMEM;
	}
	cl_opts fo = { .client_id = c->client_id,
		       .connect_timeout_ms = conf->connect_timeout_ms,
		       .request_timeout_ms = conf->request_timeout_ms };
	/* A JoinGroup waits at the coordinator for the whole rebalance. */
	cl_opts go = fo;
	int rt = cl__request_timeout(&fo);
	go.request_timeout_ms = conf->max_poll_interval_ms + 5000 > rt
		? conf->max_poll_interval_ms + 5000 : rt;
	int rc = cl_client_new(c->bootstrap, &fo, &c->fcl, err, errlen);
	if (rc == 0)
		rc = cl_client_new(c->bootstrap, &go, &c->gcl, err, errlen);
	if (rc == 0 && (rc = pthread_create(&c->thr, NULL, bg_main, c)) != 0) {
		rc = -rc;
		snprintf(err, errlen, "cannot start the consumer's thread: %s", strerror(-rc));
	}
	if (rc < 0) {
		cl_consumer_close(c);
		return rc;
	}
	c->thr_started = true;
	c->last_poll_ms = cl__now_ms();
	*out = c;
	return 0;
}

int cl_consumer_assign(cl_consumer *c, const cl_consumer_tp *tps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tps[i].topic == NULL || tps[i].partition < 0 ||
		    (tps[i].offset < 0 && tps[i].offset != CL_OFFSET_EARLIEST &&
		     tps[i].offset != CL_OFFSET_LATEST && tps[i].offset != CL_OFFSET_AT_TIME &&
		     tps[i].offset != CL_OFFSET_COMMITTED) ||
		    (tps[i].offset == CL_OFFSET_COMMITTED && c->group_id == NULL))
			return CL_ERR_ARG;
	pthread_mutex_lock(&c->mu);
	if (c->subscribed) {
		pthread_mutex_unlock(&c->mu);
		return CL_ERR_ARG;
	}
	c->manual = true;
	revoke_all(c);
	for (size_t i = 0; i < n; i++) {
		struct part *p = part_get(c, tps[i].topic, tps[i].partition);
		if (p == NULL) {
			pthread_mutex_unlock(&c->mu);
			return -ENOMEM;
		}
		p->assigned = true;
		part_restart(p, tps[i].offset, tps[i].timestamp);
	}
	c->need_metadata = true;
	pthread_cond_broadcast(&c->bg_cond);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int cl_consumer_seek(cl_consumer *c, const cl_consumer_tp *tp)
{
	pthread_mutex_lock(&c->mu);
	struct part *p = part_find(c, tp->topic, tp->partition);
	if (p == NULL || !p->assigned || (tp->offset < 0 && tp->offset != CL_OFFSET_EARLIEST &&
					  tp->offset != CL_OFFSET_LATEST &&
					  tp->offset != CL_OFFSET_AT_TIME &&
					  tp->offset != CL_OFFSET_COMMITTED)) {
		pthread_mutex_unlock(&c->mu);
		return CL_ERR_ARG;
	}
	part_restart(p, tp->offset, tp->timestamp);
	queue_purge(c);
	/* The partition poll is reading goes too. */
	pthread_cond_broadcast(&c->bg_cond);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int cl_consumer_subscribe(cl_consumer *c, const char *const *topics, size_t n)
{
	if (c->group_id == NULL || n == 0)
		return CL_ERR_ARG;
	char **t = calloc(n, sizeof *t);
	if (t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (topics[i] == NULL || (t[i] = strdup(topics[i])) == NULL) {
			for (size_t j = 0; j < i; j++)
				free(t[j]);
			free(t);
			return topics[i] == NULL ? CL_ERR_ARG : -ENOMEM;
		}
	pthread_mutex_lock(&c->mu);
	if (c->manual) {
		pthread_mutex_unlock(&c->mu);
		for (size_t i = 0; i < n; i++)
			free(t[i]);
		free(t);
		return CL_ERR_ARG;
	}
	for (size_t i = 0; i < c->n_topics; i++)
		free(c->topics[i]);
	free(c->topics);
	c->topics = t;
	c->n_topics = n;
	c->subscribed = true;
	c->joined = false; /* a new subscription means a new join */
	pthread_cond_broadcast(&c->bg_cond);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* Frees what the previous poll handed out. */
static void retire_free(cl_consumer *c)
{
	for (size_t i = 0; i < c->n_retired_it; i++)
		kp_record_iter_free(&c->retired_it[i]);
	c->n_retired_it = 0;
	while (c->retired_chunks) {
		struct chunk *k = c->retired_chunks;
		c->retired_chunks = k->next;
		free(k);
	}
}

static int retire_iter(cl_consumer *c)
{
	if (c->n_retired_it == c->cap_retired_it) {
		size_t nc = c->cap_retired_it ? c->cap_retired_it * 2 : 8;
		kp_record_iter *n = realloc(c->retired_it, nc * sizeof *n);
		if (n == NULL)
			return -ENOMEM;
		c->retired_it = n;
		c->cap_retired_it = nc;
	}
	c->retired_it[c->n_retired_it++] = c->it;
	c->it_live = false;
	return 0;
}

/*
 * Reads records of c->cur from offset min on into c->msgs[*n..max) (no
 * lock). 1 when the chunk is used up, 0 when max was reached, or an error.
 */
static int chunk_read(cl_consumer *c, int64_t min, size_t *n, size_t max, int64_t *last)
{
	struct chunk *k = c->cur;
	while (*n < max) {
		if (!c->it_live) {
			if (c->cur_off >= k->len)
				return 1;
			kp_batch_header h;
			const uint8_t *b = k->data + c->cur_off;
			int rc = kp_batch_validate(b, k->len - c->cur_off, &h);
			if (rc < 0)
				return rc;
			size_t bs = kp_batch_size(&h);
			c->cur_off += bs;
			if ((h.attributes & KP_ATTR_CONTROL) || kp_batch_last_offset(&h) < min)
				continue;
			if ((rc = kp_record_iter_init(&c->it, b, bs, CL__MAX_INFLATE)) < 0) {
				kp_record_iter_free(&c->it);
				return rc;
			}
			c->it_live = true;
			c->it_log_append = (h.attributes & KP_ATTR_LOG_APPEND_TIME) != 0;
		}
		kp_record r;
		int rc = kp_record_iter_next(&c->it, &r);
		if (rc == 0) {
			if (retire_iter(c) < 0)
				return -ENOMEM;
			continue;
		}
		if (rc < 0)
			return rc;
		if (r.offset < min)
			continue;
		c->msgs[*n] = (cl_message){ k->p->topic, k->p->partition, r, c->it_log_append };
		(*n)++;
		*last = r.offset;
	}
	return 0;
}

/* Retires the current chunk (its bytes live until the next poll). */
static void cur_retire(cl_consumer *c)
{
	if (c->it_live && retire_iter(c) < 0) {
		kp_record_iter_free(&c->it);
		c->it_live = false;
	}
	c->cur->next = c->retired_chunks;
	c->retired_chunks = c->cur;
	c->cur = NULL;
}

int cl_consumer_poll(cl_consumer *c, int timeout_ms, const cl_message **msgs, size_t max)
{
	*msgs = NULL;
	retire_free(c);
	if (max == 0)
		return 0;
	if (max > c->cap_msgs) {
		cl_message *m = realloc(c->msgs, max * sizeof *m);
		if (m == NULL)
			return -ENOMEM;
		c->msgs = m;
		c->cap_msgs = max;
	}
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : cl__now_ms() + timeout_ms;
	size_t n = 0;
	int rc = 0;

	pthread_mutex_lock(&c->mu);
	c->last_poll_ms = cl__now_ms();
	if (c->stalled) {
		c->stalled = false;
		pthread_cond_broadcast(&c->bg_cond);
	}
	for (;;) {
		if (c->err_pending) {
			rc = c->err_pending;
			c->err_pending = 0;
			break;
		}
		if (c->cur == NULL) {
			if (c->qhead == NULL) {
				int64_t left = deadline - cl__now_ms();
				if (n > 0 || c->woken || left <= 0) {
					c->woken = false;
					break;
				}
				wait_ms(&c->app_cond, &c->mu, left > 1000 ? 1000 : left);
				continue;
			}
			c->cur = c->qhead;
			c->qhead = c->cur->next;
			if (c->qhead == NULL)
				c->qtail = NULL;
			c->qbytes -= c->cur->len;
			c->cur->p->queued--;
			c->cur_off = 0;
			pthread_cond_broadcast(&c->bg_cond);
		}
		struct part *p = c->cur->p;
		if (c->cur->epoch != p->epoch || !p->assigned) {
			cur_retire(c);
			continue;
		}
		int64_t min = p->position, last = -1;
		uint32_t epoch = p->epoch;
		size_t before = n;
		pthread_mutex_unlock(&c->mu);
		int r = chunk_read(c, min, &n, max, &last);
		pthread_mutex_lock(&c->mu);
		if (p->epoch != epoch || !p->assigned) {
			/* Revoked or moved while we read: these records are not ours. */
			n = before;
			cur_retire(c);
			continue;
		}
		if (r < 0) {
			p->failed = true;
			rc = r;
			note(c, "%s [%d]: a batch after offset %" PRId64 " cannot be read: %s", p->topic,
			     p->partition, min, cl_strerror(r));
			cur_retire(c);
			n = before;
			break;
		}
		if (last >= 0)
			p->position = last + 1;
		if (r == 1) {
			if (c->cur->next_offset > p->position)
				p->position = c->cur->next_offset;
			cur_retire(c);
		}
		if (n == max)
			break;
	}
	if (rc < 0) {
		snprintf(c->errmsg_app, sizeof c->errmsg_app, "%s", c->errmsg);
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	pthread_mutex_unlock(&c->mu);
	*msgs = c->msgs;
	return (int)n;
}

void cl_consumer_wakeup(cl_consumer *c)
{
	pthread_mutex_lock(&c->mu);
	c->woken = true;
	pthread_cond_broadcast(&c->app_cond);
	pthread_mutex_unlock(&c->mu);
}

int cl_consumer_commit(cl_consumer *c, bool async)
{
	if (c->group_id == NULL)
		return CL_ERR_ARG;
	pthread_mutex_lock(&c->mu);
	if (async) {
		c->commit_async = true;
		pthread_cond_broadcast(&c->bg_cond);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	uint64_t mine = ++c->commit_req;
	pthread_cond_broadcast(&c->bg_cond);
	while (c->commit_done < mine)
		wait_ms(&c->app_cond, &c->mu, 1000);
	int rc = c->commit_rc;
	snprintf(c->errmsg_app, sizeof c->errmsg_app, "%s", c->errmsg);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int cl_consumer_position(cl_consumer *c, const char *topic, int32_t partition, int64_t *offset)
{
	pthread_mutex_lock(&c->mu);
	struct part *p = part_find(c, topic, partition);
	int rc = p && p->assigned ? 0 : CL_ERR_ARG;
	if (rc == 0)
		*offset = p->position;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int cl_consumer_assignment(cl_consumer *c, const cl_consumer_tp **tps, size_t *n)
{
	pthread_mutex_lock(&c->mu);
	size_t k = 0;
	for (struct part *p = c->parts; p; p = p->next)
		k += p->assigned;
	cl_consumer_tp *v = k ? calloc(k, sizeof *v) : NULL;
	if (k && v == NULL) {
		pthread_mutex_unlock(&c->mu);
		return -ENOMEM;
	}
	k = 0;
	for (struct part *p = c->parts; p; p = p->next)
		if (p->assigned)
			v[k++] = (cl_consumer_tp){ p->topic, p->partition, p->position, 0 };
	pthread_mutex_unlock(&c->mu);
	free(c->view);
	c->view = v;
	c->n_view = k;
	*tps = v;
	*n = k;
	return 0;
}

bool cl_consumer_at_end(cl_consumer *c)
{
	bool any = false, end = true;
	pthread_mutex_lock(&c->mu);
	for (struct part *p = c->parts; p && end; p = p->next) {
		if (!p->assigned || p->failed)
			continue;
		any = true;
		end = p->fetched && p->hw >= 0 && p->position >= p->hw && p->queued == 0 &&
		      (c->cur == NULL || c->cur->p != p);
	}
	pthread_mutex_unlock(&c->mu);
	return any && end;
}

const char *cl_consumer_errmsg(cl_consumer *c)
{
	pthread_mutex_lock(&c->mu);
	snprintf(c->errmsg_app, sizeof c->errmsg_app, "%s", c->errmsg);
	pthread_mutex_unlock(&c->mu);
	return c->errmsg_app;
}

int cl_consumer_close(cl_consumer *c)
{
	if (c == NULL)
		return 0;
	int rc = 0;
	if (c->thr_started) {
		pthread_mutex_lock(&c->mu);
		c->stop = true;
		pthread_cond_broadcast(&c->bg_cond);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thr, NULL);
		/* bg is gone: its clients are ours now. */
		if (c->group_id && c->conf.enable_auto_commit && (c->manual || c->joined))
			rc = commit_positions(c, false, false);
		if (c->subscribed && c->member_id[0])
			leave_group(c, c->member_id);
	}
	retire_free(c);
	if (c->cur)
		cur_retire(c);
	retire_free(c);
	while (c->qhead) {
		struct chunk *k = c->qhead;
		c->qhead = k->next;
		free(k);
	}
	while (c->parts) {
		struct part *p = c->parts;
		c->parts = p->next;
		free(p->topic);
		free(p);
	}
	for (size_t i = 0; i < c->n_topics; i++)
		free(c->topics[i]);
	free(c->topics);
	free(c->retired_it);
	free(c->msgs);
	free(c->view);
	cl_client_free(c->fcl);
	cl_client_free(c->gcl);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->app_cond);
	pthread_cond_destroy(&c->bg_cond);
	free(c->bootstrap);
	free(c->client_id);
	free(c->group_id);
	free(c);
	return rc;
}
