/*
 * consumer.c -- the consumer: assign/seek or subscribe (group membership),
 * fetches ahead of poll, offset commits, on the asynchronous core.
 *
 * Two threads meet here. The application's thread (@locality owner) calls
 * poll, seek, assign, subscribe, commit and close. The consumer's own
 * cl_io thread does all the talking to brokers, as requests on cl_wires
 * of two cl_clusters: `fc` for metadata, ListOffsets and Fetch, `gc` for
 * the group coordinator (its request timeout covers a JoinGroup parked for
 * a whole rebalance, and heartbeats never queue behind a long-polling
 * Fetch). What is due is decided by a tick (cl__cons_tick): every 50 ms on
 * a timer, after every answer, and when the application asks for
 * something (cl_io_call). It runs
 *
 *   group      FindCoordinator, JoinGroup (member-id handshake), as leader
 *              the assignment (assignor.c), SyncGroup, Heartbeat every
 *              heartbeat.interval.ms, a rejoin whenever the coordinator
 *              says REBALANCE_IN_PROGRESS (eager: revoke all, commit,
 *              join), LeaveGroup when poll stops for max.poll.interval.ms
 *              (consumer_group.c);
 *   offsets    a new partition's start: the group's committed offset
 *              (OffsetFetch), else auto.offset.reset; or earliest, latest,
 *              a timestamp (ListOffsets) (consumer_fetch.c);
 *   fetch      a Fetch per leader for the partitions ready there, several
 *              leaders at once; the complete batches of each partition's
 *              answer go to a queue as one chunk (bytes copied, not
 *              decoded) and the partition's fetch offset moves past them,
 *              so the next Fetch goes out before poll has read the last;
 *              fetching pauses while the queue holds prefetch_max_bytes
 *              (consumer_fetch.c);
 *   commits    auto-commit every auto.commit.interval.ms, and the commits
 *              commit() asks for; always of the positions poll reached.
 *
 * Invariants:
 *   - one mutex (mu) guards everything both threads see; the io thread
 *     holds it while it runs a tick or a callback, which never block (the
 *     requests are asynchronous); it is recursive because a cl_cluster may
 *     answer a refresh inside the call;
 *   - an answer is applied to a partition only if the partition's epoch is
 *     unchanged since the request was built (seek, assign, revoke bump it);
 *   - a struct cl__cons_part is never freed before close, so chunks and
 *     requests may point at one after it was unassigned; a chunk whose
 *     epoch is not its partition's current one is dropped unread;
 *   - position (next offset poll hands out) moves only in poll, seek and
 *     offset resolution; a record is "consumed" once poll returned it:
 *     commits store positions (librdkafka's semantics);
 *   - records returned by poll point into chunks and decompression buffers
 *     retired at the start of the next poll, never earlier; decoding and
 *     decompression run on the application's thread, in poll.
 *
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

#include <event2/event.h>

#include "client/cl_int.h"

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

void cl__cons_note(cl_consumer *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
}

/* An error the next poll returns (the first one wins until it is read). */
void cl__cons_report(cl_consumer *c, int err, const char *fmt, ...)
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

int cl__cons_backoff(const cl_consumer *c, int *b)
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

struct cl__cons_part *cl__cons_part_find(cl_consumer *c, const char *topic, int32_t partition)
{
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		if (p->partition == partition && strcmp(p->topic, topic) == 0)
			return p;
	return NULL;
}

struct cl__cons_part *cl__cons_part_get(cl_consumer *c, const char *topic, int32_t partition)
{
	struct cl__cons_part *p = cl__cons_part_find(c, topic, partition);
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
void cl__cons_queue_purge(cl_consumer *c)
{
	struct cl__cons_chunk **pp = &c->qhead;
	c->qtail = NULL;
	while (*pp) {
		struct cl__cons_chunk *k = *pp;
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
}

/* Starts p over from spec in a new epoch. */
void cl__cons_part_restart(struct cl__cons_part *p, int64_t spec, int64_t ts)
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

int cl__cons_row_groups(kp_arena *a, const struct cl__cons_row *rows, size_t n,
			struct cl__tgroup **g, size_t *ng)
{
	const char **names = kp_arena_calloc(a, n, sizeof *names);
	size_t *sel = kp_arena_calloc(a, n, sizeof *sel);
	if (names == NULL || sel == NULL)
		return KP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		names[i] = rows[i].p->topic;
		sel[i] = i;
	}
	return cl__group_by_topic(a, names, sel, n, g, ng);
}

/* ------------------------------------------------------------ the tick */

void cl__cons_tick(cl_consumer *c)
{
	if (c->in_tick || c->closing)
		return;
	c->in_tick = true;
	int64_t now = cl__now_ms();
	cl__cons_group_step(c, now);
	bool group_ok = c->subscribed ? c->joined : true;
	bool can_commit = c->group_id && c->coord >= 0 && !c->commit_inflight &&
			  (c->manual || (c->subscribed && c->joined));
	if (c->commit_req > c->commit_done) {
		if (can_commit) {
			cl__cons_commit(c, CL_COMMIT_SYNC, c->commit_req);
		} else if (c->group_id && !c->manual && !c->subscribed) {
			cl__cons_note(c, "nothing to commit: no partitions of group '%s'",
				      c->group_id);
			c->commit_rc = CL_ERR_ARG;
			c->commit_done = c->commit_req;
			pthread_cond_broadcast(&c->app_cond);
		}
	} else if (can_commit && (c->commit_async ||
				  (c->conf.enable_auto_commit && now >= c->next_autocommit))) {
		c->commit_async = false;
		c->next_autocommit = now + c->conf.auto_commit_interval_ms;
		cl__cons_commit(c, CL_COMMIT_AUTO, 0);
	}
	if (group_ok) {
		cl__cons_resolve_step(c, now);
		cl__cons_metadata_step(c, now);
		cl__cons_fetch_step(c, now);
	}
	c->in_tick = false;
}

static void tick_call(void *arg)
{
	cl_consumer *c = arg;
	pthread_mutex_lock(&c->mu);
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tick_call(arg);
}

/* Runs a tick on the io thread soon. @locality any (mu may be held) */
static void kick(cl_consumer *c)
{
	(void)cl_io_call(c->io, tick_call, c);
}

/* io thread: the clusters and the timer. */
struct start_ctx {
	cl_consumer *c;
	int rc;
	char err[256];
	bool done;
};

static void start_call(void *arg)
{
	struct start_ctx *s = arg;
	cl_consumer *c = s->c;
	cl_opts fo = { .client_id = c->client_id,
		       .connect_timeout_ms = c->conf.connect_timeout_ms,
		       .request_timeout_ms = c->conf.request_timeout_ms };
	/* Fetch long-polls for fetch_max_wait_ms on top of the timeout. */
	int rt = cl__request_timeout(&fo);
	fo.request_timeout_ms = rt + c->conf.fetch_max_wait_ms;
	cl_opts go = fo;
	go.request_timeout_ms = c->conf.max_poll_interval_ms + 5000 > rt
		? c->conf.max_poll_interval_ms + 5000 : rt;
	s->rc = cl_cluster_new(c->io, c->bootstrap, &fo, &c->fc, s->err, sizeof s->err);
	if (s->rc == 0)
		s->rc = cl_cluster_new(c->io, c->bootstrap, &go, &c->gc, s->err, sizeof s->err);
	if (s->rc == 0) {
		struct timeval tv = { 0, 50 * 1000 };
		c->timer = event_new(cl_io_base(c->io), -1, EV_PERSIST, on_timer, c);
		if (c->timer == NULL || event_add(c->timer, &tv) < 0) {
			s->rc = -ENOMEM;
			snprintf(s->err, sizeof s->err, "cannot start the consumer's timer");
		}
	}
	pthread_mutex_lock(&c->mu);
	s->done = true;
	pthread_cond_broadcast(&c->app_cond);
	pthread_mutex_unlock(&c->mu);
}

/* io thread: the last commit and LeaveGroup, then close_done. */
static void close_call(void *arg)
{
	cl_consumer *c = arg;
	pthread_mutex_lock(&c->mu);
	c->leaving = true;
	if (!c->group_id || !c->conf.enable_auto_commit || c->coord < 0)
		c->close_commit_done = true;
	else if (c->commit_inflight)
		c->close_after_commit = true; /* commit_finish sends ours */
	else
		cl__cons_commit(c, CL_COMMIT_CLOSE, 0);
	pthread_cond_broadcast(&c->app_cond);
	pthread_mutex_unlock(&c->mu);
}

static void leave_call(void *arg)
{
	cl_consumer *c = arg;
	pthread_mutex_lock(&c->mu);
	/* A join under way leaves when it ends (join_end). */
	if (c->subscribed && c->member_id[0] && c->coord >= 0 && !c->leave_inflight &&
	    !c->join_inflight)
		cl__cons_leave(c);
	pthread_cond_broadcast(&c->app_cond);
	pthread_mutex_unlock(&c->mu);
}

/* io thread: every wire closed (their dones run now), the timer gone. */
static void stop_call(void *arg)
{
	cl_consumer *c = arg;
	if (c->timer)
		event_free(c->timer);
	c->timer = NULL;
	cl_cluster_free(c->fc);
	cl_cluster_free(c->gc);
	c->fc = c->gc = NULL;
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
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->app_cond, &ca);
	pthread_condattr_destroy(&ca);
	c->coord = -1;
	if (oom) {
		snprintf(err, errlen, "out of memory");
		cl_consumer_close(c);
		return -ENOMEM;
	}
	int rc = cl_io_start("rw-consumer", &c->io);
	if (rc < 0) {
		snprintf(err, errlen, "cannot start the consumer's io thread: %s", cl_strerror(rc));
		cl_consumer_close(c);
		return rc;
	}
	struct start_ctx st = { .c = c };
	if ((rc = cl_io_call(c->io, start_call, &st)) == 0) {
		pthread_mutex_lock(&c->mu);
		while (!st.done)
			pthread_cond_wait(&c->app_cond, &c->mu);
		pthread_mutex_unlock(&c->mu);
		rc = st.rc;
		snprintf(err, errlen, "%s", st.err);
	}
	if (rc < 0) {
		cl_consumer_close(c);
		return rc;
	}
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
	cl__cons_revoke_all(c);
	for (size_t i = 0; i < n; i++) {
		struct cl__cons_part *p = cl__cons_part_get(c, tps[i].topic, tps[i].partition);
		if (p == NULL) {
			pthread_mutex_unlock(&c->mu);
			return -ENOMEM;
		}
		p->assigned = true;
		cl__cons_part_restart(p, tps[i].offset, tps[i].timestamp);
	}
	c->need_metadata = true;
	kick(c);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int cl_consumer_seek(cl_consumer *c, const cl_consumer_tp *tp)
{
	pthread_mutex_lock(&c->mu);
	struct cl__cons_part *p = cl__cons_part_find(c, tp->topic, tp->partition);
	if (p == NULL || !p->assigned || (tp->offset < 0 && tp->offset != CL_OFFSET_EARLIEST &&
					  tp->offset != CL_OFFSET_LATEST &&
					  tp->offset != CL_OFFSET_AT_TIME &&
					  tp->offset != CL_OFFSET_COMMITTED)) {
		pthread_mutex_unlock(&c->mu);
		return CL_ERR_ARG;
	}
	cl__cons_part_restart(p, tp->offset, tp->timestamp);
	cl__cons_queue_purge(c);
	kick(c);
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
	kick(c);
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
		struct cl__cons_chunk *k = c->retired_chunks;
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
	struct cl__cons_chunk *k = c->cur;
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
			if ((rc = kp_record_iter_init(&c->it, b, bs, CL__CONS_MAX_INFLATE)) < 0) {
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
		kick(c);
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
			/* Fetching waits for this when the buffer is full. */
			c->cur->p->queued--;
			if (c->qbytes >= c->conf.prefetch_max_bytes)
				kick(c);
			c->qbytes -= c->cur->len;
			c->cur_off = 0;
		}
		struct cl__cons_part *p = c->cur->p;
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
			cl__cons_note(c, "%s [%d]: a batch after offset %" PRId64 " cannot be read: %s", p->topic,
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
		kick(c);
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	uint64_t mine = ++c->commit_req;
	kick(c);
	/* The coordinator may be unreachable: give up after a request
	 * timeout plus the time to find it. */
	int64_t deadline = cl__now_ms() + c->conf.request_timeout_ms + 5000;
	while (c->commit_done < mine && cl__now_ms() < deadline)
		wait_ms(&c->app_cond, &c->mu, 200);
	int rc = c->commit_done >= mine ? c->commit_rc : CL_ERR_TIMEOUT;
	if (rc == CL_ERR_TIMEOUT)
		cl__cons_note(c, "commit: no answer from the coordinator of group '%s' in time",
			      c->group_id);
	snprintf(c->errmsg_app, sizeof c->errmsg_app, "%s", c->errmsg);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int cl_consumer_position(cl_consumer *c, const char *topic, int32_t partition, int64_t *offset)
{
	pthread_mutex_lock(&c->mu);
	struct cl__cons_part *p = cl__cons_part_find(c, topic, partition);
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
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		k += p->assigned;
	cl_consumer_tp *v = k ? calloc(k, sizeof *v) : NULL;
	if (k && v == NULL) {
		pthread_mutex_unlock(&c->mu);
		return -ENOMEM;
	}
	k = 0;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
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
	for (struct cl__cons_part *p = c->parts; p && end; p = p->next) {
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
	if (c->io) {
		/* The last commit, then LeaveGroup, each awaited (bounded by the
		 * request timeout: a broker that is gone does not hold close). */
		int64_t deadline = cl__now_ms() + c->conf.request_timeout_ms + 1000;
		pthread_mutex_lock(&c->mu);
		c->close_commit_done = false;
		if (cl_io_call(c->io, close_call, c) == 0) {
			while (!c->close_commit_done && cl__now_ms() < deadline)
				wait_ms(&c->app_cond, &c->mu, 100);
			rc = c->close_commit_done ? c->close_rc : CL_ERR_TIMEOUT;
		}
		if (cl_io_call(c->io, leave_call, c) == 0) {
			do
				wait_ms(&c->app_cond, &c->mu, 100);
			while ((c->leave_inflight || c->join_inflight) && cl__now_ms() < deadline);
		}
		/* From here no tick or answer starts anything: the clusters go. */
		c->closing = true;
		pthread_mutex_unlock(&c->mu);
		if (cl_io_call(c->io, stop_call, c) < 0 && c->fc == NULL && c->gc == NULL)
			rc = rc ? rc : -ENOMEM;
		cl_io_stop(c->io);
		c->io = NULL;
	}
	retire_free(c);
	if (c->cur)
		cur_retire(c);
	retire_free(c);
	while (c->qhead) {
		struct cl__cons_chunk *k = c->qhead;
		c->qhead = k->next;
		free(k);
	}
	while (c->parts) {
		struct cl__cons_part *p = c->parts;
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
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->app_cond);
	free(c->bootstrap);
	free(c->client_id);
	free(c->group_id);
	free(c);
	return rc;
}
