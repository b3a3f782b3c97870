/*
 * Field values of the API commands as their Avro schema means them
 * (cli_records.c, cli_conflicts.c): a decimal's Avro JSON bytes string
 * ("\u0002\u00154") shown with its schema's scale ("1365.00"), as the
 * dashboard shows it, and other bytes as hex. The schema is the one the
 * running cpsync serves its dashboard (GET /assets/ENTITY.avsc).
 */
#ifndef CPS_CLI_VALUE_H
#define CPS_CLI_VALUE_H

#include "cli/api_client.h"

#include <jansson.h>

/* The Avro schema of `entity` (a new reference, NULL when there is none):
 * the one `c`'s server serves at /assets/ENTITY.avsc, else the copy built
 * into this binary. Never prints. */
json_t *cps_cli_entity_schema(struct cps_api_client *c, const char *entity);

/* The text of `v`, the Avro JSON value of field `field` of `schema` (may be
 * NULL: then as cps_cli_value_text): a decimal (bytes or fixed, bare or a
 * union branch) as digits with the schema's scale, other bytes as "0x..."
 * hex, anything else as cps_cli_value_text. Caller frees; NULL only when
 * out of memory. */
char *cps_cli_field_text(const json_t *schema, const char *field, const json_t *v);

/* Replaces o[member], a value of `field`, with its text (cps_cli_field_text)
 * when the schema gives it one other than cps_cli_value_text's, so that a
 * table of `o`s shows it. Does nothing when o has no such member. */
void cps_cli_render_member(const json_t *schema, const char *field, json_t *o, const char *member);

#endif
