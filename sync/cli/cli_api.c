/*
 * The terminal commands that speak to a running cpsync over its HTTP API
 * (docs/openapi.yaml): status, conflicts, records, dlq and connectors.
 * Each takes --url/--token (or $CPSYNC_URL/$CPSYNC_TOKEN) and --json; the
 * human output is aligned tables of what the API returns, masked as it is.
 */
#include "cli/api_client.h"
#include "base/buf.h"
#include "cli/cli.h"
#include "base/common.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CELL 48 /* display columns of a table cell before it is cut */
#define PAGE_MAX 500
#define MAX_IDS  500

/* ---- options shared by every command ------------------------------------ */

struct common_opts {
	const char *url;
	const char *token;
	long timeout_ms;
	bool json;
};

enum {
	OPT_URL = 1000,
	OPT_TOKEN,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_STATUS,
	OPT_ENTITY,
	OPT_FIELD,
	OPT_PLATFORM,
	OPT_LIMIT,
	OPT_ALL,
	OPT_TAKE,
	OPT_VALUE,
	OPT_DISMISS,
	OPT_REASON,
	OPT_HISTORY,
	OPT_REASON_CONTAINS,
	OPT_NOTE,
	OPT_HELP,
};

#define COMMON_LONGOPTS                                                                            \
	{"url", required_argument, NULL, OPT_URL}, {"token", required_argument, NULL, OPT_TOKEN},  \
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},                                     \
	    {"json", no_argument, NULL, OPT_JSON},                                                 \
	{                                                                                          \
		"help", no_argument, NULL, OPT_HELP                                                \
	}

static const char COMMON_USAGE[] =
    "common options:\n"
    "  --url URL      cpsync's HTTP address (default $CPSYNC_URL, else " CPS_API_CLIENT_DEFAULT_URL
    ")\n"
    "  --token TOKEN  bearer token (default $CPSYNC_TOKEN)\n"
    "  --timeout S    seconds to wait for an answer (default 30)\n"
    "  --json         print the API's JSON instead of tables\n";

/* Handles a common option; returns 1 when it was one, -1 on a bad value. */
static int common_opt(struct common_opts *o, int c, const char *arg)
{
	char *end;
	long v;

	switch (c) {
	case OPT_URL:
		o->url = arg;
		return 1;
	case OPT_TOKEN:
		o->token = arg;
		return 1;
	case OPT_JSON:
		o->json = true;
		return 1;
	case OPT_TIMEOUT:
		v = strtol(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || v < 1 || v > 3600) {
			fprintf(stderr, "cpsync: --timeout wants 1..3600 seconds\n");
			return -1;
		}
		o->timeout_ms = v * 1000;
		return 1;
	default:
		return 0;
	}
}

static int parse_count(const char *what, const char *arg, long max, long *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*arg == '\0' || *end != '\0' || v < 1 || v > max) {
		fprintf(stderr, "cpsync: %s wants 1..%ld\n", what, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_id(const char *arg, long long *out)
{
	char *end;
	long long v = strtoll(arg, &end, 10);

	if (*arg == '\0' || *end != '\0' || v < 1) {
		fprintf(stderr, "cpsync: '%s' is not an id (a positive integer)\n", arg);
		return -1;
	}
	*out = v;
	return 0;
}

static int client_open(const struct common_opts *o, struct cps_api_client *c)
{
	char err[CPS_ERRSTR_SIZE];

	if (cps_api_client_init(c, o->url, o->token, o->timeout_ms, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: %s\n", err);
		return -1;
	}
	return 0;
}

/* One request; prints the error and returns -1 unless the status is 2xx
 * (or `also_ok`, e.g. 503 for /readyz). *doc is set on success. */
static int call(struct cps_api_client *c, const char *method, const char *path, json_t *body,
                long also_ok, long *status_out, json_t **doc)
{
	char err[CPS_ERRSTR_SIZE];
	long status;

	*doc = NULL;
	if (cps_api_client_call(c, method, path, body, &status, doc, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: %s\n", err);
		return -1;
	}
	if (status_out)
		*status_out = status;
	if ((status < 200 || status > 299) && status != also_ok) {
		cps_api_client_error(status, *doc, err, sizeof(err));
		fprintf(stderr, "cpsync: %s\n", err);
		json_decref(*doc);
		*doc = NULL;
		return -1;
	}
	if (!*doc) {
		fprintf(stderr, "cpsync: the answer to %s %s is not JSON (HTTP %ld)\n", method,
		        path, status);
		return -1;
	}
	return 0;
}

static void print_json(const json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s) {
		puts(s);
		free(s);
	}
}

/* ---- text cells and tables ---------------------------------------------- */

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

/* A cell: at most MAX_CELL columns, control characters as spaces. Caller frees. */
static char *cell(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 4), *o = out;
	int w = 0, len;

	if (!out)
		return NULL;
	while (*s) {
		unsigned cp = utf8_next((const unsigned char *)s, &len);
		int cw = cp_width(cp);

		if (w + cw > MAX_CELL - 1 && strlen(s) > (size_t)len) {
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
static char *value_text(const json_t *v)
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
			return value_text(inner);
	}
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

static char *member_text(const json_t *o, const char *name)
{
	return value_text(json_object_get(o, name));
}

struct table {
	size_t ncol, nrow, cap;
	char **cells; /* nrow * ncol, row 0 = the header */
};

static int table_init(struct table *t, const char *const *header, size_t ncol)
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
static int table_add(struct table *t, char **texts)
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
		t->cells[t->nrow * t->ncol + i] = cell(texts[i] ? texts[i] : "-");
		free(texts[i]);
	}
	t->nrow++;
	return 0;
}

static void table_print(struct table *t, FILE *f)
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

static void table_release(struct table *t)
{
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static char *fmt_int(const json_t *v)
{
	char b[32];

	if (!json_is_integer(v))
		return strdup("-");
	snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
	return strdup(b);
}

static char *fmt_age(const json_t *v)
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

static char *fmt_join(const json_t *arr)
{
	struct cps_buf b;
	const json_t *v;
	size_t i;
	char *out;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return strdup("-");
	cps_buf_init(&b, 0);
	json_array_foreach(arr, i, v) cps_buf_printf(
	    &b, "%s%s", i ? "," : "", json_is_string(v) ? json_string_value(v) : "?");
	out = b.data ? strdup((const char *)b.data) : strdup("-");
	cps_buf_release(&b);
	return out;
}

/* A query string builder: "?a=1&b=x" with escaped values. */
static int query_add(struct cps_buf *q, const char *name, const char *value)
{
	char *esc;
	int rc;

	if (!value)
		return 0;
	esc = cps_api_client_escape(value);
	if (!esc)
		return -1;
	rc = cps_buf_printf(q, "%c%s=%s", q->len == 0 ? '?' : '&', name, esc);
	free(esc);
	return rc;
}

/* Follows next_cursor from `path_query` (without cursor/limit) until `want`
 * items (0 = all) are in `items`. */
static int list_pages(struct cps_api_client *c, const char *base, struct cps_buf *query, long want,
                      json_t *items, bool *more)
{
	char *cursor = NULL;
	int rc = -1;

	*more = false;
	for (;;) {
		struct cps_buf path;
		json_t *doc = NULL, *next;
		long page = PAGE_MAX;
		size_t have = json_array_size(items);

		if (want > 0 && (long)have >= want)
			break;
		if (want > 0 && want - (long)have < page)
			page = want - (long)have;
		cps_buf_init(&path, 0);
		cps_buf_printf(&path, "%s%s", base, query->len ? (const char *)query->data : "");
		cps_buf_printf(&path, "%climit=%ld", query->len ? '&' : '?', page);
		if (cursor) {
			char *esc = cps_api_client_escape(cursor);

			cps_buf_printf(&path, "&cursor=%s", esc ? esc : "");
			free(esc);
		}
		if (!path.data ||
		    call(c, "GET", (const char *)path.data, NULL, 0, NULL, &doc) < 0) {
			cps_buf_release(&path);
			goto out;
		}
		cps_buf_release(&path);
		json_array_extend(items, json_object_get(doc, "items"));
		next = json_object_get(doc, "next_cursor");
		free(cursor);
		cursor = json_is_string(next) ? strdup(json_string_value(next)) : NULL;
		json_decref(doc);
		if (!cursor)
			break;
	}
	*more = cursor != NULL;
	rc = 0;
out:
	free(cursor);
	return rc;
}

/* ---- cpsync status ------------------------------------------------------ */

static void status_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync status [--json] [--url URL] [--token TOKEN]\n"
	        "  every link's state, lag, freshness, records, errors and dead letters,\n"
	        "  the store and the conflicts; exits 0 when cpsync is ready, 1 when not\n%s",
	        COMMON_USAGE);
}

static void print_status(const json_t *st, const json_t *ready)
{
	static const char *const head[] = {"LINK", "PLATFORM", "DIR",       "STATE",
	                                   "LAG",  "FRESH",    "RECORDS",   "ERRORS",
	                                   "DLQ",  "/MIN",     "LAST ERROR"};
	const json_t *l, *store = json_object_get(st, "store"),
	                 *conf = json_object_get(st, "conflicts"), *p, *v;
	struct table t;
	const char *k;
	size_t i;

	printf("cpsync %s  instance %s  up %llds  %s\n",
	       json_string_value(json_object_get(st, "version")) ?: "?",
	       json_string_value(json_object_get(st, "instance")) ?: "?",
	       (long long)json_integer_value(json_object_get(st, "uptime_s")),
	       json_is_true(json_object_get(ready, "ready")) ? "READY" : "NOT READY");
	json_array_foreach(json_object_get(ready, "reasons"), i, v)
	    printf("  not ready: %s\n", json_string_value(v) ?: "?");
	printf("\n");
	if (table_init(&t, head, CPS_ARRAY_SIZE(head)) == 0) {
		json_array_foreach(json_object_get(st, "links"), i, l)
		{
			char *row[] = {member_text(l, "name"),
			               member_text(l, "platform"),
			               member_text(l, "direction"),
			               member_text(l, "state"),
			               fmt_int(json_object_get(l, "lag")),
			               fmt_age(json_object_get(l, "freshness_s")),
			               fmt_int(json_object_get(l, "records")),
			               fmt_int(json_object_get(l, "errors")),
			               fmt_int(json_object_get(l, "dead_letters")),
			               fmt_int(json_object_get(l, "throughput_per_min")),
			               member_text(l, "last_error")};
			table_add(&t, row);
		}
		table_print(&t, stdout);
		table_release(&t);
	}
	json_array_foreach(json_object_get(st, "platforms"), i, p)
	{
		char *fr = fmt_age(json_object_get(p, "freshness_s"));
		char *tg = fmt_age(json_object_get(p, "freshness_target_s"));

		printf("%splatform %-10s freshness %s (target %s) %s\n", i == 0 ? "\n" : "",
		       json_string_value(json_object_get(p, "name")) ?: "?", fr, tg,
		       json_is_true(json_object_get(p, "fresh")) ? "fresh" : "STALE");
		free(fr);
		free(tg);
	}
	if (json_is_true(json_object_get(store, "ok")))
		printf(
		    "\nstore     ok  schema v%lld  records %lld  outbox pending %lld  dead letters "
		    "%lld\n",
		    (long long)json_integer_value(json_object_get(store, "schema_version")),
		    (long long)json_integer_value(json_object_get(store, "records")),
		    (long long)json_integer_value(json_object_get(store, "outbox_pending")),
		    (long long)json_integer_value(json_object_get(store, "dead_letters")));
	else
		printf("\nstore     DOWN: %s\n",
		       json_string_value(json_object_get(store, "error")) ?: "no answer");
	printf("kafka     %s%s\n",
	       json_string_value(json_object_get(json_object_get(st, "kafka"), "bootstrap")) ?: "-",
	       json_is_true(json_object_get(json_object_get(st, "kafka"), "embedded"))
	           ? " (embedded)"
	           : "");
	if (json_is_integer(json_object_get(conf, "open"))) {
		char *age = fmt_age(json_object_get(conf, "oldest_age_s"));

		printf("conflicts open %lld, oldest %s",
		       (long long)json_integer_value(json_object_get(conf, "open")), age);
		free(age);
		i = 0;
		json_object_foreach((json_t *)json_object_get(conf, "by_entity"), k, v)
		    printf("%s%s %lld", i++ ? ", " : "; ", k, (long long)json_integer_value(v));
		printf("\n");
	}
}

int cps_cli_status(int argc, char **argv)
{
	static const struct option longopts[] = {COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
	struct common_opts o = {0};
	struct cps_api_client cl;
	json_t *st = NULL, *ready = NULL;
	long rstatus = 0;
	int c, rc = 1, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			status_usage(stdout);
			return 0;
		}
		r = common_opt(&o, c, optarg);
		if (r < 0)
			return 2;
		if (r == 0) {
			status_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		status_usage(stderr);
		return 2;
	}
	if (client_open(&o, &cl) < 0)
		return 1;
	if (call(&cl, "GET", "/status", NULL, 0, NULL, &st) < 0)
		goto out;
	if (call(&cl, "GET", "/readyz", NULL, 503, &rstatus, &ready) < 0)
		goto out;
	if (o.json) {
		json_object_set(st, "ready", json_object_get(ready, "ready"));
		if (json_object_get(ready, "reasons"))
			json_object_set(st, "not_ready_reasons", json_object_get(ready, "reasons"));
		print_json(st);
	} else {
		print_status(st, ready);
	}
	rc = rstatus == 200 && json_is_true(json_object_get(ready, "ready")) ? 0 : 1;
out:
	json_decref(st);
	json_decref(ready);
	cps_api_client_release(&cl);
	return rc;
}

/* ---- cpsync conflicts --------------------------------------------------- */

static void conflicts_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cpsync conflicts list [--status S] [--entity E] [--field F] [--platform P]\n"
	    "                             [--limit N | --all]\n"
	    "       cpsync conflicts show ID\n"
	    "       cpsync conflicts resolve ID (--take PLATFORM | --value JSON | --dismiss)\n"
	    "                                   --reason TEXT\n"
	    "  the steward role: list (newest first, 50 unless --limit or --all), one\n"
	    "  conflict with its candidates, or resolve one with a reason\n%s",
	    COMMON_USAGE);
}

static void print_conflict_list(const json_t *items)
{
	static const char *const head[] = {"ID",    "STATUS",    "ENTITY", "KEY",
	                                   "FIELD", "PLATFORMS", "AGE",    "CLAIMED BY"};
	struct table t;
	const json_t *it;
	size_t i;

	if (table_init(&t, head, CPS_ARRAY_SIZE(head)) < 0)
		return;
	json_array_foreach(items, i, it)
	{
		char *row[] = {fmt_int(json_object_get(it, "id")),
		               member_text(it, "status"),
		               member_text(it, "entity"),
		               member_text(it, "key"),
		               member_text(it, "field"),
		               fmt_join(json_object_get(it, "platforms")),
		               fmt_age(json_object_get(it, "age_s")),
		               member_text(it, "claimed_by")};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_release(&t);
}

static void print_kv(const char *name, char *text)
{
	printf("%-12s %s\n", name, text ? text : "-");
	free(text);
}

static void print_conflict(const json_t *cf)
{
	static const char *const head[] = {"PLATFORM", "VALUE", "EFFECTIVE MS", "SOURCE MS",
	                                   "POSITION"};
	const json_t *cur = json_object_get(cf, "current"),
	             *res = json_object_get(cf, "resolution"), *cand;
	struct table t;
	size_t i;

	print_kv("conflict", fmt_int(json_object_get(cf, "id")));
	print_kv("status", member_text(cf, "status"));
	print_kv("entity", member_text(cf, "entity"));
	print_kv("key", member_text(cf, "key"));
	print_kv("field", member_text(cf, "field"));
	print_kv("rule", member_text(cf, "rule"));
	print_kv("opened at", member_text(cf, "opened_at"));
	print_kv("age", fmt_age(json_object_get(cf, "age_s")));
	print_kv("claimed by", member_text(cf, "claimed_by"));
	if (json_is_object(cur)) {
		print_kv("current", member_text(cur, "value"));
		print_kv("  from", json_is_object(json_object_get(cur, "provenance"))
		                       ? member_text(json_object_get(cur, "provenance"), "platform")
		                       : NULL);
		print_kv("  version", fmt_int(json_object_get(cur, "record_version")));
	}
	if (json_is_object(res)) {
		print_kv("resolution", member_text(res, "action"));
		if (json_object_get(res, "platform"))
			print_kv("  platform", member_text(res, "platform"));
		if (json_object_get(res, "value"))
			print_kv("  value", member_text(res, "value"));
		print_kv("  by", member_text(res, "by"));
		print_kv("  at", member_text(res, "at"));
		print_kv("  reason", member_text(res, "reason"));
	}
	printf("\n");
	if (table_init(&t, head, CPS_ARRAY_SIZE(head)) < 0)
		return;
	json_array_foreach(json_object_get(cf, "candidates"), i, cand)
	{
		char *row[] = {member_text(cand, "platform"), member_text(cand, "value"),
		               fmt_int(json_object_get(cand, "effective_ms")),
		               fmt_int(json_object_get(cand, "source_ms")),
		               member_text(cand, "position")};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_release(&t);
}

static int conflicts_list(struct cps_api_client *cl, const struct common_opts *o,
                          struct cps_buf *query, long limit, bool all)
{
	json_t *items = json_array();
	bool more = false;
	int rc = 1;

	if (!items || list_pages(cl, "/api/v1/conflicts", query, all ? 0 : limit, items, &more) < 0)
		goto out;
	if (o->json) {
		json_t *doc = json_pack("{s:O, s:b}", "items", items, "more", more);

		print_json(doc);
		json_decref(doc);
	} else {
		print_conflict_list(items);
		if (more)
			printf("(more: --limit N or --all)\n");
	}
	rc = 0;
out:
	json_decref(items);
	return rc;
}

int cps_cli_conflicts(int argc, char **argv)
{
	static const struct option longopts[] = {
	    COMMON_LONGOPTS,
	    {"status", required_argument, NULL, OPT_STATUS},
	    {"entity", required_argument, NULL, OPT_ENTITY},
	    {"field", required_argument, NULL, OPT_FIELD},
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"all", no_argument, NULL, OPT_ALL},
	    {"take", required_argument, NULL, OPT_TAKE},
	    {"value", required_argument, NULL, OPT_VALUE},
	    {"dismiss", no_argument, NULL, OPT_DISMISS},
	    {"reason", required_argument, NULL, OPT_REASON},
	    {NULL, 0, NULL, 0}};
	struct common_opts o = {0};
	const char *status = NULL, *entity = NULL, *field = NULL, *platform = NULL, *take = NULL,
	           *value = NULL, *reason = NULL, *sub;
	bool all = false, dismiss = false;
	long limit = 50;
	long long id = 0;
	struct cps_api_client cl;
	struct cps_buf query;
	json_t *doc = NULL, *body = NULL;
	char path[96];
	int c, r, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
			conflicts_usage(stdout);
			return 0;
		case OPT_STATUS:
			status = optarg;
			break;
		case OPT_ENTITY:
			entity = optarg;
			break;
		case OPT_FIELD:
			field = optarg;
			break;
		case OPT_PLATFORM:
			platform = optarg;
			break;
		case OPT_LIMIT:
			if (parse_count("--limit", optarg, 1000000, &limit) < 0)
				return 2;
			break;
		case OPT_ALL:
			all = true;
			break;
		case OPT_TAKE:
			take = optarg;
			break;
		case OPT_VALUE:
			value = optarg;
			break;
		case OPT_DISMISS:
			dismiss = true;
			break;
		case OPT_REASON:
			reason = optarg;
			break;
		default:
			r = common_opt(&o, c, optarg);
			if (r < 0)
				return 2;
			if (r == 0) {
				conflicts_usage(stderr);
				return 2;
			}
		}
	}
	if (optind >= argc) {
		conflicts_usage(stderr);
		return 2;
	}
	sub = argv[optind];
	if (!strcmp(sub, "list")) {
		if (optind + 1 != argc)
			goto usage;
	} else if (!strcmp(sub, "show") || !strcmp(sub, "resolve")) {
		if (optind + 2 != argc || parse_id(argv[optind + 1], &id) < 0)
			goto usage;
	} else {
		fprintf(stderr, "cpsync: conflicts: unknown subcommand '%s'\n", sub);
		goto usage;
	}
	if (!strcmp(sub, "resolve")) {
		if ((take != NULL) + (value != NULL) + dismiss != 1) {
			fprintf(stderr, "cpsync: conflicts resolve: give one of --take, --value, "
			                "--dismiss\n");
			return 2;
		}
		if (!reason || !*reason) {
			fprintf(stderr, "cpsync: conflicts resolve: --reason TEXT is required\n");
			return 2;
		}
		if (value) {
			json_error_t je;
			json_t *v = json_loads(value, JSON_DECODE_ANY, &je);

			if (!v) {
				fprintf(stderr,
				        "cpsync: conflicts resolve: --value is not JSON (column "
				        "%d): give "
				        "the field's Avro JSON, e.g. '\"text\"' or '{\"string\": "
				        "\"x\"}'\n",
				        je.column);
				return 2;
			}
			body = json_pack("{s:s, s:o, s:s}", "action", "enter_value", "value", v,
			                 "reason", reason);
		} else if (take) {
			body = json_pack("{s:s, s:s, s:s}", "action", "take_platform", "platform",
			                 take, "reason", reason);
		} else {
			body = json_pack("{s:s, s:s}", "action", "dismiss", "reason", reason);
		}
		if (!body) {
			fprintf(stderr,
			        "cpsync: conflicts resolve: --reason or --take is not UTF-8\n");
			return 2;
		}
	} else if (take || value || dismiss || reason) {
		fprintf(stderr,
		        "cpsync: conflicts %s: --take, --value, --dismiss and --reason are "
		        "for resolve\n",
		        sub);
		return 2;
	}
	if (client_open(&o, &cl) < 0) {
		json_decref(body);
		return 1;
	}
	cps_buf_init(&query, 0);
	if (!strcmp(sub, "list")) {
		if (query_add(&query, "status", status) || query_add(&query, "entity", entity) ||
		    query_add(&query, "field", field) || query_add(&query, "platform", platform)) {
			fprintf(stderr, "cpsync: out of memory\n");
			goto out;
		}
		rc = conflicts_list(&cl, &o, &query, limit, all);
	} else if (!strcmp(sub, "show")) {
		snprintf(path, sizeof(path), "/api/v1/conflicts/%lld", id);
		if (call(&cl, "GET", path, NULL, 0, NULL, &doc) < 0)
			goto out;
		if (o.json)
			print_json(doc);
		else
			print_conflict(doc);
		rc = 0;
	} else {
		snprintf(path, sizeof(path), "/api/v1/conflicts/%lld/resolve", id);
		if (call(&cl, "POST", path, body, 0, NULL, &doc) < 0)
			goto out;
		if (o.json) {
			print_json(doc);
		} else {
			const json_t *cf = json_object_get(doc, "conflict");

			printf(
			    "conflict %lld %s; record version %lld\n", id,
			    json_string_value(json_object_get(cf, "status")) ?: "closed",
			    (long long)json_integer_value(json_object_get(doc, "record_version")));
		}
		rc = 0;
	}
out:
	json_decref(doc);
	json_decref(body);
	cps_buf_release(&query);
	cps_api_client_release(&cl);
	return rc;
usage:
	json_decref(body);
	conflicts_usage(stderr);
	return 2;
}

/* ---- cpsync records ----------------------------------------------------- */

static void records_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync records show ENTITY KEY [--history N]\n"
	        "  one unified record: each field's value and where it came from, each\n"
	        "  platform's last-seen values, open conflicts and the change history\n"
	        "  (masked for the viewer role)\n%s",
	        COMMON_USAGE);
}

static void print_record(const json_t *rec)
{
	static const char *const fhead[] = {"FIELD", "VALUE", "FROM", "RULE", "POSITION"};
	static const char *const hhead[] = {"VERSION", "OP", "COMMITTED AT", "CHANGED"};
	const json_t *fields = json_object_get(rec, "record"),
	             *prov = json_object_get(rec, "provenance"), *v, *h, *p;
	struct table t;
	const char *k;
	size_t i;

	print_kv("entity", member_text(rec, "entity"));
	print_kv("key", member_text(rec, "key"));
	print_kv("version", fmt_int(json_object_get(rec, "version")));
	print_kv("deleted", strdup(json_is_true(json_object_get(rec, "deleted")) ? "yes" : "no"));
	print_kv("masked", strdup(json_is_true(json_object_get(rec, "masked")) ? "yes" : "no"));
	print_kv("updated at", member_text(rec, "updated_at"));
	printf("\n");
	if (json_is_object(fields) && table_init(&t, fhead, CPS_ARRAY_SIZE(fhead)) == 0) {
		json_object_foreach((json_t *)fields, k, v)
		{
			const json_t *fp = json_object_get(prov, k);
			char *row[] = {strdup(k), value_text(v),
			               fp ? member_text(fp, "platform") : NULL,
			               fp ? member_text(fp, "rule") : NULL,
			               fp ? member_text(fp, "pos") : NULL};
			table_add(&t, row);
		}
		table_print(&t, stdout);
		table_release(&t);
	}
	json_object_foreach((json_t *)json_object_get(rec, "platforms"), k, p)
	{
		const json_t *pf = json_object_get(p, "fields");
		const char *f;

		printf("\nlast seen from %s:\n", k);
		json_object_foreach((json_t *)pf, f, v)
		{
			char *s = value_text(json_is_object(v) && json_object_get(v, "v")
			                         ? json_object_get(v, "v")
			                         : v);
			char *cs = cell(s ? s : "-");

			printf("  %-28s %s\n", f, cs ? cs : "-");
			free(cs);
			free(s);
		}
	}
	if (json_array_size(json_object_get(rec, "conflicts"))) {
		printf("\nconflicts:\n");
		print_conflict_list(json_object_get(rec, "conflicts"));
	}
	if (json_array_size(json_object_get(rec, "history")) &&
	    table_init(&t, hhead, CPS_ARRAY_SIZE(hhead)) == 0) {
		printf("\nhistory (newest first):\n");
		json_array_foreach(json_object_get(rec, "history"), i, h)
		{
			char *row[] = {fmt_int(json_object_get(h, "version")), member_text(h, "op"),
			               member_text(h, "committed_at"),
			               fmt_join(json_object_get(h, "changed_fields"))};
			table_add(&t, row);
		}
		table_print(&t, stdout);
		table_release(&t);
	}
}

int cps_cli_records(int argc, char **argv)
{
	static const struct option longopts[] = {
	    COMMON_LONGOPTS, {"history", required_argument, NULL, OPT_HISTORY}, {NULL, 0, NULL, 0}};
	struct common_opts o = {0};
	struct cps_api_client cl;
	char *ent = NULL, *key = NULL;
	struct cps_buf path;
	json_t *doc = NULL;
	long history = -1;
	int c, r, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			records_usage(stdout);
			return 0;
		}
		if (c == OPT_HISTORY) {
			char *end;

			history = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || history < 0 || history > 500) {
				fprintf(stderr, "cpsync: --history wants 0..500\n");
				return 2;
			}
			continue;
		}
		r = common_opt(&o, c, optarg);
		if (r <= 0) {
			if (r == 0)
				records_usage(stderr);
			return 2;
		}
	}
	if (optind + 3 != argc || strcmp(argv[optind], "show") != 0) {
		records_usage(stderr);
		return 2;
	}
	if (client_open(&o, &cl) < 0)
		return 1;
	cps_buf_init(&path, 0);
	ent = cps_api_client_escape(argv[optind + 1]);
	key = cps_api_client_escape(argv[optind + 2]);
	if (!ent || !key || cps_buf_printf(&path, "/api/v1/records/%s/%s", ent, key) != 0 ||
	    (history >= 0 && cps_buf_printf(&path, "?history_limit=%ld", history) != 0)) {
		fprintf(stderr, "cpsync: out of memory\n");
		goto out;
	}
	if (call(&cl, "GET", (const char *)path.data, NULL, 0, NULL, &doc) < 0)
		goto out;
	if (o.json)
		print_json(doc);
	else
		print_record(doc);
	rc = 0;
out:
	free(ent);
	free(key);
	json_decref(doc);
	cps_buf_release(&path);
	cps_api_client_release(&cl);
	return rc;
}

/* ---- cpsync dlq --------------------------------------------------------- */

static void dlq_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync dlq list [--status new|replayed|discarded] [--platform P]\n"
	        "                       [--entity E] [--reason-contains TEXT] [--limit N | --all]\n"
	        "       cpsync dlq show ID\n"
	        "       cpsync dlq replay ID... [--note TEXT]\n"
	        "       cpsync dlq discard ID --reason TEXT\n"
	        "  dead letters (the operator role; viewers may list): replay runs them again\n"
	        "  through their platform's ingest path; exits 1 when one is still bad\n%s",
	        COMMON_USAGE);
}

static void print_dlq_list(const json_t *items)
{
	static const char *const head[] = {"ID",     "RECEIVED AT", "PLATFORM", "ENTITY",
	                                   "STATUS", "SIZE",        "ORIGIN",   "REASON"};
	struct table t;
	const json_t *it;
	size_t i;

	if (table_init(&t, head, CPS_ARRAY_SIZE(head)) < 0)
		return;
	json_array_foreach(items, i, it)
	{
		char *row[] = {
		    fmt_int(json_object_get(it, "id")), member_text(it, "received_at"),
		    member_text(it, "platform"),        member_text(it, "entity"),
		    member_text(it, "status"),          fmt_int(json_object_get(it, "size")),
		    member_text(it, "origin"),          member_text(it, "reason")};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_release(&t);
}

static void print_dlq(const json_t *d)
{
	print_kv("dead letter", fmt_int(json_object_get(d, "id")));
	print_kv("status", member_text(d, "status"));
	print_kv("received at", member_text(d, "received_at"));
	print_kv("platform", member_text(d, "platform"));
	print_kv("entity", member_text(d, "entity"));
	print_kv("origin", member_text(d, "origin"));
	print_kv("reason", member_text(d, "reason"));
	print_kv("note", member_text(d, "note"));
	print_kv("size", fmt_int(json_object_get(d, "size")));
	print_kv("updated at", member_text(d, "updated_at"));
	print_kv("key base64", member_text(d, "key"));
	print_kv("raw base64", member_text(d, "raw"));
}

/* Prints the replay results; returns 1 when one was not replayed or skipped. */
static int print_replay(const json_t *doc, bool json)
{
	static const char *const head[] = {"ID", "OUTCOME", "STATUS", "DETAIL"};
	const json_t *it;
	struct table t;
	size_t i;
	int bad = 0;

	json_array_foreach(json_object_get(doc, "results"), i, it)
	{
		const char *oc = json_string_value(json_object_get(it, "outcome"));

		if (!oc || (strcmp(oc, "replayed") != 0 && strcmp(oc, "skipped") != 0))
			bad = 1;
	}
	if (json) {
		print_json(doc);
		return bad;
	}
	if (table_init(&t, head, CPS_ARRAY_SIZE(head)) == 0) {
		json_array_foreach(json_object_get(doc, "results"), i, it)
		{
			const json_t *detail = json_object_get(it, "reason");
			char *row[] = {
			    fmt_int(json_object_get(it, "id")), member_text(it, "outcome"),
			    member_text(it, "status"),
			    value_text(detail ? detail : json_object_get(it, "message"))};
			table_add(&t, row);
		}
		table_print(&t, stdout);
		table_release(&t);
	}
	printf("replayed %lld, still bad %lld, skipped %lld, not found %lld, errors %lld\n",
	       (long long)json_integer_value(json_object_get(doc, "replayed")),
	       (long long)json_integer_value(json_object_get(doc, "still_bad")),
	       (long long)json_integer_value(json_object_get(doc, "skipped")),
	       (long long)json_integer_value(json_object_get(doc, "not_found")),
	       (long long)json_integer_value(json_object_get(doc, "errors")));
	return bad;
}

int cps_cli_dlq(int argc, char **argv)
{
	static const struct option longopts[] = {
	    COMMON_LONGOPTS,
	    {"status", required_argument, NULL, OPT_STATUS},
	    {"platform", required_argument, NULL, OPT_PLATFORM},
	    {"entity", required_argument, NULL, OPT_ENTITY},
	    {"reason-contains", required_argument, NULL, OPT_REASON_CONTAINS},
	    {"limit", required_argument, NULL, OPT_LIMIT},
	    {"all", no_argument, NULL, OPT_ALL},
	    {"reason", required_argument, NULL, OPT_REASON},
	    {"note", required_argument, NULL, OPT_NOTE},
	    {NULL, 0, NULL, 0}};
	struct common_opts o = {0};
	const char *status = NULL, *platform = NULL, *entity = NULL, *contains = NULL,
	           *reason = NULL, *note = NULL, *sub;
	struct cps_api_client cl;
	struct cps_buf query;
	json_t *doc = NULL, *body = NULL, *items = NULL;
	long limit = 50;
	long long id = 0;
	bool all = false, more = false;
	char path[96];
	int c, r, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HELP:
			dlq_usage(stdout);
			return 0;
		case OPT_STATUS:
			status = optarg;
			break;
		case OPT_PLATFORM:
			platform = optarg;
			break;
		case OPT_ENTITY:
			entity = optarg;
			break;
		case OPT_REASON_CONTAINS:
			contains = optarg;
			break;
		case OPT_LIMIT:
			if (parse_count("--limit", optarg, 1000000, &limit) < 0)
				return 2;
			break;
		case OPT_ALL:
			all = true;
			break;
		case OPT_REASON:
			reason = optarg;
			break;
		case OPT_NOTE:
			note = optarg;
			break;
		default:
			r = common_opt(&o, c, optarg);
			if (r <= 0) {
				if (r == 0)
					dlq_usage(stderr);
				return 2;
			}
		}
	}
	if (optind >= argc) {
		dlq_usage(stderr);
		return 2;
	}
	sub = argv[optind];
	if (!strcmp(sub, "list")) {
		if (optind + 1 != argc)
			goto usage;
	} else if (!strcmp(sub, "show") || !strcmp(sub, "discard")) {
		if (optind + 2 != argc || parse_id(argv[optind + 1], &id) < 0)
			goto usage;
		if (!strcmp(sub, "discard") && (!reason || !*reason)) {
			fprintf(stderr, "cpsync: dlq discard: --reason TEXT is required\n");
			return 2;
		}
	} else if (!strcmp(sub, "replay")) {
		if (optind + 1 >= argc || argc - optind - 1 > MAX_IDS) {
			fprintf(stderr, "cpsync: dlq replay: give 1 to %d ids\n", MAX_IDS);
			return 2;
		}
		items = json_array();
		for (int i = optind + 1; i < argc; i++) {
			if (parse_id(argv[i], &id) < 0) {
				json_decref(items);
				return 2;
			}
			json_array_append_new(items, json_integer(id));
		}
		body = json_pack("{s:o}", "ids", items);
		items = NULL;
		if (body && note)
			json_object_set_new(body, "note", json_string(note));
	} else {
		fprintf(stderr, "cpsync: dlq: unknown subcommand '%s'\n", sub);
		goto usage;
	}
	if (client_open(&o, &cl) < 0) {
		json_decref(body);
		return 1;
	}
	cps_buf_init(&query, 0);
	if (!strcmp(sub, "list")) {
		items = json_array();
		if (query_add(&query, "status", status) ||
		    query_add(&query, "platform", platform) ||
		    query_add(&query, "entity", entity) ||
		    query_add(&query, "reason_contains", contains) ||
		    list_pages(&cl, "/api/v1/deadletters", &query, all ? 0 : limit, items, &more) <
		        0)
			goto out;
		if (o.json) {
			doc = json_pack("{s:O, s:b}", "items", items, "more", more);
			print_json(doc);
		} else {
			print_dlq_list(items);
			if (more)
				printf("(more: --limit N or --all)\n");
		}
		rc = 0;
	} else if (!strcmp(sub, "show")) {
		snprintf(path, sizeof(path), "/api/v1/deadletters/%lld", id);
		if (call(&cl, "GET", path, NULL, 0, NULL, &doc) < 0)
			goto out;
		if (o.json)
			print_json(doc);
		else
			print_dlq(doc);
		rc = 0;
	} else if (!strcmp(sub, "discard")) {
		body = json_pack("{s:s}", "reason", reason);
		snprintf(path, sizeof(path), "/api/v1/deadletters/%lld/discard", id);
		if (!body || call(&cl, "POST", path, body, 0, NULL, &doc) < 0)
			goto out;
		if (o.json)
			print_json(doc);
		else
			printf("dead letter %lld %s\n", id,
			       json_string_value(json_object_get(doc, "status")) ?: "discarded");
		rc = 0;
	} else {
		if (!body ||
		    call(&cl, "POST", "/api/v1/deadletters/replay", body, 0, NULL, &doc) < 0)
			goto out;
		rc = print_replay(doc, o.json);
	}
out:
	json_decref(items);
	json_decref(doc);
	json_decref(body);
	cps_buf_release(&query);
	cps_api_client_release(&cl);
	return rc;
usage:
	json_decref(body);
	dlq_usage(stderr);
	return 2;
}

/* ---- cpsync connectors -------------------------------------------------- */

static void connectors_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync connectors list\n"
	        "       cpsync connectors pause|resume|restart NAME [--reason TEXT]\n"
	        "  every link and its state; pause, resume or restart a platform source\n"
	        "  (the operator role)\n%s",
	        COMMON_USAGE);
}

static void print_connectors(const json_t *list)
{
	static const char *const head[] = {"NAME", "PLATFORM", "DIRECTION",
	                                   "TYPE", "STATE",    "CONTROLLABLE"};
	struct table t;
	const json_t *l;
	size_t i;

	if (table_init(&t, head, CPS_ARRAY_SIZE(head)) < 0)
		return;
	json_array_foreach(list, i, l)
	{
		char *row[] = {
		    member_text(l, "name"),
		    member_text(l, "platform"),
		    member_text(l, "direction"),
		    member_text(l, "type"),
		    member_text(l, "state"),
		    strdup(json_is_true(json_object_get(l, "controllable")) ? "yes" : "no")};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_release(&t);
}

int cps_cli_connectors(int argc, char **argv)
{
	static const struct option longopts[] = {
	    COMMON_LONGOPTS, {"reason", required_argument, NULL, OPT_REASON}, {NULL, 0, NULL, 0}};
	struct common_opts o = {0};
	const char *reason = NULL, *sub;
	struct cps_api_client cl;
	struct cps_buf path;
	json_t *doc = NULL, *body = NULL;
	char *name = NULL;
	long status = 0;
	int c, r, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == OPT_HELP) {
			connectors_usage(stdout);
			return 0;
		}
		if (c == OPT_REASON) {
			reason = optarg;
			continue;
		}
		r = common_opt(&o, c, optarg);
		if (r <= 0) {
			if (r == 0)
				connectors_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		connectors_usage(stderr);
		return 2;
	}
	sub = argv[optind];
	if (!strcmp(sub, "list")) {
		if (optind + 1 != argc || reason) {
			connectors_usage(stderr);
			return 2;
		}
	} else if (!strcmp(sub, "pause") || !strcmp(sub, "resume") || !strcmp(sub, "restart")) {
		if (optind + 2 != argc) {
			connectors_usage(stderr);
			return 2;
		}
	} else {
		fprintf(stderr, "cpsync: connectors: unknown subcommand '%s'\n", sub);
		connectors_usage(stderr);
		return 2;
	}
	if (client_open(&o, &cl) < 0)
		return 1;
	cps_buf_init(&path, 0);
	if (!strcmp(sub, "list")) {
		if (call(&cl, "GET", "/api/v1/connectors", NULL, 0, NULL, &doc) < 0)
			goto out;
		if (o.json)
			print_json(doc);
		else
			print_connectors(json_object_get(doc, "connectors"));
		rc = 0;
		goto out;
	}
	name = cps_api_client_escape(argv[optind + 1]);
	body = reason ? json_pack("{s:s}", "reason", reason) : NULL;
	if (!name || (reason && !body) ||
	    cps_buf_printf(&path, "/api/v1/connectors/%s/%s", name, sub) != 0) {
		fprintf(stderr, "cpsync: connectors %s: out of memory or --reason not UTF-8\n",
		        sub);
		goto out;
	}
	if (call(&cl, "POST", (const char *)path.data, body, 0, &status, &doc) < 0)
		goto out;
	if (o.json)
		print_json(doc);
	else if (status == 202)
		printf("%s: asked to %s; state still %s\n", argv[optind + 1], sub,
		       json_string_value(json_object_get(doc, "state")) ?: "?");
	else
		printf("%s: %s\n", argv[optind + 1],
		       json_string_value(json_object_get(doc, "state")) ?: "?");
	rc = 0;
out:
	free(name);
	json_decref(doc);
	json_decref(body);
	cps_buf_release(&path);
	cps_api_client_release(&cl);
	return rc;
}
