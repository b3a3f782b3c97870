/*
 * cpsync conflicts list|show|resolve: the steward's view of a running
 * cpsync's conflicts (GET /api/v1/conflicts, newest first, following the
 * cursor), one conflict with its candidates, and its resolution with a
 * reason (POST /api/v1/conflicts/ID/resolve).
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "cli/cli_table.h"
#include "cli/cli_value.h"
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	    cps_cli_common_usage);
}

void cps_cli_print_conflict_list(const json_t *items)
{
	static const struct cps_cli_column cols[] = {
	    {"ID", "id", CPS_CLI_INT},          {"STATUS", "status", CPS_CLI_TEXT},
	    {"ENTITY", "entity", CPS_CLI_TEXT}, {"KEY", "key", CPS_CLI_TEXT},
	    {"FIELD", "field", CPS_CLI_TEXT},   {"PLATFORMS", "platforms", CPS_CLI_JOIN},
	    {"AGE", "age_s", CPS_CLI_AGE},      {"CLAIMED BY", "claimed_by", CPS_CLI_TEXT}};

	cps_cli_print_items(items, cols, CPS_ARRAY_SIZE(cols));
}

static void print_conflict(const json_t *cf)
{
	static const struct cps_cli_column fields[] = {
	    {"conflict", "id", CPS_CLI_INT},           {"status", "status", CPS_CLI_TEXT},
	    {"entity", "entity", CPS_CLI_TEXT},        {"key", "key", CPS_CLI_TEXT},
	    {"field", "field", CPS_CLI_TEXT},          {"rule", "rule", CPS_CLI_TEXT},
	    {"opened at", "opened_at", CPS_CLI_TEXT},  {"age", "age_s", CPS_CLI_AGE},
	    {"claimed by", "claimed_by", CPS_CLI_TEXT}};
	static const struct cps_cli_column resolved[] = {{"  by", "by", CPS_CLI_TEXT},
	                                                 {"  at", "at", CPS_CLI_TEXT},
	                                                 {"  reason", "reason", CPS_CLI_TEXT}};
	static const struct cps_cli_column cols[] = {{"PLATFORM", "platform", CPS_CLI_TEXT},
	                                             {"VALUE", "value", CPS_CLI_TEXT},
	                                             {"EFFECTIVE MS", "effective_ms", CPS_CLI_INT},
	                                             {"SOURCE MS", "source_ms", CPS_CLI_INT},
	                                             {"POSITION", "position", CPS_CLI_TEXT}};
	const json_t *cur = json_object_get(cf, "current"),
	             *res = json_object_get(cf, "resolution");

	cps_cli_print_fields(cf, fields, CPS_ARRAY_SIZE(fields));
	if (json_is_object(cur)) {
		cps_cli_print_kv("current", cps_cli_member_text(cur, "value"));
		cps_cli_print_kv("  from", json_is_object(json_object_get(cur, "provenance"))
		                               ? cps_cli_member_text(
		                                     json_object_get(cur, "provenance"), "platform")
		                               : NULL);
		cps_cli_print_kv("  version",
		                 cps_cli_fmt_int(json_object_get(cur, "record_version")));
	}
	if (json_is_object(res)) {
		cps_cli_print_kv("resolution", cps_cli_member_text(res, "action"));
		if (json_object_get(res, "platform"))
			cps_cli_print_kv("  platform", cps_cli_member_text(res, "platform"));
		if (json_object_get(res, "value"))
			cps_cli_print_kv("  value", cps_cli_member_text(res, "value"));
		cps_cli_print_fields(res, resolved, CPS_ARRAY_SIZE(resolved));
	}
	printf("\n");
	cps_cli_print_items(json_object_get(cf, "candidates"), cols, CPS_ARRAY_SIZE(cols));
}

/* What the command line asks for. */
struct conflicts_args {
	struct cps_cli_args base;          /* sub: list, show or resolve; id: show, resolve;
	                                      list: list; body: resolve */
	const char *field;                 /* list: one more filter */
	const char *take, *value, *reason; /* resolve */
	bool dismiss;
};

/* The body of a resolution from --take, --value or --dismiss and --reason
 * (*body stays NULL for list and show, which take none of them); returns
 * CPS_CLI_PROCEED or the exit status. */
static int conflicts_resolve_body(const struct conflicts_args *a, json_t **body)
{
	*body = NULL;
	if (strcmp(a->base.sub, "resolve") != 0) {
		if (a->take || a->value || a->dismiss || a->reason) {
			fprintf(
			    stderr,
			    "cpsync: conflicts %s: --take, --value, --dismiss and --reason are for resolve\n",
			    a->base.sub);
			return 2;
		}
		return CPS_CLI_PROCEED;
	}
	if ((a->take != NULL) + (a->value != NULL) + a->dismiss != 1) {
		fprintf(stderr,
		        "cpsync: conflicts resolve: give one of --take, --value, --dismiss\n");
		return 2;
	}
	if (!a->reason || !*a->reason) {
		fprintf(stderr, "cpsync: conflicts resolve: --reason TEXT is required\n");
		return 2;
	}
	if (a->value) {
		json_error_t je;
		json_t *v = json_loads(a->value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);

		if (!v) {
			fprintf(
			    stderr,
			    "cpsync: conflicts resolve: --value is not JSON (column %d): give the field's Avro JSON, e.g. '\"text\"' or '{\"string\": \"x\"}'\n",
			    je.column);
			return 2;
		}
		*body = json_pack("{s:s, s:o, s:s}", "action", "enter_value", "value", v, "reason",
		                  a->reason);
	} else if (a->take) {
		*body = json_pack("{s:s, s:s, s:s}", "action", "take_platform", "platform", a->take,
		                  "reason", a->reason);
	} else {
		*body = json_pack("{s:s, s:s}", "action", "dismiss", "reason", a->reason);
	}
	if (!*body) {
		fprintf(stderr, "cpsync: conflicts resolve: --reason or --take is not UTF-8\n");
		return 2;
	}
	return CPS_CLI_PROCEED;
}

static int conflicts_list(struct cps_api_client *cl, const void *args)
{
	const struct conflicts_args *a = args;
	const struct cps_cli_filter filters[] = {{"status", a->base.list.status},
	                                         {"entity", a->base.list.entity},
	                                         {"field", a->field},
	                                         {"platform", a->base.list.platform}};

	return cps_cli_list(cl, "/api/v1/conflicts", filters, CPS_ARRAY_SIZE(filters),
	                    &a->base.list, a->base.o.json, cps_cli_print_conflict_list);
}

/* The values of conflict `cf` (its field's current value, the steward's
 * value and the candidates') as texts of the schema of its entity: a
 * decimal with its scale. */
static void render_conflict_values(struct cps_api_client *cl, json_t *cf)
{
	const char *entity = json_string_value(json_object_get(cf, "entity")),
	           *field = json_string_value(json_object_get(cf, "field"));
	json_t *schema = entity && field ? cps_cli_entity_schema(cl, entity) : NULL, *c;
	size_t i;

	if (!schema)
		return;
	cps_cli_render_member(schema, field, json_object_get(cf, "current"), "value");
	cps_cli_render_member(schema, field, json_object_get(cf, "resolution"), "value");
	json_array_foreach (json_object_get(cf, "candidates"), i, c)
		cps_cli_render_member(schema, field, c, "value");
	json_decref(schema);
}

static int conflicts_show(struct cps_api_client *cl, const void *args)
{
	const struct conflicts_args *a = args;
	char path[96];
	json_t *cf;

	snprintf(path, sizeof(path), "/api/v1/conflicts/%lld", a->base.id);
	if (cps_cli_call(cl, "GET", path, NULL, 0, NULL, &cf) < 0)
		return 1;
	if (a->base.o.json) {
		cps_cli_print_json(cf);
	} else {
		render_conflict_values(cl, cf);
		print_conflict(cf);
	}
	json_decref(cf);
	return 0;
}

/* Sends the resolution body to conflict a->base.id. */
static int conflicts_resolve(struct cps_api_client *cl, const void *args)
{
	const struct conflicts_args *a = args;
	char path[96];
	json_t *doc;

	snprintf(path, sizeof(path), "/api/v1/conflicts/%lld/resolve", a->base.id);
	if (cps_cli_call(cl, "POST", path, a->base.body, 0, NULL, &doc) < 0)
		return 1;
	if (a->base.o.json) {
		cps_cli_print_json(doc);
	} else {
		const json_t *cf = json_object_get(doc, "conflict");

		printf("conflict %lld %s; record version %lld\n", a->base.id,
		       json_string_value(json_object_get(cf, "status")) ?: "closed",
		       (long long)json_integer_value(json_object_get(doc, "record_version")));
	}
	json_decref(doc);
	return 0;
}

static const struct cps_cli_sub conflicts_subs[] = {{"list", 0, false, conflicts_list},
                                                    {"show", 1, true, conflicts_show},
                                                    {"resolve", 1, true, conflicts_resolve}};

static const struct cps_cli_command conflicts_command = {
    "conflicts", conflicts_usage, conflicts_subs, CPS_ARRAY_SIZE(conflicts_subs), .list = true};

/* Reads the options, the subcommand and its id into `a` (a->base.body: the
 * resolution's); returns CPS_CLI_PROCEED or the exit status. */
static int conflicts_parse(int argc, char **argv, struct conflicts_args *a)
{
	const struct cps_cli_option own[] = {{"field", .text = &a->field},
	                                     {"take", .text = &a->take},
	                                     {"value", .text = &a->value},
	                                     {"dismiss", .flag = &a->dismiss},
	                                     {"reason", .text = &a->reason}};
	int rc = cps_cli_parse_command(argc, argv, &conflicts_command, own, CPS_ARRAY_SIZE(own),
	                               &a->base);

	return rc == CPS_CLI_PROCEED ? conflicts_resolve_body(a, &a->base.body) : rc;
}

int cps_cli_conflicts(int argc, char **argv)
{
	struct conflicts_args a = {.base.list.limit = CPS_CLI_LIST_DEFAULT};
	int rc = conflicts_parse(argc, argv, &a);

	return rc == CPS_CLI_PROCEED ? cps_cli_run_sub(&conflicts_command, &a.base) : rc;
}
