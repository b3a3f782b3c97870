/*
 * HTTP responses: the reply helpers handlers use (JSON body, error
 * document, extra headers), and the one place a response is queued on its
 * MHD connection, counted and access-logged (cps_http_answer).
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static double ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) * 1e3 + (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static int dump_to_buf(const char *p, size_t n, void *data)
{
	return cps_buf_append(data, p, n) < 0 ? -1 : 0;
}

void cps_http_response_init(struct cps_http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	cps_buf_init(&resp->body, 0);
	cps_buf_init(&resp->headers, RESP_HEADER_LIMIT);
}

void cps_http_response_release(struct cps_http_response *resp)
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

/* Queues resp on the connection, counts it, writes the access log.
 * @locality MHD thread, inside the access handler */
enum MHD_Result cps_http_answer(struct http_request_state *rs, struct cps_http_response *resp)
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
	cps_http_record_stats(srv, rs->route ? (struct stats *)&rs->route->st : &srv->unmatched,
	                      resp->status, ms);
	if (srv->conf.access_log)
		srv->conf.access_log(srv->conf.access_log_ctx, rs->method_tag,
		                     rs->route ? rs->route->pattern : CPS_HTTP_UNMATCHED,
		                     resp->status, ms);
	return ret;
}

enum MHD_Result cps_http_answer_error(struct http_request_state *rs, int status,
                                      const char *header_name, const char *header_value,
                                      const char *msg)
{
	struct cps_http_response resp;
	enum MHD_Result ret;

	cps_http_response_init(&resp);
	cps_http_reply_error(&resp, status, "%s", msg);
	if (header_name)
		cps_http_response_header(&resp, header_name, header_value);
	ret = cps_http_answer(rs, &resp);
	cps_http_response_release(&resp);
	return ret;
}
