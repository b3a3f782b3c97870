/*
 * Sinks that never block and never go backwards (issue 11), on the embedded
 * broker with a real store ($CPSYNC_TEST_PG): the province's Kafka sink
 * frames Confluent messages with the registry's ids (tests/fixtures/
 * registry.py), a poison record is dead-lettered after bounded retries while
 * the records after it go through, and an older version is never written.
 */
#include "kafka/broker.h"
#include "base/buf.h"
#include "codec/avro_json.h"
#include "codec/codec.h"
#include "codec/framing.h"
#include "codec/registry.h"
#include "codec/schema.h"
#include "connectors/connector.h"
#include "observe/status.h"
#include "sink/sink_runner.h"
#include "testdb.h"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

static struct cps_testdb testdb;
static const char allow_person[] =
    "national_id,name,gender,birth_date,registration_region_code,residence_region_code,"
    "has_residence_permit,disabled,seriously_ill,labour_capacity,deceased";

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

static struct cps_catalog *load_catalog(void)
{
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	struct cps_catalog *c = NULL;
	char err[CPS_ERRSTR_SIZE];

	check_ok(
	    cps_catalog_load_dir(dir ? dir : CPSYNC_SOURCE_DIR "/schemas", &c, err, sizeof(err)),
	    err);
	return c;
}

/* A unified person event, every field from the city. */
static json_t *event(const char *id, long version, const char *name)
{
	static const char *const fields[] = {"national_id", "name", "gender", "birth_date"};
	json_t *rec = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:n,s:b,s:b,s:n,s:b,s:s,s:n,s:n,s:b}",
	                        "national_id", id, "name", name, "gender", "FEMALE", "birth_date",
	                        7305, "registration_region_code", "440304", "residence_region_code",
	                        "440304", "residence_address", "has_residence_permit", 1,
	                        "disabled", 0, "disability_grade", "seriously_ill", 0,
	                        "labour_capacity", "FULL", "phone", "household_id", "deceased", 0);
	json_t *provs = json_array();

	for (size_t i = 0; i < CPS_ARRAY_SIZE(fields); i++)
		json_array_append_new(
		    provs,
		    json_pack("{s:s,s:o,s:o,s:I,s:I,s:s,s:i,s:n,s:n,s:n,s:n}", "field", fields[i],
		              "platform", json_pack("{s:s}", "cpsync.Platform", "CITY"),
		              "source_position", json_pack("{s:s}", "string", "pos"),
		              "effective_time", (json_int_t)1700000000000, "source_time",
		              (json_int_t)1700000000000, "rule", "precedence", "rule_version", 1,
		              "conflict_id", "steward", "decided_at", "reason"));
	return json_pack("{s:s,s:s,s:I,s:s,s:I,s:{s:o},s:o}", "entity", "PERSON", "key", id,
	                 "version", (json_int_t)version, "operation", "UPSERT", "event_time",
	                 (json_int_t)1700000001000, "record", "cpsync.Person", rec, "provenance",
	                 provs);
}

/* The unified event's bytes as the publisher frames them (single-object). */
static void encode_event(struct cps_catalog *catalog, json_t *ev, struct cps_buf *out)
{
	struct cps_schema *schema = cps_catalog_by_name(catalog, "cpsync.unified.PersonEvent");
	struct cps_codec *codec;
	char err[CPS_ERRSTR_SIZE];

	assert_non_null(schema);
	check_ok(cps_codec_new(schema, NULL, &codec, err, sizeof(err)), err);
	check_ok(cps_value_from_json_defaults(schema->json, ev, cps_codec_value(codec), err,
	                                      sizeof(err)),
	         err);
	cps_buf_init(out, 0);
	check_ok(cps_codec_encode_framed(codec, CPS_FRAMING_SINGLE_OBJECT, 0,
	                                 cps_codec_value(codec), out, err, sizeof(err)),
	         err);
	cps_codec_free(codec);
}

static void produce_raw(rd_kafka_t *rk, const char *key, const void *value, size_t len)
{
	assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("cpsync.unified.person"),
	                                   RD_KAFKA_V_KEY((void *)key, strlen(key)),
	                                   RD_KAFKA_V_VALUE((void *)value, len),
	                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                                   RD_KAFKA_V_END),
	                 0);
}

/* Produces the events to cpsync.unified.person in order (a NULL event: a
 * message "not an event" with key "D9"); takes the references. */
static void produce_events(struct cps_broker *broker, struct cps_catalog *catalog, json_t **evs,
                           size_t n)
{
	char err[CPS_ERRSTR_SIZE];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	rd_kafka_conf_set(conf, "bootstrap.servers", cps_broker_bootstrap(broker), err,
	                  sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	assert_non_null(rk);
	for (size_t i = 0; i < n; i++) {
		struct cps_buf b;

		if (!evs[i]) {
			produce_raw(rk, "D9", "not an event", 12);
			continue;
		}
		encode_event(catalog, evs[i], &b);
		produce_raw(rk, json_string_value(json_object_get(evs[i], "key")), b.data, b.len);
		cps_buf_release(&b);
		json_decref(evs[i]);
	}
	assert_int_equal(rd_kafka_flush(rk, 10000), 0);
	rd_kafka_destroy(rk);
}

/* A consumed message, copied (a message outliving its consumer would hang
 * rd_kafka_destroy). */
struct got {
	uint8_t payload[4096];
	size_t len;
	char key[64];
	long version; /* cpsync-version header */
};

static void got_copy(struct got *g, const rd_kafka_message_t *m)
{
	rd_kafka_headers_t *hdrs = NULL;
	const void *hv;
	size_t hlen;
	char v[24] = "";

	assert_true(m->len <= sizeof(g->payload));
	memcpy(g->payload, m->payload, m->len);
	g->len = m->len;
	snprintf(g->key, sizeof(g->key), "%.*s", (int)m->key_len, (const char *)m->key);
	if (rd_kafka_message_headers(m, &hdrs) == 0 &&
	    rd_kafka_header_get_last(hdrs, "cpsync-version", &hv, &hlen) == 0)
		snprintf(v, sizeof(v), "%.*s", (int)hlen, (const char *)hv);
	g->version = atol(v);
}

/* Up to `max` messages of `topic` within `wait_ms` (after the first, 1.5 s of
 * silence ends it). */
static size_t consume(struct cps_broker *broker, const char *topic, struct got *out, size_t max,
                      int wait_ms)
{
	char err[CPS_ERRSTR_SIZE], group[64];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_t *c;
	size_t n = 0;
	int64_t end = now_ms() + wait_ms;

	snprintf(group, sizeof(group), "reader-%ld-%lld", (long)getpid(), (long long)now_ms());
	rd_kafka_conf_set(conf, "bootstrap.servers", cps_broker_bootstrap(broker), err,
	                  sizeof(err));
	rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err));
	rd_kafka_conf_set(conf, "session.timeout.ms", "6000", err, sizeof(err));
	c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	assert_non_null(c);
	rd_kafka_poll_set_consumer(c);
	l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
	assert_int_equal(rd_kafka_subscribe(c, l), 0);
	rd_kafka_topic_partition_list_destroy(l);
	while (n < max && now_ms() < end) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);

		if (!m)
			continue;
		if (m->err) {
			rd_kafka_message_destroy(m);
			continue;
		}
		got_copy(&out[n++], m);
		rd_kafka_message_destroy(m);
		end = now_ms() + 1500;
	}
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	return n;
}

struct runner_opts {
	const char *topic;
	const char *framing;
	const char *max_bytes; /* properties.message.max.bytes, or NULL */
	const char *flush_ms;  /* the sink's flush_ms, or NULL */
	struct cps_registry *registry;
	struct cps_catalog *catalog;
	struct cps_link *link;
};

static struct cps_sink_runner *start_runner(struct cps_broker *broker, const struct runner_opts *o)
{
	struct cps_settings s, kprops;
	struct cps_sink_runner_conf rc = {0};
	struct cps_sink_runner *r = NULL;
	char err[CPS_ERRSTR_SIZE], key[128];

	cps_settings_init(&s);
	cps_settings_init(&kprops);
	cps_settings_set(&kprops, "kafka.consumer.session.timeout.ms", "6000");
	cps_settings_set(&kprops, "kafka.consumer.heartbeat.interval.ms", "500");
	snprintf(key, sizeof(key), "entity.person.topic");
	cps_settings_set(&s, key, o->topic);
	cps_settings_set(&s, "allow.person", allow_person);
	if (o->framing)
		cps_settings_set(&s, "framing", o->framing);
	if (o->max_bytes)
		cps_settings_set(&s, "properties.message.max.bytes", o->max_bytes);
	if (o->flush_ms)
		cps_settings_set(&s, "flush_ms", o->flush_ms);
	rc.platform = "province";
	rc.ops = cps_connector_find("kafka");
	rc.settings = &s;
	rc.bootstrap = cps_broker_bootstrap(broker);
	rc.kafka_props = &kprops;
	rc.catalog = o->catalog;
	rc.registry = o->registry;
	rc.store_conninfo = testdb.conninfo;
	rc.link = o->link;
	rc.poll_ms = 100;
	rc.retry_attempts = 2;
	rc.retry_backoff_ms = 20;
	rc.retry_backoff_max_ms = 100;
	check_ok(cps_sink_runner_start(&rc, &r, err, sizeof(err)), err);
	cps_settings_release(&s);
	cps_settings_release(&kprops);
	return r;
}

/* Until n events were consumed and `settled` of them sent or dead-lettered. */
static void wait_settled(struct cps_sink_runner *r, uint64_t n, uint64_t settled)
{
	struct cps_sink_stats st;
	int64_t end = now_ms() + 60000;

	do {
		cps_sink_runner_stats(r, &st);
		if (st.consumed >= n && st.sent + st.dead_letters + st.superseded >= settled)
			return;
		usleep(100 * 1000);
	} while (now_ms() < end);
	fail_msg("consumed %llu of %llu, sent %llu, dead letters %llu, superseded %llu",
	         (unsigned long long)st.consumed, (unsigned long long)n,
	         (unsigned long long)st.sent, (unsigned long long)st.dead_letters,
	         (unsigned long long)st.superseded);
}

/* ---- registry ids ----------------------------------------------------------- */

struct fixture {
	pid_t pid;
	char url[64];
};
static struct fixture fx; /* stopped by the group teardown too */

/* Spawns tests/fixtures/registry.py and reads its port. */
static void fixture_start(struct fixture *f)
{
	const char *py = getenv("CPSYNC_PYTHON3");
	const char *dir = getenv("CPSYNC_SOURCE_DIR");
	char script[4096], line[32] = "";
	char *argv[3];
	posix_spawn_file_actions_t fa;
	int pipefd[2];
	FILE *in;

	if (!py || !*py)
		py = "python3";
	snprintf(script, sizeof(script), "%s/tests/fixtures/registry.py",
	         dir && *dir ? dir : CPSYNC_SOURCE_DIR);
	argv[0] = (char *)py;
	argv[1] = script;
	argv[2] = NULL;
	assert_int_equal(pipe(pipefd), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	posix_spawn_file_actions_addclose(&fa, pipefd[1]);
	assert_int_equal(posix_spawnp(&f->pid, py, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	in = fdopen(pipefd[0], "r");
	assert_non_null(in);
	assert_non_null(fgets(line, sizeof(line), in));
	fclose(in);
	assert_true(atoi(line) > 0);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", atoi(line));
}

static void fixture_stop(struct fixture *f)
{
	int status;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	waitpid(f->pid, &status, 0);
	f->pid = 0;
}

/* With a registry, a Confluent frame carries the registry's id of the record
 * schema under "<topic>-value", not the id of schemas/schema-ids.json. */
static void test_registry_ids(void **state)
{
	const char *topics[] = {"cpsync.unified.person", "province.reg.person"};
	struct cps_catalog *catalog = load_catalog(), *probe_catalog = load_catalog();
	struct cps_registry_conf rconf = {0};
	struct cps_registry *reg, *probe;
	struct cps_broker *broker;
	struct cps_sink_runner *r;
	static struct got got[4];
	char err[CPS_ERRSTR_SIZE];
	json_t *evs[1];
	int32_t other_id = 0, want = 0, framed;
	int32_t manifest_id = cps_catalog_by_name(catalog, "cpsync.Person")->id;
	size_t n;

	(void)state;
	fixture_start(&fx);
	rconf.url = fx.url;
	check_ok(cps_registry_new(&rconf, catalog, &reg, err, sizeof(err)), err);
	check_ok(cps_registry_new(&rconf, probe_catalog, &probe, err, sizeof(err)), err);
	/* another schema first: the registry's ids differ from the manifest's */
	check_ok(cps_registry_id_for(probe, "other-value",
	                             cps_catalog_by_name(probe_catalog, "cpsync.Household"),
	                             &other_id, err, sizeof(err)),
	         err);
	check_ok(cps_connector_register_builtins(err, sizeof(err)), err);
	check_ok(cps_broker_start(1, topics, 2, &broker, err, sizeof(err)), err);
	evs[0] = event("K1", 1, "City Name");
	produce_events(broker, catalog, evs, 1);
	r = start_runner(broker, &(struct runner_opts){.topic = topics[1],
	                                               .framing = "confluent",
	                                               .registry = reg,
	                                               .catalog = catalog});
	wait_settled(r, 1, 1);
	cps_sink_runner_stop(r);
	n = consume(broker, topics[1], got, 4, 30000);
	assert_int_equal(n, 1);
	check_ok(cps_registry_id_for(probe, "province.reg.person-value",
	                             cps_catalog_by_name(probe_catalog, "cpsync.Person"), &want,
	                             err, sizeof(err)),
	         err);
	assert_true(got[0].len > 5);
	assert_int_equal(got[0].payload[0], 0);
	framed = (int32_t)((uint32_t)got[0].payload[1] << 24 | (uint32_t)got[0].payload[2] << 16 |
	                   (uint32_t)got[0].payload[3] << 8 | (uint32_t)got[0].payload[4]);
	assert_int_not_equal(want, manifest_id);
	assert_int_equal(framed, want);
	cps_broker_stop(broker);
	cps_registry_free(reg);
	cps_registry_free(probe);
	cps_catalog_free(catalog);
	cps_catalog_free(probe_catalog);
	fixture_stop(&fx);
}

/* ---- dead letters ------------------------------------------------------------ */

/* One text value of a query on the test database ("" for NULL). */
static void query1(const char *sql, char *out, size_t size)
{
	PGconn *db = PQconnectdb(testdb.conninfo);
	PGresult *res = PQexec(db, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		fail_msg("%s: %s (%d rows)", sql, PQerrorMessage(db), PQntuples(res));
	snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(db);
}

/* A record the Kafka target refuses for good (larger than the sink's
 * message.max.bytes) and an event that is no unified event: both go to the
 * store's dead letters as the sink's, the records after them go through,
 * the offsets move past them, and a replay re-delivers a stored event. */
static void test_dead_letters(void **state)
{
	const char *topics[] = {"cpsync.unified.person", "province.dl.person"};
	struct cps_catalog *catalog = load_catalog();
	static struct got got[8];
	struct cps_broker *broker;
	struct cps_sink_runner *r;
	struct cps_sink_stats st;
	struct cps_status *status;
	struct cps_link *link;
	struct cps_buf poison, good;
	char err[CPS_ERRSTR_SIZE], reason[CPS_ERRSTR_SIZE], big[2001], v[600];
	json_t *evs[4];
	size_t n;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	check_ok(cps_connector_register_builtins(err, sizeof(err)), err);
	check_ok(cps_broker_start(1, topics, 2, &broker, err, sizeof(err)), err);
	assert_int_equal(cps_status_new("test", &status), 0);
	link = cps_status_add_link(status, "province-sink", "province", "kafka", CPS_LINK_SINK);
	evs[0] = event("D1", 1, "One");
	evs[1] = NULL; /* D9: not an event */
	evs[2] = event("D3", 1, "Three");
	evs[3] = event("D2", 1, big); /* last: the sink is closed after it */
	encode_event(catalog, evs[3], &poison);
	produce_events(broker, catalog, evs, 4);
	r = start_runner(
	    broker, &(struct runner_opts){
	                .topic = topics[1], .max_bytes = "1000", .catalog = catalog, .link = link});
	wait_settled(r, 4, 4);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.dead_letters, 2);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.undecodable, 1);
	assert_int_equal(st.retries, 2); /* retry_attempts */
	assert_int_equal(atomic_load(&link->dead_letters), 2);
	assert_int_equal(atomic_load(&link->dropped[CPS_DROP_REFUSED]), 1);
	assert_int_equal(atomic_load(&link->dropped[CPS_DROP_UNDECODABLE]), 1);
	cps_sink_runner_stop(r);

	/* the records after the poison went through, in order */
	n = consume(broker, topics[1], got, 8, 30000);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].key, "D1");
	assert_string_equal(got[1].key, "D3");

	/* the dead letters: the sink's, with link, key, version and raw bytes */
	query1("SELECT string_agg(concat_ws('|', kind, link, platform, entity, version, "
	       "convert_from(raw_key, 'UTF8')), ',' ORDER BY raw_key) FROM cpsync.dead_letters",
	       v, sizeof(v));
	assert_string_equal(v, "sink|province-sink|province|person|1|D2,"
	                       "sink|province-sink|province|person|D9");
	query1("SELECT reason FROM cpsync.dead_letters WHERE raw_key = 'D2'", v, sizeof(v));
	assert_non_null(strstr(v, "too large"));
	/* raw = the unified event's bytes as consumed */
	{
		static char sql[16384];
		int at = snprintf(sql, sizeof(sql), "SELECT raw = '\\x");

		for (size_t i = 0; i < poison.len; i++)
			at += snprintf(sql + at, sizeof(sql) - (size_t)at, "%02x",
			               ((const uint8_t *)poison.data)[i]);
		snprintf(sql + at, sizeof(sql) - (size_t)at,
		         "'::bytea AND origin LIKE 'sink:%%' FROM cpsync.dead_letters "
		         "WHERE raw_key = 'D2'");
		query1(sql, v, sizeof(v));
	}
	assert_string_equal(v, "t");

	/* a restart resumes past the dead letters; a replay of the poison is
	 * refused again, a replay of a good event is delivered */
	r = start_runner(
	    broker, &(struct runner_opts){
	                .topic = topics[1], .max_bytes = "1000", .catalog = catalog, .link = link});
	assert_int_equal(cps_sink_runner_replay(r, "person", poison.data, poison.len, reason,
	                                        sizeof(reason), err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(reason, "too large"));
	evs[0] = event("D4", 1, "Four");
	encode_event(catalog, evs[0], &good);
	json_decref(evs[0]);
	check_ok(cps_sink_runner_replay(r, "person", good.data, good.len, reason, sizeof(reason),
	                                err, sizeof(err)),
	         err);
	assert_int_equal(cps_sink_runner_replay(r, "person", (const uint8_t *)"junk", 4, reason,
	                                        sizeof(reason), err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(reason, "undecodable"));
	usleep(1500 * 1000);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.consumed, 0);
	assert_int_equal(st.sent, 1);
	cps_sink_runner_stop(r);
	n = consume(broker, topics[1], got, 8, 30000);
	assert_int_equal(n, 3);
	assert_string_equal(got[2].key, "D4");

	cps_buf_release(&poison);
	cps_buf_release(&good);
	cps_broker_stop(broker);
	cps_status_free(status);
	cps_catalog_free(catalog);
}

/* ---- version guard ----------------------------------------------------------- */

/* The Kafka sink never writes a version of a key older than or equal to one
 * it wrote, within a poll, across polls (put and not yet flushed, too) and
 * across a restart (the store's cpsync.sink_versions). */
static void test_version_guard(void **state)
{
	const char *topics[] = {"cpsync.unified.person", "province.vg.person"};
	struct cps_catalog *catalog = load_catalog();
	static struct got got[8];
	struct cps_broker *broker;
	struct cps_sink_runner *r;
	struct cps_sink_stats st;
	struct cps_status *status;
	struct cps_link *link;
	char err[CPS_ERRSTR_SIZE], v[64];
	json_t *evs[4];
	size_t n;

	(void)state;
	check_ok(cps_connector_register_builtins(err, sizeof(err)), err);
	check_ok(cps_broker_start(1, topics, 2, &broker, err, sizeof(err)), err);
	assert_int_equal(cps_status_new("test", &status), 0);
	link = cps_status_add_link(status, "province-sink", "province", "kafka", CPS_LINK_SINK);
	evs[0] = event("G1", 2, "Newer");
	evs[1] = event("G1", 1, "Older");
	evs[2] = event("G2", 1, "Once");
	evs[3] = event("G2", 1, "Once");
	produce_events(broker, catalog, evs, 4);
	r = start_runner(
	    broker, &(struct runner_opts){.topic = topics[1], .catalog = catalog, .link = link});
	wait_settled(r, 4, 4);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.superseded, 2);
	cps_sink_runner_stop(r);
	query1("SELECT version FROM cpsync.sink_versions WHERE link = 'province-sink' "
	       "AND entity = 'person' AND key = 'G1'",
	       v, sizeof(v));
	assert_string_equal(v, "2");

	/* after a restart: G1 v2 again (a re-publish) is refused, v3 is sent */
	evs[0] = event("G1", 2, "Newer");
	evs[1] = event("G1", 3, "Newest");
	produce_events(broker, catalog, evs, 2);
	r = start_runner(
	    broker, &(struct runner_opts){.topic = topics[1], .catalog = catalog, .link = link});
	wait_settled(r, 2, 2);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.superseded, 1);
	cps_sink_runner_stop(r);
	assert_int_equal(atomic_load(&link->dropped[CPS_DROP_SUPERSEDED]), 3);

	/* versions put and not flushed yet (an hour's flush_ms) guard the
	 * polls after them: G3 v2, then in a later poll G3 v1 and v2 again */
	r = start_runner(broker, &(struct runner_opts){.topic = topics[1],
	                                               .catalog = catalog,
	                                               .link = link,
	                                               .flush_ms = "3600000"});
	evs[0] = event("G3", 2, "Put");
	produce_events(broker, catalog, evs, 1);
	wait_settled(r, 1, 0); /* consumed and put: "sent" counts at a flush */
	evs[0] = event("G3", 1, "Older");
	evs[1] = event("G3", 2, "Put");
	produce_events(broker, catalog, evs, 2);
	wait_settled(r, 3, 2);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.superseded, 2);
	cps_sink_runner_stop(r); /* delivers what was put */

	n = consume(broker, topics[1], got, 8, 30000);
	assert_int_equal(n, 4);
	assert_string_equal(got[0].key, "G1");
	assert_int_equal(got[0].version, 2);
	assert_string_equal(got[1].key, "G2");
	assert_int_equal(got[1].version, 1);
	assert_string_equal(got[2].key, "G1");
	assert_int_equal(got[2].version, 3);
	assert_string_equal(got[3].key, "G3");
	assert_int_equal(got[3].version, 2);

	cps_broker_stop(broker);
	cps_status_free(status);
	cps_catalog_free(catalog);
}

/* The city's PostgreSQL sink: a row the target's CHECK constraint refuses
 * is a dead letter after the retries, the rows after it are written. */
static void test_pg_refusal(void **state)
{
	const char *topics[] = {"cpsync.unified.person"};
	struct cps_catalog *catalog = load_catalog();
	struct cps_sink_runner_conf rc = {0};
	struct cps_settings s;
	struct cps_broker *broker;
	struct cps_sink_runner *r;
	struct cps_sink_stats st;
	char err[CPS_ERRSTR_SIZE], v[600], origin[64];
	json_t *evs[3];

	(void)state;
	assert_int_equal(cps_testdb_exec(testdb.conninfo, "CREATE SCHEMA town"), 0);
	assert_int_equal(
	    cps_testdb_exec(testdb.conninfo,
	                    "CREATE TABLE town.person (national_id text PRIMARY KEY, name text "
	                    "CHECK (name <> 'Refused'), gender text, birth_date date, "
	                    "cpsync_version bigint NOT NULL)"),
	    0);
	check_ok(cps_connector_register_builtins(err, sizeof(err)), err);
	check_ok(cps_broker_start(1, topics, 1, &broker, err, sizeof(err)), err);
	evs[0] = event("T1", 1, "Good");
	evs[1] = event("T2", 1, "Refused");
	evs[2] = event("T3", 1, "Fine");
	produce_events(broker, catalog, evs, 3);
	snprintf(origin, sizeof(origin), "cps_poison_%ld", (long)getpid());
	cps_settings_init(&s);
	cps_settings_set(&s, "conninfo", testdb.conninfo);
	cps_settings_set(&s, "table.person", "town.person");
	cps_settings_set(&s, "key_column", "national_id");
	cps_settings_set(&s, "origin", origin);
	cps_settings_set(&s, "allow.person", "national_id,name,gender,birth_date");
	rc.platform = "town";
	rc.ops = cps_connector_find("postgres");
	rc.settings = &s;
	rc.bootstrap = cps_broker_bootstrap(broker);
	rc.catalog = catalog;
	rc.store_conninfo = testdb.conninfo;
	rc.poll_ms = 100;
	rc.retry_attempts = 1;
	rc.retry_backoff_ms = 10;
	check_ok(cps_sink_runner_start(&rc, &r, err, sizeof(err)), err);
	cps_settings_release(&s);
	wait_settled(r, 3, 3);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.dead_letters, 1);
	assert_int_equal(st.retries, 1);
	cps_sink_runner_stop(r);
	query1("SELECT string_agg(national_id || ':' || name, ',' ORDER BY national_id) "
	       "FROM town.person",
	       v, sizeof(v));
	assert_string_equal(v, "T1:Good,T3:Fine");
	query1("SELECT concat_ws('|', kind, link, version, convert_from(raw_key, 'UTF8')) "
	       "FROM cpsync.dead_letters WHERE link = 'town-sink'",
	       v, sizeof(v));
	assert_string_equal(v, "sink|town-sink|1|T2");
	query1("SELECT reason FROM cpsync.dead_letters WHERE link = 'town-sink'", v, sizeof(v));
	assert_non_null(strstr(v, "constraint"));
	assert_null(strstr(v, "Refused")); /* no row values in a reason */
	{
		char drop[128];

		snprintf(drop, sizeof(drop), "SELECT pg_replication_origin_drop('%s')", origin);
		cps_testdb_exec(testdb.conninfo, drop);
	}
	cps_broker_stop(broker);
	cps_catalog_free(catalog);
}

/* The files sink's guard: an older version after a newer one is not
 * written to the outbox. */
static void test_files_guard(void **state)
{
	const char *topics[] = {"cpsync.unified.person"};
	struct cps_catalog *catalog = load_catalog();
	struct cps_sink_runner_conf rc = {0};
	struct cps_settings s;
	struct cps_broker *broker;
	struct cps_sink_runner *r;
	struct cps_sink_stats st;
	char err[CPS_ERRSTR_SIZE], v[64], outbox[] = "/tmp/cps-sink-guard-XXXXXX";
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	json_t *evs[3];

	(void)state;
	assert_non_null(mkdtemp(outbox));
	check_ok(cps_connector_register_builtins(err, sizeof(err)), err);
	check_ok(cps_broker_start(1, topics, 1, &broker, err, sizeof(err)), err);
	evs[0] = event("F1", 2, "Newer");
	evs[1] = event("F1", 1, "Older");
	evs[2] = event("F2", 1, "Other");
	produce_events(broker, catalog, evs, 3);
	cps_settings_init(&s);
	cps_settings_set(&s, "outbox", outbox);
	cps_settings_set(&s, "schema_dir", dir ? dir : CPSYNC_SOURCE_DIR "/schemas");
	cps_settings_set(&s, "allow.person", allow_person);
	rc.platform = "zone";
	rc.ops = cps_connector_find("files");
	rc.settings = &s;
	rc.bootstrap = cps_broker_bootstrap(broker);
	rc.catalog = catalog;
	rc.store_conninfo = testdb.conninfo;
	rc.poll_ms = 100;
	check_ok(cps_sink_runner_start(&rc, &r, err, sizeof(err)), err);
	cps_settings_release(&s);
	wait_settled(r, 3, 3);
	cps_sink_runner_stats(r, &st);
	assert_int_equal(st.sent, 2);
	assert_int_equal(st.superseded, 1);
	cps_sink_runner_stop(r);
	query1("SELECT string_agg(key || ':' || version, ',' ORDER BY key) FROM "
	       "cpsync.sink_versions WHERE link = 'zone-sink'",
	       v, sizeof(v));
	assert_string_equal(v, "F1:2,F2:1");
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", outbox);
		assert_int_equal(system(cmd), 0);
	}
	cps_broker_stop(broker);
	cps_catalog_free(catalog);
}

static int group_setup(void **state)
{
	(void)state;
	if (cps_testdb_create(&testdb, "cps_sink_poison", -1) != 0 ||
	    cps_testdb_migrate(&testdb) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	fixture_stop(&fx);
	cps_testdb_drop(&testdb);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry_ids),  cmocka_unit_test(test_dead_letters),
	    cmocka_unit_test(test_version_guard), cmocka_unit_test(test_pg_refusal),
	    cmocka_unit_test(test_files_guard),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
