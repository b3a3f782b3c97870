/*
 * PostgreSQL text output (DateStyle ISO, TimeZone UTC, which the connector
 * sets on its sessions) parsed into numbers: dates as days, times of day and
 * timestamps as microseconds, integers. Shared by both conversions of a
 * column value (pg_text_json.c and the hot path, pg_row_fill.c).
 */
#include "connectors/postgres/pg_mapping_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool parse_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* parse_digits, then the separator `sep`, which it steps over. */
static bool parse_digits_sep(const char **p, int n, int *out, char sep)
{
	if (!parse_digits(p, n, out) || **p != sep)
		return false;
	(*p)++;
	return true;
}

bool cps_pg_parse_date(const char **p, int64_t *days)
{
	int y, m, d;

	if (!parse_digits_sep(p, 4, &y, '-') || !parse_digits_sep(p, 2, &m, '-') ||
	    !parse_digits(p, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	*days = days_from_civil(y, (unsigned)m, (unsigned)d);
	return true;
}

/* "HH:MM:SS[.ffffff]" into microseconds of the day. */
bool cps_pg_parse_time(const char **p, int64_t *us)
{
	int h, mi, s;
	int64_t frac = 0, scale = 100000;

	if (!parse_digits_sep(p, 2, &h, ':') || !parse_digits_sep(p, 2, &mi, ':') ||
	    !parse_digits(p, 2, &s))
		return false;
	if (**p == '.') {
		(*p)++;
		while (isdigit((unsigned char)**p)) {
			frac += (**p - '0') * scale;
			scale /= 10;
			(*p)++;
		}
	}
	*us = ((int64_t)h * 3600 + mi * 60 + s) * 1000000 + frac;
	return true;
}

/* "YYYY-MM-DD HH:MM:SS[.f][+HH[:MM]]" into microseconds since the epoch (UTC;
 * without an offset the value is taken as UTC). */
bool cps_pg_parse_timestamp(const char *text, int64_t *us)
{
	const char *p = text;
	int64_t days, tod;

	if (!cps_pg_parse_date(&p, &days) || (*p != ' ' && *p != 'T'))
		return false;
	p++;
	if (!cps_pg_parse_time(&p, &tod))
		return false;
	*us = days * 86400000000LL + tod;
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om = 0;

		p++;
		if (!parse_digits(&p, 2, &oh))
			return false;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)*p) && !parse_digits(&p, 2, &om))
			return false;
		*us -= sign * ((int64_t)oh * 3600 + om * 60) * 1000000;
	} else if (*p == 'Z') {
		p++;
	}
	return *p == '\0';
}

bool cps_pg_parse_int64(const char *text, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || *end)
		return false;
	*out = v;
	return true;
}
