/*
 * `cpsync migrate -c CONFIG | --conninfo STR`: applies the store's pending
 * migrations (embedded in the binary) and prints the versions it applied and
 * the schema version reached. Safe to run from several instances at once.
 */
#include "cli/cli.h"

#include "base/common.h"
#include "config/config.h"
#include "base/pii.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

static int migrate_usage(FILE *f, int status)
{
	fprintf(f, "usage: cpsync migrate -c CONFIG\n"
	           "       cpsync migrate --conninfo CONNINFO\n"
	           "Applies the pending migrations of the store (schema cpsync).\n");
	return status;
}

int cps_cli_migrate(int argc, char **argv)
{
	const char *config_path = NULL, *conninfo = NULL;
	struct cps_config *cfg = NULL;
	struct cps_store *store = NULL;
	char err[CPS_ERRSTR_SIZE], masked[CPS_MASK_SIZE];
	int before = 0, after = 0, latest = 0, status = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return migrate_usage(stdout, 0);
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
			config_path = argv[++i];
		else if (!strcmp(argv[i], "--conninfo") && i + 1 < argc)
			conninfo = argv[++i];
		else
			return migrate_usage(stderr, 2);
	}
	if (!config_path == !conninfo)
		return migrate_usage(stderr, 2);
	if (config_path) {
		if (cps_config_load(config_path, &cfg, err, sizeof(err)) != CPS_OK) {
			fprintf(stderr, "cpsync: migrate: %s\n", err);
			return 1;
		}
		conninfo = cps_config_get_string(cfg, "store.conninfo");
	}
	if (cps_store_open(conninfo, &store, err, sizeof(err)) != CPS_OK ||
	    cps_store_schema_version(store, &before, &latest, err, sizeof(err)) != CPS_OK ||
	    cps_store_migrate(store, err, sizeof(err)) != CPS_OK ||
	    cps_store_schema_version(store, &after, &latest, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: migrate: %s (store '%s')\n", err,
		        cps_mask_conninfo(conninfo, masked, sizeof(masked)));
		goto out;
	}
	for (int v = before + 1; v <= after; v++)
		if (cps_store_migration_name(v))
			printf("applied %s\n", cps_store_migration_name(v));
	printf("schema version %d (latest %d)%s\n", after, latest,
	       after == before ? ", nothing to apply" : "");
	status = 0;
out:
	cps_store_close(store);
	cps_config_free(cfg);
	return status;
}
