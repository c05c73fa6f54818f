/*
 * groups.c -- consumer-group administration: ListGroups, DescribeGroups,
 * OffsetFetch, OffsetCommit (as an administrator), OffsetDelete and
 * DeleteGroups, each at the group's coordinator (ListGroups at every
 * broker). DescribeGroups decodes each member's assignment with
 * cl_consumer_assignment_parse() (assignor.c, with the rest of the
 * consumer protocol's bytes).
 *
 * Versions differ in shape (OffsetFetch v8+ batches groups, FindCoordinator
 * v4+ batches keys); each helper builds and reads the shape of the version
 * cl_conn negotiated. A coordinator that moved (NOT_COORDINATOR) or is
 * loading is asked again, found afresh, until the request timeout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cl_int.h"

/* Coordinator connection and version for api_key; resets the buffers. */
static int call_begin(cl_client *c, struct cl__req *k, const char *group, int16_t api_key)
{
	int rc;
	cl__req_reset(k);
	if ((rc = cl_coordinator(c, group, &k->conn)) < 0)
		return rc;
	return cl__version(c, k->conn, api_key, &k->v);
}

/* ------------------------------------------------------------ ListGroups */

static int listing_cmp(const void *a, const void *b)
{
	const cl_group_listing *x = a, *y = b;
	return strcmp(x->group, y->group);
}

/* The listing ListGroups gathers, broker by broker. */
struct list_acc {
	cl_group_list *l;
	size_t cap;                   /* of l->groups */
};

/* One broker's ListGroups answer, appended to the list_acc arg. */
static int list_groups_at(cl_client *c, struct cl__req *k, int32_t node, void *arg)
{
	struct list_acc *acc = arg;
	cl_group_list *l = acc->l;
	kp_ListGroupsRequest q;
	kp_ListGroupsResponse m;
	kp_reader r;
	int rc;

	kp_ListGroupsRequest_init(&q);
	rc = kp_ListGroupsRequest_encode(&k->body, k->v, &q);
	if ((rc = cl__req_run(c, k, KP_API_LIST_GROUPS, rc, &r)) < 0 ||
	    (rc = cl__req_parsed(c, k, KP_API_LIST_GROUPS,
				 kp_ListGroupsResponse_decode(&r, k->v, &k->arena, &m) >= 0)) < 0 ||
	    (rc = cl__broker_error(c, node, KP_API_LIST_GROUPS, m.ErrorCode)) < 0)
		return rc;
	for (int32_t i = 0; i < m.Groups.count; i++) {
		cl_group_listing *g = cl__arena_reserve(&l->mem, l->groups, l->n_groups, &acc->cap,
							sizeof *g);
		if (g == NULL)
			return -ENOMEM;
		l->groups = g;
		const kp_ListGroupsResponse_ListedGroup *s = &m.Groups.items[i];
		cl_group_listing *d = &l->groups[l->n_groups++];
		d->group = cl__strdup(&l->mem, s->GroupId);
		d->protocol_type = cl__strdup(&l->mem, s->ProtocolType);
		d->state = cl__strdup(&l->mem, k->v >= 4 ? s->GroupState : KP_STR_LIT(""));
	}
	return l->mem.err ? -ENOMEM : 0;
}

int cl_list_groups(cl_client *c, cl_group_list **out)
{
	struct list_acc acc = { NULL, 0 };
	struct cl__req k;
	int rc;

	*out = NULL;
	cl__req_init(&k, c);
	acc.l = calloc(1, sizeof *acc.l);
	if (acc.l == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	kp_arena_init(&acc.l->mem, 0);
	if ((rc = cl__req_each_broker(c, &k, KP_API_LIST_GROUPS, list_groups_at, &acc)) < 0)
		goto out;
	cl_group_list *l = acc.l;
	if (l->n_groups)
		qsort(l->groups, l->n_groups, sizeof *l->groups, listing_cmp);
	*out = l;
	acc.l = NULL;
out:
	if (rc == -ENOMEM)
		cl__errf(c, "out of memory listing groups");
	cl_group_list_free(acc.l);
	cl__req_free(&k);
	return rc;
}

void cl_group_list_free(cl_group_list *l)
{
	if (l == NULL)
		return;
	kp_arena_free(&l->mem);
	free(l);
}

/* -------------------------------------------------------- DescribeGroups */

int cl_describe_group(cl_client *c, const char *group, cl_group_desc **out)
{
	struct cl__req k;
	int rc;

	*out = NULL;
	cl__req_init(&k, c);
	for (;;) {
		kp_DescribeGroupsRequest q;
		kp_DescribeGroupsResponse m;
		kp_str g = kp_str_from(group);

		if ((rc = call_begin(c, &k, group, KP_API_DESCRIBE_GROUPS)) < 0)
			break;
		kp_DescribeGroupsRequest_init(&q);
		q.Groups.count = 1;
		q.Groups.items = &g;
		kp_reader r;
		rc = kp_DescribeGroupsRequest_encode(&k.body, k.v, &q);
		if ((rc = cl__req_run(c, &k, KP_API_DESCRIBE_GROUPS, rc, &r)) < 0 ||
		    (rc = cl__req_parsed(c, &k, KP_API_DESCRIBE_GROUPS,
					 kp_DescribeGroupsResponse_decode(&r, k.v, &k.arena, &m) >= 0 &&
					 m.Groups.count == 1)) < 0)
			break;
		const kp_DescribeGroupsResponse_DescribedGroup *s = &m.Groups.items[0];
		if (cl__coordinator_moved(s->ErrorCode) && cl__req_again(&k))
			continue;

		cl_group_desc *d = calloc(1, sizeof *d);
		if (d == NULL) {
			rc = -ENOMEM;
			cl__errf(c, "out of memory");
			break;
		}
		kp_arena_init(&d->mem, 0);
		d->group = cl__strdup(&d->mem, s->GroupId);
		d->error = s->ErrorCode;
		d->state = cl__strdup(&d->mem, s->GroupState);
		d->protocol_type = cl__strdup(&d->mem, s->ProtocolType);
		d->protocol = cl__strdup(&d->mem, s->ProtocolData);
		d->n_members = (size_t)(s->Members.count > 0 ? s->Members.count : 0);
		if (d->n_members)
			d->members = kp_arena_calloc(&d->mem, d->n_members, sizeof *d->members);
		bool consumer = cl__str_eq(s->ProtocolType, "consumer");
		for (size_t i = 0; i < d->n_members && d->members; i++) {
			const kp_DescribeGroupsResponse_DescribedGroupMember *sm = &s->Members.items[i];
			cl_group_member *dm = &d->members[i];
			dm->member_id = cl__strdup(&d->mem, sm->MemberId);
			dm->group_instance_id = sm->GroupInstanceId.len >= 0
				? cl__strdup(&d->mem, sm->GroupInstanceId) : NULL;
			dm->client_id = cl__strdup(&d->mem, sm->ClientId);
			dm->client_host = cl__strdup(&d->mem, sm->ClientHost);
			size_t alen = sm->MemberAssignment.len > 0 ? (size_t)sm->MemberAssignment.len : 0;
			uint8_t *raw = alen ? kp_arena_alloc(&d->mem, alen) : NULL;
			if (raw) {
				memcpy(raw, sm->MemberAssignment.p, alen);
				dm->raw_assignment = raw;
				dm->raw_assignment_len = alen;
			}
			if (consumer)
				dm->assignment_ok = cl_consumer_assignment_parse(
					raw, alen, &d->mem, &dm->assignment, &dm->n_assignment) == 0;
		}
		if (d->mem.err) {
			cl_group_desc_free(d);
			rc = -ENOMEM;
			cl__errf(c, "out of memory");
			break;
		}
		*out = d;
		rc = 0;
		break;
	}
	cl__req_free(&k);
	return rc;
}

void cl_group_desc_free(cl_group_desc *d)
{
	if (d == NULL)
		return;
	kp_arena_free(&d->mem);
	free(d);
}

/* ----------------------------------------------------------- OffsetFetch */

static int committed_cmp(const void *a, const void *b)
{
	const cl_committed *x = a, *y = b;
	int t = strcmp(x->topic, y->topic);
	if (t)
		return t;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

int cl__offset_fetch_encode(kp_buf *body, int16_t v, kp_arena *a, const char *group)
{
	kp_OffsetFetchRequest q;
	kp_OffsetFetchRequest_init(&q);
	if (v >= 8) {
		kp_OffsetFetchRequest_OffsetFetchRequestGroup *g = kp_arena_calloc(a, 1, sizeof *g);
		if (g == NULL)
			return KP_ERR_NOMEM;
		kp_OffsetFetchRequest_OffsetFetchRequestGroup_init(g);
		g->GroupId = kp_str_from(group);
		g->Topics.count = -1;         /* all topics */
		q.Groups.count = 1;
		q.Groups.items = g;
	} else {
		q.GroupId = kp_str_from(group);
		q.Topics.count = -1;          /* all topics: v2+ */
	}
	return kp_OffsetFetchRequest_encode(body, v, &q);
}

int cl__offset_fetch_each(const kp_OffsetFetchResponse *m, int16_t v, cl__committed_fn *each,
			  void *arg)
{
	int rc = 0;
	/* Two loops alike but for the generated types of the two shapes. */
	if (v >= 8) {
		const kp_OffsetFetchResponse_OffsetFetchResponseGroup *g = &m->Groups.items[0];
		for (int32_t ti = 0; rc == 0 && ti < g->Topics.count; ti++) {
			const kp_OffsetFetchResponse_OffsetFetchResponseTopics *t = &g->Topics.items[ti];
			for (int32_t pi = 0; rc == 0 && pi < t->Partitions.count; pi++) {
				const kp_OffsetFetchResponse_OffsetFetchResponsePartitions *p =
					&t->Partitions.items[pi];
				rc = each(arg, t->Name, p->PartitionIndex, p->CommittedOffset,
					  p->Metadata, p->ErrorCode);
			}
		}
		return rc;
	}
	for (int32_t ti = 0; rc == 0 && ti < m->Topics.count; ti++) {
		const kp_OffsetFetchResponse_OffsetFetchResponseTopic *t = &m->Topics.items[ti];
		for (int32_t pi = 0; rc == 0 && pi < t->Partitions.count; pi++) {
			const kp_OffsetFetchResponse_OffsetFetchResponsePartition *p =
				&t->Partitions.items[pi];
			rc = each(arg, t->Name, p->PartitionIndex, p->CommittedOffset, p->Metadata,
				  p->ErrorCode);
		}
	}
	return rc;
}

/* What cl_offset_fetch gathers: every partition of the answer. */
struct committed_acc {
	cl_group_offsets *o;
	size_t cap;
};

/* cl__committed_fn: one partition into the committed_acc arg. */
static int committed_add(void *arg, kp_str topic, int32_t partition, int64_t offset,
			 kp_str metadata, int16_t error)
{
	struct committed_acc *acc = arg;
	cl_group_offsets *o = acc->o;
	cl_committed *n = cl__arena_reserve(&o->mem, o->offsets, o->n_offsets, &acc->cap,
					    sizeof *n);
	if (n == NULL)
		return -ENOMEM;
	o->offsets = n;
	cl_committed *e = &o->offsets[o->n_offsets++];
	e->topic = cl__strdup(&o->mem, topic);
	e->partition = partition;
	e->offset = offset;
	e->metadata = cl__strdup(&o->mem, metadata);
	e->error = error;
	return o->mem.err ? -ENOMEM : 0;
}

int cl_offset_fetch(cl_client *c, const char *group, cl_group_offsets **out)
{
	struct cl__req k;
	int rc;

	*out = NULL;
	cl__req_init(&k, c);
	for (;;) {
		kp_OffsetFetchResponse m;

		if ((rc = call_begin(c, &k, group, KP_API_OFFSET_FETCH)) < 0)
			break;
		if (k.v < 2) {
			rc = CL_ERR_UNSUPPORTED;
			cl__errf(c, "the broker at %s offers OffsetFetch below v2 only, which "
				 "cannot list all of a group's offsets", cl_conn_addr(k.conn));
			break;
		}
		kp_reader r;
		rc = cl__offset_fetch_encode(&k.body, k.v, &k.arena, group);
		if ((rc = cl__req_run(c, &k, KP_API_OFFSET_FETCH, rc, &r)) < 0 ||
		    (rc = cl__req_parsed(c, &k, KP_API_OFFSET_FETCH,
					 kp_OffsetFetchResponse_decode(&r, k.v, &k.arena, &m) >= 0 &&
					 (k.v < 8 || m.Groups.count == 1))) < 0)
			break;
		int16_t code = k.v >= 8 ? m.Groups.items[0].ErrorCode : m.ErrorCode;
		if (cl__coordinator_moved(code) && cl__req_again(&k))
			continue;
		if (code != 0) {
			rc = cl_err_kafka(code);
			cl__errf(c, "fetching the committed offsets of group '%s' from %s: %s (%s)",
				 group, cl_conn_addr(k.conn), cl_strerror(rc), cl_kafka_err_desc(code));
			break;
		}
		cl_group_offsets *o = calloc(1, sizeof *o);
		if (o == NULL) {
			rc = -ENOMEM;
			break;
		}
		kp_arena_init(&o->mem, 0);
		struct committed_acc acc = { o, 0 };
		rc = cl__offset_fetch_each(&m, k.v, committed_add, &acc);
		if (rc < 0) {
			cl_group_offsets_free(o);
			break;
		}
		if (o->n_offsets)
			qsort(o->offsets, o->n_offsets, sizeof *o->offsets, committed_cmp);
		*out = o;
		break;
	}
	if (rc == -ENOMEM)
		cl__errf(c, "out of memory reading committed offsets");
	cl__req_free(&k);
	return rc;
}

void cl_group_offsets_free(cl_group_offsets *o)
{
	if (o == NULL)
		return;
	kp_arena_free(&o->mem);
	free(o);
}

/* ------------------------------------------- OffsetCommit, OffsetDelete */

/* Builds topic groups of q for a request; names from the arena. */
static int tp_groups(struct cl__req *k, const cl_tp_offset *q, size_t n,
		     struct cl__tgroup **g, size_t *ng)
{
	const char **names = kp_arena_calloc(&k->arena, n, sizeof *names);
	size_t *sel = kp_arena_calloc(&k->arena, n, sizeof *sel);
	if (names == NULL || sel == NULL)
		return KP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		names[i] = q[i].topic;
		sel[i] = i;
	}
	return cl__group_by_topic(&k->arena, names, sel, n, g, ng);
}

/* cl__part_ask_fn over the caller's cl_tp_offset array. */
static void tp_ask(const void *arg, size_t idx, int32_t *partition, int64_t *offset)
{
	const cl_tp_offset *q = arg;
	*partition = q[idx].partition;
	*offset = q[idx].offset;
}

/* The walk of cl__list_offsets_encode (offsets.c) over other generated
 * types: the shape repeats, the request structs cannot be shared. */
int cl__offset_commit_encode(kp_buf *body, int16_t v, kp_arena *a, const char *group,
			     int32_t generation, const char *member, const struct cl__tgroup *g,
			     size_t ng, cl__part_ask_fn *ask, const void *arg)
{
	kp_OffsetCommitRequest q;
	kp_OffsetCommitRequest_init(&q);
	q.GroupId = kp_str_from(group);
	q.GenerationIdOrMemberEpoch = generation;
	q.MemberId = kp_str_from(member);
	q.Topics.items = kp_arena_calloc(a, ng, sizeof *q.Topics.items);
	if (q.Topics.items == NULL)
		return KP_ERR_NOMEM;
	q.Topics.count = (int32_t)ng;
	for (size_t t = 0; t < ng; t++) {
		kp_OffsetCommitRequest_OffsetCommitRequestTopic *tt = &q.Topics.items[t];
		kp_OffsetCommitRequest_OffsetCommitRequestTopic_init(tt);
		tt->Name = kp_str_from(g[t].topic);
		tt->Partitions.items = kp_arena_calloc(a, g[t].n, sizeof *tt->Partitions.items);
		if (tt->Partitions.items == NULL)
			return KP_ERR_NOMEM;
		tt->Partitions.count = (int32_t)g[t].n;
		for (size_t j = 0; j < g[t].n; j++) {
			kp_OffsetCommitRequest_OffsetCommitRequestPartition *p = &tt->Partitions.items[j];
			kp_OffsetCommitRequest_OffsetCommitRequestPartition_init(p);
			ask(arg, g[t].idx[j], &p->PartitionIndex, &p->CommittedOffset);
			p->CommittedMetadata = KP_STR_LIT("");
		}
	}
	return kp_OffsetCommitRequest_encode(body, v, &q);
}

/* Finds q's entry for (topic, partition) and sets its error. */
static void tp_set_error(cl_tp_offset *q, size_t n, kp_str topic, int32_t partition,
			 int16_t error)
{
	for (size_t i = 0; i < n; i++)
		if (q[i].partition == partition && cl__str_eq(topic, q[i].topic))
			q[i].error = error;
}

int cl_offset_commit(cl_client *c, const char *group, cl_tp_offset *q, size_t n)
{
	struct cl__req k;
	int rc;

	if (n == 0)
		return 0;
	cl__req_init(&k, c);
	for (;;) {
		kp_OffsetCommitResponse m;
		struct cl__tgroup *g;
		size_t ng;

		if ((rc = call_begin(c, &k, group, KP_API_OFFSET_COMMIT)) < 0)
			break;
		if ((rc = tp_groups(&k, q, n, &g, &ng)) < 0)
			break;
		kp_reader r;
		rc = cl__offset_commit_encode(&k.body, k.v, &k.arena, group, -1, "", g, ng, tp_ask, q);
		if ((rc = cl__req_run(c, &k, KP_API_OFFSET_COMMIT, rc, &r)) < 0 ||
		    (rc = cl__req_parsed(c, &k, KP_API_OFFSET_COMMIT,
					 kp_OffsetCommitResponse_decode(&r, k.v, &k.arena, &m) >= 0)) < 0)
			break;
		bool again = false;
		for (size_t i = 0; i < n; i++)
			q[i].error = 3; /* unanswered: UNKNOWN_TOPIC_OR_PARTITION */
		for (int32_t ti = 0; ti < m.Topics.count; ti++)
			for (int32_t pi = 0; pi < m.Topics.items[ti].Partitions.count; pi++) {
				const kp_OffsetCommitResponse_OffsetCommitResponsePartition *p =
					&m.Topics.items[ti].Partitions.items[pi];
				tp_set_error(q, n, m.Topics.items[ti].Name, p->PartitionIndex, p->ErrorCode);
				if (cl__coordinator_moved(p->ErrorCode))
					again = true;
			}
		if (again && cl__req_again(&k))
			continue;
		rc = 0;
		break;
	}
	if (rc == KP_ERR_NOMEM)
		cl__errf(c, "out of memory building OffsetCommit");
	cl__req_free(&k);
	return rc;
}

int cl_offset_delete(cl_client *c, const char *group, cl_tp_offset *q, size_t n)
{
	struct cl__req k;
	int rc;

	if (n == 0)
		return 0;
	cl__req_init(&k, c);
	for (;;) {
		kp_OffsetDeleteRequest rq;
		kp_OffsetDeleteResponse m;
		struct cl__tgroup *g;
		size_t ng;

		if ((rc = call_begin(c, &k, group, KP_API_OFFSET_DELETE)) < 0)
			break;
		kp_OffsetDeleteRequest_init(&rq);
		rq.GroupId = kp_str_from(group);
		if ((rc = tp_groups(&k, q, n, &g, &ng)) < 0)
			break;
		rq.Topics.items = kp_arena_calloc(&k.arena, ng, sizeof *rq.Topics.items);
		if (rq.Topics.items == NULL) {
			rc = KP_ERR_NOMEM;
			break;
		}
		rq.Topics.count = (int32_t)ng;
		for (size_t t = 0; t < ng && rc == 0; t++) {
			kp_OffsetDeleteRequest_OffsetDeleteRequestTopic *tt = &rq.Topics.items[t];
			kp_OffsetDeleteRequest_OffsetDeleteRequestTopic_init(tt);
			tt->Name = kp_str_from(g[t].topic);
			tt->Partitions.items = kp_arena_calloc(&k.arena, g[t].n, sizeof *tt->Partitions.items);
			if (tt->Partitions.items == NULL) {
				rc = KP_ERR_NOMEM;
				break;
			}
			tt->Partitions.count = (int32_t)g[t].n;
			for (size_t j = 0; j < g[t].n; j++)
				tt->Partitions.items[j].PartitionIndex = q[g[t].idx[j]].partition;
		}
		if (rc < 0)
			break;
		kp_reader r;
		rc = kp_OffsetDeleteRequest_encode(&k.body, k.v, &rq);
		if ((rc = cl__req_run(c, &k, KP_API_OFFSET_DELETE, rc, &r)) < 0 ||
		    (rc = cl__req_parsed(c, &k, KP_API_OFFSET_DELETE,
					 kp_OffsetDeleteResponse_decode(&r, k.v, &k.arena, &m) >= 0)) < 0)
			break;
		if (cl__coordinator_moved(m.ErrorCode) && cl__req_again(&k))
			continue;
		if (m.ErrorCode != 0) {
			rc = cl_err_kafka(m.ErrorCode);
			cl__errf(c, "deleting offsets of group '%s' at %s: %s (%s)", group,
				 cl_conn_addr(k.conn), cl_strerror(rc), cl_kafka_err_desc(m.ErrorCode));
			break;
		}
		for (size_t i = 0; i < n; i++)
			q[i].error = 3;
		for (int32_t ti = 0; ti < m.Topics.count; ti++)
			for (int32_t pi = 0; pi < m.Topics.items[ti].Partitions.count; pi++) {
				const kp_OffsetDeleteResponse_OffsetDeleteResponsePartition *p =
					&m.Topics.items[ti].Partitions.items[pi];
				tp_set_error(q, n, m.Topics.items[ti].Name, p->PartitionIndex, p->ErrorCode);
			}
		rc = 0;
		break;
	}
	if (rc == KP_ERR_NOMEM)
		cl__errf(c, "out of memory building OffsetDelete");
	cl__req_free(&k);
	return rc;
}

/* ---------------------------------------------------------- DeleteGroups */

int cl_delete_group(cl_client *c, const char *group)
{
	struct cl__req k;
	int rc;

	cl__req_init(&k, c);
	for (;;) {
		kp_DeleteGroupsRequest q;
		kp_DeleteGroupsResponse m;
		kp_str g = kp_str_from(group);

		if ((rc = call_begin(c, &k, group, KP_API_DELETE_GROUPS)) < 0)
			break;
		kp_DeleteGroupsRequest_init(&q);
		q.GroupsNames.count = 1;
		q.GroupsNames.items = &g;
		kp_reader r;
		rc = kp_DeleteGroupsRequest_encode(&k.body, k.v, &q);
		if ((rc = cl__req_run(c, &k, KP_API_DELETE_GROUPS, rc, &r)) < 0 ||
		    (rc = cl__req_parsed(c, &k, KP_API_DELETE_GROUPS,
					 kp_DeleteGroupsResponse_decode(&r, k.v, &k.arena, &m) >= 0 &&
					 m.Results.count == 1)) < 0)
			break;
		int16_t code = m.Results.items[0].ErrorCode;
		if (cl__coordinator_moved(code) && cl__req_again(&k))
			continue;
		rc = cl_err_kafka(code);
		if (rc < 0)
			cl__errf(c, "deleting group '%s' at %s: %s (%s)", group,
				 cl_conn_addr(k.conn), cl_strerror(rc), cl_kafka_err_desc(code));
		break;
	}
	cl__req_free(&k);
	return rc;
}
