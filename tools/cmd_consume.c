/*
 * cmd_consume.c -- `rewind consume TOPIC...`: prints a topic's records with
 * a kcat-like format (consume_format.c), from the beginning, the end, an
 * offset or a time, or as a member of a consumer group (--group), on
 * client/'s consumer.
 *
 * Before consuming it checks, with the blocking client, that the cluster
 * answers and every topic (and --partition) exists, so those mistakes get
 * a sentence and exit status 1 within the connect timeout instead of a
 * consumer waiting for them. Once consuming, a broker that goes away is
 * waited for (the consumer retries), and Ctrl-C / SIGTERM stop cleanly:
 * the group's positions are committed, the group is left, and "consumed N
 * records" goes to stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "tools/tools.h"

static const char *const help =
	"usage: rewind consume TOPIC... [OPTIONS]\n"
	"\n"
	"Prints the records of TOPIC (one line per record by default: the value).\n"
	"\n"
	"  -b, --bootstrap HOST:PORT[,...]  brokers to start from (default localhost:9092)\n"
	"  -o, --from WHERE          where to start: beginning, end (default), an offset N,\n"
	"                            or @TIME: the first record at or after TIME, in ms\n"
	"                            since the epoch or ISO 8601 (2024-05-01T12:00:00Z)\n"
	"  -p, --partition P[,P...]  only these partitions (default: all); repeatable\n"
	"  -G, --group GROUP         consume as a member of GROUP: the group splits the\n"
	"                            partitions among its members and remembers where\n"
	"                            each stopped (commits); --from beginning|end then\n"
	"                            only says where to start without a commit\n"
	"      --assignor NAME       range (default) or roundrobin: how the group splits\n"
	"                            the partitions (all members must offer the same)\n"
	"  -c, --count N             stop after N records\n"
	"  -e, --exit-at-end         stop once every partition is read to its end\n"
	"  -f, --format FMT          output format, as kcat's -f (default '%s\\n'):\n"
	"                            %t topic  %p partition  %o offset  %k key\n"
	"                            %K key length  %s value  %S value length\n"
	"                            %R value length as a big-endian int32\n"
	"                            %T timestamp (ms)  %h headers (n=v,...)  %% a '%'\n"
	"                            escapes: \\n \\r \\t \\xHH\n"
	"  -X KEY=VALUE              a consumer setting: session.timeout.ms,\n"
	"                            heartbeat.interval.ms, max.poll.interval.ms,\n"
	"                            auto.offset.reset, enable.auto.commit,\n"
	"                            auto.commit.interval.ms, fetch.min.bytes,\n"
	"                            fetch.max.wait.ms, max.partition.fetch.bytes,\n"
	"                            fetch.max.bytes, client.id,\n"
	"                            partition.assignment.strategy\n"
	"      --timeout MS          how long to wait for each broker answer (default 30000)\n"
	"  -q, --quiet               no closing \"consumed N records\" line\n"
	"  -h, --help                this help\n"
	"\n"
	"Ctrl-C stops cleanly: a group member commits where it stopped and leaves.\n";

enum from_kind { FROM_DEFAULT, FROM_BEGINNING, FROM_END, FROM_OFFSET, FROM_TIME };

struct consume_args {
	bool help, quiet, exit_at_end;
	const char *bootstrap;
	const char **topics;          /* owned array, borrowed strings */
	size_t n_topics;
	int32_t *partitions;          /* owned */
	size_t n_partitions;
	const char *group;
	const char *format;
	int64_t count;                /* -1 = no limit */
	enum from_kind from;
	int64_t from_value;
	int timeout_ms;
	cl_consumer_conf conf;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("rewind consume: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CMD_EXIT_ERROR;
}

static bool parse_i64(const char *s, int64_t lo, int64_t *out)
{
	long long v;
	if (!cmd_parse_ll(s, lo, INT64_MAX, &v))
		return false;
	*out = v;
	return true;
}

static int parse_from(const char *s, struct consume_args *a)
{
	if (strcmp(s, "beginning") == 0 || strcmp(s, "earliest") == 0) {
		a->from = FROM_BEGINNING;
	} else if (strcmp(s, "end") == 0 || strcmp(s, "latest") == 0) {
		a->from = FROM_END;
	} else if (s[0] == '@') {
		a->from = FROM_TIME;
		if (!parse_i64(s + 1, 0, &a->from_value) &&
		    cmd_parse_iso8601(s + 1, &a->from_value) < 0)
			return fail("--from '%s': after '@' give ms since the epoch or an ISO 8601 "
				    "time such as 2024-05-01T12:00:00Z", s);
	} else if (parse_i64(s, 0, &a->from_value)) {
		a->from = FROM_OFFSET;
	} else {
		return fail("--from '%s': give beginning, end, an offset (a number >= 0) or "
			    "@TIME", s);
	}
	return 0;
}

static int parse_partitions(const char *s, struct consume_args *a)
{
	const char *p = s;
	while (*p) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (errno || end == p || v < 0 || v > INT32_MAX || (*end && *end != ','))
			return fail("--partition '%s': give partition numbers separated by commas, "
				    "e.g. 0,2", s);
		int32_t *n = realloc(a->partitions, (a->n_partitions + 1) * sizeof *n);
		if (n == NULL)
			return fail("out of memory");
		a->partitions = n;
		a->partitions[a->n_partitions++] = (int32_t)v;
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int set_int(const char *key, const char *v, int *out)
{
	int64_t x;
	if (!parse_i64(v, 0, &x) || x > INT_MAX)
		return fail("-X %s=%s: give a whole number >= 0", key, v);
	*out = (int)x;
	return 0;
}

static int parse_x(const char *kv, struct consume_args *a)
{
	const char *eq = strchr(kv, '=');
	if (eq == NULL || eq == kv)
		return fail("-X '%s': give KEY=VALUE", kv);
	char key[64];
	snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
	const char *v = eq + 1;
	cl_consumer_conf *c = &a->conf;
	if (strcmp(key, "session.timeout.ms") == 0)
		return set_int(key, v, &c->session_timeout_ms);
	if (strcmp(key, "heartbeat.interval.ms") == 0)
		return set_int(key, v, &c->heartbeat_interval_ms);
	if (strcmp(key, "max.poll.interval.ms") == 0)
		return set_int(key, v, &c->max_poll_interval_ms);
	if (strcmp(key, "auto.commit.interval.ms") == 0)
		return set_int(key, v, &c->auto_commit_interval_ms);
	if (strcmp(key, "fetch.min.bytes") == 0)
		return set_int(key, v, &c->fetch_min_bytes);
	if (strcmp(key, "fetch.max.wait.ms") == 0)
		return set_int(key, v, &c->fetch_max_wait_ms);
	if (strcmp(key, "max.partition.fetch.bytes") == 0)
		return set_int(key, v, &c->max_partition_fetch_bytes);
	if (strcmp(key, "fetch.max.bytes") == 0)
		return set_int(key, v, &c->fetch_max_bytes);
	if (strcmp(key, "client.id") == 0) {
		c->client_id = v;
		return 0;
	}
	if (strcmp(key, "enable.auto.commit") == 0) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			return fail("-X %s=%s: give true or false", key, v);
		c->enable_auto_commit = strcmp(v, "true") == 0;
		return 0;
	}
	if (strcmp(key, "auto.offset.reset") == 0) {
		if (strcmp(v, "earliest") == 0)
			c->auto_offset_reset = CL_RESET_EARLIEST;
		else if (strcmp(v, "latest") == 0)
			c->auto_offset_reset = CL_RESET_LATEST;
		else if (strcmp(v, "error") == 0 || strcmp(v, "none") == 0)
			c->auto_offset_reset = CL_RESET_ERROR;
		else
			return fail("-X %s=%s: give earliest, latest or error", key, v);
		return 0;
	}
	if (strcmp(key, "partition.assignment.strategy") == 0) {
		int as = cl_assignor_parse(v);
		if (as < 0)
			return fail("-X %s=%s: give range or roundrobin", key, v);
		c->assignor = (enum cl_assignor)as;
		return 0;
	}
	return fail("-X '%s': unknown setting (see 'rewind consume --help')", key);
}

/* The value of the option at argv[*i] (cmd_opt_value under the name the
 * user typed); NULL after a message when there is none. */
static const char *value_of(int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
	char name[64], err[128];
	snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
	const char *v = cmd_opt_value(argc, argv, i, name, err, sizeof err);
	if (v == NULL)
		fail("%s (see 'rewind consume --help')", err);
	return v;
}

static bool is_opt(const char *arg, const char *shrt, const char *lng)
{
	return (shrt && strcmp(arg, shrt) == 0) || cmd_is_opt(arg, lng);
}

static int parse_args(int argc, char **argv, struct consume_args *a)
{
	memset(a, 0, sizeof *a);
	cl_consumer_conf_init(&a->conf);
	a->bootstrap = "localhost:9092";
	a->format = CONSUME_DEFAULT_FORMAT;
	a->count = -1;
	a->topics = calloc((size_t)argc, sizeof *a->topics);
	if (a->topics == NULL)
		return fail("out of memory");
	const char *v;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			a->help = true;
			return 0;
		} else if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
			a->quiet = true;
		} else if (strcmp(arg, "-e") == 0 || strcmp(arg, "--exit-at-end") == 0) {
			a->exit_at_end = true;
		} else if (is_opt(arg, "-b", "--bootstrap") || cmd_is_opt(arg, "--bootstrap-server")) {
			if ((v = value_of(argc, argv, &i)) == NULL)
				return -1;
			a->bootstrap = v;
		} else if (is_opt(arg, "-o", "--from")) {
			if ((v = value_of(argc, argv, &i)) == NULL ||
			    parse_from(v, a) != 0)
				return -1;
		} else if (is_opt(arg, "-p", "--partition")) {
			if ((v = value_of(argc, argv, &i)) == NULL ||
			    parse_partitions(v, a) != 0)
				return -1;
		} else if (is_opt(arg, "-G", "--group")) {
			if ((v = value_of(argc, argv, &i)) == NULL)
				return -1;
			if (*v == '\0')
				return fail("--group: the group name is empty");
			a->group = v;
		} else if (is_opt(arg, NULL, "--assignor")) {
			if ((v = value_of(argc, argv, &i)) == NULL)
				return -1;
			int as = cl_assignor_parse(v);
			if (as < 0)
				return fail("--assignor '%s': give range or roundrobin", v);
			a->conf.assignor = (enum cl_assignor)as;
		} else if (is_opt(arg, "-c", "--count")) {
			if ((v = value_of(argc, argv, &i)) == NULL)
				return -1;
			if (!parse_i64(v, 0, &a->count))
				return fail("--count '%s': give a whole number >= 0", v);
		} else if (is_opt(arg, "-f", "--format")) {
			if ((v = value_of(argc, argv, &i)) == NULL)
				return -1;
			a->format = v;
		} else if (strcmp(arg, "-X") == 0 || strncmp(arg, "-X", 2) == 0) {
			if (arg[2])
				v = arg + 2;
			else if ((v = value_of(argc, argv, &i)) == NULL)
				return -1;
			if (parse_x(v, a) != 0)
				return -1;
		} else if (is_opt(arg, NULL, "--timeout")) {
			int64_t t;
			if ((v = value_of(argc, argv, &i)) == NULL)
				return -1;
			if (!parse_i64(v, 1, &t) || t > INT_MAX)
				return fail("--timeout '%s': give milliseconds > 0", v);
			a->timeout_ms = (int)t;
		} else if (arg[0] == '-' && arg[1] != '\0') {
			return fail("unknown option '%s' (see 'rewind consume --help')", arg);
		} else {
			a->topics[a->n_topics++] = arg;
		}
	}
	if (a->n_topics == 0)
		return fail("no topic given: rewind consume TOPIC... (see --help)");
	if (a->group && a->n_partitions)
		return fail("--partition and --group do not go together: the group decides "
			    "who reads which partition");
	if (a->group && (a->from == FROM_OFFSET || a->from == FROM_TIME))
		return fail("--from with an offset or a time does not go with --group (a group "
			    "starts where it committed); reset the group's offsets with 'rewind "
			    "groups reset-offsets' instead");
	if (a->n_partitions && a->n_topics > 1)
		return fail("--partition needs exactly one topic");
	return 0;
}

/* --------------------------------------------------------------- running */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* The partitions to assign (without a group), checked against metadata. */
static int plan_assignment(cl_client *cl, const struct consume_args *a, cl_consumer_tp **out,
			   size_t *nout)
{
	cl_metadata *md = NULL;
	cl_consumer_tp *tps = NULL;
	size_t n = 0;
	int rc = CMD_EXIT_ERROR;

	if (cl_metadata_get(cl, a->topics, a->n_topics, &md) < 0)
		return fail("reading the topics' metadata: %s", cl_client_errmsg(cl));
	for (size_t i = 0; i < a->n_topics; i++) {
		const cl_topic_info *t = cl_metadata_topic(md, a->topics[i]);
		if (t == NULL || t->error == 3) {
			fail("topic '%s' does not exist (UNKNOWN_TOPIC_OR_PARTITION); 'rewind topics "
			     "list' shows the topics there are", a->topics[i]);
			goto out;
		}
		if (t->error != 0) {
			fail("topic '%s': %s (%s)", a->topics[i], cl_kafka_err_name(t->error)
			     ? cl_kafka_err_name(t->error) : "error", cl_kafka_err_desc(t->error));
			goto out;
		}
		if (a->group)
			continue;
		size_t want = a->n_partitions ? a->n_partitions : t->n_partitions;
		cl_consumer_tp *nt = realloc(tps, (n + want) * sizeof *nt);
		if (nt == NULL) {
			fail("out of memory");
			goto out;
		}
		tps = nt;
		for (size_t j = 0; j < want; j++) {
			int32_t p = a->n_partitions ? a->partitions[j] : t->partitions[j].partition;
			if ((size_t)p >= t->n_partitions) {
				fail("topic '%s' has no partition %d (it has %zu: 0..%zu)", a->topics[i],
				     p, t->n_partitions, t->n_partitions - 1);
				goto out;
			}
			cl_consumer_tp *e = &tps[n++];
			e->topic = a->topics[i];
			e->partition = p;
			e->timestamp = 0;
			switch (a->from) {
			case FROM_BEGINNING: e->offset = CL_OFFSET_EARLIEST; break;
			case FROM_OFFSET: e->offset = a->from_value; break;
			case FROM_TIME:
				e->offset = CL_OFFSET_AT_TIME;
				e->timestamp = a->from_value;
				break;
			default: e->offset = CL_OFFSET_LATEST; break;
			}
		}
	}
	*out = tps;
	*nout = n;
	tps = NULL;
	rc = 0;
out:
	free(tps);
	cl_metadata_free(md);
	return rc;
}

/* An offset beyond a partition's end would be out of range: start at the
 * end instead; one below its start starts at its start. Two ListOffsets
 * rounds: one request cannot ask the same partition twice. */
static int clamp_offsets(cl_client *cl, cl_consumer_tp *tps, size_t n)
{
	cl_list_offset *lo = calloc(n, sizeof *lo), *hi = calloc(n, sizeof *hi);
	int rc = 0;
	if (lo == NULL || hi == NULL) {
		rc = fail("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		lo[i] = (cl_list_offset){ .topic = tps[i].topic, .partition = tps[i].partition,
					  .timestamp = CL_OFFSET_EARLIEST };
		hi[i] = lo[i];
		hi[i].timestamp = CL_OFFSET_LATEST;
	}
	if (cl_list_offsets(cl, lo, n) < 0 || cl_list_offsets(cl, hi, n) < 0) {
		rc = fail("reading the partitions' offsets: %s", cl_client_errmsg(cl));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (lo[i].error || hi[i].error)
			continue; /* the consumer will say */
		if (tps[i].offset < lo[i].offset)
			tps[i].offset = lo[i].offset;
		if (tps[i].offset > hi[i].offset)
			tps[i].offset = hi[i].offset;
	}
out:
	free(lo);
	free(hi);
	return rc;
}

int cmd_consume(int argc, char **argv)
{
	struct consume_args a;
	struct consume_fmt fmt = { 0 };
	cl_client *cl = NULL;
	cl_consumer *cons = NULL;
	cl_consumer_tp *tps = NULL;
	size_t n_tps = 0;
	char err[512];
	int rc;

	if (parse_args(argc, argv, &a) != 0) {
		rc = CMD_EXIT_ERROR;
		goto out;
	}
	if (a.help) {
		fputs(help, stdout);
		rc = CMD_EXIT_OK;
		goto out;
	}
	if (cmd_consume_format_parse(a.format, &fmt, err, sizeof err) < 0) {
		rc = fail("--format: %s", err);
		goto out;
	}
	a.conf.bootstrap = a.bootstrap;
	a.conf.group_id = a.group;
	if (a.conf.client_id == NULL)
		a.conf.client_id = "rewind-consume";
	if (a.timeout_ms) {
		a.conf.request_timeout_ms = a.timeout_ms;
		a.conf.connect_timeout_ms = a.timeout_ms;
	}
	if (a.group && a.from == FROM_BEGINNING)
		a.conf.auto_offset_reset = CL_RESET_EARLIEST;
	else if (a.group && a.from == FROM_END)
		a.conf.auto_offset_reset = CL_RESET_LATEST;

	cl_opts opts = { .client_id = a.conf.client_id, .request_timeout_ms = a.timeout_ms,
			 .connect_timeout_ms = a.timeout_ms ? a.timeout_ms : 5000 };
	if (cmd_client_open(a.bootstrap, &opts, &cl, err, sizeof err) < 0) {
		rc = fail("%s", err);
		goto out;
	}
	if ((rc = plan_assignment(cl, &a, &tps, &n_tps)) != 0)
		goto out;
	if (a.from == FROM_OFFSET && (rc = clamp_offsets(cl, tps, n_tps)) != 0)
		goto out;
	cl_client_free(cl);
	cl = NULL;

	if (cl_consumer_new(&a.conf, &cons, err, sizeof err) < 0) {
		rc = fail("cannot start a consumer: %s", err);
		goto out;
	}
	if (a.group)
		rc = cl_consumer_subscribe(cons, a.topics, a.n_topics);
	else
		rc = cl_consumer_assign(cons, tps, n_tps);
	if (rc < 0) {
		rc = fail("cannot start consuming: %s", cl_strerror(rc));
		goto out;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int64_t consumed = 0;
	rc = CMD_EXIT_OK;
	while (!stop_signal && (a.count < 0 || consumed < a.count)) {
		const cl_message *m;
		size_t max = 1000;
		if (a.count >= 0 && (uint64_t)(a.count - consumed) < max)
			max = (size_t)(a.count - consumed);
		int n = cl_consumer_poll(cons, 200, &m, max);
		if (n < 0) {
			rc = fail("%s", cl_consumer_errmsg(cons));
			break;
		}
		bool write_failed = false;
		for (int i = 0; i < n && !write_failed; i++) {
			if (cmd_consume_format_write(&fmt, stdout, m[i].topic, m[i].partition,
						     &m[i].rec) < 0)
				write_failed = true;
			else
				consumed++;
		}
		if (n > 0 && fflush(stdout) == EOF)
			write_failed = true;
		if (write_failed) {
			/* A closed pipe (| head) is a normal way to stop. */
			if (errno != EPIPE)
				rc = fail("writing the records: %s", strerror(errno));
			break;
		}
		if (a.exit_at_end && n == 0 && cl_consumer_at_end(cons))
			break;
	}
	int crc = cl_consumer_close(cons);
	cons = NULL;
	if (crc < 0 && rc == CMD_EXIT_OK)
		fprintf(stderr, "rewind consume: the last commit failed: %s\n", cl_strerror(crc));
	if (!a.quiet)
		fprintf(stderr, "consumed %" PRId64 " record%s\n", consumed, consumed == 1 ? "" : "s");
out:
	cl_consumer_close(cons);
	cl_client_free(cl);
	cmd_consume_format_free(&fmt);
	free(tps);
	free(a.topics);
	free(a.partitions);
	return rc;
}
