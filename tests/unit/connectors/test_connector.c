/*
 * The connector contract: the registry refuses tables of another version or
 * with a missing mandatory slot, finds registered types; settings are
 * validated against a connector's declarations with errors naming the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connectors/connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct cps_connector_ops cps_kafka_connector;

/* ---- a tiny in-memory connector to exercise the open path */

struct mem_source {
	struct cps_conn base;
	int64_t batch;
	char group[64];
};

static const struct cps_setting_decl mem_settings[] = {
    {"group", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE | CPS_SETTING_REQUIRED, "g"},
    {"batch", CPS_SETTING_INT, "100", 1, 1000, CPS_SETTING_BOTH, "batch size"},
    {"strict", CPS_SETTING_BOOL, "false", 0, 0, CPS_SETTING_BOTH, "b"},
    {"topics", CPS_SETTING_LIST, NULL, 0, 0, CPS_SETTING_SOURCE, "l"},
    {"topic.*.entity", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE, "p"},
    {"sasl.password", CPS_SETTING_INT, NULL, 0, 0, CPS_SETTING_BOTH, "secret"},
};

static int mem_open(const char *platform, const struct cps_settings *s, struct cps_conn **out,
                    char *errstr, size_t errstr_size)
{
	struct mem_source *m = calloc(1, sizeof(*m));

	m->batch = cps_settings_get_int(s, "batch", -1);
	strcpy(m->group, cps_settings_get(s, "group"));
	*out = &m->base;
	return CPS_OK;
}

static int mem_poll(struct cps_conn *c, struct cps_source_batch *b, size_t max, int timeout_ms,
                    char *errstr, size_t errstr_size)
{
	b->msgs = NULL;
	b->n = 0;
	return CPS_OK;
}

static int mem_commit(struct cps_conn *c, const struct cps_position *p, size_t n, char *errstr,
                      size_t errstr_size)
{
	return CPS_OK;
}

static void mem_close(struct cps_conn *c)
{
	free(c);
}

static const struct cps_connector_ops mem_ops = {
    .version = CPS_CONNECTOR_API_VERSION,
    .type = "mem",
    .settings = mem_settings,
    .n_settings = CPS_ARRAY_SIZE(mem_settings),
    .source_open = mem_open,
    .source_poll = mem_poll,
    .source_commit = mem_commit,
    .source_close = mem_close,
};

static int reset_registry(void **state)
{
	cps_connector_registry_clear();
	return 0;
}

static void test_register_and_find(void **state)
{
	char err[CPS_ERRSTR_SIZE];

	assert_null(cps_connector_find("mem"));
	assert_int_equal(cps_connector_register(&mem_ops, err, sizeof(err)), CPS_OK);
	assert_ptr_equal(cps_connector_find("mem"), &mem_ops);
	assert_null(cps_connector_find("kafka"));
	/* a type registers once */
	assert_int_equal(cps_connector_register(&mem_ops, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "connector type 'mem' is already registered");
	/* builtins: kafka, idempotent */
	assert_int_equal(cps_connector_register_builtins(err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_connector_register_builtins(err, sizeof(err)), CPS_OK);
	assert_ptr_equal(cps_connector_find("kafka"), &cps_kafka_connector);
}

static void test_register_refuses_wrong_version(void **state)
{
	struct cps_connector_ops ops = mem_ops;
	char err[CPS_ERRSTR_SIZE];

	ops.version = CPS_CONNECTOR_API_VERSION + 1;
	assert_int_equal(cps_connector_register(&ops, err, sizeof(err)), CPS_ERR_INVALID);
	assert_string_equal(err, "connector 'mem' has API version 2, this cpsync needs 1");
	ops.version = 0;
	assert_int_equal(cps_connector_register(&ops, err, sizeof(err)), CPS_ERR_INVALID);
	assert_null(cps_connector_find("mem"));
	assert_int_equal(cps_connector_register(NULL, err, sizeof(err)), CPS_ERR_INVALID);
}

static void expect_missing(struct cps_connector_ops *ops, const char *slot)
{
	char err[CPS_ERRSTR_SIZE], want[CPS_ERRSTR_SIZE];

	assert_int_equal(cps_connector_register(ops, err, sizeof(err)), CPS_ERR_INVALID);
	snprintf(want, sizeof(want), "connector '%s' lacks mandatory slot '%s'",
	         ops->type ? ops->type : "?", slot);
	assert_string_equal(err, want);
}

static void test_register_refuses_missing_slots(void **state)
{
	struct cps_connector_ops ops;

	ops = mem_ops;
	ops.type = NULL;
	expect_missing(&ops, "type");
	ops = mem_ops;
	ops.settings = NULL;
	expect_missing(&ops, "settings");
	ops = mem_ops;
	ops.source_poll = NULL;
	expect_missing(&ops, "source_poll");
	ops = mem_ops;
	ops.source_commit = NULL;
	expect_missing(&ops, "source_commit");
	ops = mem_ops;
	ops.source_close = NULL;
	expect_missing(&ops, "source_close");
	ops = mem_ops;
	ops.source_open = NULL;
	expect_missing(&ops, "source_open");
	ops = mem_ops;
	ops.source_open = NULL;
	ops.source_poll = NULL;
	ops.source_commit = NULL;
	ops.source_close = NULL;
	expect_missing(&ops, "source_open or sink_open");
	/* a sink side must be complete too */
	ops = cps_kafka_connector;
	ops.sink_flush = NULL;
	expect_missing(&ops, "sink_flush");
	ops = cps_kafka_connector;
	ops.sink_open = NULL;
	expect_missing(&ops, "sink_open");
	assert_null(cps_connector_find("mem"));
	assert_null(cps_connector_find("kafka"));
}

static void expect_open_error(struct cps_settings *s, const char *want)
{
	struct cps_conn *c = (struct cps_conn *)1;
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(cps_connector_source_open(&mem_ops, "city", s, &c, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_null(c);
	assert_string_equal(err, want);
}

static void test_settings_validation(void **state)
{
	struct cps_settings s;
	struct cps_conn *c;
	char err[CPS_ERRSTR_SIZE];

	cps_settings_init(&s);
	expect_open_error(&s, "mem source 'city': missing required setting 'group'");
	assert_int_equal(cps_settings_set(&s, "group", "g1"), 0);
	assert_int_equal(cps_settings_set(&s, "grop", "x"), 0);
	expect_open_error(&s, "mem source 'city': unknown setting 'grop'");
	cps_settings_release(&s);

	cps_settings_init(&s);
	cps_settings_set(&s, "group", "g1");
	cps_settings_set(&s, "batch", "12x");
	expect_open_error(&s, "mem source 'city': setting 'batch' is not an integer");
	cps_settings_set(&s, "batch", "0");
	expect_open_error(&s, "mem source 'city': setting 'batch' is out of range [1, 1000]");
	cps_settings_set(&s, "batch", "1000");
	cps_settings_set(&s, "strict", "maybe");
	expect_open_error(&s,
	                  "mem source 'city': setting 'strict' is not a boolean (true or false)");
	cps_settings_set(&s, "strict", "yes");
	cps_settings_set(&s, "topics", "a,,b");
	expect_open_error(&s, "mem source 'city': setting 'topics' has an empty list element");
	cps_settings_set(&s, "topics", "a, b");
	cps_settings_set(&s, "topic..entity", "person");
	expect_open_error(&s, "mem source 'city': unknown setting 'topic..entity'");
	cps_settings_release(&s);

	/* a secret's value never appears in an error */
	cps_settings_init(&s);
	cps_settings_set(&s, "group", "g1");
	cps_settings_set(&s, "sasl.password", "hunter2");
	expect_open_error(&s, "mem source 'city': setting 'sasl.password' is not an integer");
	cps_settings_release(&s);

	/* valid: defaults filled in, base filled */
	cps_settings_init(&s);
	cps_settings_set(&s, "group", "g1");
	cps_settings_set(&s, "topics", "a, b");
	cps_settings_set(&s, "topic.cpsync.province.person.entity", "person");
	assert_int_equal(cps_connector_source_open(&mem_ops, "city", &s, &c, err, sizeof(err)),
	                 CPS_OK);
	assert_ptr_equal(c->ops, &mem_ops);
	assert_string_equal(c->platform, "city");
	assert_true(c->is_source);
	assert_int_equal(((struct mem_source *)c)->batch, 100);
	assert_string_equal(((struct mem_source *)c)->group, "g1");
	cps_source_close(c);
	/* no sink side */
	assert_int_equal(cps_connector_sink_open(&mem_ops, "city", &s, &c, err, sizeof(err)),
	                 CPS_ERR_FATAL);
	assert_string_equal(err, "connector 'mem' cannot be a sink");
	cps_settings_release(&s);
}

static void test_settings_accessors(void **state)
{
	struct cps_settings s;
	const struct cps_setting *kv;
	size_t it = 0, n = 0;

	cps_settings_init(&s);
	cps_settings_set(&s, "properties.linger.ms", "10");
	cps_settings_set(&s, "brokers", "127.0.0.1:9092");
	cps_settings_set(&s, "properties.compression.type", "lz4");
	cps_settings_set(&s, "flag", "off");
	cps_settings_set(&s, "properties.linger.ms", "20"); /* replaces */
	assert_int_equal(s.n, 4);
	assert_int_equal(cps_settings_get_int(&s, "properties.linger.ms", 0), 20);
	assert_int_equal(cps_settings_get_int(&s, "brokers", -7), -7);
	assert_int_equal(cps_settings_get_int(&s, "absent", 5), 5);
	assert_false(cps_settings_get_bool(&s, "flag", true));
	assert_true(cps_settings_get_bool(&s, "absent", true));
	assert_null(cps_settings_get(&s, "absent"));
	while ((kv = cps_settings_next(&s, "properties.", &it))) {
		assert_true(strncmp(kv->key, "properties.", 11) == 0);
		n++;
	}
	assert_int_equal(n, 2);
	assert_true(cps_setting_name_matches("topic.*.entity", "topic.a.b.entity"));
	assert_false(cps_setting_name_matches("topic.*.entity", "topic..entity"));
	assert_false(cps_setting_name_matches("properties.*", "properties."));
	assert_true(cps_setting_is_secret("properties.sasl.password"));
	assert_true(cps_setting_is_secret("properties.ssl.key.pem"));
	assert_false(cps_setting_is_secret("properties.linger.ms"));
	cps_settings_release(&s);
}

static void test_kafka_settings_declared(void **state)
{
	struct cps_settings s;
	struct cps_conn *c = NULL;
	char err[CPS_ERRSTR_SIZE];

	/* the kafka connector validates its own keys before touching the network */
	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", "127.0.0.1:1");
	cps_settings_set(&s, "topics", "cpsync.province.person");
	assert_int_equal(
	    cps_connector_source_open(&cps_kafka_connector, "province", &s, &c, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_string_equal(err, "kafka source 'province': missing required setting 'group_id'");
	cps_settings_set(&s, "group_id", "cpsync");
	cps_settings_set(&s, "queue_full_timeout_ms", "-1");
	assert_int_equal(
	    cps_connector_source_open(&cps_kafka_connector, "province", &s, &c, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_string_equal(err, "kafka source 'province': setting 'queue_full_timeout_ms' is out "
	                         "of range [0, 3600000]");
	cps_settings_set(&s, "queue_full_timeout_ms", "10");
	cps_settings_set(&s, "properties.enable.auto.commit", "true");
	assert_int_equal(
	    cps_connector_source_open(&cps_kafka_connector, "province", &s, &c, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_string_equal(
	    err, "kafka property 'enable.auto.commit' is managed by cpsync and may not be set");
	cps_settings_release(&s);

	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", "127.0.0.1:1");
	cps_settings_set(&s, "properties.no.such.property", "1");
	assert_int_equal(
	    cps_connector_sink_open(&cps_kafka_connector, "province", &s, &c, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_non_null(strstr(err, "kafka property 'no.such.property' was rejected"));
	cps_settings_set(&s, "properties.no.such.property", "");
	cps_settings_release(&s);

	/* a rejected secret property never shows its value */
	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", "127.0.0.1:1");
	cps_settings_set(&s, "properties.sasl.password.nope", "hunter2");
	assert_int_equal(
	    cps_connector_sink_open(&cps_kafka_connector, "province", &s, &c, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_string_equal(err, "kafka property 'sasl.password.nope' was rejected");
	cps_settings_release(&s);

	/* a sink opens without a reachable broker (connections are lazy) */
	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", "127.0.0.1:1");
	cps_settings_set(&s, "properties.linger.ms", "1");
	cps_settings_set(&s, "properties.log_level", "0"); /* no broker there: quiet */
	assert_int_equal(
	    cps_connector_sink_open(&cps_kafka_connector, "province", &s, &c, err, sizeof(err)),
	    CPS_OK);
	assert_false(c->is_source);
	cps_sink_close(c);
	cps_settings_release(&s);
}

static void test_position_format(void **state)
{
	struct cps_position p = {.partition = 3, .offset = 1234};
	char buf[CPS_ORIGIN_MAX];

	strcpy(p.stream, "cpsync.province.person");
	cps_position_format("province", &p, buf, sizeof(buf));
	assert_string_equal(buf, "province:cpsync.province.person/3@1234");
}

/* A fingerprint header: the first of its name counts; 16 lowercase hex
 * digits or it is malformed. */
static void test_header_fingerprint(void **state)
{
	const struct cps_header h[] = {
	    {"cpsync-key", "k", 1},
	    {CPS_HEADER_WRITER_FP, "00000000000000ff", 16},
	    {CPS_HEADER_WRITER_FP, "0000000000000001", 16},
	    {"short", "00ff", 4},
	    {"upper", "00000000000000FF", 16},
	    {"empty", NULL, 0},
	};
	uint64_t fp = 0;

	assert_int_equal(cps_header_fingerprint(h, 6, CPS_HEADER_WRITER_FP, &fp), 1);
	assert_true(fp == 0xff);
	assert_int_equal(cps_header_fingerprint(h, 6, "absent", &fp), 0);
	assert_int_equal(cps_header_fingerprint(h, 1, CPS_HEADER_WRITER_FP, &fp), 0);
	assert_int_equal(cps_header_fingerprint(h, 6, "short", &fp), -1);
	assert_int_equal(cps_header_fingerprint(h, 6, "upper", &fp), -1);
	assert_int_equal(cps_header_fingerprint(h, 6, "empty", &fp), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_register_and_find, reset_registry),
	    cmocka_unit_test_setup(test_register_refuses_wrong_version, reset_registry),
	    cmocka_unit_test_setup(test_register_refuses_missing_slots, reset_registry),
	    cmocka_unit_test(test_settings_validation),
	    cmocka_unit_test(test_settings_accessors),
	    cmocka_unit_test(test_kafka_settings_declared),
	    cmocka_unit_test(test_position_format),
	    cmocka_unit_test(test_header_fingerprint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
