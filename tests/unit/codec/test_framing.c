/*
 * Unit tests of sync/codec/framing.c: framing names, header round trips for the
 * raw, Confluent and single-object framings, known byte layouts, and every
 * malformed-header error (empty, too short, wrong magic, negative id).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/common.h"
#include "codec/framing.h"

static void test_names(void **state)
{
	enum cps_framing f = CPS_FRAMING_RAW;

	assert_int_equal(cps_framing_from_name("raw", &f), CPS_OK);
	assert_int_equal(f, CPS_FRAMING_RAW);
	assert_int_equal(cps_framing_from_name("confluent", &f), CPS_OK);
	assert_int_equal(f, CPS_FRAMING_CONFLUENT);
	assert_int_equal(cps_framing_from_name("single-object", &f), CPS_OK);
	assert_int_equal(f, CPS_FRAMING_SINGLE_OBJECT);
	f = CPS_FRAMING_CONFLUENT;
	assert_int_equal(cps_framing_from_name("Confluent", &f), -1);
	assert_int_equal(cps_framing_from_name("", &f), -1);
	assert_int_equal(cps_framing_from_name(NULL, &f), -1);
	assert_int_equal(f, CPS_FRAMING_CONFLUENT); /* untouched on failure */
	assert_string_equal(cps_framing_name(CPS_FRAMING_RAW), "raw");
	assert_string_equal(cps_framing_name(CPS_FRAMING_CONFLUENT), "confluent");
	assert_string_equal(cps_framing_name(CPS_FRAMING_SINGLE_OBJECT), "single-object");
	assert_string_equal(cps_framing_name((enum cps_framing)42), "unknown");
}

/* Writes header + body and parses it back. */
static void round_trip(enum cps_framing framing, int32_t id, uint64_t fp, const char *body,
                       size_t expect_hdr_len)
{
	struct cps_buf b;
	struct cps_frame fr;
	char err[CPS_ERRSTR_SIZE] = "";
	size_t blen = strlen(body);

	cps_buf_init(&b, 0);
	assert_int_equal(cps_frame_write_header(framing, id, fp, &b), CPS_OK);
	assert_int_equal(b.len, expect_hdr_len);
	assert_int_equal(cps_buf_append(&b, body, blen), 0);
	assert_int_equal(cps_frame_parse(framing, b.data, b.len, &fr, err, sizeof(err)), CPS_OK);
	assert_int_equal(fr.framing, framing);
	assert_int_equal(fr.body_len, blen);
	assert_ptr_equal(fr.body, b.data + expect_hdr_len);
	assert_memory_equal(fr.body, body, blen);
	if (framing == CPS_FRAMING_CONFLUENT)
		assert_int_equal(fr.schema_id, id);
	if (framing == CPS_FRAMING_SINGLE_OBJECT)
		assert_true(fr.fingerprint == fp);
	cps_buf_release(&b);
}

static void test_round_trips(void **state)
{
	round_trip(CPS_FRAMING_RAW, 7, 9, "\x02\x04hello", 0);
	round_trip(CPS_FRAMING_RAW, 0, 0, "", 0);
	round_trip(CPS_FRAMING_CONFLUENT, 1, 0, "\x02\x04hi", 5);
	round_trip(CPS_FRAMING_CONFLUENT, 0, 0, "", 5);
	round_trip(CPS_FRAMING_CONFLUENT, INT32_MAX, 0, "x", 5);
	round_trip(CPS_FRAMING_CONFLUENT, 0x01020304, 0, "body", 5);
	round_trip(CPS_FRAMING_SINGLE_OBJECT, 0, 0, "body", 10);
	round_trip(CPS_FRAMING_SINGLE_OBJECT, 0, UINT64_MAX, "", 10);
	round_trip(CPS_FRAMING_SINGLE_OBJECT, 0, 0x8877665544332211ULL, "\x00\x01", 10);
}

static void test_byte_layout(void **state)
{
	static const uint8_t confluent[] = {0x00, 0x01, 0x02, 0x03, 0x04};
	/* CRC-64-AVRO of "null" per the Avro spec is 0x63dd24e7cc258f8a; the
	 * single-object header stores it little-endian. */
	static const uint8_t single[] = {0xC3, 0x01, 0x8a, 0x8f, 0x25,
	                                 0xcc, 0xe7, 0x24, 0xdd, 0x63};
	struct cps_buf b;

	cps_buf_init(&b, 0);
	assert_int_equal(cps_frame_write_header(CPS_FRAMING_CONFLUENT, 0x01020304, 0, &b), CPS_OK);
	assert_int_equal(b.len, sizeof(confluent));
	assert_memory_equal(b.data, confluent, sizeof(confluent));
	cps_buf_reset(&b);
	assert_int_equal(
	    cps_frame_write_header(CPS_FRAMING_SINGLE_OBJECT, 0, 0x63dd24e7cc258f8aULL, &b),
	    CPS_OK);
	assert_int_equal(b.len, sizeof(single));
	assert_memory_equal(b.data, single, sizeof(single));
	cps_buf_reset(&b);
	assert_int_equal(cps_frame_write_header(CPS_FRAMING_RAW, 5, 5, &b), CPS_OK);
	assert_int_equal(b.len, 0);
	cps_buf_release(&b);
}

static void expect_error(enum cps_framing framing, const void *msg, size_t len,
                         const char *expect_err)
{
	struct cps_frame fr;
	char err[CPS_ERRSTR_SIZE] = "";

	assert_int_equal(cps_frame_parse(framing, msg, len, &fr, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, expect_err);
}

static void test_confluent_errors(void **state)
{
	static const uint8_t wrong_magic[] = {0x43, 0x00, 0x00, 0x00, 0x01, 0x02};
	static const uint8_t short4[] = {0x00, 0x00, 0x00, 0x01};
	static const uint8_t negative[] = {0x00, 0xFF, 0xFF, 0xFF, 0xFE, 0x02};
	static const uint8_t single[] = {0xC3, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
	static const char *const cf = "not Confluent wire format: ";
	char want[CPS_ERRSTR_SIZE];

	expect_error(CPS_FRAMING_CONFLUENT, wrong_magic, sizeof(wrong_magic),
	             "not Confluent wire format: magic byte 0x43, expected 0x00");
	expect_error(CPS_FRAMING_CONFLUENT, wrong_magic, 1,
	             "not Confluent wire format: magic byte 0x43, expected 0x00");
	expect_error(CPS_FRAMING_CONFLUENT, single, sizeof(single),
	             "not Confluent wire format: magic byte 0xC3, expected 0x00");
	snprintf(want, sizeof(want), "%s0 bytes, the header needs 5", cf);
	expect_error(CPS_FRAMING_CONFLUENT, "", 0, want);
	expect_error(CPS_FRAMING_CONFLUENT, NULL, 0, want);
	snprintf(want, sizeof(want), "%s4 bytes, the header needs 5", cf);
	expect_error(CPS_FRAMING_CONFLUENT, short4, sizeof(short4), want);
	snprintf(want, sizeof(want), "%s1 bytes, the header needs 5", cf);
	expect_error(CPS_FRAMING_CONFLUENT, short4, 1, want);
	expect_error(CPS_FRAMING_CONFLUENT, negative, sizeof(negative),
	             "not Confluent wire format: negative schema id -2");
}

static void test_single_object_errors(void **state)
{
	static const uint8_t wrong0[] = {0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
	static const uint8_t wrong1[] = {0xC3, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
	static const uint8_t short9[] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7};
	static const char *const so = "not Avro single-object encoding: ";
	char want[CPS_ERRSTR_SIZE];

	expect_error(CPS_FRAMING_SINGLE_OBJECT, wrong0, sizeof(wrong0),
	             "not Avro single-object encoding: magic byte 0x00, expected 0xC3");
	expect_error(CPS_FRAMING_SINGLE_OBJECT, wrong0, 1,
	             "not Avro single-object encoding: magic byte 0x00, expected 0xC3");
	expect_error(CPS_FRAMING_SINGLE_OBJECT, wrong1, sizeof(wrong1),
	             "not Avro single-object encoding: second byte 0x02, expected 0x01");
	snprintf(want, sizeof(want), "%s9 bytes, the header needs 10", so);
	expect_error(CPS_FRAMING_SINGLE_OBJECT, short9, sizeof(short9), want);
	snprintf(want, sizeof(want), "%s2 bytes, the header needs 10", so);
	expect_error(CPS_FRAMING_SINGLE_OBJECT, short9, 2, want);
	snprintf(want, sizeof(want), "%s1 bytes, the header needs 10", so);
	expect_error(CPS_FRAMING_SINGLE_OBJECT, short9, 1, want);
	snprintf(want, sizeof(want), "%s0 bytes, the header needs 10", so);
	expect_error(CPS_FRAMING_SINGLE_OBJECT, "", 0, want);
}

static void test_raw_and_bad_args(void **state)
{
	struct cps_frame fr;
	struct cps_buf b;
	char err[CPS_ERRSTR_SIZE] = "";

	/* Raw accepts anything, including bytes that look like another framing. */
	assert_int_equal(cps_frame_parse(CPS_FRAMING_RAW, "\x00\x00", 2, &fr, err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(fr.body_len, 2);
	assert_int_equal(cps_frame_parse(CPS_FRAMING_RAW, NULL, 0, &fr, err, sizeof(err)), CPS_OK);
	assert_int_equal(fr.body_len, 0);
	assert_int_equal(cps_frame_parse(CPS_FRAMING_RAW, NULL, 3, &fr, err, sizeof(err)),
	                 CPS_ERR_FATAL);
	assert_int_equal(cps_frame_parse((enum cps_framing)9, "abc", 3, &fr, err, sizeof(err)),
	                 CPS_ERR_FATAL);
	assert_string_equal(err, "unknown framing 9");

	/* Writing: a negative id cannot be encoded, an unknown framing is a bug,
	 * a buffer at its cap refuses the header. */
	cps_buf_init(&b, 0);
	assert_int_equal(cps_frame_write_header(CPS_FRAMING_CONFLUENT, -1, 0, &b), CPS_ERR_INVALID);
	assert_int_equal(cps_frame_write_header((enum cps_framing)9, 1, 0, &b), CPS_ERR_FATAL);
	assert_int_equal(b.len, 0);
	cps_buf_release(&b);
	cps_buf_init(&b, 8);
	assert_int_equal(cps_frame_write_header(CPS_FRAMING_CONFLUENT, 1, 0, &b), CPS_OK);
	assert_int_equal(cps_frame_write_header(CPS_FRAMING_CONFLUENT, 1, 0, &b), CPS_ERR_INVALID);
	cps_buf_reset(&b);
	assert_int_equal(cps_frame_write_header(CPS_FRAMING_SINGLE_OBJECT, 0, 1, &b),
	                 CPS_ERR_INVALID);
	cps_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_byte_layout),
	    cmocka_unit_test(test_confluent_errors),
	    cmocka_unit_test(test_single_object_errors),
	    cmocka_unit_test(test_raw_and_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
