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

/* One cpsync.FieldProvenance from the key state's provenance entry p, with
 * cps_unified_event_json's meaning (unified.c, field_provenance). */
static int put_provenance(struct uenc *e, const struct cps_rtype *t, const char *field, json_t *p)
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
		const char *n = t->fields[f].name;

		if (!strcmp(n, "field"))
			rc = put_string(e, field);
		else if (!strcmp(n, "platform"))
			rc = put_branch(e, ft, json_is_string(platform), &x) ||
			             (json_is_string(platform) &&
			              put_platform(e, x, json_string_value(platform)))
			         ? CPS_ERR_FATAL
			         : CPS_OK;
		else if (!strcmp(n, "source_position"))
			rc = put_opt_string(
			    e, ft, json_is_string(platform) ? json_object_get(p, "pos") : NULL);
		else if (!strcmp(n, "effective_time"))
			rc = put_long(e, eff_ms);
		else if (!strcmp(n, "source_time"))
			rc = put_long(e, src_ms);
		else if (!strcmp(n, "rule"))
			rc = put_string(e, json_is_string(steward) ? "steward"
			                   : json_is_string(rule)  ? json_string_value(rule)
			                                           : "precedence");
		else if (!strcmp(n, "rule_version"))
			rc = rule_version < INT32_MIN || rule_version > INT32_MAX
			         ? refuse(e, "rule_version of field", field)
			         : put_long(e, rule_version);
		else if (!strcmp(n, "conflict_id"))
			rc = put_opt_long(e, ft, json_object_get(p, "conflict_id"));
		else if (!strcmp(n, "steward"))
			rc = put_opt_string(e, ft, steward);
		else if (!strcmp(n, "decided_at"))
			rc = put_opt_long(e, ft, decided);
		else if (!strcmp(n, "reason"))
			rc = put_opt_string(e, ft, json_object_get(p, "reason"));
		else if (!strcmp(n, "rule_case"))
			rc = put_opt_string(
			    e, ft, json_is_string(steward) ? NULL : json_object_get(p, "case"));
		else
			rc = refuse(e, "provenance field", n);
	}
	return rc;
}

/* The provenance array: one entry per field of the record that has a value
 * and an entry, in the entity schema's field order; none for a delete. */
static int put_provenance_array(struct uenc *e, const struct cps_rtype *t,
                                const struct cps_rtype *rec, const struct cps_unified_source *src)
{
	size_t n = 0;
	int rc = CPS_OK;

	if (t->kind != CPS_RK_ARRAY || t->items->kind != CPS_RK_RECORD)
		return refuse(e, "provenance type", "not an array of records");
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
			rc = put_provenance(e, t->items, name, p);
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
