/*
 * fixture_check.h -- shared by the fixture tests (committed and live): loads
 * tests/fixtures/batches/expected.txt (format in capture_batches.c) and
 * checks that a batch file decodes to exactly those records.
 */
#ifndef REWIND_TESTS_FIXTURE_CHECK_H
#define REWIND_TESTS_FIXTURE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FX_MAX_HEADERS 4

/* A key or value from expected.txt: NULL ptr for null. Views into the
 * loaded file text. */
typedef struct fx_bytes {
	const char *ptr;
	int32_t len;
} fx_bytes;

typedef struct fx_record {
	int64_t offset;
	int64_t timestamp;
	fx_bytes key, value;
	int nheaders;
	fx_bytes hkey[FX_MAX_HEADERS], hvalue[FX_MAX_HEADERS];
} fx_record;

typedef struct fx_expected {
	char *text;          /* the file, tabs and newlines replaced by NULs */
	fx_record *recs;
	size_t n;
} fx_expected;

/* The codecs the fixtures cover, in codec-id order. */
extern const char *const fx_codecs[5];

/* Reads a whole file (at most 16 MiB) into a malloc'ed buffer the caller
 * frees; *len set. Fails the running Check test on any error. */
uint8_t *fx_read_file(const char *path, size_t *len);

/* Parses an expected.txt; fails the running test on any malformed line.
 * Release with fx_expected_free(). */
void fx_expected_load(const char *path, fx_expected *out);
void fx_expected_free(fx_expected *e);

/* Asserts that <dir>/<codec>.bin is one valid batch, compressed with that
 * codec, holding exactly the expected records. */
void fx_check_batch_file(const char *dir, int codec, const fx_expected *e);

/* $REWIND_SOURCE_ROOT/tests/fixtures/batches (static buffer). */
const char *fx_committed_dir(void);

#endif
