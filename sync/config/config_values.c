/*
 * How the text of a scalar reads as a typed value: decimal integers,
 * durations with a unit, booleans, and membership in an "a|b|c" list.
 * Shared by validation (config_validate.c) and the typed getters.
 */
#include "config/config_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool cps_config_parse_int(const char *s, long long *out)
{
	char *end;

	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return !errno && !*end;
}

bool cps_config_parse_duration_ms(const char *s, long long *out)
{
	long long v = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (LLONG_MAX - 9) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (!*p || !strcmp(p, "ms"))
		mult = 1;
	else if (!strcmp(p, "s"))
		mult = 1000;
	else if (!strcmp(p, "m"))
		mult = 60000;
	else if (!strcmp(p, "h"))
		mult = 3600000;
	else
		return false;
	if (v > LLONG_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

int cps_config_parse_bool(const char *s)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
	                                                                       "off"};

	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]))
			return 1;
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return -1;
}

bool cps_config_in_allowed(const char *allowed, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = allowed; p && *p;) {
		size_t len = strcspn(p, "|");
		if (len == n && !memcmp(p, v, n))
			return true;
		p += len;
		if (*p == '|')
			p++;
	}
	return false;
}
