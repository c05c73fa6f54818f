/*
 * br_int.h -- declarations shared between the broker's own files.
 */
#ifndef REWIND_BR_INT_H
#define REWIND_BR_INT_H

#include "broker/broker.h"
#include "proto/proto.h"

/* One log line to stderr: UTC time, level, message. @locality any */
void br__logf(enum st_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The storage log hook, forwarding to br__logf(). */
void br__store_log(void *arg, enum st_log_level level, const char *msg);

#endif /* REWIND_BR_INT_H */
