/*
 * The unified event written straight to Avro binary from a key state, on the
 * compiled <entity>_event schema: no Avro JSON event is built per version
 * (cps_unified_event_json stays the reference: unit.test_unified_encode
 * holds the two byte-equal). Fields are found by name in the compiled
 * schema, so a schema that gains a field this encoder does not know is
 * refused, not written wrong.
 */
#include "reconcile/unified_int.h"

#include "reconcile/typed_int.h"

#include "base/common.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct uenc {
	struct cps_buf *out;
	char *errstr;
	size_t errstr_size;
};

static int put_long(struct uenc *e, int64_t v)
{
	uint8_t b[10];

	return cps_buf_append(e->out, b, cps_avro_long_put(b, v)) ? CPS_ERR_FATAL : CPS_OK;
}

static int put_string(struct uenc *e, const char *s)
{
	size_t n = strlen(s);

	if (put_long(e, (int64_t)n) || cps_buf_append(e->out, s, n))
		return CPS_ERR_FATAL;
	return CPS_OK;
}

static int refuse(struct uenc *e, const char *what, const char *name)
{
	return cps_seterr(CPS_ERR_FATAL, e->errstr, e->errstr_size,
	                  "unified event: %s '%s' unknown to the encoder", what, name);
}

/* The enum symbol `sym` of enum type t, as its index. */
static int put_symbol(struct uenc *e, const struct cps_rtype *t, const char *sym)
{
	for (size_t k = 0; t->kind == CPS_RK_ENUM && k < t->n; k++)
		if (!strcmp(t->symbols[k], sym))
			return put_long(e, (int64_t)k);
	return refuse(e, "symbol", sym);
}

/* The platform name "city" as its cpsync.Platform symbol "CITY". */
static int put_platform(struct uenc *e, const struct cps_rtype *t, const char *name)
{
	char up[CPS_NAME_MAX];
	size_t k;

	for (k = 0; name[k] && k + 1 < sizeof(up); k++)
		up[k] = (char)toupper((unsigned char)name[k]);
	up[k] = 0;
	return put_symbol(e, t, up);
}

/* Selects the branch of union u: the null one when `present` is false, else
 * the other one (cpsync's unions are [null, X]); *x is X's type. */
static int put_branch(struct uenc *e, const struct cps_rtype *u, bool present,
                      const struct cps_rtype **x)
{
	int32_t b;

	if (u->kind != CPS_RK_UNION || u->n != 2 || u->null_branch < 0)
		return refuse(e, "union", u->name ? u->name : "?");
	b = present ? 1 - u->null_branch : u->null_branch;
	*x = u->branches[b];
	return put_long(e, b);
}

static int put_opt_string(struct uenc *e, const struct cps_rtype *u, const char *v)
{
	const struct cps_rtype *x;
	int rc = put_branch(e, u, v != NULL, &x);

	return rc || !v ? rc : put_string(e, v);
}

static int put_opt_long(struct uenc *e, const struct cps_rtype *u, bool present, int64_t v)
{
	const struct cps_rtype *x;
	int rc = put_branch(e, u, present, &x);

	return rc || !present ? rc : put_long(e, v);
}

/* The members of cpsync.FieldProvenance, named once per event's array: an
 * entry then goes by a switch, not a chain of name comparisons. */
enum prov_member {
	PM_FIELD,
	PM_PLATFORM,
	PM_POSITION,
	PM_EFFECTIVE,
	PM_SOURCE_TIME,
	PM_RULE,
	PM_RULE_VERSION,
	PM_CONFLICT_ID,
	PM_STEWARD,
	PM_DECIDED_AT,
	PM_REASON,
	PM_RULE_CASE,
	PM_COUNT
};

static const char *const PROV_MEMBER_NAMES[PM_COUNT] = {
    "field",        "platform",    "source_position", "effective_time", "source_time", "rule",
    "rule_version", "conflict_id", "steward",         "decided_at",     "reason",      "rule_case"};

#define MAX_PROV_MEMBERS 32

/* The member kind of each field of the FieldProvenance type t into m. */
static int prov_members(struct uenc *e, const struct cps_rtype *t, uint8_t *m)
{
	if (t->n > MAX_PROV_MEMBERS)
		return refuse(e, "provenance type", "too many fields");
	for (size_t f = 0; f < t->n; f++) {
		m[f] = PM_COUNT;
		for (int k = 0; k < PM_COUNT; k++)
			if (!strcmp(t->fields[f].name, PROV_MEMBER_NAMES[k]))
				m[f] = (uint8_t)k;
		if (m[f] == PM_COUNT)
			return refuse(e, "provenance field", t->fields[f].name);
	}
	return CPS_OK;
}

/* One field's provenance as the event carries it, read from either state. */
struct prov_view {
	const char *platform; /* NULL: none (a steward's value) */
	const char *pos;      /* NULL: none */
	int64_t eff, src;
	const char *rule;
	int64_t rule_version;
	bool has_conflict_id, has_decided_at;
	int64_t conflict_id, decided_at;
	const char *steward, *reason, *rcase; /* NULL: none */
};

/* The view of the JSON state's provenance entry p, with
 * cps_unified_event_json's meaning (unified.c, field_provenance). */
static void prov_view_json(json_t *p, struct prov_view *v)
{
	json_t *eff = json_object_get(p, "eff"), *src = json_object_get(p, "src");
	json_t *decided = json_object_get(p, "decided_at"), *rule = json_object_get(p, "rule");
	json_t *conflict = json_object_get(p, "conflict_id");

	v->platform = json_string_value(json_object_get(p, "platform"));
	v->pos = v->platform ? json_string_value(json_object_get(p, "pos")) : NULL;
	v->eff = json_is_integer(eff)       ? json_integer_value(eff)
	         : json_is_integer(decided) ? json_integer_value(decided)
	                                    : 0;
	v->src = json_is_integer(src) ? json_integer_value(src) : v->eff;
	v->steward = json_string_value(json_object_get(p, "steward"));
	v->rule = v->steward             ? "steward"
	          : json_is_string(rule) ? json_string_value(rule)
	                                 : "precedence";
	v->rule_version = json_integer_value(json_object_get(p, "rule_version"));
	v->has_conflict_id = json_is_integer(conflict);
	v->conflict_id = json_integer_value(conflict);
	v->has_decided_at = json_is_integer(decided);
	v->decided_at = json_integer_value(decided);
	v->reason = json_string_value(json_object_get(p, "reason"));
	v->rcase = v->steward ? NULL : json_string_value(json_object_get(p, "case"));
}

/* The same of the typed state's entry p. */
static void prov_view_typed(const struct cps_tstate *ts, const struct cps_tprov *p,
                            struct prov_view *v)
{
	const struct cps_tstamp *s = &ts->stamps[p->stamp];
	bool steward = p->has & CPS_TPROV_STEWARD;

	v->platform = p->platform == CPS_TSTATE_NONE ? NULL : ts->platforms[p->platform].name;
	v->pos = v->platform ? s->pos : NULL;
	v->eff = s->eff;
	v->src = s->src;
	v->steward = steward ? p->steward : NULL;
	v->rule = steward ? "steward" : p->rule;
	v->rule_version = p->rule_version;
	v->has_conflict_id = p->has & CPS_TPROV_CONFLICT_ID;
	v->conflict_id = p->conflict_id;
	v->has_decided_at = steward;
	v->decided_at = p->decided_at;
	v->reason = steward ? p->reason : NULL;
	v->rcase = !steward && (p->has & CPS_TPROV_CASE) ? p->rcase : NULL;
}

/* One cpsync.FieldProvenance of `field` from view v; m the member kinds of
 * t's fields (prov_members). */
static int put_provenance(struct uenc *e, const struct cps_rtype *t, const uint8_t *m,
                          const char *field, const struct prov_view *v)
{
	int rc = CPS_OK;

	for (size_t f = 0; rc == CPS_OK && f < t->n; f++) {
		const struct cps_rtype *ft = t->fields[f].type, *x;

		switch ((enum prov_member)m[f]) {
		case PM_FIELD:
			rc = put_string(e, field);
			break;
		case PM_PLATFORM:
			rc = put_branch(e, ft, v->platform != NULL, &x) ||
			             (v->platform && put_platform(e, x, v->platform))
			         ? CPS_ERR_FATAL
			         : CPS_OK;
			break;
		case PM_POSITION:
			rc = put_opt_string(e, ft, v->pos);
			break;
		case PM_EFFECTIVE:
			rc = put_long(e, v->eff);
			break;
		case PM_SOURCE_TIME:
			rc = put_long(e, v->src);
			break;
		case PM_RULE:
			rc = put_string(e, v->rule);
			break;
		case PM_RULE_VERSION:
			rc = v->rule_version < INT32_MIN || v->rule_version > INT32_MAX
			         ? refuse(e, "rule_version of field", field)
			         : put_long(e, v->rule_version);
			break;
		case PM_CONFLICT_ID:
			rc = put_opt_long(e, ft, v->has_conflict_id, v->conflict_id);
			break;
		case PM_STEWARD:
			rc = put_opt_string(e, ft, v->steward);
			break;
		case PM_DECIDED_AT:
			rc = put_opt_long(e, ft, v->has_decided_at, v->decided_at);
			break;
		case PM_REASON:
			rc = put_opt_string(e, ft, v->reason);
			break;
		case PM_RULE_CASE:
			rc = put_opt_string(e, ft, v->rcase);
			break;
		case PM_COUNT:
			rc = refuse(e, "provenance field", t->fields[f].name);
			break;
		}
	}
	return rc;
}

/* Field f of the record type `rec`: its provenance when the record has a
 * value there (not null) and an entry for it. */
static bool field_provenance(const struct cps_unified_source *src, const struct cps_rtype *rec,
                             size_t f, struct prov_view *v)
{
	if (src->ts) {
		const struct cps_tstate *ts = src->ts;
		struct cps_tbytes b = ts->record[f];

		if (!b.p || cps_tbytes_is_null(ts->rs->root->fields[f].type, b) || !ts->prov[f].set)
			return false;
		prov_view_typed(ts, &ts->prov[f], v);
		return true;
	}
	json_t *val = json_object_get(src->st->record, rec->fields[f].name);
	json_t *p = json_object_get(src->st->provenance, rec->fields[f].name);

	if (!val || json_is_null(val) || !json_is_object(p))
		return false;
	prov_view_json(p, v);
	return true;
}

/* The provenance array: one entry per field of the record that has a value
 * and an entry, in the entity schema's field order; none for a delete. */
static int put_provenance_array(struct uenc *e, const struct cps_rtype *t,
                                const struct cps_rtype *rec, const struct cps_unified_source *src)
{
	uint8_t members[MAX_PROV_MEMBERS];
	struct prov_view v;
	size_t n = 0;
	int rc = CPS_OK;

	if (t->kind != CPS_RK_ARRAY || t->items->kind != CPS_RK_RECORD)
		return refuse(e, "provenance type", "not an array of records");
	rc = prov_members(e, t->items, members);
	if (rc)
		return rc;
	for (size_t f = 0; !src->deleted && f < rec->n; f++)
		n += field_provenance(src, rec, f, &v);
	if (n && put_long(e, (int64_t)n))
		return CPS_ERR_FATAL;
	for (size_t f = 0; n && rc == CPS_OK && f < rec->n; f++)
		if (field_provenance(src, rec, f, &v))
			rc = put_provenance(e, t->items, members, rec->fields[f].name, &v);
	return rc ? rc : put_long(e, 0);
}

/* changed_fields (strings) or prior_platforms (platform symbols): the n
 * names of `names`. */
static int put_echo_array(struct uenc *e, const struct cps_rtype *t, const char *const *names,
                          size_t n, bool platforms)
{
	int rc = CPS_OK;

	if (n && put_long(e, (int64_t)n))
		return CPS_ERR_FATAL;
	for (size_t i = 0; rc == CPS_OK && i < n; i++)
		rc = platforms ? put_platform(e, t->items, names[i]) : put_string(e, names[i]);
	return rc ? rc : put_long(e, 0);
}

/* The names the event echoes, as cps_unified_event_json takes them
 * (echo_facts): an upsert's changed fields, a delete's prior platforms, from
 * a changed outcome; none otherwise. Into names[cap] (*n of them); -1 when
 * they do not fit. */
static int echo_names(const struct cps_unified_source *src, const char **names, size_t cap,
                      size_t *n)
{
	*n = 0;
	if (src->ts) {
		const struct cps_toutcome *to = src->to;
		const uint32_t *idx = !to || !to->changed ? NULL
		                      : src->deleted      ? to->prior_platforms
		                                          : to->changed_fields;
		size_t count = !idx ? 0 : src->deleted ? to->n_prior : to->n_changed;

		for (size_t i = 0; i < count; i++) {
			if (*n == cap)
				return -1;
			names[(*n)++] = src->deleted ? src->ts->platforms[idx[i]].name
			                             : src->ts->rs->root->fields[idx[i]].name;
		}
		return 0;
	}
	const struct cps_reconcile_outcome *o = src->o;
	json_t *from =
	           o && o->changed ? (src->deleted ? o->prior_platforms : o->changed_fields) : NULL,
	       *v;
	size_t i;

	json_array_foreach (from, i, v) {
		if (!json_is_string(v))
			continue;
		if (*n == cap)
			return -1;
		names[(*n)++] = json_string_value(v);
	}
	return 0;
}

/* The record: the typed state's fields' bytes in schema order (its schema
 * the event's record type), or the JSON state's record encoded. */
static int put_record(struct uenc *e, const struct cps_rtype *x,
                      const struct cps_unified_source *src)
{
	const struct cps_tstate *ts = src->ts;

	if (!ts)
		return cps_record_encode_json_at(x, src->st->record, e->out, e->errstr,
		                                 e->errstr_size)
		           ? CPS_ERR_FATAL
		           : CPS_OK;
	if (x->kind != CPS_RK_RECORD || x->n != ts->n_fields)
		return refuse(e, "record type", x->name ? x->name : "?");
	for (size_t f = 0; f < x->n; f++) {
		const struct cps_rfield *mine = &ts->rs->root->fields[f];

		if (strcmp(x->fields[f].name, mine->name) ||
		    x->fields[f].type->kind != mine->type->kind)
			return refuse(e, "record field", x->fields[f].name);
		if (!ts->record[f].p)
			return cps_seterr(CPS_ERR_FATAL, e->errstr, e->errstr_size,
			                  "unified event: the record lacks field '%s'", mine->name);
		if (cps_buf_append(e->out, ts->record[f].p, ts->record[f].len))
			return CPS_ERR_FATAL;
	}
	return CPS_OK;
}

/* The entity's record type: the other branch of the event's "record"
 * union (its field order is the provenance array's). */
static const struct cps_rtype *record_type(const struct cps_rtype *event)
{
	for (size_t f = 0; f < event->n; f++) {
		const struct cps_rtype *u = event->fields[f].type;

		if (strcmp(event->fields[f].name, "record") != 0)
			continue;
		if (u->kind != CPS_RK_UNION || u->n != 2 || u->null_branch < 0)
			return NULL;
		u = u->branches[1 - u->null_branch];
		return u->kind == CPS_RK_RECORD ? u : NULL;
	}
	return NULL;
}

int cps_unified_encode_direct(const struct cps_rtype *event, const struct cps_unified_source *src,
                              struct cps_buf *out, char *errstr, size_t errstr_size)
{
	struct uenc e = {out, errstr, errstr_size};
	const struct cps_rtype *rec = record_type(event);
	const char *key = src->ts ? src->ts->key : src->st->key;
	int64_t version = src->ts
	                      ? (src->to && src->to->changed ? src->to->version : src->ts->version)
	                      : (src->o && src->o->changed ? src->o->version : src->st->version);
	const char *names[256];
	size_t n_names;
	int rc = rec ? CPS_OK : refuse(&e, "field", "record");

	if (rc == CPS_OK && echo_names(src, names, CPS_ARRAY_SIZE(names), &n_names))
		rc = refuse(&e, "echo list", "longer than 256");
	for (size_t f = 0; rc == CPS_OK && f < event->n; f++) {
		const struct cps_rtype *ft = event->fields[f].type, *x;
		const char *n = event->fields[f].name;

		if (!strcmp(n, "entity"))
			rc = put_symbol(&e, ft, src->entity_symbol);
		else if (!strcmp(n, "key"))
			rc = put_string(&e, key ? key : "");
		else if (!strcmp(n, "version"))
			rc = put_long(&e, version);
		else if (!strcmp(n, "operation"))
			rc = put_symbol(&e, ft, src->deleted ? "DELETE" : "UPSERT");
		else if (!strcmp(n, "event_time"))
			rc = put_long(&e, src->event_time_ms);
		else if (!strcmp(n, "record"))
			rc = put_branch(&e, ft, !src->deleted, &x) ||
			             (!src->deleted && put_record(&e, x, src))
			         ? CPS_ERR_FATAL
			         : CPS_OK;
		else if (!strcmp(n, "provenance"))
			rc = put_provenance_array(&e, ft, rec, src);
		else if (!strcmp(n, "changed_fields"))
			rc = put_echo_array(&e, ft, names, src->deleted ? 0 : n_names, false);
		else if (!strcmp(n, "prior_platforms"))
			rc = put_echo_array(&e, ft, names, src->deleted ? n_names : 0, true);
		else
			rc = refuse(&e, "field", n);
	}
	return rc;
}
