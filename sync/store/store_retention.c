/*
 * Retention besides the change log's (store_changes.c): the raw bytes of
 * old dead letters, old dead letters already replayed or discarded, old
 * closed conflicts, and the values of old audit entries. Each call purges
 * one slice, so the leader's loop never holds long locks.
 */
#include "store/store_conn_int.h"
#include "base/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const struct {
	const char *name;
	enum stmt_id stmt;
} kinds[CPS_RETAIN_KINDS] = {
    [CPS_RETAIN_DEAD_LETTER_RAW] = {"dead_letter_raw", ST_RETAIN_DEAD_LETTER_RAW},
    [CPS_RETAIN_DEAD_LETTERS] = {"dead_letters", ST_RETAIN_DEAD_LETTERS},
    [CPS_RETAIN_CONFLICTS] = {"conflicts", ST_RETAIN_CONFLICTS},
    [CPS_RETAIN_AUDIT_VALUES] = {"audit_values", ST_RETAIN_AUDIT_VALUES},
};

const char *cps_retention_name(enum cps_retention what)
{
	return what < CPS_RETAIN_KINDS ? kinds[what].name : "unknown";
}

int cps_store_retain(struct cps_store *s, enum cps_retention what, int64_t age_ms, size_t limit,
                     size_t *done, char *errstr, size_t errstr_size)
{
	char age[24], max[24];
	const char *values[2] = {age, max};
	PGresult *res = NULL;
	int rc;

	*done = 0;
	if (what >= CPS_RETAIN_KINDS)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "no retention kind %d", what);
	snprintf(age, sizeof(age), "%" PRId64, age_ms);
	snprintf(max, sizeof(max), "%zu", limit);
	rc = cps_store_exec_prepared(s, kinds[what].stmt, values, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
	if (rc == CPS_OK)
		*done = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return rc;
}
