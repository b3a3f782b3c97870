/*
 * Private to sync/reconcile: what applying facts (reconcile.c,
 * reconcile_facts.c) and steward decisions (reconcile_steward.c) share:
 * reading a fact's stamps, updating the facts and resetting an outcome.
 */
#ifndef CPS_RECONCILE_INT_H
#define CPS_RECONCILE_INT_H

#include "reconcile/reconcile.h"

#include "base/common.h"

#define OOM(errstr, size) cps_seterr(CPS_ERR_FATAL, errstr, size, "out of memory")

static inline json_int_t jint(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static inline int stamp_cmp(int64_t e1, int64_t s1, int64_t e2, int64_t s2)
{
	if (e1 != e2)
		return e1 < e2 ? -1 : 1;
	if (s1 != s2)
		return s1 < s2 ? -1 : 1;
	return 0;
}

/* Compares the (eff, src) of two JSON objects carrying "eff" and "src". */
static inline int obj_stamp_cmp(const json_t *a, const json_t *b)
{
	return stamp_cmp(jint(a, "eff"), jint(a, "src"), jint(b, "eff"), jint(b, "src"));
}

/* Releases o and gives it fresh, empty arrays. */
int cps_reconcile_outcome_reset(struct cps_reconcile_outcome *o);

/* Step 1: event ev (an upsert with a record object, or a delete) updates
 * its platform's facts in `platforms` (reconcile_facts.c). -1 out of memory:
 * the facts may be half updated, and the caller drops the state. */
int cps_reconcile_update_facts(json_t *platforms, const struct cps_ingest_event *ev);

#endif
