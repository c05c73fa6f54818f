/*
 * producer.c -- idempotent producer state of one partition log: the
 * sequence checks of an append, and the .snapshot files that make the state
 * survive a restart.
 *
 * The state (Kafka's ProducerStateManager, without transactions): per
 * producer id, its latest epoch and its last ST_PRODUCER_BATCHES batches
 * (first/last sequence, first/last offset). An append's batches that carry
 * a producer id (>= 0) are checked under the log lock, against the state as
 * the batches before them in the same append leave it:
 *
 *   - epoch below the producer's          -> ST_ERR_INVALID_PRODUCER_EPOCH
 *   - same epoch, same first and last sequence as one of the kept batches
 *                                         -> duplicate: the original's offsets,
 *                                            nothing appended
 *   - newer epoch and first sequence != 0 -> ST_ERR_OUT_OF_ORDER_SEQUENCE
 *   - same epoch and first sequence != the last batch's last sequence + 1
 *     (0 after INT32_MAX)                 -> ST_ERR_OUT_OF_ORDER_SEQUENCE
 *   - a producer the log does not know    -> accepted at any sequence
 *
 * The last rule is Kafka's since 2.5 (KIP-360): a producer whose batches
 * were all removed by retention or DeleteRecords, or that expired, sends on
 * with its next sequence, and the clients in use (librdkafka 2.0.2,
 * kafkajs 2.2.4) expect that rather than UNKNOWN_PRODUCER_ID.
 *
 * Snapshot file <dir>/<offset, 20 digits>.snapshot: the state of every
 * producer for the batches below <offset>. Written when a segment rolls
 * (at the new segment's base, once the old one is sealed) and at a clean
 * close (at the log end). Big-endian:
 *
 *     0  magic "RWPS"
 *     4  int16 version (1)
 *     6  int16 0
 *     8  int64 offset (as in the name)
 *    16  int32 count of producers
 *    20  int32 0
 *    24  count entries of ENTRY_SIZE bytes:
 *          0  int64 producerId          (>= 0, no two alike)
 *          8  int64 lastTimestamp       (wall clock ms of its last append)
 *         16  int16 producerEpoch       (>= 0)
 *         18  int8  batch count         (1 .. 5)
 *         19  int8  0
 *         20  int32 0
 *         24  5 x { int32 firstSeq, int32 lastSeq, int64 firstOffset,
 *                   int64 lastOffset }  oldest first, unused ones zero;
 *                   offsets increasing and below the snapshot's offset
 *    end-8  uint64 XXH64 (seed 0) of every byte before it
 *
 * A file that does not check out is ignored (and removed) at open; the
 * state is then rebuilt from an older snapshot, or from the log start, by
 * replaying the batch headers -- the log itself is the truth, a snapshot
 * only saves reading it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "storage/st_int.h"

#define SNAP_MAGIC "RWPS"
#define SNAP_VERSION 1
#define HEADER_SIZE 24
#define BATCH_SIZE 24
#define ENTRY_SIZE (24 + ST_PRODUCER_BATCHES * BATCH_SIZE)
#define TRAILER_SIZE 8
/* A snapshot this large would mean tens of millions of producers on one
 * partition: refuse to read it rather than allocate for a garbled count. */
#define SNAP_MAX_BYTES ((size_t)1 << 30)

_Static_assert(ENTRY_SIZE == 144, "snapshot entry layout");

/* ------------------------------------------------------------------ table */

void st__pstate_init(st__pstate *ps)
{
	memset(ps, 0, sizeof(*ps));
}

void st__pstate_free(st__pstate *ps)
{
	free(ps->slots);
	memset(ps, 0, sizeof(*ps));
}

static size_t home(const st__pstate *ps, int64_t id)
{
	/* Fibonacci hashing: producer ids are often consecutive. */
	return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 17) & (ps->cap - 1);
}

st_producer *st__pstate_find(const st__pstate *ps, int64_t producer_id)
{
	if (ps->cap == 0)
		return NULL;
	for (size_t i = home(ps, producer_id);; i = (i + 1) & (ps->cap - 1)) {
		if (ps->slots[i].producer_id == producer_id)
			return &ps->slots[i];
		if (ps->slots[i].producer_id < 0)
			return NULL;
	}
}

static void put_nogrow(st__pstate *ps, const st_producer *p)
{
	size_t i = home(ps, p->producer_id);

	while (ps->slots[i].producer_id >= 0 && ps->slots[i].producer_id != p->producer_id)
		i = (i + 1) & (ps->cap - 1);
	if (ps->slots[i].producer_id < 0)
		ps->n++;
	ps->slots[i] = *p;
}

int st__pstate_reserve(st__pstate *ps, size_t more)
{
	size_t need = ps->n + more, cap = ps->cap ? ps->cap : 16;

	if (need <= ps->cap / 2)
		return 0;
	while (cap / 2 < need) {
		if (cap > SIZE_MAX / 2 / sizeof(st_producer))
			return -ENOMEM;
		cap *= 2;
	}
	st_producer *slots = malloc(cap * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		slots[i].producer_id = -1;
	st__pstate old = *ps;
	ps->slots = slots;
	ps->cap = cap;
	ps->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].producer_id >= 0)
			put_nogrow(ps, &old.slots[i]);
	free(old.slots);
	return 0;
}

void st__pstate_put(st__pstate *ps, const st_producer *p)
{
	assert(p->producer_id >= 0 && ps->cap > 0 && ps->n < ps->cap);
	put_nogrow(ps, p);
}

/* Backward-shift deletion keeps every probe chain unbroken without
 * tombstones, so a table under churn (expiry) never needs a rehash. */
static void remove_at(st__pstate *ps, size_t i)
{
	size_t mask = ps->cap - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (ps->slots[j].producer_id < 0)
			break;
		size_t k = home(ps, ps->slots[j].producer_id);
		/* The entry at j may stay if its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays)
			continue;
		ps->slots[i] = ps->slots[j];
		i = j;
	}
	ps->slots[i].producer_id = -1;
	ps->n--;
}

void st__pstate_filter(st__pstate *ps, bool (*keep)(st_producer *p, void *arg), void *arg)
{
	/* A removal only moves entries from later in the chain into the slot
	 * at hand (which is then looked at again) or wrapped-around entries
	 * already kept, so every entry is asked at least once. */
	for (size_t i = 0; i < ps->cap;) {
		if (ps->slots[i].producer_id >= 0 && !keep(&ps->slots[i], arg)) {
			remove_at(ps, i);
			continue;
		}
		i++;
	}
}

/* ---------------------------------------------------------------- checks */

/* Kafka's DefaultRecordBatch.incrementSequence: int32 sequences wrap to 0. */
static int32_t seq_add(int32_t seq, int32_t inc)
{
	if (seq > INT32_MAX - inc)
		return inc - (INT32_MAX - seq) - 1;
	return seq + inc;
}

static bool in_sequence(int32_t last, int32_t next)
{
	return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

static void entry_add_batch(st_producer *e, int16_t epoch, int32_t first_seq, int32_t last_seq,
			    int64_t first_off, int64_t last_off, int64_t now_ms)
{
	if (epoch != e->producer_epoch) {
		/* A new epoch starts a new sequence: the old batches can no
		 * longer be retried (their epoch is fenced). */
		e->producer_epoch = epoch;
		e->n_batches = 0;
	}
	if (e->n_batches == ST_PRODUCER_BATCHES) {
		memmove(&e->batches[0], &e->batches[1],
			(ST_PRODUCER_BATCHES - 1) * sizeof(e->batches[0]));
		e->n_batches--;
	}
	e->batches[e->n_batches++] = (st_producer_batch){ first_seq, last_seq, first_off, last_off };
	if (now_ms > e->last_timestamp)
		e->last_timestamp = now_ms;
}

void st__pupdate_init(st__pupdate *up)
{
	memset(up, 0, sizeof(*up));
	up->e = up->small;
	up->cap = sizeof(up->small) / sizeof(up->small[0]);
	up->dup_first = up->dup_last = -1;
}

void st__pupdate_free(st__pupdate *up)
{
	if (up->e != up->small)
		free(up->e);
	up->e = up->small;
	up->n = 0;
}

static st_producer *pupdate_find(st__pupdate *up, int64_t id)
{
	for (size_t i = 0; i < up->n; i++)
		if (up->e[i].producer_id == id)
			return &up->e[i];
	return NULL;
}

static st_producer *pupdate_add(st__pupdate *up)
{
	if (up->n == up->cap) {
		size_t ncap = up->cap * 2;
		st_producer *n = malloc(ncap * sizeof(*n));
		if (!n)
			return NULL;
		memcpy(n, up->e, up->n * sizeof(*n));
		if (up->e != up->small)
			free(up->e);
		up->e = n;
		up->cap = ncap;
	}
	return &up->e[up->n++];
}

int st__pstate_check(const st__pstate *ps, const uint8_t *data, size_t len,
		     int64_t base_offset, int64_t now_ms, st__pupdate *up)
{
	int64_t off = base_offset;
	size_t pos = 0;

	while (pos < len) {
		kp_batch_header h;
		int rc = kp_batch_header_parse(data + pos, len - pos, &h);
		assert(rc == 0);
		(void)rc;
		int64_t first_off = off, last_off = off + h.last_offset_delta;
		off = last_off + 1;
		pos += kp_batch_size(&h);
		if (h.producer_id == -1)
			continue;
		if (h.producer_id < 0 || h.producer_epoch < 0 || h.base_sequence < 0)
			return ST_ERR_INVALID_RECORD;
		int32_t first_seq = h.base_sequence;
		int32_t last_seq = seq_add(first_seq, h.last_offset_delta);

		st_producer *e = pupdate_find(up, h.producer_id);
		const st_producer *cur = e ? e : st__pstate_find(ps, h.producer_id);
		if (cur) {
			if (h.producer_epoch < cur->producer_epoch)
				return ST_ERR_INVALID_PRODUCER_EPOCH;
			if (h.producer_epoch == cur->producer_epoch) {
				for (int i = 0; i < cur->n_batches; i++) {
					const st_producer_batch *b = &cur->batches[i];
					if (b->first_seq == first_seq && b->last_seq == last_seq) {
						up->dup_first = b->first_offset;
						up->dup_last = b->last_offset;
						return 1;
					}
				}
				if (!in_sequence(cur->batches[cur->n_batches - 1].last_seq, first_seq))
					return ST_ERR_OUT_OF_ORDER_SEQUENCE;
			} else if (first_seq != 0) {
				return ST_ERR_OUT_OF_ORDER_SEQUENCE;
			}
		}
		if (!e) {
			if (!(e = pupdate_add(up)))
				return -ENOMEM;
			if (cur) {
				*e = *cur;
			} else {
				memset(e, 0, sizeof(*e));
				e->producer_id = h.producer_id;
				e->producer_epoch = h.producer_epoch;
				e->last_timestamp = now_ms;
			}
		}
		entry_add_batch(e, h.producer_epoch, first_seq, last_seq, first_off, last_off, now_ms);
	}
	return 0;
}

void st__pstate_apply(st__pstate *ps, const st__pupdate *up)
{
	for (size_t i = 0; i < up->n; i++)
		st__pstate_put(ps, &up->e[i]);
}

int st__pstate_replay(st__pstate *ps, const kp_batch_header *h, int64_t now_ms)
{
	if (h->producer_id < 0 || h->producer_epoch < 0 || h->base_sequence < 0)
		return 0;
	if (st__pstate_reserve(ps, 1) < 0)
		return -ENOMEM;
	st_producer *cur = st__pstate_find(ps, h->producer_id), e;
	/* An older epoch in the log cannot pass the append checks; if one is
	 * there anyway (written before these checks existed) the newer epoch
	 * stays. */
	if (cur && h->producer_epoch < cur->producer_epoch)
		return 0;
	if (cur) {
		e = *cur;
	} else {
		memset(&e, 0, sizeof(e));
		e.producer_id = h->producer_id;
		e.producer_epoch = h->producer_epoch;
	}
	entry_add_batch(&e, h->producer_epoch, h->base_sequence,
			seq_add(h->base_sequence, h->last_offset_delta), h->base_offset,
			kp_batch_last_offset(h), now_ms);
	st__pstate_put(ps, &e);
	return 0;
}

static bool keep_below(st_producer *p, void *arg)
{
	int64_t end = *(const int64_t *)arg;

	while (p->n_batches > 0 && p->batches[p->n_batches - 1].first_offset >= end)
		p->n_batches--;
	return p->n_batches > 0;
}

void st__pstate_truncate(st__pstate *ps, int64_t end)
{
	st__pstate_filter(ps, keep_below, &end);
}

struct evict_arg {
	int64_t start, idle_before;
};

static bool keep_live(st_producer *p, void *arg)
{
	const struct evict_arg *ea = arg;

	if (p->batches[p->n_batches - 1].last_offset < ea->start)
		return false;
	return ea->idle_before < 0 || p->last_timestamp >= ea->idle_before;
}

void st__pstate_evict(st__pstate *ps, int64_t start, int64_t idle_before)
{
	struct evict_arg ea = { start, idle_before };

	st__pstate_filter(ps, keep_live, &ea);
}

/* -------------------------------------------------------------- snapshots */

int st__pstate_encode(const st__pstate *ps, int64_t offset, uint8_t **buf, size_t *len)
{
	size_t size = HEADER_SIZE + ps->n * ENTRY_SIZE + TRAILER_SIZE;
	uint8_t *b = calloc(1, size), *p;

	*buf = NULL;
	*len = 0;
	if (!b)
		return -ENOMEM;
	memcpy(b, SNAP_MAGIC, 4);
	kp_store_be16(b + 4, SNAP_VERSION);
	kp_store_be64(b + 8, (uint64_t)offset);
	kp_store_be32(b + 16, (uint32_t)ps->n);
	p = b + HEADER_SIZE;
	for (size_t i = 0; i < ps->cap; i++) {
		const st_producer *e = &ps->slots[i];
		if (e->producer_id < 0)
			continue;
		kp_store_be64(p, (uint64_t)e->producer_id);
		kp_store_be64(p + 8, (uint64_t)e->last_timestamp);
		kp_store_be16(p + 16, (uint16_t)e->producer_epoch);
		p[18] = (uint8_t)e->n_batches;
		for (int k = 0; k < e->n_batches; k++) {
			uint8_t *q = p + 24 + (size_t)k * BATCH_SIZE;
			kp_store_be32(q, (uint32_t)e->batches[k].first_seq);
			kp_store_be32(q + 4, (uint32_t)e->batches[k].last_seq);
			kp_store_be64(q + 8, (uint64_t)e->batches[k].first_offset);
			kp_store_be64(q + 16, (uint64_t)e->batches[k].last_offset);
		}
		p += ENTRY_SIZE;
	}
	assert((size_t)(p - b) == size - TRAILER_SIZE);
	kp_store_be64(p, XXH64(b, size - TRAILER_SIZE, 0));
	*buf = b;
	*len = size;
	return 0;
}

int st__pstate_decode(const uint8_t *buf, size_t len, int64_t *offset, st__pstate *out)
{
	if (len < HEADER_SIZE + TRAILER_SIZE || memcmp(buf, SNAP_MAGIC, 4) != 0 ||
	    kp_load_be16(buf + 4) != SNAP_VERSION)
		return ST_ERR_CORRUPT;
	if (kp_load_be64(buf + len - TRAILER_SIZE) != XXH64(buf, len - TRAILER_SIZE, 0))
		return ST_ERR_CORRUPT;
	int64_t off = (int64_t)kp_load_be64(buf + 8);
	uint32_t count = kp_load_be32(buf + 16);
	if (off < 0 || (len - HEADER_SIZE - TRAILER_SIZE) % ENTRY_SIZE != 0 ||
	    (len - HEADER_SIZE - TRAILER_SIZE) / ENTRY_SIZE != count)
		return ST_ERR_CORRUPT;
	if (st__pstate_reserve(out, count) < 0)
		return -ENOMEM;
	const uint8_t *p = buf + HEADER_SIZE;
	for (uint32_t i = 0; i < count; i++, p += ENTRY_SIZE) {
		st_producer e;
		memset(&e, 0, sizeof(e));
		e.producer_id = (int64_t)kp_load_be64(p);
		e.last_timestamp = (int64_t)kp_load_be64(p + 8);
		e.producer_epoch = (int16_t)kp_load_be16(p + 16);
		e.n_batches = p[18];
		if (e.producer_id < 0 || e.producer_epoch < 0 || e.n_batches < 1 ||
		    e.n_batches > ST_PRODUCER_BATCHES || st__pstate_find(out, e.producer_id))
			goto corrupt;
		int64_t prev = -1;
		for (int k = 0; k < e.n_batches; k++) {
			const uint8_t *q = p + 24 + (size_t)k * BATCH_SIZE;
			st_producer_batch *b = &e.batches[k];
			b->first_seq = (int32_t)kp_load_be32(q);
			b->last_seq = (int32_t)kp_load_be32(q + 4);
			b->first_offset = (int64_t)kp_load_be64(q + 8);
			b->last_offset = (int64_t)kp_load_be64(q + 16);
			if (b->first_seq < 0 || b->last_seq < 0 || b->first_offset <= prev ||
			    b->last_offset < b->first_offset || b->last_offset >= off)
				goto corrupt;
			prev = b->last_offset;
		}
		st__pstate_put(out, &e);
	}
	*offset = off;
	return 0;
corrupt:
	st__pstate_free(out);
	return ST_ERR_CORRUPT;
}

/* Reads a whole file (at most SNAP_MAX_BYTES). *buf malloc'ed. */
static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	*buf = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > SNAP_MAX_BYTES) {
		rc = ST_ERR_CORRUPT;
		goto out;
	}
	*len = (size_t)st.st_size;
	if (!(*buf = malloc(*len ? *len : 1))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t got = 0; got < *len;) {
		ssize_t n = pread(fd, *buf + got, *len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : ST_ERR_CORRUPT;
			break;
		}
		got += (size_t)n;
	}
out:
	close(fd);
	if (rc < 0) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

int st_snapshot_read(const char *path, int64_t *offset, st_producer **out, size_t *n)
{
	uint8_t *buf;
	size_t len = 0;
	st__pstate ps;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = read_file(path, &buf, &len)) < 0)
		return rc;
	st__pstate_init(&ps);
	rc = st__pstate_decode(buf, len, offset, &ps);
	free(buf);
	if (rc < 0)
		return rc;
	if (ps.n > 0 && !(*out = malloc(ps.n * sizeof(**out)))) {
		st__pstate_free(&ps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ps.cap; i++)
		if (ps.slots[i].producer_id >= 0)
			(*out)[(*n)++] = ps.slots[i];
	st__pstate_free(&ps);
	return 0;
}

int st_log_producers(st_log *log, st_producer **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&log->mu);
	const st__pstate *ps = &log->producers;
	if (ps->n > 0 && !(*out = malloc(ps->n * sizeof(**out)))) {
		pthread_mutex_unlock(&log->mu);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ps->cap; i++)
		if (ps->slots[i].producer_id >= 0)
			(*out)[(*n)++] = ps->slots[i];
	pthread_mutex_unlock(&log->mu);
	return 0;
}

/* ---------------------------------------------------- snapshot files */

/* "<20 digits>.snapshot" -> offset, or -1. */
static int64_t snapshot_name_offset(const char *name)
{
	size_t len = strlen(name);

	if (len != 20 + 9 || strcmp(name + 20, ".snapshot") != 0)
		return -1;
	int64_t v = 0;
	for (size_t i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

static int cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x > y ? -1 : x < y;
}

/* The snapshot offsets in the log directory, newest first. *out malloc'ed. */
static int snapshots_list(const char *dir, int64_t **out, size_t *n)
{
	size_t cap = 0;
	DIR *d = opendir(dir);

	*out = NULL;
	*n = 0;
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		int64_t off = snapshot_name_offset(e->d_name);
		if (off < 0)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			int64_t *a = realloc(*out, ncap * sizeof(*a));
			if (!a) {
				closedir(d);
				free(*out);
				*out = NULL;
				return -ENOMEM;
			}
			*out = a;
			cap = ncap;
		}
		(*out)[(*n)++] = off;
	}
	closedir(d);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), cmp_desc);
	return 0;
}

/* Remembers buf as the newest snapshot on disk (st__snapshot_is_saved), or
 * forgets what was remembered when buf is NULL or too large to keep. */
static void snapshot_remember(st_log *log, const uint8_t *buf, size_t len)
{
	free(log->snap_saved);
	log->snap_saved = NULL;
	log->snap_saved_len = 0;
	if (!buf || len > ST__SNAPSHOT_KEPT_MAX || !(log->snap_saved = malloc(len)))
		return;
	memcpy(log->snap_saved, buf, len);
	log->snap_saved_len = len;
}

bool st__snapshot_is_saved(const st_log *log, const uint8_t *buf, size_t len)
{
	return log->snap_saved && log->snap_saved_len == len &&
	       memcmp(log->snap_saved, buf, len) == 0;
}

static void snapshot_unlink(st_log *log, int64_t off)
{
	char name[ST__NAME_MAX], path[4096];

	if (log->snap_saved && (int64_t)kp_load_be64(log->snap_saved + 8) == off)
		snapshot_remember(log, NULL, 0);

	st_segment_filename(name, sizeof(name), off, ".snapshot");
	if (st__path(path, sizeof(path), "%s/%s", log->dir, name) == 0 && unlink(path) < 0 &&
	    errno != ENOENT)
		st__logf(log->store, ST_LOG_WARN, "%s: cannot remove: %s", path, st_strerror(-errno));
}

int st__snapshot_write(st_log *log, int64_t offset, const uint8_t *buf, size_t len)
{
	char name[ST__NAME_MAX], path[4096];
	int rc;

	/* Forgotten first: a failed write may leave either file behind. */
	snapshot_remember(log, NULL, 0);
	st_segment_filename(name, sizeof(name), offset, ".snapshot");
	if ((rc = st__path(path, sizeof(path), "%s/%s", log->dir, name)) < 0 ||
	    (rc = st__replace_file(path, buf, len)) < 0)
		return rc;
	snapshot_remember(log, buf, len);
	return 0;
}

void st__snapshots_prune(st_log *log, size_t keep, int64_t below)
{
	int64_t *offs;
	size_t n;

	if (snapshots_list(log->dir, &offs, &n) < 0)
		return;  /* only disk space is at stake; the next prune retries */
	for (size_t i = 0; i < n; i++)
		if (i >= keep || (offs[i] < below && i > 0))
			snapshot_unlink(log, offs[i]);
	free(offs);
}

/* Replays the batch headers of [from, log end) into log->producers. */
static int replay(st_log *log, int64_t from, int64_t now_ms)
{
	for (size_t i = 0; i < log->nsegs; i++) {
		st__segment *seg = log->segs[i];
		if (i + 1 < log->nsegs && log->segs[i + 1]->base <= from)
			continue;
		kp_batch_header h;
		int64_t at;
		st__scan sc;
		int fd, rc;

		pthread_mutex_lock(&seg->mu);
		if ((rc = st__segment_fd_locked(seg, &fd)) < 0) {
			pthread_mutex_unlock(&seg->mu);
			return rc;
		}
		st__scan_init(&sc, fd, 0, seg->size);
		while ((rc = st__scan_next(&sc, false, &h, &at, NULL)) == 1) {
			if (kp_batch_last_offset(&h) < from)
				continue;
			if ((rc = st__pstate_replay(&log->producers, &h, now_ms)) < 0)
				break;
		}
		st__scan_free(&sc);
		pthread_mutex_unlock(&seg->mu);
		/* Recovery has just validated (or trusted) these bytes; a
		 * header that no longer parses is damage, reported as such. */
		if (rc < 0)
			return rc;
	}
	return 0;
}

int st__log_load_producers(st_log *log, int64_t now_ms)
{
	int64_t *offs, from = log->segs[0]->base, snap = -1;
	size_t n;
	int rc;

	if ((rc = snapshots_list(log->dir, &offs, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char name[ST__NAME_MAX], path[4096];
		uint8_t *buf;
		size_t len = 0;
		int64_t off;

		if (snap >= 0 || offs[i] > log->end_offset) {
			/* Past the recovered end: the batches it covers are gone. */
			if (offs[i] > log->end_offset)
				snapshot_unlink(log, offs[i]);
			continue;
		}
		st_segment_filename(name, sizeof(name), offs[i], ".snapshot");
		if ((rc = st__path(path, sizeof(path), "%s/%s", log->dir, name)) < 0)
			break;
		rc = read_file(path, &buf, &len);
		if (rc == 0) {
			rc = st__pstate_decode(buf, len, &off, &log->producers);
			/* At the end: the state as the file has it, nothing to
			 * replay after it. */
			if (rc == 0 && off == offs[i] && off == log->end_offset)
				snapshot_remember(log, buf, len);
			free(buf);
			if (rc == 0 && off != offs[i]) {
				st__pstate_free(&log->producers);
				rc = ST_ERR_CORRUPT;
			}
		}
		if (rc == -ENOMEM)
			break;
		if (rc < 0) {
			st__logf(log->store, ST_LOG_WARN,
				 "%s: %s; removed, the producer state is rebuilt from the log", path,
				 st_strerror(rc));
			snapshot_unlink(log, offs[i]);
			rc = 0;
			continue;
		}
		snap = offs[i];
		if (snap > from)
			from = snap;
	}
	free(offs);
	if (rc < 0)
		return rc;
	if (snap < 0 && from == log->end_offset) {
		/* An empty log and no snapshot: the next open finds no
		 * producers either, as an empty snapshot here would say. */
		uint8_t *buf;
		size_t len;
		if (st__pstate_encode(&log->producers, log->end_offset, &buf, &len) == 0)
			snapshot_remember(log, buf, len);
		free(buf);
	}
	if (from < log->end_offset && (rc = replay(log, from, now_ms)) < 0)
		return rc;
	st__pstate_evict(&log->producers, log->start_offset, -1);
	return 0;
}
