/*
 * The checks a re-publish makes before it touches the store or Kafka
 * (publish/republish.c): which `since` times and topic names it takes, and
 * that a bad entity, topic or time is refused as CPS_ERR_INVALID with the
 * reason. The store and Kafka side runs in tests/api/test_republish.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "publish/republish.h"

#include <string.h>

static void test_since(void **state)
{
	static const char *const good[] = {
	    "2024-05-01", "2024-05-01T00:00:00Z", "2024-05-01T08:30:00.123456Z",
	    "2024-05-01T08:30:00+08:00", "2024-05-01 08:30:00-05:30"};
	static const char *const bad[] = {"",
	                                  "yesterday",
	                                  "2024-5-01",
	                                  "2024-05-01T",
	                                  "2024-05-01T08:30Z",
	                                  "2024-05-01T08:30:00",
	                                  "2024-05-01T08:30:00.Z",
	                                  "2024-05-01T08:30:00+0800",
	                                  "2024-05-01T08:30:00Z; DROP TABLE x",
	                                  "2024-05-01x"};

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(good); i++)
		assert_true(cps_republish_since_ok(good[i]));
	for (size_t i = 0; i < CPS_ARRAY_SIZE(bad); i++)
		assert_false(cps_republish_since_ok(bad[i]));
	assert_false(cps_republish_since_ok(NULL));
}

static void test_topic(void **state)
{
	char longest[251];

	(void)state;
	assert_true(cps_republish_topic_ok("cpsync.unified.person"));
	assert_true(cps_republish_topic_ok("crm_person-v2"));
	assert_false(cps_republish_topic_ok(""));
	assert_false(cps_republish_topic_ok("."));
	assert_false(cps_republish_topic_ok(".."));
	assert_false(cps_republish_topic_ok("bad topic"));
	assert_false(cps_republish_topic_ok("a/b"));
	memset(longest, 'a', 249);
	longest[249] = 0;
	assert_true(cps_republish_topic_ok(longest));
	longest[249] = 'a';
	longest[250] = 0;
	assert_false(cps_republish_topic_ok(longest));
}

/* Refusals come before any connection: the conninfo and bootstrap point
 * nowhere, so reaching them would give CPS_ERR_RETRIABLE instead. */
static void test_refusals(void **state)
{
	struct cps_catalog *catalog = (struct cps_catalog *)1; /* never used */
	struct cps_republish_conf conf = {
	    .conninfo = "host=127.0.0.1 port=1", .bootstrap = "127.0.0.1:1", .catalog = catalog};
	struct cps_republish_request req = {.entity = "nobody"};
	struct cps_republish_result out;
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	assert_int_equal(cps_republish(&conf, &req, NULL, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "entity 'nobody'"));
	req.entity = "person";
	req.to_topic = "no topic";
	assert_int_equal(cps_republish(&conf, &req, NULL, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "'no topic' is no Kafka topic name"));
	req.to_topic = NULL;
	req.since = "last week";
	assert_int_equal(cps_republish(&conf, &req, NULL, &out, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "since must be"));
	assert_string_equal(out.topic, "cpsync.unified.person");
	assert_int_equal(out.events, 0);
	/* a good request reaches the (absent) store: retriable */
	req.since = NULL;
	assert_int_equal(cps_republish(&conf, &req, NULL, &out, err, sizeof(err)),
	                 CPS_ERR_RETRIABLE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_since),
	    cmocka_unit_test(test_topic),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
