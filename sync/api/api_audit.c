/*
 * Steward API, audit trail (GET /api/v1/audit): what cpsync and the
 * stewards did, newest first, by record, actor or time, with keyset
 * cursors. Stewards and operators; a steward confined to regions sees only
 * the entries of their records. Operators see the entries as a viewer would
 * see their records (cps_api_viewer_audit_entry) and cannot look entries up
 * by a personal key, which would tell whether that person is registered.
 */
#include "api/api_int.h"

#include "base/common.h"
#include "codec/schema.h"
#include "model/entity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "2026-03-01T12:00:00Z", "...T12:00:00.250+08:00" or epoch milliseconds,
 * to microseconds since the epoch; -1 when malformed. */
static int64_t parse_time_us(const char *s)
{
	struct tm tm = {0};
	int64_t ms = 0, frac_us = 0, off_s = 0;
	const char *p;
	size_t n = strlen(s);

	if (n && n <= 15 && strspn(s, "0123456789") == n) {
		for (p = s; *p; p++)
			ms = ms * 10 + (*p - '0');
		return ms * 1000;
	}
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		int64_t scale = 100000;

		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac_us += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');

		if (strspn(p + 1, "0123456789") != 2 || strspn(p + 4, "0123456789") != 2 ||
		    h > 23 || m > 59)
			return -1;
		off_s = (*p == '+' ? 1 : -1) * (h * 3600 + m * 60);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	return ((int64_t)timegm(&tm) - off_s) * 1000000 + frac_us;
}

static int query_time(const struct cps_http_request *req, struct cps_http_response *resp,
                      const char *name, int64_t *out)
{
	const char *s = cps_http_query(req, name);

	*out = -1;
	if (!s)
		return 0;
	*out = parse_time_us(s);
	if (*out < 0) {
		cps_http_reply_error(
		    resp, 400,
		    "query parameter '%s' must be an RFC 3339 time or epoch milliseconds", name);
		return -1;
	}
	return 0;
}

/* Whether a masked reader may filter by f->key: only with an entity whose
 * key is not personal (or that is not a record, as dead letters and
 * connectors are); else replies 403 and returns -1. */
static int masked_key_filter_ok(struct cps_api *api, const struct cps_audit_filter *f,
                                struct cps_http_response *resp)
{
	const struct cps_schema *s;
	const char *key_field;

	if (!f->key)
		return 0;
	s = f->entity ? cps_catalog_by_entity(api->catalog, f->entity) : NULL;
	key_field = s ? cps_entity_key_field(f->entity) : NULL;
	if (f->entity && (!s || (key_field && cps_api_viewer_may_see(s, key_field))))
		return 0;
	cps_http_reply_error(resp, 403,
	                     "an operator cannot look audit entries up by a record key that is "
	                     "personal data (give 'entity' of a record whose key is not)");
	return -1;
}

void cps_api_reply_entries(struct cps_api *api, int masked, struct cps_http_response *resp,
                           const char *what, int rc, const char *errstr, json_t *items,
                           const struct cps_steward_cursor *next)
{
	size_t i;
	json_t *e;

	if (rc == CPS_OK && masked)
		json_array_foreach (items, i, e)
			cps_api_viewer_audit_entry(api->catalog, e);
	cps_api_reply_page(resp, what, rc, errstr, items, next);
}

static void audit_list(void *ctx, const struct cps_http_request *req,
                       struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	struct cps_audit_filter f = {0};
	struct cps_steward_cursor next;
	char errstr[CPS_ERRSTR_SIZE], *scope = NULL;
	json_t *items = NULL;
	int64_t limit;
	int rc, masked;

	if (cps_api_enter(api, resp))
		return;
	f.key = cps_http_query(req, "key");
	f.actor = cps_http_query(req, "actor");
	if (cps_api_query_name(req, resp, "entity", &f.entity))
		goto out;
	if ((f.key && (!*f.key || strlen(f.key) > 512)) ||
	    (f.actor && (!*f.actor || strlen(f.actor) > 200))) {
		cps_http_reply_error(
		    resp, 400, "query parameters 'key' and 'actor' must not be empty or overlong");
		goto out;
	}
	if (query_time(req, resp, "since", &f.since_us) ||
	    query_time(req, resp, "until", &f.until_us) ||
	    cps_api_query_int(req, resp, "limit", 1, CPS_API_LIMIT_MAX, 50, &limit) ||
	    cps_api_cursor_decode(req, resp, &f.after))
		goto out;
	f.limit = (int)limit;
	masked = !cps_api_sees_unmasked(req->roles);
	if ((masked && masked_key_filter_ok(api, &f, resp)) ||
	    cps_api_scope(api, req, resp, &scope))
		goto out;
	f.scope = scope;
	rc = cps_steward_audit_list(api->store, &f, &items, &next, errstr, sizeof(errstr));
	cps_api_reply_entries(api, masked, resp, "audit list", rc, errstr, items, &next);
out:
	free(scope);
	cps_api_leave(api);
}

int cps_api_audit_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                           size_t errstr_size)
{
	return cps_http_route(server, "GET", "/api/v1/audit", audit_list, api,
	                      CPS_ROLE_STEWARD | CPS_ROLE_OPERATOR, errstr, errstr_size);
}
