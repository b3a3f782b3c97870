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

/* Orders two positions of one platform's facts when they lie in the same
 * stream, "<stream>#<n>" (a file's record) or "<stream>@<n>" (a Kafka
 * partition's offset): -1, 1, or 0 when equal or not comparable. At equal
 * stamps it tells a fact delivered again (an older position) from a newer
 * one: a file's records share the file's time. */
int cps_pos_cmp(const char *a, const char *b);

/* When an entity has no rules at all: the config's declared default. */
extern const struct cps_field_rule cps_reconcile_fallback_rule;

/* A unified value as a case's condition reads it: a union's branch
 * unwrapped, a string as is, an integer in decimal, a boolean; NULL for
 * anything else (buf holds a number's text). */
const char *cps_cond_text(const json_t *v, char *buf, size_t size);

/* Releases o and gives it fresh, empty arrays. */
int cps_reconcile_outcome_reset(struct cps_reconcile_outcome *o);

/* Step 1: event ev (an upsert with a record object, or a delete) updates
 * its platform's facts in `platforms` (reconcile_facts.c). -1 out of memory:
 * the facts may be half updated, and the caller drops the state. */
int cps_reconcile_update_facts(json_t *platforms, const struct cps_ingest_event *ev);

#endif
