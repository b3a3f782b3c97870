/*
 * The hot path of the postgres source: the columns of a relation resolved
 * once into a plan (cps_pg_plan_build), then each row's text values written
 * straight into an Avro value by field index (cps_pg_row_fill), the JSON way
 * (pg_text_json.c) only for the types without a fast conversion.
 */
#include "connectors/postgres/pg_mapping_int.h"

#include "base/common.h"
#include "base/utf8.h"
#include "codec/avro_json_int.h"

#include <stdlib.h>
#include <string.h>

void cps_pg_plan_release(struct cps_pg_plan *p)
{
	for (size_t i = 0; p->colnames && i < p->ncols; i++)
		free(p->colnames[i]);
	free(p->colnames);
	free(p->field);
	free(p->filled);
	memset(p, 0, sizeof(*p));
}

/* The index of schema field `name` of t, or -1. */
static int field_index(const struct cps_pg_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_fields; i++)
		if (t->conv[i].name && !strcmp(t->conv[i].name, name))
			return (int)i;
	return -1;
}

int cps_pg_plan_build(struct cps_pg_plan *p, struct cps_pg_table *t, size_t n,
                      const char *const *names, char *errstr, size_t errstr_size)
{
	for (size_t i = 0; p->colnames && i < p->ncols; i++) {
		free(p->colnames[i]);
		p->colnames[i] = NULL;
	}
	p->ncols = 0;
	p->t = t;
	p->key_col = -1;
	p->eff_col = -1;
	if (n + 1 > p->cap) {
		int *fi = realloc(p->field, (n + 1) * sizeof(*fi));
		char **cn;

		if (fi)
			p->field = fi;
		cn = fi ? realloc(p->colnames, (n + 1) * sizeof(*cn)) : NULL;
		if (!cn)
			goto out_oom;
		p->colnames = cn;
		p->cap = n + 1;
	}
	free(p->filled);
	p->filled = t ? calloc(t->n_fields + 1, 1) : NULL;
	if (t && !p->filled)
		goto out_oom;
	for (size_t i = 0; i < n; i++) {
		const char *field;

		p->colnames[i] = strdup(names[i] ? names[i] : "");
		if (!p->colnames[i])
			goto out_oom;
		p->ncols = i + 1;
		p->field[i] = -1;
		if (!t || !names[i])
			continue;
		field = cps_pg_table_field(t, names[i]);
		if (field)
			p->field[i] = field_index(t, field);
		if (p->key_col < 0 && !strcmp(names[i], t->key_column))
			p->key_col = (int)i;
		if (p->eff_col < 0 && t->effective_column && !strcmp(names[i], t->effective_column))
			p->eff_col = (int)i;
	}
	return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

static int avro_fail(char *why, size_t why_size)
{
	return cps_seterr(CPS_ERR_FATAL, why, why_size, "avro value: %s", avro_strerror());
}

/* The JSON way, for the types without a fast conversion. */
static int slow_set(const struct cps_pg_table *t, const struct cps_pg_fieldconv *c,
                    const struct cps_pg_text *v, avro_value_t *fv, char *why, size_t why_size)
{
	struct cps_json_path path;
	json_t *j;
	int rc;

	rc = cps_pg_text_to_json(t->schema, c->type, v->kind == 'n' ? NULL : v->text, &j, why,
	                         why_size);
	if (rc != CPS_OK)
		return rc;
	cps_json_path_init(&path);
	avro_value_reset(fv);
	rc = cps_json_fill(t->names, j, 0, fv, &path, why, why_size);
	json_decref(j);
	return rc;
}

static int conv_set(const struct cps_pg_table *t, const struct cps_pg_fieldconv *c,
                    const struct cps_pg_text *v, avro_value_t *fv, char *why, size_t why_size)
{
	avro_value_t branch, *dst = fv;
	const char *text = v->text;
	int64_t iv;

	if (c->kind == CK_SLOW)
		return slow_set(t, c, v, fv, why, why_size);
	if (v->kind == 'n') {
		if (c->null_branch < 0)
			return cps_seterr(CPS_ERR_INVALID, why, why_size,
			                  "null for a field that is not nullable");
		if (avro_value_set_branch(fv, c->null_branch, &branch) != 0 ||
		    avro_value_set_null(&branch) != 0)
			return avro_fail(why, why_size);
		return CPS_OK;
	}
	if (c->is_union) {
		if (avro_value_set_branch(fv, c->value_branch, &branch) != 0)
			return avro_fail(why, why_size);
		dst = &branch;
	}
	switch (c->kind) {
	case CK_STRING:
		if (!cps_utf8_valid((const uint8_t *)text, v->len))
			return cps_seterr(CPS_ERR_INVALID, why, why_size,
			                  "text is not valid UTF-8");
		if (avro_value_set_string_len(dst, text, v->len + 1) != 0)
			return avro_fail(why, why_size);
		return CPS_OK;
	case CK_ENUM: {
		size_t i;
		json_t *sym;

		json_array_foreach (c->symbols, i, sym) {
			if (json_string_length(sym) == v->len &&
			    !memcmp(json_string_value(sym), text, v->len)) {
				if (avro_value_set_enum(dst, (int)i) != 0)
					return avro_fail(why, why_size);
				return CPS_OK;
			}
		}
		return cps_seterr(CPS_ERR_INVALID, why, why_size,
		                  "not a symbol of the field's enum");
	}
	case CK_BOOL: {
		int b;

		if (!strcmp(text, "t") || !strcmp(text, "true") || !strcmp(text, "1"))
			b = 1;
		else if (!strcmp(text, "f") || !strcmp(text, "false") || !strcmp(text, "0"))
			b = 0;
		else
			return cps_seterr(CPS_ERR_INVALID, why, why_size, "not a boolean");
		if (avro_value_set_boolean(dst, b) != 0)
			return avro_fail(why, why_size);
		return CPS_OK;
	}
	case CK_INT:
	case CK_LONG: {
		const char *p = text;

		switch (c->lt) {
		case LT_DATE:
			if (!cps_pg_parse_date(&p, &iv) || *p)
				return cps_seterr(CPS_ERR_INVALID, why, why_size,
				                  "not an ISO date");
			break;
		case LT_TIME_MILLIS:
		case LT_TIME_MICROS:
			if (!cps_pg_parse_time(&p, &iv) || *p)
				return cps_seterr(CPS_ERR_INVALID, why, why_size,
				                  "not a time of day");
			if (c->lt == LT_TIME_MILLIS)
				iv /= 1000;
			break;
		case LT_TS_MILLIS:
		case LT_TS_MICROS:
			if (!cps_pg_parse_timestamp(text, &iv))
				return cps_seterr(CPS_ERR_INVALID, why, why_size,
				                  "not an ISO timestamp");
			if (c->lt == LT_TS_MILLIS)
				iv = iv >= 0 ? iv / 1000 : -((-iv + 999) / 1000);
			break;
		default:
			if (!cps_pg_parse_int64(text, &iv))
				return cps_seterr(CPS_ERR_INVALID, why, why_size, "not an integer");
		}
		if (c->kind == CK_INT) {
			if (iv < INT32_MIN || iv > INT32_MAX)
				return cps_seterr(CPS_ERR_INVALID, why, why_size,
				                  "integer out of int range");
			if (avro_value_set_int(dst, (int32_t)iv) != 0)
				return avro_fail(why, why_size);
		} else if (avro_value_set_long(dst, iv) != 0) {
			return avro_fail(why, why_size);
		}
		return CPS_OK;
	}
	case CK_FLOAT:
	case CK_DOUBLE: {
		char *end;
		double d = strtod(text, &end);

		if (end == text || *end || d != d || d - d != 0)
			return cps_seterr(CPS_ERR_INVALID, why, why_size, "not a finite number");
		if ((c->kind == CK_FLOAT ? avro_value_set_float(dst, (float)d)
		                         : avro_value_set_double(dst, d)) != 0)
			return avro_fail(why, why_size);
		return CPS_OK;
	}
	default:
		return slow_set(t, c, v, fv, why, why_size);
	}
}

int cps_pg_row_fill(struct cps_pg_plan *p, const struct cps_pg_text *vals, avro_value_t *rec,
                    char *errstr, size_t errstr_size)
{
	struct cps_pg_table *t = p->t;
	avro_value_t fv, dv;
	char why[256];

	memset(p->filled, 0, t->n_fields);
	for (size_t i = 0; i < p->ncols; i++) {
		int f = p->field[i];
		int rc;

		if (f < 0 || vals[i].kind == 'u')
			continue;
		if (avro_value_get_by_index(rec, (size_t)f, &fv, NULL) != 0)
			return avro_fail(errstr, errstr_size);
		t->holds_default[f] = 0;
		rc = conv_set(t, &t->conv[f], &vals[i], &fv, why, sizeof(why));
		if (rc != CPS_OK)
			return cps_seterr(rc == CPS_ERR_FATAL ? CPS_ERR_FATAL : CPS_ERR_INVALID,
			                  errstr, errstr_size,
			                  "column '%s' of %s.%s (field '%s'): %s", p->colnames[i],
			                  t->nspname, t->relname, t->conv[f].name, why);
		p->filled[f] = 1;
	}
	for (size_t f = 0; f < t->n_fields; f++) {
		if (p->filled[f] || t->holds_default[f])
			continue;
		if (!t->conv[f].has_default)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "missing field .%s of %s.%s, which has no default",
			                  t->conv[f].name, t->nspname, t->relname);
		if (avro_value_get_by_index(rec, f, &fv, NULL) != 0 ||
		    avro_value_get_by_index(&t->defaults, f, &dv, NULL) != 0 ||
		    avro_value_copy_fast(&fv, &dv) != 0)
			return avro_fail(errstr, errstr_size);
		t->holds_default[f] = 1;
	}
	return CPS_OK;
}
