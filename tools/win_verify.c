/*
 * win_verify.c -- `rewind windows verify A B`: reads two output topics of
 * `rewind windows` to their ends, keeps the latest value per key (a window
 * identity; a tombstone deletes it), as compaction would, and compares
 * them byte for byte: "identical: N windows" (exit 0) or the differences
 * (exit 2). Keys are compared as sorted strings, so the report's order is
 * fixed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "tools/tools.h"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("rewind windows verify: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CMD_EXIT_ERROR;
}


struct vrec {
	char *key, *value;            /* owned; value NULL = tombstone */
	int32_t partition;
	int64_t offset;
};

struct vset {
	struct vrec *r;
	size_t n, cap;
};

static char *dup_bytes(const uint8_t *p, int32_t len)
{
	if (p == NULL || len < 0)
		return NULL;
	char *s = malloc((size_t)len + 1);
	if (s) {
		memcpy(s, p, (size_t)len);
		s[len] = '\0';
	}
	return s;
}

static int vrec_cmp(const void *pa, const void *pb)
{
	const struct vrec *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);
	if (c)
		return c;
	if (a->partition != b->partition)
		return a->partition < b->partition ? -1 : 1;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static void vset_free(struct vset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->r[i].key);
		free(s->r[i].value);
	}
	free(s->r);
}

/* Reads topic to its end; s holds the latest live value per key, sorted. */
static int read_latest(const struct windows_args *a, const char *topic, struct vset *s)
{
	char err[512];
	cl_opts o = { .client_id = "rewind-windows-verify", .request_timeout_ms = a->timeout_ms };
	cl_client *cl = NULL;
	cl_metadata *md = NULL;
	cl_consumer *c = NULL;
	int rc = CMD_EXIT_ERROR;
	const char *names[1] = { topic };

	if (cmd_client_open(a->bootstrap, &o, &cl, err, sizeof err) < 0) {
		fail("%s", err);
		goto out;
	}
	if (cl_metadata_get(cl, names, 1, &md) < 0) {
		fail("metadata from %s: %s", a->bootstrap, cl_client_errmsg(cl));
		goto out;
	}
	const cl_topic_info *t = cl_metadata_topic(md, topic);
	if (t == NULL || t->error || t->n_partitions == 0) {
		fail("topic '%s' does not exist; 'rewind topics list' shows the topics there are",
		     topic);
		goto out;
	}
	cl_consumer_conf cc;
	cl_consumer_conf_init(&cc);
	cc.bootstrap = a->bootstrap;
	cc.client_id = "rewind-windows-verify";
	cc.enable_auto_commit = false;
	cc.max_partition_fetch_bytes = 8 << 20;
	cc.fetch_max_wait_ms = 100;
	if (a->timeout_ms > 0)
		cc.request_timeout_ms = a->timeout_ms;
	if (cl_consumer_new(&cc, &c, err, sizeof err) < 0) {
		fail("starting a consumer: %s", err);
		goto out;
	}
	cl_consumer_tp *tps = calloc(t->n_partitions, sizeof *tps);
	if (tps == NULL) {
		fail("out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->n_partitions; i++)
		tps[i] = (cl_consumer_tp){ topic, t->partitions[i].partition, CL_OFFSET_EARLIEST, 0 };
	int arc = cl_consumer_assign(c, tps, t->n_partitions);
	free(tps);
	if (arc < 0) {
		fail("assigning '%s': %s", topic, cl_strerror(arc));
		goto out;
	}
	int64_t idle_limit = (a->timeout_ms > 0 ? a->timeout_ms : 30000) * INT64_C(1000000);
	int64_t last = cmd_perf_now_ns();
	for (;;) {
		const cl_message *m;
		int n = cl_consumer_poll(c, 100, &m, 4096);
		if (n < 0) {
			fail("reading '%s': %s", topic, cl_consumer_errmsg(c));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			if (m[i].rec.key == NULL)
				continue;
			if (s->n == s->cap) {
				size_t cap = s->cap ? s->cap * 2 : 1024;
				struct vrec *r = realloc(s->r, cap * sizeof *r);
				if (r == NULL) {
					fail("out of memory");
					goto out;
				}
				s->r = r;
				s->cap = cap;
			}
			struct vrec *v = &s->r[s->n];
			v->key = dup_bytes(m[i].rec.key, m[i].rec.key_len);
			v->value = dup_bytes(m[i].rec.value, m[i].rec.value_len);
			v->partition = m[i].partition;
			v->offset = m[i].rec.offset;
			if (v->key == NULL || (m[i].rec.value && v->value == NULL)) {
				free(v->key);
				free(v->value);
				fail("out of memory");
				goto out;
			}
			s->n++;
		}
		if (n > 0)
			last = cmd_perf_now_ns();
		if (n == 0 && cl_consumer_at_end(c))
			break;
		if (cmd_perf_now_ns() - last > idle_limit) {
			fail("reading '%s' made no progress for %d ms (%s); is the broker up?", topic,
			     (int)(idle_limit / 1000000), cl_consumer_errmsg(c));
			goto out;
		}
	}
	/* Latest per key: sort by key then position, keep the last of each run,
	 * drop the deleted ones. */
	qsort(s->r, s->n, sizeof *s->r, vrec_cmp);
	size_t o2 = 0;
	for (size_t i = 0; i < s->n; i++) {
		bool last_of_key = i + 1 == s->n || strcmp(s->r[i].key, s->r[i + 1].key) != 0;
		if (last_of_key && s->r[i].value) {
			s->r[o2++] = s->r[i];
		} else {
			free(s->r[i].key);
			free(s->r[i].value);
		}
	}
	s->n = o2;
	rc = 0;
out:
	cl_consumer_close(c);
	cl_metadata_free(md);
	cl_client_free(cl);
	return rc;
}

int cmd_windows_verify(const struct windows_args *a)
{
	struct vset x = { 0 }, y = { 0 };
	int rc = CMD_EXIT_ERROR;
	if (read_latest(a, a->verify_a, &x) != 0 || read_latest(a, a->verify_b, &y) != 0)
		goto out;
	size_t i = 0, k = 0, only_a = 0, only_b = 0, differ = 0, same = 0;
	int shown = 0;
	while (i < x.n || k < y.n) {
		int c = i >= x.n ? 1 : k >= y.n ? -1 : strcmp(x.r[i].key, y.r[k].key);
		if (c < 0) {
			if (shown++ < a->max_diffs)
				printf("only in %s: %s\n  %s\n", a->verify_a, x.r[i].key, x.r[i].value);
			only_a++;
			i++;
		} else if (c > 0) {
			if (shown++ < a->max_diffs)
				printf("only in %s: %s\n  %s\n", a->verify_b, y.r[k].key, y.r[k].value);
			only_b++;
			k++;
		} else {
			if (strcmp(x.r[i].value, y.r[k].value) != 0) {
				if (shown++ < a->max_diffs)
					printf("differs: %s\n  %s: %s\n  %s: %s\n", x.r[i].key, a->verify_a,
					       x.r[i].value, a->verify_b, y.r[k].value);
				differ++;
			} else {
				same++;
			}
			i++;
			k++;
		}
	}
	size_t diffs = only_a + only_b + differ;
	if (diffs == 0) {
		printf("identical: %zu windows\n", same);
		rc = CMD_EXIT_OK;
	} else {
		if ((size_t)a->max_diffs < diffs)
			printf("... %zu more differences not shown (--max-diffs)\n",
			       diffs - (size_t)a->max_diffs);
		printf("different: %zu windows differ (%zu only in %s, %zu only in %s, %zu with other "
		       "values), %zu identical\n", diffs, only_a, a->verify_a, only_b, a->verify_b,
		       differ, same);
		rc = CMD_EXIT_PROBLEMS;
	}
out:
	vset_free(&x);
	vset_free(&y);
	return rc;
}
