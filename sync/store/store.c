/*
 * The store's connection (store.h): open and close, the prepared statements
 * made once per connection, ping and the session-level advisory lock. The
 * migrations are in store_migrate.c, the batch pipeline in store_pipeline.c
 * and store_batch.c, the reads in store_read.c and store_changes.c. Errors
 * name the statement and SQLSTATE, never a row's values (personal data).
 */
#include "store/store.h"

#include "base/common.h"
#include "store/pgerr.h"
#include "store/store_conn_int.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cps_store_stmt cps_store_stmts[ST_COUNT] = {
    /* The batch's key states in one statement (store_batch.c), as binary
     * arrays, one element per state; the version guard raises
     * (serialization_failure), never skips, so every state returns its row.
     * A state whose version is emitted with its own record and provenance
     * (op not NULL) gets that version's change-log row from the same
     * statement: the server parses the record once and copies the
     * provenance. */
    [ST_RECORDS_MERGE] =
        {"cps_records_merge", "upsert into records with their changes", 12,
         "WITH i AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], "
         "$4::boolean[], $5::jsonb[], $6::bytea[], $7::bytea[], $8::jsonb[], $9::text[], "
         "$10::jsonb[], $11::text[], $12::bytea[]) AS i(entity, key, version, deleted, "
         "record, prov, facts, conflicts, op, changed, topic, payload)), "
         "s AS (INSERT INTO cpsync.records AS r (entity, key, version, deleted, record, "
         "provenance, prov, platforms, conflicts, updated_at, facts) "
         "SELECT entity, key, version, deleted, record, '{}', prov, '{}', conflicts, now(), "
         "facts FROM i "
         "ON CONFLICT (entity, key) DO UPDATE SET version = EXCLUDED.version, "
         "deleted = EXCLUDED.deleted, record = EXCLUDED.record, "
         "provenance = '{}', prov = EXCLUDED.prov, platforms = '{}', facts = EXCLUDED.facts, "
         "conflicts = EXCLUDED.conflicts, updated_at = now() "
         "WHERE cpsync.not_stale(r.version, EXCLUDED.version) "
         "RETURNING r.entity, r.key, r.version, r.record, r.prov) "
         "INSERT INTO cpsync.changes (entity, key, version, op, record, prov, "
         "changed_fields, topic, payload) SELECT s.entity, s.key, s.version, i.op, s.record, "
         "s.prov, ARRAY(SELECT jsonb_array_elements_text(COALESCE(i.changed, '[]'))), "
         "i.topic, i.payload FROM s JOIN i ON i.entity = s.entity AND i.key = s.key "
         "WHERE i.op IS NOT NULL"},
    [ST_CHANGE_APPEND] =
        {"cps_change_append", "append to changes", 9,
         "INSERT INTO cpsync.changes (entity, key, version, op, record, prov, "
         "changed_fields, topic, payload) VALUES ($1, $2, $3, $4, $5::jsonb, $6::bytea, "
         "ARRAY(SELECT jsonb_array_elements_text(COALESCE($7::jsonb, '[]'))), $8, $9::bytea)"},
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
    [ST_DEAD_LETTER_INSERT] = {"cps_dead_letter_insert", "insert into dead_letters", 10,
                               "INSERT INTO cpsync.dead_letters (received_at, platform, origin, "
                               "entity, reason, raw, raw_key, kind, link, version) VALUES "
                               "(COALESCE(to_timestamp($1::double precision / 1000), now()), "
                               "$2, $3, $4, $5, $6::bytea, $7::bytea, COALESCE($8, 'source'), "
                               "$9, $10::bigint) "
                               "ON CONFLICT (origin) DO NOTHING"},
    /* a state whose last writer is the one the caller names ($3) comes
     * without its jsonb: the caller holds it already (008_rule_sets.sql's
     * written_xid); read in binary (store_read.c), so the bytea columns
     * arrive raw, not as hex text, and the others are cast to text, whose
     * binary form is the text */
    [ST_LOAD_STATES] = {"cps_load_states", "select from records", 3,
                        "SELECT i.ord::text, r.version::text, r.deleted::text, "
                        "r.written_xid::text, (r.written_xid = i.known)::text AS same, "
                        "CASE WHEN r.written_xid = i.known THEN NULL ELSE r.record::text END, "
                        "CASE WHEN r.written_xid = i.known THEN NULL ELSE r.provenance::text "
                        "END, "
                        "CASE WHEN r.written_xid = i.known THEN NULL ELSE r.platforms::text "
                        "END, "
                        "CASE WHEN r.written_xid = i.known THEN NULL ELSE r.conflicts::text "
                        "END, "
                        "CASE WHEN r.written_xid = i.known THEN NULL ELSE r.facts END, "
                        "CASE WHEN r.written_xid = i.known THEN NULL ELSE r.prov END "
                        "FROM unnest($1::text[], $2::text[], $3::xid8[]) WITH ORDINALITY "
                        "AS i(entity, key, known, ord) "
                        "JOIN cpsync.records r ON r.entity = i.entity AND r.key = i.key"},
    [ST_CURRENT_XID] = {"cps_current_xid", "select the transaction id", 0,
                        "SELECT pg_current_xact_id()::text"},
    [ST_LOAD_OFFSETS] = {"cps_load_offsets", "select from ingest_offsets", 2,
                         "SELECT partition, next_offset FROM cpsync.ingest_offsets "
                         "WHERE topic = $1 AND partition = ANY($2::int[])"},
    /* the ended transactions' part of the log after the cursor (003_change_log.sql;
     * the cursor in scalar subqueries, so the row comparison is an index condition) */
    [ST_CHANGES_FETCH] = {"cps_changes_fetch", "select from changes", 1,
                          "SELECT c.seq, c.xid, c.topic, c.key, c.payload "
                          "FROM cpsync.changes c WHERE (c.xid, c.seq) > "
                          "((SELECT xid FROM cpsync.publish_cursor WHERE name = 'unified'), "
                          "(SELECT seq FROM cpsync.publish_cursor WHERE name = 'unified')) "
                          "AND c.xid < pg_snapshot_xmin(pg_current_snapshot()) "
                          "AND c.payload IS NOT NULL ORDER BY c.xid, c.seq LIMIT $1"},
    [ST_CURSOR_ADVANCE] = {"cps_cursor_advance", "update of publish_cursor", 2,
                           "UPDATE cpsync.publish_cursor SET xid = $1::xid8, seq = $2, "
                           "updated_at = now() WHERE name = 'unified' "
                           "AND (xid, seq) < ($1::xid8, $2::bigint)"},
    /* retention: published changes older than $1 ms, at most $2 per call */
    [ST_CHANGES_PRUNE] = {"cps_changes_prune", "delete from changes", 2,
                          "DELETE FROM cpsync.changes WHERE seq IN (SELECT c.seq "
                          "FROM cpsync.changes c WHERE (c.xid, c.seq) <= "
                          "((SELECT xid FROM cpsync.publish_cursor WHERE name = 'unified'), "
                          "(SELECT seq FROM cpsync.publish_cursor WHERE name = 'unified')) "
                          "AND c.committed_at < now() - $1::bigint * interval '1 ms' "
                          "LIMIT $2)"},
    /* retention (store_retention.c): at most $2 rows older than $1 ms per call */
    [ST_RETAIN_DEAD_LETTER_RAW] = {"cps_retain_dl_raw", "drop raw bytes of dead letters", 2,
                                   "UPDATE cpsync.dead_letters SET raw = NULL, raw_key = NULL, "
                                   "raw_purged_at = now() "
                                   "WHERE id IN (SELECT id FROM "
                                   "cpsync.dead_letters WHERE (raw IS NOT NULL OR raw_key IS "
                                   "NOT NULL) AND received_at < now() - $1::bigint * "
                                   "interval '1 ms' LIMIT $2)"},
    [ST_RETAIN_DEAD_LETTERS] = {"cps_retain_dl", "delete dead letters", 2,
                                "DELETE FROM cpsync.dead_letters WHERE id IN (SELECT id FROM "
                                "cpsync.dead_letters WHERE status <> 'new' AND updated_at < "
                                "now() - $1::bigint * interval '1 ms' LIMIT $2)"},
    [ST_RETAIN_CONFLICTS] = {"cps_retain_conflicts", "delete closed conflicts", 2,
                             "DELETE FROM cpsync.conflicts WHERE id IN (SELECT id FROM "
                             "cpsync.conflicts WHERE closed_at IS NOT NULL AND status NOT IN "
                             "('open', 'claimed') AND closed_at < now() - $1::bigint * "
                             "interval '1 ms' LIMIT $2)"},
    [ST_RETAIN_AUDIT_VALUES] = {"cps_retain_audit", "drop audit values", 2,
                                "UPDATE cpsync.audit SET before = NULL, after = NULL WHERE id IN "
                                "(SELECT id FROM cpsync.audit WHERE (before IS NOT NULL OR after "
                                "IS NOT NULL) AND at < now() - $1::bigint * interval '1 ms' "
                                "LIMIT $2)"},
    /* one index probe per key (NULL: never written): as a join, the planner
     * hashed the link's whole table on every poll */
    [ST_SINK_VERSIONS_GET] = {"cps_sink_versions_get", "select from sink_versions", 3,
                              "SELECT i.ord, (SELECT v.version FROM cpsync.sink_versions v "
                              "WHERE v.link = $1 AND v.entity = i.entity AND v.key = i.key) "
                              "FROM unnest($2::text[], $3::text[]) "
                              "WITH ORDINALITY AS i(entity, key, ord)"},
    [ST_SINK_VERSIONS_PUT] =
        {"cps_sink_versions_put", "upsert into sink_versions", 4,
         "INSERT INTO cpsync.sink_versions AS s (link, entity, key, version) "
         "SELECT $1, entity, key, max(version) FROM unnest($2::text[], "
         "$3::text[], $4::bigint[]) AS i(entity, key, version) "
         "GROUP BY entity, key ON CONFLICT (link, entity, key) DO UPDATE SET "
         "version = GREATEST(s.version, EXCLUDED.version), updated_at = now()"},
    /* the policy's findings of one record's latest version (007_policy_findings.sql):
     * $3 is the JSON array of what the checks found now; $4 the record's version
     * they were found in, or 0 for a record the batch itself writes (a recheck's
     * findings are dropped when another worker has changed the record since) */
    [ST_POLICY_CLOSE] = {"cps_policy_close", "close of policy_findings", 4,
                         "UPDATE cpsync.policy_findings SET status = 'closed', closed_at = now() "
                         "WHERE entity = $1 AND key = $2 AND status = 'open' AND check_code NOT IN "
                         "(SELECT f->>'check' FROM jsonb_array_elements($3::jsonb) AS f) AND "
                         "($4::bigint = 0 OR EXISTS (SELECT 1 FROM cpsync.records r WHERE "
                         "r.entity = $1 AND r.key = $2 AND r.version = $4))"},
    [ST_POLICY_OPEN] = {"cps_policy_open", "insert into policy_findings", 4,
                        "INSERT INTO cpsync.policy_findings (check_code, entity, key, fields, "
                        "rule_text, category, severity, detail) SELECT f.\"check\", $1, $2, "
                        "f.fields, f.text, f.category, f.severity, f.detail FROM "
                        "jsonb_to_recordset($3::jsonb) AS f(\"check\" text, fields jsonb, "
                        "text text, category text, severity text, detail text) WHERE "
                        "$4::bigint = 0 OR EXISTS (SELECT 1 FROM cpsync.records r WHERE "
                        "r.entity = $1 AND r.key = $2 AND r.version = $4) "
                        "ON CONFLICT (check_code, entity, key) WHERE status = 'open' "
                        "DO UPDATE SET fields = EXCLUDED.fields, detail = EXCLUDED.detail"},
    [ST_POLICY_OPEN_OF] = {"cps_policy_open_of", "select of policy_findings", 1,
                           "SELECT pf.entity, pf.key, pf.check_code FROM cpsync.policy_findings pf "
                           "JOIN jsonb_array_elements($1::jsonb) AS r ON pf.entity = r->>0 "
                           "AND pf.key = r->>1 WHERE pf.status = 'open'"},
    /* the enrolments that read changed persons or households (010_policy_recheck.sql):
     * by subject ($1), or whose subject is a person of a household in $2 */
    [ST_POLICY_DEPENDENTS] =
        {"cps_policy_dependents", "select of policy dependents", 3,
         "SELECT e.key, e.version, e.record FROM cpsync.records e "
         "WHERE e.entity = 'enrolment' AND NOT e.deleted AND "
         "e.record->>'subject_id' = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb) "
         "UNION SELECT p.key FROM cpsync.records p WHERE p.entity = 'person' "
         "AND COALESCE(p.record->'household_id'->>'string', p.record->>'household_id') "
         "= ANY(ARRAY(SELECT jsonb_array_elements_text($2::jsonb))))) "
         "LIMIT $3"},
    /* the standards' versions (011_standards.sql): a new one unless the latest
     * has the same hash; the version written, or none */
    [ST_STANDARDS_PUT] = {"cps_standards_put", "insert into policy_standards", 3,
                          "INSERT INTO cpsync.policy_standards (hash, standards, loaded_by) "
                          "SELECT $1, $2::jsonb, $3 WHERE $1 IS DISTINCT FROM (SELECT hash "
                          "FROM cpsync.policy_standards ORDER BY version DESC LIMIT 1) "
                          "RETURNING version"},
    [ST_STANDARDS_LIST] = {"cps_standards_list", "select of policy_standards", 0,
                           "SELECT json_build_object('version', version, 'hash', hash, "
                           "'standards', standards, 'loaded_at', loaded_at, 'loaded_by', "
                           "loaded_by) FROM cpsync.policy_standards ORDER BY version DESC"},
    [ST_POLICY_OPEN_COUNTS] = {"cps_policy_open_counts", "select of policy_findings", 0,
                               "SELECT check_code, count(*) FROM cpsync.policy_findings "
                               "WHERE status = 'open' GROUP BY check_code ORDER BY check_code"},
    [ST_STATS] = {"cps_stats", "select of stats", 0,
                  "SELECT (SELECT count(*) FROM cpsync.records), "
                  "(SELECT count(*) FROM cpsync.conflicts WHERE status IN ('open', 'claimed')), "
                  "(SELECT COALESCE(floor(extract(epoch FROM now() - min(opened_at)))::bigint, -1) "
                  "FROM cpsync.conflicts WHERE status IN ('open', 'claimed')), "
                  "(SELECT count(*) FROM cpsync.dead_letters WHERE status = 'new'), "
                  "(SELECT count(*) FROM cpsync.outbox)"}, /* the view: changes after the cursor */
};

/* ---- errors -------------------------------------------------------------- */

/* Only the SQLSTATE and constraint name: the message and detail may quote values. */
int cps_store_result_error(struct cps_store *s, const PGresult *res, const char *what, char *errstr,
                           size_t errstr_size)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	s->serialization_failed = state && !strcmp(state, "40001");
	return cps_pg_result_error(s->conn, res, "store", what, errstr, errstr_size);
}

bool cps_store_serialization_failed(const struct cps_store *s)
{
	return s && s->serialization_failed;
}

int cps_store_usable(struct cps_store *s, char *errstr, size_t errstr_size)
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
	PQclear(s->changes_res);
	free(s->changes_rows);
	free(s->sent);
	PQfinish(s->conn);
	free(s);
}

int cps_store_prepare_all(struct cps_store *s, char *errstr, size_t errstr_size)
{
	int rc = cps_store_usable(s, errstr, errstr_size);

	if (rc || s->prepared)
		return rc;
	for (size_t i = 0; i < ST_COUNT; i++) {
		PGresult *res = PQprepare(s->conn, cps_store_stmts[i].name, cps_store_stmts[i].sql,
		                          cps_store_stmts[i].nparams, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			char what[80];

			snprintf(what, sizeof(what), "prepare of %s", cps_store_stmts[i].what);
			rc = cps_store_result_error(s, res, what, errstr, errstr_size);
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
int cps_store_exec_prepared(struct cps_store *s, enum stmt_id id, const char *const *values,
                            const int *lengths, const int *formats, int result_format,
                            PGresult **res, char *errstr, size_t errstr_size)
{
	int rc = cps_store_prepare_all(s, errstr, errstr_size);
	ExecStatusType st;

	*res = NULL;
	if (rc)
		return rc;
	*res = PQexecPrepared(s->conn, cps_store_stmts[id].name, cps_store_stmts[id].nparams,
	                      values, lengths, formats, result_format);
	st = PQresultStatus(*res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return CPS_OK;
	rc = cps_store_result_error(s, *res, cps_store_stmts[id].what, errstr, errstr_size);
	PQclear(*res);
	*res = NULL;
	return rc;
}

int cps_store_ping(struct cps_store *s, char *errstr, size_t errstr_size)
{
	PGresult *res;
	int rc = cps_store_usable(s, errstr, errstr_size);

	if (rc)
		return rc;
	res = PQexec(s->conn, "SELECT 1");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = cps_store_result_error(s, res, "ping", errstr, errstr_size);
	PQclear(res);
	return rc;
}

int cps_store_try_lock(struct cps_store *s, const char *name, bool *held, char *errstr,
                       size_t errstr_size)
{
	const char *params[1] = {name};
	PGresult *res;
	int rc = cps_store_usable(s, errstr, errstr_size);

	*held = false;
	if (rc)
		return rc;
	res = PQexecParams(s->conn, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", 1, NULL,
	                   params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		rc = cps_store_result_error(s, res, "pg_try_advisory_lock", errstr, errstr_size);
	else
		*held = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	return rc;
}
