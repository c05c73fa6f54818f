/*
 * test_io.c -- the writer backends (storage/io.c) on their own: requests
 * submitted and reaped without the writer thread, through the backend the
 * environment selects (REWIND_IO_URING=1: io_uring, 0: pwrite +
 * fdatasync), so both run the same checks.
 *
 * The subject is the linked write + sync (st__io_req.link) that makes a
 * durable append one submission: the sync must never be reported as having
 * covered a write that failed or did not complete in one go, a failed sync
 * must be reported, and pairs must get through a ring smaller than them.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "st_test.h"
#include "storage/st_int.h"

/* A store with only what a backend touches (mutex, faults, log hook). */
typedef struct iofx {
	st_store *s;
	char *dir;
	int fd;
} iofx;

static const st__io_ops *backend(void)
{
	const char *env = getenv("REWIND_IO_URING");
	return env && strcmp(env, "0") == 0 ? &st__io_psync_ops : &st__io_uring_ops;
}

static void fx_open(iofx *f, unsigned entries)
{
	char path[512];

	f->s = calloc(1, sizeof(*f->s));
	ck_assert_ptr_nonnull(f->s);
	pthread_mutex_init(&f->s->mu, NULL);
	f->s->io = backend();
	ck_assert_int_eq(f->s->io->init(f->s, entries), 0);
	f->dir = tst_tmpdir("io");
	snprintf(path, sizeof(path), "%s/file", f->dir);
	f->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(f->fd, 0);
}

static void fx_close(iofx *f)
{
	f->s->io->fini(f->s);
	pthread_mutex_destroy(&f->s->mu);
	free(f->s);
	close(f->fd);
	tst_rmrf(f->dir);
	free(f->dir);
}

/* Reaps until `n` requests have come back (a generous deadline: this
 * only guards against a hang, it measures nothing). */
static void reap_all(iofx *f, size_t n)
{
	st__io_req *out[64];
	int64_t deadline = tst_now_ms() + 20000;
	size_t got = 0;

	while (got < n) {
		ck_assert_msg(tst_now_ms() < deadline, "%zu of %zu requests came back", got, n);
		got += f->s->io->reap(f->s, out, 64, true, 100);
	}
}

/* A write of `len` bytes of `c` at `pos`, its sync linked behind it. */
typedef struct pair {
	uint8_t *buf;
	struct iovec iov[2];
	st__io_req w, s;
} pair;

static void pair_init(pair *p, int fd, int64_t pos, size_t len, int c)
{
	memset(p, 0, sizeof(*p));
	p->buf = malloc(len);
	ck_assert_ptr_nonnull(p->buf);
	memset(p->buf, c, len);
	/* Two buffers, so the vector is advanced across an element too. */
	p->iov[0] = (struct iovec){ p->buf, len / 2 };
	p->iov[1] = (struct iovec){ p->buf + len / 2, len - len / 2 };
	p->w = (st__io_req){ .op = ST__IO_WRITE, .fd = fd, .iov = p->iov, .iovcnt = 2,
			     .pos = pos, .len = len, .link = &p->s };
	p->s = (st__io_req){ .op = ST__IO_SYNC, .fd = fd };
}

/* Submits the pair alone and waits for both requests. */
static void pair_run(iofx *f, pair *p)
{
	st__io_req *reqs[] = { &p->w, &p->s };

	f->s->io->submit(f->s, reqs, 2);
	reap_all(f, 2);
}

static void check_bytes(int fd, int64_t pos, size_t len, int c)
{
	uint8_t *b = malloc(len);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(pread(fd, b, len, pos), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		ck_assert_int_eq(b[i], c);
	free(b);
}

START_TEST(linked_write_and_sync_both_complete)
{
	iofx f;
	pair p;

	fx_open(&f, 16);
	pair_init(&p, f.fd, 4096, 100000, 'a');
	pair_run(&f, &p);
	ck_assert_int_eq(p.w.err, 0);
	ck_assert_uint_eq(p.w.done, 100000);
	ck_assert(!p.w.link_broken);
	ck_assert_int_eq(p.s.err, 0);
	check_bytes(f.fd, 4096, 100000, 'a');
	free(p.buf);
	fx_close(&f);
}
END_TEST

START_TEST(linked_sync_is_cancelled_behind_a_failed_write)
{
	iofx f;
	pair p;

	fx_open(&f, 16);
	st__store_inject_fault(f.s, ST__IO_WRITE, -EIO, 0, 1);
	pair_init(&p, f.fd, 0, 5000, 'b');
	pair_run(&f, &p);
	ck_assert_int_eq(p.w.err, -EIO);
	ck_assert(p.w.link_broken);
	ck_assert_int_eq(p.s.err, -ECANCELED);
	free(p.buf);
	fx_close(&f);
}
END_TEST

START_TEST(failed_linked_sync_is_reported_after_its_write)
{
	iofx f;
	pair p;

	fx_open(&f, 16);
	st__store_inject_fault(f.s, ST__IO_SYNC, -EIO, 0, 1);
	pair_init(&p, f.fd, 0, 5000, 'c');
	pair_run(&f, &p);
	ck_assert_int_eq(p.w.err, 0);
	ck_assert_uint_eq(p.w.done, 5000);
	ck_assert_int_eq(p.s.err, -EIO);
	check_bytes(f.fd, 0, 5000, 'c');
	free(p.buf);
	fx_close(&f);
}
END_TEST

/*
 * RLIMIT_FSIZE makes the kernel write what fits below the limit and then
 * refuse (EFBIG): a short write, like a disk filling up. The backend
 * continues it and gets the error; the link must count as broken -- the
 * sync must not run as if it followed the whole write -- and the write
 * ends failed with the bytes that landed counted. The limit is set
 * in a child, as it would also cut Check's own result file; the child
 * reports which check failed in its exit status.
 */
static int short_write_child(void)
{
	iofx f;
	pair p;
	struct rlimit rl = { 8192, 8192 };

	signal(SIGXFSZ, SIG_IGN);
	fx_open(&f, 16);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 10;
	pair_init(&p, f.fd, 4096, 10000, 'd');
	pair_run(&f, &p);
	if (p.w.err != -EFBIG)
		return 11;
	if (p.w.done != 4096)
		return 12;
	if (!p.w.link_broken)
		return 13;
	/* Cancelled, never started: in no case a sync that claims the
	 * whole write. */
	if (p.s.err != -ECANCELED)
		return 14;
	free(p.buf);
	fx_close(&f);
	return 0;
}

START_TEST(short_write_breaks_the_link)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(short_write_child());
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "the child died (status %d)", st);
	ck_assert_msg(WEXITSTATUS(st) == 0, "check %d of the child failed (10 setrlimit, "
		      "11 write error, 12 bytes written, 13 link not broken, 14 sync not cancelled)",
		      WEXITSTATUS(st));
}
END_TEST

/*
 * A ring of 4 entries keeps 3 syncs in the kernel: linked syncs must wait
 * in order for room behind their writes, and unlinked syncs among them
 * must not be held up for ever. 7 pairs and 3 single syncs, in one
 * submission.
 */
START_TEST(linked_syncs_queue_behind_their_writes_in_a_small_ring)
{
	iofx f;
	enum { NP = 7, NS = 3 };
	pair p[NP];
	st__io_req single[NS];
	st__io_req *reqs[2 * NP + NS];
	size_t n = 0;

	fx_open(&f, 4);
	for (int i = 0; i < NP; i++) {
		pair_init(&p[i], f.fd, (int64_t)i * 3000, 3000, 'e' + i);
		reqs[n++] = &p[i].w;
		reqs[n++] = &p[i].s;
		if (i < NS) {
			single[i] = (st__io_req){ .op = ST__IO_SYNC, .fd = f.fd };
			reqs[n++] = &single[i];
		}
	}
	f.s->io->submit(f.s, reqs, n);
	reap_all(&f, n);
	for (int i = 0; i < NP; i++) {
		ck_assert_int_eq(p[i].w.err, 0);
		ck_assert(!p[i].w.link_broken);
		ck_assert_int_eq(p[i].s.err, 0);
		check_bytes(f.fd, (int64_t)i * 3000, 3000, 'e' + i);
		free(p[i].buf);
	}
	for (int i = 0; i < NS; i++)
		ck_assert_int_eq(single[i].err, 0);
	fx_close(&f);
}
END_TEST

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase_create("io");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, linked_write_and_sync_both_complete);
	tcase_add_test(tc, linked_sync_is_cancelled_behind_a_failed_write);
	tcase_add_test(tc, failed_linked_sync_is_reported_after_its_write);
	tcase_add_test(tc, short_write_breaks_the_link);
	tcase_add_test(tc, linked_syncs_queue_behind_their_writes_in_a_small_ring);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(io_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
