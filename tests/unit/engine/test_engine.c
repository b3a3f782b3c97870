/*
 * Tests of the engine (sync/engine.c): flattening of config maps into
 * connector settings, start-up errors that stop what was started (bad
 * schemas, unreachable store, a connector missing from the build), and a
 * real start on a fresh database with the embedded broker: links, bootstrap,
 * /status over HTTP, stop by request and by SIGTERM. Needs CPSYNC_TEST_PG.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/common.h"
#include "config/config.h"
#include "engine.h"
#include "testdb.h"

static struct cps_testdb testdb;

static const char *schema_dir(void)
{
	const char *d = getenv("CPSYNC_SCHEMA_DIR");

	return d && *d ? d : CPSYNC_SOURCE_DIR "/schemas";
}

static int group_setup(void **state)
{
	if (cps_testdb_create(&testdb, "cps_engine", -1) != 0)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int group_teardown(void **state)
{
	cps_testdb_drop(&testdb);
	curl_global_cleanup();
	return 0;
}

__attribute__((format(printf, 1, 2))) static struct cps_config *load(const char *fmt, ...)
{
	char text[4096], err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (cps_config_load_string(text, strlen(text), "test.yaml", NULL, &cfg, err, sizeof(err)) !=
	    CPS_OK)
		fail_msg("config: %s", err);
	return cfg;
}

#define BASE_CONFIG                                                                                \
	"instance: engine-test\n"                                                                  \
	"log: {level: warn}\n"                                                                     \
	"http: {open_routes: [/healthz, /readyz, /status]}\n"                                      \
	"kafka:\n"                                                                                 \
	"  brokers: embedded\n"                                                                    \
	"  embedded: {partitions: 1}\n"                                                            \
	"store: {conninfo: \"%s\"}\n"                                                              \
	"reconcile: {workers: 1}\n"                                                                \
	"platforms:\n"                                                                             \
	"  province:\n"                                                                            \
	"    connector: %s\n"                                                                      \
	"    source:\n"                                                                            \
	"      framing: %s\n"                                                                      \
	"      topics: [province.person]\n"                                                        \
	"      topic: {province.person: {entity: person}}\n"

static void test_flatten(void **state)
{
	struct cps_config *cfg = load("platforms:\n"
	                              "  p:\n"
	                              "    connector: kafka\n"
	                              "    source:\n"
	                              "      topics: [a.person, b.alert]\n"
	                              "      topic:\n"
	                              "        a.person: {entity: person}\n"
	                              "      properties: {linger.ms: 5, security.protocol: SSL}\n"
	                              "      empty:\n"
	                              "      none: []\n");
	struct cps_config_platform p;
	struct cps_settings s;

	assert_int_equal(cps_config_platform_find(cfg, "p", &p), CPS_OK);
	cps_settings_init(&s);
	assert_int_equal(cps_engine_flatten_settings(p.source, NULL, &s), 0);
	assert_string_equal(cps_settings_get(&s, "topics"), "a.person,b.alert");
	assert_string_equal(cps_settings_get(&s, "topic.a.person.entity"), "person");
	assert_string_equal(cps_settings_get(&s, "properties.linger.ms"), "5");
	assert_string_equal(cps_settings_get(&s, "properties.security.protocol"), "SSL");
	assert_non_null(cps_settings_get(&s, "none"));
	assert_string_equal(cps_settings_get(&s, "none"), "");
	cps_settings_release(&s);

	cps_settings_init(&s);
	assert_int_equal(cps_engine_flatten_settings(p.source, "source", &s), 0);
	assert_string_equal(cps_settings_get(&s, "source.topics"), "a.person,b.alert");
	assert_null(cps_settings_get(&s, "topics"));
	cps_settings_release(&s);

	cps_settings_init(&s);
	assert_int_equal(cps_engine_flatten_settings(NULL, NULL, &s), 0);
	assert_int_equal(s.n, 0);
	cps_settings_release(&s);
	cps_config_free(cfg);
}

static void expect_start_error(struct cps_config *cfg, const struct cps_engine_opts *opts,
                               const char *needle)
{
	char err[CPS_ERRSTR_SIZE] = "";
	struct cps_engine *e = (struct cps_engine *)1;

	assert_int_not_equal(cps_engine_start(cfg, opts, &e, err, sizeof(err)), CPS_OK);
	assert_null(e);
	if (!strstr(err, needle))
		fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_start_errors(void **state)
{
	struct cps_engine_opts opts = {.http_listen = "127.0.0.1:0", .no_signals = true};
	struct cps_config *cfg;

	cfg = load(BASE_CONFIG, testdb.conninfo, "kafka", "single-object");
	opts.schema_dir = "/nonexistent/schemas";
	expect_start_error(cfg, &opts, "schemas '/nonexistent/schemas'");
	cps_config_free(cfg);

	/* unreachable store: the password never shows */
	opts.schema_dir = schema_dir();
	cfg = load(BASE_CONFIG, "host=127.0.0.1 port=1 dbname=x password=s3cret", "kafka",
	           "single-object");
	{
		char err[CPS_ERRSTR_SIZE];
		struct cps_engine *e;

		assert_int_not_equal(cps_engine_start(cfg, &opts, &e, err, sizeof(err)), CPS_OK);
		assert_non_null(strstr(err, "store"));
		assert_null(strstr(err, "s3cret"));
	}
	cps_config_free(cfg);

	cfg = load(BASE_CONFIG, testdb.conninfo, "kafka", "base64");
	expect_start_error(cfg, &opts, "platform 'province': source framing 'base64'");
	cps_config_free(cfg);

	/* a connector that is missing from the build or refuses kafka's settings:
	 * the error names the platform, everything started is stopped (ASan) */
	cfg = load(BASE_CONFIG, testdb.conninfo, "files", "raw");
	expect_start_error(cfg, &opts, "platform 'province'");
	cps_config_free(cfg);
}

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	return cps_buf_append(arg, ptr, size * n) == 0 ? size * n : 0;
}

static json_t *http_get_json(unsigned port, const char *path, long *status)
{
	CURL *c = curl_easy_init();
	struct cps_buf body;
	char url[128];
	json_t *doc;

	cps_buf_init(&body, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	doc = json_loadb((const char *)body.data, body.len, 0, NULL);
	cps_buf_release(&body);
	assert_non_null(doc);
	return doc;
}

static void *stop_later(void *arg)
{
	usleep(200 * 1000);
	cps_engine_request_stop(arg);
	return NULL;
}

static void *signal_later(void *arg)
{
	usleep(200 * 1000);
	kill(getpid(), SIGTERM);
	return NULL;
}

static void test_start_stop(void **state)
{
	struct cps_engine_opts opts = {.http_listen = "127.0.0.1:0", .schema_dir = schema_dir()};
	struct cps_config *cfg = load(BASE_CONFIG, testdb.conninfo, "kafka", "single-object");
	char err[CPS_ERRSTR_SIZE];
	struct cps_engine *e;
	struct cps_status *st;
	pthread_t t;
	json_t *doc, *links;
	long status = 0;

	for (int round = 0; round < 2; round++) {
		if (cps_engine_start(cfg, &opts, &e, err, sizeof(err)) != CPS_OK)
			fail_msg("start: %s", err);
		assert_int_not_equal(cps_engine_http_port(e), 0);
		assert_non_null(cps_engine_bootstrap(e));
		assert_non_null(strstr(cps_engine_bootstrap(e), "127.0.0.1:"));
		assert_non_null(cps_engine_catalog(e));
		st = cps_engine_status(e);
		assert_int_equal(cps_status_link_count(st), 3);
		assert_string_equal(cps_status_link_at(st, 0)->name, "publisher");
		assert_string_equal(cps_status_link_at(st, 1)->name, "reconcile");
		assert_string_equal(cps_status_link_at(st, 2)->name, "province-source");

		doc = http_get_json(cps_engine_http_port(e), "/status", &status);
		assert_int_equal(status, 200);
		assert_string_equal(json_string_value(json_object_get(doc, "instance")),
		                    "engine-test");
		assert_true(json_is_true(json_object_get(json_object_get(doc, "store"), "ok")));
		assert_string_equal(
		    json_string_value(json_object_get(json_object_get(doc, "kafka"), "bootstrap")),
		    cps_engine_bootstrap(e));
		links = json_object_get(doc, "links");
		assert_int_equal(json_array_size(links), 3);
		json_decref(doc);
		doc = http_get_json(cps_engine_http_port(e), "/healthz", &status);
		assert_int_equal(status, 200);
		json_decref(doc);

		/* round 0: a stop request; round 1: SIGTERM (blocked, taken by wait) */
		pthread_create(&t, NULL, round == 0 ? stop_later : signal_later, e);
		assert_int_equal(cps_engine_wait(e), round == 0 ? 0 : SIGTERM);
		pthread_join(t, NULL);
		cps_engine_stop(e);
	}
	cps_engine_stop(NULL);
	cps_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flatten),
	    cmocka_unit_test(test_start_errors),
	    cmocka_unit_test(test_start_stop),
	};

	return cmocka_run_group_tests_name("engine", tests, group_setup, group_teardown);
}
