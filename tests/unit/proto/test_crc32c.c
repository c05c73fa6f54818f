/*
 * test_crc32c.c -- CRC-32C: published check values (the "123456789" check
 * and RFC 3720's iSCSI vectors), incremental use, and the hardware path
 * agreeing with the portable one on random lengths and alignments.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

/* Both implementations must give `want`; the hardware one only if present. */
static void assert_both(const void *d, size_t n, uint32_t want)
{
	ck_assert_uint_eq(kp_crc32c_portable(0, d, n), want);
	ck_assert_uint_eq(kp_crc32c(0, d, n), want);
}

START_TEST(check_value_of_123456789_is_e3069283)
{
	assert_both("123456789", 9, 0xE3069283u);
}
END_TEST

START_TEST(empty_input_keeps_the_crc)
{
	assert_both("", 0, 0);
	ck_assert_uint_eq(kp_crc32c(0x12345678u, "", 0), 0x12345678u);
	ck_assert_uint_eq(kp_crc32c_portable(0x12345678u, NULL, 0), 0x12345678u);
}
END_TEST

START_TEST(rfc3720_iscsi_vectors_match)
{
	uint8_t d[32];
	int i;

	memset(d, 0, sizeof d);
	assert_both(d, sizeof d, 0x8A9136AAu);
	memset(d, 0xff, sizeof d);
	assert_both(d, sizeof d, 0x62A8AB43u);
	for (i = 0; i < 32; i++)
		d[i] = (uint8_t)i;
	assert_both(d, sizeof d, 0x46DD794Eu);
	for (i = 0; i < 32; i++)
		d[i] = (uint8_t)(31 - i);
	assert_both(d, sizeof d, 0x113FDB5Cu);
}
END_TEST

START_TEST(crc_extends_over_pieces)
{
	static const char s[] = "The quick brown fox jumps over the lazy dog, twice over.";
	size_t n = sizeof s - 1, cut;
	uint32_t whole = kp_crc32c(0, s, n);

	for (cut = 0; cut <= n; cut++) {
		ck_assert_uint_eq(kp_crc32c(kp_crc32c(0, s, cut), s + cut, n - cut), whole);
		ck_assert_uint_eq(kp_crc32c_portable(kp_crc32c_portable(0, s, cut), s + cut, n - cut),
				  whole);
	}
}
END_TEST

START_TEST(hardware_and_portable_agree_on_random_lengths_and_alignments)
{
	enum { MAX = 4096 + 16 };
	uint8_t *buf = malloc(MAX);
	unsigned seed = 12345;
	int round;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < MAX; i++)
		buf[i] = (uint8_t)rand_r(&seed);
	if (!kp_crc32c_hw_available())
		fprintf(stderr, "note: no SSE4.2 here; kp_crc32c uses the table path\n");
	for (round = 0; round < 5000; round++) {
		size_t off = (size_t)rand_r(&seed) % 16;
		size_t len = (size_t)rand_r(&seed) % (MAX - 16);
		uint32_t init = round % 3 == 0 ? 0 : (uint32_t)rand_r(&seed);

		ck_assert_uint_eq(kp_crc32c(init, buf + off, len),
				  kp_crc32c_portable(init, buf + off, len));
	}
	free(buf);
}
END_TEST

static Suite *crc32c_suite(void)
{
	Suite *s = suite_create("proto_crc32c");
	TCase *tc = tcase_create("crc32c");

	tcase_add_test(tc, check_value_of_123456789_is_e3069283);
	tcase_add_test(tc, empty_input_keeps_the_crc);
	tcase_add_test(tc, rfc3720_iscsi_vectors_match);
	tcase_add_test(tc, crc_extends_over_pieces);
	tcase_add_test(tc, hardware_and_portable_agree_on_random_lengths_and_alignments);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(crc32c_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
