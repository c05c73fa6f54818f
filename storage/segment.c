/*
 * segment.c -- one segment: a .log file of record batches and its indexes.
 *
 * <dir>/<base offset, 20 digits, zero padded>.log holds RecordBatch v2
 * (magic 2) back to back, exactly as they were appended, with no header or
 * padding of its own:
 *
 *   position  size  field (big-endian; see proto/proto.h for the rest)
 *          0     8  baseOffset      assigned by the log, >= the file's base
 *          8     4  batchLength     bytes after this field
 *         12     4  partitionLeaderEpoch
 *         16     1  magic = 2
 *         17     4  crc (CRC-32C of position 21 .. end of batch)
 *         21     .  attributes .. records
 *   12 + batchLength: the next batch
 *
 * A valid segment: every batch passes kp_batch_validate(), base offsets
 * strictly increase, each batch's offsets lie in
 * [file base, file base + INT32_MAX], and the file ends exactly at a batch
 * end. Segments written by appends are also contiguous (the first batch at
 * the file base, each next one at the previous last offset + 1), and
 * recovery, which only scans those, truncates at the first batch that is
 * not (recovery.c). Sealed segments may later hold gaps (compaction).
 *
 * The object is reference counted (st_int.h). Its file descriptor is opened
 * read-write for the active segment, and read-only on first use for closed
 * segments, so idle partitions with many segments hold few descriptors. It
 * is closed only when the last reference goes: a read slice keeps a
 * segment's bytes readable after retention unlinked its files.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/st_int.h"

/* The scan window: big enough to read many batch headers per pread(). */
#define SCAN_WINDOW ((size_t)64 << 10)

void st_segment_filename(char *buf, size_t cap, int64_t base_offset, const char *suffix)
{
	snprintf(buf, cap, "%020" PRId64 "%s", base_offset, suffix ? suffix : "");
}

st__segment *st__segment_new(st_store *s, const char *dir, int64_t base)
{
	char name[ST__NAME_MAX];
	st__segment *seg = calloc(1, sizeof(*seg));

	assert(base >= 0);
	if (!seg)
		return NULL;
	st_segment_filename(name, sizeof(name), base, NULL);
	size_t len = strlen(dir) + 1 + strlen(name) + 1;
	seg->prefix = malloc(len);
	if (!seg->prefix) {
		free(seg);
		return NULL;
	}
	snprintf(seg->prefix, len, "%s/%s", dir, name);
	seg->store = s;
	seg->base = base;
	atomic_init(&seg->refs, 1);
	pthread_mutex_init(&seg->mu, NULL);
	seg->fd = -1;
	seg->max_ts = -1;
	seg->max_ts_offset = base;
	seg->next_offset = base;
	seg->w_req = -1;
	seg->index_interval = 4096;
	st__index_init(&seg->idx);
	return seg;
}

void st__segment_ref(st__segment *seg)
{
	int old = atomic_fetch_add(&seg->refs, 1);
	assert(old > 0);
	(void)old;
}

void st__segment_unref(st__segment *seg)
{
	if (!seg)
		return;
	int old = atomic_fetch_sub(&seg->refs, 1);
	assert(old > 0);
	if (old != 1)
		return;
	if (seg->fd >= 0)
		close(seg->fd);
	st__index_free(&seg->idx);
	pthread_mutex_destroy(&seg->mu);
	free(seg->prefix);
	free(seg);
}

int st__segment_open_rw(st__segment *seg, bool create)
{
	char path[4096];
	int rc = st__path(path, sizeof(path), "%s.log", seg->prefix);

	if (rc < 0)
		return rc;
	/* A new segment's base is the log end offset, above every offset on
	 * disk, so a file already carrying that name holds nothing of value. */
	int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0644);
	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&seg->mu);
	if (seg->fd >= 0)
		close(seg->fd);
	seg->fd = fd;
	/* Nothing indexed and no index files: recovery removed any left
	 * without their .log, and a new base is above every offset the log
	 * had. Absent files read as empty for an empty segment. */
	if (create)
		seg->idx.saved_size = 0;
	pthread_mutex_unlock(&seg->mu);
	return 0;
}

int st__segment_fd_locked(st__segment *seg, int *fd)
{
	if (seg->fd < 0) {
		char path[4096];
		int rc;
		/* Unlinked before anyone opened it: the offsets it held are below
		 * the log start offset by now. */
		if (seg->unlinked)
			return ST_ERR_OFFSET_OUT_OF_RANGE;
		if ((rc = st__path(path, sizeof(path), "%s.log", seg->prefix)) < 0)
			return rc;
		seg->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (seg->fd < 0)
			return -errno;
	}
	*fd = seg->fd;
	return 0;
}

int st__segment_unlink(st__segment *seg)
{
	static const char *const suffixes[] = { ".log", ".index", ".timeindex" };
	char path[4096];
	int first = 0;

	pthread_mutex_lock(&seg->mu);
	seg->unlinked = true;
	pthread_mutex_unlock(&seg->mu);
	for (size_t i = 0; i < 3; i++) {
		int rc = st__path(path, sizeof(path), "%s%s", seg->prefix, suffixes[i]);
		if (rc == 0 && unlink(path) < 0 && errno != ENOENT)
			rc = -errno;
		if (rc < 0 && first == 0)
			first = rc;
	}
	return first;
}

/* ----------------------------------------------------------------- scan */

void st__scan_init(st__scan *sc, int fd, int64_t pos, int64_t limit)
{
	memset(sc, 0, sizeof(*sc));
	sc->fd = fd;
	sc->pos = pos;
	sc->limit = limit;
	sc->window = SCAN_WINDOW;
}

void st__scan_free(st__scan *sc)
{
	free(sc->buf);
	sc->buf = NULL;
}

/* Makes [pos, pos + n) of the file available in the window. The caller has
 * checked pos + n <= limit. A file shorter than that is KP_ERR_SHORT. */
static int scan_window(st__scan *sc, int64_t pos, size_t n, const uint8_t **out)
{
	if (sc->buf && pos >= sc->buf_pos &&
	    (uint64_t)(pos - sc->buf_pos) + n <= sc->buf_len) {
		*out = sc->buf + (pos - sc->buf_pos);
		return 0;
	}
	size_t want = n > sc->window ? n : sc->window;
	if (want > sc->cap) {
		uint8_t *nb = realloc(sc->buf, want);
		if (!nb)
			return -ENOMEM;
		sc->buf = nb;
		sc->cap = want;
	}
	int64_t room = sc->limit - pos;
	size_t amount = (int64_t)sc->cap < room ? sc->cap : (size_t)room;
	size_t got = 0;
	sc->buf_len = 0;
	sc->buf_pos = pos;
	while (got < n) {
		ssize_t r = pread(sc->fd, sc->buf + got, amount - got, (off_t)(pos + (int64_t)got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return KP_ERR_SHORT;
		got += (size_t)r;
	}
	sc->buf_len = got;
	*out = sc->buf;
	return 0;
}

int st__scan_next(st__scan *sc, bool whole, kp_batch_header *h, int64_t *at,
		  const uint8_t **bytes)
{
	const uint8_t *p = NULL;   /* set by scan_window; -O3 cannot see it */
	int rc;

	if (sc->pos >= sc->limit)
		return 0;
	int64_t left = sc->limit - sc->pos;
	if (left < KP_BATCH_HEADER_SIZE)
		return KP_ERR_SHORT;
	if ((rc = scan_window(sc, sc->pos, KP_BATCH_HEADER_SIZE, &p)) < 0 ||
	    (rc = kp_batch_header_parse(p, KP_BATCH_HEADER_SIZE, h)) < 0)
		return rc;
	size_t size = kp_batch_size(h);
	if ((int64_t)size > left)
		return KP_ERR_SHORT;
	if (whole) {
		if ((rc = scan_window(sc, sc->pos, size, &p)) < 0 ||
		    (rc = kp_batch_validate(p, size, h)) < 0)
			return rc;
		*bytes = p;
	}
	*at = sc->pos;
	sc->pos += (int64_t)size;
	return 1;
}

/* ---------------------------------------------------------------- index */

int st__segment_index_batch_locked(st__segment *seg, const kp_batch_header *h,
				   int64_t pos, int32_t interval)
{
	int64_t rel = h->base_offset - seg->base;
	int rc;

	assert(rel >= 0 && rel <= INT32_MAX && pos >= 0 && pos <= ST__MAX_SEGMENT_BYTES);
	if (h->max_timestamp > seg->max_ts) {
		seg->max_ts = h->max_timestamp;
		seg->max_ts_offset = h->base_offset;
	}
	if (seg->bytes_since_entry > interval) {
		if ((rc = st__index_add_offset(&seg->idx, (uint32_t)rel, (uint32_t)pos)) < 0)
			return rc;
		if (seg->max_ts >= 0 &&
		    (seg->idx.tn == 0 || seg->max_ts > seg->idx.t[seg->idx.tn - 1].ts) &&
		    (rc = st__index_add_time(&seg->idx, seg->max_ts,
					     (uint32_t)(seg->max_ts_offset - seg->base))) < 0)
			return rc;
		seg->bytes_since_entry = 0;
	}
	seg->bytes_since_entry += (int64_t)kp_batch_size(h);
	return 0;
}

int st__segment_finish_time_index_locked(st__segment *seg)
{
	st__index *ix = &seg->idx;

	if (seg->max_ts < 0 || (ix->tn > 0 && seg->max_ts <= ix->t[ix->tn - 1].ts))
		return 0;
	return st__index_add_time(ix, seg->max_ts, (uint32_t)(seg->max_ts_offset - seg->base));
}

int st__segment_scan_tail_locked(st__segment *seg, int fd, int64_t size,
				 int64_t *next_offset)
{
	st__index *ix = &seg->idx;
	kp_batch_header h;
	int64_t at;
	st__scan sc;
	int rc;

	/* At every offset entry the time index was brought up to date,
	 * including the batch at that entry; so the state after it follows
	 * from the last time entry plus the batches from that position on. */
	int64_t from = ix->on ? ix->o[ix->on - 1].pos : 0;
	seg->max_ts = ix->tn ? ix->t[ix->tn - 1].ts : -1;
	seg->max_ts_offset = seg->base + (ix->tn ? ix->t[ix->tn - 1].rel : 0);
	seg->bytes_since_entry = 0;
	*next_offset = seg->base;
	if (ix->on)
		*next_offset = seg->base + ix->o[ix->on - 1].rel;
	st__scan_init(&sc, fd, from, size);
	while ((rc = st__scan_next(&sc, false, &h, &at, NULL)) == 1) {
		if (h.base_offset < *next_offset ||
		    kp_batch_last_offset(&h) - seg->base > INT32_MAX) {
			rc = ST_ERR_CORRUPT;
			break;
		}
		if (h.max_timestamp > seg->max_ts) {
			seg->max_ts = h.max_timestamp;
			seg->max_ts_offset = h.base_offset;
		}
		seg->bytes_since_entry += (int64_t)kp_batch_size(&h);
		*next_offset = kp_batch_last_offset(&h) + 1;
	}
	st__scan_free(&sc);
	if (rc == 0)
		seg->max_ts_known = true;
	return rc;
}

/* Rebuilds both indexes from the batch headers of [0, size). */
static int rebuild_locked(st__segment *seg, int fd, int64_t size, int32_t interval)
{
	kp_batch_header h;
	int64_t at, next = seg->base;
	st__scan sc;
	int rc;

	st__index_free(&seg->idx);
	seg->bytes_since_entry = 0;
	seg->max_ts = -1;
	seg->max_ts_offset = seg->base;
	st__scan_init(&sc, fd, 0, size);
	while ((rc = st__scan_next(&sc, false, &h, &at, NULL)) == 1) {
		if (h.base_offset < next || kp_batch_last_offset(&h) - seg->base > INT32_MAX) {
			rc = ST_ERR_CORRUPT;
			break;
		}
		if ((rc = st__segment_index_batch_locked(seg, &h, at, interval)) < 0)
			break;
		next = kp_batch_last_offset(&h) + 1;
	}
	st__scan_free(&sc);
	if (rc < 0) {
		st__index_free(&seg->idx);
		return rc < -1000 && rc > -2000 ? ST_ERR_CORRUPT : rc;
	}
	return st__segment_finish_time_index_locked(seg);
}

/* The last offset entry must name the batch that starts at its position. */
static int check_last_entry(const st__segment *seg, int fd, const st__index *ix)
{
	uint8_t hdr[8];

	if (ix->on == 0)
		return 0;
	const st__oentry *e = &ix->o[ix->on - 1];
	ssize_t n = pread(fd, hdr, sizeof(hdr), e->pos);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(hdr) ||
	    (int64_t)kp_load_be64(hdr) != seg->base + (int64_t)e->rel)
		return ST_ERR_CORRUPT;
	return 0;
}

int st__segment_load_locked(st__segment *seg, int64_t size, bool *rebuilt)
{
	st__index ix;
	int fd, rc;

	if (rebuilt)
		*rebuilt = false;
	if (seg->loaded)
		return 0;
	if ((rc = st__segment_fd_locked(seg, &fd)) < 0)
		return rc;
	/* Unlinked: the names may belong to another segment by now (a
	 * compaction swap reuses the base); rebuild from our own descriptor. */
	rc = seg->index_bad ? ST_ERR_CORRUPT : seg->unlinked ? -ENOENT
	     : st__index_load(&ix, seg->prefix, size);
	if (rc == -ENOENT && size == 0 && !seg->unlinked) {
		/* An empty segment has no entries to lose: a new one gets no
		 * files until something is added (st__segment_open_rw). */
		st__index_init(&ix);
		ix.saved_size = 0;
		rc = 0;
	}
	if (rc == 0 && (rc = check_last_entry(seg, fd, &ix)) < 0)
		st__index_free(&ix);
	if (rc == 0) {
		st__index_free(&seg->idx);
		seg->idx = ix;
		/* Sealed and closed segments end their time index with the max. */
		seg->max_ts = ix.tn ? ix.t[ix.tn - 1].ts : -1;
		seg->max_ts_offset = seg->base + (ix.tn ? ix.t[ix.tn - 1].rel : 0);
		seg->max_ts_known = true;
		seg->loaded = true;
		return 0;
	}
	if (rc != -ENOENT && rc != ST_ERR_CORRUPT)
		return rc;
	if (!seg->unlinked)   /* unlinked: no files to trust, nothing went wrong */
		st__logf(seg->store, ST_LOG_WARN, "%s.index: %s; rebuilding the indexes from the log",
			 seg->prefix, seg->index_bad ? "an entry leads off a batch boundary" :
			 rc == -ENOENT ? "missing" : "corrupt");
	if ((rc = rebuild_locked(seg, fd, size, seg->index_interval)) < 0) {
		if (rc != ST_ERR_CORRUPT)
			return rc;
		/* The log itself is damaged. Without an index lookups scan from
		 * the start: what precedes the damage stays readable and reads
		 * that reach it fail with ST_ERR_CORRUPT. Nothing is deleted:
		 * this is data below the recovery point, not a torn tail. */
		st__logf(seg->store, ST_LOG_ERROR,
			 "%s.log: cannot rebuild its index: %s; serving it without one",
			 seg->prefix, st_strerror(rc));
		st__index_free(&seg->idx);
		seg->max_ts = -1;
		seg->max_ts_offset = seg->base;
		seg->max_ts_known = true;
		seg->loaded = true;
		seg->index_bad = false;
		seg->reported = true;  /* the damage is logged; reads need not repeat it */
		return 0;
	}
	seg->max_ts_known = true;
	seg->loaded = true;
	seg->index_bad = false;
	if (rebuilt)
		*rebuilt = true;
	/* Writing the rebuilt files back is an optimisation; a failure here
	 * (say, a read-only disk) only means the next open rebuilds again.
	 * An unlinked segment writes nothing: its names are not its own. */
	rc = seg->unlinked ? 0 : st__index_save(&seg->idx, seg->prefix, size);
	if (rc < 0)
		st__logf(seg->store, ST_LOG_WARN, "%s.index: cannot write the rebuilt index: %s",
			 seg->prefix, st_strerror(rc));
	return 0;
}

void st__segment_index_suspect_locked(st__segment *seg)
{
	st__index_free(&seg->idx);
	seg->loaded = false;
	seg->max_ts_known = false;
	seg->index_bad = true;
}

int st__segment_max_ts_locked(st__segment *seg, int64_t size)
{
	st__tentry last;

	if (seg->max_ts_known || seg->loaded)
		return 0;
	int rc = st__index_load_last_time(seg->prefix, size, &last);
	if (rc == 1 && (int64_t)last.rel <= size) {
		seg->max_ts = last.ts;
		seg->max_ts_offset = seg->base + last.rel;
		seg->max_ts_known = true;
		return 0;
	}
	if (rc == 0) {
		seg->max_ts = -1;
		seg->max_ts_offset = seg->base;
		seg->max_ts_known = true;
		return 0;
	}
	return st__segment_load_locked(seg, size, NULL);
}
