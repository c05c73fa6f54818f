/*
 * test_cleaner_util.h -- helpers shared by the cleaner's unit tests, its
 * crash loop and its benchmark: keyed batches in, the whole log out.
 *
 * Keys are "key-<n>", values "key-<n>=<version>" (NULL for a tombstone),
 * so a reader can tell which version of which key it got. Every record
 * carries one header ("h", the version) when asked to.
 */
#ifndef REWIND_TESTS_TEST_CLEANER_UTIL_H
#define REWIND_TESTS_TEST_CLEANER_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"
#include "storage/storage.h"

typedef struct ctu_rec {
	int key;                      /* key-<key> */
	int version;                  /* < 0: tombstone */
} ctu_rec;

typedef struct ctu_batch_opts {
	int codec;                    /* KP_CODEC_* */
	bool headers;                 /* one header per record */
	int64_t producer_id;          /* -1: not idempotent */
	int16_t producer_epoch;
	int32_t base_sequence;
	int64_t timestamp;            /* of the first record; +1 per record */
	size_t pad;                   /* value padded to at least this */
} ctu_batch_opts;

void ctu_opts_default(ctu_batch_opts *o);

/* Appends one batch of n records to out (offsets from 0: the log assigns
 * them). 0 or a kp_err. */
int ctu_build(kp_buf *out, const ctu_rec *r, int n, const ctu_batch_opts *o);

/* Appends one batch to the log and waits for it: 0 or an error; *base
 * (may be NULL) gets its base offset. */
int ctu_append(st_log *log, const ctu_rec *r, int n, const ctu_batch_opts *o, int64_t now_ms,
	       int64_t *base);

/* Appends batch bytes as they are (storage rewrites baseOffset and the
 * leader epoch in place) and waits for them: 0 or an error. */
int ctu_append_raw(st_log *log, uint8_t *data, size_t len, int64_t now_ms, int64_t *base);

/* What a full read of the log found. */
typedef struct ctu_seen {
	int nkeys;
	int *latest;                  /* per key: last version seen, -2 none,
	                                 -1 tombstone; owned */
	int64_t *latest_offset;       /* per key: its offset; owned */
	int64_t records, batches, empty_batches, gaps;
	bool ordered;                 /* offsets strictly ascending */
	bool headers_ok;              /* each record with a header had h=<version> */
	int duplicates;               /* keys seen more than once */
	int64_t regressions;          /* records whose version is not above
	                                 the previous one of their key */
	int64_t next_offset;          /* after the last batch */
} ctu_seen;

/*
 * Reads the readable log from its start with st_log_read and checks each
 * batch (CRC, record iteration); fills *s (free with ctu_seen_free). 0 or
 * an error.
 */
int ctu_read_all(st_log *log, int nkeys, ctu_seen *s);
void ctu_seen_free(ctu_seen *s);

#endif /* REWIND_TESTS_TEST_CLEANER_UTIL_H */
