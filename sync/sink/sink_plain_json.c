/*
 * Plain JSON for SQL targets (CPS_SINK_FORMAT_JSON, sink_runner.h): an Avro
 * JSON value turned into SQL-friendly values — unions unwrapped, dates and
 * timestamps as text, decimals exact, other bytes as bytea hex, named types
 * resolved in the schema.
 */
#include "sink/sink_runner.h"
#include "base/common.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether a declared type (name `n`, namespace attribute `ns` or NULL) is the
 * one `ref` names. A declaration without a namespace attribute inherits its
 * enclosing one, which we do not track: its short name decides then. */
static bool names_type(const char *n, const char *ns, const char *ref)
{
	const char *dot = strrchr(ref, '.');
	size_t nsl = ns ? strlen(ns) : 0;

	if (!strcmp(n, ref))
		return true;
	if (ns && !strchr(n, '.'))
		return !strncmp(ref, ns, nsl) && ref[nsl] == '.' && !strcmp(ref + nsl + 1, n);
	return dot && !strchr(n, '.') && !strcmp(dot + 1, n);
}

/* The definition of named type `name` inside `node`, or NULL. */
static json_t *find_named(json_t *node, const char *name)
{
	if (json_is_array(node)) {
		size_t i;
		json_t *t, *r;

		json_array_foreach (node, i, t)
			if ((r = find_named(t, name)))
				return r;
		return NULL;
	}
	if (!json_is_object(node))
		return NULL;
	{
		const char *n = json_string_value(json_object_get(node, "name"));
		const char *ns = json_string_value(json_object_get(node, "namespace"));
		const char *type = json_string_value(json_object_get(node, "type"));
		json_t *r;

		if (n && type &&
		    (!strcmp(type, "record") || !strcmp(type, "enum") || !strcmp(type, "fixed")) &&
		    names_type(n, ns, name))
			return node;
		if ((r = find_named(json_object_get(node, "type"), name)))
			return r;
		if ((r = find_named(json_object_get(node, "fields"), name)))
			return r;
		if ((r = find_named(json_object_get(node, "items"), name)))
			return r;
		return find_named(json_object_get(node, "values"), name);
	}
}

static json_t *decimal_text(const char *bytes, size_t len, int scale)
{
	/* two's complement big-endian unscaled value, printed exactly */
	unsigned char mag[64];
	char digits[160], out[200];
	size_t nd = 0, o = 0;
	bool neg = len && (bytes[0] & 0x80);

	if (len > sizeof(mag))
		return NULL;
	for (size_t i = 0; i < len; i++)
		mag[i] = (unsigned char)(neg ? ~bytes[i] : bytes[i]);
	if (neg) /* magnitude = ~x + 1 */
		for (size_t i = len; i-- > 0;)
			if (++mag[i] != 0)
				break;
	for (;;) { /* repeated division by 10 */
		unsigned rem = 0;
		bool zero = true;

		for (size_t i = 0; i < len; i++) {
			unsigned cur = rem * 256 + mag[i];

			mag[i] = (unsigned char)(cur / 10);
			rem = cur % 10;
			if (mag[i])
				zero = false;
		}
		digits[nd++] = (char)('0' + rem);
		if (zero || nd >= sizeof(digits) - 1)
			break;
	}
	while ((int)nd <= scale)
		digits[nd++] = '0';
	if (neg)
		out[o++] = '-';
	for (size_t i = nd; i-- > 0;) {
		out[o++] = digits[i];
		if (scale > 0 && i == (size_t)scale)
			out[o++] = '.';
	}
	out[o] = '\0';
	return json_string(out);
}

/* A union value: null, or {"branch": v} of one of `type`'s branches. */
static json_t *plain_union(json_t *root, json_t *type, json_t *value, char *errstr,
                           size_t errstr_size)
{
	const char *branch;
	size_t i;
	json_t *t;

	if (json_is_null(value))
		return json_null();
	branch = json_object_iter_key(json_object_iter(value));
	if (!branch) {
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "union value is not an object");
		return NULL;
	}
	json_array_foreach (type, i, t) {
		const char *bn = json_is_string(t) ? json_string_value(t)
		                                   : json_string_value(json_object_get(t, "name"));
		const char *ns = json_string_value(json_object_get(t, "namespace"));
		const char *bt = json_string_value(json_object_get(t, "type"));

		if (!bn && bt) /* unnamed complex or primitive-with-logical-type branch */
			bn = bt;
		if (!bn)
			continue;
		if (names_type(bn, ns, branch))
			return cps_sink_plain_json(root, t, json_object_get(value, branch), errstr,
			                           errstr_size);
	}
	cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "union branch '%s' is not in the schema",
	           branch);
	return NULL;
}

/* A date (days since the epoch) as "YYYY-MM-DD". */
static json_t *plain_date(json_t *value)
{
	time_t t = (time_t)json_integer_value(value) * 86400;
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
	return json_string(buf);
}

/* A timestamp-millis / -micros as "YYYY-MM-DDTHH:MM:SS.mmmZ" (or .uuuuuuZ). */
static json_t *plain_timestamp(const char *logical, json_t *value)
{
	int64_t v = json_integer_value(value),
	        div =
	            logical[10] == 'm' && logical[11] == 'i' && logical[12] == 'l' ? 1000 : 1000000;
	int64_t secs = v / div, frac = v % div;
	time_t t;
	struct tm tm;
	char buf[64], date[40];

	if (frac < 0)
		frac += div, secs--;
	t = (time_t)secs;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, sizeof(buf), div == 1000 ? "%s.%03" PRId64 "Z" : "%s.%06" PRId64 "Z", date,
	         frac);
	return json_string(buf);
}

/* bytes or fixed (Avro JSON: code points 0-255): a decimal as its exact
 * text, anything else as "\x<hex>". */
static json_t *plain_bytes(json_t *type, const char *logical, json_t *value, char *errstr,
                           size_t errstr_size)
{
	const char *s = json_string_value(value);
	size_t n = s ? json_string_length(value) : 0, len = 0;
	unsigned char *raw = malloc(n + 1);
	json_t *r = NULL;

	if (!s || !raw) {
		free(raw);
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "expected bytes as a string");
		return NULL;
	}
	/* code points 0-255 in UTF-8 back to bytes */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80)
			raw[len++] = c;
		else if ((c & 0xE0) == 0xC0 && i + 1 < n)
			raw[len++] = (unsigned char)(((c & 0x1F) << 6) | (s[++i] & 0x3F));
	}
	if (logical && !strcmp(logical, "decimal")) {
		r = decimal_text((const char *)raw, len,
		                 (int)json_integer_value(json_object_get(type, "scale")));
	} else {
		char *hex = malloc(2 * len + 3);

		if (hex) {
			hex[0] = '\\';
			hex[1] = 'x';
			for (size_t i = 0; i < len; i++)
				snprintf(hex + 2 + 2 * i, 3, "%02x", raw[i]);
			hex[2 + 2 * len] = '\0';
			r = json_string(hex);
			free(hex);
		}
	}
	free(raw);
	if (!r)
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "bad bytes value");
	return r;
}

/* Adds `value` in plain JSON (of schema `type`) to the object `out` under
 * `key`, or to the array `out` when `key` is NULL. On failure releases `out`,
 * the container being built, and returns false. */
static bool add_plain(json_t *out, const char *key, json_t *root, json_t *type, json_t *value,
                      char *errstr, size_t errstr_size)
{
	json_t *p = cps_sink_plain_json(root, type, value, errstr, errstr_size);

	if (!p) {
		json_decref(out);
		return false;
	}
	if (key)
		json_object_set_new(out, key, p);
	else
		json_array_append_new(out, p);
	return true;
}

/* A record: its fields (those the allow-list left) in plain JSON. */
static json_t *plain_record(json_t *root, json_t *type, json_t *value, char *errstr,
                            size_t errstr_size)
{
	json_t *out = json_object(), *fd;
	size_t i;

	json_array_foreach (json_object_get(type, "fields"), i, fd) {
		const char *name = json_string_value(json_object_get(fd, "name"));
		json_t *v = json_object_get(value, name);

		if (!v) /* removed by the allow-list */
			continue;
		if (!add_plain(out, name, root, json_object_get(fd, "type"), v, errstr,
		               errstr_size))
			return NULL;
	}
	return out;
}

static json_t *plain_array(json_t *root, json_t *type, json_t *value, char *errstr,
                           size_t errstr_size)
{
	json_t *out = json_array(), *items = json_object_get(type, "items"), *v;
	size_t i;

	json_array_foreach (value, i, v) {
		if (!add_plain(out, NULL, root, items, v, errstr, errstr_size))
			return NULL;
	}
	return out;
}

static json_t *plain_map(json_t *root, json_t *type, json_t *value, char *errstr,
                         size_t errstr_size)
{
	json_t *out = json_object(), *values = json_object_get(type, "values"), *v;
	const char *k;

	json_object_foreach (value, k, v) {
		if (!add_plain(out, k, root, values, v, errstr, errstr_size))
			return NULL;
	}
	return out;
}

json_t *cps_sink_plain_json(json_t *root, json_t *type, json_t *value, char *errstr,
                            size_t errstr_size)
{
	const char *tname, *logical;

	if (json_is_string(type)) {
		tname = json_string_value(type);
		if (!strcmp(tname, "bytes") || !strcmp(tname, "string") || !strcmp(tname, "int") ||
		    !strcmp(tname, "long") || !strcmp(tname, "float") || !strcmp(tname, "double") ||
		    !strcmp(tname, "boolean") || !strcmp(tname, "null")) {
			json_t *t = json_pack("{s:s}", "type", tname);
			json_t *r = cps_sink_plain_json(root, t, value, errstr, errstr_size);

			json_decref(t);
			return r;
		}
		type = find_named(root, tname);
		if (!type) {
			cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			           "named type '%s' is not defined", tname);
			return NULL;
		}
	}
	if (json_is_array(type)) /* union: {"branch": v} or null */
		return plain_union(root, type, value, errstr, errstr_size);
	tname = json_string_value(json_object_get(type, "type"));
	logical = json_string_value(json_object_get(type, "logicalType"));
	if (!tname) {
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "schema type without a name");
		return NULL;
	}
	if (logical && !strcmp(logical, "date") && json_is_integer(value))
		return plain_date(value);
	if (logical &&
	    (!strcmp(logical, "timestamp-millis") || !strcmp(logical, "timestamp-micros")) &&
	    json_is_integer(value))
		return plain_timestamp(logical, value);
	if (!strcmp(tname, "bytes") || !strcmp(tname, "fixed"))
		return plain_bytes(type, logical, value, errstr, errstr_size);
	if (!strcmp(tname, "record"))
		return plain_record(root, type, value, errstr, errstr_size);
	if (!strcmp(tname, "array"))
		return plain_array(root, type, value, errstr, errstr_size);
	if (!strcmp(tname, "map"))
		return plain_map(root, type, value, errstr, errstr_size);
	/* primitives and enums (symbols) as they are */
	return json_incref(value);
}
