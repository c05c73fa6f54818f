/*
 * cmd_topics.c -- `rewind topics`: topic administration, like Kafka's
 * kafka-topics (and kafka-configs for topic configs).
 *
 *   create NAME     CreateTopics at the controller
 *   list            Metadata for every topic (--long adds DescribeLogDirs)
 *   describe [T..]  Metadata (id, leader, replicas, ISR), ListOffsets
 *                   (log start and end), DescribeLogDirs (size on disk),
 *                   DescribeConfigs (the configs that are not defaults)
 *   alter NAME      CreatePartitions and/or IncrementalAlterConfigs
 *   delete NAME..   DeleteTopics
 *
 * Everything goes through client/'s blocking helpers. Output: tables for
 * people on stdout, or with --json one JSON document for scripts; every
 * error on stderr says what failed and what to try; the exit status is
 * CMD_EXIT_OK or CMD_EXIT_ERROR.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "tools/tools.h"

/* Kafka error codes the command treats specially. */
enum {
	KE_UNKNOWN_TOPIC = 3,
	KE_INVALID_TOPIC = 17,
	KE_TOPIC_EXISTS = 36,
	KE_INVALID_PARTITIONS = 37,
	KE_INVALID_REPLICATION_FACTOR = 38,
	KE_INVALID_CONFIG = 40,
};

/* ---------------------------------------------------------------- help */

static const char *const help_main =
	"usage: rewind topics ACTION [ARGS...] [--bootstrap HOST:PORT[,...]] [--json]\n"
	"\n"
	"Topic administration (like kafka-topics).\n"
	"\n"
	"actions:\n"
	"  create NAME [--partitions N] [--replication-factor R] [--config K=V]...\n"
	"                                 create a topic\n"
	"  list [--internal] [--long]     the topics' names (--long: partitions, size)\n"
	"  describe [NAME...]             partitions, leaders, replicas, ISR, offsets,\n"
	"                                 sizes and configs that are not defaults\n"
	"  alter NAME [--partitions N] [--config K=V]... [--delete-config K]...\n"
	"                                 add partitions, set or remove configs\n"
	"  delete NAME... [--if-exists]   delete topics and all their records\n"
	"\n"
	"common options:\n"
	"  --bootstrap HOST:PORT[,...]    brokers to start from (default " TOPICS_DEFAULT_BOOTSTRAP ");\n"
	"                                 --bootstrap-server and -b are the same\n"
	"  --timeout MS                   how long to wait for each answer (default 30000)\n"
	"  --json                         print one JSON document instead of tables\n"
	"  -h, --help                     help; 'rewind topics ACTION --help' for an action\n";

static const char *const help_create =
	"usage: rewind topics create NAME [--partitions N] [--replication-factor R]\n"
	"                            [--config KEY=VALUE]... [--if-not-exists] [--validate-only]\n"
	"\n"
	"Creates topic NAME. Without --partitions or --replication-factor the broker's\n"
	"defaults (num.partitions, default.replication.factor) apply.\n"
	"  --config KEY=VALUE   a topic config, e.g. cleanup.policy=compact,\n"
	"                       retention.ms=604800000 (repeatable)\n"
	"  --if-not-exists      succeed without change when the topic exists\n"
	"  --validate-only      let the broker check the request; create nothing\n";

static const char *const help_list =
	"usage: rewind topics list [--internal] [--long]\n"
	"\n"
	"Prints the name of every topic, one per line, sorted.\n"
	"  --internal   include internal topics (__consumer_offsets)\n"
	"  --long       a table with each topic's partition count and size on disk\n";

static const char *const help_describe =
	"usage: rewind topics describe [NAME...] [--internal]\n"
	"\n"
	"For each topic (every topic when none is named): its id, partition count\n"
	"and replication factor; per partition the leader, replicas, in-sync\n"
	"replicas, log start and log end offsets and size on disk; then the configs\n"
	"set on the topic or the broker rather than left at Kafka's defaults, with\n"
	"where each comes from.\n";

static const char *const help_alter =
	"usage: rewind topics alter NAME [--partitions N] [--config KEY=VALUE]...\n"
	"                           [--delete-config KEY]... [--if-exists] [--validate-only]\n"
	"\n"
	"Changes topic NAME:\n"
	"  --partitions N        grow the topic to N partitions (never shrinks; keys\n"
	"                        move to other partitions afterwards)\n"
	"  --config KEY=VALUE    set a topic config (repeatable)\n"
	"  --delete-config KEY   remove a topic config, back to the broker's default\n"
	"  --if-exists           succeed without change when the topic does not exist\n"
	"  --validate-only       let the broker check the change; change nothing\n";

static const char *const help_delete =
	"usage: rewind topics delete NAME... [--if-exists]\n"
	"\n"
	"Deletes the topics and every record in them. There is no undo.\n"
	"  --if-exists   succeed when a topic does not exist\n";

static const char *help_for(enum topics_action a)
{
	switch (a) {
	case TOPICS_CREATE: return help_create;
	case TOPICS_LIST: return help_list;
	case TOPICS_DESCRIBE: return help_describe;
	case TOPICS_ALTER: return help_alter;
	case TOPICS_DELETE: return help_delete;
	default: return help_main;
	}
}

/* ------------------------------------------------------------- helpers */

struct ctx {
	const struct topics_args *a;
	cl_client *cl;
};

static int fail(const struct ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(const struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "rewind topics %s: ", cmd_topics_action_name(x->a->action));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CMD_EXIT_ERROR;
}

static int fail_client(const struct ctx *x, const char *doing)
{
	return fail(x, "%s: %s", doing, cl_client_errmsg(x->cl));
}

/* "NAME: broker's message" of a per-item Kafka outcome. */
static const char *outcome(char *buf, size_t n, int16_t code, const char *msg)
{
	const char *name = cl_kafka_err_name(code);
	char nb[32];
	if (name == NULL) {
		snprintf(nb, sizeof nb, "Kafka error %d", code);
		name = nb;
	}
	snprintf(buf, n, "%s (%s)", name, msg && msg[0] ? msg : cl_kafka_err_desc(code));
	return buf;
}

static int unknown_topic(const struct ctx *x, const char *name)
{
	return fail(x, "topic '%s' does not exist; list topics with 'rewind topics list'", name);
}

/* What to try after a per-topic refusal. */
static const char *hint_for(int16_t code)
{
	switch (code) {
	case KE_INVALID_PARTITIONS:
		return "; give --partitions a count the broker accepts (more than the topic has)";
	case KE_INVALID_REPLICATION_FACTOR:
		return "; a replication factor cannot exceed the number of brokers";
	case KE_INVALID_CONFIG:
		return "; check the key and value (rewind topics describe shows a topic's configs)";
	case KE_INVALID_TOPIC:
		return "; topic names use ASCII letters, digits, '.', '_' and '-', at most 249";
	default:
		return cl_kafka_err_retriable(code) ? "; try again shortly" : "";
	}
}

static const char *fmt_i64(char *buf, size_t n, int64_t v)
{
	if (v < 0)
		return "-";
	snprintf(buf, n, "%" PRId64, v);
	return buf;
}

/* "1,2,3" of node ids. */
static const char *fmt_ids(char *buf, size_t n, const int32_t *ids, size_t count)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < count && used < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? "," : "", ids[i]);
	return count ? buf : "-";
}

static void json_ids(FILE *f, const int32_t *ids, size_t count)
{
	fputc('[', f);
	for (size_t i = 0; i < count; i++)
		fprintf(f, "%s%d", i ? "," : "", ids[i]);
	fputc(']', f);
}

static int name_cmp(const void *a, const void *b)
{
	const cl_topic_info *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* The topics of md to show, sorted by name (internal ones only when
 * asked); caller frees the array. */
static const cl_topic_info **topics_sorted(const cl_metadata *md, bool internal, size_t *n)
{
	const cl_topic_info **v = calloc(md->n_topics ? md->n_topics : 1, sizeof *v);
	*n = 0;
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < md->n_topics; i++)
		if (md->topics[i].error == 0 && (internal || !md->topics[i].internal))
			v[(*n)++] = &md->topics[i];
	if (*n)
		qsort(v, *n, sizeof *v, name_cmp);
	return v;
}

/* A partition's replica as DescribeLogDirs reported it: the leader's, else
 * the largest; NULL when no broker reported it. */
static const cl_replica_size *part_replica(const cl_log_dirs *ld, const char *topic, int32_t p,
					   int32_t leader)
{
	const cl_replica_size *best = NULL;
	for (size_t i = 0; ld && i < ld->n_replicas; i++) {
		const cl_replica_size *r = &ld->replicas[i];
		if (r->partition != p || r->is_future || strcmp(r->topic, topic) != 0)
			continue;
		if (r->broker == leader)
			return r;
		if (best == NULL || r->size > best->size)
			best = r;
	}
	return best;
}

/* Size on disk of a partition, or -1 when unknown. */
static int64_t part_size(const cl_log_dirs *ld, const char *topic, int32_t p, int32_t leader)
{
	const cl_replica_size *r = part_replica(ld, topic, p, leader);
	return r ? r->size : -1;
}

/* The log cleaner's dirty ratio of a partition, or -1 (not compacted, or a
 * broker that does not say). */
static double part_dirty(const cl_log_dirs *ld, const char *topic, int32_t p, int32_t leader)
{
	const cl_replica_size *r = part_replica(ld, topic, p, leader);
	return r ? r->dirty_ratio : -1;
}

/* Whether any partition of t has a dirty ratio: a compacted topic. */
static bool topic_compacted(const cl_log_dirs *ld, const cl_topic_info *t)
{
	for (size_t j = 0; j < t->n_partitions; j++)
		if (part_dirty(ld, t->name, t->partitions[j].partition, t->partitions[j].leader) >= 0)
			return true;
	return false;
}

static int64_t topic_size(const cl_log_dirs *ld, const cl_topic_info *t)
{
	int64_t sum = 0;
	bool any = false;
	for (size_t j = 0; j < t->n_partitions; j++) {
		int64_t s = part_size(ld, t->name, t->partitions[j].partition, t->partitions[j].leader);
		if (s >= 0) {
			sum += s;
			any = true;
		}
	}
	return any ? sum : -1;
}

/* -------------------------------------------------------------- create */

static int do_create(struct ctx *x)
{
	const struct topics_args *a = x->a;
	cl_config_kv *kv = calloc(a->n_configs ? a->n_configs : 1, sizeof *kv);
	char eb[512];
	int rc;

	if (kv == NULL)
		return fail(x, "out of memory");
	for (size_t i = 0; i < a->n_configs; i++)
		kv[i] = (cl_config_kv){ a->configs[i].key, a->configs[i].value };
	cl_new_topic t = { .name = a->names[0], .partitions = a->partitions,
			   .replication_factor = a->replication_factor, .configs = kv,
			   .n_configs = a->n_configs };
	rc = cl_create_topics(x->cl, &t, 1, a->validate_only);
	free(kv);
	if (rc < 0)
		return fail_client(x, "cannot create the topic");
	if (t.error == KE_TOPIC_EXISTS && a->if_not_exists) {
		if (a->json) {
			printf("{\"topic\":");
			cmd_json_str(stdout, t.name);
			printf(",\"created\":false,\"exists\":true}\n");
		} else {
			printf("Topic '%s' already exists; nothing changed.\n", t.name);
		}
		return CMD_EXIT_OK;
	}
	if (t.error == KE_TOPIC_EXISTS)
		return fail(x, "topic '%s' already exists; see it with 'rewind topics describe %s', "
			    "or pass --if-not-exists", t.name, t.name);
	if (t.error != 0)
		return fail(x, "cannot create topic '%s': %s%s", t.name,
			    outcome(eb, sizeof eb, t.error, t.message), hint_for(t.error));

	char id[23] = "";
	static const uint8_t zero[16];
	if (memcmp(t.topic_id, zero, 16) != 0)
		cmd_uuid_base64(t.topic_id, id);
	if (a->json) {
		printf("{\"topic\":");
		cmd_json_str(stdout, t.name);
		printf(",\"created\":%s,\"validate_only\":%s,\"topic_id\":",
		       a->validate_only ? "false" : "true", a->validate_only ? "true" : "false");
		if (id[0])
			cmd_json_str(stdout, id);
		else
			printf("null");
		printf("}\n");
	} else if (a->validate_only) {
		printf("The broker would create topic '%s' (validate only: nothing was created).\n",
		       t.name);
	} else {
		printf("Created topic '%s'%s%s%s.\n", t.name, id[0] ? " (topic id " : "", id,
		       id[0] ? ")" : "");
	}
	return CMD_EXIT_OK;
}

/* Partition sizes (DescribeLogDirs) into *ld. A broker without the API
 * leaves *ld NULL and the sizes "-", with a note; any other failure is an
 * error (said). */
static int read_sizes(struct ctx *x, cl_log_dirs **ld)
{
	int rc = cl_describe_log_dirs(x->cl, ld);
	if (rc == CL_ERR_UNSUPPORTED) {
		fprintf(stderr, "note: %s; sizes are shown as '-'\n", cl_client_errmsg(x->cl));
		*ld = NULL;
		return 0;
	}
	if (rc < 0)
		return fail_client(x, "cannot read the partitions' sizes");
	return 0;
}

/* ---------------------------------------------------------------- list */

static int do_list(struct ctx *x)
{
	const struct topics_args *a = x->a;
	cl_metadata *md = NULL;
	cl_log_dirs *ld = NULL;
	const cl_topic_info **v = NULL;
	size_t n;
	int rc = CMD_EXIT_ERROR;

	if (cl_metadata_get(x->cl, NULL, 0, &md) < 0)
		return fail_client(x, "cannot read the cluster's metadata");
	if (a->long_list && read_sizes(x, &ld) != 0)
		goto out;
	if ((v = topics_sorted(md, a->internal, &n)) == NULL) {
		fail(x, "out of memory");
		goto out;
	}
	if (a->json) {
		printf("{\"topics\":[");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"name\":", i ? "," : "");
			cmd_json_str(stdout, v[i]->name);
			printf(",\"internal\":%s,\"partitions\":%zu", v[i]->internal ? "true" : "false",
			       v[i]->n_partitions);
			if (a->long_list)
				printf(",\"size_bytes\":%" PRId64, topic_size(ld, v[i]));
			printf("}");
		}
		printf("]}\n");
	} else if (a->long_list) {
		struct cmd_table t;
		cmd_table_init(&t, 4);
		cmd_table_row(&t, "TOPIC", "PARTITIONS", "SIZE", "BYTES");
		for (size_t i = 0; i < n; i++) {
			char pb[24], sb[32], bb[32];
			int64_t sz = topic_size(ld, v[i]);
			snprintf(pb, sizeof pb, "%zu", v[i]->n_partitions);
			cmd_table_row(&t, v[i]->name, pb, cmd_human_bytes(sz, sb, sizeof sb),
				      fmt_i64(bb, sizeof bb, sz));
		}
		cmd_table_print(&t, stdout);
		cmd_table_free(&t);
	} else {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", v[i]->name);
	}
	rc = CMD_EXIT_OK;
out:
	free(v);
	cl_log_dirs_free(ld);
	cl_metadata_free(md);
	return rc;
}

/* ------------------------------------------------------------ describe */

/* Per partition: log start, log end. */
struct offsets {
	cl_list_offset *start, *end;
	size_t n;
};

static int read_offsets(struct ctx *x, const cl_topic_info **v, size_t nv, struct offsets *o)
{
	size_t n = 0;
	for (size_t i = 0; i < nv; i++)
		n += v[i]->n_partitions;
	o->n = n;
	o->start = calloc(n ? n : 1, sizeof *o->start);
	o->end = calloc(n ? n : 1, sizeof *o->end);
	if (o->start == NULL || o->end == NULL)
		return fail(x, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < nv; i++)
		for (size_t j = 0; j < v[i]->n_partitions; j++, k++) {
			o->start[k] = (cl_list_offset){ .topic = v[i]->name,
				.partition = v[i]->partitions[j].partition,
				.timestamp = CL_OFFSET_EARLIEST };
			o->end[k] = o->start[k];
			o->end[k].timestamp = CL_OFFSET_LATEST;
		}
	if (cl_list_offsets(x->cl, o->start, n) < 0 || cl_list_offsets(x->cl, o->end, n) < 0)
		return fail_client(x, "cannot read the partitions' offsets");
	return 0;
}

/* A config worth showing: set somewhere rather than Kafka's default. */
static bool config_shown(const cl_config_entry *e)
{
	return e->source != CL_SOURCE_DEFAULT_CONFIG && e->source != CL_SOURCE_UNKNOWN;
}

static void describe_json(const cl_topic_info **v, size_t nv, const struct offsets *o,
			  const cl_log_dirs *ld, const cl_configs *cfg)
{
	size_t k = 0;
	printf("{\"topics\":[");
	for (size_t i = 0; i < nv; i++) {
		const cl_topic_info *t = v[i];
		char id[23];
		printf("%s{\"name\":", i ? "," : "");
		cmd_json_str(stdout, t->name);
		printf(",\"topic_id\":");
		if (t->has_id) {
			cmd_uuid_base64(t->topic_id, id);
			cmd_json_str(stdout, id);
		} else {
			printf("null");
		}
		printf(",\"internal\":%s,\"partition_count\":%zu,\"replication_factor\":%zu,"
		       "\"partitions\":[", t->internal ? "true" : "false", t->n_partitions,
		       t->n_partitions ? t->partitions[0].n_replicas : 0);
		for (size_t j = 0; j < t->n_partitions; j++, k++) {
			const cl_partition_info *p = &t->partitions[j];
			printf("%s{\"partition\":%d,\"leader\":%d,\"replicas\":", j ? "," : "",
			       p->partition, p->leader);
			json_ids(stdout, p->replicas, p->n_replicas);
			printf(",\"isr\":");
			json_ids(stdout, p->isr, p->n_isr);
			printf(",\"log_start_offset\":%" PRId64 ",\"log_end_offset\":%" PRId64
			       ",\"size_bytes\":%" PRId64 ",\"dirty_ratio\":",
			       o->start[k].error ? -1 : o->start[k].offset,
			       o->end[k].error ? -1 : o->end[k].offset,
			       part_size(ld, t->name, p->partition, p->leader));
			double dr = part_dirty(ld, t->name, p->partition, p->leader);
			if (dr >= 0)
				printf("%.4f}", dr);
			else
				printf("null}");
		}
		printf("],\"configs\":[");
		const cl_config_resource *r = cfg ? &cfg->resources[i] : NULL;
		bool first = true;
		for (size_t c = 0; r && r->error == 0 && c < r->n_entries; c++) {
			const cl_config_entry *e = &r->entries[c];
			if (!config_shown(e))
				continue;
			printf("%s{\"name\":", first ? "" : ",");
			cmd_json_str(stdout, e->name);
			printf(",\"value\":");
			if (e->value)
				cmd_json_str(stdout, e->value);
			else
				printf("null");
			printf(",\"source\":\"%s\",\"read_only\":%s,\"sensitive\":%s}",
			       cl_config_source_name(e->source), e->read_only ? "true" : "false",
			       e->sensitive ? "true" : "false");
			first = false;
		}
		printf("]}");
	}
	printf("]}\n");
}

static void describe_text(const cl_topic_info **v, size_t nv, const struct offsets *o,
			  const cl_log_dirs *ld, const cl_configs *cfg)
{
	size_t k = 0;
	for (size_t i = 0; i < nv; i++) {
		const cl_topic_info *t = v[i];
		char id[23] = "-";
		if (t->has_id)
			cmd_uuid_base64(t->topic_id, id);
		printf("%sTopic: %s\tTopicId: %s\tPartitionCount: %zu\tReplicationFactor: %zu%s\n",
		       i ? "\n" : "", t->name, id, t->n_partitions,
		       t->n_partitions ? t->partitions[0].n_replicas : 0,
		       t->internal ? "\t(internal)" : "");
		const cl_config_resource *r = cfg ? &cfg->resources[i] : NULL;
		size_t shown = 0;
		for (size_t c = 0; r && r->error == 0 && c < r->n_entries; c++)
			shown += config_shown(&r->entries[c]);
		if (r && r->error != 0) {
			char eb[512];
			printf("Configs: cannot be read: %s\n",
			       outcome(eb, sizeof eb, r->error, r->message));
		} else if (shown == 0) {
			printf("Configs: all defaults\n");
		} else {
			printf("Configs:\n");
			for (size_t c = 0; c < r->n_entries; c++) {
				const cl_config_entry *e = &r->entries[c];
				if (config_shown(e))
					printf("  %s=%s\t(%s)\n", e->name,
					       e->sensitive ? "(sensitive)" : e->value ? e->value : "null",
					       cl_config_source_name(e->source));
			}
		}
		/* Compacted topics get the cleaner's dirty ratio as a last column. */
		bool dirty = topic_compacted(ld, t);
		struct cmd_table tb;
		cmd_table_init(&tb, dirty ? 9 : 8);
		cmd_table_row(&tb, "PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START", "LOG-END",
			      "SIZE", "BYTES", "DIRTY-RATIO");
		for (size_t j = 0; j < t->n_partitions; j++, k++) {
			const cl_partition_info *p = &t->partitions[j];
			char pb[16], lb[16], rb[256], ib[256], sb[24], eb[24], zb[32], bb[32], db[16];
			int64_t sz = part_size(ld, t->name, p->partition, p->leader);
			double dr = part_dirty(ld, t->name, p->partition, p->leader);
			snprintf(pb, sizeof pb, "%d", p->partition);
			snprintf(lb, sizeof lb, "%d", p->leader);
			snprintf(db, sizeof db, "%.2f", dr);
			cmd_table_row(&tb, pb, p->leader >= 0 ? lb : "none",
				      fmt_ids(rb, sizeof rb, p->replicas, p->n_replicas),
				      fmt_ids(ib, sizeof ib, p->isr, p->n_isr),
				      o->start[k].error ? "-" : fmt_i64(sb, sizeof sb, o->start[k].offset),
				      o->end[k].error ? "-" : fmt_i64(eb, sizeof eb, o->end[k].offset),
				      cmd_human_bytes(sz, zb, sizeof zb), fmt_i64(bb, sizeof bb, sz),
				      dr >= 0 ? db : "-");
		}
		cmd_table_print(&tb, stdout);
		cmd_table_free(&tb);
	}
}

static int do_describe(struct ctx *x)
{
	const struct topics_args *a = x->a;
	cl_metadata *md = NULL;
	cl_log_dirs *ld = NULL;
	cl_configs *cfg = NULL;
	const cl_topic_info **v = NULL;
	cl_resource *res = NULL;
	struct offsets o = { 0 };
	size_t nv = 0;
	int rc = CMD_EXIT_ERROR;
	bool missing = false;

	if (cl_metadata_get(x->cl, a->n_names ? a->names : NULL, a->n_names, &md) < 0)
		return fail_client(x, "cannot read the topics' metadata");
	if (a->n_names) {
		v = calloc(a->n_names, sizeof *v);
		if (v == NULL) {
			fail(x, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < a->n_names; i++) {
			const cl_topic_info *t = cl_metadata_topic(md, a->names[i]);
			if (t == NULL || t->error == KE_UNKNOWN_TOPIC) {
				unknown_topic(x, a->names[i]);
				missing = true;
			} else if (t->error != 0) {
				char eb[256];
				fail(x, "topic '%s': %s%s", a->names[i],
				     outcome(eb, sizeof eb, t->error, NULL), hint_for(t->error));
				missing = true;
			} else {
				v[nv++] = t;
			}
		}
	} else if ((v = topics_sorted(md, a->internal, &nv)) == NULL) {
		fail(x, "out of memory");
		goto out;
	}
	if (nv == 0) {
		if (!missing && !a->json)
			printf("No topics. Create one with 'rewind topics create NAME'.\n");
		if (!missing && a->json)
			printf("{\"topics\":[]}\n");
		rc = missing ? CMD_EXIT_ERROR : CMD_EXIT_OK;
		goto out;
	}
	if (read_offsets(x, v, nv, &o) != 0)
		goto out;
	if (read_sizes(x, &ld) != 0)
		goto out;
	if ((res = calloc(nv, sizeof *res)) == NULL) {
		fail(x, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nv; i++)
		res[i] = (cl_resource){ CL_RESOURCE_TOPIC, v[i]->name };
	if (cl_describe_configs(x->cl, res, nv, false, &cfg) < 0) {
		fail_client(x, "cannot read the topics' configs");
		goto out;
	}
	if (a->json)
		describe_json(v, nv, &o, ld, cfg);
	else
		describe_text(v, nv, &o, ld, cfg);
	rc = missing ? CMD_EXIT_ERROR : CMD_EXIT_OK;
out:
	free(res);
	free(o.start);
	free(o.end);
	free(v);
	cl_configs_free(cfg);
	cl_log_dirs_free(ld);
	cl_metadata_free(md);
	return rc;
}

/* --------------------------------------------------------------- alter */

static int do_alter(struct ctx *x)
{
	const struct topics_args *a = x->a;
	const char *name = a->names[0];
	cl_metadata *md = NULL;
	char eb[512];
	int rc = CMD_EXIT_ERROR;

	if (cl_metadata_get(x->cl, &name, 1, &md) < 0)
		return fail_client(x, "cannot read the topic's metadata");
	const cl_topic_info *t = cl_metadata_topic(md, name);
	if (t == NULL || t->error == KE_UNKNOWN_TOPIC) {
		if (a->if_exists) {
			if (a->json) {
				printf("{\"topic\":");
				cmd_json_str(stdout, name);
				printf(",\"altered\":false,\"exists\":false}\n");
			} else {
				printf("Topic '%s' does not exist; nothing changed.\n", name);
			}
			rc = CMD_EXIT_OK;
		} else {
			unknown_topic(x, name);
		}
		goto out;
	}
	size_t before = t->n_partitions;
	if (a->partitions >= 0) {
		cl_topic_op q = { .name = name, .partitions = a->partitions };
		if (cl_create_partitions(x->cl, &q, 1, a->validate_only) < 0) {
			fail_client(x, "cannot add partitions");
			goto out;
		}
		if (q.error != 0) {
			fail(x, "cannot grow topic '%s' from %zu to %d partitions: %s%s", name, before,
			     a->partitions, outcome(eb, sizeof eb, q.error, q.message),
			     q.error == KE_INVALID_PARTITIONS
				     ? "; a topic's partitions can only grow" : hint_for(q.error));
			goto out;
		}
	}
	size_t nops = a->n_configs + a->n_delete_configs;
	if (nops) {
		cl_config_op *ops = calloc(nops, sizeof *ops);
		if (ops == NULL) {
			fail(x, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < a->n_configs; i++)
			ops[i] = (cl_config_op){ a->configs[i].key, a->configs[i].value, CL_ALTER_SET };
		for (size_t i = 0; i < a->n_delete_configs; i++)
			ops[a->n_configs + i] = (cl_config_op){ a->delete_configs[i], NULL,
								CL_ALTER_DELETE };
		cl_alter_resource r = { .type = CL_RESOURCE_TOPIC, .name = name, .ops = ops,
					.n_ops = nops };
		int e = cl_alter_configs(x->cl, &r, 1, a->validate_only);
		free(ops);
		if (e < 0) {
			fail_client(x, "cannot change the topic's configs");
			goto out;
		}
		if (r.error != 0) {
			fail(x, "cannot change the configs of topic '%s'%s: %s%s", name,
			     a->partitions >= 0 && !a->validate_only ? " (its partitions were added)" : "",
			     outcome(eb, sizeof eb, r.error, r.message), hint_for(r.error));
			goto out;
		}
	}
	if (a->json) {
		printf("{\"topic\":");
		cmd_json_str(stdout, name);
		printf(",\"altered\":%s,\"validate_only\":%s", a->validate_only ? "false" : "true",
		       a->validate_only ? "true" : "false");
		if (a->partitions >= 0)
			printf(",\"partitions\":{\"before\":%zu,\"after\":%d}", before, a->partitions);
		printf(",\"set\":{");
		for (size_t i = 0; i < a->n_configs; i++) {
			printf("%s", i ? "," : "");
			cmd_json_str(stdout, a->configs[i].key);
			printf(":");
			cmd_json_str(stdout, a->configs[i].value);
		}
		printf("},\"deleted\":[");
		for (size_t i = 0; i < a->n_delete_configs; i++) {
			printf("%s", i ? "," : "");
			cmd_json_str(stdout, a->delete_configs[i]);
		}
		printf("]}\n");
	} else {
		const char *sep = " ";
		printf("%s topic '%s':", a->validate_only ? "The broker would accept for" : "Altered",
		       name);
		if (a->partitions >= 0) {
			printf("%spartitions %zu -> %d", sep, before, a->partitions);
			sep = "; ";
		}
		for (size_t i = 0; i < a->n_configs; i++, sep = "; ")
			printf("%sset %s=%s", sep, a->configs[i].key, a->configs[i].value);
		for (size_t i = 0; i < a->n_delete_configs; i++, sep = "; ")
			printf("%sdeleted %s", sep, a->delete_configs[i]);
		printf("%s\n", a->validate_only ? " (validate only: nothing was changed)." : ".");
	}
	rc = CMD_EXIT_OK;
out:
	cl_metadata_free(md);
	return rc;
}

/* -------------------------------------------------------------- delete */

static int do_delete(struct ctx *x)
{
	const struct topics_args *a = x->a;
	cl_topic_op *q = calloc(a->n_names, sizeof *q);
	int rc = CMD_EXIT_OK;

	if (q == NULL)
		return fail(x, "out of memory");
	for (size_t i = 0; i < a->n_names; i++)
		q[i].name = a->names[i];
	if (cl_delete_topics(x->cl, q, a->n_names) < 0) {
		free(q);
		return fail_client(x, "cannot delete the topics");
	}
	if (a->json)
		printf("{\"topics\":[");
	for (size_t i = 0; i < a->n_names; i++) {
		char eb[512];
		bool gone = q[i].error == KE_UNKNOWN_TOPIC;
		if (a->json) {
			printf("%s{\"name\":", i ? "," : "");
			cmd_json_str(stdout, q[i].name);
			printf(",\"deleted\":%s,\"error\":", q[i].error == 0 ? "true" : "false");
			if (q[i].error)
				cmd_json_str(stdout, cl_kafka_err_name(q[i].error));
			else
				printf("null");
			printf("}");
		}
		if (q[i].error == 0) {
			if (!a->json)
				printf("Deleted topic '%s'.\n", q[i].name);
		} else if (gone && a->if_exists) {
			if (!a->json)
				printf("Topic '%s' does not exist; nothing to delete.\n", q[i].name);
		} else if (gone) {
			unknown_topic(x, q[i].name);
			rc = CMD_EXIT_ERROR;
		} else {
			fail(x, "cannot delete topic '%s': %s%s", q[i].name,
			     outcome(eb, sizeof eb, q[i].error, q[i].message), hint_for(q[i].error));
			rc = CMD_EXIT_ERROR;
		}
	}
	if (a->json)
		printf("]}\n");
	free(q);
	return rc;
}

/* ---------------------------------------------------------------- entry */

int cmd_topics(int argc, char **argv)
{
	struct topics_args a;
	char err[512];
	int rc;

	if (cmd_topics_parse(argc, argv, &a, err, sizeof err) < 0) {
		fprintf(stderr, "rewind topics: %s\n", err);
		cmd_topics_args_free(&a);
		return CMD_EXIT_ERROR;
	}
	if (a.help) {
		fputs(help_for(a.action), stdout);
		cmd_topics_args_free(&a);
		return CMD_EXIT_OK;
	}
	struct ctx x = { .a = &a };
	cl_opts opts = { .client_id = "rewind-topics", .request_timeout_ms = a.timeout_ms,
			 .connect_timeout_ms = a.timeout_ms };
	if (cmd_client_open(a.bootstrap, &opts, &x.cl, err, sizeof err) < 0) {
		rc = fail(&x, "%s", err);
	} else {
		switch (a.action) {
		case TOPICS_CREATE: rc = do_create(&x); break;
		case TOPICS_LIST: rc = do_list(&x); break;
		case TOPICS_DESCRIBE: rc = do_describe(&x); break;
		case TOPICS_ALTER: rc = do_alter(&x); break;
		case TOPICS_DELETE: rc = do_delete(&x); break;
		default: rc = CMD_EXIT_ERROR; break;
		}
	}
	cl_client_free(x.cl);
	cmd_topics_args_free(&a);
	return rc;
}
