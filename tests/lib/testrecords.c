/*
 * Typed records from Avro JSON for tests (testrecords.h).
 */
#include "testrecords.h"

#include "base/buf.h"
#include "base/common.h"
#include "codec/avro_json.h"
#include "codec/codec.h"

#include <stdio.h>
#include <string.h>

static struct {
	char entity[32];
	struct cps_record_schema *rs;
} compiled[16];

static struct cps_record_schema *compiled_for(struct cps_codec *codec, const char *entity)
{
	char err[CPS_ERRSTR_SIZE];
	size_t i = 0;

	while (i < CPS_ARRAY_SIZE(compiled) && compiled[i].rs && strcmp(compiled[i].entity, entity))
		i++;
	if (i == CPS_ARRAY_SIZE(compiled))
		return NULL;
	if (!compiled[i].rs) {
		if (cps_record_schema_new(cps_codec_schema(codec), &compiled[i].rs, err,
		                          sizeof(err)) != CPS_OK) {
			fprintf(stderr, "%s schema: %s\n", entity, err);
			return NULL;
		}
		snprintf(compiled[i].entity, sizeof(compiled[i].entity), "%s", entity);
	}
	return compiled[i].rs;
}

const struct cps_tval *cps_test_typed(struct cps_catalog *catalog, const char *entity, json_t *j,
                                      struct cps_arena *arena, const struct cps_rtype **type)
{
	struct cps_codec *codec = NULL;
	struct cps_record_schema *rs;
	struct cps_tval *v = cps_arena_alloc(arena, sizeof(*v));
	struct cps_buf bytes;
	char err[CPS_ERRSTR_SIZE] = "";
	int ok;

	if (!v || cps_codec_for_entity(catalog, entity, &codec, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "%s codec: %s\n", entity, err);
		return NULL;
	}
	cps_buf_init(&bytes, 1 << 20);
	ok = (rs = compiled_for(codec, entity)) &&
	     cps_value_from_json_defaults(cps_codec_schema(codec)->json, j, cps_codec_value(codec),
	                                  err, sizeof(err)) == CPS_OK &&
	     cps_codec_encode(codec, cps_codec_value(codec), &bytes, err, sizeof(err)) == CPS_OK &&
	     cps_record_decode(rs, bytes.data, bytes.len, NULL, CPS_RECORD_COPY_BYTES, arena, v,
	                       err, sizeof(err)) == CPS_OK;
	if (!ok)
		fprintf(stderr, "%s record: %s\n", entity, err);
	cps_codec_free(codec);
	cps_buf_release(&bytes);
	if (!ok)
		return NULL;
	*type = rs->root;
	return v;
}

void cps_test_typed_release(void)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(compiled); i++) {
		cps_record_schema_free(compiled[i].rs);
		compiled[i].rs = NULL;
	}
}
