/*
 * config.c -- broker configuration: one table of every accepted key.
 *
 * Each key has a type, a range and a place in br_config. Keys that Kafka
 * spells in several units (log.retention.hours / .minutes / .ms) write the
 * same field; as in Kafka, the finest unit wins whatever the order of the
 * lines, which is why each such field remembers the unit that last set it.
 *
 * rewind's deliberate differences from Kafka's defaults:
 * log.flush.interval.messages defaults to 1, so an acknowledged record is on
 * disk (group commit makes that cheap); Kafka defaults to never syncing. And
 * socket.send/receive.buffer.bytes default to -1 (the OS default, which
 * grows with the connection), where Kafka fixes 100 KiB.
 *
 * Kafka keys that would change nothing here (inert_keys) are accepted so
 * Kafka's own server.properties loads, and reported at start; keys asking
 * for what rewind cannot do (refused_keys) are refused with the reason.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"

enum cfg_type { CFG_I32, CFG_I16, CFG_I64, CFG_BOOL, CFG_DIRS, CFG_TS_TYPE, CFG_STR, CFG_CODEC, CFG_POLICY,
		CFG_RATIO /* a double in [0, 1] */ };

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
	const char *why;            /* said with a value out of range, when the
	                               range is rewind's and not Kafka's */
	/* CFG_STR: checks a value before it is taken (empty = unset). 0, or
	 * BR_ERR_CONFIG with the sentence in errbuf. */
	int (*check)(const char *name, const char *v, char *errbuf, size_t errlen);
};

static int check_roles(const char *name, const char *v, char *errbuf, size_t errlen);
static int check_protocol_map(const char *name, const char *v, char *errbuf, size_t errlen);

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
	{ "log.message.timestamp.before.max.ms", CFG_I64, F(log.ts_before_max_ms), 0, INT64_MAX, 1, NO_UNIT, true },
	{ "log.message.timestamp.after.max.ms", CFG_I64, F(log.ts_after_max_ms), 0, INT64_MAX, 1, NO_UNIT, true },
	{ "log.message.timestamp.difference.max.ms", CFG_I64, F(log_ts_difference_max_ms), 0, INT64_MAX, 1, NO_UNIT, true },
	{ "log.retention.check.interval.ms", CFG_I64, F(log_retention_check_interval_ms), 1, INT64_MAX, 1, NO_UNIT, true },
	{ "log.io.uring.enable", CFG_BOOL, F(io_uring), 0, 1, 1, NO_UNIT, true },
	{ "log.cleanup.policy", CFG_POLICY, F(cleanup_compact), 0, 0, 1, NO_UNIT, true },
	{ "listeners", CFG_STR, F(listeners), 0, 0, 1, NO_UNIT, true },
	{ "advertised.listeners", CFG_STR, F(advertised_listeners), 0, 0, 1, NO_UNIT, true },
	{ "listener.security.protocol.map", CFG_STR, F(listener_security_protocol_map), 0, 0, 1, NO_UNIT,
	  true, NULL, check_protocol_map },
	{ "controller.listener.names", CFG_STR, F(controller_listener_names), 0, 0, 1, NO_UNIT, true },
	{ "process.roles", CFG_STR, F(process_roles), 0, 0, 1, NO_UNIT, true, NULL, check_roles },
	{ "num.network.threads", CFG_I32, F(num_network_threads), 0, 1024, 1, NO_UNIT, true },
	{ "num.recovery.threads.per.data.dir", CFG_I32, F(num_recovery_threads_per_data_dir), 1, 1024, 1, NO_UNIT, true },
	{ "socket.send.buffer.bytes", CFG_I32, F(socket_send_buffer_bytes), -1, INT32_MAX, 1, NO_UNIT, true },
	{ "socket.receive.buffer.bytes", CFG_I32, F(socket_receive_buffer_bytes), -1, INT32_MAX, 1, NO_UNIT, true },
	{ "socket.request.max.bytes", CFG_I32, F(socket_request_max_bytes), 1024, INT32_MAX, 1, NO_UNIT, true },
	{ "max.connections", CFG_I32, F(max_connections), 1, INT32_MAX, 1, NO_UNIT, true },
	{ "connections.max.idle.ms", CFG_I64, F(connections_max_idle_ms), -1, INT64_MAX, 1, NO_UNIT, true },
	{ "connection.max.queued.bytes", CFG_I64, F(connection_max_queued_bytes), 65536, INT64_MAX, 1, NO_UNIT, true },
	{ "metrics.listener", CFG_STR, F(metrics_listener), 0, 0, 1, NO_UNIT, true },
	{ "num.partitions", CFG_I32, F(num_partitions), 1, 100000, 1, NO_UNIT, true },
	{ "auto.create.topics.enable", CFG_BOOL, F(auto_create_topics_enable), 0, 1, 1, NO_UNIT, true },
	{ "default.replication.factor", CFG_I16, F(default_replication_factor), 1, INT16_MAX, 1, NO_UNIT, true },
	{ "compression.type", CFG_CODEC, F(compression_type), 0, 0, 1, NO_UNIT, true },
	{ "message.max.bytes", CFG_I32, F(message_max_bytes), 0, INT32_MAX, 1, NO_UNIT, true },
	{ "min.insync.replicas", CFG_I32, F(min_insync_replicas), 1, INT32_MAX, 1, NO_UNIT, true },
	{ "producer.id.expiration.ms", CFG_I64, F(log.producer_id_expiration_ms), 1, INT64_MAX, 1, NO_UNIT, true },
	{ "group.min.session.timeout.ms", CFG_I32, F(group_min_session_timeout_ms), 1, INT32_MAX, 1, NO_UNIT, true },
	{ "group.max.session.timeout.ms", CFG_I32, F(group_max_session_timeout_ms), 1, INT32_MAX, 1, NO_UNIT, true },
	{ "group.initial.rebalance.delay.ms", CFG_I64, F(group_initial_rebalance_delay_ms), 0, INT32_MAX, 1, NO_UNIT, true },
	{ "group.max.size", CFG_I32, F(group_max_size), 1, INT32_MAX, 1, NO_UNIT, true },
	{ "offsets.topic.num.partitions", CFG_I32, F(offsets_topic_num_partitions), 1, 100000, 1, NO_UNIT, true },
	{ "offsets.topic.replication.factor", CFG_I16, F(offsets_topic_replication_factor), 1, 1, 1, NO_UNIT, true,
	  "rewind runs one node, which holds the one replica" },
	{ "offsets.topic.segment.bytes", CFG_I64, F(offsets_topic_segment_bytes), KP_BATCH_HEADER_SIZE, INT32_MAX, 1, NO_UNIT, true },
	{ "offsets.retention.minutes", CFG_I64, F(offsets_retention_ms), 1, INT32_MAX, 60000, UNIT_MINUTES, F(offsets_retention_unit), true },
	{ "offsets.retention.ms", CFG_I64, F(offsets_retention_ms), 1, INT64_MAX, 1, UNIT_MS, F(offsets_retention_unit), false },
	{ "offsets.retention.check.interval.ms", CFG_I64, F(offsets_retention_check_interval_ms), 1, INT64_MAX, 1, NO_UNIT, true },
	{ "offset.metadata.max.bytes", CFG_I32, F(offset_metadata_max_bytes), 0, INT32_MAX, 1, NO_UNIT, true },
	{ "log.cleaner.enable", CFG_BOOL, F(log_cleaner_enable), 0, 1, 1, NO_UNIT, true },
	{ "log.cleaner.threads", CFG_I32, F(log_cleaner_threads), 1, 64, 1, NO_UNIT, true },
	{ "log.cleaner.io.max.bytes.per.second", CFG_I64, F(log_cleaner_io_max_bytes_per_second), 1, INT64_MAX, 1, NO_UNIT, true },
	{ "log.cleaner.dedupe.buffer.size", CFG_I64, F(log_cleaner_dedupe_buffer_size), 65536, INT64_MAX, 1, NO_UNIT, true },
	{ "log.cleaner.backoff.ms", CFG_I64, F(log_cleaner_backoff_ms), 1, INT64_MAX, 1, NO_UNIT, true },
	{ "log.cleaner.min.cleanable.ratio", CFG_RATIO, F(log.min_cleanable_dirty_ratio), 0, 1, 1, NO_UNIT, true },
	{ "log.cleaner.delete.retention.ms", CFG_I64, F(log.delete_retention_ms), 0, INT64_MAX, 1, NO_UNIT, true },
	{ "log.cleaner.min.compaction.lag.ms", CFG_I64, F(log.min_compaction_lag_ms), 0, INT64_MAX, 1, NO_UNIT, true },
	{ "log.cleaner.max.compaction.lag.ms", CFG_I64, F(log.max_compaction_lag_ms), 1, INT64_MAX, 1, NO_UNIT, true },
};

#undef F

/*
 * Kafka broker keys that rewind accepts, checks as whole numbers in range
 * and reports at start as having no effect here (br_config_inert_set()), so
 * that Kafka's own server.properties loads; each says why.
 */
static const struct inert_key {
	const char *name;
	int64_t min, max;           /* a whole number in range, unless text */
	const char *why;
	bool text;                  /* any non-empty value */
} inert_keys[] = {
	{ "num.io.threads", 1, INT32_MAX,
	  "requests are handled on the network threads (num.network.threads) and one admin thread" },
	{ "transaction.state.log.replication.factor", 1, INT16_MAX, "rewind has no transactions yet" },
	{ "transaction.state.log.min.isr", 1, INT32_MAX, "rewind has no transactions yet" },
	{ "share.coordinator.state.topic.replication.factor", 1, INT16_MAX,
	  "rewind has no share groups yet" },
	{ "share.coordinator.state.topic.min.isr", 1, INT32_MAX, "rewind has no share groups yet" },
	{ "inter.broker.listener.name", 0, 0, "one node sends nothing to other brokers", true },
	{ "controller.quorum.voters", 0, 0,
	  "this node is the whole quorum and keeps its metadata in log.dirs", true },
	{ "controller.quorum.bootstrap.servers", 0, 0,
	  "this node is the whole quorum and keeps its metadata in log.dirs", true },
};

#define N_INERT (sizeof(inert_keys) / sizeof(inert_keys[0]))
_Static_assert(N_INERT <= 32, "inert_set has one bit per inert key");

/* Kafka broker keys that ask for what rewind cannot do; refused at start
 * with the reason, not as unknown. */
static const struct refused_key {
	const char *prefix;         /* a key name, or a prefix ending in '.' */
	const char *why;
} refused_keys[] = {
	{ "zookeeper.", "rewind runs as one node and keeps its metadata in log.dirs; clusters "
	  "over ZooKeeper are not built yet (remove the zookeeper.* lines)" },
};

static char *trim(char *s);
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
	c->log_ts_difference_max_ms = INT64_MAX;
	c->listeners = strdup("PLAINTEXT://127.0.0.1:9092");
	c->advertised_listeners = NULL;
	c->num_network_threads = 0;
	/* Kafka 4's default (Kafka 3's is 1): two closes in flight share
	 * their journal commits, and more did not measure faster
	 * (docs/BENCHMARKS.md). */
	c->num_recovery_threads_per_data_dir = 2;
	c->socket_send_buffer_bytes = -1;     /* Kafka: 102400; see broker.h */
	c->socket_receive_buffer_bytes = -1;
	c->socket_request_max_bytes = 104857600;
	c->max_connections = INT32_MAX;
	c->connections_max_idle_ms = 600000;
	c->connection_max_queued_bytes = 64LL << 20;
	c->metrics_listener = strdup("127.0.0.1:9644");
	c->num_partitions = 1;
	c->auto_create_topics_enable = true;
	c->default_replication_factor = 1;
	c->compression_type = -1;
	c->min_insync_replicas = 1;
	c->cleanup_compact = false;
	c->cleanup_delete = true;
	c->message_max_bytes = 1048588;
	/* Kafka's defaults, but the initial rebalance delay: Kafka's code
	 * says 3000 ms and its shipped server.properties says 0; rewind takes
	 * the shipped file's value in conf/broker.conf and Kafka's code value
	 * here. */
	c->group_min_session_timeout_ms = 6000;
	c->group_max_session_timeout_ms = 1800000;
	c->group_initial_rebalance_delay_ms = 3000;
	c->group_max_size = INT32_MAX;
	c->offsets_topic_num_partitions = 50;
	c->offsets_topic_replication_factor = 1;
	c->offsets_topic_segment_bytes = 104857600;
	c->offsets_retention_ms = 7LL * 24 * 3600 * 1000;
	c->offsets_retention_check_interval_ms = 600000;
	c->offset_metadata_max_bytes = 4096;
	c->log_cleaner_enable = true;
	c->log_cleaner_threads = 1;
	c->log_cleaner_io_max_bytes_per_second = INT64_MAX;
	c->log_cleaner_dedupe_buffer_size = 128LL << 20;
	c->log_cleaner_backoff_ms = 15000;
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
	free(c->listeners);
	free(c->advertised_listeners);
	free(c->metrics_listener);
	free(c->listener_security_protocol_map);
	free(c->controller_listener_names);
	free(c->process_roles);
	c->listeners = c->advertised_listeners = c->metrics_listener = NULL;
	c->listener_security_protocol_map = c->controller_listener_names = c->process_roles = NULL;
}

/*
 * A comma-separated list of the words a and b (either, both, repeats
 * allowed, blanks around each): which it names, in *has_a and *has_b. 0, or
 * -1 for any other word or an empty list.
 */
static int parse_word_pair(const char *v, const char *a, const char *b, bool *has_a, bool *has_b)
{
	char buf[64], *save = NULL;

	*has_a = *has_b = false;
	if (strlen(v) >= sizeof(buf))
		return -1;
	strcpy(buf, v);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		if (strcmp(tok, a) == 0)
			*has_a = true;
		else if (strcmp(tok, b) == 0)
			*has_b = true;
		else
			return -1;
	}
	return *has_a || *has_b ? 0 : -1;
}

/*
 * Parses a cleanup policy: "delete", "compact" or both comma-separated, as
 * Kafka's cleanup.policy. 0, or -1 for anything else.
 */
int br_cleanup_policy_parse(const char *v, bool *compact, bool *del)
{
	bool c, d;

	if (parse_word_pair(v, "compact", "delete", &c, &d) < 0)
		return -1;
	*compact = c;
	*del = d;
	return 0;
}

/* Parses compression.type: "producer" (-1), "uncompressed"/"none" or a
 * codec name. 0, or -1 for anything else. */
int br_compression_type_parse(const char *v, int *codec)
{
	int c;

	if (strcmp(v, "producer") == 0) {
		*codec = -1;
		return 0;
	}
	if (strcmp(v, "uncompressed") == 0) {
		*codec = KP_CODEC_NONE;
		return 0;
	}
	if ((c = kp_codec_parse(v)) < 0)
		return -1;
	*codec = c;
	return 0;
}

const char *br_compression_type_name(int codec)
{
	return codec < 0 ? "producer" : codec == KP_CODEC_NONE ? "uncompressed" : kp_codec_name(codec);
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
		errf(errbuf, errlen, "%s=%s: out of range [%" PRId64 ", %" PRId64 "]%s%s",
		     k->name, v, k->min, k->max, k->why ? ": " : "", k->why ? k->why : "");
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

static int config_set_one(br_config *c, const char *assignment, const struct cfg_key **set,
			  char *errbuf, size_t errlen);

/* process.roles: rewind is one node that is broker and controller both,
 * Kafka's "combined" mode; either role alone needs nodes it does not have. */
static int check_roles(const char *name, const char *v, char *errbuf, size_t errlen)
{
	bool broker, controller;

	if (parse_word_pair(v, "broker", "controller", &broker, &controller) < 0) {
		errf(errbuf, errlen, "%s=%s: expected broker and/or controller, comma-separated",
		     name, v);
		return BR_ERR_CONFIG;
	}
	if (broker && controller)
		return 0;
	errf(errbuf, errlen, "%s=%s: not supported: rewind is one node in both roles "
	     "(broker,controller); separate brokers and controllers are not built yet", name, v);
	return BR_ERR_CONFIG;
}

/* Trims blanks off both ends of [*a, *a + *len). */
static void span_trim(const char **a, size_t *len)
{
	while (*len && (**a == ' ' || **a == '\t')) {
		(*a)++;
		(*len)--;
	}
	while (*len && ((*a)[*len - 1] == ' ' || (*a)[*len - 1] == '\t'))
		(*len)--;
}

/* The next item of a comma-separated list at *p, blanks trimmed, in *item
 * and *len; *p moves past it. False at the end of the list (or a NULL one). */
static bool list_next(const char **p, const char **item, size_t *len)
{
	if (!*p || !**p)
		return false;
	*item = *p;
	*len = strcspn(*p, ",");
	*p += *len + ((*p)[*len] == ',');
	span_trim(item, len);
	return true;
}

/* Splits a map item NAME:VALUE at its colon, both halves trimmed. False
 * when there is no colon or the name is empty. */
static bool map_item_split(const char *item, size_t len, const char **name, size_t *nlen,
			   const char **value, size_t *vlen)
{
	const char *colon = memchr(item, ':', len);

	if (!colon)
		return false;
	*name = item;
	*nlen = (size_t)(colon - item);
	*value = colon + 1;
	*vlen = len - *nlen - 1;
	span_trim(name, nlen);
	span_trim(value, vlen);
	return *nlen > 0;
}

/* listener.security.protocol.map: NAME:PROTOCOL, comma-separated, with
 * Kafka's protocol names (only PLAINTEXT listeners can be opened; the map
 * may name the others, as Kafka's shipped file does). */
static int check_protocol_map(const char *name, const char *v, char *errbuf, size_t errlen)
{
	static const char *const protocols[] = { "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL" };
	const char *p = v, *item, *lname, *proto;
	size_t len, nlen, plen;

	while (list_next(&p, &item, &len)) {
		bool known = false;
		if (!map_item_split(item, len, &lname, &nlen, &proto, &plen))
			goto bad;
		for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
			known |= strlen(protocols[i]) == plen && strncmp(proto, protocols[i], plen) == 0;
		if (!known)
			goto bad;
	}
	return 0;
bad:
	errf(errbuf, errlen, "%s=%s: expected NAME:PROTOCOL pairs, comma-separated "
	     "(PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", name, v);
	return BR_ERR_CONFIG;
}

bool br_config_listener_is_controller(const br_config *c, const char *name, size_t len)
{
	const char *p = c->controller_listener_names, *item;
	size_t ilen;

	while (list_next(&p, &item, &ilen))
		if (ilen == len && strncmp(item, name, len) == 0)
			return true;
	return false;
}

const char *br_config_listener_protocol(const br_config *c, const char *name, size_t len,
					char *buf, size_t buflen)
{
	const char *p = c->listener_security_protocol_map, *item, *lname, *proto;
	size_t ilen, nlen, plen;

	while (list_next(&p, &item, &ilen)) {
		if (map_item_split(item, ilen, &lname, &nlen, &proto, &plen) && nlen == len &&
		    strncmp(lname, name, len) == 0) {
			snprintf(buf, buflen, "%.*s", (int)plen, proto);
			return buf;
		}
	}
	/* Not mapped: Kafka takes the listener's name for its protocol. */
	snprintf(buf, buflen, "%.*s", (int)len, name);
	return buf;
}

/* A key not in keys[]: one of Kafka's that has no effect here (checked and
 * remembered), one refused with its reason, or unknown. */
static int set_other(br_config *c, const char *name, const char *value, char *errbuf,
		     size_t errlen)
{
	for (size_t i = 0; i < N_INERT; i++) {
		const struct inert_key *ik = &inert_keys[i];
		char *end;
		long long n;
		if (strcmp(ik->name, name) != 0)
			continue;
		if (ik->text) {
			if (!*value) {
				errf(errbuf, errlen, "%s: empty", name);
				return BR_ERR_CONFIG;
			}
			c->inert_set |= UINT32_C(1) << i;
			return 0;
		}
		errno = 0;
		n = strtoll(value, &end, 10);
		if (errno || end == value || *end != '\0' || n < ik->min || n > ik->max) {
			errf(errbuf, errlen, "%s=%s: expected a whole number in [%" PRId64 ", %" PRId64 "]",
			     name, value, ik->min, ik->max);
			return BR_ERR_CONFIG;
		}
		c->inert_set |= UINT32_C(1) << i;
		return 0;
	}
	for (size_t i = 0; i < sizeof(refused_keys) / sizeof(refused_keys[0]); i++) {
		const char *pre = refused_keys[i].prefix;
		size_t len = strlen(pre);
		if (pre[len - 1] == '.' ? strncmp(name, pre, len) == 0 : strcmp(name, pre) == 0) {
			errf(errbuf, errlen, "%s: not supported: %s", name, refused_keys[i].why);
			return BR_ERR_CONFIG;
		}
	}
	errf(errbuf, errlen, "unknown configuration key '%s' (see conf/broker.conf for the keys rewind accepts)",
	     name);
	return BR_ERR_CONFIG;
}

void br_config_inert_set(const br_config *c, void (*fn)(const char *name, const char *why, void *arg),
			 void *arg)
{
	for (size_t i = 0; i < N_INERT; i++)
		if (c->inert_set & (UINT32_C(1) << i))
			fn(inert_keys[i].name, inert_keys[i].why, arg);
}

_Static_assert(sizeof(keys) / sizeof(keys[0]) <= 64, "set_mask has one bit per key");

/* The canonical key (the one br_config_dump() prints) writing k's field:
 * log.retention.hours -> log.retention.ms. */
static size_t canonical_index(const struct cfg_key *k)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].canonical && keys[i].offset == k->offset &&
		    (keys[i].type == CFG_DIRS) == (k->type == CFG_DIRS))
			return i;
	return (size_t)(k - keys);
}

/* Applies the assignment and remembers that its canonical key was set, so
 * DescribeConfigs can tell STATIC_BROKER_CONFIG from DEFAULT_CONFIG. */
int br_config_set(br_config *c, const char *assignment, char *errbuf, size_t errlen)
{
	const struct cfg_key *k = NULL;
	int rc = config_set_one(c, assignment, &k, errbuf, errlen);
	if (rc == 0 && k)
		c->set_mask |= UINT64_C(1) << canonical_index(k);
	return rc;
}

bool br_config_is_set(const br_config *c, const char *name)
{
	const struct cfg_key *k = key_find(name);
	return k && (c->set_mask & (UINT64_C(1) << canonical_index(k))) != 0;
}

int br_config_default(const char *name, char *out, size_t len)
{
	br_config d;
	char *text = NULL, *save = NULL;
	size_t tlen = 0, nlen = strlen(name);
	int rc = -1;
	FILE *f;

	br_config_init(&d);
	if ((f = open_memstream(&text, &tlen)) != NULL) {
		br_config_dump(&d, f);
		if (fclose(f) == 0) {
			for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
				if (strncmp(l, name, nlen) == 0 && l[nlen] == '=') {
					snprintf(out, len, "%s", l + nlen + 1);
					rc = 0;
					break;
				}
		}
	}
	free(text);
	br_config_free(&d);
	return rc;
}

static int config_set_one(br_config *c, const char *assignment, const struct cfg_key **set,
			  char *errbuf, size_t errlen)
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
	if (!k)
		return set_other(c, name, value, errbuf, errlen);
	*set = k;
	field = (char *)c + k->offset;
	switch (k->type) {
	case CFG_I32:
	case CFG_I16:
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
		} else if (k->type == CFG_I16) {
			int16_t v16 = (int16_t)n;
			memcpy(field, &v16, sizeof(v16));
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
	case CFG_STR: {
		if (k->check && *value && (rc = k->check(k->name, value, errbuf, errlen)) < 0)
			return rc;
		char *copy = strdup(value), *old;
		if (!copy) {
			errf(errbuf, errlen, "%s: out of memory", k->name);
			return BR_ERR_CONFIG;
		}
		memcpy(&old, field, sizeof(old));
		free(old);
		memcpy(field, &copy, sizeof(copy));
		return 0;
	}
	case CFG_CODEC: {
		int codec;
		if (br_compression_type_parse(value, &codec) < 0) {
			errf(errbuf, errlen, "%s=%s: expected producer, uncompressed, gzip, snappy, lz4 or zstd",
			     k->name, value);
			return BR_ERR_CONFIG;
		}
		memcpy(field, &codec, sizeof(codec));
		return 0;
	}
	case CFG_RATIO: {
		char *end;
		errno = 0;
		double d = strtod(value, &end);
		if (errno || end == value || *end || !(d >= 0 && d <= 1)) {
			errf(errbuf, errlen, "%s=%s: expected a number between 0 and 1", k->name, value);
			return BR_ERR_CONFIG;
		}
		memcpy(field, &d, sizeof(d));
		return 0;
	}
	case CFG_POLICY:
		if (br_cleanup_policy_parse(value, &c->cleanup_compact, &c->cleanup_delete) < 0) {
			errf(errbuf, errlen, "%s=%s: expected delete, compact or compact,delete",
			     k->name, value);
			return BR_ERR_CONFIG;
		}
		return 0;
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
		case CFG_I16: {
			int16_t v16;
			memcpy(&v16, field, sizeof(v16));
			fprintf(out, "%d\n", v16);
			break;
		}
		case CFG_I64:
			memcpy(&v64, field, sizeof(v64));
			fprintf(out, "%" PRId64 "\n", v64);
			break;
		case CFG_STR: {
			const char *str;
			memcpy(&str, field, sizeof(str));
			fprintf(out, "%s\n", str ? str : "");
			break;
		}
		case CFG_CODEC: {
			int codec;
			memcpy(&codec, field, sizeof(codec));
			fprintf(out, "%s\n", br_compression_type_name(codec));
			break;
		}
		case CFG_RATIO: {
			double d;
			memcpy(&d, field, sizeof(d));
			fprintf(out, "%g\n", d);
			break;
		}
		case CFG_POLICY:
			fprintf(out, "%s\n", c->cleanup_compact && c->cleanup_delete ? "compact,delete" :
				c->cleanup_compact ? "compact" : "delete");
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
