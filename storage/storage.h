/*
 * storage.h -- the partition log: what the rest of rewind may call.
 *
 * A *store* (st_store) is the storage engine of one process: it owns the
 * writer thread (io_uring with group commit, or a pwrite/fdatasync
 * fallback) and the logging hook. A *log* (st_log) is one partition: a
 * directory of segment files
 *
 *     <dir>/00000000000000000000.log        record batches exactly as received,
 *                                           with broker-assigned base offsets
 *     <dir>/00000000000000000000.index      sparse: relative offset -> position
 *     <dir>/00000000000000000000.timeindex  sparse: max timestamp -> relative offset
 *                                           (both absent: an empty segment)
 *     <dir>/log-start-offset                persisted log start offset
 *     <dir>/recovery-point                  offsets below are known good (absent: 0)
 *     <dir>/leader-epoch-checkpoint         leader epoch -> start offset
 *     <dir>/00000000000000000000.snapshot   producer state below that offset
 *                                           (none: replayed from the log)
 *     <dir>/.clean-shutdown                 present only after a clean close
 *     <dir>/.lock                           flock()ed while a process has it open
 *
 * (the byte formats are specified at the top of storage/segment.c,
 * storage/index.c, storage/checkpoint.c and storage/producer.c).
 *
 * Flow of an append: the caller hands a buffer of complete batches to
 * st_log_append(); under the log's short lock the batches are validated,
 * given offsets and a file position, and queued to the writer; the caller
 * returns at once. The writer thread writes, then (per the log's flush
 * policy) fdatasyncs every file a round touched with one sync each -- many
 * appends share one sync -- and then calls each append's callback. Readers
 * see bytes only once the policy's condition holds (the *readable end*), so a
 * reader never sees a half-written batch, and by default never a batch that
 * is not yet durable.
 *
 * Errors: 0 or negative: -errno for system errors (-ENOSPC, -EIO, -EROFS,
 * -EACCES ...), kp_err values for malformed batches, st_err values for the
 * rest. st_strerror() names all three kinds. A call that takes a callback and
 * returns an error never calls the callback.
 *
 * Threads: st_log functions may be called from any thread (@locality any)
 * unless stated; append callbacks run on the writer thread
 * (@locality writer) and must not block or call st_log_close().
 */
#ifndef REWIND_STORAGE_H
#define REWIND_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum st_err {
	ST_ERR_LOCKED = -2001,          /* another process holds the log directory */
	ST_ERR_CORRUPT = -2002,         /* on-disk state cannot be trusted or repaired */
	ST_ERR_OFFSET_OUT_OF_RANGE = -2003,
	ST_ERR_TOO_LARGE = -2004,       /* batch larger than segment.bytes or the limit */
	ST_ERR_OFFLINE = -2005,         /* the log failed an fsync and refuses writes */
	ST_ERR_NOT_FOUND = -2006,       /* no record matches (e.g. timestamp lookup) */
	ST_ERR_CLOSING = -2007,         /* the log or store is shutting down */
	ST_ERR_CONFIG = -2008,          /* a configuration value is out of range */
	ST_ERR_TRUNCATED = -2009,       /* the append was discarded: an earlier append
	                                   of the same log failed and offsets rolled back */
	/* Idempotent producers (storage/producer.c), Kafka's names: */
	ST_ERR_OUT_OF_ORDER_SEQUENCE = -2010, /* a gap in a producer's sequence */
	ST_ERR_INVALID_PRODUCER_EPOCH = -2011,/* an epoch older than the producer's
	                                   latest on this partition (fenced) */
	ST_ERR_INVALID_RECORD = -2012,  /* producer fields no producer can send
	                                   (negative sequence or epoch with an id),
	                                   records that do not parse, or a record
	                                   without a key on a compacted log */
	ST_ERR_BUSY = -2013,            /* the log is being cleaned by another pass,
	                                   or changed under this one */
	ST_ERR_INVALID_TIMESTAMP = -2014, /* a batch stamped LogAppendTime by its
	                                   producer, or a record's timestamp outside
	                                   ts_before/after_max_ms of the clock */
	ST_ERR_DELETING = -2015,        /* the log's directory is being deleted
	                                   (st_log_set_deleting) */
};

/* Static name for any error this module returns (st_err, kp_err or -errno). */
const char *st_strerror(int err);

/* ------------------------------------------------------------------ store */

enum st_log_level { ST_LOG_ERROR, ST_LOG_WARN, ST_LOG_INFO, ST_LOG_DEBUG };

typedef void st_log_fn(void *arg, enum st_log_level level, const char *msg);

typedef struct st_store_options {
	bool use_io_uring;        /* true: fdatasyncs run in io_uring, in parallel
	                             (writes are pwrite on the writer thread
	                             either way); false: the syncs too */
	unsigned ring_entries;    /* io_uring submission queue size; 0 = 256 */
	st_log_fn *log;           /* NULL: lines to stderr */
	void *log_arg;
} st_store_options;

typedef struct st_store st_store;

/* Fills defaults: io_uring on unless the environment says REWIND_IO_URING=0. */
void st_store_options_default(st_store_options *o);

/*
 * Starts the writer thread. On success *out must be released with
 * st_store_close() after every log of it is closed (and every slice
 * released). If io_uring cannot be set up the store falls back to pwrite and
 * logs one line saying so. REWIND_IO_URING=0 in the environment forces the
 * fallback whatever o->use_io_uring says. o may be NULL (defaults).
 * @locality any
 */
int st_store_open(const st_store_options *o, st_store **out);
void st_store_close(st_store *s);
/* True when the writer uses io_uring. */
bool st_store_uses_io_uring(const st_store *s);

/* -------------------------------------------------------------------- log */

typedef struct st_log_config {
	int64_t segment_bytes;        /* segment.bytes, default 1 GiB (max 2 GiB - 1) */
	int64_t segment_ms;           /* segment.ms, default 7 days */
	int64_t retention_ms;         /* retention.ms, -1 = forever, default 7 days */
	int64_t retention_bytes;      /* retention.bytes, -1 = unlimited (default) */
	int32_t index_interval_bytes; /* index.interval.bytes, default 4096 */
	int64_t flush_messages;       /* flush.messages: sync after this many records;
	                                 1 (default) = every append waits for its sync */
	int64_t flush_ms;             /* flush.ms: with flush_messages > 1, longest a
	                                 written batch stays unsynced; default 1000 */
	bool log_append_time;         /* message.timestamp.type=LogAppendTime */
	/* message.timestamp.before.max.ms / after.max.ms: on a CreateTime log a
	 * record stamped more than this before / after the broker's clock is
	 * refused (INT64_MAX, the default: any timestamp). */
	int64_t ts_before_max_ms;
	int64_t ts_after_max_ms;
	int64_t producer_id_expiration_ms; /* producer.id.expiration.ms: a producer
	                                 idle this long is forgotten (1 day) */
	/* Compaction (storage/cleaner*.c), Kafka's topic settings: */
	bool compact;                 /* cleanup.policy contains compact */
	double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio, 0.5 */
	int64_t min_compaction_lag_ms;    /* min.compaction.lag.ms, 0: records
	                                 younger than this stay uncompacted */
	int64_t max_compaction_lag_ms;    /* max.compaction.lag.ms, INT64_MAX:
	                                 a dirty record this old is cleaned
	                                 whatever the dirty ratio */
	int64_t delete_retention_ms;  /* delete.retention.ms, 1 day: how long a
	                                 tombstone stays after the cleaner
	                                 first passed it */
} st_log_config;

void st_log_config_default(st_log_config *c);

typedef struct st_log st_log;

typedef struct st_recovery_report {
	bool clean;                   /* the clean-shutdown marker was present */
	int segments;                 /* segments found */
	int segments_scanned;         /* segments whose batches were validated */
	int64_t batches_scanned;
	int64_t bytes_truncated;      /* torn or garbled tail removed */
	int indexes_rebuilt;
} st_recovery_report;

/*
 * Opens (creating if needed) the partition log in `dir`, takes its lock
 * (ST_ERR_LOCKED if another process or handle holds it) and recovers it: with
 * a clean-shutdown marker it trusts the files; otherwise it validates every
 * batch from the recovery point on, truncates a torn or garbled tail and
 * rebuilds missing or corrupt indexes. `dir` is copied. A failure is
 * logged through the store's hook, naming the file and the reason, so a
 * caller need not say it again.
 * On success *out is released with st_log_close(). @locality any
 */
int st_log_open(st_store *s, const char *dir, const st_log_config *cfg,
		int64_t now_ms, st_log **out);

/*
 * Waits for the log's queued appends to complete (their callbacks run), syncs
 * and writes the active segment's indexes and the producer snapshot where
 * they differ from the files (a log unchanged since its open rewrites
 * neither), then the clean-shutdown marker, releases the lock and frees the
 * log. Blocks; not for reactor threads.
 */
void st_log_close(st_log *log);
/* Like st_log_close() (queued appends complete, their callbacks run) but
 * writes nothing: for a log whose directory is being deleted, possibly
 * already renamed away, where the indexes, producer snapshot and
 * clean-shutdown marker would be wasted (or fail, ENOENT). */
void st_log_close_discard(st_log *log);
/*
 * Says that the log's directory is about to be renamed away and removed
 * (deleting true), or that it stays after all (false, when the removal was
 * undone). While deleting, appends are refused with ST_ERR_DELETING and
 * the log writes none of its side files -- a rolled segment's indexes,
 * producer snapshots, checkpoints -- since a path under the old name may
 * no longer exist; a failure that is only the directory having moved is
 * not logged. Appends already queued still complete into their open files,
 * and reads go on until st_log_close_discard(). Deleting also stops a
 * compaction pass on the log and takes it off its cleaner, waiting for
 * the pass to let go (blocks: not for reactor threads); undone, the caller
 * adds it back with st_cleaner_add(). @locality admin (any thread but a
 * reactor)
 */
void st_log_set_deleting(st_log *log, bool deleting);

/* Report of what st_log_open() found. Borrowed; valid until close. */
const st_recovery_report *st_log_recovery(const st_log *log);

/* Applies new configuration (alter configs). ST_ERR_CONFIG if out of range. */
int st_log_set_config(st_log *log, const st_log_config *cfg);

/* ----------------------------------------------------------------- append */

typedef struct st_append st_append;

/* Called once per queued append, on the writer thread. err is 0 when the
 * bytes are written (and durable if a->durable). */
typedef void st_append_cb(st_append *a, int err);

struct st_append {
	/* IN: one or more complete RecordBatch v2, contiguous. Borrowed until the
	 * callback runs; storage rewrites each batch's baseOffset and
	 * partitionLeaderEpoch in place (and maxTimestamp, attributes and CRC
	 * with log_append_time). */
	uint8_t *data;
	size_t len;
	int32_t leader_epoch;
	st_append_cb *cb;
	void *arg;

	/* OUT: set by st_log_append() on success. */
	int64_t base_offset;          /* first offset assigned */
	int64_t last_offset;          /* last offset assigned */
	int64_t log_append_time;      /* -1 unless log_append_time */
	/* The batches repeat one of the last 5 batches of their producer (a
	 * retry): nothing is written; base_offset and last_offset are the
	 * original's, and the callback runs once the original is readable
	 * (err ST_ERR_TRUNCATED if the original's write failed). */
	bool duplicate;
	/* OUT: set before the callback. */
	bool durable;                 /* the bytes were fdatasync'ed */
	/* OUT: when st_log_append() refuses the append for what its bytes
	 * hold (a kp_err, ST_ERR_INVALID_RECORD, ST_ERR_INVALID_TIMESTAMP,
	 * ST_ERR_TOO_LARGE): the refused record's index in its batch, from 0
	 * (-1 when no one record is at fault), and the reason in words. The
	 * broker hands both to the producer (Produce v8+ RecordErrors and
	 * ErrorMessage, as Kafka's LogValidator reports them) and logs them.
	 * "" and -1 for other refusals (ST_ERR_OFFLINE, sequence errors, ...). */
	int32_t refused_index;
	char refused_why[160];

	/* private to storage */
	struct st_append *next;
	void *priv_log;
	void *priv_file;
	int64_t priv_pos;
	uint64_t priv_gen;
	int64_t priv_records;
};

/*
 * Validates the batches (magic, sizes, CRC: a kp_err on failure) and their
 * records as Kafka's LogValidator does (each record parses, inflating a
 * compressed batch; keys on a compacted log; timestamps within the log's
 * window of now_ms, the broker's wall clock), sets a CreateTime batch's
 * maxTimestamp to its records' largest (and the CRC) when the producer got
 * it wrong, checks the producer fields of idempotent batches (producerId >= 0) against the
 * log's producer state under the log lock -- so offsets and sequences
 * always agree -- assigns offsets, rolls the segment if segment.bytes or
 * segment.ms says so, and queues the bytes to the writer. A retry of one of
 * a producer's last 5 batches is not appended: a->duplicate is set (see
 * above). Returns 0 (the callback will run exactly once) or an error (it
 * will not): a kp_err, ST_ERR_TOO_LARGE, ST_ERR_OFFLINE, ST_ERR_CLOSING,
 * ST_ERR_OUT_OF_ORDER_SEQUENCE, ST_ERR_INVALID_PRODUCER_EPOCH,
 * ST_ERR_INVALID_RECORD, ST_ERR_INVALID_TIMESTAMP, -ENOMEM or -errno from
 * a roll; a refusal of the bytes themselves also fills a->refused_index
 * and a->refused_why. Never waits for I/O
 * except the open() of a new segment on roll.
 * @locality any; appends to one log are ordered as their calls.
 */
int st_log_append(st_log *log, st_append *a, int64_t now_ms);

/* ------------------------------------------------------------------- read */

/*
 * A byte range of one segment file, ready for sendfile()/pread(): whole
 * batches only. Holds a reference on the segment file, so the range stays
 * readable even if retention deletes the segment meanwhile (or the log is
 * closed); release with st_slice_release() before st_store_close().
 */
typedef struct st_slice {
	int fd;                       /* borrowed; valid until release */
	int64_t file_pos;
	size_t len;                   /* 0 when there is nothing to read */
	int64_t first_offset;         /* base offset of the first batch in range */
	int64_t next_offset;          /* offset after the last batch in range */
	void *priv_file;
} st_slice;

/*
 * Finds the batch holding `offset` and returns whole batches from there, up
 * to max_bytes (but always at least the first batch, however large, as Kafka
 * does), from one segment, below min(upper, readable end); upper < 0 means
 * the readable end. Offset equal to the end gives an empty slice.
 * ST_ERR_OFFSET_OUT_OF_RANGE below the log start or above the end;
 * ST_ERR_CORRUPT if the bytes there no longer parse (damage after the fact,
 * logged once; the batches before it stay readable).
 */
int st_log_read(st_log *log, int64_t offset, size_t max_bytes, int64_t upper,
		st_slice *out);
void st_slice_release(st_slice *s);

/* -------------------------------------------------------------- positions */

int64_t st_log_start_offset(st_log *log);
int64_t st_log_end_offset(st_log *log);        /* next offset to assign */
int64_t st_log_readable_end(st_log *log);      /* offsets below it are readable */
/* The high watermark: with auto_high_watermark (the default, single node) it
 * follows the readable end; replication sets it explicitly. */
int64_t st_log_high_watermark(st_log *log);
void st_log_set_high_watermark(st_log *log, int64_t hw);
void st_log_set_auto_high_watermark(st_log *log, bool on);

/*
 * First record whose timestamp is >= ts: its offset and timestamp.
 * ST_ERR_NOT_FOUND if there is none below the readable end.
 */
int st_log_offset_for_timestamp(st_log *log, int64_t ts, int64_t *offset,
				int64_t *timestamp);
/* The record with the largest timestamp (first such offset), for
 * ListOffsets MAX_TIMESTAMP. ST_ERR_NOT_FOUND on an empty log. */
int st_log_max_timestamp(st_log *log, int64_t *offset, int64_t *timestamp);

/* ---------------------------------------------------- roll and retention */

/* Closes the active segment and starts a new one now (if it is non-empty). */
int st_log_roll(st_log *log, int64_t now_ms);

/*
 * Deletes whole closed segments that retention.ms or retention.bytes say
 * must go, and those wholly below the log start offset; advances and persists
 * the log start offset. *deleted (may be NULL) counts segments removed.
 * Also forgets producers idle past producer_id_expiration_ms (now_ms is
 * the wall clock, as for appends) and those whose batches are all below
 * the log start offset, and removes their snapshots below the first
 * segment.
 * Never the active segment, nor a rolled one the writer has not sealed yet.
 * Blocks on small file I/O (stat, unlink, an atomic checkpoint write): call
 * it from a background thread, not a reactor.
 */
int st_log_enforce_retention(st_log *log, int64_t now_ms, int *deleted);

/* Raises the log start offset (DeleteRecords) and persists it. Segments
 * wholly below it go at the next retention pass; producers with no batch
 * left at or above it are forgotten at once.
 * ST_ERR_OFFSET_OUT_OF_RANGE above the high watermark. Blocks on an atomic
 * checkpoint write, like st_log_enforce_retention(). */
int st_log_delete_records(st_log *log, int64_t new_start);

/* ------------------------------------------------------------ inspection */

typedef struct st_log_stats {
	int64_t start_offset;
	int64_t end_offset;
	int64_t readable_end;
	int64_t high_watermark;
	int64_t size_bytes;           /* sum of segment file sizes */
	int segments;
	int64_t active_base_offset;
	int64_t appends;              /* appends completed since open */
	int64_t syncs;                /* fdatasyncs issued for this log since open */
	bool offline;
} st_log_stats;

void st_log_get_stats(st_log *log, st_log_stats *out);

/* Leader epoch of the latest entry in the leader-epoch checkpoint, or -1. */
int32_t st_log_latest_epoch(st_log *log);

/* ------------------------------------------------------ producer state */

/*
 * What a partition knows of one idempotent producer (Kafka's
 * ProducerStateEntry): its latest epoch and its last batches, oldest first.
 * Sequences are int32 and wrap from INT32_MAX to 0, as Kafka's do.
 */
#define ST_PRODUCER_BATCHES 5

typedef struct st_producer_batch {
	int32_t first_seq, last_seq;
	int64_t first_offset, last_offset;
} st_producer_batch;

typedef struct st_producer {
	int64_t producer_id;          /* >= 0 */
	int16_t producer_epoch;
	int n_batches;                /* 1 .. ST_PRODUCER_BATCHES */
	int64_t last_timestamp;       /* wall clock (ms) of its last append */
	st_producer_batch batches[ST_PRODUCER_BATCHES];
} st_producer;

/*
 * A copy of the log's producer state, in no particular order: *out is
 * malloc'ed (caller frees with free(); NULL when *n is 0). 0 or -ENOMEM.
 * @locality any
 */
int st_log_producers(st_log *log, st_producer **out, size_t *n);

/*
 * Reads and checks a producer-state snapshot file (dump-log): *offset is
 * the log offset it was taken at, *out a malloc'ed array (free()) of *n
 * producers. -errno, or ST_ERR_CORRUPT for a file that does not check out
 * (bad magic, version, size or xxhash checksum, or fields out of range).
 * @locality any (blocks on the read)
 */
int st_snapshot_read(const char *path, int64_t *offset, st_producer **out, size_t *n);

/* ------------------------------------------------------------ small files */

/*
 * Replaces dir/name with [data, data+len) so that a crash leaves either the
 * old or the new content: a temporary file, fsync, rename, fsync of dir
 * (empty content: the file truncated in place, fsync, fsync of dir).
 * 0 or -errno. Blocks on the disk: not for reactor threads. @locality any
 */
int st_file_write_atomic(const char *dir, const char *name, const void *data, size_t len);
/* fsyncs a directory, so creates, renames and unlinks in it are durable.
 * 0 or -errno. Blocks. @locality any */
int st_dir_fsync(const char *dir);

/* ------------------------------------------------------------ compaction */

/*
 * The log cleaner (storage/cleaner.c, cleaner_map.c, cleaner_pass.c): keeps
 * the latest record of every key in the closed segments of logs whose
 * config says compact. Offsets are kept (a compacted log has gaps: a read
 * at a removed offset returns the next batch), as are timestamps, headers,
 * producer fields and codecs. The active segment is never touched.
 */

/* Where a log stands for the cleaner. */
typedef struct st_log_clean_info {
	bool compact;                 /* the log's cleanup.policy has compact */
	int64_t first_dirty;          /* offsets below it were cleaned already */
	int64_t cleanable_end;        /* end of the closed segments old enough
	                                 (min.compaction.lag.ms) to clean */
	int64_t clean_bytes;          /* bytes of closed segments below first_dirty */
	int64_t dirty_bytes;          /* bytes of cleanable segments from it */
	double dirty_ratio;           /* dirty / (clean + dirty); 0 when empty */
	bool overdue;                 /* a dirty segment is older than
	                                 max.compaction.lag.ms */
	bool due;                     /* compact and (ratio >= the minimum or overdue) */
	bool roll_due;                /* compact, and the active segment holds
	                                 records older than max.compaction.lag.ms:
	                                 roll it so they become cleanable */
} st_log_clean_info;

/* Reads the log's cleaning state (segment sizes; may read a segment's last
 * time-index entry for min/max.compaction.lag.ms). @locality any (blocks
 * on small reads: not for reactor threads) */
int st_log_clean_info_get(st_log *log, int64_t now_ms, st_log_clean_info *out);

/* Called by a pass after every chunk it reads or writes: bytes done since
 * the last call. Returns true to go on, false to abandon the pass (its
 * output is discarded, the log is left as it was). May sleep (throttle). */
typedef bool st_clean_progress_fn(void *arg, int64_t bytes);

typedef struct st_clean_options {
	size_t map_bytes;             /* most memory for the key -> offset map
	                                 (12 bytes a slot, at most 3/4 full) */
	st_clean_progress_fn *progress; /* NULL: never throttled or abandoned */
	void *progress_arg;
} st_clean_options;

typedef struct st_clean_result {
	bool cleaned;                 /* false: nothing was cleanable */
	int64_t first_dirty, map_end; /* the dirty range that was mapped */
	int64_t bytes_read, bytes_written;
	int64_t records_read;         /* records of the rewritten segments */
	int64_t records_removed;      /* superseded records dropped */
	int64_t tombstones_removed;   /* tombstones past their delete horizon */
	int64_t batches_emptied;      /* producers' last batches kept without records */
	int segments_before, segments_after;
	int64_t map_keys;             /* distinct keys in the map */
	size_t map_bytes;             /* memory the map allocated */
	int64_t map_collisions;       /* keys sharing a hash tag (kept whole) */
	double map_seconds;           /* building the map */
	double rewrite_seconds;       /* rewriting, syncing and swapping */
} st_clean_result;

/*
 * One cleaning pass over the log, on the calling thread: maps the dirty
 * section, rewrites the closed segments from the log start to the end of
 * the mapped range (merging neighbours up to segment.bytes) and swaps them
 * in crash-safely (cleaner_pass.c). Works whatever the log's policy says
 * (the scheduler checks it). 0 with *res filled (res->cleaned false when
 * there was nothing to do), ST_ERR_BUSY if another pass holds the log or
 * retention or DeleteRecords took the segments it works on meanwhile,
 * ST_ERR_CLOSING if the progress callback abandoned it, or an error (the
 * log is unchanged). Blocks on I/O for as long as the pass takes.
 * @locality cleaner (any thread but a reactor)
 */
int st_log_clean(st_log *log, const st_clean_options *o, int64_t now_ms, st_clean_result *res);

typedef struct st_cleaner_options {
	int threads;                  /* log.cleaner.threads, 1 */
	int64_t io_max_bytes_per_second; /* log.cleaner.io.max.bytes.per.second;
	                                 <= 0 or INT64_MAX: unthrottled */
	size_t dedupe_buffer_bytes;   /* log.cleaner.dedupe.buffer.size, shared
	                                 by the threads; 128 MiB */
	int64_t backoff_ms;           /* log.cleaner.backoff.ms: sleep when no
	                                 log needs cleaning; 15000 */
} st_cleaner_options;

typedef struct st_cleaner st_cleaner;

void st_cleaner_options_default(st_cleaner_options *o);

/*
 * Starts the cleaner threads. Release with st_cleaner_stop() (before
 * st_store_close()). 0, -ENOMEM, ST_ERR_CONFIG or -errno. @locality any
 */
int st_cleaner_start(st_store *s, const st_cleaner_options *o, st_cleaner **out);
/* Stops the threads (a running pass is abandoned, leaving its log as it
 * was), writes the checkpoints and frees. Logs stay open. */
void st_cleaner_stop(st_cleaner *c);
/*
 * Hands a log to the cleaner, which cleans it whenever its config says
 * compact and it is due. The first-dirty offset is read from the
 * cleaner-offset-checkpoint file of the log's parent directory. A log is
 * taken back by st_log_close() (which waits for a pass on it to stop).
 * 0 or -ENOMEM. @locality any
 */
int st_cleaner_add(st_cleaner *c, st_log *log);
/* Wakes the threads now (a config change, a test). @locality any */
void st_cleaner_wake(st_cleaner *c);

typedef struct st_cleaner_stats {
	int64_t passes;               /* passes that cleaned something */
	int64_t failures;             /* passes that failed */
	int64_t bytes_read, bytes_written;
	int64_t records_removed, tombstones_removed;
	int64_t last_pass_ms;         /* duration of the latest pass */
	double max_dirty_ratio;       /* highest dirty ratio seen at the last pick */
	int64_t map_keys;             /* keys in the latest pass's map */
	size_t map_bytes;             /* bytes that map allocated */
	int logs;                     /* logs handed to the cleaner */
	int busy_threads;             /* threads in a pass right now */
} st_cleaner_stats;

void st_cleaner_get_stats(st_cleaner *c, st_cleaner_stats *out);

/* Segment file name for a base offset: 20 digits + suffix, into buf. */
void st_segment_filename(char *buf, size_t cap, int64_t base_offset, const char *suffix);

#endif /* REWIND_STORAGE_H */
