/*
 * Avro values to and from the Avro specification's JSON encoding: unions as
 * {"type name": value} (null as null), bytes and fixed as strings of code
 * points 0–255, enums as their symbol, records as objects with every field.
 * Logical types keep their underlying encoding (a date is an int of days).
 */
#ifndef CPS_AVRO_JSON_H
#define CPS_AVRO_JSON_H

#include <avro.h>
#include <jansson.h>

/* New reference, or NULL with errstr set. */
json_t *cps_value_to_json(avro_value_t *value, char *errstr, size_t errstr_size);
/* Fills `value` (of the schema the JSON must follow) from `json`. Errors
 * name the field path, e.g. "expected string for .name, got integer". */
int cps_value_from_json(json_t *json, avro_value_t *value, char *errstr, size_t errstr_size);
/* Like cps_value_from_json, but a record field missing from `json` takes the
 * "default" that `schema_json` (the reader schema's JSON, e.g. struct
 * cps_schema.json, which keeps the defaults Avro C drops) gives it; without
 * one it is an error. Fields not in the schema are an error in both. */
int cps_value_from_json_defaults(json_t *schema_json, json_t *json, avro_value_t *value,
                                 char *errstr, size_t errstr_size);

#endif
