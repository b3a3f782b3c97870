/*
 * The compact facts and provenance (store/state_facts.c, migrations 012 and
 * 014). Facts: representative key states' platforms round-trip exactly
 * (three platforms, a withdrawn one, null positions, union values, decimals
 * as strings, unicode, U+0000, odd shapes); the decoder refuses every
 * truncation, random byte flips, absurd counts and deep nesting with
 * CPS_ERR_INVALID (run under ASan); against a real PostgreSQL
 * ($CPSYNC_TEST_PG), a batch writes `facts` and '{}' as `platforms` and
 * loads back equal, and a row written before (jsonb platforms, NULL facts)
 * still loads. Provenance: a person's (a steward's decision, flagged and
 * pending markers, a case, unicode, U+0000) round-trips; the decoder refuses
 * every truncation, other layouts, non-objects and trailing bytes and
 * survives byte flips; a batch writes `prov` for the state and its
 * change-log row, cpsync.provenance_json and the history view give the same
 * tree, and a row written before (jsonb provenance, NULL prov) still loads.
 * Prints sizes and the time of each form's write + read against
 * json_dumps+json_loadb (figures, not asserted).
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

/* A person's platforms as reconcile.c leaves them: three platforms with 15
 * fields each, fields of older events with their own stamps. */
static json_t *person_platforms(void)
{
	static const char *const plats[] = {"province", "city", "shenshan"};
	static const char *const pos[] = {"cpsync.ingest:3:1048576", "0/3A1B2C8", NULL};
	json_t *all = json_object();

	for (int p = 0; p < 3; p++) {
		int64_t eff = 1764806400000 + p * 3600000, src = eff + 1234;
		json_t *fields = json_object(), *plat;

		json_object_set_new(fields, "national_id", json_string("440304199001011234"));
		json_object_set_new(fields, "name", json_string("张三丰"));
		json_object_set_new(fields, "gender", json_string("MALE"));
		json_object_set_new(fields, "birth_date", json_integer(7305));
		json_object_set_new(fields, "registration_region_code", json_string("440304001"));
		json_object_set_new(fields, "residence_region_code", json_string("440304002"));
		json_object_set_new(fields, "residence_address",
		                    cps_test_json("{\"string\": \"深圳市福田区福华一路 88 号\"}"));
		json_object_set_new(fields, "has_residence_permit", json_true());
		json_object_set_new(fields, "disabled", json_false());
		json_object_set_new(fields, "disability_grade",
		                    cps_test_json("{\"DisabilityGrade\": \"GRADE_2\"}"));
		json_object_set_new(fields, "seriously_ill", json_false());
		json_object_set_new(fields, "labour_capacity", json_string("FULL"));
		json_object_set_new(fields, "phone",
		                    p == 2 ? json_null()
		                           : cps_test_json("{\"string\": \"13800138000\"}"));
		json_object_set_new(fields, "household_id",
		                    cps_test_json("{\"string\": \"H-440304-000123\"}"));
		json_object_set_new(fields, "deceased", json_false());
		{
			const char *k;
			json_t *v, *facts = json_object();
			int i = 0;

			json_object_foreach (fields, k, v) {
				/* a third of the fields come from an older event */
				int old = i++ % 3 == 0;

				json_object_set_new(
				    facts, k,
				    json_pack("{s:O, s:I, s:I, s:o}", "v", v, "eff",
				              (json_int_t)(old ? eff - 86400000 : eff), "src",
				              (json_int_t)(old ? src - 86400000 : src), "pos",
				              pos[p] ? json_string(old ? "0/1000" : pos[p])
				                     : json_null()));
			}
			json_decref(fields);
			fields = facts;
		}
		plat = json_pack("{s:b, s:I, s:I, s:o, s:o}", "withdrawn", p == 1, "eff",
		                 (json_int_t)eff, "src", (json_int_t)src, "pos",
		                 pos[p] ? json_string(pos[p]) : json_null(), "fields", fields);
		json_object_set_new(all, plats[p], plat);
	}
	return all;
}

/* j encoded by `encode` into b, which starts with its form's layout byte. */
static void encode_as(cps_tree_encode_fn *encode, int layout, json_t *j, struct cps_buf *b)
{
	char err[CPS_ERRSTR_SIZE];

	cps_buf_init(b, 0);
	if (encode(j, b, err, sizeof(err)) != CPS_OK)
		fail_msg("encode: %s", err);
	assert_int_equal(b->data[0], layout);
}

static void encode_ok(json_t *j, struct cps_buf *b)
{
	encode_as(cps_facts_encode, CPS_FACTS_LAYOUT, j, b);
}

static void round_trip(json_t *j)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf b;
	json_t *back = NULL;

	encode_ok(j, &b);
	if (cps_facts_decode(b.data, b.len, &back, err, sizeof(err)) != CPS_OK)
		fail_msg("decode: %s", err);
	if (!json_equal(j, back)) {
		char *a = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS),
		     *c = json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS);

		fail_msg("round trip differs:\n%s\n%s", a, c);
	}
	json_decref(back);
	cps_buf_release(&b);
}

static void test_round_trips(void **state)
{
	static const char *const trees[] = {
	    "{}",
	    "{\"city\": {\"withdrawn\": true, \"eff\": 5, \"src\": 6, \"pos\": null, \"fields\": {}}}",
	    /* one field stamped as its platform, one of its own, one odd */
	    "{\"city\": {\"withdrawn\": false, \"eff\": -1, \"src\": 0, \"pos\": \"p\", \"fields\": "
	    "{\"a\": {\"v\": 1, \"eff\": -1, \"src\": 0, \"pos\": \"p\"}, \"b\": {\"v\": [1.5, "
	    "-0.25, 1e300, {\"x\": null}], \"eff\": 9223372036854775807, \"src\": "
	    "-9223372036854775808, \"pos\": \"\"}, \"c\": {\"v\": 2, \"eff\": 1}}}}",
	    /* decimals (Avro bytes as JSON strings with U+0000), unicode keys, U+E000 */
	    "{\"zone\": {\"withdrawn\": false, \"eff\": 1, \"src\": 1, \"pos\": null, \"fields\": "
	    "{\"income\": {\"v\": {\"bytes\": \"\\u0000\\u0001\\u00e8\"}, \"eff\": 1, \"src\": 1, "
	    "\"pos\": null}, \"名字\": {\"v\": \"\\ue000\\ud83d\\ude00\", \"eff\": 2, \"src\": 1, "
	    "\"pos\": \"\\u0000\"}}}}",
	    /* shapes the compact form does not take, kept whole */
	    "{\"a\": 1, \"b\": null, \"c\": {\"withdrawn\": 0, \"eff\": 1, \"src\": 1, \"pos\": null, "
	    "\"fields\": {}}, \"d\": {\"withdrawn\": false, \"eff\": 1.0, \"src\": 1, \"pos\": null, "
	    "\"fields\": {}}, \"e\": {\"withdrawn\": false, \"eff\": 1, \"src\": 1, \"pos\": null, "
	    "\"fields\": {}, \"extra\": true}, \"f\": {\"withdrawn\": false, \"eff\": 1, \"src\": 1, "
	    "\"pos\": 3, \"fields\": {}}, \"g\": {\"withdrawn\": false, \"eff\": 1, \"src\": 1, "
	    "\"pos\": null, \"fields\": {\"x\": {\"v\": 1, \"eff\": 1, \"src\": 1, \"pos\": null, "
	    "\"y\": 2}, \"z\": 5, \"w\": {\"eff\": 1, \"src\": 1, \"pos\": null, \"q\": 1}}}}",
	};
	json_t *person = person_platforms(), *key_nul = json_object();

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(trees); i++) {
		json_t *j = cps_test_json(trees[i]);

		round_trip(j);
		json_decref(j);
	}
	round_trip(person);
	/* a key holding U+0000 keeps its length (json_equal cannot compare it) */
	json_object_setn_new(key_nul, "a\0b", 3, json_pack("{s:i}", "k", 1));
	{
		char err[CPS_ERRSTR_SIZE];
		struct cps_buf b;
		json_t *back = NULL;

		encode_ok(key_nul, &b);
		assert_int_equal(cps_facts_decode(b.data, b.len, &back, err, sizeof(err)), CPS_OK);
		assert_true(json_equal(json_object_getn(back, "a\0b", 3),
		                       json_object_getn(key_nul, "a\0b", 3)));
		assert_null(json_object_get(back, "a"));
		json_decref(back);
		cps_buf_release(&b);
	}
	json_decref(key_nul);
	json_decref(person);
}

/* Nesting: what the encoder writes the decoder reads; deeper is refused. */
/* The layout's bytes do not move: rows written by earlier builds are read
 * by later ones, and the encoder is rewritten for speed now and then. A
 * platform with its own stamp, fields stamped as it, two sharing another
 * stamp, one with a third, one not compact (a fifth member). */
static void test_layout_bytes(void **state)
{
	static const char tree[] =
	    "{\"province\": {\"withdrawn\": false, \"eff\": 10, \"src\": 11, \"pos\": \"t@7\","
	    " \"fields\": {\"name\": {\"v\": \"A\", \"eff\": 10, \"src\": 11, \"pos\": \"t@7\"},"
	    " \"age\": {\"v\": 3, \"eff\": 4, \"src\": 5, \"pos\": null},"
	    " \"phone\": {\"v\": null, \"eff\": 4, \"src\": 5, \"pos\": null},"
	    " \"sex\": {\"v\": true, \"eff\": -1, \"src\": 2, \"pos\": \"f#1\"},"
	    " \"odd\": {\"v\": 1.5, \"eff\": 1, \"src\": 1, \"pos\": null, \"x\": 0}}},"
	    " \"city\": {\"withdrawn\": true, \"eff\": 1, \"src\": 1, \"pos\": null, \"fields\": {}}}";
	static const char want[] =
	    "01020870726f76696e636501001416010374403702080a000104010366233105046e616d650105014103616765"
	    "0203060570686f6e650200037365780302036f6464000705017604000000000000f83f03656666030203737263"
	    "030203706f730001780300046369747901010202000000";
	json_t *j = json_loads(tree, 0, NULL);
	char hex[2 * 512 + 1];
	struct cps_buf b;

	(void)state;
	assert_non_null(j);
	encode_ok(j, &b);
	assert_true(b.len < 512);
	for (size_t i = 0; i < b.len; i++)
		snprintf(hex + 2 * i, 3, "%02x", b.data[i]);
	assert_string_equal(hex, want);
	cps_buf_release(&b);
	json_decref(j);
}

static void test_depth(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *deep = json_array(), *top, *back = NULL;
	struct cps_buf b;

	(void)state;
	for (int i = 0; i < CPS_FACTS_MAX_DEPTH + 5; i++)
		deep = json_pack("[o]", deep);
	top = json_pack("{s:o}", "p", deep);
	cps_buf_init(&b, 0);
	assert_int_equal(cps_facts_encode(top, &b, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "deeper"));
	json_decref(top);
	/* as deep as allowed: a platform (depth 1) holding arrays to depth 64 */
	deep = json_array();
	for (int i = 0; i < CPS_FACTS_MAX_DEPTH - 2; i++)
		deep = json_pack("[o]", deep);
	top = json_pack("{s:o}", "p", deep);
	round_trip(top);
	json_decref(top);
	/* hand-made bytes nesting 1,000 arrays */
	cps_buf_release(&b);
	cps_buf_init(&b, 0);
	cps_buf_append(&b, "\x01\x01\x01p\x00", 5);
	for (int i = 0; i < 1000; i++)
		cps_buf_append(&b, "\x06\x01", 2);
	cps_buf_append_byte(&b, 0);
	assert_int_equal(cps_facts_decode(b.data, b.len, &back, err, sizeof(err)), CPS_ERR_INVALID);
	assert_null(back);
	assert_non_null(strstr(err, "too deep"));
	cps_buf_release(&b);
}

/* `decode` refuses p[0..n) with CPS_ERR_INVALID, no tree, and an error
 * that starts with `what`. */
static void expect_invalid(cps_tree_decode_fn *decode, const char *what, const uint8_t *p, size_t n)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *back = (json_t *)1;

	assert_int_equal(decode(p, n, &back, NULL, err, sizeof(err)), CPS_ERR_INVALID);
	assert_null(back);
	assert_ptr_equal(strstr(err, what), err);
}

/* `decode` refuses every truncation of the encoding `b`, each in a buffer
 * of exactly its length (ASan sees overreads), and reads `rounds` random
 * flips of one to four bytes as some object or refuses them. */
static void abuse(cps_tree_decode_fn *decode, const char *what, const struct cps_buf *b, int rounds,
                  unsigned seed)
{
	char err[CPS_ERRSTR_SIZE];
	size_t ok = 0;

	for (size_t n = 0; n < b->len; n++) {
		uint8_t *cut = malloc(n ? n : 1);

		memcpy(cut, b->data, n);
		expect_invalid(decode, what, cut, n);
		free(cut);
	}
	for (int round = 0; round < rounds; round++) {
		uint8_t *bad = malloc(b->len);
		json_t *back = NULL;
		int rc;

		memcpy(bad, b->data, b->len);
		for (int k = 0, flips = 1 + rand_r(&seed) % 4; k < flips; k++)
			bad[(size_t)rand_r(&seed) % b->len] ^= (uint8_t)(1 + rand_r(&seed) % 255);
		rc = decode(bad, b->len, &back, NULL, err, sizeof(err));
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
	printf("%s%d corrupted encodings: %zu read as an object, the rest refused\n", what, rounds,
	       ok);
}

static void test_hostile(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
	} absurd[] = {
	    {"", 0},
	    {"\x02\x00", 2},                                      /* an unknown layout */
	    {"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11}, /* 2^64-1 platforms */
	    {"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11}, /* a varint past 64 bits */
	    {"\x01\x01\xff\xff\xff\x0f", 6},                      /* a name of 4 GB */
	    {"\x01\x01\x01p\x00\x05\xff\xff\xff\xff\x0f", 11},    /* a string of 4 GB */
	    {"\x01\x01\x01p\x00\x06\xff\xff\xff\xff\x0f", 11},    /* an array of 4G values */
	    {"\x01\x01\x01p\x00\x07\xff\xff\xff\xff\x0f", 11},    /* an object of 4G members */
	    {"\x01\x01\x01p\x00\x08", 6},                         /* an unknown tag */
	    {"\x01\x01\x01p\x02\x00", 6},                         /* an unknown platform kind */
	    {"\x01\x01\x01p\x00\x05\x01\xff", 8},                 /* a string not UTF-8 */
	    {"\x01\x01\x01p\x00\x04\x00\x00\x00\x00\x00\x00\xf0\x7f", 14}, /* infinity */
	    {"\x01\x01\x01p\x00\x00\x00", 7},                  /* a byte after the end */
	    {"\x01\x01\x01p\x01\x02\x00\x00\x00\x00\x00", 11}, /* withdrawn 2 */
	    {"\x01\x01\x01p\x01\x00\x00\x00\x00\x00\x01\x01x\x05\x00", 15}, /* stamp 5 of 1 */
	};
	char err[CPS_ERRSTR_SIZE];
	json_t *person = person_platforms(), *back;
	struct cps_buf b;

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(absurd); i++)
		expect_invalid(cps_facts_decode_sized, "facts: ", (const uint8_t *)absurd[i].bytes,
		               absurd[i].n);
	assert_int_equal(cps_facts_decode(NULL, 0, &back, err, sizeof(err)), CPS_ERR_INVALID);
	encode_ok(person, &b);
	abuse(cps_facts_decode_sized, "facts: ", &b, 20000, 20261204);
	cps_buf_release(&b);
	json_decref(person);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Figures for the commit: sizes, and the time of each form's write + read. */
static void test_figures(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *person = person_platforms(), *back;
	char *text = json_dumps(person, JSON_COMPACT);
	size_t text_len = strlen(text), est = 0;
	struct cps_buf b;
	const int rounds = 2000;
	double t0, t_json, t_facts;

	(void)state;
	encode_ok(person, &b);
	assert_int_equal(cps_facts_decode_sized(b.data, b.len, &back, &est, err, sizeof(err)),
	                 CPS_OK);
	json_decref(back);
	/* the estimate of the JSON text stays near it: the cache sizes by it */
	assert_true(est > text_len * 8 / 10 && est < text_len * 12 / 10);
	assert_true(b.len * 2 < text_len);
	t0 = now_s();
	for (int i = 0; i < rounds; i++) {
		char *t = json_dumps(person, JSON_COMPACT);
		json_t *j = json_loadb(t, strlen(t), JSON_ALLOW_NUL, NULL);

		json_decref(j);
		free(t);
	}
	t_json = (now_s() - t0) / rounds;
	t0 = now_s();
	for (int i = 0; i < rounds; i++) {
		struct cps_buf o;

		cps_buf_init(&o, 0);
		cps_facts_encode(person, &o, err, sizeof(err));
		cps_facts_decode(o.data, o.len, &back, err, sizeof(err));
		json_decref(back);
		cps_buf_release(&o);
	}
	t_facts = (now_s() - t0) / rounds;
	printf("facts: a person's platforms: JSON text %zu bytes, facts %zu bytes (estimate of "
	       "the text %zu); json_dumps+json_loadb %.1f us, encode+decode %.1f us (this build)\n",
	       text_len, b.len, est, t_json * 1e6, t_facts * 1e6);
	free(text);
	cps_buf_release(&b);
	json_decref(person);
}

/* ---- the store: written as facts, older rows read from jsonb ------------ */

static PGconn *side(void)
{
	PGconn *c = PQconnectdb(testdb.conninfo);

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	return c;
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

static void state_init_ok(struct cps_key_state *st, const char *key)
{
	assert_int_equal(cps_key_state_init(st, "person", key), CPS_OK);
}

static void test_store_facts(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = NULL;
	struct cps_key_state w, old, fresh, *loads[2] = {&old, &fresh};
	struct cps_store_batch batch = {0};
	json_t *person = person_platforms(), *old_tree;
	PGconn *c = side();
	PGresult *r;

	(void)state;
	assert_int_equal(cps_store_open(testdb.conninfo, &s, err, sizeof(err)), CPS_OK);
	/* a row as an older cpsync wrote it: jsonb platforms, no facts */
	old_tree = cps_test_json(
	    "{\"city\": {\"withdrawn\": false, \"eff\": 1, \"src\": 2, \"pos\": null, "
	    "\"fields\": {\"name\": {\"v\": \"李四\", \"eff\": 1, \"src\": 2, \"pos\": "
	    "null}}}}");
	r = PQexec(c,
	           "INSERT INTO cpsync.records (entity, key, version, record, platforms) VALUES "
	           "('person', 'old-1', 1, '{\"name\": \"李四\"}', '{\"city\": {\"withdrawn\": "
	           "false, \"eff\": 1, \"src\": 2, \"pos\": null, \"fields\": {\"name\": {\"v\": "
	           "\"李四\", \"eff\": 1, \"src\": 2, \"pos\": null}}}}')");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	/* a state cpsync writes now */
	state_init_ok(&w, "new-1");
	w.version = 1;
	json_decref(w.platforms);
	w.platforms = json_incref(person);
	json_decref(w.record);
	w.record = cps_test_json("{\"name\": \"张三丰\"}");
	batch.states = (struct cps_key_state *[]){&w};
	batch.n_states = 1;
	if (cps_store_commit_batch(s, &batch, NULL, err, sizeof(err)) != CPS_OK)
		fail_msg("commit: %s", err);
	assert_sql_value(
	    c,
	    "SELECT platforms::text || ' ' || (facts IS NOT NULL)::text || ' ' || "
	    "(octet_length(facts) < 1500)::text FROM cpsync.records WHERE key = 'new-1'",
	    "{} true true");
	assert_sql_value(c, "SELECT (facts IS NULL)::text FROM cpsync.records WHERE key = 'old-1'",
	                 "true");
	/* both load through the store */
	state_init_ok(&old, "old-1");
	state_init_ok(&fresh, "new-1");
	if (cps_store_load_states(s, loads, 2, err, sizeof(err)) != CPS_OK)
		fail_msg("load: %s", err);
	assert_true(json_equal(old.platforms, old_tree));
	assert_true(json_equal(fresh.platforms, person));
	assert_true(fresh.mem_hint > 3000); /* the JSON text it would be, not the bytes */
	/* a corrupt facts column is an error naming the bytes, not the key */
	r = PQexec(c, "UPDATE cpsync.records SET facts = '\\x0101'::bytea WHERE key = 'new-1'");
	PQclear(r);
	assert_int_equal(cps_store_load_states(s, loads + 1, 1, err, sizeof(err)), CPS_ERR_FATAL);
	assert_non_null(strstr(err, "facts"));
	assert_null(strstr(err, "new-1"));
	cps_key_state_release(&w);
	cps_key_state_release(&old);
	cps_key_state_release(&fresh);
	json_decref(old_tree);
	json_decref(person);
	PQfinish(c);
	cps_store_close(s);
}

/* migration 012's SQL reader gives the jsonb the C writer of jsonb would */
static void sql_reader_equal(PGconn *c, json_t *tree)
{
	struct cps_buf b;
	int ok;
	char *text = cps_jsonb_param(tree, NULL, &ok);
	const char *v[2];
	int len[2], fmt[2] = {1, 0};
	PGresult *r;

	encode_ok(tree, &b);
	v[0] = (const char *)b.data;
	len[0] = (int)b.len;
	v[1] = text;
	len[1] = 0;
	r = PQexecParams(c,
	                 "SELECT cpsync.facts_json($1::bytea) = $2::jsonb, "
	                 "cpsync.facts_json($1::bytea)::text",
	                 2, NULL, v, len, fmt, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("facts_json: %s", PQerrorMessage(c));
	if (strcmp(PQgetvalue(r, 0, 0), "t"))
		fail_msg("facts_json differs:\n%s\n%s", PQgetvalue(r, 0, 1), text);
	PQclear(r);
	/* a truncation is an error of the function, not a wrong tree */
	len[0] = (int)b.len - 1;
	r = PQexecParams(c, "SELECT cpsync.facts_json($1::bytea)", 1, NULL, v, len, fmt, 0);
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	PQclear(r);
	free(text);
	cps_buf_release(&b);
}

static void test_sql_reader(void **state)
{
	static const char *const trees[] = {
	    "{}",
	    "{\"city\": {\"withdrawn\": true, \"eff\": 5, \"src\": 6, \"pos\": null, \"fields\": {}}}",
	    "{\"city\": {\"withdrawn\": false, \"eff\": -1, \"src\": 0, \"pos\": \"p\", \"fields\": "
	    "{\"a\": {\"v\": 1, \"eff\": -1, \"src\": 0, \"pos\": \"p\"}, \"b\": {\"v\": [1.5, "
	    "-0.25, 0.1, 5e-324, -1.7976931348623157e308, {\"x\": null}], \"eff\": "
	    "9223372036854775807, \"src\": -9223372036854775808, \"pos\": \"\"}, \"c\": {\"v\": "
	    "2, \"eff\": 1}}}}",
	    "{\"zone\": {\"withdrawn\": false, \"eff\": 1, \"src\": 1, \"pos\": null, \"fields\": "
	    "{\"income\": {\"v\": {\"bytes\": \"\\u0000\\u0001\\u00e8\"}, \"eff\": 1, \"src\": 1, "
	    "\"pos\": null}, \"名字\": {\"v\": \"\\ue000\\ud83d\\ude00\", \"eff\": 2, \"src\": 1, "
	    "\"pos\": \"\\u0000\"}}}}",
	    "{\"a\": 1, \"b\": null, \"e\": {\"withdrawn\": false, \"eff\": 1, \"src\": 1, "
	    "\"pos\": null, \"fields\": {}, \"extra\": true}, \"g\": {\"withdrawn\": false, "
	    "\"eff\": 1, \"src\": 1, \"pos\": null, \"fields\": {\"z\": 5, \"w\": [true]}}}",
	};
	json_t *person = person_platforms();
	PGconn *c = side();

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(trees); i++) {
		json_t *j = cps_test_json(trees[i]);

		sql_reader_equal(c, j);
		json_decref(j);
	}
	sql_reader_equal(c, person);
	json_decref(person);
	PQfinish(c);
}

/* ---- the provenance (migration 014) -------------------------------------- */

/* A person's provenance: an entry for each field person_platforms() states,
 * most won by the province, then a steward's decision, flagged and pending
 * markers and a rule case. */
static json_t *person_provenance(void)
{
	json_t *plats = person_platforms(), *prov = json_object(), *v;
	const char *field;
	size_t i = 0;

	json_object_foreach (json_object_get(json_object_get(plats, "city"), "fields"), field, v) {
		bool shenshan = i % 4 == 3;

		json_object_set_new(
		    prov, field,
		    json_pack("{s:s, s:s, s:I, s:I, s:s, s:i}", "platform",
		              shenshan ? "shenshan" : "province", "pos",
		              shenshan ? "shenshan:person-20261204.avro#224"
		                       : "province:province.person/5@285",
		              "eff", (json_int_t)1727354174826, "src", (json_int_t)1796378299235,
		              "rule", i++ % 2 ? "latest" : "precedence", "rule_version", 3));
	}
	json_decref(plats);
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

/* The decoder makes each repeated short string and integer once: two
 * province-backed fields share their platform, position and stamp values
 * (json_intern.c), and the tree still equals the one encoded. */
static void assert_scalars_shared(json_t *prov)
{
	json_t *first = NULL, *v;
	const char *field;
	int pairs = 0;

	json_object_foreach (prov, field, v) {
		if (strcmp(json_string_value(json_object_get(v, "platform")) ?: "", "province"))
			continue;
		if (!first) {
			first = v;
			continue;
		}
		for (const char *const *m = (const char *const[]){"platform", "pos", "eff", "src",
		                                                  "rule_version", NULL};
		     *m; m++)
			assert_ptr_equal(json_object_get(first, *m), json_object_get(v, *m));
		pairs++;
	}
	assert_true(pairs > 2);
}

/* Round trip, the text estimate, and the time of each form's write + read. */
static void test_prov_round_trip(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *prov = person_provenance(), *back = NULL;
	char *text = json_dumps(prov, JSON_COMPACT);
	size_t size = 0, text_len = strlen(text);
	struct cps_buf b;
	double t0, t1, t2;
	enum { N = 2000 };

	(void)state;
	encode_as(cps_prov_encode, CPS_PROV_LAYOUT, prov, &b);
	if (cps_prov_decode(b.data, b.len, &back, &size, err, sizeof(err)) != CPS_OK)
		fail_msg("decode: %s", err);
	assert_true(json_equal(prov, back));
	assert_scalars_shared(back);
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
	       "%.1f us binary (this build)\n",
	       text_len, b.len, (t1 - t0) / N * 1e6, (t2 - t1) / N * 1e6);
	free(text);
	cps_buf_release(&b);
	json_decref(prov);
}

static void test_prov_hostile(void **state)
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
	json_t *prov = person_provenance();
	struct cps_buf b;

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(absurd); i++)
		expect_invalid(cps_prov_decode, "provenance: ", (const uint8_t *)absurd[i].bytes,
		               absurd[i].n);
	encode_as(cps_prov_encode, CPS_PROV_LAYOUT, prov, &b);
	abuse(cps_prov_decode, "provenance: ", &b, 10000, 20261205);
	cps_buf_release(&b);
	json_decref(prov);
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

/* A batch writes `prov` (the state and its change-log row), SQL reads the
 * same tree, and a row written before 014 still loads. */
static void test_store_prov(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s = NULL;
	struct cps_key_state w, old, fresh, *loads[2] = {&old, &fresh};
	json_t *prov = person_provenance(), *old_tree, *changed = cps_test_json("[\"name\"]");
	const uint8_t payload[] = {0xc3, 0x01};
	struct cps_store_emit emit = {"person", "prov-new", 1,       CPS_OP_UPSERT, NULL,
	                              NULL,     changed,    "topic", payload,       2};
	struct cps_store_batch batch = {0};
	PGconn *c = side();
	PGresult *r;

	(void)state;
	assert_int_equal(cps_store_open(testdb.conninfo, &s, err, sizeof(err)), CPS_OK);
	/* a row as an older cpsync wrote it: jsonb provenance, no prov */
	old_tree = cps_test_json("{\"name\": {\"platform\": \"city\", \"pos\": null, \"eff\": 1, "
	                         "\"src\": 2, \"rule\": \"latest\", \"rule_version\": 1}}");
	r = PQexec(c, "INSERT INTO cpsync.records (entity, key, version, record, provenance) "
	              "VALUES ('person', 'prov-old', 1, '{\"name\": \"李四\"}', '{\"name\": "
	              "{\"platform\": \"city\", \"pos\": null, \"eff\": 1, \"src\": 2, \"rule\": "
	              "\"latest\", \"rule_version\": 1}}')");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	/* a state cpsync writes now, with the change-log row of its version */
	state_init_ok(&w, "prov-new");
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
	                 "cpsync.records WHERE key = 'prov-new'",
	                 "{} true");
	assert_sql_value(c,
	                 "SELECT (c.prov = r.prov AND c.provenance IS NULL)::text FROM "
	                 "cpsync.changes c JOIN cpsync.records r USING (entity, key, version) "
	                 "WHERE key = 'prov-new'",
	                 "true");
	/* SQL reads the same tree, from the table and from the history view */
	assert_sql_json(c,
	                "SELECT cpsync.provenance_json(prov) FROM cpsync.records "
	                "WHERE key = 'prov-new'",
	                prov);
	assert_sql_json(c, "SELECT provenance FROM cpsync.record_history WHERE key = 'prov-new'",
	                prov);
	r = PQexec(c, "SELECT cpsync.provenance_json('\\x0107'::bytea)");
	assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
	PQclear(r);
	/* both load through the store */
	state_init_ok(&old, "prov-old");
	state_init_ok(&fresh, "prov-new");
	if (cps_store_load_states(s, loads, 2, err, sizeof(err)) != CPS_OK)
		fail_msg("load: %s", err);
	assert_true(json_equal(old.provenance, old_tree));
	assert_true(json_equal(fresh.provenance, prov));
	assert_true(fresh.mem_hint > 2000); /* the JSON text it would be, not the bytes */
	/* a corrupt prov column is an error naming the provenance, not the key */
	r = PQexec(c, "UPDATE cpsync.records SET prov = '\\x0107'::bytea WHERE key = 'prov-new'");
	PQclear(r);
	assert_int_equal(cps_store_load_states(s, loads + 1, 1, err, sizeof(err)), CPS_ERR_FATAL);
	assert_non_null(strstr(err, "provenance"));
	assert_null(strstr(err, "prov-new"));
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
	if (cps_testdb_create(&testdb, "cps_facts", -1) || cps_testdb_migrate(&testdb))
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
	    cmocka_unit_test(test_round_trips),  cmocka_unit_test(test_layout_bytes),
	    cmocka_unit_test(test_depth),        cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_figures),      cmocka_unit_test(test_store_facts),
	    cmocka_unit_test(test_sql_reader),   cmocka_unit_test(test_prov_round_trip),
	    cmocka_unit_test(test_prov_hostile), cmocka_unit_test(test_store_prov),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
