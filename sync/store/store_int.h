/*
 * Private to the store (store_migrate.c, cli_store.c and its tests): the migrations
 * embedded at build time by cmake/embed_sql.cmake from sync/store/migrations (NNN_name.sql),
 * ordered by version.
 */
#ifndef CPS_STORE_INT_H
#define CPS_STORE_INT_H

#include <stddef.h>

struct cps_migration {
	int version;      /* NNN of NNN_name.sql */
	const char *name; /* "001_initial" */
	const char *sql;  /* the file's text, NUL-terminated */
};

extern const struct cps_migration cps_migrations[];
extern const size_t cps_migrations_count;

#endif
