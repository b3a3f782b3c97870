/*
 * Private to sync/policy: reading fields of typed records by name (the
 * checks read a handful of fields, so a lookup by name is cheap enough),
 * and the civil calendar the 6-month rule needs.
 */
#ifndef CPS_POLICY_INT_H
#define CPS_POLICY_INT_H

#include "policy/policy.h"

#include <stdbool.h>

/* The value of `field` and its type (a union's branch resolved); NULL when
 * the record has no such field or the value is null. */
const struct cps_tval *cps_pr_get(const struct cps_policy_record *r, const char *field,
                                  const struct cps_rtype **type);
/* A string field copied into buf (NUL-terminated, truncated to size); false
 * when absent or null. */
bool cps_pr_str(const struct cps_policy_record *r, const char *field, char *buf, size_t size);
/* An enum field's symbol; NULL when absent or null. */
const char *cps_pr_enum(const struct cps_policy_record *r, const char *field);
/* A boolean, int, long, date or timestamp field; false when absent or null. */
bool cps_pr_int(const struct cps_policy_record *r, const char *field, int64_t *out);
/* A decimal field in fen (hundredths), rescaled from its own scale
 * (rounded half up when the scale is larger); false when absent or null. */
bool cps_pr_fen(const struct cps_policy_record *r, const char *field, int64_t *out);
/* Item i of an array-of-records field; false past the end. */
bool cps_pr_item(const struct cps_policy_record *r, const char *field, size_t i,
                 struct cps_policy_record *out);

/* Days since 1970-01-01 of a civil date, and back. */
int32_t cps_days_from_civil(int y, unsigned m, unsigned d);
void cps_civil_from_days(int32_t days, int *y, unsigned *m, unsigned *d);
/* The day `months` calendar months after `day` (the day of the month
 * clamped to the target month's last day: 31 Aug + 6 months = 28/29 Feb). */
int32_t cps_add_months(int32_t day, int months);

#endif
