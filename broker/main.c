/*
 * main.c -- the rewind-broker program.
 *
 *   rewind-broker [--config FILE] [--set key=value]... [--print-config]
 *
 * Loads the configuration (FILE, default conf/broker.conf when it exists),
 * applies --set overrides in order, opens and recovers every partition log
 * under log.dirs, runs retention on a timer, and on SIGTERM or SIGINT closes
 * every log cleanly: in-flight syncs finish, indexes and the clean-shutdown
 * markers are written, so the next start skips recovery.
 *
 * The event loop is libevent's; the Kafka listener and its reactor threads
 * join it in the broker issue.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/br_int.h"

#define DEFAULT_CONFIG "conf/broker.conf"

struct broker {
	br_config cfg;
	st_store *store;
	br_registry registry;
	struct event_base *base;
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	br_registry_enforce_retention(&b->registry, wall_ms());
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
	struct broker b;
	const char *config_path = NULL;
	char **sets = calloc((size_t)argc, sizeof(char *));
	int n_sets = 0, opt, rc = 1, err;
	bool print_config = false, registry_open = false;
	char errbuf[1024];
	st_store_options so;
	struct event *sigterm = NULL, *sigint = NULL, *retention = NULL;
	struct timeval tv;

	memset(&b, 0, sizeof(b));
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

	br_config_init(&b.cfg);
	if (!config_path && access(DEFAULT_CONFIG, R_OK) == 0)
		config_path = DEFAULT_CONFIG;
	if (config_path && br_config_load(&b.cfg, config_path, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "rewind-broker: %s\n", errbuf);
		goto out;
	}
	for (int i = 0; i < n_sets; i++) {
		if (br_config_set(&b.cfg, sets[i], errbuf, sizeof(errbuf)) < 0) {
			fprintf(stderr, "rewind-broker: --set %s\n", errbuf);
			goto out;
		}
	}
	if (print_config) {
		br_config_dump(&b.cfg, stdout);
		rc = 0;
		goto out;
	}

	st_store_options_default(&so);
	so.use_io_uring = so.use_io_uring && b.cfg.io_uring;
	so.log = br__store_log;
	if ((err = st_store_open(&so, &b.store)) < 0) {
		br__logf(ST_LOG_ERROR, "cannot start the storage writer: %s", st_strerror(err));
		goto out;
	}
	if (br_registry_open(&b.registry, b.store, &b.cfg, wall_ms()) < 0) {
		br__logf(ST_LOG_ERROR, "start-up stopped: a partition could not be opened (see above)");
		goto out;
	}
	registry_open = true;
	br__logf(ST_LOG_INFO, "rewind-broker node %d: %zu partitions in %d log dirs (config %s, writer %s)",
		 b.cfg.node_id, b.registry.n_parts, b.cfg.n_log_dirs,
		 config_path ? config_path : "built-in defaults",
		 st_store_uses_io_uring(b.store) ? "io_uring" : "pwrite");

	if (!(b.base = event_base_new())) {
		br__logf(ST_LOG_ERROR, "cannot create the event loop");
		goto out;
	}
	sigterm = evsignal_new(b.base, SIGTERM, on_signal, &b);
	sigint = evsignal_new(b.base, SIGINT, on_signal, &b);
	retention = event_new(b.base, -1, EV_PERSIST, on_retention_timer, &b);
	if (!sigterm || !sigint || !retention) {
		br__logf(ST_LOG_ERROR, "cannot create events");
		goto out;
	}
	tv.tv_sec = b.cfg.log_retention_check_interval_ms / 1000;
	tv.tv_usec = (b.cfg.log_retention_check_interval_ms % 1000) * 1000;
	evsignal_add(sigterm, NULL);
	evsignal_add(sigint, NULL);
	event_add(retention, &tv);
	br__logf(ST_LOG_INFO, "ready");
	event_base_dispatch(b.base);
	rc = 0;

out:
	if (retention)
		event_free(retention);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (b.base)
		event_base_free(b.base);
	if (registry_open) {
		br_registry_close(&b.registry);
		br__logf(ST_LOG_INFO, "all partitions closed cleanly");
	}
	if (b.store)
		st_store_close(b.store);
	br_config_free(&b.cfg);
	free(sets);
	return rc;
}
