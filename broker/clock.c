/*
 * clock.c -- the broker's two clocks, in one place: CLOCK_MONOTONIC for
 * intervals and deadlines, CLOCK_REALTIME for timestamps that are stored or
 * compared with producers' (Kafka's are wall-clock milliseconds). Kept apart
 * from the reactor so that code linked without it (topics, handlers, their
 * unit tests) reads the same clocks.
 */
#include <time.h>

#include "broker/br_int.h"

int64_t br__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t br__now_ms(void)
{
	return br__now_ns() / 1000000;
}

int64_t br__wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
