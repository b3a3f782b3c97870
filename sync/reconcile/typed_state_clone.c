/*
 * A typed key state copied into another arena (typed_state.h): applying
 * events only adds to a state's arena, so a state kept across batches is
 * copied now and then to leave what it no longer refers to behind.
 */
#include "reconcile/typed_state.h"

#include "base/common.h"

#include <string.h>

struct clone {
	struct cps_arena *arena;
	int oom;
};

static void *dup_mem(struct clone *c, const void *p, size_t n)
{
	void *q;

	if (!p || !n)
		return (void *)p;
	q = cps_arena_alloc(c->arena, n);
	if (!q) {
		c->oom = 1;
		return NULL;
	}
	return memcpy(q, p, n);
}

static const char *dup_str(struct clone *c, const char *s)
{
	const char *q = s ? cps_arena_strdup(c->arena, s) : NULL;

	c->oom |= s && !q;
	return q;
}

static struct cps_tbytes dup_bytes(struct clone *c, struct cps_tbytes v)
{
	return (struct cps_tbytes){dup_mem(c, v.p, v.len), v.len};
}

static void clone_platforms(struct clone *c, const struct cps_tstate *src, struct cps_tstate *dst)
{
	dst->platforms = dup_mem(c, src->platforms, src->n_platforms * sizeof(*src->platforms));
	dst->n_platforms = dst->cap_platforms = src->n_platforms;
	for (uint32_t i = 0; dst->platforms && i < src->n_platforms; i++) {
		struct cps_tplatform *p = &dst->platforms[i];

		p->name = dup_str(c, p->name);
		p->facts = dup_mem(c, p->facts, src->n_fields * sizeof(*p->facts));
		for (uint32_t f = 0; p->facts && f < src->n_fields; f++)
			p->facts[f].v = dup_bytes(c, p->facts[f].v);
	}
}

static void clone_fields(struct clone *c, const struct cps_tstate *src, struct cps_tstate *dst)
{
	for (uint32_t f = 0; f < src->n_fields; f++) {
		struct cps_tprov *p = &dst->prov[f];
		struct cps_tconflict *k = &dst->conf[f];

		dst->record[f] = dup_bytes(c, src->record[f]);
		*p = src->prov[f];
		p->rule = dup_str(c, p->rule);
		p->rcase = dup_str(c, p->rcase);
		p->steward = dup_str(c, p->steward);
		p->reason = dup_str(c, p->reason);
		p->disagreeing = dup_mem(c, p->disagreeing, p->n_disagreeing * sizeof(uint32_t));
		*k = src->conf[f];
		k->rule = dup_str(c, k->rule);
		k->cands = dup_mem(c, k->cands, k->n_cands * sizeof(*k->cands));
		for (uint32_t i = 0; k->cands && i < k->n_cands; i++)
			k->cands[i].v = dup_bytes(c, k->cands[i].v);
	}
}

int cps_tstate_clone(const struct cps_tstate *src, struct cps_arena *arena, struct cps_tstate *dst)
{
	struct clone c = {arena, 0};
	int rc = cps_tstate_init(dst, src->rs, src->entity, src->key, arena, NULL, 0);

	if (rc != CPS_OK)
		return rc;
	dst->version = src->version;
	dst->deleted = src->deleted;
	dst->has_record = src->has_record;
	dst->stamps = dup_mem(&c, src->stamps, src->n_stamps * sizeof(*src->stamps));
	dst->n_stamps = dst->cap_stamps = src->n_stamps;
	for (uint32_t i = 0; dst->stamps && i < src->n_stamps; i++)
		dst->stamps[i].pos = dup_str(&c, dst->stamps[i].pos);
	clone_platforms(&c, src, dst);
	clone_fields(&c, src, dst);
	return c.oom ? CPS_ERR_FATAL : CPS_OK;
}
