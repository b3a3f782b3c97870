/*
 * The store (store.h): cpsync's state in PostgreSQL. Migrations embedded at
 * build time (store_int.h), prepared statements made once per connection,
 * and one reconcile batch written as ONE transaction in libpq pipeline mode
 * (every row sent, one sync, then every result checked). Errors name the
 * statement and SQLSTATE, never a row's values (personal data).
 *
 * jsonb cannot hold U+0000, which Avro JSON uses for bytes (decimals); JSON
 * going into a jsonb column has it escaped reversibly with the private-use
 * character U+E000: U+0000 -> U+E000 '0', U+E000 -> U+E000 U+E000.
 */
#ifndef _GNU_SOURCE
#endif
#include "store/store.h"
#include "store/jsonb.h"

#include "base/common.h"
#include "base/histogram.h"
#include "store/pgerr.h"
#include "store/store_int.h"

#include <libpq-fe.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* pg_advisory_xact_lock key of migrations ("cpsync" in ASCII). */
#define MIGRATE_LOCK_KEY "108724400124259"
/* Sends between two flushes of the pipeline. */
#define PIPELINE_FLUSH_EVERY 256

enum stmt_id {
	ST_RECORD_UPSERT,
	ST_HISTORY_INSERT,
	ST_OUTBOX_INSERT,
	ST_CONFLICT_OPEN,
	ST_CONFLICT_UPDATE,
	ST_CONFLICT_CLOSE,
	ST_AUDIT_INSERT,
	ST_OFFSET_UPSERT,
	ST_DEAD_LETTER_INSERT,
	ST_LOAD_STATES,
	ST_LOAD_OFFSETS,
	ST_OUTBOX_FETCH,
	ST_OUTBOX_DELETE,
	ST_STATS,
	ST_COUNT,
	/* not prepared: sent as plain queries inside a pipeline */
	ST_BEGIN = ST_COUNT,
	ST_COMMIT,
};

static const struct stmt {
	const char *name; /* prepared statement name */
	const char *what; /* for error messages */
	int nparams;
	const char *sql;
} stmts[ST_COUNT] = {
    [ST_RECORD_UPSERT] =
        {"cps_record_upsert", "upsert into records", 8,
         "INSERT INTO cpsync.records AS r (entity, key, version, deleted, record, "
         "provenance, platforms, conflicts, updated_at) "
         "VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8::jsonb, now()) "
         "ON CONFLICT (entity, key) DO UPDATE SET version = EXCLUDED.version, "
         "deleted = EXCLUDED.deleted, record = EXCLUDED.record, "
         "provenance = EXCLUDED.provenance, platforms = EXCLUDED.platforms, "
         "conflicts = EXCLUDED.conflicts, updated_at = now() "
         "WHERE cpsync.not_stale(r.version, EXCLUDED.version)"},
    [ST_HISTORY_INSERT] =
        {"cps_history_insert", "insert into record_history", 7,
         "INSERT INTO cpsync.record_history (entity, key, version, op, record, "
         "provenance, changed_fields) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, "
         "ARRAY(SELECT jsonb_array_elements_text(COALESCE($7::jsonb, '[]'))))"},
    [ST_OUTBOX_INSERT] = {"cps_outbox_insert", "insert into outbox", 5,
                          "INSERT INTO cpsync.outbox (entity, key, version, topic, payload) "
                          "VALUES ($1, $2, $3, $4, $5::bytea)"},
    [ST_CONFLICT_OPEN] =
        {"cps_conflict_open", "insert into conflicts", 5,
         "INSERT INTO cpsync.conflicts (entity, key, field, status, candidates, rule) "
         "VALUES ($1, $2, $3, 'open', $4::jsonb, $5) "
         "ON CONFLICT (entity, key, field) WHERE status IN ('open', 'claimed') "
         "DO UPDATE SET candidates = EXCLUDED.candidates, rule = EXCLUDED.rule, "
         "updated_at = now()"},
    [ST_CONFLICT_UPDATE] =
        {"cps_conflict_update", "update of conflicts", 4,
         "UPDATE cpsync.conflicts SET candidates = $4::jsonb, updated_at = now() "
         "WHERE entity = $1 AND key = $2 AND field = $3 "
         "AND status IN ('open', 'claimed')"},
    [ST_CONFLICT_CLOSE] = {"cps_conflict_close", "close of conflicts", 4,
                           "UPDATE cpsync.conflicts SET status = $4, closed_at = now(), "
                           "updated_at = now() WHERE entity = $1 AND key = $2 AND field = $3 "
                           "AND status IN ('open', 'claimed')"},
    [ST_AUDIT_INSERT] = {"cps_audit_insert", "insert into audit", 8,
                         "INSERT INTO cpsync.audit (actor, action, entity, key, field, before, "
                         "after, reason) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8)"},
    [ST_OFFSET_UPSERT] = {"cps_offset_upsert", "upsert into ingest_offsets", 4,
                          "INSERT INTO cpsync.ingest_offsets (topic, partition, next_offset, "
                          "last_fingerprint) VALUES ($1, $2, $3, $4) "
                          "ON CONFLICT (topic, partition) DO UPDATE SET "
                          "next_offset = EXCLUDED.next_offset, "
                          "last_fingerprint = EXCLUDED.last_fingerprint, updated_at = now()"},
    [ST_DEAD_LETTER_INSERT] = {"cps_dead_letter_insert", "insert into dead_letters", 7,
                               "INSERT INTO cpsync.dead_letters (received_at, platform, origin, "
                               "entity, reason, raw, raw_key) VALUES "
                               "(COALESCE(to_timestamp($1::double precision / 1000), now()), "
                               "$2, $3, $4, $5, $6::bytea, $7::bytea) "
                               "ON CONFLICT (origin) DO NOTHING"},
    [ST_LOAD_STATES] = {"cps_load_states", "select from records", 2,
                        "SELECT i.ord, r.version, r.deleted, r.record, r.provenance, r.platforms, "
                        "r.conflicts FROM unnest($1::text[], $2::text[]) WITH ORDINALITY "
                        "AS i(entity, key, ord) "
                        "JOIN cpsync.records r ON r.entity = i.entity AND r.key = i.key"},
    [ST_LOAD_OFFSETS] = {"cps_load_offsets", "select from ingest_offsets", 2,
                         "SELECT partition, next_offset FROM cpsync.ingest_offsets "
                         "WHERE topic = $1 AND partition = ANY($2::int[])"},
    [ST_OUTBOX_FETCH] = {"cps_outbox_fetch", "select from outbox", 1,
                         "SELECT id, topic, key, payload FROM cpsync.outbox ORDER BY id LIMIT $1"},
    [ST_OUTBOX_DELETE] = {"cps_outbox_delete", "delete from outbox", 1,
                          "DELETE FROM cpsync.outbox WHERE id = ANY($1::bigint[])"},
    [ST_STATS] = {"cps_stats", "select of stats", 0,
                  "SELECT (SELECT count(*) FROM cpsync.records), "
                  "(SELECT count(*) FROM cpsync.conflicts WHERE status IN ('open', 'claimed')), "
                  "(SELECT COALESCE(floor(extract(epoch FROM now() - min(opened_at)))::bigint, -1) "
                  "FROM cpsync.conflicts WHERE status IN ('open', 'claimed')), "
                  "(SELECT count(*) FROM cpsync.dead_letters WHERE status = 'new'), "
                  "(SELECT count(*) FROM cpsync.outbox)"},
};

struct cps_store {
	PGconn *conn;
	int prepared; /* stmts[] prepared on this connection */
	int broken;   /* a pipeline failed half-way: only close is safe */
	/* outbox rows of the last fetch, borrowed from outbox_res */
	PGresult *outbox_res;
	struct cps_outbox_row *outbox_rows;
	/* the pipeline in progress: what each sent query was */
	uint8_t *sent;
	size_t n_sent, sent_cap;
};

/* ---- errors -------------------------------------------------------------- */

/* Only the SQLSTATE and constraint name: the message and detail may quote values. */
static int result_error(struct cps_store *s, const PGresult *res, const char *what, char *errstr,
                        size_t errstr_size)
{
	return cps_pg_result_error(s->conn, res, "store", what, errstr, errstr_size);
}

static int usable(struct cps_store *s, char *errstr, size_t errstr_size)
{
	if (s->broken || PQstatus(s->conn) != CONNECTION_OK)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "store: connection lost, reopen the store");
	return CPS_OK;
}

/* ---- open, close, prepare --------------------------------------------- */

int cps_store_open(const char *conninfo, struct cps_store **out, char *errstr, size_t errstr_size)
{
	/* Ours first: the caller's conninfo (expanded from dbname) overrides. */
	const char *const keys[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *const values[] = {"cpsync", "10", conninfo ? conninfo : "", NULL};
	struct cps_store *s;
	char line[160];

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
	s->conn = PQconnectdbParams(keys, values, 1);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		int code = s->conn && strstr(PQerrorMessage(s->conn), "invalid")
		               ? CPS_ERR_FATAL
		               : CPS_ERR_RETRIABLE;

		cps_seterr(code, errstr, errstr_size, "store: cannot connect: %s",
		                cps_pg_conn_message(s->conn, line, sizeof(line)));
		cps_store_close(s);
		return code;
	}
	PQsetErrorVerbosity(s->conn, PQERRORS_TERSE);
	*out = s;
	return CPS_OK;
}

void cps_store_close(struct cps_store *s)
{
	if (!s)
		return;
	PQclear(s->outbox_res);
	free(s->outbox_rows);
	free(s->sent);
	PQfinish(s->conn);
	free(s);
}

static int prepare_all(struct cps_store *s, char *errstr, size_t errstr_size)
{
	int rc = usable(s, errstr, errstr_size);

	if (rc || s->prepared)
		return rc;
	for (size_t i = 0; i < ST_COUNT; i++) {
		PGresult *res =
		    PQprepare(s->conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			char what[80];

			snprintf(what, sizeof(what), "prepare of %s", stmts[i].what);
			rc = result_error(s, res, what, errstr, errstr_size);
			PQclear(res);
			/* Statements prepared so far stay; deallocate for a clean retry. */
			PQclear(PQexec(s->conn, "DEALLOCATE ALL"));
			return rc;
		}
		PQclear(res);
	}
	s->prepared = 1;
	return CPS_OK;
}

/* Runs a prepared statement outside any pipeline; *res is the caller's. */
static int exec_prepared(struct cps_store *s, enum stmt_id id, const char *const *values,
                         const int *lengths, const int *formats, int result_format, PGresult **res,
                         char *errstr, size_t errstr_size)
{
	int rc = prepare_all(s, errstr, errstr_size);
	ExecStatusType st;

	*res = NULL;
	if (rc)
		return rc;
	*res = PQexecPrepared(s->conn, stmts[id].name, stmts[id].nparams, values, lengths, formats,
	                      result_format);
	st = PQresultStatus(*res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return CPS_OK;
	rc = result_error(s, *res, stmts[id].what, errstr, errstr_size);
	PQclear(*res);
	*res = NULL;
	return rc;
}

int cps_store_ping(struct cps_store *s, char *errstr, size_t errstr_size)
{
	PGresult *res;
	int rc = usable(s, errstr, errstr_size);

	if (rc)
		return rc;
	res = PQexec(s->conn, "SELECT 1");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = result_error(s, res, "ping", errstr, errstr_size);
	PQclear(res);
	return rc;
}

int cps_store_try_lock(struct cps_store *s, const char *name, bool *held, char *errstr,
                       size_t errstr_size)
{
	const char *params[1] = {name};
	PGresult *res;
	int rc = usable(s, errstr, errstr_size);

	*held = false;
	if (rc)
		return rc;
	res = PQexecParams(s->conn, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", 1, NULL,
	                   params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		rc = result_error(s, res, "pg_try_advisory_lock", errstr, errstr_size);
	else
		*held = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	return rc;
}

/* ---- migrations ------------------------------------------------------------ */

static int exec_simple(struct cps_store *s, const char *sql, const char *what, PGresult **keep,
                       char *errstr, size_t errstr_size)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = CPS_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = result_error(s, res, what, errstr, errstr_size);
		PQclear(res);
		res = NULL;
	}
	if (keep)
		*keep = res;
	else
		PQclear(res);
	return rc;
}

/* The highest applied version, 0 when the schema is not there yet. */
static int applied_version(struct cps_store *s, int *applied, char *errstr, size_t errstr_size)
{
	PGresult *res;
	int exists, rc;

	*applied = 0;
	/* The table is named in the query text, so it must exist to parse. */
	rc = exec_simple(s, "SELECT to_regclass('cpsync.schema_migrations') IS NOT NULL",
	                 "select of schema_migrations", &res, errstr, errstr_size);
	if (rc)
		return rc;
	exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!exists)
		return CPS_OK;
	rc = exec_simple(s, "SELECT COALESCE(max(version), 0) FROM cpsync.schema_migrations",
	                 "select from schema_migrations", &res, errstr, errstr_size);
	if (rc)
		return rc;
	*applied = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return CPS_OK;
}

int cps_store_schema_version(struct cps_store *s, int *applied, int *latest, char *errstr,
                             size_t errstr_size)
{
	int rc = usable(s, errstr, errstr_size);

	*latest = cps_migrations[cps_migrations_count - 1].version;
	*applied = 0;
	return rc ? rc : applied_version(s, applied, errstr, errstr_size);
}

/* One migration in its own transaction, under the advisory lock; a no-op
 * when another instance applied it while we waited. */
static int migrate_one(struct cps_store *s, const struct cps_migration *m, char *errstr,
                       size_t errstr_size)
{
	int latest = cps_migrations[cps_migrations_count - 1].version;
	int applied = 0, rc;
	PGresult *res;
	char version[16];
	const char *params[2] = {version, m->name};

	rc = exec_simple(s, "BEGIN", "begin", NULL, errstr, errstr_size);
	if (rc)
		return rc;
	rc = exec_simple(s, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", "migration lock",
	                 NULL, errstr, errstr_size);
	if (!rc)
		rc = applied_version(s, &applied, errstr, errstr_size);
	if (rc)
		goto rollback;
	if (applied > latest) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "store: database schema version %d is newer than this cpsync "
		                     "knows (%d): upgrade cpsync",
		                     applied, latest);
		goto rollback;
	}
	if (applied >= m->version)
		return exec_simple(s, "COMMIT", "commit", NULL, errstr, errstr_size);

	res = PQexec(s->conn, m->sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* DDL errors hold no personal data: the server's message helps here. */
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		rc = cps_seterr(cps_pg_sqlstate_code(s->conn, state), errstr, errstr_size,
		                     "store: migration '%s' failed: SQLSTATE %s: %s", m->name,
		                     state ? state : "none", msg ? msg : "connection lost");
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	snprintf(version, sizeof(version), "%d", m->version);
	res = PQexecParams(s->conn,
	                   "INSERT INTO cpsync.schema_migrations (version, name) VALUES ($1, $2)",
	                   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = result_error(s, res, "insert into schema_migrations", errstr, errstr_size);
		PQclear(res);
		goto rollback;
	}
	PQclear(res);
	return exec_simple(s, "COMMIT", "commit", NULL, errstr, errstr_size);

rollback:
	if (PQstatus(s->conn) == CONNECTION_OK)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	return rc;
}

int cps_store_migrate(struct cps_store *s, char *errstr, size_t errstr_size)
{
	int rc = usable(s, errstr, errstr_size);

	for (size_t i = 0; !rc && i < cps_migrations_count; i++)
		rc = migrate_one(s, &cps_migrations[i], errstr, errstr_size);
	/* Plans made against the old schema: let them be prepared again. */
	if (!rc && s->prepared) {
		PQclear(PQexec(s->conn, "DEALLOCATE ALL"));
		s->prepared = 0;
	}
	return rc;
}

/* ---- pipeline ---------------------------------------------------------- */

/* Sends what libpq holds, reading the server's replies meanwhile so that
 * neither side blocks on a full socket. */
static int pipeline_flush(struct cps_store *s)
{
	int r;

	while ((r = PQflush(s->conn)) == 1) {
		struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN | POLLOUT};

		if (poll(&p, 1, 30000) < 0 && errno != EINTR)
			return -1;
		if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(s->conn))
			return -1;
	}
	return r;
}

static int sent_push(struct cps_store *s, uint8_t id)
{
	if (s->n_sent == s->sent_cap) {
		size_t cap = s->sent_cap ? s->sent_cap * 2 : 1024;
		uint8_t *p = realloc(s->sent, cap);

		if (!p)
			return -1;
		s->sent = p;
		s->sent_cap = cap;
	}
	s->sent[s->n_sent++] = id;
	return 0;
}

static int send_plain(struct cps_store *s, enum stmt_id id, const char *sql)
{
	if (!PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
		return -1;
	return sent_push(s, (uint8_t)id);
}

static int pipeline_begin(struct cps_store *s, char *errstr, size_t errstr_size)
{
	char line[160];
	int rc = prepare_all(s, errstr, errstr_size);

	if (rc)
		return rc;
	s->n_sent = 0;
	if (PQsetnonblocking(s->conn, 1) || !PQenterPipelineMode(s->conn) ||
	    send_plain(s, ST_BEGIN, "BEGIN")) {
		s->broken = 1;
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "store: cannot start a pipeline: %s",
		                       cps_pg_conn_message(s->conn, line, sizeof(line)));
	}
	return CPS_OK;
}

/* Queues one prepared statement. A failure leaves the connection unusable. */
static int pipeline_send(struct cps_store *s, enum stmt_id id, const char *const *values,
                         const int *lengths, const int *formats, char *errstr, size_t errstr_size)
{
	char line[160];

	if (!PQsendQueryPrepared(s->conn, stmts[id].name, stmts[id].nparams, values, lengths,
	                         formats, 0) ||
	    sent_push(s, (uint8_t)id) ||
	    (s->n_sent % PIPELINE_FLUSH_EVERY == 0 && pipeline_flush(s) < 0)) {
		s->broken = 1;
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "store: sending %s failed: %s", stmts[id].what,
		                       cps_pg_conn_message(s->conn, line, sizeof(line)));
	}
	return CPS_OK;
}

static const char *sent_what(uint8_t id)
{
	if (id == ST_BEGIN)
		return "begin";
	if (id == ST_COMMIT)
		return "commit";
	return stmts[id].what;
}

/* COMMIT, one sync, then every result: the first failure is reported and
 * the transaction rolled back. `failed_before` aborts without committing
 * (a send failed part-way through building the batch). */
static int pipeline_end(struct cps_store *s, int failed_before, char *errstr, size_t errstr_size)
{
	int rc = failed_before;
	char line[160];
	PGresult *res;

	if (!s->broken && !failed_before && send_plain(s, ST_COMMIT, "COMMIT"))
		s->broken = 1;
	if (s->broken || !PQpipelineSync(s->conn) || pipeline_flush(s) < 0 ||
	    PQsetnonblocking(s->conn, 0)) {
		s->broken = 1;
		if (!rc)
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                     "store: pipeline failed: %s",
			                     cps_pg_conn_message(s->conn, line, sizeof(line)));
		return rc;
	}
	for (size_t i = 0; i < s->n_sent; i++) {
		ExecStatusType st;

		res = PQgetResult(s->conn);
		if (!res) {
			s->broken = 1;
			if (!rc)
				rc = result_error(s, NULL, sent_what(s->sent[i]), errstr,
				                  errstr_size);
			return rc;
		}
		st = PQresultStatus(res);
		if (st == PGRES_FATAL_ERROR && !rc) {
			rc = result_error(s, res, sent_what(s->sent[i]), errstr, errstr_size);
		}
		PQclear(res);
		/* each query's results end with NULL */
		while ((res = PQgetResult(s->conn)) != NULL)
			PQclear(res);
	}
	res = PQgetResult(s->conn);
	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		s->broken = 1;
		if (!rc)
			rc = result_error(s, res, "pipeline sync", errstr, errstr_size);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	if (!PQexitPipelineMode(s->conn)) {
		s->broken = 1;
		return rc ? rc
		          : cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                            "store: cannot leave pipeline mode: %s",
		                            cps_pg_conn_message(s->conn, line, sizeof(line)));
	}
	/* An error aborted the transaction, which waits for ROLLBACK. */
	if (rc && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	return rc;
}

/* ---- the batch --------------------------------------------------------------- */

static const char *close_status(const char *how)
{
	if (how && !strcmp(how, "auto"))
		return "auto_closed";
	if (how && !strcmp(how, "resolved"))
		return "resolved";
	if (how && !strcmp(how, "dismissed"))
		return "dismissed";
	return NULL;
}

/* Parameter texts of one statement; JSON dumps are freed by params_clear. */
struct params {
	const char *v[8];
	char *owned[8];
	int len[8];
	int fmt[8];
	char num[3][24];
};

static void params_clear(struct params *p)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(p->owned); i++)
		free(p->owned[i]);
	memset(p, 0, sizeof(*p));
}

static int params_json(struct params *p, int i, json_t *j, const char *def)
{
	int ok;

	p->owned[i] = cps_jsonb_param(j, def, &ok);
	p->v[i] = p->owned[i];
	return ok ? 0 : -1;
}

static const char *params_int(struct params *p, int slot, int64_t n)
{
	snprintf(p->num[slot], sizeof(p->num[slot]), "%" PRId64, n);
	return p->num[slot];
}

static int send_state(struct cps_store *s, const struct cps_key_state *st, char *errstr,
                      size_t errstr_size)
{
	struct params p = {0};
	int rc;

	p.v[0] = st->entity;
	p.v[1] = st->key;
	p.v[2] = params_int(&p, 0, st->version);
	p.v[3] = st->deleted ? "t" : "f";
	if (params_json(&p, 4, json_is_null(st->record) ? NULL : st->record, NULL) ||
	    params_json(&p, 5, st->provenance, "{}") || params_json(&p, 6, st->platforms, "{}") ||
	    params_json(&p, 7, st->conflicts, "{}")) {
		params_clear(&p);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "store: out of memory encoding a key state");
	}
	rc = pipeline_send(s, ST_RECORD_UPSERT, p.v, NULL, NULL, errstr, errstr_size);
	params_clear(&p);
	return rc;
}

static int send_emit(struct cps_store *s, const struct cps_store_emit *e, char *errstr,
                     size_t errstr_size)
{
	struct params p = {0};
	int rc;

	p.v[0] = e->entity;
	p.v[1] = e->key;
	p.v[2] = params_int(&p, 0, e->version);
	p.v[3] = cps_op_name(e->op);
	if (params_json(&p, 4, json_is_null(e->record) ? NULL : e->record, NULL) ||
	    params_json(&p, 5, e->provenance, NULL) ||
	    params_json(&p, 6, e->changed_fields, NULL)) {
		params_clear(&p);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "store: out of memory encoding an emit");
	}
	rc = pipeline_send(s, ST_HISTORY_INSERT, p.v, NULL, NULL, errstr, errstr_size);
	params_clear(&p);
	if (rc)
		return rc;

	p.v[0] = e->entity;
	p.v[1] = e->key;
	p.v[2] = params_int(&p, 0, e->version);
	p.v[3] = e->topic;
	p.v[4] = e->payload ? (const char *)e->payload : "";
	p.len[4] = (int)e->payload_len;
	p.fmt[4] = 1;
	if (e->payload_len > INT32_MAX)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "store: outbox payload too large");
	return pipeline_send(s, ST_OUTBOX_INSERT, p.v, p.len, p.fmt, errstr, errstr_size);
}

static int send_conflict(struct cps_store *s, const struct cps_store_conflict *c, char *errstr,
                         size_t errstr_size)
{
	struct params p = {0};
	enum stmt_id id;
	int rc;

	p.v[0] = c->entity;
	p.v[1] = c->key;
	p.v[2] = c->field;
	switch (c->kind) {
	case CPS_CONFLICT_OPEN:
		id = ST_CONFLICT_OPEN;
		rc = params_json(&p, 3, c->candidates, "[]");
		p.v[4] = c->rule;
		break;
	case CPS_CONFLICT_UPDATE:
		id = ST_CONFLICT_UPDATE;
		rc = params_json(&p, 3, c->candidates, "[]");
		break;
	case CPS_CONFLICT_CLOSE:
		id = ST_CONFLICT_CLOSE;
		p.v[3] = close_status(c->how);
		if (!p.v[3])
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "store: conflict close with unknown 'how'");
		rc = 0;
		break;
	default:
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "store: unknown conflict change kind %d",
		                  (int)c->kind);
	}
	if (rc) {
		params_clear(&p);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "store: out of memory encoding a conflict");
	}
	rc = pipeline_send(s, id, p.v, NULL, NULL, errstr, errstr_size);
	params_clear(&p);
	return rc;
}

static int send_audit(struct cps_store *s, const struct cps_store_audit *a, char *errstr,
                      size_t errstr_size)
{
	struct params p = {0};
	int rc;

	p.v[0] = a->actor;
	p.v[1] = a->action;
	p.v[2] = a->entity;
	p.v[3] = a->key;
	p.v[4] = a->field;
	p.v[7] = a->reason;
	if (params_json(&p, 5, a->before, NULL) || params_json(&p, 6, a->after, NULL)) {
		params_clear(&p);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "store: out of memory encoding an audit row");
	}
	rc = pipeline_send(s, ST_AUDIT_INSERT, p.v, NULL, NULL, errstr, errstr_size);
	params_clear(&p);
	return rc;
}

static int send_offset(struct cps_store *s, const struct cps_store_offset *o, char *errstr,
                       size_t errstr_size)
{
	struct params p = {0};

	p.v[0] = o->topic;
	p.v[1] = params_int(&p, 0, o->partition);
	p.v[2] = params_int(&p, 1, o->next_offset);
	p.v[3] = params_int(&p, 2, (int64_t)o->last_fingerprint);
	return pipeline_send(s, ST_OFFSET_UPSERT, p.v, NULL, NULL, errstr, errstr_size);
}

int cps_store_commit_batch(struct cps_store *s, const struct cps_store_batch *b, char *errstr,
                           size_t errstr_size)
{
	struct timespec start;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &start);
	rc = pipeline_begin(s, errstr, errstr_size);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < b->n_states; i++)
		rc = send_state(s, b->states[i], errstr, errstr_size);
	for (size_t i = 0; !rc && i < b->n_emits; i++)
		rc = send_emit(s, &b->emits[i], errstr, errstr_size);
	for (size_t i = 0; !rc && i < b->n_conflicts; i++)
		rc = send_conflict(s, &b->conflicts[i], errstr, errstr_size);
	for (size_t i = 0; !rc && i < b->n_audits; i++)
		rc = send_audit(s, &b->audits[i], errstr, errstr_size);
	for (size_t i = 0; !rc && i < b->n_offsets; i++)
		rc = send_offset(s, &b->offsets[i], errstr, errstr_size);
	rc = pipeline_end(s, rc, errstr, errstr_size);
	if (rc == CPS_OK) /* cpsync_store_commit_seconds: committed transactions only */
		cps_histogram_observe_since(&cps_hist_store_commit, &start);
	return rc;
}

int cps_store_add_dead_letters(struct cps_store *s, const struct cps_dead_letter *dl, size_t n,
                               char *errstr, size_t errstr_size)
{
	int rc;

	if (!n)
		return CPS_OK;
	rc = pipeline_begin(s, errstr, errstr_size);
	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < n; i++) {
		struct params p = {0};

		if (dl[i].raw_len > INT32_MAX || dl[i].raw_key_len > INT32_MAX) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "store: dead letter too large");
			break;
		}
		p.v[0] = dl[i].received_ms > 0 ? params_int(&p, 0, dl[i].received_ms) : NULL;
		p.v[1] = dl[i].platform;
		p.v[2] = dl[i].origin;
		p.v[3] = dl[i].entity;
		p.v[4] = dl[i].reason ? dl[i].reason : "";
		p.v[5] = dl[i].raw ? (const char *)dl[i].raw : NULL;
		p.len[5] = (int)dl[i].raw_len;
		p.fmt[5] = 1;
		p.v[6] = dl[i].raw_key ? (const char *)dl[i].raw_key : NULL;
		p.len[6] = (int)dl[i].raw_key_len;
		p.fmt[6] = 1;
		rc =
		    pipeline_send(s, ST_DEAD_LETTER_INSERT, p.v, p.len, p.fmt, errstr, errstr_size);
	}
	return pipeline_end(s, rc, errstr, errstr_size);
}

/* ---- reads ------------------------------------------------------------------ */

/* A PostgreSQL array literal of texts: {"a","b\"c"}. */
static int text_array(struct cps_buf *b, const char *const *items, size_t stride, size_t n)
{
	if (cps_buf_append_byte(b, '{'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *v = *(const char *const *)((const char *)items + i * stride);

		if ((i && cps_buf_append_byte(b, ',')) || cps_buf_append_byte(b, '"'))
			return -1;
		for (; v && *v; v++)
			if (((*v == '"' || *v == '\\') && cps_buf_append_byte(b, '\\')) ||
			    cps_buf_append_byte(b, (uint8_t)*v))
				return -1;
		if (cps_buf_append_byte(b, '"'))
			return -1;
	}
	return cps_buf_append_byte(b, '}');
}

static void state_set(json_t **slot, json_t *v)
{
	json_decref(*slot);
	*slot = v;
}

int cps_store_load_states(struct cps_store *s, struct cps_key_state **states, size_t n,
                          char *errstr, size_t errstr_size)
{
	struct cps_buf entities, keys;
	const char **names = NULL;
	const char *values[2];
	PGresult *res = NULL;
	int rc = CPS_OK;

	if (!n)
		return CPS_OK;
	cps_buf_init(&entities, 0);
	cps_buf_init(&keys, 0);
	names = malloc(2 * n * sizeof(*names));
	if (!names) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		names[i] = states[i]->entity;
		names[n + i] = states[i]->key;
	}
	if (text_array(&entities, names, sizeof(*names), n) ||
	    text_array(&keys, names + n, sizeof(*names), n)) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "store: out of memory listing the keys to load");
		goto out;
	}
	values[0] = (const char *)entities.data;
	values[1] = (const char *)keys.data;
	rc = exec_prepared(s, ST_LOAD_STATES, values, NULL, NULL, 0, &res, errstr, errstr_size);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(res); row++) {
		long long ord = atoll(PQgetvalue(res, row, 0));
		struct cps_key_state *st;
		json_t *j[4];

		if (ord < 1 || (size_t)ord > n)
			continue;
		st = states[ord - 1];
		st->version = atoll(PQgetvalue(res, row, 1));
		st->deleted = PQgetvalue(res, row, 2)[0] == 't';
		for (int c = 0; c < 4; c++)
			j[c] = cps_jsonb_value(res, row, 3 + c);
		if (!j[0] || !j[1] || !j[2] || !j[3]) {
			for (int c = 0; c < 4; c++)
				json_decref(j[c]);
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                     "store: stored state of entity '%s' is not valid JSON",
			                     st->entity);
			goto out;
		}
		state_set(&st->record, j[0]);
		state_set(&st->provenance, j[1]);
		state_set(&st->platforms, j[2]);
		state_set(&st->conflicts, j[3]);
	}
out:
	PQclear(res);
	free(names);
	cps_buf_release(&entities);
	cps_buf_release(&keys);
	return rc;
}

int cps_store_load_offsets(struct cps_store *s, const char *topic, const int32_t *partitions,
                           int64_t *offsets, size_t n, char *errstr, size_t errstr_size)
{
	struct cps_buf list;
	const char *values[2];
	PGresult *res = NULL;
	int rc = CPS_OK;

	for (size_t i = 0; i < n; i++)
		offsets[i] = -1;
	if (!n)
		return CPS_OK;
	cps_buf_init(&list, 0);
	for (size_t i = 0; i < n; i++)
		if (cps_buf_printf(&list, "%c%" PRId32, i ? ',' : '{', partitions[i]) < 0)
			rc = -1;
	if (rc || cps_buf_append_byte(&list, '}')) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
		goto out;
	}
	values[0] = topic;
	values[1] = (const char *)list.data;
	rc = exec_prepared(s, ST_LOAD_OFFSETS, values, NULL, NULL, 0, &res, errstr, errstr_size);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(res); row++) {
		int32_t part = (int32_t)atol(PQgetvalue(res, row, 0));

		for (size_t i = 0; i < n; i++)
			if (partitions[i] == part)
				offsets[i] = atoll(PQgetvalue(res, row, 1));
	}
out:
	PQclear(res);
	cps_buf_release(&list);
	return rc;
}

static int64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)p[i];
	return (int64_t)v;
}

int cps_store_outbox_fetch(struct cps_store *s, size_t limit, struct cps_outbox_row **rows,
                           size_t *n, char *errstr, size_t errstr_size)
{
	char num[24];
	const char *values[1] = {num};
	PGresult *res = NULL;
	size_t count;
	int rc;

	*rows = NULL;
	*n = 0;
	PQclear(s->outbox_res);
	s->outbox_res = NULL;
	free(s->outbox_rows);
	s->outbox_rows = NULL;
	snprintf(num, sizeof(num), "%zu", limit);
	/* binary results: the id as int8, texts as they are, the payload raw */
	rc = exec_prepared(s, ST_OUTBOX_FETCH, values, NULL, NULL, 1, &res, errstr, errstr_size);
	if (rc)
		return rc;
	count = (size_t)PQntuples(res);
	if (count) {
		s->outbox_rows = calloc(count, sizeof(*s->outbox_rows));
		if (!s->outbox_rows) {
			PQclear(res);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                       "store: out of memory");
		}
	}
	for (size_t i = 0; i < count; i++) {
		struct cps_outbox_row *r = &s->outbox_rows[i];

		if (PQgetlength(res, (int)i, 0) != 8) {
			PQclear(res);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                       "store: unexpected outbox id format");
		}
		r->id = be64(PQgetvalue(res, (int)i, 0));
		r->topic = PQgetvalue(res, (int)i, 1); /* libpq NUL-terminates values */
		r->key = PQgetvalue(res, (int)i, 2);
		r->payload = (const uint8_t *)PQgetvalue(res, (int)i, 3);
		r->payload_len = (size_t)PQgetlength(res, (int)i, 3);
	}
	s->outbox_res = res;
	*rows = s->outbox_rows;
	*n = count;
	return CPS_OK;
}

int cps_store_outbox_delete(struct cps_store *s, const int64_t *ids, size_t n, char *errstr,
                            size_t errstr_size)
{
	struct cps_buf list;
	const char *values[1];
	PGresult *res = NULL;
	int rc = CPS_OK;

	if (!n)
		return CPS_OK;
	cps_buf_init(&list, 0);
	for (size_t i = 0; i < n; i++)
		if (cps_buf_printf(&list, "%c%" PRId64, i ? ',' : '{', ids[i]) < 0)
			rc = -1;
	if (rc || cps_buf_append_byte(&list, '}')) {
		cps_buf_release(&list);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
	}
	values[0] = (const char *)list.data;
	rc = exec_prepared(s, ST_OUTBOX_DELETE, values, NULL, NULL, 0, &res, errstr, errstr_size);
	PQclear(res);
	cps_buf_release(&list);
	return rc;
}

int cps_store_stats(struct cps_store *s, struct cps_store_stats *out, char *errstr,
                    size_t errstr_size)
{
	PGresult *res;
	int rc = exec_prepared(s, ST_STATS, NULL, NULL, NULL, 0, &res, errstr, errstr_size);

	if (rc)
		return rc;
	out->records = atoll(PQgetvalue(res, 0, 0));
	out->open_conflicts = atoll(PQgetvalue(res, 0, 1));
	out->oldest_conflict_age_s = atoll(PQgetvalue(res, 0, 2));
	out->dead_letters = atoll(PQgetvalue(res, 0, 3));
	out->outbox_pending = atoll(PQgetvalue(res, 0, 4));
	PQclear(res);
	return CPS_OK;
}
