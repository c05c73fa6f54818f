/*
 * producer_ids.c -- the producer-id manager and the InitProducerId API
 * (key 22) for idempotent, non-transactional producers.
 *
 * Ids are handed out from blocks of BR_PRODUCER_ID_BLOCK reserved on disk
 * before the first id of the block goes out, so ids stay unique across
 * restarts (and crashes: an unused rest of a block is skipped, as Kafka's
 * ZooKeeper-backed manager skips it). The reservation is one small file in
 * the first log dir:
 *
 *     <log.dirs[0]>/producer-id-block    "0\n<first id of the next block>\n"
 *
 * written atomically (st_file_write_atomic). A file that does not parse is
 * refused (InitProducerId fails and says why in the log) rather than
 * guessed at: handing out an id twice would merge two producers' sequences.
 *
 * InitProducerId: a null TransactionalId gets a new id at epoch 0, as
 * Kafka answers. From v3 a client may send its current ProducerId and
 * ProducerEpoch (KIP-360: librdkafka does after a sequence problem, to
 * reset its sequences without a new id); if the id is one this broker
 * handed out, the answer is the same id with the epoch bumped, so the
 * partitions fence the old epoch (INVALID_PRODUCER_EPOCH) and accept the
 * new one from sequence 0. At the last epoch (32766) a new id is handed out
 * instead, as Kafka does. Kafka's non-transactional coordinator always
 * hands out a new id; bumping keeps one id per producer session instead,
 * which DescribeProducers shows, and is what the protocol allows. A
 * transactional id is refused: transactions are not implemented.
 *
 * Threads: InitProducerId is a blocking API (it may write the block file),
 * so it runs on the admin thread, one request at a time; the manager's
 * state (b->producer_ids) belongs to that thread and needs no lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"

#define BLOCK_FILE "producer-id-block"
#define MAX_EPOCH 32766  /* Kafka: Short.MaxValue - 1; the next bump needs a new id */

/* Reads the block file: 0 and *next, -ENOENT, ST_ERR_CORRUPT or -errno. */
static int block_read(const char *dir, int64_t *next)
{
	char path[4096], buf[64], extra;
	long long v;
	int version;

	if (snprintf(path, sizeof(path), "%s/%s", dir, BLOCK_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	int rerr = ferror(f);
	fclose(f);
	if (rerr)
		return -EIO;
	buf[n] = '\0';
	if (sscanf(buf, "%d\n%lld\n%c", &version, &v, &extra) != 2 || version != 0 || v < 0 ||
	    v > INT64_MAX - BR_PRODUCER_ID_BLOCK)
		return ST_ERR_CORRUPT;
	*next = v;
	return 0;
}

/* First use since start: every id below the file's value may have been
 * handed out by an earlier run, so this run starts there (with no block
 * reserved yet). */
static int ids_load(br_broker *b)
{
	const char *dir = b->cfg.log_dirs[0];
	int64_t start = 0;
	int rc;

	if (b->producer_ids.loaded)
		return 0;
	rc = block_read(dir, &start);
	if (rc < 0 && rc != -ENOENT) {
		br__logf(ST_LOG_ERROR, "%s/%s: cannot read: %s; no producer id handed out",
			 dir, BLOCK_FILE, st_strerror(rc));
		return rc;
	}
	b->producer_ids.next = start;
	b->producer_ids.block_end = start;
	b->producer_ids.loaded = true;
	return 0;
}

int br_producer_ids_next(br_broker *b, int64_t *out)
{
	const char *dir = b->cfg.log_dirs[0];
	char text[64];
	int rc;

	if ((rc = ids_load(b)) < 0)
		return rc;
	if (b->producer_ids.next >= b->producer_ids.block_end) {
		int64_t end = b->producer_ids.next + BR_PRODUCER_ID_BLOCK;
		int n = snprintf(text, sizeof(text), "0\n%" PRId64 "\n", end);
		if ((rc = st_file_write_atomic(dir, BLOCK_FILE, text, (size_t)n)) < 0) {
			br__logf(ST_LOG_ERROR, "%s/%s: cannot reserve producer ids: %s", dir,
				 BLOCK_FILE, st_strerror(rc));
			return rc;
		}
		b->producer_ids.block_end = end;
	}
	*out = b->producer_ids.next++;
	return 0;
}

bool br_producer_ids_issued(br_broker *b, int64_t id)
{
	/* After a restart `next` is the start of a fresh block: every id
	 * below it may have been handed out before. */
	return b->producer_ids.loaded && id >= 0 && id < b->producer_ids.next;
}

static int respond(br_request *req, int16_t code, int64_t id, int16_t epoch)
{
	kp_InitProducerIdResponse resp;

	kp_InitProducerIdResponse_init(&resp);
	resp.ErrorCode = br_request_note_error(req, code);
	resp.ProducerId = id;
	resp.ProducerEpoch = epoch;
	if (kp_InitProducerIdResponse_encode(&req->resp, req->api_version, &resp) != 0)
		return br_request_fail(req, req->resp.err, "InitProducerId response encoding");
	return BR_RESPOND;
}

int br_api_init_producer_id(br_request *req)
{
	kp_InitProducerIdRequest msg;
	br_broker *b = req->broker;
	int64_t id;
	int err;

	err = kp_InitProducerIdRequest_decode(&req->body, req->api_version, &req->arena, &msg);
	if (err)
		return br_request_fail(req, err, "malformed InitProducerId request");
	if (msg.TransactionalId.len == 0) {
		br__logf(ST_LOG_WARN, "InitProducerId from %s: empty transactional id", req->peer);
		return respond(req, KE_INVALID_REQUEST, -1, -1);
	}
	if (msg.TransactionalId.len > 0) {
		br__logf(ST_LOG_WARN, "InitProducerId from %s: transactional id '%.*s' refused: "
			 "transactions are not supported (use enable.idempotence without "
			 "transactional.id)", req->peer, (int)msg.TransactionalId.len,
			 (const char *)msg.TransactionalId.p);
		return respond(req, KE_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, -1);
	}
	/* Kafka: both or neither of ProducerId and ProducerEpoch. */
	if ((msg.ProducerId == -1) != (msg.ProducerEpoch == -1)) {
		br__logf(ST_LOG_WARN, "InitProducerId from %s: producer id %" PRId64
			 " with epoch %d (one of them unset)", req->peer, msg.ProducerId,
			 msg.ProducerEpoch);
		return respond(req, KE_INVALID_REQUEST, -1, -1);
	}
	if (msg.ProducerId >= 0 && msg.ProducerEpoch >= 0 && msg.ProducerEpoch < MAX_EPOCH) {
		/* Loads the block file if this is the first request since start,
		 * so ids of an earlier run are recognised. */
		if (ids_load(b) < 0)
			return respond(req, KE_UNKNOWN_SERVER_ERROR, -1, -1);
		if (br_producer_ids_issued(b, msg.ProducerId)) {
			br__logf(ST_LOG_INFO, "InitProducerId from %s: producer %" PRId64
				 " epoch bumped to %d", req->peer, msg.ProducerId,
				 msg.ProducerEpoch + 1);
			return respond(req, KE_NONE, msg.ProducerId, (int16_t)(msg.ProducerEpoch + 1));
		}
	}
	if (br_producer_ids_next(b, &id) < 0)
		return respond(req, KE_UNKNOWN_SERVER_ERROR, -1, -1);
	return respond(req, KE_NONE, id, 0);
}
