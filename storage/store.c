/*
 * store.c -- the storage engine of a process: the writer thread and its
 * queues.
 *
 * Appenders (any thread) stamp an append with offsets and a file position
 * under the log lock and push it on the store's queue; tasks (seal a rolled
 * segment, close a log) go on a second queue. Both are guarded by store->mu,
 * held only to link or unlink pointers, and the writer sleeps on a condition
 * variable when both are empty. No lock is held across I/O.
 *
 * The writer is a pipeline of batches. A batch is what the queues held
 * when it started (appends in call order, then the tasks behind them); it
 * goes through
 *
 *   WRITING  appends whose log failed since they were stamped (generation)
 *            or went offline are dropped; one vectored write per run of
 *            contiguous appends to one segment file, all submitted at once,
 *            each followed by a linked fdatasync of its file when the
 *            log's policy wants every append synced (flush.messages = 1)
 *            and the file's directory entry is already durable: the
 *            backend starts that sync as soon as the write completes, so
 *            the durable path is one submission (see io.c);
 *            when the last write completes: a failed write truncates its
 *            log back to the failed append (log.c) and fails every later
 *            append of that log; then, for every log with written, unsynced
 *            bytes whose policy wants it now -- always under
 *            flush.messages = 1, else once flush.messages records or
 *            flush.ms have accumulated -- one fdatasync per dirty file plus
 *            one directory sync if a roll created a segment (a write with
 *            a linked sync leaves its file clean; the appends a failed
 *            write completed before it failed leave it dirty, so they are
 *            synced here like unlinked ones);
 *   SYNCING  until those syncs and the linked ones complete; a failed
 *            sync takes its log offline;
 *   DONE     and, once every older batch is retired: the readable ends
 *            move and the callbacks run, in queue order; then the tasks.
 *
 * The writer sleeps in io->reap() for completions (or on the condition
 * variable when nothing is in flight) and reacts to each: a completion
 * moves its batch on, a new append starts a new batch while older ones
 * are still syncing. Invariants:
 *
 *   - At most one batch is WRITING. So a write failure is handled while
 *     no later write of that log is in flight (the truncation cannot race
 *     a write beyond it), and appends of one log are written in order.
 *   - A batch's syncs are built only after all its writes completed, and
 *     every append's file is dirty until a sync submitted after that point
 *     takes it off the dirty list: an append counts as durable only
 *     through an fdatasync submitted after its write completed, or one
 *     linked behind its write, which the backend starts only after the
 *     whole write completed (behind a failed write it never runs). One
 *     sync per file covers every append of that file written before it
 *     (group commit); a file may have syncs of several batches in flight.
 *   - Batches retire strictly in queue order, so callbacks of one log run
 *     in append order and its readable end only moves over bytes that are
 *     written (and synced, under the durable policy), without a gap. A
 *     log that went offline fails the appends of every batch retired
 *     after the failure, even those whose own sync succeeded.
 *   - A batch carrying tasks is a barrier: no batch starts until it
 *     retires, so a task runs with nothing in flight (a closing log
 *     leaves no sync behind; SEAL follows the writes it seals).
 *
 * With the pwrite backend every request is finished inside submit(), and
 * the same code runs the phases in lock-step. Callbacks run on this thread
 * and must not block.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "storage/st_int.h"

/* Appends joined into one vectored write (well below IOV_MAX). */
#define RUN_IOV_MAX 256

void st_store_options_default(st_store_options *o)
{
	memset(o, 0, sizeof(*o));
	const char *env = getenv("REWIND_IO_URING");
	o->use_io_uring = !(env && strcmp(env, "0") == 0);
	o->ring_entries = 256;
}

bool st_store_uses_io_uring(const st_store *s)
{
	return s->io == &st__io_uring_ops;
}

int64_t st__monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ----------------------------------------------------------------- queues */

/* Under s->mu: new work for the writer, asleep on the condition variable
 * or in the backend's wait for completions. */
static void writer_wake(st_store *s)
{
	pthread_cond_signal(&s->wake);
	if (s->w_ring_wait) {
		s->w_ring_wait = false;
		s->io->wake(s);
	}
}

void st__store_enqueue(st_store *s, st_append *a)
{
	a->next = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->qtail)
		s->qtail->next = a;
	else
		s->qhead = a;
	s->qtail = a;
	writer_wake(s);
	pthread_mutex_unlock(&s->mu);
}

void st__store_post(st_store *s, st__task *t)
{
	t->next = NULL;
	t->done = false;
	pthread_mutex_lock(&s->mu);
	if (s->ttail)
		s->ttail->next = t;
	else
		s->thead = t;
	s->ttail = t;
	writer_wake(s);
	pthread_mutex_unlock(&s->mu);
}

void st__store_wait(st_store *s, st__task *t)
{
	assert(t->waited);
	pthread_mutex_lock(&s->mu);
	while (!t->done)
		pthread_cond_wait(&s->done, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

void st__store_barrier(st_store *s)
{
	st__task t = { .kind = ST__TASK_BARRIER, .waited = true };

	st__store_post(s, &t);
	st__store_wait(s, &t);
}

/* ----------------------------------------------------------------- faults */

void st__store_inject_fault(st_store *s, enum st__io_op op, int err, int skip, int count)
{
	assert(err < 0 && (op == ST__IO_WRITE || op == ST__IO_SYNC));
	pthread_mutex_lock(&s->mu);
	s->fault_err[op] = err;
	s->fault_skip[op] = skip;
	s->fault_count[op] = count;
	if (count > 0)
		atomic_store(&s->fault_armed, true);
	pthread_mutex_unlock(&s->mu);
}

int st__io_fault(st_store *s, enum st__io_op op)
{
	int err = 0;

	/* Outside tests nothing is armed: no lock per request. */
	if (!atomic_load_explicit(&s->fault_armed, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&s->mu);
	if (s->fault_count[op] > 0) {
		if (s->fault_skip[op] > 0) {
			s->fault_skip[op]--;
		} else {
			s->fault_count[op]--;
			err = s->fault_err[op];
		}
	}
	pthread_mutex_unlock(&s->mu);
	return err;
}

/* ----------------------------------------------------------------- writer */

typedef struct slot {
	st_append *a;
	int err;
	int req;                      /* write request, -1 none, -2 no memory */
	size_t off;                   /* bytes of the request before this append */
} slot;

/* A log as one batch sees it. */
typedef struct blog {
	st_log *log;
	bool touched;                 /* has appends in the batch */
	bool sync_now;                /* the batch syncs the log's dirty files */
	int sync_err;                 /* first failure of those syncs */
	int64_t flush_messages;       /* the policy when the writes completed */
} blog;

/* What one sync request covers. */
typedef struct sync_ref {
	size_t bl;                    /* the log's entry in the batch */
	st__segment *seg;             /* a reference; NULL for the directory */
} sync_ref;

enum batch_state { B_FREE, B_WRITING, B_SYNCING, B_DONE };

/* Appends taken from the queue together, and the tasks that follow them. */
typedef struct batch {
	enum batch_state state;
	size_t pending;               /* writes in flight */
	size_t spending;              /* syncs in flight (linked ones too) */
	bool nomem;                   /* could not build the syncs */
	slot *w;
	size_t nw, capw;
	st__io_req *wreq;             /* writes */
	size_t nwreq, capwreq;
	st__io_req *lsync;            /* lsync[i]: wreq[i]'s linked sync, if
	                                 wlog[i] >= 0 (capwreq of them) */
	size_t caplsync;
	int *wlog;                    /* the log entry of wreq[i]'s linked
	                                 sync; -1: none is linked */
	size_t capwlog;
	struct iovec *iov;
	size_t capiov;
	st__io_req *sreq;             /* syncs, one per file (refs alike) */
	size_t nsreq, capsreq;
	sync_ref *refs;
	size_t caprefs;
	blog *logs;
	size_t nlogs, caplogs;
	st__segment **rsegs;          /* segments whose w_req is set */
	size_t nrsegs, caprsegs;
	int *dirfds;
	size_t ndir, capdirfds;
	st__io_req **ptrs;            /* submit() argument */
	size_t capptrs;
	st__task *tasks;              /* run after the callbacks */
	struct batch *next;           /* in flight, oldest first */
} batch;

/* Batches in flight at most; each holds a write or sync phase. */
#define NBATCH 8
#define REAP_MAX 64

typedef struct writer {
	st_store *s;
	batch b[NBATCH];
	batch *head, *tail;           /* in flight, in queue order */
	size_t nbusy;
	batch *writing;               /* the batch whose writes are in flight */
	bool barrier;                 /* a batch with tasks is in flight */
	size_t inflight;              /* submitted, not yet reaped */
	st_append *carry_a;           /* taken from the queue, not yet batched */
	st__task *carry_t;
	st__io_req *done[REAP_MAX];
} writer;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static void dirty_logs_remove(st_store *s, st_log *log)
{
	if (!log->w_listed)
		return;
	for (st_log **pp = &s->w_dirty_logs; *pp; pp = &(*pp)->w_next) {
		if (*pp == log) {
			*pp = log->w_next;
			break;
		}
	}
	log->w_listed = false;
	log->w_next = NULL;
}

/* Forgets a log's dirty segments (the log is offline or closing). */
static void dirty_clear(st_store *s, st_log *log)
{
	while (log->w_dirty) {
		st__segment *seg = log->w_dirty;
		log->w_dirty = seg->w_next;
		seg->w_next = NULL;
		seg->w_dirty = false;
		st__segment_unref(seg);
	}
	log->w_unsynced_records = 0;
	dirty_logs_remove(s, log);
}

/* Marks a written append's segment dirty in its log. */
static void dirty_add(st_store *s, st_log *log, st__segment *seg, int64_t records, int64_t now)
{
	if (!seg->w_dirty) {
		seg->w_dirty = true;
		st__segment_ref(seg);
		seg->w_next = log->w_dirty;
		log->w_dirty = seg;
	}
	if (log->w_unsynced_records == 0)
		log->w_first_unsynced_ms = now;
	log->w_unsynced_records += records;
	if (!log->w_listed) {
		log->w_listed = true;
		log->w_next = s->w_dirty_logs;
		s->w_dirty_logs = log;
	}
}

/* The log's entry in the batch, added if missing: its index or -1 without
 * memory. log->w_bl caches the index; it is trusted only if it points back
 * at the log, so entries of other batches never confuse it. */
static int batch_log(batch *b, st_log *log)
{
	int i = log->w_bl;

	if (i >= 0 && (size_t)i < b->nlogs && b->logs[i].log == log)
		return i;
	if (grow((void **)&b->logs, &b->caplogs, b->nlogs + 1, sizeof(*b->logs)) < 0)
		return -1;
	b->logs[b->nlogs] = (blog){ .log = log, .flush_messages = log->w_flush_messages };
	log->w_bl = (int)b->nlogs;
	return (int)b->nlogs++;
}

/* Submits reqs[0..n), counting them as syncs in flight (the caller counts
 * writes). b->ptrs must have room for n. */
static void writer_submit(writer *wr, batch *b, st__io_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		reqs[i].owner = b;
		b->ptrs[i] = &reqs[i];
	}
	b->spending += n;
	wr->inflight += n;
	wr->s->io->submit(wr->s, b->ptrs, n);
}

/* Submits the batch's writes, each followed by its linked sync if it has
 * one. b->ptrs must have room for 2 * nwreq. */
static void writer_submit_writes(writer *wr, batch *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->nwreq; i++) {
		b->wreq[i].owner = b;
		b->ptrs[n++] = &b->wreq[i];
		if (b->wlog[i] >= 0) {
			b->lsync[i] = (st__io_req){ .op = ST__IO_SYNC, .fd = b->wreq[i].fd,
						    .owner = b };
			b->wreq[i].link = &b->lsync[i];
			b->ptrs[n++] = &b->lsync[i];
			b->spending++;
		}
	}
	b->pending = b->nwreq;
	wr->inflight += n;
	wr->s->io->submit(wr->s, b->ptrs, n);
}

/* The index of r in b->lsync, or -1 when r is not a linked sync. */
static int linked_index(const batch *b, const st__io_req *r)
{
	uintptr_t off = (uintptr_t)r - (uintptr_t)b->lsync;

	if (!b->lsync || off >= b->nwreq * sizeof(*r))
		return -1;
	return (int)(off / sizeof(*r));
}

/*
 * Adds sync requests for every dirty segment of the log (entry bl) and,
 * if one of them was created by a roll, for its directory; the dirty list
 * hands its segment references to the requests and is emptied. The arrays
 * must have room (sync_room).
 */
static void sync_build(batch *b, size_t bl)
{
	st_log *log = b->logs[bl].log;
	st_store *s = log->store;
	bool dir = false;

	while (log->w_dirty) {
		st__segment *seg = log->w_dirty;
		log->w_dirty = seg->w_next;
		seg->w_next = NULL;
		seg->w_dirty = false;
		dir |= seg->w_dir_unsynced;
		/* If this sync or the directory's fails, the log goes
		 * offline for good, so the flag is not needed again. */
		seg->w_dir_unsynced = false;
		b->sreq[b->nsreq] = (st__io_req){ .op = ST__IO_SYNC, .fd = seg->fd };
		b->refs[b->nsreq++] = (sync_ref){ bl, seg };
	}
	log->w_unsynced_records = 0;
	dirty_logs_remove(s, log);
	if (!dir)
		return;
	/* A segment created by a roll is durable only once the directory
	 * entry naming it is. */
	int fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		/* Renamed away for deletion (st_log_set_deleting) since the
		 * roll: the appends waiting on it are answered as their
		 * partition now is, going. */
		if (err == -ENOENT && !st__log_failure_is_news(log))
			err = ST_ERR_DELETING;
		if (!b->logs[bl].sync_err)
			b->logs[bl].sync_err = err;
		st__log_set_offline(log, err, log->dir);
		return;
	}
	b->dirfds[b->ndir++] = fd;
	b->sreq[b->nsreq] = (st__io_req){ .op = ST__IO_SYNC, .fd = fd };
	b->refs[b->nsreq++] = (sync_ref){ bl, NULL };
}

/* Room for `segs` segment syncs and `logs` directory syncs more. */
static int sync_room(batch *b, size_t segs, size_t logs)
{
	size_t need = b->nsreq + segs + logs;

	if (grow((void **)&b->sreq, &b->capsreq, need, sizeof(*b->sreq)) < 0 ||
	    grow((void **)&b->refs, &b->caprefs, need, sizeof(*b->refs)) < 0 ||
	    grow((void **)&b->ptrs, &b->capptrs, need, sizeof(*b->ptrs)) < 0 ||
	    grow((void **)&b->dirfds, &b->capdirfds, b->ndir + logs, sizeof(int)) < 0)
		return -ENOMEM;
	return 0;
}

/* A sync request finished: record its outcome in its log. */
static void sync_finished(batch *b, st__io_req *r)
{
	int li = linked_index(b, r);

	if (li >= 0) {
		blog *bl = &b->logs[b->wlog[li]];

		/* Cancelled: its write failed, and the appends it holds are
		 * failed, or synced again if they landed before the failure
		 * (writes_done).
		 * Any other failure counts, whatever the write did: the
		 * kernel reports a writeback error once. */
		if (r->err == -ECANCELED)
			return;
		if (r->err < 0) {
			if (!bl->sync_err)
				bl->sync_err = r->err;
			st__log_set_offline(bl->log, r->err, bl->log->dir);
		} else {
			st__log_count_sync(bl->log);
		}
		return;
	}
	sync_ref *ref = &b->refs[r - b->sreq];
	blog *bl = &b->logs[ref->bl];

	if (r->err < 0) {
		if (!bl->sync_err)
			bl->sync_err = r->err;
		st__log_set_offline(bl->log, r->err, ref->seg ? ref->seg->prefix : bl->log->dir);
	} else if (ref->seg) {
		st__log_count_sync(bl->log);
	}
}

/* Every sync of the batch finished: release what they held. */
static void syncs_done(batch *b)
{
	for (size_t i = 0; i < b->nsreq; i++)
		if (b->refs[i].seg)
			st__segment_unref(b->refs[i].seg);
	for (size_t i = 0; i < b->ndir; i++)
		close(b->dirfds[i]);
	b->nsreq = 0;
	b->ndir = 0;
	b->state = B_DONE;
}

/*
 * The batch's writes all finished (no write of the batch is in flight and
 * no other batch's writes are): handle failures, then submit the syncs.
 */
static void writes_done(writer *wr, batch *b)
{
	st_store *s = wr->s;

	wr->writing = NULL;
	for (size_t i = 0; i < b->nrsegs; i++)
		b->rsegs[i]->w_req = -1;
	b->nrsegs = 0;

	/* Failures, in queue order, so the first failed append of a log
	 * decides where that log is truncated. No later write of the log is
	 * in flight: batches write one at a time. */
	for (size_t i = 0; i < b->nw; i++) {
		slot *sl = &b->w[i];
		st_append *a = sl->a;
		st_log *log = a->priv_log;
		if (sl->err)
			continue;
		int err = sl->req == -2 ? -ENOMEM : 0;
		if (sl->req >= 0) {
			const st__io_req *r = &b->wreq[sl->req];
			if (r->err < 0 && r->done < sl->off + a->len)
				err = r->err;
		}
		if (err < 0) {
			if (a->priv_gen == log->gen) {
				st__log_write_failed(log, a, err);
				sl->err = err;
			} else {
				sl->err = ST_ERR_TRUNCATED;
			}
		} else if (a->priv_gen != log->gen) {
			sl->err = ST_ERR_TRUNCATED;
		}
	}

	/* Which logs sync now: every log with written, unsynced bytes whose
	 * policy says so (not only the logs of this batch: flush.ms). */
	int64_t now = st__monotonic_ms();
	for (size_t i = 0; i < b->nlogs; i++) {
		st_log *log = b->logs[i].log;
		pthread_mutex_lock(&log->mu);
		log->w_flush_messages = log->cfg.flush_messages;
		log->w_flush_ms = log->cfg.flush_ms;
		pthread_mutex_unlock(&log->mu);
		b->logs[i].flush_messages = log->w_flush_messages;
	}
	for (size_t i = 0; i < b->nw; i++) {
		slot *sl = &b->w[i];
		if (sl->err != 0 || sl->req < 0)
			continue;
		const st__io_req *r = &b->wreq[sl->req];
		if (b->wlog[sl->req] >= 0 && r->err == 0 && !r->link_broken) {
			/* Its linked sync makes it durable: nothing to add. */
			b->logs[b->wlog[sl->req]].sync_now = true;
			continue;
		}
		dirty_add(s, sl->a->priv_log, sl->a->priv_file, sl->a->priv_records, now);
	}
	size_t nlogs = 0, nsegs = 0;
	for (st_log *log = s->w_dirty_logs; log; log = log->w_next) {
		nlogs++;
		for (st__segment *seg = log->w_dirty; seg; seg = seg->w_next)
			nsegs++;
	}
	b->nsreq = 0;
	b->ndir = 0;
	if (sync_room(b, nsegs, nlogs) < 0 ||
	    grow((void **)&b->logs, &b->caplogs, b->nlogs + nlogs, sizeof(*b->logs)) < 0) {
		/* Without memory to sync, nothing can be called durable;
		 * the dirty lists stay for a later batch. Linked syncs in
		 * flight are still waited for. */
		b->nomem = true;
		b->state = B_SYNCING;
		if (b->spending == 0)
			syncs_done(b);
		return;
	}
	st_log *log = s->w_dirty_logs;
	while (log) {
		st_log *next = log->w_next;
		bool now_ = !log->offline &&
			    (log->w_flush_messages <= 1 ||
			     log->w_unsynced_records >= log->w_flush_messages ||
			     now - log->w_first_unsynced_ms >= log->w_flush_ms);
		if (now_) {
			int bl = batch_log(b, log);
			assert(bl >= 0); /* room was made above */
			b->logs[bl].sync_now = true;
			sync_build(b, (size_t)bl);
		} else if (log->offline) {
			dirty_clear(s, log);
		}
		log = next;
	}
	b->state = B_SYNCING;
	if (b->nsreq > 0)
		writer_submit(wr, b, b->sreq, b->nsreq);
	/* (psync finishes them inside submit, but they are reaped later, so
	 * spending cannot have dropped yet.) */
	if (b->spending == 0)
		syncs_done(b);
}

/* Room for n write requests and their linked syncs. 0 or -ENOMEM. Never
 * while the batch's writes are in flight (the kernel holds pointers). */
static int wreq_room(batch *b, size_t n)
{
	if (grow((void **)&b->wreq, &b->capwreq, n, sizeof(*b->wreq)) < 0 ||
	    grow((void **)&b->lsync, &b->caplsync, n, sizeof(*b->lsync)) < 0 ||
	    grow((void **)&b->wlog, &b->capwlog, n, sizeof(*b->wlog)) < 0)
		return -ENOMEM;
	return 0;
}

/* Builds the batch's write requests from its appends and submits them. */
static void batch_start(writer *wr, batch *b)
{
	size_t niov = 0;

	b->nwreq = 0;
	b->nlogs = 0;
	b->nomem = false;
	b->pending = 0;
	b->spending = 0;
	for (size_t i = 0; i < b->nw; i++) {
		slot *sl = &b->w[i];
		st_append *a = sl->a;
		st_log *log = a->priv_log;
		st__segment *seg = a->priv_file;

		if (a->priv_gen != log->gen) {
			sl->err = ST_ERR_TRUNCATED;
			continue;
		}
		if (log->offline) {
			sl->err = ST_ERR_OFFLINE;
			continue;
		}
		if (a->duplicate)
			continue;  /* nothing to write; retired in order (log.c) */
		int bl = batch_log(b, log);
		if (bl < 0) {
			sl->req = -2;
			continue;
		}
		if (!b->logs[bl].touched) {
			/* The policy as of now decides whether the writes
			 * link their syncs. */
			pthread_mutex_lock(&log->mu);
			log->w_flush_messages = log->cfg.flush_messages;
			log->w_flush_ms = log->cfg.flush_ms;
			pthread_mutex_unlock(&log->mu);
			b->logs[bl].touched = true;
		}
		int r = seg->w_req;
		if (r < 0 || b->wreq[r].pos + (int64_t)b->wreq[r].len != a->priv_pos ||
		    b->wreq[r].iovcnt >= RUN_IOV_MAX) {
			if (wreq_room(b, b->nwreq + 1) < 0 ||
			    grow((void **)&b->rsegs, &b->caprsegs, b->nrsegs + 1,
				 sizeof(*b->rsegs)) < 0) {
				sl->req = -2;
				continue;
			}
			r = (int)b->nwreq++;
			b->wreq[r] = (st__io_req){ .op = ST__IO_WRITE, .fd = seg->fd,
						   .pos = a->priv_pos };
			/* Durable appends get their sync linked behind the
			 * write, unless a roll left the directory entry to
			 * sync too (writes_done does both then). */
			b->wlog[r] = log->w_flush_messages <= 1 && !seg->w_dir_unsynced ? bl : -1;
			if (seg->w_req < 0)
				b->rsegs[b->nrsegs++] = seg;
			seg->w_req = r;
		}
		sl->req = r;
		sl->off = b->wreq[r].len;
		b->wreq[r].len += a->len;
		b->wreq[r].iovcnt++;
		niov++;
	}
	b->state = B_WRITING;
	wr->writing = b;
	if (grow((void **)&b->iov, &b->capiov, niov + 1, sizeof(*b->iov)) < 0 ||
	    grow((void **)&b->ptrs, &b->capptrs, 2 * b->nwreq, sizeof(*b->ptrs)) < 0) {
		for (size_t i = 0; i < b->nwreq; i++) {
			b->wreq[i].err = -ENOMEM;
			b->wreq[i].done = 0;
			b->wlog[i] = -1;
		}
		writes_done(wr, b);
		return;
	}
	/* Lay each request's iovecs out contiguously, in append order. */
	size_t at = 0;
	for (size_t r = 0; r < b->nwreq; r++) {
		b->wreq[r].iov = b->iov + at;
		at += (size_t)b->wreq[r].iovcnt;
		b->wreq[r].iovcnt = 0;
	}
	for (size_t i = 0; i < b->nw; i++) {
		slot *sl = &b->w[i];
		if (sl->err || sl->req < 0)
			continue;
		st__io_req *r = &b->wreq[sl->req];
		r->iov[r->iovcnt++] = (struct iovec){ sl->a->data, sl->a->len };
	}
	if (b->nwreq == 0) {
		writes_done(wr, b);
		return;
	}
	writer_submit_writes(wr, b);
}

/* Runs submitted requests to the end; only when nothing else is in flight
 * (the pipeline is drained), so every request reaped is one of these. */
static void writer_run(writer *wr, batch *b, st__io_req *reqs, size_t n)
{
	assert(wr->inflight == 0);
	writer_submit(wr, b, reqs, n);
	while (wr->inflight > 0) {
		size_t got = wr->s->io->reap(wr->s, wr->done, REAP_MAX, true, -1);
		wr->inflight -= got;
	}
	b->spending = 0;
}

static void run_tasks(writer *wr, batch *b)
{
	st_store *s = wr->s;
	st__task *t = b->tasks;

	b->tasks = NULL;
	while (t) {
		st__task *next = t->next;
		st_log *log = t->log;
		switch (t->kind) {
		case ST__TASK_SEAL:
			st__log_seal(log, t->seg, t);
			st__segment_unref(t->seg);
			free(t->snap);
			break;
		case ST__TASK_CLOSE:
			if (log->w_dirty && !log->offline) {
				size_t nsegs = 0;
				for (st__segment *seg = log->w_dirty; seg; seg = seg->w_next)
					nsegs++;
				b->nlogs = 0;
				b->nsreq = 0;
				b->ndir = 0;
				int bl = sync_room(b, nsegs, 1) == 0 ? batch_log(b, log) : -1;
				if (bl < 0) {
					t->result = -ENOMEM;
				} else {
					sync_build(b, (size_t)bl);
					writer_run(wr, b, b->sreq, b->nsreq);
					for (size_t i = 0; i < b->nsreq; i++)
						sync_finished(b, &b->sreq[i]);
					syncs_done(b);
					t->result = b->logs[bl].sync_err;
				}
				b->nlogs = 0;
			}
			dirty_clear(s, log);
			break;
		case ST__TASK_BARRIER:
			break;
		}
		if (t->waited) {
			pthread_mutex_lock(&s->mu);
			t->done = true;
			pthread_cond_broadcast(&s->done);
			pthread_mutex_unlock(&s->mu);
		} else {
			free(t);
		}
		t = next;
	}
}

/*
 * The oldest batch in flight is done: move readable ends and run the
 * callbacks, in queue order, then its tasks.
 */
static void batch_retire(writer *wr, batch *b)
{
	for (size_t i = 0; i < b->nlogs; i++)
		b->logs[i].log->w_bl = (int)i;
	for (size_t i = 0; i < b->nw; i++) {
		slot *sl = &b->w[i];
		st_append *a = sl->a;
		st_log *log = a->priv_log;
		if (sl->err)
			continue;
		if (a->duplicate) {
			/* Retired after the original (queue order): it stands if
			 * the original became readable, so a retry is never
			 * acknowledged for a write that failed. */
			pthread_mutex_lock(&log->mu);
			if (log->offline)
				sl->err = ST_ERR_OFFLINE;
			else if (a->last_offset >= log->readable_end)
				sl->err = ST_ERR_TRUNCATED;
			else
				a->durable = log->cfg.flush_messages <= 1;
			pthread_mutex_unlock(&log->mu);
			continue;
		}
		blog *bl = &b->logs[log->w_bl];
		assert(bl->log == log);
		if (b->nomem && (bl->flush_messages <= 1 || bl->sync_now))
			sl->err = -ENOMEM;
		else if (bl->sync_now && bl->sync_err)
			sl->err = bl->sync_err;
		else if (log->offline)
			/* A sync failed (maybe a later batch's): the page cache
			 * may have lost bytes this batch's sync did not see. */
			sl->err = ST_ERR_OFFLINE;
		else if (bl->sync_now)
			a->durable = true;
		else if (bl->flush_messages <= 1)
			/* The policy wants a sync that did not happen. */
			sl->err = ST_ERR_OFFLINE;
		if (sl->err == 0)
			st__log_commit(log, a);
	}
	for (size_t i = 0; i < b->nlogs; i++)
		if (b->logs[i].touched)
			st__log_persist_epochs(b->logs[i].log);
	for (size_t i = 0; i < b->nw; i++) {
		st_append *a = b->w[i].a;
		st__segment *seg = a->priv_file;
		/* After the callback the append belongs to the caller again. */
		a->cb(a, b->w[i].err);
		if (seg)  /* a duplicate holds none */
			st__segment_unref(seg);
	}
	b->nw = 0;
	b->nlogs = 0;
	if (b->tasks) {
		assert(wr->head == NULL && wr->barrier);
		run_tasks(wr, b);
		wr->barrier = false;
	}
	b->state = B_FREE;
	wr->nbusy--;
}

/* Fills a free batch from the carried appends (and, once they all fit,
 * the carried tasks) and starts it. */
static void batch_new(writer *wr)
{
	batch *b = NULL;

	for (size_t i = 0; i < NBATCH && !b; i++)
		if (wr->b[i].state == B_FREE)
			b = &wr->b[i];
	assert(b);
	b->nw = 0;
	while (wr->carry_a && (b->nw < b->capw ||
			       grow((void **)&b->w, &b->capw, b->nw + 1, sizeof(*b->w)) == 0)) {
		b->w[b->nw++] = (slot){ .a = wr->carry_a, .req = -1 };
		wr->carry_a = wr->carry_a->next;
	}
	if (!wr->carry_a) {
		b->tasks = wr->carry_t;
		wr->carry_t = NULL;
		if (b->tasks)
			wr->barrier = true;
	}
	b->next = NULL;
	if (wr->tail)
		wr->tail->next = b;
	else
		wr->head = b;
	wr->tail = b;
	wr->nbusy++;
	batch_start(wr, b);
}

/* One finished request. */
static void request_done(writer *wr, st__io_req *r)
{
	batch *b = r->owner;

	if (r->op == ST__IO_WRITE) {
		assert(b->state == B_WRITING && b->pending > 0);
		if (--b->pending == 0)
			writes_done(wr, b);
	} else {
		/* A linked sync may finish while its batch still writes. */
		assert(b->spending > 0);
		b->spending--;
		sync_finished(b, r);
		if (b->state == B_SYNCING && b->spending == 0)
			syncs_done(b);
	}
}

static void retire_ready(writer *wr)
{
	while (wr->head && wr->head->state == B_DONE) {
		batch *b = wr->head;
		wr->head = b->next;
		if (!wr->head)
			wr->tail = NULL;
		b->next = NULL;
		batch_retire(wr, b);
	}
}

/* The next flush.ms deadline among logs with unsynced bytes, or -1. */
static int64_t next_deadline(const st_store *s)
{
	int64_t d = -1;

	for (const st_log *log = s->w_dirty_logs; log; log = log->w_next) {
		if (log->offline)
			continue;
		int64_t t = log->w_first_unsynced_ms + log->w_flush_ms;
		if (d < 0 || t < d)
			d = t;
	}
	return d;
}

static void writer_free(writer *wr)
{
	if (!wr)
		return;
	for (size_t i = 0; i < NBATCH; i++) {
		batch *b = &wr->b[i];
		free(b->w);
		free(b->wreq);
		free(b->lsync);
		free(b->wlog);
		free(b->iov);
		free(b->sreq);
		free(b->refs);
		free(b->logs);
		free(b->rsegs);
		free(b->dirfds);
		free(b->ptrs);
	}
	free(wr);
}

/* The first batch's scratch is allocated up front so the writer can always
 * make progress: with no memory to grow it, a batch just takes fewer
 * appends. */
static writer *writer_new(st_store *s)
{
	writer *wr = calloc(1, sizeof(*wr));
	if (!wr)
		return NULL;
	wr->s = s;
	batch *b = &wr->b[0];
	if (grow((void **)&b->w, &b->capw, 64, sizeof(*b->w)) < 0 ||
	    wreq_room(b, 64) < 0 ||
	    grow((void **)&b->iov, &b->capiov, 64, sizeof(*b->iov)) < 0 ||
	    grow((void **)&b->sreq, &b->capsreq, 64, sizeof(*b->sreq)) < 0 ||
	    grow((void **)&b->refs, &b->caprefs, 64, sizeof(*b->refs)) < 0 ||
	    grow((void **)&b->logs, &b->caplogs, 64, sizeof(*b->logs)) < 0 ||
	    grow((void **)&b->rsegs, &b->caprsegs, 64, sizeof(*b->rsegs)) < 0 ||
	    grow((void **)&b->dirfds, &b->capdirfds, 64, sizeof(*b->dirfds)) < 0 ||
	    grow((void **)&b->ptrs, &b->capptrs, 128, sizeof(*b->ptrs)) < 0) {
		writer_free(wr);
		return NULL;
	}
	return wr;
}

static void *writer_main(void *arg)
{
	st_store *s = arg;
	writer *wr = s->w_scratch;

	pthread_setname_np(pthread_self(), "rw-writer");
	for (;;) {
		/* A new batch may start when no batch is writing, no task
		 * waits for the pipeline to drain, and one is free. */
		bool can_start = !wr->writing && !wr->barrier && wr->nbusy < NBATCH;

		pthread_mutex_lock(&s->mu);
		if (can_start && !wr->carry_a && !wr->carry_t) {
			wr->carry_a = s->qhead;
			wr->carry_t = s->thead;
			s->qhead = s->qtail = NULL;
			s->thead = s->ttail = NULL;
		}
		int64_t d = next_deadline(s);
		int64_t now = st__monotonic_ms();
		if (can_start && (wr->carry_a || wr->carry_t || (d >= 0 && now >= d))) {
			pthread_mutex_unlock(&s->mu);
			/* With nothing carried this batch only serves flush.ms. */
			batch_new(wr);
			retire_ready(wr);
			continue;
		}
		if (wr->inflight == 0) {
			/* Nothing in flight, so nothing is in the pipeline. */
			assert(!wr->head && can_start);
			if (s->stop)
				break;
			if (d < 0) {
				pthread_cond_wait(&s->wake, &s->mu);
			} else {
				struct timespec ts = { .tv_sec = d / 1000,
						       .tv_nsec = (d % 1000) * 1000000 };
				pthread_cond_timedwait(&s->wake, &s->mu, &ts);
			}
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		/* Wait for completions; new work interrupts the wait only if
		 * it could start now. */
		s->w_ring_wait = can_start;
		pthread_mutex_unlock(&s->mu);
		int64_t timeout = can_start && d >= 0 ? d - now : -1;
		size_t n = s->io->reap(s, wr->done, REAP_MAX, true, timeout);
		if (can_start) {
			pthread_mutex_lock(&s->mu);
			s->w_ring_wait = false;
			pthread_mutex_unlock(&s->mu);
		}
		assert(n <= wr->inflight);
		wr->inflight -= n;
		for (size_t i = 0; i < n; i++)
			request_done(wr, wr->done[i]);
		retire_ready(wr);
	}
	pthread_mutex_unlock(&s->mu);
	assert(!s->w_dirty_logs);
	return NULL;
}

/* ------------------------------------------------------------- lifecycle */

int st_store_open(const st_store_options *o, st_store **out)
{
	st_store_options def;
	int rc;

	*out = NULL;
	if (!o) {
		st_store_options_default(&def);
		o = &def;
	}
	st_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->opts = *o;
	/* The environment switch wins, so a whole test run can force the
	 * fallback whatever the program asked for. */
	const char *env = getenv("REWIND_IO_URING");
	if (env && strcmp(env, "0") == 0)
		s->opts.use_io_uring = false;
	if (s->opts.ring_entries == 0)
		s->opts.ring_entries = 256;

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->wake, &ca);
	pthread_cond_init(&s->done, NULL);
	pthread_condattr_destroy(&ca);

	s->w_scratch = writer_new(s);
	if (!s->w_scratch) {
		pthread_cond_destroy(&s->wake);
		pthread_cond_destroy(&s->done);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return -ENOMEM;
	}
	s->io = &st__io_psync_ops;
	if (s->opts.use_io_uring) {
		rc = st__io_uring_ops.init(s, s->opts.ring_entries);
		if (rc == 0)
			s->io = &st__io_uring_ops;
		else
			st__logf(s, ST_LOG_WARN, "io_uring unavailable (%s); using pwrite + fdatasync",
				 st_strerror(rc));
	}
	if (s->io == &st__io_psync_ops)
		s->io->init(s, 0);
	if ((rc = pthread_create(&s->thread, NULL, writer_main, s)) != 0) {
		s->io->fini(s);
		writer_free(s->w_scratch);
		pthread_cond_destroy(&s->wake);
		pthread_cond_destroy(&s->done);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return -rc;
	}
	*out = s;
	return 0;
}

void st_store_close(st_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	writer_wake(s);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	assert(!s->qhead && !s->thead);
	s->io->fini(s);
	writer_free(s->w_scratch);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->done);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
