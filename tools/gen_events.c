/*
 * gen_events.c -- the pure generator behind `rewind gen-events`: a
 * streaming service's player events (play, pause, rebuffer), keyed by video
 * and user, stamped with event time, some out of order and some late.
 *
 * Determinism is the point: the same options and seed give the same bytes
 * on every run and machine. So there is no wall clock here (event times
 * start at opts.start_ms, a fixed epoch by default), no rand(), and no
 * floating point in anything that reaches the output except through values
 * computed the same way everywhere (IEEE doubles, no libm beyond pow()
 * used once per video to build the popularity table).
 *
 * The model, per event i:
 *   true time   t_i = t_{i-1} + step, step uniform in [0, 2 * mean_step]
 *               (mean_step = 1000 / rate ms, 1 ms when rate is 0);
 *   video       Zipf(skew) over [0, videos): P(v) ~ 1 / (v + 1)^skew;
 *   user        uniform over [0, users);
 *   event       play 60 %, pause 25 %, rebuffer 15 %;
 *   lateness    with probability `late` the stamped ts is t_i minus a
 *               uniform [late_min, late_max]; otherwise with probability
 *               `out_of_order` t_i minus a uniform [1, max_disorder];
 *               otherwise t_i.
 * Random numbers: xoshiro256** seeded through splitmix64 (Vigna's
 * published algorithms), one stream for the whole run.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

/* ------------------------------------------------------------------ PRNG */

uint64_t gen_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void gen_rng_seed(struct gen_rng *r, uint64_t seed)
{
	uint64_t s = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = gen_splitmix64(&s);
}

uint64_t gen_rng_next(struct gen_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double gen_rng_unit(struct gen_rng *r)
{
	/* 53 random bits: uniform in [0, 1). */
	return (double)(gen_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t gen_rng_below(struct gen_rng *r, uint64_t n)
{
	/* Lemire's multiply-shift with rejection: no modulo bias. */
	if (n == 0)
		return 0;
	unsigned __int128 m = (unsigned __int128)gen_rng_next(r) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t floor = -n % n;
		while (lo < floor) {
			m = (unsigned __int128)gen_rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* ------------------------------------------------------------- options */

void gen_events_opts_default(struct gen_events_opts *o)
{
	memset(o, 0, sizeof *o);
	o->count = 1000;
	o->rate = 0;
	o->videos = 1000;
	o->users = 100000;
	o->skew = 1.0;
	o->out_of_order = 0.05;
	o->max_disorder_ms = 10000;
	o->late = 0.01;
	o->late_min_ms = 60000;
	o->late_max_ms = 2 * 3600000;
	o->start_ms = GEN_DEFAULT_START_MS;
	o->seed = 42;
	o->key_user = false;
	o->separator = "\t";
	o->topic = NULL;
	o->bootstrap = NULL;
}

int gen_parse_duration_ms(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	if (s == NULL || s[0] == '\0')
		return -1;
	if (s[0] == 'P' || s[0] == 'p')
		return cmd_parse_duration(s, out);
	double v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return -1;
	double mult;
	if (*end == '\0' || strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else if (strcmp(end, "d") == 0)
		mult = 86400000;
	else
		return -1;
	double ms = v * mult;
	if (ms > 9.0e15)
		return -1;
	*out = (int64_t)(ms + 0.5);
	return 0;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	if (s[0] == '-' || s[0] == '\0')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end != '\0' || errno || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (s[0] == '\0' || *end != '\0' || errno || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/* Unescapes a --key-separator value: \t, \n, \\ and \0 are accepted. */
static int unescape_sep(const char *s, char *out, size_t len)
{
	size_t o = 0;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (c == '\\' && p[1]) {
			p++;
			c = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == '\\' ? '\\' : *p == ',' ? ',' : 0;
			if (c == 0)
				return -1;
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return o ? 0 : -1;
}

int gen_events_parse(int argc, char **argv, struct gen_events_opts *o, char *err, size_t errlen)
{
	gen_events_opts_default(o);
	if (errlen)
		err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char *eq = strchr(s, '=');
		const char *v = NULL;
		char name[40];
		size_t nl = eq && s[0] == '-' ? (size_t)(eq - s) : strlen(s);

		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			o->help = true;
			continue;
		}
		if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
			o->quiet = true;
			continue;
		}
		if (s[0] != '-' || (s[1] != '-' && strcmp(s, "-b") != 0) || nl >= sizeof name)
			return cmd_perr(err, errlen, "unexpected argument '%s'; gen-events takes only "
				    "options (see 'rewind gen-events --help')", s);
		memcpy(name, s, nl);
		name[nl] = '\0';
		/* The other tools' spellings of --bootstrap. */
		if (strcmp(name, "-b") == 0 || strcmp(name, "--bootstrap-server") == 0)
			snprintf(name, sizeof name, "--bootstrap");
		static const char *const known[] = {
			"--count", "--rate", "--videos", "--users", "--skew", "--out-of-order",
			"--max-disorder", "--late", "--late-min", "--late-max", "--start-time",
			"--seed", "--key-field", "--key-separator", "--topic", "--bootstrap",
		};
		bool ok = false;
		for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
			ok |= strcmp(name, known[k]) == 0;
		if (!ok)
			return cmd_perr(err, errlen, "unknown option '%s'; see 'rewind gen-events --help'", s);
		if (eq)
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else
			return cmd_perr(err, errlen, "%s needs a value; see 'rewind gen-events --help'", name);

		if (strcmp(name, "--count") == 0) {
			if (!parse_u64(v, 0, UINT64_MAX / 2, &o->count))
				return cmd_perr(err, errlen, "--count '%s' is not a whole number of events "
					    "(0 = no end)", v);
		} else if (strcmp(name, "--rate") == 0) {
			if (!parse_double(v, 0, 1e9, &o->rate))
				return cmd_perr(err, errlen, "--rate '%s' is not events per second (0 = as "
					    "fast as possible)", v);
		} else if (strcmp(name, "--videos") == 0 || strcmp(name, "--users") == 0) {
			uint64_t n;
			if (!parse_u64(v, 1, 100000000, &n))
				return cmd_perr(err, errlen, "%s '%s' is not a count from 1 to 100000000",
					    name, v);
			if (name[2] == 'v')
				o->videos = (uint32_t)n;
			else
				o->users = (uint32_t)n;
		} else if (strcmp(name, "--skew") == 0) {
			if (!parse_double(v, 0, 10, &o->skew))
				return cmd_perr(err, errlen, "--skew '%s' is not a Zipf exponent from 0 "
					    "(uniform) to 10", v);
		} else if (strcmp(name, "--out-of-order") == 0 || strcmp(name, "--late") == 0) {
			double f;
			if (!parse_double(v, 0, 1, &f))
				return cmd_perr(err, errlen, "%s '%s' is not a fraction from 0 to 1 "
					    "(e.g. 0.05)", name, v);
			if (name[2] == 'o')
				o->out_of_order = f;
			else
				o->late = f;
		} else if (strcmp(name, "--max-disorder") == 0 || strcmp(name, "--late-min") == 0 ||
			   strcmp(name, "--late-max") == 0) {
			int64_t ms;
			if (gen_parse_duration_ms(v, &ms) < 0)
				return cmd_perr(err, errlen, "%s '%s' is not a duration (e.g. 500ms, 10s, "
					    "5m, 2h, PT1H30M)", name, v);
			if (strcmp(name, "--max-disorder") == 0)
				o->max_disorder_ms = ms;
			else if (strcmp(name, "--late-min") == 0)
				o->late_min_ms = ms;
			else
				o->late_max_ms = ms;
		} else if (strcmp(name, "--start-time") == 0) {
			uint64_t ms;
			int64_t t;
			if (parse_u64(v, 0, 253402300799999ULL, &ms))
				o->start_ms = (int64_t)ms;
			else if (cmd_parse_iso8601(v, &t) == 0)
				o->start_ms = t;
			else
				return cmd_perr(err, errlen, "--start-time '%s' is neither ms since the "
					    "epoch nor ISO 8601 (e.g. 2024-01-01T00:00:00Z)", v);
		} else if (strcmp(name, "--seed") == 0) {
			if (!parse_u64(v, 0, UINT64_MAX, &o->seed))
				return cmd_perr(err, errlen, "--seed '%s' is not a whole number", v);
		} else if (strcmp(name, "--key-field") == 0) {
			if (strcmp(v, "video_id") == 0)
				o->key_user = false;
			else if (strcmp(v, "user_id") == 0)
				o->key_user = true;
			else
				return cmd_perr(err, errlen, "--key-field '%s': use video_id or user_id", v);
		} else if (strcmp(name, "--key-separator") == 0) {
			if (unescape_sep(v, o->sep_buf, sizeof o->sep_buf) < 0)
				return cmd_perr(err, errlen, "--key-separator '%s': give 1 to %zu "
					    "characters (\\t for a tab)", v, sizeof o->sep_buf - 1);
			o->separator = o->sep_buf;
		} else if (strcmp(name, "--topic") == 0) {
			if (v[0] == '\0')
				return cmd_perr(err, errlen, "--topic needs a topic name");
			o->topic = v;
		} else if (strcmp(name, "--bootstrap") == 0) {
			o->bootstrap = v;
		}
	}
	if (o->help)
		return 0;
	if (o->bootstrap && !o->topic)
		return cmd_perr(err, errlen, "--bootstrap is for --topic: name the topic to produce "
			    "to, or pipe stdout into a producer");
	if (o->late > 0 && o->late_min_ms > o->late_max_ms)
		return cmd_perr(err, errlen, "--late-min (%" PRId64 " ms) is above --late-max (%" PRId64
			    " ms); make the minimum the smaller", o->late_min_ms, o->late_max_ms);
	if (o->late > 0 && o->late_min_ms <= o->max_disorder_ms)
		return cmd_perr(err, errlen, "--late-min (%" PRId64 " ms) must be above --max-disorder "
			    "(%" PRId64 " ms), or late events are only out of order", o->late_min_ms,
			    o->max_disorder_ms);
	if (o->out_of_order + o->late > 1)
		return cmd_perr(err, errlen, "--out-of-order plus --late is above 1; they are "
			    "fractions of the same events");
	if (strchr(o->separator, '\n'))
		return cmd_perr(err, errlen, "--key-separator cannot hold a newline: lines are records");
	return 0;
}

/* ----------------------------------------------------------- generator */

struct gen_events {
	struct gen_events_opts o;     /* copy; separator points at o.sep_buf or a literal */
	struct gen_rng rng;
	double *cdf;                  /* videos entries, cdf[videos - 1] == 1 */
	int64_t now;                  /* the last event's true time (ms) */
	uint64_t now_us_frac;         /* microseconds not yet a whole ms */
	uint64_t seq;
	int video_width, user_width;
};

static int digits(uint32_t n)
{
	int d = 1;
	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

int gen_events_new(const struct gen_events_opts *o, struct gen_events **out)
{
	struct gen_events *g = calloc(1, sizeof *g);
	*out = NULL;
	if (g == NULL)
		return -ENOMEM;
	g->o = *o;
	if (o->separator == o->sep_buf)
		g->o.separator = g->o.sep_buf;
	g->cdf = malloc((size_t)o->videos * sizeof *g->cdf);
	if (g->cdf == NULL) {
		free(g);
		return -ENOMEM;
	}
	double sum = 0;
	for (uint32_t v = 0; v < o->videos; v++) {
		sum += o->skew == 0 ? 1.0 : 1.0 / pow((double)v + 1, o->skew);
		g->cdf[v] = sum;
	}
	for (uint32_t v = 0; v < o->videos; v++)
		g->cdf[v] /= sum;
	g->cdf[o->videos - 1] = 1.0;
	gen_rng_seed(&g->rng, o->seed);
	g->now = o->start_ms;
	g->video_width = digits(o->videos - 1) > 5 ? digits(o->videos - 1) : 5;
	g->user_width = digits(o->users - 1) > 6 ? digits(o->users - 1) : 6;
	*out = g;
	return 0;
}

void gen_events_free(struct gen_events *g)
{
	if (g == NULL)
		return;
	free(g->cdf);
	free(g);
}

/* The first video whose cumulative probability exceeds u. */
static uint32_t zipf_pick(const struct gen_events *g, double u)
{
	uint32_t lo = 0, hi = g->o.videos - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (g->cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static const int32_t bitrates[] = { 235, 375, 750, 1750, 3000, 4300, 5800 };

void gen_events_next(struct gen_events *g, struct gen_event *e)
{
	struct gen_rng *r = &g->rng;
	/* Mean step in microseconds, so rates above 1000/s still advance. */
	uint64_t mean_us = g->o.rate > 0 ? (uint64_t)(1e6 / g->o.rate) : 1000;
	uint64_t step_us = gen_rng_below(r, 2 * mean_us + 1);

	memset(e, 0, sizeof *e);
	g->now_us_frac += step_us;
	g->now += (int64_t)(g->now_us_frac / 1000);
	g->now_us_frac %= 1000;
	e->seq = g->seq++;
	e->true_ts = g->now;
	e->video = zipf_pick(g, gen_rng_unit(r));
	e->user = (uint32_t)gen_rng_below(r, g->o.users);
	uint64_t kind = gen_rng_below(r, 100);
	e->type = kind < 60 ? GEN_PLAY : kind < 85 ? GEN_PAUSE : GEN_REBUFFER;
	e->position_ms = (int64_t)gen_rng_below(r, 2 * 3600000);
	e->bitrate_kbps = bitrates[gen_rng_below(r, sizeof bitrates / sizeof bitrates[0])];
	if (e->type == GEN_REBUFFER)
		e->rebuffer_ms = (int32_t)(50 + gen_rng_below(r, 5000));
	double u = gen_rng_unit(r);
	if (u < g->o.late) {
		e->timing = GEN_LATE;
		e->ts = e->true_ts - g->o.late_min_ms -
			(int64_t)gen_rng_below(r, (uint64_t)(g->o.late_max_ms - g->o.late_min_ms) + 1);
	} else if (u < g->o.late + g->o.out_of_order && g->o.max_disorder_ms > 0) {
		e->timing = GEN_OUT_OF_ORDER;
		e->ts = e->true_ts - 1 - (int64_t)gen_rng_below(r, (uint64_t)g->o.max_disorder_ms);
	} else {
		e->timing = GEN_ON_TIME;
		e->ts = e->true_ts;
	}
}

static const char *const type_names[] = { "play", "pause", "rebuffer" };

int gen_events_format(const struct gen_events *g, const struct gen_event *e, char *buf,
		      size_t len)
{
	char video[24], user[24];
	snprintf(video, sizeof video, "v%0*" PRIu32, g->video_width, e->video);
	snprintf(user, sizeof user, "u%0*" PRIu32, g->user_width, e->user);
	int n = snprintf(buf, len,
			 "%s%s{\"event\":\"%s\",\"video_id\":\"%s\",\"user_id\":\"%s\",\"ts\":%" PRId64
			 ",\"position_ms\":%" PRId64 ",\"bitrate_kbps\":%" PRId32,
			 g->o.key_user ? user : video, g->o.separator, type_names[e->type], video,
			 user, e->ts, e->position_ms, e->bitrate_kbps);
	if (n < 0 || (size_t)n >= len)
		return -1;
	int m;
	if (e->type == GEN_REBUFFER)
		m = snprintf(buf + n, len - (size_t)n, ",\"rebuffer_ms\":%" PRId32, e->rebuffer_ms);
	else
		m = 0;
	if (m < 0 || (size_t)(n + m) >= len)
		return -1;
	n += m;
	m = snprintf(buf + n, len - (size_t)n, ",\"seq\":%" PRIu64 "}\n", e->seq);
	if (m < 0 || (size_t)(n + m) >= len)
		return -1;
	return n + m;
}

size_t gen_events_key_len(const struct gen_events *g)
{
	return 1 + (size_t)(g->o.key_user ? g->user_width : g->video_width);
}
