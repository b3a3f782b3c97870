/*
 * The sink runner (sync/sink/sink_runner.c): the no-echo rule, the allow-list
 * and the plain JSON for SQL targets as pure functions; then the province's
 * Kafka sink end to end on the embedded broker with a real store
 * ($CPSYNC_TEST_PG, a database of its own, for the version guard): a change
 * from the city is sent, changes that came from the province are not (told
 * by the events alone, one of them written with the unified schema before
 * changed_fields), fields outside the allow-list never appear, and committed
 * offsets hold.
 */
#include "kafka/broker.h"
#include "base/buf.h"
#include "codec/codec.h"
#include "codec/avro_json.h"
#include "connectors/connector.h"
#include "codec/framing.h"
#include "codec/schema.h"
#include "sink/sink_runner.h"
#include "testecho.h"
#include "store/store.h"
#include "testdb.h"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static struct cps_catalog *catalog;
static struct cps_testdb testdb;

#define check_ok(expr, err)                                                                        \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		if (rc_ != CPS_OK)                                                                 \
			fail_msg("%s: %d %s", #expr, rc_, err);                                    \
	} while (0)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const person_fields[] = {"national_id",
                                            "name",
                                            "gender",
                                            "birth_date",
                                            "registration_region_code",
                                            "residence_region_code",
                                            "residence_address",
                                            "has_residence_permit",
                                            "disabled",
                                            "disability_grade",
                                            "seriously_ill",
                                            "labour_capacity",
                                            "phone",
                                            "household_id",
                                            "deceased"};

static json_t *person(const char *id, const char *name, const char *phone)
{
	return json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:{s:s},s:b,s:b,s:n,s:b,s:s,s:o,s:n,s:b}",
	                 "national_id", id, "name", name, "gender", "FEMALE", "birth_date", 7305,
	                 "registration_region_code", "440304", "residence_region_code", "440304",
	                 "residence_address", "string", "Futian", "has_residence_permit", 1,
	                 "disabled", 0, "disability_grade", "seriously_ill", 0, "labour_capacity",
	                 "FULL", "phone", phone ? json_pack("{s:s}", "string", phone) : json_null(),
	                 "household_id", "deceased", 0);
}

/* A provenance entry; platform NULL = a steward's decision. */
static json_t *prov(const char *field, const char *platform)
{
	return json_pack(
	    "{s:s,s:o,s:o,s:I,s:I,s:s,s:i,s:n,s:o,s:n,s:n,s:n}", "field", field, "platform",
	    platform ? json_pack("{s:s}", "cpsync.Platform", platform) : json_null(),
	    "source_position", platform ? json_pack("{s:s}", "string", "pos") : json_null(),
	    "effective_time", (json_int_t)1700000000000, "source_time", (json_int_t)1700000000000,
	    "rule", platform ? "precedence" : "steward", "rule_version", 1, "conflict_id",
	    "steward", platform ? json_null() : json_pack("{s:s}", "string", "alice"), "decided_at",
	    "reason", "rule_case");
}

/* A unified person event; `platforms[i]` is the platform of field i (every
 * field that has a value gets an entry). */
static json_t *event(const char *id, long version, const char *name, const char *phone,
                     const char *const *platforms)
{
	json_t *rec = person(id, name, phone);
	json_t *provs = json_array();

	for (size_t i = 0; i < CPS_ARRAY_SIZE(person_fields); i++)
		if (!json_is_null(json_object_get(rec, person_fields[i])))
			json_array_append_new(provs, prov(person_fields[i], platforms[i]));
	return json_pack("{s:s,s:s,s:I,s:s,s:I,s:{s:o},s:o,s:[],s:[]}", "entity", "PERSON", "key",
	                 id, "version", (json_int_t)version, "operation", "UPSERT", "event_time",
	                 (json_int_t)1700000001000, "record", "cpsync.Person", rec, "provenance",
	                 provs, "changed_fields", "prior_platforms");
}

/* `ev` with its changed_fields set to `fields` (a JSON array text). */
static json_t *changing(json_t *ev, const char *fields)
{
	json_object_set_new(ev, "changed_fields", json_loads(fields, 0, NULL));
	return ev;
}

/* A unified person delete whose prior_platforms are `platforms` (a JSON
 * array text of cpsync.Platform symbols). */
static json_t *deletion(const char *id, long version, const char *platforms)
{
	return json_pack("{s:s,s:s,s:I,s:s,s:I,s:n,s:[],s:[],s:o}", "entity", "PERSON", "key", id,
	                 "version", (json_int_t)version, "operation", "DELETE", "event_time",
	                 (json_int_t)1700000002000, "record", "provenance", "changed_fields",
	                 "prior_platforms", json_loads(platforms, 0, NULL));
}

static void all(const char **p, const char *platform)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(person_fields); i++)
		p[i] = platform;
}

static size_t field_index(const char *name)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(person_fields); i++)
		if (!strcmp(person_fields[i], name))
			return i;
	fail_msg("no field %s", name);
	return 0;
}

/* ---- pure ---------------------------------------------------------------- */

static void test_no_echo_rule(void **state)
{
	const char *p[CPS_ARRAY_SIZE(person_fields)];
	json_t *ev;

	(void)state;
	all(p, "CITY");
	p[field_index("phone")] = "PROVINCE";
	/* the version changed only the province's phone: an echo for the province */
	ev = changing(event("K", 2, "N", "123", p), "[\"phone\"]");
	cps_test_assert_echo_for(ev, "province");
	/* the city's name and the province's phone changed: the province
	 * learns the name, the city the phone */
	cps_test_assert_echo_for(changing(ev, "[\"phone\", \"name\"]"), "");
	/* several changed fields, all the city's: an echo for the city only */
	cps_test_assert_echo_for(changing(ev, "[\"name\", \"gender\", \"residence_region_code\"]"),
	                         "city");
	/* a field changed to null decides nothing; with nothing attributable
	 * the fallback says: not an echo unless P holds every value */
	cps_test_assert_echo_for(changing(ev, "[\"household_id\"]"), "");
	/* ... and a null among attributable fields is skipped */
	cps_test_assert_echo_for(changing(ev, "[\"household_id\", \"phone\"]"), "province");
	json_decref(ev);
	/* changed fields empty (a re-publish, or an event written before the
	 * field existed): an echo only when P holds every value */
	all(p, "PROVINCE");
	ev = event("K", 1, "N", NULL, p);
	cps_test_assert_echo_for(ev, "province");
	json_object_del(ev, "changed_fields"); /* absent: the same */
	cps_test_assert_echo_for(ev, "province");
	json_decref(ev);
	/* a steward's decision is never an echo */
	p[field_index("gender")] = NULL;
	ev = event("K", 3, "N", NULL, p);
	cps_test_assert_echo_for(ev, "");
	cps_test_assert_echo_for(changing(ev, "[\"gender\"]"), "");
	json_decref(ev);
	/* a delete goes back only to platforms that did not hold the record:
	 * withdrawn by the province alone, an echo for the province only */
	ev = deletion("K", 4, "[\"PROVINCE\"]");
	cps_test_assert_echo_for(ev, "province");
	json_decref(ev);
	ev = deletion("K", 4, "[\"CITY\", \"SHENSHAN\"]");
	cps_test_assert_echo_for(ev, "city,shenshan");
	/* a delete's changed fields decide nothing */
	cps_test_assert_echo_for(changing(ev, "[\"name\"]"), "city,shenshan");
	json_decref(ev);
	/* without prior platforms (an older cpsync's event): sent everywhere */
	ev = deletion("K", 4, "[]");
	cps_test_assert_echo_for(ev, "");
	json_object_del(ev, "prior_platforms");
	cps_test_assert_echo_for(ev, "");
	json_decref(ev);
}

/* `rec` (Avro JSON of a person) as typed values in `arena`, as a sink has
 * the record of a decoded event. */
static struct cps_tval typed_person(struct cps_record_schema *rs, json_t *rec,
                                    struct cps_arena *arena)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_tval v;
	struct cps_buf b;

	cps_buf_init(&b, 0);
	check_ok(cps_record_encode_json(rs, rec, &b, err, sizeof(err)), err);
	check_ok(cps_record_decode(rs, b.data, b.len, NULL, CPS_RECORD_COPY_BYTES, arena, &v, err,
	                           sizeof(err)),
	         err);
	cps_buf_release(&b);
	return v;
}

/* The plain text of typed `v` (of `rt`) with the fields `allow` lists,
 * parsed and dumped again with sorted keys. */
static char *plain_text_sorted(const struct cps_rtype *rt, const struct cps_tval *v,
                               const char *allow)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf b;
	json_t *j;
	char *text;

	cps_buf_init(&b, 0);
	check_ok(cps_sink_plain_text(rt, v, allow, &b, err, sizeof(err)), err);
	j = json_loadb((const char *)b.data, b.len, 0, NULL);
	if (!j)
		fail_msg("not JSON: %.*s", (int)b.len, (const char *)b.data);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	cps_buf_release(&b);
	return text;
}

static void test_allow_list_and_plain_json(void **state)
{
	struct cps_schema *schema = cps_catalog_by_entity(catalog, "person");
	struct cps_record_schema *rs = NULL;
	struct cps_arena arena;
	struct cps_tval v;
	struct cps_schema *tschema;
	json_t *rec, *plain, *t;
	char err[CPS_ERRSTR_SIZE];
	char *text, *old;

	(void)state;
	assert_non_null(schema);
	check_ok(cps_record_schema_new(schema, &rs, err, sizeof(err)), err);
	cps_arena_init(&arena, 0);
	/* Avro targets: nullable fields outside the list become null */
	rec = person("440300199001011234", "Zhang", "13800000000");
	v = typed_person(rs, rec, &arena);
	json_decref(rec);
	check_ok(cps_sink_allow_avro(rs->root, &v,
	                             "national_id, name,gender,birth_date,registration_region_code,"
	                             "residence_region_code,has_residence_permit,disabled,"
	                             "seriously_ill,labour_capacity,deceased",
	                             err, sizeof(err)),
	         err);
	rec = cps_record_to_json(rs, &v, err, sizeof(err));
	assert_non_null(rec);
	assert_true(json_is_null(json_object_get(rec, "phone")));
	assert_true(json_is_null(json_object_get(rec, "residence_address")));
	assert_string_equal(json_string_value(json_object_get(rec, "name")), "Zhang");
	json_decref(rec);
	/* ... and a non-nullable one outside it stops the record */
	assert_int_equal(cps_sink_allow_avro(rs->root, &v, "national_id,phone", err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "'name'"));
	/* SQL targets: the other fields are left out, strings escaped */
	rec = person("440300199001011234", "Zh\"a\\ng\n\x01", "13800000000");
	v = typed_person(rs, rec, &arena);
	json_decref(rec);
	text =
	    plain_text_sorted(rs->root, &v, "national_id,name,birth_date,phone,residence_address");
	assert_string_equal(text,
	                    "{\"birth_date\":\"1990-01-01\",\"name\":\"Zh\\\"a\\\\ng\\n\\u0001\","
	                    "\"national_id\":\"440300199001011234\",\"phone\":\"13800000000\","
	                    "\"residence_address\":\"Futian\"}");
	free(text);
	/* a union branch named with the namespace its enum inherits from the record */
	rec = person("440300199001011234", "Zhang", "13800000000");
	json_object_set_new(rec, "disability_grade",
	                    json_pack("{s:s}", "cpsync.DisabilityGrade", "GRADE_2"));
	v = typed_person(rs, rec, &arena);
	text = plain_text_sorted(rs->root, &v, "national_id,disability_grade");
	assert_string_equal(text, "{\"disability_grade\":\"GRADE_2\","
	                          "\"national_id\":\"440300199001011234\"}");
	free(text);
	/* the demo's Avro JSON form gives the same */
	plain = cps_sink_plain_json(schema->json, schema->json, rec, err, sizeof(err));
	assert_non_null(plain);
	assert_string_equal(json_string_value(json_object_get(plain, "disability_grade")),
	                    "GRADE_2");
	json_decref(plain);
	json_decref(rec);
	cps_record_schema_free(rs);
	/* logical types: timestamp, decimal (negative, scaled), bytes, enum,
	 * arrays, a double; the typed text and the demo's Avro JSON form agree */
	t = json_loads("{\"type\":\"record\",\"name\":\"T\",\"fields\":["
	               "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":"
	               "\"timestamp-millis\"}},"
	               "{\"name\":\"amt\",\"type\":[\"null\",{\"type\":\"bytes\",\"logicalType\":"
	               "\"decimal\",\"precision\":12,\"scale\":2}]},"
	               "{\"name\":\"neg\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
	               "\"precision\":12,\"scale\":2}},"
	               "{\"name\":\"raw\",\"type\":\"bytes\"},"
	               "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":"
	               "[\"A\"]}},"
	               "{\"name\":\"again\",\"type\":\"E\"},"
	               "{\"name\":\"d\",\"type\":\"double\"},"
	               "{\"name\":\"list\",\"type\":{\"type\":\"array\",\"items\":[\"null\","
	               "\"int\"]}}]}",
	               0, NULL);
	/* 123456 = 0x01E240 -> 1234.56; -5 = 0xFB -> -0.05 */
	rec =
	    json_loads("{\"ts\":1709281800250,\"amt\":{\"bytes\":\"\\u0001\\u00e2\\u0040\"},"
	               "\"neg\":\"\\u00fb\",\"raw\":\"\\u0000\\u00ff\",\"e\":\"A\",\"again\":\"A\","
	               "\"d\":0.1,\"list\":[{\"int\":1},null]}",
	               JSON_ALLOW_NUL, NULL);
	assert_non_null(t);
	assert_non_null(rec);
	check_ok(cps_schema_from_json(t, &tschema, err, sizeof(err)), err);
	check_ok(cps_record_schema_new(tschema, &rs, err, sizeof(err)), err);
	v = typed_person(rs, rec, &arena);
	text = plain_text_sorted(rs->root, &v, "ts,amt,neg,raw,e,again,d,list");
	assert_string_equal(text,
	                    "{\"again\":\"A\",\"amt\":\"1234.56\",\"d\":0.10000000000000001,"
	                    "\"e\":\"A\",\"list\":[1,null],\"neg\":\"-0.05\",\"raw\":\"\\\\x00ff\","
	                    "\"ts\":\"2024-03-01T08:30:00.250Z\"}");
	plain = cps_sink_plain_json(t, t, rec, err, sizeof(err));
	assert_non_null(plain);
	old = json_dumps(plain, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(old, text);
	free(old);
	free(text);
	json_decref(plain);
	json_decref(rec);
	cps_record_schema_free(rs);
	cps_schema_free(tschema);
	json_decref(t);
	cps_arena_release(&arena);
	assert_int_equal(cps_sink_format_for("kafka"), CPS_SINK_FORMAT_FRAMED);
	assert_int_equal(cps_sink_format_for("files"), CPS_SINK_FORMAT_RAW);
	assert_int_equal(cps_sink_format_for("postgres"), CPS_SINK_FORMAT_JSON);
}

/* ---- the province's Kafka sink -------------------------------------------- */

/* Produces `ev` (taken) written with `schema`, single-object framed. */
static void produce_written(rd_kafka_t *rk, const char *topic, struct cps_schema *schema,
                            json_t *ev)
{
	struct cps_codec *codec;
	struct cps_buf buf;
	char err[CPS_ERRSTR_SIZE];
	const char *key = json_string_value(json_object_get(ev, "key"));

	assert_non_null(schema);
	check_ok(cps_codec_new(schema, NULL, &codec, err, sizeof(err)), err);
	check_ok(cps_value_from_json(ev, cps_codec_value(codec), err, sizeof(err)), err);
	cps_buf_init(&buf, 0);
	check_ok(cps_codec_encode_framed(codec, CPS_FRAMING_SINGLE_OBJECT, 0,
	                                 cps_codec_value(codec), &buf, err, sizeof(err)),
	         err);
	assert_int_equal(
	    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, strlen(key)),
	                      RD_KAFKA_V_VALUE(buf.data, buf.len),
	                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
	    0);
	cps_buf_release(&buf);
	cps_codec_free(codec);
	json_decref(ev);
}

static void produce_event(rd_kafka_t *rk, const char *topic, const char *schema_name, json_t *ev)
{
	produce_written(rk, topic, cps_catalog_by_name(catalog, schema_name), ev);
}

static void sql_ok(PGconn *db, const char *sql)
{
	PGresult *res = PQexec(db, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	PQclear(res);
}

static struct cps_sink_runner *start_runner(struct cps_broker *broker,
                                            const struct cps_settings *kprops)
{
	struct cps_settings s;
	struct cps_sink_runner_conf rc = {0};
	struct cps_sink_runner *r = NULL;
	char err[CPS_ERRSTR_SIZE];

	cps_settings_init(&s);
	cps_settings_set(&s, "entity.person.topic", "province.inbound.person");
	cps_settings_set(&s, "allow.person",
	                 "national_id,name,gender,birth_date,registration_region_code,"
	                 "residence_region_code,has_residence_permit,disabled,seriously_ill,"
	                 "labour_capacity,deceased");
	rc.platform = "province";
	rc.ops = cps_connector_find("kafka");
	rc.settings = &s;
	rc.bootstrap = cps_broker_bootstrap(broker);
	rc.kafka_props = kprops;
	rc.catalog = catalog;
	rc.store_conninfo = testdb.conninfo;
	rc.poll_ms = 100;
	check_ok(cps_sink_runner_start(&rc, &r, err, sizeof(err)), err);
	cps_settings_release(&s);
	return r;
}

/* Until n events were consumed and `sent` of them delivered and committed. */
static void wait_consumed(struct cps_sink_runner *r, uint64_t n, uint64_t sent)
{
	struct cps_sink_stats st;
	int64_t end = now_ms() + 60000;

	do {
		cps_sink_runner_stats(r, &st);
		if (st.consumed >= n && st.sent >= sent)
			return;
		usleep(100 * 1000);
	} while (now_ms() < end);
	fail_msg("consumed %llu of %llu unified events", (unsigned long long)st.consumed,
	         (unsigned long long)n);
}

static void test_province_kafka_sink(void **state)
{
	const char *topics[] = {"cpsync.unified.person", "cpsync.unified.household",
	                        "province.inbound.person"};
	const char *p[CPS_ARRAY_SIZE(person_fields)];
	struct cps_broker *broker;
	struct cps_sink_runner *r;
	struct cps_sink_stats st;
	struct cps_settings kprops;
	struct cps_codec *codec;
	char err[CPS_ERRSTR_SIZE], group[64];
	rd_kafka_conf_t *conf;
	rd_kafka_t *prod, *cons;
	rd_kafka_topic_partition_list_t *l;
	PGconn *db = PQconnectdb(testdb.conninfo);
	const char *got[8];
	long got_version[8];
	int n_got = 0;
	size_t key_len[8];
	int64_t end;
	char long_key[301];

	(void)state;
	memset(long_key, 'k', 300);
	memcpy(long_key, "K3", 2);
	long_key[300] = '\0';
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	check_ok(cps_connector_register_builtins(err, sizeof(err)), err);
	check_ok(cps_broker_start(1, topics, 3, &broker, err, sizeof(err)), err);
	cps_settings_init(&kprops);
	cps_settings_set(&kprops, "kafka.consumer.session.timeout.ms", "6000");
	cps_settings_set(&kprops, "kafka.consumer.heartbeat.interval.ms", "500");

	/* the store's change log is not read: the events say what changed */
	sql_ok(db, "INSERT INTO cpsync.changes (entity, key, version, op, provenance, "
	           "changed_fields) VALUES ('person', 'K1', 2, 'upsert', '{}', '{name}')");

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", cps_broker_bootstrap(broker), err,
	                  sizeof(err));
	prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(prod);
	/* K1 v1: the city's new person -> sent */
	all(p, "CITY");
	produce_event(prod, topics[0], "cpsync.unified.PersonEvent",
	              changing(event("K1", 1, "City Name", "13800000001", p),
	                       "[\"national_id\", \"name\", \"phone\"]"));
	/* K1 v2: only the province's phone changed -> an echo for the province
	 * (the change log's row above says otherwise: it is not asked) */
	p[field_index("phone")] = "PROVINCE";
	produce_event(prod, topics[0], "cpsync.unified.PersonEvent",
	              changing(event("K1", 2, "City Name", "13800000002", p), "[\"phone\"]"));
	/* K2 v1, written by an older cpsync (person_event.v1, no changed_fields):
	 * all from the province -> the province holds it all, an echo */
	all(p, "PROVINCE");
	{
		json_t *old = event("K2", 1, "Province Name", "13800000003", p);

		json_object_del(old, "changed_fields");
		json_object_del(old, "prior_platforms");
		assert_true(cps_catalog_by_id(catalog, 8)->writer_only);
		produce_written(prod, topics[0], cps_catalog_by_id(catalog, 8), old);
	}
	/* K3… v1: a steward settled the gender -> sent, its key of 300 bytes
	 * whole (the key length is not bounded where the key is accepted) */
	p[field_index("gender")] = NULL;
	produce_event(prod, topics[0], "cpsync.unified.PersonEvent",
	              changing(event(long_key, 1, "Steward Case", NULL, p), "[\"gender\"]"));
	/* K1 v3: the city renamed -> sent */
	all(p, "CITY");
	p[field_index("phone")] = "PROVINCE";
	produce_event(prod, topics[0], "cpsync.unified.PersonEvent",
	              changing(event("K1", 3, "City Renamed", "13800000002", p), "[\"name\"]"));
	/* a household change: the province's allow-list has no household */
	assert_int_equal(rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(topics[1]),
	                                   RD_KAFKA_V_VALUE("x", 1), RD_KAFKA_V_END),
	                 0);
	assert_int_equal(rd_kafka_flush(prod, 10000), 0);
	rd_kafka_destroy(prod);

	r = start_runner(broker, &kprops);
	wait_consumed(r, 5, 3);
	usleep(300 * 1000);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.consumed, 5); /* never the household topic */
	assert_int_equal(st.echoes, 2);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.undecodable, 0);
	assert_int_equal(st.failures, 0);
	cps_sink_runner_stop(r);

	/* what the province received: decoded as cpsync.Person */
	check_ok(
	    cps_codec_new(cps_catalog_by_entity(catalog, "person"), NULL, &codec, err, sizeof(err)),
	    err);
	conf = rd_kafka_conf_new();
	snprintf(group, sizeof(group), "reader-%ld", (long)getpid());
	rd_kafka_conf_set(conf, "bootstrap.servers", cps_broker_bootstrap(broker), err,
	                  sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
	rd_kafka_conf_set(conf, "session.timeout.ms", "6000", err, sizeof(err));
	cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	assert_non_null(cons);
	rd_kafka_poll_set_consumer(cons);
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topics[2], RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(cons, l), 0);
	rd_kafka_topic_partition_list_destroy(l);
	for (end = now_ms() + 30000; now_ms() < end && n_got < 3;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
		rd_kafka_headers_t *hdrs = NULL;
		const void *hv;
		size_t hlen;
		json_t *rec;
		char version[16];

		if (!m)
			continue;
		if (m->err) {
			rd_kafka_message_destroy(m);
			continue;
		}
		assert_true(n_got < 8);
		check_ok(cps_codec_decode_framed(codec, CPS_FRAMING_SINGLE_OBJECT, catalog, NULL,
		                                 m->payload, m->len, err, sizeof(err)),
		         err);
		rec = cps_value_to_json(cps_codec_value(codec), err, sizeof(err));
		assert_non_null(rec);
		/* outside the allow-list: never there */
		assert_true(json_is_null(json_object_get(rec, "phone")));
		assert_true(json_is_null(json_object_get(rec, "residence_address")));
		got[n_got] =
		    json_string_value(json_object_get(rec, "name")) &&
		            !strcmp(json_string_value(json_object_get(rec, "name")), "City Renamed")
		        ? "City Renamed"
		    : strcmp(json_string_value(json_object_get(rec, "national_id")), long_key) == 0
		        ? "K3"
		        : "K1";
		assert_int_equal(rd_kafka_message_headers(m, &hdrs), 0);
		assert_int_equal(
		    rd_kafka_header_get_last(hdrs, CPS_SINK_HEADER_VERSION, &hv, &hlen), 0);
		snprintf(version, sizeof(version), "%.*s", (int)hlen, (const char *)hv);
		got_version[n_got] = atol(version);
		assert_int_equal(rd_kafka_header_get_last(hdrs, "cpsync-origin", &hv, &hlen), 0);
		assert_memory_equal(hv, CPS_SINK_ORIGIN, hlen);
		key_len[n_got] = m->key_len;
		json_decref(rec);
		rd_kafka_message_destroy(m);
		n_got++;
	}
	assert_int_equal(n_got, 3);
	assert_string_equal(got[0], "K1");
	assert_int_equal(got_version[0], 1);
	assert_string_equal(got[1], "K3");
	assert_int_equal(got_version[1], 1);
	assert_string_equal(got[2], "City Renamed");
	assert_int_equal(got_version[2], 3);
	assert_int_equal(key_len[0], 2);
	assert_int_equal(key_len[1], 300);
	assert_int_equal(key_len[2], 2);
	/* the version guard noted the long key whole */
	{
		PGresult *res = PQexec(db, "SELECT key, version FROM cpsync.sink_versions "
		                           "WHERE entity = 'person' ORDER BY key");

		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_int_equal(PQntuples(res), 2);
		assert_string_equal(PQgetvalue(res, 0, 0), "K1");
		assert_string_equal(PQgetvalue(res, 0, 1), "3");
		assert_string_equal(PQgetvalue(res, 1, 0), long_key);
		assert_string_equal(PQgetvalue(res, 1, 1), "1");
		PQclear(res);
	}
	/* nothing more: the echoes never came */
	for (end = now_ms() + 1500; now_ms() < end;) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);

		if (m && !m->err)
			fail_msg("an unexpected record on the province's topic");
		if (m)
			rd_kafka_message_destroy(m);
	}

	/* a restart resumes after the committed offsets: nothing again */
	r = start_runner(broker, &kprops);
	usleep(8000 * 1000);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.consumed, 0);
	assert_int_equal(st.sent, 0);
	cps_sink_runner_stop(r);

	rd_kafka_consumer_close(cons);
	rd_kafka_destroy(cons);
	cps_codec_free(codec);
	cps_settings_release(&kprops);
	cps_broker_stop(broker);
	PQfinish(db);
}

static void test_bad_settings(void **state)
{
	const char *topics[] = {"cpsync.unified.person"};
	struct cps_broker *broker;
	struct cps_sink_runner_conf rc = {0};
	struct cps_sink_runner *r = NULL;
	struct cps_settings s;
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	check_ok(cps_connector_register_builtins(err, sizeof(err)), err);
	check_ok(cps_broker_start(1, topics, 1, &broker, err, sizeof(err)), err);
	cps_settings_init(&s);
	cps_settings_set(&s, "entity.person.topic", "x");
	rc.platform = "province";
	rc.ops = cps_connector_find("kafka");
	rc.settings = &s;
	rc.bootstrap = cps_broker_bootstrap(broker);
	rc.catalog = catalog;
	/* no allow-list: nothing would be sent */
	assert_int_not_equal(cps_sink_runner_start(&rc, &r, err, sizeof(err)), CPS_OK);
	assert_non_null(strstr(err, "allow"));
	cps_settings_set(&s, "allow.citizen", "name");
	assert_int_not_equal(cps_sink_runner_start(&rc, &r, err, sizeof(err)), CPS_OK);
	assert_non_null(strstr(err, "allow.citizen"));
	cps_settings_release(&s);
	cps_settings_init(&s);
	cps_settings_set(&s, "allow.person", "name");
	cps_settings_set(&s, "framing", "xml");
	assert_int_not_equal(cps_sink_runner_start(&rc, &r, err, sizeof(err)), CPS_OK);
	assert_non_null(strstr(err, "framing"));
	/* the connector's own validation names the unknown key */
	cps_settings_set(&s, "framing", "confluent");
	cps_settings_set(&s, "no_such_key", "1");
	assert_int_not_equal(cps_sink_runner_start(&rc, &r, err, sizeof(err)), CPS_OK);
	assert_non_null(strstr(err, "no_such_key"));
	assert_null(r);
	cps_settings_release(&s);
	cps_broker_stop(broker);
}

static int group_setup(void **state)
{
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	if (cps_catalog_load_dir(dir ? dir : CPSYNC_SOURCE_DIR "/schemas", &catalog, err,
	                         sizeof(err)) != CPS_OK) {
		fprintf(stderr, "catalog: %s\n", err);
		return -1;
	}
	if (cps_testdb_create(&testdb, "cps_sink_runner", -1) != 0 ||
	    cps_testdb_migrate(&testdb) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cps_testdb_drop(&testdb);
	cps_catalog_free(catalog);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_echo_rule),
	    cmocka_unit_test(test_allow_list_and_plain_json),
	    cmocka_unit_test(test_bad_settings),
	    cmocka_unit_test(test_province_kafka_sink),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
