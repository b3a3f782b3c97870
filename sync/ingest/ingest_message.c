/*
 * One source message through the ingest path: the entity it maps to, its
 * headers (effective time, writer schema), decoding — typed, with the body
 * kept as the payload, when written with the current schema; else with Avro
 * C, resolved and re-encoded — validation and its key, then an IngestEvent
 * produced to the ingest topic — or a dead letter with a specific reason.
 */
#include "ingest/ingest_int.h"
#include "codec/avro_json.h"
#include "base/log.h"
#include "base/pii.h"
#include "model/entity.h"
#include "model/validate.h"

#include <stdbool.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX          1024 /* bytes of a tombstone's key */
#define HEADER_EFFECTIVE "effective_time"

static int dead_letter(struct cps_ingest *r, const struct cps_source_msg *m, const char *entity,
                       const char *reason, int64_t now, char *errstr, size_t errstr_size)
{
	cps_log_debug(CPS_DBG_CONNECTOR, FACILITY, "dead letter at '%s': %s", m->origin, reason);
	return cps_deadletters_add(&r->dead, r->platform, m, entity, reason, now, errstr,
	                           errstr_size);
}

/* The "effective_time" header: *out = its value, -1 when absent; -1 return
 * when present but not a decimal number of milliseconds. */
static int header_effective_time(const struct cps_source_msg *m, int64_t *out)
{
	*out = -1;
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct cps_header *h = &m->headers[i];
		const char *p = h->value;
		int64_t v = 0;

		if (strcmp(h->name, HEADER_EFFECTIVE) != 0)
			continue;
		if (!p || h->value_len == 0 || h->value_len > 18)
			return -1;
		for (size_t j = 0; j < h->value_len; j++) {
			if (!isdigit((unsigned char)p[j]))
				return -1;
			v = v * 10 + (p[j] - '0');
		}
		*out = v;
	}
	return 0;
}

/* The "cpsync-writer-fingerprint" header (16 hex digits of the CRC-64-AVRO
 * fingerprint; the files source sets it from a container file's schema): the
 * raw body was written with that catalog schema. *out = NULL when absent;
 * -1 when present but malformed or unknown to the catalog. */
static int header_writer_schema(struct cps_ingest *r, const struct cps_source_msg *m,
                                struct cps_schema **out)
{
	uint64_t fp;
	int found = cps_header_fingerprint(m->headers, m->n_headers, CPS_HEADER_WRITER_FP, &fp);

	*out = NULL;
	if (found <= 0)
		return found;
	*out = cps_catalog_by_fingerprint(r->catalog, fp);
	return *out ? 0 : -1;
}

/* The entity's business time field, when it has one. */
static const char *business_time_field(const char *entity)
{
	return !strcmp(entity, "verification") ? "verified_at"
	       : !strcmp(entity, "alert")      ? "raised_at"
	                                       : NULL;
}

/* The entity's business time, when it has one and it is set. */
static int64_t business_time(const char *entity, json_t *record)
{
	const char *field = business_time_field(entity);
	json_t *v = field ? json_object_get(record, field) : NULL;

	if (json_is_object(v) && json_object_size(v) == 1)
		v = json_object_get(v, "long");
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* The same from a typed record: a JSON integer is an int or a long, or a
 * union's long ({"long": n}). */
static int64_t business_time_typed(const char *entity, const struct cps_rtype *rt,
                                   const struct cps_tval *rec)
{
	const char *field = business_time_field(entity);
	const struct cps_rfield *f = field ? cps_rtype_field(rt, field) : NULL;
	const struct cps_rtype *t;
	const struct cps_tval *v;

	if (!f)
		return -1;
	t = f->type;
	v = &rec->u.list.v[f->index];
	if (t->kind == CPS_RK_UNION)
		return t->branches[v->branch]->kind == CPS_RK_LONG ? v->u.i : -1;
	return t->kind == CPS_RK_INT || t->kind == CPS_RK_LONG ? v->u.i : -1;
}

/* The key of a tombstone: text without NUL; a person's key must also be a
 * valid national ID. NULL with `why` set otherwise. */
static char *tombstone_key(const char *entity, const struct cps_source_msg *m, char *why,
                           size_t why_size)
{
	char reason[CPS_ERRSTR_SIZE];
	char *key;

	if (m->key_len > KEY_MAX || memchr(m->key, '\0', m->key_len)) {
		snprintf(why, why_size, "tombstone key is longer than %d bytes or contains NUL",
		         KEY_MAX);
		return NULL;
	}
	key = strndup(m->key, m->key_len);
	if (!key) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	if (!strcmp(entity, "person") &&
	    cps_national_id_validate(key, reason, sizeof(reason)) != CPS_OK) {
		snprintf(why, why_size, "tombstone key of person: %s", reason);
		free(key);
		return NULL;
	}
	return key;
}

/* A decoded upsert: its key, business time and either its Avro JSON (the
 * JSON way) or its bytes as received (the typed way). */
struct decoded {
	char *key;           /* allocated; NULL: not decoded */
	json_t *record;      /* new reference, or NULL */
	const uint8_t *body; /* into the message: the record in the reader schema */
	size_t body_len;
	int64_t business_ms; /* -1: none */
};

/* The body of a framed message when its frame names the reader schema of
 * entity `ei` (what frame_writer in codec.c decides), else NULL: the JSON way
 * then decodes it, resolves an older writer and words any error. */
static const uint8_t *frame_body_of_reader(struct cps_ingest *r, int ei,
                                           const struct cps_source_msg *m, size_t *len)
{
	const struct cps_schema *reader = cps_codec_schema(r->codec[ei]);
	size_t max = r->has_limits ? r->limits.max_message_bytes : 0;
	struct cps_schema *s = NULL;
	struct cps_guard_limits def;
	struct cps_frame f;
	char ignored[CPS_ERRSTR_SIZE];

	if (!max) {
		cps_guard_limits_default(&def);
		max = def.max_message_bytes;
	}
	if (m->value_len > max ||
	    cps_frame_parse(r->framing, m->value, m->value_len, &f, ignored, sizeof(ignored)))
		return NULL;
	*len = f.body_len;
	switch (f.framing) {
	case CPS_FRAMING_RAW:
		return f.body;
	case CPS_FRAMING_SINGLE_OBJECT:
		return f.fingerprint == reader->fingerprint ? f.body : NULL;
	case CPS_FRAMING_CONFLUENT:
		if (!r->registry)
			return reader->id && f.schema_id == reader->id ? f.body : NULL;
		if (cps_registry_schema_by_id(r->registry, f.schema_id, &s, ignored,
		                              sizeof(ignored)) != CPS_OK)
			return NULL;
		return s->fingerprint == reader->fingerprint ? f.body : NULL;
	}
	return NULL;
}

/* The JSON way: Avro C decodes (resolving an older writer), the record
 * becomes Avro JSON, which is validated and keyed. `writer` is the header's
 * writer schema or NULL (the framing says). */
static int decode_json(struct cps_ingest *r, const struct cps_source_msg *m, const char *entity,
                       int ei, const struct cps_schema *writer, int64_t now, struct decoded *out,
                       char *errstr, size_t errstr_size)
{
	char why[CPS_ERRSTR_SIZE], decode_err[CPS_ERRSTR_SIZE];
	const char *key_field;
	json_t *record;
	int rc;

	if (writer)
		rc = cps_codec_decode(r->codec[ei],
		                      writer == cps_codec_schema(r->codec[ei]) ? NULL : writer,
		                      m->value, m->value_len, decode_err, sizeof(decode_err));
	else
		rc =
		    cps_codec_decode_framed(r->codec[ei], r->framing, r->catalog, r->registry,
		                            m->value, m->value_len, decode_err, sizeof(decode_err));
	if (rc == CPS_ERR_RETRIABLE || rc == CPS_ERR_FATAL)
		return cps_seterr(rc, errstr, errstr_size, "decoding a %s record: %s", entity,
		                  decode_err);
	if (rc != CPS_OK) {
		snprintf(why, sizeof(why), "undecodable %s record: %s", entity, decode_err);
		return dead_letter(r, m, entity, why, now, errstr, errstr_size);
	}
	record = cps_value_to_json(cps_codec_value(r->codec[ei]), decode_err, sizeof(decode_err));
	if (!record) {
		snprintf(why, sizeof(why), "%s record has no JSON form: %s", entity, decode_err);
		return dead_letter(r, m, entity, why, now, errstr, errstr_size);
	}
	if (cps_validate_record(entity, record, why, sizeof(why)) != CPS_OK) {
		json_decref(record);
		return dead_letter(r, m, entity, why, now, errstr, errstr_size);
	}
	key_field = cps_entity_key_field(entity);
	if (!json_is_string(json_object_get(record, key_field))) {
		json_decref(record);
		snprintf(why, sizeof(why), "key field '%s.%s' is not a plain string", entity,
		         key_field);
		return dead_letter(r, m, entity, why, now, errstr, errstr_size);
	}
	out->key = strdup(json_string_value(json_object_get(record, key_field)));
	if (!out->key) {
		json_decref(record);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	out->record = record;
	out->business_ms = business_time(entity, record);
	return CPS_OK;
}

/* The typed way, for a body written with the reader schema: the typed
 * decoder guards and decodes it into the runner's arena, the checks read
 * the typed record, and the body itself becomes the payload. Reasons as the
 * JSON way's; bytes the typed decoder refuses and records the typed checks
 * do not model go the JSON way. */
static int decode_typed(struct cps_ingest *r, const struct cps_source_msg *m, const char *entity,
                        int ei, const struct cps_schema *writer, const uint8_t *body,
                        size_t body_len, int64_t now, struct decoded *out, char *errstr,
                        size_t errstr_size)
{
	const struct cps_record_schema *rs = r->rschema[ei];
	char why[CPS_ERRSTR_SIZE], decode_err[CPS_ERRSTR_SIZE];
	struct cps_typed_key key;
	struct cps_tval rec;
	int rc;

	cps_arena_reset(&r->arena);
	rc = cps_record_decode(rs, body, body_len, r->has_limits ? &r->limits : NULL, 0, &r->arena,
	                       &rec, decode_err, sizeof(decode_err));
	if (rc == CPS_ERR_RETRIABLE || rc == CPS_ERR_FATAL)
		return cps_seterr(rc, errstr, errstr_size, "decoding a %s record: %s", entity,
		                  decode_err);
	/* the typed decoder is stricter than the guard on decimals (at least one
	 * byte, 64 bits): whatever it refuses, the JSON way judges and words */
	if (rc != CPS_OK)
		return decode_json(r, m, entity, ei, writer, now, out, errstr, errstr_size);
	if (cps_typed_json_form_check(rs, &rec, decode_err, sizeof(decode_err)) != CPS_OK) {
		snprintf(why, sizeof(why), "%s record has no JSON form: %s", entity, decode_err);
		return dead_letter(r, m, entity, why, now, errstr, errstr_size);
	}
	rc = cps_validate_typed(entity, rs->root, &rec, &key, why, sizeof(why));
	if (rc == CPS_VALIDATE_UNMODELLED)
		return decode_json(r, m, entity, ei, writer, now, out, errstr, errstr_size);
	if (rc == CPS_ERR_FATAL)
		return cps_seterr(rc, errstr, errstr_size, "validating a %s record: %s", entity,
		                  why);
	if (rc != CPS_OK)
		return dead_letter(r, m, entity, why, now, errstr, errstr_size);
	if (!key.plain) {
		snprintf(why, sizeof(why), "key field '%s.%s' is not a plain string", entity,
		         cps_entity_key_field(entity));
		return dead_letter(r, m, entity, why, now, errstr, errstr_size);
	}
	out->key = strndup(key.ptr, key.len);
	if (!out->key)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	out->body = body;
	out->body_len = body_len;
	out->business_ms = business_time_typed(entity, rs->root, &rec);
	return CPS_OK;
}

/* Decodes, validates and keys the record of a non-empty message, the typed
 * way when the body was written with the reader schema, else the JSON way.
 * out->key is set on success; it stays NULL when the message became a dead
 * letter (the return is then dead_letter's) or on an error return (the
 * batch failed). */
static int decode_record(struct cps_ingest *r, const struct cps_source_msg *m, const char *entity,
                         int ei, int64_t now, struct decoded *out, char *errstr, size_t errstr_size)
{
	const struct cps_schema *reader = cps_codec_schema(r->codec[ei]);
	struct cps_schema *writer = NULL;
	const uint8_t *body = NULL;
	size_t body_len = 0;
	char why[CPS_ERRSTR_SIZE];

	memset(out, 0, sizeof(*out));
	out->business_ms = -1;
	if (header_writer_schema(r, m, &writer) < 0) {
		snprintf(why, sizeof(why), "header '%s' names no writer schema of the catalog",
		         CPS_HEADER_WRITER_FP);
		return dead_letter(r, m, entity, why, now, errstr, errstr_size);
	}
	if (!r->json_path && r->rschema[ei]) {
		if (writer && writer->fingerprint == reader->fingerprint)
			body = m->value, body_len = m->value_len;
		else if (!writer)
			body = frame_body_of_reader(r, ei, m, &body_len);
	}
	if (body)
		return decode_typed(r, m, entity, ei, writer, body, body_len, now, out, errstr,
		                    errstr_size);
	return decode_json(r, m, entity, ei, writer, now, out, errstr, errstr_size);
}

int cps_ingest_message_encode(struct cps_ingest *r, const struct cps_source_msg *m, int64_t now,
                              bool *accepted, int64_t *effective_ms, char *errstr,
                              size_t errstr_size)
{
	struct cps_ingest_event ev;
	struct decoded d = {.business_ms = -1};
	char why[CPS_ERRSTR_SIZE];
	const char *entity;
	int64_t effective;
	int ei = m->entity ? cps_entity_index(m->entity) : -1;
	int rc;

	*accepted = false;
	if (ei < 0) {
		if (m->entity)
			snprintf(why, sizeof(why), "unknown entity '%s' mapped for stream '%s'",
			         m->entity, m->pos.stream);
		else
			snprintf(why, sizeof(why),
			         "unknown entity: stream '%s' has no entity mapping",
			         m->pos.stream);
		return dead_letter(r, m, NULL, why, now, errstr, errstr_size);
	}
	entity = cps_entities[ei];
	if (m->refused) /* the source says why it cannot be a record */
		return dead_letter(r, m, entity, m->refused, now, errstr, errstr_size);
	if (header_effective_time(m, &effective) < 0)
		return dead_letter(
		    r, m, entity, "header 'effective_time' is not a decimal number of milliseconds",
		    now, errstr, errstr_size);
	if (effective < 0 && m->has_effective)
		effective = m->effective_ms;
	memset(&ev, 0, sizeof(ev));
	/* only a null value is a delete: an empty one is a sender's mistake (a
	 * connector that cannot map a row refuses it, saying why) */
	if (m->value && m->value_len == 0)
		return dead_letter(
		    r, m, entity,
		    "empty value: neither a record nor a delete (a delete has no value)", now,
		    errstr, errstr_size);
	if (!m->value) {
		if (!m->key || m->key_len == 0)
			return dead_letter(r, m, entity, "empty message without a key", now, errstr,
			                   errstr_size);
		d.key = tombstone_key(entity, m, why, sizeof(why));
		if (!d.key)
			return dead_letter(r, m, entity, why, now, errstr, errstr_size);
		ev.op = CPS_OP_DELETE;
	} else {
		rc = decode_record(r, m, entity, ei, now, &d, errstr, errstr_size);
		if (!d.key)
			return rc;
		ev.op = CPS_OP_UPSERT;
		if (effective < 0)
			effective = d.business_ms;
	}
	snprintf(ev.platform, sizeof(ev.platform), "%s", r->platform);
	snprintf(ev.entity, sizeof(ev.entity), "%s", entity);
	ev.key = d.key;
	ev.record = d.record;
	ev.payload = d.body;
	ev.payload_len = d.body_len;
	ev.source_ms = m->source_ts_ms >= 0 ? m->source_ts_ms : now;
	ev.effective_ms = effective >= 0 ? effective : ev.source_ms;
	ev.source_position = (char *)m->origin; /* borrowed: not released below */
	cps_buf_reset(&r->value);
	cps_buf_reset(&r->key);
	rc = cps_ingest_event_encode(r->events, &ev, &r->value, why, sizeof(why));
	if (rc == CPS_ERR_INVALID) {
		char reason[CPS_ERRSTR_SIZE];

		snprintf(reason, sizeof(reason), "cannot encode the ingest event: %s", why);
		rc = dead_letter(r, m, entity, reason, now, errstr, errstr_size);
		goto out;
	}
	if (rc != CPS_OK) {
		rc = cps_seterr(rc, errstr, errstr_size, "encoding an ingest event: %s", why);
		goto out;
	}
	if (cps_ingest_key(entity, d.key, &r->key) != 0) {
		rc = dead_letter(r, m, entity, "key is too long for the ingest topic", now, errstr,
		                 errstr_size);
		goto out;
	}
	*accepted = true;
	*effective_ms = ev.effective_ms;
out:
	free(d.key);
	json_decref(d.record);
	return rc;
}

/* Turns one message into an event produced to the ingest topic or into a
 * dead letter. An error return means the batch failed (produce, registry,
 * memory): the message is neither accepted nor dead. */
int cps_ingest_message(struct cps_ingest *r, const struct cps_source_msg *m, int64_t now,
                       char *errstr, size_t errstr_size)
{
	int64_t effective = 0;
	bool accepted = false;
	int rc;

	rc = cps_ingest_message_encode(r, m, now, &accepted, &effective, errstr, errstr_size);
	if (rc != CPS_OK || !accepted)
		return rc;
	rc = cps_ingest_produce(r, r->ingest_topic, r->key.data, r->key.len, r->value.data,
	                        r->value.len, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	r->batch_accepted++;
	if (effective > r->batch_newest_effective)
		r->batch_newest_effective = effective;
	return CPS_OK;
}
