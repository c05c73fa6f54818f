/*
 * group_store.c -- the internal topic __consumer_offsets: record formats,
 * appends and the scan that loads it at start.
 *
 * Committed offsets and group metadata are records of an ordinary compacted
 * topic, written in Kafka's own formats so that Kafka's tools (and kcat)
 * read them alike. All integers are big-endian; a string is an int16 length
 * and bytes (length -1: null); bytes are an int32 length and bytes.
 *
 *   offset commit   key:   int16 version = 1, string group, string topic,
 *                          int32 partition
 *                   value: int16 version = 3, int64 offset, int32 leader
 *                          epoch, string metadata, int64 commit timestamp
 *                          (version 1, read only: int64 offset, string
 *                          metadata, int64 commit timestamp, int64 expire
 *                          timestamp; written when the commit has one)
 *   group metadata  key:   int16 version = 2, string group
 *                   value: int16 version = 3, string protocol type, int32
 *                          generation, nullable string protocol, nullable
 *                          string leader, int64 state timestamp, int32 count
 *                          of members, each: string member id, nullable
 *                          string instance id, string client id, string
 *                          client host, int32 rebalance timeout, int32
 *                          session timeout, bytes subscription, bytes
 *                          assignment
 *
 * A null value (a tombstone) deletes the key: an offset (OffsetDelete,
 * expiry, a deleted topic) or a group (DeleteGroups).
 *
 * A group lives in partition abs(hashCode(group)) % partitions, Java's
 * String.hashCode, as Kafka places it, so one group's records are ordered
 * in one log and the last record of a key is its state.
 *
 * Threads: appends are made from the coordinator's thread (b->groups_thread)
 * and complete there (the storage callback posts back); the load runs on
 * that same thread before it serves any request.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/br_int.h"

#define KEY_OFFSET_COMMIT 1
#define KEY_GROUP_METADATA 2
#define LOAD_READ_BYTES (1 << 20)
#define LOAD_MAX_DECOMPRESSED (64 << 20)

int32_t br__offsets_partition_for(const char *group_id, int32_t n_parts)
{
	int32_t h = 0;

	/* Java's String.hashCode over UTF-16 units; group ids are usually
	 * ASCII, where a byte is a unit. Bytes above 0x7f are taken as they
	 * come (Kafka would hash the decoded UTF-16): placement only needs to
	 * be stable for rewind itself. Overflow wraps, as in Java. */
	for (const unsigned char *p = (const unsigned char *)group_id; *p; p++)
		h = (int32_t)((uint32_t)h * 31u + *p);
	/* Kafka's Utils.abs: MIN_VALUE maps to 0, not to itself. */
	if (h == INT32_MIN)
		h = 0;
	else if (h < 0)
		h = -h;
	return n_parts > 0 ? h % n_parts : 0;
}

static void put_str(kp_buf *b, const char *s, size_t len)
{
	kp_buf_put_i16(b, (int16_t)len);
	kp_buf_put(b, s, len);
}

static void put_nstr(kp_buf *b, const char *s)
{
	if (!s)
		kp_buf_put_i16(b, -1);
	else
		put_str(b, s, strlen(s));
}

static void put_bytes(kp_buf *b, const uint8_t *p, int32_t len)
{
	kp_buf_put_i32(b, len < 0 ? 0 : len);
	if (len > 0)
		kp_buf_put(b, p, (size_t)len);
}

void br__offset_commit_key(kp_buf *b, const char *group, const char *topic, size_t topic_len,
			   int32_t partition)
{
	kp_buf_put_i16(b, KEY_OFFSET_COMMIT);
	put_str(b, group, strlen(group));
	put_str(b, topic, topic_len);
	kp_buf_put_i32(b, partition);
}

void br__offset_commit_value(kp_buf *b, const br_offset_value *v)
{
	const char *md = v->metadata ? v->metadata : "";

	if (v->expire_ts >= 0) {
		/* Only version 1 carries an explicit expiry (OffsetCommit v2-v4's
		 * RetentionTimeMs); it has no leader epoch. */
		kp_buf_put_i16(b, 1);
		kp_buf_put_i64(b, v->offset);
		put_str(b, md, strlen(md));
		kp_buf_put_i64(b, v->commit_ts);
		kp_buf_put_i64(b, v->expire_ts);
		return;
	}
	kp_buf_put_i16(b, 3);
	kp_buf_put_i64(b, v->offset);
	kp_buf_put_i32(b, v->leader_epoch);
	put_str(b, md, strlen(md));
	kp_buf_put_i64(b, v->commit_ts);
}

void br__group_metadata_key(kp_buf *b, const char *group)
{
	kp_buf_put_i16(b, KEY_GROUP_METADATA);
	put_str(b, group, strlen(group));
}

void br__group_metadata_value(kp_buf *b, const br_group_record *g)
{
	kp_buf_put_i16(b, 3);
	put_str(b, g->protocol_type, strlen(g->protocol_type));
	kp_buf_put_i32(b, g->generation);
	put_nstr(b, g->protocol_name);
	put_nstr(b, g->leader);
	kp_buf_put_i64(b, g->state_ts);
	kp_buf_put_i32(b, (int32_t)g->n_members);
	for (size_t i = 0; i < g->n_members; i++) {
		const br_group_record_member *m = &g->members[i];

		put_str(b, m->member_id, strlen(m->member_id));
		put_nstr(b, m->instance_id);
		put_str(b, m->client_id, strlen(m->client_id));
		put_str(b, m->client_host, strlen(m->client_host));
		kp_buf_put_i32(b, m->rebalance_timeout_ms);
		kp_buf_put_i32(b, m->session_timeout_ms);
		put_bytes(b, m->subscription, m->subscription_len);
		put_bytes(b, m->assignment, m->assignment_len);
	}
}

/* ---------------------------------------------------------------- appends */

/* One append in flight: the batch bytes live here until the writer is done. */
struct gappend {
	st_append a;
	br_broker *b;
	br_topic *topic;              /* reference held until completion */
	br_part *part;
	kp_buf batch;
	br_gstore_done_fn *done;
	void *arg;
	int err;
};

/* Back on the coordinator's thread. */
static void gappend_finish(void *arg)
{
	struct gappend *g = arg;

	g->done(g->arg, g->err);
	br_topic_put(g->topic);
	kp_buf_free(&g->batch);
	free(g);
}

/* @locality writer */
static void gappend_written(st_append *a, int err)
{
	struct gappend *g = (struct gappend *)a;

	g->err = err;
	/* Readers of __consumer_offsets (kcat, Kafka's tools) long-poll it
	 * like any topic. */
	if (err == 0)
		br_part_wake_fetches(g->part);
	if (br_reactor_post(g->b->groups_thread, gappend_finish, g) < 0)
		br__logf(ST_LOG_ERROR, "out of memory finishing a __consumer_offsets append; "
			 "its request stays unanswered");
}

int br__gstore_append(br_broker *b, int32_t partition, const br_gstore_record *recs, size_t n,
		      br_gstore_done_fn *done, void *arg)
{
	struct gappend *g;
	kp_batch_builder bb;
	br_part *part;
	int64_t now = br__wall_ms();
	int err;

	if (n == 0)
		return -EINVAL;
	if (!(g = calloc(1, sizeof(*g))))
		return -ENOMEM;
	g->topic = br_topics_get(b->topics, BR_OFFSETS_TOPIC, strlen(BR_OFFSETS_TOPIC));
	if (!g->topic || !(part = br_topic_part(g->topic, partition))) {
		if (g->topic)
			br_topic_put(g->topic);
		free(g);
		return ST_ERR_NOT_FOUND;
	}
	kp_batch_builder_init(&bb, KP_CODEC_NONE, 0);
	err = 0;
	for (size_t i = 0; i < n && err == 0; i++)
		err = kp_batch_builder_add(&bb, now, recs[i].key->data, (int32_t)recs[i].key->len,
					   recs[i].value ? recs[i].value->data : NULL,
					   recs[i].value ? (int32_t)recs[i].value->len : -1, NULL, 0);
	kp_buf_init(&g->batch);
	if (err == 0)
		err = kp_batch_builder_finish(&bb, &g->batch);
	kp_batch_builder_free(&bb);
	if (err == 0) {
		g->b = b;
		g->part = part;
		g->done = done;
		g->arg = arg;
		g->a.data = g->batch.data;
		g->a.len = g->batch.len;
		g->a.leader_epoch = 0;
		g->a.cb = gappend_written;
		g->a.arg = g;
		err = st_log_append(part->log, &g->a, now);
	}
	if (err < 0) {
		br_topic_put(g->topic);
		kp_buf_free(&g->batch);
		free(g);
	}
	return err;
}

/* ------------------------------------------------------------------- load */

static kp_str read_str(kp_reader *r)
{
	int16_t len = kp_read_i16(r);
	kp_str s = KP_STR_NULL;

	if (len >= 0) {
		s.p = kp_read_bytes(r, (size_t)len);
		s.len = s.p ? len : -1;
	} else if (len < -1) {
		r->err = KP_ERR_CORRUPT;
	}
	return s;
}

static kp_bytes read_bytes(kp_reader *r)
{
	int32_t len = kp_read_i32(r);
	kp_bytes s = { NULL, -1 };

	if (len >= 0) {
		s.p = kp_read_bytes(r, (size_t)len);
		s.len = s.p ? len : -1;
	} else if (len < -1) {
		r->err = KP_ERR_CORRUPT;
	}
	return s;
}

static int decode_offset_value(const kp_record *rec, br_offset_value *v, kp_arena *a)
{
	kp_reader r = kp_reader_make(rec->value, (size_t)rec->value_len);
	int16_t version = kp_read_i16(&r);
	kp_str md;

	memset(v, 0, sizeof(*v));
	v->leader_epoch = -1;
	v->expire_ts = -1;
	switch (version) {
	case 0:
	case 1:
		v->offset = kp_read_i64(&r);
		md = read_str(&r);
		v->commit_ts = kp_read_i64(&r);
		if (version == 1)
			v->expire_ts = kp_read_i64(&r);
		break;
	case 2:
	case 3:
	case 4:
		v->offset = kp_read_i64(&r);
		if (version >= 3)
			v->leader_epoch = kp_read_i32(&r);
		md = read_str(&r);
		v->commit_ts = kp_read_i64(&r);
		/* v4 is flexible: tagged fields follow, none of which we need. */
		break;
	default:
		return KP_ERR_VERSION;
	}
	if (!kp_reader_ok(&r))
		return r.err;
	v->metadata = br__cstr(a, md.len < 0 ? (kp_str){ (const uint8_t *)"", 0 } : md);
	return v->metadata ? 0 : -ENOMEM;
}

static int decode_group_value(const kp_record *rec, br_group_record *g, kp_arena *a)
{
	kp_reader r = kp_reader_make(rec->value, (size_t)rec->value_len);
	int16_t version = kp_read_i16(&r);
	int32_t n;

	memset(g, 0, sizeof(*g));
	if (version < 0 || version > 3)
		return KP_ERR_VERSION;
	g->protocol_type = br__cstr(a, read_str(&r));
	g->generation = kp_read_i32(&r);
	g->protocol_name = br__cstr(a, read_str(&r));
	g->leader = br__cstr(a, read_str(&r));
	g->state_ts = version >= 2 ? kp_read_i64(&r) : -1;
	n = kp_read_i32(&r);
	if (!kp_reader_ok(&r))
		return r.err;
	if (!g->protocol_type || n < 0 || (size_t)n > kp_reader_left(&r))
		return KP_ERR_CORRUPT;
	g->members = kp_arena_calloc(a, (size_t)n + 1, sizeof(*g->members));
	if (!g->members)
		return -ENOMEM;
	for (int32_t i = 0; i < n; i++) {
		br_group_record_member *m = (br_group_record_member *)&g->members[i];
		kp_bytes sub, asg;

		m->member_id = br__cstr(a, read_str(&r));
		m->instance_id = version >= 3 ? br__cstr(a, read_str(&r)) : NULL;
		m->client_id = br__cstr(a, read_str(&r));
		m->client_host = br__cstr(a, read_str(&r));
		m->rebalance_timeout_ms = version >= 1 ? kp_read_i32(&r) : 0;
		m->session_timeout_ms = kp_read_i32(&r);
		if (version == 0)
			m->rebalance_timeout_ms = m->session_timeout_ms;
		sub = read_bytes(&r);
		asg = read_bytes(&r);
		if (!kp_reader_ok(&r))
			return r.err;
		if (!m->member_id || !m->client_id || !m->client_host)
			return KP_ERR_CORRUPT;
		m->subscription = sub.p;
		m->subscription_len = sub.len < 0 ? 0 : sub.len;
		m->assignment = asg.p;
		m->assignment_len = asg.len < 0 ? 0 : asg.len;
	}
	g->n_members = (size_t)n;
	return 0;
}

/* Applies one record to the visitor. Records that do not decode are
 * logged and skipped: one bad record must not hide the rest of the log. */
static void load_record(const kp_record *rec, const br_gstore_visitor *v, void *arg,
			const char *where, kp_arena *a)
{
	kp_reader r = kp_reader_make(rec->key, rec->key_len > 0 ? (size_t)rec->key_len : 0);
	int16_t kv = kp_read_i16(&r);
	const char *group;
	int err = 0;

	kp_arena_reset(a);
	if (!rec->key || !kp_reader_ok(&r))
		goto bad;
	group = br__cstr(a, read_str(&r));
	if (kv == 0 || kv == KEY_OFFSET_COMMIT) {
		kp_str topic = read_str(&r);
		int32_t partition = kp_read_i32(&r);
		br_offset_value val;

		if (!kp_reader_ok(&r) || !group || topic.len <= 0)
			goto bad;
		if (rec->value && (err = decode_offset_value(rec, &val, a)) < 0)
			goto bad;
		v->offset(arg, group, (const char *)topic.p, (size_t)topic.len, partition,
			  rec->value ? &val : NULL);
		return;
	}
	if (kv == KEY_GROUP_METADATA) {
		br_group_record g;

		if (!group)
			goto bad;
		if (rec->value && (err = decode_group_value(rec, &g, a)) < 0)
			goto bad;
		v->group(arg, group, rec->value ? &g : NULL);
		return;
	}
	/* Other key versions are Kafka's newer record kinds (transactions,
	 * the new consumer protocol); rewind writes none of them. */
	br__logf(ST_LOG_WARN, "%s: record at offset %" PRId64 " has key version %d, skipped",
		 where, rec->offset, kv);
	return;
bad:
	br__logf(ST_LOG_WARN, "%s: record at offset %" PRId64 " does not decode (%s), skipped",
		 where, rec->offset, err ? kp_strerror(err) : "bad key");
}

/* Reads one partition's log from its start to its readable end. */
static int load_partition(br_part *part, const br_gstore_visitor *v, void *arg, int64_t *records)
{
	int64_t off = st_log_start_offset(part->log), end = st_log_readable_end(part->log);
	uint8_t *buf = NULL;
	size_t cap = 0;
	kp_arena a;
	char where[64];
	int err = 0;

	snprintf(where, sizeof(where), "%s-%d", BR_OFFSETS_TOPIC, part->index);
	kp_arena_init(&a, 0);
	while (off < end && err == 0) {
		st_slice s;
		size_t pos = 0, len;

		if ((err = st_log_read(part->log, off, LOAD_READ_BYTES, end, &s)) < 0)
			break;
		if (s.len == 0) {
			st_slice_release(&s);
			break;
		}
		if (s.len > cap) {
			uint8_t *nb = realloc(buf, s.len);

			if (!nb) {
				st_slice_release(&s);
				err = -ENOMEM;
				break;
			}
			buf = nb;
			cap = s.len;
		}
		for (size_t got = 0; got < s.len;) {
			ssize_t n = pread(s.fd, buf + got, s.len - got, s.file_pos + (int64_t)got);

			if (n <= 0) {
				err = n < 0 ? -errno : -EIO;
				break;
			}
			got += (size_t)n;
		}
		off = s.next_offset;
		len = s.len;
		st_slice_release(&s);
		while (err == 0 && pos < len) {
			kp_batch_header h;
			kp_record_iter it;
			kp_record rec;
			int rc;

			if ((err = kp_batch_validate(buf + pos, len - pos, &h)) < 0)
				break;
			if ((err = kp_record_iter_init(&it, buf + pos, kp_batch_size(&h),
						       LOAD_MAX_DECOMPRESSED)) == 0) {
				while ((rc = kp_record_iter_next(&it, &rec)) == 1) {
					load_record(&rec, v, arg, where, &a);
					(*records)++;
				}
				err = rc;
			}
			kp_record_iter_free(&it);
			pos += kp_batch_size(&h);
		}
	}
	if (err < 0)
		br__logf(ST_LOG_ERROR, "%s: loading stopped at offset %" PRId64 ": %s", where, off,
			 st_strerror(err));
	kp_arena_free(&a);
	free(buf);
	return err;
}

int br__gstore_load(br_broker *b, const br_gstore_visitor *v, void *arg, int64_t *records)
{
	br_topic *t = br_topics_get(b->topics, BR_OFFSETS_TOPIC, strlen(BR_OFFSETS_TOPIC));
	int err = 0;

	*records = 0;
	if (!t)
		return 0;
	for (int32_t p = 0; p < t->n_parts && err == 0; p++)
		err = load_partition(br_topic_part(t, p), v, arg, records);
	br_topic_put(t);
	return err;
}
