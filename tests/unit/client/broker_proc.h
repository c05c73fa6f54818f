/*
 * broker_proc.h -- a real rewind-broker for client unit tests: started on
 * 127.0.0.1 (a kernel-chosen port the first time, the same port after a
 * restart) with a temporary data dir, stopped by its PID. The broker is
 * $REWIND_BUILD_ROOT/broker/rewind-broker (meson's test environment).
 * Waits poll the broker's log with a deadline; nothing sleeps a fixed time.
 */
#ifndef REWIND_TESTS_BROKER_PROC_H
#define REWIND_TESTS_BROKER_PROC_H

#include <stdbool.h>
#include <sys/types.h>

struct broker_proc {
	char dir[256];           /* temporary dir: data/ and broker-N.log */
	char bootstrap[64];      /* "127.0.0.1:PORT" once started */
	int port;                /* 0 before the first start */
	pid_t pid;               /* 0 when not running */
	int starts;
	const char *sets[16];    /* extra "key=value" settings, NULL-ended */
};

/* Makes the dir; 0 or -1 (message on stderr). */
int broker_proc_init(struct broker_proc *b);
/* Starts and waits for " ready" (20 s); 0 or -1 with the log on stderr. */
int broker_proc_start(struct broker_proc *b);
/* SIGTERM (or SIGKILL when kill9) and wait for the exit. */
void broker_proc_stop(struct broker_proc *b, bool kill9);
/*
 * One broker for a whole test program, as a Check fixture
 * (tcase_add_unchecked_fixture(t, broker_proc_fixture_up,
 * broker_proc_fixture_down)). Put extra settings in broker_proc_shared.sets
 * before running the suite; they survive the start.
 */
extern struct broker_proc broker_proc_shared;
void broker_proc_fixture_up(void);
void broker_proc_fixture_down(void);

/* A loopback port nobody listens on (bound, then closed). */
int broker_proc_closed_port(void);
/* Stops if running and removes the dir. */
void broker_proc_cleanup(struct broker_proc *b);

#endif
