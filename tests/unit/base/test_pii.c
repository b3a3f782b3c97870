/*
 * Unit tests of pii.c: masking of national IDs, names, phones, amounts and
 * conninfo strings, and GB 11643 national ID validation (check character,
 * dates, province codes) and generation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "base/pii.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void test_mask_ids_in_text(void **state)
{
	char id[19], other[19], text[128];

	(void)state;
	assert_int_equal(cps_national_id_make("440305", 1990, 1, 1, 123, id), CPS_OK);
	assert_int_equal(cps_national_id_make("441521", 1956, 7, 9, 42, other), CPS_OK);
	snprintf(text, sizeof(text), "%s:DIBAO and %s", id, other);
	assert_int_equal(cps_mask_national_ids_in(text), 2);
	assert_null(strstr(text, id));
	assert_null(strstr(text, other));
	assert_int_equal(strncmp(text, "440305***********", 17), 0);
	assert_int_equal(text[17], id[17]);
	/* a wrong check character, a longer digit run and a short one stay */
	snprintf(text, sizeof(text), "%.17s%c 9%s %.16s", id, id[17] == '1' ? '2' : '1', id, id);
	assert_int_equal(cps_mask_national_ids_in(text), 0);
	assert_int_equal(cps_mask_national_ids_in(NULL), 0);
}

static void test_mask_national_id(void **state)
{
	char out[CPS_MASK_SIZE];

	assert_string_equal(cps_mask_national_id("44030519900101123X", out, sizeof(out)),
	                    "440305***********X");
	assert_string_equal(cps_mask_national_id("440305900101123", out, sizeof(out)),
	                    "440305********3");
	assert_string_equal(cps_mask_national_id("12345", out, sizeof(out)), "***");
	assert_string_equal(cps_mask_national_id("4403051990 101123X", out, sizeof(out)), "***");
	assert_string_equal(cps_mask_national_id(NULL, out, sizeof(out)), "***");
	/* a small buffer truncates, never overflows */
	assert_string_equal(cps_mask_national_id("44030519900101123X", out, 5), "4403");
}

static void test_mask_name(void **state)
{
	char out[CPS_MASK_SIZE];

	assert_string_equal(cps_mask_name("张三丰", out, sizeof(out)), "张**");
	assert_string_equal(cps_mask_name("李四", out, sizeof(out)), "李*");
	assert_string_equal(cps_mask_name("王", out, sizeof(out)), "王");
	assert_string_equal(cps_mask_name("Anna", out, sizeof(out)), "A***");
	assert_string_equal(cps_mask_name("", out, sizeof(out)), "");
	assert_string_equal(cps_mask_name("\xe5\xbc", out, sizeof(out)), "***");
	assert_string_equal(cps_mask_name("a\xff", out, sizeof(out)), "***");
	/* 4-byte characters count as one */
	assert_string_equal(cps_mask_name("\xf0\xa0\x80\x80\xf0\xa0\x80\x81", out, sizeof(out)),
	                    "\xf0\xa0\x80\x80*");
}

static void test_mask_phone_amount(void **state)
{
	char out[CPS_MASK_SIZE];

	assert_string_equal(cps_mask_phone("13812345678", out, sizeof(out)), "138******78");
	assert_string_equal(cps_mask_phone("138-1234-5678", out, sizeof(out)), "138******78");
	assert_string_equal(cps_mask_phone("12345", out, sizeof(out)), "***");
	assert_string_equal(cps_mask_amount("3520.50", out, sizeof(out)), "***");
}

static void test_mask_conninfo(void **state)
{
	char out[256];

	assert_string_equal(
	    cps_mask_conninfo("host=db port=5432 user=cps password=s3cr3t dbname=cps", out,
	                      sizeof(out)),
	    "host=db port=5432 user=cps password=*** dbname=cps");
	assert_string_equal(cps_mask_conninfo("password = 'a b\\' c' host=x", out, sizeof(out)),
	                    "password=*** host=x");
	assert_string_equal(cps_mask_conninfo("postgresql://cps:s3cr3t@db:5432/cps?sslmode=require",
	                                      out, sizeof(out)),
	                    "postgresql://cps:***@db:5432/cps?sslmode=require");
	assert_string_equal(
	    cps_mask_conninfo("postgres://db/cps?user=u&password=s3cr3t&x=1", out, sizeof(out)),
	    "postgres://db/cps?user=u&password=***&x=1");
	assert_string_equal(cps_mask_conninfo("host=db dbname=cps", out, sizeof(out)),
	                    "host=db dbname=cps");
	assert_null(strstr(cps_mask_conninfo("password=s3cr3t", out, sizeof(out)), "s3cr3t"));
}

static void expect_invalid(const char *id, const char *reason_part)
{
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(cps_national_id_validate(id, err, sizeof(err)), CPS_ERR_INVALID);
	if (!strstr(err, reason_part))
		fail_msg("reason '%s' lacks '%s'", err, reason_part);
	/* the reason never echoes the ID, nor a long part of it */
	if (strlen(id) >= 8) {
		char part[9];
		memcpy(part, id, 8);
		part[8] = 0;
		assert_null(strstr(err, part));
	}
}

static void test_national_id_valid(void **state)
{
	char err[CPS_ERRSTR_SIZE];

	/* the GB 11643 worked example and a well-known sample */
	assert_int_equal(cps_national_id_validate("11010519491231002X", err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_national_id_validate("440524188001010014", err, sizeof(err)),
	                 CPS_ERR_INVALID); /* born 1880: before 1900 */
	assert_int_equal(cps_national_id_check_char("11010519491231002"), 'X');
	/* check characters computed independently (python) */
	assert_int_equal(cps_national_id_check_char("44030519900101123"), 'X');
	assert_int_equal(cps_national_id_check_char("44030519900101124"), '8');
	assert_int_equal(cps_national_id_check_char("4403051990010112"), 0);
	assert_int_equal(cps_national_id_validate("44030519900101123X", err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_national_id_validate("440305199001011248", err, sizeof(err)), CPS_OK);
	/* Feb 29 of a leap year */
	assert_int_equal(cps_national_id_validate("441521200002290012", err, sizeof(err)), CPS_OK);
}

static void test_national_id_invalid(void **state)
{
	char id[19];

	expect_invalid("440305199001011237", "check character is wrong");
	expect_invalid("440305199001011230", "check character is wrong");
	expect_invalid("44030519900101123", "17 characters");
	expect_invalid("4403051990010112366", "19 characters");
	expect_invalid("", "0 characters");
	expect_invalid("4403051990A1011236", "not a digit");
	expect_invalid("44030519900101123Y", "not a digit or 'X'");
	expect_invalid("11010519491231002x", "uppercase");
	/* Feb 30, with a correct check character so only the date is wrong */
	snprintf(id, sizeof(id), "44030519900230123");
	id[17] = cps_national_id_check_char(id);
	id[18] = 0;
	expect_invalid(id, "not a calendar date");
	/* Feb 29 of a non-leap year, month 13 */
	snprintf(id, sizeof(id), "44030519000229123");
	id[17] = cps_national_id_check_char(id);
	expect_invalid(id, "not a calendar date");
	snprintf(id, sizeof(id), "44030519901301123");
	id[17] = cps_national_id_check_char(id);
	expect_invalid(id, "month");
	/* the future */
	snprintf(id, sizeof(id), "44030520990101123");
	id[17] = cps_national_id_check_char(id);
	expect_invalid(id, "in the future");
	/* before 1900 */
	snprintf(id, sizeof(id), "44030518991231123");
	id[17] = cps_national_id_check_char(id);
	expect_invalid(id, "before 1900");
	/* unknown provinces: 16, 24, 38, 00, 99 */
	const char *bad[] = {"16", "24", "38", "00", "99", "70", "83"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(id, sizeof(id), "%s030519900101123", bad[i]);
		id[17] = cps_national_id_check_char(id);
		expect_invalid(id, "unknown province");
	}
	/* a province-level prefix names no county */
	snprintf(id, sizeof(id), "44000019900101123");
	id[17] = cps_national_id_check_char(id);
	expect_invalid(id, "000");
	expect_invalid("x", "1 characters");
}

static void test_national_id_make(void **state)
{
	char id[19], err[CPS_ERRSTR_SIZE];
	const char *provinces[] = {"11", "15", "21", "23", "31", "37", "41", "46",
	                           "50", "54", "61", "65", "71", "81", "82"};

	assert_int_equal(cps_national_id_make("440305", 1990, 1, 1, 123, id), CPS_OK);
	assert_string_equal(id, "44030519900101123X");
	assert_int_equal(cps_national_id_make("110105", 1949, 12, 31, 2, id), CPS_OK);
	assert_string_equal(id, "11010519491231002X");
	for (size_t i = 0; i < sizeof(provinces) / sizeof(provinces[0]); i++) {
		char region[7];
		snprintf(region, sizeof(region), "%s0101", provinces[i]);
		assert_int_equal(cps_national_id_make(region, 1985, 6, 15, 77, id), CPS_OK);
		assert_int_equal(cps_national_id_validate(id, err, sizeof(err)), CPS_OK);
	}
	/* every sequence number gives a valid ID */
	for (int seq = 0; seq < 1000; seq++) {
		assert_int_equal(cps_national_id_make("441521", 2000, 2, 29, seq, id), CPS_OK);
		assert_int_equal(cps_national_id_validate(id, err, sizeof(err)), CPS_OK);
	}
	assert_int_equal(cps_national_id_make("440305", 1990, 2, 30, 1, id), CPS_ERR_INVALID);
	assert_int_equal(cps_national_id_make("44030", 1990, 1, 1, 1, id), CPS_ERR_INVALID);
	assert_int_equal(cps_national_id_make("440305", 1990, 1, 1, 1000, id), CPS_ERR_INVALID);
	assert_int_equal(cps_national_id_make("990305", 1990, 1, 1, 1, id), CPS_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mask_ids_in_text),    cmocka_unit_test(test_mask_national_id),
	    cmocka_unit_test(test_mask_name),           cmocka_unit_test(test_mask_phone_amount),
	    cmocka_unit_test(test_mask_conninfo),       cmocka_unit_test(test_national_id_valid),
	    cmocka_unit_test(test_national_id_invalid), cmocka_unit_test(test_national_id_make),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
