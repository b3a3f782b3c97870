/*
 * Record validation at ingest: what a decoded entity record (Avro JSON) must
 * satisfy before it may enter reconciliation — a non-empty key, valid
 * national IDs (GB 11643, pii.h) wherever a field holds one, 6-digit region
 * codes. Reasons name the field and the failing check, never the value.
 */
#ifndef CPS_VALIDATE_H
#define CPS_VALIDATE_H

#include "codec/record.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Checks `record` (Avro JSON of `entity`'s schema: unions as {"type": v}).
 * CPS_OK, or CPS_ERR_INVALID with a reason such as
 * "field 'household.members[2].national_id': national id check character is wrong".
 * The rules:
 *   - the entity's key field (cps_entity_key_field) is a non-empty string;
 *   - national IDs: person.national_id, household.head_national_id,
 *     household.members[].national_id, verification.items[].member_national_id
 *     (when not null), enrolment.subject_id and alert.subject_id when
 *     subject_type is "PERSON";
 *   - every top-level field named "*region_code" is exactly 6 digits.
 * Thread-safe; `record` is only read. */
int cps_validate_record(const char *entity, json_t *record, char *errstr, size_t errstr_size);

/* ---- validate_record.c: the same checks on typed records (codec/record.h) ---- */

/* Returned (positive) when a typed record has a shape the typed checks do not
 * model exactly — a bytes, fixed, map or one-field record where a string is
 * read, a union as an array item: judge its JSON form with
 * cps_validate_record instead. The catalog's entity schemas have none. */
#define CPS_VALIDATE_UNMODELLED 1

/* The key of a record that passed cps_validate_typed: its text up to a first
 * NUL (as jansson's C string gives it; points into the record or the
 * schema), and whether its JSON form is a plain string (not a union). */
struct cps_typed_key {
	const char *ptr;
	size_t len;
	bool plain;
};

/* The typed twin of cps_validate_record: the same rules, in the same order,
 * with the same reasons, on `rec`, a record of type `type`, as
 * cps_validate_record gives for its Avro JSON (cps_record_to_json). CPS_OK
 * with *key set, CPS_ERR_INVALID with the reason, or CPS_VALIDATE_UNMODELLED.
 * Thread-safe; `rec` is only read. */
int cps_validate_typed(const char *entity, const struct cps_rtype *type, const struct cps_tval *rec,
                       struct cps_typed_key *key, char *errstr, size_t errstr_size);

/* Whether `rec` has an Avro JSON form, as cps_value_to_json would find
 * (strings and map keys valid UTF-8, finite numbers, nesting within
 * avro_json's cap), without building it: CPS_OK, or CPS_ERR_INVALID with
 * cps_record_to_json's reason. Thread-safe. */
int cps_typed_json_form_check(const struct cps_record_schema *rs, const struct cps_tval *rec,
                              char *errstr, size_t errstr_size);

#endif
