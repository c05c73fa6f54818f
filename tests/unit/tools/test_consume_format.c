/*
 * test_consume_format.c -- kcat-style format strings of `rewind consume`
 * (tools/consume_format.c): every token on records with and without key,
 * value and headers, the escapes, and the refused formats.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "tools/tools.h"

/* One record built through proto's batch builder, so headers are encoded
 * as on the wire. */
struct one {
	kp_buf batch;
	kp_record_iter it;
	kp_record rec;
};

static void one_make(struct one *o, const char *key, const char *value,
		     const kp_header *h, int32_t nh)
{
	kp_batch_builder b;
	kp_buf_init(&o->batch);
	kp_batch_builder_init(&b, KP_CODEC_NONE, 42);
	ck_assert_int_eq(kp_batch_builder_add(&b, 1700000000123LL,
					      key, key ? (int32_t)strlen(key) : -1,
					      value, value ? (int32_t)strlen(value) : -1, h, nh), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&b, &o->batch), 0);
	kp_batch_builder_free(&b);
	ck_assert_int_eq(kp_record_iter_init(&o->it, o->batch.data, o->batch.len, 1 << 20), 0);
	ck_assert_int_eq(kp_record_iter_next(&o->it, &o->rec), 1);
}

static void one_free(struct one *o)
{
	kp_record_iter_free(&o->it);
	kp_buf_free(&o->batch);
}

/* The bytes fmt gives for o's record, in a malloc'ed buffer (*len). */
static char *render(const char *fmt, const struct one *o, size_t *len)
{
	struct consume_fmt f;
	char err[256];
	char *buf = NULL;
	size_t n = 0;
	ck_assert_msg(cmd_consume_format_parse(fmt, &f, err, sizeof err) == 0, "%s", err);
	FILE *m = open_memstream(&buf, &n);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(cmd_consume_format_write(&f, m, "orders", 3, &o->rec), 0);
	fclose(m);
	cmd_consume_format_free(&f);
	*len = n;
	return buf;
}

#define CHECK_RENDER(fmt, o, want)                                             \
	do {                                                                   \
		size_t n_;                                                     \
		char *g_ = render((fmt), (o), &n_);                            \
		ck_assert_uint_eq(n_, sizeof(want) - 1);                       \
		ck_assert_mem_eq(g_, (want), n_);                              \
		free(g_);                                                      \
	} while (0)

START_TEST(every_token_prints_its_field)
{
	kp_header h[] = {
		{ (const uint8_t *)"a", 1, (const uint8_t *)"1", 1 },
		{ (const uint8_t *)"b", 1, NULL, -1 },
		{ (const uint8_t *)"c", 1, (const uint8_t *)"", 0 },
	};
	struct one o;
	one_make(&o, "k1", "hello", h, 3);
	CHECK_RENDER("%t|%p|%o|%k|%K|%s|%S|%T|%h\n", &o,
		     "orders|3|42|k1|2|hello|5|1700000000123|a=1,b=NULL,c=\n");
	CHECK_RENDER("%R", &o, "\x00\x00\x00\x05");
	CHECK_RENDER("100%%", &o, "100%");
	one_free(&o);
}
END_TEST

START_TEST(null_key_and_value_print_nothing_and_minus_one)
{
	struct one o;
	one_make(&o, NULL, NULL, NULL, 0);
	CHECK_RENDER("[%k][%s][%K][%S][%h]", &o, "[][][-1][-1][]");
	CHECK_RENDER("%R", &o, "\xff\xff\xff\xff");
	one_free(&o);
	one_make(&o, "", "", NULL, 0);
	CHECK_RENDER("[%k][%s][%K][%S]", &o, "[][][0][0]");
	one_free(&o);
}
END_TEST

START_TEST(escapes_become_bytes)
{
	struct one o;
	one_make(&o, "k", "v", NULL, 0);
	CHECK_RENDER("%s\\t%k\\r\\n", &o, "v\tk\r\n");
	CHECK_RENDER("\\x41\\x7e|\\65|\\0101|\\q", &o, "A~|A|A|q");
	CHECK_RENDER("a\\x00|", &o, "a\0|");
	/* A trailing backslash is itself. */
	CHECK_RENDER("%s\\", &o, "v\\");
	one_free(&o);
}
END_TEST

START_TEST(default_format_is_the_value_and_a_newline)
{
	struct one o;
	one_make(&o, "k", "value", NULL, 0);
	CHECK_RENDER(CONSUME_DEFAULT_FORMAT, &o, "value\n");
	one_free(&o);
}
END_TEST

START_TEST(binary_values_are_written_whole)
{
	struct one o;
	kp_batch_builder b;
	static const uint8_t v[] = { 'a', 0, 'b', 0xff };
	kp_buf_init(&o.batch);
	kp_batch_builder_init(&b, KP_CODEC_NONE, 0);
	ck_assert_int_eq(kp_batch_builder_add(&b, 5, NULL, -1, v, 4, NULL, 0), 0);
	ck_assert_int_eq(kp_batch_builder_finish(&b, &o.batch), 0);
	kp_batch_builder_free(&b);
	ck_assert_int_eq(kp_record_iter_init(&o.it, o.batch.data, o.batch.len, 1 << 20), 0);
	ck_assert_int_eq(kp_record_iter_next(&o.it, &o.rec), 1);
	CHECK_RENDER("%s", &o, "a\0b\xff");
	one_free(&o);
}
END_TEST

START_TEST(header_text_stops_at_a_nul_as_kcat_prints_it)
{
	kp_header h[] = { { (const uint8_t *)"n\0x", 3, (const uint8_t *)"v\0w", 3 } };
	struct one o;
	one_make(&o, NULL, "x", h, 1);
	CHECK_RENDER("%h", &o, "n=v");
	one_free(&o);
}
END_TEST

START_TEST(bad_formats_are_refused_with_the_token_named)
{
	struct consume_fmt f;
	char err[256];
	ck_assert_int_eq(cmd_consume_format_parse("%s %x", &f, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "'%x'"));
	ck_assert_ptr_null(f.items);
	ck_assert_int_eq(cmd_consume_format_parse("%s%", &f, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "lone '%'"));
	ck_assert_int_eq(cmd_consume_format_parse("", &f, err, sizeof err), 0);
	ck_assert_uint_eq(f.n, 0);
	cmd_consume_format_free(&f);
}
END_TEST

START_TEST(uses_reports_the_tokens_present)
{
	struct consume_fmt f;
	char err[256];
	ck_assert_int_eq(cmd_consume_format_parse("%o %h", &f, err, sizeof err), 0);
	ck_assert(cmd_consume_format_uses(&f, FMT_HEADERS));
	ck_assert(!cmd_consume_format_uses(&f, FMT_VALUE));
	cmd_consume_format_free(&f);
}
END_TEST

static Suite *consume_format_suite(void)
{
	Suite *s = suite_create("consume_format");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, every_token_prints_its_field);
	tcase_add_test(tc, null_key_and_value_print_nothing_and_minus_one);
	tcase_add_test(tc, escapes_become_bytes);
	tcase_add_test(tc, default_format_is_the_value_and_a_newline);
	tcase_add_test(tc, binary_values_are_written_whole);
	tcase_add_test(tc, header_text_stops_at_a_nul_as_kcat_prints_it);
	tcase_add_test(tc, bad_formats_are_refused_with_the_token_named);
	tcase_add_test(tc, uses_reports_the_tokens_present);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(consume_format_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
