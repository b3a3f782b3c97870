/*
 * The unified event: what cpsync publishes on <prefix><entity> for every new
 * version of a unified record (schemas/unified/<entity>_event.avsc). Built
 * from a key state and the outcome of the reconcile step that changed it, and
 * encoded framed (Confluent with registry or registry-free ids, or Avro
 * single-object). One struct cps_unified per thread (it owns codecs).
 */
#ifndef CPS_UNIFIED_H
#define CPS_UNIFIED_H

#include "base/buf.h"
#include "codec/framing.h"
#include "codec/record.h"
#include "reconcile/reconcile.h"
#include "reconcile/typed_reconcile.h"
#include "codec/registry.h"
#include "codec/schema.h"

#include <jansson.h>
#include <stdint.h>

struct cps_unified_conf {
	struct cps_catalog *catalog; /* borrowed; must hold the <entity>_event schemas */
	enum cps_framing framing;    /* CPS_FRAMING_CONFLUENT (default) or SINGLE_OBJECT */
	/* Confluent ids: from this registry under subject
	 * "<topic_prefix><entity>-value", or, when NULL, the catalog's
	 * registry-free ids (schemas/schema-ids.json). Borrowed. */
	struct cps_registry *registry;
	const char *topic_prefix; /* for the subject; NULL = "cpsync.unified." */
};

struct cps_unified;

int cps_unified_new(const struct cps_unified_conf *conf, struct cps_unified **out, char *errstr,
                    size_t errstr_size);
void cps_unified_free(struct cps_unified *u);

/* What the registry says of every <entity>_event schema of the catalog
 * before anything is produced with it, under subject
 * "<topic_prefix><entity>-value": compatible with the latest registered
 * version (cps_registry_check_compatible) and, when ids are only looked up,
 * registered there. CPS_OK without a registry; CPS_ERR_INVALID with the
 * first refusal (the subject, the schema and the registry's reason);
 * CPS_ERR_RETRIABLE when the registry cannot be asked. */
int cps_unified_registry_check(const struct cps_unified_conf *conf, char *errstr,
                               size_t errstr_size);

/* The unified event of `st` after `o` as Avro JSON of <entity>_event: entity
 * enum, key, version, operation, event_time, record (null for a delete),
 * one cpsync.FieldProvenance per field of the record that has a value, in
 * schema field order, and what the sinks' no-echo rule needs: an upsert's
 * changed_fields (o's) and a delete's prior_platforms (o's, as
 * cpsync.Platform symbols); both [] when `o` is NULL (a re-publish). New
 * reference, or NULL with errstr set. */
json_t *cps_unified_event_json(struct cps_unified *u, const struct cps_key_state *st,
                               const struct cps_reconcile_outcome *o, int64_t event_time_ms,
                               char *errstr, size_t errstr_size);

/* Appends the framed unified event to `out`. */
int cps_unified_encode(struct cps_unified *u, const struct cps_key_state *st,
                       const struct cps_reconcile_outcome *o, int64_t event_time_ms,
                       struct cps_buf *out, char *errstr, size_t errstr_size);

/* The same from a typed state and the typed engine's outcome
 * (typed_reconcile.h): the record written as its fields' bytes. The same
 * bytes as cps_unified_encode on the state's JSON view, but for the order of
 * the echoed names (the typed outcome's: schema order). */
int cps_unified_encode_typed(struct cps_unified *u, const struct cps_tstate *ts,
                             const struct cps_toutcome *to, int64_t event_time_ms,
                             struct cps_buf *out, char *errstr, size_t errstr_size);

/* Decodes a framed unified event of `entity` (any framing the bytes carry:
 * Confluent ids through the registry or the catalog, single-object through
 * the catalog) to Avro JSON, as cps_unified_decode_typed reads it. For
 * tests and tools; sinks read the typed values. New reference in *out. */
int cps_unified_decode(struct cps_unified *u, const char *entity, const void *buf, size_t len,
                       json_t **out, char *errstr, size_t errstr_size);

/* The same into typed values (codec/record.h) in `arena`, strings pointing
 * into `buf` (which must outlive them): what the sinks read, without a JSON
 * tree. *type is the <entity>_event record type of the value. An event
 * written with an older schema is resolved to the current one first.
 * Errors as cps_unified_decode's. */
int cps_unified_decode_typed(struct cps_unified *u, const char *entity, const void *buf, size_t len,
                             struct cps_arena *arena, const struct cps_rtype **type,
                             struct cps_tval *out, char *errstr, size_t errstr_size);

#endif
