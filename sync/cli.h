/*
 * The command line: one function per subcommand, each taking the
 * arguments after its name and returning the process exit status
 * (0 success, 1 bad input or failure, 2 usage error).
 */
#ifndef CPS_CLI_H
#define CPS_CLI_H

#include "schema.h"

int cps_cli_version(int argc, char **argv);
int cps_cli_schema(int argc, char **argv);
int cps_cli_decode(int argc, char **argv);
int cps_cli_encode(int argc, char **argv);
int cps_cli_check_config(int argc, char **argv);
int cps_cli_config_doc(int argc, char **argv);
int cps_cli_run(int argc, char **argv);     /* cli_run.c: cpsync run -c FILE */
int cps_cli_demo(int argc, char **argv);    /* cli_run.c: cpsync demo */
int cps_cli_migrate(int argc, char **argv); /* cli_store.c */

/* The schemas directory: `explicit_dir`, else $CPSYNC_SCHEMA_DIR, else the
 * source tree's schemas/, else the installed share/cpsync/schemas. */
const char *cps_cli_schema_dir(const char *explicit_dir);

/* Loads the schema in `path`: on its own when it is self-contained, else
 * from the catalog of `schema_dir` (cross-file references). On success
 * *catalog may hold the catalog that owns *out (free it after use); when
 * it is NULL the caller owns *out. */
int cps_cli_load_schema(const char *path, const char *schema_dir, struct cps_schema **out,
			struct cps_catalog **catalog, char *errstr, size_t errstr_size);

#endif
