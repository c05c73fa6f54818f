/*
 * read.c -- reading a log: byte ranges by offset (Fetch) and records by
 * timestamp (ListOffsets).
 *
 * Readers never see past the readable end, so every byte they touch was
 * validated when it was appended (or by recovery) and will not change; a
 * header that does not parse there is corruption after the fact and is
 * reported as ST_ERR_CORRUPT, logged once per segment.
 *
 * A read takes the log lock only to pick a segment and take a reference on
 * it, then looks the position up under the segment's lock (loading a closed
 * segment's index on first use) and scans batch headers with pread(), with
 * no lock held. After the first batch it jumps by the sparse index to the
 * last indexed batch inside the byte budget, so a read costs a header pread
 * at each end rather than one per batch; headers in between are not re-read,
 * so damage done to a sealed file after the fact inside a long read reaches
 * the client (whose CRC check sees it, as with Kafka), while a read that
 * starts at the damage reports ST_ERR_CORRUPT. The returned slice keeps the
 * reference, so the descriptor stays open even if retention unlinks the file
 * meanwhile.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "storage/st_int.h"

/* Headers of a few batches per pread() on the fetch path. */
#define READ_WINDOW ((size_t)8 << 10)

/* Under the log lock: the last segment whose base is <= offset, or -1. */
static ssize_t find_segment_locked(const st_log *log, int64_t offset)
{
	size_t lo = 0, hi = log->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (log->segs[mid]->base <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ssize_t)lo - 1;
}

static int report(st__segment *seg, int rc)
{
	if (rc == ST_ERR_OFFSET_OUT_OF_RANGE)
		return rc;
	if (rc < -1000 && rc > -2000)
		rc = ST_ERR_CORRUPT;
	pthread_mutex_lock(&seg->mu);
	bool first = !seg->reported;
	seg->reported = true;
	pthread_mutex_unlock(&seg->mu);
	if (first)
		st__logf(seg->store, ST_LOG_ERROR, "%s.log: cannot read: %s", seg->prefix,
			 st_strerror(rc));
	return rc;
}

/* The fd and the position to scan from for `offset`, loading the index of
 * a closed segment if needed. */
static int position_for(st__segment *seg, int64_t size, int64_t offset, int *fd, int64_t *pos)
{
	int rc;

	pthread_mutex_lock(&seg->mu);
	if ((rc = st__segment_fd_locked(seg, fd)) == 0 &&
	    (rc = st__segment_load_locked(seg, size, NULL)) == 0) {
		int64_t rel = offset - seg->base;
		if (rel > INT32_MAX)
			rel = INT32_MAX;
		*pos = st__index_lookup(&seg->idx, rel < 0 ? 0 : (uint32_t)rel, NULL);
	}
	pthread_mutex_unlock(&seg->mu);
	return rc;
}

/*
 * After the first batch of a read: skips, by the sparse index, to the last
 * indexed batch that still fits in max_bytes, below the readable position
 * and below offset `limit`, so a large read costs one header pread at each
 * end instead of one per batch. Every batch before an index entry lies
 * wholly before it (entries name batch starts), so the bytes skipped are
 * whole batches with offsets below the entry's. True when it moved the scan.
 */
static bool jump_ahead(st__segment *seg, st__scan *sc, int64_t first, size_t max_bytes,
		       int64_t seg_limit, int64_t limit, size_t *total, int64_t *next_offset)
{
	int64_t pos_max = first + (int64_t)(max_bytes < INT32_MAX ? max_bytes : INT32_MAX);
	int64_t rel_max = limit - seg->base;
	st__oentry e;
	bool found;

	if (pos_max > seg_limit)
		pos_max = seg_limit;
	if (pos_max > UINT32_MAX)
		pos_max = UINT32_MAX;
	if (rel_max > UINT32_MAX)
		rel_max = UINT32_MAX;
	if (rel_max < 0)
		return false;
	pthread_mutex_lock(&seg->mu);
	found = st__index_floor_pos(&seg->idx, (uint32_t)pos_max, (uint32_t)rel_max, &e);
	pthread_mutex_unlock(&seg->mu);
	if (!found || (int64_t)e.pos <= sc->pos)
		return false;
	*total = (size_t)(e.pos - first);
	*next_offset = seg->base + e.rel;
	sc->pos = e.pos;           /* the window refills from there */
	return true;
}

/* Whole batches from the one holding `offset`, below position `seg_limit`
 * and offset `limit`, at most max_bytes after the first. */
static int read_segment(st__segment *seg, int64_t size, int64_t seg_limit, bool sealed,
			int64_t offset, int64_t limit, size_t max_bytes, st_slice *out)
{
	kp_batch_header h;
	int64_t at, pos = 0, first = -1;
	size_t total = 0;
	st__scan sc;
	int fd, rc;

	for (int attempt = 0;; attempt++) {
		if ((rc = position_for(seg, size, offset, &fd, &pos)) < 0)
			return report(seg, rc);
		st__scan_init(&sc, fd, pos, seg_limit);
		sc.window = READ_WINDOW;
		bool at_entry = pos > 0;
		while ((rc = st__scan_next(&sc, false, &h, &at, NULL)) == 1) {
			int64_t last = kp_batch_last_offset(&h);
			size_t bsize = kp_batch_size(&h);
			/* The entry we started from named a later batch than the
			 * one holding `offset`: the index is wrong. */
			if (at_entry && h.base_offset > offset) {
				rc = ST_ERR_CORRUPT;
				break;
			}
			at_entry = false;
			if (last < offset)
				continue;
			if (last >= limit)
				break;
			/* The empty batch that closes a cleaned segment (no records,
			 * no producer; cleaner_pass.c) is not worth a response of
			 * its own: some clients (kafka-python 2.0.2) fail on a
			 * partition whose records hold no record. Start at the
			 * next segment instead. */
			if (first < 0 && h.records_count == 0 && h.producer_id < 0 &&
			    at + (int64_t)bsize == seg_limit && sealed)
				continue;
			if (first < 0) {
				first = at;
				out->first_offset = h.base_offset;
				total = bsize;
				out->next_offset = last + 1;
				if (jump_ahead(seg, &sc, first, max_bytes, seg_limit, limit,
					       &total, &out->next_offset))
					continue;
			} else if (total + bsize > max_bytes) {
				break;
			} else {
				total += bsize;
			}
			out->next_offset = last + 1;
		}
		st__scan_free(&sc);
		/* Bytes that do not parse after whole batches were found: hand
		 * out those; the next read starts at the damage and reports it. */
		if (rc < 0 && first >= 0)
			rc = 0;
		if (rc < 0 && pos > 0 && first < 0 && sealed && attempt == 0) {
			/* The next load says so, once, and rebuilds. */
			pthread_mutex_lock(&seg->mu);
			st__segment_index_suspect_locked(seg);
			pthread_mutex_unlock(&seg->mu);
			continue;
		}
		break;
	}
	if (rc < 0)
		return report(seg, rc);
	if (first >= 0) {
		out->fd = fd;
		out->file_pos = first;
		out->len = total;
		out->priv_file = seg;
	}
	return 0;
}

int st_log_read(st_log *log, int64_t offset, size_t max_bytes, int64_t upper, st_slice *out)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->first_offset = out->next_offset = offset;
	pthread_mutex_lock(&log->mu);
	if (offset < log->start_offset || offset > log->end_offset) {
		pthread_mutex_unlock(&log->mu);
		return ST_ERR_OFFSET_OUT_OF_RANGE;
	}
	int64_t limit = log->readable_end;
	if (upper >= 0 && upper < limit)
		limit = upper;
	ssize_t i = find_segment_locked(log, offset);
	if (offset >= limit || i < 0) {
		pthread_mutex_unlock(&log->mu);
		return i < 0 ? ST_ERR_OFFSET_OUT_OF_RANGE : 0;
	}
	for (;;) {
		st__segment *seg = log->segs[i];
		int64_t size = seg->size, seg_limit = seg->readable;
		bool sealed = seg->sealed;
		bool more = (size_t)i + 1 < log->nsegs && log->segs[i + 1]->base < limit;
		st__segment_ref(seg);
		pthread_mutex_unlock(&log->mu);

		rc = read_segment(seg, size, seg_limit, sealed, offset, limit, max_bytes, out);
		if (rc < 0 || out->len > 0 || !more) {
			if (out->len == 0)
				st__segment_unref(seg);
			return rc;
		}
		/* Nothing at or after `offset` in this segment (it may be empty):
		 * the next one starts above it. */
		pthread_mutex_lock(&log->mu);
		i = find_segment_locked(log, seg->base) + 1;
		st__segment_unref(seg);
		if (i <= 0 || (size_t)i >= log->nsegs || log->segs[i]->base >= limit) {
			pthread_mutex_unlock(&log->mu);
			return 0;
		}
	}
}

void st_slice_release(st_slice *s)
{
	if (s->priv_file)
		st__segment_unref(s->priv_file);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/* ------------------------------------------------------------ timestamps */

/* A snapshot of the segment list with references, for lookups that do I/O
 * outside the log lock. */
typedef struct snap {
	st__segment **segs;
	int64_t *size, *readable;
	size_t n;
	int64_t start, readable_end;
} snap;

static int snap_take(st_log *log, snap *sn)
{
	memset(sn, 0, sizeof(*sn));
	pthread_mutex_lock(&log->mu);
	size_t n = log->nsegs;
	sn->segs = malloc(n * sizeof(*sn->segs));
	sn->size = malloc(n * sizeof(*sn->size));
	sn->readable = malloc(n * sizeof(*sn->readable));
	if (!sn->segs || !sn->size || !sn->readable) {
		pthread_mutex_unlock(&log->mu);
		free(sn->segs);
		free(sn->size);
		free(sn->readable);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		sn->segs[i] = log->segs[i];
		sn->size[i] = log->segs[i]->size;
		sn->readable[i] = log->segs[i]->readable;
		st__segment_ref(log->segs[i]);
	}
	sn->n = n;
	sn->start = log->start_offset;
	sn->readable_end = log->readable_end;
	pthread_mutex_unlock(&log->mu);
	return 0;
}

static void snap_free(snap *sn)
{
	for (size_t i = 0; i < sn->n; i++)
		st__segment_unref(sn->segs[i]);
	free(sn->segs);
	free(sn->size);
	free(sn->readable);
}

/* True when segment i holds no offset at or above the log start. */
static bool below_start(const snap *sn, size_t i)
{
	return i + 1 < sn->n && sn->segs[i + 1]->base <= sn->start;
}

/*
 * Scans the readable batches of segment i from position pos for the first
 * record with timestamp >= ts (want_exact: == ts) at or above the log
 * start. 1 and *offset and *timestamp set, 0 if none, or an error.
 */
static int scan_records(const snap *sn, size_t i, int fd, int64_t pos, int64_t ts,
			bool want_exact, int64_t batch_offset, int64_t *offset, int64_t *timestamp)
{
	kp_batch_header h;
	const uint8_t *bytes;
	int64_t at;
	st__scan sc;
	int rc;

	st__scan_init(&sc, fd, pos, sn->readable[i]);
	while ((rc = st__scan_next(&sc, true, &h, &at, &bytes)) == 1) {
		if (kp_batch_last_offset(&h) < sn->start || h.max_timestamp < ts)
			continue;
		if (batch_offset >= 0 && h.base_offset != batch_offset)
			continue;
		kp_record_iter it;
		kp_record rec;
		int found = 0;
		/* A batch that will not decode (a client compressed garbage under a
		 * valid CRC) holds no record we can name; skip it as Kafka's
		 * clients would fail on it anyway. */
		if (kp_record_iter_init(&it, bytes, kp_batch_size(&h), ST__MAX_INFLATE) == 0) {
			while (kp_record_iter_next(&it, &rec) == 1) {
				if (rec.offset < sn->start || rec.offset >= sn->readable_end)
					continue;
				if (want_exact ? rec.timestamp == ts : rec.timestamp >= ts) {
					*offset = rec.offset;
					*timestamp = rec.timestamp;
					found = 1;
					break;
				}
			}
			kp_record_iter_free(&it);
		}
		if (found) {
			st__scan_free(&sc);
			return 1;
		}
	}
	st__scan_free(&sc);
	return rc;
}

int st_log_offset_for_timestamp(st_log *log, int64_t ts, int64_t *offset, int64_t *timestamp)
{
	snap sn;
	int rc = snap_take(log, &sn);

	if (rc < 0)
		return rc;
	rc = ST_ERR_NOT_FOUND;
	for (size_t i = 0; i < sn.n; i++) {
		st__segment *seg = sn.segs[i];
		if (below_start(&sn, i) || sn.readable[i] == 0)
			continue;
		int fd, mrc;
		int64_t pos = 0;
		uint32_t rel;
		pthread_mutex_lock(&seg->mu);
		mrc = st__segment_max_ts_locked(seg, sn.size[i]);
		bool skip = mrc == 0 && seg->max_ts < ts;
		if (mrc == 0 && !skip && (mrc = st__segment_fd_locked(seg, &fd)) == 0 &&
		    (mrc = st__segment_load_locked(seg, sn.size[i], NULL)) == 0 &&
		    st__index_lookup_time(&seg->idx, ts, &rel))
			pos = st__index_lookup(&seg->idx, rel, NULL);
		pthread_mutex_unlock(&seg->mu);
		if (mrc < 0) {
			rc = report(seg, mrc);
			break;
		}
		if (skip)
			continue;
		int src = scan_records(&sn, i, fd, pos, ts, false, -1, offset, timestamp);
		if (src == 1) {
			rc = 0;
			break;
		}
		if (src < 0) {
			rc = report(seg, src);
			break;
		}
	}
	snap_free(&sn);
	return rc;
}

/* The largest batch maxTimestamp among the readable batches of a segment
 * that is only partly readable (the active one, mid-append). */
static int readable_max(const snap *sn, size_t i, int fd, int64_t *mts, int64_t *moff)
{
	kp_batch_header h;
	int64_t at;
	st__scan sc;
	int rc;

	*mts = -1;
	st__scan_init(&sc, fd, 0, sn->readable[i]);
	while ((rc = st__scan_next(&sc, false, &h, &at, NULL)) == 1) {
		if (h.max_timestamp > *mts) {
			*mts = h.max_timestamp;
			*moff = h.base_offset;
		}
	}
	st__scan_free(&sc);
	return rc;
}

int st_log_max_timestamp(st_log *log, int64_t *offset, int64_t *timestamp)
{
	snap sn;
	int rc = snap_take(log, &sn);
	int64_t best_ts = -1, best_off = -1;
	size_t best = 0;

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < sn.n; i++) {
		st__segment *seg = sn.segs[i];
		int64_t mts = -1, moff = -1;
		int fd = -1;
		if (below_start(&sn, i) || sn.readable[i] == 0)
			continue;
		pthread_mutex_lock(&seg->mu);
		rc = st__segment_max_ts_locked(seg, sn.size[i]);
		mts = seg->max_ts;
		moff = seg->max_ts_offset;
		if (rc == 0 && sn.readable[i] < sn.size[i] && moff >= sn.readable_end)
			rc = st__segment_fd_locked(seg, &fd);
		pthread_mutex_unlock(&seg->mu);
		if (rc == 0 && fd >= 0)
			rc = readable_max(&sn, i, fd, &mts, &moff);
		if (rc < 0) {
			rc = report(seg, rc);
			goto out;
		}
		if (mts > best_ts) {
			best_ts = mts;
			best_off = moff;
			best = i;
		}
	}
	rc = ST_ERR_NOT_FOUND;
	if (best_ts < 0)
		goto out;
	/* The first record of that batch carrying the timestamp. */
	st__segment *seg = sn.segs[best];
	int fd;
	int64_t pos = 0;
	pthread_mutex_lock(&seg->mu);
	rc = st__segment_fd_locked(seg, &fd);
	if (rc == 0 && (rc = st__segment_load_locked(seg, sn.size[best], NULL)) == 0)
		pos = st__index_lookup(&seg->idx, (uint32_t)(best_off - seg->base), NULL);
	pthread_mutex_unlock(&seg->mu);
	if (rc == 0)
		rc = scan_records(&sn, best, fd, pos, best_ts, true, best_off, offset, timestamp);
	if (rc == 0) {
		/* Records below the log start only: name the batch. */
		*offset = best_off > sn.start ? best_off : sn.start;
		*timestamp = best_ts;
	} else if (rc == 1) {
		rc = 0;
	} else {
		rc = report(seg, rc);
	}
out:
	snap_free(&sn);
	return rc;
}
