/*
 * The parameters of one statement (pg_params.c), as the store's batch
 * writer and the steward's decision fill them: texts, binary lengths and
 * formats, jsonb texts the set owns and room for integers as text.
 */
#ifndef CPS_PG_PARAMS_H
#define CPS_PG_PARAMS_H

#include <jansson.h>

#include <stdint.h>

#define CPS_PG_PARAMS_MAX 12

struct cps_pg_params {
	const char *v[CPS_PG_PARAMS_MAX]; /* NULL: SQL NULL */
	char *owned[CPS_PG_PARAMS_MAX];   /* jsonb texts, facts, provenance: freed by _clear */
	int len[CPS_PG_PARAMS_MAX];       /* of binary parameters */
	int fmt[CPS_PG_PARAMS_MAX];       /* 1: binary */
	char num[3][24];
};

/* Slot i: j's jsonb text (NULL json: `def`, NULL def: SQL NULL). 0, or -1
 * when out of memory. */
int cps_pg_params_json(struct cps_pg_params *p, int i, json_t *j, const char *def);
/* Slot i: the facts of `platforms` (store/state_facts.h) as a binary bytea
 * parameter the set owns. 0, or -1 (out of memory, or not an object). */
int cps_pg_params_facts(struct cps_pg_params *p, int i, json_t *platforms);
/* Slot i: the provenance object `prov` in its binary form (state_facts.h)
 * as a bytea parameter the set owns; SQL NULL when `prov` is no object.
 * 0, or -1 when out of memory. */
int cps_pg_params_prov(struct cps_pg_params *p, int i, json_t *prov);
/* n as text in p->num[slot], returned for a slot of v. */
const char *cps_pg_params_int(struct cps_pg_params *p, int slot, int64_t n);
/* Frees the jsonb texts and empties their slots; the other parameters stay
 * for a next statement. */
void cps_pg_params_clear(struct cps_pg_params *p);

#endif
