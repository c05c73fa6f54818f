/*
 * log.c -- one partition log: open, close, configuration, append and roll,
 * and the steps the writer thread performs on a log (commit, failure,
 * seal).
 *
 * Offsets. A log is a list of segments sorted by base offset; the last is
 * active and takes appends. Offsets below start_offset are deleted (or about
 * to be); end_offset is the next offset to assign; readable_end (<= end) is
 * the end readers may see, moved by the writer when an append is written and,
 * under the default flush policy, synced. The high watermark follows the
 * readable end unless replication sets it.
 *
 *     start_offset <= readable_end <= end_offset
 *     segs[i]->base < segs[i+1]->base, and every offset of segs[i] < segs[i+1]->base
 *
 * Generations. An append is validated and given offsets and a file position
 * under the log lock, then queued. If its write fails the writer truncates
 * the file back to that position and rolls end_offset back to its base
 * offset; every append queued after it was given offsets that no longer
 * exist, so the log's generation is bumped and the writer fails any append
 * stamped with an older generation (ST_ERR_TRUNCATED) without writing it.
 *
 * Sealing. Rolling opens the next segment under the lock (the only I/O an
 * append may wait for) and queues a SEAL task: the writer syncs the old file,
 * writes its indexes and the producer-state snapshot taken (in memory,
 * under the lock) at the roll, then moves the recovery point to the new
 * segment. Retention only deletes sealed segments.
 *
 * Producers. The sequence checks of idempotent batches (producer.c) run
 * under the log lock, in the same section that assigns offsets, so the
 * state and the offsets never disagree. A duplicate is queued like an
 * append with nothing to write: the writer completes it in queue order,
 * so its callback runs only after the original's, and fails if the
 * original's write did (a retry is never acknowledged for bytes that are
 * not there). A failed write rolls the state back with the log end
 * (st__pstate_truncate).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/st_int.h"

void st_log_config_default(st_log_config *c)
{
	c->segment_bytes = (int64_t)1 << 30;
	c->segment_ms = (int64_t)7 * 24 * 3600 * 1000;
	c->retention_ms = (int64_t)7 * 24 * 3600 * 1000;
	c->retention_bytes = -1;
	c->index_interval_bytes = 4096;
	c->flush_messages = 1;
	c->flush_ms = 1000;
	c->log_append_time = false;
	c->ts_before_max_ms = INT64_MAX;
	c->ts_after_max_ms = INT64_MAX;
	c->producer_id_expiration_ms = (int64_t)24 * 3600 * 1000;
	c->compact = false;
	c->min_cleanable_dirty_ratio = 0.5;
	c->min_compaction_lag_ms = 0;
	c->max_compaction_lag_ms = INT64_MAX;
	c->delete_retention_ms = (int64_t)24 * 3600 * 1000;
}

static int config_check(const st_log_config *c)
{
	/* Kafka's lower bound for segment.bytes is 14 bytes; positions in the
	 * offset index are int32. */
	if (c->segment_bytes < 14 || c->segment_bytes > ST__MAX_SEGMENT_BYTES ||
	    c->segment_ms < 1 || c->retention_ms < -1 || c->retention_bytes < -1 ||
	    c->index_interval_bytes < 0 || c->flush_messages < 1 || c->flush_ms < 0 ||
	    c->producer_id_expiration_ms < 1 || c->ts_before_max_ms < 0 || c->ts_after_max_ms < 0 ||
	    !(c->min_cleanable_dirty_ratio >= 0 && c->min_cleanable_dirty_ratio <= 1) ||
	    c->min_compaction_lag_ms < 0 || c->max_compaction_lag_ms < 1 ||
	    c->delete_retention_ms < 0)
		return ST_ERR_CONFIG;
	return 0;
}

int st__log_push_segment(st_log *log, st__segment *seg)
{
	if (log->nsegs == log->capsegs) {
		size_t ncap = log->capsegs ? log->capsegs * 2 : 8;
		st__segment **n = realloc(log->segs, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		log->segs = n;
		log->capsegs = ncap;
	}
	assert(log->nsegs == 0 || log->segs[log->nsegs - 1]->base < seg->base);
	log->segs[log->nsegs++] = seg;
	return 0;
}

static st__segment *active(const st_log *log)
{
	assert(log->nsegs > 0);
	return log->segs[log->nsegs - 1];
}

static void log_free(st_log *log)
{
	for (size_t i = 0; i < log->nsegs; i++)
		st__segment_unref(log->segs[i]);
	free(log->segs);
	free(log->epochs);
	st__pstate_free(&log->producers);
	free(log->snap_saved);
	if (log->lock_fd >= 0)
		close(log->lock_fd);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->meta_mu);
	free(log->dir);
	free(log);
}

static bool file_exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	return st__path(path, sizeof(path), "%s/%s", dir, name) == 0 && stat(path, &st) == 0;
}

int st_log_open(st_store *s, const char *dir, const st_log_config *cfg,
		int64_t now_ms, st_log **out)
{
	st_log_config def;
	int rc;

	assert(s && dir && out);
	*out = NULL;
	if (!cfg) {
		st_log_config_default(&def);
		cfg = &def;
	}
	st_log *log = NULL;
	if ((rc = config_check(cfg)) < 0 || !(log = calloc(1, sizeof(*log)))) {
		rc = rc < 0 ? rc : -ENOMEM;
		st__logf(s, ST_LOG_ERROR, "%s: cannot open the log: %s", dir, st_strerror(rc));
		return rc;
	}
	size_t len = strlen(dir);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	log->dir = strndup(dir, len);
	if (!log->dir) {
		free(log);
		st__logf(s, ST_LOG_ERROR, "%s: cannot open the log: %s", dir,
			 st_strerror(-ENOMEM));
		return -ENOMEM;
	}
	log->store = s;
	log->cfg = *cfg;
	log->lock_fd = -1;
	log->auto_hw = true;
	log->clean_offset = -1;
	st__pstate_init(&log->producers);
	pthread_mutex_init(&log->mu, NULL);
	pthread_mutex_init(&log->meta_mu, NULL);

	if (mkdir(log->dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		st__logf(s, ST_LOG_ERROR, "%s: cannot create the log directory: %s",
			 log->dir, st_strerror(rc));
		goto fail;
	}
	if ((rc = st__dir_lock(log->dir)) < 0) {
		st__logf(s, rc == ST_ERR_LOCKED ? ST_LOG_WARN : ST_LOG_ERROR,
			 "%s/.lock: cannot lock the log directory: %s", log->dir, st_strerror(rc));
		goto fail;
	}
	log->lock_fd = rc;

	bool clean = file_exists(log->dir, ".clean-shutdown");
	if ((rc = st__log_recover(log, clean, now_ms)) < 0) {
		st__logf(s, ST_LOG_ERROR, "%s: cannot open the log: %s", log->dir, st_strerror(rc));
		goto fail;
	}
	if ((rc = st__log_load_producers(log, now_ms)) < 0) {
		st__logf(s, ST_LOG_ERROR, "%s: cannot rebuild the producer state: %s", log->dir,
			 st_strerror(rc));
		goto fail;
	}
	if (clean) {
		/* From here on a crash must not pass for a clean shutdown. */
		char path[4096];
		if ((rc = st__path(path, sizeof(path), "%s/.clean-shutdown", log->dir)) < 0 ||
		    (unlink(path) < 0 && (rc = -errno) < 0) ||
		    (rc = st_dir_fsync(log->dir)) < 0) {
			st__logf(s, ST_LOG_ERROR, "%s/.clean-shutdown: cannot remove: %s",
				 log->dir, st_strerror(rc));
			goto fail;
		}
	}
	log->readable_end = log->end_offset;
	log->hw = log->readable_end;
	*out = log;
	return 0;
fail:
	log_free(log);
	return rc;
}

const st_recovery_report *st_log_recovery(const st_log *log)
{
	return &log->report;
}

int st_log_set_config(st_log *log, const st_log_config *cfg)
{
	int rc = config_check(cfg);

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&log->mu);
	log->cfg = *cfg;
	active(log)->index_interval = cfg->index_interval_bytes;
	pthread_mutex_unlock(&log->mu);
	return 0;
}

/* persist: write what makes the next open fast (indexes, producer
 * snapshot, epochs, the clean marker); a log being deleted skips it. */
static void log_close(st_log *log, bool persist)
{
	st_store *s = log->store;
	st__task task = { .kind = ST__TASK_CLOSE, .log = log, .waited = true };
	int rc = 0;

	pthread_mutex_lock(&log->mu);
	log->closing = true;
	pthread_mutex_unlock(&log->mu);
	/* A cleaning pass on this log stops (leaving it as it was) and the
	 * cleaner forgets it before anything is freed. */
	st__cleaner_forget(log);
	/* The task queues behind every append and seal of this log, so when it
	 * is done the writer has finished with the log and holds nothing of it. */
	st__store_post(s, &task);
	st__store_wait(s, &task);
	if (!persist) {
		log_free(log);
		return;
	}

	/* What is on disk already (an index or snapshot unchanged since the
	 * open, or a log nothing was written to) is not written again: a
	 * broker with thousands of idle partitions stops in a fraction of the
	 * time, each file rewrite being a create, an fsync and a rename. */
	st__segment *seg = active(log);
	pthread_mutex_lock(&seg->mu);
	if (seg->loaded) {
		if ((rc = st__segment_finish_time_index_locked(seg)) == 0 &&
		    !st__index_is_saved(&seg->idx, seg->size))
			rc = st__index_save(&seg->idx, seg->prefix, seg->size);
	}
	pthread_mutex_unlock(&seg->mu);
	if (rc == 0 && seg->fd >= 0 && fdatasync(seg->fd) < 0)
		rc = -errno;
	if (rc == 0)
		rc = task.result;
	/* The writer is done with the log: the state is final at the end. */
	uint8_t *snap;
	size_t snap_len;
	int src = st__pstate_encode(&log->producers, log->end_offset, &snap, &snap_len);
	pthread_mutex_lock(&log->meta_mu);  /* the snapshot files, as at a seal */
	if (src == 0 && !log->offline && !st__snapshot_is_saved(log, snap, snap_len)) {
		src = st__snapshot_write(log, log->end_offset, snap, snap_len);
		if (src == 0)
			st__snapshots_prune(log, 2, -1);
	}
	pthread_mutex_unlock(&log->meta_mu);
	free(snap);
	if (src < 0)
		/* Only a cost: the next open replays from an older snapshot. */
		st__logf(s, ST_LOG_WARN, "%s: cannot write the producer snapshot: %s",
			 log->dir, st_strerror(src));
	st__log_persist_epochs(log);
	if (rc == 0 && !log->offline && !log->epochs_dirty)
		rc = st_file_write_atomic(log->dir, ".clean-shutdown", "", 0);
	else if (rc == 0)
		rc = ST_ERR_OFFLINE;
	if (rc < 0)
		st__logf(s, ST_LOG_WARN, "%s: not closed cleanly (%s); the next open recovers it",
			 log->dir, st_strerror(rc));
	log_free(log);
}

void st_log_close(st_log *log)
{
	log_close(log, true);
}

void st_log_close_discard(st_log *log)
{
	log_close(log, false);
}

void st_log_set_deleting(st_log *log, bool deleting)
{
	pthread_mutex_lock(&log->mu);
	log->deleting = deleting;
	pthread_mutex_unlock(&log->mu);
	/* A compaction pass renames and removes files by name: it is stopped
	 * (abandoned, the log as it was) and the cleaner forgets the log
	 * before the caller moves the directory. */
	if (deleting)
		st__cleaner_forget(log);
	/* The names go with the directory: from now on a segment rebuilds an
	 * index it needs from its open descriptor, as after retention unlinked
	 * it, and writes none. Undone, the names are its own again (a segment
	 * still in the list is never unlinked otherwise). */
	pthread_mutex_lock(&log->mu);
	for (size_t i = 0; i < log->nsegs; i++) {
		pthread_mutex_lock(&log->segs[i]->mu);
		log->segs[i]->unlinked = deleting;
		pthread_mutex_unlock(&log->segs[i]->mu);
	}
	pthread_mutex_unlock(&log->mu);
}

bool st__log_failure_is_news(st_log *log)
{
	pthread_mutex_lock(&log->mu);
	bool news = !log->deleting;
	pthread_mutex_unlock(&log->mu);
	return news;
}

/* ---------------------------------------------------------------- append */

/* What an append's records are held to: the log's settings at the time,
 * copied under the lock, and the broker's clock. */
typedef struct append_rules {
	st_log_config cfg;
	int64_t now_ms;
} append_rules;

/* Returns err after noting the refusal in a (see st_append.refused_why). */
static int refuse(st_append *a, int err, int32_t index, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(st_append *a, int err, int32_t index, const char *fmt, ...)
{
	va_list ap;

	a->refused_index = index;
	va_start(ap, fmt);
	vsnprintf(a->refused_why, sizeof(a->refused_why), fmt, ap);
	va_end(ap);
	return err;
}

/* now - d and now + d for d >= 0, held to int64_t (the window's ends, for
 * the refusal's words). */
static int64_t clock_minus(int64_t now, int64_t d)
{
	return now >= 0 || d <= now - INT64_MIN ? now - d : INT64_MIN;
}

static int64_t clock_plus(int64_t now, int64_t d)
{
	return now <= 0 || d <= INT64_MAX - now ? now + d : INT64_MAX;
}

/* Kafka's recordHasInvalidTimestamp: more than before.max.ms older than
 * the clock, or more than after.max.ms newer. The distance is taken in
 * uint64_t so that no timestamp a producer can send overflows it. */
static bool timestamp_outside(int64_t ts, const append_rules *r)
{
	if (ts <= r->now_ms)
		return (uint64_t)r->now_ms - (uint64_t)ts > (uint64_t)r->cfg.ts_before_max_ms;
	return (uint64_t)ts - (uint64_t)r->now_ms > (uint64_t)r->cfg.ts_after_max_ms;
}

/* Kafka's LogValidator on the records of one batch whose CRC checked out.
 * The records must parse to the batch's count and length (a compressed
 * batch is inflated to see them, as Kafka does), a compacted log takes
 * keyed records only, a producer may not stamp LogAppendTime, and on a
 * CreateTime log every timestamp (but -1, "none") lies in the window. The
 * batch's maxTimestamp is then set to its records' largest when the
 * producer wrote another (kafkajs leaves out the records it stamps itself):
 * retention, the time index and ListOffsets go by that field, so Kafka
 * rewrites it too (setMaxTimestamp), and with it the CRC. The first record
 * at fault is named in a's refusal, as Kafka's RecordError names it. */
static int batch_records_check(st_append *a, uint8_t *b, const kp_batch_header *h,
			       const append_rules *r)
{
	kp_record_iter it;
	kp_record rec;
	int64_t max_ts = -1;
	int32_t index = 0;
	int rc;

	if (h->attributes & KP_ATTR_LOG_APPEND_TIME)
		return refuse(a, ST_ERR_INVALID_TIMESTAMP, 0, "the producer set the timestamp type "
			      "to LogAppendTime, which only the broker may set");
	if ((rc = kp_record_iter_init(&it, b, kp_batch_size(h), ST__MAX_INFLATE)) < 0) {
		kp_record_iter_free(&it);
		return refuse(a, rc, -1, "the records cannot be read: %s", kp_strerror(rc));
	}
	for (; (rc = kp_record_iter_next(&it, &rec)) == 1; index++) {
		if (r->cfg.compact && !rec.key) {
			rc = refuse(a, ST_ERR_INVALID_RECORD, index, "record %d has no key, which "
				    "a compacted topic (cleanup.policy=compact) needs", index);
			break;
		}
		if (!r->cfg.log_append_time && rec.timestamp != -1 &&
		    timestamp_outside(rec.timestamp, r)) {
			rc = refuse(a, ST_ERR_INVALID_TIMESTAMP, index, "timestamp %lld of record %d "
				    "is out of range: it should be within [%lld, %lld]",
				    (long long)rec.timestamp, index,
				    (long long)clock_minus(r->now_ms, r->cfg.ts_before_max_ms),
				    (long long)clock_plus(r->now_ms, r->cfg.ts_after_max_ms));
			break;
		}
		if (rec.timestamp > max_ts)
			max_ts = rec.timestamp;
	}
	kp_record_iter_free(&it);
	/* The CRC held, so records that do not parse are what the producer
	 * built: Kafka's InvalidRecordException, not a corrupt transfer. */
	if (rc == KP_ERR_SHORT || rc == KP_ERR_CORRUPT)
		return refuse(a, ST_ERR_INVALID_RECORD, index, "record %d of %d does not parse (%s)",
			      index, h->records_count, kp_strerror(rc));
	if (rc < 0) {
		if (!a->refused_why[0])
			refuse(a, rc, -1, "the records cannot be read: %s", kp_strerror(rc));
		return rc;
	}
	if (!r->cfg.log_append_time && h->max_timestamp != max_ts) {
		kp_store_be64(b + KP_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
		kp_batch_update_crc(b, kp_batch_size(h));
	}
	return 0;
}

/* Checks the batches without the lock: CRC, magic, sizes, the offset
 * deltas a producer must send (0 .. count-1), then the records. */
static int append_validate(st_append *a, const append_rules *r, int64_t *records)
{
	kp_batch_header h;
	size_t pos = 0;
	int rc;

	*records = 0;
	if (!a->data || a->len == 0)
		return refuse(a, KP_ERR_SHORT, -1, "no record batch");
	if (a->len > (size_t)ST__MAX_SEGMENT_BYTES)
		return refuse(a, ST_ERR_TOO_LARGE, -1, "%zu bytes of batches: more than a segment "
			      "can hold", a->len);
	while (pos < a->len) {
		if ((rc = kp_batch_validate(a->data + pos, a->len - pos, &h)) < 0)
			return refuse(a, rc, -1, "the batch at byte %zu: %s", pos, kp_strerror(rc));
		if (h.records_count <= 0 || h.last_offset_delta != h.records_count - 1)
			return refuse(a, KP_ERR_CORRUPT, -1, "the batch at byte %zu counts %d records "
				      "but its lastOffsetDelta is %d", pos, h.records_count,
				      h.last_offset_delta);
		if ((rc = batch_records_check(a, a->data + pos, &h, r)) < 0)
			return rc;
		*records += h.records_count;
		pos += kp_batch_size(&h);
	}
	return 0;
}

/* Rewrites what the broker owns in each batch: the leader epoch and, with
 * LogAppendTime, the timestamp type and maxTimestamp (then the CRC). */
static void append_stamp(st_append *a, bool log_append_time, int64_t now_ms)
{
	kp_batch_header h;
	size_t pos = 0;

	while (pos < a->len) {
		int rc = kp_batch_header_parse(a->data + pos, a->len - pos, &h);
		assert(rc == 0);
		(void)rc;
		uint8_t *b = a->data + pos;
		kp_store_be32(b + KP_BATCH_OFF_LEADER_EPOCH, (uint32_t)a->leader_epoch);
		if (log_append_time) {
			uint16_t attr = kp_load_be16(b + KP_BATCH_OFF_ATTRIBUTES) | KP_ATTR_LOG_APPEND_TIME;
			kp_store_be16(b + KP_BATCH_OFF_ATTRIBUTES, attr);
			kp_store_be64(b + KP_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)now_ms);
			kp_batch_update_crc(b, kp_batch_size(&h));
		}
		pos += kp_batch_size(&h);
	}
}

/* Under the log lock: closes the active segment and opens the next at the
 * log end offset. */
static int roll_locked(st_log *log, int64_t now_ms)
{
	st__segment *old = active(log);
	int rc;

	assert(old->size > 0 && log->end_offset > old->base);
	st__task *t = calloc(1, sizeof(*t));
	st__segment *seg = st__segment_new(log->store, log->dir, log->end_offset);
	if (!t || !seg) {
		free(t);
		st__segment_unref(seg);
		return -ENOMEM;
	}
	if ((rc = st__segment_open_rw(seg, true)) < 0 ||
	    (rc = st__log_push_segment(log, seg)) < 0) {
		st__logf(log->store, ST_LOG_ERROR, "%s.log: cannot create the next segment: %s",
			 seg->prefix, st_strerror(rc));
		if (rc == -ENOMEM)
			st__segment_unlink(seg);
		st__segment_unref(seg);
		free(t);
		return rc;
	}
	seg->index_interval = log->cfg.index_interval_bytes;
	seg->created_ms = now_ms;
	seg->loaded = true;
	seg->max_ts_known = true;
	seg->w_dir_unsynced = true;

	pthread_mutex_lock(&old->mu);
	/* Best effort: without the final entry the max timestamp is found by
	 * a rebuild when the segment is next opened. */
	(void)st__segment_finish_time_index_locked(old);
	pthread_mutex_unlock(&old->mu);
	/* Without memory for the snapshot the next recovery replays from an
	 * older one: slower, never wrong. */
	if (st__pstate_encode(&log->producers, log->end_offset, &t->snap, &t->snap_len) < 0)
		t->snap = NULL;
	t->snap_offset = log->end_offset;
	t->kind = ST__TASK_SEAL;
	t->log = log;
	t->seg = old;
	st__segment_ref(old);
	st__store_post(log->store, t);
	return 0;
}

static bool roll_due(const st_log *log, int64_t len, int64_t records, int64_t now_ms)
{
	const st__segment *seg = active(log);

	if (seg->size == 0)
		return false;
	return seg->size + len > log->cfg.segment_bytes ||
	       now_ms - seg->created_ms >= log->cfg.segment_ms ||
	       log->end_offset + records - 1 - seg->base > INT32_MAX;
}

int st_log_append(st_log *log, st_append *a, int64_t now_ms)
{
	st__pupdate up;
	int64_t records;
	int rc;

	assert(a && a->cb);
	a->refused_index = -1;
	a->refused_why[0] = '\0';
	append_rules rules = { .now_ms = now_ms };
	pthread_mutex_lock(&log->mu);
	rules.cfg = log->cfg;
	pthread_mutex_unlock(&log->mu);
	const bool lat = rules.cfg.log_append_time;
	if ((rc = append_validate(a, &rules, &records)) < 0)
		return rc;
	append_stamp(a, lat, now_ms);
	a->duplicate = false;
	st__pupdate_init(&up);

	pthread_mutex_lock(&log->mu);
	if (log->closing) {
		rc = ST_ERR_CLOSING;
		goto out;
	}
	if (log->deleting) {
		rc = ST_ERR_DELETING;
		goto out;
	}
	if (log->offline) {
		rc = ST_ERR_OFFLINE;
		goto out;
	}
	if ((int64_t)a->len > log->cfg.segment_bytes) {
		rc = refuse(a, ST_ERR_TOO_LARGE, -1, "%zu bytes of batches: more than segment.bytes "
			    "(%lld)", a->len, (long long)log->cfg.segment_bytes);
		goto out;
	}
	if (log->end_offset > INT64_MAX - records) {
		rc = ST_ERR_OFFSET_OUT_OF_RANGE;
		goto out;
	}
	rc = st__pstate_check(&log->producers, a->data, a->len, log->end_offset, now_ms, &up);
	if (rc == 1) {
		a->duplicate = true;
		a->base_offset = up.dup_first;
		a->last_offset = up.dup_last;
		a->log_append_time = -1;
		a->durable = false;
		a->priv_log = log;
		a->priv_file = NULL;
		a->priv_pos = -1;
		a->priv_gen = log->gen;
		a->priv_records = 0;
		st__store_enqueue(log->store, a);
		rc = 0;
		goto out;
	}
	if (rc == ST_ERR_INVALID_RECORD)
		refuse(a, rc, -1, "a batch's producer id, epoch or base sequence is negative "
		       "where no producer's is");
	if (rc < 0 || (rc = st__pstate_reserve(&log->producers, up.n)) < 0)
		goto out;
	if (roll_due(log, (int64_t)a->len, records, now_ms) && (rc = roll_locked(log, now_ms)) < 0)
		goto out;

	st__segment *seg = active(log);
	int64_t off = log->end_offset;
	size_t pos = 0;
	pthread_mutex_lock(&seg->mu);
	while (pos < a->len) {
		kp_batch_header h;
		rc = kp_batch_header_parse(a->data + pos, a->len - pos, &h);
		assert(rc == 0);
		kp_store_be64(a->data + pos + KP_BATCH_OFF_BASE_OFFSET, (uint64_t)off);
		h.base_offset = off;
		/* The index is sparse: a missing entry (no memory) only makes a
		 * later lookup scan further. */
		(void)st__segment_index_batch_locked(seg, &h, seg->size + (int64_t)pos,
						     log->cfg.index_interval_bytes);
		off += h.records_count;
		pos += kp_batch_size(&h);
	}
	pthread_mutex_unlock(&seg->mu);
	rc = 0;

	a->base_offset = log->end_offset;
	a->last_offset = off - 1;
	a->log_append_time = lat ? now_ms : -1;
	a->durable = false;
	a->next = NULL;
	a->priv_log = log;
	a->priv_file = seg;
	a->priv_pos = seg->size;
	a->priv_gen = log->gen;
	a->priv_records = records;
	st__segment_ref(seg);
	seg->size += (int64_t)a->len;
	seg->next_offset = off;
	log->end_offset = off;
	st__pstate_apply(&log->producers, &up);

	if (a->leader_epoch >= 0 &&
	    (log->nepochs == 0 || a->leader_epoch > log->epochs[log->nepochs - 1].epoch)) {
		if (log->nepochs == log->capepochs) {
			size_t ncap = log->capepochs ? log->capepochs * 2 : 4;
			st__epoch *n = realloc(log->epochs, ncap * sizeof(*n));
			if (n) {
				log->epochs = n;
				log->capepochs = ncap;
			}
		}
		/* Without memory the entry is rebuilt from the batches by the
		 * next recovery; the batches themselves carry the epoch. */
		if (log->nepochs < log->capepochs) {
			log->epochs[log->nepochs++] = (st__epoch){ a->leader_epoch, a->base_offset };
			log->epochs_dirty = true;
		}
	}
	st__store_enqueue(log->store, a);
out:
	pthread_mutex_unlock(&log->mu);
	st__pupdate_free(&up);
	return rc;
}

int st_log_roll(st_log *log, int64_t now_ms)
{
	int rc = 0;

	pthread_mutex_lock(&log->mu);
	if (log->closing)
		rc = ST_ERR_CLOSING;
	else if (log->deleting)
		rc = ST_ERR_DELETING;
	else if (log->offline)
		rc = ST_ERR_OFFLINE;
	else if (active(log)->size > 0)
		rc = roll_locked(log, now_ms);
	pthread_mutex_unlock(&log->mu);
	return rc;
}

/* ------------------------------------------------------------- positions */

int64_t st_log_start_offset(st_log *log)
{
	pthread_mutex_lock(&log->mu);
	int64_t v = log->start_offset;
	pthread_mutex_unlock(&log->mu);
	return v;
}

int64_t st_log_end_offset(st_log *log)
{
	pthread_mutex_lock(&log->mu);
	int64_t v = log->end_offset;
	pthread_mutex_unlock(&log->mu);
	return v;
}

int64_t st_log_readable_end(st_log *log)
{
	pthread_mutex_lock(&log->mu);
	int64_t v = log->readable_end;
	pthread_mutex_unlock(&log->mu);
	return v;
}

int64_t st_log_high_watermark(st_log *log)
{
	pthread_mutex_lock(&log->mu);
	int64_t v = log->hw;
	pthread_mutex_unlock(&log->mu);
	return v;
}

void st_log_set_high_watermark(st_log *log, int64_t hw)
{
	pthread_mutex_lock(&log->mu);
	if (hw > log->end_offset)
		hw = log->end_offset;
	if (hw < log->start_offset)
		hw = log->start_offset;
	log->hw = hw;
	pthread_mutex_unlock(&log->mu);
}

void st_log_set_auto_high_watermark(st_log *log, bool on)
{
	pthread_mutex_lock(&log->mu);
	log->auto_hw = on;
	if (on)
		log->hw = log->readable_end;
	pthread_mutex_unlock(&log->mu);
}

void st_log_get_stats(st_log *log, st_log_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&log->mu);
	out->start_offset = log->start_offset;
	out->end_offset = log->end_offset;
	out->readable_end = log->readable_end;
	out->high_watermark = log->hw;
	for (size_t i = 0; i < log->nsegs; i++)
		out->size_bytes += log->segs[i]->size;
	out->segments = (int)log->nsegs;
	out->active_base_offset = active(log)->base;
	out->appends = log->appends;
	out->syncs = log->syncs;
	out->offline = log->offline;
	pthread_mutex_unlock(&log->mu);
}

int32_t st_log_latest_epoch(st_log *log)
{
	pthread_mutex_lock(&log->mu);
	int32_t e = log->nepochs ? log->epochs[log->nepochs - 1].epoch : -1;
	pthread_mutex_unlock(&log->mu);
	return e;
}

/* ------------------------------------------------------ writer-side steps */

/* How often a streak of failed writes to one log is logged (see
 * st_log.write_fails). */
#define ST__WRITE_FAIL_LOG_MS 10000

void st__log_write_failed(st_log *log, st_append *a, int err)
{
	st__segment *seg = a->priv_file;
	st__segment **gone = NULL;
	size_t ngone = 0;
	int trc = 0;

	pthread_mutex_lock(&log->mu);
	assert(a->priv_gen == log->gen && log->readable_end <= a->base_offset);
	size_t i = log->nsegs;
	while (i > 0 && log->segs[i - 1] != seg)
		i--;
	assert(i > 0);
	/* Segments rolled after this append hold only appends that are now
	 * discarded: undo those rolls, this segment is active again. */
	if (i < log->nsegs) {
		ngone = log->nsegs - i;
		gone = malloc(ngone * sizeof(*gone));
		for (size_t j = i; j < log->nsegs; j++) {
			log->segs[j]->removed = true;
			if (gone) {
				gone[j - i] = log->segs[j];
			} else {
				/* Their files must go even without memory: left
				 * behind they would pass for later segments. */
				st__segment_unlink(log->segs[j]);
				st__segment_unref(log->segs[j]);
			}
		}
		log->nsegs = i;
	}
	seg->size = a->priv_pos;
	seg->next_offset = a->base_offset;
	log->end_offset = a->base_offset;
	log->gen++;
	/* Producers forget the discarded batches; one left with none is
	 * forgotten and may go on at any sequence (producer.c): lenient, but
	 * its retries of the discarded batches must be accepted. */
	st__pstate_truncate(&log->producers, log->end_offset);
	while (log->nepochs > 0 && log->epochs[log->nepochs - 1].start >= log->end_offset) {
		log->nepochs--;
		log->epochs_dirty = true;
	}
	/* The file and the in-memory index must agree again before any new
	 * append is stamped with a position; this is the failure path, so
	 * holding the log lock across ftruncate() and the tail scan is fine. */
	pthread_mutex_lock(&seg->mu);
	if (ftruncate(seg->fd, a->priv_pos) < 0)
		trc = -errno;
	st__index_trim(&seg->idx, (uint32_t)(a->base_offset - seg->base), (uint32_t)a->priv_pos);
	int64_t next;
	if (st__segment_scan_tail_locked(seg, seg->fd, a->priv_pos, &next) < 0) {
		/* The bytes before the failure were written by us a moment ago;
		 * if even they do not read back, stop writing. */
		trc = trc ? trc : -EIO;
	}
	pthread_mutex_unlock(&seg->mu);
	int64_t end = log->end_offset;
	int64_t now = st__monotonic_ms();
	int64_t quiet = -1;           /* failures not logged before this one */
	if (++log->write_fails == 1 || now - log->write_fail_logged_ms >= ST__WRITE_FAIL_LOG_MS) {
		quiet = log->write_fails_unlogged;
		log->write_fails_unlogged = 0;
		log->write_fail_logged_ms = now;
	} else {
		log->write_fails_unlogged++;
	}
	pthread_mutex_unlock(&log->mu);

	if (quiet == 0)
		st__logf(log->store, ST_LOG_ERROR, "%s.log: write at position %" PRId64
			 " failed: %s; log end rolled back to %" PRId64, seg->prefix, a->priv_pos,
			 st_strerror(err), end);
	else if (quiet > 0)
		st__logf(log->store, ST_LOG_ERROR, "%s.log: write at position %" PRId64
			 " failed: %s; log end rolled back to %" PRId64 " (%" PRId64 " more failed "
			 "writes since the last such line)", seg->prefix, a->priv_pos,
			 st_strerror(err), end, quiet);
	if (trc < 0)
		st__log_set_offline(log, trc, seg->prefix);
	for (size_t j = 0; gone && j < ngone; j++) {
		st__segment_unlink(gone[j]);
		st__segment_unref(gone[j]);
	}
	free(gone);
}

void st__log_commit(st_log *log, st_append *a)
{
	st__segment *seg = a->priv_file;

	pthread_mutex_lock(&log->mu);
	/* An append of an older generation is committed only if it preceded
	 * the failure that bumped the generation: its bytes are below the
	 * truncation point. */
	assert(a->priv_gen <= log->gen && a->last_offset < log->end_offset);
	if (a->last_offset + 1 > log->readable_end)
		log->readable_end = a->last_offset + 1;
	if (a->priv_pos + (int64_t)a->len > seg->readable)
		seg->readable = a->priv_pos + (int64_t)a->len;
	if (log->auto_hw)
		log->hw = log->readable_end;
	log->appends++;
	/* Only an append stamped after the last failure (its generation) shows
	 * that writes work again; older ones were written before it. */
	int64_t failed = a->priv_gen == log->gen ? log->write_fails : 0;
	if (failed > 0) {
		log->write_fails = 0;
		log->write_fails_unlogged = 0;
	}
	pthread_mutex_unlock(&log->mu);
	if (failed > 0)
		st__logf(log->store, ST_LOG_INFO, "%s.log: writes succeed again, after %" PRId64
			 " failed", seg->prefix, failed);
}

void st__log_set_offline(st_log *log, int err, const char *path)
{
	pthread_mutex_lock(&log->mu);
	bool was = log->offline || log->deleting;
	log->offline = true;
	pthread_mutex_unlock(&log->mu);
	if (!was)
		st__logf(log->store, ST_LOG_ERROR,
			 "%s: %s; the log is offline: reads continue up to offset %" PRId64
			 ", writes fail until it is reopened",
			 path, st_strerror(err), st_log_readable_end(log));
}

void st__log_count_sync(st_log *log)
{
	pthread_mutex_lock(&log->mu);
	log->syncs++;
	pthread_mutex_unlock(&log->mu);
}

void st__log_seal(st_log *log, st__segment *seg, const st__task *t)
{
	pthread_mutex_lock(&log->mu);
	bool skip = seg->removed || seg == active(log) || log->offline || log->deleting;
	pthread_mutex_unlock(&log->mu);
	if (skip)
		return;

	if (fdatasync(seg->fd) < 0) {
		int err = -errno;
		st__log_set_offline(log, err, seg->prefix);
		return;
	}
	st__log_count_sync(log);
	pthread_mutex_lock(&seg->mu);
	int rc = st__index_save(&seg->idx, seg->prefix, seg->size);
	pthread_mutex_unlock(&seg->mu);
	if (rc < 0 && st__log_failure_is_news(log))
		st__logf(log->store, ST_LOG_WARN,
			 "%s.index: cannot write the index of a rolled segment: %s; it will be rebuilt",
			 seg->prefix, st_strerror(rc));
	/* The snapshot covers batches below the new segment, all synced now. */
	if (t->snap) {
		pthread_mutex_lock(&log->meta_mu);
		int src = st__snapshot_write(log, t->snap_offset, t->snap, t->snap_len);
		if (src == 0)
			st__snapshots_prune(log, 2, -1);
		pthread_mutex_unlock(&log->meta_mu);
		if (src < 0 && st__log_failure_is_news(log))
			st__logf(log->store, ST_LOG_WARN,
				 "%s: cannot write the producer snapshot at %" PRId64 ": %s",
				 log->dir, t->snap_offset, st_strerror(src));
	}
	/* One directory sync covers the index and snapshot renames and the
	 * directory entries of this segment and of the one created by the
	 * roll. */
	int drc = st_dir_fsync(log->dir);

	pthread_mutex_lock(&log->mu);
	int64_t rp = -1;
	if (drc == 0) {
		seg->sealed = true;
		for (size_t i = 0; i + 1 < log->nsegs; i++) {
			if (log->segs[i] == seg && log->segs[i + 1]->base > log->recovery_point) {
				log->recovery_point = log->segs[i + 1]->base;
				rp = log->recovery_point;
			}
		}
	}
	pthread_mutex_unlock(&log->mu);
	if (drc < 0) {
		st__log_set_offline(log, drc, log->dir);
		return;
	}
	if (rp >= 0) {
		pthread_mutex_lock(&log->meta_mu);
		rc = st__offset_file_write(log->dir, "recovery-point", rp);
		pthread_mutex_unlock(&log->meta_mu);
		if (rc < 0 && st__log_failure_is_news(log))
			st__logf(log->store, ST_LOG_WARN, "%s/recovery-point: cannot write: %s",
				 log->dir, st_strerror(rc));
	}
	/* A closed segment's index goes back to disk; it is reloaded on the
	 * first lookup that needs it (idle partitions stay small). */
	pthread_mutex_lock(&seg->mu);
	if (rc == 0 && seg->loaded) {
		st__index_free(&seg->idx);
		seg->loaded = false;
	}
	pthread_mutex_unlock(&seg->mu);
}

void st__log_persist_epochs(st_log *log)
{
	pthread_mutex_lock(&log->meta_mu);
	pthread_mutex_lock(&log->mu);
	if (!log->epochs_dirty) {
		pthread_mutex_unlock(&log->mu);
		pthread_mutex_unlock(&log->meta_mu);
		return;
	}
	size_t n = log->nepochs;
	st__epoch *copy = malloc((n ? n : 1) * sizeof(*copy));
	if (copy) {
		memcpy(copy, log->epochs, n * sizeof(*copy));
		log->epochs_dirty = false;
	}
	pthread_mutex_unlock(&log->mu);
	int rc = copy ? st__epochs_write(log->dir, copy, n) : -ENOMEM;
	free(copy);
	if (rc < 0) {
		pthread_mutex_lock(&log->mu);
		bool news = !log->deleting;
		log->epochs_dirty = true;
		pthread_mutex_unlock(&log->mu);
		if (news)
			st__logf(log->store, ST_LOG_WARN, "%s/leader-epoch-checkpoint: cannot write: %s",
				 log->dir, st_strerror(rc));
	}
	pthread_mutex_unlock(&log->meta_mu);
}
