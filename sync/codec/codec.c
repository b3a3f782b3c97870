/*
 * The codec (see codec.h): every decode goes through the guard before Avro
 * C reads a byte; data from another writer schema goes through our own
 * resolver (evolution.c); framing picks the writer schema by id or
 * fingerprint.
 */
#include "codec/codec.h"

#include "base/common.h"
#include "codec/evolution.h"

#include <stdlib.h>
#include <string.h>

struct cps_codec {
	struct cps_schema *reader;
	struct cps_guard_limits limits;
	avro_value_t value;
	avro_reader_t in;
	avro_writer_t out;
};

int cps_codec_new(struct cps_schema *reader, const struct cps_guard_limits *limits,
                  struct cps_codec **out, char *errstr, size_t errstr_size)
{
	struct cps_codec *c = calloc(1, sizeof(*c));

	if (!c)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	c->reader = reader;
	if (limits)
		c->limits = *limits;
	else
		cps_guard_limits_default(&c->limits);
	if (avro_generic_value_new(reader->iface, &c->value) != 0) {
		cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "cannot create a value of '%s': %s",
		           reader->name, avro_strerror());
		free(c);
		return CPS_ERR_FATAL;
	}
	c->in = avro_reader_memory(NULL, 0);
	c->out = avro_writer_memory(NULL, 0);
	if (!c->in || !c->out) {
		cps_codec_free(c);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	*out = c;
	return CPS_OK;
}

int cps_codec_for_entity(struct cps_catalog *catalog, const char *entity, struct cps_codec **out,
                         char *errstr, size_t errstr_size)
{
	struct cps_schema *s = cps_catalog_by_entity(catalog, entity);

	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "the schema catalog has no '%s' schema", entity);
	return cps_codec_new(s, NULL, out, errstr, errstr_size);
}

void cps_codec_free(struct cps_codec *c)
{
	if (!c)
		return;
	if (c->value.iface)
		avro_value_decref(&c->value);
	if (c->in)
		avro_reader_free(c->in);
	if (c->out)
		avro_writer_free(c->out);
	free(c);
}

struct cps_schema *cps_codec_schema(struct cps_codec *c)
{
	return c->reader;
}

avro_value_t *cps_codec_value(struct cps_codec *c)
{
	return &c->value;
}

int cps_codec_decode(struct cps_codec *c, const struct cps_schema *writer, const void *buf,
                     size_t len, char *errstr, size_t errstr_size)
{
	int rc;

	if (writer && writer->fingerprint != c->reader->fingerprint)
		return cps_resolve_decode(writer, c->reader, buf, len, &c->limits, &c->value,
		                          errstr, errstr_size);

	rc = cps_guard_check(c->reader->avro, buf, len, &c->limits, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	avro_value_reset(&c->value);
	avro_reader_memory_set_source(c->in, buf, (int64_t)len);
	if (avro_value_read(c->in, &c->value) != 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "avro decode of '%s' failed: %s", c->reader->name,
		                  avro_strerror());
	return CPS_OK;
}

/* The writer schema a frame names: by registry id (Confluent) or by
 * CRC-64-AVRO fingerprint (single-object). */
static int frame_writer(const struct cps_codec *c, const struct cps_frame *f,
                        struct cps_catalog *catalog, struct cps_registry *reg,
                        const struct cps_schema **writer, char *errstr, size_t errstr_size)
{
	struct cps_schema *s = NULL;
	int rc;

	*writer = NULL;
	/* a Confluent id names the reader schema only in the catalog's id space
	 * (registry-free); with a registry, ids are the registry's to resolve */
	if ((f->framing == CPS_FRAMING_CONFLUENT && !reg && c->reader->id &&
	     f->schema_id == c->reader->id) ||
	    (f->framing == CPS_FRAMING_SINGLE_OBJECT && f->fingerprint == c->reader->fingerprint))
		return CPS_OK; /* written with the reader schema itself */
	switch (f->framing) {
	case CPS_FRAMING_RAW:
		return CPS_OK;
	case CPS_FRAMING_CONFLUENT:
		if (reg) {
			rc = cps_registry_schema_by_id(reg, f->schema_id, &s, errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
		} else if (catalog) {
			s = cps_catalog_by_id(catalog, f->schema_id);
		}
		if (!s)
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "schema id %d unknown (registry-free mode: see schemas/schema-ids.json)",
			    (int)f->schema_id);
		*writer = s;
		return CPS_OK;
	case CPS_FRAMING_SINGLE_OBJECT:
		s = catalog ? cps_catalog_by_fingerprint(catalog, f->fingerprint) : NULL;
		if (!s)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "schema fingerprint %016llx unknown to the catalog",
			                  (unsigned long long)f->fingerprint);
		*writer = s;
		return CPS_OK;
	}
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "unknown framing");
}

int cps_codec_decode_framed(struct cps_codec *c, enum cps_framing framing,
                            struct cps_catalog *catalog, struct cps_registry *reg, const void *buf,
                            size_t len, char *errstr, size_t errstr_size)
{
	const struct cps_schema *writer;
	struct cps_frame f;
	int rc;

	if (len > c->limits.max_message_bytes)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "message of %zu bytes exceeds the limit of %zu bytes", len,
		                  c->limits.max_message_bytes);
	rc = cps_frame_parse(framing, buf, len, &f, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	rc = frame_writer(c, &f, catalog, reg, &writer, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	return cps_codec_decode(c, writer, f.body, f.body_len, errstr, errstr_size);
}

int cps_codec_encode(struct cps_codec *c, avro_value_t *value, struct cps_buf *out, char *errstr,
                     size_t errstr_size)
{
	size_t size;

	if (avro_value_sizeof(value, &size) != 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "cannot size a value of '%s': %s", c->reader->name,
		                  avro_strerror());
	if (cps_buf_reserve(out, size) != 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "encoded value of %zu bytes exceeds the buffer limit", size);
	avro_writer_memory_set_dest(c->out, (char *)out->data + out->len, (int64_t)size);
	if (avro_value_write(c->out, value) != 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "avro encode of '%s' failed: %s", c->reader->name,
		                  avro_strerror());
	out->len += size;
	out->data[out->len] = 0;
	return CPS_OK;
}

int cps_codec_encode_framed(struct cps_codec *c, enum cps_framing framing, int32_t schema_id,
                            avro_value_t *value, struct cps_buf *out, char *errstr,
                            size_t errstr_size)
{
	if (cps_frame_write_header(framing, schema_id, c->reader->fingerprint, out) != 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "cannot write the %s header", cps_framing_name(framing));
	return cps_codec_encode(c, value, out, errstr, errstr_size);
}
