/*
 * proto.h -- the Kafka wire format, as the rest of rewind may use it.
 *
 * proto/ knows bytes, never sockets or files. It offers:
 *   - a bounded reader (kp_reader) through which every wire and file byte is
 *     read: a read past the end sets an error flag and yields zeros, so a
 *     short frame becomes an error at the caller's check, never an overrun;
 *   - Kafka's varints (zigzag) and unsigned varints;
 *   - CRC-32C (Castagnoli), hardware accelerated on x86-64 with SSE4.2 and a
 *     portable table fallback;
 *   - RecordBatch v2 (magic 2): header parse and validation, record
 *     iteration (with decompression), and a builder that writes batches;
 *   - the compression codecs Kafka uses: none, gzip, snappy (raw and xerial
 *     framing on input, xerial framing on output, as the Java client writes),
 *     lz4 (the LZ4 frame format) and zstd.
 *
 * RecordBatch v2 on the wire and on disk (all integers big-endian):
 *
 *   offset  size  field
 *        0     8  baseOffset            assigned by the broker
 *        8     4  batchLength           bytes after this field
 *       12     4  partitionLeaderEpoch  set by the broker
 *       16     1  magic                 must be 2
 *       17     4  crc                   CRC-32C of bytes 21 .. end
 *       21     2  attributes            bits 0-2 codec, 3 timestamp type,
 *                                       4 transactional, 5 control
 *       23     4  lastOffsetDelta
 *       27     8  baseTimestamp
 *       35     8  maxTimestamp
 *       43     8  producerId
 *       51     2  producerEpoch
 *       53     4  baseSequence
 *       57     4  records count
 *       61     -  records (compressed as a whole when codec != none)
 *
 * Each record: length varint, attributes int8, timestampDelta varlong,
 * offsetDelta varint, keyLength varint (-1 = null), key, valueLength varint
 * (-1 = null), value, headers count varint, then per header keyLength
 * varint, key, valueLength varint (-1 = null), value.
 *
 * Because the CRC starts at attributes, the broker may rewrite baseOffset and
 * partitionLeaderEpoch without recomputing it.
 *
 * Errors: functions return 0 or a negative kp_err (below -1000); kp_strerror()
 * names them. Nothing here aborts on bad input.
 *
 * Threads: everything here is pure and may be called from any thread.
 */
#ifndef REWIND_PROTO_H
#define REWIND_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors */

enum kp_err {
	KP_ERR_SHORT = -1001,        /* input ends before the structure does */
	KP_ERR_CORRUPT = -1002,      /* a field holds an impossible value */
	KP_ERR_CRC = -1003,          /* stored CRC differs from the computed one */
	KP_ERR_MAGIC = -1004,        /* magic byte is not 2 */
	KP_ERR_CODEC = -1005,        /* unknown compression codec */
	KP_ERR_DECOMPRESS = -1006,   /* compressed payload does not decode */
	KP_ERR_TOO_LARGE = -1007,    /* output would exceed the caller's limit */
	KP_ERR_NOMEM = -1008,        /* allocation failed */
	KP_ERR_OVERFLOW = -1009,     /* a size computation would overflow */
	KP_ERR_COMPRESS = -1010,     /* a compressor failed (not for lack of memory) */
	KP_ERR_VERSION = -1101,      /* message version outside its valid range */
	KP_ERR_FIELD = -1102,        /* a value this message version cannot encode */
};

/* Returns a static, human-readable name for a kp_err (or "unknown error"). */
const char *kp_strerror(int err);

/* ---------------------------------------------------------- bounded reader */

/*
 * A view of bytes [p, end). Reads past end set `err` (KP_ERR_SHORT) and
 * return zero values; callers check kp_reader_ok() once after a group of
 * reads. The reader never owns its bytes.
 */
typedef struct kp_reader {
	const uint8_t *p;
	const uint8_t *end;
	int err;                     /* 0, or the first error met */
} kp_reader;

/* data may be NULL with len 0 (a null key or value): NULL + 0 is undefined
 * in C, so such a reader is made without the addition. */
static inline kp_reader kp_reader_make(const void *data, size_t len)
{
	const uint8_t *p = data;
	kp_reader r = { p, p ? p + len : p, 0 };
	return r;
}
static inline size_t kp_reader_left(const kp_reader *r) { return (size_t)(r->end - r->p); }
static inline bool kp_reader_ok(const kp_reader *r) { return r->err == 0; }

int8_t   kp_read_i8(kp_reader *r);
int16_t  kp_read_i16(kp_reader *r);
int32_t  kp_read_i32(kp_reader *r);
int64_t  kp_read_i64(kp_reader *r);
uint32_t kp_read_u32(kp_reader *r);
int32_t  kp_read_varint(kp_reader *r);   /* zigzag, at most 5 bytes */
int64_t  kp_read_varlong(kp_reader *r);  /* zigzag, at most 10 bytes */
uint32_t kp_read_uvarint(kp_reader *r);  /* unsigned, at most 5 bytes */
/*
 * Kafka's varint rules for walks that read through a bare pointer instead of
 * a kp_reader, because they run per record on a hot path (the record
 * iterator here, the log cleaner's record split): one unsigned LEB128 of at
 * most max_bytes bytes whose value must fit in `bits` bits, from [*p, end).
 * The kp_read_*varint readers use it too, so the rules live here only. A
 * one-byte value (most lengths and deltas) takes the first branch. Returns
 * 0 and advances *p, or KP_ERR_SHORT / KP_ERR_CORRUPT with *p unchanged.
 */
static inline __attribute__((always_inline)) int kp_uleb_take(const uint8_t **p, const uint8_t *end,
							    unsigned max_bytes, unsigned bits,
							    uint64_t *out)
{
	const uint8_t *q = *p;
	uint64_t v = 0;

	if (q < end && !(*q & 0x80)) {
		*out = *q;
		*p = q + 1;
		return 0;
	}
	for (unsigned i = 0; i < max_bytes; i++) {
		unsigned shift = 7 * i;

		if (q == end)
			return KP_ERR_SHORT;
		uint8_t b = *q++;
		/* The last allowed byte: no continuation, and only the bits
		 * the type still has room for. */
		if (i == max_bytes - 1 &&
		    ((b & 0x80) || (bits - shift < 7 && (b >> (bits - shift)) != 0)))
			return KP_ERR_CORRUPT;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			*p = q;
			return 0;
		}
	}
	return KP_ERR_CORRUPT;  /* not reached: the last byte returns above */
}

/* Zigzag (0, -1, 1, -2 -> 0, 1, 2, 3) undone; a varint's low 32 bits. */
static inline int64_t kp_unzigzag(uint64_t u)
{
	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* The signed readers of those walks, bounded by end; false (nothing
 * consumed) when the bytes run out or break the rules. A varint has at
 * most 5 bytes, a varlong 10. */
static inline __attribute__((always_inline)) bool kp_varint_take(const uint8_t **p, const uint8_t *end,
								  int32_t *v)
{
	uint64_t u;

	if (kp_uleb_take(p, end, 5, 32, &u) < 0)
		return false;
	*v = (int32_t)kp_unzigzag(u);
	return true;
}

static inline __attribute__((always_inline)) bool kp_varlong_take(const uint8_t **p, const uint8_t *end,
								   int64_t *v)
{
	uint64_t u;

	if (kp_uleb_take(p, end, 10, 64, &u) < 0)
		return false;
	*v = kp_unzigzag(u);
	return true;
}

/* A varint length and that many bytes from [*p, end): *out is a view of
 * them, or NULL for length -1 when nullable. False when the length is
 * impossible or the bytes are not there (*p may then be past the length:
 * the caller gives up on the whole structure). */
static inline __attribute__((always_inline)) bool kp_sized_take(const uint8_t **p, const uint8_t *end,
								 bool nullable, const uint8_t **out,
								 int32_t *len)
{
	*out = NULL;
	if (!kp_varint_take(p, end, len))
		return false;
	if (*len == -1 && nullable)
		return true;
	if (*len < 0 || (size_t)*len > (size_t)(end - *p))
		return false;
	*out = *p;
	*p += *len;
	return true;
}

/* Returns a pointer to the next n bytes (a view) and advances; NULL (and
 * err set) when fewer than n remain or the reader already failed. Never NULL
 * on success, even for n == 0. Varints longer than their maximum, or whose
 * last byte holds bits the type cannot, set err to KP_ERR_CORRUPT. */
const uint8_t *kp_read_bytes(kp_reader *r, size_t n);

/* Big-endian loads and stores on raw memory the caller has bounds-checked. */
static inline uint16_t kp_load_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t kp_load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t kp_load_be64(const uint8_t *p)
{
	return (uint64_t)kp_load_be32(p) << 32 | kp_load_be32(p + 4);
}
static inline void kp_store_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void kp_store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void kp_store_be64(uint8_t *p, uint64_t v)
{
	kp_store_be32(p, (uint32_t)(v >> 32)); kp_store_be32(p + 4, (uint32_t)v);
}

/* ------------------------------------------------------------- writer buf */

/*
 * A growable output buffer. kp_buf_free() releases it. Appends that fail to
 * allocate set `err` (KP_ERR_NOMEM) and are ignored afterwards, so a builder
 * checks once at the end.
 */
/*
 * External regions (nginx's in_file buffers): a response may be part bytes in
 * memory, part file regions the sender copies with sendfile(). A region is
 * recorded as (pos, len) without writing its bytes: on the wire its len
 * bytes come right after data[0 .. pos). Regions are kept in order of pos;
 * several may share a pos (they follow each other). Whoever sends the buffer
 * supplies the bytes of the i-th region (proto/ knows no files).
 */
typedef struct kp_buf_ext {
	size_t pos;                  /* bytes of data[] that precede the region */
	size_t len;                  /* the region's length on the wire */
} kp_buf_ext;

typedef struct kp_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err;
	kp_buf_ext *ext;             /* n_ext regions, in order; NULL when none */
	size_t n_ext;
	size_t cap_ext;
	size_t ext_bytes;            /* sum of the regions' lengths */
} kp_buf;

void kp_buf_init(kp_buf *b);
void kp_buf_free(kp_buf *b);                  /* releases data and regions */
void kp_buf_reset(kp_buf *b);                 /* len = 0, no regions, err = 0, keeps memory */
/*
 * Records an external region of len bytes at the current end of data,
 * writing nothing. 0, or the buffer's sticky error (KP_ERR_NOMEM when the
 * side list cannot grow, KP_ERR_OVERFLOW when the wire size would overflow).
 */
int kp_buf_put_external(kp_buf *b, size_t len);
/* Bytes the buffer stands for on the wire: len plus every region. */
static inline size_t kp_buf_wire_len(const kp_buf *b) { return b->len + b->ext_bytes; }
/* Drops the bytes after len and the regions after n_ext (an encoder undoing
 * a failed message). */
void kp_buf_truncate(kp_buf *b, size_t len, size_t n_ext);
/* Makes room for n more bytes; returns a pointer to them (len not moved) or
 * NULL on allocation failure. */
uint8_t *kp_buf_reserve(kp_buf *b, size_t n);
void kp_buf_put(kp_buf *b, const void *data, size_t n);
void kp_buf_put_i8(kp_buf *b, int8_t v);
void kp_buf_put_i16(kp_buf *b, int16_t v);
void kp_buf_put_i32(kp_buf *b, int32_t v);
void kp_buf_put_i64(kp_buf *b, int64_t v);
void kp_buf_put_varint(kp_buf *b, int32_t v);
void kp_buf_put_varlong(kp_buf *b, int64_t v);
void kp_buf_put_uvarint(kp_buf *b, uint32_t v);

/* Encoded size of a zigzag varint/varlong. */
size_t kp_varint_size(int32_t v);
size_t kp_varlong_size(int64_t v);

/* ----------------------------------------------------------------- crc32c */

/* Extends `crc` (start with 0) over len bytes. Uses SSE4.2 when the CPU has
 * it (checked once), the table otherwise. */
uint32_t kp_crc32c(uint32_t crc, const void *data, size_t len);
/* The portable implementation, exposed so tests can compare both paths. */
uint32_t kp_crc32c_portable(uint32_t crc, const void *data, size_t len);
/* True when kp_crc32c() uses the hardware path on this CPU. */
bool kp_crc32c_hw_available(void);

/* ------------------------------------------------------------ compression */

enum kp_codec {
	KP_CODEC_NONE = 0,
	KP_CODEC_GZIP = 1,
	KP_CODEC_SNAPPY = 2,
	KP_CODEC_LZ4 = 3,
	KP_CODEC_ZSTD = 4,
};

/* "none", "gzip", "snappy", "lz4", "zstd"; NULL for anything else. */
const char *kp_codec_name(int codec);
/* Parses a codec name (as above); returns the codec or KP_ERR_CODEC. */
int kp_codec_parse(const char *name);

/* Appends the compressed form of [in, in+len) to out. 0 or a kp_err. */
int kp_compress(int codec, const void *in, size_t len, kp_buf *out);
/*
 * Appends the decompressed form of [in, in+len) to out, refusing to produce
 * more than max_out bytes (KP_ERR_TOO_LARGE): compressed input is never
 * trusted to say its own size, and memory grows with the output actually
 * produced, not with max_out. 0 or a kp_err.
 *
 * Both functions leave out->len unchanged on failure (allocation failures
 * also set out->err, as every kp_buf append does), refuse inputs over
 * INT32_MAX bytes (KP_ERR_TOO_LARGE; nothing bigger fits in a batch) and
 * treat max_out above INT32_MAX as INT32_MAX. Garbage or truncated input is
 * KP_ERR_DECOMPRESS. Snappy input may be raw or xerial-framed; gzip and lz4
 * input may be several concatenated members/frames.
 */
int kp_decompress(int codec, const void *in, size_t len, size_t max_out, kp_buf *out);

/* ----------------------------------------------------------- record batch */

#define KP_BATCH_HEADER_SIZE 61     /* bytes up to and including records count */
#define KP_BATCH_LOG_OVERHEAD 12    /* baseOffset + batchLength */
#define KP_BATCH_CRC_START 21       /* CRC covers from attributes to the end */

/* Byte offsets of header fields, for in-place rewrites and for readers that
 * only fetched a header's prefix. */
enum {
	KP_BATCH_OFF_BASE_OFFSET = 0,
	KP_BATCH_OFF_LENGTH = 8,
	KP_BATCH_OFF_LEADER_EPOCH = 12,
	KP_BATCH_OFF_MAGIC = 16,
	KP_BATCH_OFF_CRC = 17,
	KP_BATCH_OFF_ATTRIBUTES = 21,
	KP_BATCH_OFF_LAST_OFFSET_DELTA = 23,
	KP_BATCH_OFF_BASE_TIMESTAMP = 27,
	KP_BATCH_OFF_MAX_TIMESTAMP = 35,
	KP_BATCH_OFF_PRODUCER_ID = 43,
	KP_BATCH_OFF_PRODUCER_EPOCH = 51,
	KP_BATCH_OFF_BASE_SEQUENCE = 53,
	KP_BATCH_OFF_RECORDS_COUNT = 57,
};

#define KP_ATTR_CODEC_MASK        0x07
#define KP_ATTR_LOG_APPEND_TIME   0x08
#define KP_ATTR_TRANSACTIONAL     0x10
#define KP_ATTR_CONTROL           0x20

/* The fixed header of one batch, decoded. */
typedef struct kp_batch_header {
	int64_t base_offset;
	int32_t batch_length;          /* bytes after the length field */
	int32_t partition_leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t records_count;
} kp_batch_header;

static inline int kp_batch_codec(const kp_batch_header *h) { return h->attributes & KP_ATTR_CODEC_MASK; }
static inline int64_t kp_batch_last_offset(const kp_batch_header *h)
{
	return h->base_offset + h->last_offset_delta;
}
/* Whole size of the batch in bytes, log overhead included. */
static inline size_t kp_batch_size(const kp_batch_header *h)
{
	return (size_t)h->batch_length + KP_BATCH_LOG_OVERHEAD;
}

/*
 * Decodes the 61-byte header at the start of [data, data+len) without
 * checking the CRC. Fails with KP_ERR_SHORT if len < 61, KP_ERR_MAGIC if
 * magic != 2, KP_ERR_CORRUPT if batchLength is below the header size, the
 * records count is negative or lastOffsetDelta is negative. It does not
 * require the whole batch to be present (a reader may have only a prefix).
 */
int kp_batch_header_parse(const void *data, size_t len, kp_batch_header *out);

/*
 * Checks one complete batch at the start of [data, data+len): header as
 * above, batchLength fits in len (KP_ERR_SHORT otherwise), and the CRC-32C
 * matches (KP_ERR_CRC). On success *out holds the header and the batch's
 * size is kp_batch_size(out).
 */
int kp_batch_validate(const void *data, size_t len, kp_batch_header *out);

/* Recomputes and stores the CRC of a complete batch in place (after the
 * caller rewrote a field the CRC covers, e.g. maxTimestamp). */
void kp_batch_update_crc(void *batch, size_t batch_size);

/* One header of a record: views into the (decompressed) records bytes. */
typedef struct kp_header {
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;           /* NULL when value_len == -1 */
	int32_t value_len;
} kp_header;

/* One record: views valid as long as the iterator's buffers live. */
typedef struct kp_record {
	int8_t attributes;
	int64_t timestamp;              /* baseTimestamp + delta, or maxTimestamp
	                                   for LogAppendTime batches */
	int64_t offset;                 /* baseOffset + offsetDelta */
	const uint8_t *key;             /* NULL when key_len == -1 */
	int32_t key_len;
	const uint8_t *value;           /* NULL when value_len == -1 (tombstone) */
	int32_t value_len;
	int32_t headers_count;
	const uint8_t *headers;         /* encoded headers, for kp_record_header_next */
	size_t headers_len;
} kp_record;

/*
 * Iterates the records of one validated batch. For compressed batches the
 * iterator decompresses into its own buffer once (at most max_decompressed
 * bytes). kp_record_iter_free() releases that buffer; records returned before
 * stay valid until then. Records hold views into the batch bytes (codec none)
 * or the iterator buffer.
 */
typedef struct kp_record_iter {
	kp_batch_header hdr;
	kp_reader rd;
	kp_buf inflated;
	int32_t remaining;
	int err;
} kp_record_iter;

/* 0 or a kp_err. The batch bytes are borrowed and must outlive the iterator.
 * The CRC is not checked here (kp_batch_validate() does), but every read
 * stays inside the batch, so an unvalidated batch cannot cause an overrun.
 * kp_record_iter_free() is safe to call after a failed init. */
int kp_record_iter_init(kp_record_iter *it, const void *batch, size_t batch_size,
			size_t max_decompressed);
/* 1 and *rec filled; 0 at the end; or a negative kp_err (the iterator then
 * stays failed). Also fails if the records run out before the count does or
 * bytes remain after the last record. */
int kp_record_iter_next(kp_record_iter *it, kp_record *rec);
void kp_record_iter_free(kp_record_iter *it);

/* Walks a record's headers: set *pos = 0 first; returns 1 with *h filled,
 * 0 after the last, or a negative kp_err. */
int kp_record_header_next(const kp_record *rec, size_t *pos, kp_header *h);

/* ---------------------------------------------------------- batch builder */

/*
 * Builds one RecordBatch v2. Records are added with kp_batch_builder_add();
 * kp_batch_builder_finish() compresses, fills the header and CRC and appends
 * the whole batch to `out`.
 */
typedef struct kp_batch_builder {
	int codec;
	int16_t attributes_extra;       /* timestamp type / transactional / control
	                                   bits; codec bits here are ignored */
	int64_t base_offset;
	int32_t partition_leader_epoch;
	int64_t producer_id;            /* -1 when not idempotent */
	int16_t producer_epoch;         /* -1 when not idempotent */
	int32_t base_sequence;          /* -1 when not idempotent */
	int64_t base_timestamp;
	int64_t max_timestamp;
	int32_t count;
	kp_buf records;                 /* uncompressed records */
} kp_batch_builder;

/* Sets producer_id, producer_epoch, base_sequence and
 * partition_leader_epoch to -1 (as the Java producer writes them); callers
 * may change those fields and attributes_extra before finish. base_timestamp
 * is taken from the first record added, max_timestamp is the largest. */
void kp_batch_builder_init(kp_batch_builder *b, int codec, int64_t base_offset);
void kp_batch_builder_free(kp_batch_builder *b);
/* Adds one record with the given offset delta order (the next one), timestamp,
 * key and value (NULL + len -1 for null) and n headers. The bytes are copied.
 * 0 or a kp_err: KP_ERR_CORRUPT for impossible arguments (a length below -1,
 * a NULL pointer with a positive length, a null header key),
 * KP_ERR_OVERFLOW when a size or the timestamp delta does not fit. */
int kp_batch_builder_add(kp_batch_builder *b, int64_t timestamp,
			 const void *key, int32_t key_len,
			 const void *value, int32_t value_len,
			 const kp_header *headers, int32_t headers_count);
/* 0 or a kp_err; on success the batch is appended to out, on failure
 * out->len is left as it was (an allocation failure also sets out->err, as
 * kp_buf does). An empty builder is KP_ERR_CORRUPT (its lastOffsetDelta
 * would be -1), an unknown codec KP_ERR_CODEC. The builder is not reset:
 * free it afterwards. */
int kp_batch_builder_finish(kp_batch_builder *b, kp_buf *out);

/* ------------------------------------------------------------------ arena */
/* Added for the generated message codecs (proto/schema/); proto/arena.c. */

/*
 * A bump allocator: memory is handed out in order and released all at once
 * by kp_arena_free() or kp_arena_reset(), never one allocation at a time.
 * Decoded messages keep their arrays here. An allocation that fails returns
 * NULL and records the first error in `err` (KP_ERR_NOMEM; KP_ERR_TOO_LARGE
 * when `limit` would be passed; KP_ERR_OVERFLOW), after which every
 * allocation fails until a reset, like kp_buf. Memory is aligned for any
 * type. One owner at a time: not thread-safe.
 */
struct kp_arena_chunk;
typedef struct kp_arena {
	struct kp_arena_chunk *chunk;   /* newest chunk; older ones hang off it */
	size_t used;                    /* bytes handed out, padding included */
	size_t limit;                   /* most bytes to hand out; 0 = no limit */
	int err;
} kp_arena;

void kp_arena_init(kp_arena *a, size_t limit);
/* `size` bytes, valid until the next kp_arena_reset()/kp_arena_free(). */
void *kp_arena_alloc(kp_arena *a, size_t size);
/* n * size zeroed bytes; the product is overflow-checked. */
void *kp_arena_calloc(kp_arena *a, size_t n, size_t size);
/* Releases every allocation and clears err, keeping one chunk for reuse. */
void kp_arena_reset(kp_arena *a);
/* Releases everything; the arena may be used again (same limit). */
void kp_arena_free(kp_arena *a);

#endif /* REWIND_PROTO_H */
