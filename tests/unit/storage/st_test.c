/*
 * st_test.c -- helpers shared by the storage tests (see st_test.h).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st_test.h"

char *tst_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = NULL;

	if (!base || !*base)
		base = "/tmp";
	ck_assert(asprintf(&path, "%s/rewind-%s-XXXXXX", base, tag) > 0);
	ck_assert_msg(mkdtemp(path) != NULL, "mkdtemp: %s", strerror(errno));
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void tst_rmrf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

size_t tst_value(char *buf, size_t cap, int part, int64_t offset, size_t pad)
{
	int n = snprintf(buf, cap, "p%d-o%" PRId64, part, offset);
	ck_assert(n > 0 && (size_t)n < cap);
	size_t len = (size_t)n;
	while (len < pad && len < cap) {
		buf[len] = (char)('a' + (offset + (int64_t)len) % 26);
		len++;
	}
	return len;
}

int tst_build_batch(kp_buf *out, int part, int64_t first, int nrec, int64_t ts0, size_t pad)
{
	kp_batch_builder b;
	char key[32], val[65536];
	int rc = 0;

	ck_assert(pad < sizeof(val));
	kp_batch_builder_init(&b, KP_CODEC_NONE, 0);
	for (int i = 0; i < nrec && rc == 0; i++) {
		int klen = snprintf(key, sizeof(key), "k%d", i);
		size_t vlen = tst_value(val, sizeof(val), part, first + i, pad);
		rc = kp_batch_builder_add(&b, ts0 + i, key, klen, val, (int32_t)vlen, NULL, 0);
	}
	if (rc == 0)
		rc = kp_batch_builder_finish(&b, out);
	kp_batch_builder_free(&b);
	return rc;
}

void tst_wait_init(tst_wait *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
}

void tst_wait_destroy(tst_wait *w)
{
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}

void tst_wait_cb(st_append *a, int err)
{
	tst_wait *w = a->arg;
	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->err = err;
	w->durable = a->durable;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int tst_wait_for(tst_wait *w)
{
	pthread_mutex_lock(&w->mu);
	while (!w->done)
		pthread_cond_wait(&w->cv, &w->mu);
	int err = w->err;
	pthread_mutex_unlock(&w->mu);
	return err;
}

int tst_append_buf(st_log *log, const kp_buf *buf, int32_t epoch, int64_t now_ms, st_append *out)
{
	tst_wait w;
	st_append a;
	int rc;

	tst_wait_init(&w);
	memset(&a, 0, sizeof(a));
	a.data = buf->data;
	a.len = buf->len;
	a.leader_epoch = epoch;
	a.cb = tst_wait_cb;
	a.arg = &w;
	rc = st_log_append(log, &a, now_ms);
	if (rc == 0)
		rc = tst_wait_for(&w);
	if (out)
		*out = a;
	tst_wait_destroy(&w);
	return rc;
}

int tst_append_sync(st_log *log, int part, int nrec, int64_t ts0, size_t pad,
		    int32_t epoch, int64_t now_ms, st_append *out)
{
	kp_buf buf;

	kp_buf_init(&buf);
	ck_assert_int_eq(tst_build_batch(&buf, part, st_log_end_offset(log), nrec, ts0, pad), 0);
	int rc = tst_append_buf(log, &buf, epoch, now_ms, out);
	kp_buf_free(&buf);
	return rc;
}

/* Checks one record value against tst_value(part, offset, any pad). */
static bool value_ok(const kp_record *rec, int part)
{
	char want[64];
	int n = snprintf(want, sizeof(want), "p%d-o%" PRId64, part, rec->offset);
	if (rec->value_len < n || memcmp(rec->value, want, (size_t)n) != 0)
		return false;
	for (int32_t i = n; i < rec->value_len; i++)
		if (rec->value[i] != (uint8_t)('a' + (rec->offset + i) % 26))
			return false;
	return true;
}

int64_t tst_check_log(st_log *log, int part, int64_t from, int *batches)
{
	int64_t next = from;
	int nb = 0;
	bool first = true;

	for (;;) {
		st_slice sl;
		int rc = st_log_read(log, next, 1 << 20, -1, &sl);
		if (rc < 0)
			return rc;
		if (sl.len == 0) {
			st_slice_release(&sl);
			break;
		}
		uint8_t *buf = malloc(sl.len);
		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(pread(sl.fd, buf, sl.len, sl.file_pos), (ssize_t)sl.len);
		size_t pos = 0;
		while (pos < sl.len) {
			kp_batch_header h;
			ck_assert_int_eq(kp_batch_validate(buf + pos, sl.len - pos, &h), 0);
			if (first)
				ck_assert_int_le(h.base_offset, next);
			else
				ck_assert_int_eq(h.base_offset, next);
			first = false;
			kp_record_iter it;
			kp_record rec;
			ck_assert_int_eq(kp_record_iter_init(&it, buf + pos, kp_batch_size(&h), 1 << 24), 0);
			int64_t expect = h.base_offset;
			int r;
			while ((r = kp_record_iter_next(&it, &rec)) == 1) {
				ck_assert_int_eq(rec.offset, expect);
				ck_assert_msg(value_ok(&rec, part), "bad value at offset %" PRId64, rec.offset);
				expect++;
			}
			ck_assert_int_eq(r, 0);
			kp_record_iter_free(&it);
			ck_assert_int_eq(expect - 1, kp_batch_last_offset(&h));
			next = kp_batch_last_offset(&h) + 1;
			pos += kp_batch_size(&h);
			nb++;
		}
		ck_assert_int_eq(sl.next_offset, next);
		free(buf);
		st_slice_release(&sl);
	}
	if (batches)
		*batches = nb;
	return next;
}

void tst_lines_init(tst_lines *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
}

st_store *tst_store_open_collecting(tst_lines *lines)
{
	st_store_options o;
	st_store *s;

	tst_lines_init(lines);
	st_store_options_default(&o);
	o.log = tst_lines_hook;
	o.log_arg = lines;
	ck_assert_int_eq(st_store_open(&o, &s), 0);
	return s;
}

void tst_lines_hook(void *arg, enum st_log_level level, const char *msg)
{
	tst_lines *l = arg;
	(void)level;
	pthread_mutex_lock(&l->mu);
	int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", msg);
	if (n > 0 && l->len + (size_t)n < sizeof(l->text))
		l->len += (size_t)n;
	l->count++;
	pthread_mutex_unlock(&l->mu);
}

int tst_lines_count(tst_lines *l, const char *needle)
{
	int n = 0;
	pthread_mutex_lock(&l->mu);
	for (const char *p = l->text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	pthread_mutex_unlock(&l->mu);
	return n;
}

bool tst_lines_contain(tst_lines *l, const char *needle)
{
	return tst_lines_count(l, needle) > 0;
}

int64_t tst_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tst_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

void tst_copy_dir(const char *from, const char *to)
{
	char src[4096], dst[4096], buf[65536];
	DIR *d = opendir(from);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	ck_assert(mkdir(to, 0755) == 0 || errno == EEXIST);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0)))
			continue;
		snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
		int in = open(src, O_RDONLY);
		ck_assert_int_ge(in, 0);
		int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_ge(out, 0);
		ssize_t n;
		while ((n = read(in, buf, sizeof(buf))) > 0)
			ck_assert_int_eq(write(out, buf, (size_t)n), n);
		close(in);
		close(out);
	}
	closedir(d);
}

/* ------------------------------------------------------------ fixture */

void tst_fx_open_at(tst_fixture *f, const char *dir, const st_log_config *cfg, int64_t now_ms)
{
	st_store_options o;

	memset(f, 0, sizeof(*f));
	f->dir = strdup(dir);
	ck_assert_ptr_nonnull(f->dir);
	st_store_options_default(&o);
	ck_assert_int_eq(st_store_open(&o, &f->store), 0);
	if (cfg)
		f->cfg = *cfg;
	else
		st_log_config_default(&f->cfg);
	ck_assert_int_eq(st_log_open(f->store, f->dir, &f->cfg, now_ms, &f->log), 0);
}

void tst_fx_open(tst_fixture *f, const char *tag, const st_log_config *cfg)
{
	char *dir = tst_tmpdir(tag);

	tst_fx_open_at(f, dir, cfg, 1000);
	free(dir);
}

void tst_fx_reopen(tst_fixture *f)
{
	st_log_close(f->log);
	ck_assert_int_eq(st_log_open(f->store, f->dir, &f->cfg, 1000, &f->log), 0);
}

void tst_fx_close(tst_fixture *f)
{
	if (f->log)
		st_log_close(f->log);
	st_store_close(f->store);
	tst_rmrf(f->dir);
	free(f->dir);
}

int tst_crash_main(int argc, char **argv, const char *name, const struct TTest *test,
		   int *cycles)
{
	const char *env = getenv("REWIND_CRASH_CYCLES");

	if (argc > 1)
		*cycles = atoi(argv[1]);
	else if (env)
		*cycles = atoi(env);
	if (*cycles < 1)
		*cycles = 1;
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 60 + *cycles * 2);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
