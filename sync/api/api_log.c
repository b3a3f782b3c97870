/*
 * Live logging in the operator API: GET /api/v1/log shows the level and the
 * named debug contexts, PUT /api/v1/log (operator) changes them at run time,
 * audited like a connector action (log.changed) before it is done. The
 * logger's state is atomics (base/log.h), so the change needs no restart.
 */
#include "api/api_ops_int.h"

#include "base/common.h"
#include "base/log.h"

#include <string.h>

#define FACILITY   "API"
#define REASON_MAX 1000

/* {"level": "info", "debug": ["store", ...]} of the logger now. */
static json_t *log_json(void)
{
	unsigned mask = cps_log_get_debug();
	json_t *ctx = json_array();

	for (unsigned bit = 1; ctx && bit & CPS_DBG_ALL; bit <<= 1)
		if ((mask & bit) && json_array_append_new(ctx, json_string(cps_log_ctx_name(bit))))
			goto out_oom;
	if (ctx)
		return json_pack("{s:s, s:o}", "level", cps_log_level_name(cps_log_get_level()),
		                 "debug", ctx);
out_oom:
	json_decref(ctx);
	return NULL;
}

static void log_show(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	(void)ctx;
	(void)req;
	cps_http_reply_json(resp, 200, log_json());
}

/* The PUT body: "level" (required), "debug" (a list of context names, may be
 * absent: none) and "reason" (may be absent). Replies 400 and returns
 * CPS_ERR_INVALID when it is anything else. */
static int parse_change(const json_t *body, struct cps_http_response *resp, int *level,
                        unsigned *mask, const char **reason)
{
	const json_t *lv = json_object_get(body, "level"), *dbg = json_object_get(body, "debug");
	const json_t *r = json_object_get(body, "reason"), *v;
	size_t i, known = (lv != NULL) + (dbg != NULL) + (r != NULL);

	if (!json_is_object(body) || json_object_size(body) != known || !json_is_string(lv)) {
		cps_http_reply_error(resp, 400,
		                     "the body must be {\"level\": string, \"debug\": [string], "
		                     "\"reason\": string} (debug and reason optional)");
		return CPS_ERR_INVALID;
	}
	*level = cps_log_level_parse(json_string_value(lv));
	if (*level < 0) {
		cps_http_reply_error(resp, 400, "level must be error, warn, info or debug");
		return CPS_ERR_INVALID;
	}
	if ((dbg && !json_is_array(dbg)) || (r && !json_is_string(r)) ||
	    (r && json_string_length(r) > REASON_MAX)) {
		cps_http_reply_error(resp, 400,
		                     "debug must be a list of context names and reason a string "
		                     "of at most %d bytes",
		                     REASON_MAX);
		return CPS_ERR_INVALID;
	}
	*mask = 0;
	json_array_foreach (dbg, i, v) {
		unsigned bit = cps_log_ctx_parse(json_string_value(v));

		if (!bit) {
			cps_http_reply_error(
			    resp, 400,
			    "debug context %zu is not one of connector, reconcile, "
			    "store, http, kafka, codec, all",
			    i);
			return CPS_ERR_INVALID;
		}
		*mask |= bit;
	}
	*reason = r ? json_string_value(r) : NULL;
	return CPS_OK;
}

static void log_change(void *ctx, const struct cps_http_request *req,
                       struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	struct cps_dlq_store *store = NULL;
	char err[CPS_ERRSTR_SIZE];
	const char *reason = NULL;
	json_t *body, *before = NULL, *after, *dbg;
	unsigned mask;
	int level, rc;

	body = cps_http_body_json(req, resp);
	if (!body)
		return;
	if (parse_change(body, resp, &level, &mask, &reason) != CPS_OK)
		goto out;
	/* audited first: a change the audit trail cannot hold is not made */
	dbg = json_object_get(body, "debug");
	after = json_pack("{s:s, s:o}", "level", cps_log_level_name((enum cps_log_level)level),
	                  "debug", dbg ? json_incref(dbg) : json_array());
	rc = cps_ops_api_store_get(api, &store, err, sizeof(err));
	if (rc == CPS_OK) {
		before = log_json();
		rc = cps_dlq_audit(store, req->principal ? req->principal : "anonymous",
		                   "log.changed", "log", "cpsync", before, after, reason, err,
		                   sizeof(err));
	}
	cps_ops_api_store_put(api, store);
	json_decref(before);
	json_decref(after);
	if (rc != CPS_OK) {
		cps_log_warn(FACILITY, "log level not changed: audit failed: %s", err);
		cps_http_reply_error(resp, 503, "the audit trail is unavailable: %s", err);
		goto out;
	}
	cps_log_set_level_debug((enum cps_log_level)level, mask);
	cps_log_info(FACILITY, "log level set to '%s' by an operator",
	             cps_log_level_name((enum cps_log_level)level));
	cps_http_reply_json(resp, 200, log_json());
out:
	json_decref(body);
}

int cps_ops_api_register_log(struct cps_ops_api *api, struct cps_http_server *srv, char *errstr,
                             size_t errstr_size)
{
	int rc = cps_http_route(srv, "GET", "/api/v1/log", log_show, api,
	                        CPS_ROLE_VIEWER | CPS_ROLE_OPERATOR, errstr, errstr_size);

	if (rc == CPS_OK)
		rc = cps_http_route(srv, "PUT", "/api/v1/log", log_change, api, CPS_ROLE_OPERATOR,
		                    errstr, errstr_size);
	return rc;
}
