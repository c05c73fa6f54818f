/*
 * fixture_check.c -- the checks shared by test_fixtures.c and
 * test_fixtures_live.c: parse expected.txt, then decode a batch file with
 * kp_ and compare it record by record, header by header.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "fixture_check.h"

const char *const fx_codecs[5] = { "none", "gzip", "snappy", "lz4", "zstd" };

uint8_t *fx_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_msg(n >= 0 && n <= 16L * 1024 * 1024, "%s: bad size %ld", path, n);
	rewind(f);
	d = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(fread(d, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	d[n] = 0;
	*len = (size_t)n;
	return d;
}

/* "-" is null, "=bytes" is a value. */
static fx_bytes parse_field(const char *s, const char *path, size_t line)
{
	fx_bytes b = { NULL, -1 };

	ck_assert_msg(s != NULL, "%s:%zu: missing field", path, line);
	if (strcmp(s, "-") == 0)
		return b;
	ck_assert_msg(s[0] == '=', "%s:%zu: field '%s' is neither - nor =...", path, line, s);
	b.ptr = s + 1;
	b.len = (int32_t)strlen(s + 1);
	return b;
}

void fx_expected_load(const char *path, fx_expected *out)
{
	size_t len, cap = 64, lineno = 0;
	char *text = (char *)fx_read_file(path, &len);
	char *line, *save = NULL;

	memset(out, 0, sizeof *out);
	out->text = text;
	out->recs = calloc(cap, sizeof *out->recs);
	ck_assert_ptr_nonnull(out->recs);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4 + 1 + 2 * FX_MAX_HEADERS + 1];
		size_t nf = 0;
		char *p = line;
		fx_record *r;
		int h;

		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		/* Split on tabs by hand: strtok would merge empty fields. */
		while (nf < sizeof f / sizeof f[0]) {
			char *tab = strchr(p, '\t');

			f[nf++] = p;
			if (tab == NULL)
				break;
			*tab = '\0';
			p = tab + 1;
		}
		ck_assert_msg(nf >= 5, "%s:%zu: too few fields", path, lineno);
		if (out->n == cap) {
			cap *= 2;
			out->recs = realloc(out->recs, cap * sizeof *out->recs);
			ck_assert_ptr_nonnull(out->recs);
		}
		r = &out->recs[out->n++];
		memset(r, 0, sizeof *r);
		r->offset = strtoll(f[0], NULL, 10);
		r->timestamp = strtoll(f[1], NULL, 10);
		r->key = parse_field(f[2], path, lineno);
		r->value = parse_field(f[3], path, lineno);
		r->nheaders = atoi(f[4]);
		ck_assert_msg(r->nheaders >= 0 && r->nheaders <= FX_MAX_HEADERS &&
				      nf == 5 + 2 * (size_t)r->nheaders,
			      "%s:%zu: header count and fields disagree", path, lineno);
		for (h = 0; h < r->nheaders; h++) {
			r->hkey[h] = parse_field(f[5 + 2 * h], path, lineno);
			r->hvalue[h] = parse_field(f[6 + 2 * h], path, lineno);
		}
	}
	ck_assert_msg(out->n > 0, "%s: no records", path);
}

void fx_expected_free(fx_expected *e)
{
	free(e->text);
	free(e->recs);
	memset(e, 0, sizeof *e);
}

static void assert_bytes(const char *what, size_t i, const uint8_t *p, int32_t len, fx_bytes want)
{
	ck_assert_msg(len == want.len, "record %zu %s: length %d, want %d", i, what, len, want.len);
	if (want.ptr == NULL)
		ck_assert_msg(p == NULL, "record %zu %s: want null", i, what);
	else
		ck_assert_msg(len == 0 || memcmp(p, want.ptr, (size_t)len) == 0,
			      "record %zu %s differs", i, what);
}

void fx_check_batch_file(const char *dir, int codec, const fx_expected *e)
{
	char path[4096];
	kp_batch_header h;
	kp_record_iter it;
	kp_record rec;
	uint8_t *d;
	size_t len, i;
	int rc;

	snprintf(path, sizeof path, "%s/%s.bin", dir, fx_codecs[codec]);
	d = fx_read_file(path, &len);
	rc = kp_batch_validate(d, len, &h);
	ck_assert_msg(rc == 0, "%s: %s", path, kp_strerror(rc));
	ck_assert_uint_eq(kp_batch_size(&h), len);
	ck_assert_int_eq(kp_batch_codec(&h), codec);
	ck_assert_int_eq(h.records_count, (int32_t)e->n);
	ck_assert_int_eq(h.last_offset_delta, (int32_t)e->n - 1);

	ck_assert_int_eq(kp_record_iter_init(&it, d, len, 1 << 20), 0);
	for (i = 0; i < e->n; i++) {
		const fx_record *w = &e->recs[i];
		size_t pos = 0;
		kp_header hd;
		int nh;

		rc = kp_record_iter_next(&it, &rec);
		ck_assert_msg(rc == 1, "%s: record %zu: %s", path, i, kp_strerror(rc));
		ck_assert_int_eq(rec.offset, w->offset);
		ck_assert_int_eq(rec.timestamp, w->timestamp);
		assert_bytes("key", i, rec.key, rec.key_len, w->key);
		assert_bytes("value", i, rec.value, rec.value_len, w->value);
		ck_assert_int_eq(rec.headers_count, w->nheaders);
		for (nh = 0; (rc = kp_record_header_next(&rec, &pos, &hd)) == 1; nh++) {
			ck_assert_int_lt(nh, w->nheaders);
			assert_bytes("header key", i, hd.key, hd.key_len, w->hkey[nh]);
			assert_bytes("header value", i, hd.value, hd.value_len, w->hvalue[nh]);
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(nh, w->nheaders);
	}
	ck_assert_int_eq(kp_record_iter_next(&it, &rec), 0);
	kp_record_iter_free(&it);
	free(d);
}

const char *fx_committed_dir(void)
{
	static char dir[4096];
	const char *root = getenv("REWIND_SOURCE_ROOT");

	ck_assert_msg(root != NULL, "REWIND_SOURCE_ROOT is not set (run through meson test)");
	snprintf(dir, sizeof dir, "%s/tests/fixtures/batches", root);
	return dir;
}
