/*
 * The plain JSON text a SQL target takes (CPS_SINK_FORMAT_JSON), written
 * straight from a unified event's typed record: the values
 * cps_sink_plain_json gives the record's Avro JSON form, without building
 * that form, its plain tree or their text one after another.
 */
#include "sink/sink_runner.h"
#include "base/common.h"
#include "base/utf8.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define MAX_DEPTH 128 /* as the Avro JSON form allows */

static int fail(char *errstr, size_t errstr_size, const char *why, const char *field)
{
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s (field '%s')", why,
	                  field ? field : "?");
}

/* A JSON string of UTF-8 `s`: only what JSON requires is escaped. */
static int put_string(struct cps_buf *b, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int rc = cps_buf_reserve(b, n + 2) ? -1 : cps_buf_append_byte(b, '"');

	for (size_t i = 0; i < n && rc == 0; i++) {
		uint8_t c = s[i];

		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};

			rc = cps_buf_append(b, esc, 2);
		} else if (c < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			rc = cps_buf_append(b, esc, 6);
		} else {
			rc = cps_buf_append_byte(b, c);
		}
	}
	return rc ? rc : cps_buf_append_byte(b, '"');
}

/* A decimal's unscaled value `v` at `scale`, exactly: "-0.05" for -5 at 2. */
static int put_decimal(struct cps_buf *b, int64_t v, int scale)
{
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	char digits[32], out[48];
	size_t nd = 0, o = 0;

	do {
		digits[nd++] = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	while ((int)nd <= scale && nd < sizeof(digits))
		digits[nd++] = '0';
	out[o++] = '"';
	if (v < 0)
		out[o++] = '-';
	for (size_t i = nd; i-- > 0;) {
		out[o++] = digits[i];
		if (scale > 0 && i == (size_t)scale)
			out[o++] = '.';
	}
	out[o++] = '"';
	return cps_buf_append(b, out, o);
}

/* Days since the epoch as "YYYY-MM-DD"; ms since it as
 * "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static int put_time(struct cps_buf *b, int64_t v, bool is_date)
{
	int64_t secs = is_date ? v * 86400 : v / 1000, ms = is_date ? 0 : v % 1000;
	struct tm tm;
	char date[40];
	time_t t;

	if (ms < 0)
		ms += 1000, secs--;
	t = (time_t)secs;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), is_date ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S", &tm);
	if (is_date)
		return cps_buf_printf(b, "\"%s\"", date);
	return cps_buf_printf(b, "\"%s.%03" PRId64 "Z\"", date, ms);
}

/* Bytes other than a decimal, as PostgreSQL's bytea text "\x<hex>". */
static int put_hex(struct cps_buf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int rc = cps_buf_reserve(b, 2 * n + 5) ? -1 : cps_buf_append(b, "\"\\\\x", 4);

	for (size_t i = 0; i < n && rc == 0; i++) {
		char two[2] = {hex[p[i] >> 4], hex[p[i] & 15]};

		rc = cps_buf_append(b, two, 2);
	}
	return rc ? rc : cps_buf_append_byte(b, '"');
}

static int put_value(struct cps_buf *b, const struct cps_rtype *t, const struct cps_tval *v,
                     const char *field, unsigned depth, char *errstr, size_t errstr_size);

/* A record's fields (those `allow` lists, when it is not NULL), an array's
 * items or a map's entries (keys cut at a NUL, as the Avro JSON form has them). */
static int put_container(struct cps_buf *b, const struct cps_rtype *t, const struct cps_tval *v,
                         const char *allow, const char *field, unsigned depth, char *errstr,
                         size_t errstr_size)
{
	bool is_map = t->kind == CPS_RK_MAP, is_array = t->kind == CPS_RK_ARRAY, first = true;
	size_t n = v->u.list.n;
	int rc;

	if (t->kind == CPS_RK_RECORD && n != t->n)
		return fail(errstr, errstr_size, "a record with a wrong number of fields", field);
	if (cps_buf_append_byte(b, is_array ? '[' : '{'))
		return CPS_ERR_FATAL;
	for (size_t i = 0; i < n; i++) {
		const struct cps_tval *item = &v->u.list.v[is_map ? 2 * i : i];
		const struct cps_rtype *it =
		    t->kind == CPS_RK_RECORD ? t->fields[i].type : t->items;
		const char *name = t->kind == CPS_RK_RECORD ? t->fields[i].name : field;

		if (allow && !cps_sink_allowed(allow, name))
			continue;
		if (!first && cps_buf_append_byte(b, ','))
			return CPS_ERR_FATAL;
		first = false;
		if (is_map) {
			size_t klen = strnlen((const char *)item->u.b.ptr, item->u.b.len);

			if (!cps_utf8_valid(item->u.b.ptr, klen))
				return fail(errstr, errstr_size, "a map key is not valid UTF-8",
				            field);
			if (put_string(b, item->u.b.ptr, klen) || cps_buf_append_byte(b, ':'))
				return CPS_ERR_FATAL;
			item++;
		} else if (!is_array) {
			if (put_string(b, (const uint8_t *)name, strlen(name)) ||
			    cps_buf_append_byte(b, ':'))
				return CPS_ERR_FATAL;
		}
		rc = put_value(b, it, item, name, depth + 1, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return cps_buf_append_byte(b, is_array ? ']' : '}') ? CPS_ERR_FATAL : CPS_OK;
}

/* The buffer's -1 (out of memory) as CPS_ERR_FATAL. */
static int written(int buf_rc)
{
	return buf_rc ? CPS_ERR_FATAL : CPS_OK;
}

static int put_scalar(struct cps_buf *b, const struct cps_rtype *t, const struct cps_tval *v,
                      const char *field, char *errstr, size_t errstr_size)
{
	double d;

	switch (t->kind) {
	case CPS_RK_NULL:
		return written(cps_buf_append(b, "null", 4));
	case CPS_RK_BOOLEAN:
		return written(v->u.i ? cps_buf_append(b, "true", 4)
		                      : cps_buf_append(b, "false", 5));
	case CPS_RK_INT:
	case CPS_RK_LONG:
		if (t->logical == CPS_LOGICAL_DATE || t->logical == CPS_LOGICAL_TIMESTAMP_MILLIS)
			return written(put_time(b, v->u.i, t->logical == CPS_LOGICAL_DATE));
		return written(cps_buf_printf(b, "%" PRId64, v->u.i));
	case CPS_RK_FLOAT:
	case CPS_RK_DOUBLE:
		d = t->kind == CPS_RK_FLOAT ? (double)v->u.f : v->u.d;
		if (!isfinite(d))
			return fail(errstr, errstr_size, "a non-finite number has no JSON form",
			            field);
		/* as many digits as give the same double back */
		return written(cps_buf_printf(b, "%.17g", d));
	case CPS_RK_STRING:
		if (!cps_utf8_valid(v->u.b.ptr, v->u.b.len))
			return fail(errstr, errstr_size, "a string is not valid UTF-8", field);
		return written(put_string(b, v->u.b.ptr, v->u.b.len));
	case CPS_RK_BYTES:
	case CPS_RK_FIXED:
		if (t->logical == CPS_LOGICAL_DECIMAL)
			return written(put_decimal(b, v->u.i, t->scale));
		return written(put_hex(b, v->u.b.ptr, v->u.b.len));
	default: /* enum */
		if (v->u.i < 0 || (uint64_t)v->u.i >= t->n)
			return fail(errstr, errstr_size, "an enum index is out of range", field);
		return written(
		    put_string(b, (const uint8_t *)t->symbols[v->u.i], strlen(t->symbols[v->u.i])));
	}
}

static int put_value(struct cps_buf *b, const struct cps_rtype *t, const struct cps_tval *v,
                     const char *field, unsigned depth, char *errstr, size_t errstr_size)
{
	if (depth > MAX_DEPTH)
		return fail(errstr, errstr_size, "a value nested too deep", field);
	if (t->kind == CPS_RK_UNION) { /* its branch's value, null as null */
		if (v->branch < 0 || (size_t)v->branch >= t->n)
			return fail(errstr, errstr_size, "a union without a branch", field);
		t = t->branches[v->branch];
	}
	if (v->kind != t->kind)
		return fail(errstr, errstr_size, "a value that does not match the schema", field);
	if (t->kind == CPS_RK_RECORD || t->kind == CPS_RK_ARRAY || t->kind == CPS_RK_MAP)
		return put_container(b, t, v, NULL, field, depth, errstr, errstr_size);
	return put_scalar(b, t, v, field, errstr, errstr_size);
}

int cps_sink_plain_text(const struct cps_rtype *type, const struct cps_tval *record,
                        const char *allow, struct cps_buf *out, char *errstr, size_t errstr_size)
{
	int rc;

	if (type->kind != CPS_RK_RECORD || record->kind != CPS_RK_RECORD)
		return fail(errstr, errstr_size, "not a record", type->name);
	rc = put_container(out, type, record, allow ? allow : "", NULL, 0, errstr, errstr_size);
	if (rc == CPS_ERR_FATAL)
		cps_seterr(rc, errstr, errstr_size, "out of memory");
	return rc;
}
