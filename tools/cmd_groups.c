/*
 * cmd_groups.c -- `rewind groups`: consumer groups and their committed
 * offsets, like Kafka's kafka-consumer-groups.
 *
 *   list            ListGroups at every broker
 *   describe G      DescribeGroups + OffsetFetch + ListOffsets(latest):
 *                   members, assignment, committed offset, log end, lag
 *   reset-offsets G plan new offsets (Kafka's rules, groups_plan.c), print
 *                   the plan, and with --execute commit it as an admin
 *                   (generation -1, no member id); refused while the group
 *                   has members, as Kafka refuses
 *   delete G        DeleteGroups
 *   delete-offsets  OffsetDelete for --topic partitions
 *
 * Everything goes through client/ (blocking helpers). Output: tables on
 * stdout; every error on stderr says what failed and what to try; the exit
 * status is CMD_EXIT_OK or CMD_EXIT_ERROR.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "tools/tools.h"

/* ---------------------------------------------------------------- help */

static const char *const help_main =
	"usage: rewind groups ACTION [ARGS...] [--bootstrap HOST:PORT[,...]]\n"
	"\n"
	"Consumer groups and their committed offsets (like kafka-consumer-groups).\n"
	"\n"
	"actions:\n"
	"  list                           the groups the cluster knows\n"
	"  describe GROUP                 members, assignment, committed offsets, lag\n"
	"  reset-offsets GROUP ...        move the group's committed offsets (to replay)\n"
	"  delete GROUP                   delete an inactive group and its offsets\n"
	"  delete-offsets GROUP --topic T[:P,...]\n"
	"                                 delete the group's offsets for partitions\n"
	"\n"
	"common options:\n"
	"  --bootstrap HOST:PORT[,...]    brokers to start from (default " GROUPS_DEFAULT_BOOTSTRAP ");\n"
	"                                 --bootstrap-server and -b are the same\n"
	"  --timeout MS                   how long to wait for each answer (default 30000)\n"
	"  -h, --help                     help; 'rewind groups ACTION --help' for an action\n";

static const char *const help_list =
	"usage: rewind groups list [--state] [--bootstrap HOST:PORT]\n"
	"\n"
	"Prints the name of every group the brokers coordinate, one per line.\n"
	"  --state    print a table with each group's state and protocol type\n";

static const char *const help_describe =
	"usage: rewind groups describe GROUP [--bootstrap HOST:PORT]\n"
	"\n"
	"Prints the group's state and, per partition it has offsets for or is\n"
	"assigned: committed offset, log end offset, lag (log end - committed) and\n"
	"the member consuming it; then each member with its client id, host and\n"
	"assignment.\n";

static const char *const help_reset =
	"usage: rewind groups reset-offsets GROUP (--topic T[:P,...]... | --all-topics)\n"
	"                                   SPEC [--dry-run | --execute]\n"
	"\n"
	"Moves the group's committed offsets, so its consumers replay (or skip) from\n"
	"there when they next start. The group must be inactive (no members): stop\n"
	"its consumers first. Without --execute nothing changes and the plan is\n"
	"printed (--dry-run is the default).\n"
	"\n"
	"SPEC is one of:\n"
	"  --to-earliest          the first offset still in the log\n"
	"  --to-latest            the log end (skip everything there now)\n"
	"  --to-offset N          offset N (moved into [log start, log end])\n"
	"  --shift-by N           committed offset + N (N < 0 goes back; moved into\n"
	"                         [log start, log end]; needs a committed offset)\n"
	"  --to-datetime TIME     the first offset with a timestamp at or after TIME,\n"
	"                         or the log end if none; TIME is ISO 8601, e.g.\n"
	"                         2024-05-01T12:00:00Z, 2024-05-01T12:00:00.000+02:00\n"
	"                         (local time when no zone is given)\n"
	"  --by-duration PnDTnHnM as --to-datetime at now minus the duration,\n"
	"                         e.g. PT30M, P1DT2H, PT1H30M\n"
	"\n"
	"  --topic T              every partition of topic T (repeatable)\n"
	"  --topic T:0,2          partitions 0 and 2 of T\n"
	"  --all-topics           every partition the group has committed offsets for\n"
	"  --dry-run              print the plan only (default)\n"
	"  --execute              commit the plan\n";

static const char *const help_delete =
	"usage: rewind groups delete GROUP [--bootstrap HOST:PORT]\n"
	"\n"
	"Deletes the group and all its committed offsets. The group must be\n"
	"inactive (no members).\n";

static const char *const help_delete_offsets =
	"usage: rewind groups delete-offsets GROUP --topic T[:P,...]... [--bootstrap HOST:PORT]\n"
	"\n"
	"Deletes the group's committed offsets for the given partitions (every\n"
	"partition of T without ':P,...'). The broker refuses partitions of topics\n"
	"the group's active members are subscribed to (GROUP_SUBSCRIBED_TO_TOPIC).\n";

static const char *help_for(enum groups_action a)
{
	switch (a) {
	case GROUPS_LIST: return help_list;
	case GROUPS_DESCRIBE: return help_describe;
	case GROUPS_RESET_OFFSETS: return help_reset;
	case GROUPS_DELETE: return help_delete;
	case GROUPS_DELETE_OFFSETS: return help_delete_offsets;
	default: return help_main;
	}
}

static const char *action_name(enum groups_action a)
{
	switch (a) {
	case GROUPS_LIST: return "list";
	case GROUPS_DESCRIBE: return "describe";
	case GROUPS_RESET_OFFSETS: return "reset-offsets";
	case GROUPS_DELETE: return "delete";
	case GROUPS_DELETE_OFFSETS: return "delete-offsets";
	default: return "";
	}
}

/* ------------------------------------------------------------- helpers */

struct ctx {
	const struct groups_args *a;
	cl_client *cl;
};

static int fail(const struct ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(const struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rewind groups %s: ", action_name(x->a->action));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CMD_EXIT_ERROR;
}

/* A client-side failure: what we were doing, then the client's sentence. */
static int fail_client(const struct ctx *x, const char *doing)
{
	return fail(x, "%s: %s", doing, cl_client_errmsg(x->cl));
}

static const char *fmt_i64(char *buf, size_t n, int64_t v)
{
	if (v < 0)
		return "-";
	snprintf(buf, n, "%" PRId64, v);
	return buf;
}

/* "NAME (description)" of a Kafka error code. */
static const char *kerr(char *buf, size_t n, int16_t code)
{
	const char *name = cl_kafka_err_name(code);
	if (name)
		snprintf(buf, n, "%s (%s)", name, cl_kafka_err_desc(code));
	else
		snprintf(buf, n, "Kafka error %d", code);
	return buf;
}

/* A group that the coordinator does not know: GROUP_ID_NOT_FOUND, or the
 * "Dead" state older coordinators answer. */
static bool group_unknown(const cl_group_desc *d)
{
	return d->error == 69 || (d->error == 0 && strcmp(d->state, "Dead") == 0);
}

/* A group whose offsets may be reset: no members, not rebalancing. */
static bool group_inactive(const cl_group_desc *d)
{
	return group_unknown(d) || (d->error == 0 && d->n_members == 0 &&
				    strcmp(d->state, "Empty") == 0);
}

static int describe_group(struct ctx *x, cl_group_desc **d)
{
	if (cl_describe_group(x->cl, x->a->group, d) < 0)
		return fail_client(x, "cannot describe the group");
	if ((*d)->error != 0 && !group_unknown(*d)) {
		char eb[200];
		int16_t code = (*d)->error;
		cl_group_desc_free(*d);
		*d = NULL;
		return fail(x, "the coordinator answered DescribeGroups for '%s' with %s%s",
			    x->a->group, kerr(eb, sizeof eb, code),
			    code == 24 ? "; check the group id" : "; try again shortly");
	}
	return 0;
}

/* ---------------------------------------------------------------- list */

static int do_list(struct ctx *x)
{
	cl_group_list *l;
	if (cl_list_groups(x->cl, &l) < 0)
		return fail_client(x, "cannot list groups");
	if (x->a->state) {
		struct cmd_table t;
		cmd_table_init(&t, 3);
		cmd_table_row(&t, "GROUP", "STATE", "PROTOCOL-TYPE");
		for (size_t i = 0; i < l->n_groups; i++)
			cmd_table_row(&t, l->groups[i].group,
				  l->groups[i].state[0] ? l->groups[i].state : "-",
				  l->groups[i].protocol_type[0] ? l->groups[i].protocol_type : "-");
		cmd_table_print(&t, stdout);
		cmd_table_free(&t);
	} else {
		for (size_t i = 0; i < l->n_groups; i++)
			printf("%s\n", l->groups[i].group);
	}
	cl_group_list_free(l);
	return CMD_EXIT_OK;
}

/* ------------------------------------------------------------ describe */

/* One partition row of describe. */
struct drow {
	const char *topic;
	int32_t partition;
	int64_t committed;
	const cl_group_member *owner;
};

static int drow_cmp(const void *a, const void *b)
{
	const struct drow *x = a, *y = b;
	int t = strcmp(x->topic, y->topic);
	return t ? t : (x->partition > y->partition) - (x->partition < y->partition);
}

static struct drow *drow_find(struct drow *rows, size_t n, const char *topic, int32_t p)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].partition == p && strcmp(rows[i].topic, topic) == 0)
			return &rows[i];
	return NULL;
}

static int do_describe(struct ctx *x)
{
	cl_group_desc *d = NULL;
	cl_group_offsets *o = NULL;
	struct drow *rows = NULL;
	cl_list_offset *q = NULL;
	size_t n = 0, cap;
	int rc = CMD_EXIT_ERROR;

	if (describe_group(x, &d) != 0)
		return CMD_EXIT_ERROR;
	if (cl_offset_fetch(x->cl, x->a->group, &o) < 0) {
		fail_client(x, "cannot fetch the group's committed offsets");
		goto out;
	}
	if (group_unknown(d) && o->n_offsets == 0) {
		fail(x, "consumer group '%s' does not exist; 'rewind groups list' shows the groups",
		     x->a->group);
		goto out;
	}
	cap = o->n_offsets;
	for (size_t i = 0; i < d->n_members; i++)
		for (size_t j = 0; j < d->members[i].n_assignment; j++)
			cap += d->members[i].assignment[j].n_partitions;
	rows = calloc(cap ? cap : 1, sizeof *rows);
	if (rows == NULL) {
		fail(x, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < o->n_offsets; i++) {
		if (o->offsets[i].offset < 0 && o->offsets[i].error == 0)
			continue;
		rows[n++] = (struct drow){ o->offsets[i].topic, o->offsets[i].partition,
					   o->offsets[i].offset, NULL };
	}
	for (size_t i = 0; i < d->n_members; i++)
		for (size_t j = 0; j < d->members[i].n_assignment; j++) {
			const cl_assigned_topic *at = &d->members[i].assignment[j];
			for (size_t k = 0; k < at->n_partitions; k++) {
				struct drow *r = drow_find(rows, n, at->topic, at->partitions[k]);
				if (r == NULL) {
					r = &rows[n++];
					*r = (struct drow){ at->topic, at->partitions[k], -1, NULL };
				}
				r->owner = &d->members[i];
			}
		}
	if (n)
		qsort(rows, n, sizeof *rows, drow_cmp);

	q = calloc(n ? n : 1, sizeof *q);
	if (q == NULL) {
		fail(x, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		q[i] = (cl_list_offset){ .topic = rows[i].topic, .partition = rows[i].partition,
					 .timestamp = CL_OFFSET_LATEST };
	if (cl_list_offsets(x->cl, q, n) < 0) {
		fail_client(x, "cannot read the partitions' log end offsets");
		goto out;
	}

	printf("Consumer group '%s': state %s, %zu member%s", x->a->group,
	       group_unknown(d) ? "Dead (no members, offsets only)" : d->state,
	       d->n_members, d->n_members == 1 ? "" : "s");
	if (d->protocol_type[0])
		printf(", protocol %s%s%s", d->protocol_type, d->protocol[0] ? "/" : "", d->protocol);
	printf("\n\n");

	struct cmd_table t;
	cmd_table_init(&t, 8);
	cmd_table_row(&t, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
		  "CONSUMER-ID", "HOST", "CLIENT-ID");
	for (size_t i = 0; i < n; i++) {
		char pb[16], cb[24], eb[24], lb[24];
		snprintf(pb, sizeof pb, "%d", rows[i].partition);
		int64_t leo = q[i].error == 0 ? q[i].offset : -1;
		int64_t lag = rows[i].committed >= 0 && leo >= 0 ? leo - rows[i].committed : -1;
		if (lag < -1)
			lag = 0;
		const cl_group_member *m = rows[i].owner;
		cmd_table_row(&t, rows[i].topic, pb, fmt_i64(cb, sizeof cb, rows[i].committed),
			  fmt_i64(eb, sizeof eb, leo), fmt_i64(lb, sizeof lb, lag),
			  m ? m->member_id : "-", m ? m->client_host : "-", m ? m->client_id : "-");
	}
	if (n)
		cmd_table_print(&t, stdout);
	else
		printf("The group has no committed offsets and no assigned partitions.\n");
	cmd_table_free(&t);
	for (size_t i = 0; i < n; i++)
		if (q[i].error != 0) {
			char eb[200];
			fprintf(stderr, "rewind groups describe: %s-%d: no log end offset: %s\n",
				rows[i].topic, rows[i].partition, kerr(eb, sizeof eb, q[i].error));
		}

	printf("\n");
	if (d->n_members == 0) {
		printf("Consumer group '%s' has no active members.\n", x->a->group);
	} else {
		cmd_table_init(&t, 6);
		cmd_table_row(&t, "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS",
			  "ASSIGNMENT");
		for (size_t i = 0; i < d->n_members; i++) {
			const cl_group_member *m = &d->members[i];
			char asg[1024] = "", np[16];
			size_t used = 0, total = 0;
			for (size_t j = 0; j < m->n_assignment; j++) {
				const cl_assigned_topic *at = &m->assignment[j];
				total += at->n_partitions;
				if (used < sizeof asg)
					used += (size_t)snprintf(asg + used, sizeof asg - used, "%s%s:",
								 j ? " " : "", at->topic);
				for (size_t k = 0; k < at->n_partitions && used < sizeof asg; k++)
					used += (size_t)snprintf(asg + used, sizeof asg - used, "%s%d",
								 k ? "," : "", at->partitions[k]);
			}
			if (!m->assignment_ok)
				snprintf(asg, sizeof asg, "(%zu bytes, not a consumer assignment)",
					 m->raw_assignment_len);
			snprintf(np, sizeof np, "%zu", total);
			cmd_table_row(&t, m->member_id, m->group_instance_id ? m->group_instance_id : "-",
				  m->client_host, m->client_id, m->assignment_ok ? np : "-",
				  asg[0] ? asg : "-");
		}
		cmd_table_print(&t, stdout);
		cmd_table_free(&t);
	}
	rc = CMD_EXIT_OK;
out:
	free(q);
	free(rows);
	cl_group_offsets_free(o);
	cl_group_desc_free(d);
	return rc;
}

/* ---------------------------------------------------------- partitions */

/* The partitions named by --topic arguments, checked against metadata. */
struct tp_list {
	const char **topic;      /* borrowed from metadata or args */
	int32_t *partition;
	size_t n;
};

static void tp_list_free(struct tp_list *l)
{
	free(l->topic);
	free(l->partition);
}

static int tp_add(struct tp_list *l, size_t *cap, const char *topic, int32_t p)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->partition[i] == p && strcmp(l->topic[i], topic) == 0)
			return 0;
	if (l->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		const char **t = realloc(l->topic, nc * sizeof *t);
		if (t == NULL)
			return -1;
		l->topic = t;
		int32_t *pp = realloc(l->partition, nc * sizeof *pp);
		if (pp == NULL)
			return -1;
		l->partition = pp;
		*cap = nc;
	}
	l->topic[l->n] = topic;
	l->partition[l->n++] = p;
	return 0;
}

/* Expands the --topic arguments with metadata md (held by the caller while
 * l is used). */
static int resolve_topics(struct ctx *x, const cl_metadata *md, struct tp_list *l)
{
	size_t cap = 0;
	for (size_t i = 0; i < x->a->n_topics; i++) {
		const struct groups_topic *gt = &x->a->topics[i];
		const cl_topic_info *t = cl_metadata_topic(md, gt->topic);
		if (t == NULL || t->error != 0) {
			char eb[200];
			return fail(x, "topic '%s': %s; check the name (kcat -L lists the topics)",
				    gt->topic, kerr(eb, sizeof eb, t ? t->error : 3));
		}
		if (gt->partitions == NULL) {
			for (size_t j = 0; j < t->n_partitions; j++)
				if (tp_add(l, &cap, t->name, t->partitions[j].partition) < 0)
					return fail(x, "out of memory");
			continue;
		}
		for (size_t k = 0; k < gt->n_partitions; k++) {
			bool found = false;
			for (size_t j = 0; j < t->n_partitions; j++)
				found |= t->partitions[j].partition == gt->partitions[k];
			if (!found)
				return fail(x, "topic '%s' has no partition %d (it has %zu: 0..%zu)",
					    gt->topic, gt->partitions[k], t->n_partitions,
					    t->n_partitions ? t->n_partitions - 1 : 0);
			if (tp_add(l, &cap, t->name, gt->partitions[k]) < 0)
				return fail(x, "out of memory");
		}
	}
	return 0;
}

static int metadata_for_args(struct ctx *x, cl_metadata **md)
{
	const char **names = calloc(x->a->n_topics ? x->a->n_topics : 1, sizeof *names);
	if (names == NULL)
		return fail(x, "out of memory");
	for (size_t i = 0; i < x->a->n_topics; i++)
		names[i] = x->a->topics[i].topic;
	int rc = cl_metadata_get(x->cl, names, x->a->n_topics, md);
	free(names);
	if (rc < 0)
		return fail_client(x, "cannot read the topics' metadata");
	return 0;
}

/* ------------------------------------------------------- reset-offsets */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ListOffsets with one timestamp for every row; answers into *out. */
static int offsets_at(struct ctx *x, const struct tp_list *l, int64_t ts, int64_t *out,
		      const char *what)
{
	cl_list_offset *q = calloc(l->n ? l->n : 1, sizeof *q);
	int rc = 0;
	if (q == NULL)
		return fail(x, "out of memory");
	for (size_t i = 0; i < l->n; i++)
		q[i] = (cl_list_offset){ .topic = l->topic[i], .partition = l->partition[i],
					 .timestamp = ts };
	if (cl_list_offsets(x->cl, q, l->n) < 0) {
		rc = fail_client(x, what);
		goto out;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (q[i].error != 0) {
			char eb[200];
			rc = fail(x, "%s: partition %s-%d: %s; try again, or check the topic",
				  what, l->topic[i], l->partition[i], kerr(eb, sizeof eb, q[i].error));
			goto out;
		}
		out[i] = q[i].offset;
	}
out:
	free(q);
	return rc;
}

static int do_reset(struct ctx *x)
{
	const struct groups_args *a = x->a;
	cl_group_desc *d = NULL;
	cl_group_offsets *o = NULL;
	cl_metadata *md = NULL;
	struct tp_list l = { 0 };
	struct groups_plan_row *rows = NULL;
	int64_t *start = NULL, *end = NULL, *by_time = NULL;
	cl_tp_offset *commit = NULL;
	int rc = CMD_EXIT_ERROR;

	if (describe_group(x, &d) != 0)
		return CMD_EXIT_ERROR;
	if (!group_inactive(d)) {
		fail(x, "Assignments can only be reset if the group '%s' is inactive, but the "
		     "current state is %s (%zu member%s). Stop the group's consumers, wait for "
		     "their session to end, and try again ('rewind groups describe %s' shows them).",
		     a->group, d->state, d->n_members, d->n_members == 1 ? "" : "s", a->group);
		goto out;
	}
	if (cl_offset_fetch(x->cl, a->group, &o) < 0) {
		fail_client(x, "cannot fetch the group's committed offsets");
		goto out;
	}
	if (a->all_topics) {
		size_t cap = 0;
		for (size_t i = 0; i < o->n_offsets; i++)
			if (o->offsets[i].offset >= 0 &&
			    tp_add(&l, &cap, o->offsets[i].topic, o->offsets[i].partition) < 0) {
				fail(x, "out of memory");
				goto out;
			}
		if (l.n == 0) {
			fail(x, "group '%s' has no committed offsets, so --all-topics names no "
			     "partition; name them with --topic T", a->group);
			goto out;
		}
	} else {
		if (metadata_for_args(x, &md) != 0 || resolve_topics(x, md, &l) != 0)
			goto out;
	}

	rows = calloc(l.n, sizeof *rows);
	start = calloc(l.n, sizeof *start);
	end = calloc(l.n, sizeof *end);
	by_time = calloc(l.n, sizeof *by_time);
	if (!rows || !start || !end || !by_time) {
		fail(x, "out of memory");
		goto out;
	}
	if (offsets_at(x, &l, CL_OFFSET_EARLIEST, start, "cannot read the log start offsets") ||
	    offsets_at(x, &l, CL_OFFSET_LATEST, end, "cannot read the log end offsets"))
		goto out;
	if (a->reset == RESET_DATETIME || a->reset == RESET_DURATION) {
		int64_t ts = a->reset == RESET_DATETIME ? a->value : now_ms() - a->value;
		if (ts < 0)
			ts = 0;
		if (offsets_at(x, &l, ts, by_time, "cannot look up offsets by timestamp"))
			goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		rows[i] = (struct groups_plan_row){
			.topic = l.topic[i], .partition = l.partition[i], .current = -1,
			.log_start = start[i], .log_end = end[i], .by_time = by_time[i] };
		for (size_t j = 0; j < o->n_offsets; j++)
			if (o->offsets[j].partition == l.partition[i] &&
			    strcmp(o->offsets[j].topic, l.topic[i]) == 0)
				rows[i].current = o->offsets[j].offset;
	}
	if (cmd_groups_plan(a->reset, a->value, rows, l.n) > 0) {
		for (size_t i = 0; i < l.n; i++)
			if (rows[i].no_current)
				fail(x, "cannot shift partition %s-%d: group '%s' has no committed "
				     "offset there; use --to-earliest, --to-latest or --to-offset for it",
				     rows[i].topic, rows[i].partition, a->group);
		goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		if (rows[i].clamped)
			fprintf(stderr, "note: %s-%d: the asked offset is outside the log "
				"[%" PRId64 ", %" PRId64 "]; using %" PRId64 "\n",
				rows[i].topic, rows[i].partition, rows[i].log_start,
				rows[i].log_end, rows[i].target);

	struct cmd_table t;
	cmd_table_init(&t, 4);
	cmd_table_row(&t, "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET");
	for (size_t i = 0; i < l.n; i++) {
		char pb[16], cb[24], nb[24];
		snprintf(pb, sizeof pb, "%d", rows[i].partition);
		cmd_table_row(&t, rows[i].topic, pb, fmt_i64(cb, sizeof cb, rows[i].current),
			  fmt_i64(nb, sizeof nb, rows[i].target));
	}
	cmd_table_print(&t, stdout);
	cmd_table_free(&t);

	if (!a->execute) {
		printf("\nDry run: nothing was committed. Run again with --execute to commit "
		       "these offsets.\n");
		rc = CMD_EXIT_OK;
		goto out;
	}
	commit = calloc(l.n, sizeof *commit);
	if (commit == NULL) {
		fail(x, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		commit[i] = (cl_tp_offset){ .topic = l.topic[i], .partition = l.partition[i],
					    .offset = rows[i].target };
	if (cl_offset_commit(x->cl, a->group, commit, l.n) < 0) {
		fail_client(x, "cannot commit the new offsets");
		goto out;
	}
	size_t bad = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (commit[i].error == 0)
			continue;
		char eb[200];
		int16_t e = commit[i].error;
		bad++;
		fail(x, "committing %s-%d failed: %s%s", commit[i].topic, commit[i].partition,
		     kerr(eb, sizeof eb, e),
		     e == 25 || e == 22 || e == 27 || e == 68
			     ? "; a consumer joined the group meanwhile: stop it and run again"
			     : "; run the command again");
	}
	if (bad) {
		fail(x, "%zu of %zu partitions were not committed", bad, l.n);
		goto out;
	}
	printf("\nCommitted new offsets for %zu partition%s of group '%s'.\n", l.n,
	       l.n == 1 ? "" : "s", a->group);
	rc = CMD_EXIT_OK;
out:
	free(commit);
	free(by_time);
	free(end);
	free(start);
	free(rows);
	tp_list_free(&l);
	cl_metadata_free(md);
	cl_group_offsets_free(o);
	cl_group_desc_free(d);
	return rc;
}

/* -------------------------------------------------------------- delete */

static int do_delete(struct ctx *x)
{
	int rc = cl_delete_group(x->cl, x->a->group);
	if (rc == 0) {
		printf("Deleted consumer group '%s'.\n", x->a->group);
		return CMD_EXIT_OK;
	}
	if (cl_err_is_kafka(rc) && cl_err_kafka_code(rc) == 68)
		return fail(x, "cannot delete group '%s': it still has active members "
			    "(NON_EMPTY_GROUP). Stop its consumers and try again "
			    "('rewind groups describe %s' shows them).", x->a->group, x->a->group);
	if (cl_err_is_kafka(rc) && cl_err_kafka_code(rc) == 69)
		return fail(x, "consumer group '%s' does not exist (GROUP_ID_NOT_FOUND); "
			    "'rewind groups list' shows the groups", x->a->group);
	return fail_client(x, "cannot delete the group");
}

static int do_delete_offsets(struct ctx *x)
{
	cl_metadata *md = NULL;
	struct tp_list l = { 0 };
	cl_tp_offset *q = NULL;
	int rc = CMD_EXIT_ERROR;

	if (metadata_for_args(x, &md) != 0 || resolve_topics(x, md, &l) != 0)
		goto out;
	q = calloc(l.n ? l.n : 1, sizeof *q);
	if (q == NULL) {
		fail(x, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		q[i] = (cl_tp_offset){ .topic = l.topic[i], .partition = l.partition[i] };
	int e = cl_offset_delete(x->cl, x->a->group, q, l.n);
	if (e < 0) {
		if (cl_err_is_kafka(e) && cl_err_kafka_code(e) == 69)
			fail(x, "consumer group '%s' does not exist (GROUP_ID_NOT_FOUND); "
			     "'rewind groups list' shows the groups", x->a->group);
		else
			fail_client(x, "cannot delete the offsets");
		goto out;
	}
	struct cmd_table t;
	size_t bad = 0;
	cmd_table_init(&t, 3);
	cmd_table_row(&t, "TOPIC", "PARTITION", "STATUS");
	for (size_t i = 0; i < l.n; i++) {
		char pb[16], eb[200];
		snprintf(pb, sizeof pb, "%d", q[i].partition);
		cmd_table_row(&t, q[i].topic, pb,
			  q[i].error ? kerr(eb, sizeof eb, q[i].error) : "Successful");
		bad += q[i].error != 0;
	}
	cmd_table_print(&t, stdout);
	cmd_table_free(&t);
	if (bad) {
		fail(x, "%zu of %zu partitions kept their offsets%s", bad, l.n,
		     "; GROUP_SUBSCRIBED_TO_TOPIC means a member consumes the topic: "
		     "stop it first");
		goto out;
	}
	rc = CMD_EXIT_OK;
out:
	free(q);
	tp_list_free(&l);
	cl_metadata_free(md);
	return rc;
}

/* ---------------------------------------------------------------- entry */

int cmd_groups(int argc, char **argv)
{
	struct groups_args a;
	char err[512];
	int rc;

	if (cmd_groups_parse(argc, argv, &a, err, sizeof err) < 0) {
		fprintf(stderr, "rewind groups: %s\n", err);
		cmd_groups_args_free(&a);
		return CMD_EXIT_ERROR;
	}
	if (a.help) {
		fputs(help_for(a.action), stdout);
		cmd_groups_args_free(&a);
		return CMD_EXIT_OK;
	}

	struct ctx x = { .a = &a };
	cl_opts opts = { .client_id = "rewind-groups", .request_timeout_ms = a.timeout_ms,
			 .connect_timeout_ms = a.timeout_ms };
	if (cmd_client_open(a.bootstrap, &opts, &x.cl, err, sizeof err) < 0) {
		rc = fail(&x, "%s", err);
	} else {
		switch (a.action) {
		case GROUPS_LIST: rc = do_list(&x); break;
		case GROUPS_DESCRIBE: rc = do_describe(&x); break;
		case GROUPS_RESET_OFFSETS: rc = do_reset(&x); break;
		case GROUPS_DELETE: rc = do_delete(&x); break;
		case GROUPS_DELETE_OFFSETS: rc = do_delete_offsets(&x); break;
		default: rc = CMD_EXIT_ERROR; break;
		}
	}
	cl_client_free(x.cl);
	cmd_groups_args_free(&a);
	return rc;
}
