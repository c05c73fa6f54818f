/*
 * retention.c -- deleting the head of a log: retention.ms, retention.bytes
 * and DeleteRecords.
 *
 * Only whole closed segments are deleted, from the oldest on, and never the
 * active one nor a rolled segment the writer has not sealed yet (its bytes
 * may not be synced, its indexes not written). The log start offset moves
 * first, in memory and then on disk (checkpoint.c), then the files are
 * unlinked; a crash in between leaves segments below a persisted start
 * offset, which the next retention pass deletes. Readers holding a slice of
 * a deleted segment keep reading it through their reference (segment.c).
 *
 * Producers go with their data: one whose batches all lie below the new
 * log start is forgotten (Kafka's evictUnretainedProducers), as is one idle
 * past producer.id.expiration.ms, so the state stays bounded; snapshots
 * below the first remaining segment are removed (the newest is kept).
 *
 * Both calls hold log->meta_mu throughout: retention passes and
 * DeleteRecords are serialized with each other and with checkpoint writes,
 * so the head of the segment list only changes here. They do file I/O
 * (stat, unlink, an atomic checkpoint write) and so belong on a background
 * thread, not a reactor.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "storage/st_int.h"

/* The segment's largest timestamp, or its file's mtime when none of its
 * batches carries one (as Kafka does). */
static int segment_age_ts(st__segment *seg, int64_t size, int64_t *ts)
{
	pthread_mutex_lock(&seg->mu);
	int rc = st__segment_max_ts_locked(seg, size);
	*ts = seg->max_ts;
	pthread_mutex_unlock(&seg->mu);
	if (rc < 0 || *ts >= 0)
		return rc;
	char path[4096];
	struct stat st;
	if ((rc = st__path(path, sizeof(path), "%s.log", seg->prefix)) < 0)
		return rc;
	if (stat(path, &st) < 0)
		return -errno;
	*ts = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	return 0;
}

int st_log_enforce_retention(st_log *log, int64_t now_ms, int *deleted)
{
	st__segment **cand = NULL, **gone = NULL;
	int64_t *ts = NULL, *size = NULL;
	size_t ncand = 0, nref = 0, ngone = 0;
	int rc = 0;

	if (deleted)
		*deleted = 0;
	pthread_mutex_lock(&log->meta_mu);
	pthread_mutex_lock(&log->mu);
	if (log->deleting) {
		/* Its files go with the directory. */
		pthread_mutex_unlock(&log->mu);
		goto out;
	}
	st_log_config cfg = log->cfg;
	size_t n = log->nsegs;
	cand = malloc(n * sizeof(*cand));
	ts = malloc(n * sizeof(*ts));
	size = malloc(n * sizeof(*size));
	if (!cand || !ts || !size) {
		pthread_mutex_unlock(&log->mu);
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i + 1 < n && log->segs[i]->sealed; i++) {
		cand[ncand] = log->segs[i];
		size[ncand] = log->segs[i]->size;
		st__segment_ref(cand[ncand++]);
	}
	nref = ncand;
	pthread_mutex_unlock(&log->mu);

	for (size_t i = 0; cfg.retention_ms >= 0 && i < ncand; i++) {
		if ((rc = segment_age_ts(cand[i], size[i], &ts[i])) < 0) {
			if (st__log_failure_is_news(log))
				st__logf(log->store, ST_LOG_WARN, "%s.log: cannot find its max timestamp: %s",
					 cand[i]->prefix, st_strerror(rc));
			ncand = i;  /* keep what is before it */
			rc = 0;
			break;
		}
	}

	pthread_mutex_lock(&log->mu);
	int64_t total = 0;
	for (size_t i = 0; i < log->nsegs; i++)
		total += log->segs[i]->size;
	size_t k = 0;
	/* cand[] is the head of the list: only this function (under meta_mu)
	 * removes from the head, and a write failure only from the tail of
	 * unsealed segments. */
	while (k < ncand) {
		assert(log->segs[k] == cand[k]);
		bool below = log->segs[k + 1]->base <= log->start_offset;
		bool old = cfg.retention_ms >= 0 && now_ms - ts[k] > cfg.retention_ms;
		bool big = cfg.retention_bytes >= 0 && total - size[k] >= cfg.retention_bytes;
		if (!below && !old && !big)
			break;
		total -= size[k];
		k++;
	}
	int64_t old_start = log->start_offset;
	if (k > 0) {
		gone = malloc(k * sizeof(*gone));
		if (!gone) {
			pthread_mutex_unlock(&log->mu);
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < k; i++) {
			gone[i] = log->segs[i];
			gone[i]->removed = true;
		}
		ngone = k;
		memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof(*log->segs));
		log->nsegs -= k;
		if (log->segs[0]->base > log->start_offset)
			log->start_offset = log->segs[0]->base;
		if (log->hw < log->start_offset)
			log->hw = log->start_offset;
	}
	int64_t start = log->start_offset;
	int64_t first_base = log->segs[0]->base;
	size_t producers_before = log->producers.n;
	int64_t idle_before = now_ms > INT64_MIN + cfg.producer_id_expiration_ms
			      ? now_ms - cfg.producer_id_expiration_ms : -1;
	st__pstate_evict(&log->producers, start, idle_before);
	size_t producers_gone = producers_before - log->producers.n;
	pthread_mutex_unlock(&log->mu);

	if (producers_gone > 0)
		st__logf(log->store, ST_LOG_INFO, "%s: %zu producer(s) expired or without data forgotten",
			 log->dir, producers_gone);
	if (ngone > 0)
		st__snapshots_prune(log, SIZE_MAX, first_base);
	if (start != old_start &&
	    (rc = st__offset_file_write(log->dir, "log-start-offset", start)) < 0 &&
	    st__log_failure_is_news(log))
		st__logf(log->store, ST_LOG_WARN, "%s/log-start-offset: cannot write: %s",
			 log->dir, st_strerror(rc));
	for (size_t i = 0; i < ngone; i++) {
		int urc = st__segment_unlink(gone[i]);
		if (urc < 0 && st__log_failure_is_news(log)) {
			st__logf(log->store, ST_LOG_WARN, "%s.log: cannot delete: %s",
				 gone[i]->prefix, st_strerror(urc));
			if (rc == 0)
				rc = urc;
		}
		st__segment_unref(gone[i]);
	}
	if (ngone > 0) {
		st__logf(log->store, ST_LOG_INFO,
			 "%s: retention deleted %zu segment(s); log start offset %" PRId64,
			 log->dir, ngone, start);
		int drc = st_dir_fsync(log->dir);
		if (rc == 0)
			rc = drc;
	}
	if (deleted)
		*deleted = (int)ngone;
out:
	pthread_mutex_unlock(&log->meta_mu);
	for (size_t i = 0; i < nref; i++)
		st__segment_unref(cand[i]);
	free(cand);
	free(ts);
	free(size);
	free(gone);
	return rc;
}

int st_log_delete_records(st_log *log, int64_t new_start)
{
	int rc = 0;

	pthread_mutex_lock(&log->meta_mu);
	pthread_mutex_lock(&log->mu);
	if (log->deleting || new_start < 0 || new_start > log->hw) {
		rc = log->deleting ? ST_ERR_DELETING : ST_ERR_OFFSET_OUT_OF_RANGE;
		pthread_mutex_unlock(&log->mu);
		pthread_mutex_unlock(&log->meta_mu);
		return rc;
	}
	bool raise = new_start > log->start_offset;
	if (raise) {
		log->start_offset = new_start;
		st__pstate_evict(&log->producers, new_start, -1);
	}
	pthread_mutex_unlock(&log->mu);
	if (raise && (rc = st__offset_file_write(log->dir, "log-start-offset", new_start)) < 0)
		st__logf(log->store, ST_LOG_ERROR, "%s/log-start-offset: cannot write: %s",
			 log->dir, st_strerror(rc));
	pthread_mutex_unlock(&log->meta_mu);
	return rc;
}
