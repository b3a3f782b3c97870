/*
 * A typed apply's outcome in reconcile.h's JSON shape (typed_reconcile.h):
 * what the worker's conflict rows and audit entries, and the differential
 * tests, read until they take the typed outcome.
 */
#include "reconcile/typed_int.h"

static int push(json_t *arr, json_t *v)
{
	return !v || json_array_append_new(arr, v) < 0 ? -1 : 0;
}

/* One conflict change as reconcile.c writes it. */
static json_t *change_json(const struct cps_tstate *st, const struct cps_tconflict_change *c,
                           char *errstr, size_t errstr_size)
{
	const char *field = st->rs->root->fields[c->field].name;
	json_t *cands;

	if (c->kind == CPS_TCONFLICT_CLOSED || c->kind == CPS_TCONFLICT_RESOLVED ||
	    c->kind == CPS_TCONFLICT_DISMISSED)
		return json_pack("{s:s, s:s}", "field", field, "how",
		                 c->kind == CPS_TCONFLICT_CLOSED     ? "auto"
		                 : c->kind == CPS_TCONFLICT_RESOLVED ? "resolved"
		                                                     : "dismissed");
	cands = cps_tstate_candidates_json(st, c->field, errstr, errstr_size);
	if (!cands)
		return NULL;
	if (c->kind == CPS_TCONFLICT_OPENED)
		return json_pack("{s:s, s:o, s:s}", "field", field, "candidates", cands, "rule",
		                 st->conf[c->field].rule);
	return json_pack("{s:s, s:o}", "field", field, "candidates", cands);
}

int cps_toutcome_to_json(const struct cps_tstate *st, const struct cps_toutcome *o,
                         struct cps_reconcile_outcome *out, char *errstr, size_t errstr_size)
{
	int bad = 0;

	cps_reconcile_outcome_init(out);
	out->changed = o->changed;
	out->version = o->version;
	out->op = o->op;
	out->opened = json_array();
	out->updated = json_array();
	out->closed = json_array();
	out->changed_fields = json_array();
	if (o->op == CPS_OP_DELETE && o->changed)
		out->prior_platforms = json_array();
	if (!out->opened || !out->updated || !out->closed || !out->changed_fields ||
	    (o->op == CPS_OP_DELETE && o->changed && !out->prior_platforms))
		bad = -1;
	for (uint32_t i = 0; !bad && i < o->n_conflicts; i++) {
		const struct cps_tconflict_change *c = &o->conflicts[i];
		json_t *list = c->kind == CPS_TCONFLICT_OPENED    ? out->opened
		               : c->kind == CPS_TCONFLICT_UPDATED ? out->updated
		                                                  : out->closed;

		bad = push(list, change_json(st, c, errstr, errstr_size));
	}
	for (uint32_t i = 0; !bad && i < o->n_changed; i++)
		bad = push(out->changed_fields,
		           json_string(st->rs->root->fields[o->changed_fields[i]].name));
	for (uint32_t i = 0; !bad && out->prior_platforms && i < o->n_prior; i++)
		bad = push(out->prior_platforms,
		           json_string(st->platforms[o->prior_platforms[i]].name));
	if (!bad)
		return CPS_OK;
	cps_reconcile_outcome_release(out);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "the outcome has no JSON view");
}
