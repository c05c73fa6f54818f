/*
 * io.c -- the writer's I/O backends: io_uring, and pwrite + fdatasync.
 *
 * The writer thread (store.c) submits requests -- a vectored write at a
 * position, or an fdatasync -- and later reaps them finished. Like
 * write(2), a write may land short (a full disk writes what fits, then
 * fails); the backend continues a short write where it stopped, so a
 * request ends either complete (done == len) or failed (err < 0, done =
 * the bytes that did land).
 *
 * Writes are done on the writer thread, inside submit(), by both backends:
 * a buffered write only copies into the page cache, and on ext4 io_uring
 * cannot do that without blocking, so it would punt every write to an
 * io-wq worker -- a thread hand-off and a completion to reap per write --
 * and io-wq serialises work on one inode, so with a sync linked behind a
 * write (IOSQE_IO_LINK) the next write to that file would wait for the
 * sync, undoing the writer's pipeline. Measured on the e2e benchmark
 * (docs/BENCHMARKS.md), inline writes cut the broker's context switches
 * and CPU per GB.
 *
 * io_uring: the fdatasyncs (IORING_OP_FSYNC with IORING_FSYNC_DATASYNC),
 * which do block, go to the ring and run in parallel; the writer is
 * event-driven over their completions. At most ring_entries - 1 syncs are
 * in the kernel at once (the CQ never overflows); the rest wait in a
 * backlog, in submission order. One more SQE, a poll on an eventfd, lets
 * wake() interrupt a wait for completions when new appends arrive.
 *
 * A write's linked sync (req->link) is the next request of the same
 * submit(): it is queued the moment its write has completed, so a durable
 * append needs one submission and no round trip through the writer's
 * event loop between the write and its sync; behind a failed write it
 * ends -ECANCELED without running, and the write is marked link_broken.
 *
 * psync: the same requests, one after the other, on the writer thread,
 * inside submit(); reap() just hands them back. It is the fallback when
 * io_uring is unavailable or switched off (REWIND_IO_URING=0), and the
 * reference the io_uring path is tested against: the writer above it then
 * runs in lock-step.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "storage/st_int.h"

enum { REQ_PENDING, REQ_INFLIGHT, REQ_DONE };

/* A FIFO of requests linked through req->next. */
typedef struct req_list {
	st__io_req *head, *tail;
} req_list;

static void list_push(req_list *l, st__io_req *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static st__io_req *list_pop(req_list *l)
{
	st__io_req *r = l->head;
	if (r) {
		l->head = r->next;
		if (!l->head)
			l->tail = NULL;
		r->next = NULL;
	}
	return r;
}

/* Consumes n bytes from the front of a request's iovec. */
static void iov_advance(st__io_req *r, size_t n)
{
	r->done += n;
	while (n > 0) {
		assert(r->iovcnt > 0);
		if (n >= r->iov->iov_len) {
			n -= r->iov->iov_len;
			r->iov++;
			r->iovcnt--;
		} else {
			r->iov->iov_base = (uint8_t *)r->iov->iov_base + n;
			r->iov->iov_len -= n;
			n = 0;
		}
	}
	while (r->iovcnt > 0 && r->iov->iov_len == 0) {
		r->iov++;
		r->iovcnt--;
	}
}

/* Runs a write to the end on this thread (short writes continued,
 * EINTR/EAGAIN retried): complete, or failed with err. */
static void write_inline(st_store *s, st__io_req *r)
{
	r->done = 0;
	r->err = st__io_fault(s, ST__IO_WRITE);
	while (r->err == 0 && r->done < r->len) {
		ssize_t w = pwritev(r->fd, r->iov, r->iovcnt, (off_t)(r->pos + (int64_t)r->done));
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r->err = -errno;
		} else if (w == 0) {
			/* No progress and no error: treat as the device refusing. */
			r->err = -EIO;
		} else {
			iov_advance(r, (size_t)w);
		}
	}
	if (r->err < 0 && r->link)
		r->link_broken = true;
}

/* ------------------------------------------------------------- io_uring */

typedef struct uring {
	struct io_uring ring;
	unsigned cap;                 /* syncs allowed in the kernel */
	unsigned inflight;            /* syncs in the kernel */
	req_list backlog;             /* submitted, not yet started */
	req_list done;                /* finished, not yet reaped */
	int efd;                      /* wake(): eventfd, polled by the ring */
	bool poll_armed;
} uring;

static int uring_init(st_store *s, unsigned entries)
{
	uring *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	if (entries < 4)
		entries = 4;
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0) {
		int err = -errno;
		free(u);
		return err;
	}
	int rc = io_uring_queue_init(entries, &u->ring, 0);
	if (rc < 0) {
		close(u->efd);
		free(u);
		return rc;
	}
	/* One SQE and CQE stay free for the wake-up poll. */
	u->cap = entries - 1;
	s->io_state = u;
	return 0;
}

static void uring_fini(st_store *s)
{
	uring *u = s->io_state;
	if (!u)
		return;
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u);
	s->io_state = NULL;
}

/* Finishes a request without handing it to the kernel. */
static void uring_finish_now(uring *u, st__io_req *r, int err)
{
	r->err = err;
	r->state = REQ_DONE;
	list_push(&u->done, r);
}

/* Hands the SQEs prepared so far to the kernel. SQEs it refuses stay in
 * the ring; the next submission or wait offers them again. */
static void uring_submit_queued(st_store *s, uring *u)
{
	int rc;

	do
		rc = io_uring_submit(&u->ring);
	while (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY);
	if (rc < 0)
		st__logf(s, ST_LOG_WARN, "io_uring_submit: %s", st_strerror(rc));
}

/*
 * Starts backlog requests in order: writes run here and now; a failed
 * write cancels its linked sync; syncs go into SQEs while there is room.
 * SQEs are submitted before the next write runs, not after the last: a
 * write's sync then starts as soon as the write is done, instead of
 * waiting out the copies of every write queued behind it (measured with
 * perf trace: 5 requests of 1 MB in one batch held the first sync back
 * ~1.5 ms, and all five answers left together).
 */
static void uring_flush(st_store *s, uring *u)
{
	bool queued = false;

	while (u->backlog.head) {
		st__io_req *r = u->backlog.head;

		if (r->op == ST__IO_WRITE) {
			if (queued) {
				uring_submit_queued(s, u);
				queued = false;
			}
			list_pop(&u->backlog);
			write_inline(s, r);
			uring_finish_now(u, r, r->err);
			if (r->link && r->err < 0) {
				/* As the kernel does behind a failed link. */
				assert(u->backlog.head == r->link);
				list_pop(&u->backlog);
				uring_finish_now(u, r->link, -ECANCELED);
			}
			/* Otherwise the linked sync is next in line: it starts
			 * after the write, like any sync queued behind it. */
			continue;
		}
		if (u->inflight >= u->cap)
			break;
		int f = st__io_fault(s, r->op);
		if (f < 0) {
			list_pop(&u->backlog);
			uring_finish_now(u, r, f);
			continue;
		}
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
		if (!sqe)
			break;
		list_pop(&u->backlog);
		io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, r);
		r->state = REQ_INFLIGHT;
		u->inflight++;
		queued = true;
	}
	if (queued)
		uring_submit_queued(s, u);
}

static void uring_submit(st_store *s, st__io_req *const *reqs, size_t n)
{
	uring *u = s->io_state;

	for (size_t i = 0; i < n; i++) {
		reqs[i]->state = REQ_PENDING;
		reqs[i]->done = 0;
		reqs[i]->err = 0;
		reqs[i]->link_broken = false;
		assert(!reqs[i]->link || (reqs[i]->op == ST__IO_WRITE && i + 1 < n &&
					  reqs[i + 1] == reqs[i]->link &&
					  reqs[i]->link->op == ST__IO_SYNC));
		list_push(&u->backlog, reqs[i]);
	}
	uring_flush(s, u);
}

/* Takes every completion the ring holds. */
static void uring_drain_cq(uring *u)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		st__io_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&u->ring, cqe);
		if (!r) {
			/* The wake-up poll fired: reset the counter. */
			uint64_t v;
			while (read(u->efd, &v, sizeof(v)) < 0 && errno == EINTR)
				;
			u->poll_armed = false;
			continue;
		}
		u->inflight--;
		if (res == -EINTR || res == -EAGAIN) {
			/* Run it again, before anything queued later. */
			r->state = REQ_PENDING;
			r->next = u->backlog.head;
			u->backlog.head = r;
			if (!u->backlog.tail)
				u->backlog.tail = r;
			continue;
		}
		uring_finish_now(u, r, res < 0 ? res : 0);
	}
}

static size_t uring_reap(st_store *s, st__io_req **out, size_t cap, bool wait, int64_t timeout_ms)
{
	uring *u = s->io_state;

	uring_drain_cq(u);
	uring_flush(s, u);
	if (wait && !u->done.head) {
		if (!u->poll_armed) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
			if (sqe) {
				io_uring_prep_poll_add(sqe, u->efd, POLLIN);
				io_uring_sqe_set_data(sqe, NULL);
				u->poll_armed = true;
			}
		}
		struct io_uring_cqe *cqe;
		int rc;
		if (timeout_ms >= 0) {
			struct __kernel_timespec ts = {
				.tv_sec = timeout_ms / 1000,
				.tv_nsec = (timeout_ms % 1000) * 1000000,
			};
			rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
		} else {
			rc = io_uring_submit_and_wait(&u->ring, 1);
		}
		(void)rc; /* EINTR, ETIME: just look at what is there */
		uring_drain_cq(u);
		uring_flush(s, u);
	}
	size_t n = 0;
	while (n < cap && u->done.head)
		out[n++] = list_pop(&u->done);
	return n;
}

static void uring_wake(st_store *s)
{
	uring *u = s->io_state;
	uint64_t one = 1;

	while (write(u->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

const st__io_ops st__io_uring_ops = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.submit = uring_submit,
	.reap = uring_reap,
	.wake = uring_wake,
};

/* ---------------------------------------------------------------- psync */

/* Finished requests waiting for reap(). */
static int psync_init(st_store *s, unsigned entries)
{
	(void)entries;
	req_list *done = calloc(1, sizeof(*done));
	if (!done)
		return -ENOMEM;
	s->io_state = done;
	return 0;
}

static void psync_fini(st_store *s)
{
	free(s->io_state);
	s->io_state = NULL;
}

static void psync_sync(st_store *s, st__io_req *r)
{
	r->done = 0;
	r->err = st__io_fault(s, ST__IO_SYNC);
	while (r->err == 0 && fdatasync(r->fd) < 0) {
		if (errno != EINTR)
			r->err = -errno;
	}
}

static void psync_submit(st_store *s, st__io_req *const *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		st__io_req *r = reqs[i];

		r->link_broken = false;
		if (r->op == ST__IO_SYNC) {
			psync_sync(s, r);
			list_push(s->io_state, r);
			continue;
		}
		write_inline(s, r);
		list_push(s->io_state, r);
		if (r->link && r->err < 0) {
			/* The linked sync, reqs[i + 1], is cancelled. */
			assert(i + 1 < n && reqs[i + 1] == r->link);
			r->link->done = 0;
			r->link->link_broken = false;
			r->link->err = -ECANCELED;
			list_push(s->io_state, r->link);
			i++;
		}
	}
}

/* Everything submitted is already finished: never waits. */
static size_t psync_reap(st_store *s, st__io_req **out, size_t cap, bool wait, int64_t timeout_ms)
{
	size_t n = 0;

	(void)wait;
	(void)timeout_ms;
	while (n < cap && ((req_list *)s->io_state)->head)
		out[n++] = list_pop(s->io_state);
	return n;
}

static void psync_wake(st_store *s)
{
	(void)s;
}

const st__io_ops st__io_psync_ops = {
	.name = "pwrite",
	.init = psync_init,
	.fini = psync_fini,
	.submit = psync_submit,
	.reap = psync_reap,
	.wake = psync_wake,
};
