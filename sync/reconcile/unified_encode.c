/*
 * The unified event written straight to Avro binary from a key state, on the
 * compiled <entity>_event schema: no Avro JSON event is built per version
 * (cps_unified_event_json stays the reference: unit.test_unified_encode
 * holds the two byte-equal). Fields are found by name in the compiled
 * schema, so a schema that gains a field this encoder does not know is
 * refused, not written wrong.
 */
#include "reconcile/unified_int.h"

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

static int put_opt_string(struct uenc *e, const struct cps_rtype *u, json_t *v)
{
	const struct cps_rtype *x;
	int rc = put_branch(e, u, json_is_string(v), &x);

	return rc || !json_is_string(v) ? rc : put_string(e, json_string_value(v));
}

static int put_opt_long(struct uenc *e, const struct cps_rtype *u, json_t *v)
{
	const struct cps_rtype *x;
	int rc = put_branch(e, u, json_is_integer(v), &x);

	return rc || !json_is_integer(v) ? rc : put_long(e, json_integer_value(v));
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

/* One cpsync.FieldProvenance from the key state's provenance entry p, with
 * cps_unified_event_json's meaning (unified.c, field_provenance); m the
 * member kinds of t's fields (prov_members). */
static int put_provenance(struct uenc *e, const struct cps_rtype *t, const uint8_t *m,
                          const char *field, json_t *p)
{
	json_t *steward = json_object_get(p, "steward"), *platform = json_object_get(p, "platform");
	json_t *decided = json_object_get(p, "decided_at"), *rule = json_object_get(p, "rule");
	json_t *eff = json_object_get(p, "eff"), *src = json_object_get(p, "src");
	json_int_t rule_version = json_integer_value(json_object_get(p, "rule_version"));
	int64_t eff_ms = json_is_integer(eff)       ? json_integer_value(eff)
	                 : json_is_integer(decided) ? json_integer_value(decided)
	                                            : 0;
	int64_t src_ms = json_is_integer(src) ? json_integer_value(src) : eff_ms;
	int rc = CPS_OK;

	for (size_t f = 0; rc == CPS_OK && f < t->n; f++) {
		const struct cps_rtype *ft = t->fields[f].type, *x;

		switch ((enum prov_member)m[f]) {
		case PM_FIELD:
			rc = put_string(e, field);
			break;
		case PM_PLATFORM:
			rc = put_branch(e, ft, json_is_string(platform), &x) ||
			             (json_is_string(platform) &&
			              put_platform(e, x, json_string_value(platform)))
			         ? CPS_ERR_FATAL
			         : CPS_OK;
			break;
		case PM_POSITION:
			rc = put_opt_string(
			    e, ft, json_is_string(platform) ? json_object_get(p, "pos") : NULL);
			break;
		case PM_EFFECTIVE:
			rc = put_long(e, eff_ms);
			break;
		case PM_SOURCE_TIME:
			rc = put_long(e, src_ms);
			break;
		case PM_RULE:
			rc = put_string(e, json_is_string(steward) ? "steward"
			                   : json_is_string(rule)  ? json_string_value(rule)
			                                           : "precedence");
			break;
		case PM_RULE_VERSION:
			rc = rule_version < INT32_MIN || rule_version > INT32_MAX
			         ? refuse(e, "rule_version of field", field)
			         : put_long(e, rule_version);
			break;
		case PM_CONFLICT_ID:
			rc = put_opt_long(e, ft, json_object_get(p, "conflict_id"));
			break;
		case PM_STEWARD:
			rc = put_opt_string(e, ft, steward);
			break;
		case PM_DECIDED_AT:
			rc = put_opt_long(e, ft, decided);
			break;
		case PM_REASON:
			rc = put_opt_string(e, ft, json_object_get(p, "reason"));
			break;
		case PM_RULE_CASE:
			rc = put_opt_string(
			    e, ft, json_is_string(steward) ? NULL : json_object_get(p, "case"));
			break;
		case PM_COUNT:
			rc = refuse(e, "provenance field", t->fields[f].name);
			break;
		}
	}
	return rc;
}

/* The provenance array: one entry per field of the record that has a value
 * and an entry, in the entity schema's field order; none for a delete. */
static int put_provenance_array(struct uenc *e, const struct cps_rtype *t,
                                const struct cps_rtype *rec, const struct cps_unified_source *src)
{
	uint8_t members[MAX_PROV_MEMBERS];
	size_t n = 0;
	int rc = CPS_OK;

	if (t->kind != CPS_RK_ARRAY || t->items->kind != CPS_RK_RECORD)
		return refuse(e, "provenance type", "not an array of records");
	rc = prov_members(e, t->items, members);
	if (rc)
		return rc;
	for (size_t f = 0; !src->deleted && f < rec->n; f++) {
		json_t *v = json_object_get(src->st->record, rec->fields[f].name);

		n += v && !json_is_null(v) &&
		     json_is_object(json_object_get(src->st->provenance, rec->fields[f].name));
	}
	if (n && put_long(e, (int64_t)n))
		return CPS_ERR_FATAL;
	for (size_t f = 0; n && rc == CPS_OK && f < rec->n; f++) {
		const char *name = rec->fields[f].name;
		json_t *v = json_object_get(src->st->record, name);
		json_t *p = json_object_get(src->st->provenance, name);

		if (v && !json_is_null(v) && json_is_object(p))
			rc = put_provenance(e, t->items, members, name, p);
	}
	return rc ? rc : put_long(e, 0);
}

/* changed_fields (strings) or prior_platforms (platform symbols), from the
 * outcome as cps_unified_event_json takes them (echo_facts). */
static int put_echo_array(struct uenc *e, const struct cps_rtype *t, json_t *from, bool platforms)
{
	size_t n = 0, i;
	json_t *v;
	int rc = CPS_OK;

	json_array_foreach (from, i, v)
		n += json_is_string(v);
	if (n && put_long(e, (int64_t)n))
		return CPS_ERR_FATAL;
	json_array_foreach (from, i, v) {
		if (rc == CPS_OK && json_is_string(v))
			rc = platforms ? put_platform(e, t->items, json_string_value(v))
			               : put_string(e, json_string_value(v));
	}
	return rc ? rc : put_long(e, 0);
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
	const struct cps_reconcile_outcome *o = src->o;
	json_t *echo =
	    o && o->changed ? (src->deleted ? o->prior_platforms : o->changed_fields) : NULL;
	const struct cps_rtype *rec = record_type(event);
	int rc = rec ? CPS_OK : refuse(&e, "field", "record");

	for (size_t f = 0; rc == CPS_OK && f < event->n; f++) {
		const struct cps_rtype *ft = event->fields[f].type, *x;
		const char *n = event->fields[f].name;

		if (!strcmp(n, "entity"))
			rc = put_symbol(&e, ft, src->entity_symbol);
		else if (!strcmp(n, "key"))
			rc = put_string(&e, src->st->key ? src->st->key : "");
		else if (!strcmp(n, "version"))
			rc = put_long(&e, o && o->changed ? o->version : src->st->version);
		else if (!strcmp(n, "operation"))
			rc = put_symbol(&e, ft, src->deleted ? "DELETE" : "UPSERT");
		else if (!strcmp(n, "event_time"))
			rc = put_long(&e, src->event_time_ms);
		else if (!strcmp(n, "record"))
			rc = put_branch(&e, ft, !src->deleted, &x) ||
			             (!src->deleted &&
			              cps_record_encode_json_at(x, src->st->record, out, errstr,
			                                        errstr_size))
			         ? CPS_ERR_FATAL
			         : CPS_OK;
		else if (!strcmp(n, "provenance"))
			rc = put_provenance_array(&e, ft, rec, src);
		else if (!strcmp(n, "changed_fields"))
			rc = put_echo_array(&e, ft, src->deleted ? NULL : echo, false);
		else if (!strcmp(n, "prior_platforms"))
			rc = put_echo_array(&e, ft, src->deleted ? echo : NULL, true);
		else
			rc = refuse(&e, "field", n);
	}
	return rc;
}
