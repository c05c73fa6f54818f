/*
 * test_reader.c -- kp_reader, kp_buf and varints: known encodings, every
 * boundary of the 32- and 64-bit ranges, overlong encodings refused, and
 * short reads that set the error without moving or overrunning.
 */
#include <check.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#ifdef __SANITIZE_ADDRESS__
/* Under AddressSanitizer a huge malloc aborts by default; the NOMEM test
 * needs it to return NULL as libc does. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

static const int32_t varint_cases[] = {
	0, 1, -1, 2, -2, 63, -64, 64, -65, 127, 128, 8191, -8192, 8192, -8193,
	1048575, -1048576, 1048576, 134217727, -134217728, 134217728,
	INT32_MAX - 1, INT32_MAX, INT32_MIN + 1, INT32_MIN,
};

static const int64_t varlong_cases[] = {
	0, 1, -1, 63, -64, 64, INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
	(int64_t)INT32_MIN - 1, 1700000000000LL, -1700000000000LL,
	(1LL << 55) - 1, 1LL << 55, -(1LL << 55), INT64_MAX - 1, INT64_MAX,
	INT64_MIN + 1, INT64_MIN,
};

/* A null key or value is a NULL pointer with length 0: its reader has
 * nothing to read (and is made without NULL + 0, undefined in C). */
START_TEST(reader_of_null_is_empty)
{
	kp_reader r = kp_reader_make(NULL, 0);

	ck_assert_uint_eq(kp_reader_left(&r), 0);
	ck_assert(kp_reader_ok(&r));
	(void)kp_read_i16(&r);
	ck_assert(!kp_reader_ok(&r));
}
END_TEST

START_TEST(varint_round_trips_every_boundary)
{
	size_t i;

	for (i = 0; i < sizeof varint_cases / sizeof varint_cases[0]; i++) {
		kp_buf b;
		kp_reader r;

		kp_buf_init(&b);
		kp_buf_put_varint(&b, varint_cases[i]);
		ck_assert_int_eq(b.err, 0);
		ck_assert_uint_eq(b.len, kp_varint_size(varint_cases[i]));
		ck_assert_uint_le(b.len, 5);
		r = kp_reader_make(b.data, b.len);
		ck_assert_int_eq(kp_read_varint(&r), varint_cases[i]);
		ck_assert(kp_reader_ok(&r));
		ck_assert_uint_eq(kp_reader_left(&r), 0);
		kp_buf_free(&b);
	}
}
END_TEST

START_TEST(varlong_round_trips_every_boundary)
{
	size_t i;

	for (i = 0; i < sizeof varlong_cases / sizeof varlong_cases[0]; i++) {
		kp_buf b;
		kp_reader r;

		kp_buf_init(&b);
		kp_buf_put_varlong(&b, varlong_cases[i]);
		ck_assert_int_eq(b.err, 0);
		ck_assert_uint_eq(b.len, kp_varlong_size(varlong_cases[i]));
		ck_assert_uint_le(b.len, 10);
		r = kp_reader_make(b.data, b.len);
		ck_assert_int_eq(kp_read_varlong(&r), varlong_cases[i]);
		ck_assert(kp_reader_ok(&r));
		ck_assert_uint_eq(kp_reader_left(&r), 0);
		kp_buf_free(&b);
	}
}
END_TEST

START_TEST(uvarint_round_trips_full_range)
{
	static const uint32_t cases[] = { 0, 1, 127, 128, 16383, 16384, 300, UINT32_MAX - 1,
					  UINT32_MAX };
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		kp_buf b;
		kp_reader r;

		kp_buf_init(&b);
		kp_buf_put_uvarint(&b, cases[i]);
		r = kp_reader_make(b.data, b.len);
		ck_assert_uint_eq(kp_read_uvarint(&r), cases[i]);
		ck_assert(kp_reader_ok(&r));
		ck_assert_uint_eq(kp_reader_left(&r), 0);
		kp_buf_free(&b);
	}
}
END_TEST

static void assert_encoding(int64_t v, bool is_long, const uint8_t *want, size_t n)
{
	kp_buf b;

	kp_buf_init(&b);
	if (is_long)
		kp_buf_put_varlong(&b, v);
	else
		kp_buf_put_varint(&b, (int32_t)v);
	ck_assert_uint_eq(b.len, n);
	ck_assert_mem_eq(b.data, want, n);
	kp_buf_free(&b);
}

START_TEST(varints_encode_to_kafka_known_bytes)
{
	/* Java ByteUtils.writeVarint / writeVarlong output. */
	assert_encoding(0, false, (const uint8_t[]){ 0x00 }, 1);
	assert_encoding(-1, false, (const uint8_t[]){ 0x01 }, 1);
	assert_encoding(1, false, (const uint8_t[]){ 0x02 }, 1);
	assert_encoding(-64, false, (const uint8_t[]){ 0x7f }, 1);
	assert_encoding(64, false, (const uint8_t[]){ 0x80, 0x01 }, 2);
	assert_encoding(INT32_MAX, false, (const uint8_t[]){ 0xfe, 0xff, 0xff, 0xff, 0x0f }, 5);
	assert_encoding(INT32_MIN, false, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0x0f }, 5);
	assert_encoding(INT64_MIN, true,
			(const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 },
			10);
	assert_encoding(INT64_MAX, true,
			(const uint8_t[]){ 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 },
			10);
	{
		kp_buf b;

		kp_buf_init(&b);
		kp_buf_put_uvarint(&b, 300);
		ck_assert_uint_eq(b.len, 2);
		ck_assert_mem_eq(b.data, ((const uint8_t[]){ 0xac, 0x02 }), 2);
		kp_buf_free(&b);
	}
}
END_TEST

START_TEST(varint_with_sixth_byte_is_corrupt)
{
	static const uint8_t d[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	kp_reader r = kp_reader_make(d, sizeof d);

	ck_assert_int_eq(kp_read_varint(&r), 0);
	ck_assert_int_eq(r.err, KP_ERR_CORRUPT);
	r = kp_reader_make(d, sizeof d);
	ck_assert_uint_eq(kp_read_uvarint(&r), 0);
	ck_assert_int_eq(r.err, KP_ERR_CORRUPT);
}
END_TEST

START_TEST(varint_with_bits_beyond_32_is_corrupt)
{
	static const uint8_t d[] = { 0xff, 0xff, 0xff, 0xff, 0x1f };
	kp_reader r = kp_reader_make(d, sizeof d);

	kp_read_varint(&r);
	ck_assert_int_eq(r.err, KP_ERR_CORRUPT);
}
END_TEST

START_TEST(varlong_with_eleventh_byte_or_bits_beyond_64_is_corrupt)
{
	static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
					  0x80, 0x00 };
	static const uint8_t wide[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					0x02 };
	kp_reader r = kp_reader_make(eleven, sizeof eleven);

	kp_read_varlong(&r);
	ck_assert_int_eq(r.err, KP_ERR_CORRUPT);
	r = kp_reader_make(wide, sizeof wide);
	kp_read_varlong(&r);
	ck_assert_int_eq(r.err, KP_ERR_CORRUPT);
}
END_TEST

START_TEST(non_minimal_varint_within_five_bytes_is_accepted_like_java)
{
	static const uint8_t d[] = { 0x82, 0x80, 0x80, 0x00 };
	kp_reader r = kp_reader_make(d, sizeof d);

	ck_assert_int_eq(kp_read_varint(&r), 1);
	ck_assert(kp_reader_ok(&r));
}
END_TEST

START_TEST(truncated_varints_are_short_reads)
{
	static const uint8_t d[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 };
	size_t n;

	for (n = 0; n < sizeof d; n++) {
		kp_reader r = kp_reader_make(d, n);

		ck_assert_int_eq(kp_read_varlong(&r), 0);
		ck_assert_int_eq(r.err, KP_ERR_SHORT);
		if (n < 5) {
			r = kp_reader_make(d, n);
			ck_assert_int_eq(kp_read_varint(&r), 0);
			ck_assert_int_eq(r.err, KP_ERR_SHORT);
		}
	}
}
END_TEST

START_TEST(fixed_width_reads_are_big_endian)
{
	static const uint8_t d[] = { 0x81, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
				     0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0xff, 0xff, 0xff, 0xfe };
	kp_reader r = kp_reader_make(d, sizeof d);

	ck_assert_int_eq(kp_read_i8(&r), (int8_t)0x81);
	ck_assert_int_eq(kp_read_i16(&r), 0x0203);
	ck_assert_int_eq(kp_read_i32(&r), 0x04050607);
	ck_assert_int_eq(kp_read_i64(&r), 0x08090a0b0c0d0e0fLL);
	ck_assert_int_eq(kp_read_i8(&r), 0x10);
	ck_assert_uint_eq(kp_read_u32(&r), 0xfffffffeu);
	ck_assert(kp_reader_ok(&r));
	ck_assert_uint_eq(kp_reader_left(&r), 0);
}
END_TEST

START_TEST(short_fixed_reads_set_err_return_zero_and_do_not_advance)
{
	static const uint8_t d[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	size_t n;

	for (n = 0; n < 8; n++) {
		kp_reader r = kp_reader_make(d, n);

		ck_assert_int_eq(kp_read_i64(&r), 0);
		ck_assert_int_eq(r.err, KP_ERR_SHORT);
		ck_assert_ptr_eq(r.p, d);
		if (n < 4) {
			r = kp_reader_make(d, n);
			ck_assert_int_eq(kp_read_i32(&r), 0);
			ck_assert_int_eq(r.err, KP_ERR_SHORT);
			r = kp_reader_make(d, n);
			ck_assert_uint_eq(kp_read_u32(&r), 0);
			ck_assert_int_eq(r.err, KP_ERR_SHORT);
		}
		if (n < 2) {
			r = kp_reader_make(d, n);
			ck_assert_int_eq(kp_read_i16(&r), 0);
			ck_assert_int_eq(r.err, KP_ERR_SHORT);
		}
		if (n < 1) {
			r = kp_reader_make(d, n);
			ck_assert_int_eq(kp_read_i8(&r), 0);
			ck_assert_int_eq(r.err, KP_ERR_SHORT);
		}
	}
}
END_TEST

START_TEST(reader_error_is_sticky_and_keeps_the_first_cause)
{
	static const uint8_t d[] = { 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4 };
	kp_reader r = kp_reader_make(d, sizeof d);

	kp_read_varint(&r);
	ck_assert_int_eq(r.err, KP_ERR_CORRUPT);
	/* Bytes remain, but a failed reader yields nothing more. */
	ck_assert_int_eq(kp_read_i32(&r), 0);
	ck_assert_ptr_null(kp_read_bytes(&r, 1));
	kp_read_i64(&r);
	ck_assert_int_eq(r.err, KP_ERR_CORRUPT);
}
END_TEST

START_TEST(read_bytes_returns_views_and_null_only_on_error)
{
	static const uint8_t d[] = { 'a', 'b', 'c' };
	kp_reader r = kp_reader_make(d, sizeof d);
	kp_reader e = kp_reader_make(NULL, 0);

	ck_assert_ptr_eq(kp_read_bytes(&r, 2), d);
	ck_assert_ptr_nonnull(kp_read_bytes(&r, 0));
	ck_assert_ptr_null(kp_read_bytes(&r, 2));
	ck_assert_int_eq(r.err, KP_ERR_SHORT);
	ck_assert_ptr_nonnull(kp_read_bytes(&e, 0));
	ck_assert(kp_reader_ok(&e));
	e = kp_reader_make(d, sizeof d);
	ck_assert_ptr_null(kp_read_bytes(&e, SIZE_MAX));
	ck_assert_int_eq(e.err, KP_ERR_SHORT);
}
END_TEST

START_TEST(buf_writes_big_endian_and_grows)
{
	kp_buf b;
	size_t i;

	kp_buf_init(&b);
	kp_buf_put_i8(&b, -2);
	kp_buf_put_i16(&b, 0x0102);
	kp_buf_put_i32(&b, 0x03040506);
	kp_buf_put_i64(&b, 0x0708090a0b0c0d0eLL);
	ck_assert_uint_eq(b.len, 15);
	ck_assert_mem_eq(b.data, ((const uint8_t[]){ 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
						     12, 13, 14 }),
			 15);
	for (i = 0; i < 100000; i++)
		kp_buf_put_i8(&b, (int8_t)i);
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(b.len, 100015);
	ck_assert_int_eq(b.data[100014], (uint8_t)99999);
	kp_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_ge(b.cap, 100015);
	kp_buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(buf_refuses_size_overflow_and_then_ignores_appends)
{
	kp_buf b;

	kp_buf_init(&b);
	kp_buf_put_i32(&b, 1);
	ck_assert_ptr_null(kp_buf_reserve(&b, SIZE_MAX));
	ck_assert_int_eq(b.err, KP_ERR_OVERFLOW);
	kp_buf_put_i32(&b, 2);
	ck_assert_uint_eq(b.len, 4);
	kp_buf_free(&b);
}
END_TEST

START_TEST(buf_reports_allocation_failure_as_nomem)
{
	kp_buf b;

	kp_buf_init(&b);
	/* Far beyond any address space, but not a size_t overflow. */
	ck_assert_ptr_null(kp_buf_reserve(&b, SIZE_MAX / 2));
	ck_assert_int_eq(b.err, KP_ERR_NOMEM);
	kp_buf_free(&b);
}
END_TEST

START_TEST(strerror_names_every_error)
{
	static const int errs[] = { KP_ERR_SHORT, KP_ERR_CORRUPT, KP_ERR_CRC, KP_ERR_MAGIC,
				    KP_ERR_CODEC, KP_ERR_DECOMPRESS, KP_ERR_TOO_LARGE,
				    KP_ERR_NOMEM, KP_ERR_OVERFLOW, KP_ERR_COMPRESS };
	size_t i;

	for (i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		ck_assert_ptr_nonnull(kp_strerror(errs[i]));
		ck_assert_str_ne(kp_strerror(errs[i]), "unknown error");
		ck_assert_int_lt(errs[i], -1000);
	}
	ck_assert_str_eq(kp_strerror(-1), "unknown error");
	ck_assert_str_eq(kp_strerror(12345), "unknown error");
}
END_TEST

static Suite *reader_suite(void)
{
	Suite *s = suite_create("proto_reader");
	TCase *tc = tcase_create("reader");

	tcase_add_test(tc, reader_of_null_is_empty);
	tcase_add_test(tc, varint_round_trips_every_boundary);
	tcase_add_test(tc, varlong_round_trips_every_boundary);
	tcase_add_test(tc, uvarint_round_trips_full_range);
	tcase_add_test(tc, varints_encode_to_kafka_known_bytes);
	tcase_add_test(tc, varint_with_sixth_byte_is_corrupt);
	tcase_add_test(tc, varint_with_bits_beyond_32_is_corrupt);
	tcase_add_test(tc, varlong_with_eleventh_byte_or_bits_beyond_64_is_corrupt);
	tcase_add_test(tc, non_minimal_varint_within_five_bytes_is_accepted_like_java);
	tcase_add_test(tc, truncated_varints_are_short_reads);
	tcase_add_test(tc, fixed_width_reads_are_big_endian);
	tcase_add_test(tc, short_fixed_reads_set_err_return_zero_and_do_not_advance);
	tcase_add_test(tc, reader_error_is_sticky_and_keeps_the_first_cause);
	tcase_add_test(tc, read_bytes_returns_views_and_null_only_on_error);
	tcase_add_test(tc, buf_writes_big_endian_and_grows);
	tcase_add_test(tc, buf_refuses_size_overflow_and_then_ignores_appends);
	tcase_add_test(tc, buf_reports_allocation_failure_as_nomem);
	tcase_add_test(tc, strerror_names_every_error);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(reader_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
