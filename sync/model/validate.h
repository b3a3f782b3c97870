/*
 * Record validation at ingest: what a decoded entity record (Avro JSON) must
 * satisfy before it may enter reconciliation — a non-empty key, valid
 * national IDs (GB 11643, pii.h) wherever a field holds one, 6-digit region
 * codes. Reasons name the field and the failing check, never the value.
 */
#ifndef CPS_VALIDATE_H
#define CPS_VALIDATE_H

#include <jansson.h>
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

#endif
