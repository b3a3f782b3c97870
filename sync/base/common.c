/* Error-string helpers of the convention described in common.h. */
#include "base/common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
