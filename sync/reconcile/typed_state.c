/*
 * The typed key state's tables (typed_state.h): the state itself, its
 * stamps and its platforms, all in one arena.
 */
#include "reconcile/typed_state.h"

#include "base/common.h"

#include <string.h>

/* Grows an arena array of `*cap` elements of `size` bytes to hold `need`:
 * a new array (the old one stays in the arena until its reset). */
static int arena_grow(struct cps_arena *a, void **arr, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t ncap = *cap ? *cap : 4;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	n = cps_arena_alloc(a, (size_t)ncap * size);
	if (!n)
		return -1;
	if (*cap)
		memcpy(n, *arr, (size_t)*cap * size);
	*arr = n;
	*cap = ncap;
	return 0;
}

int cps_tstate_init(struct cps_tstate *st, const struct cps_record_schema *rs, const char *entity,
                    const char *key, struct cps_arena *arena, char *errstr, size_t errstr_size)
{
	const struct cps_rtype *root = rs ? rs->root : NULL;

	memset(st, 0, sizeof(*st));
	if (!root || root->kind != CPS_RK_RECORD)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "typed state of entity '%.32s' without a record schema",
		                  entity ? entity : "");
	st->rs = rs;
	st->arena = arena;
	st->n_fields = (uint32_t)root->n;
	st->entity = cps_arena_strdup(arena, entity);
	st->key = cps_arena_strdup(arena, key);
	st->record = cps_arena_calloc(arena, st->n_fields, sizeof(*st->record));
	st->prov = cps_arena_calloc(arena, st->n_fields, sizeof(*st->prov));
	st->conf = cps_arena_calloc(arena, st->n_fields, sizeof(*st->conf));
	if (!st->entity || !st->key || !st->record || !st->prov || !st->conf)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}

static bool same_pos(const char *a, const char *b, size_t b_len)
{
	return a ? b && strlen(a) == b_len && !memcmp(a, b, b_len) : !b;
}

uint32_t cps_tstate_stamp(struct cps_tstate *st, int64_t eff, int64_t src, const char *pos)
{
	return cps_tstate_stampn(st, eff, src, pos, pos ? strlen(pos) : 0);
}

uint32_t cps_tstate_stampn(struct cps_tstate *st, int64_t eff, int64_t src, const char *pos,
                           size_t pos_len)
{
	struct cps_tstamp *s;

	/* a state holds a handful of distinct stamps: a scan beats a hash */
	for (uint32_t i = 0; i < st->n_stamps; i++) {
		s = &st->stamps[i];
		if (s->eff == eff && s->src == src && same_pos(s->pos, pos, pos_len))
			return i;
	}
	if (arena_grow(st->arena, (void **)&st->stamps, &st->cap_stamps, st->n_stamps + 1,
	               sizeof(*st->stamps)))
		return CPS_TSTATE_NONE;
	s = &st->stamps[st->n_stamps];
	*s = (struct cps_tstamp){.eff = eff, .src = src};
	if (pos && !(s->pos = cps_arena_strndup(st->arena, pos, pos_len)))
		return CPS_TSTATE_NONE;
	return st->n_stamps++;
}

uint32_t cps_tstate_platform(struct cps_tstate *st, const char *name, bool add)
{
	return cps_tstate_platformn(st, name, strlen(name), add);
}

uint32_t cps_tstate_platformn(struct cps_tstate *st, const char *name, size_t len, bool add)
{
	struct cps_tplatform *p;

	for (uint32_t i = 0; i < st->n_platforms; i++)
		if (strlen(st->platforms[i].name) == len &&
		    !memcmp(st->platforms[i].name, name, len))
			return i;
	if (!add || arena_grow(st->arena, (void **)&st->platforms, &st->cap_platforms,
	                       st->n_platforms + 1, sizeof(*st->platforms)))
		return CPS_TSTATE_NONE;
	p = &st->platforms[st->n_platforms];
	*p = (struct cps_tplatform){.stamp = CPS_TSTATE_NONE};
	p->name = cps_arena_strndup(st->arena, name, len);
	p->facts = cps_arena_alloc(st->arena, (size_t)st->n_fields * sizeof(*p->facts));
	if (!p->name || !p->facts)
		return CPS_TSTATE_NONE;
	for (uint32_t f = 0; f < st->n_fields; f++)
		p->facts[f] = (struct cps_tfact){.stamp = CPS_TSTATE_NONE};
	return st->n_platforms++;
}

struct cps_tbytes cps_tstate_keep(struct cps_tstate *st, const struct cps_buf *b)
{
	uint8_t *p = b->len <= UINT32_MAX ? cps_arena_alloc(st->arena, b->len) : NULL;

	if (!p)
		return (struct cps_tbytes){0};
	memcpy(p, b->data, b->len);
	return (struct cps_tbytes){p, (uint32_t)b->len};
}

int cps_tstate_value_from_json(struct cps_tstate *st, const struct cps_rfield *f, const json_t *j,
                               struct cps_buf *scratch, struct cps_tbytes *out)
{
	cps_buf_reset(scratch);
	if (cps_record_encode_json_at(f->type, j, scratch, NULL, 0) != CPS_OK)
		return CPS_ERR_INVALID;
	*out = cps_tstate_keep(st, scratch);
	return out->p ? CPS_OK : CPS_ERR_FATAL;
}
