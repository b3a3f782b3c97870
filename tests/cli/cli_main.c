/*
 * A stand-in for sync/main.c's dispatch of the HTTP API commands
 * (cli_api.c), so tests/cli/test_cli.py can drive them before and
 * independently of the main binary's command table.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {
	    {"status", cps_cli_status},         {"conflicts", cps_cli_conflicts},
	    {"records", cps_cli_records},       {"dlq", cps_cli_dlq},
	    {"connectors", cps_cli_connectors},
	};

	for (size_t i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "usage: cpsync-api-cli status|conflicts|records|dlq|connectors ...\n");
	return 2;
}
