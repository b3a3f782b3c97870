/*
 * The dashboard page served by cpsync itself: GET / (index.html) and
 * GET /assets/{name} (app.js, style.css, the entity schemas), embedded at
 * build time by cmake/embed_assets.cmake. The routes are open: the page holds
 * no data, it fetches everything from the API with the user's bearer token.
 */
#ifndef CPS_DASHBOARD_H
#define CPS_DASHBOARD_H

#include <stddef.h>

struct cps_http_server;

/* One embedded file (generated/dashboard_assets.c). */
struct cps_asset {
	const char *name;         /* base name, e.g. "app.js" */
	const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
	const char *etag;         /* quoted strong validator from the content hash */
	const unsigned char *data;
	size_t size;
};
extern const struct cps_asset cps_dashboard_assets[];
extern const size_t cps_dashboard_assets_count;

/* The asset called `name`, NULL when there is none. */
const struct cps_asset *cps_dashboard_asset(const char *name);

/* Registers GET / and GET /assets/{name} (open routes) on `server`. */
int cps_dashboard_register(struct cps_http_server *server, char *errstr, size_t errstr_size);

#endif
