/*
 * api_offsets.c -- committed offsets: OffsetCommit (8), OffsetFetch (9)
 * and OffsetDelete (47).
 *
 * Handlers run on the groups thread (BR_ON_GROUPS). OffsetCommit and
 * OffsetDelete answer once their __consumer_offsets records are durable
 * (group.c's done callback), so an acknowledged commit survives a crash;
 * OffsetFetch answers at once from memory, which only ever holds durable
 * commits.
 *
 * Versions: OffsetCommit v0-v8 (v0 is stored like the others, not in
 * ZooKeeper; v1's per-partition CommitTimestamp and v2-v4's RetentionTimeMs
 * set an explicit expiry, as Kafka keeps them), OffsetFetch v0-v8 (v8 asks
 * for several groups at once; a null topic list asks for every committed
 * offset of the group), OffsetDelete v0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"

/* --------------------------------------------------------- OffsetCommit */

/* A commit waiting for its records: the response is filled when they are
 * durable. */
struct commit_req {
	br_request *req;
	kp_OffsetCommitResponse resp;
	br_commit *commits;
	size_t n;
};

static int commit_encode(br_request *req, kp_OffsetCommitResponse *resp)
{
	return kp_OffsetCommitResponse_encode(&req->resp, req->api_version, resp);
}

/* Copies each commit's error into its response partition, in order. */
static void commit_fill(struct commit_req *c)
{
	size_t k = 0;

	for (int32_t t = 0; t < c->resp.Topics.count; t++) {
		kp_OffsetCommitResponse_OffsetCommitResponseTopic *rt = &c->resp.Topics.items[t];

		for (int32_t p = 0; p < rt->Partitions.count && k < c->n; p++, k++)
			rt->Partitions.items[p].ErrorCode =
				br_request_note_error(c->req, c->commits[k].error);
	}
}

static void commit_done(void *arg, int err)
{
	struct commit_req *c = arg;

	(void)err;                    /* each commit's error says it */
	commit_fill(c);
	if (commit_encode(c->req, &c->resp) != 0)
		br__logf(ST_LOG_ERROR, "OffsetCommit v%d answer to %s did not encode",
			 c->req->api_version, c->req->peer);
	br_request_return(c->req);
}

int br_handle_offset_commit(br_request *req)
{
	kp_OffsetCommitRequest msg;
	struct commit_req *c;
	br_commit_args a;
	size_t n = 0, k = 0;
	int64_t now = br__wall_ms();
	int rc, err;

	err = kp_OffsetCommitRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed OffsetCommit request");
	for (int32_t t = 0; t < msg.Topics.count; t++)
		n += msg.Topics.items[t].Partitions.count > 0 ? (size_t)msg.Topics.items[t].Partitions.count : 0;
	c = kp_arena_calloc(&req->arena, 1, sizeof(*c));
	if (!c || !(c->commits = kp_arena_calloc(&req->arena, n + 1, sizeof(*c->commits))))
		return br_request_fail(req, -ENOMEM, "out of memory for an OffsetCommit request");
	c->req = req;
	c->n = n;
	kp_OffsetCommitResponse_init(&c->resp);
	c->resp.Topics.count = msg.Topics.count > 0 ? msg.Topics.count : 0;
	c->resp.Topics.items = kp_arena_calloc(&req->arena, (size_t)c->resp.Topics.count + 1,
					       sizeof(*c->resp.Topics.items));
	if (!c->resp.Topics.items)
		return br_request_fail(req, -ENOMEM, "out of memory for an OffsetCommit response");
	for (int32_t t = 0; t < c->resp.Topics.count; t++) {
		const kp_OffsetCommitRequest_OffsetCommitRequestTopic *in = &msg.Topics.items[t];
		kp_OffsetCommitResponse_OffsetCommitResponseTopic *rt = &c->resp.Topics.items[t];
		int32_t np = in->Partitions.count > 0 ? in->Partitions.count : 0;
		const char *topic = br__cstr_empty(&req->arena, in->Name);

		kp_OffsetCommitResponse_OffsetCommitResponseTopic_init(rt);
		rt->Name = in->Name;
		rt->Partitions.count = np;
		rt->Partitions.items = kp_arena_calloc(&req->arena, (size_t)np + 1,
						       sizeof(*rt->Partitions.items));
		if (!rt->Partitions.items)
			return br_request_fail(req, -ENOMEM, "out of memory for an OffsetCommit response");
		for (int32_t p = 0; p < np; p++, k++) {
			const kp_OffsetCommitRequest_OffsetCommitRequestPartition *ip =
				&in->Partitions.items[p];
			br_commit *cm = &c->commits[k];

			kp_OffsetCommitResponse_OffsetCommitResponsePartition_init(&rt->Partitions.items[p]);
			rt->Partitions.items[p].PartitionIndex = ip->PartitionIndex;
			cm->topic = topic;
			cm->topic_len = strlen(topic);
			cm->partition = ip->PartitionIndex;
			cm->value.offset = ip->CommittedOffset;
			cm->value.leader_epoch = req->api_version >= 6 ? ip->CommittedLeaderEpoch : -1;
			cm->value.metadata = ip->CommittedMetadata.len < 0 ? "" : br__cstr_empty(&req->arena, ip->CommittedMetadata);
			cm->value.commit_ts = now;
			cm->value.expire_ts = -1;
			if (req->api_version == 1 && ip->CommitTimestamp >= 0)
				cm->value.expire_ts = ip->CommitTimestamp +
						      req->broker->cfg.offsets_retention_ms;
			if (req->api_version >= 2 && req->api_version <= 4 && msg.RetentionTimeMs >= 0)
				cm->value.expire_ts = now + msg.RetentionTimeMs;
			if (!topic[0])
				cm->error = KE_UNKNOWN_TOPIC_OR_PARTITION;
		}
	}
	memset(&a, 0, sizeof(a));
	a.group_id = br__cstr_empty(&req->arena, msg.GroupId);
	a.member_id = req->api_version >= 1 ? br__cstr_empty(&req->arena, msg.MemberId) : "";
	a.instance_id = req->api_version >= 7 && msg.GroupInstanceId.len >= 0
				? br__cstr_empty(&req->arena, msg.GroupInstanceId) : NULL;
	a.generation = req->api_version >= 1 ? msg.GenerationIdOrMemberEpoch : -1;
	rc = br_group_commit(req->broker->groups, &a, c->commits, n, commit_done, c);
	if (rc == BR_GROUP_PENDING)
		return BR_PARKED;
	/* Answered now: one error for every partition, or their own. */
	for (size_t i = 0; i < n; i++)
		if (rc != KE_NONE)
			c->commits[i].error = (int16_t)rc;
	commit_fill(c);
	if (commit_encode(req, &c->resp) != 0)
		return br_request_fail(req, req->resp.err ? req->resp.err : KP_ERR_FIELD,
				       "OffsetCommit response encoding");
	return BR_RESPOND;
}

/* ---------------------------------------------------------- OffsetFetch */

/* One partition's answer; the v0-7 and v8 partition structs differ in
 * name only, so both are filled through this. */
struct fetched {
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;
	kp_str metadata;
};

static struct fetched fetch_one(br_request *req, const char *group, const char *topic, size_t tlen,
				int32_t partition)
{
	br_offset_value v;
	struct fetched f = { partition, -1, -1, { (const uint8_t *)"", 0 } };

	if (br_group_offset_fetch(req->broker->groups, group, topic, tlen, partition, &v) == 0) {
		f.offset = v.offset;
		f.leader_epoch = v.leader_epoch;
		f.metadata = br__kstr(&req->arena, v.metadata);
	}
	return f;
}

/* Every committed offset of a group, grouped by topic (a null topic list). */
struct all_offsets {
	br_request *req;
	struct all_topic {
		const char *name;
		size_t len;
		struct fetched *parts;
		int32_t n, cap;
	} *topics;
	int32_t n, cap;
	bool oom;
};

static void collect_offset(void *arg, const char *topic, size_t tlen, int32_t partition,
			   const br_offset_value *v)
{
	struct all_offsets *all = arg;
	struct all_topic *t = NULL;

	if (all->oom)
		return;
	for (int32_t i = 0; i < all->n && !t; i++)
		if (all->topics[i].len == tlen && memcmp(all->topics[i].name, topic, tlen) == 0)
			t = &all->topics[i];
	if (!t) {
		if (all->n == all->cap) {
			int32_t cap = all->cap ? all->cap * 2 : 8;
			struct all_topic *nt = kp_arena_calloc(&all->req->arena, (size_t)cap, sizeof(*nt));

			if (!nt) {
				all->oom = true;
				return;
			}
			if (all->n)
				memcpy(nt, all->topics, (size_t)all->n * sizeof(*nt));
			all->topics = nt;
			all->cap = cap;
		}
		t = &all->topics[all->n++];
		memset(t, 0, sizeof(*t));
		t->name = br__cstr(&all->req->arena, (kp_str){ (const uint8_t *)topic, (int32_t)tlen });
		t->len = tlen;
		if (!t->name) {
			all->oom = true;
			return;
		}
	}
	if (t->n == t->cap) {
		int32_t cap = t->cap ? t->cap * 2 : 8;
		struct fetched *np = kp_arena_calloc(&all->req->arena, (size_t)cap, sizeof(*np));

		if (!np) {
			all->oom = true;
			return;
		}
		if (t->n)
			memcpy(np, t->parts, (size_t)t->n * sizeof(*np));
		t->parts = np;
		t->cap = cap;
	}
	t->parts[t->n++] = (struct fetched){ partition, v->offset, v->leader_epoch,
					     br__kstr(&all->req->arena, v->metadata) };
}

/* The answer for one group: topics[] (asked for, or all when null) with
 * their partitions, as a list the two response shapes are built from. */
static int fetch_group(br_request *req, const char *group, int32_t n_topics, const kp_str *names,
		       const int32_t *const *parts, const int32_t *n_parts, struct all_offsets *out)
{
	memset(out, 0, sizeof(*out));
	out->req = req;
	if (n_topics < 0) {
		br_group_offsets_foreach(req->broker->groups, group, collect_offset, out);
		return out->oom ? -ENOMEM : 0;
	}
	out->topics = kp_arena_calloc(&req->arena, (size_t)n_topics + 1, sizeof(*out->topics));
	if (!out->topics)
		return -ENOMEM;
	out->n = n_topics;
	for (int32_t t = 0; t < n_topics; t++) {
		struct all_topic *at = &out->topics[t];
		int32_t np = n_parts[t] > 0 ? n_parts[t] : 0;

		at->name = br__cstr_empty(&req->arena, names[t]);
		at->len = strlen(at->name);
		at->n = np;
		if (!(at->parts = kp_arena_calloc(&req->arena, (size_t)np + 1, sizeof(*at->parts))))
			return -ENOMEM;
		for (int32_t p = 0; p < np; p++)
			at->parts[p] = fetch_one(req, group, at->name, at->len, parts[t][p]);
	}
	return 0;
}

int br_handle_offset_fetch(br_request *req)
{
	kp_OffsetFetchRequest msg;
	kp_OffsetFetchResponse resp;
	int16_t v = req->api_version;
	int err;

	err = kp_OffsetFetchRequest_decode(&req->body, v, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed OffsetFetch request");
	kp_OffsetFetchResponse_init(&resp);
	if (v < 8) {
		int32_t nt = msg.Topics.count;
		kp_str *names = kp_arena_calloc(&req->arena, (size_t)(nt > 0 ? nt : 0) + 1, sizeof(*names));
		const int32_t **parts = kp_arena_calloc(&req->arena, (size_t)(nt > 0 ? nt : 0) + 1,
							sizeof(*parts));
		int32_t *np = kp_arena_calloc(&req->arena, (size_t)(nt > 0 ? nt : 0) + 1, sizeof(*np));
		struct all_offsets all;

		if (!names || !parts || !np)
			return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch request");
		for (int32_t t = 0; t < nt; t++) {
			names[t] = msg.Topics.items[t].Name;
			parts[t] = msg.Topics.items[t].PartitionIndexes.items;
			np[t] = msg.Topics.items[t].PartitionIndexes.count;
		}
		if (fetch_group(req, br__cstr_empty(&req->arena, msg.GroupId), nt, names, parts, np, &all) < 0)
			return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch response");
		resp.Topics.count = all.n;
		resp.Topics.items = kp_arena_calloc(&req->arena, (size_t)all.n + 1,
						    sizeof(*resp.Topics.items));
		if (!resp.Topics.items)
			return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch response");
		for (int32_t t = 0; t < all.n; t++) {
			kp_OffsetFetchResponse_OffsetFetchResponseTopic *rt = &resp.Topics.items[t];

			kp_OffsetFetchResponse_OffsetFetchResponseTopic_init(rt);
			rt->Name = (kp_str){ (const uint8_t *)all.topics[t].name, (int32_t)all.topics[t].len };
			rt->Partitions.count = all.topics[t].n;
			rt->Partitions.items = kp_arena_calloc(&req->arena, (size_t)all.topics[t].n + 1,
							       sizeof(*rt->Partitions.items));
			if (!rt->Partitions.items)
				return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch response");
			for (int32_t p = 0; p < all.topics[t].n; p++) {
				kp_OffsetFetchResponse_OffsetFetchResponsePartition *o = &rt->Partitions.items[p];
				const struct fetched *f = &all.topics[t].parts[p];

				kp_OffsetFetchResponse_OffsetFetchResponsePartition_init(o);
				o->PartitionIndex = f->partition;
				o->CommittedOffset = f->offset;
				if (v >= 5)
					o->CommittedLeaderEpoch = f->leader_epoch;
				o->Metadata = f->metadata;
			}
		}
		return kp_OffsetFetchResponse_encode(&req->resp, v, &resp) == 0
			       ? BR_RESPOND
			       : br_request_fail(req, KP_ERR_FIELD, "OffsetFetch response encoding");
	}

	/* v8+: several groups. */
	resp.Groups.count = msg.Groups.count > 0 ? msg.Groups.count : 0;
	resp.Groups.items = kp_arena_calloc(&req->arena, (size_t)resp.Groups.count + 1,
					    sizeof(*resp.Groups.items));
	if (!resp.Groups.items)
		return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch response");
	for (int32_t g = 0; g < resp.Groups.count; g++) {
		const kp_OffsetFetchRequest_OffsetFetchRequestGroup *ig = &msg.Groups.items[g];
		kp_OffsetFetchResponse_OffsetFetchResponseGroup *og = &resp.Groups.items[g];
		int32_t nt = ig->Topics.count;
		size_t cnt = (size_t)(nt > 0 ? nt : 0) + 1;
		kp_str *names = kp_arena_calloc(&req->arena, cnt, sizeof(*names));
		const int32_t **parts = kp_arena_calloc(&req->arena, cnt, sizeof(*parts));
		int32_t *np = kp_arena_calloc(&req->arena, cnt, sizeof(*np));
		struct all_offsets all;

		if (!names || !parts || !np)
			return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch request");
		for (int32_t t = 0; t < nt; t++) {
			names[t] = ig->Topics.items[t].Name;
			parts[t] = ig->Topics.items[t].PartitionIndexes.items;
			np[t] = ig->Topics.items[t].PartitionIndexes.count;
		}
		if (fetch_group(req, br__cstr_empty(&req->arena, ig->GroupId), nt, names, parts, np, &all) < 0)
			return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch response");
		kp_OffsetFetchResponse_OffsetFetchResponseGroup_init(og);
		og->GroupId = ig->GroupId;
		og->Topics.count = all.n;
		og->Topics.items = kp_arena_calloc(&req->arena, (size_t)all.n + 1, sizeof(*og->Topics.items));
		if (!og->Topics.items)
			return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch response");
		for (int32_t t = 0; t < all.n; t++) {
			kp_OffsetFetchResponse_OffsetFetchResponseTopics *rt = &og->Topics.items[t];

			kp_OffsetFetchResponse_OffsetFetchResponseTopics_init(rt);
			rt->Name = (kp_str){ (const uint8_t *)all.topics[t].name, (int32_t)all.topics[t].len };
			rt->Partitions.count = all.topics[t].n;
			rt->Partitions.items = kp_arena_calloc(&req->arena, (size_t)all.topics[t].n + 1,
							       sizeof(*rt->Partitions.items));
			if (!rt->Partitions.items)
				return br_request_fail(req, -ENOMEM, "out of memory for an OffsetFetch response");
			for (int32_t p = 0; p < all.topics[t].n; p++) {
				kp_OffsetFetchResponse_OffsetFetchResponsePartitions *o = &rt->Partitions.items[p];
				const struct fetched *f = &all.topics[t].parts[p];

				kp_OffsetFetchResponse_OffsetFetchResponsePartitions_init(o);
				o->PartitionIndex = f->partition;
				o->CommittedOffset = f->offset;
				o->CommittedLeaderEpoch = f->leader_epoch;
				o->Metadata = f->metadata;
			}
		}
	}
	return kp_OffsetFetchResponse_encode(&req->resp, v, &resp) == 0
		       ? BR_RESPOND
		       : br_request_fail(req, KP_ERR_FIELD, "OffsetFetch response encoding");
}

/* --------------------------------------------------------- OffsetDelete */

struct delete_req {
	br_request *req;
	kp_OffsetDeleteResponse resp;
	br_commit *commits;
	size_t n;
};

static void offset_delete_fill(struct delete_req *d)
{
	size_t k = 0;

	for (int32_t t = 0; t < d->resp.Topics.count; t++) {
		kp_OffsetDeleteResponse_OffsetDeleteResponseTopic *rt = &d->resp.Topics.items[t];

		for (int32_t p = 0; p < rt->Partitions.count && k < d->n; p++, k++)
			rt->Partitions.items[p].ErrorCode =
				br_request_note_error(d->req, d->commits[k].error);
	}
}

static void offset_delete_done(void *arg, int err)
{
	struct delete_req *d = arg;

	(void)err;
	offset_delete_fill(d);
	if (kp_OffsetDeleteResponse_encode(&d->req->resp, d->req->api_version, &d->resp) != 0)
		br__logf(ST_LOG_ERROR, "OffsetDelete answer to %s did not encode", d->req->peer);
	br_request_return(d->req);
}

int br_handle_offset_delete(br_request *req)
{
	kp_OffsetDeleteRequest msg;
	struct delete_req *d;
	const char *group;
	size_t n = 0, k = 0;
	int16_t top = KE_NONE;
	int err;

	err = kp_OffsetDeleteRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed OffsetDelete request");
	group = br__cstr_empty(&req->arena, msg.GroupId);
	for (int32_t t = 0; t < msg.Topics.count; t++)
		n += msg.Topics.items[t].Partitions.count > 0 ? (size_t)msg.Topics.items[t].Partitions.count : 0;
	d = kp_arena_calloc(&req->arena, 1, sizeof(*d));
	if (!d || !(d->commits = kp_arena_calloc(&req->arena, n + 1, sizeof(*d->commits))))
		return br_request_fail(req, -ENOMEM, "out of memory for an OffsetDelete request");
	d->req = req;
	d->n = n;
	kp_OffsetDeleteResponse_init(&d->resp);
	d->resp.Topics.count = msg.Topics.count > 0 ? msg.Topics.count : 0;
	d->resp.Topics.items = kp_arena_calloc(&req->arena, (size_t)d->resp.Topics.count + 1,
					       sizeof(*d->resp.Topics.items));
	if (!d->resp.Topics.items)
		return br_request_fail(req, -ENOMEM, "out of memory for an OffsetDelete response");
	for (int32_t t = 0; t < d->resp.Topics.count; t++) {
		const kp_OffsetDeleteRequest_OffsetDeleteRequestTopic *in = &msg.Topics.items[t];
		kp_OffsetDeleteResponse_OffsetDeleteResponseTopic *rt = &d->resp.Topics.items[t];
		int32_t np = in->Partitions.count > 0 ? in->Partitions.count : 0;
		const char *topic = br__cstr_empty(&req->arena, in->Name);
		int16_t check = br_group_offset_delete_check(req->broker->groups, group, topic,
							     strlen(topic));

		if (check == KE_GROUP_ID_NOT_FOUND || check == KE_NOT_COORDINATOR)
			top = check;
		kp_OffsetDeleteResponse_OffsetDeleteResponseTopic_init(rt);
		rt->Name = in->Name;
		rt->Partitions.count = np;
		rt->Partitions.items = kp_arena_calloc(&req->arena, (size_t)np + 1,
						       sizeof(*rt->Partitions.items));
		if (!rt->Partitions.items)
			return br_request_fail(req, -ENOMEM, "out of memory for an OffsetDelete response");
		for (int32_t p = 0; p < np; p++, k++) {
			br_commit *c = &d->commits[k];

			kp_OffsetDeleteResponse_OffsetDeleteResponsePartition_init(&rt->Partitions.items[p]);
			rt->Partitions.items[p].PartitionIndex = in->Partitions.items[p].PartitionIndex;
			c->topic = topic;
			c->topic_len = strlen(topic);
			c->partition = in->Partitions.items[p].PartitionIndex;
			/* A partition without a committed offset gets a
			 * tombstone too: harmless, and it answers NONE as
			 * Kafka does. */
			c->error = check;
		}
	}
	if (top != KE_NONE) {
		d->resp.ErrorCode = br_request_note_error(req, top);
		for (int32_t t = 0; t < d->resp.Topics.count; t++)
			d->resp.Topics.items[t].Partitions.count = 0;
		goto answer;
	}
	for (size_t i = 0; i < n; i++)
		if (d->commits[i].error == KE_NONE)
			goto store;
	goto answer_fill;
store:
	err = br_group_offsets_delete(req->broker->groups, group, d->commits, n, offset_delete_done, d);
	if (err == 0)
		return BR_PARKED;
	if (err != -ENODATA)
		for (size_t i = 0; i < n; i++)
			d->commits[i].error = KE_COORDINATOR_NOT_AVAILABLE;
answer_fill:
	offset_delete_fill(d);
answer:
	if (kp_OffsetDeleteResponse_encode(&req->resp, req->api_version, &d->resp) != 0)
		return br_request_fail(req, KP_ERR_FIELD, "OffsetDelete response encoding");
	return BR_RESPOND;
}
