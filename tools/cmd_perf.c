/*
 * cmd_perf.c -- `rewind perf MODE`: throughput and latency against a
 * running broker, like Kafka's kafka-producer-perf-test and
 * kafka-consumer-perf-test. This file holds the mode table and `perf
 * produce`; other modes live in their own files (perf consume, perf e2e)
 * and share tools/perf_stats.c for counting and printing.
 *
 * perf produce sends --records records of --record-size bytes (no key, so
 * the sticky partitioner fills one partition's batch at a time) through
 * client/'s producer, as fast as it can or at --throughput records/s, and
 * measures throughput from the first send to the last delivery report and
 * the latency of each record from its send call to its delivery report.
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

typedef int perf_fn(int argc, char **argv);

static const struct {
	const char *name;
	perf_fn *fn;
	const char *summary;
} perf_table[] = {
	{ "produce", cmd_perf_produce,
	  "send records as fast as possible (or at a rate): records/s, MB/s, send-to-ack latency" },
	{ "consume", cmd_perf_consume,
	  "read a topic from the beginning: records/s, MB/s" },
	{ "e2e", cmd_perf_e2e,
	  "produce at a rate and consume in the same process: send-to-consume latency" },
};

#define PERF_COUNT (sizeof perf_table / sizeof perf_table[0])

static void perf_usage(FILE *out)
{
	fprintf(out, "usage: rewind perf MODE [OPTIONS]\n\nmodes:\n");
	for (size_t i = 0; i < PERF_COUNT; i++)
		fprintf(out, "  %-8s %s\n", perf_table[i].name, perf_table[i].summary);
	fprintf(out, "\nRun 'rewind perf MODE --help' for a mode's options.\n");
}

int cmd_perf(int argc, char **argv)
{
	if (argc < 2) {
		perf_usage(stderr);
		return CMD_EXIT_ERROR;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		perf_usage(stdout);
		return CMD_EXIT_OK;
	}
	for (size_t i = 0; i < PERF_COUNT; i++)
		if (strcmp(perf_table[i].name, argv[1]) == 0)
			return perf_table[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "rewind perf: unknown mode '%s' (known:", argv[1]);
	for (size_t i = 0; i < PERF_COUNT; i++)
		fprintf(stderr, " %s", perf_table[i].name);
	fprintf(stderr, "); run 'rewind perf --help'\n");
	return CMD_EXIT_ERROR;
}

/* ------------------------------------------------------------- produce */

static const char *const help_produce =
	"usage: rewind perf produce [TOPIC] [OPTIONS]\n"
	"\n"
	"Sends records to TOPIC (default rewind-perf; created by the broker when it\n"
	"auto-creates topics) and reports records/s, MB/s (10^6 bytes of values) and\n"
	"the latency from each send to its delivery report: p50, p99, p99.9, max.\n"
	"\n"
	"options:\n"
	"  -n, --records N         records to send (default 1000000)\n"
	"  -s, --record-size B     bytes per record value (default 1024)\n"
	"  -t, --throughput N      at most N records/s (default: no limit)\n"
	"      --spread N          record i to partition i % N (librdkafka's bench\n"
	"                          does this); default: no key, so the sticky\n"
	"                          partitioner fills one partition's batch at a time\n"
	"      --acks all|1|0      (default all)\n"
	"  -z, --codec CODEC       none (default), gzip, snappy, lz4, zstd\n"
	"      --linger-ms MS      (default 5)\n"
	"      --batch-size BYTES  (default 1000000)\n"
	"      --no-idempotence    plain producer (needed for --acks 1 or 0)\n"
	"      --json              print the summary as one JSON object on stdout\n"
	"  -b, --bootstrap HOST:PORT[,...]  (default localhost:9092)\n"
	"  -h, --help\n";

struct perf_produce {
	struct perf_stats st;
	int64_t record_size;
	int first_err;
};

static void on_delivery(void *app, const cl_delivery *d)
{
	struct perf_produce *pp = app;
	int64_t now = cmd_perf_now_ns();
	if (d->err != 0) {
		if (pp->st.errors++ == 0)
			pp->first_err = d->err;
		return;
	}
	pp->st.records++;
	pp->st.bytes += pp->record_size;
	cmd_perf_stats_latency(&pp->st, now - (int64_t)(intptr_t)d->opaque);
	pp->st.end_ns = now;
}

/* Unlike perf_fail (cmd_perf_consume.c), ends with the --help hint. */
static int perf_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int perf_err(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rewind perf produce: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; run 'rewind perf produce --help' for the options\n");
	return CMD_EXIT_ERROR;
}

int cmd_perf_produce(int argc, char **argv)
{
	enum { OPT_JSON = 1000, OPT_SPREAD };
	static const struct option opts[] = {
		{ "records", required_argument, NULL, 'n' },
		{ "record-size", required_argument, NULL, 's' },
		{ "throughput", required_argument, NULL, 't' },
		CMD_PRODUCER_LONGOPTS,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "spread", required_argument, NULL, OPT_SPREAD },
		CMD_BOOTSTRAP_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	cl_producer_conf conf;
	cl_producer_conf_init(&conf);
	conf.client_id = "rewind-perf";
	long long records = 1000000, size = 1024, rate = 0, spread = 0;
	bool json = false;
	char perr[256];

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":n:s:t:z:b:h", opts, NULL)) != -1) {
		int r = c == '?' || c == ':' ? 0 : cmd_producer_opt(c, optarg, &conf, perr, sizeof perr);
		if (r < 0)
			return perf_err("%s", perr);
		if (r > 0)
			continue;
		switch (c) {
		case 'n':
			if (!cmd_parse_ll(optarg, 1, INT64_MAX / 2, &records))
				return perf_err("--records '%s' must be a positive count", optarg);
			break;
		case 's':
			if (!cmd_parse_ll(optarg, 0, 100 << 20, &size))
				return perf_err("--record-size '%s' must be 0..104857600 bytes", optarg);
			break;
		case 't':
			if (!cmd_parse_ll(optarg, 1, 1000000000, &rate))
				return perf_err("--throughput '%s' must be a positive records/s", optarg);
			break;
		case OPT_JSON: json = true; break;
		case OPT_SPREAD:
			if (!cmd_parse_ll(optarg, 1, 1000000, &spread))
				return perf_err("--spread '%s' must be a partition count (1..1000000)", optarg);
			break;
		case 'b': conf.bootstrap = optarg; break;
		case 'h':
			fputs(help_produce, stdout);
			return CMD_EXIT_OK;
		case ':':
			return perf_err("%s needs a value", argv[optind - 1]);
		default:
			return perf_err("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return perf_err("one TOPIC only, got '%s' too", argv[optind + 1]);
	const char *topic = optind < argc ? argv[optind] : "rewind-perf";
	if (cmd_producer_check(&conf, perr, sizeof perr) < 0) {
		fprintf(stderr, "rewind perf produce: %s\n", perr);
		return CMD_EXIT_ERROR;
	}

	struct perf_produce *pp = calloc(1, sizeof *pp);
	char *value = malloc(size > 0 ? (size_t)size : 1);
	if (pp == NULL || value == NULL) {
		free(pp);
		free(value);
		fprintf(stderr, "rewind perf produce: out of memory\n");
		return CMD_EXIT_ERROR;
	}
	/* Varied bytes, so compression has some work but is not trivial. */
	uint32_t x = 2463534242u;
	for (long long i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		value[i] = (char)('a' + (x % 16));
	}
	cmd_perf_stats_init(&pp->st, "produce");
	pp->st.latency_what = "send to delivery report";
	pp->record_size = size;
	conf.on_delivery = on_delivery;
	conf.app = pp;
	cl_producer *p;
	char err[512];
	if (cl_producer_new(&conf, &p, err, sizeof err) < 0) {
		fprintf(stderr, "rewind perf produce: %s\n", err);
		free(pp);
		free(value);
		return CMD_EXIT_ERROR;
	}

	int status = CMD_EXIT_OK;
	int64_t start = cmd_perf_now_ns();
	pp->st.start_ns = start;
	for (long long i = 0; i < records; i++) {
		if (rate > 0) {
			/* Pace by the schedule, waiting in poll (reports arrive). */
			int64_t due = start + (int64_t)((double)i * 1e9 / (double)rate);
			int64_t now;
			while ((now = cmd_perf_now_ns()) < due)
				cl_producer_poll(p, (int)((due - now) / 1000000));
		}
		cl_record r = { .topic = topic,
				.partition = spread ? (int32_t)(i % spread) : CL_PARTITION_ANY, .key_len = -1,
				.value = value, .value_len = (int32_t)size,
				.opaque = (void *)(intptr_t)cmd_perf_now_ns() };
		int rc;
		while ((rc = cl_producer_send(p, &r)) == CL_ERR_QUEUE_FULL) {
			cl_producer_poll(p, 10);
			r.opaque = (void *)(intptr_t)cmd_perf_now_ns();
		}
		if (rc < 0) {
			char msg[768];
			fprintf(stderr, "rewind perf produce: send to %s failed: %s: %s\n", topic,
				cl_err_name(rc), cl_producer_errmsg(p, msg, sizeof msg));
			status = CMD_EXIT_ERROR;
			break;
		}
		if ((i & 255) == 0) {
			cl_producer_poll(p, 0);
			cmd_perf_stats_progress(&pp->st, false);
		}
	}
	if (cl_producer_flush(p, 120000) < 0) {
		fprintf(stderr, "rewind perf produce: records still undelivered after 120 s\n");
		status = CMD_EXIT_ERROR;
	}
	char msg[768];
	cl_producer_errmsg(p, msg, sizeof msg);
	cl_producer_close(p, 0);
	cmd_perf_stats_summary(&pp->st, stdout, json);
	if (pp->st.errors) {
		fprintf(stderr, "rewind perf produce: %" PRId64 " records failed (first: %s); %s\n",
			pp->st.errors, cl_err_name(pp->first_err), msg);
		status = CMD_EXIT_ERROR;
	}
	free(pp);
	free(value);
	return status;
}
