/*
 * cpsync's HTTP server on libmicrohttpd 0.9.75 (see http.h for the API).
 * One request = one http_request_state: routed and authorised on MHD's first
 * call (401/403/404/405/413 answered before any body is read), the body
 * collected under a hard cap, the handler run on the final call. Counters
 * and the access-log hook see route patterns only, never raw paths.
 */
#include "http/http.h"

#include "base/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEGMENTS      32
#define MAX_TOKEN_LEN     1024
#define MIN_TOKEN_LEN     16
#define MAX_METHOD_LEN    16
#define RESP_HEADER_LIMIT ((size_t)64 << 10)

const double cps_http_latency_bounds_s[CPS_HTTP_LATENCY_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

struct stats {
	uint64_t count[5];
	uint64_t total;
	double latency_sum_s;
	uint64_t latency_le[CPS_HTTP_LATENCY_BUCKETS];
};

/* Immutable once linked into the server's list (only stats change, under
 * stats_lock); freed at cps_http_stop. */
struct route {
	struct route *next;
	char method[MAX_METHOD_LEN + 1];
	char *pattern;
	size_t nseg;
	char **seg; /* literal text, or the parameter name */
	unsigned char *is_param;
	cps_http_handler handler;
	void *ctx;
	unsigned roles;
	struct stats st;
};

struct token {
	char *name;
	char *token;
	size_t len;
	unsigned roles;
};

struct cps_http_server {
	struct MHD_Daemon *mhd;
	int listen_fd;
	unsigned port;
	size_t max_body;
	struct cps_http_conf conf; /* callbacks only; strings are not kept */
	char **open_routes;
	size_t n_open;

	pthread_rwlock_t routes_lock;
	struct route *routes;
	struct route **routes_tail;

	pthread_mutex_t tokens_lock;
	struct token *tokens;
	size_t n_tokens;

	pthread_mutex_t stats_lock;
	struct stats unmatched;

	struct cps_buf tls_cert, tls_key;
	atomic_int starting;
	char start_msg[256];
};

struct http_request_state {
	struct cps_http_server *server;
	struct MHD_Connection *conn;
	struct timespec t0;
	const struct route *route;
	const char *method_tag; /* a known method name or "OTHER": safe to log */
	char *path_copy;        /* split in place into seg[] */
	char *seg[MAX_SEGMENTS];
	size_t nseg;
	int too_big;
	int answered;
	struct cps_buf body;
	char *principal;
	unsigned roles;
};

/* ---- small helpers ---------------------------------------------------- */

static double ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static const char *method_tag(const char *method)
{
	static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",
	                                    "DELETE", "OPTIONS", "PATCH", "TRACE"};
	size_t i;

	for (i = 0; i < CPS_ARRAY_SIZE(known); i++)
		if (strcmp(method, known[i]) == 0)
			return known[i];
	return "OTHER";
}

static int valid_method(const char *m)
{
	size_t n = strlen(m), i;

	if (n == 0 || n > MAX_METHOD_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return 0;
	return 1;
}

static int dump_to_buf(const char *p, size_t n, void *data)
{
	return cps_buf_append(data, p, n) < 0 ? -1 : 0;
}

/* Splits "/a/b/c" in place into segments (the leading '/' is required;
 * "/" has none). -1 when there are too many. */
static int split_path(char *p, char **seg, size_t *nseg)
{
	size_t n = 0;

	*nseg = 0;
	if (*p != '/')
		return -1;
	p++;
	if (*p == 0)
		return 0;
	for (;;) {
		char *slash = strchr(p, '/');

		if (n == MAX_SEGMENTS)
			return -1;
		seg[n++] = p;
		if (!slash)
			break;
		*slash = 0;
		p = slash + 1;
	}
	*nseg = n;
	return 0;
}

/* ---- responses -------------------------------------------------------- */

static void response_init(struct cps_http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	cps_buf_init(&resp->body, 0);
	cps_buf_init(&resp->headers, RESP_HEADER_LIMIT);
}

static void response_release(struct cps_http_response *resp)
{
	cps_buf_release(&resp->body);
	cps_buf_release(&resp->headers);
}

int cps_http_response_header(struct cps_http_response *resp, const char *name, const char *value)
{
	size_t i;

	if (!name || !value || !*name)
		return CPS_ERR_INVALID;
	for (i = 0; name[i]; i++)
		if (name[i] <= ' ' || name[i] == ':' || name[i] == 0x7f)
			return CPS_ERR_INVALID;
	if (strpbrk(value, "\r\n"))
		return CPS_ERR_INVALID;
	if (cps_buf_append(&resp->headers, name, strlen(name) + 1) < 0 ||
	    cps_buf_append(&resp->headers, value, strlen(value) + 1) < 0)
		return CPS_ERR_INVALID;
	return CPS_OK;
}

int cps_http_reply_json(struct cps_http_response *resp, int status, json_t *json)
{
	cps_buf_reset(&resp->body);
	resp->content_type = "application/json";
	if (!json) {
		cps_http_reply_error(resp, 500, "failed to build the response document");
		return CPS_ERR_FATAL;
	}
	if (json_dump_callback(json, dump_to_buf, &resp->body, JSON_COMPACT) != 0) {
		json_decref(json);
		cps_http_reply_error(resp, 500, "failed to encode the response document");
		return CPS_ERR_FATAL;
	}
	json_decref(json);
	resp->status = status;
	return CPS_OK;
}

int cps_http_reply_error(struct cps_http_response *resp, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *doc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cps_buf_reset(&resp->body);
	resp->content_type = "application/json";
	resp->status = status;
	doc = json_pack("{s:{s:i,s:s}}", "error", "status", status, "message", msg);
	if (!doc || json_dump_callback(doc, dump_to_buf, &resp->body, JSON_COMPACT) != 0) {
		json_decref(doc);
		cps_buf_reset(&resp->body);
		resp->status = 500;
		return CPS_ERR_FATAL;
	}
	json_decref(doc);
	return CPS_OK;
}

static void record_stats(struct cps_http_server *srv, struct stats *st, int status, double ms)
{
	int cls = status / 100 - 1;
	size_t i;

	if (cls < 0)
		cls = 0;
	if (cls > 4)
		cls = 4;
	pthread_mutex_lock(&srv->stats_lock);
	st->count[cls]++;
	st->total++;
	st->latency_sum_s += ms / 1e3;
	for (i = 0; i < CPS_HTTP_LATENCY_BUCKETS; i++)
		if (ms / 1e3 <= cps_http_latency_bounds_s[i])
			st->latency_le[i]++;
	pthread_mutex_unlock(&srv->stats_lock);
}

/* Queues resp on the connection, counts it, writes the access log.
 * @locality MHD thread, inside the access handler */
static enum MHD_Result answer(struct http_request_state *rs, struct cps_http_response *resp)
{
	struct cps_http_server *srv = rs->server;
	struct MHD_Response *mr;
	enum MHD_Result ret;
	int has_cache_control = 0;
	size_t off = 0;
	double ms;

	if (resp->status < 100 || resp->status > 599)
		cps_http_reply_error(resp, 500, "handler produced no response");
	mr = MHD_create_response_from_buffer(resp->body.len,
	                                     resp->body.data ? (void *)resp->body.data : (void *)"",
	                                     MHD_RESPMEM_MUST_COPY);
	if (!mr)
		return MHD_NO;
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        resp->content_type ? resp->content_type : "application/json");
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	while (off < resp->headers.len) {
		const char *name = (const char *)resp->headers.data + off;
		const char *value = name + strlen(name) + 1;

		off += strlen(name) + strlen(value) + 2;
		if (strcasecmp(name, "Cache-Control") == 0)
			has_cache_control = 1;
		MHD_add_response_header(mr, name, value);
	}
	if (!has_cache_control) /* answers can hold personal data */
		MHD_add_response_header(mr, "Cache-Control", "no-store");
	ret = MHD_queue_response(rs->conn, (unsigned)resp->status, mr);
	MHD_destroy_response(mr);
	rs->answered = 1;

	ms = ms_since(&rs->t0);
	record_stats(srv, rs->route ? (struct stats *)&rs->route->st : &srv->unmatched,
	             resp->status, ms);
	if (srv->conf.access_log)
		srv->conf.access_log(srv->conf.access_log_ctx, rs->method_tag,
		                     rs->route ? rs->route->pattern : CPS_HTTP_UNMATCHED,
		                     resp->status, ms);
	return ret;
}

static enum MHD_Result answer_error(struct http_request_state *rs, int status,
                                    const char *header_name, const char *header_value,
                                    const char *msg)
{
	struct cps_http_response resp;
	enum MHD_Result ret;

	response_init(&resp);
	cps_http_reply_error(&resp, status, "%s", msg);
	if (header_name)
		cps_http_response_header(&resp, header_name, header_value);
	ret = answer(rs, &resp);
	response_release(&resp);
	return ret;
}

/* ---- routing ---------------------------------------------------------- */

static int route_matches(const struct route *r, char *const *seg, size_t nseg)
{
	size_t i;

	if (r->nseg != nseg)
		return 0;
	for (i = 0; i < nseg; i++) {
		if (r->is_param[i]) {
			if (seg[i][0] == 0)
				return 0;
		} else if (strcmp(r->seg[i], seg[i]) != 0) {
			return 0;
		}
	}
	return 1;
}

/* A literal beats a parameter at the first position where they differ. */
static int route_more_specific(const struct route *a, const struct route *b)
{
	size_t i;

	for (i = 0; i < a->nseg; i++)
		if (a->is_param[i] != b->is_param[i])
			return !a->is_param[i];
	return 0;
}

static int method_matches(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
	       (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void allow_add(char *allow, size_t size, const char *method)
{
	const char *p = allow;
	size_t n = strlen(method);

	while ((p = strstr(p, method))) {
		if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == 0))
			return;
		p += n;
	}
	if (*allow)
		strncat(allow, ", ", size - strlen(allow) - 1);
	strncat(allow, method, size - strlen(allow) - 1);
}

/* Finds the route for rs's path and method; on a path match with another
 * method fills `allow` (405). Takes routes_lock for reading. */
static const struct route *route_find(struct cps_http_server *srv, struct http_request_state *rs,
                                      const char *method, char *allow, size_t allow_size)
{
	const struct route *r, *best = NULL;

	allow[0] = 0;
	pthread_rwlock_rdlock(&srv->routes_lock);
	for (r = srv->routes; r; r = r->next) {
		if (!route_matches(r, rs->seg, rs->nseg))
			continue;
		if (method_matches(r->method, method)) {
			if (!best || route_more_specific(r, best))
				best = r;
		} else {
			allow_add(allow, allow_size, r->method);
			if (strcmp(r->method, "GET") == 0)
				allow_add(allow, allow_size, "HEAD");
		}
	}
	pthread_rwlock_unlock(&srv->routes_lock);
	return best;
}

static int is_open_pattern(const struct cps_http_server *srv, const char *pattern)
{
	size_t i;

	for (i = 0; i < srv->n_open; i++)
		if (strcmp(srv->open_routes[i], pattern) == 0)
			return 1;
	return 0;
}

static void route_free(struct route *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nseg; i++)
		free(r->seg[i]);
	free(r->seg);
	free(r->is_param);
	free(r->pattern);
	free(r);
}

int cps_http_route(struct cps_http_server *srv, const char *method, const char *pattern,
                   cps_http_handler handler, void *ctx, unsigned required_roles, char *errstr,
                   size_t errstr_size)
{
	struct route *r = NULL, *it;
	char *copy = NULL, *seg[MAX_SEGMENTS];
	size_t nseg, i, j;
	int rc;

	if (!srv || !method || !pattern || !handler)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "route needs a server, method, pattern and handler");
	if (!valid_method(method))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "route method \"%.20s\" is not an upper-case HTTP method",
		                  method);
	if (required_roles & ~(unsigned)CPS_ROLE_ANY)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "route \"%s\" has unknown role bits 0x%x",
		                  pattern, required_roles);
	copy = strdup(pattern);
	r = calloc(1, sizeof(*r));
	if (!copy || !r) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "out of memory adding a route");
		goto out_free;
	}
	if (split_path(copy, seg, &nseg) < 0) {
		rc = cps_seterr(CPS_ERR_INVALID, 
		    errstr, errstr_size,
		    "route pattern \"%.100s\" must start with '/' and have at most %d segments",
		    pattern, MAX_SEGMENTS);
		goto out_free;
	}
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->handler = handler;
	r->ctx = ctx;
	r->roles = required_roles;
	r->pattern = strdup(pattern);
	r->seg = calloc(nseg ? nseg : 1, sizeof(*r->seg));
	r->is_param = calloc(nseg ? nseg : 1, 1);
	if (!r->pattern || !r->seg || !r->is_param) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "out of memory adding a route");
		goto out_free;
	}
	for (i = 0; i < nseg; i++) {
		size_t n = strlen(seg[i]);

		if (n == 0) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "route pattern \"%s\" has an empty segment", pattern);
			goto out_free;
		}
		if (seg[i][0] == '{' || strchr(seg[i], '{') || strchr(seg[i], '}')) {
			if (seg[i][0] != '{' || seg[i][n - 1] != '}' || n < 3 ||
			    strcspn(seg[i] + 1, "{}") != n - 2) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "route pattern \"%s\": a parameter must be a whole "
				                "segment \"{name}\"",
				                pattern);
				goto out_free;
			}
			r->is_param[i] = 1;
			r->seg[i] = strndup(seg[i] + 1, n - 2);
			for (j = 0; r->seg[i] && j < i; j++) {
				if (r->is_param[j] && strcmp(r->seg[j], r->seg[i]) == 0) {
					r->nseg = i + 1;
					rc = cps_seterr(CPS_ERR_INVALID, 
					    errstr, errstr_size,
					    "route pattern \"%s\" repeats parameter \"%s\"",
					    pattern, r->seg[i]);
					goto out_free;
				}
			}
		} else {
			r->seg[i] = strdup(seg[i]);
		}
		r->nseg = i + 1;
		if (!r->seg[i]) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                     "out of memory adding a route");
			goto out_free;
		}
	}
	r->nseg = nseg;
	if (is_open_pattern(srv, pattern))
		r->roles = CPS_HTTP_OPEN;

	pthread_rwlock_wrlock(&srv->routes_lock);
	for (it = srv->routes; it; it = it->next) {
		if (strcmp(it->method, r->method) == 0 && strcmp(it->pattern, r->pattern) == 0) {
			pthread_rwlock_unlock(&srv->routes_lock);
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "route %s \"%s\" is already registered", method, pattern);
			goto out_free;
		}
	}
	*srv->routes_tail = r;
	srv->routes_tail = &r->next;
	pthread_rwlock_unlock(&srv->routes_lock);
	free(copy);
	return CPS_OK;

out_free:
	route_free(r);
	free(copy);
	return rc;
}

/* ---- tokens ----------------------------------------------------------- */

static void tokens_free(struct token *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(t[i].name);
		if (t[i].token) {
			explicit_bzero(t[i].token, t[i].len);
			free(t[i].token);
		}
	}
	free(t);
}

int cps_http_set_tokens(struct cps_http_server *srv, const struct cps_http_token *tokens, size_t n,
                        char *errstr, size_t errstr_size)
{
	struct token *t, *old;
	size_t i, j, n_old;
	int rc;

	t = calloc(n ? n : 1, sizeof(*t));
	if (!t)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "out of memory copying tokens");
	for (i = 0; i < n; i++) {
		const struct cps_http_token *in = &tokens[i];
		size_t len = in->token ? strlen(in->token) : 0;

		if (!in->name || !*in->name) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "token #%zu has no name", i + 1);
			goto out_free;
		}
		if (len < MIN_TOKEN_LEN || len > MAX_TOKEN_LEN) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "token #%zu must be %d to %d characters long", i + 1,
			                MIN_TOKEN_LEN, MAX_TOKEN_LEN);
			goto out_free;
		}
		if (strpbrk(in->token, " \t\r\n")) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "token #%zu contains whitespace",
			                i + 1);
			goto out_free;
		}
		if (in->roles == 0 || (in->roles & ~(unsigned)CPS_ROLE_ANY)) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "token #%zu needs roles within viewer, steward, operator",
			                i + 1);
			goto out_free;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(t[j].name, in->name) == 0 ||
			    strcmp(t[j].token, in->token) == 0) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "tokens #%zu and #%zu share a name or a secret",
				                j + 1, i + 1);
				goto out_free;
			}
		}
		t[i].name = strdup(in->name);
		t[i].token = strdup(in->token);
		t[i].len = len;
		t[i].roles = in->roles;
		if (!t[i].name || !t[i].token) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                     "out of memory copying tokens");
			goto out_free;
		}
	}
	pthread_mutex_lock(&srv->tokens_lock);
	old = srv->tokens;
	n_old = srv->n_tokens;
	srv->tokens = t;
	srv->n_tokens = n;
	pthread_mutex_unlock(&srv->tokens_lock);
	tokens_free(old, n_old);
	return CPS_OK;

out_free:
	tokens_free(t, n);
	return rc;
}

/* Time depends on the presented length only, never on where it differs
 * from a configured token or which one it matches. */
static int token_equal(const char *given, size_t glen, const struct token *t)
{
	volatile unsigned char diff = glen != t->len;
	size_t i;

	for (i = 0; i < glen; i++)
		diff |= (unsigned char)given[i] ^ (unsigned char)t->token[i % t->len];
	return diff == 0;
}

/* Looks the bearer token up; fills rs->principal and rs->roles.
 * Returns 1 found, 0 not found, -1 no bearer credentials at all. */
static int authenticate(struct http_request_state *rs)
{
	struct cps_http_server *srv = rs->server;
	const char *h =
	    MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *tok;
	size_t len, i, found = (size_t)-1;

	if (!h)
		return -1;
	while (*h == ' ')
		h++;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return -1;
	tok = h + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	if (len == 0 || len > MAX_TOKEN_LEN)
		return 0;
	pthread_mutex_lock(&srv->tokens_lock);
	for (i = 0; i < srv->n_tokens; i++) {
		size_t eq = (size_t)token_equal(tok, len, &srv->tokens[i]);

		/* no early exit: every token is compared */
		found = (found & (eq - 1)) | (i & (0 - eq));
	}
	if (found != (size_t)-1) {
		rs->principal = strdup(srv->tokens[found].name);
		rs->roles = srv->tokens[found].roles;
	}
	pthread_mutex_unlock(&srv->tokens_lock);
	return found != (size_t)-1 && rs->principal ? 1 : 0;
}

/* ---- the MHD callbacks ------------------------------------------------ */

/* First call for a request: route, authorise, check Content-Length.
 * @locality MHD thread */
static enum MHD_Result request_begin(struct http_request_state *rs, const char *url,
                                     const char *method)
{
	struct cps_http_server *srv = rs->server;
	char allow[128], msg[96];
	const char *cl;
	int auth;

	rs->method_tag = method_tag(method);
	rs->path_copy = strdup(url);
	if (!rs->path_copy)
		return MHD_NO;
	if (split_path(rs->path_copy, rs->seg, &rs->nseg) < 0)
		return answer_error(rs, 404, NULL, NULL, "no route for this path");
	rs->route = route_find(srv, rs, method, allow, sizeof(allow));
	if (!rs->route) {
		if (allow[0])
			return answer_error(rs, 405, MHD_HTTP_HEADER_ALLOW, allow,
			                    "method not allowed for this route");
		return answer_error(rs, 404, NULL, NULL, "no route for this path");
	}

	auth = authenticate(rs);
	if (rs->route->roles != CPS_HTTP_OPEN) {
		if (auth < 0)
			return answer_error(rs, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			                    "Bearer realm=\"cpsync\"", "missing bearer token");
		if (auth == 0)
			return answer_error(rs, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			                    "Bearer realm=\"cpsync\", error=\"invalid_token\"",
			                    "invalid bearer token");
		if (!(rs->roles & rs->route->roles))
			return answer_error(rs, 403, NULL, NULL,
			                    "the token's roles do not allow this route");
	}

	cl = MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno || end == cl || *end || *cl == '-')
			return answer_error(rs, 400, NULL, NULL, "invalid Content-Length");
		if (v > srv->max_body) {
			snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", srv->max_body);
			return answer_error(rs, 413, NULL, NULL, msg);
		}
	}
	return MHD_YES;
}

static enum MHD_Result request_run(struct http_request_state *rs, const char *url,
                                   const char *method)
{
	struct cps_http_request req = {
	    .method = method,
	    .path = url,
	    .route_pattern = rs->route->pattern,
	    .body = rs->body.data ? rs->body.data : (const uint8_t *)"",
	    .body_len = rs->body.len,
	    .principal = rs->principal,
	    .roles = rs->roles,
	    .priv = rs,
	};
	struct cps_http_response resp;
	enum MHD_Result ret;

	response_init(&resp);
	rs->route->handler(rs->route->ctx, &req, &resp);
	ret = answer(rs, &resp);
	response_release(&resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct cps_http_server *srv = cls;
	struct http_request_state *rs = *con_cls;

	if (!rs) {
		rs = calloc(1, sizeof(*rs));
		if (!rs)
			return MHD_NO;
		rs->server = srv;
		rs->conn = conn;
		clock_gettime(CLOCK_MONOTONIC, &rs->t0);
		cps_buf_init(&rs->body, srv->max_body);
		*con_cls = rs;
		return request_begin(rs, url, method);
	}
	if (rs->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* While the body arrives no answer may be queued: remember and
		 * keep consuming; the final call answers 413. */
		if (!rs->too_big && cps_buf_append(&rs->body, upload_data, *upload_data_size) < 0)
			rs->too_big = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (rs->too_big) {
		char msg[96];

		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", srv->max_body);
		return answer_error(rs, 413, NULL, NULL, msg);
	}
	return request_run(rs, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_request_state *rs = *con_cls;

	if (!rs)
		return;
	cps_buf_release(&rs->body);
	free(rs->path_copy);
	free(rs->principal);
	free(rs);
	*con_cls = NULL;
}

/* MHD's diagnostics are kept only while starting (for the error text). */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct cps_http_server *srv = cls;
	size_t n;

	if (!atomic_load(&srv->starting))
		return;
	vsnprintf(srv->start_msg, sizeof(srv->start_msg), fmt, ap);
	n = strlen(srv->start_msg);
	while (n && (srv->start_msg[n - 1] == '\n' || srv->start_msg[n - 1] == '.'))
		srv->start_msg[--n] = 0;
}

/* ---- request accessors ------------------------------------------------ */

const char *cps_http_param(const struct cps_http_request *req, const char *name)
{
	const struct http_request_state *rs = req->priv;
	size_t i;

	if (!rs || !rs->route)
		return NULL;
	for (i = 0; i < rs->route->nseg && i < rs->nseg; i++)
		if (rs->route->is_param[i] && strcmp(rs->route->seg[i], name) == 0)
			return rs->seg[i];
	return NULL;
}

const char *cps_http_query(const struct cps_http_request *req, const char *name)
{
	const char *v = NULL;
	size_t vlen = 0;

	if (!req->priv)
		return NULL;
	if (MHD_lookup_connection_value_n(req->priv->conn, MHD_GET_ARGUMENT_KIND, name,
	                                  strlen(name), &v, &vlen) != MHD_YES)
		return NULL;
	return v ? v : "";
}

const char *cps_http_header(const struct cps_http_request *req, const char *name)
{
	if (!req->priv)
		return NULL;
	return MHD_lookup_connection_value(req->priv->conn, MHD_HEADER_KIND, name);
}

json_t *cps_http_body_json(const struct cps_http_request *req, struct cps_http_response *resp)
{
	json_error_t err;
	json_t *doc;

	if (req->body_len == 0) {
		cps_http_reply_error(resp, 400,
		                     "request body is empty, a JSON document is expected");
		return NULL;
	}
	doc = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!doc) {
		/* err.text may quote the body ("near '...'"): give only the position */
		cps_http_reply_error(resp, 400, "malformed JSON body at line %d column %d",
		                     err.line, err.column);
		return NULL;
	}
	return doc;
}

/* ---- built-in routes -------------------------------------------------- */

static void healthz(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	struct cps_http_server *srv = ctx;
	int alive = srv->conf.alive ? srv->conf.alive(srv->conf.alive_ctx) : 1;

	cps_http_reply_json(resp, alive ? 200 : 503,
	                    json_pack("{s:s}", "status", alive ? "ok" : "unavailable"));
}

static void readyz(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	struct cps_http_server *srv = ctx;
	json_t *reasons = json_array();
	int ready;

	if (!reasons) {
		cps_http_reply_error(resp, 500, "out of memory");
		return;
	}
	ready = srv->conf.ready ? srv->conf.ready(srv->conf.ready_ctx, reasons) : 1;
	if (ready) {
		json_decref(reasons);
		cps_http_reply_json(resp, 200, json_pack("{s:b}", "ready", 1));
		return;
	}
	if (json_array_size(reasons) == 0)
		json_array_append_new(reasons, json_string("not ready"));
	cps_http_reply_json(resp, 503, json_pack("{s:b,s:o}", "ready", 0, "reasons", reasons));
}

/* ---- start / stop ----------------------------------------------------- */

/* "host:port" or "[v6]:port" into host and port strings. */
static int parse_listen(const char *addr, char *host, size_t hsize, char *port, size_t psize,
                        char *errstr, size_t errstr_size)
{
	const char *colon, *h = addr, *hend;
	char *end;
	unsigned long p;

	if (addr[0] == '[') {
		h = addr + 1;
		hend = strchr(h, ']');
		if (!hend || hend[1] != ':')
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "listen address \"%s\" is not \"[address]:port\"", addr);
		colon = hend + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			return cps_seterr(CPS_ERR_INVALID, 
			    errstr, errstr_size,
			    "listen address \"%s\" is not \"host:port\" (IPv6 needs brackets)",
			    addr);
		hend = colon;
	}
	if (hend == h || (size_t)(hend - h) >= hsize)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "listen address \"%s\" has no usable host",
		                  addr);
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || p > 65535)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "listen address \"%s\" has no valid port (0-65535)", addr);
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = 0;
	snprintf(port, psize, "%lu", p);
	return CPS_OK;
}

/* Binds and listens ourselves so that a failure says why (errno). */
static int open_listener(const char *addr, int *fd_out, int *family, unsigned *port_out,
                         char *errstr, size_t errstr_size)
{
	char host[256], port[8];
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = -1, rc, err = 0, one = 1;

	rc = parse_listen(addr, host, sizeof(host), port, sizeof(port), errstr, errstr_size);
	if (rc)
		return rc;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "listen address \"%s\": %s", addr,
		                  gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		freeaddrinfo(res);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "cannot listen on \"%s\": %s", addr, strerror(err));
	}
	*family = ai->ai_family;
	freeaddrinfo(res);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		err = errno;
		close(fd);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "getsockname on \"%s\": %s", addr, strerror(err));
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                           : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return CPS_OK;
}

static int read_pem(struct cps_buf *b, const char *path, const char *what, char *errstr,
                    size_t errstr_size)
{
	cps_buf_init(b, (size_t)1 << 20);
	if (cps_buf_read_file(b, path) < 0 || b->len == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "cannot read TLS %s file \"%s\": %s", what,
		                  path, errno ? strerror(errno) : "empty or over 1 MiB");
	return CPS_OK;
}

static void server_free(struct cps_http_server *srv)
{
	struct route *r, *next;
	size_t i;

	for (r = srv->routes; r; r = next) {
		next = r->next;
		route_free(r);
	}
	tokens_free(srv->tokens, srv->n_tokens);
	for (i = 0; i < srv->n_open; i++)
		free(srv->open_routes[i]);
	free(srv->open_routes);
	cps_buf_release(&srv->tls_cert);
	if (srv->tls_key.data)
		explicit_bzero(srv->tls_key.data, srv->tls_key.cap);
	cps_buf_release(&srv->tls_key);
	pthread_rwlock_destroy(&srv->routes_lock);
	pthread_mutex_destroy(&srv->tokens_lock);
	pthread_mutex_destroy(&srv->stats_lock);
	free(srv);
}

static int copy_open_routes(struct cps_http_server *srv, const char *const *list)
{
	static const char *const defaults[] = {"/healthz", "/readyz", NULL};
	size_t n = 0, i;

	if (!list)
		list = defaults;
	while (list[n])
		n++;
	srv->open_routes = calloc(n ? n : 1, sizeof(char *));
	if (!srv->open_routes)
		return -1;
	for (i = 0; i < n; i++) {
		srv->open_routes[i] = strdup(list[i]);
		if (!srv->open_routes[i])
			return -1;
		srv->n_open = i + 1;
	}
	return 0;
}

int cps_http_start(const struct cps_http_conf *conf, struct cps_http_server **out, char *errstr,
                   size_t errstr_size)
{
	struct cps_http_server *srv;
	const char *addr = conf->listen ? conf->listen : "127.0.0.1:8080";
	int tls = conf->tls_cert_file || conf->tls_key_file;
	struct MHD_OptionItem extra[4];
	unsigned flags, pool = conf->threads > 1 ? conf->threads : 0;
	int family = AF_INET, rc;
	size_t n_extra = 0;

	*out = NULL;
	if (tls && !(conf->tls_cert_file && conf->tls_key_file))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "HTTPS needs both tls_cert_file and tls_key_file");
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "HTTPS requested but libmicrohttpd was built without TLS support");
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "out of memory starting the HTTP server");
	srv->listen_fd = -1;
	srv->conf = *conf;
	srv->conf.listen = srv->conf.tls_cert_file = srv->conf.tls_key_file = NULL;
	srv->conf.open_routes = NULL;
	srv->max_body = conf->max_body_bytes ? conf->max_body_bytes : (size_t)1 << 20;
	srv->routes_tail = &srv->routes;
	pthread_rwlock_init(&srv->routes_lock, NULL);
	pthread_mutex_init(&srv->tokens_lock, NULL);
	pthread_mutex_init(&srv->stats_lock, NULL);
	if (copy_open_routes(srv, conf->open_routes) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "out of memory starting the HTTP server");
		goto out_free;
	}
	if (tls) {
		rc = read_pem(&srv->tls_cert, conf->tls_cert_file, "certificate", errstr,
		              errstr_size);
		if (rc == CPS_OK)
			rc =
			    read_pem(&srv->tls_key, conf->tls_key_file, "key", errstr, errstr_size);
		if (rc)
			goto out_free;
	}
	rc =
	    cps_http_route(srv, "GET", "/healthz", healthz, srv, CPS_ROLE_ANY, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_http_route(srv, "GET", "/readyz", readyz, srv, CPS_ROLE_ANY, errstr,
		                    errstr_size);
	if (rc)
		goto out_free;
	rc = open_listener(addr, &srv->listen_fd, &family, &srv->port, errstr, errstr_size);
	if (rc)
		goto out_free;

	if (pool)
		extra[n_extra++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, pool, NULL};
	if (tls) {
		extra[n_extra++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert.data};
		extra[n_extra++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key.data};
	}
	extra[n_extra] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls)
		flags |= MHD_USE_TLS;
	atomic_store(&srv->starting, 1);
	srv->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->listen_fd, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)(conf->timeout_s ? conf->timeout_s : 30), MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(conf->max_connections ? conf->max_connections : 128),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)(conf->max_per_ip ? conf->max_per_ip : 32),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(conf->conn_memory_limit ? conf->conn_memory_limit : (size_t)32 << 10),
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_ARRAY, extra,
	    MHD_OPTION_END);
	atomic_store(&srv->starting, 0);
	if (!srv->mhd) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "libmicrohttpd did not start on \"%s\": %s", addr,
		                     srv->start_msg[0] ? srv->start_msg : "no reason given");
		close(srv->listen_fd);
		goto out_free;
	}
	*out = srv;
	return CPS_OK;

out_free:
	server_free(srv);
	return rc;
}

unsigned cps_http_port(const struct cps_http_server *srv)
{
	return srv ? srv->port : 0;
}

void cps_http_stop(struct cps_http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->mhd); /* joins its threads and closes the listen socket */
	server_free(srv);
}

void cps_http_stats(struct cps_http_server *srv,
                    void (*cb)(void *ctx, const struct cps_http_route_stats *st), void *ctx)
{
	struct cps_http_route_stats out;
	const struct route *r;

	pthread_rwlock_rdlock(&srv->routes_lock);
	for (r = srv->routes; r; r = r->next) {
		memset(&out, 0, sizeof(out));
		out.method = r->method;
		out.pattern = r->pattern;
		pthread_mutex_lock(&srv->stats_lock);
		memcpy(out.count, r->st.count, sizeof(out.count));
		out.total = r->st.total;
		out.latency_sum_s = r->st.latency_sum_s;
		memcpy(out.latency_le, r->st.latency_le, sizeof(out.latency_le));
		pthread_mutex_unlock(&srv->stats_lock);
		cb(ctx, &out);
	}
	pthread_rwlock_unlock(&srv->routes_lock);
	memset(&out, 0, sizeof(out));
	out.method = "*";
	out.pattern = CPS_HTTP_UNMATCHED;
	pthread_mutex_lock(&srv->stats_lock);
	memcpy(out.count, srv->unmatched.count, sizeof(out.count));
	out.total = srv->unmatched.total;
	out.latency_sum_s = srv->unmatched.latency_sum_s;
	memcpy(out.latency_le, srv->unmatched.latency_le, sizeof(out.latency_le));
	pthread_mutex_unlock(&srv->stats_lock);
	cb(ctx, &out);
}

void cps_http_routes(struct cps_http_server *srv,
                     void (*cb)(void *ctx, const struct cps_http_route_info *ri), void *ctx)
{
	struct cps_http_route_info ri;
	const struct route *r;

	pthread_rwlock_rdlock(&srv->routes_lock);
	for (r = srv->routes; r; r = r->next) {
		ri.method = r->method;
		ri.pattern = r->pattern;
		ri.roles = r->roles;
		ri.open = r->roles == CPS_HTTP_OPEN || is_open_pattern(srv, r->pattern);
		cb(ctx, &ri);
	}
	pthread_rwlock_unlock(&srv->routes_lock);
}
