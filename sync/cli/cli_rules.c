/*
 * cpsync rules show | diff FILE | apply FILE, and cpsync reload: the rules
 * lifecycle of a running cpsync over its API (issue 12). FILE holds rules
 * as YAML or JSON (a configuration's `rules:` section, or a whole file with
 * one); it is checked here first and sent as JSON. diff is a dry run over
 * the stored states; apply makes those changes while streaming goes on.
 */
#include "cli/cli.h"
#include "cli/cli_api_int.h"
#include "base/common.h"
#include "reconcile/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A diff or an apply goes over every stored key: it may take long. */
#define APPLY_TIMEOUT_MS (30L * 60 * 1000)

static void rules_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync rules show\n"
	        "       cpsync rules diff FILE   (steward or operator token)\n"
	        "       cpsync rules apply FILE  (operator token)\n"
	        "  show: the rule set in force, its number, hash and when it was first loaded.\n"
	        "  diff: how many stored records, and which fields, the rules of FILE (YAML or\n"
	        "  JSON, a `rules:` section) would change, per entity, with samples (keys and\n"
	        "  values for stewards of every region only). Nothing is written.\n"
	        "  apply: puts FILE's rules in force and decides every stored key again in\n"
	        "  batches while streaming goes on; a new version only where a record changes.\n"
	        "  Put the same rules in the configuration file too: a restart or reload\n"
	        "  takes the file's.\n%s",
	        cps_cli_common_usage);
}

static void reload_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync reload\n"
	        "  asks a running cpsync (operator token) to read its configuration file again:\n"
	        "  rules, policy, API tokens and log settings, all validated first; an invalid\n"
	        "  file changes nothing and the answer says why. Same as SIGHUP.\n%s",
	        cps_cli_common_usage);
}

/* FILE's rules as the request body {"rules": …}, or NULL (why printed). */
static json_t *file_body(const char *path)
{
	char errstr[CPS_ERRSTR_SIZE];
	struct cps_rules *r = NULL;
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0, cap = 0;
	json_t *body = NULL;

	if (!f) {
		fprintf(stderr, "cpsync: rules: cannot read '%s'\n", path);
		return NULL;
	}
	for (;;) {
		if (len + 4096 + 1 > cap && !(text = realloc(text, cap = cap * 2 + 8192)))
			break;
		size_t got = fread(text + len, 1, 4096, f);

		len += got;
		if (!got || len > (8u << 20))
			break;
	}
	fclose(f);
	if (!text || len > (8u << 20)) {
		fprintf(stderr, "cpsync: rules: '%s' is too large or memory is out\n", path);
	} else if (cps_rules_from_text(text, len, &r, errstr, sizeof(errstr)) != CPS_OK) {
		fprintf(stderr, "cpsync: rules: %s: %s\n", path, errstr);
	} else {
		body = json_pack("{s:o}", "rules", cps_rules_to_json(r));
	}
	cps_rules_free(r);
	free(text);
	return body;
}

static void print_report(const json_t *report, const char *verb)
{
	const char *ent, *f;
	json_t *e, *n, *smp;
	size_t i;

	printf("%lld record(s) examined: %lld %s a new version, %lld only their conflicts or "
	       "markers\n",
	       (long long)json_integer_value(json_object_get(report, "records")),
	       (long long)json_integer_value(json_object_get(report, "changed")), verb,
	       (long long)json_integer_value(json_object_get(report, "rewritten")));
	json_object_foreach (json_object_get(report, "entities"), ent, e) {
		printf(
		    "  %-10s %6lld records, %5lld changed, %5lld rewritten, conflicts +%lld -%lld\n",
		    ent, (long long)json_integer_value(json_object_get(e, "records")),
		    (long long)json_integer_value(json_object_get(e, "changed")),
		    (long long)json_integer_value(json_object_get(e, "rewritten")),
		    (long long)json_integer_value(json_object_get(e, "conflicts_opened")),
		    (long long)json_integer_value(json_object_get(e, "conflicts_closed")));
		json_object_foreach (json_object_get(e, "fields"), f, n)
			printf("    %-34s %lld\n", f, (long long)json_integer_value(n));
		json_array_foreach (json_object_get(e, "samples"), i, smp) {
			char *fields = json_dumps(json_object_get(smp, "fields"), JSON_COMPACT);

			printf("    e.g. %s v%lld -> v%lld %s\n",
			       json_string_value(json_object_get(smp, "key")) ?: "?",
			       (long long)json_integer_value(json_object_get(smp, "from")),
			       (long long)json_integer_value(json_object_get(smp, "to")),
			       fields ? fields : "");
			free(fields);
		}
	}
}

static void print_set(const char *label, const json_t *set)
{
	if (!json_is_object(set))
		return;
	printf("%s rule set %lld, sha256 %s\n", label,
	       (long long)json_integer_value(json_object_get(set, "id")),
	       json_string_value(json_object_get(set, "hash")) ?: "?");
}

static int rules_call(struct cps_cli_opts *o, const char *sub, json_t *body)
{
	struct cps_api_client cl;
	json_t *doc = NULL;
	char path[64];
	int rc = 1;

	if (cps_cli_client_open(o, &cl) < 0)
		return 1;
	snprintf(path, sizeof(path), "/api/v1/%s%s", strcmp(sub, "reload") ? "rules/" : "",
	         strcmp(sub, "reload") ? sub : "reload");
	if (!strcmp(sub, "show"))
		snprintf(path, sizeof(path), "/api/v1/rules");
	if (cps_cli_call(&cl, strcmp(sub, "show") ? "POST" : "GET", path, body, 0, NULL, &doc) ==
	    0) {
		rc = 0;
		if (o->json) {
			cps_cli_print_json(doc);
		} else if (!strcmp(sub, "show")) {
			print_set("in force:", doc);
			printf("first loaded %s by %s; last applied %s\n",
			       json_string_value(json_object_get(doc, "first_loaded_at")) ?: "?",
			       json_string_value(json_object_get(doc, "loaded_by")) ?: "?",
			       json_string_value(json_object_get(doc, "applied_at")) ?: "never");
		} else if (!strcmp(sub, "diff")) {
			print_set("in force:", json_object_get(doc, "current"));
			printf(
			    "proposed: sha256 %s%s\n",
			    json_string_value(
			        json_object_get(json_object_get(doc, "proposed"), "hash"))
			        ?: "?",
			    json_is_true(json_object_get(json_object_get(doc, "proposed"), "same"))
			        ? " (the same rules)"
			        : "");
			print_report(json_object_get(doc, "report"), "would get");
		} else if (!strcmp(sub, "apply")) {
			print_set("was:", json_object_get(doc, "previous"));
			print_set("now:", json_object_get(doc, "rule_set"));
			print_report(json_object_get(doc, "report"), "got");
		} else {
			print_set("reloaded; in force:", json_object_get(doc, "rule_set"));
		}
	}
	json_decref(doc);
	cps_api_client_release(&cl);
	return rc;
}

static const struct cps_cli_sub rules_subs[] = {
    {"show", 0, false}, {"diff", 1, false}, {"apply", 1, false}};

static const struct cps_cli_command rules_command = {"rules", rules_usage, rules_subs,
                                                     CPS_ARRAY_SIZE(rules_subs)};

int cps_cli_rules(int argc, char **argv)
{
	struct cps_cli_args a = {.o.timeout_ms = APPLY_TIMEOUT_MS};
	json_t *body = NULL;
	int r = cps_cli_parse_command(argc, argv, &rules_command, NULL, 0, &a);

	if (r != CPS_CLI_PROCEED)
		return r;
	if (strcmp(a.sub, "show") && !(body = file_body(argv[optind + 1])))
		return 1;
	r = rules_call(&a.o, a.sub, body);
	json_decref(body);
	return r;
}

int cps_cli_reload(int argc, char **argv)
{
	struct cps_cli_opts o = {0};
	int r = cps_cli_parse_options(argc, argv, NULL, 0, &o, NULL, reload_usage);

	if (r != CPS_CLI_PROCEED)
		return r;
	if (optind != argc) {
		reload_usage(stderr);
		return 2;
	}
	return rules_call(&o, "reload", NULL);
}
