/*
 * YAML to the node tree: libyaml's document API gives every node its line;
 * scalars get their ${ENV} references substituted on the way (config_env.c).
 * One document per file, a mapping at the top, bounded depth and size (an
 * alias bomb stops at CPS_CONFIG_MAX_NODES).
 */
#include "config/config_int.h"

#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct loader {
	const char *label;
	char *errstr;
	size_t errstr_size;
	yaml_document_t *doc;
	size_t nodes;
};

static bool is_null_scalar(const yaml_node_t *yn)
{
	const char *v = (const char *)yn->data.scalar.value;

	if (yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* `path` is the dotted path of yn, for errors. */
static int convert(struct loader *ld, yaml_node_t *yn, const char *path, int depth,
                   struct cps_config_node **out)
{
	struct cps_config_node *n = NULL;
	int line = (int)yn->start_mark.line + 1;
	int rc;

	*out = NULL;
	if (depth > CPS_CONFIG_MAX_DEPTH)
		return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
		                  "%s:%d: key '%s': nested deeper than %d levels", ld->label, line,
		                  path, CPS_CONFIG_MAX_DEPTH);
	if (++ld->nodes > CPS_CONFIG_MAX_NODES)
		return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
		                  "%s:%d: more than %d values (aliases expanding?)", ld->label,
		                  line, CPS_CONFIG_MAX_NODES);

	switch (yn->type) {
	case YAML_SCALAR_NODE: {
		struct cps_buf b;

		if (is_null_scalar(yn)) {
			n = cps_config_node_new(CPS_NODE_NULL, line);
			break;
		}
		cps_buf_init(&b, CPS_CONFIG_MAX_FILE_BYTES);
		rc = cps_config_env_substitute((const char *)yn->data.scalar.value,
		                               yn->data.scalar.length, ld->label, line, path, &b,
		                               ld->errstr, ld->errstr_size);
		if (rc == CPS_OK && !(n = cps_config_node_new(CPS_NODE_SCALAR, line)))
			rc = CPS_ERR_FATAL;
		if (rc == CPS_OK) {
			n->value = b.data ? (char *)b.data : strdup("");
			b.data = NULL;
		}
		cps_buf_release(&b);
		if (rc != CPS_OK)
			return rc;
		break;
	}
	case YAML_SEQUENCE_NODE: {
		size_t idx = 0;

		if (!(n = cps_config_node_new(CPS_NODE_SEQ, line)))
			break;
		for (yaml_node_item_t *it = yn->data.sequence.items.start;
		     it < yn->data.sequence.items.top; it++, idx++) {
			struct cps_config_node *c;
			char sub[512];

			snprintf(sub, sizeof(sub), "%s[%zu]", path, idx);
			rc = convert(ld, yaml_document_get_node(ld->doc, *it), sub, depth + 1, &c);
			if (rc != CPS_OK || cps_config_node_add(n, c) < 0)
				goto fail;
		}
		break;
	}
	case YAML_MAPPING_NODE:
		if (!(n = cps_config_node_new(CPS_NODE_MAP, line)))
			break;
		for (yaml_node_pair_t *p = yn->data.mapping.pairs.start;
		     p < yn->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
			struct cps_config_node *c;
			char sub[512];
			int kline = (int)k->start_mark.line + 1;

			if (k->type != YAML_SCALAR_NODE) {
				cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
				           "%s:%d: key under '%s' is not a plain name", ld->label,
				           kline, *path ? path : "(top level)");
				goto fail;
			}
			const char *key = (const char *)k->data.scalar.value;
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
			if (cps_config_node_child_mut(n, key, strlen(key))) {
				cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
				           "%s:%d: duplicate key '%s'", ld->label, kline, sub);
				goto fail;
			}
			rc = convert(ld, yaml_document_get_node(ld->doc, p->value), sub, depth + 1,
			             &c);
			if (rc != CPS_OK)
				goto fail;
			/* a key's line is where the key is written */
			c->line = kline;
			if (!(c->key = strdup(key))) {
				cps_config_node_free(c);
				goto fail;
			}
			if (cps_config_node_add(n, c) < 0)
				goto fail;
		}
		break;
	default:
		return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
		                  "%s:%d: empty yaml node", ld->label, line);
	}
	if (!n)
		return cps_seterr(CPS_ERR_FATAL, ld->errstr, ld->errstr_size, "out of memory");
	*out = n;
	return CPS_OK;
fail:
	cps_config_node_free(n);
	if (ld->errstr && ld->errstr_size && !*ld->errstr)
		cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size, "out of memory");
	return CPS_ERR_INVALID;
}

int cps_config_parse_yaml(const char *text, size_t len, const char *label,
                          struct cps_config_node **root, char *errstr, size_t errstr_size)
{
	struct loader ld = {.label = label, .errstr = errstr, .errstr_size = errstr_size};
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *top;
	int rc = CPS_OK;

	*root = NULL;
	if (errstr && errstr_size)
		errstr[0] = 0;
	if (!yaml_parser_initialize(&parser))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "%s:%zu: yaml syntax error: %s%s%s", label,
		                parser.problem_mark.line + 1,
		                parser.problem ? parser.problem : "unknown problem",
		                parser.context ? " " : "", parser.context ? parser.context : "");
		goto out_parser;
	}
	ld.doc = &doc;
	top = yaml_document_get_root_node(&doc);
	if (!top) {
		*root = cps_config_node_new(CPS_NODE_MAP, 1);
	} else if (top->type != YAML_MAPPING_NODE &&
	           !(top->type == YAML_SCALAR_NODE && is_null_scalar(top))) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "%s:%zu: the file must be a mapping of keys", label,
		                top->start_mark.line + 1);
	} else if (top->type == YAML_SCALAR_NODE) {
		*root = cps_config_node_new(CPS_NODE_MAP, 1);
	} else {
		rc = convert(&ld, top, "", 0, root);
	}
	if (rc == CPS_OK && !*root)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (top && rc == CPS_OK) {
		if (!yaml_parser_load(&parser, &extra)) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "%s:%zu: yaml syntax error: %s", label,
			                parser.problem_mark.line + 1,
			                parser.problem ? parser.problem : "unknown problem");
		} else {
			if (yaml_document_get_root_node(&extra))
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "%s: more than one yaml document in the file",
				                label);
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
	if (rc != CPS_OK) {
		cps_config_node_free(*root);
		*root = NULL;
	}
out_parser:
	yaml_parser_delete(&parser);
	return rc;
}
