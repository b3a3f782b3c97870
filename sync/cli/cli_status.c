/*
 * cpsync status: every link's state, lag and freshness, the platforms'
 * freshness, the store, Kafka and the open conflicts of a running cpsync
 * (GET /status and /readyz); exits 0 only when it is ready.
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "cli/cli_table.h"
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>

static void status_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync status [--json] [--url URL] [--token TOKEN]\n"
	        "  every link's state, lag, freshness, records, errors and dead letters,\n"
	        "  the store and the conflicts; exits 0 when cpsync is ready, 1 when not\n%s",
	        cps_cli_common_usage);
}

static void print_status(const json_t *st, const json_t *ready)
{
	static const struct cps_cli_column cols[] = {{"LINK", "name", CPS_CLI_TEXT},
	                                             {"PLATFORM", "platform", CPS_CLI_TEXT},
	                                             {"DIR", "direction", CPS_CLI_TEXT},
	                                             {"STATE", "state", CPS_CLI_TEXT},
	                                             {"LAG", "lag", CPS_CLI_INT},
	                                             {"FRESH", "freshness_s", CPS_CLI_AGE},
	                                             {"RECORDS", "records", CPS_CLI_INT},
	                                             {"ERRORS", "errors", CPS_CLI_INT},
	                                             {"DLQ", "dead_letters", CPS_CLI_INT},
	                                             {"/MIN", "throughput_per_min", CPS_CLI_INT},
	                                             {"LAST ERROR", "last_error", CPS_CLI_TEXT}};
	const json_t *store = json_object_get(st, "store"),
	             *conf = json_object_get(st, "conflicts"), *p, *v;
	const char *k;
	size_t i;

	printf("cpsync %s  instance %s  up %llds  %s\n",
	       json_string_value(json_object_get(st, "version")) ?: "?",
	       json_string_value(json_object_get(st, "instance")) ?: "?",
	       (long long)json_integer_value(json_object_get(st, "uptime_s")),
	       json_is_true(json_object_get(ready, "ready")) ? "READY" : "NOT READY");
	json_array_foreach (json_object_get(ready, "reasons"), i, v)
		printf("  not ready: %s\n", json_string_value(v) ?: "?");
	printf("\n");
	cps_cli_print_items(json_object_get(st, "links"), cols, CPS_ARRAY_SIZE(cols));
	json_array_foreach (json_object_get(st, "platforms"), i, p) {
		char *fr = cps_cli_fmt_age(json_object_get(p, "freshness_s"));
		char *tg = cps_cli_fmt_age(json_object_get(p, "freshness_target_s"));

		printf("%splatform %-10s freshness %s (target %s) %s\n", i == 0 ? "\n" : "",
		       json_string_value(json_object_get(p, "name")) ?: "?", fr, tg,
		       json_is_true(json_object_get(p, "fresh")) ? "fresh" : "STALE");
		free(fr);
		free(tg);
	}
	if (json_is_true(json_object_get(store, "ok")))
		printf(
		    "\nstore     ok  schema v%lld  records %lld  outbox pending %lld  dead letters %lld\n",
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
	printf("log       level %s\n",
	       json_string_value(json_object_get(json_object_get(st, "log"), "level")) ?: "?");
	if (json_is_integer(json_object_get(conf, "open"))) {
		char *age = cps_cli_fmt_age(json_object_get(conf, "oldest_age_s"));

		printf("conflicts open %lld, oldest %s",
		       (long long)json_integer_value(json_object_get(conf, "open")), age);
		free(age);
		i = 0;
		json_object_foreach ((json_t *)json_object_get(conf, "by_entity"), k, v)
			printf("%s%s %lld", i++ ? ", " : "; ", k, (long long)json_integer_value(v));
		printf("\n");
	}
}

int cps_cli_status(int argc, char **argv)
{
	struct cps_cli_opts o = {0};
	struct cps_api_client cl;
	json_t *st = NULL, *ready = NULL;
	long rstatus = 0;
	int rc = 1, r;

	r = cps_cli_parse_options(argc, argv, NULL, 0, &o, NULL, status_usage);
	if (r != CPS_CLI_PROCEED)
		return r;
	if (optind != argc) {
		status_usage(stderr);
		return 2;
	}
	if (cps_cli_client_open(&o, &cl) < 0)
		return 1;
	if (cps_cli_call(&cl, "GET", "/status", NULL, 0, NULL, &st) < 0)
		goto out;
	if (cps_cli_call(&cl, "GET", "/readyz", NULL, 503, &rstatus, &ready) < 0)
		goto out;
	if (o.json) {
		json_object_set(st, "ready", json_object_get(ready, "ready"));
		if (json_object_get(ready, "reasons"))
			json_object_set(st, "not_ready_reasons", json_object_get(ready, "reasons"));
		cps_cli_print_json(st);
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
