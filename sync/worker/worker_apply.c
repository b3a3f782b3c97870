/*
 * Applying a batch in memory (one attempt): the states of the batch's keys
 * loaded from the store, every event applied in order by reconcile.c, and
 * what the store commits in one transaction — unified versions to emit,
 * conflict rows and audit entries — owned by struct attempt.
 */
#include "worker/worker_int.h"
#include "base/clock.h"
#include "base/live.h"
#include "base/log.h"
#include "store/store_rules.h"
#include "reconcile/reconcile.h"

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
	for (size_t i = 0; i < a->n_emits; i++)
		free(a->payloads[i]);
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

void cps_worker_attempt_keep(struct worker *w, struct attempt *a, uint64_t xid)
{
	for (size_t i = 0; w->cache && i < a->n_states; i++) {
		char k[CPS_NAME_MAX + 2048];

		snprintf(k, sizeof(k), "%s/%s", a->states[i]->entity, a->states[i]->key);
		cps_state_cache_put(w->cache, k, a->states[i], xid); /* the cache owns it now */
		a->states[i] = NULL;
	}
}

static const char *kept_string(struct attempt *a, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return NULL;
	json_array_append(a->keep, obj);
	return json_string_value(v);
}

/* Conflict rows and audit entries of one outcome. */
static int add_conflicts(struct attempt *a, const struct cps_key_state *st,
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
			sc->entity = st->entity;
			sc->key = st->key;
			sc->field = kept_string(a, c, "field");
			sc->candidates = json_object_get(c, "candidates");
			sc->rule = kept_string(a, c, "rule");
			how = kept_string(a, c, "how");
			sc->how = how ? how : "auto";
			au = &a->audits[a->n_audits++];
			memset(au, 0, sizeof(*au));
			au->actor = "cpsync";
			au->entity = st->entity;
			au->key = st->key;
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

/* Loads the attempt's states, each from the worker's cache where the store
 * says the transaction that wrote the cached copy is still its row's last
 * writer (then the row's JSON is not even sent), else from the store. */
static int load_or_reuse(struct worker *w, struct attempt *a, char *errstr, size_t errstr_size)
{
	size_t n = a->n_states;
	struct cps_key_state **cached = calloc(n, sizeof(*cached));
	uint64_t *known = calloc(n, sizeof(*known));
	unsigned char *same = calloc(n, 1);
	size_t hits = 0, stale = 0;
	int rc;

	if (!cached || !known || !same) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; w->cache && i < n; i++) {
		char k[CPS_NAME_MAX + 2048];

		snprintf(k, sizeof(k), "%s/%s", a->states[i]->entity, a->states[i]->key);
		cached[i] = cps_state_cache_take(w->cache, k, &known[i]);
	}
	rc = cps_store_load_states_known(w->store, a->states, n, known, NULL, same, errstr,
	                                 errstr_size);
	for (size_t i = 0; i < n; i++) {
		struct cps_key_state *drop = cached[i];

		if (rc == CPS_OK && same[i] && cached[i]) {
			drop = a->states[i];
			a->states[i] = cached[i];
			hits++;
		}
		stale += rc == CPS_OK && cached[i] && !same[i];
		if (drop) {
			cps_key_state_release(drop);
			free(drop);
		}
	}
	if (rc == CPS_OK)
		cps_state_cache_count_lookups(w->cache, hits, stale, n - hits - stale);
out:
	free(cached);
	free(known);
	free(same);
	return rc;
}

/* Gives each event to apply the index of its key's state in the attempt (one
 * state per entity/key, in order of first appearance) and loads those
 * states from the store. */
static int attempt_load_states(struct worker *w, struct item *items, size_t n, struct attempt *a,
                               char *errstr, size_t errstr_size)
{
	size_t cap_states = 0;

	for (size_t i = 0; i < n; i++) {
		char k[CPS_NAME_MAX + 2048];
		json_t *idx;

		if (!items[i].ok || items[i].skip)
			continue;
		snprintf(k, sizeof(k), "%s/%s", items[i].ev.entity, items[i].ev.key);
		idx = json_object_get(a->index, k);
		if (idx) {
			items[i].state = (size_t)json_integer_value(idx);
			continue;
		}
		if (cps_grow(&a->states, &cap_states, a->n_states + 1, sizeof(*a->states)))
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		a->states[a->n_states] = calloc(1, sizeof(struct cps_key_state));
		if (!a->states[a->n_states])
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (cps_key_state_init(a->states[a->n_states], items[i].ev.entity,
		                       items[i].ev.key) != CPS_OK) {
			free(a->states[a->n_states]);
			a->states[a->n_states] = NULL;
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		items[i].state = a->n_states++;
		json_object_set_new(a->index, k, json_integer((json_int_t)items[i].state));
	}
	if (!a->n_states)
		return CPS_OK;
	/* states another writer changes from here on fail this batch's commit */
	if (cps_store_load_fence(w->store, errstr, errstr_size) != CPS_OK)
		return CPS_ERR_RETRIABLE;
	return load_or_reuse(w, a, errstr, errstr_size);
}

/* Adds the unified version `buf` of state `st` (after outcome `o`) to the
 * attempt's emits: a copy of the payload, snapshots of the record and its
 * provenance (later events of the batch change the state), the topic.
 * CPS_ERR_FATAL when out of memory. */
int cps_worker_attempt_add_emit(struct cps_workers *p, struct attempt *a, struct cps_key_state *st,
                                const struct cps_reconcile_outcome *o, const struct cps_buf *buf)
{
	struct cps_store_emit *e;
	uint8_t **pp;
	json_t *topic;

	if (cps_grow(&a->emits, &a->cap_emits, a->n_emits + 1, sizeof(*a->emits)))
		return CPS_ERR_FATAL;
	/* the payload array grows along with emits */
	pp = realloc(a->payloads, a->cap_emits * sizeof(*pp));
	if (!pp)
		return CPS_ERR_FATAL;
	a->payloads = pp;
	a->payloads[a->n_emits] = malloc(buf->len ? buf->len : 1);
	if (!a->payloads[a->n_emits])
		return CPS_ERR_FATAL;
	memcpy(a->payloads[a->n_emits], buf->data, buf->len);
	e = &a->emits[a->n_emits++];
	memset(e, 0, sizeof(*e));
	e->entity = st->entity;
	e->key = st->key;
	e->version = o->version;
	e->op = o->op;
	/* Snapshots: later events of the batch change the state. Reconciliation
	 * replaces a record and provenance entries rather than changing them
	 * (reconcile.c), so the record is shared and the provenance object
	 * copied one level deep. */
	e->record =
	    o->op == CPS_OP_DELETE || json_is_null(st->record) ? NULL : json_incref(st->record);
	e->provenance = json_copy(st->provenance);
	e->changed_fields = o->changed_fields;
	json_array_append(a->keep, o->changed_fields);
	json_array_append_new(a->keep, e->record ? e->record : json_null());
	json_array_append_new(a->keep, e->provenance ? e->provenance : json_null());
	topic = json_sprintf("%s%s", p->conf.unified_topic_prefix, st->entity);
	e->topic = json_string_value(topic);
	json_array_append_new(a->keep, topic);
	e->payload = a->payloads[a->n_emits - 1];
	e->payload_len = buf->len;
	return CPS_OK;
}

/* cps_worker_attempt_build under `rules`. */
static int attempt_apply(struct worker *w, struct item *items, size_t n, struct attempt *a,
                         const struct cps_rules *rules, int64_t now, int64_t *opened, char *errstr,
                         size_t errstr_size)
{
	struct cps_workers *p = w->pool;
	struct cps_buf buf;
	int rc = CPS_OK;

	a->keep = json_array();
	a->index = json_object();
	cps_buf_init(&buf, 0);
	if (!a->keep || !a->index)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = attempt_load_states(w, items, n, a, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct cps_reconcile_outcome o;
		struct cps_key_state *st;
		char why[CPS_ERRSTR_SIZE];

		if (!items[i].ok || items[i].skip)
			continue;
		st = a->states[items[i].state];
		cps_reconcile_outcome_init(&o);
		rc = cps_reconcile_apply(rules, st, &items[i].ev, &o, why, sizeof(why));
		if (rc != CPS_OK) {
			cps_reconcile_outcome_release(&o);
			if (cps_worker_item_refuse(&items[i], why) != CPS_OK)
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                  "out of memory");
			cps_log_warn(FAC, "dead-lettered %s: %s", items[i].origin, why);
			rc = CPS_ERR_INVALID;
			goto out;
		}
		if (o.changed) {
			cps_buf_reset(&buf);
			rc = cps_unified_encode(w->uni, st, &o, now, &buf, why, sizeof(why));
			if (rc != CPS_OK) {
				cps_reconcile_outcome_release(&o);
				if (cps_worker_item_refuse(&items[i], why) != CPS_OK)
					return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
					                  "out of memory");
				cps_log_error(FAC, "dead-lettered %s: unified event: %s",
				              items[i].origin, why);
				rc = CPS_ERR_INVALID;
				goto out;
			}
			rc = cps_worker_attempt_add_emit(p, a, st, &o, &buf);
			if (rc != CPS_OK)
				goto oom;
		}
		json_array_append(a->keep, o.opened);
		json_array_append(a->keep, o.updated);
		json_array_append(a->keep, o.closed);
		rc = add_conflicts(a, st, &o, opened);
		cps_reconcile_outcome_release(&o);
		if (rc != CPS_OK)
			goto oom;
		continue;
	oom:
		cps_reconcile_outcome_release(&o);
		cps_buf_release(&buf);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
out:
	cps_buf_release(&buf);
	return rc;
}

/* Loads states and applies every event in order. CPS_OK: the attempt is
 * ready to commit; CPS_ERR_INVALID: an event was refused (marked skip), redo;
 * else a store (or memory) error. */
int cps_worker_attempt_build(struct worker *w, struct item *items, size_t n, struct attempt *a,
                             int64_t *opened, char *errstr, size_t errstr_size)
{
	struct cps_workers *p = w->pool;
	int64_t now = cps_wall_ms();
	int rc;
	/* the rules of this attempt: a swap meanwhile waits for them back */
	const struct cps_rules *rules =
	    p->conf.rules_live ? cps_live_take(p->conf.rules_live) : p->conf.rules;

	rc = attempt_apply(w, items, n, a, rules, now, opened, errstr, errstr_size);
	if (p->conf.rules_live)
		cps_live_give(p->conf.rules_live, (void *)rules);
	return rc;
}
