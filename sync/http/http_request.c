/*
 * One HTTP request through libmicrohttpd's callbacks: routed and authorised
 * on the first call (401/403/404/405/413 answered before any body is read),
 * the body collected under a hard cap, handed to a lane (http_lane.c) on the
 * final call and answered when its worker resumes the connection; and the
 * accessors handlers use (path and query parameters, headers, body).
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	if (cps_http_split_path(rs->path_copy, rs->seg, &rs->nseg) < 0)
		return cps_http_answer_error(rs, 404, NULL, NULL, "no route for this path");
	rs->route = cps_http_route_find(srv, rs, method, allow, sizeof(allow));
	if (!rs->route) {
		if (allow[0])
			return cps_http_answer_error(rs, 405, MHD_HTTP_HEADER_ALLOW, allow,
			                             "method not allowed for this route");
		return cps_http_answer_error(rs, 404, NULL, NULL, "no route for this path");
	}

	auth = cps_http_authenticate(rs);
	if (rs->route->roles != CPS_HTTP_OPEN) {
		if (auth < 0)
			return cps_http_answer_error(rs, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			                             "Bearer realm=\"cpsync\"",
			                             "missing bearer token");
		if (auth == 0)
			return cps_http_answer_error(
			    rs, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			    "Bearer realm=\"cpsync\", error=\"invalid_token\"",
			    "invalid bearer token");
		if (!(rs->roles & rs->route->roles))
			return cps_http_answer_error(rs, 403, NULL, NULL,
			                             "the token's roles do not allow this route");
	}

	cl = MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno || end == cl || *end || *cl == '-')
			return cps_http_answer_error(rs, 400, NULL, NULL, "invalid Content-Length");
		if (v > srv->max_body) {
			snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", srv->max_body);
			return cps_http_answer_error(rs, 413, NULL, NULL, msg);
		}
	}
	return MHD_YES;
}

static int is_probe_route(const struct cps_http_server *srv, const struct route *r)
{
	for (size_t i = 0; i < srv->n_probe; i++)
		if (strcmp(srv->probe_routes[i], r->pattern) == 0)
			return 1;
	return 0;
}

/* The whole request is in: hand it to its lane (the connection is
 * suspended until a worker has run the handler). @locality MHD thread */
static enum MHD_Result request_dispatch(struct http_request_state *rs)
{
	struct cps_http_server *srv = rs->server;
	struct lane *l = is_probe_route(srv, rs->route) ? &srv->probe_lane : &srv->api_lane;

	if (rs->route->handler == srv->io_handler) {
		cps_http_run_handler(rs);
		return cps_http_answer(rs, &rs->resp);
	}
	if (cps_http_lane_submit(l, rs) == 0)
		return MHD_YES;
	return cps_http_answer_error(rs, 503, NULL, NULL, "the server is stopping");
}

enum MHD_Result cps_http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
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
		cps_http_response_init(&rs->resp);
		rs->url = url;
		rs->method = method;
		*con_cls = rs;
		return request_begin(rs, url, method);
	}
	if (rs->handled) { /* resumed by the lane's worker */
		rs->handled = 0;
		return cps_http_answer(rs, &rs->resp);
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
	cps_http_clock_mark(srv, conn, 0);
	if (rs->too_big) {
		char msg[96];

		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", srv->max_body);
		return cps_http_answer_error(rs, 413, NULL, NULL, msg);
	}
	return request_dispatch(rs);
}

void cps_http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
	struct http_request_state *rs = *con_cls;

	(void)toe;
	/* a kept-alive connection's clock restarts for its next request */
	cps_http_clock_mark(cls, conn, 1);
	if (!rs)
		return;
	cps_http_response_release(&rs->resp);
	cps_buf_release(&rs->body);
	free(rs->path_copy);
	free(rs->principal);
	free(rs->regions);
	free(rs);
	*con_cls = NULL;
}

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
	/* U+0000 is allowed in string values: the Avro JSON of a decimal's bytes
	 * holds it (a steward entering 0.00); jansson still refuses it in keys */
	doc = json_loadb((const char *)req->body, req->body_len,
	                 JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!doc) {
		/* err.text may quote the body ("near '...'"): give only the position */
		cps_http_reply_error(resp, 400, "malformed JSON body at line %d column %d",
		                     err.line, err.column);
		return NULL;
	}
	return doc;
}
