/*
 * The files source's look at a whole inbox file before its first record is
 * handed out: how many of its records ingest would set aside as dead
 * letters, judged as ingest judges them (the typed decoder, the guard where
 * the typed decoder is stricter, the entity's validation rules). A file past
 * the source's dead-letter cap is rejected whole with one reason instead of
 * flooding the dead-letter store, which one 145-byte file could do.
 */
#include "connectors/files/files_int.h"

#include "base/arena.h"
#include "codec/guard.h"
#include "codec/record.h"
#include "codec/schema.h"
#include "connectors/files/ocf.h"
#include "model/entity.h"
#include "model/validate.h"

#include <stdio.h>
#include <string.h>

/* Whether ingest would dead-letter this record; its reason in why. */
static bool record_is_bad(const struct cps_record_schema *rs, const char *entity,
                          struct cps_arena *arena, const void *rec, size_t len, char *why,
                          size_t why_size)
{
	struct cps_typed_key key;
	struct cps_tval v;
	int rc;

	cps_arena_reset(arena);
	rc = cps_record_decode(rs, rec, len, NULL, 0, arena, &v, why, why_size);
	if (rc != CPS_OK) /* ingest then asks the guard, which decides */
		return cps_guard_check(rs->avro, rec, len, NULL, why, why_size) != CPS_OK;
	if (cps_typed_json_form_check(rs, &v, why, why_size) != CPS_OK)
		return true;
	rc = cps_validate_typed(entity, rs->root, &v, &key, why, why_size);
	return rc != CPS_OK && rc != CPS_VALIDATE_UNMODELLED;
}

int files_scan(const struct cps_buf *image, const struct cps_schema *writer, const char *entity,
               int64_t cap, struct files_scan *out, char *errstr, size_t errstr_size)
{
	struct cps_record_schema *rs = NULL;
	struct cps_ocf_reader *reader = NULL;
	struct cps_arena arena;
	char why[CPS_ERRSTR_SIZE];
	bool known = entity && cps_entity_index(entity) >= 0;
	int rc;

	memset(out, 0, sizeof(*out));
	cps_arena_init(&arena, 0);
	rc = cps_record_schema_new(writer, &rs, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_ocf_reader_open(image->data, image->len, NULL, &reader, errstr,
		                         errstr_size);
	while (rc == CPS_OK && out->bad <= cap) {
		const void *rec;
		size_t len;
		int64_t index;
		int n = cps_ocf_reader_next(reader, &rec, &len, &index, why, sizeof(why));

		if (n == 0)
			break;
		if (n == CPS_ERR_FATAL) {
			rc = cps_seterr(n, errstr, errstr_size, "%s", why);
			break;
		}
		if (n < 0) { /* the framing broke: what follows is lost as one */
			index = out->records;
		} else {
			out->records = index + 1;
			if (known && !record_is_bad(rs, entity, &arena, rec, len, why, sizeof(why)))
				continue;
			if (!known)
				snprintf(
				    why, sizeof(why),
				    "no entity: neither a file name prefix nor the writer schema names one");
		}
		if (out->bad++ == 0)
			snprintf(out->first_reason, sizeof(out->first_reason), "record %lld: %s",
			         (long long)index, why);
		if (n < 0)
			break;
	}
	cps_ocf_reader_free(reader);
	cps_record_schema_free(rs);
	cps_arena_release(&arena);
	return rc;
}
