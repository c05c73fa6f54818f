/*
 * server.c -- the Kafka listeners: parse `listeners`, bind, accept, and
 * hand each connection to a reactor, round-robin.
 *
 * Accepting runs on main's event loop (which also handles signals), so a
 * reactor busy with a big fetch never delays new clients. A new socket is
 * made non-blocking with TCP_NODELAY (Kafka's responses are small and
 * latency-bound; Nagle would hold them) and posted to the next reactor,
 * which builds its br_conn on its own thread.
 *
 * max.connections is enforced here: the connection count (a metrics gauge,
 * decremented by conn.c when a connection closes) is only ever raised by
 * this thread, so check-then-increment cannot overshoot. A refused client is
 * closed at once with one log line.
 *
 * Only PLAINTEXT listeners exist; any other security protocol is refused at
 * start, naming the listener. A listener's protocol is its name, or its
 * entry in listener.security.protocol.map, as in Kafka; the listeners that
 * controller.listener.names names (a KRaft controller's) are not opened:
 * this one node is broker and controller both.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/br_int.h"

#define MAX_LISTENERS 8

struct listener {
	int fd;
	struct event *ev;
	char name[96];                /* host:port as bound */
};

struct br_server {
	br_broker *b;                 /* borrowed */
	struct event_base *base;      /* main's loop, borrowed */
	struct listener ls[MAX_LISTENERS];
	int n_ls;
	struct event *resume_ev;      /* re-arms accepting after EMFILE */
	unsigned next;                /* round-robin cursor */
};

struct handoff {
	br_reactor *r;
	int fd;
	char peer[64];
};

static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	} else {
		snprintf(buf, len, "unknown peer");
	}
}

static void handoff_task(void *arg)
{
	struct handoff *h = arg;

	/* On failure br__conn_open closed the fd and fixed the count. */
	if (br__conn_open(h->r, h->fd, h->peer) < 0)
		br__logf(ST_LOG_WARN, "closing connection from %s: out of memory", h->peer);
	free(h);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	br_server *s = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < s->n_ls; i++)
		event_add(s->ls[i].ev, NULL);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	br_server *s = arg;
	br_broker *b = s->b;

	(void)what;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int one = 1, fd;
		struct handoff *h;
		char peer[64];

		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: pause accepting for 100 ms
				 * rather than spin on a listener that stays
				 * readable. */
				struct timeval tv = { 0, 100000 };

				br__logf(ST_LOG_WARN, "accept: %s; pausing new connections for 100 ms",
					 strerror(errno));
				for (int i = 0; i < s->n_ls; i++)
					event_del(s->ls[i].ev);
				event_add(s->resume_ev, &tv);
				return;
			}
			br__logf(ST_LOG_WARN, "accept: %s", strerror(errno));
			return;
		}
		peer_name(&ss, peer, sizeof(peer));
		if (br_metrics_connections(b->metrics, 0) >= b->cfg.max_connections) {
			br__logf(ST_LOG_INFO, "refusing connection from %s: max.connections (%d) reached",
				 peer, b->cfg.max_connections);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!(h = malloc(sizeof(*h)))) {
			br__logf(ST_LOG_WARN, "refusing connection from %s: out of memory", peer);
			close(fd);
			continue;
		}
		h->r = b->reactors[s->next++ % (unsigned)b->n_reactors];
		h->fd = fd;
		snprintf(h->peer, sizeof(h->peer), "%s", peer);
		br_metrics_connections(b->metrics, +1);
		if (br_reactor_post(h->r, handoff_task, h) < 0) {
			br__logf(ST_LOG_WARN, "refusing connection from %s: out of memory", peer);
			br_metrics_connections(b->metrics, -1);
			close(fd);
			free(h);
		}
	}
}

/*
 * socket.send.buffer.bytes and socket.receive.buffer.bytes, when set (> 0),
 * on the listening socket: accepted connections inherit both, and a receive
 * buffer set before listen() also sets the window scale the handshake
 * offers. Left at -1 the kernel sizes and grows them itself.
 */
static int buffer_sizes_set(int fd, const br_config *cfg)
{
	int snd = cfg->socket_send_buffer_bytes, rcv = cfg->socket_receive_buffer_bytes;

	if (snd > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) < 0)
		return -1;
	if (rcv > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) < 0)
		return -1;
	return 0;
}

/*
 * Binds one listener "NAME://host:port" whose protocol is PLAINTEXT (host
 * may be empty for all interfaces, or [v6]); a controller listener is
 * skipped. 0, BR_ERR_CONFIG or -errno; logs the reason.
 */
static int listener_open(br_server *s, const char *spec, size_t len)
{
	struct listener *l = &s->ls[s->n_ls];
	char buf[256], host[200], port[16];
	const char *hp, *colon;
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, one = 1, err;

	if (len >= sizeof(buf) || s->n_ls == MAX_LISTENERS) {
		br__logf(ST_LOG_ERROR, "listeners: '%.*s' is too long or one too many", (int)len, spec);
		return BR_ERR_CONFIG;
	}
	memcpy(buf, spec, len);
	buf[len] = '\0';
	const char *sep = strstr(buf, "://");
	char proto[32];
	if (!sep || sep == buf) {
		br__logf(ST_LOG_ERROR, "listeners: '%s' is not NAME://host:port", buf);
		return BR_ERR_CONFIG;
	}
	if (br_config_listener_is_controller(&s->b->cfg, buf, (size_t)(sep - buf))) {
		br__logf(ST_LOG_INFO, "listener %s: not opened: controller.listener.names names it, "
			 "and this one node is broker and controller both", buf);
		return 0;
	}
	br_config_listener_protocol(&s->b->cfg, buf, (size_t)(sep - buf), proto, sizeof(proto));
	if (strcmp(proto, "PLAINTEXT") != 0) {
		br__logf(ST_LOG_ERROR, "listeners: '%s' is not supported: its protocol is %s, and "
			 "only PLAINTEXT listeners are", buf, proto);
		return BR_ERR_CONFIG;
	}
	hp = sep + 3;
	colon = strrchr(hp, ':');
	if (!colon || colon[1] == '\0' || strlen(colon + 1) >= sizeof(port) ||
	    (size_t)(colon - hp) >= sizeof(host)) {
		br__logf(ST_LOG_ERROR, "listeners: '%s' has no port (PLAINTEXT://host:port)", buf);
		return BR_ERR_CONFIG;
	}
	memcpy(host, hp, (size_t)(colon - hp));
	host[colon - hp] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((err = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai)) != 0) {
		br__logf(ST_LOG_ERROR, "listeners: cannot resolve '%s': %s", buf, gai_strerror(err));
		return BR_ERR_CONFIG;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    buffer_sizes_set(fd, &s->b->cfg) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		err = -errno;
		br__logf(ST_LOG_ERROR, "cannot listen on %s: %s", buf, strerror(-err));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return err;
	}
	freeaddrinfo(ai);
	if (!(l->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_accept, s)) ||
	    event_add(l->ev, NULL) < 0) {
		if (l->ev)
			event_free(l->ev);
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	peer_name(&ss, l->name, sizeof(l->name));
	s->n_ls++;
	br__logf(ST_LOG_INFO, "listening on %s", l->name);
	return 0;
}

static void stop_accepting(br_server *s)
{
	for (int i = 0; i < s->n_ls; i++) {
		event_free(s->ls[i].ev);
		close(s->ls[i].fd);
	}
	s->n_ls = 0;
	if (s->resume_ev) {
		event_free(s->resume_ev);
		s->resume_ev = NULL;
	}
}

/*
 * A listener on port 0 got a port from the kernel; clients must be told
 * that one in Metadata, so with no advertised.listeners of their own the
 * bound addresses become them. Runs before any reactor serves, while the
 * config may still change.
 */
static int advertise_bound(br_server *s)
{
	size_t cap = (size_t)s->n_ls * (sizeof(s->ls[0].name) + 16) + 1, n = 0;
	char *v = malloc(cap);

	if (!v)
		return -ENOMEM;
	v[0] = '\0';
	for (int i = 0; i < s->n_ls; i++)
		n += (size_t)snprintf(v + n, cap - n, "%sPLAINTEXT://%s", i ? "," : "", s->ls[i].name);
	free(s->b->cfg.advertised_listeners);
	s->b->cfg.advertised_listeners = v;
	return 0;
}

static int cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

int br_server_start(br_broker *b, struct event_base *base, br_server **out)
{
	br_server *s = calloc(1, sizeof(*s));
	int n = b->cfg.num_network_threads > 0 ? b->cfg.num_network_threads : cpu_count();
	const char *p;
	int err = -ENOMEM;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->b = b;
	if (!(b->reactors = calloc((size_t)n, sizeof(br_reactor *))))
		goto fail;
	s->base = base;
	if (!(s->resume_ev = evtimer_new(base, on_resume, s)))
		goto fail;
	for (int i = 0; i < n; i++) {
		if ((err = br__reactor_new(b, i, &b->reactors[i])) < 0)
			goto fail;
		b->n_reactors++;
		if ((err = br__reactor_start(b->reactors[i])) < 0) {
			br__logf(ST_LOG_ERROR, "cannot start reactor thread %d: %s", i, strerror(-err));
			goto fail;
		}
	}
	/* The admin thread: a reactor without connections for blocking APIs. */
	if ((err = br__reactor_new(b, n, &b->admin)) < 0)
		goto fail;
	if ((err = br__reactor_start(b->admin)) < 0) {
		br__logf(ST_LOG_ERROR, "cannot start the admin thread: %s", strerror(-err));
		goto fail;
	}
	/* The groups thread: owns every consumer group. Its first task loads
	 * __consumer_offsets, so no group request is served before that. */
	if ((err = br__reactor_new(b, n + 1, &b->groups_thread)) < 0)
		goto fail;
	if ((err = br__reactor_start(b->groups_thread)) < 0) {
		br__logf(ST_LOG_ERROR, "cannot start the groups thread: %s", strerror(-err));
		goto fail;
	}
	if (b->groups && (err = br_groups_start(b->groups)) < 0)
		goto fail;
	p = b->cfg.listeners ? b->cfg.listeners : "";
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len && (err = listener_open(s, p, len)) < 0)
			goto fail;
		p = e ? e + 1 : p + strlen(p);
	}
	if (s->n_ls == 0) {
		br__logf(ST_LOG_ERROR, "listeners is empty: nothing to serve Kafka clients on");
		err = BR_ERR_CONFIG;
		goto fail;
	}
	if ((!b->cfg.advertised_listeners || !b->cfg.advertised_listeners[0]) &&
	    strstr(b->cfg.listeners, ":0") && (err = advertise_bound(s)) < 0)
		goto fail;
	br__logf(ST_LOG_INFO, "%d network threads", b->n_reactors);
	*out = s;
	return 0;
fail:
	if (s) {
		stop_accepting(s);
		br_server_free(s, 0);
	}
	return err;
}

/* Polls cond over every reactor until true or timeout_ms passed. */
static void wait_reactors(br_server *s, bool requests_too, int64_t timeout_ms)
{
	int64_t deadline = br__now_ms() + timeout_ms;
	struct timespec ts = { 0, 10000000 };

	for (;;) {
		bool all = true;

		for (int i = 0; i < s->b->n_reactors; i++)
			all = all && br__reactor_drained(s->b->reactors[i], requests_too);
		if (all || br__now_ms() >= deadline)
			return;
		nanosleep(&ts, NULL);
	}
}

/*
 * Runs what the admin thread has queued, then stops it. Blocking handlers
 * use the topics layer, so this comes before br_topics_close(); their
 * answers are posted to the network reactors, which still run.
 */
static void stop_admin(br_broker *b)
{
	if (b->admin) {
		br__reactor_free(b->admin);
		b->admin = NULL;
	}
}

void br_server_quiesce(br_server *s, int64_t timeout_ms)
{
	stop_accepting(s);
	for (int i = 0; i < s->b->n_reactors; i++)
		br__reactor_quiesce(s->b->reactors[i]);
	/* Parked JoinGroup and SyncGroup requests would otherwise hold the
	 * drain for a whole rebalance timeout. */
	if (s->b->groups)
		br_groups_quiesce(s->b->groups);
	wait_reactors(s, true, timeout_ms);
	stop_admin(s->b);
}

/*
 * Runs what the groups thread has queued (storage callbacks of the last
 * __consumer_offsets appends post there, and its answers post to the
 * network reactors), then stops it: so it goes after br_topics_close() and
 * before the network reactors.
 */
static void stop_groups_thread(br_broker *b)
{
	if (b->groups_thread) {
		/* Its timers must go before its event base does (a no-op
		 * when br_server_quiesce() already stopped the groups). */
		if (b->groups)
			br_groups_quiesce(b->groups);
		br__reactor_free(b->groups_thread);
		b->groups_thread = NULL;
	}
}

void br_server_free(br_server *s, int64_t timeout_ms)
{
	br_broker *b;

	if (!s)
		return;
	b = s->b;
	stop_accepting(s);
	if (b && b->reactors) {
		if (timeout_ms > 0) {
			for (int i = 0; i < b->n_reactors; i++)
				br__reactor_quiesce(b->reactors[i]);
			wait_reactors(s, true, timeout_ms);
		}
		stop_groups_thread(b);
		for (int i = 0; i < b->n_reactors; i++)
			br__reactor_free(b->reactors[i]);
		free(b->reactors);
		b->reactors = NULL;
		b->n_reactors = 0;
	}
	if (b) {
		stop_admin(b);
		stop_groups_thread(b);
	}
	free(s);
}
