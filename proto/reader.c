/*
 * reader.c -- the bounded reader (kp_reader), the growable output buffer
 * (kp_buf), Kafka's varints, and kp_strerror().
 *
 * Every wire and file byte in rewind is read through kp_reader. The rule
 * that keeps malformed input harmless: a read that does not fit records
 * KP_ERR_SHORT in r->err, consumes nothing and returns zero; once r->err is
 * set every later read also returns zero. Callers therefore read a group of
 * fields and check kp_reader_ok() once, the way librdkafka's buffer readers
 * jump to err_parse.
 *
 * Varints are Kafka's (the protobuf encoding): 7 bits per byte, least
 * significant group first, high bit = "more follows"; signed values are
 * zigzag-mapped first (0,-1,1,-2 -> 0,1,2,3). A varint has at most 5 bytes
 * and a varlong at most 10, as in Java's ByteUtils. Non-minimal encodings
 * (0x80 0x00 for 0) are accepted because Java accepts them; a sixth (or
 * eleventh) byte, or bits in the last byte that do not fit the type, are
 * KP_ERR_CORRUPT.
 *
 * kp_buf records its first failure in b->err and ignores appends after it,
 * so a builder writes a whole structure and checks once.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/kp_int.h"

/* --------------------------------------------------------------- errors */

const char *kp_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case KP_ERR_SHORT: return "input ends before the structure does";
	case KP_ERR_CORRUPT: return "a field holds an impossible value";
	case KP_ERR_CRC: return "CRC-32C mismatch";
	case KP_ERR_MAGIC: return "record batch magic is not 2";
	case KP_ERR_CODEC: return "unknown compression codec";
	case KP_ERR_DECOMPRESS: return "compressed payload does not decode";
	case KP_ERR_TOO_LARGE: return "output would exceed the limit";
	case KP_ERR_NOMEM: return "out of memory";
	case KP_ERR_OVERFLOW: return "size computation would overflow";
	case KP_ERR_COMPRESS: return "compressor failed";
	case KP_ERR_VERSION: return "message version not supported";
	case KP_ERR_FIELD: return "value cannot be encoded in this message version";
	default: return "unknown error";
	}
}

/* --------------------------------------------------------------- reader */

static void rd_fail(kp_reader *r, int err)
{
	if (r->err == 0)
		r->err = err;
}

/* Returns the next n bytes and advances, or NULL (err set) when they are
 * not there or the reader already failed. */
static const uint8_t *rd_take(kp_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err != 0)
		return NULL;
	if (kp_reader_left(r) < n) {
		rd_fail(r, KP_ERR_SHORT);
		return NULL;
	}
	p = r->p;
	r->p += n;
	return p;
}

int8_t kp_read_i8(kp_reader *r)
{
	const uint8_t *p = rd_take(r, 1);
	return p ? (int8_t)p[0] : 0;
}

int16_t kp_read_i16(kp_reader *r)
{
	const uint8_t *p = rd_take(r, 2);
	return p ? (int16_t)kp_load_be16(p) : 0;
}

int32_t kp_read_i32(kp_reader *r)
{
	const uint8_t *p = rd_take(r, 4);
	return p ? (int32_t)kp_load_be32(p) : 0;
}

int64_t kp_read_i64(kp_reader *r)
{
	const uint8_t *p = rd_take(r, 8);
	return p ? (int64_t)kp_load_be64(p) : 0;
}

uint32_t kp_read_u32(kp_reader *r)
{
	const uint8_t *p = rd_take(r, 4);
	return p ? kp_load_be32(p) : 0;
}

/* The varint readers: kp_uleb_take (proto.h) holds the rules. */
static uint64_t rd_uleb(kp_reader *r, unsigned max_bytes, unsigned bits)
{
	uint64_t v;
	int rc;

	if (r->err != 0)
		return 0;
	if ((rc = kp_uleb_take(&r->p, r->end, max_bytes, bits, &v)) < 0) {
		rd_fail(r, rc);
		return 0;
	}
	return v;
}

uint32_t kp_read_uvarint(kp_reader *r)
{
	return (uint32_t)rd_uleb(r, 5, 32);
}

int32_t kp_read_varint(kp_reader *r)
{
	return (int32_t)kp_unzigzag(rd_uleb(r, 5, 32));
}

int64_t kp_read_varlong(kp_reader *r)
{
	return kp_unzigzag(rd_uleb(r, 10, 64));
}

const uint8_t *kp_read_bytes(kp_reader *r, size_t n)
{
	/* A zero-length read of an empty view must still be non-NULL, so that
	 * NULL means "error" and nothing else. */
	static const uint8_t empty[1];
	const uint8_t *p = rd_take(r, n);

	if (p == NULL && r->err == 0)
		p = empty;
	return p;
}

/* ------------------------------------------------------------------ buf */

void kp_buf_init(kp_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
	b->ext = NULL;
	b->n_ext = 0;
	b->cap_ext = 0;
	b->ext_bytes = 0;
}

void kp_buf_free(kp_buf *b)
{
	free(b->data);
	free(b->ext);
	kp_buf_init(b);
}

void kp_buf_reset(kp_buf *b)
{
	b->len = 0;
	b->err = 0;
	b->n_ext = 0;
	b->ext_bytes = 0;
}

int kp_buf_put_external(kp_buf *b, size_t len)
{
	if (b->err != 0)
		return b->err;
	if (len > SIZE_MAX - b->ext_bytes || b->len > SIZE_MAX - b->ext_bytes - len) {
		kp__buf_fail(b, KP_ERR_OVERFLOW);
		return b->err;
	}
	if (b->n_ext == b->cap_ext) {
		size_t cap = b->cap_ext ? b->cap_ext * 2 : 4;
		kp_buf_ext *e = realloc(b->ext, cap * sizeof(*e));

		if (e == NULL) {
			kp__buf_fail(b, KP_ERR_NOMEM);
			return b->err;
		}
		b->ext = e;
		b->cap_ext = cap;
	}
	b->ext[b->n_ext].pos = b->len;
	b->ext[b->n_ext].len = len;
	b->n_ext++;
	b->ext_bytes += len;
	return 0;
}

void kp_buf_truncate(kp_buf *b, size_t len, size_t n_ext)
{
	if (len < b->len)
		b->len = len;
	while (b->n_ext > n_ext) {
		b->n_ext--;
		b->ext_bytes -= b->ext[b->n_ext].len;
	}
}

uint8_t *kp_buf_reserve(kp_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *d;

	if (b->err != 0)
		return NULL;
	if (n > SIZE_MAX - b->len) {
		kp__buf_fail(b, KP_ERR_OVERFLOW);
		return NULL;
	}
	need = b->len + n;
	if (need <= b->cap)
		return b->data + b->len;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	d = realloc(b->data, cap);
	if (d == NULL) {
		kp__buf_fail(b, KP_ERR_NOMEM);
		return NULL;
	}
	b->data = d;
	b->cap = cap;
	return b->data + b->len;
}

void kp_buf_put(kp_buf *b, const void *data, size_t n)
{
	uint8_t *p;

	if (n == 0)
		return;
	p = kp_buf_reserve(b, n);
	if (p == NULL)
		return;
	memcpy(p, data, n);
	b->len += n;
}

void kp_buf_put_i8(kp_buf *b, int8_t v)
{
	uint8_t c = (uint8_t)v;
	kp_buf_put(b, &c, 1);
}

void kp_buf_put_i16(kp_buf *b, int16_t v)
{
	uint8_t t[2];
	kp_store_be16(t, (uint16_t)v);
	kp_buf_put(b, t, sizeof t);
}

void kp_buf_put_i32(kp_buf *b, int32_t v)
{
	uint8_t t[4];
	kp_store_be32(t, (uint32_t)v);
	kp_buf_put(b, t, sizeof t);
}

void kp_buf_put_i64(kp_buf *b, int64_t v)
{
	uint8_t t[8];
	kp_store_be64(t, (uint64_t)v);
	kp_buf_put(b, t, sizeof t);
}

static void buf_put_uleb(kp_buf *b, uint64_t u)
{
	uint8_t t[10];
	size_t n = 0;

	while (u >= 0x80) {
		t[n++] = (uint8_t)(u | 0x80);
		u >>= 7;
	}
	t[n++] = (uint8_t)u;
	kp_buf_put(b, t, n);
}

/* Zigzag maps through unsigned arithmetic only: shifting a negative signed
 * value left is undefined and shifting it right implementation-defined. */
static uint32_t zigzag32(int32_t v)
{
	uint32_t u = (uint32_t)v;
	return (u << 1) ^ (0u - (u >> 31));
}

static uint64_t zigzag64(int64_t v)
{
	uint64_t u = (uint64_t)v;
	return (u << 1) ^ (0u - (u >> 63));
}

void kp_buf_put_varint(kp_buf *b, int32_t v) { buf_put_uleb(b, zigzag32(v)); }
void kp_buf_put_varlong(kp_buf *b, int64_t v) { buf_put_uleb(b, zigzag64(v)); }
void kp_buf_put_uvarint(kp_buf *b, uint32_t v) { buf_put_uleb(b, v); }

static size_t uleb_size(uint64_t u)
{
	size_t n = 1;

	while (u >= 0x80) {
		u >>= 7;
		n++;
	}
	return n;
}

size_t kp_varint_size(int32_t v) { return uleb_size(zigzag32(v)); }
size_t kp_varlong_size(int64_t v) { return uleb_size(zigzag64(v)); }
