/*
 * The steward's decision on a conflict (cps_steward_conflict_resolve), in
 * ONE transaction and in named steps: lock the conflict, lock its record,
 * decide by the reconciliation rules, write the new state and its
 * change-log row, close the conflict with its resolution, write the audit row.
 * Errors name the statement and SQLSTATE, never a row's values.
 */
#include "store/jsonb.h"
#include "store/store_steward.h"
#include "store/store_steward_int.h"

#include "base/clock.h"
#include "base/common.h"
#include "model/event.h"
#include "store/pg_params.h"

#include <libpq-fe.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One decision in progress, shared by its steps. */
struct resolve {
	PGconn *c;
	const struct cps_steward_decision *d;
	int *why;
	int64_t now;
	char ids[24];    /* the conflict's id as text */
	char field[256]; /* the conflicted field */
	struct cps_key_state st;
	int have_state;
	int64_t old_version; /* of the record as locked */
	struct cps_reconcile_outcome o;
	struct cps_buf payload; /* the unified event, framed */
	json_t *before, *after, *resolution, *topic;
};

static const char *action_name(enum cps_resolution how)
{
	switch (how) {
	case CPS_RESOLVE_TAKE_PLATFORM:
		return "take_platform";
	case CPS_RESOLVE_ENTER_VALUE:
		return "enter_value";
	default:
		return "dismiss";
	}
}

/* Runs `sql` with the first n of p's parameters unless encoding them failed
 * (`encode_failed`: out of memory); frees p's jsonb texts either way. */
static int run_params(struct resolve *r, const char *what, const char *sql, int n,
                      struct cps_pg_params *p, int encode_failed, char *errstr, size_t errstr_size)
{
	int rc;

	if (encode_failed)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	else
		rc = cps_steward_exec(r->c, what, sql, n, p->v, p->len, errstr, errstr_size);
	cps_pg_params_clear(p);
	return rc;
}

static json_t *field_snapshot(const struct cps_key_state *st, const char *field)
{
	json_t *v = json_is_object(st->record) ? json_object_get(st->record, field) : NULL;
	json_t *p = json_object_get(st->provenance, field);

	return json_pack("{s:O, s:O}", "value", v ? v : json_null(), "provenance",
	                 p ? p : json_null());
}

/* 1. The conflict, locked: a second resolve waits here, then sees it closed. */
static int lock_conflict(struct resolve *r, char *errstr, size_t errstr_size)
{
	const char *v[2] = {r->ids, r->d->scope};
	PGresult *res;
	int rc;

	/* out of the steward's scope: not found, before its state is told */
	rc = cps_steward_run_row(
	    r->c, "lock of conflicts",
	    "SELECT entity, key, field, status FROM cpsync.conflicts c WHERE id = "
	    "$1::bigint AND " CPS_STEWARD_IN_SCOPE("2", "c.entity", "c.key") " FOR UPDATE OF c",
	    2, v, &res, r->why, CPS_STEWARD_NOT_FOUND, errstr, errstr_size,
	    "conflict %" PRId64 " not found", r->d->conflict_id);
	if (rc)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 3), "open") && strcmp(PQgetvalue(res, 0, 3), "claimed")) {
		*r->why = CPS_STEWARD_STATE;
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "conflict %" PRId64 " is already %s", r->d->conflict_id,
		                PQgetvalue(res, 0, 3));
	} else if (cps_key_state_init(&r->st, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1)) !=
	           CPS_OK) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "conflict %" PRId64 " has an unusable entity", r->d->conflict_id);
	} else {
		r->have_state = 1;
		snprintf(r->field, sizeof(r->field), "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return rc;
}

/* 2. The record, locked: the reconcile workers' upserts wait for us. */
static int lock_record(struct resolve *r, char *errstr, size_t errstr_size)
{
	struct cps_key_state *st = &r->st;
	const char *v[2] = {st->entity, st->key};
	PGresult *res;
	int rc;

	rc = cps_steward_run_row(
	    r->c, "lock of records",
	    "SELECT version, deleted, record, provenance, platforms, conflicts, "
	    "facts, prov FROM cpsync.records WHERE entity = $1 AND key = $2 FOR UPDATE",
	    2, v, &res, r->why, CPS_STEWARD_STATE, errstr, errstr_size,
	    "the record of conflict %" PRId64 " is missing", r->d->conflict_id);
	if (rc)
		return rc;
	st->version = r->old_version = col_int(res, 0, 0);
	st->deleted = !strcmp(PQgetvalue(res, 0, 1), "t");
	json_decref(st->record);
	st->record = col_json(res, 0, 2);
	json_decref(st->provenance);
	cps_prov_column(res, 0, 7, 3, &st->provenance, NULL, errstr, errstr_size);
	json_decref(st->platforms);
	cps_facts_column(res, 0, 6, 4, &st->platforms, NULL, errstr, errstr_size);
	json_decref(st->conflicts);
	st->conflicts = col_json(res, 0, 5);
	PQclear(res);
	if (!json_is_object(st->provenance) || !json_is_object(st->platforms) ||
	    !json_is_object(st->conflicts))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "the stored state of conflict %" PRId64 " is unreadable",
		                  r->d->conflict_id);
	if (!json_object_get(st->conflicts, r->field)) {
		*r->why = CPS_STEWARD_STATE;
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "conflict %" PRId64 " is no longer open in its record",
		                  r->d->conflict_id);
	}
	r->before = field_snapshot(st, r->field);
	return CPS_OK;
}

/* 3. The decision, by the reconciliation rules: the new state, its event
 * encoded, and the resolution recorded on the conflict. */
static int decide(struct resolve *r, char *errstr, size_t errstr_size)
{
	const struct cps_steward_decision *d = r->d;
	int rc;

	rc = cps_reconcile_resolve(d->rules, &r->st, r->field, d->how, d->platform, d->value,
	                           d->steward, d->reason, d->conflict_id, r->now, &r->o, errstr,
	                           errstr_size);
	if (rc) {
		if (rc == CPS_ERR_INVALID)
			*r->why = CPS_STEWARD_BAD_REQUEST;
		return rc;
	}
	rc = d->encode(d->encode_ctx, &r->st, &r->o, r->now, &r->payload, errstr, errstr_size);
	if (rc) {
		if (rc == CPS_ERR_INVALID) {
			*r->why = CPS_STEWARD_BAD_REQUEST;
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "the value does not match the schema of field '%.64s'",
			                r->field);
		}
		return rc;
	}
	r->after = field_snapshot(&r->st, r->field);
	r->resolution = json_pack("{s:s, s:s, s:s}", "action", action_name(d->how), "by",
	                          d->steward, "reason", d->reason);
	r->topic = json_sprintf("%s%s", d->topic_prefix ? d->topic_prefix : "cpsync.unified.",
	                        r->st.entity);
	if (!r->before || !r->after || !r->resolution || !r->topic)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (d->how == CPS_RESOLVE_TAKE_PLATFORM)
		json_object_set_new(r->resolution, "platform", json_string(d->platform));
	if (d->how != CPS_RESOLVE_DISMISS)
		json_object_set(r->resolution, "value", json_object_get(r->after, "value"));
	return CPS_OK;
}

/* 4. The new state (its version guard is belt and braces: the row is locked). */
int cps_steward_write_state(PGconn *c, const struct cps_key_state *st, int64_t old_version,
                            char *errstr, size_t errstr_size)
{
	struct cps_pg_params p = {{st->entity, st->key, NULL, st->deleted ? "t" : "f"}};
	PGresult *res = NULL;
	int rc;

	p.v[2] = cps_pg_params_int(&p, 0, st->version);
	p.v[8] = cps_pg_params_int(&p, 1, old_version);
	if (cps_pg_params_json(&p, 4, json_is_null(st->record) ? NULL : st->record, NULL) ||
	    cps_pg_params_prov(&p, 5, st->provenance) ||
	    cps_pg_params_facts(&p, 6, st->platforms) ||
	    cps_pg_params_json(&p, 7, st->conflicts, "{}"))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	else
		rc =
		    cps_steward_run(c, "update of records",
		                    "UPDATE cpsync.records SET version = $3::bigint, deleted = $4, "
		                    "record = $5::jsonb, provenance = '{}', prov = $6::bytea, "
		                    "platforms = '{}', "
		                    "facts = $7::bytea, conflicts = $8::jsonb, updated_at = now() "
		                    "WHERE entity = $1 AND key = $2 AND version = $9::bigint",
		                    9, p.v, p.len, &res, errstr, errstr_size);
	if (!rc && strcmp(PQcmdTuples(res), "1"))
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "store: the record changed under its lock");
	PQclear(res);
	cps_pg_params_clear(&p);
	return rc;
}

/* 5. The change-log row (history and the event to publish), when the
 * decision changed the record. */
static int append_change(struct resolve *r, char *errstr, size_t errstr_size)
{
	const struct cps_key_state *st = &r->st;
	struct cps_pg_params p = {{st->entity, st->key, NULL, cps_op_name(r->o.op)}};
	int rc;

	p.v[2] = cps_pg_params_int(&p, 0, st->version);
	rc = cps_pg_params_json(&p, 4, json_is_null(st->record) ? NULL : st->record, NULL) ||
	     cps_pg_params_prov(&p, 5, st->provenance) ||
	     cps_pg_params_json(&p, 6, r->o.changed_fields, NULL);
	p.v[7] = json_string_value(r->topic);
	p.v[8] = r->payload.data ? (const char *)r->payload.data : "";
	p.len[8] = (int)r->payload.len;
	return run_params(r, "append to changes",
	                  "INSERT INTO cpsync.changes (entity, key, version, op, record, "
	                  "prov, changed_fields, topic, payload) VALUES ($1, $2, $3::bigint, "
	                  "$4, $5::jsonb, $6::bytea, ARRAY(SELECT jsonb_array_elements_text("
	                  "COALESCE($7::jsonb, '[]'))), $8, $9::bytea)",
	                  9, &p, rc, errstr, errstr_size);
}

/* 6. The conflict closed with its resolution. */
static int close_conflict(struct resolve *r, char *errstr, size_t errstr_size)
{
	struct cps_pg_params p = {
	    {r->ids, r->d->how == CPS_RESOLVE_DISMISS ? "dismissed" : "resolved"}};
	int rc = cps_pg_params_json(&p, 2, r->resolution, NULL);

	return run_params(
	    r, "close of conflicts",
	    "UPDATE cpsync.conflicts SET status = $2, closed_at = now(), updated_at = "
	    "now(), resolution = $3::jsonb || jsonb_build_object('at', now()) WHERE "
	    "id = $1::bigint",
	    3, &p, rc, errstr, errstr_size);
}

/* 7. The audit row: the field before and after, and the steward's reason. */
static int write_audit(struct resolve *r, char *errstr, size_t errstr_size)
{
	const struct cps_steward_decision *d = r->d;
	struct cps_pg_params p = {
	    {d->steward, r->st.entity, r->st.key, r->field, NULL, NULL, d->reason}};
	int rc;

	json_object_set_new(r->after, "action", json_string(action_name(d->how)));
	rc =
	    cps_pg_params_json(&p, 4, r->before, NULL) || cps_pg_params_json(&p, 5, r->after, NULL);
	return run_params(r, "insert into audit",
	                  "INSERT INTO cpsync.audit (actor, action, entity, key, field, before, "
	                  "after, reason) VALUES ($1, 'conflict.resolved', $2, $3, $4, $5::jsonb, "
	                  "$6::jsonb, $7)",
	                  7, &p, rc, errstr, errstr_size);
}

static void resolve_release(struct resolve *r)
{
	json_decref(r->before);
	json_decref(r->after);
	json_decref(r->resolution);
	json_decref(r->topic);
	cps_buf_release(&r->payload);
	cps_reconcile_outcome_release(&r->o);
	if (r->have_state)
		cps_key_state_release(&r->st);
}

int cps_steward_conflict_resolve(struct cps_steward_store *ss, const struct cps_steward_decision *d,
                                 json_t **out, int64_t *version, int *why, char *errstr,
                                 size_t errstr_size)
{
	struct resolve r;
	int rc, in_txn = 0;

	*out = NULL;
	*version = 0;
	memset(&r, 0, sizeof(r));
	r.d = d;
	r.why = why;
	r.now = cps_wall_ms();
	cps_reconcile_outcome_init(&r.o);
	cps_buf_init(&r.payload, 0);
	if (!(r.c = cps_steward_conn_take(ss, errstr, errstr_size)))
		return CPS_ERR_RETRIABLE;
	num(r.ids, d->conflict_id);
	rc = cps_steward_run_cmd(r.c, "begin", "BEGIN", errstr, errstr_size);
	if (rc)
		goto out;
	in_txn = 1;
	rc = lock_conflict(&r, errstr, errstr_size);
	if (!rc)
		rc = lock_record(&r, errstr, errstr_size);
	if (!rc)
		rc = decide(&r, errstr, errstr_size);
	if (!rc)
		rc = cps_steward_write_state(r.c, &r.st, r.old_version, errstr, errstr_size);
	if (!rc && r.o.changed)
		rc = append_change(&r, errstr, errstr_size);
	if (!rc)
		rc = close_conflict(&r, errstr, errstr_size);
	if (!rc)
		rc = write_audit(&r, errstr, errstr_size);
	if (rc)
		goto out;
	rc = cps_steward_run_cmd(r.c, "commit", "COMMIT", errstr, errstr_size);
	in_txn = 0;
	if (rc)
		goto out;
	*version = r.st.version;
	rc =
	    cps_steward_conflict_read(r.c, d->conflict_id, d->scope, out, why, errstr, errstr_size);
out:
	if (in_txn)
		PQclear(PQexec(r.c, "ROLLBACK"));
	resolve_release(&r);
	cps_steward_conn_give(ss, r.c);
	return rc;
}
