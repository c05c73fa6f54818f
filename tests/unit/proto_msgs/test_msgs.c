/*
 * test_msgs.c -- the generated Kafka message codecs (proto/schema/).
 *
 * Three kinds of evidence:
 *   - known bytes, written out by hand from the protocol's rules, for the
 *     versions where the encoding changes (classic vs flexible, nulls,
 *     tagged fields, topic ids, records views);
 *   - frames real clients sent (tests/fixtures/requests/, recorded from
 *     kcat/librdkafka and kafka-python): they decode, hold what the client
 *     meant, and re-encode to the very same bytes;
 *   - every version of every message, filled with pseudo-random values by
 *     the generated test support: encode -> decode gives the same message,
 *     every truncation is refused, and mutated frames never crash.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/schema/kp_msgs.h"
#include "kp_msgs_test.h"

/* ---------------------------------------------------------------- helpers */

/*
 * Parses hex bytes ("00 ff") with 'quoted' ASCII runs ("00 04 'test'") into a
 * malloc'd buffer of exactly that size, so AddressSanitizer sees any read
 * past the end. Caller frees.
 */
static uint8_t *unhex(const char *s, size_t *len)
{
	uint8_t *out = malloc(strlen(s) + 1);
	size_t n = 0;

	ck_assert_ptr_nonnull(out);
	while (*s != '\0') {
		if (*s == ' ') {
			s++;
		} else if (*s == '\'') {
			for (s++; *s != '\'' && *s != '\0'; s++)
				out[n++] = (uint8_t)*s;
			ck_assert_int_eq(*s, '\'');
			s++;
		} else {
			unsigned v;
			ck_assert_int_eq(sscanf(s, "%2x", &v), 1);
			out[n++] = (uint8_t)v;
			s += 2;
		}
	}
	*len = n;
	return out;
}

static bool str_eq(kp_str s, const char *c)
{
	return s.len >= 0 && (size_t)s.len == strlen(c) && memcmp(s.p, c, (size_t)s.len) == 0;
}

#define ck_assert_str_view(view, cstr) \
	ck_assert_msg(str_eq((view), (cstr)), "expected \"%s\", got \"%.*s\" (len %d)", \
		      (cstr), (view).len > 0 ? (int)(view).len : 0, \
		      (view).len > 0 ? (const char *)(view).p : "", (int)(view).len)

/* Asserts that b holds exactly the bytes `hex` spells. */
static void assert_bytes(const kp_buf *b, const char *hex)
{
	size_t n;
	uint8_t *want = unhex(hex, &n);

	ck_assert_int_eq(b->err, 0);
	ck_assert_uint_eq(b->len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(b->data[i] == want[i], "byte %zu: got %02x, want %02x",
			      i, b->data[i], want[i]);
	free(want);
}

static const kp_msgs_test_msg *msg_by_name(const char *name)
{
	for (size_t i = 0; i < kp_msgs_test_table_len; i++)
		if (strcmp(kp_msgs_test_table[i].name, name) == 0)
			return &kp_msgs_test_table[i];
	ck_abort_msg("no message %s", name);
	return NULL;
}

/* ----------------------------------------------------------- API table */

START_TEST(api_table_lists_every_request_with_its_versions)
{
	const kp_api_info *p = kp_api_find(KP_API_PRODUCE);
	const kp_api_info *av = kp_api_find(KP_API_API_VERSIONS);
	const kp_api_info *op = kp_api_find(KP_API_OFFSET_DELETE);

	ck_assert_uint_eq(kp_api_table_len, 28);
	for (size_t i = 1; i < kp_api_table_len; i++)
		ck_assert_int_lt(kp_api_table[i - 1].api_key, kp_api_table[i].api_key);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->name, "Produce");
	ck_assert_int_eq(p->min_version, 0);
	ck_assert_int_eq(p->max_version, 11);
	ck_assert_int_eq(p->first_flexible_version, 9);
	ck_assert_int_eq(av->max_version, 4);
	ck_assert_int_eq(av->first_flexible_version, 3);
	ck_assert_int_eq(op->first_flexible_version, -1);
	ck_assert_ptr_null(kp_api_find(7));     /* ControlledShutdown: not spoken */
	ck_assert_ptr_null(kp_api_find(-1));
}
END_TEST

START_TEST(header_versions_follow_flexibility_and_the_api_versions_rule)
{
	ck_assert_int_eq(kp_request_header_version(KP_API_API_VERSIONS, 0), 1);
	ck_assert_int_eq(kp_request_header_version(KP_API_API_VERSIONS, 3), 2);
	/* A client may try a newer ApiVersions than we know: still flexible. */
	ck_assert_int_eq(kp_request_header_version(KP_API_API_VERSIONS, 9), 2);
	ck_assert_int_eq(kp_request_header_version(KP_API_METADATA, 8), 1);
	ck_assert_int_eq(kp_request_header_version(KP_API_METADATA, 9), 2);
	ck_assert_int_eq(kp_request_header_version(KP_API_OFFSET_DELETE, 0), 1);
	ck_assert_int_eq(kp_request_header_version(KP_API_DESCRIBE_CLUSTER, 0), 2);
	ck_assert_int_eq(kp_request_header_version(7, 0), 0);
	ck_assert_int_eq(kp_request_header_version(999, 0), 1);

	ck_assert_int_eq(kp_response_header_version(KP_API_API_VERSIONS, 3), 0);
	ck_assert_int_eq(kp_response_header_version(KP_API_API_VERSIONS, 4), 0);
	ck_assert_int_eq(kp_response_header_version(KP_API_METADATA, 8), 0);
	ck_assert_int_eq(kp_response_header_version(KP_API_METADATA, 9), 1);
	ck_assert_int_eq(kp_response_header_version(KP_API_FETCH, 12), 1);
}
END_TEST

/* --------------------------------------------------------- known bytes */

START_TEST(request_header_v1_and_v2_keep_client_id_as_a_classic_string)
{
	kp_RequestHeader h;
	kp_arena a;
	kp_buf b;
	size_t n;
	uint8_t *f = unhex("00 03 00 09 00 00 00 07 00 02 'id' 00", &n);
	kp_reader r = kp_reader_make(f, n);

	kp_arena_init(&a, 0);
	kp_buf_init(&b);
	ck_assert_int_eq(kp_RequestHeader_decode(&r, 2, &a, &h), 0);
	ck_assert_uint_eq(kp_reader_left(&r), 0);
	ck_assert_int_eq(h.RequestApiKey, 3);
	ck_assert_int_eq(h.RequestApiVersion, 9);
	ck_assert_int_eq(h.CorrelationId, 7);
	ck_assert_str_view(h.ClientId, "id");

	h.ClientId = KP_STR_NULL;
	ck_assert_int_eq(kp_RequestHeader_encode(&b, 1, &h), 0);
	assert_bytes(&b, "00 03 00 09 00 00 00 07 ff ff");
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_RequestHeader_encode(&b, 2, &h), 0);
	assert_bytes(&b, "00 03 00 09 00 00 00 07 ff ff 00");

	kp_buf_reset(&b);
	kp_ResponseHeader rh;
	kp_ResponseHeader_init(&rh);
	rh.CorrelationId = 0x01020304;
	ck_assert_int_eq(kp_ResponseHeader_encode(&b, 0, &rh), 0);
	assert_bytes(&b, "01 02 03 04");
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_ResponseHeader_encode(&b, 1, &rh), 0);
	assert_bytes(&b, "01 02 03 04 00");

	kp_buf_free(&b);
	kp_arena_free(&a);
	free(f);
}
END_TEST

START_TEST(api_versions_request_v0_is_empty_and_v3_has_compact_strings)
{
	kp_ApiVersionsRequest m;
	kp_buf b;
	kp_arena a;
	size_t n;
	uint8_t *f = unhex("0b 'librdkafka' 06 '2.0.2' 00", &n);
	kp_reader r = kp_reader_make(f, n);

	kp_buf_init(&b);
	kp_arena_init(&a, 0);
	kp_ApiVersionsRequest_init(&m);
	ck_assert_int_eq(kp_ApiVersionsRequest_encode(&b, 0, &m), 0);
	ck_assert_uint_eq(b.len, 0);

	ck_assert_int_eq(kp_ApiVersionsRequest_decode(&r, 3, &a, &m), 0);
	ck_assert_uint_eq(kp_reader_left(&r), 0);
	ck_assert_str_view(m.ClientSoftwareName, "librdkafka");
	ck_assert_str_view(m.ClientSoftwareVersion, "2.0.2");
	/* Views, not copies. */
	ck_assert_ptr_eq(m.ClientSoftwareName.p, f + 1);

	ck_assert_int_eq(kp_ApiVersionsRequest_encode(&b, 3, &m), 0);
	assert_bytes(&b, "0b 'librdkafka' 06 '2.0.2' 00");
	/* v0-2 cannot carry the client software: Kafka lets it go (ignorable). */
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_ApiVersionsRequest_encode(&b, 2, &m), 0);
	ck_assert_uint_eq(b.len, 0);

	kp_buf_free(&b);
	kp_arena_free(&a);
	free(f);
}
END_TEST

START_TEST(api_versions_response_v3_writes_tagged_fields_only_when_not_default)
{
	kp_ApiVersionsResponse m;
	kp_ApiVersionsResponse_ApiVersion keys[1] = { { 3, 0, 12 } };
	kp_buf b;

	kp_buf_init(&b);
	kp_ApiVersionsResponse_init(&m);
	ck_assert_int_eq(m.FinalizedFeaturesEpoch, -1);
	m.ApiKeys.count = 1;
	m.ApiKeys.items = keys;
	ck_assert_int_eq(kp_ApiVersionsResponse_encode(&b, 3, &m), 0);
	assert_bytes(&b, "00 00  02 00 03 00 00 00 0c 00  00 00 00 00  00");

	m.FinalizedFeaturesEpoch = 5;
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_ApiVersionsResponse_encode(&b, 3, &m), 0);
	assert_bytes(&b, "00 00  02 00 03 00 00 00 0c 00  00 00 00 00 "
			 " 01  01 08 00 00 00 00 00 00 00 05");

	/* v0 is what a broker answers an unsupported ApiVersions with. */
	kp_buf_reset(&b);
	m.ErrorCode = 35;
	ck_assert_int_eq(kp_ApiVersionsResponse_encode(&b, 0, &m), 0);
	assert_bytes(&b, "00 23  00 00 00 01 00 03 00 00 00 0c");
	kp_buf_free(&b);
}
END_TEST

START_TEST(metadata_request_v0_empty_v1_null_and_v9_flexible)
{
	kp_MetadataRequest m;
	kp_MetadataRequest_MetadataRequestTopic t;
	kp_arena a;
	kp_buf b;
	size_t n;
	uint8_t *f;
	kp_reader r;

	kp_arena_init(&a, 0);
	kp_buf_init(&b);
	kp_MetadataRequest_init(&m);
	ck_assert(m.AllowAutoTopicCreation);
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 0, &m), 0);
	assert_bytes(&b, "00 00 00 00");

	/* v1+: null means every topic; v0 cannot say null. */
	m.Topics.count = -1;
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 1, &m), 0);
	assert_bytes(&b, "ff ff ff ff");
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 0, &m), KP_ERR_FIELD);
	ck_assert_uint_eq(b.len, 0);

	f = unhex("ff ff ff ff", &n);
	r = kp_reader_make(f, n);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, 1, &a, &m), 0);
	ck_assert_int_eq(m.Topics.count, -1);
	ck_assert_ptr_null(m.Topics.items);
	r = kp_reader_make(f, n);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, 0, &a, &m), KP_ERR_CORRUPT);
	free(f);

	kp_MetadataRequest_init(&m);
	kp_MetadataRequest_MetadataRequestTopic_init(&t);
	t.Name = KP_STR_LIT("foo");
	m.Topics.count = 1;
	m.Topics.items = &t;
	m.IncludeTopicAuthorizedOperations = true;
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 9, &m), 0);
	assert_bytes(&b, "02 04 'foo' 00  01 00 01 00");
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 10, &m), 0);
	assert_bytes(&b, "02 00000000000000000000000000000000 04 'foo' 00  01 00 01 00");

	/* v10 allows a null name (with a topic id); v9 does not. */
	f = unhex("02 0102030405060708090a0b0c0d0e0f10 00 00  01 00 01 00", &n);
	r = kp_reader_make(f, n);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, 10, &a, &m), 0);
	ck_assert_int_eq(m.Topics.count, 1);
	ck_assert_int_eq(m.Topics.items[0].Name.len, -1);
	ck_assert_int_eq(m.Topics.items[0].TopicId.b[15], 0x10);
	free(f);
	f = unhex("02 00 00  01 00 01 00", &n);
	r = kp_reader_make(f, n);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, 9, &a, &m), KP_ERR_CORRUPT);
	free(f);

	kp_buf_free(&b);
	kp_arena_free(&a);
}
END_TEST

START_TEST(produce_request_v3_and_v9_carry_records_as_a_view)
{
	static const char *v3 =
		"ff ff  ff ff  00 00 75 30  00 00 00 01  00 04 'test'  00 00 00 01 "
		" 00 00 00 02  00 00 00 05 'ABCDE'";
	static const char *v9 =
		"00  ff ff  00 00 75 30  02  05 'test'  02  00 00 00 02  06 'ABCDE'  00  00  00";
	const char *frames[2] = { v3, v9 };
	const int16_t versions[2] = { 3, 9 };

	for (int i = 0; i < 2; i++) {
		kp_ProduceRequest m;
		kp_arena a;
		kp_buf b;
		size_t n;
		uint8_t *f = unhex(frames[i], &n);
		kp_reader r = kp_reader_make(f, n);
		const kp_records *rec;

		kp_arena_init(&a, 0);
		kp_buf_init(&b);
		ck_assert_int_eq(kp_ProduceRequest_decode(&r, versions[i], &a, &m), 0);
		ck_assert_uint_eq(kp_reader_left(&r), 0);
		ck_assert_int_eq(m.TransactionalId.len, -1);
		ck_assert_int_eq(m.Acks, -1);
		ck_assert_int_eq(m.TimeoutMs, 30000);
		ck_assert_int_eq(m.TopicData.count, 1);
		ck_assert_str_view(m.TopicData.items[0].Name, "test");
		ck_assert_int_eq(m.TopicData.items[0].PartitionData.count, 1);
		ck_assert_int_eq(m.TopicData.items[0].PartitionData.items[0].Index, 2);
		rec = &m.TopicData.items[0].PartitionData.items[0].Records;
		ck_assert_int_eq(rec->len, 5);
		ck_assert_ptr_eq(rec->p, f + n - 5 - (versions[i] == 9 ? 3 : 0));
		ck_assert_int_eq(kp_ProduceRequest_encode(&b, versions[i], &m), 0);
		assert_bytes(&b, frames[i]);
		kp_buf_free(&b);
		kp_arena_free(&a);
		free(f);
	}
}
END_TEST

START_TEST(fetch_response_v4_has_aborted_transactions_and_records)
{
	static const char *v4 =
		"00 00 00 00  00 00 00 01  00 04 'test'  00 00 00 01 "
		" 00 00 00 00  00 00  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 60 "
		" 00 00 00 01  00 00 00 00 00 00 10 00  00 00 00 00 00 00 00 50 "
		" 00 00 00 03 'xyz'";
	kp_FetchResponse m;
	kp_FetchResponse_PartitionData *p;
	kp_arena a;
	kp_buf b;
	size_t n;
	uint8_t *f = unhex(v4, &n);
	kp_reader r = kp_reader_make(f, n);

	kp_arena_init(&a, 0);
	kp_buf_init(&b);
	ck_assert_int_eq(kp_FetchResponse_decode(&r, 4, &a, &m), 0);
	ck_assert_uint_eq(kp_reader_left(&r), 0);
	ck_assert_int_eq(m.Responses.count, 1);
	ck_assert_str_view(m.Responses.items[0].Topic, "test");
	p = &m.Responses.items[0].Partitions.items[0];
	ck_assert_int_eq(p->HighWatermark, 100);
	ck_assert_int_eq(p->LastStableOffset, 96);
	ck_assert_int_eq(p->LogStartOffset, -1);          /* v5+: default */
	ck_assert_int_eq(p->PreferredReadReplica, -1);    /* v11+: default */
	ck_assert_int_eq(p->AbortedTransactions.count, 1);
	ck_assert_int_eq(p->AbortedTransactions.items[0].ProducerId, 0x1000);
	ck_assert_int_eq(p->AbortedTransactions.items[0].FirstOffset, 80);
	ck_assert_int_eq(p->Records.len, 3);
	ck_assert_ptr_eq(p->Records.p, f + n - 3);
	ck_assert_int_eq(kp_FetchResponse_encode(&b, 4, &m), 0);
	assert_bytes(&b, v4);
	kp_buf_free(&b);
	kp_arena_free(&a);
	free(f);
}
END_TEST

START_TEST(fetch_response_external_records_write_the_length_and_leave_a_region)
{
	/* The same v4 response as above with its 3 record bytes external: the
	 * buffer holds everything but them, and one region says where they go. */
	static const char *v4_without_records =
		"00 00 00 00  00 00 00 01  00 04 'test'  00 00 00 01 "
		" 00 00 00 00  00 00  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 60 "
		" 00 00 00 01  00 00 00 00 00 00 10 00  00 00 00 00 00 00 00 50 "
		" 00 00 00 03";
	kp_FetchResponse m;
	kp_FetchResponse_FetchableTopicResponse t;
	kp_FetchResponse_PartitionData p;
	kp_FetchResponse_AbortedTransaction at;
	kp_buf b;

	kp_FetchResponse_init(&m);
	kp_FetchResponse_FetchableTopicResponse_init(&t);
	kp_FetchResponse_PartitionData_init(&p);
	kp_FetchResponse_AbortedTransaction_init(&at);
	at.ProducerId = 0x1000;
	at.FirstOffset = 80;
	p.HighWatermark = 100;
	p.LastStableOffset = 96;
	p.AbortedTransactions.count = 1;
	p.AbortedTransactions.items = &at;
	p.Records = (kp_records){ NULL, 3, true };
	t.Topic = KP_STR_LIT("test");
	t.Partitions.count = 1;
	t.Partitions.items = &p;
	m.Responses.count = 1;
	m.Responses.items = &t;

	kp_buf_init(&b);
	ck_assert_int_eq(kp_FetchResponse_encode(&b, 4, &m), 0);
	assert_bytes(&b, v4_without_records);
	ck_assert_uint_eq(b.n_ext, 1);
	ck_assert_uint_eq(b.ext[0].pos, b.len);
	ck_assert_uint_eq(b.ext[0].len, 3);
	ck_assert_uint_eq(kp_buf_wire_len(&b), b.len + 3);

	/* Flexible (v12): compact length 3 + 1, the region, then the
	 * partition's and the topic's empty tag sections after it. */
	kp_buf_reset(&b);
	ck_assert_uint_eq(b.n_ext, 0);
	ck_assert_int_eq(kp_FetchResponse_encode(&b, 12, &m), 0);
	ck_assert_uint_eq(b.n_ext, 1);
	ck_assert_uint_eq(b.ext[0].pos, b.len - 3);
	ck_assert_int_eq(b.data[b.ext[0].pos - 1], 4);
	ck_assert_uint_eq(b.ext[0].len, 3);

	/* A failed encode takes back its region with its bytes. */
	kp_buf_reset(&b);
	kp_buf_put_i32(&b, 7);
	t.Topic.len = -1;      /* not nullable: KP_ERR_FIELD after the region */
	ck_assert_int_eq(kp_FetchResponse_encode(&b, 4, &m), KP_ERR_FIELD);
	kp_buf_reset(&b);
	t.Topic = KP_STR_LIT("test");
	p.Records = (kp_records){ NULL, -1, true };   /* an external null is refused */
	ck_assert_int_eq(kp_FetchResponse_encode(&b, 4, &m), KP_ERR_FIELD);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.n_ext, 0);
	ck_assert_uint_eq(b.ext_bytes, 0);
	kp_buf_free(&b);
}
END_TEST

START_TEST(kp_buf_truncate_drops_regions_after_the_mark)
{
	kp_buf b;

	kp_buf_init(&b);
	kp_buf_put_i8(&b, 1);
	ck_assert_int_eq(kp_buf_put_external(&b, 100), 0);
	kp_buf_put_i8(&b, 2);
	ck_assert_int_eq(kp_buf_put_external(&b, 50), 0);
	ck_assert_int_eq(kp_buf_put_external(&b, 5), 0);
	ck_assert_uint_eq(b.n_ext, 3);
	ck_assert_uint_eq(b.ext[2].pos, 2);
	ck_assert_uint_eq(kp_buf_wire_len(&b), 157);
	kp_buf_truncate(&b, 1, 1);
	ck_assert_uint_eq(b.len, 1);
	ck_assert_uint_eq(b.n_ext, 1);
	ck_assert_uint_eq(kp_buf_wire_len(&b), 101);
	kp_buf_free(&b);
	ck_assert_ptr_null(b.ext);
}
END_TEST

START_TEST(fetch_response_v12_tags_diverging_epoch_and_v13_uses_topic_ids)
{
	/* DivergingEpoch is tag 0 of the partition: 13 bytes, because a struct
	 * in a flexible version ends with its own (empty) tagged section. */
	static const char *v12 =
		"00 00 00 00  00 00  00 00 00 07  02  05 'test'  02 "
		" 00 00 00 01  00 00  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 64 "
		" 00 00 00 00 00 00 00 00  00  ff ff ff ff  04 'xyz' "
		" 01 00 0d 00 00 00 03 00 00 00 00 00 00 00 50 00  00  00";
	static const char *v13 =
		"00 00 00 00  00 00  00 00 00 07  02  000102030405060708090a0b0c0d0e0f  02 "
		" 00 00 00 01  00 00  00 00 00 00 00 00 00 64  00 00 00 00 00 00 00 64 "
		" 00 00 00 00 00 00 00 00  00  ff ff ff ff  00 "
		" 00  00  00";
	kp_FetchResponse m;
	kp_FetchResponse_PartitionData *p;
	kp_arena a;
	kp_buf b;
	size_t n;
	uint8_t *f = unhex(v12, &n);
	kp_reader r = kp_reader_make(f, n);

	kp_arena_init(&a, 0);
	kp_buf_init(&b);
	ck_assert_int_eq(kp_FetchResponse_decode(&r, 12, &a, &m), 0);
	ck_assert_uint_eq(kp_reader_left(&r), 0);
	ck_assert_int_eq(m.SessionId, 7);
	p = &m.Responses.items[0].Partitions.items[0];
	ck_assert_int_eq(p->AbortedTransactions.count, -1);
	ck_assert_int_eq(p->DivergingEpoch.Epoch, 3);
	ck_assert_int_eq(p->DivergingEpoch.EndOffset, 80);
	ck_assert_int_eq(p->CurrentLeader.LeaderId, -1);  /* absent tag: default */
	ck_assert_int_eq(p->SnapshotId.EndOffset, -1);
	ck_assert_int_eq(p->Records.len, 3);
	ck_assert_int_eq(kp_FetchResponse_encode(&b, 12, &m), 0);
	assert_bytes(&b, v12);
	/* v11 cannot carry DivergingEpoch, and it is not ignorable. */
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_FetchResponse_encode(&b, 11, &m), KP_ERR_FIELD);
	free(f);

	f = unhex(v13, &n);
	r = kp_reader_make(f, n);
	ck_assert_int_eq(kp_FetchResponse_decode(&r, 13, &a, &m), 0);
	ck_assert_uint_eq(kp_reader_left(&r), 0);
	ck_assert_int_eq(m.Responses.items[0].TopicId.b[15], 0x0f);
	ck_assert_int_eq(m.Responses.items[0].Topic.len, 0);  /* v0-12 only */
	p = &m.Responses.items[0].Partitions.items[0];
	ck_assert_int_eq(p->Records.len, -1);
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_FetchResponse_encode(&b, 13, &m), 0);
	assert_bytes(&b, v13);
	kp_buf_free(&b);
	kp_arena_free(&a);
	free(f);
}
END_TEST

START_TEST(absent_fields_take_their_defaults)
{
	kp_FetchRequest m;
	kp_arena a;
	size_t n;
	/* Fetch v0: ReplicaId, MaxWaitMs, MinBytes, no topics. */
	uint8_t *f = unhex("ff ff ff ff  00 00 01 f4  00 00 00 01  00 00 00 00", &n);
	kp_reader r = kp_reader_make(f, n);

	kp_arena_init(&a, 0);
	ck_assert_int_eq(kp_FetchRequest_decode(&r, 0, &a, &m), 0);
	ck_assert_int_eq(m.MaxWaitMs, 500);
	ck_assert_int_eq(m.MaxBytes, INT32_MAX);
	ck_assert_int_eq(m.IsolationLevel, 0);
	ck_assert_int_eq(m.SessionEpoch, -1);
	ck_assert_int_eq(m.ReplicaState.ReplicaId, -1);
	ck_assert_int_eq(m.ReplicaState.ReplicaEpoch, -1);
	ck_assert_int_eq(m.ClusterId.len, -1);
	ck_assert_int_eq(m.RackId.len, 0);
	ck_assert_int_eq(m.ForgottenTopicsData.count, 0);
	kp_arena_free(&a);
	free(f);
}
END_TEST

/* ------------------------------------------------------ tagged fields */

START_TEST(unknown_tagged_fields_are_skipped)
{
	kp_ApiVersionsRequest m;
	kp_FetchRequest fr;
	kp_arena a;
	size_t n;
	/* Tags 5 (1 byte) and 99 (2 bytes), neither known to ApiVersions v3. */
	uint8_t *f = unhex("02 'x' 02 'y'  02  05 01 aa  63 02 bb cc", &n);
	kp_reader r = kp_reader_make(f, n);

	kp_arena_init(&a, 0);
	ck_assert_int_eq(kp_ApiVersionsRequest_decode(&r, 3, &a, &m), 0);
	ck_assert_uint_eq(kp_reader_left(&r), 0);
	ck_assert_str_view(m.ClientSoftwareName, "x");
	ck_assert_str_view(m.ClientSoftwareVersion, "y");
	free(f);

	/* Fetch v12: known ClusterId (tag 0) between unknown ones; ReplicaState
	 * (tag 1) is only known from v15, so here it is skipped. */
	f = unhex("ff ff ff ff  00 00 01 f4  00 00 00 01  7f ff ff ff  00 "
		  " 00 00 00 00  ff ff ff ff  01  01  01 "
		  " 03  00 03 03 'c1'  01 01 00  07 00", &n);
	r = kp_reader_make(f, n);
	ck_assert_int_eq(kp_FetchRequest_decode(&r, 12, &a, &fr), 0);
	ck_assert_uint_eq(kp_reader_left(&r), 0);
	ck_assert_str_view(fr.ClusterId, "c1");
	ck_assert_int_eq(fr.ReplicaState.ReplicaId, -1);
	free(f);
	kp_arena_free(&a);
}
END_TEST

START_TEST(known_tagged_field_must_fill_its_declared_size)
{
	kp_FetchRequest fr;
	kp_arena a;
	size_t n;
	/* ClusterId "c1" takes 3 bytes but its tag claims 4. */
	uint8_t *f = unhex("ff ff ff ff  00 00 01 f4  00 00 00 01  7f ff ff ff  00 "
			   " 00 00 00 00  ff ff ff ff  01  01  01 "
			   " 01  00 04 03 'c1' 00", &n);
	kp_reader r = kp_reader_make(f, n);

	kp_arena_init(&a, 0);
	ck_assert_int_eq(kp_FetchRequest_decode(&r, 12, &a, &fr), KP_ERR_CORRUPT);
	ck_assert_int_eq(r.err, KP_ERR_CORRUPT);
	free(f);
	kp_arena_free(&a);
}
END_TEST

/* ---------------------------------------------------- refusing input */

START_TEST(huge_array_counts_are_refused_before_allocating)
{
	struct {
		const char *name;
		int16_t version;
		const char *hex;
		int err;
		size_t max_alloc;   /* what the arrays before the refused one take */
	} cases[] = {
		/* classic int32 count, 2^31-1 topics in 4 bytes */
		{ "MetadataRequest", 1, "7f ff ff ff  00 00 00 00", KP_ERR_SHORT, 0 },
		/* compact count 2^31-1 (uvarint 2^31) */
		{ "MetadataRequest", 9, "80 80 80 80 08  00 00 00 00", KP_ERR_SHORT, 0 },
		/* compact count 2^32-2: beyond int32 */
		{ "MetadataRequest", 9, "ff ff ff ff 0f  00 00 00 00", KP_ERR_CORRUPT, 0 },
		/* two v10 topics need >= 36 bytes (uuid + name + tags): 20 are not enough */
		{ "MetadataRequest", 10, "03 000102030405060708090a0b0c0d0e0f 00 00 01 00", KP_ERR_SHORT, 0 },
		/* negative classic count other than -1 */
		{ "MetadataRequest", 1, "80 00 00 00", KP_ERR_CORRUPT, 0 },
		/* []int32 of 3 in 8 bytes (ForgottenTopicsData.Partitions): the one
		 * ForgottenTopic is allocated, its partitions are not */
		{ "FetchRequest", 7, "ff ff ff ff 00 00 00 00 00 00 00 00 00 00 00 00 00 "
				     "00 00 00 00 00 00 00 00 00 00 00 00 "
				     "00 00 00 01  00 01 'x'  00 00 00 03 00 00 00 00 00 00 00 00",
		  KP_ERR_SHORT, 64 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const kp_msgs_test_msg *tm = msg_by_name(cases[i].name);
		void *m = malloc(tm->size);
		kp_arena a;
		size_t n;
		uint8_t *f = unhex(cases[i].hex, &n);
		kp_reader r = kp_reader_make(f, n);

		kp_arena_init(&a, 0);
		ck_assert_msg(tm->decode(&r, cases[i].version, &a, m) == cases[i].err,
			      "case %zu: got %d", i, r.err);
		ck_assert_msg(a.used <= cases[i].max_alloc, "case %zu allocated %zu bytes", i, a.used);
		kp_arena_free(&a);
		free(f);
		free(m);
	}
}
END_TEST

START_TEST(arena_limit_bounds_what_a_decode_may_allocate)
{
	kp_MetadataRequest m;
	kp_arena a;
	size_t n;
	uint8_t *f = unhex("00 00 00 03  00 01 'a'  00 01 'b'  00 01 'c'", &n);
	kp_reader r = kp_reader_make(f, n);

	kp_arena_init(&a, 16);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, 0, &a, &m), KP_ERR_TOO_LARGE);
	kp_arena_free(&a);
	kp_arena_init(&a, 0);
	r = kp_reader_make(f, n);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, 0, &a, &m), 0);
	ck_assert_int_eq(m.Topics.count, 3);
	ck_assert_str_view(m.Topics.items[2].Name, "c");
	r = kp_reader_make(f, n);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, 0, NULL, &m), KP_ERR_NOMEM);
	kp_arena_free(&a);
	free(f);
}
END_TEST

START_TEST(versions_outside_the_valid_range_are_refused)
{
	kp_MetadataRequest m;
	kp_arena a;
	kp_buf b;
	uint8_t none[1] = { 0 };
	kp_reader r = kp_reader_make(none, 0);

	kp_arena_init(&a, 0);
	kp_buf_init(&b);
	kp_MetadataRequest_init(&m);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, 13, &a, &m), KP_ERR_VERSION);
	ck_assert_int_eq(kp_MetadataRequest_decode(&r, -1, &a, &m), KP_ERR_VERSION);
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 13, &m), KP_ERR_VERSION);
	ck_assert_int_eq(b.err, KP_ERR_VERSION);
	kp_buf_free(&b);
	kp_arena_free(&a);
}
END_TEST

START_TEST(encoding_refuses_values_the_version_cannot_carry)
{
	kp_MetadataRequest m;
	kp_MetadataRequest_MetadataRequestTopic t;
	kp_ProduceRequest p;
	static char big[0x8000];
	kp_buf b;

	kp_buf_init(&b);
	kp_buf_put_i8(&b, 42);

	/* Not ignorable: AllowAutoTopicCreation=false needs v4+. */
	kp_MetadataRequest_init(&m);
	m.AllowAutoTopicCreation = false;
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 3, &m), KP_ERR_FIELD);
	ck_assert_uint_eq(b.len, 1);      /* nothing appended */
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 4, &m), 0);

	/* Null name before v10. */
	kp_buf_reset(&b);
	kp_MetadataRequest_init(&m);
	kp_MetadataRequest_MetadataRequestTopic_init(&t);
	t.Name = KP_STR_NULL;
	m.Topics.count = 1;
	m.Topics.items = &t;
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 9, &m), KP_ERR_FIELD);

	/* Strings stop at 32767 bytes, compact or not. */
	kp_buf_reset(&b);
	memset(big, 'x', sizeof big);
	t.Name.p = (const uint8_t *)big;
	t.Name.len = (int32_t)sizeof big;
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 9, &m), KP_ERR_FIELD);
	kp_buf_reset(&b);
	t.Name.len = 0x7fff;
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 9, &m), 0);

	/* items NULL with a positive count. */
	kp_buf_reset(&b);
	m.Topics.items = NULL;
	ck_assert_int_eq(kp_MetadataRequest_encode(&b, 9, &m), KP_ERR_FIELD);

	/* TransactionalId exists from v3 only. */
	kp_buf_reset(&b);
	kp_ProduceRequest_init(&p);
	p.TransactionalId = KP_STR_LIT("tx");
	ck_assert_int_eq(kp_ProduceRequest_encode(&b, 2, &p), KP_ERR_FIELD);
	kp_buf_reset(&b);
	ck_assert_int_eq(kp_ProduceRequest_encode(&b, 3, &p), 0);
	kp_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------ real clients */

typedef struct fixture {
	uint8_t *data;
	size_t len;
	kp_RequestHeader hdr;
	void *body;                       /* the *Request struct, malloc'd */
	const kp_msgs_test_msg *tm;
	kp_arena arena;
} fixture;

static void fixture_load(fixture *fx, const char *name)
{
	char path[4096];
	FILE *fp;
	long size;
	kp_reader r;
	int16_t key, ver;
	const kp_api_info *api;
	char msg[64];

	snprintf(path, sizeof path, "%s/%s", FIXTURES_DIR, name);
	fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	size = ftell(fp);
	ck_assert_int_gt(size, 8);
	rewind(fp);
	fx->len = (size_t)size;
	fx->data = malloc(fx->len);
	ck_assert_ptr_nonnull(fx->data);
	ck_assert_uint_eq(fread(fx->data, 1, fx->len, fp), fx->len);
	fclose(fp);

	key = (int16_t)kp_load_be16(fx->data);
	ver = (int16_t)kp_load_be16(fx->data + 2);
	api = kp_api_find(key);
	ck_assert_ptr_nonnull(api);
	snprintf(msg, sizeof msg, "%sRequest", api->name);
	fx->tm = msg_by_name(msg);
	fx->body = malloc(fx->tm->size);
	ck_assert_ptr_nonnull(fx->body);
	kp_arena_init(&fx->arena, 0);

	r = kp_reader_make(fx->data, fx->len);
	ck_assert_int_eq(kp_RequestHeader_decode(&r, (int16_t)kp_request_header_version(key, ver),
						 &fx->arena, &fx->hdr), 0);
	ck_assert_int_eq(fx->hdr.RequestApiKey, key);
	ck_assert_int_eq(fx->hdr.RequestApiVersion, ver);
	ck_assert_msg(fx->tm->decode(&r, ver, &fx->arena, fx->body) == 0,
		      "%s: decode failed: %d", name, r.err);
	ck_assert_msg(kp_reader_left(&r) == 0, "%s: %zu bytes left", name, kp_reader_left(&r));
}

/* Re-encodes header and body: a client's frame must come back byte for byte. */
static void fixture_reencode(const fixture *fx)
{
	kp_buf b;
	int16_t key = fx->hdr.RequestApiKey, ver = fx->hdr.RequestApiVersion;

	kp_buf_init(&b);
	ck_assert_int_eq(kp_RequestHeader_encode(&b, (int16_t)kp_request_header_version(key, ver),
						 &fx->hdr), 0);
	ck_assert_int_eq(fx->tm->encode(&b, ver, fx->body), 0);
	ck_assert_uint_eq(b.len, fx->len);
	ck_assert_int_eq(memcmp(b.data, fx->data, fx->len), 0);
	kp_buf_free(&b);
}

static void fixture_free(fixture *fx)
{
	kp_arena_free(&fx->arena);
	free(fx->body);
	free(fx->data);
}

static const char *const fixture_names[] = {
	"kcat-ApiVersions-v3.bin",
	"kcat-Metadata-v4.bin",
	"kcat-Metadata-v4-consume.bin",
	"kcat-Metadata-v4-group.bin",
	"kcat-Produce-v7.bin",
	"kcat-Fetch-v11.bin",
	"kcat-FindCoordinator-v2.bin",
	"kcat-JoinGroup-v5.bin",
	"kcat-OffsetFetch-v7.bin",
	"kafka-python-ApiVersions-v0.bin",
	"kafka-python-Metadata-v0.bin",
	"kafka-python-Metadata-v1.bin",
	"kafka-python-Metadata-v1-group.bin",
	"kafka-python-Produce-v7.bin",
	"kafka-python-FindCoordinator-v0.bin",
	"kafka-python-JoinGroup-v2.bin",
};

START_TEST(real_client_frames_decode_and_reencode_identically)
{
	fixture fx;

	fixture_load(&fx, fixture_names[_i]);
	fixture_reencode(&fx);
	fixture_free(&fx);
}
END_TEST

START_TEST(kcat_api_versions_v3_names_librdkafka)
{
	fixture fx;
	const kp_ApiVersionsRequest *m;

	fixture_load(&fx, "kcat-ApiVersions-v3.bin");
	m = fx.body;
	ck_assert_str_view(fx.hdr.ClientId, "kcat-capture");
	ck_assert_str_view(m->ClientSoftwareName, "librdkafka");
	ck_assert_str_view(m->ClientSoftwareVersion, "2.0.2");
	fixture_free(&fx);
}
END_TEST

START_TEST(kafka_python_metadata_v1_asks_for_all_topics_with_null)
{
	fixture fx;
	const kp_MetadataRequest *m;

	fixture_load(&fx, "kafka-python-Metadata-v1.bin");
	m = fx.body;
	ck_assert_str_view(fx.hdr.ClientId, "kafka-python-capture");
	ck_assert_int_eq(m->Topics.count, -1);
	fixture_free(&fx);

	fixture_load(&fx, "kcat-Metadata-v4.bin");
	m = fx.body;
	ck_assert_int_eq(m->Topics.count, 1);
	ck_assert_str_view(m->Topics.items[0].Name, "test");
	ck_assert(m->AllowAutoTopicCreation);
	fixture_free(&fx);
}
END_TEST

START_TEST(produce_v7_from_clients_holds_one_record_batch_view)
{
	static const char *const names[] = { "kcat-Produce-v7.bin", "kafka-python-Produce-v7.bin" };

	for (size_t i = 0; i < 2; i++) {
		fixture fx;
		const kp_ProduceRequest *m;
		const kp_records *rec;

		fixture_load(&fx, names[i]);
		m = fx.body;
		ck_assert_int_eq(m->TopicData.count, 1);
		ck_assert_str_view(m->TopicData.items[0].Name, "test");
		ck_assert_int_eq(m->TopicData.items[0].PartitionData.count, 1);
		ck_assert_int_eq(m->TopicData.items[0].PartitionData.items[0].Index, 0);
		rec = &m->TopicData.items[0].PartitionData.items[0].Records;
		ck_assert_int_gt(rec->len, KP_BATCH_HEADER_SIZE);
		/* A view into the frame, holding exactly one v2 batch. */
		ck_assert(rec->p >= fx.data && rec->p + rec->len == fx.data + fx.len);
		ck_assert_int_eq(rec->p[KP_BATCH_OFF_MAGIC], 2);
		ck_assert_uint_eq(kp_load_be32(rec->p + KP_BATCH_OFF_LENGTH) + KP_BATCH_LOG_OVERHEAD,
				  (uint32_t)rec->len);
		fixture_free(&fx);
	}
}
END_TEST

START_TEST(kcat_fetch_v11_and_offset_fetch_v7_hold_what_kcat_asked)
{
	fixture fx;
	const kp_FetchRequest *f;
	const kp_OffsetFetchRequest *o;

	fixture_load(&fx, "kcat-Fetch-v11.bin");
	f = fx.body;
	ck_assert_int_eq(f->ReplicaId, -1);
	ck_assert_int_eq(f->MaxWaitMs, 500);
	ck_assert_int_eq(f->MinBytes, 1);
	ck_assert_int_eq(f->IsolationLevel, 1);
	ck_assert_int_eq(f->SessionEpoch, -1);
	ck_assert_int_eq(f->Topics.count, 1);
	ck_assert_str_view(f->Topics.items[0].Topic, "test");
	ck_assert_int_eq(f->Topics.items[0].Partitions.items[0].FetchOffset, 5);
	ck_assert_int_eq(f->Topics.items[0].Partitions.items[0].PartitionMaxBytes, 1 << 20);
	ck_assert_int_eq(f->RackId.len, 0);
	fixture_free(&fx);

	/* Flexible: compact strings and arrays, tagged sections everywhere. */
	fixture_load(&fx, "kcat-OffsetFetch-v7.bin");
	o = fx.body;
	ck_assert_str_view(o->GroupId, "capture-group");
	ck_assert_int_eq(o->Topics.count, 1);
	ck_assert_str_view(o->Topics.items[0].Name, "test");
	ck_assert_int_eq(o->Topics.items[0].PartitionIndexes.count, 1);
	ck_assert_int_eq(o->Topics.items[0].PartitionIndexes.items[0], 0);
	ck_assert(o->RequireStable);
	fixture_free(&fx);
}
END_TEST

START_TEST(join_group_from_both_clients_lists_their_assignors)
{
	fixture fx;
	const kp_JoinGroupRequest *j;

	fixture_load(&fx, "kcat-JoinGroup-v5.bin");
	j = fx.body;
	ck_assert_str_view(j->GroupId, "capture-group");
	ck_assert_str_view(j->ProtocolType, "consumer");
	ck_assert_int_eq(j->GroupInstanceId.len, -1);
	ck_assert_int_eq(j->Protocols.count, 2);
	ck_assert_str_view(j->Protocols.items[0].Name, "range");
	ck_assert_str_view(j->Protocols.items[1].Name, "roundrobin");
	fixture_free(&fx);

	fixture_load(&fx, "kafka-python-JoinGroup-v2.bin");
	j = fx.body;
	ck_assert_str_view(j->GroupId, "capture-group");
	ck_assert_int_gt(j->Protocols.count, 0);
	fixture_free(&fx);
}
END_TEST

/* ------------------------------------- every version of every message */

enum { ROUNDTRIP_SEEDS = 24 };

/*
 * Fills message tm at version v from seed, encodes it into b and returns
 * the filled struct (malloc'd; its arrays live in a).
 */
static void *fill_and_encode(const kp_msgs_test_msg *tm, int16_t v, uint32_t seed,
			     kp_arena *a, kp_buf *b)
{
	void *m = malloc(tm->size);

	ck_assert_ptr_nonnull(m);
	tm->fill(m, v, a, &seed);
	ck_assert_msg(tm->encode(b, v, m) == 0, "%s v%d: encode failed: %d", tm->name, v, b->err);
	return m;
}

START_TEST(every_version_of_every_message_round_trips)
{
	const kp_msgs_test_msg *tm = &kp_msgs_test_table[_i];

	for (int16_t v = tm->min_version; v <= tm->max_version; v++) {
		void *dflt = malloc(tm->size);
		kp_buf bd;
		bool differed = false;

		/* A message left at its defaults, to prove the filler fills. */
		kp_buf_init(&bd);
		tm->fill(dflt, v, NULL, NULL);
		for (uint32_t seed = 1; seed <= ROUNDTRIP_SEEDS; seed++) {
			kp_arena a;
			kp_buf b, b2;
			void *in, *out = malloc(tm->size);
			uint8_t *frame;
			kp_reader r;
			const char *diff;

			kp_arena_init(&a, 0);
			kp_buf_init(&b);
			kp_buf_init(&b2);
			in = fill_and_encode(tm, v, seed * 7919u + (uint32_t)v, &a, &b);
			/* Decode from an exact-size copy so ASan sees overreads. */
			frame = malloc(b.len ? b.len : 1);
			if (b.len > 0)
				memcpy(frame, b.data, b.len);
			r = kp_reader_make(frame, b.len);
			ck_assert_msg(tm->decode(&r, v, &a, out) == 0, "%s v%d seed %u: decode: %d",
				      tm->name, v, seed, r.err);
			ck_assert_msg(kp_reader_left(&r) == 0, "%s v%d: %zu bytes left",
				      tm->name, v, kp_reader_left(&r));
			diff = tm->compare(in, out);
			ck_assert_msg(diff == NULL, "%s v%d seed %u: %s differs", tm->name, v, seed, diff);
			differed |= tm->compare(in, dflt) != NULL;
			ck_assert_int_eq(tm->encode(&b2, v, out), 0);
			ck_assert_uint_eq(b2.len, b.len);
			ck_assert(b.len == 0 || memcmp(b2.data, b.data, b.len) == 0);
			free(frame);
			free(in);
			free(out);
			kp_buf_free(&b);
			kp_buf_free(&b2);
			kp_arena_free(&a);
		}
		ck_assert_int_eq(tm->encode(&bd, v, dflt), 0);
		ck_assert_msg(differed || tm->field_count(v) == 0,
			      "%s v%d: filler left every field at its default", tm->name, v);
		kp_buf_free(&bd);
		free(dflt);
	}
}
END_TEST

START_TEST(every_truncation_of_every_message_is_refused)
{
	const kp_msgs_test_msg *tm = &kp_msgs_test_table[_i];

	for (int16_t v = tm->min_version; v <= tm->max_version; v++) {
		for (uint32_t seed = 1; seed <= 3; seed++) {
			kp_arena a;
			kp_buf b;
			void *in, *out = malloc(tm->size);

			kp_arena_init(&a, 0);
			kp_buf_init(&b);
			in = fill_and_encode(tm, v, seed, &a, &b);
			for (size_t n = 0; n < b.len; n++) {
				uint8_t *frame = malloc(n ? n : 1);
				kp_reader r;
				int rc;

				if (n > 0)
					memcpy(frame, b.data, n);
				r = kp_reader_make(frame, n);
				rc = tm->decode(&r, v, &a, out);
				ck_assert_msg(rc == KP_ERR_SHORT, "%s v%d: %zu of %zu bytes gave %d",
					      tm->name, v, n, b.len, rc);
				free(frame);
			}
			free(in);
			free(out);
			kp_buf_free(&b);
			kp_arena_free(&a);
		}
	}
}
END_TEST

/*
 * Flips, replaces and inserts bytes in valid frames: decode may succeed or
 * fail, but must never read out of bounds or crash (run under ASan/UBSan),
 * and a success must leave a message that encodes again.
 */
START_TEST(mutated_frames_never_crash)
{
	const kp_msgs_test_msg *tm = &kp_msgs_test_table[_i];
	uint32_t rnd = 12345u + (uint32_t)_i;

	for (int16_t v = tm->min_version; v <= tm->max_version; v++) {
		kp_arena a;
		kp_buf b;
		void *in, *out = malloc(tm->size);

		kp_arena_init(&a, 0);
		kp_buf_init(&b);
		in = fill_and_encode(tm, v, 99u + (uint32_t)v, &a, &b);
		for (int iter = 0; iter < 200 && b.len > 0; iter++) {
			uint8_t *frame = malloc(b.len);
			kp_reader r;
			kp_arena a2;
			kp_buf b2;

			memcpy(frame, b.data, b.len);
			for (int k = 0; k < 1 + iter % 3; k++) {
				rnd ^= rnd << 13;
				rnd ^= rnd >> 17;
				rnd ^= rnd << 5;
				frame[rnd % b.len] = (uint8_t)(rnd >> 8);
			}
			kp_arena_init(&a2, 1 << 20);
			kp_buf_init(&b2);
			r = kp_reader_make(frame, b.len);
			if (tm->decode(&r, v, &a2, out) == 0)
				ck_assert_int_eq(tm->encode(&b2, v, out), 0);
			kp_buf_free(&b2);
			kp_arena_free(&a2);
			free(frame);
		}
		free(in);
		free(out);
		kp_buf_free(&b);
		kp_arena_free(&a);
	}
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *msgs_suite(void)
{
	Suite *s = suite_create("msgs");
	TCase *tc;
	int nmsgs = (int)kp_msgs_test_table_len;

	tc = tcase_create("table");
	tcase_add_test(tc, api_table_lists_every_request_with_its_versions);
	tcase_add_test(tc, header_versions_follow_flexibility_and_the_api_versions_rule);
	suite_add_tcase(s, tc);

	tc = tcase_create("known_bytes");
	tcase_add_test(tc, request_header_v1_and_v2_keep_client_id_as_a_classic_string);
	tcase_add_test(tc, api_versions_request_v0_is_empty_and_v3_has_compact_strings);
	tcase_add_test(tc, api_versions_response_v3_writes_tagged_fields_only_when_not_default);
	tcase_add_test(tc, metadata_request_v0_empty_v1_null_and_v9_flexible);
	tcase_add_test(tc, produce_request_v3_and_v9_carry_records_as_a_view);
	tcase_add_test(tc, fetch_response_v4_has_aborted_transactions_and_records);
	tcase_add_test(tc, fetch_response_external_records_write_the_length_and_leave_a_region);
	tcase_add_test(tc, kp_buf_truncate_drops_regions_after_the_mark);
	tcase_add_test(tc, fetch_response_v12_tags_diverging_epoch_and_v13_uses_topic_ids);
	tcase_add_test(tc, absent_fields_take_their_defaults);
	tcase_add_test(tc, unknown_tagged_fields_are_skipped);
	tcase_add_test(tc, known_tagged_field_must_fill_its_declared_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("refusals");
	tcase_add_test(tc, huge_array_counts_are_refused_before_allocating);
	tcase_add_test(tc, arena_limit_bounds_what_a_decode_may_allocate);
	tcase_add_test(tc, versions_outside_the_valid_range_are_refused);
	tcase_add_test(tc, encoding_refuses_values_the_version_cannot_carry);
	suite_add_tcase(s, tc);

	tc = tcase_create("real_clients");
	tcase_add_loop_test(tc, real_client_frames_decode_and_reencode_identically, 0,
			    (int)(sizeof fixture_names / sizeof fixture_names[0]));
	tcase_add_test(tc, kcat_api_versions_v3_names_librdkafka);
	tcase_add_test(tc, kafka_python_metadata_v1_asks_for_all_topics_with_null);
	tcase_add_test(tc, produce_v7_from_clients_holds_one_record_batch_view);
	tcase_add_test(tc, kcat_fetch_v11_and_offset_fetch_v7_hold_what_kcat_asked);
	tcase_add_test(tc, join_group_from_both_clients_lists_their_assignors);
	suite_add_tcase(s, tc);

	tc = tcase_create("all_messages");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, every_version_of_every_message_round_trips, 0, nmsgs);
	tcase_add_loop_test(tc, every_truncation_of_every_message_is_refused, 0, nmsgs);
	tcase_add_loop_test(tc, mutated_frames_never_crash, 0, nmsgs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(msgs_suite());
	int failed;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
