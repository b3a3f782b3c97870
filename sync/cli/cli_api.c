/*
 * What the commands that speak to a running cpsync over its HTTP API
 * (docs/openapi.yaml) share: the --url/--token/--timeout/--json options
 * and the table of a command's own, its subcommands and their actions, one
 * request whose failure is printed as one line, and the paging of the list
 * endpoints. The commands themselves are cli_status.c, cli_conflicts.c,
 * cli_records.c, cli_dlq.c, cli_connectors.c and the others of
 * cli_api_int.h.
 */
#include "cli/cli_api_int.h"
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_MAX  500  /* items asked for in one request of a list */
#define N_COMMON  6    /* the common options, first in cps_cli_parse_options' table */
#define OPT_TABLE 1000 /* + i: getopt_long's code of option i of that table */

const char cps_cli_common_usage[] =
    "common options:\n"
    "  --url URL      cpsync's HTTP address (default $CPSYNC_URL, else " CPS_API_CLIENT_DEFAULT_URL
    ")\n"
    "  --token TOKEN  bearer token (default $CPSYNC_TOKEN)\n"
    "  --timeout S    seconds to wait for an answer (default 30)\n"
    "  --cacert FILE  PEM file of the CA that signs an https:// server's certificate\n"
    "                 (default $CPSYNC_CACERT, else the system's)\n"
    "  --json         print the API's JSON instead of tables\n";

/* Stores option `opt`'s argument; 0, or -1 after printing why it is bad. */
static int table_opt(const struct cps_cli_option *opt, const char *arg)
{
	char *end;
	long v;

	if (opt->flag) {
		*opt->flag = true;
		return 0;
	}
	if (opt->text) {
		*opt->text = arg;
		return 0;
	}
	v = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || v < opt->min || v > opt->max) {
		fprintf(stderr, "cpsync: --%s wants %ld..%ld%s%s\n", opt->name, opt->min, opt->max,
		        opt->unit ? " " : "", opt->unit ? opt->unit : "");
		return -1;
	}
	*opt->number = v;
	return 0;
}

int cps_cli_parse_options(int argc, char **argv, const struct cps_cli_option *own, size_t n,
                          struct cps_cli_opts *o, struct cps_cli_list_opts *list,
                          void (*usage)(FILE *))
{
	long timeout_s = 0;
	bool help = false;
	struct cps_cli_option table[N_COMMON + 5 + CPS_CLI_MAX_OWN_OPTIONS] = {
	    {"url", .text = &o->url},
	    {"token", .text = &o->token},
	    {"timeout", .number = &timeout_s, .min = 1, .max = 3600, .unit = "seconds"},
	    {"json", .flag = &o->json},
	    {"cacert", .text = &o->cacert},
	    {"help", .flag = &help}};
	struct option longopts[CPS_ARRAY_SIZE(table) + 1];
	size_t nt = N_COMMON;
	int c;

	if (n > CPS_CLI_MAX_OWN_OPTIONS)
		return 2;
	if (list) {
		table[nt++] = (struct cps_cli_option){"status", .text = &list->status};
		table[nt++] = (struct cps_cli_option){"entity", .text = &list->entity};
		table[nt++] = (struct cps_cli_option){"platform", .text = &list->platform};
		table[nt++] = (struct cps_cli_option){"limit", .number = &list->limit, .min = 1,
		                                      .max = 1000000};
		table[nt++] = (struct cps_cli_option){"all", .flag = &list->all};
	}
	for (size_t i = 0; i < n; i++)
		table[nt++] = own[i];
	for (size_t i = 0; i < nt; i++)
		longopts[i] =
		    (struct option){table[i].name, table[i].flag ? no_argument : required_argument,
		                    NULL, OPT_TABLE + (int)i};
	longopts[nt] = (struct option){NULL, 0, NULL, 0};
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c < OPT_TABLE || c >= OPT_TABLE + (int)nt) {
			usage(stderr);
			return 2;
		}
		if (table_opt(&table[c - OPT_TABLE], optarg) < 0)
			return 2;
		if (help) {
			usage(stdout);
			return 0;
		}
	}
	if (timeout_s)
		o->timeout_ms = timeout_s * 1000;
	return CPS_CLI_PROCEED;
}

int cps_cli_parse_id(const char *arg, long long *out)
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

/* Reads the subcommand argv[optind] (after the options) of `cmd` into
 * a->sub and its id into a->id; CPS_CLI_PROCEED, or 2 after printing the
 * usage. */
static int parse_sub(int argc, char **argv, const struct cps_cli_command *cmd,
                     struct cps_cli_args *a)
{
	if (optind >= argc)
		goto usage;
	a->sub = argv[optind];
	for (size_t i = 0; i < cmd->nsub; i++) {
		const struct cps_cli_sub *s = &cmd->subs[i];

		if (strcmp(s->name, a->sub) != 0)
			continue;
		if (s->nargs >= 0 && optind + 1 + s->nargs != argc)
			goto usage;
		if (s->id && cps_cli_parse_id(argv[optind + 1], &a->id) < 0)
			goto usage;
		return CPS_CLI_PROCEED;
	}
	fprintf(stderr, "cpsync: %s: unknown subcommand '%s'\n", cmd->name, a->sub);
usage:
	cmd->usage(stderr);
	return 2;
}

int cps_cli_parse_command(int argc, char **argv, const struct cps_cli_command *cmd,
                          const struct cps_cli_option *own, size_t n, struct cps_cli_args *a)
{
	int rc = cps_cli_parse_options(argc, argv, own, n, &a->o, cmd->list ? &a->list : NULL,
	                               cmd->usage);

	return rc == CPS_CLI_PROCEED ? parse_sub(argc, argv, cmd, a) : rc;
}

int cps_cli_run_sub(const struct cps_cli_command *cmd, struct cps_cli_args *a)
{
	struct cps_api_client cl;
	int rc = 1;

	if (cps_cli_client_open(&a->o, &cl) == 0) {
		for (size_t i = 0; i < cmd->nsub; i++)
			if (!strcmp(cmd->subs[i].name, a->sub))
				rc = cmd->subs[i].run(&cl, a);
		cps_api_client_release(&cl);
	}
	json_decref(a->body);
	a->body = NULL;
	return rc;
}

int cps_cli_client_open(const struct cps_cli_opts *o, struct cps_api_client *c)
{
	char err[CPS_ERRSTR_SIZE];

	if (cps_api_client_init(c, o->url, o->token, o->timeout_ms, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: %s\n", err);
		return -1;
	}
	if (cps_api_client_set_ca_file(c, o->cacert ? o->cacert : getenv("CPSYNC_CACERT"), err,
	                               sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: %s\n", err);
		cps_api_client_release(c);
		return -1;
	}
	return 0;
}

int cps_cli_call(struct cps_api_client *c, const char *method, const char *path, json_t *body,
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

void cps_cli_print_json(const json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s) {
		puts(s);
		free(s);
	}
}

int cps_cli_query_add(struct cps_buf *q, const char *name, const char *value)
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

int cps_cli_list_pages(struct cps_api_client *c, const char *base, struct cps_buf *query, long want,
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
		    cps_cli_call(c, "GET", (const char *)path.data, NULL, 0, NULL, &doc) < 0) {
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

int cps_cli_call_print(struct cps_api_client *c, const char *method, const char *path, json_t *body,
                       bool json, void (*print)(const json_t *doc))
{
	json_t *doc;

	if (cps_cli_call(c, method, path, body, 0, NULL, &doc) < 0)
		return 1;
	if (json)
		cps_cli_print_json(doc);
	else
		print(doc);
	json_decref(doc);
	return 0;
}

int cps_cli_list(struct cps_api_client *c, const char *base, const struct cps_cli_filter *filters,
                 size_t nfilter, const struct cps_cli_list_opts *list, bool json,
                 void (*print)(const json_t *items))
{
	struct cps_buf query;
	json_t *items = NULL;
	bool more = false;
	int rc = 1;

	cps_buf_init(&query, 0);
	for (size_t i = 0; i < nfilter; i++)
		if (cps_cli_query_add(&query, filters[i].name, filters[i].value) != 0) {
			fprintf(stderr, "cpsync: out of memory\n");
			goto out;
		}
	items = json_array();
	if (!items ||
	    cps_cli_list_pages(c, base, &query, list->all ? 0 : list->limit, items, &more) < 0)
		goto out;
	if (json) {
		json_t *doc = json_pack("{s:O, s:b}", "items", items, "more", more);

		cps_cli_print_json(doc);
		json_decref(doc);
	} else {
		print(items);
		if (more)
			printf("(more: --limit N or --all)\n");
	}
	rc = 0;
out:
	json_decref(items);
	cps_buf_release(&query);
	return rc;
}
