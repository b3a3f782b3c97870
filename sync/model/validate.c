/*
 * Record validation at ingest (see validate.h): key present, national IDs
 * valid per GB 11643, region codes of 6 digits. The reasons come from here
 * and from cps_national_id_validate, which never quotes the ID.
 */
#include "model/validate.h"

#include "base/common.h"
#include "model/event.h"
#include "base/pii.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The string of a field: a plain string or a union {"string": "…"}; NULL
 * for null, absent or anything else. *present says whether the field exists
 * and is not null. */
static const char *field_string(json_t *obj, const char *name, bool *present)
{
	json_t *v = json_object_get(obj, name);

	*present = v && !json_is_null(v);
	if (json_is_object(v) && json_object_size(v) == 1)
		v = json_object_get(v, "string");
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int check_national_id(const char *path, json_t *obj, const char *name, bool required,
                             char *errstr, size_t errstr_size)
{
	char why[CPS_ERRSTR_SIZE];
	bool present;
	const char *id = field_string(obj, name, &present);

	if (!present) {
		if (!required)
			return CPS_OK;
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "field '%s' is missing",
		                  path);
	}
	if (!id)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "field '%s' is not a string", path);
	if (cps_national_id_validate(id, why, sizeof(why)) != CPS_OK)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "field '%s': %s", path,
		                  why);
	return CPS_OK;
}

/* subject_id holds a national ID when subject_type is PERSON. */
static int check_subject(const char *entity, json_t *record, char *errstr, size_t errstr_size)
{
	char path[64];
	bool present;
	const char *type = field_string(record, "subject_type", &present);

	if (!type)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "field '%s.subject_type' is missing", entity);
	if (strcmp(type, "PERSON") != 0)
		return CPS_OK;
	snprintf(path, sizeof(path), "%s.subject_id", entity);
	return check_national_id(path, record, "subject_id", true, errstr, errstr_size);
}

static int check_array_ids(const char *entity, json_t *record, const char *array, const char *name,
                           bool required, char *errstr, size_t errstr_size)
{
	json_t *items = json_object_get(record, array), *item;
	char path[128];
	size_t i;
	int rc;

	if (!items)
		return CPS_OK;
	if (!json_is_array(items))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "field '%s.%s' is not an array", entity, array);
	json_array_foreach (items, i, item) {
		snprintf(path, sizeof(path), "%s.%s[%zu].%s", entity, array, i, name);
		if (!json_is_object(item))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "field '%s.%s[%zu]' is not a record", entity, array, i);
		rc = check_national_id(path, item, name, required, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

static int check_region_codes(const char *entity, json_t *record, char *errstr, size_t errstr_size)
{
	const char *name, *suffix = "region_code";
	size_t ls = strlen(suffix);
	json_t *v;

	json_object_foreach (record, name, v) {
		size_t ln = strlen(name);
		const char *code;
		bool present;

		if (ln < ls || strcmp(name + ln - ls, suffix) != 0)
			continue;
		code = field_string(record, name, &present);
		if (!present)
			continue;
		if (!code)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "field '%s.%s' is not a string", entity, name);
		if (strlen(code) != 6 || strspn(code, "0123456789") != 6)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "field '%s.%s' is not a 6-digit region code", entity,
			                  name);
	}
	return CPS_OK;
}

int cps_validate_record(const char *entity, json_t *record, char *errstr, size_t errstr_size)
{
	const char *key_field = entity ? cps_entity_key_field(entity) : NULL;
	const char *key;
	bool present;
	int rc;

	if (!key_field)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "unknown entity '%s'",
		                  entity ? entity : "(none)");
	if (!json_is_object(record))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s record is not a JSON object", entity);
	key = field_string(record, key_field, &present);
	if (!present)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key field '%s.%s' is missing", entity, key_field);
	if (!key)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key field '%s.%s' is not a string", entity, key_field);
	if (!*key)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key field '%s.%s' is empty", entity, key_field);

	if (!strcmp(entity, "person")) {
		rc = check_national_id("person.national_id", record, "national_id", true, errstr,
		                       errstr_size);
	} else if (!strcmp(entity, "household")) {
		rc = check_national_id("household.head_national_id", record, "head_national_id",
		                       true, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = check_array_ids(entity, record, "members", "national_id", true, errstr,
			                     errstr_size);
	} else if (!strcmp(entity, "verification")) {
		rc = check_array_ids(entity, record, "items", "member_national_id", false, errstr,
		                     errstr_size);
	} else if (!strcmp(entity, "enrolment") || !strcmp(entity, "alert")) {
		rc = check_subject(entity, record, errstr, errstr_size);
	} else {
		rc = CPS_OK;
	}
	if (rc != CPS_OK)
		return rc;
	return check_region_codes(entity, record, errstr, errstr_size);
}
