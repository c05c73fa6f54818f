/*
 * conn.c -- one blocking connection to one broker.
 *
 * The socket is non-blocking underneath and every wait is a poll() with a
 * deadline, so "blocking" means "waits at most the timeout", never forever.
 * One request is in flight at a time: cl_conn_call() writes the whole frame,
 * then reads exactly one response frame and checks its correlation id.
 * Anything that leaves the stream at an unknown position (timeout, short
 * read, wrong id) marks the connection broken; it is then never used again.
 *
 * Opening a connection runs the ApiVersions handshake: we ask in the newest
 * ApiVersions version our codecs know; a broker that does not know it
 * answers UNSUPPORTED_VERSION in a v0 body listing its ranges (Kafka's
 * rule), and we ask once more in the broker's newest. Then, per API, the
 * version spoken is the highest in the broker's range, the codecs' range
 * and at least the helpers' lowest usable version (cl__api_min_version
 * below, shared with the asynchronous wire.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/cl_int.h"

#define CL_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define CL_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define CL_DEFAULT_MAX_RESPONSE ((size_t)100 << 20)
#define CL_SOFTWARE_NAME "rewind"
#define CL_SOFTWARE_VERSION "0.1.0"

/*
 * The lowest version of each API the helpers build and read. Older shapes
 * exist in the codecs but mean something else (OffsetFetch v0 and
 * OffsetCommit v0/v1 address ZooKeeper-stored offsets; ListOffsets v0
 * answers a list of offsets) or are not worth a second code path (Metadata
 * v0 spells "all topics" as an empty list).
 */
int16_t cl__api_min_version(int16_t api_key)
{
	switch (api_key) {
	case KP_API_LIST_OFFSETS: return 1;
	case KP_API_METADATA: return 1;
	case KP_API_OFFSET_FETCH: return 1;
	case KP_API_OFFSET_COMMIT: return 2;
	default: return 0;
	}
}

int64_t cl__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cl__sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void cl__conn_errf(cl_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
}

/* Waits for events on fd until deadline_ms. 1 ready, CL_ERR_TIMEOUT, -errno. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - cl__now_ms();
		if (left <= 0)
			return CL_ERR_TIMEOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n > 0)
			return 1;
	}
}

/* Connects one resolved address within the deadline. fd or -errno/timeout. */
static int connect_addr(const struct addrinfo *ai, int64_t deadline_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int e = errno;
		if (e != EINPROGRESS) {
			close(fd);
			return -e;
		}
		int rc = wait_fd(fd, POLLOUT, deadline_ms);
		if (rc < 0) {
			close(fd);
			return rc;
		}
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr != 0) {
			close(fd);
			return -soerr;
		}
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int send_all(cl_conn *c, const uint8_t *p, size_t n, int64_t deadline_ms)
{
	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(c->fd, POLLOUT, deadline_ms);
			if (rc < 0)
				return rc;
			continue;
		}
		return w < 0 ? -errno : CL_ERR_CLOSED;
	}
	return 0;
}

static int recv_exact(cl_conn *c, uint8_t *p, size_t n, int64_t deadline_ms)
{
	while (n > 0) {
		ssize_t r = recv(c->fd, p, n, 0);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r == 0)
			return CL_ERR_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int rc = wait_fd(c->fd, POLLIN, deadline_ms);
			if (rc < 0)
				return rc;
			continue;
		}
		return -errno;
	}
	return 0;
}

static const char *api_name(int16_t api_key)
{
	const kp_api_info *a = kp_api_find(api_key);
	return a ? a->name : "unknown API";
}

static int conn_fail(cl_conn *c, int rc, const char *what, int16_t api_key)
{
	c->broken = true;
	cl__conn_errf(c, "%s %s %s: %s", what, api_name(api_key), c->addr, cl_strerror(rc));
	return rc;
}

int cl_conn_call(cl_conn *c, int16_t api_key, int16_t version,
		 const kp_buf *body, kp_buf *resp)
{
	if (c->broken) {
		cl__conn_errf(c, "connection to %s failed earlier", c->addr);
		return CL_ERR_BROKEN;
	}
	int64_t deadline = cl__now_ms() + c->request_timeout_ms;
	int32_t corr = c->next_correlation_id++;
	if (c->next_correlation_id < 0)
		c->next_correlation_id = 0;

	kp_buf_reset(&c->out);
	int rc = cl_frame_request(&c->out, api_key, version, corr, c->client_id, body);
	if (rc < 0) {
		cl__conn_errf(c, "cannot encode a %s v%d request: %s", api_name(api_key),
			      version, cl_strerror(rc));
		return rc;
	}
	rc = send_all(c, c->out.data, c->out.len, deadline);
	if (rc < 0)
		return conn_fail(c, rc, "sending", api_key);

	uint8_t szb[4];
	rc = recv_exact(c, szb, 4, deadline);
	if (rc < 0)
		return conn_fail(c, rc, "waiting for the answer to", api_key);
	int32_t size = (int32_t)kp_load_be32(szb);
	if (size < 4 || (size_t)size > c->max_response_bytes) {
		c->broken = true;
		cl__conn_errf(c, "the answer to %s from %s claims %d bytes (limit %zu): not a Kafka broker?",
			      api_name(api_key), c->addr, size, c->max_response_bytes);
		return CL_ERR_PROTOCOL;
	}
	kp_buf_reset(resp);
	uint8_t *dst = kp_buf_reserve(resp, (size_t)size);
	if (dst == NULL) {
		c->broken = true;
		cl__conn_errf(c, "out of memory for a %d-byte answer from %s", size, c->addr);
		return -ENOMEM;
	}
	rc = recv_exact(c, dst, (size_t)size, deadline);
	if (rc < 0)
		return conn_fail(c, rc, "reading the answer to", api_key);

	int32_t got;
	kp_reader bodyr;
	rc = cl_frame_response(dst, (size_t)size, api_key, version, &got, &bodyr);
	if (rc < 0 || got != corr) {
		c->broken = true;
		if (rc < 0)
			cl__conn_errf(c, "the answer to %s from %s has no readable header",
				      api_name(api_key), c->addr);
		else
			cl__conn_errf(c, "the answer from %s carries correlation id %d, expected %d",
				      c->addr, got, corr);
		return CL_ERR_PROTOCOL;
	}
	size_t off = (size_t)(bodyr.p - dst);
	memmove(dst, bodyr.p, (size_t)size - off);
	resp->len = (size_t)size - off;
	return 0;
}

/* The error code every ApiVersionsResponse version starts with. */
static int16_t peek_error_code(const kp_buf *resp)
{
	return resp->len >= 2 ? (int16_t)kp_load_be16(resp->data) : -1;
}

static int api_versions(cl_conn *c)
{
	const kp_api_info *av = kp_api_find(KP_API_API_VERSIONS);
	int16_t version = av->max_version;
	kp_buf body, resp;
	kp_arena arena;
	int rc = 0;

	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_arena_init(&arena, 0);
	for (int attempt = 0; attempt < 2; attempt++) {
		kp_ApiVersionsRequest q;
		kp_ApiVersionsResponse m;

		kp_ApiVersionsRequest_init(&q);
		q.ClientSoftwareName = KP_STR_LIT(CL_SOFTWARE_NAME);
		q.ClientSoftwareVersion = KP_STR_LIT(CL_SOFTWARE_VERSION);
		kp_buf_reset(&body);
		kp_arena_reset(&arena);
		if ((rc = kp_ApiVersionsRequest_encode(&body, version, &q)) < 0)
			break;
		if ((rc = cl_conn_call(c, KP_API_API_VERSIONS, version, &body, &resp)) < 0)
			goto out;
		bool refused = peek_error_code(&resp) == 35; /* UNSUPPORTED_VERSION */
		kp_reader r = kp_reader_make(resp.data, resp.len);
		if (kp_ApiVersionsResponse_decode(&r, refused ? 0 : version, &arena, &m) < 0) {
			c->broken = true;
			cl__conn_errf(c, "the ApiVersions v%d answer from %s does not parse: not a Kafka broker?",
				      refused ? 0 : version, c->addr);
			rc = CL_ERR_PROTOCOL;
			goto out;
		}
		if (refused) {
			int16_t bmax = -1;
			for (int32_t i = 0; i < m.ApiKeys.count; i++)
				if (m.ApiKeys.items[i].ApiKey == KP_API_API_VERSIONS)
					bmax = m.ApiKeys.items[i].MaxVersion;
			if (attempt == 1 || bmax < 0 || bmax >= version) {
				cl__conn_errf(c, "%s refuses every ApiVersions version we can send", c->addr);
				rc = CL_ERR_UNSUPPORTED;
				goto out;
			}
			version = bmax;
			continue;
		}
		if (m.ErrorCode != 0) {
			rc = cl_err_kafka(m.ErrorCode);
			cl__conn_errf(c, "%s answered ApiVersions with %s", c->addr, cl_strerror(rc));
			goto out;
		}
		for (int k = 0; k <= CL__MAX_API_KEY; k++) {
			c->broker_min[k] = -1;
			c->broker_max[k] = -1;
			c->version[k] = -1;
		}
		for (int32_t i = 0; i < m.ApiKeys.count; i++) {
			const kp_ApiVersionsResponse_ApiVersion *v = &m.ApiKeys.items[i];
			if (v->ApiKey < 0 || v->ApiKey > CL__MAX_API_KEY)
				continue;
			c->broker_min[v->ApiKey] = v->MinVersion;
			c->broker_max[v->ApiKey] = v->MaxVersion;
			c->version[v->ApiKey] = cl_version_pick(v->ApiKey, v->MinVersion,
								v->MaxVersion, cl__api_min_version(v->ApiKey));
		}
		rc = 0;
		goto out;
	}
	if (rc < 0)
		cl__conn_errf(c, "cannot encode ApiVersions v%d: %s", version, cl_strerror(rc));
out:
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_arena_free(&arena);
	return rc;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

int cl_conn_open(const char *host, int port, const cl_opts *opts,
		 cl_conn **out, char *err, size_t errlen)
{
	cl_opts none = { 0 };
	char portstr[16];
	struct addrinfo hints = { 0 }, *res = NULL;
	int rc;

	*out = NULL;
	if (opts == NULL)
		opts = &none;
	cl_conn *c = calloc(1, sizeof *c);
	if (c == NULL) {
		set_err(err, errlen, "out of memory for a connection");
		return -ENOMEM;
	}
	c->fd = -1;
	kp_buf_init(&c->out);
	if (strchr(host, ':'))
		snprintf(c->addr, sizeof c->addr, "[%s]:%d", host, port);
	else
		snprintf(c->addr, sizeof c->addr, "%s:%d", host, port);
	snprintf(c->client_id, sizeof c->client_id, "%s", opts->client_id ? opts->client_id : "rewind");
	c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
							     : CL_DEFAULT_CONNECT_TIMEOUT_MS;
	c->request_timeout_ms = cl__request_timeout(opts);
	c->max_response_bytes = opts->max_response_bytes ? opts->max_response_bytes
							 : CL_DEFAULT_MAX_RESPONSE;
	if (c->max_response_bytes > INT32_MAX)
		c->max_response_bytes = INT32_MAX;

	snprintf(portstr, sizeof portstr, "%d", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai != 0) {
		cl__conn_errf(c, "cannot resolve %s: %s", c->addr, gai_strerror(gai));
		rc = CL_ERR_RESOLVE;
		goto fail;
	}
	int64_t deadline = cl__now_ms() + c->connect_timeout_ms;
	rc = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = connect_addr(ai, deadline);
		if (fd >= 0) {
			c->fd = fd;
			rc = 0;
			break;
		}
		rc = fd;
	}
	freeaddrinfo(res);
	if (rc < 0) {
		if (rc == CL_ERR_TIMEOUT)
			cl__conn_errf(c, "connect to %s: no answer within %d ms", c->addr,
				      c->connect_timeout_ms);
		else
			cl__conn_errf(c, "connect to %s: %s", c->addr, cl_strerror(rc));
		goto fail;
	}
	if ((rc = api_versions(c)) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	set_err(err, errlen, c->errmsg);
	cl_conn_close(c);
	return rc;
}

void cl_conn_close(cl_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	kp_buf_free(&c->out);
	free(c);
}

int16_t cl_conn_api_version(const cl_conn *c, int16_t api_key)
{
	if (api_key < 0 || api_key > CL__MAX_API_KEY)
		return -1;
	return c->version[api_key];
}

bool cl_conn_broker_range(const cl_conn *c, int16_t api_key,
			  int16_t *min_version, int16_t *max_version)
{
	if (api_key < 0 || api_key > CL__MAX_API_KEY || c->broker_min[api_key] < 0)
		return false;
	*min_version = c->broker_min[api_key];
	*max_version = c->broker_max[api_key];
	return true;
}

const char *cl_conn_errmsg(const cl_conn *c) { return c->errmsg; }
const char *cl_conn_addr(const cl_conn *c) { return c->addr; }
bool cl_conn_broken(const cl_conn *c) { return c->broken; }

int cl__request_timeout(const cl_opts *o)
{
	return o->request_timeout_ms > 0 ? o->request_timeout_ms : CL_DEFAULT_REQUEST_TIMEOUT_MS;
}
