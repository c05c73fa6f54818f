/*
 * api_admin.c -- CreateTopics (v0-v7), DeleteTopics (v0-v6) and
 * CreatePartitions (v0-v3).
 *
 * The handlers check what only the request can say wrong (duplicates,
 * replication factors and replica assignments a single node cannot honour,
 * both a partition count and an assignment) and leave the rest to the
 * registry (topics.c), which answers with a Kafka error code and message.
 * Each topic of a request succeeds or fails on its own, as in Kafka.
 *
 * A single node has one broker, so the only assignment it can honour puts
 * every partition on this node alone: replication factor 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"

static bool str_eq(kp_str a, kp_str b)
{
	return a.len == b.len && (a.len <= 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

/* True when an assignment names this node alone. */
static bool only_us(int32_t node, int32_t count, const int32_t *ids)
{
	return count == 1 && ids[0] == node;
}

/* ============================================================ CreateTopics */

/* The v5+ extras of a created topic: partitions, factor, its configs. */
static void created_fill(br_request *req, br_topic *topic,
			 kp_CreateTopicsResponse_CreatableTopicResult *r)
{
	br_config_entry e[BR_TOPIC_CONFIG_KEYS];
	kp_CreateTopicsResponse_CreatableTopicConfigs *c;

	memcpy(r->TopicId.b, topic->id, 16);
	r->NumPartitions = topic->n_parts;
	r->ReplicationFactor = 1;
	if (req->api_version < 5)
		return;
	br_topic_configs(req->broker->topics, topic, e);
	if (!(c = kp_arena_calloc(&req->arena, BR_TOPIC_CONFIG_KEYS, sizeof(*c))))
		return;
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
		kp_CreateTopicsResponse_CreatableTopicConfigs_init(&c[i]);
		c[i].Name = kp_str_from(e[i].name);
		c[i].Value = br__kstr_msg(&req->arena, e[i].value);
		c[i].ConfigSource = br_topic_config_source(&req->broker->cfg, &e[i]);
	}
	r->Configs.count = BR_TOPIC_CONFIG_KEYS;
	r->Configs.items = c;
}

static void create_one(br_request *req, const kp_CreateTopicsRequest *rq, int32_t idx,
		       kp_CreateTopicsResponse_CreatableTopicResult *r)
{
	const kp_CreateTopicsRequest_CreatableTopic *q = &rq->Topics.items[idx];
	br_broker *b = req->broker;
	int32_t node = b->cfg.node_id, n_parts = q->NumPartitions;
	int16_t rf = q->ReplicationFactor, ke = KE_NONE;
	char errbuf[512] = "";
	const char **keys = NULL, **values = NULL;
	int32_t n_cfg = q->Configs.count > 0 ? q->Configs.count : 0;

	r->Name = q->Name;
	for (int32_t j = 0; j < rq->Topics.count; j++) {
		if (j != idx && str_eq(rq->Topics.items[j].Name, q->Name)) {
			snprintf(errbuf, sizeof(errbuf), "Create topics request contains multiple "
				 "entries for the topic %.*s", (int)q->Name.len, (const char *)q->Name.p);
			ke = KE_INVALID_REQUEST;
			goto done;
		}
	}
	if (q->Assignments.count > 0) {
		if (n_parts != -1 || rf != -1) {
			snprintf(errbuf, sizeof(errbuf), "Both numPartitions or replicationFactor and "
				 "replicasAssignments were set. Both cannot be used at the same time.");
			ke = KE_INVALID_REQUEST;
			goto done;
		}
		n_parts = q->Assignments.count;
		for (int32_t j = 0; j < n_parts; j++) {
			const kp_CreateTopicsRequest_CreatableReplicaAssignment *a = &q->Assignments.items[j];
			bool seen = false;
			for (int32_t k = 0; k < j; k++)
				seen |= q->Assignments.items[k].PartitionIndex == a->PartitionIndex;
			if (a->PartitionIndex < 0 || a->PartitionIndex >= n_parts || seen) {
				snprintf(errbuf, sizeof(errbuf), "Partitions should be a consecutive "
					 "0-based integer sequence; %d is not", (int)a->PartitionIndex);
				ke = KE_INVALID_REPLICA_ASSIGNMENT;
				goto done;
			}
			if (!only_us(node, a->BrokerIds.count, a->BrokerIds.items)) {
				snprintf(errbuf, sizeof(errbuf), "Partition %d: this single-node broker "
					 "can only place replicas on node %d, alone",
					 (int)a->PartitionIndex, (int)node);
				ke = KE_INVALID_REPLICA_ASSIGNMENT;
				goto done;
			}
		}
	} else {
		if (rf == -1)
			rf = b->cfg.default_replication_factor;
		if (rf <= 0) {
			snprintf(errbuf, sizeof(errbuf), "Replication factor must be larger than 0.");
			ke = KE_INVALID_REPLICATION_FACTOR;
			goto done;
		}
		if (rf > 1) {
			snprintf(errbuf, sizeof(errbuf), "Unable to replicate the partition %d time(s): "
				 "The target replication factor of %d cannot be reached because only "
				 "1 broker(s) are registered.", (int)rf, (int)rf);
			ke = KE_INVALID_REPLICATION_FACTOR;
			goto done;
		}
	}
	if (n_cfg) {
		keys = kp_arena_calloc(&req->arena, (size_t)n_cfg, sizeof(*keys));
		values = kp_arena_calloc(&req->arena, (size_t)n_cfg, sizeof(*values));
		if (!keys || !values) {
			ke = KE_UNKNOWN_SERVER_ERROR;
			goto done;
		}
		for (int32_t j = 0; j < n_cfg; j++) {
			keys[j] = br__cstr(&req->arena, q->Configs.items[j].Name);
			values[j] = br__cstr(&req->arena, q->Configs.items[j].Value);
			if (!keys[j]) {
				ke = KE_UNKNOWN_SERVER_ERROR;
				goto done;
			}
		}
	}
	ke = br_topics_create(b->topics, (const char *)q->Name.p, (size_t)q->Name.len, n_parts,
			      keys, values, (size_t)n_cfg, rq->validateOnly, errbuf, sizeof(errbuf));
	if (ke == KE_NONE) {
		br_topic *topic = rq->validateOnly ? NULL
			: br_topics_get(b->topics, (const char *)q->Name.p, (size_t)q->Name.len);
		if (topic) {
			created_fill(req, topic, r);
			br_topic_put(topic);
		} else {
			r->NumPartitions = n_parts == -1 ? b->cfg.num_partitions : n_parts;
			r->ReplicationFactor = 1;
		}
	}
done:
	r->ErrorCode = br_request_note_error(req, ke);
	if (ke != KE_NONE) {
		r->ErrorMessage = br__kstr_msg(&req->arena, errbuf);
		if (req->api_version >= 5)
			r->TopicConfigErrorCode = br_request_note_error(req, ke == KE_INVALID_CONFIG ? ke : KE_NONE);
		br__logf(ST_LOG_INFO, "%s: CreateTopics %.*s refused: %s", req->peer,
			 (int)q->Name.len, (const char *)q->Name.p, errbuf);
	}
}

int br_handle_create_topics(br_request *req)
{
	kp_CreateTopicsRequest rq;
	kp_CreateTopicsResponse rs;
	int err;

	if ((err = kp_CreateTopicsRequest_decode(&req->body, req->api_version, &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "CreateTopics request does not decode");
	kp_CreateTopicsResponse_init(&rs);
	if (rq.Topics.count > 0) {
		rs.Topics.items = kp_arena_calloc(&req->arena, (size_t)rq.Topics.count,
						  sizeof(*rs.Topics.items));
		if (!rs.Topics.items)
			return br_request_fail(req, -ENOMEM, "out of memory answering CreateTopics");
		for (int32_t i = 0; i < rq.Topics.count; i++) {
			kp_CreateTopicsResponse_CreatableTopicResult_init(&rs.Topics.items[i]);
			create_one(req, &rq, i, &rs.Topics.items[i]);
		}
		rs.Topics.count = rq.Topics.count;
	}
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering CreateTopics");
	if ((err = kp_CreateTopicsResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "CreateTopics response does not encode");
	return BR_RESPOND;
}

/* ============================================================ DeleteTopics */

static void delete_one(br_request *req, kp_str name, const kp_uuid *id,
		       kp_DeleteTopicsResponse_DeletableTopicResult *r)
{
	br_topics *t = req->broker->topics;
	static const uint8_t zero[16];
	char errbuf[512] = "";
	br_topic *topic = NULL;
	int16_t ke;

	r->Name = name;
	if (id)
		r->TopicId = *id;
	if (name.len >= 0 && id && memcmp(id->b, zero, 16) != 0) {
		snprintf(errbuf, sizeof(errbuf), "Topic name and topic id cannot both be set");
		ke = KE_INVALID_REQUEST;
	} else if (name.len >= 0) {
		topic = br_topics_get(t, (const char *)name.p, (size_t)name.len);
		ke = topic ? KE_NONE : KE_UNKNOWN_TOPIC_OR_PARTITION;
		if (!topic)
			snprintf(errbuf, sizeof(errbuf), "This server does not host this topic-partition.");
	} else {
		topic = id ? br_topics_get_by_id(t, id->b) : NULL;
		ke = topic ? KE_NONE : KE_UNKNOWN_TOPIC_ID;
		if (!topic)
			snprintf(errbuf, sizeof(errbuf), "This server does not host this topic ID.");
	}
	if (topic) {
		r->Name = br__kstr_msg(&req->arena, topic->name);
		memcpy(r->TopicId.b, topic->id, 16);
		ke = br_topics_delete(t, topic, errbuf, sizeof(errbuf));
		br_topic_put(topic);
	}
	r->ErrorCode = br_request_note_error(req, ke);
	if (ke != KE_NONE && req->api_version >= 5)
		r->ErrorMessage = br__kstr_msg(&req->arena, errbuf);
}

int br_handle_delete_topics(br_request *req)
{
	kp_DeleteTopicsRequest rq;
	kp_DeleteTopicsResponse rs;
	int32_t n;
	int err;

	if ((err = kp_DeleteTopicsRequest_decode(&req->body, req->api_version, &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "DeleteTopics request does not decode");
	kp_DeleteTopicsResponse_init(&rs);
	n = req->api_version >= 6 ? rq.Topics.count : rq.TopicNames.count;
	if (n > 0) {
		rs.Responses.items = kp_arena_calloc(&req->arena, (size_t)n, sizeof(*rs.Responses.items));
		if (!rs.Responses.items)
			return br_request_fail(req, -ENOMEM, "out of memory answering DeleteTopics");
		for (int32_t i = 0; i < n; i++) {
			kp_DeleteTopicsResponse_DeletableTopicResult *r = &rs.Responses.items[i];
			kp_DeleteTopicsResponse_DeletableTopicResult_init(r);
			if (req->api_version >= 6)
				delete_one(req, rq.Topics.items[i].Name, &rq.Topics.items[i].TopicId, r);
			else
				delete_one(req, rq.TopicNames.items[i], NULL, r);
		}
		rs.Responses.count = n;
	}
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering DeleteTopics");
	if ((err = kp_DeleteTopicsResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "DeleteTopics response does not encode");
	return BR_RESPOND;
}

/* ======================================================== CreatePartitions */

static void grow_one(br_request *req, const kp_CreatePartitionsRequest *rq, int32_t idx,
		     kp_CreatePartitionsResponse_CreatePartitionsTopicResult *r)
{
	const kp_CreatePartitionsRequest_CreatePartitionsTopic *q = &rq->Topics.items[idx];
	br_topics *t = req->broker->topics;
	int32_t node = req->broker->cfg.node_id;
	char errbuf[512] = "";
	br_topic *topic = NULL;
	int16_t ke = KE_NONE;

	r->Name = q->Name;
	for (int32_t j = 0; j < rq->Topics.count; j++) {
		if (j != idx && str_eq(rq->Topics.items[j].Name, q->Name)) {
			snprintf(errbuf, sizeof(errbuf), "Duplicate topic in request.");
			ke = KE_INVALID_REQUEST;
			goto done;
		}
	}
	if (!(topic = br_topics_get(t, (const char *)q->Name.p, (size_t)q->Name.len))) {
		snprintf(errbuf, sizeof(errbuf), "The topic '%.*s' does not exist.",
			 (int)q->Name.len, (const char *)q->Name.p);
		ke = KE_UNKNOWN_TOPIC_OR_PARTITION;
		goto done;
	}
	if (q->Assignments.count >= 0 && q->Count > topic->n_parts) {
		if (q->Assignments.count != q->Count - topic->n_parts) {
			snprintf(errbuf, sizeof(errbuf), "Increasing the number of partitions by %d "
				 "but %d assignments provided.", (int)(q->Count - topic->n_parts),
				 (int)q->Assignments.count);
			ke = KE_INVALID_REPLICA_ASSIGNMENT;
			goto done;
		}
		for (int32_t j = 0; j < q->Assignments.count; j++) {
			const kp_CreatePartitionsRequest_CreatePartitionsAssignment *a = &q->Assignments.items[j];
			if (!only_us(node, a->BrokerIds.count, a->BrokerIds.items)) {
				snprintf(errbuf, sizeof(errbuf), "This single-node broker can only place "
					 "replicas on node %d, alone", (int)node);
				ke = KE_INVALID_REPLICA_ASSIGNMENT;
				goto done;
			}
		}
	}
	ke = br_topics_create_partitions(t, topic, q->Count, rq->ValidateOnly, errbuf, sizeof(errbuf));
done:
	if (topic)
		br_topic_put(topic);
	r->ErrorCode = br_request_note_error(req, ke);
	if (ke != KE_NONE)
		r->ErrorMessage = br__kstr_msg(&req->arena, errbuf);
}

int br_handle_create_partitions(br_request *req)
{
	kp_CreatePartitionsRequest rq;
	kp_CreatePartitionsResponse rs;
	int err;

	if ((err = kp_CreatePartitionsRequest_decode(&req->body, req->api_version, &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "CreatePartitions request does not decode");
	kp_CreatePartitionsResponse_init(&rs);
	if (rq.Topics.count > 0) {
		rs.Results.items = kp_arena_calloc(&req->arena, (size_t)rq.Topics.count,
						   sizeof(*rs.Results.items));
		if (!rs.Results.items)
			return br_request_fail(req, -ENOMEM, "out of memory answering CreatePartitions");
		for (int32_t i = 0; i < rq.Topics.count; i++) {
			kp_CreatePartitionsResponse_CreatePartitionsTopicResult_init(&rs.Results.items[i]);
			grow_one(req, &rq, i, &rs.Results.items[i]);
		}
		rs.Results.count = rq.Topics.count;
	}
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering CreatePartitions");
	if ((err = kp_CreatePartitionsResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "CreatePartitions response does not encode");
	return BR_RESPOND;
}
