/*
 * Tests of the HTTP server (sync/http/http.c): a real server on 127.0.0.1 port 0,
 * requests through libcurl (and a raw socket where the exact bytes matter):
 * routing, path and query parameters, 404/405, bearer auth by role, body
 * limits (Content-Length and chunked), JSON helpers, health endpoints,
 * concurrency, per-route stats, the access-log hook and HTTPS.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/common.h"
#include "base/sha256.h"
#include "http/http.h"

#define TOK_VIEWER   "viewer-token-0123456789"
#define TOK_STEWARD  "steward-token-0123456789"
#define TOK_OPERATOR "operator-token-0123456789"
/* A made-up identifier shaped like a national ID: must never reach logs. */
#define FAKE_ID "11010519491231002X"

struct reply {
	long status;
	struct cps_buf body;
	struct cps_buf headers;
	json_t *json;
};

static void reply_release(struct reply *r)
{
	cps_buf_release(&r->body);
	cps_buf_release(&r->headers);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	return cps_buf_append(ud, p, size * n) < 0 ? 0 : size * n;
}

struct upload {
	const char *data;
	size_t len, off;
};

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct upload *u = ud;
	size_t k = size * n;

	if (k > 700) /* several chunks */
		k = 700;
	if (k > u->len - u->off)
		k = u->len - u->off;
	memcpy(p, u->data + u->off, k);
	u->off += k;
	return k;
}

/* One request. body NULL = none; chunked sends it with
 * Transfer-Encoding: chunked. Fills r (json parsed when possible). No cmocka
 * assertions here: worker threads call it. */
static CURLcode http_try(const char *method, const char *url, const char *token, const char *body,
                         size_t body_len, int chunked, const char *cainfo, struct reply *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	struct upload up = {body, body_len, 0};
	char auth[256];
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	cps_buf_init(&r->body, 0);
	cps_buf_init(&r->headers, 0);
	if (!c)
		return CURLE_OUT_OF_MEMORY;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (body && chunked) {
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	if (cainfo) {
		curl_easy_setopt(c, CURLOPT_CAINFO, cainfo);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body.len)
		r->json = json_loadb((const char *)r->body.data, r->body.len, JSON_ALLOW_NUL, NULL);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return cc;
}

static void http_do(const char *method, const char *url, const char *token, const char *body,
                    size_t body_len, int chunked, const char *cainfo, struct reply *r)
{
	CURLcode cc = http_try(method, url, token, body, body_len, chunked, cainfo, r);

	if (cc != CURLE_OK)
		fail_msg("curl %s: %s", method, curl_easy_strerror(cc));
}

static int has_header(const struct reply *r, const char *line_prefix)
{
	const char *h = r->headers.data ? (const char *)r->headers.data : "";

	return strcasestr(h, line_prefix) != NULL;
}

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

static void assert_error_doc(const struct reply *r, int status)
{
	json_t *err;

	assert_int_equal(r->status, status);
	assert_non_null(r->json);
	err = json_object_get(r->json, "error");
	assert_non_null(err);
	assert_int_equal(json_integer_value(json_object_get(err, "status")), status);
	assert_non_null(json_string_value(json_object_get(err, "message")));
	assert_true(has_header(r, "Content-Type: application/json"));
}

/* ---- the server under test ------------------------------------------- */

struct access_rec {
	pthread_mutex_t lock;
	struct cps_buf lines;
	int calls;
	int negative_ms;
};

static struct access_rec access_rec = {PTHREAD_MUTEX_INITIALIZER};

static void on_access(void *ctx, const char *method, const char *pattern, int status, double ms)
{
	struct access_rec *a = ctx;

	pthread_mutex_lock(&a->lock);
	if (ms < 0)
		a->negative_ms++;
	cps_buf_printf(&a->lines, "%s %s %d\n", method, pattern, status);
	a->calls++;
	pthread_mutex_unlock(&a->lock);
}

static int alive_flag = 1;
static int ready_flag = 1;

static int is_alive(void *ctx)
{
	return *(int *)ctx;
}

static int is_ready(void *ctx, json_t *reasons)
{
	if (*(int *)ctx)
		return 1;
	json_array_append_new(reasons, json_string("store not connected"));
	json_array_append_new(reasons, json_string("kafka source lagging"));
	return 0;
}

static void h_item(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	const char *q = cps_http_query(req, "q"), *x = cps_http_query(req, "x");
	const char *flag = cps_http_query(req, "flag");

	cps_http_reply_json(resp, 200,
	                    json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b, s:s?, s:s}", "handler",
	                              "item", "id", cps_http_param(req, "id"), "q", q, "x", x,
	                              "flag", flag, "missing_is_null",
	                              cps_http_query(req, "nope") == NULL, "principal",
	                              req->principal, "pattern", req->route_pattern));
}

static void h_item_stats(void *ctx, const struct cps_http_request *req,
                         struct cps_http_response *resp)
{
	cps_http_reply_json(resp, 200, json_pack("{s:s}", "handler", "stats"));
}

static void h_two_params(void *ctx, const struct cps_http_request *req,
                         struct cps_http_response *resp)
{
	cps_http_response_header(resp, "X-Test", "two");
	if (cps_http_response_header(resp, "X-Bad", "a\r\nInjected: 1") != CPS_OK)
		cps_http_response_header(resp, "X-Bad-Refused", "yes");
	cps_http_reply_json(
	    resp, 201,
	    json_pack("{s:s, s:s}", "a", cps_http_param(req, "a"), "b", cps_http_param(req, "b")));
}

static void h_echo_body(void *ctx, const struct cps_http_request *req,
                        struct cps_http_response *resp)
{
	json_t *doc = cps_http_body_json(req, resp);

	if (!doc)
		return;
	cps_http_reply_json(resp, 200,
	                    json_pack("{s:I, s:o}", "len", (json_int_t)req->body_len, "doc", doc));
}

static void h_raw_len(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	cps_http_reply_json(resp, 200, json_pack("{s:I}", "len", (json_int_t)req->body_len));
}

static void h_forgets_status(void *ctx, const struct cps_http_request *req,
                             struct cps_http_response *resp)
{
}

static void h_text(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	resp->status = 200;
	resp->content_type = "text/plain; charset=utf-8";
	cps_buf_printf(&resp->body, "hello %s\n", req->principal ? req->principal : "anon");
}

struct fixture {
	struct cps_http_server *srv;
	char base[64];
};

static void start_server(struct fixture *f, const struct cps_http_conf *overrides)
{
	struct cps_http_conf conf = {0};
	static const struct cps_http_token tokens[] = {
	    {"viewer-1", TOK_VIEWER, CPS_ROLE_VIEWER},
	    {"steward-1", TOK_STEWARD, CPS_ROLE_STEWARD},
	    {"operator-1", TOK_OPERATOR, CPS_ROLE_OPERATOR | CPS_ROLE_STEWARD},
	};
	char err[CPS_ERRSTR_SIZE] = "";

	if (overrides)
		conf = *overrides;
	conf.listen = conf.listen ? conf.listen : "127.0.0.1:0";
	conf.alive = is_alive;
	conf.alive_ctx = &alive_flag;
	conf.ready = is_ready;
	conf.ready_ctx = &ready_flag;
	conf.access_log = on_access;
	conf.access_log_ctx = &access_rec;
	if (cps_http_start(&conf, &f->srv, err, sizeof(err)) != CPS_OK)
		fail_msg("start: %s", err);
	assert_int_not_equal(cps_http_port(f->srv), 0);
	snprintf(f->base, sizeof(f->base), "%s://127.0.0.1:%u",
	         conf.tls_cert_file ? "https" : "http", cps_http_port(f->srv));
	assert_int_equal(cps_http_set_tokens(f->srv, tokens, 3, err, sizeof(err)), CPS_OK);
#define ROUTE(m, p, h, roles)                                                                      \
	assert_int_equal(cps_http_route(f->srv, m, p, h, NULL, roles, err, sizeof(err)), CPS_OK)
	ROUTE("GET", "/api/v1/items/{id}", h_item, CPS_ROLE_ANY);
	ROUTE("POST", "/api/v1/items/{id}", h_item, CPS_ROLE_STEWARD);
	ROUTE("GET", "/api/v1/items/stats", h_item_stats, CPS_ROLE_ANY);
	ROUTE("PUT", "/api/v1/{a}/x/{b}", h_two_params, CPS_HTTP_OPEN);
	ROUTE("POST", "/api/v1/echo", h_echo_body, CPS_HTTP_OPEN);
	ROUTE("POST", "/api/v1/raw", h_raw_len, CPS_HTTP_OPEN);
	ROUTE("GET", "/broken", h_forgets_status, CPS_HTTP_OPEN);
	ROUTE("GET", "/", h_text, CPS_HTTP_OPEN);
	ROUTE("GET", "/api/v1/steward-only", h_text, CPS_ROLE_STEWARD);
#undef ROUTE
}

static void url(char *out, size_t n, const struct fixture *f, const char *path)
{
	snprintf(out, n, "%s%s", f->base, path);
}

/* ---- tests ------------------------------------------------------------ */

static void test_routing_and_params(void **state)
{
	struct fixture f;
	struct reply r;
	char u[512];

	start_server(&f, NULL);
	url(u, sizeof(u), &f, "/api/v1/items/abc%20d?q=hello%20world&x=a%2Bb+c&flag");
	http_do("GET", u, TOK_VIEWER, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_string_equal(jstr(r.json, "handler"), "item");
	assert_string_equal(jstr(r.json, "id"), "abc d");
	assert_string_equal(jstr(r.json, "q"), "hello world");
	assert_string_equal(jstr(r.json, "x"), "a+b c");
	assert_string_equal(jstr(r.json, "flag"), "");
	assert_true(json_is_true(json_object_get(r.json, "missing_is_null")));
	assert_string_equal(jstr(r.json, "principal"), "viewer-1");
	assert_string_equal(jstr(r.json, "pattern"), "/api/v1/items/{id}");
	assert_true(has_header(&r, "Cache-Control: no-store"));
	reply_release(&r);

	/* a literal segment beats a parameter, whatever the order of registration */
	url(u, sizeof(u), &f, "/api/v1/items/stats");
	http_do("GET", u, TOK_VIEWER, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "handler"), "stats");
	reply_release(&r);

	url(u, sizeof(u), &f, "/api/v1/first/x/second?ignored=1");
	http_do("PUT", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "a"), "first");
	assert_string_equal(jstr(r.json, "b"), "second");
	assert_true(has_header(&r, "X-Test: two"));
	assert_false(has_header(&r, "Injected"));
	assert_true(has_header(&r, "X-Bad-Refused: yes"));
	reply_release(&r);

	/* root route, a handler's own content type, HEAD served by GET */
	url(u, sizeof(u), &f, "/");
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal((const char *)r.body.data, "hello anon\n");
	assert_true(has_header(&r, "Content-Type: text/plain; charset=utf-8"));
	reply_release(&r);
	http_do("HEAD", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	reply_release(&r);

	/* a handler that sets nothing gets a 500 error document */
	url(u, sizeof(u), &f, "/broken");
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_error_doc(&r, 500);
	reply_release(&r);
	cps_http_stop(f.srv);
}

static void test_not_found_and_method(void **state)
{
	struct fixture f;
	struct reply r;
	char u[512];
	const char *msg;

	start_server(&f, NULL);
	url(u, sizeof(u), &f, "/api/v1/people/" FAKE_ID);
	http_do("GET", u, TOK_OPERATOR, NULL, 0, 0, NULL, &r);
	assert_error_doc(&r, 404);
	msg = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
	assert_null(strstr(msg, FAKE_ID)); /* never echo the path */
	reply_release(&r);

	/* trailing slash and extra segments are other paths */
	url(u, sizeof(u), &f, "/api/v1/items/1/");
	http_do("GET", u, TOK_OPERATOR, NULL, 0, 0, NULL, &r);
	assert_error_doc(&r, 404);
	reply_release(&r);

	url(u, sizeof(u), &f, "/api/v1/items/1");
	http_do("DELETE", u, TOK_OPERATOR, NULL, 0, 0, NULL, &r);
	assert_error_doc(&r, 405);
	assert_true(has_header(&r, "Allow: "));
	assert_true(strstr((const char *)r.headers.data, "GET") != NULL);
	assert_true(strstr((const char *)r.headers.data, "POST") != NULL);
	assert_true(strstr((const char *)r.headers.data, "HEAD") != NULL);
	reply_release(&r);

	url(u, sizeof(u), &f, "/healthz");
	http_do("POST", u, NULL, "{}", 2, 0, NULL, &r);
	assert_error_doc(&r, 405);
	assert_true(has_header(&r, "Allow: GET, HEAD"));
	reply_release(&r);
	cps_http_stop(f.srv);
}

static void test_auth(void **state)
{
	struct fixture f;
	struct reply r;
	char u[512], err[CPS_ERRSTR_SIZE];
	static const struct cps_http_token short_tok[] = {{"x", "short", CPS_ROLE_VIEWER}};
	static const struct cps_http_token dup_tok[] = {{"a", TOK_VIEWER, CPS_ROLE_VIEWER},
	                                                {"b", TOK_VIEWER, CPS_ROLE_STEWARD}};
	static const struct cps_http_token no_role[] = {{"a", TOK_VIEWER, 0}};
	static const struct cps_http_token rotated[] = {
	    {"steward-2", "rotated-steward-token-abcdef", CPS_ROLE_STEWARD}};

	start_server(&f, NULL);
	url(u, sizeof(u), &f, "/api/v1/steward-only");
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_error_doc(&r, 401);
	assert_true(has_header(&r, "WWW-Authenticate: Bearer"));
	reply_release(&r);

	http_do("GET", u, "wrong-token-0123456789", NULL, 0, 0, NULL, &r);
	assert_error_doc(&r, 401);
	assert_true(has_header(&r, "WWW-Authenticate: Bearer"));
	assert_true(has_header(&r, "invalid_token"));
	reply_release(&r);

	/* a prefix of a valid token, and a valid token with a suffix */
	http_do("GET", u, "steward-token-012345678", NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_release(&r);
	http_do("GET", u, TOK_STEWARD "0", NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_release(&r);

	http_do("GET", u, TOK_VIEWER, NULL, 0, 0, NULL, &r);
	assert_error_doc(&r, 403);
	reply_release(&r);

	http_do("GET", u, TOK_STEWARD, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal((const char *)r.body.data, "hello steward-1\n");
	reply_release(&r);

	/* a token holding several roles; roles are a set, not an order */
	http_do("GET", u, TOK_OPERATOR, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_release(&r);

	/* POST to a steward route with a body: 401 before the body matters */
	url(u, sizeof(u), &f, "/api/v1/items/7");
	http_do("POST", u, NULL, "{}", 2, 0, NULL, &r);
	assert_error_doc(&r, 401);
	reply_release(&r);
	http_do("POST", u, TOK_VIEWER, "{}", 2, 0, NULL, &r);
	assert_error_doc(&r, 403);
	reply_release(&r);

	/* health is open by default, even with a bad token */
	url(u, sizeof(u), &f, "/healthz");
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_release(&r);
	http_do("GET", u, "wrong-token-0123456789", NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_release(&r);

	/* bad token lists are refused and leave the old list in place */
	assert_int_not_equal(cps_http_set_tokens(f.srv, short_tok, 1, err, sizeof(err)), CPS_OK);
	assert_non_null(strstr(err, "characters long"));
	assert_null(strstr(err, "short"));
	assert_int_not_equal(cps_http_set_tokens(f.srv, dup_tok, 2, err, sizeof(err)), CPS_OK);
	assert_int_not_equal(cps_http_set_tokens(f.srv, no_role, 1, err, sizeof(err)), CPS_OK);
	url(u, sizeof(u), &f, "/api/v1/steward-only");
	http_do("GET", u, TOK_STEWARD, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_release(&r);

	/* rotation: the old token stops working at once */
	assert_int_equal(cps_http_set_tokens(f.srv, rotated, 1, err, sizeof(err)), CPS_OK);
	http_do("GET", u, TOK_STEWARD, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_release(&r);
	http_do("GET", u, "rotated-steward-token-abcdef", NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal((const char *)r.body.data, "hello steward-2\n");
	reply_release(&r);
	cps_http_stop(f.srv);
}

/* "<principal> <regions>": what a handler learns of the token. */
static void h_scope(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	(void)ctx;
	resp->status = 200;
	resp->content_type = "text/plain; charset=utf-8";
	cps_buf_printf(&resp->body, "%s %s", req->principal ? req->principal : "-",
	               req->regions ? req->regions : "*");
}

static void sha_hex(const char *text, char hex[65])
{
	struct cps_sha256 s;

	cps_sha256_init(&s);
	cps_sha256_update(&s, text, strlen(text));
	cps_sha256_final_hex(&s, hex);
}

/* Tokens given as SHA-256 (hex, either case) and tokens confined to regions:
 * the secret opens, its hash and near misses do not; a handler sees the
 * token's regions; regions on an operator, malformed regions or hashes,
 * both or neither of token and hash, and one secret given twice (once
 * hashed) are refused. */
static void test_token_hashes_and_regions(void **state)
{
	struct fixture f;
	struct reply r;
	char u[512], err[CPS_ERRSTR_SIZE], hex[65], upper[65], twin[65];
	struct cps_http_token ok[] = {
	    {"hashed-steward", NULL, CPS_ROLE_STEWARD, upper, NULL},
	    {"shenshan-viewer", TOK_VIEWER, CPS_ROLE_VIEWER, NULL, "441521,4403"},
	    {"operator-1", TOK_OPERATOR, CPS_ROLE_OPERATOR, NULL, ""},
	};
	struct cps_http_token bad[] = {
	    {"op", TOK_OPERATOR, CPS_ROLE_OPERATOR | CPS_ROLE_STEWARD, NULL, "441521"},
	    {"v", TOK_VIEWER, CPS_ROLE_VIEWER, NULL, "4415x1"},
	    {"v", TOK_VIEWER, CPS_ROLE_VIEWER, NULL, "441521,"},
	    {"v", TOK_VIEWER, CPS_ROLE_VIEWER, NULL, "4415210"},
	    {"v", TOK_VIEWER, CPS_ROLE_VIEWER, hex, NULL},
	    {"v", NULL, CPS_ROLE_VIEWER, NULL, NULL},
	    {"v", NULL, CPS_ROLE_VIEWER, "abc", NULL},
	};
	static const char *const why[] = {"operator",    "regions",     "regions",       "regions",
	                                  "exactly one", "exactly one", "64 hexadecimal"};
	struct cps_http_token twice[] = {
	    {"plain", TOK_STEWARD, CPS_ROLE_STEWARD, NULL, NULL},
	    {"hashed", NULL, CPS_ROLE_VIEWER, twin, NULL},
	};

	(void)state;
	sha_hex("hashed-steward-token-0123", hex);
	for (size_t i = 0; i < 65; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	sha_hex(TOK_STEWARD, twin);
	start_server(&f, NULL);
	assert_int_equal(cps_http_route(f.srv, "GET", "/api/v1/scope", h_scope, NULL, CPS_ROLE_ANY,
	                                err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_http_set_tokens(f.srv, ok, CPS_ARRAY_SIZE(ok), err, sizeof(err)),
	                 CPS_OK);
	url(u, sizeof(u), &f, "/api/v1/scope");

	http_do("GET", u, "hashed-steward-token-0123", NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal((const char *)r.body.data, "hashed-steward *");
	reply_release(&r);
	http_do("GET", u, TOK_VIEWER, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal((const char *)r.body.data, "shenshan-viewer 441521,4403");
	reply_release(&r);
	http_do("GET", u, TOK_OPERATOR, NULL, 0, 0, NULL, &r);
	assert_string_equal((const char *)r.body.data, "operator-1 *");
	reply_release(&r);
	/* the hash is no token, nor is a near miss of the secret */
	http_do("GET", u, hex, NULL, 0, 0, NULL, &r);
	assert_error_doc(&r, 401);
	reply_release(&r);
	http_do("GET", u, "hashed-steward-token-012", NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_release(&r);
	http_do("GET", u, "hashed-steward-token-01234", NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_release(&r);

	for (size_t i = 0; i < CPS_ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		assert_int_equal(cps_http_set_tokens(f.srv, &bad[i], 1, err, sizeof(err)),
		                 CPS_ERR_INVALID);
		if (!strstr(err, why[i]))
			fail_msg("bad token %zu: \"%s\" lacks \"%s\"", i, err, why[i]);
		assert_null(strstr(err, TOK_VIEWER));
	}
	assert_int_equal(cps_http_set_tokens(f.srv, twice, 2, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "share"));
	/* refused lists leave the old one in place */
	http_do("GET", u, TOK_VIEWER, NULL, 0, 0, NULL, &r);
	assert_string_equal((const char *)r.body.data, "shenshan-viewer 441521,4403");
	reply_release(&r);
	cps_http_stop(f.srv);
}

static void test_open_routes_configurable(void **state)
{
	static const char *const nothing_open[] = {NULL};
	static const char *const metrics_open[] = {"/metrics", "/healthz", NULL};
	struct cps_http_conf conf = {.open_routes = nothing_open};
	struct fixture f;
	struct reply r;
	char u[512], err[CPS_ERRSTR_SIZE];

	start_server(&f, &conf);
	url(u, sizeof(u), &f, "/healthz");
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_release(&r);
	http_do("GET", u, TOK_VIEWER, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_release(&r);
	cps_http_stop(f.srv);

	conf.open_routes = metrics_open;
	start_server(&f, &conf);
	assert_int_equal(cps_http_route(f.srv, "GET", "/metrics", h_text, NULL, CPS_ROLE_OPERATOR,
	                                err, sizeof(err)),
	                 CPS_OK);
	url(u, sizeof(u), &f, "/metrics");
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_release(&r);
	url(u, sizeof(u), &f, "/readyz");
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_release(&r);
	cps_http_stop(f.srv);
}

/* Sends raw bytes, returns what the server answered before closing or timing out. */
static void raw_exchange(unsigned port, const char *request, char *out, size_t out_size)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {5, 0};
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, request, strlen(request), MSG_NOSIGNAL),
	                 (ssize_t)strlen(request));
	while (got + 1 < out_size) {
		ssize_t n = recv(fd, out + got, out_size - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
		out[got] = 0;
		if (strstr(out, "\r\n\r\n") && strstr(out, "}}"))
			break;
	}
	out[got] = 0;
	close(fd);
}

static void test_body_limits(void **state)
{
	struct cps_http_conf conf = {.max_body_bytes = 1024};
	struct fixture f;
	struct reply r;
	char u[512], raw[4096], *big;

	start_server(&f, &conf);
	/* Content-Length over the limit: 413 at once, the body is never sent */
	raw_exchange(cps_http_port(f.srv),
	             "POST /api/v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
	             raw, sizeof(raw));
	assert_true(strncmp(raw, "HTTP/1.1 413", 12) == 0);
	assert_non_null(strstr(raw, "\"status\":413"));
	assert_non_null(strstr(raw, "exceeds 1024 bytes"));

	big = malloc(5000);
	assert_non_null(big);
	memset(big, 'a', 5000);
	url(u, sizeof(u), &f, "/api/v1/raw");
	http_do("POST", u, NULL, big, 1024, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "len")), 1024);
	reply_release(&r);

	/* chunked: no length up front; 413 after the whole body was consumed */
	http_do("POST", u, NULL, big, 5000, 1, NULL, &r);
	assert_error_doc(&r, 413);
	reply_release(&r);
	http_do("POST", u, NULL, big, 1000, 1, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "len")), 1000);
	reply_release(&r);
	/* exactly one byte over, chunked */
	http_do("POST", u, NULL, big, 1025, 1, NULL, &r);
	assert_error_doc(&r, 413);
	reply_release(&r);

	/* the server keeps serving afterwards */
	url(u, sizeof(u), &f, "/healthz");
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_release(&r);
	free(big);
	cps_http_stop(f.srv);
}

static int raw_connect(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_connection_limits(void **state)
{
	struct cps_http_conf conf = {.timeout_s = 1, .max_per_ip = 2, .conn_memory_limit = 8192};
	struct fixture f;
	struct timeval t0, t1;
	char buf[4096], *huge;
	int a, b, c;
	ssize_t n;
	size_t off;

	start_server(&f, &conf);
	/* an idle half-sent request is dropped after the timeout */
	a = raw_connect(cps_http_port(f.srv));
	assert_true(send(a, "GET /healthz HTTP/1.1\r\nHo", 26, MSG_NOSIGNAL) == 26);
	gettimeofday(&t0, NULL);
	n = recv(a, buf, sizeof(buf), 0);
	gettimeofday(&t1, NULL);
	assert_true(n <= 0); /* closed, not answered */
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	close(a);

	/* a third connection from the same address is refused */
	a = raw_connect(cps_http_port(f.srv));
	b = raw_connect(cps_http_port(f.srv));
	usleep(200 * 1000);
	c = raw_connect(cps_http_port(f.srv));
	n = recv(c, buf, sizeof(buf), 0);
	assert_true(n <= 0);
	close(c);
	close(a);
	close(b);
	usleep(200 * 1000);

	/* headers past the per-connection memory limit: 431 from libmicrohttpd */
	huge = malloc(20000);
	assert_non_null(huge);
	off = (size_t)snprintf(huge, 20000, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(huge + off, 'b', 16000);
	strcpy(huge + off + 16000, "\r\n\r\n");
	raw_exchange(cps_http_port(f.srv), huge, buf, sizeof(buf));
	assert_true(strncmp(buf, "HTTP/1.1 431", 12) == 0);
	free(huge);
	cps_http_stop(f.srv);
}

static void test_json_helpers(void **state)
{
	static const char bad[] = "{\"national_id\": \"" FAKE_ID "\", oops}";
	struct fixture f;
	struct reply r;
	char u[512];
	const char *msg;
	struct cps_http_response resp = {0};

	start_server(&f, NULL);
	url(u, sizeof(u), &f, "/api/v1/echo");
	http_do("POST", u, NULL, bad, strlen(bad), 0, NULL, &r);
	assert_error_doc(&r, 400);
	msg = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
	assert_non_null(strstr(msg, "malformed JSON body at line 1 column"));
	assert_null(strstr(msg, FAKE_ID)); /* the position, never the content */
	assert_null(strstr(msg, "oops"));
	reply_release(&r);

	http_do("POST", u, NULL, "", 0, 0, NULL, &r);
	assert_error_doc(&r, 400);
	reply_release(&r);

	/* a decimal's bytes in Avro JSON may hold U+0000 (0.00, 2.56): a body
	 * with one is a document like any other */
	{
		static const char nul[] = "{\"value\": {\"bytes\": \"\\u0001\\u0000\"}}";
		json_t *v;

		http_do("POST", u, NULL, nul, strlen(nul), 0, NULL, &r);
		assert_int_equal(r.status, 200);
		assert_non_null(r.json);
		v = json_object_get(json_object_get(json_object_get(r.json, "doc"), "value"),
		                    "bytes");
		assert_int_equal(json_string_length(v), 2);
		assert_memory_equal(json_string_value(v), "\x01\x00", 2);
		reply_release(&r);
	}

	http_do("POST", u, NULL, "{\"a\":1,\"a\":2}", 13, 0, NULL, &r);
	assert_error_doc(&r, 400); /* duplicate keys are refused */
	reply_release(&r);

	http_do("POST", u, NULL, "{\"a\":[1,2]}", 11, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "len")), 11);
	assert_int_equal(json_array_size(json_object_get(json_object_get(r.json, "doc"), "a")), 2);
	reply_release(&r);

	/* the helpers on their own */
	cps_buf_init(&resp.body, 0);
	cps_buf_init(&resp.headers, 0);
	assert_int_equal(cps_http_reply_error(&resp, 409, "conflict %d is already resolved", 12),
	                 CPS_OK);
	assert_int_equal(resp.status, 409);
	assert_string_equal(
	    (const char *)resp.body.data,
	    "{\"error\":{\"status\":409,\"message\":\"conflict 12 is already resolved\"}}");
	assert_int_not_equal(cps_http_reply_json(&resp, 200, NULL), CPS_OK);
	assert_int_equal(resp.status, 500);
	assert_int_equal(cps_http_reply_json(&resp, 202, json_pack("{s:b}", "ok", 1)), CPS_OK);
	assert_string_equal((const char *)resp.body.data, "{\"ok\":true}");
	assert_int_equal(resp.status, 202);
	cps_buf_release(&resp.body);
	cps_buf_release(&resp.headers);
	cps_http_stop(f.srv);
}

static void test_health(void **state)
{
	struct fixture f;
	struct reply r;
	char hz[512], rz[512];
	json_t *reasons;

	start_server(&f, NULL);
	url(hz, sizeof(hz), &f, "/healthz");
	url(rz, sizeof(rz), &f, "/readyz");
	alive_flag = 1;
	ready_flag = 1;
	http_do("GET", hz, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status"), "ok");
	reply_release(&r);
	http_do("GET", rz, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "ready")));
	reply_release(&r);

	alive_flag = 0;
	ready_flag = 0;
	http_do("GET", hz, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_not_equal(jstr(r.json, "status"), "ok");
	reply_release(&r);
	http_do("GET", rz, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_true(json_is_false(json_object_get(r.json, "ready")));
	reasons = json_object_get(r.json, "reasons");
	assert_int_equal(json_array_size(reasons), 2);
	assert_string_equal(json_string_value(json_array_get(reasons, 0)), "store not connected");
	reply_release(&r);
	alive_flag = 1;
	ready_flag = 1;
	cps_http_stop(f.srv);
}

struct worker {
	const struct fixture *f;
	int id;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char u[512], want[32];
	int i;

	for (i = 0; i < 25; i++) {
		struct reply r;

		snprintf(want, sizeof(want), "w%d-%d", w->id, i);
		snprintf(u, sizeof(u), "%s/api/v1/items/%s?q=%d", w->f->base, want, i);
		if (http_try("GET", u, TOK_VIEWER, NULL, 0, 0, NULL, &r) == CURLE_OK &&
		    r.status == 200 && r.json && strcmp(jstr(r.json, "id"), want) == 0)
			w->ok++;
		reply_release(&r);
	}
	return NULL;
}

struct stats_seen {
	uint64_t item_total, item_2xx, item_4xx, unmatched_4xx, le_last;
	int saw_raw_path;
};

static void collect_stats(void *ctx, const struct cps_http_route_stats *st)
{
	struct stats_seen *s = ctx;

	if (strstr(st->pattern, FAKE_ID) || strstr(st->pattern, "w0-"))
		s->saw_raw_path = 1;
	if (strcmp(st->method, "GET") == 0 && strcmp(st->pattern, "/api/v1/items/{id}") == 0) {
		s->item_total = st->total;
		s->item_2xx = st->count[1];
		s->item_4xx = st->count[3];
		s->le_last = st->latency_le[CPS_HTTP_LATENCY_BUCKETS - 1];
		assert_true(st->latency_sum_s >= 0);
	}
	if (strcmp(st->pattern, CPS_HTTP_UNMATCHED) == 0)
		s->unmatched_4xx = st->count[3];
}

static void run_concurrent(unsigned threads)
{
	struct cps_http_conf conf = {.threads = threads};
	struct fixture f;
	struct worker w[4];
	pthread_t t[4];
	struct stats_seen seen = {0};
	struct reply r;
	char u[512];
	int i, calls_before;

	start_server(&f, &conf);
	pthread_mutex_lock(&access_rec.lock);
	cps_buf_reset(&access_rec.lines);
	calls_before = access_rec.calls;
	pthread_mutex_unlock(&access_rec.lock);
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){&f, i, 0};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 25);
	}
	url(u, sizeof(u), &f, "/api/v1/items/" FAKE_ID);
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r); /* 401, counted on the route */
	assert_int_equal(r.status, 401);
	reply_release(&r);
	url(u, sizeof(u), &f, "/nothing/" FAKE_ID);
	http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	reply_release(&r);

	cps_http_stats(f.srv, collect_stats, &seen);
	assert_int_equal(seen.item_total, 101);
	assert_int_equal(seen.item_2xx, 100);
	assert_int_equal(seen.item_4xx, 1);
	assert_int_equal(seen.unmatched_4xx, 1);
	assert_true(seen.le_last <= seen.item_total);
	assert_false(seen.saw_raw_path);

	pthread_mutex_lock(&access_rec.lock);
	assert_int_equal(access_rec.calls - calls_before, 102);
	assert_non_null(
	    strstr((const char *)access_rec.lines.data, "GET /api/v1/items/{id} 200\n"));
	assert_non_null(
	    strstr((const char *)access_rec.lines.data, "GET /api/v1/items/{id} 401\n"));
	assert_non_null(strstr((const char *)access_rec.lines.data, "GET <unmatched> 404\n"));
	assert_null(strstr((const char *)access_rec.lines.data, FAKE_ID));
	assert_null(strstr((const char *)access_rec.lines.data, "w1-"));
	assert_int_equal(access_rec.negative_ms, 0);
	pthread_mutex_unlock(&access_rec.lock);
	cps_http_stop(f.srv);
}

static void test_concurrent(void **state)
{
	run_concurrent(1);
}

static void test_concurrent_thread_pool(void **state)
{
	run_concurrent(3);
}

static void test_route_errors(void **state)
{
	struct fixture f;
	char err[CPS_ERRSTR_SIZE];

	start_server(&f, NULL);
	assert_int_not_equal(
	    cps_http_route(f.srv, "GET", "no-slash", h_text, NULL, 0, err, sizeof(err)), CPS_OK);
	assert_int_not_equal(
	    cps_http_route(f.srv, "GET", "/a/{b", h_text, NULL, 0, err, sizeof(err)), CPS_OK);
	assert_int_not_equal(
	    cps_http_route(f.srv, "GET", "/a/x{b}", h_text, NULL, 0, err, sizeof(err)), CPS_OK);
	assert_int_not_equal(
	    cps_http_route(f.srv, "GET", "/a/{}", h_text, NULL, 0, err, sizeof(err)), CPS_OK);
	assert_int_not_equal(
	    cps_http_route(f.srv, "GET", "/a//b", h_text, NULL, 0, err, sizeof(err)), CPS_OK);
	assert_int_not_equal(
	    cps_http_route(f.srv, "GET", "/{a}/{a}", h_text, NULL, 0, err, sizeof(err)), CPS_OK);
	assert_non_null(strstr(err, "repeats parameter"));
	assert_int_not_equal(
	    cps_http_route(f.srv, "get", "/lower", h_text, NULL, 0, err, sizeof(err)), CPS_OK);
	assert_int_not_equal(cps_http_route(f.srv, "GET", "/r", h_text, NULL, 8, err, sizeof(err)),
	                     CPS_OK);
	assert_int_not_equal(
	    cps_http_route(f.srv, "GET", "/api/v1/items/{id}", h_text, NULL, 0, err, sizeof(err)),
	    CPS_OK);
	assert_non_null(strstr(err, "already registered"));
	assert_int_equal(cps_http_route(f.srv, "DELETE", "/api/v1/items/{id}", h_text, NULL,
	                                CPS_ROLE_OPERATOR, err, sizeof(err)),
	                 CPS_OK);
	cps_http_stop(f.srv);
}

static void test_start_errors(void **state)
{
	struct cps_http_server *srv = NULL, *second = NULL;
	struct cps_http_conf conf = {0};
	char err[CPS_ERRSTR_SIZE], addr[64];
	static const char *const bad[] = {
	    "127.0.0.1",      "127.0.0.1:99999",        "::1:80", "[::1]80", ":80",
	    "127.0.0.1:http", "no.such.host.invalid:80"};
	size_t i;

	for (i = 0; i < CPS_ARRAY_SIZE(bad); i++) {
		conf.listen = bad[i];
		err[0] = 0;
		assert_int_not_equal(cps_http_start(&conf, &srv, err, sizeof(err)), CPS_OK);
		assert_null(srv);
		assert_true(err[0] != 0);
	}
	conf.listen = "127.0.0.1:0";
	conf.tls_cert_file = "/nonexistent/cert.pem";
	assert_int_not_equal(cps_http_start(&conf, &srv, err, sizeof(err)), CPS_OK);
	assert_non_null(strstr(err, "tls_key_file"));
	conf.tls_key_file = "/nonexistent/key.pem";
	assert_int_not_equal(cps_http_start(&conf, &srv, err, sizeof(err)), CPS_OK);
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
	conf.tls_cert_file = conf.tls_key_file = NULL;

	/* port already taken */
	assert_int_equal(cps_http_start(&conf, &srv, err, sizeof(err)), CPS_OK);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", cps_http_port(srv));
	conf.listen = addr;
	assert_int_equal(cps_http_start(&conf, &second, err, sizeof(err)), CPS_ERR_RETRIABLE);
	assert_non_null(strstr(err, "in use"));
	cps_http_stop(srv);
	cps_http_stop(NULL);

	/* IPv6 loopback, when the machine has it */
	conf.listen = "[::1]:0";
	if (cps_http_start(&conf, &srv, err, sizeof(err)) == CPS_OK) {
		struct reply r;
		char u[128];

		snprintf(u, sizeof(u), "http://[::1]:%u/healthz", cps_http_port(srv));
		http_do("GET", u, NULL, NULL, 0, 0, NULL, &r);
		assert_int_equal(r.status, 200);
		reply_release(&r);
		cps_http_stop(srv);
	} else {
		print_message("IPv6 loopback unavailable here: %s\n", err);
	}
}

static void test_https(void **state)
{
	char dir[] = "/tmp/cps-http-tls-XXXXXX", cmd[1024], cert[128], key[128], u[256];
	struct cps_http_conf conf = {0};
	struct fixture f;
	struct reply r;
	CURL *c;

	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	         "-keyout %s -out %s -days 1 -subj /CN=127.0.0.1 "
	         "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
	         key, cert);
	assert_int_equal(system(cmd), 0);
	conf.tls_cert_file = cert;
	conf.tls_key_file = key;
	start_server(&f, &conf);
	assert_non_null(strstr(f.base, "https://"));

	url(u, sizeof(u), &f, "/api/v1/items/tls-1");
	http_do("GET", u, TOK_VIEWER, NULL, 0, 0, cert, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "id"), "tls-1");
	reply_release(&r);

	/* plain HTTP to the TLS port does not get an answer */
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/healthz", cps_http_port(f.srv));
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	cps_buf_init(&r.body, 0);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
	assert_int_not_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	cps_buf_release(&r.body);
	cps_http_stop(f.srv);

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static int group_setup(void **state)
{
	curl_global_init(CURL_GLOBAL_ALL);
	cps_buf_init(&access_rec.lines, 0);
	return 0;
}

static int group_teardown(void **state)
{
	cps_buf_release(&access_rec.lines);
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routing_and_params),
	    cmocka_unit_test(test_not_found_and_method),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_token_hashes_and_regions),
	    cmocka_unit_test(test_open_routes_configurable),
	    cmocka_unit_test(test_body_limits),
	    cmocka_unit_test(test_connection_limits),
	    cmocka_unit_test(test_json_helpers),
	    cmocka_unit_test(test_health),
	    cmocka_unit_test(test_concurrent),
	    cmocka_unit_test(test_concurrent_thread_pool),
	    cmocka_unit_test(test_route_errors),
	    cmocka_unit_test(test_start_errors),
	    cmocka_unit_test(test_https),
	};

	return cmocka_run_group_tests_name("http", tests, group_setup, group_teardown);
}
