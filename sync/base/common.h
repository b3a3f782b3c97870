/*
 * Error convention shared by every module: functions return CPS_OK (0) or a
 * negative cps_err and, on error, fill a caller-owned errstr buffer with a
 * one-line reason (lowercase first word, no trailing period, never personal
 * data unmasked). The code says whether retrying can help.
 */
#ifndef CPS_COMMON_H
#define CPS_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum cps_err {
	CPS_OK = 0,
	CPS_ERR_INVALID = -1,   /* the input is bad: retrying will not help */
	CPS_ERR_RETRIABLE = -2, /* a transient failure (network, busy): retry later */
	CPS_ERR_FATAL = -3,     /* a bug or an unusable configuration */
};

#define CPS_ERRSTR_SIZE 512

/* printf into errstr (NULL-safe, always terminated) and return code, so a
 * call site says what kind of failure it is:
 * `return cps_seterr(CPS_ERR_RETRIABLE, errstr, size, "store unreachable: %s", why)`. */
int cps_seterr(int code, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Makes room in a growable array for `need` elements: doubles *cap (from 16)
 * until it holds them and reallocates the array. arrp is the address of the
 * array pointer (`&v->items`). 0, or -1 when out of memory: the array and
 * *cap are then unchanged. */
int cps_grow(void *arrp, size_t *cap, size_t need, size_t elem_size);

/* A decimal number of 1 to 18 digits, nothing else (no sign, no space): 0
 * with *out set, or -1. 18 digits cannot overflow an int64_t. */
int cps_parse_decimal(const char *s, int64_t *out);

#define CPS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
