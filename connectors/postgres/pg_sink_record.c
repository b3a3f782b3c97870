/*
 * A change's record read member by member from its JSON text
 * (pg_sink_record.h). The sink binds every value as text, so a flat record
 * needs no tree: the names and values are written, unescaped and each
 * NUL-ended, into one buffer as long as the text (no value is longer than
 * the text it is read from, quotes or a following comma included). A real
 * is written as jansson prints it, apart (it may be longer than read), and
 * only an array or object value goes through jansson, for its compact text.
 */
#include "connectors/postgres/pg_sink_record.h"
#include "base/common.h"
#include "base/utf8.h"

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 2048 /* jansson's own limit for the nested values */

struct reader {
	const char *p, *end;
	char *out; /* the next free byte of r->text */
};

static void skip_ws(struct reader *rd)
{
	while (rd->p < rd->end &&
	       (*rd->p == ' ' || *rd->p == '\t' || *rd->p == '\n' || *rd->p == '\r'))
		rd->p++;
}

static int hex4(const char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;

		if (d < 0)
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

static char *put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | cp >> 12);
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | cp >> 18);
		*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	return o;
}

/* The \u escape at rd->p (past the backslash and 'u'), a surrogate pair
 * whole, as UTF-8 at *o; -1 for \u0000, a lone surrogate or bad hex. */
static int unicode_escape(struct reader *rd, char **o)
{
	uint32_t cp, lo;

	if (rd->end - rd->p < 4 || hex4(rd->p, &cp) || cp == 0)
		return -1;
	rd->p += 4;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return -1;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (rd->end - rd->p < 6 || rd->p[0] != '\\' || rd->p[1] != 'u' ||
		    hex4(rd->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
			return -1;
		rd->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	*o = put_utf8(*o, cp);
	return 0;
}

/* The string at rd->p (its opening quote) unescaped into rd->out, NUL-ended;
 * returns where it starts, NULL when it is not a valid JSON string. */
static const char *read_string(struct reader *rd)
{
	char *start = rd->out, *o = rd->out;

	rd->p++;
	while (rd->p < rd->end && *rd->p != '"') {
		unsigned char c = (unsigned char)*rd->p++;

		if (c < 0x20)
			return NULL;
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		if (rd->p >= rd->end)
			return NULL;
		switch (*rd->p++) {
		case '"':
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			break;
		case '/':
			*o++ = '/';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			if (unicode_escape(rd, &o))
				return NULL;
			break;
		default:
			return NULL;
		}
	}
	if (rd->p >= rd->end || !cps_utf8_valid((const uint8_t *)start, (size_t)(o - start)))
		return NULL;
	rd->p++; /* the closing quote */
	*o++ = '\0';
	rd->out = o;
	return start;
}

static size_t digits(const char *p, const char *end)
{
	size_t n = 0;

	while (p + n < end && p[n] >= '0' && p[n] <= '9')
		n++;
	return n;
}

/* The length of the JSON number at p, 0 when there is none. */
static size_t number_len(const char *p, const char *end)
{
	const char *q = p;
	size_t n;

	if (q < end && *q == '-')
		q++;
	n = digits(q, end);
	if (!n || (n > 1 && *q == '0'))
		return 0;
	q += n;
	if (q < end && *q == '.') {
		n = digits(++q, end);
		if (!n)
			return 0;
		q += n;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		n = digits(q, end);
		if (!n)
			return 0;
		q += n;
	}
	return (size_t)(q - p);
}

/* The length of the array or object at p, up to its matching bracket (its
 * strings and their escapes skipped), 0 when it does not end. */
static size_t nested_len(const char *p, const char *end)
{
	size_t depth = 0;
	const char *q = p;

	for (; q < end; q++) {
		if (*q == '"') {
			for (q++; q < end && *q != '"'; q++)
				if (*q == '\\')
					q++;
			if (q >= end)
				return 0;
		} else if (*q == '[' || *q == '{') {
			if (++depth > MAX_DEPTH)
				return 0;
		} else if ((*q == ']' || *q == '}') && --depth == 0) {
			return (size_t)(q - p) + 1;
		}
	}
	return 0;
}

/* The number p[0..n) as jansson prints what it loads from it into out
 * (NUM_TEXT bytes): an integer as "%lld" ("-0" is 0; never longer than
 * the number), a real as "%.17g" with ".0" when it would read as an integer
 * and no '+' or leading zeros in its exponent. -1 for what jansson refuses
 * (an integer out of int64's range, a real out of double's) and when memory
 * is out. */
#define NUM_TEXT 40
static int number_text(const char *p, size_t n, char *out, bool *real)
{
	char small[64], *num = n < sizeof(small) ? small : malloc(n + 1), *e;
	long long v;
	double d;
	int err;

	*real = memchr(p, '.', n) || memchr(p, 'e', n) || memchr(p, 'E', n);
	if (!num)
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	errno = 0;
	if (!*real)
		v = strtoll(num, NULL, 10);
	else
		d = strtod(num, NULL);
	err = errno;
	if (num != small)
		free(num);
	if (!*real) {
		if (err == ERANGE)
			return -1;
		snprintf(out, NUM_TEXT, "%lld", v);
		return 0;
	}
	if (err == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL))
		return -1;
	snprintf(out, NUM_TEXT, "%.17g", d);
	if (!strchr(out, '.') && !strchr(out, 'e'))
		strcat(out, ".0");
	if ((e = strchr(out, 'e'))) {
		char *digits = e + 1 + (e[1] == '-'), *from = e + 1;

		while (*from == '+' || *from == '-')
			from++;
		while (*from == '0' && from[1])
			from++;
		memmove(digits, from, strlen(from) + 1);
	}
	return 0;
}

/* A text made apart from r->text (an array, an object or a real), kept. */
static int keep_apart(struct pg_sink_record *r, char *text, const char **value)
{
	char **grown = text ? realloc(r->apart, (r->n_apart + 1) * sizeof(*grown)) : NULL;

	if (!grown) {
		free(text);
		return PG_SINK_RECORD_OOM;
	}
	r->apart = grown;
	r->apart[r->n_apart++] = text;
	*value = text;
	return PG_SINK_RECORD_OK;
}

/* A number: an integer into rd->out, a real apart (it may be longer). */
static int read_number(struct reader *rd, struct pg_sink_record *r, const char **value)
{
	size_t n = number_len(rd->p, rd->end);
	char text[NUM_TEXT];
	bool real;

	if (!n || number_text(rd->p, n, text, &real))
		return PG_SINK_RECORD_INVALID;
	rd->p += n;
	if (real)
		return keep_apart(r, strdup(text), value);
	*value = strcpy(rd->out, text);
	rd->out += strlen(text) + 1;
	return PG_SINK_RECORD_OK;
}

/* The literal at rd->p of length n, copied NUL-ended into rd->out. */
static const char *copy_literal(struct reader *rd, size_t n)
{
	char *start = rd->out;

	memcpy(start, rd->p, n);
	start[n] = '\0';
	rd->out += n + 1;
	rd->p += n;
	return start;
}

static int literal_is(const struct reader *rd, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(rd->end - rd->p) >= n && !memcmp(rd->p, word, n);
}

/* An array or object value as jansson's compact text, kept apart. */
static int read_nested(struct reader *rd, struct pg_sink_record *r, const char **value)
{
	size_t n = nested_len(rd->p, rd->end);
	json_t *v = n ? json_loadb(rd->p, n, 0, NULL) : NULL;
	char *text;

	if (!v)
		return PG_SINK_RECORD_INVALID;
	text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	rd->p += n;
	return keep_apart(r, text, value);
}

static int read_value(struct reader *rd, struct pg_sink_record *r, const char **value)
{
	size_t n;

	*value = NULL;
	if (rd->p >= rd->end)
		return PG_SINK_RECORD_INVALID;
	switch (*rd->p) {
	case '"':
		*value = read_string(rd);
		return *value ? PG_SINK_RECORD_OK : PG_SINK_RECORD_INVALID;
	case '[':
	case '{':
		return read_nested(rd, r, value);
	case 'n':
		if (!literal_is(rd, "null"))
			return PG_SINK_RECORD_INVALID;
		rd->p += 4;
		return PG_SINK_RECORD_OK;
	case 't':
	case 'f':
		n = literal_is(rd, "true") ? 4 : literal_is(rd, "false") ? 5 : 0;
		if (!n)
			return PG_SINK_RECORD_INVALID;
		*value = copy_literal(rd, n);
		return PG_SINK_RECORD_OK;
	default:
		return read_number(rd, r, value);
	}
}

/* Adds a member, or gives an earlier one of the same name its value. */
static int add_member(struct pg_sink_record *r, size_t *cap, const char *name, const char *value)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->m[i].name, name)) {
			r->m[i].value = value;
			return PG_SINK_RECORD_OK;
		}
	if (cps_grow(&r->m, cap, r->n + 1, sizeof(*r->m)))
		return PG_SINK_RECORD_OOM;
	r->m[r->n++] = (struct pg_sink_member){name, value};
	return PG_SINK_RECORD_OK;
}

int pg_sink_record_read(const char *json, size_t len, struct pg_sink_record *r)
{
	struct reader rd = {json, json + len, NULL};
	size_t cap = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->text = malloc(len + 1);
	if (!r->text)
		return PG_SINK_RECORD_OOM;
	rd.out = r->text;
	skip_ws(&rd);
	if (rd.p >= rd.end || *rd.p++ != '{')
		return PG_SINK_RECORD_INVALID;
	skip_ws(&rd);
	if (rd.p < rd.end && *rd.p == '}') {
		rd.p++;
	} else {
		for (;;) {
			const char *name, *value;

			if (rd.p >= rd.end || *rd.p != '"' || !(name = read_string(&rd)))
				return PG_SINK_RECORD_INVALID;
			skip_ws(&rd);
			if (rd.p >= rd.end || *rd.p++ != ':')
				return PG_SINK_RECORD_INVALID;
			skip_ws(&rd);
			if ((rc = read_value(&rd, r, &value)) != PG_SINK_RECORD_OK ||
			    (rc = add_member(r, &cap, name, value)) != PG_SINK_RECORD_OK)
				return rc;
			skip_ws(&rd);
			if (rd.p < rd.end && *rd.p == ',') {
				rd.p++;
				skip_ws(&rd);
				continue;
			}
			if (rd.p >= rd.end || *rd.p++ != '}')
				return PG_SINK_RECORD_INVALID;
			break;
		}
	}
	skip_ws(&rd);
	return rd.p == rd.end ? PG_SINK_RECORD_OK : PG_SINK_RECORD_INVALID;
}

void pg_sink_record_release(struct pg_sink_record *r)
{
	for (size_t i = 0; i < r->n_apart; i++)
		free(r->apart[i]);
	free(r->apart);
	free(r->m);
	free(r->text);
	memset(r, 0, sizeof(*r));
}
