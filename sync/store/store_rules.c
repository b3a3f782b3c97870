/*
 * The rules lifecycle in the store (store_rules.h): rule sets, the workers'
 * load fence, and the diff/apply pass. The pass reads key states in keyset
 * pages of (entity, key), decides each again with cps_reconcile_rerun and
 * counts what changes; applying, each page is one transaction that locks
 * its rows first, so a worker's upsert of such a row waits for it and a
 * worker batch loaded before it fails on the fence (migration 008). A
 * changed enrolment or verification has its policy findings written in the
 * same transaction, through the caller's policy_check.
 */
#include "store/store_rules.h"

#include "base/buf.h"
#include "base/common.h"
#include "store/jsonb.h"
#include "store/pg_params.h"
#include "store/store_conn_int.h"
#include "store/store_steward_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PASS_RETRIES 8

/* One statement outside the prepared set; *res the caller's when res is
 * not NULL (else cleared). */
static int run(struct cps_store *s, const char *what, const char *sql, int n, const char *const *v,
               const int *lens, const int *fmts, PGresult **res, char *errstr, size_t errstr_size)
{
	PGresult *r;
	ExecStatusType st;
	int rc = cps_store_usable(s, errstr, errstr_size);

	if (res)
		*res = NULL;
	if (rc)
		return rc;
	r = PQexecParams(s->conn, sql, n, NULL, v, lens, fmts, 0);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = cps_store_result_error(s, r, what, errstr, errstr_size);
		PQclear(r);
		return rc;
	}
	if (res)
		*res = r;
	else
		PQclear(r);
	return CPS_OK;
}

int cps_store_rule_set_put(struct cps_store *s, const char *hash, const char *canonical,
                           const char *instance, int64_t *id, char *errstr, size_t errstr_size)
{
	const char *v[3] = {hash, canonical, instance ? instance : "cpsync"};
	PGresult *res;
	int rc =
	    run(s, "insert into rule_sets",
	        "WITH ins AS (INSERT INTO cpsync.rule_sets (hash, canonical, rules, loaded_by) "
	        "VALUES ($1, $2::text, $2::text::jsonb, $3) ON CONFLICT (hash) DO NOTHING "
	        "RETURNING id) "
	        "SELECT id FROM ins UNION ALL "
	        "SELECT id FROM cpsync.rule_sets WHERE hash = $1 LIMIT 1",
	        3, v, NULL, NULL, &res, errstr, errstr_size);

	if (rc)
		return rc;
	*id = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return *id > 0 ? CPS_OK
	               : cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
	                            "store: rule set not stored (try again)");
}

int cps_store_rule_set_get(struct cps_store *s, int64_t id, int with_rules, json_t **out,
                           char *errstr, size_t errstr_size)
{
	struct cps_pg_params p = {0};
	PGresult *res;
	int rc;

	*out = NULL;
	p.v[0] = cps_pg_params_int(&p, 0, id);
	rc = run(s, "select of rule_sets",
	         "SELECT id, hash, to_char(first_loaded_at AT TIME ZONE 'UTC', "
	         "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), loaded_by, to_char(applied_at AT TIME ZONE "
	         "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), applied_by, rules "
	         "FROM cpsync.rule_sets WHERE id = $1::bigint",
	         1, p.v, NULL, NULL, &res, errstr, errstr_size);
	if (rc)
		return rc;
	if (!PQntuples(res)) {
		*out = json_null();
	} else {
		*out =
		    json_pack("{s:I, s:s, s:s, s:s, s:s?, s:s?}", "id",
		              (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10), "hash",
		              PQgetvalue(res, 0, 1), "first_loaded_at", PQgetvalue(res, 0, 2),
		              "loaded_by", PQgetvalue(res, 0, 3), "applied_at",
		              PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4), "applied_by",
		              PQgetisnull(res, 0, 5) ? NULL : PQgetvalue(res, 0, 5));
		if (*out && with_rules)
			json_object_set_new(*out, "rules", cps_jsonb_value(res, 0, 6));
	}
	PQclear(res);
	return *out ? CPS_OK : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_store_load_fence(struct cps_store *s, char *errstr, size_t errstr_size)
{
	return run(s, "load fence",
	           "SELECT set_config('cpsync.load_fence', pg_current_snapshot()::text, false)", 0,
	           NULL, NULL, NULL, NULL, errstr, errstr_size);
}

/* ---- the pass ---------------------------------------------------------------- */

struct pass {
	struct cps_store *s;
	const struct cps_rules_pass *p;
	int64_t now;
	char *after_entity, *after_key; /* the keyset cursor: the last key done */
	json_t *page;                   /* this page's report (merged once it holds) */
	struct cps_buf payload;
};

/* The entity's part of report r, made on first use. */
static json_t *entity_report(json_t *r, const char *entity)
{
	json_t *ents = json_object_get(r, "entities"), *e = json_object_get(ents, entity);

	if (!e) {
		e = json_pack("{s:i, s:i, s:i, s:{}, s:i, s:i, s:[]}", "records", 0, "changed", 0,
		              "rewritten", 0, "fields", "conflicts_opened", 0, "conflicts_closed",
		              0, "samples");
		json_object_set_new(ents, entity, e);
	}
	return e;
}

static void add_int(json_t *obj, const char *k, json_int_t n)
{
	json_object_set_new(obj, k, json_integer(json_integer_value(json_object_get(obj, k)) + n));
}

static json_t *report_new(void)
{
	return json_pack("{s:i, s:i, s:i, s:{}}", "records", 0, "changed", 0, "rewritten", 0,
	                 "entities");
}

/* Adds page report `from` into `into`; samples up to `max` per entity. */
static void report_merge(json_t *into, json_t *from, int max)
{
	static const char *const nums[] = {"records", "changed", "rewritten", "conflicts_opened",
	                                   "conflicts_closed"};
	const char *ent, *f;
	json_t *e, *n, *smp;
	size_t i;

	for (i = 0; i < 3; i++)
		add_int(into, nums[i], json_integer_value(json_object_get(from, nums[i])));
	json_object_foreach (json_object_get(from, "entities"), ent, e) {
		json_t *to = entity_report(into, ent), *samples = json_object_get(to, "samples");

		for (i = 0; i < CPS_ARRAY_SIZE(nums); i++)
			add_int(to, nums[i], json_integer_value(json_object_get(e, nums[i])));
		json_object_foreach (json_object_get(e, "fields"), f, n)
			add_int(json_object_get(to, "fields"), f, json_integer_value(n));
		json_array_foreach (json_object_get(e, "samples"), i, smp)
			if ((int)json_array_size(samples) < max)
				json_array_append(samples, smp);
	}
}

/* The "field" of each entry of an outcome's list. */
static json_t *field_names(json_t *list)
{
	json_t *out = json_array(), *c;
	size_t i;

	json_array_foreach (list, i, c)
		json_array_append(out, json_object_get(c, "field"));
	return out;
}

/* What deciding one state again did, into the page report. */
static void count_outcome(struct pass *ps, const struct cps_key_state *st, int64_t from,
                          json_t *before, const struct cps_reconcile_outcome *o, int rewritten)
{
	json_t *e = entity_report(ps->page, st->entity), *fields = json_object_get(e, "fields");
	json_t *sample = NULL, *sf = NULL, *c;
	size_t i;

	add_int(ps->page, "records", 1);
	add_int(e, "records", 1);
	if (!o->changed && !rewritten)
		return;
	add_int(ps->page, o->changed ? "changed" : "rewritten", 1);
	add_int(e, o->changed ? "changed" : "rewritten", 1);
	add_int(e, "conflicts_opened", (json_int_t)json_array_size(o->opened));
	add_int(e, "conflicts_closed", (json_int_t)json_array_size(o->closed));
	if ((int)json_array_size(json_object_get(e, "samples")) < ps->p->samples) {
		sample = json_pack("{s:s, s:I, s:I, s:{}}", "key", st->key, "from",
		                   (json_int_t)from, "to", (json_int_t)st->version, "fields");
		sf = json_object_get(sample, "fields");
		json_array_append_new(json_object_get(e, "samples"), sample);
	}
	json_array_foreach (o->changed_fields, i, c) {
		const char *f = json_string_value(c);
		json_t *b = json_is_object(before) ? json_object_get(before, f) : NULL;
		json_t *a = json_is_object(st->record) ? json_object_get(st->record, f) : NULL;

		add_int(fields, f, 1);
		if (sf)
			json_object_set_new(sf, f,
			                    json_pack("{s:O, s:O}", "before", b ? b : json_null(),
			                              "after", a ? a : json_null()));
	}
	if (sample && json_array_size(o->opened))
		json_object_set_new(sample, "conflicts_opened", field_names(o->opened));
	if (sample && json_array_size(o->closed))
		json_object_set_new(sample, "conflicts_closed", field_names(o->closed));
}

/* Applying: the state (under its row lock, so its version cannot move). */
/* Applying: the change-log row of the new version, its event encoded. */
static int write_change(struct pass *ps, const struct cps_key_state *st,
                        const struct cps_reconcile_outcome *o, char *errstr, size_t errstr_size)
{
	const struct cps_rules_pass *p = ps->p;
	struct cps_pg_params pp = {{st->entity, st->key, NULL, cps_op_name(o->op)}};
	char topic[256];
	PGresult *res = NULL;
	int rc;

	cps_buf_reset(&ps->payload);
	rc = p->encode(p->encode_ctx, st, o, ps->now, &ps->payload, errstr, errstr_size);
	if (rc)
		return rc;
	snprintf(topic, sizeof(topic), "%s%s",
	         p->topic_prefix ? p->topic_prefix : "cpsync.unified.", st->entity);
	pp.v[2] = cps_pg_params_int(&pp, 0, st->version);
	pp.v[7] = topic;
	pp.v[8] = ps->payload.data ? (const char *)ps->payload.data : "";
	pp.len[8] = (int)ps->payload.len;
	pp.fmt[8] = 1;
	if (cps_pg_params_json(&pp, 4, json_is_null(st->record) ? NULL : st->record, NULL) ||
	    cps_pg_params_prov(&pp, 5, st->provenance) ||
	    cps_pg_params_json(&pp, 6, o->changed_fields, NULL))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
	else
		rc = cps_store_exec_prepared(ps->s, ST_CHANGE_APPEND, pp.v, pp.len, pp.fmt, 0, &res,
		                             errstr, errstr_size);
	PQclear(res);
	cps_pg_params_clear(&pp);
	return rc;
}

/* Applying: one audit row (actor, action, field, after, reason). */
static int write_audit(struct pass *ps, const struct cps_key_state *st, const char *actor,
                       const char *action, const char *field, json_t *before, json_t *after,
                       const char *reason, char *errstr, size_t errstr_size)
{
	struct cps_pg_params p = {{actor, action, st->entity, st->key, field, NULL, NULL, reason}};
	PGresult *res = NULL;
	int rc;

	if (cps_pg_params_json(&p, 5, before, NULL) || cps_pg_params_json(&p, 6, after, NULL))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
	else
		rc = cps_store_exec_prepared(ps->s, ST_AUDIT_INSERT, p.v, NULL, NULL, 0, &res,
		                             errstr, errstr_size);
	PQclear(res);
	cps_pg_params_clear(&p);
	return rc;
}

/* Applying: the conflict rows the outcome opens, updates and closes, each
 * with its audit row, as a reconcile worker writes them. */
static int write_conflicts(struct pass *ps, const struct cps_key_state *st,
                           const struct cps_reconcile_outcome *o, char *errstr, size_t errstr_size)
{
	static const enum stmt_id ids[] = {ST_CONFLICT_OPEN, ST_CONFLICT_UPDATE, ST_CONFLICT_CLOSE};
	static const char *const actions[] = {"conflict.opened", "conflict.updated",
	                                      "conflict.auto_closed"};
	json_t *lists[] = {o->opened, o->updated, o->closed}, *c;
	int rc = CPS_OK;
	size_t i;

	for (size_t g = 0; !rc && g < 3; g++) {
		json_array_foreach (lists[g], i, c) {
			const char *field = json_string_value(json_object_get(c, "field"));
			struct cps_pg_params p = {{st->entity, st->key, field}};
			json_t *cands = json_object_get(c, "candidates");
			PGresult *res = NULL;

			if (g == 2)
				p.v[3] = "auto_closed";
			else if (cps_pg_params_json(&p, 3, cands, "[]"))
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                  "out of memory");
			p.v[4] = json_string_value(json_object_get(c, "rule"));
			rc = cps_store_exec_prepared(ps->s, ids[g], p.v, NULL, NULL, 0, &res,
			                             errstr, errstr_size);
			PQclear(res);
			cps_pg_params_clear(&p);
			if (!rc)
				rc = write_audit(ps, st, "cpsync", actions[g], field, NULL,
				                 g == 2 ? NULL : cands, NULL, errstr, errstr_size);
			if (rc)
				break;
		}
	}
	return rc;
}

/* The changed fields' values of `rec` (for the audit row). */
static json_t *values_of(json_t *rec, json_t *fields)
{
	json_t *out = json_object(), *f, *v;
	size_t i;

	json_array_foreach (fields, i, f) {
		v = json_is_object(rec) ? json_object_get(rec, json_string_value(f)) : NULL;
		json_object_set(out, json_string_value(f), v ? v : json_null());
	}
	return out;
}

/* Applying: what deciding a state again changed, written. */
/* The policy's findings of a changed record, in the page's transaction. */
static int write_findings(struct pass *ps, const struct cps_key_state *st, char *errstr,
                          size_t errstr_size)
{
	json_t *findings = NULL;
	int rc;

	if (!ps->p->policy_check)
		return CPS_OK;
	rc = ps->p->policy_check(ps->p->policy_ctx, ps->s, st, &findings, errstr, errstr_size);
	if (!rc && findings) {
		struct cps_store_policy pf = {st->entity, st->key, findings, 0, st->record};

		rc = cps_store_policy_write(ps->s, &pf, errstr, errstr_size);
	}
	json_decref(findings);
	return rc;
}

static int write_outcome(struct pass *ps, const struct cps_key_state *st, int64_t from,
                         json_t *before, const struct cps_reconcile_outcome *o, char *errstr,
                         size_t errstr_size)
{
	char reason[64];
	json_t *b, *a;
	int rc = cps_steward_write_state(ps->s->conn, st, from, errstr, errstr_size);

	if (!rc && o->changed)
		rc = write_change(ps, st, o, errstr, errstr_size);
	if (!rc)
		rc = write_conflicts(ps, st, o, errstr, errstr_size);
	if (!rc && o->changed)
		rc = write_findings(ps, st, errstr, errstr_size);
	if (rc || !o->changed)
		return rc;
	snprintf(reason, sizeof(reason), "rule set %" PRId64, ps->p->rule_set);
	b = values_of(before, o->changed_fields);
	a = values_of(st->record, o->changed_fields);
	rc = write_audit(ps, st, ps->p->actor ? ps->p->actor : "cpsync", "rules.applied", NULL, b,
	                 a, reason, errstr, errstr_size);
	json_decref(b);
	json_decref(a);
	return rc;
}

/* Decides row `row` of a page again (and, applying, writes it). */
static int decide_row(struct pass *ps, PGresult *res, int row, char *errstr, size_t errstr_size)
{
	struct cps_key_state st;
	struct cps_reconcile_outcome o;
	json_t *before, *prov0 = NULL, *conf0 = NULL;
	int64_t from;
	int rc, rewritten;

	if (!cps_rules_entity(ps->p->rules, PQgetvalue(res, row, 0)))
		return CPS_OK; /* an entity the rules do not decide (the alerts cpsync makes) */
	if (cps_key_state_init(&st, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1)) != CPS_OK)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "store: a stored state of an unknown entity");
	cps_reconcile_outcome_init(&o);
	st.version = from = strtoll(PQgetvalue(res, row, 2), NULL, 10);
	st.deleted = PQgetvalue(res, row, 3)[0] == 't';
	json_decref(st.record);
	json_decref(st.provenance);
	json_decref(st.platforms);
	json_decref(st.conflicts);
	st.record = cps_jsonb_value(res, row, 4);
	cps_prov_column(res, row, 9, 5, &st.provenance, NULL, errstr, errstr_size);
	cps_facts_column(res, row, 8, 6, &st.platforms, NULL, errstr, errstr_size);
	st.conflicts = cps_jsonb_value(res, row, 7);
	if (!st.record || !json_is_object(st.provenance) || !json_is_object(st.platforms) ||
	    !json_is_object(st.conflicts)) {
		rc =
		    cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		               "store: a stored state of entity '%s' is not valid JSON", st.entity);
		goto out;
	}
	before = json_incref(st.record); /* replaced, never changed in place */
	prov0 = json_deep_copy(st.provenance);
	conf0 = json_deep_copy(st.conflicts);
	rc = cps_reconcile_rerun(ps->p->rules, &st, ps->now, &o, errstr, errstr_size);
	if (!rc) {
		rewritten = !o.changed &&
		            (!json_equal(prov0, st.provenance) || !json_equal(conf0, st.conflicts));
		count_outcome(ps, &st, from, before, &o, rewritten);
		if (ps->p->apply && (o.changed || rewritten))
			rc = write_outcome(ps, &st, from, before, &o, errstr, errstr_size);
	}
	json_decref(before);
out:
	json_decref(prov0);
	json_decref(conf0);
	cps_reconcile_outcome_release(&o);
	cps_key_state_release(&st);
	return rc;
}

/* One page from the cursor on: *n rows done, the cursor moved past them.
 * Applying, one transaction with the rows locked. */
static int pass_page(struct pass *ps, size_t *n, char *errstr, size_t errstr_size)
{
	struct cps_pg_params p = {{ps->after_entity, ps->after_key}};
	PGresult *res = NULL;
	int rc, in_txn = 0, rows = 0;

	*n = 0;
	p.v[2] = cps_pg_params_int(&p, 0, (int64_t)ps->p->batch);
	if (ps->p->apply) {
		rc = run(ps->s, "begin", "BEGIN", 0, NULL, NULL, NULL, NULL, errstr, errstr_size);
		if (rc)
			return rc;
		in_txn = 1;
	}
	rc = run(ps->s, "page of records",
	         ps->p->apply
	             ? "SELECT entity, key, version, deleted, record, provenance, platforms, "
	               "conflicts, facts, prov FROM cpsync.records WHERE (entity, key) > ($1, $2) "
	               "ORDER BY entity, key LIMIT $3::bigint FOR UPDATE"
	             : "SELECT entity, key, version, deleted, record, provenance, platforms, "
	               "conflicts, facts, prov FROM cpsync.records WHERE (entity, key) > ($1, $2) "
	               "ORDER BY entity, key LIMIT $3::bigint",
	         3, p.v, NULL, NULL, &res, errstr, errstr_size);
	rows = res ? PQntuples(res) : 0;
	for (int i = 0; !rc && i < rows; i++)
		rc = decide_row(ps, res, i, errstr, errstr_size);
	if (!rc && in_txn)
		rc = run(ps->s, "commit", "COMMIT", 0, NULL, NULL, NULL, NULL, errstr, errstr_size);
	else if (rc && in_txn)
		PQclear(PQexec(ps->s->conn, "ROLLBACK"));
	if (!rc && rows) {
		char *e = strdup(PQgetvalue(res, rows - 1, 0)),
		     *k = strdup(PQgetvalue(res, rows - 1, 1));

		if (!e || !k) {
			free(e);
			free(k);
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		} else {
			free(ps->after_entity);
			free(ps->after_key);
			ps->after_entity = e;
			ps->after_key = k;
			*n = (size_t)rows;
		}
	}
	PQclear(res);
	cps_pg_params_clear(&p);
	return rc;
}

static int mark_applied(struct pass *ps, char *errstr, size_t errstr_size)
{
	struct cps_pg_params p = {{NULL, ps->p->instance ? ps->p->instance : "cpsync"}};

	p.v[0] = cps_pg_params_int(&p, 0, ps->p->rule_set);
	return run(ps->s, "update of rule_sets",
	           "UPDATE cpsync.rule_sets SET applied_at = now(), applied_by = $2 "
	           "WHERE id = $1::bigint",
	           2, p.v, NULL, NULL, NULL, errstr, errstr_size);
}

int cps_store_rules_pass(struct cps_store *s, const struct cps_rules_pass *p, json_t **report,
                         char *errstr, size_t errstr_size)
{
	struct pass ps = {.s = s, .p = p};
	struct timespec ts;
	size_t n = 1;
	int rc = CPS_OK, tries = 0;

	*report = report_new();
	clock_gettime(CLOCK_REALTIME, &ts);
	ps.now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ps.after_entity = strdup("");
	ps.after_key = strdup("");
	cps_buf_init(&ps.payload, 0);
	if (!*report || !ps.after_entity || !ps.after_key || !p->batch ||
	    (p->apply && !p->encode)) {
		rc = cps_seterr(p->batch ? CPS_ERR_FATAL : CPS_ERR_INVALID, errstr, errstr_size,
		                "rules pass: out of memory, or no batch size or encoder");
		goto out;
	}
	while (!rc && n) {
		json_decref(ps.page);
		if (!(ps.page = report_new())) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			break;
		}
		rc = pass_page(&ps, &n, errstr, errstr_size);
		if (rc == CPS_ERR_RETRIABLE && p->apply && ++tries < PASS_RETRIES &&
		    cps_store_usable(s, errstr, errstr_size) == CPS_OK) {
			usleep(20000u * (unsigned)tries); /* a worker holds a row: let it finish */
			rc = CPS_OK;
			n = 1;
			continue;
		}
		if (rc)
			break;
		tries = 0;
		report_merge(*report, ps.page, p->samples);
		if (p->apply && n && p->after_batch)
			p->after_batch(p->after_ctx);
	}
	if (!rc && p->apply)
		rc = mark_applied(&ps, errstr, errstr_size);
out:
	if (rc) {
		json_decref(*report);
		*report = NULL;
	}
	json_decref(ps.page);
	free(ps.after_entity);
	free(ps.after_key);
	cps_buf_release(&ps.payload);
	return rc;
}
