/*
 * The codec: Avro binary to values and back for one reader schema, with
 * the guard in front of Avro C, schema evolution from older writers, and
 * the three framings. One codec per thread (it owns reusable buffers).
 */
#ifndef CPS_CODEC_H
#define CPS_CODEC_H

#include "base/buf.h"
#include "codec/framing.h"
#include "codec/guard.h"
#include "codec/registry.h"
#include "codec/schema.h"

struct cps_codec;

/* `reader` is borrowed and must outlive the codec. `limits` may be NULL. */
int cps_codec_new(struct cps_schema *reader, const struct cps_guard_limits *limits,
                  struct cps_codec **out, char *errstr, size_t errstr_size);
void cps_codec_free(struct cps_codec *c);
/* A codec (default limits) for the catalog's schema of `entity` (an entity
 * name, or a schema's own such as "ingest_event"); CPS_ERR_FATAL when the
 * catalog has none. */
int cps_codec_for_entity(struct cps_catalog *catalog, const char *entity, struct cps_codec **out,
                         char *errstr, size_t errstr_size);

/* The reader schema (borrowed). */
struct cps_schema *cps_codec_schema(struct cps_codec *c);

/* The codec's reusable value (of the reader schema). */
avro_value_t *cps_codec_value(struct cps_codec *c);

/* Decodes one raw body written with `writer` (NULL = the reader schema)
 * into the codec's value. Guarded: hostile bytes get CPS_ERR_INVALID and a
 * specific reason. */
int cps_codec_decode(struct cps_codec *c, const struct cps_schema *writer, const void *buf,
                     size_t len, char *errstr, size_t errstr_size);

/* Decodes a framed message: the frame's id or fingerprint picks the writer
 * schema (through `reg`, which may be NULL for raw and single-object with
 * catalog fingerprints). */
int cps_codec_decode_framed(struct cps_codec *c, enum cps_framing framing,
                            struct cps_catalog *catalog, struct cps_registry *reg, const void *buf,
                            size_t len, char *errstr, size_t errstr_size);

/* Appends the Avro binary of `value` (the reader schema's) to `out`. */
int cps_codec_encode(struct cps_codec *c, avro_value_t *value, struct cps_buf *out, char *errstr,
                     size_t errstr_size);
/* Header for `framing` then the body; `schema_id` only for confluent. */
int cps_codec_encode_framed(struct cps_codec *c, enum cps_framing framing, int32_t schema_id,
                            avro_value_t *value, struct cps_buf *out, char *errstr,
                            size_t errstr_size);

#endif
