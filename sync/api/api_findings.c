/*
 * Steward API, the policy's findings (GET /api/v1/findings): what the
 * checks of 深民〔2021〕80号 found in the unified records (policy/policy.h,
 * written by the reconcile workers in each batch's transaction), newest
 * first, by status, check, record, with keyset cursors. Every role reads
 * them; viewers and operators see a personal record key masked, as in the
 * audit trail. A steward confined to regions sees only their records'.
 */
#include "api/api_int.h"

#include "base/common.h"
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

static void findings_list(void *ctx, const struct cps_http_request *req,
                          struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	struct cps_finding_filter f = {0};
	struct cps_steward_cursor next;
	char errstr[CPS_ERRSTR_SIZE], *scope = NULL;
	json_t *items = NULL;
	int64_t limit;
	int rc;

	if (cps_api_enter(api, resp))
		return;
	f.status = cps_http_query(req, "status");
	f.check = cps_http_query(req, "check");
	f.key = cps_http_query(req, "key");
	if (f.status && strcmp(f.status, "open") && strcmp(f.status, "closed")) {
		cps_http_reply_error(resp, 400, "query parameter 'status' must be open or closed");
		goto out;
	}
	if (f.check && cps_policy_check_parse(f.check) < 0) {
		cps_http_reply_error(resp, 400,
		                     "query parameter 'check' is not a policy check code");
		goto out;
	}
	if (f.key && (!*f.key || strlen(f.key) > 512)) {
		cps_http_reply_error(resp, 400,
		                     "query parameter 'key' must not be empty or overlong");
		goto out;
	}
	if (cps_api_query_name(req, resp, "entity", &f.entity) ||
	    cps_api_query_int(req, resp, "limit", 1, CPS_API_LIMIT_MAX, 50, &limit) ||
	    cps_api_cursor_decode(req, resp, &f.after) || cps_api_scope(api, req, resp, &scope))
		goto out;
	if (f.key && !cps_api_sees_unmasked(req->roles)) {
		cps_http_reply_error(
		    resp, 403,
		    "only a steward can look findings up by a record key (it may be "
		    "personal data)");
		goto out;
	}
	f.limit = (int)limit;
	f.scope = scope;
	rc = cps_steward_findings_list(api->store, &f, &items, &next, errstr, sizeof(errstr));
	cps_api_reply_entries(api, !cps_api_sees_unmasked(req->roles), resp, "findings list", rc,
	                      errstr, items, &next);
out:
	free(scope);
	cps_api_leave(api);
}

int cps_api_findings_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                              size_t errstr_size)
{
	return cps_http_route(server, "GET", "/api/v1/findings", findings_list, api,
	                      CPS_ROLE_VIEWER | CPS_ROLE_STEWARD | CPS_ROLE_OPERATOR, errstr,
	                      errstr_size);
}
