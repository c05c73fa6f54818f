/*
 * test_admin.c -- client/admin.c against a real rewind-broker on loopback
 * (broker_proc.c): CreateTopics with per-topic outcomes and the broker's
 * messages, validate-only, CreatePartitions, DescribeConfigs (sources,
 * synonyms, a broker resource, an unknown topic), IncrementalAlterConfigs
 * SET/DELETE/APPEND/SUBTRACT, DescribeLogDirs sizes, Metadata's replicas,
 * ISR and topic id, DeleteTopics; and a broker that is not there.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_proc.h"
#include "client/client.h"

static struct broker_proc *const broker = &broker_proc_shared;
static cl_client *cl;

/* A fresh broker (broker_proc.c's fixture) and a client per test. */
static void broker_up(void)
{
	char err[256];
	broker_proc_fixture_up();
	ck_assert_int_eq(cl_client_new(broker->bootstrap, NULL, &cl, err, sizeof err), 0);
}

static void broker_down(void)
{
	cl_client_free(cl);
	cl = NULL;
	broker_proc_fixture_down();
}

static const cl_config_entry *entry(const cl_config_resource *r, const char *name)
{
	for (size_t i = 0; i < r->n_entries; i++)
		if (strcmp(r->entries[i].name, name) == 0)
			return &r->entries[i];
	return NULL;
}

/* The topic's config `name` as the broker describes it (caller frees *cfg). */
static const cl_config_entry *topic_config(const char *topic, const char *name, cl_configs **cfg)
{
	cl_resource r = { CL_RESOURCE_TOPIC, topic };
	ck_assert_int_eq(cl_describe_configs(cl, &r, 1, true, cfg), 0);
	ck_assert_int_eq((*cfg)->resources[0].error, 0);
	return entry(&(*cfg)->resources[0], name);
}

START_TEST(create_topics_reports_each_topic_with_the_brokers_message)
{
	cl_config_kv kv[] = { { "cleanup.policy", "compact" } };
	cl_config_kv bad[] = { { "no.such.key", "1" } };
	cl_new_topic t[3] = {
		{ .name = "a", .partitions = 3, .replication_factor = 1, .configs = kv, .n_configs = 1 },
		{ .name = "b", .partitions = -1, .replication_factor = -1, .configs = bad, .n_configs = 1 },
		{ .name = "c", .partitions = 0, .replication_factor = 1 },
	};
	ck_assert_int_eq(cl_create_topics(cl, t, 3, false), 0);
	ck_assert_int_eq(t[0].error, 0);
	ck_assert_str_eq(t[0].message, "");
	static const uint8_t zero[16];
	ck_assert(memcmp(t[0].topic_id, zero, 16) != 0);
	ck_assert_int_eq(t[1].error, 40);    /* INVALID_CONFIG */
	ck_assert_ptr_nonnull(strstr(t[1].message, "no.such.key"));
	ck_assert_int_eq(t[2].error, 37);    /* INVALID_PARTITIONS */
	ck_assert_str_eq(cl_kafka_err_name(t[2].error), "INVALID_PARTITIONS");

	/* Again: TOPIC_ALREADY_EXISTS; validate-only creates nothing. */
	cl_new_topic again = { .name = "a", .partitions = 1, .replication_factor = 1 };
	ck_assert_int_eq(cl_create_topics(cl, &again, 1, false), 0);
	ck_assert_int_eq(again.error, 36);
	cl_new_topic dry = { .name = "dry", .partitions = 1, .replication_factor = 1 };
	ck_assert_int_eq(cl_create_topics(cl, &dry, 1, true), 0);
	ck_assert_int_eq(dry.error, 0);

	cl_metadata *md;
	const char *names[] = { "a", "dry" };
	ck_assert_int_eq(cl_metadata_get(cl, names, 2, &md), 0);
	const cl_topic_info *a = cl_metadata_topic(md, "a");
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->n_partitions, 3);
	ck_assert(a->has_id && memcmp(a->topic_id, t[0].topic_id, 16) == 0);
	for (size_t i = 0; i < a->n_partitions; i++) {
		ck_assert_uint_eq(a->partitions[i].n_replicas, 1);
		ck_assert_int_eq(a->partitions[i].replicas[0], a->partitions[i].leader);
		ck_assert_uint_eq(a->partitions[i].n_isr, 1);
	}
	ck_assert_int_eq(cl_metadata_topic(md, "dry")->error, 3);
	cl_metadata_free(md);
}
END_TEST

START_TEST(configs_show_sources_synonyms_and_incremental_changes)
{
	cl_new_topic t = { .name = "cfg", .partitions = 1, .replication_factor = 1 };
	cl_configs *cfg;
	const cl_config_entry *e;

	ck_assert_int_eq(cl_create_topics(cl, &t, 1, false), 0);
	ck_assert_int_eq(t.error, 0);
	/* retention.ms follows log.retention.hours, set for the broker. */
	e = topic_config("cfg", "retention.ms", &cfg);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->value, "36000000");
	ck_assert_int_eq(e->source, CL_SOURCE_STATIC_BROKER_CONFIG);
	ck_assert_uint_eq(e->n_synonyms, 2);
	ck_assert_int_eq(e->synonyms[0].source, CL_SOURCE_STATIC_BROKER_CONFIG);
	ck_assert_int_eq(e->synonyms[1].source, CL_SOURCE_DEFAULT_CONFIG);
	ck_assert_str_eq(cl_config_source_name(e->source), "STATIC_BROKER_CONFIG");
	e = entry(&cfg->resources[0], "max.message.bytes");
	ck_assert(e && e->source == CL_SOURCE_DEFAULT_CONFIG);
	cl_configs_free(cfg);

	cl_config_op ops[] = {
		{ "retention.ms", "1000", CL_ALTER_SET },
		{ "cleanup.policy", "compact", CL_ALTER_APPEND },
	};
	cl_alter_resource r = { .type = CL_RESOURCE_TOPIC, .name = "cfg", .ops = ops, .n_ops = 2 };
	ck_assert_int_eq(cl_alter_configs(cl, &r, 1, false), 0);
	ck_assert_msg(r.error == 0, "alter: %d %s", r.error, r.message);
	e = topic_config("cfg", "cleanup.policy", &cfg);
	ck_assert_str_eq(e->value, "compact,delete");   /* the broker's order */
	ck_assert_int_eq(e->source, CL_SOURCE_DYNAMIC_TOPIC_CONFIG);
	ck_assert_str_eq(entry(&cfg->resources[0], "retention.ms")->value, "1000");
	cl_configs_free(cfg);

	cl_config_op ops2[] = {
		{ "retention.ms", NULL, CL_ALTER_DELETE },
		{ "cleanup.policy", "delete", CL_ALTER_SUBTRACT },
	};
	cl_alter_resource r2 = { .type = CL_RESOURCE_TOPIC, .name = "cfg", .ops = ops2, .n_ops = 2 };
	ck_assert_int_eq(cl_alter_configs(cl, &r2, 1, false), 0);
	ck_assert_msg(r2.error == 0, "alter: %d %s", r2.error, r2.message);
	e = topic_config("cfg", "cleanup.policy", &cfg);
	ck_assert_str_eq(e->value, "compact");
	e = entry(&cfg->resources[0], "retention.ms");
	ck_assert_str_eq(e->value, "36000000");
	ck_assert_int_eq(e->source, CL_SOURCE_STATIC_BROKER_CONFIG);
	cl_configs_free(cfg);

	/* A bad value is refused with the broker's sentence; a broker
	 * resource cannot be altered (static configs). */
	cl_config_op bad[] = { { "retention.ms", "soon", CL_ALTER_SET } };
	cl_alter_resource r3 = { .type = CL_RESOURCE_TOPIC, .name = "cfg", .ops = bad, .n_ops = 1 };
	ck_assert_int_eq(cl_alter_configs(cl, &r3, 1, false), 0);
	ck_assert_int_eq(r3.error, 40);
	ck_assert_ptr_nonnull(strstr(r3.message, "soon"));
	cl_alter_resource r4 = { .type = CL_RESOURCE_BROKER, .name = "0", .ops = ops, .n_ops = 1 };
	ck_assert_int_eq(cl_alter_configs(cl, &r4, 1, false), 0);
	ck_assert_int_eq(r4.error, 40);

	/* The broker resource, and an unknown topic beside it. */
	cl_resource res[] = { { CL_RESOURCE_BROKER, "0" }, { CL_RESOURCE_TOPIC, "nope" } };
	ck_assert_int_eq(cl_describe_configs(cl, res, 2, false, &cfg), 0);
	ck_assert_int_eq(cfg->resources[0].error, 0);
	e = entry(&cfg->resources[0], "log.retention.ms");
	ck_assert(e && e->source == CL_SOURCE_STATIC_BROKER_CONFIG && e->read_only);
	e = entry(&cfg->resources[0], "message.max.bytes");
	ck_assert(e && e->source == CL_SOURCE_DEFAULT_CONFIG);
	ck_assert_int_eq(cfg->resources[1].error, 3);
	ck_assert_str_eq(cfg->resources[1].name, "nope");
	cl_configs_free(cfg);
}
END_TEST

START_TEST(partitions_grow_only_and_log_dirs_and_delete)
{
	cl_new_topic t = { .name = "grow", .partitions = 2, .replication_factor = 1 };
	ck_assert_int_eq(cl_create_topics(cl, &t, 1, false), 0);
	cl_topic_op g[] = { { .name = "grow", .partitions = 4 }, { .name = "nope", .partitions = 4 } };
	ck_assert_int_eq(cl_create_partitions(cl, g, 2, false), 0);
	ck_assert_int_eq(g[0].error, 0);
	ck_assert_int_eq(g[1].error, 3);
	cl_topic_op shrink = { .name = "grow", .partitions = 1 };
	ck_assert_int_eq(cl_create_partitions(cl, &shrink, 1, false), 0);
	ck_assert_int_eq(shrink.error, 37);
	ck_assert_ptr_nonnull(strstr(shrink.message, "4"));

	cl_log_dirs *ld;
	ck_assert_int_eq(cl_describe_log_dirs(cl, &ld), 0);
	size_t n = 0;
	for (size_t i = 0; i < ld->n_replicas; i++)
		if (strcmp(ld->replicas[i].topic, "grow") == 0) {
			ck_assert_int_eq(ld->replicas[i].partition, (int32_t)n);
			ck_assert_int_ge(ld->replicas[i].size, 0);
			ck_assert_ptr_nonnull(strstr(ld->replicas[i].log_dir, broker->dir));
			n++;
		}
	ck_assert_uint_eq(n, 4);
	cl_log_dirs_free(ld);

	cl_topic_op d[] = { { .name = "grow" }, { .name = "nope" } };
	ck_assert_int_eq(cl_delete_topics(cl, d, 2), 0);
	ck_assert_int_eq(d[0].error, 0);
	ck_assert_int_eq(d[1].error, 3);
	cl_metadata *md;
	const char *names[] = { "grow" };
	ck_assert_int_eq(cl_metadata_get(cl, names, 1, &md), 0);
	ck_assert_int_eq(cl_metadata_topic(md, "grow")->error, 3);
	cl_metadata_free(md);
}
END_TEST

START_TEST(no_broker_is_an_error_that_names_the_address)
{
	cl_client *c;
	char err[256];
	/* Port 1 on loopback: nothing listens there. */
	ck_assert_int_eq(cl_client_new("127.0.0.1:1", NULL, &c, err, sizeof err), 0);
	cl_new_topic t = { .name = "x", .partitions = 1, .replication_factor = 1 };
	ck_assert_int_eq(cl_create_topics(c, &t, 1, false), CL_ERR_NO_BROKER);
	ck_assert_ptr_nonnull(strstr(cl_client_errmsg(c), "127.0.0.1:1"));
	cl_log_dirs *ld = NULL;
	ck_assert_int_lt(cl_describe_log_dirs(c, &ld), 0);
	ck_assert_ptr_null(ld);
	cl_client_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("client_admin");
	TCase *tc = tcase_create("admin");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, broker_up, broker_down);
	tcase_add_test(tc, create_topics_reports_each_topic_with_the_brokers_message);
	tcase_add_test(tc, configs_show_sources_synonyms_and_incremental_changes);
	tcase_add_test(tc, partitions_grow_only_and_log_dirs_and_delete);
	suite_add_tcase(s, tc);
	TCase *tn = tcase_create("no_broker");
	tcase_add_test(tn, no_broker_is_an_error_that_names_the_address);
	suite_add_tcase(s, tn);
	return s;
}

int main(void)
{
	broker_proc_shared.sets[0] = "num.partitions=2";
	broker_proc_shared.sets[1] = "log.retention.hours=10";
	SRunner *sr = srunner_create(suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
