/*
 * The dashboard's HTTP routes: serves the embedded page and its assets with
 * their content type, a strong ETag (304 on If-None-Match), Cache-Control
 * no-cache (always revalidate: asset names carry no hash) and the security
 * headers (CSP limited to 'self', nosniff, no framing, no referrer).
 */
#include <string.h>

#include "base/common.h"
#include "http/dashboard.h"
#include "http/http.h"

#define INDEX_ASSET "index.html"

/* Everything the page loads comes from cpsync itself: no CDN, no inline
 * script or style, no framing. */
static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const struct cps_asset *cps_dashboard_asset(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < cps_dashboard_assets_count; i++)
		if (strcmp(cps_dashboard_assets[i].name, name) == 0)
			return &cps_dashboard_assets[i];
	return NULL;
}

/* True when an If-None-Match header value lists `etag` (or is "*"). */
static int etag_matches(const char *header, const char *etag)
{
	size_t n = strlen(etag);
	const char *p = header;

	if (!header)
		return 0;
	while (*p) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (!strncmp(p, etag, n) &&
		    (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

static int security_headers(struct cps_http_response *resp)
{
	/* X-Content-Type-Options: nosniff comes with every answer of http.c */
	if (cps_http_response_header(resp, "Content-Security-Policy", csp) != CPS_OK ||
	    cps_http_response_header(resp, "X-Frame-Options", "DENY") != CPS_OK ||
	    cps_http_response_header(resp, "Referrer-Policy", "no-referrer") != CPS_OK)
		return CPS_ERR_FATAL;
	return CPS_OK;
}

static void serve_asset(const struct cps_http_request *req, struct cps_http_response *resp,
                        const struct cps_asset *a)
{
	if (security_headers(resp) != CPS_OK) {
		cps_http_reply_error(resp, 500, "out of memory");
		return;
	}
	if (!a) {
		cps_http_reply_error(resp, 404, "no such asset");
		return;
	}
	if (cps_http_response_header(resp, "ETag", a->etag) != CPS_OK ||
	    cps_http_response_header(resp, "Cache-Control", "no-cache") != CPS_OK) {
		cps_http_reply_error(resp, 500, "out of memory");
		return;
	}
	if (etag_matches(cps_http_header(req, "If-None-Match"), a->etag)) {
		cps_buf_reset(&resp->body);
		resp->content_type = a->content_type;
		resp->status = 304;
		return;
	}
	cps_buf_reset(&resp->body);
	if (cps_buf_append(&resp->body, a->data, a->size) < 0) {
		cps_http_reply_error(resp, 500, "out of memory");
		return;
	}
	resp->content_type = a->content_type;
	resp->status = 200;
}

/* GET / — runs on an HTTP thread. */
static void index_handler(void *ctx, const struct cps_http_request *req,
                          struct cps_http_response *resp)
{
	serve_asset(req, resp, cps_dashboard_asset(INDEX_ASSET));
}

/* GET /assets/{name} — runs on an HTTP thread. */
static void asset_handler(void *ctx, const struct cps_http_request *req,
                          struct cps_http_response *resp)
{
	serve_asset(req, resp, cps_dashboard_asset(cps_http_param(req, "name")));
}

int cps_dashboard_register(struct cps_http_server *server, char *errstr, size_t errstr_size)
{
	static const struct cps_http_route_spec routes[] = {
	    {"GET", "/", index_handler, CPS_HTTP_OPEN},
	    {"GET", "/assets/{name}", asset_handler, CPS_HTTP_OPEN},
	};

	return cps_http_route_table(server, routes, CPS_ARRAY_SIZE(routes), NULL, errstr,
	                            errstr_size);
}
