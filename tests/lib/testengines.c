/*
 * The typed engine against the JSON engine (testengines.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testengines.h"

#include "base/buf.h"
#include "base/common.h"
#include "codec/record.h"
#include "codec/schema.h"
#include "model/entity.h"
#include "reconcile/unified.h"
#include "store/jsonb.h"
#include "store/state_facts.h"
#include "store/state_typed.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cps_catalog *catalog;
static struct cps_record_schema *compiled[CPS_N_ENTITIES];
static struct cps_unified *unified; /* the unified event's encoder, registry-free ids */

const struct cps_record_schema *cps_test_entity_schema(const char *entity)
{
	char dir[1100], err[CPS_ERRSTR_SIZE];
	const char *src = getenv("CPSYNC_SOURCE_DIR");

	if (!catalog) {
		snprintf(dir, sizeof(dir), "%s/schemas", src ? src : ".");
		if (cps_catalog_load_dir(dir, &catalog, err, sizeof(err)) != CPS_OK)
			fail_msg("schemas: %s", err);
	}
	for (size_t i = 0; i < CPS_N_ENTITIES; i++) {
		if (strcmp(cps_entities[i], entity))
			continue;
		if (!compiled[i] && cps_record_schema_new(cps_catalog_by_entity(catalog, entity),
		                                          &compiled[i], err, sizeof(err)) != CPS_OK)
			fail_msg("schema of %s: %s", entity, err);
		return compiled[i];
	}
	fail_msg("no entity '%s'", entity);
	return NULL;
}

void cps_test_entity_schemas_free(void)
{
	cps_unified_free(unified);
	unified = NULL;
	for (size_t i = 0; i < CPS_N_ENTITIES; i++) {
		cps_record_schema_free(compiled[i]);
		compiled[i] = NULL;
	}
	cps_catalog_free(catalog);
	catalog = NULL;
}

static void dump(const char *what, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

	print_error("  %s: %s\n", what, s ? s : "(absent)");
	free(s);
}

void cps_test_typed_same(const struct cps_tstate *ts, const struct cps_key_state *st,
                         const char *after)
{
	struct cps_key_state back;
	char err[CPS_ERRSTR_SIZE];

	if (cps_tstate_to_json(ts, &back, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: the typed state has no view: %s", after, err);
	if (!json_equal(back.platforms, st->platforms) || !json_equal(back.record, st->record) ||
	    !json_equal(back.provenance, st->provenance) ||
	    !json_equal(back.conflicts, st->conflicts) || back.version != st->version ||
	    back.deleted != st->deleted) {
		dump("JSON platforms ", st->platforms);
		dump("typed platforms", back.platforms);
		dump("JSON record ", st->record);
		dump("typed record", back.record);
		dump("JSON provenance ", st->provenance);
		dump("typed provenance", back.provenance);
		dump("JSON conflicts ", st->conflicts);
		dump("typed conflicts", back.conflicts);
		fail_msg("%s: the typed state differs from the JSON state (version %lld/%lld)",
		         after, (long long)st->version, (long long)back.version);
	}
	cps_key_state_release(&back);
}

/* The record's jsonb text written from the typed state reads as the JSON
 * state's does (the same tree once parsed and unescaped). */
static void records_agree(const struct cps_key_state *st, const struct cps_tstate *ts,
                          struct cps_buf *scratch, const char *after)
{
	char err[CPS_ERRSTR_SIZE], *text;
	json_t *mine, *theirs;
	int ok;

	if (!json_is_object(st->record))
		return;
	cps_buf_reset(scratch);
	if (cps_tstate_record_jsonb(ts, scratch, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: the typed record's jsonb: %s", after, err);
	text = cps_jsonb_param(st->record, NULL, &ok);
	mine = json_loadb((const char *)scratch->data, scratch->len, 0, NULL);
	theirs = text ? json_loads(text, 0, NULL) : NULL;
	if (!mine || !json_equal(mine, theirs)) {
		print_error("  JSON : %s\n  typed: %.*s\n", text ? text : "(none)",
		            (int)scratch->len, (const char *)scratch->data);
		fail_msg("%s: the typed record's jsonb differs from the JSON record's", after);
	}
	json_decref(mine);
	json_decref(theirs);
	free(text);
}

/* The typed codec (store/state_typed.h) against the JSON one on st: what
 * either writes, the other reads back as st's facts and provenance. */
static void codecs_agree(const struct cps_key_state *st, const struct cps_tstate *ts,
                         const char *after)
{
	struct cps_buf facts, prov;
	struct cps_arena arena;
	struct cps_tstate back;
	struct cps_key_state view;
	json_t *platforms = NULL, *provenance = NULL;
	char err[CPS_ERRSTR_SIZE];

	cps_buf_init(&facts, CPS_BUF_DEFAULT_LIMIT);
	cps_buf_init(&prov, CPS_BUF_DEFAULT_LIMIT);
	cps_arena_init(&arena, 0);
	/* the JSON engine's bytes, read by the typed codec */
	if (cps_facts_encode(st->platforms, &facts, err, sizeof(err)) != CPS_OK ||
	    cps_prov_encode(st->provenance, &prov, err, sizeof(err)) != CPS_OK ||
	    cps_tstate_init(&back, ts->rs, st->entity, st->key, &arena, err, sizeof(err)) !=
	        CPS_OK ||
	    cps_tstate_facts_decode(&back, facts.data, facts.len, err, sizeof(err)) != CPS_OK ||
	    cps_tstate_prov_decode(&back, prov.data, prov.len, err, sizeof(err)) != CPS_OK ||
	    cps_tstate_to_json(&back, &view, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: the typed codec does not read the JSON codec's bytes: %s", after,
		         err);
	if (!json_equal(view.platforms, st->platforms) ||
	    !json_equal(view.provenance, st->provenance)) {
		dump("JSON facts  ", st->platforms);
		dump("typed reads ", view.platforms);
		fail_msg("%s: the typed codec reads the JSON codec's bytes otherwise", after);
	}
	cps_key_state_release(&view);
	/* the typed codec's bytes, read by the JSON codec */
	cps_buf_reset(&facts);
	cps_buf_reset(&prov);
	if (cps_tstate_facts_encode(ts, &facts, err, sizeof(err)) != CPS_OK ||
	    cps_tstate_prov_encode(ts, &prov, err, sizeof(err)) != CPS_OK ||
	    cps_facts_decode(facts.data, facts.len, &platforms, err, sizeof(err)) != CPS_OK ||
	    cps_prov_decode(prov.data, prov.len, &provenance, NULL, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: the JSON codec does not read the typed codec's bytes: %s", after,
		         err);
	if (!json_equal(platforms, st->platforms) || !json_equal(provenance, st->provenance)) {
		dump("JSON facts  ", st->platforms);
		dump("JSON reads  ", platforms);
		dump("JSON prov   ", st->provenance);
		dump("JSON reads  ", provenance);
		fail_msg("%s: the JSON codec reads the typed codec's bytes otherwise", after);
	}
	json_decref(platforms);
	json_decref(provenance);
	records_agree(st, ts, &facts, after);
	cps_buf_release(&facts);
	cps_buf_release(&prov);
	cps_arena_release(&arena);
}

void cps_test_typed_round_trip(const struct cps_key_state *st, const char *after)
{
	struct cps_arena arena;
	struct cps_tstate ts;
	char err[CPS_ERRSTR_SIZE];

	cps_arena_init(&arena, 0);
	if (cps_tstate_from_json(st, cps_test_entity_schema(st->entity), &arena, &ts, err,
	                         sizeof(err)) != CPS_OK)
		fail_msg("%s: the state has no typed form: %s", after, err);
	cps_test_typed_same(&ts, st, after);
	codecs_agree(st, &ts, after);
	cps_arena_release(&arena);
}

/* The text a list item sorts by: a string itself, or an object's "field". */
static const char *sort_key(json_t *v)
{
	return json_is_string(v) ? json_string_value(v)
	                         : json_string_value(json_object_get(v, "field"));
}

static int cmp_items(const void *a, const void *b)
{
	const char *ka = sort_key(*(json_t *const *)a), *kb = sort_key(*(json_t *const *)b);

	return strcmp(ka ? ka : "", kb ? kb : "");
}

/* A list of strings or of {"field", …} objects as a sorted array (NULL stays
 * NULL). */
static json_t *as_set(json_t *list)
{
	size_t n = json_array_size(list), i;
	json_t **items = calloc(n + 1, sizeof(*items));
	json_t *v, *out = list ? json_array() : NULL;

	assert_non_null(items);
	json_array_foreach (list, i, v)
		items[i] = v;
	qsort(items, n, sizeof(*items), cmp_items);
	for (i = 0; out && i < n; i++)
		json_array_append(out, items[i]);
	free(items);
	return out;
}

static void outcomes_agree(const struct cps_reconcile_outcome *j,
                           const struct cps_reconcile_outcome *t, const char *after)
{
	struct {
		const char *what;
		json_t *j, *t;
	} lists[] = {{"opened", j->opened, t->opened},
	             {"updated", j->updated, t->updated},
	             {"closed", j->closed, t->closed},
	             {"changed_fields", j->changed_fields, t->changed_fields},
	             {"prior_platforms", j->prior_platforms, t->prior_platforms}};

	if (j->changed != t->changed || j->version != t->version || (j->changed && j->op != t->op))
		fail_msg(
		    "%s: the typed engine's outcome differs (changed %d/%d, version %lld/%lld)",
		    after, j->changed, t->changed, (long long)j->version, (long long)t->version);
	for (size_t i = 0; i < CPS_ARRAY_SIZE(lists); i++) {
		json_t *sj = as_set(lists[i].j), *st = as_set(lists[i].t);
		bool same = json_equal(sj, st) || (!sj && !st);

		json_decref(sj);
		json_decref(st);
		if (same)
			continue;
		dump("JSON ", lists[i].j);
		dump("typed", lists[i].t);
		fail_msg("%s: the typed engine's %s differ", after, lists[i].what);
	}
}

/* `names` (NULL stays NULL) in the order of `order`'s strings (the schema's
 * fields, the state's platforms): a new reference. */
static json_t *in_order(json_t *names, const char *const *order, size_t n)
{
	json_t *out = names ? json_array() : NULL, *v;
	size_t i;

	for (size_t k = 0; out && k < n; k++)
		json_array_foreach (names, i, v)
			if (!strcmp(json_string_value(v), order[k]))
				json_array_append(out, v);
	return out;
}

/* The unified event of the typed state after `to` is the JSON engine's
 * (the JSON outcome's echoed names put in the typed engine's order), byte
 * for byte. */
static void events_agree(const struct cps_tstate *ts, const struct cps_key_state *st,
                         const struct cps_toutcome *to, const struct cps_reconcile_outcome *jo,
                         const char *after)
{
	struct cps_unified_conf conf = {.framing = CPS_FRAMING_CONFLUENT};
	const char *fields[256], *platforms[64];
	struct cps_reconcile_outcome ordered = *jo;
	struct cps_buf a, b;
	char err[CPS_ERRSTR_SIZE];
	int rc;

	if (!to->changed)
		return;
	conf.catalog = catalog;
	if (!unified && cps_unified_new(&conf, &unified, err, sizeof(err)) != CPS_OK)
		fail_msg("unified encoder: %s", err);
	assert_true(ts->n_fields <= CPS_ARRAY_SIZE(fields) &&
	            ts->n_platforms <= CPS_ARRAY_SIZE(platforms));
	for (uint32_t f = 0; f < ts->n_fields; f++)
		fields[f] = ts->rs->root->fields[f].name;
	for (uint32_t p = 0; p < ts->n_platforms; p++)
		platforms[p] = ts->platforms[p].name;
	ordered.changed_fields = in_order(jo->changed_fields, fields, ts->n_fields);
	ordered.prior_platforms = in_order(jo->prior_platforms, platforms, ts->n_platforms);
	cps_buf_init(&a, 0);
	cps_buf_init(&b, 0);
	/* a case's record may lack fields: then neither encodes */
	rc = cps_unified_encode(unified, st, &ordered, 1, &a, err, sizeof(err));
	if ((cps_unified_encode_typed(unified, ts, to, 1, &b, err, sizeof(err)) == CPS_OK) !=
	    (rc == CPS_OK))
		fail_msg("%s: only one of the states' unified events encodes: %s", after, err);
	if (rc == CPS_OK && (a.len != b.len || memcmp(a.data, b.data, a.len))) {
		for (size_t i = 0; i < a.len || i < b.len; i++)
			print_error("%02x/%02x%s", i < a.len ? a.data[i] : 0,
			            i < b.len ? b.data[i] : 0, i % 16 == 15 ? "\n" : " ");
		fail_msg("%s: the typed state's unified event differs from the JSON state's "
		         "(%zu and %zu bytes)",
		         after, a.len, b.len);
	}
	json_decref(ordered.changed_fields);
	json_decref(ordered.prior_platforms);
	cps_buf_release(&a);
	cps_buf_release(&b);
}

/* A copy of ts (cps_tstate_clone) made from a first copy whose arena is
 * then released: the same state, and nothing of it left in the arena it
 * came from (ASan sees a use after free). */
static void clone_same(const struct cps_tstate *ts, const struct cps_key_state *st,
                       const char *after)
{
	struct cps_arena a1, a2;
	struct cps_tstate c1, c2;

	cps_arena_init(&a1, 0);
	cps_arena_init(&a2, 0);
	if (cps_tstate_clone(ts, &a1, &c1) != CPS_OK || cps_tstate_clone(&c1, &a2, &c2) != CPS_OK)
		fail_msg("%s: the typed state has no copy", after);
	cps_arena_release(&a1);
	cps_test_typed_same(&c2, st, after);
	if (cps_arena_used(&a2) > cps_arena_used(ts->arena))
		fail_msg("%s: a copy of the typed state takes more than the state", after);
	cps_arena_release(&a2);
}

/* The typed outcome `to` of ts against the JSON engine's `jo`, and the states. */
static void typed_agrees(struct cps_tstate *ts, const struct cps_key_state *st,
                         const struct cps_toutcome *to, const struct cps_reconcile_outcome *jo,
                         const char *after)
{
	struct cps_reconcile_outcome tj;
	char err[CPS_ERRSTR_SIZE];

	if (cps_toutcome_to_json(ts, to, &tj, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: typed outcome: %s", after, err);
	outcomes_agree(jo, &tj, after);
	cps_test_typed_same(ts, st, after);
	clone_same(ts, st, after);
	events_agree(ts, st, to, jo, after);
	cps_reconcile_outcome_release(&tj);
}

void cps_test_decisions_agree(const struct cps_rules *rules, struct cps_tstate *ts,
                              const struct cps_key_state *st, const char *field,
                              enum cps_resolution how, const char *platform, json_t *value,
                              const char *steward, const char *reason, int64_t conflict_id,
                              int64_t now_ms, const struct cps_reconcile_outcome *jo,
                              const char *after)
{
	const struct cps_rfield *f = cps_rtype_field(ts->rs->root, field);
	struct cps_tbytes v = {0};
	struct cps_toutcome to;
	struct cps_buf buf;
	char err[CPS_ERRSTR_SIZE];

	assert_non_null(f);
	cps_buf_init(&buf, 1 << 20);
	/* the state keeps referring to the value: it lives in the state's arena */
	if (value && how == CPS_RESOLVE_ENTER_VALUE &&
	    cps_tstate_value_from_json(ts, f, value, &buf, &v) != CPS_OK)
		fail_msg("%s: the entered value is not of field '%s''s type", after, field);
	cps_buf_release(&buf);
	if (cps_treconcile_resolve(rules, ts, f->index, how, platform, v, steward, reason,
	                           conflict_id, now_ms, &to, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: typed decision: %s", after, err);
	typed_agrees(ts, st, &to, jo, after);
}

void cps_test_reruns_agree(const struct cps_rules *rules, struct cps_tstate *ts,
                           const struct cps_key_state *st, int64_t now_ms,
                           const struct cps_reconcile_outcome *jo, const char *after)
{
	struct cps_toutcome to;
	char err[CPS_ERRSTR_SIZE];

	if (cps_treconcile_rerun(rules, ts, now_ms, &to, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: typed rerun: %s", after, err);
	typed_agrees(ts, st, &to, jo, after);
}

/* The typed event made from the record's Avro binary (the ingest payload)
 * is the one made from its Avro JSON, field by field (a case's record that
 * lacks a field has no Avro binary: nothing to compare). */
static void events_from_avro_agree(struct cps_tstate *ts, const struct cps_ingest_event *ev,
                                   const struct cps_tevent *from_json, const char *after)
{
	struct cps_tevent from_avro;
	struct cps_buf payload;
	char err[CPS_ERRSTR_SIZE];

	if (ev->op == CPS_OP_DELETE)
		return;
	cps_buf_init(&payload, 0);
	if (cps_record_encode_json(ts->rs, ev->record, &payload, NULL, 0) == CPS_OK) {
		if (cps_tevent_from_avro(ts, ev, payload.data, payload.len, &from_avro, err,
		                         sizeof(err)) != CPS_OK)
			fail_msg("%s: typed event from Avro: %s", after, err);
		for (uint32_t f = 0; f < ts->n_fields; f++)
			if (from_avro.values[f].len != from_json->values[f].len ||
			    memcmp(from_avro.values[f].p, from_json->values[f].p,
			           from_avro.values[f].len))
				fail_msg("%s: field '%s' of the typed event differs from Avro and "
				         "from JSON",
				         after, ts->rs->root->fields[f].name);
	}
	cps_buf_release(&payload);
}

void cps_test_engines_agree(const struct cps_rules *rules, struct cps_tstate *ts,
                            const struct cps_key_state *st, const struct cps_ingest_event *ev,
                            const struct cps_reconcile_outcome *jo, const char *after)
{
	struct cps_tevent tev;
	struct cps_toutcome to;
	char err[CPS_ERRSTR_SIZE];

	if (cps_tevent_from_json(ts, ev, &tev, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: typed event: %s", after, err);
	events_from_avro_agree(ts, ev, &tev, after);
	if (cps_treconcile_apply(rules, ts, &tev, &to, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: typed engine: %s", after, err);
	typed_agrees(ts, st, &to, jo, after);
}
