/*
 * cleaner_pass.c -- one compaction pass over one log, and the crash-safe
 * swap of its output.
 *
 * A pass (st_log_clean):
 *
 *   1. Plan. Under the log lock it takes references on the closed, sealed
 *      segments at the head of the list (synced, indexes written, below the
 *      recovery point) -- never the active one nor a rolled one the writer
 *      has not sealed. The cleanable range ends at the first of them that
 *      holds a record younger than min.compaction.lag.ms. The dirty section
 *      starts at the log's first dirty offset (the cleaner checkpoint).
 *   2. Map. It reads the dirty section, batch by batch (CRC-checked), and
 *      records each key's latest offset (cleaner_map.c). A map that fills
 *      up ends the mapped range at a batch boundary (map_end); the rest
 *      waits for the next pass. When a key's offset moves on, the old one
 *      is noted in the superseded bits (a bit per dirty offset), so the
 *      rewrite drops dirty records without hashing their keys again.
 *   3. Rewrite. Every closed segment from the log start to map_end is
 *      rewritten, neighbours merged while their sizes add up to at most
 *      segment.bytes (and their offsets fit the index's int32): a record is
 *      dropped when its key has a later offset in the map, or when it is a
 *      tombstone whose delete horizon has passed. Everything else of a
 *      batch is kept: its base offset and lastOffsetDelta (so a producer's
 *      last sequence survives), record offsets and timestamps, headers,
 *      producer id, epoch and base sequence, leader epoch, codec. A batch
 *      that loses nothing is copied byte for byte; one that loses records
 *      gets a new header and the records it keeps copied byte for byte
 *      (their bytes hold only deltas against baseOffset and baseTimestamp,
 *      which stay), recompressed with its own codec; one that loses
 *      them all goes, unless it is its producer's latest batch, which stays
 *      as an empty batch (a header with no records, as Kafka writes it) so
 *      the idempotence state rebuilt from the log (producer.c) survives.
 *      Control batches are kept as they are. Batches at or after map_end
 *      are copied. A group's output ends at E - 1 like the old segments
 *      (an empty batch there when its last records went), because
 *      recovery reads a gap between segments as a lost tail.
 *   4. Swap, per merged group (below).
 *
 * Tombstones (KIP-534). The first pass that keeps a tombstone stamps its
 * batch with a delete horizon = now + delete.retention.ms: attribute bit 6
 * set and the horizon in baseTimestamp (record timestamp deltas are
 * re-based on it, so record timestamps do not change: such a batch's
 * records are re-encoded, their key, value and headers bytes copied). A later pass drops
 * the tombstone once now >= the horizon. The horizon lives in the batch, so
 * it survives restarts and a lost cleaner checkpoint.
 *
 * On-disk protocol of a swap, in the partition directory, for a group of
 * old segments with bases B = b0 < b1 < ... and end E (the base of the
 * segment after the group):
 *
 *   <B>.cleaned.log, <B>.cleaned.index, <B>.cleaned.timeindex
 *        the new segment, written and fsynced; no other file changed yet.
 *   <B>.swap   the commit record, written atomically (temporary file,
 *        fsync, rename, directory fsync) once the .cleaned files are
 *        durable. One text line:
 *            "rewind-swap 1 <B> <E> <xxh64 of the preceding text, hex>\n"
 *   then: each .cleaned file is renamed over its live name, the files of
 *        the other old segments (bases in (B, E)) are unlinked, the
 *        directory fsynced, and <B>.swap removed (and the directory
 *        fsynced again, so a stale record can never meet later segments).
 *
 * Recovery at open (st__cleaner_recover, before segments are listed): a
 * valid <B>.swap means the new segment is complete: rename whatever .cleaned
 * files are left into place, unlink every segment with a base in (B, E),
 * remove the record. Without one, .cleaned files are an uncommitted pass:
 * removed, the old segments were never touched. A kill at any moment thus
 * leaves the old segments or the new one, never a mix, never a loss.
 *
 * Before a commit the pass rewrites the recovery-point file (it is at or
 * past E in memory, since the group was sealed), so recovery, which checks
 * contiguous offsets only from the recovery point on, trusts the cleaned
 * segment rather than scanning it. (Once a pass: the value it wrote is past
 * every group it has, and the file never goes back below it.)
 *
 * In-memory swap. Under meta_mu (which serializes it with retention and
 * DeleteRecords, the only other changers of the head of the list) the pass
 * checks the group is still in the list, gives every old segment object an
 * open descriptor and a loaded index and marks it unlinked -- so a reader
 * still holding one keeps reading the old bytes and nothing reopens or
 * rewrites files by the old names -- then renames, and replaces the old
 * objects by the new one under the log lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "storage/st_int.h"

/* Kafka's attribute bit 6: baseTimestamp holds the delete horizon. */
#define ATTR_DELETE_HORIZON 0x40
/* Output is written in chunks of about this size. */
#define WRITE_CHUNK ((size_t)1 << 20)
/* Progress is reported every this many bytes. */
#define PROGRESS_STEP ((int64_t)256 << 10)
#define SWAP_MAGIC "rewind-swap 1"

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --------------------------------------------------------------- plan */

typedef struct plast {
	int64_t last_offset;          /* a producer's latest batch's last offset */
	int64_t producer_id;
} plast;

typedef struct plan {
	st__segment **segs;           /* closed, sealed head of the list; refs */
	int64_t *size;
	int64_t *end;                 /* end[i]: base of the next segment */
	int64_t *max_ts;              /* -1 unknown/none */
	size_t n;
	int64_t start_offset, first_dirty, cleanable_end, rp;
	int64_t active_size, active_created_ms;
	st_log_config cfg;
	plast *pl;                    /* sorted by last_offset */
	size_t npl;
} plan;

static void plan_free(plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		st__segment_unref(p->segs[i]);
	free(p->segs);
	free(p->size);
	free(p->end);
	free(p->max_ts);
	free(p->pl);
	memset(p, 0, sizeof(*p));
}

static int cmp_plast(const void *a, const void *b)
{
	const plast *x = a, *y = b;
	return x->last_offset < y->last_offset ? -1 : x->last_offset > y->last_offset;
}

/* Takes the closed segments, and (with producers) the last batch of every
 * producer, under the log lock; then finds the cleanable end. */
static int plan_take(st_log *log, int64_t now_ms, bool producers, plan *p)
{
	int rc = 0;

	memset(p, 0, sizeof(*p));
	pthread_mutex_lock(&log->mu);
	size_t n = log->nsegs;
	p->segs = malloc(n * sizeof(*p->segs));
	p->size = malloc(n * sizeof(*p->size));
	p->end = malloc(n * sizeof(*p->end));
	p->max_ts = malloc(n * sizeof(*p->max_ts));
	if (producers && log->producers.n > 0)
		p->pl = malloc(log->producers.n * sizeof(*p->pl));
	if (!p->segs || !p->size || !p->end || !p->max_ts ||
	    (producers && log->producers.n > 0 && !p->pl)) {
		pthread_mutex_unlock(&log->mu);
		plan_free(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i + 1 < n && log->segs[i]->sealed; i++) {
		p->segs[p->n] = log->segs[i];
		p->size[p->n] = log->segs[i]->size;
		p->end[p->n] = log->segs[i + 1]->base;
		p->max_ts[p->n] = -1;
		st__segment_ref(log->segs[p->n++]);
	}
	for (size_t i = 0; producers && i < log->producers.cap; i++) {
		const st_producer *e = &log->producers.slots[i];
		if (e->producer_id < 0 || e->n_batches < 1)
			continue;
		p->pl[p->npl++] = (plast){ e->batches[e->n_batches - 1].last_offset, e->producer_id };
	}
	p->start_offset = log->start_offset;
	p->rp = log->recovery_point;
	p->active_size = log->segs[n - 1]->size;
	p->active_created_ms = log->segs[n - 1]->created_ms;
	p->cfg = log->cfg;
	int64_t first = log->clean_offset;
	pthread_mutex_unlock(&log->mu);
	if (p->npl > 1)
		qsort(p->pl, p->npl, sizeof(*p->pl), cmp_plast);

	int64_t closed_end = p->n ? p->end[p->n - 1] : p->start_offset;
	if (first < p->start_offset)
		first = p->start_offset;
	if (p->n && first < p->segs[0]->base)
		first = p->segs[0]->base;
	if (first > closed_end)
		first = closed_end;
	p->first_dirty = first;
	p->cleanable_end = closed_end;
	/* Segment ages matter only with a lag; without one this stays free of
	 * I/O (DescribeLogDirs asks on a reactor). */
	bool ages = p->cfg.min_compaction_lag_ms > 0 || p->cfg.max_compaction_lag_ms < INT64_MAX;
	for (size_t i = 0; ages && i < p->n; i++) {
		if (p->end[i] <= first)
			continue;
		st__segment *seg = p->segs[i];
		pthread_mutex_lock(&seg->mu);
		rc = st__segment_max_ts_locked(seg, p->size[i]);
		p->max_ts[i] = seg->max_ts;
		pthread_mutex_unlock(&seg->mu);
		if (rc < 0)
			break;
		if (p->cfg.min_compaction_lag_ms > 0 && p->max_ts[i] >= 0 &&
		    now_ms - p->max_ts[i] < p->cfg.min_compaction_lag_ms) {
			p->cleanable_end = seg->base > first ? seg->base : first;
			break;
		}
	}
	if (rc < 0)
		plan_free(p);
	return rc;
}

int st_log_clean_info_get(st_log *log, int64_t now_ms, st_log_clean_info *out)
{
	plan p;
	int rc = plan_take(log, now_ms, false, &p);

	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return rc;
	out->compact = p.cfg.compact;
	out->first_dirty = p.first_dirty;
	out->cleanable_end = p.cleanable_end;
	for (size_t i = 0; i < p.n; i++) {
		if (p.end[i] <= p.first_dirty) {
			out->clean_bytes += p.size[i];
		} else if (p.segs[i]->base < p.cleanable_end) {
			if (out->dirty_bytes == 0 && p.cfg.max_compaction_lag_ms < INT64_MAX &&
			    p.max_ts[i] >= 0 && now_ms - p.max_ts[i] > p.cfg.max_compaction_lag_ms)
				out->overdue = true;
			out->dirty_bytes += p.size[i];
		}
	}
	int64_t total = out->clean_bytes + out->dirty_bytes;
	out->dirty_ratio = total > 0 ? (double)out->dirty_bytes / (double)total : 0;
	/* Kafka rolls a segment whose records passed max.compaction.lag.ms;
	 * rewind's appends roll by size and segment.ms only, so the cleaner
	 * asks for it. */
	out->roll_due = out->compact && p.cfg.max_compaction_lag_ms < INT64_MAX &&
			p.active_size > 0 && now_ms - p.active_created_ms > p.cfg.max_compaction_lag_ms;
	out->due = out->compact && out->dirty_bytes > 0 &&
		   (out->dirty_ratio >= p.cfg.min_cleanable_dirty_ratio || out->overdue);
	plan_free(&p);
	return 0;
}

/* ------------------------------------------------------------ helpers */

/*
 * One record of a batch as the cleaner sees it: views into the batch bytes
 * (codec none) or the pass's inflate buffer. `raw` spans the whole record,
 * from its length varint, so a kept record is copied as it was; `tail` is
 * the part from the key on (key, value, headers), which is all a record
 * re-based on a new baseTimestamp keeps verbatim.
 */
typedef struct crec {
	const uint8_t *raw, *tail, *key;
	uint32_t raw_len, tail_len;
	int32_t key_len;              /* -1: null key */
	int32_t off_delta;
	int64_t ts_delta;
	bool tombstone;               /* a key with a null value */
} crec;

typedef struct pass {
	st_log *log;
	const st_clean_options *o;
	st_clean_result *res;
	plan p;
	st__omap map;
	int64_t map_end;
	int64_t now_ms;
	int64_t horizon;              /* the delete horizon stamped this pass */
	int64_t unreported;           /* bytes not yet passed to progress() */
	crec *recs_v;                 /* a batch's records */
	st__omap_hash *hashes;        /* and their keys' hashes */
	uint32_t *kept;               /* indexes into recs_v of those kept */
	uint8_t *sup;                 /* NULL, or a bit per offset of [first_dirty,
	                                 map_end): set when the map saw a later
	                                 record of the same key (see map_build) */
	size_t caprecs;
	kp_buf inflated;              /* scratch: a compressed batch's records */
	kp_buf recs;                  /* scratch: a rebuilt batch's records */
	int64_t rp_durable;           /* recovery point this pass wrote, or -1 */
} pass;

/* Reports bytes; false when the callback abandons the pass. */
static bool progress(pass *ps, int64_t bytes, bool flush)
{
	ps->unreported += bytes;
	if (!ps->o->progress || (!flush && ps->unreported < PROGRESS_STEP))
		return true;
	int64_t b = ps->unreported;
	ps->unreported = 0;
	return ps->o->progress(ps->o->progress_arg, b);
}

static int seg_fd(st__segment *seg, int *fd)
{
	pthread_mutex_lock(&seg->mu);
	int rc = st__segment_fd_locked(seg, fd);
	pthread_mutex_unlock(&seg->mu);
	/* Retention or DeleteRecords unlinked it before anyone opened it: as
	 * when the swap finds segments gone, the pass is moot, nothing failed. */
	return rc == ST_ERR_OFFSET_OUT_OF_RANGE ? ST_ERR_BUSY : rc;
}

static int write_all_at(int fd, const uint8_t *p, size_t len, int64_t pos)
{
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, (off_t)pos);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
		pos += w;
	}
	return 0;
}

/* ------------------------------------------------------------ the map */

/*
 * Splits the records part [p, end) of h's batch into ps->recs_v, checking
 * what kp_record_iter_next() checks (every length inside its record, the
 * headers well-formed, nothing left over, exactly recordsCount records) and
 * that every offset lies in the batch's range.
 * 0 or KP_ERR_CORRUPT.
 */
static int records_split(pass *ps, const uint8_t *p, const uint8_t *end,
			 const kp_batch_header *h)
{
	int32_t count = h->records_count;

	for (int32_t n = 0; n < count; n++) {
		crec *r = &ps->recs_v[n];
		const uint8_t *at, *v;
		int32_t len, vlen, nh;

		r->raw = p;
		if (!kp_varint_take(&p, end, &len) || len < 0 || (size_t)len > (size_t)(end - p))
			return KP_ERR_CORRUPT;
		const uint8_t *rend = p + len;
		if (p == rend)
			return KP_ERR_CORRUPT;             /* no attributes byte */
		p++;                                       /* attributes: unused */
		if (!kp_varlong_take(&p, rend, &r->ts_delta) ||
		    !kp_varint_take(&p, rend, &r->off_delta))
			return KP_ERR_CORRUPT;
		/* A record outside its batch's offset range would be mapped
		 * beyond what the pass planned for. */
		if (r->off_delta < 0 || r->off_delta > h->last_offset_delta)
			return KP_ERR_CORRUPT;
		r->tail = p;
		if (!kp_sized_take(&p, rend, true, &at, &r->key_len) ||
		    !kp_sized_take(&p, rend, true, &v, &vlen) || !kp_varint_take(&p, rend, &nh) || nh < 0)
			return KP_ERR_CORRUPT;
		r->key = r->key_len >= 0 ? at : NULL;
		r->tombstone = r->key && vlen == -1;
		for (int32_t i = 0; i < nh; i++) {
			/* Header keys are non-null strings; values may be null. */
			if (!kp_sized_take(&p, rend, false, &at, &len) ||
			    !kp_sized_take(&p, rend, true, &at, &len))
				return KP_ERR_CORRUPT;
		}
		if (p != rend)
			return KP_ERR_CORRUPT;
		r->raw_len = (uint32_t)(rend - r->raw);
		r->tail_len = (uint32_t)(rend - r->tail);
	}
	return p == end ? 0 : KP_ERR_CORRUPT;
}

/* A record's offset: baseOffset + offsetDelta, wrapping like proto's. */
static inline int64_t rec_offset(const kp_batch_header *h, const crec *r)
{
	return (int64_t)((uint64_t)h->base_offset + (uint64_t)(int64_t)r->off_delta);
}

/* Whether the superseded bits answer for the record at `off` (else the
 * rewrite looks its key up in the map). */
static inline bool sup_covers(const pass *ps, int64_t off)
{
	return ps->sup && off >= ps->p.first_dirty && off < ps->map_end;
}

/*
 * Splits every record of a validated batch into ps->recs_v (decompressing
 * into ps->inflated first) and hashes the keys into ps->hashes, prefetching
 * their slots -- all keys when `all`, else only those the rewrite must look
 * up (!sup_covers). The number of records, or a kp_err / -ENOMEM. Views
 * stay valid until the next call.
 */
static int batch_records(pass *ps, const uint8_t *b, size_t size, const kp_batch_header *h,
			 bool all)
{
	const uint8_t *p = b + KP_BATCH_HEADER_SIZE, *end = b + size;
	int codec = kp_batch_codec(h);
	int rc;

	if (codec != KP_CODEC_NONE) {
		if (kp_codec_name(codec) == NULL)
			return KP_ERR_CODEC;
		kp_buf_reset(&ps->inflated);
		if ((rc = kp_decompress(codec, p, (size_t)(end - p), ST__MAX_INFLATE,
					&ps->inflated)) < 0)
			return rc == KP_ERR_NOMEM ? -ENOMEM : rc;
		p = ps->inflated.len ? ps->inflated.data : p;
		end = p + ps->inflated.len;
	}
	/* Each record takes at least 7 bytes (length, attributes, four
	 * varints): a count beyond that is a lie, not a reason to allocate. */
	if ((size_t)h->records_count > (size_t)(end - p) / 7 + 1)
		return KP_ERR_CORRUPT;
	if ((size_t)h->records_count > ps->caprecs) {
		size_t ncap = (size_t)h->records_count;
		crec *nr = realloc(ps->recs_v, ncap * sizeof(*nr));
		if (nr)
			ps->recs_v = nr;
		st__omap_hash *nh = realloc(ps->hashes, ncap * sizeof(*nh));
		if (nh)
			ps->hashes = nh;
		uint32_t *nk = realloc(ps->kept, ncap * sizeof(*nk));
		if (nk)
			ps->kept = nk;
		if (!nr || !nh || !nk)
			return -ENOMEM;
		ps->caprecs = ncap;
	}
	if ((rc = records_split(ps, p, end, h)) < 0)
		return rc;
	for (int32_t n = 0; n < h->records_count; n++) {
		const crec *r = &ps->recs_v[n];
		if (r->key && (all || !sup_covers(ps, rec_offset(h, r)))) {
			st__omap_hash_key(&ps->map, r->key, (size_t)r->key_len, &ps->hashes[n]);
			st__omap_prefetch(&ps->map, &ps->hashes[n]);
		}
	}
	return h->records_count;
}

/* Maps the dirty section; sets ps->map_end. */
static int map_build(pass *ps)
{
	plan *p = &ps->p;
	int rc = 0;

	st__omap_reset(&ps->map, p->first_dirty);
	ps->map_end = p->cleanable_end;
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		st__segment *seg = p->segs[i];
		kp_batch_header h;
		const uint8_t *bytes;
		int64_t at;
		st__scan sc;
		int fd;

		if (p->end[i] <= p->first_dirty)
			continue;
		if (seg->base >= p->cleanable_end)
			break;
		if ((rc = seg_fd(seg, &fd)) < 0)
			break;
		st__scan_init(&sc, fd, 0, p->size[i]);
		while ((rc = st__scan_next(&sc, true, &h, &at, &bytes)) == 1) {
			int64_t last = kp_batch_last_offset(&h);
			if (last < p->first_dirty)
				continue;
			if (h.base_offset >= p->cleanable_end) {
				rc = 0;
				break;
			}
			if (!progress(ps, (int64_t)kp_batch_size(&h), false)) {
				rc = ST_ERR_CLOSING;
				break;
			}
			if (h.attributes & KP_ATTR_CONTROL)
				continue;
			if (!st__omap_room(&ps->map, (size_t)h.records_count) ||
			    last - p->first_dirty >= (int64_t)ST__OMAP_COLLIDED - 1) {
				ps->map_end = h.base_offset > p->first_dirty ? h.base_offset : p->first_dirty;
				rc = 2;
				break;
			}
			int irc = batch_records(ps, bytes, kp_batch_size(&h), &h, true);
			for (int r = 0; r < irc; r++) {
				int64_t off = rec_offset(&h, &ps->recs_v[r]);
				if (!ps->recs_v[r].key || off < p->first_dirty)
					continue;
				/* The key's previous record is superseded now: note it,
				 * so the rewrite need not look this record up again. A
				 * tag whose check differs notes nothing (-1): the put
				 * marks it collided and the rewrite keeps its records,
				 * as lookups would. */
				int64_t prev = st__omap_put_hashed(&ps->map, &ps->hashes[r], off);
				if (ps->sup && prev >= 0 && prev < off) {
					uint64_t bit = (uint64_t)(prev - p->first_dirty);
					ps->sup[bit >> 3] |= (uint8_t)(1u << (bit & 7));
				}
			}
			if (irc == -ENOMEM) {
				rc = irc;
				break;
			}
			/* A batch that does not decode (garbage compressed under a
			 * valid CRC) maps nothing; the rewrite keeps it whole. */
			if (irc < 0)
				st__logf(ps->log->store, ST_LOG_WARN,
					 "%s.log: batch at offset %" PRId64 " does not decode (%s); "
					 "compaction keeps it as it is", seg->prefix, h.base_offset,
					 st_strerror(irc));
			ps->res->bytes_read += (int64_t)kp_batch_size(&h);
		}
		st__scan_free(&sc);
		if (rc < 0 && rc != ST_ERR_CLOSING) {
			st__logf(ps->log->store, ST_LOG_ERROR, "%s.log: cannot read for compaction: %s",
				 seg->prefix, st_strerror(rc));
			if (rc < -1000 && rc > -2000)
				rc = ST_ERR_CORRUPT;
		}
	}
	if (rc == 2)
		rc = 0;
	ps->res->first_dirty = p->first_dirty;
	ps->res->map_end = ps->map_end;
	ps->res->map_keys = (int64_t)ps->map.n;
	ps->res->map_bytes = st__omap_bytes(&ps->map);
	ps->res->map_collisions = ps->map.collisions;
	return rc;
}

/* -------------------------------------------------------- the rewrite */

static bool producer_last(const pass *ps, const kp_batch_header *h)
{
	if (h->producer_id < 0 || ps->p.npl == 0)
		return false;
	plast key = { kp_batch_last_offset(h), h->producer_id };
	const plast *f = bsearch(&key, ps->p.pl, ps->p.npl, sizeof(key), cmp_plast);
	return f && f->producer_id == h->producer_id;
}

/* Appends a batch header for h's batch with new fields; the records part
 * (records_len bytes) follows. */
static void put_header(kp_buf *out, const kp_batch_header *h, int16_t attrs, int64_t base_ts,
		       int64_t max_ts, int32_t count)
{
	kp_buf_put_i64(out, h->base_offset);
	kp_buf_put_i32(out, 0);                        /* batchLength, set after */
	kp_buf_put_i32(out, h->partition_leader_epoch);
	kp_buf_put_i8(out, 2);
	kp_buf_put_i32(out, 0);                        /* crc, set after */
	kp_buf_put_i16(out, attrs);
	kp_buf_put_i32(out, h->last_offset_delta);
	kp_buf_put_i64(out, base_ts);
	kp_buf_put_i64(out, max_ts);
	kp_buf_put_i64(out, h->producer_id);
	kp_buf_put_i16(out, h->producer_epoch);
	kp_buf_put_i32(out, h->base_sequence);
	kp_buf_put_i32(out, count);
}

static int finish_batch(kp_buf *out, size_t start)
{
	if (out->err)
		return out->err;
	size_t length = out->len - start - KP_BATCH_LOG_OVERHEAD;
	if (length > INT32_MAX)
		return KP_ERR_OVERFLOW;
	kp_store_be32(out->data + start + KP_BATCH_OFF_LENGTH, (uint32_t)length);
	kp_batch_update_crc(out->data + start, out->len - start);
	return 0;
}

/*
 * Appends the batch that ends a cleaned segment at its old end: an empty
 * batch (no records, no producer) at offset `last`, the last offset the old
 * segments held. Without it a segment whose last records were cleaned away
 * would end before the next segment starts, and recovery could not tell
 * that gap from a tail a crash took (it drops everything after such a
 * gap). Kafka's cleaner writes empty batches too; clients read past them.
 */
static int put_end_batch(kp_buf *out, int64_t last, int32_t leader_epoch)
{
	kp_batch_header h = {
		.base_offset = last,
		.partition_leader_epoch = leader_epoch,
		.last_offset_delta = 0,
		.producer_id = -1,
		.producer_epoch = -1,
		.base_sequence = -1,
	};
	size_t start = out->len;

	put_header(out, &h, 0, -1, -1, 0);
	return finish_batch(out, start);
}

/*
 * Appends kept record r as it was, or -- when its batch gets a new
 * baseTimestamp (a delete horizon stamped this pass) -- with its timestamp
 * delta re-based so the record's timestamp stays `ts` (LogAppendTime
 * batches read every timestamp from maxTimestamp: their deltas are 0).
 * Only the length, attributes and two deltas are written anew; key, value
 * and headers are the record's own bytes.
 */
static int put_record(kp_buf *out, const crec *r, bool rebase, int64_t delta)
{
	if (!rebase) {
		kp_buf_put(out, r->raw, r->raw_len);
		return 0;
	}
	size_t body = 1 + kp_varlong_size(delta) + kp_varint_size(r->off_delta) + r->tail_len;
	if (body > INT32_MAX)
		return KP_ERR_OVERFLOW;
	const uint8_t *attrs = r->raw;
	int32_t old_len;
	(void)kp_varint_take(&attrs, r->raw + r->raw_len, &old_len);  /* parsed before */
	kp_buf_put_varint(out, (int32_t)body);
	kp_buf_put(out, attrs, 1);
	kp_buf_put_varlong(out, delta);
	kp_buf_put_varint(out, r->off_delta);
	kp_buf_put(out, r->tail, r->tail_len);
	return 0;
}

/*
 * Decides one batch and appends what stays of it to out (nothing, the
 * batch as it was, an empty batch, or the batch rebuilt with the records it
 * keeps). A rebuilt batch keeps baseOffset and, unless a delete horizon is
 * stamped now, baseTimestamp: its records' bytes hold only deltas against
 * those, so the records it keeps are copied byte for byte and only the
 * header (length, count, maxTimestamp, CRC) is new. 0 or an error (out may
 * then hold a partial batch: the caller discards the whole output).
 */
static int rewrite_batch(pass *ps, const uint8_t *b, const kp_batch_header *h, kp_buf *out)
{
	st_clean_result *res = ps->res;
	size_t size = kp_batch_size(h), start = out->len, nkept = 0;
	int rc;

	if ((h->attributes & KP_ATTR_CONTROL) || h->base_offset >= ps->map_end) {
		kp_buf_put(out, b, size);
		return out->err;
	}
	bool has_horizon = (h->attributes & ATTR_DELETE_HORIZON) != 0;
	bool need_horizon = false, dropped = false;
	int n = batch_records(ps, b, size, h, false);
	if (n < 0) {
		if (n == -ENOMEM)
			return n;
		kp_buf_put(out, b, size);   /* does not decode: kept whole, see map_build */
		return out->err;
	}
	for (int r = 0; r < n; r++) {
		const crec *rec = &ps->recs_v[r];
		int64_t latest;
		res->records_read++;
		int64_t off = rec_offset(h, rec);
		bool superseded;
		if (!rec->key)
			superseded = false;
		else if (sup_covers(ps, off)) {
			uint64_t bit = (uint64_t)(off - ps->p.first_dirty);
			superseded = (ps->sup[bit >> 3] >> (bit & 7)) & 1;
		} else
			superseded = st__omap_get_hashed(&ps->map, &ps->hashes[r], &latest) == 1 &&
				     off < latest;
		if (superseded) {
			res->records_removed++;
			dropped = true;
			continue;
		}
		if (rec->tombstone) {
			if (has_horizon && ps->now_ms >= h->base_timestamp) {
				res->tombstones_removed++;
				dropped = true;
				continue;
			}
			if (!has_horizon)
				need_horizon = true;
		}
		ps->kept[nkept++] = (uint32_t)r;
	}
	if (!dropped && !need_horizon) {
		kp_buf_put(out, b, size);
		return out->err;
	}
	if (nkept == 0) {
		if (!producer_last(ps, h))
			return 0;
		/* Kafka's empty batch: no records, no codec, the offsets and
		 * producer fields of the original. */
		res->batches_emptied++;
		put_header(out, h, (int16_t)(h->attributes & ~KP_ATTR_CODEC_MASK & ~ATTR_DELETE_HORIZON),
			   -1, -1, 0);
		return finish_batch(out, start);
	}

	bool lat = (h->attributes & KP_ATTR_LOG_APPEND_TIME) != 0;
	int64_t base_ts = need_horizon ? ps->horizon : h->base_timestamp;
	int64_t max_ts = lat ? h->max_timestamp : -1;
	int16_t attrs = (int16_t)(h->attributes | (has_horizon || need_horizon ? ATTR_DELETE_HORIZON : 0));
	int codec = kp_batch_codec(h);
	put_header(out, h, attrs, base_ts, max_ts, (int32_t)nkept);
	/* Uncompressed records go straight to out; compressed ones are
	 * gathered and compressed once. */
	kp_buf *dst = codec == KP_CODEC_NONE ? out : &ps->recs;
	kp_buf_reset(&ps->recs);
	for (size_t i = 0; i < nkept; i++) {
		const crec *r = &ps->recs_v[ps->kept[i]];
		/* Wrapping like proto's reader: the timestamp a consumer sees. */
		int64_t ts = (int64_t)((uint64_t)h->base_timestamp + (uint64_t)r->ts_delta);
		int64_t delta = 0;
		if (!lat && ts > max_ts)
			max_ts = ts;
		if (need_horizon && !lat &&
		    __builtin_sub_overflow(ts, base_ts, &delta)) {
			/* A timestamp that cannot be told relative to the horizon:
			 * keep the batch as it was (its tombstones wait). */
			out->len = start;
			kp_buf_put(out, b, size);
			return out->err;
		}
		if ((rc = put_record(dst, r, need_horizon, delta)) < 0) {
			out->len = start;
			return rc;
		}
	}
	if (dst->err || out->err) {
		rc = dst->err ? dst->err : out->err;
		out->len = start;
		return rc;
	}
	if (!lat)
		kp_store_be64(out->data + start + KP_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
	if (codec != KP_CODEC_NONE &&
	    (rc = kp_compress(codec, ps->recs.data, ps->recs.len, out)) < 0) {
		out->len = start;
		return rc;
	}
	return finish_batch(out, start);
}

/* ------------------------------------------------------- file helpers */

static int cleaned_path(char *buf, size_t cap, const char *dir, int64_t base, const char *sfx)
{
	char name[ST__NAME_MAX];
	st_segment_filename(name, sizeof(name), base, NULL);
	return st__path(buf, cap, "%s/%s.cleaned%s", dir, name, sfx);
}

static int live_path(char *buf, size_t cap, const char *dir, int64_t base, const char *sfx)
{
	char name[ST__NAME_MAX];
	st_segment_filename(name, sizeof(name), base, sfx);
	return st__path(buf, cap, "%s/%s", dir, name);
}

static const char *const seg_sfx[] = { ".index", ".timeindex", ".log" };

static void unlink_cleaned(const char *dir, int64_t base)
{
	char path[4096];
	for (size_t k = 0; k < 3; k++)
		if (cleaned_path(path, sizeof(path), dir, base, seg_sfx[k]) == 0)
			unlink(path);
}

static size_t swap_record(char *buf, size_t cap, int64_t base, int64_t end)
{
	int n = snprintf(buf, cap, SWAP_MAGIC " %" PRId64 " %" PRId64, base, end);
	uint64_t h = XXH64(buf, (size_t)n, 0);
	n += snprintf(buf + n, cap - (size_t)n, " %016" PRIx64 "\n", h);
	return (size_t)n;
}

/* Parses a commit record: 0 with *end set, or ST_ERR_CORRUPT. */
static int swap_parse(const char *text, int64_t base, int64_t *end)
{
	long long b, e;
	unsigned long long h;
	int n = 0;

	if (sscanf(text, SWAP_MAGIC " %lld %lld%n", &b, &e, &n) != 2 || n <= 0 ||
	    sscanf(text + n, " %16llx\n", &h) != 1)
		return ST_ERR_CORRUPT;
	if (b != base || e <= b || XXH64(text, (size_t)n, 0) != (uint64_t)h)
		return ST_ERR_CORRUPT;
	*end = e;
	return 0;
}

/* ----------------------------------------------------------- the swap */

static int swap_group(pass *ps, size_t g0, size_t g1, st__segment *nseg, int64_t nsize)
{
	st_log *log = ps->log;
	plan *p = &ps->p;
	int64_t base = p->segs[g0]->base, end = p->end[g1 - 1];
	char path[4096], to[4096], rec[128], name[ST__NAME_MAX];
	size_t x = 0;
	int rc = 0;

	pthread_mutex_lock(&log->meta_mu);
	pthread_mutex_lock(&log->mu);
	bool found = false;
	for (size_t i = 0; i < log->nsegs; i++) {
		if (log->segs[i] == p->segs[g0]) {
			x = i;
			found = i + (g1 - g0) < log->nsegs;
			for (size_t k = g0; found && k < g1; k++)
				found = log->segs[x + k - g0] == p->segs[k] && !p->segs[k]->removed;
			break;
		}
	}
	bool closing = log->closing || log->offline || log->deleting;
	int64_t rp = log->recovery_point;
	pthread_mutex_unlock(&log->mu);
	if (!found || closing) {
		/* Retention or DeleteRecords took segments meanwhile: this
		 * output describes segments that are gone. */
		rc = closing ? ST_ERR_CLOSING : ST_ERR_BUSY;
		goto abort;
	}
	/* Old objects keep reading their own bytes once the names move. */
	for (size_t k = g0; k < g1 && rc == 0; k++) {
		st__segment *seg = p->segs[k];
		int fd;
		pthread_mutex_lock(&seg->mu);
		if ((rc = st__segment_fd_locked(seg, &fd)) == 0)
			rc = st__segment_load_locked(seg, p->size[k], NULL);
		pthread_mutex_unlock(&seg->mu);
	}
	if (rc < 0)
		goto abort;
	if (rp < end) {
		rc = ST_ERR_BUSY;     /* not sealed past the group: cannot happen */
		goto abort;
	}
	/* Once this pass has made a recovery point past this group durable,
	 * the file cannot go below it: the only other writer (the seal, under
	 * meta_mu like this) writes the in-memory value, which only grows and
	 * was already at least that when this pass read it. Later groups of
	 * the pass thus skip two fsyncs. */
	if (ps->rp_durable < end) {
		if ((rc = st__offset_file_write(log->dir, "recovery-point", rp)) < 0)
			goto abort;
		ps->rp_durable = rp;
	}
	st_segment_filename(name, sizeof(name), base, ".swap");
	size_t len = swap_record(rec, sizeof(rec), base, end);
	if ((rc = st_file_write_atomic(log->dir, name, rec, len)) < 0)
		goto abort;

	/* Committed: from here on a crash rolls forward. */
	for (size_t k = g0; k < g1; k++) {
		pthread_mutex_lock(&p->segs[k]->mu);
		p->segs[k]->unlinked = true;
		pthread_mutex_unlock(&p->segs[k]->mu);
	}
	for (size_t k = 0; k < 3 && rc == 0; k++) {
		if ((rc = cleaned_path(path, sizeof(path), log->dir, base, seg_sfx[k])) == 0 &&
		    (rc = live_path(to, sizeof(to), log->dir, base, seg_sfx[k])) == 0 &&
		    rename(path, to) < 0)
			rc = -errno;
	}
	for (size_t k = g0 + 1; k < g1 && rc == 0; k++)
		rc = st__segment_unlink(p->segs[k]);
	if (rc == 0)
		rc = st_dir_fsync(log->dir);
	if (rc < 0) {
		/* The commit record stays: the next open finishes the swap.
		 * Until then the old objects serve reads from their open
		 * descriptors; the log must not take new work on these names. */
		st__logf(log->store, ST_LOG_ERROR,
			 "%s: cannot finish the compaction swap of %s: %s; the next open finishes it",
			 log->dir, name, st_strerror(rc));
		st__log_set_offline(log, rc, log->dir);
		pthread_mutex_unlock(&log->meta_mu);
		return rc;
	}

	pthread_mutex_lock(&log->mu);
	nseg->size = nseg->readable = nsize;
	nseg->next_offset = end;
	nseg->sealed = true;
	nseg->index_interval = log->cfg.index_interval_bytes;
	log->segs[x] = nseg;
	memmove(log->segs + x + 1, log->segs + x + (g1 - g0),
		(log->nsegs - x - (g1 - g0)) * sizeof(*log->segs));
	log->nsegs -= g1 - g0 - 1;
	for (size_t k = g0; k < g1; k++) {
		p->segs[k]->removed = true;
		st__segment_unref(p->segs[k]);   /* the list's reference */
	}
	pthread_mutex_unlock(&log->mu);

	if (st__path(path, sizeof(path), "%s/%s", log->dir, name) == 0 && unlink(path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = st_dir_fsync(log->dir);
	if (rc < 0)
		/* A stale record could later delete segments created in its
		 * range after a truncation: say so loudly. */
		st__logf(log->store, ST_LOG_ERROR, "%s/%s: cannot remove the finished swap record: %s",
			 log->dir, name, st_strerror(rc));
	pthread_mutex_unlock(&log->meta_mu);
	return 0;
abort:
	pthread_mutex_unlock(&log->meta_mu);
	unlink_cleaned(log->dir, base);
	return rc;
}

/*
 * Writes the cleaned form of segments g0, g0 + 1, ... (below `last`) into
 * one new segment and swaps it in. The group grows while what was written
 * plus the whole next segment (the worst case: it keeps everything) stays
 * within segment.bytes and the offsets within the index's int32 range, so
 * small cleaned segments merge on the first pass. *g1 is set to the end of
 * the group.
 */
/* Indexes the batch the rewrite just appended to out at `before` (pos: the
 * file position of out's first byte) and notes its last offset. */
static int index_out_batch(st__segment *nseg, const kp_buf *out, size_t before, int64_t pos,
			   int64_t *last_out)
{
	kp_batch_header nh;
	int rc = kp_batch_header_parse(out->data + before, out->len - before, &nh);

	assert(rc == 0);
	*last_out = kp_batch_last_offset(&nh);
	pthread_mutex_lock(&nseg->mu);
	rc = st__segment_index_batch_locked(nseg, &nh, pos + (int64_t)before, nseg->index_interval);
	pthread_mutex_unlock(&nseg->mu);
	return rc;
}

static int clean_group(pass *ps, size_t g0, size_t last, size_t *g1_out)
{
	st_log *log = ps->log;
	plan *p = &ps->p;
	int64_t base = p->segs[g0]->base, pos = 0;
	char path[4096], prefix[4096];
	kp_buf out;
	int fd, rc;

	if ((rc = cleaned_path(path, sizeof(path), log->dir, base, ".log")) < 0 ||
	    (rc = cleaned_path(prefix, sizeof(prefix), log->dir, base, "")) < 0)
		return rc;
	st__segment *nseg = st__segment_new(log->store, log->dir, base);
	if (!nseg)
		return -ENOMEM;
	nseg->index_interval = p->cfg.index_interval_bytes;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		st__segment_unref(nseg);
		return rc;
	}
	kp_buf_init(&out);
	size_t g1 = g0;
	int64_t last_out = base - 1;      /* last offset the output holds */
	int32_t last_epoch = -1;          /* leader epoch of the last batch read */
	for (size_t i = g0; i < last && rc == 0; i++) {
		st__segment *seg = p->segs[i];
		if (i > g0 && (pos + (int64_t)out.len + p->size[i] > p->cfg.segment_bytes ||
			       p->end[i] - 1 - base > INT32_MAX))
			break;
		g1 = i + 1;
		kp_batch_header h;
		const uint8_t *bytes;
		int64_t at;
		st__scan sc;
		int sfd;

		if ((rc = seg_fd(seg, &sfd)) < 0)
			break;
		st__scan_init(&sc, sfd, 0, p->size[i]);
		while ((rc = st__scan_next(&sc, true, &h, &at, &bytes)) == 1) {
			size_t before = out.len;
			last_epoch = h.partition_leader_epoch;
			if (!progress(ps, (int64_t)kp_batch_size(&h), false)) {
				rc = ST_ERR_CLOSING;
				break;
			}
			if ((rc = rewrite_batch(ps, bytes, &h, &out)) < 0)
				break;
			/* A delete horizon re-bases timestamp deltas, which can make
			 * a batch a few bytes longer: never past what the index can
			 * address. */
			if (pos + (int64_t)out.len > ST__MAX_SEGMENT_BYTES) {
				rc = ST_ERR_TOO_LARGE;
				break;
			}
			if (out.len > before) {
				if ((rc = index_out_batch(nseg, &out, before, pos, &last_out)) < 0)
					break;
			}
			if (out.len >= WRITE_CHUNK) {
				if ((rc = write_all_at(fd, out.data, out.len, pos)) < 0)
					break;
				/* Starts writeback of the chunk now, so it overlaps
				 * the rest of the rewrite and the fsync at the end
				 * waits for little. Advice: an error here is one the
				 * fsync reports. */
				(void)sync_file_range(fd, pos, (off_t)out.len, SYNC_FILE_RANGE_WRITE);
				ps->res->bytes_written += (int64_t)out.len;
				if (!progress(ps, (int64_t)out.len, false)) {
					rc = ST_ERR_CLOSING;
					break;
				}
				pos += (int64_t)out.len;
				kp_buf_reset(&out);
			}
		}
		st__scan_free(&sc);
		if (rc < 0 && rc != ST_ERR_CLOSING && rc != -ENOMEM)
			st__logf(log->store, ST_LOG_ERROR, "%s.log: compaction stopped: %s",
				 seg->prefix, st_strerror(rc));
	}
	/* The output ends where the old segments ended (see put_end_batch). */
	if (rc == 0 && g1 > g0 && last_out < p->end[g1 - 1] - 1) {
		size_t before = out.len;
		if ((rc = put_end_batch(&out, p->end[g1 - 1] - 1, last_epoch)) == 0)
			rc = index_out_batch(nseg, &out, before, pos, &last_out);
	}
	if (rc == 0 && out.len > 0) {
		if ((rc = write_all_at(fd, out.data, out.len, pos)) == 0) {
			ps->res->bytes_written += (int64_t)out.len;
			pos += (int64_t)out.len;
		}
	}
	kp_buf_free(&out);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0) {
		pthread_mutex_lock(&nseg->mu);
		if ((rc = st__segment_finish_time_index_locked(nseg)) == 0)
			rc = st__index_save(&nseg->idx, prefix, pos);
		pthread_mutex_unlock(&nseg->mu);
	}
	if (rc == 0 && !progress(ps, 0, true))
		rc = ST_ERR_CLOSING;
	*g1_out = g1;
	if (rc == 0)
		rc = swap_group(ps, g0, g1, nseg, pos);
	else
		unlink_cleaned(log->dir, base);
	if (rc < 0) {
		st__segment_unref(nseg);
		return rc;
	}
	/* The list holds the new segment now; its index reloads from the
	 * files on first use, like any closed segment's. */
	pthread_mutex_lock(&nseg->mu);
	st__index_free(&nseg->idx);
	nseg->loaded = false;
	nseg->max_ts_known = false;
	pthread_mutex_unlock(&nseg->mu);
	return 0;
}

int st_log_clean(st_log *log, const st_clean_options *o, int64_t now_ms, st_clean_result *res)
{
	pass ps;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&ps, 0, sizeof(ps));
	pthread_mutex_lock(&log->mu);
	if (log->closing || log->offline || log->deleting) {
		rc = log->closing ? ST_ERR_CLOSING : log->offline ? ST_ERR_OFFLINE : ST_ERR_DELETING;
		pthread_mutex_unlock(&log->mu);
		return rc;
	}
	if (log->cleaning) {
		pthread_mutex_unlock(&log->mu);
		return ST_ERR_BUSY;
	}
	log->cleaning = true;
	pthread_mutex_unlock(&log->mu);

	ps.log = log;
	ps.o = o;
	ps.res = res;
	ps.now_ms = now_ms;
	ps.rp_durable = -1;
	kp_buf_init(&ps.recs);
	kp_buf_init(&ps.inflated);
	if ((rc = plan_take(log, now_ms, true, &ps.p)) < 0)
		goto out;
	ps.horizon = now_ms > INT64_MAX - ps.p.cfg.delete_retention_ms
		     ? INT64_MAX : now_ms + ps.p.cfg.delete_retention_ms;
	if (ps.p.first_dirty >= ps.p.cleanable_end)
		goto out;

	/* A map no bigger than the dirty section can fill: it holds at most one
	 * key per offset, and the offsets it spans are known without reading
	 * it. (Several versions per key leave it emptier; the budget caps it.) */
	int64_t offsets = ps.p.cleanable_end - ps.p.first_dirty;
	size_t want = (uint64_t)offsets < SIZE_MAX / 64
		      ? (((size_t)offsets + 1) * 4 / 3 + 2) * ST__OMAP_SLOT_BYTES : SIZE_MAX;
	size_t bytes = o && o->map_bytes ? o->map_bytes : (size_t)128 << 20;
	/* The superseded bits (a bit per dirty offset) spare the rewrite a
	 * hash and a map lookup per dirty record. They come out of the
	 * budget, and only while they are a small part of it (1/16: the map
	 * is sized at 16 bytes per offset); otherwise the rewrite looks
	 * every key up. */
	size_t sup_bytes = ((size_t)offsets + 7) / 8;
	if (sup_bytes <= bytes / 16 && (ps.sup = calloc(sup_bytes, 1)) != NULL)
		bytes -= sup_bytes;
	if ((rc = st__omap_init(&ps.map, want < bytes ? want : bytes)) < 0)
		goto out;
	double t0 = mono_s();
	if ((rc = map_build(&ps)) < 0)
		goto out;
	double t1 = mono_s();
	res->map_seconds = t1 - t0;
	if (ps.map_end <= ps.p.first_dirty) {
		st__logf(log->store, ST_LOG_WARN,
			 "%s: the cleaner's map (%zu bytes) cannot hold one batch at offset %" PRId64
			 "; raise log.cleaner.dedupe.buffer.size", log->dir, st__omap_bytes(&ps.map),
			 ps.p.first_dirty);
		rc = ST_ERR_CONFIG;
		goto out;
	}

	/* Groups of neighbours, from the log start up to the segment holding
	 * the map's end. */
	size_t last = 0;
	while (last < ps.p.n && ps.p.segs[last]->base < ps.map_end)
		last++;
	res->segments_before = (int)last;
	for (size_t g0 = 0; g0 < last;) {
		size_t g1;
		if ((rc = clean_group(&ps, g0, last, &g1)) < 0)
			goto out;
		res->segments_after++;
		g0 = g1;
	}
	res->cleaned = true;
	res->rewrite_seconds = mono_s() - t1;
	pthread_mutex_lock(&log->mu);
	if (ps.map_end > log->clean_offset)
		log->clean_offset = ps.map_end;
	pthread_mutex_unlock(&log->mu);
	st__logf(log->store, ST_LOG_INFO,
		 "%s: cleaned offsets [%" PRId64 ", %" PRId64 "): %d segment(s) -> %d, %" PRId64
		 " of %" PRId64 " records removed, %" PRId64 " tombstone(s) removed, %" PRId64
		 " -> %" PRId64 " bytes, map %" PRId64 " keys in %zu bytes",
		 log->dir, res->first_dirty, res->map_end, res->segments_before,
		 res->segments_after, res->records_removed + res->tombstones_removed,
		 res->records_read, res->tombstones_removed, res->bytes_read, res->bytes_written,
		 res->map_keys, res->map_bytes);
out:
	(void)progress(&ps, 0, true);
	st__omap_free(&ps.map);
	plan_free(&ps.p);
	free(ps.kept);
	free(ps.sup);
	free(ps.recs_v);
	free(ps.hashes);
	kp_buf_free(&ps.recs);
	kp_buf_free(&ps.inflated);
	pthread_mutex_lock(&log->mu);
	log->cleaning = false;
	pthread_mutex_unlock(&log->mu);
	return rc;
}

/* ------------------------------------------------------------ recovery */

/* "<20 digits><suffix>" -> base, or -1. */
static int64_t name_base(const char *name, const char *suffix)
{
	size_t len = strlen(name), slen = strlen(suffix);
	int64_t v = 0;

	if (len != 20 + slen || strcmp(name + 20, suffix) != 0)
		return -1;
	for (size_t i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

typedef struct i64v {
	int64_t *v;
	size_t n, cap;
} i64v;

static int i64v_push(i64v *a, int64_t x)
{
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 16;
		int64_t *nv = realloc(a->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	a->v[a->n++] = x;
	return 0;
}

/* Finishes the committed swap of <base>.swap. */
static int finish_swap(st_log *log, int64_t base, const i64v *logs)
{
	char name[ST__NAME_MAX], text[256], path[4096], to[4096];
	int64_t end;
	int rc;

	st_segment_filename(name, sizeof(name), base, ".swap");
	ssize_t n = st__read_small(log->dir, name, text, sizeof(text));
	if (n < 0)
		return (int)n;
	if (swap_parse(text, base, &end) < 0) {
		/* It was written atomically: garbage here is damage, not a torn
		 * write. The old segments were only touched after a valid record
		 * was durable, so treating it as uncommitted loses nothing that a
		 * valid one would have kept. */
		st__logf(log->store, ST_LOG_WARN, "%s/%s: unreadable compaction swap record; "
			 "discarding the cleaned files it would have named", log->dir, name);
		unlink_cleaned(log->dir, base);
	} else {
		for (size_t k = 0; k < 3; k++) {
			if ((rc = cleaned_path(path, sizeof(path), log->dir, base, seg_sfx[k])) < 0 ||
			    (rc = live_path(to, sizeof(to), log->dir, base, seg_sfx[k])) < 0)
				return rc;
			if (rename(path, to) < 0 && errno != ENOENT)
				return -errno;
		}
		for (size_t i = 0; i < logs->n; i++) {
			if (logs->v[i] <= base || logs->v[i] >= end)
				continue;
			for (size_t k = 0; k < 3; k++) {
				if ((rc = live_path(path, sizeof(path), log->dir, logs->v[i], seg_sfx[k])) < 0)
					return rc;
				if (unlink(path) < 0 && errno != ENOENT)
					return -errno;
			}
		}
		st__logf(log->store, ST_LOG_INFO,
			 "%s: finished an interrupted compaction swap: offsets [%" PRId64 ", %" PRId64
			 ") are in %020" PRId64 ".log", log->dir, base, end, base);
	}
	if ((rc = st_dir_fsync(log->dir)) < 0)
		return rc;
	if ((rc = st__path(path, sizeof(path), "%s/%s", log->dir, name)) < 0)
		return rc;
	if (unlink(path) < 0)
		return -errno;
	return st_dir_fsync(log->dir);
}

int st__cleaner_recover(st_log *log)
{
	i64v swaps = { 0 }, logs = { 0 }, cleaned = { 0 };
	int rc = 0;

	DIR *d = opendir(log->dir);
	if (!d)
		return -errno;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		int64_t b;
		if ((b = name_base(e->d_name, ".swap")) >= 0)
			rc = i64v_push(&swaps, b);
		else if ((b = name_base(e->d_name, ".log")) >= 0)
			rc = i64v_push(&logs, b);
		else if ((b = name_base(e->d_name, ".cleaned.log")) >= 0 ||
			 (b = name_base(e->d_name, ".cleaned.index")) >= 0 ||
			 (b = name_base(e->d_name, ".cleaned.timeindex")) >= 0)
			rc = i64v_push(&cleaned, b);
	}
	closedir(d);
	for (size_t i = 0; rc == 0 && i < swaps.n; i++)
		rc = finish_swap(log, swaps.v[i], &logs);
	/* .cleaned files without a commit record: an interrupted pass; the
	 * old segments are intact. (Those of a record were renamed above.) */
	bool removed = false;
	for (size_t i = 0; rc == 0 && i < cleaned.n; i++) {
		bool committed = false;
		for (size_t k = 0; k < swaps.n; k++)
			committed = committed || swaps.v[k] == cleaned.v[i];
		if (!committed) {
			unlink_cleaned(log->dir, cleaned.v[i]);
			removed = true;
		}
	}
	if (rc == 0 && removed) {
		rc = st_dir_fsync(log->dir);
		st__logf(log->store, ST_LOG_INFO,
			 "%s: removed the output of an interrupted compaction pass", log->dir);
	}
	free(swaps.v);
	free(logs.v);
	free(cleaned.v);
	return rc;
}
