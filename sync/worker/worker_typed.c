/*
 * The typed path of an attempt (ENGINE.md "The typed key state",
 * step 4): key states held as typed states (reconcile/typed_state.h), each
 * in a tslot with an arena of its own; an event applied by the typed engine;
 * its unified event written from the typed state. A version's emit stands
 * for its state as it is until another event of the batch changes the
 * state in place: only then is what the store keeps of the version (record
 * jsonb text, provenance bytes) written down; the batch's last version of
 * a key is the state's own, which the store writes once. JSON is made only
 * for conflicts (their rows and audit entries) and for the records of
 * alerts.
 */
#include "worker/worker_int.h"
#include "base/log.h"
#include "codec/schema.h"
#include "reconcile/typed_reconcile.h"
#include "store/jsonb.h"
#include "store/state_typed.h"

#include <stdlib.h>
#include <string.h>

const struct cps_record_schema *cps_worker_typed_schema(struct worker *w, const char *entity)
{
	int e = cps_entity_index(entity);
	char err[CPS_ERRSTR_SIZE];

	if (e < 0 || !strcmp(entity, "alert"))
		return NULL;
	if (!w->typed_tried[e]) {
		struct cps_schema *s = cps_catalog_by_entity(w->pool->conf.catalog, entity);

		w->typed_tried[e] = true;
		if (!s)
			cps_log_warn(FAC, "no schema of %s: its states stay on the JSON path",
			             entity);
		else if (cps_record_schema_new(s, &w->typed_rs[e], err, sizeof(err)) != CPS_OK)
			cps_log_warn(FAC, "schema of %s: %s: its states stay on the JSON path",
			             entity, err);
	}
	return w->typed_rs[e];
}

/* A copy of b's bytes in the attempt's texts, NUL-terminated; NULL when
 * memory is out. */
static const char *texts_keep(struct attempt *a, const struct cps_buf *b)
{
	char *p = cps_arena_alloc(&a->texts, b->len + 1);

	if (p) {
		memcpy(p, b->data, b->len);
		p[b->len] = '\0';
	}
	return p;
}

/* The changed fields' names as a jsonb array's text, into b. */
static int changed_text(const struct cps_tstate *ts, const struct cps_toutcome *to,
                        struct cps_buf *b)
{
	int bad = cps_buf_append_byte(b, '[');

	for (uint32_t i = 0; !bad && i < to->n_changed; i++) {
		const char *name = ts->rs->root->fields[to->changed_fields[i]].name;

		bad = (i && cps_buf_append(b, ", ", 2)) ||
		      cps_jsonb_put_string(b, name, strlen(name));
	}
	return bad || cps_buf_append_byte(b, ']');
}

/* Writes down what the store keeps of emit e, the version ts stands at:
 * its record's jsonb text and its provenance (ts is about to change). */
static int write_down(struct attempt *a, const struct cps_tstate *ts, struct cps_store_emit *e,
                      char *errstr, size_t errstr_size)
{
	struct cps_buf b;
	int rc = CPS_OK;

	cps_buf_init(&b, 0);
	if (e->op != CPS_OP_DELETE && ts->has_record) {
		rc = cps_tstate_record_jsonb(ts, &b, errstr, errstr_size);
		if (rc == CPS_OK && !(e->record_text = texts_keep(a, &b)))
			rc = CPS_ERR_FATAL;
	}
	cps_buf_reset(&b);
	if (rc == CPS_OK && (rc = cps_tstate_prov_encode(ts, &b, errstr, errstr_size)) == CPS_OK) {
		e->prov_bin = (const uint8_t *)texts_keep(a, &b);
		e->prov_len = b.len;
		rc = e->prov_bin ? CPS_OK : CPS_ERR_FATAL;
	}
	cps_buf_release(&b);
	e->as_state = false;
	if (rc == CPS_ERR_FATAL)
		cps_seterr(rc, errstr, errstr_size, "out of memory");
	return rc;
}

/* Adds the version `to` made of state i, its unified event in `event`, to
 * the attempt's emits, standing for the state until it changes again. */
static int add_typed_emit(struct worker *w, struct attempt *a, size_t i,
                          const struct cps_toutcome *to, const struct cps_buf *event, char *errstr,
                          size_t errstr_size)
{
	const struct cps_tstate *ts = a->tstates[i];
	struct cps_store_emit *e =
	    cps_worker_attempt_new_emit(w->pool, a, ts->entity, ts->key, event);
	struct cps_buf b;
	int bad;

	if (!e)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	e->version = to->version;
	e->op = to->op;
	e->encoded = true;
	e->as_state = true;
	a->tpending[i] = a->n_emits - 1;
	cps_buf_init(&b, 0);
	bad = changed_text(ts, to, &b) || !(e->changed_text = texts_keep(a, &b));
	cps_buf_release(&b);
	return bad ? cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory") : CPS_OK;
}

/* The conflict rows and audit entries of `to`, by way of its JSON view. */
static int add_typed_conflicts(struct attempt *a, const struct cps_tstate *ts,
                               const struct cps_toutcome *to, int64_t *opened, char *errstr,
                               size_t errstr_size)
{
	struct cps_reconcile_outcome o;
	int rc;

	if (!to->n_conflicts)
		return CPS_OK;
	rc = cps_toutcome_to_json(ts, to, &o, errstr, errstr_size);
	if (rc == CPS_OK &&
	    cps_worker_attempt_add_conflicts(a, ts->entity, ts->key, &o, opened) != CPS_OK)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_reconcile_outcome_release(&o);
	return rc;
}

int cps_worker_apply_typed(struct worker *w, struct attempt *a, struct item *it,
                           const struct cps_rules *rules, int64_t now, int64_t *opened,
                           struct cps_buf *buf, char *errstr, size_t errstr_size)
{
	struct cps_tstate *ts = a->tstates[it->state];
	char why[CPS_ERRSTR_SIZE];
	struct cps_toutcome to;
	struct cps_tevent ev;
	int rc;

	if (a->tpending[it->state] != SIZE_MAX) {
		rc = write_down(a, ts, &a->emits[a->tpending[it->state]], errstr, errstr_size);
		a->tpending[it->state] = SIZE_MAX;
		if (rc != CPS_OK)
			return rc;
	}
	rc = it->ev.record_bytes
	         ? cps_tevent_from_avro(ts, &it->ev, it->ev.record_bytes, it->ev.record_bytes_len,
	                                &ev, why, sizeof(why))
	         : cps_tevent_from_json(ts, &it->ev, &ev, why, sizeof(why));
	if (rc == CPS_OK)
		rc = cps_treconcile_apply(rules, ts, &ev, &to, why, sizeof(why));
	if (rc == CPS_ERR_INVALID)
		return cps_worker_item_refused(it, false, why, errstr, errstr_size);
	if (rc != CPS_OK)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (to.changed) {
		cps_buf_reset(buf);
		rc = cps_unified_encode_typed(w->uni, ts, &to, now, buf, why, sizeof(why));
		if (rc != CPS_OK)
			return cps_worker_item_refused(it, true, why, errstr, errstr_size);
		rc = add_typed_emit(w, a, it->state, &to, buf, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return add_typed_conflicts(a, ts, &to, opened, errstr, errstr_size);
}
