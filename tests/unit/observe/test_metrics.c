/*
 * Tests of the metrics module (sync/observe/metrics.c), the throughput ring
 * (sync/observe/throughput.c) and the /status additions (sync/observe/status.c): ring
 * windows and concurrent adds, histogram buckets and concurrent observes,
 * the platforms roll-up, the exact Prometheus exposition of a known
 * document (escaping, absent samples, HELP/TYPE before every sample), and
 * GET /metrics served by a real HTTP server with route-pattern labels only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/common.h"
#include "http/http.h"
#include "observe/metrics.h"
#include "observe/status.h"
#include "observe/status_http.h"
#include "observe/throughput.h"

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- throughput ring ----------------------------------------------------- */

static void test_throughput_window(void **state)
{
	struct cps_throughput t;
	int64_t series[CPS_THROUGHPUT_SECONDS];

	(void)state;
	cps_throughput_init(&t);
	assert_int_equal(cps_throughput_sum(&t, 1000), 0);
	cps_throughput_add(&t, 1000, 3);
	cps_throughput_add(&t, 1000, 2);
	cps_throughput_add(&t, 1001, 7);
	cps_throughput_add(&t, 1001, 0);  /* nothing */
	cps_throughput_add(&t, 1001, -4); /* refused */
	assert_int_equal(cps_throughput_sum(&t, 1001), 12);
	cps_throughput_series(&t, 1001, series);
	assert_int_equal(series[59], 7);
	assert_int_equal(series[58], 5);
	assert_int_equal(series[57], 0);
	/* second 1000 is the oldest of the window ending at 1059, gone at 1060 */
	assert_int_equal(cps_throughput_sum(&t, 1059), 12);
	cps_throughput_series(&t, 1059, series);
	assert_int_equal(series[0], 5);
	assert_int_equal(cps_throughput_sum(&t, 1060), 7);
	assert_int_equal(cps_throughput_sum(&t, 1061), 0);
	/* a slot reused a minute later starts afresh */
	cps_throughput_add(&t, 1060, 1);
	assert_int_equal(cps_throughput_sum(&t, 1060), 8);
	cps_throughput_series(&t, 1060, series);
	assert_int_equal(series[59], 1);
	assert_int_equal(series[0], 7);
	/* a count saturates instead of wrapping into the second */
	cps_throughput_add(&t, 2000, (int64_t)UINT32_MAX);
	cps_throughput_add(&t, 2000, 10);
	assert_int_equal(cps_throughput_sum(&t, 2000), (int64_t)UINT32_MAX);
}

struct adder {
	struct cps_throughput *t;
	struct cps_histogram *h;
	int64_t second;
};

#define ADDS 20000

static void *add_many(void *arg)
{
	struct adder *a = arg;

	for (int i = 0; i < ADDS; i++) {
		cps_throughput_add(a->t, a->second + (i % 2), 1);
		cps_histogram_observe(a->h, (i % 3) ? 0.002 : 3.0);
	}
	return NULL;
}

static void test_concurrent_adds(void **state)
{
	static struct cps_histogram h = {
	    .name = "t", .help = "t", .n_bounds = 2, .bounds = {0.001, 0.01}};
	struct cps_throughput t;
	struct adder a = {&t, &h, 5000};
	pthread_t th[4];
	uint64_t counts[CPS_HISTOGRAM_MAX_BUCKETS];
	double sum;

	(void)state;
	cps_throughput_init(&t);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, add_many, &a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(cps_throughput_sum(&t, 5001), 4 * ADDS);
	cps_histogram_snapshot(&h, counts, &sum);
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[2], 4 * ADDS);
	/* i % 3 != 0: 13333 of every 20000 */
	assert_int_equal(counts[1], 4 * (ADDS - (ADDS + 2) / 3));
	assert_true(sum > 4 * ((ADDS + 2) / 3) * 3.0 - 1 && sum < 4 * ADDS * 3.0);
}

/* ---- histograms ---------------------------------------------------------- */

static void test_histogram_buckets(void **state)
{
	static struct cps_histogram h = {
	    .name = "cpsync_test_seconds", .help = "t", .n_bounds = 3, .bounds = {0.1, 0.5, 1}};
	uint64_t counts[CPS_HISTOGRAM_MAX_BUCKETS];
	struct timespec start;
	double sum;

	(void)state;
	cps_histogram_observe(&h, 0.1); /* le is inclusive */
	cps_histogram_observe(&h, 0.05);
	cps_histogram_observe(&h, 0.7);
	cps_histogram_observe(&h, 9);
	cps_histogram_observe(&h, -1); /* clock step back: counted as 0 */
	cps_histogram_snapshot(&h, counts, &sum);
	assert_int_equal(counts[0], 3);
	assert_int_equal(counts[1], 3);
	assert_int_equal(counts[2], 4);
	assert_int_equal(counts[3], 5);
	assert_true(sum > 9.849 && sum < 9.851);
	clock_gettime(CLOCK_MONOTONIC, &start);
	cps_histogram_observe_since(&h, &start);
	cps_histogram_snapshot(&h, counts, &sum);
	assert_int_equal(counts[0], 4);
}

/* ---- /status additions --------------------------------------------------- */

static json_t *platform_named(json_t *doc, const char *name)
{
	size_t i;
	json_t *p;

	json_array_foreach (json_object_get(doc, "platforms"), i, p) {
		if (!strcmp(json_string_value(json_object_get(p, "name")), name))
			return p;
	}
	return NULL;
}

static void test_status_platforms(void **state)
{
	struct cps_status *st;
	struct cps_link *src, *sink, *rec, *other;
	json_t *doc, *p, *l, *series;
	int64_t now = wall_ms(), sum = 0;

	(void)state;
	assert_int_equal(cps_status_new("inst-m", &st), CPS_OK);
	src = cps_status_add_link(st, "province-source", "province", "kafka", CPS_LINK_SOURCE);
	rec = cps_status_add_link(st, "reconcile", CPS_STATUS_ENGINE_PLATFORM, "kafka",
	                          CPS_LINK_SOURCE);
	sink = cps_status_add_link(st, "province-sink", "province", "kafka", CPS_LINK_SINK);
	other = cps_status_add_link(st, "city-source", "city", "postgres", CPS_LINK_SOURCE);
	cps_status_set_freshness_target(st, "province", 60);
	cps_status_set_freshness_target(st, "city", 30);
	cps_status_set_freshness_target(st, "city", 300); /* replaces */
	cps_link_set_state(src, CPS_LINK_RUNNING);
	cps_link_set_state(sink, CPS_LINK_FAILED);
	atomic_store(&src->newest_effective_ms, now - 100 * 1000);
	atomic_store(&sink->newest_effective_ms, now - 20 * 1000);
	atomic_store(&src->errors, 2);
	atomic_store(&sink->errors, 1);
	atomic_store(&src->dead_letters, 4);
	cps_link_set_error(st, src, "decode failed at offset 3");
	cps_link_set_error(st, sink, "broker down");
	atomic_store(&other->newest_effective_ms, now - 400 * 1000);

	atomic_store(&src->records, 25);
	atomic_store(&rec->records, 7);
	cps_status_sample(st);
	atomic_store(&src->records, 30); /* 5 more in the same or the next second */
	cps_status_sample(st);

	doc = cps_status_to_json(st);
	assert_non_null(doc);
	assert_int_equal(json_array_size(json_object_get(doc, "platforms")), 2);
	assert_null(platform_named(doc, CPS_STATUS_ENGINE_PLATFORM));
	p = platform_named(doc, "province");
	assert_non_null(p);
	assert_int_equal(json_object_size(p), 9);
	assert_int_equal(json_array_size(json_object_get(p, "links")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "links"), 1)),
	                    "province-sink");
	/* the newest fact of any of its links: 20 s old, within 60 */
	assert_in_range(json_integer_value(json_object_get(p, "freshness_s")), 19, 25);
	assert_int_equal(json_integer_value(json_object_get(p, "freshness_target_s")), 60);
	assert_true(json_is_true(json_object_get(p, "fresh")));
	assert_int_equal(json_integer_value(json_object_get(p, "throughput_per_min")), 30);
	assert_int_equal(json_integer_value(json_object_get(p, "errors")), 3);
	assert_int_equal(json_integer_value(json_object_get(p, "dead_letters")), 4);
	/* the error of the link that is down wins */
	assert_string_equal(json_string_value(json_object_get(p, "last_error")), "broker down");

	p = platform_named(doc, "city");
	assert_in_range(json_integer_value(json_object_get(p, "freshness_s")), 399, 405);
	assert_int_equal(json_integer_value(json_object_get(p, "freshness_target_s")), 300);
	assert_true(json_is_false(json_object_get(p, "fresh")));
	assert_true(json_is_null(json_object_get(p, "last_error")));

	l = json_array_get(json_object_get(doc, "links"), 0);
	assert_int_equal(json_integer_value(json_object_get(l, "throughput_per_min")), 30);
	series = json_object_get(l, "series");
	assert_int_equal(json_array_size(series), CPS_THROUGHPUT_SECONDS);
	for (size_t i = 0; i < json_array_size(series); i++)
		sum += json_integer_value(json_array_get(series, i));
	assert_int_equal(sum, 30);
	/* all of it in the last seconds (the samples and the read may straddle two) */
	assert_int_equal(json_integer_value(json_array_get(series, 59)) +
	                     json_integer_value(json_array_get(series, 58)) +
	                     json_integer_value(json_array_get(series, 57)),
	                 30);
	l = json_array_get(json_object_get(doc, "links"), 1);
	assert_int_equal(json_integer_value(json_object_get(l, "throughput_per_min")), 7);
	json_decref(doc);

	/* no facts yet: freshness unknown, not fresh; no target: null */
	cps_status_free(st);
	assert_int_equal(cps_status_new("inst-n", &st), CPS_OK);
	cps_status_add_link(st, "shenshan-source", "shenshan", "files", CPS_LINK_SOURCE);
	doc = cps_status_to_json(st);
	p = platform_named(doc, "shenshan");
	assert_true(json_is_null(json_object_get(p, "freshness_s")));
	assert_true(json_is_null(json_object_get(p, "freshness_target_s")));
	assert_true(json_is_false(json_object_get(p, "fresh")));
	json_decref(doc);
	cps_status_free(st);
}

/* ---- the exposition ------------------------------------------------------ */

static const char *DOC =
    "{\"version\": \"1.2.3\", \"uptime_s\": 42,"
    " \"links\": ["
    "  {\"name\": \"province-source\", \"platform\": \"province\", \"direction\": \"source\","
    "   \"type\": \"kafka\", \"state\": \"RUNNING\", \"records\": 10, \"errors\": 1,"
    "   \"dead_letters\": 2, \"lag\": 5, \"last_success\": \"2026-11-28T20:16:52.123Z\","
    "   \"ignored_files\": 3},"
    "  {\"name\": \"odd\\\"name\\\\x\\n\", \"platform\": \"city\", \"direction\": \"sink\","
    "   \"type\": \"postgres\", \"state\": \"FAILED\", \"records\": 0, \"errors\": 0,"
    "   \"dead_letters\": 0, \"lag\": null, \"last_success\": null,"
    "   \"dropped\": {\"echo\": 7, \"not_allowed\": 0, \"undecodable\": 2}},"
    "  {\"name\": \"reconcile\", \"platform\": \"cpsync\", \"direction\": \"source\","
    "   \"type\": \"kafka\", \"state\": \"RUNNING\", \"records\": 9, \"errors\": 0,"
    "   \"dead_letters\": 0, \"lag\": 3, \"last_success\": null,"
    "   \"state_cache\": {\"entries\": 12, \"bytes\": 9000, \"cap_bytes\": 25165824,"
    "    \"hits\": 30, \"stale\": 1, \"misses\": 70, \"evictions\": 8}}],"
    " \"platforms\": ["
    "  {\"name\": \"province\", \"freshness_s\": 12, \"freshness_target_s\": 300},"
    "  {\"name\": \"city\", \"freshness_s\": null, \"freshness_target_s\": null}],"
    " \"conflicts\": {\"open\": 4, \"opened_total\": 11, \"by_entity\": {\"person\": 4},"
    "  \"closed\": {\"auto\": 5, \"resolved\": 1, \"dismissed\": 1}},"
    " \"retention\": {\"history\": 40, \"dead_letter_raw\": 3},"
    " \"store\": {\"ok\": true, \"outbox_pending\": 6, \"dead_letters\": 2, \"records\": 100}}";

static char *format_doc(const char *text, struct cps_http_server *http)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);
	struct cps_buf b;
	char *out;

	assert_non_null(doc);
	cps_buf_init(&b, 0);
	assert_int_equal(cps_metrics_format(&b, doc, http, "my-group"), CPS_OK);
	assert_int_equal(cps_buf_append_byte(&b, 0), 0);
	out = strdup((const char *)b.data);
	cps_buf_release(&b);
	json_decref(doc);
	return out;
}

static void has_line(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p += n;
	}
	fail_msg("missing line: %s", line);
}

/* Every sample's family was declared (HELP then TYPE) before it, once. */
static void well_formed(const char *text)
{
	char declared[128][96];
	size_t n = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		char line[600], name[96];

		assert_non_null(eol);
		assert_true((size_t)(eol - p) < sizeof(line));
		memcpy(line, p, (size_t)(eol - p));
		line[eol - p] = '\0';
		if (!strncmp(line, "# HELP ", 7)) {
			sscanf(line + 7, "%95s", name);
			for (size_t i = 0; i < n; i++)
				assert_string_not_equal(declared[i], name);
			assert_true(n < 128);
			snprintf(declared[n++], sizeof(declared[0]), "%s", name);
			assert_true(!strncmp(eol + 1, "# TYPE ", 7));
		} else if (line[0] != '#') {
			size_t len = strcspn(line, "{ ");
			int found = 0;

			for (size_t i = 0; i < n && !found; i++) {
				size_t dl = strlen(declared[i]);

				found = !strncmp(line, declared[i], dl) &&
				        (len == dl || (!strncmp(line + dl, "_bucket", 7)) ||
				         (!strncmp(line + dl, "_sum", 4)) ||
				         (!strncmp(line + dl, "_count", 6)));
			}
			if (!found)
				fail_msg("sample before its family: %s", line);
		}
		p = eol + 1;
	}
}

static void test_format(void **state)
{
	char *text = format_doc(DOC, NULL);

	(void)state;
	well_formed(text);
	has_line(text, "# TYPE cpsync_build_info gauge");
	has_line(text, "cpsync_build_info{version=\"1.2.3\"} 1");
	has_line(text, "cpsync_uptime_seconds 42");
	has_line(text, "# TYPE cpsync_link_records_total counter");
	has_line(text, "cpsync_link_records_total{link=\"province-source\",platform=\"province\","
	               "direction=\"source\"} 10");
	has_line(text, "cpsync_link_errors_total{link=\"province-source\",platform=\"province\","
	               "direction=\"source\"} 1");
	has_line(text,
	         "cpsync_link_dead_letters_total{link=\"province-source\",platform=\"province\","
	         "direction=\"source\"} 2");
	has_line(text, "cpsync_link_lag{link=\"province-source\",platform=\"province\","
	               "direction=\"source\"} 5");
	has_line(text, "cpsync_link_up{link=\"province-source\",platform=\"province\","
	               "direction=\"source\"} 1");
	has_line(
	    text,
	    "cpsync_link_ignored_files{link=\"province-source\",platform=\"province\",direction=\"source\"} 3");
	has_line(text, "# TYPE cpsync_sink_dropped_total counter");
	has_line(text, "# TYPE cpsync_retention_purged_total counter");
	has_line(text, "cpsync_retention_purged_total{what=\"history\"} 40");
	has_line(text, "cpsync_retention_purged_total{what=\"dead_letter_raw\"} 3");
	has_line(
	    text,
	    "cpsync_sink_dropped_total{link=\"odd\\\"name\\\\x\\n\",platform=\"city\",reason=\"echo\"} 7");
	has_line(
	    text,
	    "cpsync_sink_dropped_total{link=\"odd\\\"name\\\\x\\n\",platform=\"city\",reason=\"undecodable\"} 2");
	has_line(text, "# TYPE cpsync_state_cache_lookups_total counter");
	has_line(text, "cpsync_state_cache_lookups_total{link=\"reconcile\",platform=\"cpsync\","
	               "direction=\"source\",result=\"hit\"} 30");
	has_line(text, "cpsync_state_cache_lookups_total{link=\"reconcile\",platform=\"cpsync\","
	               "direction=\"source\",result=\"stale\"} 1");
	has_line(text, "cpsync_state_cache_lookups_total{link=\"reconcile\",platform=\"cpsync\","
	               "direction=\"source\",result=\"miss\"} 70");
	has_line(text, "cpsync_state_cache_entries{link=\"reconcile\",platform=\"cpsync\","
	               "direction=\"source\"} 12");
	has_line(text, "cpsync_state_cache_bytes{link=\"reconcile\",platform=\"cpsync\","
	               "direction=\"source\"} 9000");
	has_line(text, "cpsync_state_cache_evictions_total{link=\"reconcile\",platform=\"cpsync\","
	               "direction=\"source\"} 8");
	assert_null(strstr(text, "cpsync_state_cache_entries{link=\"province"));
	/* escaped label value; FAILED is down; no lag or success time: no sample */
	has_line(text, "cpsync_link_up{link=\"odd\\\"name\\\\x\\n\",platform=\"city\","
	               "direction=\"sink\"} 0");
	assert_null(strstr(text, "cpsync_link_lag{link=\"odd"));
	assert_null(strstr(text, "cpsync_link_last_success_timestamp_seconds{link=\"odd"));
	has_line(text, "cpsync_link_last_success_timestamp_seconds{link=\"province-source\","
	               "platform=\"province\",direction=\"source\"} 1795897012.123000");
	has_line(text, "cpsync_platform_freshness_seconds{platform=\"province\"} 12");
	has_line(text, "cpsync_platform_freshness_target_seconds{platform=\"province\"} 300");
	assert_null(strstr(text, "{platform=\"city\"}"));
	has_line(text, "cpsync_conflicts_open 4");
	has_line(text, "cpsync_conflicts_opened_total 11");
	has_line(text, "cpsync_conflicts_resolved_total{how=\"auto\"} 5");
	has_line(text, "cpsync_conflicts_resolved_total{how=\"resolved\"} 1");
	has_line(text, "cpsync_conflicts_resolved_total{how=\"dismissed\"} 1");
	has_line(text, "cpsync_conflicts_open_by_entity{entity=\"person\"} 4");
	has_line(text, "cpsync_store_up 1");
	has_line(text, "cpsync_outbox_pending 6");
	has_line(text, "cpsync_dead_letters_pending 2");
	/* DOC has no postgres source: the family without samples */
	has_line(text, "# TYPE cpsync_replication_slot_lag_bytes gauge");
	assert_null(strstr(text, "\ncpsync_replication_slot_lag_bytes"));
	/* consumer lag by group: the reconcile link's group and the source's */
	has_line(text, "cpsync_kafka_consumer_lag{group=\"my-group\"} 3");
	has_line(text, "cpsync_kafka_consumer_lag{group=\"cpsync-source-province\"} 5");
	has_line(text, "# TYPE cpsync_reconcile_batch_seconds histogram");
	has_line(text, "# TYPE cpsync_store_commit_seconds histogram");
	has_line(text, "# TYPE cpsync_http_requests_total counter");
	has_line(text, "# TYPE cpsync_http_request_duration_seconds histogram");
	free(text);

	/* a postgres source's link lag is its replication slot's lag */
	text = format_doc("{\"version\": \"x\", \"uptime_s\": 0, \"platforms\": [],"
	                  " \"links\": [{\"name\": \"city-source\", \"platform\": \"city\","
	                  " \"direction\": \"source\", \"type\": \"postgres\","
	                  " \"state\": \"RUNNING\", \"lag\": 4096}],"
	                  " \"conflicts\": {\"open\": null}, \"store\": {\"ok\": false}}",
	                  NULL);
	well_formed(text);
	has_line(text, "cpsync_replication_slot_lag_bytes{link=\"city-source\",platform=\"city\","
	               "direction=\"source\"} 4096");
	has_line(text, "cpsync_link_standby{link=\"city-source\",platform=\"city\","
	               "direction=\"source\"} 0");
	free(text);

	/* a single-reader source another instance holds: STANDBY, not up */
	text = format_doc("{\"version\": \"x\", \"uptime_s\": 0, \"platforms\": [],"
	                  " \"links\": [{\"name\": \"shenshan-source\", \"platform\": \"shenshan\","
	                  " \"direction\": \"source\", \"type\": \"files\","
	                  " \"state\": \"STANDBY\"}],"
	                  " \"conflicts\": {\"open\": null}, \"store\": {\"ok\": false}}",
	                  NULL);
	well_formed(text);
	has_line(text, "# TYPE cpsync_link_standby gauge");
	has_line(text, "cpsync_link_standby{link=\"shenshan-source\",platform=\"shenshan\","
	               "direction=\"source\"} 1");
	has_line(text, "cpsync_link_up{link=\"shenshan-source\",platform=\"shenshan\","
	               "direction=\"source\"} 0");
	free(text);

	/* store down: no store figures, store_up 0 */
	text = format_doc("{\"version\": \"x\", \"uptime_s\": 0, \"links\": [], \"platforms\": [],"
	                  " \"conflicts\": {\"open\": null}, \"store\": {\"ok\": false}}",
	                  NULL);
	well_formed(text);
	has_line(text, "cpsync_store_up 0");
	assert_null(strstr(text, "\ncpsync_outbox_pending "));
	assert_null(strstr(text, "\ncpsync_conflicts_open "));
	free(text);
}

/* ---- GET /metrics through a real server ---------------------------------- */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct cps_buf *b = arg;

	return cps_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* GETs http://127.0.0.1:port/path: the status; body and content type copied. */
static long http_get(unsigned port, const char *path, struct cps_buf *body, char *ctype,
                     size_t ctype_size)
{
	CURL *c = curl_easy_init();
	char url[256];
	long code = 0;
	char *ct = NULL;

	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
	if (ctype)
		snprintf(ctype, ctype_size, "%s", ct ? ct : "");
	curl_easy_cleanup(c);
	return code;
}

static void thing_handler(void *ctx, const struct cps_http_request *req,
                          struct cps_http_response *resp)
{
	(void)ctx;
	(void)req;
	cps_http_reply_json(resp, 200, json_pack("{s:b}", "ok", 1));
}

static void test_metrics_endpoint(void **state)
{
	struct cps_http_conf hc = {.listen = "127.0.0.1:0"};
	struct cps_status_http_conf sc = {0};
	struct cps_metrics_conf mc = {0};
	struct cps_http_server *srv;
	struct cps_status_http *sh;
	struct cps_status *st;
	struct cps_metrics *m;
	struct cps_link *l;
	struct cps_buf body;
	char err[CPS_ERRSTR_SIZE], ctype[128], *text;
	json_t *doc;
	unsigned port;

	(void)state;
	assert_int_equal(cps_status_new("inst-h", &st), CPS_OK);
	l = cps_status_add_link(st, "province-source", "province", "kafka", CPS_LINK_SOURCE);
	cps_link_set_state(l, CPS_LINK_RUNNING);
	sc.status = st;
	sc.store_conninfo = "host=127.0.0.1 port=1 dbname=none connect_timeout=1"; /* refused */
	assert_int_equal(cps_status_http_new(&sc, &sh, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_http_start(&hc, &srv, err, sizeof(err)), CPS_OK);
	port = cps_http_port(srv);
	assert_int_equal(cps_http_route(srv, "GET", "/things/{id}", thing_handler, NULL,
	                                CPS_HTTP_OPEN, err, sizeof(err)),
	                 CPS_OK);
	mc.status = st;
	mc.status_http = sh;
	mc.http = srv;
	assert_int_equal(cps_metrics_start(&mc, &m, err, sizeof(err)), CPS_OK);

	/* the sampler moves records into the ring about once a second */
	atomic_store(&l->records, 17);
	for (int i = 0; i < 40; i++) {
		json_int_t tp;

		doc = cps_status_to_json(st);
		tp = json_integer_value(json_object_get(
		    json_array_get(json_object_get(doc, "links"), 0), "throughput_per_min"));
		json_decref(doc);
		if (tp == 17)
			break;
		assert_true(i < 39);
		usleep(100 * 1000);
	}

	cps_buf_init(&body, 0);
	assert_int_equal(http_get(port, "/things/secret-110105", &body, NULL, 0), 200);
	assert_int_equal(http_get(port, "/things/other-key", &body, NULL, 0), 200);
	assert_int_equal(http_get(port, "/no/such/route", &body, NULL, 0), 404);
	cps_buf_reset(&body);
	assert_int_equal(http_get(port, "/metrics", &body, ctype, sizeof(ctype)), 200);
	assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_int_equal(cps_buf_append_byte(&body, 0), 0);
	text = (char *)body.data;
	well_formed(text);
	has_line(text, "cpsync_http_requests_total{method=\"GET\",route=\"/things/{id}\","
	               "code_class=\"2xx\"} 2");
	has_line(text, "cpsync_http_requests_total{method=\"*\",route=\"<unmatched>\","
	               "code_class=\"4xx\"} 1");
	has_line(text, "cpsync_http_request_duration_seconds_count{method=\"GET\","
	               "route=\"/things/{id}\"} 2");
	has_line(text, "cpsync_http_request_duration_seconds_bucket{method=\"GET\","
	               "route=\"/things/{id}\",le=\"+Inf\"} 2");
	assert_null(strstr(text, "secret"));
	assert_null(strstr(text, "other-key"));
	assert_null(strstr(text, "/no/such"));
	has_line(text, "cpsync_store_up 0"); /* the store refused */
	has_line(text, "cpsync_link_up{link=\"province-source\",platform=\"province\","
	               "direction=\"source\"} 1");
	cps_buf_release(&body);

	cps_http_stop(srv);
	cps_metrics_stop(m);
	cps_status_http_free(sh);
	cps_status_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_throughput_window),
	    cmocka_unit_test(test_concurrent_adds),
	    cmocka_unit_test(test_histogram_buckets),
	    cmocka_unit_test(test_status_platforms),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_metrics_endpoint),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
