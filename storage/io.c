/*
 * io.c -- the writer's I/O backends: io_uring, and pwrite + fdatasync.
 *
 * The writer thread (store.c) hands a backend an array of requests -- a
 * vectored write at a position, or an fdatasync -- and the backend runs
 * them all to completion before returning. Like write(2), a write may land
 * short (a full disk writes what fits, then fails); the backend continues a
 * short write where it stopped, so a request ends either complete
 * (done == len) or failed (err < 0, done = the bytes that did land).
 *
 * io_uring: every request becomes one SQE (IORING_OP_WRITEV, or
 * IORING_OP_FSYNC with IORING_FSYNC_DATASYNC); as many as the ring holds
 * are submitted with one io_uring_enter() and the kernel runs them in
 * parallel. The syncs of a round are submitted together, one per file.
 *
 * psync: the same requests, one after the other, on the writer thread. It
 * is the fallback when io_uring is unavailable or switched off
 * (REWIND_IO_URING=0), and the reference the io_uring path is tested
 * against.
 */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <unistd.h>

#include "storage/st_int.h"

enum { REQ_PENDING, REQ_INFLIGHT, REQ_DONE };

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

/* ------------------------------------------------------------- io_uring */

static int uring_init(st_store *s, unsigned entries)
{
	struct io_uring *ring = calloc(1, sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	int rc = io_uring_queue_init(entries, ring, 0);
	if (rc < 0) {
		free(ring);
		return rc;
	}
	s->io_state = ring;
	return 0;
}

static void uring_fini(st_store *s)
{
	struct io_uring *ring = s->io_state;
	if (!ring)
		return;
	io_uring_queue_exit(ring);
	free(ring);
	s->io_state = NULL;
}

/* Handles one completion; returns true when the request is finished. */
static bool uring_complete(st__io_req *r, int res)
{
	if (res == -EINTR || res == -EAGAIN) {
		r->state = REQ_PENDING;
		return false;
	}
	if (res < 0) {
		r->err = res;
		r->state = REQ_DONE;
		return true;
	}
	if (r->op == ST__IO_WRITE) {
		if (res == 0 && r->done < r->len) {
			/* No progress and no error: treat as the device refusing. */
			r->err = -EIO;
			r->state = REQ_DONE;
			return true;
		}
		iov_advance(r, (size_t)res);
		if (r->done < r->len) {
			r->state = REQ_PENDING;
			return false;
		}
	}
	r->state = REQ_DONE;
	return true;
}

static void uring_run(st_store *s, st__io_req *reqs, size_t n)
{
	struct io_uring *ring = s->io_state;
	size_t finished = 0, cursor = 0, inflight = 0;

	for (size_t i = 0; i < n; i++) {
		reqs[i].state = REQ_PENDING;
		reqs[i].done = 0;
		reqs[i].err = 0;
	}
	while (finished < n) {
		for (; cursor < n; cursor++) {
			st__io_req *r = &reqs[cursor];
			if (r->state != REQ_PENDING)
				continue;
			int f = st__io_fault(s, r->op);
			if (f < 0) {
				r->err = f;
				r->state = REQ_DONE;
				finished++;
				continue;
			}
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			if (!sqe)
				break;
			if (r->op == ST__IO_WRITE)
				io_uring_prep_writev(sqe, r->fd, r->iov, (unsigned)r->iovcnt,
						     (uint64_t)(r->pos + (int64_t)r->done));
			else
				io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data(sqe, r);
			r->state = REQ_INFLIGHT;
			inflight++;
		}
		if (inflight == 0)
			continue;
		int rc = io_uring_submit_and_wait(ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			/* The ring itself failed; nothing more will complete. Fail
			 * what is left so the writer can report it. */
			for (size_t i = 0; i < n; i++) {
				if (reqs[i].state != REQ_DONE) {
					reqs[i].err = rc;
					reqs[i].state = REQ_DONE;
					finished++;
				}
			}
			break;
		}
		struct io_uring_cqe *cqe;
		while (io_uring_peek_cqe(ring, &cqe) == 0) {
			st__io_req *r = io_uring_cqe_get_data(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(ring, cqe);
			inflight--;
			if (uring_complete(r, res)) {
				finished++;
			} else {
				size_t idx = (size_t)(r - reqs);
				if (idx < cursor)
					cursor = idx;
			}
		}
	}
	assert(inflight == 0 || finished == n);
}

const st__io_ops st__io_uring_ops = {
	.name = "io_uring",
	.init = uring_init,
	.fini = uring_fini,
	.run = uring_run,
};

/* ---------------------------------------------------------------- psync */

static int psync_init(st_store *s, unsigned entries)
{
	(void)s;
	(void)entries;
	return 0;
}

static void psync_fini(st_store *s)
{
	(void)s;
}

static void psync_one(st_store *s, st__io_req *r)
{
	r->done = 0;
	r->err = st__io_fault(s, r->op);
	if (r->err < 0)
		return;
	if (r->op == ST__IO_SYNC) {
		while (fdatasync(r->fd) < 0) {
			if (errno != EINTR) {
				r->err = -errno;
				return;
			}
		}
		return;
	}
	while (r->done < r->len) {
		ssize_t w = pwritev(r->fd, r->iov, r->iovcnt, (off_t)(r->pos + (int64_t)r->done));
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r->err = -errno;
			return;
		}
		if (w == 0) {
			r->err = -EIO;
			return;
		}
		iov_advance(r, (size_t)w);
	}
}

static void psync_run(st_store *s, st__io_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		psync_one(s, &reqs[i]);
}

const st__io_ops st__io_psync_ops = {
	.name = "pwrite",
	.init = psync_init,
	.fini = psync_fini,
	.run = psync_run,
};
