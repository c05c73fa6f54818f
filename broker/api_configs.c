/*
 * api_configs.c -- DescribeConfigs (v0-v4), AlterConfigs (v0-v2),
 * IncrementalAlterConfigs (v0-v1), DescribeCluster (v0-v1) and
 * DescribeLogDirs (v0-v4): the APIs that show or change settings and
 * placement rather than topics themselves.
 *
 * Sources follow Kafka: a topic config is DYNAMIC_TOPIC_CONFIG when set on
 * the topic; otherwise it follows its broker key, and is
 * STATIC_BROKER_CONFIG when broker.conf or --set gave that key, else
 * DEFAULT_CONFIG. Synonyms, when asked, run from the most specific: the
 * topic override, the broker key as set in the file, the broker key's
 * built-in default. The broker resource shows every canonical broker key,
 * read-only, as STATIC_BROKER_CONFIG when set and DEFAULT_CONFIG when not:
 * rewind has no dynamic broker configs, so altering one is refused with
 * INVALID_CONFIG.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "broker/br_int.h"

/* Kafka's ConfigResource.Type values. */
enum { RESOURCE_TOPIC = 2, RESOURCE_BROKER = 4 };

#define CLUSTER_ALL_OPS ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | \
			 (1 << 12) | (1 << 13) | (1 << 14))

/* Whether `name` is among the keys asked for (null = all). */
static bool key_wanted(const kp_DescribeConfigsRequest_DescribeConfigsResource *q, const char *name)
{
	size_t len = strlen(name);

	if (q->ConfigurationKeys.count < 0)
		return true;
	for (int32_t i = 0; i < q->ConfigurationKeys.count; i++) {
		kp_str k = q->ConfigurationKeys.items[i];
		if ((size_t)k.len == len && memcmp(k.p, name, len) == 0)
			return true;
	}
	return false;
}

typedef kp_DescribeConfigsResponse_DescribeConfigsResourceResult cfg_result;
typedef kp_DescribeConfigsResponse_DescribeConfigsSynonym cfg_synonym;

/* Where a topic config's value comes from when the topic does not set it. */
static int8_t broker_key_source(const br_config *cfg, const char *key)
{
	return br_config_is_set(cfg, key) ? BR_SOURCE_STATIC_BROKER_CONFIG : BR_SOURCE_DEFAULT_CONFIG;
}

int8_t br_topic_config_source(const br_config *cfg, const br_config_entry *e)
{
	return e->is_override ? BR_SOURCE_DYNAMIC_TOPIC_CONFIG : broker_key_source(cfg, e->synonym);
}

static void describe_topic(br_request *req, const kp_DescribeConfigsRequest *rq,
			   const kp_DescribeConfigsRequest_DescribeConfigsResource *q,
			   kp_DescribeConfigsResponse_DescribeConfigsResult *r)
{
	br_config_entry e[BR_TOPIC_CONFIG_KEYS];
	br_topic *topic = br_topics_get(req->broker->topics, (const char *)q->ResourceName.p,
					(size_t)q->ResourceName.len);
	cfg_result *c;
	int32_t n = 0;

	if (!topic) {
		r->ErrorCode = br_request_note_error(req, KE_UNKNOWN_TOPIC_OR_PARTITION);
		r->ErrorMessage = KP_STR_LIT("This server does not host this topic-partition.");
		return;
	}
	br_topic_configs(req->broker->topics, topic, e);
	br_topic_put(topic);
	if (!(c = kp_arena_calloc(&req->arena, BR_TOPIC_CONFIG_KEYS, sizeof(*c))))
		return;
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
		cfg_result *x = &c[n];

		if (!key_wanted(q, e[i].name))
			continue;
		kp_DescribeConfigsResponse_DescribeConfigsResourceResult_init(x);
		x->Name = kp_str_from(e[i].name);
		x->Value = br__kstr(&req->arena, e[i].value);
		x->ReadOnly = false;
		x->IsSensitive = false;
		int8_t source = br_topic_config_source(&req->broker->cfg, &e[i]);
		if (req->api_version == 0)
			x->IsDefault = source == BR_SOURCE_DEFAULT_CONFIG;
		else
			x->ConfigSource = source;
		if (req->api_version >= 1 && rq->IncludeSynonyms) {
			cfg_synonym *s = kp_arena_calloc(&req->arena, 3, sizeof(*s));
			char dflt[48];
			int32_t k = 0;
			if (!s)
				return;
			if (e[i].is_override) {
				s[k].Name = kp_str_from(e[i].name);
				s[k].Value = x->Value;
				s[k++].Source = BR_SOURCE_DYNAMIC_TOPIC_CONFIG;
			}
			if (broker_key_source(&req->broker->cfg, e[i].synonym) ==
			    BR_SOURCE_STATIC_BROKER_CONFIG) {
				s[k].Name = kp_str_from(e[i].synonym);
				s[k].Value = br__kstr(&req->arena, e[i].broker_value);
				s[k++].Source = BR_SOURCE_STATIC_BROKER_CONFIG;
			}
			s[k].Name = kp_str_from(e[i].synonym);
			s[k].Value = br__kstr(&req->arena,
					      br_config_default(e[i].synonym, dflt, sizeof(dflt)) == 0
						      ? dflt : e[i].broker_value);
			s[k++].Source = BR_SOURCE_DEFAULT_CONFIG;
			x->Synonyms.count = k;
			x->Synonyms.items = s;
		}
		if (req->api_version >= 3) {
			x->ConfigType = e[i].config_type;
			if (rq->IncludeDocumentation)
				x->Documentation = kp_str_from(e[i].doc);
		}
		n++;
	}
	r->Configs.count = n;
	r->Configs.items = c;
}

static void describe_broker(br_request *req, const kp_DescribeConfigsRequest *rq,
			    const kp_DescribeConfigsRequest_DescribeConfigsResource *q,
			    kp_DescribeConfigsResponse_DescribeConfigsResult *r)
{
	char *text = NULL, *save = NULL, id[16];
	size_t len = 0, cap = 0;
	cfg_result *c = NULL;
	int32_t n = 0;
	FILE *f;

	snprintf(id, sizeof(id), "%d", (int)req->broker->cfg.node_id);
	if (q->ResourceName.len > 0 &&
	    ((size_t)q->ResourceName.len != strlen(id) || memcmp(q->ResourceName.p, id, strlen(id)))) {
		r->ErrorCode = br_request_note_error(req, KE_INVALID_REQUEST);
		r->ErrorMessage = KP_STR_LIT("Unexpected broker id: this is a single node");
		return;
	}
	if (!(f = open_memstream(&text, &len)))
		return;
	br_config_dump(&req->broker->cfg, f);
	if (fclose(f) != 0) {
		free(text);
		return;
	}
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		cfg_result *x;

		if (!eq)
			continue;
		*eq = '\0';
		if (!key_wanted(q, line))
			continue;
		if ((size_t)n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			cfg_result *nc = kp_arena_calloc(&req->arena, ncap, sizeof(*nc));
			if (!nc)
				break;
			if (n)
				memcpy(nc, c, (size_t)n * sizeof(*nc));
			c = nc;
			cap = ncap;
		}
		x = &c[n++];
		kp_DescribeConfigsResponse_DescribeConfigsResourceResult_init(x);
		x->Name = br__kstr(&req->arena, line);
		x->Value = br__kstr(&req->arena, eq + 1);
		x->ReadOnly = true;
		bool set = br_config_is_set(&req->broker->cfg, line);
		if (req->api_version == 0)
			x->IsDefault = !set;
		else
			x->ConfigSource = set ? BR_SOURCE_STATIC_BROKER_CONFIG : BR_SOURCE_DEFAULT_CONFIG;
		if (req->api_version >= 1 && rq->IncludeSynonyms) {
			cfg_synonym *s = kp_arena_calloc(&req->arena, 2, sizeof(*s));
			char dflt[256];
			int32_t k = 0;
			if (s) {
				if (set) {
					s[k].Name = x->Name;
					s[k].Value = x->Value;
					s[k++].Source = BR_SOURCE_STATIC_BROKER_CONFIG;
				}
				s[k].Name = x->Name;
				s[k].Value = br_config_default(line, dflt, sizeof(dflt)) == 0
					? br__kstr(&req->arena, dflt) : x->Value;
				s[k++].Source = BR_SOURCE_DEFAULT_CONFIG;
				x->Synonyms.count = k;
				x->Synonyms.items = s;
			}
		}
		if (req->api_version >= 3)
			x->ConfigType = 2;
	}
	free(text);
	r->Configs.count = n;
	r->Configs.items = c;
}

int br_handle_describe_configs(br_request *req)
{
	kp_DescribeConfigsRequest rq;
	kp_DescribeConfigsResponse rs;
	int err;

	if ((err = kp_DescribeConfigsRequest_decode(&req->body, req->api_version, &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "DescribeConfigs request does not decode");
	kp_DescribeConfigsResponse_init(&rs);
	if (rq.Resources.count > 0) {
		rs.Results.items = kp_arena_calloc(&req->arena, (size_t)rq.Resources.count,
						   sizeof(*rs.Results.items));
		if (!rs.Results.items)
			return br_request_fail(req, -ENOMEM, "out of memory answering DescribeConfigs");
		for (int32_t i = 0; i < rq.Resources.count; i++) {
			const kp_DescribeConfigsRequest_DescribeConfigsResource *q = &rq.Resources.items[i];
			kp_DescribeConfigsResponse_DescribeConfigsResult *r = &rs.Results.items[i];

			kp_DescribeConfigsResponse_DescribeConfigsResult_init(r);
			r->ResourceType = q->ResourceType;
			r->ResourceName = q->ResourceName;
			r->ErrorMessage = KP_STR_NULL;
			if (q->ResourceType == RESOURCE_TOPIC)
				describe_topic(req, &rq, q, r);
			else if (q->ResourceType == RESOURCE_BROKER)
				describe_broker(req, &rq, q, r);
			else {
				r->ErrorCode = br_request_note_error(req, KE_INVALID_REQUEST);
				r->ErrorMessage = KP_STR_LIT("Unsupported resource type");
			}
		}
		rs.Results.count = rq.Resources.count;
	}
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering DescribeConfigs");
	if ((err = kp_DescribeConfigsResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "DescribeConfigs response does not encode");
	return BR_RESPOND;
}

/* ================================================================== alter */

/* One resource of either alter API: the topic's ops applied, or a refusal.
 * ops are NUL-terminated copies in the arena. */
static int16_t alter_resource(br_request *req, int8_t type, kp_str name, const br_config_op *ops,
			      size_t n_ops, bool incremental, bool validate_only, kp_str *msg)
{
	char errbuf[512] = "";
	br_topic *topic;
	int16_t ke;

	if (type == RESOURCE_BROKER) {
		*msg = KP_STR_LIT("Broker configs are static in rewind: set them in broker.conf "
				  "and restart");
		return KE_INVALID_CONFIG;
	}
	if (type != RESOURCE_TOPIC) {
		*msg = KP_STR_LIT("Unsupported resource type");
		return KE_INVALID_REQUEST;
	}
	if (!(topic = br_topics_get(req->broker->topics, (const char *)name.p, (size_t)name.len))) {
		*msg = KP_STR_LIT("This server does not host this topic-partition.");
		return KE_UNKNOWN_TOPIC_OR_PARTITION;
	}
	ke = br_topics_alter_configs(req->broker->topics, topic, ops, n_ops, incremental,
				     validate_only, errbuf, sizeof(errbuf));
	br_topic_put(topic);
	if (ke != KE_NONE) {
		*msg = br__kstr(&req->arena, errbuf);
		br__logf(ST_LOG_INFO, "%s: altering configs of %.*s refused: %s", req->peer,
			 (int)name.len, (const char *)name.p, errbuf);
	}
	return ke;
}

int br_handle_alter_configs(br_request *req)
{
	kp_AlterConfigsRequest rq;
	kp_AlterConfigsResponse rs;
	int err;

	if ((err = kp_AlterConfigsRequest_decode(&req->body, req->api_version, &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "AlterConfigs request does not decode");
	kp_AlterConfigsResponse_init(&rs);
	if (rq.Resources.count > 0) {
		rs.Responses.items = kp_arena_calloc(&req->arena, (size_t)rq.Resources.count,
						     sizeof(*rs.Responses.items));
		if (!rs.Responses.items)
			return br_request_fail(req, -ENOMEM, "out of memory answering AlterConfigs");
		for (int32_t i = 0; i < rq.Resources.count; i++) {
			const kp_AlterConfigsRequest_AlterConfigsResource *q = &rq.Resources.items[i];
			kp_AlterConfigsResponse_AlterConfigsResourceResponse *r = &rs.Responses.items[i];
			int32_t n = q->Configs.count > 0 ? q->Configs.count : 0;
			br_config_op *ops = kp_arena_calloc(&req->arena, (size_t)n + 1, sizeof(*ops));

			kp_AlterConfigsResponse_AlterConfigsResourceResponse_init(r);
			r->ResourceType = q->ResourceType;
			r->ResourceName = q->ResourceName;
			r->ErrorMessage = KP_STR_NULL;
			if (!ops)
				return br_request_fail(req, -ENOMEM, "out of memory answering AlterConfigs");
			for (int32_t j = 0; j < n; j++) {
				ops[j].name = br__cstr(&req->arena, q->Configs.items[j].Name);
				ops[j].value = br__cstr(&req->arena, q->Configs.items[j].Value);
				ops[j].op = ops[j].value ? BR_CONFIG_SET : BR_CONFIG_DELETE;
				if (!ops[j].name)
					ops[j].name = "";
			}
			r->ErrorCode = br_request_note_error(req,
				alter_resource(req, q->ResourceType, q->ResourceName, ops, (size_t)n,
					       false, rq.ValidateOnly, &r->ErrorMessage));
		}
		rs.Responses.count = rq.Resources.count;
	}
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering AlterConfigs");
	if ((err = kp_AlterConfigsResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "AlterConfigs response does not encode");
	return BR_RESPOND;
}

int br_handle_incremental_alter_configs(br_request *req)
{
	kp_IncrementalAlterConfigsRequest rq;
	kp_IncrementalAlterConfigsResponse rs;
	int err;

	if ((err = kp_IncrementalAlterConfigsRequest_decode(&req->body, req->api_version,
							    &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "IncrementalAlterConfigs request does not decode");
	kp_IncrementalAlterConfigsResponse_init(&rs);
	if (rq.Resources.count > 0) {
		rs.Responses.items = kp_arena_calloc(&req->arena, (size_t)rq.Resources.count,
						     sizeof(*rs.Responses.items));
		if (!rs.Responses.items)
			return br_request_fail(req, -ENOMEM, "out of memory answering IncrementalAlterConfigs");
		for (int32_t i = 0; i < rq.Resources.count; i++) {
			const kp_IncrementalAlterConfigsRequest_AlterConfigsResource *q = &rq.Resources.items[i];
			kp_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse *r = &rs.Responses.items[i];
			int32_t n = q->Configs.count > 0 ? q->Configs.count : 0;
			br_config_op *ops = kp_arena_calloc(&req->arena, (size_t)n + 1, sizeof(*ops));

			kp_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse_init(r);
			r->ResourceType = q->ResourceType;
			r->ResourceName = q->ResourceName;
			r->ErrorMessage = KP_STR_NULL;
			if (!ops)
				return br_request_fail(req, -ENOMEM, "out of memory answering IncrementalAlterConfigs");
			for (int32_t j = 0; j < n; j++) {
				ops[j].name = br__cstr(&req->arena, q->Configs.items[j].Name);
				ops[j].value = br__cstr(&req->arena, q->Configs.items[j].Value);
				ops[j].op = q->Configs.items[j].ConfigOperation;
				if (!ops[j].name)
					ops[j].name = "";
				if (!ops[j].value && ops[j].op != BR_CONFIG_DELETE) {
					ops[j].value = NULL;
					ops[j].op = BR_CONFIG_DELETE;
				}
			}
			r->ErrorCode = br_request_note_error(req,
				alter_resource(req, q->ResourceType, q->ResourceName, ops, (size_t)n,
					       true, rq.ValidateOnly, &r->ErrorMessage));
		}
		rs.Responses.count = rq.Resources.count;
	}
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering IncrementalAlterConfigs");
	if ((err = kp_IncrementalAlterConfigsResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "IncrementalAlterConfigs response does not encode");
	return BR_RESPOND;
}

/* ======================================================== DescribeCluster */

int br_handle_describe_cluster(br_request *req)
{
	br_broker *b = req->broker;
	kp_DescribeClusterRequest rq;
	kp_DescribeClusterResponse rs;
	kp_DescribeClusterResponse_DescribeClusterBroker *br;
	char host[256];
	int32_t port;
	int err;

	if ((err = kp_DescribeClusterRequest_decode(&req->body, req->api_version, &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "DescribeCluster request does not decode");
	kp_DescribeClusterResponse_init(&rs);
	rs.ClusterId = br__kstr(&req->arena, b->cluster_id_str);
	rs.ControllerId = b->cfg.node_id;
	if (req->api_version >= 1) {
		rs.EndpointType = rq.EndpointType;
		/* Kafka's EndpointType: 1 brokers, 2 controllers (KRaft only). */
		if (rq.EndpointType != 1) {
			rs.ErrorCode = br_request_note_error(req, KE_UNSUPPORTED_ENDPOINT_TYPE);
			rs.ErrorMessage = KP_STR_LIT("Only brokers (EndpointType 1) can be described");
			rs.ControllerId = -1;
			goto encode;
		}
	}
	if (br_advertised_endpoint(&b->cfg, host, sizeof(host), &port) < 0) {
		snprintf(host, sizeof(host), "localhost");
		port = 9092;
	}
	if (!(br = kp_arena_calloc(&req->arena, 1, sizeof(*br))))
		return br_request_fail(req, -ENOMEM, "out of memory answering DescribeCluster");
	kp_DescribeClusterResponse_DescribeClusterBroker_init(br);
	br->BrokerId = b->cfg.node_id;
	br->Host = br__kstr(&req->arena, host);
	br->Port = port;
	rs.Brokers.count = 1;
	rs.Brokers.items = br;
	if (rq.IncludeClusterAuthorizedOperations)
		rs.ClusterAuthorizedOperations = CLUSTER_ALL_OPS;
encode:
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering DescribeCluster");
	if ((err = kp_DescribeClusterResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "DescribeCluster response does not encode");
	return BR_RESPOND;
}

/* ======================================================== DescribeLogDirs */

typedef kp_DescribeLogDirsResponse_DescribeLogDirsTopic ld_topic;
typedef kp_DescribeLogDirsResponse_DescribeLogDirsPartition ld_part;

struct ld_ctx {
	br_request *req;
	const kp_DescribeLogDirsRequest *rq;
	kp_DescribeLogDirsResponse_DescribeLogDirsResult *res;   /* one per log dir */
	int n_dirs;
	size_t *caps;
};

/* The partitions of `topic` the request asks for (null topics = all). */
static bool part_wanted(const kp_DescribeLogDirsRequest *rq, br_topic *topic, int32_t index)
{
	size_t len = strlen(topic->name);

	if (rq->Topics.count < 0)
		return true;
	for (int32_t i = 0; i < rq->Topics.count; i++) {
		const kp_DescribeLogDirsRequest_DescribableLogDirTopic *q = &rq->Topics.items[i];
		if ((size_t)q->Topic.len != len || memcmp(q->Topic.p, topic->name, len) != 0)
			continue;
		for (int32_t j = 0; j < q->Partitions.count; j++)
			if (q->Partitions.items[j] == index)
				return true;
	}
	return false;
}

/* The log dir a partition lives in: its dir is "<logdir>/<topic>-<p>". */
static int part_dir_index(const br_config *c, const br_part *p)
{
	for (int i = 0; i < c->n_log_dirs; i++) {
		size_t l = strlen(c->log_dirs[i]);
		if (strncmp(p->dir, c->log_dirs[i], l) == 0 && p->dir[l] == '/' && !strchr(p->dir + l + 1, '/'))
			return i;
	}
	return -1;
}

static void ld_topic_one(br_topic *topic, void *arg)
{
	struct ld_ctx *c = arg;
	kp_arena *a = &c->req->arena;

	for (int d = 0; d < c->n_dirs; d++) {
		ld_topic *lt = NULL;
		for (int32_t i = 0; i < topic->n_parts; i++) {
			br_part *p = br_topic_part(topic, i);
			st_log_stats st;
			ld_part *lp;

			if (!p || part_dir_index(&c->req->broker->cfg, p) != d || !part_wanted(c->rq, topic, i))
				continue;
			if (!lt) {
				kp_DescribeLogDirsResponse_DescribeLogDirsResult *r = &c->res[d];
				if ((size_t)r->Topics.count == c->caps[d]) {
					size_t cap = c->caps[d] ? c->caps[d] * 2 : 8;
					ld_topic *nv = kp_arena_calloc(a, cap, sizeof(*nv));
					if (!nv)
						return;
					if (r->Topics.count)
						memcpy(nv, r->Topics.items, (size_t)r->Topics.count * sizeof(*nv));
					r->Topics.items = nv;
					c->caps[d] = cap;
				}
				lt = &r->Topics.items[r->Topics.count++];
				kp_DescribeLogDirsResponse_DescribeLogDirsTopic_init(lt);
				lt->Name = br__kstr(a, topic->name);
				lt->Partitions.items = kp_arena_calloc(a, (size_t)topic->n_parts, sizeof(ld_part));
				if (!lt->Partitions.items)
					return;
			}
			st_log_get_stats(p->log, &st);
			lp = &lt->Partitions.items[lt->Partitions.count++];
			kp_DescribeLogDirsResponse_DescribeLogDirsPartition_init(lp);
			lp->PartitionIndex = i;
			lp->PartitionSize = st.size_bytes;
			lp->OffsetLag = 0;
			lp->IsFutureKey = false;
			/* rewind's tagged field (flexible versions; other clients
			 * skip it): the cleaner's dirty ratio, -1 if not compacted. */
			st_log_clean_info ci;
			lp->RewindDirtyRatio = topic->cfg.compact &&
					       st_log_clean_info_get(p->log, br__wall_ms(), &ci) == 0
					       ? ci.dirty_ratio : -1;
		}
	}
}

int br_handle_describe_log_dirs(br_request *req)
{
	br_broker *b = req->broker;
	kp_DescribeLogDirsRequest rq;
	kp_DescribeLogDirsResponse rs;
	struct ld_ctx c;
	size_t caps[BR_MAX_LOG_DIRS] = { 0 };
	int err;

	if ((err = kp_DescribeLogDirsRequest_decode(&req->body, req->api_version, &req->arena, &rq)) < 0)
		return br_request_fail(req, err, "DescribeLogDirs request does not decode");
	kp_DescribeLogDirsResponse_init(&rs);
	rs.Results.items = kp_arena_calloc(&req->arena, (size_t)b->cfg.n_log_dirs,
					   sizeof(*rs.Results.items));
	if (!rs.Results.items)
		return br_request_fail(req, -ENOMEM, "out of memory answering DescribeLogDirs");
	for (int d = 0; d < b->cfg.n_log_dirs; d++) {
		kp_DescribeLogDirsResponse_DescribeLogDirsResult *r = &rs.Results.items[d];
		struct statvfs sv;

		kp_DescribeLogDirsResponse_DescribeLogDirsResult_init(r);
		r->LogDir = kp_str_from(b->cfg.log_dirs[d]);
		r->Topics.count = 0;
		if (req->api_version >= 4 && statvfs(b->cfg.log_dirs[d], &sv) == 0) {
			r->TotalBytes = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
			r->UsableBytes = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
		}
	}
	rs.Results.count = b->cfg.n_log_dirs;
	c.req = req;
	c.rq = &rq;
	c.res = rs.Results.items;
	c.n_dirs = b->cfg.n_log_dirs;
	c.caps = caps;
	br_topics_foreach(b->topics, ld_topic_one, &c);
	if (req->arena.err)
		return br_request_fail(req, req->arena.err, "out of memory answering DescribeLogDirs");
	if ((err = kp_DescribeLogDirsResponse_encode(&req->resp, req->api_version, &rs)) < 0)
		return br_request_fail(req, err, "DescribeLogDirs response does not encode");
	return BR_RESPOND;
}
