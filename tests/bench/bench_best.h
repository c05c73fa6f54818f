/*
 * bench_best.h -- the timing shared by the micro-benchmarks (bench_crc32c,
 * bench_record_walk): the best of `trials` trials of about `ms`
 * milliseconds of this thread's CPU time each.
 *
 * The machine these run on is shared: the thread's own CPU clock
 * (CLOCK_THREAD_CPUTIME_ID) leaves out the time it spent descheduled, and
 * the best trial is the one least disturbed by neighbours on the same core.
 * Header-only: each benchmark is one program of one file.
 */
#ifndef REWIND_BENCH_BEST_H
#define REWIND_BENCH_BEST_H

#include <time.h>

static inline double bench_thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Calls run(arg) in trials of a fixed count, first doubled until one trial
 * takes about ms/4 and then quadrupled, and returns the best trial's CPU
 * seconds per call. run must keep its own work from being optimised away
 * (fold its result into something the caller prints). */
static inline double bench_best_s_per_call(void (*run)(void *), void *arg, int trials, double ms)
{
	double best = 0;
	long iters = 1;

	for (;;) {
		double t0 = bench_thread_cpu_s();
		for (long i = 0; i < iters; i++)
			run(arg);
		if ((bench_thread_cpu_s() - t0) * 1e3 >= ms / 4 || iters > (1L << 40))
			break;
		iters *= 2;
	}
	iters *= 4;
	for (int t = 0; t < trials; t++) {
		double t0 = bench_thread_cpu_s();
		for (long i = 0; i < iters; i++)
			run(arg);
		double s = (bench_thread_cpu_s() - t0) / (double)iters;
		if (t == 0 || s < best)
			best = s;
	}
	return best;
}

#endif /* REWIND_BENCH_BEST_H */
