/*
 * win_agg.c -- the aggregates of `rewind windows`: count, sum, min, max,
 * avg over numeric fields and an approximate distinct count.
 *
 * Every aggregate is order-free so a window's value does not depend on the
 * order its events arrived in (see win_engine.c): sums are exact fixed
 * point (win_fixed, 9 decimals), avg is sum / n rounded half away from
 * zero at the 9th decimal, and the distinct count is a HyperLogLog whose
 * registers merge by maximum. A field that is missing or not a number is
 * left out of that aggregate (as SQL leaves out NULL); count counts events.
 *
 * HyperLogLog (Flajolet et al. 2007): 2^p one-byte registers; each value's
 * raw JSON text is hashed with XXH3-64 under a fixed seed (never a random
 * one: the same input must give the same registers on every run); the top
 * p bits pick a register, which keeps the largest rank (leading zeros + 1)
 * of the remaining bits. The estimate uses the published bias constant and
 * linear counting below 2.5 m; with a 64-bit hash no large-range
 * correction is needed. Standard error about 1.04 / sqrt(2^p): 1.6 % at
 * the default p = 12. A window with few distinct values keeps only its
 * non-zero registers (4 bytes each, up to 2^p / 16 of them), then goes
 * dense (2^p bytes), so a million small windows do not cost 4 KiB each.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "proto/proto.h"
#include "tools/win_int.h"

void win_agg_name(const struct win_agg_spec *a, char *buf, size_t len)
{
	static const char *const prefix[] = { "count", "sum", "min", "max", "avg", "distinct" };
	if (a->kind == WIN_AGG_COUNT || a->field == NULL)
		snprintf(buf, len, "%s", prefix[a->kind]);
	else
		snprintf(buf, len, "%s_%s", prefix[a->kind], a->field);
}

void win__acc_init(const struct win_engine *e, struct win_acc *a)
{
	(void)e;
	memset(a, 0, sizeof *a);
}

void win__acc_free(struct win_acc *a)
{
	free(a->hll);
	free(a->sparse);
	a->hll = NULL;
	a->sparse = NULL;
	a->n_sparse = a->cap_sparse = 0;
}

void win__acc_prep(const struct win_engine *e, size_t i, const struct win_val *v,
		   struct win_prep *p)
{
	enum win_agg_kind kind = e->spec.aggs[i].kind;
	p->ok = false;
	if (v->type == WIN_V_ABSENT || kind == WIN_AGG_COUNT)
		return;
	if (kind == WIN_AGG_DISTINCT) {
		int prec = e->spec.hll_precision;
		uint64_t h = XXH3_64bits_withSeed(v->p, v->len, WIN_HASH_SEED);
		/* The guard bit bounds the rank at 64 - p + 1 (<= 61: 6 bits). */
		uint64_t rest = (h << prec) | ((uint64_t)1 << (prec - 1));
		p->idx = (uint32_t)(h >> (64 - prec));
		p->rank = (uint8_t)(__builtin_clzll(rest) + 1);
		p->ok = true;
		return;
	}
	p->ok = v->type == WIN_V_NUMBER && win_num_parse(v->p, v->len, &p->x) == 0;
}

static int hll_densify(const struct win_engine *e, struct win_acc *a)
{
	uint8_t *reg = calloc(1, e->hll_bytes);
	if (reg == NULL)
		return -ENOMEM;
	for (uint32_t k = 0; k < a->n_sparse; k++)
		reg[a->sparse[k] >> 6] = (uint8_t)(a->sparse[k] & 63);
	free(a->sparse);
	a->sparse = NULL;
	a->n_sparse = a->cap_sparse = 0;
	a->hll = reg;
	return 0;
}

int win__hll_set(const struct win_engine *e, struct win_acc *a, uint32_t idx, uint8_t rank)
{
	if (a->hll) {
		if (a->hll[idx] < rank)
			a->hll[idx] = rank;
		return 0;
	}
	for (uint32_t k = 0; k < a->n_sparse; k++) {
		if (a->sparse[k] >> 6 == idx) {
			if ((a->sparse[k] & 63) < rank)
				a->sparse[k] = idx << 6 | rank;
			return 0;
		}
	}
	/* A new register: sparse until there are more than hll_sparse_max,
	 * which depends only on the set of values, never on their order. */
	if (a->n_sparse >= e->hll_sparse_max) {
		if (hll_densify(e, a) < 0)
			return -ENOMEM;
		a->hll[idx] = rank;
		return 0;
	}
	if (a->n_sparse == a->cap_sparse) {
		uint32_t cap = a->cap_sparse ? a->cap_sparse * 2 : 4;
		uint32_t *sp = realloc(a->sparse, cap * sizeof *sp);
		if (sp == NULL)
			return -ENOMEM;
		a->sparse = sp;
		a->cap_sparse = cap;
	}
	a->sparse[a->n_sparse++] = idx << 6 | rank;
	return 0;
}

int win__acc_add(const struct win_engine *e, size_t i, struct win_acc *a, const struct win_prep *p)
{
	if (!p->ok)
		return 0;
	if (e->spec.aggs[i].kind == WIN_AGG_DISTINCT) {
		a->n++;
		return win__hll_set(e, a, p->idx, p->rank);
	}
	if (a->n == 0 || p->x < a->min)
		a->min = p->x;
	if (a->n == 0 || p->x > a->max)
		a->max = p->x;
	a->sum += p->x;
	a->n++;
	return 0;
}

int win__acc_merge(const struct win_engine *e, size_t i, struct win_acc *dst,
		   const struct win_acc *src)
{
	if (src->n == 0)
		return 0;
	if (e->spec.aggs[i].kind == WIN_AGG_DISTINCT) {
		if (src->hll) {
			if (dst->hll == NULL && hll_densify(e, dst) < 0)
				return -ENOMEM;
			for (size_t r = 0; r < e->hll_bytes; r++)
				if (dst->hll[r] < src->hll[r])
					dst->hll[r] = src->hll[r];
		} else {
			for (uint32_t k = 0; k < src->n_sparse; k++)
				if (win__hll_set(e, dst, src->sparse[k] >> 6,
						 (uint8_t)(src->sparse[k] & 63)) < 0)
					return -ENOMEM;
		}
		dst->n += src->n;
		return 0;
	}
	if (dst->n == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->n == 0 || src->max > dst->max)
		dst->max = src->max;
	dst->sum += src->sum;
	dst->n += src->n;
	return 0;
}

uint64_t win__hll_estimate(const struct win_engine *e, const struct win_acc *a)
{
	size_t m = e->hll_bytes, zeros;
	/* The sum of 2^-register, exactly: 2^(64 - r) per register in 128
	 * bits, so it does not depend on the order registers are visited in
	 * (sparse entries are in arrival order). */
	unsigned __int128 sum = 0;
	if (a->hll) {
		zeros = 0;
		for (size_t r = 0; r < m; r++) {
			sum += (unsigned __int128)1 << (64 - a->hll[r]);
			zeros += a->hll[r] == 0;
		}
	} else {
		if (a->n_sparse == 0)
			return 0;
		zeros = m - a->n_sparse;
		sum = (unsigned __int128)zeros << 64;
		for (uint32_t k = 0; k < a->n_sparse; k++)
			sum += (unsigned __int128)1 << (64 - (a->sparse[k] & 63));
	}
	double md = (double)m;
	double alpha = m == 16 ? 0.673 : m == 32 ? 0.697 : m == 64 ? 0.709 : 0.7213 / (1 + 1.079 / md);
	double est = alpha * md * md / ldexp((double)sum, -64);
	if (est <= 2.5 * md && zeros > 0)
		est = md * log(md / (double)zeros);
	return (uint64_t)llround(est);
}

static void put_str(struct kp_buf *out, const char *s)
{
	kp_buf_put(out, s, strlen(s));
}

static void put_fixed(struct kp_buf *out, win_fixed v)
{
	char b[64];
	size_t n = win_fixed_format(v, b);
	kp_buf_put(out, b, n);
}

/* sum / n rounded half away from zero at the last (9th) decimal. */
static win_fixed fixed_avg(win_fixed sum, int64_t n)
{
	win_fixed q = sum / n, r = sum % n;
	if (r < 0)
		r = -r;
	if (r * 2 >= (win_fixed)n)
		q += sum < 0 ? -1 : 1;
	return q;
}

void win__acc_json(const struct win_engine *e, size_t i, const struct win_acc *a, int64_t count,
		   struct kp_buf *out)
{
	char num[48];
	put_str(out, e->agg_label[i]);
	switch (e->spec.aggs[i].kind) {
	case WIN_AGG_COUNT:
		kp_buf_put(out, num, win__fmt_i64(count, num));
		break;
	case WIN_AGG_SUM:
		put_fixed(out, a->sum);
		break;
	case WIN_AGG_MIN:
	case WIN_AGG_MAX:
	case WIN_AGG_AVG:
		if (a->n == 0)
			put_str(out, "null");
		else
			put_fixed(out, e->spec.aggs[i].kind == WIN_AGG_MIN ? a->min :
				  e->spec.aggs[i].kind == WIN_AGG_MAX ? a->max : fixed_avg(a->sum, a->n));
		break;
	case WIN_AGG_DISTINCT:
		kp_buf_put(out, num, win__fmt_i64((int64_t)win__hll_estimate(e, a), num));
		break;
	}
}
