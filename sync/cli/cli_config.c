/*
 * `cpsync check-config FILE` and `cpsync config-doc`. check-config validates
 * the file itself, its rules, and every platform's source and sink section
 * against the settings its connector declares, so a typo fails here and not
 * at start-up.
 */
#include "cli/cli.h"

#include "base/common.h"
#include "api/api.h"
#include "config/config.h"
#include "connectors/connector.h"
#include "engine.h"
#include "policy/policy.h"
#include "reconcile/rules.h"

#include <stdio.h>
#include <string.h>

/* Keys the engine takes out of a section before its connector sees it. */
static bool engine_key(const char *key, bool source)
{
	if (!strcmp(key, "framing"))
		return true;
	return !source && (!strncmp(key, "allow.", 6) || !strcmp(key, "flush_ms"));
}

static int check_section(const struct cps_config *cfg, const struct cps_config_platform *p,
                         const struct cps_connector_ops *ops, bool source, char *errstr,
                         size_t errstr_size)
{
	const struct cps_config_node *node = source ? p->source : p->sink;
	struct cps_settings all, own;
	const struct cps_setting *kv;
	char why[CPS_ERRSTR_SIZE];
	size_t it = 0;
	int rc = CPS_OK;

	if (!node || node->count == 0)
		return CPS_OK;
	if (source ? !ops->source_open : !ops->sink_open)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s:%d: platform '%s': connector '%s' has no %s side",
		                  cps_config_file(cfg), node->line, p->name, ops->type,
		                  source ? "source" : "sink");
	cps_settings_init(&all);
	cps_settings_init(&own);
	if (cps_engine_flatten_settings(node, NULL, &all) < 0)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	while (rc == CPS_OK && (kv = cps_settings_next(&all, "", &it)))
		if (!engine_key(kv->key, source) && cps_settings_set(&own, kv->key, kv->value) < 0)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	/* What the engine fills in for a Kafka link: cpsync's own brokers and a group. */
	if (rc == CPS_OK && !strcmp(ops->type, "kafka") &&
	    ((!cps_settings_get(&own, "brokers") &&
	      cps_settings_set(&own, "brokers", "cpsync") < 0) ||
	     (source && !cps_settings_get(&own, "group_id") &&
	      cps_settings_set(&own, "group_id", "cpsync") < 0)))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (rc == CPS_OK && cps_settings_validate(&own, ops->settings, ops->n_settings,
	                                          source ? CPS_SETTING_SOURCE : CPS_SETTING_SINK,
	                                          why, sizeof(why)) != CPS_OK)
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s:%d: platforms.%s.%s: %s",
		                cps_config_file(cfg), node->line, p->name,
		                source ? "source" : "sink", why);
	cps_settings_release(&own);
	cps_settings_release(&all);
	return rc;
}

static int check_platforms(const struct cps_config *cfg, char *errstr, size_t errstr_size)
{
	int rc = cps_connector_register_builtins(errstr, errstr_size);

	for (size_t i = 0; rc == CPS_OK && i < cps_config_platform_count(cfg); i++) {
		const struct cps_connector_ops *ops;
		struct cps_config_platform p;

		if (cps_config_platform_at(cfg, i, &p) != CPS_OK)
			break;
		ops = cps_connector_find(p.connector);
		if (!ops) /* a type without a connector (demo): nothing to check */
			continue;
		rc = check_section(cfg, &p, ops, true, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = check_section(cfg, &p, ops, false, errstr, errstr_size);
	}
	return rc;
}

/* The checks across the keys of `rules` (reconcile/rules.h), as at start-up. */
static int check_rules(const struct cps_config *cfg, char *errstr, size_t errstr_size)
{
	struct cps_rules *rules;
	int rc = cps_rules_from_config(cfg, &rules, errstr, errstr_size);

	cps_rules_free(rules);
	return rc;
}

/* The policy section as the engine loads it; a standard that breaks the
 * policy itself (特困 below 1.6 × 低保) is a warning, not an error. */
static int check_policy(const struct cps_config *cfg, char *errstr, size_t errstr_size)
{
	struct cps_policy *policy = NULL;
	json_t *findings = json_array(), *f;
	size_t i;
	int rc = cps_policy_from_config(cfg, &policy, errstr, errstr_size);

	if (rc == CPS_OK && findings && cps_policy_check_standards(policy, findings) == CPS_OK)
		json_array_foreach (findings, i, f)
			fprintf(stderr,
			        "cpsync: check-config: warning: policy standard '%s': %s: %s\n",
			        json_string_value(json_object_get(f, "key")),
			        json_string_value(json_object_get(f, "check")),
			        json_string_value(json_object_get(f, "detail")));
	json_decref(findings);
	cps_policy_free(policy);
	return rc;
}

/* http.tokens as the server would take them: token or token_sha256,
 * regions well-formed and never on an operator. */
static int check_tokens(const struct cps_config *cfg, char *err, size_t err_size)
{
	struct cps_api_auth auth;
	int rc = cps_api_auth_from_config(cfg, &auth, err, err_size);

	if (rc == CPS_OK)
		cps_api_auth_release(&auth);
	return rc;
}

int cps_cli_check_config(int argc, char **argv)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 ? stdout : stderr, "usage: cpsync check-config FILE\n");
		return argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
	}
	if (cps_config_load(argv[1], &cfg, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: check-config: %s\n", err);
		return 1;
	}
	rc = check_rules(cfg, err, sizeof(err));
	if (rc == CPS_OK)
		rc = check_policy(cfg, err, sizeof(err));
	if (rc == CPS_OK)
		rc = check_platforms(cfg, err, sizeof(err));
	if (rc == CPS_OK)
		rc = check_tokens(cfg, err, sizeof(err));
	cps_config_free(cfg);
	if (rc != CPS_OK) {
		fprintf(stderr, "cpsync: check-config: %s\n", err);
		return 1;
	}
	printf("config OK: %s\n", argv[1]);
	return 0;
}

/* Keys of a platform's sections that cpsync itself reads; the connector
 * never sees them. */
static const struct {
	const char *name, *side, *def, *doc;
} engine_keys[] = {
    {"framing", "source", "single-object (kafka), raw (postgres, files)",
     "How messages are framed: `raw`, `confluent` (schema ids from the registry or `schemas/schema-ids.json`) or `single-object` (schema fingerprints)."},
    {"framing", "sink", "single-object",
     "Framing of the records a Kafka sink sends: `confluent` or `single-object`."},
    {"allow.<entity>", "sink", "(required for each entity sent)",
     "Comma-separated fields of `<entity>` the platform may receive; entities without a list are not sent; other fields are sent as null (or the record is held back when the field is required)."},
    {"flush_ms", "sink", "0",
     "Flush the sink and commit what it consumed at most this often (0: after every batch). A files sink closes an outbox file at each flush."},
};

static const char *setting_type_name(enum cps_setting_type t)
{
	static const char *const names[] = {[CPS_SETTING_STRING] = "string",
	                                    [CPS_SETTING_INT] = "int",
	                                    [CPS_SETTING_BOOL] = "bool",
	                                    [CPS_SETTING_LIST] = "list"};

	return (size_t)t < CPS_ARRAY_SIZE(names) ? names[t] : "string";
}

/* Text for a Markdown table cell: '|' escaped. */
static void put_cell(FILE *f, const char *text)
{
	for (; text && *text; text++) {
		if (*text == '|')
			fputc('\\', f);
		fputc(*text, f);
	}
}

/* The settings every built-in connector declares, as Markdown tables. */
static void write_connector_doc(FILE *f)
{
	static const char *const types[] = {"kafka", "postgres", "files"};
	char err[CPS_ERRSTR_SIZE];

	fprintf(
	    f,
	    "\n## Connector settings (`platforms.*.source`, `platforms.*.sink`)\n\n"
	    "Each platform names a connector; its `source` and `sink` sections hold that connector's settings, flattened: `table: {city.person: {entity: person}}` is the setting `table.city.person.entity`. `*` stands for any name. `cpsync check-config` checks them.\n\n"
	    "### Read by cpsync itself\n\n"
	    "| Key | Side | Default | Description |\n|---|---|---|---|\n");
	for (size_t i = 0; i < CPS_ARRAY_SIZE(engine_keys); i++)
		fprintf(f, "| `%s` | %s | %s | %s |\n", engine_keys[i].name, engine_keys[i].side,
		        engine_keys[i].def, engine_keys[i].doc);
	if (cps_connector_register_builtins(err, sizeof(err)) != CPS_OK)
		return;
	for (size_t t = 0; t < CPS_ARRAY_SIZE(types); t++) {
		const struct cps_connector_ops *ops = cps_connector_find(types[t]);

		if (!ops)
			continue;
		fprintf(f,
		        "\n### `%s`\n\n| Key | Side | Type | Default | Range | Description |\n"
		        "|---|---|---|---|---|---|\n",
		        ops->type);
		for (size_t i = 0; i < ops->n_settings; i++) {
			const struct cps_setting_decl *d = &ops->settings[i];
			unsigned side = d->flags & CPS_SETTING_BOTH;

			fprintf(f, "| `%s`%s | %s | %s | %s | ", d->name,
			        d->flags & CPS_SETTING_REQUIRED ? " (required)" : "",
			        side == CPS_SETTING_BOTH     ? "both"
			        : side == CPS_SETTING_SOURCE ? "source"
			                                     : "sink",
			        setting_type_name(d->type), d->def && *d->def ? d->def : "");
			if (d->type == CPS_SETTING_INT && (d->min || d->max))
				fprintf(f, "%lld .. %lld", (long long)d->min, (long long)d->max);
			fputs(" | ", f);
			put_cell(f, d->doc);
			fputs(" |\n", f);
		}
	}
}

int cps_cli_config_doc(int argc, char **argv)
{
	cps_config_write_doc(stdout);
	write_connector_doc(stdout);
	return 0;
}
