/*
 * cmd_produce.c -- `rewind produce TOPIC`: one record per input line, from
 * stdin or --file, like Kafka's kafka-console-producer (and kcat -P).
 *
 * Each line (without its '\n') is a record's value; with --key-separator
 * SEP the part before the first SEP is the key and the rest the value (a
 * line without SEP is an error, as in Kafka's tool). --header K=V adds a
 * header to every record. Records go through client/'s asynchronous
 * producer (batching, compression, idempotence, retries); the command
 * waits for every delivery report before it exits.
 *
 * Output, all on stderr: a progress line on a terminal for long inputs,
 * then "produced N records to TOPIC"; or, when any record was not
 * delivered, what failed (Kafka's error name, the producer's last message)
 * and what to try, with exit status CMD_EXIT_ERROR.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "tools/tools.h"

static const char *const help =
	"usage: rewind produce TOPIC [OPTIONS]\n"
	"\n"
	"Sends one record per input line (stdin, or --file) to TOPIC and waits until\n"
	"the broker has acknowledged every one.\n"
	"\n"
	"options:\n"
	"  -f, --file PATH           read lines from PATH instead of stdin\n"
	"  -K, --key-separator SEP   split each line at the first SEP: key SEP value\n"
	"  -H, --header K=V          add header K with value V to every record (repeatable)\n"
	"  -z, --codec CODEC         none (default), gzip, snappy, lz4 or zstd\n"
	"  -p, --partition N         send every record to partition N (default: keyed\n"
	"                            records by murmur2 of the key, as Kafka's Java client;\n"
	"                            others to one partition per batch)\n"
	"      --acks all|1|0        acknowledgements to wait for (default all)\n"
	"      --linger-ms MS        how long a batch waits for more records (default 5)\n"
	"      --batch-size BYTES    bytes of records per batch (default 1000000)\n"
	"      --no-idempotence      do not use an idempotent producer (needed for\n"
	"                            --acks 0 or 1)\n"
	"      --timeout MS          give up on a record not delivered within MS\n"
	"                            (default 30000)\n"
	"  -b, --bootstrap HOST:PORT[,...]\n"
	"                            brokers to start from (default localhost:9092);\n"
	"                            --bootstrap-server is the same\n"
	"  -h, --help                this help\n";

#define MAX_HEADERS 64

struct produce_state {
	int64_t delivered;
	int64_t failed;
	int first_err;
	char first_where[160];
};

static void on_delivery(void *app, const cl_delivery *d)
{
	struct produce_state *s = app;
	if (d->err == 0) {
		s->delivered++;
		return;
	}
	if (s->failed++ == 0) {
		s->first_err = d->err;
		snprintf(s->first_where, sizeof s->first_where, "%s [%d]", d->topic, d->partition);
	}
}

/* True when the broker refused the records themselves (Kafka's codes for
 * what its LogValidator and size checks refuse): sending the same input
 * again fails the same way, whatever the broker's state. */
static bool records_refused(int err)
{
	if (!cl_err_is_kafka(err))
		return false;
	switch (cl_err_kafka_code(err)) {
	case 2:     /* CORRUPT_MESSAGE */
	case 10:    /* MESSAGE_TOO_LARGE */
	case 18:    /* RECORD_LIST_TOO_LARGE */
	case 32:    /* INVALID_TIMESTAMP */
	case 87:    /* INVALID_RECORD */
		return true;
	default:
		return false;
	}
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rewind produce: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; run 'rewind produce --help' for the options\n");
	return CMD_EXIT_ERROR;
}

/* Sends one record, polling while the buffer is full. 0 or an error. */
static int send_record(cl_producer *p, const cl_record *r)
{
	for (;;) {
		int rc = cl_producer_send(p, r);
		if (rc != CL_ERR_QUEUE_FULL)
			return rc;
		cl_producer_poll(p, 100);
	}
}

int cmd_produce(int argc, char **argv)
{
	enum { OPT_TIMEOUT = 1000 };
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "key-separator", required_argument, NULL, 'K' },
		{ "header", required_argument, NULL, 'H' },
		{ "partition", required_argument, NULL, 'p' },
		CMD_PRODUCER_LONGOPTS,
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		CMD_BOOTSTRAP_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	cl_producer_conf conf;
	cl_producer_conf_init(&conf);
	conf.client_id = "rewind-produce";
	conf.delivery_timeout_ms = 30000;
	conf.max_block_ms = 30000;
	const char *file = NULL, *keysep = NULL;
	kp_header headers[MAX_HEADERS];
	int n_headers = 0;
	long long partition = CL_PARTITION_ANY, v;
	char perr[256];

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":f:K:H:z:p:b:h", opts, NULL)) != -1) {
		int r = c == '?' || c == ':' ? 0 : cmd_producer_opt(c, optarg, &conf, perr, sizeof perr);
		if (r < 0)
			return usage_err("%s", perr);
		if (r > 0)
			continue;
		switch (c) {
		case 'f': file = optarg; break;
		case 'K':
			if (optarg[0] == '\0')
				return usage_err("--key-separator needs a non-empty separator%s", "");
			keysep = optarg;
			break;
		case 'H': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg)
				return usage_err("--header '%s' is not KEY=VALUE", optarg);
			if (n_headers == MAX_HEADERS)
				return usage_err("more than 64 --header options%s", "");
			headers[n_headers].key = (const uint8_t *)optarg;
			headers[n_headers].key_len = (int32_t)(eq - optarg);
			headers[n_headers].value = (const uint8_t *)eq + 1;
			headers[n_headers].value_len = (int32_t)strlen(eq + 1);
			n_headers++;
			break;
		}
		case 'p':
			if (!cmd_parse_ll(optarg, 0, INT32_MAX, &partition))
				return usage_err("--partition '%s' is not a partition number", optarg);
			break;
		case OPT_TIMEOUT:
			if (!cmd_parse_ll(optarg, 1, INT32_MAX, &v))
				return usage_err("--timeout '%s' must be a positive number of ms", optarg);
			conf.delivery_timeout_ms = (int)v;
			conf.max_block_ms = (int)v;
			if (conf.request_timeout_ms > v)
				conf.request_timeout_ms = (int)v;
			break;
		case 'b': conf.bootstrap = optarg; break;
		case 'h':
			fputs(help, stdout);
			return CMD_EXIT_OK;
		case ':':
			return usage_err("%s needs a value", argv[optind - 1]);
		default:
			return usage_err("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return usage_err(optind >= argc ? "missing TOPIC%s" : "one TOPIC only, got '%s'",
				 optind >= argc ? "" : argv[optind + 1]);
	const char *topic = argv[optind];
	if (cmd_producer_check(&conf, perr, sizeof perr) < 0) {
		fprintf(stderr, "rewind produce: %s\n", perr);
		return CMD_EXIT_ERROR;
	}

	FILE *in = stdin;
	if (file && (in = fopen(file, "r")) == NULL) {
		fprintf(stderr, "rewind produce: cannot open %s: %s\n", file, strerror(errno));
		return CMD_EXIT_ERROR;
	}

	struct produce_state st = { 0 };
	conf.on_delivery = on_delivery;
	conf.app = &st;
	cl_producer *p;
	char err[512];
	int rc = cl_producer_new(&conf, &p, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "rewind produce: %s\n", err);
		if (in != stdin)
			fclose(in);
		return CMD_EXIT_ERROR;
	}

	bool tty = isatty(2);
	int64_t start = cmd_perf_now_ns(), last_progress = start;
	int64_t sent = 0, lineno = 0;
	size_t sep_len = keysep ? strlen(keysep) : 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int status = CMD_EXIT_OK;
	bool progress_shown = false;
	while ((len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		cl_record r = { .topic = topic, .partition = (int32_t)partition,
				.key = NULL, .key_len = -1, .value = line, .value_len = (int32_t)len,
				.headers = n_headers ? headers : NULL, .n_headers = n_headers };
		if (len > INT32_MAX / 2) {
			fprintf(stderr, "rewind produce: line %" PRId64 " is too long\n", lineno);
			status = CMD_EXIT_ERROR;
			break;
		}
		if (keysep) {
			char *s = memmem(line, (size_t)len, keysep, sep_len);
			if (s == NULL) {
				fprintf(stderr, "rewind produce: line %" PRId64 " has no key separator '%s'; "
					"write KEY%sVALUE, or drop --key-separator\n", lineno, keysep, keysep);
				status = CMD_EXIT_ERROR;
				break;
			}
			r.key = line;
			r.key_len = (int32_t)(s - line);
			r.value = s + sep_len;
			r.value_len = (int32_t)(len - r.key_len - (ssize_t)sep_len);
		}
		rc = send_record(p, &r);
		if (rc < 0) {
			char msg[768];
			cl_producer_errmsg(p, msg, sizeof msg);
			fprintf(stderr, "rewind produce: cannot send line %" PRId64 " to %s: %s%s%s\n",
				lineno, topic, cl_err_name(rc), msg[0] ? ": " : "", msg);
			if (rc == cl_err_kafka(3))
				fprintf(stderr, "rewind produce: does topic '%s' exist? create it with "
					"'rewind topics create %s' (the broker does not auto-create it)\n",
					topic, topic);
			else if (rc == CL_ERR_NO_BROKER || rc == CL_ERR_TIMEOUT)
				fprintf(stderr, "rewind produce: is the broker running at %s?\n",
					conf.bootstrap);
			status = CMD_EXIT_ERROR;
			break;
		}
		sent++;
		if ((sent & 1023) == 0) {
			cl_producer_poll(p, 0);
			int64_t now = cmd_perf_now_ns();
			if (tty && now - last_progress > 500000000) {
				double secs = (double)(now - start) / 1e9;
				fprintf(stderr, "\rproduced %" PRId64 " records, %" PRId64 " acknowledged (%.0f records/s)  ",
					sent, st.delivered, (double)sent / secs);
				last_progress = now;
				progress_shown = true;
			}
		}
	}
	if (ferror(in) && status == CMD_EXIT_OK) {
		fprintf(stderr, "rewind produce: reading %s failed: %s\n", file ? file : "stdin",
			strerror(errno));
		status = CMD_EXIT_ERROR;
	}
	free(line);
	if (in != stdin)
		fclose(in);

	rc = cl_producer_flush(p, conf.delivery_timeout_ms + 5000);
	if (progress_shown)
		fputc('\n', stderr);
	char msg[768];
	cl_producer_errmsg(p, msg, sizeof msg);
	int64_t missing = sent - st.delivered - st.failed;
	cl_producer_close(p, 0);
	if (st.failed > 0 || missing > 0 || rc < 0) {
		fprintf(stderr, "rewind produce: %" PRId64 " of %" PRId64 " records were not delivered to %s",
			st.failed + missing, sent, topic);
		if (st.failed)
			fprintf(stderr, " (first: %s at %s)", cl_err_name(st.first_err), st.first_where);
		fprintf(stderr, "%s%s\n", msg[0] ? ": " : "", msg);
		if (st.failed && records_refused(st.first_err))
			fprintf(stderr, "rewind produce: the broker refused the records themselves; "
				"sending them again unchanged will fail the same way (see "
				"'rewind topics describe %s' for the topic's settings)\n", topic);
		else
			fprintf(stderr, "rewind produce: check that the broker at %s is up and that %s "
				"exists ('rewind topics describe %s'), then send the input again\n",
				conf.bootstrap, topic, topic);
		return CMD_EXIT_ERROR;
	}
	if (status == CMD_EXIT_OK)
		fprintf(stderr, "produced %" PRId64 " records to %s\n", st.delivered, topic);
	else if (st.delivered > 0)
		fprintf(stderr, "rewind produce: %" PRId64 " records before that were delivered to %s\n",
			st.delivered, topic);
	return status;
}
