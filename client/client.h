/*
 * client.h -- rewind's own Kafka client library, as the rest of rewind may
 * use it.
 *
 * Today this is the blocking layer the command-line tools need: one
 * connection per broker, one request in flight on it at a time, every wait
 * bounded by a deadline. It is built in three layers so that the
 * asynchronous (libevent) client of issue 6 can reuse the lower ones:
 *
 *   framing    pure functions that wrap a request body in its header and
 *              split a response frame into correlation id and body
 *              (client/frame.c); no sockets, so an event loop can use them;
 *   cl_conn    one blocking TCP connection to one broker: connect with a
 *              timeout, the ApiVersions handshake that picks, per API, the
 *              highest version both the broker and proto/'s generated codecs
 *              implement, and request/response by correlation id
 *              (client/conn.c);
 *   cl_client  a cluster seen from a bootstrap list: Metadata (brokers,
 *              topics, partitions, leaders), a connection per broker opened
 *              on first use, FindCoordinator for a group, and typed helpers
 *              for the admin requests (client/client.c, client/offsets.c,
 *              client/groups.c, client/admin.c: topics, configs, sizes).
 *
 * Errors are values: every function returns 0 or a negative error, one of
 *   -errno            a system call failed (connect, send, recv, ...);
 *   enum kp_err       proto/ could not encode or decode (-1001 .. -1199);
 *   enum cl_err       this library's own conditions (-2001 .. -2099);
 *   cl_err_kafka(c)   a Kafka error code c the broker answered for a whole
 *                     request (-10000 - c; UNKNOWN_SERVER_ERROR is -9999).
 * cl_strerror() names any of them; Kafka's codes get Kafka's names
 * (NOT_COORDINATOR, ...). Per-partition and per-group outcomes are kept as
 * Kafka error codes (int16_t, 0 = none) in the results, named by
 * cl_kafka_err_name(). A cl_client also keeps a sentence saying what its
 * last failure was doing (cl_client_errmsg): "connect to 127.0.0.1:9092:
 * Connection refused". Nothing here exits or aborts on bad input or a bad
 * broker.
 *
 * Ownership: every pointer parameter is borrowed for the duration of the
 * call unless it says otherwise. Results (cl_metadata, cl_group_list, ...)
 * are single allocations the caller frees with the matching _free(); every
 * string and array inside a result lives exactly as long as the result.
 *
 * Threads: a cl_client or cl_conn belongs to one thread at a time
 * (@locality any, not shared); the library keeps no global mutable state,
 * so separate clients may be used from separate threads.
 */
#ifndef REWIND_CLIENT_H
#define REWIND_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* ================================================================ errors */

enum cl_err {
	CL_ERR_TIMEOUT = -2001,      /* no answer within the timeout */
	CL_ERR_CLOSED = -2002,       /* the peer closed the connection */
	CL_ERR_PROTOCOL = -2003,     /* a response that does not parse, a wrong
	                                correlation id, an absurd frame size */
	CL_ERR_UNSUPPORTED = -2004,  /* no version of the API is implemented by
	                                both the broker and rewind's codecs */
	CL_ERR_RESOLVE = -2005,      /* a host name does not resolve */
	CL_ERR_BOOTSTRAP = -2006,    /* a bootstrap list that does not parse */
	CL_ERR_NO_BROKER = -2007,    /* no bootstrap broker could be reached */
	CL_ERR_NO_LEADER = -2008,    /* a partition has no leader the client
	                                can reach (metadata names none) */
	CL_ERR_ARG = -2009,          /* a bad argument (programmer's or user's) */
	CL_ERR_BROKEN = -2010,       /* the connection failed earlier and must
	                                be reopened */
	CL_ERR_QUEUE_FULL = -2011,   /* the producer's buffer.memory is full:
	                                poll for delivery reports and retry */
	CL_ERR_MSG_TIMED_OUT = -2012, /* a record was not delivered within
	                                delivery.timeout.ms */
	CL_ERR_FATAL = -2013,        /* the producer hit an error it cannot
	                                recover from (cl_producer_errmsg) */
	CL_ERR_STOPPED = -2014,      /* the producer is closing */
};

/* Kafka error codes as error values, and back. */
#define CL_ERR_KAFKA_BASE (-10000)
static inline int cl_err_kafka(int16_t code)
{
	return code == 0 ? 0 : CL_ERR_KAFKA_BASE - code;
}
static inline bool cl_err_is_kafka(int err)
{
	return err <= CL_ERR_KAFKA_BASE + 1 && err >= CL_ERR_KAFKA_BASE - 32767;
}
/* The Kafka code of an error for which cl_err_is_kafka() holds. */
static inline int16_t cl_err_kafka_code(int err)
{
	return (int16_t)(CL_ERR_KAFKA_BASE - err);
}

/*
 * A static description of any error value above: strerror() for -errno,
 * kp_strerror() for proto's, a sentence for cl_err, and Kafka's name for a
 * Kafka error ("NON_EMPTY_GROUP"; cl_kafka_err_desc() says more). Never
 * NULL.
 */
const char *cl_strerror(int err);
/* Kafka's name for an error code ("NOT_COORDINATOR"), or NULL for a code
 * this table does not know. 0 is "NONE". */
const char *cl_kafka_err_name(int16_t code);
/* A short description of a Kafka error code; never NULL. */
const char *cl_kafka_err_desc(int16_t code);
/* A SCREAMING_CASE name for any error value: Kafka's name for a Kafka
 * error (NOT_LEADER_OR_FOLLOWER), and names in the same style for the
 * client's own (MSG_TIMED_OUT, QUEUE_FULL, TIMED_OUT, ...) and errno
 * values (ECONNREFUSED). "NONE" for 0. Never NULL. */
const char *cl_err_name(int err);
/* True for the codes Kafka marks retriable (a later try may succeed). */
bool cl_kafka_err_retriable(int16_t code);

/* ============================================================= addresses */

/* One host:port of a bootstrap list. */
typedef struct cl_hostport {
	char host[256];               /* name or address, without [] for IPv6 */
	int port;
} cl_hostport;

#define CL_DEFAULT_PORT 9092

/*
 * Parses "host:port[,host:port...]" (spaces around entries allowed; a
 * missing port is CL_DEFAULT_PORT; IPv6 as "[::1]:9092") into out[0..max).
 * Returns how many entries were parsed (>= 1), or CL_ERR_BOOTSTRAP with a
 * sentence in err (errlen bytes, may be 0) for an empty list, an empty
 * entry, a bad port or more than max entries. Pure. @locality any
 */
int cl_bootstrap_parse(const char *list, cl_hostport *out, size_t max,
		       char *err, size_t errlen);

/* ============================================================== framing */

/*
 * Appends one request frame to out: int32 size, the request header (version
 * from kp_request_header_version(api_key, version)) with correlation_id and
 * client_id (borrowed C string, may be NULL), then body's bytes. 0, or a
 * kp_err (the request header cannot be encoded, allocation), or
 * CL_ERR_ARG when body holds external regions. Pure. @locality any
 */
int cl_frame_request(kp_buf *out, int16_t api_key, int16_t version,
		     int32_t correlation_id, const char *client_id,
		     const kp_buf *body);

/*
 * Splits a response frame (the bytes after its int32 size) for a request
 * of (api_key, version): decodes the response header into *correlation_id
 * and points *body at the rest (a view into frame). 0 or CL_ERR_PROTOCOL
 * when the header does not parse. Pure. @locality any
 */
int cl_frame_response(const uint8_t *frame, size_t len, int16_t api_key,
		      int16_t version, int32_t *correlation_id, kp_reader *body);

/*
 * The version to speak for api_key, given the broker's advertised range
 * [broker_min, broker_max] and the client's lowest usable version
 * client_min (some old shapes are not implemented by the helpers): the
 * highest version within the broker's range, the generated codecs' range
 * and >= client_min; -1 when there is none. Pure. @locality any
 */
int16_t cl_version_pick(int16_t api_key, int16_t broker_min, int16_t broker_max,
			int16_t client_min);

/* ============================================================ connection */

typedef struct cl_conn cl_conn;

/* Settings shared by connections and clients. */
typedef struct cl_opts {
	const char *client_id;        /* borrowed; default "rewind" when NULL */
	int connect_timeout_ms;       /* default 10000 when <= 0 */
	int request_timeout_ms;       /* default 30000 when <= 0 */
	size_t max_response_bytes;    /* default 100 MiB when 0 */
} cl_opts;

/*
 * Connects to host:port within the connect timeout, then runs the
 * ApiVersions handshake (retrying once with the broker's own highest
 * ApiVersions version if it refuses ours). On success *out is a connection
 * the caller closes with cl_conn_close(). On failure *out is NULL, the
 * result is an error value and err (errlen bytes, may be 0) holds a
 * sentence naming the address and what failed.
 */
int cl_conn_open(const char *host, int port, const cl_opts *opts,
		 cl_conn **out, char *err, size_t errlen);

/* Closes the socket and frees c; NULL is fine. */
void cl_conn_close(cl_conn *c);

/* The version this connection speaks for api_key (the highest both sides
 * implement), or -1 when there is none. */
int16_t cl_conn_api_version(const cl_conn *c, int16_t api_key);

/* The broker's advertised range for api_key; false when it has none. */
bool cl_conn_broker_range(const cl_conn *c, int16_t api_key,
			  int16_t *min_version, int16_t *max_version);

/*
 * Sends one request (body: the encoded request body, borrowed) and waits
 * for its response within the request timeout. On success resp holds the
 * response body (kp_buf_reset first; the header is removed): decode it with
 * kp_<Name>Response_decode(version); decoded views point into resp. Errors:
 * -errno, CL_ERR_TIMEOUT, CL_ERR_CLOSED, CL_ERR_PROTOCOL (wrong correlation
 * id, a frame over max_response_bytes); after any of them the connection is
 * broken and every later call fails with CL_ERR_BROKEN.
 */
int cl_conn_call(cl_conn *c, int16_t api_key, int16_t version,
		 const kp_buf *body, kp_buf *resp);

/* A sentence about the connection's last failure ("" when none); valid
 * until the next call on c. */
const char *cl_conn_errmsg(const cl_conn *c);
/* "host:port" of the connection; valid while c lives. */
const char *cl_conn_addr(const cl_conn *c);
/* True after a failure that made the connection unusable. */
bool cl_conn_broken(const cl_conn *c);

/* =============================================================== client */

typedef struct cl_client cl_client;

/*
 * A client for the cluster reachable through `bootstrap` (see
 * cl_bootstrap_parse). Nothing is connected yet. opts is copied (client_id
 * too). 0 and *out (caller frees with cl_client_free()), or CL_ERR_BOOTSTRAP
 * / -ENOMEM with cl_client-less message in err (errlen bytes, may be 0).
 */
int cl_client_new(const char *bootstrap, const cl_opts *opts, cl_client **out,
		  char *err, size_t errlen);
/* Closes every connection and frees c; NULL is fine. */
void cl_client_free(cl_client *c);

/* A sentence saying what the last failed call on c was doing and why
 * ("" when none). Valid until the next call on c. */
const char *cl_client_errmsg(const cl_client *c);

/*
 * Connects to the first reachable bootstrap broker and learns the cluster's
 * brokers from Metadata (no topics). Called by every helper below when the
 * client has no broker yet; callers may call it early to fail early. 0 or
 * an error (CL_ERR_NO_BROKER when none of the bootstrap brokers answered;
 * the message says what each one did).
 */
int cl_client_connect(cl_client *c);

/*
 * The connection to broker node_id, opened on first use from the address
 * Metadata gave (borrowed; owned by c, valid until c is freed or the
 * connection breaks and a later call replaces it).
 */
int cl_client_broker(cl_client *c, int32_t node_id, cl_conn **out);

/* ------------------------------------------------------------- metadata */

typedef struct cl_broker_info {
	int32_t node_id;
	const char *host;
	int port;
} cl_broker_info;

typedef struct cl_partition_info {
	int32_t partition;
	int16_t error;                /* Kafka error code, 0 = none */
	int32_t leader;               /* node id, -1 = none */
	int32_t *replicas;            /* n_replicas node ids, leader's order */
	size_t n_replicas;
	int32_t *isr;                 /* n_isr in-sync replicas */
	size_t n_isr;
} cl_partition_info;

typedef struct cl_topic_info {
	const char *name;
	int16_t error;                /* e.g. UNKNOWN_TOPIC_OR_PARTITION */
	bool internal;
	bool has_id;                  /* Metadata v10+ named a topic id */
	uint8_t topic_id[16];         /* the topic's UUID when has_id */
	cl_partition_info *partitions; /* n_partitions, ordered by partition */
	size_t n_partitions;
} cl_topic_info;

typedef struct cl_metadata {
	cl_broker_info *brokers;
	size_t n_brokers;
	cl_topic_info *topics;        /* in the broker's order */
	size_t n_topics;
	int32_t controller_id;
	kp_arena mem;                 /* private: holds everything above */
} cl_metadata;

/*
 * Metadata for topics[0..n) (borrowed C strings), or for every topic when
 * topics is NULL. Never asks the broker to create a topic. Refreshes the
 * client's broker list. 0 and *out (caller frees with cl_metadata_free()),
 * or an error. A topic that does not exist is a result with its error set,
 * not a failure.
 */
int cl_metadata_get(cl_client *c, const char *const *topics, size_t n,
		    cl_metadata **out);
void cl_metadata_free(cl_metadata *md);
/* The topic named name in md, or NULL. */
const cl_topic_info *cl_metadata_topic(const cl_metadata *md, const char *name);

/* ----------------------------------------------------------- list offsets */

/* Special timestamps of ListOffsets. */
#define CL_OFFSET_LATEST   (-1)   /* the log end offset (high watermark) */
#define CL_OFFSET_EARLIEST (-2)   /* the log start offset */

/* One partition's question and answer. */
typedef struct cl_list_offset {
	const char *topic;            /* IN, borrowed for the call */
	int32_t partition;            /* IN */
	int64_t timestamp;            /* IN: ms, or CL_OFFSET_LATEST/EARLIEST */
	int16_t error;                /* OUT: Kafka error code, 0 = none */
	int64_t offset;               /* OUT: -1 when no record is at or after
	                                 the timestamp */
	int64_t found_timestamp;      /* OUT: the record's timestamp, or -1 */
} cl_list_offset;

/*
 * ListOffsets for each of q[0..n), each sent to its partition's leader
 * (found by Metadata). 0 when every request got an answer (per-partition
 * outcomes in q[i].error; a partition with no leader gets
 * LEADER_NOT_AVAILABLE, an unknown topic UNKNOWN_TOPIC_OR_PARTITION), or an
 * error when a broker could not be asked.
 */
int cl_list_offsets(cl_client *c, cl_list_offset *q, size_t n);

/* ---------------------------------------------------------- coordinator */

/*
 * The connection to the coordinator of group (borrowed, owned by c; see
 * cl_client_broker), found by FindCoordinator and retried while the broker
 * answers COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS, until
 * the request timeout. 0 or an error.
 */
int cl_coordinator(cl_client *c, const char *group, cl_conn **out);

/* --------------------------------------------------------------- groups */

typedef struct cl_group_listing {
	const char *group;
	const char *protocol_type;    /* "consumer" for consumer groups */
	const char *state;            /* "" when the broker's version has none */
} cl_group_listing;

typedef struct cl_group_list {
	cl_group_listing *groups;     /* sorted by group name */
	size_t n_groups;
	kp_arena mem;                 /* private */
} cl_group_list;

/* ListGroups on every broker of the cluster. 0 and *out (caller frees with
 * cl_group_list_free()), or an error (a broker could not be asked, or
 * answered an error for the whole request). */
int cl_list_groups(cl_client *c, cl_group_list **out);
void cl_group_list_free(cl_group_list *l);

/* A topic's partitions in a consumer member's assignment. */
typedef struct cl_assigned_topic {
	const char *topic;
	int32_t *partitions;
	size_t n_partitions;
} cl_assigned_topic;

typedef struct cl_group_member {
	const char *member_id;
	const char *group_instance_id;  /* NULL when not a static member */
	const char *client_id;
	const char *client_host;
	/* The consumer protocol assignment, decoded when the group's protocol
	 * type is "consumer" and it parses; otherwise none (assignment_ok
	 * false, the raw bytes below). */
	bool assignment_ok;
	cl_assigned_topic *assignment;
	size_t n_assignment;
	const uint8_t *raw_assignment;
	size_t raw_assignment_len;
} cl_group_member;

typedef struct cl_group_desc {
	const char *group;
	int16_t error;                /* per-group Kafka error code */
	const char *state;            /* "Empty", "Stable", "Dead", ... */
	const char *protocol_type;
	const char *protocol;         /* the assignor ("range", ...) */
	cl_group_member *members;
	size_t n_members;
	kp_arena mem;                 /* private */
} cl_group_desc;

/* DescribeGroups for one group at its coordinator. 0 and *out (caller frees
 * with cl_group_desc_free()) -- also for a group the broker does not know:
 * its error is GROUP_ID_NOT_FOUND or its state "Dead" -- or an error. */
int cl_describe_group(cl_client *c, const char *group, cl_group_desc **out);
void cl_group_desc_free(cl_group_desc *d);

/*
 * Decodes a ConsumerProtocolAssignment (the bytes a consumer group's leader
 * hands each member: int16 version, [topic string, [int32 partition]],
 * user data) into arrays allocated from mem. 0 or CL_ERR_PROTOCOL. Pure.
 */
int cl_consumer_assignment_parse(const uint8_t *p, size_t len, kp_arena *mem,
				 cl_assigned_topic **topics, size_t *n_topics);

/* One partition's committed offset. */
typedef struct cl_committed {
	const char *topic;
	int32_t partition;
	int64_t offset;               /* -1 = none committed */
	const char *metadata;         /* "" when none */
	int16_t error;
} cl_committed;

typedef struct cl_group_offsets {
	cl_committed *offsets;        /* sorted by topic, then partition */
	size_t n_offsets;
	kp_arena mem;                 /* private */
} cl_group_offsets;

/*
 * OffsetFetch of group's committed offsets, every topic (callers filter).
 * 0 and *out (caller frees with cl_group_offsets_free()), or an error (a
 * group-level Kafka error becomes cl_err_kafka()). A partition without a
 * committed offset has offset -1 or is absent; an unknown group has none.
 */
int cl_offset_fetch(cl_client *c, const char *group, cl_group_offsets **out);
void cl_group_offsets_free(cl_group_offsets *o);

/* One partition of an OffsetCommit or OffsetDelete. */
typedef struct cl_tp_offset {
	const char *topic;            /* IN, borrowed */
	int32_t partition;            /* IN */
	int64_t offset;               /* IN (commit only) */
	int16_t error;                /* OUT: Kafka error code, 0 = none */
} cl_tp_offset;

/*
 * Commits q[i].offset for each partition as an administrator does (Kafka's
 * kafka-consumer-groups): generation -1, empty member id, so the broker
 * accepts it only while the group has no members. 0 when the coordinator
 * answered (per-partition outcomes in q[i].error), or an error.
 */
int cl_offset_commit(cl_client *c, const char *group, cl_tp_offset *q, size_t n);

/* OffsetDelete of q[0..n)'s partitions (offset ignored). 0 when the
 * coordinator answered for every partition (outcomes in q[i].error), or an
 * error (a request-level Kafka error such as GROUP_ID_NOT_FOUND or
 * NON_EMPTY_GROUP becomes cl_err_kafka()). */
int cl_offset_delete(cl_client *c, const char *group, cl_tp_offset *q, size_t n);

/* DeleteGroups for one group at its coordinator. 0 when deleted, the
 * group's Kafka error as cl_err_kafka() (NON_EMPTY_GROUP,
 * GROUP_ID_NOT_FOUND), or another error. */
int cl_delete_group(cl_client *c, const char *group);

/* ==================================================== asynchronous layer */
/*
 * The libevent core the producer and the consumer are built on (issue 6).
 * Three pieces, all in client/:
 *
 *   cl_io       one background thread running an event_base (io.c); other
 *               threads reach it only through cl_io_call(): a queue plus an
 *               eventfd wake-up, never a lock held across I/O;
 *   cl_wire     an asynchronous, pipelined connection to one broker
 *               (wire.c): non-blocking connect, the ApiVersions handshake,
 *               then requests written back to back and answers matched by
 *               correlation id (Kafka answers in order per connection);
 *   cl_cluster  the cluster as the io thread sees it (cluster.c): bootstrap
 *               list, node id -> wire, a Metadata cache (partition counts,
 *               leaders) refreshed on demand, coalesced and rate-limited.
 *
 * Everything on a cl_wire or a cl_cluster runs on its cl_io's thread
 * (@locality io); callbacks run there too. A function that takes a callback
 * and returns an error never calls it (libuv's rule).
 */

struct event_base;
typedef struct cl_io cl_io;

/*
 * Starts a thread (named name, at most 15 characters kept) running a fresh
 * event_base. 0 and *out (stop with cl_io_stop()), or -errno / -ENOMEM.
 * @locality any
 */
int cl_io_start(const char *name, cl_io **out);
/*
 * Runs every call queued before it, stops the loop, joins the thread and
 * frees io (NULL is fine). Calls queued after the loop ended run on the
 * calling thread. @locality any but the io thread itself
 */
void cl_io_stop(cl_io *io);
/*
 * Runs fn(arg) on the io thread soon, in the order calls were queued.
 * 0, or -ENOMEM (fn is then never called). @locality any
 */
int cl_io_call(cl_io *io, void (*fn)(void *arg), void *arg);
/* The loop (borrowed, lives as long as io). @locality io */
struct event_base *cl_io_base(cl_io *io);
/* True on io's thread. @locality any */
bool cl_io_on_thread(const cl_io *io);

typedef struct cl_wire cl_wire;

/*
 * Appends the request body for `version` to body (borrowed for the call).
 * body already holds the frame's size and header before the body: append
 * only (the generated kp_<Name>Request_encode does), never reset it. 0, or
 * an error (body then cut back by the wire): done is called with it and
 * nothing is sent.
 */
typedef int cl_wire_encode_fn(void *arg, int16_t version, kp_buf *body);
/*
 * The outcome of one request: err 0 and body the response body (a view
 * valid only during the call; decode with kp_<Name>Response_decode(version)),
 * or an error (-errno, CL_ERR_TIMEOUT, CL_ERR_CLOSED, CL_ERR_UNSUPPORTED,
 * CL_ERR_PROTOCOL, CL_ERR_BROKEN, or the encoder's error) and body NULL.
 * Called exactly once per accepted request, on the io thread. It may send
 * on this wire or any other, or close this one.
 */
typedef void cl_wire_done_fn(void *arg, int err, int16_t version, kp_reader *body);

/*
 * Starts connecting to host:port (resolved on the io thread with
 * getaddrinfo(); numeric addresses and /etc/hosts names do not block).
 * opts is copied (client_id too; NULL = defaults). 0 and *out (close with
 * cl_wire_close()), or -ENOMEM / -errno. A connect failure shows later, as
 * the error of every request and in cl_wire_broken(). @locality io
 */
int cl_wire_open(cl_io *io, const char *host, int port, const cl_opts *opts,
		 cl_wire **out);
/*
 * Queues one request: encode runs when the version for api_key is known
 * (after the handshake), then the frame is written after every request
 * queued before it. request_timeout_ms from opts applies per request from
 * the moment it is written; a timeout or any stream error fails every
 * pending request and marks the wire broken. With expect_response false
 * (Produce with acks=0) done runs, with body NULL and err 0, once the
 * bytes are written. 0 (done will be called), or CL_ERR_BROKEN on a broken
 * or closed wire, CL_ERR_UNSUPPORTED when the handshake is over and the
 * broker offers no version of api_key rewind speaks, -ENOMEM (done is
 * then never called). @locality io
 */
int cl_wire_send(cl_wire *w, int16_t api_key, bool expect_response,
		 cl_wire_encode_fn *encode, cl_wire_done_fn *done, void *arg);
/* Closes the socket; every pending done gets CL_ERR_CLOSED (before this
 * returns); then frees w (deferred while one of w's callbacks is running).
 * NULL is fine. @locality io */
void cl_wire_close(cl_wire *w);
/* True once the wire failed (connect, handshake, timeout, stream error):
 * it accepts nothing more and must be replaced. @locality io */
bool cl_wire_broken(const cl_wire *w);
/* True once the handshake is over and requests go straight out. */
bool cl_wire_ready(const cl_wire *w);
/* "host:port" (borrowed, lives as long as w). */
const char *cl_wire_addr(const cl_wire *w);
/* A sentence about the wire's failure ("" when none). */
const char *cl_wire_errmsg(const cl_wire *w);
/* Requests accepted and not yet done (queued, written, awaiting answers). */
size_t cl_wire_in_flight(const cl_wire *w);
/* The version spoken for api_key; -1 when none or before the handshake. */
int16_t cl_wire_api_version(const cl_wire *w, int16_t api_key);

typedef struct cl_cluster cl_cluster;

/*
 * A cluster reachable through bootstrap (cl_bootstrap_parse), on io. Nothing
 * is connected yet. opts is copied. 0 and *out (free with
 * cl_cluster_free()), or CL_ERR_BOOTSTRAP / -ENOMEM with a sentence in err.
 * @locality io (or any thread before anything else uses io)
 */
int cl_cluster_new(cl_io *io, const char *bootstrap, const cl_opts *opts,
		   cl_cluster **out, char *err, size_t errlen);
/* Closes every wire (their pending dones get CL_ERR_CLOSED), calls pending
 * refresh dones with CL_ERR_CLOSED, frees c. NULL is fine. @locality io */
void cl_cluster_free(cl_cluster *c);
/* Whether Metadata asks the broker to create unknown topics (Kafka's
 * allow.auto.create.topics; default false: the broker's
 * auto.create.topics.enable still decides when true). @locality io */
void cl_cluster_set_auto_create(cl_cluster *c, bool allow);
/* The least time between two Metadata requests (default 100 ms), so a
 * storm of NOT_LEADER answers costs one request per interval. */
void cl_cluster_set_refresh_backoff(cl_cluster *c, int ms);

/*
 * Asks for Metadata of topics[0..n) (borrowed, copied: the cluster keeps
 * them as topics of interest, and every later refresh covers them all), or
 * for every topic in the cluster when topics is NULL and n == 0 (only
 * brokers are wanted when n == 0 and topics is not NULL). Asks made while
 * a request covering them is in flight share its answer; others start a
 * new request after it (and after the refresh backoff). done(arg, err)
 * runs once the cache is updated: err 0, or CL_ERR_NO_BROKER (no broker
 * answered; cl_cluster_errmsg says what each did) or another error. 0 (done
 * will be called) or -ENOMEM. done may be NULL. @locality io
 */
int cl_cluster_refresh(cl_cluster *c, const char *const *topics, size_t n,
		       void (*done)(void *arg, int err), void *arg);
/* From the cache: the topic's partition count; -1 when the cache does not
 * know the topic; a negative cl_err_kafka(code) for a topic error such as
 * UNKNOWN_TOPIC_OR_PARTITION. @locality io */
int cl_cluster_partition_count(const cl_cluster *c, const char *topic);
/* The leader of a partition by the cache; -1 when unknown or none. */
int32_t cl_cluster_leader(const cl_cluster *c, const char *topic, int32_t partition);
/* Bumped each time a Metadata answer changed the cache; a cheap "did
 * anything move" test for callers that keep their own copies. */
uint64_t cl_cluster_generation(const cl_cluster *c);
/*
 * The wire to node_id, opened on first use and reopened after it broke
 * (borrowed, owned by c: valid until the next cl_cluster call that may
 * replace it or cl_cluster_free). NULL when the node is unknown or the
 * socket cannot even be created. @locality io
 */
cl_wire *cl_cluster_wire(cl_cluster *c, int32_t node_id);
/* A wire to some broker: a live node's, else a bootstrap one (in turn).
 * NULL only when nothing can be opened. Borrowed as above. */
cl_wire *cl_cluster_any_wire(cl_cluster *c);
/* Records a node learnt outside Metadata (FindCoordinator). 0 or -ENOMEM. */
int cl_cluster_node_set(cl_cluster *c, int32_t node_id, const char *host, int port);
/* A sentence about the last failed refresh ("" when none). */
const char *cl_cluster_errmsg(const cl_cluster *c);
/* The loop this cluster runs on. */
cl_io *cl_cluster_io(const cl_cluster *c);

/* ====================================== admin: topics and configs */
/*
 * client/admin.c. Topic administration (CreateTopics, DeleteTopics,
 * CreatePartitions, at the controller), configs (DescribeConfigs,
 * IncrementalAlterConfigs with an AlterConfigs fallback) and partition
 * sizes (DescribeLogDirs, at every broker). Each item of a request has its
 * own outcome: a Kafka error code and the broker's message, copied into the
 * item's OUT fields; the call itself fails only when no answer came.
 */

/* A config key and value (borrowed C strings; value NULL = none). */
typedef struct cl_config_kv {
	const char *name;
	const char *value;
} cl_config_kv;

#define CL_ADMIN_MSG 256

/* One topic to create. */
typedef struct cl_new_topic {
	const char *name;             /* IN, borrowed */
	int32_t partitions;           /* IN: -1 = the broker's num.partitions */
	int16_t replication_factor;   /* IN: -1 = the broker's default */
	const cl_config_kv *configs;  /* IN: n_configs, borrowed */
	size_t n_configs;
	int16_t error;                /* OUT: Kafka error code, 0 = created */
	char message[CL_ADMIN_MSG];   /* OUT: the broker's message, "" = none */
	uint8_t topic_id[16];         /* OUT: CreateTopics v7+, else zeros */
} cl_new_topic;

/*
 * CreateTopics for t[0..n) at the controller; validate_only asks the
 * broker to check without creating (CreateTopics v1+). 0 when the
 * controller answered (outcomes in t[i].error/message: TOPIC_ALREADY_EXISTS,
 * INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG, ...), or
 * an error.
 */
int cl_create_topics(cl_client *c, cl_new_topic *t, size_t n, bool validate_only);

/* One topic to delete, or to grow (CreatePartitions). */
typedef struct cl_topic_op {
	const char *name;             /* IN, borrowed */
	int32_t partitions;           /* IN (CreatePartitions): the new total */
	int16_t error;                /* OUT: Kafka error code, 0 = done */
	char message[CL_ADMIN_MSG];   /* OUT: the broker's message, "" = none */
} cl_topic_op;

/* DeleteTopics of q[0..n) by name at the controller. 0 when it answered
 * (outcomes in q[i]; UNKNOWN_TOPIC_OR_PARTITION for a missing topic), or an
 * error. */
int cl_delete_topics(cl_client *c, cl_topic_op *q, size_t n);

/* CreatePartitions: grows each q[i].name to q[i].partitions partitions
 * (the broker places them). 0 when the controller answered (outcomes in
 * q[i]; INVALID_PARTITIONS when the count does not grow), or an error. */
int cl_create_partitions(cl_client *c, cl_topic_op *q, size_t n, bool validate_only);

/* Kafka's ConfigResource.Type values. */
enum cl_resource_type { CL_RESOURCE_TOPIC = 2, CL_RESOURCE_BROKER = 4 };

/* Kafka's DescribeConfigs ConfigSource values. */
enum cl_config_source {
	CL_SOURCE_UNKNOWN = 0,
	CL_SOURCE_DYNAMIC_TOPIC_CONFIG = 1,
	CL_SOURCE_DYNAMIC_BROKER_CONFIG = 2,
	CL_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG = 3,
	CL_SOURCE_STATIC_BROKER_CONFIG = 4,
	CL_SOURCE_DEFAULT_CONFIG = 5,
	CL_SOURCE_DYNAMIC_BROKER_LOGGER_CONFIG = 6,
};
/* Kafka's name of a config source ("DYNAMIC_TOPIC_CONFIG"); never NULL. */
const char *cl_config_source_name(int8_t source);

typedef struct cl_config_synonym {
	const char *name;
	const char *value;            /* NULL when the broker hides it */
	int8_t source;
} cl_config_synonym;

typedef struct cl_config_entry {
	const char *name;
	const char *value;            /* NULL for a sensitive or unset value */
	int8_t source;                /* enum cl_config_source; from
	                                 DescribeConfigs v0's IsDefault: DEFAULT
	                                 or UNKNOWN */
	bool read_only;
	bool sensitive;
	cl_config_synonym *synonyms;  /* most specific first; none unless asked */
	size_t n_synonyms;
} cl_config_entry;

typedef struct cl_config_resource {
	int8_t type;                  /* enum cl_resource_type */
	const char *name;             /* topic name, or broker id as text */
	int16_t error;                /* Kafka error code for the resource */
	const char *message;          /* the broker's message, "" = none */
	cl_config_entry *entries;     /* sorted by name */
	size_t n_entries;
} cl_config_resource;

typedef struct cl_configs {
	cl_config_resource *resources; /* in the order asked */
	size_t n_resources;
	kp_arena mem;                 /* private */
} cl_configs;

/* A resource to describe: a topic, or a broker by node id as text. */
typedef struct cl_resource {
	int8_t type;                  /* enum cl_resource_type */
	const char *name;             /* borrowed */
} cl_resource;

/*
 * DescribeConfigs of r[0..n): topics at any broker, each broker resource
 * at that broker. synonyms asks for each entry's synonyms (v1+). 0 and
 * *out (caller frees with cl_configs_free()), or an error. A topic that
 * does not exist is a resource with its error set.
 */
int cl_describe_configs(cl_client *c, const cl_resource *r, size_t n, bool synonyms,
			cl_configs **out);
void cl_configs_free(cl_configs *cfg);

/* IncrementalAlterConfigs operations (Kafka's OpType). */
enum cl_alter_op {
	CL_ALTER_SET = 0, CL_ALTER_DELETE = 1, CL_ALTER_APPEND = 2, CL_ALTER_SUBTRACT = 3,
};

typedef struct cl_config_op {
	const char *name;             /* borrowed */
	const char *value;            /* borrowed; ignored for DELETE */
	int8_t op;                    /* enum cl_alter_op */
} cl_config_op;

/* One resource's changes. */
typedef struct cl_alter_resource {
	int8_t type;                  /* IN: enum cl_resource_type */
	const char *name;             /* IN, borrowed */
	const cl_config_op *ops;      /* IN: n_ops, borrowed */
	size_t n_ops;
	int16_t error;                /* OUT: Kafka error code, 0 = done */
	char message[CL_ADMIN_MSG];   /* OUT: the broker's message */
} cl_alter_resource;

/*
 * Applies each q[i].ops to its resource with IncrementalAlterConfigs. A
 * broker that lacks it gets AlterConfigs instead, which replaces a
 * resource's whole set of overrides: the current overrides are read with
 * DescribeConfigs, the ops applied to them (APPEND/SUBTRACT on comma
 * lists), and the result sent -- not atomic against another admin, as in
 * Kafka's own fallback. Broker resources go to that broker, topics to the
 * controller. 0 when answered (outcomes in q[i]), or an error.
 */
int cl_alter_configs(cl_client *c, cl_alter_resource *q, size_t n, bool validate_only);

/* One replica's size on one broker (DescribeLogDirs). */
typedef struct cl_replica_size {
	int32_t broker;
	const char *log_dir;
	const char *topic;
	int32_t partition;
	int64_t size;                 /* bytes on disk */
	int64_t offset_lag;
	bool is_future;
	double dirty_ratio;           /* rewind brokers (DescribeLogDirs v2+):
	                                 the log cleaner's dirty / (clean +
	                                 dirty) of a compacted partition; -1
	                                 when not compacted or not told */
} cl_replica_size;

typedef struct cl_log_dirs {
	cl_replica_size *replicas;    /* sorted by topic, partition, broker */
	size_t n_replicas;
	kp_arena mem;                 /* private */
} cl_log_dirs;

/*
 * DescribeLogDirs at every broker, every replica (the caller filters).
 * 0 and *out (caller frees with cl_log_dirs_free()), or an error.
 */
int cl_describe_log_dirs(cl_client *c, cl_log_dirs **out);
void cl_log_dirs_free(cl_log_dirs *l);

/* ============================================================== consumer */
/*
 * The consumer (client/consumer*.c) and what a group leader computes
 * (client/assignor.c). A cl_consumer runs on the asynchronous layer: its
 * own cl_io thread fetches ahead of cl_consumer_poll() into a bounded
 * buffer (several leaders at once) and keeps the group membership alive
 * (heartbeats, rebalances) while the application works; poll decodes on
 * the application's thread.
 */

/* ------------------------------------------------- assignors (pure) */

enum cl_assignor {
	CL_ASSIGNOR_RANGE = 0,       /* Java's RangeAssignor ("range") */
	CL_ASSIGNOR_ROUNDROBIN = 1,  /* Java's RoundRobinAssignor ("roundrobin") */
};

/* "range", "roundrobin"; NULL for anything else. @locality any */
const char *cl_assignor_name(enum cl_assignor a);
/* The assignor named name, or CL_ERR_ARG. @locality any */
int cl_assignor_parse(const char *name);

/* A group member as the leader sees it in the JoinGroup answer. */
typedef struct cl_group_subscriber {
	const char *member_id;           /* borrowed */
	const char *group_instance_id;   /* borrowed; NULL when not static */
	const char *const *topics;       /* borrowed, n_topics names */
	size_t n_topics;
} cl_group_subscriber;

/* A topic's partition count as the leader's metadata says (< 0 unknown). */
typedef struct cl_topic_count {
	const char *topic;               /* borrowed */
	int32_t partitions;
} cl_topic_count;

/* One member's share: topics sorted by name, partitions ascending. */
typedef struct cl_member_assignment {
	const char *member_id;           /* borrowed from the input */
	cl_assigned_topic *topics;       /* from the arena; topic names are
	                                    borrowed from the input */
	size_t n_topics;
} cl_member_assignment;

/*
 * Assigns the partitions of the topics members[0..n) subscribe to, as
 * Java's assignor of that name does (member order: static members by
 * instance id first, then by member id). *out[i] is members[i]'s share
 * (n entries from mem; a member may get nothing). Topics missing from
 * counts or with a negative count are left out. 0, CL_ERR_ARG or
 * KP_ERR_NOMEM. Pure. @locality any
 */
int cl_assign(enum cl_assignor how, const cl_group_subscriber *members, size_t n,
	      const cl_topic_count *counts, size_t n_counts, kp_arena *mem,
	      cl_member_assignment **out);

/* Appends a ConsumerProtocolSubscription v0 (topics, null user data) to
 * out. 0, CL_ERR_ARG (a name over 32767 bytes) or out's error. Pure. */
int cl_consumer_subscription_encode(kp_buf *out, const char *const *topics, size_t n);
/* Reads the topics of a ConsumerProtocolSubscription of any version (the
 * fields after them are ignored) into strings from mem. 0,
 * CL_ERR_PROTOCOL or KP_ERR_NOMEM. Pure. */
int cl_consumer_subscription_parse(const uint8_t *p, size_t len, kp_arena *mem,
				   const char ***topics, size_t *n_topics);
/* Appends a ConsumerProtocolAssignment v0 (null user data) to out; read
 * back by cl_consumer_assignment_parse(). 0, CL_ERR_ARG or out's error. */
int cl_consumer_assignment_encode(kp_buf *out, const cl_assigned_topic *t, size_t n);

/* ------------------------------------------------------------ consumer */

/* Where consumption of a partition starts (cl_consumer_tp.offset): an
 * offset >= 0, CL_OFFSET_EARLIEST, CL_OFFSET_LATEST, or one of these. */
#define CL_OFFSET_AT_TIME   (-3)     /* the first record with a timestamp
                                        >= cl_consumer_tp.timestamp (the
                                        log end when none) */
#define CL_OFFSET_COMMITTED (-1001)  /* the group's committed offset, else
                                        auto.offset.reset */

enum cl_offset_reset {
	CL_RESET_LATEST = 0,         /* Java's default */
	CL_RESET_EARLIEST = 1,
	CL_RESET_ERROR = 2,          /* poll fails with OFFSET_OUT_OF_RANGE */
};

typedef struct cl_consumer_conf {
	const char *bootstrap;           /* "host:port[,...]"; required */
	const char *client_id;           /* default "rewind" */
	const char *group_id;            /* NULL: no group (assign only) */
	enum cl_assignor assignor;       /* the one this member proposes;
	                                    default range (Java's default) */
	int session_timeout_ms;          /* 45000 */
	int heartbeat_interval_ms;       /* 3000 */
	int max_poll_interval_ms;        /* 300000; also the rebalance timeout */
	enum cl_offset_reset auto_offset_reset;   /* CL_RESET_LATEST */
	bool enable_auto_commit;         /* true */
	int auto_commit_interval_ms;     /* 5000 */
	int fetch_min_bytes;             /* 1 */
	int fetch_max_wait_ms;           /* 500 */
	int max_partition_fetch_bytes;   /* 1 MiB */
	int fetch_max_bytes;             /* 50 MiB */
	size_t prefetch_max_bytes;       /* 64 MiB: fetched, not yet polled */
	int request_timeout_ms;          /* 30000 */
	int connect_timeout_ms;          /* 10000 */
	int retry_backoff_ms;            /* 100, doubling up to 1000 */
} cl_consumer_conf;

/* Fills c with the defaults above (bootstrap NULL). @locality any */
void cl_consumer_conf_init(cl_consumer_conf *c);

typedef struct cl_consumer cl_consumer;

/* One partition to assign or seek. */
typedef struct cl_consumer_tp {
	const char *topic;               /* borrowed for the call */
	int32_t partition;
	int64_t offset;                  /* see CL_OFFSET_* above */
	int64_t timestamp;               /* ms, for CL_OFFSET_AT_TIME */
} cl_consumer_tp;

/* A record handed out by cl_consumer_poll(); every pointer is valid until
 * the next poll or close on the same consumer. Headers: walk rec with
 * kp_record_header_next(). */
typedef struct cl_message {
	const char *topic;
	int32_t partition;
	kp_record rec;                   /* offset, timestamp, key, value, ... */
	bool log_append_time;            /* rec.timestamp is the broker's */
} cl_message;

/*
 * A consumer for conf (copied, strings too). Nothing is fetched until
 * assign or subscribe. 0 and *out (close with cl_consumer_close()), or an
 * error with a sentence in err (errlen bytes, may be 0). @locality any
 */
int cl_consumer_new(const cl_consumer_conf *conf, cl_consumer **out,
		    char *err, size_t errlen);

/*
 * Replaces the assignment with tps[0..n) (no group: only without
 * subscribe). Offsets resolve in the background (ListOffsets, OffsetFetch).
 * 0 or CL_ERR_ARG (subscribed, a bad entry), -ENOMEM. @locality owner
 */
int cl_consumer_assign(cl_consumer *c, const cl_consumer_tp *tps, size_t n);

/* Moves an assigned partition's position; records already buffered for it
 * are dropped. 0 or CL_ERR_ARG (not assigned). @locality owner */
int cl_consumer_seek(cl_consumer *c, const cl_consumer_tp *tp);

/*
 * Joins group_id and consumes what the group assigns from topics[0..n)
 * (copied). Each newly assigned partition starts at the group's committed
 * offset, else auto.offset.reset. 0 or CL_ERR_ARG (no group_id, already
 * assigned by hand). @locality owner
 */
int cl_consumer_subscribe(cl_consumer *c, const char *const *topics, size_t n);

/*
 * Waits up to timeout_ms (0: do not wait, < 0: forever) for records and
 * hands out up to max of them: *msgs points at an array the consumer owns,
 * valid until the next poll or close. Returns the count (0 when none came
 * in time), or an error: a partition's failure that needs the caller
 * (UNKNOWN_TOPIC_OR_PARTITION, OFFSET_OUT_OF_RANGE with reset=error,
 * TOPIC_AUTHORIZATION_FAILED, a group error such as INVALID_SESSION_TIMEOUT,
 * GROUP_MAX_SIZE_REACHED, ...), with cl_consumer_errmsg() saying which.
 * Transient failures (leader moved, broker down, rebalance) are retried in
 * the background and never returned. Handing a record out advances its
 * partition's position past it; positions are what commits store.
 * @locality owner
 */
int cl_consumer_poll(cl_consumer *c, int timeout_ms, const cl_message **msgs, size_t max);

/* Makes a poll waiting on another thread return now (0 records).
 * @locality any */
void cl_consumer_wakeup(cl_consumer *c);

/*
 * Commits the position of every assigned partition (group consumers only).
 * Synchronous: waits for the coordinator's answer (request timeout) and
 * returns 0, the first partition's Kafka error as cl_err_kafka() or another
 * error. Asynchronous (async true): queues it and returns 0; failures show
 * in cl_consumer_errmsg() and stats. @locality owner
 */
int cl_consumer_commit(cl_consumer *c, bool async);

/* The next offset poll would hand out for a partition (-1: not resolved
 * yet). 0 or CL_ERR_ARG (not assigned). @locality owner */
int cl_consumer_position(cl_consumer *c, const char *topic, int32_t partition,
			 int64_t *offset);

/* The current assignment: *n entries in *tps (owned by the consumer, valid
 * until the next call on c; topic strings too). @locality owner */
int cl_consumer_assignment(cl_consumer *c, const cl_consumer_tp **tps, size_t *n);

/* True when every assigned partition has been read up to the high
 * watermark its latest fetch saw (and there is at least one partition):
 * kcat's -e. @locality owner */
bool cl_consumer_at_end(cl_consumer *c);

/* A sentence about the consumer's latest problem ("" when none), retried
 * ones included; valid until the next call on c. @locality owner */
const char *cl_consumer_errmsg(cl_consumer *c);

/*
 * Commits (when auto commit is on and there is a group), leaves the group,
 * stops the background thread and frees c (NULL is fine). Returns the
 * final commit's outcome (0 when there was none). @locality owner
 */
int cl_consumer_close(cl_consumer *c);

/* ============================================================== producer */
/*
 * An asynchronous producer (client/producer.c, partitioner: client/
 * partitioner.c). Application threads call cl_producer_send(), which
 * appends the record into its partition's open batch under a short lock
 * and returns; the io thread seals batches that are full (batch_size) or
 * old enough (linger_ms), builds one Produce request per broker with the
 * ready batch of each of its partitions, and keeps up to max_in_flight
 * requests in flight per broker. Delivery reports are queued by the io
 * thread and handed to the application's callback by cl_producer_poll(),
 * in the thread that polls.
 *
 * Idempotence (default on, Kafka's enable.idempotence): an InitProducerId
 * before the first Produce, per-partition sequence numbers, at most 5
 * requests in flight per broker, and retries that keep each partition's
 * order: after a retriable error a partition sends nothing new until its
 * in-flight batches are back, then resends in sequence order. When the
 * broker no longer knows the sequence it expects (OUT_OF_ORDER_SEQUENCE_
 * NUMBER or UNKNOWN_PRODUCER_ID on the oldest unacknowledged batch), or a
 * batch that was sent fails for good (timeout, non-retriable error), the
 * producer does what Kafka's Java producer does since KIP-360: waits for
 * every request in flight, asks InitProducerId for a new epoch and
 * renumbers the unacknowledged batches from 0 (a batch whose first attempt
 * the broker wrote but whose answer was lost may then be written twice;
 * Java has the same window).
 *
 * Partitions: cl_record.partition when >= 0; keyed records Kafka's Java
 * client's way, toPositive(murmur2(key)) % partitions (so keys land where
 * Java producers put them); records without a key stick to one partition
 * until its batch closes, then move to another at random (KIP-480).
 */

typedef struct cl_producer cl_producer;

/* One delivery report; every pointer valid during the callback only. */
typedef struct cl_delivery {
	const char *topic;
	int32_t partition;
	int64_t offset;               /* -1 when unknown (acks=0, failure) */
	int err;                      /* 0, or an error value: cl_err_name()
	                                 gives Kafka's name for it */
	void *opaque;                 /* cl_record.opaque */
} cl_delivery;

/* Runs in the thread that calls cl_producer_poll(); may call
 * cl_producer_send() (not poll/flush/close). */
typedef void cl_delivery_fn(void *app, const cl_delivery *d);

typedef struct cl_producer_conf {
	const char *bootstrap;        /* default "localhost:9092" */
	const char *client_id;        /* default "rewind-producer" */
	int acks;                     /* -1 (all, default), 0 or 1 */
	int linger_ms;                /* default 5 */
	size_t batch_size;            /* bytes of records per batch before it
	                                 closes; default 1000000 (librdkafka's
	                                 batch.size: the broker syncs per
	                                 request, so large batches carry the
	                                 throughput, and linger_ms bounds the
	                                 wait when traffic is light) */
	int codec;                    /* KP_CODEC_*; default none */
	bool idempotence;             /* default true */
	int retries;                  /* default INT32_MAX (bounded by
	                                 delivery_timeout_ms, as in Java) */
	int retry_backoff_ms;         /* default 100 */
	int delivery_timeout_ms;      /* default 120000 */
	int request_timeout_ms;       /* default 30000 */
	int max_block_ms;             /* how long send() waits for a topic's
	                                 metadata; default 60000 */
	size_t buffer_memory;         /* bytes of records not yet reported;
	                                 default 32 MiB; send() then fails with
	                                 CL_ERR_QUEUE_FULL */
	int max_in_flight;            /* requests per broker; default 5
	                                 (at most 5 with idempotence) */
	size_t max_request_size;      /* bytes of batches per Produce request;
	                                 default 8 MiB */
	bool allow_auto_create;       /* ask the broker to create unknown
	                                 topics (default true, as Java's
	                                 allow.auto.create.topics; the broker's
	                                 auto.create.topics.enable decides) */
	cl_delivery_fn *on_delivery;  /* may be NULL */
	void *app;                    /* first argument of on_delivery */
} cl_producer_conf;

/* Fills conf with the defaults above. @locality any */
void cl_producer_conf_init(cl_producer_conf *conf);

/*
 * Starts a producer (its io thread; nothing is connected until the first
 * send). conf is copied (strings too). 0 and *out (close with
 * cl_producer_close()), or CL_ERR_ARG / CL_ERR_BOOTSTRAP / -ENOMEM with a
 * sentence in err (errlen bytes). @locality any
 */
int cl_producer_new(const cl_producer_conf *conf, cl_producer **out,
		    char *err, size_t errlen);

#define CL_PARTITION_ANY (-1)

/* One record to send; every pointer borrowed for the call (bytes are
 * copied). */
typedef struct cl_record {
	const char *topic;
	int32_t partition;            /* CL_PARTITION_ANY: the partitioner */
	const void *key;              /* NULL + key_len -1: no key */
	int32_t key_len;
	const void *value;            /* NULL + value_len -1: null (tombstone) */
	int32_t value_len;
	const kp_header *headers;     /* n_headers; NULL when 0 */
	int32_t n_headers;
	int64_t timestamp;            /* ms since the epoch; <= 0: now */
	void *opaque;                 /* handed back in the delivery report */
} cl_record;

/*
 * Appends one record for sending. 0 (a delivery report will follow), or
 * an error and no report: CL_ERR_QUEUE_FULL (poll, then retry),
 * CL_ERR_ARG (no topic, bad lengths), cl_err_kafka(UNKNOWN_TOPIC_OR_
 * PARTITION) for a topic the broker does not have (and will not create)
 * or a partition past its count, CL_ERR_NO_BROKER / CL_ERR_TIMEOUT when
 * the topic's metadata could not be had within max_block_ms, CL_ERR_FATAL,
 * CL_ERR_STOPPED. cl_producer_errmsg() says more. Blocks only the first
 * time a topic is seen, for its metadata. @locality any (thread-safe)
 */
int cl_producer_send(cl_producer *p, const cl_record *r);

/*
 * Runs the delivery callback for every report queued, waiting up to
 * timeout_ms (0: no wait; -1: forever) for the first. Returns how many
 * reports it handed out. @locality any, one poller at a time
 */
int cl_producer_poll(cl_producer *p, int timeout_ms);

/*
 * Sends every record appended so far at once (linger ignored) and polls
 * until each has its delivery report or timeout_ms passes (-1: no limit).
 * 0, or CL_ERR_TIMEOUT with records still out. @locality any
 */
int cl_producer_flush(cl_producer *p, int timeout_ms);

/* Records appended and not yet reported by poll. @locality any */
int64_t cl_producer_outstanding(cl_producer *p);

/* A sentence about the producer's last failure ("" when none): what it
 * was doing and what the broker or the system said. The string is a
 * snapshot copied into buf (len bytes); returns buf. @locality any */
const char *cl_producer_errmsg(cl_producer *p, char *buf, size_t len);

/*
 * Flushes for up to timeout_ms (-1: no limit), then stops the io thread
 * and frees p (NULL is fine). Records still undelivered then get no
 * report. 0, or CL_ERR_TIMEOUT when records were dropped. @locality any,
 * not from the delivery callback
 */
int cl_producer_close(cl_producer *p, int timeout_ms);

/* ----------------------------------------------------------- partitioner */

/* Kafka's Utils.murmur2 (seed 0x9747b28c) of len bytes, as Java's int
 * bits. Pure. @locality any */
uint32_t cl_murmur2(const void *key, size_t len);
/* Java's default partition of a keyed record: (murmur2(key) & 0x7fffffff)
 * % n_partitions; n_partitions > 0. Pure. */
int32_t cl_partition_for_key(const void *key, size_t len, int32_t n_partitions);

#endif /* REWIND_CLIENT_H */
