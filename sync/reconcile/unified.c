/*
 * Unified events (schemas/unified/<entity>_event.avsc) from a key state and
 * a reconcile outcome: as Avro JSON (cps_unified_event_json, the API's and
 * the tests' reference), and framed Avro binary written straight from the
 * state (unified_encode.c). Also the decoder sinks and tests use.
 */
#include "reconcile/unified.h"
#include "reconcile/unified_int.h"
#include "codec/record.h"

#include "codec/avro_json.h"
#include "codec/codec.h"
#include "model/entity.h"
#include "base/common.h"
#include "model/event.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cps_unified {
	struct cps_catalog *catalog;
	enum cps_framing framing;
	struct cps_registry *registry;
	char *topic_prefix;
	struct cps_codec *codec[CPS_N_ENTITIES]; /* <entity>_event, made on first use */
	struct cps_schema *record_schema[CPS_N_ENTITIES];
	/* the <entity>_event schemas compiled for the typed encoder and
	 * decoder, made on first use; the arena of cps_unified_decode's values,
	 * reset per event */
	struct cps_record_schema *typed[CPS_N_ENTITIES];
	struct cps_arena arena;
};

int cps_unified_new(const struct cps_unified_conf *conf, struct cps_unified **out, char *errstr,
                    size_t errstr_size)
{
	struct cps_unified *u;

	*out = NULL;
	if (!conf || !conf->catalog)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "unified events need a schema catalog");
	if (conf->framing == CPS_FRAMING_RAW)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "unified events are framed: confluent or single-object, not raw");
	u = calloc(1, sizeof(*u));
	if (!u)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	u->catalog = conf->catalog;
	u->framing = conf->framing;
	cps_arena_init(&u->arena, 0);
	u->registry = conf->registry;
	u->topic_prefix = strdup(conf->topic_prefix ? conf->topic_prefix : "cpsync.unified.");
	if (!u->topic_prefix) {
		free(u);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	*out = u;
	return CPS_OK;
}

void cps_unified_free(struct cps_unified *u)
{
	if (!u)
		return;
	for (int i = 0; i < CPS_N_ENTITIES; i++) {
		cps_codec_free(u->codec[i]);
		cps_record_schema_free(u->typed[i]);
	}
	cps_arena_release(&u->arena);
	free(u->topic_prefix);
	free(u);
}

/* The codec of <entity>_event and the entity's record schema. */
static int codec_for(struct cps_unified *u, const char *entity, int *idx, char *errstr,
                     size_t errstr_size)
{
	char name[64];
	struct cps_schema *s;
	int i = cps_entity_index(entity), rc;

	if (i < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "unknown entity '%s'",
		                  entity ? entity : "");
	*idx = i;
	if (u->codec[i])
		return CPS_OK;
	snprintf(name, sizeof(name), "%s_event", entity);
	s = cps_catalog_by_entity(u->catalog, name);
	u->record_schema[i] = cps_catalog_by_entity(u->catalog, entity);
	if (!s || !u->record_schema[i])
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "the schema catalog has no '%s' schema", s ? entity : name);
	rc = cps_codec_new(s, NULL, &u->codec[i], errstr, errstr_size);
	return rc;
}

int cps_unified_registry_check(const struct cps_unified_conf *conf, char *errstr,
                               size_t errstr_size)
{
	const char *prefix = conf->topic_prefix ? conf->topic_prefix : "cpsync.unified.";
	char name[64], subject[256];
	int32_t id;
	int rc;

	if (!conf->registry || conf->framing != CPS_FRAMING_CONFLUENT)
		return CPS_OK;
	for (int i = 0; i < CPS_N_ENTITIES; i++) {
		struct cps_schema *s;

		snprintf(name, sizeof(name), "%s_event", cps_entities[i]);
		s = cps_catalog_by_entity(conf->catalog, name);
		if (!s)
			continue; /* cps_unified_encode says so when it is needed */
		snprintf(subject, sizeof(subject), "%s%s-value", prefix, cps_entities[i]);
		rc = cps_registry_check_compatible(conf->registry, subject, s, errstr, errstr_size);
		if (rc == CPS_OK && cps_registry_lookup_only(conf->registry))
			rc = cps_registry_id_for(conf->registry, subject, s, &id, errstr,
			                         errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

/* {"<branch>": v} (a union branch in Avro JSON); takes v. json_pack would
 * parse a format per call: this runs for every field of every event. */
static json_t *branch(const char *name, json_t *v)
{
	json_t *o = json_object();

	if (o && v && json_object_set_new_nocheck(o, name, v) == 0)
		return o;
	json_decref(o);
	json_decref(v);
	return NULL;
}

static json_t *opt_string(json_t *j)
{
	return json_is_string(j) ? branch("string", json_incref(j)) : json_null();
}

static json_t *opt_long(json_t *j)
{
	return json_is_integer(j) ? branch("long", json_incref(j)) : json_null();
}

/* The cpsync.Platform symbol of a platform name: "city" -> "CITY". */
static json_t *platform_symbol(const char *name)
{
	char up[CPS_NAME_MAX];
	size_t k;

	for (k = 0; name[k] && k + 1 < sizeof(up); k++)
		up[k] = (char)toupper((unsigned char)name[k]);
	up[k] = 0;
	return json_string(up);
}

/* What the sinks' no-echo rule needs (sink_runner.h), from the outcome of
 * the change: for an UPSERT its changed fields, for a DELETE the platforms
 * of the previous version's provenance; [] for the other, and for both
 * without an outcome (a re-publish from the stored record). Sets *changed
 * and *prior (new references), or returns -1. */
static int echo_facts(const struct cps_reconcile_outcome *o, int deleted, json_t **changed,
                      json_t **prior)
{
	json_t *from = o && o->changed ? (deleted ? o->prior_platforms : o->changed_fields) : NULL;
	json_t *v;
	size_t i;
	int bad = 0;

	*changed = json_array();
	*prior = json_array();
	json_array_foreach (from, i, v) {
		if (!json_is_string(v))
			continue;
		if (deleted)
			bad |= json_array_append_new(*prior, platform_symbol(json_string_value(v)));
		else
			bad |= json_array_append(*changed, v);
	}
	if (bad || !*changed || !*prior) {
		json_decref(*changed);
		json_decref(*prior);
		return -1;
	}
	return 0;
}

/* One cpsync.FieldProvenance from the key state's provenance entry
 * (reconcile.h). The platform, position and times are those of the fact the
 * value came from, for a rule and for a steward's decision alike: a steward
 * who took a platform's value names that platform; only an entered value has
 * none (its times are the decision time). */
static json_t *field_provenance(const char *field, json_t *p)
{
	json_t *steward = json_object_get(p, "steward");
	json_t *platform = json_object_get(p, "platform");
	json_t *decided = json_object_get(p, "decided_at");
	json_t *eff = json_object_get(p, "eff"), *src = json_object_get(p, "src");
	json_t *rule = json_object_get(p, "rule");
	json_t *plat, *fp = json_object();
	int64_t eff_ms, src_ms;
	int bad = !fp;

	if (json_is_string(platform))
		plat = branch("cpsync.Platform", platform_symbol(json_string_value(platform)));
	else
		plat = json_null();
	eff_ms = json_is_integer(eff)       ? json_integer_value(eff)
	         : json_is_integer(decided) ? json_integer_value(decided)
	                                    : 0;
	src_ms = json_is_integer(src) ? json_integer_value(src) : eff_ms;
	struct {
		const char *key;
		json_t *value;
	} set[] = {
	    {"field", json_string(field)},
	    {"platform", plat},
	    {"source_position",
	     json_is_string(platform) ? opt_string(json_object_get(p, "pos")) : json_null()},
	    {"effective_time", json_integer((json_int_t)eff_ms)},
	    {"source_time", json_integer((json_int_t)src_ms)},
	    {"rule", json_string(json_is_string(steward) ? "steward"
	                         : json_is_string(rule)  ? json_string_value(rule)
	                                                 : "precedence")},
	    {"rule_version", json_integer(json_integer_value(json_object_get(p, "rule_version")))},
	    {"conflict_id", opt_long(json_object_get(p, "conflict_id"))},
	    {"steward", opt_string(steward)},
	    {"decided_at", opt_long(decided)},
	    {"reason", opt_string(json_object_get(p, "reason"))},
	    {"rule_case", opt_string(json_is_string(steward) ? NULL : json_object_get(p, "case"))},
	};
	for (size_t k = 0; k < CPS_ARRAY_SIZE(set); k++) {
		if (fp) /* takes the value, on failure too */
			bad |= json_object_set_new_nocheck(fp, set[k].key, set[k].value) != 0;
		else
			json_decref(set[k].value);
	}
	if (bad) {
		json_decref(fp);
		return NULL;
	}
	return fp;
}

json_t *cps_unified_event_json(struct cps_unified *u, const struct cps_key_state *st,
                               const struct cps_reconcile_outcome *o, int64_t event_time_ms,
                               char *errstr, size_t errstr_size)
{
	char upper[CPS_NAME_MAX];
	json_t *ev = NULL, *prov, *rec, *fields, *changed, *prior;
	int deleted, i;
	size_t k;

	if (codec_for(u, st->entity, &i, errstr, errstr_size) != CPS_OK)
		return NULL;
	for (k = 0; st->entity[k] && k + 1 < sizeof(upper); k++)
		upper[k] = (char)toupper((unsigned char)st->entity[k]);
	upper[k] = 0;
	deleted =
	    (o && o->changed ? o->op == CPS_OP_DELETE : st->deleted) || !json_is_object(st->record);
	prov = json_array();
	fields = json_object_get(u->record_schema[i]->json, "fields");
	if (!deleted) {
		size_t fi;
		json_t *f;

		json_array_foreach (fields, fi, f) {
			const char *name = json_string_value(json_object_get(f, "name"));
			json_t *v = name ? json_object_get(st->record, name) : NULL;
			json_t *p = name ? json_object_get(st->provenance, name) : NULL;

			if (!v || json_is_null(v) || !json_is_object(p))
				continue;
			json_array_append_new(prov, field_provenance(name, p));
		}
		rec = json_pack("{s:O}", u->record_schema[i]->name, st->record);
	} else {
		rec = json_null();
	}
	if (echo_facts(o, deleted, &changed, &prior) != 0)
		changed = prior = NULL; /* json_pack fails on NULL and frees the rest */
	ev = json_pack("{s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:o, s:o}", "entity", upper, "key",
	               st->key ? st->key : "", "version",
	               (json_int_t)(o && o->changed ? o->version : st->version), "operation",
	               deleted ? "DELETE" : "UPSERT", "event_time", (json_int_t)event_time_ms,
	               "record", rec, "provenance", prov, "changed_fields", changed,
	               "prior_platforms", prior);
	if (!ev)
		cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "cannot build the unified %s event",
		           st->entity);
	return ev;
}

static int typed_schema(struct cps_unified *u, int i, char *errstr, size_t errstr_size)
{
	if (u->typed[i])
		return CPS_OK;
	return cps_record_schema_new(cps_codec_schema(u->codec[i]), &u->typed[i], errstr,
	                             errstr_size);
}

/* Appends the framed event of `src` (entity `entity`, its symbol filled in
 * here). */
static int encode_framed(struct cps_unified *u, const char *entity, struct cps_unified_source *src,
                         struct cps_buf *out, char *errstr, size_t errstr_size)
{
	char upper[CPS_NAME_MAX];
	struct cps_schema *s;
	int32_t id = 0;
	size_t k;
	int rc, i;

	if (codec_for(u, entity, &i, errstr, errstr_size) != CPS_OK)
		return CPS_ERR_FATAL;
	for (k = 0; entity[k] && k + 1 < sizeof(upper); k++)
		upper[k] = (char)toupper((unsigned char)entity[k]);
	upper[k] = 0;
	src->entity_symbol = upper;
	s = cps_codec_schema(u->codec[i]);
	if (u->framing == CPS_FRAMING_CONFLUENT) {
		if (u->registry) {
			char subject[256];

			snprintf(subject, sizeof(subject), "%s%s-value", u->topic_prefix, entity);
			rc = cps_registry_id_for(u->registry, subject, s, &id, errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
		} else {
			id = s->id;
		}
		if (id <= 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "no registry-free id for %s (schemas/schema-ids.json)",
			                  s->name);
	}
	rc = typed_schema(u, i, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (cps_frame_write_header(u->framing, id, s->fingerprint, out) != 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "cannot write the %s header",
		                  cps_framing_name(u->framing));
	/* straight from the state to Avro binary: no Avro JSON event per version */
	return cps_unified_encode_direct(u->typed[i]->root, src, out, errstr, errstr_size);
}

int cps_unified_encode(struct cps_unified *u, const struct cps_key_state *st,
                       const struct cps_reconcile_outcome *o, int64_t event_time_ms,
                       struct cps_buf *out, char *errstr, size_t errstr_size)
{
	struct cps_unified_source src = {.st = st, .o = o, .event_time_ms = event_time_ms};

	src.deleted =
	    (o && o->changed ? o->op == CPS_OP_DELETE : st->deleted) || !json_is_object(st->record);
	return encode_framed(u, st->entity, &src, out, errstr, errstr_size);
}

int cps_unified_encode_typed(struct cps_unified *u, const struct cps_tstate *ts,
                             const struct cps_toutcome *to, int64_t event_time_ms,
                             struct cps_buf *out, char *errstr, size_t errstr_size)
{
	struct cps_unified_source src = {.ts = ts, .to = to, .event_time_ms = event_time_ms};

	src.deleted =
	    (to && to->changed ? to->op == CPS_OP_DELETE : ts->deleted) || !ts->has_record;
	return encode_framed(u, ts->entity, &src, out, errstr, errstr_size);
}

/* The framing the bytes carry, or -1. */
static int framing_of(const void *buf, size_t len)
{
	const uint8_t *b = buf;

	if (len >= 1 && b[0] == 0x00)
		return CPS_FRAMING_CONFLUENT;
	if (len >= 2 && b[0] == 0xC3 && b[1] == 0x01)
		return CPS_FRAMING_SINGLE_OBJECT;
	return -1;
}

/* The event in typed values by the typed decoder when its frame names the
 * current <entity>_event schema (what cpsync itself publishes): nonzero;
 * zero otherwise: then Avro C decides and words any reason. */
static int decode_current(struct cps_unified *u, int i, enum cps_framing framing, const void *buf,
                          size_t len, struct cps_arena *arena, struct cps_tval *out)
{
	const struct cps_schema *reader = cps_codec_schema(u->codec[i]), *writer;
	struct cps_schema *found = NULL;
	struct cps_frame f;
	char why[CPS_ERRSTR_SIZE];

	if (cps_frame_parse(framing, buf, len, &f, why, sizeof(why)) != CPS_OK)
		return 0;
	if (framing == CPS_FRAMING_SINGLE_OBJECT)
		writer = cps_catalog_by_fingerprint(u->catalog, f.fingerprint);
	else if (!u->registry)
		writer = cps_catalog_by_id(u->catalog, f.schema_id);
	else if (cps_registry_schema_by_id(u->registry, f.schema_id, &found, why, sizeof(why)) ==
	         CPS_OK)
		writer = found; /* cached, or the catalog in registry-free mode */
	else
		return 0;
	return writer == reader && typed_schema(u, i, why, sizeof(why)) == CPS_OK &&
	       cps_record_decode(u->typed[i], f.body, f.body_len, NULL, 0, arena, out, why,
	                         sizeof(why)) == CPS_OK;
}

/* An event of another writer schema: Avro C resolves it to the current
 * one, which is written and read again as the current event is. Rare
 * (events of an older cpsync), so the round trip does not matter. */
static int decode_resolved(struct cps_unified *u, int i, enum cps_framing framing, const void *buf,
                           size_t len, struct cps_arena *arena, struct cps_tval *out, char *errstr,
                           size_t errstr_size)
{
	struct cps_buf b;
	json_t *j;
	int rc;

	rc = cps_codec_decode_framed(u->codec[i], framing, u->catalog, u->registry, buf, len,
	                             errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	j = cps_value_to_json(cps_codec_value(u->codec[i]), errstr, errstr_size);
	if (!j)
		return CPS_ERR_INVALID;
	rc = typed_schema(u, i, errstr, errstr_size);
	cps_buf_init(&b, 0);
	if (rc == CPS_OK)
		rc = cps_record_encode_json(u->typed[i], j, &b, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_record_decode(u->typed[i], b.data, b.len, NULL, CPS_RECORD_COPY_BYTES,
		                       arena, out, errstr, errstr_size);
	json_decref(j);
	cps_buf_release(&b);
	return rc;
}

int cps_unified_decode_typed(struct cps_unified *u, const char *entity, const void *buf, size_t len,
                             struct cps_arena *arena, const struct cps_rtype **type,
                             struct cps_tval *out, char *errstr, size_t errstr_size)
{
	int rc, i, framing = framing_of(buf, len);

	*type = NULL;
	rc = codec_for(u, entity, &i, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (framing < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "unified event is neither confluent nor single-object framed");
	if (!decode_current(u, i, (enum cps_framing)framing, buf, len, arena, out)) {
		rc = decode_resolved(u, i, (enum cps_framing)framing, buf, len, arena, out, errstr,
		                     errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	*type = u->typed[i]->root;
	return CPS_OK;
}

int cps_unified_decode(struct cps_unified *u, const char *entity, const void *buf, size_t len,
                       json_t **out, char *errstr, size_t errstr_size)
{
	const struct cps_rtype *type;
	struct cps_tval v;
	int rc;

	*out = NULL;
	cps_arena_reset(&u->arena);
	rc = cps_unified_decode_typed(u, entity, buf, len, &u->arena, &type, &v, errstr,
	                              errstr_size);
	if (rc != CPS_OK)
		return rc;
	*out = cps_record_to_json_at(type, &v, errstr, errstr_size);
	return *out ? CPS_OK : CPS_ERR_INVALID;
}
