/*
 * openapi.routes: docs/openapi.yaml is well-formed YAML holding an OpenAPI
 * 3.x document (info, paths, operations with responses), and it matches the
 * routes a real engine answers: started in-process on a fresh database
 * (CPSYNC_TEST_PG) with the embedded broker, its HTTP server lists every
 * registered route (cps_http_routes), each of which must be documented with
 * the same method and the same roles (the operation's x-cpsync-roles:
 * viewer, steward, operator, or open for a route served without a token),
 * and every documented operation must be a route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "base/common.h"
#include "config/config.h"
#include "engine.h"
#include "http/http.h"
#include "testdb.h"

#define MAX_OPS 256

#define ROLES_OPEN 0x100 /* served without a token */

struct op {
	char method[16];
	char path[256];
	int seen;
	int roles; /* CPS_ROLE_* bits or ROLES_OPEN; -1: not documented */
};

struct ops {
	struct op v[MAX_OPS];
	size_t n;
};

static struct cps_testdb testdb;

static const char *source_dir(void)
{
	const char *d = getenv("CPSYNC_SOURCE_DIR");

	return d && *d ? d : CPSYNC_SOURCE_DIR;
}

static void ops_add(struct ops *o, const char *method, const char *path)
{
	if (o->n == MAX_OPS)
		fail_msg("more than %d operations", MAX_OPS);
	snprintf(o->v[o->n].method, sizeof(o->v[o->n].method), "%s", method);
	snprintf(o->v[o->n].path, sizeof(o->v[o->n].path), "%s", path);
	for (char *p = o->v[o->n].method; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	o->v[o->n].seen = 0;
	o->v[o->n].roles = -1;
	o->n++;
}

static struct op *ops_find(struct ops *o, const char *method, const char *path)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcasecmp(o->v[i].method, method) && !strcmp(o->v[i].path, path))
			return &o->v[i];
	return NULL;
}

/* ---- the YAML document -------------------------------------------------- */

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);

		if (k && k->type == YAML_SCALAR_NODE && strlen(key) == k->data.scalar.length &&
		    !memcmp(k->data.scalar.value, key, k->data.scalar.length))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_http_method(const char *m)
{
	static const char *const methods[] = {"get",     "put",  "post",  "delete",
	                                      "options", "head", "patch", "trace"};

	for (size_t i = 0; i < CPS_ARRAY_SIZE(methods); i++)
		if (!strcmp(m, methods[i]))
			return 1;
	return 0;
}

/* The operation's x-cpsync-roles as bits; -1 when absent or malformed. */
static int doc_roles(yaml_document_t *d, yaml_node_t *op)
{
	yaml_node_t *list = map_get(d, op, "x-cpsync-roles");
	int bits = 0;

	if (!list || list->type != YAML_SEQUENCE_NODE)
		return -1;
	for (yaml_node_item_t *it = list->data.sequence.items.start;
	     it < list->data.sequence.items.top; it++) {
		const char *r = scalar(yaml_document_get_node(d, *it));

		if (r && !strcmp(r, "viewer"))
			bits |= CPS_ROLE_VIEWER;
		else if (r && !strcmp(r, "steward"))
			bits |= CPS_ROLE_STEWARD;
		else if (r && !strcmp(r, "operator"))
			bits |= CPS_ROLE_OPERATOR;
		else if (r && !strcmp(r, "open"))
			bits |= ROLES_OPEN;
		else
			return -1;
	}
	return bits;
}

static const char *roles_text(int roles, char *buf, size_t size)
{
	if (roles < 0)
		return "none documented";
	snprintf(buf, size, "%s%s%s%s", roles & ROLES_OPEN ? "open " : "",
	         roles & CPS_ROLE_VIEWER ? "viewer " : "",
	         roles & CPS_ROLE_STEWARD ? "steward " : "",
	         roles & CPS_ROLE_OPERATOR ? "operator" : "");
	return buf;
}

/* Loads and checks the document's shape; fills `doc_ops`. */
static void load_openapi(struct ops *doc_ops)
{
	char path[1024];
	yaml_parser_t parser;
	yaml_document_t d;
	yaml_node_t *root, *info, *paths;
	yaml_node_pair_t *p, *q;
	regex_t re;
	FILE *f;

	snprintf(path, sizeof(path), "%s/docs/openapi.yaml", source_dir());
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	assert_true(yaml_parser_initialize(&parser));
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &d))
		fail_msg("docs/openapi.yaml is not well-formed YAML: %s at line %zu column %zu",
		         parser.problem ? parser.problem : "?", parser.problem_mark.line + 1,
		         parser.problem_mark.column + 1);
	root = yaml_document_get_root_node(&d);
	if (!root || root->type != YAML_MAPPING_NODE)
		fail_msg("docs/openapi.yaml: the document is not a mapping");

	assert_int_equal(regcomp(&re, "^3\\.[0-9]+\\.[0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
	if (!scalar(map_get(&d, root, "openapi")) ||
	    regexec(&re, scalar(map_get(&d, root, "openapi")), 0, NULL, 0) != 0)
		fail_msg("docs/openapi.yaml: 'openapi' must be a 3.x.y version");
	regfree(&re);
	info = map_get(&d, root, "info");
	if (!scalar(map_get(&d, info, "title")) || !scalar(map_get(&d, info, "version")))
		fail_msg("docs/openapi.yaml: 'info' needs a title and a version");
	paths = map_get(&d, root, "paths");
	if (!paths || paths->type != YAML_MAPPING_NODE)
		fail_msg("docs/openapi.yaml: 'paths' must be a mapping");

	for (p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top; p++) {
		const char *pth = scalar(yaml_document_get_node(&d, p->key));
		yaml_node_t *item = yaml_document_get_node(&d, p->value);

		if (!pth || pth[0] != '/')
			fail_msg("docs/openapi.yaml: path '%s' does not start with '/'",
			         pth ? pth : "?");
		if (!item || item->type != YAML_MAPPING_NODE)
			fail_msg("docs/openapi.yaml: path '%s' is not a mapping", pth);
		for (q = item->data.mapping.pairs.start; q < item->data.mapping.pairs.top; q++) {
			const char *m = scalar(yaml_document_get_node(&d, q->key));
			yaml_node_t *op = yaml_document_get_node(&d, q->value), *resp;

			if (!m)
				fail_msg("docs/openapi.yaml: '%s' has a non-scalar key", pth);
			if (!is_http_method(m)) {
				if (strcmp(m, "parameters") && strcmp(m, "summary") &&
				    strcmp(m, "description") && strcmp(m, "servers") &&
				    strncmp(m, "x-", 2))
					fail_msg(
					    "docs/openapi.yaml: '%s' has an unknown member '%s'",
					    pth, m);
				continue;
			}
			resp = map_get(&d, op, "responses");
			if (!resp || resp->type != YAML_MAPPING_NODE ||
			    resp->data.mapping.pairs.top == resp->data.mapping.pairs.start)
				fail_msg("docs/openapi.yaml: %s %s has no responses", m, pth);
			if (ops_find(doc_ops, m, pth))
				fail_msg("docs/openapi.yaml: %s %s twice", m, pth);
			ops_add(doc_ops, m, pth);
			doc_ops->v[doc_ops->n - 1].roles = doc_roles(&d, op);
		}
	}
	yaml_document_delete(&d);
	yaml_parser_delete(&parser);
	fclose(f);
	if (doc_ops->n < 10)
		fail_msg("docs/openapi.yaml documents only %zu operations", doc_ops->n);
}

static void test_openapi_is_wellformed(void **state)
{
	struct ops *o = calloc(1, sizeof(*o));

	assert_non_null(o);
	load_openapi(o);
	assert_non_null(ops_find(o, "GET", "/api/v1/conflicts"));
	free(o);
}

/* ---- the server's routes ------------------------------------------------ */

static void collect_route(void *ctx, const struct cps_http_route_info *ri)
{
	struct ops *o = ctx;

	ops_add(o, ri->method, ri->pattern);
	o->v[o->n - 1].roles = ri->open ? ROLES_OPEN : (int)ri->roles;
}

#define CONFIG                                                                                     \
	"instance: openapi-test\n"                                                                 \
	"log: {level: warn}\n"                                                                     \
	"kafka:\n"                                                                                 \
	"  brokers: embedded\n"                                                                    \
	"  embedded: {partitions: 1}\n"                                                            \
	"store: {conninfo: \"%s\"}\n"                                                              \
	"http:\n"                                                                                  \
	"  tokens:\n"                                                                              \
	"    v: {token: \"viewer-token-0123456789abcdef\", role: viewer}\n"                        \
	"    s: {token: \"steward-token-0123456789abcdef\", role: steward}\n"                      \
	"    o: {token: \"operator-token-0123456789abcdef\", role: operator}\n"                    \
	"reconcile: {workers: 1}\n"                                                                \
	"platforms:\n"                                                                             \
	"  province:\n"                                                                            \
	"    connector: kafka\n"                                                                   \
	"    source:\n"                                                                            \
	"      framing: single-object\n"                                                           \
	"      topics: [province.person]\n"                                                        \
	"      topic: {province.person: {entity: person}}\n"

static void test_routes_match_document(void **state)
{
	struct cps_engine_opts opts = {.http_listen = "127.0.0.1:0", .no_signals = true};
	struct ops *doc = calloc(1, sizeof(*doc)), *srv = calloc(1, sizeof(*srv));
	char text[4096], err[CPS_ERRSTR_SIZE], schemas[1024];
	struct cps_config *cfg = NULL;
	struct cps_engine *e = NULL;
	int missing = 0;

	assert_non_null(doc);
	assert_non_null(srv);
	load_openapi(doc);
	snprintf(schemas, sizeof(schemas), "%s/schemas", source_dir());
	opts.schema_dir = getenv("CPSYNC_SCHEMA_DIR") ? getenv("CPSYNC_SCHEMA_DIR") : schemas;
	snprintf(text, sizeof(text), CONFIG, testdb.conninfo);
	if (cps_config_load_string(text, strlen(text), "openapi.yaml", NULL, &cfg, err,
	                           sizeof(err)) != CPS_OK)
		fail_msg("config: %s", err);
	if (cps_engine_start(cfg, &opts, &e, err, sizeof(err)) != CPS_OK)
		fail_msg("engine start: %s", err);
	cps_http_routes(cps_engine_http(e), collect_route, srv);
	cps_engine_request_stop(e);
	cps_engine_wait(e);
	cps_engine_stop(e);
	cps_config_free(cfg);

	if (srv->n < 10)
		fail_msg("the server has only %zu routes", srv->n);
	for (size_t i = 0; i < srv->n; i++) {
		struct op *d = ops_find(doc, srv->v[i].method, srv->v[i].path);

		if (!d) {
			fprintf(stderr,
			        "openapi.routes: the server answers %s %s, "
			        "docs/openapi.yaml does not document it\n",
			        srv->v[i].method, srv->v[i].path);
			missing++;
		} else {
			char a[64], b[64];

			d->seen = 1;
			if (d->roles != srv->v[i].roles) {
				fprintf(stderr,
				        "openapi.routes: %s %s is for %s, docs/openapi.yaml "
				        "says x-cpsync-roles %s\n",
				        srv->v[i].method, srv->v[i].path,
				        roles_text(srv->v[i].roles, a, sizeof(a)),
				        roles_text(d->roles, b, sizeof(b)));
				missing++;
			}
		}
	}
	for (size_t i = 0; i < doc->n; i++) {
		if (!doc->v[i].seen) {
			fprintf(stderr,
			        "openapi.routes: docs/openapi.yaml documents %s %s, "
			        "the server has no such route\n",
			        doc->v[i].method, doc->v[i].path);
			missing++;
		}
	}
	fprintf(stderr, "openapi.routes: %zu routes, %zu documented operations, %d mismatches\n",
	        srv->n, doc->n, missing);
	free(doc);
	free(srv);
	assert_int_equal(missing, 0);
}

static int group_setup(void **state)
{
	return cps_testdb_create(&testdb, "cps_openapi", -1);
}

static int group_teardown(void **state)
{
	cps_testdb_drop(&testdb);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openapi_is_wellformed),
	    cmocka_unit_test(test_routes_match_document),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
