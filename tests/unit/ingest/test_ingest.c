/*
 * The source runner end to end, nothing of cpsync mocked: a Kafka source
 * (connectors/kafka/kafka.c) on the embedded broker over TCP fed with valid person
 * records (single-object framing), undecodable bytes, a truncated record, an
 * invalid national ID, a bad region code, a message of an unmapped topic and
 * a tombstone; the runner in its thread with a real PostgreSQL store. Checks
 * the ingest topic (each valid one exactly once, as the right IngestEvent),
 * cpsync.dead_letters and the dead-letter topic (raw bytes, origin, specific
 * reason), the committed source offsets and the link figures: nothing is
 * committed to the source until the store has applied the ingest events (the
 * test plays the reconcile workers by writing cpsync.ingest_offsets). A second
 * test breaks the ingest topic's produce path and checks that nothing is
 * committed until deliveries succeed again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec/avro_json.h"
#include "kafka/broker.h"
#include "codec/codec.h"
#include "connectors/connector.h"
#include "model/event.h"
#include "ingest/ingest.h"
#include "base/pii.h"
#include "observe/status.h"
#include "store/store.h"
#include "testdb.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SRC       "cpsync.test.province.person"
#define UNMAPPED  "cpsync.test.province.misc"
#define INGEST    "cpsync.test.ingest"
#define DLQ       "cpsync.test.dead_letters"
#define SRC2      "cpsync.test.province.person2"
#define INGEST2   "cpsync.test.ingest2"
#define TS0       1600000000000LL
#define EFFECTIVE 1700000000000LL
#define N_DEAD    6 /* the end-to-end test's dead letters */

extern const struct cps_connector_ops cps_kafka_connector;

/* The runner of the test under way: stopped by teardown when an assertion
 * left it running (the catalog must outlive it). */
static struct cps_ingest *active_runner;

struct fixture {
	struct cps_broker *broker;
	rd_kafka_t *producer;
	struct cps_catalog *catalog;
	struct cps_codec *person;
	struct cps_testdb db;
};

/* One message as sent or as read back. */
struct msg {
	uint8_t *key, *value;
	size_t key_len, value_len;
	int64_t ts;
	char hdr_reason[600], hdr_origin[400], hdr_platform[64], hdr_entity[64];
	int has_entity;
};

static void msg_release(struct msg *m)
{
	free(m->key);
	free(m->value);
	memset(m, 0, sizeof(*m));
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- setup: broker, catalog, database ------------------------------------ */

static int setup(void **state)
{
	static struct fixture f;
	const char *topics[] = {SRC, UNMAPPED, INGEST, DLQ, SRC2, INGEST2};
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	char err[CPS_ERRSTR_SIZE], why[512];
	rd_kafka_conf_t *conf;

	if (!dir)
		dir = CPSYNC_SOURCE_DIR "/schemas";
	if (cps_testdb_create(&f.db, "cps_ingest", -1) != 0 || cps_testdb_migrate(&f.db) != 0)
		return -1;
	if (cps_broker_start(1, topics, CPS_ARRAY_SIZE(topics), &f.broker, err, sizeof(err)) !=
	        CPS_OK ||
	    cps_catalog_load_dir(dir, &f.catalog, err, sizeof(err)) != CPS_OK ||
	    cps_codec_new(cps_catalog_by_entity(f.catalog, "person"), NULL, &f.person, err,
	                  sizeof(err)) != CPS_OK) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	conf = cps_kafka_conf_new(cps_broker_bootstrap(f.broker), NULL, err, sizeof(err));
	f.producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!f.producer) {
		fprintf(stderr, "producer: %s\n", why);
		return -1;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f) /* the set-up failed and said why */
		return 0;
	cps_ingest_stop_and_join(active_runner);
	rd_kafka_destroy(f->producer);
	cps_codec_free(f->person);
	cps_catalog_free(f->catalog);
	cps_broker_stop(f->broker);
	cps_testdb_drop(&f->db);
	return 0;
}

/* ---- feeding the source ---------------------------------------------------- */

/* A person record in single-object framing; *expected gets its Avro JSON. */
static void person_frame(struct fixture *f, const char *id, const char *region, struct cps_buf *out,
                         json_t **expected)
{
	struct cps_schema *s = cps_codec_schema(f->person);
	avro_value_t *v = cps_codec_value(f->person);
	char err[CPS_ERRSTR_SIZE];
	json_t *in =
	    json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s}}", "national_id", id, "name", "张三",
	              "gender", "MALE", "birth_date", 7305, "registration_region_code", region,
	              "residence_region_code", "440305", "phone", "string", "13812345678");

	avro_value_reset(v);
	if (cps_value_from_json_defaults(s->json, in, v, err, sizeof(err)) != CPS_OK)
		fail_msg("from json: %s", err);
	json_decref(in);
	cps_buf_init(out, 0);
	if (cps_codec_encode_framed(f->person, CPS_FRAMING_SINGLE_OBJECT, 0, v, out, err,
	                            sizeof(err)) != CPS_OK)
		fail_msg("encode: %s", err);
	if (expected) {
		*expected = cps_value_to_json(v, err, sizeof(err));
		assert_non_null(*expected);
	}
}

static int64_t send_msg(struct fixture *f, const char *topic, const char *key, const void *value,
                        size_t value_len, int64_t ts, const char *effective)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(1);
	rd_kafka_resp_err_t err;

	if (effective)
		rd_kafka_header_add(h, "effective_time", -1, effective, -1);
	err = rd_kafka_producev(f->producer, RD_KAFKA_V_TOPIC(topic),
	                        RD_KAFKA_V_KEY((void *)key, key ? strlen(key) : 0),
	                        RD_KAFKA_V_VALUE((void *)value, value_len),
	                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts),
	                        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
	assert_int_equal(err, 0);
	assert_int_equal(rd_kafka_flush(f->producer, 10000), 0);
	return ts;
}

/* ---- reading back ----------------------------------------------------------- */

static void header_text(rd_kafka_headers_t *h, const char *name, char *out, size_t size, int *found)
{
	const void *v;
	size_t n;

	out[0] = '\0';
	if (found)
		*found = 0;
	if (!h || rd_kafka_header_get_last(h, name, &v, &n) != 0)
		return;
	snprintf(out, size, "%.*s", (int)n, (const char *)v);
	if (found)
		*found = 1;
}

/* Every message of partition 0 of `topic`, from the beginning to the end. */
static size_t consume_all(struct fixture *f, const char *topic, struct msg *out, size_t max)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	char err[CPS_ERRSTR_SIZE], why[512];
	rd_kafka_conf_t *conf =
	    cps_kafka_conf_new(cps_broker_bootstrap(f->broker), NULL, err, sizeof(err));
	int64_t deadline = mono_ms() + 20000;
	rd_kafka_t *rk;
	size_t n = 0;

	cps_kafka_conf_set(conf, "group.id", "ingest-test-verifier", err, sizeof(err));
	cps_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err));
	cps_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	assert_non_null(rk);
	rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	assert_int_equal(rd_kafka_assign(rk, parts), 0);
	rd_kafka_topic_partition_list_destroy(parts);
	while (mono_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		rd_kafka_headers_t *h = NULL;

		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			rd_kafka_message_destroy(m);
			break;
		}
		assert_int_equal(m->err, 0);
		assert_true(n < max);
		memset(&out[n], 0, sizeof(out[n]));
		out[n].key_len = m->key_len;
		out[n].key = malloc(m->key_len + 1);
		if (m->key_len)
			memcpy(out[n].key, m->key, m->key_len);
		out[n].key[m->key_len] = 0;
		out[n].value_len = m->len;
		out[n].value = malloc(m->len + 1);
		if (m->len)
			memcpy(out[n].value, m->payload, m->len);
		rd_kafka_message_headers(m, &h);
		header_text(h, "cpsync-reason", out[n].hdr_reason, sizeof(out[n].hdr_reason), NULL);
		header_text(h, "cpsync-origin", out[n].hdr_origin, sizeof(out[n].hdr_origin), NULL);
		header_text(h, "cpsync-platform", out[n].hdr_platform, sizeof(out[n].hdr_platform),
		            NULL);
		header_text(h, "cpsync-entity", out[n].hdr_entity, sizeof(out[n].hdr_entity),
		            &out[n].has_entity);
		n++;
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return n;
}

/* The committed offset of partition 0 of `topic` in `group` (-1001 when none). */
static int64_t committed(struct fixture *f, const char *group, const char *topic)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	char err[CPS_ERRSTR_SIZE], why[512];
	rd_kafka_conf_t *conf =
	    cps_kafka_conf_new(cps_broker_bootstrap(f->broker), NULL, err, sizeof(err));
	rd_kafka_t *rk;
	int64_t off;

	cps_kafka_conf_set(conf, "group.id", group, err, sizeof(err));
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	assert_non_null(rk);
	rd_kafka_topic_partition_list_add(parts, topic, 0);
	assert_int_equal(rd_kafka_committed(rk, parts, 10000), 0);
	off = parts->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
	return off;
}

static struct cps_conn *open_source(struct fixture *f, const char *group, const char *topics,
                                    const char *mapped)
{
	struct cps_settings s;
	struct cps_conn *c = NULL;
	char err[CPS_ERRSTR_SIZE], key[128];

	cps_settings_init(&s);
	cps_settings_set(&s, "brokers", cps_broker_bootstrap(f->broker));
	cps_settings_set(&s, "group_id", group);
	cps_settings_set(&s, "topics", topics);
	snprintf(key, sizeof(key), "topic.%s.entity", mapped);
	cps_settings_set(&s, key, "person");
	if (cps_connector_source_open(&cps_kafka_connector, "province", &s, &c, err, sizeof(err)) !=
	    CPS_OK)
		fail_msg("source open: %s", err);
	cps_settings_release(&s);
	return c;
}

static void wait_for(struct cps_ingest *r, int64_t accepted, int64_t dead)
{
	int64_t deadline = mono_ms() + 40000;
	struct cps_ingest_stats st;

	do {
		cps_ingest_get_stats(r, &st);
		if (st.accepted >= accepted && st.dead_letters >= dead)
			return;
		usleep(50 * 1000);
	} while (mono_ms() < deadline);
	fail_msg("runner reached accepted=%lld dead=%lld, want %lld and %lld",
	         (long long)st.accepted, (long long)st.dead_letters, (long long)accepted,
	         (long long)dead);
}

/* Plays the reconcile workers: the store has applied everything now on
 * every partition of `topic` (its next offsets are the high watermarks). */
static void store_applied_all(struct fixture *f, const char *topic)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(f->producer, topic, NULL);
	PGconn *db = PQconnectdb(f->db.conninfo);

	assert_int_equal(PQstatus(db), CONNECTION_OK);
	assert_int_equal(rd_kafka_metadata(f->producer, 0, rkt, &md, 10000), 0);
	assert_int_equal(md->topic_cnt, 1);
	for (int p = 0; p < md->topics[0].partition_cnt; p++) {
		char part[16], next[24];
		const char *params[3] = {topic, part, next};
		int64_t lo, hi;
		PGresult *res;

		assert_int_equal(
		    rd_kafka_query_watermark_offsets(f->producer, topic, p, &lo, &hi, 10000), 0);
		snprintf(part, sizeof(part), "%d", p);
		snprintf(next, sizeof(next), "%lld", (long long)hi);
		res = PQexecParams(
		    db,
		    "INSERT INTO cpsync.ingest_offsets (topic, partition, next_offset) "
		    "VALUES ($1, $2, $3) ON CONFLICT (topic, partition) DO UPDATE "
		    "SET next_offset = EXCLUDED.next_offset",
		    3, NULL, params, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
		PQclear(res);
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	PQfinish(db);
}

/* ---- the end-to-end test ------------------------------------------------------ */

struct expect_dead {
	const char *topic;
	int64_t offset;
	const char *key;
	struct cps_buf raw;
	const char *reason_part; /* a specific part of the reason */
	int has_entity;
};

static void test_runner_end_to_end(void **state)
{
	struct fixture *f = *state;
	char id_a[19], id_b[19], id_c[19], id_bad[19], group[64], err[CPS_ERRSTR_SIZE];
	struct cps_buf a, b, c, bad, badregion;
	json_t *exp_a, *exp_b, *exp_c;
	struct expect_dead dead[N_DEAD];
	struct cps_status *status;
	struct cps_link *link;
	struct cps_event_codec *ec;
	struct cps_ingest *runner;
	struct msg got[16];
	size_t n;

	assert_int_equal(cps_national_id_make("440305", 1990, 1, 1, 123, id_a), CPS_OK);
	assert_int_equal(cps_national_id_make("441521", 1985, 6, 30, 64, id_b), CPS_OK);
	assert_int_equal(cps_national_id_make("440307", 2001, 12, 31, 7, id_c), CPS_OK);
	memcpy(id_bad, id_a, sizeof(id_bad));
	id_bad[17] = id_bad[17] == '0' ? '1' : '0';
	person_frame(f, id_a, "440305", &a, &exp_a);
	person_frame(f, id_b, "441521", &b, &exp_b);
	person_frame(f, id_c, "440307", &c, &exp_c);
	person_frame(f, id_bad, "440305", &bad, NULL);
	person_frame(f, id_c, "44030", &badregion, NULL);

	/* SRC offsets 0..8, UNMAPPED offset 0 */
	send_msg(f, SRC, id_a, a.data, a.len, TS0, "1700000000000");
	memset(dead, 0, sizeof(dead));
	dead[0] = (struct expect_dead){
	    SRC, 1, "k-garbage", {0}, "undecodable person record: not Avro single-object encoding",
	    1};
	cps_buf_init(&dead[0].raw, 0);
	cps_buf_append(&dead[0].raw, "\x00\x01not avro at all", 17);
	send_msg(f, SRC, "k-garbage", dead[0].raw.data, dead[0].raw.len, TS0 + 1000, NULL);
	dead[1] = (struct expect_dead){SRC, 2, NULL, {0}, "exceeds remaining", 1};
	cps_buf_init(&dead[1].raw, 0);
	cps_buf_append(&dead[1].raw, b.data, b.len - 7);
	send_msg(f, SRC, NULL, dead[1].raw.data, dead[1].raw.len, TS0 + 2000, NULL);
	send_msg(f, SRC, id_b, b.data, b.len, TS0 + 3000, NULL);
	dead[2] = (struct expect_dead){SRC,
	                               4,
	                               "k-bad",
	                               {0},
	                               "field 'person.national_id': national id check character "
	                               "is wrong",
	                               1};
	cps_buf_init(&dead[2].raw, 0);
	cps_buf_append(&dead[2].raw, bad.data, bad.len);
	send_msg(f, SRC, "k-bad", bad.data, bad.len, TS0 + 4000, NULL);
	send_msg(f, SRC, id_a, NULL, 0, TS0 + 5000, NULL); /* tombstone */
	dead[3] = (struct expect_dead){
	    SRC, 6, NULL, {0}, "field 'person.registration_region_code' is not a 6-digit", 1};
	cps_buf_init(&dead[3].raw, 0);
	cps_buf_append(&dead[3].raw, badregion.data, badregion.len);
	send_msg(f, SRC, NULL, badregion.data, badregion.len, TS0 + 6000, NULL);
	send_msg(f, SRC, id_c, c.data, c.len, TS0 + 7000, NULL);
	dead[4] = (struct expect_dead){UNMAPPED, 0, "k-unmapped", {0}, "unknown entity", 0};
	cps_buf_init(&dead[4].raw, 0);
	cps_buf_append(&dead[4].raw, a.data, a.len);
	send_msg(f, UNMAPPED, "k-unmapped", a.data, a.len, TS0 + 8000, NULL);
	/* an empty value (not a null one): dead-lettered, c is not deleted */
	dead[5] = (struct expect_dead){
	    SRC, 8, id_c, {0}, "empty value: neither a record nor a delete", 1};
	cps_buf_init(&dead[5].raw, 0);
	send_msg(f, SRC, id_c, "", 0, TS0 + 9000, NULL);

	assert_int_equal(cps_status_new("test", &status), CPS_OK);
	link = cps_status_add_link(status, "province-source", "province", "kafka", CPS_LINK_SOURCE);
	assert_non_null(link);
	snprintf(group, sizeof(group), "ingest-e2e-%ld", (long)getpid());
	{
		struct cps_ingest_conf conf = {
		    .platform = "province",
		    .source = open_source(f, group, SRC "," UNMAPPED, SRC),
		    .framing = CPS_FRAMING_SINGLE_OBJECT,
		    .catalog = f->catalog,
		    .ingest_topic = INGEST,
		    .dead_letter_topic = DLQ,
		    .dead_letter_raw = true, /* the raw bytes on the topic too: checked below */
		    .bootstrap = cps_broker_bootstrap(f->broker),
		    .store_conninfo = f->db.conninfo,
		    .batch_max = 3,
		    .link = link,
		    .status = status,
		};

		if (cps_ingest_start(&conf, &runner, err, sizeof(err)) != CPS_OK)
			fail_msg("start: %s", err);
		active_runner = runner;
	}
	wait_for(runner, 4, N_DEAD);
	{
		struct cps_ingest_stats st;

		cps_ingest_get_stats(runner, &st);
		assert_int_equal(st.accepted, 4);
		assert_int_equal(st.dead_letters, N_DEAD);
		assert_int_equal(st.errors, 0);
	}
	assert_int_equal(atomic_load(&link->state), CPS_LINK_RUNNING);
	/* the ingest topic has them, the store not yet: the source keeps SRC's
	 * positions (its first batch holds person a, an ingest event). UNMAPPED's
	 * lone dead letter may be committed already when it came in a batch of
	 * its own: nothing of it waits for the store. */
	usleep(300 * 1000);
	assert_int_equal(committed(f, group, SRC), RD_KAFKA_OFFSET_INVALID);
	/* the store applies them: the source commits SRC's positions */
	store_applied_all(f, INGEST);
	{
		int64_t deadline = mono_ms() + 10000;
		int64_t off;

		while ((off = committed(f, group, SRC)) == RD_KAFKA_OFFSET_INVALID &&
		       mono_ms() < deadline)
			usleep(50 * 1000);
		assert_true(off > 0);
	}
	cps_ingest_stop_and_join(runner);
	active_runner = NULL;
	assert_int_equal(atomic_load(&link->state), CPS_LINK_STOPPED);
	assert_int_equal(atomic_load(&link->records), 4);
	assert_int_equal(atomic_load(&link->dead_letters), N_DEAD);
	assert_int_equal(atomic_load(&link->errors), 0);
	assert_true(atomic_load(&link->last_success_ms) > 0);
	assert_int_equal(atomic_load(&link->newest_effective_ms), EFFECTIVE);

	/* the source's committed offsets cover everything */
	assert_int_equal(committed(f, group, SRC), 9);
	assert_int_equal(committed(f, group, UNMAPPED), 1);

	/* the ingest topic: each valid one exactly once, in order */
	assert_int_equal(cps_event_codec_new(f->catalog, &ec, err, sizeof(err)), CPS_OK);
	n = consume_all(f, INGEST, got, 16);
	assert_int_equal(n, 4);
	{
		const struct {
			const char *id;
			enum cps_op op;
			int64_t effective, source, offset;
			json_t *record;
		} want[4] = {
		    {id_a, CPS_OP_UPSERT, EFFECTIVE, TS0, 0, exp_a},
		    {id_b, CPS_OP_UPSERT, TS0 + 3000, TS0 + 3000, 3, exp_b},
		    {id_a, CPS_OP_DELETE, TS0 + 5000, TS0 + 5000, 5, NULL},
		    {id_c, CPS_OP_UPSERT, TS0 + 7000, TS0 + 7000, 7, exp_c},
		};

		for (size_t i = 0; i < 4; i++) {
			struct cps_ingest_event ev;
			char key[64], pos[128];

			if (cps_ingest_event_decode(ec, got[i].value, got[i].value_len, &ev, err,
			                            sizeof(err)) != CPS_OK)
				fail_msg("decode %zu: %s", i, err);
			snprintf(key, sizeof(key), "person/%s", want[i].id);
			assert_string_equal((char *)got[i].key, key);
			assert_string_equal(ev.platform, "province");
			assert_string_equal(ev.entity, "person");
			assert_string_equal(ev.key, want[i].id);
			assert_int_equal(ev.op, want[i].op);
			assert_int_equal(ev.effective_ms, want[i].effective);
			assert_int_equal(ev.source_ms, want[i].source);
			snprintf(pos, sizeof(pos), "province:%s/0@%lld", SRC,
			         (long long)want[i].offset);
			assert_string_equal(ev.source_position, pos);
			if (want[i].record)
				assert_true(json_equal(ev.record, want[i].record));
			else
				assert_null(ev.record);
			cps_ingest_event_release(&ev);
			msg_release(&got[i]);
		}
	}

	/* the dead letters in PostgreSQL: raw bytes, key, origin, specific reason */
	{
		PGconn *db = PQconnectdb(f->db.conninfo);
		PGresult *res;
		char origin[128];
		int seen[N_DEAD] = {0};

		assert_int_equal(PQstatus(db), CONNECTION_OK);
		res = PQexecParams(db,
		                   "SELECT origin, reason, coalesce(entity, ''), raw, raw_key, "
		                   "platform, raw_key IS NULL FROM cpsync.dead_letters ORDER BY id",
		                   0, NULL, NULL, NULL, NULL, 1);
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_int_equal(PQntuples(res), N_DEAD);
		n = consume_all(f, DLQ, got, 16);
		assert_int_equal(n, N_DEAD);
		/* the two topics are fetched side by side: match by origin */
		for (int row = 0; row < N_DEAD; row++) {
			/* binary text columns are not NUL-terminated: copy them */
			char reason[600], entity[32], platform[32], db_origin[128];
			struct msg *t = NULL;
			int i;

			snprintf(db_origin, sizeof(db_origin), "%.*s", PQgetlength(res, row, 0),
			         PQgetvalue(res, row, 0));
			snprintf(reason, sizeof(reason), "%.*s", PQgetlength(res, row, 1),
			         PQgetvalue(res, row, 1));
			snprintf(entity, sizeof(entity), "%.*s", PQgetlength(res, row, 2),
			         PQgetvalue(res, row, 2));
			snprintf(platform, sizeof(platform), "%.*s", PQgetlength(res, row, 5),
			         PQgetvalue(res, row, 5));
			print_message("dead letter %s: %s\n", db_origin, reason);
			for (i = 0; i < N_DEAD; i++) {
				snprintf(origin, sizeof(origin), "province:%s/0@%lld",
				         dead[i].topic, (long long)dead[i].offset);
				if (!strcmp(origin, db_origin))
					break;
			}
			if (i == N_DEAD)
				fail_msg("unexpected dead letter at '%s'", db_origin);
			assert_false(seen[i]);
			seen[i] = 1;
			assert_non_null(strstr(reason, dead[i].reason_part));
			assert_null(strstr(reason, id_bad)); /* never the value */
			assert_string_equal(entity, dead[i].has_entity ? "person" : "");
			assert_string_equal(platform, "province");
			assert_int_equal(PQgetlength(res, row, 3), dead[i].raw.len);
			assert_memory_equal(PQgetvalue(res, row, 3), dead[i].raw.data,
			                    dead[i].raw.len);
			if (dead[i].key) {
				assert_int_equal(PQgetlength(res, row, 4), strlen(dead[i].key));
				assert_memory_equal(PQgetvalue(res, row, 4), dead[i].key,
				                    strlen(dead[i].key));
			} else {
				assert_int_equal(PQgetvalue(res, row, 6)[0], 1); /* NULL key */
			}
			/* the same on the dead-letter topic */
			for (size_t j = 0; j < n && !t; j++)
				if (!strcmp(got[j].hdr_origin, db_origin))
					t = &got[j];
			assert_non_null(t);
			assert_int_equal(t->value_len, dead[i].raw.len);
			assert_memory_equal(t->value, dead[i].raw.data, dead[i].raw.len);
			assert_int_equal(t->key_len, dead[i].key ? strlen(dead[i].key) : 0);
			if (dead[i].key)
				assert_memory_equal(t->key, dead[i].key, t->key_len);
			assert_string_equal(t->hdr_reason, reason);
			assert_string_equal(t->hdr_platform, "province");
			assert_int_equal(t->has_entity, dead[i].has_entity);
			if (dead[i].has_entity)
				assert_string_equal(t->hdr_entity, "person");
		}
		for (size_t j = 0; j < n; j++)
			msg_release(&got[j]);
		for (int i = 0; i < N_DEAD; i++)
			cps_buf_release(&dead[i].raw);
		PQclear(res);
		PQfinish(db);
	}
	cps_event_codec_free(ec);
	cps_status_free(status);
	json_decref(exp_a);
	json_decref(exp_b);
	json_decref(exp_c);
	cps_buf_release(&a);
	cps_buf_release(&b);
	cps_buf_release(&c);
	cps_buf_release(&bad);
	cps_buf_release(&badregion);
}

/* ---- produce failures: no commit until every delivery succeeds ---------------- */

static void test_produce_failure_no_commit(void **state)
{
	struct fixture *f = *state;
	char id_a[19], id_b[19], group[64], err[CPS_ERRSTR_SIZE];
	rd_kafka_resp_err_t errs[400];
	struct cps_ingest_stats st;
	struct cps_status *status;
	struct cps_link *link;
	struct cps_event_codec *ec;
	struct cps_ingest *runner;
	struct cps_buf a, b;
	struct msg got[16];
	int seen_a = 0, seen_b = 0;
	int64_t deadline;
	size_t n;

	assert_int_equal(cps_national_id_make("440305", 1970, 5, 5, 11, id_a), CPS_OK);
	assert_int_equal(cps_national_id_make("440306", 1975, 7, 7, 22, id_b), CPS_OK);
	person_frame(f, id_a, "440305", &a, NULL);
	person_frame(f, id_b, "440306", &b, NULL);
	send_msg(f, SRC2, id_a, a.data, a.len, TS0, NULL);
	send_msg(f, SRC2, id_b, b.data, b.len, TS0 + 1, NULL);
	/* every produce request fails from now on, until cleared */
	for (size_t i = 0; i < CPS_ARRAY_SIZE(errs); i++)
		errs[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
	rd_kafka_mock_push_request_errors_array(cps_broker_mock(f->broker), 0 /* Produce */,
	                                        CPS_ARRAY_SIZE(errs), errs);

	assert_int_equal(cps_status_new("test", &status), CPS_OK);
	link = cps_status_add_link(status, "province-source", "province", "kafka", CPS_LINK_SOURCE);
	snprintf(group, sizeof(group), "ingest-fail-%ld", (long)getpid());
	{
		struct cps_ingest_conf conf = {
		    .platform = "province",
		    .source = open_source(f, group, SRC2, SRC2),
		    .framing = CPS_FRAMING_SINGLE_OBJECT,
		    .catalog = f->catalog,
		    .ingest_topic = INGEST2,
		    .bootstrap = cps_broker_bootstrap(f->broker),
		    .store_conninfo = f->db.conninfo,
		    .batch_max = 10,
		    .flush_timeout_ms = 5000,
		    .backoff_max_ms = 200,
		    .link = link,
		    .status = status,
		};

		if (cps_ingest_start(&conf, &runner, err, sizeof(err)) != CPS_OK)
			fail_msg("start: %s", err);
		active_runner = runner;
	}
	/* failing: errors counted, link FAILED with a reason, nothing committed */
	deadline = mono_ms() + 30000;
	do {
		usleep(50 * 1000);
		cps_ingest_get_stats(runner, &st);
	} while (st.errors < 3 && mono_ms() < deadline);
	assert_true(st.errors >= 3);
	assert_int_equal(st.accepted, 0);
	assert_int_equal(st.commits, 0);
	assert_int_equal(atomic_load(&link->state), CPS_LINK_FAILED);
	assert_true(atomic_load(&link->errors) >= 3);
	print_message("last error: %s\n", link->last_error);
	assert_non_null(strstr(link->last_error, "Topic authorization failed"));
	assert_null(strstr(link->last_error, id_a));
	assert_int_equal(committed(f, group, SRC2), RD_KAFKA_OFFSET_INVALID);

	/* the broker recovers: the same batch goes through and is committed */
	rd_kafka_mock_clear_request_errors(cps_broker_mock(f->broker), 0);
	wait_for(runner, 2, 0);
	cps_ingest_get_stats(runner, &st);
	assert_int_equal(st.accepted, 2);
	store_applied_all(f, INGEST2); /* what the workers would do */
	deadline = mono_ms() + 5000;
	while (atomic_load(&link->state) != CPS_LINK_RUNNING && mono_ms() < deadline)
		usleep(20 * 1000);
	assert_int_equal(atomic_load(&link->state), CPS_LINK_RUNNING);
	cps_ingest_stop_and_join(runner);
	active_runner = NULL;
	assert_int_equal(committed(f, group, SRC2), 2);

	/* each record at least once (a failed attempt may have landed some) */
	assert_int_equal(cps_event_codec_new(f->catalog, &ec, err, sizeof(err)), CPS_OK);
	n = consume_all(f, INGEST2, got, 16);
	assert_true(n >= 2);
	for (size_t i = 0; i < n; i++) {
		struct cps_ingest_event ev;

		assert_int_equal(cps_ingest_event_decode(ec, got[i].value, got[i].value_len, &ev,
		                                         err, sizeof(err)),
		                 CPS_OK);
		seen_a += !strcmp(ev.key, id_a);
		seen_b += !strcmp(ev.key, id_b);
		cps_ingest_event_release(&ev);
		msg_release(&got[i]);
	}
	assert_true(seen_a >= 1 && seen_b >= 1);
	cps_event_codec_free(ec);
	cps_status_free(status);
	cps_buf_release(&a);
	cps_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runner_end_to_end),
	    cmocka_unit_test(test_produce_failure_no_commit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
