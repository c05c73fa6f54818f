/*
 * api_list_offsets.c -- the ListOffsets API (key 2): an offset for a time.
 *
 * Per partition the request's Timestamp is either a time in ms or one of
 * Kafka's special values:
 *   -2 EARLIEST       the log start offset
 *   -1 LATEST         the high watermark (= last stable offset: no
 *                     transactions yet, so both isolation levels agree)
 *   -3 MAX_TIMESTAMP  the record with the largest timestamp (KIP-734; v7+,
 *                     UNSUPPORTED_VERSION before)
 *   >= 0              the first record whose timestamp is >= it, found
 *                     through the time index (st_log_offset_for_timestamp)
 * A time after every record, or MAX_TIMESTAMP on an empty log, answers
 * offset -1 and timestamp -1 with no error, as Kafka does. Versions 1 and up
 * only: v0's list of old-style offsets is not served.
 */
#include <errno.h>

#include "broker/br_int.h"

/* Fills one partition's answer. */
static void list_offsets_partition(br_request *req, br_part *part, int64_t ts,
				   kp_ListOffsetsResponse_ListOffsetsPartitionResponse *o)
{
	st_log *log = part->log;
	int16_t version = req->api_version;
	int64_t off = -1, found_ts = -1;
	int err = 0;

	switch (ts) {
	case -2:
		off = st_log_start_offset(log);
		break;
	case -1:
		off = st_log_high_watermark(log);
		break;
	case -3:
		/* MAX_TIMESTAMP came with v7; older versions must not see it work. */
		if (version < 7) {
			o->ErrorCode = br_request_note_error(req, KE_UNSUPPORTED_VERSION);
			return;
		}
		err = st_log_max_timestamp(log, &off, &found_ts);
		break;
	default:
		if (ts < 0) {
			o->ErrorCode = br_request_note_error(req, KE_INVALID_REQUEST);
			return;
		}
		err = st_log_offset_for_timestamp(log, ts, &off, &found_ts);
		break;
	}
	if (err == ST_ERR_NOT_FOUND) {
		off = -1;
		found_ts = -1;
	} else if (err) {
		br__logf(ST_LOG_WARN, "list offsets %s-%d at %lld: %s", part->topic->name, part->index,
			 (long long)ts, st_strerror(err));
		o->ErrorCode = br_request_note_error(req, br_kafka_error(err));
		return;
	}
	o->ErrorCode = KE_NONE;
	o->Offset = off;
	o->Timestamp = found_ts;
	/* v4+ carries the epoch (and no older version may hold another value). */
	if (version >= 4 && off >= 0)
		o->LeaderEpoch = st_log_latest_epoch(log);
}

int br_api_list_offsets(br_request *req)
{
	kp_ListOffsetsRequest msg;
	kp_ListOffsetsResponse resp;
	int err;

	err = kp_ListOffsetsRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed ListOffsets request");
	kp_ListOffsetsResponse_init(&resp);
	resp.Topics.count = msg.Topics.count > 0 ? msg.Topics.count : 0;
	resp.Topics.items = kp_arena_calloc(&req->arena, (size_t)resp.Topics.count + 1,
					    sizeof(*resp.Topics.items));
	if (!resp.Topics.items)
		return br_request_fail(req, -ENOMEM, "out of memory for a ListOffsets response");
	for (int32_t t = 0; t < resp.Topics.count; t++) {
		const kp_ListOffsetsRequest_ListOffsetsTopic *rt = &msg.Topics.items[t];
		kp_ListOffsetsResponse_ListOffsetsTopicResponse *tr = &resp.Topics.items[t];
		int32_t np = rt->Partitions.count > 0 ? rt->Partitions.count : 0;
		br_topic *topic = NULL;

		kp_ListOffsetsResponse_ListOffsetsTopicResponse_init(tr);
		tr->Name = rt->Name;
		tr->Partitions.count = np;
		tr->Partitions.items = kp_arena_calloc(&req->arena, (size_t)np + 1,
						       sizeof(*tr->Partitions.items));
		if (!tr->Partitions.items)
			return br_request_fail(req, -ENOMEM, "out of memory for a ListOffsets response");
		if (np > 0 && rt->Name.len > 0)
			topic = br_topics_get(req->broker->topics, (const char *)rt->Name.p,
					      (size_t)rt->Name.len);
		for (int32_t p = 0; p < np; p++) {
			const kp_ListOffsetsRequest_ListOffsetsPartition *rp = &rt->Partitions.items[p];
			kp_ListOffsetsResponse_ListOffsetsPartitionResponse *o = &tr->Partitions.items[p];
			br_part *part = topic ? br_topic_part(topic, rp->PartitionIndex) : NULL;

			kp_ListOffsetsResponse_ListOffsetsPartitionResponse_init(o);
			o->PartitionIndex = rp->PartitionIndex;
			if (!part) {
				o->ErrorCode = br_request_note_error(req, KE_UNKNOWN_TOPIC_OR_PARTITION);
				continue;
			}
			int16_t epoch_code = br_part_check_leader_epoch(part, rp->CurrentLeaderEpoch);
			if (epoch_code != KE_NONE) {
				o->ErrorCode = br_request_note_error(req, epoch_code);
				continue;
			}
			list_offsets_partition(req, part, rp->Timestamp, o);
		}
		if (topic)
			br_topic_put(topic);
	}
	if (kp_ListOffsetsResponse_encode(&req->resp, req->api_version, &resp) != 0)
		return br_request_fail(req, req->resp.err, "ListOffsets response encoding");
	return BR_RESPOND;
}
