/*
 * Older writer schemas (schemas/writers/): the enrolment before
 * `emergency_region_code` was added still decodes — Confluent-framed by its
 * old id 3, single-object by its old fingerprint — as the current schema,
 * the new field null; and the catalog refuses a writers/ file that the
 * current schema cannot read, that is the current schema, or that takes a
 * used id.
 */
#include "base/buf.h"
#include "base/common.h"
#include "codec/avro_json.h"
#include "codec/codec.h"
#include "codec/schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char schemas[4096];

/* An ACTIVE temporary assistance as the old writer had it (no emergency place). */
static const char OLD_RECORD[] =
    "{\"enrolment_id\": \"H440305202100123:TEMPORARY_ASSISTANCE\", \"subject_type\": "
    "\"HOUSEHOLD\", \"subject_id\": \"H440305202100123\", \"programme\": "
    "\"TEMPORARY_ASSISTANCE\", \"status\": \"ACTIVE\", \"applied_date\": 20000, "
    "\"start_date\": {\"int\": 20003}, \"gradual_exit_start_date\": null, "
    "\"gradual_exit_end_date\": null, \"end_date\": null, \"monthly_amount\": \"\\u0003\\u00e8\","
    " \"covered_members\": 2, \"granting_region_code\": \"440307\", \"status_reason\": "
    "{\"string\": \"fire\"}}";

static int setup(void **state)
{
	const char *src = getenv("CPSYNC_SOURCE_DIR");

	(void)state;
	snprintf(schemas, sizeof(schemas), "%s/schemas", src ? src : CPSYNC_SOURCE_DIR);
	return 0;
}

static struct cps_catalog *load(const char *dir)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_catalog *c = NULL;

	if (cps_catalog_load_dir(dir, &c, err, sizeof(err)) != CPS_OK)
		fail_msg("load %s: %s", dir, err);
	return c;
}

static void test_lookups_keep_the_current_schema(void **state)
{
	struct cps_catalog *c = load(schemas);
	struct cps_schema *cur = cps_catalog_by_name(c, "cpsync.Enrolment");
	struct cps_schema *old = cps_catalog_by_id(c, 3);

	(void)state;
	assert_non_null(cur);
	assert_false(cur->writer_only);
	assert_int_equal(cur->id, 13);
	assert_ptr_equal(cps_catalog_by_entity(c, "enrolment"), cur);
	assert_non_null(strstr(cur->canonical, "emergency_region_code"));
	assert_non_null(old);
	assert_true(old->writer_only);
	assert_string_equal(old->name, "cpsync.Enrolment");
	assert_null(strstr(old->canonical, "emergency_region_code"));
	assert_ptr_equal(cps_catalog_by_fingerprint(c, old->fingerprint), old);
	/* the unified event that inlined the old enrolment keeps its id too, and
	 * so does the one before changed_fields and prior_platforms */
	assert_true(cps_catalog_by_id(c, 10)->writer_only);
	assert_true(cps_catalog_by_id(c, 14)->writer_only);
	assert_null(strstr(cps_catalog_by_id(c, 14)->canonical, "prior_platforms"));
	assert_int_equal(cps_catalog_by_name(c, "cpsync.unified.EnrolmentEvent")->id, 17);
	cps_catalog_free(c);
}

/* OLD_RECORD encoded by the old schema in `framing`, decoded by the current one. */
static json_t *old_through(struct cps_catalog *c, enum cps_framing framing)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_schema *old = cps_catalog_by_id(c, 3);
	struct cps_codec *enc, *dec;
	struct cps_buf buf;
	json_t *in = json_loads(OLD_RECORD, 0, NULL), *out;

	assert_non_null(in);
	cps_buf_init(&buf, 1 << 16);
	assert_int_equal(cps_codec_new(old, NULL, &enc, err, sizeof(err)), CPS_OK);
	if (cps_value_from_json(in, cps_codec_value(enc), err, sizeof(err)) != CPS_OK)
		fail_msg("old record: %s", err);
	assert_int_equal(cps_codec_encode_framed(enc, framing, old->id, cps_codec_value(enc), &buf,
	                                         err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_codec_for_entity(c, "enrolment", &dec, err, sizeof(err)), CPS_OK);
	if (cps_codec_decode_framed(dec, framing, c, NULL, buf.data, buf.len, err, sizeof(err)) !=
	    CPS_OK)
		fail_msg("old writer, framing %d: %s", (int)framing, err);
	out = cps_value_to_json(cps_codec_value(dec), err, sizeof(err));
	assert_non_null(out);
	cps_codec_free(enc);
	cps_codec_free(dec);
	cps_buf_release(&buf);
	json_decref(in);
	return out;
}

static void assert_old_record_read(json_t *got)
{
	json_t *want = json_loads(OLD_RECORD, 0, NULL);
	const char *k;
	json_t *v;

	assert_non_null(json_object_get(got, "emergency_region_code"));
	assert_true(json_is_null(json_object_get(got, "emergency_region_code")));
	json_object_foreach (want, k, v)
		if (!json_equal(v, json_object_get(got, k)))
			fail_msg("field %s changed on the way", k);
	assert_int_equal(json_object_size(got), json_object_size(want) + 1);
	json_decref(want);
}

static void test_old_writer_confluent(void **state)
{
	struct cps_catalog *c = load(schemas);
	json_t *got = old_through(c, CPS_FRAMING_CONFLUENT);

	(void)state;
	assert_old_record_read(got);
	json_decref(got);
	cps_catalog_free(c);
}

static void test_old_writer_single_object(void **state)
{
	struct cps_catalog *c = load(schemas);
	json_t *got = old_through(c, CPS_FRAMING_SINGLE_OBJECT);

	(void)state;
	assert_old_record_read(got);
	json_decref(got);
	cps_catalog_free(c);
}

/* ---- what the catalog refuses in writers/ ---------------------------------- */

static char scratch[4096];

static void write_file(const char *rel, const char *text)
{
	char path[8192];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", scratch, rel);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void remove_file(const char *rel)
{
	char path[8192];

	snprintf(path, sizeof(path), "%s/%s", scratch, rel);
	unlink(path);
}

static void expect_load_error(const char *part1, const char *part2)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_catalog *c = NULL;

	assert_int_equal(cps_catalog_load_dir(scratch, &c, err, sizeof(err)), CPS_ERR_INVALID);
	assert_null(c);
	if (!strstr(err, part1) || !strstr(err, part2))
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, part1, part2);
}

#define CURRENT                                                                                    \
	"{\"type\":\"record\",\"name\":\"t.R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"     \
	"{\"name\":\"b\",\"type\":[\"null\",\"string\"],\"default\":null}]}"

static void test_writers_refused(void **state)
{
	char wdir[8192];
	struct cps_catalog *c;

	(void)state;
	snprintf(scratch, sizeof(scratch), "%s/cps-writers-XXXXXX", P_tmpdir);
	assert_non_null(mkdtemp(scratch));
	snprintf(wdir, sizeof(wdir), "%s/writers", scratch);
	assert_int_equal(mkdir(wdir, 0700), 0);
	write_file("r.avsc", CURRENT);
	write_file("schema-ids.json", "{\"t.R\": 2}");

	/* a field the current schema requires without a default */
	write_file("writers/r.v0.avsc",
	           "{\"type\":\"record\",\"name\":\"t.R\",\"fields\":[{\"name\":\"b\",\"type\":"
	           "[\"null\",\"string\"],\"default\":null}]}");
	expect_load_error("writers/r.v0.avsc", "cannot be read as the current \"t.R\"");
	write_file("writers/r.v0.avsc", CURRENT);
	expect_load_error("writers/r.v0.avsc", "identical to the current \"t.R\"");
	write_file("writers/r.v0.avsc",
	           "{\"type\":\"record\",\"name\":\"t.Gone\",\"fields\":[{\"name\":\"a\",\"type\":"
	           "\"int\"}]}");
	expect_load_error("writers/r.v0.avsc", "no current schema defines");

	/* a real older version: found by id, never by name */
	write_file("writers/r.v0.avsc",
	           "{\"type\":\"record\",\"name\":\"t.R\",\"fields\":[{\"name\":\"a\",\"type\":"
	           "\"int\"}]}");
	write_file("writers/schema-ids.json", "{\"r.v0.avsc\": 2}");
	expect_load_error("writers/schema-ids.json", "id 2 of \"r.v0.avsc\" is already the id of");
	write_file("writers/schema-ids.json", "{\"r.v9.avsc\": 1}");
	expect_load_error("writers/schema-ids.json", "no file \"r.v9.avsc\"");
	write_file("writers/schema-ids.json", "{\"r.v0.avsc\": 1}");
	c = load(scratch);
	assert_int_equal(cps_catalog_count(c), 2);
	assert_true(cps_catalog_by_id(c, 1)->writer_only);
	assert_false(cps_catalog_by_name(c, "t.R")->writer_only);
	assert_int_equal(cps_catalog_by_name(c, "t.R")->id, 2);
	cps_catalog_free(c);

	remove_file("writers/schema-ids.json");
	remove_file("writers/r.v0.avsc");
	remove_file("r.avsc");
	remove_file("schema-ids.json");
	rmdir(wdir);
	rmdir(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookups_keep_the_current_schema),
	    cmocka_unit_test(test_old_writer_confluent),
	    cmocka_unit_test(test_old_writer_single_object),
	    cmocka_unit_test(test_writers_refused),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
