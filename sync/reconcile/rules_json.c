/*
 * Rules from JSON of the same shape as the configuration's `rules` section,
 * as reconciliation case files carry them (tests/reconcile/cases/). A
 * field entry inherits what it does not set (platforms included) from its
 * entity's `default`; an absent default is `latest`/`accept`.
 */
#include "reconcile/rules_int.h"

#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills `out` from a JSON rule entry, inheriting from `dflt` (NULL: the
 * built-in latest/accept). */
static int rule_from_json(json_t *j, const struct cps_field_rule *dflt, const char *field,
                          const char *where, struct cps_field_rule *out, char *errstr,
                          size_t errstr_size)
{
	json_t *rule, *dis, *plats;
	const char *k;
	json_t *v;
	int rc;

	if (!json_is_object(j))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "rules '%s': not an object",
		                  where);
	json_object_foreach (j, k, v) {
		if (strcmp(k, "rule") && strcmp(k, "platforms") && strcmp(k, "on_disagree"))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules '%s': unknown key '%.64s'", where, k);
	}
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
	if (!(r = cps_rules_new(n)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	json_object_foreach (rules, name, ej) {
		struct cps_entity_rules *e = &r->entities[r->n_entities++];
		json_t *ver, *def, *fields, *fj;
		const char *k;
		json_t *empty = NULL;

		if (!(e->entity = strdup(name))) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto fail;
		}
		if (!json_is_object(ej)) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "rules '%.64s': not an object", name);
			goto fail;
		}
		json_object_foreach (ej, k, fj) {
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
				rc = cps_seterr(
				    CPS_ERR_INVALID, errstr, errstr_size,
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
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "rules '%.64s.fields': not an object", name);
			goto fail;
		}
		if (json_object_size(fields) &&
		    !(e->fields = calloc(json_object_size(fields), sizeof(*e->fields)))) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto fail;
		}
		json_object_foreach (fields, k, fj) {
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
