/*
 * A scratch PostgreSQL database of a test's own, on the server of
 * $CPSYNC_TEST_PG: created under a name unique to the process, reached by
 * conninfo, dropped WITH (FORCE) at the end. One helper for every C test
 * program that needs a database (they used to carry a copy each).
 */
#ifndef CPSYNC_TESTS_TESTDB_H
#define CPSYNC_TESTS_TESTDB_H

struct cps_testdb {
	char admin[1024];    /* $CPSYNC_TEST_PG: where databases are created and dropped */
	char name[64];       /* the scratch database; "" until created */
	char conninfo[1200]; /* admin + " dbname=NAME" (later keywords win) */
};

/* Creates PREFIX_PID (PREFIX_PID_SEQ when seq >= 0), dropping a leftover of
 * that name first. 0, or -1 with the reason on stderr (also when
 * CPSYNC_TEST_PG is unset: the tests fail, never skip). */
int cps_testdb_create(struct cps_testdb *db, const char *prefix, int seq);

/* The scratch database's conninfo. */
const char *cps_testdb_conninfo(const struct cps_testdb *db);

/* Opens the store on the scratch database and applies its migrations. */
int cps_testdb_migrate(const struct cps_testdb *db);

/* One statement on CONNINFO (e.g. db->admin); 0, or -1 with the reason on
 * stderr. */
int cps_testdb_exec(const char *conninfo, const char *sql);

/* Drops the scratch database (no-op when none was created). */
void cps_testdb_drop(struct cps_testdb *db);

#endif
