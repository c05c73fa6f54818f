/*
 * cmd_dump_log.c -- `rewind dump-log`: print segment files as they are on
 * disk, and say what is wrong with them.
 *
 * Like Kafka's kafka-dump-log, but for rewind's own files:
 *
 *   <base>.log        RecordBatch v2 after RecordBatch v2 (format in
 *                     proto/proto.h). For each batch: its position and header
 *                     fields and whether its CRC-32C holds; with --records,
 *                     each record. Offsets missing between batches or
 *                     between records (a compacted segment keeps offsets,
 *                     not every record) print as "gap: offsets A..B absent". A tail that is not a whole, sane batch
 *                     (a crash mid-write, garbage) ends the dump with
 *                     "torn tail at position N: why".
 *   <base>.index      8-byte entries [relative offset int32 BE, position
 *                     int32 BE]: offset -> position of the batch holding it.
 *   <base>.timeindex  12-byte entries [timestamp int64 BE, relative offset
 *                     int32 BE].
 *   <offset>.snapshot idempotent producers' state below <offset> (format at
 *                     the top of storage/producer.c): each producer's id,
 *                     epoch, last append time and last batches' sequences
 *                     and offsets, read (and its xxhash checked) with
 *                     st_snapshot_read().
 *
 * For the indexes it flags entries that go backwards and, when the segment's
 * .log sits beside the index, positions past its end or not at the start of
 * the batch holding the entry's offset, and offsets past its last batch.
 *
 * The files are read with pread() and decoded with proto's bounded reader
 * and batch functions, never through st_log_open(): that would take the
 * log's lock and run recovery, which repairs (truncates) exactly what this
 * tool is meant to show. So it is safe on a live broker's directory, where
 * it sees whatever bytes are there at that instant (an active segment's tail
 * may look torn while a write is in flight). Storage is used only for its
 * segment file name helper.
 *
 * Exit status: CMD_EXIT_OK when every file was read and looks sound,
 * CMD_EXIT_PROBLEMS when some file has a problem (torn tail, CRC mismatch,
 * index anomaly), CMD_EXIT_ERROR when a file could not be read at all or the
 * command line is wrong.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/proto.h"
#include "storage/storage.h"
#include "tools/tools.h"

#define DUMP_INDEX_ENTRY 8      /* relative offset int32 + position int32 */
#define DUMP_TIMEINDEX_ENTRY 12 /* timestamp int64 + relative offset int32 */
/* A compressed batch may not inflate to more than this when printing its
 * records: the batch does not get to choose how much memory we spend. */
#define DUMP_MAX_DECOMPRESSED ((size_t)1 << 30)

enum dump_kind { KIND_UNKNOWN, KIND_LOG, KIND_INDEX, KIND_TIMEINDEX, KIND_SNAPSHOT };

struct dump_opts {
	bool records;
};

/* One batch of a segment, as needed to check an index against its .log. */
struct batch_ref {
	int64_t position;
	int64_t base_offset;
	int64_t last_offset;
	int64_t max_timestamp;
};

/* The batches of a .log found beside an index, headers only. */
struct log_map {
	bool present;
	char path[PATH_MAX];
	int64_t file_size;
	int64_t valid_end;          /* end of the last whole batch */
	struct batch_ref *batches;  /* by position; caller frees with log_map_free() */
	size_t count;
	size_t cap;
};

/* ------------------------------------------------------------- helpers */

static void dump_help(FILE *out)
{
	fprintf(out,
		"usage: rewind dump-log [--records] FILE|DIR...\n"
		"\n"
		"Prints rewind segment files as they are on disk:\n"
		"  *.log        each record batch: position, offsets, count, leader epoch,\n"
		"               producer id/epoch/sequence, flags, codec, timestamps, size and\n"
		"               whether its CRC-32C holds; stops at a torn or garbled tail\n"
		"  *.index      offset index entries (offset -> position)\n"
		"  *.timeindex  time index entries (timestamp -> offset)\n"
		"  *.snapshot   idempotent producers: id, epoch, last sequence and the\n"
		"               sequences and offsets of their last batches\n"
		"Offsets a log compaction removed are shown as 'gap: offsets A..B absent'\n"
		"(between batches, and inside batches with --records), and batches that carry\n"
		"a tombstone delete horizon show deleteHorizonMs.\n"
		"Index entries that go backwards, or that point past or beside the batches of\n"
		"the segment's .log (when it sits next to the index), are flagged 'anomaly:'.\n"
		"A DIR argument dumps every segment file in that directory, in name order.\n"
		"The files are only read, never repaired, so this is safe on a live log.\n"
		"\n"
		"options:\n"
		"  --records          also print each record: offset, timestamp, key, value,\n"
		"                     headers (printable bytes as text, others escaped \\xNN)\n"
		"  --print-data-log   same as --records (kafka-dump-log's name for it)\n"
		"  -h, --help         this text\n"
		"\n"
		"exit status: 0 all files sound, 2 some file has a problem (torn tail, CRC\n"
		"mismatch, index anomaly), 1 a file could not be read or bad arguments.\n");
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static enum dump_kind dump_kind_of(const char *path)
{
	if (ends_with(path, ".timeindex"))
		return KIND_TIMEINDEX;
	if (ends_with(path, ".index"))
		return KIND_INDEX;
	if (ends_with(path, ".log"))
		return KIND_LOG;
	if (ends_with(path, ".snapshot"))
		return KIND_SNAPSHOT;
	return KIND_UNKNOWN;
}

static const char *dump_suffix_of(enum dump_kind k)
{
	switch (k) {
	case KIND_LOG: return ".log";
	case KIND_INDEX: return ".index";
	case KIND_TIMEINDEX: return ".timeindex";
	case KIND_SNAPSHOT: return ".snapshot";
	case KIND_UNKNOWN: break;
	}
	return "";
}

/* Like pread(2) but retries short reads and EINTR: returns the bytes read
 * (fewer than n only at end of file) or -errno. */
static ssize_t pread_full(int fd, void *buf, size_t n, int64_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + (int64_t)done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* Prints bytes as a quoted string: printable ASCII as itself, the rest
 * escaped, so binary keys cannot garble the terminal or a grep. NULL with
 * len -1 is Kafka's null. */
static void print_bytes(const uint8_t *p, int32_t len)
{
	if (p == NULL || len < 0) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (int32_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		switch (c) {
		case '"': fputs("\\\"", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '\n': fputs("\\n", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		default:
			if (c >= 0x20 && c < 0x7f)
				putchar(c);
			else
				printf("\\x%02x", c);
		}
	}
	putchar('"');
}

/*
 * Reads the base offset from a segment file name: the digits before the
 * suffix. Returns false (and *base = 0) when the name is not of that form,
 * in which case index offsets are shown relative to 0.
 */
static bool parse_base_offset(const char *path, enum dump_kind kind, int64_t *base)
{
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	size_t stem = strlen(name) - strlen(dump_suffix_of(kind));
	*base = 0;
	if (stem == 0 || stem > 20)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < stem; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		int d = name[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*base = v;
	return true;
}

/* The path of the .log beside an index: storage's own name for the base
 * offset when the index has a canonical name, else the suffix swapped. */
static void sibling_log_path(char *out, size_t cap, const char *path,
			     enum dump_kind kind, bool have_base, int64_t base)
{
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path + 1) : 0;
	if (have_base) {
		char name[64];
		st_segment_filename(name, sizeof name, base, ".log");
		snprintf(out, cap, "%.*s%s", dir_len, path, name);
	} else {
		int stem = (int)(strlen(path) - strlen(dump_suffix_of(kind)));
		snprintf(out, cap, "%.*s.log", stem, path);
	}
}

static const char *codec_name(int codec)
{
	const char *n = kp_codec_name(codec);
	return n ? n : "unknown";
}

/* True when [off, end) of fd holds only zero bytes: a zero-filled tail is
 * preallocated or never-written space, which deserves a plainer message
 * than "garbled". */
static bool tail_is_zeros(int fd, int64_t off, int64_t end)
{
	uint8_t buf[65536];
	while (off < end) {
		size_t n = (size_t)(end - off < (int64_t)sizeof buf ? end - off : (int64_t)sizeof buf);
		ssize_t r = pread_full(fd, buf, n, off);
		if (r <= 0)
			return false;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != 0)
				return false;
		off += r;
	}
	return true;
}

/* The note for a bad tail that is all zeros. Called only once the bytes are
 * known bad, so a sound batch never pays for reading ahead. */
static const char *zero_note(int fd, int64_t pos, int64_t size)
{
	return tail_is_zeros(fd, pos, size) ? " (all zero bytes to the end of the file)" : "";
}

/*
 * Decides whether a whole, sane batch starts at `pos` of a file of `size`
 * bytes. On success returns 0 with *h filled (batch size kp_batch_size(h)
 * fits in the file). Returns 1 with `why` saying, for a person, what is
 * wrong with the bytes there; or -errno if the read itself failed.
 */
static int batch_at(int fd, int64_t pos, int64_t size, kp_batch_header *h,
		    char *why, size_t why_cap)
{
	int64_t left = size - pos;
	uint8_t hdr[KP_BATCH_HEADER_SIZE];
	size_t want = left < KP_BATCH_HEADER_SIZE ? (size_t)left : KP_BATCH_HEADER_SIZE;
	ssize_t r = pread_full(fd, hdr, want, pos);
	if (r < 0)
		return (int)r;
	if ((size_t)r < want) {
		snprintf(why, why_cap, "the file ended while being read (it shrank?)");
		return 1;
	}
	if (left < KP_BATCH_LOG_OVERHEAD) {
		snprintf(why, why_cap,
			 "%" PRId64 " trailing bytes, fewer than a batch's 12-byte offset and length%s",
			 left, zero_note(fd, pos, size));
		return 1;
	}
	if (left < KP_BATCH_HEADER_SIZE) {
		int32_t blen = (int32_t)kp_load_be32(hdr + KP_BATCH_OFF_LENGTH);
		snprintf(why, why_cap,
			 "%" PRId64 " trailing bytes, fewer than the 61-byte batch header "
			 "(batchLength field says %" PRId32 ")%s", left, blen, zero_note(fd, pos, size));
		return 1;
	}
	int err = kp_batch_header_parse(hdr, sizeof hdr, h);
	if (err == KP_ERR_MAGIC) {
		snprintf(why, why_cap, "magic byte is %d, expected 2%s",
			 (int)(int8_t)hdr[KP_BATCH_OFF_MAGIC], zero_note(fd, pos, size));
		return 1;
	}
	if (err != 0) {
		snprintf(why, why_cap,
			 "impossible header (%s: batchLength %" PRId32 ", lastOffsetDelta %" PRId32
			 ", records count %" PRId32 ")%s", kp_strerror(err),
			 (int32_t)kp_load_be32(hdr + KP_BATCH_OFF_LENGTH),
			 (int32_t)kp_load_be32(hdr + KP_BATCH_OFF_LAST_OFFSET_DELTA),
			 (int32_t)kp_load_be32(hdr + KP_BATCH_OFF_RECORDS_COUNT), zero_note(fd, pos, size));
		return 1;
	}
	if ((int64_t)kp_batch_size(h) > left) {
		snprintf(why, why_cap,
			 "batch of %zu bytes (baseOffset %" PRId64 ") runs past the end of the file: "
			 "only %" PRId64 " bytes remain", kp_batch_size(h), h->base_offset, left);
		return 1;
	}
	return 0;
}

/* --------------------------------------------------------------- .log */

static const char *control_type_name(int16_t t)
{
	switch (t) {
	case 0: return "ABORT";
	case 1: return "COMMIT";
	default: return "UNKNOWN";
	}
}

static void print_record(const kp_record *rec, bool control)
{
	printf("| offset: %" PRId64 " timestamp: %" PRId64 " keySize: %" PRId32
	       " valueSize: %" PRId32 " key: ", rec->offset, rec->timestamp,
	       rec->key_len, rec->value_len);
	print_bytes(rec->key, rec->key_len);
	fputs(" value: ", stdout);
	print_bytes(rec->value, rec->value_len);
	fputs(" headers: [", stdout);
	size_t hpos = 0;
	kp_header hd;
	int n = 0, hr;
	while ((hr = kp_record_header_next(rec, &hpos, &hd)) == 1) {
		if (n++)
			fputs(", ", stdout);
		print_bytes(hd.key, hd.key_len);
		putchar('=');
		print_bytes(hd.value, hd.value_len);
	}
	putchar(']');
	if (hr < 0)
		printf(" (headers garbled: %s)", kp_strerror(hr));
	/* A control record's key is (version int16, type int16): say which
	 * transaction marker it is rather than leaving four escaped bytes. */
	if (control && rec->key != NULL && rec->key_len >= 4)
		printf(" control: %s", control_type_name((int16_t)kp_load_be16(rec->key + 2)));
	putchar('\n');
}

/* Prints the records of one batch; returns the number of problems found. */
static int print_records(const uint8_t *batch, size_t size, const kp_batch_header *h)
{
	kp_record_iter it;
	int err = kp_record_iter_init(&it, batch, size, DUMP_MAX_DECOMPRESSED);
	if (err != 0) {
		printf("| records not decoded: %s\n", kp_strerror(err));
		return 1;
	}
	bool control = (h->attributes & KP_ATTR_CONTROL) != 0;
	kp_record rec;
	int32_t seen = 0;
	int problems = 0;
	int64_t next = h->base_offset;
	while ((err = kp_record_iter_next(&it, &rec)) == 1) {
		/* Offsets a compaction removed from inside the batch. */
		if (rec.offset > next)
			printf("| gap: offsets %" PRId64 "..%" PRId64 " absent (compacted away)\n",
			       next, rec.offset - 1);
		print_record(&rec, control);
		next = rec.offset + 1;
		seen++;
	}
	if (err == 0 && next <= kp_batch_last_offset(h))
		printf("| gap: offsets %" PRId64 "..%" PRId64 " absent (compacted away)\n", next,
		       kp_batch_last_offset(h));
	if (err < 0) {
		printf("| records garbled after %" PRId32 " of %" PRId32 ": %s\n",
		       seen, h->records_count, kp_strerror(err));
		problems++;
	}
	kp_record_iter_free(&it);
	return problems;
}

static int dump_log_fd(int fd, const char *path, int64_t size, const struct dump_opts *o,
		       int *problems)
{
	int64_t name_base;
	bool have_base = parse_base_offset(path, KIND_LOG, &name_base);
	printf("Dumping %s (%" PRId64 " bytes)\n", path, size);
	if (have_base)
		printf("Log starting offset: %" PRId64 "\n", name_base);

	uint8_t *buf = NULL;
	size_t buf_cap = 0;
	int64_t pos = 0, batches = 0, records = 0, prev_last = -1, absent = 0;
	int rc = 0;
	while (pos < size) {
		kp_batch_header h;
		char why[256];
		int err = batch_at(fd, pos, size, &h, why, sizeof why);
		if (err < 0) {
			fprintf(stderr, "rewind dump-log: cannot read %s at position %" PRId64
				": %s; check the disk and permissions\n", path, pos, strerror(-err));
			rc = -1;
			break;
		}
		if (err == 1) {
			printf("torn tail at position %" PRId64 ": %s; the %" PRId64
			       " bytes from there are not whole batches (storage's recovery "
			       "truncates such a tail when it opens the log after an unclean "
			       "shutdown)\n", pos, why, size - pos);
			(*problems)++;
			break;
		}

		size_t bsize = kp_batch_size(&h);
		if (bsize > buf_cap) {
			uint8_t *nb = realloc(buf, bsize);
			if (nb == NULL) {
				fprintf(stderr, "rewind dump-log: out of memory reading a %zu-byte batch "
					"at position %" PRId64 " of %s\n", bsize, pos, path);
				rc = -1;
				break;
			}
			buf = nb;
			buf_cap = bsize;
		}
		ssize_t r = pread_full(fd, buf, bsize, pos);
		if (r < 0 || (size_t)r < bsize) {
			fprintf(stderr, "rewind dump-log: cannot read the batch at position %" PRId64
				" of %s: %s; check the disk and permissions\n", pos, path,
				r < 0 ? strerror((int)-r) : "file shrank while reading");
			rc = -1;
			break;
		}
		uint32_t computed = kp_crc32c(0, buf + KP_BATCH_CRC_START, bsize - KP_BATCH_CRC_START);
		bool crc_ok = computed == h.crc;

		/* A compacted segment keeps offsets but not every record: say where
		 * whole batches went (and, in the summary, how many offsets). */
		int64_t from = batches == 0 ? (have_base ? name_base : h.base_offset) : prev_last + 1;
		if (h.base_offset > from) {
			printf("gap: offsets %" PRId64 "..%" PRId64 " absent (compacted away)\n", from,
			       h.base_offset - 1);
			absent += h.base_offset - from;
		}
		if (kp_batch_last_offset(&h) - h.base_offset + 1 > h.records_count)
			absent += kp_batch_last_offset(&h) - h.base_offset + 1 - h.records_count;
		printf("position: %" PRId64 " baseOffset: %" PRId64 " lastOffset: %" PRId64
		       " count: %" PRId32 " partitionLeaderEpoch: %" PRId32
		       " producerId: %" PRId64 " producerEpoch: %d baseSequence: %" PRId32
		       " isTransactional: %s isControl: %s codec: %s timestampType: %s"
		       " baseTimestamp: %" PRId64 " maxTimestamp: %" PRId64 " size: %zu",
		       pos, h.base_offset, kp_batch_last_offset(&h), h.records_count,
		       h.partition_leader_epoch, h.producer_id, (int)h.producer_epoch,
		       h.base_sequence,
		       (h.attributes & KP_ATTR_TRANSACTIONAL) ? "true" : "false",
		       (h.attributes & KP_ATTR_CONTROL) ? "true" : "false",
		       codec_name(kp_batch_codec(&h)),
		       (h.attributes & KP_ATTR_LOG_APPEND_TIME) ? "LogAppendTime" : "CreateTime",
		       h.base_timestamp, h.max_timestamp, bsize);
		/* KIP-534: baseTimestamp holds the tombstones' delete horizon. */
		if (h.attributes & 0x40)
			printf(" deleteHorizonMs: %" PRId64, h.base_timestamp);
		if (crc_ok)
			printf(" crc: valid (0x%08" PRIx32 ")\n", h.crc);
		else
			printf(" crc: INVALID (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 ")\n",
			       h.crc, computed);
		if (!crc_ok)
			(*problems)++;
		if (h.base_offset <= prev_last) {
			printf("anomaly: baseOffset %" PRId64 " is not above the previous batch's "
			       "lastOffset %" PRId64 "\n", h.base_offset, prev_last);
			(*problems)++;
		} else if (batches == 0 && have_base && h.base_offset < name_base) {
			printf("anomaly: first baseOffset %" PRId64 " is below the segment's base "
			       "offset %" PRId64 " (from its name)\n", h.base_offset, name_base);
			(*problems)++;
		}
		if (o->records)
			*problems += print_records(buf, bsize, &h);

		prev_last = kp_batch_last_offset(&h);
		batches++;
		records += h.records_count;
		pos += (int64_t)bsize;
	}
	free(buf);
	if (rc == 0 && absent > 0)
		printf("%" PRId64 " batches, %" PRId64 " records, %" PRId64 " bytes of whole batches, "
		       "%" PRId64 " offsets absent (compacted away)\n", batches, records, pos, absent);
	else if (rc == 0)
		printf("%" PRId64 " batches, %" PRId64 " records, %" PRId64 " bytes of whole batches\n",
		       batches, records, pos);
	return rc;
}

/* ------------------------------------------------------------ indexes */

static void log_map_free(struct log_map *m)
{
	free(m->batches);
	m->batches = NULL;
	m->count = m->cap = 0;
}

/* Loads the batch positions and offsets of the .log beside an index.
 * A missing .log is not an error (m->present stays false); an unreadable
 * one is reported and treated as missing. */
static void log_map_load(struct log_map *m, const char *log_path)
{
	memset(m, 0, sizeof *m);
	snprintf(m->path, sizeof m->path, "%s", log_path);
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return;
	}
	m->present = true;
	m->file_size = st.st_size;
	int64_t pos = 0;
	while (pos < m->file_size) {
		kp_batch_header h;
		char why[256];
		if (batch_at(fd, pos, m->file_size, &h, why, sizeof why) != 0)
			break;
		if (m->count == m->cap) {
			size_t ncap = m->cap ? m->cap * 2 : 256;
			struct batch_ref *nb = realloc(m->batches, ncap * sizeof *nb);
			if (nb == NULL) {
				fprintf(stderr, "rewind dump-log: out of memory mapping %s; "
					"index entries are checked against its size only\n", log_path);
				log_map_free(m);
				break;
			}
			m->batches = nb;
			m->cap = ncap;
		}
		m->batches[m->count++] = (struct batch_ref){ pos, h.base_offset,
							    kp_batch_last_offset(&h),
							    h.max_timestamp };
		pos += (int64_t)kp_batch_size(&h);
	}
	m->valid_end = pos;
	close(fd);
}

/* The batch starting exactly at `position`, or NULL. */
static const struct batch_ref *log_map_at(const struct log_map *m, int64_t position)
{
	size_t lo = 0, hi = m->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->batches[mid].position < position)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->count && m->batches[lo].position == position ? &m->batches[lo] : NULL;
}

/* The batch whose baseOffset is `offset`, or NULL. Base offsets increase
 * with position in a sound log, so the same binary search works. */
static const struct batch_ref *log_map_base(const struct log_map *m, int64_t offset)
{
	size_t lo = 0, hi = m->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->batches[mid].base_offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->count && m->batches[lo].base_offset == offset ? &m->batches[lo] : NULL;
}

static int read_whole(int fd, const char *path, int64_t size, uint8_t **out)
{
	*out = malloc(size > 0 ? (size_t)size : 1);
	if (*out == NULL) {
		fprintf(stderr, "rewind dump-log: out of memory reading %s (%" PRId64 " bytes)\n",
			path, size);
		return -1;
	}
	ssize_t r = pread_full(fd, *out, (size_t)size, 0);
	if (r < 0 || r < size) {
		fprintf(stderr, "rewind dump-log: cannot read %s: %s; check the disk and permissions\n",
			path, r < 0 ? strerror((int)-r) : "file shrank while reading");
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static void print_log_note(const struct log_map *m)
{
	if (m->present)
		printf("Checking against %s (%" PRId64 " bytes, %zu whole batches)\n",
		       m->path, m->file_size, m->count);
	else
		printf("No %s beside it: positions are not checked against the log\n", m->path);
}

/* What both index dumps start from: the entries, the base offset from the
 * file name, and a map of the .log beside it (when there is one). */
struct index_file {
	int64_t base;
	uint8_t *data;
	size_t n;                     /* whole entries */
	struct log_map m;
};

/* Reads an index file and its sibling .log's map, printing the heading.
 * 0, or -1 when the file cannot be read (already said). */
static int index_file_open(struct index_file *f, int fd, const char *path, int64_t size,
			   enum dump_kind kind, size_t entry_size)
{
	char log_path[PATH_MAX];
	bool have_base = parse_base_offset(path, kind, &f->base);

	sibling_log_path(log_path, sizeof log_path, path, kind, have_base, f->base);
	f->n = (size_t)size / entry_size;
	printf("Dumping %s (%" PRId64 " bytes, %zu entries, base offset %" PRId64 "%s)\n",
	       path, size, f->n, f->base,
	       have_base ? "" : " -- name has no base offset, shown relative");
	if (read_whole(fd, path, size, &f->data) != 0)
		return -1;
	log_map_load(&f->m, log_path);
	print_log_note(&f->m);
	return 0;
}

static void index_file_close(struct index_file *f)
{
	log_map_free(&f->m);
	free(f->data);
}

static int dump_index_fd(int fd, const char *path, int64_t size, int *problems)
{
	struct index_file f;
	if (index_file_open(&f, fd, path, size, KIND_INDEX, DUMP_INDEX_ENTRY) != 0)
		return -1;
	const struct log_map *mp = &f.m;
	const uint8_t *data = f.data;
	int64_t base = f.base;
	size_t shown = f.n;
	int64_t prev_off = -1, prev_pos = -1;
	for (size_t i = 0; i < shown; i++) {
		const uint8_t *e = data + i * DUMP_INDEX_ENTRY;
		int32_t rel = (int32_t)kp_load_be32(e);
		int32_t position = (int32_t)kp_load_be32(e + 4);
		int64_t off = base + rel;
		printf("offset: %" PRId64 " position: %" PRId32 "\n", off, position);
		if (rel < 0 || position < 0) {
			printf("anomaly: entry %zu has a negative relative offset or position\n", i);
			(*problems)++;
		}
		if (off <= prev_off) {
			printf("anomaly: entry %zu offset %" PRId64 " is not above the previous "
			       "entry's %" PRId64 " (index entries must increase)\n", i, off, prev_off);
			(*problems)++;
		}
		if (position <= prev_pos) {
			printf("anomaly: entry %zu position %" PRId32 " is not above the previous "
			       "entry's %" PRId64 " (index entries must increase)\n", i, position, prev_pos);
			(*problems)++;
		}
		if (mp->present && position >= mp->file_size) {
			printf("anomaly: entry %zu position %" PRId32 " is beyond the end of %s (%"
			       PRId64 " bytes)\n", i, position, mp->path, mp->file_size);
			(*problems)++;
		} else if (mp->present && position >= 0 && position < mp->valid_end) {
			const struct batch_ref *b = log_map_at(mp, position);
			if (b == NULL) {
				printf("anomaly: entry %zu position %" PRId32 " is not the start of a "
				       "batch in %s\n", i, position, mp->path);
				(*problems)++;
			} else if (off != b->base_offset) {
				/* Storage keys an entry by the base offset of the
				 * batch at its position (storage/index.c). */
				printf("anomaly: entry %zu offset %" PRId64 " is not the baseOffset of "
				       "the batch at position %" PRId32 " (offsets %" PRId64 "..%" PRId64
				       ")\n", i, off, position, b->base_offset, b->last_offset);
				(*problems)++;
			}
		} else if (mp->present && position >= 0) {
			printf("anomaly: entry %zu position %" PRId32 " is in the torn tail of %s "
			       "(whole batches end at %" PRId64 ")\n", i, position, mp->path, mp->valid_end);
			(*problems)++;
		}
		prev_off = off;
		prev_pos = position;
	}
	if (size % DUMP_INDEX_ENTRY) {
		printf("anomaly: %" PRId64 " trailing bytes, not a whole 8-byte entry\n",
		       size % DUMP_INDEX_ENTRY);
		(*problems)++;
	}
	printf("%zu entries\n", shown);
	index_file_close(&f);
	return 0;
}

static int dump_timeindex_fd(int fd, const char *path, int64_t size, int *problems)
{
	struct index_file f;
	if (index_file_open(&f, fd, path, size, KIND_TIMEINDEX, DUMP_TIMEINDEX_ENTRY) != 0)
		return -1;
	const struct log_map *mp = &f.m;
	const uint8_t *data = f.data;
	int64_t base = f.base;
	int64_t log_last = mp->count ? mp->batches[mp->count - 1].last_offset : -1;
	size_t shown = f.n;
	int64_t prev_ts = INT64_MIN, prev_off = -1;
	for (size_t i = 0; i < shown; i++) {
		const uint8_t *e = data + i * DUMP_TIMEINDEX_ENTRY;
		int64_t ts = (int64_t)kp_load_be64(e);
		int32_t rel = (int32_t)kp_load_be32(e + 8);
		int64_t off = base + rel;
		printf("timestamp: %" PRId64 " offset: %" PRId64 "\n", ts, off);
		if (rel < 0) {
			printf("anomaly: entry %zu has a negative relative offset\n", i);
			(*problems)++;
		}
		if (ts <= prev_ts) {
			printf("anomaly: entry %zu timestamp %" PRId64 " is not above the previous "
			       "entry's %" PRId64 " (time index timestamps must increase)\n",
			       i, ts, prev_ts);
			(*problems)++;
		}
		if (off < prev_off) {
			printf("anomaly: entry %zu offset %" PRId64 " is below the previous "
			       "entry's %" PRId64 " (time index entries must not go back)\n",
			       i, off, prev_off);
			(*problems)++;
		}
		if (mp->present && off > log_last) {
			printf("anomaly: entry %zu offset %" PRId64 " is beyond the last offset in %s (%s%"
			       PRId64 ")\n", i, off, mp->path, mp->count ? "" : "no batches, ", log_last);
			(*problems)++;
		} else if (mp->present && rel >= 0) {
			/* An entry names the batch that first reached its
			 * timestamp (storage/index.c): that batch's maxTimestamp
			 * is the entry's timestamp. */
			const struct batch_ref *b = log_map_base(mp, off);
			if (b == NULL) {
				printf("anomaly: entry %zu offset %" PRId64 " is not the baseOffset of a "
				       "batch in %s\n", i, off, mp->path);
				(*problems)++;
			} else if (b->max_timestamp != ts) {
				printf("anomaly: entry %zu timestamp %" PRId64 " differs from the "
				       "maxTimestamp %" PRId64 " of the batch at offset %" PRId64 "\n",
				       i, ts, b->max_timestamp, off);
				(*problems)++;
			}
		}
		prev_ts = ts;
		prev_off = off;
	}
	if (size % DUMP_TIMEINDEX_ENTRY) {
		printf("anomaly: %" PRId64 " trailing bytes, not a whole 12-byte entry\n",
		       size % DUMP_TIMEINDEX_ENTRY);
		(*problems)++;
	}
	printf("%zu entries\n", shown);
	index_file_close(&f);
	return 0;
}

/* ---------------------------------------------------------- per file */

/* Prints a producer-state snapshot. 0, or -1 when it cannot be read (a
 * file that does not check out is a problem, not an error). */
static int dump_snapshot(const char *path, int64_t size, int *problems)
{
	st_producer *ps;
	size_t n;
	int64_t offset;
	int rc = st_snapshot_read(path, &offset, &ps, &n);

	printf("Dumping %s (%" PRId64 " bytes)\n", path, size);
	if (rc == ST_ERR_CORRUPT) {
		printf("corrupt snapshot: bad magic, version, size, field or xxhash checksum "
		       "(the broker ignores it and rebuilds the producer state from the log)\n");
		(*problems)++;
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "rewind dump-log: cannot read %s: %s\n", path, st_strerror(rc));
		return -1;
	}
	printf("producer state below offset %" PRId64 ": %zu producer%s\n", offset, n,
	       n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		const st_producer *p = &ps[i];
		printf("producerId: %" PRId64 " producerEpoch: %d lastSequence: %" PRId32
		       " lastTimestamp: %" PRId64 " batches:", p->producer_id, p->producer_epoch,
		       p->batches[p->n_batches - 1].last_seq, p->last_timestamp);
		for (int k = 0; k < p->n_batches; k++)
			printf(" [seq %" PRId32 "-%" PRId32 " offsets %" PRId64 "-%" PRId64 "]",
			       p->batches[k].first_seq, p->batches[k].last_seq,
			       p->batches[k].first_offset, p->batches[k].last_offset);
		putchar('\n');
	}
	free(ps);
	return 0;
}

/* Dumps one segment file; returns a cmd_exit. */
static int dump_file(const char *path, const struct dump_opts *o)
{
	enum dump_kind kind = dump_kind_of(path);
	if (kind == KIND_UNKNOWN) {
		fprintf(stderr, "rewind dump-log: %s: unknown file kind; dump-log reads files "
			"ending in .log (record batches), .index (offset index), .timeindex "
			"(time index) or .snapshot (producer state)\n", path);
		return CMD_EXIT_ERROR;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		fprintf(stderr, "rewind dump-log: cannot open %s: %s; %s\n", path, strerror(e),
			e == ENOENT ? "check the path (segment files are named <20-digit base offset>.log, "
				      ".index, .timeindex inside a <topic>-<partition> directory)"
				    : "check the file's permissions");
		return CMD_EXIT_ERROR;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		fprintf(stderr, "rewind dump-log: cannot stat %s: %s; check the file\n", path, strerror(e));
		close(fd);
		return CMD_EXIT_ERROR;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "rewind dump-log: %s is not a regular file; pass segment files "
			"(or their directory)\n", path);
		close(fd);
		return CMD_EXIT_ERROR;
	}
	int problems = 0, rc;
	switch (kind) {
	case KIND_LOG: rc = dump_log_fd(fd, path, st.st_size, o, &problems); break;
	case KIND_INDEX: rc = dump_index_fd(fd, path, st.st_size, &problems); break;
	case KIND_SNAPSHOT: rc = dump_snapshot(path, st.st_size, &problems); break;
	default: rc = dump_timeindex_fd(fd, path, st.st_size, &problems); break;
	}
	close(fd);
	if (rc != 0)
		return CMD_EXIT_ERROR;
	if (problems) {
		printf("%d problem%s found in %s\n", problems, problems == 1 ? "" : "s", path);
		return CMD_EXIT_PROBLEMS;
	}
	return CMD_EXIT_OK;
}

/* Combines two exit statuses: an error beats problems beats ok. */
static int worst(int a, int b)
{
	if (a == CMD_EXIT_ERROR || b == CMD_EXIT_ERROR)
		return CMD_EXIT_ERROR;
	if (a == CMD_EXIT_PROBLEMS || b == CMD_EXIT_PROBLEMS)
		return CMD_EXIT_PROBLEMS;
	return CMD_EXIT_OK;
}

/* Orders segment files by name without the suffix (offset order, the
 * names being zero-padded base offsets), then .log before its indexes. */
static int name_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	enum dump_kind kx = dump_kind_of(x), ky = dump_kind_of(y);
	size_t sx = strlen(x) - strlen(dump_suffix_of(kx));
	size_t sy = strlen(y) - strlen(dump_suffix_of(ky));
	int c = strncmp(x, y, sx < sy ? sx : sy);
	if (c != 0)
		return c;
	if (sx != sy)
		return sx < sy ? -1 : 1;
	return (int)kx - (int)ky;
}

/* Dumps every segment file of a directory, segment by segment; returns a
 * cmd_exit. */
static int dump_dir(const char *dir, const struct dump_opts *o)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		int e = errno;
		fprintf(stderr, "rewind dump-log: cannot list %s: %s; check the path and permissions\n",
			dir, strerror(e));
		return CMD_EXIT_ERROR;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = CMD_EXIT_OK;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || dump_kind_of(de->d_name) == KIND_UNKNOWN)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **nn = realloc(names, ncap * sizeof *nn);
			if (nn == NULL) {
				rc = CMD_EXIT_ERROR;
				break;
			}
			names = nn;
			cap = ncap;
		}
		size_t len = strlen(dir) + 1 + strlen(de->d_name) + 1;
		names[n] = malloc(len);
		if (names[n] == NULL) {
			rc = CMD_EXIT_ERROR;
			break;
		}
		snprintf(names[n], len, "%s/%s", dir, de->d_name);
		n++;
	}
	closedir(d);
	if (rc != CMD_EXIT_OK) {
		fprintf(stderr, "rewind dump-log: out of memory listing %s\n", dir);
	} else if (n == 0) {
		fprintf(stderr, "rewind dump-log: %s holds no .log, .index or .timeindex files; "
			"pass a partition directory (<topic>-<partition>)\n", dir);
		rc = CMD_EXIT_ERROR;
	} else {
		qsort(names, n, sizeof *names, name_cmp);
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				putchar('\n');
			rc = worst(rc, dump_file(names[i], o));
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int cmd_dump_log(int argc, char **argv)
{
	struct dump_opts o = { .records = false };
	int first = 1;
	for (; first < argc; first++) {
		const char *a = argv[first];
		if (strcmp(a, "--") == 0) {
			first++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			dump_help(stdout);
			return CMD_EXIT_OK;
		}
		if (strcmp(a, "--records") == 0 || strcmp(a, "--print-data-log") == 0) {
			o.records = true;
			continue;
		}
		fprintf(stderr, "rewind dump-log: unknown option '%s'; run 'rewind dump-log --help'\n", a);
		return CMD_EXIT_ERROR;
	}
	if (first >= argc) {
		fprintf(stderr, "rewind dump-log: no files given; pass segment files or a partition "
			"directory, e.g. 'rewind dump-log data/mytopic-0/00000000000000000000.log'\n");
		return CMD_EXIT_ERROR;
	}

	int rc = CMD_EXIT_OK;
	for (int i = first; i < argc; i++) {
		struct stat st;
		int r;
		if (i > first)
			putchar('\n');
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			r = dump_dir(argv[i], &o);
		else
			r = dump_file(argv[i], &o);
		rc = worst(rc, r);
		fflush(stdout);
	}
	return rc;
}
