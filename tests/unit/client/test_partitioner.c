/*
 * test_partitioner.c -- Kafka's murmur2 and the Java client's choice of
 * partition for a keyed record. The vectors are Kafka's own
 * (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
 * testMurmur2), as Java ints.
 */
#include <check.h>
#include <string.h>

#include "client/client.h"

static const struct {
	const char *key;
	int32_t hash;
} vectors[] = {
	{ "21", -973932308 },
	{ "foobar", -790332482 },
	{ "a-little-bit-long-string", -985981536 },
	{ "a-little-bit-longer-string", -1486304829 },
	{ "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971 },
	{ "abc", 479470107 },
};

START_TEST(murmur2_matches_kafkas_vectors)
{
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
		ck_assert_int_eq((int32_t)cl_murmur2(vectors[i].key, strlen(vectors[i].key)),
				 vectors[i].hash);
}
END_TEST

START_TEST(partition_is_positive_hash_modulo_count)
{
	/* toPositive(h) = h & 0x7fffffff, not abs(h): for "21" (negative)
	 * the two differ in the partition they give. */
	int32_t h = -973932308;
	for (int32_t n = 1; n <= 50; n++)
		ck_assert_int_eq(cl_partition_for_key("21", 2, n),
				 (int32_t)(((uint32_t)h & 0x7fffffffu) % (uint32_t)n));
	ck_assert_int_eq(cl_partition_for_key("abc", 3, 7), 479470107 % 7);
}
END_TEST

START_TEST(empty_key_hashes_like_java)
{
	/* Java's murmur2 of an empty array: h = seed ^ 0, then the final mix. */
	uint32_t h = 0x9747b28cu;
	h ^= h >> 13;
	h *= 0x5bd1e995u;
	h ^= h >> 15;
	ck_assert_uint_eq(cl_murmur2("", 0), h);
}
END_TEST

static Suite *partitioner_suite(void)
{
	Suite *s = suite_create("client_partitioner");
	TCase *t = tcase_create("murmur2");
	tcase_add_test(t, murmur2_matches_kafkas_vectors);
	tcase_add_test(t, partition_is_positive_hash_modulo_count);
	tcase_add_test(t, empty_key_hashes_like_java);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(partitioner_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
