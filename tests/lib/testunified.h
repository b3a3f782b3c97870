/*
 * What the unified-event tests share: the schema catalog, rules and a
 * unified-event encoder (Confluent framing, registry-free ids).
 */
#ifndef CPS_TESTUNIFIED_H
#define CPS_TESTUNIFIED_H

#include "codec/schema.h"
#include "reconcile/rules.h"
#include "reconcile/unified.h"

#include <jansson.h>

struct cps_test_unified {
	struct cps_catalog *catalog;
	struct cps_rules *rules;
	struct cps_unified *unified;
};

/* Loads the catalog of $CPSYNC_SCHEMA_DIR (default: the source tree's
 * schemas/), the rules of `rules_json` (a reference is taken) and the
 * encoder. 0, or -1 with the reason on stderr (what failed is freed). */
int cps_test_unified_open(json_t *rules_json, struct cps_test_unified *t);
void cps_test_unified_close(struct cps_test_unified *t);

#endif
