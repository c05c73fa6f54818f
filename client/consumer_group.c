/*
 * consumer_group.c -- the consumer's group membership and offset commits,
 * as requests on the io thread (see consumer.c for the threads and the
 * invariants).
 *
 * Membership is Kafka's classic protocol, eager: FindCoordinator, then
 * JoinGroup with the member-id handshake (KIP-394); the leader refreshes
 * the partition counts of every member's topics and assigns (assignor.c);
 * SyncGroup; a Heartbeat every heartbeat.interval.ms.
 * REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION make the
 * member revoke every partition (poll stops handing them out), commit
 * their positions (the coordinator still takes the old generation while it
 * prepares the rebalance) and join again. A member whose application
 * stops polling for max.poll.interval.ms commits and leaves, as Java's
 * leaves; its next poll joins again. Commits
 * are OffsetCommit with the generation and member id (-1 and "" for
 * partitions assigned by hand, as Java's assign() consumers commit).
 *
 * The group's requests go over their own cl_cluster (c->gc), whose request
 * timeout covers a JoinGroup parked for a whole rebalance; a transport
 * failure or NOT_COORDINATOR / COORDINATOR_* forgets the coordinator, and
 * the next tick finds it again. At most one request of each kind is in
 * flight (the *_inflight flags). Every done callback takes c->mu, applies
 * its answer, runs a tick and frees its context.
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

/* A request to the coordinator failed in transport or by a coordinator
 * error: find it again before the next request. */
static void coord_lost(cl_consumer *c)
{
	c->coord = -1;
	c->coord_retry_at = cl__now_ms() + cl__cons_backoff(c, &c->coord_backoff);
}

int cl__cons_coord_send(cl_consumer *c, int16_t api, cl_wire_encode_fn *enc,
			cl_wire_done_fn *done, void *arg)
{
	if (c->coord < 0 || c->closing)
		return CL_ERR_NO_BROKER;
	cl_wire *w = cl_cluster_wire(c->gc, c->coord);
	if (w == NULL) {
		coord_lost(c);
		return CL_ERR_NO_BROKER;
	}
	int rc = cl_wire_send(w, api, true, enc, done, arg);
	if (rc < 0)
		coord_lost(c);
	return rc;
}

/* ------------------------------------------------------- FindCoordinator */

static int find_encode(void *arg, int16_t v, kp_buf *body)
{
	cl_consumer *c = arg;
	return cl__find_coordinator_encode(body, v, c->group_id);
}

static void find_done(void *arg, int err, int16_t v, kp_reader *body)
{
	cl_consumer *c = arg;
	kp_arena a;
	kp_arena_init(&a, 0);
	pthread_mutex_lock(&c->mu);
	c->coord_inflight = false;
	struct cl__coord co;
	int64_t now = cl__now_ms();
	if (err < 0) {
		cl__cons_note(c, "finding the coordinator of group '%s': %s", c->group_id,
			      cl_strerror(err));
		c->coord_retry_at = now + cl__cons_backoff(c, &c->coord_backoff);
	} else if (!cl__find_coordinator_decode(body, v, &a, &co)) {
		cl__cons_note(c, "the FindCoordinator v%d answer does not parse", v);
		c->coord_retry_at = now + cl__cons_backoff(c, &c->coord_backoff);
	} else {
		int16_t code = co.error;
		if (code != 0 && (cl__coordinator_moved(code) || cl_kafka_err_retriable(code))) {
			cl__cons_note(c, "finding the coordinator of group '%s': %s", c->group_id,
				      cl__kname(code));
			c->coord_retry_at = now + cl__cons_backoff(c, &c->coord_backoff);
		} else if (code != 0) {
			cl__cons_report(c, cl_err_kafka(code), "finding the coordinator of group "
					"'%s': %s (%s)", c->group_id, cl__kname(code),
					cl_kafka_err_desc(code));
			c->group_failed = true;
		} else if (!c->closing && cl_cluster_node_set(c->gc, co.node, co.host, co.port) == 0) {
			c->coord = co.node;
			c->coord_backoff = 0;
		}
	}
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	kp_arena_free(&a);
}

static void find_coordinator(cl_consumer *c, int64_t now)
{
	if (c->coord >= 0 || c->coord_inflight || now < c->coord_retry_at)
		return;
	cl_wire *w = cl_cluster_any_wire(c->gc);
	if (w == NULL || cl_wire_send(w, KP_API_FIND_COORDINATOR, true, find_encode, find_done,
				      c) < 0) {
		c->coord_retry_at = now + cl__cons_backoff(c, &c->coord_backoff);
		return;
	}
	c->coord_inflight = true;
}

/* --------------------------------------------------------- OffsetCommit */

struct commit_ctx {
	cl_consumer *c;
	enum cl__cons_commit_why why;
	uint64_t upto;                /* CL_COMMIT_SYNC: the commit_req served */
	int32_t generation;
	char member[512];
	size_t n;
	struct cl__cons_row *rows;
	kp_arena a;
};

/* A partition whose position the commit stores: the assigned ones, or
 * for a rejoin those just revoked, or at close both (a close during a
 * rebalance still commits what poll handed out). */
static bool commit_wants(const struct cl__cons_part *p, enum cl__cons_commit_why why)
{
	bool mine = why == CL_COMMIT_REJOIN ? p->revoked
		  : why == CL_COMMIT_CLOSE ? p->assigned || p->revoked : p->assigned;
	return mine && p->position >= 0 && p->position != p->committed;
}

/* cl__part_ask_fn over a commit's rows. */
static void row_ask(const void *arg, size_t idx, int32_t *partition, int64_t *offset)
{
	const struct cl__cons_row *r = &((const struct commit_ctx *)arg)->rows[idx];
	*partition = r->p->partition;
	*offset = r->offset;
}

static int commit_encode(void *arg, int16_t v, kp_buf *body)
{
	struct commit_ctx *k = arg;
	struct cl__tgroup *g;
	size_t ng;
	if (cl__cons_row_groups(&k->a, k->rows, k->n, &g, &ng) < 0)
		return KP_ERR_NOMEM;
	return cl__offset_commit_encode(body, v, &k->a, k->c->group_id, k->generation, k->member,
					g, ng, row_ask, k);
}

/* What a finished commit (or one that could not be sent) leads to. */
static void commit_finish(cl_consumer *c, enum cl__cons_commit_why why, uint64_t upto, int rc)
{
	c->commit_inflight = false;
	switch (why) {
	case CL_COMMIT_SYNC:
		c->commit_rc = rc;
		if (c->commit_done < upto)
			c->commit_done = upto;
		pthread_cond_broadcast(&c->app_cond);
		break;
	case CL_COMMIT_REJOIN:
		c->rejoin_committed = true;
		for (struct cl__cons_part *p = c->parts; p; p = p->next)
			p->revoked = false;
		break;
	case CL_COMMIT_CLOSE:
		c->close_rc = rc;
		c->close_commit_done = true;
		break;
	case CL_COMMIT_AUTO:
		break;
	}
	/* close() came while this commit was out: now its own. */
	if (why != CL_COMMIT_CLOSE && c->close_after_commit) {
		c->close_after_commit = false;
		cl__cons_commit(c, CL_COMMIT_CLOSE, 0);
	}
}

static void commit_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct commit_ctx *k = arg;
	cl_consumer *c = k->c;
	kp_arena a;
	kp_arena_init(&a, 0);
	pthread_mutex_lock(&c->mu);
	int rc = err;
	kp_OffsetCommitResponse m;
	if (err < 0) {
		cl__cons_note(c, "committing offsets of group '%s': %s", c->group_id, cl_strerror(err));
		coord_lost(c);
	} else if (kp_OffsetCommitResponse_decode(body, v, &a, &m) < 0) {
		rc = CL_ERR_PROTOCOL;
		cl__cons_note(c, "the OffsetCommit v%d answer does not parse", v);
	} else {
		int16_t first = 0;
		for (int32_t ti = 0; ti < m.Topics.count; ti++)
			for (int32_t pi = 0; pi < m.Topics.items[ti].Partitions.count; pi++) {
				int16_t e = m.Topics.items[ti].Partitions.items[pi].ErrorCode;
				if (e && !first)
					first = e;
			}
		rc = cl_err_kafka(first);
		if (first) {
			cl__cons_note(c, "committing offsets of group '%s': %s (%s)", c->group_id,
				      cl__kname(first), cl_kafka_err_desc(first));
			if (cl__coordinator_moved(first))
				coord_lost(c);
			if ((first == 27 || first == 22 || first == 25) && !c->manual)
				c->joined = false;
		} else {
			for (size_t i = 0; i < k->n; i++)
				if (k->rows[i].p->epoch == k->rows[i].epoch || k->why == CL_COMMIT_REJOIN ||
				    k->why == CL_COMMIT_CLOSE)
					k->rows[i].p->committed = k->rows[i].offset;
		}
	}
	commit_finish(c, k->why, k->upto, rc);
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	kp_arena_free(&a);
	kp_arena_free(&k->a);
	free(k->rows);
	free(k);
}

int cl__cons_commit(cl_consumer *c, enum cl__cons_commit_why why, uint64_t upto)
{
	size_t n = 0, i = 0;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		n += commit_wants(p, why);
	if (n == 0) {
		commit_finish(c, why, upto, 0);
		return 0;
	}
	struct commit_ctx *k = calloc(1, sizeof *k);
	if (k == NULL || (k->rows = calloc(n, sizeof *k->rows)) == NULL) {
		free(k);
		commit_finish(c, why, upto, -ENOMEM);
		return -ENOMEM;
	}
	k->c = c;
	k->why = why;
	k->upto = upto;
	k->n = n;
	k->generation = c->manual ? -1 : c->generation;
	snprintf(k->member, sizeof k->member, "%s", c->manual ? "" : c->member_id);
	kp_arena_init(&k->a, 0);
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		if (commit_wants(p, why)) {
			k->rows[i].p = p;
			k->rows[i].epoch = p->epoch;
			k->rows[i].offset = p->position;
			i++;
		}
	int rc = cl__cons_coord_send(c, KP_API_OFFSET_COMMIT, commit_encode, commit_done, k);
	if (rc < 0) {
		free(k->rows);
		free(k);
		cl__cons_note(c, "committing offsets of group '%s': no coordinator reachable yet",
			      c->group_id);
		commit_finish(c, why, upto, rc);
		return rc;
	}
	c->commit_inflight = true;
	return 0;
}

/* ------------------------------------------------------ Join and Sync */

static bool subscribed_to(const cl_consumer *c, const char *topic)
{
	for (size_t i = 0; i < c->n_topics; i++)
		if (strcmp(c->topics[i], topic) == 0)
			return true;
	return false;
}

void cl__cons_revoke_all(cl_consumer *c)
{
	for (struct cl__cons_part *p = c->parts; p; p = p->next) {
		p->revoked = p->assigned;
		if (p->assigned) {
			p->assigned = false;
			p->epoch++;
		}
	}
	cl__cons_queue_purge(c);
}

/* Installs the assignment SyncGroup gave. */
static void apply_assignment(cl_consumer *c, const cl_assigned_topic *t, size_t n)
{
	cl__cons_revoke_all(c);
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		p->revoked = false;
	for (size_t i = 0; i < n; i++) {
		if (!subscribed_to(c, t[i].topic))
			continue;
		for (size_t j = 0; j < t[i].n_partitions; j++) {
			struct cl__cons_part *p = cl__cons_part_get(c, t[i].topic, t[i].partitions[j]);
			if (p == NULL) {
				cl__cons_report(c, -ENOMEM, "out of memory taking an assignment");
				return;
			}
			p->assigned = true;
			cl__cons_part_restart(p, CL_OFFSET_COMMITTED, 0);
			p->committed = -1;
		}
	}
	c->need_metadata = true;
}

/* One join attempt: JoinGroup, (leader: metadata, assignment), SyncGroup. */
struct join_ctx {
	cl_consumer *c;
	kp_arena a;                   /* copies out of the answers */
	kp_buf sub;                   /* our subscription bytes */
	char member[512];
	int32_t generation;
	char *protocol;
	cl_group_subscriber *subs;    /* leader only */
	size_t n_subs;
	const char **topics;          /* leader: every member's topics */
	size_t n_topics;
	kp_SyncGroupRequest_SyncGroupRequestAssignment *assign;
	int32_t n_assign;
};

static void join_free(struct join_ctx *k)
{
	kp_arena_free(&k->a);
	kp_buf_free(&k->sub);
	free(k);
}

/* The join attempt is over (ok or not). */
static void join_end(cl_consumer *c, struct join_ctx *k, bool ok, bool at_once)
{
	c->join_inflight = false;
	/* close() is waiting for this join to end: leave now, with whatever
	 * member id the coordinator gave. */
	if (c->leaving && c->member_id[0] && !c->leave_inflight)
		cl__cons_leave(c);
	if (ok) {
		int64_t now = cl__now_ms();
		c->joined = true;
		c->group_backoff = 0;
		c->next_heartbeat = now + c->conf.heartbeat_interval_ms;
		c->next_autocommit = now + c->conf.auto_commit_interval_ms;
	} else if (!at_once) {
		c->group_retry_at = cl__now_ms() + cl__cons_backoff(c, &c->group_backoff);
	}
	join_free(k);
}

static int join_encode(void *arg, int16_t v, kp_buf *body)
{
	struct join_ctx *k = arg;
	cl_consumer *c = k->c;
	kp_JoinGroupRequest_JoinGroupRequestProtocol proto;
	kp_JoinGroupRequest_JoinGroupRequestProtocol_init(&proto);
	proto.Name = kp_str_from(cl_assignor_name(c->conf.assignor));
	proto.Metadata = (kp_bytes){ k->sub.data, (int32_t)k->sub.len };
	kp_JoinGroupRequest q;
	kp_JoinGroupRequest_init(&q);
	q.GroupId = kp_str_from(c->group_id);
	q.SessionTimeoutMs = c->conf.session_timeout_ms;
	q.RebalanceTimeoutMs = c->conf.max_poll_interval_ms;
	q.MemberId = kp_str_from(k->member);
	q.ProtocolType = KP_STR_LIT("consumer");
	q.Protocols.count = 1;
	q.Protocols.items = &proto;
	return kp_JoinGroupRequest_encode(body, v, &q);
}

static int sync_encode(void *arg, int16_t v, kp_buf *body)
{
	struct join_ctx *k = arg;
	kp_SyncGroupRequest q;
	kp_SyncGroupRequest_init(&q);
	q.GroupId = kp_str_from(k->c->group_id);
	q.GenerationId = k->generation;
	q.MemberId = kp_str_from(k->member);
	q.ProtocolType = KP_STR_LIT("consumer");
	q.ProtocolName = kp_str_from(k->protocol);
	q.Assignments.count = k->n_assign;
	q.Assignments.items = k->assign;
	return kp_SyncGroupRequest_encode(body, v, &q);
}

static void sync_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct join_ctx *k = arg;
	cl_consumer *c = k->c;
	kp_arena a;
	kp_arena_init(&a, 0);
	pthread_mutex_lock(&c->mu);
	kp_SyncGroupResponse m;
	cl_assigned_topic *t;
	size_t nt;
	if (err < 0) {
		cl__cons_note(c, "SyncGroup of group '%s': %s", c->group_id, cl_strerror(err));
		coord_lost(c);
		join_end(c, k, false, false);
	} else if (kp_SyncGroupResponse_decode(body, v, &a, &m) < 0) {
		cl__cons_note(c, "the SyncGroup v%d answer does not parse", v);
		join_end(c, k, false, false);
	} else if (m.ErrorCode == 27 || m.ErrorCode == 22 || m.ErrorCode == 25) {
		if (m.ErrorCode == 25)
			c->member_id[0] = '\0';
		join_end(c, k, false, true);
	} else if (m.ErrorCode != 0) {
		cl__cons_note(c, "SyncGroup of group '%s': %s", c->group_id, cl__kname(m.ErrorCode));
		if (cl__coordinator_moved(m.ErrorCode))
			coord_lost(c);
		join_end(c, k, false, false);
	} else if (cl_consumer_assignment_parse(m.Assignment.p,
						m.Assignment.len > 0 ? (size_t)m.Assignment.len : 0,
						&a, &t, &nt) < 0) {
		cl__cons_note(c, "the assignment of group '%s' does not parse", c->group_id);
		join_end(c, k, false, false);
	} else {
		c->generation = k->generation;
		apply_assignment(c, t, nt);
		join_end(c, k, true, false);
	}
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	kp_arena_free(&a);
}

static void send_sync(cl_consumer *c, struct join_ctx *k)
{
	if (cl__cons_coord_send(c, KP_API_SYNC_GROUP, sync_encode, sync_done, k) < 0)
		join_end(c, k, false, false);
}

/* The leader's assignment, once the partition counts are fresh. */
static void leader_meta_done(void *arg, int err)
{
	struct join_ctx *k = arg;
	cl_consumer *c = k->c;
	pthread_mutex_lock(&c->mu);
	int rc = err;
	cl_member_assignment *as = NULL;
	cl_topic_count *counts = k->n_topics ? kp_arena_calloc(&k->a, k->n_topics, sizeof *counts)
					     : NULL;
	int how = cl_assignor_parse(k->protocol);
	if (c->closing) {
		join_end(c, k, false, false);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (rc == 0 && how < 0) {
		cl__cons_note(c, "the group chose assignor '%s', which rewind does not implement",
			      k->protocol);
		rc = CL_ERR_UNSUPPORTED;
	}
	if (rc == 0 && k->n_topics && counts == NULL)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < k->n_topics; i++) {
		int n = cl_cluster_partition_count(c->fc, k->topics[i]);
		counts[i].topic = k->topics[i];
		counts[i].partitions = n >= 0 ? n : -1;
	}
	if (rc == 0)
		rc = cl_assign((enum cl_assignor)how, k->subs, k->n_subs, counts, k->n_topics, &k->a,
			       &as);
	if (rc == 0 && k->n_subs &&
	    (k->assign = kp_arena_calloc(&k->a, k->n_subs, sizeof *k->assign)) == NULL)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < k->n_subs; i++) {
		kp_buf b;
		kp_buf_init(&b);
		rc = cl_consumer_assignment_encode(&b, as[i].topics, as[i].n_topics);
		uint8_t *copy = rc == 0 ? kp_arena_alloc(&k->a, b.len ? b.len : 1) : NULL;
		if (rc == 0 && copy == NULL)
			rc = -ENOMEM;
		if (rc == 0) {
			memcpy(copy, b.data, b.len);
			kp_SyncGroupRequest_SyncGroupRequestAssignment_init(&k->assign[i]);
			k->assign[i].MemberId = kp_str_from(k->subs[i].member_id);
			k->assign[i].Assignment = (kp_bytes){ copy, (int32_t)b.len };
		}
		kp_buf_free(&b);
	}
	if (rc < 0) {
		if (err < 0)
			cl__cons_note(c, "group leader: metadata for the assignment: %s",
				      cl_cluster_errmsg(c->fc));
		/* Answer SyncGroup with nothing, so the others are not left
		 * waiting, and join again. */
		k->n_assign = 0;
		k->assign = NULL;
		c->joined = false;
	} else {
		k->n_assign = (int32_t)k->n_subs;
	}
	send_sync(c, k);
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
}

/* Copies the members' subscriptions out of the JoinGroup answer. */
static int leader_copy(struct join_ctx *k, const kp_JoinGroupResponse *m)
{
	size_t n = m->Members.count > 0 ? (size_t)m->Members.count : 0, cap = 0;
	k->n_subs = n;
	k->subs = n ? kp_arena_calloc(&k->a, n, sizeof *k->subs) : NULL;
	if (n && k->subs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const kp_JoinGroupResponse_JoinGroupResponseMember *jm = &m->Members.items[i];
		const char **t = NULL;
		size_t nt = 0;
		k->subs[i].member_id = cl__strdup(&k->a, jm->MemberId);
		k->subs[i].group_instance_id = jm->GroupInstanceId.len >= 0
			? cl__strdup(&k->a, jm->GroupInstanceId) : NULL;
		/* A member whose subscription does not parse gets nothing. */
		if (cl_consumer_subscription_parse(jm->Metadata.p,
						   jm->Metadata.len > 0 ? (size_t)jm->Metadata.len : 0,
						   &k->a, &t, &nt) < 0) {
			t = NULL;
			nt = 0;
		}
		k->subs[i].topics = t;
		k->subs[i].n_topics = nt;
		for (size_t j = 0; j < nt; j++) {
			bool seen = false;
			for (size_t x = 0; x < k->n_topics && !seen; x++)
				seen = strcmp(k->topics[x], t[j]) == 0;
			if (seen)
				continue;
			if (k->n_topics == cap) {
				size_t nc = cap ? cap * 2 : 8;
				const char **na = kp_arena_calloc(&k->a, nc, sizeof *na);
				if (na == NULL)
					return -ENOMEM;
				if (k->n_topics)
					memcpy(na, k->topics, k->n_topics * sizeof *na);
				k->topics = na;
				cap = nc;
			}
			k->topics[k->n_topics++] = t[j];
		}
	}
	return k->a.err ? -ENOMEM : 0;
}

static void join_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct join_ctx *k = arg;
	cl_consumer *c = k->c;
	kp_arena a;
	kp_arena_init(&a, 0);
	pthread_mutex_lock(&c->mu);
	kp_JoinGroupResponse m;
	if (err < 0) {
		cl__cons_note(c, "joining group '%s': %s", c->group_id, cl_strerror(err));
		coord_lost(c);
		join_end(c, k, false, false);
	} else if (kp_JoinGroupResponse_decode(body, v, &a, &m) < 0) {
		cl__cons_note(c, "the JoinGroup v%d answer does not parse", v);
		join_end(c, k, false, false);
	} else if (m.ErrorCode == 79 || m.ErrorCode == 25) {
		/* MEMBER_ID_REQUIRED: join again with the id; UNKNOWN_MEMBER_ID:
		 * join again without one. */
		snprintf(c->member_id, sizeof c->member_id, "%.*s",
			 m.ErrorCode == 79 && m.MemberId.len > 0 ? (int)m.MemberId.len : 0,
			 (const char *)m.MemberId.p);
		join_end(c, k, false, true);
	} else if (m.ErrorCode == 27) {
		join_end(c, k, false, true);
	} else if (cl__coordinator_moved(m.ErrorCode)) {
		cl__cons_note(c, "joining group '%s': %s", c->group_id, cl__kname(m.ErrorCode));
		coord_lost(c);
		join_end(c, k, false, false);
	} else if (m.ErrorCode != 0) {
		cl__cons_report(c, cl_err_kafka(m.ErrorCode), "joining group '%s': %s (%s)",
				c->group_id, cl__kname(m.ErrorCode), cl_kafka_err_desc(m.ErrorCode));
		c->group_failed = true;
		join_end(c, k, false, false);
	} else {
		snprintf(c->member_id, sizeof c->member_id, "%.*s",
			 m.MemberId.len > 0 ? (int)m.MemberId.len : 0, (const char *)m.MemberId.p);
		snprintf(k->member, sizeof k->member, "%s", c->member_id);
		k->generation = m.GenerationId;
		k->protocol = cl__strdup(&k->a, m.ProtocolName);
		bool leader = m.Leader.len == m.MemberId.len &&
			      memcmp(m.Leader.p, m.MemberId.p, (size_t)m.MemberId.len) == 0;
		if (k->protocol == NULL) {
			join_end(c, k, false, false);
		} else if (!leader) {
			send_sync(c, k);
		} else if (leader_copy(k, &m) < 0) {
			join_end(c, k, false, false);
		} else if (k->n_topics == 0) {
			leader_meta_done(k, 0);
		} else if (c->closing || cl_cluster_refresh(c->fc, k->topics, k->n_topics, leader_meta_done,
					      k) < 0) {
			join_end(c, k, false, false);
		}
	}
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	kp_arena_free(&a);
}

static void join_start(cl_consumer *c)
{
	struct join_ctx *k = calloc(1, sizeof *k);
	if (k == NULL)
		return;
	k->c = c;
	kp_arena_init(&k->a, 0);
	kp_buf_init(&k->sub);
	snprintf(k->member, sizeof k->member, "%s", c->member_id);
	if (cl_consumer_subscription_encode(&k->sub, (const char *const *)c->topics,
					    c->n_topics) < 0) {
		cl__cons_report(c, CL_ERR_ARG, "cannot encode the subscription of group '%s'",
				c->group_id);
		c->group_failed = true;
		join_free(k);
		return;
	}
	c->join_inflight = true;
	if (cl__cons_coord_send(c, KP_API_JOIN_GROUP, join_encode, join_done, k) < 0)
		join_end(c, k, false, false);
}

/* -------------------------------------------------- Heartbeat, Leave */

struct hb_ctx {
	cl_consumer *c;
	int32_t generation;
	char member[512];
};

static int hb_encode(void *arg, int16_t v, kp_buf *body)
{
	struct hb_ctx *k = arg;
	kp_HeartbeatRequest q;
	kp_HeartbeatRequest_init(&q);
	q.GroupId = kp_str_from(k->c->group_id);
	q.GenerationId = k->generation;
	q.MemberId = kp_str_from(k->member);
	return kp_HeartbeatRequest_encode(body, v, &q);
}

static void hb_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct hb_ctx *k = arg;
	cl_consumer *c = k->c;
	kp_arena a;
	kp_arena_init(&a, 0);
	pthread_mutex_lock(&c->mu);
	c->hb_inflight = false;
	int64_t now = cl__now_ms();
	kp_HeartbeatResponse m;
	if (err < 0) {
		cl__cons_note(c, "heartbeat to group '%s': %s", c->group_id, cl_strerror(err));
		coord_lost(c);
		c->next_heartbeat = now + cl__cons_backoff(c, &c->group_backoff);
	} else if (kp_HeartbeatResponse_decode(body, v, &a, &m) < 0) {
		cl__cons_note(c, "the Heartbeat v%d answer does not parse", v);
	} else if (k->generation != c->generation || !c->joined) {
		/* An answer for a generation this member already left. */
	} else if (m.ErrorCode == 27 || m.ErrorCode == 25 || m.ErrorCode == 22) {
		if (m.ErrorCode == 25)
			c->member_id[0] = '\0';
		c->joined = false;
	} else if (cl__coordinator_moved(m.ErrorCode)) {
		coord_lost(c);
		c->next_heartbeat = now + cl__cons_backoff(c, &c->group_backoff);
	} else if (m.ErrorCode != 0) {
		cl__cons_report(c, cl_err_kafka(m.ErrorCode), "heartbeat to group '%s': %s (%s)",
				c->group_id, cl__kname(m.ErrorCode), cl_kafka_err_desc(m.ErrorCode));
		c->group_failed = true;
	} else {
		c->group_backoff = 0;
	}
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	kp_arena_free(&a);
	free(k);
}

static void heartbeat(cl_consumer *c, int64_t now)
{
	struct hb_ctx *k = calloc(1, sizeof *k);
	if (k == NULL)
		return;
	k->c = c;
	k->generation = c->generation;
	snprintf(k->member, sizeof k->member, "%s", c->member_id);
	c->next_heartbeat = now + c->conf.heartbeat_interval_ms;
	if (cl__cons_coord_send(c, KP_API_HEARTBEAT, hb_encode, hb_done, k) < 0) {
		free(k);
		return;
	}
	c->hb_inflight = true;
}

struct leave_ctx {
	cl_consumer *c;
	char member[512];
};

/* LeaveGroup names the member by MemberId up to v2, in Members from v3. */
static int leave_encode(void *arg, int16_t v, kp_buf *body)
{
	struct leave_ctx *k = arg;
	kp_LeaveGroupRequest_MemberIdentity mi;
	kp_LeaveGroupRequest q;
	kp_LeaveGroupRequest_MemberIdentity_init(&mi);
	mi.MemberId = kp_str_from(k->member);
	kp_LeaveGroupRequest_init(&q);
	q.GroupId = kp_str_from(k->c->group_id);
	if (v >= 3) {
		q.Members.count = 1;
		q.Members.items = &mi;
	} else {
		q.MemberId = kp_str_from(k->member);
	}
	return kp_LeaveGroupRequest_encode(body, v, &q);
}

static void leave_done(void *arg, int err, int16_t v, kp_reader *body)
{
	struct leave_ctx *k = arg;
	cl_consumer *c = k->c;
	(void)v;
	(void)body;
	pthread_mutex_lock(&c->mu);
	if (err < 0)
		cl__cons_note(c, "leaving group '%s': %s", c->group_id, cl_strerror(err));
	c->leave_inflight = false;
	cl__cons_tick(c);
	pthread_mutex_unlock(&c->mu);
	free(k);
}

int cl__cons_leave(cl_consumer *c)
{
	struct leave_ctx *k = calloc(1, sizeof *k);
	if (k == NULL)
		return -ENOMEM;
	k->c = c;
	snprintf(k->member, sizeof k->member, "%s", c->member_id);
	int rc = cl__cons_coord_send(c, KP_API_LEAVE_GROUP, leave_encode, leave_done, k);
	if (rc < 0) {
		free(k);
		return rc;
	}
	c->leave_inflight = true;
	return 0;
}

/* ----------------------------------------------------------------- step */

void cl__cons_group_step(cl_consumer *c, int64_t now)
{
	if (c->group_id == NULL || c->group_failed)
		return;
	if (!c->subscribed && !c->manual)
		return;
	find_coordinator(c, now);
	if (!c->subscribed || c->stalled || c->coord < 0 || c->leaving)
		return;
	if (c->joined && now - c->last_poll_ms > c->conf.max_poll_interval_ms) {
		/* Java's rule: a member that stops polling leaves, so the group
		 * does not wait for it; the next poll joins again. */
		cl__cons_note(c, "poll was not called for max.poll.interval.ms (%d ms): left "
			      "group '%s'", c->conf.max_poll_interval_ms, c->group_id);
		cl__cons_revoke_all(c);
		c->joined = false;
		c->stalled = true;
		/* What poll handed out counts as consumed: commit it first (the
		 * same wire keeps the order), so whoever takes the partitions
		 * does not read it again. */
		if (c->conf.enable_auto_commit && !c->commit_inflight)
			cl__cons_commit(c, CL_COMMIT_REJOIN, 0);
		if (!c->leave_inflight)
			cl__cons_leave(c);
		return;
	}
	if (c->joined) {
		if (now >= c->next_heartbeat && !c->hb_inflight)
			heartbeat(c, now);
		return;
	}
	if (c->join_inflight || c->commit_inflight || now < c->group_retry_at)
		return;
	/* Eager rebalance: stop handing out the partitions, commit where poll
	 * got to, then join. */
	if (!c->rejoin_committed) {
		cl__cons_revoke_all(c);
		if (c->generation > 0 && c->conf.enable_auto_commit) {
			cl__cons_commit(c, CL_COMMIT_REJOIN, 0);
			return;
		}
		c->rejoin_committed = true;
	}
	c->rejoin_committed = false;
	join_start(c);
}
