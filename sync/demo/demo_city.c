/*
 * The city as a PostgreSQL database for `cpsync demo`: the city's own tables
 * (schema "city": person, household, enrolment, verification, columns named
 * like the entity schema fields) that the demo generator writes with plain
 * SQL (upserts and deletes), and the INBOUND tables (schema "inbound") that
 * cpsync's postgres sink fills with the unified records the city may see.
 */
#include "demo/demo.h"

#include "base/buf.h"
#include "base/common.h"
#include "sink/sink_runner.h"
#include "store/pgerr.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The city's schema. Idempotent: every statement may run again. */
const char cps_demo_city_sql[] =
    "CREATE SCHEMA IF NOT EXISTS city;\n"
    "CREATE TABLE IF NOT EXISTS city.person (\n"
    "  national_id text PRIMARY KEY,\n"
    "  name text NOT NULL,\n"
    "  gender text NOT NULL,\n"
    "  birth_date date NOT NULL,\n"
    "  registration_region_code text NOT NULL,\n"
    "  residence_region_code text NOT NULL,\n"
    "  residence_address text,\n"
    "  has_residence_permit boolean NOT NULL,\n"
    "  disabled boolean NOT NULL,\n"
    "  disability_grade text,\n"
    "  seriously_ill boolean NOT NULL,\n"
    "  labour_capacity text NOT NULL,\n"
    "  phone text,\n"
    "  household_id text,\n"
    "  deceased boolean NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS city.household (\n"
    "  household_id text PRIMARY KEY,\n"
    "  head_national_id text NOT NULL,\n"
    "  members jsonb NOT NULL,\n"
    "  member_count integer NOT NULL,\n"
    "  region_code text NOT NULL,\n"
    "  household_type text NOT NULL,\n"
    "  per_capita_monthly_income numeric(12,2) NOT NULL,\n"
    "  monitoring_category text NOT NULL,\n"
    "  monitoring_since date);\n"
    "CREATE TABLE IF NOT EXISTS city.enrolment (\n"
    "  enrolment_id text PRIMARY KEY,\n"
    "  subject_type text NOT NULL,\n"
    "  subject_id text NOT NULL,\n"
    "  programme text NOT NULL,\n"
    "  status text NOT NULL,\n"
    "  applied_date date NOT NULL,\n"
    "  start_date date,\n"
    "  gradual_exit_start_date date,\n"
    "  gradual_exit_end_date date,\n"
    "  end_date date,\n"
    "  monthly_amount numeric(12,2) NOT NULL,\n"
    "  covered_members integer NOT NULL,\n"
    "  granting_region_code text NOT NULL,\n"
    "  status_reason text,\n"
    "  emergency_region_code text);\n"
    /* the schema's evolution reaches a city database made before it */
    "ALTER TABLE city.enrolment ADD COLUMN IF NOT EXISTS emergency_region_code text;\n"
    "CREATE TABLE IF NOT EXISTS city.verification (\n"
    "  verification_id text PRIMARY KEY,\n"
    "  household_id text NOT NULL,\n"
    "  purpose text NOT NULL,\n"
    "  items jsonb NOT NULL,\n"
    "  counted_income_total numeric(12,2) NOT NULL,\n"
    "  employment_cost_deduction numeric(12,2) NOT NULL,\n"
    "  member_count integer NOT NULL,\n"
    "  per_capita_income numeric(12,2) NOT NULL,\n"
    "  result text NOT NULL,\n"
    "  verified_at timestamptz NOT NULL,\n"
    "  valid_until date);\n"
    /* what cpsync sends the city: key, version and the allowed fields */
    "CREATE SCHEMA IF NOT EXISTS inbound;\n"
    "CREATE TABLE IF NOT EXISTS inbound.person (\n"
    "  cpsync_key text PRIMARY KEY,\n"
    "  cpsync_version bigint NOT NULL,\n"
    "  national_id text, name text, gender text, birth_date date,\n"
    "  registration_region_code text, residence_region_code text, residence_address text,\n"
    "  has_residence_permit boolean, disabled boolean, disability_grade text,\n"
    "  seriously_ill boolean, labour_capacity text, phone text, household_id text,\n"
    "  deceased boolean,\n"
    "  received_at timestamptz NOT NULL DEFAULT now());\n"
    "CREATE TABLE IF NOT EXISTS inbound.household (\n"
    "  cpsync_key text PRIMARY KEY,\n"
    "  cpsync_version bigint NOT NULL,\n"
    "  household_id text, head_national_id text, members jsonb, member_count integer,\n"
    "  region_code text, household_type text, per_capita_monthly_income numeric(12,2),\n"
    "  monitoring_category text, monitoring_since date,\n"
    "  received_at timestamptz NOT NULL DEFAULT now());\n"
    "CREATE TABLE IF NOT EXISTS inbound.enrolment (\n"
    "  cpsync_key text PRIMARY KEY,\n"
    "  cpsync_version bigint NOT NULL,\n"
    "  enrolment_id text, subject_type text, subject_id text, programme text, status text,\n"
    "  applied_date date, start_date date, gradual_exit_start_date date,\n"
    "  gradual_exit_end_date date, end_date date, monthly_amount numeric(12,2),\n"
    "  covered_members integer, granting_region_code text, status_reason text,\n"
    "  received_at timestamptz NOT NULL DEFAULT now());\n"
    "CREATE TABLE IF NOT EXISTS inbound.alert (\n"
    "  cpsync_key text PRIMARY KEY,\n"
    "  cpsync_version bigint NOT NULL,\n"
    "  alert_id text, subject_type text, subject_id text, category text, trigger text,\n"
    "  source_department text, region_code text, raised_at timestamptz, severity text,\n"
    "  status text, handled_at timestamptz,\n"
    "  received_at timestamptz NOT NULL DEFAULT now());\n";

/* The city's own entities: those with a table in schema "city". */
static bool city_entity(enum cps_demo_entity e)
{
	return e == CPS_DEMO_PERSON || e == CPS_DEMO_HOUSEHOLD || e == CPS_DEMO_ENROLMENT ||
	       e == CPS_DEMO_VERIFICATION;
}

struct table {
	struct cps_schema *schema; /* borrowed from the catalog */
	json_t *fields;            /* the schema's "fields" (borrowed) */
	size_t n_fields;
};

struct cps_demo_city {
	PGconn *db;
	bool in_txn;
	struct table tables[CPS_DEMO_ENTITIES];
	struct cps_buf text; /* the values of one row, NUL-separated */
};

static int exec_sql(PGconn *db, const char *sql, const char *what, char *errstr, size_t errstr_size)
{
	PGresult *res = PQexec(db, sql);
	ExecStatusType st = PQresultStatus(res);
	char why[256];

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return CPS_OK;
	}
	cps_pg_safe_message(res, db, why, sizeof(why));
	PQclear(res);
	return cps_seterr(PQstatus(db) == CONNECTION_OK ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE, errstr,
	                  errstr_size, "demo city: %s failed: %s", what, why);
}

static int connect_city(const char *conninfo, PGconn **out, char *errstr, size_t errstr_size)
{
	const char *keys[] = {"dbname", "options", "application_name", NULL};
	const char *vals[] = {conninfo, "-c timezone=UTC -c datestyle=ISO", "cpsync-demo-city",
	                      NULL};
	PGconn *db = PQconnectdbParams(keys, vals, 1);
	char why[256];

	if (PQstatus(db) != CONNECTION_OK) {
		snprintf(why, sizeof(why), "%s", db ? PQerrorMessage(db) : "out of memory");
		why[strcspn(why, "\n")] = '\0';
		PQfinish(db);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "demo city: connecting to the city database failed: %s", why);
	}
	*out = db;
	return CPS_OK;
}

int cps_demo_city_setup(const char *conninfo, char *errstr, size_t errstr_size)
{
	PGconn *db;
	int rc = connect_city(conninfo, &db, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	/* one multi-statement string: one implicit transaction */
	rc = exec_sql(db, cps_demo_city_sql, "creating the city tables", errstr, errstr_size);
	PQfinish(db);
	return rc;
}

/* ---- the writer -------------------------------------------------------- */

int cps_demo_city_open(const char *conninfo, struct cps_catalog *catalog,
                       struct cps_demo_city **out, char *errstr, size_t errstr_size)
{
	struct cps_demo_city *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_buf_init(&c->text, 0);
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
		struct table *t = &c->tables[e];

		if (!city_entity((enum cps_demo_entity)e))
			continue;
		t->schema = cps_catalog_by_entity(catalog, cps_demo_entity_names[e]);
		t->fields = t->schema ? json_object_get(t->schema->json, "fields") : NULL;
		t->n_fields = json_array_size(t->fields);
		if (!t->n_fields) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "demo city: the catalog has no '%s' schema",
			                cps_demo_entity_names[e]);
			goto out_close;
		}
	}
	rc = connect_city(conninfo, &c->db, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_close;
	/* prepared statements: up_<entity> (an upsert that leaves an equal row
	 * alone, so that a restart writes no WAL for unchanged data) and
	 * del_<entity> */
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
		struct table *t = &c->tables[e];
		struct cps_buf sql, cols, sets, cmp;
		const char *ent = cps_demo_entity_names[e];
		const char *key = NULL;
		char name[64];
		PGresult *res;
		char why[256];
		int brc = 0;

		if (!t->schema)
			continue;
		cps_buf_init(&sql, 0);
		cps_buf_init(&cols, 0);
		cps_buf_init(&sets, 0);
		cps_buf_init(&cmp, 0);
		for (size_t i = 0; i < t->n_fields && brc == 0; i++) {
			const char *f = json_string_value(
			    json_object_get(json_array_get(t->fields, i), "name"));

			if (i == 0) {
				key = f;
				brc = cps_buf_printf(&cols, "%s", f);
				continue;
			}
			brc = cps_buf_printf(&cols, ", %s", f);
			if (brc == 0)
				brc = cps_buf_printf(&sets, "%s%s = EXCLUDED.%s", i > 1 ? ", " : "",
				                     f, f);
			if (brc == 0)
				brc = cps_buf_printf(&cmp, "%st.%s IS DISTINCT FROM EXCLUDED.%s",
				                     i > 1 ? " OR " : "", f, f);
		}
		if (brc == 0)
			brc = cps_buf_printf(&sql, "INSERT INTO city.%s AS t (%s) VALUES (", ent,
			                     (const char *)cols.data);
		for (size_t i = 0; i < t->n_fields && brc == 0; i++)
			brc = cps_buf_printf(&sql, "%s$%zu", i ? ", " : "", i + 1);
		if (brc == 0)
			brc = cps_buf_printf(&sql, ") ON CONFLICT (%s) DO UPDATE SET %s WHERE %s",
			                     key, (const char *)sets.data, (const char *)cmp.data);
		cps_buf_release(&cols);
		cps_buf_release(&sets);
		cps_buf_release(&cmp);
		if (brc < 0) {
			cps_buf_release(&sql);
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out_close;
		}
		snprintf(name, sizeof(name), "up_%s", ent);
		res = PQprepare(c->db, name, (const char *)sql.data, (int)t->n_fields, NULL);
		cps_buf_release(&sql);
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			char del[160];

			PQclear(res);
			snprintf(name, sizeof(name), "del_%s", ent);
			snprintf(del, sizeof(del), "DELETE FROM city.%s WHERE %s = $1", ent, key);
			res = PQprepare(c->db, name, del, 1, NULL);
		}
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			cps_pg_safe_message(res, c->db, why, sizeof(why));
			PQclear(res);
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "demo city: preparing the statements of '%s' failed: %s",
			                ent, why);
			goto out_close;
		}
		PQclear(res);
	}
	*out = c;
	return CPS_OK;

out_close:
	cps_demo_city_close(c);
	return rc;
}

/* Runs one prepared statement in the open transaction. */
static int exec_prepared(struct cps_demo_city *c, const char *name, int n,
                         const char *const *params, char *errstr, size_t errstr_size)
{
	PGresult *res;
	char why[256];
	int rc = CPS_OK;

	if (!c->in_txn) {
		rc = exec_sql(c->db, "BEGIN", "BEGIN", errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
		c->in_txn = true;
	}
	res = PQexecPrepared(c->db, name, n, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		cps_pg_safe_message(res, c->db, why, sizeof(why));
		rc =
		    cps_seterr(PQstatus(c->db) == CONNECTION_OK ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE,
		               errstr, errstr_size, "demo city: '%s' failed: %s", name, why);
		PQclear(PQexec(c->db, "ROLLBACK"));
		c->in_txn = false;
	}
	PQclear(res);
	return rc;
}

int cps_demo_city_put(struct cps_demo_city *c, const struct cps_demo_msg *m, char *errstr,
                      size_t errstr_size)
{
	struct table *t = &c->tables[m->entity];
	const char **params;
	size_t *offs;
	char name[64];
	int rc = CPS_OK;

	if (!t->schema)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "demo city: the city has no '%s' table",
		                  cps_demo_entity_names[m->entity]);
	if (!m->record) {
		const char *key = m->key;

		snprintf(name, sizeof(name), "del_%s", cps_demo_entity_names[m->entity]);
		return exec_prepared(c, name, 1, &key, errstr, errstr_size);
	}
	params = calloc(t->n_fields, sizeof(*params));
	offs = calloc(t->n_fields, sizeof(*offs));
	if (!params || !offs) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	/* every value's text first (the buffer may move), then the pointers */
	cps_buf_reset(&c->text);
	for (size_t i = 0; i < t->n_fields; i++) {
		json_t *f = json_array_get(t->fields, i);
		const char *fname = json_string_value(json_object_get(f, "name"));
		json_t *v = json_object_get(m->record, fname);
		char why[CPS_ERRSTR_SIZE];
		/* the plain JSON that cpsync's postgres sink writes too */
		json_t *p = v ? cps_sink_plain_json(t->schema->json, json_object_get(f, "type"), v,
		                                    why, sizeof(why))
		              : NULL;
		char *dumped = NULL;
		int brc;

		if (!p) {
			rc = cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "demo city: field '%s' of a %s record does not fit its schema", fname,
			    cps_demo_entity_names[m->entity]);
			goto out;
		}
		offs[i] = SIZE_MAX; /* NULL */
		if (json_is_null(p)) {
			json_decref(p);
			continue;
		}
		offs[i] = c->text.len;
		if (json_is_string(p))
			brc = cps_buf_append(&c->text, json_string_value(p),
			                     json_string_length(p) + 1);
		else if (json_is_boolean(p))
			brc = cps_buf_append(&c->text, json_is_true(p) ? "true" : "false",
			                     json_is_true(p) ? 5 : 6);
		else if ((dumped = json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY)))
			brc = cps_buf_append(&c->text, dumped, strlen(dumped) + 1);
		else
			brc = -1;
		free(dumped);
		json_decref(p);
		if (brc < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < t->n_fields; i++)
		params[i] = offs[i] == SIZE_MAX ? NULL : (const char *)c->text.data + offs[i];
	snprintf(name, sizeof(name), "up_%s", cps_demo_entity_names[m->entity]);
	rc = exec_prepared(c, name, (int)t->n_fields, params, errstr, errstr_size);
out:
	free(params);
	free(offs);
	return rc;
}

int cps_demo_city_commit(struct cps_demo_city *c, char *errstr, size_t errstr_size)
{
	int rc;

	if (!c->in_txn)
		return CPS_OK;
	c->in_txn = false;
	rc = exec_sql(c->db, "COMMIT", "COMMIT", errstr, errstr_size);
	return rc;
}

void cps_demo_city_close(struct cps_demo_city *c)
{
	if (!c)
		return;
	if (c->db && c->in_txn)
		PQclear(PQexec(c->db, "ROLLBACK"));
	PQfinish(c->db);
	cps_buf_release(&c->text);
	free(c);
}
