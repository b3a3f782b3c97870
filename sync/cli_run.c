/*
 * `cpsync run -c FILE [--http ADDR]`: the service, until SIGINT or SIGTERM.
 * `cpsync demo [--pg CONNINFO] [--http ADDR] [--people N]`: the engine with
 * deploy/demo.yaml (embedded Kafka) and the demo generator producing to the
 * platforms' topics; prints where to look.
 */
#include "cli.h"

#include "common.h"
#include "config.h"
#include "demo.h"
#include "engine.h"

#include <getopt.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void run_usage(FILE *f)
{
	fprintf(f, "usage: cpsync run -c FILE [--http ADDR]\n"
	           "  -c, --config FILE  the configuration (see cpsync config-doc)\n"
	           "  --http ADDR        listen address, overrides http.listen "
	           "(\"127.0.0.1:0\": any free port)\n"
	           "Runs until SIGINT or SIGTERM; exits 0 after a clean stop.\n");
}

static void demo_usage(FILE *f)
{
	fprintf(f, "usage: cpsync demo [--pg CONNINFO] [--http ADDR] [--people N]\n"
	           "  --pg CONNINFO  the store (libpq conninfo); default $CPSYNC_PG\n"
	           "  --http ADDR    listen address (default 127.0.0.1:8080)\n"
	           "  --people N     people the demo generator invents (default 3000)\n"
	           "Runs the engine with deploy/demo.yaml (embedded Kafka) and a generator\n"
	           "that plays the three platforms; Ctrl-C stops.\n");
}

/* Starts the engine, optionally the demo, waits for a signal, stops. */
static int serve(struct cps_config *cfg, const struct cps_engine_opts *opts, bool with_demo,
                 long people)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_engine *engine;
	struct cps_demo *demo = NULL;
	const char *prefix = cps_config_get_string(cfg, "kafka.unified_topic_prefix");

	if (cps_engine_start(cfg, opts, &engine, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: %s\n", err);
		return 1;
	}
	if (with_demo) {
		struct cps_demo_conf dc = {0};

		/* topics "<platform>.<entity>" and the framings of deploy/demo.yaml */
		dc.bootstrap = cps_engine_bootstrap(engine);
		dc.catalog = cps_engine_catalog(engine);
		dc.people = (size_t)people;
		dc.seed = 20211201;
		if (cps_demo_start(&dc, &demo, err, sizeof(err)) != CPS_OK) {
			fprintf(stderr, "cpsync: demo: %s\n", err);
			cps_engine_stop(engine);
			return 1;
		}
		printf("cpsync demo is running (Ctrl-C stops it)\n"
		       "  status:    http://127.0.0.1:%u/status\n"
		       "  kafka:     %s\n"
		       "  unified:   kcat -C -b %s -t %sperson -o beginning -e\n",
		       cps_engine_http_port(engine), cps_engine_bootstrap(engine),
		       cps_engine_bootstrap(engine), prefix);
		fflush(stdout);
	}
	cps_engine_wait(engine);
	cps_demo_stop(demo);
	cps_engine_stop(engine);
	return 0;
}

int cps_cli_run(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"http", required_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cps_engine_opts opts = {0};
	const char *file = NULL;
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			file = optarg;
			break;
		case 'H':
			opts.http_listen = optarg;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (!file || optind != argc) {
		run_usage(stderr);
		return 2;
	}
	if (cps_config_load(file, &cfg, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: run: %s\n", err);
		return 1;
	}
	rc = serve(cfg, &opts, false, 0);
	cps_config_free(cfg);
	return rc;
}

/* deploy/demo.yaml: $CPSYNC_DEMO_CONFIG, the source tree's, or the one
 * installed next to the binary (PREFIX/share/cpsync/demo.yaml). */
static const char *demo_config_path(char *buf, size_t size)
{
	const char *env = getenv("CPSYNC_DEMO_CONFIG");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return env;
	snprintf(buf, size, "%s/deploy/demo.yaml", CPSYNC_SOURCE_DIR);
	if (access(buf, R_OK) == 0)
		return buf;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(buf, size, "%s/../share/cpsync/demo.yaml", exe);
		if (access(buf, R_OK) == 0)
			return buf;
	}
	return NULL;
}

int cps_cli_demo(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"pg", required_argument, NULL, 'p'},
	    {"http", required_argument, NULL, 'H'},
	    {"people", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cps_engine_opts opts = {0};
	char path_buf[PATH_MAX], err[CPS_ERRSTR_SIZE], *end;
	const char *path, *pg;
	struct cps_config *cfg;
	long people = CPS_DEMO_DEFAULT_PEOPLE;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (setenv("CPSYNC_PG", optarg, 1) != 0) {
				fprintf(stderr, "cpsync: demo: out of memory\n");
				return 1;
			}
			break;
		case 'H':
			opts.http_listen = optarg;
			break;
		case 'n':
			people = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || people < 1 || people > 10000000) {
				fprintf(stderr, "cpsync: demo: --people wants 1..10000000\n");
				return 2;
			}
			break;
		case 'h':
			demo_usage(stdout);
			return 0;
		default:
			demo_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		demo_usage(stderr);
		return 2;
	}
	pg = getenv("CPSYNC_PG");
	if (!pg || !*pg) {
		fprintf(stderr, "cpsync: demo: give the store with --pg CONNINFO (or $CPSYNC_PG); "
		                "deploy/pg-private.sh starts a private PostgreSQL\n");
		return 2;
	}
	path = demo_config_path(path_buf, sizeof(path_buf));
	if (!path) {
		fprintf(stderr,
		        "cpsync: demo: deploy/demo.yaml not found (set CPSYNC_DEMO_CONFIG)\n");
		return 1;
	}
	if (cps_config_load(path, &cfg, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: demo: %s\n", err);
		return 1;
	}
	/* the schemas of this installation, wherever demo.yaml lies */
	opts.schema_dir = cps_cli_schema_dir(NULL);
	rc = serve(cfg, &opts, true, people);
	cps_config_free(cfg);
	return rc;
}
