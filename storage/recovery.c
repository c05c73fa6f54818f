/*
 * recovery.c -- bringing a log directory back to a consistent state at open.
 *
 * What may be on disk after a crash (process kill or power loss):
 *   - the active segment ends in a torn batch (partly written), or with
 *     bytes that were written but never synced and came back as garbage;
 *   - a segment rolled just before the crash was not sealed: its index
 *     files are missing, and the recovery point still names an older
 *     segment;
 *   - a new empty segment exists whose directory entry did or did not make
 *     it; leftover "*.tmp" files of interrupted atomic writes;
 *   - index files that are missing, short or garbled.
 *
 * The rule: segments below the recovery point were synced and validated
 * before it moved, so they are trusted (their index files are size-checked
 * here and content-checked when first loaded; if such a segment's own
 * batches no longer parse -- damage after the fact, not a crash -- it is
 * kept and served without an index, and reads that reach the damage fail
 * with ST_ERR_CORRUPT). From the segment holding the
 * recovery point to the end, every batch is read and validated
 * (kp_batch_validate: sizes, magic, CRC; each base offset exactly the
 * previous batch's last offset + 1, starting at the segment's base, within
 * the segment's int32 range; each segment starting where the previous
 * ended). The log is truncated at the first
 * batch that fails and every later segment is deleted, so what remains is a
 * prefix of what was written, ending on a batch boundary; since everything
 * acknowledged as durable was synced, it is all in that prefix. Indexes of
 * scanned segments are rebuilt from the batches.
 *
 * With the clean-shutdown marker nothing is scanned except the tail of the
 * active segment after its last index entry (to find the log end); if that
 * does not check out the active segment is scanned as above.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/st_int.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* "<20 digits><suffix>" -> base offset, or -1. */
static int64_t parse_name(const char *name, const char *suffix)
{
	size_t len = strlen(name), slen = strlen(suffix);

	if (len != 20 + slen || strcmp(name + 20, suffix) != 0)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

static int push_i64(int64_t **arr, size_t *n, size_t *cap, int64_t v)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		int64_t *a = realloc(*arr, ncap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		*arr = a;
		*cap = ncap;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

/* Lists the segment bases, sorted; removes leftover temporary files and
 * index files whose segment is gone. */
static int list_segments(st_log *log, int64_t **bases, size_t *n)
{
	int64_t *orphans = NULL;
	size_t norph = 0, caporph = 0, cap = 0;
	char path[4096];
	int rc = 0;

	*bases = NULL;
	*n = 0;
	DIR *d = opendir(log->dir);
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		int64_t b;
		if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0) {
			if (st__path(path, sizeof(path), "%s/%s", log->dir, e->d_name) == 0)
				unlink(path);
		} else if ((b = parse_name(e->d_name, ".log")) >= 0) {
			if ((rc = push_i64(bases, n, &cap, b)) < 0)
				break;
		} else if ((b = parse_name(e->d_name, ".index")) >= 0 ||
			   (b = parse_name(e->d_name, ".timeindex")) >= 0) {
			if ((rc = push_i64(&orphans, &norph, &caporph, b)) < 0)
				break;
		}
	}
	closedir(d);
	if (rc < 0) {
		free(*bases);
		free(orphans);
		*bases = NULL;
		return rc;
	}
	if (*n > 1)
		qsort(*bases, *n, sizeof(**bases), cmp_i64);
	for (size_t i = 0; i < norph; i++) {
		if (*n > 0 && bsearch(&orphans[i], *bases, *n, sizeof(**bases), cmp_i64))
			continue;
		char name[ST__NAME_MAX];
		static const char *const sfx[] = { ".index", ".timeindex" };
		for (size_t k = 0; k < 2; k++) {
			st_segment_filename(name, sizeof(name), orphans[i], sfx[k]);
			if (st__path(path, sizeof(path), "%s/%s", log->dir, name) == 0)
				unlink(path);
		}
	}
	free(orphans);
	return 0;
}

static void epoch_observe(st_log *log, int32_t epoch, int64_t offset)
{
	if (epoch < 0 || (log->nepochs > 0 && epoch <= log->epochs[log->nepochs - 1].epoch))
		return;
	if (log->nepochs == log->capepochs) {
		size_t ncap = log->capepochs ? log->capepochs * 2 : 4;
		st__epoch *n = realloc(log->epochs, ncap * sizeof(*n));
		if (!n)
			return;  /* the batches still carry it; the next recovery retries */
		log->epochs = n;
		log->capepochs = ncap;
	}
	log->epochs[log->nepochs++] = (st__epoch){ epoch, offset };
	log->epochs_dirty = true;
}

/*
 * Validates the batches of one segment from position 0, rebuilding its
 * index in memory. *valid is the end of the last good batch; *expected (IN:
 * the lowest base offset allowed) becomes the offset after it. 0, or -errno
 * for an I/O error (a bad batch is not an error: it ends *valid).
 */
static int scan_segment(st_log *log, st__segment *seg, bool closed, int64_t *expected,
			int64_t *valid, int *bad, int64_t *bad_base)
{
	kp_batch_header h;
	const uint8_t *bytes;
	int64_t at;
	st__scan sc;
	int rc;

	*valid = 0;
	*bad = 0;
	pthread_mutex_lock(&seg->mu);
	st__index_free(&seg->idx);
	seg->loaded = true;
	seg->max_ts_known = true;
	seg->max_ts = -1;
	seg->max_ts_offset = seg->base;
	seg->bytes_since_entry = 0;
	st__scan_init(&sc, seg->fd, 0, seg->size);
	while ((rc = st__scan_next(&sc, true, &h, &at, &bytes)) == 1) {
		/* Offsets must continue exactly: the baseOffset field is not
		 * covered by the CRC, so a garbled one would otherwise pass.
		 * The active segment was written by appends, which leave no
		 * gaps. A closed one may hold gaps left by compaction (which
		 * rewrites only sealed segments, below the recovery point, but a
		 * lost recovery-point file makes recovery scan them): there the
		 * offsets must only increase. */
		if (h.base_offset < *expected || (h.base_offset > *expected && !closed) ||
		    kp_batch_last_offset(&h) - seg->base > INT32_MAX) {
			*bad_base = h.base_offset;
			rc = ST_ERR_CORRUPT;
			break;
		}
		if ((rc = st__segment_index_batch_locked(seg, &h, at, seg->index_interval)) < 0)
			break;
		epoch_observe(log, h.partition_leader_epoch, h.base_offset);
		log->report.batches_scanned++;
		*expected = kp_batch_last_offset(&h) + 1;
		*valid = sc.pos;
	}
	st__scan_free(&sc);
	pthread_mutex_unlock(&seg->mu);
	if (rc == 0)
		return 0;
	if (rc == ST_ERR_CORRUPT || (rc <= -1000 && rc > -2000)) {
		*bad = rc;
		return 0;
	}
	return rc;
}

/* Drops segments [from, nsegs) from the list and the directory. */
static void drop_tail(st_log *log, size_t from)
{
	for (size_t j = from; j < log->nsegs; j++) {
		st__segment *seg = log->segs[j];
		log->report.bytes_truncated += seg->size;
		st__logf(log->store, ST_LOG_WARN, "%s.log: deleted (after the recovered end of the log)",
			 seg->prefix);
		st__segment_unlink(seg);
		seg->removed = true;
		st__segment_unref(seg);
	}
	log->nsegs = from;
}

/* Trusts the active segment of a cleanly closed log: loads its index and
 * reads the headers after the last entry to find the log end. */
static int trust_active(st_log *log, st__segment *seg)
{
	bool rebuilt = false;
	int64_t next;
	int rc;

	if ((rc = st__segment_open_rw(seg, false)) < 0)
		return rc;
	pthread_mutex_lock(&seg->mu);
	seg->loaded = false;
	rc = st__segment_load_locked(seg, seg->size, &rebuilt);
	if (rc == 0)
		rc = st__segment_scan_tail_locked(seg, seg->fd, seg->size, &next);
	pthread_mutex_unlock(&seg->mu);
	if (rebuilt)
		log->report.indexes_rebuilt++;
	if (rc < 0)
		return rc;
	seg->next_offset = next;
	return 0;
}

/* segment.ms counts from the first batch's timestamp when it is plausible,
 * as Kafka does, so a restart does not reset the clock. */
static int64_t created_ms(const st__segment *seg, int64_t now_ms)
{
	uint8_t hdr[KP_BATCH_HEADER_SIZE];
	kp_batch_header h;

	if (seg->size < KP_BATCH_HEADER_SIZE ||
	    pread(seg->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    kp_batch_header_parse(hdr, sizeof(hdr), &h) < 0 ||
	    h.max_timestamp < 0 || h.max_timestamp > now_ms)
		return now_ms;
	return h.max_timestamp;
}

/* Index files of a trusted closed segment: rebuilt now if they are missing
 * or the wrong size; content is checked when first loaded. */
static int check_trusted(st_log *log, st__segment *seg)
{
	int rc = st__index_check_sizes(seg->prefix);
	bool rebuilt = false;

	if (rc == 0)
		return 0;
	if (rc != -ENOENT && rc != ST_ERR_CORRUPT)
		return rc;
	pthread_mutex_lock(&seg->mu);
	rc = st__segment_load_locked(seg, seg->size, &rebuilt);
	pthread_mutex_unlock(&seg->mu);
	if (rebuilt)
		log->report.indexes_rebuilt++;
	return rc;
}

static int read_checkpoint(st_log *log, const char *name, int64_t *v)
{
	int rc = st__offset_file_read(log->dir, name, v);

	if (rc == -ENOENT) {
		*v = 0;
		return 0;
	}
	if (rc == ST_ERR_CORRUPT) {
		st__logf(log->store, ST_LOG_WARN, "%s/%s: corrupt; ignoring it", log->dir, name);
		*v = 0;
		return 0;
	}
	return rc;
}

int st__log_recover(st_log *log, bool clean, int64_t now_ms)
{
	st_recovery_report *rep = &log->report;
	int64_t start, rp, *bases = NULL;
	size_t nbases;
	bool dir_changed = false;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rep->clean = clean;
	/* A compaction swap cut short finishes (or rolls back) first, so the
	 * segments listed below are either all old or all new. */
	if ((rc = st__cleaner_recover(log)) < 0)
		return rc;
	if ((rc = read_checkpoint(log, "log-start-offset", &start)) < 0 ||
	    (rc = read_checkpoint(log, "recovery-point", &rp)) < 0)
		return rc;
	rc = st__epochs_read(log->dir, &log->epochs, &log->nepochs);
	if (rc == ST_ERR_CORRUPT) {
		st__logf(log->store, ST_LOG_WARN,
			 "%s/leader-epoch-checkpoint: corrupt; rebuilding it from the batches", log->dir);
		log->epochs_dirty = true;
		rp = 0;  /* scan everything so every epoch is seen again */
	} else if (rc < 0) {
		return rc;
	}
	log->capepochs = log->nepochs;
	if ((rc = list_segments(log, &bases, &nbases)) < 0)
		return rc;
	rep->segments = (int)nbases;

	if (nbases == 0) {
		st__segment *seg = st__segment_new(log->store, log->dir, start);
		if (!seg)
			return -ENOMEM;
		if ((rc = st__segment_open_rw(seg, true)) < 0 ||
		    (rc = st__log_push_segment(log, seg)) < 0) {
			st__segment_unref(seg);
			return rc;
		}
		seg->index_interval = log->cfg.index_interval_bytes;
		seg->loaded = true;
		seg->max_ts_known = true;
		dir_changed = true;
	}
	for (size_t i = 0; i < nbases; i++) {
		char path[4096];
		struct stat st;
		st__segment *seg = st__segment_new(log->store, log->dir, bases[i]);
		if (!seg) {
			rc = -ENOMEM;
			break;
		}
		seg->index_interval = log->cfg.index_interval_bytes;
		if ((rc = st__path(path, sizeof(path), "%s.log", seg->prefix)) < 0 ||
		    (stat(path, &st) < 0 && (rc = -errno) < 0) ||
		    (rc = st__log_push_segment(log, seg)) < 0) {
			st__segment_unref(seg);
			break;
		}
		if (st.st_size > ST__MAX_SEGMENT_BYTES) {
			st__logf(log->store, ST_LOG_ERROR, "%s: larger than a segment can be", path);
			rc = ST_ERR_CORRUPT;
			break;
		}
		seg->size = seg->readable = st.st_size;
		seg->sealed = true;
		seg->next_offset = i + 1 < nbases ? bases[i + 1] : bases[i];
	}
	free(bases);
	if (rc < 0)
		return rc;

	/* Which segments to validate. */
	size_t n = log->nsegs, first_scan = 0;
	if (clean) {
		first_scan = n;
		rc = trust_active(log, log->segs[n - 1]);
		if (rc == ST_ERR_CORRUPT || (rc <= -1000 && rc > -2000)) {
			st__logf(log->store, ST_LOG_WARN,
				 "%s.log: clean shutdown recorded but the segment does not check out "
				 "(%s); validating it", log->segs[n - 1]->prefix, st_strerror(rc));
			first_scan = n - 1;
		} else if (rc < 0) {
			return rc;
		}
	} else if (nbases == 0) {
		first_scan = n;  /* a new log: its one segment was just created empty */
	} else {
		while (first_scan + 1 < n && log->segs[first_scan + 1]->base <= rp)
			first_scan++;
	}
	for (size_t i = 0; i < first_scan && i + 1 < n; i++) {
		if ((rc = check_trusted(log, log->segs[i])) < 0)
			return rc;
	}

	int64_t expected = first_scan < n ? log->segs[first_scan]->base : 0;
	for (size_t i = first_scan; i < log->nsegs; i++) {
		st__segment *seg = log->segs[i];
		int64_t valid, bad_base = -1;
		int bad;
		if ((rc = st__segment_open_rw(seg, false)) < 0)
			return rc;
		if ((rc = scan_segment(log, seg, i + 1 < log->nsegs, &expected, &valid, &bad,
				       &bad_base)) < 0)
			return rc;
		rep->segments_scanned++;
		if (valid < seg->size && bad_base >= 0) {
			st__logf(log->store, ST_LOG_WARN,
				 "%s.log: truncating %" PRId64 " bytes at position %" PRId64
				 ": batch base offset %" PRId64 " where %" PRId64 " was expected",
				 seg->prefix, seg->size - valid, valid, bad_base, expected);
		} else if (valid < seg->size) {
			st__logf(log->store, ST_LOG_WARN,
				 "%s.log: truncating %" PRId64 " bytes at position %" PRId64 ": %s",
				 seg->prefix, seg->size - valid, valid, st_strerror(bad));
		}
		if (valid < seg->size) {
			if (ftruncate(seg->fd, valid) < 0)
				return -errno;
			rep->bytes_truncated += seg->size - valid;
			seg->size = seg->readable = valid;
		}
		/* After a truncation, or if the next segment does not start
		 * where this one ends, nothing after this one is trustworthy.
		 * (A cleaned segment still ends where the old ones did: the
		 * cleaner closes it with an empty batch at that offset. So a gap
		 * here is a tail a crash took, never compaction's.) */
		if (i + 1 < log->nsegs && (bad || log->segs[i + 1]->base != expected)) {
			drop_tail(log, i + 1);
			dir_changed = true;
		}
		seg->next_offset = expected;
		if (fdatasync(seg->fd) < 0)
			return -errno;
		if (i + 1 == log->nsegs)
			break;
		/* A closed segment: its rebuilt index goes to disk. */
		pthread_mutex_lock(&seg->mu);
		rc = st__segment_finish_time_index_locked(seg);
		if (rc == 0)
			rc = st__index_save(&seg->idx, seg->prefix, seg->size);
		if (rc == 0) {
			st__index_free(&seg->idx);
			seg->loaded = false;
		}
		pthread_mutex_unlock(&seg->mu);
		if (rc < 0)  /* kept in memory; the next open rebuilds the files */
			st__logf(log->store, ST_LOG_WARN, "%s.index: cannot write the rebuilt index: %s",
				 seg->prefix, st_strerror(rc));
		else
			rep->indexes_rebuilt++;
		dir_changed = true;
	}

	st__segment *act = log->segs[log->nsegs - 1];
	act->sealed = false;
	act->created_ms = created_ms(act, now_ms);
	log->end_offset = act->next_offset;
	if (start < log->segs[0]->base)
		start = log->segs[0]->base;
	if (start > log->end_offset) {
		st__logf(log->store, ST_LOG_WARN,
			 "%s/log-start-offset: %" PRId64 " is beyond the recovered end %" PRId64,
			 log->dir, start, log->end_offset);
		start = log->end_offset;
	}
	log->start_offset = start;
	while (log->nepochs > 0 && log->epochs[log->nepochs - 1].start >= log->end_offset) {
		log->nepochs--;
		log->epochs_dirty = true;
	}

	if (dir_changed && (rc = st_dir_fsync(log->dir)) < 0)
		return rc;
	/* Both files are hints that save work: an older recovery point only
	 * means more scanning next time, and the epochs are in the batches.
	 * Failing to write them (a full disk) must not keep the log closed. */
	log->recovery_point = act->base;
	/* A new log (no segment found) starts at what an absent file means:
	 * nothing to write, which spares each new partition a file and its
	 * sync, and a full disk a failure to report. */
	if ((rp != act->base || (!clean && nbases > 0)) &&
	    (rc = st__offset_file_write(log->dir, "recovery-point", act->base)) < 0)
		st__logf(log->store, ST_LOG_WARN, "%s/recovery-point: cannot write: %s",
			 log->dir, st_strerror(rc));
	if (log->epochs_dirty) {
		if ((rc = st__epochs_write(log->dir, log->epochs, log->nepochs)) < 0)
			st__logf(log->store, ST_LOG_WARN, "%s/leader-epoch-checkpoint: cannot write: %s",
				 log->dir, st_strerror(rc));
		else
			log->epochs_dirty = false;
	}
	if (rep->bytes_truncated > 0 || rep->indexes_rebuilt > 0)
		st__logf(log->store, ST_LOG_INFO,
			 "%s: recovered: %d segment(s), %d scanned, %" PRId64 " batches, %" PRId64
			 " bytes truncated, %d index(es) rebuilt; log end %" PRId64,
			 log->dir, rep->segments, rep->segments_scanned, rep->batches_scanned,
			 rep->bytes_truncated, rep->indexes_rebuilt, log->end_offset);
	return 0;
}
