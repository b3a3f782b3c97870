/*
 * cpsync: the one binary. Dispatches to the subcommands (cli.h); the
 * commands themselves live in sync/cli/cli_*.c so the core library holds them
 * and tests can reach them.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/* jemalloc's options, read by the unsanitized binary's allocator
 * (CMakeLists.txt; ASan builds ignore it): a background thread purges freed
 * pages after a second instead of the allocating threads after ten, so the
 * jansson trees a batch frees go back to the system without costing the
 * reconcile workers (sync/ENGINE.md "Allocator"). MALLOC_CONF in the
 * environment still overrides it. */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} commands[] = {
    {"run", cps_cli_run, "run a configured deployment: cpsync run -c FILE"},
    {"demo", cps_cli_demo,
     "run the embedded demo: embedded Kafka, demo data from all three platforms"},
    {"version", cps_cli_version, "print the version of cpsync and its libraries"},
    {"schema", cps_cli_schema, "list|fingerprint|canonical|show: inspect Avro schemas"},
    {"decode", cps_cli_decode, "Avro bytes on stdin to Avro JSON on stdout"},
    {"encode", cps_cli_encode, "Avro JSON on stdin to Avro bytes on stdout"},
    {"check-config", cps_cli_check_config, "validate a configuration file"},
    {"config-doc", cps_cli_config_doc, "print the configuration reference (Markdown)"},
    {"migrate", cps_cli_migrate, "create or upgrade the store's tables in PostgreSQL"},
    {"status", cps_cli_status, "links, store and conflicts of a running cpsync (HTTP API)"},
    {"conflicts", cps_cli_conflicts, "list|show|resolve conflicts (HTTP API)"},
    {"records", cps_cli_records, "show a unified record with provenance and history (HTTP API)"},
    {"dlq", cps_cli_dlq, "list|show|replay|discard dead letters (HTTP API)"},
    {"connectors", cps_cli_connectors, "list|pause|resume|restart links (HTTP API)"},
    {"log", cps_cli_log, "show|set the log level and debug contexts at run time (HTTP API)"},
    {"republish", cps_cli_republish,
     "write an entity's records or changes to a topic again (HTTP API)"},
    {"rules", cps_cli_rules, "show|diff FILE|apply FILE: the rules lifecycle (HTTP API)"},
    {"reload", cps_cli_reload, "re-read rules, policy, tokens, log settings (HTTP API)"},
    {"sweep", cps_cli_sweep, "run|report three-way sweeps against the platforms (HTTP API)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cpsync COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'cpsync COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return cps_cli_version(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cpsync: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
