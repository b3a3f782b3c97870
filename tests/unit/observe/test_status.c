/*
 * Tests of the link registry (sync/observe/status.c) and the /status and /readyz
 * documents (sync/observe/status_http.c): link lifecycle and counters, the exact
 * shape of the JSON document, the last-line scrub of national IDs in
 * last_error, concurrent updates, and readiness reasons when the store and
 * Kafka are unreachable and links are not RUNNING.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/common.h"
#include "observe/status.h"
#include "observe/status_http.h"

/* Made-up identifiers shaped like national IDs (18 and 15 characters). */
#define FAKE_ID18 "11010519491231002X"
#define FAKE_ID15 "110105491231002"

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_registry(void **state)
{
	struct cps_status *st;
	struct cps_link *a, *b;

	assert_int_equal(cps_status_new("inst-1", &st), CPS_OK);
	assert_int_equal(cps_status_link_count(st), 0);
	assert_null(cps_status_link_at(st, 0));
	a = cps_status_add_link(st, "province-source", "province", "kafka", CPS_LINK_SOURCE);
	assert_non_null(a);
	/* more than the initial capacity: earlier pointers stay valid */
	for (int i = 0; i < 20; i++) {
		char name[32];

		snprintf(name, sizeof(name), "extra-%d", i);
		assert_non_null(cps_status_add_link(st, name, "city", "postgres", CPS_LINK_SINK));
	}
	b = cps_status_link_at(st, 1);
	assert_string_equal(b->name, "extra-0");
	assert_ptr_equal(cps_status_link_at(st, 0), a);
	assert_int_equal(cps_status_link_count(st), 21);
	assert_string_equal(a->name, "province-source");
	assert_string_equal(a->platform, "province");
	assert_string_equal(a->type, "kafka");
	assert_int_equal(a->direction, CPS_LINK_SOURCE);
	assert_int_equal(atomic_load(&a->state), CPS_LINK_STARTING);
	assert_int_equal(atomic_load(&a->lag), -1);
	assert_int_equal(atomic_load(&a->records), 0);
	cps_link_set_state(a, CPS_LINK_RUNNING);
	assert_int_equal(atomic_load(&a->state), CPS_LINK_RUNNING);

	/* names longer than the fields are cut, never overflow */
	b = cps_status_add_link(st,
	                        "a-very-long-link-name-that-goes-on-and-on-and-on-past-sixty-four-"
	                        "characters",
	                        "a-platform-name-longer-than-thirty-two", "connector-type-long",
	                        CPS_LINK_SINK);
	assert_non_null(b);
	assert_int_equal(strlen(b->name), sizeof(b->name) - 1);
	assert_int_equal(strlen(b->platform), sizeof(b->platform) - 1);
	assert_int_equal(strlen(b->type), sizeof(b->type) - 1);

	assert_string_equal(cps_link_state_name(CPS_LINK_STARTING), "STARTING");
	assert_string_equal(cps_link_state_name(CPS_LINK_RUNNING), "RUNNING");
	assert_string_equal(cps_link_state_name(CPS_LINK_PAUSED), "PAUSED");
	assert_string_equal(cps_link_state_name(CPS_LINK_FAILED), "FAILED");
	assert_string_equal(cps_link_state_name(CPS_LINK_STOPPED), "STOPPED");
	assert_string_equal(cps_link_state_name(CPS_LINK_STANDBY), "STANDBY");
	assert_string_equal(cps_link_state_name((enum cps_link_state)99), "UNKNOWN");
	cps_status_free(st);
	cps_status_free(NULL);
}

static void test_document_shape(void **state)
{
	struct cps_status *st;
	struct cps_link *src, *sink;
	json_t *doc, *links, *l, *kafka;
	int64_t now = wall_ms();

	assert_int_equal(cps_status_new("inst-2", &st), CPS_OK);
	doc = cps_status_to_json(st);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "version")), CPSYNC_VERSION);
	assert_string_equal(json_string_value(json_object_get(doc, "instance")), "inst-2");
	assert_true(json_is_integer(json_object_get(doc, "uptime_s")));
	kafka = json_object_get(doc, "kafka");
	assert_true(json_is_null(json_object_get(kafka, "bootstrap")));
	assert_true(json_is_boolean(json_object_get(kafka, "embedded")));
	assert_int_equal(json_array_size(json_object_get(doc, "links")), 0);
	json_decref(doc);

	cps_status_set_bootstrap(st, "127.0.0.1:39092");
	src = cps_status_add_link(st, "province-source", "province", "kafka", CPS_LINK_SOURCE);
	sink = cps_status_add_link(st, "city-sink", "city", "postgres", CPS_LINK_SINK);
	cps_link_set_state(src, CPS_LINK_RUNNING);
	atomic_store(&src->records, 42);
	atomic_store(&src->errors, 3);
	atomic_store(&src->dead_letters, 2);
	atomic_store(&src->lag, 7);
	atomic_store(&src->ignored_files, 4);
	atomic_store(&sink->dropped[CPS_DROP_ECHO], 5);
	atomic_store(&sink->dropped[CPS_DROP_UNDECODABLE], 1);
	atomic_store(&src->last_success_ms, (int64_t)1795897012123); /* 2026-11-28T20:16:52.123Z */
	atomic_store(&src->newest_effective_ms, now - 90 * 1000);
	cps_link_set_error(st, src, "decode failed at offset 12");
	cps_link_set_state(sink, CPS_LINK_FAILED);

	cps_status_count_purged(st, "history", 40);
	cps_status_count_purged(st, "dead_letter_raw", 3);
	cps_status_count_purged(st, "history", 2);
	doc = cps_status_to_json(st);
	assert_non_null(doc);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(doc, "kafka"), "bootstrap")),
	    "127.0.0.1:39092");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "retention"), "history")), 42);
	assert_int_equal(json_integer_value(
	                     json_object_get(json_object_get(doc, "retention"), "dead_letter_raw")),
	                 3);
	links = json_object_get(doc, "links");
	assert_int_equal(json_array_size(links), 2);
	l = json_array_get(links, 0);
	assert_int_equal(json_object_size(l), 15); /* + ignored_files, throughput_per_min, series */
	assert_string_equal(json_string_value(json_object_get(l, "name")), "province-source");
	assert_int_equal(json_integer_value(json_object_get(l, "ignored_files")), 4);
	assert_string_equal(json_string_value(json_object_get(l, "platform")), "province");
	assert_string_equal(json_string_value(json_object_get(l, "direction")), "source");
	assert_string_equal(json_string_value(json_object_get(l, "type")), "kafka");
	assert_string_equal(json_string_value(json_object_get(l, "state")), "RUNNING");
	assert_int_equal(json_integer_value(json_object_get(l, "records")), 42);
	assert_int_equal(json_integer_value(json_object_get(l, "errors")), 3);
	assert_int_equal(json_integer_value(json_object_get(l, "dead_letters")), 2);
	assert_int_equal(json_integer_value(json_object_get(l, "lag")), 7);
	assert_string_equal(json_string_value(json_object_get(l, "last_success")),
	                    "2026-11-28T20:16:52.123Z");
	assert_in_range(json_integer_value(json_object_get(l, "freshness_s")), 89, 95);
	assert_string_equal(json_string_value(json_object_get(l, "last_error")),
	                    "decode failed at offset 12");

	l = json_array_get(links, 1);
	assert_int_equal(json_object_size(l), 15); /* + dropped, throughput_per_min, series */
	assert_string_equal(json_string_value(json_object_get(l, "direction")), "sink");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(l, "dropped"), "echo")),
	                 5);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(l, "dropped"), "not_allowed")), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(l, "dropped"), "undecodable")), 1);
	assert_string_equal(json_string_value(json_object_get(l, "state")), "FAILED");
	assert_true(json_is_null(json_object_get(l, "lag")));
	assert_true(json_is_null(json_object_get(l, "last_success")));
	assert_true(json_is_null(json_object_get(l, "freshness_s")));
	assert_true(json_is_null(json_object_get(l, "last_error")));
	json_decref(doc);
	cps_status_free(st);
}

/* The caller masks; a raw ID that slips through is still masked. */
static void test_no_raw_national_ids(void **state)
{
	struct cps_status *st;
	struct cps_link *l;
	json_t *doc;
	char *text;

	assert_int_equal(cps_status_new("inst-3", &st), CPS_OK);
	l = cps_status_add_link(st, "shenshan-source", "shenshan", "files", CPS_LINK_SOURCE);
	cps_link_set_error(st, l,
	                   "person " FAKE_ID18 " failed check, also " FAKE_ID15 " and "
	                   "11010519491231002x; offset 123456789012345678901");
	assert_null(strstr(l->last_error, FAKE_ID18));
	assert_null(strstr(l->last_error, FAKE_ID15));
	assert_null(strstr(l->last_error, "1231002"));
	assert_non_null(strstr(l->last_error, "person 110105"));
	assert_non_null(strstr(l->last_error, "failed check"));
	/* a masked ID passes unchanged */
	cps_link_set_error(st, l, "person 110105***********X failed check");
	assert_string_equal(l->last_error, "person 110105***********X failed check");
	/* short numbers (offsets, counts) are kept */
	cps_link_set_error(st, l, "partition 3 offset 12345678901234");
	assert_string_equal(l->last_error, "partition 3 offset 12345678901234");
	/* an over-long message is cut, not overflowed */
	{
		char big[1024];

		memset(big, 'e', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		cps_link_set_error(st, l, big);
		assert_int_equal(strlen(l->last_error), sizeof(l->last_error) - 1);
	}

	cps_link_set_error(st, l, "bad record " FAKE_ID18);
	doc = cps_status_to_json(st);
	text = json_dumps(doc, 0);
	assert_non_null(text);
	assert_null(strstr(text, FAKE_ID18));
	assert_null(strstr(text, "19491231"));
	free(text);
	json_decref(doc);
	cps_status_free(st);
}

struct hammer {
	struct cps_status *st;
	struct cps_link *l;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < 10000; i++) {
		atomic_fetch_add(&h->l->records, 1);
		if (i % 1000 == 0)
			cps_link_set_error(h->st, h->l, "transient error");
	}
	return NULL;
}

static void test_concurrent_updates(void **state)
{
	struct hammer h[4];
	pthread_t tid[4];
	struct cps_status *st;
	struct cps_link *l;

	assert_int_equal(cps_status_new("inst-4", &st), CPS_OK);
	l = cps_status_add_link(st, "city-source", "city", "postgres", CPS_LINK_SOURCE);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){st, l};
		assert_int_equal(pthread_create(&tid[i], NULL, hammer_thread, &h[i]), 0);
	}
	for (int i = 0; i < 50; i++) {
		json_t *doc = cps_status_to_json(st);

		assert_non_null(doc);
		json_decref(doc);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	assert_int_equal(atomic_load(&l->records), 40000);
	cps_status_free(st);
}

/* Store and Kafka both unreachable (closed ports), links not running:
 * /readyz lists each reason, /status still answers with store.ok false. */
static void test_http_unreachable(void **state)
{
	struct cps_status *st;
	struct cps_status_http *sh;
	struct cps_link *a, *b;
	struct cps_status_http_conf conf = {0};
	char err[CPS_ERRSTR_SIZE];
	json_t *reasons, *doc, *store, *conflicts;
	char *text;

	assert_int_equal(cps_status_new("inst-5", &st), CPS_OK);
	a = cps_status_add_link(st, "province-source", "province", "kafka", CPS_LINK_SOURCE);
	b = cps_status_add_link(st, "city-source", "city", "kafka", CPS_LINK_SOURCE);
	cps_link_set_state(a, CPS_LINK_RUNNING);
	cps_link_set_state(b, CPS_LINK_FAILED);
	conf.status = st;
	conf.store_conninfo = "host=127.0.0.1 port=1 dbname=none connect_timeout=2 password=s3cret";
	conf.kafka_bootstrap = "127.0.0.1:1";
	conf.kafka_embedded = true;
	assert_int_equal(cps_status_http_new(&conf, &sh, err, sizeof(err)), CPS_OK);

	reasons = json_array();
	assert_int_equal(cps_status_http_ready(sh, reasons), 0);
	text = json_dumps(reasons, 0);
	assert_string_equal(text,
	                    "[\"store unreachable\", \"kafka unreachable\", \"link 'city-source' "
	                    "is FAILED\"]");
	free(text);
	json_decref(reasons);

	doc = cps_status_http_document(sh);
	assert_non_null(doc);
	assert_true(json_is_true(json_object_get(json_object_get(doc, "kafka"), "embedded")));
	store = json_object_get(doc, "store");
	assert_true(json_is_false(json_object_get(store, "ok")));
	assert_true(json_is_string(json_object_get(store, "error")));
	conflicts = json_object_get(doc, "conflicts");
	assert_true(json_is_null(json_object_get(conflicts, "open")));
	text = json_dumps(doc, 0);
	assert_null(strstr(text, "s3cret"));
	free(text);
	json_decref(doc);

	cps_status_http_free(sh);
	cps_status_http_free(NULL);
	cps_status_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry),
	    cmocka_unit_test(test_document_shape),
	    cmocka_unit_test(test_no_raw_national_ids),
	    cmocka_unit_test(test_concurrent_updates),
	    cmocka_unit_test(test_http_unreachable),
	};

	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
