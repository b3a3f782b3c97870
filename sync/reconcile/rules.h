/*
 * Field-level survivorship rules (config `rules.<entity>`): for each field
 * of each entity, how the unified value is chosen among the platforms'
 * values, and what happens when lower-ranked platforms disagree. The rule
 * kinds are the reconciler's own; the configuration holds them as text.
 */
#ifndef CPS_RULES_H
#define CPS_RULES_H

#include <jansson.h>
#include <stddef.h>

struct cps_config;

enum cps_rule_kind {
	CPS_RULE_PRECEDENCE, /* the first platform of `platforms` that has a value wins */
	CPS_RULE_LATEST,     /* the newest effective time wins */
	CPS_RULE_MANUAL,     /* any disagreement opens a conflict */
};

enum cps_rule_disagree {
	CPS_DISAGREE_ACCEPT,   /* the winner is taken silently */
	CPS_DISAGREE_FLAG,     /* the winner is taken, the disagreement is recorded */
	CPS_DISAGREE_CONFLICT, /* a conflict is opened for the field */
};

#define CPS_RULE_MAX_PLATFORMS 8

struct cps_field_rule {
	char *field; /* NULL for an entity's default rule */
	enum cps_rule_kind kind;
	char *
	    platforms[CPS_RULE_MAX_PLATFORMS]; /* precedence order (also manual's fallback order) */
	size_t n_platforms;
	enum cps_rule_disagree on_disagree;
};

/* One condition of a case: the record's unified value of `field`, as text
 * (a string as is, a number in decimal, true/false), equals `value`. */
struct cps_rule_cond {
	char *field;
	char *value;
};

/* A conditional rule set (config `rules.<entity>.cases.<name>`): when every
 * condition holds for the record, its rules decide the record's other
 * fields. The first case that matches wins; provenance names it. */
struct cps_rule_case {
	char *name;
	struct cps_rule_cond *when;
	size_t n_when;
	int has_dflt; /* the case declares its own default */
	struct cps_field_rule dflt;
	struct cps_field_rule *fields;
	size_t n_fields;
};

struct cps_entity_rules {
	char *entity;
	int version; /* recorded in provenance: which rule set decided */
	struct cps_field_rule dflt;
	struct cps_field_rule *fields;
	size_t n_fields;
	struct cps_rule_case *cases; /* in the order written: the first match wins */
	size_t n_cases;
};

struct cps_rules {
	struct cps_entity_rules *entities;
	size_t n_entities;
};

/* From the config's `rules` section (validated key by key at load). Also
 * checks what the key table cannot: a `precedence` rule needs platforms,
 * and every platform it names is under `platforms`; those errors read
 * "FILE:LINE: key 'rules.<entity>.….platforms': …" (CPS_ERR_INVALID). */
int cps_rules_from_config(const struct cps_config *cfg, struct cps_rules **out, char *errstr,
                          size_t errstr_size);
/* From JSON of the same shape as the YAML section (reconciliation case files). */
int cps_rules_from_json(json_t *rules, struct cps_rules **out, char *errstr, size_t errstr_size);
void cps_rules_free(struct cps_rules *r);

/* The rule for `field` of `entity` (the entity default when the field has
 * none); NULL when the entity has no rules at all. */
const struct cps_field_rule *cps_rules_for(const struct cps_rules *r, const char *entity,
                                           const char *field, int *rule_version);

/* The rules of `entity`; NULL when it has none. */
const struct cps_entity_rules *cps_rules_entity(const struct cps_rules *r, const char *entity);

/* The rule for `field` when case `c` (NULL: none) matched the record: the
 * case's own entry for the field, else the entity's, else the case's
 * default (when it declares one), else the entity's default. A field a
 * condition of any case reads is always decided by the entity's own rules
 * (the case is chosen on its value). */
const struct cps_field_rule *cps_rules_field(const struct cps_entity_rules *e,
                                             const struct cps_rule_case *c, const char *field);

/* Whether some case of e reads `field` in a condition. */
int cps_rules_is_condition(const struct cps_entity_rules *e, const char *field);

/* "precedence", "latest", "manual"; "accept", "flag", "conflict" ("?" out of range). */
const char *cps_rule_kind_name(enum cps_rule_kind kind);
const char *cps_rule_disagree_name(enum cps_rule_disagree d);

/* ---- rules_canon.c: the rule set as cpsync stores it ---- */

/* JSON of the section's shape with every entry resolved (rule, platforms,
 * on_disagree), entities and fields by name, cases in order, no versions:
 * cps_rules_from_json reads it back to the same rules. New reference. */
json_t *cps_rules_to_json(const struct cps_rules *r);
/* The canonical text (compact cps_rules_to_json, to free) and its SHA-256
 * as 64 hex digits: equal rules, however written, hash the same. */
int cps_rules_canonical(const struct cps_rules *r, char **text, char hash[65]);
/* Sets every entity's version (what provenance records as rule_version):
 * a running cpsync uses the stored rule set's number. */
void cps_rules_set_version(struct cps_rules *r, int version);
/* Rules from a file's text: JSON (starting with '{') or YAML, either a
 * whole file with a `rules:` section or the section itself; errors name
 * the position or the key (CPS_ERR_INVALID). */
int cps_rules_from_text(const char *text, size_t len, struct cps_rules **out, char *errstr,
                        size_t errstr_size);
/* Every platform the rules name is one of `known` (the configuration's). */
int cps_rules_check_platforms(const struct cps_rules *r, const char *const *known, size_t n,
                              char *errstr, size_t errstr_size);

#endif
