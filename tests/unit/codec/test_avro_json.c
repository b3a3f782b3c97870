/*
 * Unit tests of avro_json.c: the Avro JSON encoding both ways for every
 * type (nested unions, records, arrays, maps, fixed, bytes 0x00 and 0xFF,
 * decimal bytes), record defaults on input, error texts that name the field
 * path and never echo values, and no leaks on any path (LSan, ASan build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/avro_json.h"
#include "base/common.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static const char ALL_TYPES[] =
    "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"cpsync\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"amount\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":12,\"scale\":2}},"
    "{\"name\":\"born\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"gender\",\"type\":{\"type\":\"enum\",\"name\":\"Gender\","
    "\"symbols\":[\"MALE\",\"FEMALE\"]}},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Md5\",\"namespace\":\"x.y\","
    "\"size\":4}},"
    "{\"name\":\"members\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"Member\",\"fields\":[{\"name\":\"relation\",\"type\":\"string\"},"
    "{\"name\":\"sex\",\"type\":[\"null\",\"Gender\"]}]}}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"long\",\"string\","
    "{\"type\":\"array\",\"items\":\"int\"}]}},"
    "{\"name\":\"nested\",\"type\":[\"null\",\"Member\",{\"type\":\"map\",\"values\":\"x.y.Md5\"}]}"
    ","
    "{\"name\":\"opt\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"grade\",\"type\":\"int\",\"default\":7}"
    "]}";

/* Long 2^60+1, bytes 0x00 0x41 0xFF, decimal 12345.67 as two's complement
 * 0x12 0xD6 0x87, a fixed of 4 bytes with 0x00 and 0xFF, Chinese text. */
static const char ALL_VALUE[] =
    "{\"n\":null,\"b\":true,\"i\":-2147483648,\"l\":1152921504606846977,"
    "\"f\":1.5,\"d\":-2.25e-300,\"by\":\"\\u0000A\\u00ff\","
    "\"s\":\"\xe5\xbc\xa0\xe4\xb8\x89 \\u0000 end\","
    "\"amount\":\"\\u0012\\u00d6\\u0087\",\"born\":19000,\"gender\":\"FEMALE\","
    "\"fx\":\"\\u0000\\u00ff\\u0080\\u007f\","
    "\"members\":[{\"relation\":\"spouse\",\"sex\":{\"cpsync.Gender\":\"MALE\"}},"
    "{\"relation\":\"child\",\"sex\":null}],"
    "\"attrs\":{\"a\":null,\"b\":{\"long\":-1},\"c\":{\"string\":\"x\"},"
    "\"d\":{\"array\":[1,2,3]}},"
    "\"nested\":{\"map\":{\"k\":\"\\u0001\\u0002\\u0003\\u00fe\"}},"
    "\"opt\":{\"double\":3.0},\"grade\":0}";

struct fixture {
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value;
	json_t *schema_json;
};

static struct fixture *fixture_new(const char *schema_text)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	if (avro_schema_from_json_length(schema_text, strlen(schema_text), &f->schema))
		fail_msg("schema: %s", avro_strerror());
	f->iface = avro_generic_class_from_schema(f->schema);
	assert_non_null(f->iface);
	assert_int_equal(avro_generic_value_new(f->iface, &f->value), 0);
	f->schema_json = json_loads(schema_text, JSON_DECODE_ANY, NULL);
	assert_non_null(f->schema_json);
	return f;
}

static void fixture_free(struct fixture *f)
{
	avro_value_decref(&f->value);
	avro_value_iface_decref(f->iface);
	avro_schema_decref(f->schema);
	json_decref(f->schema_json);
	free(f);
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);

	if (!j)
		fail_msg("bad test JSON: %s", jerr.text);
	return j;
}

/* Fills from JSON text; returns the rc, errstr filled. */
static int fill_text(struct fixture *f, const char *text, char *err, size_t errsize)
{
	json_t *j = parse(text);
	int rc = cps_value_from_json(j, &f->value, err, errsize);

	json_decref(j);
	return rc;
}

static void test_round_trip_all_types(void **state)
{
	struct fixture *f = fixture_new(ALL_TYPES);
	char err[CPS_ERRSTR_SIZE] = "";
	json_t *in = parse(ALL_VALUE), *out, *out2;
	avro_writer_t w;
	avro_reader_t r;
	char bin[4096];
	avro_value_t copy;
	int64_t written;

	(void)state;
	assert_int_equal(cps_value_from_json(in, &f->value, err, sizeof(err)), CPS_OK);
	out = cps_value_to_json(&f->value, err, sizeof(err));
	assert_non_null(out);
	if (!json_equal(in, out)) {
		char *a = json_dumps(in, JSON_SORT_KEYS), *b = json_dumps(out, JSON_SORT_KEYS);

		fail_msg("round trip differs:\n%s\n%s", a, b);
	}

	/* Through Avro binary and back: the values hold what the JSON said. */
	w = avro_writer_memory(bin, sizeof(bin));
	assert_int_equal(avro_value_write(w, &f->value), 0);
	written = avro_writer_tell(w);
	avro_writer_free(w);
	assert_int_equal(avro_generic_value_new(f->iface, &copy), 0);
	r = avro_reader_memory(bin, written);
	assert_int_equal(avro_value_read(r, &copy), 0);
	avro_reader_free(r);
	out2 = cps_value_to_json(&copy, err, sizeof(err));
	assert_non_null(out2);
	assert_true(json_equal(in, out2));

	/* Specific values survived exactly. */
	{
		avro_value_t field;
		const void *buf = NULL;
		size_t size = 0;
		int64_t l = 0;

		assert_int_equal(avro_value_get_by_name(&copy, "by", &field, NULL), 0);
		avro_value_get_bytes(&field, &buf, &size);
		assert_int_equal(size, 3);
		assert_memory_equal(buf,
		                    "\x00"
		                    "A\xff",
		                    3);
		assert_int_equal(avro_value_get_by_name(&copy, "amount", &field, NULL), 0);
		avro_value_get_bytes(&field, &buf, &size);
		assert_int_equal(size, 3);
		assert_memory_equal(buf, "\x12\xd6\x87", 3);
		assert_int_equal(avro_value_get_by_name(&copy, "l", &field, NULL), 0);
		avro_value_get_long(&field, &l);
		assert_true(l == 1152921504606846977LL);
	}
	avro_value_decref(&copy);
	json_decref(in);
	json_decref(out);
	json_decref(out2);
	fixture_free(f);
}

static void test_bytes_encoding(void **state)
{
	struct fixture *f = fixture_new("\"bytes\"");
	char err[CPS_ERRSTR_SIZE] = "";
	json_t *out;
	const char *s;

	(void)state;
	assert_int_equal(avro_value_set_bytes(&f->value, "\x00\xff\x7f\x80", 4), 0);
	out = cps_value_to_json(&f->value, err, sizeof(err));
	assert_non_null(out);
	/* UTF-8 of U+0000 U+00FF U+007F U+0080 */
	assert_int_equal(json_string_length(out), 6);
	s = json_string_value(out);
	assert_memory_equal(s, "\x00\xc3\xbf\x7f\xc2\x80", 6);
	json_decref(out);

	/* A code point above 255 is refused. */
	assert_int_equal(fill_text(f, "\"a\\u0100\"", err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "code point above 255"));
	assert_int_equal(fill_text(f, "\"\xe4\xb8\x89\"", err, sizeof(err)), CPS_ERR_INVALID);
	fixture_free(f);
}

static void test_union_names(void **state)
{
	struct fixture *f = fixture_new(
	    "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"cpsync\",\"fields\":["
	    "{\"name\":\"u\",\"type\":[\"null\",\"string\",{\"type\":\"enum\",\"name\":\"Gender\","
	    "\"symbols\":[\"MALE\",\"FEMALE\"]},{\"type\":\"record\",\"name\":\"Inner\","
	    "\"namespace\":\"other\",\"fields\":[{\"name\":\"x\",\"type\":[\"null\",\"int\"]}]}]}]"
	    "}");
	char err[CPS_ERRSTR_SIZE] = "";
	json_t *out;
	char *text;

	(void)state;
	/* Short names are accepted; output always uses full names. */
	assert_int_equal(fill_text(f, "{\"u\":{\"Gender\":\"FEMALE\"}}", err, sizeof(err)), CPS_OK);
	out = cps_value_to_json(&f->value, err, sizeof(err));
	text = json_dumps(out, JSON_COMPACT);
	assert_string_equal(text, "{\"u\":{\"cpsync.Gender\":\"FEMALE\"}}");
	free(text);
	json_decref(out);

	assert_int_equal(fill_text(f, "{\"u\":{\"Inner\":{\"x\":{\"int\":5}}}}", err, sizeof(err)),
	                 CPS_OK);
	out = cps_value_to_json(&f->value, err, sizeof(err));
	text = json_dumps(out, JSON_COMPACT);
	assert_string_equal(text, "{\"u\":{\"other.Inner\":{\"x\":{\"int\":5}}}}");
	free(text);
	json_decref(out);

	assert_int_equal(fill_text(f, "{\"u\":null}", err, sizeof(err)), CPS_OK);
	out = cps_value_to_json(&f->value, err, sizeof(err));
	assert_true(json_is_null(json_object_get(out, "u")));
	json_decref(out);

	/* Unknown branch, two keys, bare value. */
	assert_int_equal(fill_text(f, "{\"u\":{\"long\":5}}", err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "unknown union branch for .u");
	assert_int_equal(fill_text(f, "{\"u\":{\"string\":\"a\",\"null\":null}}", err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_int_equal(fill_text(f, "{\"u\":\"secret\"}", err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "expected object with one union branch for .u, got string");
	fixture_free(f);
}

static void test_error_paths(void **state)
{
	struct fixture *f = fixture_new(ALL_TYPES);
	char err[CPS_ERRSTR_SIZE] = "";
	json_t *in = parse(ALL_VALUE), *bad;

	(void)state;
	/* Wrong type deep inside: the path names it, the value is not echoed. */
	bad = json_deep_copy(in);
	json_array_append_new(json_object_get(bad, "members"),
	                      json_pack("{s:i,s:n}", "relation", 440305, "sex"));
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "expected string for .members[2].relation, got integer");
	json_decref(bad);

	/* Unknown enum symbol: never echoed. */
	bad = json_deep_copy(in);
	json_object_set_new(bad, "gender", json_string("440305199001011234"));
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "unknown symbol of enum cpsync.Gender at .gender");
	json_decref(bad);

	/* Missing field without a default, with a default only via the schema. */
	bad = json_deep_copy(in);
	json_object_del(bad, "s");
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "missing field .s, which has no default");
	json_decref(bad);

	/* Unknown field, int range, fixed size, NaN-free numbers, null. */
	bad = json_deep_copy(in);
	json_object_set_new(bad, "zzz", json_string("13812345678"));
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "unknown field in record cpsync.All at .");
	json_decref(bad);

	bad = json_deep_copy(in);
	json_object_set_new(bad, "i", json_integer(2147483648LL));
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "int out of range for .i");
	json_decref(bad);

	bad = json_deep_copy(in);
	json_object_set_new(bad, "fx", json_string("abc"));
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "expected 4 bytes for .fx, got 3");
	json_decref(bad);

	bad = json_deep_copy(in);
	json_object_set_new(bad, "l", json_real(1.5));
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "expected integer for .l, got real");
	json_decref(bad);

	bad = json_deep_copy(in);
	json_object_set_new(json_object_get(bad, "attrs"), "e", json_pack("{s:s}", "long", "x"));
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "expected integer for .attrs{4}, got string");
	json_decref(bad);

	/* Integers are accepted for float and double. */
	bad = json_deep_copy(in);
	json_object_set_new(bad, "f", json_integer(3));
	json_object_set_new(bad, "d", json_integer(-4));
	assert_int_equal(cps_value_from_json(bad, &f->value, err, sizeof(err)), CPS_OK);
	json_decref(bad);

	assert_int_equal(fill_text(f, "[1]", err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "expected object for ., got array");
	json_decref(in);
	fixture_free(f);
}

static void test_nan_has_no_json(void **state)
{
	struct fixture *f =
	    fixture_new("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":"
	                "{\"type\":\"array\",\"items\":[\"null\",\"double\"]}},{\"name\":\"y\","
	                "\"type\":\"float\"}]}");
	char err[CPS_ERRSTR_SIZE] = "";
	avro_value_t x, item, branch, y;

	(void)state;
	avro_value_get_by_index(&f->value, 0, &x, NULL);
	avro_value_get_by_index(&f->value, 1, &y, NULL);
	avro_value_set_float(&y, 1.0f);
	avro_value_append(&x, &item, NULL);
	avro_value_set_branch(&item, 0, &branch);
	avro_value_append(&x, &item, NULL);
	avro_value_set_branch(&item, 1, &branch);
	avro_value_set_double(&branch, NAN);
	assert_null(cps_value_to_json(&f->value, err, sizeof(err)));
	assert_string_equal(err, "non-finite number at .x[1] has no JSON encoding");
	avro_value_set_double(&branch, 2.0);
	avro_value_set_float(&y, INFINITY);
	assert_null(cps_value_to_json(&f->value, err, sizeof(err)));
	assert_string_equal(err, "non-finite number at .y has no JSON encoding");
	fixture_free(f);
}

static void test_defaults_on_input(void **state)
{
	struct fixture *f = fixture_new(ALL_TYPES);
	char err[CPS_ERRSTR_SIZE] = "";
	json_t *in = parse(ALL_VALUE), *out;
	avro_value_t field, branch;
	int32_t i = 0;
	int disc = -1;

	(void)state;
	json_object_del(in, "opt");
	json_object_del(in, "grade");
	/* Without the schema JSON there are no defaults. */
	assert_int_equal(cps_value_from_json(in, &f->value, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "missing field .opt, which has no default");
	assert_int_equal(
	    cps_value_from_json_defaults(f->schema_json, in, &f->value, err, sizeof(err)), CPS_OK);
	avro_value_get_by_name(&f->value, "grade", &field, NULL);
	avro_value_get_int(&field, &i);
	assert_int_equal(i, 7);
	avro_value_get_by_name(&f->value, "opt", &field, NULL);
	avro_value_get_discriminant(&field, &disc);
	assert_int_equal(disc, 0);
	avro_value_get_current_branch(&field, &branch);
	assert_int_equal(avro_value_get_type(&branch), AVRO_NULL);
	out = cps_value_to_json(&f->value, err, sizeof(err));
	assert_int_equal(json_integer_value(json_object_get(out, "grade")), 7);
	json_decref(out);
	json_decref(in);
	fixture_free(f);
}

/* Arrays and maps are replaced, not appended to, when a value is reused. */
static void test_value_reuse(void **state)
{
	struct fixture *f = fixture_new(ALL_TYPES);
	char err[CPS_ERRSTR_SIZE] = "";
	json_t *in = parse(ALL_VALUE), *out;
	int k;

	(void)state;
	for (k = 0; k < 3; k++)
		assert_int_equal(cps_value_from_json(in, &f->value, err, sizeof(err)), CPS_OK);
	out = cps_value_to_json(&f->value, err, sizeof(err));
	assert_true(json_equal(in, out));
	json_decref(out);
	json_decref(in);
	fixture_free(f);
}

/* Every path above, success and failure, run again with LSan checking
 * that nothing leaked (the ASan build; elsewhere it just runs them). */
static void test_no_leaks(void **state)
{
	int k;

	for (k = 0; k < 3; k++) {
		test_round_trip_all_types(state);
		test_bytes_encoding(state);
		test_union_names(state);
		test_error_paths(state);
		test_nan_has_no_json(state);
		test_defaults_on_input(state);
	}
#ifdef HAVE_LSAN
	assert_int_equal(__lsan_do_recoverable_leak_check(), 0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_all_types), cmocka_unit_test(test_bytes_encoding),
	    cmocka_unit_test(test_union_names),          cmocka_unit_test(test_error_paths),
	    cmocka_unit_test(test_nan_has_no_json),      cmocka_unit_test(test_defaults_on_input),
	    cmocka_unit_test(test_value_reuse),          cmocka_unit_test(test_no_leaks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
