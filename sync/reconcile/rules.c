/*
 * Field-level survivorship rules (rules.h): built from the config's `rules`
 * section or from JSON of the same shape (reconciliation case files), and
 * looked up per (entity, field). A field entry inherits whatever it does not
 * set from its entity's `default`; an absent default is `latest`/`accept`.
 */
#include "reconcile/rules.h"

#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"precedence", "latest", "manual"};
static const char *const disagree_names[] = {"accept", "flag", "conflict"};

static int name_index(const char *const *names, size_t n, const char *v)
{
	for (size_t i = 0; v && i < n; i++)
		if (!strcmp(names[i], v))
			return (int)i;
	return -1;
}

static void field_rule_release(struct cps_field_rule *fr)
{
	free(fr->field);
	for (size_t i = 0; i < fr->n_platforms; i++)
		free(fr->platforms[i]);
	memset(fr, 0, sizeof(*fr));
}

void cps_rules_free(struct cps_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_entities; i++) {
		struct cps_entity_rules *e = &r->entities[i];

		free(e->entity);
		field_rule_release(&e->dflt);
		for (size_t j = 0; j < e->n_fields; j++)
			field_rule_release(&e->fields[j]);
		free(e->fields);
	}
	free(r->entities);
	free(r);
}

static int add_platform(struct cps_field_rule *fr, const char *name, const char *where,
                        char *errstr, size_t errstr_size)
{
	if (!name || !*name)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': empty platform name", where);
	if (fr->n_platforms >= CPS_RULE_MAX_PLATFORMS)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': more than %d platforms", where,
		                  CPS_RULE_MAX_PLATFORMS);
	for (size_t i = 0; i < fr->n_platforms; i++)
		if (!strcmp(fr->platforms[i], name))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules '%s': platform '%.64s' listed twice", where, name);
	fr->platforms[fr->n_platforms] = strdup(name);
	if (!fr->platforms[fr->n_platforms])
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	fr->n_platforms++;
	return CPS_OK;
}

static int check_rule(const struct cps_field_rule *fr, const char *where, char *errstr,
                      size_t errstr_size)
{
	if (fr->kind == CPS_RULE_PRECEDENCE && fr->n_platforms == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s': rule 'precedence' needs at least one platform",
		                  where);
	return CPS_OK;
}

/* ---- from the configuration ------------------------------------------- */

static int rule_from_config(const struct cps_config_rule *cr, const char *field, const char *where,
                            struct cps_field_rule *out, char *errstr, size_t errstr_size)
{
	const struct cps_config_node *p = cr->platforms;
	int rc;

	if ((int)cr->kind < 0 || (size_t)cr->kind >= CPS_ARRAY_SIZE(kind_names) ||
	    (int)cr->on_disagree < 0 || (size_t)cr->on_disagree >= CPS_ARRAY_SIZE(disagree_names))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': unknown rule or on_disagree",
		                  where);
	out->kind = cr->kind;
	out->on_disagree = cr->on_disagree;
	if (field && !(out->field = strdup(field)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (p && p->kind == CPS_NODE_SCALAR)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': platforms must be a list",
		                  where);
	for (size_t i = 0; p && p->kind == CPS_NODE_SEQ && i < p->count; i++) {
		rc = add_platform(out, p->children[i]->value, where, errstr, errstr_size);
		if (rc < 0)
			return rc;
	}
	return check_rule(out, where, errstr, errstr_size);
}

int cps_rules_from_config(const struct cps_config *cfg, struct cps_rules **out, char *errstr,
                          size_t errstr_size)
{
	struct cps_rules *r;
	size_t n = cps_config_rule_entity_count(cfg);
	const struct cps_config_node *rules = cps_config_get_map(cfg, "rules");
	char where[256];
	int rc = CPS_OK;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r || (n && !(r->entities = calloc(n, sizeof(*r->entities))))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const char *name = cps_config_rule_entity_at(cfg, i);
		struct cps_entity_rules *e = &r->entities[i];
		const struct cps_config_node *fields =
		    cps_config_node_child(cps_config_node_child(rules, name), "fields");
		struct cps_config_rule cr;

		r->n_entities++;
		if (!(e->entity = strdup(name))) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto fail;
		}
		snprintf(where, sizeof(where), "%.64s.default", name);
		rc = cps_config_rule_get(cfg, name, NULL, &cr);
		if (rc == CPS_OK)
			rc = rule_from_config(&cr, NULL, where, &e->dflt, errstr, errstr_size);
		if (rc != CPS_OK)
			goto fail;
		e->version = (int)cr.version;
		if (!fields || fields->kind != CPS_NODE_MAP || fields->count == 0)
			continue;
		e->fields = calloc(fields->count, sizeof(*e->fields));
		if (!e->fields) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto fail;
		}
		for (size_t j = 0; j < fields->count; j++) {
			const char *field = fields->children[j]->key;

			e->n_fields++;
			snprintf(where, sizeof(where), "%.64s.fields.%.64s", name, field);
			rc = cps_config_rule_get(cfg, name, field, &cr);
			if (rc == CPS_OK)
				rc = rule_from_config(&cr, field, where, &e->fields[j], errstr,
				                      errstr_size);
			if (rc != CPS_OK)
				goto fail;
		}
	}
	*out = r;
	return CPS_OK;
fail:
	cps_rules_free(r);
	return rc;
}

/* ---- from JSON ------------------------------------------------------------ */

/* Fills `out` from a JSON rule entry, inheriting from `dflt` (NULL: the
 * built-in latest/accept). */
static int rule_from_json(json_t *j, const struct cps_field_rule *dflt, const char *field,
                          const char *where, struct cps_field_rule *out, char *errstr,
                          size_t errstr_size)
{
	json_t *rule, *dis, *plats;
	const char *k;
	json_t *v;
	int idx, rc;

	if (!json_is_object(j))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': not an object", where);
	json_object_foreach(j, k, v)
	{
		if (strcmp(k, "rule") && strcmp(k, "platforms") && strcmp(k, "on_disagree"))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': unknown key '%.64s'",
			                  where, k);
	}
	rule = json_object_get(j, "rule");
	dis = json_object_get(j, "on_disagree");
	plats = json_object_get(j, "platforms");
	out->kind = dflt ? dflt->kind : CPS_RULE_LATEST;
	out->on_disagree = dflt ? dflt->on_disagree : CPS_DISAGREE_ACCEPT;
	if (rule) {
		idx = name_index(kind_names, CPS_ARRAY_SIZE(kind_names), json_string_value(rule));
		if (idx < 0)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules '%s': rule must be precedence, latest or manual",
			                  where);
		out->kind = (enum cps_rule_kind)idx;
	}
	if (dis) {
		idx = name_index(disagree_names, CPS_ARRAY_SIZE(disagree_names),
		                 json_string_value(dis));
		if (idx < 0)
			return cps_seterr(CPS_ERR_INVALID, 
			    errstr, errstr_size,
			    "rules '%s': on_disagree must be accept, flag or conflict", where);
		out->on_disagree = (enum cps_rule_disagree)idx;
	}
	if (field && !(out->field = strdup(field)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (plats) {
		size_t i;

		if (!json_is_array(plats))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules '%s': platforms must be a list", where);
		json_array_foreach(plats, i, v)
		{
			rc = add_platform(out, json_string_value(v), where, errstr, errstr_size);
			if (rc < 0)
				return rc;
		}
	} else {
		for (size_t i = 0; dflt && i < dflt->n_platforms; i++) {
			rc = add_platform(out, dflt->platforms[i], where, errstr, errstr_size);
			if (rc < 0)
				return rc;
		}
	}
	return check_rule(out, where, errstr, errstr_size);
}

int cps_rules_from_json(json_t *rules, struct cps_rules **out, char *errstr, size_t errstr_size)
{
	struct cps_rules *r;
	const char *name;
	json_t *ej;
	char where[256];
	size_t n;
	int rc = CPS_OK;

	*out = NULL;
	if (!json_is_object(rules))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules: not an object");
	n = json_object_size(rules);
	r = calloc(1, sizeof(*r));
	if (!r || (n && !(r->entities = calloc(n, sizeof(*r->entities))))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto fail;
	}
	json_object_foreach(rules, name, ej)
	{
		struct cps_entity_rules *e = &r->entities[r->n_entities++];
		json_t *ver, *def, *fields, *fj;
		const char *k;
		json_t *empty = NULL;

		if (!(e->entity = strdup(name))) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto fail;
		}
		if (!json_is_object(ej)) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%.64s': not an object", name);
			goto fail;
		}
		json_object_foreach(ej, k, fj)
		{
			if (strcmp(k, "version") && strcmp(k, "default") && strcmp(k, "fields")) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "rules '%.64s': unknown key '%.64s'", name, k);
				goto fail;
			}
		}
		ver = json_object_get(ej, "version");
		e->version = 1;
		if (ver) {
			if (!json_is_integer(ver) || json_integer_value(ver) < 1 ||
			    json_integer_value(ver) > 1000000) {
				rc = cps_seterr(CPS_ERR_INVALID, 
				    errstr, errstr_size,
				    "rules '%.64s': version must be an integer 1..1000000", name);
				goto fail;
			}
			e->version = (int)json_integer_value(ver);
		}
		def = json_object_get(ej, "default");
		if (!def)
			def = empty = json_object();
		snprintf(where, sizeof(where), "%.64s.default", name);
		rc = rule_from_json(def, NULL, NULL, where, &e->dflt, errstr, errstr_size);
		json_decref(empty);
		if (rc != CPS_OK)
			goto fail;
		fields = json_object_get(ej, "fields");
		if (!fields)
			continue;
		if (!json_is_object(fields)) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%.64s.fields': not an object",
			                name);
			goto fail;
		}
		if (json_object_size(fields) &&
		    !(e->fields = calloc(json_object_size(fields), sizeof(*e->fields)))) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto fail;
		}
		json_object_foreach(fields, k, fj)
		{
			snprintf(where, sizeof(where), "%.64s.fields.%.64s", name, k);
			rc = rule_from_json(fj, &e->dflt, k, where, &e->fields[e->n_fields++],
			                    errstr, errstr_size);
			if (rc != CPS_OK)
				goto fail;
		}
	}
	*out = r;
	return CPS_OK;
fail:
	cps_rules_free(r);
	return rc;
}

const struct cps_field_rule *cps_rules_for(const struct cps_rules *r, const char *entity,
                                           const char *field, int *rule_version)
{
	for (size_t i = 0; r && entity && i < r->n_entities; i++) {
		const struct cps_entity_rules *e = &r->entities[i];

		if (strcmp(e->entity, entity))
			continue;
		if (rule_version)
			*rule_version = e->version;
		for (size_t j = 0; field && j < e->n_fields; j++)
			if (!strcmp(e->fields[j].field, field))
				return &e->fields[j];
		return &e->dflt;
	}
	return NULL;
}
