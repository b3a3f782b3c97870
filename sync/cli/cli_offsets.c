/*
 * cpsync connectors offsets NAME [--to earliest|latest | --timestamp MS |
 * --offset STREAM[:PARTITION]=OFFSET[,...]]: a platform source's positions
 * (GET /api/v1/connectors/NAME/offsets) and, with a target, their reset
 * (PUT, operator, the link paused). Called by cli_connectors.c.
 */
#include "cli/cli_api_int.h"
#include "cli/cli_table.h"
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_offsets(const json_t *doc)
{
	static const struct cps_cli_column cols[] = {{"KIND", "kind", CPS_CLI_TEXT},
	                                             {"STREAM", "stream", CPS_CLI_TEXT},
	                                             {"PARTITION", "partition", CPS_CLI_INT},
	                                             {"OFFSET", "offset", CPS_CLI_INT},
	                                             {"POSITION", "position", CPS_CLI_TEXT},
	                                             {"END", "end", CPS_CLI_INT},
	                                             {"LAG", "lag", CPS_CLI_INT}};

	printf("%s (%s)%s\n", json_string_value(json_object_get(doc, "name")) ?: "?",
	       json_string_value(json_object_get(doc, "platform")) ?: "?",
	       json_is_true(json_object_get(doc, "paused")) ? ", paused" : "");
	cps_cli_print_items(json_object_get(doc, "offsets"), cols, CPS_ARRAY_SIZE(cols));
	if (json_is_string(json_object_get(doc, "note")))
		printf("%s\n", json_string_value(json_object_get(doc, "note")));
}

/* "topic:0=42,topic:1=7" or "slot=0/16B3748" as {"offsets": [...]}; NULL
 * (message printed) when malformed. */
static json_t *parse_offsets(const char *text)
{
	json_t *arr = json_array();
	char *copy = strdup(text), *save = NULL;

	if (!arr || !copy)
		goto out_bad;
	for (char *it = strtok_r(copy, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
		char *eq = strrchr(it, '='), *colon, *end = NULL;
		json_t *t;

		if (!eq || eq == it || !eq[1])
			goto out_bad;
		*eq = '\0';
		colon = strrchr(it, ':');
		t = json_pack("{s:s, s:s}", "stream", it, "offset", eq + 1);
		if (t && colon) {
			long p = strtol(colon + 1, &end, 10);

			if (end == colon + 1 || *end || p < 0) {
				json_decref(t);
				goto out_bad;
			}
			*colon = '\0';
			json_object_set_new(t, "stream", json_string(it));
			json_object_set_new(t, "partition", json_integer(p));
		}
		if (t && strspn(eq + 1, "0123456789") == strlen(eq + 1))
			json_object_set_new(t, "offset", json_integer(strtoll(eq + 1, NULL, 10)));
		if (!t || json_array_append_new(arr, t) < 0)
			goto out_bad;
	}
	free(copy);
	return json_pack("{s:o}", "offsets", arr);
out_bad:
	fprintf(stderr, "cpsync: --offset wants STREAM[:PARTITION]=OFFSET[,...], e.g. "
	                "province.person:0=42 or cpsync_city=0/16B3748\n");
	free(copy);
	json_decref(arr);
	return NULL;
}

/* The PUT body from the options, or NULL (message printed). */
static json_t *reset_body(const char *to, long timestamp_ms, const char *offset, const char *reason)
{
	json_t *target = NULL, *body;

	if ((to != NULL) + (timestamp_ms >= 0) + (offset != NULL) != 1) {
		fprintf(stderr, "cpsync: give one of --to, --timestamp and --offset\n");
		return NULL;
	}
	if (to && strcmp(to, "earliest") && strcmp(to, "latest")) {
		fprintf(stderr, "cpsync: --to wants earliest or latest\n");
		return NULL;
	}
	if (to)
		target = json_string(to);
	else if (timestamp_ms >= 0)
		target = json_pack("{s:I}", "timestamp", (json_int_t)timestamp_ms);
	else
		target = parse_offsets(offset);
	if (!target)
		return NULL;
	body = json_pack("{s:o}", "to", target);
	if (body && reason)
		json_object_set_new(body, "reason", json_string(reason));
	return body;
}

int cps_cli_offsets(struct cps_api_client *cl, const char *name, const struct cps_cli_reset *r,
                    bool json)
{
	bool reset = r->to || r->timestamp_ms >= 0 || r->offset;
	char *escaped = cps_api_client_escape(name);
	json_t *body = NULL;
	struct cps_buf path;
	int rc = 1;

	cps_buf_init(&path, 0);
	if (!escaped || cps_buf_printf(&path, "/api/v1/connectors/%s/offsets", escaped) != 0) {
		fprintf(stderr, "cpsync: connectors offsets: out of memory\n");
		goto out;
	}
	if (!reset && r->reason) {
		fprintf(stderr,
		        "cpsync: --reason goes with a reset (--to, --timestamp, --offset)\n");
		rc = 2;
		goto out;
	}
	if (reset && !(body = reset_body(r->to, r->timestamp_ms, r->offset, r->reason))) {
		rc = 2;
		goto out;
	}
	rc = cps_cli_call_print(cl, reset ? "PUT" : "GET", (const char *)path.data, body, json,
	                        print_offsets);
out:
	free(escaped);
	json_decref(body);
	cps_buf_release(&path);
	return rc;
}
