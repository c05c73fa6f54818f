/*
 * test_arena.c -- kp_arena (proto/arena.c), the bump allocator decoded
 * messages live in.
 */
#include <check.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

START_TEST(allocations_are_aligned_zeroed_and_distinct)
{
	kp_arena a;
	uint8_t *prev = NULL;

	kp_arena_init(&a, 0);
	for (size_t n = 0; n < 300; n++) {
		uint8_t *p = kp_arena_calloc(&a, n + 1, 1);

		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % alignof(max_align_t), 0);
		for (size_t i = 0; i <= n; i++)
			ck_assert_int_eq(p[i], 0);
		memset(p, 0xab, n + 1);
		ck_assert(p != prev);
		prev = p;
	}
	ck_assert_int_eq(a.err, 0);
	kp_arena_free(&a);
}
END_TEST

START_TEST(a_request_bigger_than_a_chunk_gets_its_own)
{
	kp_arena a;
	uint8_t *small, *big, *after;

	kp_arena_init(&a, 0);
	small = kp_arena_alloc(&a, 8);
	big = kp_arena_alloc(&a, (size_t)3 << 20);
	ck_assert_ptr_nonnull(big);
	memset(big, 1, (size_t)3 << 20);
	after = kp_arena_alloc(&a, 8);
	ck_assert_ptr_nonnull(small);
	ck_assert_ptr_nonnull(after);
	small[0] = 2;
	after[0] = 3;
	ck_assert_int_eq(big[0], 1);
	kp_arena_free(&a);
}
END_TEST

START_TEST(limit_refuses_and_error_sticks_until_reset)
{
	kp_arena a;

	kp_arena_init(&a, 100);
	ck_assert_ptr_nonnull(kp_arena_alloc(&a, 50));
	ck_assert_ptr_null(kp_arena_alloc(&a, 80));
	ck_assert_int_eq(a.err, KP_ERR_TOO_LARGE);
	ck_assert_ptr_null(kp_arena_alloc(&a, 1));
	kp_arena_reset(&a);
	ck_assert_int_eq(a.err, 0);
	ck_assert_uint_eq(a.used, 0);
	ck_assert_ptr_nonnull(kp_arena_alloc(&a, 80));
	kp_arena_free(&a);
}
END_TEST

START_TEST(overflowing_sizes_are_refused)
{
	kp_arena a;

	kp_arena_init(&a, 0);
	ck_assert_ptr_null(kp_arena_calloc(&a, SIZE_MAX / 2, 4));
	ck_assert_int_eq(a.err, KP_ERR_OVERFLOW);
	kp_arena_reset(&a);
	ck_assert_ptr_null(kp_arena_alloc(&a, SIZE_MAX - 3));
	ck_assert_int_eq(a.err, KP_ERR_OVERFLOW);
	kp_arena_free(&a);
}
END_TEST

START_TEST(reset_keeps_one_chunk_and_free_releases_all)
{
	kp_arena a;
	void *p, *q;

	kp_arena_init(&a, 0);
	for (int i = 0; i < 100; i++)
		ck_assert_ptr_nonnull(kp_arena_alloc(&a, 1000));
	kp_arena_reset(&a);
	p = kp_arena_alloc(&a, 16);
	ck_assert_ptr_nonnull(p);
	kp_arena_reset(&a);
	q = kp_arena_alloc(&a, 16);
	/* The kept chunk is reused from its start. */
	ck_assert_ptr_eq(p, q);
	kp_arena_free(&a);
	ck_assert_ptr_null(a.chunk);
	/* Usable again after free. */
	ck_assert_ptr_nonnull(kp_arena_alloc(&a, 16));
	kp_arena_free(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arena");
	TCase *tc = tcase_create("arena");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, allocations_are_aligned_zeroed_and_distinct);
	tcase_add_test(tc, a_request_bigger_than_a_chunk_gets_its_own);
	tcase_add_test(tc, limit_refuses_and_error_sticks_until_reset);
	tcase_add_test(tc, overflowing_sizes_are_refused);
	tcase_add_test(tc, reset_keeps_one_chunk_and_free_releases_all);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
