/*
 * The postgres sink (connectors/postgres/postgres_sink.c) against a real PostgreSQL
 * ($CPSYNC_TEST_PG, a database of its own): upserts into a city inbound
 * table with SQL types from the plain JSON, idempotence by (key, version),
 * deletes, the replication origin on every write (test_decoding's
 * only-local filter hides exactly the sink's changes), and prepared
 * statements: one prepare per statement shape, prepared anew after the
 * target table changed under them, and a bounded cache of shapes.
 */
#include "connectors/connector.h"
#include "connectors/builtin.h"
#include "connectors/postgres/postgres_int.h"
#include "connectors/sink.h"
#include "testdb.h"

#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static struct cps_testdb testdb;
/* origins are cluster-wide and one session at a time: one per test run */
static char origin[64];

#define check_ok(expr, err)                                                                        \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		if (rc_ != CPS_OK)                                                                 \
			fail_msg("%s: %d %s", #expr, rc_, err);                                    \
	} while (0)

static void sql_ok(PGconn *db, const char *sql)
{
	PGresult *res = PQexec(db, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	PQclear(res);
}

/* The first value of the first row, copied into buf ("<null>" for NULL). */
static const char *sql_value(PGconn *db, const char *sql, char *buf, size_t size)
{
	PGresult *res = PQexec(db, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	if (PQntuples(res) == 0)
		snprintf(buf, size, "<none>");
	else
		snprintf(buf, size, "%s",
		         PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return buf;
}

static int put_one(struct cps_conn *c, const char *key, long version, const char *op,
                   const char *json, char *err, size_t err_size)
{
	char v[24];
	struct cps_header h[3];
	struct cps_sink_record r = {0};
	size_t accepted = 0;

	snprintf(v, sizeof(v), "%ld", version);
	h[0] = (struct cps_header){CPS_SINK_HEADER_KEY, key, strlen(key)};
	h[1] = (struct cps_header){CPS_SINK_HEADER_VERSION, v, strlen(v)};
	h[2] = (struct cps_header){CPS_SINK_HEADER_OPERATION, op, strlen(op)};
	r.entity = "person";
	r.origin_platform = CPS_SINK_ORIGIN;
	r.key = key;
	r.key_len = strlen(key);
	r.value = json;
	r.value_len = strlen(json);
	r.headers = h;
	r.n_headers = 3;
	return cps_sink_put(c, &r, 1, &accepted, err, err_size);
}

static struct cps_conn *open_sink_on(const char *table, char *err, size_t err_size)
{
	struct cps_settings s;
	struct cps_conn *c = NULL;
	int rc;

	cps_settings_init(&s);
	cps_settings_set(&s, "conninfo", testdb.conninfo);
	cps_settings_set(&s, "table.person", table);
	cps_settings_set(&s, "column.person.name", "full_name");
	cps_settings_set(&s, "column.person.residence_address", ""); /* not written */
	cps_settings_set(&s, "key_column", "national_id");
	cps_settings_set(&s, "origin", origin);
	rc = cps_connector_sink_open(cps_postgres_connector_ops(), "city", &s, &c, err, err_size);
	cps_settings_release(&s);
	check_ok(rc, err);
	return c;
}

static struct cps_conn *open_sink(char *err, size_t err_size)
{
	return open_sink_on("city_inbound.person", err, err_size);
}

static const char person_v1[] =
    "{\"national_id\":\"440300199001011234\",\"name\":\"Zhang San\",\"gender\":\"MALE\","
    "\"birth_date\":\"1990-01-01\",\"residence_address\":\"secret street\",\"disabled\":false,"
    "\"phone\":null,\"updated_at\":\"2024-03-01T08:30:00.250Z\",\"income\":\"1234.50\","
    "\"tags\":[\"a\",{\"b\":1}]}";

static void test_upsert_idempotent_by_version(void **state)
{
	char err[CPS_ERRSTR_SIZE], buf[1024], sql[160];
	struct cps_conn *c;
	struct cps_conn_status st;
	PGconn *db = PQconnectdb(testdb.conninfo);

	(void)state;
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	sql_ok(db, "CREATE SCHEMA city_inbound");
	sql_ok(db, "CREATE TABLE city_inbound.person (national_id text PRIMARY KEY, full_name text "
	           "NOT NULL, gender text, birth_date date, residence_address text, disabled "
	           "boolean, phone text, updated_at timestamptz, income numeric(12,2), tags jsonb, "
	           "cpsync_version bigint NOT NULL)");
	/* a logical slot watching every change from now on */
	sql_ok(db, "SELECT pg_create_logical_replication_slot('cps_sink_test', 'test_decoding')");

	c = open_sink(err, sizeof(err));
	check_ok(put_one(c, "440300199001011234", 3, "UPSERT", person_v1, err, sizeof(err)), err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_string_equal(
	    sql_value(db,
	              "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s', full_name, gender, birth_date, "
	              "residence_address IS NULL, disabled, phone IS NULL, updated_at, income, "
	              "cpsync_version) FROM city_inbound.person",
	              buf, sizeof(buf)),
	    "Zhang San|MALE|1990-01-01|t|f|t|2024-03-01 08:30:00.25+00|1234.50|3");
	assert_string_equal(
	    sql_value(db, "SELECT tags::text FROM city_inbound.person", buf, sizeof(buf)),
	    "[\"a\", {\"b\": 1}]");

	/* re-delivery of the same version changes nothing */
	check_ok(put_one(c, "440300199001011234", 3, "UPSERT",
	                 "{\"name\":\"Changed\",\"gender\":\"FEMALE\"}", err, sizeof(err)),
	         err);
	/* an older version does not overwrite a newer */
	check_ok(
	    put_one(c, "440300199001011234", 2, "UPSERT", "{\"name\":\"Older\"}", err, sizeof(err)),
	    err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_string_equal(sql_value(db,
	                              "SELECT full_name || '|' || cpsync_version FROM "
	                              "city_inbound.person",
	                              buf, sizeof(buf)),
	                    "Zhang San|3");
	/* a newer one does, in the same flush as a second key */
	check_ok(
	    put_one(c, "440300199001011234", 4, "UPSERT", "{\"name\":\"Li Si\"}", err, sizeof(err)),
	    err);
	check_ok(put_one(c, "44030019900101567X", 1, "UPSERT", "{\"name\":\"Wang Wu\"}", err,
	                 sizeof(err)),
	         err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_string_equal(
	    sql_value(db,
	              "SELECT string_agg(full_name || '|' || cpsync_version, ',' ORDER BY "
	              "national_id) FROM city_inbound.person",
	              buf, sizeof(buf)),
	    "Li Si|4,Wang Wu|1");
	/* a delete of an older version leaves the newer row; a newer delete removes it */
	check_ok(put_one(c, "440300199001011234", 4, "DELETE", "null", err, sizeof(err)), err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_string_equal(
	    sql_value(db, "SELECT count(*) FROM city_inbound.person", buf, sizeof(buf)), "2");
	check_ok(put_one(c, "440300199001011234", 5, "DELETE", "null", err, sizeof(err)), err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_string_equal(sql_value(db,
	                              "SELECT string_agg(national_id, ',') FROM "
	                              "city_inbound.person",
	                              buf, sizeof(buf)),
	                    "44030019900101567X");
	cps_conn_describe(c, &st);
	assert_int_equal(st.enqueued, 7);
	assert_int_equal(st.delivered, 7);
	assert_int_equal(st.failed, 0);

	/* the origin exists, and every change the sink made carries it:
	 * test_decoding's only-local drops changes with an origin */
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_replication_origin WHERE roname = '%s'",
	         origin);
	assert_string_equal(sql_value(db, sql, buf, sizeof(buf)), "1");
	sql_ok(db, "INSERT INTO city_inbound.person VALUES ('local-row', 'Local', NULL, NULL, "
	           "NULL, NULL, NULL, NULL, NULL, NULL, 1)");
	assert_string_equal(
	    sql_value(db,
	              "SELECT count(*) FROM pg_logical_slot_peek_changes('cps_sink_test', NULL, "
	              "NULL, 'only-local', '0') WHERE data LIKE 'table city_inbound.person:%'",
	              buf, sizeof(buf)),
	    "5"); /* the sink's 2 inserts, 1 update, 1 delete; 1 local insert */
	assert_string_equal(
	    sql_value(db,
	              "SELECT string_agg(data, '') FROM pg_logical_slot_peek_changes("
	              "'cps_sink_test', NULL, NULL, 'only-local', '1') WHERE data LIKE "
	              "'table city_inbound.person:%'",
	              buf, sizeof(buf)),
	    "table city_inbound.person: INSERT: national_id[text]:'local-row' "
	    "full_name[text]:'Local' gender[text]:null birth_date[date]:null "
	    "residence_address[text]:null disabled[boolean]:null phone[text]:null "
	    "updated_at[timestamp with time zone]:null income[numeric]:null tags[jsonb]:null "
	    "cpsync_version[bigint]:1");
	sql_ok(db, "SELECT pg_drop_replication_slot('cps_sink_test')");
	cps_sink_close(c);
	PQfinish(db);
}

static void test_bad_records(void **state)
{
	char err[CPS_ERRSTR_SIZE], buf[64];
	struct cps_conn *c;
	struct cps_settings s;
	PGconn *db = PQconnectdb(testdb.conninfo);
	struct cps_sink_record r = {.entity = "household", .key = "k", .key_len = 1};
	size_t accepted = 9;

	(void)state;
	c = open_sink(err, sizeof(err));
	/* no table for the entity, no version header */
	assert_int_equal(cps_sink_put(c, &r, 1, &accepted, err, sizeof(err)), CPS_ERR_INVALID);
	assert_int_equal(accepted, 0);
	/* a value the column type refuses fails the flush; nothing is written
	 * and no personal data is in the error */
	check_ok(put_one(c, "440300199001019999", 1, "UPSERT",
	                 "{\"name\":\"Bad Date\",\"birth_date\":\"19900101-secret\"}", err,
	                 sizeof(err)),
	         err);
	/* the row itself is refused (SQLSTATE class 22): INVALID, which the
	 * runner dead-letters after its retries */
	assert_int_equal(cps_sink_flush(c, 10000, err, sizeof(err)), CPS_ERR_INVALID);
	assert_null(strstr(err, "secret"));
	assert_non_null(strstr(err, "22007")); /* invalid_datetime_format */
	/* a column the table lacks (42703) is the target's trouble, not the
	 * row's: RETRIABLE, never a dead letter */
	check_ok(put_one(c, "440300199001019999", 1, "UPSERT",
	                 "{\"name\":\"X\",\"no_such_column\":1}", err, sizeof(err)),
	         err);
	assert_int_equal(cps_sink_flush(c, 10000, err, sizeof(err)), CPS_ERR_RETRIABLE);
	assert_non_null(strstr(err, "42703"));
	assert_string_equal(sql_value(db,
	                              "SELECT count(*) FROM city_inbound.person WHERE "
	                              "national_id = '440300199001019999'",
	                              buf, sizeof(buf)),
	                    "0");
	/* the sink is usable again after the failed flush */
	check_ok(
	    put_one(c, "440300199001019999", 1, "UPSERT", "{\"name\":\"Good\"}", err, sizeof(err)),
	    err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_string_equal(sql_value(db,
	                              "SELECT full_name FROM city_inbound.person WHERE "
	                              "national_id = '440300199001019999'",
	                              buf, sizeof(buf)),
	                    "Good");
	cps_sink_close(c);

	/* unknown settings are refused by name */
	cps_settings_init(&s);
	cps_settings_set(&s, "conninfo", testdb.conninfo);
	cps_settings_set(&s, "no_such_key", "1");
	assert_int_not_equal(
	    cps_connector_sink_open(cps_postgres_connector_ops(), "city", &s, &c, err, sizeof(err)),
	    CPS_OK);
	assert_non_null(strstr(err, "no_such_key"));
	cps_settings_release(&s);
	PQfinish(db);
}

/* A new target table (ddl creates it) and a sink writing person to it. */
static PGconn *open_target(const char *ddl, const char *table, struct cps_conn **c, char *err,
                           size_t err_size)
{
	PGconn *db = PQconnectdb(testdb.conninfo);

	assert_int_equal(PQstatus(db), CONNECTION_OK);
	sql_ok(db, ddl);
	*c = open_sink_on(table, err, err_size);
	return db;
}

/* Puts n upserts of one shape, keys "<prefix>-<i>", and flushes them. */
static int put_many(struct cps_conn *c, const char *prefix, int n, long version, const char *name,
                    char *err, size_t err_size)
{
	char key[64], json[160];

	for (int i = 0; i < n; i++) {
		int rc;

		snprintf(key, sizeof(key), "%s-%d", prefix, i);
		snprintf(json, sizeof(json),
		         "{\"name\":\"%s %d\",\"phone\":\"1%06d\",\"income\":\"10.00\"}", name, i,
		         i);
		rc = put_one(c, key, version, "UPSERT", json, err, err_size);
		if (rc != CPS_OK)
			return rc;
	}
	return cps_sink_flush(c, 10000, err, err_size);
}

/* A row whose negative income the table's CHECK refuses: the flush says
 * INVALID (the row's fault, dead-lettered by the runner), with the
 * SQLSTATE and without the row's values. */
static void assert_check_refused(struct cps_conn *c, const char *key, long version)
{
	char err[CPS_ERRSTR_SIZE];

	check_ok(put_one(c, key, version, "UPSERT",
	                 "{\"name\":\"Negative Secret\",\"phone\":\"3\",\"income\":\"-1.25\"}", err,
	                 sizeof(err)),
	         err);
	assert_int_equal(cps_sink_flush(c, 10000, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "23514")); /* check_violation */
	assert_null(strstr(err, "Secret"));
	assert_null(strstr(err, "1.25"));
}

static void test_one_prepare_per_shape(void **state)
{
	char err[CPS_ERRSTR_SIZE], buf[256];
	struct cps_conn *c;
	struct cps_conn_status st;
	PGconn *db;

	(void)state;
	db = open_target(
	    "CREATE TABLE city_inbound.member (national_id text PRIMARY KEY, full_name text "
	    "NOT NULL, phone text, income numeric(12,2) CHECK (income >= 0), "
	    "cpsync_version bigint NOT NULL)",
	    "city_inbound.member", &c, err, sizeof(err));
	assert_int_equal(cps_postgres_sink_prepared(c), 0);
	/* 600 rows of one shape, more than two pipeline syncs: one prepare */
	check_ok(put_many(c, "m", 600, 1, "Member", err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 1);
	/* the next flush of that shape prepares nothing */
	check_ok(put_many(c, "m", 600, 2, "Renamed", err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 1);
	assert_string_equal(sql_value(db,
	                              "SELECT count(*) || '|' || min(full_name) || '|' || "
	                              "sum(cpsync_version) FROM city_inbound.member",
	                              buf, sizeof(buf)),
	                    "600|Renamed 0|1200");
	/* a delete is a shape of its own, the same for every key */
	check_ok(put_one(c, "m-1", 3, "DELETE", "null", err, sizeof(err)), err);
	check_ok(put_one(c, "m-2", 3, "DELETE", "null", err, sizeof(err)), err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	check_ok(put_one(c, "m-3", 3, "DELETE", "null", err, sizeof(err)), err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 2);
	/* other columns, or the same in another order, are other shapes */
	check_ok(put_one(c, "m-4", 4, "UPSERT", "{\"phone\":\"2\",\"name\":\"Swapped\"}", err,
	                 sizeof(err)),
	         err);
	check_ok(put_one(c, "m-5", 4, "UPSERT", "{\"name\":\"Short\"}", err, sizeof(err)), err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 4);
	assert_string_equal(sql_value(db,
	                              "SELECT string_agg(national_id || ':' || full_name || ':' || "
	                              "coalesce(phone, '-'), ',' ORDER BY national_id) FROM "
	                              "city_inbound.member WHERE national_id IN ('m-3', 'm-4', "
	                              "'m-5', 'm-6')",
	                              buf, sizeof(buf)),
	                    "m-4:Swapped:2,m-5:Short:1000005,m-6:Renamed 6:1000006");
	/* a row the table's constraint refuses is still the row's fault
	 * (INVALID, dead-lettered by the runner), and keeps the cache */
	assert_check_refused(c, "m-7", 5);
	check_ok(put_many(c, "m", 1, 6, "Again", err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 4);
	cps_conn_describe(c, &st);
	assert_int_equal(st.delivered, 1206);
	assert_int_equal(st.failed, 1);
	cps_sink_close(c);
	PQfinish(db);
}

/* One row of the shape put_many writes, flushed: its flush's code. */
static int flush_row(struct cps_conn *c, const char *key, long version, const char *phone,
                     char *err, size_t err_size)
{
	char json[128];

	snprintf(json, sizeof(json), "{\"name\":\"Row %ld\",\"phone\":\"%s\",\"income\":\"1.00\"}",
	         version, phone);
	check_ok(put_one(c, key, version, "UPSERT", json, err, err_size), err);
	return cps_sink_flush(c, 10000, err, err_size);
}

static void test_prepared_anew_after_alter(void **state)
{
	char err[CPS_ERRSTR_SIZE], buf[256];
	struct cps_conn *c;
	PGconn *db;

	(void)state;
	db = open_target(
	    "CREATE TABLE city_inbound.resident (national_id text PRIMARY KEY, full_name "
	    "text NOT NULL, phone text, income numeric(12,2) CHECK (income >= 0), "
	    "cpsync_version bigint NOT NULL)",
	    "city_inbound.resident", &c, err, sizeof(err));
	check_ok(put_many(c, "r", 10, 1, "Resident", err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 1);
	/* a mapped column dropped and added again between flushes */
	sql_ok(db, "ALTER TABLE city_inbound.resident DROP COLUMN phone");
	sql_ok(db, "ALTER TABLE city_inbound.resident ADD COLUMN phone text");
	check_ok(flush_row(c, "r-0", 2, "555", err, sizeof(err)), err);
	assert_string_equal(sql_value(db,
	                              "SELECT full_name || '|' || phone FROM city_inbound.resident "
	                              "WHERE national_id = 'r-0'",
	                              buf, sizeof(buf)),
	                    "Row 2|555");
	/* a mapped column renamed away: the target's trouble, retried; once it
	 * is back the retry prepares anew and goes through */
	sql_ok(db, "ALTER TABLE city_inbound.resident RENAME COLUMN full_name TO given_name");
	assert_int_equal(flush_row(c, "r-1", 3, "556", err, sizeof(err)), CPS_ERR_RETRIABLE);
	assert_non_null(strstr(err, "42703")); /* undefined_column */
	sql_ok(db, "ALTER TABLE city_inbound.resident RENAME COLUMN given_name TO full_name");
	check_ok(flush_row(c, "r-1", 3, "556", err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 2);
	/* a mapped column retyped: the prepared statement still sends text to
	 * what is now a bigint (42804), which only a new prepare mends */
	sql_ok(db, "ALTER TABLE city_inbound.resident ALTER COLUMN phone TYPE bigint USING "
	           "phone::bigint");
	assert_int_equal(flush_row(c, "r-2", 4, "557", err, sizeof(err)), CPS_ERR_RETRIABLE);
	assert_non_null(strstr(err, "42804")); /* datatype_mismatch */
	check_ok(flush_row(c, "r-2", 4, "557", err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 3);
	assert_string_equal(sql_value(db,
	                              "SELECT string_agg(full_name || '|' || phone || '|' || "
	                              "pg_typeof(phone), ',' ORDER BY national_id) FROM "
	                              "city_inbound.resident WHERE national_id IN ('r-1', 'r-2')",
	                              buf, sizeof(buf)),
	                    "Row 3|556|bigint,Row 4|557|bigint");
	/* and a row the constraint refuses is still INVALID, not the target's */
	assert_check_refused(c, "r-3", 5);
	assert_int_equal(cps_postgres_sink_prepared(c), 3);
	cps_sink_close(c);
	PQfinish(db);
}

/* A record of the fields of `names` in the order of permutation `i` (of 6). */
static void permuted_record(int i, char *json, size_t size)
{
	static const char *const names[6] = {"name", "phone", "income", "a", "b", "c"};
	static const char *const values[6] = {"\"Perm\"", "\"9\"", "\"1.50\"",
	                                      "\"x\"",    "\"y\"", "\"z\""};
	int left[6] = {0, 1, 2, 3, 4, 5}, n_left = 6, o = 0;

	o += snprintf(json + o, size - (size_t)o, "{");
	for (int radix = 720 / 6, k = 0; k < 6; k++) {
		int pick = n_left > 1 ? (i / radix) % n_left : 0;
		int f = left[pick];

		memmove(&left[pick], &left[pick + 1], sizeof(int) * (size_t)(n_left - pick - 1));
		n_left--;
		if (n_left)
			radix /= n_left;
		o += snprintf(json + o, size - (size_t)o, "%s\"%s\":%s", k ? "," : "", names[f],
		              values[f]);
	}
	snprintf(json + o, size - (size_t)o, "}");
}

static void test_shape_cache_bounded(void **state)
{
	char err[CPS_ERRSTR_SIZE], buf[256], key[32], json[256];
	struct cps_conn *c;
	PGconn *db;

	(void)state;
	db = open_target(
	    "CREATE TABLE city_inbound.varied (national_id text PRIMARY KEY, full_name text "
	    "NOT NULL, phone text, income numeric(12,2), a text, b text, c text, "
	    "cpsync_version bigint NOT NULL)",
	    "city_inbound.varied", &c, err, sizeof(err));
	/* 300 shapes in one flush: 256 prepared, the rest sent as text */
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "v-%d", i);
		permuted_record(i, json, sizeof(json));
		check_ok(put_one(c, key, 1, "UPSERT", json, err, sizeof(err)), err);
	}
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 256);
	assert_string_equal(sql_value(db,
	                              "SELECT count(DISTINCT national_id) || '|' || "
	                              "count(*) FILTER (WHERE full_name = 'Perm' AND phone = '9' "
	                              "AND income = 1.50 AND a || b || c = 'xyz') FROM "
	                              "city_inbound.varied",
	                              buf, sizeof(buf)),
	                    "300|300");
	/* the next flush finds the cache full and starts it over: a shape
	 * prepared before is prepared again */
	permuted_record(0, json, sizeof(json));
	check_ok(put_one(c, "v-0", 2, "UPSERT", json, err, sizeof(err)), err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 257);
	check_ok(put_one(c, "v-0", 3, "UPSERT", json, err, sizeof(err)), err);
	check_ok(cps_sink_flush(c, 10000, err, sizeof(err)), err);
	assert_int_equal(cps_postgres_sink_prepared(c), 257);
	assert_string_equal(sql_value(db,
	                              "SELECT cpsync_version FROM city_inbound.varied WHERE "
	                              "national_id = 'v-0'",
	                              buf, sizeof(buf)),
	                    "3");
	cps_sink_close(c);
	PQfinish(db);
}

static int group_setup(void **state)
{
	(void)state;
	if (cps_testdb_create(&testdb, "cps_pg_sink", -1) != 0)
		return -1;
	snprintf(origin, sizeof(origin), "cpsync_test_%ld", (long)getpid());
	return 0;
}

static int group_teardown(void **state)
{
	char sql[160];

	(void)state;
	snprintf(sql, sizeof(sql),
	         "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE "
	         "database = '%s'",
	         testdb.name);
	cps_testdb_exec(testdb.admin, sql);
	cps_testdb_drop(&testdb);
	snprintf(sql, sizeof(sql), "SELECT pg_replication_origin_drop('%s')", origin);
	cps_testdb_exec(testdb.admin, sql);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_upsert_idempotent_by_version),
	    cmocka_unit_test(test_bad_records),
	    cmocka_unit_test(test_one_prepare_per_shape),
	    cmocka_unit_test(test_prepared_anew_after_alter),
	    cmocka_unit_test(test_shape_cache_bounded),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
