/*
 * cmd_gen_events.c -- `rewind gen-events`: writes the streaming-service
 * workload (tools/gen_events.c) to stdout as KEY<sep>JSON lines, paced to
 * --rate events per second of wall-clock time, ready for
 * `rewind produce TOPIC --key-separator $'\t'` or `kcat -P -K$'\t'`.
 *
 * The wall clock only paces the output; it never reaches the events, so
 * the bytes written depend on the options and seed alone. A reader that
 * goes away (`| head`) ends the run quietly with status 0.
 *
 * With --topic the events go to a topic through client/'s producer
 * instead (key = the key field, value = the JSON, record timestamp = now:
 * event time stays in the JSON, so a 2024 start time does not make the
 * broker's time retention delete the records at once).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "tools/tools.h"

static const char *const help =
	"usage: rewind gen-events [OPTIONS]\n"
	"\n"
	"Writes a streaming service's player events (play, pause, rebuffer) to stdout,\n"
	"one per line as KEY<TAB>JSON, e.g.\n"
	"  v00042\t{\"event\":\"play\",\"video_id\":\"v00042\",\"user_id\":\"u001234\",\"ts\":1704067200123,\n"
	"          \"position_ms\":81234,\"bitrate_kbps\":3000,\"seq\":0}\n"
	"The same options and --seed give byte-identical output: event times start at\n"
	"--start-time (a fixed date by default), never at the wall clock.\n"
	"\n"
	"  --count N              events to write (default 1000; 0 = no end)\n"
	"  --rate R               events per second (default 0 = as fast as possible);\n"
	"                         event time also advances 1000/R ms per event on\n"
	"                         average (1 ms when R is 0)\n"
	"  --videos N             distinct videos (default 1000)\n"
	"  --users N              distinct users (default 100000)\n"
	"  --skew S               Zipf exponent of video popularity (default 1.0;\n"
	"                         0 = every video alike)\n"
	"  --out-of-order F       fraction of events stamped up to --max-disorder\n"
	"                         earlier than they happened (default 0.05)\n"
	"  --max-disorder D       default 10s\n"
	"  --late F               fraction of events stamped --late-min to --late-max\n"
	"                         earlier: late data (default 0.01)\n"
	"  --late-min D           default 1m (must be above --max-disorder)\n"
	"  --late-max D           default 2h\n"
	"  --start-time T         event time of the first event: ISO 8601\n"
	"                         (2024-01-01T00:00:00Z, the default) or ms since the epoch\n"
	"  --seed N               random seed (default 42)\n"
	"  --key-field F          video_id (default) or user_id\n"
	"  --key-separator S      between key and JSON (default a tab; \\t accepted)\n"
	"  --topic T              produce the events to topic T (key and JSON value)\n"
	"                         instead of writing them to stdout\n"
	"  --bootstrap HOST:PORT  the brokers for --topic (default localhost:9092)\n"
	"  -q, --quiet            no progress line on stderr\n"
	"\n"
	"Durations D: 500ms, 10s, 5m, 2h, 1d, or ISO PT1H30M. Example:\n"
	"  rewind gen-events --count 100000 --seed 7 | kcat -P -b localhost:9092 -t events -K$'\\t'\n";

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Progress lines are for runs long enough to wonder about. */
#define GEN_PROGRESS_MIN 100000

/* Where the events go: stdout, or a producer. */
struct sink {
	cl_producer *p;               /* NULL: stdout */
	const char *topic;
	size_t key_len, sep_len;
	uint64_t delivered, failed;
	int first_err;                /* the first failed delivery's error */
};

static void on_delivery(void *app, const cl_delivery *d)
{
	struct sink *k = app;
	if (d->err == 0) {
		k->delivered++;
	} else {
		if (k->failed++ == 0)
			k->first_err = d->err;
	}
}

static int sink_open(struct sink *k, const struct gen_events_opts *o, const struct gen_events *g)
{
	char err[512];
	memset(k, 0, sizeof *k);
	if (o->topic == NULL)
		return 0;
	cl_producer_conf conf;
	cl_producer_conf_init(&conf);
	conf.bootstrap = o->bootstrap ? o->bootstrap : "localhost:9092";
	conf.client_id = "rewind-gen-events";
	conf.max_block_ms = 5000;    /* a broker that is not there: say so soon */
	conf.on_delivery = on_delivery;
	conf.app = k;
	if (cl_producer_new(&conf, &k->p, err, sizeof err) < 0) {
		fprintf(stderr, "rewind gen-events: --bootstrap '%s': %s\n", conf.bootstrap, err);
		return -1;
	}
	k->topic = o->topic;
	k->key_len = gen_events_key_len(g);
	k->sep_len = strlen(o->separator);
	return 0;
}

/* Hands one formatted line (n bytes, "KEY<sep>JSON\n") to the sink. 0, 1
 * when the reader went away (stdout), -1 after an error (said). */
static int sink_put(struct sink *k, const struct gen_events_opts *o, const char *line, size_t n)
{
	if (k->p == NULL)
		return fwrite(line, 1, n, stdout) == n ? 0 : 1;
	size_t off = k->key_len + k->sep_len;
	cl_record r = { .topic = k->topic, .partition = CL_PARTITION_ANY, .key = line,
			.key_len = (int32_t)k->key_len, .value = line + off,
			.value_len = (int32_t)(n - off - 1) };
	for (;;) {
		int rc = cl_producer_send(k->p, &r);
		if (rc == 0)
			break;
		if (rc == CL_ERR_QUEUE_FULL) {
			cl_producer_poll(k->p, 100);
			continue;
		}
		char eb[512];
		cl_producer_errmsg(k->p, eb, sizeof eb);
		if (cl_err_is_kafka(rc) && cl_err_kafka_code(rc) == 3)
			fprintf(stderr, "rewind gen-events: topic '%s' does not exist; create it with "
				"'rewind topics create %s'\n", k->topic, k->topic);
		else if (rc == CL_ERR_NO_BROKER || rc == CL_ERR_TIMEOUT)
			fprintf(stderr, "rewind gen-events: cannot reach a broker at %s (%s); start the "
				"broker (rewind-broker) or pass --bootstrap HOST:PORT\n",
				o->bootstrap ? o->bootstrap : "localhost:9092", eb[0] ? eb : cl_strerror(rc));
		else
			fprintf(stderr, "rewind gen-events: cannot produce to '%s': %s%s%s\n", k->topic,
				cl_strerror(rc), eb[0] ? ": " : "", eb);
		return -1;
	}
	cl_producer_poll(k->p, 0);
	return 0;
}

/* Flushes and closes; 0, or -1 when events were not delivered (said). */
static int sink_close(struct sink *k, uint64_t sent)
{
	if (k->p == NULL)
		return 0;
	int rc = cl_producer_flush(k->p, 60000);
	cl_producer_close(k->p, 1000);
	k->p = NULL;
	if (rc < 0 || k->failed || k->delivered != sent) {
		fprintf(stderr, "rewind gen-events: %" PRIu64 " of %" PRIu64 " events reached '%s'"
			"%s%s; check the broker's log and try again\n", k->delivered, sent, k->topic,
			k->failed ? ": " : "", k->failed ? cl_strerror(k->first_err) : "");
		return -1;
	}
	return 0;
}

int cmd_gen_events(int argc, char **argv)
{
	struct gen_events_opts o;
	struct gen_events *g = NULL;
	char err[512];
	int rc = CMD_EXIT_OK;

	if (gen_events_parse(argc, argv, &o, err, sizeof err) < 0) {
		fprintf(stderr, "rewind gen-events: %s\n", err);
		return CMD_EXIT_ERROR;
	}
	if (o.help) {
		fputs(help, stdout);
		return CMD_EXIT_OK;
	}
	if (gen_events_new(&o, &g) < 0) {
		fprintf(stderr, "rewind gen-events: out of memory for %" PRIu32 " videos; use "
			"fewer --videos\n", o.videos);
		return CMD_EXIT_ERROR;
	}
	struct sink sink;
	if (sink_open(&sink, &o, g) < 0) {
		gen_events_free(g);
		return CMD_EXIT_ERROR;
	}
	/* A closed pipe is a write error (EPIPE) here, not a signal. */
	void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
	bool progress = !o.quiet && (o.topic || !isatty(STDOUT_FILENO)) &&
			(o.count == 0 || o.count >= GEN_PROGRESS_MIN);
	bool failed = false;
	bool tty_err = isatty(STDERR_FILENO);
	int64_t start = mono_ns(), next_progress = start + 1000000000;
	char line[512];
	uint64_t i;

	for (i = 0; o.count == 0 || i < o.count; i++) {
		struct gen_event e;
		gen_events_next(g, &e);
		int n = gen_events_format(g, &e, line, sizeof line);
		int put = n < 0 ? 1 : sink_put(&sink, &o, line, (size_t)n);
		if (put != 0) {
			failed = put < 0;
			break;
		}
		if (o.rate > 0 && (i & 63) == 63) {
			int64_t due = start + (int64_t)((double)(i + 1) * 1e9 / o.rate);
			int64_t now = mono_ns();
			if (due > now) {
				if (fflush(stdout) != 0)
					break;
				sleep_ns(due - now);
			}
		}
		if (progress && (i & 4095) == 4095) {
			int64_t now = mono_ns();
			if (now >= next_progress) {
				double secs = (double)(now - start) / 1e9;
				if (o.count)
					fprintf(stderr, "%sgen-events: %" PRIu64 "/%" PRIu64 " events (%.0f%%), "
						"%.0f events/s%s", tty_err ? "\r" : "", i + 1, o.count,
						100.0 * (double)(i + 1) / (double)o.count,
						(double)(i + 1) / secs, tty_err ? "" : "\n");
				else
					fprintf(stderr, "%sgen-events: %" PRIu64 " events, %.0f events/s%s",
						tty_err ? "\r" : "", i + 1, (double)(i + 1) / secs,
						tty_err ? "" : "\n");
				next_progress = now + (tty_err ? 1000000000 : 5000000000LL);
			}
		}
	}
	if (failed || sink_close(&sink, i) < 0) {
		rc = CMD_EXIT_ERROR;
		if (sink.p)
			cl_producer_close(sink.p, 0);
	} else if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE) {
			fprintf(stderr, "%srewind gen-events: writing to stdout failed after %" PRIu64
				" events: %s; check the disk or the reading program\n",
				progress && tty_err ? "\n" : "", i, strerror(errno));
			rc = CMD_EXIT_ERROR;
		}
	} else if (progress) {
		double secs = (double)(mono_ns() - start) / 1e9;
		fprintf(stderr, "%sgen-events: %" PRIu64 " events in %.1f s%s%s\n",
			tty_err ? "\r" : "", i, secs, o.topic ? " to topic " : "",
			o.topic ? o.topic : "");
	}
	signal(SIGPIPE, old_pipe);
	gen_events_free(g);
	return rc;
}
