/* Error-string helpers of the convention described in common.h. */
#include "base/common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cps_seterr(int code, char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list ap;

	if (!errstr || errstr_size == 0)
		return code;
	va_start(ap, fmt);
	vsnprintf(errstr, errstr_size, fmt, ap);
	va_end(ap);
	return code;
}

int cps_grow(void *arrp, size_t *cap, size_t need, size_t elem_size)
{
	void **arr = arrp;
	size_t ncap = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem_size)
			return -1;
		ncap *= 2;
	}
	p = realloc(*arr, ncap * elem_size);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

int cps_parse_decimal(const char *s, int64_t *out)
{
	size_t n = s ? strlen(s) : 0;
	int64_t v = 0;

	if (n == 0 || n > 18 || strspn(s, "0123456789") != n)
		return -1;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	*out = v;
	return 0;
}
