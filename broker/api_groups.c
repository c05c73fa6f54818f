/*
 * api_groups.c -- the group membership APIs: JoinGroup (11), SyncGroup
 * (14), Heartbeat (12), LeaveGroup (13), ListGroups (16), DescribeGroups
 * (15) and DeleteGroups (42).
 *
 * Each handler runs on the groups thread (BR_ON_GROUPS): it decodes the
 * request with the generated codecs, turns its fields into C strings in the
 * request's arena and calls the coordinator (group.c), which owns the
 * logic. JoinGroup and SyncGroup may wait for a rebalance: the coordinator
 * answers them through br__join_group_answer()/br__sync_group_answer(),
 * which encode here, at once or later. The others answer at once, except
 * DeleteGroups, which answers once its tombstones are durable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"

/* "127.0.0.1:54321" -> "/127.0.0.1", as Kafka shows a client's host. */
static const char *client_host(br_request *req)
{
	const char *colon = strrchr(req->peer, ':');
	size_t len = colon ? (size_t)(colon - req->peer) : strlen(req->peer);
	char *h = kp_arena_alloc(&req->arena, len + 2);

	if (!h)
		return "";
	h[0] = '/';
	memcpy(h + 1, req->peer, len);
	h[len + 1] = '\0';
	return h;
}

/* What a handler returns after encoding its answer (rc from the encoder). */
static int encoded(br_request *req, int rc, const char *what)
{
	if (rc == 0)
		return BR_RESPOND;
	return br_request_fail(req, req->resp.err ? req->resp.err : KP_ERR_FIELD, what);
}

/* ------------------------------------------------------------ JoinGroup */

void br__join_group_answer(br_request *req, int16_t version, const br_join_result *r)
{
	kp_JoinGroupResponse resp;

	kp_JoinGroupResponse_init(&resp);
	resp.ErrorCode = br_request_note_error(req, r->error);
	resp.GenerationId = r->generation;
	resp.MemberId = br__kstr(&req->arena, r->member_id ? r->member_id : "");
	resp.Leader = br__kstr(&req->arena, r->leader ? r->leader : "");
	/* ProtocolName is nullable from v7 only; ProtocolType exists from v7. */
	if (version >= 7) {
		resp.ProtocolType = br__kstr(&req->arena, r->protocol_type);
		resp.ProtocolName = br__kstr(&req->arena, r->protocol_name);
	} else {
		resp.ProtocolName = br__kstr(&req->arena, r->protocol_name ? r->protocol_name : "");
	}
	resp.Members.count = (int32_t)r->n_members;
	resp.Members.items = kp_arena_calloc(&req->arena, r->n_members + 1, sizeof(*resp.Members.items));
	for (size_t i = 0; resp.Members.items && i < r->n_members; i++) {
		kp_JoinGroupResponse_JoinGroupResponseMember *m = &resp.Members.items[i];

		kp_JoinGroupResponse_JoinGroupResponseMember_init(m);
		m->MemberId = br__kstr(&req->arena, r->members[i].member_id);
		if (version >= 5)
			m->GroupInstanceId = br__kstr(&req->arena, r->members[i].instance_id);
		m->Metadata = (kp_bytes){ r->members[i].metadata, r->members[i].metadata_len };
		if (!m->Metadata.p) {
			m->Metadata.p = (const uint8_t *)"";
			m->Metadata.len = 0;
		}
	}
	if (!resp.Members.items)
		resp.Members.count = 0;
	kp_buf_reset(&req->resp);
	if (kp_JoinGroupResponse_encode(&req->resp, version, &resp) != 0) {
		/* Nothing a client can use: an error answer it can. */
		kp_JoinGroupResponse_init(&resp);
		resp.ErrorCode = br_request_note_error(req, KE_UNKNOWN_SERVER_ERROR);
		resp.MemberId = br__kstr(&req->arena, "");
		resp.Leader = resp.MemberId;
		resp.ProtocolName = version >= 7 ? KP_STR_NULL : resp.MemberId;
		kp_buf_reset(&req->resp);
		kp_JoinGroupResponse_encode(&req->resp, version, &resp);
		br__logf(ST_LOG_ERROR, "JoinGroup v%d answer to %s did not encode", version, req->peer);
	}
	br_request_return(req);
}

int br_handle_join_group(br_request *req)
{
	kp_JoinGroupRequest msg;
	br_join_args a;
	br_join_protocol *protos;
	int32_t n;
	int err;

	err = kp_JoinGroupRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed JoinGroup request");
	n = msg.Protocols.count > 0 ? msg.Protocols.count : 0;
	if (!(protos = kp_arena_calloc(&req->arena, (size_t)n + 1, sizeof(*protos))))
		return br_request_fail(req, -ENOMEM, "out of memory for a JoinGroup request");
	for (int32_t i = 0; i < n; i++) {
		protos[i].name = br__cstr_empty(&req->arena, msg.Protocols.items[i].Name);
		protos[i].metadata = msg.Protocols.items[i].Metadata.p;
		protos[i].metadata_len = msg.Protocols.items[i].Metadata.len;
	}
	memset(&a, 0, sizeof(a));
	a.version = req->api_version;
	a.group_id = br__cstr_empty(&req->arena, msg.GroupId);
	a.member_id = br__cstr_empty(&req->arena, msg.MemberId);
	a.instance_id = br__cstr(&req->arena, msg.GroupInstanceId);
	a.client_id = br__cstr_empty(&req->arena, req->client_id);
	a.client_host = client_host(req);
	a.session_timeout_ms = msg.SessionTimeoutMs;
	/* v0 has no rebalance timeout: Kafka uses the session timeout. */
	a.rebalance_timeout_ms = req->api_version >= 1 ? msg.RebalanceTimeoutMs : msg.SessionTimeoutMs;
	a.protocol_type = br__cstr_empty(&req->arena, msg.ProtocolType);
	a.protocols = protos;
	a.n_protocols = (size_t)n;
	br_group_join(req->broker->groups, req, &a);
	return BR_PARKED;
}

/* ------------------------------------------------------------ SyncGroup */

void br__sync_group_answer(br_request *req, int16_t error, const char *protocol_type,
			   const char *protocol_name, const uint8_t *assignment, int32_t len)
{
	kp_SyncGroupResponse resp;

	kp_SyncGroupResponse_init(&resp);
	resp.ErrorCode = br_request_note_error(req, error);
	if (req->api_version >= 5) {
		resp.ProtocolType = br__kstr(&req->arena, protocol_type);
		resp.ProtocolName = br__kstr(&req->arena, protocol_name);
	}
	resp.Assignment = (kp_bytes){ assignment ? assignment : (const uint8_t *)"",
				      assignment ? len : 0 };
	kp_buf_reset(&req->resp);
	if (kp_SyncGroupResponse_encode(&req->resp, req->api_version, &resp) != 0)
		br__logf(ST_LOG_ERROR, "SyncGroup v%d answer to %s did not encode", req->api_version,
			 req->peer);
	br_request_return(req);
}

int br_handle_sync_group(br_request *req)
{
	kp_SyncGroupRequest msg;
	br_sync_args a;
	br_sync_assignment *asg;
	int32_t n;
	int err;

	err = kp_SyncGroupRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed SyncGroup request");
	n = msg.Assignments.count > 0 ? msg.Assignments.count : 0;
	if (!(asg = kp_arena_calloc(&req->arena, (size_t)n + 1, sizeof(*asg))))
		return br_request_fail(req, -ENOMEM, "out of memory for a SyncGroup request");
	for (int32_t i = 0; i < n; i++) {
		asg[i].member_id = br__cstr_empty(&req->arena, msg.Assignments.items[i].MemberId);
		asg[i].data = msg.Assignments.items[i].Assignment.p;
		asg[i].len = msg.Assignments.items[i].Assignment.len;
	}
	memset(&a, 0, sizeof(a));
	a.group_id = br__cstr_empty(&req->arena, msg.GroupId);
	a.member_id = br__cstr_empty(&req->arena, msg.MemberId);
	a.instance_id = br__cstr(&req->arena, msg.GroupInstanceId);
	a.generation = msg.GenerationId;
	a.protocol_type = req->api_version >= 5 ? br__cstr(&req->arena, msg.ProtocolType) : NULL;
	a.protocol_name = req->api_version >= 5 ? br__cstr(&req->arena, msg.ProtocolName) : NULL;
	a.assignments = asg;
	a.n_assignments = (size_t)n;
	br_group_sync(req->broker->groups, req, &a);
	return BR_PARKED;
}

/* ------------------------------------------------------ Heartbeat, Leave */

int br_handle_heartbeat(br_request *req)
{
	kp_HeartbeatRequest msg;
	kp_HeartbeatResponse resp;
	int err;

	err = kp_HeartbeatRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed Heartbeat request");
	kp_HeartbeatResponse_init(&resp);
	resp.ErrorCode = br_request_note_error(
		req, br_group_heartbeat(req->broker->groups, br__cstr_empty(&req->arena, msg.GroupId),
					br__cstr_empty(&req->arena, msg.MemberId),
					br__cstr(&req->arena, msg.GroupInstanceId), msg.GenerationId));
	return encoded(req, kp_HeartbeatResponse_encode(&req->resp, req->api_version, &resp),
		       "HeartbeatResponse encoding");
}

int br_handle_leave_group(br_request *req)
{
	kp_LeaveGroupRequest msg;
	kp_LeaveGroupResponse resp;
	const char *group;
	int err;

	err = kp_LeaveGroupRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed LeaveGroup request");
	kp_LeaveGroupResponse_init(&resp);
	group = br__cstr_empty(&req->arena, msg.GroupId);
	if (req->api_version < 3) {
		resp.ErrorCode = br_request_note_error(
			req, br_group_leave(req->broker->groups, group, br__cstr_empty(&req->arena, msg.MemberId), NULL));
		return encoded(req, kp_LeaveGroupResponse_encode(&req->resp, req->api_version, &resp),
		       "LeaveGroupResponse encoding");
	}
	/* v3+: a batch of members (KIP-345), each answered on its own. */
	resp.Members.count = msg.Members.count > 0 ? msg.Members.count : 0;
	resp.Members.items = kp_arena_calloc(&req->arena, (size_t)resp.Members.count + 1,
					     sizeof(*resp.Members.items));
	if (!resp.Members.items)
		return br_request_fail(req, -ENOMEM, "out of memory for a LeaveGroup response");
	for (int32_t i = 0; i < resp.Members.count; i++) {
		const kp_LeaveGroupRequest_MemberIdentity *in = &msg.Members.items[i];
		kp_LeaveGroupResponse_MemberResponse *o = &resp.Members.items[i];

		kp_LeaveGroupResponse_MemberResponse_init(o);
		o->MemberId = in->MemberId;
		o->GroupInstanceId = in->GroupInstanceId;
		o->ErrorCode = br_request_note_error(
			req, br_group_leave(req->broker->groups, group, br__cstr_empty(&req->arena, in->MemberId),
					    br__cstr(&req->arena, in->GroupInstanceId)));
	}
	return encoded(req, kp_LeaveGroupResponse_encode(&req->resp, req->api_version, &resp),
		       "LeaveGroupResponse encoding");
}

/* ------------------------------------------------------------ ListGroups */

struct list_ctx {
	br_request *req;
	const kp_ListGroupsRequest *msg;
	kp_ListGroupsResponse_ListedGroup *v;
	int32_t n, cap;
	bool oom;
};

static bool in_filter(int32_t count, const kp_str *items, const char *s)
{
	if (count <= 0)
		return true;
	for (int32_t i = 0; i < count; i++)
		if (items[i].len >= 0 && (size_t)items[i].len == strlen(s) &&
		    strncasecmp((const char *)items[i].p, s, (size_t)items[i].len) == 0)
			return true;
	return false;
}

static void list_one(void *arg, const char *group_id, const char *protocol_type, const char *state)
{
	struct list_ctx *c = arg;
	kp_ListGroupsResponse_ListedGroup *g;

	if (c->oom)
		return;
	if (!in_filter(c->msg->StatesFilter.count, c->msg->StatesFilter.items, state))
		return;
	/* Every group here is of the classic protocol. */
	if (!in_filter(c->msg->TypesFilter.count, c->msg->TypesFilter.items, "classic"))
		return;
	if (c->n == c->cap) {
		int32_t cap = c->cap ? c->cap * 2 : 16;
		kp_ListGroupsResponse_ListedGroup *v =
			kp_arena_calloc(&c->req->arena, (size_t)cap, sizeof(*v));

		if (!v) {
			c->oom = true;
			return;
		}
		if (c->n)
			memcpy(v, c->v, (size_t)c->n * sizeof(*v));
		c->v = v;
		c->cap = cap;
	}
	g = &c->v[c->n++];
	kp_ListGroupsResponse_ListedGroup_init(g);
	g->GroupId = br__kstr(&c->req->arena, group_id);
	g->ProtocolType = br__kstr(&c->req->arena, protocol_type);
	if (c->req->api_version >= 4)
		g->GroupState = br__kstr(&c->req->arena, state);
	if (c->req->api_version >= 5)
		g->GroupType = br__kstr(&c->req->arena, "classic");
}

int br_handle_list_groups(br_request *req)
{
	kp_ListGroupsRequest msg;
	kp_ListGroupsResponse resp;
	struct list_ctx c = { .req = req, .msg = &msg };
	int err;

	err = kp_ListGroupsRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed ListGroups request");
	br_groups_list(req->broker->groups, list_one, &c);
	if (c.oom)
		return br_request_fail(req, -ENOMEM, "out of memory for a ListGroups response");
	kp_ListGroupsResponse_init(&resp);
	resp.Groups.count = c.n;
	resp.Groups.items = c.v;
	return encoded(req, kp_ListGroupsResponse_encode(&req->resp, req->api_version, &resp),
		       "ListGroupsResponse encoding");
}

/* -------------------------------------------------------- DescribeGroups */

int br_handle_describe_groups(br_request *req)
{
	kp_DescribeGroupsRequest msg;
	kp_DescribeGroupsResponse resp;
	int err;

	err = kp_DescribeGroupsRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed DescribeGroups request");
	kp_DescribeGroupsResponse_init(&resp);
	resp.Groups.count = msg.Groups.count > 0 ? msg.Groups.count : 0;
	resp.Groups.items = kp_arena_calloc(&req->arena, (size_t)resp.Groups.count + 1,
					    sizeof(*resp.Groups.items));
	if (!resp.Groups.items)
		return br_request_fail(req, -ENOMEM, "out of memory for a DescribeGroups response");
	for (int32_t i = 0; i < resp.Groups.count; i++) {
		kp_DescribeGroupsResponse_DescribedGroup *o = &resp.Groups.items[i];
		br_group_info info;

		kp_DescribeGroupsResponse_DescribedGroup_init(o);
		o->GroupId = msg.Groups.items[i];
		o->ErrorCode = br_request_note_error(
			req, br_group_describe(req->broker->groups, br__cstr_empty(&req->arena, msg.Groups.items[i]),
					       &req->arena, &info));
		o->GroupState = br__kstr(&req->arena, info.state ? info.state : "Dead");
		o->ProtocolType = br__kstr(&req->arena, info.protocol_type ? info.protocol_type : "");
		o->ProtocolData = br__kstr(&req->arena, info.protocol_name ? info.protocol_name : "");
		o->Members.count = (int32_t)info.n_members;
		o->Members.items = kp_arena_calloc(&req->arena, info.n_members + 1,
						   sizeof(*o->Members.items));
		if (!o->Members.items)
			return br_request_fail(req, -ENOMEM, "out of memory for a DescribeGroups response");
		for (size_t k = 0; k < info.n_members; k++) {
			const br_group_member_info *mi = &info.members[k];
			kp_DescribeGroupsResponse_DescribedGroupMember *m = &o->Members.items[k];

			kp_DescribeGroupsResponse_DescribedGroupMember_init(m);
			m->MemberId = br__kstr(&req->arena, mi->member_id);
			if (req->api_version >= 4)
				m->GroupInstanceId = br__kstr(&req->arena, mi->instance_id);
			m->ClientId = br__kstr(&req->arena, mi->client_id);
			m->ClientHost = br__kstr(&req->arena, mi->client_host);
			m->MemberMetadata = (kp_bytes){ mi->metadata ? mi->metadata : (const uint8_t *)"",
							mi->metadata ? mi->metadata_len : 0 };
			m->MemberAssignment = (kp_bytes){
				mi->assignment ? mi->assignment : (const uint8_t *)"",
				mi->assignment ? mi->assignment_len : 0 };
		}
		/* Authorization is not implemented: every operation is allowed,
		 * and Kafka's "not requested" value stays unless asked. */
		if (req->api_version >= 3 && msg.IncludeAuthorizedOperations)
			o->AuthorizedOperations = (1 << 3) | (1 << 6) | (1 << 8); /* READ DELETE DESCRIBE */
	}
	return encoded(req, kp_DescribeGroupsResponse_encode(&req->resp, req->api_version, &resp),
		       "DescribeGroupsResponse encoding");
}

/* ---------------------------------------------------------- DeleteGroups */

/* A DeleteGroups waiting for its tombstones. */
struct delete_groups {
	br_request *req;
	kp_DeleteGroupsResponse resp;
	int32_t waiting;              /* groups whose tombstones are in flight */
};

static void delete_groups_finish(struct delete_groups *d)
{
	br_request *req = d->req;

	if (kp_DeleteGroupsResponse_encode(&req->resp, req->api_version, &d->resp) != 0)
		br__logf(ST_LOG_ERROR, "DeleteGroups v%d answer to %s did not encode",
			 req->api_version, req->peer);
	br_request_return(req);
}

struct delete_one {
	struct delete_groups *d;
	int32_t index;
};

static void delete_one_done(void *arg, int err)
{
	struct delete_one *o = arg;
	struct delete_groups *d = o->d;

	if (err)
		d->resp.Results.items[o->index].ErrorCode =
			br_request_note_error(d->req, KE_COORDINATOR_NOT_AVAILABLE);
	if (--d->waiting == 0)
		delete_groups_finish(d);
}

int br_handle_delete_groups(br_request *req)
{
	kp_DeleteGroupsRequest msg;
	struct delete_groups *d;
	struct delete_one *ones;
	int32_t n;
	int err;

	err = kp_DeleteGroupsRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed DeleteGroups request");
	n = msg.GroupsNames.count > 0 ? msg.GroupsNames.count : 0;
	d = kp_arena_calloc(&req->arena, 1, sizeof(*d));
	ones = kp_arena_calloc(&req->arena, (size_t)n + 1, sizeof(*ones));
	if (!d || !ones)
		return br_request_fail(req, -ENOMEM, "out of memory for a DeleteGroups request");
	d->req = req;
	kp_DeleteGroupsResponse_init(&d->resp);
	d->resp.Results.count = n;
	d->resp.Results.items = kp_arena_calloc(&req->arena, (size_t)n + 1,
						sizeof(*d->resp.Results.items));
	if (!d->resp.Results.items)
		return br_request_fail(req, -ENOMEM, "out of memory for a DeleteGroups response");
	/* One extra count keeps the answer from going out before the loop
	 * has started every deletion. */
	d->waiting = 1;
	for (int32_t i = 0; i < n; i++) {
		kp_DeleteGroupsResponse_DeletableGroupResult *r = &d->resp.Results.items[i];
		int rc;

		kp_DeleteGroupsResponse_DeletableGroupResult_init(r);
		r->GroupId = msg.GroupsNames.items[i];
		ones[i].d = d;
		ones[i].index = i;
		d->waiting++;
		rc = br_group_delete(req->broker->groups, br__cstr_empty(&req->arena, msg.GroupsNames.items[i]),
				     delete_one_done, &ones[i]);
		if (rc != BR_GROUP_PENDING) {
			d->waiting--;
			r->ErrorCode = br_request_note_error(req, (int16_t)rc);
		}
	}
	if (--d->waiting == 0)
		delete_groups_finish(d);
	return BR_PARKED;
}
