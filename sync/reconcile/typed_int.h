/*
 * Private to sync/reconcile: what the typed engine's files share (step 1 in
 * typed_facts.c, the recompute in typed_reconcile.c, the outcome's view in
 * typed_outcome.c).
 */
#ifndef CPS_TYPED_INT_H
#define CPS_TYPED_INT_H

#include "reconcile/typed_reconcile.h"

#include "base/common.h"

#include <string.h>

static inline bool cps_tbytes_eq(struct cps_tbytes a, struct cps_tbytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Whether value v of type t is null: the null type, or a union's null
 * branch (its index, a one-byte zig-zag varint: unions have few branches). */
static inline bool cps_tbytes_is_null(const struct cps_rtype *t, struct cps_tbytes v)
{
	if (t->kind == CPS_RK_NULL)
		return true;
	return t->kind == CPS_RK_UNION && t->null_branch >= 0 && t->null_branch < 64 &&
	       v.len == 1 && v.p[0] == (uint8_t)(t->null_branch << 1);
}

/* The null of type t into *out: the null type's empty value or a union's
 * null branch; false when t cannot hold null. */
bool cps_tbytes_null(const struct cps_rtype *t, struct cps_tbytes *out);

/* Step 1: event ev updates its platform's facts in st (typed_facts.c); -1
 * out of memory (the facts may be half updated: drop the state). */
int cps_tstate_update_facts(struct cps_tstate *st, const struct cps_tevent *ev);

#endif
