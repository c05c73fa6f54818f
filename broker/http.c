/*
 * http.c -- /metrics and /healthz over HTTP (libevent's evhttp), on
 * metrics.listener (host:port; empty turns it off).
 *
 * The server has its own thread and event loop, so a slow scraper never
 * sits in a reactor's way. Reads are atomics (metrics.c) and the topics
 * layer's br_topics_foreach (@locality any).
 *
 *   GET /metrics  Prometheus text format 0.0.4
 *   GET /healthz  200 "ok" while the broker serves
 *   anything else 404
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "broker/br_int.h"

struct br_http {
	br_broker *b;                 /* borrowed */
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	bool started;
	int stop_fd;                  /* eventfd: br_http_stop wakes the loop */
	struct event *stop_ev;
};

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	br_http *h = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(h->base);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	br_http *h = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);

	if (!out) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "only GET");
	} else if (strcmp(uri, "/metrics") == 0 || strncmp(uri, "/metrics?", 9) == 0) {
		br__metrics_render(h->b->metrics, h->b, out);
		evhttp_add_header(hdrs, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	} else if (strcmp(uri, "/healthz") == 0) {
		evbuffer_add_printf(out, "ok\n");
		evhttp_add_header(hdrs, "Content-Type", "text/plain");
		evhttp_send_reply(req, HTTP_OK, "OK", out);
	} else {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics or /healthz");
	}
	evbuffer_free(out);
}

static void *http_main(void *arg)
{
	br_http *h = arg;

	pthread_setname_np(pthread_self(), "rw-http");
	event_base_dispatch(h->base);
	return NULL;
}

int br_http_start(br_broker *b, br_http **out)
{
	const char *spec = b->cfg.metrics_listener;
	char host[200];
	const char *colon;
	br_http *h;
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[INET6_ADDRSTRLEN] = "?";
	int port;

	*out = NULL;
	if (!spec || !*spec)
		return 0;
	colon = strrchr(spec, ':');
	if (!colon || (size_t)(colon - spec) >= sizeof(host) || sscanf(colon + 1, "%d", &port) != 1 ||
	    port < 0 || port > 65535) {
		br__logf(ST_LOG_ERROR, "metrics.listener '%s' is not host:port", spec);
		return BR_ERR_CONFIG;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (!(h = calloc(1, sizeof(*h))))
		return -ENOMEM;
	h->b = b;
	h->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->stop_fd < 0 || !(h->base = event_base_new()) || !(h->http = evhttp_new(h->base)) ||
	    !(h->stop_ev = event_new(h->base, h->stop_fd, EV_READ, on_stop, h)) ||
	    event_add(h->stop_ev, NULL) < 0) {
		br_http_stop(h);
		return -ENOMEM;
	}
	evhttp_set_gencb(h->http, on_request, h);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	bs = evhttp_bind_socket_with_handle(h->http, host[0] ? host : "0.0.0.0", (uint16_t)port);
	if (!bs) {
		int err = errno ? -errno : -EADDRINUSE;

		br__logf(ST_LOG_ERROR, "cannot serve metrics on %s: %s", spec, strerror(-err));
		br_http_stop(h);
		return err;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	if (pthread_create(&h->thread, NULL, http_main, h) != 0) {
		br_http_stop(h);
		return -EAGAIN;
	}
	h->started = true;
	br__logf(ST_LOG_INFO, "metrics on http://%s:%d/metrics", addr, port);
	*out = h;
	return 0;
}

void br_http_stop(br_http *h)
{
	if (!h)
		return;
	if (h->started) {
		uint64_t one = 1;

		/* The broker does not turn on libevent's locking, so the loop
		 * is told to stop through its own event, never by touching
		 * the base from this thread. */
		if (write(h->stop_fd, &one, sizeof(one)) < 0)
			br__logf(ST_LOG_WARN, "metrics: cannot wake the HTTP thread: %s", strerror(errno));
		pthread_join(h->thread, NULL);
	}
	if (h->stop_ev)
		event_free(h->stop_ev);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	if (h->http)
		evhttp_free(h->http);
	if (h->base)
		event_base_free(h->base);
	free(h);
}
