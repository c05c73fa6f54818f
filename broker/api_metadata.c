/*
 * api_metadata.c -- the Metadata API (v0-v12): brokers, cluster, topics.
 *
 * One node: the broker list is this node at its advertised endpoint
 * (advertised.listeners, else listeners), it is the controller, and every
 * partition's leader, only replica and only in-sync replica. The leader
 * epoch is the log's latest (0 before any). Topics asked for by name that
 * do not exist are created with the broker defaults when
 * auto.create.topics.enable is on and the request allows it (v4+ has a
 * flag; older requests always allow it), as Kafka does; v10+ may ask by
 * topic id instead.
 *
 * Names in the response are copied into the request's arena, so no topic
 * reference outlives the handler.
 *
 * Creating a topic writes and fsyncs files, which a reactor must never
 * wait for: when a request names a topic that would be auto-created, the
 * reactor parks it and the whole answer is built on the admin thread (as
 * CreateTopics is), then handed back to the request's reactor to be sent.
 * Requests that create nothing are answered on the reactor at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/br_int.h"

/* Kafka's AclOperation bits of everything, for brokers without ACLs:
 * topic READ..ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS. */
#define TOPIC_ALL_OPS ((1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | \
		       (1 << 10) | (1 << 11))
/* cluster CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
 * ALTER_CONFIGS, IDEMPOTENT_WRITE, CREATE_TOKENS, DESCRIBE_TOKENS. */
#define CLUSTER_ALL_OPS ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | \
			 (1 << 12) | (1 << 13) | (1 << 14))

int br_advertised_endpoint(const br_config *c, char *host, size_t hostlen, int32_t *port)
{
	const char *l = c->advertised_listeners && c->advertised_listeners[0]
			? c->advertised_listeners : c->listeners;
	const char *p, *end, *colon;
	long v;
	char *e;

	if (!l)
		return -EINVAL;
	/* The first listener that is not a controller's: [NAME://]host:port,
	 * host may be [v6] or empty. */
	for (;;) {
		while (*l == ' ' || *l == '\t')
			l++;
		end = l + strcspn(l, ",");
		p = strstr(l, "://");
		p = (p && p < end) ? p + 3 : l;
		if (p == l || !br_config_listener_is_controller(c, l, (size_t)(p - 3 - l)))
			break;
		if (!*end)
			return -EINVAL;
		l = end + 1;
	}
	colon = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == ':')
			colon = q;
	if (!colon)
		return -EINVAL;
	v = strtol(colon + 1, &e, 10);
	if (e != end || v < 0 || v > 65535)
		return -EINVAL;
	if (colon - p >= 2 && p[0] == '[' && colon[-1] == ']')
		snprintf(host, hostlen, "%.*s", (int)(colon - p - 2), p + 1);
	else
		snprintf(host, hostlen, "%.*s", (int)(colon - p), p);
	/* A wildcard is no address a client can use: advertise the host name. */
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
		if (gethostname(host, hostlen) < 0 || host[0] == '\0')
			snprintf(host, hostlen, "localhost");
		host[hostlen - 1] = '\0';
	}
	*port = (int32_t)v;
	return 0;
}

/* Fills one topic's entry: every partition led by this node. */
static void topic_fill(br_request *req, br_topic *topic, bool ops,
		       kp_MetadataResponse_MetadataResponseTopic *out)
{
	int32_t node = req->broker->cfg.node_id;
	int32_t n = topic->n_parts;

	kp_MetadataResponse_MetadataResponseTopic_init(out);
	out->Name = br__kstr(&req->arena, topic->name);
	memcpy(out->TopicId.b, topic->id, 16);
	out->IsInternal = topic->name[0] == '_' && topic->name[1] == '_' &&
			  (strcmp(topic->name, "__consumer_offsets") == 0 ||
			   strcmp(topic->name, "__transaction_state") == 0);
	if (ops)
		out->TopicAuthorizedOperations = TOPIC_ALL_OPS;
	out->Partitions.items = kp_arena_calloc(&req->arena, (size_t)n, sizeof(*out->Partitions.items));
	if (!out->Partitions.items)
		return;
	for (int32_t i = 0; i < n; i++) {
		kp_MetadataResponse_MetadataResponsePartition *p = &out->Partitions.items[i];
		br_part *part = br_topic_part(topic, i);
		int32_t *nodes = kp_arena_alloc(&req->arena, sizeof(int32_t));

		kp_MetadataResponse_MetadataResponsePartition_init(p);
		if (!nodes)
			return;
		nodes[0] = node;
		p->ErrorCode = br_request_note_error(req, part ? KE_NONE : KE_LEADER_NOT_AVAILABLE);
		p->PartitionIndex = i;
		p->LeaderId = node;
		p->LeaderEpoch = part ? br_part_leader_epoch(part) : 0;
		p->ReplicaNodes.count = 1;
		p->ReplicaNodes.items = nodes;
		p->IsrNodes.count = 1;
		p->IsrNodes.items = nodes;
		p->OfflineReplicas.count = 0;
	}
	out->Partitions.count = n;
}

struct all_ctx {
	br_request *req;
	bool ops;
	kp_MetadataResponse_MetadataResponseTopic *v;
	int32_t n, cap;
};

static void all_one(br_topic *topic, void *arg)
{
	struct all_ctx *c = arg;

	if (c->n == c->cap) {
		int32_t cap = c->cap ? c->cap * 2 : 16;
		kp_MetadataResponse_MetadataResponseTopic *nv =
			kp_arena_calloc(&c->req->arena, (size_t)cap, sizeof(*nv));
		if (!nv)
			return;
		if (c->n)
			memcpy(nv, c->v, (size_t)c->n * sizeof(*nv));
		c->v = nv;
		c->cap = cap;
	}
	topic_fill(c->req, topic, c->ops, &c->v[c->n++]);
}

/* One topic asked for by name or id: found, auto-created, or an error. */
static void topic_asked(br_request *req, const kp_MetadataRequest *rq,
			const kp_MetadataRequest_MetadataRequestTopic *q, bool ops,
			kp_MetadataResponse_MetadataResponseTopic *out)
{
	br_topics *t = req->broker->topics;
	static const uint8_t zero[16];
	br_topic *topic;
	bool by_id = q->Name.len < 0;

	if (by_id) {
		topic = memcmp(q->TopicId.b, zero, 16) ? br_topics_get_by_id(t, q->TopicId.b) : NULL;
		if (!topic) {
			kp_MetadataResponse_MetadataResponseTopic_init(out);
			out->ErrorCode = br_request_note_error(req, KE_UNKNOWN_TOPIC_ID);
			out->Name = req->api_version >= 12 ? KP_STR_NULL : KP_STR_LIT("");
			out->TopicId = q->TopicId;
			return;
		}
	} else {
		const char *name = (const char *)q->Name.p;
		size_t len = (size_t)q->Name.len;
		bool allow = req->broker->cfg.auto_create_topics_enable &&
			     (req->api_version < 4 || rq->AllowAutoTopicCreation);

		topic = br_topics_get(t, name, len);
		if (!topic && allow) {
			char errbuf[256];
			int16_t ke = br_topics_create(t, name, len, -1, NULL, NULL, 0, false,
						      errbuf, sizeof(errbuf));
			if (ke == KE_NONE || ke == KE_TOPIC_ALREADY_EXISTS)
				topic = br_topics_get(t, name, len);
			else {
				br__logf(ST_LOG_WARN, "%s: Metadata auto-create of %.*s refused: %s",
					 req->peer, (int)len, name, errbuf);
				kp_MetadataResponse_MetadataResponseTopic_init(out);
				out->ErrorCode = br_request_note_error(req, ke);
				out->Name = q->Name;
				return;
			}
		}
		if (!topic) {
			kp_MetadataResponse_MetadataResponseTopic_init(out);
			out->ErrorCode = br_request_note_error(req, KE_UNKNOWN_TOPIC_OR_PARTITION);
			out->Name = q->Name;
			return;
		}
	}
	topic_fill(req, topic, ops, out);
	br_topic_put(topic);
}

/* True when answering would auto-create a topic (file I/O). */
static bool metadata_creates(br_request *req, const kp_MetadataRequest *rq)
{
	if (!req->broker->cfg.auto_create_topics_enable ||
	    (req->api_version >= 4 && !rq->AllowAutoTopicCreation) ||
	    rq->Topics.count <= 0 || (req->api_version == 0 && rq->Topics.count == 0))
		return false;
	for (int32_t i = 0; i < rq->Topics.count; i++) {
		const kp_MetadataRequest_MetadataRequestTopic *q = &rq->Topics.items[i];
		br_topic *topic;

		if (q->Name.len < 0)
			continue;       /* by id: never created */
		topic = br_topics_get(req->broker->topics, (const char *)q->Name.p,
				      (size_t)q->Name.len);
		if (!topic)
			return true;
		br_topic_put(topic);
	}
	return false;
}

static int metadata_answer(br_request *req, const kp_MetadataRequest *rq);

/* A request parked for the admin thread: the decoded request lives in the
 * request's arena, like everything it points into. */
typedef struct metadata_offload {
	br_request *req;
	kp_MetadataRequest rq;
	int rc;
} metadata_offload;

/* Back on the request's reactor: send what the admin thread built. A
 * failure there (out of memory, an encoding error) leaves the response
 * marked failed, and the net layer closes the connection naming it.
 * @locality the request's reactor */
static void metadata_offload_done(void *arg)
{
	metadata_offload *mo = arg;
	br_request *req = mo->req;

	if (mo->rc < 0 && req->resp.err == 0)
		req->resp.err = mo->rc;
	br_request_done(req);
}

/* @locality admin */
static void metadata_offload_run(void *arg)
{
	metadata_offload *mo = arg;
	br_request *req = mo->req;

	mo->rc = metadata_answer(req, &mo->rq);
	if (mo->rc < 0)
		br__logf(ST_LOG_WARN, "%s: Metadata answer failed: %s", req->peer,
			 req->fail_why[0] ? req->fail_why : "out of memory");
	/* Without memory for the post, the request is lost until shutdown:
	 * said rather than hidden, as conn.c does for its offloads. */
	if (br_reactor_post(req->reactor, metadata_offload_done, mo) < 0)
		br__logf(ST_LOG_ERROR, "out of memory returning a Metadata answer to %s; it is lost",
			 req->peer);
}

int br_handle_metadata(br_request *req)
{
	kp_MetadataRequest rq;
	metadata_offload *mo;
	int err;

	if ((err = kp_MetadataRequest_decode(&req->body, req->api_version, &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "Metadata request does not decode");
	if (req->broker->admin && metadata_creates(req, &rq) &&
	    (mo = kp_arena_calloc(&req->arena, 1, sizeof(*mo)))) {
		mo->req = req;
		mo->rq = rq;
		if (br_reactor_post(req->broker->admin, metadata_offload_run, mo) == 0)
			return BR_PARKED;
		/* No memory to post: create here rather than fail. */
	}
	return metadata_answer(req, &rq);
}

/* Builds the whole answer into req->resp: BR_RESPOND or < 0 (see
 * br_request_fail). @locality reactor, or admin when it creates topics */
static int metadata_answer(br_request *req, const kp_MetadataRequest *rqp)
{
	br_broker *b = req->broker;
	kp_MetadataRequest rq = *rqp;
	kp_MetadataResponse rs;
	kp_MetadataResponse_MetadataResponseBroker *broker;
	char host[256];
	int32_t port;
	bool ops;
	int err;

	ops = req->api_version >= 8 && rq.IncludeTopicAuthorizedOperations;
	kp_MetadataResponse_init(&rs);

	if (br_advertised_endpoint(&b->cfg, host, sizeof(host), &port) < 0) {
		snprintf(host, sizeof(host), "localhost");
		port = 9092;
	}
	if (!(broker = kp_arena_calloc(&req->arena, 1, sizeof(*broker))))
		return br_request_fail(req, -ENOMEM, "out of memory answering Metadata");
	kp_MetadataResponse_MetadataResponseBroker_init(broker);
	broker->NodeId = b->cfg.node_id;
	broker->Host = br__kstr(&req->arena, host);
	broker->Port = port;
	rs.Brokers.count = 1;
	rs.Brokers.items = broker;
	rs.ClusterId = br__kstr(&req->arena, b->cluster_id_str);
	rs.ControllerId = b->cfg.node_id;
	if (req->api_version >= 8 && req->api_version <= 10 && rq.IncludeClusterAuthorizedOperations)
		rs.ClusterAuthorizedOperations = CLUSTER_ALL_OPS;

	/* All topics: null (v1+), or an empty list in v0. */
	if (rq.Topics.count < 0 || (req->api_version == 0 && rq.Topics.count == 0)) {
		struct all_ctx c = { .req = req, .ops = ops };
		br_topics_foreach(b->topics, all_one, &c);
		rs.Topics.count = c.n;
		rs.Topics.items = c.v;
	} else if (rq.Topics.count > 0) {
		rs.Topics.items = kp_arena_calloc(&req->arena, (size_t)rq.Topics.count,
						  sizeof(*rs.Topics.items));
		if (!rs.Topics.items)
			return br_request_fail(req, -ENOMEM, "out of memory answering Metadata");
		for (int32_t i = 0; i < rq.Topics.count; i++)
			topic_asked(req, &rq, &rq.Topics.items[i], ops, &rs.Topics.items[i]);
		rs.Topics.count = rq.Topics.count;
	}
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering Metadata");
	if ((err = kp_MetadataResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "Metadata response does not encode");
	return BR_RESPOND;
}
