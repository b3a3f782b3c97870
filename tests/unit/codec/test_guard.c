/*
 * Unit tests of the guard (sync/codec/guard.c): every rejection class with its
 * exact reason, reasons that name offset and path but never content, and
 * acceptance of data that Avro C itself wrote for a schema using every type.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/common.h"
#include "codec/guard.h"

static const char ALL_TYPES[] =
    "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}},"
    "{\"name\":\"gender\",\"type\":{\"type\":\"enum\",\"name\":\"G\","
    "\"symbols\":[\"A\",\"B\",\"C\",\"D\"]}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"members\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"M\",\"fields\":[{\"name\":\"national_id\",\"type\":\"string\"},"
    "{\"name\":\"age\",\"type\":\"int\"}]}}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"list\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
    "{\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}}"
    "]}";

static avro_schema_t parse(const char *json)
{
	avro_schema_t s = NULL;

	if (avro_schema_from_json_length(json, strlen(json), &s) != 0) {
		fprintf(stderr, "schema: %s\n", avro_strerror());
		fail();
	}
	return s;
}

static int check(const char *schema_json, const void *buf, size_t len,
                 const struct cps_guard_limits *limits, char *err)
{
	avro_schema_t s = parse(schema_json);
	int rc;

	err[0] = '\0';
	rc = cps_guard_check(s, buf, len, limits, err, CPS_ERRSTR_SIZE);
	avro_schema_decref(s);
	return rc;
}

static void expect_reject_l(const char *schema_json, const void *buf, size_t len,
                            const struct cps_guard_limits *limits, const char *reason)
{
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(check(schema_json, buf, len, limits, err), CPS_ERR_INVALID);
	if (!strstr(err, reason)) {
		fprintf(stderr, "want \"%s\", got \"%s\"\n", reason, err);
		fail();
	}
	assert_null(strchr(err, '\n'));
}

#define expect_reject(s, bytes, reason)                                                            \
	do {                                                                                       \
		static const uint8_t b_[] = bytes;                                                 \
		expect_reject_l(s, b_, sizeof(b_), NULL, reason);                                  \
	} while (0)

#define B(...)                                                                                     \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}

static void expect_accept(const char *schema_json, const void *buf, size_t len,
                          const struct cps_guard_limits *limits)
{
	char err[CPS_ERRSTR_SIZE];

	if (check(schema_json, buf, len, limits, err) != CPS_OK) {
		fprintf(stderr, "unexpected rejection: %s\n", err);
		fail();
	}
}

static void test_varints(void **state)
{
	expect_reject("\"long\"", B(0x80), "truncated varint at offset 0");
	expect_reject("\"long\"", B(0x80, 0x00), "non-minimal varint at offset 0");
	expect_reject("\"long\"",
	              B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x01),
	              "varint longer than 10 bytes at offset 0");
	expect_reject("\"long\"", B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02),
	              "varint overflows 64 bits at offset 0");
	expect_reject("\"int\"", B(0xff, 0xff, 0xff, 0xff, 0x10), "int out of range at offset 0");
	expect_reject("\"int\"", B(0xff, 0xff, 0xff, 0xff, 0x8f, 0x01),
	              "varint longer than 5 bytes at offset 0");
	/* extremes that are valid */
	static const uint8_t int_min[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	static const uint8_t long_min[] = {0xff, 0xff, 0xff, 0xff, 0xff,
	                                   0xff, 0xff, 0xff, 0xff, 0x01};
	expect_accept("\"int\"", int_min, sizeof(int_min), NULL);
	expect_accept("\"long\"", long_min, sizeof(long_min), NULL);
}

static void test_lengths(void **state)
{
	expect_reject("\"string\"", B(0x01), "negative string length -1 at offset 0");
	expect_reject("\"bytes\"", B(0x03), "negative bytes length -2 at offset 0");
	/* 1 GiB declared, one byte present */
	expect_reject("\"string\"", B(0x80, 0x80, 0x80, 0x80, 0x08, 'x'),
	              "string length 1073741824 exceeds remaining 1 bytes at offset 0");
	expect_reject("\"bytes\"", B(0x0a, 1, 2), "bytes length 5 exceeds remaining 2 bytes");
	expect_reject("{\"type\":\"fixed\",\"name\":\"F\",\"size\":16}", B(1, 2, 3),
	              "truncated fixed: 16 bytes needed, 3 remain at offset 0");
	expect_reject("\"float\"", B(1, 2, 3), "truncated float: 4 bytes needed, 3 remain");
	expect_reject("\"double\"", B(1, 2, 3, 4, 5, 6, 7),
	              "truncated double: 8 bytes needed, 7 remain");
	expect_reject("\"boolean\"", B(2), "boolean byte not 0 or 1 at offset 0");
	expect_reject_l("\"boolean\"", "", 0, NULL, "truncated boolean at offset 0");
}

static void test_enum_union(void **state)
{
	const char *rec = "{\"type\":\"record\",\"name\":\"P\",\"fields\":["
	                  "{\"name\":\"age\",\"type\":\"int\"},"
	                  "{\"name\":\"gender\",\"type\":{\"type\":\"enum\",\"name\":\"G\","
	                  "\"symbols\":[\"A\",\"B\",\"C\",\"D\"]}}]}";

	expect_reject(rec, B(0x54, 0x0e), "enum index 7 out of range 0..3 at offset 1 (.gender)");
	expect_reject(rec, B(0x54, 0x01), "enum index -1 out of range 0..3 at offset 1 (.gender)");
	expect_reject("[\"null\",\"string\"]", B(0x04),
	              "union index 2 out of range 0..1 at offset 0");
	expect_reject("[\"null\",\"string\"]", B(0x01), "union index -1 out of range 0..1");
	expect_reject("[\"null\",\"string\"]", B(0x02, 0x04, 'a'),
	              "string length 2 exceeds remaining 1 bytes at offset 1");
}

static void test_blocks(void **state)
{
	const char *ints = "{\"type\":\"array\",\"items\":\"int\"}";
	const char *nulls = "{\"type\":\"array\",\"items\":\"null\"}";
	const char *empties = "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"E\","
	                      "\"fields\":[]}}";
	const char *map = "{\"type\":\"map\",\"values\":\"null\"}";

	expect_reject(ints, B(0x0a, 0x02), "block count 5 exceeds remaining 1 bytes at offset 0");
	expect_reject(map, B(0x0a, 0x00), "block count 5 exceeds remaining 1 bytes at offset 0");
	/* 4e9 nulls in 6 bytes */
	expect_reject(
	    nulls, B(0x80, 0xa0, 0xd9, 0xe6, 0x1d, 0x00),
	    "too many items: block of 4000000000 after 0 exceeds max 1000000 at offset 0");
	/* INT64_MIN block count */
	expect_reject(ints, B(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00),
	              "block count -9223372036854775808 cannot be negated at offset 0");
	/* negative count: |count| items then a byte size that must match */
	expect_reject(ints, B(0x03, 0x06, 0x02, 0x04, 0x00),
	              "block byte size 3 does not match its 2 bytes of items at offset 0");
	expect_reject(ints, B(0x03, 0x01, 0x02, 0x04, 0x00), "negative block byte size -1");
	expect_reject(ints, B(0x03, 0x14, 0x02, 0x04, 0x00),
	              "block byte size 10 exceeds remaining 3 bytes");
	static const uint8_t neg_ok[] = {0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00};
	expect_accept(ints, neg_ok, sizeof(neg_ok), NULL);
	/* zero-byte items may exceed the remaining bytes, within max_items */
	static const uint8_t hundred[] = {0xc8, 0x01, 0x00};
	expect_accept(nulls, hundred, sizeof(hundred), NULL);
	expect_accept(empties, hundred, sizeof(hundred), NULL);
	/* the running total counts every block */
	struct cps_guard_limits l;
	cps_guard_limits_default(&l);
	l.max_items = 150;
	static const uint8_t two_blocks[] = {0xc8, 0x01, 0xc8, 0x01, 0x00};
	expect_reject_l(nulls, two_blocks, sizeof(two_blocks), &l,
	                "too many items: block of 100 after 100 exceeds max 150 at offset 2");
	expect_reject(ints, B(0x02, 0x02), "truncated varint at offset 2");
}

static void test_depth_size_trailing(void **state)
{
	const char *list = "{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
	                   "{\"name\":\"v\",\"type\":\"int\"},"
	                   "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}";
	/* five nodes: record+union per level */
	static const uint8_t five[] = {2, 2, 4, 2, 6, 2, 8, 2, 10, 0};
	struct cps_guard_limits l;

	cps_guard_limits_default(&l);
	expect_accept(list, five, sizeof(five), &l);
	l.max_depth = 9;
	expect_reject_l(list, five, sizeof(five), &l,
	                "nesting deeper than 9 at offset 9 (.next.next.next.next.next)");
	l.max_depth = 10;
	expect_accept(list, five, sizeof(five), &l);
	/* a huge max_depth is still capped: 2000 levels are refused, not a stack overflow */
	{
		uint8_t deep[4001];
		size_t i;

		for (i = 0; i < 2000; i++) {
			deep[2 * i] = 2;
			deep[2 * i + 1] = 2;
		}
		deep[4000] = 0;
		l.max_depth = 1000000;
		expect_reject_l(list, deep, sizeof(deep), &l, "nesting deeper than 512");
	}
	cps_guard_limits_default(&l);
	l.max_message_bytes = 2;
	expect_reject_l("\"string\"",
	                "\x04"
	                "ab",
	                3, &l, "message of 3 bytes exceeds max 2");
	expect_reject("\"int\"", B(0x02, 0x00, 0x00),
	              "trailing bytes: 2 after the datum at offset 1");
}

/* Paths name fields, items and map entries; content never appears. */
static void test_path_no_content(void **state)
{
	const char *s = "{\"type\":\"record\",\"name\":\"H\",\"fields\":["
	                "{\"name\":\"members\",\"type\":{\"type\":\"array\",\"items\":{"
	                "\"type\":\"record\",\"name\":\"M\",\"fields\":["
	                "{\"name\":\"national_id\",\"type\":\"string\"}]}}},"
	                "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"int\"}}]}";
	static const uint8_t bad_member[] = {0x04, 0x24, '4', '4', '0',  '3', '0', '1',
	                                     '1',  '9',  '9', '0', '0',  '1', '0', '1',
	                                     '1',  '2',  '3', '4', 0x30, 'x'};
	static const uint8_t bad_key[] = {0x00, 0x02, 0x10, 'x'};
	static const uint8_t bad_value[] = {0x00, 0x02, 0x02, 'k', 0x80};
	char err[CPS_ERRSTR_SIZE];

	expect_reject_l(s, bad_member, sizeof(bad_member), NULL,
	                "string length 24 exceeds remaining 1 bytes at offset 20 "
	                "(.members[1].national_id)");
	assert_int_equal(check(s, bad_member, sizeof(bad_member), NULL, err), CPS_ERR_INVALID);
	assert_null(strstr(err, "4403"));
	expect_reject_l(s, bad_key, sizeof(bad_key), NULL,
	                "map key length 8 exceeds remaining 1 bytes at offset 2 (.attrs{0}<key>)");
	expect_reject_l(s, bad_value, sizeof(bad_value), NULL,
	                "truncated varint at offset 4 (.attrs{0})");
}

/* Data written by Avro C for a schema with every type passes, whole and as a prefix. */
static void test_accepts_avro_c_output(void **state)
{
	avro_schema_t schema = parse(ALL_TYPES);
	avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
	avro_value_t v, f, item, sub, br;
	char buf[4096];
	avro_writer_t wr;
	int64_t len;
	char err[CPS_ERRSTR_SIZE];
	size_t consumed = 0;
	int i;

	assert_non_null(iface);
	assert_int_equal(avro_generic_value_new(iface, &v), 0);
	avro_value_get_by_name(&v, "b", &f, NULL);
	avro_value_set_boolean(&f, 1);
	avro_value_get_by_name(&v, "i", &f, NULL);
	avro_value_set_int(&f, INT32_MIN);
	avro_value_get_by_name(&v, "l", &f, NULL);
	avro_value_set_long(&f, INT64_MAX);
	avro_value_get_by_name(&v, "f", &f, NULL);
	avro_value_set_float(&f, 1.5f);
	avro_value_get_by_name(&v, "d", &f, NULL);
	avro_value_set_double(&f, -2.25);
	avro_value_get_by_name(&v, "s", &f, NULL);
	avro_value_set_string(&f, "masked");
	avro_value_get_by_name(&v, "by", &f, NULL);
	avro_value_set_bytes(&f, "\x00\x01\x02", 3);
	avro_value_get_by_name(&v, "fx", &f, NULL);
	avro_value_set_fixed(&f, "abcd", 4);
	avro_value_get_by_name(&v, "gender", &f, NULL);
	avro_value_set_enum(&f, 3);
	avro_value_get_by_name(&v, "u", &f, NULL);
	avro_value_set_branch(&f, 1, &br);
	avro_value_set_string(&br, "x");
	avro_value_get_by_name(&v, "members", &f, NULL);
	for (i = 0; i < 70; i++) {
		avro_value_append(&f, &item, NULL);
		avro_value_get_by_name(&item, "national_id", &sub, NULL);
		avro_value_set_string(&sub, "id");
		avro_value_get_by_name(&item, "age", &sub, NULL);
		avro_value_set_int(&sub, i * 1000);
	}
	avro_value_get_by_name(&v, "attrs", &f, NULL);
	avro_value_add(&f, "k1", &sub, NULL, NULL);
	avro_value_set_long(&sub, -1);
	avro_value_add(&f, "k2", &sub, NULL, NULL);
	avro_value_set_long(&sub, 1LL << 40);
	/* a linked list of three nodes */
	avro_value_get_by_name(&v, "list", &f, NULL);
	for (i = 0; i < 3; i++) {
		avro_value_get_by_name(&f, "v", &sub, NULL);
		avro_value_set_int(&sub, i);
		avro_value_get_by_name(&f, "next", &sub, NULL);
		if (i == 2) {
			avro_value_set_branch(&sub, 0, &br);
			avro_value_set_null(&br);
		} else {
			avro_value_set_branch(&sub, 1, &br);
			f = br;
		}
	}

	wr = avro_writer_memory(buf, sizeof(buf));
	assert_int_equal(avro_value_write(wr, &v), 0);
	len = avro_writer_tell(wr);
	assert_true(len > 200);
	assert_int_equal(cps_guard_check(schema, buf, (size_t)len, NULL, err, sizeof(err)), CPS_OK);
	/* prefix: following bytes are not an error, consumed is the datum */
	buf[len] = 0x7f;
	assert_int_equal(
	    cps_guard_check_prefix(schema, buf, (size_t)len + 1, NULL, &consumed, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(consumed, (size_t)len);
	assert_int_equal(cps_guard_check(schema, buf, (size_t)len + 1, NULL, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "trailing bytes: 1 after the datum"));
	/* every strict prefix of the message is refused (truncated record) */
	for (i = 0; i < len; i++)
		assert_int_equal(cps_guard_check(schema, buf, (size_t)i, NULL, err, sizeof(err)),
		                 CPS_ERR_INVALID);

	avro_writer_free(wr);
	avro_value_decref(&v);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_varints),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_enum_union),
	    cmocka_unit_test(test_blocks),
	    cmocka_unit_test(test_depth_size_trailing),
	    cmocka_unit_test(test_path_no_content),
	    cmocka_unit_test(test_accepts_avro_c_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
