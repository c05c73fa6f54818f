/*
 * group_offsets.c -- the committed offsets of the group coordinator:
 * OffsetCommit's validation and storage, OffsetFetch, OffsetDelete,
 * DeleteGroups, and the expiry of old offsets and of offsets of deleted
 * topics.
 *
 * A group's committed offsets are a map from "topic\0" + big-endian
 * partition to the last durable commit. A commit is applied to the map only
 * once its __consumer_offsets record is durable (commit_written), so the map
 * never shows what a crash would lose. Removals (OffsetDelete, expiry,
 * DeleteGroups) are tombstone records, applied the same way.
 *
 * Threads: like group.c, everything here runs on b->groups_thread.
 */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br_int.h"

static size_t offset_key(char *buf, size_t cap, const char *topic, size_t tlen, int32_t partition)
{
	if (tlen + 5 > cap)
		return 0;
	memcpy(buf, topic, tlen);
	buf[tlen] = '\0';
	kp_store_be32((uint8_t *)buf + tlen + 1, (uint32_t)partition);
	return tlen + 5;
}

void br__committed_free(void *v)
{
	struct br__committed *c = v;

	if (c) {
		free(c->metadata);
		free(c);
	}
}

/* ------------------------------------------------------------- offsets */

struct commit_write {
	br_groups *g;
	struct br__group *group;       /* held: writes_in_flight counts this */
	char *group_id;
	br_commit *commits;            /* the partitions written */
	size_t n;
	br_commit_done_fn *done;
	void *arg;
};

void br__offset_apply(br_groups *g, const char *group_id, const char *topic, size_t tlen,
			 int32_t partition, const br_offset_value *v)
{
	struct br__group *grp = br__group_get_or_create(g, group_id);
	char key[BR_TOPIC_NAME_MAX + 5];
	size_t klen = offset_key(key, sizeof(key), topic, tlen, partition);
	struct br__committed *c, *old = NULL;

	if (!grp || klen == 0)
		return;
	if (!v) {
		br__committed_free(br_strmap_del(&grp->offsets, key, klen));
		return;
	}
	if (!(c = calloc(1, sizeof(*c))) || !(c->metadata = strdup(v->metadata ? v->metadata : ""))) {
		free(c);
		br__logf(ST_LOG_ERROR, "group %s: out of memory keeping a committed offset", group_id);
		return;
	}
	c->offset = v->offset;
	c->leader_epoch = v->leader_epoch;
	c->commit_ts = v->commit_ts;
	c->expire_ts = v->expire_ts;
	if (br_strmap_put(&grp->offsets, key, klen, c, (void **)&old) < 0) {
		br__committed_free(c);
		br__logf(ST_LOG_ERROR, "group %s: out of memory keeping a committed offset", group_id);
		return;
	}
	br__committed_free(old);
}

static void commit_written(void *arg, int err)
{
	struct commit_write *w = arg;
	struct br__group *grp = w->group;
	/* A group deleted since: its tombstones follow these records in the
	 * log, so memory skips them too. */
	bool gone = br__group_write_done(grp) || grp->deleted;

	for (size_t i = 0; i < w->n; i++) {
		br_commit *c = &w->commits[i];

		if (err == 0) {
			if (!gone)
				br__offset_apply(w->g, w->group_id, c->topic, c->topic_len,
						 c->partition, c->delete ? NULL : &c->value);
			c->error = KE_NONE;
		} else {
			c->error = KE_COORDINATOR_NOT_AVAILABLE;
		}
	}
	if (err)
		br__logf(ST_LOG_WARN, "group %s: storing %zu offsets failed: %s", w->group_id, w->n,
			 st_strerror(err));
	w->done(w->arg, err);
	if (!gone && !w->g->stopped)
		br__group_maybe_forget(grp);
	free(w->group_id);
	free(w);
}

/* Appends the commits' records (or tombstones) to the group's partition.
 * 0 (done runs later) or an error (it does not). */
static int commits_store(br_groups *g, const char *group_id, br_commit *commits, size_t n,
			 br_commit_done_fn *done, void *arg)
{
	struct commit_write *w = calloc(1, sizeof(*w));
	br_gstore_record *recs = calloc(n + 1, sizeof(*recs));
	kp_buf *bufs = calloc(2 * n + 1, sizeof(*bufs));
	struct br__group *grp;
	size_t nrec = 0;
	int err = 0;

	if (!w || !recs || !bufs || !(w->group_id = strdup(group_id))) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		br_commit *c = &commits[i];
		kp_buf *k = &bufs[2 * nrec], *v = &bufs[2 * nrec + 1];

		if (c->error != KE_NONE)
			continue;
		kp_buf_init(k);
		kp_buf_init(v);
		br__offset_commit_key(k, group_id, c->topic, c->topic_len, c->partition);
		if (!c->delete)
			br__offset_commit_value(v, &c->value);
		if (k->err || v->err) {
			err = -ENOMEM;
			nrec++;
			goto out;
		}
		recs[nrec].key = k;
		recs[nrec].value = c->delete ? NULL : v;
		nrec++;
	}
	w->g = g;
	w->commits = commits;
	w->n = n;
	w->done = done;
	w->arg = arg;
	if (nrec == 0) {
		err = -ENODATA;
		goto out;
	}
	/* The write holds the group (created now for a first commit), so
	 * its completion finds it even if DeleteGroups comes in between. */
	if (!(grp = br__group_get_or_create(g, group_id))) {
		err = -ENOMEM;
		goto out;
	}
	w->group = grp;
	err = br__gstore_append(g->b, br__offsets_partition_for(group_id, br__groups_partitions(g)),
				recs, nrec, commit_written, w);
	if (err == 0)
		grp->writes_in_flight++;
out:
	for (size_t i = 0; i < 2 * nrec; i++)
		kp_buf_free(&bufs[i]);
	free(bufs);
	free(recs);
	if (err < 0 && w) {
		free(w->group_id);
		free(w);
	}
	return err;
}

int br_group_commit(br_groups *g, const br_commit_args *a, br_commit *commits, size_t n,
		    br_commit_done_fn *done, void *arg)
{
	int32_t max_md = g->b->cfg.offset_metadata_max_bytes;
	struct br__group *grp;
	struct br__member *m = NULL;
	int16_t error = KE_NONE;
	int err;

	if (g->stopped)
		return KE_NOT_COORDINATOR;
	if (!a->group_id[0])
		return KE_INVALID_GROUP_ID;
	grp = br__group_find(g, a->group_id);
	if (grp && grp->state == BR__GROUP_DEAD)
		return KE_COORDINATOR_NOT_AVAILABLE;
	if (a->generation < 0 && (!grp || grp->state == BR__GROUP_EMPTY)) {
		/* A commit from outside group management (an admin tool, a
		 * consumer using assign()): allowed while nobody is a member. */
	} else if (!grp) {
		return KE_ILLEGAL_GENERATION;
	} else if (br__group_fenced(grp, a->member_id, a->instance_id)) {
		return KE_FENCED_INSTANCE_ID;
	} else if (grp->state == BR__GROUP_COMPLETING) {
		return KE_REBALANCE_IN_PROGRESS;
	} else if (!(m = br__member_find(grp, a->member_id))) {
		return KE_UNKNOWN_MEMBER_ID;
	} else if (a->generation != grp->generation) {
		return KE_ILLEGAL_GENERATION;
	}
	if (m)
		br__member_heartbeat(m);
	for (size_t i = 0; i < n; i++) {
		br_commit *c = &commits[i];
		br_topic *t;

		if (c->error != KE_NONE)
			continue;
		if (c->value.metadata && (int64_t)strlen(c->value.metadata) > max_md) {
			c->error = KE_OFFSET_METADATA_TOO_LARGE;
			continue;
		}
		t = br_topics_get(g->b->topics, c->topic, c->topic_len);
		if (!t || !br_topic_part(t, c->partition))
			c->error = KE_UNKNOWN_TOPIC_OR_PARTITION;
		if (t)
			br_topic_put(t);
	}
	err = commits_store(g, a->group_id, commits, n, done, arg);
	if (err == -ENODATA)
		return error;            /* every partition had its own error */
	if (err < 0) {
		br__logf(ST_LOG_WARN, "group %s: cannot store offsets: %s", a->group_id,
			 st_strerror(err));
		return KE_COORDINATOR_NOT_AVAILABLE;
	}
	return BR_GROUP_PENDING;
}

int br_group_offset_fetch(br_groups *g, const char *group_id, const char *topic, size_t tlen,
			  int32_t partition, br_offset_value *out)
{
	struct br__group *grp = br__group_find(g, group_id);
	char key[BR_TOPIC_NAME_MAX + 5];
	size_t klen = offset_key(key, sizeof(key), topic, tlen, partition);
	struct br__committed *c = grp && klen ? br_strmap_get(&grp->offsets, key, klen) : NULL;

	if (!c)
		return -ENOENT;
	out->offset = c->offset;
	out->leader_epoch = c->leader_epoch;
	out->metadata = c->metadata;
	out->commit_ts = c->commit_ts;
	out->expire_ts = c->expire_ts;
	return 0;
}

void br_group_offsets_foreach(br_groups *g, const char *group_id,
			      void (*fn)(void *arg, const char *topic, size_t tlen, int32_t partition,
					 const br_offset_value *v),
			      void *arg)
{
	struct br__group *grp = br__group_find(g, group_id);
	br_strmap_iter it = { 0 };
	br_strmap_entry *e;

	if (!grp)
		return;
	while ((e = br_strmap_next(&grp->offsets, &it))) {
		size_t klen;
		const char *key = br_strmap_entry_key(e, &klen);
		const struct br__committed *c = br_strmap_entry_value(e);
		br_offset_value v = { c->offset, c->leader_epoch, c->metadata, c->commit_ts, c->expire_ts };

		fn(arg, key, klen - 5, (int32_t)kp_load_be32((const uint8_t *)key + klen - 4), &v);
	}
}

int16_t br_group_offset_delete_check(br_groups *g, const char *group_id, const char *topic,
				     size_t tlen)
{
	struct br__group *grp = br__group_find(g, group_id);

	if (g->stopped)
		return KE_NOT_COORDINATOR;
	if (!grp)
		return KE_GROUP_ID_NOT_FOUND;
	if (grp->state == BR__GROUP_DEAD)
		return KE_GROUP_ID_NOT_FOUND;
	if (grp->state == BR__GROUP_EMPTY || !grp->protocol_type || strcmp(grp->protocol_type, "consumer") != 0)
		return KE_NONE;
	/* A live consumer group: refuse topics its members subscribe to.
	 * The subscription is the consumer protocol's (version, topics...);
	 * a topic name found in it as a length-prefixed string counts. */
	for (struct br__member *m = grp->members; m; m = m->next) {
		for (int i = 0; i < m->n_protocols; i++) {
			kp_reader r = kp_reader_make(m->protocols[i].metadata,
						     (size_t)m->protocols[i].metadata_len);
			int32_t n;

			kp_read_i16(&r);
			n = kp_read_i32(&r);
			for (int32_t k = 0; k < n && kp_reader_ok(&r); k++) {
				int16_t len = kp_read_i16(&r);
				const uint8_t *p = len >= 0 ? kp_read_bytes(&r, (size_t)len) : NULL;

				if (p && (size_t)len == tlen && memcmp(p, topic, tlen) == 0)
					return KE_GROUP_SUBSCRIBED_TO_TOPIC;
			}
		}
	}
	return KE_NONE;
}

int br_group_offsets_delete(br_groups *g, const char *group_id, br_commit *commits, size_t n,
			    br_commit_done_fn *done, void *arg)
{
	for (size_t i = 0; i < n; i++)
		commits[i].delete = true;
	return commits_store(g, group_id, commits, n, done, arg);
}

/* ------------------------------------------------------------ DeleteGroups */

struct delete_write {
	br_commit_done_fn *done;
	void *arg;
};

static void delete_written(void *arg, int err)
{
	struct delete_write *w = arg;

	w->done(w->arg, err);
	free(w);
}

int br_group_delete(br_groups *g, const char *group_id, br_commit_done_fn *done, void *arg)
{
	struct br__group *grp = br__group_find(g, group_id);
	br_strmap_iter it = { 0 };
	br_strmap_entry *e;
	br_gstore_record *recs;
	kp_buf *keys;
	size_t n = 0, cap;
	struct delete_write *w;
	int err;

	if (g->stopped)
		return KE_NOT_COORDINATOR;
	if (!group_id[0])
		return KE_INVALID_GROUP_ID;
	if (!grp || grp->state == BR__GROUP_DEAD)
		return KE_GROUP_ID_NOT_FOUND;
	if (grp->state != BR__GROUP_EMPTY)
		return KE_NON_EMPTY_GROUP;
	/* Tombstones for every offset and for the group itself. */
	cap = grp->offsets.n + 1;
	recs = calloc(cap, sizeof(*recs));
	keys = calloc(cap, sizeof(*keys));
	w = calloc(1, sizeof(*w));
	if (!recs || !keys || !w) {
		free(recs);
		free(keys);
		free(w);
		return KE_UNKNOWN_SERVER_ERROR;
	}
	while ((e = br_strmap_next(&grp->offsets, &it)) && n + 1 < cap) {
		size_t klen;
		const char *key = br_strmap_entry_key(e, &klen);

		kp_buf_init(&keys[n]);
		br__offset_commit_key(&keys[n], group_id, key, klen - 5,
				      (int32_t)kp_load_be32((const uint8_t *)key + klen - 4));
		recs[n].key = &keys[n];
		n++;
	}
	kp_buf_init(&keys[n]);
	br__group_metadata_key(&keys[n], group_id);
	recs[n].key = &keys[n];
	n++;
	w->done = done;
	w->arg = arg;
	err = br__gstore_append(g->b, br__offsets_partition_for(group_id, br__groups_partitions(g)),
				recs, n, delete_written, w);
	for (size_t i = 0; i < n; i++)
		kp_buf_free(&keys[i]);
	free(keys);
	free(recs);
	if (err < 0) {
		free(w);
		br__logf(ST_LOG_WARN, "group %s: cannot store its deletion: %s", group_id,
			 st_strerror(err));
		return KE_COORDINATOR_NOT_AVAILABLE;
	}
	br__logf(ST_LOG_INFO, "group %s deleted (%zu committed offsets)", group_id, n - 1);
	br__group_remove(grp);
	return BR_GROUP_PENDING;
}

/* ------------------------------------------------- expiry of old offsets */

/* The tombstones of one expiry pass over a group, until written. */
struct expiry {
	size_t n;
	br_commit *commits;          /* topics are copies owned here */
};

static void expiry_free(void *arg, int err)
{
	struct expiry *x = arg;

	(void)err;
	for (size_t i = 0; i < x->n; i++)
		free((char *)x->commits[i].topic);
	free(x->commits);
	free(x);
}

/* Drops offsets past their retention and offsets of topics that no longer
 * exist, with tombstones; a group left with nothing is forgotten. Kafka's
 * rule: an Empty group's offsets expire offsets.retention.ms after the
 * group became Empty (or after the commit, for one with an explicit expiry
 * or a group that never had members). */
static void expire_group_offsets(br_groups *g, struct br__group *grp, int64_t now)
{
	int64_t retention = g->b->cfg.offsets_retention_ms;
	br_strmap_iter it = { 0 };
	br_strmap_entry *e;
	br_commit *gone = NULL;
	size_t n = 0, cap = 0;

	if (grp->state == BR__GROUP_DEAD || grp->writes_in_flight > 0)
		return;
	while ((e = br_strmap_next(&grp->offsets, &it))) {
		size_t klen;
		const char *key = br_strmap_entry_key(e, &klen);
		const struct br__committed *c = br_strmap_entry_value(e);
		int32_t partition = (int32_t)kp_load_be32((const uint8_t *)key + klen - 4);
		br_topic *t = br_topics_get(g->b->topics, key, klen - 5);
		bool topic_gone = !t || !br_topic_part(t, partition);
		bool expired;

		if (t)
			br_topic_put(t);
		if (c->expire_ts >= 0)
			expired = now >= c->expire_ts;
		else if (grp->state != BR__GROUP_EMPTY)
			expired = false;
		else
			expired = retention >= 0 &&
				  now - (grp->protocol_type ? grp->state_ts : c->commit_ts) >= retention;
		if (!topic_gone && !expired)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			br_commit *ng = realloc(gone, ncap * sizeof(*ng));

			if (!ng)
				break;
			gone = ng;
			cap = ncap;
		}
		memset(&gone[n], 0, sizeof(gone[n]));
		gone[n].topic = key;
		gone[n].topic_len = klen - 5;
		gone[n].partition = partition;
		gone[n].delete = true;
		n++;
	}
	if (n > 0) {
		struct expiry *x = calloc(1, sizeof(*x));

		br__logf(ST_LOG_INFO, "group %s: %zu committed offsets expired or of deleted topics",
			 grp->id, n);
		/* The keys must outlive this pass: commit_written() applies
		 * the tombstones by topic name once they are durable. */
		for (size_t i = 0; i < n; i++) {
			char *copy = malloc(gone[i].topic_len + 1);

			if (!copy) {
				n = i;
				break;
			}
			memcpy(copy, gone[i].topic, gone[i].topic_len);
			copy[gone[i].topic_len] = '\0';
			gone[i].topic = copy;
		}
		if (!x) {
			for (size_t i = 0; i < n; i++)
				free((char *)gone[i].topic);
			free(gone);
			return;
		}
		x->n = n;
		x->commits = gone;
		if (n == 0 || commits_store(g, grp->id, gone, n, expiry_free, x) < 0)
			expiry_free(x, 0);
		return;
	}
	free(gone);
}

static void expiry_done(void *arg, int err)
{
	(void)arg;
	(void)err;
}

void br__groups_expire(br_groups *g)
{
	int64_t now = br__wall_ms();
	br_strmap_iter it = { 0 };
	br_strmap_entry *e;
	struct br__group **v;
	size_t n = 0;

	if (g->stopped)
		return;
	/* Collected first: expiry may forget groups, which the iteration
	 * must not see happen under it. */
	v = calloc(g->groups.n + 1, sizeof(*v));
	if (!v)
		return;
	while ((e = br_strmap_next(&g->groups, &it)))
		v[n++] = br_strmap_entry_value(e);
	for (size_t i = 0; i < n; i++) {
		struct br__group *grp = v[i];
		int64_t retention = g->b->cfg.offsets_retention_ms;

		expire_group_offsets(g, grp, now);
		/* An Empty group with nothing committed is dropped once its
		 * retention passed, with a tombstone, as Kafka does. */
		if (grp->state == BR__GROUP_EMPTY && grp->offsets.n == 0 && grp->writes_in_flight == 0 &&
		    !grp->pending && now - grp->state_ts >= retention) {
			br__logf(ST_LOG_INFO, "group %s: empty for offsets.retention.minutes, removed",
				 grp->id);
			br_group_delete(g, grp->id, expiry_done, NULL);
			continue;
		}
		br__group_maybe_forget(grp);
	}
	free(v);
}
