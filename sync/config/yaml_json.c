/*
 * YAML text to JSON (yaml_json.h) with libyaml's document API: the rules a
 * steward pastes or a CLI sends, in the shape of the configuration's
 * `rules` section, become the JSON cps_rules_from_json reads.
 */
#include "config/yaml_json.h"

#include "base/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 32
#define MAX_NODES 100000

struct conv {
	yaml_document_t *doc;
	size_t nodes;
	int failed;
};

static json_t *scalar(const yaml_node_t *yn)
{
	const char *v = (const char *)yn->data.scalar.value;
	char *end;
	long long n;

	if (yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(v, yn->data.scalar.length);
	if (!*v || !strcmp(v, "~") || !strcmp(v, "null"))
		return json_null();
	if (!strcmp(v, "true"))
		return json_true();
	if (!strcmp(v, "false"))
		return json_false();
	errno = 0;
	n = strtoll(v, &end, 10);
	if (!*end && end != v && !errno && (v[0] != '0' || !v[1]))
		return json_integer(n);
	return json_stringn(v, yn->data.scalar.length);
}

static json_t *convert(struct conv *c, yaml_node_t *yn, int depth)
{
	json_t *out = NULL;

	if (!yn || depth > MAX_DEPTH || ++c->nodes > MAX_NODES) {
		c->failed = 1;
		return NULL;
	}
	switch (yn->type) {
	case YAML_SCALAR_NODE:
		return scalar(yn);
	case YAML_SEQUENCE_NODE:
		out = json_array();
		for (yaml_node_item_t *it = yn->data.sequence.items.start;
		     out && it < yn->data.sequence.items.top; it++) {
			json_t *v = convert(c, yaml_document_get_node(c->doc, *it), depth + 1);

			if (!v || json_array_append_new(out, v) < 0)
				goto fail;
		}
		return out;
	case YAML_MAPPING_NODE:
		out = json_object();
		for (yaml_node_pair_t *p = yn->data.mapping.pairs.start;
		     out && p < yn->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			json_t *v;

			if (!k || k->type != YAML_SCALAR_NODE)
				goto fail;
			v = convert(c, yaml_document_get_node(c->doc, p->value), depth + 1);
			if (!v ||
			    json_object_set_new(out, (const char *)k->data.scalar.value, v) < 0)
				goto fail;
		}
		return out;
	default:
		break;
	}
fail:
	c->failed = 1;
	json_decref(out);
	return NULL;
}

int cps_yaml_to_json(const char *text, size_t len, json_t **out, char *errstr, size_t errstr_size)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct conv c = {&doc, 0, 0};
	int rc = CPS_OK;

	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%zu:%zu: %s",
		                parser.problem_mark.line + 1, parser.problem_mark.column + 1,
		                parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		return rc;
	}
	if (!yaml_document_get_root_node(&doc))
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "1:1: an empty document");
	else if (!(*out = convert(&c, yaml_document_get_root_node(&doc), 0)) || c.failed)
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "1:1: a key that is not a scalar, or nested or sized beyond "
		                "the limits (%d levels, %d nodes)",
		                MAX_DEPTH, MAX_NODES);
	if (rc != CPS_OK) {
		json_decref(*out);
		*out = NULL;
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}
