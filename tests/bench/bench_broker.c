/*
 * bench_broker.c -- the broker seen through librdkafka: produce, consume and
 * end-to-end latency, against rewind or against librdkafka's mock cluster.
 *
 * The peer is either a running broker (--bootstrap HOST:PORT, e.g. rewind)
 * or librdkafka's in-memory mock cluster (--mock: rd_kafka_mock_cluster_new()
 * with one broker, hosted by this process; records live in memory, nothing
 * touches a disk). The client side is the same librdkafka code either way,
 * so the mock's figures are what this client on this machine can do when
 * the broker costs (almost) nothing.
 *
 * Modes run in the order given, on the same topic:
 *   produce  creates --topic with --partitions partitions, sends --records
 *            records of --size bytes (record i to partition i % P, one
 *            rd_kafka_produce call each; with --batch-calls, runs of 256
 *            records to each partition in turn, each run enqueued by one
 *            rd_kafka_produce_batch call; no key,
 *            no compression, acks=all, linger.ms=--linger-ms, batch.size=
 *            --batch-bytes, batch.num.messages=10000, max 5 requests in
 *            flight per connection) and waits for every delivery report.
 *            Throughput is counted from the first produce call to the last
 *            delivery report; the average batch size comes from
 *            librdkafka's statistics (topics.batchsize).
 *   consume  assigns every partition of --topic from the beginning and
 *            consumes up to the high watermarks read just before; the
 *            count must match those watermarks or the run fails.
 *   rawfetch the same reads without librdkafka's consumer: Fetch v4 over
 *            one TCP connection, responses read through a small buffer
 *            and dropped after their batch headers are walked (see
 *            mode_rawfetch). The broker's
 *            own fetch speed, for comparison with loopback TCP (iperf3)
 *            and with what the librdkafka consumer achieves.
 *   e2e      creates --topic, consumes it in a second thread, and produces
 *            --size records at --rate MB/s for --seconds; each record
 *            carries its send time (CLOCK_MONOTONIC) and the consumer
 *            takes the difference when the record reaches it. Records sent
 *            in the first --warmup seconds are not counted. Reports
 *            p50/p99/p99.9/max, and the same of send -> delivery report
 *            (acks=all) to tell the producer's half from the consumer's.
 *            Client settings follow Kafka's own latency tool
 *            (kafka.tools.EndToEndLatency: producer linger.ms=0, consumer
 *            fetch.max.wait.ms=0, "no temporal batching"): linger.ms=0 by
 *            default (--e2e-linger-ms). The consumer's fetch.wait.max.ms
 *            is --e2e-fetch-wait-ms (default 100, with fetch.min.bytes=1):
 *            a broker that long-polls answers a parked fetch as soon as
 *            one byte is readable, so the wait only bounds an idle poll;
 *            0 would mean the same on Kafka's Java consumer, but
 *            librdkafka 2.0.2 then polls in a loop and its own latency
 *            grows (p50 6.5 ms, p99 52 ms on this machine, 2 cores).
 *   topics   creates --topics topics of --topic-partitions partitions each
 *            (names --topic-0 ...) and returns, for the idle-RSS figure.
 *
 * Output: progress on stderr; one line per mode on stdout,
 *
 *   result mode=produce target=rewind size=1024 partitions=8 records=...
 *          bytes=... seconds=... records_per_s=... mb_per_s=...
 *          batch_avg_bytes=...
 *   result mode=consume target=... records=... bytes=... seconds=...
 *          records_per_s=... mb_per_s=...
 *   result mode=rawfetch target=rewind partitions=8 records=...
 *          batch_bytes=... wire_bytes=... fetches=... seconds=...
 *          records_per_s=... mb_per_s=... wire_mb_per_s=... client_cpu_s=...
 *   result mode=e2e target=... rate_mb_per_s=50 achieved_mb_per_s=...
 *          records=... p50_ms=... p99_ms=... p999_ms=... max_ms=...
 *          ack_p50_ms=... ack_p99_ms=... ack_p999_ms=...
 *
 * MB is 10^6 bytes of record values (what the application sends; framing
 * adds ~7 % at 100 B and under 1 % at 1 KiB); rawfetch's mb_per_s counts
 * whole RecordBatches (values plus that framing) as it does not decode
 * records. Exit 0 when every mode worked
 * whatever its speed, 1 when a record failed, went missing or a call
 * failed: the quick form run by `meson test` checks only that.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

struct bench_opts {
	const char *bootstrap;      /* NULL with --mock */
	bool mock;
	bool idempotent;           /* producers with enable.idempotence=true */
	const char *topic;
	int partitions;
	int64_t records;
	size_t size;
	double linger_ms;
	int batch_bytes;
	double rate_mb;             /* e2e */
	double seconds;             /* e2e */
	double warmup;              /* e2e */
	double e2e_linger_ms;
	int e2e_fetch_wait_ms;
	int topics;                 /* topics mode */
	int topic_partitions;
	int raw_partition_bytes;    /* rawfetch */
	bool nodelay;               /* socket.nagle.disable=true on every client */
	bool batch_calls;           /* produce: rd_kafka_produce_batch, runs of PRODUCE_RUN */
};

static struct bench_opts g_o;
static char g_bootstrap[256];
static const char *g_target;    /* "rewind" / "mock" / the bootstrap */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* This process's CPU time (user + system, every thread), seconds. */
static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench_broker: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_broker (--bootstrap HOST:PORT | --mock) [options] MODE...\n"
		"\n"
		"Modes (run in order, on the same topic): produce, consume, rawfetch, e2e,\n"
		"topics.\n"
		"Results go to stdout as 'result ...' lines; progress to stderr.\n"
		"\n"
		"options:\n"
		"  --bootstrap HOST:PORT  the broker to measure\n"
		"  --mock                 librdkafka's in-memory mock cluster instead\n"
		"  --idempotent           producers use enable.idempotence=true (producer ids and\n"
		"                         sequences checked by the broker)\n"
		"  --topic NAME           topic (default bench)\n"
		"  --partitions N         partitions of the topic (default 8)\n"
		"  --records N            records to produce (default 1000000)\n"
		"  --size BYTES           record value size (default 1024)\n"
		"  --linger-ms MS         producer linger.ms (default 5, librdkafka's)\n"
		"  --batch-bytes N        producer batch.size (default 1000000, librdkafka's)\n"
		"  --rate MBPS            e2e producer rate, MB/s (default 50)\n"
		"  --seconds S            e2e duration (default 10)\n"
		"  --warmup S             e2e records not counted at the start (default 1)\n"
		"  --e2e-linger-ms MS     e2e producer linger.ms (default 0, as Kafka's\n"
		"                         EndToEndLatency tool)\n"
		"  --e2e-fetch-wait-ms MS e2e consumer fetch.wait.max.ms (default 100;\n"
		"                         the broker answers as soon as data is there)\n"
		"  --raw-partition-bytes N  rawfetch PartitionMaxBytes (default 1048576)\n"
		"  --nodelay              clients set TCP_NODELAY (socket.nagle.disable=true),\n"
		"                         as Kafka's Java clients always do; librdkafka's\n"
		"                         default leaves Nagle on, so a small request sent\n"
		"                         behind an unacknowledged one waits for that ACK\n"
		"  --batch-calls          produce mode: enqueue runs of 256 records per partition\n"
		"                         with rd_kafka_produce_batch (one queue lock per run)\n"
		"                         instead of one rd_kafka_produce call per record: a\n"
		"                         lighter load generator that leaves more of the\n"
		"                         machine to the broker\n"
		"  --topics N             topics mode: topics to create (default 10)\n"
		"  --topic-partitions N   topics mode: partitions each (default 100)\n");
}

static void parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bootstrap", required_argument, NULL, 'b' },
		{ "mock", no_argument, NULL, 'M' },
		{ "idempotent", no_argument, NULL, 'I' },
		{ "topic", required_argument, NULL, 't' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "records", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "linger-ms", required_argument, NULL, 'l' },
		{ "batch-bytes", required_argument, NULL, 'B' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "e2e-linger-ms", required_argument, NULL, 'L' },
		{ "e2e-fetch-wait-ms", required_argument, NULL, 'W' },
		{ "topics", required_argument, NULL, 'T' },
		{ "topic-partitions", required_argument, NULL, 'P' },
		{ "raw-partition-bytes", required_argument, NULL, 'R' },
		{ "nodelay", no_argument, NULL, 'N' },
		{ "batch-calls", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts *o = &g_o;
	*o = (struct bench_opts){
		.topic = "bench", .partitions = 8, .records = 1000000, .size = 1024,
		.linger_ms = 5, .batch_bytes = 1000000, .rate_mb = 50, .seconds = 10,
		.warmup = 1, .e2e_linger_ms = 0, .e2e_fetch_wait_ms = 100, .topics = 10,
		.topic_partitions = 100, .raw_partition_bytes = 1048576,
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': o->bootstrap = optarg; break;
		case 'M': o->mock = true; break;
		case 'I': o->idempotent = true; break;
		case 't': o->topic = optarg; break;
		case 'p': o->partitions = atoi(optarg); break;
		case 'n': o->records = strtoll(optarg, NULL, 10); break;
		case 's': o->size = (size_t)strtoull(optarg, NULL, 10); break;
		case 'l': o->linger_ms = atof(optarg); break;
		case 'B': o->batch_bytes = atoi(optarg); break;
		case 'r': o->rate_mb = atof(optarg); break;
		case 'S': o->seconds = atof(optarg); break;
		case 'w': o->warmup = atof(optarg); break;
		case 'L': o->e2e_linger_ms = atof(optarg); break;
		case 'W': o->e2e_fetch_wait_ms = atoi(optarg); break;
		case 'T': o->topics = atoi(optarg); break;
		case 'P': o->topic_partitions = atoi(optarg); break;
		case 'R': o->raw_partition_bytes = atoi(optarg); break;
		case 'N': o->nodelay = true; break;
		case 'C': o->batch_calls = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(1);
		}
	}
	if (!o->mock == !o->bootstrap)
		fail("give exactly one of --bootstrap HOST:PORT and --mock (see --help)");
	if (o->partitions < 1 || o->records < 1 || o->size < 16 || o->size > 900000 ||
	    o->rate_mb <= 0 || o->seconds <= o->warmup || o->topics < 1 ||
	    o->topic_partitions < 1 || o->batch_bytes < 1 || o->e2e_linger_ms < 0 ||
	    o->e2e_fetch_wait_ms < 0 || o->raw_partition_bytes < 1)
		fail("an option is out of range: partitions >= 1, records >= 1, "
		     "16 <= size <= 900000, rate > 0, seconds > warmup (see --help)");
	if (optind == argc)
		fail("no mode given: produce, consume, rawfetch, e2e or topics (see --help)");
}

/* ------------------------------------------------------------ clients */

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[512];
	if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
		fail("config %s=%s: %s", k, v, err);
}

static void conf_setf(rd_kafka_conf_t *c, const char *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void conf_setf(rd_kafka_conf_t *c, const char *k, const char *fmt, ...)
{
	char v[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	conf_set(c, k, v);
}

/* librdkafka's own log lines: warnings and worse only. Without a group
 * coordinator on the broker the consumer logs FindCoordinator retries;
 * those are expected here (assign() needs no coordinator). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 4)
		fprintf(stderr, "rdkafka %s: %s\n", fac, buf);
}

static rd_kafka_conf_t *conf_new(void)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	conf_set(c, "bootstrap.servers", g_bootstrap);
	conf_set(c, "log_level", "4");
	if (g_o.nodelay)
		conf_set(c, "socket.nagle.disable", "true");
	rd_kafka_conf_set_log_cb(c, log_cb);
	return c;
}

/* Takes ownership of c. Caller frees with rd_kafka_destroy(). */
static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *c)
{
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
	if (!rk)
		fail("rd_kafka_new: %s", err);
	return rk;
}

static rd_kafka_mock_cluster_t *g_mcluster;

/* Creates topic NAME with PARTS partitions; an existing one is an error. */
static void topics_create(char **names, int n, int parts)
{
	if (g_mcluster) {
		for (int i = 0; i < n; i++) {
			rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(g_mcluster, names[i], parts, 1);
			if (e)
				fail("mock topic %s: %s", names[i], rd_kafka_err2str(e));
		}
		return;
	}
	rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, conf_new());
	rd_kafka_NewTopic_t **nt = calloc((size_t)n, sizeof *nt);
	char err[512];
	if (!nt)
		fail("out of memory");
	for (int i = 0; i < n; i++) {
		nt[i] = rd_kafka_NewTopic_new(names[i], parts, 1, err, sizeof err);
		if (!nt[i])
			fail("NewTopic %s: %s", names[i], err);
	}
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(ao, 30000, err, sizeof err);
	rd_kafka_AdminOptions_set_request_timeout(ao, 60000, err, sizeof err);
	rd_kafka_CreateTopics(rk, nt, (size_t)n, ao, q);
	rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 90000);
	if (!ev)
		fail("CreateTopics: no answer in 90 s");
	if (rd_kafka_event_error(ev))
		fail("CreateTopics: %s", rd_kafka_event_error_string(ev));
	size_t cnt;
	const rd_kafka_topic_result_t **res =
		rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
	for (size_t i = 0; i < cnt; i++)
		if (rd_kafka_topic_result_error(res[i]))
			fail("CreateTopics %s: %s", rd_kafka_topic_result_name(res[i]),
			     rd_kafka_err2str(rd_kafka_topic_result_error(res[i])));
	rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(ao);
	rd_kafka_queue_destroy(q);
	for (int i = 0; i < n; i++)
		rd_kafka_NewTopic_destroy(nt[i]);
	free(nt);
	rd_kafka_destroy(rk);
}

static void topic_create(const char *name, int parts)
{
	char *n = (char *)name;
	topics_create(&n, 1, parts);
}

/* ------------------------------------------------------------ produce */

/* Delivery reports are served by rd_kafka_poll() and rd_kafka_flush() on
 * the thread that calls them, so the counters need no atomics. */
struct prod_state {
	long long ok_records, ok_bytes, failed;
	int first_err;
	long long expect;           /* produce: the clock is read at the last report */
	double last_dr;
	/* batch sizes summed over statistics windows */
	double batch_sum, batch_cnt;
	/* e2e: each value starts with its send time; the delivery report
	 * records send -> acknowledgement (seen when rd_kafka_poll() runs). */
	int64_t count_from_ns;
	int64_t *ack_ns;
	int64_t nack, capack;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	struct prod_state *ps = opaque;
	if (m->err) {
		if (ps->failed++ == 0)
			ps->first_err = m->err;
		return;
	}
	ps->ok_records++;
	ps->ok_bytes += (long long)m->len;
	/* One clock read per run, not per record: at a million reports a
	 * second the reads alone cost the load generator ~3 % of a core. */
	if (ps->ok_records == ps->expect)
		ps->last_dr = now_s();
	if (ps->ack_ns && m->len >= sizeof(int64_t)) {
		int64_t sent;

		memcpy(&sent, m->payload, sizeof sent);
		if (sent >= ps->count_from_ns && ps->nack < ps->capack)
			ps->ack_ns[ps->nack++] = now_ns() - sent;
	}
}

/* Finds "key": NUMBER after p, within limit characters. */
static bool json_num(const char *p, const char *key, size_t limit, double *out)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *q = strstr(p, pat);
	if (!q || (size_t)(q - p) > limit)
		return false;
	*out = strtod(q + strlen(pat), NULL);
	return true;
}

/* Statistics: adds this window's topic batch sizes (topics.T.batchsize
 * sum and cnt, see librdkafka's STATISTICS.md) to the running total. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	(void)rk; (void)len;
	struct prod_state *ps = opaque;
	const char *p = strstr(json, "\"batchsize\":");
	double sum, cnt;
	if (p && json_num(p, "sum", 300, &sum) && json_num(p, "cnt", 600, &cnt)) {
		ps->batch_sum += sum;
		ps->batch_cnt += cnt;
	}
	return 0;
}

static rd_kafka_t *producer_new(struct prod_state *ps, double linger_ms, bool stats)
{
	rd_kafka_conf_t *c = conf_new();
	conf_set(c, "acks", "all");
	if (g_o.idempotent)
		conf_set(c, "enable.idempotence", "true");
	conf_setf(c, "linger.ms", "%g", linger_ms);
	conf_setf(c, "batch.size", "%d", g_o.batch_bytes);
	conf_set(c, "batch.num.messages", "10000");
	conf_set(c, "compression.codec", "none");
	conf_set(c, "max.in.flight.requests.per.connection", "5");
	conf_set(c, "queue.buffering.max.messages", "2000000");
	conf_set(c, "queue.buffering.max.kbytes", "1048576");
	conf_set(c, "message.timeout.ms", "120000");
	if (stats)
		conf_set(c, "statistics.interval.ms", "200");
	rd_kafka_conf_set_opaque(c, ps);
	rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
	rd_kafka_conf_set_stats_cb(c, stats_cb);
	return client_new(RD_KAFKA_PRODUCER, c);
}

/* Sends one record, waiting while the local queue is full. */
static void produce_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t part,
			void *val, size_t len, int flags)
{
	while (rd_kafka_produce(rkt, part, flags, val, len, NULL, 0, NULL) == -1) {
		rd_kafka_resp_err_t e = rd_kafka_last_error();
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			fail("produce: %s", rd_kafka_err2str(e));
		rd_kafka_poll(rk, 1);
	}
}

/* Enqueues n records of one value for one partition with one call
 * (rd_kafka_produce_batch: one queue lock for the run, where
 * rd_kafka_produce takes it per record), polling while the local queue is
 * full. */
static void produce_run(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t part, void *val,
			size_t len, rd_kafka_message_t *msgs, int n)
{
	while (n > 0) {
		for (int i = 0; i < n; i++)
			msgs[i] = (rd_kafka_message_t){ .payload = val, .len = len };
		int took = rd_kafka_produce_batch(rkt, part, 0, msgs, n);
		for (int i = 0; i < n; i++) {
			rd_kafka_resp_err_t e = msgs[i].err;
			if (e && e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				fail("produce: %s", rd_kafka_err2str(e));
		}
		/* Every record carries the same value: what is left to send is
		 * a count, whichever of them found the queue full. */
		n -= took;
		if (n > 0)
			rd_kafka_poll(rk, 1);
	}
}

/* --batch-calls: records go to the partitions in turn, PRODUCE_RUN at a
 * time, which the producer batches as it would record i to partition
 * i % P (a batch per partition holds ~1000 records of 1 KiB). */
#define PRODUCE_RUN 256

static void mode_produce(void)
{
	topic_create(g_o.topic, g_o.partitions);
	struct prod_state ps = { .expect = g_o.records };
	rd_kafka_t *rk = producer_new(&ps, g_o.linger_ms, true);
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, g_o.topic, NULL);
	/* One value for every record, not copied (flags 0): librdkafka only
	 * reads it. Pseudo-random bytes, in case anything compresses. */
	unsigned char *val = malloc(g_o.size);
	rd_kafka_message_t *msgs = malloc(PRODUCE_RUN * sizeof *msgs);
	if (!val || !msgs)
		fail("out of memory");
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < g_o.size; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		val[i] = (unsigned char)x;
	}
	fprintf(stderr, "produce: %" PRId64 " records of %zu bytes to %s (%d partitions) on %s\n",
		g_o.records, g_o.size, g_o.topic, g_o.partitions, g_target);
	double t0 = now_s(), cpu0 = self_cpu_s();
	int32_t part = 0;
	if (g_o.batch_calls) {
		for (int64_t i = 0; i < g_o.records; i += PRODUCE_RUN) {
			int n = g_o.records - i < PRODUCE_RUN ? (int)(g_o.records - i) : PRODUCE_RUN;
			produce_run(rk, rkt, part, val, g_o.size, msgs, n);
			part = (part + 1) % g_o.partitions;
			rd_kafka_poll(rk, 0);
		}
	} else {
		for (int64_t i = 0; i < g_o.records; i++) {
			produce_one(rk, rkt, (int32_t)(i % g_o.partitions), val, g_o.size, 0);
			if ((i & 1023) == 0)
				rd_kafka_poll(rk, 0);
		}
	}
	rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 180000);
	if (fe)
		fail("flush: %s (%lld of %" PRId64 " delivered)", rd_kafka_err2str(fe),
		     (long long)ps.ok_records, g_o.records);
	double dt = ps.last_dr - t0, cpu = self_cpu_s() - cpu0;
	long long okr = ps.ok_records, okb = ps.ok_bytes;
	if (ps.failed || okr != g_o.records)
		fail("produce: %lld records failed (first: %s), %lld delivered of %" PRId64,
		     (long long)ps.failed,
		     rd_kafka_err2str((rd_kafka_resp_err_t)ps.first_err), okr, g_o.records);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);   /* after the final statistics window */
	free(msgs);
	free(val);
	printf("result mode=produce target=%s size=%zu partitions=%d records=%lld bytes=%lld "
	       "seconds=%.3f records_per_s=%.0f mb_per_s=%.1f batch_avg_bytes=%.0f "
	       "linger_ms=%g batch_size=%d calls=%s client_cpu_s=%.2f\n",
	       g_target, g_o.size, g_o.partitions, okr, okb, dt, (double)okr / dt,
	       (double)okb / dt / 1e6, ps.batch_cnt > 0 ? ps.batch_sum / ps.batch_cnt : 0.0,
	       g_o.linger_ms, g_o.batch_bytes, g_o.batch_calls ? "batch" : "record", cpu);
	fflush(stdout);
}

/* ------------------------------------------------------------ consume */

static rd_kafka_t *consumer_new(int fetch_wait_ms)
{
	rd_kafka_conf_t *c = conf_new();
	/* assign() wants a group.id; nothing is committed. */
	conf_set(c, "group.id", "bench-broker");
	conf_set(c, "enable.auto.commit", "false");
	conf_set(c, "enable.auto.offset.store", "false");
	conf_set(c, "enable.partition.eof", "false");
	conf_setf(c, "fetch.wait.max.ms", "%d", fetch_wait_ms);
	conf_set(c, "fetch.min.bytes", "1");
	conf_set(c, "fetch.error.backoff.ms", "10");
	rd_kafka_t *rk = client_new(RD_KAFKA_CONSUMER, c);
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

static void assign_all(rd_kafka_t *rk, const char *topic, int parts, int64_t offset)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
	for (int p = 0; p < parts; p++)
		rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
	rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
	if (e)
		fail("assign: %s", rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(l);
}

/* The topic's partition count, from metadata. */
static int topic_partitions(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	if (e)
		fail("metadata for %s: %s", topic, rd_kafka_err2str(e));
	if (md->topic_cnt != 1 || md->topics[0].err)
		fail("metadata for %s: %s", topic,
		     md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no topic");
	int n = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

static void mode_consume(void)
{
	rd_kafka_t *rk = consumer_new(100);
	int parts = topic_partitions(rk, g_o.topic);
	int64_t *hw = calloc((size_t)parts, sizeof *hw), *next = calloc((size_t)parts, sizeof *next);
	if (!hw || !next)
		fail("out of memory");
	int64_t expect = 0;
	int open = 0;
	for (int p = 0; p < parts; p++) {
		int64_t lo;
		rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, g_o.topic, p, &lo, &hw[p], 10000);
		if (e)
			fail("watermarks of %s-%d: %s", g_o.topic, p, rd_kafka_err2str(e));
		next[p] = lo;
		expect += hw[p] - lo;
		open += hw[p] > lo;
	}
	fprintf(stderr, "consume: %" PRId64 " records from %s (%d partitions) on %s\n",
		expect, g_o.topic, parts, g_target);
	assign_all(rk, g_o.topic, parts, RD_KAFKA_OFFSET_BEGINNING);
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
	rd_kafka_message_t *msgs[1024];
	int64_t records = 0, bytes = 0;
	/* The clock starts at the first record: connection set-up and the
	 * offset look-up for OFFSET_BEGINNING are not throughput. */
	double t0 = 0, last = now_s(), deadline = last + 300, cpu0 = self_cpu_s();
	while (open > 0) {
		/* A short timeout: the call waits until the array is full or
		 * the timeout passes, and the tail is less than an array. */
		ssize_t n = rd_kafka_consume_batch_queue(q, 10, msgs, 1024);
		if (n < 0)
			fail("consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
		for (ssize_t i = 0; i < n; i++) {
			rd_kafka_message_t *m = msgs[i];
			if (t0 == 0)
				t0 = now_s();
			if (m->err) {
				fail("consume: %s", rd_kafka_message_errstr(m));
			} else if (m->partition >= 0 && m->partition < parts) {
				int32_t p = m->partition;
				if (m->offset != next[p])
					fail("consume: %s-%d offset %" PRId64 ", expected %" PRId64,
					     g_o.topic, p, m->offset, next[p]);
				next[p]++;
				records++;
				last = now_s();
				bytes += (int64_t)m->len;
				if (next[p] == hw[p])
					open--;
			}
			rd_kafka_message_destroy(m);
		}
		if (now_s() > deadline)
			fail("consume: %" PRId64 " of %" PRId64 " records after 300 s", records, expect);
	}
	double dt = last - t0, cpu = self_cpu_s() - cpu0;
	rd_kafka_queue_destroy(q);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	free(hw);
	free(next);
	printf("result mode=consume target=%s partitions=%d records=%" PRId64 " bytes=%" PRId64
	       " seconds=%.3f records_per_s=%.0f mb_per_s=%.1f client_cpu_s=%.2f\n",
	       g_target, parts, records, bytes, dt, (double)records / dt, (double)bytes / dt / 1e6,
	       cpu);
	fflush(stdout);
}

/* ------------------------------------------------------------ rawfetch */

/*
 * The broker's fetch path without a client library: one TCP connection,
 * Fetch v4 requests for every partition of --topic (MaxWaitMs 100,
 * MinBytes 1, MaxBytes 50 MiB, PartitionMaxBytes --raw-partition-bytes:
 * librdkafka's defaults), one request in flight as a Kafka consumer has.
 * Each response is read through a 256 KiB buffer (the copy out of the
 * socket any consumer pays, into memory the cache holds, as iperf3's
 * receiver reads), its partitions' RecordBatch headers are walked to find
 * the next offsets and to count records, and the bytes are dropped: no
 * decoding of records, no per-record work. What is left is the broker plus
 * loopback TCP, to set beside iperf3 on the same machine.
 */

struct wire {
	const uint8_t *p, *end;
	bool bad;
};

static int64_t wire_int(struct wire *w, int n)
{
	int64_t v = 0;

	if (w->bad || w->end - w->p < n) {
		w->bad = true;
		return 0;
	}
	for (int i = 0; i < n; i++)
		v = (v << 8) | w->p[i];
	w->p += n;
	/* sign-extend */
	if (n < 8 && (v & ((int64_t)1 << (8 * n - 1))))
		v -= (int64_t)1 << (8 * n);
	return v;
}

static void put_be(uint8_t **p, int64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		(*p)[n - 1 - i] = (uint8_t)(v >> (8 * i));
	*p += n;
}

static void read_full(int fd, void *buf, size_t n)
{
	uint8_t *b = buf;

	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			fail("rawfetch: read: %s", r == 0 ? "the broker closed the connection"
							 : strerror(errno));
		b += r;
		n -= (size_t)r;
	}
}

static void write_full(int fd, const void *buf, size_t n)
{
	const uint8_t *b = buf;

	while (n > 0) {
		ssize_t r = write(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("rawfetch: write: %s", strerror(errno));
		b += r;
		n -= (size_t)r;
	}
}

static int tcp_connect(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;

	if (!colon || (size_t)(colon - hostport) >= sizeof host)
		fail("rawfetch: bootstrap '%s' is not HOST:PORT", hostport);
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	int rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc)
		fail("rawfetch: %s: %s", hostport, gai_strerror(rc));
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		fail("rawfetch: connect to %s: %s", hostport, strerror(errno));
	freeaddrinfo(ai);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/*
 * A response is read through a small buffer, as iperf3's receiver reads
 * (128 KiB): the copy out of the socket lands in memory the cache holds,
 * and only the bytes the walk needs (headers) are looked at. `left` is
 * what the socket still holds of the current response.
 */
#define RAW_BUF (256u << 10)

struct rstream {
	int fd;
	uint8_t *buf;
	size_t head, tail;
	int64_t left;
};

static size_t rs_read(struct rstream *rs, uint8_t *to, size_t want)
{
	if (rs->left <= 0)
		fail("rawfetch: malformed response (shorter than its fields)");
	if ((int64_t)want > rs->left)
		want = (size_t)rs->left;
	ssize_t r;
	do
		r = read(rs->fd, to, want);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		fail("rawfetch: read: %s", r == 0 ? "the broker closed the connection" : strerror(errno));
	rs->left -= r;
	return (size_t)r;
}

/* Makes n bytes readable at rs->buf + rs->head. */
static void rs_fill(struct rstream *rs, size_t n)
{
	if (rs->tail - rs->head >= n)
		return;
	memmove(rs->buf, rs->buf + rs->head, rs->tail - rs->head);
	rs->tail -= rs->head;
	rs->head = 0;
	while (rs->tail < n)
		rs->tail += rs_read(rs, rs->buf + rs->tail, RAW_BUF - rs->tail);
}

static int64_t rs_int(struct rstream *rs, int n)
{
	rs_fill(rs, (size_t)n);
	struct wire w = { rs->buf + rs->head, rs->buf + rs->tail, false };
	rs->head += (size_t)n;
	return wire_int(&w, n);
}

/* Consumes n bytes: what is buffered, then reads into the buffer's start. */
static void rs_skip(struct rstream *rs, int64_t n)
{
	if (n < 0)
		fail("rawfetch: malformed response (negative length)");
	size_t have = rs->tail - rs->head;
	if ((int64_t)have >= n) {
		rs->head += (size_t)n;
		return;
	}
	n -= (int64_t)have;
	rs->head = rs->tail = 0;
	while (n > 0)
		n -= (int64_t)rs_read(rs, rs->buf, n < RAW_BUF ? (size_t)n : RAW_BUF);
}

/* Walks one partition's Records (rl bytes): whole batches only (a response
 * may end in a partial one). Returns the offset after the last whole batch,
 * or `from` when there is none; adds the batches' record counts and bytes. */
static int64_t batches_walk(struct rstream *rs, int64_t rl, int64_t from, int64_t *records,
			    int64_t *bytes)
{
	int64_t next = from;

	while (rl >= 61) {
		rs_fill(rs, 61);
		const uint8_t *p = rs->buf + rs->head;
		struct wire w = { p, p + 61, false };
		int64_t base = wire_int(&w, 8);
		int64_t blen = wire_int(&w, 4);
		if (blen < 49 || 12 + blen > rl)
			break;
		w.p = p + 23;
		int64_t last_delta = wire_int(&w, 4);
		w.p = p + 57;
		int64_t count = wire_int(&w, 4);
		if (base + last_delta + 1 > next) {
			next = base + last_delta + 1;
			*records += count;
			*bytes += 12 + blen;
		}
		rs_skip(rs, 12 + blen);
		rl -= 12 + blen;
	}
	rs_skip(rs, rl);
	return next;
}

static void mode_rawfetch(void)
{
	if (g_o.mock)
		fail("rawfetch needs --bootstrap (a real broker)");
	rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, conf_new());
	int parts = topic_partitions(rk, g_o.topic);
	int64_t *hw = calloc((size_t)parts, sizeof *hw), *next = calloc((size_t)parts, sizeof *next);
	if (!hw || !next)
		fail("out of memory");
	int64_t expect = 0;
	int open = 0;
	for (int p = 0; p < parts; p++) {
		int64_t lo;
		rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, g_o.topic, p, &lo, &hw[p], 10000);
		if (e)
			fail("watermarks of %s-%d: %s", g_o.topic, p, rd_kafka_err2str(e));
		next[p] = lo;
		expect += hw[p] - lo;
		open += hw[p] > lo;
	}
	rd_kafka_destroy(rk);
	fprintf(stderr, "rawfetch: %" PRId64 " records from %s (%d partitions) on %s, "
		"Fetch v4, %d bytes per partition\n", expect, g_o.topic, parts, g_target,
		g_o.raw_partition_bytes);

	int fd = tcp_connect(g_bootstrap);
	size_t tlen = strlen(g_o.topic);
	size_t reqcap = 64 + tlen + (size_t)parts * 16;
	uint8_t *req = malloc(reqcap);
	uint8_t *buf = malloc(RAW_BUF);
	if (!req || !buf)
		fail("out of memory");
	int64_t records = 0, bytes = 0, wire_bytes = 0, fetches = 0;
	int32_t corr = 0;
	double cpu0 = self_cpu_s();
	double t0 = 0, last = 0, deadline = now_s() + 300;
	while (open > 0) {
		/* FetchRequest v4, request header v1 (client id "bench-raw") */
		uint8_t *q = req + 4;
		put_be(&q, 1, 2);                       /* api key Fetch */
		put_be(&q, 4, 2);                       /* version */
		put_be(&q, ++corr, 4);
		put_be(&q, 9, 2);
		memcpy(q, "bench-raw", 9);
		q += 9;
		put_be(&q, -1, 4);                      /* ReplicaId */
		put_be(&q, 100, 4);                     /* MaxWaitMs */
		put_be(&q, 1, 4);                       /* MinBytes */
		put_be(&q, 52428800, 4);                /* MaxBytes */
		put_be(&q, 0, 1);                       /* IsolationLevel */
		put_be(&q, 1, 4);                       /* one topic */
		put_be(&q, (int64_t)tlen, 2);
		memcpy(q, g_o.topic, tlen);
		q += tlen;
		int n = 0;
		for (int p = 0; p < parts; p++)
			n += next[p] < hw[p];
		put_be(&q, n, 4);
		for (int p = 0; p < parts; p++) {
			if (next[p] >= hw[p])
				continue;
			put_be(&q, p, 4);
			put_be(&q, next[p], 8);
			put_be(&q, g_o.raw_partition_bytes, 4);
		}
		uint8_t *sz = req;
		put_be(&sz, (int64_t)(q - req - 4), 4);
		/* The clock runs from the first request sent: the connection is
		 * up and the offsets known by then. */
		if (t0 == 0)
			t0 = now_s();
		write_full(fd, req, (size_t)(q - req));

		uint8_t hdr[4];
		read_full(fd, hdr, 4);
		int64_t rlen = (int64_t)((uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
					 (uint32_t)hdr[2] << 8 | hdr[3]);
		if (rlen < 8 || rlen > (int64_t)1 << 30)
			fail("rawfetch: response of %" PRId64 " bytes", rlen);
		struct rstream rs = { .fd = fd, .buf = buf, .left = rlen };
		wire_bytes += 4 + rlen;
		fetches++;

		if (rs_int(&rs, 4) != corr)
			fail("rawfetch: correlation id mismatch");
		rs_int(&rs, 4);                         /* ThrottleTimeMs */
		int64_t nt = rs_int(&rs, 4);
		for (int64_t t = 0; t < nt; t++) {
			rs_skip(&rs, rs_int(&rs, 2));
			int64_t np = rs_int(&rs, 4);
			for (int64_t i = 0; i < np; i++) {
				int64_t pi = rs_int(&rs, 4);
				int64_t ec = rs_int(&rs, 2);
				rs_int(&rs, 8);                 /* HighWatermark */
				rs_int(&rs, 8);                 /* LastStableOffset */
				int64_t na = rs_int(&rs, 4);
				if (na > 0)
					rs_skip(&rs, na * 16);
				int64_t rl = rs_int(&rs, 4);
				if (pi < 0 || pi >= parts || rl > rs.left + (int64_t)(rs.tail - rs.head))
					fail("rawfetch: malformed response");
				if (ec)
					fail("rawfetch: %s-%" PRId64 " error %" PRId64, g_o.topic, pi, ec);
				if (rl > 0) {
					int64_t was = next[pi];
					next[pi] = batches_walk(&rs, rl, next[pi], &records, &bytes);
					if (was < hw[pi] && next[pi] >= hw[pi])
						open--;
				}
			}
		}
		if (rs.left != 0 || rs.head != rs.tail)
			fail("rawfetch: malformed response (bytes after its fields)");
		last = now_s();
		if (last > deadline)
			fail("rawfetch: %" PRId64 " of %" PRId64 " records after 300 s", records, expect);
	}
	double cpu = self_cpu_s() - cpu0;
	close(fd);
	if (records != expect)
		fail("rawfetch: %" PRId64 " records, the watermarks said %" PRId64, records, expect);
	double dt = last - t0;
	printf("result mode=rawfetch target=%s partitions=%d records=%" PRId64 " batch_bytes=%" PRId64
	       " wire_bytes=%" PRId64 " fetches=%" PRId64 " seconds=%.3f records_per_s=%.0f"
	       " mb_per_s=%.1f wire_mb_per_s=%.1f client_cpu_s=%.2f\n",
	       g_target, parts, records, bytes, wire_bytes, fetches, dt, (double)records / dt,
	       (double)bytes / dt / 1e6, (double)wire_bytes / dt / 1e6, cpu);
	fflush(stdout);
	free(req);
	free(buf);
	free(hw);
	free(next);
}

/* ------------------------------------------------------------ e2e */

struct e2e {
	rd_kafka_t *consumer;
	int64_t count_from_ns;      /* records sent before this are not counted */
	int64_t expect;             /* records to receive, set when sending ends */
	atomic_llong sent;
	atomic_bool sending_done;
	int64_t *lat_ns;            /* one per counted record */
	int64_t nlat, caplat;
	int64_t received;
	const char *err;
};

static void *e2e_consumer(void *arg)
{
	struct e2e *s = arg;
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(s->consumer);
	double give_up = 0;
	for (;;) {
		if (atomic_load(&s->sending_done)) {
			if (s->received >= atomic_load(&s->sent))
				break;
			if (give_up == 0)
				give_up = now_s() + 30;
			else if (now_s() > give_up) {
				s->err = "records missing 30 s after the last was sent";
				break;
			}
		}
		/* One record at a time: a batch call would hold the first
		 * record until the batch fills or its timeout passes. */
		rd_kafka_message_t *m = rd_kafka_consume_queue(q, 50);
		if (!m)
			continue;
		int64_t t = now_ns();
		if (m->err) {
			s->err = "consumer error (see rdkafka lines)";
			fprintf(stderr, "e2e consumer: %s\n", rd_kafka_message_errstr(m));
		} else if (m->len >= sizeof(int64_t)) {
			int64_t sent;
			memcpy(&sent, m->payload, sizeof sent);
			s->received++;
			if (sent >= s->count_from_ns && s->nlat < s->caplat)
				s->lat_ns[s->nlat++] = t - sent;
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_queue_destroy(q);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, int64_t n, double q)
{
	if (n == 0)
		return 0;
	int64_t i = (int64_t)(q * (double)(n - 1) + 0.5);
	return (double)v[i] / 1e6;
}

static void mode_e2e(void)
{
	topic_create(g_o.topic, g_o.partitions);
	struct e2e s = { 0 };
	double rec_per_s = g_o.rate_mb * 1e6 / (double)g_o.size;
	s.caplat = (int64_t)(rec_per_s * g_o.seconds * 1.1) + 1024;
	s.lat_ns = malloc((size_t)s.caplat * sizeof *s.lat_ns);
	if (!s.lat_ns)
		fail("out of memory");

	s.consumer = consumer_new(g_o.e2e_fetch_wait_ms);
	assign_all(s.consumer, g_o.topic, g_o.partitions, RD_KAFKA_OFFSET_BEGINNING);
	struct prod_state ps = { 0 };
	ps.capack = s.caplat;
	ps.ack_ns = malloc((size_t)ps.capack * sizeof *ps.ack_ns);
	ps.count_from_ns = INT64_MAX;
	if (!ps.ack_ns)
		fail("out of memory");
	rd_kafka_t *rk = producer_new(&ps, g_o.e2e_linger_ms, false);
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, g_o.topic, NULL);
	/* Connections and metadata up before the clock starts. */
	const struct rd_kafka_metadata *md;
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
		rd_kafka_metadata_destroy(md);

	fprintf(stderr, "e2e: %.0f MB/s of %zu-byte records (%.0f/s) to %s for %.0f s on %s\n",
		g_o.rate_mb, g_o.size, rec_per_s, g_o.topic, g_o.seconds, g_target);
	pthread_t th;
	int64_t start = now_ns();
	s.count_from_ns = start + (int64_t)(g_o.warmup * 1e9);
	ps.count_from_ns = s.count_from_ns;
	if (pthread_create(&th, NULL, e2e_consumer, &s))
		fail("pthread_create failed");
	unsigned char *val = calloc(1, g_o.size);
	if (!val)
		fail("out of memory");
	/* Paced by 1 ms ticks: at each tick, send what the rate allows by now. */
	int64_t end = start + (int64_t)(g_o.seconds * 1e9), sent = 0;
	int32_t part = 0;
	for (;;) {
		int64_t t = now_ns();
		if (t >= end)
			break;
		int64_t due = (int64_t)((double)(t - start) / 1e9 * rec_per_s);
		while (sent < due) {
			int64_t ts = now_ns();
			memcpy(val, &ts, sizeof ts);
			produce_one(rk, rkt, part, val, g_o.size, RD_KAFKA_MSG_F_COPY);
			part = (part + 1) % g_o.partitions;
			sent++;
			atomic_store(&s.sent, sent);
		}
		rd_kafka_poll(rk, 0);
		struct timespec nap = { 0, 1000000 - (now_ns() - t) % 1000000 };
		nanosleep(&nap, NULL);
	}
	double send_s = (double)(now_ns() - start) / 1e9;
	if (rd_kafka_flush(rk, 60000))
		fail("e2e: flush timed out");
	atomic_store(&s.sending_done, true);
	pthread_join(th, NULL);
	if (ps.failed)
		fail("e2e: %lld records failed (first: %s)", (long long)ps.failed,
		     rd_kafka_err2str((rd_kafka_resp_err_t)ps.first_err));
	if (s.err)
		fail("e2e: %s (%" PRId64 " of %" PRId64 " received)", s.err, s.received, sent);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	rd_kafka_consumer_close(s.consumer);
	rd_kafka_destroy(s.consumer);
	free(val);

	qsort(s.lat_ns, (size_t)s.nlat, sizeof *s.lat_ns, cmp_i64);
	qsort(ps.ack_ns, (size_t)ps.nack, sizeof *ps.ack_ns, cmp_i64);
	printf("result mode=e2e target=%s size=%zu partitions=%d rate_mb_per_s=%g "
	       "achieved_mb_per_s=%.1f records=%" PRId64 " bytes=%" PRId64 " counted=%" PRId64
	       " p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f linger_ms=%g fetch_wait_ms=%d"
	       " ack_p50_ms=%.3f ack_p99_ms=%.3f ack_p999_ms=%.3f nodelay=%d\n",
	       g_target, g_o.size, g_o.partitions, g_o.rate_mb,
	       (double)sent * (double)g_o.size / send_s / 1e6, sent, sent * (int64_t)g_o.size, s.nlat,
	       pct_ms(s.lat_ns, s.nlat, 0.50), pct_ms(s.lat_ns, s.nlat, 0.99),
	       pct_ms(s.lat_ns, s.nlat, 0.999), s.nlat ? (double)s.lat_ns[s.nlat - 1] / 1e6 : 0.0,
	       g_o.e2e_linger_ms, g_o.e2e_fetch_wait_ms, pct_ms(ps.ack_ns, ps.nack, 0.50),
	       pct_ms(ps.ack_ns, ps.nack, 0.99), pct_ms(ps.ack_ns, ps.nack, 0.999), g_o.nodelay);
	fflush(stdout);
	free(s.lat_ns);
	free(ps.ack_ns);
}

/* ------------------------------------------------------------ topics */

static void mode_topics(void)
{
	char **names = calloc((size_t)g_o.topics, sizeof *names);
	if (!names)
		fail("out of memory");
	for (int i = 0; i < g_o.topics; i++) {
		size_t len = strlen(g_o.topic) + 16;
		names[i] = malloc(len);
		if (!names[i])
			fail("out of memory");
		snprintf(names[i], len, "%s-%d", g_o.topic, i);
	}
	double t0 = now_s();
	topics_create(names, g_o.topics, g_o.topic_partitions);
	printf("result mode=topics target=%s topics=%d partitions_each=%d partitions=%d seconds=%.3f\n",
	       g_target, g_o.topics, g_o.topic_partitions, g_o.topics * g_o.topic_partitions,
	       now_s() - t0);
	fflush(stdout);
	for (int i = 0; i < g_o.topics; i++)
		free(names[i]);
	free(names);
}

int main(int argc, char **argv)
{
	parse_opts(argc, argv);
	rd_kafka_t *host = NULL;
	if (g_o.mock) {
		/* The mock cluster lives on its own rd_kafka_t; its broker
		 * threads serve the clients below over loopback TCP. */
		rd_kafka_conf_t *c = rd_kafka_conf_new();
		conf_set(c, "log_level", "4");
		host = client_new(RD_KAFKA_PRODUCER, c);
		g_mcluster = rd_kafka_mock_cluster_new(host, 1);
		if (!g_mcluster)
			fail("rd_kafka_mock_cluster_new failed");
		snprintf(g_bootstrap, sizeof g_bootstrap, "%s", rd_kafka_mock_cluster_bootstraps(g_mcluster));
		g_target = "mock";
	} else {
		snprintf(g_bootstrap, sizeof g_bootstrap, "%s", g_o.bootstrap);
		g_target = "rewind";
	}
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "produce"))
			mode_produce();
		else if (!strcmp(argv[i], "consume"))
			mode_consume();
		else if (!strcmp(argv[i], "rawfetch"))
			mode_rawfetch();
		else if (!strcmp(argv[i], "e2e"))
			mode_e2e();
		else if (!strcmp(argv[i], "topics"))
			mode_topics();
		else
			fail("unknown mode '%s': produce, consume, rawfetch, e2e or topics", argv[i]);
	}
	if (g_mcluster) {
		rd_kafka_mock_cluster_destroy(g_mcluster);
		rd_kafka_destroy(host);
	}
	return 0;
}
