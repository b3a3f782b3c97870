/*
 * Tests of reconcile.c: every data-file case of
 * tests/reconcile/cases/ (format: tests/reconcile/README.md), each reported
 * by name, replayed in order, again as duplicates (must change nothing) and,
 * when the case says so, reversed and shuffled (same final record); plus
 * unit tests of apply's errors and of an entity without rules. Every event
 * is also applied by the typed engine (reconcile/typed_reconcile.h) to its
 * own state, and both engines must agree: the same trees (through the typed
 * state's view), version, deletion and outcome; so must every steward
 * decision, made by both. Every state also comes back whole from its typed
 * form. Rule loading is test_rules.c's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "config/config.h"
#include "model/entity.h"
#include "model/event.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"
#include "reconcile/typed_reconcile.h"
#include "reconcile/typed_state.h"
#include "testcases.h"
#include "testengines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char source_dir[1024];

/* ---- case runner ------------------------------------------------------------ */

struct run {
	struct cps_key_state st;
	/* the typed engine's state, fed the same events (typed_reconcile.h) */
	struct cps_arena arena;
	struct cps_tstate ts;
	json_t *opened, *updated, *closed; /* accumulated over the run */
	int emitted;
	char failure[4096];
};

static void dump(const char *what, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

	print_error("  %s: %s\n", what, s ? s : "(absent)");
	free(s);
}

static int mismatch(struct run *r, const char *what, json_t *expected, json_t *actual)
{
	if (!r->failure[0])
		snprintf(r->failure, sizeof(r->failure), "%s differs", what);
	print_error("%s differs\n", what);
	dump("expected", expected);
	dump("actual  ", actual);
	return -1;
}

static int event_from_json(json_t *j, const char *entity, const char *key,
                           struct cps_ingest_event *ev)
{
	const char *op = json_string_value(json_object_get(j, "op"));

	memset(ev, 0, sizeof(*ev));
	snprintf(ev->platform, sizeof(ev->platform), "%s",
	         json_string_value(json_object_get(j, "platform")));
	snprintf(ev->entity, sizeof(ev->entity), "%s", entity);
	ev->key = strdup(key);
	ev->op = op && !strcmp(op, "delete") ? CPS_OP_DELETE : CPS_OP_UPSERT;
	ev->effective_ms = json_integer_value(json_object_get(j, "eff"));
	ev->source_ms = json_integer_value(json_object_get(j, "src"));
	ev->source_position = strdup(json_string_value(json_object_get(j, "pos")) ?: "");
	if (ev->op == CPS_OP_UPSERT)
		ev->record = json_incref(json_object_get(j, "record"));
	return ev->key && ev->source_position ? 0 : -1;
}

static enum cps_resolution resolution_of(const char *how)
{
	if (how && !strcmp(how, "take_platform"))
		return CPS_RESOLVE_TAKE_PLATFORM;
	if (how && !strcmp(how, "enter_value"))
		return CPS_RESOLVE_ENTER_VALUE;
	assert_true(how && !strcmp(how, "dismiss"));
	return CPS_RESOLVE_DISMISS;
}

static void note_outcome(struct run *r, struct cps_reconcile_outcome *o)
{
	size_t i;
	json_t *v;

	json_array_foreach (o->opened, i, v)
		json_array_append(r->opened, json_object_get(v, "field"));
	json_array_foreach (o->updated, i, v)
		json_array_append(r->updated, json_object_get(v, "field"));
	json_array_foreach (o->closed, i, v)
		json_array_append(r->closed, v);
	if (o->changed) {
		r->emitted++;
		assert_int_equal(o->version, r->st.version);
		assert_int_equal(o->version, r->emitted);
	}
}

/* The unified record is complete: every field any platform stated is
 * present, and the key field equals the key. */
static int check_complete(struct run *r)
{
	const char *pn, *k;
	json_t *p, *v;
	const char *kf = cps_entity_key_field(r->st.entity);

	if (r->st.deleted || !json_is_object(r->st.record))
		return 0;
	json_object_foreach (r->st.platforms, pn, p) {
		json_object_foreach (json_object_get(p, "fields"), k, v) {
			if (!json_object_get(r->st.record, k)) {
				print_error("field '%s' missing from the unified record\n", k);
				return -1;
			}
		}
	}
	if (kf && strcmp(json_string_value(json_object_get(r->st.record, kf)) ?: "", r->st.key)) {
		print_error("key field '%s' differs from the key\n", kf);
		return -1;
	}
	return 0;
}

/* Applies events[order[i]] for i < n, with the case's resolves when `with_resolve`. */
static int run_events(const struct cps_rules *rules, json_t *c, const size_t *order, size_t n,
                      int with_resolve, struct run *r)
{
	const char *entity = json_string_value(json_object_get(c, "entity"));
	const char *key = json_string_value(json_object_get(c, "key"));
	json_t *events = json_object_get(c, "events");
	json_t *resolves = json_object_get(c, "resolve");
	char err[CPS_ERRSTR_SIZE];
	int rc;

	memset(r, 0, sizeof(*r));
	r->opened = json_array();
	r->updated = json_array();
	r->closed = json_array();
	assert_int_equal(cps_key_state_init(&r->st, entity, key), CPS_OK);
	cps_arena_init(&r->arena, 0);
	assert_int_equal(cps_tstate_init(&r->ts, cps_test_entity_schema(entity), entity, key,
	                                 &r->arena, err, sizeof(err)),
	                 CPS_OK);
	for (size_t i = 0; i < n; i++) {
		json_t *ej = json_array_get(events, order[i]), *exp, *rj;
		struct cps_ingest_event ev;
		struct cps_reconcile_outcome o;
		size_t j;

		assert_int_equal(event_from_json(ej, entity, key, &ev), 0);
		cps_reconcile_outcome_init(&o);
		rc = cps_reconcile_apply(rules, &r->st, &ev, &o, err, sizeof(err));
		if (rc != CPS_OK) {
			print_error("event %zu: %s\n", order[i], err);
			fail();
		}
		note_outcome(r, &o);
		cps_test_engines_agree(rules, &r->ts, &r->st, &ev, &o, "after an event");
		exp = json_object_get(ej, "expect");
		if (exp && with_resolve) {
			json_t *ch = json_object_get(exp, "changed");
			json_t *cf = json_object_get(exp, "changed_fields");

			if (ch && json_is_true(ch) != (o.changed != 0)) {
				char what[64];

				snprintf(what, sizeof(what), "event %zu 'changed'", order[i]);
				mismatch(r, what, ch, json_boolean(o.changed));
			}
			if (cf && !json_equal(cf, o.changed_fields)) {
				char what[64];

				snprintf(what, sizeof(what), "event %zu 'changed_fields'",
				         order[i]);
				mismatch(r, what, cf, o.changed_fields);
			}
		}
		cps_reconcile_outcome_release(&o);
		cps_ingest_event_release(&ev);
		if (check_complete(r) < 0)
			fail();
		cps_test_typed_round_trip(&r->st, "after an event");
		if (!with_resolve)
			continue;
		json_array_foreach (resolves, j, rj) {
			const char *field = json_string_value(json_object_get(rj, "field"));

			if ((size_t)json_integer_value(json_object_get(rj, "after_event")) !=
			    order[i])
				continue;
			const char *how_name = json_string_value(json_object_get(rj, "how"));
			const char *platform = json_string_value(json_object_get(rj, "platform"));
			json_t *value = json_object_get(rj, "value");
			const char *steward = json_string_value(json_object_get(rj, "steward"));
			const char *reason = json_string_value(json_object_get(rj, "reason"));
			int64_t id = json_integer_value(json_object_get(rj, "conflict_id"));
			int64_t now = json_integer_value(json_object_get(rj, "now"));

			cps_reconcile_outcome_init(&o);
			rc = cps_reconcile_resolve(rules, &r->st, field, resolution_of(how_name),
			                           platform, value, steward, reason, id, now, &o,
			                           err, sizeof(err));
			if (rc != CPS_OK) {
				print_error("resolve of '%s' after event %zu: %s\n", field,
				            order[i], err);
				fail();
			}
			note_outcome(r, &o);
			cps_test_decisions_agree(rules, &r->ts, &r->st, field,
			                         resolution_of(how_name), platform, value, steward,
			                         reason, id, now, &o, "after a decision");
			cps_reconcile_outcome_release(&o);
			cps_test_typed_round_trip(&r->st, "after a decision");
		}
	}
	return 0;
}

static void run_release(struct run *r)
{
	cps_key_state_release(&r->st);
	cps_arena_release(&r->arena);
	json_decref(r->opened);
	json_decref(r->updated);
	json_decref(r->closed);
}

/* Keys of an object as a sorted array. */
static json_t *sorted_keys(json_t *obj)
{
	json_t *a = json_array();
	const char *k;
	json_t *v;
	char *names[256];
	size_t n = 0;

	json_object_foreach (obj, k, v) {
		if (n < 256)
			names[n++] = (char *)k;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	return a;
}

static json_t *sorted_copy(json_t *arr)
{
	json_t *obj = json_object(), *v, *out;
	size_t i;

	json_array_foreach (arr, i, v)
		json_object_set(obj, json_string_value(v), json_true());
	out = sorted_keys(obj);
	json_decref(obj);
	return out;
}

static int check_expect(struct run *r, json_t *exp)
{
	int bad = 0;
	json_t *v, *e;
	const char *k;

	if ((e = json_object_get(exp, "version")) && json_integer_value(e) != r->st.version) {
		json_t *a = json_integer(r->st.version);
		bad |= mismatch(r, "version", e, a);
		json_decref(a);
	}
	if ((e = json_object_get(exp, "emitted_versions")) && json_integer_value(e) != r->emitted) {
		json_t *a = json_integer(r->emitted);
		bad |= mismatch(r, "emitted_versions", e, a);
		json_decref(a);
	}
	if ((e = json_object_get(exp, "deleted")) && json_is_true(e) != (r->st.deleted != 0))
		bad |= mismatch(r, "deleted", e, json_boolean(r->st.deleted));
	if ((e = json_object_get(exp, "record"))) {
		if (json_is_null(e)) {
			if (!json_is_null(r->st.record))
				bad |= mismatch(r, "record", e, r->st.record);
		} else {
			json_object_foreach (e, k, v) {
				json_t *a = json_object_get(r->st.record, k);
				char what[128];

				snprintf(what, sizeof(what), "record.%s", k);
				if (!a || !json_equal(a, v))
					bad |= mismatch(r, what, v, a);
			}
		}
	}
	if ((e = json_object_get(exp, "provenance"))) {
		json_object_foreach (e, k, v) {
			json_t *a = json_object_get(r->st.provenance, k);
			const char *pk;
			json_t *pv;
			char what[128];

			snprintf(what, sizeof(what), "provenance.%s", k);
			if (json_is_null(v)) {
				if (a)
					bad |= mismatch(r, what, v, a);
				continue;
			}
			json_object_foreach (v, pk, pv) {
				json_t *av = json_object_get(a, pk);

				/* null expects the key absent (or null) */
				if (json_is_null(pv) ? av && !json_is_null(av)
				                     : !av || !json_equal(av, pv)) {
					bad |= mismatch(r, what, v, a);
					break;
				}
			}
		}
	}
	if ((e = json_object_get(exp, "open_conflicts"))) {
		json_t *want = sorted_copy(e), *have = sorted_keys(r->st.conflicts);

		if (!json_equal(want, have))
			bad |= mismatch(r, "open_conflicts", want, have);
		json_decref(want);
		json_decref(have);
	}
	if ((e = json_object_get(exp, "closed")) && !json_equal(e, r->closed))
		bad |= mismatch(r, "closed", e, r->closed);
	if ((e = json_object_get(exp, "opened")) && !json_equal(e, r->opened))
		bad |= mismatch(r, "opened", e, r->opened);
	if ((e = json_object_get(exp, "updated")) && !json_equal(e, r->updated))
		bad |= mismatch(r, "updated", e, r->updated);
	return bad;
}

/* Re-applies every event once more: nothing may change at all. */
static int check_duplicates(const struct cps_rules *rules, json_t *c, struct run *r)
{
	json_t *events = json_object_get(c, "events"), *ej;
	json_t *before =
	    json_pack("{s:O, s:O, s:O, s:O, s:I, s:b}", "platforms", r->st.platforms, "record",
	              r->st.record, "provenance", r->st.provenance, "conflicts", r->st.conflicts,
	              "version", (json_int_t)r->st.version, "deleted", r->st.deleted);
	json_t *after;
	char err[CPS_ERRSTR_SIZE];
	size_t i;
	int bad = 0;

	json_array_foreach (events, i, ej) {
		struct cps_ingest_event ev;
		struct cps_reconcile_outcome o;

		assert_int_equal(event_from_json(ej, r->st.entity, r->st.key, &ev), 0);
		cps_reconcile_outcome_init(&o);
		assert_int_equal(cps_reconcile_apply(rules, &r->st, &ev, &o, err, sizeof(err)),
		                 CPS_OK);
		if (o.changed || json_array_size(o.opened) || json_array_size(o.updated) ||
		    json_array_size(o.closed) || json_array_size(o.changed_fields)) {
			print_error("duplicate of event %zu changed something\n", i);
			bad = -1;
		}
		cps_reconcile_outcome_release(&o);
		cps_ingest_event_release(&ev);
	}
	after =
	    json_pack("{s:O, s:O, s:O, s:O, s:I, s:b}", "platforms", r->st.platforms, "record",
	              r->st.record, "provenance", r->st.provenance, "conflicts", r->st.conflicts,
	              "version", (json_int_t)r->st.version, "deleted", r->st.deleted);
	if (!json_equal(before, after))
		bad = mismatch(r, "state after duplicate delivery", before, after);
	json_decref(before);
	json_decref(after);
	return bad;
}

static void run_case(void **state)
{
	const char *path = *state;
	json_error_t jerr;
	json_t *c = json_load_file(path, 0, &jerr);
	struct cps_rules *rules = NULL;
	char err[CPS_ERRSTR_SIZE];
	struct run r, alt;
	size_t n, order[256];
	int bad = 0;

	if (!c) {
		print_error("%s:%d: %s\n", path, jerr.line, jerr.text);
		fail();
	}
	if (cps_rules_from_json(json_object_get(c, "rules"), &rules, err, sizeof(err)) != CPS_OK) {
		print_error("rules: %s\n", err);
		fail();
	}
	n = json_array_size(json_object_get(c, "events"));
	assert_true(n > 0 && n <= 256);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	run_events(rules, c, order, n, 1, &r);
	bad |= check_expect(&r, json_object_get(c, "expect"));
	bad |= check_duplicates(rules, c, &r);

	if (json_is_true(json_object_get(c, "order_independent"))) {
		unsigned seed = 12345;

		assert_null(json_object_get(c, "resolve"));
		for (int round = 0; round < 6; round++) {
			for (size_t i = 0; i < n; i++)
				order[i] = round == 0 ? n - 1 - i : i;
			for (size_t i = n; round > 0 && i > 1; i--) {
				size_t j, t;

				seed = seed * 1103515245u + 12345u;
				j = (seed >> 16) % i;
				t = order[i - 1];
				order[i - 1] = order[j];
				order[j] = t;
			}
			run_events(rules, c, order, n, 0, &alt);
			if (!json_equal(alt.st.record, r.st.record) ||
			    alt.st.deleted != r.st.deleted) {
				print_error("replay %s gives another final record\n",
				            round == 0 ? "in reverse order" : "in shuffled order");
				bad |= mismatch(&r, "final record (in order vs reordered)",
				                r.st.record, alt.st.record);
			}
			run_release(&alt);
		}
	}
	run_release(&r);
	cps_rules_free(rules);
	json_decref(c);
	if (bad)
		fail_msg("case %s failed", path);
}

/* ---- unit tests ----------------------------------------------------------------- */

/* Rules from JSON text (a case file's `rules`). */
static struct cps_rules *rules_of(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	struct cps_rules *r = NULL;
	char err[CPS_ERRSTR_SIZE];

	assert_non_null(j);
	if (cps_rules_from_json(j, &r, err, sizeof(err)) != CPS_OK)
		fail_msg("rules: %s", err);
	json_decref(j);
	return r;
}

static void make_event(struct cps_ingest_event *ev, const char *platform, const char *key,
                       enum cps_op op, int64_t eff, json_t *record)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->platform, sizeof(ev->platform), "%s", platform);
	snprintf(ev->entity, sizeof(ev->entity), "person");
	ev->key = strdup(key);
	ev->op = op;
	ev->effective_ms = eff;
	ev->source_ms = eff + 1;
	ev->source_position = strdup("city:0/16B3F28");
	ev->record = record;
}

/* Errors name neither the key nor any value; state stays untouched. */
static void test_apply_errors(void **state)
{
	static const char key[] = "440305199001011238";
	struct cps_rules *r = rules_of("{\"person\": {\"default\": {\"rule\": \"manual\"}}}");
	struct cps_key_state st;
	struct cps_ingest_event ev;
	struct cps_reconcile_outcome o;
	char err[CPS_ERRSTR_SIZE];
	json_t *v;

	(void)state;
	assert_int_equal(cps_key_state_init(&st, "person", key), CPS_OK);
	cps_reconcile_outcome_init(&o);

	make_event(&ev, "city", "440305199001011246", CPS_OP_UPSERT, 1000,
	           json_pack("{s:s}", "name", "Zhang San"));
	assert_int_equal(cps_reconcile_apply(r, &st, &ev, &o, err, sizeof(err)), CPS_ERR_INVALID);
	assert_null(strstr(err, "4403051990"));
	assert_null(strstr(err, "Zhang"));
	cps_ingest_event_release(&ev);

	make_event(&ev, "city", key, CPS_OP_UPSERT, 1000, NULL);
	assert_int_equal(cps_reconcile_apply(r, &st, &ev, &o, err, sizeof(err)), CPS_ERR_INVALID);
	cps_ingest_event_release(&ev);
	make_event(&ev, "city", key, CPS_OP_UPSERT, 1000, json_pack("{s:s}", "name", "Zhang San"));
	snprintf(ev.entity, sizeof(ev.entity), "household");
	assert_int_equal(cps_reconcile_apply(r, &st, &ev, &o, err, sizeof(err)), CPS_ERR_INVALID);
	cps_ingest_event_release(&ev);
	assert_int_equal(st.version, 0);
	assert_true(json_is_null(st.record));
	assert_int_equal(json_object_size(st.platforms), 0);

	/* resolve without a conflict, with a platform that is no candidate */
	assert_int_equal(cps_reconcile_resolve(r, &st, "name", CPS_RESOLVE_DISMISS, NULL, NULL,
	                                       "steward-1", NULL, 0, 5000, &o, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "no open conflict"));
	make_event(&ev, "city", key, CPS_OP_UPSERT, 1000, json_pack("{s:s}", "name", "Zhang San"));
	assert_int_equal(cps_reconcile_apply(r, &st, &ev, &o, err, sizeof(err)), CPS_OK);
	cps_ingest_event_release(&ev);
	make_event(&ev, "province", key, CPS_OP_UPSERT, 1000,
	           json_pack("{s:s}", "name", "Zhang Shan"));
	assert_int_equal(cps_reconcile_apply(r, &st, &ev, &o, err, sizeof(err)), CPS_OK);
	cps_ingest_event_release(&ev);
	assert_int_equal(json_array_size(o.opened), 1);
	assert_int_equal(cps_reconcile_resolve(r, &st, "name", CPS_RESOLVE_TAKE_PLATFORM,
	                                       "shenshan", NULL, "steward-1", NULL, 0, 5000, &o,
	                                       err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_null(strstr(err, "Zhang"));
	assert_int_equal(cps_reconcile_resolve(r, &st, "name", CPS_RESOLVE_ENTER_VALUE, NULL, NULL,
	                                       "steward-1", NULL, 0, 5000, &o, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_int_equal(cps_reconcile_resolve(r, &st, "name", CPS_RESOLVE_DISMISS, NULL, NULL,
	                                       NULL, NULL, 0, 5000, &o, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	/* the conflict is still open after the refused decisions */
	assert_non_null(json_object_get(st.conflicts, "name"));
	v = json_string("Zhang San");
	assert_int_equal(cps_reconcile_resolve(r, &st, "name", CPS_RESOLVE_ENTER_VALUE, NULL, v,
	                                       "steward-1", "checked the hukou", 0, 5000, &o, err,
	                                       sizeof(err)),
	                 CPS_OK);
	json_decref(v);
	assert_int_equal(o.version, 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(st.provenance, "name"), "rule")),
	    "steward");
	assert_true(
	    json_is_null(json_object_get(json_object_get(st.provenance, "name"), "platform")));
	cps_reconcile_outcome_release(&o);
	cps_key_state_release(&st);
	cps_rules_free(r);
}

/* An entity without rules falls back to `latest` (the config's default). */
static void test_no_rules_falls_back_to_latest(void **state)
{
	struct cps_rules *r = rules_of("{}");
	struct cps_key_state st;
	struct cps_ingest_event ev;
	struct cps_reconcile_outcome o;
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	assert_int_equal(cps_key_state_init(&st, "person", "K1"), CPS_OK);
	cps_reconcile_outcome_init(&o);
	make_event(&ev, "city", "K1", CPS_OP_UPSERT, 2000, json_pack("{s:s}", "phone", "a"));
	assert_int_equal(cps_reconcile_apply(r, &st, &ev, &o, err, sizeof(err)), CPS_OK);
	cps_ingest_event_release(&ev);
	make_event(&ev, "province", "K1", CPS_OP_UPSERT, 1000, json_pack("{s:s}", "phone", "b"));
	assert_int_equal(cps_reconcile_apply(r, &st, &ev, &o, err, sizeof(err)), CPS_OK);
	cps_ingest_event_release(&ev);
	assert_int_equal(o.changed, 0);
	assert_string_equal(json_string_value(json_object_get(st.record, "phone")), "a");
	/* the key field is set from the key */
	assert_string_equal(json_string_value(json_object_get(st.record, "national_id")), "K1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st.provenance, "phone"),
	                                                    "rule_version")),
	                 0);
	cps_reconcile_outcome_release(&o);
	cps_key_state_release(&st);
	cps_rules_free(r);
}

int main(void)
{
	static const struct CMUnitTest units[] = {
	    cmocka_unit_test(test_apply_errors),
	    cmocka_unit_test(test_no_rules_falls_back_to_latest),
	};
	const char *src = getenv("CPSYNC_SOURCE_DIR");
	char dir[1100];
	struct CMUnitTest cases[512];
	size_t n;
	int failed;

	snprintf(source_dir, sizeof(source_dir), "%s", src ? src : ".");
	snprintf(dir, sizeof(dir), "%s/tests/reconcile/cases", source_dir);
	n = cps_test_json_cases(dir, run_case, cases, CPS_ARRAY_SIZE(cases));
	failed = cmocka_run_group_tests(units, NULL, NULL);
	failed += n ? _cmocka_run_group_tests("reconcile_cases", cases, n, NULL, NULL) : 1;
	cps_test_json_cases_free(cases, n);
	cps_test_entity_schemas_free();
	return failed ? 1 : 0;
}
