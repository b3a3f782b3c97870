/*
 * Step 1 of reconciliation on the typed state (typed_reconcile.h): an
 * event updates its platform's last-seen facts, field by field, newest
 * stamp wins — reconcile_facts.c's rules, with the event's stamp entered
 * once in the state's table and every fact it updates referring to it.
 * Also the typed event made from an ingest event: from its Avro JSON
 * record, or from the record's Avro binary (the ingest payload).
 */
#include "reconcile/reconcile_int.h"
#include "reconcile/typed_int.h"

#include <string.h>

/* The event's platform, operation and stamp into *out; whether it is a
 * delete (no values to read). */
static bool event_head(const struct cps_ingest_event *ev, struct cps_tevent *out)
{
	*out = (struct cps_tevent){.platform = ev->platform,
	                           .op = ev->op,
	                           .eff = ev->effective_ms,
	                           .src = ev->source_ms,
	                           .pos = ev->source_position};
	return ev->op == CPS_OP_DELETE;
}

int cps_tevent_from_json(struct cps_tstate *st, const struct cps_ingest_event *ev,
                         struct cps_tevent *out, char *errstr, size_t errstr_size)
{
	struct cps_buf buf;
	const char *name;
	json_t *v;
	int rc = CPS_OK;

	if (event_head(ev, out))
		return CPS_OK; /* a delete states no values */
	if (!json_is_object(ev->record))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "upsert event from '%.32s' without a record object",
		                  ev->platform);
	out->values = cps_arena_calloc(st->arena, st->n_fields, sizeof(*out->values));
	if (!out->values)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_buf_init(&buf, CPS_BUF_DEFAULT_LIMIT);
	json_object_foreach (ev->record, name, v) {
		const struct cps_rfield *field = cps_rtype_field(st->rs->root, name);

		rc = field ? cps_tstate_value_from_json(st, field, v, &buf,
		                                        &out->values[field->index])
		           : CPS_ERR_INVALID;
		if (rc == CPS_ERR_FATAL)
			rc = cps_seterr(rc, errstr, errstr_size, "out of memory");
		else if (rc != CPS_OK)
			rc = cps_seterr(rc, errstr, errstr_size,
			                "event from '%.32s': field '%.64s' %s", ev->platform, name,
			                field ? "does not match its type" : "is not in the schema");
		if (rc != CPS_OK)
			break;
	}
	cps_buf_release(&buf);
	return rc;
}

int cps_tevent_from_avro(struct cps_tstate *st, const struct cps_ingest_event *ev,
                         const void *payload, size_t len, struct cps_tevent *out, char *errstr,
                         size_t errstr_size)
{
	struct cps_tval rec;
	struct cps_buf buf;
	int rc;

	if (event_head(ev, out))
		return CPS_OK; /* a delete states no values */
	rc = cps_record_decode(st->rs, payload, len, NULL, 0, st->arena, &rec, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	out->values = cps_arena_calloc(st->arena, st->n_fields, sizeof(*out->values));
	if (!out->values)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_buf_init(&buf, CPS_BUF_DEFAULT_LIMIT);
	/* each field written again on its own: the encoder's canonical bytes,
	 * whatever block counts or decimal widths the platform's writer chose */
	for (uint32_t f = 0; rc == CPS_OK && f < st->n_fields; f++) {
		cps_buf_reset(&buf);
		rc = cps_record_encode_at(st->rs->root->fields[f].type, &rec.u.list.v[f], &buf,
		                          errstr, errstr_size);
		if (rc == CPS_OK && !(out->values[f] = cps_tstate_keep(st, &buf)).p)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	cps_buf_release(&buf);
	return rc;
}

/* Where the event stands against stamp s of the state: > 0 newer. */
static int event_cmp(const struct cps_tstate *st, const struct cps_tevent *ev, uint32_t s)
{
	const struct cps_tstamp *t = &st->stamps[s];
	int cmp = stamp_cmp(ev->eff, ev->src, t->eff, t->src);

	return cmp ? cmp : cps_pos_cmp(ev->pos, t->pos);
}

/* The event's value of field f becomes the platform's fact, unless the
 * platform holds a newer fact or this same one. */
static void update_fact(const struct cps_tstate *st, struct cps_tfact *fact,
                        const struct cps_tevent *ev, struct cps_tbytes v, uint32_t stamp)
{
	int cmp = fact->stamp == CPS_TSTATE_NONE ? 1 : event_cmp(st, ev, fact->stamp);

	if (cmp < 0)
		return; /* an older fact than the one we hold, or one delivered again */
	if (cmp == 0 && cps_tbytes_eq(fact->v, v))
		return; /* the same fact again */
	fact->v = v;
	fact->stamp = stamp;
}

int cps_tstate_update_facts(struct cps_tstate *st, const struct cps_tevent *ev)
{
	uint32_t stamp = cps_tstate_stamp(st, ev->eff, ev->src, ev->pos);
	uint32_t pi = cps_tstate_platform(st, ev->platform, false);
	struct cps_tplatform *p;
	bool deletes = ev->op == CPS_OP_DELETE;

	if (stamp == CPS_TSTATE_NONE)
		return -1;
	if (pi == CPS_TSTATE_NONE) {
		pi = cps_tstate_platform(st, ev->platform, true);
		if (pi == CPS_TSTATE_NONE)
			return -1;
		st->platforms[pi].withdrawn = deletes;
		st->platforms[pi].stamp = stamp;
	} else {
		int cmp = event_cmp(st, ev, st->platforms[pi].stamp);

		/* at equal stamps a delete wins, whatever the arrival order */
		if (cmp > 0 || (cmp == 0 && (deletes || !st->platforms[pi].withdrawn))) {
			st->platforms[pi].withdrawn = deletes;
			st->platforms[pi].stamp = stamp;
		}
	}
	if (deletes)
		return 0;
	p = &st->platforms[pi];
	for (uint32_t f = 0; f < st->n_fields; f++)
		if (ev->values[f].p)
			update_fact(st, &p->facts[f], ev, ev->values[f], stamp);
	return 0;
}
