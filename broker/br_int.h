/*
 * br_int.h -- declarations shared between the broker's own files.
 *
 * The broker is three layers, each owning its files:
 *
 *   net      reactor.c conn.c server.c handlers.c http.c metrics.c
 *            libevent reactor threads own connections: framing, request
 *            headers, dispatch through one table (br_apis), responses in
 *            request order, back-pressure, idle and size limits, file
 *            regions sent with sendfile, /metrics and /healthz.
 *   topics   topics.c api_metadata.c api_admin.c api_configs.c
 *            the topic registry (names, topic ids, partitions, per-topic
 *            configs persisted) and the APIs that read or change it.
 *   data     api_produce.c api_fetch.c api_list_offsets.c api_delete_records.c
 *            the record path: produce (acks 0/1/-1, answered after the
 *            storage callback), fetch (long poll, zero copy), offsets.
 *
 *   groups   group.c group_offsets.c group_store.c strmap.c api_groups.c
 *            api_offsets.c api_find_coordinator.c
 *            the consumer-group coordinator and committed offsets, kept in
 *            the internal topic __consumer_offsets; one thread
 *            (b->groups_thread) owns all of it.
 *
 * Data flows one way: socket -> conn (frame) -> handler (decode with the
 * generated codecs) -> topics/storage -> handler (encode) -> conn (send, file
 * regions by sendfile).
 *
 * Threads: a request belongs to the reactor thread that read it. A handler
 * either answers at once (BR_RESPOND) or parks the request (BR_PARKED) and
 * later calls br_request_done() on that same reactor thread; work finishing
 * elsewhere (storage's writer thread, a timer on another reactor) gets back
 * with br_reactor_post(). No lock is ever held across I/O.
 */
#ifndef REWIND_BR_INT_H
#define REWIND_BR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "broker/broker.h"
#include "proto/proto.h"
#include "proto/schema/kp_msgs.h"

struct event_base;

/* ================================================================ logging */

/* One log line to stderr: UTC time, level, message. @locality any */
void br__logf(enum st_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The storage log hook, forwarding to br__logf(). */
void br__store_log(void *arg, enum st_log_level level, const char *msg);

/* Kafka error code (>= 0) for an error of ours (st_err, kp_err, -errno,
 * br_err): e.g. ST_ERR_OFFSET_OUT_OF_RANGE -> OFFSET_OUT_OF_RANGE (1),
 * KP_ERR_CRC -> CORRUPT_MESSAGE (2), -ENOSPC -> KAFKA_STORAGE_ERROR (56). */
int16_t br_kafka_error(int err);

/* Kafka's error codes used by the broker (a subset of Kafka's list). */
enum br_kafka_error_code {
	KE_NONE = 0,
	KE_UNKNOWN_SERVER_ERROR = -1,
	KE_OFFSET_OUT_OF_RANGE = 1,
	KE_CORRUPT_MESSAGE = 2,
	KE_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KE_INVALID_FETCH_SIZE = 4,
	KE_LEADER_NOT_AVAILABLE = 5,
	KE_NOT_LEADER_OR_FOLLOWER = 6,
	KE_REQUEST_TIMED_OUT = 7,
	KE_MESSAGE_TOO_LARGE = 10,
	KE_OFFSET_METADATA_TOO_LARGE = 12,
	KE_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KE_COORDINATOR_NOT_AVAILABLE = 15,
	KE_NOT_COORDINATOR = 16,
	KE_INVALID_TOPIC_EXCEPTION = 17,
	KE_RECORD_LIST_TOO_LARGE = 18,
	KE_NOT_ENOUGH_REPLICAS = 19,
	KE_INVALID_REQUIRED_ACKS = 21,
	KE_ILLEGAL_GENERATION = 22,
	KE_INCONSISTENT_GROUP_PROTOCOL = 23,
	KE_INVALID_GROUP_ID = 24,
	KE_UNKNOWN_MEMBER_ID = 25,
	KE_INVALID_SESSION_TIMEOUT = 26,
	KE_REBALANCE_IN_PROGRESS = 27,
	KE_INVALID_COMMIT_OFFSET_SIZE = 28,
	KE_INVALID_TIMESTAMP = 32,
	KE_UNSUPPORTED_VERSION = 35,
	KE_TOPIC_ALREADY_EXISTS = 36,
	KE_INVALID_PARTITIONS = 37,
	KE_INVALID_REPLICATION_FACTOR = 38,
	KE_INVALID_REPLICA_ASSIGNMENT = 39,
	KE_INVALID_REQUEST = 42,
	KE_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KE_POLICY_VIOLATION = 44,
	KE_INVALID_CONFIG = 40,
	KE_KAFKA_STORAGE_ERROR = 56,
	KE_NON_EMPTY_GROUP = 68,
	KE_GROUP_ID_NOT_FOUND = 69,
	KE_FETCH_SESSION_ID_NOT_FOUND = 70,
	KE_INVALID_FETCH_SESSION_EPOCH = 71,
	KE_FENCED_LEADER_EPOCH = 74,
	KE_UNKNOWN_LEADER_EPOCH = 75,
	KE_MEMBER_ID_REQUIRED = 79,
	KE_GROUP_MAX_SIZE_REACHED = 81,
	KE_FENCED_INSTANCE_ID = 82,
	KE_GROUP_SUBSCRIBED_TO_TOPIC = 86,
	KE_UNKNOWN_TOPIC_ID = 100,
	KE_INCONSISTENT_TOPIC_ID = 103,
	KE_UNSUPPORTED_ENDPOINT_TYPE = 115,
};

/* ============================================================ the broker */

typedef struct br_reactor br_reactor;
typedef struct br_conn br_conn;
typedef struct br_topics br_topics;
typedef struct br_metrics br_metrics;

/*
 * One broker process. Built by main.c; every layer borrows it. Fields are
 * set before the reactors start and read-only afterwards.
 */
typedef struct br_broker {
	br_config cfg;
	st_store *store;
	st_cleaner *cleaner;          /* log compaction; NULL with log.cleaner.enable=false */
	br_topics *topics;            /* topics layer */
	br_metrics *metrics;          /* net layer */
	br_reactor **reactors;        /* net layer; n_reactors of them */
	int n_reactors;
	/* net layer: a reactor thread with no connections, where the handlers
	 * of blocking APIs (br_api.blocking) run, so no connection's reactor
	 * ever waits on an fsync or a file open */
	br_reactor *admin;
	/* groups layer: the thread that owns every consumer group (a reactor
	 * without connections, like admin) and the coordinator it runs */
	br_reactor *groups_thread;
	struct br_groups *groups;
	uint8_t cluster_id[16];       /* persisted in the first log dir (meta.properties) */
	char cluster_id_str[23];      /* its base64url form, as Kafka prints it */
	/* producer_ids.c: the producer-id manager. The one mutable part: owned
	 * by the admin thread (InitProducerId is a blocking API). */
	struct {
		int64_t next;         /* the next id to hand out */
		int64_t block_end;    /* ids below it are reserved on disk */
		bool loaded;          /* the block file was read */
	} producer_ids;
} br_broker;

/* ============================================================== net layer */

typedef void br_task_fn(void *arg);

/* Runs fn(arg) on reactor r's thread soon, in posting order. Safe from any
 * thread (storage's writer included). 0 or -ENOMEM (fn is then not run).
 * @locality any */
int br_reactor_post(br_reactor *r, br_task_fn *fn, void *arg);
/* The reactor's libevent base, for timers of parked requests.
 * @locality that reactor */
struct event_base *br_reactor_base(br_reactor *r);

/* What a handler returns. */
enum br_handled {
	BR_RESPOND = 0,      /* req->resp holds the response body: send it */
	BR_PARKED = 1,       /* br_request_done() will be called later */
	BR_NO_RESPONSE = 2,  /* acks=0 produce: nothing is sent */
	/* < 0: the request is malformed beyond a Kafka error: log the reason
	 * (br_request_fail's message) and close the connection. */
};

struct br_request;
typedef int br_handler_fn(struct br_request *req);

/*
 * One request, from its frame to its response. Owned by the net layer;
 * handlers fill `resp` (and slices) and may park it.
 */
typedef struct br_request {
	br_broker *broker;            /* borrowed */
	br_reactor *reactor;          /* the thread the request belongs to */
	br_conn *conn;                /* NULL once the client has gone: the
	                                 response is then dropped at done */
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	kp_str client_id;             /* view into the frame */
	char peer[64];                /* "127.0.0.1:54321", for log lines */
	kp_reader body;               /* the body after the header: view into the frame */
	kp_arena arena;               /* decoded messages; freed with the request */
	/* The response body (after the response header, which the net layer
	 * writes). External regions in it (kp_buf_put_external) are file
	 * slices, sent with sendfile: the i-th region is slices[i]. */
	kp_buf resp;
	st_slice *slices;
	size_t n_slices;
	size_t cap_slices;
	int64_t received_ns;          /* CLOCK_MONOTONIC, for latency metrics */
	void *handler_state;          /* for parked handlers */
	/* Set by a handler that parks for long (a long-poll fetch): the net
	 * layer calls it on the request's reactor when the client goes away
	 * (req->conn is already NULL), so the handler can let go of what it
	 * holds and call br_request_done() now rather than at its deadline. */
	void (*on_gone)(struct br_request *req);
	/* The response's error code for the requests-by-error metric: a handler
	 * sets the top-level ErrorCode, or the first non-zero partition error;
	 * 0 (the default) when all went well. (net layer addition) */
	int16_t error_code;
	/* private to the net layer */
	struct br_request *next;
	uint8_t *frame;
	size_t frame_len;
	bool done;
	bool in_handler;              /* br_request_done() inside the handler */
	bool parked;                  /* its handler returned BR_PARKED */
	bool no_response;             /* BR_NO_RESPONSE */
	uint8_t resp_hdr[12];         /* size, correlation id, empty tags */
	size_t resp_hdr_len;
	size_t wire_len;              /* resp_hdr_len + kp_buf_wire_len(&resp) */
	size_t sent;                  /* wire bytes of the response sent so far */
	size_t queued;                /* bytes counted in the conn's queue */
	int fail_err;                 /* br_request_fail() */
	char fail_why[160];
	br_handler_fn *offload_handler; /* an API run on b->admin or b->groups_thread */
	int offload_rc;               /* what it returned */
} br_request;

/* Appends a file slice as the next external region of req->resp (the caller
 * wrote its length prefix and called kp_buf_put_external for s->len bytes,
 * or lets the records encoder do so). Takes ownership of the slice
 * reference. 0 or -ENOMEM (the slice is then released). @locality reactor */
int br_request_add_slice(br_request *req, st_slice *s);

/* Completes a parked request: its response is sent in request order on its
 * connection (or dropped if the connection has gone) and the request is
 * freed. @locality the request's reactor */
void br_request_done(br_request *req);

/* Sends the answer of a request that a BR_ON_GROUPS handler parked (its
 * response is in req->resp): posts it back to its reactor. The caller must
 * not touch req afterwards. @locality b->groups_thread */
void br_request_return(br_request *req);

/* Notes a Kafka error code the response carries (the first non-zero one
 * counts) for the requests-by-error metric, and returns it, so a handler
 * writes `x->ErrorCode = br_request_note_error(req, code);`. */
static inline int16_t br_request_note_error(struct br_request *req, int16_t code)
{
	if (code != 0 && req->error_code == 0)
		req->error_code = code;
	return code;
}

/* kstr.c: Kafka string views and C strings, copied into a request's arena.
 * br__kstr: NULL (or a failed allocation) gives the null string.
 * br__kstr_msg: an ErrorMessage: also "" gives null, as Kafka sends none.
 * br__cstr: a NUL-terminated copy; NULL for a null view or a failed
 * allocation. @locality the request's thread */
kp_str br__kstr(kp_arena *a, const char *s);
kp_str br__kstr_msg(kp_arena *a, const char *s);
const char *br__cstr(kp_arena *a, kp_str s);
/* br__cstr, but "" for a null view or a failed allocation: for request
 * fields where null and empty mean the same (group and member ids). The
 * arena is sized for the frame, so only an absurd frame fails. */
const char *br__cstr_empty(kp_arena *a, kp_str s);

/* Records why a handler returns < 0, for the disconnect log line. */
int br_request_fail(br_request *req, int err, const char *why);


/* Where an API's handler runs. */
enum br_api_thread {
	/* On the connection's reactor: the handler answers at once or parks. */
	BR_ON_REACTOR = 0,
	/* The handler does blocking file I/O (creates or deletes logs, writes
	 * and fsyncs checkpoints): the net layer runs it on b->admin, one at a
	 * time, and sends its answer from the request's reactor. Such a handler
	 * returns BR_RESPOND or < 0, never parks, and touches only the request
	 * and thread-safe layers (@locality admin). */
	BR_ON_ADMIN = 1,
	/* A group API: it runs on b->groups_thread, which owns every group
	 * (see the groups layer). It returns BR_RESPOND or < 0, or BR_PARKED
	 * once it has handed the request to br_request_return() (at once or
	 * later, from that thread). */
	BR_ON_GROUPS = 2,
};

/* One API the broker serves: the versions it advertises in ApiVersions and
 * accepts, and its handler. */
typedef struct br_api {
	int16_t api_key;
	int16_t min_version;
	int16_t max_version;
	br_handler_fn *handler;
	enum br_api_thread thread;
} br_api;

/* handlers.c: the table, sorted by api_key. */
extern const br_api br_apis[];
extern const size_t br_apis_len;
const br_api *br_api_find(int16_t api_key);

/* metrics.c: counters the handlers feed. @locality any (atomics) */
void br_metrics_request(br_metrics *m, int16_t api_key, int16_t error_code);
void br_metrics_bytes(br_metrics *m, int64_t in, int64_t out);
void br_metrics_latency(br_metrics *m, int16_t api_key, int64_t ns);

/* ------------------------------------------- net layer: start and stop */

/* main.c's view of the net layer (server.c, metrics.c, http.c). */
typedef struct br_server br_server;
typedef struct br_http br_http;

/* 0 or -ENOMEM; free with br_metrics_free() after every reactor stopped.
 * @locality main */
int br_metrics_new(br_metrics **out);
void br_metrics_free(br_metrics *m);
/* Live connections: adds delta, returns the new count. @locality any */
int64_t br_metrics_connections(br_metrics *m, int delta);

/*
 * Starts the reactor threads (num.network.threads; 0 = one per core; sets
 * b->reactors), binds every `listeners` entry (PLAINTEXT://host:port; port 0
 * picks a free one) and accepts on `base` (main's loop), handing connections
 * round-robin to the reactors. Logs "listening on host:port" per listener.
 * 0, -errno (bind) or BR_ERR_CONFIG (a listener that does not parse; named
 * in the log). On failure nothing is left running. @locality main
 */
int br_server_start(br_broker *b, struct event_base *base, br_server **out);
/*
 * Stops accepting, stops reading requests, lets the requests in flight
 * finish and their responses go out (at most timeout_ms), then closes
 * every connection. Reactors keep running, so storage callbacks and timers
 * of parked requests still complete (and free) them. Blocks. @locality main
 */
void br_server_quiesce(br_server *s, int64_t timeout_ms);
/* Waits (at most timeout_ms) for parked requests to finish, stops and joins
 * the reactors and frees everything. Call after br_topics_close().
 * @locality main */
void br_server_free(br_server *s, int64_t timeout_ms);

/* /metrics (Prometheus text) and /healthz on metrics.listener, served by
 * its own thread. *out is NULL when metrics.listener is empty. 0, -errno or
 * BR_ERR_CONFIG. @locality main */
int br_http_start(br_broker *b, br_http **out);
void br_http_stop(br_http *h);

/* ------------------------------------- net layer internals (its files only) */

struct br__task;

/* One reactor thread: its loop, its connections and the queue other
 * threads post to. Owned by server.c; fields below `mu` belong to the
 * reactor's thread. */
struct br_reactor {
	br_broker *broker;            /* borrowed */
	int index;
	struct event_base *base;
	pthread_t thread;
	bool started;
	int wake_fd;                  /* eventfd: posts wake the loop */
	struct event *wake_ev;
	struct event *sweep_ev;       /* idle connections; draining */
	pthread_mutex_t mu;           /* guards the task queue only */
	struct br__task *tasks, *tasks_tail;
	/* the reactor thread's own */
	br_conn *conns;               /* live connections (conn.c's list) */
	int n_conns;
	int64_t n_requests;           /* requests alive, parked ones included */
	bool draining;                /* quiesce: read nothing more */
	atomic_bool stopping;
	atomic_int idle;              /* quiesce/stop progress for main */
};

/* reactor.c */
int br__reactor_new(br_broker *b, int index, br_reactor **out);
int br__reactor_start(br_reactor *r);
/* Asks the loop to close its connections once drained; returns at once. */
void br__reactor_quiesce(br_reactor *r);
/* True when the reactor has no connection left (after quiesce) and, with
 * requests_too, no request alive. @locality any */
bool br__reactor_drained(br_reactor *r, bool requests_too);
/* Stops the loop, joins the thread, runs tasks still queued, frees. */
void br__reactor_free(br_reactor *r);
/* clock.c */
int64_t br__now_ms(void);               /* CLOCK_MONOTONIC */
int64_t br__wall_ms(void);              /* CLOCK_REALTIME, for stored timestamps */
int64_t br__now_ns(void);

/* conn.c: connections of one reactor. @locality that reactor */
int br__conn_open(br_reactor *r, int fd, const char *peer);
void br__conns_sweep(br_reactor *r, int64_t now_ms);   /* idle timeout; drain */
void br__conns_close_all(br_reactor *r, const char *why);

struct evbuffer;
/* metrics.c: appends the Prometheus text of every metric (partition
 * gauges through br_topics_foreach). @locality any (the HTTP thread) */
void br__metrics_render(br_metrics *m, br_broker *b, struct evbuffer *out);

/*
 * conn.c: reads the request header of req->frame (req->frame_len bytes)
 * into req->api_key, api_version, correlation_id, client_id and body
 * (decoding with req->arena). BR__HDR_OK with *api its br_apis row;
 * BR__HDR_UNKNOWN_API; BR__HDR_UNSUPPORTED (a version outside *api's range;
 * client_id and body unset); or a kp_err when the header does not decode.
 * Pure (no I/O), shared with tests/fuzz/fuzz_request.c. @locality any
 */
enum { BR__HDR_OK = 0, BR__HDR_UNKNOWN_API = 1, BR__HDR_UNSUPPORTED = 2 };
int br__request_header_parse(br_request *req, const br_api **api);

/* The ApiVersions handler (api_versions.c). */
int br_handle_api_versions(br_request *req);
/* Fills req->resp with a v0 ApiVersionsResponse saying UNSUPPORTED_VERSION
 * and listing br_apis' ranges, as Kafka answers an ApiVersions version it
 * does not know. 0 or a kp_err. */
int br__api_versions_unsupported(br_request *req);

/* ============================================================ topics layer */

/*
 * A partition of a topic: its log and the fetches waiting on it.
 * Lives as long as its topic.
 */
typedef struct br_part {
	struct br_topic *topic;       /* borrowed back-pointer */
	int32_t index;
	st_log *log;
	char *dir;
	/* Long-poll fetches waiting for data: the data layer's list, under mu. */
	pthread_mutex_t mu;
	struct br_fetch_waiter *waiters;
	/* When a produce refusal for the log's state (offline, a full disk)
	 * was last logged, CLOCK_MONOTONIC ms: such a refusal repeats for
	 * every request while the state lasts (api_produce.c). */
	_Atomic int64_t state_refusal_logged_ms;
} br_part;

/* Per-topic settings (topic config overrides applied over broker defaults). */
typedef struct br_topic_config {
	st_log_config log;            /* retention.*, segment.*, index, flush, timestamp type */
	int compression_type;         /* -1 = "producer", else a kp_codec */
	bool compact;                 /* cleanup.policy contains compact */
	bool delete_policy;           /* cleanup.policy contains delete */
	int32_t max_message_bytes;    /* max.message.bytes */
	int32_t min_insync_replicas;  /* min.insync.replicas */
	/* message.timestamp.before.max.ms, .after.max.ms and the deprecated
	 * .difference.max.ms as configured (DescribeConfigs shows these).
	 * log.ts_before/after_max_ms hold the windows they give: before or
	 * after where it is not INT64_MAX (the default), else difference. */
	int64_t ts_before_max_ms;
	int64_t ts_after_max_ms;
	int64_t ts_difference_max_ms;
} br_topic_config;

typedef struct br_topic {
	char *name;
	uint8_t id[16];               /* topic id (UUID), persisted */
	int32_t n_parts;
	br_part **parts;              /* n_parts of them */
	br_topic_config cfg;
	atomic_int refs;              /* br_topics_get/br_topic_put */
	bool deleted;                 /* set by delete; the last put frees it */
} br_topic;

/* Opens every topic under log.dirs (replaces registry.c's role), creating
 * the cluster id on first start. @locality main, before reactors start */
int br_topics_open(br_broker *b, br_topics **out);
void br_topics_close(br_topics *t);

/* Looks a topic up by name (len bytes, not NUL-terminated) or id; takes a
 * reference the caller drops with br_topic_put(). NULL if unknown (or being
 * deleted). @locality any */
br_topic *br_topics_get(br_topics *t, const char *name, size_t len);
br_topic *br_topics_get_by_id(br_topics *t, const uint8_t id[16]);
void br_topic_put(br_topic *topic);

/* The partition, or NULL when out of range. Borrowed from the topic. */
br_part *br_topic_part(br_topic *topic, int32_t index);

/* The partition's leader epoch as Metadata reports it (0 before any epoch
 * is recorded). @locality any */
int32_t br_part_leader_epoch(br_part *part);

/*
 * Checks a request's CurrentLeaderEpoch (Fetch v9+, ListOffsets v4+)
 * against the partition's, as Kafka's leader does: -1 skips the check, an
 * older epoch is FENCED_LEADER_EPOCH (the client's metadata is stale), a
 * newer one UNKNOWN_LEADER_EPOCH (this broker is behind). KE_NONE when it
 * matches. @locality any
 */
int16_t br_part_check_leader_epoch(br_part *part, int32_t current_leader_epoch);

/*
 * Creates a topic with n_parts partitions (num.partitions when n_parts is
 * -1) and config overrides given as key=value pairs; validate_only checks
 * without creating. Returns a Kafka error code (KE_*) and a message for the
 * response's ErrorMessage in errbuf. @locality any (serialised inside)
 */
int16_t br_topics_create(br_topics *t, const char *name, size_t len, int32_t n_parts,
			 const char *const *config_keys, const char *const *config_values,
			 size_t n_configs, bool validate_only, char *errbuf, size_t errlen);

/* Calls fn for every live topic, in name order, with a reference held for
 * the call. @locality any */
void br_topics_foreach(br_topics *t, void (*fn)(br_topic *topic, void *arg), void *arg);

/* Runs retention over every partition (a background thread calls it). */
int br_topics_enforce_retention(br_topics *t, int64_t now_ms);

/* Live topics and partitions, for the start-up line. @locality any */
int br_topics_partition_count(br_topics *t);
int br_topics_topic_count(br_topics *t);

/* A topic id or cluster id in Kafka's printed form: base64url, no padding,
 * 22 characters + NUL. */
void br_uuid_to_str(const uint8_t id[16], char out[23]);
/* Parses that form; 0 or -EINVAL. */
int br_uuid_parse(const char *s, size_t len, uint8_t out[16]);

/* The topic configs rewind knows (Kafka's names); the count of them. */
#define BR_TOPIC_CONFIG_KEYS 19

/* Replicas in sync with a partition's leader: the leader alone, as
 * Metadata lists it, on a single node. min.insync.replicas above it
 * refuses acks=all (api_produce.c). */
#define BR_IN_SYNC_REPLICAS 1

/* Kafka's ConfigSource values for DescribeConfigs and CreateTopics v5+. */
enum br_config_source {
	BR_SOURCE_DYNAMIC_TOPIC_CONFIG = 1,
	BR_SOURCE_STATIC_BROKER_CONFIG = 4,
	BR_SOURCE_DEFAULT_CONFIG = 5,
};

/* One topic config as DescribeConfigs shows it. Strings are static or held
 * in the entry itself. */
typedef struct br_config_entry {
	const char *name;             /* "retention.ms" */
	const char *synonym;          /* the broker key it defaults from: "log.retention.ms" */
	const char *doc;
	int8_t config_type;           /* Kafka ConfigType: 2 string, 3 int, 5 long, 7 list */
	bool is_override;             /* set on the topic (DYNAMIC_TOPIC_CONFIG) */
	char value[48];               /* effective value */
	char broker_value[48];        /* the broker's value for the synonym */
} br_config_entry;

/* Fills out[BR_TOPIC_CONFIG_KEYS] with the topic's configs in a fixed
 * order. @locality any */
void br_topic_configs(br_topics *t, br_topic *topic, br_config_entry *out);

/* Kafka's ConfigSource of a topic config (api_configs.c): the topic's own
 * override, else its broker key as set in broker.conf / --set, else the
 * default. @locality any */
int8_t br_topic_config_source(const br_config *cfg, const br_config_entry *e);

/* One change of IncrementalAlterConfigs (AlterConfigs uses SET and DELETE
 * only). name and value are NUL-terminated and borrowed for the call;
 * value is NULL for DELETE. */
enum br_config_op_type {
	BR_CONFIG_SET = 0, BR_CONFIG_DELETE = 1, BR_CONFIG_APPEND = 2, BR_CONFIG_SUBTRACT = 3,
};
typedef struct br_config_op {
	const char *name;
	const char *value;
	int op;
} br_config_op;

/*
 * Changes a topic's config overrides: incremental applies ops to the
 * current overrides; otherwise the ops replace them all (AlterConfigs).
 * All or nothing: an unknown key or bad value changes nothing
 * (INVALID_CONFIG). The result is persisted, then applied to the open logs.
 * Returns a KE_* code and a message in errbuf. @locality any (serialised
 * inside; blocks on a small atomic file write)
 */
int16_t br_topics_alter_configs(br_topics *t, br_topic *topic, const br_config_op *ops,
				size_t n_ops, bool incremental, bool validate_only,
				char *errbuf, size_t errlen);

/*
 * Deletes a topic (the caller holds a reference from br_topics_get): it
 * disappears from lookups at once; its partition directories are renamed
 * to `<topic>-<p>.<id hex>-delete` (after a marker is persisted, so a crash
 * at any point finishes the delete at the next start instead of reopening
 * part of the topic); the last br_topic_put() closes the logs and removes
 * the directories. KE_NONE, KE_UNKNOWN_TOPIC_OR_PARTITION if it is already
 * deleted, KE_KAFKA_STORAGE_ERROR. @locality any (serialised inside)
 */
int16_t br_topics_delete(br_topics *t, br_topic *topic, char *errbuf, size_t errlen);

/*
 * Grows a topic to `count` partitions. KE_INVALID_PARTITIONS unless count
 * is larger than today's. Readers see n_parts grow only after the new
 * partitions are open, and old `parts` arrays stay valid until the topic is
 * freed, so br_topic_part() needs no lock. @locality any (serialised inside)
 */
int16_t br_topics_create_partitions(br_topics *t, br_topic *topic, int32_t count,
				    bool validate_only, char *errbuf, size_t errlen);

/* The endpoint clients are told to use: the first of advertised.listeners
 * (else listeners), a wildcard host replaced by the host name. 0 or
 * -EINVAL. @locality any */
int br_advertised_endpoint(const br_config *c, char *host, size_t hostlen, int32_t *port);

/* The handlers of the topics layer (for the br_apis table). Each decodes
 * req->body, answers in req->resp and returns BR_RESPOND (or < 0 for a body
 * that does not decode). @locality reactor */
int br_handle_metadata(br_request *req);            /* api_metadata.c */
int br_handle_create_topics(br_request *req);       /* api_admin.c */
int br_handle_delete_topics(br_request *req);
int br_handle_create_partitions(br_request *req);
int br_handle_describe_configs(br_request *req);    /* api_configs.c */
int br_handle_alter_configs(br_request *req);
int br_handle_incremental_alter_configs(br_request *req);
int br_handle_describe_cluster(br_request *req);
int br_handle_describe_log_dirs(br_request *req);

/* ============================================================== data layer */

/* Wakes the fetches parked on a partition whose readable end moved.
 * @locality any (posts to each waiter's reactor) */
void br_part_wake_fetches(br_part *p);

/* The data layer's handlers (br_apis entries). Each decodes req->body with
 * the generated codecs and answers per Kafka; see the top of each file.
 * @locality the request's reactor */
int br_api_produce(br_request *req);          /* api_produce.c: Produce v3-v9;
                                                 acks 1/-1 park until storage
                                                 calls back, acks 0 answers nothing */
int br_api_fetch(br_request *req);            /* api_fetch.c: Fetch v4-v13;
                                                 long poll parks */
int br_api_list_offsets(br_request *req);     /* api_list_offsets.c: v1-v7 */
int br_api_delete_records(br_request *req);   /* api_delete_records.c: v0-v2 */

/* ============================================================ groups layer */

/*
 * The group coordinator (group.c) owns every consumer group and committed
 * offset; it lives on b->groups_thread and every function below runs there
 * (@locality groups) unless it says otherwise. Group APIs are BR_ON_GROUPS
 * rows of br_apis. Committed offsets and group metadata are records of the
 * internal topic __consumer_offsets (group_store.c), loaded at start.
 */
#define BR_OFFSETS_TOPIC "__consumer_offsets"
#define BR_TOPIC_NAME_MAX 249

typedef struct br_groups br_groups;

/* strmap.c: byte-string keys -> borrowed pointers; one owner thread.
 * Iteration order depends on the keys only. Deleting the entry an iterator
 * stands on is not allowed while iterating. */
typedef struct br_strmap_entry br_strmap_entry;
typedef struct br_strmap {
	br_strmap_entry **slots;
	size_t n, cap;
} br_strmap;
typedef struct br_strmap_iter {
	size_t slot;
	br_strmap_entry *entry;
} br_strmap_iter;                       /* start from { 0 } */
void br_strmap_init(br_strmap *m);
/* free_value (may be NULL) is called on every value. */
void br_strmap_free(br_strmap *m, void (*free_value)(void *value));
void *br_strmap_get(const br_strmap *m, const void *key, size_t klen);
/* Inserts or replaces (the replaced value in *old, may be NULL). 0 or -ENOMEM. */
int br_strmap_put(br_strmap *m, const void *key, size_t klen, void *value, void **old);
/* Removes the key; its value, or NULL. */
void *br_strmap_del(br_strmap *m, const void *key, size_t klen);
br_strmap_entry *br_strmap_next(const br_strmap *m, br_strmap_iter *it);
const void *br_strmap_entry_key(const br_strmap_entry *e, size_t *klen);
void *br_strmap_entry_value(const br_strmap_entry *e);

/* One committed offset, as stored. metadata is borrowed. */
typedef struct br_offset_value {
	int64_t offset;
	int32_t leader_epoch;         /* -1: unknown */
	const char *metadata;
	int64_t commit_ts;            /* wall ms */
	int64_t expire_ts;            /* -1: the group's retention applies */
} br_offset_value;

/* One member of a group metadata record; strings and bytes borrowed. */
typedef struct br_group_record_member {
	const char *member_id;
	const char *instance_id;      /* NULL: dynamic */
	const char *client_id;
	const char *client_host;
	int32_t rebalance_timeout_ms;
	int32_t session_timeout_ms;
	const uint8_t *subscription;  /* the chosen protocol's metadata */
	int32_t subscription_len;
	const uint8_t *assignment;
	int32_t assignment_len;
} br_group_record_member;

typedef struct br_group_record {
	const char *protocol_type;    /* "" when none */
	int32_t generation;
	const char *protocol_name;    /* NULL when none */
	const char *leader;           /* NULL when none */
	int64_t state_ts;
	size_t n_members;
	const br_group_record_member *members;
} br_group_record;

/* group_store.c: the records of __consumer_offsets in Kafka's formats. */
int32_t br__offsets_partition_for(const char *group_id, int32_t n_parts);
void br__offset_commit_key(kp_buf *b, const char *group, const char *topic, size_t topic_len,
			   int32_t partition);
void br__offset_commit_value(kp_buf *b, const br_offset_value *v);
void br__group_metadata_key(kp_buf *b, const char *group);
void br__group_metadata_value(kp_buf *b, const br_group_record *g);

/* One record to append: key and value bytes (value NULL: a tombstone). */
typedef struct br_gstore_record {
	const kp_buf *key;
	const kp_buf *value;
} br_gstore_record;
typedef void br_gstore_done_fn(void *arg, int err);
/*
 * Appends the records, as one batch, to partition `partition` of
 * __consumer_offsets (copied: the buffers may go when this returns).
 * done(arg, err) runs on b->groups_thread once the batch is durable (err 0)
 * or failed. 0, or an error (done is then not called): ST_ERR_NOT_FOUND
 * when the topic or partition does not exist, or what st_log_append says.
 */
int br__gstore_append(br_broker *b, int32_t partition, const br_gstore_record *recs, size_t n,
		      br_gstore_done_fn *done, void *arg);
/* What the load calls for each record, in log order; value/rec NULL for
 * a tombstone. Strings are valid for the call only. */
typedef struct br_gstore_visitor {
	void (*offset)(void *arg, const char *group_id, const char *topic, size_t tlen,
		       int32_t partition, const br_offset_value *value);
	void (*group)(void *arg, const char *group_id, const br_group_record *rec);
} br_gstore_visitor;
/* Reads every partition of __consumer_offsets (if it exists) from its
 * start; *records counts them. 0 or the first read error (logged). Blocks
 * on reads. */
int br__gstore_load(br_broker *b, const br_gstore_visitor *v, void *arg, int64_t *records);
/* The partition count of __consumer_offsets (the configured one until it
 * exists). @locality any */
int br__groups_partitions(const br_groups *g);
/* Creates __consumer_offsets if it does not exist (compacted, with
 * offsets.topic.num.partitions partitions). A KE_* code.
 * @locality admin (blocks on file creation) */
int16_t br__offsets_topic_ensure(br_broker *b);

/* group.c: life cycle. @locality main */
int br_groups_new(br_broker *b, br_groups **out);
/* Posts the load of __consumer_offsets as the groups thread's first task. */
int br_groups_start(br_groups *g);
/* Answers every parked group request (NOT_COORDINATOR) and stops every
 * timer; requests after it get NOT_COORDINATOR. Returns at once. */
void br_groups_quiesce(br_groups *g);
/* After the groups thread stopped. */
void br_groups_free(br_groups *g);

/* JoinGroup: the request's fields as C strings (borrowed for the call). */
typedef struct br_join_protocol {
	const char *name;
	const uint8_t *metadata;
	int32_t metadata_len;
} br_join_protocol;
typedef struct br_join_args {
	int16_t version;
	const char *group_id;
	const char *member_id;        /* "" for a new member */
	const char *instance_id;      /* NULL: dynamic member */
	const char *client_id;
	const char *client_host;
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	const char *protocol_type;
	const br_join_protocol *protocols;
	size_t n_protocols;
} br_join_args;

/* What a JoinGroup answers; strings borrowed for the call. */
typedef struct br_join_member {
	const char *member_id;
	const char *instance_id;
	const uint8_t *metadata;
	int32_t metadata_len;
} br_join_member;
typedef struct br_join_result {
	int16_t error;
	int32_t generation;
	const char *protocol_type;
	const char *protocol_name;
	const char *leader;
	const char *member_id;
	const br_join_member *members;  /* the leader's answer only */
	size_t n_members;
} br_join_result;

/* Joins (or rejoins) a group: the request is answered now or parked until
 * the rebalance completes; either way it ends in br__join_group_answer(). */
void br_group_join(br_groups *g, br_request *req, const br_join_args *a);
/* api_groups.c: encodes the JoinGroup response of `version` into req->resp
 * and returns the request (br_request_return). */
void br__join_group_answer(br_request *req, int16_t version, const br_join_result *r);

typedef struct br_sync_assignment {
	const char *member_id;
	const uint8_t *data;
	int32_t len;
} br_sync_assignment;
typedef struct br_sync_args {
	const char *group_id;
	const char *member_id;
	const char *instance_id;
	int32_t generation;
	const char *protocol_type;    /* NULL: not sent (before v5) */
	const char *protocol_name;
	const br_sync_assignment *assignments;   /* the leader's */
	size_t n_assignments;
} br_sync_args;
/* SyncGroup: answered now or once the leader's assignment is stored,
 * through br__sync_group_answer(). */
void br_group_sync(br_groups *g, br_request *req, const br_sync_args *a);
void br__sync_group_answer(br_request *req, int16_t error, const char *protocol_type,
			   const char *protocol_name, const uint8_t *assignment, int32_t len);

/* Heartbeat and LeaveGroup answer at once: a KE_* code. */
int16_t br_group_heartbeat(br_groups *g, const char *group_id, const char *member_id,
			   const char *instance_id, int32_t generation);
int16_t br_group_leave(br_groups *g, const char *group_id, const char *member_id,
		       const char *instance_id);

/* Returned instead of a KE_* code when the answer comes later, through
 * the done callback. */
#define BR_GROUP_PENDING 65536
typedef void br_commit_done_fn(void *arg, int err);

/* One partition of an OffsetCommit or OffsetDelete. `error` is set by the
 * coordinator (a partition already holding an error is skipped). topic is
 * borrowed until done runs. */
typedef struct br_commit {
	const char *topic;
	size_t topic_len;
	int32_t partition;
	br_offset_value value;
	bool delete;
	int16_t error;
} br_commit;
typedef struct br_commit_args {
	const char *group_id;
	const char *member_id;        /* "" outside group management */
	const char *instance_id;
	int32_t generation;           /* -1 outside group management */
} br_commit_args;
/*
 * Validates and stores offsets. Returns a KE_* code for the whole request
 * (commits untouched but per-partition errors), KE_NONE when every
 * partition was refused on its own, or BR_GROUP_PENDING: done(arg, err)
 * runs once the records are durable, with each commit's error set.
 */
int br_group_commit(br_groups *g, const br_commit_args *a, br_commit *commits, size_t n,
		    br_commit_done_fn *done, void *arg);
/* The committed offset of one partition: 0, or -ENOENT when none.
 * out->metadata is borrowed until the coordinator next changes. */
int br_group_offset_fetch(br_groups *g, const char *group_id, const char *topic, size_t tlen,
			  int32_t partition, br_offset_value *out);
/* Calls fn for every committed offset of a group. */
void br_group_offsets_foreach(br_groups *g, const char *group_id,
			      void (*fn)(void *arg, const char *topic, size_t tlen, int32_t partition,
					 const br_offset_value *v),
			      void *arg);
/* OffsetDelete: whether a topic's offsets may go (GROUP_ID_NOT_FOUND,
 * GROUP_SUBSCRIBED_TO_TOPIC while a member subscribes to it), then the
 * tombstones as br_group_commit() stores commits (0 or an error). */
int16_t br_group_offset_delete_check(br_groups *g, const char *group_id, const char *topic,
				     size_t tlen);
int br_group_offsets_delete(br_groups *g, const char *group_id, br_commit *commits, size_t n,
			    br_commit_done_fn *done, void *arg);

/* ListGroups, DescribeGroups, DeleteGroups. */
void br_groups_list(br_groups *g, void (*fn)(void *arg, const char *group_id,
					     const char *protocol_type, const char *state),
		    void *arg);
typedef struct br_group_member_info {
	const char *member_id, *instance_id, *client_id, *client_host;
	const uint8_t *metadata;
	int32_t metadata_len;
	const uint8_t *assignment;
	int32_t assignment_len;
} br_group_member_info;
typedef struct br_group_info {
	const char *group_id, *state, *protocol_type, *protocol_name;
	br_group_member_info *members;      /* in the arena */
	size_t n_members;
} br_group_info;
/* Fills *out (borrowed until the coordinator next changes; the members
 * array in a). A KE_* code; an unknown group is described as Dead. */
int16_t br_group_describe(br_groups *g, const char *group_id, kp_arena *a, br_group_info *out);
/* Deletes an Empty group and its offsets: a KE_* code, or BR_GROUP_PENDING
 * (done runs once the tombstones are durable). */
int br_group_delete(br_groups *g, const char *group_id, br_commit_done_fn *done, void *arg);

/* --------------------- groups layer internals (group.c, group_offsets.c) */

/* Kafka's group states; DEAD only describes a group that does not exist. */
enum br__group_state { BR__GROUP_EMPTY, BR__GROUP_PREPARING, BR__GROUP_COMPLETING, BR__GROUP_STABLE, BR__GROUP_DEAD };

struct br__protocol {
	char *name;
	uint8_t *metadata;
	int32_t metadata_len;
};

struct br__member {
	struct br__group *group;
	struct br__member *next;
	char *id;
	char *instance_id;            /* NULL: dynamic member */
	char *client_id;
	char *client_host;
	int32_t session_timeout_ms;
	int32_t rebalance_timeout_ms;
	struct br__protocol *protocols;   /* in the member's order of preference */
	int n_protocols;
	uint8_t *assignment;
	int32_t assignment_len;
	br_request *join_req;         /* parked JoinGroup */
	int16_t join_version;
	br_request *sync_req;         /* parked SyncGroup */
	struct event *expire_ev;      /* session timeout */
};

/* A member told MEMBER_ID_REQUIRED, expected back with its id. */
struct br__pending {
	struct br__pending *next;
	struct br__group *group;
	char *id;
	struct event *expire_ev;
};

/* One committed offset. */
struct br__committed {
	int64_t offset;
	int32_t leader_epoch;
	int64_t commit_ts;
	int64_t expire_ts;            /* -1: the group's retention applies */
	char *metadata;
};

/* One group. Owned by br_groups (its map); every field belongs to the
 * groups thread. */
struct br__group {
	br_groups *owner;
	char *id;
	enum br__group_state state;
	int64_t state_ts;             /* wall ms of the last state change */
	int32_t generation;
	char *protocol_type;          /* NULL until a member joins */
	char *protocol_name;          /* chosen for this generation */
	char *leader;                 /* member id */
	struct br__member *members;       /* in join order */
	int n_members;
	struct br__pending *pending;
	struct event *join_ev;        /* rebalance / initial delay */
	bool initial_delay;           /* join_ev is the initial delay */
	int64_t delay_deadline_ms;    /* monotonic: the delay never runs past it */
	br_strmap offsets;            /* "topic\0" + be32 partition -> committed */
	int64_t writes_in_flight;     /* appends not yet completed; they hold
	                                 the group, so a deleted group is freed
	                                 only when the last one completes */
	bool deleted;                 /* DeleteGroups took it out of the map */
};

/* The coordinator. */
struct br_groups {
	br_broker *b;
	br_strmap groups;             /* id -> struct br__group */
	struct event *expiry_ev;      /* offsets retention sweep */
	bool loaded;
	bool stopped;
};


/* group.c */
struct event_base *br__groups_base(br_groups *g);
struct br__group *br__group_find(br_groups *g, const char *id);
/* NULL when out of memory. */
struct br__group *br__group_get_or_create(br_groups *g, const char *id);
/* Frees a group no longer in the map. */
void br__group_free(struct br__group *grp);
/* Drops an Empty group holding nothing (no members, offsets or appends). */
void br__group_maybe_forget(struct br__group *grp);
/* Takes a group out of the map for good (DeleteGroups): freed now, or by
 * br__group_write_done() of its last append in flight. */
void br__group_remove(struct br__group *grp);
/* An append of the group completed: true when that freed a removed group
 * (the caller must not touch it any more). */
bool br__group_write_done(struct br__group *grp);
struct br__member *br__member_find(const struct br__group *grp, const char *id);
/* The request names an older incarnation of a static member. */
bool br__group_fenced(const struct br__group *grp, const char *member_id, const char *instance_id);
/* The member showed life: its session timeout starts again. */
void br__member_heartbeat(struct br__member *m);

/* group_offsets.c */
void br__committed_free(void *committed);
/* Sets (value) or removes (NULL) a committed offset in memory. */
void br__offset_apply(br_groups *g, const char *group_id, const char *topic, size_t tlen,
		      int32_t partition, const br_offset_value *value);
/* The offsets retention pass (offsets.retention.check.interval.ms). */
void br__groups_expire(br_groups *g);

/* The group APIs' handlers (br_apis rows; BR_ON_GROUPS but FindCoordinator,
 * which is BR_ON_ADMIN as it may create __consumer_offsets). */
int br_handle_find_coordinator(br_request *req);    /* api_find_coordinator.c */
int br_handle_join_group(br_request *req);          /* api_groups.c */
int br_handle_sync_group(br_request *req);
int br_handle_heartbeat(br_request *req);
int br_handle_leave_group(br_request *req);
int br_handle_list_groups(br_request *req);
int br_handle_describe_groups(br_request *req);
int br_handle_delete_groups(br_request *req);
int br_handle_offset_commit(br_request *req);        /* api_offsets.c */
int br_handle_offset_fetch(br_request *req);
int br_handle_offset_delete(br_request *req);

/* ==================================================== idempotent producers */

/* producer_ids.c, api_describe_producers.c; the sequence checks themselves
 * are storage's (st_log_append), mapped to Kafka codes in errors.c. */

/* Kafka error codes of idempotent produce and InitProducerId. */
enum br_kafka_error_code_producers {
	KE_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KE_INVALID_PRODUCER_EPOCH = 47,
	KE_INVALID_TXN_STATE = 48,
	KE_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
	KE_INVALID_RECORD = 87,
};

/* Producer ids are reserved on disk this many at a time. */
#define BR_PRODUCER_ID_BLOCK 1000

/* A new producer id in *out, reserving the next block in
 * <log.dirs[0]>/producer-id-block first when needed. 0, -errno or
 * ST_ERR_CORRUPT (the file does not parse; logged). @locality admin */
int br_producer_ids_next(br_broker *b, int64_t *out);
/* Whether `id` may have been handed out by this broker, in this run or an
 * earlier one (ids below the current block). @locality admin */
bool br_producer_ids_issued(br_broker *b, int64_t id);

/* InitProducerId v0-v5 (blocking: runs on the admin thread) and
 * DescribeProducers v0 (reactor). */
int br_api_init_producer_id(br_request *req);
int br_api_describe_producers(br_request *req);

#endif /* REWIND_BR_INT_H */
