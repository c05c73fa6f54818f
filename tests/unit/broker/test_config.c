/*
 * test_config.c -- broker configuration: files, overrides, refusals.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/br_int.h"
#include "broker/broker.h"
#include "proto/proto.h"

static char errbuf[1024];

/* Writes text to a fresh temporary file; returns its path (static buffer). */
static const char *write_temp(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	strcpy(path, "/tmp/rewind-config-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(defaults_are_kafkas_except_durable_flush)
{
	br_config c;
	br_config_init(&c);
	ck_assert_int_eq(c.n_log_dirs, 1);
	ck_assert_str_eq(c.log_dirs[0], "data");
	ck_assert_int_eq(c.log.segment_bytes, 1073741824);
	ck_assert_int_eq(c.log.retention_ms, 7LL * 24 * 3600 * 1000);
	ck_assert_int_eq(c.log.retention_bytes, -1);
	ck_assert_int_eq(c.log.index_interval_bytes, 4096);
	ck_assert_int_eq(c.log.flush_messages, 1);
	br_config_free(&c);
}
END_TEST

START_TEST(file_with_comments_and_spaces_is_applied)
{
	br_config c;
	const char *p = write_temp("# comment\n! also a comment\n\n"
				   "  log.dirs = /a , /b  \n"
				   "log.segment.bytes=1048576\r\n"
				   "log.message.timestamp.type=LogAppendTime\n"
				   "log.io.uring.enable=false\n");
	br_config_init(&c);
	ck_assert_int_eq(br_config_load(&c, p, errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(c.n_log_dirs, 2);
	ck_assert_str_eq(c.log_dirs[0], "/a");
	ck_assert_str_eq(c.log_dirs[1], "/b");
	ck_assert_int_eq(c.log.segment_bytes, 1048576);
	ck_assert(c.log.log_append_time);
	ck_assert(!c.io_uring);
	br_config_free(&c);
	unlink(p);
}
END_TEST

START_TEST(unknown_key_is_refused_by_name_with_line)
{
	br_config c;
	const char *p = write_temp("log.dirs=x\nlog.segmnet.bytes=5\n");
	br_config_init(&c);
	ck_assert_int_eq(br_config_load(&c, p, errbuf, sizeof(errbuf)), BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "log.segmnet.bytes"));
	ck_assert_ptr_nonnull(strstr(errbuf, ":2:"));
	br_config_free(&c);
	unlink(p);
}
END_TEST

START_TEST(malformed_values_are_refused_by_name)
{
	static const char *bad[] = {
		"log.segment.bytes=12abc", "log.segment.bytes=", "log.segment.bytes=10",
		"log.segment.bytes=4294967296", "log.retention.ms=-2",
		"log.io.uring.enable=yes", "log.message.timestamp.type=Now",
		"log.retention.hours=99999999999999999999", "no-equals-sign", "log.dirs= , ",
		"compression.type=brotli", "log.cleanup.policy=keep", "log.cleanup.policy=",
		"default.replication.factor=0", "default.replication.factor=40000",
		"num.partitions=0", "socket.request.max.bytes=12",
	};
	br_config c;
	br_config_init(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char key[64];
		size_t n = strcspn(bad[i], "=");
		snprintf(key, sizeof(key), "%.*s", (int)n, bad[i]);
		errbuf[0] = '\0';
		ck_assert_msg(br_config_set(&c, bad[i], errbuf, sizeof(errbuf)) == BR_ERR_CONFIG,
			      "accepted %s", bad[i]);
		ck_assert_msg(strstr(errbuf, key) != NULL, "error for %s does not name it: %s",
			      bad[i], errbuf);
	}
	/* Nothing refused changed the defaults. */
	ck_assert_int_eq(c.log.segment_bytes, 1073741824);
	ck_assert_str_eq(c.log_dirs[0], "data");
	br_config_free(&c);
}
END_TEST

START_TEST(finer_time_unit_wins_in_any_order)
{
	br_config c;
	br_config_init(&c);
	ck_assert_int_eq(br_config_set(&c, "log.retention.ms=5000", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(br_config_set(&c, "log.retention.hours=1", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(c.log.retention_ms, 5000);
	ck_assert_int_eq(br_config_set(&c, "log.roll.hours=2", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(c.log.segment_ms, 2 * 3600000LL);
	ck_assert_int_eq(br_config_set(&c, "log.retention.minutes=-1", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(c.log.retention_ms, 5000);
	br_config_free(&c);
}
END_TEST

START_TEST(assigned_keys_are_told_from_defaults)
{
	br_config c;
	char v[64];
	br_config_init(&c);
	ck_assert(!br_config_is_set(&c, "log.retention.ms"));
	ck_assert(!br_config_is_set(&c, "node.id"));
	/* A synonym in another unit marks the canonical key it writes. */
	ck_assert_int_eq(br_config_set(&c, "log.retention.hours=100", errbuf, sizeof(errbuf)), 0);
	ck_assert(br_config_is_set(&c, "log.retention.ms"));
	ck_assert(br_config_is_set(&c, "log.retention.hours"));
	ck_assert(!br_config_is_set(&c, "log.segment.bytes"));
	/* log.dirs shares offset 0 with node.id: each is its own key. */
	ck_assert_int_eq(br_config_set(&c, "log.dir=/tmp/x", errbuf, sizeof(errbuf)), 0);
	ck_assert(br_config_is_set(&c, "log.dirs"));
	ck_assert(!br_config_is_set(&c, "node.id"));
	/* A refused assignment marks nothing. */
	ck_assert_int_eq(br_config_set(&c, "num.partitions=zero", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert(!br_config_is_set(&c, "num.partitions"));
	ck_assert(!br_config_is_set(&c, "no.such.key"));
	/* Defaults come from a fresh config, whatever c holds. */
	ck_assert_int_eq(br_config_default("log.retention.ms", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "604800000");
	ck_assert_int_eq(br_config_default("log.retention.hours", v, sizeof(v)), -1);
	br_config_free(&c);
}
END_TEST

START_TEST(dump_round_trips_through_load)
{
	br_config a, b;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	const char *p;

	br_config_init(&a);
	ck_assert_int_eq(br_config_set(&a, "log.dirs=/x,/y", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(br_config_set(&a, "log.retention.bytes=12345", errbuf, sizeof(errbuf)), 0);
	mem = open_memstream(&text, &len);
	br_config_dump(&a, mem);
	fclose(mem);
	p = write_temp(text);
	br_config_init(&b);
	ck_assert_int_eq(br_config_load(&b, p, errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(b.n_log_dirs, 2);
	ck_assert_str_eq(b.log_dirs[1], "/y");
	ck_assert_int_eq(b.log.retention_bytes, 12345);
	ck_assert_int_eq(b.log.segment_ms, a.log.segment_ms);
	br_config_free(&a);
	br_config_free(&b);
	free(text);
	unlink(p);
}
END_TEST

START_TEST(network_and_topic_keys_are_applied)
{
	br_config c;
	br_config_init(&c);
	ck_assert_str_eq(c.listeners, "PLAINTEXT://127.0.0.1:9092");
	ck_assert_int_eq(c.compression_type, -1);
	ck_assert(c.cleanup_delete && !c.cleanup_compact);
	ck_assert_int_eq(br_config_set(&c, "listeners=PLAINTEXT://127.0.0.1:19092", errbuf, sizeof(errbuf)), 0);
	ck_assert_str_eq(c.listeners, "PLAINTEXT://127.0.0.1:19092");
	ck_assert_int_eq(br_config_set(&c, "compression.type=zstd", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(c.compression_type, KP_CODEC_ZSTD);
	ck_assert_int_eq(br_config_set(&c, "compression.type=uncompressed", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(c.compression_type, KP_CODEC_NONE);
	ck_assert_int_eq(br_config_set(&c, "log.cleanup.policy=compact, delete", errbuf, sizeof(errbuf)), 0);
	ck_assert(c.cleanup_delete && c.cleanup_compact);
	ck_assert_int_eq(br_config_set(&c, "default.replication.factor=3", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(c.default_replication_factor, 3);
	ck_assert_int_eq(br_config_set(&c, "auto.create.topics.enable=false", errbuf, sizeof(errbuf)), 0);
	ck_assert(!c.auto_create_topics_enable);
	br_config_free(&c);
}
END_TEST

/* br_config_inert_set's callback: appends "name;" to a buffer. */
static void collect_inert(const char *name, const char *why, void *arg)
{
	char *buf = arg;
	ck_assert_ptr_nonnull(why);
	ck_assert_int_gt((int)strlen(why), 0);
	strcat(buf, name);
	strcat(buf, ";");
}

/* Kafka 3's shipped server.properties (without its zookeeper.* lines)
 * loads: the keys rewind implements take effect, those that change nothing
 * here are reported with why, and zookeeper.* is refused with the reason
 * rather than as unknown. */
START_TEST(kafkas_own_server_properties_load)
{
	br_config c;
	char path[4096], inert[512] = "";
	const char *root = getenv("REWIND_SOURCE_ROOT");

	snprintf(path, sizeof(path), "%s/tests/fixtures/kafka-3-server.properties", root ? root : "..");
	br_config_init(&c);
	ck_assert_int_eq(c.num_recovery_threads_per_data_dir, 2);
	ck_assert_int_eq(c.socket_send_buffer_bytes, -1);
	ck_assert_int_eq(c.socket_receive_buffer_bytes, -1);
	ck_assert_int_eq(c.offsets_topic_replication_factor, 1);
	br_config_inert_set(&c, collect_inert, inert);
	ck_assert_str_eq(inert, "");
	ck_assert_msg(br_config_load(&c, path, errbuf, sizeof(errbuf)) == 0, "%s", errbuf);
	ck_assert_int_eq(c.num_network_threads, 3);
	ck_assert_int_eq(c.num_recovery_threads_per_data_dir, 1);
	ck_assert_int_eq(c.socket_send_buffer_bytes, 102400);
	ck_assert_int_eq(c.socket_receive_buffer_bytes, 102400);
	ck_assert_int_eq(c.log.retention_ms, 168LL * 3600 * 1000);
	ck_assert_int_eq(c.group_initial_rebalance_delay_ms, 0);
	ck_assert(br_config_is_set(&c, "num.recovery.threads.per.data.dir"));
	br_config_inert_set(&c, collect_inert, inert);
	ck_assert_str_eq(inert, "num.io.threads;transaction.state.log.replication.factor;"
				"transaction.state.log.min.isr;");

	/* What rewind cannot do is refused with the reason. */
	ck_assert_int_eq(br_config_set(&c, "zookeeper.connect=localhost:2181", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "zookeeper.connect: not supported: "));
	ck_assert_ptr_nonnull(strstr(errbuf, "clusters over ZooKeeper are not built yet"));
	ck_assert_int_eq(br_config_set(&c, "zookeeper.connection.timeout.ms=18000", errbuf,
				       sizeof(errbuf)), BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "not supported"));
	ck_assert_int_eq(br_config_set(&c, "offsets.topic.replication.factor=3", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "out of range [1, 1]: rewind runs one node"));
	/* Inert keys are still checked; a near miss is still unknown. */
	ck_assert_int_eq(br_config_set(&c, "num.io.threads=0", errbuf, sizeof(errbuf)), BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "num.io.threads=0: expected a whole number"));
	ck_assert_int_eq(br_config_set(&c, "num.io.threads=eight", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_int_eq(br_config_set(&c, "num.recovery.threads.per.data.dir=0", errbuf,
				       sizeof(errbuf)), BR_ERR_CONFIG);
	ck_assert_int_eq(br_config_set(&c, "socket.send.buffer.bytes=-2", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_int_eq(br_config_set(&c, "zookeeperx=1", errbuf, sizeof(errbuf)), BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "unknown configuration key 'zookeeperx'"));
	br_config_free(&c);
}
END_TEST

/* Kafka 4's shipped server.properties (KRaft, broker and controller in one
 * node) loads as it is: the controller listener is known as such, the
 * protocol map is read, and the quorum and inter-broker keys are reported
 * as changing nothing here. Separate roles are refused with the reason. */
START_TEST(kafka_4_kraft_server_properties_load)
{
	br_config c;
	char path[4096], inert[1024] = "", proto[32], host[256];
	const char *root = getenv("REWIND_SOURCE_ROOT");
	int32_t port;

	snprintf(path, sizeof(path), "%s/tests/fixtures/kafka-4-server.properties", root ? root : "..");
	br_config_init(&c);
	ck_assert_msg(br_config_load(&c, path, errbuf, sizeof(errbuf)) == 0, "%s", errbuf);
	ck_assert_int_eq(c.node_id, 1);
	ck_assert(br_config_listener_is_controller(&c, "CONTROLLER", 10));
	ck_assert(!br_config_listener_is_controller(&c, "PLAINTEXT", 9));
	ck_assert_str_eq(br_config_listener_protocol(&c, "CONTROLLER", 10, proto, sizeof(proto)),
			 "PLAINTEXT");
	ck_assert_str_eq(br_config_listener_protocol(&c, "SASL_SSL", 8, proto, sizeof(proto)),
			 "SASL_SSL");
	ck_assert_str_eq(br_config_listener_protocol(&c, "OTHER", 5, proto, sizeof(proto)), "OTHER");
	/* Metadata advertises the first listener that is not a controller's. */
	ck_assert_int_eq(br_advertised_endpoint(&c, host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "localhost");
	ck_assert_int_eq(port, 9092);
	ck_assert_int_eq(br_config_set(&c, "advertised.listeners=CONTROLLER://a:9093, PLAINTEXT://b:19092",
				       errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(br_advertised_endpoint(&c, host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "b");
	ck_assert_int_eq(port, 19092);
	br_config_inert_set(&c, collect_inert, inert);
	ck_assert_str_eq(inert, "num.io.threads;transaction.state.log.replication.factor;"
				"transaction.state.log.min.isr;"
				"share.coordinator.state.topic.replication.factor;"
				"share.coordinator.state.topic.min.isr;inter.broker.listener.name;"
				"controller.quorum.bootstrap.servers;");

	ck_assert_int_eq(br_config_set(&c, "process.roles=broker", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "process.roles=broker: not supported: rewind is one node"));
	ck_assert_int_eq(br_config_set(&c, "process.roles=controller", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_int_eq(br_config_set(&c, "process.roles=broker,worker", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "expected broker and/or controller"));
	ck_assert_int_eq(br_config_set(&c, "process.roles=controller, broker", errbuf, sizeof(errbuf)), 0);
	/* Blanks around items and colons are Kafka's csv map's: ignored. */
	ck_assert_int_eq(br_config_set(&c, "listener.security.protocol.map=A : PLAINTEXT , B:SSL",
				       errbuf, sizeof(errbuf)), 0);
	ck_assert_str_eq(br_config_listener_protocol(&c, "A", 1, proto, sizeof(proto)), "PLAINTEXT");
	ck_assert_str_eq(br_config_listener_protocol(&c, "B", 1, proto, sizeof(proto)), "SSL");
	ck_assert_int_eq(br_config_set(&c, "listener.security.protocol.map=A:PLAINTEXT,B:TLS", errbuf,
				       sizeof(errbuf)), BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "expected NAME:PROTOCOL pairs"));
	ck_assert_int_eq(br_config_set(&c, "listener.security.protocol.map=A", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_int_eq(br_config_set(&c, "controller.quorum.voters=", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	br_config_free(&c);
}
END_TEST

START_TEST(missing_file_is_named)
{
	br_config c;
	br_config_init(&c);
	ck_assert_int_eq(br_config_load(&c, "/nonexistent/broker.conf", errbuf, sizeof(errbuf)),
			 BR_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(errbuf, "/nonexistent/broker.conf"));
	br_config_free(&c);
}
END_TEST

START_TEST(partition_dir_names_parse_like_kafka)
{
	size_t tlen;
	int32_t p;

	ck_assert(br_partition_dir_parse("events-0", &tlen, &p));
	ck_assert_int_eq(tlen, 6);
	ck_assert_int_eq(p, 0);
	ck_assert(br_partition_dir_parse("my-topic.v2-17", &tlen, &p));
	ck_assert_int_eq(tlen, 11);
	ck_assert_int_eq(p, 17);
	ck_assert(!br_partition_dir_parse("events", &tlen, &p));
	ck_assert(!br_partition_dir_parse("events-", &tlen, &p));
	ck_assert(!br_partition_dir_parse("-3", &tlen, &p));
	ck_assert(!br_partition_dir_parse("events-01", &tlen, &p));
	ck_assert(!br_partition_dir_parse("ev ents-1", &tlen, &p));
	ck_assert(!br_partition_dir_parse("events-99999999999", &tlen, &p));
	ck_assert(!br_partition_dir_parse("..-1", &tlen, &p));
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("broker_config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, defaults_are_kafkas_except_durable_flush);
	tcase_add_test(tc, file_with_comments_and_spaces_is_applied);
	tcase_add_test(tc, unknown_key_is_refused_by_name_with_line);
	tcase_add_test(tc, malformed_values_are_refused_by_name);
	tcase_add_test(tc, finer_time_unit_wins_in_any_order);
	tcase_add_test(tc, dump_round_trips_through_load);
	tcase_add_test(tc, network_and_topic_keys_are_applied);
	tcase_add_test(tc, missing_file_is_named);
	tcase_add_test(tc, kafkas_own_server_properties_load);
	tcase_add_test(tc, kafka_4_kraft_server_properties_load);
	tcase_add_test(tc, partition_dir_names_parse_like_kafka);
	tcase_add_test(tc, assigned_keys_are_told_from_defaults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
