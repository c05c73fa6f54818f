/*
 * index.c -- the sparse offset index and time index of one segment.
 *
 * Both indexes are kept in memory for the active segment (appends add
 * entries under the log lock) and written to disk when the segment is
 * sealed or the log is closed; a closed segment's indexes are read back
 * lazily, on the first lookup that needs them.
 *
 * On disk, all integers big-endian, no header, entries back to back:
 *
 *   <base>.index      8 bytes per entry
 *                       0  4  relative offset  batch base offset - segment base
 *                       4  4  position         byte position of that batch in .log
 *                     one entry each time index.interval.bytes of batches were
 *                     appended since the previous entry, keyed by the base
 *                     offset of the batch that crossed it. Both columns
 *                     strictly increase; positions lie inside the .log file.
 *
 *   <base>.timeindex  12 bytes per entry
 *                       0  8  timestamp        largest batch maxTimestamp so far
 *                       8  4  relative offset  base offset of the batch that
 *                                              first reached that timestamp
 *                     an entry is added next to an offset entry when the
 *                     largest timestamp grew, and once more at seal/close so
 *                     the last entry is the segment's max timestamp.
 *                     Timestamps strictly increase, offsets never decrease.
 *
 * Lookup rule: every record at or before the batch named by the last time
 * entry with timestamp < T has a timestamp < T, so the first record >= T
 * lies after it; the offset index then gives a position to scan from.
 *
 * A file that breaks these rules is reported ST_ERR_CORRUPT; segment.c then
 * rebuilds both indexes from the batch headers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/st_int.h"

/* The on-disk entries, for the size checks below. */
struct st__oentry_disk {
	uint8_t rel[4];
	uint8_t pos[4];
};
struct st__tentry_disk {
	uint8_t ts[8];
	uint8_t rel[4];
};
_Static_assert(sizeof(struct st__oentry_disk) == 8, ".index entry is 8 bytes");
_Static_assert(sizeof(struct st__tentry_disk) == 12, ".timeindex entry is 12 bytes");

#define OENTRY_SIZE sizeof(struct st__oentry_disk)
#define TENTRY_SIZE sizeof(struct st__tentry_disk)

void st__index_init(st__index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->saved_size = -1;
}

void st__index_free(st__index *ix)
{
	free(ix->o);
	free(ix->t);
	st__index_init(ix);
}

bool st__index_is_saved(const st__index *ix, int64_t seg_size)
{
	return ix->saved_size >= 0 && ix->saved_size == seg_size;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	void *np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

int st__index_add_offset(st__index *ix, uint32_t rel, uint32_t pos)
{
	assert(ix->on == 0 || (rel > ix->o[ix->on - 1].rel && pos > ix->o[ix->on - 1].pos));
	if (grow((void **)&ix->o, &ix->ocap, ix->on + 1, sizeof(*ix->o)) < 0)
		return -ENOMEM;
	ix->o[ix->on++] = (st__oentry){ rel, pos };
	ix->saved_size = -1;
	return 0;
}

int st__index_add_time(st__index *ix, int64_t ts, uint32_t rel)
{
	assert(ix->tn == 0 || (ts > ix->t[ix->tn - 1].ts && rel >= ix->t[ix->tn - 1].rel));
	if (grow((void **)&ix->t, &ix->tcap, ix->tn + 1, sizeof(*ix->t)) < 0)
		return -ENOMEM;
	ix->t[ix->tn++] = (st__tentry){ ts, rel };
	ix->saved_size = -1;
	return 0;
}

void st__index_trim(st__index *ix, uint32_t rel_end, uint32_t pos_end)
{
	while (ix->on > 0 && ix->o[ix->on - 1].pos >= pos_end)
		ix->on--;
	while (ix->tn > 0 && ix->t[ix->tn - 1].rel >= rel_end)
		ix->tn--;
	ix->saved_size = -1;
}

uint32_t st__index_lookup(const st__index *ix, uint32_t rel, uint32_t *entry_rel)
{
	/* Binary search for the last entry with entry.rel <= rel. */
	size_t lo = 0, hi = ix->on;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->o[mid].rel <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0) {
		if (entry_rel)
			*entry_rel = 0;
		return 0;
	}
	if (entry_rel)
		*entry_rel = ix->o[lo - 1].rel;
	return ix->o[lo - 1].pos;
}

bool st__index_floor_pos(const st__index *ix, uint32_t pos_max, uint32_t rel_max,
			 st__oentry *e)
{
	/* Both columns ascend, so the answer is the smaller of the two
	 * independent floors. */
	size_t lo = 0, hi = ix->on, by_pos, by_rel;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->o[mid].pos <= pos_max)
			lo = mid + 1;
		else
			hi = mid;
	}
	by_pos = lo;
	lo = 0;
	hi = by_pos;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->o[mid].rel <= rel_max)
			lo = mid + 1;
		else
			hi = mid;
	}
	by_rel = lo;
	if (by_rel == 0)
		return false;
	*e = ix->o[by_rel - 1];
	return true;
}

bool st__index_lookup_time(const st__index *ix, int64_t ts, uint32_t *rel)
{
	size_t lo = 0, hi = ix->tn;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->t[mid].ts < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	*rel = ix->t[lo - 1].rel;
	return true;
}

int st__index_save(st__index *ix, const char *prefix, int64_t seg_size)
{
	char path[4096];
	size_t olen = ix->on * OENTRY_SIZE, tlen = ix->tn * TENTRY_SIZE;
	uint8_t *buf = malloc((olen > tlen ? olen : tlen) + 1);
	int rc;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < ix->on; i++) {
		kp_store_be32(buf + i * OENTRY_SIZE, ix->o[i].rel);
		kp_store_be32(buf + i * OENTRY_SIZE + 4, ix->o[i].pos);
	}
	if ((rc = st__path(path, sizeof(path), "%s.index", prefix)) < 0 ||
	    (rc = st__replace_file(path, buf, olen)) < 0)
		goto out;
	for (size_t i = 0; i < ix->tn; i++) {
		kp_store_be64(buf + i * TENTRY_SIZE, (uint64_t)ix->t[i].ts);
		kp_store_be32(buf + i * TENTRY_SIZE + 8, ix->t[i].rel);
	}
	if ((rc = st__path(path, sizeof(path), "%s.timeindex", prefix)) < 0)
		goto out;
	if ((rc = st__replace_file(path, buf, tlen)) == 0)
		ix->saved_size = seg_size;
out:
	free(buf);
	return rc;
}

/* Reads a whole index file (bounded by the entry count a segment of
 * seg_size bytes can have). *out is malloc'ed. */
static int read_file(const char *path, size_t entry, int64_t seg_size,
		     uint8_t **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	/* An entry per batch at most, and a batch is at least 61 bytes; one
	 * more time entry is added at seal. */
	int64_t max_entries = seg_size / KP_BATCH_HEADER_SIZE + 2;
	if (st.st_size % (off_t)entry != 0 || st.st_size / (off_t)entry > max_entries) {
		rc = ST_ERR_CORRUPT;
		goto out;
	}
	*len = (size_t)st.st_size;
	*out = malloc(*len + 1);
	if (!*out) {
		rc = -ENOMEM;
		goto out;
	}
	size_t got = 0;
	while (got < *len) {
		ssize_t n = pread(fd, *out + got, *len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : ST_ERR_CORRUPT;  /* shrank under us */
			free(*out);
			*out = NULL;
			goto out;
		}
		got += (size_t)n;
	}
out:
	close(fd);
	return rc;
}

int st__index_load(st__index *out, const char *prefix, int64_t seg_size)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	st__index ix;
	int rc;

	st__index_init(&ix);
	if ((rc = st__path(path, sizeof(path), "%s.index", prefix)) < 0 ||
	    (rc = read_file(path, OENTRY_SIZE, seg_size, &buf, &len)) < 0)
		return rc;
	for (size_t i = 0; i < len / OENTRY_SIZE; i++) {
		uint32_t rel = kp_load_be32(buf + i * OENTRY_SIZE);
		uint32_t pos = kp_load_be32(buf + i * OENTRY_SIZE + 4);
		if (rel > INT32_MAX || (int64_t)pos >= seg_size ||
		    (ix.on > 0 && (rel <= ix.o[ix.on - 1].rel || pos <= ix.o[ix.on - 1].pos))) {
			rc = ST_ERR_CORRUPT;
			goto fail;
		}
		if ((rc = st__index_add_offset(&ix, rel, pos)) < 0)
			goto fail;
	}
	free(buf);
	buf = NULL;

	if ((rc = st__path(path, sizeof(path), "%s.timeindex", prefix)) < 0 ||
	    (rc = read_file(path, TENTRY_SIZE, seg_size, &buf, &len)) < 0)
		goto fail;
	for (size_t i = 0; i < len / TENTRY_SIZE; i++) {
		int64_t ts = (int64_t)kp_load_be64(buf + i * TENTRY_SIZE);
		uint32_t rel = kp_load_be32(buf + i * TENTRY_SIZE + 8);
		if (rel > INT32_MAX || ts < 0 ||
		    (ix.tn > 0 && (ts <= ix.t[ix.tn - 1].ts || rel < ix.t[ix.tn - 1].rel))) {
			rc = ST_ERR_CORRUPT;
			goto fail;
		}
		if ((rc = st__index_add_time(&ix, ts, rel)) < 0)
			goto fail;
	}
	free(buf);
	ix.saved_size = seg_size;
	*out = ix;
	return 0;
fail:
	free(buf);
	st__index_free(&ix);
	return rc;
}

int st__index_load_last_time(const char *prefix, int64_t seg_size, st__tentry *last)
{
	char path[4096];
	uint8_t e[TENTRY_SIZE];
	struct stat st;
	int rc;

	if ((rc = st__path(path, sizeof(path), "%s.timeindex", prefix)) < 0)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size % (off_t)TENTRY_SIZE != 0 ||
	    st.st_size / (off_t)TENTRY_SIZE > seg_size / KP_BATCH_HEADER_SIZE + 2) {
		rc = ST_ERR_CORRUPT;
		goto out;
	}
	if (st.st_size == 0) {
		rc = 0;
		goto out;
	}
	ssize_t n = pread(fd, e, sizeof(e), st.st_size - (off_t)TENTRY_SIZE);
	if (n != (ssize_t)sizeof(e)) {
		rc = n < 0 ? -errno : ST_ERR_CORRUPT;
		goto out;
	}
	last->ts = (int64_t)kp_load_be64(e);
	last->rel = kp_load_be32(e + 8);
	rc = (last->ts < 0 || last->rel > INT32_MAX) ? ST_ERR_CORRUPT : 1;
out:
	close(fd);
	return rc;
}

int st__index_check_sizes(const char *prefix)
{
	static const struct {
		const char *suffix;
		size_t entry;
	} files[] = { { "index", OENTRY_SIZE }, { "timeindex", TENTRY_SIZE } };
	char path[4096];
	struct stat st;
	int rc;

	for (size_t i = 0; i < 2; i++) {
		if ((rc = st__path(path, sizeof(path), "%s.%s", prefix, files[i].suffix)) < 0)
			return rc;
		if (stat(path, &st) < 0)
			return -errno;
		if (st.st_size % (off_t)files[i].entry != 0)
			return ST_ERR_CORRUPT;
	}
	return 0;
}
