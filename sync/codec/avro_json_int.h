/*
 * Private to avro_json*.c and evolution.c: the named-type table of a schema
 * JSON (where record field defaults and enum defaults live, since Avro C
 * drops them), field paths for error texts, and the JSON-to-value filler
 * shared by the JSON decoder and by schema defaults.
 */
#ifndef CPS_AVRO_JSON_INT_H
#define CPS_AVRO_JSON_INT_H

#include <avro.h>
#include <jansson.h>

/* Deeper JSON than this is refused (recursive schemas could otherwise
 * recurse as deep as the JSON goes). */
#define CPS_AVRO_JSON_MAX_DEPTH 128

/* Full name -> definition (borrowed from the schema JSON) of every record,
 * error, enum and fixed defined anywhere in a schema JSON. */
struct cps_json_names;

/* `schema` may be NULL (an empty table); the table borrows from it, so it
 * must outlive the table. NULL only when memory is out. */
struct cps_json_names *cps_json_names_new(json_t *schema);
void cps_json_names_free(struct cps_json_names *n);
/* The JSON definition of the named type `s`, or NULL. */
json_t *cps_json_names_find(const struct cps_json_names *n, avro_schema_t s);
/* The "default" of field `field` of record definition `record_def`, or NULL
 * when there is none (a JSON null default is returned as json null). */
json_t *cps_json_field_default(json_t *record_def, const char *field);

/* Full name of a named schema ("ns.Name"), or its type name otherwise. */
const char *cps_avro_type_name(avro_schema_t s, char *buf, size_t size);
/* Follows links (recursive references) to the schema they name. */
avro_schema_t cps_avro_deref(avro_schema_t s);

/* A field path like ".members[2].relation"; map entries appear by
 * position ("{3}"), never by key, since keys may be personal data. */
struct cps_json_path {
	char buf[256];
	size_t len;
};

void cps_json_path_init(struct cps_json_path *p);
/* Returns the previous length, for cps_json_path_pop. */
size_t cps_json_path_push_field(struct cps_json_path *p, const char *name);
/* "[i]" for an array item, "{i}" for a map entry. */
size_t cps_json_path_push_index(struct cps_json_path *p, int is_map, size_t i);
/* Appends `text` as it is (e.g. "[]" for "any item"). */
size_t cps_json_path_push_raw(struct cps_json_path *p, const char *text);
void cps_json_path_pop(struct cps_json_path *p, size_t len);
/* "." for the root. */
const char *cps_json_path_str(const struct cps_json_path *p);

/* Fills `value` from `json`. as_default = 0: the Avro JSON encoding;
 * as_default = 1: a schema "default" (a union holds its first branch,
 * unwrapped). A record field missing from the JSON takes its default from
 * `names` (may be NULL: then it is an error). */
int cps_json_fill(const struct cps_json_names *names, json_t *json, int as_default,
                  avro_value_t *value, struct cps_json_path *path, char *errstr,
                  size_t errstr_size);
/* cps_json_fill on a reset `value`, with the named types of `schema_json`
 * (may be NULL: none) and a fresh path. */
int cps_json_fill_from_schema(json_t *schema_json, json_t *json, int as_default,
                              avro_value_t *value, char *errstr, size_t errstr_size);

/* Avro JSON's form of bytes and fixed: a string of the code points 0-255,
 * one per byte. A new reference, or NULL when out of memory. */
json_t *cps_json_bytes_string(const uint8_t *p, size_t len);

#endif
