/*
 * cpsync connectors list|pause|resume|restart|offsets|snapshot: the links of a
 * running cpsync and their states (GET /api/v1/connectors), the operator's
 * controls of a platform source or sink, the publisher or the workers
 * (POST /api/v1/connectors/NAME/ACTION), a source's offsets
 * (cli_offsets.c) and a re-snapshot of its tables while it streams
 * (POST /api/v1/connectors/NAME/snapshot).
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "cli/cli_table.h"
#include "base/common.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void connectors_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cpsync connectors list\n"
	    "       cpsync connectors pause|resume|restart NAME [--reason TEXT]\n"
	    "       cpsync connectors offsets NAME [--to earliest|latest | --timestamp MS |\n"
	    "                                 --offset STREAM[:PARTITION]=OFFSET[,...]]\n"
	    "                                [--reason TEXT]\n"
	    "       cpsync connectors snapshot NAME --table SCHEMA.TABLE[,...] [--reason TEXT]\n"
	    "  every link and its state; pause, resume or restart a platform source or\n"
	    "  sink, the publisher or the reconcile workers (the operator role; a pause\n"
	    "  survives a restart; the workers do not restart); a platform source's\n"
	    "  committed positions, and with a target their reset (operator, paused\n"
	    "  link; the source reopens there on resume); a re-read of a postgres\n"
	    "  source's tables while it streams (operator; /status shows progress)\n%s",
	    cps_cli_common_usage);
}

static void print_connectors(const json_t *doc)
{
	static const struct cps_cli_column cols[] = {
	    {"NAME", "name", CPS_CLI_TEXT},
	    {"PLATFORM", "platform", CPS_CLI_TEXT},
	    {"DIRECTION", "direction", CPS_CLI_TEXT},
	    {"TYPE", "type", CPS_CLI_TEXT},
	    {"STATE", "state", CPS_CLI_TEXT},
	    {"CONTROLLABLE", "controllable", CPS_CLI_YESNO}};

	cps_cli_print_items(json_object_get(doc, "connectors"), cols, CPS_ARRAY_SIZE(cols));
}

/* `body` (may be NULL; taken) with "tables" from "a.b,c.d"; NULL (message
 * printed) when a name is empty. */
static json_t *snapshot_body(json_t *body, const char *list)
{
	json_t *tables = json_array();
	char *copy = strdup(list), *save = NULL;

	if (!body)
		body = json_object();
	for (char *it = copy ? strtok_r(copy, ",", &save) : NULL; it && tables;
	     it = strtok_r(NULL, ",", &save))
		json_array_append_new(tables, json_string(it));
	free(copy);
	if (body && tables && json_array_size(tables) > 0 &&
	    json_object_set_new(body, "tables", tables) == 0)
		return body;
	if (tables && json_array_size(tables) == 0)
		json_decref(tables);
	fprintf(stderr, "cpsync: --table wants SCHEMA.TABLE[,...]\n");
	json_decref(body);
	return NULL;
}

static const struct cps_cli_sub connectors_subs[] = {{"list", 0, false},    {"pause", 1, false},
                                                     {"resume", 1, false},  {"restart", 1, false},
                                                     {"offsets", 1, false}, {"snapshot", 1, false}};

static const struct cps_cli_command connectors_command = {
    "connectors", connectors_usage, connectors_subs, CPS_ARRAY_SIZE(connectors_subs)};

int cps_cli_connectors(int argc, char **argv)
{
	struct cps_cli_reset reset = {.timestamp_ms = -1};
	struct cps_cli_args a = {0};
	const char *reason = NULL, *table = NULL, *sub;
	struct cps_api_client cl;
	struct cps_buf path;
	json_t *doc = NULL, *body = NULL;
	char *name = NULL;
	long status = 0;
	const struct cps_cli_option own[] = {
	    {"reason", .text = &reason},
	    {"table", .text = &table},
	    {"to", .text = &reset.to},
	    {"offset", .text = &reset.offset},
	    {"timestamp", .number = &reset.timestamp_ms, .min = 0, .max = LONG_MAX}};
	int r, rc = 1;

	r = cps_cli_parse_command(argc, argv, &connectors_command, own, CPS_ARRAY_SIZE(own), &a);
	if (r != CPS_CLI_PROCEED)
		return r;
	sub = a.sub;
	if (strcmp(sub, "offsets") && (reset.to || reset.offset || reset.timestamp_ms >= 0)) {
		connectors_usage(stderr);
		return 2;
	}
	if (!strcmp(sub, "snapshot") != (table != NULL)) {
		fprintf(stderr, "cpsync: --table goes with (and only with) connectors snapshot\n");
		return 2;
	}
	if (!strcmp(sub, "list") && reason) {
		connectors_usage(stderr);
		return 2;
	}
	if (cps_cli_client_open(&a.o, &cl) < 0)
		return 1;
	cps_buf_init(&path, 0);
	if (!strcmp(sub, "list")) {
		rc = cps_cli_call_print(&cl, "GET", "/api/v1/connectors", NULL, a.o.json,
		                        print_connectors);
		goto out;
	}
	if (!strcmp(sub, "offsets")) {
		reset.reason = reason;
		rc = cps_cli_offsets(&cl, argv[optind + 1], &reset, a.o.json);
		goto out;
	}
	name = cps_api_client_escape(argv[optind + 1]);
	body = reason ? json_pack("{s:s}", "reason", reason) : NULL;
	if (table && (body = snapshot_body(body, table)) == NULL) {
		rc = 2;
		goto out;
	}
	if (!name || (reason && !body) ||
	    cps_buf_printf(&path, "/api/v1/connectors/%s/%s", name, sub) != 0) {
		fprintf(stderr, "cpsync: connectors %s: out of memory or --reason not UTF-8\n",
		        sub);
		goto out;
	}
	if (cps_cli_call(&cl, "POST", (const char *)path.data, body, 0, &status, &doc) < 0)
		goto out;
	if (a.o.json)
		cps_cli_print_json(doc);
	else if (table)
		printf("%s: snapshot of %s %s\n", argv[optind + 1], table,
		       json_string_value(json_object_get(doc, "state")) ?: "?");
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
