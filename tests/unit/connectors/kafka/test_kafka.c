/*
 * The Kafka connector against the embedded broker over real TCP: 10,000 keyed
 * records through the idempotent sink, consumed by the source in a group
 * exactly once and in order per partition; commit, reopen, resume after the
 * committed offsets only; delivery failures surface at flush. cpsync's
 * memory bounds of its clients' queues, and a sink whose producer queue is
 * full waits for deliveries instead of losing records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kafka/broker.h"
#include "kafka/client.h"
#include "connectors/connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOPIC      "cpsync.province.person"
#define PARTITIONS 4
#define N_RECORDS  10000
#define N_KEYS     1000
#define N_LATE     5 /* produced after everything was committed */

extern const struct cps_connector_ops cps_kafka_connector;

struct fixture {
	struct cps_broker *broker;
};

/* What the source saw of one record. */
struct seen {
	int count;
	int32_t partition;
	int64_t offset;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	static struct fixture f;
	const char *topics[] = {TOPIC};
	char err[CPS_ERRSTR_SIZE];

	if (cps_broker_start(PARTITIONS, topics, 1, &f.broker, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "broker: %s\n", err);
		return -1;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	cps_broker_stop(f->broker);
	return 0;
}

static struct cps_conn *open_source(struct fixture *f, const char *group)
{
	struct cps_settings s;
	struct cps_conn *c = NULL;
	char err[CPS_ERRSTR_SIZE];

	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", cps_broker_bootstrap(f->broker));
	cps_settings_set(&s, "group_id", group);
	cps_settings_set(&s, "topics", TOPIC);
	cps_settings_set(&s, "topic." TOPIC ".entity", "person");
	/* the mock group coordinator waits session.timeout.ms - 1 s before it
	 * completes a rebalance after a member left: keep it short */
	cps_settings_set(&s, "properties.session.timeout.ms", "6000");
	cps_settings_set(&s, "properties.heartbeat.interval.ms", "500");
	if (cps_connector_source_open(&cps_kafka_connector, "province", &s, &c, err, sizeof(err)) !=
	    CPS_OK)
		fail_msg("source open: %s", err);
	cps_settings_release(&s);
	return c;
}

static int seq_of(const struct cps_source_msg *m)
{
	char text[32];
	int seq;

	assert_true(m->value_len < sizeof(text));
	memcpy(text, m->value, m->value_len);
	text[m->value_len] = '\0';
	assert_int_equal(sscanf(text, "seq=%d", &seq), 1);
	assert_true(seq >= 0 && seq < N_RECORDS + N_LATE);
	return seq;
}

/* Polls until `want` messages arrived (or 30 s), then checks that nothing
 * more comes. Checks order per partition; records each seq in `seen`. */
static int consume(struct cps_conn *src, struct seen *seen, int want)
{
	int64_t last_offset[PARTITIONS], deadline = mono_ms() + 30000;
	int got = 0, empty_after = 0;
	char err[CPS_ERRSTR_SIZE];

	for (int p = 0; p < PARTITIONS; p++)
		last_offset[p] = -1;
	while (mono_ms() < deadline) {
		struct cps_source_batch b;
		int rc = cps_source_poll(src, &b, 1000, got >= want ? 300 : 200, err, sizeof(err));

		if (rc != CPS_OK)
			fail_msg("poll: %s", err);
		if (got >= want && b.n == 0 && ++empty_after == 3)
			break;
		for (size_t i = 0; i < b.n; i++) {
			const struct cps_source_msg *m = &b.msgs[i];
			int seq = seq_of(m), key_id;
			char origin[CPS_ORIGIN_MAX];
			bool origin_header = false;

			assert_string_equal(m->entity, "person");
			assert_string_equal(m->pos.stream, TOPIC);
			assert_true(m->pos.partition >= 0 && m->pos.partition < PARTITIONS);
			/* in order per partition */
			assert_true(m->pos.offset > last_offset[m->pos.partition]);
			last_offset[m->pos.partition] = m->pos.offset;
			snprintf(origin, sizeof(origin), "province:" TOPIC "/%d@%lld",
			         (int)m->pos.partition, (long long)m->pos.offset);
			assert_string_equal(m->origin, origin);
			assert_true(m->source_ts_ms > 1600000000000LL);
			assert_int_equal(m->key_len, 8);
			assert_int_equal(sscanf((const char *)m->key, "id-%05d", &key_id), 1);
			assert_int_equal(key_id, seq % N_KEYS);
			for (size_t h = 0; h < m->n_headers; h++)
				if (strcmp(m->headers[h].name, "cpsync-origin") == 0 &&
				    m->headers[h].value_len == 4 &&
				    memcmp(m->headers[h].value, "city", 4) == 0)
					origin_header = true;
			assert_true(origin_header);
			seen[seq].count++;
			seen[seq].partition = m->pos.partition;
			seen[seq].offset = m->pos.offset;
			got++;
		}
	}
	return got;
}

static void test_produce_consume_commit_resume(void **state)
{
	struct fixture *f = *state;
	struct cps_settings s;
	struct cps_conn *sink = NULL, *src;
	struct cps_conn_status st;
	struct seen *seen = calloc(N_RECORDS + N_LATE, sizeof(*seen));
	struct cps_sink_record recs[500];
	char keys[500][16], values[500][16], err[CPS_ERRSTR_SIZE];
	struct cps_header trace = {"trace", "t1", 2};
	int32_t key_partition[N_KEYS];
	int64_t half_offset[PARTITIONS], last_off[PARTITIONS];
	struct cps_position commit[PARTITIONS * 2];
	size_t n_commit = 0;
	int committed_records = 0, got;

	/* ---- produce through the sink */
	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", cps_broker_bootstrap(f->broker));
	cps_settings_set(&s, "entity.person.topic", TOPIC);
	cps_settings_set(&s, "properties.linger.ms", "5");
	assert_int_equal(
	    cps_connector_sink_open(&cps_kafka_connector, "province", &s, &sink, err, sizeof(err)),
	    CPS_OK);
	cps_settings_release(&s);
	for (int base = 0; base < N_RECORDS; base += 500) {
		size_t accepted = 0;

		for (int i = 0; i < 500; i++) {
			snprintf(keys[i], sizeof(keys[i]), "id-%05d", (base + i) % N_KEYS);
			snprintf(values[i], sizeof(values[i]), "seq=%05d", base + i);
			recs[i] = (struct cps_sink_record){
			    .entity = "person",
			    .origin_platform = "city",
			    .key = keys[i],
			    .key_len = strlen(keys[i]),
			    .value = values[i],
			    .value_len = strlen(values[i]),
			    .headers = &trace,
			    .n_headers = 1,
			};
		}
		if (cps_sink_put(sink, recs, 500, &accepted, err, sizeof(err)) != CPS_OK)
			fail_msg("put: %s", err);
		assert_int_equal(accepted, 500);
	}
	if (cps_sink_flush(sink, 30000, err, sizeof(err)) != CPS_OK)
		fail_msg("flush: %s", err);
	cps_conn_describe(sink, &st);
	assert_int_equal(st.enqueued, N_RECORDS);
	assert_int_equal(st.delivered, N_RECORDS);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.lag, 0);
	/* a record with no route is refused, naming the entity: a
	 * configuration error (FATAL), not a poison record to dead-letter */
	recs[0].entity = "household";
	{
		size_t accepted = 99;

		assert_int_equal(cps_sink_put(sink, recs, 1, &accepted, err, sizeof(err)),
		                 CPS_ERR_FATAL);
		assert_int_equal(accepted, 0);
		assert_string_equal(err, "no topic for entity 'household' (set "
		                         "'entity.household.topic')");
		recs[0].entity = "person";
	}

	/* ---- consume everything exactly once, in order per partition */
	src = open_source(f, "g1");
	got = consume(src, seen, N_RECORDS);
	assert_int_equal(got, N_RECORDS);
	for (int k = 0; k < N_KEYS; k++)
		key_partition[k] = -1;
	for (int p = 0; p < PARTITIONS; p++)
		last_off[p] = -1;
	for (int seq = 0; seq < N_RECORDS; seq++) {
		int32_t p = seen[seq].partition;

		assert_int_equal(seen[seq].count, 1);
		/* one key, one partition; per partition, offsets follow production */
		if (key_partition[seq % N_KEYS] < 0)
			key_partition[seq % N_KEYS] = p;
		assert_int_equal(key_partition[seq % N_KEYS], p);
		assert_true(seen[seq].offset > last_off[p]);
		last_off[p] = seen[seq].offset;
	}
	cps_conn_describe(src, &st);
	assert_int_equal(st.received, N_RECORDS);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.lag, 0); /* read up to the end of every partition */

	/* ---- commit about half of each partition (twice for some, lower first) */
	for (int p = 0; p < PARTITIONS; p++) {
		int64_t n_in_p = last_off[p] + 1; /* offsets start at 0 */

		assert_true(n_in_p > 100);
		half_offset[p] = n_in_p / 2 - 1;
		committed_records += (int)(half_offset[p] + 1);
		commit[n_commit] =
		    (struct cps_position){.partition = p, .offset = half_offset[p] - 7};
		strcpy(commit[n_commit++].stream, TOPIC);
		commit[n_commit] = (struct cps_position){.partition = p, .offset = half_offset[p]};
		strcpy(commit[n_commit++].stream, TOPIC);
	}
	if (cps_source_commit(src, commit, n_commit, err, sizeof(err)) != CPS_OK)
		fail_msg("commit: %s", err);
	cps_source_close(src);

	/* ---- reopen in the same group: only the uncommitted ones come again */
	for (int seq = 0; seq < N_RECORDS; seq++)
		seen[seq].count = 0;
	src = open_source(f, "g1");
	got = consume(src, seen, N_RECORDS - committed_records);
	assert_int_equal(got, N_RECORDS - committed_records);
	n_commit = 0;
	for (int seq = 0; seq < N_RECORDS; seq++) {
		bool was_committed = seen[seq].offset <= half_offset[seen[seq].partition];

		assert_int_equal(seen[seq].count, was_committed ? 0 : 1);
	}
	for (int p = 0; p < PARTITIONS; p++) {
		commit[n_commit] = (struct cps_position){.partition = p, .offset = last_off[p]};
		strcpy(commit[n_commit++].stream, TOPIC);
	}
	if (cps_source_commit(src, commit, n_commit, err, sizeof(err)) != CPS_OK)
		fail_msg("commit: %s", err);
	cps_conn_describe(src, &st);
	assert_int_equal(st.committed, PARTITIONS);
	cps_source_close(src);

	/* ---- everything committed: only what is produced now comes */
	for (int i = 0; i < N_LATE; i++) {
		snprintf(keys[i], sizeof(keys[i]), "id-%05d", (N_RECORDS + i) % N_KEYS);
		snprintf(values[i], sizeof(values[i]), "seq=%05d", N_RECORDS + i);
	}
	assert_int_equal(cps_sink_put(sink, recs, N_LATE, NULL, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_sink_flush(sink, 10000, err, sizeof(err)), CPS_OK);
	cps_sink_close(sink);
	memset(seen, 0, (N_RECORDS + N_LATE) * sizeof(*seen));
	src = open_source(f, "g1");
	assert_int_equal(consume(src, seen, N_LATE), N_LATE);
	for (int seq = 0; seq < N_RECORDS + N_LATE; seq++)
		assert_int_equal(seen[seq].count, seq >= N_RECORDS ? 1 : 0);
	cps_source_close(src);
	free(seen);
}

static void test_delivery_failure_surfaces_at_flush(void **state)
{
	struct fixture *f = *state;
	struct cps_settings s;
	struct cps_conn *sink = NULL;
	struct cps_conn_status st;
	char err[CPS_ERRSTR_SIZE];
	struct cps_sink_record r = {.entity = "alert",
	                            .stream = "cpsync.unreachable",
	                            .origin_platform = "city",
	                            .key = "k",
	                            .key_len = 1,
	                            .value = "v",
	                            .value_len = 1};
	size_t accepted = 0;

	assert_int_equal(
	    cps_broker_create_topic(f->broker, "cpsync.unreachable", 1, err, sizeof(err)), CPS_OK);
	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", cps_broker_bootstrap(f->broker));
	cps_settings_set(&s, "properties.message.timeout.ms", "1500");
	cps_settings_set(&s, "properties.log_level", "0");
	assert_int_equal(
	    cps_connector_sink_open(&cps_kafka_connector, "city", &s, &sink, err, sizeof(err)),
	    CPS_OK);
	cps_settings_release(&s);
	/* the topic refuses every produce request */
	rd_kafka_mock_topic_set_error(cps_broker_mock(f->broker), "cpsync.unreachable",
	                              RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
	assert_int_equal(cps_sink_put(sink, &r, 1, &accepted, err, sizeof(err)), CPS_OK);
	assert_int_equal(accepted, 1);
	assert_int_equal(cps_sink_flush(sink, 20000, err, sizeof(err)), CPS_ERR_RETRIABLE);
	assert_non_null(strstr(err, "1 deliveries failed since the last flush, first: delivery "
	                            "to 'cpsync.unreachable'"));
	cps_conn_describe(sink, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.delivered, 0);
	/* the failure is reported once */
	assert_int_equal(cps_sink_flush(sink, 1000, err, sizeof(err)), CPS_OK);
	cps_sink_close(sink);
	rd_kafka_mock_topic_set_error(cps_broker_mock(f->broker), "cpsync.unreachable",
	                              RD_KAFKA_RESP_ERR_NO_ERROR);
}

static const char *conf_value(const rd_kafka_conf_t *conf, const char *key, char *buf, size_t size)
{
	size_t n = size;

	if (rd_kafka_conf_get(conf, key, buf, &n) != RD_KAFKA_CONF_OK)
		fail_msg("no property '%s'", key);
	return buf;
}

/* Every consumer and producer cpsync builds has bounded queues (librdkafka:
 * 100000 messages and 64 MiB a consumer, 1 GiB a producer); the user's
 * properties still win; and the finalized consumer's fetch is bounded too. */
static void test_client_memory_defaults(void **state)
{
	struct cps_settings props;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[CPS_ERRSTR_SIZE], v[64];

	(void)state;
	cps_settings_init(&props);
	conf = cps_kafka_conf_new_for(CPS_KAFKA_CONSUMER, NULL, &props, err, sizeof(err));
	assert_non_null(conf);
	assert_string_equal(conf_value(conf, "queued.min.messages", v, sizeof(v)), "10000");
	assert_string_equal(conf_value(conf, "queued.max.messages.kbytes", v, sizeof(v)), "8192");
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk)
		fail_msg("consumer: %s", err);
	/* librdkafka's 50 MiB fetch shrinks to the queue's bound */
	assert_true(atoll(conf_value(rd_kafka_conf(rk), "fetch.max.bytes", v, sizeof(v))) <=
	            8192 * 1024);
	rd_kafka_destroy(rk);

	conf = cps_kafka_conf_new_for(CPS_KAFKA_PRODUCER, NULL, &props, err, sizeof(err));
	assert_non_null(conf);
	assert_string_equal(conf_value(conf, "queue.buffering.max.messages", v, sizeof(v)),
	                    "10000");
	assert_string_equal(conf_value(conf, "queue.buffering.max.kbytes", v, sizeof(v)), "16384");
	rd_kafka_conf_destroy(conf);

	cps_settings_set(&props, "kafka.properties.queued.min.messages", "50000");
	cps_settings_set(&props, "kafka.producer.queue.buffering.max.kbytes", "65536");
	conf = cps_kafka_conf_new_for(CPS_KAFKA_CONSUMER, NULL, &props, err, sizeof(err));
	assert_string_equal(conf_value(conf, "queued.min.messages", v, sizeof(v)), "50000");
	rd_kafka_conf_destroy(conf);
	conf = cps_kafka_conf_new_for(CPS_KAFKA_PRODUCER, NULL, &props, err, sizeof(err));
	assert_string_equal(conf_value(conf, "queue.buffering.max.kbytes", v, sizeof(v)), "65536");
	rd_kafka_conf_destroy(conf);
	cps_settings_release(&props);
}

/* A producer queue of 10 messages that lingers 200 ms is full after the
 * tenth of 500 records: the sink waits for deliveries and puts them all;
 * every one is acknowledged, none failed or was dropped. */
static void test_sink_full_queue_waits(void **state)
{
	struct fixture *f = *state;
	struct cps_sink_record recs[500];
	char keys[500][16], err[CPS_ERRSTR_SIZE];
	struct cps_conn *sink = NULL;
	struct cps_conn_status st;
	struct cps_settings s;
	size_t accepted = 0;

	assert_int_equal(cps_broker_create_topic(f->broker, "cpsync.full", 1, err, sizeof(err)),
	                 CPS_OK);
	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", cps_broker_bootstrap(f->broker));
	cps_settings_set(&s, "properties.queue.buffering.max.messages", "10");
	cps_settings_set(&s, "properties.linger.ms", "200");
	assert_int_equal(
	    cps_connector_sink_open(&cps_kafka_connector, "city", &s, &sink, err, sizeof(err)),
	    CPS_OK);
	cps_settings_release(&s);
	for (int i = 0; i < 500; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k-%03d", i);
		recs[i] = (struct cps_sink_record){.entity = "alert",
		                                   .stream = "cpsync.full",
		                                   .origin_platform = "city",
		                                   .key = keys[i],
		                                   .key_len = strlen(keys[i]),
		                                   .value = keys[i],
		                                   .value_len = strlen(keys[i])};
	}
	if (cps_sink_put(sink, recs, 500, &accepted, err, sizeof(err)) != CPS_OK)
		fail_msg("put: %s", err);
	assert_int_equal(accepted, 500);
	if (cps_sink_flush(sink, 20000, err, sizeof(err)) != CPS_OK)
		fail_msg("flush: %s", err);
	cps_conn_describe(sink, &st);
	assert_int_equal(st.delivered, 500);
	assert_int_equal(st.failed, 0);
	cps_sink_close(sink);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_produce_consume_commit_resume),
	    cmocka_unit_test(test_delivery_failure_surfaces_at_flush),
	    cmocka_unit_test(test_client_memory_defaults),
	    cmocka_unit_test(test_sink_full_queue_waits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
