/*
 * cleaner.c -- the log cleaner's threads: which log to clean next, the I/O
 * throttle, and the cleaner-offset-checkpoint files.
 *
 * Logs are handed over with st_cleaner_add() and taken back by
 * st_log_close() (st__cleaner_forget). Each of log.cleaner.threads threads
 * loops: pick the log with the highest dirty ratio among those whose
 * policy says compact and that are due (ratio >= min.cleanable.dirty.ratio,
 * or a dirty segment older than max.compaction.lag.ms, which goes first),
 * run one pass on it (cleaner_pass.c), record the new first dirty offset,
 * and go on; with nothing due it sleeps log.cleaner.backoff.ms or until
 * woken. A log is cleaned by one thread at a time (entry->busy).
 *
 * Throttle: every pass reports the bytes it reads and writes; a token
 * bucket shared by all threads (log.cleaner.io.max.bytes.per.second, one
 * second of burst) makes the reporting thread sleep when it is ahead. The
 * sleep wakes early on stop or when the log is being closed, and the pass
 * is then abandoned (its output removed, the log as it was).
 *
 * Checkpoint: <parent of the log dirs>/cleaner-offset-checkpoint, Kafka's
 * format:
 *
 *     0                        version
 *     <n>                      entries
 *     <topic> <partition> <first dirty offset>     n lines
 *
 * A log dir is "<topic>-<partition>". After each pass the file of that
 * parent is rewritten (atomically) with the offsets of the logs registered
 * there; lines of logs not registered (yet) are kept while their directory
 * exists. The checkpoint only saves work: without it a log is taken as all
 * dirty, and since delete horizons live in the batches (KIP-534) cleaning
 * it again changes nothing it should not.
 *
 * Locks: c->mu guards the entry list, the busy/gone/probe flags, the
 * bucket and the stats; never held across I/O (the throttle sleep waits on
 * a condition). c->ckpt_mu serializes checkpoint file writes. A log's own
 * locks are taken by the pass, never under c->mu.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "storage/st_int.h"

#define CKPT_NAME "cleaner-offset-checkpoint"
#define CKPT_MAX ((size_t)4 << 20)

typedef struct st__cleaner_entry st__cleaner_entry;
struct st__cleaner_entry {
	st_log *log;                  /* borrowed; valid until forgotten */
	st_cleaner *c;
	char *parent;                 /* owned: the log dir's parent */
	char *name;                   /* owned: its basename */
	bool busy;                    /* c->mu: a thread runs a pass on it */
	bool gone;                    /* c->mu: st_log_close() wants it back */
	int probes;                   /* c->mu: pickers looking at it */
	int64_t retry_at;             /* c->mu: monotonic ms; after a failure */
	st__cleaner_entry *next;
};

struct st_cleaner {
	st_store *store;
	st_cleaner_options o;
	pthread_t *threads;
	int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t wake;          /* work, wake-up or stop (monotonic) */
	pthread_cond_t idle;          /* an entry's pass or probe ended */
	bool stop, kick;
	st__cleaner_entry *entries;
	st_cleaner_stats stats;
	double tokens;                /* bucket, bytes */
	int64_t tb_last_ns;
	pthread_mutex_t ckpt_mu;
};

void st_cleaner_options_default(st_cleaner_options *o)
{
	o->threads = 1;
	o->io_max_bytes_per_second = INT64_MAX;
	o->dedupe_buffer_bytes = (size_t)128 << 20;
	o->backoff_ms = 15000;
}

/* A refusal that only says the log is closing or being deleted: the log
 * leaves the cleaner's list soon, nothing failed. */
static bool log_going(int rc)
{
	return rc == ST_ERR_CLOSING || rc == ST_ERR_DELETING;
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on c->wake until the monotonic deadline (ns) or a signal. */
static void wait_until(st_cleaner *c, int64_t deadline_ns)
{
	struct timespec ts = { (time_t)(deadline_ns / 1000000000), (long)(deadline_ns % 1000000000) };
	pthread_cond_timedwait(&c->wake, &c->mu, &ts);
}

/* ---------------------------------------------------------- checkpoint */

/* "<topic>-<partition>" -> topic length and partition, or false. */
static bool split_name(const char *name, size_t *tlen, long *part)
{
	const char *dash = strrchr(name, '-');
	char *end;

	if (!dash || dash == name || !dash[1])
		return false;
	errno = 0;
	*part = strtol(dash + 1, &end, 10);
	if (errno || *end || *part < 0 || *part > INT32_MAX)
		return false;
	*tlen = (size_t)(dash - name);
	return true;
}

/* Looks `name` up in a checkpoint text: its offset, or -1. */
static int64_t ckpt_find(const char *text, const char *name)
{
	size_t tlen;
	long part;
	const char *p = text;

	if (!split_name(name, &tlen, &part))
		return -1;
	/* Skip the version and count lines. */
	for (int i = 0; i < 2 && p; i++)
		if ((p = strchr(p, '\n')))
			p++;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		const char *sp = memchr(p, ' ', eol ? (size_t)(eol - p) : strlen(p));
		long long pa, off;
		if (sp && (size_t)(sp - p) == tlen && memcmp(p, name, tlen) == 0 &&
		    sscanf(sp, " %lld %lld", &pa, &off) == 2 && pa == part && off >= 0)
			return off;
		p = eol ? eol + 1 : NULL;
	}
	return -1;
}

static char *ckpt_read(const char *parent)
{
	char *buf = malloc(CKPT_MAX);
	if (!buf)
		return NULL;
	ssize_t n = st__read_small(parent, CKPT_NAME, buf, CKPT_MAX);
	if (n < 0 || strncmp(buf, "0\n", 2) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Rewrites parent's checkpoint: registered logs there plus kept lines. */
static void ckpt_write(st_cleaner *c, const char *parent)
{
	kp_buf body;
	int count = 0;

	pthread_mutex_lock(&c->ckpt_mu);
	char *old = ckpt_read(parent);
	kp_buf_init(&body);
	pthread_mutex_lock(&c->mu);
	for (st__cleaner_entry *e = c->entries; e; e = e->next) {
		size_t tlen;
		long part;
		if (strcmp(e->parent, parent) != 0 || !split_name(e->name, &tlen, &part))
			continue;
		pthread_mutex_lock(&e->log->mu);
		int64_t off = e->log->clean_offset;
		pthread_mutex_unlock(&e->log->mu);
		if (off < 0)
			continue;
		char line[512];
		int n = snprintf(line, sizeof(line), "%.*s %ld %" PRId64 "\n", (int)tlen, e->name,
				 part, off);
		if (n > 0 && (size_t)n < sizeof(line)) {
			kp_buf_put(&body, line, (size_t)n);
			count++;
		}
	}
	/* Lines of logs not registered: kept while their directory exists. */
	const char *p = old;
	for (int i = 0; i < 2 && p; i++)
		if ((p = strchr(p, '\n')))
			p++;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[512], dir[4096];
		long long pa, off;
		char topic[256];
		bool keep = false;
		if (len < sizeof(line)) {
			memcpy(line, p, len);
			line[len] = '\0';
			if (sscanf(line, "%255s %lld %lld", topic, &pa, &off) == 3) {
				struct stat st;
				char name[300];
				snprintf(name, sizeof(name), "%s-%lld", topic, pa);
				keep = true;
				for (st__cleaner_entry *e = c->entries; e && keep; e = e->next)
					keep = !(strcmp(e->parent, parent) == 0 && strcmp(e->name, name) == 0);
				keep = keep && st__path(dir, sizeof(dir), "%s/%s", parent, name) == 0 &&
				       stat(dir, &st) == 0;
			}
		}
		if (keep) {
			kp_buf_put(&body, line, len);
			kp_buf_put(&body, "\n", 1);
			count++;
		}
		p = eol ? eol + 1 : NULL;
	}
	pthread_mutex_unlock(&c->mu);
	free(old);
	char head[32];
	int hn = snprintf(head, sizeof(head), "0\n%d\n", count);
	kp_buf file;
	kp_buf_init(&file);
	kp_buf_put(&file, head, (size_t)hn);
	if (body.len)
		kp_buf_put(&file, body.data, body.len);
	int rc = file.err ? -ENOMEM : st_file_write_atomic(parent, CKPT_NAME, file.data, file.len);
	if (rc < 0)
		st__logf(c->store, ST_LOG_WARN, "%s/%s: cannot write: %s (the logs will be "
			 "taken as dirtier than they are)", parent, CKPT_NAME, st_strerror(rc));
	kp_buf_free(&file);
	kp_buf_free(&body);
	pthread_mutex_unlock(&c->ckpt_mu);
}

/* ------------------------------------------------------------ throttle */

typedef struct pass_ctx {
	st_cleaner *c;
	st__cleaner_entry *e;
} pass_ctx;

static bool on_progress(void *arg, int64_t bytes)
{
	pass_ctx *pc = arg;
	st_cleaner *c = pc->c;
	int64_t rate = c->o.io_max_bytes_per_second;
	bool go;

	pthread_mutex_lock(&c->mu);
	if (rate > 0 && rate < INT64_MAX) {
		int64_t now = mono_ns();
		c->tokens += (double)(now - c->tb_last_ns) * (double)rate / 1e9;
		if (c->tokens > (double)rate)
			c->tokens = (double)rate;
		c->tb_last_ns = now;
		c->tokens -= (double)bytes;
		while (c->tokens < 0 && !c->stop && !pc->e->gone) {
			int64_t deadline = now + (int64_t)(-c->tokens * 1e9 / (double)rate) + 1;
			wait_until(c, deadline);
			int64_t t = mono_ns();
			c->tokens += (double)(t - c->tb_last_ns) * (double)rate / 1e9;
			c->tb_last_ns = t;
			now = t;
		}
	}
	go = !c->stop && !pc->e->gone;
	pthread_mutex_unlock(&c->mu);
	return go;
}

/* -------------------------------------------------------------- threads */

/* The due log with the highest dirty ratio (overdue ones first), marked
 * busy; NULL when none. Called with c->mu held; drops it while it reads the
 * logs' state. */
static st__cleaner_entry *pick_locked(st_cleaner *c)
{
	size_t n = 0;
	for (st__cleaner_entry *e = c->entries; e; e = e->next)
		n++;
	if (n == 0)
		return NULL;
	st__cleaner_entry **v = malloc(n * sizeof(*v));
	if (!v)
		return NULL;
	int64_t mono = mono_ns() / 1000000;
	n = 0;
	for (st__cleaner_entry *e = c->entries; e; e = e->next) {
		if (e->busy || e->gone || e->retry_at > mono)
			continue;
		e->probes++;
		v[n++] = e;
	}
	pthread_mutex_unlock(&c->mu);

	st__cleaner_entry *best = NULL;
	bool best_overdue = false;
	double best_ratio = -1, max_ratio = 0;
	int64_t now = wall_ms();
	for (size_t i = 0; i < n; i++) {
		st_log_clean_info info;
		if (st_log_clean_info_get(v[i]->log, now, &info) < 0 || !info.compact)
			continue;
		if (info.roll_due) {
			int rrc = st_log_roll(v[i]->log, now);
			if (rrc < 0 && !log_going(rrc))
				st__logf(c->store, ST_LOG_WARN, "%s: cannot roll for max.compaction.lag.ms: %s",
					 v[i]->log->dir, st_strerror(rrc));
		}
		if (info.dirty_ratio > max_ratio)
			max_ratio = info.dirty_ratio;
		if (!info.due)
			continue;
		if (!best || (info.overdue && !best_overdue) ||
		    (info.overdue == best_overdue && info.dirty_ratio > best_ratio)) {
			best = v[i];
			best_overdue = info.overdue;
			best_ratio = info.dirty_ratio;
		}
	}

	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++)
		v[i]->probes--;
	free(v);
	c->stats.max_dirty_ratio = max_ratio;
	if (best && (best->gone || best->busy))
		best = NULL;
	if (best)
		best->busy = true;
	pthread_cond_broadcast(&c->idle);
	return best;
}

static void *cleaner_main(void *arg)
{
	st_cleaner *c = arg;
	size_t map_bytes = c->o.dedupe_buffer_bytes / (size_t)c->nthreads;

	pthread_setname_np(pthread_self(), "rw-cleaner");

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		c->kick = false;
		st__cleaner_entry *e = pick_locked(c);
		if (!e) {
			if (!c->stop && !c->kick)
				wait_until(c, mono_ns() + c->o.backoff_ms * 1000000);
			continue;
		}
		c->stats.busy_threads++;
		pthread_mutex_unlock(&c->mu);

		pass_ctx pc = { c, e };
		st_clean_options o = { .map_bytes = map_bytes, .progress = on_progress,
				       .progress_arg = &pc };
		st_clean_result res;
		int64_t t0 = mono_ns();
		int rc = st_log_clean(e->log, &o, wall_ms(), &res);
		int64_t ms = (mono_ns() - t0) / 1000000;
		if (rc == 0 && res.cleaned)
			ckpt_write(c, e->parent);
		else if (rc < 0 && !log_going(rc) && rc != ST_ERR_BUSY)
			st__logf(c->store, ST_LOG_WARN, "%s: cleaning failed: %s; retrying in %" PRId64
				 " ms", e->log->dir, st_strerror(rc), c->o.backoff_ms);

		pthread_mutex_lock(&c->mu);
		c->stats.busy_threads--;
		if (rc == 0 && res.cleaned) {
			c->stats.passes++;
			c->stats.bytes_read += res.bytes_read;
			c->stats.bytes_written += res.bytes_written;
			c->stats.records_removed += res.records_removed;
			c->stats.tombstones_removed += res.tombstones_removed;
			c->stats.last_pass_ms = ms;
			c->stats.map_keys = res.map_keys;
			c->stats.map_bytes = res.map_bytes;
		} else if (rc < 0 && !log_going(rc)) {
			/* BUSY: someone else's pass (st_log_clean called directly)
			 * holds the log; look again after the backoff, not at once. */
			if (rc != ST_ERR_BUSY)
				c->stats.failures++;
			e->retry_at = mono_ns() / 1000000 + c->o.backoff_ms;
		}
		e->busy = false;
		pthread_cond_broadcast(&c->idle);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int st_cleaner_start(st_store *s, const st_cleaner_options *o, st_cleaner **out)
{
	st_cleaner_options def;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!o) {
		st_cleaner_options_default(&def);
		o = &def;
	}
	if (o->threads < 1 || o->threads > 64 || o->backoff_ms < 1 ||
	    o->dedupe_buffer_bytes < (size_t)o->threads * 1024)
		return ST_ERR_CONFIG;
	st_cleaner *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->threads = calloc((size_t)o->threads, sizeof(*c->threads));
	if (!c->threads) {
		free(c);
		return -ENOMEM;
	}
	c->store = s;
	c->o = *o;
	c->tb_last_ns = mono_ns();
	c->tokens = 0;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->ckpt_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wake, &ca);
	pthread_cond_init(&c->idle, NULL);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < o->threads; i++) {
		/* nthreads counts the started ones (the map budget divides by
		 * the configured number: set before any thread reads it). */
		c->nthreads = o->threads;
		if ((rc = pthread_create(&c->threads[i], NULL, cleaner_main, c)) != 0) {
			c->nthreads = i;
			st_cleaner_stop(c);
			return -rc;
		}
	}
	*out = c;
	return 0;
}

void st_cleaner_stop(st_cleaner *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->mu);
	for (int i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i], NULL);
	/* Logs still registered go on existing; they just are not cleaned.
	 * Their entries go, so a later close does not reach a freed cleaner. */
	st__cleaner_entry *e = c->entries;
	while (e) {
		st__cleaner_entry *next = e->next;
		pthread_mutex_lock(&e->log->mu);
		e->log->cleaner = NULL;
		pthread_mutex_unlock(&e->log->mu);
		free(e->parent);
		free(e->name);
		free(e);
		e = next;
	}
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->ckpt_mu);
	pthread_cond_destroy(&c->wake);
	pthread_cond_destroy(&c->idle);
	free(c->threads);
	free(c);
}

int st_cleaner_add(st_cleaner *c, st_log *log)
{
	st__cleaner_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	const char *slash = strrchr(log->dir, '/');
	e->parent = slash ? strndup(log->dir, slash == log->dir ? 1 : (size_t)(slash - log->dir))
			  : strdup(".");
	e->name = strdup(slash ? slash + 1 : log->dir);
	if (!e->parent || !e->name) {
		free(e->parent);
		free(e->name);
		free(e);
		return -ENOMEM;
	}
	e->log = log;
	e->c = c;
	char *text = ckpt_read(e->parent);
	int64_t off = text ? ckpt_find(text, e->name) : -1;
	free(text);
	pthread_mutex_lock(&log->mu);
	if (off >= 0 && log->clean_offset < 0)
		log->clean_offset = off > log->end_offset ? log->end_offset : off;
	log->cleaner = e;
	pthread_mutex_unlock(&log->mu);
	pthread_mutex_lock(&c->mu);
	e->next = c->entries;
	c->entries = e;
	c->stats.logs++;
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

void st__cleaner_forget(st_log *log)
{
	pthread_mutex_lock(&log->mu);
	st__cleaner_entry *e = log->cleaner;
	pthread_mutex_unlock(&log->mu);
	if (!e)
		return;
	st_cleaner *c = e->c;
	pthread_mutex_lock(&c->mu);
	e->gone = true;
	pthread_cond_broadcast(&c->wake);      /* a throttled pass stops sleeping */
	while (e->busy || e->probes > 0)
		pthread_cond_wait(&c->idle, &c->mu);
	for (st__cleaner_entry **pp = &c->entries; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	c->stats.logs--;
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&log->mu);
	log->cleaner = NULL;
	pthread_mutex_unlock(&log->mu);
	free(e->parent);
	free(e->name);
	free(e);
}

void st_cleaner_wake(st_cleaner *c)
{
	pthread_mutex_lock(&c->mu);
	c->kick = true;
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->mu);
}

void st_cleaner_get_stats(st_cleaner *c, st_cleaner_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->stats;
	pthread_mutex_unlock(&c->mu);
}
