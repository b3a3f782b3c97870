/*
 * A steward's decision on the typed state (typed_reconcile.h), as
 * reconcile_steward.c decides it on the JSON trees: the chosen, entered or
 * kept value becomes the field's, its provenance names the decision and the
 * newest fact it saw, the conflict closes, and the record gets a new
 * version (a decision is always news: the provenance changed).
 */
#include "reconcile/reconcile_int.h"
#include "reconcile/typed_int.h"

#include <string.h>

/* The newest fact of field f among the non-withdrawn platforms (the first
 * of equals, in the state's order); CPS_TSTATE_NONE when none. */
static uint32_t newest_fact(const struct cps_tstate *st, uint32_t f)
{
	uint32_t best = CPS_TSTATE_NONE;

	for (uint32_t p = 0; p < st->n_platforms; p++) {
		uint32_t s = st->platforms[p].facts[f].stamp;

		if (st->platforms[p].withdrawn || s == CPS_TSTATE_NONE)
			continue;
		if (best == CPS_TSTATE_NONE ||
		    stamp_cmp(st->stamps[s].eff, st->stamps[s].src, st->stamps[best].eff,
		              st->stamps[best].src) > 0)
			best = s;
	}
	return best;
}

/* Checks the decision; the candidate taken into *cand (TAKE_PLATFORM). */
static int check_decision(const struct cps_tstate *st, uint32_t f, enum cps_resolution how,
                          const char *platform, struct cps_tbytes value, const char *steward,
                          const struct cps_tcand **cand, char *errstr, size_t errstr_size)
{
	const struct cps_tconflict *k = f < st->n_fields ? &st->conf[f] : NULL;
	const char *name = f < st->n_fields ? st->rs->root->fields[f].name : "";

	*cand = NULL;
	if (!k || !k->open)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "no open conflict on field '%.64s'", name);
	if (!steward || !*steward)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "a steward decision needs the steward's name");
	if (how == CPS_RESOLVE_TAKE_PLATFORM) {
		for (uint32_t i = 0; platform && i < k->n_cands; i++)
			if (!strcmp(st->platforms[k->cands[i].platform].name, platform))
				*cand = &k->cands[i];
		if (!*cand)
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "platform '%.32s' is not a candidate of the conflict on field '%.64s'",
			    platform ? platform : "", name);
	} else if (how == CPS_RESOLVE_ENTER_VALUE && !value.p) {
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "no value entered for field '%.64s'", name);
	} else if (how != CPS_RESOLVE_TAKE_PLATFORM && how != CPS_RESOLVE_ENTER_VALUE &&
	           how != CPS_RESOLVE_DISMISS) {
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "unknown resolution for field '%.64s'", name);
	}
	if (!st->has_record)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "conflict on field '%.64s' of a record that does not exist",
		                  name);
	return CPS_OK;
}

int cps_treconcile_resolve(const struct cps_rules *rules, struct cps_tstate *st, uint32_t f,
                           enum cps_resolution how, const char *platform, struct cps_tbytes value,
                           const char *steward, const char *reason, int64_t conflict_id,
                           int64_t now_ms, struct cps_toutcome *out, char *errstr,
                           size_t errstr_size)
{
	const struct cps_tcand *cand;
	const struct cps_rfield *field;
	struct cps_tbytes cur, nval;
	struct cps_tprov *prov, decided;
	uint32_t newest;
	int ver = 0, rc;

	*out = (struct cps_toutcome){.op = CPS_OP_UPSERT};
	rc = check_decision(st, f, how, platform, value, steward, &cand, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	field = &st->rs->root->fields[f];
	cps_rules_for(rules, st->entity, field->name, &ver);
	newest = newest_fact(st, f);
	cur = st->record[f];
	prov = &st->prov[f];
	if (how == CPS_RESOLVE_TAKE_PLATFORM)
		nval = cand->v;
	else if (how == CPS_RESOLVE_ENTER_VALUE)
		nval = value;
	else if (cur.p)
		nval = cur;
	else if (!cps_tbytes_null(field->type, &nval))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "field '%.64s' has no value to keep and cannot be null",
		                  field->name);
	/* where the value comes from: the candidate, the kept value's own
	 * provenance, or the decision itself (platform and position null) */
	decided =
	    (struct cps_tprov){.set = true,
	                       .platform = CPS_TSTATE_NONE,
	                       .rule = "steward",
	                       .rule_version = ver,
	                       .has = CPS_TPROV_STEWARD | CPS_TPROV_SEEN,
	                       .steward = cps_arena_strdup(st->arena, steward),
	                       .reason = reason ? cps_arena_strdup(st->arena, reason) : NULL,
	                       .decided_at = now_ms,
	                       .seen_eff = newest == CPS_TSTATE_NONE ? 0 : st->stamps[newest].eff,
	                       .seen_src = newest == CPS_TSTATE_NONE ? 0 : st->stamps[newest].src,
	                       .conflict_id = conflict_id};
	if (conflict_id > 0)
		decided.has |= CPS_TPROV_CONFLICT_ID;
	if (how == CPS_RESOLVE_TAKE_PLATFORM) {
		decided.platform = cand->platform;
		decided.stamp = cand->stamp;
	} else if (how == CPS_RESOLVE_DISMISS && cur.p && !cps_tbytes_is_null(field->type, cur) &&
	           prov->set) {
		decided.platform = prov->platform;
		decided.stamp = prov->stamp;
	} else {
		decided.stamp = cps_tstate_stamp(st, now_ms, now_ms, NULL);
	}
	out->changed_fields = cps_arena_alloc(st->arena, sizeof(uint32_t));
	out->conflicts = cps_arena_alloc(st->arena, sizeof(*out->conflicts));
	if (!decided.steward || (reason && !decided.reason) || decided.stamp == CPS_TSTATE_NONE ||
	    !out->changed_fields || !out->conflicts)
		return OOM(errstr, errstr_size);
	out->conflicts[out->n_conflicts++] = (struct cps_tconflict_change){
	    f, how == CPS_RESOLVE_DISMISS ? CPS_TCONFLICT_DISMISSED : CPS_TCONFLICT_RESOLVED};
	if (!cur.p || !cps_tbytes_eq(cur, nval))
		out->changed_fields[out->n_changed++] = f;
	st->record[f] = nval;
	*prov = decided;
	st->conf[f].open = false;
	out->changed = true;
	out->version = ++st->version;
	return CPS_OK;
}
