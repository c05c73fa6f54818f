/*
 * offsets.c -- ListOffsets: a partition's earliest and latest offsets, and
 * the first offset at or after a timestamp.
 *
 * Each partition is asked at its leader (from Metadata), one request per
 * leader with the partitions grouped by topic, as Kafka's clients do.
 * Partitions the metadata cannot place get their error without a request.
 * The request's builder (cl__list_offsets_encode) and the grouping by topic
 * (cl__group_by_topic) serve the consumer's own ListOffsets too.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/cl_int.h"

int cl__group_by_topic(kp_arena *a, const char *const *names, const size_t *sel,
		       size_t nsel, struct cl__tgroup **out, size_t *nout)
{
	struct cl__tgroup *g = nsel ? kp_arena_calloc(a, nsel, sizeof *g) : NULL;
	size_t ng = 0;

	*out = NULL;
	*nout = 0;
	if (nsel && g == NULL)
		return KP_ERR_NOMEM;
	/* First pass: the topics and their sizes; second: the indexes. */
	for (size_t i = 0; i < nsel; i++) {
		const char *t = names[sel[i]];
		size_t k = 0;
		while (k < ng && strcmp(g[k].topic, t) != 0)
			k++;
		if (k == ng)
			g[ng++].topic = t;
		g[k].n++;
	}
	for (size_t k = 0; k < ng; k++) {
		g[k].idx = kp_arena_calloc(a, g[k].n, sizeof *g[k].idx);
		if (g[k].idx == NULL)
			return KP_ERR_NOMEM;
		g[k].n = 0;
	}
	for (size_t i = 0; i < nsel; i++) {
		size_t k = 0;
		while (strcmp(g[k].topic, names[sel[i]]) != 0)
			k++;
		g[k].idx[g[k].n++] = sel[i];
	}
	*out = g;
	*nout = ng;
	return 0;
}

int cl__list_offsets_encode(kp_buf *body, int16_t v, kp_arena *a, const struct cl__tgroup *g,
			    size_t ng, cl__part_ask_fn *ask, const void *arg)
{
	kp_ListOffsetsRequest rq;
	kp_ListOffsetsRequest_init(&rq);
	rq.ReplicaId = -1;
	rq.Topics.items = kp_arena_calloc(a, ng, sizeof *rq.Topics.items);
	if (rq.Topics.items == NULL)
		return KP_ERR_NOMEM;
	rq.Topics.count = (int32_t)ng;
	for (size_t k = 0; k < ng; k++) {
		kp_ListOffsetsRequest_ListOffsetsTopic *t = &rq.Topics.items[k];
		kp_ListOffsetsRequest_ListOffsetsTopic_init(t);
		t->Name = kp_str_from(g[k].topic);
		t->Partitions.items = kp_arena_calloc(a, g[k].n, sizeof *t->Partitions.items);
		if (t->Partitions.items == NULL)
			return KP_ERR_NOMEM;
		t->Partitions.count = (int32_t)g[k].n;
		for (size_t j = 0; j < g[k].n; j++) {
			kp_ListOffsetsRequest_ListOffsetsPartition *p = &t->Partitions.items[j];
			kp_ListOffsetsRequest_ListOffsetsPartition_init(p);
			ask(arg, g[k].idx[j], &p->PartitionIndex, &p->Timestamp);
			if (v == 0)
				p->MaxNumOffsets = 1;
		}
	}
	return kp_ListOffsetsRequest_encode(body, v, &rq);
}

const kp_ListOffsetsResponse_ListOffsetsPartitionResponse *
cl__list_offsets_find(const kp_ListOffsetsResponse *m, const char *topic, int32_t partition)
{
	const kp_ListOffsetsResponse_ListOffsetsPartitionResponse *found = NULL;
	for (int32_t ti = 0; ti < m->Topics.count; ti++) {
		const kp_ListOffsetsResponse_ListOffsetsTopicResponse *t = &m->Topics.items[ti];
		if (!cl__str_eq(t->Name, topic))
			continue;
		for (int32_t pi = 0; pi < t->Partitions.count; pi++)
			if (t->Partitions.items[pi].PartitionIndex == partition)
				found = &t->Partitions.items[pi];
	}
	return found;
}

/* cl__part_ask_fn over the caller's cl_list_offset array. */
static void entry_ask(const void *arg, size_t idx, int32_t *partition, int64_t *timestamp)
{
	const cl_list_offset *q = arg;
	*partition = q[idx].partition;
	*timestamp = q[idx].timestamp;
}

/* One ListOffsets request to `leader` for the entries sel[0..nsel). */
static int list_offsets_at(cl_client *c, int32_t leader, cl_list_offset *q,
			   const char *const *names, const size_t *sel, size_t nsel)
{
	kp_buf body, resp;
	kp_arena arena;
	cl_conn *conn;
	int16_t v;
	int rc;

	if ((rc = cl_client_broker(c, leader, &conn)) < 0)
		return rc;
	if ((rc = cl__version(c, conn, KP_API_LIST_OFFSETS, &v)) < 0)
		return rc;
	kp_buf_init(&body);
	kp_buf_init(&resp);
	kp_arena_init(&arena, 0);

	struct cl__tgroup *g;
	size_t ng;
	if ((rc = cl__group_by_topic(&arena, names, sel, nsel, &g, &ng)) < 0)
		goto nomem;
	rc = cl__list_offsets_encode(&body, v, &arena, g, ng, entry_ask, q);
	if (rc == KP_ERR_NOMEM)
		goto nomem;
	if (rc < 0) {
		cl__errf(c, "cannot encode ListOffsets v%d: %s", v, cl_strerror(rc));
		goto out;
	}
	if ((rc = cl__call(c, conn, KP_API_LIST_OFFSETS, v, &body, &resp)) < 0)
		goto out;
	kp_ListOffsetsResponse m;
	kp_reader r = kp_reader_make(resp.data, resp.len);
	if (kp_ListOffsetsResponse_decode(&r, v, &arena, &m) < 0) {
		cl__errf(c, "the ListOffsets v%d answer from broker %d does not parse", v, leader);
		rc = CL_ERR_PROTOCOL;
		goto out;
	}
	for (size_t i = 0; i < nsel; i++) {
		cl_list_offset *e = &q[sel[i]];
		const kp_ListOffsetsResponse_ListOffsetsPartitionResponse *p =
			cl__list_offsets_find(&m, e->topic, e->partition);
		/* An entry the answer leaves out: UNKNOWN_TOPIC_OR_PARTITION. */
		e->error = p ? p->ErrorCode : 3;
		e->offset = p ? p->Offset : -1;
		e->found_timestamp = p ? p->Timestamp : -1;
	}
	rc = 0;
	goto out;
nomem:
	rc = -ENOMEM;
	cl__errf(c, "out of memory building ListOffsets");
out:
	kp_buf_free(&body);
	kp_buf_free(&resp);
	kp_arena_free(&arena);
	return rc;
}

int cl_list_offsets(cl_client *c, cl_list_offset *q, size_t n)
{
	kp_arena a;
	cl_metadata *md = NULL;
	int rc;

	if (n == 0)
		return 0;
	kp_arena_init(&a, 0);
	const char **names = kp_arena_calloc(&a, n, sizeof *names);
	int32_t *leader = kp_arena_calloc(&a, n, sizeof *leader);
	size_t *sel = kp_arena_calloc(&a, n, sizeof *sel);
	size_t nuniq = 0;
	if (names == NULL || leader == NULL || sel == NULL) {
		rc = -ENOMEM;
		cl__errf(c, "out of memory");
		goto out;
	}
	/* Unique topic names for one Metadata request. */
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < nuniq && strcmp(names[k], q[i].topic) != 0)
			k++;
		if (k == nuniq)
			names[nuniq++] = q[i].topic;
	}
	if ((rc = cl_metadata_get(c, names, nuniq, &md)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const cl_topic_info *t = cl_metadata_topic(md, q[i].topic);
		q[i].offset = -1;
		q[i].found_timestamp = -1;
		leader[i] = -1;
		names[i] = q[i].topic;
		if (t == NULL || t->error != 0) {
			q[i].error = t ? t->error : 3;
			continue;
		}
		const cl_partition_info *p = NULL;
		for (size_t j = 0; j < t->n_partitions; j++)
			if (t->partitions[j].partition == q[i].partition)
				p = &t->partitions[j];
		if (p == NULL) {
			q[i].error = 3; /* UNKNOWN_TOPIC_OR_PARTITION */
			continue;
		}
		if (p->leader < 0) {
			q[i].error = 5; /* LEADER_NOT_AVAILABLE */
			continue;
		}
		q[i].error = 0;
		leader[i] = p->leader;
	}
	/* One request per leader. */
	for (size_t i = 0; i < n; i++) {
		if (leader[i] < 0)
			continue;
		int32_t l = leader[i];
		size_t ns = 0;
		for (size_t j = i; j < n; j++)
			if (leader[j] == l) {
				sel[ns++] = j;
				leader[j] = -1;
			}
		if ((rc = list_offsets_at(c, l, q, names, sel, ns)) < 0)
			goto out;
	}
	rc = 0;
out:
	cl_metadata_free(md);
	kp_arena_free(&a);
	return rc;
}
