/*
 * time_parse.c -- the date and duration syntaxes the tools accept.
 *
 * Dates are ISO 8601 as Kafka's tools take them: YYYY-MM-DD, then
 * optionally 'T' HH:MM[:SS[.fraction]], then optionally a zone: 'Z',
 * +HH, +HHMM or +HH:MM (or '-'). Without a zone the time is the local
 * time zone's, as in kafka-consumer-groups. Durations are Java's
 * Duration.parse syntax that Kafka's --by-duration takes: P[nD][T[nH][nM]
 * [n[.fraction]S]], letters in either case, at least one part, no sign.
 * Pure functions, no clock (the local-zone case reads TZ through mktime).
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tools/tools.h"

/* Reads exactly n digits at *p into *v. */
static bool digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int cmd_parse_iso8601(const char *s, int64_t *ms_out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	bool has_zone = false;
	int zone_min = 0;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || y < 1970)
		return -1;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return -1;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return -1;
			if (*p == '.' || *p == ',') {
				p++;
				int n = 0;
				while (isdigit((unsigned char)*p)) {
					if (n < 3)
						ms = ms * 10 + (*p - '0');
					n++;
					p++;
				}
				if (n == 0 || n > 9)
					return -1;
				for (; n < 3; n++)
					ms *= 10;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		has_zone = true;
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, zh, zm = 0;
		p++;
		if (!digits(&p, 2, &zh))
			return -1;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &zm))
				return -1;
		} else if (isdigit((unsigned char)*p)) {
			if (!digits(&p, 2, &zm))
				return -1;
		}
		if (zh > 18 || zm > 59)
			return -1;
		has_zone = true;
		zone_min = sign * (zh * 60 + zm);
	}
	if (*p != '\0')
		return -1;

	int64_t secs;
	if (has_zone) {
		secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
		       (int64_t)zone_min * 60;
	} else {
		struct tm tm = { 0 };
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		tm.tm_isdst = -1;
		time_t t = mktime(&tm);
		if (t == (time_t)-1)
			return -1;
		secs = (int64_t)t;
	}
	if (secs < 0)
		return -1;
	*ms_out = secs * 1000 + ms;
	return 0;
}

/* Reads a decimal number (digits, optional fraction when frac_ok) as
 * thousandths into *milli. False on no digits or overflow. */
static bool number(const char **p, bool frac_ok, int64_t *milli)
{
	int64_t v = 0;
	int n = 0;
	while (isdigit((unsigned char)**p)) {
		if (v > (INT64_MAX / 1000 - 9) / 10)
			return false;
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	if (n == 0)
		return false;
	v *= 1000;
	if (frac_ok && (**p == '.' || **p == ',')) {
		(*p)++;
		int f = 0, scale = 100;
		while (isdigit((unsigned char)**p)) {
			f += (**p - '0') * scale;
			scale /= 10;
			(*p)++;
			n = -1;
		}
		if (n != -1)
			return false;
		v += f;
	}
	*milli = v;
	return true;
}

/* total += v * unit_ms (v in thousandths), false on overflow. */
static bool add_part(int64_t *total, int64_t milli, int64_t unit_ms)
{
	/* milli/1000 units plus the fraction; only seconds have fractions. */
	int64_t whole = milli / 1000, frac = milli % 1000;
	if (whole > (INT64_MAX - *total) / unit_ms)
		return false;
	*total += whole * unit_ms + frac * unit_ms / 1000;
	return *total >= 0;
}

int cmd_parse_duration(const char *s, int64_t *ms_out)
{
	const char *p = s;
	int64_t total = 0, v;
	int parts = 0;

	if (*p != 'P' && *p != 'p')
		return -1;
	p++;
	if (*p != 'T' && *p != 't') {
		if (!number(&p, false, &v) || (*p != 'D' && *p != 'd') ||
		    !add_part(&total, v, 86400000))
			return -1;
		p++;
		parts++;
	}
	if (*p == 'T' || *p == 't') {
		p++;
		int tparts = 0;
		char last = 0;
		while (*p) {
			const char *start = p;
			if (!number(&p, true, &v))
				return -1;
			char u = (char)toupper((unsigned char)*p);
			bool frac = memchr(start, '.', (size_t)(p - start)) ||
				    memchr(start, ',', (size_t)(p - start));
			/* H, M, S in this order, each once; fractions only on S. */
			if (u == 'H' && last == 0 && !frac)
				v = add_part(&total, v, 3600000) ? 0 : -1;
			else if (u == 'M' && (last == 0 || last == 'H') && !frac)
				v = add_part(&total, v, 60000) ? 0 : -1;
			else if (u == 'S' && last != 'S')
				v = add_part(&total, v, 1000) ? 0 : -1;
			else
				return -1;
			if (v < 0)
				return -1;
			last = u;
			p++;
			tparts++;
		}
		if (tparts == 0)
			return -1;
		parts += tparts;
	}
	if (*p != '\0' || parts == 0)
		return -1;
	*ms_out = total;
	return 0;
}
