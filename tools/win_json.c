/*
 * win_json.c -- the input side of `rewind windows`: a field scanner for
 * flat JSON objects (one event per record), exact fixed-point numbers and
 * event times.
 *
 * The scanner is built for throughput, not for validating JSON: it walks
 * the top-level object once, compares each key with the few fields the job
 * wants (length first) and stops as soon as it has them all, so a 150-byte
 * event costs one pass over the bytes up to the last wanted field. Values
 * are returned as raw text: a string keeps its quotes and escapes, which is
 * also how keys and distinct values are compared (two spellings of one
 * string are two keys). Nested objects and arrays are skipped, balanced,
 * with strings inside them honoured.
 *
 * Numbers are kept as win_fixed (int128, 9 decimals) so that sums, minima
 * and averages are exact and independent of the order events arrive in --
 * a double sum is not associative, and the order across partitions is not
 * fixed. Event times without a zone are UTC, never the local zone.
 */
#include <stdio.h>
#include <string.h>

#include "tools/win_int.h"

int win_fields_add(struct win_fields *f, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < f->n; i++)
		if (f->len[i] == len && memcmp(f->name[i], name, len) == 0)
			return (int)i;
	if (f->n >= WIN_MAX_FIELDS)
		return -1;
	f->name[f->n] = name;
	f->len[f->n] = len;
	return (int)f->n++;
}

static inline const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at an opening quote: the byte after the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
	p++;
	for (;;) {
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (q == NULL)
			return NULL;
		/* The quote ends the string unless an odd run of backslashes
		 * precedes it. */
		size_t bs = 0;
		while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
			bs++;
		if ((bs & 1) == 0)
			return q + 1;
		p = q + 1;
	}
}

/* p at '{' or '[': the byte after its balanced close, or NULL. */
static const char *skip_nested(const char *p, const char *end)
{
	int depth = 0;
	while (p < end) {
		char c = *p;
		if (c == '"') {
			p = skip_string(p, end);
			if (p == NULL)
				return NULL;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (--depth == 0)
				return p + 1;
			if (depth < 0)
				return NULL;
		}
		p++;
	}
	return NULL;
}

int win_json_scan(const char *s, size_t len, const struct win_fields *f, struct win_val *out)
{
	const char *p = s, *end = s + len;
	size_t missing = f->n;

	for (size_t i = 0; i < f->n; i++)
		out[i].type = WIN_V_ABSENT;
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return 0;
	while (missing > 0) {
		if (p >= end || *p != '"')
			return -1;
		const char *k = p + 1;
		p = skip_string(p, end);
		if (p == NULL)
			return -1;
		size_t klen = (size_t)(p - 1 - k);
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return -1;
		p = skip_ws(p + 1, end);
		if (p >= end)
			return -1;
		const char *v = p;
		enum win_val_type t;
		char c = *p;
		if (c == '"') {
			p = skip_string(p, end);
			t = WIN_V_STRING;
		} else if (c == '{' || c == '[') {
			p = skip_nested(p, end);
			t = WIN_V_OTHER;
		} else {
			while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' &&
			       *p != '\n' && *p != '\r')
				p++;
			t = (c == '-' || (c >= '0' && c <= '9')) ? WIN_V_NUMBER : WIN_V_OTHER;
			if (p == v)
				return -1;
		}
		if (p == NULL)
			return -1;
		for (size_t i = 0; i < f->n; i++) {
			if (f->len[i] == klen && out[i].type == WIN_V_ABSENT &&
			    memcmp(f->name[i], k, klen) == 0) {
				out[i].type = t;
				out[i].p = v;
				out[i].len = (size_t)(p - v);
				missing--;
				break;
			}
		}
		p = skip_ws(p, end);
		if (p >= end)
			return -1;
		if (*p == '}')
			return 0;
		if (*p != ',')
			return -1;
		p = skip_ws(p + 1, end);
	}
	return 0;
}

/* 10^i as win_fixed, i in [0, 38]. */
static win_fixed pow10_fixed(int i)
{
	win_fixed v = 1;
	while (i-- > 0)
		v *= 10;
	return v;
}

#define WIN_FIXED_LIMIT (pow10_fixed(36))   /* 1e27 at 9 decimals */

int win_num_parse(const char *p, size_t len, win_fixed *out)
{
	/* Fast path: a plain integer of up to 18 digits (times, ms, counts). */
	if (len > 0 && len <= 18) {
		size_t i = p[0] == '-';
		int64_t v = 0;
		while (i < len && p[i] >= '0' && p[i] <= '9')
			v = v * 10 + (p[i++] - '0');
		if (i == len && len > (size_t)(p[0] == '-')) {
			*out = (win_fixed)(p[0] == '-' ? -v : v) * WIN_FIXED_ONE;
			return 0;
		}
	}
	const char *end = p + len;
	bool neg = false;
	win_fixed mant = 0;
	int digits = 0, frac = 0, exp = 0;
	bool any = false;

	if (p < end && *p == '-') {
		neg = true;
		p++;
	}
	while (p < end && *p >= '0' && *p <= '9') {
		if (digits < 36 && (mant != 0 || *p != '0')) {
			mant = mant * 10 + (*p - '0');
			digits++;
		} else if (mant != 0) {
			exp++;   /* a digit beyond precision: scale instead */
		}
		any = true;
		p++;
	}
	if (p < end && *p == '.') {
		p++;
		while (p < end && *p >= '0' && *p <= '9') {
			if (digits < 36) {
				if (mant != 0 || *p != '0')
					digits++;
				mant = mant * 10 + (*p - '0');
				frac++;
			}
			any = true;
			p++;
		}
	}
	if (!any)
		return -1;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		bool eneg = false;
		int e = 0;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		if (p >= end)
			return -1;
		while (p < end && *p >= '0' && *p <= '9') {
			if (e < 10000)
				e = e * 10 + (*p - '0');
			p++;
		}
		exp += eneg ? -e : e;
	}
	if (p != end)
		return -1;
	/* value = mant * 10^(exp - frac); fixed = value * 10^9 */
	int shift = exp - frac + 9;
	if (mant == 0) {
		*out = 0;
		return 0;
	}
	if (shift >= 0) {
		if (digits + shift > 36)
			return -1;
		mant *= pow10_fixed(shift);
	} else {
		if (-shift > 38) {
			mant = 0;
		} else {
			win_fixed d = pow10_fixed(-shift);
			win_fixed q = mant / d, r = mant % d;
			if (r * 2 >= d)
				q++;
			mant = q;
		}
	}
	if (mant >= WIN_FIXED_LIMIT)
		return -1;
	*out = neg ? -mant : mant;
	return 0;
}

size_t win_fixed_format(win_fixed v, char *buf)
{
	char tmp[64];
	size_t n = 0, o = 0;
	bool neg = v < 0;
	unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
	unsigned __int128 ip = u / 1000000000u;
	uint32_t fp = (uint32_t)(u % 1000000000u);
	do {
		tmp[n++] = (char)('0' + (int)(ip % 10));
		ip /= 10;
	} while (ip);
	if (neg)
		buf[o++] = '-';
	while (n)
		buf[o++] = tmp[--n];
	if (fp) {
		char f[10];
		int k = 9;
		for (int i = 8; i >= 0; i--) {
			f[i] = (char)('0' + fp % 10);
			fp /= 10;
		}
		while (k > 0 && f[k - 1] == '0')
			k--;
		buf[o++] = '.';
		memcpy(buf + o, f, (size_t)k);
		o += (size_t)k;
	}
	buf[o] = '\0';
	return o;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int num2(const char *p, const char *end, int *out)
{
	if (end - p < 2 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	*out = (p[0] - '0') * 10 + (p[1] - '0');
	return 0;
}

static int iso_parse(const char *p, const char *end, int64_t *ms)
{
	int y = 0, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0;
	for (int i = 0; i < 4; i++) {
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		y = y * 10 + (*p++ - '0');
	}
	if (p >= end || *p++ != '-' || num2(p, end, &mo) < 0)
		return -1;
	p += 2;
	if (p >= end || *p++ != '-' || num2(p, end, &d) < 0)
		return -1;
	p += 2;
	if (mo < 1 || mo > 12 || d < 1 || d > 31)
		return -1;
	if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
		p++;
		if (num2(p, end, &h) < 0)
			return -1;
		p += 2;
		if (p >= end || *p++ != ':' || num2(p, end, &mi) < 0)
			return -1;
		p += 2;
		if (p < end && *p == ':') {
			p++;
			if (num2(p, end, &sec) < 0)
				return -1;
			p += 2;
			if (p < end && (*p == '.' || *p == ',')) {
				p++;
				int n = 0;
				while (p < end && *p >= '0' && *p <= '9') {
					if (n < 3)
						frac_ms = frac_ms * 10 + (*p - '0');
					n++;
					p++;
				}
				if (n == 0)
					return -1;
				for (; n < 3; n++)
					frac_ms *= 10;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
	}
	int64_t off = 0;
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
		if (num2(p, end, &oh) < 0)
			return -1;
		p += 2;
		if (p < end && *p == ':')
			p++;
		if (p < end) {
			if (num2(p, end, &om) < 0)
				return -1;
			p += 2;
		}
		off = sign * ((int64_t)oh * 3600000 + (int64_t)om * 60000);
	}
	if (p != end)
		return -1;
	int64_t days = days_from_civil(y, mo, d);
	*ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac_ms - off;
	return 0;
}

int win_time_parse(const struct win_val *v, int64_t *ms)
{
	if (v->type == WIN_V_NUMBER) {
		win_fixed x;
		if (win_num_parse(v->p, v->len, &x) < 0)
			return -1;
		/* floor(x) in ms */
		win_fixed q = x / WIN_FIXED_ONE;
		if (x < 0 && q * WIN_FIXED_ONE != x)
			q--;
		if (q > INT64_MAX / 4 || q < INT64_MIN / 4)
			return -1;
		*ms = (int64_t)q;
		return 0;
	}
	if (v->type == WIN_V_STRING && v->len >= 2) {
		const char *p = v->p + 1, *end = v->p + v->len - 1;
		if (memchr(p, '\\', (size_t)(end - p)))
			return -1;
		return iso_parse(p, end, ms);
	}
	return -1;
}

size_t win__fmt_i64(int64_t v, char *buf)
{
	char tmp[24];
	size_t n = 0, o = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[o++] = '-';
	while (n)
		buf[o++] = tmp[--n];
	buf[o] = '\0';
	return o;
}

static char *two(char *p, int64_t v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

void win_time_format(int64_t ms, char *buf, size_t len)
{
	int64_t days = ms / 86400000, rem = ms % 86400000;
	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	/* Hinnant's civil_from_days. */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	if (len < 25 || y < 0 || y > 9999) {
		snprintf(buf, len, "%lld ms", (long long)ms);
		return;
	}
	/* By hand: this runs for every result written. */
	char *p = buf;
	p = two(p, y / 100);
	p = two(p, y % 100);
	*p++ = '-';
	p = two(p, m);
	*p++ = '-';
	p = two(p, d);
	*p++ = 'T';
	p = two(p, rem / 3600000);
	*p++ = ':';
	p = two(p, rem / 60000 % 60);
	*p++ = ':';
	p = two(p, rem / 1000 % 60);
	*p++ = '.';
	*p++ = (char)('0' + rem % 1000 / 100);
	p = two(p, rem % 100);
	*p++ = 'Z';
	*p = '\0';
}
