/*
 * The scratch-database helper of the C tests (testdb.h): create, migrate,
 * exec and drop on the server of $CPSYNC_TEST_PG.
 */
#include "testdb.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/common.h"
#include "store/store.h"

int cps_testdb_exec(const char *conninfo, const char *sql)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *res;
	int ok;

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to the test server: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	res = PQexec(c, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
	return ok ? 0 : -1;
}

int cps_testdb_create(struct cps_testdb *db, const char *prefix, int seq)
{
	const char *base = getenv("CPSYNC_TEST_PG");
	char sql[160];

	memset(db, 0, sizeof(*db));
	if (!base || !*base) {
		fprintf(
		    stderr,
		    "CPSYNC_TEST_PG is not set: this test needs PostgreSQL (deploy/test.sh exports it; deploy/pg-private.sh start DIR PORT prints it)\n");
		return -1;
	}
	snprintf(db->admin, sizeof(db->admin), "%s", base);
	if (seq >= 0)
		snprintf(db->name, sizeof(db->name), "%s_%ld_%d", prefix, (long)getpid(), seq);
	else
		snprintf(db->name, sizeof(db->name), "%s_%ld", prefix, (long)getpid());
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
	if (cps_testdb_exec(db->admin, sql) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db->name);
	if (cps_testdb_exec(db->admin, sql) != 0) {
		db->name[0] = '\0';
		return -1;
	}
	snprintf(db->conninfo, sizeof(db->conninfo), "%s dbname=%s", db->admin, db->name);
	return 0;
}

const char *cps_testdb_conninfo(const struct cps_testdb *db)
{
	return db->conninfo;
}

int cps_testdb_migrate(const struct cps_testdb *db)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_store *s;

	if (cps_store_open(db->conninfo, &s, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "store: %s\n", err);
		return -1;
	}
	if (cps_store_migrate(s, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "store: %s\n", err);
		cps_store_close(s);
		return -1;
	}
	cps_store_close(s);
	return 0;
}

void cps_testdb_drop(struct cps_testdb *db)
{
	char sql[160];

	if (!db->name[0])
		return;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
	cps_testdb_exec(db->admin, sql);
	db->name[0] = '\0';
}
