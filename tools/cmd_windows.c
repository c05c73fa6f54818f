/*
 * cmd_windows.c -- `rewind windows`: event-time windowed aggregation from
 * JSON-lines topics into a compacted output topic, with checkpoints that
 * make a crash at any point resume to the same results. `rewind windows
 * verify A B`, which compares two output topics, is in win_verify.c.
 *
 * The loop: poll records from every partition of the inputs (assigned by
 * hand, no group membership: the checkpoint, not the group, says where to
 * resume), feed each to the engine (tools/win_engine.c), send late and
 * unparsable events to the late topic, and after each batch write what
 * the engine says is due to the output topic. Every --checkpoint-interval:
 *
 *   1. flush the producer (acks=all) and check that every record sent so
 *      far -- results and late events -- was acknowledged;
 *   2. write the engine's state and the input positions it covers to the
 *      checkpoint file atomically (temp file, fsync, rename, fsync dir);
 *   3. commit the positions to --group as well (as kafka-consumer-groups
 *      would: the group has no members), so `rewind groups describe`
 *      shows the job's lag. The group commit is informational.
 *
 * Output is always flushed before the positions it covers are written, so
 * after a SIGKILL the job restarts from a state whose results are all in
 * the output; it re-reads the records after that point and re-emits the
 * same windows (an idempotent upsert in the compacted topic). No result
 * depends on the wall clock: it only paces checkpoints and progress lines
 * and marks partitions idle, which moves when results are emitted, never
 * what they are (see win_engine.c).
 *
 * Checkpoint file (big-endian):
 *   8 bytes "RWWINCK1", i32 version 1, i64 records consumed,
 *   i32 n, n x (i16 topic length, topic, i32 partition, i64 next offset),
 *   i32 m, m x i64 the output partitions' end offsets at the checkpoint,
 *   the engine's state (win_codec.c), u32 CRC32C of all bytes before it.
 *
 * After a crash the output may hold results written after the checkpoint
 * by the run that died, which the restored state knows nothing about --
 * harmless for tumbling and hopping windows (the re-run writes the same
 * identities again), but a session identity written then and grown later
 * would stay behind. So a restart first reads the output from the
 * checkpoint's end offsets (from the start when there is no checkpoint:
 * a first run may die before its first one) and hands every identity it
 * finds to win_engine_reconcile(): written again, or deleted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "proto/proto.h"
#include "tools/tools.h"

static const char *const help =
	"usage: rewind windows TOPIC... --output TOPIC [OPTIONS]\n"
	"       rewind windows verify TOPIC_A TOPIC_B [--bootstrap B] [--max-diffs N]\n"
	"\n"
	"Aggregates JSON-lines events by event time into windows and writes one record\n"
	"per (key, window) to a compacted output topic; replaying the input from offset 0\n"
	"into a new output gives the same results byte for byte (see docs/windows.md).\n"
	"\n"
	"  -b, --bootstrap HOST:PORT   brokers (default localhost:9092)\n"
	"      --output TOPIC          results (created compacted when missing)\n"
	"      --late-topic TOPIC      events too late for every window, and unparsable\n"
	"                              ones (default OUTPUT-late; 'none': count only)\n"
	"      --time-field F          event time: ms since the epoch or ISO 8601\n"
	"                              (default ts; no zone means UTC)\n"
	"      --key F[,F...]          group by these fields (repeatable; default: none)\n"
	"      --agg A                 count, sum:F, min:F, max:F, avg:F, distinct:F\n"
	"                              (repeatable; default count)\n"
	"      --tumbling D            tumbling windows of D (default 5m)\n"
	"      --hopping D/H           windows of D starting every H (e.g. 5m/1m)\n"
	"      --session G             sessions closed by a gap of G, merged when an\n"
	"                              event bridges two\n"
	"      --out-of-order D        watermark = max event time - D (default 10s)\n"
	"      --allowed-lateness D    keep windows open D after the watermark passed\n"
	"                              (late events re-emit; default 1m)\n"
	"      --idle-timeout D        a partition without records for D (wall clock)\n"
	"                              stops holding back emission (default 30s)\n"
	"      --group G               the job's name: checkpoint and committed offsets\n"
	"                              (default windows-OUTPUT)\n"
	"      --checkpoint FILE       state file (default ./GROUP.ckpt)\n"
	"      --checkpoint-interval D (default 1s)\n"
	"      --from-beginning        without a checkpoint, start at offset 0 (the\n"
	"                              default); with one, resume from it\n"
	"  -e, --exit-at-end           stop at the end of the inputs, writing every open\n"
	"                              window (final ones marked final)\n"
	"      --max-events N          stop after N input records in all (as -e)\n"
	"      --output-partitions N   when creating OUTPUT (default: the first input's)\n"
	"      --hll-precision P       distinct-count registers 2^P, 4..16 (default 12)\n"
	"      --timeout MS            broker request timeout\n"
	"  -q, --quiet                 no progress lines\n"
	"\n"
	"Durations D: 500ms, 10s, 5m, 2h, 1d or PT1H30M. Example:\n"
	"  rewind windows events --output metrics_v1 --key video_id --tumbling 5m \\\n"
	"      --agg count --agg sum:position_ms --agg distinct:user_id\n"
	"verify reads both topics to the end, takes the latest value per (key, window)\n"
	"and prints the differences, or \"identical: N windows\" (exit 0; 2 if different).\n";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	fputs("rewind windows: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CMD_EXIT_ERROR;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* ------------------------------------------------------------ topics */

static const char *kafka_name(int16_t code)
{
	const char *n = cl_kafka_err_name(code);
	return n ? n : "error";
}

/* Creates topic when missing. compact: cleanup.policy=compact. */
static int ensure_topic(cl_client *cl, const char *topic, int32_t partitions, bool compact)
{
	cl_metadata *md = NULL;
	const char *names[1] = { topic };
	if (cl_metadata_get(cl, names, 1, &md) < 0)
		return fail("reading metadata of '%s': %s", topic, cl_client_errmsg(cl));
	const cl_topic_info *t = cl_metadata_topic(md, topic);
	bool exists = t && t->error == 0;
	cl_metadata_free(md);
	if (!exists) {
		cl_config_kv kv = { "cleanup.policy", "compact" };
		cl_new_topic nt = { .name = topic, .partitions = partitions, .replication_factor = -1,
				    .configs = compact ? &kv : NULL, .n_configs = compact ? 1 : 0 };
		if (cl_create_topics(cl, &nt, 1, false) < 0)
			return fail("creating topic '%s': %s", topic, cl_client_errmsg(cl));
		if (nt.error != 0 && nt.error != 36 /* TOPIC_ALREADY_EXISTS */)
			return fail("creating topic '%s': %s%s%s; create it yourself with 'rewind topics "
				    "create %s%s'", topic, kafka_name(nt.error), nt.message[0] ? ": " : "",
				    nt.message, topic, compact ? " --config cleanup.policy=compact" : "");
		return 0;
	}
	if (!compact)
		return 0;
	cl_resource r = { CL_RESOURCE_TOPIC, topic };
	cl_configs *cfg = NULL;
	if (cl_describe_configs(cl, &r, 1, false, &cfg) == 0 && cfg->n_resources == 1) {
		const cl_config_resource *res = &cfg->resources[0];
		for (size_t i = 0; i < res->n_entries; i++) {
			if (strcmp(res->entries[i].name, "cleanup.policy") == 0 &&
			    (res->entries[i].value == NULL || strstr(res->entries[i].value, "compact") == NULL))
				fprintf(stderr, "rewind windows: warning: output topic '%s' has cleanup.policy="
					"%s: re-emitted windows pile up instead of replacing each other; "
					"'rewind topics alter %s --config cleanup.policy=compact' fixes it\n",
					topic, res->entries[i].value ? res->entries[i].value : "?", topic);
		}
	}
	cl_configs_free(cfg);
	return 0;
}

/* ------------------------------------------------------------ the job */

struct part {
	const char *topic;            /* borrowed from argv */
	int32_t partition;
	int64_t next;                 /* next offset to read; -1 = from the start */
	int64_t last_ns;              /* wall clock of its last record (idleness) */
};

struct job {
	struct windows_args *a;
	cl_client *cl;
	cl_consumer *cons;
	cl_producer *prod;
	struct win_engine *eng;
	struct part *parts;
	size_t n_parts;
	size_t *topic_base;           /* parts index of each input's partition 0 */
	int32_t *topic_parts;
	int64_t consumed;             /* input records processed, all runs */
	uint64_t sent, delivered, failed;
	int first_err;
	uint64_t results, late_sent;
	kp_buf kb, vb;
	bool commit_warned;
	int lock_fd;                  /* flock'ed <checkpoint>.lock, -1 */
	int32_t out_parts;            /* the output topic's partitions */
	int64_t *out_end;             /* per output partition: its end at the
	                                 last checkpoint (-1: unknown) */
};

static void on_delivery(void *app, const cl_delivery *d)
{
	struct job *j = app;
	if (d->err == 0) {
		j->delivered++;
	} else if (j->failed++ == 0) {
		j->first_err = d->err;
	}
}

static int send_record(struct job *j, const char *topic, const void *key, int32_t klen,
		       const void *value, int32_t vlen, const kp_header *h, int32_t nh)
{
	cl_record r = { .topic = topic, .partition = CL_PARTITION_ANY, .key = key, .key_len = klen,
			.value = value, .value_len = vlen, .headers = h, .n_headers = nh };
	for (;;) {
		int rc = cl_producer_send(j->prod, &r);
		if (rc == 0)
			break;
		if (rc == CL_ERR_QUEUE_FULL) {
			cl_producer_poll(j->prod, 100);
			continue;
		}
		char eb[512];
		cl_producer_errmsg(j->prod, eb, sizeof eb);
		return fail("cannot write to '%s': %s%s%s; check the broker and run the same command "
			    "again (it resumes from its checkpoint)", topic, cl_strerror(rc),
			    eb[0] ? ": " : "", eb);
	}
	j->sent++;
	return 0;
}

static int emit_one(void *arg, const struct win_result *r)
{
	struct job *j = arg;
	kp_buf_reset(&j->kb);
	kp_buf_reset(&j->vb);
	if (win_result_key(r, &j->kb) < 0 ||
	    (!r->tombstone && win_result_value(j->eng, r, &j->vb) < 0))
		return -ENOMEM;
	j->results++;
	if (send_record(j, j->a->output, j->kb.data, (int32_t)j->kb.len,
			r->tombstone ? NULL : j->vb.data, r->tombstone ? -1 : (int32_t)j->vb.len,
			NULL, 0) != 0)
		return -EIO;
	return 0;
}

static int emit(struct job *j, bool flush_all)
{
	int rc = win_engine_emit(j->eng, flush_all, emit_one, j);
	if (rc == -ENOMEM)
		return fail("out of memory while writing results");
	if (rc < 0)
		return CMD_EXIT_ERROR;
	cl_producer_poll(j->prod, 0);
	if (j->failed)
		return fail("a record to '%s' was not delivered (%s); run the same command again: it "
			    "resumes from its checkpoint", j->a->output, cl_err_name(j->first_err));
	return 0;
}

/* Late or unparsable event: the original key and value, and where it came
 * from in headers. */
static int send_late(struct job *j, const cl_message *m, const char *reason)
{
	char src[320];
	int n = snprintf(src, sizeof src, "%s/%" PRId32 "/%" PRId64, m->topic, m->partition,
			 m->rec.offset);
	kp_header h[2] = {
		{ (const uint8_t *)"rewind.source", 13, (const uint8_t *)src, n },
		{ (const uint8_t *)"rewind.reason", 13, (const uint8_t *)reason, (int32_t)strlen(reason) },
	};
	j->late_sent++;
	return send_record(j, j->a->late_topic, m->rec.key, m->rec.key_len, m->rec.value,
			   m->rec.value_len, h, 2);
}

/* ------------------------------------------------------- checkpoints */

#define CKPT_MAGIC "RWWINCK1"
#define CKPT_VERSION 1

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes data to path atomically: tmp, fsync, rename, fsync the dir. */
static int write_atomic(const char *path, const uint8_t *data, size_t len)
{
	char tmp[1024], dir[1024];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	snprintf(dir, sizeof dir, "%s", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = write_all(fd, data, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		rc = -errno;
	close(dfd);
	return rc;
}

static void commit_group(struct job *j)
{
	cl_tp_offset *q = calloc(j->n_parts, sizeof *q);
	size_t n = 0;
	if (q == NULL)
		return;
	for (size_t i = 0; i < j->n_parts; i++)
		if (j->parts[i].next >= 0)
			q[n++] = (cl_tp_offset){ .topic = j->parts[i].topic,
						 .partition = j->parts[i].partition,
						 .offset = j->parts[i].next };
	int rc = n ? cl_offset_commit(j->cl, j->a->group, q, n) : 0;
	int16_t perr = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (q[i].error)
			perr = q[i].error;
	if ((rc < 0 || perr) && !j->commit_warned) {
		j->commit_warned = true;
		fprintf(stderr, "rewind windows: note: committing positions to group '%s' failed (%s); "
			"the checkpoint file is what the job resumes from, so results are not "
			"affected\n", j->a->group, rc < 0 ? cl_client_errmsg(j->cl) : kafka_name(perr));
	}
	free(q);
}

static int checkpoint(struct job *j)
{
	int rc = cl_producer_flush(j->prod, 180000);
	if (rc < 0 || j->failed || j->delivered != j->sent)
		return fail("the output was not fully acknowledged (%" PRIu64 " of %" PRIu64 " records%s%s);"
			    " no checkpoint written. Check the broker and run the same command again",
			    j->delivered, j->sent, j->failed ? ": " : "",
			    j->failed ? cl_err_name(j->first_err) : "");
	/* Where the output ends now that everything is acknowledged: after a
	 * crash, what lies beyond was written by a run whose state is lost. */
	cl_list_offset *lo = calloc((size_t)j->out_parts, sizeof *lo);
	if (lo == NULL)
		return fail("out of memory");
	for (int32_t p = 0; p < j->out_parts; p++)
		lo[p] = (cl_list_offset){ .topic = j->a->output, .partition = p,
					  .timestamp = CL_OFFSET_LATEST };
	rc = cl_list_offsets(j->cl, lo, (size_t)j->out_parts);
	for (int32_t p = 0; p < j->out_parts; p++) {
		if (rc < 0 || lo[p].error) {
			int16_t code = rc < 0 ? 0 : lo[p].error;
			free(lo);
			return fail("asking where '%s' ends: %s; no checkpoint written, run the same "
				    "command again", j->a->output, rc < 0 ? cl_client_errmsg(j->cl)
				    : kafka_name(code));
		}
		j->out_end[p] = lo[p].offset;
	}
	free(lo);
	kp_buf b;
	kp_buf_init(&b);
	kp_buf_put(&b, CKPT_MAGIC, 8);
	kp_buf_put_i32(&b, CKPT_VERSION);
	kp_buf_put_i64(&b, j->consumed);
	kp_buf_put_i32(&b, (int32_t)j->n_parts);
	for (size_t i = 0; i < j->n_parts; i++) {
		size_t tl = strlen(j->parts[i].topic);
		kp_buf_put_i16(&b, (int16_t)tl);
		kp_buf_put(&b, j->parts[i].topic, tl);
		kp_buf_put_i32(&b, j->parts[i].partition);
		kp_buf_put_i64(&b, j->parts[i].next);
	}
	kp_buf_put_i32(&b, j->out_parts);
	for (int32_t p = 0; p < j->out_parts; p++)
		kp_buf_put_i64(&b, j->out_end[p]);
	win_engine_save(j->eng, &b);
	uint32_t crc = kp_crc32c(0, b.data, b.len);
	kp_buf_put_i32(&b, (int32_t)crc);
	if (b.err) {
		kp_buf_free(&b);
		return fail("out of memory writing the checkpoint");
	}
	rc = write_atomic(j->a->checkpoint, b.data, b.len);
	kp_buf_free(&b);
	if (rc < 0)
		return fail("writing checkpoint '%s': %s; check the directory's space and permissions",
			    j->a->checkpoint, strerror(-rc));
	commit_group(j);
	return 0;
}

/* Loads the checkpoint if there is one. 0 (loaded or none), or an error
 * status after a message. */
static int restore(struct job *j, bool *found)
{
	*found = false;
	FILE *f = fopen(j->a->checkpoint, "rb");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		return fail("opening checkpoint '%s': %s", j->a->checkpoint, strerror(errno));
	}
	kp_buf b;
	kp_buf_init(&b);
	uint8_t chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		kp_buf_put(&b, chunk, n);
	bool rerr = ferror(f);
	fclose(f);
	int rc = CMD_EXIT_ERROR;
	char err[512] = "";
	if (rerr || b.err) {
		fail("reading checkpoint '%s' failed", j->a->checkpoint);
		goto out;
	}
	if (b.len < 8 + 4 + 4 || memcmp(b.data, CKPT_MAGIC, 8) != 0) {
		fail("'%s' is not a windows checkpoint; remove it or pass another --checkpoint",
		     j->a->checkpoint);
		goto out;
	}
	kp_reader tail = kp_reader_make(b.data + b.len - 4, 4);
	if ((uint32_t)kp_read_i32(&tail) != kp_crc32c(0, b.data, b.len - 4)) {
		fail("checkpoint '%s' is corrupt (CRC mismatch); it is written atomically, so "
		     "something else changed it: remove it to start over from offset 0",
		     j->a->checkpoint);
		goto out;
	}
	kp_reader r = kp_reader_make(b.data + 8, b.len - 12);
	if (kp_read_i32(&r) != CKPT_VERSION) {
		fail("checkpoint '%s' has an unknown version", j->a->checkpoint);
		goto out;
	}
	j->consumed = kp_read_i64(&r);
	int32_t np = kp_read_i32(&r);
	if (!kp_reader_ok(&r) || np != (int32_t)j->n_parts) {
		fail("checkpoint '%s' covers %d input partitions but the inputs have %zu now; use a new "
		     "--group (and output) to start over", j->a->checkpoint, (int)np, j->n_parts);
		goto out;
	}
	for (size_t i = 0; i < j->n_parts; i++) {
		int16_t tl = kp_read_i16(&r);
		const uint8_t *t = tl > 0 ? kp_read_bytes(&r, (size_t)tl) : NULL;
		int32_t p = kp_read_i32(&r);
		int64_t next = kp_read_i64(&r);
		if (!kp_reader_ok(&r) || t == NULL || (size_t)tl != strlen(j->parts[i].topic) ||
		    memcmp(t, j->parts[i].topic, (size_t)tl) != 0 || p != j->parts[i].partition) {
			fail("checkpoint '%s' was written for other input topics; give the same inputs, "
			     "or a new --group to start over", j->a->checkpoint);
			goto out;
		}
		j->parts[i].next = next;
	}
	int32_t no = kp_read_i32(&r);
	for (int32_t p = 0; kp_reader_ok(&r) && p < no; p++) {
		int64_t end = kp_read_i64(&r);
		if (p < j->out_parts)
			j->out_end[p] = end;
	}
	if (!kp_reader_ok(&r) || no < 0) {
		fail("checkpoint '%s' is truncated", j->a->checkpoint);
		goto out;
	}
	if (win_engine_load(j->eng, r.p, kp_reader_left(&r), err, sizeof err) != 0) {
		fail("checkpoint '%s': %s; run with the options it was written with, or use a new "
		     "--group and --output to start over", j->a->checkpoint, err[0] ? err : "out of memory");
		goto out;
	}
	*found = true;
	rc = 0;
out:
	kp_buf_free(&b);
	return rc;
}

/* ------------------------------------------------------------- setup */

static int plan_parts(struct job *j)
{
	cl_metadata *md = NULL;
	struct windows_args *a = j->a;
	if (cl_metadata_get(j->cl, a->inputs, a->n_inputs, &md) < 0)
		return fail("reading the inputs' metadata: %s; is a broker at %s? (--bootstrap)",
			    cl_client_errmsg(j->cl), a->bootstrap);
	size_t total = 0;
	j->topic_base = calloc(a->n_inputs, sizeof *j->topic_base);
	j->topic_parts = calloc(a->n_inputs, sizeof *j->topic_parts);
	if (j->topic_base == NULL || j->topic_parts == NULL) {
		cl_metadata_free(md);
		return fail("out of memory");
	}
	for (size_t i = 0; i < a->n_inputs; i++) {
		const cl_topic_info *t = cl_metadata_topic(md, a->inputs[i]);
		if (t == NULL || t->error == 3 || t->n_partitions == 0) {
			cl_metadata_free(md);
			return fail("input topic '%s' does not exist; 'rewind topics list' shows the "
				    "topics there are", a->inputs[i]);
		}
		if (t->error) {
			int16_t e = t->error;
			cl_metadata_free(md);
			return fail("input topic '%s': %s (%s)", a->inputs[i], kafka_name(e),
				    cl_kafka_err_desc(e));
		}
		j->topic_base[i] = total;
		j->topic_parts[i] = (int32_t)t->n_partitions;
		total += t->n_partitions;
	}
	j->parts = calloc(total, sizeof *j->parts);
	if (j->parts == NULL) {
		cl_metadata_free(md);
		return fail("out of memory");
	}
	for (size_t i = 0; i < a->n_inputs; i++)
		for (int32_t p = 0; p < j->topic_parts[i]; p++)
			j->parts[j->topic_base[i] + (size_t)p] =
				(struct part){ a->inputs[i], p, -1, 0 };
	j->n_parts = total;
	cl_metadata_free(md);
	return 0;
}

static long part_index(const struct job *j, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < j->a->n_inputs; i++)
		if (strcmp(j->a->inputs[i], topic) == 0)
			return partition >= 0 && partition < j->topic_parts[i]
				       ? (long)(j->topic_base[i] + (size_t)partition) : -1;
	return -1;
}

static int output_partitions(struct job *j)
{
	cl_metadata *md = NULL;
	const char *names[1] = { j->a->output };
	if (cl_metadata_get(j->cl, names, 1, &md) < 0)
		return fail("reading metadata of '%s': %s", j->a->output, cl_client_errmsg(j->cl));
	const cl_topic_info *t = cl_metadata_topic(md, j->a->output);
	j->out_parts = t && t->error == 0 ? (int32_t)t->n_partitions : 0;
	cl_metadata_free(md);
	if (j->out_parts <= 0)
		return fail("output topic '%s' has no partitions yet; try again in a moment",
			    j->a->output);
	j->out_end = malloc((size_t)j->out_parts * sizeof *j->out_end);
	if (j->out_end == NULL)
		return fail("out of memory");
	for (int32_t p = 0; p < j->out_parts; p++)
		j->out_end[p] = -1;
	return 0;
}

/* Parses an output key {"key":K,"start":S,"end":E}; false when it is not
 * one of ours. */
static bool parse_ident(const uint8_t *p, int32_t len, struct win_val *key, int64_t *start,
			int64_t *end)
{
	struct win_fields f = { 0 };
	struct win_val v[3];
	win_fields_add(&f, "key");
	win_fields_add(&f, "start");
	win_fields_add(&f, "end");
	win_fixed s, e;
	if (p == NULL || len <= 0 || win_json_scan((const char *)p, (size_t)len, &f, v) < 0 ||
	    v[0].type == WIN_V_ABSENT || v[1].type != WIN_V_NUMBER || v[2].type != WIN_V_NUMBER ||
	    win_num_parse(v[1].p, v[1].len, &s) < 0 || win_num_parse(v[2].p, v[2].len, &e) < 0)
		return false;
	*key = v[0];
	*start = (int64_t)(s / WIN_FIXED_ONE);
	*end = (int64_t)(e / WIN_FIXED_ONE);
	return true;
}

/* Reads the output beyond the checkpoint's end offsets and reconciles
 * every identity found there (see the top of this file). */
static int reconcile_tail(struct job *j)
{
	char err[512];
	cl_consumer *c = NULL;
	cl_consumer_conf cc;
	int rc = CMD_EXIT_ERROR;
	size_t n_tps = 0, seen = 0;
	cl_consumer_tp *tps = calloc((size_t)j->out_parts, sizeof *tps);
	if (tps == NULL)
		return fail("out of memory");
	for (int32_t p = 0; p < j->out_parts; p++)
		if (j->out_end[p] >= 0)
			tps[n_tps++] = (cl_consumer_tp){ j->a->output, p, j->out_end[p], 0 };
	if (n_tps == 0) {
		free(tps);
		return 0;
	}
	cl_consumer_conf_init(&cc);
	cc.bootstrap = j->a->bootstrap;
	cc.client_id = "rewind-windows";
	cc.enable_auto_commit = false;
	cc.auto_offset_reset = CL_RESET_EARLIEST;   /* compacted away: from the start */
	cc.fetch_max_wait_ms = 100;
	if (cl_consumer_new(&cc, &c, err, sizeof err) < 0 || cl_consumer_assign(c, tps, n_tps) < 0) {
		fail("reading '%s' after the checkpoint: %s", j->a->output, c ? "assign failed" : err);
		goto out;
	}
	int64_t last = cmd_perf_now_ns();
	for (;;) {
		const cl_message *m;
		int n = cl_consumer_poll(c, 100, &m, 4096);
		if (n < 0) {
			fail("reading '%s' after the checkpoint: %s", j->a->output, cl_consumer_errmsg(c));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			struct win_val key;
			int64_t s, e;
			if (!parse_ident(m[i].rec.key, m[i].rec.key_len, &key, &s, &e))
				continue;
			if (win_engine_reconcile(j->eng, key.p, key.len, s, e) < 0) {
				fail("out of memory");
				goto out;
			}
			seen++;
		}
		if (n > 0)
			last = cmd_perf_now_ns();
		if (n == 0 && cl_consumer_at_end(c))
			break;
		if (cmd_perf_now_ns() - last > INT64_C(30000000000)) {
			fail("reading '%s' after the checkpoint made no progress for 30 s (%s)",
			     j->a->output, cl_consumer_errmsg(c));
			goto out;
		}
	}
	if (seen && !j->a->quiet)
		fprintf(stderr, "windows: %zu results were written after the checkpoint by the run "
			"that stopped; they are written again or deleted\n", seen);
	rc = 0;
out:
	cl_consumer_close(c);
	free(tps);
	return rc;
}

static void progress(struct job *j, const char *prefix, double secs, int64_t run_events)
{
	struct win_stats s;
	char wm[40];
	win_engine_stats(j->eng, &s);
	if (s.watermark == INT64_MIN || s.watermark == INT64_MAX)
		snprintf(wm, sizeof wm, "none yet");
	else
		win_time_format(s.watermark, wm, sizeof wm);
	fprintf(stderr, "%s%" PRId64 " events (%.0f/s this run), %" PRIu64 " late, %" PRIu64
		" unparsable, %zu open windows, %" PRIu64 " results written, watermark %s\n",
		prefix, j->consumed, secs > 0 ? (double)run_events / secs : 0.0, s.too_late, s.bad,
		s.open_windows, j->results, wm);
}

static int run_job(struct windows_args *a)
{
	struct job j = { .a = a, .lock_fd = -1 };
	int rc = CMD_EXIT_ERROR;
	char err[512];
	cl_opts o = { .client_id = "rewind-windows", .request_timeout_ms = a->timeout_ms };
	kp_buf_init(&j.kb);
	kp_buf_init(&j.vb);

	if (cmd_client_open(a->bootstrap, &o, &j.cl, err, sizeof err) < 0) {
		fail("%s", err);
		goto out;
	}
	if (plan_parts(&j) != 0)
		goto out;
	if (ensure_topic(j.cl, a->output, a->output_partitions > 0 ? a->output_partitions
				: j.topic_parts[0], true) != 0)
		goto out;
	if (output_partitions(&j) != 0)
		goto out;
	if (a->late_topic[0] && ensure_topic(j.cl, a->late_topic, 1, false) != 0)
		goto out;
	/* One job per checkpoint: two would overwrite each other's state. The
	 * lock goes with the process, SIGKILL included. */
	char lock_path[600];
	snprintf(lock_path, sizeof lock_path, "%s.lock", a->checkpoint);
	j.lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (j.lock_fd < 0) {
		fail("cannot create '%s': %s; check the directory (or pass --checkpoint FILE)",
		     lock_path, strerror(errno));
		goto out;
	}
	if (flock(j.lock_fd, LOCK_EX | LOCK_NB) < 0) {
		fail("another rewind windows is running with checkpoint '%s' (group '%s'); stop it "
		     "first, or give this job its own --group", a->checkpoint, a->group);
		goto out;
	}
	int erc = win_engine_new(&a->spec, j.n_parts, &j.eng, err, sizeof err);
	if (erc < 0) {
		fail("%s", erc == -ENOMEM ? "out of memory" : err);
		goto out;
	}
	bool resumed;
	if (restore(&j, &resumed) != 0)
		goto out;
	/* Without a checkpoint the whole output is "after it": a first run
	 * killed before its first checkpoint leaves results too. */
	for (int32_t p = 0; !resumed && p < j.out_parts; p++)
		j.out_end[p] = 0;
	if (reconcile_tail(&j) != 0)
		goto out;
	if (!a->quiet)
		fprintf(stderr, "windows: %s %zu partition(s) of %zu topic(s) -> %s (late: %s), "
			"checkpoint %s\n", resumed ? "resuming" : "starting at offset 0 of", j.n_parts,
			a->n_inputs, a->output, a->late_topic[0] ? a->late_topic : "counted only",
			a->checkpoint);

	cl_consumer_conf cc;
	cl_consumer_conf_init(&cc);
	cc.bootstrap = a->bootstrap;
	cc.client_id = "rewind-windows";
	cc.auto_offset_reset = CL_RESET_ERROR;
	cc.enable_auto_commit = false;
	/* Replays read whole logs: large fetches keep the engine busy (with
	 * 1 MiB per partition the consumer spends most of a replay waiting). */
	cc.max_partition_fetch_bytes = 8 << 20;
	cc.fetch_max_wait_ms = 100;
	if (a->timeout_ms > 0)
		cc.request_timeout_ms = a->timeout_ms;
	if (cl_consumer_new(&cc, &j.cons, err, sizeof err) < 0) {
		fail("starting the consumer: %s", err);
		goto out;
	}
	cl_consumer_tp *tps = calloc(j.n_parts, sizeof *tps);
	if (tps == NULL) {
		fail("out of memory");
		goto out;
	}
	for (size_t i = 0; i < j.n_parts; i++)
		tps[i] = (cl_consumer_tp){ j.parts[i].topic, j.parts[i].partition,
					   j.parts[i].next >= 0 ? j.parts[i].next : CL_OFFSET_EARLIEST, 0 };
	int arc = cl_consumer_assign(j.cons, tps, j.n_parts);
	free(tps);
	if (arc < 0) {
		fail("assigning the input partitions: %s", cl_strerror(arc));
		goto out;
	}
	cl_producer_conf pc;
	cl_producer_conf_init(&pc);
	pc.bootstrap = a->bootstrap;
	pc.client_id = "rewind-windows";
	pc.acks = -1;
	pc.on_delivery = on_delivery;
	pc.app = &j;
	pc.allow_auto_create = false;
	if (cl_producer_new(&pc, &j.prod, err, sizeof err) < 0) {
		fail("starting the producer: %s", err);
		goto out;
	}

	struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	stop_signal = 0;

	int64_t start = cmd_perf_now_ns(), last_ckpt = start, last_prog = start;
	int64_t idle_ns = a->idle_timeout_ms * 1000000, ckpt_ns = a->checkpoint_interval_ms * 1000000;
	int64_t run_events = 0;
	bool natural_end = false, failed = false;
	for (size_t i = 0; i < j.n_parts; i++)
		j.parts[i].last_ns = start;
	while (!stop_signal && !failed) {
		const cl_message *msgs;
		if (a->max_events > 0 && j.consumed >= a->max_events) {
			natural_end = true;
			break;
		}
		int n = cl_consumer_poll(j.cons, 100, &msgs, 4096);
		if (n < 0) {
			fail("reading the inputs: %s%s", cl_consumer_errmsg(j.cons),
			     cl_err_is_kafka(n) && cl_err_kafka_code(n) == 1
				     ? " (the checkpoint's positions are gone from the log: use a new "
				       "--group and --output to start over)" : "");
			failed = true;
			break;
		}
		int64_t now = cmd_perf_now_ns();
		for (int i = 0; i < n; i++) {
			const cl_message *m = &msgs[i];
			long pi = part_index(&j, m->topic, m->partition);
			if (pi < 0)
				continue;
			/* A null value (tombstone) does not scan: unparsable. */
			const char *val = m->rec.value ? (const char *)m->rec.value : "";
			size_t vlen = m->rec.value ? (size_t)m->rec.value_len : 0;
			int out = win_engine_feed(j.eng, (size_t)pi, val, vlen);
			if (out < 0) {
				fail("out of memory (the open windows need more than this machine "
				     "has: fewer keys, shorter windows or less lateness help)");
				failed = true;
				break;
			}
			if (out != WIN_ACCEPTED && a->late_topic[0] &&
			    send_late(&j, m, out == WIN_TOO_LATE ? "late" : "unparsable") != 0) {
				failed = true;
				break;
			}
			j.parts[pi].next = m->rec.offset + 1;
			j.parts[pi].last_ns = now;
			j.consumed++;
			run_events++;
			if (a->max_events > 0 && j.consumed >= a->max_events)
				break;
		}
		if (failed)
			break;
		for (size_t i = 0; i < j.n_parts; i++)
			win_engine_set_idle(j.eng, i, now - j.parts[i].last_ns > idle_ns);
		if (emit(&j, false) != 0) {
			failed = true;
			break;
		}
		if (a->exit_at_end && n == 0 && cl_consumer_at_end(j.cons)) {
			natural_end = true;
			break;
		}
		if (now - last_ckpt >= ckpt_ns) {
			if (checkpoint(&j) != 0) {
				failed = true;
				break;
			}
			last_ckpt = cmd_perf_now_ns();
		}
		if (!a->quiet && now - last_prog >= 5000000000LL) {
			progress(&j, "windows: ", (double)(now - start) / 1e9, run_events);
			last_prog = now;
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (failed)
		goto out;
	if (emit(&j, natural_end) != 0 || checkpoint(&j) != 0)
		goto out;
	if (!a->quiet) {
		struct win_stats s;
		win_engine_stats(j.eng, &s);
		progress(&j, natural_end ? "windows: done: " : "windows: stopped: ",
			 (double)(cmd_perf_now_ns() - start) / 1e9, run_events);
		fprintf(stderr, "windows: %" PRIu64 " events in windows, %" PRIu64 " late updates, %"
			PRIu64 " late and %" PRIu64 " unparsable events %s%s, %" PRIu64 " final results; "
			"checkpoint %s\n", s.accepted, s.late_updates, s.too_late, s.bad,
			a->late_topic[0] ? "sent to " : "counted (no late topic)", a->late_topic,
			s.finals, a->checkpoint);
	}
	rc = CMD_EXIT_OK;
out:
	if (j.cons)
		cl_consumer_close(j.cons);
	if (j.prod)
		cl_producer_close(j.prod, rc == CMD_EXIT_OK ? 30000 : 0);
	win_engine_free(j.eng);
	cl_client_free(j.cl);
	free(j.parts);
	free(j.topic_base);
	free(j.topic_parts);
	free(j.out_end);
	kp_buf_free(&j.kb);
	kp_buf_free(&j.vb);
	if (j.lock_fd >= 0)
		close(j.lock_fd);
	return rc;
}

int cmd_windows(int argc, char **argv)
{
	struct windows_args a;
	char err[512];
	int rc;
	if (cmd_windows_parse(argc, argv, &a, err, sizeof err) < 0) {
		cmd_windows_args_free(&a);
		return fail("%s", err);
	}
	if (a.help) {
		fputs(help, stdout);
		rc = CMD_EXIT_OK;
	} else if (a.verify) {
		rc = cmd_windows_verify(&a);
	} else {
		rc = run_job(&a);
	}
	cmd_windows_args_free(&a);
	return rc;
}
