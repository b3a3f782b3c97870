/*
 * The command line: one function per subcommand, each taking the
 * arguments after its name and returning the process exit status
 * (0 success, 1 bad input or failure, 2 usage error).
 */
#ifndef CPS_CLI_H
#define CPS_CLI_H

#include "codec/schema.h"

int cps_cli_version(int argc, char **argv);
int cps_cli_schema(int argc, char **argv);
int cps_cli_decode(int argc, char **argv);
int cps_cli_encode(int argc, char **argv);
int cps_cli_check_config(int argc, char **argv);
int cps_cli_config_doc(int argc, char **argv);
int cps_cli_run(int argc, char **argv);     /* cli_run.c: cpsync run -c FILE */
int cps_cli_demo(int argc, char **argv);    /* cli_run.c: cpsync demo */
int cps_cli_migrate(int argc, char **argv); /* cli_store.c */

/* Commands that speak to a running cpsync over its HTTP API
 * (--url/$CPSYNC_URL, --token/$CPSYNC_TOKEN, --json), one file each; what
 * they share is in cli_api.c, their tables in cli_table.c. argv[0] is the
 * command's name, as for the others. */
int cps_cli_status(int argc, char **argv);     /* cli_status.c: cpsync status */
int cps_cli_conflicts(int argc, char **argv);  /* cli_conflicts.c: list|show|resolve */
int cps_cli_records(int argc, char **argv);    /* cli_records.c: records show ENTITY KEY */
int cps_cli_dlq(int argc, char **argv);        /* cli_dlq.c: list|show|replay|discard */
int cps_cli_connectors(int argc, char **argv); /* cli_connectors.c: list|pause|resume|restart */
int cps_cli_log(int argc, char **argv);        /* cli_log.c: log show|set LEVEL */
int cps_cli_republish(int argc, char **argv);  /* cli_republish.c: republish --entity E */
int cps_cli_rules(int argc, char **argv);      /* cli_rules.c: rules show|diff|apply */
int cps_cli_reload(int argc, char **argv);     /* cli_rules.c: reload */
int cps_cli_sweep(int argc, char **argv);      /* cli_sweep.c: sweep run|report */

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
