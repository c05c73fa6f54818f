/*
 * config.c -- broker configuration: one table of every accepted key.
 *
 * Each key has a type, a range and a place in br_config. Keys that Kafka
 * spells in several units (log.retention.hours / .minutes / .ms) write the
 * same field; as in Kafka, the finest unit wins whatever the order of the
 * lines, which is why each such field remembers the unit that last set it.
 *
 * rewind's one deliberate difference from Kafka's defaults:
 * log.flush.interval.messages defaults to 1, so an acknowledged record is on
 * disk (group commit makes that cheap); Kafka defaults to never syncing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"

enum cfg_type { CFG_I32, CFG_I64, CFG_BOOL, CFG_DIRS, CFG_TS_TYPE };

/* Unit precedence for keys that share a field: finer wins. */
enum cfg_unit { UNIT_NONE = 0, UNIT_HOURS = 1, UNIT_MINUTES = 2, UNIT_MS = 3 };

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;              /* of the field in br_config */
	int64_t min, max;
	int64_t scale;              /* value * scale is stored (hours -> ms) */
	enum cfg_unit unit;
	size_t unit_offset;         /* of the uint8_t remembering the unit */
	bool canonical;             /* printed by br_config_dump() */
};

#define F(field) offsetof(br_config, field)
#define NO_UNIT UNIT_NONE, 0

static const struct cfg_key keys[] = {
	{ "node.id", CFG_I32, F(node_id), 0, INT32_MAX, 1, NO_UNIT, true },
	{ "broker.id", CFG_I32, F(node_id), 0, INT32_MAX, 1, NO_UNIT, false },
	{ "log.dirs", CFG_DIRS, 0, 0, 0, 1, NO_UNIT, true },
	{ "log.dir", CFG_DIRS, 0, 0, 0, 1, NO_UNIT, false },
	{ "log.segment.bytes", CFG_I64, F(log.segment_bytes), KP_BATCH_HEADER_SIZE, INT32_MAX, 1, NO_UNIT, true },
	{ "log.roll.ms", CFG_I64, F(log.segment_ms), 1, INT64_MAX, 1, UNIT_MS, F(segment_ms_unit), true },
	{ "log.roll.hours", CFG_I64, F(log.segment_ms), 1, INT32_MAX, 3600000, UNIT_HOURS, F(segment_ms_unit), false },
	{ "log.retention.ms", CFG_I64, F(log.retention_ms), -1, INT64_MAX, 1, UNIT_MS, F(retention_ms_unit), true },
	{ "log.retention.minutes", CFG_I64, F(log.retention_ms), -1, INT32_MAX, 60000, UNIT_MINUTES, F(retention_ms_unit), false },
	{ "log.retention.hours", CFG_I64, F(log.retention_ms), -1, INT32_MAX, 3600000, UNIT_HOURS, F(retention_ms_unit), false },
	{ "log.retention.bytes", CFG_I64, F(log.retention_bytes), -1, INT64_MAX, 1, NO_UNIT, true },
	{ "log.index.interval.bytes", CFG_I32, F(log.index_interval_bytes), 0, INT32_MAX, 1, NO_UNIT, true },
	{ "log.flush.interval.messages", CFG_I64, F(log.flush_messages), 1, INT64_MAX, 1, NO_UNIT, true },
	{ "log.flush.interval.ms", CFG_I64, F(log.flush_ms), 0, INT64_MAX, 1, NO_UNIT, true },
	{ "log.message.timestamp.type", CFG_TS_TYPE, F(log.log_append_time), 0, 0, 1, NO_UNIT, true },
	{ "log.retention.check.interval.ms", CFG_I64, F(log_retention_check_interval_ms), 1, INT64_MAX, 1, NO_UNIT, true },
	{ "log.io.uring.enable", CFG_BOOL, F(io_uring), 0, 1, 1, NO_UNIT, true },
};

#undef F

static void errf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

void br_config_init(br_config *c)
{
	memset(c, 0, sizeof(*c));
	c->node_id = 0;
	c->log_dirs[0] = strdup("data");
	c->n_log_dirs = c->log_dirs[0] ? 1 : 0;
	c->log_retention_check_interval_ms = 300000;
	c->io_uring = true;
	st_log_config_default(&c->log);
}

static void free_dirs(br_config *c)
{
	for (int i = 0; i < c->n_log_dirs; i++)
		free(c->log_dirs[i]);
	c->n_log_dirs = 0;
}

void br_config_free(br_config *c)
{
	free_dirs(c);
}

/* Trims ASCII white space at both ends, in place; returns the start. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static const struct cfg_key *key_find(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int parse_int(const struct cfg_key *k, const char *v, int64_t *out, char *errbuf, size_t errlen)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end != '\0') {
		errf(errbuf, errlen, "%s=%s: not a whole number", k->name, v);
		return BR_ERR_CONFIG;
	}
	if (n < k->min || n > k->max) {
		errf(errbuf, errlen, "%s=%s: out of range [%" PRId64 ", %" PRId64 "]",
		     k->name, v, k->min, k->max);
		return BR_ERR_CONFIG;
	}
	/* -1 means "forever" and is never scaled. */
	if (n > 0 && k->scale > 1) {
		if (n > INT64_MAX / k->scale) {
			errf(errbuf, errlen, "%s=%s: too large", k->name, v);
			return BR_ERR_CONFIG;
		}
		n *= k->scale;
	}
	*out = n;
	return 0;
}

static int set_dirs(br_config *c, const struct cfg_key *k, const char *v, char *errbuf, size_t errlen)
{
	char *copy = strdup(v), *save = NULL, *tok;
	char *dirs[BR_MAX_LOG_DIRS];
	int n = 0;

	if (!copy) {
		errf(errbuf, errlen, "%s: out of memory", k->name);
		return BR_ERR_CONFIG;
	}
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *d = trim(tok);
		if (!*d)
			continue;
		if (n == BR_MAX_LOG_DIRS) {
			errf(errbuf, errlen, "%s: more than %d directories", k->name, BR_MAX_LOG_DIRS);
			goto fail;
		}
		if (!(dirs[n] = strdup(d))) {
			errf(errbuf, errlen, "%s: out of memory", k->name);
			goto fail;
		}
		n++;
	}
	if (n == 0) {
		errf(errbuf, errlen, "%s: needs at least one directory", k->name);
		goto fail;
	}
	free(copy);
	free_dirs(c);
	memcpy(c->log_dirs, dirs, sizeof(dirs[0]) * (size_t)n);
	c->n_log_dirs = n;
	return 0;
fail:
	while (n > 0)
		free(dirs[--n]);
	free(copy);
	return BR_ERR_CONFIG;
}

int br_config_set(br_config *c, const char *assignment, char *errbuf, size_t errlen)
{
	char line[4096];
	char *eq, *name, *value;
	const struct cfg_key *k;
	char *field;
	int64_t n;
	int rc;

	if (strlen(assignment) >= sizeof(line)) {
		errf(errbuf, errlen, "configuration line longer than %zu bytes", sizeof(line) - 1);
		return BR_ERR_CONFIG;
	}
	strcpy(line, assignment);
	eq = strchr(line, '=');
	if (!eq) {
		errf(errbuf, errlen, "'%s': expected key=value", trim(line));
		return BR_ERR_CONFIG;
	}
	*eq = '\0';
	name = trim(line);
	value = trim(eq + 1);
	k = key_find(name);
	if (!k) {
		errf(errbuf, errlen, "unknown configuration key '%s' (see conf/broker.conf for the keys rewind accepts)", name);
		return BR_ERR_CONFIG;
	}
	field = (char *)c + k->offset;
	switch (k->type) {
	case CFG_I32:
	case CFG_I64:
		if ((rc = parse_int(k, value, &n, errbuf, errlen)) < 0)
			return rc;
		if (k->unit != UNIT_NONE) {
			uint8_t *unit = (uint8_t *)c + k->unit_offset;
			if (*unit > k->unit)
				return 0;       /* a finer unit already set this field */
			*unit = (uint8_t)k->unit;
		}
		if (k->type == CFG_I32) {
			int32_t v32 = (int32_t)n;
			memcpy(field, &v32, sizeof(v32));
		} else {
			memcpy(field, &n, sizeof(n));
		}
		return 0;
	case CFG_BOOL: {
		bool b;
		if (strcmp(value, "true") == 0)
			b = true;
		else if (strcmp(value, "false") == 0)
			b = false;
		else {
			errf(errbuf, errlen, "%s=%s: expected true or false", k->name, value);
			return BR_ERR_CONFIG;
		}
		memcpy(field, &b, sizeof(b));
		return 0;
	}
	case CFG_TS_TYPE: {
		bool lat;
		if (strcmp(value, "CreateTime") == 0)
			lat = false;
		else if (strcmp(value, "LogAppendTime") == 0)
			lat = true;
		else {
			errf(errbuf, errlen, "%s=%s: expected CreateTime or LogAppendTime", k->name, value);
			return BR_ERR_CONFIG;
		}
		memcpy(field, &lat, sizeof(lat));
		return 0;
	}
	case CFG_DIRS:
		return set_dirs(c, k, value, errbuf, errlen);
	}
	return BR_ERR_CONFIG;
}

int br_config_load(br_config *c, const char *path, char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int lineno = 0, rc = 0;

	if (!f) {
		errf(errbuf, errlen, "cannot open config file %s: %s", path, strerror(errno));
		return BR_ERR_CONFIG;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s;
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			errf(errbuf, errlen, "%s:%d: line longer than %zu bytes", path, lineno, sizeof(line) - 2);
			rc = BR_ERR_CONFIG;
			break;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == '!')
			continue;
		if ((rc = br_config_set(c, s, errbuf, errlen)) < 0) {
			char why[512];
			snprintf(why, sizeof(why), "%s", errbuf);
			errf(errbuf, errlen, "%s:%d: %s", path, lineno, why);
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		errf(errbuf, errlen, "%s: read error", path);
		rc = BR_ERR_CONFIG;
	}
	fclose(f);
	return rc;
}

void br_config_dump(const br_config *c, FILE *out)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct cfg_key *k = &keys[i];
		const char *field = (const char *)c + k->offset;
		int32_t v32;
		int64_t v64;
		bool b;

		if (!k->canonical)
			continue;
		fprintf(out, "%s=", k->name);
		switch (k->type) {
		case CFG_I32:
			memcpy(&v32, field, sizeof(v32));
			fprintf(out, "%" PRId32 "\n", v32);
			break;
		case CFG_I64:
			memcpy(&v64, field, sizeof(v64));
			fprintf(out, "%" PRId64 "\n", v64);
			break;
		case CFG_BOOL:
			memcpy(&b, field, sizeof(b));
			fprintf(out, "%s\n", b ? "true" : "false");
			break;
		case CFG_TS_TYPE:
			memcpy(&b, field, sizeof(b));
			fprintf(out, "%s\n", b ? "LogAppendTime" : "CreateTime");
			break;
		case CFG_DIRS:
			for (int d = 0; d < c->n_log_dirs; d++)
				fprintf(out, "%s%s", d ? "," : "", c->log_dirs[d]);
			fputc('\n', out);
			break;
		}
	}
}

const char *br_strerror(int err)
{
	switch (err) {
	case BR_ERR_CONFIG: return "configuration refused";
	case BR_ERR_DATA_DIR: return "log directory unusable";
	default: return st_strerror(err);
	}
}
