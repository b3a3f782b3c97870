/*
 * `cpsync run -c FILE [--http ADDR]`: the service, until SIGINT or SIGTERM.
 * `cpsync demo [--pg CONNINFO] [--city-pg CONNINFO] [--shenshan-dir DIR]
 * [--http ADDR] [--people N] [--kafka BOOTSTRAP]`: the engine with
 * deploy/demo.yaml (embedded Kafka, or a real one, for the province and
 * cpsync's own topics, the city as a PostgreSQL database, Shenshan as
 * inbox/outbox directories) and the demo generator playing the three
 * platforms on those transports; prints where to look.
 */
#include "cli/cli.h"

#include "base/common.h"
#include "config/config.h"
#include "demo/demo.h"
#include "engine.h"
#include "store/pgerr.h"

#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void run_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cpsync run -c FILE [--http ADDR]\n"
	    "  -c, --config FILE  the configuration (see cpsync config-doc)\n"
	    "  --http ADDR        listen address, overrides http.listen (\"127.0.0.1:0\": any free port)\n"
	    "Runs until SIGINT or SIGTERM; exits 0 after a clean stop.\n");
}

static void demo_usage(FILE *f)
{
	fprintf(f,
	        "usage: cpsync demo [--pg CONNINFO] [--city-pg CONNINFO] [--shenshan-dir DIR]\n"
	        "                   [--http ADDR] [--people N] [--kafka BOOTSTRAP]\n"
	        "  --pg CONNINFO       the store (libpq conninfo); default $CPSYNC_PG\n"
	        "  --city-pg CONNINFO  the city's database, created when missing; default\n"
	        "                      the store's server with dbname=city\n"
	        "  --shenshan-dir DIR  the zone's inbox/ and outbox/ (default var/demo/shenshan)\n"
	        "  --http ADDR         listen address (default 127.0.0.1:8080)\n"
	        "  --people N          people the demo generator invents (default 3000)\n"
	        "  --kafka BOOTSTRAP   a real Kafka instead of the embedded broker (its topics\n"
	        "                      survive a restart; deploy/kafka-private.sh starts one)\n"
	        "Runs the engine with deploy/demo.yaml: the province on an embedded Kafka,\n"
	        "the city as a PostgreSQL database, Shenshan as Avro files in directories,\n"
	        "and a generator that plays the three platforms; Ctrl-C stops.\n");
}

/* Where the demo's city and Shenshan live; NULL members: Kafka. */
struct demo_places {
	const char *city_conninfo;
	const char *city_display; /* conninfo without the password */
	const char *shenshan_dir; /* absolute */
};

/* Starts the engine, optionally the demo, waits for a signal, stops. */
static int serve(struct cps_config *cfg, const struct cps_engine_opts *opts, bool with_demo,
                 long people, const struct demo_places *places)
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
		dc.settle_ms = 5000; /* the registers in the store before the enrolments */
		if (places) {
			static char inbox[PATH_MAX];

			snprintf(inbox, sizeof(inbox), "%s/inbox", places->shenshan_dir);
			dc.city_conninfo = places->city_conninfo;
			dc.shenshan_inbox = inbox;
		}
		if (cps_demo_start(&dc, &demo, err, sizeof(err)) != CPS_OK) {
			fprintf(stderr, "cpsync: demo: %s\n", err);
			cps_engine_stop(engine);
			return 1;
		}
		printf(
		    "cpsync demo is running (Ctrl-C stops it)\n"
		    "  dashboard: http://127.0.0.1:%u/  (default tokens: demo-steward-token, demo-operator-token, demo-viewer-token)\n"
		    "  status:    http://127.0.0.1:%u/status\n"
		    "  kafka:     %s\n"
		    "  unified:   kcat -C -b %s -t %sperson -o beginning -e\n",
		    cps_engine_http_port(engine), cps_engine_http_port(engine),
		    cps_engine_bootstrap(engine), cps_engine_bootstrap(engine), prefix);
		if (places)
			printf(
			    "  city:      psql \"%s\" -c 'TABLE inbound.person LIMIT 5'\n"
			    "             (the city's own tables: city.*; what cpsync sends it: inbound.*)\n"
			    "  shenshan:  inbox %s/inbox, outbox %s/outbox\n",
			    places->city_display, places->shenshan_dir, places->shenshan_dir);
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
	rc = serve(cfg, &opts, false, 0, NULL);
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

/* `conninfo` with its dbname replaced by `dbname` (NULL: kept), as
 * "key='value' ..." (malloc'd), without the password when `for_display`;
 * NULL when it does not parse. */
static char *conninfo_with_dbname(const char *conninfo, const char *dbname, bool for_display)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	size_t size = 64 + strlen(conninfo) * 2 + (dbname ? strlen(dbname) * 2 : 0), o = 0;
	char *out = opts ? malloc(size) : NULL;

	if (!out) {
		PQconninfoFree(opts);
		return NULL;
	}
	out[0] = '\0';
	for (PQconninfoOption *p = opts; p->keyword; p++) {
		const char *v = !strcmp(p->keyword, "dbname") && dbname ? dbname : p->val;

		if (!v || (for_display && !strcmp(p->keyword, "password")))
			continue;
		o += (size_t)snprintf(out + o, size - o, "%s%s='", o ? " " : "", p->keyword);
		for (; *v && o + 4 < size; v++) {
			if (*v == '\'' || *v == '\\')
				out[o++] = '\\';
			out[o++] = *v;
		}
		o += (size_t)snprintf(out + o, size - o, "'");
	}
	PQconninfoFree(opts);
	return out;
}

/* The dbname of a conninfo (malloc'd), or NULL. */
static char *conninfo_dbname(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	char *name = NULL;

	for (PQconninfoOption *p = opts; p && p->keyword; p++)
		if (!strcmp(p->keyword, "dbname") && p->val)
			name = strdup(p->val);
	PQconninfoFree(opts);
	return name;
}

/* Creates database `dbname` through the server of `admin_conninfo` unless
 * it exists. */
static int ensure_database(const char *admin_conninfo, const char *dbname, char *errstr,
                           size_t errstr_size)
{
	PGconn *db = PQconnectdb(admin_conninfo);
	const char *params[1] = {dbname};
	PGresult *res;
	char *ident, sql[512];
	int rc = CPS_OK;

	if (PQstatus(db) != CONNECTION_OK) {
		char line[200];

		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "connecting to the store's server failed: %s",
		                cps_pg_conn_message(db, line, sizeof(line)));
		PQfinish(db);
		return rc;
	}
	res = PQexecParams(db, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, params,
	                   NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0) {
		PQclear(res);
		ident = PQescapeIdentifier(db, dbname, strlen(dbname));
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", ident ? ident : "\"\"");
		PQfreemem(ident);
		res = PQexec(db, sql);
		/* 42P04: created meanwhile by someone else */
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) ?: "", "42P04") != 0)
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "creating database '%s' failed: %s", dbname,
			                PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?: "?");
	} else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "looking for database '%s' failed: %s", dbname,
		                PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?: "?");
	}
	PQclear(res);
	PQfinish(db);
	return rc;
}

/* setenv for the ${VARS} of deploy/demo.yaml; 1 (why printed) when memory
 * is out. */
static int demo_setenv(const char *name, const char *value)
{
	if (setenv(name, value, 1) == 0)
		return 0;
	fprintf(stderr, "cpsync: demo: out of memory\n");
	return 1;
}

/* mkdir -p for one path, readable by its own user only: the zone's folders
 * hold personal data (an existing leaf is narrowed to 0700 too). */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -1;
	return chmod(buf, 0700);
}

/* The city's database and tables, the zone's directories, and the
 * environment deploy/demo.yaml reads them from. */
static int prepare_places(const char *store, const char *city_opt, const char *shenshan_opt,
                          struct demo_places *pl, char **owned_city, char **owned_dbname,
                          char **owned_display)
{
	static char shenshan_abs[PATH_MAX];
	char err[CPS_ERRSTR_SIZE], dir[PATH_MAX];
	const char *sub[] = {"inbox", "outbox"};

	*owned_city = city_opt ? strdup(city_opt) : conninfo_with_dbname(store, "city", false);
	if (!*owned_city) {
		fprintf(stderr, "cpsync: demo: the store's conninfo does not parse\n");
		return 2;
	}
	*owned_dbname = conninfo_dbname(*owned_city);
	if (!*owned_dbname) {
		fprintf(stderr, "cpsync: demo: --city-pg names no dbname\n");
		return 2;
	}
	*owned_display = conninfo_with_dbname(*owned_city, NULL, true);
	if (!*owned_display) {
		fprintf(stderr, "cpsync: demo: --city-pg does not parse\n");
		return 2;
	}
	if (ensure_database(store, *owned_dbname, err, sizeof(err)) != CPS_OK ||
	    cps_demo_city_setup(*owned_city, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: demo: city: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < CPS_ARRAY_SIZE(sub); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", shenshan_opt, sub[i]);
		if (make_dirs(dir) < 0) {
			fprintf(stderr, "cpsync: demo: creating '%s': %s\n", dir, strerror(errno));
			return 1;
		}
	}
	if (!realpath(shenshan_opt, shenshan_abs)) {
		fprintf(stderr, "cpsync: demo: '%s': %s\n", shenshan_opt, strerror(errno));
		return 1;
	}
	pl->city_conninfo = *owned_city;
	pl->city_display = *owned_display;
	pl->shenshan_dir = shenshan_abs;
	if (demo_setenv("CPSYNC_DEMO_CITY_PG", *owned_city) ||
	    demo_setenv("CPSYNC_DEMO_SHENSHAN_DIR", shenshan_abs))
		return 1;
	return 0;
}

int cps_cli_demo(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"pg", required_argument, NULL, 'p'},
	    {"http", required_argument, NULL, 'H'},
	    {"people", required_argument, NULL, 'n'},
	    {"city-pg", required_argument, NULL, 'C'},
	    {"shenshan-dir", required_argument, NULL, 'S'},
	    {"kafka", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cps_engine_opts opts = {0};
	char path_buf[PATH_MAX], err[CPS_ERRSTR_SIZE], *end;
	char *city = NULL, *city_db = NULL, *city_display = NULL;
	const char *path, *pg, *city_opt = NULL, *shenshan_opt = "var/demo/shenshan";
	struct demo_places places = {0};
	struct cps_config *cfg;
	long people = CPS_DEMO_DEFAULT_PEOPLE;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (demo_setenv("CPSYNC_PG", optarg))
				return 1;
			break;
		case 'H':
			opts.http_listen = optarg;
			break;
		case 'C':
			city_opt = optarg;
			break;
		case 'S':
			shenshan_opt = optarg;
			break;
		case 'k':
			/* deploy/demo.yaml: brokers: ${CPSYNC_DEMO_KAFKA:-embedded} */
			if (demo_setenv("CPSYNC_DEMO_KAFKA", optarg))
				return 1;
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
		fprintf(
		    stderr,
		    "cpsync: demo: give the store with --pg CONNINFO (or $CPSYNC_PG); deploy/pg-private.sh starts a private PostgreSQL\n");
		return 2;
	}
	path = demo_config_path(path_buf, sizeof(path_buf));
	if (!path) {
		fprintf(stderr,
		        "cpsync: demo: deploy/demo.yaml not found (set CPSYNC_DEMO_CONFIG)\n");
		return 1;
	}
	rc = prepare_places(pg, city_opt, shenshan_opt, &places, &city, &city_db, &city_display);
	if (rc != 0)
		goto out;
	/* the schemas of this installation, wherever demo.yaml lies; the
	 * connectors that load schemas themselves read $CPSYNC_SCHEMA_DIR */
	opts.schema_dir = cps_cli_schema_dir(NULL);
	if (setenv("CPSYNC_SCHEMA_DIR", opts.schema_dir, 1) != 0) {
		rc = 1;
		goto out;
	}
	if (cps_config_load(path, &cfg, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: demo: %s\n", err);
		rc = 1;
		goto out;
	}
	rc = serve(cfg, &opts, true, people, &places);
	cps_config_free(cfg);
out:
	free(city);
	free(city_db);
	free(city_display);
	return rc;
}
