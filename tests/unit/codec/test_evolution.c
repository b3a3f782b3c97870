/*
 * Unit tests of evolution.c: person v1 data (tests/data/evolution) read as
 * v2 with defaults filled, writer-only fields skipped, promotions, enums by
 * name, unions both ways, the compatibility check (reordered or removed
 * enum symbols refused, appended accepted), defaults of every type, and no
 * leaks on any path (LSan, ASan build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/avro_json.h"
#include "base/common.h"
#include "codec/evolution.h"

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

/* A struct cps_schema built by hand (only the fields evolution uses). */
static struct cps_schema *schema_from_text(const char *text)
{
	struct cps_schema *s = calloc(1, sizeof(*s));
	json_error_t jerr;

	assert_non_null(s);
	s->json = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!s->json)
		fail_msg("schema JSON: %s", jerr.text);
	if (avro_schema_from_json_length(text, strlen(text), &s->avro))
		fail_msg("schema: %s", avro_strerror());
	s->iface = avro_generic_class_from_schema(s->avro);
	assert_non_null(s->iface);
	return s;
}

static struct cps_schema *schema_from_file(const char *name)
{
	const char *src = getenv("CPSYNC_SOURCE_DIR");
	char path[1024], *text;
	struct cps_schema *s;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/evolution/%s", src ? src : CPSYNC_SOURCE_DIR,
	         name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	s = schema_from_text(text);
	free(text);
	return s;
}

static void schema_release(struct cps_schema *s)
{
	avro_value_iface_decref(s->iface);
	avro_schema_decref(s->avro);
	json_decref(s->json);
	free(s);
}

/* Encodes JSON (Avro JSON encoding) as one binary datum of `s`. */
static size_t encode(struct cps_schema *s, const char *json_text, char *out, size_t size)
{
	char err[CPS_ERRSTR_SIZE] = "";
	json_t *j = json_loads(json_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	avro_value_t v;
	avro_writer_t w;
	size_t n;

	assert_non_null(j);
	assert_int_equal(avro_generic_value_new(s->iface, &v), 0);
	if (cps_value_from_json(j, &v, err, sizeof(err)) != CPS_OK)
		fail_msg("encode: %s", err);
	w = avro_writer_memory(out, (int64_t)size);
	assert_int_equal(avro_value_write(w, &v), 0);
	n = (size_t)avro_writer_tell(w);
	avro_writer_free(w);
	avro_value_decref(&v);
	json_decref(j);
	return n;
}

/* Decodes `buf` written with `w` as `r`; returns the JSON of the result, or
 * NULL with err set. */
static json_t *resolve_to_json(struct cps_schema *w, struct cps_schema *r, const void *buf,
                               size_t len, char *err, size_t errsize)
{
	avro_value_t v;
	json_t *out = NULL;

	assert_int_equal(avro_generic_value_new(r->iface, &v), 0);
	if (cps_resolve_decode(w, r, buf, len, NULL, &v, err, errsize) == CPS_OK) {
		out = cps_value_to_json(&v, err, errsize);
		assert_non_null(out);
	}
	avro_value_decref(&v);
	return out;
}

static void assert_json(json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *a = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

		json_decref(want);
		fail_msg("got %s\nwant %s", a, want_text);
	}
	json_decref(want);
}

static const char PERSON_V1[] =
    "{\"national_id\":\"440305199001011234\",\"name\":\"\xe5\xbc\xa0\xe4\xb8\x89\","
    "\"gender\":\"FEMALE\",\"birth_date\":7305,\"household_size\":3,"
    "\"legacy_code\":{\"string\":\"L-17\"},"
    "\"members\":[{\"relation\":\"spouse\",\"age\":40},{\"relation\":\"child\",\"age\":9}]}";

static const char PERSON_V2_EXPECTED[] =
    "{\"national_id\":\"440305199001011234\",\"name\":\"\xe5\xbc\xa0\xe4\xb8\x89\","
    "\"gender\":\"FEMALE\",\"phone\":null,\"disability_grade\":\"NONE\","
    "\"monthly_allowance\":0,\"birth_date\":7305,\"household_size\":3,"
    "\"address\":{\"district\":\"\xe7\xa6\x8f\xe7\x94\xb0\xe5\x8c\xba\","
    "\"street\":{\"string\":\"unknown\"},\"geo\":\"\\u0001\\u00ff\"},"
    "\"members\":[{\"relation\":\"spouse\",\"disabled\":false,\"age\":40},"
    "{\"relation\":\"child\",\"disabled\":false,\"age\":9}],\"tags\":{\"a\":1}}";

static void test_v1_read_as_v2(void **state)
{
	struct cps_schema *v1 = schema_from_file("person_v1.avsc");
	struct cps_schema *v2 = schema_from_file("person_v2.avsc");
	char err[CPS_ERRSTR_SIZE] = "", buf[1024];
	size_t n = encode(v1, PERSON_V1, buf, sizeof(buf));
	json_t *got;
	avro_value_t v, field;
	int64_t l = 0;

	(void)state;
	assert_int_equal(cps_schema_check_compatible(v1, v2, err, sizeof(err)), CPS_OK);
	got = resolve_to_json(v1, v2, buf, n, err, sizeof(err));
	if (!got)
		fail_msg("resolve: %s", err);
	/* Defaults filled (null, enum "NONE", int 0, record, map, nested
	 * boolean), legacy_code skipped, household_size promoted. */
	assert_json(got, PERSON_V2_EXPECTED);
	json_decref(got);

	assert_int_equal(avro_generic_value_new(v2->iface, &v), 0);
	assert_int_equal(cps_resolve_decode(v1, v2, buf, n, NULL, &v, err, sizeof(err)), CPS_OK);
	assert_int_equal(avro_value_get_by_name(&v, "household_size", &field, NULL), 0);
	assert_int_equal(avro_value_get_type(&field), AVRO_INT64);
	avro_value_get_long(&field, &l);
	assert_int_equal(l, 3);
	/* The same value decoded again: arrays are replaced, not appended. */
	assert_int_equal(cps_resolve_decode(v1, v2, buf, n, NULL, &v, err, sizeof(err)), CPS_OK);
	got = cps_value_to_json(&v, err, sizeof(err));
	assert_json(got, PERSON_V2_EXPECTED);
	json_decref(got);
	avro_value_decref(&v);

	/* v2 -> v1 is not compatible: v1's Gender lacks the appended UNKNOWN
	 * (and v1's int household_size could not take v2's long). */
	assert_int_equal(cps_schema_check_compatible(v2, v1, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err,
	                    "enum cpsync.Gender: symbol 'UNKNOWN' removed in the reader (.gender)");
	schema_release(v1);
	schema_release(v2);
}

static void test_enum_reordered_refused(void **state)
{
	struct cps_schema *v1 = schema_from_file("person_v1.avsc");
	struct cps_schema *bad = schema_from_file("person_v2_reordered.avsc");
	char err[CPS_ERRSTR_SIZE] = "", buf[1024];
	size_t n = encode(v1, PERSON_V1, buf, sizeof(buf));
	json_t *got;

	(void)state;
	assert_int_equal(cps_schema_check_compatible(v1, bad, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err,
	                    "enum cpsync.Gender: symbol 'MALE' moved from index 0 to 1 (.gender)");
	/* The decoder itself resolves by name: FEMALE stays FEMALE. */
	got = resolve_to_json(v1, bad, buf, n, err, sizeof(err));
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "gender")), "FEMALE");
	json_decref(got);
	schema_release(v1);
	schema_release(bad);
}

static const char ENUM_W[] = "{\"type\":\"enum\",\"name\":\"G\",\"symbols\":[\"A\",\"B\",\"C\"]}";

static void test_enum_rules(void **state)
{
	struct cps_schema *w = schema_from_text(ENUM_W);
	struct cps_schema *appended = schema_from_text(
	    "{\"type\":\"enum\",\"name\":\"G\",\"symbols\":[\"A\",\"B\",\"C\",\"D\"]}");
	struct cps_schema *removed_dflt = schema_from_text(
	    "{\"type\":\"enum\",\"name\":\"G\",\"symbols\":[\"A\",\"B\",\"X\"],\"default\":\"X\"}");
	struct cps_schema *removed =
	    schema_from_text("{\"type\":\"enum\",\"name\":\"G\",\"symbols\":[\"A\",\"B\"]}");
	struct cps_schema *renamed =
	    schema_from_text("{\"type\":\"enum\",\"name\":\"H\",\"symbols\":[\"A\",\"B\",\"C\"]}");
	char err[CPS_ERRSTR_SIZE] = "", buf[16];
	size_t n = encode(w, "\"C\"", buf, sizeof(buf));
	json_t *got;

	(void)state;
	assert_int_equal(cps_schema_check_compatible(w, appended, err, sizeof(err)), CPS_OK);
	got = resolve_to_json(w, appended, buf, n, err, sizeof(err));
	assert_json(got, "\"C\"");
	json_decref(got);

	assert_int_equal(cps_schema_check_compatible(w, removed_dflt, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "enum G: symbol 'C' removed in the reader (.)");
	/* Decoding (unchecked) falls back on the reader enum's default. */
	got = resolve_to_json(w, removed_dflt, buf, n, err, sizeof(err));
	assert_json(got, "\"X\"");
	json_decref(got);

	assert_int_equal(cps_schema_check_compatible(w, removed, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_null(resolve_to_json(w, removed, buf, n, err, sizeof(err)));
	assert_string_equal(
	    err,
	    "enum G: writer symbol 'C' is not in the reader and the reader has no default (.)");

	assert_int_equal(cps_schema_check_compatible(w, renamed, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "writer type G cannot be read as H at .");

	schema_release(w);
	schema_release(appended);
	schema_release(removed_dflt);
	schema_release(removed);
	schema_release(renamed);
}

struct promo_case {
	const char *writer, *reader, *value, *want;
};

static void test_promotions_and_unions(void **state)
{
	static const struct promo_case cases[] = {
	    {"\"int\"", "\"long\"", "-5", "-5"},
	    {"\"int\"", "\"float\"", "7", "7.0"},
	    {"\"int\"", "\"double\"", "2147483647", "2147483647.0"},
	    {"\"long\"", "\"double\"", "1099511627776", "1099511627776.0"},
	    {"\"long\"", "\"float\"", "-3", "-3.0"},
	    {"\"float\"", "\"double\"", "1.5", "1.5"},
	    {"\"string\"", "\"bytes\"", "\"ab\"", "\"ab\""},
	    {"\"bytes\"", "\"string\"", "\"a\\u0000b\"", "\"a\\u0000b\""},
	    /* writer union -> reader non-union */
	    {"[\"int\",\"long\"]", "\"long\"", "{\"int\":4}", "4"},
	    /* writer non-union -> reader union (first matching branch) */
	    {"\"int\"", "[\"null\",\"string\",\"long\",\"int\"]", "9", "{\"int\":9}"},
	    {"\"int\"", "[\"null\",\"string\",\"double\",\"long\"]", "9", "{\"double\":9.0}"},
	    /* union -> union, branches in another order */
	    {"[\"null\",\"string\",\"int\"]", "[\"int\",\"string\",\"null\"]", "{\"string\":\"x\"}",
	     "{\"string\":\"x\"}"},
	    {"[\"null\",\"string\",\"int\"]", "[\"int\",\"string\",\"null\"]", "null", "null"},
	    /* arrays and maps item-wise */
	    {"{\"type\":\"array\",\"items\":\"int\"}", "{\"type\":\"array\",\"items\":\"long\"}",
	     "[1,2,3]", "[1,2,3]"},
	    {"{\"type\":\"map\",\"values\":[\"null\",\"float\"]}",
	     "{\"type\":\"map\",\"values\":[\"null\",\"double\"]}",
	     "{\"k\":{\"float\":0.5},\"m\":null}", "{\"k\":{\"double\":0.5},\"m\":null}"},
	    {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}",
	     "{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}", "\"\\u00ff\\u0000\"",
	     "\"\\u00ff\\u0000\""},
	};
	char err[CPS_ERRSTR_SIZE] = "", buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < CPS_ARRAY_SIZE(cases); i++) {
		struct cps_schema *w = schema_from_text(cases[i].writer);
		struct cps_schema *r = schema_from_text(cases[i].reader);
		size_t n = encode(w, cases[i].value, buf, sizeof(buf));
		json_t *got;

		if (cps_schema_check_compatible(w, r, err, sizeof(err)) != CPS_OK)
			fail_msg("case %zu: %s", i, err);
		got = resolve_to_json(w, r, buf, n, err, sizeof(err));
		if (!got)
			fail_msg("case %zu: %s", i, err);
		assert_json(got, cases[i].want);
		json_decref(got);
		schema_release(w);
		schema_release(r);
	}
}

static void test_incompatible(void **state)
{
	static const struct {
		const char *writer, *reader, *reason;
	} cases[] = {
	    {"\"long\"", "\"int\"", "writer type long cannot be read as int at ."},
	    {"\"double\"", "\"float\"", "writer type double cannot be read as float at ."},
	    {"\"string\"", "[\"null\",\"int\"]",
	     "writer type string has no branch in the reader union at ."},
	    {"[\"null\",\"string\"]", "\"string\"",
	     "writer type null cannot be read as string at ."},
	    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}",
	     "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
	     "{\"name\":\"b\",\"type\":\"string\"}]}",
	     "record R: reader field .b is not in the writer and has no default"},
	    {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"xs\",\"type\":{\"type\":"
	     "\"array\",\"items\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"P\",\"Q\"]}}}]}",
	     "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"xs\",\"type\":{\"type\":"
	     "\"array\",\"items\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"Q\",\"P\"]}}}]}",
	     "enum E: symbol 'P' moved from index 0 to 1 (.xs[])"},
	    {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}",
	     "{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}",
	     "writer type F cannot be read as F at ."},
	};
	char err[CPS_ERRSTR_SIZE] = "";
	size_t i;

	(void)state;
	for (i = 0; i < CPS_ARRAY_SIZE(cases); i++) {
		struct cps_schema *w = schema_from_text(cases[i].writer);
		struct cps_schema *r = schema_from_text(cases[i].reader);

		assert_int_equal(cps_schema_check_compatible(w, r, err, sizeof(err)),
		                 CPS_ERR_INVALID);
		assert_string_equal(err, cases[i].reason);
		schema_release(w);
		schema_release(r);
	}
}

static void test_missing_default_decode_fails(void **state)
{
	struct cps_schema *w = schema_from_text(
	    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}");
	struct cps_schema *r = schema_from_text(
	    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
	    "{\"name\":\"b\",\"type\":\"string\"}]}");
	char err[CPS_ERRSTR_SIZE] = "", buf[16];
	size_t n = encode(w, "{\"a\":1}", buf, sizeof(buf));

	(void)state;
	assert_null(resolve_to_json(w, r, buf, n, err, sizeof(err)));
	assert_string_equal(err, "reader field .b is not in the writer and has no default");
	schema_release(w);
	schema_release(r);
}

/* Bad bytes stop at the guard: truncated, trailing, out-of-range enum. */
static void test_guard_first(void **state)
{
	struct cps_schema *v1 = schema_from_file("person_v1.avsc");
	struct cps_schema *v2 = schema_from_file("person_v2.avsc");
	char err[CPS_ERRSTR_SIZE] = "", buf[1024];
	size_t n = encode(v1, PERSON_V1, buf, sizeof(buf));

	(void)state;
	assert_null(resolve_to_json(v1, v2, buf, n - 1, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	assert_null(strstr(err, "440305199001011234"));
	buf[n] = 0;
	assert_null(resolve_to_json(v1, v2, buf, n + 1, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	schema_release(v1);
	schema_release(v2);
}

static void test_set_default_every_type(void **state)
{
	static const struct {
		const char *schema, *dflt, *want;
	} cases[] = {
	    {"[\"string\",\"null\"]", "\"x\"", "{\"string\":\"x\"}"},
	    {"[\"null\",\"string\"]", "null", "null"},
	    {"[{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"u\",\"type\":[\"int\","
	     "\"null\"]},"
	     "{\"name\":\"v\",\"type\":\"long\",\"default\":5}]},\"null\"]",
	     "{\"u\":3}", "{\"P\":{\"u\":{\"int\":3},\"v\":5}}"},
	    {"{\"type\":\"array\",\"items\":[\"long\",\"null\"]}", "[1,2]",
	     "[{\"long\":1},{\"long\":2}]"},
	    {"{\"type\":\"map\",\"values\":\"double\"}", "{\"a\":1,\"b\":2.5}",
	     "{\"a\":1.0,\"b\":2.5}"},
	    {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"NONE\",\"SOME\"]}", "\"SOME\"",
	     "\"SOME\""},
	    {"\"bytes\"", "\"\\u0000\\u00ff\"", "\"\\u0000\\u00ff\""},
	    {"\"boolean\"", "true", "true"},
	    {"\"float\"", "0", "0.0"},
	};
	char err[CPS_ERRSTR_SIZE] = "";
	size_t i;

	(void)state;
	for (i = 0; i < CPS_ARRAY_SIZE(cases); i++) {
		struct cps_schema *s = schema_from_text(cases[i].schema);
		json_t *dflt = json_loads(cases[i].dflt, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL),
		       *got;
		avro_value_t v;

		assert_int_equal(avro_generic_value_new(s->iface, &v), 0);
		if (cps_value_set_default(s->json, dflt, &v, err, sizeof(err)) != CPS_OK)
			fail_msg("case %zu: %s", i, err);
		got = cps_value_to_json(&v, err, sizeof(err));
		assert_json(got, cases[i].want);
		json_decref(got);
		json_decref(dflt);
		avro_value_decref(&v);
		schema_release(s);
	}
	{
		/* A default for a later branch is not a default for the union. */
		struct cps_schema *s = schema_from_text("[\"null\",\"string\"]");
		json_t *dflt = json_string("x");
		avro_value_t v;

		assert_int_equal(avro_generic_value_new(s->iface, &v), 0);
		assert_int_equal(cps_value_set_default(s->json, dflt, &v, err, sizeof(err)),
		                 CPS_ERR_INVALID);
		assert_string_equal(err, "expected null for ., got string");
		json_decref(dflt);
		avro_value_decref(&v);
		schema_release(s);
	}
}

static void test_recursive_schema(void **state)
{
	static const char list[] =
	    "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},"
	    "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}";
	static const char list2[] =
	    "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[{\"name\":\"v\",\"type\":\"long\"},"
	    "{\"name\":\"w\",\"type\":\"int\",\"default\":-1},"
	    "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}";
	struct cps_schema *w = schema_from_text(list), *r = schema_from_text(list2);
	char err[CPS_ERRSTR_SIZE] = "", buf[64];
	size_t n =
	    encode(w, "{\"v\":1,\"next\":{\"Node\":{\"v\":2,\"next\":null}}}", buf, sizeof(buf));
	json_t *got;

	(void)state;
	assert_int_equal(cps_schema_check_compatible(w, r, err, sizeof(err)), CPS_OK);
	got = resolve_to_json(w, r, buf, n, err, sizeof(err));
	assert_json(got, "{\"v\":1,\"w\":-1,\"next\":{\"Node\":{\"v\":2,\"w\":-1,\"next\":null}}}");
	json_decref(got);
	schema_release(w);
	schema_release(r);
}

static void test_no_leaks(void **state)
{
	int k;

	for (k = 0; k < 2; k++) {
		test_v1_read_as_v2(state);
		test_enum_reordered_refused(state);
		test_enum_rules(state);
		test_promotions_and_unions(state);
		test_incompatible(state);
		test_missing_default_decode_fails(state);
		test_guard_first(state);
		test_set_default_every_type(state);
		test_recursive_schema(state);
	}
#ifdef HAVE_LSAN
	assert_int_equal(__lsan_do_recoverable_leak_check(), 0);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1_read_as_v2),
	    cmocka_unit_test(test_enum_reordered_refused),
	    cmocka_unit_test(test_enum_rules),
	    cmocka_unit_test(test_promotions_and_unions),
	    cmocka_unit_test(test_incompatible),
	    cmocka_unit_test(test_missing_default_decode_fails),
	    cmocka_unit_test(test_guard_first),
	    cmocka_unit_test(test_set_default_every_type),
	    cmocka_unit_test(test_recursive_schema),
	    cmocka_unit_test(test_no_leaks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
