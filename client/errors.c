/*
 * errors.c -- error values of client/ and Kafka's error codes by name.
 *
 * Kafka's table (names, codes, retriable flags) follows the protocol's
 * org.apache.kafka.common.protocol.Errors up to STALE_MEMBER_EPOCH (113);
 * codes past the table are printed by number. The descriptions are short
 * paraphrases meant for a person reading a tool's error line.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/cl_int.h"

struct kafka_err {
	const char *name;
	const char *desc;
	bool retriable;
};

/* Indexed by code + 1 (UNKNOWN_SERVER_ERROR is -1). */
static const struct kafka_err kafka_errs[] = {
	{ "UNKNOWN_SERVER_ERROR", "the server hit an unexpected error", false },
	{ "NONE", "no error", false },
	{ "OFFSET_OUT_OF_RANGE", "the offset is outside the partition's log", false },
	{ "CORRUPT_MESSAGE", "a record batch failed its CRC or is otherwise corrupt", true },
	{ "UNKNOWN_TOPIC_OR_PARTITION", "the broker has no such topic or partition", true },
	{ "INVALID_FETCH_SIZE", "the fetch size is invalid", false },
	{ "LEADER_NOT_AVAILABLE", "the partition has no leader right now", true },
	{ "NOT_LEADER_OR_FOLLOWER", "the broker is not the partition's leader", true },
	{ "REQUEST_TIMED_OUT", "the request timed out on the broker", true },
	{ "BROKER_NOT_AVAILABLE", "the broker is not available", false },
	{ "REPLICA_NOT_AVAILABLE", "the replica is not available", true },
	{ "MESSAGE_TOO_LARGE", "the request is larger than the broker accepts", false },
	{ "STALE_CONTROLLER_EPOCH", "the controller epoch is stale", false },
	{ "OFFSET_METADATA_TOO_LARGE", "the committed offset's metadata is too large", false },
	{ "NETWORK_EXCEPTION", "the connection closed before the answer", true },
	{ "COORDINATOR_LOAD_IN_PROGRESS", "the coordinator is still loading the group's state", true },
	{ "COORDINATOR_NOT_AVAILABLE", "the group coordinator is not available", true },
	{ "NOT_COORDINATOR", "this broker is not the group's coordinator", true },
	{ "INVALID_TOPIC_EXCEPTION", "the topic name is invalid", false },
	{ "RECORD_LIST_TOO_LARGE", "the batch is larger than the segment size", false },
	{ "NOT_ENOUGH_REPLICAS", "fewer in-sync replicas than min.insync.replicas", true },
	{ "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "written to fewer in-sync replicas than required", true },
	{ "INVALID_REQUIRED_ACKS", "acks must be -1, 0 or 1", false },
	{ "ILLEGAL_GENERATION", "the generation id is not the group's current one", false },
	{ "INCONSISTENT_GROUP_PROTOCOL", "the member's protocols do not match the group's", false },
	{ "INVALID_GROUP_ID", "the group id is empty or invalid", false },
	{ "UNKNOWN_MEMBER_ID", "the coordinator does not know this member id", false },
	{ "INVALID_SESSION_TIMEOUT", "the session timeout is outside the broker's range", false },
	{ "REBALANCE_IN_PROGRESS", "the group is rebalancing", false },
	{ "INVALID_COMMIT_OFFSET_SIZE", "the committed offset metadata is too large", false },
	{ "TOPIC_AUTHORIZATION_FAILED", "not authorized for the topic", false },
	{ "GROUP_AUTHORIZATION_FAILED", "not authorized for the group", false },
	{ "CLUSTER_AUTHORIZATION_FAILED", "not authorized for the cluster", false },
	{ "INVALID_TIMESTAMP", "a timestamp is outside the accepted range", false },
	{ "UNSUPPORTED_SASL_MECHANISM", "the SASL mechanism is not supported", false },
	{ "ILLEGAL_SASL_STATE", "the request is not valid in this SASL state", false },
	{ "UNSUPPORTED_VERSION", "the broker does not support this version of the API", false },
	{ "TOPIC_ALREADY_EXISTS", "the topic already exists", false },
	{ "INVALID_PARTITIONS", "the number of partitions is invalid", false },
	{ "INVALID_REPLICATION_FACTOR", "the replication factor is invalid", false },
	{ "INVALID_REPLICA_ASSIGNMENT", "the replica assignment is invalid", false },
	{ "INVALID_CONFIG", "the configuration is invalid", false },
	{ "NOT_CONTROLLER", "this broker is not the controller", true },
	{ "INVALID_REQUEST", "the broker could not make sense of the request", false },
	{ "UNSUPPORTED_FOR_MESSAGE_FORMAT", "the message format does not support this request", false },
	{ "POLICY_VIOLATION", "the request violates a configured policy", false },
	{ "OUT_OF_ORDER_SEQUENCE_NUMBER", "the producer sequence number is out of order", false },
	{ "DUPLICATE_SEQUENCE_NUMBER", "the producer sequence number is a duplicate", false },
	{ "INVALID_PRODUCER_EPOCH", "the producer epoch is stale (fenced)", false },
	{ "INVALID_TXN_STATE", "the transaction state does not allow this", false },
	{ "INVALID_PRODUCER_ID_MAPPING", "the producer id is not mapped to this transactional id", false },
	{ "INVALID_TRANSACTION_TIMEOUT", "the transaction timeout is too large", false },
	{ "CONCURRENT_TRANSACTIONS", "another transaction operation is in progress", true },
	{ "TRANSACTION_COORDINATOR_FENCED", "the transaction coordinator is fenced", false },
	{ "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "not authorized for the transactional id", false },
	{ "SECURITY_DISABLED", "security features are disabled", false },
	{ "OPERATION_NOT_ATTEMPTED", "not attempted because another part of the request failed", false },
	{ "KAFKA_STORAGE_ERROR", "the broker hit a disk error", true },
	{ "LOG_DIR_NOT_FOUND", "the log directory does not exist", false },
	{ "SASL_AUTHENTICATION_FAILED", "SASL authentication failed", false },
	{ "UNKNOWN_PRODUCER_ID", "the broker has no state for this producer id", false },
	{ "REASSIGNMENT_IN_PROGRESS", "a partition reassignment is in progress", false },
	{ "DELEGATION_TOKEN_AUTH_DISABLED", "delegation token authentication is disabled", false },
	{ "DELEGATION_TOKEN_NOT_FOUND", "the delegation token was not found", false },
	{ "DELEGATION_TOKEN_OWNER_MISMATCH", "the delegation token owner does not match", false },
	{ "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", "delegation token requests are not allowed here", false },
	{ "DELEGATION_TOKEN_AUTHORIZATION_FAILED", "not authorized for the delegation token", false },
	{ "DELEGATION_TOKEN_EXPIRED", "the delegation token has expired", false },
	{ "INVALID_PRINCIPAL_TYPE", "the principal type is not supported", false },
	{ "NON_EMPTY_GROUP", "the group still has members", false },
	{ "GROUP_ID_NOT_FOUND", "the group does not exist", false },
	{ "FETCH_SESSION_ID_NOT_FOUND", "the fetch session id was not found", true },
	{ "INVALID_FETCH_SESSION_EPOCH", "the fetch session epoch is invalid", true },
	{ "LISTENER_NOT_FOUND", "the leader has no listener of this name", true },
	{ "TOPIC_DELETION_DISABLED", "topic deletion is disabled", false },
	{ "FENCED_LEADER_EPOCH", "the leader epoch is older than the broker's", true },
	{ "UNKNOWN_LEADER_EPOCH", "the leader epoch is newer than the broker's", true },
	{ "UNSUPPORTED_COMPRESSION_TYPE", "the consumer does not support the compression type", false },
	{ "STALE_BROKER_EPOCH", "the broker epoch is stale", false },
	{ "OFFSET_NOT_AVAILABLE", "the leader's high watermark has not caught up", true },
	{ "MEMBER_ID_REQUIRED", "the group member must rejoin with the member id it was given", false },
	{ "PREFERRED_LEADER_NOT_AVAILABLE", "the preferred leader is not available", true },
	{ "GROUP_MAX_SIZE_REACHED", "the group has reached its maximum size", false },
	{ "FENCED_INSTANCE_ID", "another member with this group.instance.id has joined", false },
	{ "ELIGIBLE_LEADERS_NOT_AVAILABLE", "no eligible leader for the partition", true },
	{ "ELECTION_NOT_NEEDED", "leader election not needed", true },
	{ "NO_REASSIGNMENT_IN_PROGRESS", "no partition reassignment is in progress", false },
	{ "GROUP_SUBSCRIBED_TO_TOPIC", "the group's members are subscribed to this topic", false },
	{ "INVALID_RECORD", "a record failed the broker's validation", false },
	{ "UNSTABLE_OFFSET_COMMIT", "a transactional offset commit is pending for the partition", true },
	{ "THROTTLING_QUOTA_EXCEEDED", "the throttling quota has been exceeded", true },
	{ "PRODUCER_FENCED", "a newer producer with the same transactional id exists", false },
	{ "RESOURCE_NOT_FOUND", "the resource does not exist", false },
	{ "DUPLICATE_RESOURCE", "the resource is a duplicate", false },
	{ "UNACCEPTABLE_CREDENTIAL", "the credential is not acceptable", false },
	{ "INCONSISTENT_VOTER_SET", "the voter set is inconsistent", false },
	{ "INVALID_UPDATE_VERSION", "the update version is invalid", false },
	{ "FEATURE_UPDATE_FAILED", "the feature update failed", false },
	{ "PRINCIPAL_DESERIALIZATION_FAILURE", "the principal could not be deserialized", false },
	{ "SNAPSHOT_NOT_FOUND", "the snapshot was not found", false },
	{ "POSITION_OUT_OF_RANGE", "the position is out of range", false },
	{ "UNKNOWN_TOPIC_ID", "the broker has no topic with this id", true },
	{ "DUPLICATE_BROKER_REGISTRATION", "the broker id is already registered", false },
	{ "BROKER_ID_NOT_REGISTERED", "the broker id is not registered", false },
	{ "INCONSISTENT_TOPIC_ID", "the topic id does not match the topic's", true },
	{ "INCONSISTENT_CLUSTER_ID", "the cluster id does not match", false },
	{ "TRANSACTIONAL_ID_NOT_FOUND", "the transactional id was not found", false },
	{ "FETCH_SESSION_TOPIC_ID_ERROR", "the fetch session's topic ids are inconsistent", true },
	{ "INELIGIBLE_REPLICA", "the replica is not eligible", false },
	{ "NEW_LEADER_ELECTED", "a new leader was elected", false },
	{ "OFFSET_MOVED_TO_TIERED_STORAGE", "the offset has moved to tiered storage", false },
	{ "FENCED_MEMBER_EPOCH", "the member epoch is fenced", false },
	{ "UNRELEASED_INSTANCE_ID", "the instance id is still used by another member", false },
	{ "UNSUPPORTED_ASSIGNOR", "the assignor is not supported by the group", false },
	{ "STALE_MEMBER_EPOCH", "the member epoch is stale", false },
};

#define KAFKA_ERRS_LEN (sizeof kafka_errs / sizeof kafka_errs[0])

static const struct kafka_err *kafka_err_find(int16_t code)
{
	if (code < -1 || (size_t)(code + 1) >= KAFKA_ERRS_LEN)
		return NULL;
	return &kafka_errs[code + 1];
}

const char *cl_kafka_err_name(int16_t code)
{
	const struct kafka_err *e = kafka_err_find(code);
	return e ? e->name : NULL;
}

const char *cl__kname(int16_t code)
{
	const char *n = cl_kafka_err_name(code);
	return n ? n : "?";
}

const char *cl_kafka_err_desc(int16_t code)
{
	const struct kafka_err *e = kafka_err_find(code);
	return e ? e->desc : "an error code this client does not know";
}

bool cl_kafka_err_retriable(int16_t code)
{
	const struct kafka_err *e = kafka_err_find(code);
	return e && e->retriable;
}

static const char *kafka_err_line(int16_t code)
{
	const struct kafka_err *e = kafka_err_find(code);
	return e ? e->name : "unknown Kafka error code";
}

const char *cl_strerror(int err)
{
	if (err == 0)
		return "success";
	if (cl_err_is_kafka(err))
		return kafka_err_line(cl_err_kafka_code(err));
	switch (err) {
	case CL_ERR_TIMEOUT: return "timed out waiting for the broker";
	case CL_ERR_CLOSED: return "the broker closed the connection";
	case CL_ERR_PROTOCOL: return "the broker's answer does not parse as the Kafka protocol";
	case CL_ERR_UNSUPPORTED: return "the broker supports no version of the API that rewind implements";
	case CL_ERR_RESOLVE: return "the host name does not resolve";
	case CL_ERR_BOOTSTRAP: return "the bootstrap list does not parse (expected host:port[,host:port...])";
	case CL_ERR_NO_BROKER: return "no bootstrap broker could be reached";
	case CL_ERR_NO_LEADER: return "the partition has no reachable leader";
	case CL_ERR_ARG: return "invalid argument";
	case CL_ERR_BROKEN: return "the connection failed earlier and was not reopened";
	case CL_ERR_QUEUE_FULL: return "the producer's buffer is full (buffer.memory); poll for delivery reports and retry";
	case CL_ERR_MSG_TIMED_OUT: return "not delivered within delivery.timeout.ms";
	case CL_ERR_FATAL: return "the producer hit an error it cannot recover from";
	case CL_ERR_STOPPED: return "the producer is closing";
	default: break;
	}
	if (err <= -1001 && err >= -1199)
		return kp_strerror(err);
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

const char *cl_err_name(int err)
{
	if (err == 0)
		return "NONE";
	if (cl_err_is_kafka(err)) {
		const char *n = cl_kafka_err_name(cl_err_kafka_code(err));
		return n ? n : "UNKNOWN_KAFKA_ERROR";
	}
	switch (err) {
	case CL_ERR_TIMEOUT: return "TIMED_OUT";
	case CL_ERR_CLOSED: return "CONNECTION_CLOSED";
	case CL_ERR_PROTOCOL: return "BAD_RESPONSE";
	case CL_ERR_UNSUPPORTED: return "UNSUPPORTED_VERSION";
	case CL_ERR_RESOLVE: return "RESOLVE";
	case CL_ERR_BOOTSTRAP: return "BAD_BOOTSTRAP";
	case CL_ERR_NO_BROKER: return "ALL_BROKERS_DOWN";
	case CL_ERR_NO_LEADER: return "LEADER_NOT_AVAILABLE";
	case CL_ERR_ARG: return "INVALID_ARG";
	case CL_ERR_BROKEN: return "TRANSPORT";
	case CL_ERR_QUEUE_FULL: return "QUEUE_FULL";
	case CL_ERR_MSG_TIMED_OUT: return "MSG_TIMED_OUT";
	case CL_ERR_FATAL: return "FATAL";
	case CL_ERR_STOPPED: return "DESTROY";
	default: break;
	}
	if (err <= -1001 && err >= -1199)
		return "ENCODING";
	switch (-err) {
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case EPIPE: return "EPIPE";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	case ENOMEM: return "ENOMEM";
	default: return "SYSTEM_ERROR";
	}
}
