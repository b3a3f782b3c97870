/*
 * A rule set's canonical form and hash (cpsync.rule_sets): every entry with
 * its inheritance resolved, entities and fields by name, cases in their
 * written order (the first match wins), versions left out; compact JSON,
 * hashed with SHA-256. Also rules from a file's text (YAML or JSON) and the
 * checks a file must pass before a running cpsync takes it.
 */
#include "reconcile/rules_int.h"

#include "base/common.h"
#include "base/sha256.h"
#include "config/yaml_json.h"

#include <stdlib.h>
#include <string.h>

static json_t *rule_json(const struct cps_field_rule *fr)
{
	json_t *plats = json_array();

	for (size_t i = 0; plats && i < fr->n_platforms; i++)
		if (json_array_append_new(plats, json_string(fr->platforms[i])) < 0) {
			json_decref(plats);
			plats = NULL;
		}
	if (!plats)
		return NULL;
	return json_pack("{s:s, s:o, s:s}", "rule", cps_rule_kind_name(fr->kind), "platforms",
	                 plats, "on_disagree", cps_rule_disagree_name(fr->on_disagree));
}

/* qsort comparator of pointers to structs whose first member is a name
 * (struct cps_field_rule's field, cps_rule_cond's, cps_entity_rules' entity). */
static int by_name(const void *a, const void *b)
{
	const char *x = **(const char *const *const *)a, *y = **(const char *const *const *)b;

	return strcmp(x ? x : "", y ? y : "");
}

/* The `fields` object of n rules, by field name. */
static json_t *fields_json(const struct cps_field_rule *f, size_t n)
{
	const struct cps_field_rule **sorted = calloc(n ? n : 1, sizeof(*sorted));
	json_t *out = sorted ? json_object() : NULL;

	for (size_t i = 0; i < n; i++)
		sorted[i] = &f[i];
	if (sorted)
		qsort(sorted, n, sizeof(*sorted), by_name);
	for (size_t i = 0; out && i < n; i++)
		if (json_object_set_new(out, sorted[i]->field, rule_json(sorted[i])) < 0) {
			json_decref(out);
			out = NULL;
		}
	free(sorted);
	return out;
}

static json_t *case_json(const struct cps_rule_case *c)
{
	const struct cps_rule_cond **when = calloc(c->n_when ? c->n_when : 1, sizeof(*when));
	json_t *w = when ? json_object() : NULL, *out;

	for (size_t i = 0; i < c->n_when; i++)
		when[i] = &c->when[i];
	if (when)
		qsort(when, c->n_when, sizeof(*when), by_name);
	for (size_t i = 0; w && i < c->n_when; i++)
		if (json_object_set_new(w, when[i]->field, json_string(when[i]->value)) < 0) {
			json_decref(w);
			w = NULL;
		}
	free(when);
	out = w ? json_pack("{s:o, s:o}", "when", w, "fields", fields_json(c->fields, c->n_fields))
	        : NULL;
	if (out && c->has_dflt && json_object_set_new(out, "default", rule_json(&c->dflt)) < 0) {
		json_decref(out);
		out = NULL;
	}
	return out;
}

static json_t *entity_json(const struct cps_entity_rules *e)
{
	json_t *cases = json_object(), *out;

	for (size_t i = 0; cases && i < e->n_cases; i++)
		if (json_object_set_new(cases, e->cases[i].name, case_json(&e->cases[i])) < 0) {
			json_decref(cases);
			cases = NULL;
		}
	if (!cases)
		return NULL;
	out = json_pack("{s:o, s:o}", "default", rule_json(&e->dflt), "fields",
	                fields_json(e->fields, e->n_fields));
	if (out && e->n_cases && json_object_set_new(out, "cases", cases) < 0) {
		json_decref(out);
		return NULL;
	}
	if (!out || !e->n_cases)
		json_decref(cases);
	return out;
}

json_t *cps_rules_to_json(const struct cps_rules *r)
{
	const struct cps_entity_rules **sorted = calloc(r->n_entities + 1, sizeof(*sorted));
	json_t *out = sorted ? json_object() : NULL;

	for (size_t i = 0; sorted && i < r->n_entities; i++)
		sorted[i] = &r->entities[i];
	if (sorted)
		qsort(sorted, r->n_entities, sizeof(*sorted), by_name);
	for (size_t i = 0; out && i < r->n_entities; i++)
		if (json_object_set_new(out, sorted[i]->entity, entity_json(sorted[i])) < 0) {
			json_decref(out);
			out = NULL;
		}
	free(sorted);
	return out;
}

int cps_rules_canonical(const struct cps_rules *r, char **text, char hash[65])
{
	json_t *j = cps_rules_to_json(r);
	struct cps_sha256 sha;

	*text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (!*text)
		return CPS_ERR_FATAL;
	cps_sha256_init(&sha);
	cps_sha256_update(&sha, *text, strlen(*text));
	cps_sha256_final_hex(&sha, hash);
	return CPS_OK;
}

void cps_rules_set_version(struct cps_rules *r, int version)
{
	for (size_t i = 0; i < r->n_entities; i++)
		r->entities[i].version = version;
}

static int platform_known(const char *name, const char *const *known, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(known[i], name))
			return 1;
	return 0;
}

static int check_rule(const struct cps_field_rule *fr, const char *entity, const char *const *known,
                      size_t n, char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < fr->n_platforms; i++)
		if (!platform_known(fr->platforms[i], known, n))
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "rules '%.64s.%.64s': unknown platform '%.64s' (not under "
			    "'platforms')",
			    entity, fr->field ? fr->field : "default", fr->platforms[i]);
	return CPS_OK;
}

int cps_rules_check_platforms(const struct cps_rules *r, const char *const *known, size_t n,
                              char *errstr, size_t errstr_size)
{
	int rc = CPS_OK;

	for (size_t i = 0; !rc && i < r->n_entities; i++) {
		const struct cps_entity_rules *e = &r->entities[i];

		rc = check_rule(&e->dflt, e->entity, known, n, errstr, errstr_size);
		for (size_t f = 0; !rc && f < e->n_fields; f++)
			rc = check_rule(&e->fields[f], e->entity, known, n, errstr, errstr_size);
		for (size_t c = 0; !rc && c < e->n_cases; c++) {
			const struct cps_rule_case *rc_ = &e->cases[c];

			if (rc_->has_dflt)
				rc = check_rule(&rc_->dflt, e->entity, known, n, errstr,
				                errstr_size);
			for (size_t f = 0; !rc && f < rc_->n_fields; f++)
				rc = check_rule(&rc_->fields[f], e->entity, known, n, errstr,
				                errstr_size);
		}
	}
	return rc;
}

int cps_rules_from_text(const char *text, size_t len, struct cps_rules **out, char *errstr,
                        size_t errstr_size)
{
	char err[CPS_ERRSTR_SIZE];
	json_t *doc = NULL, *section;
	json_error_t jerr;
	size_t i = 0;
	int rc;

	*out = NULL;
	while (i < len && strchr(" \t\r\n", text[i]))
		i++;
	if (i < len && text[i] == '{') {
		doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
		if (!doc)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "rules: not JSON at %d:%d: %s", jerr.line, jerr.column,
			                  jerr.text);
	} else if ((rc = cps_yaml_to_json(text, len, &doc, err, sizeof(err))) != CPS_OK) {
		return cps_seterr(rc, errstr, errstr_size, "rules: not YAML at %s", err);
	}
	/* a whole file with a `rules:` section, or the section itself */
	section = json_object_get(doc, "rules");
	if (!json_is_object(section))
		section = doc;
	if (!json_is_object(section) || !json_object_size(section))
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "rules: no entity's rules (a `rules:` map, or the map itself)");
	else
		rc = cps_rules_from_json(section, out, errstr, errstr_size);
	json_decref(doc);
	return rc;
}
