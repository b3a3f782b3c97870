/*
 * Unit tests of validate.c: each rule of cps_validate_record (key present
 * and non-empty, national IDs of every entity including union-wrapped and
 * array-nested ones, subject IDs only for PERSON subjects, 6-digit region
 * codes), and that no reason ever contains the checked value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "base/pii.h"
#include "model/validate.h"

#include <stdio.h>
#include <string.h>

static char good_id[19], good_id2[19], bad_check[19];

static int setup(void **state)
{
	if (cps_national_id_make("440305", 1990, 1, 1, 123, good_id) != CPS_OK ||
	    cps_national_id_make("441521", 1985, 6, 30, 64, good_id2) != CPS_OK)
		return -1;
	memcpy(bad_check, good_id, sizeof(bad_check));
	bad_check[17] = bad_check[17] == '0' ? '1' : '0';
	return 0;
}

/* Validates a JSON text built with printf arguments; returns the code and
 * leaves the reason in err. */
static int validate(const char *entity, char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int validate(const char *entity, char *err, size_t err_size, const char *fmt, ...)
{
	char text[2048];
	json_error_t jerr;
	json_t *rec;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	rec = json_loads(text, 0, &jerr);
	if (!rec)
		fail_msg("bad test JSON: %s", jerr.text);
	err[0] = '\0';
	rc = cps_validate_record(entity, rec, err, err_size);
	json_decref(rec);
	return rc;
}

/* The reason never quotes an ID. */
static void assert_no_ids(const char *err)
{
	assert_null(strstr(err, good_id));
	assert_null(strstr(err, good_id2));
	assert_null(strstr(err, bad_check));
	assert_null(strstr(err, "440305199"));
}

static void test_person(void **state)
{
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(
	    validate("person", err, sizeof(err),
	             "{\"national_id\":\"%s\",\"registration_region_code\":\"440305\","
	             "\"residence_region_code\":\"441521\",\"phone\":{\"string\":\"1\"}}",
	             good_id),
	    CPS_OK);
	assert_int_equal(
	    validate("person", err, sizeof(err),
	             "{\"national_id\":\"%s\",\"registration_region_code\":\"440305\"}", bad_check),
	    CPS_ERR_INVALID);
	assert_string_equal(err,
	                    "field 'person.national_id': national id check character is wrong");
	assert_no_ids(err);
	/* lowercase x and wrong lengths are named, not quoted */
	assert_int_equal(validate("person", err, sizeof(err), "{\"national_id\":\"4403051990\"}"),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'person.national_id': national id has 10 characters, "
	                         "expected 18");
	assert_no_ids(err);
}

static void test_key(void **state)
{
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(validate("person", err, sizeof(err), "{\"name\":\"x\"}"), CPS_ERR_INVALID);
	assert_string_equal(err, "key field 'person.national_id' is missing");
	assert_int_equal(validate("household", err, sizeof(err),
	                          "{\"household_id\":\"\",\"head_national_id\":\"%s\"}", good_id),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "key field 'household.household_id' is empty");
	assert_int_equal(validate("alert", err, sizeof(err), "{\"alert_id\":12}"), CPS_ERR_INVALID);
	assert_string_equal(err, "key field 'alert.alert_id' is not a string");
	assert_int_equal(validate("verification", err, sizeof(err), "{\"verification_id\":null}"),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "key field 'verification.verification_id' is missing");
	assert_int_equal(validate("enrolment", err, sizeof(err),
	                          "{\"enrolment_id\":\"H1:DIBAO\",\"subject_type\":\"HOUSEHOLD\","
	                          "\"subject_id\":\"H1\",\"granting_region_code\":\"440304\"}"),
	                 CPS_OK);
	/* unknown entities and non-objects */
	assert_int_equal(validate("pet", err, sizeof(err), "{\"id\":\"1\"}"), CPS_ERR_INVALID);
	assert_string_equal(err, "unknown entity 'pet'");
	assert_int_equal(validate("person", err, sizeof(err), "[1]"), CPS_ERR_INVALID);
	assert_string_equal(err, "person record is not a JSON object");
	assert_int_equal(cps_validate_record(NULL, NULL, err, sizeof(err)), CPS_ERR_INVALID);
}

static void test_household(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	static const char fmt[] =
	    "{\"household_id\":\"H440305202100123\",\"head_national_id\":\"%s\","
	    "\"members\":[{\"national_id\":\"%s\",\"relation\":\"HEAD\"},"
	    "{\"national_id\":\"%s\",\"relation\":\"CHILD\"}],"
	    "\"region_code\":\"440307\"}";

	assert_int_equal(validate("household", err, sizeof(err), fmt, good_id, good_id, good_id2),
	                 CPS_OK);
	assert_int_equal(validate("household", err, sizeof(err), fmt, bad_check, good_id, good_id2),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'household.head_national_id': national id check "
	                         "character is wrong");
	assert_int_equal(validate("household", err, sizeof(err), fmt, good_id, good_id, bad_check),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'household.members[1].national_id': national id check "
	                         "character is wrong");
	assert_no_ids(err);
	assert_int_equal(validate("household", err, sizeof(err),
	                          "{\"household_id\":\"H1\",\"head_national_id\":\"%s\","
	                          "\"members\":[{\"relation\":\"HEAD\"}]}",
	                          good_id),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'household.members[0].national_id' is missing");
	assert_int_equal(validate("household", err, sizeof(err),
	                          "{\"household_id\":\"H1\",\"head_national_id\":\"%s\","
	                          "\"members\":{}}",
	                          good_id),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'household.members' is not an array");
}

static void test_subjects(void **state)
{
	char err[CPS_ERRSTR_SIZE];

	/* enrolment of a person: subject_id is a national ID */
	assert_int_equal(validate("enrolment", err, sizeof(err),
	                          "{\"enrolment_id\":\"%s:SINGLE_PERSON_DIBAO\",\"subject_type\":"
	                          "\"PERSON\",\"subject_id\":\"%s\"}",
	                          good_id, good_id),
	                 CPS_OK);
	assert_int_equal(validate("enrolment", err, sizeof(err),
	                          "{\"enrolment_id\":\"x:DIBAO\",\"subject_type\":\"PERSON\","
	                          "\"subject_id\":\"%s\"}",
	                          bad_check),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'enrolment.subject_id': national id check character is "
	                         "wrong");
	/* a household subject is not a national ID */
	assert_int_equal(validate("alert", err, sizeof(err),
	                          "{\"alert_id\":\"YJ1\",\"subject_type\":\"HOUSEHOLD\","
	                          "\"subject_id\":\"H440305\",\"region_code\":\"440307\"}"),
	                 CPS_OK);
	assert_int_equal(validate("alert", err, sizeof(err),
	                          "{\"alert_id\":\"YJ1\",\"subject_type\":\"PERSON\","
	                          "\"subject_id\":\"H440305\"}"),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'alert.subject_id': national id has 7 characters, "
	                         "expected 18");
	assert_int_equal(
	    validate("alert", err, sizeof(err), "{\"alert_id\":\"YJ1\",\"subject_id\":\"H1\"}"),
	    CPS_ERR_INVALID);
	assert_string_equal(err, "field 'alert.subject_type' is missing");
}

static void test_verification_items(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	static const char fmt[] =
	    "{\"verification_id\":\"HD2023-440306-000871\",\"items\":["
	    "{\"member_national_id\":null},{\"member_national_id\":{\"string\":"
	    "\"%s\"}}]}";

	assert_int_equal(validate("verification", err, sizeof(err), fmt, good_id2), CPS_OK);
	assert_int_equal(validate("verification", err, sizeof(err), fmt, bad_check),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'verification.items[1].member_national_id': national id "
	                         "check character is wrong");
	assert_no_ids(err);
}

static void test_region_codes(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	static const char fmt[] = "{\"national_id\":\"%s\",\"registration_region_code\":\"%s\"}";

	assert_int_equal(validate("person", err, sizeof(err), fmt, good_id, "44030"),
	                 CPS_ERR_INVALID);
	assert_string_equal(err,
	                    "field 'person.registration_region_code' is not a 6-digit region code");
	assert_int_equal(validate("person", err, sizeof(err), fmt, good_id, "4403051"),
	                 CPS_ERR_INVALID);
	assert_int_equal(validate("person", err, sizeof(err), fmt, good_id, "44O305"),
	                 CPS_ERR_INVALID);
	assert_int_equal(validate("household", err, sizeof(err),
	                          "{\"household_id\":\"H1\",\"head_national_id\":\"%s\","
	                          "\"members\":[],\"region_code\":\"\"}",
	                          good_id),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'household.region_code' is not a 6-digit region code");
	assert_int_equal(validate("enrolment", err, sizeof(err),
	                          "{\"enrolment_id\":\"H1:DIBAO\",\"subject_type\":\"HOUSEHOLD\","
	                          "\"granting_region_code\":440304}"),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "field 'enrolment.granting_region_code' is not a string");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_person),
	    cmocka_unit_test(test_key),
	    cmocka_unit_test(test_household),
	    cmocka_unit_test(test_subjects),
	    cmocka_unit_test(test_verification_items),
	    cmocka_unit_test(test_region_codes),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
