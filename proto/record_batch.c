/*
 * record_batch.c -- RecordBatch v2 (magic 2): header parsing and validation,
 * record iteration, and the batch builder. The byte layout is drawn in
 * proto.h.
 *
 * What makes a batch valid here (the broker adds its own produce rules on
 * top, such as count == lastOffsetDelta + 1):
 *   - the 61-byte header is present, magic is 2, batchLength covers at
 *     least the header, recordsCount and lastOffsetDelta are not negative;
 *   - batchLength + 12 bytes are present and the CRC-32C over bytes
 *     21 .. end matches;
 *   - (when iterated) the codec is known, the records decompress within the
 *     caller's limit, and they hold exactly recordsCount records, each
 *     exactly as long as its length prefix says, with no byte left over.
 *
 * Inside a batch whose size is known, any inconsistency in the records is
 * KP_ERR_CORRUPT, even where the reader ran short: the batch is complete,
 * so a record that does not fit it is a bad record, not a short read.
 *
 * Offsets and timestamps are computed in unsigned arithmetic (wrapping), so
 * hostile deltas give odd numbers, never undefined behaviour.
 */
#include <assert.h>
#include <string.h>

#include "proto/kp_int.h"

_Static_assert(KP_BATCH_OFF_RECORDS_COUNT + 4 == KP_BATCH_HEADER_SIZE,
	       "the header ends with the records count");
_Static_assert(KP_BATCH_OFF_ATTRIBUTES == KP_BATCH_CRC_START,
	       "the CRC starts at attributes");
_Static_assert(KP_BATCH_OFF_MAGIC + 1 == KP_BATCH_OFF_CRC, "crc follows magic");

/* batchLength counts from partitionLeaderEpoch on. */
#define BATCH_MIN_LENGTH (KP_BATCH_HEADER_SIZE - KP_BATCH_LOG_OVERHEAD)

static int64_t add_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* --------------------------------------------------------------- header */

int kp_batch_header_parse(const void *data, size_t len, kp_batch_header *out)
{
	kp_reader r = kp_reader_make(data, len);
	kp_batch_header h;

	if (len < KP_BATCH_HEADER_SIZE)
		return KP_ERR_SHORT;
	h.base_offset = kp_read_i64(&r);
	h.batch_length = kp_read_i32(&r);
	h.partition_leader_epoch = kp_read_i32(&r);
	h.magic = kp_read_i8(&r);
	h.crc = kp_read_u32(&r);
	h.attributes = kp_read_i16(&r);
	h.last_offset_delta = kp_read_i32(&r);
	h.base_timestamp = kp_read_i64(&r);
	h.max_timestamp = kp_read_i64(&r);
	h.producer_id = kp_read_i64(&r);
	h.producer_epoch = kp_read_i16(&r);
	h.base_sequence = kp_read_i32(&r);
	h.records_count = kp_read_i32(&r);
	if (!kp_reader_ok(&r))
		return r.err;   /* not reached: len was checked above */
	if (h.magic != 2)
		return KP_ERR_MAGIC;
	if (h.batch_length < BATCH_MIN_LENGTH || h.records_count < 0 || h.last_offset_delta < 0)
		return KP_ERR_CORRUPT;
	*out = h;
	return 0;
}

int kp_batch_validate(const void *data, size_t len, kp_batch_header *out)
{
	kp_batch_header h;
	const uint8_t *p = data;
	size_t size;
	int rc = kp_batch_header_parse(data, len, &h);

	if (rc != 0)
		return rc;
	size = kp_batch_size(&h);
	if (size > len)
		return KP_ERR_SHORT;
	if (kp_crc32c(0, p + KP_BATCH_CRC_START, size - KP_BATCH_CRC_START) != h.crc)
		return KP_ERR_CRC;
	*out = h;
	return 0;
}

void kp_batch_update_crc(void *batch, size_t batch_size)
{
	uint8_t *p = batch;

	assert(batch_size >= KP_BATCH_HEADER_SIZE);
	kp_store_be32(p + KP_BATCH_OFF_CRC,
		      kp_crc32c(0, p + KP_BATCH_CRC_START, batch_size - KP_BATCH_CRC_START));
}

/* ------------------------------------------------------------- iterator */

static int iter_fail(kp_record_iter *it, int err)
{
	it->err = err;
	return err;
}

int kp_record_iter_init(kp_record_iter *it, const void *batch, size_t batch_size,
			size_t max_decompressed)
{
	const uint8_t *recs;
	size_t size, recs_len;
	int codec, rc;

	memset(it, 0, sizeof *it);
	kp_buf_init(&it->inflated);
	rc = kp_batch_header_parse(batch, batch_size, &it->hdr);
	if (rc != 0)
		return iter_fail(it, rc);
	size = kp_batch_size(&it->hdr);
	if (size > batch_size)
		return iter_fail(it, KP_ERR_SHORT);
	recs = (const uint8_t *)batch + KP_BATCH_HEADER_SIZE;
	recs_len = size - KP_BATCH_HEADER_SIZE;
	codec = kp_batch_codec(&it->hdr);
	if (codec == KP_CODEC_NONE) {
		it->rd = kp_reader_make(recs, recs_len);
	} else {
		if (kp_codec_name(codec) == NULL)
			return iter_fail(it, KP_ERR_CODEC);
		rc = kp_decompress(codec, recs, recs_len, max_decompressed, &it->inflated);
		if (rc != 0) {
			kp_buf_free(&it->inflated);
			return iter_fail(it, rc);
		}
		/* An empty output leaves data NULL; point at something real
		 * so the reader never does arithmetic on NULL. */
		it->rd = it->inflated.len > 0
				 ? kp_reader_make(it->inflated.data, it->inflated.len)
				 : kp_reader_make(recs, 0);
	}
	it->remaining = it->hdr.records_count;
	return 0;
}

/*
 * The produce path walks every record it takes, so this reads through a
 * bare pointer and kp_uleb_take inline instead of kp_reader calls per field
 * (bench_record_walk: see docs/BENCHMARKS.md). The bounds are the same:
 * the record's length must fit what is left, and every field lies inside
 * that length.
 */
int kp_record_iter_next(kp_record_iter *it, kp_record *rec)
{
	const uint8_t *p, *end;
	int32_t len, off_delta;
	int64_t ts_delta;

	if (it->err != 0)
		return it->err;
	if (it->remaining == 0)
		return kp_reader_left(&it->rd) == 0 ? 0 : iter_fail(it, KP_ERR_CORRUPT);

	p = it->rd.p;
	if (!kp_varint_take(&p, it->rd.end, &len) || len < 0 ||
	    (size_t)len > (size_t)(it->rd.end - p))
		return iter_fail(it, KP_ERR_CORRUPT);
	/* Everything below reads inside this record's own length. */
	end = p + len;
	it->rd.p = end;

	if (p == end)
		return iter_fail(it, KP_ERR_CORRUPT);
	rec->attributes = (int8_t)*p++;
	if (!kp_varlong_take(&p, end, &ts_delta) ||
	    !kp_varint_take(&p, end, &off_delta) ||
	    !kp_sized_take(&p, end, true, &rec->key, &rec->key_len) ||
	    !kp_sized_take(&p, end, true, &rec->value, &rec->value_len) ||
	    !kp_varint_take(&p, end, &rec->headers_count) || rec->headers_count < 0)
		return iter_fail(it, KP_ERR_CORRUPT);
	rec->headers = p;
	for (int32_t i = 0; i < rec->headers_count; i++) {
		const uint8_t *v;
		int32_t n;

		/* Header keys are non-null strings; values may be null. */
		if (!kp_sized_take(&p, end, false, &v, &n) || !kp_sized_take(&p, end, true, &v, &n))
			return iter_fail(it, KP_ERR_CORRUPT);
	}
	rec->headers_len = (size_t)(p - rec->headers);
	if (p != end)
		return iter_fail(it, KP_ERR_CORRUPT);

	rec->offset = add_wrap(it->hdr.base_offset, off_delta);
	if (it->hdr.attributes & KP_ATTR_LOG_APPEND_TIME)
		rec->timestamp = it->hdr.max_timestamp;
	else
		rec->timestamp = add_wrap(it->hdr.base_timestamp, ts_delta);
	it->remaining--;
	return 1;
}

void kp_record_iter_free(kp_record_iter *it)
{
	kp_buf_free(&it->inflated);
}

int kp_record_header_next(const kp_record *rec, size_t *pos, kp_header *h)
{
	const uint8_t *p, *end;

	if (*pos == rec->headers_len)
		return 0;
	if (*pos > rec->headers_len)
		return KP_ERR_CORRUPT;
	p = rec->headers + *pos;
	end = rec->headers + rec->headers_len;
	if (!kp_sized_take(&p, end, false, &h->key, &h->key_len) ||
	    !kp_sized_take(&p, end, true, &h->value, &h->value_len))
		return KP_ERR_CORRUPT;
	*pos = (size_t)(p - rec->headers);
	return 1;
}

/* -------------------------------------------------------------- builder */

void kp_batch_builder_init(kp_batch_builder *b, int codec, int64_t base_offset)
{
	memset(b, 0, sizeof *b);
	b->codec = codec;
	b->base_offset = base_offset;
	/* -1 everywhere a producer leaves a field to the broker or does not
	 * use it, as the Java producer writes them. */
	b->partition_leader_epoch = -1;
	b->producer_id = -1;
	b->producer_epoch = -1;
	b->base_sequence = -1;
	b->base_timestamp = -1;
	b->max_timestamp = -1;
	kp_buf_init(&b->records);
}

void kp_batch_builder_free(kp_batch_builder *b)
{
	kp_buf_free(&b->records);
}

/* *acc += n, false on overflow. */
static bool size_add(size_t *acc, size_t n)
{
	return !__builtin_add_overflow(*acc, n, acc);
}

/* Encoded size of a varint length plus the bytes (none for -1). */
static bool sized_field(size_t *acc, int32_t len)
{
	return size_add(acc, kp_varint_size(len)) && size_add(acc, len > 0 ? (size_t)len : 0);
}

static void put_sized(kp_buf *out, const void *p, int32_t len)
{
	kp_buf_put_varint(out, len);
	if (len > 0)
		kp_buf_put(out, p, (size_t)len);
}

int kp_batch_builder_add(kp_batch_builder *b, int64_t timestamp,
			 const void *key, int32_t key_len,
			 const void *value, int32_t value_len,
			 const kp_header *headers, int32_t headers_count)
{
	int64_t base_ts = b->count == 0 ? timestamp : b->base_timestamp;
	int64_t ts_delta;
	size_t body = 1;       /* attributes */
	int32_t i;

	if (b->records.err != 0)
		return b->records.err;
	if (key_len < -1 || value_len < -1 || headers_count < 0 ||
	    (key == NULL && key_len > 0) || (value == NULL && value_len > 0) ||
	    (headers == NULL && headers_count > 0))
		return KP_ERR_CORRUPT;
	/* The offset delta of this record is count, and lastOffsetDelta
	 * (count - 1 after it) must stay an int32. */
	if (b->count == INT32_MAX || __builtin_sub_overflow(timestamp, base_ts, &ts_delta))
		return KP_ERR_OVERFLOW;

	if (!size_add(&body, kp_varlong_size(ts_delta)) ||
	    !size_add(&body, kp_varint_size(b->count)) ||
	    !sized_field(&body, key_len) || !sized_field(&body, value_len) ||
	    !size_add(&body, kp_varint_size(headers_count)))
		return KP_ERR_OVERFLOW;
	for (i = 0; i < headers_count; i++) {
		const kp_header *h = &headers[i];

		if (h->key_len < 0 || h->value_len < -1 ||
		    (h->key == NULL && h->key_len > 0) || (h->value == NULL && h->value_len > 0))
			return KP_ERR_CORRUPT;
		if (!sized_field(&body, h->key_len) || !sized_field(&body, h->value_len))
			return KP_ERR_OVERFLOW;
	}
	if (body > INT32_MAX)
		return KP_ERR_OVERFLOW;

	/* One reservation for the whole record, so the puts below cannot fail
	 * halfway and leave half a record behind. */
	if (kp_buf_reserve(&b->records, kp_varint_size((int32_t)body) + body) == NULL)
		return b->records.err;
	kp_buf_put_varint(&b->records, (int32_t)body);
	kp_buf_put_i8(&b->records, 0);
	kp_buf_put_varlong(&b->records, ts_delta);
	kp_buf_put_varint(&b->records, b->count);
	put_sized(&b->records, key, key_len);
	put_sized(&b->records, value, value_len);
	kp_buf_put_varint(&b->records, headers_count);
	for (i = 0; i < headers_count; i++) {
		put_sized(&b->records, headers[i].key, headers[i].key_len);
		put_sized(&b->records, headers[i].value, headers[i].value_len);
	}

	if (b->count == 0) {
		b->base_timestamp = timestamp;
		b->max_timestamp = timestamp;
	} else if (timestamp > b->max_timestamp) {
		b->max_timestamp = timestamp;
	}
	b->count++;
	return 0;
}

int kp_batch_builder_finish(kp_batch_builder *b, kp_buf *out)
{
	size_t start = out->len, length;
	int16_t attrs;
	int rc;

	if (b->records.err != 0)
		return b->records.err;
	if (out->err != 0)
		return out->err;
	/* lastOffsetDelta would be -1: Kafka producers never send an empty
	 * batch and our own parser refuses one. */
	if (b->count == 0)
		return KP_ERR_CORRUPT;
	if (kp_codec_name(b->codec) == NULL)
		return KP_ERR_CODEC;

	attrs = (int16_t)((b->attributes_extra & ~KP_ATTR_CODEC_MASK) | b->codec);
	kp_buf_put_i64(out, b->base_offset);
	kp_buf_put_i32(out, 0);                        /* batchLength, below */
	kp_buf_put_i32(out, b->partition_leader_epoch);
	kp_buf_put_i8(out, 2);                         /* magic */
	kp_buf_put_i32(out, 0);                        /* crc, below */
	kp_buf_put_i16(out, attrs);
	kp_buf_put_i32(out, b->count - 1);             /* lastOffsetDelta */
	kp_buf_put_i64(out, b->base_timestamp);
	kp_buf_put_i64(out, b->max_timestamp);
	kp_buf_put_i64(out, b->producer_id);
	kp_buf_put_i16(out, b->producer_epoch);
	kp_buf_put_i32(out, b->base_sequence);
	kp_buf_put_i32(out, b->count);
	if (out->err != 0) {
		out->len = start;
		return out->err;
	}
	rc = kp_compress(b->codec, b->records.data, b->records.len, out);
	if (rc != 0) {
		out->len = start;
		return rc;
	}
	length = out->len - start - KP_BATCH_LOG_OVERHEAD;
	if (length > INT32_MAX) {
		out->len = start;
		return KP_ERR_OVERFLOW;
	}
	kp_store_be32(out->data + start + KP_BATCH_OFF_LENGTH, (uint32_t)length);
	kp_batch_update_crc(out->data + start, out->len - start);
	return 0;
}
