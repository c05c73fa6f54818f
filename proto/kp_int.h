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

/* Sets b->err to err unless an earlier error is already recorded. */
static inline void kp__buf_fail(kp_buf *b, int err)
{
	if (b->err == 0)
		b->err = err;
}

#endif /* REWIND_PROTO_KP_INT_H */
