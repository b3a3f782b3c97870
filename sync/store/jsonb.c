/*
 * Avro JSON in and out of PostgreSQL jsonb. jsonb cannot hold U+0000, which
 * the Avro JSON encoding of bytes and decimals contains, so strings are
 * escaped reversibly with U+E000 on the way in (U+0000 -> U+E000 '0',
 * U+E000 -> U+E000 U+E000) and unescaped on the way out.
 */
#include "store/jsonb.h"

#include "base/buf.h"
#include "base/common.h"
#include "store/state_facts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char PUA[] = "\xee\x80\x80"; /* U+E000, the escape character */

static int str_special(const char *p, size_t n, int decode)
{
	if (!decode && memchr(p, '\0', n))
		return 1;
	return memmem(p, n, PUA, 3) != NULL;
}

static int json_special(json_t *j, int decode)
{
	const char *k;
	json_t *v;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_STRING:
		return str_special(json_string_value(j), json_string_length(j), decode);
	case JSON_ARRAY:
		json_array_foreach (j, i, v)
			if (json_special(v, decode))
				return 1;
		return 0;
	case JSON_OBJECT:
		json_object_foreach (j, k, v)
			if (str_special(k, strlen(k), decode) || json_special(v, decode))
				return 1;
		return 0;
	default:
		return 0;
	}
}

/* The string (escaped or unescaped) as a new jansson string. Object keys
 * cannot hold U+0000 in jansson's API, so keys only carry U+E000 pairs. */
static json_t *str_transcode(const char *p, size_t n, int decode)
{
	struct cps_buf b;
	json_t *out = NULL;

	cps_buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		int r;

		if (!decode && p[i] == '\0') {
			r = cps_buf_append(&b, PUA, 3) || cps_buf_append_byte(&b, '0');
		} else if (!decode && i + 3 <= n && !memcmp(p + i, PUA, 3)) {
			r = cps_buf_append(&b, PUA, 3) || cps_buf_append(&b, PUA, 3);
			i += 2;
		} else if (decode && i + 3 <= n && !memcmp(p + i, PUA, 3)) {
			i += 3;
			if (i < n && p[i] == '0') {
				r = cps_buf_append_byte(&b, '\0');
			} else if (i + 3 <= n && !memcmp(p + i, PUA, 3)) {
				r = cps_buf_append(&b, PUA, 3);
				i += 2;
			} else { /* not ours: keep it as it was */
				r = cps_buf_append(&b, PUA, 3);
				i--;
			}
		} else {
			r = cps_buf_append_byte(&b, (uint8_t)p[i]);
		}
		if (r)
			goto out;
	}
	out = json_stringn_nocheck(b.data ? (const char *)b.data : "", b.len);
out:
	cps_buf_release(&b);
	return out;
}

/* A new reference: `j` itself when nothing needs (un)escaping. */
static json_t *json_transcode(json_t *j, int decode)
{
	const char *k;
	json_t *v, *out;
	size_t i;

	if (!json_special(j, decode))
		return json_incref(j);
	switch (json_typeof(j)) {
	case JSON_STRING:
		return str_transcode(json_string_value(j), json_string_length(j), decode);
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach (j, i, v)
			if (!out || json_array_append_new(out, json_transcode(v, decode)))
				goto fail;
		return out;
	case JSON_OBJECT:
		out = json_object();
		json_object_foreach (j, k, v) {
			json_t *key = str_transcode(k, strlen(k), decode);
			int r = !out || !key ||
			        json_object_setn_new(out, json_string_value(key),
			                             json_string_length(key),
			                             json_transcode(v, decode));

			json_decref(key);
			if (r)
				goto fail;
		}
		return out;
	default:
		return json_incref(j);
	}
fail:
	json_decref(out);
	return NULL;
}

int cps_jsonb_put_string(struct cps_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int r = cps_buf_append_byte(out, '"');

	for (size_t i = 0; !r && i < n; i++) {
		uint8_t c = (uint8_t)s[i];

		if (c == '\0') { /* jsonb cannot hold U+0000: U+E000 '0' (see above) */
			r = cps_buf_append(out, PUA, 3) || cps_buf_append_byte(out, '0');
		} else if (i + 3 <= n && !memcmp(s + i, PUA, 3)) {
			r = cps_buf_append(out, PUA, 3) || cps_buf_append(out, PUA, 3);
			i += 2;
		} else if (c == '"' || c == '\\') {
			r = cps_buf_append_byte(out, '\\') || cps_buf_append_byte(out, c);
		} else if (c < 0x20) {
			r = cps_buf_append(out, "\\u00", 4) ||
			    cps_buf_append_byte(out, hex[c >> 4]) ||
			    cps_buf_append_byte(out, hex[c & 15]);
		} else {
			r = cps_buf_append_byte(out, c);
		}
	}
	return r || cps_buf_append_byte(out, '"') ? -1 : 0;
}

char *cps_jsonb_param(json_t *j, const char *def, int *ok)
{
	json_t *t;
	char *text;

	*ok = 1;
	if (!j) {
		if (!def)
			return NULL;
		text = strdup(def);
		*ok = text != NULL;
		return text;
	}
	/* Most values hold neither U+0000 (dumped as the escape \u0000) nor
	 * U+E000 (dumped as is): then the text needs nothing and the tree is
	 * not walked again. */
	text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (text && (strstr(text, "\\u0000") || strstr(text, PUA))) {
		free(text);
		t = json_transcode(j, 0);
		text = t ? json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		json_decref(t);
	}
	*ok = text != NULL;
	return text;
}

json_t *cps_jsonb_value(const PGresult *res, int row, int col)
{
	json_t *raw, *out;

	if (PQgetisnull(res, row, col))
		return json_null();
	raw = json_loadb(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col),
	                 JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!raw)
		return NULL;
	/* without U+E000 in the text there is nothing to unescape */
	if (!memmem(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col), PUA, 3))
		return raw;
	out = json_transcode(raw, 1);
	json_decref(raw);
	return out;
}

/* ---- a row's facts (store/state_facts.h) ------------------------------- */

/* A column's bytea (text or binary result format) decoded by `decode`. */
static int bytea_column(const PGresult *res, int row, int col, const char *name,
                        cps_tree_decode_fn *decode, json_t **out, size_t *size, char *errstr,
                        size_t errstr_size)
{
	unsigned char *raw;
	size_t n;
	int rc;

	if (PQfformat(res, col) == 1)
		return decode((const uint8_t *)PQgetvalue(res, row, col),
		              (size_t)PQgetlength(res, row, col), out, size, errstr, errstr_size);
	raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &n);
	if (!raw)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "store: a stored '%s' is not bytea text (or out of memory)",
		                  name);
	rc = decode(raw, n, out, size, errstr, errstr_size);
	PQfreemem(raw);
	return rc;
}

/* A row's object from its binary column `names[0]` when not NULL, else
 * from the jsonb column `names[1]` it replaced (rows written before it). */
static int binary_or_jsonb(const PGresult *res, int row, int bin_col, int json_col,
                           const char *const names[2], cps_tree_decode_fn *decode, json_t **out,
                           size_t *size, char *errstr, size_t errstr_size)
{
	size_t unused;

	*out = NULL;
	if (!size)
		size = &unused;
	if (!PQgetisnull(res, row, bin_col))
		return bytea_column(res, row, bin_col, names[0], decode, out, size, errstr,
		                    errstr_size);
	*out = cps_jsonb_value(res, row, json_col);
	*size = (size_t)PQgetlength(res, row, json_col);
	if (json_is_object(*out))
		return CPS_OK;
	json_decref(*out);
	*out = NULL;
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
	                  "store: a stored '%s' is not a JSON object", names[1]);
}

int cps_facts_column(const PGresult *res, int row, int facts_col, int platforms_col,
                     json_t **platforms, size_t *size, char *errstr, size_t errstr_size)
{
	static const char *const names[2] = {"facts", "platforms"};

	return binary_or_jsonb(res, row, facts_col, platforms_col, names, cps_facts_decode_sized,
	                       platforms, size, errstr, errstr_size);
}

int cps_prov_column(const PGresult *res, int row, int prov_col, int json_col, json_t **prov,
                    size_t *size, char *errstr, size_t errstr_size)
{
	static const char *const names[2] = {"prov", "provenance"};

	return binary_or_jsonb(res, row, prov_col, json_col, names, cps_prov_decode, prov, size,
	                       errstr, errstr_size);
}
