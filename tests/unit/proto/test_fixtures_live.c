/*
 * test_fixtures_live.c -- runs tests/fixtures/capture_batches (librdkafka
 * producing to its in-process mock cluster) into a fresh directory and
 * checks that the batches it captures today decode, for every codec, to the
 * committed expected records. This catches a fixture that only passes
 * because it was committed once: the real client is asked again.
 *
 *   test_proto_fixtures_live CAPTURE_BATCHES_PATH
 */
#include <check.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto/proto.h"
#include "fixture_check.h"

extern char **environ;

/* Set once in main() before any test forks; read-only afterwards. */
static const char *capture_path;

START_TEST(fresh_librdkafka_batches_decode_to_committed_records)
{
	char tmpl[] = "/tmp/kp_live_XXXXXX", path[4096], cmd[4096];
	char *argv[3];
	const char *dir = fx_committed_dir();
	uint8_t *a, *b;
	size_t alen, blen;
	fx_expected e;
	pid_t pid;
	int status, codec;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	argv[0] = (char *)capture_path;
	argv[1] = tmpl;
	argv[2] = NULL;
	ck_assert_int_eq(posix_spawn(&pid, capture_path, NULL, NULL, argv, environ), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "capture_batches failed (status 0x%x)", status);

	/* The generator must still describe the records that were committed. */
	snprintf(path, sizeof path, "%s/expected.txt", dir);
	a = fx_read_file(path, &alen);
	snprintf(path, sizeof path, "%s/expected.txt", tmpl);
	b = fx_read_file(path, &blen);
	ck_assert_msg(alen == blen && memcmp(a, b, alen) == 0,
		      "capture_batches now writes different records than the committed "
		      "expected.txt: regenerate and commit the fixtures");
	free(a);
	free(b);

	snprintf(path, sizeof path, "%s/expected.txt", dir);
	fx_expected_load(path, &e);
	for (codec = KP_CODEC_NONE; codec <= KP_CODEC_ZSTD; codec++)
		fx_check_batch_file(tmpl, codec, &e);
	fx_expected_free(&e);

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("proto_fixtures_live");
	TCase *tc = tcase_create("librdkafka_mock");
	SRunner *sr;
	int failed;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CAPTURE_BATCHES_PATH\n", argv[0]);
		return EXIT_FAILURE;
	}
	capture_path = argv[1];
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fresh_librdkafka_batches_decode_to_committed_records);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
