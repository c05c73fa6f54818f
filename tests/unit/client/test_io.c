/*
 * test_io.c -- cl_io, the asynchronous client's background thread: calls
 * run on the io thread in the order they were queued (also from many
 * threads and from the io thread itself), and cl_io_stop() runs every
 * call queued before it.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <event2/event.h>

#include "client/client.h"

struct order {
	cl_io *io;
	int seen[1000];
	int n;
	bool all_on_thread;
};

struct order_call {
	struct order *o;
	int i;
};

static void record(void *arg)
{
	struct order_call *c = arg;
	if (!cl_io_on_thread(c->o->io))
		c->o->all_on_thread = false;
	c->o->seen[c->o->n++] = c->i;
	free(c);
}

START_TEST(calls_run_on_the_io_thread_in_order)
{
	struct order o = { .all_on_thread = true };
	ck_assert_int_eq(cl_io_start("test-io", &o.io), 0);
	ck_assert(!cl_io_on_thread(o.io));
	for (int i = 0; i < 1000; i++) {
		struct order_call *c = malloc(sizeof *c);
		c->o = &o;
		c->i = i;
		ck_assert_int_eq(cl_io_call(o.io, record, c), 0);
	}
	cl_io_stop(o.io);   /* runs all of them first */
	ck_assert_int_eq(o.n, 1000);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(o.seen[i], i);
	ck_assert(o.all_on_thread);
}
END_TEST

struct counter {
	cl_io *io;
	atomic_int n;
};

static void bump(void *arg)
{
	struct counter *c = arg;
	atomic_fetch_add(&c->n, 1);
}

static void *caller(void *arg)
{
	struct counter *c = arg;
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(cl_io_call(c->io, bump, c), 0);
	return NULL;
}

START_TEST(calls_from_many_threads_all_run)
{
	struct counter c;
	atomic_init(&c.n, 0);
	ck_assert_int_eq(cl_io_start("test-io", &c.io), 0);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, caller, &c);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cl_io_stop(c.io);
	ck_assert_int_eq(atomic_load(&c.n), 20000);
}
END_TEST

struct chain {
	cl_io *io;
	int left;
	int ran;
	bool base_ok;
};

/* Each call queues the next from the io thread itself. */
static void step(void *arg)
{
	struct chain *c = arg;
	c->ran++;
	if (cl_io_base(c->io) == NULL)
		c->base_ok = false;
	if (--c->left > 0)
		ck_assert_int_eq(cl_io_call(c->io, step, c), 0);
}

START_TEST(a_call_may_queue_another_from_the_io_thread)
{
	struct chain c = { .left = 50, .base_ok = true };
	ck_assert_int_eq(cl_io_start("test-io", &c.io), 0);
	ck_assert_int_eq(cl_io_call(c.io, step, &c), 0);
	cl_io_stop(c.io);
	/* Calls queued after the loop broke ran on the stopping thread. */
	ck_assert_int_eq(c.ran, 50);
	ck_assert(c.base_ok);
}
END_TEST

START_TEST(stop_without_calls_is_clean)
{
	cl_io *io;
	ck_assert_int_eq(cl_io_start(NULL, &io), 0);
	cl_io_stop(io);
	cl_io_stop(NULL);
}
END_TEST

static Suite *io_suite(void)
{
	Suite *s = suite_create("client_io");
	TCase *t = tcase_create("io");
	tcase_add_test(t, calls_run_on_the_io_thread_in_order);
	tcase_add_test(t, calls_from_many_threads_all_run);
	tcase_add_test(t, a_call_may_queue_another_from_the_io_thread);
	tcase_add_test(t, stop_without_calls_is_clean);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(io_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
