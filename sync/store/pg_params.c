/*
 * The parameters of one statement (pg_params.h): one place for the jsonb
 * texts a parameter set owns and frees, so the batch writer (store_batch.c)
 * and the steward's decision (store_steward_resolve.c) encode alike.
 */
#include "store/pg_params.h"

#include "base/common.h"
#include "store/jsonb.h"
#include "store/state_facts.h"

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

/* Slot i: the bytes `encode` appends for `j`, a binary parameter the set owns. */
static int params_binary(struct cps_pg_params *p, int i, json_t *j, cps_tree_encode_fn *encode)
{
	struct cps_buf b;
	char err[CPS_ERRSTR_SIZE];

	cps_buf_init(&b, 0);
	if (encode(j, &b, err, sizeof(err)) != CPS_OK || b.len > INT32_MAX) {
		cps_buf_release(&b);
		return -1;
	}
	p->owned[i] = (char *)b.data; /* the buffer's malloc'd bytes, now the set's */
	p->v[i] = p->owned[i];
	p->len[i] = (int)b.len;
	p->fmt[i] = 1;
	return 0;
}

int cps_pg_params_facts(struct cps_pg_params *p, int i, json_t *platforms)
{
	return params_binary(p, i, platforms, cps_facts_encode);
}

int cps_pg_params_prov(struct cps_pg_params *p, int i, json_t *prov)
{
	if (!json_is_object(prov)) {
		p->v[i] = NULL;
		return 0;
	}
	return params_binary(p, i, prov, cps_prov_encode);
}

const char *cps_pg_params_int(struct cps_pg_params *p, int slot, int64_t n)
{
	snprintf(p->num[slot], sizeof(p->num[slot]), "%" PRId64, n);
	return p->num[slot];
}

void cps_pg_params_clear(struct cps_pg_params *p)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(p->owned); i++) {
		if (p->owned[i]) {
			p->v[i] = NULL;
			p->len[i] = p->fmt[i] = 0;
		}
		free(p->owned[i]);
		p->owned[i] = NULL;
	}
}
