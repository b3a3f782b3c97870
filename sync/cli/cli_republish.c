/*
 * cpsync republish --entity E [--since TIME] [--to-topic T]: asks a running
 * cpsync (POST /api/v1/republish, the operator role) to write an entity's
 * current unified records, or its change log from TIME on, to a topic. It
 * runs in the instance, which holds the store, Kafka and the encoder.
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "base/common.h"

#include <stdio.h>
#include <string.h>

/* A re-publish may take long: the answer comes when Kafka has every event. */
#define REPUBLISH_TIMEOUT_MS (30L * 60 * 1000)

static void republish_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync republish --entity ENTITY [--since TIME] [--to-topic TOPIC]\n"
	        "                        [--reason TEXT]\n"
	        "  writes again, keyed and framed like the live stream, the current unified\n"
	        "  record of every key of ENTITY (one event per key at its version), or with\n"
	        "  --since the change log from TIME (e.g. 2024-05-01T00:00:00Z) in log order,\n"
	        "  to the entity's unified topic or TOPIC. Runs in the running cpsync (the\n"
	        "  operator role) and waits until Kafka has every event (--timeout default\n"
	        "  1800 s).\n%s",
	        cps_cli_common_usage);
}

static void print_result(const json_t *doc)
{
	printf("%lld %s events re-published to %s (%lld encoded again, %lld skipped) in %lld ms\n",
	       (long long)json_integer_value(json_object_get(doc, "events")),
	       json_string_value(json_object_get(doc, "entity")) ?: "?",
	       json_string_value(json_object_get(doc, "topic")) ?: "?",
	       (long long)json_integer_value(json_object_get(doc, "encoded")),
	       (long long)json_integer_value(json_object_get(doc, "skipped")),
	       (long long)json_integer_value(json_object_get(doc, "elapsed_ms")));
}

int cps_cli_republish(int argc, char **argv)
{
	struct cps_cli_opts o = {.timeout_ms = REPUBLISH_TIMEOUT_MS};
	const char *entity = NULL, *since = NULL, *topic = NULL, *reason = NULL;
	const struct cps_cli_option own[] = {{"entity", .text = &entity},
	                                     {"since", .text = &since},
	                                     {"to-topic", .text = &topic},
	                                     {"reason", .text = &reason}};
	struct cps_api_client cl;
	json_t *body;
	int r, rc;

	r = cps_cli_parse_options(argc, argv, own, CPS_ARRAY_SIZE(own), &o, NULL, republish_usage);
	if (r != CPS_CLI_PROCEED)
		return r;
	if (!entity || optind != argc) {
		republish_usage(stderr);
		return 2;
	}
	body = json_pack("{s:s, s:s*, s:s*, s:s*}", "entity", entity, "since", since, "to_topic",
	                 topic, "reason", reason);
	if (!body) {
		fprintf(stderr, "cpsync: republish: out of memory or an argument not UTF-8\n");
		return 1;
	}
	if (cps_cli_client_open(&o, &cl) < 0) {
		json_decref(body);
		return 1;
	}
	rc = cps_cli_call_print(&cl, "POST", "/api/v1/republish", body, o.json, print_result);
	json_decref(body);
	cps_api_client_release(&cl);
	return rc;
}
