/*
 * Steward API, conflicts (docs/openapi.yaml /api/v1/conflicts*): the list
 * with filters and keyset cursors, one conflict in full, claim, and the
 * resolution (take a platform's value, enter a value, dismiss) applied in
 * one store transaction by store_steward.c. Steward role only; a steward
 * confined to regions (api_scope.c) finds only their conflicts. Runs on
 * HTTP threads; error messages never echo request values.
 */
#include "api/api_int.h"

#include "base/common.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAC "API"
/* 100 years: older is any conflict, and PostgreSQL's timestamps end before now - 10,000 years */
#define MAX_AGE_S INT64_C(3153600000)

static const char *const STATUSES[] = {"open", "claimed", "resolved", "dismissed", "auto_closed"};

static int conflict_id(const struct cps_http_request *req, struct cps_http_response *resp,
                       int64_t *id)
{
	int64_t v;

	if (cps_parse_decimal(cps_http_param(req, "id"), &v) != 0 || v < 1) {
		cps_http_reply_error(resp, 400, "conflict id must be a positive integer");
		return -1;
	}
	*id = v;
	return 0;
}

static void conflicts_list(void *ctx, const struct cps_http_request *req,
                           struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	struct cps_conflict_filter f = {.min_age_s = -1};
	struct cps_steward_cursor next;
	char errstr[CPS_ERRSTR_SIZE], *scope = NULL;
	const char *order;
	json_t *items = NULL;
	int64_t limit, age;
	int rc;

	if (cps_api_enter(api, resp))
		return;
	f.status = cps_http_query(req, "status");
	if (f.status) {
		size_t i;

		for (i = 0; i < CPS_ARRAY_SIZE(STATUSES) && strcmp(f.status, STATUSES[i]); i++)
			;
		if (i == CPS_ARRAY_SIZE(STATUSES)) {
			cps_http_reply_error(
			    resp, 400,
			    "query parameter 'status' must be one of open, claimed, resolved, dismissed, auto_closed");
			goto out;
		}
	}
	order = cps_http_query(req, "order");
	if (order && strcmp(order, "asc") && strcmp(order, "desc")) {
		cps_http_reply_error(resp, 400, "query parameter 'order' must be asc or desc");
		goto out;
	}
	f.ascending = order && !strcmp(order, "asc");
	if (cps_api_query_name(req, resp, "entity", &f.entity) ||
	    cps_api_query_name(req, resp, "field", &f.field) ||
	    cps_api_query_name(req, resp, "platform", &f.platform) ||
	    cps_api_query_int(req, resp, "limit", 1, CPS_API_LIMIT_MAX, 50, &limit) ||
	    cps_api_query_int(req, resp, "min_age_s", 0, MAX_AGE_S, -1, &age) ||
	    cps_api_cursor_decode(req, resp, &f.after))
		goto out;
	f.limit = (int)limit;
	f.min_age_s = age;
	if (cps_api_scope(api, req, resp, &scope))
		goto out;
	f.scope = scope;
	rc = cps_steward_conflicts_list(api->store, &f, &items, &next, errstr, sizeof(errstr));
	cps_api_reply_page(resp, "conflict list", rc, errstr, items, &next);
out:
	free(scope);
	cps_api_leave(api);
}

static void conflicts_show(void *ctx, const struct cps_http_request *req,
                           struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	char errstr[CPS_ERRSTR_SIZE], *scope = NULL;
	json_t *c = NULL;
	int64_t id;
	int why = 0, rc;

	if (cps_api_enter(api, resp))
		return;
	if (conflict_id(req, resp, &id) || cps_api_scope(api, req, resp, &scope))
		goto out;
	rc = cps_steward_conflict_get(api->store, id, scope, &c, &why, errstr, sizeof(errstr));
	cps_api_reply_result(resp, rc, why, errstr, c);
out:
	free(scope);
	cps_api_leave(api);
}

/* The scope of a request that acts as a steward (claim, resolve): it needs a
 * named token. Replies 401 (or 500, cps_api_scope) and returns -1 otherwise. */
static int steward_scope(struct cps_api *api, const struct cps_http_request *req,
                         struct cps_http_response *resp, char **scope)
{
	if (!req->principal) {
		cps_http_reply_error(resp, 401, "a steward token is required");
		return -1;
	}
	return cps_api_scope(api, req, resp, scope);
}

/* The body as an object with only `allowed` keys; NULL with the reply set
 * otherwise. An empty body is {} when `empty_ok`. */
static json_t *body_object(const struct cps_http_request *req, struct cps_http_response *resp,
                           const char *const *allowed, size_t n_allowed, int empty_ok)
{
	json_t *body, *v;
	const char *k;

	if (req->body_len == 0 && empty_ok)
		return json_object();
	if (req->body_len == 0) {
		cps_http_reply_error(resp, 400, "a JSON object body is required");
		return NULL;
	}
	body = cps_http_body_json(req, resp);
	if (!body)
		return NULL;
	if (!json_is_object(body)) {
		json_decref(body);
		cps_http_reply_error(resp, 400, "the body must be a JSON object");
		return NULL;
	}
	json_object_foreach (body, k, v) {
		size_t i;

		for (i = 0; i < n_allowed && strcmp(k, allowed[i]); i++)
			;
		if (i == n_allowed) {
			json_decref(body);
			cps_http_reply_error(
			    resp, 400, "unknown field in the body (allowed: %s%s%s%s%s%s%s)",
			    allowed[0], n_allowed > 1 ? ", " : "", n_allowed > 1 ? allowed[1] : "",
			    n_allowed > 2 ? ", " : "", n_allowed > 2 ? allowed[2] : "",
			    n_allowed > 3 ? ", " : "", n_allowed > 3 ? allowed[3] : "");
			return NULL;
		}
	}
	return body;
}

static void conflicts_claim(void *ctx, const struct cps_http_request *req,
                            struct cps_http_response *resp)
{
	static const char *const allowed[] = {"steward"};
	struct cps_api *api = ctx;
	char errstr[CPS_ERRSTR_SIZE], *scope = NULL;
	json_t *body = NULL, *c = NULL, *st;
	int64_t id;
	int why = 0, rc;

	if (cps_api_enter(api, resp))
		return;
	if (conflict_id(req, resp, &id) ||
	    !(body = body_object(req, resp, allowed, CPS_ARRAY_SIZE(allowed), 1)))
		goto out;
	st = json_object_get(body, "steward");
	if (st && !json_is_string(st)) {
		cps_http_reply_error(resp, 400, "field 'steward' must be a string");
		goto out;
	}
	if (st && (!req->principal || strcmp(json_string_value(st), req->principal))) {
		cps_http_reply_error(
		    resp, 400,
		    "field 'steward' must be the name of the token used (or be left out)");
		goto out;
	}
	if (steward_scope(api, req, resp, &scope))
		goto out;
	rc = cps_steward_conflict_claim(api->store, id, req->principal, scope, &c, &why, errstr,
	                                sizeof(errstr));
	cps_api_reply_result(resp, rc, why, errstr, c);
out:
	free(scope);
	json_decref(body);
	cps_api_leave(api);
}

static void conflicts_resolve(void *ctx, const struct cps_http_request *req,
                              struct cps_http_response *resp)
{
	static const char *const allowed[] = {"action", "platform", "value", "reason"};
	struct cps_api *api = ctx;
	struct cps_steward_decision d = {0};
	char errstr[CPS_ERRSTR_SIZE], *scope = NULL;
	json_t *body = NULL, *c = NULL, *action, *platform, *value, *reason;
	const char *a;
	int64_t version = 0;
	int why = 0, rc;

	if (cps_api_enter(api, resp))
		return;
	if (conflict_id(req, resp, &d.conflict_id) ||
	    !(body = body_object(req, resp, allowed, CPS_ARRAY_SIZE(allowed), 0)))
		goto out;
	action = json_object_get(body, "action");
	platform = json_object_get(body, "platform");
	value = json_object_get(body, "value");
	reason = json_object_get(body, "reason");
	if (!json_is_string(action)) {
		cps_http_reply_error(
		    resp, 400,
		    "field 'action' (a string: take_platform, enter_value or dismiss) is required");
		goto out;
	}
	a = json_string_value(action);
	if (!strcmp(a, "take_platform"))
		d.how = CPS_RESOLVE_TAKE_PLATFORM;
	else if (!strcmp(a, "enter_value"))
		d.how = CPS_RESOLVE_ENTER_VALUE;
	else if (!strcmp(a, "dismiss"))
		d.how = CPS_RESOLVE_DISMISS;
	else {
		cps_http_reply_error(
		    resp, 400, "field 'action' must be take_platform, enter_value or dismiss");
		goto out;
	}
	if (!json_is_string(reason) || !json_string_length(reason) ||
	    strspn(json_string_value(reason), " \t\r\n") == json_string_length(reason)) {
		cps_http_reply_error(resp, 400, "field 'reason' (a non-empty string) is required");
		goto out;
	}
	if (json_string_length(reason) > 2000) {
		cps_http_reply_error(resp, 400, "field 'reason' is longer than 2000 bytes");
		goto out;
	}
	if (platform && !json_is_string(platform)) {
		cps_http_reply_error(resp, 400, "field 'platform' must be a string");
		goto out;
	}
	if (d.how == CPS_RESOLVE_TAKE_PLATFORM && !platform) {
		cps_http_reply_error(resp, 400, "action take_platform needs field 'platform'");
		goto out;
	}
	if (d.how != CPS_RESOLVE_TAKE_PLATFORM && platform) {
		cps_http_reply_error(resp, 400,
		                     "field 'platform' is only for action take_platform");
		goto out;
	}
	if (d.how == CPS_RESOLVE_ENTER_VALUE && !value) {
		cps_http_reply_error(resp, 400, "action enter_value needs field 'value'");
		goto out;
	}
	if (d.how != CPS_RESOLVE_ENTER_VALUE && value) {
		cps_http_reply_error(resp, 400, "field 'value' is only for action enter_value");
		goto out;
	}
	if (steward_scope(api, req, resp, &scope))
		goto out;
	d.scope = scope;
	d.platform = platform ? json_string_value(platform) : NULL;
	d.value = value;
	d.steward = req->principal;
	d.reason = json_string_value(reason);
	d.rules = cps_api_rules_take(api);
	d.topic_prefix = api->topic_prefix;
	d.encode = cps_api_encode_unified;
	d.encode_ctx = api;
	rc = cps_steward_conflict_resolve(api->store, &d, &c, &version, &why, errstr,
	                                  sizeof(errstr));
	cps_api_rules_give(api, d.rules);
	if (rc != CPS_OK) {
		if (!(rc == CPS_ERR_INVALID && why))
			cps_log_warn(FAC, "resolve of conflict %" PRId64 ": %s", d.conflict_id,
			             errstr);
		cps_api_reply_store_error(resp, rc, why, errstr);
		goto out;
	}
	/* the steward's name is in the audit trail, not in the log */
	cps_log_info(FAC, "conflict %" PRId64 " %s by a steward", d.conflict_id,
	             d.how == CPS_RESOLVE_DISMISS ? "dismissed" : "resolved");
	cps_publisher_wake(api->publisher);
	cps_http_reply_json(
	    resp, 200,
	    json_pack("{s:o, s:I}", "conflict", c, "record_version", (json_int_t)version));
out:
	free(scope);
	json_decref(body);
	cps_api_leave(api);
}

int cps_api_conflicts_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                               size_t errstr_size)
{
	static const struct cps_http_route_spec routes[] = {
	    {"GET", "/api/v1/conflicts", conflicts_list, CPS_ROLE_STEWARD},
	    {"GET", "/api/v1/conflicts/{id}", conflicts_show, CPS_ROLE_STEWARD},
	    {"POST", "/api/v1/conflicts/{id}/claim", conflicts_claim, CPS_ROLE_STEWARD},
	    {"POST", "/api/v1/conflicts/{id}/resolve", conflicts_resolve, CPS_ROLE_STEWARD},
	};

	return cps_http_route_table(server, routes, CPS_ARRAY_SIZE(routes), api, errstr,
	                            errstr_size);
}
