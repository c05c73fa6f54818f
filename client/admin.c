/*
 * admin.c -- topic and config administration: CreateTopics, DeleteTopics,
 * CreatePartitions, DescribeConfigs, IncrementalAlterConfigs (AlterConfigs
 * when the broker lacks it) and DescribeLogDirs.
 *
 * Topic changes go to the controller, as Kafka's AdminClient sends them
 * (Metadata names it; NOT_CONTROLLER makes the helper ask again until the
 * request timeout). Each topic or resource of a request succeeds or fails
 * on its own: its Kafka error code and the broker's ErrorMessage are copied
 * into the caller's item, so the tools can print both. Items the answer
 * leaves out keep UNKNOWN_SERVER_ERROR with a message saying so, rather
 * than looking done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cl_int.h"

#define KE_UNKNOWN_SERVER_ERROR (-1)
#define KE_NOT_CONTROLLER 41

/* Copies a broker message into an item's fixed buffer ("" for null). */
static void msg_copy(char *dst, kp_str s)
{
	snprintf(dst, CL_ADMIN_MSG, "%.*s", s.len > 0 ? (int)s.len : 0,
		 s.len > 0 ? (const char *)s.p : "");
}

static int nomem(cl_client *c, const char *doing)
{
	cl__errf(c, "out of memory %s", doing);
	return -ENOMEM;
}

/* The controller's connection (any broker when Metadata names none). */
static int controller_conn(cl_client *c, cl_conn **out)
{
	cl_metadata *md = NULL;
	cl_conn *any;
	int rc;

	if ((rc = cl__any_conn(c, &any)) < 0)
		return rc;
	if ((rc = cl__metadata_on(c, any, NULL, 0, false, &md)) < 0)
		return rc;
	int32_t ctl = md->controller_id;
	cl_metadata_free(md);
	if (ctl < 0) {
		*out = any;
		return 0;
	}
	return cl_client_broker(c, ctl, out);
}

/* Connection and version for an admin API at the controller (groups.c's
 * call_begin is the same at a group's coordinator). */
static int begin_at_controller(cl_client *c, struct cl__req *k, int16_t api_key)
{
	int rc;
	cl__req_reset(k);
	if ((rc = controller_conn(c, &k->conn)) < 0)
		return rc;
	return cl__version(c, k->conn, api_key, &k->v);
}

/* ============================================================ CreateTopics */

int cl_create_topics(cl_client *c, cl_new_topic *t, size_t n, bool validate_only)
{
	struct cl__req k;
	int rc;

	if (n == 0)
		return 0;
	cl__req_init(&k, c);
	for (;;) {
		kp_CreateTopicsRequest q;
		kp_CreateTopicsResponse m;

		if ((rc = begin_at_controller(c, &k, KP_API_CREATE_TOPICS)) < 0)
			break;
		if (validate_only && k.v < 1) {
			cl__errf(c, "the broker at %s offers CreateTopics v0 only, which cannot "
				 "validate without creating", cl_conn_addr(k.conn));
			rc = CL_ERR_UNSUPPORTED;
			break;
		}
		kp_CreateTopicsRequest_init(&q);
		q.timeoutMs = cl__request_timeout(&c->opts);
		q.validateOnly = validate_only;
		q.Topics.items = kp_arena_calloc(&k.arena, n, sizeof *q.Topics.items);
		if (q.Topics.items == NULL) {
			rc = nomem(c, "building CreateTopics");
			break;
		}
		q.Topics.count = (int32_t)n;
		for (size_t i = 0; i < n; i++) {
			kp_CreateTopicsRequest_CreatableTopic *x = &q.Topics.items[i];
			kp_CreateTopicsRequest_CreatableTopic_init(x);
			x->Name = kp_str_from(t[i].name);
			x->NumPartitions = t[i].partitions;
			x->ReplicationFactor = t[i].replication_factor;
			x->Assignments.count = 0;
			x->Configs.count = (int32_t)t[i].n_configs;
			if (t[i].n_configs) {
				x->Configs.items = kp_arena_calloc(&k.arena, t[i].n_configs,
								   sizeof *x->Configs.items);
				if (x->Configs.items == NULL) {
					rc = nomem(c, "building CreateTopics");
					goto out;
				}
			}
			for (size_t j = 0; j < t[i].n_configs; j++) {
				kp_CreateTopicsRequest_CreatableTopicConfig *e = &x->Configs.items[j];
				kp_CreateTopicsRequest_CreatableTopicConfig_init(e);
				e->Name = kp_str_from(t[i].configs[j].name);
				e->Value = t[i].configs[j].value ? kp_str_from(t[i].configs[j].value)
								 : KP_STR_NULL;
			}
			/* Kafka before CreateTopics v4 has no broker defaults. */
			if (k.v < 4 && (x->NumPartitions < 0 || x->ReplicationFactor < 0)) {
				cl__errf(c, "the broker at %s offers CreateTopics v%d, which needs "
					 "the partition count and replication factor given",
					 cl_conn_addr(k.conn), k.v);
				rc = CL_ERR_ARG;
				goto out;
			}
		}
		kp_reader r;
		rc = kp_CreateTopicsRequest_encode(&k.body, k.v, &q);
		if ((rc = cl__req_run(c, &k, KP_API_CREATE_TOPICS, rc, &r)) < 0 ||
		    (rc = cl__req_parsed(c, &k, KP_API_CREATE_TOPICS,
					 kp_CreateTopicsResponse_decode(&r, k.v, &k.arena, &m) >= 0)) < 0)
			break;
		bool again = false;
		for (size_t i = 0; i < n; i++) {
			t[i].error = KE_UNKNOWN_SERVER_ERROR;
			snprintf(t[i].message, CL_ADMIN_MSG, "the broker's answer left this topic out");
			memset(t[i].topic_id, 0, sizeof t[i].topic_id);
		}
		for (int32_t j = 0; j < m.Topics.count; j++) {
			const kp_CreateTopicsResponse_CreatableTopicResult *x = &m.Topics.items[j];
			for (size_t i = 0; i < n; i++) {
				if (!cl__str_eq(x->Name, t[i].name))
					continue;
				t[i].error = x->ErrorCode;
				msg_copy(t[i].message, k.v >= 1 ? x->ErrorMessage : KP_STR_NULL);
				if (k.v >= 7)
					memcpy(t[i].topic_id, x->TopicId.b, 16);
				again |= x->ErrorCode == KE_NOT_CONTROLLER;
			}
		}
		if (again && cl__req_again(&k))
			continue;
		rc = 0;
		break;
	}
out:
	cl__req_free(&k);
	return rc;
}

/* ============================================================ DeleteTopics */

/* Marks q[0..n) unanswered before an answer is read. */
static void ops_unanswered(cl_topic_op *q, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		q[i].error = KE_UNKNOWN_SERVER_ERROR;
		snprintf(q[i].message, CL_ADMIN_MSG, "the broker's answer left this topic out");
	}
}

/* Copies one topic's outcome into the items named name; true when the
 * broker says it is not the controller (ask again). */
static bool op_answer(cl_topic_op *q, size_t n, kp_str name, int16_t code, kp_str msg)
{
	for (size_t i = 0; i < n; i++)
		if (cl__str_eq(name, q[i].name)) {
			q[i].error = code;
			msg_copy(q[i].message, msg);
		}
	return code == KE_NOT_CONTROLLER;
}

int cl_delete_topics(cl_client *c, cl_topic_op *q, size_t n)
{
	struct cl__req k;
	int rc;

	if (n == 0)
		return 0;
	cl__req_init(&k, c);
	for (;;) {
		kp_DeleteTopicsRequest rq;
		kp_DeleteTopicsResponse m;

		if ((rc = begin_at_controller(c, &k, KP_API_DELETE_TOPICS)) < 0)
			break;
		kp_DeleteTopicsRequest_init(&rq);
		rq.TimeoutMs = cl__request_timeout(&c->opts);
		if (k.v >= 6) {
			rq.Topics.items = kp_arena_calloc(&k.arena, n, sizeof *rq.Topics.items);
			if (rq.Topics.items == NULL) {
				rc = nomem(c, "building DeleteTopics");
				break;
			}
			rq.Topics.count = (int32_t)n;
			for (size_t i = 0; i < n; i++) {
				kp_DeleteTopicsRequest_DeleteTopicState_init(&rq.Topics.items[i]);
				rq.Topics.items[i].Name = kp_str_from(q[i].name);
			}
		} else {
			rq.TopicNames.items = kp_arena_calloc(&k.arena, n, sizeof *rq.TopicNames.items);
			if (rq.TopicNames.items == NULL) {
				rc = nomem(c, "building DeleteTopics");
				break;
			}
			rq.TopicNames.count = (int32_t)n;
			for (size_t i = 0; i < n; i++)
				rq.TopicNames.items[i] = kp_str_from(q[i].name);
		}
		kp_reader r;
		rc = kp_DeleteTopicsRequest_encode(&k.body, k.v, &rq);
		if ((rc = cl__req_run(c, &k, KP_API_DELETE_TOPICS, rc, &r)) < 0 ||
		    (rc = cl__req_parsed(c, &k, KP_API_DELETE_TOPICS,
					 kp_DeleteTopicsResponse_decode(&r, k.v, &k.arena, &m) >= 0)) < 0)
			break;
		bool again = false;
		ops_unanswered(q, n);
		for (int32_t j = 0; j < m.Responses.count; j++) {
			const kp_DeleteTopicsResponse_DeletableTopicResult *x = &m.Responses.items[j];
			again |= op_answer(q, n, x->Name, x->ErrorCode,
					   k.v >= 5 ? x->ErrorMessage : KP_STR_NULL);
		}
		if (again && cl__req_again(&k))
			continue;
		rc = 0;
		break;
	}
	cl__req_free(&k);
	return rc;
}

/* ======================================================== CreatePartitions */

int cl_create_partitions(cl_client *c, cl_topic_op *q, size_t n, bool validate_only)
{
	struct cl__req k;
	int rc;

	if (n == 0)
		return 0;
	cl__req_init(&k, c);
	for (;;) {
		kp_CreatePartitionsRequest rq;
		kp_CreatePartitionsResponse m;

		if ((rc = begin_at_controller(c, &k, KP_API_CREATE_PARTITIONS)) < 0)
			break;
		kp_CreatePartitionsRequest_init(&rq);
		rq.TimeoutMs = cl__request_timeout(&c->opts);
		rq.ValidateOnly = validate_only;
		rq.Topics.items = kp_arena_calloc(&k.arena, n, sizeof *rq.Topics.items);
		if (rq.Topics.items == NULL) {
			rc = nomem(c, "building CreatePartitions");
			break;
		}
		rq.Topics.count = (int32_t)n;
		for (size_t i = 0; i < n; i++) {
			kp_CreatePartitionsRequest_CreatePartitionsTopic *x = &rq.Topics.items[i];
			kp_CreatePartitionsRequest_CreatePartitionsTopic_init(x);
			x->Name = kp_str_from(q[i].name);
			x->Count = q[i].partitions;
			x->Assignments.count = -1;   /* the broker places them */
		}
		kp_reader r;
		rc = kp_CreatePartitionsRequest_encode(&k.body, k.v, &rq);
		if ((rc = cl__req_run(c, &k, KP_API_CREATE_PARTITIONS, rc, &r)) < 0 ||
		    (rc = cl__req_parsed(c, &k, KP_API_CREATE_PARTITIONS,
					 kp_CreatePartitionsResponse_decode(&r, k.v, &k.arena, &m) >= 0)) < 0)
			break;
		bool again = false;
		ops_unanswered(q, n);
		for (int32_t j = 0; j < m.Results.count; j++) {
			const kp_CreatePartitionsResponse_CreatePartitionsTopicResult *x = &m.Results.items[j];
			again |= op_answer(q, n, x->Name, x->ErrorCode, x->ErrorMessage);
		}
		if (again && cl__req_again(&k))
			continue;
		rc = 0;
		break;
	}
	cl__req_free(&k);
	return rc;
}

/* ========================================================= DescribeConfigs */

const char *cl_config_source_name(int8_t source)
{
	switch (source) {
	case CL_SOURCE_DYNAMIC_TOPIC_CONFIG: return "DYNAMIC_TOPIC_CONFIG";
	case CL_SOURCE_DYNAMIC_BROKER_CONFIG: return "DYNAMIC_BROKER_CONFIG";
	case CL_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG: return "DYNAMIC_DEFAULT_BROKER_CONFIG";
	case CL_SOURCE_STATIC_BROKER_CONFIG: return "STATIC_BROKER_CONFIG";
	case CL_SOURCE_DEFAULT_CONFIG: return "DEFAULT_CONFIG";
	case CL_SOURCE_DYNAMIC_BROKER_LOGGER_CONFIG: return "DYNAMIC_BROKER_LOGGER_CONFIG";
	default: return "UNKNOWN";
	}
}

static int entry_cmp(const void *a, const void *b)
{
	const cl_config_entry *x = a, *y = b;
	return strcmp(x->name, y->name);
}

/* The node a resource must be asked at: a broker resource at that broker
 * (an empty name means the cluster default: any broker), -1 for any. */
static int32_t resource_node(const cl_resource *r)
{
	if (r->type != CL_RESOURCE_BROKER || r->name == NULL || r->name[0] == '\0')
		return -1;
	char *end;
	long id = strtol(r->name, &end, 10);
	return *end == '\0' && id >= 0 && id <= INT32_MAX ? (int32_t)id : -1;
}

/* Copies one answered resource into out (strings into cfg->mem). */
static int resource_copy(cl_configs *cfg, int16_t v,
			 const kp_DescribeConfigsResponse_DescribeConfigsResult *x,
			 cl_config_resource *out)
{
	kp_arena *mem = &cfg->mem;
	out->error = x->ErrorCode;
	out->message = cl__strdup(mem, x->ErrorMessage);
	out->n_entries = x->Configs.count > 0 ? (size_t)x->Configs.count : 0;
	if (out->n_entries == 0)
		return mem->err ? -ENOMEM : 0;
	out->entries = kp_arena_calloc(mem, out->n_entries, sizeof *out->entries);
	if (out->entries == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < out->n_entries; i++) {
		const kp_DescribeConfigsResponse_DescribeConfigsResourceResult *s = &x->Configs.items[i];
		cl_config_entry *e = &out->entries[i];
		e->name = cl__strdup(mem, s->Name);
		e->value = s->Value.len >= 0 ? cl__strdup(mem, s->Value) : NULL;
		e->read_only = s->ReadOnly;
		e->sensitive = s->IsSensitive;
		if (v == 0)
			e->source = s->IsDefault ? CL_SOURCE_DEFAULT_CONFIG : CL_SOURCE_UNKNOWN;
		else
			e->source = s->ConfigSource;
		if (v >= 1 && s->Synonyms.count > 0) {
			e->n_synonyms = (size_t)s->Synonyms.count;
			e->synonyms = kp_arena_calloc(mem, e->n_synonyms, sizeof *e->synonyms);
			if (e->synonyms == NULL)
				return -ENOMEM;
			for (size_t j = 0; j < e->n_synonyms; j++) {
				const kp_DescribeConfigsResponse_DescribeConfigsSynonym *y =
					&s->Synonyms.items[j];
				e->synonyms[j].name = cl__strdup(mem, y->Name);
				e->synonyms[j].value = y->Value.len >= 0 ? cl__strdup(mem, y->Value) : NULL;
				e->synonyms[j].source = y->Source;
			}
		}
	}
	qsort(out->entries, out->n_entries, sizeof *out->entries, entry_cmp);
	return mem->err ? -ENOMEM : 0;
}

/* One DescribeConfigs on conn for the resources sel[0..nsel) of r. */
static int describe_at(cl_client *c, cl_conn *conn, const cl_resource *r, const size_t *sel,
		       size_t nsel, bool synonyms, cl_configs *cfg)
{
	kp_DescribeConfigsRequest rq;
	kp_DescribeConfigsResponse m;
	struct cl__req k;
	int rc;

	cl__req_init(&k, c);
	k.conn = conn;
	if ((rc = cl__version(c, conn, KP_API_DESCRIBE_CONFIGS, &k.v)) < 0)
		goto out;
	kp_DescribeConfigsRequest_init(&rq);
	rq.IncludeSynonyms = synonyms;
	rq.Resources.items = kp_arena_calloc(&k.arena, nsel, sizeof *rq.Resources.items);
	if (rq.Resources.items == NULL) {
		rc = nomem(c, "building DescribeConfigs");
		goto out;
	}
	rq.Resources.count = (int32_t)nsel;
	for (size_t i = 0; i < nsel; i++) {
		kp_DescribeConfigsRequest_DescribeConfigsResource *x = &rq.Resources.items[i];
		kp_DescribeConfigsRequest_DescribeConfigsResource_init(x);
		x->ResourceType = r[sel[i]].type;
		x->ResourceName = kp_str_from(r[sel[i]].name ? r[sel[i]].name : "");
		x->ConfigurationKeys.count = -1;   /* every key */
	}
	kp_reader rd;
	rc = kp_DescribeConfigsRequest_encode(&k.body, k.v, &rq);
	if ((rc = cl__req_run(c, &k, KP_API_DESCRIBE_CONFIGS, rc, &rd)) < 0 ||
	    (rc = cl__req_parsed(c, &k, KP_API_DESCRIBE_CONFIGS,
				 kp_DescribeConfigsResponse_decode(&rd, k.v, &k.arena, &m) >= 0)) < 0)
		goto out;
	for (int32_t j = 0; j < m.Results.count; j++) {
		const kp_DescribeConfigsResponse_DescribeConfigsResult *x = &m.Results.items[j];
		for (size_t i = 0; i < nsel; i++) {
			cl_config_resource *o = &cfg->resources[sel[i]];
			if (o->type != x->ResourceType || !cl__str_eq(x->ResourceName, o->name))
				continue;
			if ((rc = resource_copy(cfg, k.v, x, o)) < 0) {
				nomem(c, "reading DescribeConfigs");
				goto out;
			}
		}
	}
	rc = 0;
out:
	cl__req_free(&k);
	return rc;
}

int cl_describe_configs(cl_client *c, const cl_resource *r, size_t n, bool synonyms,
			cl_configs **out)
{
	size_t *sel = NULL;
	bool *done = NULL;
	int rc = 0;

	*out = NULL;
	cl_configs *cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL)
		return nomem(c, "describing configs");
	kp_arena_init(&cfg->mem, 0);
	cfg->n_resources = n;
	if (n) {
		cfg->resources = kp_arena_calloc(&cfg->mem, n, sizeof *cfg->resources);
		sel = calloc(n, sizeof *sel);
		done = calloc(n, sizeof *done);
		if (cfg->resources == NULL || sel == NULL || done == NULL) {
			rc = nomem(c, "describing configs");
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		cl_config_resource *o = &cfg->resources[i];
		o->type = r[i].type;
		o->name = cl__strdup_c(&cfg->mem, r[i].name);
		o->error = KE_UNKNOWN_SERVER_ERROR;
		o->message = "the broker's answer left this resource out";
	}
	if (cfg->mem.err) {
		rc = nomem(c, "describing configs");
		goto out;
	}
	/* One request per target broker, in order of first appearance. */
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		int32_t node = resource_node(&r[i]);
		size_t ns = 0;
		for (size_t j = i; j < n; j++)
			if (!done[j] && resource_node(&r[j]) == node) {
				sel[ns++] = j;
				done[j] = true;
			}
		cl_conn *conn;
		rc = node < 0 ? cl__any_conn(c, &conn) : cl_client_broker(c, node, &conn);
		if (rc < 0)
			goto out;
		if ((rc = describe_at(c, conn, r, sel, ns, synonyms, cfg)) < 0)
			goto out;
	}
	*out = cfg;
	cfg = NULL;
out:
	free(sel);
	free(done);
	cl_configs_free(cfg);
	return rc;
}

void cl_configs_free(cl_configs *cfg)
{
	if (cfg == NULL)
		return;
	kp_arena_free(&cfg->mem);
	free(cfg);
}

/* ============================================================ AlterConfigs */

/* The connection an alter of resource x goes to. */
static int alter_conn(cl_client *c, const cl_alter_resource *x, cl_conn **out)
{
	cl_resource r = { x->type, x->name };
	int32_t node = resource_node(&r);
	if (node >= 0)
		return cl_client_broker(c, node, out);
	if (x->type == CL_RESOURCE_TOPIC)
		return controller_conn(c, out);
	return cl__any_conn(c, out);
}

static void alter_unanswered(cl_alter_resource *x)
{
	x->error = KE_UNKNOWN_SERVER_ERROR;
	snprintf(x->message, CL_ADMIN_MSG, "the broker's answer left this resource out");
}

/* Copies one answered resource's outcome into x when it is x. Both alter
 * APIs answer in this shape. */
static void alter_answer(cl_alter_resource *x, int8_t type, kp_str name, int16_t code, kp_str msg)
{
	if (type == x->type && cl__str_eq(name, x->name)) {
		x->error = code;
		msg_copy(x->message, msg);
	}
}

static int alter_incremental(cl_client *c, cl_conn *conn, int16_t v, cl_alter_resource *x,
			     bool validate_only)
{
	kp_IncrementalAlterConfigsRequest rq;
	kp_IncrementalAlterConfigsResponse m;
	kp_IncrementalAlterConfigsRequest_AlterConfigsResource res;
	struct cl__req k;
	int rc;

	cl__req_init(&k, c);
	k.conn = conn;
	k.v = v;
	kp_IncrementalAlterConfigsRequest_init(&rq);
	kp_IncrementalAlterConfigsRequest_AlterConfigsResource_init(&res);
	rq.ValidateOnly = validate_only;
	rq.Resources.count = 1;
	rq.Resources.items = &res;
	res.ResourceType = x->type;
	res.ResourceName = kp_str_from(x->name);
	res.Configs.count = (int32_t)x->n_ops;
	if (x->n_ops) {
		res.Configs.items = kp_arena_calloc(&k.arena, x->n_ops, sizeof *res.Configs.items);
		if (res.Configs.items == NULL) {
			rc = nomem(c, "building IncrementalAlterConfigs");
			goto out;
		}
	}
	for (size_t i = 0; i < x->n_ops; i++) {
		kp_IncrementalAlterConfigsRequest_AlterableConfig *e = &res.Configs.items[i];
		kp_IncrementalAlterConfigsRequest_AlterableConfig_init(e);
		e->Name = kp_str_from(x->ops[i].name);
		e->ConfigOperation = x->ops[i].op;
		e->Value = x->ops[i].op == CL_ALTER_DELETE || x->ops[i].value == NULL
			? KP_STR_NULL : kp_str_from(x->ops[i].value);
	}
	kp_reader rd;
	rc = kp_IncrementalAlterConfigsRequest_encode(&k.body, v, &rq);
	if ((rc = cl__req_run(c, &k, KP_API_INCREMENTAL_ALTER_CONFIGS, rc, &rd)) < 0 ||
	    (rc = cl__req_parsed(c, &k, KP_API_INCREMENTAL_ALTER_CONFIGS,
				 kp_IncrementalAlterConfigsResponse_decode(&rd, v, &k.arena, &m) >= 0)) < 0)
		goto out;
	alter_unanswered(x);
	for (int32_t j = 0; j < m.Responses.count; j++) {
		const kp_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse *y =
			&m.Responses.items[j];
		alter_answer(x, y->ResourceType, y->ResourceName, y->ErrorCode, y->ErrorMessage);
	}
	rc = 0;
out:
	cl__req_free(&k);
	return rc;
}

/* A list value ("a,b") with item added (APPEND) or removed (SUBTRACT);
 * the result is allocated from mem. */
static char *list_edit(kp_arena *mem, const char *list, const char *item, bool add)
{
	size_t cap = (list ? strlen(list) : 0) + strlen(item) + 2;
	char *out = kp_arena_alloc(mem, cap);
	size_t used = 0;
	bool present = false;

	if (out == NULL)
		return NULL;
	out[0] = '\0';
	for (const char *p = list ? list : ""; *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		bool same = len == strlen(item) && memcmp(p, item, len) == 0;
		present |= same;
		if (len && !(same && !add)) {
			used += (size_t)snprintf(out + used, cap - used, "%s%.*s", used ? "," : "",
						 (int)len, p);
		}
		p += len + (e ? 1 : 0);
	}
	if (add && !present)
		snprintf(out + used, cap - used, "%s%s", used ? "," : "", item);
	return out;
}

/* AlterConfigs for a broker without IncrementalAlterConfigs: the current
 * overrides, with x's ops applied, replace the resource's overrides. */
static int alter_legacy(cl_client *c, cl_conn *conn, cl_alter_resource *x, bool validate_only)
{
	kp_AlterConfigsRequest rq;
	kp_AlterConfigsResponse m;
	kp_AlterConfigsRequest_AlterConfigsResource res;
	cl_configs *cur = NULL;
	cl_resource r = { x->type, x->name };
	struct cl__req k;
	int rc;

	cl__req_init(&k, c);
	k.conn = conn;
	if ((rc = cl__version(c, conn, KP_API_ALTER_CONFIGS, &k.v)) < 0)
		goto out;
	if ((rc = cl_describe_configs(c, &r, 1, false, &cur)) < 0)
		goto out;
	const cl_config_resource *cr = &cur->resources[0];
	if (cr->error != 0) {
		x->error = cr->error;
		snprintf(x->message, CL_ADMIN_MSG, "%s", cr->message);
		rc = 0;
		goto out;
	}
	/* Overrides: what was set on this resource itself. */
	int8_t own = x->type == CL_RESOURCE_TOPIC ? CL_SOURCE_DYNAMIC_TOPIC_CONFIG
						  : CL_SOURCE_DYNAMIC_BROKER_CONFIG;
	size_t cap = cr->n_entries + x->n_ops, nkv = 0;
	cl_config_kv *kv = kp_arena_calloc(&k.arena, cap ? cap : 1, sizeof *kv);
	if (kv == NULL) {
		rc = nomem(c, "building AlterConfigs");
		goto out;
	}
	for (size_t i = 0; i < cr->n_entries; i++)
		if (cr->entries[i].source == own && cr->entries[i].value)
			kv[nkv++] = (cl_config_kv){ cr->entries[i].name, cr->entries[i].value };
	for (size_t i = 0; i < x->n_ops; i++) {
		const cl_config_op *op = &x->ops[i];
		size_t j = 0;
		while (j < nkv && strcmp(kv[j].name, op->name) != 0)
			j++;
		const char *old = j < nkv ? kv[j].value : NULL;
		const char *nv;
		if (op->op == CL_ALTER_DELETE) {
			nv = NULL;
		} else if (op->op == CL_ALTER_SET) {
			nv = op->value;
		} else {
			/* APPEND/SUBTRACT start from the effective value. */
			if (old == NULL)
				for (size_t e = 0; e < cr->n_entries; e++)
					if (strcmp(cr->entries[e].name, op->name) == 0)
						old = cr->entries[e].value;
			nv = list_edit(&k.arena, old, op->value ? op->value : "",
				       op->op == CL_ALTER_APPEND);
			if (nv == NULL) {
				rc = nomem(c, "building AlterConfigs");
				goto out;
			}
		}
		if (j < nkv && nv == NULL)
			kv[j] = kv[--nkv];
		else if (j < nkv)
			kv[j].value = nv;
		else if (nv != NULL)
			kv[nkv++] = (cl_config_kv){ op->name, nv };
	}
	kp_AlterConfigsRequest_init(&rq);
	kp_AlterConfigsRequest_AlterConfigsResource_init(&res);
	rq.ValidateOnly = validate_only;
	rq.Resources.count = 1;
	rq.Resources.items = &res;
	res.ResourceType = x->type;
	res.ResourceName = kp_str_from(x->name);
	res.Configs.count = (int32_t)nkv;
	res.Configs.items = kp_arena_calloc(&k.arena, nkv ? nkv : 1, sizeof *res.Configs.items);
	if (res.Configs.items == NULL) {
		rc = nomem(c, "building AlterConfigs");
		goto out;
	}
	for (size_t i = 0; i < nkv; i++) {
		kp_AlterConfigsRequest_AlterableConfig_init(&res.Configs.items[i]);
		res.Configs.items[i].Name = kp_str_from(kv[i].name);
		res.Configs.items[i].Value = kp_str_from(kv[i].value);
	}
	kp_reader rd;
	rc = kp_AlterConfigsRequest_encode(&k.body, k.v, &rq);
	if ((rc = cl__req_run(c, &k, KP_API_ALTER_CONFIGS, rc, &rd)) < 0 ||
	    (rc = cl__req_parsed(c, &k, KP_API_ALTER_CONFIGS,
				 kp_AlterConfigsResponse_decode(&rd, k.v, &k.arena, &m) >= 0)) < 0)
		goto out;
	alter_unanswered(x);
	for (int32_t j = 0; j < m.Responses.count; j++) {
		const kp_AlterConfigsResponse_AlterConfigsResourceResponse *y = &m.Responses.items[j];
		alter_answer(x, y->ResourceType, y->ResourceName, y->ErrorCode, y->ErrorMessage);
	}
	rc = 0;
out:
	cl_configs_free(cur);
	cl__req_free(&k);
	return rc;
}

int cl_alter_configs(cl_client *c, cl_alter_resource *q, size_t n, bool validate_only)
{
	/* One resource per request: each may go to a different broker, and a
	 * legacy AlterConfigs needs the resource's own current overrides. */
	for (size_t i = 0; i < n; i++) {
		cl_conn *conn;
		int rc;
		if ((rc = alter_conn(c, &q[i], &conn)) < 0)
			return rc;
		int16_t v = cl_conn_api_version(conn, KP_API_INCREMENTAL_ALTER_CONFIGS);
		rc = v >= 0 ? alter_incremental(c, conn, v, &q[i], validate_only)
			    : alter_legacy(c, conn, &q[i], validate_only);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ========================================================= DescribeLogDirs */

static int replica_cmp(const void *a, const void *b)
{
	const cl_replica_size *x = a, *y = b;
	int t = strcmp(x->topic, y->topic);
	if (t)
		return t;
	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return (x->broker > y->broker) - (x->broker < y->broker);
}

/* Appends one broker's answer to l (capacity *cap grows in l->mem). */
static int log_dirs_add(cl_log_dirs *l, size_t *cap, int32_t broker, int16_t version,
			const kp_DescribeLogDirsResponse *m)
{
	for (int32_t d = 0; d < m->Results.count; d++) {
		const kp_DescribeLogDirsResponse_DescribeLogDirsResult *res = &m->Results.items[d];
		const char *dir = cl__strdup(&l->mem, res->LogDir);
		for (int32_t t = 0; t < res->Topics.count; t++) {
			const kp_DescribeLogDirsResponse_DescribeLogDirsTopic *tp = &res->Topics.items[t];
			const char *name = cl__strdup(&l->mem, tp->Name);
			for (int32_t p = 0; p < tp->Partitions.count; p++) {
				const kp_DescribeLogDirsResponse_DescribeLogDirsPartition *pp =
					&tp->Partitions.items[p];
				cl_replica_size *nr = cl__arena_reserve(&l->mem, l->replicas,
									l->n_replicas, cap, sizeof *nr);
				if (nr == NULL)
					return -ENOMEM;
				l->replicas = nr;
				l->replicas[l->n_replicas++] = (cl_replica_size){
					.broker = broker, .log_dir = dir, .topic = name,
					.partition = pp->PartitionIndex, .size = pp->PartitionSize,
					.offset_lag = pp->OffsetLag, .is_future = pp->IsFutureKey,
					.dirty_ratio = version >= 2 ? pp->RewindDirtyRatio : -1 };
			}
		}
	}
	return l->mem.err ? -ENOMEM : 0;
}

/* The answers DescribeLogDirs gathers, broker by broker. */
struct log_dirs_acc {
	cl_log_dirs *l;
	size_t cap;                   /* of l->replicas */
};

/* One broker's DescribeLogDirs answer, appended to the log_dirs_acc arg. */
static int log_dirs_at(cl_client *c, struct cl__req *k, int32_t node, void *arg)
{
	struct log_dirs_acc *acc = arg;
	kp_DescribeLogDirsRequest rq;
	kp_DescribeLogDirsResponse m;
	kp_reader rd;
	int rc;

	kp_DescribeLogDirsRequest_init(&rq);
	rq.Topics.count = -1;   /* every replica */
	rc = kp_DescribeLogDirsRequest_encode(&k->body, k->v, &rq);
	if ((rc = cl__req_run(c, k, KP_API_DESCRIBE_LOG_DIRS, rc, &rd)) < 0 ||
	    (rc = cl__req_parsed(c, k, KP_API_DESCRIBE_LOG_DIRS,
				 kp_DescribeLogDirsResponse_decode(&rd, k->v, &k->arena, &m) >= 0)) < 0 ||
	    (rc = cl__broker_error(c, node, KP_API_DESCRIBE_LOG_DIRS,
				   k->v >= 3 ? m.ErrorCode : 0)) < 0)
		return rc;
	if ((rc = log_dirs_add(acc->l, &acc->cap, node, k->v, &m)) < 0)
		return nomem(c, "reading DescribeLogDirs");
	return 0;
}

int cl_describe_log_dirs(cl_client *c, cl_log_dirs **out)
{
	struct log_dirs_acc acc = { NULL, 0 };
	struct cl__req k;
	int rc;

	*out = NULL;
	cl__req_init(&k, c);
	if ((acc.l = calloc(1, sizeof *acc.l)) == NULL) {
		rc = nomem(c, "describing log dirs");
		goto out;
	}
	kp_arena_init(&acc.l->mem, 0);
	if ((rc = cl__req_each_broker(c, &k, KP_API_DESCRIBE_LOG_DIRS, log_dirs_at, &acc)) < 0)
		goto out;
	cl_log_dirs *l = acc.l;
	if (l->n_replicas)
		qsort(l->replicas, l->n_replicas, sizeof *l->replicas, replica_cmp);
	*out = l;
	acc.l = NULL;
out:
	cl_log_dirs_free(acc.l);
	cl__req_free(&k);
	return rc;
}

void cl_log_dirs_free(cl_log_dirs *l)
{
	if (l == NULL)
		return;
	kp_arena_free(&l->mem);
	free(l);
}
