/*
 * consumer_group.c -- the consumer's group membership and offset commits,
 * on the background thread (see consumer.c for the threads and the
 * invariants).
 *
 * Membership is Kafka's classic protocol, eager: FindCoordinator (through
 * cl_coordinator), JoinGroup with the member-id handshake (KIP-394), the
 * leader's assignment (assignor.c, from every member's subscription and
 * the topics' partition counts), SyncGroup, a Heartbeat every
 * heartbeat.interval.ms; REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID or
 * ILLEGAL_GENERATION make the member revoke every partition, commit their
 * positions (while the coordinator still takes the old generation) and
 * join again. A member whose application stops polling for
 * max.poll.interval.ms leaves, as Java's does. Commits are OffsetCommit
 * with the generation and member id (-1 and "" for partitions assigned by
 * hand, as Java's assign() consumers commit).
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

/* --------------------------------------------------------- offset commit */

struct commit_row {
	struct cl__cons_part *p;
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
static bool commit_wants(const struct cl__cons_part *p, bool revoked)
{
	return (revoked ? p->revoked : p->assigned) && p->position >= 0 &&
	       p->position != p->committed;
}

/*
 * Commits the positions of the assigned partitions (or, with `revoked`,
 * of those cl__cons_revoke_all just took, whose positions poll can no longer move)
 * that moved since their last commit. With mu held when `locked` (it is
 * dropped for the request).
 */
int cl__cons_commit_positions(cl_consumer *c, bool locked, bool revoked)
{
	size_t n = 0, k = 0;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
		n += commit_wants(p, revoked);
	if (n == 0)
		return 0;
	struct commit_row *rows = calloc(n, sizeof *rows);
	if (rows == NULL)
		return -ENOMEM;
	for (struct cl__cons_part *p = c->parts; p; p = p->next)
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
		cl__cons_note(c, "%s", why);
		if (rejoin && !c->manual)
			c->joined = false;
	}
	free(rows);
	return rc;
}

/* ------------------------------------------------------------- the group */


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

/* The leader's work: SyncGroup assignments for every member, from mem. */
static int leader_assign(cl_consumer *c, const kp_JoinGroupResponse *m, kp_arena *mem,
			 kp_SyncGroupRequest_SyncGroupRequestAssignment **out, int32_t *nout)
{
	int how = cl_assignor_parse(cl__strdup(mem, m->ProtocolName));
	size_t n = m->Members.count > 0 ? (size_t)m->Members.count : 0;
	if (how < 0) {
		cl__cons_note(c, "the group chose assignor '%.*s', which rewind does not implement",
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
		cl__cons_note(c, "group leader: metadata for the assignment: %s", cl_client_errmsg(c->fcl));
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
	cl__cons_revoke_all(c);
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
		cl__cons_report(c, CL_ERR_ARG, "cannot encode the subscription");
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
		cl__cons_note(c, "joining group '%s': %s", c->group_id, cl_client_errmsg(c->gcl));
		goto done;
	}
	kp_JoinGroupResponse jm;
	kp_reader r = kp_reader_make(resp.data, resp.len);
	if (kp_JoinGroupResponse_decode(&r, v, &a, &jm) < 0) {
		cl__cons_note(c, "the JoinGroup v%d answer from %s does not parse", v, cl_conn_addr(conn));
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
		cl__cons_note(c, "joining group '%s': %s", c->group_id, cl_kafka_err_name(jm.ErrorCode));
		goto done;
	}
	if (jm.ErrorCode != 0) {
		cl__cons_report(c, cl_err_kafka(jm.ErrorCode), "joining group '%s' at %s: %s (%s)",
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
		cl__cons_note(c, "SyncGroup of group '%s': %s", c->group_id, cl_client_errmsg(c->gcl));
		goto done;
	}
	kp_SyncGroupResponse sm;
	r = kp_reader_make(resp.data, resp.len);
	if (kp_SyncGroupResponse_decode(&r, v, &a, &sm) < 0) {
		cl__cons_note(c, "the SyncGroup v%d answer from %s does not parse", v, cl_conn_addr(conn));
		goto done;
	}
	if (sm.ErrorCode == 27 || sm.ErrorCode == 22 || sm.ErrorCode == 25) {
		if (sm.ErrorCode == 25)
			c->member_id[0] = '\0';
		out = JOIN_AGAIN;
		goto done;
	}
	if (sm.ErrorCode != 0) {
		cl__cons_note(c, "SyncGroup of group '%s': %s", c->group_id,
		     cl_kafka_err_name(sm.ErrorCode) ? cl_kafka_err_name(sm.ErrorCode) : "?");
		goto done;
	}
	cl_assigned_topic *t;
	size_t nt;
	if (cl_consumer_assignment_parse(sm.Assignment.p,
					 sm.Assignment.len > 0 ? (size_t)sm.Assignment.len : 0,
					 &a, &t, &nt) < 0) {
		cl__cons_note(c, "the assignment of group '%s' does not parse", c->group_id);
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
		cl__cons_note(c, "heartbeat to group '%s': %s", c->group_id, cl_client_errmsg(c->gcl));
		c->next_heartbeat = now + cl__cons_backoff(c, &c->group_backoff);
		goto out;
	}
	kp_HeartbeatResponse m;
	kp_reader r = kp_reader_make(resp.data, resp.len);
	if (kp_HeartbeatResponse_decode(&r, v, &a, &m) < 0) {
		cl__cons_note(c, "the Heartbeat v%d answer does not parse", v);
		goto out;
	}
	c->group_backoff = 0;
	if (m.ErrorCode == 25)
		c->member_id[0] = '\0';
	if (m.ErrorCode == 27 || m.ErrorCode == 25 || m.ErrorCode == 22)
		c->joined = false;
	else if (coordinator_error(m.ErrorCode))
		c->next_heartbeat = now + cl__cons_backoff(c, &c->group_backoff);
	else if (m.ErrorCode != 0)
		cl__cons_report(c, cl_err_kafka(m.ErrorCode), "heartbeat to group '%s': %s (%s)",
		       c->group_id, cl_kafka_err_name(m.ErrorCode) ? cl_kafka_err_name(m.ErrorCode) : "?",
		       cl_kafka_err_desc(m.ErrorCode));
out:
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_arena_free(&a);
}

/* LeaveGroup (no lock needed: bg is gone or mu is dropped by the caller). */
void cl__cons_leave_group(cl_consumer *c, const char *member)
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

void cl__cons_group_step(cl_consumer *c, int64_t now)
{
	if (!c->subscribed || c->group_failed || c->stalled)
		return;
	if (c->joined && now - c->last_poll_ms > c->conf.max_poll_interval_ms) {
		/* Java's rule: a member that stops polling leaves, so the group
		 * does not wait for it; the next poll joins again. */
		char member[sizeof c->member_id];
		snprintf(member, sizeof member, "%s", c->member_id);
		cl__cons_note(c, "poll was not called for max.poll.interval.ms (%d ms): left group '%s'",
		     c->conf.max_poll_interval_ms, c->group_id);
		cl__cons_revoke_all(c);
		c->joined = false;
		c->stalled = true;
		pthread_mutex_unlock(&c->mu);
		cl__cons_leave_group(c, member);
		pthread_mutex_lock(&c->mu);
		return;
	}
	if (!c->joined) {
		if (now < c->group_retry_at)
			return;
		cl__cons_revoke_all(c);
		if (c->generation > 0 && c->conf.enable_auto_commit)
			cl__cons_commit_positions(c, true, true);
		for (struct cl__cons_part *p = c->parts; p; p = p->next)
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
			c->group_retry_at = now + cl__cons_backoff(c, &c->group_backoff);
		}
		return;
	}
	if (now >= c->next_heartbeat)
		heartbeat(c);
}
