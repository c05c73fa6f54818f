/*
 * compress.c -- the compression codecs of RecordBatch v2: the dispatch by
 * codec id, gzip (zlib), lz4 (the LZ4 frame format) and zstd. Snappy, with
 * its xerial framing, is in snappy.c.
 *
 * Wire formats, as Kafka's clients write them:
 *   gzip    RFC 1952 members (gzip header and trailer, not a bare zlib
 *           stream). Concatenated members are accepted, as Java's
 *           GZIPInputStream does.
 *   lz4     LZ4 frames (magic 0x184D2204), 64 KiB independent blocks, no
 *           content checksum -- what Java's KafkaLZ4BlockOutputStream and
 *           librdkafka write. Concatenated frames are accepted.
 *   zstd    zstd frames. Frames written by streaming compressors may omit
 *           the content size, so decoding is always streaming.
 *
 * The one rule for every decoder: the compressed bytes come from the
 * network and are never trusted to say how big they will get. Output is
 * produced in KP__INFLATE_CHUNK slices into the caller's kp_buf, and the
 * decoder stops with KP_ERR_TOO_LARGE as soon as the output would pass
 * max_out. Decoders are allowed one byte past max_out (the "probe") so that
 * an output of exactly max_out bytes is told apart from a bigger one.
 *
 * On any failure out->len is restored to its value at entry; out->err is set
 * only for allocation failures, following kp_buf's rules.
 */
#include <lz4frame.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "proto/kp_int.h"

static const char *const codec_names[] = {
	[KP_CODEC_NONE] = "none",
	[KP_CODEC_GZIP] = "gzip",
	[KP_CODEC_SNAPPY] = "snappy",
	[KP_CODEC_LZ4] = "lz4",
	[KP_CODEC_ZSTD] = "zstd",
};

const char *kp_codec_name(int codec)
{
	if (codec < 0 || (size_t)codec >= sizeof codec_names / sizeof codec_names[0])
		return NULL;
	return codec_names[codec];
}

int kp_codec_parse(const char *name)
{
	size_t i;

	if (name == NULL)
		return KP_ERR_CODEC;
	/* Case-insensitive: Kafka's own configs are lower case, but a user
	 * typing "LZ4" on a command line means lz4. */
	for (i = 0; i < sizeof codec_names / sizeof codec_names[0]; i++)
		if (strcasecmp(name, codec_names[i]) == 0)
			return (int)i;
	return KP_ERR_CODEC;
}

/* ------------------------------------------------------- output sink */

/*
 * Where a streaming decoder writes: slices of out, never more in total than
 * `limit` bytes past `start` (limit = max_out + 1, the probe byte).
 */
typedef struct sink {
	kp_buf *out;
	size_t start;
	size_t max_out;
	size_t limit;
} sink;

static void sink_init(sink *s, kp_buf *out, size_t max_out)
{
	s->out = out;
	s->start = out->len;
	s->max_out = max_out;
	s->limit = max_out == SIZE_MAX ? SIZE_MAX : max_out + 1;
}

/* Returns room for the next slice and its size in *n, or NULL on allocation
 * failure. Never called once the output passed max_out (sink_commit said
 * so), hence room is always at least one byte. */
static uint8_t *sink_space(sink *s, size_t *n)
{
	size_t room = s->limit - (s->out->len - s->start);

	*n = room < KP__INFLATE_CHUNK ? room : KP__INFLATE_CHUNK;
	return kp_buf_reserve(s->out, *n);
}

/* Accounts for `got` bytes written into the last slice; 0 or
 * KP_ERR_TOO_LARGE. */
static int sink_commit(sink *s, size_t got)
{
	s->out->len += got;
	return s->out->len - s->start > s->max_out ? KP_ERR_TOO_LARGE : 0;
}

/* The error for a failed reserve: kp_buf recorded why. */
static int sink_nomem(const sink *s)
{
	return s->out->err != 0 ? s->out->err : KP_ERR_NOMEM;
}

/* ---------------------------------------------------------------- gzip */

static int gzip_compress(const uint8_t *in, size_t len, kp_buf *out)
{
	z_stream zs;
	int zr, rc = 0;

	memset(&zs, 0, sizeof zs);
	/* windowBits 15 + 16: write a gzip header and trailer, as Java's
	 * GZIPOutputStream does; Kafka's readers expect them. */
	zr = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			  Z_DEFAULT_STRATEGY);
	if (zr != Z_OK)
		return zr == Z_MEM_ERROR ? KP_ERR_NOMEM : KP_ERR_COMPRESS;
	zs.next_in = (Bytef *)(uintptr_t)in;   /* zlib never writes input */
	zs.avail_in = (uInt)len;
	/* deflateBound covers the gzip wrapper, so one pass normally ends the
	 * stream; the loop only guards against a bound that proves short. */
	for (size_t want = deflateBound(&zs, (uLong)len);; want = KP__INFLATE_CHUNK) {
		uint8_t *p = kp_buf_reserve(out, want);

		if (p == NULL) {
			rc = out->err;
			break;
		}
		zs.next_out = p;
		zs.avail_out = (uInt)want;
		zr = deflate(&zs, Z_FINISH);
		out->len += want - zs.avail_out;
		if (zr == Z_STREAM_END)
			break;
		/* With fresh output room deflate always progresses; anything
		 * but Z_OK (Z_BUF_ERROR included) would loop forever. */
		if (zr != Z_OK) {
			rc = KP_ERR_COMPRESS;
			break;
		}
	}
	deflateEnd(&zs);
	return rc;
}

static int gzip_decompress(const uint8_t *in, size_t len, size_t max_out, kp_buf *out)
{
	z_stream zs;
	sink s;
	int zr, rc;

	sink_init(&s, out, max_out);
	memset(&zs, 0, sizeof zs);
	/* 15 + 16: gzip only. Kafka's gzip is GZIPOutputStream's; a bare
	 * zlib stream here would be a producer bug, not a format to honour. */
	zr = inflateInit2(&zs, 15 + 16);
	if (zr != Z_OK)
		return zr == Z_MEM_ERROR ? KP_ERR_NOMEM : KP_ERR_DECOMPRESS;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		size_t n, got;
		uint8_t *p = sink_space(&s, &n);

		if (p == NULL) {
			rc = sink_nomem(&s);
			break;
		}
		zs.next_out = p;
		zs.avail_out = (uInt)n;
		zr = inflate(&zs, Z_NO_FLUSH);
		got = n - zs.avail_out;
		if ((rc = sink_commit(&s, got)) != 0)
			break;
		if (zr == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;           /* rc == 0: done */
			/* Another gzip member follows; anything else is junk. */
			if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b &&
			    inflateReset(&zs) == Z_OK)
				continue;
			rc = KP_ERR_DECOMPRESS;
			break;
		}
		if (zr == Z_OK)
			continue;
		/* Z_BUF_ERROR with fresh output room means the input ended
		 * mid-stream; the rest are corrupt data or no memory. */
		rc = zr == Z_MEM_ERROR ? KP_ERR_NOMEM : KP_ERR_DECOMPRESS;
		break;
	}
	inflateEnd(&zs);
	return rc;
}

/* ----------------------------------------------------------------- lz4 */

static int lz4_compress(const uint8_t *in, size_t len, kp_buf *out)
{
	LZ4F_preferences_t prefs;
	size_t bound, r;
	uint8_t *p;

	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
	bound = LZ4F_compressFrameBound(len, &prefs);
	p = kp_buf_reserve(out, bound);
	if (p == NULL)
		return out->err;
	r = LZ4F_compressFrame(p, bound, in, len, &prefs);
	if (LZ4F_isError(r))
		return KP_ERR_COMPRESS;
	out->len += r;
	return 0;
}

static int lz4_decompress(const uint8_t *in, size_t len, size_t max_out, kp_buf *out)
{
	LZ4F_dctx *dctx;
	sink s;
	int rc;

	sink_init(&s, out, max_out);
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		return KP_ERR_NOMEM;
	for (;;) {
		size_t n, src_n = len, r;
		uint8_t *p = sink_space(&s, &n);

		if (p == NULL) {
			rc = sink_nomem(&s);
			break;
		}
		r = LZ4F_decompress(dctx, p, &n, in, &src_n, NULL);
		if (LZ4F_isError(r)) {
			rc = KP_ERR_DECOMPRESS;
			break;
		}
		in += src_n;
		len -= src_n;
		if ((rc = sink_commit(&s, n)) != 0)
			break;
		/* r == 0: a frame ended and everything is flushed. More input
		 * is a concatenated frame, which the context starts afresh. */
		if (r == 0 && len == 0)
			break;
		/* No input taken and no output given although there was room:
		 * the input ended inside a frame. */
		if (src_n == 0 && n == 0) {
			rc = KP_ERR_DECOMPRESS;
			break;
		}
	}
	LZ4F_freeDecompressionContext(dctx);
	return rc;
}

/* ---------------------------------------------------------------- zstd */

static int zstd_compress(const uint8_t *in, size_t len, kp_buf *out)
{
	size_t bound = ZSTD_compressBound(len), r;
	uint8_t *p = kp_buf_reserve(out, bound);

	if (p == NULL)
		return out->err;
	/* Level 3 is zstd's and Kafka's default. */
	r = ZSTD_compress(p, bound, in, len, 3);
	if (ZSTD_isError(r))
		return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? KP_ERR_NOMEM
									      : KP_ERR_COMPRESS;
	out->len += r;
	return 0;
}

static int zstd_decompress(const uint8_t *in, size_t len, size_t max_out, kp_buf *out)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, len, 0 };
	sink s;
	int rc;

	sink_init(&s, out, max_out);
	if (ds == NULL)
		return KP_ERR_NOMEM;
	for (;;) {
		size_t n, in_before = ib.pos, r;
		ZSTD_outBuffer ob;
		uint8_t *p = sink_space(&s, &n);

		if (p == NULL) {
			rc = sink_nomem(&s);
			break;
		}
		ob.dst = p;
		ob.size = n;
		ob.pos = 0;
		r = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(r)) {
			rc = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation
				     ? KP_ERR_NOMEM : KP_ERR_DECOMPRESS;
			break;
		}
		if ((rc = sink_commit(&s, ob.pos)) != 0)
			break;
		/* r == 0: a frame is decoded and flushed; further input is a
		 * further frame, which ZSTD_decompressStream continues into. */
		if (r == 0 && ib.pos == ib.size)
			break;
		if (ob.pos == 0 && ib.pos == in_before) {
			rc = KP_ERR_DECOMPRESS;      /* input ended inside a frame */
			break;
		}
	}
	ZSTD_freeDStream(ds);
	return rc;
}

/* ------------------------------------------------------------- dispatch */

int kp_compress(int codec, const void *in, size_t len, kp_buf *out)
{
	size_t start = out->len;
	int rc;

	if (out->err != 0)
		return out->err;
	if (len > KP__CODEC_MAX_LEN)
		return KP_ERR_TOO_LARGE;
	switch (codec) {
	case KP_CODEC_NONE:
		kp_buf_put(out, in, len);
		rc = out->err;
		break;
	case KP_CODEC_GZIP: rc = gzip_compress(in, len, out); break;
	case KP_CODEC_SNAPPY: rc = kp__snappy_compress(in, len, out); break;
	case KP_CODEC_LZ4: rc = lz4_compress(in, len, out); break;
	case KP_CODEC_ZSTD: rc = zstd_compress(in, len, out); break;
	default: return KP_ERR_CODEC;
	}
	if (rc != 0)
		out->len = start;
	return rc;
}

int kp_decompress(int codec, const void *in, size_t len, size_t max_out, kp_buf *out)
{
	size_t start = out->len;
	int rc;

	if (out->err != 0)
		return out->err;
	/* Nothing longer can be a batch's records, and the limit keeps every
	 * length inside zlib's 32-bit counters. */
	if (len > KP__CODEC_MAX_LEN)
		return KP_ERR_TOO_LARGE;
	if (max_out > KP__CODEC_MAX_LEN)
		max_out = KP__CODEC_MAX_LEN;
	switch (codec) {
	case KP_CODEC_NONE:
		if (len > max_out)
			return KP_ERR_TOO_LARGE;
		kp_buf_put(out, in, len);
		rc = out->err;
		break;
	case KP_CODEC_GZIP: rc = gzip_decompress(in, len, max_out, out); break;
	case KP_CODEC_SNAPPY: rc = kp__snappy_decompress(in, len, max_out, out); break;
	case KP_CODEC_LZ4: rc = lz4_decompress(in, len, max_out, out); break;
	case KP_CODEC_ZSTD: rc = zstd_decompress(in, len, max_out, out); break;
	default: return KP_ERR_CODEC;
	}
	if (rc != 0)
		out->len = start;
	return rc;
}
