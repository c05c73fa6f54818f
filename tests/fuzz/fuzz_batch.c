/*
 * fuzz_batch.c -- libFuzzer target for the record batches inside a Produce
 * request: the bytes the request decoder hands over as a view, which the
 * produce path then validates (kp_batch_validate), inflates (all four
 * codecs) and walks record by record and header by header.
 *
 * Each input runs twice: as it is, and with its batchLength and CRC made
 * right for its size, so that mutations get past the CRC into the codecs
 * and the record walk (seeded with librdkafka's batches of every codec in
 * tests/fixtures/batches).
 *
 * Oracle, beyond the sanitizers: every byte of every key, value and header
 * view is read (a view outside its buffer is an ASan report), and a batch
 * that walks to its end is built again from its records with the same
 * codec (kp_batch_builder) and must walk to the same records.
 *
 * Built only with -Dfuzz=true (clang), beside fuzz_request.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What touch() read, kept where the compiler cannot drop the reads. */
extern unsigned fuzz_batch_touched;
unsigned fuzz_batch_touched;

/* Bigger inflates are refused; the broker's own limit is larger, but the
 * code path is the same and a small one keeps each run fast. */
#define MAX_INFLATE (1u << 20)
#define MAX_RECORDS 4096

typedef struct seen {
	int n;
	int64_t ts[MAX_RECORDS];
	kp_record rec[MAX_RECORDS];
} seen;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_batch: %s\n", what);
	abort();
}

/* Reads every byte of a view: ASan stops the run on one outside its buffer. */
static unsigned touch(const uint8_t *p, int32_t len)
{
	unsigned sum = 0;
	for (int32_t i = 0; p && i < len; i++)
		sum += p[i];
	return sum;
}

/* Equal views: both null (length -1) or the same bytes. */
static bool view_eq(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	return alen == blen && (a == NULL) == (b == NULL) &&
	       (alen <= 0 || memcmp(a, b, (size_t)alen) == 0);
}

/* Equal headers, one by one (not by their bytes: the input may spell a
 * varint in more bytes than the builder does). */
static bool headers_eq(const kp_record *x, const kp_record *y)
{
	size_t px = 0, py = 0;
	kp_header a, b;
	int rx, ry;

	while ((rx = kp_record_header_next(x, &px, &a)) == 1 &&
	       (ry = kp_record_header_next(y, &py, &b)) == 1)
		if (!view_eq(a.key, a.key_len, b.key, b.key_len) ||
		    !view_eq(a.value, a.value_len, b.value, b.value_len))
			return false;
	return rx == 0 && kp_record_header_next(y, &py, &b) == 0;
}

/* Walks one batch: 1 when every record parsed to the end, else 0. The
 * records stay valid while it lives. */
static int walk(kp_record_iter *it, const uint8_t *b, size_t len, seen *s, unsigned *sum)
{
	kp_record rec;
	int rc;

	s->n = 0;
	if (kp_record_iter_init(it, b, len, MAX_INFLATE) < 0)
		return 0;
	while ((rc = kp_record_iter_next(it, &rec)) == 1) {
		kp_header h;
		size_t pos = 0;
		int hrc;

		*sum += touch(rec.key, rec.key_len) + touch(rec.value, rec.value_len);
		while ((hrc = kp_record_header_next(&rec, &pos, &h)) == 1)
			*sum += touch(h.key, h.key_len) + touch(h.value, h.value_len);
		if (hrc < 0)
			die("a record that parsed has headers that do not");
		if (s->n == MAX_RECORDS)
			return 0;
		s->rec[s->n++] = rec;
	}
	if (rc == 0 && s->n != it->hdr.records_count)
		die("the walk ended before the batch's record count");
	return rc == 0;
}

/* Builds the records again with the batch's codec and walks the result:
 * the same keys, values, headers and timestamps must come back. */
static void rebuild_and_compare(const kp_batch_header *h, const seen *a, unsigned *sum)
{
	kp_batch_builder bb;
	kp_buf out;
	kp_batch_header h2;
	kp_record_iter it;
	static seen b;

	kp_batch_builder_init(&bb, kp_batch_codec(h), 0);
	kp_buf_init(&out);
	for (int i = 0; i < a->n; i++) {
		const kp_record *r = &a->rec[i];
		kp_header hs[64];
		size_t pos = 0;
		int32_t nh = 0;

		while (nh < 64 && kp_record_header_next(r, &pos, &hs[nh]) == 1)
			nh++;
		if (nh != r->headers_count ||
		    kp_batch_builder_add(&bb, r->timestamp, r->key, r->key_len, r->value, r->value_len,
					 hs, nh) != 0)
			goto out;      /* not expressible again (too many headers, a delta overflow) */
	}
	if (kp_batch_builder_finish(&bb, &out) != 0)
		goto out;
	if (kp_batch_validate(out.data, out.len, &h2) != 0 || kp_batch_size(&h2) != out.len)
		die("a batch the builder made does not validate");
	if (!walk(&it, out.data, out.len, &b, sum))
		die("a batch the builder made does not walk");
	if (b.n != a->n)
		die("the rebuilt batch has another record count");
	for (int i = 0; i < a->n; i++) {
		const kp_record *x = &a->rec[i], *y = &b.rec[i];
		if (!view_eq(x->key, x->key_len, y->key, y->key_len) ||
		    !view_eq(x->value, x->value_len, y->value, y->value_len) ||
		    x->headers_count != y->headers_count || !headers_eq(x, y) ||
		    x->timestamp != y->timestamp)
			die("a rebuilt record differs from the one it was built from");
	}
	kp_record_iter_free(&it);
out:
	kp_buf_free(&out);
	kp_batch_builder_free(&bb);
}

/* The produce path on one batch: validate, then walk; a walk that ends
 * cleanly is rebuilt and compared. */
static unsigned check_batch(const uint8_t *b, size_t size)
{
	kp_batch_header h;
	kp_record_iter it;
	static seen s;
	unsigned sum = 0;

	if (kp_batch_validate(b, size, &h) != 0)
		return 0;
	if (kp_batch_size(&h) > size)
		die("a batch validated that is longer than its bytes");
	if (walk(&it, b, kp_batch_size(&h), &s, &sum) &&
	    !(h.attributes & KP_ATTR_LOG_APPEND_TIME))
		rebuild_and_compare(&h, &s, &sum);
	kp_record_iter_free(&it);
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *b;

	/* A copy of exactly the input's size, so ASan sees a read past it. */
	if (!(b = malloc(size ? size : 1)))
		return 0;
	memcpy(b, data, size);
	fuzz_batch_touched += check_batch(b, size);
	if (size >= KP_BATCH_HEADER_SIZE && size - KP_BATCH_LOG_OVERHEAD <= INT32_MAX) {
		kp_store_be32(b + 8, (uint32_t)(size - KP_BATCH_LOG_OVERHEAD));
		kp_batch_update_crc(b, size);
		fuzz_batch_touched += check_batch(b, size);
	}
	free(b);
	return 0;
}
