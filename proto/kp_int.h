/*
 * kp_int.h -- declarations shared between the files of proto/ and nothing
 * else. The rest of rewind includes proto/proto.h only.
 *
 * Cross-file internals are named kp__name; everything else in proto/ is
 * either public (proto.h) or static to its file.
 */
#ifndef REWIND_PROTO_KP_INT_H
#define REWIND_PROTO_KP_INT_H

#include "proto/proto.h"

/*
 * Largest input or output any codec accepts. A RecordBatch's length field is
 * an int32, so nothing bigger can be a batch's records; the limit also keeps
 * every length within zlib's and lz4's 32-bit size types.
 */
#define KP__CODEC_MAX_LEN ((size_t)INT32_MAX)

/*
 * Size of the output slices the streaming decompressors ask kp_buf for.
 * Output memory then grows with what a stream really produces, never with
 * what a (possibly hostile) header claims or with the caller's max_out.
 */
#define KP__INFLATE_CHUNK ((size_t)64 * 1024)

/*
 * Snappy, in snappy.c because its framing is an idea of its own. Both take
 * len <= KP__CODEC_MAX_LEN (the caller checked), append to out, and leave
 * out->len as it was on failure.
 */
int kp__snappy_compress(const uint8_t *in, size_t len, kp_buf *out);
int kp__snappy_decompress(const uint8_t *in, size_t len, size_t max_out, kp_buf *out);

/*
 * Decodes one unsigned LEB128 of at most max_bytes bytes whose value must
 * fit in `bits` bits from [*p, end): the rules of reader.c's top comment,
 * in one place for the kp_reader functions and for the record walk, which
 * runs it several times per produced record and so wants it inline. A
 * one-byte value (most lengths and deltas) takes the first branch only.
 * Returns 0 and advances *p, or KP_ERR_SHORT / KP_ERR_CORRUPT with *p
 * unchanged.
 */
static inline int kp__uleb(const uint8_t **p, const uint8_t *end, unsigned max_bytes,
			   unsigned bits, uint64_t *out)
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

/* Zigzag (0, -1, 1, -2 -> 0, 1, 2, 3) undone. */
static inline int64_t kp__unzigzag(uint64_t u)
{
	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* Sets b->err to err unless an earlier error is already recorded. */
static inline void kp__buf_fail(kp_buf *b, int err)
{
	if (b->err == 0)
		b->err = err;
}

#endif /* REWIND_PROTO_KP_INT_H */
