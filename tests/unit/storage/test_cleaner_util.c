/*
 * test_cleaner_util.c -- see test_cleaner_util.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_cleaner_util.h"

void ctu_opts_default(ctu_batch_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->codec = KP_CODEC_NONE;
	o->producer_id = -1;
	o->producer_epoch = -1;
	o->base_sequence = -1;
	o->timestamp = 1000;
}

int ctu_build(kp_buf *out, const ctu_rec *r, int n, const ctu_batch_opts *o)
{
	kp_batch_builder b;
	int rc = 0;

	kp_batch_builder_init(&b, o->codec, 0);
	b.producer_id = o->producer_id;
	b.producer_epoch = o->producer_epoch;
	b.base_sequence = o->base_sequence;
	for (int i = 0; i < n && rc == 0; i++) {
		char key[32], val[4096], hv[16];
		int kl = snprintf(key, sizeof(key), "key-%d", r[i].key);
		int vl = snprintf(val, sizeof(val), "key-%d=%d", r[i].key, r[i].version);
		while ((size_t)vl < o->pad && (size_t)vl < sizeof(val) - 1)
			val[vl++] = '.';
		int hl = snprintf(hv, sizeof(hv), "%d", r[i].version);
		kp_header h = { (const uint8_t *)"h", 1, (const uint8_t *)hv, hl };
		bool tomb = r[i].version < 0;
		rc = kp_batch_builder_add(&b, o->timestamp + i, key, kl, tomb ? NULL : val,
					  tomb ? -1 : vl, o->headers ? &h : NULL, o->headers ? 1 : 0);
	}
	if (rc == 0)
		rc = kp_batch_builder_finish(&b, out);
	kp_batch_builder_free(&b);
	return rc;
}

typedef struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
} waiter;

static void on_done(st_append *a, int err)
{
	waiter *w = a->arg;
	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->err = err;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int ctu_append_raw(st_log *log, uint8_t *data, size_t len, int64_t now_ms, int64_t *base)
{
	waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };
	st_append a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.data = data;
	a.len = len;
	a.leader_epoch = 0;
	a.cb = on_done;
	a.arg = &w;
	if ((rc = st_log_append(log, &a, now_ms)) == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		rc = w.err;
	}
	if (rc == 0 && base)
		*base = a.base_offset;
	return rc;
}

int ctu_append(st_log *log, const ctu_rec *r, int n, const ctu_batch_opts *o, int64_t now_ms,
	       int64_t *base)
{
	kp_buf buf;
	int rc;

	kp_buf_init(&buf);
	if ((rc = ctu_build(&buf, r, n, o)) == 0)
		rc = ctu_append_raw(log, buf.data, buf.len, now_ms, base);
	kp_buf_free(&buf);
	return rc;
}

static int read_exact(int fd, uint8_t *p, size_t len, int64_t pos)
{
	while (len > 0) {
		ssize_t r = pread(fd, p, len, pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		p += r;
		len -= (size_t)r;
		pos += r;
	}
	return 0;
}

static void see_record(ctu_seen *s, const kp_record *rec, int64_t *last)
{
	int key = -1, version = -1;
	char kb[64];

	if (rec->offset <= *last)
		s->ordered = false;
	if (*last >= 0 && rec->offset > *last + 1)
		s->gaps++;
	*last = rec->offset;
	s->records++;
	if (!rec->key || rec->key_len <= 0 || rec->key_len >= (int32_t)sizeof(kb))
		return;
	memcpy(kb, rec->key, (size_t)rec->key_len);
	kb[rec->key_len] = 0;
	if (sscanf(kb, "key-%d", &key) != 1 || key < 0 || key >= s->nkeys)
		return;
	if (rec->value) {
		char vb[64];
		int32_t n = rec->value_len < 63 ? rec->value_len : 63;
		memcpy(vb, rec->value, (size_t)n);
		vb[n] = 0;
		int k2;
		if (sscanf(vb, "key-%d=%d", &k2, &version) != 2 || k2 != key)
			version = -3;
	}
	if (rec->headers_count > 0) {
		size_t pos = 0;
		kp_header h;
		char hb[16];
		if (kp_record_header_next(rec, &pos, &h) != 1 || h.key_len != 1 || h.key[0] != 'h' ||
		    h.value_len <= 0 || h.value_len >= 15) {
			s->headers_ok = false;
		} else {
			memcpy(hb, h.value, (size_t)h.value_len);
			hb[h.value_len] = 0;
			if (atoi(hb) != (rec->value ? version : atoi(hb)))
				s->headers_ok = false;
		}
	}
	if (s->latest[key] != -2)
		s->duplicates++;
	if (s->latest[key] >= 0 && version >= 0 && version <= s->latest[key])
		s->regressions++;
	s->latest[key] = version;
	s->latest_offset[key] = rec->offset;
}

int ctu_read_all(st_log *log, int nkeys, ctu_seen *s)
{
	int64_t off = st_log_start_offset(log), end = st_log_readable_end(log), last = -1;
	uint8_t *buf = NULL;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->nkeys = nkeys;
	s->ordered = true;
	s->headers_ok = true;
	s->latest = malloc((size_t)(nkeys ? nkeys : 1) * sizeof(*s->latest));
	s->latest_offset = malloc((size_t)(nkeys ? nkeys : 1) * sizeof(*s->latest_offset));
	if (!s->latest || !s->latest_offset)
		return -ENOMEM;
	for (int i = 0; i < nkeys; i++) {
		s->latest[i] = -2;
		s->latest_offset[i] = -1;
	}
	while (off < end && rc == 0) {
		st_slice sl;
		if ((rc = st_log_read(log, off, 1 << 20, -1, &sl)) < 0)
			break;
		if (sl.len == 0) {
			st_slice_release(&sl);
			break;
		}
		uint8_t *nb = realloc(buf, sl.len);
		if (!nb) {
			st_slice_release(&sl);
			rc = -ENOMEM;
			break;
		}
		buf = nb;
		rc = read_exact(sl.fd, buf, sl.len, sl.file_pos);
		if (sl.next_offset <= off)
			rc = -EPROTO;   /* no progress: a read that loops */
		off = sl.next_offset;
		size_t len = sl.len, pos = 0;
		st_slice_release(&sl);
		while (rc == 0 && pos < len) {
			kp_batch_header h;
			kp_record_iter it;
			kp_record rec;
			if ((rc = kp_batch_validate(buf + pos, len - pos, &h)) < 0)
				break;
			s->batches++;
			if (h.records_count == 0)
				s->empty_batches++;
			if ((rc = kp_record_iter_init(&it, buf + pos, kp_batch_size(&h), 64 << 20)) == 0) {
				while ((rc = kp_record_iter_next(&it, &rec)) == 1)
					see_record(s, &rec, &last);
			}
			kp_record_iter_free(&it);
			pos += kp_batch_size(&h);
		}
	}
	s->next_offset = off;
	free(buf);
	return rc;
}

void ctu_seen_free(ctu_seen *s)
{
	free(s->latest);
	free(s->latest_offset);
	s->latest = NULL;
	s->latest_offset = NULL;
}
