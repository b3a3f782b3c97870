/*
 * Field-level survivorship rules (rules.h): the names of the rule kinds,
 * the pieces both builders share (rules_config.c, rules_json.c), releasing
 * a rule set, and the lookup per (entity, field): a field without its own
 * entry takes its entity's default rule.
 */
#include "reconcile/rules_int.h"

#include "base/common.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"precedence", "latest", "manual"};
static const char *const disagree_names[] = {"accept", "flag", "conflict"};

const char *cps_rule_kind_name(enum cps_rule_kind kind)
{
	return (size_t)kind < CPS_ARRAY_SIZE(kind_names) ? kind_names[kind] : "?";
}

const char *cps_rule_disagree_name(enum cps_rule_disagree d)
{
	return (size_t)d < CPS_ARRAY_SIZE(disagree_names) ? disagree_names[d] : "?";
}

static int name_index(const char *const *names, size_t n, const char *v)
{
	for (size_t i = 0; v && i < n; i++)
		if (!strcmp(names[i], v))
			return (int)i;
	return -1;
}

bool cps_rule_kind_parse(const char *name, enum cps_rule_kind *out)
{
	int idx = name_index(kind_names, CPS_ARRAY_SIZE(kind_names), name);

	if (idx < 0)
		return false;
	*out = (enum cps_rule_kind)idx;
	return true;
}

bool cps_rule_disagree_parse(const char *name, enum cps_rule_disagree *out)
{
	int idx = name_index(disagree_names, CPS_ARRAY_SIZE(disagree_names), name);

	if (idx < 0)
		return false;
	*out = (enum cps_rule_disagree)idx;
	return true;
}

static void field_rule_release(struct cps_field_rule *fr)
{
	free(fr->field);
	for (size_t i = 0; i < fr->n_platforms; i++)
		free(fr->platforms[i]);
	memset(fr, 0, sizeof(*fr));
}

struct cps_rules *cps_rules_new(size_t n_entities)
{
	struct cps_rules *r = calloc(1, sizeof(*r));

	if (r && n_entities && !(r->entities = calloc(n_entities, sizeof(*r->entities)))) {
		free(r);
		return NULL;
	}
	return r;
}

static void fields_release(struct cps_field_rule *fields, size_t n)
{
	for (size_t j = 0; j < n; j++)
		field_rule_release(&fields[j]);
	free(fields);
}

static void case_release(struct cps_rule_case *c)
{
	free(c->name);
	for (size_t i = 0; i < c->n_when; i++) {
		free(c->when[i].field);
		free(c->when[i].value);
	}
	free(c->when);
	field_rule_release(&c->dflt);
	fields_release(c->fields, c->n_fields);
}

void cps_rules_free(struct cps_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_entities; i++) {
		struct cps_entity_rules *e = &r->entities[i];

		free(e->entity);
		field_rule_release(&e->dflt);
		fields_release(e->fields, e->n_fields);
		for (size_t j = 0; j < e->n_cases; j++)
			case_release(&e->cases[j]);
		free(e->cases);
	}
	free(r->entities);
	free(r);
}

int cps_rules_add_platform(struct cps_field_rule *fr, const char *name, const char *where,
                           char *errstr, size_t errstr_size)
{
	if (!name || !*name)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s': empty platform name", where);
	if (fr->n_platforms >= CPS_RULE_MAX_PLATFORMS)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s': more than %d platforms", where,
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

int cps_rules_check(const struct cps_field_rule *fr, const char *where, char *errstr,
                    size_t errstr_size)
{
	if (fr->kind == CPS_RULE_PRECEDENCE && fr->n_platforms == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s': rule 'precedence' needs at least one platform",
		                  where);
	return CPS_OK;
}

const struct cps_entity_rules *cps_rules_entity(const struct cps_rules *r, const char *entity)
{
	for (size_t i = 0; r && entity && i < r->n_entities; i++)
		if (!strcmp(r->entities[i].entity, entity))
			return &r->entities[i];
	return NULL;
}

static const struct cps_field_rule *field_entry(const struct cps_field_rule *fields, size_t n,
                                                const char *field)
{
	for (size_t j = 0; field && j < n; j++)
		if (!strcmp(fields[j].field, field))
			return &fields[j];
	return NULL;
}

int cps_rules_is_condition(const struct cps_entity_rules *e, const char *field)
{
	for (size_t i = 0; e && field && i < e->n_cases; i++)
		for (size_t j = 0; j < e->cases[i].n_when; j++)
			if (!strcmp(e->cases[i].when[j].field, field))
				return 1;
	return 0;
}

const struct cps_field_rule *cps_rules_field(const struct cps_entity_rules *e,
                                             const struct cps_rule_case *c, const char *field)
{
	const struct cps_field_rule *fr;

	if (!e)
		return NULL;
	if (c && (fr = field_entry(c->fields, c->n_fields, field)))
		return fr;
	if ((fr = field_entry(e->fields, e->n_fields, field)))
		return fr;
	return c && c->has_dflt ? &c->dflt : &e->dflt;
}

const struct cps_field_rule *cps_rules_for(const struct cps_rules *r, const char *entity,
                                           const char *field, int *rule_version)
{
	const struct cps_entity_rules *e = cps_rules_entity(r, entity);

	if (e && rule_version)
		*rule_version = e->version;
	return cps_rules_field(e, NULL, field);
}
