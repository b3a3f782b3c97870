/*
 * HTTP routes: patterns of literal and {name} segments, registered at any
 * time from any thread, matched per request (a literal beats a parameter;
 * a path served with another method gives the Allow list for a 405).
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Splits "/a/b/c" in place into segments (the leading '/' is required;
 * "/" has none). -1 when there are too many. */
int cps_http_split_path(char *p, char **seg, size_t *nseg)
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
const struct route *cps_http_route_find(struct cps_http_server *srv, struct http_request_state *rs,
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

void cps_http_route_free(struct route *r)
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
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "route \"%s\" has unknown role bits 0x%x", pattern,
		                  required_roles);
	copy = strdup(pattern);
	r = calloc(1, sizeof(*r));
	if (!copy || !r) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory adding a route");
		goto out_free;
	}
	if (cps_http_split_path(copy, seg, &nseg) < 0) {
		rc = cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
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
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory adding a route");
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
				rc = cps_seterr(
				    CPS_ERR_INVALID, errstr, errstr_size,
				    "route pattern \"%s\": a parameter must be a whole segment \"{name}\"",
				    pattern);
				goto out_free;
			}
			r->is_param[i] = 1;
			r->seg[i] = strndup(seg[i] + 1, n - 2);
			for (j = 0; r->seg[i] && j < i; j++) {
				if (r->is_param[j] && strcmp(r->seg[j], r->seg[i]) == 0) {
					r->nseg = i + 1;
					rc = cps_seterr(
					    CPS_ERR_INVALID, errstr, errstr_size,
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
	cps_http_route_free(r);
	free(copy);
	return rc;
}

int cps_http_route_table(struct cps_http_server *server, const struct cps_http_route_spec *routes,
                         size_t n, void *ctx, char *errstr, size_t errstr_size)
{
	int rc = CPS_OK;

	for (size_t i = 0; rc == CPS_OK && i < n; i++)
		rc = cps_http_route(server, routes[i].method, routes[i].pattern, routes[i].handler,
		                    ctx, routes[i].required_roles, errstr, errstr_size);
	return rc;
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
