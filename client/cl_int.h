/*
 * cl_int.h -- internals of client/ shared between its files. Not for use
 * outside client/ (client.h is the contract).
 *
 * Invariants:
 *   - a cl_conn has at most one request in flight (the blocking layer);
 *     `broken` is set by any failure that leaves the byte stream in an
 *     unknown place (timeout, short read, wrong correlation id), and a
 *     broken connection is never used again: cl_client replaces it;
 *   - a cl_client's connections are indexed by node id in `nodes`; the
 *     bootstrap connection is kept as node `bootstrap_node` once Metadata
 *     has named its node id (it may be named by a different address), or
 *     separately in `boot` until then;
 *   - every helper sets the client's errmsg on failure, before returning.
 */
#ifndef REWIND_CLIENT_CL_INT_H
#define REWIND_CLIENT_CL_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "client/client.h"
#include "proto/schema/kp_msgs.h"

/* Highest API key the version table covers (Kafka's keys are below 100). */
#define CL__MAX_API_KEY 127

struct cl_conn {
	int fd;
	char addr[300];               /* "host:port" */
	char client_id[128];
	int connect_timeout_ms;
	int request_timeout_ms;
	size_t max_response_bytes;
	int32_t next_correlation_id;
	bool broken;
	/* per API key: the version we speak (-1 none) and the broker's range
	 * (min -1 when the broker does not advertise the key) */
	int16_t version[CL__MAX_API_KEY + 1];
	int16_t broker_min[CL__MAX_API_KEY + 1];
	int16_t broker_max[CL__MAX_API_KEY + 1];
	kp_buf out;                   /* frame being sent; reused */
	char errmsg[512];
};

/* A broker the client knows from Metadata (or FindCoordinator). */
struct cl__node {
	int32_t node_id;
	char host[256];
	int port;
	cl_conn *conn;                /* NULL until first use */
};

#define CL__MAX_BOOTSTRAP 32

struct cl_client {
	cl_opts opts;                 /* client_id points at client_id below */
	char client_id[128];
	cl_hostport bootstrap[CL__MAX_BOOTSTRAP];
	size_t n_bootstrap;
	cl_conn *boot;                /* the bootstrap connection, until Metadata
	                                 names it */
	struct cl__node *nodes;       /* n_nodes, owned */
	size_t n_nodes;
	size_t cap_nodes;
	bool connected;               /* cl_client_connect() succeeded once */
	char errmsg[768];
};

/* Sets c->errmsg from a printf format. @locality owner */
void cl__errf(cl_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cl__conn_errf(cl_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A NUL-terminated copy of s in mem ("" for a null string); NULL when the
 * arena fails. */
char *cl__strdup(kp_arena *mem, kp_str s);
char *cl__strdup_c(kp_arena *mem, const char *s);

/* The default timeouts after applying cl_opts' "<= 0 means default". */
int cl__request_timeout(const cl_opts *o);

/*
 * A connection good for requests: the bootstrap connection or any node's,
 * connecting (cl_client_connect) when there is none. Borrowed, owned by c.
 */
int cl__any_conn(cl_client *c, cl_conn **out);

/*
 * Encodes a request body and runs it on conn: the helpers' common path.
 * `encode` is the generated kp_<Name>Request_encode wrapper. On failure the
 * client's errmsg names the API and the broker. resp as in cl_conn_call().
 */
int cl__call(cl_client *c, cl_conn *conn, int16_t api_key, int16_t version,
	     const kp_buf *body, kp_buf *resp);

/* The version to use for api_key on conn, or CL_ERR_UNSUPPORTED with the
 * client's errmsg saying which API and what the broker offers. */
int cl__version(cl_client *c, cl_conn *conn, int16_t api_key, int16_t *version);

/* Records (or refreshes) node id -> host:port. 0 or -ENOMEM. */
int cl__node_set(cl_client *c, int32_t node_id, const char *host, int port);

/* Metadata on conn for topics[0..n), or every topic when all_topics
 * (topics then ignored); refreshes the node table from its brokers. */
int cl__metadata_on(cl_client *c, cl_conn *conn, const char *const *topics, size_t n,
		    bool all_topics, cl_metadata **out);

/* Calls set(arg, node id, host, port) for every broker of a Metadata
 * answer, host as a C string (cut at 255 bytes), until one fails; returns
 * that or 0. Both node tables (cl_client's, cl_cluster's) learn so.
 * @locality any */
typedef int cl__node_fn(void *arg, int32_t node_id, const char *host, int port);
int cl__metadata_brokers(const kp_MetadataResponse *m, cl__node_fn *set, void *arg);

/* What a FindCoordinator answer says of the one group asked about. */
struct cl__coord {
	int16_t error;
	int32_t node;
	char host[256];
	int32_t port;
};
/* FindCoordinator for group in version v (v4+ batches keys: a batch of
 * one), encoded into body; the blocking cl_coordinator() and the consumer
 * both ask so. @locality any */
int cl__find_coordinator_encode(kp_buf *body, int16_t v, const char *group);
/* Reads a FindCoordinator answer of version v (scratch from a) into *out;
 * false when it does not parse or (v4+) answers other than one key. */
bool cl__find_coordinator_decode(kp_reader *r, int16_t v, kp_arena *a, struct cl__coord *out);

/* Forgets a node's connection after it broke (closes it). */
void cl__conn_drop(cl_client *c, cl_conn *conn);

/* Entries of a request that share a topic. */
struct cl__tgroup {
	const char *topic;            /* borrowed from the caller's names */
	size_t *idx;                  /* n entry indexes, in input order */
	size_t n;
};

/*
 * Groups the entries sel[0..nsel) by their topic names[sel[i]] (borrowed),
 * in order of first appearance; arrays come from a. 0 or KP_ERR_NOMEM.
 */
int cl__group_by_topic(kp_arena *a, const char *const *names, const size_t *sel,
		       size_t nsel, struct cl__tgroup **out, size_t *nout);

/* Entry idx of a request's topic group (struct cl__tgroup): its partition
 * and the number the request carries for it (a time, an offset). */
typedef void cl__part_ask_fn(const void *arg, size_t idx, int32_t *partition, int64_t *value);
/*
 * ListOffsets (replica -1) for the topic groups g[0..ng), encoded in
 * version v into body (arrays from a): each entry asks for the partition
 * and timestamp (a time or CL_OFFSET_EARLIEST/LATEST) ask(arg, idx, ...)
 * gives. cl_list_offsets() and the consumer both ask so. 0, KP_ERR_NOMEM or
 * the encoder's error. @locality any
 */
int cl__list_offsets_encode(kp_buf *body, int16_t v, kp_arena *a, const struct cl__tgroup *g,
			    size_t ng, cl__part_ask_fn *ask, const void *arg);

/* OffsetCommit for group as member (generation -1 and "" outside group
 * management) of the topic groups g[0..ng), each entry committing the
 * partition and offset ask(arg, idx, ...) gives, with empty metadata;
 * encoded in version v into body (arrays from a). cl_offset_commit() and
 * the consumer both commit so. @locality any */
int cl__offset_commit_encode(kp_buf *body, int16_t v, kp_arena *a, const char *group,
			     int32_t generation, const char *member, const struct cl__tgroup *g,
			     size_t ng, cl__part_ask_fn *ask, const void *arg);

/* The last answer for (topic, partition) in a ListOffsets answer m, or
 * NULL when m leaves it out. @locality any */
const kp_ListOffsetsResponse_ListOffsetsPartitionResponse *
cl__list_offsets_find(const kp_ListOffsetsResponse *m, const char *topic, int32_t partition);

/* The lowest version of api_key the helpers build and read (older shapes
 * mean something else); the client_min of cl_version_pick(). conn.c; also
 * used by the asynchronous wire.c. Pure. */
int16_t cl__api_min_version(int16_t api_key);

/*
 * One admin request's buffers and scratch arena, with the connection and
 * version it goes to and its retry budget: the common state of the helpers
 * in groups.c and admin.c. init before use, reset between tries, free at
 * the end.
 */
struct cl__req {
	kp_buf body, resp;
	kp_arena arena;
	int16_t v;                    /* the version spoken, -1 until known */
	cl_conn *conn;                /* borrowed from the client */
	int64_t deadline;             /* ms (cl__now_ms): c's request timeout
	                                 from init */
	int wait;                     /* the next backoff, ms */
};
void cl__req_init(struct cl__req *k, const cl_client *c);
/* Empties body and arena for another try (resp is reset by the call). */
void cl__req_reset(struct cl__req *k);
void cl__req_free(struct cl__req *k);
/* cl__backoff() on k's deadline: true after sleeping when there is time to
 * ask again. */
bool cl__req_again(struct cl__req *k);
/*
 * Sends the request k->body holds to k->conn at k->v and points *r at the
 * answer. enc_rc is what kp_<Name>Request_encode returned for k->body: a
 * failed encode is reported (errmsg names the API of api_key) and
 * returned without sending.
 */
int cl__req_run(cl_client *c, struct cl__req *k, int16_t api_key, int enc_rc, kp_reader *r);
/* 0 when parsed (the answer decoded and has the shape asked for), else
 * CL_ERR_PROTOCOL with errmsg naming the API, version and broker. */
int cl__req_parsed(cl_client *c, const struct cl__req *k, int16_t api_key, bool parsed);
/* For every broker Metadata names, in its order: k at that broker with
 * api_key's version and emptied buffers, then each(c, k, node, arg); stops
 * at the first error and returns it. The "ask every broker" of ListGroups
 * and DescribeLogDirs. */
typedef int cl__broker_fn(cl_client *c, struct cl__req *k, int32_t node, void *arg);
int cl__req_each_broker(cl_client *c, struct cl__req *k, int16_t api_key, cl__broker_fn *each,
			void *arg);
/* 0 for code 0; else the client error for a whole-answer ErrorCode, with
 * errmsg "broker <node> answered <API> with ...". */
int cl__broker_error(cl_client *c, int32_t node, int16_t api_key, int16_t code);
/*
 * Room for element n of an array arr (capacity *cap, elements of sz bytes)
 * growing in a: arr itself while it has room, else a copy twice as large
 * (16 at first; the old one stays in the arena). NULL when a fails.
 */
void *cl__arena_reserve(kp_arena *a, void *arr, size_t n, size_t *cap, size_t sz);
/* Sets the client's errmsg for a request that does not encode; returns rc. */
int cl__encode_failed(cl_client *c, const char *api, int16_t v, int rc);
/* Sets the client's errmsg for an answer on k->conn that does not parse;
 * returns CL_ERR_PROTOCOL. */
int cl__parse_failed(cl_client *c, const char *api, const struct cl__req *k);
/* Sleeps *ms and doubles it (at most 1 s) before asking again; false,
 * without sleeping, when that would pass deadline (CLOCK_MONOTONIC ms). */
bool cl__backoff(int64_t deadline, int *ms);
/* Whether a protocol string equals a C string. */
bool cl__str_eq(kp_str s, const char *c);

/* Whether a Kafka error says the group coordinator moved, is not there yet
 * or is loading: find it again and ask again. */
bool cl__coordinator_moved(int16_t code);
/* A Kafka error code's name, "?" for one we do not know. */
const char *cl__kname(int16_t code);

/*
 * OffsetFetch of every topic of group, in version v (>= 2; v8+ puts the
 * group in a batch of one), encoded into body; scratch from a. The
 * consumer (consumer_fetch.c) and the admin helper (groups.c) both ask so.
 */
int cl__offset_fetch_encode(kp_buf *body, int16_t v, kp_arena *a, const char *group);
/* Calls each(arg, ...) for every partition of an OffsetFetch answer m of
 * version v, in either shape (v8+: its first group, which the caller has
 * checked is there), until each returns non-zero; returns that or 0. */
typedef int cl__committed_fn(void *arg, kp_str topic, int32_t partition, int64_t offset,
			     kp_str metadata, int16_t error);
int cl__offset_fetch_each(const kp_OffsetFetchResponse *m, int16_t v, cl__committed_fn *each,
			  void *arg);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t cl__now_ms(void);
/* Sleeps ms milliseconds (client-side retry backoff only). */
void cl__sleep_ms(int ms);

/* ------------------------------------------------------------- consumer */
/*
 * The consumer is three files: consumer.c (the API, poll, the io thread's
 * tick), consumer_group.c (membership and commits), consumer_fetch.c
 * (start offsets, metadata, fetches). consumer.c's top comment gives the
 * threads and the invariants. Every cl__cons_ function below is called
 * with c->mu held; the helpers up to cl__cons_part_restart by either
 * thread, the rest on the io thread only.
 */

/* Records a decompressed batch may grow to. */
#define CL__CONS_MAX_INFLATE ((size_t)256 << 20)

/* One partition the consumer has (had) assigned. */
struct cl__cons_part {
	struct cl__cons_part *next;   /* c->parts; freed at close only */
	char *topic;                  /* owned */
	int32_t partition;
	bool assigned;
	uint32_t epoch;               /* bumped by seek, assign, revoke */
	/* where to start, while need_resolve */
	bool need_resolve;
	int64_t spec;                 /* offset or CL_OFFSET_* */
	int64_t spec_ts;
	bool resolving;               /* an OffsetFetch/ListOffsets is out */
	int64_t fetch_offset;         /* next offset to fetch; -1 unresolved */
	bool fetching;                /* a Fetch for it is out */
	int32_t leader;               /* -1 unknown */
	uint8_t topic_id[16];         /* for Fetch v13+, when have_id */
	bool have_id;
	int64_t hw;                   /* high watermark of the latest fetch */
	bool fetched;                 /* a fetch answered in this epoch */
	bool failed;                  /* reported to the app; not fetched */
	int64_t retry_at;             /* ms; backoff after an error */
	int64_t position;             /* next offset for poll; -1 unresolved */
	int64_t committed;            /* last position committed; -1 none */
	size_t queued;                /* chunks of this part in the queue */
	bool revoked;                 /* just revoked, position not yet
	                                 committed */
};

/* Complete batches of one fetch answer, waiting for poll. */
struct cl__cons_chunk {
	struct cl__cons_chunk *next;
	struct cl__cons_part *p;
	uint32_t epoch;
	int64_t next_offset;          /* after the last complete batch */
	size_t len;
	uint8_t data[];               /* complete batches */
};

struct event;

struct cl_consumer {
	cl_consumer_conf conf;        /* strings point at the copies below */
	char *bootstrap, *client_id, *group_id;
	cl_io *io;                    /* the consumer's io thread */
	cl_cluster *fc;               /* data: metadata, ListOffsets, Fetch */
	cl_cluster *gc;               /* the group coordinator's requests */
	struct event *timer;          /* the periodic tick (io thread) */
	pthread_mutex_t mu;           /* recursive: done callbacks may run
	                                 inside a call made with it held */
	pthread_cond_t app_cond;      /* records, errors, commit results */
	bool in_tick;

	struct cl__cons_part *parts;
	struct cl__cons_chunk *qhead, *qtail;
	size_t qbytes;

	char **topics;                /* subscription, owned */
	size_t n_topics;
	bool subscribed, manual;

	/* coordinator and membership (io thread) */
	int32_t coord;                /* node id, -1 unknown */
	bool coord_inflight;
	int64_t coord_retry_at;
	int coord_backoff;
	char member_id[512];
	int32_t generation;
	bool joined;
	bool join_inflight, hb_inflight, leave_inflight;
	bool rejoin_committed;        /* the commit before a rejoin is done */
	bool stalled;                 /* left for want of polls; poll clears */
	bool group_failed;
	int64_t next_heartbeat, next_autocommit, group_retry_at;
	int group_backoff;

	/* data requests in flight */
	bool offsets_inflight, meta_inflight, ids_inflight;
	int64_t meta_retry_at;
	int meta_backoff;
	bool need_metadata;

	/* commits */
	bool commit_inflight;
	uint64_t commit_req, commit_done;   /* sync commits asked / answered */
	int commit_rc;
	bool commit_async;

	/* close */
	bool leaving;                 /* close began: no new join */
	bool closing;                 /* no new work at all: the clusters go */
	bool close_commit_done;
	bool close_after_commit;      /* a commit was out when close came */
	int close_rc;

	/* what the app must hear */
	int err_pending;
	char errmsg[640];
	char errmsg_app[640];
	bool woken;
	int64_t last_poll_ms;

	/* poll's own (app thread, no lock) */
	struct cl__cons_chunk *cur;
	size_t cur_off;
	kp_record_iter it;
	bool it_live, it_log_append;
	kp_record_iter *retired_it;
	size_t n_retired_it, cap_retired_it;
	struct cl__cons_chunk *retired_chunks;
	cl_message *msgs;
	size_t cap_msgs;
	cl_consumer_tp *view;
	size_t n_view;
};

/* errmsg = the sentence (a problem retried in the background). */
void cl__cons_note(cl_consumer *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error the next poll returns, with its sentence (first one wins). */
void cl__cons_report(cl_consumer *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The next backoff in ms from *b (retry_backoff_ms doubling to 1 s). */
int cl__cons_backoff(const cl_consumer *c, int *b);
struct cl__cons_part *cl__cons_part_find(cl_consumer *c, const char *topic, int32_t partition);
/* The partition, created (unassigned) when new; NULL when out of memory. */
struct cl__cons_part *cl__cons_part_get(cl_consumer *c, const char *topic, int32_t partition);
/* Frees queued chunks of partitions that moved to another epoch. */
void cl__cons_queue_purge(cl_consumer *c);
/* Starts p over from spec (offset or CL_OFFSET_*) in a new epoch. */
void cl__cons_part_restart(struct cl__cons_part *p, int64_t spec, int64_t ts);

/* One partition in a request, as it was when the request was built. */
struct cl__cons_row {
	struct cl__cons_part *p;
	uint32_t epoch;
	int64_t offset;               /* Fetch: fetch offset; commit: the offset */
	int64_t spec, ts;             /* ListOffsets: what was asked */
};
/* rows[0..n) grouped by topic (arrays from a). 0 or KP_ERR_NOMEM.
 * @locality any */
int cl__cons_row_groups(kp_arena *a, const struct cl__cons_row *rows, size_t n,
			struct cl__tgroup **g, size_t *ng);

/* consumer.c: everything that is due now (group, commits, offsets,
 * metadata, fetches); reentrant calls return at once. */
void cl__cons_tick(cl_consumer *c);

/* consumer_group.c */
enum cl__cons_commit_why {
	CL_COMMIT_AUTO,               /* auto-commit or commit(async) */
	CL_COMMIT_SYNC,               /* commit(sync): answers commit_req upto */
	CL_COMMIT_REJOIN,             /* of the revoked partitions, then join */
	CL_COMMIT_CLOSE,              /* at close: sets close_commit_done */
};
/* Sends OffsetCommit of the positions that moved; when there is nothing
 * to send, or it cannot be sent, finishes at once. 0 or an error. */
int cl__cons_commit(cl_consumer *c, enum cl__cons_commit_why why, uint64_t upto);
/* LeaveGroup for c->member_id (leave_inflight until answered). */
int cl__cons_leave(cl_consumer *c);
/* Sends one request to the group coordinator (CL_ERR_NO_BROKER when it is
 * not known; any failure forgets it). */
int cl__cons_coord_send(cl_consumer *c, int16_t api, cl_wire_encode_fn *enc,
			cl_wire_done_fn *done, void *arg);
void cl__cons_revoke_all(cl_consumer *c);
/* Coordinator, join, sync, heartbeat, leave on a stalled poll. */
void cl__cons_group_step(cl_consumer *c, int64_t now);

/* consumer_fetch.c */
void cl__cons_resolve_step(cl_consumer *c, int64_t now);
void cl__cons_metadata_step(cl_consumer *c, int64_t now);
/* Fetches from every leader with ready partitions. */
void cl__cons_fetch_step(cl_consumer *c, int64_t now);

/* ============================================================ producer */
/*
 * Shared by producer.c (the application side: send, poll, flush, topics,
 * lifecycle) and producer_io.c (the io thread: batches to requests,
 * answers, retries, producer id). Fields say who may touch them: "under
 * p->mu" ones from any thread with the mutex held, "io only" ones from the
 * io thread alone.
 */
struct event;

/* Buffers kept for reuse (see cl_producer.pool). */
#define CL__POOL_MAX 16

enum cl__topic_state { CL__T_UNKNOWN, CL__T_PENDING, CL__T_KNOWN, CL__T_ERROR };
enum cl__pid_state { CL__PID_NONE, CL__PID_REQUESTING, CL__PID_READY, CL__PID_BUMP };

struct cl__pbatch {
	struct cl__pbatch *next;
	struct cl__ppart *part;
	kp_batch_builder bb;          /* records until built */
	kp_buf wire;                  /* the built batch */
	bool built;
	void **opaques;               /* count entries */
	int32_t cap_opaques;
	int32_t count;
	size_t mem;                   /* buffer memory it holds */
	int64_t created_ms;
	int64_t deadline_ms;          /* created + delivery_timeout_ms */
	int32_t base_seq;             /* -1 until first sent (idempotent) */
	int attempts;
	/* outcome, for the delivery report */
	int err;
	int64_t base_offset;
};

struct cl__ppart {
	struct cl__ptopic *t;
	int32_t id;
	/* under p->mu */
	struct cl__pbatch *open;
	struct cl__pbatch *ready_head, *ready_tail;
	/* io thread only */
	struct cl__pbatch *sendq_head, *sendq_tail;
	struct cl__pbatch *infl_head, *infl_tail;
	int n_inflight;
	int32_t next_seq;             /* next sequence to hand out */
	int32_t acked_seq;            /* the sequence the broker expects next,
	                                 as far as answers tell */
	bool recovering;
	bool have_ack;                /* a batch of this epoch was acknowledged */
	int64_t retry_at;
	int32_t leader;
	uint64_t leader_gen;          /* cluster generation leader was read at */
};

struct cl__ptopic {
	char *name;
	/* under p->mu */
	enum cl__topic_state state;
	int err;                      /* CL__T_ERROR: why */
	int32_t n_parts;
	struct cl__ppart **parts;
	int32_t sticky;               /* -1: pick one at the next null key */
	int32_t last_sticky;
	int waiters;
};

struct cl_producer {
	cl_producer_conf conf;
	char bootstrap[1024];
	char client_id[128];
	cl_io *io;
	cl_cluster *cl;

	pthread_mutex_t mu;
	pthread_cond_t cv;            /* topic states, delivery queue */
	struct cl__ptopic **topics;       /* grown by copying: the io thread may
	                                 walk an older array (the first
	                                 n_topics it read stay valid) */
	size_t n_topics, cap_topics;
	struct cl__ptopic ***retired;     /* older topic arrays, freed at close */
	size_t n_retired;
	size_t mem_used;
	int64_t outstanding;
	struct cl__pbatch *dr_head, *dr_tail;
	/* Record and batch buffers kept for reuse: a fresh megabyte buffer
	 * per batch costs page faults and the growth copies of realloc. */
	kp_buf pool[CL__POOL_MAX];
	int n_pool;
	size_t pool_bytes;            /* capacity held, at most buffer_memory / 2 */
	bool kick_pending;
	int64_t io_wake_at;           /* when the io thread drains next */
	int flushing;
	bool closing;
	int fatal;
	uint64_t rnd;
	char errmsg[768];

	/* io thread only */
	struct event *timer;
	int64_t timer_at;             /* INT64_MAX when not armed */
	struct event *drain_ev;       /* drain_soon() */
	bool drain_pending;
	enum cl__pid_state pid_state;
	int64_t pid;
	int16_t epoch;
	int64_t pid_retry_at;
	bool pid_inflight;            /* an InitProducerId is out */
	int produce_inflight;
	uint64_t seen_gen;
	bool io_closing;
};

struct cl__prod_setup {
	cl_producer *p;
	cl_opts opts;
	int rc;
	char err[512];
	bool done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* producer.c: shared helpers. errf/errf_locked set p->errmsg (errf takes
 * the mutex, errf_locked expects it held). */
void cl__prod_errf(cl_producer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cl__prod_errf_locked(cl_producer *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cl__prod_batch_free(struct cl__pbatch *b);
void cl__prod_list_push(struct cl__pbatch **head, struct cl__pbatch **tail, struct cl__pbatch *b);
/* Under p->mu: an empty buffer, from the pool when it has one. */
kp_buf cl__prod_pool_get_locked(cl_producer *p);
/* Gives a buffer back to the pool or frees it; takes the mutex. */
void cl__prod_pool_put(cl_producer *p, kp_buf *b);

/* producer_io.c: what the application side hands to the io thread with
 * cl_io_call(). arg is the cl_producer (a struct cl__prod_setup for
 * setup). */
void cl__prod_on_kick(void *arg);
void cl__prod_io_topic_meta(void *arg);
void cl__prod_io_setup(void *arg);
void cl__prod_io_teardown(void *arg);

#endif /* REWIND_CLIENT_CL_INT_H */
