/*
 * The parameters of one statement (pg_params.h): one place for the jsonb
 * texts a parameter set owns and frees, so the batch writer (store_batch.c)
 * and the steward's decision (store_steward_resolve.c) encode alike.
 */
#include "store/pg_params.h"

#include "base/common.h"
#include "store/jsonb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int cps_pg_params_json(struct cps_pg_params *p, int i, json_t *j, const char *def)
{
	int ok;

	p->owned[i] = cps_jsonb_param(j, def, &ok);
	p->v[i] = p->owned[i];
	return ok ? 0 : -1;
}

const char *cps_pg_params_int(struct cps_pg_params *p, int slot, int64_t n)
{
	snprintf(p->num[slot], sizeof(p->num[slot]), "%" PRId64, n);
	return p->num[slot];
}

void cps_pg_params_clear(struct cps_pg_params *p)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(p->owned); i++) {
		if (p->owned[i])
			p->v[i] = NULL;
		free(p->owned[i]);
		p->owned[i] = NULL;
	}
}
