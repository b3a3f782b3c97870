/*
 * Connector controls of the operator API (GET /api/v1/connectors, POST
 * /api/v1/connectors/{name}/pause|resume|restart) for platform sources and
 * sinks and the publisher. Each action is audited, and a pause or resume
 * kept in the store (it survives a restart), before it is done; then it
 * waits a little for the runner to show its effect (200) before answering
 * that it is under way (202).
 */
#include "api/api_ops_int.h"

#include "base/common.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FACILITY       "API"
#define REASON_MAX     1000
#define SETTLE_WAIT_MS 3000 /* how long an action waits to answer 200 instead of 202 */

enum action {
	ACTION_PAUSE,
	ACTION_RESUME,
	ACTION_RESTART,
};

static const char *const action_audit[] = {"connector.paused", "connector.resumed",
                                           "connector.restarted"};
static const char *const action_verb[] = {"paused", "resumed", "restarted"};

struct cps_link *cps_ops_api_link_by_name(struct cps_ops_api *api, const char *name)
{
	size_t n = cps_status_link_count(api->status);

	for (size_t i = 0; i < n; i++) {
		struct cps_link *l = cps_status_link_at(api->status, i);

		if (l && !strcmp(l->name, name))
			return l;
	}
	return NULL;
}

void cps_ops_api_reply_no_runner(struct cps_ops_api *api, const char *name,
                                 struct cps_http_response *resp, const char *cannot)
{
	if (api->detached)
		cps_http_reply_error(resp, 503, "cpsync is stopping");
	else if (cps_ops_api_link_by_name(api, name))
		cps_http_reply_error(resp, 409, "link '%s' %s", name, cannot);
	else
		cps_http_reply_error(resp, 404, "no connector link of that name");
}

static const char *link_state(const struct cps_link *l)
{
	return cps_link_state_name((enum cps_link_state)atomic_load(&l->state));
}

static json_t *link_json(struct cps_ops_api *api, const struct cps_link *l)
{
	struct cps_ops_control c;
	bool found = cps_ops_api_control_by_link(api, l->name, &c);
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", l->name, "platform", l->platform,
	              "direction", l->direction == CPS_LINK_SOURCE ? "source" : "sink", "type",
	              l->type, "state", link_state(l), "controllable", found);

	if (j && found)
		json_object_set_new(j, "paused", json_boolean(cps_ops_control_paused(&c)));
	cps_ops_api_runners_unlock(api);
	return j;
}

static void connectors_list(void *ctx, const struct cps_http_request *req,
                            struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	size_t n = cps_status_link_count(api->status);
	json_t *arr = json_array();

	(void)req;
	for (size_t i = 0; arr && i < n; i++) {
		struct cps_link *l = cps_status_link_at(api->status, i);

		if (l && json_array_append_new(arr, link_json(api, l)) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	cps_http_reply_json(resp, 200, arr ? json_pack("{s:o}", "connectors", arr) : NULL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Whether the runner shows the action's effect. @locks runners_lock read */
static bool settled(const struct cps_ops_control *c, const struct cps_link *l, enum action a,
                    int64_t restarts_before)
{
	int st = atomic_load(&l->state);

	switch (a) {
	case ACTION_PAUSE:
		return st == CPS_LINK_PAUSED;
	case ACTION_RESUME:
		return st == CPS_LINK_RUNNING || st == CPS_LINK_STANDBY;
	case ACTION_RESTART:
		return cps_ops_control_restarts(c) > restarts_before &&
		       (st == CPS_LINK_RUNNING || st == CPS_LINK_PAUSED || st == CPS_LINK_STANDBY);
	}
	return false;
}

/* The optional body {"reason": "..."}; NULL reply on success. */
static int action_reason(const struct cps_http_request *req, struct cps_http_response *resp,
                         char *reason, size_t size)
{
	json_t *body, *r;

	reason[0] = '\0';
	if (req->body_len == 0)
		return CPS_OK;
	body = cps_http_body_json(req, resp);
	if (!body)
		return CPS_ERR_INVALID;
	r = json_object_get(body, "reason");
	if (!json_is_object(body) || (r && !json_is_string(r) && !json_is_null(r)) ||
	    json_object_size(body) > (r ? 1u : 0u)) {
		json_decref(body);
		cps_http_reply_error(
		    resp, 400, "the body must be empty or {\"reason\": string} and nothing else");
		return CPS_ERR_INVALID;
	}
	if (json_is_string(r) && json_string_length(r) > REASON_MAX) {
		json_decref(body);
		cps_http_reply_error(resp, 400, "reason is longer than %d bytes", REASON_MAX);
		return CPS_ERR_INVALID;
	}
	if (json_is_string(r))
		snprintf(reason, size, "%s", json_string_value(r));
	json_decref(body);
	return CPS_OK;
}

/* The audit row of the action and, for pause and resume, the pause kept in
 * the store: what the store cannot hold is not done. @locks runners_lock read */
static int record_action(struct cps_ops_api *api, const struct cps_http_request *req,
                         const struct cps_link *l, enum action a, const char *reason, char *err,
                         size_t err_size)
{
	const char *actor = req->principal ? req->principal : "anonymous";
	struct cps_dlq_store *store = NULL;
	json_t *before, *after;
	int rc = cps_ops_api_store_get(api, &store, err, err_size);

	if (rc == CPS_OK) {
		before = json_pack("{s:s}", "state", link_state(l));
		after = json_pack("{s:s}", "state", a == ACTION_PAUSE ? "PAUSED" : "RUNNING");
		rc = cps_dlq_audit(store, actor, action_audit[a], "connector", l->name, before,
		                   after, reason[0] ? reason : NULL, err, err_size);
		json_decref(before);
		json_decref(after);
	}
	if (rc == CPS_OK && a != ACTION_RESTART)
		rc = cps_dlq_set_paused(store, l->name, a == ACTION_PAUSE, actor,
		                        reason[0] ? reason : NULL, err, err_size);
	cps_ops_api_store_put(api, store);
	return rc;
}

static void connector_action(void *ctx, const struct cps_http_request *req,
                             struct cps_http_response *resp)
{
	const struct cps_ops_action_route *route = ctx;
	struct cps_ops_api *api = route->api;
	const char *name = cps_http_param(req, "name");
	struct cps_ops_control c;
	struct cps_link *l;
	char reason[REASON_MAX + 1], err[CPS_ERRSTR_SIZE];
	int64_t waited = 0, restarts;
	int rc;

	if (action_reason(req, resp, reason, sizeof(reason)) != CPS_OK)
		return;
	l = name ? cps_ops_api_link_by_name(api, name) : NULL;
	if (!l) {
		cps_http_reply_error(resp, 404, "no connector link of that name");
		return;
	}
	if (!cps_ops_api_control_by_link(api, l->name, &c)) {
		bool stopping = api->detached;

		cps_ops_api_runners_unlock(api);
		if (stopping)
			cps_http_reply_error(resp, 503, "cpsync is stopping");
		else
			cps_http_reply_error(resp, 409,
			                     "link '%s' cannot be %s: only platform sources and "
			                     "sinks, the publisher and the reconcile workers can",
			                     l->name, action_verb[route->action]);
		return;
	}
	if (route->action == ACTION_RESTART && c.kind == CPS_OPS_WORKERS) {
		cps_ops_api_runners_unlock(api);
		cps_http_reply_error(resp, 409,
		                     "the reconcile workers cannot restart (their consumers rejoin "
		                     "the group on their own); pause and resume them");
		return;
	}
	rc = record_action(api, req, l, route->action, reason, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_ops_api_runners_unlock(api);
		cps_log_warn(FACILITY, "connector '%s' not %s: the store failed: %s", l->name,
		             action_verb[route->action], err);
		cps_http_reply_error(resp, 503, "the audit trail is unavailable: %s", err);
		return;
	}
	restarts = cps_ops_control_restarts(&c);
	switch (route->action) {
	case ACTION_PAUSE:
	case ACTION_RESUME:
		cps_ops_control_set_paused(&c, route->action == ACTION_PAUSE);
		break;
	case ACTION_RESTART:
		rc = cps_ops_control_restart(&c, err, sizeof(err));
		if (rc != CPS_OK) {
			cps_ops_api_runners_unlock(api);
			cps_http_reply_error(resp, 409, "%s", err);
			return;
		}
		break;
	}
	cps_log_info(FACILITY, "connector '%s' %s by an operator", l->name,
	             action_verb[route->action]);
	while (!settled(&c, l, route->action, restarts) && waited < SETTLE_WAIT_MS) {
		sleep_ms(20);
		waited += 20;
	}
	rc = settled(&c, l, route->action, restarts) ? 200 : 202;
	cps_ops_api_runners_unlock(api);
	cps_http_reply_json(resp, rc, link_json(api, l));
}

int cps_ops_api_register_connectors(struct cps_ops_api *api, struct cps_http_server *srv,
                                    char *errstr, size_t errstr_size)
{
	static const char *const patterns[] = {
	    "/api/v1/connectors/{name}/pause",
	    "/api/v1/connectors/{name}/resume",
	    "/api/v1/connectors/{name}/restart",
	};
	int rc = cps_http_route(srv, "GET", "/api/v1/connectors", connectors_list, api,
	                        CPS_ROLE_VIEWER | CPS_ROLE_OPERATOR, errstr, errstr_size);

	for (int i = 0; rc == CPS_OK && i < 3; i++) {
		api->action_routes[i].api = api;
		api->action_routes[i].action = i;
		rc = cps_http_route(srv, "POST", patterns[i], connector_action,
		                    &api->action_routes[i], CPS_ROLE_OPERATOR, errstr, errstr_size);
	}
	return rc;
}
