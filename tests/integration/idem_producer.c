/*
 * idem_producer.c -- an idempotent librdkafka producer sending numbered
 * records, for the idempotence tests.
 *
 *   idem_producer BOOTSTRAP TOPIC COUNT [ACKED_FILE]
 *
 * Sends the values "0" .. "COUNT-1" (no key), record i to partition
 * i % PARTS, with enable.idempotence=true (acks=all, at most 5 requests in
 * flight per partition, retries until message.timeout.ms). Each record
 * acknowledged without error has its number written to ACKED_FILE (one a
 * line, flushed at every poll), so a test that kills the broker knows what
 * was acknowledged. SIGTERM stops producing new records; what is queued is
 * still flushed.
 *
 * Exits 0 when every record it produced was acknowledged and the producer
 * never hit a fatal idempotence error (librdkafka raises one when the
 * broker's sequence answers cannot be reconciled); 1 otherwise, saying why.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define PARTS 3

static volatile sig_atomic_t g_stop;
static FILE *g_acked;
static int64_t g_delivered, g_failed;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "idem_producer: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void on_term(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err) {
		if (g_failed++ < 10)
			fprintf(stderr, "idem_producer: record %.*s not delivered: %s\n",
				(int)m->len, (const char *)m->payload, rd_kafka_err2str(m->err));
		return;
	}
	g_delivered++;
	if (g_acked)
		fprintf(g_acked, "%.*s\n", (int)m->len, (const char *)m->payload);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char buf[512];

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, buf, sizeof(buf));
		die("fatal producer error: %s", buf);
	}
	/* Transport errors are expected: the proxy cuts, the broker is killed. */
	(void)reason;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		die("%s=%s: %s", k, v, err);
}

static void poll_and_flush(rd_kafka_t *rk, int ms)
{
	rd_kafka_poll(rk, ms);
	if (g_acked)
		fflush(g_acked);
}

int main(int argc, char **argv)
{
	char err[256], val[32];

	if (argc < 4)
		die("usage: idem_producer BOOTSTRAP TOPIC COUNT [ACKED_FILE]");
	int64_t count = strtoll(argv[3], NULL, 10);
	if (argc > 4 && !(g_acked = fopen(argv[4], "w")))
		die("cannot open %s", argv[4]);
	signal(SIGTERM, on_term);

	rd_kafka_conf_t *c = rd_kafka_conf_new();
	set(c, "bootstrap.servers", argv[1]);
	set(c, "enable.idempotence", "true");
	set(c, "linger.ms", "5");
	/* Small batches: many requests, so the proxy has many to cut. */
	set(c, "batch.num.messages", "100");
	set(c, "message.timeout.ms", "300000");
	set(c, "retry.backoff.ms", "20");
	set(c, "reconnect.backoff.ms", "20");
	set(c, "reconnect.backoff.max.ms", "500");
	set(c, "queue.buffering.max.messages", "200000");
	rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
	rd_kafka_conf_set_error_cb(c, error_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!rk)
		die("rd_kafka_new: %s", err);

	int64_t sent = 0;
	for (; sent < count && !g_stop; sent++) {
		int len = snprintf(val, sizeof(val), "%" PRId64, sent);
		for (;;) {
			rd_kafka_resp_err_t e = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(argv[2]),
				RD_KAFKA_V_PARTITION((int32_t)(sent % PARTS)),
				RD_KAFKA_V_VALUE(val, (size_t)len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
				break;
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				die("produce %" PRId64 ": %s", sent, rd_kafka_err2str(e));
			poll_and_flush(rk, 10);
		}
		if (sent % 1000 == 0)
			poll_and_flush(rk, 0);
	}
	while (rd_kafka_outq_len(rk) > 0)
		poll_and_flush(rk, 100);
	poll_and_flush(rk, 0);
	rd_kafka_destroy(rk);
	if (g_acked)
		fclose(g_acked);
	printf("idem_producer: %" PRId64 " sent, %" PRId64 " delivered, %" PRId64 " failed\n", sent,
	       g_delivered, g_failed);
	if (g_failed || g_delivered != sent)
		die("%" PRId64 " of %" PRId64 " records not delivered", sent - g_delivered, sent);
	return 0;
}
