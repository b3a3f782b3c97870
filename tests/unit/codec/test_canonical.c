/*
 * Parsing Canonical Form and CRC-64-AVRO: every vector of the Avro
 * specification's tests/data/schema-tests.txt (a copy of apache/avro
 * share/test/data/schema-tests.txt), plus the cases the file does not cover
 * (logical types, namespace inheritance, repeated names, errors).
 */
#include "base/buf.h"
#include "base/common.h"
#include "codec/schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct vector {
	int number;
	char *input;
	char *canonical;
	int has_fingerprint;
	int64_t fingerprint;
};

static char *dup_trimmed(const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	return strndup(s, len);
}

/*
 * The file's format: "// NNN" starts a case; "<<INPUT text" or "<<INPUT"
 * followed by lines up to "INPUT"; "<<canonical text"; "<<fingerprint N"
 * (a signed decimal int64); other "//" lines are comments.
 */
static size_t parse_vectors(const char *text, struct vector *v, size_t max)
{
	const char *p = text;
	size_t n = 0;
	struct vector *cur = NULL;
	struct cps_buf multi;

	cps_buf_init(&multi, 0);
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *next = eol ? eol + 1 : p + len;

		if (len >= 3 && !strncmp(p, "// ", 3) && p[3] >= '0' && p[3] <= '9') {
			assert_true(n < max);
			cur = &v[n++];
			memset(cur, 0, sizeof(*cur));
			cur->number = atoi(p + 3);
		} else if (len == 7 && !strncmp(p, "<<INPUT", 7)) {
			/* multi-line input up to a line "INPUT" */
			assert_non_null(cur);
			cps_buf_reset(&multi);
			p = next;
			while (*p) {
				eol = strchr(p, '\n');
				len = eol ? (size_t)(eol - p) : strlen(p);
				next = eol ? eol + 1 : p + len;
				if (len == 5 && !strncmp(p, "INPUT", 5))
					break;
				assert_int_equal(cps_buf_append(&multi, p, len), 0);
				assert_int_equal(cps_buf_append_byte(&multi, '\n'), 0);
				p = next;
			}
			cur->input = strdup((const char *)multi.data);
		} else if (len > 8 && !strncmp(p, "<<INPUT ", 8)) {
			assert_non_null(cur);
			cur->input = dup_trimmed(p + 8, len - 8);
		} else if (len > 12 && !strncmp(p, "<<canonical ", 12)) {
			assert_non_null(cur);
			cur->canonical = dup_trimmed(p + 12, len - 12);
		} else if (len > 14 && !strncmp(p, "<<fingerprint ", 14)) {
			assert_non_null(cur);
			cur->has_fingerprint = 1;
			cur->fingerprint = strtoll(p + 14, NULL, 10);
		}
		p = next;
	}
	cps_buf_release(&multi);
	return n;
}

static void test_spec_vectors(void **state)
{
	const char *src = getenv("CPSYNC_SOURCE_DIR");
	char path[4096], err[CPS_ERRSTR_SIZE];
	struct vector v[128];
	struct cps_buf file;
	size_t n, with_fp = 0;

	snprintf(path, sizeof(path), "%s/tests/data/schema-tests.txt",
	         src ? src : CPSYNC_SOURCE_DIR);
	cps_buf_init(&file, 0);
	assert_int_equal(cps_buf_read_file(&file, path), 0);
	n = parse_vectors((const char *)file.data, v, CPS_ARRAY_SIZE(v));
	assert_int_equal(n, 34); /* 000 … 033 */

	for (size_t i = 0; i < n; i++) {
		json_error_t jerr;
		json_t *json;
		char *pcf;

		assert_int_equal(v[i].number, (int)i);
		assert_non_null(v[i].input);
		assert_non_null(v[i].canonical);
		json = json_loads(v[i].input, JSON_DECODE_ANY, &jerr);
		if (!json)
			fail_msg("vector %03d: input is not JSON: %s", v[i].number, jerr.text);
		pcf = cps_canonical_form(json, err, sizeof(err));
		if (!pcf)
			fail_msg("vector %03d: %s", v[i].number, err);
		if (strcmp(pcf, v[i].canonical))
			fail_msg("vector %03d: got %s, want %s", v[i].number, pcf, v[i].canonical);
		if (v[i].has_fingerprint) {
			uint64_t fp = cps_crc64_avro(pcf, strlen(pcf));

			with_fp++;
			if ((int64_t)fp != v[i].fingerprint)
				fail_msg("vector %03d: fingerprint %lld, want %lld", v[i].number,
				         (long long)(int64_t)fp, (long long)v[i].fingerprint);
		}

		/* The same through the full loader (Avro C must accept it too),
		 * except the empty union, which Avro C cannot represent alone. */
		if (strcmp(v[i].canonical, "[]")) {
			struct cps_schema *s = NULL;

			if (cps_schema_parse(v[i].input, strlen(v[i].input), &s, err,
			                     sizeof(err)) != CPS_OK)
				fail_msg("vector %03d: load: %s", v[i].number, err);
			assert_string_equal(s->canonical, v[i].canonical);
			assert_true(s->fingerprint == cps_crc64_avro(pcf, strlen(pcf)));
			assert_non_null(s->avro);
			assert_non_null(s->iface);
			cps_schema_free(s);
		}
		free(pcf);
		json_decref(json);
	}
	assert_true(with_fp >= 20);
	for (size_t i = 0; i < n; i++) {
		free(v[i].input);
		free(v[i].canonical);
	}
	cps_buf_release(&file);
}

static void test_crc64_empty_and_known(void **state)
{
	/* The empty input leaves the initial value: the spec's EMPTY. */
	assert_true(cps_crc64_avro("", 0) == 0xc15d213aa4d7a795ULL);
	/* "null" from the spec's vectors, as an unsigned hex. */
	assert_true(cps_crc64_avro("\"null\"", 6) == (uint64_t)7195948357588979594LL);
}

static void expect_pcf(const char *input, const char *want)
{
	char err[CPS_ERRSTR_SIZE];
	json_error_t jerr;
	json_t *json = json_loads(input, JSON_DECODE_ANY, &jerr);
	char *pcf;

	assert_non_null(json);
	pcf = cps_canonical_form(json, err, sizeof(err));
	if (!pcf)
		fail_msg("%s: %s", input, err);
	assert_string_equal(pcf, want);
	free(pcf);
	json_decref(json);
}

static void test_beyond_the_vectors(void **state)
{
	/* logicalType and other attributes are stripped; primitives become names */
	expect_pcf("{\"type\":\"int\",\"logicalType\":\"date\"}", "\"int\"");
	expect_pcf("{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":12,\"scale\":2}",
	           "\"bytes\"");
	expect_pcf("{\"type\":\"fixed\",\"name\":\"D\",\"size\":8,\"logicalType\":\"decimal\","
	           "\"precision\":10}",
	           "{\"name\":\"D\",\"type\":\"fixed\",\"size\":8}");
	/* namespaces inherit into nested types, references become full names, a
	 * name seen again is written as its full name, a dotted name resets */
	expect_pcf(
	    "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"doc\":\"d\","
	    "\"fields\":["
	    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\"],"
	    "\"default\":\"X\"}},"
	    "{\"name\":\"e2\",\"type\":\"E\",\"default\":\"X\"},"
	    "{\"name\":\"e3\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\"]}},"
	    "{\"name\":\"o\",\"type\":{\"type\":\"record\",\"name\":\"c.O\",\"fields\":["
	    "{\"name\":\"i\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}}]}},"
	    "{\"name\":\"f\",\"type\":[\"null\",\"c.F\"]},"
	    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\","
	    "\"items\":\"R\"}}}]}",
	    "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
	    "{\"name\":\"e\",\"type\":{\"name\":\"a.b.E\",\"type\":\"enum\",\"symbols\":[\"X\"]}},"
	    "{\"name\":\"e2\",\"type\":\"a.b.E\"},"
	    "{\"name\":\"e3\",\"type\":\"a.b.E\"},"
	    "{\"name\":\"o\",\"type\":{\"name\":\"c.O\",\"type\":\"record\",\"fields\":["
	    "{\"name\":\"i\",\"type\":{\"name\":\"c.F\",\"type\":\"fixed\",\"size\":2}}]}},"
	    "{\"name\":\"f\",\"type\":[\"null\",\"c.F\"]},"
	    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\","
	    "\"items\":\"a.b.R\"}}}]}");
	/* an empty namespace means the null namespace, also for children */
	expect_pcf(
	    "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"x\",\"fields\":["
	    "{\"name\":\"n\",\"type\":{\"type\":\"enum\",\"name\":\"N\",\"namespace\":\"\","
	    "\"symbols\":[\"A\"]}}]}",
	    "{\"name\":\"x.R\",\"type\":\"record\",\"fields\":["
	    "{\"name\":\"n\",\"type\":{\"name\":\"N\",\"type\":\"enum\",\"symbols\":[\"A\"]}}]}");
	/* \u escapes become UTF-8 */
	expect_pcf("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"doc\":\"\\u4f4e\"}",
	           "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A\"]}");
	expect_pcf(
	    "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"\\u0061\","
	    "\"type\":\"int\"}]}",
	    "{\"name\":\"R\",\"type\":\"record\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}");
}

static void expect_error(const char *input, const char *want_in_error)
{
	char err[CPS_ERRSTR_SIZE] = "";
	json_t *json = json_loads(input, JSON_DECODE_ANY, NULL);
	char *pcf;

	assert_non_null(json);
	pcf = cps_canonical_form(json, err, sizeof(err));
	assert_null(pcf);
	if (!strstr(err, want_in_error))
		fail_msg("%s: error \"%s\" lacks \"%s\"", input, err, want_in_error);
	json_decref(json);
}

static void test_errors(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_schema *s = (void *)1;
	json_t *deep = json_string("int");

	expect_error("{\"type\":\"record\",\"fields\":[]}", "without a name");
	expect_error("{\"type\":\"record\",\"name\":\"R\"}", "without a fields array");
	expect_error("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}", "not a string");
	expect_error("{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "size");
	expect_error("{\"type\":\"array\"}", "without items");
	expect_error("{\"type\":\"map\"}", "without values");
	expect_error("{\"doc\":\"no type\"}", "without a type");
	expect_error("42", "not a string, an array or an object");
	assert_null(cps_canonical_form(NULL, err, sizeof(err)));

	/* hostile nesting is refused, not a stack overflow */
	for (int i = 0; i < 10000; i++)
		deep = json_pack("{s:s,s:o}", "type", "array", "items", deep);
	assert_null(cps_canonical_form(deep, err, sizeof(err)));
	assert_non_null(strstr(err, "nested deeper"));
	assert_int_not_equal(cps_schema_from_json(deep, &s, err, sizeof(err)), CPS_OK);
	assert_null(s);
	json_decref(deep);

	/* Avro C's own refusal is reported with its reason */
	assert_int_equal(cps_schema_parse("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
	                                  "{\"name\":\"a\",\"type\":\"Nope\"}]}",
	                                  strlen("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
	                                         "{\"name\":\"a\",\"type\":\"Nope\"}]}"),
	                                  &s, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "unknown type \"Nope\""));
	assert_int_equal(cps_schema_parse("{nope", 5, &s, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "invalid JSON"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_vectors),
	    cmocka_unit_test(test_crc64_empty_and_known),
	    cmocka_unit_test(test_beyond_the_vectors),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
