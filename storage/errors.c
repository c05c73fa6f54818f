/*
 * errors.c -- error names and the logging hook of storage/.
 *
 * Storage returns three kinds of negative errors: -errno from the system,
 * kp_err (-1001 ..) from proto/ for malformed batches, and st_err (-2001 ..)
 * for its own conditions. st_strerror() names all three with static
 * strings, so it may be called from any thread and in a callback.
 *
 * Log lines go through the store's hook; one line per event (a failed write,
 * a log going offline, an index rebuilt), always naming the file involved.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "storage/st_int.h"

const char *st_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case ST_ERR_LOCKED: return "log directory is locked by another process or handle";
	case ST_ERR_CORRUPT: return "on-disk log state is corrupt and cannot be repaired";
	case ST_ERR_OFFSET_OUT_OF_RANGE: return "offset out of range";
	case ST_ERR_TOO_LARGE: return "batch larger than the segment size";
	case ST_ERR_OFFLINE: return "log is offline after a failed fsync";
	case ST_ERR_NOT_FOUND: return "no matching record";
	case ST_ERR_CLOSING: return "log or store is closing";
	case ST_ERR_CONFIG: return "configuration value out of range";
	case ST_ERR_TRUNCATED: return "append discarded: an earlier append of the log failed";
	case ST_ERR_OUT_OF_ORDER_SEQUENCE: return "producer sequence out of order (a gap or an old batch)";
	case ST_ERR_INVALID_PRODUCER_EPOCH: return "producer epoch older than the partition's (fenced)";
	case ST_ERR_INVALID_RECORD: return "invalid record: negative producer sequence or epoch, "
					   "records that do not parse, or no key on a compacted log";
	case ST_ERR_BUSY: return "the log is being cleaned by another pass";
	case ST_ERR_INVALID_TIMESTAMP: return "invalid timestamp: a producer's LogAppendTime batch, or a "
					      "record outside message.timestamp.before/after.max.ms of the clock";
	case ST_ERR_DELETING: return "the log is being deleted";
	default: break;
	}
	if (err <= -1000 && err > -2000)
		return kp_strerror(err);
	if (err < 0 && err > -1000) {
		/* strerrordesc_np() returns a static string, unlike strerror(). */
		const char *s = strerrordesc_np(-err);
		if (s)
			return s;
	}
	return "unknown error";
}

void st__logf(const st_store *s, enum st_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s && s->opts.log) {
		s->opts.log(s->opts.log_arg, level, line);
		return;
	}
	static const char *const names[] = { "error", "warn", "info", "debug" };
	fprintf(stderr, "rewind storage %s: %s\n",
		(unsigned)level < 4 ? names[level] : "?", line);
}

int st__path(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= cap)
		return -ENAMETOOLONG;
	return 0;
}
