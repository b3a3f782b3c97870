/* Error-string helpers of the convention described in common.h. */
#include "base/common.h"

#include <stdarg.h>
#include <stdio.h>

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
