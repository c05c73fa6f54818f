/*
 * broker.h -- the broker library: configuration and the partition registry,
 * as the rewind-broker program and the tests may call them.
 *
 * Configuration is Kafka-style `key=value` lines (a file, then repeatable
 * --set overrides), with Kafka's key names where Kafka has one. Every key
 * the broker accepts is in one table (broker/config.c) with its type, range,
 * default and purpose; an unknown key or a malformed value is refused with a
 * message naming it, so a typo never silently falls back to a default.
 *
 * The topic registry (broker/topics.c, declared in broker/br_int.h) owns
 * the open partition logs of the broker's log.dirs: directories named
 * `<topic>-<partition>`.
 */
#ifndef REWIND_BROKER_H
#define REWIND_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/storage.h"

enum br_err {
	BR_ERR_CONFIG = -3001,        /* a configuration key or value is refused */
	BR_ERR_DATA_DIR = -3002,      /* a log dir cannot be used */
};

const char *br_strerror(int err);

/* ----------------------------------------------------------------- config */

#define BR_MAX_LOG_DIRS 16

typedef struct br_config {
	int32_t node_id;                    /* node.id */
	char *log_dirs[BR_MAX_LOG_DIRS];    /* log.dirs (comma-separated) */
	int n_log_dirs;
	int64_t log_retention_check_interval_ms;
	bool io_uring;                      /* log.io.uring.enable */
	st_log_config log;                  /* log.* defaults for every partition */
	/* log.message.timestamp.difference.max.ms (deprecated in Kafka 3.6):
	 * the window on either side where log.ts_before/after_max_ms are left
	 * at their default; topics.c resolves it, as Kafka 3.6-3.9 does */
	int64_t log_ts_difference_max_ms;

	/* network */
	char *listeners;                    /* listeners, e.g. PLAINTEXT://127.0.0.1:9092 */
	char *advertised_listeners;         /* advertised.listeners; NULL = listeners */
	char *listener_security_protocol_map; /* listener.security.protocol.map:
	                                       NAME:PROTOCOL,...; NULL = each
	                                       listener's name is its protocol */
	char *controller_listener_names;    /* controller.listener.names: listeners
	                                       not opened (no separate controller) */
	char *process_roles;                /* process.roles: unset, or broker and
	                                       controller both (one combined node) */
	int32_t num_network_threads;        /* num.network.threads; 0 = one per core */
	int32_t num_recovery_threads_per_data_dir; /* num.recovery.threads.per.data.dir:
	                                       threads per log dir opening the logs
	                                       at start, closing them at shutdown */
	int32_t socket_send_buffer_bytes;   /* socket.send.buffer.bytes: SO_SNDBUF of
	                                       accepted connections; -1 = the OS's */
	int32_t socket_receive_buffer_bytes;/* socket.receive.buffer.bytes: SO_RCVBUF */
	int32_t socket_request_max_bytes;   /* socket.request.max.bytes */
	int32_t max_connections;            /* max.connections */
	int64_t connections_max_idle_ms;    /* connections.max.idle.ms */
	int64_t connection_max_queued_bytes;/* connection.max.queued.bytes (rewind):
	                                       a connection with more response bytes
	                                       queued stops being read */
	char *metrics_listener;             /* metrics.listener (rewind): host:port of
	                                       /metrics and /healthz; empty = off */

	/* topics */
	int32_t num_partitions;             /* num.partitions */
	bool auto_create_topics_enable;     /* auto.create.topics.enable */
	int16_t default_replication_factor; /* default.replication.factor */
	int compression_type;               /* compression.type: -1 = producer, else kp_codec */
	bool cleanup_compact;               /* log.cleanup.policy has compact */
	bool cleanup_delete;                /* log.cleanup.policy has delete */
	int32_t message_max_bytes;          /* message.max.bytes */
	int32_t min_insync_replicas;        /* min.insync.replicas: acks=all needs
	                                       this many replicas in sync */

	/* groups and committed offsets */
	int32_t group_min_session_timeout_ms;   /* group.min.session.timeout.ms */
	int32_t group_max_session_timeout_ms;   /* group.max.session.timeout.ms */
	int64_t group_initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
	int32_t group_max_size;                 /* group.max.size */
	int32_t offsets_topic_num_partitions;   /* offsets.topic.num.partitions */
	int16_t offsets_topic_replication_factor; /* offsets.topic.replication.factor:
	                                           1, the one node */
	int64_t offsets_topic_segment_bytes;    /* offsets.topic.segment.bytes */
	int64_t offsets_retention_ms;           /* offsets.retention.minutes (or .ms) */
	int64_t offsets_retention_check_interval_ms; /* offsets.retention.check.interval.ms */
	int32_t offset_metadata_max_bytes;      /* offset.metadata.max.bytes */

	/* log cleaner (storage/cleaner.c; the per-topic settings are in log) */
	bool log_cleaner_enable;                /* log.cleaner.enable */
	int32_t log_cleaner_threads;            /* log.cleaner.threads */
	int64_t log_cleaner_io_max_bytes_per_second; /* log.cleaner.io.max.bytes.per.second */
	int64_t log_cleaner_dedupe_buffer_size; /* log.cleaner.dedupe.buffer.size */
	int64_t log_cleaner_backoff_ms;         /* log.cleaner.backoff.ms */
	/* private to config.c: the unit (hours/minutes/ms) that last set a field */
	uint8_t segment_ms_unit;
	uint8_t retention_ms_unit;
	uint8_t offsets_retention_unit;
	uint64_t set_mask;                  /* one bit per key br_config_set()
	                                       assigned (file or --set) */
	uint32_t inert_set;                 /* Kafka keys set that have no effect
	                                       here (br_config_inert_set) */
} br_config;

/* Fills Kafka's defaults (log.dirs=data). Release with br_config_free(). */
void br_config_init(br_config *c);
void br_config_free(br_config *c);

/*
 * Applies one `key=value` assignment. On error returns BR_ERR_CONFIG and
 * writes a sentence naming the key (and value) to errbuf.
 */
int br_config_set(br_config *c, const char *assignment, char *errbuf, size_t errlen);

/*
 * Reads a config file: `key=value` lines, `#` or `!` comments, blank lines,
 * whitespace around key and value ignored. Every line goes through
 * br_config_set(); the first error stops it, naming file and line.
 */
int br_config_load(br_config *c, const char *path, char *errbuf, size_t errlen);

/* Whether controller.listener.names names listener [name, name + len). */
bool br_config_listener_is_controller(const br_config *c, const char *name, size_t len);
/* The security protocol of listener [name, name + len): its entry in
 * listener.security.protocol.map, else the name itself (Kafka's rule), into
 * buf; returns buf. */
const char *br_config_listener_protocol(const br_config *c, const char *name, size_t len,
					char *buf, size_t buflen);

/* Calls fn for each Kafka key the configuration set that has no effect in
 * rewind (num.io.threads, say), with the reason, for the start-up log. */
void br_config_inert_set(const br_config *c, void (*fn)(const char *name, const char *why, void *arg),
			 void *arg);

/* Writes every key with its current value, one `key=value` per line. */
void br_config_dump(const br_config *c, FILE *out);

/* True when key `name` (or a key writing the same setting, such as
 * log.retention.hours for log.retention.ms) was assigned by the config
 * file or --set, rather than left at its default: Kafka's
 * STATIC_BROKER_CONFIG as opposed to DEFAULT_CONFIG. */
bool br_config_is_set(const br_config *c, const char *name);
/* The default value of canonical key `name` as br_config_dump() prints it,
 * into out. 0, or -1 for a key it does not print. */
int br_config_default(const char *name, char *out, size_t len);

/* Value parsers shared with topic configs: 0, or -1 for a bad value. */
int br_cleanup_policy_parse(const char *v, bool *compact, bool *del);
int br_compression_type_parse(const char *v, int *codec);   /* -1 = producer */
const char *br_compression_type_name(int codec);

/* ----------------------------------------------------------------- topics */

/*
 * Splits a partition directory name `<topic>-<partition>` (the topic may
 * itself hold '-'). Returns false when the name is not of that form or the
 * topic is not a legal Kafka topic name. *topic_len is the topic's length.
 */
bool br_partition_dir_parse(const char *name, size_t *topic_len, int32_t *partition);

#endif /* REWIND_BROKER_H */
