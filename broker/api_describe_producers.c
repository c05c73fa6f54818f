/*
 * api_describe_producers.c -- the DescribeProducers API (key 61, KIP-664):
 * the idempotent producers a partition knows.
 *
 * Per requested partition: its producers from st_log_producers() (a copy
 * taken under the log lock), each with its epoch, last sequence and the
 * time of its last append. CoordinatorEpoch and CurrentTxnStartOffset are
 * -1: there are no transactions. An unknown topic or partition is
 * UNKNOWN_TOPIC_OR_PARTITION for that partition only.
 */
#include <errno.h>
#include <stdlib.h>

#include "broker/br_int.h"

static int describe_partition(br_request *req, br_part *part,
			      kp_DescribeProducersResponse_PartitionResponse *o)
{
	st_producer *ps;
	size_t n;
	int err = st_log_producers(part->log, &ps, &n);

	if (err) {
		o->ErrorCode = br_request_note_error(req, br_kafka_error(err));
		return 0;
	}
	o->ActiveProducers.count = (int32_t)n;
	o->ActiveProducers.items = kp_arena_calloc(&req->arena, n + 1,
						   sizeof(*o->ActiveProducers.items));
	if (!o->ActiveProducers.items) {
		free(ps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		kp_DescribeProducersResponse_ProducerState *s = &o->ActiveProducers.items[i];
		kp_DescribeProducersResponse_ProducerState_init(s);
		s->ProducerId = ps[i].producer_id;
		s->ProducerEpoch = ps[i].producer_epoch;
		s->LastSequence = ps[i].batches[ps[i].n_batches - 1].last_seq;
		s->LastTimestamp = ps[i].last_timestamp;
		s->CoordinatorEpoch = -1;
		s->CurrentTxnStartOffset = -1;
	}
	free(ps);
	return 0;
}

int br_api_describe_producers(br_request *req)
{
	kp_DescribeProducersRequest msg;
	kp_DescribeProducersResponse resp;
	int err;

	err = kp_DescribeProducersRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed DescribeProducers request");
	kp_DescribeProducersResponse_init(&resp);
	resp.Topics.count = msg.Topics.count > 0 ? msg.Topics.count : 0;
	resp.Topics.items = kp_arena_calloc(&req->arena, (size_t)resp.Topics.count + 1,
					    sizeof(*resp.Topics.items));
	if (!resp.Topics.items)
		return br_request_fail(req, -ENOMEM, "out of memory for a DescribeProducers response");
	for (int32_t t = 0; t < resp.Topics.count; t++) {
		const kp_DescribeProducersRequest_TopicRequest *rt = &msg.Topics.items[t];
		kp_DescribeProducersResponse_TopicResponse *tr = &resp.Topics.items[t];
		int32_t np = rt->PartitionIndexes.count > 0 ? rt->PartitionIndexes.count : 0;
		br_topic *topic = NULL;

		kp_DescribeProducersResponse_TopicResponse_init(tr);
		tr->Name = rt->Name;
		tr->Partitions.count = np;
		tr->Partitions.items = kp_arena_calloc(&req->arena, (size_t)np + 1,
						       sizeof(*tr->Partitions.items));
		if (!tr->Partitions.items)
			return br_request_fail(req, -ENOMEM,
					       "out of memory for a DescribeProducers response");
		if (np > 0 && rt->Name.len > 0)
			topic = br_topics_get(req->broker->topics, (const char *)rt->Name.p,
					      (size_t)rt->Name.len);
		for (int32_t p = 0; p < np; p++) {
			kp_DescribeProducersResponse_PartitionResponse *o = &tr->Partitions.items[p];
			br_part *part = topic ? br_topic_part(topic, rt->PartitionIndexes.items[p]) : NULL;

			kp_DescribeProducersResponse_PartitionResponse_init(o);
			o->PartitionIndex = rt->PartitionIndexes.items[p];
			if (!part) {
				o->ErrorCode = br_request_note_error(req, KE_UNKNOWN_TOPIC_OR_PARTITION);
				continue;
			}
			if (describe_partition(req, part, o) < 0) {
				br_topic_put(topic);
				return br_request_fail(req, -ENOMEM,
						       "out of memory for a DescribeProducers response");
			}
		}
		if (topic)
			br_topic_put(topic);
	}
	if (kp_DescribeProducersResponse_encode(&req->resp, req->api_version, &resp) != 0)
		return br_request_fail(req, req->resp.err, "DescribeProducers response encoding");
	return BR_RESPOND;
}
