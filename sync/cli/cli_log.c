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

int cps_cli_log(int argc, char **argv)
{
	static const struct cps_cli_sub subs[] = {{"show", 0, false}, {"set", 1, false}};
	struct cps_cli_opts o = {0};
	const char *reason = NULL, *debug = NULL, *sub;
	const struct cps_cli_option own[] = {{"reason", .text = &reason},
	                                     {"debug", .text = &debug}};
	struct cps_api_client cl;
	json_t *doc = NULL, *body = NULL;
	int r, rc = 1;

	r = cps_cli_parse_options(argc, argv, own, CPS_ARRAY_SIZE(own), &o, NULL, log_usage);
	if (r != CPS_CLI_PROCEED)
		return r;
	r = cps_cli_parse_sub(argc, argv, "log", subs, CPS_ARRAY_SIZE(subs), log_usage, &sub, NULL);
	if (r != CPS_CLI_PROCEED)
		return r;
	if (!strcmp(sub, "show") && (reason || debug)) {
		log_usage(stderr);
		return 2;
	}
	if (!strcmp(sub, "set")) {
		body = change_body(argv[optind + 1], debug, reason);
		if (!body)
			return 2;
	}
	if (cps_cli_client_open(&o, &cl) < 0) {
		json_decref(body);
		return 1;
	}
	if (!body) {
		rc = cps_cli_get_print(&cl, "/api/v1/log", o.json, print_log);
	} else if (cps_cli_call(&cl, "PUT", "/api/v1/log", body, 0, NULL, &doc) == 0) {
		if (o.json)
			cps_cli_print_json(doc);
		else
			print_log(doc);
		rc = 0;
	}
	json_decref(doc);
	json_decref(body);
	cps_api_client_release(&cl);
	return rc;
}
