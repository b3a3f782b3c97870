/*
 * Applying a batch in memory (one attempt): the states of the batch's keys
 * loaded from the worker's cache or the store — typed states where the
 * entity and the stored row have a typed form, JSON ones otherwise — and
 * every event applied in order, by the typed engine (worker_typed.c) or by
 * reconcile.c, into what the store commits in one transaction
 * (worker_attempt.c); after the commit the states go to the cache.
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

void cps_worker_attempt_keep(struct worker *w, struct attempt *a, uint64_t xid)
{
	for (size_t i = 0; w->cache && i < a->n_states; i++) {
		char k[CPS_NAME_MAX + 2048];

		snprintf(k, sizeof(k), "%s/%s", a->states[i]->entity, a->states[i]->key);
		/* the cache owns it now */
		cps_state_cache_put(w->cache, k, (struct cps_cached){.json = a->states[i]}, xid);
		a->states[i] = NULL;
	}
	for (size_t i = 0; w->cache && i < a->n_tstates; i++) {
		struct cps_tstate *ts = cps_tslot_compacted(a->tstates[i]);
		char k[CPS_NAME_MAX + 2048];

		a->tstates[i] = NULL;
		if (!ts)
			continue; /* out of memory: the next batch loads it */
		snprintf(k, sizeof(k), "%s/%s", ts->entity, ts->key);
		cps_state_cache_put(w->cache, k, (struct cps_cached){.typed = ts}, xid);
	}
}

/* The index entry of a key's state: states[i] as i, tstates[i] as -1 - i. */
static int index_set(struct attempt *a, const char *k, bool typed, size_t i)
{
	return json_object_set_new(a->index, k,
	                           json_integer(typed ? -1 - (json_int_t)i : (json_int_t)i));
}

static void index_key(const char *entity, const char *key, char *k, size_t size)
{
	snprintf(k, size, "%s/%s", entity, key);
}

/* Adds an empty JSON state of (entity, key) to the attempt. */
static int add_json_state(struct attempt *a, size_t *cap, const char *entity, const char *key)
{
	char k[CPS_NAME_MAX + 2048];
	struct cps_key_state *st;

	if (cps_grow(&a->states, cap, a->n_states + 1, sizeof(*a->states)) ||
	    !(st = calloc(1, sizeof(*st))))
		return CPS_ERR_FATAL;
	if (cps_key_state_init(st, entity, key) != CPS_OK) {
		free(st);
		return CPS_ERR_FATAL;
	}
	a->states[a->n_states] = st;
	index_key(entity, key, k, sizeof(k));
	return index_set(a, k, false, a->n_states++) ? CPS_ERR_FATAL : CPS_OK;
}

/* Adds an empty typed state of (entity, key) to the attempt. */
static int add_typed_state(struct attempt *a, const struct cps_record_schema *rs,
                           const char *entity, const char *key)
{
	char k[CPS_NAME_MAX + 2048];
	size_t cap = a->cap_tstates;
	struct cps_tstate *ts;

	if (cps_grow(&a->tstates, &a->cap_tstates, a->n_tstates + 1, sizeof(*a->tstates)))
		return CPS_ERR_FATAL;
	if (cap != a->cap_tstates) {
		json_t **r = realloc(a->trecords, a->cap_tstates * sizeof(*r));
		size_t *p = r ? realloc(a->tpending, a->cap_tstates * sizeof(*p)) : NULL;

		a->trecords = r ? r : a->trecords;
		a->tpending = p ? p : a->tpending;
		if (!p)
			return CPS_ERR_FATAL;
	}
	if (!(ts = cps_tslot_new(rs, entity, key)))
		return CPS_ERR_FATAL;
	a->trecords[a->n_tstates] = NULL;
	a->tpending[a->n_tstates] = SIZE_MAX;
	a->tstates[a->n_tstates] = ts;
	index_key(entity, key, k, sizeof(k));
	return index_set(a, k, true, a->n_tstates++) ? CPS_ERR_FATAL : CPS_OK;
}

/* The cache's copy of (entity, key) in the form wanted, and the id of its
 * writer in *xid; a copy in the other form is dropped (none: *xid 0). */
static struct cps_cached cache_take(struct worker *w, const char *entity, const char *key,
                                    bool typed, uint64_t *xid)
{
	char k[CPS_NAME_MAX + 2048];
	struct cps_cached c;

	index_key(entity, key, k, sizeof(k));
	c = cps_state_cache_take(w->cache, k, xid);
	if (typed ? c.typed != NULL : c.json != NULL)
		return c;
	cps_cached_free(c);
	*xid = 0;
	return (struct cps_cached){0};
}

/* Loads the attempt's JSON states, each from the worker's cache where the
 * store says the transaction that wrote the cached copy is still its row's
 * last writer (then the row is not even sent), else from the store. */
static int load_json(struct worker *w, struct attempt *a, char *errstr, size_t errstr_size)
{
	size_t n = a->n_states;
	struct cps_key_state **cached = calloc(n ? n : 1, sizeof(*cached));
	uint64_t *known = calloc(n ? n : 1, sizeof(*known));
	unsigned char *same = calloc(n ? n : 1, 1);
	size_t hits = 0, stale = 0;
	int rc;

	if (!cached || !known || !same) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; w->cache && i < n; i++)
		cached[i] =
		    cache_take(w, a->states[i]->entity, a->states[i]->key, false, &known[i]).json;
	rc = n ? cps_store_load_states_known(w->store, a->states, n, known, NULL, same, errstr,
	                                     errstr_size)
	       : CPS_OK;
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
	if (rc == CPS_OK && n)
		cps_state_cache_count_lookups(w->cache, hits, stale, n - hits - stale);
out:
	free(cached);
	free(known);
	free(same);
	return rc;
}

/* Loads the attempt's typed states as load_json does. A key whose row has
 * no typed form (written by an older cpsync, or a shape the typed state
 * does not hold) becomes a JSON state, loaded with the others. */
static int load_typed(struct worker *w, struct attempt *a, size_t *cap_states, char *errstr,
                      size_t errstr_size)
{
	size_t n = a->n_tstates, kept = 0, hits = 0, stale = 0, i = 0;
	struct cps_tstate **cached = calloc(n, sizeof(*cached));
	uint64_t *known = calloc(n, sizeof(*known));
	unsigned char *same = calloc(n, 1), *typed = calloc(n, 1);
	int rc = CPS_OK;

	if (!cached || !known || !same || !typed) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	for (i = 0; w->cache && i < n; i++)
		cached[i] =
		    cache_take(w, a->tstates[i]->entity, a->tstates[i]->key, true, &known[i]).typed;
	rc = cps_store_load_tstates(w->store, a->tstates, n, known, NULL, same, typed, errstr,
	                            errstr_size);
	/* each state to its place among the kept (kept <= i), or to the JSON ones */
	for (i = 0; rc == CPS_OK && i < n; i++) {
		struct cps_tstate *ts = a->tstates[i];
		char k[CPS_NAME_MAX + 2048];
		bool hit = same[i] && cached[i];

		a->tstates[i] = NULL;
		if (cached[i] && !hit)
			cps_tslot_free(cached[i]);
		if (hit) {
			cps_tslot_free(ts);
			ts = cached[i];
			hits++;
		} else {
			stale += cached[i] != NULL;
			cps_tslot_loaded(ts);
		}
		index_key(ts->entity, ts->key, k, sizeof(k));
		if (hit || typed[i]) {
			a->tstates[kept] = ts;
			if (index_set(a, k, true, kept++))
				rc =
				    cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			continue;
		}
		if (add_json_state(a, cap_states, ts->entity, ts->key) != CPS_OK)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		cps_tslot_free(ts);
	}
	for (; i < n; i++) /* not reached: a failure */
		if (cached[i])
			cps_tslot_free(cached[i]);
	if (rc == CPS_OK) {
		a->n_tstates = kept;
		cps_state_cache_count_lookups(w->cache, hits, stale, n - hits - stale);
	}
	if (rc == CPS_OK && kept < n && !w->older_rows_seen) {
		w->older_rows_seen = true;
		cps_log_info(
		    FAC,
		    "worker %d: key states stored by an older cpsync are applied the JSON way and written in the current form as they change",
		    w->idx);
	}
out:
	free(cached);
	free(known);
	free(same);
	free(typed);
	return rc;
}

/* Gives each event to apply the state of its key in the attempt (one per
 * entity/key, in order of first appearance: typed where its entity has a
 * typed form, else JSON) and loads those states from the store. */
static int attempt_load_states(struct worker *w, struct item *items, size_t n, struct attempt *a,
                               char *errstr, size_t errstr_size)
{
	size_t cap_states = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const struct cps_record_schema *rs;
		char k[CPS_NAME_MAX + 2048];

		if (!items[i].ok || items[i].skip)
			continue;
		index_key(items[i].ev.entity, items[i].ev.key, k, sizeof(k));
		if (json_object_get(a->index, k))
			continue;
		rs = cps_worker_typed_schema(w, items[i].ev.entity);
		rc = rs ? add_typed_state(a, rs, items[i].ev.entity, items[i].ev.key)
		        : add_json_state(a, &cap_states, items[i].ev.entity, items[i].ev.key);
		if (rc != CPS_OK)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	if (!a->n_states && !a->n_tstates)
		return CPS_OK;
	/* states another writer changes from here on fail this batch's commit */
	if (cps_store_load_fence(w->store, errstr, errstr_size) != CPS_OK)
		return CPS_ERR_RETRIABLE;
	if (a->n_tstates && (rc = load_typed(w, a, &cap_states, errstr, errstr_size)) != CPS_OK)
		return rc;
	if ((rc = load_json(w, a, errstr, errstr_size)) != CPS_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char k[CPS_NAME_MAX + 2048];
		json_int_t at;

		if (!items[i].ok || items[i].skip)
			continue;
		index_key(items[i].ev.entity, items[i].ev.key, k, sizeof(k));
		at = json_integer_value(json_object_get(a->index, k));
		items[i].typed = at < 0;
		items[i].state = (size_t)(at < 0 ? -1 - at : at);
	}
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
	cps_arena_init(&a->texts, 0);
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
		if (items[i].typed) {
			rc = cps_worker_apply_typed(w, a, &items[i], rules, now, opened, &buf,
			                            errstr, errstr_size);
			if (rc != CPS_OK)
				goto out;
			continue;
		}
		st = a->states[items[i].state];
		cps_reconcile_outcome_init(&o);
		rc = cps_ingest_event_record(w->ec, &items[i].ev, why, sizeof(why));
		if (rc == CPS_OK)
			rc = cps_reconcile_apply(rules, st, &items[i].ev, &o, why, sizeof(why));
		if (rc != CPS_OK) {
			cps_reconcile_outcome_release(&o);
			rc = cps_worker_item_refused(&items[i], false, why, errstr, errstr_size);
			goto out;
		}
		if (o.changed) {
			cps_buf_reset(&buf);
			rc = cps_unified_encode(w->uni, st, &o, now, &buf, why, sizeof(why));
			if (rc != CPS_OK) {
				cps_reconcile_outcome_release(&o);
				rc = cps_worker_item_refused(&items[i], true, why, errstr,
				                             errstr_size);
				goto out;
			}
			rc = cps_worker_attempt_add_emit(p, a, st, &o, &buf);
			if (rc != CPS_OK)
				goto oom;
		}
		rc = cps_worker_attempt_add_conflicts(a, st->entity, st->key, &o, opened);
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
