/*
 * The change events that cross the engine: an ingest event (one platform's
 * statement about one record) and its Avro form (schemas/ingest_event.avsc).
 * Records travel as Avro JSON objects (jansson) inside the engine: field-level
 * reconciliation compares and stores them as JSON; the codec turns them back
 * into Avro at the edges.
 */
#ifndef CPS_EVENT_H
#define CPS_EVENT_H

#include "base/buf.h"
#include "codec/schema.h"
#include "model/entity.h"

#include <jansson.h>
#include <stdint.h>

enum cps_op {
	CPS_OP_UPSERT,
	CPS_OP_DELETE,
};

#define CPS_NAME_MAX 32 /* platform and entity names */

struct cps_ingest_event {
	char platform[CPS_NAME_MAX]; /* "province", "city", "shenshan" */
	char entity[CPS_NAME_MAX];   /* "person", "household", … */
	char *key;                   /* entity key (owned) */
	enum cps_op op;
	int64_t effective_ms;  /* business time: when the fact became true */
	int64_t source_ms;     /* when the platform recorded it */
	char *source_position; /* "province:topic/3@1234", "city:0/16B3F28", "shenshan:f.avro#17" */
	json_t *record;        /* the entity record (Avro JSON), NULL for deletes (owned ref) */
	/* Encode only, instead of `record` when set: the record's Avro binary in
	 * the entity's current schema, as a source sent it (borrowed: must
	 * outlive the encode; not released; decode leaves it NULL). */
	const void *payload;
	size_t payload_len;
	/* Decode only (cps_ingest_event_decode_bytes), instead of `record`: the
	 * record's Avro binary in the entity's current schema, as received
	 * (owned; NULL: `record` holds it). */
	uint8_t *record_bytes;
	size_t record_bytes_len;
};

void cps_ingest_event_release(struct cps_ingest_event *ev);

/* Text names of the operation ("upsert", "delete"). */
const char *cps_op_name(enum cps_op op);

struct cps_event_codec; /* per thread: IngestEvent + entity codecs of a catalog */

int cps_event_codec_new(struct cps_catalog *catalog, struct cps_event_codec **out, char *errstr,
                        size_t errstr_size);
void cps_event_codec_free(struct cps_event_codec *ec);

/* IngestEvent in single-object encoding, the payload the entity record in its
 * current schema: ev->payload's bytes as they are when set (no re-encode),
 * else ev->record encoded; payload_fingerprint is the current schema's. */
int cps_ingest_event_encode(struct cps_event_codec *ec, const struct cps_ingest_event *ev,
                            struct cps_buf *out, char *errstr, size_t errstr_size);
int cps_ingest_event_decode(struct cps_event_codec *ec, const void *buf, size_t len,
                            struct cps_ingest_event *out, char *errstr, size_t errstr_size);
/* The same, but a payload written with the entity's current schema (the
 * common case) is checked by the typed decoder and kept as its bytes in
 * out->record_bytes, with no Avro JSON made: for a reader that takes the
 * bytes (the typed engine). A payload of another writer is resolved to
 * Avro JSON in out->record as cps_ingest_event_decode does. */
int cps_ingest_event_decode_bytes(struct cps_event_codec *ec, const void *buf, size_t len,
                                  struct cps_ingest_event *out, char *errstr, size_t errstr_size);
/* Makes ev->record from ev->record_bytes when it has only the bytes, for a
 * reader of Avro JSON. CPS_ERR_INVALID (worded) when they do not decode. */
int cps_ingest_event_record(struct cps_event_codec *ec, struct cps_ingest_event *ev, char *errstr,
                            size_t errstr_size);

/* The ingest topic's message key: "<entity>/<key>". */
int cps_ingest_key(const char *entity, const char *key, struct cps_buf *out);

#endif
