/*
 * The unified event written straight from the key state
 * (reconcile/unified_encode.c, what cps_unified_encode does) is byte for byte
 * the event built as Avro JSON (cps_unified_event_json) and encoded on the
 * compiled schema: for every version of a person through manual, flagged and
 * case-decided fields, a conflict, two steward decisions, a withdrawal that
 * deletes it, and a re-publish without an outcome. And an event schema with a
 * field the encoder does not know is refused, not written wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/common.h"
#include "codec/record.h"
#include "codec/schema.h"
#include "model/event.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"
#include "reconcile/unified.h"
#include "reconcile/unified_int.h"
#include "testunified.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cps_test_unified env;
static struct cps_record_schema *event_schema;
static int compared;

#define KEY "440305197111022085"

static void check_ok(int rc, const char *err)
{
	if (rc != CPS_OK)
		fail_msg("%s", err);
}

static json_t *person(const char *name, const char *region, const char *phone)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:n, s:b, s:b, s:n, s:b, s:s, s:{s:s},"
	                 " s:n, s:b}",
	                 "national_id", KEY, "name", name, "gender", "FEMALE", "birth_date", 670,
	                 "registration_region_code", "440305", "residence_region_code", region,
	                 "residence_address", "has_residence_permit", 0, "disabled", 0,
	                 "disability_grade", "seriously_ill", 0, "labour_capacity", "FULL", "phone",
	                 "string", phone, "household_id", "deceased", 0);
}

/* The event both ways; the direct one carries the framing header first. */
static void assert_same_bytes(const struct cps_key_state *st, const struct cps_reconcile_outcome *o,
                              int64_t t)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf direct, ref;
	json_t *ev;

	cps_buf_init(&direct, 0);
	cps_buf_init(&ref, 0);
	check_ok(cps_unified_encode(env.unified, st, o, t, &direct, err, sizeof(err)), err);
	ev = cps_unified_event_json(env.unified, st, o, t, err, sizeof(err));
	assert_non_null(ev);
	check_ok(cps_record_encode_json(event_schema, ev, &ref, err, sizeof(err)), err);
	assert_true(direct.len == ref.len + 5); /* Confluent: magic byte and id */
	assert_memory_equal((const uint8_t *)direct.data + 5, ref.data, ref.len);
	compared++;
	json_decref(ev);
	cps_buf_release(&direct);
	cps_buf_release(&ref);
}

static void apply(struct cps_key_state *st, const char *platform, json_t *record, int64_t t)
{
	struct cps_ingest_event ev = {
	    .key = KEY, .effective_ms = t, .source_ms = t + 7, .record = record};
	struct cps_reconcile_outcome o;
	char err[CPS_ERRSTR_SIZE], pos[64];

	snprintf(ev.platform, sizeof(ev.platform), "%s", platform);
	snprintf(ev.entity, sizeof(ev.entity), "person");
	snprintf(pos, sizeof(pos), "%s:%lld", platform, (long long)t);
	ev.source_position = pos;
	ev.op = record ? CPS_OP_UPSERT : CPS_OP_DELETE;
	cps_reconcile_outcome_init(&o);
	check_ok(cps_reconcile_apply(env.rules, st, &ev, &o, err, sizeof(err)), err);
	json_decref(record);
	if (o.changed)
		assert_same_bytes(st, &o, t);
	cps_reconcile_outcome_release(&o);
}

static void resolve(struct cps_key_state *st, enum cps_resolution how, const char *platform,
                    json_t *value, int64_t t)
{
	struct cps_reconcile_outcome o;
	char err[CPS_ERRSTR_SIZE];

	cps_reconcile_outcome_init(&o);
	check_ok(cps_reconcile_resolve(env.rules, st, "name", how, platform, value, "steward.li",
	                               "checked with the household", 42, t, &o, err, sizeof(err)),
	         err);
	json_decref(value);
	assert_true(o.changed);
	assert_same_bytes(st, &o, t);
	cps_reconcile_outcome_release(&o);
}

static void test_every_version_byte_equal(void **state)
{
	struct cps_key_state st;

	(void)state;
	compared = 0;
	check_ok(cps_key_state_init(&st, "person", KEY), "init");
	apply(&st, "city", person("林秀英", "440305", "13800000001"), 1000);
	apply(&st, "province", person("林秀英", "440305", "13900000002"), 2000);
	apply(&st, "province", person("林秀", "440305", "13900000002"), 3000); /* a conflict */
	resolve(&st, CPS_RESOLVE_ENTER_VALUE, NULL, json_string("林秀英"), 4000);
	apply(&st, "shenshan", person("林秀", "441521", "13700000003"), 5000); /* a case */
	resolve(&st, CPS_RESOLVE_TAKE_PLATFORM, "province", NULL, 6000);
	apply(&st, "city", NULL, 7000);
	apply(&st, "province", NULL, 8000);
	apply(&st, "shenshan", NULL, 9000); /* every platform withdrew: a delete */
	apply(&st, "city", person("林秀英", "440305", "13800000001"), 10000);
	assert_same_bytes(&st, NULL, 11000); /* a re-publish from the stored state */
	assert_true(compared >= 8);
	cps_key_state_release(&st);
}

/* An event schema that gained a field the encoder does not know. */
static void test_unknown_field_refused(void **state)
{
	const char *text = "{\"type\":\"record\",\"name\":\"x.E\",\"fields\":["
	                   "{\"name\":\"key\",\"type\":\"string\"},"
	                   "{\"name\":\"record\",\"type\":[\"null\",{\"type\":\"record\","
	                   "\"name\":\"x.R\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}]},"
	                   "{\"name\":\"surprise\",\"type\":\"long\"}]}";
	struct cps_key_state st;
	struct cps_unified_source src;
	struct cps_record_schema *rs;
	avro_schema_t avro;
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf out;
	json_t *j = json_loads(text, 0, NULL);

	(void)state;
	assert_int_equal(avro_schema_from_json_length(text, strlen(text), &avro), 0);
	check_ok(cps_record_schema_compile(avro, j, &rs, err, sizeof(err)), err);
	check_ok(cps_key_state_init(&st, "person", KEY), "init");
	src = (struct cps_unified_source){
	    .st = &st, .entity_symbol = "PERSON", .deleted = true, .event_time_ms = 1};
	cps_buf_init(&out, 0);
	assert_int_equal(cps_unified_encode_direct(rs->root, &src, &out, err, sizeof(err)),
	                 CPS_ERR_FATAL);
	assert_string_equal(err, "unified event: field 'surprise' unknown to the encoder");
	cps_buf_release(&out);
	cps_key_state_release(&st);
	cps_record_schema_free(rs);
	avro_schema_decref(avro);
	json_decref(j);
}

static int group_setup(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *rj;
	int rc;

	(void)state;
	rj = json_pack("{s:{s:i, s:{s:s, s:[sss], s:s}, s:{s:{s:s}, s:{s:s, s:s}},"
	               " s:{s:{s:{s:s}, s:{s:s, s:[sss]}}}}}",
	               "person", "version", 3, "default", "rule", "precedence", "platforms", "city",
	               "province", "shenshan", "on_disagree", "flag", "fields", "name", "rule",
	               "manual", "phone", "rule", "latest", "on_disagree", "accept", "cases",
	               "shenshan_residents", "when", "residence_region_code", "441521", "default",
	               "rule", "precedence", "platforms", "shenshan", "city", "province");
	rc = cps_test_unified_open(rj, &env);
	json_decref(rj);
	if (rc == 0 && cps_record_schema_new(cps_catalog_by_entity(env.catalog, "person_event"),
	                                     &event_schema, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "person_event: %s\n", err);
		rc = -1;
	}
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	cps_record_schema_free(event_schema);
	cps_test_unified_close(&env);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_version_byte_equal),
	    cmocka_unit_test(test_unknown_field_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
