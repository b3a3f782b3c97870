/*
 * What a sink connector receives from the sink runner (sync/sink/): the
 * format of a struct cps_sink_record's value by connector type and the
 * headers every record carries. Here, below both, so that a connector reads
 * the contract without including the runner.
 */
#ifndef CPS_CONNECTOR_SINK_H
#define CPS_CONNECTOR_SINK_H

/*
 * What a sink receives in struct cps_sink_record, by connector type:
 * - "kafka": value = the entity record (cpsync.Person, ...) framed with the
 *   sink's `framing` setting (default single-object); key = entity key.
 * - "files": value = the raw Avro binary of the entity record, header
 *   "cpsync-schema-fingerprint" = 16 hex digits of its schema.
 * - any other type ("postgres"): value = CPS_SINK_FORMAT_JSON text, a JSON
 *   object of the allowed fields with SQL-friendly plain values: unions
 *   unwrapped, enums as symbols, date as "YYYY-MM-DD", timestamp-millis as
 *   "YYYY-MM-DDTHH:MM:SS.mmmZ", decimal as its exact decimal text, other
 *   bytes/fixed as "\x<hex>" (bytea input), arrays/maps/records as nested
 *   plain JSON. A DELETE has value = "null" (JSON) and operation "DELETE".
 * Every record carries the headers below (value = text, not terminated).
 */
#define CPS_SINK_HEADER_KEY       "cpsync-key"
#define CPS_SINK_HEADER_VERSION   "cpsync-version"   /* decimal text */
#define CPS_SINK_HEADER_OPERATION "cpsync-operation" /* "UPSERT" or "DELETE" */
#define CPS_SINK_ORIGIN           "cpsync"           /* cps_sink_record.origin_platform */
/* "files" records only: their schema (cps_header_fingerprint) */
#define CPS_SINK_HEADER_SCHEMA_FP "cpsync-schema-fingerprint"

enum cps_sink_format {
	CPS_SINK_FORMAT_FRAMED, /* kafka */
	CPS_SINK_FORMAT_RAW,    /* files */
	CPS_SINK_FORMAT_JSON,   /* everything else (postgres) */
};

#endif
