/*
 * Unit tests of config.c: loading the fixtures of tests/data/config, every
 * error form (unknown key with a suggestion, wrong type, out of range, bad
 * enum, missing environment variable, YAML syntax, required keys, rules),
 * ${ENV} substitution, defaults, secrets never echoed, free-form maps,
 * connector sections, and docs/CONFIG.md being current.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/common.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *source_dir(void)
{
	const char *d = getenv("CPSYNC_SOURCE_DIR");
	return d ? d : CPSYNC_SOURCE_DIR;
}

static void fixture(const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/tests/data/config/%s", source_dir(), name);
}

static struct cps_config *load_ok(const char *name)
{
	char path[1024], err[CPS_ERRSTR_SIZE] = "";
	struct cps_config *cfg = NULL;

	fixture(name, path, sizeof(path));
	if (cps_config_load(path, &cfg, err, sizeof(err)) != CPS_OK)
		fail_msg("loading %s failed: %s", name, err);
	return cfg;
}

/* Loads a fixture that must fail; every needle must be in the error. */
static void load_fails(const char *name, int code, const char *needle, const char *absent)
{
	char path[1024], err[CPS_ERRSTR_SIZE] = "";
	struct cps_config *cfg = NULL;

	fixture(name, path, sizeof(path));
	assert_int_equal(cps_config_load(path, &cfg, err, sizeof(err)), code);
	assert_null(cfg);
	if (!strstr(err, needle))
		fail_msg("error for %s is '%s', expected it to contain '%s'", name, err, needle);
	if (absent && strstr(err, absent))
		fail_msg("error for %s is '%s', must not contain '%s'", name, err, absent);
	assert_null(strchr(err, '\n'));
}

static void string_fails(const char *text, const char *needle, const char *absent)
{
	char err[CPS_ERRSTR_SIZE] = "";
	struct cps_config *cfg = NULL;

	assert_int_equal(
	    cps_config_load_string(text, strlen(text), "t.yaml", NULL, &cfg, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_null(cfg);
	if (!strstr(err, needle))
		fail_msg("error for <<%s>> is '%s', expected '%s'", text, err, needle);
	if (absent && strstr(err, absent))
		fail_msg("error for <<%s>> is '%s', must not contain '%s'", text, err, absent);
}

static struct cps_config *string_ok(const char *text)
{
	char err[CPS_ERRSTR_SIZE] = "";
	struct cps_config *cfg = NULL;

	if (cps_config_load_string(text, strlen(text), "t.yaml", NULL, &cfg, err, sizeof(err)))
		fail_msg("<<%s>> failed: %s", text, err);
	return cfg;
}

static int set_env(void **state)
{
	setenv("CPS_TEST_REGISTRY_PASSWORD", "reg-pass", 1);
	setenv("CPS_TEST_SASL_PASSWORD", "sasl-pass", 1);
	setenv("CPS_TEST_PGPASSWORD", "pg-pass", 1);
	unsetenv("CPS_TEST_REGISTRY_URL");
	unsetenv("CPS_TEST_SURELY_UNSET_VAR");
	return 0;
}

static void test_full_file(void **state)
{
	struct cps_config *cfg = load_ok("full.yaml");
	const struct cps_config_node *n;
	char expect[1200];

	assert_string_equal(cps_config_get_string(cfg, "instance"), "cps-test-1");
	assert_string_equal(cps_config_get_string(cfg, "log.level"), "debug");
	n = cps_config_get_list(cfg, "log.debug");
	assert_non_null(n);
	assert_int_equal(n->count, 2);
	assert_string_equal(n->children[1]->value, "kafka");
	/* ${VAR:-default} with VAR unset, ${VAR} set */
	assert_string_equal(cps_config_get_string(cfg, "schemas.registry.url"),
	                    "http://127.0.0.1:8081");
	assert_string_equal(cps_config_get_string(cfg, "schemas.registry.password"), "reg-pass");
	assert_string_equal(cps_config_get_string(cfg, "store.conninfo"),
	                    "host=db dbname=cps password=pg-pass");
	/* durations come back in milliseconds */
	assert_int_equal(cps_config_get_int(cfg, "schemas.registry.timeout_ms"), 2000);
	assert_int_equal(cps_config_get_int(cfg, "store.batch_ms"), 20);
	/* a relative path resolves against the file's directory */
	snprintf(expect, sizeof(expect), "%s/tests/data/config/../schemas-x", source_dir());
	assert_string_equal(cps_config_get_string(cfg, "schemas.dir"), expect);
	/* defaults of absent keys */
	assert_int_equal(cps_config_get_int(cfg, "codec.max_message_bytes"), 1048576);
	assert_int_equal(cps_config_get_int(cfg, "codec.max_items"), 1000000);
	assert_int_equal(cps_config_get_int(cfg, "codec.max_depth"), 64);
	assert_int_equal(cps_config_get_int(cfg, "store.batch_size"), 1000);
	assert_string_equal(cps_config_get_string(cfg, "http.listen"), "127.0.0.1:8080");
	assert_int_equal(cps_config_get_int(cfg, "http.max_body_bytes"), 1048576);
	assert_int_equal(cps_config_get_int(cfg, "reconcile.workers"), 2);
	assert_string_equal(cps_config_get_string(cfg, "kafka.ingest_topic"), "cpsync.ingest");
	assert_string_equal(cps_config_get_string(cfg, "schemas.registry.ca_file"), "");
	/* free-form map: kafka.properties, keys with dots */
	n = cps_config_get_map(cfg, "kafka.properties");
	assert_non_null(n);
	assert_int_equal(n->count, 3);
	assert_string_equal(n->children[0]->key, "security.protocol");
	assert_string_equal(n->children[1]->value, "sasl-pass");
	assert_string_equal(cps_config_get_string(cfg, "kafka.properties.linger.ms"), "5");
	assert_int_equal(cps_config_find(cfg, "kafka.properties.linger.ms")->line, 21);
	assert_null(cps_config_find(cfg, "kafka.properties.linger"));
	assert_null(cps_config_get_string(cfg, "no.such.key"));
	cps_config_free(cfg);
}

static void test_platforms_and_rules(void **state)
{
	struct cps_config *cfg = load_ok("full.yaml");
	struct cps_config_platform p;
	const struct cps_config_node *rules;

	assert_int_equal(cps_config_platform_count(cfg), 3);
	assert_int_equal(cps_config_platform_at(cfg, 0, &p), CPS_OK);
	assert_string_equal(p.name, "province");
	assert_string_equal(p.connector, "kafka");
	assert_true(p.enabled);
	assert_int_equal(p.freshness_target_s, 60);
	assert_int_equal(p.source->kind, CPS_NODE_MAP);
	assert_int_equal(cps_config_node_find(p.source, "topics")->count, 2);
	assert_int_equal(p.sink->count, 0);
	assert_int_equal(cps_config_platform_find(cfg, "city", &p), CPS_OK);
	assert_false(p.enabled);
	assert_string_equal(cps_config_node_string(p.source, "slot", NULL), "cpsync_city");
	assert_string_equal(cps_config_node_string(p.sink, "schema", NULL), "inbound");
	assert_int_equal(cps_config_platform_find(cfg, "shenshan", &p), CPS_OK);
	assert_int_equal(p.freshness_target_s, 300);
	assert_true(p.enabled);
	assert_int_equal(cps_config_platform_find(cfg, "nowhere", &p), CPS_ERR_INVALID);
	assert_int_equal(cps_config_platform_at(cfg, 3, &p), CPS_ERR_INVALID);

	/* the rules stay text here (reconcile/rules.c gives them their meaning,
	 * test_reconcile.c checks it); declared defaults are filled in */
	rules = cps_config_get_map(cfg, "rules");
	assert_non_null(rules);
	assert_int_equal(rules->count, 2);
	assert_string_equal(rules->children[1]->key, "verification");
	assert_string_equal(
	    cps_config_node_string(rules, "person.fields.disability_grade.rule", NULL), "manual");
	assert_null(
	    cps_config_node_string(rules, "person.fields.disability_grade.on_disagree", NULL));
	assert_int_equal(cps_config_node_int(rules, "person.version", 0), 3);
	assert_string_equal(
	    cps_config_node_string(rules, "person.fields.monitoring_category.on_disagree", NULL),
	    "flag");
	assert_int_equal(
	    cps_config_node_find(rules, "person.fields.monitoring_category.platforms")->count, 1);
	assert_string_equal(cps_config_node_string(rules, "person.default.on_disagree", NULL),
	                    "accept");
	assert_string_equal(cps_config_node_string(rules, "verification.default.rule", NULL),
	                    "precedence");
	assert_int_equal(cps_config_node_int(rules, "verification.version", 0), 1);
	assert_string_equal(
	    cps_config_node_find(rules, "verification.default.platforms")->children[0]->value,
	    "city");
	assert_null(cps_config_node_child(rules, "alert"));
	cps_config_free(cfg);
}

static void test_defaults_of_empty_file(void **state)
{
	struct cps_config *cfg = string_ok("");
	char host[256] = "";

	gethostname(host, sizeof(host));
	assert_string_equal(cps_config_get_string(cfg, "instance"), host);
	assert_string_equal(cps_config_get_string(cfg, "log.level"), "info");
	assert_string_equal(cps_config_get_string(cfg, "log.format"), "text");
	assert_int_equal(cps_config_get_list(cfg, "log.debug")->count, 0);
	assert_string_equal(cps_config_get_string(cfg, "kafka.brokers"), "embedded");
	assert_int_equal(cps_config_get_int(cfg, "kafka.embedded.partitions"), 8);
	assert_int_equal(cps_config_get_int(cfg, "codec.max_message_bytes"), 4 << 20);
	assert_int_equal(cps_config_get_int(cfg, "schemas.registry.timeout_ms"), 5000);
	assert_string_equal(cps_config_get_string(cfg, "schemas.dir"), "schemas");
	assert_int_equal(cps_config_get_int(cfg, "http.timeout_s"), 30);
	assert_int_equal(cps_config_get_int(cfg, "http.max_connections"), 64);
	assert_int_equal(cps_config_platform_count(cfg), 0);
	assert_int_equal(cps_config_get_map(cfg, "rules")->count, 0);
	cps_config_free(cfg);

	/* "key:" with nothing means the default; a comma list is a list */
	cfg = string_ok("log:\n  level:\n  debug: store, http\nhttp:\n  listen: ~\n");
	assert_string_equal(cps_config_get_string(cfg, "log.level"), "info");
	assert_string_equal(cps_config_get_string(cfg, "http.listen"), "127.0.0.1:8080");
	assert_int_equal(cps_config_get_list(cfg, "log.debug")->count, 2);
	assert_string_equal(cps_config_get_list(cfg, "log.debug")->children[1]->value, "http");
	cps_config_free(cfg);
}

static void test_env_substitution(void **state)
{
	struct cps_config *cfg;

	setenv("CPS_T_HOST", "db.example", 1);
	setenv("CPS_T_EMPTY", "", 1);
	unsetenv("CPS_T_UNSET");
	cfg =
	    string_ok("instance: \"${CPS_T_HOST}-${CPS_T_UNSET:-x}-${CPS_T_EMPTY:-d}-$$HOME-$5\"\n"
	              "store:\n  batch_size: ${CPS_T_UNSET:-250}\n");
	assert_string_equal(cps_config_get_string(cfg, "instance"), "db.example-x-d-$HOME-$5");
	assert_int_equal(cps_config_get_int(cfg, "store.batch_size"), 250);
	cps_config_free(cfg);
	/* a set-but-empty variable without default is empty */
	cfg = string_ok("schemas:\n  registry:\n    url: ${CPS_T_EMPTY}\n");
	assert_string_equal(cps_config_get_string(cfg, "schemas.registry.url"), "");
	cps_config_free(cfg);
	/* substituted values are validated like written ones */
	setenv("CPS_T_WORKERS", "500", 1);
	string_fails("reconcile:\n  workers: ${CPS_T_WORKERS}\n",
	             "t.yaml:2: key 'reconcile.workers': 500 is out of range 1..64", NULL);
	string_fails("log:\n  level: info\n  format: ${CPS_T_UNSET}\n",
	             "t.yaml:3: key 'log.format': environment variable 'CPS_T_UNSET' is not set",
	             NULL);
	string_fails("instance: ${9BAD}\n", "t.yaml:1: key 'instance': malformed ${...}", NULL);
	string_fails("instance: ${CPS_T_HOST\n", "t.yaml:1: key 'instance': malformed", NULL);
	string_fails("instance: ${CPS_T_HOST:-abc\n", "unterminated", NULL);
}

static void test_error_fixtures(void **state)
{
	load_fails(
	    "unknown_key.yaml", CPS_ERR_INVALID,
	    "unknown_key.yaml:4: unknown key 'kafka.brokres' (did you mean 'kafka.brokers'?)",
	    NULL);
	load_fails("wrong_type.yaml", CPS_ERR_INVALID,
	           "wrong_type.yaml:3: key 'http.max_connections': expected an integer, got 'lots'",
	           NULL);
	load_fails("out_of_range.yaml", CPS_ERR_INVALID,
	           "out_of_range.yaml:2: key 'codec.max_depth': 100000 is out of range 1..1024",
	           NULL);
	load_fails("bad_enum.yaml", CPS_ERR_INVALID,
	           "bad_enum.yaml:2: key 'log.level': expected one of error|warn|info|debug, got "
	           "'verbose'",
	           NULL);
	load_fails("missing_env.yaml", CPS_ERR_INVALID,
	           "missing_env.yaml:3: key 'store.conninfo': environment variable "
	           "'CPS_TEST_SURELY_UNSET_VAR' is not set",
	           "host=db");
	load_fails("syntax_error.yaml", CPS_ERR_INVALID, "syntax_error.yaml:4: yaml syntax error",
	           NULL);
	load_fails("no_such_file.yaml", CPS_ERR_FATAL, "cannot read config file", NULL);
}

static void test_error_forms(void **state)
{
	string_fails("log:\n  levl: info\n",
	             "t.yaml:2: unknown key 'log.levl' (did you mean 'log.level'?)", NULL);
	string_fails("logs:\n  level: info\n", "t.yaml:1: unknown key 'logs' (did you mean 'log'?)",
	             NULL);
	string_fails("completely_different: 1\n", "t.yaml:1: unknown key 'completely_different'",
	             "did you mean");
	string_fails("platforms:\n  city:\n    conector: postgres\n",
	             "t.yaml:3: unknown key 'platforms.city.conector' (did you mean "
	             "'platforms.city.connector'?)",
	             NULL);
	string_fails("platforms:\n  city:\n    enabled: true\n",
	             "t.yaml:2: key 'platforms.city.connector' is required", NULL);
	string_fails("platforms:\n  city:\n    connector: mysql\n",
	             "t.yaml:3: key 'platforms.city.connector': expected one of "
	             "kafka|postgres|files|demo, got 'mysql'",
	             NULL);
	string_fails("platforms:\n  city: postgres\n",
	             "t.yaml:2: key 'platforms.city': expected a mapping, got 'postgres'", NULL);
	string_fails("platforms:\n  city:\n    connector: files\n    enabled: maybe\n",
	             "t.yaml:4: key 'platforms.city.enabled': expected true or false, got 'maybe'",
	             NULL);
	string_fails("log:\n  debug: [store, everything]\n",
	             "t.yaml:2: key 'log.debug[1]': expected one of "
	             "connector|reconcile|store|http|kafka|codec|all, got 'everything'",
	             NULL);
	string_fails("log:\n  level: [info]\n",
	             "t.yaml:2: key 'log.level': expected one of error|warn|info|debug, got a list",
	             NULL);
	string_fails("http:\n  listen:\n    host: x\n",
	             "t.yaml:2: key 'http.listen': expected a string, got a mapping", NULL);
	string_fails("store:\n  batch_ms: 5 seconds\n",
	             "t.yaml:2: key 'store.batch_ms': expected a duration", NULL);
	string_fails("store:\n  batch_ms: 2m\n",
	             "t.yaml:2: key 'store.batch_ms': 2m is out of range 1..60000 ms", NULL);
	string_fails("codec:\n  max_items: 99999999999999999999999\n",
	             "t.yaml:2: key 'codec.max_items': expected an integer", NULL);
	string_fails("log:\n  level: info\n  level: debug\n", "t.yaml:3: duplicate key 'log.level'",
	             NULL);
	string_fails("- a\n- b\n", "t.yaml:1: the file must be a mapping", NULL);
	string_fails("log: {level: info}\n---\nlog: {}\n", "more than one yaml document", NULL);
	string_fails("? [a, b]\n: c\n", "t.yaml:1: key under '(top level)' is not a plain name",
	             NULL);
	string_fails("log:\n\tlevel: info\n", "t.yaml:2: yaml syntax error", NULL);
	/* rules: each key checked here; the checks across keys are the
	 * reconciler's (test_reconcile.c, test_rules_config_errors) */
	string_fails("rules:\n  person:\n    fields:\n      income:\n        rule: sometimes\n",
	             "t.yaml:5: key 'rules.person.fields.income.rule': expected one of "
	             "precedence|latest|manual, got 'sometimes'",
	             NULL);
	string_fails("rules:\n  person:\n    fields:\n      income:\n        rul: latest\n",
	             "unknown key 'rules.person.fields.income.rul' (did you mean "
	             "'rules.person.fields.income.rule'?)",
	             NULL);
}

static void test_secrets_not_echoed(void **state)
{
	static const struct cps_config_key section_keys[] = {
	    {"mode", CPS_CFG_ENUM, "a", 0, 0, "a|b", CPS_CFG_SECRET, "a secret enum"},
	    {"pin", CPS_CFG_INT, "0", 0, 9999, NULL, CPS_CFG_SECRET, "a secret number"},
	};
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg;

	load_fails("secret_type.yaml", CPS_ERR_INVALID,
	           "key 'schemas.registry.password': expected a string, got a list", "hunter2");
	string_fails("kafka:\n  properties:\n    ssl.key.password: {k: s3cr3t}\n",
	             "t.yaml:3: key 'kafka.properties.ssl.key.password': expected a string, got a "
	             "mapping",
	             "s3cr3t");
	assert_true(cps_config_key_is_secret(cps_config_keys, cps_config_keys_count,
	                                     "kafka.properties.sasl.password"));
	assert_true(cps_config_key_is_secret(cps_config_keys, cps_config_keys_count,
	                                     "kafka.properties.ssl.Secret.key"));
	assert_false(cps_config_key_is_secret(cps_config_keys, cps_config_keys_count,
	                                      "kafka.properties.linger.ms"));
	assert_true(
	    cps_config_key_is_secret(cps_config_keys, cps_config_keys_count, "store.conninfo"));
	assert_true(cps_config_key_is_secret(cps_config_keys, cps_config_keys_count,
	                                     "schemas.registry.password"));
	assert_false(cps_config_key_is_secret(cps_config_keys, cps_config_keys_count,
	                                      "schemas.registry.username"));

	/* a secret value that fails its type is not shown */
	cfg = string_ok("platforms:\n  p:\n    connector: demo\n    source:\n      mode: "
	                "hunter2\n");
	assert_int_equal(cps_config_validate_section(cfg, "platforms.p.source", section_keys, 2,
	                                             err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(
	    strstr(err, "t.yaml:5: key 'platforms.p.source.mode': expected one of a|b"));
	assert_null(strstr(err, "hunter2"));
	cps_config_free(cfg);
	cfg = string_ok("platforms:\n  p:\n    connector: demo\n    source:\n      pin: 12345\n");
	assert_int_equal(cps_config_validate_section(cfg, "platforms.p.source", section_keys, 2,
	                                             err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "value is out of range 0..9999"));
	assert_null(strstr(err, "12345"));
	cps_config_free(cfg);
}

static void test_validate_section(void **state)
{
	static const struct cps_config_key keys[] = {
	    {"dsn", CPS_CFG_STRING, NULL, 0, 0, NULL, CPS_CFG_REQUIRED | CPS_CFG_SECRET,
	     "connection"},
	    {"poll_ms", CPS_CFG_DURATION_MS, "1s", 10, 60000, NULL, 0, "poll"},
	    {"tables", CPS_CFG_LIST, "person,household", 0, 0, NULL, 0, "tables"},
	    {"dir", CPS_CFG_STRING, "inbox", 0, 0, NULL, CPS_CFG_PATH, "a directory"},
	    {"options.*", CPS_CFG_STRING, NULL, 0, 0, NULL, 0, "free-form"},
	};
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg;
	struct cps_config_platform p;
	const char *text = "platforms:\n  city:\n    connector: postgres\n    source:\n"
	                   "      dsn: host=x\n      options: {a: 1, b.c: 2}\n"
	                   "  zone:\n    connector: files\n";

	assert_int_equal(cps_config_load_string(text, strlen(text), "t.yaml", "/etc/cpsync", &cfg,
	                                        err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_config_validate_section(cfg, "platforms.city.source", keys,
	                                             CPS_ARRAY_SIZE(keys), err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_config_platform_find(cfg, "city", &p), CPS_OK);
	assert_int_equal(cps_config_node_int(p.source, "poll_ms", -1), 1000);
	assert_int_equal(cps_config_node_find(p.source, "tables")->count, 2);
	assert_string_equal(cps_config_node_string(p.source, "dir", NULL), "/etc/cpsync/inbox");
	assert_string_equal(cps_config_node_string(p.source, "options.b.c", NULL), "2");
	/* the section of another platform is absent: a required key is missing */
	assert_int_equal(cps_config_validate_section(cfg, "platforms.zone.source", keys,
	                                             CPS_ARRAY_SIZE(keys), err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "t.yaml:7: key 'platforms.zone.source.dsn' is required");
	cps_config_free(cfg);

	cfg = string_ok("platforms:\n  city:\n    connector: postgres\n    source:\n"
	                "      dsn: x\n      pol_ms: 5\n");
	assert_int_equal(cps_config_validate_section(cfg, "platforms.city.source", keys,
	                                             CPS_ARRAY_SIZE(keys), err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "t.yaml:6: unknown key 'platforms.city.source.pol_ms' (did you "
	                         "mean 'platforms.city.source.poll_ms'?)");
	cps_config_free(cfg);
}

static void test_hostile_yaml(void **state)
{
	struct cps_buf b;

	/* an alias bomb is stopped by the value count */
	cps_buf_init(&b, 0);
	cps_buf_printf(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 9; i++)
		cps_buf_printf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
		               i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	string_fails((const char *)b.data, "more than 100000 values", NULL);
	cps_buf_reset(&b);
	/* deep nesting is bounded */
	for (int i = 0; i < 200; i++)
		cps_buf_printf(&b, "%*sk%d:\n", i, "", i);
	string_fails((const char *)b.data, "nested deeper than 64 levels", NULL);
	cps_buf_release(&b);
}

static void test_example_and_doc_current(void **state)
{
	char path[1024], err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = NULL;
	struct cps_buf committed;
	char *doc = NULL;
	size_t doc_len = 0;
	FILE *f;

	setenv("CPSYNC_STORE_PASSWORD", "example", 1);
	snprintf(path, sizeof(path), "%s/deploy/cpsync.example.yaml", source_dir());
	if (cps_config_load(path, &cfg, err, sizeof(err)) != CPS_OK)
		fail_msg("the example config does not load: %s", err);
	assert_int_equal(cps_config_get_map(cfg, "rules")->count, 5);
	assert_int_equal(cps_config_platform_count(cfg), 3);
	cps_config_free(cfg);

	f = open_memstream(&doc, &doc_len);
	assert_non_null(f);
	cps_config_write_doc(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/docs/CONFIG.md", source_dir());
	cps_buf_init(&committed, 0);
	assert_int_equal(cps_buf_read_file(&committed, path), 0);
	/* the keys' part; `cpsync config-doc` appends the connectors' settings
	 * (the whole file is compared by the test config.doc_current) */
	if (committed.len < doc_len || memcmp(committed.data, doc, doc_len))
		fail_msg("docs/CONFIG.md is out of date: run 'cpsync config-doc > docs/CONFIG.md'");
	assert_non_null(strstr(doc, "| `kafka.brokers` | string | `embedded` |"));
	cps_buf_release(&committed);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_platforms_and_rules),
	    cmocka_unit_test(test_defaults_of_empty_file),
	    cmocka_unit_test(test_env_substitution),
	    cmocka_unit_test(test_error_fixtures),
	    cmocka_unit_test(test_error_forms),
	    cmocka_unit_test(test_secrets_not_echoed),
	    cmocka_unit_test(test_validate_section),
	    cmocka_unit_test(test_hostile_yaml),
	    cmocka_unit_test(test_example_and_doc_current),
	};
	return cmocka_run_group_tests(tests, set_env, NULL);
}
