/*
 * The typed key state (reconcile/typed_state.h). A person's state after
 * three platforms' events (case 015's) holds each event's stamp once, its
 * values as the fields' Avro binary, and comes back json_equal from its
 * view; it takes a fraction of the JSON trees' heap (both printed, counted
 * by allocator hooks, not timed). A tree reconcile never writes — a fact of
 * a field the schema lacks, a value of the wrong type, a provenance member
 * it does not know, a disagreeing platform the state lacks — is refused
 * with CPS_ERR_INVALID naming the field, never the value. The typed codec
 * of facts and provenance (store/state_typed.h) refuses every truncation of
 * the person's encodings and reads or refuses 3,000 byte-flipped copies of
 * each, under ASan; a typed event made from the person's record as Avro
 * binary refuses every truncation of it; the record's jsonb text escapes a
 * name of quotes, control characters, U+0000 and U+E000 as jsonb.c does;
 * the policy's reads of a typed record (the record as a typed value, a
 * string or enum field as text) give what its JSON says. (testengines.c holds the typed state and its codec to
 * the JSON ones on every state of every reconcile case and random stream.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "codec/record.h"
#include "model/event.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"
#include "reconcile/typed_reconcile.h"
#include "reconcile/typed_state.h"
#include "store/jsonb.h"
#include "store/state_facts.h"
#include "store/state_typed.h"
#include "testcases.h"
#include "testengines.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char source_dir[1024];
static const struct cps_record_schema *person;

/* ---- a counting allocator for jansson ------------------------------------------- */

static size_t heap_live;

static void *counting_malloc(size_t n)
{
	size_t *p = malloc(n + sizeof(size_t) * 2);

	if (!p)
		return NULL;
	p[0] = n;
	heap_live += n;
	return p + 2;
}

static void counting_free(void *ptr)
{
	size_t *p = ptr;

	if (!p)
		return;
	heap_live -= p[-2];
	free(p - 2);
}

/* ---- case 001's person --------------------------------------------------------- */

/* The state after the events of case 015 (three platforms, nulls, unions, a
 * manual field's open conflict); returns how many events, each of its own
 * stamp. */
static size_t person_state(struct cps_key_state *st)
{
	char path[1200], err[CPS_ERRSTR_SIZE];
	json_t *c, *events, *ej;
	struct cps_rules *rules;
	size_t i;

	snprintf(path, sizeof(path), "%s/tests/reconcile/cases/015-steward-null-then-pending.json",
	         source_dir);
	c = json_load_file(path, 0, NULL);
	assert_non_null(c);
	assert_int_equal(cps_rules_from_json(json_object_get(c, "rules"), &rules, err, sizeof(err)),
	                 CPS_OK);
	events = json_object_get(c, "events");
	assert_int_equal(
	    cps_key_state_init(st, "person", json_string_value(json_object_get(c, "key"))), CPS_OK);
	json_array_foreach (events, i, ej) {
		struct cps_ingest_event ev = {0};
		struct cps_reconcile_outcome o;

		snprintf(ev.platform, sizeof(ev.platform), "%s",
		         json_string_value(json_object_get(ej, "platform")));
		snprintf(ev.entity, sizeof(ev.entity), "person");
		ev.key = strdup(st->key);
		ev.op = CPS_OP_UPSERT;
		ev.effective_ms = json_integer_value(json_object_get(ej, "eff"));
		ev.source_ms = json_integer_value(json_object_get(ej, "src"));
		ev.source_position = strdup(json_string_value(json_object_get(ej, "pos")));
		ev.record = json_incref(json_object_get(ej, "record"));
		cps_reconcile_outcome_init(&o);
		assert_int_equal(cps_reconcile_apply(rules, st, &ev, &o, err, sizeof(err)), CPS_OK);
		cps_reconcile_outcome_release(&o);
		cps_ingest_event_release(&ev);
	}
	i = json_array_size(events);
	cps_rules_free(rules);
	json_decref(c);
	return i;
}

static void test_person_round_trips(void **state)
{
	struct cps_key_state st, back;
	struct cps_arena arena;
	struct cps_tstate ts;
	char err[CPS_ERRSTR_SIZE];
	size_t n_events;
	(void)state;

	n_events = person_state(&st);
	cps_arena_init(&arena, 0);
	assert_int_equal(cps_tstate_from_json(&st, person, &arena, &ts, err, sizeof(err)), CPS_OK);
	assert_int_equal(ts.n_platforms, 3);
	/* one stamp per event (one event per platform here): the platform, its
	 * facts, the provenance and the conflict's candidates all refer to it */
	assert_int_equal(ts.n_stamps, n_events);
	for (uint32_t p = 0; p < ts.n_platforms; p++)
		for (uint32_t f = 0; f < ts.n_fields; f++)
			assert_true(ts.platforms[p].facts[f].stamp == CPS_TSTATE_NONE ||
			            ts.platforms[p].facts[f].stamp == ts.platforms[p].stamp);
	/* the key field holds the key as an Avro string: its length, then the bytes */
	{
		const struct cps_rfield *nid = cps_rtype_field(person->root, "national_id");
		struct cps_tbytes v = ts.record[nid->index];

		assert_int_equal(v.len, 1 + strlen(st.key));
		assert_memory_equal(v.p + 1, st.key, strlen(st.key));
	}
	assert_int_equal(cps_tstate_to_json(&ts, &back, err, sizeof(err)), CPS_OK);
	assert_true(json_equal(back.platforms, st.platforms));
	assert_true(json_equal(back.record, st.record));
	assert_true(json_equal(back.provenance, st.provenance));
	assert_true(json_equal(back.conflicts, st.conflicts));
	assert_true(json_object_size(st.conflicts) > 0);
	cps_key_state_release(&back);
	cps_key_state_release(&st);
	cps_arena_release(&arena);
}

/* What the policy reads of a typed record: the whole record as a typed
 * value (its encoding is the fields' bytes in order) and single string or
 * enum fields as text, null ones as NULL. */
static void test_record_reads(void **state)
{
	struct cps_key_state st;
	struct cps_arena arena;
	struct cps_tstate ts;
	struct cps_tval v;
	struct cps_buf whole, fields;
	char err[CPS_ERRSTR_SIZE];
	const char *text;
	(void)state;

	person_state(&st);
	cps_arena_init(&arena, 0);
	cps_buf_init(&whole, 0);
	cps_buf_init(&fields, 0);
	assert_int_equal(cps_tstate_from_json(&st, person, &arena, &ts, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_tstate_record_tval(&ts, &arena, &v, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_record_encode(person, &v, &whole, err, sizeof(err)), CPS_OK);
	for (uint32_t f = 0; f < ts.n_fields; f++)
		assert_int_equal(cps_buf_append(&fields, ts.record[f].p, ts.record[f].len), 0);
	assert_int_equal(whole.len, fields.len);
	assert_memory_equal(whole.data, fields.data, whole.len);
	text = cps_tstate_field_text(&ts, "name", &arena);
	assert_non_null(text);
	assert_string_equal(text, json_string_value(json_object_get(st.record, "name")));
	text = cps_tstate_field_text(&ts, "gender", &arena); /* an enum */
	assert_non_null(text);
	assert_string_equal(text, json_string_value(json_object_get(st.record, "gender")));
	{ /* a nullable field set to null: its union's null branch */
		const struct cps_rfield *f = cps_rtype_field(person->root, "household_id");
		static const uint8_t null_branch0 = 0;

		assert_true(f && f->nullable && f->type->null_branch == 0);
		ts.record[f->index] = (struct cps_tbytes){&null_branch0, 1};
		assert_null(cps_tstate_field_text(&ts, "household_id", &arena));
	}
	assert_null(cps_tstate_field_text(&ts, "no_such_field", &arena));
	ts.record[0].p = NULL; /* a record lacking a field has no typed value */
	assert_int_equal(cps_tstate_record_tval(&ts, &arena, &v, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "lacks field"));
	cps_buf_release(&whole);
	cps_buf_release(&fields);
	cps_key_state_release(&st);
	cps_arena_release(&arena);
}

static void test_typed_is_smaller(void **state)
{
	struct cps_key_state st;
	struct cps_arena arena;
	struct cps_tstate ts;
	char err[CPS_ERRSTR_SIZE];
	size_t before, json_heap, typed;
	(void)state;

	json_set_alloc_funcs(counting_malloc, counting_free);
	before = heap_live;
	person_state(&st);
	json_heap = heap_live - before;
	cps_arena_init(&arena, 0);
	assert_int_equal(cps_tstate_from_json(&st, person, &arena, &ts, err, sizeof(err)), CPS_OK);
	typed = cps_arena_used(&arena);
	printf("a person's state (three platforms, %u fields): JSON trees %zu bytes of heap, "
	       "typed %zu bytes (%.1f%%)\n",
	       ts.n_fields, json_heap, typed, 100.0 * (double)typed / (double)json_heap);
	assert_true(typed < json_heap);
	cps_arena_release(&arena);
	cps_key_state_release(&st);
	json_set_alloc_funcs(malloc, free);
}

static int load_person(void **state)
{
	(void)state;
	person = cps_test_entity_schema("person");
	return 0;
}

/* ---- refusals ------------------------------------------------------------------ */

/* Edits the person's state with `edit` and expects the typed form to be
 * refused naming `field`, without `secret` (a value) in the reason. */
static void expect_refused(void (*edit)(struct cps_key_state *), const char *field,
                           const char *secret)
{
	struct cps_key_state st;
	struct cps_arena arena;
	struct cps_tstate ts;
	char err[CPS_ERRSTR_SIZE] = "";

	person_state(&st);
	edit(&st);
	cps_arena_init(&arena, 0);
	assert_int_equal(cps_tstate_from_json(&st, person, &arena, &ts, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	print_message("refused: %s\n", err);
	assert_non_null(strstr(err, field));
	if (secret)
		assert_null(strstr(err, secret));
	cps_arena_release(&arena);
	cps_key_state_release(&st);
}

static json_t *city_fields(struct cps_key_state *st)
{
	return json_object_get(json_object_get(st->platforms, "city"), "fields");
}

static void add_unknown_fact(struct cps_key_state *st)
{
	json_t *f = json_deep_copy(json_object_get(city_fields(st), "name"));

	json_object_set_new(city_fields(st), "nickname", f);
}

static void mistype_value(struct cps_key_state *st)
{
	json_object_set_new(json_object_get(city_fields(st), "phone"), "v",
	                    json_string("13900009999"));
}

static void add_prov_member(struct cps_key_state *st)
{
	json_object_set_new(json_object_get(st->provenance, "gender"), "comment",
	                    json_string("hand-edited"));
}

static void disagree_with_stranger(struct cps_key_state *st)
{
	json_t *prov = json_object_get(st->provenance, "name");

	json_object_set_new(prov, "flagged", json_true());
	json_object_set_new(prov, "disagreeing", json_pack("[s]", "ministry"));
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refused(add_unknown_fact, "nickname", NULL);
	/* phone is a union: a bare string is not its Avro JSON */
	expect_refused(mistype_value, "phone", "13900009999");
	expect_refused(add_prov_member, "gender", "hand-edited");
	expect_refused(disagree_with_stranger, "name", "ministry");
}

/* ---- the typed codec on hostile bytes --------------------------------------------- */

/* Decodes p[0..n) as facts (or provenance) into a fresh typed state: CPS_OK
 * or CPS_ERR_INVALID, never anything else, never a read outside (ASan). */
static int decode_into_fresh(const uint8_t *p, size_t n, bool facts)
{
	struct cps_arena arena;
	struct cps_tstate ts;
	char err[CPS_ERRSTR_SIZE];
	int rc;

	cps_arena_init(&arena, 0);
	assert_int_equal(cps_tstate_init(&ts, person, "person", "k", &arena, err, sizeof(err)),
	                 CPS_OK);
	/* provenance names the platforms: give it the state's three */
	for (size_t i = 0; !facts && i < 3; i++) {
		uint32_t pi = cps_tstate_platform(
		    &ts, (const char *[]){"province", "city", "shenshan"}[i], true);

		ts.platforms[pi].stamp = cps_tstate_stamp(&ts, 0, 0, NULL);
	}
	rc = facts ? cps_tstate_facts_decode(&ts, p, n, err, sizeof(err))
	           : cps_tstate_prov_decode(&ts, p, n, err, sizeof(err));
	assert_true(rc == CPS_OK || rc == CPS_ERR_INVALID);
	cps_arena_release(&arena);
	return rc;
}

static void test_codec_hostile_bytes(void **state)
{
	struct cps_key_state st;
	struct cps_buf enc[2];
	unsigned seed = 20261205;
	(void)state;

	person_state(&st);
	for (int k = 0; k < 2; k++) {
		uint8_t *copy;

		cps_buf_init(&enc[k], CPS_BUF_DEFAULT_LIMIT);
		assert_int_equal(k ? cps_prov_encode(st.provenance, &enc[k], NULL, 0)
		                   : cps_facts_encode(st.platforms, &enc[k], NULL, 0),
		                 CPS_OK);
		assert_int_equal(decode_into_fresh(enc[k].data, enc[k].len, !k), CPS_OK);
		/* every truncation is refused */
		for (size_t n = 0; n < enc[k].len; n++)
			assert_int_equal(decode_into_fresh(enc[k].data, n, !k), CPS_ERR_INVALID);
		/* random byte flips read or are refused, nothing else */
		copy = malloc(enc[k].len);
		assert_non_null(copy);
		for (int i = 0; i < 3000; i++) {
			memcpy(copy, enc[k].data, enc[k].len);
			for (int f = 0; f < 1 + i % 3; f++) {
				seed = seed * 1103515245u + 12345u;
				copy[(seed >> 8) % enc[k].len] ^=
				    (uint8_t)(1u << ((seed >> 4) % 8));
			}
			decode_into_fresh(copy, enc[k].len, !k);
		}
		free(copy);
		cps_buf_release(&enc[k]);
	}
	cps_key_state_release(&st);
}

/* The record's jsonb text from the typed state, for a name holding what
 * JSON and jsonb escape (a quote, a backslash, control characters, U+0000,
 * U+E000, a character past the BMP): the text store/jsonb.c writes for the
 * JSON record, once parsed. */
static void test_record_jsonb_escapes(void **state)
{
	static const char name[] = "a\"b\\c\n\x01"
	                           "d\0e\xee\x80\x80"
	                           "f\xf0\x9f\x98\x80";
	struct cps_key_state st;
	struct cps_arena arena;
	struct cps_tstate ts;
	struct cps_buf text;
	char err[CPS_ERRSTR_SIZE], *want;
	json_t *a, *b;
	int ok;
	(void)state;

	person_state(&st);
	json_object_set_new(st.record, "name", json_stringn(name, sizeof(name) - 1));
	cps_arena_init(&arena, 0);
	assert_int_equal(cps_tstate_from_json(&st, person, &arena, &ts, err, sizeof(err)), CPS_OK);
	cps_buf_init(&text, 0);
	assert_int_equal(cps_tstate_record_jsonb(&ts, &text, err, sizeof(err)), CPS_OK);
	want = cps_jsonb_param(st.record, NULL, &ok);
	assert_non_null(want);
	/* U+0000 never reaches jsonb: it goes as U+E000 '0' */
	assert_null(memmem(text.data, text.len, "\\u0000", 6));
	a = json_loadb((const char *)text.data, text.len, 0, NULL);
	b = json_loads(want, 0, NULL);
	assert_non_null(a);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	free(want);
	cps_buf_release(&text);
	cps_arena_release(&arena);
	cps_key_state_release(&st);
}

/* A typed event from a record's Avro binary: every truncation refused with
 * CPS_ERR_INVALID, the whole record read. */
static void test_event_from_avro_truncated(void **state)
{
	struct cps_key_state st;
	struct cps_ingest_event ev = {.platform = "city", .entity = "person", .op = CPS_OP_UPSERT};
	struct cps_arena arena;
	struct cps_tstate ts;
	struct cps_tevent tev;
	struct cps_buf payload;
	char err[CPS_ERRSTR_SIZE];
	(void)state;

	person_state(&st);
	cps_buf_init(&payload, 0);
	assert_int_equal(cps_record_encode_json(person, st.record, &payload, err, sizeof(err)),
	                 CPS_OK);
	cps_arena_init(&arena, 0);
	assert_int_equal(cps_tstate_init(&ts, person, "person", st.key, &arena, err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(
	    cps_tevent_from_avro(&ts, &ev, payload.data, payload.len, &tev, err, sizeof(err)),
	    CPS_OK);
	for (size_t n = 0; n < payload.len; n++)
		assert_int_equal(
		    cps_tevent_from_avro(&ts, &ev, payload.data, n, &tev, err, sizeof(err)),
		    CPS_ERR_INVALID);
	cps_arena_release(&arena);
	cps_buf_release(&payload);
	cps_key_state_release(&st);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_person_round_trips),
	    cmocka_unit_test(test_record_reads),
	    cmocka_unit_test(test_typed_is_smaller),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_codec_hostile_bytes),
	    cmocka_unit_test(test_event_from_avro_truncated),
	    cmocka_unit_test(test_record_jsonb_escapes),
	};
	const char *src = getenv("CPSYNC_SOURCE_DIR");
	int failed;

	snprintf(source_dir, sizeof(source_dir), "%s", src ? src : ".");
	failed = cmocka_run_group_tests(tests, load_person, NULL);
	cps_test_entity_schemas_free();
	return failed ? 1 : 0;
}
