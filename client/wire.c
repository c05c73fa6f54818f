/*
 * wire.c -- an asynchronous, pipelined connection to one broker, on a
 * cl_io loop.
 *
 * Life of a wire: CONNECTING (non-blocking connect, trying each resolved
 * address in turn) -> HANDSHAKE (ApiVersions, once more in the broker's
 * newest ApiVersions version if it refuses ours, as conn.c does) -> READY
 * -> BROKEN (any failure; final). Requests are accepted in every state but
 * BROKEN and wait in `queued`; a flush (the write event, also activated by
 * hand after a send, so a burst of sends costs one write(2)) encodes queued
 * requests in order with the version the handshake picked, frames them
 * into `out` and writes. A request that expects an answer then waits in
 * `sent`; Kafka answers in order per connection, so each response frame
 * belongs to the head of `sent` and must carry its correlation id. A
 * request without an answer (Produce acks=0) waits in `noresp` until the
 * stream position after its frame has been written.
 *
 * Invariants:
 *   - every accepted request is in exactly one of queued, sent, noresp
 *     until its done runs, and done runs exactly once;
 *   - dones never run inside cl_wire_send() (the flush is deferred to the
 *     loop), so a caller's state is never re-entered under its feet;
 *   - a done may send, or close this wire: `busy` counts the callbacks in
 *     progress and the free is deferred until it is back to 0; every loop
 *     over a queue re-checks the state after each callback;
 *   - deadlines: connect + handshake within connect_timeout_ms; each
 *     request within request_timeout_ms from the moment its frame is
 *     queued on the socket. A periodic tick (armed while anything is
 *     pending) checks the oldest, since all share one timeout.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/cl_int.h"

#define WIRE_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define WIRE_DEFAULT_MAX_RESPONSE ((size_t)100 << 20)
#define WIRE_READ_CHUNK 65536
#define WIRE_TICK_MS 100

enum wire_state { W_CONNECTING, W_HANDSHAKE, W_READY, W_BROKEN };

struct wire_req {
	struct wire_req *next;
	int16_t api_key;
	int16_t version;
	bool expect_response;
	int32_t corr;
	uint64_t end_pos;             /* stream position after its frame */
	int64_t deadline_ms;
	cl_wire_encode_fn *encode;
	cl_wire_done_fn *done;
	void *arg;
};

struct wire_queue {
	struct wire_req *head, *tail;
};

struct cl_wire {
	cl_io *io;
	struct event_base *base;
	int fd;
	struct event *rev;            /* EV_READ | EV_PERSIST */
	struct event *wev;            /* EV_WRITE: connect done, flush */
	struct event *tick;
	bool tick_armed;
	bool flush_pending;
	enum wire_state state;
	char addr[300];
	char client_id[128];
	int connect_timeout_ms;
	int request_timeout_ms;
	size_t max_response;
	int64_t connect_deadline_ms;
	struct addrinfo *ai_list;
	struct addrinfo *ai_next;     /* next address to try */
	int last_connect_err;
	int16_t av_version;           /* ApiVersions version being asked */
	bool av_retried;
	int16_t version[CL__MAX_API_KEY + 1];
	struct wire_queue queued, sent, noresp;
	size_t n_pending;
	kp_buf out;                   /* framed bytes; [out_off, len) unwritten */
	size_t out_off;
	uint64_t pos_appended;        /* stream bytes framed so far */
	uint64_t pos_written;         /* stream bytes written so far */
	kp_buf in;                    /* read bytes; [in_off, len) unparsed */
	size_t in_off;
	int32_t next_corr;
	int busy;                     /* callbacks in progress */
	bool closed;                  /* cl_wire_close() called */
	char errmsg[512];
};

static void wire_errf(cl_wire *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wire_errf(cl_wire *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->errmsg, sizeof w->errmsg, fmt, ap);
	va_end(ap);
}

static const char *api_name(int16_t api_key)
{
	const kp_api_info *a = kp_api_find(api_key);
	return a ? a->name : "unknown API";
}

static void q_push(struct wire_queue *q, struct wire_req *r)
{
	r->next = NULL;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
}

static struct wire_req *q_pop(struct wire_queue *q)
{
	struct wire_req *r = q->head;
	if (r) {
		q->head = r->next;
		if (q->head == NULL)
			q->tail = NULL;
	}
	return r;
}

static void wire_destroy(cl_wire *w)
{
	if (w->rev)
		event_free(w->rev);
	if (w->wev)
		event_free(w->wev);
	if (w->tick)
		event_free(w->tick);
	if (w->fd >= 0)
		close(w->fd);
	if (w->ai_list)
		freeaddrinfo(w->ai_list);
	kp_buf_free(&w->out);
	kp_buf_free(&w->in);
	free(w);
}

/* Runs one request's done and frees it. False when w must not be touched
 * by the caller's loop any more (closed or broken meanwhile). */
static void req_finish(cl_wire *w, struct wire_req *r, int err, kp_reader *body)
{
	w->n_pending--;
	w->busy++;
	r->done(r->arg, err, r->version, body);
	w->busy--;
	free(r);
}

/* Leaves the wire's callbacks: frees it when it was closed meanwhile. True
 * when it is gone. */
static bool wire_leave(cl_wire *w)
{
	if (w->closed && w->busy == 0) {
		wire_destroy(w);
		return true;
	}
	return false;
}

static void drop_socket(cl_wire *w)
{
	if (w->rev)
		event_del(w->rev);
	if (w->wev)
		event_del(w->wev);
	if (w->tick)
		event_del(w->tick);
	w->tick_armed = false;
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
}

/* Marks the wire broken and fails every pending request with err. The
 * queues are detached first, so dones that send see a broken wire. */
static void wire_fail(cl_wire *w, int err)
{
	if (w->state == W_BROKEN)
		return;
	w->state = W_BROKEN;
	drop_socket(w);
	struct wire_queue qs[3] = { w->sent, w->noresp, w->queued };
	memset(&w->sent, 0, sizeof w->sent);
	memset(&w->noresp, 0, sizeof w->noresp);
	memset(&w->queued, 0, sizeof w->queued);
	for (int i = 0; i < 3; i++) {
		struct wire_req *r;
		while ((r = q_pop(&qs[i])) != NULL)
			req_finish(w, r, err, NULL);
	}
}

static void fail_stream(cl_wire *w, int err, const char *what)
{
	if (w->state == W_BROKEN)
		return;
	if (err == CL_ERR_TIMEOUT)
		wire_errf(w, "%s %s: no answer within %d ms", what, w->addr, w->request_timeout_ms);
	else
		wire_errf(w, "%s %s: %s", what, w->addr, cl_strerror(err));
	wire_fail(w, err);
}

static void arm_tick(cl_wire *w)
{
	if (!w->tick_armed && w->tick) {
		struct timeval tv = { 0, WIRE_TICK_MS * 1000 };
		event_add(w->tick, &tv);
		w->tick_armed = true;
	}
}

static void schedule_flush(cl_wire *w)
{
	if (!w->flush_pending && w->wev && w->state == W_READY) {
		w->flush_pending = true;
		event_active(w->wev, EV_WRITE, 0);
	}
}

/*
 * Appends one framed request to out: size, header, then the body encoded
 * straight after them (no copy through a scratch buffer: a Produce body is
 * megabytes). 0 or an error (nothing appended).
 */
static int frame_req(cl_wire *w, struct wire_req *r)
{
	kp_RequestHeader h;
	size_t start = w->out.len, n_ext = w->out.n_ext;
	int32_t corr = w->next_corr;

	kp_RequestHeader_init(&h);
	h.RequestApiKey = r->api_key;
	h.RequestApiVersion = r->version;
	h.CorrelationId = corr;
	h.ClientId = kp_str_from(w->client_id);
	kp_buf_put_i32(&w->out, 0);   /* size, filled below */
	int rc = kp_RequestHeader_encode(&w->out,
					 (int16_t)kp_request_header_version(r->api_key, r->version), &h);
	if (rc == 0)
		rc = r->encode(r->arg, r->version, &w->out);
	if (rc == 0 && w->out.err)
		rc = w->out.err;
	size_t size = w->out.len - start - 4;
	if (rc == 0 && (w->out.n_ext != n_ext || size > INT32_MAX))
		rc = w->out.n_ext != n_ext ? CL_ERR_ARG : KP_ERR_OVERFLOW;
	if (rc < 0) {
		kp_buf_truncate(&w->out, start, n_ext);
		w->out.err = 0;
		return rc;
	}
	kp_store_be32(w->out.data + start, (uint32_t)size);
	r->corr = corr;
	w->next_corr = corr == INT32_MAX ? 0 : corr + 1;
	w->pos_appended += w->out.len - start;
	r->end_pos = w->pos_appended;
	r->deadline_ms = cl__now_ms() + w->request_timeout_ms;
	return 0;
}

/* Completes acks=0 requests whose bytes are all written. */
static void finish_written(cl_wire *w)
{
	while (w->noresp.head && w->noresp.head->end_pos <= w->pos_written &&
	       w->state != W_BROKEN && !w->closed)
		req_finish(w, q_pop(&w->noresp), 0, NULL);
}

/* Writes what out holds; waits for EV_WRITE on a full socket. */
static void try_write(cl_wire *w)
{
	while (w->out_off < w->out.len) {
		ssize_t n = send(w->fd, w->out.data + w->out_off, w->out.len - w->out_off,
				 MSG_NOSIGNAL);
		if (n > 0) {
			w->out_off += (size_t)n;
			w->pos_written += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(w->wev, NULL);
			break;
		}
		fail_stream(w, n < 0 ? -errno : CL_ERR_CLOSED, "sending to");
		return;
	}
	if (w->out_off == w->out.len) {
		kp_buf_reset(&w->out);
		w->out_off = 0;
	}
	finish_written(w);
}

/* Encodes and frames every queued request, then writes. */
static void flush(cl_wire *w)
{
	struct wire_req *r;
	w->flush_pending = false;
	while (w->state == W_READY && !w->closed && (r = q_pop(&w->queued)) != NULL) {
		r->version = w->version[r->api_key];
		int rc = frame_req(w, r);
		if (rc < 0) {
			req_finish(w, r, rc, NULL);
			continue;
		}
		q_push(r->expect_response ? &w->sent : &w->noresp, r);
	}
	if (w->state == W_READY && !w->closed)
		try_write(w);
}

/* ------------------------------------------------------------- handshake */

static int encode_api_versions(void *arg, int16_t version, kp_buf *body)
{
	(void)arg;
	kp_ApiVersionsRequest q;
	kp_ApiVersionsRequest_init(&q);
	q.ClientSoftwareName = KP_STR_LIT("rewind");
	q.ClientSoftwareVersion = KP_STR_LIT("0.1.0");
	return kp_ApiVersionsRequest_encode(body, version, &q);
}

static void on_api_versions(void *arg, int err, int16_t version, kp_reader *body);

/* Frames and writes the ApiVersions request (bypassing `queued`, which
 * waits for its answer). */
static void send_api_versions(cl_wire *w)
{
	struct wire_req *r = calloc(1, sizeof *r);
	if (r == NULL) {
		wire_errf(w, "out of memory for the handshake with %s", w->addr);
		wire_fail(w, -ENOMEM);
		return;
	}
	r->api_key = KP_API_API_VERSIONS;
	r->version = w->av_version;
	r->expect_response = true;
	r->encode = encode_api_versions;
	r->done = on_api_versions;
	r->arg = w;
	int rc = frame_req(w, r);
	if (rc < 0) {
		free(r);
		wire_errf(w, "cannot encode ApiVersions v%d: %s", w->av_version, cl_strerror(rc));
		wire_fail(w, rc);
		return;
	}
	/* The handshake runs under the connect deadline, not the request one. */
	r->deadline_ms = w->connect_deadline_ms;
	w->n_pending++;
	q_push(&w->sent, r);
	try_write(w);
}

static void on_api_versions(void *arg, int err, int16_t version, kp_reader *body)
{
	cl_wire *w = arg;
	kp_ApiVersionsResponse m;
	kp_arena a;

	if (err < 0)
		return;   /* wire_fail() is running; it set the message */
	bool refused = kp_reader_left(body) >= 2 && (int16_t)kp_load_be16(body->p) == 35;
	kp_arena_init(&a, 0);
	if (kp_ApiVersionsResponse_decode(body, refused ? 0 : version, &a, &m) < 0) {
		wire_errf(w, "the ApiVersions v%d answer from %s does not parse: not a Kafka broker?",
			  refused ? 0 : version, w->addr);
		kp_arena_free(&a);
		wire_fail(w, CL_ERR_PROTOCOL);
		return;
	}
	if (refused) {
		int16_t bmax = -1;
		for (int32_t i = 0; i < m.ApiKeys.count; i++)
			if (m.ApiKeys.items[i].ApiKey == KP_API_API_VERSIONS)
				bmax = m.ApiKeys.items[i].MaxVersion;
		kp_arena_free(&a);
		if (w->av_retried || bmax < 0 || bmax >= version) {
			wire_errf(w, "%s refuses every ApiVersions version we can send", w->addr);
			wire_fail(w, CL_ERR_UNSUPPORTED);
			return;
		}
		w->av_retried = true;
		w->av_version = bmax;
		send_api_versions(w);
		return;
	}
	if (m.ErrorCode != 0) {
		wire_errf(w, "%s answered ApiVersions with %s", w->addr,
			  cl_strerror(cl_err_kafka(m.ErrorCode)));
		kp_arena_free(&a);
		wire_fail(w, cl_err_kafka(m.ErrorCode));
		return;
	}
	for (int k = 0; k <= CL__MAX_API_KEY; k++)
		w->version[k] = -1;
	for (int32_t i = 0; i < m.ApiKeys.count; i++) {
		const kp_ApiVersionsResponse_ApiVersion *v = &m.ApiKeys.items[i];
		if (v->ApiKey < 0 || v->ApiKey > CL__MAX_API_KEY)
			continue;
		w->version[v->ApiKey] = cl_version_pick(v->ApiKey, v->MinVersion, v->MaxVersion,
							cl__api_min_version(v->ApiKey));
	}
	kp_arena_free(&a);
	w->state = W_READY;
	/* Requests the broker offers no version of fail now, in order. */
	struct wire_queue keep = { 0 };
	struct wire_req *r;
	struct wire_queue q = w->queued;
	memset(&w->queued, 0, sizeof w->queued);
	while ((r = q_pop(&q)) != NULL) {
		if (w->version[r->api_key] >= 0) {
			q_push(&keep, r);
			continue;
		}
		wire_errf(w, "%s offers no version of %s that rewind speaks", w->addr,
			  api_name(r->api_key));
		req_finish(w, r, CL_ERR_UNSUPPORTED, NULL);
	}
	/* Sends made by those dones queued behind; keep the original order. */
	if (keep.head) {
		keep.tail->next = w->queued.head;
		if (w->queued.tail)
			keep.tail = w->queued.tail;
		w->queued = keep;
	}
	if (w->queued.head && w->state == W_READY && !w->closed)
		schedule_flush(w);
}

/* --------------------------------------------------------------- reading */

/* Hands one complete response frame to the head of `sent`. */
static void on_frame(cl_wire *w, const uint8_t *frame, size_t size)
{
	struct wire_req *r = q_pop(&w->sent);
	if (r == NULL) {
		wire_errf(w, "%s sent an answer to no request", w->addr);
		wire_fail(w, CL_ERR_PROTOCOL);
		return;
	}
	int32_t corr;
	kp_reader body;
	int rc = cl_frame_response(frame, size, r->api_key, r->version, &corr, &body);
	if (rc < 0 || corr != r->corr) {
		if (rc < 0)
			wire_errf(w, "the answer to %s from %s has no readable header",
				  api_name(r->api_key), w->addr);
		else
			wire_errf(w, "the answer from %s carries correlation id %d, expected %d",
				  w->addr, corr, r->corr);
		/* r is no longer in a queue: finish it with the others. */
		q_push(&w->queued, r);
		wire_fail(w, CL_ERR_PROTOCOL);
		return;
	}
	req_finish(w, r, 0, &body);
}

static void parse_frames(cl_wire *w)
{
	while (w->state != W_BROKEN && !w->closed) {
		size_t avail = w->in.len - w->in_off;
		if (avail < 4)
			break;
		const uint8_t *p = w->in.data + w->in_off;
		int32_t size = (int32_t)kp_load_be32(p);
		if (size < 4 || (size_t)size > w->max_response) {
			wire_errf(w, "an answer from %s claims %d bytes (limit %zu): not a Kafka broker?",
				  w->addr, size, w->max_response);
			wire_fail(w, CL_ERR_PROTOCOL);
			return;
		}
		if (avail < 4 + (size_t)size)
			break;
		w->in_off += 4 + (size_t)size;
		on_frame(w, p + 4, (size_t)size);
	}
	if (w->state == W_BROKEN || w->closed)
		return;
	if (w->in_off == w->in.len) {
		kp_buf_reset(&w->in);
		w->in_off = 0;
	} else if (w->in_off > 0 && w->in_off >= w->in.len / 2) {
		memmove(w->in.data, w->in.data + w->in_off, w->in.len - w->in_off);
		w->in.len -= w->in_off;
		w->in_off = 0;
	}
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	cl_wire *w = arg;
	(void)what;
	w->busy++;
	for (int rounds = 0; rounds < 16 && w->state != W_BROKEN && !w->closed; rounds++) {
		size_t want = WIRE_READ_CHUNK;
		size_t avail = w->in.len - w->in_off;
		if (avail >= 4) {
			size_t frame = 4 + (size_t)kp_load_be32(w->in.data + w->in_off);
			if (frame > avail && frame - avail > want && frame <= w->max_response + 4)
				want = frame - avail;
		}
		uint8_t *p = kp_buf_reserve(&w->in, want);
		if (p == NULL) {
			wire_errf(w, "out of memory reading from %s", w->addr);
			wire_fail(w, -ENOMEM);
			break;
		}
		ssize_t n = recv(fd, p, want, 0);
		if (n > 0) {
			w->in.len += (size_t)n;
			parse_frames(w);
			if ((size_t)n < want)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		fail_stream(w, n == 0 ? CL_ERR_CLOSED : -errno, "reading from");
	}
	w->busy--;
	wire_leave(w);
}

/* ------------------------------------------------------------ connecting */

static void on_write(evutil_socket_t fd, short what, void *arg);

/* Starts connecting to the next address; on no address left, fails. */
static void connect_next(cl_wire *w)
{
	while (w->ai_next) {
		struct addrinfo *ai = w->ai_next;
		w->ai_next = ai->ai_next;
		if (w->rev) {
			event_free(w->rev);
			w->rev = NULL;
		}
		if (w->wev) {
			event_free(w->wev);
			w->wev = NULL;
		}
		if (w->fd >= 0) {
			close(w->fd);
			w->fd = -1;
		}
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);
		if (fd < 0) {
			w->last_connect_err = -errno;
			continue;
		}
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		w->fd = fd;
		w->rev = event_new(w->base, fd, EV_READ | EV_PERSIST, on_read, w);
		w->wev = event_new(w->base, fd, EV_WRITE, on_write, w);
		if (w->rev == NULL || w->wev == NULL) {
			wire_errf(w, "out of memory connecting to %s", w->addr);
			wire_fail(w, -ENOMEM);
			return;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			w->last_connect_err = -errno;
			continue;
		}
		/* Writable = connected or failed; on_write tells which. */
		event_add(w->wev, NULL);
		return;
	}
	wire_errf(w, "connect to %s: %s", w->addr, cl_strerror(w->last_connect_err));
	wire_fail(w, w->last_connect_err);
}

static void on_connected(cl_wire *w)
{
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (getsockopt(w->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr != 0) {
		w->last_connect_err = -soerr;
		connect_next(w);
		return;
	}
	freeaddrinfo(w->ai_list);
	w->ai_list = w->ai_next = NULL;
	event_add(w->rev, NULL);
	w->state = W_HANDSHAKE;
	send_api_versions(w);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	cl_wire *w = arg;
	(void)fd;
	(void)what;
	w->busy++;
	if (w->state == W_CONNECTING)
		on_connected(w);
	else if (w->state == W_READY)
		flush(w);
	else if (w->state == W_HANDSHAKE)
		try_write(w);
	w->busy--;
	wire_leave(w);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	cl_wire *w = arg;
	(void)fd;
	(void)what;
	w->tick_armed = false;
	if (w->state == W_BROKEN || w->closed)
		return;
	int64_t now = cl__now_ms();
	w->busy++;
	if (w->state == W_CONNECTING || w->state == W_HANDSHAKE) {
		if (now >= w->connect_deadline_ms) {
			wire_errf(w, "connect to %s: no answer within %d ms", w->addr,
				  w->connect_timeout_ms);
			wire_fail(w, CL_ERR_TIMEOUT);
		}
	} else {
		struct wire_req *oldest = w->sent.head;
		if (w->noresp.head && (oldest == NULL ||
				       w->noresp.head->deadline_ms < oldest->deadline_ms))
			oldest = w->noresp.head;
		if (oldest && now >= oldest->deadline_ms) {
			wire_errf(w, "%s %s: no answer within %d ms", api_name(oldest->api_key),
				  w->addr, w->request_timeout_ms);
			wire_fail(w, CL_ERR_TIMEOUT);
		}
	}
	if (w->state != W_BROKEN && !w->closed && w->n_pending > 0)
		arm_tick(w);
	w->busy--;
	wire_leave(w);
}

/* ------------------------------------------------------------ public API */

int cl_wire_open(cl_io *io, const char *host, int port, const cl_opts *opts,
		 cl_wire **out)
{
	cl_opts none = { 0 };
	char portstr[16];
	struct addrinfo hints = { 0 };

	*out = NULL;
	if (opts == NULL)
		opts = &none;
	cl_wire *w = calloc(1, sizeof *w);
	if (w == NULL)
		return -ENOMEM;
	w->io = io;
	w->base = cl_io_base(io);
	w->fd = -1;
	w->state = W_CONNECTING;
	kp_buf_init(&w->out);
	kp_buf_init(&w->in);
	if (strchr(host, ':'))
		snprintf(w->addr, sizeof w->addr, "[%s]:%d", host, port);
	else
		snprintf(w->addr, sizeof w->addr, "%s:%d", host, port);
	snprintf(w->client_id, sizeof w->client_id, "%s",
		 opts->client_id ? opts->client_id : "rewind");
	w->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
							     : WIRE_DEFAULT_CONNECT_TIMEOUT_MS;
	w->request_timeout_ms = cl__request_timeout(opts);
	w->max_response = opts->max_response_bytes ? opts->max_response_bytes
						   : WIRE_DEFAULT_MAX_RESPONSE;
	if (w->max_response > INT32_MAX)
		w->max_response = INT32_MAX;
	w->av_version = kp_api_find(KP_API_API_VERSIONS)->max_version;
	for (int k = 0; k <= CL__MAX_API_KEY; k++)
		w->version[k] = -1;
	w->tick = evtimer_new(w->base, on_tick, w);
	if (w->tick == NULL) {
		wire_destroy(w);
		return -ENOMEM;
	}
	w->connect_deadline_ms = cl__now_ms() + w->connect_timeout_ms;
	*out = w;

	snprintf(portstr, sizeof portstr, "%d", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(host, portstr, &hints, &w->ai_list);
	if (gai != 0) {
		w->ai_list = NULL;
		wire_errf(w, "cannot resolve %s: %s", w->addr, gai_strerror(gai));
		wire_fail(w, CL_ERR_RESOLVE);
		return 0;
	}
	w->ai_next = w->ai_list;
	w->last_connect_err = -ECONNREFUSED;
	connect_next(w);
	if (w->state != W_BROKEN)
		arm_tick(w);
	return 0;
}

int cl_wire_send(cl_wire *w, int16_t api_key, bool expect_response,
		 cl_wire_encode_fn *encode, cl_wire_done_fn *done, void *arg)
{
	if (w->state == W_BROKEN || w->closed)
		return CL_ERR_BROKEN;
	if (api_key < 0 || api_key > CL__MAX_API_KEY)
		return CL_ERR_ARG;
	if (w->state == W_READY && w->version[api_key] < 0)
		return CL_ERR_UNSUPPORTED;
	struct wire_req *r = calloc(1, sizeof *r);
	if (r == NULL)
		return -ENOMEM;
	r->api_key = api_key;
	r->expect_response = expect_response;
	r->encode = encode;
	r->done = done;
	r->arg = arg;
	r->version = -1;
	q_push(&w->queued, r);
	w->n_pending++;
	schedule_flush(w);
	arm_tick(w);
	return 0;
}

void cl_wire_close(cl_wire *w)
{
	if (w == NULL || w->closed)
		return;
	w->closed = true;
	if (w->state != W_BROKEN) {
		wire_errf(w, "closed");
		/* wire_fail ignores `closed`: it only detaches and finishes. */
		w->busy++;
		wire_fail(w, CL_ERR_CLOSED);
		w->busy--;
	}
	drop_socket(w);
	wire_leave(w);
}

bool cl_wire_broken(const cl_wire *w) { return w->state == W_BROKEN; }
bool cl_wire_ready(const cl_wire *w) { return w->state == W_READY; }
const char *cl_wire_addr(const cl_wire *w) { return w->addr; }
const char *cl_wire_errmsg(const cl_wire *w) { return w->errmsg; }
size_t cl_wire_in_flight(const cl_wire *w) { return w->n_pending; }

int16_t cl_wire_api_version(const cl_wire *w, int16_t api_key)
{
	if (w->state != W_READY || api_key < 0 || api_key > CL__MAX_API_KEY)
		return -1;
	return w->version[api_key];
}
