/*
 * cmd_perf_consume.c -- `rewind perf consume` and `rewind perf e2e`, on
 * client/'s consumer (and producer for e2e), counted and printed by
 * tools/perf_stats.c.
 *
 * perf consume reads a topic from the beginning (every partition, or as a
 * group member) until --records records or, by default, the log end seen
 * at the start, like kafka-consumer-perf-test: records/s and MB/s (10^6
 * bytes of values) from the first poll to the last record.
 *
 * perf e2e measures produce-to-consume latency, like Kafka's
 * EndToEndLatency: one process produces --records records at
 * --throughput records/s whose value starts with the send time
 * (CLOCK_MONOTONIC ns, 8 bytes big-endian) and consumes them from the log
 * end; each record's latency is its consume time minus that. Both run on
 * the main thread (the clients' threads do the I/O), so the pace holds as
 * long as poll keeps up, which the progress line shows.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "tools/tools.h"

static const char *const help_consume =
	"usage: rewind perf consume [TOPIC] [OPTIONS]\n"
	"\n"
	"Reads TOPIC (default rewind-perf) from the beginning and reports records/s\n"
	"and MB/s (10^6 bytes of values), like kafka-consumer-perf-test.\n"
	"\n"
	"options:\n"
	"  -n, --records N         stop after N records (default: the log end at the start)\n"
	"  -G, --group GROUP       read as a member of GROUP (default: assign every partition)\n"
	"      --fetch-max-bytes B (default 52428800)\n"
	"      --partition-max-bytes B  max.partition.fetch.bytes (default 1048576)\n"
	"      --timeout MS        give up when no record comes for MS ms (default 10000)\n"
	"      --json              print the summary as one JSON object on stdout\n"
	"  -b, --bootstrap HOST:PORT[,...]  (default localhost:9092)\n"
	"  -h, --help\n";

static const char *const help_e2e =
	"usage: rewind perf e2e [TOPIC] [OPTIONS]\n"
	"\n"
	"Produces records at a steady rate to TOPIC (default rewind-perf-e2e) and\n"
	"consumes them in the same process: the latency from each send to its\n"
	"consumption (p50, p99, p99.9, max), like Kafka's EndToEndLatency.\n"
	"\n"
	"options:\n"
	"  -n, --records N         records to send (default 10000)\n"
	"  -t, --throughput N      records/s (default 1000)\n"
	"  -s, --record-size B     bytes per value, at least 8 (default 100)\n"
	"      --acks all|1|0, -z/--codec, --linger-ms (default 0), --batch-size,\n"
	"      --no-idempotence    the producer's settings, as for perf produce\n"
	"      --timeout MS        give up when no record comes for MS ms (default 10000)\n"
	"      --json              print the summary as one JSON object on stdout\n"
	"  -b, --bootstrap HOST:PORT[,...]  (default localhost:9092)\n"
	"  -h, --help\n";

static int perf_fail(const char *mode, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int perf_fail(const char *mode, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rewind perf %s: ", mode);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CMD_EXIT_ERROR;
}

/* Every partition of topic, starting at `offset` (a CL_OFFSET_*), into a
 * malloc'ed array; the log-end sum in *end when end is not NULL. */
static int topic_partitions(const char *mode, const char *bootstrap, const char *topic,
			    int64_t offset, cl_consumer_tp **out, size_t *n, int64_t *end)
{
	cl_opts o = { .client_id = "rewind-perf", .connect_timeout_ms = 5000 };
	cl_client *cl;
	cl_metadata *md = NULL;
	char err[512];
	int rc = CMD_EXIT_ERROR;

	*out = NULL;
	if (cl_client_new(bootstrap, &o, &cl, err, sizeof err) < 0)
		return perf_fail(mode, "--bootstrap '%s': %s", bootstrap, err);
	if (cl_client_connect(cl) < 0 || cl_metadata_get(cl, &topic, 1, &md) < 0) {
		perf_fail(mode, "cannot read the cluster's metadata: %s", cl_client_errmsg(cl));
		goto out;
	}
	const cl_topic_info *t = cl_metadata_topic(md, topic);
	if (t == NULL || t->error != 0 || t->n_partitions == 0) {
		perf_fail(mode, "topic '%s' does not exist (%s); create it or run 'rewind perf "
			  "produce %s' first", topic, t && t->error ? cl_kafka_err_name(t->error)
			  : "UNKNOWN_TOPIC_OR_PARTITION", topic);
		goto out;
	}
	cl_consumer_tp *tps = calloc(t->n_partitions, sizeof *tps);
	cl_list_offset *q = calloc(t->n_partitions, sizeof *q);
	if (tps == NULL || q == NULL) {
		free(tps);
		free(q);
		perf_fail(mode, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->n_partitions; i++) {
		tps[i] = (cl_consumer_tp){ topic, t->partitions[i].partition, offset, 0 };
		q[i] = (cl_list_offset){ .topic = topic, .partition = t->partitions[i].partition,
					 .timestamp = CL_OFFSET_LATEST };
	}
	if (end) {
		*end = 0;
		if (cl_list_offsets(cl, q, t->n_partitions) < 0) {
			free(tps);
			free(q);
			perf_fail(mode, "reading the log end: %s", cl_client_errmsg(cl));
			goto out;
		}
		for (size_t i = 0; i < t->n_partitions; i++)
			*end += q[i].error == 0 && q[i].offset > 0 ? q[i].offset : 0;
	}
	free(q);
	*out = tps;
	*n = t->n_partitions;
	rc = 0;
out:
	cl_metadata_free(md);
	cl_client_free(cl);
	return rc;
}

int cmd_perf_consume(int argc, char **argv)
{
	enum { OPT_FETCH_MAX = 1000, OPT_PART_MAX, OPT_TIMEOUT, OPT_JSON };
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "group", required_argument, NULL, 'G' },
		{ "fetch-max-bytes", required_argument, NULL, OPT_FETCH_MAX },
		{ "partition-max-bytes", required_argument, NULL, OPT_PART_MAX },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "json", no_argument, NULL, OPT_JSON },
		CMD_BOOTSTRAP_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = "consume";
	cl_consumer_conf conf;
	cl_consumer_conf_init(&conf);
	conf.bootstrap = "localhost:9092";
	conf.client_id = "rewind-perf";
	conf.auto_offset_reset = CL_RESET_EARLIEST;
	conf.enable_auto_commit = false;
	long long records = -1, timeout = 10000, v;
	bool json = false;

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":n:G:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!cmd_parse_ll(optarg, 1, INT64_MAX / 2, &records))
				return perf_fail(mode, "--records '%s' must be a positive count", optarg);
			break;
		case 'G': conf.group_id = optarg; break;
		case OPT_FETCH_MAX:
			if (!cmd_parse_ll(optarg, 1, INT32_MAX, &v))
				return perf_fail(mode, "--fetch-max-bytes '%s' must be 1..2147483647", optarg);
			conf.fetch_max_bytes = (int)v;
			break;
		case OPT_PART_MAX:
			if (!cmd_parse_ll(optarg, 1, INT32_MAX, &v))
				return perf_fail(mode, "--partition-max-bytes '%s' must be 1..2147483647",
						 optarg);
			conf.max_partition_fetch_bytes = (int)v;
			break;
		case OPT_TIMEOUT:
			if (!cmd_parse_ll(optarg, 1, INT32_MAX, &timeout))
				return perf_fail(mode, "--timeout '%s' must be ms > 0", optarg);
			break;
		case OPT_JSON: json = true; break;
		case 'b': conf.bootstrap = optarg; break;
		case 'h':
			fputs(help_consume, stdout);
			return CMD_EXIT_OK;
		case ':':
			return perf_fail(mode, "%s needs a value", argv[optind - 1]);
		default:
			return perf_fail(mode, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return perf_fail(mode, "one TOPIC only, got '%s' too", argv[optind + 1]);
	const char *topic = optind < argc ? argv[optind] : "rewind-perf";

	cl_consumer_tp *tps;
	size_t n;
	int64_t end;
	if (topic_partitions(mode, conf.bootstrap, topic, CL_OFFSET_EARLIEST, &tps, &n, &end) != 0)
		return CMD_EXIT_ERROR;
	if (records < 0)
		records = end;
	cl_consumer *cons;
	char err[512];
	if (cl_consumer_new(&conf, &cons, err, sizeof err) < 0) {
		free(tps);
		return perf_fail(mode, "%s", err);
	}
	int rc = conf.group_id ? cl_consumer_subscribe(cons, &topic, 1)
			       : cl_consumer_assign(cons, tps, n);
	free(tps);
	if (rc < 0) {
		cl_consumer_close(cons);
		return perf_fail(mode, "cannot start consuming: %s", cl_strerror(rc));
	}
	struct perf_stats st;
	cmd_perf_stats_init(&st, "consume");
	int status = CMD_EXIT_OK;
	int64_t last = cmd_perf_now_ns();
	bool started = false;
	while (st.records < records) {
		const cl_message *m;
		int k = cl_consumer_poll(cons, 100, &m, 10000);
		int64_t now = cmd_perf_now_ns();
		if (k < 0) {
			status = perf_fail(mode, "%s", cl_consumer_errmsg(cons));
			break;
		}
		if (k > 0 && !started) {
			/* Throughput counts from the first record, not the setup. */
			st.start_ns = now;
			started = true;
		}
		for (int i = 0; i < k; i++)
			st.bytes += m[i].rec.value_len > 0 ? m[i].rec.value_len : 0;
		st.records += k;
		if (k > 0) {
			last = now;
			st.end_ns = now;
		} else if (now - last > timeout * 1000000LL) {
			status = perf_fail(mode, "no record for %lld ms after %" PRId64 " of %lld; %s",
					   timeout, st.records, records, cl_consumer_errmsg(cons));
			break;
		}
		cmd_perf_stats_progress(&st, false);
	}
	cl_consumer_close(cons);
	cmd_perf_stats_summary(&st, stdout, json);
	return status;
}

/* --------------------------------------------------------------- e2e */

int cmd_perf_e2e(int argc, char **argv)
{
	enum { OPT_TIMEOUT = 1000, OPT_JSON };
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "throughput", required_argument, NULL, 't' },
		{ "record-size", required_argument, NULL, 's' },
		CMD_PRODUCER_LONGOPTS,
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "json", no_argument, NULL, OPT_JSON },
		CMD_BOOTSTRAP_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = "e2e";
	cl_producer_conf pc;
	cl_producer_conf_init(&pc);
	pc.client_id = "rewind-perf-e2e";
	pc.linger_ms = 0;
	cl_consumer_conf cc;
	cl_consumer_conf_init(&cc);
	cc.client_id = "rewind-perf-e2e";
	cc.fetch_max_wait_ms = 100;
	const char *bootstrap = "localhost:9092";
	long long records = 10000, rate = 1000, size = 100, timeout = 10000;
	bool json = false;
	char perr[256];

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":n:t:s:z:b:h", opts, NULL)) != -1) {
		int po = cmd_producer_opt(c, optarg, &pc, perr, sizeof perr);
		if (po < 0)
			return perf_fail(mode, "%s", perr);
		if (po > 0)
			continue;
		switch (c) {
		case 'n':
			if (!cmd_parse_ll(optarg, 1, INT64_MAX / 2, &records))
				return perf_fail(mode, "--records '%s' must be a positive count", optarg);
			break;
		case 't':
			if (!cmd_parse_ll(optarg, 1, 10000000, &rate))
				return perf_fail(mode, "--throughput '%s' must be 1..10000000 records/s", optarg);
			break;
		case 's':
			if (!cmd_parse_ll(optarg, 8, 10 << 20, &size))
				return perf_fail(mode, "--record-size '%s' must be 8..10485760 bytes", optarg);
			break;
		case OPT_TIMEOUT:
			if (!cmd_parse_ll(optarg, 1, INT32_MAX, &timeout))
				return perf_fail(mode, "--timeout '%s' must be ms > 0", optarg);
			break;
		case OPT_JSON: json = true; break;
		case 'b': bootstrap = optarg; break;
		case 'h':
			fputs(help_e2e, stdout);
			return CMD_EXIT_OK;
		case ':':
			return perf_fail(mode, "%s needs a value", argv[optind - 1]);
		default:
			return perf_fail(mode, "unknown option '%s' (see --help)", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return perf_fail(mode, "one TOPIC only, got '%s' too", argv[optind + 1]);
	const char *topic = optind < argc ? argv[optind] : "rewind-perf-e2e";
	if (cmd_producer_check(&pc, perr, sizeof perr) < 0)
		return perf_fail(mode, "%s", perr);
	pc.bootstrap = cc.bootstrap = bootstrap;

	cl_producer *prod;
	cl_consumer *cons = NULL;
	cl_consumer_tp *tps = NULL;
	size_t n;
	char err[512];
	uint8_t *value = calloc(1, (size_t)size);
	if (value == NULL)
		return perf_fail(mode, "out of memory");
	if (cl_producer_new(&pc, &prod, err, sizeof err) < 0) {
		free(value);
		return perf_fail(mode, "%s", err);
	}
	int status = CMD_EXIT_ERROR;
	/* One record first, so the broker creates the topic if it does that;
	 * the consumer starts after it. */
	cl_record warm = { .topic = topic, .partition = CL_PARTITION_ANY, .key_len = -1,
			   .value = value, .value_len = (int32_t)size };
	if (cl_producer_send(prod, &warm) < 0 || cl_producer_flush(prod, 30000) < 0) {
		char msg[768];
		perf_fail(mode, "cannot produce to '%s': %s", topic,
			  cl_producer_errmsg(prod, msg, sizeof msg));
		goto out;
	}
	if (topic_partitions(mode, bootstrap, topic, CL_OFFSET_LATEST, &tps, &n, NULL) != 0)
		goto out;
	if (cl_consumer_new(&cc, &cons, err, sizeof err) < 0) {
		perf_fail(mode, "%s", err);
		goto out;
	}
	if (cl_consumer_assign(cons, tps, n) < 0) {
		perf_fail(mode, "cannot assign the partitions");
		goto out;
	}
	/* Wait until every partition has its start, or the first records
	 * could land before the consumer's position. */
	int64_t t0 = cmd_perf_now_ns();
	for (size_t i = 0; i < n; i++) {
		int64_t pos = -1;
		while (cl_consumer_position(cons, topic, tps[i].partition, &pos) == 0 && pos < 0) {
			const cl_message *m;
			if (cl_consumer_poll(cons, 50, &m, 1) < 0 ||
			    cmd_perf_now_ns() - t0 > timeout * 1000000LL) {
				perf_fail(mode, "the consumer did not find the log end: %s",
					  cl_consumer_errmsg(cons));
				goto out;
			}
		}
	}

	struct perf_stats st;
	cmd_perf_stats_init(&st, "e2e");
	st.latency_what = "send to consume";
	int64_t start = cmd_perf_now_ns(), last = start;
	st.start_ns = start;
	long long sent = 0;
	status = CMD_EXIT_OK;
	while (st.records < records) {
		int64_t now = cmd_perf_now_ns();
		int64_t due = start + (int64_t)((double)sent * 1e9 / (double)rate);
		if (sent < records && now >= due) {
			kp_store_be64(value, (uint64_t)now);
			cl_record r = { .topic = topic, .partition = CL_PARTITION_ANY, .key_len = -1,
					.value = value, .value_len = (int32_t)size };
			int rc = cl_producer_send(prod, &r);
			if (rc == CL_ERR_QUEUE_FULL) {
				cl_producer_poll(prod, 1);
				continue;
			}
			if (rc < 0) {
				char msg[768];
				status = perf_fail(mode, "send failed: %s: %s", cl_err_name(rc),
						   cl_producer_errmsg(prod, msg, sizeof msg));
				break;
			}
			sent++;
			cl_producer_poll(prod, 0);
			continue;
		}
		int wait_ms = sent < records ? (int)((due - now) / 1000000) : 100;
		const cl_message *m;
		int k = cl_consumer_poll(cons, wait_ms > 100 ? 100 : wait_ms, &m, 1000);
		now = cmd_perf_now_ns();
		if (k < 0) {
			status = perf_fail(mode, "%s", cl_consumer_errmsg(cons));
			break;
		}
		for (int i = 0; i < k; i++) {
			if (m[i].rec.value_len < 8)
				continue;
			int64_t at = (int64_t)kp_load_be64(m[i].rec.value);
			cmd_perf_stats_latency(&st, now - at);
			st.records++;
			st.bytes += m[i].rec.value_len;
			last = now;
		}
		if (k > 0)
			st.end_ns = now;
		if (k == 0 && now - last > timeout * 1000000LL) {
			status = perf_fail(mode, "no record for %lld ms (%" PRId64 " of %lld consumed, "
					   "%lld sent); %s", timeout, st.records, records, sent,
					   cl_consumer_errmsg(cons));
			break;
		}
		cl_producer_poll(prod, 0);
		cmd_perf_stats_progress(&st, false);
	}
	cmd_perf_stats_summary(&st, stdout, json);
out:
	cl_consumer_close(cons);
	cl_producer_close(prod, 10000);
	free(tps);
	free(value);
	return status;
}
