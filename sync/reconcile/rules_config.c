/*
 * Rules from the configuration's `rules` section. The load validated each
 * key against the key table (config_keys.c) and filled in its defaults;
 * here the text becomes the reconciler's enums, after the checks across
 * keys the table cannot express (a precedence rule needs platforms, every
 * platform named is under `platforms`), which name FILE:LINE and the key.
 */
#include "reconcile/rules_int.h"

#include "base/common.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One rule entry as the file states it: each part from the entry, else
 * from the entity's `default`, else the declared default (latest, accept).
 * After the load every field entry holds its own `platforms` list (empty
 * when not written), so a field's platforms are its own. */
struct rule_text {
	const char *rule;
	const char *on_disagree;
	const struct cps_config_node *platforms; /* SEQ of names, or NULL */
};

static void rule_text_of(const struct cps_config_node *entity, const struct cps_config_node *entry,
                         struct rule_text *out)
{
	const struct cps_config_node *def = cps_config_node_child(entity, "default");
	const struct cps_config_node *r, *d, *p;

	r = entry ? cps_config_node_child(entry, "rule") : NULL;
	d = entry ? cps_config_node_child(entry, "on_disagree") : NULL;
	p = entry ? cps_config_node_child(entry, "platforms") : NULL;
	if (!r)
		r = cps_config_node_child(def, "rule");
	if (!d)
		d = cps_config_node_child(def, "on_disagree");
	if (!p)
		p = cps_config_node_child(def, "platforms");
	out->rule = r ? r->value : "latest";
	out->on_disagree = d ? d->value : "accept";
	out->platforms = p;
}

/* ---- checks across keys ---------------------------------------------------- */

static int check_entry(const struct cps_config *cfg, const struct cps_config_node *platforms,
                       const struct cps_config_node *entity, const struct cps_config_node *entry,
                       const char *path, char *errstr, size_t errstr_size)
{
	const struct cps_config_node *own = cps_config_node_child(entry, "platforms");
	struct rule_text t;

	rule_text_of(entity, entry, &t);
	if (t.rule && !strcmp(t.rule, "precedence") && (!t.platforms || t.platforms->count == 0))
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "%s:%d: key '%s.platforms': rule 'precedence' needs at least one platform",
		    cps_config_file(cfg), entry->line, path);
	for (size_t i = 0; own && i < own->count; i++) {
		const char *name = own->children[i]->value;
		if (cps_config_node_child(platforms, name))
			continue;
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "%s:%d: key '%s.platforms': unknown platform '%.64s' (not under 'platforms')",
		    cps_config_file(cfg), own->children[i]->line, path, name);
	}
	return CPS_OK;
}

static int check_section(const struct cps_config *cfg, const struct cps_config_node *rules,
                         char *errstr, size_t errstr_size)
{
	const struct cps_config_node *platforms = cps_config_get_map(cfg, "platforms");
	char path[512];
	int rc;

	for (size_t i = 0; rules && i < rules->count; i++) {
		const struct cps_config_node *e = rules->children[i];
		const struct cps_config_node *def = cps_config_node_child(e, "default");
		const struct cps_config_node *fields = cps_config_node_child(e, "fields");

		snprintf(path, sizeof(path), "rules.%s.default", e->key);
		if (def &&
		    (rc = check_entry(cfg, platforms, e, def, path, errstr, errstr_size)) < 0)
			return rc;
		for (size_t j = 0; fields && j < fields->count; j++) {
			snprintf(path, sizeof(path), "rules.%s.fields.%s", e->key,
			         fields->children[j]->key);
			rc = check_entry(cfg, platforms, e, fields->children[j], path, errstr,
			                 errstr_size);
			if (rc < 0)
				return rc;
		}
	}
	return CPS_OK;
}

/* ---- text to rules --------------------------------------------------------- */

static int rule_from_text(const struct rule_text *t, const char *field, const char *where,
                          struct cps_field_rule *out, char *errstr, size_t errstr_size)
{
	const struct cps_config_node *p = t->platforms;
	int rc;

	if (!cps_rule_kind_parse(t->rule, &out->kind) ||
	    !cps_rule_disagree_parse(t->on_disagree, &out->on_disagree))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s': unknown rule or on_disagree", where);
	if (field && !(out->field = strdup(field)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (p && p->kind == CPS_NODE_SCALAR)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s': platforms must be a list", where);
	for (size_t i = 0; p && p->kind == CPS_NODE_SEQ && i < p->count; i++) {
		rc = cps_rules_add_platform(out, p->children[i]->value, where, errstr, errstr_size);
		if (rc < 0)
			return rc;
	}
	return cps_rules_check(out, where, errstr, errstr_size);
}

/* The rules of one entity (node `e` of the section) into `out`. */
static int entity_from_config(const struct cps_config_node *e, struct cps_entity_rules *out,
                              char *errstr, size_t errstr_size)
{
	const struct cps_config_node *fields = cps_config_node_child(e, "fields");
	struct rule_text t;
	char where[256];
	int rc;

	if (!(out->entity = strdup(e->key)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	snprintf(where, sizeof(where), "%.64s.default", e->key);
	rule_text_of(e, NULL, &t);
	rc = rule_from_text(&t, NULL, where, &out->dflt, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	out->version = (int)cps_config_node_int(e, "version", 1);
	if (!fields || fields->kind != CPS_NODE_MAP || fields->count == 0)
		return CPS_OK;
	out->fields = calloc(fields->count, sizeof(*out->fields));
	if (!out->fields)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t j = 0; j < fields->count; j++) {
		const struct cps_config_node *entry = fields->children[j];

		out->n_fields++;
		snprintf(where, sizeof(where), "%.64s.fields.%.64s", e->key, entry->key);
		rule_text_of(e, entry, &t);
		rc = rule_from_text(&t, entry->key, where, &out->fields[j], errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

int cps_rules_from_config(const struct cps_config *cfg, struct cps_rules **out, char *errstr,
                          size_t errstr_size)
{
	const struct cps_config_node *rules = cps_config_get_map(cfg, "rules");
	size_t n = rules ? rules->count : 0;
	struct cps_rules *r;
	int rc;

	*out = NULL;
	rc = check_section(cfg, rules, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (!(r = cps_rules_new(n)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < n; i++) {
		r->n_entities++;
		rc = entity_from_config(rules->children[i], &r->entities[i], errstr, errstr_size);
		if (rc != CPS_OK)
			goto fail;
	}
	*out = r;
	return CPS_OK;
fail:
	cps_rules_free(r);
	return rc;
}
