/*
 * bench_storage.c -- throughput of storage's append and read paths.
 *
 * For each combination of mode x partitions x batch size it:
 *   1. opens P partition logs in a fresh directory under --dir;
 *   2. appends batches of 1 KiB records (codec none) for --seconds or until
 *      --bytes have been appended, keeping up to --inflight appends queued
 *      per partition and at most --inflight-bytes queued in all; completions
 *      arrive on storage's writer thread and free their slot;
 *   3. reads every log back from its start with st_log_read() + pread()
 *      while the bytes are still in the page cache (as a consumer fetching
 *      just-written data would) and checks the bytes add up;
 *   4. closes and deletes the logs.
 *
 * Modes: "durable" is flush.messages=1 (every append's callback waits for
 * its fdatasync; many appends share one sync: group commit); "relaxed" sets
 * flush.messages and flush.ms so high that no sync happens during the run.
 *
 * Output: a progress line per run on stderr; on stdout one line per phase
 * and combination, the median of --repeat runs with their min and max,
 *
 *   result phase=append mode=durable partitions=8 batch=65536 batch_bytes=...
 *          bytes=... records=... seconds=... mb_per_s=... records_per_s=...
 *          syncs=... appends=... mean_latency_ms=... runs=3 mb_per_s_min=...
 *          mb_per_s_max=...
 *   result phase=read mode=durable partitions=8 batch=65536 mb_per_s=...
 *          runs=3 mb_per_s_min=... mb_per_s_max=...
 *
 * for tests/bench/storage.sh to put beside fio's figures. MB is 10^6 bytes,
 * as fio's "MB/s". Exit 0 when every run worked (whatever its speed), 1 when
 * an append or read failed or the bytes read back differ from those
 * appended: the quick form run by `meson test` checks only that.
 *
 * Threads: one or more submitter threads (--threads) each own a share of the
 * partitions; storage's writer thread runs the callbacks, which only take
 * the run's mutex for a few instructions to return a slot.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"
#include "storage/storage.h"

#define RECORD_VALUE_BYTES 1024
#define READ_MAX_BYTES ((size_t)1 << 20)   /* per st_log_read, like fetch.max.bytes */
#define MAX_LIST 16

struct bench_opts {
	const char *dir;
	double seconds;             /* per append run */
	int64_t bytes;              /* per append run */
	int partitions[MAX_LIST];
	int npartitions;
	size_t batch_sizes[MAX_LIST];
	int nbatch_sizes;
	bool durable, relaxed;
	int inflight;               /* appends queued per partition */
	size_t inflight_bytes;      /* appends queued in all */
	int threads;
	int repeat;                 /* runs per combination; the median is shown */
	bool io_uring;
	bool keep;
};

struct run;

/* One append buffer. The batch bytes are built once: storage rewrites only
 * baseOffset and partitionLeaderEpoch, which the CRC does not cover, so a
 * slot is resubmitted as is once its callback has run. */
struct slot {
	st_append app;
	struct run *run;
	int partition;
	bool busy;
	double submitted_at;
};

struct part {
	st_log *log;
	struct slot *slots;         /* opts.inflight of them */
	int busy;
};

struct run {
	const struct bench_opts *o;
	int nparts;
	struct part *parts;
	size_t batch_len;           /* bytes of one batch */
	int32_t batch_records;
	int nthreads;               /* submitters; partition p belongs to p % nthreads */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t inflight_bytes;
	int inflight;
	int64_t submitted_bytes;
	int64_t done_bytes, done_records, done_appends;
	double latency_sum;
	int first_err;
	bool stop;                  /* deadline or byte target reached */
	double deadline;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bench_storage --dir DIR [options]\n"
		"\n"
		"Measures storage append throughput (1 KiB records) and cached sequential\n"
		"reads. Results go to stdout as 'result ...' lines; progress to stderr.\n"
		"\n"
		"options:\n"
		"  --dir DIR             where the logs are written (required; each run\n"
		"                        uses and then deletes a subdirectory)\n"
		"  --quick               small runs for a smoke test (~10 s in all)\n"
		"  --seconds S           longest append phase per run (default 8)\n"
		"  --bytes N             most bytes appended per run (default 1g)\n"
		"  --partitions LIST     e.g. 1,8,64 (default)\n"
		"  --batch-sizes LIST    e.g. 16k,64k,256k,1m (default)\n"
		"  --modes LIST          durable,relaxed (default both)\n"
		"  --inflight N          appends queued per partition (default 4)\n"
		"  --inflight-bytes N    bytes queued over all partitions (default 64m)\n"
		"  --threads N           submitter threads (default 1)\n"
		"  --repeat N            runs per combination; the median is reported\n"
		"                        with the min and max (default 1)\n"
		"  --no-io-uring         use storage's pwrite + fdatasync writer\n"
		"  --keep                keep the logs after each run\n");
}

/* Parses "123", "16k", "1m", "1g" (powers of 1024); false on junk. */
static bool parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return false;
	int64_t mul = 1;
	switch (*end) {
	case 'k': case 'K': mul = 1024; end++; break;
	case 'm': case 'M': mul = 1024 * 1024; end++; break;
	case 'g': case 'G': mul = INT64_C(1024) * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end != '\0' || v > INT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

/* Parses a comma list of sizes into out[]; returns the count or -1. */
static int parse_size_list(const char *s, int64_t *out, int max)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", s);
	int n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == max || !parse_size(tok, &out[n]) || out[n] == 0)
			return -1;
		n++;
	}
	return n ? n : -1;
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const int def_parts[] = { 1, 8, 64 };
	static const size_t def_batches[] = { 16 << 10, 64 << 10, 256 << 10, 1 << 20 };
	memset(o, 0, sizeof *o);
	o->seconds = 8;
	o->bytes = INT64_C(1) << 30;
	o->npartitions = 3;
	memcpy(o->partitions, def_parts, sizeof def_parts);
	o->nbatch_sizes = 4;
	memcpy(o->batch_sizes, def_batches, sizeof def_batches);
	o->durable = o->relaxed = true;
	o->inflight = 4;
	o->inflight_bytes = 64 << 20;
	o->threads = 1;
	o->repeat = 1;
	o->io_uring = true;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t list[MAX_LIST], n;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(a, "--quick") == 0) {
			/* Small enough for a smoke test; it still crosses a batch
			 * boundary many times and runs both modes. */
			o->seconds = 1;
			o->bytes = 8 << 20;
			o->npartitions = 3;
			o->partitions[0] = 1;
			o->partitions[1] = 8;
			o->partitions[2] = 64;
			o->nbatch_sizes = 2;
			o->batch_sizes[0] = 16 << 10;
			o->batch_sizes[1] = 256 << 10;
		} else if (strcmp(a, "--keep") == 0) {
			o->keep = true;
		} else if (strcmp(a, "--no-io-uring") == 0) {
			o->io_uring = false;
		} else if (v == NULL) {
			fprintf(stderr, "bench_storage: unknown option or missing value: '%s'; "
				"run 'bench_storage --help'\n", a);
			return -1;
		} else if (strcmp(a, "--dir") == 0) {
			o->dir = v;
			i++;
		} else if (strcmp(a, "--seconds") == 0) {
			o->seconds = atof(v);
			i++;
		} else if (strcmp(a, "--bytes") == 0) {
			if (!parse_size(v, &o->bytes))
				goto bad;
			i++;
		} else if (strcmp(a, "--partitions") == 0) {
			if ((n = parse_size_list(v, list, MAX_LIST)) < 0)
				goto bad;
			o->npartitions = (int)n;
			for (int k = 0; k < n; k++)
				o->partitions[k] = (int)(list[k] > 4096 ? 4096 : list[k]);
			i++;
		} else if (strcmp(a, "--batch-sizes") == 0) {
			if ((n = parse_size_list(v, list, MAX_LIST)) < 0)
				goto bad;
			o->nbatch_sizes = (int)n;
			for (int k = 0; k < n; k++)
				o->batch_sizes[k] = (size_t)list[k];
			i++;
		} else if (strcmp(a, "--modes") == 0) {
			o->durable = strstr(v, "durable") != NULL;
			o->relaxed = strstr(v, "relaxed") != NULL;
			if (!o->durable && !o->relaxed)
				goto bad;
			i++;
		} else if (strcmp(a, "--inflight") == 0) {
			o->inflight = atoi(v);
			if (o->inflight < 1)
				goto bad;
			i++;
		} else if (strcmp(a, "--inflight-bytes") == 0) {
			int64_t b;
			if (!parse_size(v, &b) || b < 1)
				goto bad;
			o->inflight_bytes = (size_t)b;
			i++;
		} else if (strcmp(a, "--repeat") == 0) {
			o->repeat = atoi(v);
			if (o->repeat < 1 || o->repeat > 99)
				goto bad;
			i++;
		} else if (strcmp(a, "--threads") == 0) {
			o->threads = atoi(v);
			if (o->threads < 1)
				goto bad;
			i++;
		} else {
			fprintf(stderr, "bench_storage: unknown option '%s'; run 'bench_storage --help'\n", a);
			return -1;
		}
		continue;
bad:
		fprintf(stderr, "bench_storage: bad value '%s' for %s; run 'bench_storage --help'\n", v, a);
		return -1;
	}
	if (o->dir == NULL) {
		fprintf(stderr, "bench_storage: --dir DIR is required (a directory on the disk to "
			"measure; runs create and delete subdirectories in it)\n");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- batch */

/* Builds one batch of about `target` bytes of 1 KiB records into out. */
static int build_batch(size_t target, kp_buf *out, int32_t *records)
{
	uint8_t value[RECORD_VALUE_BYTES];
	for (size_t i = 0; i < sizeof value; i++)
		value[i] = (uint8_t)('a' + i % 26);
	int32_t n = (int32_t)(target / RECORD_VALUE_BYTES);
	if (n < 1)
		n = 1;
	kp_batch_builder b;
	kp_batch_builder_init(&b, KP_CODEC_NONE, 0);
	int err = 0;
	int64_t ts = wall_ms();
	for (int32_t i = 0; i < n && err == 0; i++)
		err = kp_batch_builder_add(&b, ts, NULL, -1, value, sizeof value, NULL, 0);
	if (err == 0)
		err = kp_batch_builder_finish(&b, out);
	kp_batch_builder_free(&b);
	*records = n;
	return err;
}

/* --------------------------------------------------------------- append */

static void on_appended(st_append *a, int err)
{
	struct slot *s = a->arg;
	struct run *r = s->run;
	double t = now_s();
	pthread_mutex_lock(&r->mu);
	if (err != 0 && r->first_err == 0)
		r->first_err = err;
	if (err == 0) {
		r->done_bytes += (int64_t)a->len;
		r->done_records += r->batch_records;
		r->done_appends++;
		r->latency_sum += t - s->submitted_at;
	}
	s->busy = false;
	r->parts[s->partition].busy--;
	r->inflight--;
	r->inflight_bytes -= a->len;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

struct submitter {
	struct run *run;
	int index;
	pthread_t tid;
};

/*
 * Keeps the partitions p with p % threads == index full of queued appends
 * until the run stops. A submission is chosen under the mutex and made
 * outside it: the callback may run on the writer before st_log_append()
 * returns, and it takes the mutex.
 */
static void *submit_loop(void *arg)
{
	struct submitter *sub = arg;
	struct run *r = sub->run;
	const struct bench_opts *o = r->o;
	int p = sub->index;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		if (!r->stop && (now_s() >= r->deadline || r->submitted_bytes >= o->bytes))
			r->stop = true;
		if (r->stop || r->first_err != 0)
			break;
		/* Find a partition of ours with a free slot, round robin. */
		struct slot *s = NULL;
		if (r->inflight_bytes + r->batch_len <= o->inflight_bytes || r->inflight == 0) {
			int start = p;
			for (int k = 0; k < r->nparts && s == NULL; k++) {
				int q = (start + k) % r->nparts;
				if (q % r->nthreads != sub->index || r->parts[q].busy >= o->inflight)
					continue;
				for (int j = 0; j < o->inflight; j++)
					if (!r->parts[q].slots[j].busy) {
						s = &r->parts[q].slots[j];
						break;
					}
				p = q + 1;
			}
		}
		if (s == NULL) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 10 * 1000 * 1000;   /* recheck the deadline */
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&r->cv, &r->mu, &until);
			continue;
		}
		s->busy = true;
		r->parts[s->partition].busy++;
		r->inflight++;
		r->inflight_bytes += r->batch_len;
		r->submitted_bytes += (int64_t)r->batch_len;
		pthread_mutex_unlock(&r->mu);

		s->submitted_at = now_s();
		int err = st_log_append(r->parts[s->partition].log, &s->app, wall_ms());

		pthread_mutex_lock(&r->mu);
		if (err != 0) {
			/* The callback will not run: undo the accounting here. */
			s->busy = false;
			r->parts[s->partition].busy--;
			r->inflight--;
			r->inflight_bytes -= r->batch_len;
			r->submitted_bytes -= (int64_t)r->batch_len;
			if (r->first_err == 0)
				r->first_err = err;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ----------------------------------------------------------------- read */

/* Reads every log of the run from its start to its readable end. Returns 0
 * with *bytes read, or an error (printed). */
static int read_all(struct run *r, int64_t *bytes, double *seconds)
{
	uint8_t *buf = malloc(READ_MAX_BYTES);
	size_t cap = READ_MAX_BYTES;
	if (buf == NULL)
		return -ENOMEM;
	int64_t total = 0;
	int err = 0;
	double t0 = now_s();
	for (int p = 0; p < r->nparts && err == 0; p++) {
		st_log *log = r->parts[p].log;
		int64_t off = st_log_start_offset(log);
		int64_t end = st_log_readable_end(log);
		while (off < end) {
			st_slice sl;
			err = st_log_read(log, off, READ_MAX_BYTES, -1, &sl);
			if (err != 0) {
				fprintf(stderr, "bench_storage: st_log_read partition %d offset %" PRId64
					": %s\n", p, off, st_strerror(err));
				break;
			}
			if (sl.len == 0 || sl.next_offset <= off) {
				fprintf(stderr, "bench_storage: st_log_read partition %d offset %" PRId64
					" returned no progress (len %zu, next %" PRId64 ") below the "
					"readable end %" PRId64 "\n", p, off, sl.len, sl.next_offset, end);
				st_slice_release(&sl);
				err = -EIO;
				break;
			}
			if (sl.len > cap) {
				/* At least the first batch comes whole, however large. */
				uint8_t *nb = realloc(buf, sl.len);
				if (nb == NULL) {
					st_slice_release(&sl);
					err = -ENOMEM;
					break;
				}
				buf = nb;
				cap = sl.len;
			}
			size_t got = 0;
			while (got < sl.len) {
				ssize_t n = pread(sl.fd, buf + got, sl.len - got, (off_t)(sl.file_pos + (int64_t)got));
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					err = n < 0 ? -errno : -EIO;
					break;
				}
				got += (size_t)n;
			}
			int64_t first = got >= 8 ? (int64_t)kp_load_be64(buf) : -1;
			int64_t want = sl.first_offset;
			int64_t next = sl.next_offset;
			st_slice_release(&sl);
			if (err != 0) {
				fprintf(stderr, "bench_storage: pread partition %d: %s\n", p, st_strerror(err));
				break;
			}
			/* A cheap check that the slice is what it says: its first
			 * batch starts with the offset it claims. */
			if (first != want) {
				fprintf(stderr, "bench_storage: partition %d: slice claims first offset %"
					PRId64 " but its bytes say %" PRId64 "\n", p, want, first);
				err = -EIO;
				break;
			}
			total += (int64_t)got;
			off = next;
		}
	}
	*seconds = now_s() - t0;
	*bytes = total;
	free(buf);
	return err;
}

/* ------------------------------------------------------------------ run */

/* What one run measured. */
struct run_result {
	size_t batch_len;
	int64_t bytes, records, appends, syncs;
	double append_s, latency_ms;
	int64_t read_bytes;
	double read_s;
};

static double append_mb(const struct run_result *x) { return (double)x->bytes / 1e6 / x->append_s; }
static double read_mb(const struct run_result *x) { return (double)x->read_bytes / 1e6 / x->read_s; }

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Appends, reads back, closes and deletes one set of logs; fills *res.
 * 0, or -1 after printing what failed. */
static int run_one(st_store *store, const struct bench_opts *o, bool durable,
		   int nparts, size_t batch_target, struct run_result *res)
{
	const char *mode = durable ? "durable" : "relaxed";
	char rundir[PATH_MAX];
	snprintf(rundir, sizeof rundir, "%s/run-%s-p%d-b%zu", o->dir, mode, nparts, batch_target);
	nftw(rundir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(rundir, 0755) != 0) {
		fprintf(stderr, "bench_storage: cannot create %s: %s; check --dir\n", rundir, strerror(errno));
		return -1;
	}

	struct run r;
	memset(&r, 0, sizeof r);
	r.o = o;
	r.nparts = nparts;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	int rc = 0, err;

	kp_buf tmpl;
	kp_buf_init(&tmpl);
	err = build_batch(batch_target, &tmpl, &r.batch_records);
	if (err != 0) {
		fprintf(stderr, "bench_storage: building a %zu-byte batch: %s\n", batch_target, kp_strerror(err));
		kp_buf_free(&tmpl);
		return -1;
	}
	r.batch_len = tmpl.len;

	st_log_config cfg;
	st_log_config_default(&cfg);
	if (!durable) {
		cfg.flush_messages = INT64_C(1) << 40;
		cfg.flush_ms = INT64_C(1) << 40;
	}
	r.parts = calloc((size_t)nparts, sizeof *r.parts);
	if (r.parts == NULL) {
		fprintf(stderr, "bench_storage: out of memory\n");
		kp_buf_free(&tmpl);
		return -1;
	}
	int opened = 0;
	for (int p = 0; p < nparts && rc == 0; p++) {
		char dir[PATH_MAX + 32];
		snprintf(dir, sizeof dir, "%s/bench-%d", rundir, p);
		err = st_log_open(store, dir, &cfg, wall_ms(), &r.parts[p].log);
		if (err != 0) {
			fprintf(stderr, "bench_storage: st_log_open %s: %s\n", dir, st_strerror(err));
			rc = -1;
			break;
		}
		opened++;
		r.parts[p].slots = calloc((size_t)o->inflight, sizeof(struct slot));
		if (r.parts[p].slots == NULL) {
			rc = -1;
			break;
		}
		for (int j = 0; j < o->inflight; j++) {
			struct slot *s = &r.parts[p].slots[j];
			s->run = &r;
			s->partition = p;
			s->app.data = malloc(tmpl.len);
			if (s->app.data == NULL) {
				fprintf(stderr, "bench_storage: out of memory for append buffers; "
					"lower --inflight\n");
				rc = -1;
				break;
			}
			memcpy(s->app.data, tmpl.data, tmpl.len);
			s->app.len = tmpl.len;
			s->app.leader_epoch = 0;
			s->app.cb = on_appended;
			s->app.arg = s;
		}
	}

	double append_s = 0;
	int64_t syncs = 0;
	if (rc == 0) {
		fprintf(stderr, "bench_storage: %s, %d partition%s, %zu-byte batches (%" PRId32
			" records of %d bytes)...\n", mode, nparts, nparts == 1 ? "" : "s",
			r.batch_len, r.batch_records, RECORD_VALUE_BYTES);
		int nthreads = o->threads < nparts ? o->threads : nparts;
		struct submitter subs[64];
		if (nthreads > 64)
			nthreads = 64;
		r.nthreads = nthreads;
		double t0 = now_s();
		r.deadline = t0 + o->seconds;
		for (int t = 0; t < nthreads; t++) {
			subs[t] = (struct submitter){ &r, t, 0 };
			if (pthread_create(&subs[t].tid, NULL, submit_loop, &subs[t]) != 0) {
				fprintf(stderr, "bench_storage: cannot start a submitter thread\n");
				nthreads = t;
				rc = -1;
				break;
			}
		}
		for (int t = 0; t < nthreads; t++)
			pthread_join(subs[t].tid, NULL);
		/* Count the run until the last queued append completes. */
		pthread_mutex_lock(&r.mu);
		while (r.inflight > 0)
			pthread_cond_wait(&r.cv, &r.mu);
		pthread_mutex_unlock(&r.mu);
		append_s = now_s() - t0;
		for (int p = 0; p < nparts; p++) {
			st_log_stats st;
			st_log_get_stats(r.parts[p].log, &st);
			syncs += st.syncs;
		}
		if (r.first_err != 0) {
			fprintf(stderr, "bench_storage: an append failed: %s\n", st_strerror(r.first_err));
			rc = -1;
		}
	}
	if (rc == 0) {
		*res = (struct run_result){
			.batch_len = r.batch_len, .bytes = r.done_bytes, .records = r.done_records,
			.appends = r.done_appends, .syncs = syncs, .append_s = append_s,
			.latency_ms = r.done_appends ? r.latency_sum / (double)r.done_appends * 1e3 : 0.0,
		};
		err = read_all(&r, &res->read_bytes, &res->read_s);
		if (err != 0) {
			rc = -1;
		} else if (res->read_bytes != r.done_bytes) {
			fprintf(stderr, "bench_storage: read back %" PRId64 " bytes but %" PRId64
				" were appended (%s mode): storage's readable end or read path is "
				"wrong\n", res->read_bytes, r.done_bytes, mode);
			rc = -1;
		}
	}

	for (int p = 0; p < opened; p++)
		st_log_close(r.parts[p].log);
	for (int p = 0; p < nparts; p++) {
		if (r.parts[p].slots == NULL)
			continue;
		for (int j = 0; j < o->inflight; j++)
			free(r.parts[p].slots[j].app.data);
		free(r.parts[p].slots);
	}
	free(r.parts);
	kp_buf_free(&tmpl);
	pthread_mutex_destroy(&r.mu);
	pthread_cond_destroy(&r.cv);
	if (!o->keep) {
		nftw(rundir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		/* Settle the deletion (and the discards it may trigger) now, not
		 * inside the next run's measurement. */
		sync();
	}
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Runs one combination o->repeat times and prints the median run's
 * figures, with the min and max over the runs. 0 or -1. */
static int run_combination(st_store *store, const struct bench_opts *o, bool durable,
			   int nparts, size_t batch_target)
{
	struct run_result res[99];
	double am[99], rm[99];
	int n = o->repeat;
	for (int k = 0; k < n; k++) {
		if (run_one(store, o, durable, nparts, batch_target, &res[k]) != 0)
			return -1;
		am[k] = append_mb(&res[k]);
		rm[k] = read_mb(&res[k]);
	}
	/* The run whose append figure is the median, for its other fields. */
	qsort(am, (size_t)n, sizeof am[0], cmp_double);
	qsort(rm, (size_t)n, sizeof rm[0], cmp_double);
	const struct run_result *m = &res[0];
	for (int k = 0; k < n; k++)
		if (append_mb(&res[k]) == am[n / 2])
			m = &res[k];
	const char *mode = durable ? "durable" : "relaxed";
	printf("result phase=append mode=%s partitions=%d batch=%zu batch_bytes=%zu bytes=%"
	       PRId64 " records=%" PRId64 " seconds=%.3f mb_per_s=%.1f records_per_s=%.0f"
	       " syncs=%" PRId64 " appends=%" PRId64 " mean_latency_ms=%.2f runs=%d"
	       " mb_per_s_min=%.1f mb_per_s_max=%.1f\n",
	       mode, nparts, batch_target, m->batch_len, m->bytes, m->records, m->append_s,
	       append_mb(m), (double)m->records / m->append_s, m->syncs, m->appends,
	       m->latency_ms, n, am[0], am[n - 1]);
	printf("result phase=read mode=%s partitions=%d batch=%zu mb_per_s=%.1f runs=%d"
	       " mb_per_s_min=%.1f mb_per_s_max=%.1f\n", mode, nparts, batch_target,
	       rm[n / 2], n, rm[0], rm[n - 1]);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int prc = parse_opts(argc, argv, &o);
	if (prc != 0)
		return prc > 0 ? 0 : 1;   /* 1: --help was shown */
	if (mkdir(o.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "bench_storage: cannot create %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	st_store_options so;
	st_store_options_default(&so);
	if (!o.io_uring)
		so.use_io_uring = false;
	st_store *store;
	int err = st_store_open(&so, &store);
	if (err != 0) {
		fprintf(stderr, "bench_storage: st_store_open: %s\n", st_strerror(err));
		return 1;
	}
	printf("info writer=%s\n", st_store_uses_io_uring(store) ? "io_uring" : "pwrite");

	int rc = 0;
	for (int m = 0; m < 2 && rc == 0; m++) {
		bool durable = m == 0;
		if ((durable && !o.durable) || (!durable && !o.relaxed))
			continue;
		for (int i = 0; i < o.npartitions && rc == 0; i++)
			for (int j = 0; j < o.nbatch_sizes && rc == 0; j++)
				rc = run_combination(store, &o, durable, o.partitions[i],
						     o.batch_sizes[j]);
	}
	st_store_close(store);
	return rc == 0 ? 0 : 1;
}
