/*
 * How PostgreSQL tables and columns become cpsync entities and fields: the
 * mapping declared in a postgres connector's flat settings
 * (table.<schema.table>.entity / .key / .column.<col> / .increment_column /
 * .timestamp_column / .effective_column / .deleted_column), and the conversion of a row's text values (PostgreSQL
 * output format) into the Avro JSON of the entity schema, per field type.
 */
#ifndef CPS_PG_MAPPING_H
#define CPS_PG_MAPPING_H

#include "base/arena.h"
#include "codec/schema.h"
#include "config/settings.h"

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The strings of the mapping (names, columns, fields) are in its `strings`. */
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
	char *effective_column;     /* when each row's fact became true; may be NULL */
	char *deleted_column;       /* polling: a row whose value is true (or a non-boolean
	                         value not NULL) is deleted (soft delete); may be NULL */
	struct cps_pg_colmap *cols; /* explicit column -> field renames */
	size_t n_cols;
	struct cps_schema *schema; /* the entity's schema (borrowed from the catalog) */
	/* filled by cps_pg_table_prepare (NULL/0 before) */
	struct cps_pg_fieldconv *conv; /* per schema field: how text becomes its value */
	size_t n_fields;
	avro_value_t defaults;  /* a record holding every field's schema default */
	uint8_t *holds_default; /* per field: the filled record holds the default */
	void *names;            /* the schema's named types (defaults, slow path) */
};

struct cps_pg_mapping {
	struct cps_pg_table *tables;
	size_t n;
	struct cps_arena strings; /* every string of the tables */
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

/* ---- hot path: text straight into an Avro value, by index ---- */

/* Builds t's conversion table (each schema field's type, logical type, union
 * branches, enum symbols, default). Idempotent; freed with the mapping. */
int cps_pg_table_prepare(struct cps_pg_table *t, char *errstr, size_t errstr_size);

/* One column value of a row: 't' text (NUL-terminated at text[len]), 'n'
 * SQL NULL, 'u' unknown (the field takes its schema default). */
struct cps_pg_text {
	char kind;
	const char *text;
	size_t len;
};

/* Columns of a relation (Relation message or result set) resolved once:
 * column i feeds field[i] (-1 none); key_col feeds the key (-1 none). */
struct cps_pg_plan {
	struct cps_pg_table *t; /* NULL: the relation is not mapped */
	size_t ncols, cap;
	int *field;
	char **colnames; /* owned copies, for error texts and TOAST merging */
	int key_col;
	int eff_col;     /* the table's effective_column; -1 */
	uint8_t *filled; /* scratch, t->n_fields */
};

/* (Re)builds p for table t (NULL: unmapped) and the n column names. */
int cps_pg_plan_build(struct cps_pg_plan *p, struct cps_pg_table *t, size_t n,
                      const char *const *names, char *errstr, size_t errstr_size);
void cps_pg_plan_release(struct cps_pg_plan *p);

/* Fills `rec` (a value of t->schema, e.g. the table codec's) from one row of
 * p->ncols values; fields without a column take their defaults. Errors name
 * the column and field, never a value. The table must be prepared. */
int cps_pg_row_fill(struct cps_pg_plan *p, const struct cps_pg_text *vals, avro_value_t *rec,
                    char *errstr, size_t errstr_size);

#endif
