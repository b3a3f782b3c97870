/*
 * The store's schema migrations: the versions embedded at build time
 * (store_int.h) applied in order, each in its own transaction under an
 * advisory lock, so several instances may start at once.
 */
#include "store/store.h"

#include "base/common.h"
#include "store/pgerr.h"
#include "store/store_conn_int.h"
#include "store/store_int.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>

/* pg_advisory_xact_lock key of migrations ("cpsync" in ASCII). */
#define MIGRATE_LOCK_KEY "108724400124259"

static int exec_simple(struct cps_store *s, const char *sql, const char *what, PGresult **keep,
                       char *errstr, size_t errstr_size)
{
	PGresult *res = PQexec(s->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = CPS_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = cps_store_result_error(s, res, what, errstr, errstr_size);
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
	int rc = cps_store_usable(s, errstr, errstr_size);

	*latest = cps_migrations[cps_migrations_count - 1].version;
	*applied = 0;
	return rc ? rc : applied_version(s, applied, errstr, errstr_size);
}

const char *cps_store_migration_name(int version)
{
	for (size_t i = 0; i < cps_migrations_count; i++)
		if (cps_migrations[i].version == version)
			return cps_migrations[i].name;
	return NULL;
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
		rc = cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "store: database schema version %d is newer than this cpsync knows (%d): upgrade cpsync",
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
		rc = cps_store_result_error(s, res, "insert into schema_migrations", errstr,
		                            errstr_size);
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
	int rc = cps_store_usable(s, errstr, errstr_size);

	for (size_t i = 0; !rc && i < cps_migrations_count; i++)
		rc = migrate_one(s, &cps_migrations[i], errstr, errstr_size);
	/* Plans made against the old schema: let them be prepared again. */
	if (!rc && s->prepared) {
		PQclear(PQexec(s->conn, "DEALLOCATE ALL"));
		s->prepared = 0;
	}
	return rc;
}
