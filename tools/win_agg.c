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
 * the default p = 12 (4 KiB per window with a distinct aggregate).
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
	a->hll = NULL;
}

static void hll_add(const struct win_engine *e, uint8_t *reg, const char *p, size_t len)
{
	int prec = e->spec.hll_precision;
	uint64_t h = XXH3_64bits_withSeed(p, len, WIN_HASH_SEED);
	size_t idx = (size_t)(h >> (64 - prec));
	/* The guard bit bounds the rank at 64 - p + 1. */
	uint64_t rest = (h << prec) | ((uint64_t)1 << (prec - 1));
	uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
	if (reg[idx] < rank)
		reg[idx] = rank;
}

int win__acc_add(const struct win_engine *e, size_t i, struct win_acc *a, const struct win_val *v)
{
	enum win_agg_kind kind = e->spec.aggs[i].kind;
	if (v->type == WIN_V_ABSENT)
		return 0;
	if (kind == WIN_AGG_DISTINCT) {
		if (a->hll == NULL && (a->hll = calloc(1, e->hll_bytes)) == NULL)
			return -ENOMEM;
		hll_add(e, a->hll, v->p, v->len);
		a->n++;
		return 0;
	}
	if (kind == WIN_AGG_COUNT || v->type != WIN_V_NUMBER)
		return 0;
	win_fixed x;
	if (win_num_parse(v->p, v->len, &x) < 0)
		return 0;
	if (a->n == 0 || x < a->min)
		a->min = x;
	if (a->n == 0 || x > a->max)
		a->max = x;
	a->sum += x;
	a->n++;
	return 0;
}

int win__acc_merge(const struct win_engine *e, size_t i, struct win_acc *dst,
		   const struct win_acc *src)
{
	if (src->n == 0)
		return 0;
	if (e->spec.aggs[i].kind == WIN_AGG_DISTINCT) {
		if (dst->hll == NULL && (dst->hll = calloc(1, e->hll_bytes)) == NULL)
			return -ENOMEM;
		if (src->hll)
			for (size_t r = 0; r < e->hll_bytes; r++)
				if (dst->hll[r] < src->hll[r])
					dst->hll[r] = src->hll[r];
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
	if (a->hll == NULL)
		return 0;
	size_t m = e->hll_bytes;
	double sum = 0;
	size_t zeros = 0;
	for (size_t r = 0; r < m; r++) {
		sum += ldexp(1.0, -(int)a->hll[r]);
		zeros += a->hll[r] == 0;
	}
	double md = (double)m;
	double alpha = m == 16 ? 0.673 : m == 32 ? 0.697 : m == 64 ? 0.709 : 0.7213 / (1 + 1.079 / md);
	double est = alpha * md * md / sum;
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
	char name[160], num[32];
	win_agg_name(&e->spec.aggs[i], name, sizeof name);
	put_str(out, ",\"");
	put_str(out, name);
	put_str(out, "\":");
	switch (e->spec.aggs[i].kind) {
	case WIN_AGG_COUNT:
		snprintf(num, sizeof num, "%lld", (long long)count);
		put_str(out, num);
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
		snprintf(num, sizeof num, "%llu", (unsigned long long)win__hll_estimate(e, a));
		put_str(out, num);
		break;
	}
}
