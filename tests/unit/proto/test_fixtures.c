/*
 * test_fixtures.c -- RecordBatches written by a real client (librdkafka,
 * through tests/fixtures/capture_batches.c) and committed under
 * tests/fixtures/batches/: every codec's batch must pass the CRC check and
 * decode to the records listed in expected.txt, and rewind's builder must
 * write the uncompressed batch exactly as librdkafka did.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "fixture_check.h"

START_TEST(committed_batch_of_each_codec_decodes_to_expected_records)
{
	const char *dir = fx_committed_dir();
	char path[4096];
	fx_expected e;

	snprintf(path, sizeof path, "%s/expected.txt", dir);
	fx_expected_load(path, &e);
	fx_check_batch_file(dir, _i, &e);
	fx_expected_free(&e);
}
END_TEST

/* Rebuilds a batch from the expected records with the given codec. */
static void build_from_expected(const fx_expected *e, int codec, kp_buf *out)
{
	kp_batch_builder b;
	size_t i;
	int h;

	kp_batch_builder_init(&b, codec, e->recs[0].offset);
	/* librdkafka writes partitionLeaderEpoch 0 where Java writes -1. */
	b.partition_leader_epoch = 0;
	for (i = 0; i < e->n; i++) {
		const fx_record *r = &e->recs[i];
		kp_header hs[FX_MAX_HEADERS];

		for (h = 0; h < r->nheaders; h++) {
			hs[h].key = (const uint8_t *)r->hkey[h].ptr;
			hs[h].key_len = r->hkey[h].len;
			hs[h].value = (const uint8_t *)r->hvalue[h].ptr;
			hs[h].value_len = r->hvalue[h].len;
		}
		ck_assert_int_eq(kp_batch_builder_add(&b, r->timestamp, r->key.ptr, r->key.len,
						      r->value.ptr, r->value.len, hs, r->nheaders), 0);
	}
	ck_assert_int_eq(kp_batch_builder_finish(&b, out), 0);
	kp_batch_builder_free(&b);
}

START_TEST(builder_writes_uncompressed_batch_byte_for_byte_like_librdkafka)
{
	const char *dir = fx_committed_dir();
	char path[4096];
	fx_expected e;
	uint8_t *want;
	size_t want_len, i;
	kp_buf out;

	snprintf(path, sizeof path, "%s/expected.txt", dir);
	fx_expected_load(path, &e);
	snprintf(path, sizeof path, "%s/none.bin", dir);
	want = fx_read_file(path, &want_len);
	kp_buf_init(&out);
	build_from_expected(&e, KP_CODEC_NONE, &out);
	ck_assert_uint_eq(out.len, want_len);
	for (i = 0; i < want_len; i++)
		ck_assert_msg(out.data[i] == want[i], "byte %zu: 0x%02x, librdkafka wrote 0x%02x",
			      i, out.data[i], want[i]);
	kp_buf_free(&out);
	free(want);
	fx_expected_free(&e);
}
END_TEST

START_TEST(fixture_records_rebuilt_with_each_codec_decode_the_same)
{
	const char *dir = fx_committed_dir();
	char path[4096], tmpl[] = "/tmp/kp_fixture_XXXXXX";
	fx_expected e;
	kp_buf out;
	FILE *f;

	snprintf(path, sizeof path, "%s/expected.txt", dir);
	fx_expected_load(path, &e);
	kp_buf_init(&out);
	build_from_expected(&e, _i, &out);
	/* Through a file so the very same checker reads it. */
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(path, sizeof path, "%s/%s.bin", tmpl, fx_codecs[_i]);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(out.data, 1, out.len, f), out.len);
	ck_assert_int_eq(fclose(f), 0);
	fx_check_batch_file(tmpl, _i, &e);
	unlink(path);
	rmdir(tmpl);
	kp_buf_free(&out);
	fx_expected_free(&e);
}
END_TEST

static Suite *fixtures_suite(void)
{
	Suite *s = suite_create("proto_fixtures");
	TCase *tc = tcase_create("librdkafka");

	tcase_add_loop_test(tc, committed_batch_of_each_codec_decodes_to_expected_records,
			    KP_CODEC_NONE, KP_CODEC_ZSTD + 1);
	tcase_add_test(tc, builder_writes_uncompressed_batch_byte_for_byte_like_librdkafka);
	tcase_add_loop_test(tc, fixture_records_rebuilt_with_each_codec_decode_the_same,
			    KP_CODEC_NONE, KP_CODEC_ZSTD + 1);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fixtures_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
