/*
 * Tests of sync/codec/registry.c against tests/fixtures/registry.py (spawned per
 * test group): register-or-lookup and its id cache, fetch of unknown ids into
 * the catalog, 4xx/5xx/refused/timeout/oversized answers, basic auth,
 * concurrent workers, and registry-free mode on tests/data/registry/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/common.h"
#include "codec/registry.h"
#include "codec/schema.h"

extern char **environ;

struct fixture {
	pid_t pid;
	char url[64];
	struct cps_catalog *catalog;
};

static const char *source_dir(void)
{
	const char *d = getenv("CPSYNC_SOURCE_DIR");

	return d && *d ? d : CPSYNC_SOURCE_DIR;
}

/* Spawns the fixture registry with extra arguments and reads its port. */
static void fixture_start(struct fixture *f, const char *arg1, const char *arg2)
{
	const char *py = getenv("CPSYNC_PYTHON3");
	char script[4096], line[32] = "";
	char *argv[5];
	posix_spawn_file_actions_t fa;
	int pipefd[2], argc = 0;
	FILE *in;

	if (!py || !*py)
		py = "python3";
	snprintf(script, sizeof(script), "%s/tests/fixtures/registry.py", source_dir());
	argv[argc++] = (char *)py;
	argv[argc++] = script;
	if (arg1)
		argv[argc++] = (char *)arg1;
	if (arg2)
		argv[argc++] = (char *)arg2;
	argv[argc] = NULL;
	assert_int_equal(pipe(pipefd), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, pipefd[0]);
	posix_spawn_file_actions_addclose(&fa, pipefd[1]);
	assert_int_equal(posix_spawnp(&f->pid, py, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	in = fdopen(pipefd[0], "r");
	assert_non_null(in);
	assert_non_null(fgets(line, sizeof(line), in));
	fclose(in); /* the fixture prints nothing else */
	assert_true(atoi(line) > 0);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", atoi(line));
}

static void fixture_stop(struct fixture *f)
{
	int status;

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, &status, 0);
		f->pid = 0;
	}
}

static struct cps_catalog *load_catalog(void)
{
	char dir[4096], err[CPS_ERRSTR_SIZE] = "";
	struct cps_catalog *c = NULL;

	snprintf(dir, sizeof(dir), "%s/tests/data/registry", source_dir());
	if (cps_catalog_load_dir(dir, &c, err, sizeof(err)) != CPS_OK)
		fail_msg("catalog: %s", err);
	return c;
}

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	fixture_start(f, NULL, NULL);
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;

	fixture_stop(f);
	free(f);
	return 0;
}

/* Each test gets a fresh catalog (the fixture's ids live on across tests). */
static int test_setup(void **state)
{
	struct fixture *f = *state;

	f->catalog = load_catalog();
	return 0;
}

static int test_teardown(void **state)
{
	struct fixture *f = *state;

	cps_catalog_free(f->catalog);
	f->catalog = NULL;
	return 0;
}

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
	struct {
		char *d;
		size_t len;
	} *b = userdata;
	char *nd = realloc(b->d, b->len + size * n + 1);

	if (!nd)
		return 0;
	b->d = nd;
	memcpy(b->d + b->len, p, size * n);
	b->len += size * n;
	b->d[b->len] = 0;
	return size * n;
}

/* A test-side HTTP call to the fixture's hooks; returns the parsed body. */
static json_t *fixture_call(const struct fixture *f, const char *path, const char *post)
{
	struct {
		char *d;
		size_t len;
	} b = {NULL, 0};
	char url[256];
	CURL *c = curl_easy_init();
	json_t *j;

	assert_non_null(c);
	snprintf(url, sizeof(url), "%s%s", f->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	j = json_loads(b.d ? b.d : "", JSON_DECODE_ANY, NULL);
	free(b.d);
	assert_non_null(j);
	return j;
}

static long fixture_requests(const struct fixture *f)
{
	json_t *j = fixture_call(f, "/__stats", NULL);
	long n = (long)json_integer_value(json_object_get(j, "requests"));

	json_decref(j);
	return n;
}

static void fixture_inject(const struct fixture *f, const char *spec)
{
	json_decref(fixture_call(f, "/__inject", spec));
}

static struct cps_registry *new_registry(const char *url, long timeout_ms,
                                         struct cps_catalog *catalog)
{
	struct cps_registry_conf conf = {.url = url, .timeout_ms = timeout_ms};
	char err[CPS_ERRSTR_SIZE] = "";
	struct cps_registry *r = NULL;

	if (cps_registry_new(&conf, catalog, &r, err, sizeof(err)) != CPS_OK)
		fail_msg("registry: %s", err);
	return r;
}

static void test_register_or_lookup(void **state)
{
	struct fixture *f = *state;
	struct cps_registry *r = new_registry(f->url, 0, f->catalog);
	struct cps_schema *reading = cps_catalog_by_entity(f->catalog, "reading"), *got;
	char err[CPS_ERRSTR_SIZE] = "";
	int32_t id = 0, id2 = 0, id3 = 0;
	long before = fixture_requests(f);

	assert_non_null(reading);
	assert_int_equal(reading->id, 101); /* from the manifest */
	assert_int_equal(
	    cps_registry_id_for(r, "cps.test.reading-value", reading, &id, err, sizeof(err)),
	    CPS_OK);
	assert_true(id > 0);
	assert_int_equal(reading->id, id); /* the registry's id replaces the manifest's */
	assert_int_equal(fixture_requests(f), before + 1);

	/* The id cache: the second lookup makes no request. */
	assert_int_equal(
	    cps_registry_id_for(r, "cps.test.reading-value", reading, &id2, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(id2, id);
	assert_int_equal(fixture_requests(f), before + 1);

	/* The id it registered resolves without a request, to the catalog's schema. */
	assert_int_equal(cps_registry_schema_by_id(r, id, &got, err, sizeof(err)), CPS_OK);
	assert_ptr_equal(got, reading);
	assert_int_equal(fixture_requests(f), before + 1);
	cps_registry_free(r);

	/* A fresh client (another process): register-or-lookup yields the same id. */
	r = new_registry(f->url, 0, f->catalog);
	assert_int_equal(
	    cps_registry_id_for(r, "cps.test.reading-value", reading, &id3, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(id3, id);
	assert_int_equal(fixture_requests(f), before + 2);
	/* Another subject is another cache key (one request), same global id. */
	assert_int_equal(cps_registry_id_for(r, "other-value", reading, &id3, err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(id3, id);
	assert_int_equal(fixture_requests(f), before + 3);
	cps_registry_free(r);
}

static void test_fetch_unknown_id(void **state)
{
	static const char remote_text[] =
	    "{\"type\":\"record\",\"name\":\"Remote\",\"namespace\":\"cps.test\","
	    "\"fields\":[{\"name\":\"flag\",\"type\":\"boolean\"}]}";
	struct fixture *f = *state;
	struct cps_registry *writer = new_registry(f->url, 0, NULL), *r;
	struct cps_schema *remote = NULL, *got = NULL, *again = NULL;
	struct cps_schema *status = cps_catalog_by_entity(f->catalog, "status");
	char err[CPS_ERRSTR_SIZE] = "";
	int32_t remote_id = 0, status_id = 0;
	size_t count = cps_catalog_count(f->catalog);
	long before;

	/* Another producer registers a schema our catalog does not have. */
	assert_int_equal(
	    cps_schema_parse(remote_text, strlen(remote_text), &remote, err, sizeof(err)), CPS_OK);
	assert_int_equal(
	    cps_registry_id_for(writer, "remote-value", remote, &remote_id, err, sizeof(err)),
	    CPS_OK);
	assert_non_null(status);
	assert_int_equal(
	    cps_registry_id_for(writer, "status-value", status, &status_id, err, sizeof(err)),
	    CPS_OK);
	cps_registry_free(writer);

	r = new_registry(f->url, 0, f->catalog);
	before = fixture_requests(f);
	assert_int_equal(cps_registry_schema_by_id(r, remote_id, &got, err, sizeof(err)), CPS_OK);
	assert_non_null(got);
	assert_string_equal(got->name, "cps.test.Remote");
	assert_true(got->fingerprint == remote->fingerprint);
	assert_int_equal(got->id, remote_id);
	assert_int_equal(cps_catalog_count(f->catalog), count + 1);
	assert_ptr_equal(cps_catalog_by_id(f->catalog, remote_id), got);
	assert_int_equal(fixture_requests(f), before + 1);
	/* Cached: no second request. */
	assert_int_equal(cps_registry_schema_by_id(r, remote_id, &again, err, sizeof(err)), CPS_OK);
	assert_ptr_equal(again, got);
	assert_int_equal(fixture_requests(f), before + 1);

	/* An id of a schema the catalog already holds maps to that schema. */
	assert_int_equal(cps_registry_schema_by_id(r, status_id, &got, err, sizeof(err)), CPS_OK);
	assert_ptr_equal(got, status);
	assert_int_equal(cps_catalog_count(f->catalog), count + 1);
	assert_int_equal(fixture_requests(f), before + 2);
	cps_registry_free(r);

	/* Without a catalog the registry keeps what it fetched. */
	r = new_registry(f->url, 0, NULL);
	assert_int_equal(cps_registry_schema_by_id(r, remote_id, &got, err, sizeof(err)), CPS_OK);
	assert_string_equal(got->name, "cps.test.Remote");
	cps_registry_free(r);
	cps_schema_free(remote);
}

static void test_http_errors(void **state)
{
	struct fixture *f = *state;
	struct cps_registry *r = new_registry(f->url, 0, f->catalog);
	struct cps_schema *reading = cps_catalog_by_entity(f->catalog, "reading"), *got = NULL;
	char err[CPS_ERRSTR_SIZE] = "";
	int32_t id = 0;

	assert_int_equal(cps_registry_schema_by_id(r, 9999, &got, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_null(got);
	assert_string_equal(err, "registry GET \"/schemas/ids/9999\" failed: HTTP 404, "
	                         "error_code 40403: Schema not found");

	fixture_inject(f, "{\"count\": 1, \"status\": 500}");
	assert_int_equal(
	    cps_registry_id_for(r, "cps.test.reading-value", reading, &id, err, sizeof(err)),
	    CPS_ERR_RETRIABLE);
	assert_non_null(strstr(err, "HTTP 500, error_code 50001: Injected failure"));
	/* Retrying then succeeds. */
	assert_int_equal(
	    cps_registry_id_for(r, "cps.test.reading-value", reading, &id, err, sizeof(err)),
	    CPS_OK);

	fixture_inject(f, "{\"count\": 1, \"status\": 503, \"body\": \"<html>busy</html>\"}");
	assert_int_equal(cps_registry_schema_by_id(r, 9998, &got, err, sizeof(err)),
	                 CPS_ERR_RETRIABLE);
	assert_string_equal(err, "registry GET \"/schemas/ids/9998\" failed: HTTP 503");

	fixture_inject(f, "{\"count\": 1, \"status\": 200, \"body\": \"not json\"}");
	assert_int_equal(cps_registry_schema_by_id(r, 9997, &got, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "without a JSON object"));

	fixture_inject(
	    f, "{\"count\": 1, \"status\": 200, \"body\": \"{\\\"schema\\\": \\\"{}\\\"}\"}");
	assert_int_equal(cps_registry_schema_by_id(r, 9996, &got, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "schema id 9996 from the registry: "));

	fixture_inject(f, "{\"count\": 1, \"status\": 200, \"body\": \"{\\\"id\\\": -3}\"}");
	assert_int_equal(cps_registry_id_for(r, "fresh-subject", reading, &id, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "without a valid \"id\""));

	/* The response cap (8 MiB) defends against a hostile or broken server. */
	fixture_inject(f, "{\"count\": 1, \"status\": 200, \"body\": \"0123456789abcdef\", "
	                  "\"repeat\": 600000}");
	assert_int_equal(cps_registry_schema_by_id(r, 9995, &got, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "response larger than 8388608 bytes"));

	assert_int_equal(cps_registry_schema_by_id(r, 0, &got, err, sizeof(err)), CPS_ERR_INVALID);
	cps_registry_free(r);
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct cps_registry *r = new_registry(f->url, 300, f->catalog);
	struct cps_schema *got = NULL;
	char err[CPS_ERRSTR_SIZE] = "";
	struct timespec t0, t1;
	double secs;

	fixture_inject(f, "{\"count\": 1, \"status\": 404, \"delay_ms\": 2000}");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(cps_registry_schema_by_id(r, 9994, &got, err, sizeof(err)),
	                 CPS_ERR_RETRIABLE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_string_equal(err, "registry GET \"/schemas/ids/9994\" timed out after 300 ms");
	assert_true(secs < 1.5);
	cps_registry_free(r);
}

/* Concurrent workers sharing one registry agree on ids (and ASan/TSan-free). */
struct worker {
	struct cps_registry *r;
	struct cps_schema *schema;
	int32_t id;
	int rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char err[CPS_ERRSTR_SIZE];
	struct cps_schema *got;
	int i;

	for (i = 0; i < 20 && w->rc == CPS_OK; i++) {
		w->rc =
		    cps_registry_id_for(w->r, "threads-value", w->schema, &w->id, err, sizeof(err));
		if (w->rc == CPS_OK)
			w->rc = cps_registry_schema_by_id(w->r, w->id, &got, err, sizeof(err));
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct cps_registry *r = new_registry(f->url, 0, f->catalog);
	struct cps_schema *reading = cps_catalog_by_entity(f->catalog, "reading");
	struct worker w[4];
	pthread_t t[4];
	long before = fixture_requests(f);
	int i;

	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){.r = r, .schema = reading};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, CPS_OK);
		assert_int_equal(w[i].id, w[0].id);
	}
	/* At most one request per worker that missed the cache at the start. */
	assert_true(fixture_requests(f) - before <= 4);
	cps_registry_free(r);
}

static void test_connection_refused(void **state)
{
	struct cps_catalog *catalog = load_catalog();
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sa);
	struct cps_registry *r;
	struct cps_schema *got = NULL;
	char url[64], err[CPS_ERRSTR_SIZE] = "";
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port that was free a moment ago and has no listener now. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	r = new_registry(url, 2000, catalog);
	assert_int_equal(cps_registry_schema_by_id(r, 7, &got, err, sizeof(err)),
	                 CPS_ERR_RETRIABLE);
	assert_non_null(strstr(err, "registry GET \"/schemas/ids/7\" failed: "));
	cps_registry_free(r);
	cps_catalog_free(catalog);
}

static void test_fail_next_and_auth(void **state)
{
	struct fixture fx = {0}, auth = {0};
	struct cps_catalog *catalog = load_catalog();
	struct cps_schema *status = cps_catalog_by_entity(catalog, "status");
	struct cps_registry_conf conf = {.timeout_ms = 3000};
	struct cps_registry *r;
	char err[CPS_ERRSTR_SIZE] = "";
	int32_t id = 0;

	fixture_start(&fx, "--fail-next", "2");
	r = new_registry(fx.url, 0, catalog);
	assert_int_equal(cps_registry_id_for(r, "s", status, &id, err, sizeof(err)),
	                 CPS_ERR_RETRIABLE);
	assert_int_equal(cps_registry_id_for(r, "s", status, &id, err, sizeof(err)),
	                 CPS_ERR_RETRIABLE);
	assert_int_equal(cps_registry_id_for(r, "s", status, &id, err, sizeof(err)), CPS_OK);
	assert_int_equal(id, 1);
	cps_registry_free(r);
	fixture_stop(&fx);

	fixture_start(&auth, "--auth", "sync:s3cret");
	r = new_registry(auth.url, 0, catalog);
	assert_int_equal(cps_registry_id_for(r, "s", status, &id, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_string_equal(err, "registry POST \"/subjects/s/versions\" failed: HTTP 401, "
	                         "error_code 401: Unauthorized");
	cps_registry_free(r);
	conf.url = auth.url;
	conf.username = "sync";
	conf.password = "s3cret";
	assert_int_equal(cps_registry_new(&conf, catalog, &r, err, sizeof(err)), CPS_OK);
	/* The subject is URL-escaped in the path. */
	assert_int_equal(cps_registry_id_for(r, "a b/c", status, &id, err, sizeof(err)), CPS_OK);
	assert_int_equal(id, 1);
	cps_registry_free(r);
	fixture_stop(&auth);
	cps_catalog_free(catalog);
}

static void test_registry_free_mode(void **state)
{
	struct cps_catalog *catalog = load_catalog();
	struct cps_schema *reading = cps_catalog_by_entity(catalog, "reading");
	struct cps_schema *status = cps_catalog_by_entity(catalog, "status");
	struct cps_schema *unlisted = cps_catalog_by_entity(catalog, "unlisted");
	struct cps_schema *got = NULL;
	struct cps_registry *r;
	char err[CPS_ERRSTR_SIZE] = "";
	const char *urls[] = {NULL, ""};
	int32_t id = 0;
	size_t i;

	assert_non_null(reading);
	assert_non_null(status);
	assert_non_null(unlisted);
	for (i = 0; i < CPS_ARRAY_SIZE(urls); i++) {
		r = new_registry(urls[i], 0, catalog);
		assert_int_equal(cps_registry_id_for(r, "ignored", reading, &id, err, sizeof(err)),
		                 CPS_OK);
		assert_int_equal(id, 101);
		assert_int_equal(cps_registry_id_for(r, NULL, status, &id, err, sizeof(err)),
		                 CPS_OK);
		assert_int_equal(id, 102);
		assert_int_equal(cps_registry_id_for(r, "x", unlisted, &id, err, sizeof(err)),
		                 CPS_ERR_FATAL);
		assert_string_equal(err, "schema \"cps.test.Unlisted\" has no id (registry-free "
		                         "mode: see schemas/schema-ids.json)");
		assert_int_equal(cps_registry_schema_by_id(r, 102, &got, err, sizeof(err)), CPS_OK);
		assert_ptr_equal(got, status);
		assert_int_equal(cps_registry_schema_by_id(r, 555, &got, err, sizeof(err)),
		                 CPS_ERR_INVALID);
		assert_string_equal(err, "schema id 555 unknown (registry-free mode: see "
		                         "schemas/schema-ids.json)");
		cps_registry_free(r);
	}
	cps_catalog_free(catalog);
}

static void test_bad_configuration(void **state)
{
	struct cps_catalog *catalog = load_catalog();
	struct cps_registry_conf conf = {0};
	struct cps_registry *r = (struct cps_registry *)1;
	char err[CPS_ERRSTR_SIZE] = "";

	assert_int_equal(cps_registry_new(&conf, NULL, &r, err, sizeof(err)), CPS_ERR_FATAL);
	assert_null(r);
	assert_non_null(strstr(err, "registry-free mode needs a schema catalog"));
	conf.url = "ftp://registry.example";
	assert_int_equal(cps_registry_new(&conf, catalog, &r, err, sizeof(err)), CPS_ERR_FATAL);
	assert_string_equal(err, "registry url must start with http:// or https://");
	conf.url = "http://127.0.0.1:1";
	conf.timeout_ms = -1;
	assert_int_equal(cps_registry_new(&conf, catalog, &r, err, sizeof(err)), CPS_ERR_FATAL);
	cps_registry_free(NULL);
	cps_catalog_free(catalog);
}

/* How often the fixture answered `method_path` ("POST /subjects/x"). */
static long fixture_path_count(const struct fixture *f, const char *method_path)
{
	json_t *j = fixture_call(f, "/__stats", NULL);
	long n =
	    (long)json_integer_value(json_object_get(json_object_get(j, "paths"), method_path));

	json_decref(j);
	return n;
}

static struct cps_schema *parse(const char *text)
{
	char err[CPS_ERRSTR_SIZE] = "";
	struct cps_schema *s = NULL;

	if (cps_schema_parse(text, strlen(text), &s, err, sizeof(err)) != CPS_OK)
		fail_msg("schema: %s", err);
	return s;
}

/* schemas.registry.auto_register false: ids are looked up under the
 * subject (POST /subjects/{s}), never registered; a schema that is not
 * there is refused with a reason that says what to do. */
static void test_lookup_only(void **state)
{
	struct fixture *f = *state;
	struct cps_registry_conf conf = {.url = f->url, .lookup_only = true};
	struct cps_registry *lookup = NULL, *writer = new_registry(f->url, 0, NULL);
	struct cps_schema *reading = cps_catalog_by_entity(f->catalog, "reading");
	struct cps_schema *status = cps_catalog_by_entity(f->catalog, "status");
	char err[CPS_ERRSTR_SIZE] = "";
	int32_t id = 0, registered = 0;

	assert_int_equal(cps_registry_new(&conf, f->catalog, &lookup, err, sizeof(err)), CPS_OK);
	assert_true(cps_registry_lookup_only(lookup));
	assert_false(cps_registry_lookup_only(writer));
	assert_int_equal(
	    cps_registry_id_for(lookup, "lookup-value", reading, &id, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_non_null(strstr(err,
	                       "schema \"cps.test.Reading\" is not registered under subject "
	                       "\"lookup-value\" and schemas.registry.auto_register is false"));
	assert_non_null(strstr(err, "error_code 40401"));
	assert_int_equal(fixture_path_count(f, "POST /subjects/lookup-value"), 1);
	assert_int_equal(fixture_path_count(f, "POST /subjects/lookup-value/versions"), 0);

	/* registered by someone else: found, with that id, by lookup */
	assert_int_equal(
	    cps_registry_id_for(writer, "lookup-value", reading, &registered, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(
	    cps_registry_id_for(lookup, "lookup-value", reading, &id, err, sizeof(err)), CPS_OK);
	assert_int_equal(id, registered);
	assert_int_equal(fixture_path_count(f, "POST /subjects/lookup-value"), 2);
	assert_int_equal(fixture_path_count(f, "POST /subjects/lookup-value/versions"), 1);
	/* another schema under that subject: not there (40403) */
	assert_int_equal(cps_registry_id_for(lookup, "lookup-value", status, &id, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "error_code 40403"));
	cps_registry_free(lookup);
	cps_registry_free(writer);
}

/* POST /compatibility/subjects/{s}/versions/latest: nothing registered and
 * a compatible evolution pass; a new field without a default or a changed
 * type is refused with the registry's reasons; a registry that answers 500
 * is retriable; registry-free mode asks nothing. */
static void test_compatibility(void **state)
{
	struct fixture *f = *state;
	struct cps_registry *r = new_registry(f->url, 0, NULL), *free_mode = NULL;
	struct cps_registry_conf free_conf = {0};
	struct cps_schema *v1 =
	    parse("{\"type\":\"record\",\"name\":\"Compat\",\"namespace\":"
	          "\"cps.test\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}");
	struct cps_schema *no_default = parse(
	    "{\"type\":\"record\",\"name\":\"Compat\",\"namespace\":\"cps.test\",\"fields\":[{"
	    "\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"string\"}]}");
	struct cps_schema *with_default = parse(
	    "{\"type\":\"record\",\"name\":\"Compat\",\"namespace\":\"cps.test\",\"fields\":[{"
	    "\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"string\",\"default\":\"\"}]}");
	struct cps_schema *retyped = parse("{\"type\":\"record\",\"name\":\"Compat\",\"namespace\":"
	                                   "\"cps.test\",\"fields\":[{\"name\":\"a\",\"type\":"
	                                   "\"string\"}]}");
	char err[CPS_ERRSTR_SIZE] = "";
	int32_t id = 0;

	assert_int_equal(
	    cps_registry_check_compatible(r, "compat-value", no_default, err, sizeof(err)),
	    CPS_OK); /* no version yet */
	assert_int_equal(cps_registry_id_for(r, "compat-value", v1, &id, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_registry_check_compatible(r, "compat-value", v1, err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(
	    cps_registry_check_compatible(r, "compat-value", with_default, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(
	    cps_registry_check_compatible(r, "compat-value", no_default, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_string_equal(err,
	                    "schema \"cps.test.Compat\" is incompatible with the latest version "
	                    "of subject \"compat-value\": "
	                    "READER_FIELD_MISSING_DEFAULT_VALUE, location:/fields/b, the new "
	                    "field 'b' has no default");
	assert_int_equal(
	    cps_registry_check_compatible(r, "compat-value", retyped, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_non_null(strstr(err, "TYPE_MISMATCH, location:/fields/a/type"));
	assert_int_equal(
	    fixture_path_count(f, "POST /compatibility/subjects/compat-value/versions/latest"), 5);

	fixture_inject(f, "{\"count\": 1, \"status\": 500}");
	assert_int_equal(cps_registry_check_compatible(r, "compat-value", v1, err, sizeof(err)),
	                 CPS_ERR_RETRIABLE);

	assert_int_equal(cps_registry_new(&free_conf, f->catalog, &free_mode, err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(
	    cps_registry_check_compatible(free_mode, "compat-value", no_default, err, sizeof(err)),
	    CPS_OK);
	cps_registry_free(free_mode);
	cps_registry_free(r);
	cps_schema_free(v1);
	cps_schema_free(no_default);
	cps_schema_free(with_default);
	cps_schema_free(retyped);
}

int main(void)
{
	const struct CMUnitTest with_fixture[] = {
	    cmocka_unit_test_setup_teardown(test_register_or_lookup, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_fetch_unknown_id, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_http_errors, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_threads, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_lookup_only, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_compatibility, test_setup, test_teardown),
	};
	const struct CMUnitTest standalone[] = {
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test(test_fail_next_and_auth),
	    cmocka_unit_test(test_registry_free_mode),
	    cmocka_unit_test(test_bad_configuration),
	};
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests_name("registry (shared fixture)", with_fixture, group_setup,
	                                     group_teardown);
	failed += cmocka_run_group_tests_name("registry (standalone)", standalone, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
