/*
 * The policy from the configuration's `policy` section. The load checked
 * each key against the key table (types, enums, defaults); the section is
 * then read as the JSON it is shaped like (cps_policy_from_json), so case
 * files and the configuration share one reader. Its errors name the file.
 */
#include "policy/policy.h"

#include "base/common.h"
#include "config/config.h"

#include <stdio.h>

/* A configuration subtree as JSON: mappings as objects, sequences as
 * arrays, scalars as strings. NULL when memory is out. */
static json_t *node_json(const struct cps_config_node *n)
{
	json_t *j;

	switch (n->kind) {
	case CPS_NODE_SCALAR:
		return json_string(n->value ? n->value : "");
	case CPS_NODE_SEQ:
		j = json_array();
		for (size_t i = 0; j && i < n->count; i++)
			if (json_array_append_new(j, node_json(n->children[i])) < 0) {
				json_decref(j);
				return NULL;
			}
		return j;
	case CPS_NODE_MAP:
		j = json_object();
		for (size_t i = 0; j && i < n->count; i++)
			if (json_object_set_new(j, n->children[i]->key, node_json(n->children[i])) <
			    0) {
				json_decref(j);
				return NULL;
			}
		return j;
	default:
		return json_null();
	}
}

int cps_policy_from_config(const struct cps_config *cfg, struct cps_policy **out, char *errstr,
                           size_t errstr_size)
{
	const struct cps_config_node *section = cps_config_get_map(cfg, "policy");
	json_t *j = section ? node_json(section) : json_object();
	char err[CPS_ERRSTR_SIZE];
	int rc;

	*out = NULL;
	if (!j)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = cps_policy_from_json(j, out, err, sizeof(err));
	json_decref(j);
	if (rc != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size, "%s: %s", cps_config_file(cfg), err);
	return CPS_OK;
}
