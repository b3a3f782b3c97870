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
 * from the defaults it inherits (a case's `default`, then the entity's),
 * else the declared default (latest, accept). After the load every field
 * entry holds its own `platforms` list (empty when not written), so a
 * field's platforms are its own. */
struct rule_text {
	const char *rule;
	const char *on_disagree;
	const struct cps_config_node *platforms; /* SEQ of names, or NULL */
};

/* `chain`: the entry first, then the defaults it inherits from (NULLs skipped). */
static void rule_text_of(const struct cps_config_node *const *chain, size_t n,
                         struct rule_text *out)
{
	const struct cps_config_node *r = NULL, *d = NULL, *p = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!r)
			r = cps_config_node_child(chain[i], "rule");
		if (!d)
			d = cps_config_node_child(chain[i], "on_disagree");
		if (!p)
			p = cps_config_node_child(chain[i], "platforms");
	}
	out->rule = r ? r->value : "latest";
	out->on_disagree = d ? d->value : "accept";
	out->platforms = p;
}

/* ---- checks across keys ---------------------------------------------------- */

static int check_entry(const struct cps_config *cfg, const struct cps_config_node *platforms,
                       const struct cps_config_node *const *chain, size_t n_chain, const char *path,
                       char *errstr, size_t errstr_size)
{
	const struct cps_config_node *entry = chain[0];
	const struct cps_config_node *own = cps_config_node_child(entry, "platforms");
	struct rule_text t;

	rule_text_of(chain, n_chain, &t);
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

/* The entries of a `fields` map, each inheriting from `dflts` (n_dflts). */
static int check_fields(const struct cps_config *cfg, const struct cps_config_node *platforms,
                        const struct cps_config_node *fields,
                        const struct cps_config_node *const *dflts, size_t n_dflts,
                        const char *prefix, char *errstr, size_t errstr_size)
{
	const struct cps_config_node *chain[3];
	char path[512];
	int rc;

	for (size_t j = 0; fields && j < fields->count; j++) {
		chain[0] = fields->children[j];
		for (size_t k = 0; k < n_dflts; k++)
			chain[1 + k] = dflts[k];
		snprintf(path, sizeof(path), "%s.fields.%s", prefix, fields->children[j]->key);
		rc = check_entry(cfg, platforms, chain, 1 + n_dflts, path, errstr, errstr_size);
		if (rc < 0)
			return rc;
	}
	return CPS_OK;
}

/* A case needs a condition, and cannot give a field it reads its own rule
 * (the case is chosen on that field's value under the entity's rules). */
static int check_case(const struct cps_config *cfg, const struct cps_config_node *platforms,
                      const struct cps_config_node *entity, const struct cps_config_node *c,
                      char *errstr, size_t errstr_size)
{
	const struct cps_config_node *when = cps_config_node_child(c, "when");
	const struct cps_config_node *fields = cps_config_node_child(c, "fields");
	const struct cps_config_node *dflts[2] = {cps_config_node_child(c, "default"),
	                                          cps_config_node_child(entity, "default")};
	char prefix[512];
	int rc;

	snprintf(prefix, sizeof(prefix), "rules.%s.cases.%s", entity->key, c->key);
	if (!when || when->count == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s:%d: key '%s.when': a case needs at least one condition",
		                  cps_config_file(cfg), c->line, prefix);
	for (size_t i = 0; i < when->count; i++)
		if (cps_config_node_child(fields, when->children[i]->key))
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "%s:%d: key '%s.fields.%s': the case's condition reads this field, so the entity's own rules decide it",
			    cps_config_file(cfg), when->children[i]->line, prefix,
			    when->children[i]->key);
	if (dflts[0]) {
		char path[600];

		snprintf(path, sizeof(path), "%s.default", prefix);
		rc = check_entry(cfg, platforms, dflts, 2, path, errstr, errstr_size);
		if (rc < 0)
			return rc;
	}
	return check_fields(cfg, platforms, fields, dflts[0] ? dflts : dflts + 1, dflts[0] ? 2 : 1,
	                    prefix, errstr, errstr_size);
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
		const struct cps_config_node *cases = cps_config_node_child(e, "cases");

		snprintf(path, sizeof(path), "rules.%s", e->key);
		if (def) {
			const struct cps_config_node *chain[1] = {def};
			char dpath[600];

			snprintf(dpath, sizeof(dpath), "%s.default", path);
			rc = check_entry(cfg, platforms, chain, 1, dpath, errstr, errstr_size);
			if (rc < 0)
				return rc;
		}
		rc = check_fields(cfg, platforms, cps_config_node_child(e, "fields"), &def, 1, path,
		                  errstr, errstr_size);
		if (rc < 0)
			return rc;
		for (size_t j = 0; cases && j < cases->count; j++)
			if ((rc = check_case(cfg, platforms, e, cases->children[j], errstr,
			                     errstr_size)) < 0)
				return rc;
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

/* The rules of a `fields` map into *out (n_out counts them as they fill),
 * each entry inheriting from `dflts`. */
static int fields_from_config(const struct cps_config_node *fields,
                              const struct cps_config_node *const *dflts, size_t n_dflts,
                              const char *prefix, struct cps_field_rule **out, size_t *n_out,
                              char *errstr, size_t errstr_size)
{
	const struct cps_config_node *chain[3];
	struct rule_text t;
	char where[256];
	int rc;

	if (!fields || fields->kind != CPS_NODE_MAP || fields->count == 0)
		return CPS_OK;
	if (!(*out = calloc(fields->count, sizeof(**out))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t j = 0; j < fields->count; j++) {
		chain[0] = fields->children[j];
		for (size_t k = 0; k < n_dflts; k++)
			chain[1 + k] = dflts[k];
		(*n_out)++;
		snprintf(where, sizeof(where), "%s.fields.%.64s", prefix, chain[0]->key);
		rule_text_of(chain, 1 + n_dflts, &t);
		rc = rule_from_text(&t, chain[0]->key, where, &(*out)[j], errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

/* Case `cn` of entity node `e` into `out`. */
static int case_from_config(const struct cps_config_node *e, const struct cps_config_node *cn,
                            struct cps_rule_case *out, char *errstr, size_t errstr_size)
{
	const struct cps_config_node *when = cps_config_node_child(cn, "when");
	const struct cps_config_node *dflts[2] = {cps_config_node_child(cn, "default"),
	                                          cps_config_node_child(e, "default")};
	const struct cps_config_node *const *inherit = dflts[0] ? dflts : dflts + 1;
	size_t n_inherit = dflts[0] ? 2 : 1;
	char prefix[160];
	struct rule_text t;
	int rc;

	snprintf(prefix, sizeof(prefix), "%.64s.cases.%.64s", e->key, cn->key);
	if (!(out->name = strdup(cn->key)) ||
	    !(out->when = calloc(when ? when->count : 1, sizeof(*out->when))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; when && i < when->count; i++) {
		struct cps_rule_cond *cond = &out->when[out->n_when++];

		if (!(cond->field = strdup(when->children[i]->key)) ||
		    !(cond->value = strdup(when->children[i]->value)))
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	if (dflts[0]) {
		char where[200];

		out->has_dflt = 1;
		snprintf(where, sizeof(where), "%s.default", prefix);
		rule_text_of(dflts, 2, &t);
		rc = rule_from_text(&t, NULL, where, &out->dflt, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return fields_from_config(cps_config_node_child(cn, "fields"), inherit, n_inherit, prefix,
	                          &out->fields, &out->n_fields, errstr, errstr_size);
}

/* The rules of one entity (node `e` of the section) into `out`. */
static int entity_from_config(const struct cps_config_node *e, struct cps_entity_rules *out,
                              char *errstr, size_t errstr_size)
{
	const struct cps_config_node *def = cps_config_node_child(e, "default");
	const struct cps_config_node *cases = cps_config_node_child(e, "cases");
	struct rule_text t;
	char where[256];
	int rc;

	if (!(out->entity = strdup(e->key)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	snprintf(where, sizeof(where), "%.64s.default", e->key);
	rule_text_of(&def, 1, &t);
	rc = rule_from_text(&t, NULL, where, &out->dflt, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	out->version = (int)cps_config_node_int(e, "version", 1);
	rc = fields_from_config(cps_config_node_child(e, "fields"), &def, 1, e->key, &out->fields,
	                        &out->n_fields, errstr, errstr_size);
	if (rc != CPS_OK || !cases || cases->count == 0)
		return rc;
	if (!(out->cases = calloc(cases->count, sizeof(*out->cases))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t j = 0; j < cases->count; j++) {
		out->n_cases++;
		rc = case_from_config(e, cases->children[j], &out->cases[j], errstr, errstr_size);
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
