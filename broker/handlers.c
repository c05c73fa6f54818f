/*
 * handlers.c -- the table of APIs the broker serves: for each, the versions
 * it accepts and advertises in ApiVersions, and its handler.
 *
 * Like librdkafka's mock broker, dispatch is one table rather than a switch:
 * conn.c looks the key up, refuses versions outside [min, max] (per Kafka's
 * rules) and calls the handler. ApiVersions advertises exactly these rows,
 * so a range here is a promise: widen it only with the handler and tests
 * for the new versions. Each range lies inside what the generated codecs
 * implement (tests/unit/broker/test_handlers.c checks that).
 *
 * Rows ending in BR_ON_ADMIN are blocking APIs: they create, delete or
 * alter logs and checkpoints on disk, so they run on the admin thread,
 * never on a connection's reactor. Rows ending in BR_ON_GROUPS run on the
 * thread that owns the consumer groups (see enum br_api_thread).
 *
 * Sorted by api_key; br_api_find() bisects.
 */
#include "broker/br_int.h"

const br_api br_apis[] = {
	/* Produce from v0, though records must be RecordBatch v2 (an old
	 * message set gets UNSUPPORTED_FOR_MESSAGE_FORMAT in v0-v2, and
	 * INVALID_RECORD in v3+ as Kafka answers): librdkafka 2.0.2
	 * (Debian 12's, under kcat and confluent-kafka) compresses with gzip,
	 * snappy or lz4 only when the broker's Produce range includes v0, and
	 * otherwise sends those batches uncompressed without a word (its lz4
	 * also wants FindCoordinator v0). v0-v2 differ from v3 only by the
	 * transactional id and response fields, all in the generated codec.
	 * tests/integration/test_python_clients.py checks both. */
	{ KP_API_PRODUCE, 0, 9, br_api_produce },                    /* api_produce.c */
	{ KP_API_FETCH, 4, 13, br_api_fetch },                       /* api_fetch.c */
	{ KP_API_LIST_OFFSETS, 1, 7, br_api_list_offsets },          /* api_list_offsets.c */
	{ KP_API_METADATA, 0, 12, br_handle_metadata },              /* api_metadata.c */
	{ KP_API_OFFSET_COMMIT, 0, 8, br_handle_offset_commit, BR_ON_GROUPS }, /* api_offsets.c */
	{ KP_API_OFFSET_FETCH, 0, 8, br_handle_offset_fetch, BR_ON_GROUPS },
	{ KP_API_FIND_COORDINATOR, 0, 4, br_handle_find_coordinator, BR_ON_ADMIN }, /* api_find_coordinator.c */
	{ KP_API_JOIN_GROUP, 0, 9, br_handle_join_group, BR_ON_GROUPS },    /* api_groups.c */
	{ KP_API_HEARTBEAT, 0, 4, br_handle_heartbeat, BR_ON_GROUPS },
	{ KP_API_LEAVE_GROUP, 0, 5, br_handle_leave_group, BR_ON_GROUPS },
	{ KP_API_SYNC_GROUP, 0, 5, br_handle_sync_group, BR_ON_GROUPS },
	{ KP_API_DESCRIBE_GROUPS, 0, 5, br_handle_describe_groups, BR_ON_GROUPS },
	{ KP_API_LIST_GROUPS, 0, 4, br_handle_list_groups, BR_ON_GROUPS },
	{ KP_API_API_VERSIONS, 0, 3, br_handle_api_versions },       /* api_versions.c */
	{ KP_API_CREATE_TOPICS, 0, 7, br_handle_create_topics, BR_ON_ADMIN },     /* api_admin.c */
	{ KP_API_DELETE_TOPICS, 0, 6, br_handle_delete_topics, BR_ON_ADMIN },
	{ KP_API_DELETE_RECORDS, 0, 2, br_api_delete_records, BR_ON_ADMIN },      /* api_delete_records.c */
	/* Blocking: it may reserve a block of producer ids on disk. */
	{ KP_API_INIT_PRODUCER_ID, 0, 5, br_api_init_producer_id, BR_ON_ADMIN }, /* producer_ids.c */
	{ KP_API_DESCRIBE_CONFIGS, 0, 4, br_handle_describe_configs }, /* api_configs.c */
	{ KP_API_ALTER_CONFIGS, 0, 2, br_handle_alter_configs, BR_ON_ADMIN },
	{ KP_API_DESCRIBE_LOG_DIRS, 0, 4, br_handle_describe_log_dirs },
	{ KP_API_CREATE_PARTITIONS, 0, 3, br_handle_create_partitions, BR_ON_ADMIN }, /* api_admin.c */
	{ KP_API_DELETE_GROUPS, 0, 2, br_handle_delete_groups, BR_ON_GROUPS }, /* api_groups.c */
	{ KP_API_INCREMENTAL_ALTER_CONFIGS, 0, 1, br_handle_incremental_alter_configs, BR_ON_ADMIN },
	{ KP_API_OFFSET_DELETE, 0, 0, br_handle_offset_delete, BR_ON_GROUPS }, /* api_offsets.c */
	{ KP_API_DESCRIBE_CLUSTER, 0, 1, br_handle_describe_cluster },
	{ KP_API_DESCRIBE_PRODUCERS, 0, 0, br_api_describe_producers },    /* api_describe_producers.c */
};

const size_t br_apis_len = sizeof(br_apis) / sizeof(br_apis[0]);

const br_api *br_api_find(int16_t api_key)
{
	size_t lo = 0, hi = br_apis_len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (br_apis[mid].api_key == api_key)
			return &br_apis[mid];
		if (br_apis[mid].api_key < api_key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
