/*
 * primitives.c -- the Kafka protocol's field encodings, for the generated
 * message codecs (kp_msgs.c).
 *
 *   type      classic versions          flexible versions
 *   string    int16 length, -1 null     uvarint length+1, 0 null
 *   bytes     int32 length, -1 null     uvarint length+1, 0 null
 *   records   as bytes                  as bytes
 *   array     int32 count, -1 null      uvarint count+1, 0 null
 *   uuid      16 bytes                  16 bytes
 *   float64   IEEE 754 big-endian       same
 *
 * Flexible structs end with a tagged-field section: uvarint count, then per
 * field uvarint tag, uvarint size, size bytes.
 *
 * Nothing read is trusted: lengths are checked against the bytes left before
 * a view is taken, and array counts against the smallest possible encoding
 * of their elements before memory is allocated for them. Strings and bytes
 * are views into the frame, never copies.
 */
#include <assert.h>
#include <string.h>

#include "proto/schema/kp_msgs_int.h"

/* ------------------------------------------------------------- reading */

int kp__rd_fail(kp_reader *r, int err)
{
	if (r->err == 0)
		r->err = err;
	return r->err;
}

/*
 * Reads a length in either encoding: -1 for null, else >= 0. Anything else
 * a classic length may hold (below -1) or a compact one may (above
 * INT32_MAX) is KP_ERR_CORRUPT. Returns -2 on error.
 */
static int64_t read_len(kp_reader *r, bool flex, bool wide)
{
	int64_t n;

	if (flex)
		n = (int64_t)kp_read_uvarint(r) - 1;
	else
		n = wide ? kp_read_i32(r) : kp_read_i16(r);
	if (r->err != 0)
		return -2;
	if (n < -1 || n > INT32_MAX) {
		kp__rd_fail(r, KP_ERR_CORRUPT);
		return -2;
	}
	return n;
}

/* Shared by strings and bytes: a view of len bytes, or null. */
static const uint8_t *read_view(kp_reader *r, bool flex, bool wide, bool nullable,
				int64_t max, int32_t *len)
{
	int64_t n = read_len(r, flex, wide);
	const uint8_t *p;

	*len = -1;
	if (n == -2)
		return NULL;
	if (n == -1) {
		if (!nullable)
			kp__rd_fail(r, KP_ERR_CORRUPT);
		return NULL;
	}
	if (n > max) {
		kp__rd_fail(r, KP_ERR_CORRUPT);
		return NULL;
	}
	p = kp_read_bytes(r, (size_t)n);
	if (p != NULL)
		*len = (int32_t)n;
	return p;
}

kp_str kp__read_string(kp_reader *r, bool flex, bool nullable)
{
	kp_str s;

	s.p = read_view(r, flex, false, nullable, KP__STRING_MAX, &s.len);
	return s;
}

kp_records kp__read_records(kp_reader *r, bool flex, bool nullable)
{
	kp_records v;

	v.p = read_view(r, flex, true, nullable, INT32_MAX, &v.len);
	v.external = false;
	return v;
}

kp_bytes kp__read_bytes(kp_reader *r, bool flex, bool nullable)
{
	kp_bytes v;

	v.p = read_view(r, flex, true, nullable, INT32_MAX, &v.len);
	return v;
}

int32_t kp__read_count(kp_reader *r, bool flex, bool nullable, size_t min_elem)
{
	int64_t n = read_len(r, flex, true);

	if (n == -2)
		return 0;
	if (n == -1) {
		if (!nullable) {
			kp__rd_fail(r, KP_ERR_CORRUPT);
			return 0;
		}
		return -1;
	}
	if (min_elem < 1)
		min_elem = 1;
	/* Division, not multiplication: n * min_elem could overflow. */
	if ((uint64_t)n > kp_reader_left(r) / min_elem) {
		kp__rd_fail(r, KP_ERR_SHORT);
		return 0;
	}
	return (int32_t)n;
}

void *kp__alloc_array(kp_reader *r, kp_arena *a, int32_t n, size_t size)
{
	void *p;

	assert(n > 0);
	if (a == NULL) {
		kp__rd_fail(r, KP_ERR_NOMEM);
		return NULL;
	}
	p = kp_arena_calloc(a, (size_t)n, size);
	if (p == NULL)
		kp__rd_fail(r, a->err != 0 ? a->err : KP_ERR_NOMEM);
	return p;
}

void kp__read_uuid(kp_reader *r, kp_uuid *out)
{
	const uint8_t *p = kp_read_bytes(r, sizeof out->b);

	if (p != NULL)
		memcpy(out->b, p, sizeof out->b);
	else
		memset(out->b, 0, sizeof out->b);
}

double kp__read_f64(kp_reader *r)
{
	uint64_t u = (uint64_t)kp_read_i64(r);
	double d;

	_Static_assert(sizeof d == sizeof u, "float64 is 8 bytes");
	memcpy(&d, &u, sizeof d);
	return d;
}

uint32_t kp__read_tag(kp_reader *r, kp_reader *sub)
{
	uint32_t tag = kp_read_uvarint(r);
	uint32_t size = kp_read_uvarint(r);
	const uint8_t *p = kp_read_bytes(r, size);

	if (p == NULL) {
		/* Not kp_reader_make(NULL, 0): NULL + 0 is undefined. */
		sub->p = sub->end = NULL;
		sub->err = r->err;
		return 0;
	}
	*sub = kp_reader_make(p, size);
	return tag;
}

int kp__tag_done(kp_reader *r, const kp_reader *sub)
{
	if (sub->err != 0)
		return kp__rd_fail(r, sub->err);
	/* Java reads a known tag without looking at its size; bytes left over
	 * mean the size lied, and a lying frame is refused. */
	if (kp_reader_left(sub) != 0)
		return kp__rd_fail(r, KP_ERR_CORRUPT);
	return r->err;
}

void kp__skip_tags(kp_reader *r)
{
	uint32_t n = kp_read_uvarint(r);
	kp_reader sub;

	/* Each entry takes at least two bytes, so a huge n ends at the first
	 * short read rather than spinning. */
	for (uint32_t i = 0; i < n && r->err == 0; i++)
		(void)kp__read_tag(r, &sub);
}

/* ------------------------------------------------------------- writing */

/* Writes a length or count: -1 means null. */
static void put_len(kp_buf *b, bool flex, bool wide, int64_t n)
{
	if (flex)
		kp_buf_put_uvarint(b, (uint32_t)(n + 1));
	else if (wide)
		kp_buf_put_i32(b, (int32_t)n);
	else
		kp_buf_put_i16(b, (int16_t)n);
}

static void put_view(kp_buf *b, bool flex, bool wide, bool nullable,
		     const uint8_t *p, int32_t len, int32_t max)
{
	if (len < -1 || len > max || (len > 0 && p == NULL) || (len == -1 && !nullable)) {
		kp__buf_fail(b, KP_ERR_FIELD);
		return;
	}
	put_len(b, flex, wide, len);
	if (len > 0)
		kp_buf_put(b, p, (size_t)len);
}

void kp__put_string(kp_buf *b, bool flex, bool nullable, kp_str s)
{
	put_view(b, flex, false, nullable, s.p, s.len, KP__STRING_MAX);
}

void kp__put_bytes(kp_buf *b, bool flex, bool nullable, kp_bytes v)
{
	put_view(b, flex, true, nullable, v.p, v.len, INT32_MAX);
}

void kp__put_records(kp_buf *b, bool flex, bool nullable, kp_records v)
{
	if (!v.external) {
		put_view(b, flex, true, nullable, v.p, v.len, INT32_MAX);
		return;
	}
	/* An external null has no bytes to send: refuse it as a programmer
	 * error the caller sees, rather than guess. */
	if (v.len < 0) {
		kp__buf_fail(b, KP_ERR_FIELD);
		return;
	}
	put_len(b, flex, true, v.len);
	(void)kp_buf_put_external(b, (size_t)v.len);
}

void kp__put_count(kp_buf *b, bool flex, bool nullable, int32_t count, const void *items)
{
	if (count < -1 || (count == -1 && !nullable) || (count > 0 && items == NULL)) {
		kp__buf_fail(b, KP_ERR_FIELD);
		return;
	}
	put_len(b, flex, true, count);
}

void kp__put_uuid(kp_buf *b, const kp_uuid *u)
{
	kp_buf_put(b, u->b, sizeof u->b);
}

void kp__put_f64(kp_buf *b, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof u);
	kp_buf_put_i64(b, (int64_t)u);
}

size_t kp__tag_begin(kp_buf *b, uint32_t tag)
{
	kp_buf_put_uvarint(b, tag);
	return b->len;
}

void kp__tag_end(kp_buf *b, size_t at)
{
	size_t n = b->len - at, k = 1;
	uint8_t *p;

	if (b->err != 0)
		return;
	if (n > UINT32_MAX) {
		kp__buf_fail(b, KP_ERR_OVERFLOW);
		return;
	}
	for (size_t v = n; v >= 0x80; v >>= 7)
		k++;
	if (kp_buf_reserve(b, k) == NULL)
		return;
	/* Slide the field's bytes over and put its size in front of them. */
	p = b->data + at;
	memmove(p + k, p, n);
	for (size_t i = 0, v = n; i < k; i++, v >>= 7)
		p[i] = (uint8_t)((v & 0x7f) | (i + 1 < k ? 0x80 : 0));
	b->len += k;
}

bool kp__str_is(kp_str s, const char *lit, size_t len)
{
	return s.len >= 0 && (size_t)s.len == len && (len == 0 || memcmp(s.p, lit, len) == 0);
}

bool kp__uuid_is_zero(const kp_uuid *u)
{
	static const kp_uuid zero;

	return memcmp(u->b, zero.b, sizeof zero.b) == 0;
}
