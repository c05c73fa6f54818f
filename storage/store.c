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
 * One writer round, for everything that queued since the last round:
 *
 *   1. take both queues whole (appends keep their call order);
 *   2. drop appends whose log failed since they were stamped (generation)
 *      or went offline;
 *   3. write: one vectored write per run of contiguous appends to one
 *      segment file, all submitted together (io_uring) or in turn (psync);
 *   4. a failed write truncates its log back to the failed append (log.c)
 *      and fails every later append of that log;
 *   5. sync: one fdatasync per file written this round whose log wants it
 *      now -- always under flush.messages = 1, else once flush.messages
 *      records or flush.ms have accumulated -- plus one directory sync per
 *      log that created a segment; a failed sync takes the log offline;
 *   6. move each log's readable end, in order, then run the callbacks in
 *      queue order;
 *   7. run the tasks, in order (they queued after the appends they follow).
 *
 * Group commit falls out of this: appends that arrive while a round is
 * writing or syncing wait in the queue and share the next round's single
 * sync per file. Callbacks run on this thread and must not block.
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

void st__store_enqueue(st_store *s, st_append *a)
{
	a->next = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->qtail)
		s->qtail->next = a;
	else
		s->qhead = a;
	s->qtail = a;
	pthread_cond_signal(&s->wake);
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
	pthread_cond_signal(&s->wake);
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

/* What one sync request covers. */
typedef struct sync_ref {
	st_log *log;
	st__segment *seg;             /* NULL for the log's directory */
} sync_ref;

/* Scratch of the writer thread, reused from round to round. */
typedef struct writer {
	st_store *s;
	slot *w;
	size_t nw, capw;
	st__io_req *reqs;
	size_t nreq, capreq;
	struct iovec *iov;
	size_t capiov;
	sync_ref *refs;
	size_t caprefs;
	st__segment **rsegs;          /* segments whose w_req is set */
	size_t nrsegs, caprsegs;
	st_log **touched;
	size_t ntouched, captouched;
	st_log **synced;              /* logs synced this round */
	size_t nsynced, capsynced;
	int *dirfds;
	size_t capdirfds;
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

/* Forgets a log's dirty segments (synced, or the log is offline). */
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

/*
 * Builds sync requests for the dirty segments of every log marked
 * w_sync_now, runs them, and records the outcome in each log
 * (w_sync_err, offline). Returns false only if it could not allocate.
 */
static bool sync_logs(writer *wr, st_log *const *logs, size_t nlogs)
{
	st_store *s = wr->s;
	size_t n = 0, ndir = 0, need = 0;

	for (size_t i = 0; i < nlogs; i++)
		for (st__segment *seg = logs[i]->w_dirty; seg; seg = seg->w_next)
			need++;
	need += nlogs;
	if (grow((void **)&wr->reqs, &wr->capreq, need, sizeof(*wr->reqs)) < 0 ||
	    grow((void **)&wr->refs, &wr->caprefs, need, sizeof(*wr->refs)) < 0 ||
	    grow((void **)&wr->dirfds, &wr->capdirfds, nlogs, sizeof(int)) < 0)
		return false;
	for (size_t i = 0; i < nlogs; i++) {
		st_log *log = logs[i];
		bool dir = false;
		for (st__segment *seg = log->w_dirty; seg; seg = seg->w_next) {
			wr->reqs[n] = (st__io_req){ .op = ST__IO_SYNC, .fd = seg->fd };
			wr->refs[n++] = (sync_ref){ log, seg };
			dir |= seg->w_dir_unsynced;
		}
		if (!dir)
			continue;
		/* A segment created by a roll is durable only once the
		 * directory entry naming it is. */
		int fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			int err = -errno;
			if (!log->w_sync_err)
				log->w_sync_err = err;
			st__log_set_offline(log, err, log->dir);
			continue;
		}
		wr->dirfds[ndir++] = fd;
		wr->reqs[n] = (st__io_req){ .op = ST__IO_SYNC, .fd = fd };
		wr->refs[n++] = (sync_ref){ log, NULL };
	}
	s->io->run(s, wr->reqs, n);
	for (size_t i = 0; i < n; i++) {
		st_log *log = wr->refs[i].log;
		if (wr->reqs[i].err < 0) {
			if (!log->w_sync_err)
				log->w_sync_err = wr->reqs[i].err;
			st__log_set_offline(log, wr->reqs[i].err,
					    wr->refs[i].seg ? wr->refs[i].seg->prefix : log->dir);
		} else if (wr->refs[i].seg) {
			st__log_count_sync(log);
		}
	}
	for (size_t i = 0; i < nlogs; i++) {
		st_log *log = logs[i];
		if (log->w_sync_err == 0)
			for (st__segment *seg = log->w_dirty; seg; seg = seg->w_next)
				seg->w_dir_unsynced = false;
		/* Synced, or offline for good: either way nothing more to sync. */
		dirty_clear(s, log);
	}
	for (size_t i = 0; i < ndir; i++)
		close(wr->dirfds[i]);
	return true;
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

/* Steps 2 and 3: group the live appends into write requests and run them. */
static void round_write(writer *wr)
{
	st_store *s = wr->s;
	size_t niov = 0;

	wr->nreq = 0;
	for (size_t i = 0; i < wr->nw; i++) {
		slot *sl = &wr->w[i];
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
		if (!log->w_touched) {
			if (grow((void **)&wr->touched, &wr->captouched, wr->ntouched + 1,
				 sizeof(*wr->touched)) < 0) {
				sl->req = -2;
				continue;
			}
			log->w_touched = true;
			wr->touched[wr->ntouched++] = log;
		}
		int r = seg->w_req;
		if (r < 0 || wr->reqs[r].pos + (int64_t)wr->reqs[r].len != a->priv_pos ||
		    wr->reqs[r].iovcnt >= RUN_IOV_MAX) {
			if (grow((void **)&wr->reqs, &wr->capreq, wr->nreq + 1, sizeof(*wr->reqs)) < 0 ||
			    grow((void **)&wr->rsegs, &wr->caprsegs, wr->nrsegs + 1,
				 sizeof(*wr->rsegs)) < 0) {
				sl->req = -2;
				continue;
			}
			r = (int)wr->nreq++;
			wr->reqs[r] = (st__io_req){ .op = ST__IO_WRITE, .fd = seg->fd,
						    .pos = a->priv_pos };
			if (seg->w_req < 0)
				wr->rsegs[wr->nrsegs++] = seg;
			seg->w_req = r;
		}
		sl->req = r;
		sl->off = wr->reqs[r].len;
		wr->reqs[r].len += a->len;
		wr->reqs[r].iovcnt++;
		niov++;
	}
	if (grow((void **)&wr->iov, &wr->capiov, niov + 1, sizeof(*wr->iov)) < 0) {
		for (size_t i = 0; i < wr->nreq; i++) {
			wr->reqs[i].err = -ENOMEM;
			wr->reqs[i].done = 0;
		}
		return;
	}
	/* Lay each request's iovecs out contiguously, in append order. */
	size_t at = 0;
	for (size_t r = 0; r < wr->nreq; r++) {
		wr->reqs[r].iov = wr->iov + at;
		at += (size_t)wr->reqs[r].iovcnt;
		wr->reqs[r].iovcnt = 0;
	}
	for (size_t i = 0; i < wr->nw; i++) {
		slot *sl = &wr->w[i];
		if (sl->err || sl->req < 0)
			continue;
		st__io_req *r = &wr->reqs[sl->req];
		r->iov[r->iovcnt++] = (struct iovec){ sl->a->data, sl->a->len };
	}
	s->io->run(s, wr->reqs, wr->nreq);
}

/* Steps 4 to 6. */
static void round_finish(writer *wr)
{
	st_store *s = wr->s;

	/* 4: failures, in queue order, so the first failed append of a log
	 * decides where that log is truncated. */
	for (size_t i = 0; i < wr->nw; i++) {
		slot *sl = &wr->w[i];
		st_append *a = sl->a;
		st_log *log = a->priv_log;
		if (sl->err)
			continue;
		int err = sl->req == -2 ? -ENOMEM : 0;
		if (sl->req >= 0) {
			const st__io_req *r = &wr->reqs[sl->req];
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

	/* 5: which logs sync now. */
	int64_t now = st__monotonic_ms();
	for (size_t i = 0; i < wr->ntouched; i++) {
		st_log *log = wr->touched[i];
		pthread_mutex_lock(&log->mu);
		log->w_flush_messages = log->cfg.flush_messages;
		log->w_flush_ms = log->cfg.flush_ms;
		pthread_mutex_unlock(&log->mu);
		log->w_sync_now = false;
		log->w_sync_err = 0;
	}
	for (size_t i = 0; i < wr->nw; i++) {
		slot *sl = &wr->w[i];
		if (sl->err == 0 && sl->req >= 0)
			dirty_add(s, sl->a->priv_log, sl->a->priv_file, sl->a->priv_records, now);
	}
	wr->nsynced = 0;
	for (st_log *log = s->w_dirty_logs; log; log = log->w_next) {
		log->w_sync_err = 0;
		log->w_sync_now = !log->offline &&
				  (log->w_flush_messages <= 1 ||
				   log->w_unsynced_records >= log->w_flush_messages ||
				   now - log->w_first_unsynced_ms >= log->w_flush_ms);
		if (!log->w_sync_now)
			continue;
		if (grow((void **)&wr->synced, &wr->capsynced, wr->nsynced + 1,
			 sizeof(*wr->synced)) < 0) {
			/* Without memory to sync, nothing can be called durable. */
			log->w_sync_err = -ENOMEM;
			continue;
		}
		wr->synced[wr->nsynced++] = log;
	}
	if (wr->nsynced > 0 && !sync_logs(wr, wr->synced, wr->nsynced))
		for (size_t i = 0; i < wr->nsynced; i++)
			wr->synced[i]->w_sync_err = -ENOMEM;

	/* 6: readable ends, then callbacks, both in queue order. */
	for (size_t i = 0; i < wr->nw; i++) {
		slot *sl = &wr->w[i];
		st_append *a = sl->a;
		st_log *log = a->priv_log;
		if (sl->err)
			continue;
		if (log->w_sync_now && log->w_sync_err == 0)
			a->durable = true;
		else if (log->w_sync_now)
			sl->err = log->w_sync_err;
		else if (log->w_flush_messages <= 1 || log->offline)
			/* The policy wants a sync that did not happen. */
			sl->err = ST_ERR_OFFLINE;
		if (sl->err == 0)
			st__log_commit(log, a);
	}
	for (size_t i = 0; i < wr->ntouched; i++)
		st__log_persist_epochs(wr->touched[i]);
	for (size_t i = 0; i < wr->nw; i++) {
		st_append *a = wr->w[i].a;
		st__segment *seg = a->priv_file;
		/* After the callback the append belongs to the caller again. */
		a->cb(a, wr->w[i].err);
		st__segment_unref(seg);
	}
	for (size_t i = 0; i < wr->ntouched; i++) {
		wr->touched[i]->w_touched = false;
		wr->touched[i]->w_sync_now = false;
		wr->touched[i]->w_sync_err = 0;
	}
	for (size_t i = 0; i < wr->nsynced; i++) {
		wr->synced[i]->w_sync_now = false;
		wr->synced[i]->w_sync_err = 0;
	}
	for (st_log *log = s->w_dirty_logs; log; log = log->w_next) {
		log->w_sync_now = false;
		log->w_sync_err = 0;
	}
	for (size_t i = 0; i < wr->nrsegs; i++)
		wr->rsegs[i]->w_req = -1;
	wr->ntouched = 0;
	wr->nrsegs = 0;
}

static void run_tasks(writer *wr, st__task *t)
{
	st_store *s = wr->s;

	while (t) {
		st__task *next = t->next;
		st_log *log = t->log;
		switch (t->kind) {
		case ST__TASK_SEAL:
			st__log_seal(log, t->seg);
			st__segment_unref(t->seg);
			break;
		case ST__TASK_CLOSE:
			if (log->w_dirty && !log->offline) {
				log->w_sync_now = true;
				st_log *one[1] = { log };
				if (!sync_logs(wr, one, 1))
					log->w_sync_err = -ENOMEM;
				t->result = log->w_sync_err;
				log->w_sync_now = false;
				log->w_sync_err = 0;
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
	free(wr->w);
	free(wr->reqs);
	free(wr->iov);
	free(wr->refs);
	free(wr->rsegs);
	free(wr->touched);
	free(wr->synced);
	free(wr->dirfds);
	free(wr);
}

/* The scratch is allocated up front so the writer can always make
 * progress: with no memory to grow it, a round just takes fewer appends. */
static writer *writer_new(st_store *s)
{
	writer *wr = calloc(1, sizeof(*wr));
	if (!wr)
		return NULL;
	wr->s = s;
	if (grow((void **)&wr->w, &wr->capw, 64, sizeof(*wr->w)) < 0 ||
	    grow((void **)&wr->reqs, &wr->capreq, 64, sizeof(*wr->reqs)) < 0 ||
	    grow((void **)&wr->iov, &wr->capiov, 64, sizeof(*wr->iov)) < 0 ||
	    grow((void **)&wr->refs, &wr->caprefs, 64, sizeof(*wr->refs)) < 0 ||
	    grow((void **)&wr->rsegs, &wr->caprsegs, 64, sizeof(*wr->rsegs)) < 0 ||
	    grow((void **)&wr->touched, &wr->captouched, 64, sizeof(*wr->touched)) < 0 ||
	    grow((void **)&wr->synced, &wr->capsynced, 64, sizeof(*wr->synced)) < 0 ||
	    grow((void **)&wr->dirfds, &wr->capdirfds, 64, sizeof(*wr->dirfds)) < 0) {
		writer_free(wr);
		return NULL;
	}
	return wr;
}

static void *writer_main(void *arg)
{
	st_store *s = arg;
	writer *wr = s->w_scratch;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->qhead && !s->thead && !s->stop) {
			int64_t d = next_deadline(s);
			if (d < 0) {
				pthread_cond_wait(&s->wake, &s->mu);
				continue;
			}
			if (st__monotonic_ms() >= d)
				break;
			struct timespec ts = { .tv_sec = d / 1000, .tv_nsec = (d % 1000) * 1000000 };
			pthread_cond_timedwait(&s->wake, &s->mu, &ts);
		}
		st_append *a = s->qhead;
		st__task *t = s->thead;
		s->qhead = s->qtail = NULL;
		s->thead = s->ttail = NULL;
		if (!a && !t && s->stop)
			break;
		pthread_mutex_unlock(&s->mu);

		/* Usually one round; more only if the scratch cannot grow. A
		 * round with no appends still serves flush.ms deadlines. */
		do {
			wr->nw = 0;
			while (a && (wr->nw < wr->capw ||
				     grow((void **)&wr->w, &wr->capw, wr->nw + 1, sizeof(*wr->w)) == 0)) {
				wr->w[wr->nw++] = (slot){ .a = a, .req = -1 };
				a = a->next;
			}
			round_write(wr);
			round_finish(wr);
		} while (a);
		run_tasks(wr, t);

		pthread_mutex_lock(&s->mu);
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
	pthread_cond_signal(&s->wake);
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
