/*
 * cpsync log show|set: the log level and debug contexts of a running cpsync
 * (GET /api/v1/log), and the operator's change of them at run time
 * (PUT /api/v1/log), without a restart.
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "base/common.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void log_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync log show\n"
	        "       cpsync log set LEVEL [--debug CTX,...] [--reason TEXT]\n"
	        "  the log level and debug contexts of a running cpsync; set changes them\n"
	        "  at once (the operator role). LEVEL: error, warn, info, debug; CTX:\n"
	        "  connector, reconcile, store, http, kafka, codec, all\n%s",
	        cps_cli_common_usage);
}

static void print_log(const json_t *doc)
{
	const json_t *v;
	size_t i;

	printf("level %s  debug ", json_string_value(json_object_get(doc, "level")) ?: "?");
	if (json_array_size(json_object_get(doc, "debug")) == 0)
		printf("-");
	json_array_foreach (json_object_get(doc, "debug"), i, v)
		printf("%s%s", i ? "," : "", json_string_value(v) ?: "?");
	printf("\n");
}

/* {"level": LEVEL, "debug": [CTX, ...], "reason": TEXT}; NULL after printing
 * why when LEVEL or a context is unknown. */
static json_t *change_body(const char *level, const char *debug, const char *reason)
{
	json_t *body, *ctx = json_array();
	char *list = debug ? strdup(debug) : NULL, *save = NULL;

	if (cps_log_level_parse(level) < 0) {
		fprintf(stderr, "cpsync: log set: unknown level '%s' (error, warn, info, debug)\n",
		        level);
		goto out_fail;
	}
	if (!ctx || (debug && !list))
		goto out_oom;
	for (char *t = list ? strtok_r(list, ",", &save) : NULL; t;
	     t = strtok_r(NULL, ",", &save)) {
		if (!cps_log_ctx_parse(t)) {
			fprintf(stderr, "cpsync: log set: unknown debug context '%s'\n", t);
			goto out_fail;
		}
		if (json_array_append_new(ctx, json_string(t)) < 0)
			goto out_oom;
	}
	body = json_pack("{s:s, s:o}", "level", level, "debug", ctx);
	ctx = NULL;
	if (body && reason && json_object_set_new(body, "reason", json_string(reason)) < 0) {
		json_decref(body);
		body = NULL;
	}
	if (!body)
		goto out_oom;
	free(list);
	return body;
out_oom:
	fprintf(stderr, "cpsync: log set: out of memory or --reason not UTF-8\n");
out_fail:
	json_decref(ctx);
	free(list);
	return NULL;
}

/* GET, or with a body (set) PUT, /api/v1/log, and print the answer. */
static int log_call(struct cps_api_client *cl, const void *args)
{
	const struct cps_cli_args *a = args;

	return cps_cli_call_print(cl, a->body ? "PUT" : "GET", "/api/v1/log", a->body, a->o.json,
	                          print_log);
}

static const struct cps_cli_sub log_subs[] = {{"show", 0, false, log_call},
                                              {"set", 1, false, log_call}};

static const struct cps_cli_command log_command = {"log", log_usage, log_subs,
                                                   CPS_ARRAY_SIZE(log_subs)};

int cps_cli_log(int argc, char **argv)
{
	struct cps_cli_args a = {0};
	const char *reason = NULL, *debug = NULL;
	const struct cps_cli_option own[] = {{"reason", .text = &reason},
	                                     {"debug", .text = &debug}};
	int r = cps_cli_parse_command(argc, argv, &log_command, own, CPS_ARRAY_SIZE(own), &a);

	if (r != CPS_CLI_PROCEED)
		return r;
	if (!strcmp(a.sub, "show") && (reason || debug)) {
		log_usage(stderr);
		return 2;
	}
	if (!strcmp(a.sub, "set") && !(a.body = change_body(argv[optind + 1], debug, reason)))
		return 2;
	return cps_cli_run_sub(&log_command, &a);
}
