/*
 * test_topics.c -- the topic registry (broker/topics.c): create, persist,
 * reopen with ids and configs, alter configs applied to the logs, delete
 * (crash-safe rename, interrupted deletes finished at start), partition
 * growth, name validation and lookups racing create/delete.
 *
 * Each test builds a broker context on a fresh temporary log dir with a
 * real storage store (pwrite writer, so the test does not depend on
 * io_uring being available) and opens the registry as main.c does.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/br_int.h"

static char root[256];
static br_broker B;
static char errbuf[512];

static void quiet_log(void *arg, enum st_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static void broker_init(int num_partitions)
{
	st_store_options so;
	char set[300];

	memset(&B, 0, sizeof(B));
	strcpy(root, "/tmp/rewind-topics-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	br_config_init(&B.cfg);
	snprintf(set, sizeof(set), "log.dirs=%s", root);
	ck_assert_int_eq(br_config_set(&B.cfg, set, errbuf, sizeof(errbuf)), 0);
	snprintf(set, sizeof(set), "num.partitions=%d", num_partitions);
	ck_assert_int_eq(br_config_set(&B.cfg, set, errbuf, sizeof(errbuf)), 0);
	st_store_options_default(&so);
	so.use_io_uring = false;
	so.log = quiet_log;
	ck_assert_int_eq(st_store_open(&so, &B.store), 0);
}

static void topics_open(void)
{
	ck_assert_int_eq(br_topics_open(&B, &B.topics), 0);
}

static void topics_reopen(void)
{
	br_topics_close(B.topics);
	B.topics = NULL;
	topics_open();
}

static void broker_fini(void)
{
	char cmd[300];

	if (B.topics)
		br_topics_close(B.topics);
	st_store_close(B.store);
	br_config_free(&B.cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

/* Whether root/<a><b> exists. */
static bool exists2(const char *a, const char *b)
{
	char path[2048];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s%s", root, a, b);
	return stat(path, &st) == 0;
}

/* Number of entries in root whose name ends with suffix. */
static int count_suffix(const char *suffix)
{
	DIR *d = opendir(root);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name), s = strlen(suffix);
		if (l >= s && strcmp(de->d_name + l - s, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static int16_t create(const char *name, int32_t n, const char *k, const char *v)
{
	const char *keys[1] = { k }, *vals[1] = { v };
	return br_topics_create(B.topics, name, strlen(name), n, keys, vals, k ? 1 : 0, false,
				errbuf, sizeof(errbuf));
}

static br_topic *get(const char *name)
{
	return br_topics_get(B.topics, name, strlen(name));
}

START_TEST(uuid_prints_as_kafka_base64url_and_parses_back)
{
	uint8_t id[16], back[16];
	char s[23];

	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(i * 17 + 3);
	br_uuid_to_str(id, s);
	ck_assert_int_eq(strlen(s), 22);
	ck_assert_int_eq(br_uuid_parse(s, 22, back), 0);
	ck_assert_mem_eq(id, back, 16);
	/* Kafka prints the all-zero id as AAAAAAAAAAAAAAAAAAAAAA. */
	memset(id, 0, 16);
	br_uuid_to_str(id, s);
	ck_assert_str_eq(s, "AAAAAAAAAAAAAAAAAAAAAA");
	ck_assert_int_eq(br_uuid_parse("AAAAAAAAAAAAAAAAAAAAA", 21, back), -EINVAL);
	ck_assert_int_eq(br_uuid_parse("AAAAAAAAAAAAAAAAAAAAA!", 22, back), -EINVAL);
}
END_TEST

START_TEST(create_persists_id_partitions_and_configs_across_reopen)
{
	br_topic *t;
	uint8_t id[16];
	char s[23], path[512], buf[128];
	FILE *f;

	broker_init(1);
	topics_open();
	ck_assert_int_eq(create("events", 3, "retention.ms", "1000"), KE_NONE);
	ck_assert_ptr_nonnull(t = get("events"));
	ck_assert_int_eq(t->n_parts, 3);
	ck_assert_int_eq(t->cfg.log.retention_ms, 1000);
	ck_assert_ptr_nonnull(br_topic_part(t, 2));
	ck_assert_ptr_null(br_topic_part(t, 3));
	memcpy(id, t->id, 16);
	br_topic_put(t);
	ck_assert(exists2("events-0", "") && exists2("events-2", ""));
	br_uuid_to_str(id, s);
	snprintf(path, sizeof(path), ".topics/%s", s);
	ck_assert(exists2(path, ".properties") && !exists2(".topics/events", ".properties"));
	ck_assert(exists2("meta.properties", ""));

	/* Kafka's partition.metadata, byte for byte. */
	br_uuid_to_str(id, s);
	snprintf(path, sizeof(path), "%s/events-1/partition.metadata", root);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	memset(buf, 0, sizeof(buf));
	ck_assert_int_gt(fread(buf, 1, sizeof(buf) - 1, f), 0);
	fclose(f);
	snprintf(path, sizeof(path), "version: 0\ntopic_id: %s\n", s);
	ck_assert_str_eq(buf, path);

	{
		uint8_t cluster[16];
		memcpy(cluster, B.cluster_id, 16);
		topics_reopen();
		ck_assert_mem_eq(cluster, B.cluster_id, 16);
	}
	ck_assert_ptr_nonnull(t = get("events"));
	ck_assert_mem_eq(t->id, id, 16);
	ck_assert_int_eq(t->n_parts, 3);
	ck_assert_int_eq(t->cfg.log.retention_ms, 1000);
	br_topic_put(t);
	ck_assert_ptr_nonnull(t = br_topics_get_by_id(B.topics, id));
	ck_assert_str_eq(t->name, "events");
	br_topic_put(t);
	ck_assert_int_eq(br_topics_partition_count(B.topics), 3);
	broker_fini();
}
END_TEST

START_TEST(create_defaults_partitions_and_refuses_duplicates)
{
	br_topic *t;

	broker_init(4);
	topics_open();
	ck_assert_int_eq(create("a", -1, NULL, NULL), KE_NONE);
	ck_assert_ptr_nonnull(t = get("a"));
	ck_assert_int_eq(t->n_parts, 4);
	br_topic_put(t);
	ck_assert_int_eq(create("a", 1, NULL, NULL), KE_TOPIC_ALREADY_EXISTS);
	ck_assert_int_eq(create("b", 0, NULL, NULL), KE_INVALID_PARTITIONS);
	ck_assert_int_eq(create("b", -2, NULL, NULL), KE_INVALID_PARTITIONS);
	/* validate_only creates nothing. */
	ck_assert_int_eq(br_topics_create(B.topics, "c", 1, 2, NULL, NULL, 0, true, errbuf,
					  sizeof(errbuf)), KE_NONE);
	ck_assert_ptr_null(get("c"));
	ck_assert(!exists2("c", "-0"));
	broker_fini();
}
END_TEST

START_TEST(names_are_validated_like_kafka)
{
	char longname[260];

	broker_init(1);
	topics_open();
	memset(longname, 'x', 250);
	longname[250] = '\0';
	ck_assert_int_eq(create("", 1, NULL, NULL), KE_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(create(".", 1, NULL, NULL), KE_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(create("..", 1, NULL, NULL), KE_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(create("a b", 1, NULL, NULL), KE_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(create("a/b", 1, NULL, NULL), KE_INVALID_TOPIC_EXCEPTION);
	ck_assert_int_eq(create(longname, 1, NULL, NULL), KE_INVALID_TOPIC_EXCEPTION);
	longname[249] = '\0';
	ck_assert_int_eq(create(longname, 1, NULL, NULL), KE_NONE);
	ck_assert_int_eq(create("metrics.v1", 1, NULL, NULL), KE_NONE);
	/* '.' and '_' collide in metric names: Kafka refuses the second. */
	ck_assert_int_eq(create("metrics_v1", 1, NULL, NULL), KE_INVALID_TOPIC_EXCEPTION);
	ck_assert_ptr_nonnull(strstr(errbuf, "collides"));
	ck_assert_int_eq(create("Ok-._9", 1, NULL, NULL), KE_NONE);
	broker_fini();
}
END_TEST

START_TEST(unknown_config_keys_and_bad_values_are_refused)
{
	broker_init(1);
	topics_open();
	ck_assert_int_eq(create("t", 1, "retention.msec", "1"), KE_INVALID_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "retention.msec"));
	ck_assert_int_eq(create("t", 1, "retention.ms", "soon"), KE_INVALID_CONFIG);
	ck_assert_int_eq(create("t", 1, "cleanup.policy", "forever"), KE_INVALID_CONFIG);
	ck_assert_int_eq(create("t", 1, "compression.type", "brotli"), KE_INVALID_CONFIG);
	ck_assert_int_eq(create("t", 1, "message.timestamp.type", "Now"), KE_INVALID_CONFIG);
	ck_assert_int_eq(create("t", 1, "segment.bytes", "10"), KE_INVALID_CONFIG);
	ck_assert_ptr_null(get("t"));
	ck_assert_int_eq(create("t", 1, "compression.type", "zstd"), KE_NONE);
	broker_fini();
}
END_TEST

struct done { atomic_int n; };

static void append_done(st_append *a, int err)
{
	struct done *d = a->arg;
	ck_assert_int_eq(err, 0);
	atomic_fetch_add(&d->n, 1);
}

/* Appends one ~300-byte batch and waits (with a deadline) for its sync. The
 * record has a key: a compacted log refuses keyless ones. */
static void append_one(st_log *log)
{
	kp_batch_builder bb;
	kp_buf out;
	st_append a;
	struct done d;
	char value[300];
	struct timespec ts = { 0, 1000000 };

	memset(value, 'v', sizeof(value));
	kp_buf_init(&out);
	kp_batch_builder_init(&bb, KP_CODEC_NONE, 0);
	ck_assert_int_eq(kp_batch_builder_add(&bb, 1000, (const uint8_t *)"k", 1, value, sizeof(value), NULL, 0), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&bb, &out), 0);
	kp_batch_builder_free(&bb);
	memset(&a, 0, sizeof(a));
	atomic_init(&d.n, 0);
	a.data = out.data;
	a.len = out.len;
	a.leader_epoch = 0;
	a.cb = append_done;
	a.arg = &d;
	ck_assert_int_eq(st_log_append(log, &a, 2000), 0);
	for (int i = 0; i < 10000 && atomic_load(&d.n) == 0; i++)
		nanosleep(&ts, NULL);
	ck_assert_int_eq(atomic_load(&d.n), 1);
	kp_buf_free(&out);
}

START_TEST(alter_configs_apply_to_open_logs_and_persist)
{
	br_topic *t;
	st_log_stats st;
	br_config_entry e[BR_TOPIC_CONFIG_KEYS];
	br_config_op set[] = {
		{ "segment.bytes", "400", BR_CONFIG_SET },
		{ "cleanup.policy", "compact", BR_CONFIG_APPEND },
	};
	br_config_op bad[] = {
		{ "retention.ms", "5", BR_CONFIG_SET },
		{ "no.such.key", "1", BR_CONFIG_SET },
	};
	br_config_op del[] = { { "segment.bytes", NULL, BR_CONFIG_DELETE } };
	br_config_op sub[] = { { "cleanup.policy", "delete", BR_CONFIG_SUBTRACT } };
	br_config_op notlist[] = { { "retention.ms", "5", BR_CONFIG_APPEND } };

	broker_init(1);
	topics_open();
	ck_assert_int_eq(create("t", 1, NULL, NULL), KE_NONE);
	ck_assert_ptr_nonnull(t = get("t"));
	ck_assert_int_eq(br_topics_alter_configs(B.topics, t, set, 2, true, false, errbuf,
						 sizeof(errbuf)), KE_NONE);
	ck_assert_int_eq(t->cfg.log.segment_bytes, 400);
	ck_assert(t->cfg.compact && t->cfg.delete_policy);
	/* The open log rolls at the new size: three ~370-byte batches, three segments. */
	append_one(br_topic_part(t, 0)->log);
	append_one(br_topic_part(t, 0)->log);
	append_one(br_topic_part(t, 0)->log);
	st_log_get_stats(br_topic_part(t, 0)->log, &st);
	ck_assert_int_ge(st.segments, 3);

	/* All or nothing: one unknown key changes nothing. */
	ck_assert_int_eq(br_topics_alter_configs(B.topics, t, bad, 2, true, false, errbuf,
						 sizeof(errbuf)), KE_INVALID_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "no.such.key"));
	ck_assert_int_ne(t->cfg.log.retention_ms, 5);
	ck_assert_int_eq(br_topics_alter_configs(B.topics, t, notlist, 1, true, false, errbuf,
						 sizeof(errbuf)), KE_INVALID_CONFIG);

	br_topic_configs(B.topics, t, e);
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
		if (strcmp(e[i].name, "segment.bytes") == 0) {
			ck_assert(e[i].is_override);
			ck_assert_str_eq(e[i].value, "400");
			ck_assert_str_eq(e[i].synonym, "log.segment.bytes");
			ck_assert_str_eq(e[i].broker_value, "1073741824");
		}
		if (strcmp(e[i].name, "retention.ms") == 0)
			ck_assert(!e[i].is_override);
	}
	br_topic_put(t);

	topics_reopen();
	ck_assert_ptr_nonnull(t = get("t"));
	ck_assert_int_eq(t->cfg.log.segment_bytes, 400);
	ck_assert(t->cfg.compact && t->cfg.delete_policy);
	ck_assert_int_eq(br_topics_alter_configs(B.topics, t, del, 1, true, false, errbuf,
						 sizeof(errbuf)), KE_NONE);
	ck_assert_int_eq(br_topics_alter_configs(B.topics, t, sub, 1, true, false, errbuf,
						 sizeof(errbuf)), KE_NONE);
	ck_assert_int_eq(t->cfg.log.segment_bytes, 1073741824);
	ck_assert(t->cfg.compact && !t->cfg.delete_policy);
	/* AlterConfigs (not incremental) replaces the whole set. */
	ck_assert_int_eq(br_topics_alter_configs(B.topics, t, bad, 1, false, false, errbuf,
						 sizeof(errbuf)), KE_NONE);
	ck_assert_int_eq(t->cfg.log.retention_ms, 5);
	ck_assert(!t->cfg.compact && t->cfg.delete_policy);
	br_topic_put(t);
	broker_fini();
}
END_TEST

/* The deprecated message.timestamp.difference.max.ms (topic) and
 * log.message.timestamp.difference.max.ms (broker) give the window on each
 * side whose own key is left at its default, as in Kafka 3.6-3.9;
 * DescribeConfigs shows the keys as set. */
START_TEST(timestamp_difference_fills_the_sides_left_unset)
{
	br_topic *t;
	br_config_entry e[BR_TOPIC_CONFIG_KEYS];
	br_config_op drop[] = { { "message.timestamp.difference.max.ms", NULL, BR_CONFIG_DELETE } };

	broker_init(1);
	ck_assert_int_eq(br_config_set(&B.cfg, "log.message.timestamp.difference.max.ms=60000",
				       errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(br_config_set(&B.cfg, "log.message.timestamp.after.max.ms=5000",
				       errbuf, sizeof(errbuf)), 0);
	topics_open();
	ck_assert_int_eq(create("plain", 1, NULL, NULL), KE_NONE);
	ck_assert_int_eq(create("diff", 1, "message.timestamp.difference.max.ms", "1000"), KE_NONE);
	ck_assert_int_eq(create("before", 1, "message.timestamp.before.max.ms", "7"), KE_NONE);
	ck_assert_int_eq(create("neg", 1, "message.timestamp.difference.max.ms", "-1"),
			 KE_INVALID_CONFIG);

	for (int pass = 0; pass < 2; pass++) {
		ck_assert_ptr_nonnull(t = get("plain"));
		ck_assert_int_eq(t->cfg.log.ts_before_max_ms, 60000);
		ck_assert_int_eq(t->cfg.log.ts_after_max_ms, 5000);
		br_topic_configs(B.topics, t, e);
		for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
			if (strcmp(e[i].name, "message.timestamp.before.max.ms") == 0)
				ck_assert_str_eq(e[i].value, "9223372036854775807");
			if (strcmp(e[i].name, "message.timestamp.difference.max.ms") == 0) {
				ck_assert(!e[i].is_override);
				ck_assert_str_eq(e[i].value, "60000");
				ck_assert_str_eq(e[i].synonym, "log.message.timestamp.difference.max.ms");
			}
		}
		br_topic_put(t);
		ck_assert_ptr_nonnull(t = get("diff"));
		ck_assert_int_eq(t->cfg.log.ts_before_max_ms, 1000);
		ck_assert_int_eq(t->cfg.log.ts_after_max_ms, 5000);
		br_topic_put(t);
		ck_assert_ptr_nonnull(t = get("before"));
		ck_assert_int_eq(t->cfg.log.ts_before_max_ms, 7);
		ck_assert_int_eq(t->cfg.log.ts_after_max_ms, 5000);
		br_topic_put(t);
		topics_reopen();
	}
	ck_assert_ptr_nonnull(t = get("diff"));
	ck_assert_int_eq(br_topics_alter_configs(B.topics, t, drop, 1, true, false, errbuf,
						 sizeof(errbuf)), KE_NONE);
	ck_assert_int_eq(t->cfg.log.ts_before_max_ms, 60000);
	br_topic_put(t);
	broker_fini();
}
END_TEST

START_TEST(delete_renames_then_removes_when_the_last_reference_goes)
{
	br_topic *t, *held;

	broker_init(1);
	topics_open();
	ck_assert_int_eq(create("gone", 2, NULL, NULL), KE_NONE);
	ck_assert_ptr_nonnull(held = get("gone"));
	ck_assert_int_eq(br_topics_delete(B.topics, held, errbuf, sizeof(errbuf)), KE_NONE);
	/* Gone from lookups at once; the data moved aside, not yet removed. */
	ck_assert_ptr_null(get("gone"));
	ck_assert_ptr_null(br_topics_get_by_id(B.topics, held->id));
	ck_assert(!exists2("gone", "-0"));
	ck_assert_int_eq(count_suffix("-delete"), 2);
	{
		char s[23];
		char p2[64];
		br_uuid_to_str(held->id, s);
		snprintf(p2, sizeof(p2), ".topics/%s", s);
		ck_assert(!exists2(p2, ".properties"));
	}
	ck_assert_int_eq(count_suffix(".delete"), 0);
	ck_assert_int_eq(br_topics_delete(B.topics, held, errbuf, sizeof(errbuf)),
			 KE_UNKNOWN_TOPIC_OR_PARTITION);
	/* The name is free again while the old logs are still open. */
	ck_assert_int_eq(create("gone", 1, NULL, NULL), KE_NONE);
	br_topic_put(held);
	ck_assert_int_eq(count_suffix("-delete"), 0);
	ck_assert_ptr_nonnull(t = get("gone"));
	ck_assert_int_eq(t->n_parts, 1);
	br_topic_put(t);
	topics_reopen();
	ck_assert_ptr_nonnull(t = get("gone"));
	ck_assert_int_eq(t->n_parts, 1);
	br_topic_put(t);
	broker_fini();
}
END_TEST

START_TEST(interrupted_delete_is_finished_at_start_not_reopened)
{
	br_topic *t;
	char s[23], path[512], text[600];
	FILE *f;

	broker_init(1);
	topics_open();
	ck_assert_int_eq(create("half", 3, NULL, NULL), KE_NONE);
	ck_assert_int_eq(create("kept", 1, NULL, NULL), KE_NONE);
	ck_assert_ptr_nonnull(t = get("half"));
	br_uuid_to_str(t->id, s);
	br_topic_put(t);
	br_topics_close(B.topics);
	B.topics = NULL;

	/* A crash after step (1), the marker, and one rename of step (3). */
	snprintf(path, sizeof(path), "%s/.topics/%s.delete", root, s);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	snprintf(text, sizeof(text), "topic=half\ntopic.id=%s\n", s);
	fputs(text, f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/half-0", root);
	snprintf(text, sizeof(text), "%s/half-0.0123abcd-delete", root);
	ck_assert_int_eq(rename(path, text), 0);

	topics_open();
	ck_assert_ptr_null(get("half"));
	ck_assert(!exists2("half", "-1") && !exists2("half", "-2"));
	ck_assert_int_eq(count_suffix("-delete"), 0);
	ck_assert(!exists2(".topics/", s));
	{
		char p2[64];
		snprintf(p2, sizeof(p2), "%s.properties", s);
		ck_assert(!exists2(".topics/", p2));
	}
	ck_assert_ptr_nonnull(t = get("kept"));
	br_topic_put(t);
	broker_fini();
}
END_TEST

START_TEST(create_partitions_grows_and_persists)
{
	br_topic *t;

	broker_init(1);
	topics_open();
	ck_assert_int_eq(create("g", 1, NULL, NULL), KE_NONE);
	ck_assert_ptr_nonnull(t = get("g"));
	ck_assert_int_eq(br_topics_create_partitions(B.topics, t, 1, false, errbuf, sizeof(errbuf)),
			 KE_INVALID_PARTITIONS);
	ck_assert_int_eq(br_topics_create_partitions(B.topics, t, 3, true, errbuf, sizeof(errbuf)),
			 KE_NONE);
	ck_assert_int_eq(t->n_parts, 1);
	ck_assert_int_eq(br_topics_create_partitions(B.topics, t, 3, false, errbuf, sizeof(errbuf)),
			 KE_NONE);
	ck_assert_int_eq(t->n_parts, 3);
	ck_assert_ptr_nonnull(br_topic_part(t, 2));
	ck_assert_int_eq(br_topic_part(t, 2)->index, 2);
	ck_assert_int_eq(br_topics_create_partitions(B.topics, t, 2, false, errbuf, sizeof(errbuf)),
			 KE_INVALID_PARTITIONS);
	br_topic_put(t);
	topics_reopen();
	ck_assert_ptr_nonnull(t = get("g"));
	ck_assert_int_eq(t->n_parts, 3);
	br_topic_put(t);
	broker_fini();
}
END_TEST

START_TEST(start_ignores_stray_dirs_and_adopts_partition_dirs)
{
	char path[512];
	br_topic *t;

	broker_init(1);
	snprintf(path, sizeof(path), "%s/stray", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/legacy-0", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/legacy-2", root);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	topics_open();
	/* A gap is filled: partitions 0..2. */
	ck_assert_ptr_nonnull(t = get("legacy"));
	ck_assert_int_eq(t->n_parts, 3);
	br_topic_put(t);
	ck_assert(exists2("stray", ""));
	ck_assert(exists2("legacy", "-1/partition.metadata"));
	broker_fini();
}
END_TEST

static atomic_int stop_flag;

static void *lookup_loop(void *arg)
{
	long hits = 0;

	(void)arg;
	while (!atomic_load(&stop_flag)) {
		br_topic *t = get("churn");
		if (t) {
			for (int32_t i = 0; i < 8; i++) {
				br_part *p = br_topic_part(t, i);
				if (p)
					ck_assert_int_eq(p->index, i);
			}
			hits++;
			br_topic_put(t);
		}
		t = get("steady");
		ck_assert_ptr_nonnull(t);
		ck_assert_ptr_nonnull(br_topic_part(t, 0));
		br_topic_put(t);
	}
	return (void *)hits;
}

START_TEST(lookups_race_create_grow_and_delete_safely)
{
	pthread_t th[4];

	broker_init(1);
	topics_open();
	ck_assert_int_eq(create("steady", 1, NULL, NULL), KE_NONE);
	atomic_store(&stop_flag, 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, lookup_loop, NULL), 0);
	for (int round = 0; round < 15; round++) {
		br_topic *t;
		ck_assert_int_eq(create("churn", 2, NULL, NULL), KE_NONE);
		ck_assert_ptr_nonnull(t = get("churn"));
		ck_assert_int_eq(br_topics_create_partitions(B.topics, t, 4, false, errbuf,
							     sizeof(errbuf)), KE_NONE);
		ck_assert_int_eq(br_topics_delete(B.topics, t, errbuf, sizeof(errbuf)), KE_NONE);
		br_topic_put(t);
	}
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_ptr_null(get("churn"));
	broker_fini();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("topics");
	TCase *tc = tcase_create("registry");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, uuid_prints_as_kafka_base64url_and_parses_back);
	tcase_add_test(tc, create_persists_id_partitions_and_configs_across_reopen);
	tcase_add_test(tc, create_defaults_partitions_and_refuses_duplicates);
	tcase_add_test(tc, names_are_validated_like_kafka);
	tcase_add_test(tc, unknown_config_keys_and_bad_values_are_refused);
	tcase_add_test(tc, alter_configs_apply_to_open_logs_and_persist);
	tcase_add_test(tc, timestamp_difference_fills_the_sides_left_unset);
	tcase_add_test(tc, delete_renames_then_removes_when_the_last_reference_goes);
	tcase_add_test(tc, interrupted_delete_is_finished_at_start_not_reopened);
	tcase_add_test(tc, create_partitions_grows_and_persists);
	tcase_add_test(tc, start_ignores_stray_dirs_and_adopts_partition_dirs);
	tcase_add_test(tc, lookups_race_create_grow_and_delete_safely);
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
