/*
 * Steward decisions on one key's open conflicts (reconcile.h): take a
 * platform's value, enter a value, or dismiss. The decision is stamped with
 * the newest fact it saw, so it holds until a platform states something
 * newer (reconcile.c's apply checks that).
 */
#include "reconcile/reconcile_int.h"

#include <string.h>

/* ---- steward decisions ------------------------------------------------------- */

/* The provenance of a decision (reconcile.h). Where the value comes from,
 * `origin`: the chosen candidate (take-platform) or the value's own
 * provenance (dismiss); NULL for an entered value (or a dismissed null),
 * whose times are the decision's. Then the rule "steward", the conflict,
 * who decided, when and why, and the newest fact the decision saw. */
static json_t *decision_provenance(const json_t *origin, int ver, int64_t conflict_id,
                                   const char *steward, const char *reason, int64_t now_ms,
                                   const json_t *newest)
{
	json_t *platform = origin ? json_object_get(origin, "platform") : NULL;
	json_t *pos = origin ? json_object_get(origin, "pos") : NULL;
	json_t *p;

	p = json_pack("{s:O, s:O, s:I, s:I, s:s, s:i, s:s, s:I, s:s?, s:I, s:I}", "platform",
	              platform ? platform : json_null(), "pos", pos ? pos : json_null(), "eff",
	              origin ? jint(origin, "eff") : (json_int_t)now_ms, "src",
	              origin ? jint(origin, "src") : (json_int_t)now_ms, "rule", "steward",
	              "rule_version", ver, "steward", steward, "decided_at", (json_int_t)now_ms,
	              "reason", reason, "seen_eff", newest ? jint(newest, "eff") : 0, "seen_src",
	              newest ? jint(newest, "src") : 0);
	if (p && conflict_id > 0 &&
	    json_object_set_new(p, "conflict_id", json_integer(conflict_id)) < 0) {
		json_decref(p);
		return NULL;
	}
	return p;
}

int cps_reconcile_resolve(const struct cps_rules *rules, struct cps_key_state *st,
                          const char *field, enum cps_resolution how, const char *platform,
                          json_t *value, const char *steward, const char *reason,
                          int64_t conflict_id, int64_t now_ms, struct cps_reconcile_outcome *out,
                          char *errstr, size_t errstr_size)
{
	json_t *conflict, *cands, *cand = NULL, *c, *newest = NULL, *p, *nprov = NULL, *nval;
	json_t *old_prov, *cur, *origin;
	const char *pn;
	size_t i;
	int ver = 0;

	if (cps_reconcile_outcome_reset(out) != CPS_OK)
		return OOM(errstr, errstr_size);
	if (!field || !(conflict = json_object_get(st->conflicts, field)))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "no open conflict on field '%.64s'", field ? field : "");
	if (!steward || !*steward)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "a steward decision needs the steward's name");
	cands = json_object_get(conflict, "candidates");
	if (how == CPS_RESOLVE_TAKE_PLATFORM) {
		json_array_foreach (cands, i, c) {
			if (platform &&
			    !strcmp(json_string_value(json_object_get(c, "platform")), platform))
				cand = c;
		}
		if (!cand)
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "platform '%.32s' is not a candidate of the conflict on field '%.64s'",
			    platform ? platform : "", field);
	} else if (how == CPS_RESOLVE_ENTER_VALUE) {
		if (!value)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "no value entered for field '%.64s'", field);
	} else if (how != CPS_RESOLVE_DISMISS) {
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "unknown resolution for field '%.64s'", field);
	}
	if (!json_is_object(st->record))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "conflict on field '%.64s' of a record that does not exist",
		                  field);
	cps_rules_for(rules, st->entity, field, &ver);
	/* the decision is stamped with the newest fact it saw: it holds until
	 * a platform states something newer about the field */
	json_object_foreach (st->platforms, pn, p) {
		json_t *f = json_object_get(json_object_get(p, "fields"), field);

		if (f && !json_is_true(json_object_get(p, "withdrawn")) &&
		    (!newest || obj_stamp_cmp(f, newest) > 0))
			newest = f;
	}
	cur = json_object_get(st->record, field);
	old_prov = json_object_get(st->provenance, field);
	if (how == CPS_RESOLVE_TAKE_PLATFORM)
		nval = json_deep_copy(json_object_get(cand, "v"));
	else if (how == CPS_RESOLVE_ENTER_VALUE)
		nval = json_deep_copy(value);
	else
		nval = cur ? json_incref(cur) : json_null();
	if (how == CPS_RESOLVE_TAKE_PLATFORM)
		origin = cand;
	else if (how == CPS_RESOLVE_DISMISS && cur && !json_is_null(cur))
		origin = old_prov;
	else
		origin = NULL;
	nprov = decision_provenance(origin, ver, conflict_id, steward, reason, now_ms, newest);
	if (!nval || !nprov ||
	    json_array_append_new(
	        out->closed, json_pack("{s:s, s:s}", "field", field, "how",
	                               how == CPS_RESOLVE_DISMISS ? "dismissed" : "resolved")) <
	        0) {
		json_decref(nval);
		json_decref(nprov);
		cps_reconcile_outcome_release(out);
		return OOM(errstr, errstr_size);
	}
	if (!cur || !json_equal(cur, nval))
		json_array_append_new(out->changed_fields, json_string(field));
	json_object_set_new(st->record, field, nval);
	json_object_set_new(st->provenance, field, nprov);
	json_object_del(st->conflicts, field);
	/* a decision is always news for consumers: the field's provenance changed */
	out->changed = 1;
	out->op = CPS_OP_UPSERT;
	out->version = ++st->version;
	return CPS_OK;
}
