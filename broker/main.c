/*
 * main.c -- the rewind-broker program.
 *
 *   rewind-broker [--config FILE] [--set key=value]... [--print-config]
 *
 * Start-up, in order: configuration (FILE, default conf/broker.conf when it
 * exists, then --set overrides) -> the storage engine (st_store: the writer
 * thread) -> the topics layer (opens and recovers every partition under
 * log.dirs) -> the reactor threads and the Kafka listeners -> /metrics.
 * "ready" is logged only when clients can connect.
 *
 * This thread then runs main's libevent loop: accepting (server.c),
 * signals, and the retention timer (retention blocks on small file I/O, so
 * it runs here and never on a reactor).
 *
 * Shutdown on SIGTERM/SIGINT, in the reverse order: stop accepting and
 * reading; let requests in flight finish and their responses go out (an
 * acks=all produce waits for its sync; a long-poll fetch for its timer);
 * close connections; stop /metrics; close every log (in-flight syncs
 * finish, indexes and the clean-shutdown markers are written, so the next
 * start skips recovery); stop the reactors; stop the writer.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/br_int.h"

#define DEFAULT_CONFIG "conf/broker.conf"

/* How long shutdown waits for requests in flight: longer than a
 * long-poll fetch's usual max_wait (500 ms in librdkafka and kafka-python)
 * and a group-committed sync. */
#define SHUTDOWN_DRAIN_MS 5000

struct broker {
	br_broker b;
	struct event_base *base;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rewind-broker [--config FILE] [--set key=value]... [--print-config]\n"
		"\n"
		"  -c, --config FILE   Kafka-style key=value file (default " DEFAULT_CONFIG
		" if present)\n"
		"  -s, --set K=V       override one key; repeatable, applied after the file\n"
		"      --print-config  print the effective configuration and exit\n"
		"  -h, --help          this text\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct broker *b = arg;
	(void)what;
	br__logf(ST_LOG_INFO, "received %s, shutting down", strsignal((int)sig));
	event_base_loopbreak(b->base);
}

static void on_retention_timer(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	(void)fd;
	(void)what;
	br_topics_enforce_retention(b->b.topics, br__wall_ms());
}

/* One line per Kafka key the configuration set that changes nothing here. */
static void log_inert_key(const char *name, const char *why, void *arg)
{
	(void)arg;
	br__logf(ST_LOG_INFO, "%s: accepted as in Kafka, with no effect in rewind: %s", name, why);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "print-config", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct broker m;
	br_broker *b = &m.b;
	const char *config_path = NULL;
	char **sets = calloc((size_t)argc, sizeof(char *));
	int n_sets = 0, opt, rc = 1, err;
	bool print_config = false;
	char errbuf[1024];
	st_store_options so;
	struct event *sigterm = NULL, *sigint = NULL, *retention = NULL;
	struct timeval tv;
	br_server *server = NULL;
	br_http *http = NULL;

	memset(&m, 0, sizeof(m));
	if (!sets) {
		fprintf(stderr, "rewind-broker: out of memory\n");
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 's': sets[n_sets++] = optarg; break;
		case 'p': print_config = true; break;
		case 'h': usage(stdout); free(sets); return 0;
		default: usage(stderr); free(sets); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rewind-broker: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		free(sets);
		return 2;
	}

	br_config_init(&b->cfg);
	if (!config_path && access(DEFAULT_CONFIG, R_OK) == 0)
		config_path = DEFAULT_CONFIG;
	if (config_path && br_config_load(&b->cfg, config_path, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "rewind-broker: %s\n", errbuf);
		goto out;
	}
	for (int i = 0; i < n_sets; i++) {
		if (br_config_set(&b->cfg, sets[i], errbuf, sizeof(errbuf)) < 0) {
			fprintf(stderr, "rewind-broker: --set %s\n", errbuf);
			goto out;
		}
	}
	if (print_config) {
		br_config_dump(&b->cfg, stdout);
		rc = 0;
		goto out;
	}

	/* A client vanishing mid-write must be an EPIPE on that connection,
	 * not the end of the process. */
	signal(SIGPIPE, SIG_IGN);
	st_store_options_default(&so);
	so.use_io_uring = so.use_io_uring && b->cfg.io_uring;
	so.log = br__store_log;
	if ((err = st_store_open(&so, &b->store)) < 0) {
		br__logf(ST_LOG_ERROR, "cannot start the storage writer: %s", st_strerror(err));
		goto out;
	}
	if (b->cfg.log_cleaner_enable) {
		st_cleaner_options co;
		st_cleaner_options_default(&co);
		co.threads = b->cfg.log_cleaner_threads;
		co.io_max_bytes_per_second = b->cfg.log_cleaner_io_max_bytes_per_second;
		co.dedupe_buffer_bytes = (size_t)b->cfg.log_cleaner_dedupe_buffer_size;
		co.backoff_ms = b->cfg.log_cleaner_backoff_ms;
		if ((err = st_cleaner_start(b->store, &co, &b->cleaner)) < 0) {
			br__logf(ST_LOG_ERROR, "cannot start the log cleaner: %s (check log.cleaner.threads "
				 "and log.cleaner.dedupe.buffer.size)", st_strerror(err));
			goto out;
		}
	}
	if (br_metrics_new(&b->metrics) < 0) {
		br__logf(ST_LOG_ERROR, "out of memory");
		goto out;
	}
	if (br_topics_open(b, &b->topics) < 0) {
		br__logf(ST_LOG_ERROR, "start-up stopped: a partition could not be opened (see above)");
		goto out;
	}
	if (br_groups_new(b, &b->groups) < 0) {
		br__logf(ST_LOG_ERROR, "out of memory");
		goto out;
	}
	br__logf(ST_LOG_INFO, "rewind-broker node %d: cluster %s, %d log dirs (config %s, writer %s)",
		 b->cfg.node_id, b->cluster_id_str, b->cfg.n_log_dirs,
		 config_path ? config_path : "built-in defaults",
		 st_store_uses_io_uring(b->store) ? "io_uring" : "pwrite");
	br_config_inert_set(&b->cfg, log_inert_key, NULL);
	if (b->cfg.min_insync_replicas > BR_IN_SYNC_REPLICAS)
		br__logf(ST_LOG_WARN, "min.insync.replicas=%d: this node is its partitions' "
			 "only replica, so acks=all produce is refused (NOT_ENOUGH_REPLICAS) on every "
			 "topic that does not set it to 1", (int)b->cfg.min_insync_replicas);

	if (!(m.base = event_base_new())) {
		br__logf(ST_LOG_ERROR, "cannot create the event loop");
		goto out;
	}
	if (br_server_start(b, m.base, &server) < 0) {
		br__logf(ST_LOG_ERROR, "start-up stopped: the Kafka listener could not start (see above)");
		goto out;
	}
	if (br_http_start(b, &http) < 0) {
		br__logf(ST_LOG_ERROR, "start-up stopped: metrics.listener could not start (see above)");
		goto out;
	}
	sigterm = evsignal_new(m.base, SIGTERM, on_signal, &m);
	sigint = evsignal_new(m.base, SIGINT, on_signal, &m);
	retention = event_new(m.base, -1, EV_PERSIST, on_retention_timer, &m);
	if (!sigterm || !sigint || !retention) {
		br__logf(ST_LOG_ERROR, "cannot create events");
		goto out;
	}
	tv.tv_sec = b->cfg.log_retention_check_interval_ms / 1000;
	tv.tv_usec = (b->cfg.log_retention_check_interval_ms % 1000) * 1000;
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	event_add(retention, &tv);
	br__logf(ST_LOG_INFO, "ready");
	event_base_dispatch(m.base);
	rc = 0;

out:
	if (server)
		br_server_quiesce(server, SHUTDOWN_DRAIN_MS);
	br_http_stop(http);
	if (retention)
		event_free(retention);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	/* A pass in progress is abandoned (its log stays as it was) before the
	 * logs close. */
	st_cleaner_stop(b->cleaner);
	b->cleaner = NULL;
	if (b->topics) {
		/* Reactors still run: storage callbacks of the last appends
		 * post to them and free their (detached) requests. */
		br_topics_close(b->topics);
		b->topics = NULL;
		br__logf(ST_LOG_INFO, "all partitions closed cleanly");
	}
	br_server_free(server, 0);
	br_groups_free(b->groups);
	if (m.base)
		event_base_free(m.base);
	br_metrics_free(b->metrics);
	if (b->store)
		st_store_close(b->store);
	br_config_free(&b->cfg);
	free(sets);
	return rc;
}
