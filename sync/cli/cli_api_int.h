/*
 * Private to the commands that speak to a running cpsync over its HTTP API
 * (cli_status.c, cli_conflicts.c, cli_records.c, cli_dlq.c,
 * cli_connectors.c, cli_offsets.c, cli_log.c, cli_republish.c, cli_rules.c,
 * cli_sweep.c): the options they share, their subcommands, one request with
 * its error printed, and the paging of list endpoints (cli_api.c).
 */
#ifndef CPS_CLI_API_INT_H
#define CPS_CLI_API_INT_H

#include "cli/api_client.h"
#include "base/buf.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* What an argument parser returns to let its command go on; any other
 * value is the command's exit status (0 after --help, 2 on bad usage). */
#define CPS_CLI_PROCEED (-1)

/* The options every API command takes. */
struct cps_cli_opts {
	const char *url;
	const char *token;
	long timeout_ms;
	bool json;
	const char *cacert; /* --cacert: PEM CA file for https:// URLs; NULL = $CPSYNC_CACERT */
};

/* The options of a list subcommand: the filters most lists take, --limit N
 * and --all. */
struct cps_cli_list_opts {
	const char *status, *entity, *platform;
	long limit; /* without --all; CPS_CLI_LIST_DEFAULT unless given */
	bool all;
};

#define CPS_CLI_LIST_DEFAULT 50 /* items a list shows without --limit or --all */

/* The "common options:" paragraph every command's usage ends with. */
extern const char cps_cli_common_usage[];

/* One option of a command's own: its long name and where it goes, one of
 * `text` (it takes an argument, stored as is), `flag` (no argument, sets
 * true) or `number` (an integer argument from `min` to `max`; otherwise
 * "cpsync: --NAME wants MIN..MAX[ UNIT]" is printed and the usage error
 * returned). */
struct cps_cli_option {
	const char *name;
	const char **text;
	bool *flag;
	long *number;
	long min, max;
	const char *unit; /* of a number, in its message ("seconds"); may be NULL */
};

#define CPS_CLI_MAX_OWN_OPTIONS 8 /* own options of one command */

/* Reads the options of argv (getopt_long, from optind = 1): the common
 * options into `o`, when `list` is not NULL the list options into `list`
 * (--status, --entity, --platform, --limit 1..1000000, --all), and the `n`
 * (at most CPS_CLI_MAX_OWN_OPTIONS) options `own` of the command.
 * Returns CPS_CLI_PROCEED, or the exit status: 0 after --help (the usage
 * printed on stdout), 2 on an unknown option (the usage printed on stderr)
 * or a bad value (its message printed). */
int cps_cli_parse_options(int argc, char **argv, const struct cps_cli_option *own, size_t n,
                          struct cps_cli_opts *o, struct cps_cli_list_opts *list,
                          void (*usage)(FILE *));
/* `arg` as a positive id; prints why and returns -1 when it is not. */
int cps_cli_parse_id(const char *arg, long long *out);

/* What the command line of an API command with subcommands asks for: the
 * common options, the subcommand and its id, the list options and the
 * request body its checks built. A command's own arguments begin with it
 * (struct dlq_args { struct cps_cli_args base; ... }). */
struct cps_cli_args {
	struct cps_cli_opts o;
	const char *sub;               /* the subcommand's name */
	long long id;                  /* its id, when it takes one */
	struct cps_cli_list_opts list; /* when the command takes the list options */
	json_t *body;                  /* the request body, or NULL; cps_cli_run_sub releases it */
};

/* A subcommand of an API command: its name and the arguments that follow
 * it: `nargs` of them (-1: any number, the caller checks them), the first an
 * id when `id`. */
struct cps_cli_sub {
	const char *name;
	int nargs;
	bool id;
	/* What it does once the client is open, for cps_cli_run_sub: `args` are
	 * the command's own arguments, which begin with struct cps_cli_args;
	 * returns the exit status. May be NULL when the command runs its
	 * subcommands itself. */
	int (*run)(struct cps_api_client *c, const void *args);
};

/* An API command with subcommands: its name (in messages), its usage and
 * its `nsub` subcommands `subs`; `list` when it takes the list options. */
struct cps_cli_command {
	const char *name;
	void (*usage)(FILE *);
	const struct cps_cli_sub *subs;
	size_t nsub;
	bool list;
};

/* Reads the options of argv as cps_cli_parse_options (the common ones into
 * a->o, the list options into a->list when cmd->list, and the `n` options
 * `own`), then the subcommand argv[optind] into a->sub and its id into
 * a->id. Prints cmd's usage on stderr (and names an unknown subcommand)
 * when the subcommand is missing, unknown or has the wrong arguments.
 * Returns CPS_CLI_PROCEED or the exit status. */
int cps_cli_parse_command(int argc, char **argv, const struct cps_cli_command *cmd,
                          const struct cps_cli_option *own, size_t n, struct cps_cli_args *a);
/* Runs the `run` of subcommand a->sub of cmd with the client of a->o open,
 * then releases the client and a->body. Returns the exit status (1 when the
 * client does not open, its error printed). */
int cps_cli_run_sub(const struct cps_cli_command *cmd, struct cps_cli_args *a);

/* Opens the client of `o`; prints the error and returns -1 on failure. */
int cps_cli_client_open(const struct cps_cli_opts *o, struct cps_api_client *c);
/* One request; prints the error and returns -1 unless the status is 2xx
 * (or `also_ok`, e.g. 503 for /readyz) and the answer is JSON. *doc is set
 * on success (the caller decrefs); *status_out (may be NULL) gets the
 * status whenever an answer came. */
int cps_cli_call(struct cps_api_client *c, const char *method, const char *path, json_t *body,
                 long also_ok, long *status_out, json_t **doc);
/* Prints `doc` indented, keys sorted. */
void cps_cli_print_json(const json_t *doc);

/* Adds "name=value" (value escaped) to the query string `q` ("?a=1&b=x");
 * a NULL value adds nothing. Returns -1 when out of memory. */
int cps_cli_query_add(struct cps_buf *q, const char *name, const char *value);
/* GETs `base` + `query` (without cursor/limit), following next_cursor,
 * until `want` items (0 = all) are appended to `items`; *more tells whether
 * the server had more. Returns -1 (error printed) when a request failed. */
int cps_cli_list_pages(struct cps_api_client *c, const char *base, struct cps_buf *query, long want,
                       json_t *items, bool *more);

/* Sends one request (`body` may be NULL; borrowed) and prints the answer:
 * the JSON with `json`, else by `print`. Returns the exit status (1 when the
 * request failed, error printed). */
int cps_cli_call_print(struct cps_api_client *c, const char *method, const char *path, json_t *body,
                       bool json, void (*print)(const json_t *doc));

/* One filter of a list: the query parameter `name` and its value (NULL:
 * not given). */
struct cps_cli_filter {
	const char *name;
	const char *value;
};

/* A list command: the items of `base` that pass the `nfilter` filters, up
 * to list->limit (all with list->all), printed as {"items": [...], "more": B} with `json`,
 * else by `print` and a "(more: ...)" line when the server had more.
 * Returns the exit status. */
int cps_cli_list(struct cps_api_client *c, const char *base, const struct cps_cli_filter *filters,
                 size_t nfilter, const struct cps_cli_list_opts *list, bool json,
                 void (*print)(const json_t *items));

/* cli_conflicts.c: the conflicts table (also under a record). */
void cps_cli_print_conflict_list(const json_t *items);

/* cli_offsets.c: `cpsync connectors offsets NAME`, shown, or reset to one of
 * `to` ("earliest", "latest"), `timestamp_ms` (>= 0) or `offset`
 * ("STREAM[:PARTITION]=OFFSET[,...]"); NULL / -1 when not given. Returns the
 * exit status. */
struct cps_cli_reset {
	const char *to, *offset, *reason;
	long timestamp_ms;
};
int cps_cli_offsets(struct cps_api_client *cl, const char *name, const struct cps_cli_reset *r,
                    bool json);

#endif
