/*
 * What one attempt holds (struct attempt) and builds for the store to
 * commit: unified versions to emit, conflict rows and audit entries, the
 * events refused; the policy's view of its states, JSON or typed; and its
 * release.
 */
#include "worker/worker_int.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cps_worker_attempt_release(struct attempt *a)
{
	for (size_t i = 0; i < a->n_states; i++) {
		if (!a->states[i])
			continue; /* kept by the cache */
		cps_key_state_release(a->states[i]);
		free(a->states[i]);
	}
	for (size_t i = 0; i < a->n_tstates; i++) {
		if (a->tstates[i])
			cps_tslot_free(a->tstates[i]);
		json_decref(a->trecords[i]);
	}
	for (size_t i = 0; i < a->n_emits; i++)
		free(a->payloads[i]);
	free(a->tstates);
	free(a->trecords);
	free(a->tpending);
	cps_arena_release(&a->texts);
	free(a->states);
	free(a->emits);
	free(a->payloads);
	free(a->conflicts);
	free(a->audits);
	free(a->policy);
	json_decref(a->keep);
	json_decref(a->index);
	memset(a, 0, sizeof(*a));
}

static const char *kept_string(struct attempt *a, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return NULL;
	json_array_append(a->keep, obj);
	return json_string_value(v);
}

int cps_worker_attempt_add_conflicts(struct attempt *a, const char *entity, const char *key,
                                     const struct cps_reconcile_outcome *o, int64_t *opened)
{
	struct {
		json_t *list;
		enum cps_conflict_change_kind kind;
	} groups[] = {{o->opened, CPS_CONFLICT_OPEN},
	              {o->updated, CPS_CONFLICT_UPDATE},
	              {o->closed, CPS_CONFLICT_CLOSE}};

	for (size_t g = 0; g < CPS_ARRAY_SIZE(groups); g++) {
		size_t i;
		json_t *c;

		json_array_append(a->keep, groups[g].list);
		json_array_foreach (groups[g].list, i, c) {
			struct cps_store_conflict *sc;
			struct cps_store_audit *au;
			const char *how;

			if (cps_grow(&a->conflicts, &a->cap_conflicts, a->n_conflicts + 1,
			             sizeof(*a->conflicts)) ||
			    cps_grow(&a->audits, &a->cap_audits, a->n_audits + 1,
			             sizeof(*a->audits)))
				return CPS_ERR_FATAL;
			sc = &a->conflicts[a->n_conflicts++];
			memset(sc, 0, sizeof(*sc));
			sc->kind = groups[g].kind;
			sc->entity = entity;
			sc->key = key;
			sc->field = kept_string(a, c, "field");
			sc->candidates = json_object_get(c, "candidates");
			sc->rule = kept_string(a, c, "rule");
			how = kept_string(a, c, "how");
			sc->how = how ? how : "auto";
			au = &a->audits[a->n_audits++];
			memset(au, 0, sizeof(*au));
			au->actor = "cpsync";
			au->entity = entity;
			au->key = key;
			au->field = sc->field;
			switch (sc->kind) {
			case CPS_CONFLICT_OPEN:
				au->action = "conflict.opened";
				au->after = sc->candidates;
				(*opened)++;
				break;
			case CPS_CONFLICT_UPDATE:
				au->action = "conflict.updated";
				au->after = sc->candidates;
				break;
			case CPS_CONFLICT_CLOSE:
				au->action = !strcmp(sc->how, "auto")       ? "conflict.auto_closed"
				             : !strcmp(sc->how, "resolved") ? "conflict.resolved"
				                                            : "conflict.dismissed";
				break;
			}
		}
	}
	return CPS_OK;
}

int cps_worker_item_refuse(struct item *it, const char *why)
{
	it->skip = 1;
	free(it->reason);
	it->reason = strdup(why);
	return it->reason ? CPS_OK : CPS_ERR_FATAL;
}

int cps_worker_item_refused(struct item *it, bool unified, const char *why, char *errstr,
                            size_t errstr_size)
{
	if (cps_worker_item_refuse(it, why) != CPS_OK)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (unified)
		cps_log_error(FAC, "dead-lettered %s: unified event: %s", it->origin, why);
	else
		cps_log_warn(FAC, "dead-lettered %s: %s", it->origin, why);
	return CPS_ERR_INVALID;
}

struct cps_store_emit *cps_worker_attempt_new_emit(struct cps_workers *p, struct attempt *a,
                                                   const char *entity, const char *key,
                                                   const struct cps_buf *buf)
{
	struct cps_store_emit *e;
	uint8_t **pp;
	json_t *topic;

	if (cps_grow(&a->emits, &a->cap_emits, a->n_emits + 1, sizeof(*a->emits)))
		return NULL;
	/* the payload array grows along with emits */
	pp = realloc(a->payloads, a->cap_emits * sizeof(*pp));
	if (!pp)
		return NULL;
	a->payloads = pp;
	topic = json_sprintf("%s%s", p->conf.unified_topic_prefix, entity);
	if (!topic || json_array_append_new(a->keep, topic) ||
	    !(a->payloads[a->n_emits] = malloc(buf->len ? buf->len : 1)))
		return NULL;
	memcpy(a->payloads[a->n_emits], buf->data, buf->len);
	e = &a->emits[a->n_emits++];
	memset(e, 0, sizeof(*e));
	e->entity = entity;
	e->key = key;
	e->topic = json_string_value(topic);
	e->payload = a->payloads[a->n_emits - 1];
	e->payload_len = buf->len;
	return e;
}

/* Adds the unified version `buf` of state `st` (after outcome `o`) to the
 * attempt's emits, with snapshots of the record and its provenance (later
 * events of the batch change the state). CPS_ERR_FATAL when out of memory. */
int cps_worker_attempt_add_emit(struct cps_workers *p, struct attempt *a, struct cps_key_state *st,
                                const struct cps_reconcile_outcome *o, const struct cps_buf *buf)
{
	struct cps_store_emit *e = cps_worker_attempt_new_emit(p, a, st->entity, st->key, buf);

	if (!e)
		return CPS_ERR_FATAL;
	e->version = o->version;
	e->op = o->op;
	/* Reconciliation replaces a record and provenance entries rather than
	 * changing them (reconcile.c), so the record is shared and the
	 * provenance object copied one level deep. */
	e->record =
	    o->op == CPS_OP_DELETE || json_is_null(st->record) ? NULL : json_incref(st->record);
	e->provenance = json_copy(st->provenance);
	e->changed_fields = o->changed_fields;
	json_array_append(a->keep, o->changed_fields);
	json_array_append_new(a->keep, e->record ? e->record : json_null());
	json_array_append_new(a->keep, e->provenance ? e->provenance : json_null());
	return CPS_OK;
}

bool cps_worker_attempt_view(struct attempt *a, const char *k, struct slot_view *out)
{
	json_t *at = json_object_get(a->index, k);
	json_int_t i = json_integer_value(at);
	const struct cps_tstate *ts;

	if (!at)
		return false;
	if (i >= 0) {
		const struct cps_key_state *st = a->states[i];

		*out = (struct slot_view){st->entity, st->key,     st->record,
		                          NULL,       st->deleted, (size_t)i};
		return true;
	}
	i = -1 - i;
	ts = a->tstates[i];
	*out =
	    (struct slot_view){ts->entity, ts->key, NULL, ts, ts->deleted, a->n_states + (size_t)i};
	return true;
}

json_t *cps_worker_attempt_record_json(struct attempt *a, const char *k)
{
	json_t *at = json_object_get(a->index, k);
	json_int_t i = json_integer_value(at);
	char err[CPS_ERRSTR_SIZE];

	if (!at)
		return NULL;
	if (i >= 0)
		return a->states[i]->record;
	i = -1 - i;
	if (!a->trecords[i] &&
	    !(a->trecords[i] = cps_tstate_record_json(a->tstates[i], err, sizeof(err))))
		cps_log_warn(FAC, "a %s record has no JSON view: %s", a->tstates[i]->entity, err);
	return a->trecords[i];
}
