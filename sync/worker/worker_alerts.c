/*
 * The policy's findings as alerts on the unified alert topic, so that the
 * province's monitoring platform sees them (issue 12): a finding the batch
 * opens is an alert "POLICY-<CHECK>-<entity>-<h>" of status OPEN (h: the
 * first 16 hex digits of the SHA-256 of the record key, since alert_id is a
 * field viewers read and a key may hold a national ID), one it
 * closes the next version of that alert, CLOSED_NO_NEED. The alerts are
 * cpsync's own records: their provenance names no platform and the rule
 * "policy". They are versions like any other — the same state, change log
 * and publisher — written in the batch that opened or closed the finding.
 */
#include "worker/worker_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One opened or closed finding of the batch. */
struct change {
	const struct cps_store_policy *record; /* the checked record */
	const char *check;
	json_t *finding; /* the finding when opened; NULL when closed */
};

static bool listed(json_t *arr, const char *check)
{
	size_t i;
	json_t *v;

	json_array_foreach (arr, i, v) {
		const char *c = json_is_string(v) ? json_string_value(v)
		                                  : json_string_value(json_object_get(v, "check"));

		if (c && !strcmp(c, check))
			return true;
	}
	return false;
}

static const char *trigger_of(const char *check)
{
	if (!strcmp(check, "INCOME_ABOVE_STANDARD_ACTIVE"))
		return "INCOME_ABOVE_STANDARD";
	if (!strcmp(check, "DECEASED_ENROLLED"))
		return "DEATH";
	return "OTHER";
}

/* A string field of Avro JSON record r (a union's branch unwrapped). */
static const char *jstr(json_t *r, const char *field)
{
	json_t *v = json_object_get(r, field);

	if (json_is_object(v) && json_object_size(v) == 1)
		v = json_object_iter_value(json_object_iter(v));
	return json_string_value(v);
}

/* The new alert record of an opened finding on record `rec`. */
static json_t *alert_record(const char *alert_id, const struct change *c, json_t *rec, int64_t now)
{
	bool enrolment = !strcmp(c->record->entity, "enrolment");
	const char *subject_type = enrolment ? jstr(rec, "subject_type") : "HOUSEHOLD";
	const char *subject = enrolment ? jstr(rec, "subject_id") : jstr(rec, "household_id");
	const char *region = enrolment ? jstr(rec, "granting_region_code") : NULL;

	return json_pack("{s:s, s:s, s:s, s:O, s:s, s:s, s:s, s:I, s:O, s:s, s:n}", "alert_id",
	                 alert_id, "subject_type", subject_type ? subject_type : "HOUSEHOLD",
	                 "subject_id", subject ? subject : c->record->key, "category",
	                 json_object_get(c->finding, "category"), "trigger", trigger_of(c->check),
	                 "source_department", "CIVIL_AFFAIRS", "region_code",
	                 region ? region : "440300", "raised_at", (json_int_t)now, "severity",
	                 json_object_get(c->finding, "severity"), "status", "OPEN", "handled_at");
}

/* Applies change c to the alert's state st: the record, its provenance (no
 * platform, rule "policy"), the next version, and its emit. */
static int emit_alert(struct worker *w, struct attempt *a, struct cps_key_state *st,
                      const struct change *c, json_t *rec, int64_t now, struct cps_buf *buf,
                      char *errstr, size_t errstr_size)
{
	struct cps_reconcile_outcome o;
	json_t *record, *prov, *v;
	const char *field;
	int rc;

	if (c->finding)
		record = alert_record(st->key, c, rec, now);
	else if (json_is_object(st->record) &&
	         strcmp(jstr(st->record, "status") ?: "", "CLOSED_NO_NEED"))
		record = json_deep_copy(st->record);
	else
		return CPS_OK; /* closed already, or never raised */
	if (record && !c->finding &&
	    (json_object_set_new(record, "status", json_string("CLOSED_NO_NEED")) < 0 ||
	     json_object_set_new(record, "handled_at",
	                         json_pack("{s:I}", "long", (json_int_t)now)) < 0)) {
		json_decref(record);
		record = NULL;
	}
	cps_reconcile_outcome_init(&o);
	o.changed_fields = json_array();
	if (!record || !o.changed_fields)
		goto oom;
	json_object_foreach (record, field, v) {
		if (json_equal(v, json_object_get(st->record, field)))
			continue;
		prov = json_pack("{s:n, s:n, s:I, s:I, s:s, s:i}", "platform", "pos", "eff",
		                 (json_int_t)now, "src", (json_int_t)now, "rule", "policy",
		                 "rule_version", 1);
		if (!prov || json_object_set_new(st->provenance, field, prov) < 0 ||
		    json_array_append_new(o.changed_fields, json_string(field)) < 0)
			goto oom;
	}
	json_decref(st->record);
	st->record = record;
	st->deleted = 0;
	o.changed = 1;
	o.version = ++st->version;
	cps_buf_reset(buf);
	rc = cps_unified_encode(w->uni, st, &o, now, buf, errstr, errstr_size);
	if (rc == CPS_OK && cps_worker_attempt_add_emit(w->pool, a, st, &o, buf) != CPS_OK)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_reconcile_outcome_release(&o);
	return rc;
oom:
	json_decref(record);
	cps_reconcile_outcome_release(&o);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

/* The findings the batch opens and closes, against `open` (the store's). */
static size_t changes_of(struct attempt *a, json_t *open, struct change *out)
{
	size_t n = 0, j;
	json_t *f, *c;

	for (size_t i = 0; i < a->n_policy; i++) {
		const struct cps_store_policy *r = &a->policy[i];
		char k[CPS_NAME_MAX + 256];
		json_t *was;

		snprintf(k, sizeof(k), "%s/%s", r->entity, r->key);
		was = json_object_get(open, k);
		json_array_foreach (r->findings, j, f) {
			const char *check = json_string_value(json_object_get(f, "check"));

			if (!listed(was, check))
				out[n++] = (struct change){r, check, f};
		}
		json_array_foreach (was, j, c) {
			if (!listed(r->findings, json_string_value(c)))
				out[n++] = (struct change){r, json_string_value(c), NULL};
		}
	}
	return n;
}

/* The alert id of change c: "POLICY-<CHECK>-<entity>-<16 hex of SHA-256(key)>". */
static void alert_id(const struct change *c, char *id, size_t size)
{
	struct cps_sha256 h;
	char hex[65];

	cps_sha256_init(&h);
	cps_sha256_update(&h, c->record->key, strlen(c->record->key));
	cps_sha256_final_hex(&h, hex);
	snprintf(id, size, "POLICY-%s-%s-%.16s", c->check, c->record->entity, hex);
}

/* Adds the alert states of `changes` to the attempt (loaded from the store
 * in one query) and returns their indexes in *idx. */
static int load_alerts(struct worker *w, struct attempt *a, const struct change *changes, size_t n,
                       size_t *idx, char *errstr, size_t errstr_size)
{
	size_t first = a->n_states;
	struct cps_key_state **grown = realloc(a->states, (a->n_states + n) * sizeof(*grown));

	if (!grown)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	a->states = grown;
	for (size_t i = 0; i < n; i++) {
		char id[CPS_NAME_MAX + 300], k[CPS_NAME_MAX + 320];
		json_t *at;
		struct cps_key_state *st;

		alert_id(&changes[i], id, sizeof(id));
		snprintf(k, sizeof(k), "alert/%s", id);
		if ((at = json_object_get(a->index, k))) {
			idx[i] = (size_t)json_integer_value(at);
			continue;
		}
		if (!(st = calloc(1, sizeof(*st))) ||
		    cps_key_state_init(st, "alert", id) != CPS_OK) {
			free(st);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		idx[i] = a->n_states;
		a->states[a->n_states++] = st;
		json_object_set_new(a->index, k, json_integer((json_int_t)idx[i]));
	}
	if (a->n_states == first)
		return CPS_OK;
	return cps_store_load_states(w->store, a->states + first, a->n_states - first, errstr,
	                             errstr_size);
}

/* Drops the alert states from `first` on that got no version (a finding
 * closed whose alert was never raised): nothing of them is written. */
static void drop_unraised(struct attempt *a, size_t first)
{
	size_t kept = first;

	for (size_t i = first; i < a->n_states; i++) {
		struct cps_key_state *st = a->states[i];
		char k[CPS_NAME_MAX + 320];

		if (st->version > 0) {
			snprintf(k, sizeof(k), "alert/%s", st->key);
			json_object_set_new(a->index, k, json_integer((json_int_t)kept));
			a->states[kept++] = st;
			continue;
		}
		snprintf(k, sizeof(k), "alert/%s", st->key);
		json_object_del(a->index, k);
		cps_key_state_release(st);
		free(st);
	}
	a->n_states = kept;
}

/* The record change c's finding is about: a stored one the batch
 * rechecked, or the batch's own (a typed state's by way of its JSON view). */
static json_t *checked_record(struct attempt *a, const struct change *c)
{
	char k[CPS_NAME_MAX + 256];

	if (c->record->record)
		return c->record->record;
	snprintf(k, sizeof(k), "%s/%s", c->record->entity, c->record->key);
	return cps_worker_attempt_record_json(a, k);
}

int cps_worker_policy_alerts(struct worker *w, struct attempt *a, char *errstr, size_t errstr_size)
{
	json_t *records = json_array(), *open = NULL;
	struct change *changes = NULL;
	size_t *idx = NULL, n = 0, cap = 0;
	int64_t now = cps_wall_ms();
	size_t first = a->n_states;
	struct cps_buf buf;
	int rc = CPS_OK;

	cps_buf_init(&buf, 0);
	for (size_t i = 0; records && i < a->n_policy; i++) {
		json_array_append_new(records,
		                      json_pack("[s,s]", a->policy[i].entity, a->policy[i].key));
		cap += json_array_size(a->policy[i].findings);
	}
	if (!records)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (rc == CPS_OK && a->n_policy)
		rc = cps_store_policy_open_of(w->store, records, &open, errstr, errstr_size);
	if (rc == CPS_OK && open) {
		const char *k;
		json_t *was;

		json_object_foreach (open, k, was)
			cap += json_array_size(was);
		changes = calloc(cap ? cap : 1, sizeof(*changes));
		idx = calloc(cap ? cap : 1, sizeof(*idx));
		if (!changes || !idx)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		else
			n = changes_of(a, open, changes);
	}
	if (rc == CPS_OK && n)
		rc = load_alerts(w, a, changes, n, idx, errstr, errstr_size);
	for (size_t i = 0; rc == CPS_OK && i < n; i++)
		rc = emit_alert(w, a, a->states[idx[i]], &changes[i],
		                checked_record(a, &changes[i]), now, &buf, errstr, errstr_size);
	if (rc == CPS_OK)
		drop_unraised(a, first);
	cps_buf_release(&buf);
	json_decref(records);
	json_decref(open);
	free(changes);
	free(idx);
	return rc;
}
