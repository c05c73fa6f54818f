/*
 * conn.c -- one client connection: request framing, dispatch through
 * br_apis, responses in request order, back-pressure and limits.
 *
 * Input. Kafka frames a request as int32 size + bytes. Small frames are
 * read through a 64 KiB buffer (several per read(2)); a frame that does not
 * fit there gets its own allocation, filled by direct reads. Either way
 * every request owns a copy of its frame, because decoded messages are
 * views into it and a parked request outlives the read buffer's contents.
 * A size below the smallest header or above socket.request.max.bytes ends
 * the connection (Kafka's InvalidReceiveException), as do an unknown API
 * key and an unsupported version -- except ApiVersions, which answers
 * UNSUPPORTED_VERSION in a v0 body so the client can pick a version.
 *
 * Order. Requests queue on the connection in arrival order; handlers may
 * answer at once or park (acks=all produce, long-poll fetch). Responses go
 * out strictly from the head of the queue: a request done early waits for
 * the ones before it. Clients rely on this (librdkafka matches responses
 * by correlation id but Kafka guarantees the order, and kafka-python
 * assumes it).
 *
 * Output. A response is a header (size, correlation id, and the empty tag
 * section of header v1) then the body kp_buf, whose external regions are
 * filled from req->slices with sendfile(2); memory parts go by writev(2).
 * Both are non-blocking: a partial write is resumed on EV_WRITE from the
 * exact wire position (req->sent).
 *
 * Back-pressure. A connection stops being read while the bytes it holds --
 * frames of requests in flight plus responses not yet sent -- exceed
 * connection.max.queued.bytes, or BR_CONN_MAX_INFLIGHT requests are
 * unanswered, and resumes when the queue drains. A client that never reads
 * its responses thus costs a bounded amount of memory.
 *
 * Going away. When a connection closes, requests that are done are freed;
 * parked ones are detached (req->conn = NULL) and freed by
 * br_request_done() when their event completes them, so a handler never
 * sees its request vanish. Every abnormal close writes exactly one log
 * line naming the peer and the reason; a client closing between requests
 * is normal and silent.
 *
 * All of this runs on the connection's reactor thread only.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/br_int.h"

#define BR_CONN_INBUF (64 * 1024)
#define BR_CONN_MAX_INFLIGHT 128
#define BR_REQUEST_HEADER_MIN 8       /* api key, version, correlation id */
#define BR_IOV_MAX 64

struct br_conn {
	br_reactor *r;                /* borrowed: outlives the conn */
	br_broker *b;
	int fd;
	char peer[64];
	struct event *rev, *wev;
	bool reading;                 /* rev is added */
	bool writing;                 /* wev is added */
	bool closing;                 /* drain then close (shutdown) */
	bool processing;              /* inside conn_process_input() */
	/* input: in[in_off .. in_len) not yet framed */
	uint8_t *in;
	size_t in_off, in_len;
	uint8_t *frame;               /* a big frame read directly */
	size_t frame_len, frame_got;
	/* requests in arrival order */
	br_request *head, *tail;
	int n_inflight;               /* not done yet */
	int64_t held_bytes;           /* frames in flight + responses unsent */
	int64_t last_active_ms;
	br_conn *prev, *next;         /* the reactor's list */
};

/* -------------------------------------------------------------- requests */

static void request_free(br_request *req)
{
	br_reactor *r = req->reactor;

	for (size_t i = 0; i < req->n_slices; i++)
		st_slice_release(&req->slices[i]);
	free(req->slices);
	kp_buf_free(&req->resp);
	kp_arena_free(&req->arena);
	free(req->frame);
	free(req);
	r->n_requests--;
}

int br_request_add_slice(br_request *req, st_slice *s)
{
	if (req->n_slices == req->cap_slices) {
		size_t cap = req->cap_slices ? req->cap_slices * 2 : 4;
		st_slice *n = realloc(req->slices, cap * sizeof(*n));

		if (n == NULL) {
			st_slice_release(s);
			return -ENOMEM;
		}
		req->slices = n;
		req->cap_slices = cap;
	}
	req->slices[req->n_slices++] = *s;
	return 0;
}

int br_request_fail(br_request *req, int err, const char *why)
{
	req->fail_err = err;
	snprintf(req->fail_why, sizeof(req->fail_why), "%s", why);
	return err < 0 ? err : -EINVAL;
}

static const char *api_name(int16_t key)
{
	const kp_api_info *i = kp_api_find(key);
	return i ? i->name : "unknown";
}

/* ---------------------------------------------------------------- close */

static void conn_update_events(br_conn *c);
static bool conn_may_read(const br_conn *c);
static int conn_process_input(br_conn *c);

/*
 * Closes the connection: one log line when why != NULL. Done requests are
 * freed, parked ones detached. The conn is freed: callers must not touch it
 * afterwards (functions below return -1 after calling this).
 */
static void conn_close(br_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void conn_close(br_conn *c, const char *fmt, ...)
{
	br_reactor *r = c->r;
	br_request *req, *next;

	if (fmt) {
		char why[512];
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		br__logf(ST_LOG_INFO, "closing connection from %s: %s", c->peer, why);
	}
	for (req = c->head; req; req = next) {
		next = req->next;
		req->next = NULL;
		if (req->parked && !req->done) {
			req->conn = NULL;
			/* May complete (and free) the request at once. */
			if (req->on_gone)
				req->on_gone(req);
		} else {
			request_free(req);
		}
	}
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	r->n_conns--;
	br_metrics_connections(r->broker->metrics, -1);
	free(c->in);
	free(c->frame);
	free(c);
}

/* --------------------------------------------------------------- output */

/* Fills the response header and counts the response in held_bytes. */
static int response_prepare(br_conn *c, br_request *req)
{
	size_t body = kp_buf_wire_len(&req->resp);
	int hv = kp_response_header_version(req->api_key, req->api_version);
	size_t hl = 4 + 4 + (hv >= 1 ? 1 : 0);

	if (req->resp.err != 0)
		return req->resp.err;
	if (req->resp.n_ext != req->n_slices)
		return -EINVAL;
	for (size_t i = 0; i < req->n_slices; i++)
		if (req->slices[i].len < req->resp.ext[i].len)
			return -EINVAL;
	if (body > (size_t)INT32_MAX - hl)
		return KP_ERR_TOO_LARGE;
	kp_store_be32(req->resp_hdr, (uint32_t)(body + hl - 4));
	kp_store_be32(req->resp_hdr + 4, (uint32_t)req->correlation_id);
	if (hv >= 1)
		req->resp_hdr[8] = 0;
	req->resp_hdr_len = hl;
	req->wire_len = hl + body;
	req->sent = 0;
	c->held_bytes += (int64_t)req->wire_len;
	req->queued += req->wire_len;
	return 0;
}

/*
 * Sends as much of req's response as the socket takes. 1 when all of it
 * went, 0 when the socket is full (EV_WRITE resumes), -1 when the
 * connection was closed.
 */
static int response_send(br_conn *c, br_request *req)
{
	while (req->sent < req->wire_len) {
		struct iovec iov[BR_IOV_MAX];
		int n_iov = 0;
		size_t pos = req->sent;         /* wire position to send from */
		size_t at = 0;                  /* wire position of the part below */
		size_t data_at = 0;             /* body bytes before this part */
		size_t e = 0;
		ssize_t n;

		/* Header, then body parts: data up to region e, region e, ...
		 * Gather memory parts from pos until a region not yet sent. */
		if (pos < req->resp_hdr_len) {
			iov[n_iov].iov_base = req->resp_hdr + pos;
			iov[n_iov].iov_len = req->resp_hdr_len - pos;
			n_iov++;
		}
		at = req->resp_hdr_len;
		for (;;) {
			size_t data_end = e < req->resp.n_ext ? req->resp.ext[e].pos : req->resp.len;
			size_t dlen = data_end - data_at;

			if (pos < at + dlen && dlen > 0 && n_iov < BR_IOV_MAX) {
				size_t skip = pos > at ? pos - at : 0;

				iov[n_iov].iov_base = req->resp.data + data_at + skip;
				iov[n_iov].iov_len = dlen - skip;
				n_iov++;
			}
			at += dlen;
			data_at = data_end;
			if (e == req->resp.n_ext)
				break;
			if (pos < at + req->resp.ext[e].len) {
				if (n_iov > 0)
					break;
				/* A file region first in line: sendfile it. */
				off_t off = (off_t)(req->slices[e].file_pos + (int64_t)(pos - at));
				size_t left = at + req->resp.ext[e].len - pos;

				n = sendfile(c->fd, req->slices[e].fd, &off, left);
				if (n < 0) {
					if (errno == EAGAIN || errno == EINTR)
						return 0;
					conn_close(c, "sendfile of %zu bytes failed: %s", left,
						   strerror(errno));
					return -1;
				}
				if (n == 0) {
					/* The file is shorter than the slice said:
					 * the response can no longer be completed. */
					conn_close(c, "a fetched segment file ended early (%zu bytes short)",
						   left);
					return -1;
				}
				goto sent;
			}
			at += req->resp.ext[e].len;
			e++;
		}
		if (n_iov == 0)
			break;
		n = writev(c->fd, iov, n_iov);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			conn_close(c, "write failed: %s", strerror(errno));
			return -1;
		}
sent:
		req->sent += (size_t)n;
		c->held_bytes -= n;
		req->queued -= (size_t)n;
		br_metrics_bytes(c->b->metrics, 0, n);
		c->last_active_ms = br__now_ms();
	}
	return 1;
}

/*
 * Sends the responses at the head of the queue that are done, in order.
 * 0, or -1 when the connection was closed.
 */
static int conn_flush(br_conn *c)
{
	br_request *req;
	int rc;

	while ((req = c->head) && req->done) {
		if (!req->no_response) {
			rc = response_send(c, req);
			if (rc < 0)
				return -1;
			if (rc == 0)
				break;
		}
		c->head = req->next;
		if (!c->head)
			c->tail = NULL;
		c->held_bytes -= (int64_t)req->queued;
		request_free(req);
	}
	if (c->closing && !c->head) {
		conn_close(c, NULL);
		return -1;
	}
	/* A drained queue may lift the back-pressure on frames already
	 * buffered: no read event will come for those. */
	if (!c->processing && c->frame == NULL && c->in_len - c->in_off >= 4 && conn_may_read(c))
		return conn_process_input(c);
	conn_update_events(c);
	return 0;
}

/* Metrics and the response header of a finished request; failures of
 * the handler's response close the connection. 0 or -1 (closed). */
static int request_finish(br_conn *c, br_request *req)
{
	int err;

	req->done = true;
	c->n_inflight--;
	c->held_bytes -= (int64_t)req->frame_len;
	req->queued -= req->frame_len;
	br_metrics_latency(c->b->metrics, req->api_key, br__now_ns() - req->received_ns);
	br_metrics_request(c->b->metrics, req->api_key, req->error_code);
	if (req->no_response)
		return 0;
	if ((err = response_prepare(c, req)) < 0) {
		conn_close(c, "cannot send the %s v%d response (correlation id %d): %s",
			   api_name(req->api_key), req->api_version, req->correlation_id,
			   err == -EINVAL ? "its file regions do not match its slices"
					  : kp_strerror(err));
		return -1;
	}
	return 0;
}

void br_request_done(br_request *req)
{
	br_conn *c = req->conn;

	if (req->in_handler) {
		/* Completed before its handler returned: dispatch sees done. */
		req->done = true;
		return;
	}
	if (c == NULL) {
		/* The client went away while the request was parked. */
		request_free(req);
		return;
	}
	if (request_finish(c, req) < 0)
		return;
	conn_flush(c);
}

/* ----------------------------------------------------------------- input */

static bool conn_may_read(const br_conn *c)
{
	return !c->closing && !c->r->draining &&
	       c->held_bytes <= c->b->cfg.connection_max_queued_bytes &&
	       c->n_inflight < BR_CONN_MAX_INFLIGHT;
}

static void conn_update_events(br_conn *c)
{
	bool want_read = conn_may_read(c);
	bool want_write = c->head && c->head->done && !c->head->no_response &&
			  c->head->sent < c->head->wire_len;

	if (want_read != c->reading) {
		if (want_read)
			event_add(c->rev, NULL);
		else
			event_del(c->rev);
		c->reading = want_read;
	}
	if (want_write != c->writing) {
		if (want_write)
			event_add(c->wev, NULL);
		else
			event_del(c->wev);
		c->writing = want_write;
	}
}

int br__request_header_parse(br_request *req, const br_api **api)
{
	kp_reader rd = kp_reader_make(req->frame, req->frame_len);
	kp_RequestHeader h;
	int rc;

	*api = NULL;
	req->api_key = kp_read_i16(&rd);
	req->api_version = kp_read_i16(&rd);
	req->correlation_id = kp_read_i32(&rd);
	if (!kp_reader_ok(&rd))
		return rd.err;
	if (!(*api = br_api_find(req->api_key)))
		return BR__HDR_UNKNOWN_API;
	if (req->api_version < (*api)->min_version || req->api_version > (*api)->max_version)
		return BR__HDR_UNSUPPORTED;
	/* Again from the start, now that the version says which header. */
	rd = kp_reader_make(req->frame, req->frame_len);
	rc = kp_RequestHeader_decode(&rd, (int16_t)kp_request_header_version(req->api_key,
									  req->api_version),
				     &req->arena, &h);
	if (rc < 0)
		return rc;
	req->client_id = h.ClientId;
	req->body = rd;
	return BR__HDR_OK;
}

/* Closes the connection after a handler refused its request (rc < 0). */
static void conn_close_bad_request(br_conn *c, br_request *req, int rc)
{
	conn_close(c, "bad %s v%d request (correlation id %d, client '%.*s'): %s",
		   api_name(req->api_key), req->api_version, req->correlation_id,
		   req->client_id.len > 0 ? (int)req->client_id.len : 0,
		   req->client_id.len > 0 ? (const char *)req->client_id.p : "",
		   req->fail_why[0] ? req->fail_why
				    : (rc < -1000 ? kp_strerror(rc) : strerror(-rc)));
}

/* Back on the request's reactor after an offloaded handler answered. */
static void offload_done(void *arg)
{
	br_request *req = arg;
	br_conn *c = req->conn;

	if (req->offload_rc >= 0) {
		br_request_done(req);
		return;
	}
	/* The request is parked, so conn_close() only detaches it. */
	if (c)
		conn_close_bad_request(c, req, req->offload_rc);
	request_free(req);
}

static void offload_post_back(br_request *req)
{
	/* Only a failed allocation stops the post; the request then stays
	 * parked until shutdown, which is logged rather than hidden. */
	if (br_reactor_post(req->reactor, offload_done, req) < 0)
		br__logf(ST_LOG_ERROR, "out of memory returning a %s answer to %s; it is lost",
			 api_name(req->api_key), req->peer);
}

void br_request_return(br_request *req)
{
	req->offload_rc = BR_RESPOND;
	offload_post_back(req);
}

/*
 * Runs an offloaded API's handler on the admin or groups thread. Only the
 * request is touched there; its connection may close meanwhile (req->conn
 * becomes NULL on the reactor), which offload_done() finds.
 * @locality admin or groups
 */
static void offload_run(void *arg)
{
	br_request *req = arg;
	int rc = req->offload_handler(req);

	assert(rc != BR_NO_RESPONSE);
	if (rc == BR_PARKED)
		return;         /* the handler calls br_request_return() */
	req->offload_rc = rc;
	offload_post_back(req);
}

/*
 * Parses the header of a complete frame and runs its handler (on the admin
 * thread for a blocking API, the groups thread for a group API). Takes ownership of frame. 0, or -1 when the
 * connection was closed.
 */
static int conn_dispatch(br_conn *c, uint8_t *frame, size_t len)
{
	br_request *req = calloc(1, sizeof(*req));
	const br_api *api;
	int rc;

	if (req == NULL) {
		free(frame);
		conn_close(c, "out of memory for a request of %zu bytes", len);
		return -1;
	}
	c->r->n_requests++;
	req->broker = c->b;
	req->reactor = c->r;
	req->conn = c;
	req->frame = frame;
	req->frame_len = len;
	req->queued = len;
	req->received_ns = br__now_ns();
	snprintf(req->peer, sizeof(req->peer), "%s", c->peer);
	kp_arena_init(&req->arena, (size_t)c->b->cfg.socket_request_max_bytes * 4 + 65536);
	kp_buf_init(&req->resp);
	if (c->tail)
		c->tail->next = req;
	else
		c->head = req;
	c->tail = req;
	c->n_inflight++;
	c->held_bytes += (int64_t)len;

	rc = br__request_header_parse(req, &api);
	if (rc == BR__HDR_UNKNOWN_API) {
		conn_close(c, "unknown API key %d (version %d, correlation id %d)",
			   req->api_key, req->api_version, req->correlation_id);
		return -1;
	}
	if (rc == BR__HDR_UNSUPPORTED) {
		if (req->api_key != KP_API_API_VERSIONS) {
			conn_close(c, "unsupported version %d of %s (this broker serves %d-%d)",
				   req->api_version, api_name(req->api_key),
				   api->min_version, api->max_version);
			return -1;
		}
		/* Kafka's rule: the client learns our range from a v0 body. */
		rc = br__api_versions_unsupported(req);
		req->error_code = KE_UNSUPPORTED_VERSION;
		req->api_version = 0;
		if (rc < 0) {
			conn_close(c, "cannot encode the ApiVersions answer: %s", kp_strerror(rc));
			return -1;
		}
		if (request_finish(c, req) < 0)
			return -1;
		return conn_flush(c);
	}
	if (rc < 0) {
		conn_close(c, "malformed %s v%d request header: %s", api_name(req->api_key),
			   req->api_version, kp_strerror(rc));
		return -1;
	}

	if (api->thread != BR_ON_REACTOR) {
		br_reactor *to = api->thread == BR_ON_ADMIN ? c->b->admin : c->b->groups_thread;

		assert(to != NULL);
		req->offload_handler = api->handler;
		if (br_reactor_post(to, offload_run, req) < 0) {
			conn_close(c, "out of memory queueing a %s request", api_name(req->api_key));
			return -1;
		}
		req->parked = true;
		return 0;
	}
	req->in_handler = true;
	rc = api->handler(req);
	req->in_handler = false;
	if (rc < 0) {
		conn_close_bad_request(c, req, rc);
		return -1;
	}
	if (rc == BR_NO_RESPONSE)
		req->no_response = true;
	if (rc == BR_PARKED && !req->done) {
		req->parked = true;
		return 0;
	}
	if (request_finish(c, req) < 0)
		return -1;
	return conn_flush(c);
}

/* Frames and dispatches what the read buffer holds. 0 or -1 (closed). */
static int conn_process_input(br_conn *c)
{
	int32_t max = c->b->cfg.socket_request_max_bytes;

	c->processing = true;
	while (conn_may_read(c) && c->frame == NULL && c->in_len - c->in_off >= 4) {
		uint8_t *p = c->in + c->in_off;
		int32_t size = (int32_t)kp_load_be32(p);
		size_t have = c->in_len - c->in_off - 4;
		uint8_t *frame;

		if (size < BR_REQUEST_HEADER_MIN) {
			conn_close(c, "invalid request size %d (smaller than a request header)", size);
			return -1;
		}
		if (size > max) {
			conn_close(c, "request size %d is larger than socket.request.max.bytes (%d)",
				   size, max);
			return -1;
		}
		if (!(frame = malloc((size_t)size))) {
			conn_close(c, "out of memory for a request of %d bytes", size);
			return -1;
		}
		br_metrics_bytes(c->b->metrics, 4, 0);
		if (have >= (size_t)size) {
			memcpy(frame, p + 4, (size_t)size);
			c->in_off += 4 + (size_t)size;
			br_metrics_bytes(c->b->metrics, size, 0);
			if (conn_dispatch(c, frame, (size_t)size) < 0)
				return -1;
			continue;
		}
		/* Incomplete: the rest is read straight into the frame. */
		memcpy(frame, p + 4, have);
		br_metrics_bytes(c->b->metrics, (int64_t)have, 0);
		c->frame = frame;
		c->frame_len = (size_t)size;
		c->frame_got = have;
		c->in_off = c->in_len = 0;
	}
	c->processing = false;
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	conn_update_events(c);
	return 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	br_conn *c = arg;
	ssize_t n;

	(void)what;
	if (c->frame) {
		n = read(fd, c->frame + c->frame_got, c->frame_len - c->frame_got);
	} else {
		n = read(fd, c->in + c->in_len, BR_CONN_INBUF - c->in_len);
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_close(c, "read failed: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		if (c->frame)
			conn_close(c, "client closed the connection mid-request (%zu of %zu bytes received)",
				   c->frame_got, c->frame_len);
		else if (c->in_len > 0)
			conn_close(c, "client closed the connection mid-request (%zu bytes of an incomplete frame)",
				   c->in_len);
		else if (c->head)
			conn_close(c, "client closed the connection with requests unanswered");
		else
			conn_close(c, NULL);
		return;
	}
	c->last_active_ms = br__now_ms();
	if (c->frame) {
		br_metrics_bytes(c->b->metrics, n, 0);
		c->frame_got += (size_t)n;
		if (c->frame_got == c->frame_len) {
			uint8_t *frame = c->frame;
			size_t len = c->frame_len;

			c->frame = NULL;
			c->frame_len = c->frame_got = 0;
			if (conn_dispatch(c, frame, len) < 0)
				return;
		}
		conn_update_events(c);
		return;
	}
	c->in_len += (size_t)n;
	conn_process_input(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	br_conn *c = arg;

	(void)fd;
	(void)what;
	conn_flush(c);
}

/* ------------------------------------------------------------ lifecycle */

int br__conn_open(br_reactor *r, int fd, const char *peer)
{
	br_conn *c = calloc(1, sizeof(*c));

	if (c == NULL || !(c->in = malloc(BR_CONN_INBUF))) {
		free(c);
		close(fd);
		br_metrics_connections(r->broker->metrics, -1);
		return -ENOMEM;
	}
	c->r = r;
	c->b = r->broker;
	c->fd = fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->rev = event_new(r->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->wev = event_new(r->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->last_active_ms = br__now_ms();
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->n_conns++;
	if (!c->rev || !c->wev) {
		conn_close(c, "out of memory for its events");
		return -ENOMEM;
	}
	conn_update_events(c);
	return 0;
}

void br__conns_sweep(br_reactor *r, int64_t now_ms)
{
	int64_t idle = r->broker->cfg.connections_max_idle_ms;
	br_conn *c, *next;

	for (c = r->conns; c; c = next) {
		next = c->next;
		if (r->draining) {
			/* Shutdown: no more reads; close once the queue is empty. */
			c->closing = true;
			conn_flush(c);
			continue;
		}
		if (idle >= 0 && c->head == NULL && now_ms - c->last_active_ms > idle)
			conn_close(c, "idle for %lld ms (connections.max.idle.ms=%lld)",
				   (long long)(now_ms - c->last_active_ms), (long long)idle);
	}
}

void br__conns_close_all(br_reactor *r, const char *why)
{
	while (r->conns)
		conn_close(r->conns, "%s", why);
}
