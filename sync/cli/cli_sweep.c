/*
 * cpsync sweep run [--wait] | report [ID]: asks a running cpsync for a
 * three-way sweep now (POST /api/v1/sweeps, the operator role), and shows
 * the last runs with their counts, or one run's differences
 * (GET /api/v1/sweeps, GET /api/v1/sweeps/{id}/differences).
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "base/common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define WAIT_POLL_MS 500

static void sweep_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync sweep run [--wait]\n"
	        "       cpsync sweep report [ID]\n"
	        "  run: a three-way sweep now (operator role): each platform's full data\n"
	        "  compared with the unified store; --wait waits for its end and prints its\n"
	        "  report. report: the last runs with their differences per platform, entity\n"
	        "  and kind and their duration; with ID, that run's differences.\n%s",
	        cps_cli_common_usage);
}

static void print_run(const json_t *r)
{
	const json_t *c;
	size_t i;

	printf("sweep %lld  %-7s  started %s  %lld ms  (%s%s%s)\n",
	       (long long)json_integer_value(json_object_get(r, "id")),
	       json_string_value(json_object_get(r, "state")) ?: "?",
	       json_string_value(json_object_get(r, "started_at")) ?: "?",
	       (long long)json_integer_value(json_object_get(r, "duration_ms")),
	       json_string_value(json_object_get(r, "trigger")) ?: "?",
	       json_is_string(json_object_get(r, "requested_by")) ? " by " : "",
	       json_string_value(json_object_get(r, "requested_by")) ?: "");
	if (json_array_size(json_object_get(r, "counts")) == 0 &&
	    !json_is_string(json_object_get(r, "error")))
		printf("  no differences\n");
	json_array_foreach (json_object_get(r, "counts"), i, c)
		printf("  %-10s %-13s %-20s %lld\n",
		       json_string_value(json_object_get(c, "platform")) ?: "?",
		       json_string_value(json_object_get(c, "entity")) ?: "?",
		       json_string_value(json_object_get(c, "kind")) ?: "?",
		       (long long)json_integer_value(json_object_get(c, "count")));
	if (json_is_string(json_object_get(r, "error")))
		printf("  error: %s\n", json_string_value(json_object_get(r, "error")));
}

static void print_runs(const json_t *doc)
{
	const json_t *r;
	size_t i;

	if (json_array_size(json_object_get(doc, "items")) == 0)
		printf("no sweep has run\n");
	json_array_foreach (json_object_get(doc, "items"), i, r)
		print_run(r);
}

static void print_differences(const json_t *doc)
{
	const json_t *d;
	size_t i;

	json_array_foreach (json_object_get(doc, "items"), i, d)
		printf("%-10s %-13s %-24s %-20s %s\n",
		       json_string_value(json_object_get(d, "platform")) ?: "?",
		       json_string_value(json_object_get(d, "entity")) ?: "?",
		       json_string_value(json_object_get(d, "key")) ?: "?",
		       json_string_value(json_object_get(d, "kind")) ?: "?",
		       json_string_value(json_object_get(d, "field")) ?: "");
	if (json_is_integer(json_object_get(doc, "next_after")))
		printf("(more: --json and after=%lld)\n",
		       (long long)json_integer_value(json_object_get(doc, "next_after")));
}

/* Polls the runs until run `id` is no longer running; its row in *out. */
static int wait_run(struct cps_api_client *cl, long long id, json_t **out)
{
	for (;;) {
		struct timespec ts = {0, WAIT_POLL_MS * 1000000L};
		json_t *doc = NULL, *r;
		size_t i;

		if (cps_cli_call(cl, "GET", "/api/v1/sweeps?limit=20", NULL, 0, NULL, &doc) < 0)
			return -1;
		json_array_foreach (json_object_get(doc, "items"), i, r)
			if (json_integer_value(json_object_get(r, "id")) == id &&
			    strcmp(json_string_value(json_object_get(r, "state")) ?: "",
			           "running")) {
				*out = json_incref(r);
				json_decref(doc);
				return 0;
			}
		json_decref(doc);
		nanosleep(&ts, NULL);
	}
}

static int sweep_run(struct cps_api_client *cl, bool wait, bool json)
{
	json_t *doc = NULL, *run = NULL;
	long long id;
	int rc = 1;

	if (cps_cli_call(cl, "POST", "/api/v1/sweeps", NULL, 0, NULL, &doc) < 0)
		return 1;
	id = json_integer_value(json_object_get(doc, "run_id"));
	if (!wait) {
		if (json)
			cps_cli_print_json(doc);
		else
			printf("sweep %lld started\n", id);
		json_decref(doc);
		return 0;
	}
	json_decref(doc);
	if (wait_run(cl, id, &run) == 0) {
		if (json)
			cps_cli_print_json(run);
		else
			print_run(run);
		rc = strcmp(json_string_value(json_object_get(run, "state")) ?: "", "done") ? 1 : 0;
	}
	json_decref(run);
	return rc;
}

static const struct cps_cli_sub sweep_subs[] = {{"run", 0, false}, {"report", -1, false}};

static const struct cps_cli_command sweep_command = {"sweep", sweep_usage, sweep_subs,
                                                     CPS_ARRAY_SIZE(sweep_subs)};

int cps_cli_sweep(int argc, char **argv)
{
	struct cps_cli_args a = {.o.timeout_ms = 60000};
	bool wait = false;
	const struct cps_cli_option own[] = {{"wait", .flag = &wait}};
	struct cps_api_client cl;
	char path[96];
	int r;

	r = cps_cli_parse_command(argc, argv, &sweep_command, own, CPS_ARRAY_SIZE(own), &a);
	if (r != CPS_CLI_PROCEED)
		return r;
	if (!strcmp(a.sub, "report") && argc - optind > 2) {
		sweep_usage(stderr);
		return 2;
	}
	if (!strcmp(a.sub, "report") && argc - optind == 2 &&
	    cps_cli_parse_id(argv[optind + 1], &a.id))
		return 2;
	if (cps_cli_client_open(&a.o, &cl) < 0)
		return 1;
	if (!strcmp(a.sub, "run"))
		r = sweep_run(&cl, wait, a.o.json);
	else if (a.id) {
		snprintf(path, sizeof(path), "/api/v1/sweeps/%lld/differences?limit=500", a.id);
		r = cps_cli_call_print(&cl, "GET", path, NULL, a.o.json, print_differences);
	} else {
		r = cps_cli_call_print(&cl, "GET", "/api/v1/sweeps?limit=10", NULL, a.o.json,
		                       print_runs);
	}
	cps_api_client_release(&cl);
	return r;
}
