/*
 * make_log.c -- writes a small partition log through storage, for the
 * `rewind dump-log` integration test (test_dump_log.sh).
 *
 * usage: make_log DIR [BATCHES]
 *
 * Appends BATCHES (default 20) record batches to the log in DIR through
 * st_log_append(), exactly as a broker would, then closes the log so its
 * indexes are written. The contents are fixed so the test can grep for them:
 *
 *   batch b, record r (offset = 3*b + r, r = 0..2):
 *     timestamp 1700000000000 + offset
 *     key       "key-<offset>"
 *     value     "value-<offset>"
 *     header    "trace" = "t<offset>"
 *   batch 1 is gzip-compressed; batch 2 holds binary bytes in its first
 *   record's value ("bin\0\x01\xff") and a null key and a tombstone (null
 *   value) in its second.
 *
 * A small index.interval.bytes makes storage write several index entries.
 * Exits 0 on success, 1 with a message naming what failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/proto.h"
#include "storage/storage.h"

#define BASE_TS INT64_C(1700000000000)
#define RECORDS_PER_BATCH 3

struct pending {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int outstanding;
	int first_err;
};

static void on_appended(st_append *a, int err)
{
	struct pending *p = a->arg;
	pthread_mutex_lock(&p->mu);
	if (err != 0 && p->first_err == 0)
		p->first_err = err;
	p->outstanding--;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Builds batch number b into out; 0 or a kp_err. The last batch comes
 * from an idempotent producer (id 4242, epoch 3, sequence 0), so the
 * snapshot written at close has one producer to show. */
static int build_batch(int b, int nbatches, kp_buf *out)
{
	kp_batch_builder bb;
	kp_batch_builder_init(&bb, b == 1 ? KP_CODEC_GZIP : KP_CODEC_NONE, 0);
	if (b == nbatches - 1) {
		bb.producer_id = 4242;
		bb.producer_epoch = 3;
		bb.base_sequence = 0;
	}
	int err = 0;
	for (int r = 0; r < RECORDS_PER_BATCH && err == 0; r++) {
		int64_t off = (int64_t)b * RECORDS_PER_BATCH + r;
		char key[32], value[32], hval[32];
		int klen = snprintf(key, sizeof key, "key-%" PRId64, off);
		int vlen = snprintf(value, sizeof value, "value-%" PRId64, off);
		int hlen = snprintf(hval, sizeof hval, "t%" PRId64, off);
		kp_header h = { (const uint8_t *)"trace", 5, (const uint8_t *)hval, hlen };
		const void *kp = key, *vp = value;
		int32_t kl = klen, vl = vlen;
		if (b == 2 && r == 0) {
			vp = "bin\0\x01\xff";
			vl = 6;
		} else if (b == 2 && r == 1) {
			kp = NULL;
			kl = -1;
			vp = NULL;
			vl = -1;
		}
		err = kp_batch_builder_add(&bb, BASE_TS + off, kp, kl, vp, vl, &h, 1);
	}
	if (err == 0)
		err = kp_batch_builder_finish(&bb, out);
	kp_batch_builder_free(&bb);
	return err;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: make_log DIR [BATCHES]\n");
		return 1;
	}
	const char *dir = argv[1];
	int nbatches = argc == 3 ? atoi(argv[2]) : 20;
	if (nbatches < 3) {
		fprintf(stderr, "make_log: BATCHES must be at least 3 (got '%s')\n", argv[2]);
		return 1;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "make_log: cannot create %s: %s\n", dir, strerror(errno));
		return 1;
	}

	st_store_options so;
	st_store_options_default(&so);
	st_store *store;
	int err = st_store_open(&so, &store);
	if (err != 0) {
		fprintf(stderr, "make_log: st_store_open: %s\n", st_strerror(err));
		return 1;
	}
	st_log_config cfg;
	st_log_config_default(&cfg);
	cfg.index_interval_bytes = 128;
	st_log *log;
	err = st_log_open(store, dir, &cfg, BASE_TS, &log);
	if (err != 0) {
		fprintf(stderr, "make_log: st_log_open %s: %s\n", dir, st_strerror(err));
		st_store_close(store);
		return 1;
	}

	struct pending p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	kp_buf *bufs = calloc((size_t)nbatches, sizeof *bufs);
	st_append *apps = calloc((size_t)nbatches, sizeof *apps);
	if (bufs == NULL || apps == NULL) {
		fprintf(stderr, "make_log: out of memory\n");
		return 1;
	}
	int rc = 0;
	for (int b = 0; b < nbatches; b++) {
		kp_buf_init(&bufs[b]);
		err = build_batch(b, nbatches, &bufs[b]);
		if (err != 0) {
			fprintf(stderr, "make_log: building batch %d: %s\n", b, kp_strerror(err));
			rc = 1;
			break;
		}
		apps[b].data = bufs[b].data;
		apps[b].len = bufs[b].len;
		apps[b].leader_epoch = 7;
		apps[b].cb = on_appended;
		apps[b].arg = &p;
		pthread_mutex_lock(&p.mu);
		p.outstanding++;
		pthread_mutex_unlock(&p.mu);
		err = st_log_append(log, &apps[b], BASE_TS + b);
		if (err != 0) {
			pthread_mutex_lock(&p.mu);
			p.outstanding--;
			pthread_mutex_unlock(&p.mu);
			fprintf(stderr, "make_log: st_log_append batch %d: %s\n", b, st_strerror(err));
			rc = 1;
			break;
		}
	}
	pthread_mutex_lock(&p.mu);
	while (p.outstanding > 0)
		pthread_cond_wait(&p.cv, &p.mu);
	pthread_mutex_unlock(&p.mu);
	if (p.first_err != 0) {
		fprintf(stderr, "make_log: an append failed: %s\n", st_strerror(p.first_err));
		rc = 1;
	}
	st_log_close(log);
	st_store_close(store);
	for (int b = 0; b < nbatches; b++)
		kp_buf_free(&bufs[b]);
	free(bufs);
	free(apps);
	if (rc == 0)
		printf("make_log: wrote %d batches (%d records) to %s\n", nbatches,
		       nbatches * RECORDS_PER_BATCH, dir);
	return rc;
}
