/*
 * A YAML document as JSON, for what cpsync accepts as YAML from outside
 * its configuration file (a rules file sent to `cpsync rules diff`): plain
 * scalars that read as integers or booleans become those, null scalars
 * null, every other scalar a string. Bounded in depth and node count.
 */
#ifndef CPS_YAML_JSON_H
#define CPS_YAML_JSON_H

#include <jansson.h>
#include <stddef.h>

/* New reference in *out; CPS_ERR_INVALID with "LINE:COL: reason" for text
 * that is not one YAML document. */
int cps_yaml_to_json(const char *text, size_t len, json_t **out, char *errstr, size_t errstr_size);

#endif
