/*
 * The table/column -> entity/field mapping of the postgres connector and the
 * conversion of PostgreSQL text output (DateStyle ISO, TimeZone UTC, which
 * the connector sets on its sessions) into Avro JSON of the entity schema,
 * and (hot path) straight into an Avro value by field index.
 */
#include "connectors/postgres/pg_mapping.h"

#include "codec/avro_json_int.h"
#include "base/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

static bool is_primitive(const char *name)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(primitives); i++)
		if (!strcmp(primitives[i], name))
			return true;
	return false;
}

static const char *short_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot ? dot + 1 : name;
}

/* The definition of named type `name` anywhere in `j`, or NULL. */
static json_t *find_named(json_t *j, const char *name)
{
	if (json_is_object(j)) {
		json_t *n = json_object_get(j, "name"), *t = json_object_get(j, "type");
		const char *k;
		json_t *v;

		if (json_is_string(n) && json_is_string(t) &&
		    (!strcmp(json_string_value(t), "record") ||
		     !strcmp(json_string_value(t), "enum") ||
		     !strcmp(json_string_value(t), "fixed")) &&
		    !strcmp(short_name(json_string_value(n)), short_name(name)))
			return j;
		json_object_foreach(j, k, v)
		{
			json_t *f = find_named(v, name);

			if (f)
				return f;
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;

		json_array_foreach(j, i, v)
		{
			json_t *f = find_named(v, name);

			if (f)
				return f;
		}
	}
	return NULL;
}

/* A type with references resolved one level: a string naming a defined type
 * becomes its definition; {"type": "int"} without attributes stays. */
static json_t *resolve(const struct cps_schema *schema, json_t *type)
{
	if (json_is_string(type) && !is_primitive(json_string_value(type))) {
		json_t *def = find_named(schema->json, json_string_value(type));

		return def ? def : type;
	}
	return type;
}

/* "type" word of a resolved type: a primitive, record, enum, fixed, array,
 * map, or "union" for a JSON array. */
static const char *type_word(json_t *type)
{
	if (json_is_string(type))
		return json_string_value(type);
	if (json_is_array(type))
		return "union";
	if (json_is_object(type)) {
		json_t *t = json_object_get(type, "type");

		if (json_is_string(t))
			return json_string_value(t);
	}
	return "";
}

static const char *logical(json_t *type)
{
	json_t *l = json_is_object(type) ? json_object_get(type, "logicalType") : NULL;

	return json_is_string(l) ? json_string_value(l) : "";
}

/* The name a union branch goes by in Avro JSON. */
static const char *branch_name(json_t *branch)
{
	if (json_is_object(branch)) {
		const char *w = type_word(branch);
		json_t *n = json_object_get(branch, "name");

		if ((!strcmp(w, "record") || !strcmp(w, "enum") || !strcmp(w, "fixed")) &&
		    json_is_string(n))
			return json_string_value(n);
		return w;
	}
	return json_is_string(branch) ? json_string_value(branch) : "";
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool parse_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool parse_date(const char **p, int64_t *days)
{
	int y, m, d;

	if (!parse_digits(p, 4, &y) || **p != '-')
		return false;
	(*p)++;
	if (!parse_digits(p, 2, &m) || **p != '-')
		return false;
	(*p)++;
	if (!parse_digits(p, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	*days = days_from_civil(y, (unsigned)m, (unsigned)d);
	return true;
}

/* "HH:MM:SS[.ffffff]" into microseconds of the day. */
static bool parse_time(const char **p, int64_t *us)
{
	int h, mi, s;
	int64_t frac = 0, scale = 100000;

	if (!parse_digits(p, 2, &h) || **p != ':')
		return false;
	(*p)++;
	if (!parse_digits(p, 2, &mi) || **p != ':')
		return false;
	(*p)++;
	if (!parse_digits(p, 2, &s))
		return false;
	if (**p == '.') {
		(*p)++;
		while (isdigit((unsigned char)**p)) {
			frac += (**p - '0') * scale;
			scale /= 10;
			(*p)++;
		}
	}
	*us = ((int64_t)h * 3600 + mi * 60 + s) * 1000000 + frac;
	return true;
}

/* "YYYY-MM-DD HH:MM:SS[.f][+HH[:MM]]" into microseconds since the epoch (UTC;
 * without an offset the value is taken as UTC). */
static bool parse_timestamp(const char *text, int64_t *us)
{
	const char *p = text;
	int64_t days, tod;

	if (!parse_date(&p, &days) || (*p != ' ' && *p != 'T'))
		return false;
	p++;
	if (!parse_time(&p, &tod))
		return false;
	*us = days * 86400000000LL + tod;
	if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om = 0;

		p++;
		if (!parse_digits(&p, 2, &oh))
			return false;
		if (*p == ':')
			p++;
		if (isdigit((unsigned char)*p) && !parse_digits(&p, 2, &om))
			return false;
		*us -= sign * ((int64_t)oh * 3600 + om * 60) * 1000000;
	} else if (*p == 'Z') {
		p++;
	}
	return *p == '\0';
}

static bool parse_int64(const char *text, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || *end)
		return false;
	*out = v;
	return true;
}

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

	json_array_foreach(type, i, b)
	{
		if (!(json_is_string(b) && !strcmp(json_string_value(b), "null")))
			return b;
	}
	return NULL;
}

static int wrap_union(const struct cps_schema *schema, json_t *type, json_t *inner, json_t **out,
                      char *errstr, size_t errstr_size)
{
	json_t *b = non_null_branch(type), *r = resolve(schema, b);

	if (!b) {
		json_decref(inner);
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "union has no non-null branch");
	}
	*out = json_pack("{so}", branch_name(r), inner);
	return *out ? CPS_OK : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_pg_text_to_json(const struct cps_schema *schema, json_t *type, const char *text,
                        json_t **out, char *errstr, size_t errstr_size)
{
	const char *w, *lt;
	json_t *r = resolve(schema, type);
	int64_t iv;

	*out = NULL;
	w = type_word(r);
	lt = logical(r);
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
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "null for a field that is not nullable");
	if (!strcmp(w, "string") || !strcmp(w, "enum")) {
		*out = json_string(text);
		if (!*out)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "text is not valid UTF-8");
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

			if (!parse_date(&p, &iv) || *p)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not an ISO date");
		} else if (!strcmp(lt, "time-millis") || !strcmp(lt, "time-micros")) {
			const char *p = text;

			if (!parse_time(&p, &iv) || *p)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not a time of day");
			if (!strcmp(lt, "time-millis"))
				iv /= 1000;
		} else if (strstr(lt, "timestamp-")) {
			if (!parse_timestamp(text, &iv))
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not an ISO timestamp");
			if (strstr(lt, "millis"))
				iv = iv >= 0 ? iv / 1000 : -((-iv + 999) / 1000);
		} else if (!parse_int64(text, &iv)) {
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not an integer");
		}
		if (!strcmp(w, "int") && (iv < INT32_MIN || iv > INT32_MAX))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "integer out of int range");
		*out = json_integer(iv);
		return CPS_OK;
	}
	if (!strcmp(w, "float") || !strcmp(w, "double")) {
		char *end;
		double d = strtod(text, &end);

		if (end == text || *end || d != d)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not a finite number");
		*out = json_real(d);
		return *out ? CPS_OK : cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not a finite number");
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
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not bytea hex text");
		}
		return CPS_OK;
	}
	if (!strcmp(w, "array") || !strcmp(w, "map") || !strcmp(w, "record")) {
		json_error_t jerr;
		json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
		int rc;

		if (!j)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "not JSON (line %d column %d)",
			                  jerr.line, jerr.column);
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
	json_t *r = resolve(schema, type);
	const char *w = type_word(r);
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
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "expected a JSON array");
		*out = json_array();
		json_array_foreach(v, i, e)
		{
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
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "expected a JSON object");
		*out = json_object();
		json_object_foreach(v, k, e)
		{
			json_t *ft = NULL, *c, *f;
			size_t i;

			if (!strcmp(w, "map")) {
				ft = json_object_get(r, "values");
			} else {
				json_array_foreach(fields, i, f)
				{
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
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "null for a type that is not nullable");
	*out = json_incref(v);
	return CPS_OK;

out_fail:
	json_decref(*out);
	*out = NULL;
	return rc != CPS_OK ? rc
	                    : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

/* The "type" of schema field `name`, or NULL. */
static json_t *field_type(const struct cps_schema *schema, const char *name)
{
	json_t *fields = json_object_get(schema->json, "fields"), *f;
	size_t i;

	json_array_foreach(fields, i, f)
	{
		if (!strcmp(json_string_value(json_object_get(f, "name")), name))
			return json_object_get(f, "type");
	}
	return NULL;
}

const char *cps_pg_table_field(const struct cps_pg_table *t, const char *column)
{
	for (size_t i = 0; i < t->n_cols; i++)
		if (!strcmp(t->cols[i].column, column))
			return t->cols[i].field;
	return field_type(t->schema, column) ? column : NULL;
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
		if (cps_pg_text_to_json(t->schema, field_type(t->schema, field), values[i], &v, why,
		                        sizeof(why)) != CPS_OK) {
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

/* ------------------------------------------------------------- settings */

static const char *const table_suffixes[] = {".entity", ".key", ".increment_column",
                                             ".timestamp_column"};

static char *quote_ident(const char *s)
{
	size_t n = strlen(s);
	char *q = malloc(n * 2 + 3), *p = q;

	if (!q)
		return NULL;
	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return q;
}

static struct cps_pg_table *table_get(struct cps_pg_mapping *m, const char *name, size_t len)
{
	char buf[256];
	const char *dot;
	struct cps_pg_table *t;
	char *nsp, *rel;

	if (len == 0 || len >= sizeof(buf))
		return NULL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	dot = strchr(buf, '.');
	nsp = dot ? strndup(buf, (size_t)(dot - buf)) : strdup("public");
	rel = strdup(dot ? dot + 1 : buf);
	if (!nsp || !rel)
		goto out_free;
	t = cps_pg_mapping_find(m, nsp, rel);
	if (t) {
		free(nsp);
		free(rel);
		return t;
	}
	t = realloc(m->tables, (m->n + 1) * sizeof(*t));
	if (!t)
		goto out_free;
	m->tables = t;
	t = &m->tables[m->n++];
	memset(t, 0, sizeof(*t));
	t->nspname = nsp;
	t->relname = rel;
	return t;
out_free:
	free(nsp);
	free(rel);
	return NULL;
}

static void table_unprepare(struct cps_pg_table *t);

void cps_pg_mapping_free(struct cps_pg_mapping *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct cps_pg_table *t = &m->tables[i];

		table_unprepare(t);
		for (size_t j = 0; j < t->n_cols; j++) {
			free(t->cols[j].column);
			free(t->cols[j].field);
		}
		free(t->cols);
		free(t->nspname);
		free(t->relname);
		free(t->qualified);
		free(t->entity);
		free(t->key_column);
		free(t->increment_column);
		free(t->timestamp_column);
	}
	free(m->tables);
	free(m);
}

struct cps_pg_table *cps_pg_mapping_find(struct cps_pg_mapping *m, const char *nspname,
                                         const char *relname)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->tables[i].nspname, nspname) &&
		    !strcmp(m->tables[i].relname, relname))
			return &m->tables[i];
	return NULL;
}

/* One "table.<t>.<what>" setting into the mapping. */
static int table_setting(struct cps_pg_mapping *m, const char *key, const char *value, char *errstr,
                         size_t errstr_size)
{
	const char *rest = key + strlen("table."), *col = strstr(rest, ".column.");
	struct cps_pg_table *t;
	char **slot = NULL;
	char *copy;

	if (col) {
		struct cps_pg_colmap *c;

		t = table_get(m, rest, (size_t)(col - rest));
		if (!t || !col[8] || !*value)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "setting '%s' is not a column mapping", key);
		c = realloc(t->cols, (t->n_cols + 1) * sizeof(*c));
		if (!c)
			goto out_oom;
		t->cols = c;
		c[t->n_cols].column = strdup(col + 8);
		c[t->n_cols].field = strdup(value);
		t->n_cols++;
		if (!c[t->n_cols - 1].column || !c[t->n_cols - 1].field)
			goto out_oom;
		return CPS_OK;
	}
	for (size_t i = 0; i < CPS_ARRAY_SIZE(table_suffixes); i++) {
		size_t sl = strlen(table_suffixes[i]), rl = strlen(rest);

		if (rl <= sl || strcmp(rest + rl - sl, table_suffixes[i]))
			continue;
		t = table_get(m, rest, rl - sl);
		if (!t)
			break;
		slot = i == 0   ? &t->entity
		       : i == 1 ? &t->key_column
		       : i == 2 ? &t->increment_column
		                : &t->timestamp_column;
		break;
	}
	if (!slot)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "setting '%s' is not table.<schema.table>.entity, .key, "
		                  ".column.<name>, .increment_column or .timestamp_column",
		                  key);
	copy = strdup(value);
	if (!copy)
		goto out_oom;
	free(*slot);
	*slot = copy;
	return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_pg_mapping_from_settings(const struct cps_settings *s, struct cps_catalog *catalog,
                                 struct cps_pg_mapping **out, char *errstr, size_t errstr_size)
{
	struct cps_pg_mapping *m = calloc(1, sizeof(*m));
	const struct cps_setting *kv;
	size_t it = 0;
	int rc = CPS_OK;

	*out = NULL;
	if (!m)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	while ((kv = cps_settings_next(s, "table.", &it)))
		if ((rc = table_setting(m, kv->key, kv->value, errstr, errstr_size)) != CPS_OK)
			goto out_free;
	if (m->n == 0) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "no table mapped: set table.<schema.table>.entity");
		goto out_free;
	}
	for (size_t i = 0; i < m->n; i++) {
		struct cps_pg_table *t = &m->tables[i];
		char *qn, *qr;

		if (!t->entity) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "table '%s.%s' has no entity setting",
			                t->nspname, t->relname);
			goto out_free;
		}
		t->schema = cps_catalog_by_entity(catalog, t->entity);
		if (!t->schema) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "table '%s.%s': unknown entity '%s'",
			                t->nspname, t->relname, t->entity);
			goto out_free;
		}
		for (size_t j = 0; j < t->n_cols; j++)
			if (!field_type(t->schema, t->cols[j].field)) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "table '%s.%s': column '%s' maps to '%s', not a "
				                "field of entity '%s'",
				                t->nspname, t->relname, t->cols[j].column,
				                t->cols[j].field, t->entity);
				goto out_free;
			}
		if (!t->key_column) {
			/* the key is the schema's first field, fed by the column of that name */
			json_t *f0 = json_array_get(json_object_get(t->schema->json, "fields"), 0);
			const char *kf = json_string_value(json_object_get(f0, "name"));

			for (size_t j = 0; kf && j < t->n_cols; j++)
				if (!strcmp(t->cols[j].field, kf))
					kf = t->cols[j].column;
			t->key_column = kf ? strdup(kf) : NULL;
			if (!t->key_column) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "table '%s.%s' has no key",
				                t->nspname, t->relname);
				goto out_free;
			}
		}
		if (!!t->increment_column != !!t->timestamp_column) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "table '%s.%s': polling needs both increment_column and "
			                "timestamp_column",
			                t->nspname, t->relname);
			goto out_free;
		}
		qn = quote_ident(t->nspname);
		qr = quote_ident(t->relname);
		if (qn && qr && (t->qualified = malloc(strlen(qn) + strlen(qr) + 2)))
			sprintf(t->qualified, "%s.%s", qn, qr);
		free(qn);
		free(qr);
		if (!t->qualified) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out_free;
		}
	}
	*out = m;
	return CPS_OK;
out_free:
	cps_pg_mapping_free(m);
	return rc;
}

/* ------------------------------------------------------------ hot path */

enum conv_kind { CK_SLOW, CK_STRING, CK_ENUM, CK_BOOL, CK_INT, CK_LONG, CK_FLOAT, CK_DOUBLE };
enum conv_lt { LT_NONE, LT_DATE, LT_TIME_MILLIS, LT_TIME_MICROS, LT_TS_MILLIS, LT_TS_MICROS };

struct cps_pg_fieldconv {
	const char *name; /* borrowed from the schema JSON */
	json_t *type;     /* the field's "type" (slow path) */
	enum conv_kind kind;
	enum conv_lt lt;
	bool is_union, has_default;
	int null_branch, value_branch; /* union branches, -1 none */
	json_t *symbols;               /* enum */
};

static void table_unprepare(struct cps_pg_table *t)
{
	if (t->defaults.iface)
		avro_value_decref(&t->defaults);
	memset(&t->defaults, 0, sizeof(t->defaults));
	cps_json_names_free(t->names);
	t->names = NULL;
	free(t->conv);
	t->conv = NULL;
	free(t->holds_default);
	t->holds_default = NULL;
	t->n_fields = 0;
}

/* The conversion of one field, mirroring cps_pg_text_to_json: the fast
 * kinds are strings, enums, booleans, integers (with date/time/timestamp
 * logical types) and floats, bare or in a union; the rest go the JSON way. */
static void conv_init(const struct cps_schema *schema, json_t *field, struct cps_pg_fieldconv *c)
{
	json_t *r, *inner, *b;
	const char *w, *lt;
	size_t i;

	c->name = json_string_value(json_object_get(field, "name"));
	c->type = json_object_get(field, "type");
	c->kind = CK_SLOW;
	c->lt = LT_NONE;
	c->null_branch = c->value_branch = -1;
	r = inner = resolve(schema, c->type);
	if (json_is_array(r)) {
		c->is_union = true;
		json_array_foreach(r, i, b)
		{
			if (json_is_string(b) && !strcmp(json_string_value(b), "null")) {
				if (c->null_branch < 0)
					c->null_branch = (int)i;
			} else if (c->value_branch < 0) {
				c->value_branch = (int)i;
			}
		}
		inner = c->value_branch >= 0
		            ? resolve(schema, json_array_get(r, (size_t)c->value_branch))
		            : NULL;
		if (!inner || json_is_array(inner))
			return;
	}
	w = type_word(inner);
	lt = logical(inner);
	if (!strcmp(w, "string")) {
		c->kind = CK_STRING;
	} else if (!strcmp(w, "enum") && json_is_array(json_object_get(inner, "symbols"))) {
		c->kind = CK_ENUM;
		c->symbols = json_object_get(inner, "symbols");
	} else if (!strcmp(w, "boolean")) {
		c->kind = CK_BOOL;
	} else if (!strcmp(w, "int") || !strcmp(w, "long")) {
		c->kind = !strcmp(w, "int") ? CK_INT : CK_LONG;
		if (!strcmp(lt, "date"))
			c->lt = LT_DATE;
		else if (!strcmp(lt, "time-millis"))
			c->lt = LT_TIME_MILLIS;
		else if (!strcmp(lt, "time-micros"))
			c->lt = LT_TIME_MICROS;
		else if (strstr(lt, "timestamp-"))
			c->lt = strstr(lt, "millis") ? LT_TS_MILLIS : LT_TS_MICROS;
	} else if (!strcmp(w, "float")) {
		c->kind = CK_FLOAT;
	} else if (!strcmp(w, "double")) {
		c->kind = CK_DOUBLE;
	}
}

int cps_pg_table_prepare(struct cps_pg_table *t, char *errstr, size_t errstr_size)
{
	json_t *fields = json_object_get(t->schema->json, "fields"), *f;
	size_t i;

	if (t->conv)
		return CPS_OK;
	t->n_fields = json_array_size(fields);
	t->conv = calloc(t->n_fields + 1, sizeof(*t->conv));
	t->holds_default = calloc(t->n_fields + 1, 1);
	t->names = cps_json_names_new(t->schema->json);
	if (!t->conv || !t->holds_default || !t->names)
		goto out_oom;
	if (avro_generic_value_new(t->schema->iface, &t->defaults) != 0) {
		table_unprepare(t);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "cannot create a value of entity '%s': %s", t->entity,
		                       avro_strerror());
	}
	json_array_foreach(fields, i, f)
	{
		struct cps_pg_fieldconv *c = &t->conv[i];
		json_t *d = json_object_get(f, "default");
		avro_value_t dv;

		conv_init(t->schema, f, c);
		if (d && avro_value_get_by_index(&t->defaults, i, &dv, NULL) == 0) {
			struct cps_json_path path;
			char why[CPS_ERRSTR_SIZE];

			cps_json_path_init(&path);
			c->has_default =
			    cps_json_fill(t->names, d, 1, &dv, &path, why, sizeof(why)) == CPS_OK;
		}
	}
	return CPS_OK;
out_oom:
	table_unprepare(t);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

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
	}
	return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

/* Valid UTF-8 (what jansson accepts): no overlongs, surrogates or > U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += k + 1;
	}
	return true;
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
			return cps_seterr(CPS_ERR_INVALID, why, why_size, "null for a field that is not nullable");
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
		if (!utf8_valid((const uint8_t *)text, v->len))
			return cps_seterr(CPS_ERR_INVALID, why, why_size, "text is not valid UTF-8");
		if (avro_value_set_string_len(dst, text, v->len + 1) != 0)
			return avro_fail(why, why_size);
		return CPS_OK;
	case CK_ENUM: {
		size_t i;
		json_t *sym;

		json_array_foreach(c->symbols, i, sym)
		{
			if (json_string_length(sym) == v->len &&
			    !memcmp(json_string_value(sym), text, v->len)) {
				if (avro_value_set_enum(dst, (int)i) != 0)
					return avro_fail(why, why_size);
				return CPS_OK;
			}
		}
		return cps_seterr(CPS_ERR_INVALID, why, why_size, "not a symbol of the field's enum");
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
			if (!parse_date(&p, &iv) || *p)
				return cps_seterr(CPS_ERR_INVALID, why, why_size, "not an ISO date");
			break;
		case LT_TIME_MILLIS:
		case LT_TIME_MICROS:
			if (!parse_time(&p, &iv) || *p)
				return cps_seterr(CPS_ERR_INVALID, why, why_size, "not a time of day");
			if (c->lt == LT_TIME_MILLIS)
				iv /= 1000;
			break;
		case LT_TS_MILLIS:
		case LT_TS_MICROS:
			if (!parse_timestamp(text, &iv))
				return cps_seterr(CPS_ERR_INVALID, why, why_size, "not an ISO timestamp");
			if (c->lt == LT_TS_MILLIS)
				iv = iv >= 0 ? iv / 1000 : -((-iv + 999) / 1000);
			break;
		default:
			if (!parse_int64(text, &iv))
				return cps_seterr(CPS_ERR_INVALID, why, why_size, "not an integer");
		}
		if (c->kind == CK_INT) {
			if (iv < INT32_MIN || iv > INT32_MAX)
				return cps_seterr(CPS_ERR_INVALID, why, why_size, "integer out of int range");
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
			return cps_seterr(
			    rc == CPS_ERR_FATAL ? CPS_ERR_FATAL : CPS_ERR_INVALID, errstr,
			    errstr_size, "column '%s' of %s.%s (field '%s'): %s", p->colnames[i],
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
