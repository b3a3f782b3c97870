/*
 * The record a sink receives for one unified event: the no-echo rule decided
 * from the event itself (its changed_fields and prior_platforms), the
 * allow-list applied, the value encoded for the target's format, and the
 * cpsync-* headers. Also the sink's store connection (guard, dead letters).
 */
#include "sink/sink_runner_int.h"
#include "base/log.h"
#include "base/pii.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cps_sink_store(struct cps_sink_runner *r, char *errstr, size_t errstr_size)
{
	int rc;

	if (r->store)
		return CPS_OK;
	if (!r->store_conninfo)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "sink '%s': no store configured", r->platform);
	rc = cps_store_open(r->store_conninfo, &r->store, errstr, errstr_size);
	if (rc != CPS_OK)
		r->store = NULL;
	return rc;
}

void cps_sink_store_failed(struct cps_sink_runner *r)
{
	cps_store_close(r->store);
	r->store = NULL;
}

/* The schema id a Confluent frame carries: with a registry, the id it holds
 * for the record schema under the subject of the sink's topic
 * ("<topic>-value", TopicNameStrategy; cached by the registry, so one
 * request per schema), as sources and the unified topics resolve theirs;
 * registry-free, the id from schemas/schema-ids.json. */
static int frame_schema_id(struct cps_sink_runner *r, const char *entity, struct cps_schema *schema,
                           int32_t *id, char *errstr, size_t errstr_size)
{
	char key[CPS_NAME_MAX + 32], subject[CPS_STREAM_MAX + 16];
	const char *topic;

	*id = schema->id;
	if (r->framing != CPS_FRAMING_CONFLUENT || !r->registry)
		return CPS_OK;
	snprintf(key, sizeof(key), "entity.%s.topic", entity);
	topic = cps_settings_get(&r->sink_settings, key);
	snprintf(subject, sizeof(subject), "%s-value", topic ? topic : schema->name);
	return cps_registry_id_for(r->registry, subject, schema, id, errstr, errstr_size);
}

/* The value of out record `o` for the sink's format: plain JSON text
 * ("null" for a delete) of the allowed fields, or the Avro record raw or
 * framed (nothing for a delete). */
static int encode_value(struct cps_sink_runner *r, int ei, struct cps_schema *schema,
                        const struct cps_sink_event *ev, struct out_rec *o, char *errstr,
                        size_t errstr_size)
{
	const char *entity = cps_entities[ei];
	char why[CPS_ERRSTR_SIZE];
	int32_t id = 0;
	int rc;

	if (r->format == CPS_SINK_FORMAT_JSON) {
		if (!ev->record) /* a delete */
			return cps_buf_append(&o->value, "null", 4)
			           ? cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory")
			           : CPS_OK;
		rc = cps_sink_plain_text(ev->record_type, ev->record, r->allow[ei], &o->value, why,
		                         sizeof(why));
		if (rc != CPS_OK)
			return cps_seterr(rc, errstr, errstr_size, "%s record to JSON: %s", entity,
			                  why);
	} else if (ev->record) {
		if (r->format == CPS_SINK_FORMAT_FRAMED) {
			/* a registry that cannot answer is trouble, not a poison record */
			rc = frame_schema_id(r, entity, schema, &id, why, sizeof(why));
			if (rc != CPS_OK)
				return cps_seterr(rc == CPS_ERR_FATAL ? rc : CPS_ERR_RETRIABLE,
				                  errstr, errstr_size, "%s schema id: %s", entity,
				                  why);
			if (cps_frame_write_header(r->framing, id, schema->fingerprint, &o->value))
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                  "cannot write the %s header",
				                  cps_framing_name(r->framing));
		}
		/* straight from the event's typed record to Avro binary: the
		 * event's record type is the entity's schema, inlined */
		rc = cps_record_encode_at(ev->record_type, ev->record, &o->value, why, sizeof(why));
		if (rc != CPS_OK)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "encoding a %s record: %s", entity, why);
	} else if (!ev->is_delete) {
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "a %s upsert without a record", entity);
	}
	return CPS_OK;
}

/* Builds out record `o` of one decoded unified event; CPS_OK and *skip set
 * when the event is dropped (counted). */
int cps_sink_build_record(struct cps_sink_runner *r, int ei, const struct cps_sink_event *ev,
                          struct out_rec *o, struct cps_sink_record *rec, bool *skip, char *errstr,
                          size_t errstr_size)
{
	const char *entity = cps_entities[ei];
	struct cps_schema *schema = cps_catalog_by_entity(r->catalog, entity);
	char why[CPS_ERRSTR_SIZE];
	int rc;

	*skip = false;
	if (!schema) {
		drop_add(r, &r->stats.undecodable, CPS_DROP_UNDECODABLE);
		*skip = true;
		return CPS_OK;
	}
	if (cps_sink_is_echo(ev, r->platform)) {
		drop_add(r, &r->stats.echoes, CPS_DROP_ECHO);
		*skip = true;
		return CPS_OK;
	}
	if (ev->is_delete && r->format == CPS_SINK_FORMAT_RAW) {
		*skip = true; /* files cannot say a delete */
		return CPS_OK;
	}
	o->key = cps_arena_strndup(&r->values, ev->key, ev->key_len);
	if (!o->key)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (ev->record && r->format != CPS_SINK_FORMAT_JSON &&
	    cps_sink_allow_avro(ev->record_type, ev->record, r->allow[ei], why, sizeof(why))) {
		char masked[64];

		cps_mask_national_id(o->key, masked, sizeof(masked));
		cps_log_warn(FACILITY, "sink '%s': %s record '%s' v%" PRId64 " not sent: %s",
		             r->platform, entity, masked, ev->version, why);
		drop_add(r, &r->stats.not_allowed, CPS_DROP_NOT_ALLOWED);
		*skip = true;
		return CPS_OK;
	}
	cps_buf_reset(&o->value);
	rc = encode_value(r, ei, schema, ev, o, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	snprintf(o->version, sizeof(o->version), "%" PRId64, ev->version);
	o->v = ev->version;
	o->ei = ei;
	snprintf(o->fp, sizeof(o->fp), "%016" PRIx64, schema->fingerprint);
	o->headers[0] = (struct cps_header){CPS_SINK_HEADER_KEY, o->key, ev->key_len};
	o->headers[1] =
	    (struct cps_header){CPS_SINK_HEADER_VERSION, o->version, strlen(o->version)};
	o->headers[2] =
	    (struct cps_header){CPS_SINK_HEADER_OPERATION, ev->is_delete ? "DELETE" : "UPSERT", 6u};
	o->headers[3] = (struct cps_header){CPS_SINK_HEADER_SCHEMA_FP, o->fp, 16};
	*rec = (struct cps_sink_record){
	    .entity = entity,
	    .origin_platform = CPS_SINK_ORIGIN,
	    .key = o->key,
	    .key_len = ev->key_len,
	    .value = ev->is_delete && r->format == CPS_SINK_FORMAT_FRAMED ? NULL : o->value.data,
	    .value_len = ev->is_delete && r->format == CPS_SINK_FORMAT_FRAMED ? 0 : o->value.len,
	    .headers = o->headers,
	    .n_headers = r->format == CPS_SINK_FORMAT_RAW ? 4 : 3,
	};
	return CPS_OK;
}
