#include "testunified.h"

#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cps_test_unified_open(json_t *rules_json, struct cps_test_unified *t)
{
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	struct cps_unified_conf uc = {.framing = CPS_FRAMING_CONFLUENT};
	char err[CPS_ERRSTR_SIZE];
	const char *what = "catalog";

	memset(t, 0, sizeof(*t));
	if (cps_catalog_load_dir(dir ? dir : CPSYNC_SOURCE_DIR "/schemas", &t->catalog, err,
	                         sizeof(err)) != CPS_OK)
		goto fail;
	what = "rules";
	if (!rules_json || cps_rules_from_json(rules_json, &t->rules, err, sizeof(err)) != CPS_OK)
		goto fail;
	what = "unified";
	uc.catalog = t->catalog;
	if (cps_unified_new(&uc, &t->unified, err, sizeof(err)) != CPS_OK)
		goto fail;
	return 0;

fail:
	fprintf(stderr, "%s: %s\n", what, rules_json ? err : "no rules");
	cps_test_unified_close(t);
	return -1;
}

void cps_test_unified_close(struct cps_test_unified *t)
{
	cps_unified_free(t->unified);
	cps_rules_free(t->rules);
	cps_catalog_free(t->catalog);
	memset(t, 0, sizeof(*t));
}
