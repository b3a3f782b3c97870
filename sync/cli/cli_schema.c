/*
 * `cpsync version` and `cpsync schema list|fingerprint|canonical|show`, plus
 * the schema-locating helpers the other commands share.
 */
#include "cli/cli.h"

#include "base/common.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef CPSYNC_INSTALLED_SCHEMA_DIR
#define CPSYNC_INSTALLED_SCHEMA_DIR "/usr/local/share/cpsync/schemas"
#endif

int cps_cli_version(int argc, char **argv)
{
	int pq = PQlibVersion();

	printf("cpsync %s\n", CPSYNC_VERSION);
	printf("  librdkafka %s, libpq %d.%d, libmicrohttpd %s, %s, jansson %s\n",
	       rd_kafka_version_str(), pq / 10000, pq % 10000, MHD_get_version(), curl_version(),
	       JANSSON_VERSION);
	return 0;
}

static int is_dir(const char *p)
{
	struct stat st;

	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cps_cli_schema_dir(const char *explicit_dir)
{
	static char source_dir[PATH_MAX];
	const char *env = getenv("CPSYNC_SCHEMA_DIR");

	if (explicit_dir && *explicit_dir)
		return explicit_dir;
	if (env && *env)
		return env;
	snprintf(source_dir, sizeof(source_dir), "%s/schemas", CPSYNC_SOURCE_DIR);
	if (is_dir(source_dir))
		return source_dir;
	return CPSYNC_INSTALLED_SCHEMA_DIR;
}

int cps_cli_load_schema(const char *path, const char *schema_dir, struct cps_schema **out,
                        struct cps_catalog **catalog, char *errstr, size_t errstr_size)
{
	char want[PATH_MAX], have[PATH_MAX], catalog_err[CPS_ERRSTR_SIZE];
	struct cps_catalog *cat = NULL;
	int rc;

	*catalog = NULL;
	rc = cps_schema_load_file(path, out, errstr, errstr_size);
	if (rc == CPS_OK)
		return CPS_OK;
	/* Not self-contained: maybe it refers to types of the catalog. */
	if (!realpath(path, want))
		return rc;
	if (cps_catalog_load_dir(schema_dir, &cat, catalog_err, sizeof(catalog_err)) != CPS_OK)
		return rc;
	for (size_t i = 0; i < cps_catalog_count(cat); i++) {
		struct cps_schema *s = cps_catalog_at(cat, i);

		if (s->path && realpath(s->path, have) && !strcmp(have, want)) {
			*out = s;
			*catalog = cat;
			return CPS_OK;
		}
	}
	cps_catalog_free(cat);
	return rc;
}

static int schema_list(const char *dir)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_catalog *cat;

	if (cps_catalog_load_dir(dir, &cat, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: schema list: %s\n", err);
		return 1;
	}
	printf("%-16s %4s  %-34s %s\n", "FINGERPRINT", "ID", "NAME", "FILE");
	for (size_t i = 0; i < cps_catalog_count(cat); i++) {
		struct cps_schema *s = cps_catalog_at(cat, i);
		const char *file = s->path ? s->path : "-";
		size_t dl = strlen(dir);

		if (!strncmp(file, dir, dl) && file[dl] == '/')
			file += dl + 1;
		printf("%016llx %4d  %-34s %s\n", (unsigned long long)s->fingerprint, (int)s->id,
		       s->name, file);
	}
	cps_catalog_free(cat);
	return 0;
}

static void schema_usage(FILE *f)
{
	fprintf(f, "usage: cpsync schema list [--schemas DIR]\n"
	           "       cpsync schema fingerprint FILE [--schemas DIR]\n"
	           "       cpsync schema canonical FILE [--schemas DIR]\n"
	           "       cpsync schema show FILE [--schemas DIR]\n"
	           "fingerprint prints the CRC-64-AVRO fingerprint of the Parsing Canonical Form\n"
	           "(16 hex digits, most significant byte first) and the schema's full name;\n"
	           "canonical prints the Parsing Canonical Form; show prints the schema JSON with\n"
	           "references to other files of the schemas directory resolved.\n");
}

int cps_cli_schema(int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : NULL, *file = NULL, *dir = NULL;
	char err[CPS_ERRSTR_SIZE];
	struct cps_catalog *cat = NULL;
	struct cps_schema *s;
	int i;

	if (!verb || !strcmp(verb, "--help") || !strcmp(verb, "-h")) {
		schema_usage(verb ? stdout : stderr);
		return verb ? 0 : 2;
	}
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--schemas") && i + 1 < argc)
			dir = argv[++i];
		else if (!file && argv[i][0] != '-')
			file = argv[i];
		else {
			schema_usage(stderr);
			return 2;
		}
	}
	dir = cps_cli_schema_dir(dir);
	if (!strcmp(verb, "list"))
		return schema_list(dir);
	if (!file ||
	    (strcmp(verb, "fingerprint") && strcmp(verb, "canonical") && strcmp(verb, "show"))) {
		schema_usage(stderr);
		return 2;
	}
	if (cps_cli_load_schema(file, dir, &s, &cat, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "cpsync: schema %s: %s\n", verb, err);
		return 1;
	}
	if (!strcmp(verb, "fingerprint")) {
		printf("%016llx %s\n", (unsigned long long)s->fingerprint, s->name);
	} else if (!strcmp(verb, "canonical")) {
		printf("%s\n", s->canonical);
	} else {
		char *text = json_dumps(s->json, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		printf("%s\n", text ? text : "null");
		free(text);
	}
	if (cat)
		cps_catalog_free(cat);
	else
		cps_schema_free(s);
	return 0;
}
