/*
 * api_find_coordinator.c -- FindCoordinator (10): which broker coordinates
 * a group. A single node coordinates every group, so the answer is this
 * broker's advertised endpoint; v4+ asks for several keys at once.
 *
 * As in Kafka, the first FindCoordinator creates the internal topic
 * __consumer_offsets (compacted, offsets.topic.num.partitions partitions,
 * offsets.topic.segment.bytes segments). That creates directories and
 * fsyncs, so this API runs on the admin thread (BR_ON_ADMIN).
 *
 * Transaction coordinators (KeyType 1) are not served yet:
 * COORDINATOR_NOT_AVAILABLE says so, and a transactional producer stops
 * there with that error. Other key types are INVALID_REQUEST.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker/br_int.h"

int16_t br__offsets_topic_ensure(br_broker *b)
{
	br_topic *t = br_topics_get(b->topics, BR_OFFSETS_TOPIC, strlen(BR_OFFSETS_TOPIC));
	char parts[24], segment[24], err[256];
	const char *keys[] = { "cleanup.policy", "segment.bytes" };
	const char *values[] = { "compact", segment };
	int16_t rc;

	if (t) {
		br_topic_put(t);
		return KE_NONE;
	}
	snprintf(parts, sizeof(parts), "%d", b->cfg.offsets_topic_num_partitions);
	snprintf(segment, sizeof(segment), "%lld", (long long)b->cfg.offsets_topic_segment_bytes);
	rc = br_topics_create(b->topics, BR_OFFSETS_TOPIC, strlen(BR_OFFSETS_TOPIC),
			      b->cfg.offsets_topic_num_partitions, keys, values, 2, false, err,
			      sizeof(err));
	if (rc == KE_TOPIC_ALREADY_EXISTS)
		return KE_NONE;
	if (rc != KE_NONE) {
		br__logf(ST_LOG_ERROR, "cannot create %s: %s", BR_OFFSETS_TOPIC, err);
		return KE_COORDINATOR_NOT_AVAILABLE;
	}
	br__logf(ST_LOG_INFO, "created %s with %s partitions", BR_OFFSETS_TOPIC, parts);
	return KE_NONE;
}

/* The answer for one key. */
static int16_t coordinator_for(br_request *req, int8_t key_type, const char **message)
{
	*message = NULL;
	if (key_type == 1) {
		*message = "transactions are not supported by this broker yet";
		return KE_COORDINATOR_NOT_AVAILABLE;
	}
	if (key_type != 0) {
		*message = "unknown coordinator key type";
		return KE_INVALID_REQUEST;
	}
	return br__offsets_topic_ensure(req->broker);
}

int br_handle_find_coordinator(br_request *req)
{
	kp_FindCoordinatorRequest msg;
	kp_FindCoordinatorResponse resp;
	char host[256];
	int32_t port;
	const char *message;
	int16_t error;
	int err;

	err = kp_FindCoordinatorRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed FindCoordinator request");
	if (br_advertised_endpoint(&req->broker->cfg, host, sizeof(host), &port) < 0) {
		host[0] = '\0';
		port = -1;
	}
	kp_FindCoordinatorResponse_init(&resp);
	if (req->api_version < 4) {
		error = coordinator_for(req, req->api_version >= 1 ? msg.KeyType : 0, &message);
		resp.ErrorCode = br_request_note_error(req, error);
		if (req->api_version >= 1)
			resp.ErrorMessage = br__kstr(&req->arena, message);
		resp.NodeId = error ? -1 : req->broker->cfg.node_id;
		resp.Host = br__kstr(&req->arena, error ? "" : host);
		resp.Port = error ? -1 : port;
	} else {
		int32_t n = msg.CoordinatorKeys.count > 0 ? msg.CoordinatorKeys.count : 0;

		resp.Coordinators.count = n;
		resp.Coordinators.items = kp_arena_calloc(&req->arena, (size_t)n + 1,
							  sizeof(*resp.Coordinators.items));
		if (!resp.Coordinators.items)
			return br_request_fail(req, -ENOMEM, "out of memory for a FindCoordinator response");
		for (int32_t i = 0; i < n; i++) {
			kp_FindCoordinatorResponse_Coordinator *c = &resp.Coordinators.items[i];

			kp_FindCoordinatorResponse_Coordinator_init(c);
			error = coordinator_for(req, msg.KeyType, &message);
			c->Key = msg.CoordinatorKeys.items[i];
			c->ErrorCode = br_request_note_error(req, error);
			c->ErrorMessage = br__kstr(&req->arena, message);
			c->NodeId = error ? -1 : req->broker->cfg.node_id;
			c->Host = br__kstr(&req->arena, error ? "" : host);
			c->Port = error ? -1 : port;
		}
	}
	if (kp_FindCoordinatorResponse_encode(&req->resp, req->api_version, &resp) != 0)
		return br_request_fail(req, req->resp.err ? req->resp.err : KP_ERR_FIELD,
				       "FindCoordinator response encoding");
	return BR_RESPOND;
}
