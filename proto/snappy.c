/*
 * snappy.c -- Kafka's snappy: raw snappy blocks, or the xerial framing that
 * the Java client (snappy-java's SnappyOutputStream) writes.
 *
 * Xerial framing, all integers big-endian:
 *
 *   offset  size  field
 *        0     8  magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
 *        8     4  version             (1)
 *       12     4  compatible version  (1)
 *       16     -  blocks: int32 compressed length, then that many bytes of
 *                 one raw snappy block; repeated to the end of input
 *
 * librdkafka writes a single raw block (no framing); Java writes xerial with
 * 32 KiB of input per block. On input both are accepted, told apart by the
 * magic, as librdkafka and Java do. On output rewind writes xerial like Java,
 * which every client can read.
 *
 * A raw block starts with its uncompressed length as a varint. That length
 * is checked against max_out before any memory is reserved, and
 * snappy_uncompress() then refuses to write more than it, so a hostile
 * length costs at most max_out bytes of memory and never an overrun.
 */
#include <snappy-c.h>
#include <string.h>

#include "proto/kp_int.h"

#define XERIAL_HEADER_LEN 16
#define XERIAL_BLOCK_IN (32 * 1024)    /* Java's SnappyOutputStream default */

static const uint8_t xerial_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };

int kp__snappy_compress(const uint8_t *in, size_t len, kp_buf *out)
{
	uint8_t hdr[XERIAL_HEADER_LEN];
	size_t off = 0;

	memcpy(hdr, xerial_magic, sizeof xerial_magic);
	kp_store_be32(hdr + 8, 1);
	kp_store_be32(hdr + 12, 1);
	kp_buf_put(out, hdr, sizeof hdr);
	while (off < len && out->err == 0) {
		size_t n = len - off < XERIAL_BLOCK_IN ? len - off : XERIAL_BLOCK_IN;
		size_t clen = snappy_max_compressed_length(n);
		uint8_t *p = kp_buf_reserve(out, 4 + clen);

		if (p == NULL)
			break;
		if (snappy_compress((const char *)in + off, n, (char *)p + 4, &clen) != SNAPPY_OK)
			return KP_ERR_COMPRESS;
		kp_store_be32(p, (uint32_t)clen);
		out->len += 4 + clen;
		off += n;
	}
	return out->err;
}

/* Decodes one raw snappy block, appending at most `room` bytes. */
static int raw_decompress(const uint8_t *in, size_t len, size_t room, kp_buf *out)
{
	size_t ulen;
	uint8_t *p;

	if (snappy_uncompressed_length((const char *)in, len, &ulen) != SNAPPY_OK)
		return KP_ERR_DECOMPRESS;
	if (ulen > room)
		return KP_ERR_TOO_LARGE;
	if (ulen == 0) {
		/* Still validate: an empty block must be exactly its length
		 * byte, and kp_buf may have no memory to point into. */
		char one;
		size_t n = sizeof one;
		return snappy_uncompress((const char *)in, len, &one, &n) == SNAPPY_OK
			       ? 0 : KP_ERR_DECOMPRESS;
	}
	p = kp_buf_reserve(out, ulen);
	if (p == NULL)
		return out->err;
	if (snappy_uncompress((const char *)in, len, (char *)p, &ulen) != SNAPPY_OK)
		return KP_ERR_DECOMPRESS;
	out->len += ulen;
	return 0;
}

int kp__snappy_decompress(const uint8_t *in, size_t len, size_t max_out, kp_buf *out)
{
	size_t start = out->len;
	kp_reader r;

	if (len < XERIAL_HEADER_LEN || memcmp(in, xerial_magic, sizeof xerial_magic) != 0)
		return raw_decompress(in, len, max_out, out);

	/* The version fields are not checked: snappy-java itself only
	 * refuses a compatible version it does not know, and there has only
	 * ever been 1. */
	r = kp_reader_make(in + XERIAL_HEADER_LEN, len - XERIAL_HEADER_LEN);
	while (kp_reader_left(&r) > 0) {
		uint32_t blen = kp_read_u32(&r);
		const uint8_t *blk = kp_read_bytes(&r, blen);
		int rc;

		if (blk == NULL)
			return KP_ERR_DECOMPRESS;    /* block runs past the input */
		rc = raw_decompress(blk, blen, max_out - (out->len - start), out);
		if (rc != 0)
			return rc;
	}
	return 0;
}
