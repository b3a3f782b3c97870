/*
 * Private to sync/reconcile's rules: what rules.c shares with the two ways
 * of building rules (rules_config.c from the configuration, rules_json.c
 * from case files): reading a rule's names, a new rule set, adding
 * platforms, the final check.
 */
#ifndef CPS_RULES_INT_H
#define CPS_RULES_INT_H

#include "reconcile/rules.h"

#include <stdbool.h>

/* The kind or disagreement named `name`; false when the name is unknown (or NULL). */
bool cps_rule_kind_parse(const char *name, enum cps_rule_kind *out);
bool cps_rule_disagree_parse(const char *name, enum cps_rule_disagree *out);

/* An empty rule set with room for `n_entities` entities (each builder
 * counts them in n_entities as it fills them); NULL when memory is out. */
struct cps_rules *cps_rules_new(size_t n_entities);

/* Appends a platform to fr (copied); `where` ("person.fields.name") names
 * the rule in errors: empty name, too many, listed twice. */
int cps_rules_add_platform(struct cps_field_rule *fr, const char *name, const char *where,
                           char *errstr, size_t errstr_size);
/* A precedence rule needs at least one platform. */
int cps_rules_check(const struct cps_field_rule *fr, const char *where, char *errstr,
                    size_t errstr_size);

#endif
