/*
 * `cpsync check-config FILE` and `cpsync config-doc`. check-config validates
 * the file itself and every platform's source and sink section against the
 * settings its connector declares, so a typo fails here and not at start-up.
 */
#include "cli.h"

#include "common.h"
#include "config.h"
#include "connector.h"
#include "engine.h"

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
		return cps_seterr(errstr, errstr_size,
		                  "%s:%d: platform '%s': connector '%s' has no %s side",
		                  cps_config_file(cfg), node->line, p->name, ops->type,
		                  source ? "source" : "sink");
	cps_settings_init(&all);
	cps_settings_init(&own);
	if (cps_engine_flatten_settings(node, NULL, &all) < 0)
		rc = cps_seterr_code(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	while (rc == CPS_OK && (kv = cps_settings_next(&all, "", &it)))
		if (!engine_key(kv->key, source) && cps_settings_set(&own, kv->key, kv->value) < 0)
			rc = cps_seterr_code(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	/* What the engine fills in for a Kafka link: cpsync's own brokers and a group. */
	if (rc == CPS_OK && !strcmp(ops->type, "kafka") &&
	    ((!cps_settings_get(&own, "brokers") &&
	      cps_settings_set(&own, "brokers", "cpsync") < 0) ||
	     (source && !cps_settings_get(&own, "group_id") &&
	      cps_settings_set(&own, "group_id", "cpsync") < 0)))
		rc = cps_seterr_code(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (rc == CPS_OK && cps_settings_validate(&own, ops->settings, ops->n_settings,
	                                          source ? CPS_SETTING_SOURCE : CPS_SETTING_SINK,
	                                          why, sizeof(why)) != CPS_OK)
		rc = cps_seterr(errstr, errstr_size, "%s:%d: platforms.%s.%s: %s",
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
	rc = check_platforms(cfg, err, sizeof(err));
	cps_config_free(cfg);
	if (rc != CPS_OK) {
		fprintf(stderr, "cpsync: check-config: %s\n", err);
		return 1;
	}
	printf("config OK: %s\n", argv[1]);
	return 0;
}

int cps_cli_config_doc(int argc, char **argv)
{
	cps_config_write_doc(stdout);
	return 0;
}
