/*
 * Private to the postgres mapping (pg_mapping.c, pg_schema_type.c,
 * pg_text_parse.c, pg_text_json.c, pg_fieldconv.c, pg_row_fill.c): the
 * per-field conversion table and the helpers the files share.
 */
#ifndef CPS_PG_MAPPING_INT_H
#define CPS_PG_MAPPING_INT_H

#include "connectors/postgres/pg_mapping.h"

/* How one field's text becomes its value: built by pg_fieldconv.c, applied by
 * pg_row_fill.c; CK_SLOW goes the JSON way (pg_text_json.c). */
enum conv_kind { CK_SLOW, CK_STRING, CK_ENUM, CK_BOOL, CK_INT, CK_LONG, CK_FLOAT, CK_DOUBLE };
enum conv_lt { LT_NONE, LT_DATE, LT_TIME_MILLIS, LT_TIME_MICROS, LT_TS_MILLIS, LT_TS_MICROS };

struct cps_pg_fieldconv {
	const char *name; /* borrowed from the schema JSON */
	json_t *type;     /* the field's "type" (slow path) */
	enum conv_kind kind;
	enum conv_lt lt;
	bool is_union, has_default;
	int null_branch, value_branch; /* union branches, -1 none */
	json_t *symbols;               /* enum */
};

/* pg_schema_type.c */
/* A type with references resolved one level: a string naming a defined type
 * becomes its definition; {"type": "int"} without attributes stays. */
json_t *cps_pg_type_resolve(const struct cps_schema *schema, json_t *type);
/* "type" word of a resolved type: a primitive, record, enum, fixed, array,
 * map, or "union" for a JSON array. */
const char *cps_pg_type_word(json_t *type);
/* The type's logicalType, "" when none. */
const char *cps_pg_type_logical(json_t *type);
/* The name a union branch goes by in Avro JSON. */
const char *cps_pg_type_branch_name(json_t *branch);

/* pg_text_parse.c: each advances *p past what it read (except timestamp and
 * int64, which need the whole text) and returns false on anything else. */
bool cps_pg_parse_date(const char **p, int64_t *days);
/* "HH:MM:SS[.ffffff]" into microseconds of the day. */
bool cps_pg_parse_time(const char **p, int64_t *us);
/* "YYYY-MM-DD HH:MM:SS[.f][+HH[:MM]]" into microseconds since the epoch (UTC;
 * without an offset the value is taken as UTC). */
bool cps_pg_parse_timestamp(const char *text, int64_t *us);
bool cps_pg_parse_int64(const char *text, int64_t *out);

/* pg_mapping.c: the "type" of schema field `name`, or NULL. */
json_t *cps_pg_field_type(const struct cps_schema *schema, const char *name);

/* pg_fieldconv.c: frees what cps_pg_table_prepare built; idempotent. */
void cps_pg_table_unprepare(struct cps_pg_table *t);

#endif
