/*
 * client.c -- a cluster seen from a bootstrap list: the broker table,
 * connections per broker, Metadata and FindCoordinator, and the request
 * loop the admin helpers of admin.c and groups.c share (struct cl__req:
 * encode, send, decode, retry, ask every broker).
 *
 * The client learns brokers (node id -> host:port) from every Metadata and
 * FindCoordinator answer and opens a connection to a broker the first time
 * a request must go there. A connection that breaks is closed and forgotten
 * at once, so the next request to that broker reconnects.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cl_int.h"

void cl__errf(cl_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
}

char *cl__strdup(kp_arena *mem, kp_str s)
{
	size_t n = s.len > 0 ? (size_t)s.len : 0;
	char *p = kp_arena_alloc(mem, n + 1);
	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, s.p, n);
	p[n] = '\0';
	return p;
}

char *cl__strdup_c(kp_arena *mem, const char *s)
{
	return cl__strdup(mem, kp_str_from(s ? s : ""));
}

/* --------------------------------------------------------- bootstrap list */

static int boot_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int boot_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CL_ERR_BOOTSTRAP;
}

int cl_bootstrap_parse(const char *list, cl_hostport *out, size_t max,
		       char *err, size_t errlen)
{
	size_t n = 0;
	const char *p = list ? list : "";

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		char entry[300];
		if (len == 0)
			return boot_err(err, errlen,
					"empty entry in the bootstrap list '%s' (expected host:port[,host:port...])",
					list ? list : "");
		if (len >= sizeof entry)
			return boot_err(err, errlen, "bootstrap entry too long in '%s'", list);
		memcpy(entry, p, len);
		entry[len] = '\0';
		if (n == max)
			return boot_err(err, errlen, "too many brokers in the bootstrap list '%s'", list);

		const char *host = entry, *port = NULL;
		char *colon;
		if (entry[0] == '[') {
			char *rb = strchr(entry, ']');
			if (rb == NULL || rb == entry + 1)
				return boot_err(err, errlen,
						"bad IPv6 address in '%s' (expected [addr]:port)", entry);
			*rb = '\0';
			host = entry + 1;
			if (rb[1] == ':')
				port = rb + 2;
			else if (rb[1] != '\0')
				return boot_err(err, errlen,
						"unexpected text after ']' in '%s' (expected [addr]:port)",
						list);
		} else if ((colon = strrchr(entry, ':')) != NULL) {
			if (strchr(entry, ':') != colon)
				return boot_err(err, errlen,
						"ambiguous address '%s': write IPv6 addresses as [addr]:port",
						entry);
			*colon = '\0';
			port = colon + 1;
		}
		if (host[0] == '\0')
			return boot_err(err, errlen, "missing host name in bootstrap entry '%s'", list);
		long pv = CL_DEFAULT_PORT;
		if (port) {
			char *e;
			errno = 0;
			pv = strtol(port, &e, 10);
			if (port[0] == '\0' || *e != '\0' || errno || pv < 1 || pv > 65535)
				return boot_err(err, errlen,
						"bad port in bootstrap entry '%s' (expected 1..65535)",
						list);
		}
		if (strlen(host) >= sizeof out[n].host)
			return boot_err(err, errlen, "host name too long in '%s'", list);
		snprintf(out[n].host, sizeof out[n].host, "%s", host);
		out[n].port = (int)pv;
		n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return (int)n;
}

/* ------------------------------------------------------------ the client */

int cl_client_new(const char *bootstrap, const cl_opts *opts, cl_client **out,
		  char *err, size_t errlen)
{
	*out = NULL;
	cl_client *c = calloc(1, sizeof *c);
	if (c == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "out of memory for a client");
		return -ENOMEM;
	}
	int n = cl_bootstrap_parse(bootstrap, c->bootstrap, CL__MAX_BOOTSTRAP, err, errlen);
	if (n < 0) {
		free(c);
		return n;
	}
	c->n_bootstrap = (size_t)n;
	if (opts)
		c->opts = *opts;
	snprintf(c->client_id, sizeof c->client_id, "%s",
		 c->opts.client_id ? c->opts.client_id : "rewind");
	c->opts.client_id = c->client_id;
	*out = c;
	return 0;
}

void cl_client_free(cl_client *c)
{
	if (c == NULL)
		return;
	cl_conn_close(c->boot);
	for (size_t i = 0; i < c->n_nodes; i++)
		cl_conn_close(c->nodes[i].conn);
	free(c->nodes);
	free(c);
}

const char *cl_client_errmsg(const cl_client *c) { return c->errmsg; }

static struct cl__node *node_find(cl_client *c, int32_t node_id)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].node_id == node_id)
			return &c->nodes[i];
	return NULL;
}

/* cluster.c keeps a table of the same shape apart: its nodes hold io-thread
 * wires, closed differently from these blocking connections. */
int cl__node_set(cl_client *c, int32_t node_id, const char *host, int port)
{
	struct cl__node *n = node_find(c, node_id);
	if (n == NULL) {
		if (c->n_nodes == c->cap_nodes) {
			size_t cap = c->cap_nodes ? c->cap_nodes * 2 : 4;
			struct cl__node *nn = realloc(c->nodes, cap * sizeof *nn);
			if (nn == NULL)
				return -ENOMEM;
			c->nodes = nn;
			c->cap_nodes = cap;
		}
		n = &c->nodes[c->n_nodes++];
		memset(n, 0, sizeof *n);
		n->node_id = node_id;
	} else if (strcmp(n->host, host) == 0 && n->port == port) {
		return 0;
	} else {
		/* The broker moved: its old connection goes to the old address. */
		cl_conn_close(n->conn);
		n->conn = NULL;
	}
	snprintf(n->host, sizeof n->host, "%s", host);
	n->port = port;
	return 0;
}

void cl__conn_drop(cl_client *c, cl_conn *conn)
{
	if (conn == NULL)
		return;
	if (c->boot == conn) {
		c->boot = NULL;
	} else {
		for (size_t i = 0; i < c->n_nodes; i++)
			if (c->nodes[i].conn == conn)
				c->nodes[i].conn = NULL;
	}
	cl_conn_close(conn);
}

int cl__call(cl_client *c, cl_conn *conn, int16_t api_key, int16_t version,
	     const kp_buf *body, kp_buf *resp)
{
	int rc = cl_conn_call(conn, api_key, version, body, resp);
	if (rc < 0) {
		cl__errf(c, "%s", cl_conn_errmsg(conn));
		if (cl_conn_broken(conn))
			cl__conn_drop(c, conn);
	}
	return rc;
}

static const char *api_name(int16_t api_key)
{
	const kp_api_info *a = kp_api_find(api_key);
	return a ? a->name : "?";
}

int cl__version(cl_client *c, cl_conn *conn, int16_t api_key, int16_t *version)
{
	int16_t v = cl_conn_api_version(conn, api_key);
	if (v >= 0) {
		*version = v;
		return 0;
	}
	int16_t lo, hi;
	if (cl_conn_broker_range(conn, api_key, &lo, &hi))
		cl__errf(c, "the broker at %s offers %s v%d-v%d, none of which rewind's client speaks; "
			 "upgrade rewind or the broker", cl_conn_addr(conn), api_name(api_key), lo, hi);
	else
		cl__errf(c, "the broker at %s does not offer the %s API; it may be too old "
			 "or not have this feature", cl_conn_addr(conn), api_name(api_key));
	return CL_ERR_UNSUPPORTED;
}

void cl__req_init(struct cl__req *k, const cl_client *c)
{
	kp_buf_init(&k->body);
	kp_buf_init(&k->resp);
	kp_arena_init(&k->arena, 0);
	k->v = -1;
	k->conn = NULL;
	k->deadline = cl__now_ms() + cl__request_timeout(&c->opts);
	k->wait = 50;
}

void cl__req_reset(struct cl__req *k)
{
	kp_buf_reset(&k->body);
	kp_arena_reset(&k->arena);
}

void cl__req_free(struct cl__req *k)
{
	kp_buf_free(&k->body);
	kp_buf_free(&k->resp);
	kp_arena_free(&k->arena);
}

int cl__encode_failed(cl_client *c, const char *api, int16_t v, int rc)
{
	cl__errf(c, "cannot encode %s v%d: %s", api, v, cl_strerror(rc));
	return rc;
}

int cl__parse_failed(cl_client *c, const char *api, const struct cl__req *k)
{
	cl__errf(c, "the %s v%d answer from %s does not parse", api, k->v, cl_conn_addr(k->conn));
	return CL_ERR_PROTOCOL;
}

bool cl__backoff(int64_t deadline, int *ms)
{
	if (cl__now_ms() + *ms >= deadline)
		return false;
	cl__sleep_ms(*ms);
	*ms = *ms * 2 > 1000 ? 1000 : *ms * 2;
	return true;
}

bool cl__req_again(struct cl__req *k)
{
	return cl__backoff(k->deadline, &k->wait);
}

int cl__req_run(cl_client *c, struct cl__req *k, int16_t api_key, int enc_rc, kp_reader *r)
{
	int rc;
	if (enc_rc < 0)
		return cl__encode_failed(c, api_name(api_key), k->v, enc_rc);
	if ((rc = cl__call(c, k->conn, api_key, k->v, &k->body, &k->resp)) < 0)
		return rc;
	*r = kp_reader_make(k->resp.data, k->resp.len);
	return 0;
}

int cl__req_parsed(cl_client *c, const struct cl__req *k, int16_t api_key, bool parsed)
{
	return parsed ? 0 : cl__parse_failed(c, api_name(api_key), k);
}

int cl__req_each_broker(cl_client *c, struct cl__req *k, int16_t api_key, cl__broker_fn *each,
			void *arg)
{
	cl_metadata *md = NULL;
	int rc;

	/* Metadata for no topics: the broker list is all we need. */
	if ((rc = cl__any_conn(c, &k->conn)) < 0 ||
	    (rc = cl__metadata_on(c, k->conn, NULL, 0, false, &md)) < 0)
		return rc;
	for (size_t b = 0; b < md->n_brokers && rc == 0; b++) {
		int32_t node = md->brokers[b].node_id;
		cl__req_reset(k);
		if ((rc = cl_client_broker(c, node, &k->conn)) == 0 &&
		    (rc = cl__version(c, k->conn, api_key, &k->v)) == 0)
			rc = each(c, k, node, arg);
	}
	cl_metadata_free(md);
	return rc;
}

int cl__broker_error(cl_client *c, int32_t node, int16_t api_key, int16_t code)
{
	if (code == 0)
		return 0;
	int rc = cl_err_kafka(code);
	cl__errf(c, "broker %d answered %s with %s (%s)", node, api_name(api_key),
		 cl_strerror(rc), cl_kafka_err_desc(code));
	return rc;
}

void *cl__arena_reserve(kp_arena *a, void *arr, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *grown = kp_arena_calloc(a, ncap, sz);
	if (grown == NULL)
		return NULL;
	if (n)
		memcpy(grown, arr, n * sz);
	*cap = ncap;
	return grown;
}

bool cl__str_eq(kp_str s, const char *c)
{
	size_t n = strlen(c);
	return s.len >= 0 && (size_t)s.len == n && memcmp(s.p, c, n) == 0;
}

/* Metadata with no topics on conn, to learn the brokers. */
static int learn_brokers(cl_client *c, cl_conn *conn)
{
	cl_metadata *md = NULL;
	int rc = cl__metadata_on(c, conn, NULL, 0, false, &md);
	cl_metadata_free(md);
	return rc;
}

int cl_client_connect(cl_client *c)
{
	char detail[640] = "";
	size_t dl = 0;

	for (size_t i = 0; i < c->n_bootstrap; i++) {
		char err[512];
		cl_conn *conn = NULL;
		int rc = cl_conn_open(c->bootstrap[i].host, c->bootstrap[i].port, &c->opts,
				      &conn, err, sizeof err);
		if (rc == 0) {
			cl_conn_close(c->boot);
			c->boot = conn;
			rc = learn_brokers(c, conn);
			if (rc == 0) {
				c->connected = true;
				return 0;
			}
			snprintf(err, sizeof err, "%.480s", c->errmsg);
			/* A broker whose Metadata we cannot read is no bootstrap. */
			cl__conn_drop(c, c->boot);
		}
		if (dl < sizeof detail)
			dl += (size_t)snprintf(detail + dl, sizeof detail - dl, "%s%s",
					       dl ? "; " : "", err);
	}
	cl__errf(c, "no bootstrap broker answered (%s); is the broker running, and is "
		 "--bootstrap right?", detail);
	return CL_ERR_NO_BROKER;
}

int cl__any_conn(cl_client *c, cl_conn **out)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (c->nodes[i].conn && !cl_conn_broken(c->nodes[i].conn)) {
			*out = c->nodes[i].conn;
			return 0;
		}
	if (c->boot == NULL || cl_conn_broken(c->boot)) {
		int rc = cl_client_connect(c);
		if (rc < 0)
			return rc;
	}
	*out = c->boot;
	return 0;
}

int cl_client_broker(cl_client *c, int32_t node_id, cl_conn **out)
{
	struct cl__node *n = node_find(c, node_id);
	if (n == NULL && !c->connected) {
		int rc = cl_client_connect(c);
		if (rc < 0)
			return rc;
		n = node_find(c, node_id);
	}
	if (n == NULL) {
		cl__errf(c, "the cluster's metadata names no broker %d", node_id);
		return CL_ERR_NO_LEADER;
	}
	if (n->conn && cl_conn_broken(n->conn)) {
		cl_conn_close(n->conn);
		n->conn = NULL;
	}
	if (n->conn == NULL) {
		char err[512];
		int rc = cl_conn_open(n->host, n->port, &c->opts, &n->conn, err, sizeof err);
		if (rc < 0) {
			cl__errf(c, "broker %d: %s", node_id, err);
			return rc;
		}
	}
	*out = n->conn;
	return 0;
}

/* -------------------------------------------------------------- metadata */

/* A copy of a node id array of a Metadata answer in mem (none for null or
 * empty); -1 when the arena fails. */
static int copy_ids(kp_arena *mem, const int32_t *ids, int32_t count, int32_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (count <= 0)
		return 0;
	if ((*out = kp_arena_calloc(mem, (size_t)count, sizeof **out)) == NULL)
		return -1;
	memcpy(*out, ids, (size_t)count * sizeof **out);
	*n = (size_t)count;
	return 0;
}

/* Copies a protocol host name into a C string of 256 bytes. */
static void host_copy(char host[256], kp_str h)
{
	snprintf(host, 256, "%.*s", h.len > 0 ? (int)h.len : 0, (const char *)h.p);
}

int cl__metadata_brokers(const kp_MetadataResponse *m, cl__node_fn *set, void *arg)
{
	for (int32_t i = 0; i < m->Brokers.count; i++) {
		const kp_MetadataResponse_MetadataResponseBroker *b = &m->Brokers.items[i];
		char host[256];
		host_copy(host, b->Host);
		int rc = set(arg, b->NodeId, host, b->Port);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int client_node_set(void *c, int32_t node_id, const char *host, int port)
{
	return cl__node_set(c, node_id, host, port);
}

int cl__find_coordinator_encode(kp_buf *body, int16_t v, const char *group)
{
	kp_FindCoordinatorRequest q;
	kp_str key = kp_str_from(group);
	kp_FindCoordinatorRequest_init(&q);
	if (v >= 4) {
		q.CoordinatorKeys.count = 1;
		q.CoordinatorKeys.items = &key;
	} else {
		q.Key = key;
	}
	return kp_FindCoordinatorRequest_encode(body, v, &q);
}

bool cl__find_coordinator_decode(kp_reader *r, int16_t v, kp_arena *a, struct cl__coord *out)
{
	kp_FindCoordinatorResponse m;
	if (kp_FindCoordinatorResponse_decode(r, v, a, &m) < 0 ||
	    (v >= 4 && m.Coordinators.count != 1))
		return false;
	if (v >= 4) {
		const kp_FindCoordinatorResponse_Coordinator *x = &m.Coordinators.items[0];
		out->error = x->ErrorCode;
		out->node = x->NodeId;
		host_copy(out->host, x->Host);
		out->port = x->Port;
	} else {
		out->error = m.ErrorCode;
		out->node = m.NodeId;
		host_copy(out->host, m.Host);
		out->port = m.Port;
	}
	return true;
}

static int part_cmp(const void *a, const void *b)
{
	const cl_partition_info *x = a, *y = b;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

int cl__metadata_on(cl_client *c, cl_conn *conn, const char *const *topics, size_t n,
		    bool all_topics, cl_metadata **out)
{
	kp_MetadataRequest q;
	kp_MetadataResponse m;
	kp_buf body, resp;
	kp_arena arena;
	int16_t v;
	int rc;

	*out = NULL;
	if ((rc = cl__version(c, conn, KP_API_METADATA, &v)) < 0)
		return rc;
	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_arena_init(&arena, 0);
	kp_MetadataRequest_init(&q);
	if (all_topics) {
		q.Topics.count = -1;
	} else if (n > 0) {
		kp_MetadataRequest_MetadataRequestTopic *t = kp_arena_calloc(&arena, n, sizeof *t);
		if (t == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			kp_MetadataRequest_MetadataRequestTopic_init(&t[i]);
			t[i].Name = kp_str_from(topics[i]);
		}
		q.Topics.count = (int32_t)n;
		q.Topics.items = t;
	}
	if (v >= 4)
		q.AllowAutoTopicCreation = false;
	if ((rc = kp_MetadataRequest_encode(&body, v, &q)) < 0) {
		cl__errf(c, "cannot encode Metadata v%d: %s", v, cl_strerror(rc));
		goto out;
	}
	if ((rc = cl__call(c, conn, KP_API_METADATA, v, &body, &resp)) < 0)
		goto out;
	kp_reader r = kp_reader_make(resp.data, resp.len);
	if (kp_MetadataResponse_decode(&r, v, &arena, &m) < 0) {
		cl__errf(c, "the Metadata v%d answer from %s does not parse", v, cl_conn_addr(conn));
		rc = CL_ERR_PROTOCOL;
		goto out;
	}
	if ((rc = cl__metadata_brokers(&m, client_node_set, c)) < 0)
		goto out;

	cl_metadata *md = calloc(1, sizeof *md);
	if (md == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	kp_arena_init(&md->mem, 0);
	md->controller_id = m.ControllerId;
	md->n_brokers = (size_t)(m.Brokers.count > 0 ? m.Brokers.count : 0);
	md->n_topics = (size_t)(m.Topics.count > 0 ? m.Topics.count : 0);
	if (md->n_brokers)
		md->brokers = kp_arena_calloc(&md->mem, md->n_brokers, sizeof *md->brokers);
	if (md->n_topics)
		md->topics = kp_arena_calloc(&md->mem, md->n_topics, sizeof *md->topics);
	for (size_t i = 0; i < md->n_brokers && md->brokers; i++) {
		md->brokers[i].node_id = m.Brokers.items[i].NodeId;
		md->brokers[i].host = cl__strdup(&md->mem, m.Brokers.items[i].Host);
		md->brokers[i].port = m.Brokers.items[i].Port;
	}
	for (size_t i = 0; i < md->n_topics && md->topics; i++) {
		const kp_MetadataResponse_MetadataResponseTopic *t = &m.Topics.items[i];
		cl_topic_info *o = &md->topics[i];
		o->name = cl__strdup(&md->mem, t->Name);
		o->error = t->ErrorCode;
		o->internal = t->IsInternal;
		o->n_partitions = (size_t)(t->Partitions.count > 0 ? t->Partitions.count : 0);
		if (o->n_partitions)
			o->partitions = kp_arena_calloc(&md->mem, o->n_partitions, sizeof *o->partitions);
		for (size_t j = 0; j < o->n_partitions && o->partitions; j++) {
			o->partitions[j].partition = t->Partitions.items[j].PartitionIndex;
			o->partitions[j].error = t->Partitions.items[j].ErrorCode;
			o->partitions[j].leader = t->Partitions.items[j].LeaderId;
			if (copy_ids(&md->mem, t->Partitions.items[j].ReplicaNodes.items,
				     t->Partitions.items[j].ReplicaNodes.count,
				     &o->partitions[j].replicas, &o->partitions[j].n_replicas) < 0 ||
			    copy_ids(&md->mem, t->Partitions.items[j].IsrNodes.items,
				     t->Partitions.items[j].IsrNodes.count,
				     &o->partitions[j].isr, &o->partitions[j].n_isr) < 0)
				break;
		}
		if (v >= 10) {
			static const uint8_t zero[16];
			memcpy(o->topic_id, t->TopicId.b, 16);
			o->has_id = memcmp(o->topic_id, zero, 16) != 0;
		}
		if (o->partitions)
			qsort(o->partitions, o->n_partitions, sizeof *o->partitions, part_cmp);
	}
	if (md->mem.err) {
		rc = md->mem.err;
		cl_metadata_free(md);
		goto out;
	}
	*out = md;
	rc = 0;
out:
	if (rc == -ENOMEM || rc == KP_ERR_NOMEM)
		cl__errf(c, "out of memory reading metadata");
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_arena_free(&arena);
	return rc;
}

int cl_metadata_get(cl_client *c, const char *const *topics, size_t n, cl_metadata **out)
{
	cl_conn *conn;
	int rc;

	*out = NULL;
	if ((rc = cl__any_conn(c, &conn)) < 0)
		return rc;
	return cl__metadata_on(c, conn, topics, n, topics == NULL, out);
}

void cl_metadata_free(cl_metadata *md)
{
	if (md == NULL)
		return;
	kp_arena_free(&md->mem);
	free(md);
}

const cl_topic_info *cl_metadata_topic(const cl_metadata *md, const char *name)
{
	for (size_t i = 0; i < md->n_topics; i++)
		if (md->topics[i].name && strcmp(md->topics[i].name, name) == 0)
			return &md->topics[i];
	return NULL;
}

/* ----------------------------------------------------------- coordinator */

bool cl__coordinator_moved(int16_t code)
{
	return code == 14 /* COORDINATOR_LOAD_IN_PROGRESS */ ||
	       code == 15 /* COORDINATOR_NOT_AVAILABLE */ ||
	       code == 16 /* NOT_COORDINATOR */;
}

int cl_coordinator(cl_client *c, const char *group, cl_conn **out)
{
	int64_t deadline = cl__now_ms() + cl__request_timeout(&c->opts);
	int backoff = 50;
	kp_buf body, resp;
	kp_arena arena;
	int rc;

	*out = NULL;
	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_arena_init(&arena, 0);
	for (;;) {
		cl_conn *conn;
		int16_t v;
		struct cl__coord co;

		if ((rc = cl__any_conn(c, &conn)) < 0)
			break;
		if ((rc = cl__version(c, conn, KP_API_FIND_COORDINATOR, &v)) < 0)
			break;
		kp_buf_reset(&body);
		kp_arena_reset(&arena);
		if ((rc = cl__find_coordinator_encode(&body, v, group)) < 0) {
			cl__errf(c, "cannot encode FindCoordinator v%d: %s", v, cl_strerror(rc));
			break;
		}
		if ((rc = cl__call(c, conn, KP_API_FIND_COORDINATOR, v, &body, &resp)) < 0)
			break;
		kp_reader r = kp_reader_make(resp.data, resp.len);
		if (!cl__find_coordinator_decode(&r, v, &arena, &co)) {
			cl__errf(c, "the FindCoordinator v%d answer from %s does not parse",
				 v, cl_conn_addr(conn));
			rc = CL_ERR_PROTOCOL;
			break;
		}
		int16_t code = co.error;
		if (code != 0) {
			rc = cl_err_kafka(code);
			if (cl__coordinator_moved(code) && cl__now_ms() + backoff < deadline) {
				cl__sleep_ms(backoff);
				backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
				continue;
			}
			cl__errf(c, "finding the coordinator of group '%s' at %s: %s (%s)", group,
				 cl_conn_addr(conn), cl_strerror(rc), cl_kafka_err_desc(code));
			break;
		}
		if ((rc = cl__node_set(c, co.node, co.host, co.port)) < 0) {
			cl__errf(c, "out of memory");
			break;
		}
		rc = cl_client_broker(c, co.node, out);
		break;
	}
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_arena_free(&arena);
	return rc;
}
