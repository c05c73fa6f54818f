/*
 * topics.c -- the topic registry: names, topic ids, partitions, configs.
 *
 * What is on disk (every log dir of log.dirs may hold partitions; the first
 * one also holds the broker's own files):
 *
 *   <logdir>/<topic>-<p>/                 a partition log (storage/)
 *   <logdir>/<topic>-<p>/partition.metadata
 *                                         Kafka's: "version: 0\ntopic_id: <id>\n"
 *   <logdir>/<topic>-<p>.<id hex>-delete/ a deleted partition awaiting removal
 *   <first>/meta.properties               "version=1\ncluster.id=<id>\nnode.id=<n>\n"
 *   <first>/.topics/<id>.properties       "topic=<name>\ntopic.id=<id>\npartitions=<n>\n"
 *                                         and the topic's config overrides, key=value
 *   <first>/.topics/<id>.delete           "topic=<name>\ntopic.id=<id>\n": a delete
 *                                         in progress
 *
 * Ids print as base64url without padding (22 characters), as Kafka does;
 * files are named by id, not by topic name, because a 249-character name
 * plus a suffix would pass NAME_MAX.
 * Every file is written whole: tmp + fsync + rename + fsync of the dir, so a
 * crash leaves the old or the new file, never a mix.
 *
 * Opening: every `<topic>-<p>` directory is opened (storage recovers it) and
 * grouped by topic; a topic's partition count is the larger of its
 * directories and its properties file, and missing partitions are created.
 * Directories of another form are named in a warning and left alone.
 *
 * Deleting, in an order that a crash at any step finishes rather than
 * undoes (a step that fails is rolled back and the topic stays whole): (1) the `.delete` marker is written, (2) the properties file goes,
 * (3) each partition dir is renamed to `...-delete`, (4) the marker goes;
 * the logs close and the renamed directories are removed when the last
 * reference is dropped. At start, directories named by a marker's topic id
 * and every `-delete` directory are removed before anything opens.
 *
 * Threads: lookups (br_topics_get*) take `lock` for reading and a
 * reference; creating, deleting, growing and altering are serialised by
 * `admin`, which is held across the small file writes and log opens those
 * need, while `lock` is only taken for writing to swap pointers. Config
 * override strings are under `cfg_mu`. A topic's `cfg` fields are words
 * written one at a time by alter: a reader racing an alter may see some
 * old and some new fields, which is harmless (each is valid on its own).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/br_int.h"

#define META_DIR ".topics"
#define MAX_PARTITIONS 100000
#define PROPS_MAX (64 * 1024)

/* A topic with the registry's private state around it. */
struct topic {
	br_topic pub;
	br_topics *owner;
	char *overrides[BR_TOPIC_CONFIG_KEYS]; /* NULL = broker default; under cfg_mu */
	br_part **retired;                   /* old parts arrays (CreatePartitions) */
	size_t n_retired;
	char **doomed;                       /* renamed dirs removed at free */
	size_t n_doomed;
	int *dir_index;                      /* log dir index of each partition */
};

struct br_topics {
	br_broker *b;
	pthread_rwlock_t lock;               /* v, n */
	pthread_mutex_t admin;               /* create, delete, alter, grow */
	pthread_mutex_t cfg_mu;              /* topics' overrides */
	struct topic **v;                    /* sorted by name */
	size_t n, cap;
	char *meta_dir;                      /* <first logdir>/.topics */
	int dir_parts[BR_MAX_LOG_DIRS];      /* partitions per log dir, for placement */
};

static struct topic *T(br_topic *p) { return (struct topic *)p; }

/* ================================================================= ids */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void br_uuid_to_str(const uint8_t id[16], char out[23])
{
	int o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (int i = 0; i < 16; i++) {
		acc = acc << 8 | id[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 63];
		}
	}
	/* 128 bits leave 2: padded with zero bits to one more character. */
	out[o++] = b64url[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

int br_uuid_parse(const char *s, size_t len, uint8_t out[16])
{
	uint32_t acc = 0;
	int bits = 0, o = 0;

	if (len != 22)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		const char *c = memchr(b64url, s[i], 64);
		if (!c || s[i] == '\0')
			return -EINVAL;
		acc = acc << 6 | (uint32_t)(c - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o < 16)
				out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* The last character carries 2 bits of id and 4 that must be zero. */
	return (o == 16 && (acc & ((1u << bits) - 1)) == 0) ? 0 : -EINVAL;
}

/* A random version-4 UUID that prints without a leading '-' (Kafka refuses
 * those, as they read as command-line options) and is not all zeros. */
static int uuid_generate(uint8_t id[16])
{
	char s[23];

	for (;;) {
		if (getrandom(id, 16, 0) != 16)
			return errno ? -errno : -EIO;
		id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
		id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
		br_uuid_to_str(id, s);
		if (s[0] != '-')
			return 0;
	}
}

/* ================================================================ names */

static bool topic_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
}

/* Kafka's Topic.validate: 1..249 legal characters, not "." or "..". */
static bool topic_name_ok(const char *name, size_t len, char *errbuf, size_t errlen)
{
	if (len == 0) {
		snprintf(errbuf, errlen, "Topic name is illegal, it can't be empty");
		return false;
	}
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
		snprintf(errbuf, errlen, "Topic name cannot be \".\" or \"..\"");
		return false;
	}
	if (len > 249) {
		snprintf(errbuf, errlen,
			 "Topic name is illegal, it can't be longer than 249 characters, topic name: %.*s",
			 (int)len, name);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (!topic_char_ok(name[i])) {
			snprintf(errbuf, errlen,
				 "Topic name \"%.*s\" is illegal, it contains a character other than "
				 "ASCII alphanumerics, '.', '_' and '-'", (int)len, name);
			return false;
		}
	}
	return true;
}

bool br_partition_dir_parse(const char *name, size_t *topic_len, int32_t *partition)
{
	const char *dash = strrchr(name, '-');
	size_t tlen;
	int64_t p = 0;
	char dummy[8];

	if (!dash || dash == name || dash[1] == '\0')
		return false;
	tlen = (size_t)(dash - name);
	if (!topic_name_ok(name, tlen, dummy, sizeof(dummy)))
		return false;
	for (const char *d = dash + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return false;
		p = p * 10 + (*d - '0');
		if (p > INT32_MAX)
			return false;
	}
	/* "topic-01" would not round-trip to the same directory name. */
	if (dash[1] == '0' && dash[2] != '\0')
		return false;
	*topic_len = tlen;
	*partition = (int32_t)p;
	return true;
}

/* Kafka refuses a topic whose name equals another's once '.' and '_' are
 * treated alike, because metric names would collide. */
static bool names_collide(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i] == '.' ? '_' : a[i], y = b[i] == '.' ? '_' : b[i];
		if (x != y)
			return false;
	}
	return true;
}

/* ================================================================ files */

/* Reads a small file into a NUL-terminated malloc'ed buffer (caller frees).
 * -ENOENT when absent, -EFBIG above PROPS_MAX. */
static int file_read_small(const char *path, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	if (!(buf = malloc(PROPS_MAX + 1))) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, PROPS_MAX + 1 - len);
		if (r < 0) {
			int err = errno == EINTR ? 0 : -errno;
			if (err == 0)
				continue;
			close(fd);
			free(buf);
			return err;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > PROPS_MAX) {
			close(fd);
			free(buf);
			return -EFBIG;
		}
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/*
 * Calls fn(key, value, arg) for each `key<sep>value` line of buf (modified
 * in place); '#' comments and blank lines skipped, spaces around trimmed.
 */
static void props_each(char *buf, char sep, void (*fn)(const char *k, const char *v, void *arg),
		       void *arg)
{
	char *save = NULL;

	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *k, *v, *e;

		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || *line == '\0' || !(eq = strchr(line, sep)))
			continue;
		*eq = '\0';
		k = line;
		v = eq + 1;
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); )
			*--e = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\r' || e[-1] == '\t'); )
			*--e = '\0';
		fn(k, v, arg);
	}
}

/* Removes a directory of plain files (a partition dir), then the dir. */
static int remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && rc == 0)
			rc = -errno;
	}
	closedir(d);
	if (rmdir(path) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static int partition_metadata_write(const char *dir, const uint8_t id[16])
{
	char s[23], buf[64];
	int n;

	br_uuid_to_str(id, s);
	n = snprintf(buf, sizeof(buf), "version: 0\ntopic_id: %s\n", s);
	return st_file_write_atomic(dir, "partition.metadata", buf, (size_t)n);
}

struct pm_read { uint8_t id[16]; bool have; };

static void pm_line(const char *k, const char *v, void *arg)
{
	struct pm_read *r = arg;
	if (strcmp(k, "topic_id") == 0 && br_uuid_parse(v, strlen(v), r->id) == 0)
		r->have = true;
}

/* The topic id in dir/partition.metadata; false if absent or unreadable. */
static bool partition_metadata_read(const char *dir, uint8_t id[16])
{
	char path[4096], *buf;
	struct pm_read r = { .have = false };

	if ((size_t)snprintf(path, sizeof(path), "%s/partition.metadata", dir) >= sizeof(path) ||
	    file_read_small(path, &buf) < 0)
		return false;
	props_each(buf, ':', pm_line, &r);
	free(buf);
	if (r.have)
		memcpy(id, r.id, 16);
	return r.have;
}

/* ========================================================= topic configs */

enum key_kind { K_LONG, K_INT, K_POLICY, K_CODEC, K_TSTYPE, K_RATIO };

struct topic_key {
	const char *name;
	const char *synonym;
	enum key_kind kind;
	int64_t min, max;
	size_t off;                  /* of the field in br_topic_config (K_LONG, K_INT) */
	int8_t kafka_type;           /* ConfigType: 2 string, 3 int, 5 long, 6 double, 7 list */
	const char *doc;
};

#define C(f) offsetof(br_topic_config, f)
static const struct topic_key topic_keys[BR_TOPIC_CONFIG_KEYS] = {
	{ "cleanup.policy", "log.cleanup.policy", K_POLICY, 0, 0, 0, 7,
	  "\"delete\", \"compact\" or both: what happens to old segments" },
	{ "compression.type", "compression.type", K_CODEC, 0, 0, 0, 2,
	  "producer, uncompressed, gzip, snappy, lz4 or zstd" },
	{ "delete.retention.ms", "log.cleaner.delete.retention.ms", K_LONG, 0, INT64_MAX, C(log.delete_retention_ms), 5,
	  "how long a tombstone stays after the cleaner first passed it" },
	{ "flush.messages", "log.flush.interval.messages", K_LONG, 1, INT64_MAX, C(log.flush_messages), 5,
	  "records written before an fdatasync; 1 = every append waits for its sync" },
	{ "flush.ms", "log.flush.interval.ms", K_LONG, 0, INT64_MAX, C(log.flush_ms), 5,
	  "longest a written batch stays unsynced when flush.messages > 1" },
	{ "index.interval.bytes", "log.index.interval.bytes", K_INT, 0, INT32_MAX, C(log.index_interval_bytes), 3,
	  "bytes of log between sparse index entries" },
	{ "max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", K_LONG, 1, INT64_MAX, C(log.max_compaction_lag_ms), 5,
	  "a record stays uncompacted at most this long, whatever the dirty ratio" },
	{ "max.message.bytes", "message.max.bytes", K_INT, 0, INT32_MAX, C(max_message_bytes), 3,
	  "largest record batch accepted" },
	{ "message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", K_LONG, 0, INT64_MAX,
	  C(ts_after_max_ms), 5, "a CreateTime record stamped further ahead of the broker's clock is refused" },
	{ "message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", K_LONG, 0, INT64_MAX,
	  C(ts_before_max_ms), 5, "a CreateTime record stamped further behind the broker's clock is refused" },
	{ "message.timestamp.difference.max.ms", "log.message.timestamp.difference.max.ms", K_LONG, 0, INT64_MAX,
	  C(ts_difference_max_ms), 5, "deprecated: the window on either side of the broker's clock where "
	  "message.timestamp.before/after.max.ms are not set" },
	{ "message.timestamp.type", "log.message.timestamp.type", K_TSTYPE, 0, 0, 0, 2,
	  "CreateTime or LogAppendTime" },
	{ "min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", K_RATIO, 0, 1, C(log.min_cleanable_dirty_ratio), 6,
	  "share of the log not yet compacted at which the cleaner takes it" },
	{ "min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", K_LONG, 0, INT64_MAX, C(log.min_compaction_lag_ms), 5,
	  "a record stays uncompacted at least this long" },
	{ "min.insync.replicas", "min.insync.replicas", K_INT, 1, INT32_MAX, C(min_insync_replicas), 3,
	  "replicas that must be in sync for an acks=all produce; more than 1 refuses it on one node" },
	{ "retention.bytes", "log.retention.bytes", K_LONG, -1, INT64_MAX, C(log.retention_bytes), 5,
	  "most bytes kept per partition; -1 = no limit" },
	{ "retention.ms", "log.retention.ms", K_LONG, -1, INT64_MAX, C(log.retention_ms), 5,
	  "how long closed segments are kept; -1 = forever" },
	{ "segment.bytes", "log.segment.bytes", K_INT, KP_BATCH_HEADER_SIZE, INT32_MAX, C(log.segment_bytes), 3,
	  "segment file size at which the log rolls" },
	{ "segment.ms", "log.roll.ms", K_LONG, 1, INT64_MAX, C(log.segment_ms), 5,
	  "age at which the active segment rolls" },
};
#undef C

static int key_find(const char *name)
{
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++)
		if (strcmp(topic_keys[i].name, name) == 0)
			return i;
	return -1;
}

static void topic_config_default(const br_config *c, br_topic_config *out)
{
	memset(out, 0, sizeof(*out));
	out->log = c->log;
	out->compression_type = c->compression_type;
	out->compact = c->cleanup_compact;
	out->delete_policy = c->cleanup_delete;
	out->log.compact = out->compact;
	out->max_message_bytes = c->message_max_bytes;
	out->min_insync_replicas = c->min_insync_replicas;
	out->ts_before_max_ms = c->log.ts_before_max_ms;
	out->ts_after_max_ms = c->log.ts_after_max_ms;
	out->ts_difference_max_ms = c->log_ts_difference_max_ms;
}

/* Kafka 3.6-3.9 keep the deprecated message.timestamp.difference.max.ms
 * working: it gives the window on a side whose own key is still at its
 * default. Unlike those versions, a topic's difference counts even where
 * the broker sets one too (Kafka then keeps the broker's: a topic's
 * before.max.ms defaults to the broker's resolved window, not INT64_MAX),
 * as it did before 3.6. */
static int64_t timestamp_window(int64_t side, int64_t difference)
{
	return side != INT64_MAX ? side : difference;
}

/* Applies one key's value to cfg. false (and errbuf) for a bad value. */
static bool key_apply(int i, const char *v, br_topic_config *cfg, char *errbuf, size_t errlen)
{
	const struct topic_key *k = &topic_keys[i];
	char *end;
	long long n;

	switch (k->kind) {
	case K_LONG:
	case K_INT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || end == v || *end != '\0' || n < k->min || n > k->max) {
			snprintf(errbuf, errlen, "Invalid value %s for configuration %s: "
				 "an integer in [%" PRId64 ", %" PRId64 "] is expected",
				 v, k->name, k->min, k->max);
			return false;
		}
		if (k->kind == K_LONG || k->off == offsetof(br_topic_config, log.segment_bytes))
			*(int64_t *)((char *)cfg + k->off) = n;
		else
			*(int32_t *)((char *)cfg + k->off) = (int32_t)n;
		return true;
	case K_RATIO: {
		errno = 0;
		double d = strtod(v, &end);
		if (errno || end == v || *end != '\0' || !(d >= 0 && d <= 1)) {
			snprintf(errbuf, errlen, "Invalid value %s for configuration %s: "
				 "a number between 0 and 1 is expected", v, k->name);
			return false;
		}
		*(double *)((char *)cfg + k->off) = d;
		return true;
	}
	case K_POLICY:
		if (br_cleanup_policy_parse(v, &cfg->compact, &cfg->delete_policy) < 0) {
			snprintf(errbuf, errlen, "Invalid value %s for configuration cleanup.policy: "
				 "delete, compact or compact,delete is expected", v);
			return false;
		}
		return true;
	case K_CODEC:
		if (br_compression_type_parse(v, &cfg->compression_type) < 0) {
			snprintf(errbuf, errlen, "Invalid value %s for configuration compression.type: "
				 "one of producer, uncompressed, gzip, snappy, lz4, zstd is expected", v);
			return false;
		}
		return true;
	case K_TSTYPE:
		if (strcmp(v, "CreateTime") == 0)
			cfg->log.log_append_time = false;
		else if (strcmp(v, "LogAppendTime") == 0)
			cfg->log.log_append_time = true;
		else {
			snprintf(errbuf, errlen, "Invalid value %s for configuration "
				 "message.timestamp.type: CreateTime or LogAppendTime is expected", v);
			return false;
		}
		return true;
	}
	return false;
}

static void key_format(int i, const br_topic_config *cfg, char *buf, size_t len)
{
	const struct topic_key *k = &topic_keys[i];

	switch (k->kind) {
	case K_LONG:
		snprintf(buf, len, "%" PRId64, *(const int64_t *)((const char *)cfg + k->off));
		return;
	case K_INT:
		if (k->off == offsetof(br_topic_config, log.segment_bytes))
			snprintf(buf, len, "%" PRId64, cfg->log.segment_bytes);
		else
			snprintf(buf, len, "%" PRId32, *(const int32_t *)((const char *)cfg + k->off));
		return;
	case K_RATIO:
		snprintf(buf, len, "%g", *(const double *)((const char *)cfg + k->off));
		return;
	case K_POLICY:
		snprintf(buf, len, "%s", cfg->compact && cfg->delete_policy ? "compact,delete"
					 : cfg->compact ? "compact" : "delete");
		return;
	case K_CODEC:
		snprintf(buf, len, "%s", br_compression_type_name(cfg->compression_type));
		return;
	case K_TSTYPE:
		snprintf(buf, len, "%s", cfg->log.log_append_time ? "LogAppendTime" : "CreateTime");
		return;
	}
}

/* Builds a topic's effective config from the broker's and the overrides. */
static bool topic_config_build(const br_config *c, char *const overrides[], br_topic_config *out,
			       char *errbuf, size_t errlen)
{
	topic_config_default(c, out);
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++)
		if (overrides[i] && !key_apply(i, overrides[i], out, errbuf, errlen))
			return false;
	/* The log's own copy of the policy: the cleaner reads it there. */
	out->log.compact = out->compact;
	out->log.ts_before_max_ms = timestamp_window(out->ts_before_max_ms, out->ts_difference_max_ms);
	out->log.ts_after_max_ms = timestamp_window(out->ts_after_max_ms, out->ts_difference_max_ms);
	return true;
}

static void overrides_free(char *o[])
{
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
		free(o[i]);
		o[i] = NULL;
	}
}

/* Writes .topics/<name>.properties. Caller holds admin. */
static int topic_props_write(br_topics *t, const char *name, const uint8_t id[16], int32_t n_parts,
			     char *const overrides[])
{
	kp_buf b;
	char s[23], line[512], file[300];
	int rc;

	br_uuid_to_str(id, s);
	kp_buf_init(&b);
	snprintf(line, sizeof(line), "# rewind topic: name, id, partition count and config overrides\n"
		 "topic=%s\ntopic.id=%s\npartitions=%" PRId32 "\n", name, s, n_parts);
	kp_buf_put(&b, line, strlen(line));
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
		if (!overrides[i])
			continue;
		snprintf(line, sizeof(line), "%s=%s\n", topic_keys[i].name, overrides[i]);
		kp_buf_put(&b, line, strlen(line));
	}
	snprintf(file, sizeof(file), "%s.properties", s);
	rc = b.err ? -ENOMEM : st_file_write_atomic(t->meta_dir, file, (const char *)b.data, b.len);
	kp_buf_free(&b);
	return rc;
}

struct props_read {
	char *name;
	bool used;
	uint8_t id[16];
	bool have_id;
	int32_t n_parts;
	char *overrides[BR_TOPIC_CONFIG_KEYS];
	const char *file;
};

static void props_line(const char *k, const char *v, void *arg)
{
	struct props_read *r = arg;
	int i;

	if (strcmp(k, "topic") == 0) {
		free(r->name);
		r->name = strdup(v);
	} else if (strcmp(k, "topic.id") == 0) {
		r->have_id = br_uuid_parse(v, strlen(v), r->id) == 0;
	} else if (strcmp(k, "partitions") == 0) {
		long n = strtol(v, NULL, 10);
		r->n_parts = n > 0 && n <= MAX_PARTITIONS ? (int32_t)n : 0;
	} else if ((i = key_find(k)) >= 0) {
		free(r->overrides[i]);
		r->overrides[i] = strdup(v);
	} else {
		br__logf(ST_LOG_WARN, "%s: ignoring unknown key %s", r->file, k);
	}
}

/* ============================================================== registry */

static void topic_free(struct topic *tp);

/* Index of the first topic whose name is >= name. Caller holds lock. */
static size_t topics_lower(br_topics *t, const char *name, size_t len)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *m = t->v[mid]->pub.name;
		size_t mlen = strlen(m);
		int c = memcmp(m, name, mlen < len ? mlen : len);
		if (c < 0 || (c == 0 && mlen < len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct topic *topics_find(br_topics *t, const char *name, size_t len)
{
	size_t i = topics_lower(t, name, len);

	if (i < t->n && strlen(t->v[i]->pub.name) == len && memcmp(t->v[i]->pub.name, name, len) == 0)
		return t->v[i];
	return NULL;
}

/* Inserts tp in name order. Caller holds admin; takes lock for writing. */
static int topics_insert(br_topics *t, struct topic *tp)
{
	size_t i;

	pthread_rwlock_wrlock(&t->lock);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct topic **nv = realloc(t->v, cap * sizeof(*nv));
		if (!nv) {
			pthread_rwlock_unlock(&t->lock);
			return -ENOMEM;
		}
		t->v = nv;
		t->cap = cap;
	}
	i = topics_lower(t, tp->pub.name, strlen(tp->pub.name));
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(t->v[0]));
	t->v[i] = tp;
	t->n++;
	pthread_rwlock_unlock(&t->lock);
	return 0;
}

br_topic *br_topics_get(br_topics *t, const char *name, size_t len)
{
	struct topic *tp;

	pthread_rwlock_rdlock(&t->lock);
	tp = topics_find(t, name, len);
	if (tp)
		atomic_fetch_add(&tp->pub.refs, 1);
	pthread_rwlock_unlock(&t->lock);
	return tp ? &tp->pub : NULL;
}

br_topic *br_topics_get_by_id(br_topics *t, const uint8_t id[16])
{
	struct topic *tp = NULL;

	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->n; i++) {
		if (memcmp(t->v[i]->pub.id, id, 16) == 0) {
			tp = t->v[i];
			atomic_fetch_add(&tp->pub.refs, 1);
			break;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return tp ? &tp->pub : NULL;
}

void br_topic_put(br_topic *topic)
{
	if (topic && atomic_fetch_sub(&topic->refs, 1) == 1)
		topic_free(T(topic));
}

br_part *br_topic_part(br_topic *topic, int32_t index)
{
	/* n_parts is published after the array holding that many (release), so
	 * an acquire load of it makes the matching array visible. */
	int32_t n = __atomic_load_n(&topic->n_parts, __ATOMIC_ACQUIRE);
	br_part **parts = __atomic_load_n(&topic->parts, __ATOMIC_ACQUIRE);

	if (index < 0 || index >= n)
		return NULL;
	return parts[index];
}

int32_t br_part_leader_epoch(br_part *part)
{
	int32_t epoch = st_log_latest_epoch(part->log);
	return epoch < 0 ? 0 : epoch;
}

int16_t br_part_check_leader_epoch(br_part *part, int32_t current_leader_epoch)
{
	if (current_leader_epoch < 0)
		return KE_NONE;
	int32_t epoch = br_part_leader_epoch(part);
	if (current_leader_epoch < epoch)
		return KE_FENCED_LEADER_EPOCH;
	if (current_leader_epoch > epoch)
		return KE_UNKNOWN_LEADER_EPOCH;
	return KE_NONE;
}

void br_topics_foreach(br_topics *t, void (*fn)(br_topic *topic, void *arg), void *arg)
{
	struct topic **snap;
	size_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->n;
	snap = malloc((n ? n : 1) * sizeof(*snap));
	if (snap)
		for (size_t i = 0; i < n; i++) {
			snap[i] = t->v[i];
			atomic_fetch_add(&snap[i]->pub.refs, 1);
		}
	pthread_rwlock_unlock(&t->lock);
	if (!snap) {
		br__logf(ST_LOG_ERROR, "topics: out of memory listing topics");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		fn(&snap[i]->pub, arg);
		br_topic_put(&snap[i]->pub);
	}
	free(snap);
}

int br_topics_partition_count(br_topics *t)
{
	int n = 0;

	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		n += t->v[i]->pub.n_parts;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

int br_topics_topic_count(br_topics *t)
{
	int n;

	pthread_rwlock_rdlock(&t->lock);
	n = (int)t->n;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

/* ============================================================ partitions */

static void part_log_opened(const char *path, st_log *log)
{
	const st_recovery_report *rep = st_log_recovery(log);
	st_log_stats st;

	st_log_get_stats(log, &st);
	br__logf(ST_LOG_INFO,
		 "partition %s: %s, %d segments, offsets [%lld, %lld), "
		 "%lld bytes truncated, %d indexes rebuilt",
		 path, rep->clean ? "clean" : "recovered", rep->segments,
		 (long long)st.start_offset, (long long)st.end_offset,
		 (long long)rep->bytes_truncated, rep->indexes_rebuilt);
}

/* The log dir with the fewest partitions (Kafka's placement). */
static int pick_dir(br_topics *t)
{
	int best = 0;

	for (int i = 1; i < t->b->cfg.n_log_dirs; i++)
		if (t->dir_parts[i] < t->dir_parts[best])
			best = i;
	return best;
}

/* The work of run_log_threads(), shared by its threads. */
struct log_work {
	void (*fn)(void *ctx, size_t i);
	void *ctx;
	size_t n;
	atomic_size_t next;
};

static void *log_work_main(void *arg)
{
	struct log_work *w = arg;
	size_t i;

	while ((i = atomic_fetch_add(&w->next, 1)) < w->n)
		w->fn(w->ctx, i);
	return NULL;
}

/*
 * Runs fn(ctx, i) for every i in [0, n) on num.recovery.threads.per.data.dir
 * threads per log dir, as Kafka opens and closes its logs: the calling
 * thread is one of them, the others are named `name`. Opening and closing
 * a log is mostly waiting on the disk (scans, syncs), which overlaps.
 */
#define LOG_THREADS_MAX 64
static void run_log_threads(br_topics *t, const char *name, size_t n,
			    void (*fn)(void *ctx, size_t i), void *ctx)
{
	int threads = t->b->cfg.num_recovery_threads_per_data_dir * t->b->cfg.n_log_dirs;
	struct log_work w = { .fn = fn, .ctx = ctx, .n = n };
	pthread_t th[LOG_THREADS_MAX];
	int started = 0;

	atomic_init(&w.next, 0);
	while (started + 1 < threads && started < LOG_THREADS_MAX && (size_t)started + 1 < n &&
	       pthread_create(&th[started], NULL, log_work_main, &w) == 0)
		pthread_setname_np(th[started++], name);
	log_work_main(&w);  /* alone when no other thread started */
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

/*
 * Opens partition `index` of tp in path (or, when path is NULL, a new
 * directory in the emptiest log dir) and writes its partition.metadata if
 * missing. On success the partition is stored in parts[index]. `opened`,
 * when not NULL, is path's log already opened (topic_load opens them on
 * several threads); it is taken over, and closed on failure.
 */
static int part_open(br_topics *t, struct topic *tp, br_part **parts, int32_t index,
		     const char *path, int dir_index, st_log *opened)
{
	char buf[4096];
	uint8_t id[16];
	br_part *p;
	int err;
	/* A new partition whose directory did not exist: st_log_open makes
	 * it, and a failure from there on (a full disk or no inodes, say)
	 * removes it. Left behind, the next start would take it for a
	 * partition of a topic whose creation was refused. A directory that
	 * was there before is never removed here. */
	bool made_here = false;

	if (!path) {
		dir_index = pick_dir(t);
		if ((size_t)snprintf(buf, sizeof(buf), "%s/%s-%" PRId32, t->b->cfg.log_dirs[dir_index],
				     tp->pub.name, index) >= sizeof(buf))
			return -ENAMETOOLONG;
		path = buf;
		made_here = access(path, F_OK) < 0 && errno == ENOENT;
	}
	if (!(p = calloc(1, sizeof(*p))) || !(p->dir = strdup(path))) {
		free(p);
		if (opened)
			st_log_close(opened);
		return -ENOMEM;
	}
	p->topic = &tp->pub;
	p->index = index;
	pthread_mutex_init(&p->mu, NULL);
	p->log = opened;
	err = opened ? 0 : st_log_open(t->b->store, path, &tp->pub.cfg.log, br__wall_ms(), &p->log);
	if (err < 0) {
		/* st_log_open has logged it, naming the file. */
		if (made_here)
			remove_dir(path);
		goto fail;
	}
	/* A partition made here has nothing to report: the topic's own line
	 * says it was created. */
	if (!made_here)
		part_log_opened(path, p->log);
	/* The cleaner takes every log and cleans those whose policy says
	 * compact (a policy can change later); st_log_close() takes it back. */
	if (t->b->cleaner && (err = st_cleaner_add(t->b->cleaner, p->log)) < 0)
		br__logf(ST_LOG_WARN, "partition %s: not handed to the log cleaner: %s", path,
			 st_strerror(err));
	if (!partition_metadata_read(path, id) || memcmp(id, tp->pub.id, 16) != 0) {
		if ((err = partition_metadata_write(path, tp->pub.id)) < 0) {
			br__logf(ST_LOG_ERROR, "partition %s: cannot write partition.metadata: %s",
				 path, st_strerror(err));
			st_log_close_discard(p->log);
			if (made_here)
				remove_dir(path);
			goto fail;
		}
	}
	parts[index] = p;
	tp->dir_index[index] = dir_index;
	t->dir_parts[dir_index]++;
	return 0;
fail:
	pthread_mutex_destroy(&p->mu);
	free(p->dir);
	free(p);
	return err;
}

/*
 * New partition directories are entries of their log dirs, so each log dir
 * that got one is synced once after a request made them, before it is
 * answered: POSIX makes a new directory durable only with a sync of its
 * parent (ext4 happens to commit it with the partition's own syncs; other
 * file systems need not). dir_index[from..to) are the new partitions' log
 * dirs (borrowed).
 */
static int log_dirs_sync(br_topics *t, const int *dir_index, int32_t from, int32_t to)
{
	bool used[BR_MAX_LOG_DIRS] = { false };

	for (int32_t p = from; p < to; p++)
		used[dir_index[p]] = true;
	for (int i = 0; i < t->b->cfg.n_log_dirs; i++) {
		if (!used[i])
			continue;
		int err = st_dir_fsync(t->b->cfg.log_dirs[i]);
		if (err < 0) {
			br__logf(ST_LOG_ERROR, "log dir %s: cannot sync its new partition directories: %s",
				 t->b->cfg.log_dirs[i], st_strerror(err));
			return err;
		}
	}
	return 0;
}

/* discard: the partition's directory is being removed (a deleted topic). */
static void part_close(br_part *p, bool discard)
{
	if (!p)
		return;
	if (p->log && discard)
		st_log_close_discard(p->log);
	else if (p->log)
		st_log_close(p->log);
	pthread_mutex_destroy(&p->mu);
	free(p->dir);
	free(p);
}

static struct topic *topic_new(br_topics *t, const char *name, size_t len)
{
	struct topic *tp = calloc(1, sizeof(*tp));

	if (!tp)
		return NULL;
	if (!(tp->pub.name = strndup(name, len))) {
		free(tp);
		return NULL;
	}
	tp->owner = t;
	atomic_init(&tp->pub.refs, 1);
	return tp;
}

/* Frees a topic whose last reference went: closes its logs and, when it was
 * deleted, removes its renamed directories. */
static void topic_free(struct topic *tp)
{
	for (int32_t i = 0; i < tp->pub.n_parts; i++)
		part_close(tp->pub.parts ? tp->pub.parts[i] : NULL, tp->n_doomed > 0);
	for (size_t i = 0; i < tp->n_doomed; i++) {
		int err = remove_dir(tp->doomed[i]);
		if (err < 0)
			br__logf(ST_LOG_WARN, "%s: cannot remove: %s (removed at the next start)",
				 tp->doomed[i], st_strerror(err));
		free(tp->doomed[i]);
	}
	if (tp->n_doomed)
		br__logf(ST_LOG_INFO, "topic %s: deleted, %zu partition directories removed",
			 tp->pub.name, tp->n_doomed);
	free(tp->doomed);
	for (size_t i = 0; i < tp->n_retired; i++)
		free(((br_part ***)tp->retired)[i]);
	free(tp->retired);
	free(tp->pub.parts);
	free(tp->dir_index);
	overrides_free(tp->overrides);
	free(tp->pub.name);
	free(tp);
}

/* ================================================================= open */

struct found {
	char *topic;
	int32_t part;
	char *path;
	int dir_index;
};

static int found_cmp(const void *a, const void *b)
{
	const struct found *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	return c ? c : (x->part > y->part) - (x->part < y->part);
}

static int meta_properties_load(br_topics *t)
{
	br_broker *b = t->b;
	const char *dir = b->cfg.log_dirs[0];
	char path[4096], *buf, *p;
	int err;

	snprintf(path, sizeof(path), "%s/meta.properties", dir);
	err = file_read_small(path, &buf);
	if (err == 0) {
		p = strstr(buf, "cluster.id=");
		if (p) {
			p += strlen("cluster.id=");
			if (br_uuid_parse(p, strcspn(p, "\r\n \t"), b->cluster_id) == 0) {
				free(buf);
				br_uuid_to_str(b->cluster_id, b->cluster_id_str);
				return 0;
			}
		}
		free(buf);
		br__logf(ST_LOG_ERROR, "%s: no valid cluster.id; fix or remove the file", path);
		return BR_ERR_DATA_DIR;
	}
	if (err != -ENOENT) {
		br__logf(ST_LOG_ERROR, "%s: cannot read: %s", path, st_strerror(err));
		return BR_ERR_DATA_DIR;
	}
	{
		char text[128];
		int n;

		if ((err = uuid_generate(b->cluster_id)) < 0)
			return err;
		br_uuid_to_str(b->cluster_id, b->cluster_id_str);
		n = snprintf(text, sizeof(text), "version=1\ncluster.id=%s\nnode.id=%" PRId32 "\n",
			     b->cluster_id_str, b->cfg.node_id);
		if ((err = st_file_write_atomic(dir, "meta.properties", text, (size_t)n)) < 0) {
			br__logf(ST_LOG_ERROR, "%s: cannot write: %s", path, st_strerror(err));
			return BR_ERR_DATA_DIR;
		}
		br__logf(ST_LOG_INFO, "log dir %s: new cluster id %s", dir, b->cluster_id_str);
	}
	return 0;
}

/* Path of the meta dir file for an id: <meta_dir>/<id><suffix>. */
static void meta_path(br_topics *t, const uint8_t id[16], const char *suffix, char *out, size_t len)
{
	char s[23];

	br_uuid_to_str(id, s);
	snprintf(out, len, "%s/%s%s", t->meta_dir, s, suffix);
}

static void props_read_free(struct props_read *r)
{
	free(r->name);
	r->name = NULL;
	overrides_free(r->overrides);
}

/* Reads one file of the meta dir into r (zeroed first). */
static void props_load(const char *path, struct props_read *r)
{
	char *buf;

	memset(r, 0, sizeof(*r));
	r->file = path;
	if (file_read_small(path, &buf) == 0) {
		props_each(buf, '=', props_line, r);
		free(buf);
	}
	r->file = NULL;
}

/* Removes the partition dirs of topic `name` whose partition.metadata
 * holds `id`, in every log dir. */
static void remove_topic_dirs(br_topics *t, const char *name, const uint8_t id[16])
{
	size_t nlen = strlen(name);

	for (int i = 0; i < t->b->cfg.n_log_dirs; i++) {
		const char *root = t->b->cfg.log_dirs[i];
		DIR *ld = opendir(root);
		struct dirent *le;

		if (!ld)
			continue;
		while ((le = readdir(ld))) {
			char pdir[4096];
			uint8_t pid[16];
			size_t l;
			int32_t part;

			if (!br_partition_dir_parse(le->d_name, &l, &part) || l != nlen ||
			    memcmp(le->d_name, name, nlen) != 0)
				continue;
			snprintf(pdir, sizeof(pdir), "%s/%s", root, le->d_name);
			if (partition_metadata_read(pdir, pid) && memcmp(pid, id, 16) == 0) {
				br__logf(ST_LOG_INFO, "partition %s: finishing an interrupted delete", pdir);
				remove_dir(pdir);
			}
		}
		closedir(ld);
		st_dir_fsync(root);
	}
}

/*
 * Reads the meta dir at start: finishes deletes a crash interrupted (each
 * `<id>.delete` marker: the topic's dirs with that id go, then its
 * properties, then the marker), drops stale tmp files, and loads every
 * `<id>.properties` into t->props for topic_load().
 */
static int meta_dir_load(br_topics *t, struct props_read **pv, size_t *pn)
{
	DIR *d = opendir(t->meta_dir);
	struct dirent *de;
	size_t cap = 0;

	*pv = NULL;
	*pn = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char path[4096];
		struct props_read r;

		if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (len <= 7 || strcmp(de->d_name + len - 7, ".delete") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", t->meta_dir, de->d_name);
		props_load(path, &r);
		if (r.have_id && r.name) {
			remove_topic_dirs(t, r.name, r.id);
			meta_path(t, r.id, ".properties", path, sizeof(path));
			unlink(path);
		}
		props_read_free(&r);
		unlinkat(dirfd(d), de->d_name, 0);
	}
	st_dir_fsync(t->meta_dir);
	rewinddir(d);
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char path[4096];

		if (len <= 11 || strcmp(de->d_name + len - 11, ".properties") != 0)
			continue;
		if (*pn == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct props_read *nv = realloc(*pv, ncap * sizeof(*nv));
			if (!nv) {
				closedir(d);
				return -ENOMEM;
			}
			*pv = nv;
			cap = ncap;
		}
		snprintf(path, sizeof(path), "%s/%s", t->meta_dir, de->d_name);
		props_load(path, &(*pv)[*pn]);
		if (!(*pv)[*pn].name || !(*pv)[*pn].have_id ||
		    !topic_name_ok((*pv)[*pn].name, strlen((*pv)[*pn].name), (char[8]){ 0 }, 8)) {
			br__logf(ST_LOG_WARN, "%s: no valid topic or topic.id; ignored", path);
			props_read_free(&(*pv)[*pn]);
			continue;
		}
		(*pn)++;
	}
	closedir(d);
	return 0;
}

/* Scans one log dir: removes `-delete` dirs, collects `<topic>-<p>` dirs. */
static int scan_log_dir(br_topics *t, int di, struct found **fv, size_t *fn, size_t *fcap)
{
	const char *root = t->b->cfg.log_dirs[di];
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		int err = -errno;
		br__logf(ST_LOG_ERROR, "log dir %s: cannot create: %s", root, st_strerror(err));
		return BR_ERR_DATA_DIR;
	}
	if (!(d = opendir(root))) {
		int err = -errno;
		br__logf(ST_LOG_ERROR, "log dir %s: cannot open: %s", root, st_strerror(err));
		return BR_ERR_DATA_DIR;
	}
	while (rc == 0 && (de = readdir(d))) {
		char path[4096];
		struct stat stbuf;
		size_t tlen, nlen = strlen(de->d_name);
		int32_t part;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, de->d_name) >= sizeof(path))
			continue;
		if (stat(path, &stbuf) < 0 || !S_ISDIR(stbuf.st_mode))
			continue;
		if (nlen > 7 && strcmp(de->d_name + nlen - 7, "-delete") == 0 && strchr(de->d_name, '.')) {
			int err = remove_dir(path);
			br__logf(err < 0 ? ST_LOG_WARN : ST_LOG_INFO, "log dir %s: removing %s "
				 "(a deleted topic's partition)%s%s", root, de->d_name,
				 err < 0 ? ": " : "", err < 0 ? st_strerror(err) : "");
			continue;
		}
		if (!br_partition_dir_parse(de->d_name, &tlen, &part)) {
			br__logf(ST_LOG_WARN, "log dir %s: ignoring %s (not <topic>-<partition>)",
				 root, de->d_name);
			continue;
		}
		if (*fn == *fcap) {
			size_t cap = *fcap ? *fcap * 2 : 32;
			struct found *nf = realloc(*fv, cap * sizeof(*nf));
			if (!nf) {
				rc = -ENOMEM;
				break;
			}
			*fv = nf;
			*fcap = cap;
		}
		(*fv)[*fn].topic = strndup(de->d_name, tlen);
		(*fv)[*fn].path = strdup(path);
		(*fv)[*fn].part = part;
		(*fv)[*fn].dir_index = di;
		if (!(*fv)[*fn].topic || !(*fv)[*fn].path) {
			free((*fv)[*fn].topic);
			free((*fv)[*fn].path);
			rc = -ENOMEM;
			break;
		}
		(*fn)++;
	}
	closedir(d);
	return rc;
}

/*
 * Opens one topic found on disk: found[0..n) are its partition dirs
 * (sorted by partition), its properties file (if any) gives configs, id
 * and a partition count that may exceed the directories.
 */
/* Logs of one topic's partitions found on disk, opened by run_log_threads. */
struct opening {
	br_topics *t;
	const struct found *f;
	const st_log_config *cfg;
	st_log **logs;               /* [i]: f[i]'s log, or NULL */
	int *errs;                   /* [i]: its st_log_open() result */
};

static void open_one_log(void *ctx, size_t i)
{
	struct opening *op = ctx;

	op->errs[i] = st_log_open(op->t->b->store, op->f[i].path, op->cfg, br__wall_ms(),
				  &op->logs[i]);
}

static int topic_load(br_topics *t, const char *name, const struct found *f, size_t n,
		      struct props_read *props)
{
	char path[4096], errbuf[256];
	struct props_read r;
	struct topic *tp;
	int32_t n_parts = 0;
	int err = 0;

	/* The properties now belong to this function (moved out of props). */
	memset(&r, 0, sizeof(r));
	if (props) {
		r = *props;
		props->name = NULL;
		memset(props->overrides, 0, sizeof(props->overrides));
		props->used = true;
		free(r.name);
		r.name = NULL;
		meta_path(t, r.id, ".properties", path, sizeof(path));
	} else {
		snprintf(path, sizeof(path), "topic %s", name);
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && f[i].part == f[i - 1].part) {
			br__logf(ST_LOG_ERROR, "partition %s-%" PRId32 " is in two log dirs (%s and %s); "
				 "remove one", name, f[i].part, f[i - 1].path, f[i].path);
			overrides_free(r.overrides);
			return BR_ERR_DATA_DIR;
		}
		if (f[i].part + 1 > n_parts)
			n_parts = f[i].part + 1;
	}
	if (r.n_parts > n_parts)
		n_parts = r.n_parts;
	if (n_parts > MAX_PARTITIONS) {
		br__logf(ST_LOG_ERROR, "topic %s: partition %" PRId32 " is beyond the %d supported",
			 name, n_parts - 1, MAX_PARTITIONS);
		overrides_free(r.overrides);
		return BR_ERR_DATA_DIR;
	}
	if (!(tp = topic_new(t, name, strlen(name)))) {
		overrides_free(r.overrides);
		return -ENOMEM;
	}
	memcpy(tp->overrides, r.overrides, sizeof(r.overrides));
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
		br_topic_config probe;
		topic_config_default(&t->b->cfg, &probe);
		if (tp->overrides[i] && !key_apply(i, tp->overrides[i], &probe, errbuf, sizeof(errbuf))) {
			br__logf(ST_LOG_WARN, "%s: %s; using the broker default", path, errbuf);
			free(tp->overrides[i]);
			tp->overrides[i] = NULL;
		}
	}
	topic_config_build(&t->b->cfg, tp->overrides, &tp->pub.cfg, errbuf, sizeof(errbuf));

	/* The id: from a partition's metadata, else the properties, else new. */
	{
		bool have = false;
		for (size_t i = 0; i < n && !have; i++)
			have = partition_metadata_read(f[i].path, tp->pub.id);
		if (!have && r.have_id) {
			memcpy(tp->pub.id, r.id, 16);
			have = true;
		}
		if (!have && (err = uuid_generate(tp->pub.id)) < 0)
			goto fail;
	}
	tp->pub.parts = calloc((size_t)n_parts, sizeof(br_part *));
	tp->dir_index = calloc((size_t)n_parts, sizeof(int));
	if (!tp->pub.parts || !tp->dir_index) {
		err = -ENOMEM;
		goto fail;
	}
	tp->pub.n_parts = n_parts;
	/* The partitions found on disk open (and recover) on several threads;
	 * then each is taken in order, and missing ones are made. */
	struct opening op = { .t = t, .f = f, .cfg = &tp->pub.cfg.log };
	if (!(op.logs = calloc(n ? n : 1, sizeof(*op.logs))) ||
	    !(op.errs = calloc(n ? n : 1, sizeof(*op.errs)))) {
		free(op.logs);
		err = -ENOMEM;
		goto fail;
	}
	run_log_threads(t, "rw-open", n, open_one_log, &op);
	for (int32_t p = 0, i = 0; p < n_parts; p++) {
		const char *ppath = NULL;
		st_log *opened = NULL;
		int di = 0;
		err = 0;
		if ((size_t)i < n && f[i].part == p) {
			ppath = f[i].path;
			di = f[i].dir_index;
			opened = op.logs[i];
			err = op.errs[i];
			op.logs[i++] = NULL;
		}
		if (err < 0 || (err = part_open(t, tp, tp->pub.parts, p, ppath, di, opened)) < 0) {
			for (size_t k = (size_t)i; k < n; k++)
				if (op.logs[k])
					st_log_close(op.logs[k]);
			free(op.logs);
			free(op.errs);
			goto fail;
		}
	}
	free(op.logs);
	free(op.errs);
	if ((err = topics_insert(t, tp)) < 0)
		goto fail;
	return 0;
fail:
	topic_free(tp);
	return err == -ENOMEM ? err : BR_ERR_DATA_DIR;
}

/* The properties of topic `name` (by name), or NULL. */
static struct props_read *props_find(struct props_read *pv, size_t pn, const char *name)
{
	for (size_t i = 0; i < pn; i++)
		if (!pv[i].used && pv[i].name && strcmp(pv[i].name, name) == 0)
			return &pv[i];
	return NULL;
}

int br_topics_open(br_broker *b, br_topics **out)
{
	br_topics *t = calloc(1, sizeof(*t));
	struct found *fv = NULL;
	struct props_read *pv = NULL;
	size_t fn = 0, fcap = 0, pn = 0;
	int rc = 0;

	if (!t)
		return -ENOMEM;
	t->b = b;
	pthread_rwlock_init(&t->lock, NULL);
	pthread_mutex_init(&t->admin, NULL);
	pthread_mutex_init(&t->cfg_mu, NULL);
	if (b->cfg.n_log_dirs < 1) {
		br__logf(ST_LOG_ERROR, "no log.dirs configured");
		rc = BR_ERR_DATA_DIR;
		goto out;
	}
	if (mkdir(b->cfg.log_dirs[0], 0755) < 0 && errno != EEXIST) {
		br__logf(ST_LOG_ERROR, "log dir %s: cannot create: %s", b->cfg.log_dirs[0],
			 st_strerror(-errno));
		rc = BR_ERR_DATA_DIR;
		goto out;
	}
	if (asprintf(&t->meta_dir, "%s/" META_DIR, b->cfg.log_dirs[0]) < 0) {
		t->meta_dir = NULL;
		rc = -ENOMEM;
		goto out;
	}
	if (mkdir(t->meta_dir, 0755) < 0 && errno != EEXIST) {
		br__logf(ST_LOG_ERROR, "%s: cannot create: %s", t->meta_dir, st_strerror(-errno));
		rc = BR_ERR_DATA_DIR;
		goto out;
	}
	if ((rc = meta_properties_load(t)) < 0)
		goto out;
	if ((rc = meta_dir_load(t, &pv, &pn)) < 0) {
		br__logf(ST_LOG_ERROR, "%s: cannot read: %s", t->meta_dir, st_strerror(rc));
		rc = BR_ERR_DATA_DIR;
		goto out;
	}
	for (int i = 0; i < b->cfg.n_log_dirs && rc == 0; i++)
		rc = scan_log_dir(t, i, &fv, &fn, &fcap);
	if (rc < 0)
		goto out;
	if (fn > 1)
		qsort(fv, fn, sizeof(*fv), found_cmp);
	for (size_t i = 0, j; i < fn && rc == 0; i = j) {
		for (j = i + 1; j < fn && strcmp(fv[j].topic, fv[i].topic) == 0; j++)
			;
		rc = topic_load(t, fv[i].topic, &fv[i], j - i, props_find(pv, pn, fv[i].topic));
	}
	/* Topics known only by their properties (created, no dir made yet). */
	for (size_t i = 0; i < pn && rc == 0; i++) {
		char *name = pv[i].name;
		if (pv[i].used || !name)
			continue;
		pv[i].name = NULL;
		rc = topics_find(t, name, strlen(name)) ? 0 : topic_load(t, name, NULL, 0, &pv[i]);
		free(name);
	}
	if (rc == 0)
		br__logf(ST_LOG_INFO, "topics: %d partitions of %zu topics open in %d log dirs (cluster %s)",
			 br_topics_partition_count(t), t->n, b->cfg.n_log_dirs, b->cluster_id_str);
out:
	for (size_t i = 0; i < fn; i++) {
		free(fv[i].topic);
		free(fv[i].path);
	}
	free(fv);
	for (size_t i = 0; i < pn; i++)
		props_read_free(&pv[i]);
	free(pv);
	if (rc < 0) {
		br_topics_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* Closes the logs of every topic no one else holds, on the recovery
 * threads (run_log_threads): each close ends in syncs (its clean marker and
 * directory, the segment), and closes in flight together share the file
 * system's journal commits, where one after another each waits for its
 * own. The partitions are left without a log, which part_close() then
 * skips. */
static void close_one_log(void *ctx, size_t i)
{
	st_log_close(((st_log **)ctx)[i]);
}

static void close_logs(br_topics *t)
{
	st_log **logs;
	size_t cap = 0, n = 0;

	for (size_t i = 0; i < t->n; i++)
		if (atomic_load(&t->v[i]->pub.refs) == 1)
			cap += (size_t)t->v[i]->pub.n_parts;
	if (cap == 0 || !(logs = malloc(cap * sizeof(*logs))))
		return;  /* without memory, part_close() closes them one by one */
	for (size_t i = 0; i < t->n; i++) {
		struct topic *tp = t->v[i];
		if (atomic_load(&tp->pub.refs) != 1 || tp->n_doomed > 0)
			continue;
		for (int32_t p = 0; p < tp->pub.n_parts; p++) {
			br_part *part = tp->pub.parts[p];
			if (part && part->log) {
				logs[n++] = part->log;
				part->log = NULL;
			}
		}
	}
	run_log_threads(t, "rw-close", n, close_one_log, logs);
	free(logs);
}

void br_topics_close(br_topics *t)
{
	if (!t)
		return;
	close_logs(t);
	for (size_t i = 0; i < t->n; i++) {
		struct topic *tp = t->v[i];
		int refs = atomic_load(&tp->pub.refs);
		if (refs != 1)
			br__logf(ST_LOG_WARN, "topic %s: %d references still held at close",
				 tp->pub.name, refs - 1);
		br_topic_put(&tp->pub);
	}
	free(t->v);
	free(t->meta_dir);
	pthread_rwlock_destroy(&t->lock);
	pthread_mutex_destroy(&t->admin);
	pthread_mutex_destroy(&t->cfg_mu);
	free(t);
}

struct retention_ctx {
	int64_t now_ms;
	int total;
};

static void retention_topic(br_topic *topic, void *arg)
{
	struct retention_ctx *ctx = arg;

	for (int32_t i = 0; i < topic->n_parts; i++) {
		br_part *p = br_topic_part(topic, i);
		int deleted = 0, err;

		if (!p)
			continue;
		/* A compact-only topic keeps everything: the cleaner owns it. */
		if (!topic->cfg.delete_policy)
			continue;
		if ((err = st_log_enforce_retention(p->log, ctx->now_ms, &deleted)) < 0)
			br__logf(ST_LOG_WARN, "partition %s: retention failed: %s", p->dir,
				 st_strerror(err));
		else if (deleted > 0)
			br__logf(ST_LOG_INFO, "partition %s: retention deleted %d segments", p->dir,
				 deleted);
		ctx->total += deleted;
	}
}

int br_topics_enforce_retention(br_topics *t, int64_t now_ms)
{
	struct retention_ctx ctx = { now_ms, 0 };

	br_topics_foreach(t, retention_topic, &ctx);
	return ctx.total;
}

/* ================================================================ create */

/* Parses config key=value pairs into overrides (caller frees). */
static int16_t overrides_parse(const br_config *c, const char *const *keys, const char *const *values,
			       size_t n, char *o[], char *errbuf, size_t errlen)
{
	br_topic_config cfg;

	topic_config_default(c, &cfg);
	for (size_t i = 0; i < n; i++) {
		int k = key_find(keys[i]);
		if (k < 0) {
			snprintf(errbuf, errlen, "Unknown topic config name: %s", keys[i]);
			return KE_INVALID_CONFIG;
		}
		if (!values[i]) {
			snprintf(errbuf, errlen, "Null value not supported for topic config %s", keys[i]);
			return KE_INVALID_CONFIG;
		}
		if (!key_apply(k, values[i], &cfg, errbuf, errlen))
			return KE_INVALID_CONFIG;
		free(o[k]);
		if (!(o[k] = strdup(values[i]))) {
			snprintf(errbuf, errlen, "out of memory");
			return KE_UNKNOWN_SERVER_ERROR;
		}
	}
	return KE_NONE;
}

int16_t br_topics_create(br_topics *t, const char *name, size_t len, int32_t n_parts,
			 const char *const *config_keys, const char *const *config_values,
			 size_t n_configs, bool validate_only, char *errbuf, size_t errlen)
{
	char *o[BR_TOPIC_CONFIG_KEYS] = { 0 };
	struct topic *tp = NULL;
	int16_t ke;
	int err;

	errbuf[0] = '\0';
	if (!topic_name_ok(name, len, errbuf, errlen))
		return KE_INVALID_TOPIC_EXCEPTION;
	if (n_parts == -1)
		n_parts = t->b->cfg.num_partitions;
	if (n_parts <= 0 || n_parts > MAX_PARTITIONS) {
		snprintf(errbuf, errlen, n_parts <= 0 ? "Number of partitions must be larger than 0."
			 : "Number of partitions is above the %d supported.", MAX_PARTITIONS);
		return KE_INVALID_PARTITIONS;
	}
	if ((ke = overrides_parse(&t->b->cfg, config_keys, config_values, n_configs, o,
				  errbuf, errlen)) != KE_NONE) {
		overrides_free(o);
		return ke;
	}
	pthread_mutex_lock(&t->admin);
	pthread_rwlock_rdlock(&t->lock);
	if (topics_find(t, name, len)) {
		pthread_rwlock_unlock(&t->lock);
		snprintf(errbuf, errlen, "Topic '%.*s' already exists.", (int)len, name);
		ke = KE_TOPIC_ALREADY_EXISTS;
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		const char *other = t->v[i]->pub.name;
		if (names_collide(name, len, other, strlen(other))) {
			pthread_rwlock_unlock(&t->lock);
			snprintf(errbuf, errlen, "Topic '%.*s' collides with existing topic: %s",
				 (int)len, name, other);
			ke = KE_INVALID_TOPIC_EXCEPTION;
			goto out;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	if (validate_only) {
		ke = KE_NONE;
		goto out;
	}
	ke = KE_KAFKA_STORAGE_ERROR;
	if (!(tp = topic_new(t, name, len)))
		goto out;
	memcpy(tp->overrides, o, sizeof(o));
	memset(o, 0, sizeof(o));
	topic_config_build(&t->b->cfg, tp->overrides, &tp->pub.cfg, errbuf, errlen);
	do {
		if ((err = uuid_generate(tp->pub.id)) < 0)
			goto fail;
		br_topic *same = br_topics_get_by_id(t, tp->pub.id);
		if (!same)
			break;
		br_topic_put(same);
	} while (1);
	tp->pub.parts = calloc((size_t)n_parts, sizeof(br_part *));
	tp->dir_index = calloc((size_t)n_parts, sizeof(int));
	if (!tp->pub.parts || !tp->dir_index) {
		err = -ENOMEM;
		goto fail;
	}
	/* The properties first: a crash after it reopens the whole topic. */
	if ((err = topic_props_write(t, tp->pub.name, tp->pub.id, n_parts, tp->overrides)) < 0)
		goto fail;
	for (int32_t p = 0; p < n_parts; p++) {
		if ((err = part_open(t, tp, tp->pub.parts, p, NULL, 0, NULL)) < 0)
			goto fail_parts;
		tp->pub.n_parts = p + 1;
	}
	if ((err = log_dirs_sync(t, tp->dir_index, 0, n_parts)) < 0 ||
	    (err = topics_insert(t, tp)) < 0)
		goto fail_parts;
	/* Not for the broker's own topics (Kafka's "__" prefix): nobody chose
	 * their names, and __consumer_offsets would warn on every cluster. */
	bool internal = len >= 2 && name[0] == '_' && name[1] == '_';
	if (!internal && (memchr(name, '.', len) || memchr(name, '_', len)))
		br__logf(ST_LOG_WARN, "topic %s: names with '.' or '_' could collide in metric "
			 "names; a topic differing only in those is refused", tp->pub.name);
	{
		char s[23];
		br_uuid_to_str(tp->pub.id, s);
		br__logf(ST_LOG_INFO, "topic %s: created, id %s, %" PRId32 " partitions",
			 tp->pub.name, s, n_parts);
	}
	ke = KE_NONE;
	goto out;
fail_parts:
	for (int32_t p = 0; p < tp->pub.n_parts; p++) {
		char *dir = tp->pub.parts[p]->dir ? strdup(tp->pub.parts[p]->dir) : NULL;
		t->dir_parts[tp->dir_index[p]]--;
		part_close(tp->pub.parts[p], true);
		tp->pub.parts[p] = NULL;
		if (dir)
			remove_dir(dir);
		free(dir);
	}
	tp->pub.n_parts = 0;
	{
		char file[4096];
		meta_path(t, tp->pub.id, ".properties", file, sizeof(file));
		unlink(file);
	}
fail:
	/* Every caller logs errbuf with the peer that asked. */
	snprintf(errbuf, errlen, "cannot create topic %.*s: %s", (int)len, name, st_strerror(err));
	topic_free(tp);
out:
	pthread_mutex_unlock(&t->admin);
	overrides_free(o);
	return ke;
}

/* ================================================================ delete */

/* A partition whose directory stays after all (its rename, or a later
 * one, failed): appends again, and back on the cleaner. */
static void part_undelete(br_topics *t, br_part *p)
{
	int err;

	st_log_set_deleting(p->log, false);
	if (t->b->cleaner && (err = st_cleaner_add(t->b->cleaner, p->log)) < 0)
		br__logf(ST_LOG_WARN, "partition %s: not handed to the log cleaner: %s", p->dir,
			 st_strerror(err));
}

int16_t br_topics_delete(br_topics *t, br_topic *topic, char *errbuf, size_t errlen)
{
	struct topic *tp = T(topic);
	char file[4096], idhex[33], s[23], text[400];
	char **renamed = NULL;
	int32_t n, done = 0;
	int err = 0;

	errbuf[0] = '\0';
	pthread_mutex_lock(&t->admin);
	if (topic->deleted) {
		pthread_mutex_unlock(&t->admin);
		snprintf(errbuf, errlen, "Topic '%s' is already being deleted.", topic->name);
		return KE_UNKNOWN_TOPIC_OR_PARTITION;
	}
	n = topic->n_parts;
	for (int i = 0; i < 16; i++)
		snprintf(idhex + 2 * i, 3, "%02x", topic->id[i]);
	br_uuid_to_str(topic->id, s);
	if (!(renamed = calloc((size_t)n + 1, sizeof(char *)))) {
		err = -ENOMEM;
		goto fail;
	}
	/* (1) The marker: from here a crash finishes the delete at start. */
	snprintf(file, sizeof(file), "%s.delete", s);
	snprintf(text, sizeof(text), "topic=%s\ntopic.id=%s\n", topic->name, s);
	if ((err = st_file_write_atomic(t->meta_dir, file, text, strlen(text))) < 0)
		goto fail;
	/* (2) The properties, so the name is free again. */
	meta_path(t, topic->id, ".properties", file, sizeof(file));
	if (unlink(file) < 0 && errno != ENOENT) {
		err = -errno;
		goto fail;
	}
	/* (3) Each partition dir out of the way of a new topic of that name. */
	for (; done < n; done++) {
		br_part *p = topic->parts[done];
		char suffix[64];
		int keep;

		/* Kafka's name: the topic cut so the whole fits in NAME_MAX. */
		snprintf(suffix, sizeof(suffix), "-%" PRId32 ".%s-delete", done, idhex);
		keep = (int)strlen(topic->name);
		if (keep > 255 - (int)strlen(suffix))
			keep = 255 - (int)strlen(suffix);
		if (asprintf(&renamed[done], "%s/%.*s%s", t->b->cfg.log_dirs[tp->dir_index[done]],
			     keep, topic->name, suffix) < 0) {
			renamed[done] = NULL;
			err = -ENOMEM;
			goto fail;
		}
		/* Appends and the log's side files stop before the name moves,
		 * not after a roll has found the directory gone. */
		st_log_set_deleting(p->log, true);
		if (rename(p->dir, renamed[done]) < 0) {
			err = -errno;
			part_undelete(t, p);
			free(renamed[done]);
			renamed[done] = NULL;
			goto fail;
		}
		st_dir_fsync(t->b->cfg.log_dirs[tp->dir_index[done]]);
	}
	/* (4) Done: only `-delete` dirs remain, which any start removes. */
	meta_path(t, topic->id, ".delete", file, sizeof(file));
	unlink(file);
	st_dir_fsync(t->meta_dir);

	pthread_rwlock_wrlock(&t->lock);
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i] == tp) {
			memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(t->v[0]));
			t->n--;
			break;
		}
	}
	topic->deleted = true;
	pthread_rwlock_unlock(&t->lock);
	for (int32_t i = 0; i < n; i++)
		t->dir_parts[tp->dir_index[i]]--;
	tp->doomed = renamed;
	tp->n_doomed = (size_t)n;
	pthread_mutex_unlock(&t->admin);
	br__logf(ST_LOG_INFO, "topic %s: deleting (id %s, %" PRId32 " partitions)", topic->name, s, n);
	/* The registry's reference: the last holder closes and removes. */
	br_topic_put(topic);
	return KE_NONE;

fail:
	/* Undo what a failed step did, so the topic stays whole and usable. */
	while (done-- > 0) {
		if (rename(renamed[done], topic->parts[done]->dir) < 0)
			br__logf(ST_LOG_ERROR, "%s: cannot rename back: %s", renamed[done],
				 st_strerror(-errno));
		else
			part_undelete(t, topic->parts[done]);
		free(renamed[done]);
	}
	free(renamed);
	topic_props_write(t, topic->name, topic->id, topic->n_parts, tp->overrides);
	meta_path(t, topic->id, ".delete", file, sizeof(file));
	unlink(file);
	pthread_mutex_unlock(&t->admin);
	snprintf(errbuf, errlen, "cannot delete topic %s: %s", topic->name, st_strerror(err));
	br__logf(ST_LOG_ERROR, "%s", errbuf);
	return KE_KAFKA_STORAGE_ERROR;
}

/* ============================================================= partitions */

int16_t br_topics_create_partitions(br_topics *t, br_topic *topic, int32_t count,
				    bool validate_only, char *errbuf, size_t errlen)
{
	struct topic *tp = T(topic);
	br_part **nparts = NULL, **old;
	int *ndir = NULL;
	int32_t cur;
	int err = 0;
	int16_t ke = KE_NONE;

	errbuf[0] = '\0';
	pthread_mutex_lock(&t->admin);
	cur = topic->n_parts;
	if (topic->deleted) {
		snprintf(errbuf, errlen, "Topic '%s' is being deleted.", topic->name);
		ke = KE_UNKNOWN_TOPIC_OR_PARTITION;
		goto out;
	}
	if (count <= cur) {
		if (count == cur)
			snprintf(errbuf, errlen, "Topic already has %" PRId32 " partitions.", cur);
		else
			snprintf(errbuf, errlen, "Topic currently has %" PRId32 " partitions, which is "
				 "higher than the requested %" PRId32 ".", cur, count);
		ke = KE_INVALID_PARTITIONS;
		goto out;
	}
	if (count > MAX_PARTITIONS) {
		snprintf(errbuf, errlen, "Number of partitions is above the %d supported.", MAX_PARTITIONS);
		ke = KE_INVALID_PARTITIONS;
		goto out;
	}
	if (validate_only)
		goto out;
	nparts = calloc((size_t)count, sizeof(*nparts));
	ndir = calloc((size_t)count, sizeof(*ndir));
	if (!nparts || !ndir) {
		err = -ENOMEM;
		goto fail;
	}
	memcpy(nparts, topic->parts, (size_t)cur * sizeof(*nparts));
	memcpy(ndir, tp->dir_index, (size_t)cur * sizeof(*ndir));
	pthread_mutex_lock(&t->cfg_mu);
	err = topic_props_write(t, topic->name, topic->id, count, tp->overrides);
	pthread_mutex_unlock(&t->cfg_mu);
	if (err < 0)
		goto fail;
	{
		/* part_open records the dir index in tp->dir_index: point it at
		 * the new array for the duration. */
		int *odir = tp->dir_index;
		tp->dir_index = ndir;
		for (int32_t p = cur; p < count && err == 0; p++)
			err = part_open(t, tp, nparts, p, NULL, 0, NULL);
		tp->dir_index = odir;
	}
	if (err == 0)
		err = log_dirs_sync(t, ndir, cur, count);
	if (err < 0) {
		for (int32_t p = cur; p < count; p++) {
			if (!nparts[p])
				continue;
			char *dir = strdup(nparts[p]->dir);
			t->dir_parts[ndir[p]]--;
			part_close(nparts[p], false);
			if (dir)
				remove_dir(dir);
			free(dir);
		}
		pthread_mutex_lock(&t->cfg_mu);
		topic_props_write(t, topic->name, topic->id, cur, tp->overrides);
		pthread_mutex_unlock(&t->cfg_mu);
		goto fail;
	}
	/* Readers may still hold the old array: it stays until the topic goes. */
	{
		br_part ***rv = realloc(tp->retired, (tp->n_retired + 1) * sizeof(*rv));
		if (!rv) {
			err = -ENOMEM;
			for (int32_t p = cur; p < count; p++) {
				t->dir_parts[ndir[p]]--;
				part_close(nparts[p], false);
			}
			goto fail;
		}
		tp->retired = (br_part **)rv;
		old = topic->parts;
		rv[tp->n_retired++] = old;
	}
	free(tp->dir_index);
	tp->dir_index = ndir;
	ndir = NULL;
	__atomic_store_n(&topic->parts, nparts, __ATOMIC_RELEASE);
	__atomic_store_n(&topic->n_parts, count, __ATOMIC_RELEASE);
	nparts = NULL;
	br__logf(ST_LOG_INFO, "topic %s: %" PRId32 " -> %" PRId32 " partitions", topic->name, cur, count);
	goto out;
fail:
	snprintf(errbuf, errlen, "cannot add partitions to %s: %s", topic->name, st_strerror(err));
	br__logf(ST_LOG_ERROR, "%s", errbuf);
	ke = KE_KAFKA_STORAGE_ERROR;
out:
	pthread_mutex_unlock(&t->admin);
	free(nparts);
	free(ndir);
	return ke;
}

/* ================================================================ configs */

void br_topic_configs(br_topics *t, br_topic *topic, br_config_entry *out)
{
	br_topic_config def, eff;

	topic_config_default(&t->b->cfg, &def);
	pthread_mutex_lock(&t->cfg_mu);
	eff = topic->cfg;
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
		br_config_entry *e = &out[i];
		e->name = topic_keys[i].name;
		e->synonym = topic_keys[i].synonym;
		e->doc = topic_keys[i].doc;
		e->config_type = topic_keys[i].kafka_type;
		e->is_override = T(topic)->overrides[i] != NULL;
		key_format(i, &eff, e->value, sizeof(e->value));
		key_format(i, &def, e->broker_value, sizeof(e->broker_value));
	}
	pthread_mutex_unlock(&t->cfg_mu);
}

/* cleanup.policy as a list: APPEND adds a missing element, SUBTRACT removes. */
static bool policy_list_op(const char *cur, const char *arg, bool append, char *out, size_t len,
			   char *errbuf, size_t errlen)
{
	bool c = false, d = false, ac = false, ad = false;

	if (br_cleanup_policy_parse(cur, &c, &d) < 0 || br_cleanup_policy_parse(arg, &ac, &ad) < 0) {
		snprintf(errbuf, errlen, "Invalid value %s for configuration cleanup.policy", arg);
		return false;
	}
	if (append) {
		c |= ac;
		d |= ad;
	} else {
		c &= !ac;
		d &= !ad;
	}
	if (!c && !d) {
		snprintf(errbuf, errlen, "cleanup.policy cannot be empty");
		return false;
	}
	snprintf(out, len, "%s", c && d ? "compact,delete" : c ? "compact" : "delete");
	return true;
}

int16_t br_topics_alter_configs(br_topics *t, br_topic *topic, const br_config_op *ops,
				size_t n_ops, bool incremental, bool validate_only,
				char *errbuf, size_t errlen)
{
	struct topic *tp = T(topic);
	char *o[BR_TOPIC_CONFIG_KEYS] = { 0 };
	br_topic_config cfg;
	int16_t ke = KE_INVALID_CONFIG;
	int err;

	errbuf[0] = '\0';
	pthread_mutex_lock(&t->admin);
	if (topic->deleted) {
		snprintf(errbuf, errlen, "Topic '%s' is being deleted.", topic->name);
		ke = KE_UNKNOWN_TOPIC_OR_PARTITION;
		goto out;
	}
	if (incremental) {
		pthread_mutex_lock(&t->cfg_mu);
		for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++)
			if (tp->overrides[i] && !(o[i] = strdup(tp->overrides[i])))
				ke = KE_UNKNOWN_SERVER_ERROR;
		pthread_mutex_unlock(&t->cfg_mu);
		if (ke == KE_UNKNOWN_SERVER_ERROR)
			goto out;
	}
	for (size_t j = 0; j < n_ops; j++) {
		const br_config_op *op = &ops[j];
		int k = key_find(op->name);
		char buf[64];
		const char *nv = op->value;

		if (k < 0) {
			snprintf(errbuf, errlen, "Unknown topic config name: %s", op->name);
			goto out;
		}
		switch (op->op) {
		case BR_CONFIG_DELETE:
			free(o[k]);
			o[k] = NULL;
			continue;
		case BR_CONFIG_SET:
			break;
		case BR_CONFIG_APPEND:
		case BR_CONFIG_SUBTRACT:
			if (topic_keys[k].kind != K_POLICY) {
				snprintf(errbuf, errlen, "Config value %s is not allowed for config key %s: "
					 "it is not a list", op->op == BR_CONFIG_APPEND ? "append" : "subtract",
					 op->name);
				goto out;
			}
			if (!nv)
				break;
			{
				char cur[64];
				br_topic_config now;
				if (!topic_config_build(&t->b->cfg, o, &now, errbuf, errlen))
					goto out;
				key_format(k, &now, cur, sizeof(cur));
				if (!policy_list_op(cur, nv, op->op == BR_CONFIG_APPEND, buf, sizeof(buf),
						    errbuf, errlen))
					goto out;
				nv = buf;
			}
			break;
		default:
			snprintf(errbuf, errlen, "Unknown config operation %d for %s", op->op, op->name);
			ke = KE_INVALID_REQUEST;
			goto out;
		}
		if (!nv) {
			/* AlterConfigs sends null to mean "back to the default". */
			free(o[k]);
			o[k] = NULL;
			continue;
		}
		topic_config_default(&t->b->cfg, &cfg);
		if (!key_apply(k, nv, &cfg, errbuf, errlen))
			goto out;
		free(o[k]);
		if (!(o[k] = strdup(nv))) {
			ke = KE_UNKNOWN_SERVER_ERROR;
			goto out;
		}
	}
	if (!topic_config_build(&t->b->cfg, o, &cfg, errbuf, errlen))
		goto out;
	if (validate_only) {
		ke = KE_NONE;
		goto out;
	}
	pthread_mutex_lock(&t->cfg_mu);
	err = topic_props_write(t, topic->name, topic->id, topic->n_parts, o);
	pthread_mutex_unlock(&t->cfg_mu);
	if (err < 0) {
		snprintf(errbuf, errlen, "cannot persist configs of %s: %s", topic->name, st_strerror(err));
		ke = KE_KAFKA_STORAGE_ERROR;
		goto out;
	}
	for (int32_t i = 0; i < topic->n_parts; i++) {
		if ((err = st_log_set_config(topic->parts[i]->log, &cfg.log)) < 0)
			br__logf(ST_LOG_WARN, "partition %s: storage refused the new config: %s",
				 topic->parts[i]->dir, st_strerror(err));
	}
	if (t->b->cleaner)      /* a new policy or ratio may make a log due now */
		st_cleaner_wake(t->b->cleaner);
	pthread_mutex_lock(&t->cfg_mu);
	for (int i = 0; i < BR_TOPIC_CONFIG_KEYS; i++) {
		char *prev = tp->overrides[i];
		tp->overrides[i] = o[i];
		o[i] = prev;
	}
	topic->cfg = cfg;
	pthread_mutex_unlock(&t->cfg_mu);
	br__logf(ST_LOG_INFO, "topic %s: configs altered", topic->name);
	ke = KE_NONE;
out:
	pthread_mutex_unlock(&t->admin);
	overrides_free(o);
	return ke;
}
