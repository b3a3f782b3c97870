/*
 * Unified events (unified.c: Avro JSON, Confluent and single-object frames,
 * provenance of platform and steward decisions, deletes) and the publisher
 * (publish.c) against a real PostgreSQL ($CPSYNC_TEST_PG, a database of the
 * test's own) and the embedded broker: with the broker down the changes stay
 * after the cursor, a stop loses nothing, and they are delivered after set_up.
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
#include "reconcile/reconcile.h"
#include "codec/schema.h"
#include "store/store.h"
#include "testdb.h"
#include "reconcile/unified.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct cps_catalog *catalog;

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

static json_t *person(const char *id, const char *phone)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:n, s:b, s:b, s:n, s:b, s:s, s:o,"
	                 " s:n, s:b}",
	                 "national_id", id, "name", "林秀英", "gender", "FEMALE", "birth_date", 670,
	                 "registration_region_code", "440305", "residence_region_code", "440305",
	                 "residence_address", "has_residence_permit", 0, "disabled", 0,
	                 "disability_grade", "seriously_ill", 0, "labour_capacity", "FULL", "phone",
	                 phone ? json_pack("{s:s}", "string", phone) : json_null(), "household_id",
	                 "deceased", 0);
}

/* A key state as reconcile.c leaves it: record and provenance per field. */
static void make_state(struct cps_key_state *st, const char *id, const char *phone, int64_t v)
{
	const char *fields[] = {"national_id",
	                        "name",
	                        "gender",
	                        "birth_date",
	                        "registration_region_code",
	                        "residence_region_code",
	                        "has_residence_permit",
	                        "disabled",
	                        "seriously_ill",
	                        "labour_capacity",
	                        "deceased"};

	check_ok(cps_key_state_init(st, "person", id), "init");
	json_decref(st->record);
	st->record = person(id, phone);
	st->version = v;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(fields); i++)
		json_object_set_new(st->provenance, fields[i],
		                    json_pack("{s:s, s:s, s:I, s:I, s:s, s:i}", "platform", "city",
		                              "pos", "city:0/16B3F28", "eff", (json_int_t)1000,
		                              "src", (json_int_t)1001, "rule", "precedence",
		                              "rule_version", 2));
	/* a steward took the province's phone (conflict 42) */
	if (phone)
		json_object_set_new(
		    st->provenance, "phone",
		    json_pack("{s:s, s:s, s:I, s:I, s:s, s:i, s:I, s:s, s:I, s:s, s:I, s:I}",
		              "platform", "province", "pos", "province:t/1@7", "eff",
		              (json_int_t)5000, "src", (json_int_t)5001, "rule", "steward",
		              "rule_version", 2, "conflict_id", (json_int_t)42, "steward",
		              "steward01", "decided_at", (json_int_t)9000, "reason", "checked",
		              "seen_eff", (json_int_t)6000, "seen_src", (json_int_t)6001));
	/* a steward entered the labour capacity (conflict 43) */
	json_object_set_new(st->provenance, "labour_capacity",
	                    json_pack("{s:n, s:n, s:I, s:I, s:s, s:i, s:I, s:s, s:I, s:s, s:I, "
	                              "s:I}",
	                              "platform", "pos", "eff", (json_int_t)9500, "src",
	                              (json_int_t)9500, "rule", "steward", "rule_version", 2,
	                              "conflict_id", (json_int_t)43, "steward", "steward02",
	                              "decided_at", (json_int_t)9500, "reason", "visited",
	                              "seen_eff", (json_int_t)6000, "seen_src", (json_int_t)6001));
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

/* ---- unified events ------------------------------------------------------ */

static void test_unified_confluent_roundtrip(void **state)
{
	char err[CPS_ERRSTR_SIZE], id[19];
	struct cps_unified_conf uc = {.catalog = catalog, .framing = CPS_FRAMING_CONFLUENT};
	struct cps_unified *u;
	struct cps_key_state st;
	struct cps_reconcile_outcome o;
	struct cps_buf buf;
	json_t *ev, *p, *rec;

	assert_int_equal(cps_national_id_make("440305", 1971, 11, 2, 208, id), CPS_OK);
	check_ok(cps_unified_new(&uc, &u, err, sizeof(err)), err);
	make_state(&st, id, "13812345678", 6);
	cps_reconcile_outcome_init(&o);
	o.changed = 1;
	o.version = 7;
	o.op = CPS_OP_UPSERT;
	cps_buf_init(&buf, 0);
	check_ok(cps_unified_encode(u, &st, &o, 123456, &buf, err, sizeof(err)), err);
	/* Confluent: magic 0, the registry-free id of cpsync.unified.PersonEvent */
	assert_true(buf.len > 5);
	assert_int_equal(buf.data[0], 0);
	assert_int_equal((buf.data[1] << 24) | (buf.data[2] << 16) | (buf.data[3] << 8) |
	                     buf.data[4],
	                 cps_catalog_by_name(catalog, "cpsync.unified.PersonEvent")->id);
	check_ok(cps_unified_decode(u, "person", buf.data, buf.len, &ev, err, sizeof(err)), err);
	assert_string_equal(json_string_value(json_object_get(ev, "entity")), "PERSON");
	assert_string_equal(json_string_value(json_object_get(ev, "key")), id);
	assert_int_equal(json_integer_value(json_object_get(ev, "version")), 7);
	assert_string_equal(json_string_value(json_object_get(ev, "operation")), "UPSERT");
	assert_int_equal(json_integer_value(json_object_get(ev, "event_time")), 123456);
	rec = json_object_get(json_object_get(ev, "record"), "cpsync.Person");
	assert_true(json_equal(rec, st.record));
	/* one provenance entry per field with a value, in schema order */
	assert_int_equal(json_array_size(json_object_get(ev, "provenance")), 12);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(ev, "provenance"), 0), "field")),
	                    "national_id");
	assert_null(prov_of(ev, "residence_address"));
	p = prov_of(ev, "name");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(p, "platform"), "cpsync.Platform")),
	    "CITY");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(p, "source_position"), "string")),
	    "city:0/16B3F28");
	assert_int_equal(json_integer_value(json_object_get(p, "effective_time")), 1000);
	assert_int_equal(json_integer_value(json_object_get(p, "source_time")), 1001);
	assert_string_equal(json_string_value(json_object_get(p, "rule")), "precedence");
	assert_int_equal(json_integer_value(json_object_get(p, "rule_version")), 2);
	assert_true(json_is_null(json_object_get(p, "conflict_id")));
	assert_true(json_is_null(json_object_get(p, "steward")));
	assert_true(json_is_null(json_object_get(p, "decided_at")));
	/* a steward took a platform's value: that platform, its position and
	 * times, rule "steward", the conflict, who, when, why */
	p = prov_of(ev, "phone");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(p, "platform"), "cpsync.Platform")),
	    "PROVINCE");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(p, "source_position"), "string")),
	    "province:t/1@7");
	assert_int_equal(json_integer_value(json_object_get(p, "effective_time")), 5000);
	assert_int_equal(json_integer_value(json_object_get(p, "source_time")), 5001);
	assert_string_equal(json_string_value(json_object_get(p, "rule")), "steward");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(p, "conflict_id"), "long")), 42);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(p, "steward"), "string")),
	    "steward01");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(p, "decided_at"), "long")), 9000);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(p, "reason"), "string")), "checked");
	/* a steward entered the value: no platform, no position, the decision time */
	p = prov_of(ev, "labour_capacity");
	assert_true(json_is_null(json_object_get(p, "platform")));
	assert_true(json_is_null(json_object_get(p, "source_position")));
	assert_int_equal(json_integer_value(json_object_get(p, "effective_time")), 9500);
	assert_int_equal(json_integer_value(json_object_get(p, "source_time")), 9500);
	assert_string_equal(json_string_value(json_object_get(p, "rule")), "steward");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(p, "conflict_id"), "long")), 43);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(p, "decided_at"), "long")), 9500);
	json_decref(ev);
	/* garbage is refused with a reason */
	assert_int_not_equal(cps_unified_decode(u, "person", "xy", 2, &ev, err, sizeof(err)),
	                     CPS_OK);
	assert_null(ev);
	assert_int_not_equal(
	    cps_unified_decode(u, "nobody", buf.data, buf.len, &ev, err, sizeof(err)), CPS_OK);
	cps_buf_release(&buf);
	cps_reconcile_outcome_release(&o);
	cps_key_state_release(&st);
	cps_unified_free(u);
}

static void test_unified_single_object_delete(void **state)
{
	char err[CPS_ERRSTR_SIZE], id[19];
	struct cps_unified_conf uc = {.catalog = catalog, .framing = CPS_FRAMING_SINGLE_OBJECT};
	struct cps_schema *s = cps_catalog_by_name(catalog, "cpsync.unified.PersonEvent");
	struct cps_unified *u;
	struct cps_key_state st;
	struct cps_reconcile_outcome o;
	struct cps_buf buf;
	uint64_t fp = 0;
	json_t *ev;

	assert_int_equal(cps_national_id_make("440305", 1971, 11, 2, 208, id), CPS_OK);
	check_ok(cps_unified_new(&uc, &u, err, sizeof(err)), err);
	make_state(&st, id, NULL, 3);
	cps_reconcile_outcome_init(&o);
	o.changed = 1;
	o.version = 4;
	o.op = CPS_OP_DELETE;
	st.deleted = 1;
	cps_buf_init(&buf, 0);
	check_ok(cps_unified_encode(u, &st, &o, 99, &buf, err, sizeof(err)), err);
	assert_int_equal(buf.data[0], 0xC3);
	assert_int_equal(buf.data[1], 0x01);
	for (int i = 7; i >= 0; i--)
		fp = (fp << 8) | buf.data[2 + i];
	assert_true(fp == s->fingerprint);
	check_ok(cps_unified_decode(u, "person", buf.data, buf.len, &ev, err, sizeof(err)), err);
	assert_string_equal(json_string_value(json_object_get(ev, "operation")), "DELETE");
	assert_int_equal(json_integer_value(json_object_get(ev, "version")), 4);
	assert_true(json_is_null(json_object_get(ev, "record")));
	assert_int_equal(json_array_size(json_object_get(ev, "provenance")), 0);
	json_decref(ev);
	cps_buf_release(&buf);
	cps_reconcile_outcome_release(&o);
	cps_key_state_release(&st);
	cps_unified_free(u);
	/* raw is not a framing for unified events */
	uc.framing = CPS_FRAMING_RAW;
	assert_int_equal(cps_unified_new(&uc, &u, err, sizeof(err)), CPS_ERR_FATAL);
}

/* ---- the publisher ------------------------------------------------------------ */

static struct cps_testdb testdb;

static long long q_int(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long long v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("query failed: %s: %s", sql, PQerrorMessage(c));
	v = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* Commits 3 keys x 2 versions to the change log, as a worker would. */
static void fill_outbox(void)
{
	char err[CPS_ERRSTR_SIZE], id[19], phone[16];
	struct cps_unified_conf uc = {.catalog = catalog, .framing = CPS_FRAMING_CONFLUENT};
	struct cps_unified *u;
	struct cps_store *s;

	check_ok(cps_unified_new(&uc, &u, err, sizeof(err)), err);
	check_ok(cps_store_open(testdb.conninfo, &s, err, sizeof(err)), err);
	for (int v = 1; v <= 2; v++) {
		struct cps_key_state st[3], *sp[3];
		struct cps_store_emit em[3];
		struct cps_reconcile_outcome o;
		struct cps_buf buf[3];
		struct cps_store_batch b = {.states = sp, .n_states = 3, .emits = em, .n_emits = 3};

		cps_reconcile_outcome_init(&o);
		o.changed = 1;
		o.version = v;
		for (int k = 0; k < 3; k++) {
			assert_int_equal(cps_national_id_make("440306", 1980 + k, 3, 4, 311, id),
			                 CPS_OK);
			snprintf(phone, sizeof(phone), "1390000%02d%02d", k, v);
			make_state(&st[k], id, phone, v);
			sp[k] = &st[k];
			cps_buf_init(&buf[k], 0);
			check_ok(cps_unified_encode(u, &st[k], &o, 1, &buf[k], err, sizeof(err)),
			         err);
			em[k] = (struct cps_store_emit){.entity = "person",
			                                .key = st[k].key,
			                                .version = v,
			                                .op = CPS_OP_UPSERT,
			                                .record = st[k].record,
			                                .provenance = st[k].provenance,
			                                .changed_fields = o.changed_fields,
			                                .topic = "cpsync.unified.person",
			                                .payload = buf[k].data,
			                                .payload_len = buf[k].len};
		}
		check_ok(cps_store_commit_batch(s, &b, NULL, err, sizeof(err)), err);
		for (int k = 0; k < 3; k++) {
			cps_buf_release(&buf[k]);
			cps_key_state_release(&st[k]);
		}
		cps_reconcile_outcome_release(&o);
	}
	cps_store_close(s);
	cps_unified_free(u);
}

static void test_publisher_broker_down(void **state)
{
	const char *topics[] = {"cpsync.unified.person"};
	char err[CPS_ERRSTR_SIZE], group[64];
	struct cps_broker *broker;
	struct cps_publisher *pub;
	struct cps_publisher_stats ps;
	struct cps_settings props;
	struct cps_unified_conf uc = {.catalog = catalog, .framing = CPS_FRAMING_CONFLUENT};
	struct cps_unified *u;
	struct cps_publisher_conf pc;
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_t *rk;
	json_t *last = json_object();
	PGconn *db = PQconnectdb(testdb.conninfo);
	int got = 0;
	int64_t end;

	assert_int_equal(PQstatus(db), CONNECTION_OK);
	fill_outbox();
	assert_int_equal(q_int(db, "SELECT count(*) FROM cpsync.outbox"), 6);
	check_ok(cps_broker_start(2, topics, 1, &broker, err, sizeof(err)), err);
	cps_settings_init(&props);
	cps_settings_set(&props, "kafka.properties.reconnect.backoff.max.ms", "200");
	pc = (struct cps_publisher_conf){.bootstrap = cps_broker_bootstrap(broker),
	                                 .kafka_properties = &props,
	                                 .conninfo = testdb.conninfo};

	/* down: nothing leaves the outbox; a stop meanwhile loses nothing */
	assert_int_equal(rd_kafka_mock_broker_set_down(cps_broker_mock(broker), 1), 0);
	check_ok(cps_publisher_start(&pc, &pub, err, sizeof(err)), err);
	usleep(1500 * 1000);
	cps_publisher_get_stats(pub, &ps);
	assert_int_equal(ps.published, 0);
	assert_int_equal(ps.pending, 6);
	assert_int_equal(q_int(db, "SELECT count(*) FROM cpsync.outbox"), 6);
	cps_publisher_stop(pub);
	assert_int_equal(q_int(db, "SELECT count(*) FROM cpsync.outbox"), 6);

	check_ok(cps_publisher_start(&pc, &pub, err, sizeof(err)), err);
	usleep(500 * 1000);
	assert_int_equal(q_int(db, "SELECT count(*) FROM cpsync.outbox"), 6);
	/* up again: everything is delivered, and the cursor passes it */
	assert_int_equal(rd_kafka_mock_broker_set_up(cps_broker_mock(broker), 1), 0);
	for (end = now_ms() + 30000; now_ms() < end;) {
		if (q_int(db, "SELECT count(*) FROM cpsync.outbox") == 0)
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(q_int(db, "SELECT count(*) FROM cpsync.outbox"), 0);
	/* the log is history: publishing deleted nothing */
	assert_int_equal(q_int(db, "SELECT count(*) FROM cpsync.record_history"), 6);
	cps_publisher_get_stats(pub, &ps);
	assert_int_equal(ps.published, 6);
	assert_int_equal(ps.pending, 0);
	cps_publisher_stop(pub);

	/* each key's versions arrive in order, each once */
	check_ok(cps_unified_new(&uc, &u, err, sizeof(err)), err);
	conf = rd_kafka_conf_new();
	snprintf(group, sizeof(group), "reader-%ld", (long)getpid());
	rd_kafka_conf_set(conf, "bootstrap.servers", cps_broker_bootstrap(broker), err,
	                  sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	assert_non_null(rk);
	rd_kafka_poll_set_consumer(rk);
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topics[0], RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(rk, l), 0);
	rd_kafka_topic_partition_list_destroy(l);
	for (end = now_ms() + 20000; now_ms() < end && got < 6;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		json_t *ev;
		const char *key;

		if (!m)
			continue;
		if (!m->err) {
			check_ok(cps_unified_decode(u, "person", m->payload, m->len, &ev, err,
			                            sizeof(err)),
			         err);
			key = json_string_value(json_object_get(ev, "key"));
			assert_int_equal(json_integer_value(json_object_get(ev, "version")),
			                 json_integer_value(json_object_get(last, key)) + 1);
			json_object_set(last, key, json_object_get(ev, "version"));
			json_decref(ev);
			got++;
		}
		rd_kafka_message_destroy(m);
	}
	assert_int_equal(got, 6);
	assert_int_equal(json_object_size(last), 3);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	cps_unified_free(u);
	json_decref(last);
	cps_settings_release(&props);
	cps_broker_stop(broker);
	PQfinish(db);
}

static int group_setup(void **state)
{
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	char err[CPS_ERRSTR_SIZE];

	if (cps_catalog_load_dir(dir ? dir : CPSYNC_SOURCE_DIR "/schemas", &catalog, err,
	                         sizeof(err)) != CPS_OK) {
		fprintf(stderr, "catalog: %s\n", err);
		return -1;
	}
	if (cps_testdb_create(&testdb, "cps_publish", -1) != 0 || cps_testdb_migrate(&testdb) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	cps_testdb_drop(&testdb);
	cps_catalog_free(catalog);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unified_confluent_roundtrip),
	    cmocka_unit_test(test_unified_single_object_delete),
	    cmocka_unit_test(test_publisher_broker_down),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
