/* Error-string helpers of the convention described in common.h. */
#include "base/common.h"

#include <stdarg.h>
#include <stdio.h>

static void vseterr(char *errstr, size_t errstr_size, const char *fmt, va_list ap)
{
	if (!errstr || errstr_size == 0)
		return;
	vsnprintf(errstr, errstr_size, fmt, ap);
}

int cps_seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vseterr(errstr, errstr_size, fmt, ap);
	va_end(ap);
	return CPS_ERR_INVALID;
}

int cps_seterr_code(int code, char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vseterr(errstr, errstr_size, fmt, ap);
	va_end(ap);
	return code;
}
