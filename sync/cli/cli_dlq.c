/*
 * cpsync dlq list|show|replay|discard: the dead letters of a running
 * cpsync (GET /api/v1/deadletters, following the cursor), one of them (with
 * --raw its raw bytes: an inspect the server audits), and the operator's replay (through the platform's ingest
 * path) or discard of them.
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "cli/cli_table.h"
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDS 500 /* dead letters one replay may name */

static void dlq_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync dlq list [--status new|replayed|discarded] [--platform P]\n"
	        "                       [--entity E] [--reason-contains TEXT] [--limit N | --all]\n"
	        "       cpsync dlq show ID [--raw]   (--raw: the bytes too; the read is audited)\n"
	        "       cpsync dlq replay ID... [--note TEXT]\n"
	        "       cpsync dlq discard ID --reason TEXT\n"
	        "  dead letters (the operator role; viewers may list): replay runs them again\n"
	        "  through their platform's ingest path; exits 1 when one is still bad\n%s",
	        cps_cli_common_usage);
}

static void print_dlq_list(const json_t *items)
{
	static const struct cps_cli_column cols[] = {{"ID", "id", CPS_CLI_INT},
	                                             {"RECEIVED AT", "received_at", CPS_CLI_TEXT},
	                                             {"PLATFORM", "platform", CPS_CLI_TEXT},
	                                             {"ENTITY", "entity", CPS_CLI_TEXT},
	                                             {"STATUS", "status", CPS_CLI_TEXT},
	                                             {"SIZE", "size", CPS_CLI_INT},
	                                             {"ORIGIN", "origin", CPS_CLI_TEXT},
	                                             {"REASON", "reason", CPS_CLI_TEXT}};

	cps_cli_print_items(items, cols, CPS_ARRAY_SIZE(cols));
}

static void print_dlq(const json_t *d)
{
	static const struct cps_cli_column fields[] = {{"dead letter", "id", CPS_CLI_INT},
	                                               {"status", "status", CPS_CLI_TEXT},
	                                               {"received at", "received_at", CPS_CLI_TEXT},
	                                               {"platform", "platform", CPS_CLI_TEXT},
	                                               {"entity", "entity", CPS_CLI_TEXT},
	                                               {"origin", "origin", CPS_CLI_TEXT},
	                                               {"reason", "reason", CPS_CLI_TEXT},
	                                               {"note", "note", CPS_CLI_TEXT},
	                                               {"size", "size", CPS_CLI_INT},
	                                               {"updated at", "updated_at", CPS_CLI_TEXT},
	                                               {"key base64", "key", CPS_CLI_TEXT},
	                                               {"raw base64", "raw", CPS_CLI_TEXT}};

	/* the bytes only from the audited inspect (show --raw) */
	cps_cli_print_fields(d, fields,
	                     CPS_ARRAY_SIZE(fields) - (json_object_get(d, "raw") ? 0 : 2));
}

/* Prints the replay results; returns 1 when one was not replayed or skipped. */
static int print_replay(const json_t *doc, bool json)
{
	static const char *const head[] = {"ID", "OUTCOME", "STATUS", "DETAIL"};
	const json_t *it;
	struct cps_table t;
	size_t i;
	int bad = 0;

	json_array_foreach (json_object_get(doc, "results"), i, it) {
		const char *oc = json_string_value(json_object_get(it, "outcome"));

		if (!oc || (strcmp(oc, "replayed") != 0 && strcmp(oc, "skipped") != 0))
			bad = 1;
	}
	if (json) {
		cps_cli_print_json(doc);
		return bad;
	}
	if (cps_table_init(&t, head, CPS_ARRAY_SIZE(head)) == 0) {
		json_array_foreach (json_object_get(doc, "results"), i, it) {
			const json_t *detail = json_object_get(it, "reason");
			char *row[] = {
			    cps_cli_fmt_int(json_object_get(it, "id")),
			    cps_cli_member_text(it, "outcome"), cps_cli_member_text(it, "status"),
			    cps_cli_value_text(detail ? detail : json_object_get(it, "message"))};
			cps_table_add(&t, row);
		}
		cps_table_print(&t, stdout);
		cps_table_release(&t);
	}
	printf("replayed %lld, still bad %lld, skipped %lld, not found %lld, errors %lld\n",
	       (long long)json_integer_value(json_object_get(doc, "replayed")),
	       (long long)json_integer_value(json_object_get(doc, "still_bad")),
	       (long long)json_integer_value(json_object_get(doc, "skipped")),
	       (long long)json_integer_value(json_object_get(doc, "not_found")),
	       (long long)json_integer_value(json_object_get(doc, "errors")));
	return bad;
}

/* What the command line asks for. */
struct dlq_args {
	struct cps_cli_args base; /* sub: list, show, replay or discard; id: show, discard;
	                             list: list; body: replay, discard */
	const char *contains;     /* list: one more filter */
	const char *reason;       /* discard */
	const char *note;         /* replay */
	bool raw;                 /* show: the audited inspect of the bytes */
};

/* The body of a replay of the ids argv[first..argc-1] with --note; returns
 * CPS_CLI_PROCEED or the exit status. */
static int dlq_replay_body(int argc, char **argv, int first, const struct dlq_args *a,
                           json_t **body)
{
	json_t *ids;
	long long id;

	if (first >= argc || argc - first > MAX_IDS) {
		fprintf(stderr, "cpsync: dlq replay: give 1 to %d ids\n", MAX_IDS);
		return 2;
	}
	ids = json_array();
	for (int i = first; i < argc; i++) {
		if (cps_cli_parse_id(argv[i], &id) < 0) {
			json_decref(ids);
			return 2;
		}
		json_array_append_new(ids, json_integer(id));
	}
	*body = json_pack("{s:o}", "ids", ids);
	if (*body && a->note)
		json_object_set_new(*body, "note", json_string(a->note));
	return CPS_CLI_PROCEED;
}

static int dlq_list(struct cps_api_client *cl, const void *args)
{
	const struct dlq_args *a = args;
	const struct cps_cli_filter filters[] = {{"status", a->base.list.status},
	                                         {"platform", a->base.list.platform},
	                                         {"entity", a->base.list.entity},
	                                         {"reason_contains", a->contains}};

	return cps_cli_list(cl, "/api/v1/deadletters", filters, CPS_ARRAY_SIZE(filters),
	                    &a->base.list, a->base.o.json, print_dlq_list);
}

static int dlq_show(struct cps_api_client *cl, const void *args)
{
	const struct dlq_args *a = args;
	char path[96];

	snprintf(path, sizeof(path), "/api/v1/deadletters/%lld%s", a->base.id,
	         a->raw ? "/raw" : "");
	return cps_cli_call_print(cl, "GET", path, NULL, a->base.o.json, print_dlq);
}

static int dlq_discard(struct cps_api_client *cl, const void *args)
{
	const struct dlq_args *a = args;
	json_t *doc;
	char path[96];

	snprintf(path, sizeof(path), "/api/v1/deadletters/%lld/discard", a->base.id);
	if (!a->base.body || cps_cli_call(cl, "POST", path, a->base.body, 0, NULL, &doc) < 0)
		return 1;
	if (a->base.o.json)
		cps_cli_print_json(doc);
	else
		printf("dead letter %lld %s\n", a->base.id,
		       json_string_value(json_object_get(doc, "status")) ?: "discarded");
	json_decref(doc);
	return 0;
}

/* Sends the replay body; 1 when one was not replayed. */
static int dlq_replay(struct cps_api_client *cl, const void *args)
{
	const struct dlq_args *a = args;
	json_t *doc;
	int rc;

	if (!a->base.body ||
	    cps_cli_call(cl, "POST", "/api/v1/deadletters/replay", a->base.body, 0, NULL, &doc) < 0)
		return 1;
	rc = print_replay(doc, a->base.o.json);
	json_decref(doc);
	return rc;
}

static const struct cps_cli_sub dlq_subs[] = {{"list", 0, false, dlq_list},
                                              {"show", 1, true, dlq_show},
                                              {"discard", 1, true, dlq_discard},
                                              {"replay", -1, false, dlq_replay}};

static const struct cps_cli_command dlq_command = {"dlq", dlq_usage, dlq_subs,
                                                   CPS_ARRAY_SIZE(dlq_subs), .list = true};

/* Reads the options, the subcommand and its ids into `a` (a->base.body:
 * the replay's or the discard's); returns CPS_CLI_PROCEED or the exit
 * status. */
static int dlq_parse(int argc, char **argv, struct dlq_args *a)
{
	const struct cps_cli_option own[] = {{"reason-contains", .text = &a->contains},
	                                     {"reason", .text = &a->reason},
	                                     {"note", .text = &a->note},
	                                     {"raw", .flag = &a->raw}};
	int rc =
	    cps_cli_parse_command(argc, argv, &dlq_command, own, CPS_ARRAY_SIZE(own), &a->base);

	if (rc != CPS_CLI_PROCEED)
		return rc;
	if (!strcmp(a->base.sub, "discard")) {
		if (!a->reason || !*a->reason) {
			fprintf(stderr, "cpsync: dlq discard: --reason TEXT is required\n");
			return 2;
		}
		a->base.body = json_pack("{s:s}", "reason", a->reason);
	}
	if (!strcmp(a->base.sub, "replay"))
		return dlq_replay_body(argc, argv, optind + 1, a, &a->base.body);
	return CPS_CLI_PROCEED;
}

int cps_cli_dlq(int argc, char **argv)
{
	struct dlq_args a = {.base.list.limit = CPS_CLI_LIST_DEFAULT};
	int rc = dlq_parse(argc, argv, &a);

	return rc == CPS_CLI_PROCEED ? cps_cli_run_sub(&dlq_command, &a.base) : rc;
}
