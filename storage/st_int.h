/*
 * st_int.h -- storage internals shared between the files of storage/.
 *
 * Nothing outside storage/ includes this header, except white-box tests
 * (fault injection). Cross-file names are st__name; everything else in a
 * storage file is static.
 *
 * Objects and who owns them:
 *
 *   st_store      one per process: the append queue, the task queue and the
 *                 writer thread with its I/O backend (store.c, io.c).
 *   st_log        one per partition directory (log.c, recovery.c).
 *   st__segment   one .log file and its two indexes (segment.c, index.c),
 *                 reference counted: the log's list holds one reference, and
 *                 so does every queued append, pending task and read slice.
 *                 The fd is closed when the last reference goes, so retention
 *                 can unlink a segment that a reader is still sending from.
 *
 * Locks, always taken in this order and never held across blocking I/O
 * except where a comment says why:
 *
 *   log->meta_mu serializes retention, DeleteRecords and the writes of the
 *                log's small checkpoint files; held across that I/O, so
 *                never taken by an appender or a reader.
 *   log->mu      the log lock: offsets, the segment list, sizes, readable
 *                end, configuration, leader epochs. Short sections.
 *   seg->mu      one segment's fd (lazy open), index (lazy load, appends)
 *                and max timestamp. Loading a closed segment's index (or
 *                writing it at seal) does file I/O under this lock; only
 *                that segment's readers wait.
 *   store->mu    the queues and task completion. Pointer swaps only (and
 *                an eventfd write to wake the writer, never blocking).
 *
 * Fields marked "writer" are touched only by the writer thread.
 */
#ifndef REWIND_ST_INT_H
#define REWIND_ST_INT_H

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "proto/proto.h"
#include "storage/storage.h"

/* Largest record payload a timestamp lookup will inflate from one batch. */
#define ST__MAX_INFLATE ((size_t)256 << 20)
/* Segment files are addressed with int32 positions in the offset index. */
#define ST__MAX_SEGMENT_BYTES ((int64_t)INT32_MAX)
/* "<20 digits>.timeindex" plus a ".tmp" suffix. */
#define ST__NAME_MAX 40

/* ----------------------------------------------------------- errors.c */

/* Formats one line and hands it to the store's log hook (stderr if none).
 * @locality any */
void st__logf(const st_store *s, enum st_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like snprintf into a path buffer: ENAMETOOLONG instead of truncating. */
int st__path(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ index.c */

/* In memory, entries are host-order and relative to the segment base. */
typedef struct st__oentry {
	uint32_t rel;                 /* batch base offset - segment base */
	uint32_t pos;                 /* byte position of that batch */
} st__oentry;

typedef struct st__tentry {
	int64_t ts;                   /* largest timestamp up to this batch */
	uint32_t rel;                 /* base offset (relative) of the batch that
	                                 first reached ts */
} st__tentry;

typedef struct st__index {
	st__oentry *o;
	size_t on, ocap;
	st__tentry *t;
	size_t tn, tcap;
	/* The segment size these entries were last read from or written to
	 * the files for, -1 if the files may differ (any entry added or
	 * trimmed since): lets a close skip rewriting what did not change. */
	int64_t saved_size;
} st__index;

/* An empty index whose files are not known (saved_size -1). */
void st__index_init(st__index *ix);
/* Frees the entries and leaves ix as st__index_init() does. */
void st__index_free(st__index *ix);
/* 0 or -ENOMEM. Entries must arrive in increasing order (asserted). */
int st__index_add_offset(st__index *ix, uint32_t rel, uint32_t pos);
int st__index_add_time(st__index *ix, int64_t ts, uint32_t rel);
/* Drops offset entries at or beyond pos_end and time entries at or beyond
 * rel_end (a truncation). */
void st__index_trim(st__index *ix, uint32_t rel_end, uint32_t pos_end);
/* Position of the last entry whose offset is <= rel (0 if none); its
 * relative offset in *entry_rel when not NULL. */
uint32_t st__index_lookup(const st__index *ix, uint32_t rel, uint32_t *entry_rel);
/* The last time entry whose timestamp is < ts: true and *rel set, or false
 * (every indexed timestamp is >= ts, scan from the segment start). */
bool st__index_lookup_time(const st__index *ix, int64_t ts, uint32_t *rel);
/* The last entry with pos <= pos_max and rel <= rel_max: true and *e set,
 * or false when there is none. Lets a read find where a byte budget ends
 * without reading every batch header on the way. */
bool st__index_floor_pos(const st__index *ix, uint32_t pos_max, uint32_t rel_max,
			 st__oentry *e);
/*
 * Writes <prefix>.index and <prefix>.timeindex (each via a temporary file,
 * fsync and rename; the caller fsyncs the directory) and records that they
 * hold ix for a segment of seg_size bytes. 0 or -errno.
 */
int st__index_save(st__index *ix, const char *prefix, int64_t seg_size);
/* The files hold exactly ix for a segment of seg_size bytes (as loaded or
 * saved, nothing added or trimmed since), so saving again writes nothing
 * new. */
bool st__index_is_saved(const st__index *ix, int64_t seg_size);
/*
 * Reads and sanity-checks both index files of a segment of `seg_size`
 * bytes and base offset `base` (entries in order, inside the file). 0,
 * -ENOENT if a file is missing, ST_ERR_CORRUPT if one is malformed, or
 * -errno. *out is untouched on failure; on success it is saved for
 * seg_size (st__index_is_saved).
 */
int st__index_load(st__index *out, const char *prefix, int64_t seg_size);
/* Reads only the last time entry (the segment's max timestamp, written at
 * seal): 1 and *last set, 0 if the file is empty, or an error as above. */
int st__index_load_last_time(const char *prefix, int64_t seg_size, st__tentry *last);
/* A cheap check at open (stat only): both files exist and hold whole
 * entries. 0, -ENOENT, ST_ERR_CORRUPT or -errno. */
int st__index_check_sizes(const char *prefix);

/* ---------------------------------------------------------- segment.c */

typedef struct st__segment st__segment;
struct st__segment {
	st_store *store;              /* borrowed; outlives every segment */
	char *prefix;                 /* "<dir>/<20 digits>", owned */
	int64_t base;                 /* immutable */
	int32_t index_interval;       /* index.interval.bytes for rebuilds */
	atomic_int refs;

	pthread_mutex_t mu;           /* see the lock order above */
	int fd;                       /* mu: -1 until opened (closed segments) */
	bool unlinked;                /* mu: files removed from the directory */
	bool loaded;                  /* mu: idx holds the whole index */
	bool reported;                /* mu: a read error was logged */
	bool index_bad;               /* mu: the index files lied; rebuild */
	st__index idx;                /* mu (+ log lock for appends) */
	int64_t bytes_since_entry;    /* mu: bytes appended since the last entry */
	bool max_ts_known;            /* mu */
	int64_t max_ts;               /* mu: -1 when no batch has a timestamp */
	int64_t max_ts_offset;        /* mu: base offset of the batch reaching it */

	/* log lock */
	int64_t size;                 /* bytes assigned (active) or file size */
	int64_t readable;             /* bytes below the readable end */
	int64_t next_offset;          /* offset after the last batch assigned */
	int64_t created_ms;           /* for segment.ms */
	bool sealed;                  /* rolled, synced, indexes on disk */
	bool removed;                 /* no longer in the log's list */

	/* writer */
	bool w_dirty;                 /* written, not yet synced */
	bool w_dir_unsynced;          /* created; directory entry not yet synced */
	st__segment *w_next;          /* link in a log's dirty list */
	int w_req;                    /* write request being built (batch_start) */
};

/* Segment functions are @locality any; those named _locked want seg->mu. */

/* Creates the object (no file I/O); refs = 1, the caller's. `dir` is
 * copied. NULL on -ENOMEM. */
st__segment *st__segment_new(st_store *s, const char *dir, int64_t base);
void st__segment_ref(st__segment *seg);
/* Drops a reference; the last one closes the fd and frees. */
void st__segment_unref(st__segment *seg);
/* Opens the .log file read-write. With `create`, a new empty segment: the
 * file is created or truncated, and its empty index counts as saved (no
 * files: see st__segment_load_locked) until something is added. 0 or
 * -errno. */
int st__segment_open_rw(st__segment *seg, bool create);
/* Under seg->mu: the fd, opening a closed segment's file read-only on first
 * use. ST_ERR_OFFSET_OUT_OF_RANGE if the files were already unlinked. */
int st__segment_fd_locked(st__segment *seg, int *fd);
/* Removes the three files (ENOENT ignored). 0 or the first -errno. */
int st__segment_unlink(st__segment *seg);
/*
 * Under seg->mu: makes seg->idx and the max timestamp available, loading the
 * index files or, when they are missing or malformed, rebuilding them from
 * the batch headers (and rewriting the files). `size` is the segment's
 * size. *rebuilt (may be NULL) is set when it rebuilt. 0 or an error.
 */
int st__segment_load_locked(st__segment *seg, int64_t size, bool *rebuilt);
/* Under seg->mu: a lookup through the loaded index of a sealed segment
 * landed off a batch boundary, so the files passed the load checks but are
 * wrong: drop the index; the next load rebuilds it from the log. */
void st__segment_index_suspect_locked(st__segment *seg);
/* Under seg->mu: the max timestamp only, from the last time-index entry
 * when the index is not loaded. */
int st__segment_max_ts_locked(st__segment *seg, int64_t size);

/*
 * Sequential reader over a segment file's batches, through a window buffer
 * filled with pread(). Used by reads (headers only), timestamp lookups,
 * index rebuilds and recovery (whole batches).
 */
typedef struct st__scan {
	int fd;
	int64_t pos;                  /* position of the next batch */
	int64_t limit;                /* no batch may end beyond this */
	uint8_t *buf;
	size_t cap;
	int64_t buf_pos;              /* file position of buf[0] */
	size_t buf_len;
	size_t window;                /* bytes per pread(); set after init */
} st__scan;

void st__scan_init(st__scan *sc, int fd, int64_t pos, int64_t limit);
void st__scan_free(st__scan *sc);
/*
 * Reads the header of the batch at sc->pos: 1 with *h and *at (its position)
 * filled, 0 at the limit, or an error: a kp_err for a malformed header or
 * one whose batch runs past the limit, -errno for I/O. With `whole` the
 * batch is also CRC-checked (kp_batch_validate) and *bytes points at it
 * (valid until the next call). Advances past the batch on success only.
 */
int st__scan_next(st__scan *sc, bool whole, kp_batch_header *h, int64_t *at,
		  const uint8_t **bytes);

/*
 * Recomputes, for the index state after a truncation or on open, the max
 * timestamp and bytes since the last index entry by reading the batch
 * headers from the last offset entry to `size`. Under seg->mu.
 */
int st__segment_scan_tail_locked(st__segment *seg, int fd, int64_t size,
				 int64_t *next_offset);

/* Applies one batch at `pos` to the in-memory index and max timestamp, as
 * an append does. Under seg->mu. 0 or -ENOMEM. */
int st__segment_index_batch_locked(st__segment *seg, const kp_batch_header *h,
				   int64_t pos, int32_t interval);
/* Makes the last time entry the segment's max timestamp (done at seal and
 * close, so a closed segment's max timestamp is one pread away). */
int st__segment_finish_time_index_locked(st__segment *seg);

/* --------------------------------------------------------- producer.c */

/*
 * The producers of one log: an open-addressing table (linear probing,
 * at most half full) of st_producer keyed by producer id; a free slot has
 * producer_id -1. Guarded by the log lock.
 */
typedef struct st__pstate {
	st_producer *slots;           /* owned; cap entries */
	size_t cap;                   /* 0 or a power of two */
	size_t n;
} st__pstate;

void st__pstate_init(st__pstate *ps);
void st__pstate_free(st__pstate *ps);
/* The producer's entry, or NULL. Borrowed until the table changes. */
st_producer *st__pstate_find(const st__pstate *ps, int64_t producer_id);
/* Room for `more` new producers, so st__pstate_put() cannot fail. 0 or
 * -ENOMEM. */
int st__pstate_reserve(st__pstate *ps, size_t more);
/* Inserts or replaces by producer id (room reserved). */
void st__pstate_put(st__pstate *ps, const st_producer *p);
/* Keeps the producers for which keep() is true (it may change the entry
 * but not its id, and must give the same answer when asked twice). */
void st__pstate_filter(st__pstate *ps, bool (*keep)(st_producer *p, void *arg), void *arg);

/*
 * The producer updates of one append, checked but not yet applied: copies
 * of the entries as they will be (a small inline array, heap beyond it).
 */
typedef struct st__pupdate {
	st_producer *e;
	size_t n, cap;
	st_producer small[2];
	int64_t dup_first, dup_last;  /* a duplicate's original offsets */
} st__pupdate;

void st__pupdate_init(st__pupdate *up);
void st__pupdate_free(st__pupdate *up);
/*
 * Checks every batch of [data, data+len) (already validated) that carries a
 * producer id, as if appended at base_offset, against ps and the batches
 * before it (Kafka's ProducerAppendInfo). Returns 0 (the updates are in up),
 * 1 if a batch repeats one of its producer's last batches (up->dup_first,
 * dup_last: the original's offsets; nothing may be appended), or
 * ST_ERR_INVALID_PRODUCER_EPOCH, ST_ERR_OUT_OF_ORDER_SEQUENCE,
 * ST_ERR_INVALID_RECORD, -ENOMEM. ps is not changed.
 */
int st__pstate_check(const st__pstate *ps, const uint8_t *data, size_t len,
		     int64_t base_offset, int64_t now_ms, st__pupdate *up);
/* Applies checked updates (room reserved for up->n). */
void st__pstate_apply(st__pstate *ps, const st__pupdate *up);
/* Recovery: applies one batch already in the log, without checks (the
 * log is the truth). 0 or -ENOMEM. */
int st__pstate_replay(st__pstate *ps, const kp_batch_header *h, int64_t now_ms);

/* The state after a truncation of the log end to `end` (a failed write):
 * batches at or above it are dropped, producers left with none forgotten. */
void st__pstate_truncate(st__pstate *ps, int64_t end);
/* Forgets producers whose last batch ends below `start` (retention,
 * DeleteRecords) or that are idle since before `idle_before` (-1: none). */
void st__pstate_evict(st__pstate *ps, int64_t start, int64_t idle_before);

/*
 * Snapshot files (format at the top of producer.c). encode: *buf is
 * malloc'ed (free()). decode: into an empty table. 0, -ENOMEM or
 * ST_ERR_CORRUPT.
 */
int st__pstate_encode(const st__pstate *ps, int64_t offset, uint8_t **buf, size_t *len);
int st__pstate_decode(const uint8_t *buf, size_t len, int64_t *offset, st__pstate *out);

/*
 * At open, after the segments are recovered (single-threaded): loads the
 * newest snapshot at or below the log end that checks out (removing those
 * above the end and those that do not), replays the batches after it and
 * forgets producers below the log start. 0 or an error.
 */
int st__log_load_producers(st_log *log, int64_t now_ms);
/* The largest snapshot a log keeps a copy of to compare at close: 27
 * producers; an idle partition's is 32 bytes. */
#define ST__SNAPSHOT_KEPT_MAX 4096
/* Writes <dir>/<offset>.snapshot from an encoded buffer (temporary file,
 * fsync, rename; the caller fsyncs the directory) and remembers it as the
 * newest on disk. 0 or -errno.
 * @locality any (blocks; callers hold meta_mu or are single-threaded) */
int st__snapshot_write(st_log *log, int64_t offset, const uint8_t *buf, size_t len);
/* The newest snapshot on disk holds exactly buf (an encoding carries its
 * offset), so the next open gets this state without writing it again.
 * False when not known (a snapshot larger than ST__SNAPSHOT_KEPT_MAX is
 * not kept in memory to compare). Same locality as above. */
bool st__snapshot_is_saved(const st_log *log, const uint8_t *buf, size_t len);
/* Removes all but the newest `keep` snapshots, and those below `below`
 * except the newest. Best effort (logs what it cannot remove). */
void st__snapshots_prune(st_log *log, size_t keep, int64_t below);

/* ------------------------------------------------------- checkpoint.c */

/* st_file_write_atomic() for a full path, without the directory fsync (the
 * caller syncs the directory once after several files): a temporary file,
 * fsync, rename; empty content is written in place. 0 or -errno. */
int st__replace_file(const char *path, const void *data, size_t len);
/* Reads a small file whole (at most cap - 1 bytes, NUL-terminated). The
 * number of bytes, -ENOENT, -EFBIG or -errno. */
ssize_t st__read_small(const char *dir, const char *name, char *buf, size_t cap);
/* "0\n<value>\n": the format of log-start-offset and recovery-point. */
int st__offset_file_read(const char *dir, const char *name, int64_t *out);
int st__offset_file_write(const char *dir, const char *name, int64_t value);

typedef struct st__epoch {
	int32_t epoch;
	int64_t start;
} st__epoch;
/* Leader-epoch checkpoint, Kafka's format. *out is malloc'ed (free()),
 * *n entries. A missing file gives 0 entries. ST_ERR_CORRUPT if garbled. */
int st__epochs_read(const char *dir, st__epoch **out, size_t *n);
int st__epochs_write(const char *dir, const st__epoch *e, size_t n);

/* Takes <dir>/.lock (flock, exclusive, non-blocking): the fd, ST_ERR_LOCKED
 * or -errno. */
int st__dir_lock(const char *dir);

/* -------------------------------------------------------------- io.c */

enum st__io_op { ST__IO_WRITE, ST__IO_SYNC };

/* One write (a vector of buffers at a position) or one fdatasync. Lives
 * at a fixed address from submit() until reap() hands it back. */
typedef struct st__io_req st__io_req;
struct st__io_req {
	enum st__io_op op;
	int fd;
	struct iovec *iov;            /* WRITE: advanced in place as bytes land */
	int iovcnt;
	int64_t pos;
	size_t len;
	size_t done;                  /* OUT: bytes written */
	int err;                      /* OUT: 0 or -errno */
	void *owner;                  /* the submitter's, untouched (store.c) */
	/* WRITE: a SYNC of the same fd, submitted right after it in the same
	 * submit() call, that the backend starts only once this write has
	 * completed -- so one submission makes the bytes durable, without a
	 * trip through the writer's loop between the write and its sync.
	 * NULL: none is linked. */
	st__io_req *link;
	/* OUT (WRITE with a link): the write failed, so its linked sync did
	 * not run (it ends -ECANCELED) and covers nothing of it. */
	bool link_broken;
	int state;                    /* backend private */
	st__io_req *next;             /* backend private: its queues */
};

/*
 * A writer backend, in the manner of an event loop's: one small set of
 * functions, all @locality writer except wake().
 *
 * submit() starts requests; each one finishes exactly once -- complete
 * (done == len) or failed (err < 0) -- and is then returned by reap(), in
 * no particular order (short writes are continued, EINTR/EAGAIN retried
 * inside the backend). A write's linked sync (req->link) is the next
 * request of the same submit() call; it starts only after the write
 * completed, and ends -ECANCELED without running when the write failed.
 * Both backends run writes on the calling (writer) thread, inside
 * submit(); io_uring runs the syncs in the kernel (io.c says why).
 * reap() fills out[] with up to cap finished requests and returns their
 * number; with `wait` and none finished, it first blocks until one
 * finishes, wake() is called, or timeout_ms passes (< 0: no limit).
 * wake() is called under store->mu by any thread, only while the writer
 * has set store->w_ring_wait.
 */
typedef struct st__io_ops {
	const char *name;
	int (*init)(st_store *s, unsigned entries);
	void (*fini)(st_store *s);
	void (*submit)(st_store *s, st__io_req *const *reqs, size_t n);
	size_t (*reap)(st_store *s, st__io_req **out, size_t cap, bool wait, int64_t timeout_ms);
	void (*wake)(st_store *s);
} st__io_ops;

extern const st__io_ops st__io_uring_ops;
extern const st__io_ops st__io_psync_ops;

/* Fault injection for tests: the `skip`+1-th next request of kind `op`
 * fails with `err` (a negative errno); count such failures in a row. */
void st__store_inject_fault(st_store *s, enum st__io_op op, int err, int skip, int count);
/* Backends call this before executing a request: 0 or the injected error. */
int st__io_fault(st_store *s, enum st__io_op op);

/* ----------------------------------------------------------- store.c */

enum st__task_kind {
	ST__TASK_SEAL,                /* sync a rolled segment, write its index */
	ST__TASK_CLOSE,               /* a log closes: sync, forget it */
	ST__TASK_BARRIER,             /* nothing: done once all before it are */
};

typedef struct st__task st__task;
struct st__task {
	enum st__task_kind kind;
	st_log *log;
	st__segment *seg;             /* SEAL: a reference the task owns */
	uint8_t *snap;                /* SEAL: encoded producer state at the
	                                 roll (malloc'ed; NULL without memory) */
	size_t snap_len;
	int64_t snap_offset;
	bool waited;                  /* a thread waits in st__store_wait() */
	bool done;                    /* store->mu */
	int result;
	st__task *next;
};

struct st_store {
	st_store_options opts;
	const st__io_ops *io;
	void *io_state;               /* backend private (the ring) */
	pthread_t thread;

	pthread_mutex_t mu;
	pthread_cond_t wake;          /* work arrived, or stop */
	pthread_cond_t done;          /* a waited task finished */
	st_append *qhead, *qtail;     /* mu: appends in call order */
	st__task *thead, *ttail;      /* mu */
	bool stop;                    /* mu */
	bool w_ring_wait;             /* mu: the writer waits in io->reap();
	                                 new work must call io->wake() */

	/* faults (tests): mu */
	atomic_bool fault_armed;      /* set once a fault was injected */
	int fault_err[2], fault_skip[2], fault_count[2];

	/* writer */
	struct writer *w_scratch;     /* the pipeline's batches (store.c) */
	st_log *w_dirty_logs;         /* logs with written, unsynced bytes */
};

/* Queues an append. The caller holds the log lock (so a log's appends queue
 * in offset order). */
void st__store_enqueue(st_store *s, st_append *a);
/* Queues a task; a waited task is then passed to st__store_wait(). */
void st__store_post(st_store *s, st__task *t);
void st__store_wait(st_store *s, st__task *t);
int64_t st__monotonic_ms(void);
/* Waits until everything queued before the call (appends and tasks) is
 * done. For tests and tools; blocks. */
void st__store_barrier(st_store *s);

/* ------------------------------------------------------ log.c (internal) */

struct st_log {
	st_store *store;              /* borrowed */
	char *dir;                    /* owned */
	int lock_fd;

	pthread_mutex_t mu;           /* the log lock */
	st_log_config cfg;
	st__segment **segs;           /* sorted by base; the last is active */
	size_t nsegs, capsegs;
	int64_t start_offset;
	int64_t end_offset;           /* next offset to assign */
	int64_t readable_end;
	int64_t hw;
	bool auto_hw;
	int64_t recovery_point;
	uint64_t gen;                 /* bumped when queued appends are discarded */
	bool offline;
	bool closing;
	bool deleting;                /* st_log_set_deleting(): the dir is going */
	st__epoch *epochs;
	size_t nepochs, capepochs;
	bool epochs_dirty;
	int64_t appends, syncs;
	/* Failed writes since the last that succeeded: a full disk fails
	 * every append until space frees, so the first failure is logged,
	 * the next ones at most every ST__WRITE_FAIL_LOG_MS with a count of
	 * those not logged, and the first success after them says so. */
	int64_t write_fails;
	int64_t write_fails_unlogged;
	int64_t write_fail_logged_ms; /* CLOCK_MONOTONIC */
	st_recovery_report report;
	st__pstate producers;         /* idempotent producers (producer.c) */
	/* A copy of the newest snapshot file, or of what its absence means
	 * (an empty log: no producers), NULL if not known or larger than
	 * ST__SNAPSHOT_KEPT_MAX (st__snapshot_is_saved). meta_mu, as the
	 * snapshot files are (the open needs none: no one else has the log). */
	uint8_t *snap_saved;
	size_t snap_saved_len;

	pthread_mutex_t meta_mu;      /* checkpoint files */

	/* cleaner (cleaner*.c) */
	int64_t clean_offset;         /* mu: first dirty offset, -1 = unknown */
	bool cleaning;                /* mu: a pass holds the log */
	struct st__cleaner_entry *cleaner; /* the cleaner's entry (its mu) */

	/* writer */
	st__segment *w_dirty;         /* segments with unsynced bytes (refs) */
	int64_t w_unsynced_records;
	int64_t w_first_unsynced_ms;
	int64_t w_flush_ms, w_flush_messages;
	bool w_listed;                /* in store->w_dirty_logs */
	st_log *w_next;
	int w_bl;                     /* scratch: its entry in the batch at
	                                 hand (store.c checks it, so any
	                                 initial value works) */
};

/*
 * Writer-side steps of a batch (log.c). All @locality writer: they rely on
 * the writer being the only thread that changes gen, offline and the
 * readable end. `a` and `seg` are borrowed.
 */
/* An append's write failed (err): truncate the file back to its position,
 * roll the log end back, discard later queued appends (generation). */
void st__log_write_failed(st_log *log, st_append *a, int err);
/* The append's bytes are readable now (written, and synced if the policy
 * wants it). */
void st__log_commit(st_log *log, st_append *a);
/* A sync (or the truncation after a failed write) failed: offline; logs
 * once, naming `path`. */
void st__log_set_offline(st_log *log, int err, const char *path);
/* Whether a failure to write one of the log's files is worth a log line:
 * not while its directory is being deleted (st_log_set_deleting), when the
 * failure is that very removal. Takes log->mu. @locality any */
bool st__log_failure_is_news(st_log *log);
void st__log_count_sync(st_log *log);
/* SEAL task: the rolled segment is synced, its index and the task's
 * producer snapshot written, the recovery point advanced. */
void st__log_seal(st_log *log, st__segment *seg, const st__task *t);
/* Writes the leader-epoch checkpoint if it changed. @locality any (takes
 * meta_mu; also called by st_log_close). */
void st__log_persist_epochs(st_log *log);

/* recovery.c: loads the segments of a log being opened (its directory lock
 * is held and no other thread knows the log yet). @locality any */
int st__log_recover(st_log *log, bool clean, int64_t now_ms);
/* Appends a segment to the log's list, taking over the caller's reference
 * (log lock, or the single-threaded open). 0 or -ENOMEM. */
int st__log_push_segment(st_log *log, st__segment *seg);

/* ------------------------------------------------------- cleaner*.c */

/*
 * The key -> latest offset map of one cleaning pass (cleaner_map.c):
 * open addressing with linear probing over 12-byte slots, at most 3/4 full
 * (16 bytes a key when full). A slot holds a 64-bit fingerprint of the key
 * -- a 48-bit tag that identifies it and a 16-bit check -- and the key's
 * latest offset relative to `base`. See the file's comment for how
 * collisions are kept safe.
 */
typedef struct st__omap_slot {
	uint32_t fp_lo, fp_hi;        /* fingerprint; 0 = empty slot */
	uint32_t rel;                 /* ST__OMAP_COLLIDED: keep all */
} st__omap_slot;
_Static_assert(sizeof(st__omap_slot) == 12, "a map slot is 12 bytes");

typedef struct st__omap {
	st__omap_slot *slots;         /* owned */
	size_t cap;                   /* slots (homes by multiply-shift) */
	size_t n, max;                /* used slots; most allowed */
	int64_t base;                 /* offsets are stored relative to it */
	int64_t collisions;           /* slots found colliding */
} st__omap;

/* A key's hash: computed once, then used to prefetch and to look up. */
typedef struct st__omap_hash {
	uint64_t fp;
	size_t home;
} st__omap_hash;

#define ST__OMAP_COLLIDED UINT32_MAX
#define ST__OMAP_SLOT_BYTES sizeof(st__omap_slot)

/* A map of as many slots as fit in `bytes` (at least 64). 0 or -ENOMEM. */
int st__omap_init(st__omap *m, size_t bytes);
void st__omap_free(st__omap *m);
/* Empties the map; offsets from now on are relative to base. */
void st__omap_reset(st__omap *m, int64_t base);
/* Room for `more` keys without passing the load limit. */
bool st__omap_room(const st__omap *m, size_t more);
void st__omap_hash_key(const st__omap *m, const void *key, size_t len, st__omap_hash *h);
/* Starts loading the key's home slot into the cache: a batch's keys are
 * hashed and prefetched first, then looked up, so the misses overlap. */
static inline void st__omap_prefetch(const st__omap *m, const st__omap_hash *h)
{
	__builtin_prefetch(&m->slots[h->home]);
}
/* Records that the key was seen at `offset` (offsets arrive ascending, each
 * in [base, base + UINT32_MAX - 1)). Needs room for one more. Returns the
 * key's previous offset, or -1 (new key, or its tag collided). */
int64_t st__omap_put_hashed(st__omap *m, const st__omap_hash *h, int64_t offset);
/* 1 and *latest set, 0 if the key is not in the map, or 2 when its tag
 * collided with another key's: nothing may be dropped for it. */
int st__omap_get_hashed(const st__omap *m, const st__omap_hash *h, int64_t *latest);
/* The same, hashing the key. */
void st__omap_put(st__omap *m, const void *key, size_t len, int64_t offset);
int st__omap_get(const st__omap *m, const void *key, size_t len, int64_t *latest);
/* Bytes the map's slots take. */
size_t st__omap_bytes(const st__omap *m);

/* cleaner_pass.c: at open, before the segments are listed: finishes a swap
 * whose commit record (<base>.swap) is on disk, removes the files of one
 * that had not committed. 0 or -errno. @locality any (single-threaded open) */
int st__cleaner_recover(st_log *log);
/* cleaner.c: st_log_close() takes the log back from its cleaner (waits for
 * a pass on it to stop). No-op for a log never handed to one. */
void st__cleaner_forget(st_log *log);

#endif /* REWIND_ST_INT_H */
