/*
 * One PostgreSQL text value, or a row of them, as Avro JSON of the entity
 * schema (cps_pg_text_to_json, cps_pg_row_to_json): the general conversion,
 * which the hot path (pg_row_fill.c) falls back on for the types it has no
 * fast way for (decimals, bytes, arrays, maps, records).
 */
#include "connectors/postgres/pg_mapping_int.h"

#include "base/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes as a JSON string of code points 0-255. */
static json_t *bytes_json(const uint8_t *b, size_t n)
{
	char *s = malloc(n * 2 + 1), *q = s;
	json_t *j;

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (b[i] < 0x80) {
			*q++ = (char)b[i];
		} else {
			*q++ = (char)(0xC0 | b[i] >> 6);
			*q++ = (char)(0x80 | (b[i] & 0x3F));
		}
	}
	j = json_stringn(s, (size_t)(q - s));
	free(s);
	return j;
}

/* A numeric text ("-1234.5") as the big-endian two's complement of its
 * unscaled value at `scale`. */
static json_t *decimal_json(const char *text, int scale)
{
	const char *p = text;
	__int128 v = 0;
	int frac = -1, digits = 0;
	bool neg = false;
	uint8_t out[16];
	size_t n = 16, start;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	for (; *p; p++) {
		if (*p == '.' && frac < 0) {
			frac = 0;
			continue;
		}
		if (!isdigit((unsigned char)*p) || ++digits > 36)
			return NULL;
		if (frac >= 0 && ++frac > scale) {
			if (*p != '0') /* would lose precision */
				return NULL;
			continue;
		}
		v = v * 10 + (*p - '0');
	}
	if (digits == 0)
		return NULL;
	for (int i = frac < 0 ? 0 : frac; i < scale; i++)
		v *= 10;
	if (neg)
		v = -v;
	for (int i = 15; i >= 0; i--) {
		out[i] = (uint8_t)(v & 0xFF);
		v >>= 8;
	}
	/* minimal length keeping the sign */
	for (start = 0; start < n - 1; start++) {
		if (out[start] == 0x00 && !(out[start + 1] & 0x80))
			continue;
		if (out[start] == 0xFF && (out[start + 1] & 0x80))
			continue;
		break;
	}
	return bytes_json(out + start, n - start);
}

/* bytea hex output "\x0a0b" to bytes. */
static json_t *bytea_json(const char *text)
{
	size_t n = strlen(text), m;
	uint8_t *b;
	json_t *j;

	if (n < 2 || text[0] != '\\' || text[1] != 'x' || (n - 2) % 2)
		return NULL;
	m = (n - 2) / 2;
	b = malloc(m + 1);
	if (!b)
		return NULL;
	for (size_t i = 0; i < m; i++) {
		unsigned v;

		if (sscanf(text + 2 + 2 * i, "%2x", &v) != 1) {
			free(b);
			return NULL;
		}
		b[i] = (uint8_t)v;
	}
	j = bytes_json(b, m);
	free(b);
	return j;
}

static int json_value_to_avro(const struct cps_schema *schema, json_t *type, json_t *v,
                              json_t **out, char *errstr, size_t errstr_size);

/* The first non-null branch of a union, for a non-null value. */
static json_t *non_null_branch(json_t *type)
{
	size_t i;
	json_t *b;

	json_array_foreach (type, i, b) {
		if (!(json_is_string(b) && !strcmp(json_string_value(b), "null")))
			return b;
	}
	return NULL;
}

static int wrap_union(const struct cps_schema *schema, json_t *type, json_t *inner, json_t **out,
                      char *errstr, size_t errstr_size)
{
	json_t *b = non_null_branch(type), *r = cps_pg_type_resolve(schema, b);

	if (!b) {
		json_decref(inner);
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "union has no non-null branch");
	}
	*out = json_pack("{so}", cps_pg_type_branch_name(r), inner);
	return *out ? CPS_OK : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_pg_text_to_json(const struct cps_schema *schema, json_t *type, const char *text,
                        json_t **out, char *errstr, size_t errstr_size)
{
	const char *w, *lt;
	json_t *r = cps_pg_type_resolve(schema, type);
	int64_t iv;

	*out = NULL;
	w = cps_pg_type_word(r);
	lt = cps_pg_type_logical(r);
	if (!strcmp(w, "union")) {
		json_t *inner;
		int rc;

		if (!text) {
			*out = json_null();
			return CPS_OK;
		}
		rc = cps_pg_text_to_json(schema, non_null_branch(r), text, &inner, errstr,
		                         errstr_size);
		if (rc != CPS_OK)
			return rc;
		return wrap_union(schema, r, inner, out, errstr, errstr_size);
	}
	if (!text)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "null for a field that is not nullable");
	if (!strcmp(w, "string") || !strcmp(w, "enum")) {
		*out = json_string(text);
		if (!*out)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "text is not valid UTF-8");
		return CPS_OK;
	}
	if (!strcmp(w, "boolean")) {
		if (!strcmp(text, "t") || !strcmp(text, "true") || !strcmp(text, "1"))
			*out = json_true();
		else if (!strcmp(text, "f") || !strcmp(text, "false") || !strcmp(text, "0"))
			*out = json_false();
		else
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not a boolean");
		return CPS_OK;
	}
	if (!strcmp(w, "int") || !strcmp(w, "long")) {
		if (!strcmp(lt, "date")) {
			const char *p = text;

			if (!cps_pg_parse_date(&p, &iv) || *p)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "not an ISO date");
		} else if (!strcmp(lt, "time-millis") || !strcmp(lt, "time-micros")) {
			const char *p = text;

			if (!cps_pg_parse_time(&p, &iv) || *p)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "not a time of day");
			if (!strcmp(lt, "time-millis"))
				iv /= 1000;
		} else if (strstr(lt, "timestamp-")) {
			if (!cps_pg_parse_timestamp(text, &iv))
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "not an ISO timestamp");
			if (strstr(lt, "millis"))
				iv = iv >= 0 ? iv / 1000 : -((-iv + 999) / 1000);
		} else if (!cps_pg_parse_int64(text, &iv)) {
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not an integer");
		}
		if (!strcmp(w, "int") && (iv < INT32_MIN || iv > INT32_MAX))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "integer out of int range");
		*out = json_integer(iv);
		return CPS_OK;
	}
	if (!strcmp(w, "float") || !strcmp(w, "double")) {
		char *end;
		double d = strtod(text, &end);

		if (end == text || *end || d != d)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "not a finite number");
		*out = json_real(d);
		return *out ? CPS_OK
		            : cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                         "not a finite number");
	}
	if (!strcmp(w, "bytes") || !strcmp(w, "fixed")) {
		if (!strcmp(lt, "decimal")) {
			json_t *sc = json_object_get(r, "scale");

			*out = decimal_json(text,
			                    json_is_integer(sc) ? (int)json_integer_value(sc) : 0);
			if (!*out)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "not a decimal within the field's scale");
		} else {
			*out = bytea_json(text);
			if (!*out)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "not bytea hex text");
		}
		return CPS_OK;
	}
	if (!strcmp(w, "array") || !strcmp(w, "map") || !strcmp(w, "record")) {
		json_error_t jerr;
		json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
		int rc;

		if (!j)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "not JSON (line %d column %d)", jerr.line, jerr.column);
		rc = json_value_to_avro(schema, r, j, out, errstr, errstr_size);
		json_decref(j);
		return rc;
	}
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "unsupported Avro type '%s'", w);
}

/* A json/jsonb value (array element, object member) into Avro JSON. */
static int json_value_to_avro(const struct cps_schema *schema, json_t *type, json_t *v,
                              json_t **out, char *errstr, size_t errstr_size)
{
	json_t *r = cps_pg_type_resolve(schema, type);
	const char *w = cps_pg_type_word(r);
	int rc;

	*out = NULL;
	if (!strcmp(w, "union")) {
		json_t *inner;

		if (json_is_null(v)) {
			*out = json_null();
			return CPS_OK;
		}
		rc = json_value_to_avro(schema, non_null_branch(r), v, &inner, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
		return wrap_union(schema, r, inner, out, errstr, errstr_size);
	}
	if (!strcmp(w, "array")) {
		json_t *items = json_object_get(r, "items"), *e;
		size_t i;

		if (!json_is_array(v))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "expected a JSON array");
		*out = json_array();
		json_array_foreach (v, i, e) {
			json_t *c;

			rc = json_value_to_avro(schema, items, e, &c, errstr, errstr_size);
			if (rc != CPS_OK || json_array_append_new(*out, c) < 0)
				goto out_fail;
		}
		return CPS_OK;
	}
	if (!strcmp(w, "map") || !strcmp(w, "record")) {
		json_t *fields = json_object_get(r, "fields"), *e;
		const char *k;

		if (!json_is_object(v))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "expected a JSON object");
		*out = json_object();
		json_object_foreach (v, k, e) {
			json_t *ft = NULL, *c, *f;
			size_t i;

			if (!strcmp(w, "map")) {
				ft = json_object_get(r, "values");
			} else {
				json_array_foreach (fields, i, f) {
					if (!strcmp(json_string_value(json_object_get(f, "name")),
					            k))
						ft = json_object_get(f, "type");
				}
				if (!ft)
					continue; /* not in the schema */
			}
			rc = json_value_to_avro(schema, ft, e, &c, errstr, errstr_size);
			if (rc != CPS_OK || json_object_set_new(*out, k, c) < 0)
				goto out_fail;
		}
		return CPS_OK;
	}
	if (json_is_string(v))
		return cps_pg_text_to_json(schema, r, json_string_value(v), out, errstr,
		                           errstr_size);
	if (json_is_null(v))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "null for a type that is not nullable");
	*out = json_incref(v);
	return CPS_OK;

out_fail:
	json_decref(*out);
	*out = NULL;
	return rc != CPS_OK ? rc : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_pg_row_to_json(const struct cps_pg_table *t, size_t n, const char *const *columns,
                       const char *const *values, json_t **out, char *errstr, size_t errstr_size)
{
	json_t *obj = json_object();

	*out = NULL;
	if (!obj)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *field;
		json_t *v;
		char why[256];

		if (!columns[i])
			continue;
		field = cps_pg_table_field(t, columns[i]);
		if (!field)
			continue;
		if (cps_pg_text_to_json(t->schema, cps_pg_field_type(t->schema, field), values[i],
		                        &v, why, sizeof(why)) != CPS_OK) {
			json_decref(obj);
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "column '%s' of %s.%s (field '%s'): %s", columns[i],
			                  t->nspname, t->relname, field, why);
		}
		json_object_set_new(obj, field, v);
	}
	*out = obj;
	return CPS_OK;
}
