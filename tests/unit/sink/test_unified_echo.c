/*
 * What the unified event carries for the sinks' no-echo rule
 * (reconcile/unified.c, sink/sink_filter.c): a person reconciled from the
 * city and the province with cps_reconcile_apply, each new version encoded
 * with cps_unified_encode and decoded as a sink decodes it, then judged by
 * cps_sink_is_echo from the event alone: an upsert's changed_fields, a
 * delete's prior_platforms (taken before reconcile clears the provenance).
 * And events written by an older cpsync (schemas/writers/person_event.v1,
 * no such fields) still decode, the new fields read as [].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/common.h"
#include "codec/avro_json.h"
#include "codec/codec.h"
#include "codec/schema.h"
#include "model/event.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"
#include "reconcile/unified.h"
#include "sink/sink_runner.h"
#include "testecho.h"
#include "testunified.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cps_test_unified env;

#define KEY "440305197111022085"

static void check_ok(int rc, const char *err)
{
	if (rc != CPS_OK)
		fail_msg("%s", err);
}

static json_t *person(const char *name, const char *phone)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:n, s:b, s:b, s:n, s:b, s:s, s:{s:s},"
	                 " s:n, s:b}",
	                 "national_id", KEY, "name", name, "gender", "FEMALE", "birth_date", 670,
	                 "registration_region_code", "440305", "residence_region_code", "440305",
	                 "residence_address", "has_residence_permit", 0, "disabled", 0,
	                 "disability_grade", "seriously_ill", 0, "labour_capacity", "FULL", "phone",
	                 "string", phone, "household_id", "deceased", 0);
}

/* Applies one fact of `platform` (record NULL: it withdraws the person) at
 * time `t`, and returns the new version's unified event decoded (NULL when
 * nothing changed). */
static json_t *apply_decoded(struct cps_key_state *st, const char *platform, json_t *record,
                             int64_t t)
{
	struct cps_ingest_event ev = {
	    .key = KEY, .effective_ms = t, .source_ms = t, .record = record};
	struct cps_reconcile_outcome o;
	char err[CPS_ERRSTR_SIZE], pos[64];
	struct cps_buf buf;
	json_t *out = NULL;

	snprintf(ev.platform, sizeof(ev.platform), "%s", platform);
	snprintf(ev.entity, sizeof(ev.entity), "person");
	snprintf(pos, sizeof(pos), "%s:%lld", platform, (long long)t);
	ev.source_position = pos;
	ev.op = record ? CPS_OP_UPSERT : CPS_OP_DELETE;
	cps_reconcile_outcome_init(&o);
	check_ok(cps_reconcile_apply(env.rules, st, &ev, &o, err, sizeof(err)), err);
	json_decref(record);
	if (o.changed) {
		cps_buf_init(&buf, 0);
		check_ok(cps_unified_encode(env.unified, st, &o, t, &buf, err, sizeof(err)), err);
		check_ok(cps_unified_decode(env.unified, "person", buf.data, buf.len, &out, err,
		                            sizeof(err)),
		         err);
		cps_buf_release(&buf);
	}
	cps_reconcile_outcome_release(&o);
	return out;
}

static json_t *apply(struct cps_key_state *st, const char *platform, json_t *record, int64_t t)
{
	return apply_decoded(st, platform, record, t);
}

/* Whether the event's array `field` is exactly the JSON array text `want`. */
static void assert_list(json_t *ev, const char *field, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	char *got = json_dumps(json_object_get(ev, field), JSON_COMPACT);

	assert_non_null(w);
	if (!json_equal(json_object_get(ev, field), w))
		fail_msg("%s: got %s, want %s", field, got ? got : "(none)", want);
	free(got);
	json_decref(w);
}

static void test_events_carry_the_echo_facts(void **state)
{
	struct cps_key_state st;
	json_t *ev;

	(void)state;
	check_ok(cps_key_state_init(&st, "person", KEY), "init");
	/* v1: the city's new person; every field is new, all the city's */
	ev = apply(&st, "city", person("林秀英", "13800000001"), 1000);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "operation")), "UPSERT");
	assert_true(json_array_size(json_object_get(ev, "changed_fields")) >= 12);
	assert_list(ev, "prior_platforms", "[]");
	cps_test_assert_echo_for(ev, "city");
	json_decref(ev);
	/* v2: the province's newer phone wins (latest); only the phone changed:
	 * an echo for the province, news for the city */
	ev = apply(&st, "province", person("林秀英", "13900000002"), 2000);
	assert_non_null(ev);
	assert_int_equal(json_integer_value(json_object_get(ev, "version")), 2);
	assert_list(ev, "changed_fields", "[\"phone\"]");
	assert_list(ev, "prior_platforms", "[]");
	cps_test_assert_echo_for(ev, "province");
	json_decref(ev);
	/* v3: the province withdraws: the city's phone is back, the province
	 * still names nothing (it no longer holds the record) */
	ev = apply(&st, "province", NULL, 3000);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "operation")), "UPSERT");
	assert_list(ev, "changed_fields", "[\"phone\"]");
	cps_test_assert_echo_for(ev, "city");
	json_decref(ev);
	/* v4: the city withdraws too: a delete; the previous version's
	 * provenance named the city alone, so it is an echo for the city only */
	ev = apply(&st, "city", NULL, 4000);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "operation")), "DELETE");
	assert_int_equal(json_integer_value(json_object_get(ev, "version")), 4);
	assert_list(ev, "changed_fields", "[]");
	assert_list(ev, "prior_platforms", "[\"CITY\"]");
	assert_int_equal(json_object_size(st.provenance), 0); /* cleared after it was taken */
	cps_test_assert_echo_for(ev, "city");
	json_decref(ev);
	cps_key_state_release(&st);
}

/* A delete after a version both platforms backed names both. */
static void test_delete_names_every_prior_platform(void **state)
{
	struct cps_key_state st;
	json_t *ev;

	(void)state;
	check_ok(cps_key_state_init(&st, "person", KEY), "init");
	json_decref(apply(&st, "city", person("林秀英", "13800000001"), 1000));
	json_decref(apply(&st, "province", person("林秀英", "13900000002"), 2000));
	/* the city withdraws first: the province then backs every field, and
	 * its own withdrawal is the delete */
	json_decref(apply(&st, "city", NULL, 3000));
	ev = apply(&st, "province", NULL, 3000);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "operation")), "DELETE");
	assert_list(ev, "prior_platforms", "[\"PROVINCE\"]");
	cps_test_assert_echo_for(ev, "province");
	json_decref(ev);
	cps_key_state_release(&st);
	/* the city's withdrawal noted without a version (as a state loaded
	 * with it would be), then the province's: v2's provenance, the city's
	 * fields and the province's phone, goes straight to the delete */
	check_ok(cps_key_state_init(&st, "person", KEY), "init");
	json_decref(apply(&st, "city", person("林秀英", "13800000001"), 1000));
	json_decref(apply(&st, "province", person("林秀英", "13900000002"), 2000));
	json_object_set_new(json_object_get(st.platforms, "city"), "withdrawn", json_true());
	ev = apply(&st, "province", NULL, 5000);
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "operation")), "DELETE");
	assert_int_equal(json_array_size(json_object_get(ev, "prior_platforms")), 2);
	cps_test_assert_echo_for(ev, "city,province");
	json_decref(ev);
	cps_key_state_release(&st);
}

/* `ev` written with the unified person schema before changed_fields
 * (writers/person_event.v1.avsc, id 8) in `framing`, decoded as a sink does. */
static json_t *through_old_writer(json_t *ev, enum cps_framing framing)
{
	struct cps_schema *old = cps_catalog_by_id(env.catalog, 8);
	char err[CPS_ERRSTR_SIZE];
	struct cps_codec *codec;
	struct cps_buf buf;
	json_t *copy = json_deep_copy(ev), *out = NULL;
	const struct cps_rtype *type;
	struct cps_arena arena;
	struct cps_tval v;

	assert_non_null(old);
	assert_true(old->writer_only);
	assert_null(strstr(old->canonical, "prior_platforms"));
	json_object_del(copy, "changed_fields");
	json_object_del(copy, "prior_platforms");
	cps_arena_init(&arena, 0);
	check_ok(cps_codec_new(old, NULL, &codec, err, sizeof(err)), err);
	check_ok(cps_value_from_json(copy, cps_codec_value(codec), err, sizeof(err)), err);
	cps_buf_init(&buf, 0);
	check_ok(cps_codec_encode_framed(codec, framing, old->id, cps_codec_value(codec), &buf, err,
	                                 sizeof(err)),
	         err);
	/* as a sink reads it: resolved to the current schema, typed */
	check_ok(cps_unified_decode_typed(env.unified, "person", buf.data, buf.len, &arena, &type,
	                                  &v, err, sizeof(err)),
	         err);
	out = cps_record_to_json_at(type, &v, err, sizeof(err));
	assert_non_null(out);
	cps_arena_release(&arena);
	cps_buf_release(&buf);
	cps_codec_free(codec);
	json_decref(copy);
	return out;
}

static void test_old_writer_events_fall_back(void **state)
{
	enum cps_framing framings[] = {CPS_FRAMING_CONFLUENT, CPS_FRAMING_SINGLE_OBJECT};
	struct cps_key_state st;
	json_t *upsert, *del, *old;

	(void)state;
	check_ok(cps_key_state_init(&st, "person", KEY), "init");
	json_decref(apply(&st, "city", person("林秀英", "13800000001"), 1000));
	/* whole: written again below with the old schema */
	upsert = apply_decoded(&st, "province", person("林秀英", "13900000002"), 2000);
	json_decref(apply(&st, "province", NULL, 3000));
	del = apply_decoded(&st, "city", NULL, 4000);
	assert_non_null(upsert);
	assert_non_null(del);
	for (size_t i = 0; i < CPS_ARRAY_SIZE(framings); i++) {
		/* an upsert: the same record and provenance, no changed fields; the
		 * provenance-only rule: the phone is the province's, the rest the
		 * city's, so P holds every value for neither */
		old = through_old_writer(upsert, framings[i]);
		assert_true(
		    json_equal(json_object_get(old, "record"), json_object_get(upsert, "record")));
		assert_true(json_equal(json_object_get(old, "provenance"),
		                       json_object_get(upsert, "provenance")));
		assert_list(old, "changed_fields", "[]");
		assert_list(old, "prior_platforms", "[]");
		cps_test_assert_echo_for(old, "");
		json_decref(old);
		/* a delete without prior platforms: sent to every sink */
		old = through_old_writer(del, framings[i]);
		assert_string_equal(json_string_value(json_object_get(old, "operation")), "DELETE");
		assert_list(old, "prior_platforms", "[]");
		cps_test_assert_echo_for(old, "");
		json_decref(old);
	}
	json_decref(upsert);
	json_decref(del);
	cps_key_state_release(&st);
}

/* A re-publish from the stored record has no outcome: both lists empty. */
static void test_republish_without_outcome(void **state)
{
	struct cps_key_state st;
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf buf;
	json_t *ev;

	(void)state;
	check_ok(cps_key_state_init(&st, "person", KEY), "init");
	json_decref(apply(&st, "city", person("林秀英", "13800000001"), 1000));
	cps_buf_init(&buf, 0);
	check_ok(cps_unified_encode(env.unified, &st, NULL, 1000, &buf, err, sizeof(err)), err);
	check_ok(
	    cps_unified_decode(env.unified, "person", buf.data, buf.len, &ev, err, sizeof(err)),
	    err);
	assert_list(ev, "changed_fields", "[]");
	assert_list(ev, "prior_platforms", "[]");
	cps_test_assert_echo_for(ev, "city"); /* the city holds every value */
	json_decref(ev);
	cps_buf_release(&buf);
	cps_key_state_release(&st);
}

static int group_setup(void **state)
{
	json_t *rj;
	int rc;

	(void)state;
	rj = json_pack("{s:{s:i, s:{s:s, s:[sss], s:s}, s:{s:{s:s, s:s}}}}", "person", "version", 1,
	               "default", "rule", "precedence", "platforms", "city", "province", "shenshan",
	               "on_disagree", "accept", "fields", "phone", "rule", "latest", "on_disagree",
	               "accept");
	rc = cps_test_unified_open(rj, &env);
	json_decref(rj);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	cps_test_unified_close(&env);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events_carry_the_echo_facts),
	    cmocka_unit_test(test_delete_names_every_prior_platform),
	    cmocka_unit_test(test_old_writer_events_fall_back),
	    cmocka_unit_test(test_republish_without_outcome),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
