/*
 * Unit tests of log.c: level gating (arguments below the level are not
 * evaluated), debug contexts, the text and JSON line formats (each JSON line
 * parsed with jansson), truncation, configuration from a loaded config,
 * whole lines under concurrent writers, and run-time changes of the level
 * and named contexts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "config/config.h"
#include "base/log.h"
#include "base/pii.h"
#include "config/log_config.h"

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A temporary file that receives the log lines. */
struct capture {
	char path[64];
	int fd;
};

static void capture_start(struct capture *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/cps-test-log-XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	close(c->fd);
	c->fd = open(c->path, O_WRONLY | O_APPEND);
	assert_true(c->fd >= 0);
	cps_log_set_fd(c->fd);
}

/* Returns the captured text (caller frees) and restores stderr. */
static char *capture_end(struct capture *c)
{
	FILE *f;
	char *text;
	long n;

	cps_log_set_fd(2);
	close(c->fd);
	f = fopen(c->path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	unlink(c->path);
	return text;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int reset(void **state)
{
	cps_log_set_level(CPS_LOG_INFO);
	cps_log_set_format(CPS_LOG_TEXT);
	cps_log_set_debug(0);
	return 0;
}

static int side_effects;

static int touch(void)
{
	return ++side_effects;
}

static void test_level_gating(void **state)
{
	struct capture c;
	char *out;

	capture_start(&c);
	side_effects = 0;
	cps_log_set_level(CPS_LOG_WARN);
	CPS_LOG(CPS_LOG_DEBUG, "TEST", "debug %d", touch());
	cps_log_info("TEST", "info %d", touch());
	assert_int_equal(side_effects, 0); /* not even evaluated */
	cps_log_warn("TEST", "warn %d", touch());
	cps_log_error("TEST", "error %d", touch());
	assert_int_equal(side_effects, 2);
	/* debug contexts are off: nothing evaluated */
	cps_log_debug(CPS_DBG_STORE, "STORE", "ctx %d", touch());
	assert_int_equal(side_effects, 2);
	out = capture_end(&c);
	assert_int_equal(count_lines(out), 2);
	assert_non_null(strstr(out, " warn  TEST warn 1\n"));
	assert_non_null(strstr(out, " error TEST error 2\n"));
	assert_null(strstr(out, "info"));
	free(out);

	assert_int_equal(cps_log_level_parse("debug"), CPS_LOG_DEBUG);
	assert_int_equal(cps_log_level_parse("verbose"), -1);
	assert_string_equal(cps_log_level_name(CPS_LOG_WARN), "warn");
	assert_int_equal(cps_log_ctx_parse("kafka"), CPS_DBG_KAFKA);
	assert_int_equal(cps_log_ctx_parse("all"), CPS_DBG_ALL);
	assert_int_equal(cps_log_ctx_parse("nope"), 0);
}

static void test_debug_contexts(void **state)
{
	struct capture c;
	char *out;

	capture_start(&c);
	side_effects = 0;
	cps_log_set_level(CPS_LOG_INFO);
	cps_log_set_debug(CPS_DBG_STORE | CPS_DBG_HTTP);
	cps_log_debug(CPS_DBG_STORE, "STORE", "store %d", touch());
	cps_log_debug(CPS_DBG_HTTP, "HTTP", "http %d", touch());
	cps_log_debug(CPS_DBG_KAFKA, "KAFKA", "kafka %d", touch());
	assert_int_equal(side_effects, 2);
	/* level debug with no named context: every context */
	cps_log_set_debug(0);
	cps_log_set_level(CPS_LOG_DEBUG);
	cps_log_debug(CPS_DBG_KAFKA, "KAFKA", "kafka %d", touch());
	CPS_LOG(CPS_LOG_DEBUG, "MAIN", "plain debug");
	/* level debug with named contexts: only those */
	cps_log_set_debug(CPS_DBG_CODEC);
	cps_log_debug(CPS_DBG_KAFKA, "KAFKA", "kafka %d", touch());
	cps_log_debug(CPS_DBG_CODEC, "CODEC", "codec %d", touch());
	assert_int_equal(side_effects, 4);
	out = capture_end(&c);
	assert_int_equal(count_lines(out), 5);
	assert_non_null(strstr(out, " debug STORE store 1\n"));
	assert_non_null(strstr(out, " debug HTTP http 2\n"));
	assert_non_null(strstr(out, " debug KAFKA kafka 3\n"));
	assert_non_null(strstr(out, " debug MAIN plain debug\n"));
	assert_non_null(strstr(out, " debug CODEC codec 4\n"));
	free(out);
}

static void test_text_format(void **state)
{
	struct capture c;
	char *out;
	int y, mo, d, h, mi, s, ms;
	char rest[256];

	capture_start(&c);
	cps_log_info("STORE", "committed batch of %d events", 1000);
	cps_log_warn("HTTP", "two\nlines\tand\x01"
	                     "control");
	out = capture_end(&c);
	assert_int_equal(count_lines(out), 2);
	assert_int_equal(sscanf(out, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %255[^\n]", &y, &mo, &d, &h, &mi,
	                        &s, &ms, rest),
	                 8);
	assert_true(y >= 2024 && mo >= 1 && mo <= 12 && ms >= 0 && ms <= 999);
	assert_int_equal(out[23], 'Z');
	assert_string_equal(rest, "info  STORE committed batch of 1000 events");
	assert_non_null(strstr(out, "warn  HTTP two lines and control\n"));
	free(out);
}

/* A national ID that reached a message unmasked (a file name from the
 * Shenshan inbox) is masked by the logger itself. */
static void test_ids_masked(void **state)
{
	struct capture c;
	char id[19], *out;

	(void)state;
	assert_int_equal(cps_national_id_make("440305", 1990, 1, 1, 123, id), CPS_OK);
	capture_start(&c);
	cps_log_info("FILES", "reading 'person-%s.avro'", id);
	out = capture_end(&c);
	assert_null(strstr(out, id));
	assert_non_null(strstr(out, "reading 'person-440305"));
	free(out);
}

static json_t *parse_line(const char *line, size_t len)
{
	json_error_t jerr;
	json_t *j = json_loadb(line, len, 0, &jerr);

	if (!j)
		fail_msg("invalid JSON line (%s): %.*s", jerr.text, (int)len, line);
	return j;
}

static void test_json_format(void **state)
{
	struct capture c;
	char *out, *nl;
	json_t *j;
	char big[10000];

	capture_start(&c);
	cps_log_set_format(CPS_LOG_JSON);
	cps_log_info("STORE", "quote \" backslash \\ newline\n tab\t ctl\x01 utf8 深圳 %d", 7);
	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cps_log_error("BIG", "%s", big);
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big + 3960, "深深深深深深", 18);
	cps_log_warn("BIG", "%s", big);
	out = capture_end(&c);
	assert_int_equal(count_lines(out), 3);

	nl = strchr(out, '\n');
	j = parse_line(out, (size_t)(nl - out));
	assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
	assert_string_equal(json_string_value(json_object_get(j, "facility")), "STORE");
	assert_string_equal(json_string_value(json_object_get(j, "msg")),
	                    "quote \" backslash \\ newline\n tab\t ctl\x01 utf8 深圳 7");
	const char *ts = json_string_value(json_object_get(j, "ts"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[23], 'Z');
	json_decref(j);

	/* a message that escapes past the line limit stays valid JSON */
	char *second = nl + 1;
	nl = strchr(second, '\n');
	assert_true(nl - second < 4096);
	j = parse_line(second, (size_t)(nl - second));
	assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
	json_decref(j);

	/* a long message is cut on a UTF-8 boundary: still valid JSON */
	char *third = nl + 1;
	nl = strchr(third, '\n');
	assert_true(nl - third < 4096);
	j = parse_line(third, (size_t)(nl - third));
	assert_true(strlen(json_string_value(json_object_get(j, "msg"))) > 3900);
	json_decref(j);
	free(out);
}

#define THREADS 4
#define LINES   300

static void *writer(void *arg)
{
	long id = (long)arg;

	for (int i = 0; i < LINES; i++)
		cps_log_info("T", "thread %ld line %d %s", id, i,
		             "padding padding padding padding padding padding padding padding");
	return NULL;
}

static void test_threads_whole_lines(void **state)
{
	struct capture c;
	pthread_t t[THREADS];
	char *out, *line;
	size_t n = 0;

	capture_start(&c);
	cps_log_set_format(CPS_LOG_JSON);
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	out = capture_end(&c);
	for (line = out; *line; n++) {
		char *nl = strchr(line, '\n');
		assert_non_null(nl);
		json_t *j = parse_line(line, (size_t)(nl - line));
		assert_non_null(strstr(json_string_value(json_object_get(j, "msg")), "padding"));
		json_decref(j);
		line = nl + 1;
	}
	assert_int_equal(n, THREADS * LINES);
	free(out);
}

static void test_configure_from_config(void **state)
{
	const char *text = "log:\n  level: warn\n  format: json\n  debug: [store]\n";
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg;
	struct capture c;
	char *out;

	assert_int_equal(
	    cps_config_load_string(text, strlen(text), "t.yaml", NULL, &cfg, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(cps_log_configure(cfg, err, sizeof(err)), CPS_OK);
	cps_config_free(cfg);
	assert_int_equal(cps_log_get_level(), CPS_LOG_WARN);
	capture_start(&c);
	cps_log_info("MAIN", "hidden");
	cps_log_warn("MAIN", "shown");
	cps_log_debug(CPS_DBG_STORE, "STORE", "store debug");
	cps_log_debug(CPS_DBG_HTTP, "HTTP", "http debug");
	out = capture_end(&c);
	assert_int_equal(count_lines(out), 2);
	assert_non_null(strstr(out, "\"msg\":\"shown\""));
	assert_non_null(strstr(out, "\"level\":\"debug\",\"facility\":\"STORE\""));
	assert_null(strstr(out, "hidden"));
	free(out);

	/* defaults: info, text, no debug */
	assert_int_equal(cps_config_load_string("", 0, "t.yaml", NULL, &cfg, err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_log_configure(cfg, err, sizeof(err)), CPS_OK);
	cps_config_free(cfg);
	assert_int_equal(cps_log_get_level(), CPS_LOG_INFO);
	assert_false(cps_log_debug_enabled(CPS_DBG_STORE));
}

/* A run-time change (PUT /api/v1/log, SIGHUP): level and named contexts as
 * one, read back by name; a thread keeps logging meanwhile. */
static void *debug_logger(void *arg)
{
	atomic_bool *stop = arg;

	while (!atomic_load(stop))
		cps_log_debug(CPS_DBG_STORE, "STORE", "tick");
	return NULL;
}

static void test_set_level_debug(void **state)
{
	struct capture c;
	atomic_bool stop = false;
	pthread_t t;
	char *out;

	capture_start(&c);
	assert_int_equal(pthread_create(&t, NULL, debug_logger, &stop), 0);
	cps_log_set_level_debug(CPS_LOG_DEBUG, CPS_DBG_STORE | CPS_DBG_KAFKA);
	assert_int_equal(cps_log_get_level(), CPS_LOG_DEBUG);
	assert_int_equal(cps_log_get_debug(), CPS_DBG_STORE | CPS_DBG_KAFKA);
	assert_true(cps_log_debug_enabled(CPS_DBG_KAFKA));
	assert_false(cps_log_debug_enabled(CPS_DBG_HTTP));
	usleep(20000);
	cps_log_set_level_debug(CPS_LOG_WARN, 0);
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	assert_int_equal(cps_log_get_debug(), 0);
	assert_false(cps_log_debug_enabled(CPS_DBG_STORE));
	out = capture_end(&c);
	assert_non_null(strstr(out, " debug STORE tick\n"));
	free(out);
	/* level debug, none named: every context, but none is "named" */
	cps_log_set_level_debug(CPS_LOG_DEBUG, 0);
	assert_true(cps_log_debug_enabled(CPS_DBG_CODEC));
	assert_int_equal(cps_log_get_debug(), 0);
	assert_string_equal(cps_log_ctx_name(CPS_DBG_STORE), "store");
	assert_string_equal(cps_log_ctx_name(CPS_DBG_CODEC), "codec");
	assert_null(cps_log_ctx_name(CPS_DBG_ALL));
	assert_null(cps_log_ctx_name(CPS_DBG_STORE | CPS_DBG_HTTP));
	assert_null(cps_log_ctx_name(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_level_gating, reset),
	    cmocka_unit_test_setup(test_debug_contexts, reset),
	    cmocka_unit_test_setup(test_text_format, reset),
	    cmocka_unit_test_setup(test_ids_masked, reset),
	    cmocka_unit_test_setup(test_json_format, reset),
	    cmocka_unit_test_setup(test_threads_whole_lines, reset),
	    cmocka_unit_test_setup(test_configure_from_config, reset),
	    cmocka_unit_test_setup(test_set_level_debug, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
