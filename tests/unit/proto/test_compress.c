/*
 * test_compress.c -- the five codecs: round trips over sizes that cross
 * every block boundary, the wire formats Kafka clients expect (gzip header,
 * xerial snappy, LZ4 frames, zstd frames without content size), max_out
 * enforced exactly (including against small "bombs"), and hostile input --
 * garbage, every truncation -- answered with an error, never a crash.
 */
#include <check.h>
#include <stdio.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "proto/proto.h"

#define MAX_OUT_BIG (64u * 1024 * 1024)

/* Text-like, compressible bytes (repeats with variation). */
static uint8_t *make_text(size_t n)
{
	static const char words[] = "lorem ipsum dolor sit amet kafka rewind batch record ";
	uint8_t *d = malloc(n ? n : 1);
	size_t i;

	ck_assert_ptr_nonnull(d);
	for (i = 0; i < n; i++)
		d[i] = (uint8_t)words[(i * 7 + i / 61) % (sizeof words - 1)];
	return d;
}

static uint8_t *make_random(size_t n, unsigned seed)
{
	uint8_t *d = malloc(n ? n : 1);
	size_t i;

	ck_assert_ptr_nonnull(d);
	for (i = 0; i < n; i++)
		d[i] = (uint8_t)rand_r(&seed);
	return d;
}

static void round_trip(int codec, const uint8_t *d, size_t n)
{
	kp_buf c, u;
	int rc;

	kp_buf_init(&c);
	kp_buf_init(&u);
	rc = kp_compress(codec, d, n, &c);
	ck_assert_msg(rc == 0, "%s compress of %zu bytes: %s", kp_codec_name(codec), n,
		      kp_strerror(rc));
	rc = kp_decompress(codec, c.data, c.len, n, &u);
	ck_assert_msg(rc == 0, "%s decompress of %zu bytes: %s", kp_codec_name(codec), n,
		      kp_strerror(rc));
	ck_assert_uint_eq(u.len, n);
	if (n > 0)
		ck_assert(memcmp(u.data, d, n) == 0);
	kp_buf_free(&c);
	kp_buf_free(&u);
}

/* Sizes around snappy's 32 KiB xerial blocks and lz4's 64 KiB blocks. */
static const size_t sizes[] = { 0, 1, 2, 100, 32767, 32768, 32769, 65535, 65536, 65537,
				200000, 1000003 };

START_TEST(every_codec_round_trips_text_and_random_bytes_of_many_sizes)
{
	size_t i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		uint8_t *t = make_text(sizes[i]), *r = make_random(sizes[i], (unsigned)i);

		round_trip(_i, t, sizes[i]);
		round_trip(_i, r, sizes[i]);
		free(t);
		free(r);
	}
}
END_TEST

START_TEST(compressible_input_really_shrinks)
{
	uint8_t *t = make_text(100000);
	kp_buf c;

	kp_buf_init(&c);
	ck_assert_int_eq(kp_compress(_i, t, 100000, &c), 0);
	ck_assert_uint_lt(c.len, 100000 / 2);
	kp_buf_free(&c);
	free(t);
}
END_TEST

START_TEST(output_of_exactly_max_out_is_allowed_and_one_byte_less_refused)
{
	size_t n = 70000;
	uint8_t *t = make_text(n);
	kp_buf c, u;

	kp_buf_init(&c);
	kp_buf_init(&u);
	ck_assert_int_eq(kp_compress(_i, t, n, &c), 0);
	ck_assert_int_eq(kp_decompress(_i, c.data, c.len, n, &u), 0);
	ck_assert_uint_eq(u.len, n);
	kp_buf_reset(&u);
	ck_assert_int_eq(kp_decompress(_i, c.data, c.len, n - 1, &u), KP_ERR_TOO_LARGE);
	ck_assert_uint_eq(u.len, 0);
	ck_assert_int_eq(kp_decompress(_i, c.data, c.len, 0, &u), KP_ERR_TOO_LARGE);
	ck_assert_uint_eq(u.len, 0);
	kp_buf_free(&c);
	kp_buf_free(&u);
	free(t);
}
END_TEST

START_TEST(decompression_bomb_is_refused_without_inflating_it)
{
	/* 64 MiB of zeros compresses to well under 1 MiB with every codec;
	 * with a 1 MiB limit the decoder must stop early and hold little
	 * memory. */
	size_t n = 64u * 1024 * 1024;
	uint8_t *z = calloc(1, n);
	kp_buf c, u;

	ck_assert_ptr_nonnull(z);
	kp_buf_init(&c);
	kp_buf_init(&u);
	ck_assert_int_eq(kp_compress(_i, z, n, &c), 0);
	free(z);
	ck_assert_uint_lt(c.len, 4u * 1024 * 1024);
	kp_buf_put(&u, "keep", 4);
	ck_assert_int_eq(kp_decompress(_i, c.data, c.len, 1024 * 1024, &u), KP_ERR_TOO_LARGE);
	ck_assert_uint_eq(u.len, 4);           /* earlier contents kept, nothing added */
	ck_assert_mem_eq(u.data, "keep", 4);
	ck_assert_uint_le(u.cap, 4u * 1024 * 1024);
	kp_buf_free(&c);
	kp_buf_free(&u);
}
END_TEST

START_TEST(snappy_length_header_claiming_4gib_is_refused_before_allocating)
{
	/* Raw snappy: varint uncompressed length 0xffffffff, then a literal. */
	static const uint8_t bomb[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 'x' };
	kp_buf u;

	kp_buf_init(&u);
	ck_assert_int_eq(kp_decompress(KP_CODEC_SNAPPY, bomb, sizeof bomb, MAX_OUT_BIG, &u),
			 KP_ERR_TOO_LARGE);
	ck_assert_uint_eq(u.cap, 0);
	kp_buf_free(&u);
}
END_TEST

START_TEST(garbage_input_is_a_decompress_error)
{
	static const char junk[] = "this is certainly not compressed data, just some text.";
	kp_buf u;

	kp_buf_init(&u);
	ck_assert_int_eq(kp_decompress(_i, junk, sizeof junk - 1, MAX_OUT_BIG, &u),
			 KP_ERR_DECOMPRESS);
	ck_assert_int_eq(kp_decompress(_i, junk, 0, MAX_OUT_BIG, &u), KP_ERR_DECOMPRESS);
	ck_assert_uint_eq(u.len, 0);
	ck_assert_int_eq(u.err, 0);
	kp_buf_free(&u);
}
END_TEST

START_TEST(random_garbage_never_crashes_and_always_errs)
{
	unsigned seed = 99 + (unsigned)_i;
	int round;

	for (round = 0; round < 2000; round++) {
		size_t n = (size_t)rand_r(&seed) % 512;
		uint8_t *g = make_random(n, (unsigned)rand_r(&seed));
		kp_buf u;
		int rc;

		kp_buf_init(&u);
		rc = kp_decompress(_i, g, n, 1024 * 1024, &u);
		/* Random bytes are almost never a valid stream; if they are,
		 * the output is bounded anyway. */
		ck_assert(rc == KP_ERR_DECOMPRESS || rc == KP_ERR_TOO_LARGE || rc == 0);
		if (rc != 0)
			ck_assert_uint_eq(u.len, 0);
		ck_assert_uint_le(u.len, 1024 * 1024);
		kp_buf_free(&u);
		free(g);
	}
}
END_TEST

START_TEST(every_truncation_of_a_stream_is_an_error)
{
	size_t n = 70000, cut;
	uint8_t *t = make_text(n);
	kp_buf c, u;

	kp_buf_init(&c);
	kp_buf_init(&u);
	ck_assert_int_eq(kp_compress(_i, t, n, &c), 0);
	for (cut = 0; cut < c.len; cut++) {
		int rc;

		kp_buf_reset(&u);
		rc = kp_decompress(_i, c.data, cut, n, &u);
		if (_i == KP_CODEC_SNAPPY && rc == 0) {
			/* Xerial has no end marker: a cut between blocks is a
			 * shorter valid stream. It must then be a prefix. */
			ck_assert_uint_lt(u.len, n);
			ck_assert(u.len == 0 || memcmp(u.data, t, u.len) == 0);
			continue;
		}
		ck_assert_msg(rc == KP_ERR_DECOMPRESS, "%s cut at %zu of %zu: %s",
			      kp_codec_name(_i), cut, c.len, kp_strerror(rc));
		ck_assert_uint_eq(u.len, 0);
	}
	kp_buf_free(&c);
	kp_buf_free(&u);
	free(t);
}
END_TEST

START_TEST(flipped_bytes_in_a_stream_never_crash)
{
	size_t n = 20000, pos;
	uint8_t *t = make_text(n);
	kp_buf c, u;

	kp_buf_init(&c);
	kp_buf_init(&u);
	ck_assert_int_eq(kp_compress(_i, t, n, &c), 0);
	for (pos = 0; pos < c.len; pos++) {
		static const uint8_t masks[] = { 0x01, 0x80, 0xff };
		size_t m;

		for (m = 0; m < sizeof masks; m++) {
			int rc;

			c.data[pos] ^= masks[m];
			kp_buf_reset(&u);
			rc = kp_decompress(_i, c.data, c.len, n, &u);
			ck_assert(rc == 0 || rc == KP_ERR_DECOMPRESS || rc == KP_ERR_TOO_LARGE);
			ck_assert_uint_le(u.len, n);
			c.data[pos] ^= masks[m];
		}
	}
	kp_buf_free(&c);
	kp_buf_free(&u);
	free(t);
}
END_TEST

START_TEST(gzip_output_is_a_gzip_member_and_concatenated_members_decode)
{
	kp_buf c, u;

	kp_buf_init(&c);
	kp_buf_init(&u);
	ck_assert_int_eq(kp_compress(KP_CODEC_GZIP, "hello ", 6, &c), 0);
	ck_assert_uint_ge(c.len, 18);
	ck_assert_int_eq(c.data[0], 0x1f);
	ck_assert_int_eq(c.data[1], 0x8b);
	ck_assert_int_eq(c.data[2], 8);          /* deflate */
	ck_assert_int_eq(kp_compress(KP_CODEC_GZIP, "world", 5, &c), 0);
	ck_assert_int_eq(kp_decompress(KP_CODEC_GZIP, c.data, c.len, 100, &u), 0);
	ck_assert_uint_eq(u.len, 11);
	ck_assert_mem_eq(u.data, "hello world", 11);
	/* A trailing byte that starts no member is junk. */
	kp_buf_put(&c, "x", 1);
	kp_buf_reset(&u);
	ck_assert_int_eq(kp_decompress(KP_CODEC_GZIP, c.data, c.len, 100, &u), KP_ERR_DECOMPRESS);
	kp_buf_free(&c);
	kp_buf_free(&u);
}
END_TEST

START_TEST(snappy_output_uses_xerial_framing_like_java)
{
	static const uint8_t hdr[16] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1 };
	size_t n = 100000;
	uint8_t *t = make_text(n);
	kp_reader r;
	kp_buf c;
	int blocks = 0;

	kp_buf_init(&c);
	ck_assert_int_eq(kp_compress(KP_CODEC_SNAPPY, t, n, &c), 0);
	ck_assert_mem_eq(c.data, hdr, 16);
	/* Blocks of 32 KiB of input each, as snappy-java writes. */
	r = kp_reader_make(c.data + 16, c.len - 16);
	while (kp_reader_left(&r) > 0) {
		uint32_t blen = kp_read_u32(&r);
		const uint8_t *b = kp_read_bytes(&r, blen);
		size_t ulen;

		ck_assert_ptr_nonnull(b);
		ck_assert_int_eq(snappy_uncompressed_length((const char *)b, blen, &ulen), SNAPPY_OK);
		ck_assert_uint_eq(ulen, blocks < 3 ? 32768 : n - 3 * 32768);
		blocks++;
	}
	ck_assert_int_eq(blocks, 4);
	kp_buf_free(&c);
	free(t);
}
END_TEST

START_TEST(snappy_raw_block_as_librdkafka_writes_decodes)
{
	size_t n = 50000, clen = snappy_max_compressed_length(n);
	uint8_t *t = make_text(n);
	char *raw = malloc(clen);
	kp_buf u;

	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(snappy_compress((const char *)t, n, raw, &clen), SNAPPY_OK);
	kp_buf_init(&u);
	ck_assert_int_eq(kp_decompress(KP_CODEC_SNAPPY, raw, clen, n, &u), 0);
	ck_assert_uint_eq(u.len, n);
	ck_assert(memcmp(u.data, t, n) == 0);
	kp_buf_free(&u);
	free(raw);
	free(t);
}
END_TEST

START_TEST(snappy_xerial_stream_built_by_hand_decodes)
{
	/* Header with version/compat fields other than ours, two blocks. */
	static const uint8_t hdr[16] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1 };
	const char *parts[2] = { "first block, ", "second block" };
	kp_buf x, u;
	int i;

	kp_buf_init(&x);
	kp_buf_init(&u);
	kp_buf_put(&x, hdr, sizeof hdr);
	for (i = 0; i < 2; i++) {
		size_t clen = snappy_max_compressed_length(strlen(parts[i]));
		char *blk = malloc(clen);

		ck_assert_ptr_nonnull(blk);
		ck_assert_int_eq(snappy_compress(parts[i], strlen(parts[i]), blk, &clen), SNAPPY_OK);
		kp_buf_put_i32(&x, (int32_t)clen);
		kp_buf_put(&x, blk, clen);
		free(blk);
	}
	ck_assert_int_eq(kp_decompress(KP_CODEC_SNAPPY, x.data, x.len, 100, &u), 0);
	ck_assert_uint_eq(u.len, 25);
	ck_assert_mem_eq(u.data, "first block, second block", 25);
	/* The limit counts across blocks. */
	kp_buf_reset(&u);
	ck_assert_int_eq(kp_decompress(KP_CODEC_SNAPPY, x.data, x.len, 24, &u), KP_ERR_TOO_LARGE);
	ck_assert_uint_eq(u.len, 0);
	/* A block length running past the end is an error. */
	kp_store_be32(x.data + 16, 1000);
	ck_assert_int_eq(kp_decompress(KP_CODEC_SNAPPY, x.data, x.len, 100, &u), KP_ERR_DECOMPRESS);
	kp_buf_free(&x);
	kp_buf_free(&u);
}
END_TEST

START_TEST(lz4_output_is_a_frame_and_concatenated_frames_decode)
{
	kp_buf c, u;

	kp_buf_init(&c);
	kp_buf_init(&u);
	ck_assert_int_eq(kp_compress(KP_CODEC_LZ4, "hello ", 6, &c), 0);
	ck_assert_mem_eq(c.data, ((const uint8_t[]){ 0x04, 0x22, 0x4d, 0x18 }), 4);
	ck_assert_int_eq(kp_compress(KP_CODEC_LZ4, "world", 5, &c), 0);
	ck_assert_int_eq(kp_decompress(KP_CODEC_LZ4, c.data, c.len, 100, &u), 0);
	ck_assert_uint_eq(u.len, 11);
	ck_assert_mem_eq(u.data, "hello world", 11);
	kp_buf_free(&c);
	kp_buf_free(&u);
}
END_TEST

START_TEST(zstd_frame_without_content_size_decodes)
{
	size_t n = 300000, bound = ZSTD_compressBound(n), r;
	uint8_t *t = make_text(n), *c = malloc(bound);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_inBuffer ib = { t, n, 0 };
	ZSTD_outBuffer ob = { c, bound, 0 };
	kp_buf u;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(cc);
	/* Streaming, as zstd-jni and librdkafka compress: no content size. */
	ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
	do {
		r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
		ck_assert(!ZSTD_isError(r));
	} while (r != 0);
	ck_assert_uint_eq(ZSTD_getFrameContentSize(c, ob.pos), ZSTD_CONTENTSIZE_UNKNOWN);
	kp_buf_init(&u);
	ck_assert_int_eq(kp_decompress(KP_CODEC_ZSTD, c, ob.pos, n, &u), 0);
	ck_assert_uint_eq(u.len, n);
	ck_assert(memcmp(u.data, t, n) == 0);
	kp_buf_reset(&u);
	ck_assert_int_eq(kp_decompress(KP_CODEC_ZSTD, c, ob.pos, n - 1, &u), KP_ERR_TOO_LARGE);
	kp_buf_free(&u);
	ZSTD_freeCCtx(cc);
	free(c);
	free(t);
}
END_TEST

START_TEST(compress_appends_after_existing_bytes)
{
	kp_buf c, u;

	kp_buf_init(&c);
	kp_buf_init(&u);
	kp_buf_put(&c, "HDR", 3);
	ck_assert_int_eq(kp_compress(_i, "payload", 7, &c), 0);
	ck_assert_mem_eq(c.data, "HDR", 3);
	kp_buf_put(&u, "pre", 3);
	ck_assert_int_eq(kp_decompress(_i, c.data + 3, c.len - 3, 7, &u), 0);
	ck_assert_uint_eq(u.len, 10);
	ck_assert_mem_eq(u.data, "prepayload", 10);
	kp_buf_free(&c);
	kp_buf_free(&u);
}
END_TEST

START_TEST(unknown_codec_is_refused)
{
	kp_buf b;

	kp_buf_init(&b);
	ck_assert_int_eq(kp_compress(5, "x", 1, &b), KP_ERR_CODEC);
	ck_assert_int_eq(kp_compress(-1, "x", 1, &b), KP_ERR_CODEC);
	ck_assert_int_eq(kp_decompress(7, "x", 1, 10, &b), KP_ERR_CODEC);
	ck_assert_uint_eq(b.len, 0);
	kp_buf_free(&b);
}
END_TEST

START_TEST(codec_names_parse_both_ways)
{
	int c;

	for (c = KP_CODEC_NONE; c <= KP_CODEC_ZSTD; c++)
		ck_assert_int_eq(kp_codec_parse(kp_codec_name(c)), c);
	ck_assert_str_eq(kp_codec_name(KP_CODEC_LZ4), "lz4");
	ck_assert_int_eq(kp_codec_parse("ZSTD"), KP_CODEC_ZSTD);
	ck_assert_ptr_null(kp_codec_name(5));
	ck_assert_ptr_null(kp_codec_name(-1));
	ck_assert_int_eq(kp_codec_parse("producer"), KP_ERR_CODEC);
	ck_assert_int_eq(kp_codec_parse(""), KP_ERR_CODEC);
	ck_assert_int_eq(kp_codec_parse(NULL), KP_ERR_CODEC);
}
END_TEST

static Suite *compress_suite(void)
{
	Suite *s = suite_create("proto_compress");
	TCase *tc = tcase_create("codecs");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, every_codec_round_trips_text_and_random_bytes_of_many_sizes,
			    KP_CODEC_NONE, KP_CODEC_ZSTD + 1);
	tcase_add_loop_test(tc, compressible_input_really_shrinks, KP_CODEC_GZIP, KP_CODEC_ZSTD + 1);
	tcase_add_loop_test(tc, output_of_exactly_max_out_is_allowed_and_one_byte_less_refused,
			    KP_CODEC_NONE, KP_CODEC_ZSTD + 1);
	tcase_add_loop_test(tc, decompression_bomb_is_refused_without_inflating_it,
			    KP_CODEC_GZIP, KP_CODEC_ZSTD + 1);
	tcase_add_test(tc, snappy_length_header_claiming_4gib_is_refused_before_allocating);
	tcase_add_loop_test(tc, garbage_input_is_a_decompress_error, KP_CODEC_GZIP,
			    KP_CODEC_ZSTD + 1);
	tcase_add_loop_test(tc, random_garbage_never_crashes_and_always_errs, KP_CODEC_GZIP,
			    KP_CODEC_ZSTD + 1);
	tcase_add_loop_test(tc, every_truncation_of_a_stream_is_an_error, KP_CODEC_GZIP,
			    KP_CODEC_ZSTD + 1);
	tcase_add_loop_test(tc, flipped_bytes_in_a_stream_never_crash, KP_CODEC_GZIP,
			    KP_CODEC_ZSTD + 1);
	tcase_add_test(tc, gzip_output_is_a_gzip_member_and_concatenated_members_decode);
	tcase_add_test(tc, snappy_output_uses_xerial_framing_like_java);
	tcase_add_test(tc, snappy_raw_block_as_librdkafka_writes_decodes);
	tcase_add_test(tc, snappy_xerial_stream_built_by_hand_decodes);
	tcase_add_test(tc, lz4_output_is_a_frame_and_concatenated_frames_decode);
	tcase_add_test(tc, zstd_frame_without_content_size_decodes);
	tcase_add_loop_test(tc, compress_appends_after_existing_bytes, KP_CODEC_NONE,
			    KP_CODEC_ZSTD + 1);
	tcase_add_test(tc, unknown_codec_is_refused);
	tcase_add_test(tc, codec_names_parse_both_ways);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(compress_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
