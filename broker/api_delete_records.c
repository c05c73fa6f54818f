/*
 * api_delete_records.c -- the DeleteRecords API (key 21): raise a
 * partition's log start offset.
 *
 * Per partition, st_log_delete_records() moves the log start offset to the
 * requested offset (-1 means the high watermark, as in Kafka) and persists
 * it; offsets below it are no longer readable at once, and whole segments
 * below it go at the next retention pass. The answer's LowWatermark is the
 * log start offset afterwards. An offset above the high watermark is
 * OFFSET_OUT_OF_RANGE; one below the current start changes nothing.
 *
 * st_log_delete_records() writes a small checkpoint file atomically: a short
 * blocking write on the reactor, accepted because DeleteRecords is a rare
 * administrative call (Kafka's own is similar), not a data-path request.
 */
#include <errno.h>

#include "broker/br_int.h"

static void delete_records_partition(br_request *req, br_part *part, int64_t offset,
				     kp_DeleteRecordsResponse_DeleteRecordsPartitionResult *o)
{
	int err;

	if (offset == -1)
		offset = st_log_high_watermark(part->log);
	if (offset < 0) {
		o->ErrorCode = br_request_note_error(req, KE_OFFSET_OUT_OF_RANGE);
		return;
	}
	if (offset > st_log_start_offset(part->log)) {
		err = st_log_delete_records(part->log, offset);
		if (err) {
			if (err != ST_ERR_OFFSET_OUT_OF_RANGE)
				br__logf(ST_LOG_WARN, "delete records %s-%d before %lld: %s",
					 part->topic->name, part->index, (long long)offset,
					 st_strerror(err));
			o->ErrorCode = br_request_note_error(req, br_kafka_error(err));
			return;
		}
	} else if (offset > st_log_high_watermark(part->log)) {
		o->ErrorCode = br_request_note_error(req, KE_OFFSET_OUT_OF_RANGE);
		return;
	}
	o->ErrorCode = KE_NONE;
	o->LowWatermark = st_log_start_offset(part->log);
}

int br_api_delete_records(br_request *req)
{
	kp_DeleteRecordsRequest msg;
	kp_DeleteRecordsResponse resp;
	int err;

	err = kp_DeleteRecordsRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed DeleteRecords request");
	kp_DeleteRecordsResponse_init(&resp);
	resp.Topics.count = msg.Topics.count > 0 ? msg.Topics.count : 0;
	resp.Topics.items = kp_arena_calloc(&req->arena, (size_t)resp.Topics.count + 1,
					    sizeof(*resp.Topics.items));
	if (!resp.Topics.items)
		return br_request_fail(req, -ENOMEM, "out of memory for a DeleteRecords response");
	for (int32_t t = 0; t < resp.Topics.count; t++) {
		const kp_DeleteRecordsRequest_DeleteRecordsTopic *rt = &msg.Topics.items[t];
		kp_DeleteRecordsResponse_DeleteRecordsTopicResult *tr = &resp.Topics.items[t];
		int32_t np = rt->Partitions.count > 0 ? rt->Partitions.count : 0;
		br_topic *topic = NULL;

		kp_DeleteRecordsResponse_DeleteRecordsTopicResult_init(tr);
		tr->Name = rt->Name;
		tr->Partitions.count = np;
		tr->Partitions.items = kp_arena_calloc(&req->arena, (size_t)np + 1,
						       sizeof(*tr->Partitions.items));
		if (!tr->Partitions.items)
			return br_request_fail(req, -ENOMEM, "out of memory for a DeleteRecords response");
		if (np > 0 && rt->Name.len > 0)
			topic = br_topics_get(req->broker->topics, (const char *)rt->Name.p,
					      (size_t)rt->Name.len);
		for (int32_t p = 0; p < np; p++) {
			const kp_DeleteRecordsRequest_DeleteRecordsPartition *rp = &rt->Partitions.items[p];
			kp_DeleteRecordsResponse_DeleteRecordsPartitionResult *o = &tr->Partitions.items[p];
			br_part *part = topic ? br_topic_part(topic, rp->PartitionIndex) : NULL;

			kp_DeleteRecordsResponse_DeleteRecordsPartitionResult_init(o);
			o->PartitionIndex = rp->PartitionIndex;
			o->LowWatermark = -1;
			if (!part) {
				o->ErrorCode = br_request_note_error(req, KE_UNKNOWN_TOPIC_OR_PARTITION);
				continue;
			}
			delete_records_partition(req, part, rp->Offset, o);
		}
		if (topic)
			br_topic_put(topic);
	}
	if (kp_DeleteRecordsResponse_encode(&req->resp, req->api_version, &resp) != 0)
		return br_request_fail(req, req->resp.err, "DeleteRecords response encoding");
	return BR_RESPOND;
}
