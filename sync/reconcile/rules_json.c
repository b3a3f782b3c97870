/*
 * Rules from JSON of the same shape as the configuration's `rules` section,
 * as reconciliation case files carry them (tests/reconcile/cases/). A
 * field entry inherits what it does not set (platforms included) from its
 * entity's `default` (in a case: from the case's `default` when it has one);
 * an absent default is `latest`/`accept`. `cases` keep their written order.
 */
#include "reconcile/rules_int.h"

#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rule_keys[] = {"rule", "platforms", "on_disagree", NULL};
static const char *const case_keys[] = {"when", "default", "fields", NULL};
static const char *const entity_keys[] = {"version", "default", "fields", "cases", NULL};

/* Only the keys of `allowed` (NULL-terminated) in object j. */
static int only_keys(json_t *j, const char *const *allowed, const char *where, char *errstr,
                     size_t errstr_size)
{
	const char *k;
	json_t *v;

	json_object_foreach (j, k, v) {
		size_t i = 0;

		while (allowed[i] && strcmp(allowed[i], k))
			i++;
		if (!allowed[i])
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules '%s': unknown key '%.64s'", where, k);
	}
	return CPS_OK;
}

/* Fills `out` from a JSON rule entry, inheriting from `dflt` (NULL: the
 * built-in latest/accept). */
static int rule_from_json(json_t *j, const struct cps_field_rule *dflt, const char *field,
                          const char *where, struct cps_field_rule *out, char *errstr,
                          size_t errstr_size)
{
	json_t *rule, *dis, *plats, *v;
	int rc;

	if (!json_is_object(j))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': not an object",
		                  where);
	if ((rc = only_keys(j, rule_keys, where, errstr, errstr_size)) < 0)
		return rc;
	rule = json_object_get(j, "rule");
	dis = json_object_get(j, "on_disagree");
	plats = json_object_get(j, "platforms");
	out->kind = dflt ? dflt->kind : CPS_RULE_LATEST;
	out->on_disagree = dflt ? dflt->on_disagree : CPS_DISAGREE_ACCEPT;
	if (rule && !cps_rule_kind_parse(json_string_value(rule), &out->kind))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s': rule must be precedence, latest or manual", where);
	if (dis && !cps_rule_disagree_parse(json_string_value(dis), &out->on_disagree))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s': on_disagree must be accept, flag or conflict",
		                  where);
	if (field && !(out->field = strdup(field)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (plats) {
		size_t i;

		if (!json_is_array(plats))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules '%s': platforms must be a list", where);
		json_array_foreach (plats, i, v) {
			rc = cps_rules_add_platform(out, json_string_value(v), where, errstr,
			                            errstr_size);
			if (rc < 0)
				return rc;
		}
	} else {
		for (size_t i = 0; dflt && i < dflt->n_platforms; i++) {
			rc = cps_rules_add_platform(out, dflt->platforms[i], where, errstr,
			                            errstr_size);
			if (rc < 0)
				return rc;
		}
	}
	return cps_rules_check(out, where, errstr, errstr_size);
}

/* The entries of a `fields` object into *out (n_out counts them as they
 * fill), each inheriting from `dflt`. */
static int fields_from_json(json_t *fields, const struct cps_field_rule *dflt, const char *prefix,
                            struct cps_field_rule **out, size_t *n_out, char *errstr,
                            size_t errstr_size)
{
	char where[256];
	const char *k;
	json_t *fj;
	int rc;

	if (!fields)
		return CPS_OK;
	if (!json_is_object(fields))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s.fields': not an object", prefix);
	if (json_object_size(fields) && !(*out = calloc(json_object_size(fields), sizeof(**out))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	json_object_foreach (fields, k, fj) {
		snprintf(where, sizeof(where), "%s.fields.%.64s", prefix, k);
		rc = rule_from_json(fj, dflt, k, where, &(*out)[(*n_out)++], errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

/* A condition's value as text: a string as is, an integer in decimal, a boolean. */
static char *cond_text(json_t *v)
{
	char buf[32];

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "true" : "false");
	return NULL;
}

/* Case `name` (object cj) of entity e into out. */
static int case_from_json(const struct cps_entity_rules *e, const char *name, json_t *cj,
                          struct cps_rule_case *out, char *errstr, size_t errstr_size)
{
	json_t *when = json_object_get(cj, "when"), *def = json_object_get(cj, "default"), *v;
	char prefix[160], where[200];
	const char *k;
	int rc;

	snprintf(prefix, sizeof(prefix), "%.64s.cases.%.64s", e->entity, name);
	if (!json_is_object(cj))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': not an object",
		                  prefix);
	if ((rc = only_keys(cj, case_keys, prefix, errstr, errstr_size)) < 0)
		return rc;
	if (!json_is_object(when) || json_object_size(when) == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%s.when': a case needs at least one condition", prefix);
	if (!(out->name = strdup(name)) ||
	    !(out->when = calloc(json_object_size(when), sizeof(*out->when))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	json_object_foreach (when, k, v) {
		struct cps_rule_cond *cond = &out->when[out->n_when++];

		if (json_object_get(json_object_get(cj, "fields"), k))
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "rules '%s.fields.%.64s': the case's condition reads this field, so the entity's own rules decide it",
			    prefix, k);
		if (!(cond->field = strdup(k)))
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (!(cond->value = cond_text(v)))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules '%s.when.%.64s': a string, integer or boolean",
			                  prefix, k);
	}
	if (def) {
		out->has_dflt = 1;
		snprintf(where, sizeof(where), "%s.default", prefix);
		rc = rule_from_json(def, &e->dflt, NULL, where, &out->dflt, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return fields_from_json(json_object_get(cj, "fields"), def ? &out->dflt : &e->dflt, prefix,
	                        &out->fields, &out->n_fields, errstr, errstr_size);
}

/* The cases of entity e (object `cases`, in order). */
static int cases_from_json(struct cps_entity_rules *e, json_t *cases, char *errstr,
                           size_t errstr_size)
{
	const char *k;
	json_t *cj;
	int rc;

	if (!cases)
		return CPS_OK;
	if (!json_is_object(cases))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%.64s.cases': not an object", e->entity);
	if (json_object_size(cases) &&
	    !(e->cases = calloc(json_object_size(cases), sizeof(*e->cases))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	json_object_foreach (cases, k, cj) {
		rc = case_from_json(e, k, cj, &e->cases[e->n_cases++], errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

/* Entity `name` (object ej) into e. */
static int entity_from_json(const char *name, json_t *ej, struct cps_entity_rules *e, char *errstr,
                            size_t errstr_size)
{
	json_t *ver, *def, *empty = NULL;
	char where[256];
	int rc;

	if (!(e->entity = strdup(name)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (!json_is_object(ej))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "rules '%.64s': not an object", name);
	if ((rc = only_keys(ej, entity_keys, e->entity, errstr, errstr_size)) < 0)
		return rc;
	ver = json_object_get(ej, "version");
	e->version = 1;
	if (ver) {
		if (!json_is_integer(ver) || json_integer_value(ver) < 1 ||
		    json_integer_value(ver) > 1000000)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules '%.64s': version must be an integer 1..1000000",
			                  name);
		e->version = (int)json_integer_value(ver);
	}
	def = json_object_get(ej, "default");
	if (!def)
		def = empty = json_object();
	snprintf(where, sizeof(where), "%.64s.default", name);
	rc = rule_from_json(def, NULL, NULL, where, &e->dflt, errstr, errstr_size);
	json_decref(empty);
	if (rc != CPS_OK)
		return rc;
	rc = fields_from_json(json_object_get(ej, "fields"), &e->dflt, e->entity, &e->fields,
	                      &e->n_fields, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	return cases_from_json(e, json_object_get(ej, "cases"), errstr, errstr_size);
}

int cps_rules_from_json(json_t *rules, struct cps_rules **out, char *errstr, size_t errstr_size)
{
	struct cps_rules *r;
	const char *name;
	json_t *ej;
	int rc;

	*out = NULL;
	if (!json_is_object(rules))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules: not an object");
	if (!(r = cps_rules_new(json_object_size(rules))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	json_object_foreach (rules, name, ej) {
		rc = entity_from_json(name, ej, &r->entities[r->n_entities++], errstr, errstr_size);
		if (rc != CPS_OK) {
			cps_rules_free(r);
			return rc;
		}
	}
	*out = r;
	return CPS_OK;
}
