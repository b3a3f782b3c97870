/*
 * Ingest events to and from Avro (schemas/ingest_event.avsc) in single-object
 * encoding. The payload is the entity record's Avro binary in its current
 * schema (as a source sent it, or encoded from Avro JSON); inside the engine
 * the record is Avro JSON.
 */
#include "model/event.h"

#include "codec/avro_json.h"
#include "codec/codec.h"
#include "codec/record.h"
#include "base/common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct cps_event_codec {
	struct cps_catalog *catalog;
	struct cps_codec *ingest;
	struct cps_codec *entity[CPS_N_ENTITIES];
	struct cps_buf payload;
	/* the payload's typed decoder (writer = current schema), and its arena,
	 * reset per event */
	struct cps_record_schema *typed[CPS_N_ENTITIES];
	struct cps_arena arena;
};

const char *cps_op_name(enum cps_op op)
{
	return op == CPS_OP_DELETE ? "delete" : "upsert";
}

void cps_ingest_event_release(struct cps_ingest_event *ev)
{
	free(ev->key);
	free(ev->source_position);
	json_decref(ev->record);
	free(ev->record_bytes);
	ev->key = ev->source_position = NULL;
	ev->record = NULL;
	ev->record_bytes = NULL;
}

int cps_ingest_key(const char *entity, const char *key, struct cps_buf *out)
{
	/* appends, not printf: this runs for every message */
	if (cps_buf_append(out, entity, strlen(entity)) != 0 || cps_buf_append_byte(out, '/') != 0)
		return -1;
	return cps_buf_append(out, key, strlen(key));
}

void cps_event_codec_free(struct cps_event_codec *ec)
{
	if (!ec)
		return;
	cps_codec_free(ec->ingest);
	for (int i = 0; i < CPS_N_ENTITIES; i++) {
		cps_codec_free(ec->entity[i]);
		cps_record_schema_free(ec->typed[i]);
	}
	cps_buf_release(&ec->payload);
	cps_arena_release(&ec->arena);
	free(ec);
}

int cps_event_codec_new(struct cps_catalog *catalog, struct cps_event_codec **out, char *errstr,
                        size_t errstr_size)
{
	struct cps_event_codec *ec = calloc(1, sizeof(*ec));
	int rc;

	if (!ec)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	ec->catalog = catalog;
	cps_buf_init(&ec->payload, 0);
	cps_arena_init(&ec->arena, 0);
	rc = cps_codec_for_entity(catalog, "ingest_event", &ec->ingest, errstr, errstr_size);
	for (int i = 0; i < CPS_N_ENTITIES && rc == CPS_OK; i++) {
		rc = cps_codec_for_entity(catalog, cps_entities[i], &ec->entity[i], errstr,
		                          errstr_size);
		if (rc == CPS_OK)
			rc = cps_record_schema_new(cps_codec_schema(ec->entity[i]), &ec->typed[i],
			                           errstr, errstr_size);
	}
	if (rc != CPS_OK)
		goto fail;
	*out = ec;
	return CPS_OK;
fail:
	cps_event_codec_free(ec);
	return rc;
}

static int field(avro_value_t *rec, const char *name, avro_value_t *out, char *errstr,
                 size_t errstr_size)
{
	if (avro_value_get_by_name(rec, name, out, NULL) != 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "ingest event schema has no field '%s'", name);
	return CPS_OK;
}

/* Sets an enum field from a lowercase name ("person" → PERSON). */
static int set_enum_upper(avro_value_t *v, const char *lower, char *errstr, size_t errstr_size)
{
	char upper[CPS_NAME_MAX];
	size_t i;
	int idx;

	for (i = 0; lower[i] && i + 1 < sizeof(upper); i++)
		upper[i] = (char)toupper((unsigned char)lower[i]);
	upper[i] = 0;
	idx = avro_schema_enum_get_by_name(avro_value_get_schema(v), upper);
	if (idx < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "unknown symbol '%s' for enum %s", upper,
		                  avro_schema_type_name(avro_value_get_schema(v)));
	avro_value_set_enum(v, idx);
	return CPS_OK;
}

static void get_enum_lower(avro_value_t *v, char *out, size_t size)
{
	int idx = 0;
	const char *sym;
	size_t i;

	avro_value_get_enum(v, &idx);
	sym = avro_schema_enum_get(avro_value_get_schema(v), idx);
	for (i = 0; sym && sym[i] && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)sym[i]);
	out[i] = 0;
}

int cps_ingest_event_encode(struct cps_event_codec *ec, const struct cps_ingest_event *ev,
                            struct cps_buf *out, char *errstr, size_t errstr_size)
{
	avro_value_t *rec = cps_codec_value(ec->ingest), f, branch;
	int ei = cps_entity_index(ev->entity), rc;

	if (ei < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "unknown entity '%s'",
		                  ev->entity);
	avro_value_reset(rec);
	if ((rc = field(rec, "platform", &f, errstr, errstr_size)) ||
	    (rc = set_enum_upper(&f, ev->platform, errstr, errstr_size)))
		return rc;
	if ((rc = field(rec, "entity", &f, errstr, errstr_size)) ||
	    (rc = set_enum_upper(&f, ev->entity, errstr, errstr_size)))
		return rc;
	if ((rc = field(rec, "key", &f, errstr, errstr_size)))
		return rc;
	avro_value_set_string(&f, ev->key);
	if ((rc = field(rec, "operation", &f, errstr, errstr_size)) ||
	    (rc = set_enum_upper(&f, cps_op_name(ev->op), errstr, errstr_size)))
		return rc;
	if ((rc = field(rec, "effective_time", &f, errstr, errstr_size)))
		return rc;
	avro_value_set_long(&f, ev->effective_ms);
	if ((rc = field(rec, "source_time", &f, errstr, errstr_size)))
		return rc;
	avro_value_set_long(&f, ev->source_ms);
	if ((rc = field(rec, "source_position", &f, errstr, errstr_size)))
		return rc;
	avro_value_set_string(&f, ev->source_position ? ev->source_position : "");
	if ((rc = field(rec, "payload_fingerprint", &f, errstr, errstr_size)))
		return rc;
	avro_value_set_long(&f, (int64_t)cps_codec_schema(ec->entity[ei])->fingerprint);
	if ((rc = field(rec, "payload", &f, errstr, errstr_size)))
		return rc;
	if (ev->op == CPS_OP_DELETE || (!ev->record && !ev->payload)) {
		avro_value_set_branch(&f, 0, &branch);
		avro_value_set_null(&branch);
	} else if (ev->payload) {
		avro_value_set_branch(&f, 1, &branch);
		avro_value_set_bytes(&branch, (void *)ev->payload, ev->payload_len);
	} else {
		avro_value_t *payload = cps_codec_value(ec->entity[ei]);

		avro_value_reset(payload);
		rc = cps_value_from_json(ev->record, payload, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
		cps_buf_reset(&ec->payload);
		rc = cps_codec_encode(ec->entity[ei], payload, &ec->payload, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
		avro_value_set_branch(&f, 1, &branch);
		avro_value_set_bytes(&branch, ec->payload.data, ec->payload.len);
	}
	return cps_codec_encode_framed(ec->ingest, CPS_FRAMING_SINGLE_OBJECT, 0, rec, out, errstr,
	                               errstr_size);
}

static char *get_string_dup(avro_value_t *v)
{
	const char *p = NULL;
	size_t size = 0;

	avro_value_get_string(v, &p, &size);
	return strndup(p ? p : "", size ? size - 1 : 0);
}

/* The payload's Avro JSON by the typed decoder (the common case: written
 * with the current schema), or NULL to take the Avro C path. */
static json_t *payload_typed(struct cps_event_codec *ec, int ei, const void *p, size_t n)
{
	struct cps_tval v;
	char why[CPS_ERRSTR_SIZE];
	json_t *record = NULL;

	cps_arena_reset(&ec->arena);
	if (cps_record_decode(ec->typed[ei], p, n, NULL, 0, &ec->arena, &v, why, sizeof(why)) ==
	    CPS_OK)
		record = cps_record_to_json(ec->typed[ei], &v, why, sizeof(why));
	return record;
}

/* Keeps payload p[0..n) (written with the current schema) as the event's
 * record bytes when the typed decoder reads it; 0 when it does not (the
 * Avro C path then decides). */
static int payload_kept(struct cps_event_codec *ec, int ei, const void *p, size_t n,
                        struct cps_ingest_event *out)
{
	struct cps_tval v;

	cps_arena_reset(&ec->arena);
	if (cps_record_decode(ec->typed[ei], p, n, NULL, 0, &ec->arena, &v, NULL, 0) != CPS_OK ||
	    !(out->record_bytes = malloc(n ? n : 1)))
		return 0;
	memcpy(out->record_bytes, p, n);
	out->record_bytes_len = n;
	return 1;
}

int cps_ingest_event_record(struct cps_event_codec *ec, struct cps_ingest_event *ev, char *errstr,
                            size_t errstr_size)
{
	int ei = cps_entity_index(ev->entity);

	if (ev->record || !ev->record_bytes)
		return CPS_OK;
	if (ei < 0 || !(ev->record = payload_typed(ec, ei, ev->record_bytes, ev->record_bytes_len)))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the %s record's bytes do not decode", ev->entity);
	return CPS_OK;
}

static int decode(struct cps_event_codec *ec, const void *buf, size_t len, bool keep_bytes,
                  struct cps_ingest_event *out, char *errstr, size_t errstr_size)
{
	avro_value_t *rec, f, branch;
	int64_t fp = 0;
	int rc, ei, bi = 0;

	memset(out, 0, sizeof(*out));
	rc = cps_codec_decode_framed(ec->ingest, CPS_FRAMING_SINGLE_OBJECT, ec->catalog, NULL, buf,
	                             len, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	rec = cps_codec_value(ec->ingest);
	field(rec, "platform", &f, NULL, 0);
	get_enum_lower(&f, out->platform, sizeof(out->platform));
	field(rec, "entity", &f, NULL, 0);
	get_enum_lower(&f, out->entity, sizeof(out->entity));
	field(rec, "key", &f, NULL, 0);
	out->key = get_string_dup(&f);
	field(rec, "operation", &f, NULL, 0);
	{
		char op[16];

		get_enum_lower(&f, op, sizeof(op));
		out->op = !strcmp(op, "delete") ? CPS_OP_DELETE : CPS_OP_UPSERT;
	}
	field(rec, "effective_time", &f, NULL, 0);
	avro_value_get_long(&f, &out->effective_ms);
	field(rec, "source_time", &f, NULL, 0);
	avro_value_get_long(&f, &out->source_ms);
	field(rec, "source_position", &f, NULL, 0);
	out->source_position = get_string_dup(&f);
	field(rec, "payload_fingerprint", &f, NULL, 0);
	avro_value_get_long(&f, &fp);
	field(rec, "payload", &f, NULL, 0);
	avro_value_get_discriminant(&f, &bi);
	ei = cps_entity_index(out->entity);
	if (ei < 0 || !out->key || !out->source_position) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "ingest event for unknown entity '%s'", out->entity);
		goto fail;
	}
	if (bi == 1) {
		const struct cps_schema *writer =
		    cps_catalog_by_fingerprint(ec->catalog, (uint64_t)fp);
		const void *p = NULL;
		size_t n = 0;

		if (!writer) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "payload schema fingerprint %016llx unknown to the catalog",
			                (unsigned long long)fp);
			goto fail;
		}
		avro_value_get_current_branch(&f, &branch);
		avro_value_get_bytes(&branch, &p, &n);
		if (writer == cps_codec_schema(ec->entity[ei]) && keep_bytes &&
		    payload_kept(ec, ei, p, n, out))
			return CPS_OK;
		out->record =
		    writer == cps_codec_schema(ec->entity[ei]) ? payload_typed(ec, ei, p, n) : NULL;
		if (!out->record) {
			/* another writer (evolution), or bytes the typed decoder refuses:
			 * Avro C decides and words the reason */
			rc = cps_codec_decode(ec->entity[ei], writer, p, n, errstr, errstr_size);
			if (rc != CPS_OK)
				goto fail;
			out->record =
			    cps_value_to_json(cps_codec_value(ec->entity[ei]), errstr, errstr_size);
		}
		if (!out->record) {
			rc = CPS_ERR_INVALID;
			goto fail;
		}
	} else if (out->op == CPS_OP_UPSERT) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "upsert ingest event without a payload");
		goto fail;
	}
	return CPS_OK;
fail:
	cps_ingest_event_release(out);
	return rc;
}

int cps_ingest_event_decode(struct cps_event_codec *ec, const void *buf, size_t len,
                            struct cps_ingest_event *out, char *errstr, size_t errstr_size)
{
	return decode(ec, buf, len, false, out, errstr, errstr_size);
}

int cps_ingest_event_decode_bytes(struct cps_event_codec *ec, const void *buf, size_t len,
                                  struct cps_ingest_event *out, char *errstr, size_t errstr_size)
{
	return decode(ec, buf, len, true, out, errstr, errstr_size);
}
