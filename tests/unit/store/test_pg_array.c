/*
 * Unit tests of store/pg_array.c against a real PostgreSQL ($CPSYNC_TEST_PG;
 * the test fails without it): arrays of every element type the batch writer
 * sends (text, bigint, boolean, bytea, jsonb), with NULLs, empty values,
 * extremes and an element written in place, read back by unnest() exactly;
 * an empty array; and an element type the statement does not expect is
 * refused by the server, not misread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/pg_array.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static PGconn *db;

/* Runs "SELECT v::text FROM unnest($1::TYPE[]) ..." on the finished array a
 * and compares each row with want[] ("(null)" for NULL); `n` rows expected. */
static void expect_rows(struct cps_pg_array *a, const char *type, const char *const *want, int n)
{
	char sql[256];
	int len, fmt = 1;
	const char *v = cps_pg_array_finish(a, &len);
	PGresult *res;

	assert_non_null(v);
	snprintf(sql, sizeof(sql),
	         "SELECT v::text FROM unnest($1::%s[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
	         type);
	res = PQexecParams(db, sql, 1, NULL, &v, &len, &fmt, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s[]: %s", type, PQerrorMessage(db));
	assert_int_equal(PQntuples(res), n);
	for (int i = 0; i < n; i++) {
		const char *got = PQgetisnull(res, i, 0) ? "(null)" : PQgetvalue(res, i, 0);

		if (strcmp(got, want[i]))
			fail_msg("%s[] element %d: '%s', expected '%s'", type, i + 1, got, want[i]);
	}
	PQclear(res);
	cps_pg_array_release(a);
}

static void test_text(void **state)
{
	struct cps_pg_array a;
	const char *want[] = {"a", "", "(null)", "中文 \"q\" \\ {x,y}", "NULL"};

	(void)state;
	cps_pg_array_init(&a, CPS_OID_TEXT);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cps_pg_array_text(&a, i == 2 ? NULL : want[i]), 0);
	expect_rows(&a, "text", want, 5);
}

static void test_int8_and_bool(void **state)
{
	struct cps_pg_array a;
	const int64_t ints[] = {0, -1, INT64_MIN, INT64_MAX, 1796378299235};
	const char *want_ints[] = {"0", "-1", "-9223372036854775808", "9223372036854775807",
	                           "1796378299235"};
	const char *want_bools[] = {"true", "false", "(null)"};

	(void)state;
	cps_pg_array_init(&a, CPS_OID_INT8);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cps_pg_array_int8(&a, ints[i]), 0);
	expect_rows(&a, "bigint", want_ints, 5);

	cps_pg_array_init(&a, CPS_OID_BOOL);
	assert_int_equal(cps_pg_array_bool(&a, true), 0);
	assert_int_equal(cps_pg_array_bool(&a, false), 0);
	assert_int_equal(cps_pg_array_null(&a), 0);
	expect_rows(&a, "boolean", want_bools, 3);
}

static void test_bytea_and_in_place(void **state)
{
	struct cps_pg_array a;
	const char *want[] = {"\\x0001ff", "\\x", "(null)", "\\x0102030405"};

	(void)state;
	cps_pg_array_init(&a, CPS_OID_BYTEA);
	assert_int_equal(cps_pg_array_bytes(&a, "\x00\x01\xff", 3), 0);
	assert_int_equal(cps_pg_array_bytes(&a, "", 0), 0);
	assert_int_equal(cps_pg_array_null(&a), 0);
	/* an encoder appending to the buffer itself */
	assert_int_equal(cps_pg_array_open(&a), 0);
	assert_int_equal(cps_buf_append(&a.b, "\x01\x02", 2), 0);
	assert_int_equal(cps_buf_append(&a.b, "\x03\x04\x05", 3), 0);
	cps_pg_array_close(&a);
	expect_rows(&a, "bytea", want, 4);
}

static void test_jsonb(void **state)
{
	struct cps_pg_array a;
	const char *want[] = {"{\"a\": [1, \"x\"], \"b\": null}", "(null)", "\"s\"", "[]"};

	(void)state;
	cps_pg_array_init(&a, CPS_OID_JSONB);
	assert_int_equal(cps_pg_array_jsonb(&a, "{\"b\":null,\"a\":[1,\"x\"]}"), 0);
	assert_int_equal(cps_pg_array_jsonb(&a, NULL), 0);
	assert_int_equal(cps_pg_array_jsonb(&a, "\"s\""), 0);
	assert_int_equal(cps_pg_array_jsonb(&a, "[]"), 0);
	expect_rows(&a, "jsonb", want, 4);
}

static void test_empty(void **state)
{
	struct cps_pg_array a;

	(void)state;
	cps_pg_array_init(&a, CPS_OID_TEXT);
	expect_rows(&a, "text", NULL, 0);
}

/* A bigint array sent where text[] is expected: the server checks the
 * element OID and refuses it (the wire form carries its type). */
static void test_wrong_type_refused(void **state)
{
	struct cps_pg_array a;
	int len, fmt = 1;
	const char *v;
	PGresult *res;

	(void)state;
	cps_pg_array_init(&a, CPS_OID_INT8);
	assert_int_equal(cps_pg_array_int8(&a, 42), 0);
	v = cps_pg_array_finish(&a, &len);
	res = PQexecParams(db, "SELECT unnest($1::text[])", 1, NULL, &v, &len, &fmt, 0);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_non_null(
	    strstr(PQerrorMessage(db), "element type 20 (bigint) instead of expected 25"));
	PQclear(res);
	cps_pg_array_release(&a);
}

static int group_setup(void **state)
{
	const char *conninfo = getenv("CPSYNC_TEST_PG");

	if (!conninfo || !*conninfo) {
		fprintf(stderr, "CPSYNC_TEST_PG is not set: this test needs PostgreSQL\n");
		return -1;
	}
	db = PQconnectdb(conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "connect: %s", PQerrorMessage(db));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	PQfinish(db);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_int8_and_bool),
	    cmocka_unit_test(test_bytea_and_in_place),
	    cmocka_unit_test(test_jsonb),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_wrong_type_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
