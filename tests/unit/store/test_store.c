/*
 * Unit tests of store.c against a real PostgreSQL ($CPSYNC_TEST_PG; the test
 * fails without it), in a database of its own created and dropped here:
 * migrations, one-transaction batches read back, all-or-nothing failure,
 * append-only audit, idempotent dead letters, the change log's order (no
 * change skipped while an older transaction is open), a sink's version
 * guard, and the time of
 * 5,000- and 10,000-state batches (printed, not asserted).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/cli.h"
#include "base/common.h"
#include "store/store.h"
#include "store/store_int.h"
#include "testdb.h"
#include "testcases.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct cps_testdb testdb;
static PGconn *db; /* a side connection for checks */

/* ---- helpers ----------------------------------------------------------- */

static void sql_ok(const char *sql)
{
	PGresult *res = PQexec(db, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		fail_msg("'%s': %s", sql, PQerrorMessage(db));
	PQclear(res);
}

/* The SQLSTATE the statement fails with ("" when it succeeds). */
static const char *sql_fails(const char *sql)
{
	static char state[8];
	PGresult *res = PQexec(db, sql);
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	snprintf(state, sizeof(state), "%s", s ? s : "");
	PQclear(res);
	return state;
}

static long long sql_int(const char *sql)
{
	PGresult *res = PQexec(db, sql);
	long long v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("'%s': %s", sql, PQerrorMessage(db));
	v = PQgetisnull(res, 0, 0) ? -1 : atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static char *sql_text_on(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	char *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("'%s': %s", sql, PQerrorMessage(c));
	v = strdup(PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static char *sql_text(const char *sql)
{
	return sql_text_on(db, sql);
}

static void check_ok(int rc, const char *err)
{
	if (rc != CPS_OK)
		fail_msg("rc %d: %s", rc, err);
}

static struct cps_store *store_open(void)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = NULL;

	if (cps_store_open(testdb.conninfo, &s, err, sizeof(err)) != CPS_OK)
		fail_msg("open: %s", err);
	return s;
}

/* A key state as the reconciler leaves it (built by hand: reconcile.c is
 * not needed to test the store). */
static struct cps_key_state *state_new(const char *entity, const char *key)
{
	struct cps_key_state *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	snprintf(st->entity, sizeof(st->entity), "%s", entity);
	st->key = strdup(key);
	st->platforms = json_object();
	st->record = json_null();
	st->provenance = json_object();
	st->conflicts = json_object();
	return st;
}

static void state_free(struct cps_key_state *st)
{
	if (!st)
		return;
	free(st->key);
	json_decref(st->platforms);
	json_decref(st->record);
	json_decref(st->provenance);
	json_decref(st->conflicts);
	free(st);
}

static void state_fill(struct cps_key_state *st, int64_t version, const char *record,
                       const char *platforms, const char *provenance, const char *conflicts)
{
	st->version = version;
	json_decref(st->record);
	st->record = cps_test_json(record);
	json_decref(st->platforms);
	st->platforms = cps_test_json(platforms);
	json_decref(st->provenance);
	st->provenance = cps_test_json(provenance);
	json_decref(st->conflicts);
	st->conflicts = cps_test_json(conflicts);
}

static void commit_ok(struct cps_store *s, const struct cps_store_batch *b)
{
	char err[CPS_ERRSTR_SIZE];

	if (cps_store_commit_batch(s, b, NULL, err, sizeof(err)) != CPS_OK)
		fail_msg("commit: %s", err);
}

/* ---- setup: a database of our own -------------------------------------- */

static int group_setup(void **state)
{
	if (cps_testdb_create(&testdb, "cps_store", -1) != 0)
		return -1;
	db = PQconnectdb(testdb.conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "connect to %s: %s", testdb.name, PQerrorMessage(db));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	PQfinish(db);
	db = NULL;
	cps_testdb_drop(&testdb);
	return 0;
}

/* ---- tests ---------------------------------------------------------------- */

/* Runs first: the other tests need the schema. */
static void test_migrate(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = store_open();
	int applied = -1, latest = -1;
	char *argv[] = {"migrate", "--conninfo", testdb.conninfo, NULL};

	check_ok(cps_store_schema_version(s, &applied, &latest, err, sizeof(err)), err);
	assert_int_equal(applied, 0);
	assert_int_equal(latest, cps_migrations[cps_migrations_count - 1].version);
	assert_true(latest >= 1);
	/* before the schema exists, a write says what to do */
	{
		struct cps_store_batch b = {0};

		assert_int_equal(cps_store_commit_batch(s, &b, NULL, err, sizeof(err)),
		                 CPS_ERR_FATAL);
		assert_non_null(strstr(err, "cpsync migrate"));
	}

	check_ok(cps_store_migrate(s, err, sizeof(err)), err);
	check_ok(cps_store_schema_version(s, &applied, &latest, err, sizeof(err)), err);
	assert_int_equal(applied, latest);
	/* again: a no-op, through the command line this time */
	assert_int_equal(cps_cli_migrate(3, argv), 0);
	check_ok(cps_store_migrate(s, err, sizeof(err)), err);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.schema_migrations"),
	                 (long long)cps_migrations_count);
	check_ok(cps_store_ping(s, err, sizeof(err)), err);

	/* a database newer than this binary is refused */
	sql_ok("INSERT INTO cpsync.schema_migrations (version, name) VALUES (9999, '9999_future')");
	assert_int_equal(cps_store_migrate(s, err, sizeof(err)), CPS_ERR_FATAL);
	assert_non_null(strstr(err, "newer"));
	sql_ok("DELETE FROM cpsync.schema_migrations WHERE version = 9999");
	check_ok(cps_store_migrate(s, err, sizeof(err)), err);

	/* a bad usage and a bad conninfo */
	{
		char *bad[] = {"migrate", NULL};
		char *wrong[] = {"migrate", "--conninfo", "host=127.0.0.1 port=1 connect_timeout=2",
		                 NULL};

		assert_int_equal(cps_cli_migrate(1, bad), 2);
		assert_int_equal(cps_cli_migrate(3, wrong), 1);
	}
	cps_store_close(s);
}

static const char *REC1 = "{\"person_id\": \"P1\", \"name\": \"\\u5f20\\u4e09\", "
                          "\"income\": \"\\u0000\\u0027\\u0010\", \"odd\": \"a\\ue000b\", "
                          "\"n\": 42, \"x\": 1.5, \"flag\": true, \"none\": null}";
static const char *PLAT1 =
    "{\"city\": {\"withdrawn\": false, \"eff\": 1000, \"src\": 1001, "
    "\"pos\": \"city:0/16B3F28\", \"fields\": {\"name\": {\"v\": \"\\u5f20\\u4e09\", "
    "\"eff\": 1000, \"src\": 1001, \"pos\": \"city:0/16B3F28\"}, "
    "\"income\": {\"v\": \"\\u0000\\u0027\\u0010\", \"eff\": 1000, \"src\": 1001, "
    "\"pos\": \"city:0/16B3F28\"}}}}";
static const char *PROV1 =
    "{\"name\": {\"platform\": \"city\", \"pos\": \"city:0/16B3F28\", "
    "\"eff\": 1000, \"src\": 1001, \"rule\": \"precedence\", \"rule_version\": 1}}";
static const char *CONF1 =
    "{\"income\": {\"candidates\": [{\"platform\": \"city\", \"v\": \"1\", "
    "\"eff\": 1000, \"src\": 1001, \"pos\": \"c\"}, {\"platform\": \"province\", "
    "\"v\": \"2\", \"eff\": 900, \"src\": 901, \"pos\": \"p\"}], \"rule\": \"manual\", "
    "\"opened_at\": 1000}}";

static void test_commit_and_read_back(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = store_open();
	struct cps_key_state *a = state_new("person", "P1"), *b = state_new("household", "H\"1\\");
	struct cps_key_state *states[] = {a, b};
	json_t *changed = cps_test_json("[\"name\", \"income\"]");
	json_t *cands =
	    cps_test_json("[{\"platform\": \"city\", \"v\": \"1\"}, {\"platform\": \"province\", "
	                  "\"v\": \"2\"}]");
	const uint8_t payload[] = {0xc3, 0x01, 0x00, 0xff, 0x00};
	struct cps_store_emit emits[] = {
	    {"person", "P1", 1, CPS_OP_UPSERT, NULL, NULL, changed, "u.person", payload,
	     sizeof(payload)},
	    {"household", "H\"1\\", 3, CPS_OP_DELETE, NULL, NULL, changed, "u.household", payload,
	     2},
	};
	struct cps_store_conflict conflicts[] = {
	    {CPS_CONFLICT_OPEN, "person", "P1", "income", cands, "manual", NULL},
	};
	struct cps_store_audit audits[] = {
	    {"cpsync", "conflict.opened", "person", "P1", "income", NULL, cands, "manual rule"},
	};
	struct cps_store_offset offsets[] = {{"ingest", 0, 17}, {"ingest", 2, 5}};
	struct cps_store_batch batch = {states, 2, emits, 2, conflicts, 1, audits, 1, offsets, 2};
	struct cps_key_state *l1 = state_new("person", "P1"),
	                     *l2 = state_new("household", "H\"1\\"),
	                     *l3 = state_new("person", "nobody");
	struct cps_key_state *loads[] = {l3, l1, l2};
	int32_t parts[] = {0, 1, 2};
	int64_t offs[3];
	struct cps_store_stats stats;
	char *text;

	sql_ok("TRUNCATE cpsync.changes, cpsync.records, cpsync.conflicts, cpsync.ingest_offsets");
	sql_ok("UPDATE cpsync.publish_cursor SET xid = '0', seq = 0");
	state_fill(a, 1, REC1, PLAT1, PROV1, CONF1);
	state_fill(b, 3, "null", "{\"city\": {\"withdrawn\": true}}", "{}", "{}");
	b->deleted = 1;
	emits[0].record = a->record;
	emits[0].provenance = a->provenance;
	commit_ok(s, &batch);

	/* load: one query fills known keys, leaves the unknown one empty */
	check_ok(cps_store_load_states(s, loads, 3, err, sizeof(err)), err);
	assert_int_equal(l1->version, 1);
	assert_false(l1->deleted);
	assert_true(json_equal(l1->record, a->record));
	assert_true(json_equal(l1->platforms, a->platforms));
	assert_true(json_equal(l1->provenance, a->provenance));
	assert_true(json_equal(l1->conflicts, a->conflicts));
	assert_int_equal(json_string_length(json_object_get(l1->record, "income")), 3);
	assert_int_equal(l2->version, 3);
	assert_true(l2->deleted);
	assert_true(json_is_null(l2->record));
	assert_true(json_equal(l2->platforms, b->platforms));
	assert_int_equal(l3->version, 0);
	assert_true(json_is_null(l3->record));
	assert_int_equal(json_object_size(l3->platforms), 0);

	/* the jsonb is readable by SQL too */
	text = sql_text("SELECT record->>'name' FROM cpsync.records WHERE key = 'P1'");
	assert_string_equal(text, "\xe5\xbc\xa0\xe4\xb8\x89");
	free(text);

	/* history and outbox */
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.record_history"), 2);
	text = sql_text("SELECT op || ':' || array_to_string(changed_fields, ',') "
	                "FROM cpsync.record_history WHERE entity = 'household'");
	assert_string_equal(text, "delete:name,income");
	free(text);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.record_history WHERE key = 'P1' "
	                         "AND version = 1 AND record->>'n' = '42'"),
	                 1);
	text = sql_text("SELECT encode(payload, 'hex') FROM cpsync.outbox WHERE key = 'P1'");
	assert_string_equal(text, "c30100ff00");
	free(text);

	/* conflicts, audit, offsets */
	text = sql_text("SELECT status || ':' || rule || ':' || jsonb_array_length(candidates) "
	                "FROM cpsync.conflicts WHERE key = 'P1' AND field = 'income'");
	assert_string_equal(text, "open:manual:2");
	free(text);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.audit WHERE action = "
	                         "'conflict.opened' AND after IS NOT NULL AND before IS NULL"),
	                 1);
	check_ok(cps_store_load_offsets(s, "ingest", parts, offs, 3, err, sizeof(err)), err);
	assert_int_equal(offs[0], 17);
	assert_int_equal(offs[1], -1);
	assert_int_equal(offs[2], 5);

	check_ok(cps_store_stats(s, &stats, err, sizeof(err)), err);
	assert_int_equal(stats.records, 2);
	assert_int_equal(stats.open_conflicts, 1);
	assert_true(stats.oldest_conflict_age_s >= 0);
	assert_int_equal(stats.outbox_pending, 2);

	/* a second batch: the conflict's candidates change, then it closes itself;
	 * offsets move on */
	{
		json_t *cands2 = cps_test_json("[{\"platform\": \"city\", \"v\": \"3\"}]");
		struct cps_store_conflict upd[] = {
		    {CPS_CONFLICT_UPDATE, "person", "P1", "income", cands2, NULL, NULL},
		};
		struct cps_store_conflict cls[] = {
		    {CPS_CONFLICT_CLOSE, "person", "P1", "income", NULL, NULL, "auto"},
		};
		struct cps_store_offset off2[] = {{"ingest", 0, 20}};
		struct cps_store_batch b2 = {0};

		b2.conflicts = upd;
		b2.n_conflicts = 1;
		commit_ok(s, &b2);
		text =
		    sql_text("SELECT candidates->0->>'v' FROM cpsync.conflicts WHERE key = 'P1'");
		assert_string_equal(text, "3");
		free(text);

		b2.conflicts = cls;
		b2.offsets = off2;
		b2.n_offsets = 1;
		commit_ok(s, &b2);
		text = sql_text("SELECT status || ':' || (closed_at IS NOT NULL) FROM "
		                "cpsync.conflicts WHERE key = 'P1'");
		assert_string_equal(text, "auto_closed:true");
		free(text);
		assert_int_equal(
		    cps_store_load_offsets(s, "ingest", parts, offs, 1, err, sizeof(err)), CPS_OK);
		assert_int_equal(offs[0], 20);
		check_ok(cps_store_stats(s, &stats, err, sizeof(err)), err);
		assert_int_equal(stats.open_conflicts, 0);
		assert_int_equal(stats.oldest_conflict_age_s, -1);

		/* a new conflict on the same field opens a new row */
		conflicts[0].candidates = cands2;
		b2 = (struct cps_store_batch){0};
		b2.conflicts = conflicts;
		b2.n_conflicts = 1;
		commit_ok(s, &b2);
		assert_int_equal(sql_int("SELECT count(*) FROM cpsync.conflicts WHERE key = 'P1'"),
		                 2);
		json_decref(cands2);
	}

	state_free(a);
	state_free(b);
	state_free(l1);
	state_free(l2);
	state_free(l3);
	json_decref(changed);
	json_decref(cands);
	cps_store_close(s);
}

/* The workers' state cache asks whether the transaction that wrote its copy
 * is still the row's last writer: then the row's JSON is not sent. */
/* A key's versions in one batch: the change-log row of the state's own
 * version is written with the state's row (the same record, the same
 * provenance entries), an earlier version and a version whose provenance
 * entry was replaced after it from their own JSON, each key's in order. */
static void test_change_log_rows_of_a_batch(void **state)
{
	struct cps_store *s = store_open();
	struct cps_key_state *a = state_new("person", "S1"), *b = state_new("person", "S2");
	struct cps_key_state *states[] = {a, b};
	json_t *changed = cps_test_json("[\"name\"]");
	json_t *v1_rec = cps_test_json("{\"name\": \"one\"}");
	json_t *v1_prov = cps_test_json("{\"name\": {\"platform\": \"city\", \"pos\": \"c:1\"}}");
	json_t *b_prov;
	const uint8_t payload[] = {0xc3, 0x01};
	struct cps_store_emit emits[3] = {
	    {"person", a->key, 1, CPS_OP_UPSERT, v1_rec, v1_prov, changed, "u", payload, 2},
	    {"person", a->key, 2, CPS_OP_UPSERT, NULL, NULL, changed, "u", payload, 2},
	    {"person", b->key, 1, CPS_OP_UPSERT, NULL, NULL, changed, "u", payload, 2},
	};
	struct cps_store_batch batch = {states, 2, emits, 3};

	(void)state;
	sql_ok("TRUNCATE cpsync.changes, cpsync.records");
	state_fill(a, 2, "{\"name\": \"two\"}", "{}",
	           "{\"name\": {\"platform\": \"province\", \"pos\": \"p:2\"}}", "{}");
	state_fill(b, 1, "{\"name\": \"bee\"}", "{}",
	           "{\"name\": {\"platform\": \"city\", \"pos\": \"c:9\"}}", "{}");
	emits[1].record = a->record; /* as worker_apply.c snapshots: shared record, */
	emits[1].provenance = json_copy(a->provenance); /* provenance one level deep */
	emits[2].record = b->record;
	emits[2].provenance = b_prov = json_copy(b->provenance);
	/* b's entry replaced after its emit: same key, other content */
	json_object_set_new(b->provenance, "name",
	                    cps_test_json("{\"platform\": \"shenshan\", \"pos\": \"s:3\"}"));
	commit_ok(s, &batch);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.changes c JOIN cpsync.records r "
	                         "USING (entity, key, version) WHERE c.key = 'S1' AND "
	                         "c.record = r.record AND c.prov = r.prov"),
	                 1);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.changes WHERE key = 'S1' AND "
	                         "version = 1 AND record->>'name' = 'one' AND "
	                         "cpsync.provenance_json(prov)->'name'->>'pos' = 'c:1'"),
	                 1);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.changes WHERE key = 'S2' AND "
	                         "cpsync.provenance_json(prov)->'name'->>'pos' = 'c:9'"),
	                 1);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.records WHERE key = 'S2' AND "
	                         "cpsync.provenance_json(prov)->'name'->>'pos' = 's:3'"),
	                 1);
	/* the state's own version goes with the state, after the key's earlier
	 * versions of the batch: the log keeps each key's versions in order */
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.changes a JOIN cpsync.changes b "
	                         "USING (entity, key) WHERE a.key = 'S1' AND a.version = 1 AND "
	                         "b.version = 2 AND a.seq < b.seq"),
	                 1);
	json_decref(emits[1].provenance);
	json_decref(b_prov);
	json_decref(v1_rec);
	json_decref(v1_prov);
	json_decref(changed);
	state_free(a);
	state_free(b);
	cps_store_close(s);
}

/* Migrations 013 and 014: the wide values of a key state and of its
 * change-log row, the binary provenance too, are stored lz4-compressed
 * (this server is Debian's, built with lz4). */
static void test_wide_values_compress_lz4(void **state)
{
	struct cps_store *s = store_open();
	struct cps_key_state *a = state_new("person", "W1");
	struct cps_key_state *states[] = {a};
	json_t *changed = cps_test_json("[\"name\"]");
	const uint8_t payload[] = {0xc3, 0x01};
	struct cps_store_emit emit = {"person", a->key,  1,   CPS_OP_UPSERT, NULL,
	                              NULL,     changed, "u", payload,       2};
	struct cps_store_batch batch = {states, 1, &emit, 1};
	char wide[8192];

	(void)state;
	sql_ok("TRUNCATE cpsync.changes, cpsync.records");
	memset(wide, 'x', sizeof(wide) - 1);
	wide[sizeof(wide) - 1] = '\0';
	state_fill(a, 1, "{}", "{}", "{}", "{}");
	json_object_set_new(a->record, "name", json_string(wide));
	json_object_set_new(a->provenance, "name", json_pack("{s:s}", "pos", wide));
	emit.record = a->record;
	emit.provenance = a->provenance;
	commit_ok(s, &batch);
	assert_int_equal(
	    sql_int(
	        "SELECT count(*) FROM cpsync.records WHERE key = 'W1' AND "
	        "pg_column_compression(record) = 'lz4' AND pg_column_compression(prov) = 'lz4'"),
	    1);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.changes WHERE key = 'W1' AND "
	                         "pg_column_compression(record) = 'lz4' AND "
	                         "pg_column_compression(prov) = 'lz4'"),
	                 1);
	json_decref(changed);
	state_free(a);
	cps_store_close(s);
}

static void test_load_known_writer(void **state)
{
	char err[CPS_ERRSTR_SIZE], xtext[32];
	struct cps_store *s = store_open();
	struct cps_key_state *a = state_new("person", "P9"), *c = state_new("person", "P9");
	struct cps_key_state *states[] = {a}, *loads[] = {c};
	struct cps_store_batch batch = {states, 1};
	uint64_t xid = 0, known[1], got[1];
	unsigned char same[1];
	char *text;

	sql_ok("DELETE FROM cpsync.records WHERE key = 'P9'");
	state_fill(a, 1, REC1, PLAT1, PROV1, CONF1);
	check_ok(cps_store_commit_batch(s, &batch, &xid, err, sizeof(err)), err);
	assert_true(xid > 0);
	snprintf(xtext, sizeof(xtext), "%llu", (unsigned long long)xid);
	text = sql_text("SELECT written_xid::text FROM cpsync.records WHERE key = 'P9'");
	assert_string_equal(text, xtext);
	free(text);

	/* still its writer: nothing loaded, the caller's copy is current */
	known[0] = xid;
	check_ok(cps_store_load_states_known(s, loads, 1, known, got, same, err, sizeof(err)), err);
	assert_int_equal(same[0], 1);
	assert_true(got[0] == xid);
	assert_int_equal(c->version, 0);
	assert_true(json_is_null(c->record));

	/* another writer (a steward, a rules apply): the state comes again */
	sql_ok("UPDATE cpsync.records SET conflicts = '{}' WHERE key = 'P9'");
	check_ok(cps_store_load_states_known(s, loads, 1, known, got, same, err, sizeof(err)), err);
	assert_int_equal(same[0], 0);
	assert_true(got[0] != xid && got[0] > 0);
	assert_int_equal(c->version, 1);
	assert_true(json_equal(c->record, a->record));
	assert_int_equal(json_object_size(c->conflicts), 0);
	assert_true(c->mem_hint > 0);
	cps_key_state_release(a);
	free(a);
	cps_key_state_release(c);
	free(c);
	cps_store_close(s);
}

static void test_failing_batch_writes_nothing(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = store_open();
	struct cps_key_state *f1 = state_new("person", "F1"), *f2 = state_new("person", "F2");
	struct cps_key_state *both[] = {f2, f1};
	const uint8_t payload[] = {1, 2, 3};
	struct cps_store_emit e1 = {"person", "F1", 1,          CPS_OP_UPSERT, NULL,
	                            NULL,     NULL, "u.person", payload,       3};
	struct cps_store_emit e2[] = {
	    {"person", "F2", 1, CPS_OP_UPSERT, NULL, NULL, NULL, "u.person", payload, 3},
	    e1, /* F1 version 1 again: the change log's unique key */
	};
	struct cps_store_audit au = {
	    "cpsync", "conflict.opened", "person", "F2", "name", NULL, NULL, NULL};
	struct cps_store_offset off = {"failing", 0, 99};
	struct cps_store_batch b1 = {0}, b2 = {0};
	long long outbox, audit;

	state_fill(f1, 1, "{\"name\": \"\\u674e\\u56db\"}", "{}", "{}", "{}");
	b1.states = &f1;
	b1.n_states = 1;
	b1.emits = &e1;
	b1.n_emits = 1;
	commit_ok(s, &b1);
	outbox = sql_int("SELECT count(*) FROM cpsync.outbox");
	audit = sql_int("SELECT count(*) FROM cpsync.audit");

	state_fill(f2, 1, "{\"name\": \"\\u738b\\u4e94\"}", "{}", "{}", "{}");
	{
		b2.states = both;
		b2.n_states = 2;
		b2.emits = e2;
		b2.n_emits = 2;
		b2.audits = &au;
		b2.n_audits = 1;
		b2.offsets = &off;
		b2.n_offsets = 1;
		assert_int_equal(cps_store_commit_batch(s, &b2, NULL, err, sizeof(err)),
		                 CPS_ERR_INVALID);
	}
	assert_string_equal(err, "store: append to changes failed: SQLSTATE 23505 "
	                         "(constraint changes_entity_key_version_key)");
	assert_null(strstr(err, "\xe6\x9d\x8e")); /* no value of the row */
	/* nothing of the batch: state, history, outbox, audit, offsets */
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.records WHERE key = 'F2'"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.record_history WHERE key = 'F2'"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.outbox"), outbox);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.audit"), audit);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.ingest_offsets WHERE topic = "
	                         "'failing'"),
	                 0);

	/* the connection is still good: the same batch without the duplicate commits */
	b2.n_emits = 1;
	check_ok(cps_store_ping(s, err, sizeof(err)), err);
	commit_ok(s, &b2);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.records WHERE key = 'F2'"), 1);
	assert_int_equal(sql_int("SELECT next_offset FROM cpsync.ingest_offsets WHERE topic = "
	                         "'failing'"),
	                 99);

	/* a stale state (older than the stored row) fails the whole batch, retriably */
	f1->version = 0;
	off.next_offset = 120;
	b1.emits = NULL;
	b1.n_emits = 0;
	b1.offsets = &off;
	b1.n_offsets = 1;
	assert_int_equal(cps_store_commit_batch(s, &b1, NULL, err, sizeof(err)), CPS_ERR_RETRIABLE);
	assert_non_null(strstr(err, "SQLSTATE 40001"));
	assert_int_equal(sql_int("SELECT next_offset FROM cpsync.ingest_offsets WHERE topic = "
	                         "'failing'"),
	                 99);
	assert_int_equal(sql_int("SELECT version FROM cpsync.records WHERE key = 'F1'"), 1);

	state_free(f1);
	state_free(f2);
	cps_store_close(s);
}

static void test_audit_append_only(void **state)
{
	struct cps_store *s = store_open();
	json_t *before = cps_test_json("{\"v\": 1}");
	struct cps_store_audit au = {
	    "steward-7", "conflict.resolved", "person", "A1", "income", before,
	    NULL,        "checked paper file"};
	struct cps_store_batch b = {0};

	b.audits = &au;
	b.n_audits = 1;
	commit_ok(s, &b);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.audit WHERE key = 'A1' AND actor = "
	                         "'steward-7' AND at IS NOT NULL"),
	                 1);
	assert_string_equal(sql_fails("UPDATE cpsync.audit SET reason = 'x' WHERE key = 'A1'"),
	                    "42501");
	assert_string_equal(sql_fails("DELETE FROM cpsync.audit WHERE key = 'A1'"), "42501");
	assert_string_equal(sql_fails("TRUNCATE cpsync.audit"), "42501");
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.audit WHERE key = 'A1' AND reason = "
	                         "'checked paper file'"),
	                 1);
	json_decref(before);
	cps_store_close(s);
}

static void test_dead_letters_idempotent(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = store_open();
	const uint8_t raw[] = {0x00, 0xc3, 0x01, 0x00, 0x7f};
	const uint8_t rkey[] = {'p', '/', '1'};
	struct cps_dead_letter dl[] = {
	    {"province", "province:t/3@1234", "person", "bad national id", raw, sizeof(raw), rkey,
	     sizeof(rkey), 1700000000123},
	    {"shenshan", "shenshan:f.avro#17", NULL, "truncated record", raw, 2, NULL, 0, 0},
	};
	struct cps_dead_letter again[] = {
	    {"province", "province:t/3@1234", "person", "other reason", raw, 1, NULL, 0, 0},
	    {"city", "city:0/16B3F28", "household", "unknown schema", NULL, 0, NULL, 0, 0},
	};
	struct cps_store_stats stats;
	char *text;

	check_ok(cps_store_add_dead_letters(s, dl, 2, err, sizeof(err)), err);
	check_ok(cps_store_add_dead_letters(s, again, 2, err, sizeof(err)), err);
	check_ok(cps_store_add_dead_letters(s, dl, 0, err, sizeof(err)), err);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.dead_letters"), 3);
	text = sql_text("SELECT reason || ':' || encode(raw, 'hex') || ':' || encode(raw_key, "
	                "'escape') || ':' || status || ':' || "
	                "(extract(epoch FROM received_at) * 1000)::bigint "
	                "FROM cpsync.dead_letters WHERE origin = 'province:t/3@1234'");
	assert_string_equal(text, "bad national id:00c301007f:p/1:new:1700000000123");
	free(text);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.dead_letters WHERE entity IS NULL "
	                         "AND raw_key IS NULL AND received_at > now() - interval '1 hour'"),
	                 1);
	check_ok(cps_store_stats(s, &stats, err, sizeof(err)), err);
	assert_int_equal(stats.dead_letters, 3);
	sql_ok("UPDATE cpsync.dead_letters SET status = 'discarded' WHERE origin = "
	       "'city:0/16B3F28'");
	check_ok(cps_store_stats(s, &stats, err, sizeof(err)), err);
	assert_int_equal(stats.dead_letters, 2);
	cps_store_close(s);
}

/* Commits one alert change keyed `key` with a one-byte payload `tag`. */
static void append_alert(struct cps_store *s, const char *key, uint8_t tag)
{
	uint8_t payload[1] = {tag};
	struct cps_store_emit e = {"alert", key,  1,         CPS_OP_UPSERT, NULL,
	                           NULL,    NULL, "u.alert", payload,       1};
	struct cps_store_batch b = {.emits = &e, .n_emits = 1};

	commit_ok(s, &b);
}

/* Fetches up to 10 rows and checks their keys, in order ("" = none). A
 * transaction open elsewhere on the server (other tests share it) holds
 * newer changes back until it ends, so a non-empty expectation is polled
 * for up to 20 s. */
static struct cps_change_row *fetch_expect(struct cps_store *s, const char *keys)
{
	char err[CPS_ERRSTR_SIZE], got[128];
	struct cps_change_row *rows;
	size_t n;

	for (int tries = 0;; tries++) {
		got[0] = '\0';
		check_ok(cps_store_changes_fetch(s, 10, &rows, &n, err, sizeof(err)), err);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(rows[i].topic, "u.alert");
			assert_int_equal(rows[i].payload_len, 1);
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "",
			         rows[i].key);
		}
		if (!strcmp(got, keys) || !keys[0] || tries == 400)
			break;
		usleep(50 * 1000);
	}
	assert_string_equal(got, keys);
	return n ? &rows[n - 1] : NULL;
}

/* Retention deletes old changes the publisher has sent, never one it has
 * not, a slice at a time. */
static void test_change_log_retention(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = store_open();
	struct cps_change_row *last;
	size_t deleted = 99;

	(void)state;
	sql_ok("TRUNCATE cpsync.changes");
	sql_ok("UPDATE cpsync.publish_cursor SET xid = '0', seq = 0");
	append_alert(s, "R1", 1);
	append_alert(s, "R2", 2);
	append_alert(s, "R3", 3);
	sql_ok("UPDATE cpsync.changes SET committed_at = now() - interval '2 days'");
	append_alert(s, "R4", 4);
	last = fetch_expect(s, "R1,R2,R3,R4");
	check_ok(cps_store_changes_advance(s, &last[-2], err, sizeof(err)), err); /* R2 sent */
	check_ok(cps_store_changes_prune(s, 86400000, 1, &deleted, err, sizeof(err)), err);
	assert_int_equal(deleted, 1);
	check_ok(cps_store_changes_prune(s, 86400000, 10, &deleted, err, sizeof(err)), err);
	assert_int_equal(deleted, 1);
	check_ok(cps_store_changes_prune(s, 86400000, 10, &deleted, err, sizeof(err)), err);
	assert_int_equal(deleted, 0);
	fetch_expect(s, "R3,R4"); /* unsent R3 is old, but stays */
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.changes"), 2);
	cps_store_close(s);
}

/* A sink's version guard: a put keeps each key's newest version (one key
 * twice in a put, an older version after a newer one), per link; a key
 * never written reads 0. */
static void test_sink_versions(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = store_open();
	const struct cps_change_ref first[] = {
	    {"person", "A", 3}, {"person", "B", 2}, {"person", "A", 5}, {"household", "A", 1}};
	const struct cps_change_ref later[] = {{"person", "A", 4}, {"person", "B", 7}};
	struct cps_change_ref ask[] = {
	    {"person", "A", 0}, {"person", "B", 0}, {"household", "A", 0}, {"person", "C", 0}};
	int64_t got[4];

	(void)state;
	check_ok(cps_store_sink_versions_put(s, "k-sink", first, 4, err, sizeof(err)), err);
	check_ok(cps_store_sink_versions_put(s, "k-sink", later, 2, err, sizeof(err)), err);
	check_ok(cps_store_sink_versions_get(s, "k-sink", ask, 4, got, err, sizeof(err)), err);
	assert_int_equal(got[0], 5); /* 4 came after 5: kept 5 */
	assert_int_equal(got[1], 7);
	assert_int_equal(got[2], 1);
	assert_int_equal(got[3], 0);
	check_ok(cps_store_sink_versions_get(s, "other-sink", ask, 4, got, err, sizeof(err)), err);
	for (int i = 0; i < 4; i++)
		assert_int_equal(got[i], 0);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.sink_versions WHERE link = 'k-sink'"),
	                 3);
	cps_store_close(s);
}

/* The other retentions, each a slice at a time: a dead letter's raw bytes
 * after their age whatever its status; dead letters dealt with; closed
 * conflicts; an audit entry's values, the entry staying (and the trail
 * still refusing every other change). */
static void test_retention(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = store_open();
	const uint8_t raw[] = {0x01, 0x02};
	struct cps_dead_letter dl[] = {
	    {"province", "ret:old-new", "person", "r", raw, 2, raw, 1, 0},
	    {"province", "ret:old-done", "person", "r", raw, 2, NULL, 0, 0},
	    {"province", "ret:young", "person", "r", raw, 2, NULL, 0, 0},
	};
	json_t *before = cps_test_json("{\"v\": 1}");
	struct cps_store_audit au[] = {
	    {"steward-7", "conflict.resolved", "person", "RET1", "f", before, before, "old"},
	    {"steward-7", "conflict.resolved", "person", "RET2", "f", before, before, "young"},
	};
	struct cps_store_batch b = {.audits = au, .n_audits = 2};
	size_t done = 99;

	(void)state;
	sql_ok("DELETE FROM cpsync.dead_letters"); /* the other tests' are old too */
	check_ok(cps_store_add_dead_letters(s, dl, 3, err, sizeof(err)), err);
	sql_ok("UPDATE cpsync.dead_letters SET received_at = now() - interval '10 days', "
	       "updated_at = now() - interval '10 days' WHERE origin LIKE 'ret:old%'");
	sql_ok("UPDATE cpsync.dead_letters SET status = 'discarded' WHERE origin = 'ret:old-done'");
	sql_ok("UPDATE cpsync.dead_letters SET updated_at = now() - interval '10 days' "
	       "WHERE origin = 'ret:old-done'");
	check_ok(
	    cps_store_retain(s, CPS_RETAIN_DEAD_LETTER_RAW, 86400000, 1, &done, err, sizeof(err)),
	    err);
	assert_int_equal(done, 1);
	check_ok(
	    cps_store_retain(s, CPS_RETAIN_DEAD_LETTER_RAW, 86400000, 10, &done, err, sizeof(err)),
	    err);
	assert_int_equal(done, 1);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.dead_letters WHERE origin LIKE "
	                         "'ret:%' AND raw IS NULL AND raw_key IS NULL AND raw_purged_at IS "
	                         "NOT NULL"),
	                 2);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.dead_letters WHERE origin = "
	                         "'ret:young' AND raw IS NOT NULL"),
	                 1);
	check_ok(
	    cps_store_retain(s, CPS_RETAIN_DEAD_LETTERS, 86400000, 10, &done, err, sizeof(err)),
	    err);
	assert_int_equal(done, 1); /* old-done; old-new waits for an operator */
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.dead_letters WHERE origin LIKE "
	                         "'ret:%'"),
	                 2);

	sql_ok("DELETE FROM cpsync.conflicts WHERE key LIKE 'RET%'");
	sql_ok(
	    "INSERT INTO cpsync.conflicts (entity, key, field, status, closed_at) VALUES "
	    "('person', 'RET1', 'f', 'resolved', now() - interval '10 days'), "
	    "('person', 'RET2', 'f', 'dismissed', now()), ('person', 'RET3', 'f', 'open', NULL)");
	check_ok(cps_store_retain(s, CPS_RETAIN_CONFLICTS, 86400000, 10, &done, err, sizeof(err)),
	         err);
	assert_int_equal(done, 1);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.conflicts WHERE key LIKE 'RET%'"), 2);

	commit_ok(s, &b);
	assert_string_equal(sql_fails("UPDATE cpsync.audit SET at = now() - interval '10 days' "
	                              "WHERE key = 'RET1'"),
	                    "42501");
	sql_ok("ALTER TABLE cpsync.audit DISABLE TRIGGER audit_no_update_delete");
	sql_ok("UPDATE cpsync.audit SET at = now() - interval '10 days' WHERE key = 'RET1'");
	sql_ok("ALTER TABLE cpsync.audit ENABLE TRIGGER audit_no_update_delete");
	check_ok(
	    cps_store_retain(s, CPS_RETAIN_AUDIT_VALUES, 86400000, 10, &done, err, sizeof(err)),
	    err);
	assert_true(done >= 1);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.audit WHERE key = 'RET1' AND before "
	                         "IS NULL AND after IS NULL AND reason = 'old'"),
	                 1);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.audit WHERE key = 'RET2' AND before "
	                         "IS NOT NULL"),
	                 1);
	assert_string_equal(
	    sql_fails("UPDATE cpsync.audit SET reason = 'x', before = NULL, after = "
	              "NULL WHERE key = 'RET2'"),
	    "42501");
	assert_string_equal(sql_fails("DELETE FROM cpsync.audit WHERE key = 'RET1'"), "42501");
	json_decref(before);
	cps_store_close(s);
}

/* Migration 003 on a store of the old shape: history rows already published
 * come first and stay behind the cursor; outbox rows follow in outbox order
 * with their payloads, waiting for the publisher. */
static void test_migrate_to_change_log(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_testdb old = {{0}};
	struct cps_store *s;
	struct cps_change_row *rows;
	size_t n;
	char *text;
	PGconn *side;

	(void)state;
	assert_int_equal(cps_testdb_create(&old, "cps_store_old", 1), 0);
	side = PQconnectdb(old.conninfo);
	assert_int_equal(PQstatus(side), CONNECTION_OK);
	for (size_t i = 0; i < cps_migrations_count && cps_migrations[i].version < 3; i++) {
		char ins[128];

		PQclear(PQexec(side, cps_migrations[i].sql));
		snprintf(ins, sizeof(ins),
		         "INSERT INTO cpsync.schema_migrations (version, name) VALUES (%d, '%s')",
		         cps_migrations[i].version, cps_migrations[i].name);
		PQclear(PQexec(side, ins));
	}
	PQclear(PQexec(side, "INSERT INTO cpsync.record_history (entity, key, version, op, "
	                     "changed_fields, committed_at) VALUES "
	                     "('person', 'K1', 1, 'upsert', '{name}', now() - interval '2 s'), "
	                     "('person', 'K1', 2, 'upsert', '{phone}', now() - interval '1 s'), "
	                     "('person', 'K2', 1, 'delete', '{}', now())"));
	PQclear(PQexec(side, "INSERT INTO cpsync.outbox (entity, key, version, topic, payload) "
	                     "VALUES ('person', 'K2', 1, 'u.person', '\\x02'), "
	                     "('person', 'K1', 2, 'u.person', '\\x01')"));
	assert_int_equal(cps_store_open(old.conninfo, &s, err, sizeof(err)), CPS_OK);
	check_ok(cps_store_migrate(s, err, sizeof(err)), err);
	text = sql_text_on(side, "SELECT string_agg(key || 'v' || version || ':' || op || ':' || "
	                         "array_to_string(changed_fields, ',') || ':' || "
	                         "COALESCE(encode(payload, 'hex'), '-'), ' ' ORDER BY seq) "
	                         "FROM cpsync.changes");
	assert_string_equal(text, "K1v1:upsert:name:- K2v1:delete::02 K1v2:upsert:phone:01");
	free(text);
	/* a transaction open elsewhere on the server holds them back a while */
	for (int tries = 0; tries < 400; tries++) {
		check_ok(cps_store_changes_fetch(s, 10, &rows, &n, err, sizeof(err)), err);
		if (n == 2)
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].key, "K2");
	assert_string_equal(rows[1].key, "K1");
	assert_int_equal(rows[1].payload[0], 1);
	cps_store_close(s);
	PQfinish(side);
	cps_testdb_drop(&old);
}

/* The publisher's view of the change log: log order, a cursor that only
 * moves forward, and no change skipped when transactions commit out of the
 * order they appended in (a cursor over seq alone would skip "late"). */
static void test_change_log_order(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = store_open();
	struct cps_change_row *last, first;
	PGconn *other = PQconnectdb(testdb.conninfo);

	(void)state;
	assert_int_equal(PQstatus(other), CONNECTION_OK);
	sql_ok("TRUNCATE cpsync.changes");
	sql_ok("UPDATE cpsync.publish_cursor SET xid = '0', seq = 0");
	append_alert(s, "O1", 1);
	append_alert(s, "O2", 2);
	append_alert(s, "O3", 3);
	last = fetch_expect(s, "O1,O2,O3");
	first = last[-2];
	check_ok(cps_store_changes_advance(s, &last[-1], err, sizeof(err)), err);
	fetch_expect(s, "O3");
	/* the cursor never goes back */
	check_ok(cps_store_changes_advance(s, &first, err, sizeof(err)), err);
	last = fetch_expect(s, "O3");
	check_ok(cps_store_changes_advance(s, last, err, sizeof(err)), err);
	fetch_expect(s, "");

	/* "late" appends first (smaller seq) but commits after "early" */
	PQclear(PQexec(other, "BEGIN"));
	PQclear(PQexec(other,
	               "INSERT INTO cpsync.changes (entity, key, version, op, topic, "
	               "payload) VALUES ('alert', 'late', 1, 'upsert', 'u.alert', '\\x07')"));
	append_alert(s, "early", 8);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.changes WHERE key IN ('late', "
	                         "'early')"),
	                 1); /* "late" is not visible yet */
	fetch_expect(s, ""); /* "early" waits for the open transaction */
	PQclear(PQexec(other, "COMMIT"));
	last = fetch_expect(s, "late,early");
	check_ok(cps_store_changes_advance(s, last, err, sizeof(err)), err);
	fetch_expect(s, "");
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.outbox"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM cpsync.record_history"), 5);
	PQfinish(other);
	cps_store_close(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n states, each with an emit (a change-log row) and one offset: one
 * transaction, checked through xmin (one transaction id for every row). */
static void bench_batch(size_t n, const char *entity)
{
	struct cps_store *s = store_open();
	struct cps_key_state **states = calloc(n, sizeof(*states));
	struct cps_store_emit *emits = calloc(n, sizeof(*emits));
	struct cps_store_offset off = {"bench", 0, (int64_t)n};
	struct cps_store_batch b = {0};
	uint8_t payload[200];
	char sql[256];
	double t0, dt;

	assert_non_null(states);
	assert_non_null(emits);
	memset(payload, 0x5a, sizeof(payload));
	for (size_t i = 0; i < n; i++) {
		char key[32], rec[512], plat[700];

		snprintf(key, sizeof(key), "B%06zu", i);
		snprintf(rec, sizeof(rec),
		         "{\"person_id\": \"%s\", \"name\": \"\\u5f20\\u4e09\", \"household_id\": "
		         "\"H%zu\", \"birth_date\": 7300, \"phone\": \"138******78\", "
		         "\"income\": \"\\u0027\\u0010\", \"status\": \"ACTIVE\", \"members\": 3}",
		         key, i / 3);
		snprintf(plat, sizeof(plat),
		         "{\"city\": {\"withdrawn\": false, \"eff\": %zu, \"src\": %zu, \"pos\": "
		         "\"city:0/%zX\", \"fields\": {\"name\": {\"v\": \"\\u5f20\\u4e09\", "
		         "\"eff\": 1, \"src\": 1, \"pos\": \"city:0/1\"}, \"members\": {\"v\": 3, "
		         "\"eff\": 1, \"src\": 1, \"pos\": \"city:0/1\"}}}}",
		         i, i, i);
		states[i] = state_new(entity, key);
		state_fill(states[i], 1, rec, plat,
		           "{\"name\": {\"platform\": \"city\", \"rule\": \"precedence\"}}", "{}");
		emits[i] = (struct cps_store_emit){
		    entity,         states[i]->key,    1,
		    CPS_OP_UPSERT,  states[i]->record, states[i]->provenance,
		    NULL,           "u.person",        payload,
		    sizeof(payload)};
	}
	b.states = states;
	b.n_states = n;
	b.emits = emits;
	b.n_emits = n;
	b.offsets = &off;
	b.n_offsets = 1;

	t0 = now_s();
	commit_ok(s, &b);
	dt = now_s() - t0;
	printf("store: batch of %zu states (+%zu change-log rows) committed in %.3f s: "
	       "%.0f states/s, %.0f rows/s\n",
	       n, n, dt, (double)n / dt, (double)(2 * n + 1) / dt);

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM cpsync.records WHERE entity = '%s'",
	         entity);
	assert_int_equal(sql_int(sql), (long long)n);
	snprintf(sql, sizeof(sql),
	         "SELECT count(DISTINCT x) FROM (SELECT xmin::text x FROM cpsync.records WHERE "
	         "entity = '%s' UNION ALL SELECT xmin::text FROM cpsync.changes WHERE "
	         "entity = '%s' UNION ALL SELECT xmin::text FROM cpsync.ingest_offsets) t",
	         entity, entity);
	/* offsets of other tests were written by other transactions */
	sql_ok("DELETE FROM cpsync.ingest_offsets WHERE topic <> 'bench'");
	assert_int_equal(sql_int(sql), 1);
	for (size_t i = 0; i < n; i++)
		state_free(states[i]);
	free(states);
	free(emits);
	cps_store_close(s);
}

static void test_batch_5000(void **state)
{
	bench_batch(5000, "bench5k");
}

static void test_batch_10000(void **state)
{
	bench_batch(10000, "bench10k");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_migrate),
	    cmocka_unit_test(test_commit_and_read_back),
	    cmocka_unit_test(test_change_log_rows_of_a_batch),
	    cmocka_unit_test(test_wide_values_compress_lz4),
	    cmocka_unit_test(test_load_known_writer),
	    cmocka_unit_test(test_failing_batch_writes_nothing),
	    cmocka_unit_test(test_audit_append_only),
	    cmocka_unit_test(test_dead_letters_idempotent),
	    cmocka_unit_test(test_change_log_order),
	    cmocka_unit_test(test_change_log_retention),
	    cmocka_unit_test(test_sink_versions),
	    cmocka_unit_test(test_retention),
	    cmocka_unit_test(test_migrate_to_change_log),
	    cmocka_unit_test(test_batch_5000),
	    cmocka_unit_test(test_batch_10000),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
