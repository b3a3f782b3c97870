/*
 * Proves the postgres sink's record reader (connectors/postgres/pg_sink_record.c)
 * gives every member the text jansson's load and compact dump gave before
 * it: strings unescaped (every JSON escape, surrogate pairs), numbers and
 * true/false as written, null as NULL, nested values as compact text, a
 * repeated name in its first place with its last value; and that it
 * refuses what jansson refuses: bad syntax, text after the object, invalid
 * UTF-8, \u0000, lone surrogates, raw control characters, bad numbers;
 * and 20,000 mutated records read exactly as jansson reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connectors/postgres/pg_sink_record.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int read_text(const char *json, struct pg_sink_record *r)
{
	return pg_sink_record_read(json, strlen(json), r);
}

/* Each member as jansson sees it: a string's value, NULL for null, else
 * the compact dump; in jansson's member order. */
static void assert_as_jansson(const char *json)
{
	struct pg_sink_record r;
	json_t *tree = json_loads(json, 0, NULL);
	const char *name;
	json_t *v;
	size_t i = 0;

	assert_non_null(tree);
	assert_int_equal(read_text(json, &r), PG_SINK_RECORD_OK);
	assert_int_equal(r.n, json_object_size(tree));
	json_object_foreach (tree, name, v) {
		assert_string_equal(r.m[i].name, name);
		if (json_is_null(v)) {
			assert_null(r.m[i].value);
		} else if (json_is_string(v)) {
			assert_non_null(r.m[i].value);
			assert_string_equal(r.m[i].value, json_string_value(v));
		} else {
			char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

			assert_non_null(r.m[i].value);
			assert_string_equal(r.m[i].value, dump);
			free(dump);
		}
		i++;
	}
	pg_sink_record_release(&r);
	json_decref(tree);
}

static void test_values_as_jansson_gives_them(void **unused)
{
	assert_as_jansson("{}");
	assert_as_jansson(" { } ");
	assert_as_jansson("{\"name\":\"Zhang San\",\"age\":34,\"income\":\"1234.50\","
	                  "\"disabled\":false,\"member\":true,\"phone\":null}");
	assert_as_jansson("{\"real\":0.10000000000000001,\"big\":-9223372036854775808,"
	                  "\"exp\":1e+20,\"neg\":-2.5E-3,\"zero\":0,\"two\":2}");
	assert_as_jansson("{\"a\":1e5,\"b\":1.50,\"c\":-0,\"d\":1E+05,\"e\":2.5e-7,"
	                  "\"f\":-0.0,\"g\":9223372036854775807,\"h\":1e-400,\"i\":100.0,"
	                  "\"j\":123456789.123456789,\"k\":1.7976931348623157e308}");
	assert_as_jansson("{\"esc\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\","
	                  "\"uni\":\"\\u5f20\\u4E09 \\u00e9\",\"pair\":\"\\ud83d\\ude00\","
	                  "\"raw\":\"张三 é 😀\",\"ctl\":\"\\u001f\"}");
	assert_as_jansson("{\"tags\":[\"a\", {\"b\": 1, \"c\": [null, true]}],"
	                  "\"obj\":{\"k\":\"v \\\" }\",\"n\":{}},\"empty\":[]}");
	assert_as_jansson("\n\t{ \"a\" : 1 ,\r\n \"b\" : \"x\" }\n");
	assert_as_jansson("{\"n\\u0061me\":\"escaped name\"}");
}

static void test_repeated_name_takes_last_value(void **unused)
{
	struct pg_sink_record r;

	assert_int_equal(read_text("{\"a\":1,\"b\":2,\"a\":\"three\",\"c\":null,\"c\":4}", &r),
	                 PG_SINK_RECORD_OK);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.m[0].name, "a");
	assert_string_equal(r.m[0].value, "three");
	assert_string_equal(r.m[1].value, "2");
	assert_string_equal(r.m[2].name, "c");
	assert_string_equal(r.m[2].value, "4");
	pg_sink_record_release(&r);
	assert_as_jansson("{\"a\":1,\"b\":2,\"a\":\"three\",\"c\":null,\"c\":4}");
}

static void test_refuses_what_jansson_refuses(void **unused)
{
	static const char *const bad[] = {
	    "",
	    "null",
	    "[1]",
	    "\"a\"",
	    "{",
	    "{\"a\"}",
	    "{\"a\":}",
	    "{\"a\":1,}",
	    "{\"a\":1 \"b\":2}",
	    "{\"a\":1}x",
	    "{\"a\":1}{}",
	    "{a:1}",
	    "{\"a\":01}",
	    "{\"a\":1.}",
	    "{\"a\":.5}",
	    "{\"a\":1e}",
	    "{\"a\":+1}",
	    "{\"a\":-}",
	    "{\"a\":tru}",
	    "{\"a\":nul}",
	    "{\"a\":\"x}",
	    "{\"a\":\"\\x\"}",
	    "{\"a\":\"\\u12\"}",
	    "{\"a\":\"\\u0000\"}",
	    "{\"a\":\"\\ud83d\"}",
	    "{\"a\":\"\\ude00\"}",
	    "{\"a\":\"\\ud83d\\u0041\"}",
	    "{\"a\":\"tab\there\"}",
	    "{\"a\":\"\xc3\x28\"}",
	    "{\"a\":\"\xed\xa0\x80\"}",
	    "{\"\xff\":1}",
	    "{\"a\":[1,}",
	    "{\"a\":[1}",
	    "{\"a\":{\"b\":1}",
	    "{\"a\":[\"]\"}",
	    "{\"a\":9223372036854775808}",
	    "{\"a\":-9223372036854775809}",
	    "{\"a\":1e400}",
	    "{\"a\":-1e400}",
	};
	struct pg_sink_record r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *tree = json_loads(bad[i], 0, NULL);

		if (json_is_object(tree))
			fail_msg("jansson loads %s as an object: not a refusal case", bad[i]);
		json_decref(tree);
		if (read_text(bad[i], &r) != PG_SINK_RECORD_INVALID)
			fail_msg("read %s", bad[i]);
		pg_sink_record_release(&r);
	}
}

/* The length given, not the NUL: a longer buffer is read only that far. */
static void test_reads_only_len_bytes(void **unused)
{
	const char text[] = "{\"a\":12}garbage";
	struct pg_sink_record r;

	assert_int_equal(pg_sink_record_read(text, 8, &r), PG_SINK_RECORD_OK);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.m[0].value, "12");
	pg_sink_record_release(&r);
	assert_int_equal(pg_sink_record_read(text, 7, &r), PG_SINK_RECORD_INVALID);
	pg_sink_record_release(&r);
}

/* Every member as jansson gives it, or a refusal where jansson refuses:
 * 1 when r holds what `tree` holds. */
static int same_as_tree(const struct pg_sink_record *r, json_t *tree)
{
	const char *name;
	json_t *v;
	size_t i = 0;
	int same = r->n == json_object_size(tree);

	json_object_foreach (tree, name, v) {
		char *dump = json_is_string(v) || json_is_null(v)
		                 ? NULL
		                 : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		const char *want = json_is_string(v) ? json_string_value(v) : dump;

		same = same && i < r->n && !strcmp(r->m[i].name, name) &&
		       (want ? r->m[i].value && !strcmp(r->m[i].value, want) : !r->m[i].value);
		free(dump);
		i++;
	}
	return same;
}

/* Mutated records (bytes changed, dropped, cut short), each read as jansson
 * reads it: the same refusals, the same member texts. ASan watches the
 * reads. */
static void test_mutations_read_as_jansson_does(void **unused)
{
	static const char *const seeds[] = {
	    "{\"name\":\"Zhang \\u5f20\",\"age\":34,\"x\":1.5e3,\"ok\":true,\"n\":null}",
	    "{\"tags\":[\"a\",{\"b\":-0.25}],\"s\":\"\\ud83d\\ude00\\n\"}",
	};
	const char alphabet[] = "{}[]\",:\\u0123456789eE+-.tfnl \xc3\xa9\xed\x80";
	unsigned seed = 12345;
	int loaded = 0;
	char text[128];

	for (int round = 0; round < 20000; round++) {
		const char *src = seeds[round % 2];
		size_t len = strlen(src);
		struct pg_sink_record r;
		json_t *tree;
		int rc;

		memcpy(text, src, len + 1);
		for (int k = 0; k < 1 + round % 3 && len > 0; k++) {
			size_t at;

			seed = seed * 1103515245u + 12345u;
			at = (seed >> 8) % len;
			switch ((seed >> 20) % 3) {
			case 0: /* change a byte */
				text[at] = alphabet[(seed >> 4) % (sizeof(alphabet) - 1)];
				break;
			case 1: /* drop a byte */
				memmove(text + at, text + at + 1, len - at);
				len--;
				break;
			default: /* cut short */
				text[at] = '\0';
				len = at;
			}
		}
		tree = json_loadb(text, len, 0, NULL);
		loaded += json_is_object(tree);
		rc = pg_sink_record_read(text, len, &r);
		if (json_is_object(tree) ? rc != PG_SINK_RECORD_OK || !same_as_tree(&r, tree)
		                         : rc != PG_SINK_RECORD_INVALID)
			fail_msg("%.*s: jansson %s, reader %d", (int)len, text,
			         json_is_object(tree) ? "loads it" : "refuses it", rc);
		pg_sink_record_release(&r);
		json_decref(tree);
	}
	/* both sides of the comparison are exercised */
	if (loaded < 1000 || loaded > 19000)
		fail_msg("%d of 20000 mutations load as objects", loaded);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_values_as_jansson_gives_them),
	    cmocka_unit_test(test_repeated_name_takes_last_value),
	    cmocka_unit_test(test_refuses_what_jansson_refuses),
	    cmocka_unit_test(test_reads_only_len_bytes),
	    cmocka_unit_test(test_mutations_read_as_jansson_does),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
