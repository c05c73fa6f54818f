/*
 * cluster.c -- the cluster as the io thread sees it: bootstrap wires, a
 * wire per node id, and a Metadata cache (partition counts and leaders per
 * topic) refreshed on demand.
 *
 * Refreshes are coalesced. The cluster keeps the set of topics anyone asked
 * about ("interest") and every Metadata request asks for all of them, or
 * for every topic once someone asked for all. An ask made while a request
 * is in flight and not yet encoded, or already covering the asked topics,
 * waits for that request's answer; any other ask waits for the next
 * request, started when the current one ends and no sooner than
 * refresh_backoff_ms after the previous start (a storm of NOT_LEADER
 * answers costs one request per interval). A request whose wire fails is
 * retried on another wire (nodes first, then the bootstrap list in turn)
 * until every known broker was tried once; then its askers get
 * CL_ERR_NO_BROKER and cl_cluster_errmsg() says what each broker did.
 *
 * Wires are owned here. A broken wire is closed and replaced the next time
 * someone asks for its node (wires close lazily: a pointer returned by
 * cl_cluster_wire stays valid until the next call that may replace it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "client/cl_int.h"

#define CLUSTER_DEFAULT_BACKOFF_MS 100

struct cnode {
	int32_t id;
	char host[256];
	int port;
	cl_wire *wire;                /* NULL until first use */
};

struct ctopic {
	char *name;                   /* owned */
	int16_t error;                /* topic-level error of the last answer */
	bool known;                   /* an answer named it */
	bool in_req;                  /* covered by the request in flight */
	int32_t n_parts;
	int32_t *leaders;             /* n_parts, owned */
};

struct waiter {
	void (*done)(void *arg, int err);
	void *arg;
	struct waiter *next;
};

struct cl_cluster {
	cl_io *io;
	cl_opts opts;
	char client_id[128];
	cl_hostport boot[CL__MAX_BOOTSTRAP];
	cl_wire *boot_wire[CL__MAX_BOOTSTRAP];
	size_t n_boot;
	size_t boot_next;             /* next bootstrap entry to open */
	struct cnode *nodes;
	size_t n_nodes, cap_nodes;
	struct ctopic *topics;
	size_t n_topics, cap_topics;
	bool want_all;                /* someone asked for every topic */
	bool auto_create;
	int backoff_ms;
	/* the request in flight */
	bool inflight;
	bool inflight_encoded;
	bool inflight_all;
	cl_wire *inflight_wire;
	int attempts;
	struct waiter *waiting;       /* for the request in flight */
	struct waiter *next_waiting;  /* for the next request */
	bool next_needed;
	int64_t last_start_ms;
	struct event *timer;
	bool timer_armed;
	bool freeing;
	uint64_t generation;
	char errmsg[768];
	char tried[640];              /* what each wire did during one refresh */
};

static void start_refresh(cl_cluster *c);

/* ---------------------------------------------------------------- tables */

static struct cnode *node_find(const cl_cluster *c, int32_t id)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].id == id)
			return &c->nodes[i];
	return NULL;
}

static struct ctopic *topic_find(const cl_cluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_topics; i++)
		if (strcmp(c->topics[i].name, name) == 0)
			return &c->topics[i];
	return NULL;
}

static struct ctopic *topic_find_str(const cl_cluster *c, kp_str s)
{
	size_t n = s.len > 0 ? (size_t)s.len : 0;
	for (size_t i = 0; i < c->n_topics; i++)
		if (strlen(c->topics[i].name) == n && memcmp(c->topics[i].name, s.p, n) == 0)
			return &c->topics[i];
	return NULL;
}

static struct ctopic *topic_add(cl_cluster *c, const char *name, size_t len)
{
	if (c->n_topics == c->cap_topics) {
		size_t cap = c->cap_topics ? c->cap_topics * 2 : 8;
		struct ctopic *nt = realloc(c->topics, cap * sizeof *nt);
		if (nt == NULL)
			return NULL;
		c->topics = nt;
		c->cap_topics = cap;
	}
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return NULL;
	memcpy(copy, name, len);
	copy[len] = '\0';
	struct ctopic *t = &c->topics[c->n_topics++];
	memset(t, 0, sizeof *t);
	t->name = copy;
	return t;
}

int cl_cluster_node_set(cl_cluster *c, int32_t node_id, const char *host, int port)
{
	struct cnode *n = node_find(c, node_id);
	if (n == NULL) {
		if (c->n_nodes == c->cap_nodes) {
			size_t cap = c->cap_nodes ? c->cap_nodes * 2 : 4;
			struct cnode *nn = realloc(c->nodes, cap * sizeof *nn);
			if (nn == NULL)
				return -ENOMEM;
			c->nodes = nn;
			c->cap_nodes = cap;
		}
		n = &c->nodes[c->n_nodes++];
		memset(n, 0, sizeof *n);
		n->id = node_id;
	} else if (strcmp(n->host, host) == 0 && n->port == port) {
		return 0;
	} else {
		/* The broker moved: its wire goes to the old address. */
		cl_wire *old = n->wire;
		n->wire = NULL;
		if (old == c->inflight_wire)
			c->inflight_wire = NULL;
		cl_wire_close(old);
	}
	snprintf(n->host, sizeof n->host, "%s", host);
	n->port = port;
	return 0;
}

/* ----------------------------------------------------------------- wires */

cl_wire *cl_cluster_wire(cl_cluster *c, int32_t node_id)
{
	struct cnode *n = node_find(c, node_id);
	if (n == NULL)
		return NULL;
	if (n->wire && cl_wire_broken(n->wire)) {
		cl_wire *old = n->wire;
		n->wire = NULL;
		cl_wire_close(old);
	}
	if (n->wire == NULL && cl_wire_open(c->io, n->host, n->port, &c->opts, &n->wire) < 0)
		n->wire = NULL;
	return n->wire;
}

cl_wire *cl_cluster_any_wire(cl_cluster *c)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].wire && !cl_wire_broken(c->nodes[i].wire))
			return c->nodes[i].wire;
	for (size_t k = 0; k < c->n_boot; k++) {
		cl_wire *w = c->boot_wire[(c->boot_next + k) % c->n_boot];
		if (w && !cl_wire_broken(w))
			return w;
	}
	/* Nothing live: open the next bootstrap entry (each in turn, so a
	 * dead first entry does not hide the others), then the known nodes. */
	for (size_t k = 0; k < c->n_boot; k++) {
		size_t i = c->boot_next;
		c->boot_next = (c->boot_next + 1) % c->n_boot;
		cl_wire *old = c->boot_wire[i];
		c->boot_wire[i] = NULL;
		cl_wire_close(old);
		cl_wire *w = NULL;
		if (cl_wire_open(c->io, c->boot[i].host, c->boot[i].port, &c->opts, &w) < 0)
			return NULL;
		c->boot_wire[i] = w;
		if (!cl_wire_broken(w))
			return w;
		size_t tl = strlen(c->tried);
		snprintf(c->tried + tl, sizeof c->tried - tl, "%s%s", tl ? "; " : "",
			 cl_wire_errmsg(w));
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		cl_wire *w = cl_cluster_wire(c, c->nodes[i].id);
		if (w && !cl_wire_broken(w))
			return w;
	}
	return NULL;
}

/* -------------------------------------------------------------- metadata */

static int encode_metadata(void *arg, int16_t version, kp_buf *body)
{
	cl_cluster *c = arg;
	kp_MetadataRequest q;
	kp_MetadataRequest_init(&q);

	c->inflight_encoded = true;
	c->inflight_all = c->want_all;
	size_t n = 0;
	for (size_t i = 0; i < c->n_topics; i++)
		c->topics[i].in_req = !c->want_all;
	kp_MetadataRequest_MetadataRequestTopic *items = NULL;
	if (c->want_all) {
		q.Topics.count = -1;
	} else {
		if (c->n_topics > 0) {
			items = calloc(c->n_topics, sizeof *items);
			if (items == NULL)
				return -ENOMEM;
		}
		for (size_t i = 0; i < c->n_topics; i++) {
			kp_MetadataRequest_MetadataRequestTopic_init(&items[n]);
			items[n++].Name = kp_str_from(c->topics[i].name);
		}
		q.Topics.count = (int32_t)n;
		q.Topics.items = items;
	}
	q.AllowAutoTopicCreation = c->auto_create;
	int rc = kp_MetadataRequest_encode(body, version, &q);
	free(items);
	return rc;
}

static void run_waiters(struct waiter *w, int err)
{
	while (w) {
		struct waiter *next = w->next;
		if (w->done)
			w->done(w->arg, err);
		free(w);
		w = next;
	}
}

static int cluster_node_set(void *c, int32_t node_id, const char *host, int port)
{
	return cl_cluster_node_set(c, node_id, host, port);
}

static int apply_metadata(cl_cluster *c, kp_reader *body, int16_t version)
{
	kp_MetadataResponse m;
	kp_arena a;
	kp_arena_init(&a, 0);
	int rc = kp_MetadataResponse_decode(body, version, &a, &m);
	if (rc < 0) {
		snprintf(c->errmsg, sizeof c->errmsg, "the Metadata v%d answer does not parse", version);
		kp_arena_free(&a);
		return CL_ERR_PROTOCOL;
	}
	if ((rc = cl__metadata_brokers(&m, cluster_node_set, c)) < 0)
		goto out;
	for (int32_t i = 0; i < m.Topics.count; i++) {
		const kp_MetadataResponse_MetadataResponseTopic *mt = &m.Topics.items[i];
		if (mt->Name.len <= 0)
			continue;
		struct ctopic *t = topic_find_str(c, mt->Name);
		if (t == NULL && !(t = topic_add(c, (const char *)mt->Name.p, (size_t)mt->Name.len))) {
			rc = -ENOMEM;
			goto out;
		}
		int32_t np = 0;
		for (int32_t p = 0; p < mt->Partitions.count; p++)
			if (mt->Partitions.items[p].PartitionIndex >= np)
				np = mt->Partitions.items[p].PartitionIndex + 1;
		int32_t *leaders = NULL;
		if (np > 0 && !(leaders = malloc((size_t)np * sizeof *leaders))) {
			rc = -ENOMEM;
			goto out;
		}
		for (int32_t p = 0; p < np; p++)
			leaders[p] = -1;
		for (int32_t p = 0; p < mt->Partitions.count; p++) {
			const kp_MetadataResponse_MetadataResponsePartition *mp = &mt->Partitions.items[p];
			if (mp->PartitionIndex >= 0 && mp->ErrorCode != 3 /* UNKNOWN_TOPIC_OR_PARTITION */)
				leaders[mp->PartitionIndex] = mp->LeaderId;
		}
		free(t->leaders);
		t->leaders = leaders;
		t->n_parts = np;
		t->error = mt->ErrorCode;
		t->known = true;
	}
	c->generation++;
	rc = 0;
out:
	kp_arena_free(&a);
	return rc;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	cl_cluster *c = arg;
	(void)fd;
	(void)what;
	c->timer_armed = false;
	if (!c->inflight && c->next_needed)
		start_refresh(c);
}

/* Starts the next request now or when the backoff allows. */
static void maybe_start(cl_cluster *c)
{
	if (c->inflight || !c->next_needed || c->timer_armed || c->freeing)
		return;
	int64_t wait = c->last_start_ms + c->backoff_ms - cl__now_ms();
	if (c->last_start_ms == 0 || wait <= 0) {
		start_refresh(c);
		return;
	}
	struct timeval tv = { (time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000 };
	event_add(c->timer, &tv);
	c->timer_armed = true;
}

static void finish_refresh(cl_cluster *c, int err)
{
	struct waiter *w = c->waiting;
	c->waiting = NULL;
	c->inflight = false;
	c->inflight_wire = NULL;
	c->attempts = 0;
	for (size_t i = 0; i < c->n_topics; i++)
		c->topics[i].in_req = false;
	run_waiters(w, err);
	maybe_start(c);
}

static void on_metadata(void *arg, int err, int16_t version, kp_reader *body)
{
	cl_cluster *c = arg;
	if (c->freeing)
		return;
	if (err == 0) {
		err = apply_metadata(c, body, version);
		if (err == 0)
			c->errmsg[0] = '\0';
		finish_refresh(c, err);
		return;
	}
	/* The wire failed: try another until each known broker had a go. */
	cl_wire *w = c->inflight_wire;
	size_t tl = strlen(c->tried);
	if (w)
		snprintf(c->tried + tl, sizeof c->tried - tl, "%s%s", tl ? "; " : "",
			 cl_wire_errmsg(w)[0] ? cl_wire_errmsg(w) : cl_strerror(err));
	c->attempts++;
	if ((size_t)c->attempts < c->n_boot + c->n_nodes) {
		c->inflight = false;
		c->next_needed = true;
		/* the askers of this request ride on the retry */
		struct waiter **tail = &c->waiting;
		while (*tail)
			tail = &(*tail)->next;
		*tail = c->next_waiting;
		c->next_waiting = c->waiting;
		c->waiting = NULL;
		start_refresh(c);
		return;
	}
	snprintf(c->errmsg, sizeof c->errmsg,
		 "no broker answered Metadata (%s); is the broker running, and is the bootstrap list right?",
		 c->tried);
	finish_refresh(c, CL_ERR_NO_BROKER);
}

static void start_refresh(cl_cluster *c)
{
	if (c->inflight || c->freeing)
		return;
	if (c->attempts == 0)
		c->tried[0] = '\0';
	c->next_needed = false;
	c->inflight = true;
	c->inflight_encoded = false;
	c->waiting = c->next_waiting;
	c->next_waiting = NULL;
	c->last_start_ms = cl__now_ms();
	for (;;) {
		cl_wire *w = cl_cluster_any_wire(c);
		if (w == NULL) {
			snprintf(c->errmsg, sizeof c->errmsg,
				 "no broker could be reached (%s); is the broker running, and is the bootstrap list right?",
				 c->tried[0] ? c->tried : "no address to try");
			c->attempts = 0;
			finish_refresh(c, CL_ERR_NO_BROKER);
			return;
		}
		c->inflight_wire = w;
		int rc = cl_wire_send(w, KP_API_METADATA, true, encode_metadata, on_metadata, c);
		if (rc == 0)
			break;
		if (rc == -ENOMEM || ++c->attempts >= (int)(c->n_boot + c->n_nodes)) {
			snprintf(c->errmsg, sizeof c->errmsg, "cannot ask %s for Metadata: %s",
				 cl_wire_addr(w), cl_strerror(rc));
			c->attempts = 0;
			finish_refresh(c, rc == -ENOMEM ? rc : CL_ERR_NO_BROKER);
			return;
		}
	}
}

int cl_cluster_refresh(cl_cluster *c, const char *const *topics, size_t n,
		       void (*done)(void *arg, int err), void *arg)
{
	struct waiter *wt = calloc(1, sizeof *wt);
	if (wt == NULL)
		return -ENOMEM;
	wt->done = done;
	wt->arg = arg;
	bool covered = c->inflight && (!c->inflight_encoded || c->inflight_all);
	if (topics == NULL && n == 0) {
		c->want_all = true;
	} else {
		bool all_in = true;
		for (size_t i = 0; i < n; i++) {
			struct ctopic *t = topic_find(c, topics[i]);
			if (t == NULL && !(t = topic_add(c, topics[i], strlen(topics[i])))) {
				free(wt);
				return -ENOMEM;
			}
			if (!t->in_req)
				all_in = false;
		}
		if (c->inflight && c->inflight_encoded && all_in)
			covered = true;
	}
	if (covered) {
		wt->next = c->waiting;
		c->waiting = wt;
		return 0;
	}
	wt->next = c->next_waiting;
	c->next_waiting = wt;
	c->next_needed = true;
	if (!c->inflight)
		c->attempts = 0;
	maybe_start(c);
	return 0;
}

/* ----------------------------------------------------------------- reads */

int cl_cluster_partition_count(const cl_cluster *c, const char *topic)
{
	const struct ctopic *t = topic_find(c, topic);
	if (t == NULL || !t->known)
		return -1;
	if (t->error != 0)
		return cl_err_kafka(t->error);
	return t->n_parts;
}

int32_t cl_cluster_leader(const cl_cluster *c, const char *topic, int32_t partition)
{
	const struct ctopic *t = topic_find(c, topic);
	if (t == NULL || partition < 0 || partition >= t->n_parts)
		return -1;
	return t->leaders[partition];
}

uint64_t cl_cluster_generation(const cl_cluster *c) { return c->generation; }
const char *cl_cluster_errmsg(const cl_cluster *c) { return c->errmsg; }
cl_io *cl_cluster_io(const cl_cluster *c) { return c->io; }
void cl_cluster_set_auto_create(cl_cluster *c, bool allow) { c->auto_create = allow; }
void cl_cluster_set_refresh_backoff(cl_cluster *c, int ms) { c->backoff_ms = ms > 0 ? ms : 0; }

/* ------------------------------------------------------------- lifecycle */

int cl_cluster_new(cl_io *io, const char *bootstrap, const cl_opts *opts,
		   cl_cluster **out, char *err, size_t errlen)
{
	*out = NULL;
	cl_cluster *c = calloc(1, sizeof *c);
	if (c == NULL) {
		if (errlen)
			snprintf(err, errlen, "out of memory for a cluster");
		return -ENOMEM;
	}
	int n = cl_bootstrap_parse(bootstrap, c->boot, CL__MAX_BOOTSTRAP, err, errlen);
	if (n < 0) {
		free(c);
		return n;
	}
	c->n_boot = (size_t)n;
	c->io = io;
	if (opts)
		c->opts = *opts;
	snprintf(c->client_id, sizeof c->client_id, "%s",
		 c->opts.client_id ? c->opts.client_id : "rewind");
	c->opts.client_id = c->client_id;
	c->backoff_ms = CLUSTER_DEFAULT_BACKOFF_MS;
	c->timer = evtimer_new(cl_io_base(io), on_timer, c);
	if (c->timer == NULL) {
		free(c);
		if (errlen)
			snprintf(err, errlen, "out of memory for a cluster");
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void cl_cluster_free(cl_cluster *c)
{
	if (c == NULL)
		return;
	c->freeing = true;
	for (size_t i = 0; i < c->n_boot; i++)
		cl_wire_close(c->boot_wire[i]);
	for (size_t i = 0; i < c->n_nodes; i++)
		cl_wire_close(c->nodes[i].wire);
	run_waiters(c->waiting, CL_ERR_CLOSED);
	run_waiters(c->next_waiting, CL_ERR_CLOSED);
	event_free(c->timer);
	for (size_t i = 0; i < c->n_topics; i++) {
		free(c->topics[i].name);
		free(c->topics[i].leaders);
	}
	free(c->topics);
	free(c->nodes);
	free(c);
}
