/*
 * Avro JSON values as PostgreSQL jsonb parameters and back (jsonb.c), and
 * a key state's platforms read from a row (its bytea facts, or the jsonb of
 * a row written before them). The store and the steward store share this,
 * so a value written by one reads back identically through the other.
 */
#ifndef CPS_JSONB_H
#define CPS_JSONB_H

#include "base/buf.h"

#include <jansson.h>
#include <libpq-fe.h>

/* Text for a jsonb parameter (free it); NULL json gives `def` duplicated
 * (NULL def: SQL NULL, returned as NULL with *ok set). */
char *cps_jsonb_param(json_t *j, const char *def, int *ok);

/* Appends the JSON string literal of s[0..n) (UTF-8) as cps_jsonb_param
 * writes it into jsonb text: escaped for JSON, U+0000 and U+E000 escaped
 * reversibly for jsonb. 0, or -1 when memory or out's limit runs out. */
int cps_jsonb_put_string(struct cps_buf *out, const char *s, size_t n);

/* A jsonb column's text (SQL NULL: JSON null) back to jansson; NULL when
 * the text is not JSON. */
json_t *cps_jsonb_value(const PGresult *res, int row, int col);

/* A row's platforms from its `facts` column (bytea, text or binary result
 * format) when not NULL, else from its old `platforms` jsonb column (rows
 * written before migration 012). *size: the estimate of JSON text size
 * (may be NULL). CPS_ERR_INVALID when neither reads as an object. */
int cps_facts_column(const PGresult *res, int row, int facts_col, int platforms_col,
                     json_t **platforms, size_t *size, char *errstr, size_t errstr_size);
/* The same for a row's provenance: its `prov` column (bytea, migration
 * 014) when not NULL, else its old `provenance` jsonb column. */
int cps_prov_column(const PGresult *res, int row, int prov_col, int json_col, json_t **prov,
                    size_t *size, char *errstr, size_t errstr_size);

#endif
