/*
 * io.c -- the asynchronous client's background thread: one libevent
 * event_base run by one thread, reached from other threads only through
 * cl_io_call().
 *
 * cl_io_call() appends a task to a list under a mutex and, when the list
 * was empty and no wake-up is pending, writes the eventfd; the loop's read
 * event takes the whole list under the mutex and runs it outside. So a
 * burst of calls costs one eventfd write, the mutex guards the list alone
 * (never held while a task runs or any I/O happens), and a task may queue
 * another call, even to its own loop.
 *
 * Stop: cl_io_stop() queues a task that breaks the loop, so every task
 * queued before it runs first; then it joins the thread and runs whatever
 * was queued later on the calling thread, which is by then the only one
 * touching io.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "client/cl_int.h"

struct cl__task {
	void (*fn)(void *arg);
	void *arg;
	struct cl__task *next;
};

struct cl_io {
	struct event_base *base;
	struct event *wake;
	int efd;
	pthread_t thread;
	char name[16];
	pthread_mutex_t mu;           /* guards tasks, tail, wake_pending */
	struct cl__task *tasks;
	struct cl__task *tail;
	bool wake_pending;            /* an eventfd write is not yet consumed */
	bool started;
};

static struct cl__task *take_tasks(cl_io *io)
{
	pthread_mutex_lock(&io->mu);
	struct cl__task *t = io->tasks;
	io->tasks = io->tail = NULL;
	io->wake_pending = false;
	pthread_mutex_unlock(&io->mu);
	return t;
}

static void run_tasks(struct cl__task *t)
{
	while (t) {
		struct cl__task *next = t->next;
		t->fn(t->arg);
		free(t);
		t = next;
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	cl_io *io = arg;
	uint64_t v;
	(void)what;
	/* EAGAIN when a previous round already took the tasks: harmless. */
	ssize_t r = read(fd, &v, sizeof v);
	(void)r;
	run_tasks(take_tasks(io));
}

static void *io_main(void *arg)
{
	cl_io *io = arg;
	pthread_setname_np(pthread_self(), io->name);
	event_base_loop(io->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int cl_io_start(const char *name, cl_io **out)
{
	*out = NULL;
	cl_io *io = calloc(1, sizeof *io);
	if (io == NULL)
		return -ENOMEM;
	snprintf(io->name, sizeof io->name, "%s", name ? name : "cl-io");
	io->efd = -1;
	pthread_mutex_init(&io->mu, NULL);
	int rc = -ENOMEM;
	io->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (io->efd < 0) {
		rc = -errno;
		goto fail;
	}
	if (!(io->base = event_base_new()))
		goto fail;
	io->wake = event_new(io->base, io->efd, EV_READ | EV_PERSIST, on_wake, io);
	if (io->wake == NULL || event_add(io->wake, NULL) < 0)
		goto fail;
	int e = pthread_create(&io->thread, NULL, io_main, io);
	if (e != 0) {
		rc = -e;
		goto fail;
	}
	io->started = true;
	*out = io;
	return 0;
fail:
	if (io->wake)
		event_free(io->wake);
	if (io->base)
		event_base_free(io->base);
	if (io->efd >= 0)
		close(io->efd);
	pthread_mutex_destroy(&io->mu);
	free(io);
	return rc;
}

int cl_io_call(cl_io *io, void (*fn)(void *arg), void *arg)
{
	struct cl__task *t = malloc(sizeof *t);
	if (t == NULL)
		return -ENOMEM;
	t->fn = fn;
	t->arg = arg;
	t->next = NULL;
	pthread_mutex_lock(&io->mu);
	if (io->tail)
		io->tail->next = t;
	else
		io->tasks = t;
	io->tail = t;
	bool wake = !io->wake_pending;
	io->wake_pending = true;
	pthread_mutex_unlock(&io->mu);
	if (wake) {
		uint64_t one = 1;
		/* Fails only when the counter is at 2^64-1: then a wake-up is
		 * pending anyway. */
		ssize_t w = write(io->efd, &one, sizeof one);
		(void)w;
	}
	return 0;
}

static void stop_task(void *arg)
{
	cl_io *io = arg;
	event_base_loopbreak(io->base);
}

void cl_io_stop(cl_io *io)
{
	if (io == NULL)
		return;
	assert(!cl_io_on_thread(io));
	if (io->started) {
		while (cl_io_call(io, stop_task, io) < 0)
			cl__sleep_ms(1);   /* out of memory: wait for a free */
		pthread_join(io->thread, NULL);
	}
	/* Late calls may queue more calls: run until none is left. */
	struct cl__task *t;
	while ((t = take_tasks(io)) != NULL)
		run_tasks(t);
	event_free(io->wake);
	event_base_free(io->base);
	close(io->efd);
	pthread_mutex_destroy(&io->mu);
	free(io);
}

struct event_base *cl_io_base(cl_io *io)
{
	return io->base;
}

bool cl_io_on_thread(const cl_io *io)
{
	return io->started && pthread_equal(pthread_self(), io->thread);
}
