/*
 * cpsync records show ENTITY KEY: one unified record of a running cpsync
 * (GET /api/v1/records/...): each field's value and where it came from,
 * each platform's last-seen values, its open conflicts and its history,
 * masked as the API masks them for the token's role.
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "cli/cli_table.h"
#include "cli/cli_value.h"
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void records_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync records show ENTITY KEY [--history N]\n"
	        "  one unified record: each field's value and where it came from, each\n"
	        "  platform's last-seen values, open conflicts and the change history\n"
	        "  (masked for the viewer role)\n%s",
	        cps_cli_common_usage);
}

/* `schema` (may be NULL) gives the fields' decimal scales. */
static void print_record(const json_t *rec, const json_t *schema)
{
	static const char *const fhead[] = {"FIELD", "VALUE", "FROM", "RULE", "POSITION"};
	static const struct cps_cli_column head[] = {
	    {"entity", "entity", CPS_CLI_TEXT},  {"key", "key", CPS_CLI_TEXT},
	    {"version", "version", CPS_CLI_INT}, {"deleted", "deleted", CPS_CLI_YESNO},
	    {"masked", "masked", CPS_CLI_YESNO}, {"updated at", "updated_at", CPS_CLI_TEXT}};
	static const struct cps_cli_column hcols[] = {
	    {"VERSION", "version", CPS_CLI_INT},
	    {"OP", "op", CPS_CLI_TEXT},
	    {"COMMITTED AT", "committed_at", CPS_CLI_TEXT},
	    {"CHANGED", "changed_fields", CPS_CLI_JOIN}};
	const json_t *fields = json_object_get(rec, "record"),
	             *prov = json_object_get(rec, "provenance"), *v, *p;
	struct cps_table t;
	const char *k;

	cps_cli_print_fields(rec, head, CPS_ARRAY_SIZE(head));
	printf("\n");
	if (json_is_object(fields) && cps_table_init(&t, fhead, CPS_ARRAY_SIZE(fhead)) == 0) {
		json_object_foreach ((json_t *)fields, k, v) {
			const json_t *fp = json_object_get(prov, k);
			char *row[] = {strdup(k), cps_cli_field_text(schema, k, v),
			               fp ? cps_cli_member_text(fp, "platform") : NULL,
			               fp ? cps_cli_member_text(fp, "rule") : NULL,
			               fp ? cps_cli_member_text(fp, "pos") : NULL};
			cps_table_add(&t, row);
		}
		cps_table_print(&t, stdout);
		cps_table_release(&t);
	}
	json_object_foreach ((json_t *)json_object_get(rec, "platforms"), k, p) {
		const json_t *pf = json_object_get(p, "fields");
		const char *f;

		printf("\nlast seen from %s:\n", k);
		json_object_foreach ((json_t *)pf, f, v) {
			char *s = cps_cli_field_text(schema, f,
			                             json_is_object(v) && json_object_get(v, "v")
			                                 ? json_object_get(v, "v")
			                                 : v);
			char *cs = cps_table_cell(s ? s : "-");

			printf("  %-28s %s\n", f, cs ? cs : "-");
			free(cs);
			free(s);
		}
	}
	if (json_array_size(json_object_get(rec, "conflicts"))) {
		printf("\nconflicts:\n");
		cps_cli_print_conflict_list(json_object_get(rec, "conflicts"));
	}
	if (json_array_size(json_object_get(rec, "history"))) {
		printf("\nhistory (newest first):\n");
		cps_cli_print_items(json_object_get(rec, "history"), hcols, CPS_ARRAY_SIZE(hcols));
	}
}

int cps_cli_records(int argc, char **argv)
{
	struct cps_cli_opts o = {0};
	struct cps_api_client cl;
	char *ent = NULL, *key = NULL;
	struct cps_buf path;
	json_t *rec = NULL, *schema;
	long history = -1;
	const struct cps_cli_option own[] = {{"history", .number = &history, .min = 0, .max = 500}};
	int r, rc = 1;

	r = cps_cli_parse_options(argc, argv, own, CPS_ARRAY_SIZE(own), &o, NULL, records_usage);
	if (r != CPS_CLI_PROCEED)
		return r;
	if (optind + 3 != argc || strcmp(argv[optind], "show") != 0) {
		records_usage(stderr);
		return 2;
	}
	if (cps_cli_client_open(&o, &cl) < 0)
		return 1;
	cps_buf_init(&path, 0);
	ent = cps_api_client_escape(argv[optind + 1]);
	key = cps_api_client_escape(argv[optind + 2]);
	if (!ent || !key || cps_buf_printf(&path, "/api/v1/records/%s/%s", ent, key) != 0 ||
	    (history >= 0 && cps_buf_printf(&path, "?history_limit=%ld", history) != 0)) {
		fprintf(stderr, "cpsync: out of memory\n");
		goto out;
	}
	if (cps_cli_call(&cl, "GET", (const char *)path.data, NULL, 0, NULL, &rec) < 0)
		goto out;
	if (o.json) {
		cps_cli_print_json(rec);
	} else {
		schema = cps_cli_entity_schema(&cl, argv[optind + 1]);
		print_record(rec, schema);
		json_decref(schema);
	}
	rc = 0;
out:
	json_decref(rec);
	free(ent);
	free(key);
	cps_buf_release(&path);
	cps_api_client_release(&cl);
	return rc;
}
