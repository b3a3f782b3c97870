/*
 * The pgoutput decoder over real bytes: a fresh database, a pgoutput slot,
 * changes (insert, update, delete, truncate, DDL), then the slot's messages
 * read with pg_logical_slot_get_binary_changes and decoded one by one; also
 * truncated input, CopyData frames, status updates and the text -> Avro JSON
 * conversions of the table mapping; and the capture hot path (column plan +
 * row fill by index) giving the very bytes of the JSON way, row after row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec/avro_json.h"
#include "codec/codec.h"
#include "base/common.h"
#include "connectors/postgres/pg_mapping.h"
#include "connectors/postgres/pgoutput.h"
#include "codec/schema.h"
#include "testdb.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* Every message of the slot so far, decoded in order; kinds into `kinds`. */
static size_t drain(PGconn *c, struct cps_pgo_decoder *d, struct cps_pgo_relcache *rc, char *kinds,
                    size_t cap, char texts[][64])
{
	PGresult *r = PQexecParams(c,
	                           "SELECT data FROM pg_logical_slot_get_binary_changes('s', NULL, "
	                           "NULL, 'proto_version', '1', 'publication_names', 'p')",
	                           0, NULL, NULL, NULL, NULL, 1);
	size_t n = 0;

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(r) && n < cap; i++) {
		struct cps_pgo_msg m;
		char err[CPS_ERRSTR_SIZE];
		const uint8_t *b = (const uint8_t *)PQgetvalue(r, i, 0);
		size_t len = (size_t)PQgetlength(r, i, 0);

		if (cps_pgo_decode(d, b, len, &m, err, sizeof(err)) != CPS_OK)
			fail_msg("message %d: %s", i, err);
		/* every strict prefix is refused, never read past */
		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);
			struct cps_pgo_msg m2;
			struct cps_pgo_decoder d2;

			cps_pgo_decoder_init(&d2);
			memcpy(copy, b, cut);
			assert_int_not_equal(cps_pgo_decode(&d2, copy, cut, &m2, err, sizeof(err)),
			                     CPS_OK);
			cps_pgo_decoder_release(&d2);
			free(copy);
		}
		texts[n][0] = '\0';
		if (m.kind == CPS_PGO_RELATION)
			assert_non_null(cps_pgo_relcache_put(rc, &m));
		if ((m.kind == CPS_PGO_INSERT || m.kind == CPS_PGO_UPDATE) && m.new_tuple.n >= 2 &&
		    m.new_tuple.vals[1].kind == 't')
			snprintf(texts[n], 64, "%.*s", (int)m.new_tuple.vals[1].len,
			         m.new_tuple.vals[1].data);
		if (m.kind == CPS_PGO_UPDATE && m.new_tuple.n >= 3)
			texts[n][63] = m.new_tuple.vals[2].kind; /* the big column: 'u' */
		if (m.kind == CPS_PGO_DELETE) {
			assert_int_equal(m.old_kind, 'K');
			assert_int_equal(m.old_tuple.vals[0].kind, 't');
			snprintf(texts[n], 64, "%.*s", (int)m.old_tuple.vals[0].len,
			         m.old_tuple.vals[0].data);
		}
		if (m.kind == CPS_PGO_TRUNCATE)
			assert_int_equal(m.n_relids, 1);
		kinds[n++] = (char)m.kind;
	}
	PQclear(r);
	return n;
}

static void test_real_messages(void **state)
{
	struct cps_testdb db;
	PGconn *c;
	char kinds[64], texts[64][64];
	struct cps_pgo_decoder d;
	struct cps_pgo_relcache rc;
	struct cps_pgo_relation *rel;
	size_t n;

	/* the test needs a real server: fail, never skip */
	assert_int_equal(cps_testdb_create(&db, "cps_pgoutput", -1), 0);
	c = PQconnectdb(db.conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	cps_pgo_decoder_init(&d);
	cps_pgo_relcache_init(&rc);
	exec_ok(c, "CREATE TABLE t (id text PRIMARY KEY, name text, big text)");
	exec_ok(c, "CREATE PUBLICATION p FOR TABLE t");
	exec_ok(c, "SELECT pg_create_logical_replication_slot('s', 'pgoutput')");
	exec_ok(c, "INSERT INTO t VALUES ('k1', 'alpha', (SELECT string_agg(md5(i::text), '') "
	           "FROM generate_series(1, 400) i))");
	exec_ok(c, "UPDATE t SET name = 'beta' WHERE id = 'k1'");
	exec_ok(c, "DELETE FROM t WHERE id = 'k1'");
	exec_ok(c, "TRUNCATE t");
	n = drain(c, &d, &rc, kinds, sizeof(kinds), texts);
	/* B R I C, B U C (Relation once per session), B D C, B R T C */
	assert_true(n >= 12);
	assert_memory_equal(kinds, "BRICBUCBDC", 10);
	assert_string_equal(texts[2], "alpha");
	assert_string_equal(texts[5], "beta");
	assert_int_equal(texts[5][63], 'u'); /* the TOASTed column was unchanged */
	assert_string_equal(texts[8], "k1");
	assert_non_null(memchr(kinds + 10, 'T', n - 10));
	rel = cps_pgo_relcache_get(&rc, rc.rels[0].relid);
	assert_non_null(rel);
	assert_string_equal(rel->relname, "t");
	assert_int_equal(rel->ncols, 3);
	assert_int_equal(rel->colflags[0], 1); /* key column */

	/* DDL: the next Relation message replaces the cached one */
	exec_ok(c, "ALTER TABLE t ADD COLUMN extra int");
	exec_ok(c, "INSERT INTO t VALUES ('k2', 'gamma', 'x', 7)");
	n = drain(c, &d, &rc, kinds, sizeof(kinds), texts);
	assert_int_equal(n, 4);
	assert_memory_equal(kinds, "BRIC", 4);
	assert_int_equal(rc.n, 1);
	assert_int_equal(rc.rels[0].ncols, 4);
	assert_string_equal(rc.rels[0].colnames[3], "extra");
	assert_string_equal(texts[2], "gamma");

	exec_ok(c, "SELECT pg_drop_replication_slot('s')");
	PQfinish(c);
	cps_testdb_drop(&db);
	cps_pgo_relcache_release(&rc);
	cps_pgo_decoder_release(&d);
	(void)state;
}

static void test_frames(void **state)
{
	uint8_t k[18] = {'k', 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 9, 1};
	uint8_t w[26] = {'w', 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0,
	                 0,   0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, 'M'};
	uint8_t r[34];
	struct cps_pgo_frame f;
	char err[CPS_ERRSTR_SIZE], txt[40];
	uint64_t lsn;

	assert_int_equal(cps_pgo_parse_frame(k, sizeof(k), &f, err, sizeof(err)), CPS_OK);
	assert_int_equal(f.kind, 'k');
	assert_int_equal(f.wal_end, 0x01020304u);
	assert_true(f.reply_requested);
	assert_int_equal(cps_pgo_parse_frame(k, sizeof(k) - 1, &f, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_int_equal(cps_pgo_parse_frame(w, sizeof(w), &f, err, sizeof(err)), CPS_OK);
	assert_int_equal(f.wal_start, 5);
	assert_int_equal(f.len, 1);
	w[0] = 'x';
	assert_int_equal(cps_pgo_parse_frame(w, sizeof(w), &f, err, sizeof(err)), CPS_ERR_INVALID);
	assert_int_equal(cps_pgo_status_update(r, 0x10, 0x20, 0x30, 0x40, false), 34);
	assert_int_equal(r[0], 'r');
	assert_int_equal(r[8], 0x10);
	assert_int_equal(r[16], 0x20);
	assert_int_equal(r[24], 0x30);
	assert_int_equal(r[32], 0x40);
	assert_int_equal(r[33], 0);
	cps_pgo_lsn_format(0x16B3748ULL | (3ULL << 32), txt, sizeof(txt));
	assert_string_equal(txt, "3/16B3748");
	assert_int_equal(cps_pgo_lsn_parse("3/16B3748", &lsn), 0);
	assert_int_equal(lsn, (3ULL << 32) | 0x16B3748ULL);
	assert_int_equal(cps_pgo_lsn_parse("3/zz", &lsn), -1);
	(void)state;
}

/* A logical message (pg_logical_emit_message, the incremental snapshot's
 * watermarks): prefix and content decoded; a content longer than the
 * message is refused. */
static void test_logical_message(void **state)
{
	uint8_t m[] = {'M', 1,   0,   0, 0, 0, 0, 0, 0x12, 0x34, 'c', 'p', 's',
	               'y', 'n', 'c', 0, 0, 0, 0, 5, 'h',  'e',  'l', 'l', 'o'};
	struct cps_pgo_decoder d;
	struct cps_pgo_msg msg;
	char err[CPS_ERRSTR_SIZE];

	cps_pgo_decoder_init(&d);
	assert_int_equal(cps_pgo_decode(&d, m, sizeof(m), &msg, err, sizeof(err)), CPS_OK);
	assert_int_equal(msg.kind, CPS_PGO_MESSAGE);
	assert_int_equal(msg.flags, 1);
	assert_int_equal(msg.lsn, 0x1234);
	assert_string_equal(msg.name, "cpsync");
	assert_int_equal(msg.content_len, 5);
	assert_memory_equal(msg.content, "hello", 5);
	m[20] = 6;
	assert_int_equal(cps_pgo_decode(&d, m, sizeof(m), &msg, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "message content"));
	cps_pgo_decoder_release(&d);
	(void)state;
}

static void expect_json(struct cps_schema *s, const char *type, const char *text, const char *want)
{
	json_t *t = json_loads(type, JSON_DECODE_ANY, NULL), *out = NULL;
	char err[CPS_ERRSTR_SIZE], *got;

	assert_non_null(t);
	if (cps_pg_text_to_json(s, t, text, &out, err, sizeof(err)) != CPS_OK)
		fail_msg("%s from '%s': %s", type, text ? text : "NULL", err);
	got = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ENSURE_ASCII);
	if (strcmp(got, want))
		fail_msg("%s from '%s': got %s, want %s", type, text ? text : "NULL", got, want);
	free(got);
	json_decref(out);
	json_decref(t);
}

static void expect_refused(struct cps_schema *s, const char *type, const char *text)
{
	json_t *t = json_loads(type, JSON_DECODE_ANY, NULL), *out = NULL;
	char err[CPS_ERRSTR_SIZE];

	assert_int_not_equal(cps_pg_text_to_json(s, t, text, &out, err, sizeof(err)), CPS_OK);
	assert_null(out);
	json_decref(t);
}

static void test_text_conversions(void **state)
{
	char path[1024], err[CPS_ERRSTR_SIZE];
	struct cps_catalog *cat;
	struct cps_schema *hh;

	snprintf(path, sizeof(path), "%s", getenv("CPSYNC_SCHEMA_DIR"));
	assert_int_equal(cps_catalog_load_dir(path, &cat, err, sizeof(err)), CPS_OK);
	hh = cps_catalog_by_entity(cat, "household");
	assert_non_null(hh);
	expect_json(hh, "\"string\"", "H1", "\"H1\"");
	expect_json(hh, "{\"type\":\"int\",\"logicalType\":\"date\"}", "1970-01-02", "1");
	expect_json(hh, "{\"type\":\"int\",\"logicalType\":\"date\"}", "2024-02-29", "19782");
	expect_json(hh, "{\"type\":\"int\",\"logicalType\":\"date\"}", "1969-12-31", "-1");
	expect_json(hh, "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}",
	            "1970-01-01 00:00:01.5+00", "1500");
	expect_json(hh, "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}",
	            "1970-01-01 08:00:00+08", "0");
	expect_json(hh, "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}",
	            "2000-01-01 00:00:00.000001", "946684800000001");
	expect_json(hh, "[\"null\",\"string\"]", NULL, "null");
	expect_json(hh, "[\"null\",\"string\"]", "x", "{\"string\":\"x\"}");
	expect_json(hh, "[\"null\",{\"type\":\"int\",\"logicalType\":\"date\"}]", "1970-01-11",
	            "{\"int\":10}");
	expect_json(hh, "\"boolean\"", "t", "true");
	expect_json(hh, "\"long\"", "-42", "-42");
	expect_json(hh, "\"double\"", "1.5", "1.5");
	/* decimal(12,2): 1234.50 -> unscaled 123450 = 0x01E23A */
	expect_json(hh, "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"scale\":2}", "1234.5",
	            "\"\\u0001\\u00E2:\"");
	/* -1.00 -> -100 = 0x9C */
	expect_json(hh, "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"scale\":2}", "-1.00",
	            "\"\\u009C\"");
	/* 1.28 -> 128 = 0x0080 (keeps the sign byte) */
	expect_json(hh, "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"scale\":2}", "1.28",
	            "\"\\u0000\\u0080\"");
	expect_json(hh, "\"HouseholdType\"", "URBAN", "\"URBAN\"");
	expect_json(hh, "\"bytes\"", "\\x00ff", "\"\\u0000\\u00FF\"");
	/* an array of records from jsonb text */
	expect_json(
	    hh,
	    "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"M\","
	    "\"fields\":[{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"d\",\"type\":"
	    "[\"null\",{\"type\":\"int\",\"logicalType\":\"date\"}]}]}}",
	    "[{\"a\": \"x\", \"d\": \"1970-01-03\", \"zz\": 1}, {\"a\": \"y\", \"d\": null}]",
	    "[{\"a\":\"x\",\"d\":{\"int\":2}},{\"a\":\"y\",\"d\":null}]");
	expect_refused(hh, "\"int\"", "12x");
	expect_refused(hh, "\"int\"", "99999999999");
	expect_refused(hh, "\"string\"", NULL);
	expect_refused(hh, "{\"type\":\"int\",\"logicalType\":\"date\"}", "2024-13-01");
	expect_refused(hh, "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"scale\":2}", "1.234");
	expect_refused(hh, "{\"type\":\"array\",\"items\":\"int\"}", "[1,");
	cps_catalog_free(cat);
	(void)state;
}

#define UNKNOWN_TEXT ((const char *)1) /* a 'u' value: the field takes its default */

/* Fills a row both ways, the hot path (plan + cps_pg_row_fill into the
 * codec's value) and the JSON way (cps_pg_row_to_json + schema defaults),
 * and checks both succeed with the same Avro bytes, or both fail; returns
 * the hot path's error text ("" when none). */
static const char *same_row(struct cps_pg_plan *p, struct cps_codec *c, const char *const *texts,
                            const char *const *cols)
{
	static char err[CPS_ERRSTR_SIZE];
	struct cps_pg_text vals[16];
	const char *names[16], *values[16];
	struct cps_buf a, b;
	avro_value_t v2;
	json_t *obj = NULL;
	char err2[CPS_ERRSTR_SIZE];
	int rc1, rc2;

	assert_true(p->ncols <= 16);
	for (size_t i = 0; i < p->ncols; i++) {
		names[i] = texts[i] == UNKNOWN_TEXT ? NULL : cols[i];
		values[i] = texts[i] == UNKNOWN_TEXT ? NULL : texts[i];
		vals[i].kind = texts[i] == UNKNOWN_TEXT ? 'u' : texts[i] ? 't' : 'n';
		vals[i].text = vals[i].kind == 't' ? texts[i] : NULL;
		vals[i].len = vals[i].kind == 't' ? strlen(texts[i]) : 0;
	}
	cps_buf_init(&a, 0);
	cps_buf_init(&b, 0);
	err[0] = '\0';
	rc1 = cps_pg_row_fill(p, vals, cps_codec_value(c), err, sizeof(err));
	if (rc1 == CPS_OK)
		assert_int_equal(cps_codec_encode(c, cps_codec_value(c), &a, err, sizeof(err)),
		                 CPS_OK);
	assert_int_equal(avro_generic_value_new(p->t->schema->iface, &v2), 0);
	rc2 = cps_pg_row_to_json(p->t, p->ncols, names, values, &obj, err2, sizeof(err2));
	if (rc2 == CPS_OK)
		rc2 =
		    cps_value_from_json_defaults(p->t->schema->json, obj, &v2, err2, sizeof(err2));
	if (rc2 == CPS_OK)
		assert_int_equal(cps_codec_encode(c, &v2, &b, err2, sizeof(err2)), CPS_OK);
	if ((rc1 == CPS_OK) != (rc2 == CPS_OK))
		fail_msg("hot path %s (%s), JSON way %s (%s)", rc1 ? "failed" : "ok", err,
		         rc2 ? "failed" : "ok", rc2 ? err2 : "");
	if (rc1 == CPS_OK) {
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.data, b.data, a.len);
	}
	json_decref(obj);
	avro_value_decref(&v2);
	cps_buf_release(&a);
	cps_buf_release(&b);
	return err;
}

static void test_row_fill(void **state)
{
	static const char *const pcols[] = {"national_id",
	                                    "full_name",
	                                    "gender",
	                                    "birth_date",
	                                    "registration_region_code",
	                                    "residence_region_code",
	                                    "residence_address",
	                                    "disabled",
	                                    "disability_grade",
	                                    "phone",
	                                    "not_mapped"};
	static const char *const hcols[] = {"household_id",
	                                    "head_national_id",
	                                    "members",
	                                    "member_count",
	                                    "region_code",
	                                    "household_type",
	                                    "per_capita_monthly_income",
	                                    "monitoring_category",
	                                    "monitoring_since"};
	char path[1024], err[CPS_ERRSTR_SIZE];
	struct cps_catalog *cat;
	struct cps_pg_mapping *m;
	struct cps_pg_table *pt, *ht;
	struct cps_pg_plan pp = {0}, hp = {0};
	struct cps_codec *pc, *hc;
	struct cps_settings s;
	const char *e;

	snprintf(path, sizeof(path), "%s", getenv("CPSYNC_SCHEMA_DIR"));
	assert_int_equal(cps_catalog_load_dir(path, &cat, err, sizeof(err)), CPS_OK);
	cps_settings_init(&s);
	cps_settings_set(&s, "table.public.person.entity", "person");
	cps_settings_set(&s, "table.public.person.column.full_name", "name");
	cps_settings_set(&s, "table.city.household.entity", "household");
	assert_int_equal(cps_pg_mapping_from_settings(&s, cat, &m, err, sizeof(err)), CPS_OK);
	pt = cps_pg_mapping_find(m, "public", "person");
	ht = cps_pg_mapping_find(m, "city", "household");
	assert_non_null(pt);
	assert_non_null(ht);
	assert_int_equal(cps_pg_table_prepare(pt, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_pg_table_prepare(pt, err, sizeof(err)), CPS_OK); /* idempotent */
	assert_int_equal(cps_pg_table_prepare(ht, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_codec_new(pt->schema, NULL, &pc, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_codec_new(ht->schema, NULL, &hc, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_pg_plan_build(&pp, pt, 11, pcols, err, sizeof(err)), CPS_OK);
	assert_int_equal(pp.key_col, 0);
	assert_int_equal(pp.field[1], 1);   /* full_name -> name */
	assert_int_equal(pp.field[10], -1); /* not in the schema */
	assert_int_equal(cps_pg_plan_build(&hp, ht, 9, hcols, err, sizeof(err)), CPS_OK);

	{
		const char *r1[] = {"K1",
		                    "name one",
		                    "FEMALE",
		                    "1990-05-17",
		                    "440305",
		                    "440306",
		                    "street 1 \xe8\xa1\x97",
		                    "t",
		                    "GRADE_2",
		                    "13800000000",
		                    "x"};
		/* disabled and phone unknown: their defaults, not r1's values */
		const char *r2[] = {"K2",     "name two",   "UNSPECIFIED", "1949-12-31",
		                    "440305", "440305",     NULL,          UNKNOWN_TEXT,
		                    NULL,     UNKNOWN_TEXT, NULL};
		/* gender's enum has a default, the field none: both ways refuse */
		const char *no_gender[] = {"K8",     "name eight", UNKNOWN_TEXT, "1990-01-01",
		                           "440305", "440305",     NULL,         "f",
		                           NULL,     NULL,         NULL};
		const char *r3[] = {"K3", "name three", "MALE", "2024-02-29", "441521", "441521",
		                    NULL, "true",       NULL,   NULL,         NULL};
		const char *bad_date[] = {"K4",     "name four", "MALE", "2024-13-01",
		                          "440305", "440305",    NULL,   "f",
		                          NULL,     NULL,        NULL};
		const char *null_key[] = {NULL,     "name five", "MALE", "2000-01-01",
		                          "440305", "440305",    NULL,   "f",
		                          NULL,     NULL,        NULL};
		const char *bad_enum[] = {"K6",     "name six", "OTHER", "2000-01-01",
		                          "440305", "440305",   NULL,    "f",
		                          NULL,     NULL,       NULL};
		const char *bad_utf8[] = {"K7",     "\xff\xfe", "MALE", "2000-01-01",
		                          "440305", "440305",   NULL,   "f",
		                          NULL,     NULL,       NULL};

		assert_string_equal(same_row(&pp, pc, r1, pcols), "");
		assert_string_equal(same_row(&pp, pc, r2, pcols),
		                    ""); /* defaults, not r1's values */
		assert_string_equal(same_row(&pp, pc, r1, pcols), "");
		assert_string_equal(same_row(&pp, pc, r3, pcols), "");
		e = same_row(&pp, pc, bad_date, pcols);
		assert_non_null(strstr(e, "column 'birth_date'"));
		assert_null(strstr(e, "2024-13-01")); /* never the value */
		e = same_row(&pp, pc, null_key, pcols);
		assert_non_null(strstr(e, "not nullable"));
		assert_non_null(strstr(same_row(&pp, pc, bad_enum, pcols), "column 'gender'"));
		assert_non_null(strstr(same_row(&pp, pc, bad_utf8, pcols), "UTF-8"));
		assert_non_null(strstr(same_row(&pp, pc, no_gender, pcols), "gender"));
		assert_string_equal(same_row(&pp, pc, r2, pcols), ""); /* after errors */
	}
	{
		const char *h1[] = {
		    "H1",      "K1",     "[{\"national_id\": \"K1\", \"relation\": \"HEAD\"}]",
		    "1",       "440305", "URBAN",
		    "1234.50", "DIBAO",  "2024-01-02"};
		const char *h2[] = {"H2",         "K2",    "[]",    "0", "440305",
		                    UNKNOWN_TEXT, "-1.00", "DIBAO", NULL};
		const char *no_count[] = {"H3",    "K3", "[]",    UNKNOWN_TEXT, "440305",
		                          "RURAL", "0",  "DIBAO", NULL};

		assert_string_equal(same_row(&hp, hc, h1, hcols), "");
		assert_string_equal(same_row(&hp, hc, h2, hcols), "");
		assert_non_null(strstr(same_row(&hp, hc, no_count, hcols), "member_count"));
		assert_string_equal(same_row(&hp, hc, h1, hcols), "");
	}
	cps_pg_plan_release(&pp);
	cps_pg_plan_release(&hp);
	cps_codec_free(pc);
	cps_codec_free(hc);
	cps_pg_mapping_free(m);
	cps_settings_release(&s);
	cps_catalog_free(cat);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frames),           cmocka_unit_test(test_logical_message),
	    cmocka_unit_test(test_text_conversions), cmocka_unit_test(test_row_fill),
	    cmocka_unit_test(test_real_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
