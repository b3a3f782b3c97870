/*
 * Avro JSON values as PostgreSQL jsonb parameters and back (jsonb.c). The
 * store and the steward store share this, so a value written by one reads
 * back identically through the other.
 */
#ifndef CPS_JSONB_H
#define CPS_JSONB_H

#include <jansson.h>
#include <libpq-fe.h>

/* Text for a jsonb parameter (free it); NULL json gives `def` duplicated
 * (NULL def: SQL NULL, returned as NULL with *ok set). */
char *cps_jsonb_param(json_t *j, const char *def, int *ok);

/* A jsonb column's text (SQL NULL: JSON null) back to jansson; NULL when
 * the text is not JSON. */
json_t *cps_jsonb_value(const PGresult *res, int row, int col);

#endif
