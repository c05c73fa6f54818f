/*
 * logging.c -- the broker's log lines: one line per event on stderr,
 *   2026-11-21T20:30:00.123Z INFO message
 * written with a single write(2) so lines from several threads never mix.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "broker/br_int.h"

static const char *level_name(enum st_log_level level)
{
	switch (level) {
	case ST_LOG_ERROR: return "ERROR";
	case ST_LOG_WARN: return "WARN";
	case ST_LOG_INFO: return "INFO";
	case ST_LOG_DEBUG: return "DEBUG";
	}
	return "?";
}

static void log_line(enum st_log_level level, const char *msg)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	int n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s\n",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (int)(tv.tv_usec / 1000), level_name(level), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* A failed log write has nowhere better to be reported. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void br__logf(enum st_log_level level, const char *fmt, ...)
{
	char msg[1900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line(level, msg);
}

void br__store_log(void *arg, enum st_log_level level, const char *msg)
{
	(void)arg;
	log_line(level, msg);
}
