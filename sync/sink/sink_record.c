/*
 * The record a sink receives for one unified event: the no-echo rule decided
 * with record_history from cpsync's store, the allow-list applied, the value
 * encoded for the target's format, and the cpsync-* headers.
 */
#include "sink/sink_runner_int.h"
#include "codec/avro_json.h"
#include "base/log.h"
#include "base/pii.h"
#include "store/pgerr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_SCHEMA_FP "cpsync-schema-fingerprint"

/* record_history of (entity, key, version): changed_fields and the previous
 * version's provenance, new references or NULL. CPS_OK when the row is
 * missing too (both NULL). */
static int history_lookup(struct cps_sink_runner *r, const char *entity, const char *key,
                          int64_t version, json_t **changed, json_t **prev, char *errstr,
                          size_t errstr_size)
{
	static const char sql[] =
	    "SELECT array_to_json(h.changed_fields)::text, p.provenance::text "
	    "FROM cpsync.record_history h LEFT JOIN cpsync.record_history p "
	    "ON p.entity = h.entity AND p.key = h.key AND p.version = h.version - 1 "
	    "WHERE h.entity = $1 AND h.key = $2 AND h.version = $3";
	char vtext[24];
	const char *params[3] = {entity, key, vtext};
	PGresult *res;
	int rc = CPS_OK;

	*changed = *prev = NULL;
	if (!r->store_conninfo)
		return CPS_OK;
	if (!r->store || PQstatus(r->store) != CONNECTION_OK) {
		PQfinish(r->store);
		r->store = PQconnectdb(r->store_conninfo);
		if (PQstatus(r->store) != CONNECTION_OK) {
			char msg[256];

			cps_pg_conn_message(r->store, msg, sizeof(msg));
			PQfinish(r->store);
			r->store = NULL;
			return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                  "connecting to the store failed: %s", msg);
		}
	}
	snprintf(vtext, sizeof(vtext), "%" PRId64, version);
	res = PQexecParams(r->store, sql, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		msg[strcspn(msg, "\n")] = '\0';
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "reading record_history failed: %s", msg);
	} else if (PQntuples(res) == 1) {
		if (!PQgetisnull(res, 0, 0))
			*changed = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		if (!PQgetisnull(res, 0, 1))
			*prev = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	}
	PQclear(res);
	return rc;
}
/* The value of out record `o` for the sink's format: plain JSON text
 * ("null" for a delete), or the Avro record raw or framed (nothing for a
 * delete). */
static int encode_value(struct cps_sink_runner *r, int ei, struct cps_schema *schema,
                        json_t *record, bool is_delete, struct out_rec *o, char *errstr,
                        size_t errstr_size)
{
	const char *entity = cps_entities[ei];
	char why[CPS_ERRSTR_SIZE];
	int rc;

	if (r->format == CPS_SINK_FORMAT_JSON) {
		json_t *plain = is_delete ? json_null()
		                          : cps_sink_plain_json(schema->json, schema->json, record,
		                                                why, sizeof(why));
		char *text;

		if (!plain)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "%s record to JSON: %s", entity, why);
		text = json_dumps(plain, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(plain);
		if (!text || cps_buf_append(&o->value, text, strlen(text)) < 0) {
			free(text);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		free(text);
	} else if (!is_delete) {
		struct cps_codec *codec = r->codecs[ei];

		if (!codec) {
			rc = cps_codec_new(schema, NULL, &r->codecs[ei], why, sizeof(why));
			if (rc != CPS_OK)
				return cps_seterr(rc, errstr, errstr_size, "%s codec: %s", entity,
				                  why);
			codec = r->codecs[ei];
		}
		avro_value_reset(cps_codec_value(codec));
		rc = cps_value_from_json(record, cps_codec_value(codec), why, sizeof(why));
		if (rc == CPS_OK)
			rc = r->format == CPS_SINK_FORMAT_RAW
			         ? cps_codec_encode(codec, cps_codec_value(codec), &o->value, why,
			                            sizeof(why))
			         : cps_codec_encode_framed(codec, r->framing, schema->id,
			                                   cps_codec_value(codec), &o->value, why,
			                                   sizeof(why));
		if (rc != CPS_OK)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "encoding a %s record: %s", entity, why);
	}
	return CPS_OK;
}

/* Builds out record `o` of one decoded unified event; CPS_OK and *skip set
 * when the event is dropped (counted). */
int cps_sink_build_record(struct cps_sink_runner *r, int ei, json_t *event, struct out_rec *o,
                          struct cps_sink_record *rec, bool *skip, char *errstr, size_t errstr_size)
{
	const char *entity = cps_entities[ei];
	const char *key = json_string_value(json_object_get(event, "key"));
	const char *op = json_string_value(json_object_get(event, "operation"));
	int64_t version = json_integer_value(json_object_get(event, "version"));
	struct cps_schema *schema = cps_catalog_by_entity(r->catalog, entity);
	json_t *record = json_object_get(event, "record"), *changed = NULL, *prev = NULL;
	bool is_delete = op && !strcmp(op, "DELETE");
	char why[CPS_ERRSTR_SIZE];
	int rc;

	*skip = false;
	if (!key || !op || !schema) {
		stat_add(r, &r->stats.undecodable, 1);
		*skip = true;
		return CPS_OK;
	}
	rc = history_lookup(r, entity, key, version, &changed, &prev, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (cps_sink_is_echo(event, r->platform, changed, prev)) {
		json_decref(changed);
		json_decref(prev);
		stat_add(r, &r->stats.echoes, 1);
		*skip = true;
		return CPS_OK;
	}
	json_decref(changed);
	json_decref(prev);
	if (json_is_object(record) && json_object_size(record) == 1 &&
	    json_is_object(json_object_iter_value(json_object_iter(record))))
		record = json_object_iter_value(json_object_iter(record)); /* union branch */
	if (is_delete && r->format != CPS_SINK_FORMAT_JSON) {
		/* Avro targets: a tombstone (Kafka) has no record; files cannot say it */
		if (r->format == CPS_SINK_FORMAT_RAW) {
			*skip = true;
			return CPS_OK;
		}
	}
	cps_buf_reset(&o->value);
	if (!is_delete && json_is_object(record)) {
		rc =
		    cps_sink_apply_allow(record, schema, r->allow[ei], r->format, why, sizeof(why));
		if (rc != CPS_OK) {
			char masked[64];

			cps_mask_national_id(key, masked, sizeof(masked));
			cps_log_warn(FACILITY,
			             "sink '%s': %s record '%s' v%" PRId64 " not sent: %s",
			             r->platform, entity, masked, version, why);
			stat_add(r, &r->stats.not_allowed, 1);
			*skip = true;
			return CPS_OK;
		}
	}
	rc = encode_value(r, ei, schema, record, is_delete, o, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	snprintf(o->key, sizeof(o->key), "%s", key);
	snprintf(o->version, sizeof(o->version), "%" PRId64, version);
	snprintf(o->fp, sizeof(o->fp), "%016" PRIx64, schema->fingerprint);
	o->headers[0] = (struct cps_header){CPS_SINK_HEADER_KEY, o->key, strlen(o->key)};
	o->headers[1] =
	    (struct cps_header){CPS_SINK_HEADER_VERSION, o->version, strlen(o->version)};
	o->headers[2] = (struct cps_header){CPS_SINK_HEADER_OPERATION,
	                                    is_delete ? "DELETE" : "UPSERT", is_delete ? 6u : 6u};
	o->headers[3] = (struct cps_header){HEADER_SCHEMA_FP, o->fp, 16};
	*rec = (struct cps_sink_record){
	    .entity = entity,
	    .origin_platform = CPS_SINK_ORIGIN,
	    .key = o->key,
	    .key_len = strlen(o->key),
	    .value = is_delete && r->format == CPS_SINK_FORMAT_FRAMED ? NULL : o->value.data,
	    .value_len = is_delete && r->format == CPS_SINK_FORMAT_FRAMED ? 0 : o->value.len,
	    .headers = o->headers,
	    .n_headers = r->format == CPS_SINK_FORMAT_RAW ? 4 : 3,
	};
	return CPS_OK;
}
