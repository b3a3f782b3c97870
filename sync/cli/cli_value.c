/*
 * Field values of the API commands read with their Avro schema (cli_value.h):
 * the value and its type are walked together (records, arrays, maps, union
 * branches) and every decimal becomes its digits with the schema's scale,
 * every other bytes value hex; the rest stays as the API gave it.
 */
#include "cli/cli_value.h"
#include "cli/cli_table.h"

#include "base/buf.h"
#include "base/common.h"
#include "http/dashboard.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32 /* nesting of a value walked; deeper parts stay raw */

json_t *cps_cli_entity_schema(struct cps_api_client *c, const char *entity)
{
	const struct cps_asset *a;
	char path[160], err[CPS_ERRSTR_SIZE], name[128];
	json_t *doc = NULL;
	long status = 0;

	for (const char *p = entity; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
			return NULL; /* not an entity name: no asset has it */
	if (snprintf(name, sizeof(name), "%s.avsc", entity) >= (int)sizeof(name))
		return NULL;
	snprintf(path, sizeof(path), "/assets/%s", name);
	if (c &&
	    cps_api_client_call(c, "GET", path, NULL, &status, &doc, err, sizeof(err)) == CPS_OK &&
	    status == 200 && json_is_object(doc))
		return doc;
	json_decref(doc);
	/* an older server, or none: this binary's copy */
	a = cps_dashboard_asset(name);
	return a ? json_loadb((const char *)a->data, a->size, 0, NULL) : NULL;
}

/* The bytes of an Avro JSON bytes string (one code point 0..255 a byte)
 * into out (at most `cap`); -1 when it is not one or is longer. */
static int avro_bytes(const json_t *s, unsigned char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)json_string_value(s);
	size_t len = json_string_length(s), i = 0, n = 0;

	while (i < len) {
		if (n == cap)
			return -1;
		if (p[i] < 0x80) {
			out[n++] = p[i++];
		} else if ((p[i] == 0xc2 || p[i] == 0xc3) && i + 1 < len &&
		           (p[i + 1] & 0xc0) == 0x80) {
			out[n++] = (unsigned char)(((p[i] & 0x03u) << 6) | (p[i + 1] & 0x3fu));
			i += 2;
		} else {
			return -1;
		}
	}
	return (int)n;
}

/* A decimal's bytes (big-endian two's complement, at most 8) with `scale`
 * digits after the point, e.g. 02 14 34 scale 2 -> "1365.00". */
static json_t *decimal_text(const unsigned char *b, int n, int scale)
{
	char digits[32], out[64];
	uint64_t u = (n > 0 && (b[0] & 0x80)) ? UINT64_MAX : 0, mag;
	int neg, len, k = 0;

	for (int i = 0; i < n; i++)
		u = (u << 8) | b[i];
	neg = (int64_t)u < 0;
	mag = neg ? ~u + 1 : u;
	len = snprintf(digits, sizeof(digits), "%0*llu", scale + 1, (unsigned long long)mag);
	if (len < 0 || len >= (int)sizeof(digits))
		return NULL;
	if (neg)
		out[k++] = '-';
	memcpy(out + k, digits, (size_t)(len - scale));
	k += len - scale;
	if (scale > 0) {
		out[k++] = '.';
		memcpy(out + k, digits + len - scale, (size_t)scale);
		k += scale;
	}
	out[k] = '\0';
	return json_string(out);
}

static json_t *hex_text(const unsigned char *b, int n)
{
	static const char hex[] = "0123456789abcdef";
	char out[2 * 64 + 3];
	int k = 0;

	out[k++] = '0';
	out[k++] = 'x';
	for (int i = 0; i < n; i++) {
		out[k++] = hex[b[i] >> 4];
		out[k++] = hex[b[i] & 15];
	}
	out[k] = '\0';
	return json_string(out);
}

/* The text of a bytes or fixed value `v` of type object `t`, NULL when it
 * stays as it is (not a bytes string, or too long to show). */
static json_t *bytes_text(const json_t *t, const json_t *v)
{
	const char *lt = json_string_value(json_object_get(t, "logicalType"));
	json_int_t scale = json_integer_value(json_object_get(t, "scale"));
	unsigned char b[64];
	int n;

	if (!json_is_string(v) || (n = avro_bytes(v, b, sizeof(b))) < 0)
		return NULL;
	if (lt && !strcmp(lt, "decimal") && n <= 8 && scale >= 0 && scale <= 18)
		return decimal_text(b, n, (int)scale);
	return hex_text(b, n);
}

static json_t *render(const json_t *t, const json_t *v, int depth);

/* The branch of union `u` a value {"BRANCH": x} names, by its type name
 * (short or full) or primitive; NULL when none. */
static const json_t *union_branch(const json_t *u, const char *name)
{
	const json_t *b;
	size_t i;

	json_array_foreach (u, i, b) {
		const char *tn = json_is_string(b) ? json_string_value(b)
		                                   : json_string_value(json_object_get(b, "type"));
		const char *n = json_string_value(json_object_get(b, "name"));
		const char *dot = strrchr(name, '.');

		if ((n && (!strcmp(n, name) || (dot && !strcmp(n, dot + 1)))) ||
		    (tn && !n && !strcmp(tn, name)))
			return b;
	}
	return NULL;
}

/* A record value: each field rendered with its type. */
static json_t *render_record(const json_t *t, const json_t *v, int depth)
{
	json_t *out = json_deep_copy(v), *f;
	size_t i;

	json_array_foreach (json_object_get(t, "fields"), i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		const json_t *fv = name ? json_object_get(v, name) : NULL;
		json_t *r = fv ? render(json_object_get(f, "type"), fv, depth + 1) : NULL;

		if (r && out)
			json_object_set_new(out, name, r);
		else
			json_decref(r);
	}
	return out;
}

/* A copy of the Avro JSON value `v` of type `t` with its decimals and bytes
 * as texts; NULL when `v` shows as it is (no bytes in its type, or a value
 * that does not fit it). */
static json_t *render(const json_t *t, const json_t *v, int depth)
{
	const json_t *inner = json_object_get(t, "type");
	const char *tn = json_string_value(inner);

	if (depth > MAX_DEPTH || !t || !v || json_is_null(v))
		return NULL;
	if (json_is_string(t))
		return !strcmp(json_string_value(t), "bytes") ? bytes_text(t, v) : NULL;
	if (json_is_array(t)) {
		const char *k = json_is_object(v) && json_object_size(v) == 1
		                    ? json_object_iter_key(json_object_iter((json_t *)v))
		                    : NULL;
		const json_t *b = k ? union_branch(t, k) : NULL;

		/* {"BRANCH": x} shows as x rendered, a bare value with the one
		 * non-null branch (a union written without its branch) */
		if (b)
			return render(b, json_object_iter_value(json_object_iter((json_t *)v)),
			              depth + 1);
		if (json_array_size(t) == 2 && json_is_string(json_array_get(t, 0)) &&
		    !strcmp(json_string_value(json_array_get(t, 0)), "null"))
			return render(json_array_get(t, 1), v, depth + 1);
		return NULL;
	}
	if (!json_is_object(t))
		return NULL;
	if (!tn)
		return render(inner, v, depth + 1);
	if (!strcmp(tn, "bytes") || !strcmp(tn, "fixed"))
		return bytes_text(t, v);
	if (!strcmp(tn, "record") && json_is_object(v))
		return render_record(t, v, depth);
	if ((!strcmp(tn, "array") && json_is_array(v)) ||
	    (!strcmp(tn, "map") && json_is_object(v))) {
		const json_t *it = json_object_get(t, tn[0] == 'a' ? "items" : "values");
		json_t *out = json_deep_copy(v), *x;
		size_t i;
		const char *k;

		if (out && json_is_array(out)) {
			json_array_foreach (v, i, x) {
				json_t *r = render(it, x, depth + 1);

				if (r)
					json_array_set_new(out, i, r);
			}
		} else if (out) {
			json_object_foreach ((json_t *)v, k, x) {
				json_t *r = render(it, x, depth + 1);

				if (r)
					json_object_set_new(out, k, r);
			}
		}
		return out;
	}
	return NULL;
}

/* The type of field `field` of record schema `schema`, NULL when none. */
static const json_t *field_type(const json_t *schema, const char *field)
{
	const json_t *f;
	size_t i;

	if (!field)
		return NULL;
	json_array_foreach (json_object_get(schema, "fields"), i, f) {
		const char *n = json_string_value(json_object_get(f, "name"));

		if (n && !strcmp(n, field))
			return json_object_get(f, "type");
	}
	return NULL;
}

char *cps_cli_field_text(const json_t *schema, const char *field, const json_t *v)
{
	json_t *r = render(field_type(schema, field), v, 0);
	char *text = cps_cli_value_text(r ? r : v);

	json_decref(r);
	return text;
}

void cps_cli_render_member(const json_t *schema, const char *field, json_t *o, const char *member)
{
	const json_t *v = json_object_get(o, member);
	json_t *r = v ? render(field_type(schema, field), v, 0) : NULL;

	if (r)
		json_object_set_new(o, member, r);
}
