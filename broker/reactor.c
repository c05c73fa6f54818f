/*
 * reactor.c -- the broker's network threads: one libevent loop each.
 *
 * A reactor owns the connections handed to it (conn.c) and every request
 * read from them; nothing else touches those. Other threads (storage's
 * writer completing an acks=all produce, the acceptor handing over a new
 * socket, a fetch woken by another reactor's produce) reach a reactor only
 * through br_reactor_post(): a task queued under a mutex plus an eventfd
 * write that wakes the loop -- only when the queue was empty, since the
 * loop reads the eventfd before it takes the whole queue. The mutex guards
 * the queue alone and is never held while a task runs, so a task may post
 * again (even to itself).
 *
 * A periodic sweep (every 100 ms, or faster for a short idle limit) closes
 * idle connections and, while the broker shuts down, the drained ones.
 *
 * Stop: br__reactor_free() posts a task that breaks the loop, so every
 * task posted before it runs first; tasks posted after the loop ended (a
 * late storage callback) are run on the freeing thread, which is then the
 * only one touching the reactor.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/br_int.h"

struct br__task {
	br_task_fn *fn;
	void *arg;
	struct br__task *next;
};

struct event_base *br_reactor_base(br_reactor *r)
{
	return r->base;
}

int br_reactor_post(br_reactor *r, br_task_fn *fn, void *arg)
{
	struct br__task *t = malloc(sizeof(*t));
	uint64_t one = 1;

	if (t == NULL)
		return -ENOMEM;
	t->fn = fn;
	t->arg = arg;
	t->next = NULL;
	pthread_mutex_lock(&r->mu);
	bool was_empty = r->tasks == NULL;
	if (r->tasks_tail)
		r->tasks_tail->next = t;
	else
		r->tasks = t;
	r->tasks_tail = t;
	pthread_mutex_unlock(&r->mu);
	/* Only the post that finds the queue empty wakes the loop: a
	 * non-empty queue has not been taken yet (run_tasks() reads the
	 * eventfd before it takes the queue), so the wake-up already due will
	 * run this task too. Under load -- a storage callback per append, a
	 * fetch wake per partition -- most posts find work queued and save the
	 * write(2) and the loop's read(2). */
	/* An eventfd counter only fails to grow at 2^64-1: the loop is then
	 * already due to wake, so the error changes nothing. */
	if (was_empty && write(r->wake_fd, &one, sizeof(one)) < 0)
		return 0;
	return 0;
}

/* Runs every queued task, taking the whole queue at once so tasks posted
 * meanwhile wait for the next wake-up (no starvation of socket events). */
static void run_tasks(br_reactor *r)
{
	struct br__task *t, *next;

	pthread_mutex_lock(&r->mu);
	t = r->tasks;
	r->tasks = r->tasks_tail = NULL;
	pthread_mutex_unlock(&r->mu);
	for (; t; t = next) {
		next = t->next;
		t->fn(t->arg);
		free(t);
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	/* Non-blocking: EAGAIN just means another wake-up already drained it. */
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		br__logf(ST_LOG_WARN, "reactor: eventfd read failed: %s", strerror(errno));
	run_tasks(arg);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	br_reactor *r = arg;

	(void)fd;
	(void)what;
	br__conns_sweep(r, br__now_ms());
	atomic_store(&r->idle, (r->draining && r->n_conns == 0 ? 1 : 0) |
				       (r->n_requests == 0 ? 2 : 0));
}

static void *reactor_main(void *arg)
{
	br_reactor *r = arg;

	event_base_dispatch(r->base);
	return NULL;
}

int br__reactor_new(br_broker *b, int index, br_reactor **out)
{
	br_reactor *r = calloc(1, sizeof(*r));
	int64_t idle = b->cfg.connections_max_idle_ms;
	struct timeval tv = { 0, 100000 };

	*out = NULL;
	if (r == NULL)
		return -ENOMEM;
	r->broker = b;
	r->index = index;
	r->wake_fd = -1;
	pthread_mutex_init(&r->mu, NULL);
	if (!(r->base = event_base_new()))
		goto fail;
	if ((r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto fail;
	r->wake_ev = event_new(r->base, r->wake_fd, EV_READ | EV_PERSIST, on_wake, r);
	r->sweep_ev = event_new(r->base, -1, EV_PERSIST, on_sweep, r);
	if (!r->wake_ev || !r->sweep_ev)
		goto fail;
	/* A sweep at a tenth of a short idle limit keeps the close within
	 * ~10% of it; long limits need no more than ten sweeps a second. */
	if (idle > 0 && idle < 1000) {
		tv.tv_sec = 0;
		tv.tv_usec = (suseconds_t)(idle * 100 < 10000 ? 10000 : idle * 100);
	}
	if (event_add(r->wake_ev, NULL) < 0 || event_add(r->sweep_ev, &tv) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	br__reactor_free(r);
	return -ENOMEM;
}

int br__reactor_start(br_reactor *r)
{
	int err = pthread_create(&r->thread, NULL, reactor_main, r);
	char name[16];

	if (err != 0)
		return -err;
	r->started = true;
	/* Named for `top -H` and perf. Done here, on the starting thread,
	 * where b->admin and b->groups_thread are already set. */
	if (r == r->broker->admin)
		snprintf(name, sizeof name, "rw-admin");
	else if (r == r->broker->groups_thread)
		snprintf(name, sizeof name, "rw-groups");
	else
		snprintf(name, sizeof name, "rw-reactor-%d", r->index % 100);
	pthread_setname_np(r->thread, name);
	return 0;
}

static void quiesce_task(void *arg)
{
	br_reactor *r = arg;

	r->draining = true;
	br__conns_sweep(r, br__now_ms());
}

void br__reactor_quiesce(br_reactor *r)
{
	/* Without memory for the task the reactor cannot be told; its
	 * connections are then closed by br__reactor_free's close_all. */
	if (br_reactor_post(r, quiesce_task, r) < 0)
		br__logf(ST_LOG_WARN, "reactor %d: cannot post the shutdown task", r->index);
}

bool br__reactor_drained(br_reactor *r, bool requests_too)
{
	int idle = atomic_load(&r->idle);

	return (idle & 1) && (!requests_too || (idle & 2));
}

static void close_all_task(void *arg)
{
	br_reactor *r = arg;

	br__conns_close_all(r, "the broker is shutting down");
}

static void stop_task(void *arg)
{
	br_reactor *r = arg;

	event_base_loopbreak(r->base);
}

void br__reactor_free(br_reactor *r)
{
	if (r == NULL)
		return;
	if (r->started) {
		/* close_all then stop, in posting order; if posting fails for
		 * lack of memory, breaking the loop from here is still safe:
		 * libevent's loopbreak only sets a flag the loop checks after
		 * the wake-up below. */
		if (br_reactor_post(r, close_all_task, r) < 0 ||
		    br_reactor_post(r, stop_task, r) < 0)
			event_base_loopbreak(r->base);
		pthread_join(r->thread, NULL);
		r->started = false;
	}
	/* Tasks posted after the loop ended run here, on the only thread
	 * left touching the reactor; connections left are closed first so
	 * requests completed by those tasks are freed at once. */
	if (r->base) {
		br__conns_close_all(r, "the broker is shutting down");
		run_tasks(r);
	}
	if (r->n_requests > 0)
		br__logf(ST_LOG_WARN, "reactor %d: %lld requests still parked at shutdown",
			 r->index, (long long)r->n_requests);
	if (r->wake_ev)
		event_free(r->wake_ev);
	if (r->sweep_ev)
		event_free(r->sweep_ev);
	if (r->base)
		event_base_free(r->base);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
