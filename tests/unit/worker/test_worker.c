/*
 * Reconcile workers end to end: ingest events on an embedded broker (over
 * TCP), two workers and the publisher on a real PostgreSQL database of the
 * test's own ($CPSYNC_TEST_PG), unified events read back with a plain
 * consumer and decoded; then a restart mid-way that must resume from the
 * offsets in the store, applying no event twice and skipping none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kafka/broker.h"
#include "base/common.h"
#include "model/event.h"
#include "base/pii.h"
#include "publish/publish.h"
#include "reconcile/rules.h"
#include "codec/schema.h"
#include "store/store.h"
#include "reconcile/unified.h"
#include "worker/worker.h"
#include "testdb.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PARTITIONS 4

static struct cps_catalog *catalog;
static struct cps_rules *rules;
static struct cps_broker *broker;
static int db_seq;
/* Quicker group rebalances on the embedded broker, and a member whose join
 * the mock coordinator loses is dropped after seconds, not 45 s. */
static struct cps_settings kprops;

struct db {
	struct cps_testdb scratch;
	const char *conninfo; /* scratch.conninfo */
	PGconn *conn;
};

static void check_ok(int rc, const char *err)
{
	if (rc != CPS_OK)
		fail_msg("%s", err);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void db_create(struct db *d)
{
	assert_int_equal(cps_testdb_create(&d->scratch, "cps_worker", ++db_seq), 0);
	assert_int_equal(cps_testdb_migrate(&d->scratch), 0);
	d->conninfo = d->scratch.conninfo;
	d->conn = PQconnectdb(d->conninfo);
	assert_int_equal(PQstatus(d->conn), CONNECTION_OK);
}

static void db_drop(struct db *d)
{
	PQfinish(d->conn);
	cps_testdb_drop(&d->scratch);
}

/* One integer from a query. */
static long long q_int(struct db *d, const char *sql)
{
	PGresult *r = PQexec(d->conn, sql);
	long long v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("query failed: %s: %s", sql, PQerrorMessage(d->conn));
	v = PQgetisnull(r, 0, 0) ? -1 : atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void make_id(int i, char out[19])
{
	assert_int_equal(
	    cps_national_id_make("440305", 1960 + i, 1 + i % 12, 1 + i % 27, 100 + 2 * i + 1, out),
	    CPS_OK);
}

static json_t *person(const char *id, const char *name, const char *phone)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:n, s:b, s:b, s:n, s:b, s:s, s:{s:s},"
	                 " s:n, s:b}",
	                 "national_id", id, "name", name, "gender", "MALE", "birth_date", -658,
	                 "registration_region_code", "440305", "residence_region_code", "440305",
	                 "residence_address", "has_residence_permit", 0, "disabled", 0,
	                 "disability_grade", "seriously_ill", 0, "labour_capacity", "FULL", "phone",
	                 "string", phone, "household_id", "deceased", 0);
}

static rd_kafka_t *producer(void)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "bootstrap.servers", cps_broker_bootstrap(broker), err,
	                  sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(rk);
	return rk;
}

static void produce_event(rd_kafka_t *rk, struct cps_event_codec *ec, const char *topic,
                          const char *platform, const char *id, json_t *rec, int64_t eff)
{
	struct cps_ingest_event ev;
	struct cps_buf buf, key;
	char err[CPS_ERRSTR_SIZE];

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.platform, sizeof(ev.platform), "%s", platform);
	snprintf(ev.entity, sizeof(ev.entity), "person");
	ev.key = (char *)id;
	ev.op = CPS_OP_UPSERT;
	ev.effective_ms = eff;
	ev.source_ms = eff + 1;
	ev.source_position = "test:0@0";
	ev.record = rec;
	cps_buf_init(&buf, 0);
	cps_buf_init(&key, 0);
	check_ok(cps_ingest_event_encode(ec, &ev, &buf, err, sizeof(err)), err);
	assert_int_equal(cps_ingest_key("person", id, &key), 0);
	assert_int_equal(
	    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key.data, key.len),
	                      RD_KAFKA_V_VALUE(buf.data, buf.len),
	                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
	    0);
	cps_buf_release(&buf);
	cps_buf_release(&key);
	json_decref(rec);
}

/* Waits until the stored next offsets of `topic` add up to `total`. */
static void wait_offsets(struct db *d, const char *topic, long long total, int timeout_ms)
{
	char sql[256];
	int64_t end = now_ms() + timeout_ms;
	long long got = -1;

	snprintf(
	    sql, sizeof(sql),
	    "SELECT coalesce(sum(next_offset), 0) FROM cpsync.ingest_offsets WHERE topic = '%s'",
	    topic);
	while (now_ms() < end) {
		got = q_int(d, sql);
		if (got == total)
			return;
		usleep(50 * 1000);
	}
	fail_msg("stored offsets of %s add up to %lld, expected %lld", topic, got, total);
}

static void wait_outbox_empty(struct db *d, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	while (now_ms() < end) {
		if (q_int(d, "SELECT count(*) FROM cpsync.outbox") == 0)
			return;
		usleep(50 * 1000);
	}
	fail_msg("the outbox did not drain");
}

/* Every message of `topic`, decoded: a JSON array of unified events. */
static json_t *consume_all(const char *topic, size_t expect, int timeout_ms)
{
	char err[512], group[64];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	struct cps_unified_conf uc = {.catalog = catalog, .framing = CPS_FRAMING_CONFLUENT};
	struct cps_unified *u;
	json_t *all = json_array();
	int64_t end = now_ms() + timeout_ms;
	rd_kafka_t *rk;

	check_ok(cps_unified_new(&uc, &u, err, sizeof(err)), err);
	snprintf(group, sizeof(group), "reader-%ld-%lld", (long)getpid(), (long long)now_ms());
	rd_kafka_conf_set(conf, "bootstrap.servers", cps_broker_bootstrap(broker), err,
	                  sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	assert_non_null(rk);
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(rk, l), 0);
	rd_kafka_topic_partition_list_destroy(l);
	while (json_array_size(all) < expect && now_ms() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		json_t *ev;

		if (!m)
			continue;
		if (!m->err) {
			check_ok(cps_unified_decode(u, "person", m->payload, m->len, &ev, err,
			                            sizeof(err)),
			         err);
			/* the Kafka key is the entity key */
			assert_int_equal(m->key_len,
			                 strlen(json_string_value(json_object_get(ev, "key"))));
			assert_memory_equal(m->key, json_string_value(json_object_get(ev, "key")),
			                    m->key_len);
			json_array_append_new(all, ev);
		}
		rd_kafka_message_destroy(m);
	}
	/* nothing more than expected turns up */
	for (int i = 0; i < 5; i++) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m && !m->err)
			fail_msg("more unified events than expected on %s", topic);
		if (m)
			rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	cps_unified_free(u);
	assert_int_equal(json_array_size(all), expect);
	return all;
}

/* Versions 1..n per key without gaps or repeats (by key in order of
 * arrival; Kafka keeps a key's order within its partition); returns the last
 * event of `key`. */
static json_t *check_versions(json_t *events, const char *key, int expect_n)
{
	size_t i;
	json_t *ev, *last = NULL;
	int v = 0;

	json_array_foreach (events, i, ev) {
		if (strcmp(json_string_value(json_object_get(ev, "key")), key))
			continue;
		v++;
		assert_int_equal(json_integer_value(json_object_get(ev, "version")), v);
		last = ev;
	}
	assert_int_equal(v, expect_n);
	return last;
}

static const char *rec_str(json_t *ev, const char *field)
{
	json_t *rec = json_object_get(json_object_get(ev, "record"), "cpsync.Person");
	json_t *v = json_object_get(rec, field);

	if (json_is_object(v))
		v = json_object_get(v, "string");
	return json_string_value(v);
}

static json_t *prov_of(json_t *ev, const char *field)
{
	size_t i;
	json_t *p;

	json_array_foreach (json_object_get(ev, "provenance"), i, p)
		if (!strcmp(json_string_value(json_object_get(p, "field")), field))
			return p;
	return NULL;
}

static struct cps_worker_conf worker_conf(struct db *d, const char *topic, const char *group)
{
	struct cps_worker_conf c = {
	    .bootstrap = cps_broker_bootstrap(broker),
	    .kafka_properties = &kprops,
	    .ingest_topic = topic,
	    .group_id = group,
	    .unified_topic_prefix = "cpsync.unified.",
	    .conninfo = d->conninfo,
	    .workers = 2,
	    .batch_size = 100,
	    .batch_ms = 20,
	    .catalog = catalog,
	    .rules = rules,
	    .unified_framing = CPS_FRAMING_CONFLUENT,
	};
	return c;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_reconcile_and_publish(void **state)
{
	char err[CPS_ERRSTR_SIZE], ids[4][19], sql[512];
	const char *topic = "ingest.flow";
	struct cps_event_codec *ec;
	struct cps_publisher *pub;
	struct cps_publisher_conf pc;
	struct cps_workers *w;
	struct cps_worker_conf wc;
	struct cps_worker_stats ws;
	struct cps_publisher_stats ps;
	json_t *events, *last, *p;
	rd_kafka_t *rk;
	struct db d;

	db_create(&d);
	check_ok(cps_broker_create_topic(broker, topic, PARTITIONS, err, sizeof(err)), err);
	check_ok(cps_event_codec_new(catalog, &ec, err, sizeof(err)), err);
	rk = producer();
	for (int i = 0; i < 4; i++) {
		make_id(i, ids[i]);
		produce_event(rk, ec, topic, "province", ids[i],
		              person(ids[i], "陈建国", "13700000001"), 1000);
		/* the city agrees on everything but the phone (newer), except for
		 * key 0, whose name disagrees under the manual rule */
		produce_event(rk, ec, topic, "city", ids[i],
		              person(ids[i], i == 0 ? "陈建华" : "陈建国", "13700000002"), 2000);
	}
	/* key 1: the province brings a newer phone; then a late, older one */
	produce_event(rk, ec, topic, "province", ids[1], person(ids[1], "陈建国", "13700000003"),
	              3000);
	produce_event(rk, ec, topic, "city", ids[1], person(ids[1], "陈建国", "13700000004"), 1500);
	/* an undecodable message: a dead letter, not a stall */
	assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
	                                   RD_KAFKA_V_VALUE("garbage", 7),
	                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                                   RD_KAFKA_V_END),
	                 0);
	assert_int_equal(rd_kafka_flush(rk, 10000), 0);

	pc = (struct cps_publisher_conf){.bootstrap = cps_broker_bootstrap(broker),
	                                 .conninfo = d.conninfo};
	check_ok(cps_publisher_start(&pc, &pub, err, sizeof(err)), err);
	wc = worker_conf(&d, topic, "flow-group");
	wc.publisher = pub;
	check_ok(cps_workers_start(&wc, &w, err, sizeof(err)), err);
	wait_offsets(&d, topic, 11, 60000);
	wait_outbox_empty(&d, 20000);
	cps_workers_stop_stats(w, &ws); /* joined: the figures are final */
	assert_int_equal(ws.events, 11);
	assert_int_equal(ws.dead_letters, 1);
	assert_int_equal(ws.emitted, 9); /* 4 created, 4 city phones, 1 province phone */
	assert_int_equal(ws.conflicts, 1);

	events = consume_all("cpsync.unified.person", 9, 20000);
	cps_publisher_get_stats(pub, &ps);
	assert_int_equal(ps.published, 9);
	assert_int_equal(ps.pending, 0);
	cps_publisher_stop(pub);

	/* key 0: the name stays the province's while the conflict is open; the
	 * phone still moved on (latest) */
	last = check_versions(events, ids[0], 2);
	assert_string_equal(rec_str(last, "name"), "陈建国");
	assert_string_equal(rec_str(last, "phone"), "13700000002");
	assert_string_equal(rec_str(last, "national_id"), ids[0]);
	assert_string_equal(json_string_value(json_object_get(last, "operation")), "UPSERT");
	assert_string_equal(json_string_value(json_object_get(last, "entity")), "PERSON");
	p = prov_of(last, "phone");
	assert_non_null(p);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(p, "platform"), "cpsync.Platform")),
	    "CITY");
	assert_int_equal(json_integer_value(json_object_get(p, "effective_time")), 2000);
	assert_string_equal(json_string_value(json_object_get(p, "rule")), "latest");
	assert_int_equal(json_integer_value(json_object_get(p, "rule_version")), 3);
	assert_null(prov_of(last, "disability_grade")); /* no value, no provenance */
	/* key 1: the newer province phone wins, the late older city one does not */
	last = check_versions(events, ids[1], 3);
	assert_string_equal(rec_str(last, "phone"), "13700000003");
	for (int i = 2; i < 4; i++) {
		last = check_versions(events, ids[i], 2);
		assert_string_equal(rec_str(last, "phone"), "13700000002");
	}
	json_decref(events);

	/* the store: one open conflict, its audit entry, records, history, offsets */
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM cpsync.conflicts WHERE status = 'open' AND entity = 'person'"
	         " AND key = '%s' AND field = 'name' AND rule = 'manual'",
	         ids[0]);
	assert_int_equal(q_int(&d, sql), 1);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.conflicts"), 1);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.audit WHERE actor = 'cpsync' AND "
	                           "action = 'conflict.opened' AND field = 'name'"),
	                 1);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.records WHERE entity = 'person'"),
	                 4);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.record_history"), 9);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM (SELECT key FROM cpsync.record_history "
	                           "GROUP BY key HAVING max(version) <> count(*)) x"),
	                 0);
	snprintf(sql, sizeof(sql), "SELECT version FROM cpsync.records WHERE key = '%s'", ids[1]);
	assert_int_equal(q_int(&d, sql), 3);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.dead_letters WHERE origin LIKE "
	                           "'ingest:ingest.flow/0@%'"),
	                 1);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.outbox"), 0);

	rd_kafka_destroy(rk);
	cps_event_codec_free(ec);
	db_drop(&d);
}

/* Feeds `n` events round-robin over `keys` keys, each with a newer phone
 * (latest rule): every event makes exactly one new version. */
static void feed(rd_kafka_t *rk, struct cps_event_codec *ec, const char *topic, char ids[][19],
                 int keys, int from, int n)
{
	char phone[16];

	for (int i = from; i < from + n; i++) {
		snprintf(phone, sizeof(phone), "138%08d", i);
		produce_event(rk, ec, topic, i % 2 ? "city" : "province", ids[i % keys],
		              person(ids[i % keys], "林秀英", phone), 10000 + i);
	}
	assert_int_equal(rd_kafka_flush(rk, 10000), 0);
}

static void test_restart_resumes_from_store(void **state)
{
	enum { KEYS = 6, FIRST = 120, MORE = 30 };
	char err[CPS_ERRSTR_SIZE], ids[KEYS][19], sql[256];
	const char *topic = "ingest.restart";
	struct cps_event_codec *ec;
	struct cps_workers *w;
	struct cps_worker_conf wc;
	struct cps_worker_stats ws;
	long long stored;
	rd_kafka_t *rk;
	struct db d;

	db_create(&d);
	check_ok(cps_broker_create_topic(broker, topic, PARTITIONS, err, sizeof(err)), err);
	check_ok(cps_event_codec_new(catalog, &ec, err, sizeof(err)), err);
	rk = producer();
	for (int i = 0; i < KEYS; i++)
		make_id(20 + i, ids[i]);
	feed(rk, ec, topic, ids, KEYS, 0, FIRST);

	/* first run: small batches, stopped after a few of them */
	wc = worker_conf(&d, topic, "restart-group-1");
	wc.batch_size = 3;
	wc.batch_ms = 5;
	check_ok(cps_workers_start(&wc, &w, err, sizeof(err)), err);
	for (int64_t end = now_ms() + 30000; now_ms() < end;) {
		cps_workers_get_stats(w, &ws);
		if (ws.batches >= 4)
			break;
		usleep(1000);
	}
	cps_workers_stop_stats(w, &ws);
	assert_true(ws.batches >= 4);
	snprintf(
	    sql, sizeof(sql),
	    "SELECT coalesce(sum(next_offset), 0) FROM cpsync.ingest_offsets WHERE topic = '%s'",
	    topic);
	stored = q_int(&d, sql);
	assert_true(stored > 0);
	print_message("first run stored %lld of %d offsets\n", stored, FIRST);
	/* what the store holds is exactly what the stored offsets cover */
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.record_history"), stored);

	/* second run, a group Kafka never saw (no committed offsets there): it
	 * must start at the stored offsets, not at the beginning */
	feed(rk, ec, topic, ids, KEYS, FIRST, MORE);
	wc = worker_conf(&d, topic, "restart-group-2");
	check_ok(cps_workers_start(&wc, &w, err, sizeof(err)), err);
	wait_offsets(&d, topic, FIRST + MORE, 60000);
	cps_workers_stop_stats(w, &ws);
	assert_int_equal(ws.events, FIRST + MORE - stored);

	/* every event made exactly one version: none twice, none lost */
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.record_history"), FIRST + MORE);
	assert_int_equal(q_int(&d, "SELECT sum(version) FROM cpsync.records"), FIRST + MORE);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM (SELECT key FROM cpsync.record_history "
	                           "GROUP BY key HAVING max(version) <> count(*)) x"),
	                 0);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.outbox"), FIRST + MORE);
	assert_int_equal(q_int(&d, "SELECT count(*) FROM cpsync.dead_letters"), 0);

	rd_kafka_destroy(rk);
	cps_event_codec_free(ec);
	db_drop(&d);
}

static int group_setup(void **state)
{
	const char *base = getenv("CPSYNC_TEST_PG"), *dir = getenv("CPSYNC_SCHEMA_DIR");
	const char *topics[] = {"cpsync.unified.person"};
	char err[CPS_ERRSTR_SIZE];
	json_t *rj;

	if (!base || !*base) {
		fprintf(
		    stderr,
		    "CPSYNC_TEST_PG is not set: the worker tests need PostgreSQL (deploy/pg-private.sh start DIR PORT prints it)\n");
		return -1;
	}
	cps_settings_init(&kprops);
	cps_settings_set(&kprops, "kafka.consumer.session.timeout.ms", "6000");
	cps_settings_set(&kprops, "kafka.consumer.heartbeat.interval.ms", "500");
	if (cps_catalog_load_dir(dir ? dir : CPSYNC_SOURCE_DIR "/schemas", &catalog, err,
	                         sizeof(err)) != CPS_OK) {
		fprintf(stderr, "catalog: %s\n", err);
		return -1;
	}
	rj = json_pack("{s:{s:i, s:{s:s, s:[sss], s:s}, s:{s:{s:s}, s:{s:s, s:s}}}}", "person",
	               "version", 3, "default", "rule", "precedence", "platforms", "city",
	               "province", "shenshan", "on_disagree", "accept", "fields", "name", "rule",
	               "manual", "phone", "rule", "latest", "on_disagree", "accept");
	if (cps_rules_from_json(rj, &rules, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "rules: %s\n", err);
		json_decref(rj);
		return -1;
	}
	json_decref(rj);
	if (cps_broker_start(PARTITIONS, topics, 1, &broker, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "broker: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	cps_broker_stop(broker);
	cps_rules_free(rules);
	cps_catalog_free(catalog);
	cps_settings_release(&kprops);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reconcile_and_publish),
	    cmocka_unit_test(test_restart_resumes_from_store),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
