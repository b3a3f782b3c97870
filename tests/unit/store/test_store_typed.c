/*
 * The typed load of key states (cps_store_load_tstates) against a real
 * PostgreSQL ($CPSYNC_TEST_PG): the final state of every reconcile case
 * (its events and steward decisions applied by the JSON engine), written by
 * a batch commit, loads typed with the same trees, version and deletion as
 * the JSON load gives; a key with no row loads as an empty typed state; a
 * row written before the binary facts (jsonb platforms, NULL facts) is left
 * to the JSON path (typed 0), as is a row whose facts do not read; a key
 * whose row the caller's copy already is (known xid) is not sent. The typed
 * commit: the same states as typed states, with emits of their versions
 * written down or standing for the state (as the worker makes them),
 * committed and loaded back the JSON way, give the JSON states; the change
 * log holds each version once, the state's own with the state's record and
 * provenance; an emit standing for a state the batch lacks is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "model/event.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"
#include "reconcile/typed_state.h"
#include "store/state_typed.h"
#include "store/store.h"
#include "testcases.h"
#include "testdb.h"
#include "testengines.h"

#include <glob.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CASES 64

static struct cps_testdb testdb;

static enum cps_resolution resolution_of(const char *how)
{
	return !strcmp(how, "take_platform") ? CPS_RESOLVE_TAKE_PLATFORM
	       : !strcmp(how, "enter_value") ? CPS_RESOLVE_ENTER_VALUE
	                                     : CPS_RESOLVE_DISMISS;
}

/* The final state of case file `path` under key `key`. */
static void case_state(const char *path, const char *key, struct cps_key_state *st)
{
	json_t *c = json_load_file(path, 0, NULL), *ej, *rj;
	const char *entity = json_string_value(json_object_get(c, "entity"));
	struct cps_rules *rules;
	char err[CPS_ERRSTR_SIZE];
	size_t i, j;

	assert_non_null(c);
	assert_int_equal(cps_rules_from_json(json_object_get(c, "rules"), &rules, err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_key_state_init(st, entity, key), CPS_OK);
	json_array_foreach (json_object_get(c, "events"), i, ej) {
		const char *op = json_string_value(json_object_get(ej, "op"));
		struct cps_ingest_event ev = {0};
		struct cps_reconcile_outcome o;

		snprintf(ev.platform, sizeof(ev.platform), "%s",
		         json_string_value(json_object_get(ej, "platform")));
		snprintf(ev.entity, sizeof(ev.entity), "%s", entity);
		ev.key = strdup(key);
		ev.op = op && !strcmp(op, "delete") ? CPS_OP_DELETE : CPS_OP_UPSERT;
		ev.effective_ms = json_integer_value(json_object_get(ej, "eff"));
		ev.source_ms = json_integer_value(json_object_get(ej, "src"));
		ev.source_position = strdup(json_string_value(json_object_get(ej, "pos")));
		if (ev.op == CPS_OP_UPSERT)
			ev.record = json_incref(json_object_get(ej, "record"));
		cps_reconcile_outcome_init(&o);
		assert_int_equal(cps_reconcile_apply(rules, st, &ev, &o, err, sizeof(err)), CPS_OK);
		cps_reconcile_outcome_release(&o);
		cps_ingest_event_release(&ev);
		json_array_foreach (json_object_get(c, "resolve"), j, rj) {
			if ((size_t)json_integer_value(json_object_get(rj, "after_event")) != i)
				continue;
			cps_reconcile_outcome_init(&o);
			assert_int_equal(
			    cps_reconcile_resolve(
			        rules, st, json_string_value(json_object_get(rj, "field")),
			        resolution_of(json_string_value(json_object_get(rj, "how"))),
			        json_string_value(json_object_get(rj, "platform")),
			        json_object_get(rj, "value"),
			        json_string_value(json_object_get(rj, "steward")),
			        json_string_value(json_object_get(rj, "reason")),
			        json_integer_value(json_object_get(rj, "conflict_id")),
			        json_integer_value(json_object_get(rj, "now")), &o, err,
			        sizeof(err)),
			    CPS_OK);
			cps_reconcile_outcome_release(&o);
		}
	}
	cps_rules_free(rules);
	json_decref(c);
}

static void exec_ok(const char *sql)
{
	assert_int_equal(cps_testdb_exec(testdb.conninfo, sql), 0);
}

static void test_typed_load(void **state)
{
	const char *src = getenv("CPSYNC_SOURCE_DIR");
	struct cps_key_state written[MAX_CASES], loaded[MAX_CASES], *wp[MAX_CASES], *lp[MAX_CASES];
	struct cps_tstate typed[MAX_CASES], *tp[MAX_CASES];
	unsigned char is_typed[MAX_CASES], same[MAX_CASES];
	uint64_t xid[MAX_CASES], known[MAX_CASES];
	struct cps_store_batch batch = {0};
	struct cps_store *s = NULL;
	struct cps_arena arena;
	char pattern[1200], err[CPS_ERRSTR_SIZE], key[32];
	glob_t g;
	size_t n;
	(void)state;

	snprintf(pattern, sizeof(pattern), "%s/tests/reconcile/cases/*.json", src ? src : ".");
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	n = g.gl_pathc;
	assert_true(n > 0 && n + 3 <= MAX_CASES);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "case-%02zu", i);
		case_state(g.gl_pathv[i], key, &written[i]);
		wp[i] = &written[i];
	}
	globfree(&g);
	assert_int_equal(cps_store_open(testdb.conninfo, &s, err, sizeof(err)), CPS_OK);
	batch.states = wp;
	batch.n_states = n;
	if (cps_store_commit_batch(s, &batch, NULL, err, sizeof(err)) != CPS_OK)
		fail_msg("commit: %s", err);
	/* beside them: a key with no row, a row of an older cpsync, a row that does not read */
	exec_ok("INSERT INTO cpsync.records (entity, key, version, record, platforms) VALUES "
	        "('person', 'old-1', 1, '{\"name\": \"李四\"}', '{\"city\": {\"withdrawn\": "
	        "false, \"eff\": 1, \"src\": 2, \"pos\": null, \"fields\": {\"name\": {\"v\": "
	        "\"李四\", \"eff\": 1, \"src\": 2, \"pos\": null}}}}')");
	exec_ok("INSERT INTO cpsync.records (entity, key, version, record, facts, prov) VALUES "
	        "('person', 'bad-1', 1, 'null', '\\x0101'::bytea, '\\x0107'::bytea)");
	cps_arena_init(&arena, 0);
	for (size_t i = 0; i < n + 3; i++) {
		const char *entity = i < n ? written[i].entity : "person";
		const char *k = i < n        ? written[i].key
		                : i == n     ? "none-1"
		                : i == n + 1 ? "old-1"
		                             : "bad-1";

		assert_int_equal(cps_key_state_init(&loaded[i], entity, k), CPS_OK);
		assert_int_equal(cps_tstate_init(&typed[i], cps_test_entity_schema(entity), entity,
		                                 k, &arena, err, sizeof(err)),
		                 CPS_OK);
		lp[i] = &loaded[i];
		tp[i] = &typed[i];
	}
	if (cps_store_load_states(s, lp, n + 2, err, sizeof(err)) != CPS_OK)
		fail_msg("JSON load: %s", err);
	if (cps_store_load_tstates(s, tp, n + 3, NULL, xid, same, is_typed, err, sizeof(err)) !=
	    CPS_OK)
		fail_msg("typed load: %s", err);
	for (size_t i = 0; i < n + 1; i++) {
		if (!is_typed[i])
			fail_msg("state %s has no typed load", loaded[i].key);
		cps_test_typed_same(&typed[i], &loaded[i], loaded[i].key);
		assert_false(same[i]);
		assert_true(i == n ? xid[i] == 0 : xid[i] > 0);
	}
	assert_int_equal(typed[n].version, 0);
	assert_false(is_typed[n + 1]); /* an older cpsync's row: the JSON path reads it */
	assert_false(is_typed[n + 2]); /* facts that do not read: the JSON path says so */
	/* a key whose row the caller holds already is not sent again */
	for (size_t i = 0; i < n; i++)
		known[i] = xid[i];
	cps_arena_reset(&arena);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cps_tstate_init(&typed[i], typed[i].rs, written[i].entity,
		                                 written[i].key, &arena, err, sizeof(err)),
		                 CPS_OK);
	if (cps_store_load_tstates(s, tp, n, known, xid, same, is_typed, err, sizeof(err)) !=
	    CPS_OK)
		fail_msg("typed load with known xids: %s", err);
	for (size_t i = 0; i < n; i++) {
		assert_true(same[i]);
		assert_int_equal(typed[i].n_platforms, 0);
	}
	for (size_t i = 0; i < n + 3; i++) {
		if (i < n)
			cps_key_state_release(&written[i]);
		cps_key_state_release(&loaded[i]);
	}
	cps_arena_release(&arena);
	cps_store_close(s);
}

/* One SQL value as text (the first row's first column); fails the test on
 * an error. */
static char *sql_value(const char *sql)
{
	PGconn *c = PQconnectdb(testdb.conninfo);
	PGresult *r = PQexec(c, sql);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

/* The typed commit: every case's final state as a typed state, with an
 * emit of its version written down as the worker will (and one of an
 * earlier version for the first), committed, then loaded the JSON way: the
 * same trees as the JSON state; the change log holds each emitted version
 * with the state's record and provenance. */
static void test_typed_commit(void **state)
{
	const char *src = getenv("CPSYNC_SOURCE_DIR");
	struct cps_key_state written[MAX_CASES], loaded[MAX_CASES], *lp[MAX_CASES];
	struct cps_tstate typed[MAX_CASES], *tp[MAX_CASES];
	struct cps_store_emit emits[MAX_CASES + 1];
	struct cps_buf texts[MAX_CASES], provs[MAX_CASES];
	struct cps_store_batch batch = {0};
	struct cps_store *s = NULL;
	struct cps_arena arena;
	char pattern[1200], err[CPS_ERRSTR_SIZE], key[32], *v;
	size_t n, n_emits = 0;
	glob_t g;
	(void)state;

	snprintf(pattern, sizeof(pattern), "%s/tests/reconcile/cases/*.json", src ? src : ".");
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	n = g.gl_pathc;
	assert_true(n > 0 && n <= MAX_CASES);
	cps_arena_init(&arena, 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "typed-%02zu", i);
		case_state(g.gl_pathv[i], key, &written[i]);
		assert_int_equal(cps_tstate_from_json(&written[i],
		                                      cps_test_entity_schema(written[i].entity),
		                                      &arena, &typed[i], err, sizeof(err)),
		                 CPS_OK);
		tp[i] = &typed[i];
		cps_buf_init(&texts[i], 0);
		cps_buf_init(&provs[i], 0);
		assert_int_equal(cps_tstate_prov_encode(&typed[i], &provs[i], err, sizeof(err)),
		                 CPS_OK);
		if (typed[i].has_record) {
			assert_int_equal(
			    cps_tstate_record_jsonb(&typed[i], &texts[i], err, sizeof(err)),
			    CPS_OK);
			cps_buf_append_byte(&texts[i], '\0');
		}
		if (i == 0) /* an earlier version of the first key, logged on its own */
			emits[n_emits++] =
			    (struct cps_store_emit){.entity = typed[0].entity,
			                            .key = typed[0].key,
			                            .version = typed[0].version - 1,
			                            .op = CPS_OP_UPSERT,
			                            .topic = "cpsync.unified.test",
			                            .payload = (const uint8_t *)"e",
			                            .payload_len = 1,
			                            .encoded = true,
			                            .record_text = "{\"name\": \"earlier\"}",
			                            .changed_text = "[\"name\"]"};
		/* the state's own version: written down (odd cases) or standing for
		 * the state as committed (even ones) */
		emits[n_emits++] = (struct cps_store_emit){
		    .entity = typed[i].entity,
		    .key = typed[i].key,
		    .version = typed[i].version,
		    .op = typed[i].has_record ? CPS_OP_UPSERT : CPS_OP_DELETE,
		    .topic = "cpsync.unified.test",
		    .payload = (const uint8_t *)"v",
		    .payload_len = 1,
		    .encoded = true,
		    .record_text =
		        i % 2 && typed[i].has_record ? (const char *)texts[i].data : NULL,
		    .prov_bin = i % 2 ? provs[i].data : NULL,
		    .prov_len = i % 2 ? provs[i].len : 0,
		    .changed_text = "[]",
		    .as_state = i % 2 == 0};
	}
	globfree(&g);
	assert_int_equal(cps_store_open(testdb.conninfo, &s, err, sizeof(err)), CPS_OK);
	batch.tstates = tp;
	batch.n_tstates = n;
	batch.emits = emits;
	batch.n_emits = n_emits;
	if (cps_store_commit_batch(s, &batch, NULL, err, sizeof(err)) != CPS_OK)
		fail_msg("typed commit: %s", err);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(cps_key_state_init(&loaded[i], written[i].entity, written[i].key),
		                 CPS_OK);
		lp[i] = &loaded[i];
	}
	if (cps_store_load_states(s, lp, n, err, sizeof(err)) != CPS_OK)
		fail_msg("load: %s", err);
	for (size_t i = 0; i < n; i++) {
		if (!json_equal(loaded[i].platforms, written[i].platforms) ||
		    !json_equal(loaded[i].record, written[i].record) ||
		    !json_equal(loaded[i].provenance, written[i].provenance) ||
		    !json_equal(loaded[i].conflicts, written[i].conflicts) ||
		    loaded[i].version != written[i].version ||
		    loaded[i].deleted != written[i].deleted)
			fail_msg("%s: the typed commit wrote another state", written[i].key);
	}
	/* each version once in the log; the state's own row as the state's */
	v = sql_value("SELECT count(*)::text FROM cpsync.changes WHERE key LIKE 'typed-%'");
	assert_int_equal(atoi(v), (int)n_emits);
	free(v);
	v = sql_value("SELECT count(*)::text FROM cpsync.changes c JOIN cpsync.records r "
	              "USING (entity, key, version) WHERE key LIKE 'typed-%' AND "
	              "c.record IS NOT DISTINCT FROM r.record AND c.prov = r.prov");
	assert_int_equal(atoi(v), (int)n);
	free(v);
	v = sql_value("SELECT record->>'name' FROM cpsync.changes WHERE key = 'typed-00' "
	              "ORDER BY version LIMIT 1");
	assert_string_equal(v, "earlier");
	free(v);
	/* an emit standing for a state the batch does not carry is refused */
	emits[0].version = 999;
	emits[0].as_state = true;
	batch = (struct cps_store_batch){.emits = emits, .n_emits = 1};
	assert_int_equal(cps_store_commit_batch(s, &batch, NULL, err, sizeof(err)), CPS_ERR_FATAL);
	assert_non_null(strstr(err, "stands for a state the batch lacks"));
	for (size_t i = 0; i < n; i++) {
		cps_key_state_release(&written[i]);
		cps_key_state_release(&loaded[i]);
		cps_buf_release(&texts[i]);
		cps_buf_release(&provs[i]);
	}
	cps_arena_release(&arena);
	cps_store_close(s);
}

static int group_setup(void **state)
{
	(void)state;
	if (cps_testdb_create(&testdb, "cps_typed", -1) || cps_testdb_migrate(&testdb))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cps_testdb_drop(&testdb);
	cps_test_entity_schemas_free();
	return 0;
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_typed_load),
	    cmocka_unit_test(test_typed_commit),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown) ? 1 : 0;
}
