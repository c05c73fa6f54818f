/*
 * test_topic_apis.c -- the topics layer's handlers (api_metadata.c,
 * api_admin.c, api_configs.c) fed encoded requests through a br_request
 * built here, their responses decoded with the generated codecs. Every
 * version the br_apis table advertises for these APIs is exercised at least
 * once: Metadata 0-12, CreateTopics 0-7, DeleteTopics 0-6, CreatePartitions
 * 0-3, DescribeConfigs 0-4, AlterConfigs 0-2, IncrementalAlterConfigs 0-1,
 * DescribeCluster 0-1, DescribeLogDirs 0-4.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/br_int.h"

static char root[256];
static br_broker B;
static kp_arena A;          /* decoded responses */
static char errbuf[512];

static void quiet_log(void *arg, enum st_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static void setup(void)
{
	st_store_options so;
	char set[300];

	memset(&B, 0, sizeof(B));
	strcpy(root, "/tmp/rewind-topic-apis-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	br_config_init(&B.cfg);
	snprintf(set, sizeof(set), "log.dirs=%s", root);
	ck_assert_int_eq(br_config_set(&B.cfg, set, errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(br_config_set(&B.cfg, "num.partitions=2", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(br_config_set(&B.cfg, "node.id=7", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(br_config_set(&B.cfg, "listeners=PLAINTEXT://127.0.0.1:19092", errbuf,
				       sizeof(errbuf)), 0);
	st_store_options_default(&so);
	so.use_io_uring = false;
	so.log = quiet_log;
	ck_assert_int_eq(st_store_open(&so, &B.store), 0);
	ck_assert_int_eq(br_topics_open(&B, &B.topics), 0);
	kp_arena_init(&A, 0);
}

static void teardown(void)
{
	char cmd[300];

	br_topics_close(B.topics);
	st_store_close(B.store);
	br_config_free(&B.cfg);
	kp_arena_free(&A);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

/* The last call's req.error_code: what /metrics counts the request under. */
static int16_t last_error_code;

/* Runs handler fn on an encoded request body; the response body is left in
 * *resp (caller frees with kp_buf_free). Returns the handler's result. */
static int call(br_handler_fn *fn, int16_t key, int16_t ver, const kp_buf *body, kp_buf *resp)
{
	br_request req;
	int rc;

	ck_assert_int_eq(body->err, 0);
	memset(&req, 0, sizeof(req));
	req.broker = &B;
	req.api_key = key;
	req.api_version = ver;
	strcpy(req.peer, "test");
	req.body = kp_reader_make(body->data, body->len);
	kp_arena_init(&req.arena, 0);
	kp_buf_init(&req.resp);
	rc = fn(&req);
	last_error_code = req.error_code;
	*resp = req.resp;
	kp_arena_free(&req.arena);
	return rc;
}

#define ENC(Name, ver, msg, buf) do { \
		kp_buf_init(&(buf)); \
		ck_assert_int_eq(kp_##Name##_encode(&(buf), (ver), (msg)), 0); \
	} while (0)

/* Encodes rq, runs the handler, decodes its response into *rs. The
 * response bytes are copied into A first, so the decoded views outlive the
 * handler's buffer (until teardown). */
#define ROUND(Name, handler, key, ver, rq, rs) do { \
		kp_buf b_, r_; \
		kp_reader rd_; \
		uint8_t *keep_; \
		ENC(Name##Request, ver, rq, b_); \
		ck_assert_int_eq(call(handler, key, ver, &b_, &r_), BR_RESPOND); \
		ck_assert_ptr_nonnull(keep_ = kp_arena_alloc(&A, r_.len ? r_.len : 1)); \
		memcpy(keep_, r_.data, r_.len); \
		rd_ = kp_reader_make(keep_, r_.len); \
		ck_assert_int_eq(kp_##Name##Response_decode(&rd_, ver, &A, rs), 0); \
		ck_assert_int_eq(kp_reader_left(&rd_), 0); \
		kp_buf_free(&b_); \
		kp_buf_free(&r_); \
	} while (0)

static bool str_is(kp_str s, const char *c)
{
	return s.len == (int32_t)strlen(c) && memcmp(s.p, c, (size_t)s.len) == 0;
}

/* ------------------------------------------------------------ Metadata */

static void metadata(int16_t ver, const char *name, bool allow, kp_MetadataResponse *rs)
{
	kp_MetadataRequest rq;
	kp_MetadataRequest_MetadataRequestTopic t;

	kp_MetadataRequest_init(&rq);
	if (name) {
		kp_MetadataRequest_MetadataRequestTopic_init(&t);
		t.Name = kp_str_from(name);
		rq.Topics.count = 1;
		rq.Topics.items = &t;
	} else {
		rq.Topics.count = ver == 0 ? 0 : -1;
	}
	if (ver >= 4)
		rq.AllowAutoTopicCreation = allow;
	ROUND(Metadata, br_handle_metadata, KP_API_METADATA, ver, &rq, rs);
}

START_TEST(metadata_lists_every_topic_with_this_node_leading)
{
	for (int16_t v = 0; v <= 12; v++) {
		kp_MetadataResponse rs;
		ck_assert_int_eq(br_topics_create(B.topics, "a", 1, 3, NULL, NULL, 0, false, errbuf,
						  sizeof(errbuf)), v == 0 ? KE_NONE : KE_TOPIC_ALREADY_EXISTS);
		metadata(v, NULL, false, &rs);
		ck_assert_int_eq(rs.Brokers.count, 1);
		ck_assert_int_eq(rs.Brokers.items[0].NodeId, 7);
		ck_assert(str_is(rs.Brokers.items[0].Host, "127.0.0.1"));
		ck_assert_int_eq(rs.Brokers.items[0].Port, 19092);
		if (v >= 2)
			ck_assert(str_is(rs.ClusterId, B.cluster_id_str));
		if (v >= 1)
			ck_assert_int_eq(rs.ControllerId, 7);
		ck_assert_int_eq(rs.Topics.count, 1);
		ck_assert(str_is(rs.Topics.items[0].Name, "a"));
		ck_assert_int_eq(rs.Topics.items[0].ErrorCode, 0);
		ck_assert_int_eq(rs.Topics.items[0].Partitions.count, 3);
		for (int i = 0; i < 3; i++) {
			kp_MetadataResponse_MetadataResponsePartition *p = &rs.Topics.items[0].Partitions.items[i];
			ck_assert_int_eq(p->PartitionIndex, i);
			ck_assert_int_eq(p->LeaderId, 7);
			ck_assert_int_eq(p->ReplicaNodes.count, 1);
			ck_assert_int_eq(p->IsrNodes.items[0], 7);
			if (v >= 7)
				ck_assert_int_eq(p->LeaderEpoch, 0);
		}
		if (v >= 10) {
			br_topic *t = br_topics_get(B.topics, "a", 1);
			ck_assert_mem_eq(rs.Topics.items[0].TopicId.b, t->id, 16);
			br_topic_put(t);
		}
	}
}
END_TEST

START_TEST(metadata_auto_creates_only_when_allowed)
{
	kp_MetadataResponse rs;
	br_topic *t;

	metadata(4, "nope", false, &rs);
	ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_UNKNOWN_TOPIC_OR_PARTITION);
	ck_assert_ptr_null(br_topics_get(B.topics, "nope", 4));
	metadata(4, "yes", true, &rs);
	ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_NONE);
	ck_assert_int_eq(rs.Topics.items[0].Partitions.count, 2);   /* num.partitions */
	ck_assert_ptr_nonnull(t = br_topics_get(B.topics, "yes", 3));
	br_topic_put(t);
	/* v0-v3 have no flag: auto.create.topics.enable decides. */
	metadata(1, "old", false, &rs);
	ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_NONE);
	metadata(9, "bad name", true, &rs);
	ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(br_config_set(&B.cfg, "auto.create.topics.enable=false", errbuf,
				       sizeof(errbuf)), 0);
	metadata(1, "off", true, &rs);
	ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_UNKNOWN_TOPIC_OR_PARTITION);
}
END_TEST

START_TEST(metadata_v10_finds_topics_by_id)
{
	kp_MetadataRequest rq;
	kp_MetadataRequest_MetadataRequestTopic q[2];
	kp_MetadataResponse rs;
	br_topic *t;

	ck_assert_int_eq(br_topics_create(B.topics, "byid", 4, 1, NULL, NULL, 0, false, errbuf,
					  sizeof(errbuf)), KE_NONE);
	t = br_topics_get(B.topics, "byid", 4);
	kp_MetadataRequest_init(&rq);
	kp_MetadataRequest_MetadataRequestTopic_init(&q[0]);
	kp_MetadataRequest_MetadataRequestTopic_init(&q[1]);
	q[0].Name = KP_STR_NULL;
	memcpy(q[0].TopicId.b, t->id, 16);
	q[1].Name = KP_STR_NULL;
	memset(q[1].TopicId.b, 9, 16);
	rq.Topics.count = 2;
	rq.Topics.items = q;
	ROUND(Metadata, br_handle_metadata, KP_API_METADATA, 12, &rq, &rs);
	ck_assert(str_is(rs.Topics.items[0].Name, "byid"));
	ck_assert_int_eq(rs.Topics.items[1].ErrorCode, KE_UNKNOWN_TOPIC_ID);
	br_topic_put(t);
}
END_TEST

/* -------------------------------------------------------- CreateTopics */

static void create_req(int16_t ver, const char *name, int32_t parts, int16_t rf, const char *k,
		       const char *v, bool validate, kp_CreateTopicsResponse *rs)
{
	kp_CreateTopicsRequest rq;
	kp_CreateTopicsRequest_CreatableTopic t;
	kp_CreateTopicsRequest_CreatableTopicConfig c;

	kp_CreateTopicsRequest_init(&rq);
	kp_CreateTopicsRequest_CreatableTopic_init(&t);
	t.Name = kp_str_from(name);
	t.NumPartitions = parts;
	t.ReplicationFactor = rf;
	t.Assignments.count = 0;
	if (k) {
		kp_CreateTopicsRequest_CreatableTopicConfig_init(&c);
		c.Name = kp_str_from(k);
		c.Value = kp_str_from(v);
		t.Configs.count = 1;
		t.Configs.items = &c;
	}
	rq.Topics.count = 1;
	rq.Topics.items = &t;
	rq.validateOnly = validate;
	ROUND(CreateTopics, br_handle_create_topics, KP_API_CREATE_TOPICS, ver, &rq, rs);
}

START_TEST(create_topics_every_version_with_defaults_and_refusals)
{
	for (int16_t v = 0; v <= 7; v++) {
		kp_CreateTopicsResponse rs;
		char name[16];
		br_topic *t;

		snprintf(name, sizeof(name), "ct%d", v);
		create_req(v, name, v >= 4 ? -1 : 3, v >= 4 ? -1 : 1, "retention.ms", "1234", false, &rs);
		ck_assert_int_eq(rs.Topics.count, 1);
		ck_assert(str_is(rs.Topics.items[0].Name, name));
		ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_NONE);
		ck_assert_int_eq(last_error_code, KE_NONE);
		ck_assert_ptr_nonnull(t = br_topics_get(B.topics, name, strlen(name)));
		ck_assert_int_eq(t->n_parts, v >= 4 ? 2 : 3);
		ck_assert_int_eq(t->cfg.log.retention_ms, 1234);
		if (v >= 5) {
			ck_assert_int_eq(rs.Topics.items[0].NumPartitions, t->n_parts);
			ck_assert_int_eq(rs.Topics.items[0].ReplicationFactor, 1);
			ck_assert_int_eq(rs.Topics.items[0].Configs.count, BR_TOPIC_CONFIG_KEYS);
		}
		if (v >= 7)
			ck_assert_mem_eq(rs.Topics.items[0].TopicId.b, t->id, 16);
		br_topic_put(t);

		create_req(v, name, 1, 1, NULL, NULL, false, &rs);
		ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_TOPIC_ALREADY_EXISTS);
		ck_assert_int_eq(last_error_code, KE_TOPIC_ALREADY_EXISTS);
		if (v >= 1)
			ck_assert_int_gt(rs.Topics.items[0].ErrorMessage.len, 0);
		create_req(v, "x3", 1, 3, NULL, NULL, false, &rs);
		ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_INVALID_REPLICATION_FACTOR);
		create_req(v, "x4", 1, 1, "min.cleanable.ratio", "0.5", false, &rs);
		ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_INVALID_CONFIG);
		create_req(v, "x 5", 1, 1, NULL, NULL, false, &rs);
		ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_INVALID_TOPIC_EXCEPTION);
		if (v >= 1) {
			create_req(v, "x6", 1, 1, NULL, NULL, true, &rs);
			ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_NONE);
			ck_assert_ptr_null(br_topics_get(B.topics, "x6", 2));
		}
	}
}
END_TEST

START_TEST(create_topics_accepts_only_single_node_assignments)
{
	kp_CreateTopicsRequest rq;
	kp_CreateTopicsRequest_CreatableTopic t[2];
	kp_CreateTopicsRequest_CreatableReplicaAssignment a[2];
	int32_t us = 7, other[2] = { 7, 8 };
	kp_CreateTopicsResponse rs;

	kp_CreateTopicsRequest_init(&rq);
	for (int i = 0; i < 2; i++) {
		kp_CreateTopicsRequest_CreatableTopic_init(&t[i]);
		t[i].NumPartitions = -1;
		t[i].ReplicationFactor = -1;
	}
	t[0].Name = kp_str_from("asg");
	a[0].PartitionIndex = 0;
	a[0].BrokerIds.count = 1;
	a[0].BrokerIds.items = &us;
	a[1].PartitionIndex = 1;
	a[1].BrokerIds.count = 1;
	a[1].BrokerIds.items = &us;
	t[0].Assignments.count = 2;
	t[0].Assignments.items = a;
	t[1].Name = kp_str_from("asg2");
	t[1].Assignments.count = 1;
	t[1].Assignments.items = &(kp_CreateTopicsRequest_CreatableReplicaAssignment){
		.PartitionIndex = 0, .BrokerIds = { 2, other } };
	rq.Topics.count = 2;
	rq.Topics.items = t;
	ROUND(CreateTopics, br_handle_create_topics, KP_API_CREATE_TOPICS, 5, &rq, &rs);
	ck_assert_int_eq(rs.Topics.items[0].ErrorCode, KE_NONE);
	ck_assert_int_eq(rs.Topics.items[0].NumPartitions, 2);
	ck_assert_int_eq(rs.Topics.items[1].ErrorCode, KE_INVALID_REPLICA_ASSIGNMENT);
}
END_TEST

/* -------------------------------------------------------- DeleteTopics */

START_TEST(delete_topics_by_name_and_by_id)
{
	for (int16_t v = 0; v <= 6; v++) {
		kp_DeleteTopicsRequest rq;
		kp_DeleteTopicsResponse rs;
		kp_str names[2];
		kp_DeleteTopicsRequest_DeleteTopicState st[2];
		br_topic *t;

		ck_assert_int_eq(br_topics_create(B.topics, "del", 3, 1, NULL, NULL, 0, false, errbuf,
						  sizeof(errbuf)), KE_NONE);
		t = br_topics_get(B.topics, "del", 3);
		kp_DeleteTopicsRequest_init(&rq);
		if (v < 6) {
			names[0] = kp_str_from("del");
			names[1] = kp_str_from("missing");
			rq.TopicNames.count = 2;
			rq.TopicNames.items = names;
		} else {
			kp_DeleteTopicsRequest_DeleteTopicState_init(&st[0]);
			kp_DeleteTopicsRequest_DeleteTopicState_init(&st[1]);
			memcpy(st[0].TopicId.b, t->id, 16);
			st[1].Name = kp_str_from("missing");
			rq.Topics.count = 2;
			rq.Topics.items = st;
		}
		ROUND(DeleteTopics, br_handle_delete_topics, KP_API_DELETE_TOPICS, v, &rq, &rs);
		ck_assert_int_eq(rs.Responses.count, 2);
		ck_assert(str_is(rs.Responses.items[0].Name, "del"));
		ck_assert_int_eq(rs.Responses.items[0].ErrorCode, KE_NONE);
		ck_assert_int_eq(rs.Responses.items[1].ErrorCode, KE_UNKNOWN_TOPIC_OR_PARTITION);
		if (v >= 6)
			ck_assert_mem_eq(rs.Responses.items[0].TopicId.b, t->id, 16);
		br_topic_put(t);
		ck_assert_ptr_null(br_topics_get(B.topics, "del", 3));
	}
}
END_TEST

/* ---------------------------------------------------- CreatePartitions */

START_TEST(create_partitions_grows_each_version)
{
	ck_assert_int_eq(br_topics_create(B.topics, "grow", 4, 1, NULL, NULL, 0, false, errbuf,
					  sizeof(errbuf)), KE_NONE);
	for (int16_t v = 0; v <= 3; v++) {
		kp_CreatePartitionsRequest rq;
		kp_CreatePartitionsRequest_CreatePartitionsTopic q[3];
		kp_CreatePartitionsResponse rs;
		br_topic *t;

		kp_CreatePartitionsRequest_init(&rq);
		for (int i = 0; i < 3; i++)
			kp_CreatePartitionsRequest_CreatePartitionsTopic_init(&q[i]);
		q[0].Name = kp_str_from("grow");
		q[0].Count = v + 2;
		q[0].Assignments.count = -1;
		q[1].Name = kp_str_from("nosuch");
		q[1].Count = 5;
		q[1].Assignments.count = -1;
		q[2].Name = kp_str_from("ct-none");
		q[2].Count = 5;
		q[2].Assignments.count = -1;
		rq.Topics.count = 2;
		rq.Topics.items = q;
		ROUND(CreatePartitions, br_handle_create_partitions, KP_API_CREATE_PARTITIONS, v, &rq, &rs);
		ck_assert_int_eq(rs.Results.count, 2);
		ck_assert_int_eq(rs.Results.items[0].ErrorCode, KE_NONE);
		ck_assert_int_eq(rs.Results.items[1].ErrorCode, KE_UNKNOWN_TOPIC_OR_PARTITION);
		t = br_topics_get(B.topics, "grow", 4);
		ck_assert_int_eq(t->n_parts, v + 2);
		br_topic_put(t);
		/* Shrinking is refused. */
		q[0].Count = 1;
		rq.Topics.count = 1;
		ROUND(CreatePartitions, br_handle_create_partitions, KP_API_CREATE_PARTITIONS, v, &rq, &rs);
		ck_assert_int_eq(rs.Results.items[0].ErrorCode, KE_INVALID_PARTITIONS);
		ck_assert_int_gt(rs.Results.items[0].ErrorMessage.len, 0);
	}
}
END_TEST

/* ------------------------------------------------------------- Configs */

static const kp_DescribeConfigsResponse_DescribeConfigsResourceResult *
find_cfg(const kp_DescribeConfigsResponse_DescribeConfigsResult *r, const char *name)
{
	for (int32_t i = 0; i < r->Configs.count; i++)
		if (str_is(r->Configs.items[i].Name, name))
			return &r->Configs.items[i];
	return NULL;
}

static void describe(int16_t ver, int8_t type, const char *name, bool synonyms,
		     kp_DescribeConfigsResponse *rs)
{
	kp_DescribeConfigsRequest rq;
	kp_DescribeConfigsRequest_DescribeConfigsResource res;

	kp_DescribeConfigsRequest_init(&rq);
	kp_DescribeConfigsRequest_DescribeConfigsResource_init(&res);
	res.ResourceType = type;
	res.ResourceName = kp_str_from(name);
	res.ConfigurationKeys.count = -1;
	rq.Resources.count = 1;
	rq.Resources.items = &res;
	rq.IncludeSynonyms = ver >= 1 && synonyms;
	ROUND(DescribeConfigs, br_handle_describe_configs, KP_API_DESCRIBE_CONFIGS, ver, &rq, rs);
}

START_TEST(alter_then_describe_configs_every_version)
{
	ck_assert_int_eq(br_topics_create(B.topics, "cfg", 3, 1, NULL, NULL, 0, false, errbuf,
					  sizeof(errbuf)), KE_NONE);
	for (int16_t v = 0; v <= 2; v++) {
		kp_AlterConfigsRequest rq;
		kp_AlterConfigsRequest_AlterConfigsResource res[2];
		kp_AlterConfigsRequest_AlterableConfig c[2];
		kp_AlterConfigsResponse rs;
		char val[16];
		br_topic *t;

		snprintf(val, sizeof(val), "%d", 1000 + v);
		kp_AlterConfigsRequest_init(&rq);
		kp_AlterConfigsRequest_AlterConfigsResource_init(&res[0]);
		kp_AlterConfigsRequest_AlterConfigsResource_init(&res[1]);
		c[0].Name = kp_str_from("retention.ms");
		c[0].Value = kp_str_from(val);
		c[1].Name = kp_str_from("bogus.key");
		c[1].Value = kp_str_from("1");
		res[0].ResourceType = 2;
		res[0].ResourceName = kp_str_from("cfg");
		res[0].Configs.count = 1;
		res[0].Configs.items = &c[0];
		res[1].ResourceType = 2;
		res[1].ResourceName = kp_str_from("cfg");
		res[1].Configs.count = 2;
		res[1].Configs.items = c;
		rq.Resources.count = 2;
		rq.Resources.items = res;
		ROUND(AlterConfigs, br_handle_alter_configs, KP_API_ALTER_CONFIGS, v, &rq, &rs);
		ck_assert_int_eq(rs.Responses.items[0].ErrorCode, KE_NONE);
		ck_assert_int_eq(rs.Responses.items[1].ErrorCode, KE_INVALID_CONFIG);
		t = br_topics_get(B.topics, "cfg", 3);
		ck_assert_int_eq(t->cfg.log.retention_ms, 1000 + v);
		br_topic_put(t);
	}
	for (int16_t v = 0; v <= 4; v++) {
		kp_DescribeConfigsResponse rs;
		const kp_DescribeConfigsResponse_DescribeConfigsResourceResult *e;

		describe(v, 2, "cfg", true, &rs);
		ck_assert_int_eq(rs.Results.count, 1);
		ck_assert_int_eq(rs.Results.items[0].ErrorCode, KE_NONE);
		ck_assert_int_eq(rs.Results.items[0].Configs.count, BR_TOPIC_CONFIG_KEYS);
		ck_assert_ptr_nonnull(e = find_cfg(&rs.Results.items[0], "retention.ms"));
		ck_assert(str_is(e->Value, "1002"));
		if (v == 0) {
			ck_assert(!e->IsDefault);
		} else {
			ck_assert_int_eq(e->ConfigSource, BR_SOURCE_DYNAMIC_TOPIC_CONFIG);
			ck_assert_int_eq(e->Synonyms.count, 2);
			ck_assert(str_is(e->Synonyms.items[1].Name, "log.retention.ms"));
		}
		ck_assert_ptr_nonnull(e = find_cfg(&rs.Results.items[0], "segment.bytes"));
		if (v >= 1)
			ck_assert_int_eq(e->ConfigSource, BR_SOURCE_DEFAULT_CONFIG);
		if (v >= 3)
			ck_assert_int_eq(e->ConfigType, 3);

		describe(v, 2, "missing", false, &rs);
		ck_assert_int_eq(rs.Results.items[0].ErrorCode, KE_UNKNOWN_TOPIC_OR_PARTITION);
		describe(v, 4, "7", false, &rs);
		ck_assert_int_eq(rs.Results.items[0].ErrorCode, KE_NONE);
		ck_assert_ptr_nonnull(e = find_cfg(&rs.Results.items[0], "num.partitions"));
		ck_assert(str_is(e->Value, "2"));
		ck_assert(e->ReadOnly);
	}
}
END_TEST

START_TEST(incremental_alter_configs_set_delete_append_subtract)
{
	ck_assert_int_eq(br_topics_create(B.topics, "inc", 3, 1, NULL, NULL, 0, false, errbuf,
					  sizeof(errbuf)), KE_NONE);
	for (int16_t v = 0; v <= 1; v++) {
		kp_IncrementalAlterConfigsRequest rq;
		kp_IncrementalAlterConfigsRequest_AlterConfigsResource res[2];
		kp_IncrementalAlterConfigsRequest_AlterableConfig c[3];
		kp_IncrementalAlterConfigsResponse rs;
		br_topic *t;

		kp_IncrementalAlterConfigsRequest_init(&rq);
		for (int i = 0; i < 2; i++)
			kp_IncrementalAlterConfigsRequest_AlterConfigsResource_init(&res[i]);
		c[0] = (kp_IncrementalAlterConfigsRequest_AlterableConfig){ kp_str_from("cleanup.policy"),
			BR_CONFIG_APPEND, kp_str_from("compact") };
		c[1] = (kp_IncrementalAlterConfigsRequest_AlterableConfig){ kp_str_from("max.message.bytes"),
			BR_CONFIG_SET, kp_str_from("2048") };
		c[2] = (kp_IncrementalAlterConfigsRequest_AlterableConfig){ kp_str_from("retention.ms"),
			BR_CONFIG_DELETE, KP_STR_NULL };
		res[0].ResourceType = 2;
		res[0].ResourceName = kp_str_from("inc");
		res[0].Configs.count = 3;
		res[0].Configs.items = c;
		res[1].ResourceType = 4;
		res[1].ResourceName = kp_str_from("7");
		res[1].Configs.count = 1;
		res[1].Configs.items = &c[1];
		rq.Resources.count = 2;
		rq.Resources.items = res;
		ROUND(IncrementalAlterConfigs, br_handle_incremental_alter_configs,
		      KP_API_INCREMENTAL_ALTER_CONFIGS, v, &rq, &rs);
		ck_assert_int_eq(rs.Responses.items[0].ErrorCode, KE_NONE);
		ck_assert_int_eq(rs.Responses.items[1].ErrorCode, KE_INVALID_CONFIG);
		t = br_topics_get(B.topics, "inc", 3);
		ck_assert(t->cfg.compact && t->cfg.delete_policy);
		ck_assert_int_eq(t->cfg.max_message_bytes, 2048);
		br_topic_put(t);
		/* SUBTRACT takes it back. */
		c[0].ConfigOperation = BR_CONFIG_SUBTRACT;
		res[0].Configs.count = 1;
		rq.Resources.count = 1;
		ROUND(IncrementalAlterConfigs, br_handle_incremental_alter_configs,
		      KP_API_INCREMENTAL_ALTER_CONFIGS, v, &rq, &rs);
		ck_assert_int_eq(rs.Responses.items[0].ErrorCode, KE_NONE);
		t = br_topics_get(B.topics, "inc", 3);
		ck_assert(!t->cfg.compact && t->cfg.delete_policy);
		ck_assert_int_eq(t->cfg.max_message_bytes, 2048);
		br_topic_put(t);
	}
}
END_TEST

/* ------------------------------------------- DescribeCluster, LogDirs */

START_TEST(describe_cluster_names_this_node)
{
	for (int16_t v = 0; v <= 1; v++) {
		kp_DescribeClusterRequest rq;
		kp_DescribeClusterResponse rs;

		kp_DescribeClusterRequest_init(&rq);
		ROUND(DescribeCluster, br_handle_describe_cluster, KP_API_DESCRIBE_CLUSTER, v, &rq, &rs);
		ck_assert_int_eq(rs.ErrorCode, 0);
		ck_assert(str_is(rs.ClusterId, B.cluster_id_str));
		ck_assert_int_eq(rs.ControllerId, 7);
		ck_assert_int_eq(rs.Brokers.count, 1);
		ck_assert_int_eq(rs.Brokers.items[0].Port, 19092);
		if (v == 1) {
			rq.EndpointType = 2;
			ROUND(DescribeCluster, br_handle_describe_cluster, KP_API_DESCRIBE_CLUSTER, v,
			      &rq, &rs);
			ck_assert_int_eq(rs.ErrorCode, KE_UNSUPPORTED_ENDPOINT_TYPE);
		}
	}
}
END_TEST

START_TEST(describe_log_dirs_reports_partition_sizes)
{
	ck_assert_int_eq(br_topics_create(B.topics, "ld", 2, 3, NULL, NULL, 0, false, errbuf,
					  sizeof(errbuf)), KE_NONE);
	ck_assert_int_eq(br_topics_create(B.topics, "other", 5, 1, NULL, NULL, 0, false, errbuf,
					  sizeof(errbuf)), KE_NONE);
	for (int16_t v = 0; v <= 4; v++) {
		kp_DescribeLogDirsRequest rq;
		kp_DescribeLogDirsRequest_DescribableLogDirTopic q;
		int32_t parts[2] = { 0, 2 };
		kp_DescribeLogDirsResponse rs;

		kp_DescribeLogDirsRequest_init(&rq);
		rq.Topics.count = -1;
		ROUND(DescribeLogDirs, br_handle_describe_log_dirs, KP_API_DESCRIBE_LOG_DIRS, v, &rq, &rs);
		ck_assert_int_eq(rs.Results.count, 1);
		ck_assert(str_is(rs.Results.items[0].LogDir, root));
		ck_assert_int_eq(rs.Results.items[0].Topics.count, 2);
		if (v >= 4)
			ck_assert_int_gt(rs.Results.items[0].TotalBytes, 0);

		kp_DescribeLogDirsRequest_DescribableLogDirTopic_init(&q);
		q.Topic = kp_str_from("ld");
		q.Partitions.count = 2;
		q.Partitions.items = parts;
		rq.Topics.count = 1;
		rq.Topics.items = &q;
		ROUND(DescribeLogDirs, br_handle_describe_log_dirs, KP_API_DESCRIBE_LOG_DIRS, v, &rq, &rs);
		ck_assert_int_eq(rs.Results.items[0].Topics.count, 1);
		ck_assert_int_eq(rs.Results.items[0].Topics.items[0].Partitions.count, 2);
		ck_assert_int_eq(rs.Results.items[0].Topics.items[0].Partitions.items[1].PartitionIndex, 2);
		ck_assert_int_ge(rs.Results.items[0].Topics.items[0].Partitions.items[1].PartitionSize, 0);
	}
}
END_TEST

START_TEST(truncated_request_is_refused_not_overrun)
{
	kp_buf b, r;
	kp_CreateTopicsRequest rq;
	kp_CreateTopicsRequest_CreatableTopic t;

	kp_CreateTopicsRequest_init(&rq);
	kp_CreateTopicsRequest_CreatableTopic_init(&t);
	t.Name = kp_str_from("cut");
	t.NumPartitions = 1;
	t.ReplicationFactor = 1;
	rq.Topics.count = 1;
	rq.Topics.items = &t;
	ENC(CreateTopicsRequest, 4, &rq, b);
	b.len -= 3;
	ck_assert_int_lt(call(br_handle_create_topics, KP_API_CREATE_TOPICS, 4, &b, &r), 0);
	ck_assert_ptr_null(br_topics_get(B.topics, "cut", 3));
	kp_buf_free(&b);
	kp_buf_free(&r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("topic_apis");
	TCase *tc = tcase_create("handlers");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, metadata_lists_every_topic_with_this_node_leading);
	tcase_add_test(tc, metadata_auto_creates_only_when_allowed);
	tcase_add_test(tc, metadata_v10_finds_topics_by_id);
	tcase_add_test(tc, create_topics_every_version_with_defaults_and_refusals);
	tcase_add_test(tc, create_topics_accepts_only_single_node_assignments);
	tcase_add_test(tc, delete_topics_by_name_and_by_id);
	tcase_add_test(tc, create_partitions_grows_each_version);
	tcase_add_test(tc, alter_then_describe_configs_every_version);
	tcase_add_test(tc, incremental_alter_configs_set_delete_append_subtract);
	tcase_add_test(tc, describe_cluster_names_this_node);
	tcase_add_test(tc, describe_log_dirs_reports_partition_sizes);
	tcase_add_test(tc, truncated_request_is_refused_not_overrun);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
