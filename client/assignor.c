/*
 * assignor.c -- the consumer group protocol's bytes and the client-side
 * assignors a group leader runs: range and roundrobin, each giving exactly
 * the assignment Kafka's Java RangeAssignor / RoundRobinAssignor give for
 * the same members and partition counts, so a group may mix rewind with
 * Java or librdkafka members that pick the same assignor.
 *
 * Ordering rules (Java's AbstractPartitionAssignor.MemberInfo.compareTo):
 * members with a group.instance.id come first, ordered by it; the others
 * follow, ordered by member id. Strings compare byte by byte (strcmp):
 * Java compares UTF-16 units, which orders every string made of code
 * points below U+D800 the same way as their UTF-8 bytes; member and
 * instance ids are ASCII in practice.
 *
 *   range       per topic: its subscribers in member order, partitions
 *               0..n-1 cut in consecutive runs, the first n % members
 *               subscribers one partition more;
 *   roundrobin  every partition of every subscribed topic, topics in name
 *               order then partition order, dealt to all members in member
 *               order round a circle, skipping members that do not
 *               subscribe to the partition's topic.
 * A topic whose partition count is unknown (absent or < 0) gets no
 * assignment, as Java skips topics without metadata.
 *
 * Consumer protocol bytes (ConsumerProtocolSubscription / Assignment,
 * big-endian, Kafka's classic encoding): int16 version, then
 *   subscription: [string topic] (int32 count), bytes user_data (int32
 *                 length, -1 null); v1+: owned partitions; v2+:
 *                 generation; v3+: rack -- read and ignored here;
 *   assignment:   [string topic, [int32 partition]], bytes user_data.
 * rewind writes version 0 with null user data (every client reads it).
 *
 * Pure: no I/O, arrays from the caller's arena. @locality any
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/cl_int.h"

const char *cl_assignor_name(enum cl_assignor a)
{
	switch (a) {
	case CL_ASSIGNOR_RANGE: return "range";
	case CL_ASSIGNOR_ROUNDROBIN: return "roundrobin";
	}
	return NULL;
}

int cl_assignor_parse(const char *name)
{
	if (name == NULL)
		return CL_ERR_ARG;
	if (strcmp(name, "range") == 0)
		return CL_ASSIGNOR_RANGE;
	if (strcmp(name, "roundrobin") == 0)
		return CL_ASSIGNOR_ROUNDROBIN;
	return CL_ERR_ARG;
}

/* ------------------------------------------------------ protocol bytes */

static void put_str(kp_buf *b, const char *s)
{
	size_t n = strlen(s);
	kp_buf_put_i16(b, (int16_t)n);
	kp_buf_put(b, s, n);
}

int cl_consumer_subscription_encode(kp_buf *out, const char *const *topics, size_t n)
{
	if (n > INT32_MAX)
		return CL_ERR_ARG;
	for (size_t i = 0; i < n; i++)
		if (topics[i] == NULL || strlen(topics[i]) > INT16_MAX)
			return CL_ERR_ARG;
	kp_buf_put_i16(out, 0);
	kp_buf_put_i32(out, (int32_t)n);
	for (size_t i = 0; i < n; i++)
		put_str(out, topics[i]);
	kp_buf_put_i32(out, -1); /* user data: null */
	return out->err;
}

/* Reads the version and the topic count, each topic at least `min_topic`
 * bytes; false when that does not fit the bytes left. */
static bool read_head(kp_reader *r, size_t min_topic, int32_t *n)
{
	int16_t version = kp_read_i16(r);
	*n = kp_read_i32(r);
	return kp_reader_ok(r) && version >= 0 && *n >= 0 &&
	       (size_t)*n <= kp_reader_left(r) / min_topic;
}

/* Reads a topic name (int16 length, never null) into *s (a view of the
 * bytes); false when it is null or runs short. */
static bool read_topic(kp_reader *r, kp_str *s)
{
	int16_t sl = kp_read_i16(r);
	if (sl < 0)
		return false;
	s->p = kp_read_bytes(r, (size_t)sl);
	s->len = sl;
	return kp_reader_ok(r);
}

int cl_consumer_subscription_parse(const uint8_t *p, size_t len, kp_arena *mem,
				   const char ***topics, size_t *n_topics)
{
	kp_reader r = kp_reader_make(p, len);
	int32_t n;

	*topics = NULL;
	*n_topics = 0;
	/* Each topic needs at least its int16 length. */
	if (!read_head(&r, 2, &n))
		return CL_ERR_PROTOCOL;
	const char **t = n ? kp_arena_calloc(mem, (size_t)n, sizeof *t) : NULL;
	if (n && t == NULL)
		return KP_ERR_NOMEM;
	for (int32_t i = 0; i < n; i++) {
		kp_str name;
		if (!read_topic(&r, &name))
			return CL_ERR_PROTOCOL;
		if ((t[i] = cl__strdup(mem, name)) == NULL)
			return KP_ERR_NOMEM;
	}
	/* user_data and the later versions' fields are not ours to read; a
	 * subscription that stops right after the topics is accepted too
	 * (some clients leave user_data out). */
	*topics = t;
	*n_topics = (size_t)n;
	return 0;
}

int cl_consumer_assignment_parse(const uint8_t *p, size_t len, kp_arena *mem,
				 cl_assigned_topic **topics, size_t *n_topics)
{
	kp_reader r = kp_reader_make(p, len);
	int32_t n;

	*topics = NULL;
	*n_topics = 0;
	if (len == 0)
		return 0; /* a member with nothing assigned (yet) */
	/* Each topic needs at least a string length and an array count. */
	if (!read_head(&r, 6, &n))
		return CL_ERR_PROTOCOL;
	cl_assigned_topic *t = n ? kp_arena_calloc(mem, (size_t)n, sizeof *t) : NULL;
	if (n && t == NULL)
		return KP_ERR_NOMEM;
	for (int32_t i = 0; i < n; i++) {
		kp_str name;
		if (!read_topic(&r, &name))
			return CL_ERR_PROTOCOL;
		int32_t np = kp_read_i32(&r);
		if (!kp_reader_ok(&r) || np < 0 || (size_t)np > kp_reader_left(&r) / 4)
			return CL_ERR_PROTOCOL;
		t[i].topic = cl__strdup(mem, name);
		t[i].n_partitions = (size_t)np;
		t[i].partitions = np ? kp_arena_calloc(mem, (size_t)np, sizeof(int32_t)) : NULL;
		if (t[i].topic == NULL || (np && t[i].partitions == NULL))
			return KP_ERR_NOMEM;
		for (int32_t j = 0; j < np; j++)
			t[i].partitions[j] = kp_read_i32(&r);
	}
	/* User data (and, from v1, owned partitions' generation) follow; they
	 * are the assignor's business. */
	if (!kp_reader_ok(&r))
		return CL_ERR_PROTOCOL;
	*topics = t;
	*n_topics = (size_t)n;
	return 0;
}

int cl_consumer_assignment_encode(kp_buf *out, const cl_assigned_topic *t, size_t n)
{
	if (n > INT32_MAX)
		return CL_ERR_ARG;
	for (size_t i = 0; i < n; i++)
		if (t[i].topic == NULL || strlen(t[i].topic) > INT16_MAX ||
		    t[i].n_partitions > INT32_MAX)
			return CL_ERR_ARG;
	kp_buf_put_i16(out, 0);
	kp_buf_put_i32(out, (int32_t)n);
	for (size_t i = 0; i < n; i++) {
		put_str(out, t[i].topic);
		kp_buf_put_i32(out, (int32_t)t[i].n_partitions);
		for (size_t j = 0; j < t[i].n_partitions; j++)
			kp_buf_put_i32(out, t[i].partitions[j]);
	}
	kp_buf_put_i32(out, -1); /* user data: null */
	return out->err;
}

/* ------------------------------------------------------------ assignors */

/* Java's MemberInfo order. */
static int member_cmp(const cl_group_subscriber *a, const cl_group_subscriber *b)
{
	if (a->group_instance_id && b->group_instance_id)
		return strcmp(a->group_instance_id, b->group_instance_id);
	if (a->group_instance_id)
		return -1;
	if (b->group_instance_id)
		return 1;
	return strcmp(a->member_id, b->member_id);
}

/* Insertion sort of member indexes (groups are small; stable). */
static void sort_members(const cl_group_subscriber *m, size_t *idx, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		size_t v = idx[i], j = i;
		while (j > 0 && member_cmp(&m[idx[j - 1]], &m[v]) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = v;
	}
}

static bool subscribes(const cl_group_subscriber *m, const char *topic)
{
	for (size_t i = 0; i < m->n_topics; i++)
		if (strcmp(m->topics[i], topic) == 0)
			return true;
	return false;
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The partition count of topic, or -1 when unknown. */
static int32_t count_of(const cl_topic_count *tc, size_t nt, const char *topic)
{
	for (size_t i = 0; i < nt; i++)
		if (strcmp(tc[i].topic, topic) == 0)
			return tc[i].partitions;
	return -1;
}

/* The distinct subscribed topics with a known partition count, sorted by
 * name (Java's TreeSet), from mem. */
static int topics_sorted(const cl_group_subscriber *m, size_t n, const cl_topic_count *tc,
			 size_t nt, kp_arena *mem, const char ***out, size_t *nout)
{
	size_t cap = 0, k = 0;
	for (size_t i = 0; i < n; i++)
		cap += m[i].n_topics;
	const char **t = cap ? kp_arena_calloc(mem, cap, sizeof *t) : NULL;
	if (cap && t == NULL)
		return KP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m[i].n_topics; j++) {
			const char *s = m[i].topics[j];
			bool seen = false;
			for (size_t x = 0; x < k && !seen; x++)
				seen = strcmp(t[x], s) == 0;
			if (!seen && count_of(tc, nt, s) >= 0)
				t[k++] = s;
		}
	if (k > 1)
		qsort(t, k, sizeof *t, str_ptr_cmp);
	*out = t;
	*nout = k;
	return 0;
}

/*
 * Result under construction: per member a fixed row per topic of `topics`
 * (partitions appended in order), compacted to the non-empty topics at the
 * end.
 */
struct build {
	cl_member_assignment *out;    /* n members */
	int32_t **parts;              /* [member * nt + topic], capacity = count */
	size_t *nparts;
	size_t nt;
};

static int build_init(struct build *b, const cl_group_subscriber *m, size_t n,
		      const char *const *topics, const int32_t *counts, size_t nt,
		      kp_arena *mem)
{
	size_t cells = n * nt;
	b->nt = nt;
	b->out = n ? kp_arena_calloc(mem, n, sizeof *b->out) : NULL;
	b->parts = cells ? kp_arena_calloc(mem, cells, sizeof *b->parts) : NULL;
	b->nparts = cells ? kp_arena_calloc(mem, cells, sizeof *b->nparts) : NULL;
	if ((n && b->out == NULL) || (cells && (b->parts == NULL || b->nparts == NULL)))
		return KP_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		b->out[i].member_id = m[i].member_id;
		for (size_t t = 0; t < nt; t++) {
			if (counts[t] == 0 || !subscribes(&m[i], topics[t]))
				continue;
			b->parts[i * nt + t] = kp_arena_calloc(mem, (size_t)counts[t], sizeof(int32_t));
			if (b->parts[i * nt + t] == NULL)
				return KP_ERR_NOMEM;
		}
	}
	return 0;
}

static int build_finish(struct build *b, size_t n, const char *const *topics, kp_arena *mem)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		for (size_t t = 0; t < b->nt; t++)
			k += b->nparts[i * b->nt + t] > 0;
		b->out[i].topics = k ? kp_arena_calloc(mem, k, sizeof *b->out[i].topics) : NULL;
		if (k && b->out[i].topics == NULL)
			return KP_ERR_NOMEM;
		k = 0;
		for (size_t t = 0; t < b->nt; t++) {
			size_t np = b->nparts[i * b->nt + t];
			if (np == 0)
				continue;
			b->out[i].topics[k].topic = topics[t];
			b->out[i].topics[k].partitions = b->parts[i * b->nt + t];
			b->out[i].topics[k].n_partitions = np;
			k++;
		}
		b->out[i].n_topics = k;
	}
	return 0;
}

static int assign_common(enum cl_assignor how, const cl_group_subscriber *m, size_t n,
			 const cl_topic_count *tc, size_t nt_in, kp_arena *mem,
			 cl_member_assignment **out)
{
	const char **topics;
	size_t nt;
	struct build b;
	int rc;

	*out = NULL;
	if ((rc = topics_sorted(m, n, tc, nt_in, mem, &topics, &nt)) < 0)
		return rc;
	int32_t *counts = nt ? kp_arena_calloc(mem, nt, sizeof *counts) : NULL;
	size_t *order = n ? kp_arena_calloc(mem, n, sizeof *order) : NULL;
	if ((nt && counts == NULL) || (n && order == NULL))
		return KP_ERR_NOMEM;
	for (size_t t = 0; t < nt; t++)
		counts[t] = count_of(tc, nt_in, topics[t]);
	if ((rc = build_init(&b, m, n, topics, counts, nt, mem)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	sort_members(m, order, n);

	if (how == CL_ASSIGNOR_RANGE) {
		size_t *subs = n ? kp_arena_calloc(mem, n, sizeof *subs) : NULL;
		if (n && subs == NULL)
			return KP_ERR_NOMEM;
		for (size_t t = 0; t < nt; t++) {
			size_t ns = 0;
			for (size_t i = 0; i < n; i++)
				if (subscribes(&m[order[i]], topics[t]))
					subs[ns++] = order[i];
			if (ns == 0)
				continue;
			size_t per = (size_t)counts[t] / ns, extra = (size_t)counts[t] % ns;
			for (size_t i = 0; i < ns; i++) {
				size_t start = per * i + (i < extra ? i : extra);
				size_t len = per + (i < extra ? 1 : 0);
				size_t cell = subs[i] * nt + t;
				for (size_t p = start; p < start + len; p++)
					b.parts[cell][b.nparts[cell]++] = (int32_t)p;
			}
		}
	} else {
		size_t next = 0; /* the circle's position, in `order` */
		for (size_t t = 0; t < nt && n > 0; t++)
			for (int32_t p = 0; p < counts[t]; p++) {
				/* Some member subscribes to every topic in `topics`. */
				while (!subscribes(&m[order[next]], topics[t]))
					next = (next + 1) % n;
				size_t cell = order[next] * nt + t;
				b.parts[cell][b.nparts[cell]++] = p;
				next = (next + 1) % n;
			}
	}
	if ((rc = build_finish(&b, n, topics, mem)) < 0)
		return rc;
	*out = b.out;
	return 0;
}

int cl_assign(enum cl_assignor how, const cl_group_subscriber *members, size_t n,
	      const cl_topic_count *counts, size_t n_counts, kp_arena *mem,
	      cl_member_assignment **out)
{
	if (how != CL_ASSIGNOR_RANGE && how != CL_ASSIGNOR_ROUNDROBIN)
		return CL_ERR_ARG;
	for (size_t i = 0; i < n; i++)
		if (members[i].member_id == NULL)
			return CL_ERR_ARG;
	int rc = assign_common(how, members, n, counts, n_counts, mem, out);
	if (rc == 0 && mem->err)
		rc = KP_ERR_NOMEM;
	return rc;
}
