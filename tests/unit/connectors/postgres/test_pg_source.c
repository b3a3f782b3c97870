/*
 * The postgres source against the real server (CPSYNC_TEST_PG, a fresh
 * database per test, the slot dropped at the end): snapshot + streaming
 * yields each row exactly once (with inserts during the snapshot), updates,
 * deletes as tombstones, DDL mid-stream, unchanged TOAST merged, a killed
 * walsender resumed without loss, confirmed_flush_lsn advancing only with
 * commits, an idle database whose slot keeps up, the polling mode (its
 * progress durable once committed, soft deletes as deletes), a mapped
 * effective-time column and the TRUNCATE policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec/avro_json.h"
#include "codec/codec.h"
#include "connectors/connector.h"
#include "connectors/postgres/pgoutput.h"
#include "codec/schema.h"
#include "testdb.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern const struct cps_connector_ops cps_postgres_connector;

#define MAX_KEYS 512

struct fixture {
	struct cps_testdb db;
	char slot[64], slot_sql[256];
	PGconn *c;
	struct cps_catalog *catalog;
	struct cps_codec *codec;
	struct cps_settings settings;
};

/* What the source produced per key. */
struct seen {
	int upserts[MAX_KEYS], deletes[MAX_KEYS];
	char name[MAX_KEYS][32];
	char phone[MAX_KEYS][32];
	size_t addr_len[MAX_KEYS];
	struct cps_position last;
	size_t n;
};

static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

static char *query1(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	v = strdup(PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static uint64_t query_lsn(PGconn *c, const char *sql)
{
	char *v = query1(c, sql);
	uint64_t lsn = 0;

	assert_int_equal(cps_pgo_lsn_parse(v, &lsn), 0);
	free(v);
	return lsn;
}

static int setup(void **state)
{
	static int seq;
	struct fixture *f = calloc(1, sizeof(*f));
	char sql[256], err[CPS_ERRSTR_SIZE];

	if (cps_testdb_create(&f->db, "cps_pgsrc", seq++) != 0)
		return -1;
	/* slots are cluster-wide: one name per test */
	snprintf(f->slot, sizeof(f->slot), "%s_slot", f->db.name);
	snprintf(f->slot_sql, sizeof(f->slot_sql),
	         "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = "
	         "'%s'",
	         f->slot);
	f->c = PQconnectdb(f->db.conninfo);
	if (PQstatus(f->c) != CONNECTION_OK)
		return -1;
	exec_ok(f->c, "CREATE TABLE person (national_id text PRIMARY KEY, name text NOT NULL, "
	              "gender text NOT NULL DEFAULT 'UNKNOWN', birth_date date NOT NULL, "
	              "registration_region_code text NOT NULL, residence_region_code text NOT "
	              "NULL, residence_address text, disabled boolean NOT NULL DEFAULT false, "
	              "updated_at timestamptz NOT NULL DEFAULT now(), id bigserial)");
	exec_ok(f->c, "ALTER TABLE person ALTER COLUMN residence_address SET STORAGE EXTERNAL");
	if (cps_catalog_load_dir(getenv("CPSYNC_SCHEMA_DIR"), &f->catalog, err, sizeof(err)) ||
	    cps_codec_new(cps_catalog_by_entity(f->catalog, "person"), NULL, &f->codec, err,
	                  sizeof(err)))
		return -1;
	cps_settings_init(&f->settings);
	cps_settings_set(&f->settings, "conninfo", f->db.conninfo);
	cps_settings_set(&f->settings, "schema_dir", getenv("CPSYNC_SCHEMA_DIR"));
	cps_settings_set(&f->settings, "slot", f->slot);
	cps_settings_set(&f->settings, "publication", "cps_test_pub");
	cps_settings_set(&f->settings, "table.public.person.entity", "person");
	cps_settings_set(&f->settings, "table.public.person.column.disabled", "disabled");
	cps_settings_set(&f->settings, "status_interval_ms", "200");
	snprintf(sql, sizeof(sql), "%s_origin", f->db.name);
	cps_settings_set(&f->settings, "ignore_origin", sql);
	cps_settings_set(&f->settings, "snapshot_batch", "7");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	PQclear(PQexec(f->c, "SELECT pg_drop_replication_slot(slot_name) FROM "
	                     "pg_replication_slots WHERE database = current_database()"));
	PQfinish(f->c);
	cps_testdb_drop(&f->db);
	cps_codec_free(f->codec);
	cps_catalog_free(f->catalog);
	cps_settings_release(&f->settings);
	free(f);
	return 0;
}

static void insert_people(PGconn *c, int from, int to)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO person (national_id, name, birth_date, registration_region_code, "
	         "residence_region_code) SELECT 'K' || i, 'n' || i, DATE '1980-01-01' + i, "
	         "'440305', '440305' FROM generate_series(%d, %d) i",
	         from, to);
	exec_ok(c, sql);
}

static struct cps_conn *open_source(struct fixture *f)
{
	struct cps_conn *conn = NULL;
	char err[CPS_ERRSTR_SIZE];

	if (cps_connector_source_open(&cps_postgres_connector, "city", &f->settings, &conn, err,
	                              sizeof(err)) != CPS_OK)
		fail_msg("open: %s", err);
	return conn;
}

static void record(struct fixture *f, struct seen *s, const struct cps_source_msg *m)
{
	char key[64], err[CPS_ERRSTR_SIZE];
	int k;
	json_t *j, *v;

	assert_string_equal(m->entity, "person");
	assert_non_null(m->key);
	snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
	assert_int_equal(key[0], 'K');
	k = atoi(key + 1);
	assert_true(k >= 0 && k < MAX_KEYS);
	assert_true(strncmp(m->origin, "city:", 5) == 0);
	if (s->n > 0) /* positions strictly increase within the stream */
		assert_true(m->pos.offset > s->last.offset);
	s->last = m->pos;
	s->n++;
	if (!m->value) {
		s->deletes[k]++;
		return;
	}
	s->upserts[k]++;
	if (cps_codec_decode(f->codec, NULL, m->value, m->value_len, err, sizeof(err)) != CPS_OK)
		fail_msg("decode %s: %s", key, err);
	j = cps_value_to_json(cps_codec_value(f->codec), err, sizeof(err));
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "national_id")), key);
	snprintf(s->name[k], sizeof(s->name[k]), "%s",
	         json_string_value(json_object_get(j, "name")));
	v = json_object_get(j, "phone");
	snprintf(s->phone[k], sizeof(s->phone[k]), "%s",
	         json_is_object(v) ? json_string_value(json_object_get(v, "string")) : "");
	v = json_object_get(j, "residence_address");
	s->addr_len[k] =
	    json_is_object(v) ? strlen(json_string_value(json_object_get(v, "string"))) : 0;
	json_decref(j);
}

/* Polls until `want` more messages came (or 15 s), committing each batch
 * when `commit`. Returns the poll's last rc. */
static int collect(struct fixture *f, struct cps_conn *conn, struct seen *s, size_t want,
                   bool commit)
{
	time_t end = time(NULL) + 15;
	size_t start = s->n;
	char err[CPS_ERRSTR_SIZE];
	int rc = CPS_OK;

	while (s->n - start < want && time(NULL) < end) {
		struct cps_source_batch b;

		rc = cps_source_poll(conn, &b, 50, 200, err, sizeof(err));
		if (rc != CPS_OK)
			return rc;
		for (size_t i = 0; i < b.n; i++)
			record(f, s, &b.msgs[i]);
		if (commit && b.n > 0 &&
		    cps_source_commit(conn, &b.msgs[b.n - 1].pos, 1, err, sizeof(err)) != CPS_OK)
			fail_msg("commit: %s", err);
	}
	return rc;
}

/* One more poll (nothing new is expected: what arrives is recorded), then
 * the last position committed again, so the slot's flush covers every
 * transaction whose messages were seen. */
static void settle(struct fixture *f, struct cps_conn *conn, struct seen *s)
{
	struct cps_source_batch b;
	char err[CPS_ERRSTR_SIZE];

	if (cps_source_poll(conn, &b, 50, 300, err, sizeof(err)) != CPS_OK)
		fail_msg("poll: %s", err);
	for (size_t i = 0; i < b.n; i++)
		record(f, s, &b.msgs[i]);
	if (cps_source_commit(conn, &s->last, 1, err, sizeof(err)) != CPS_OK)
		fail_msg("commit: %s", err);
}

/* Waits (up to 10 s) until no walsender streams the test's slot. */
static void wait_slot_inactive(struct fixture *f)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SELECT 1 FROM pg_replication_slots WHERE slot_name = '%s' AND active", f->slot);
	for (int i = 0; i < 200; i++) {
		PGresult *r = PQexec(f->c, sql);
		bool active = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;

		PQclear(r);
		if (!active)
			return;
		usleep(50 * 1000);
	}
	fail_msg("slot '%s' still active 10 s after the source closed", f->slot);
}

static void test_snapshot_stream_changes(void **state)
{
	struct fixture *f = *state;
	struct seen *s = calloc(1, sizeof(*s));
	struct cps_conn *conn;
	char big[400];

	insert_people(f->c, 0, 99);
	conn = open_source(f);
	/* the slot exists now: rows inserted during the snapshot come by streaming */
	insert_people(f->c, 100, 109);
	assert_int_equal(collect(f, conn, s, 110, true), CPS_OK);
	assert_int_equal(s->n, 110);
	for (int k = 0; k < 110; k++)
		assert_int_equal(s->upserts[k], 1);
	exec_ok(f->c, "UPDATE person SET name = 'renamed' WHERE national_id = 'K5'");
	exec_ok(f->c, "DELETE FROM person WHERE national_id = 'K6'");
	assert_int_equal(collect(f, conn, s, 2, true), CPS_OK);
	assert_int_equal(s->upserts[5], 2);
	assert_string_equal(s->name[5], "renamed");
	assert_int_equal(s->deletes[6], 1);
	/* DDL mid-stream: the new column feeds the schema's field of that name */
	exec_ok(f->c, "ALTER TABLE person ADD COLUMN phone text");
	exec_ok(f->c, "UPDATE person SET phone = '13800000000' WHERE national_id = 'K7'");
	assert_int_equal(collect(f, conn, s, 1, true), CPS_OK);
	assert_string_equal(s->phone[7], "13800000000");
	/* TOAST: a long address, then an update that leaves it unchanged ('u') */
	exec_ok(f->c, "UPDATE person SET residence_address = (SELECT string_agg(md5(i::text), '') "
	              "FROM generate_series(1, 300) i) WHERE national_id = 'K8'");
	exec_ok(f->c, "UPDATE person SET name = 'toasted' WHERE national_id = 'K8'");
	assert_int_equal(collect(f, conn, s, 2, true), CPS_OK);
	assert_string_equal(s->name[8], "toasted");
	assert_int_equal(s->addr_len[8], 300 * 32);
	/* read the last transaction's COMMIT too and confirm it, or the slot
	 * rightly delivers that transaction again after the restart */
	settle(f, conn, s);
	cps_source_close(conn);
	/* the old walsender gone, its last feedback (the flush) is in the slot */
	wait_slot_inactive(f);
	/* restart with an empty cache: the unchanged value is read from the table */
	conn = open_source(f);
	exec_ok(f->c, "UPDATE person SET name = 'again' WHERE national_id = 'K8'");
	assert_int_equal(collect(f, conn, s, 1, true), CPS_OK);
	assert_string_equal(s->name[8], "again");
	assert_int_equal(s->addr_len[8], 300 * 32);
	/* cpsync's own writes (replication origin "cpsync") are skipped */
	{
		char sql[512];

		/* origins are cluster-wide: this test's own name */
		snprintf(sql, sizeof(sql), "SELECT pg_replication_origin_create('%s_origin')",
		         f->db.name);
		exec_ok(f->c, sql);
		snprintf(sql, sizeof(sql),
		         "BEGIN; SELECT pg_replication_origin_session_setup('%s_origin'); UPDATE "
		         "person SET name = 'echo' WHERE national_id = 'K9'; COMMIT",
		         f->db.name);
		exec_ok(f->c, sql);
		exec_ok(f->c, "SELECT pg_replication_origin_session_reset()");
		snprintf(sql, sizeof(sql), "SELECT pg_replication_origin_drop('%s_origin')",
		         f->db.name);
		exec_ok(f->c, sql);
	}
	exec_ok(f->c, "UPDATE person SET name = 'mine' WHERE national_id = 'K10'");
	assert_int_equal(collect(f, conn, s, 1, true), CPS_OK);
	assert_string_equal(s->name[10], "mine");
	assert_string_equal(s->name[9], "n9");
	(void)big;
	cps_source_close(conn);
	free(s);
}

static void test_kill_resume_and_flush(void **state)
{
	struct fixture *f = *state;
	struct seen *s = calloc(1, sizeof(*s));
	struct cps_conn *conn = open_source(f);
	uint64_t flush0, flush1, flush2;
	char err[CPS_ERRSTR_SIZE];
	int rc;

	/* nothing in the table: the snapshot is empty, streaming starts */
	assert_int_equal(collect(f, conn, s, 0, true), CPS_OK);
	insert_people(f->c, 0, 49);
	/* polled but not committed: the slot must not move past these rows */
	assert_int_equal(collect(f, conn, s, 50, false), CPS_OK);
	assert_int_equal(s->n, 50);
	sleep(1);
	flush0 = query_lsn(f->c, f->slot_sql);
	{
		uint64_t insert_lsn = query_lsn(f->c, "SELECT pg_current_wal_lsn()::text");

		assert_true(flush0 < insert_lsn);
	}
	/* the walsender dies before the commit: a reopen re-sends the rows */
	exec_ok(f->c, "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE "
	              "database = current_database()");
	rc = collect(f, conn, s, 1, false);
	assert_int_equal(rc, CPS_ERR_RETRIABLE);
	cps_source_close(conn);
	conn = open_source(f);
	s->last.offset = 0; /* positions belong to one instance */
	insert_people(f->c, 50, 59);
	assert_int_equal(collect(f, conn, s, 60, true), CPS_OK);
	for (int k = 0; k < 60; k++)
		assert_true(s->upserts[k] >= 1);
	for (int k = 0; k < 50; k++)
		assert_int_equal(s->upserts[k], 2); /* re-delivered once, none lost */
	sleep(1);
	flush1 = query_lsn(f->c, f->slot_sql);
	assert_true(flush1 > flush0);
	/* idle database, WAL written elsewhere: keepalives move the slot along */
	{
		PGconn *other = PQconnectdb(f->db.admin);
		struct cps_source_batch b;
		uint64_t wal;

		exec_ok(other, "CREATE TABLE IF NOT EXISTS cps_pgsrc_noise (x text)");
		exec_ok(other, "INSERT INTO cps_pgsrc_noise SELECT md5(i::text) FROM "
		               "generate_series(1, 20000) i");
		exec_ok(other, "DROP TABLE cps_pgsrc_noise");
		wal = query_lsn(other, "SELECT pg_current_wal_lsn()::text");
		PQfinish(other);
		for (int i = 0; i < 60; i++) {
			assert_int_equal(cps_source_poll(conn, &b, 50, 200, err, sizeof(err)),
			                 CPS_OK);
			assert_int_equal(b.n, 0);
			flush2 = query_lsn(f->c, f->slot_sql);
			if (flush2 >= wal)
				break;
		}
		assert_true(flush2 >= wal);
	}
	{
		struct cps_conn_status st;

		sleep(3);
		cps_source_poll(conn, &(struct cps_source_batch){0}, 1, 100, err, sizeof(err));
		cps_conn_describe(conn, &st);
		assert_true(st.lag >= 0);
		assert_true(st.received >= 60);
		assert_true(st.last_msg_ms > 0);
	}
	cps_source_close(conn);
	free(s);
}

static void test_polling(void **state)
{
	struct fixture *f = *state;
	struct seen *s = calloc(1, sizeof(*s));
	struct cps_conn *conn;

	cps_settings_set(&f->settings, "mode", "polling");
	cps_settings_set(&f->settings, "poll_interval_ms", "50");
	cps_settings_set(&f->settings, "table.public.person.increment_column", "id");
	cps_settings_set(&f->settings, "table.public.person.timestamp_column", "updated_at");
	insert_people(f->c, 0, 19);
	conn = open_source(f);
	assert_int_equal(collect(f, conn, s, 20, true), CPS_OK);
	assert_int_equal(s->n, 20);
	insert_people(f->c, 20, 24);
	exec_ok(f->c, "UPDATE person SET name = 'polled', updated_at = now() + interval '1 s' "
	              "WHERE national_id = 'K3'");
	assert_int_equal(collect(f, conn, s, 6, true), CPS_OK);
	assert_int_equal(s->n, 26);
	for (int k = 20; k < 25; k++)
		assert_int_equal(s->upserts[k], 1);
	assert_int_equal(s->upserts[3], 2);
	assert_string_equal(s->name[3], "polled");
	/* nothing new: nothing polled */
	assert_int_equal(collect(f, conn, s, 1, true), CPS_OK);
	assert_int_equal(s->n, 26);
	cps_source_close(conn);
	free(s);
}

/* Polling keeps its progress in the city database once committed (a
 * restart reads only what was not committed) and turns a soft-deleted row
 * (deleted_column true) into a delete. */
static void test_polling_durable_and_deletes(void **state)
{
	struct fixture *f = *state;
	struct seen *s = calloc(1, sizeof(*s));
	struct cps_conn *conn;

	exec_ok(f->c, "ALTER TABLE person ADD COLUMN deleted boolean NOT NULL DEFAULT false");
	cps_settings_set(&f->settings, "mode", "polling");
	cps_settings_set(&f->settings, "poll_interval_ms", "50");
	cps_settings_set(&f->settings, "table.public.person.increment_column", "id");
	cps_settings_set(&f->settings, "table.public.person.timestamp_column", "updated_at");
	cps_settings_set(&f->settings, "table.public.person.deleted_column", "deleted");
	insert_people(f->c, 0, 19);
	conn = open_source(f);
	assert_int_equal(collect(f, conn, s, 20, true), CPS_OK);
	assert_int_equal(s->n, 20);
	/* polled, not committed: read again after the restart */
	insert_people(f->c, 20, 24);
	assert_int_equal(collect(f, conn, s, 5, false), CPS_OK);
	assert_int_equal(s->n, 25);
	cps_source_close(conn);
	conn = open_source(f);
	s->last.offset = 0; /* positions belong to one instance */
	assert_int_equal(collect(f, conn, s, 5, true), CPS_OK);
	assert_int_equal(collect(f, conn, s, 1, true), CPS_OK);
	assert_int_equal(s->n, 30); /* the committed 20 are not read again */
	for (int k = 0; k < 25; k++)
		assert_int_equal(s->upserts[k], k < 20 ? 1 : 2);
	/* a soft delete leaves as a delete of its key */
	exec_ok(f->c, "UPDATE person SET deleted = true, updated_at = now() + interval '1 s' "
	              "WHERE national_id = 'K7'");
	assert_int_equal(collect(f, conn, s, 1, true), CPS_OK);
	assert_int_equal(s->n, 31);
	assert_int_equal(s->deletes[7], 1);
	assert_int_equal(s->upserts[7], 1);
	cps_source_close(conn);
	conn = open_source(f);
	s->last.offset = 0;
	assert_int_equal(collect(f, conn, s, 1, true), CPS_OK);
	assert_int_equal(s->n, 31);
	cps_source_close(conn);
	free(s);
}

/* Polls (up to 15 s) until a message arrives; copies its facts out. */
struct one_msg {
	bool has_effective, refused, is_delete;
	int64_t effective_ms;
	char key[32], reason[300];
	size_t value_len;
};

static void poll_one(struct cps_conn *conn, struct one_msg *out)
{
	time_t end = time(NULL) + 15;
	char err[CPS_ERRSTR_SIZE];

	memset(out, 0, sizeof(*out));
	while (time(NULL) < end) {
		struct cps_source_batch b;

		if (cps_source_poll(conn, &b, 1, 200, err, sizeof(err)) != CPS_OK)
			fail_msg("poll: %s", err);
		if (b.n == 0)
			continue;
		out->has_effective = b.msgs[0].has_effective;
		out->effective_ms = b.msgs[0].effective_ms;
		out->refused = b.msgs[0].refused != NULL;
		out->is_delete = b.msgs[0].value == NULL;
		out->value_len = b.msgs[0].value_len;
		snprintf(out->key, sizeof(out->key), "%.*s", (int)b.msgs[0].key_len,
		         b.msgs[0].key ? (const char *)b.msgs[0].key : "");
		snprintf(out->reason, sizeof(out->reason), "%s",
		         b.msgs[0].refused ? b.msgs[0].refused : "");
		if (cps_source_commit(conn, &b.msgs[0].pos, 1, err, sizeof(err)) != CPS_OK)
			fail_msg("commit: %s", err);
		return;
	}
	fail_msg("no message within 15 s");
}

/* A mapped effective-time column (a timestamptz, or a date) gives each row's
 * effective time; a row without it keeps the commit time. A TRUNCATE of a
 * mapped table is refused with a reason naming the table (truncate:
 * dead_letter, the default), never turned into deletes; with truncate:
 * ignore, nothing comes. */
static void test_effective_time_and_truncate(void **state)
{
	struct fixture *f = *state;
	struct cps_conn *conn;
	struct one_msg m;

	cps_settings_set(&f->settings, "table.public.person.effective_column", "updated_at");
	conn = open_source(f);
	exec_ok(f->c,
	        "INSERT INTO person (national_id, name, birth_date, registration_region_code, "
	        "residence_region_code, updated_at) VALUES ('K1', 'a', DATE '1980-01-01', "
	        "'440305', '440305', TIMESTAMPTZ '2024-06-01 10:00:00+08')");
	poll_one(conn, &m);
	assert_string_equal(m.key, "K1");
	assert_true(m.has_effective);
	assert_int_equal(m.effective_ms, 1717207200000LL); /* 2024-06-01T02:00:00Z */
	assert_false(m.refused);

	exec_ok(f->c, "TRUNCATE person");
	poll_one(conn, &m);
	assert_true(m.refused);
	assert_false(m.is_delete);
	assert_int_equal(m.value_len, 0);
	assert_non_null(strstr(m.reason, "TRUNCATE of 'public.person' is not propagated"));
	cps_source_close(conn);
	wait_slot_inactive(f);

	cps_settings_set(&f->settings, "truncate", "ignore");
	conn = open_source(f);
	exec_ok(f->c,
	        "INSERT INTO person (national_id, name, birth_date, registration_region_code, "
	        "residence_region_code) VALUES ('K2', 'b', DATE '1980-01-02', '440305', "
	        "'440305')");
	exec_ok(f->c, "TRUNCATE person");
	exec_ok(f->c,
	        "INSERT INTO person (national_id, name, birth_date, registration_region_code, "
	        "residence_region_code) VALUES ('K3', 'c', DATE '1980-01-03', '440305', "
	        "'440305')");
	poll_one(conn, &m);
	assert_string_equal(m.key, "K2");
	poll_one(conn, &m); /* the TRUNCATE between them: nothing */
	assert_string_equal(m.key, "K3");
	assert_false(m.refused);
	cps_source_close(conn);
}

static void test_bad_settings(void **state)
{
	struct fixture *f = *state;
	struct cps_conn *conn = NULL;
	char err[CPS_ERRSTR_SIZE];

	cps_settings_set(&f->settings, "table.public.person.column.name", "no_such_field");
	assert_int_not_equal(cps_connector_source_open(&cps_postgres_connector, "city",
	                                               &f->settings, &conn, err, sizeof(err)),
	                     CPS_OK);
	assert_non_null(strstr(err, "no_such_field"));
	assert_null(conn);
	cps_settings_set(&f->settings, "table.public.person.column.name", "name");
	cps_settings_set(&f->settings, "mode", "sideways");
	assert_int_not_equal(cps_connector_source_open(&cps_postgres_connector, "city",
	                                               &f->settings, &conn, err, sizeof(err)),
	                     CPS_OK);
	cps_settings_set(&f->settings, "mode", "replication");
	cps_settings_set(&f->settings, "truncate", "cascade");
	assert_int_equal(cps_connector_source_open(&cps_postgres_connector, "city", &f->settings,
	                                           &conn, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "setting 'truncate' is 'cascade'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_snapshot_stream_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill_resume_and_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_polling, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_polling_durable_and_deletes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_effective_time_and_truncate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_settings, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
