/*
 * How PostgreSQL tables and columns become cpsync entities and fields: the
 * mapping declared in a postgres connector's flat settings
 * (table.<schema.table>.entity / .key / .column.<col> / .increment_column /
 * .timestamp_column), and the conversion of a row's text values (PostgreSQL
 * output format) into the Avro JSON of the entity schema, per field type.
 */
#ifndef CPS_PG_MAPPING_H
#define CPS_PG_MAPPING_H

#include "schema.h"
#include "settings.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct cps_pg_colmap {
	char *column;
	char *field;
};

struct cps_pg_table {
	char *nspname, *relname; /* "public", "person" */
	char *qualified;         /* quoted for SQL: "public"."person" */
	char *entity;
	char *key_column;                          /* column carrying the entity key */
	char *increment_column, *timestamp_column; /* polling mode; may be NULL */
	struct cps_pg_colmap *cols;                /* explicit column -> field renames */
	size_t n_cols;
	struct cps_schema *schema; /* the entity's schema (borrowed from the catalog) */
};

struct cps_pg_mapping {
	struct cps_pg_table *tables;
	size_t n;
};

/* Reads every table.* setting; each mapped table needs an entity known to
 * `catalog` and a key column (default: the entity schema's first field). The
 * catalog must outlive the mapping. */
int cps_pg_mapping_from_settings(const struct cps_settings *s, struct cps_catalog *catalog,
                                 struct cps_pg_mapping **out, char *errstr, size_t errstr_size);
void cps_pg_mapping_free(struct cps_pg_mapping *m);
struct cps_pg_table *cps_pg_mapping_find(struct cps_pg_mapping *m, const char *nspname,
                                         const char *relname);

/* The schema field a column feeds: the explicit rename, else the column's
 * own name when the schema has such a field, else NULL (column ignored). */
const char *cps_pg_table_field(const struct cps_pg_table *t, const char *column);

/* The Avro JSON (cps_value_from_json convention) of one PostgreSQL text
 * value for the Avro type `type` (a field's "type" JSON of `schema`):
 * dates as days, timestamps as ms/µs, decimals as bytes, enums as symbols,
 * nullable unions wrapped, arrays/maps/records from json text. `text` NULL
 * is SQL NULL. New reference in *out. */
int cps_pg_text_to_json(const struct cps_schema *schema, json_t *type, const char *text,
                        json_t **out, char *errstr, size_t errstr_size);

/* The record object of one row: columns[i] (NULL = skip the column) with
 * text values[i] (NULL = SQL NULL). Fields without a column are left out
 * (the schema's defaults fill them when the record is built). Errors name
 * the column, never its value. */
int cps_pg_row_to_json(const struct cps_pg_table *t, size_t n, const char *const *columns,
                       const char *const *values, json_t **out, char *errstr, size_t errstr_size);

#endif
