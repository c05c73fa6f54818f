/*
 * kp_msgs_int.h -- the primitive-type readers and writers that the generated
 * codecs (kp_msgs.c) call, implemented in primitives.c. Internal to proto/.
 *
 * Readers follow kp_reader's rule: a failure records the first error in
 * r->err and returns a zero value (null views, count 0), so generated code
 * checks r->err where it must (before allocating or looping) and at the end.
 * Writers follow kp_buf's rule: a failure records the first error in b->err
 * and later appends are ignored.
 *
 * `flex` selects the compact encodings of flexible versions; `nullable`
 * says whether this version allows null for the field.
 */
#ifndef REWIND_PROTO_SCHEMA_KP_MSGS_INT_H
#define REWIND_PROTO_SCHEMA_KP_MSGS_INT_H

#include "proto/kp_int.h"
#include "proto/schema/kp_msgs.h"

/* Kafka refuses strings longer than this in either encoding. */
#define KP__STRING_MAX 0x7fff

/* Records err in r unless an earlier error is there; returns r->err. */
int kp__rd_fail(kp_reader *r, int err);

/* A view into r's bytes; {NULL, -1} for null. Null where !nullable, a
 * negative length other than -1, or a string over KP__STRING_MAX is
 * KP_ERR_CORRUPT. */
kp_str kp__read_string(kp_reader *r, bool flex, bool nullable);
kp_bytes kp__read_bytes(kp_reader *r, bool flex, bool nullable);
kp_records kp__read_records(kp_reader *r, bool flex, bool nullable);

/*
 * An array's element count: -1 for null, else 0..INT32_MAX. A count whose
 * elements, at min_elem bytes each (at least 1), cannot fit in the bytes left
 * is KP_ERR_SHORT: it is refused before anything is allocated for it.
 */
int32_t kp__read_count(kp_reader *r, bool flex, bool nullable, size_t min_elem);

/* n (> 0) zeroed elements of `size` bytes from a; NULL with r->err set to
 * the arena's error (or KP_ERR_NOMEM for a NULL arena). */
void *kp__alloc_array(kp_reader *r, kp_arena *a, int32_t n, size_t size);

void kp__read_uuid(kp_reader *r, kp_uuid *out);
double kp__read_f64(kp_reader *r);

/*
 * One entry of a tagged-field section: returns its tag and points *sub at
 * its bytes (r advances past them). On error r->err is set, the tag is 0 and
 * *sub is empty.
 */
uint32_t kp__read_tag(kp_reader *r, kp_reader *sub);
/* After decoding a known tagged field from sub: moves sub's error to r, or
 * KP_ERR_CORRUPT when the field did not fill its declared size. */
int kp__tag_done(kp_reader *r, const kp_reader *sub);
/* Skips a whole tagged-field section none of whose tags are known. */
void kp__skip_tags(kp_reader *r);

/* Writers. A value the version cannot carry (see kp_msgs.h) fails b with
 * KP_ERR_FIELD. */
void kp__put_string(kp_buf *b, bool flex, bool nullable, kp_str s);
void kp__put_bytes(kp_buf *b, bool flex, bool nullable, kp_bytes v);
/* Like kp__put_bytes; an external value writes its length and records an
 * external region of that many bytes (kp_buf_put_external). */
void kp__put_records(kp_buf *b, bool flex, bool nullable, kp_records v);
void kp__put_count(kp_buf *b, bool flex, bool nullable, int32_t count, const void *items);
void kp__put_uuid(kp_buf *b, const kp_uuid *u);
void kp__put_f64(kp_buf *b, double v);

/*
 * A tagged field is its tag, its size, then its bytes; the size is known
 * only after the bytes are written. kp__tag_begin() writes the tag and
 * returns where the bytes start; kp__tag_end() inserts the size there.
 */
size_t kp__tag_begin(kp_buf *b, uint32_t tag);
void kp__tag_end(kp_buf *b, size_t at);

/* Default-value tests for tagged and non-ignorable fields. */
bool kp__str_is(kp_str s, const char *lit, size_t len);
bool kp__uuid_is_zero(const kp_uuid *u);

#endif /* REWIND_PROTO_SCHEMA_KP_MSGS_INT_H */
