/*
 * The binary provenance (store/state_facts.c, migration 014): a person's
 * provenance as reconcile.c leaves it (platform winners, a steward's
 * decision, flagged and pending markers, a rule case, unicode, U+0000)
 * round-trips exactly; the decoder refuses every truncation, other layouts,
 * non-objects and trailing bytes, and survives random byte flips (run under
 * ASan); against a real PostgreSQL ($CPSYNC_TEST_PG), a batch writes `prov`
 * and '{}' as `provenance`, the state and its change-log row load back
 * equal, cpsync.provenance_json gives the same tree (and the history view
 * shows it), and a row written before (jsonb provenance, NULL prov) still
 * loads. Prints sizes and the time of each form's write + read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "store/jsonb.h"
#include "store/state_facts.h"
#include "store/store.h"
#include "testdb.h"
#include "testcases.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct cps_testdb testdb;

/* A person's provenance: 15 fields, most won by the province. */
static json_t *person_provenance(void)
{
	static const char *const fields[] = {"national_id",
	                                     "name",
	                                     "gender",
	                                     "birth_date",
	                                     "registration_region_code",
	                                     "residence_region_code",
	                                     "residence_address",
	                                     "has_residence_permit",
	                                     "disabled",
	                                     "disability_grade",
	                                     "seriously_ill",
	                                     "labour_capacity",
	                                     "phone",
	                                     "household_id",
	                                     "deceased"};
	json_t *prov = json_object();

	for (size_t i = 0; i < CPS_ARRAY_SIZE(fields); i++)
		json_object_set_new(prov, fields[i],
		                    json_pack("{s:s, s:s, s:I, s:I, s:s, s:i}", "platform",
		                              i % 4 == 3 ? "shenshan" : "province", "pos",
		                              i % 4 == 3 ? "shenshan:person-20261204.avro#224"
		                                         : "province:province.person/5@285",
		                              "eff", (json_int_t)1727354174826, "src",
		                              (json_int_t)1796378299235, "rule",
		                              i % 2 ? "latest" : "precedence", "rule_version", 3));
	json_object_set_new(
	    prov, "name",
	    cps_test_json("{\"steward\": \"张三\", \"reason\": \"户籍核对 \\u0000\", "
	                  "\"conflict_id\": 42, \"decided_at\": 1796378299999, "
	                  "\"seen_eff\": 1727354174826, \"seen_src\": -1, "
	                  "\"rule\": \"manual\", \"rule_version\": 3}"));
	json_object_set_new(prov, "phone",
	                    cps_test_json("{\"platform\": \"city\", \"pos\": null, \"eff\": 1, "
	                                  "\"src\": 2, \"rule\": \"latest\", \"rule_version\": 3, "
	                                  "\"flagged\": true, \"disagreeing\": [\"province\"], "
	                                  "\"case\": \"shenshan_enrolment\", \"pending\": true}"));
	return prov;
}

static void encode_ok(json_t *j, struct cps_buf *b)
{
	char err[CPS_ERRSTR_SIZE];

	cps_buf_init(b, 0);
	if (cps_prov_encode(j, b, err, sizeof(err)) != CPS_OK)
		fail_msg("encode: %s", err);
	assert_int_equal(b->data[0], CPS_PROV_LAYOUT);
}

static void expect_invalid(const uint8_t *p, size_t n)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *back = (json_t *)1;

	assert_int_equal(cps_prov_decode(p, n, &back, NULL, err, sizeof(err)), CPS_ERR_INVALID);
	assert_null(back);
	assert_non_null(strstr(err, "provenance: "));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_round_trip_and_figures(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *prov = person_provenance(), *back = NULL;
	char *text = json_dumps(prov, JSON_COMPACT);
	size_t size = 0, text_len = strlen(text);
	struct cps_buf b;
	double t0, t1, t2;
	enum { N = 2000 };

	(void)state;
	encode_ok(prov, &b);
	if (cps_prov_decode(b.data, b.len, &back, &size, err, sizeof(err)) != CPS_OK)
		fail_msg("decode: %s", err);
	assert_true(json_equal(prov, back));
	/* the estimate of the text the tree would be: within a tenth */
	assert_true(size > text_len * 9 / 10 && size < text_len * 11 / 10);
	json_decref(back);
	back = json_array();
	assert_int_equal(cps_prov_encode(back, &b, err, sizeof(err)), CPS_ERR_INVALID);
	json_decref(back);
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		char *t = json_dumps(prov, JSON_COMPACT);

		json_decref(json_loads(t, 0, NULL));
		free(t);
	}
	t1 = now_s();
	for (int i = 0; i < N; i++) {
		struct cps_buf c;

		cps_buf_init(&c, 0);
		cps_prov_encode(prov, &c, err, sizeof(err));
		cps_prov_decode(c.data, c.len, &back, NULL, err, sizeof(err));
		json_decref(back);
		cps_buf_release(&c);
	}
	t2 = now_s();
	printf("provenance: %zu bytes of JSON text, %zu binary; write + read %.1f us as text, "
	       "%.1f us binary\n",
	       text_len, b.len, (t1 - t0) / N * 1e6, (t2 - t1) / N * 1e6);
	free(text);
	cps_buf_release(&b);
	json_decref(prov);
}

static void test_hostile(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
	} absurd[] = {
	    {"", 0},
	    {"\x02\x07\x00", 3},                  /* an unknown layout */
	    {"\x01\x06\x00", 3},                  /* an array, not an object */
	    {"\x01\x07\x00\x00", 4},              /* a byte after the object */
	    {"\x01\x07\xff\xff\xff\xff\x0f", 7},  /* 4G members */
	    {"\x01\x07\x01\x01k\x05\x01\xff", 8}, /* a string not UTF-8 */
	};
	char err[CPS_ERRSTR_SIZE];
	json_t *prov = person_provenance(), *back;
	struct cps_buf b;
	unsigned seed = 20261205;
	size_t ok = 0;

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(absurd); i++)
		expect_invalid((const uint8_t *)absurd[i].bytes, absurd[i].n);
	encode_ok(prov, &b);
	/* every truncation, each in a buffer of exactly its length (ASan sees overreads) */
	for (size_t n = 0; n < b.len; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		memcpy(cut, b.data, n);
		expect_invalid(cut, n);
		free(cut);
	}
	for (int round = 0; round < 10000; round++) {
		uint8_t *bad = malloc(b.len);
		int rc;

		memcpy(bad, b.data, b.len);
		for (int k = 0, flips = 1 + rand_r(&seed) % 4; k < flips; k++)
			bad[(size_t)rand_r(&seed) % b.len] ^= (uint8_t)(1 + rand_r(&seed) % 255);
		back = NULL;
		rc = cps_prov_decode(bad, b.len, &back, NULL, err, sizeof(err));
		if (rc == CPS_OK) {
			assert_true(json_is_object(back));
			ok++;
		} else {
			assert_int_equal(rc, CPS_ERR_INVALID);
			assert_null(back);
		}
		json_decref(back);
		free(bad);
	}
	printf("provenance: 10000 corrupted encodings: %zu read as an object, the rest refused\n",
	       ok);
	cps_buf_release(&b);
	json_decref(prov);
}

/* The one value `sql` gives on c is `want`. */
static void assert_sql_value(PGconn *c, const char *sql, const char *want)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("'%s': %s", sql, PQerrorMessage(c));
	assert_string_equal(PQgetvalue(r, 0, 0), want);
	PQclear(r);
}

/* `sql`'s one jsonb value on c equals `want`. */
static void assert_sql_json(PGconn *c, const char *sql, json_t *want)
{
	PGresult *r = PQexec(c, sql);
	json_t *got;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("'%s': %s", sql, PQerrorMessage(c));
	got = cps_jsonb_value(r, 0, 0);
	if (!json_equal(got, want))
		fail_msg("'%s' gave %s", sql, PQgetvalue(r, 0, 0));
	json_decref(got);
	PQclear(r);
}

static void test_store(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = NULL;
	struct cps_key_state w, old, fresh, *loads[2] = {&old, &fresh};
	json_t *prov = person_provenance(), *old_tree, *changed = cps_test_json("[\"name\"]");
	const uint8_t payload[] = {0xc3, 0x01};
	struct cps_store_emit emit = {"person", "new-1", 1,       CPS_OP_UPSERT, NULL,
	                              NULL,     changed, "topic", payload,       2};
	struct cps_store_batch batch = {0};
	PGconn *c = PQconnectdb(testdb.conninfo);
	PGresult *r;

	(void)state;
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	assert_int_equal(cps_store_open(testdb.conninfo, &s, err, sizeof(err)), CPS_OK);
	/* a row as an older cpsync wrote it: jsonb provenance, no prov */
	old_tree = cps_test_json("{\"name\": {\"platform\": \"city\", \"pos\": null, \"eff\": 1, "
	                         "\"src\": 2, \"rule\": \"latest\", \"rule_version\": 1}}");
	r = PQexec(c, "INSERT INTO cpsync.records (entity, key, version, record, provenance) "
	              "VALUES ('person', 'old-1', 1, '{\"name\": \"李四\"}', '{\"name\": "
	              "{\"platform\": \"city\", \"pos\": null, \"eff\": 1, \"src\": 2, \"rule\": "
	              "\"latest\", \"rule_version\": 1}}')");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	/* a state cpsync writes now, with the change-log row of its version */
	assert_int_equal(cps_key_state_init(&w, "person", "new-1"), CPS_OK);
	w.version = 1;
	json_decref(w.provenance);
	w.provenance = json_incref(prov);
	json_decref(w.record);
	w.record = cps_test_json("{\"name\": \"张三丰\"}");
	emit.key = w.key;
	emit.record = w.record;
	emit.provenance = w.provenance;
	batch.states = (struct cps_key_state *[]){&w};
	batch.n_states = 1;
	batch.emits = &emit;
	batch.n_emits = 1;
	if (cps_store_commit_batch(s, &batch, NULL, err, sizeof(err)) != CPS_OK)
		fail_msg("commit: %s", err);
	assert_sql_value(c,
	                 "SELECT provenance::text || ' ' || (prov IS NOT NULL)::text FROM "
	                 "cpsync.records WHERE key = 'new-1'",
	                 "{} true");
	assert_sql_value(c,
	                 "SELECT (c.prov = r.prov AND c.provenance IS NULL)::text FROM "
	                 "cpsync.changes c JOIN cpsync.records r USING (entity, key, version) "
	                 "WHERE key = 'new-1'",
	                 "true");
	/* SQL reads the same tree, from the table and from the history view */
	assert_sql_json(c,
	                "SELECT cpsync.provenance_json(prov) FROM cpsync.records "
	                "WHERE key = 'new-1'",
	                prov);
	assert_sql_json(c, "SELECT provenance FROM cpsync.record_history WHERE key = 'new-1'",
	                prov);
	r = PQexec(c, "SELECT cpsync.provenance_json('\\x0107'::bytea)");
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	PQclear(r);
	/* both load through the store */
	assert_int_equal(cps_key_state_init(&old, "person", "old-1"), CPS_OK);
	assert_int_equal(cps_key_state_init(&fresh, "person", "new-1"), CPS_OK);
	if (cps_store_load_states(s, loads, 2, err, sizeof(err)) != CPS_OK)
		fail_msg("load: %s", err);
	assert_true(json_equal(old.provenance, old_tree));
	assert_true(json_equal(fresh.provenance, prov));
	assert_true(fresh.mem_hint > 2000); /* the JSON text it would be, not the bytes */
	/* a corrupt prov column is an error naming the provenance, not the key */
	r = PQexec(c, "UPDATE cpsync.records SET prov = '\\x0107'::bytea WHERE key = 'new-1'");
	PQclear(r);
	assert_int_equal(cps_store_load_states(s, loads + 1, 1, err, sizeof(err)), CPS_ERR_FATAL);
	assert_non_null(strstr(err, "provenance"));
	assert_null(strstr(err, "new-1"));
	cps_key_state_release(&w);
	cps_key_state_release(&old);
	cps_key_state_release(&fresh);
	json_decref(old_tree);
	json_decref(changed);
	json_decref(prov);
	PQfinish(c);
	cps_store_close(s);
}

static int group_setup(void **state)
{
	(void)state;
	if (cps_testdb_create(&testdb, "cps_prov", -1) || cps_testdb_migrate(&testdb))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cps_testdb_drop(&testdb);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_and_figures),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_store),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
