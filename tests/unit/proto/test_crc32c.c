/*
 * test_crc32c.c -- CRC-32C: published check values (the "123456789" check
 * and RFC 3720's iSCSI vectors), long vectors computed outside the project,
 * incremental use, and the hardware path (three interleaved streams joined
 * by shift tables, for buffers of 768 bytes and more) agreeing with the
 * portable one and with a bit-at-a-time reference on random lengths and
 * alignments and at every boundary between its rounds.
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

/* CRC-32C one bit at a time, straight from the definition: the oracle the
 * fast paths are held to. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t c = ~crc;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return ~c;
}

/* Pseudo-random bytes, the same on every run. Caller frees with free(). */
static uint8_t *random_bytes(size_t n, unsigned seed)
{
	uint8_t *b = malloc(n);

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rand_r(&seed);
	return b;
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

/* Values from a bit-at-a-time CRC-32C written in Python, independent of
 * this code: long enough for several three-stream rounds of each size. */
START_TEST(long_vectors_computed_elsewhere_match)
{
	enum { N = 100000 };
	uint8_t *d = calloc(1, N);

	ck_assert_ptr_nonnull(d);
	assert_both(d, 65536, 0x72C0C4A4u);
	for (size_t i = 0; i < N; i++)
		d[i] = (uint8_t)(i * 167 + 13);
	assert_both(d, N, 0x503465F5u);
	free(d);
}
END_TEST

/* Lengths on and around each boundary of the hardware path: the 8-byte
 * alignment prologue, a short round (3 * 256), a long round (3 * 8192), and
 * mixes of both, at every start offset modulo 8. */
START_TEST(every_round_boundary_matches_the_bitwise_reference)
{
	static const size_t base[] = {
		0, 1, 7, 8, 9, 15, 16, 255, 256, 257, 511, 512, 767, 768, 769, 775, 776,
		1535, 1536, 1537, 8191, 8192, 8193, 24575, 24576, 24577, 24583, 24584,
		24576 + 768 - 1, 24576 + 768, 24576 + 768 + 1, 2 * 24576 + 2 * 768 + 9,
		3 * 24576 - 1, 3 * 24576 + 767,
	};
	enum { MAX = 3 * 24576 + 768 + 16 };
	uint8_t *buf = random_bytes(MAX, 777);

	for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
		for (size_t off = 0; off < 8; off++) {
			size_t n = base[i];
			uint32_t init = (uint32_t)(n * 2654435761u + off);
			uint32_t want = crc32c_bitwise(init, buf + off, n);

			ck_assert_msg(kp_crc32c(init, buf + off, n) == want,
				      "kp_crc32c length %zu offset %zu", n, off);
			ck_assert_msg(kp_crc32c_portable(init, buf + off, n) == want,
				      "kp_crc32c_portable length %zu offset %zu", n, off);
		}
	}
	free(buf);
}
END_TEST

/* Random lengths up to several long rounds, odd offsets included. */
START_TEST(hardware_and_portable_agree_on_long_random_buffers)
{
	enum { MAX = 4 * 24576 + 64 };
	uint8_t *buf = random_bytes(MAX, 4242);
	unsigned seed = 99;

	for (int round = 0; round < 400; round++) {
		size_t off = (size_t)rand_r(&seed) % 64;
		size_t len = (size_t)rand_r(&seed) % (MAX - 64);
		uint32_t init = (uint32_t)rand_r(&seed);
		uint32_t want = kp_crc32c_portable(init, buf + off, len);

		ck_assert_msg(kp_crc32c(init, buf + off, len) == want,
			      "length %zu offset %zu", len, off);
		if (round % 40 == 0)
			ck_assert_uint_eq(crc32c_bitwise(init, buf + off, len), want);
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
	tcase_add_test(tc, long_vectors_computed_elsewhere_match);
	tcase_add_test(tc, every_round_boundary_matches_the_bitwise_reference);
	tcase_add_test(tc, hardware_and_portable_agree_on_long_random_buffers);
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
