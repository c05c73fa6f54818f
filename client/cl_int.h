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

#include <stdarg.h>

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

/* The lowest version of api_key the helpers build and read (older shapes
 * mean something else); the client_min of cl_version_pick(). conn.c; also
 * used by the asynchronous wire.c. Pure. */
int16_t cl__api_min_version(int16_t api_key);

/*
 * One admin request's buffers and scratch arena, with the connection and
 * version it goes to: the common state of the helpers in groups.c and
 * admin.c. init before use, reset between tries, free at the end.
 */
struct cl__req {
	kp_buf body, resp;
	kp_arena arena;
	int16_t v;                    /* the version spoken, -1 until known */
	cl_conn *conn;                /* borrowed from the client */
};
void cl__req_init(struct cl__req *k);
/* Empties body and arena for another try (resp is reset by the call). */
void cl__req_reset(struct cl__req *k);
void cl__req_free(struct cl__req *k);
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

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t cl__now_ms(void);
/* Sleeps ms milliseconds (client-side retry backoff only). */
void cl__sleep_ms(int ms);

#endif /* REWIND_CLIENT_CL_INT_H */
