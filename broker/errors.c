/*
 * errors.c -- our errors (st_err, kp_err, br_err, -errno) as Kafka error
 * codes, the one place where the two numbering schemes meet.
 *
 * Kafka error codes are a protocol concern: handlers get an error from
 * storage or proto and put br_kafka_error(err) in the response. The mapping
 * follows what a Kafka broker answers for the same condition, so clients
 * take their usual action (retry on retriable codes, reset on
 * OFFSET_OUT_OF_RANGE, fail the batch on CORRUPT_MESSAGE).
 */
#include <errno.h>

#include "broker/br_int.h"

int16_t br_kafka_error(int err)
{
	switch (err) {
	case 0:
		return KE_NONE;
	/* storage */
	case ST_ERR_OFFSET_OUT_OF_RANGE:
		return KE_OFFSET_OUT_OF_RANGE;
	case ST_ERR_TOO_LARGE:
		return KE_MESSAGE_TOO_LARGE;
	case ST_ERR_OFFLINE:
	case ST_ERR_CORRUPT:
	case ST_ERR_LOCKED:
		return KE_KAFKA_STORAGE_ERROR;
	case ST_ERR_CLOSING:
	case ST_ERR_TRUNCATED:
		/* Retriable: the client sends again, to this broker once it is
		 * back or to the new leader. */
		return KE_NOT_LEADER_OR_FOLLOWER;
	case ST_ERR_DELETING:
		/* The partition is leaving with its topic: what Kafka answers
		 * once the topic is gone. */
		return KE_UNKNOWN_TOPIC_OR_PARTITION;
	case ST_ERR_NOT_FOUND:
		return KE_NONE;
	case ST_ERR_CONFIG:
		return KE_INVALID_CONFIG;
	case ST_ERR_OUT_OF_ORDER_SEQUENCE:
		return KE_OUT_OF_ORDER_SEQUENCE_NUMBER;
	case ST_ERR_INVALID_PRODUCER_EPOCH:
		return KE_INVALID_PRODUCER_EPOCH;
	case ST_ERR_INVALID_RECORD:
		return KE_INVALID_RECORD;
	case ST_ERR_INVALID_TIMESTAMP:
		return KE_INVALID_TIMESTAMP;
	/* proto: a batch that does not validate */
	case KP_ERR_CRC:
	case KP_ERR_MAGIC:
	case KP_ERR_SHORT:
	case KP_ERR_CORRUPT:
	case KP_ERR_CODEC:
	case KP_ERR_DECOMPRESS:
		return KE_CORRUPT_MESSAGE;
	case KP_ERR_TOO_LARGE:
		return KE_MESSAGE_TOO_LARGE;
	case KP_ERR_VERSION:
		return KE_UNSUPPORTED_VERSION;
	case KP_ERR_FIELD:
		return KE_INVALID_REQUEST;
	case KP_ERR_NOMEM:
	case KP_ERR_OVERFLOW:
	case KP_ERR_COMPRESS:
		return KE_UNKNOWN_SERVER_ERROR;
	/* broker */
	case BR_ERR_CONFIG:
		return KE_INVALID_CONFIG;
	case BR_ERR_DATA_DIR:
		return KE_KAFKA_STORAGE_ERROR;
	/* system */
	case -ENOSPC:
	case -EIO:
	case -EROFS:
	case -EDQUOT:
	case -EACCES:
	case -EPERM:
		return KE_KAFKA_STORAGE_ERROR;
	case -ETIMEDOUT:
		return KE_REQUEST_TIMED_OUT;
	case -EINVAL:
		return KE_INVALID_REQUEST;
	default:
		return KE_UNKNOWN_SERVER_ERROR;
	}
}
