/* `cpsync check-config FILE` and `cpsync config-doc`. */
#include "cli.h"

#include "common.h"
#include "config.h"

#include <stdio.h>
#include <string.h>

int cps_cli_check_config(int argc, char **argv)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 ? stdout : stderr, "usage: cpsync check-config FILE\n");
		return argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
	}
	if (cps_config_load(argv[1], &cfg, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: check-config: %s\n", err);
		return 1;
	}
	cps_config_free(cfg);
	printf("config OK: %s\n", argv[1]);
	return 0;
}

int cps_cli_config_doc(int argc, char **argv)
{
	cps_config_write_doc(stdout);
	return 0;
}
