/*
 * A unified event as a sink reads it (struct cps_sink_event): the members
 * of the typed value cps_unified_decode_typed gives, found by name on its
 * compiled type. No JSON: the record is encoded for an Avro target straight
 * from these values, and turned into JSON only for a JSON target.
 */
#include "sink/sink_runner_int.h"
#include "base/common.h"

#include <string.h>

/* Member `name` of record value v of type t, or NULL; *ft its type. */
static struct cps_tval *member(const struct cps_rtype *t, struct cps_tval *v, const char *name,
                               const struct cps_rtype **ft)
{
	const struct cps_rfield *f = cps_rtype_field(t, name);

	if (!f || v->kind != CPS_RK_RECORD || f->index >= v->u.list.n)
		return NULL;
	*ft = f->type;
	return &v->u.list.v[f->index];
}

/* The type of a union value's branch, or t itself outside unions. */
static const struct cps_rtype *branch_type(const struct cps_rtype *t, const struct cps_tval *v)
{
	if (t->kind != CPS_RK_UNION)
		return t;
	return v->branch >= 0 && (size_t)v->branch < t->n ? t->branches[v->branch] : NULL;
}

static int bad(char *errstr, size_t errstr_size, const char *name)
{
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
	                  "unified event without a usable '%s'", name);
}

int cps_sink_event_read(const struct cps_rtype *type, struct cps_tval *v,
                        struct cps_sink_event *out, char *errstr, size_t errstr_size)
{
	const struct cps_rtype *kt, *vt, *ot, *rt, *pt, *ct, *qt;
	struct cps_tval *key = member(type, v, "key", &kt);
	struct cps_tval *version = member(type, v, "version", &vt);
	struct cps_tval *op = member(type, v, "operation", &ot);
	struct cps_tval *rec = member(type, v, "record", &rt);
	struct cps_tval *prov = member(type, v, "provenance", &pt);
	struct cps_tval *changed = member(type, v, "changed_fields", &ct);
	struct cps_tval *prior = member(type, v, "prior_platforms", &qt);
	const struct cps_rtype *entry;

	memset(out, 0, sizeof(*out));
	/* a NUL would cut the key short where it is used as a C string */
	if (!key || key->kind != CPS_RK_STRING || memchr(key->u.b.ptr, '\0', key->u.b.len))
		return bad(errstr, errstr_size, "key");
	if (!version || version->kind != CPS_RK_LONG)
		return bad(errstr, errstr_size, "version");
	if (!op || op->kind != CPS_RK_ENUM || op->u.i < 0 || (size_t)op->u.i >= ot->n)
		return bad(errstr, errstr_size, "operation");
	if (!rec || !(rt = branch_type(rt, rec)))
		return bad(errstr, errstr_size, "record");
	if (!prov || prov->kind != CPS_RK_ARRAY || !(entry = pt->items) ||
	    entry->kind != CPS_RK_RECORD)
		return bad(errstr, errstr_size, "provenance");
	if (!changed || changed->kind != CPS_RK_ARRAY || ct->items->kind != CPS_RK_STRING)
		return bad(errstr, errstr_size, "changed_fields");
	if (!prior || prior->kind != CPS_RK_ARRAY || qt->items->kind != CPS_RK_ENUM)
		return bad(errstr, errstr_size, "prior_platforms");
	out->key = (const char *)key->u.b.ptr;
	out->key_len = key->u.b.len;
	out->version = version->u.i;
	out->is_delete = !strcmp(ot->symbols[op->u.i], "DELETE");
	out->record_type = rec->kind == CPS_RK_RECORD ? rt : NULL;
	out->record = rec->kind == CPS_RK_RECORD ? rec : NULL;
	out->provenance = prov;
	out->entry_type = entry;
	out->entry_field = cps_rtype_field(entry, "field");
	out->entry_platform = cps_rtype_field(entry, "platform");
	if (!out->entry_field)
		return bad(errstr, errstr_size, "provenance");
	out->changed_fields = changed;
	out->prior_platforms = prior;
	out->platform_type = qt->items;
	return CPS_OK;
}

bool cps_sink_event_entry(const struct cps_sink_event *ev, size_t i, struct cps_sink_entry *out)
{
	const struct cps_tval *e = &ev->provenance->u.list.v[i], *field, *platform;
	const struct cps_rtype *pt;

	if (e->kind != CPS_RK_RECORD || ev->entry_field->index >= e->u.list.n)
		return false;
	field = &e->u.list.v[ev->entry_field->index];
	if (field->kind != CPS_RK_STRING)
		return false;
	out->field = (const char *)field->u.b.ptr;
	out->field_len = field->u.b.len;
	out->platform = NULL; /* a steward's value */
	if (!ev->entry_platform || ev->entry_platform->index >= e->u.list.n)
		return true;
	platform = &e->u.list.v[ev->entry_platform->index];
	pt = branch_type(ev->entry_platform->type, platform);
	if (pt && platform->kind == CPS_RK_ENUM && platform->u.i >= 0 &&
	    (size_t)platform->u.i < pt->n)
		out->platform = pt->symbols[platform->u.i];
	return true;
}

int cps_sink_decode_event(struct cps_sink_runner *r, int ei, const void *buf, size_t len,
                          struct cps_sink_event *out, char *errstr, size_t errstr_size)
{
	struct cps_tval *v = cps_arena_alloc(&r->values, sizeof(*v));
	const struct cps_rtype *type;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!v)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = cps_unified_decode_typed(r->unified, cps_entities[ei], buf, len, &r->values, &type, v,
	                              errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_sink_event_read(type, v, out, errstr, errstr_size);
	return rc;
}
