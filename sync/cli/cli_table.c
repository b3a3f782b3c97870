/*
 * The terminal renderer of the API commands: JSON values as short texts,
 * cells cut to CPS_TABLE_MAX_CELL display columns and tables aligned on
 * their widest cell. Kept apart from the commands so each command file is
 * only about what it asks the API and which columns it shows.
 */
#include "cli/cli_table.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

/* Display columns of one UTF-8 code point (CJK and full-width: 2). */
static int cp_width(unsigned cp)
{
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

/* Decodes one code point at s (length in *len); invalid bytes count as one. */
static unsigned utf8_next(const unsigned char *s, int *len)
{
	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
		*len = 2;
		return ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu);
	}
	if ((s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
		*len = 3;
		return ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
	}
	if ((s[0] & 0xf8) == 0xf0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
	    (s[3] & 0xc0) == 0x80) {
		*len = 4;
		return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) |
		       (s[3] & 0x3fu);
	}
	*len = 1;
	return '?';
}

static int text_width(const char *s)
{
	int w = 0, len;

	while (*s) {
		w += cp_width(utf8_next((const unsigned char *)s, &len));
		s += len;
	}
	return w;
}

/* A cell: at most CPS_TABLE_MAX_CELL columns, control characters as spaces. Caller frees. */
char *cps_table_cell(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 4), *o = out;
	int w = 0, len;

	if (!out)
		return NULL;
	while (*s) {
		unsigned cp = utf8_next((const unsigned char *)s, &len);
		int cw = cp_width(cp);

		if (w + cw > CPS_TABLE_MAX_CELL - 1 && strlen(s) > (size_t)len) {
			memcpy(o, "\xe2\x80\xa6", 3); /* … */
			o += 3;
			break;
		}
		if (cp < 0x20 || cp == 0x7f) {
			*o++ = ' ';
		} else {
			memcpy(o, s, (size_t)len);
			o += len;
		}
		w += cw;
		s += len;
	}
	*o = '\0';
	return out;
}

/* Any JSON value as text: strings bare, null "-", the rest compact JSON.
 * An Avro JSON union branch {"string": "x"} shows as its value. Caller frees. */
char *cps_cli_value_text(const json_t *v)
{
	if (!v || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_object(v) && json_object_size(v) == 1) {
		const char *k = json_object_iter_key(json_object_iter((json_t *)v));
		json_t *inner = json_object_iter_value(json_object_iter((json_t *)v));

		if (k && !json_is_object(inner) && !json_is_array(inner) &&
		    (!strcmp(k, "string") || !strcmp(k, "int") || !strcmp(k, "long") ||
		     !strcmp(k, "boolean") || !strcmp(k, "double") || !strcmp(k, "float") ||
		     !strcmp(k, "bytes")))
			return cps_cli_value_text(inner);
	}
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

char *cps_cli_member_text(const json_t *o, const char *name)
{
	return cps_cli_value_text(json_object_get(o, name));
}

int cps_table_init(struct cps_table *t, const char *const *header, size_t ncol)
{
	memset(t, 0, sizeof(*t));
	t->ncol = ncol;
	t->cap = 16;
	t->cells = calloc(t->cap * ncol, sizeof(char *));
	if (!t->cells)
		return -1;
	for (size_t i = 0; i < ncol; i++)
		t->cells[i] = strdup(header[i]);
	t->nrow = 1;
	return 0;
}

/* Adds a row of `ncol` texts; takes ownership of each (NULL = "-"). */
int cps_table_add(struct cps_table *t, char **texts)
{
	if (t->nrow == t->cap) {
		char **n = realloc(t->cells, 2 * t->cap * t->ncol * sizeof(char *));

		if (!n) {
			for (size_t i = 0; i < t->ncol; i++)
				free(texts[i]);
			return -1;
		}
		memset(n + t->cap * t->ncol, 0, t->cap * t->ncol * sizeof(char *));
		t->cells = n;
		t->cap *= 2;
	}
	for (size_t i = 0; i < t->ncol; i++) {
		t->cells[t->nrow * t->ncol + i] = cps_table_cell(texts[i] ? texts[i] : "-");
		free(texts[i]);
	}
	t->nrow++;
	return 0;
}

void cps_table_print(struct cps_table *t, FILE *f)
{
	int *w = calloc(t->ncol, sizeof(int));

	if (!w)
		return;
	for (size_t r = 0; r < t->nrow; r++)
		for (size_t c = 0; c < t->ncol; c++) {
			const char *s = t->cells[r * t->ncol + c];
			int tw = s ? text_width(s) : 0;

			if (tw > w[c])
				w[c] = tw;
		}
	for (size_t r = 0; r < t->nrow; r++) {
		for (size_t c = 0; c < t->ncol; c++) {
			const char *s = t->cells[r * t->ncol + c];

			s = s ? s : "";
			if (c + 1 == t->ncol)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%s%*s  ", s, w[c] - text_width(s), "");
		}
	}
	free(w);
}

void cps_table_release(struct cps_table *t)
{
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

char *cps_cli_fmt_int(const json_t *v)
{
	char b[32];

	if (!json_is_integer(v))
		return strdup("-");
	snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
	return strdup(b);
}

char *cps_cli_fmt_age(const json_t *v)
{
	char b[32];
	long long s;

	if (!json_is_integer(v))
		return strdup("-");
	s = (long long)json_integer_value(v);
	if (s < 120)
		snprintf(b, sizeof(b), "%llds", s);
	else if (s < 7200)
		snprintf(b, sizeof(b), "%lldm", s / 60);
	else if (s < 172800)
		snprintf(b, sizeof(b), "%lldh", s / 3600);
	else
		snprintf(b, sizeof(b), "%lldd", s / 86400);
	return strdup(b);
}

char *cps_cli_fmt_join(const json_t *arr)
{
	struct cps_buf b;
	const json_t *v;
	size_t i;
	char *out;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return strdup("-");
	cps_buf_init(&b, 0);
	json_array_foreach (arr, i, v)
		cps_buf_printf(&b, "%s%s", i ? "," : "",
		               json_is_string(v) ? json_string_value(v) : "?");
	out = b.data ? strdup((const char *)b.data) : strdup("-");
	cps_buf_release(&b);
	return out;
}

char *cps_cli_fmt_yesno(const json_t *v)
{
	return strdup(json_is_true(v) ? "yes" : "no");
}

/* The text of `v` as column format `fmt` shows it. Caller frees. */
static char *column_text(const json_t *v, enum cps_cli_fmt fmt)
{
	switch (fmt) {
	case CPS_CLI_INT:
		return cps_cli_fmt_int(v);
	case CPS_CLI_AGE:
		return cps_cli_fmt_age(v);
	case CPS_CLI_JOIN:
		return cps_cli_fmt_join(v);
	case CPS_CLI_YESNO:
		return cps_cli_fmt_yesno(v);
	case CPS_CLI_TEXT:
	default:
		return cps_cli_value_text(v);
	}
}

void cps_cli_print_items(const json_t *items, const struct cps_cli_column *cols, size_t ncol)
{
	const char *head[CPS_CLI_MAX_COLUMNS];
	struct cps_table t;
	const json_t *it;
	size_t i;

	if (ncol > CPS_CLI_MAX_COLUMNS)
		return;
	for (size_t c = 0; c < ncol; c++)
		head[c] = cols[c].head;
	if (cps_table_init(&t, head, ncol) < 0)
		return;
	json_array_foreach (items, i, it) {
		char *row[CPS_CLI_MAX_COLUMNS];

		for (size_t c = 0; c < ncol; c++)
			row[c] = column_text(json_object_get(it, cols[c].member), cols[c].fmt);
		cps_table_add(&t, row);
	}
	cps_table_print(&t, stdout);
	cps_table_release(&t);
}

void cps_cli_print_kv(const char *name, char *text)
{
	printf("%-12s %s\n", name, text ? text : "-");
	free(text);
}

void cps_cli_print_fields(const json_t *o, const struct cps_cli_column *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cps_cli_print_kv(fields[i].head,
		                 column_text(json_object_get(o, fields[i].member), fields[i].fmt));
}
