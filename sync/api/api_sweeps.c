/*
 * The sweeps' routes (api_sweeps.h): a run asked of the sweeper, which
 * answers once it holds the store's sweep lock and recorded the run; the
 * runs and their differences read from the store (sweep_report.c), keys of
 * personal records masked for viewers and operators as in the audit trail.
 */
#include "api/api_sweeps.h"

#include "api/api_int.h"
#include "base/common.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

struct cps_sweeps_api {
	struct cps_sweeper *sweeper;
	struct cps_catalog *catalog;
	char *conninfo;
	int64_t schedule_ms;
};

int cps_sweeps_api_new(struct cps_sweeper *sweeper, const char *conninfo,
                       struct cps_catalog *catalog, int64_t schedule_ms,
                       struct cps_sweeps_api **out, char *errstr, size_t errstr_size)
{
	struct cps_sweeps_api *api = calloc(1, sizeof(*api));

	*out = NULL;
	if (!api || !(api->conninfo = strdup(conninfo ? conninfo : ""))) {
		free(api);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	api->sweeper = sweeper;
	api->catalog = catalog;
	api->schedule_ms = schedule_ms;
	*out = api;
	return CPS_OK;
}

void cps_sweeps_api_free(struct cps_sweeps_api *api)
{
	if (!api)
		return;
	free(api->conninfo);
	free(api);
}

static void reply_error(struct cps_http_response *resp, int rc, const char *what,
                        const char *errstr)
{
	if (rc == CPS_SWEEP_BUSY)
		cps_http_reply_error(resp, 409, "%s", errstr);
	else if (rc == CPS_ERR_INVALID)
		cps_http_reply_error(resp, 404, "%s", errstr);
	else if (rc == CPS_ERR_RETRIABLE)
		cps_http_reply_error(resp, 503, "%s: %s", what, errstr);
	else {
		cps_log_error("API", "%s: %s", what, errstr);
		cps_http_reply_error(resp, 500, "%s failed", what);
	}
}

/* POST /api/v1/sweeps */
static void sweeps_run(void *ctx, const struct cps_http_request *req,
                       struct cps_http_response *resp)
{
	struct cps_sweeps_api *api = ctx;
	char errstr[CPS_ERRSTR_SIZE];
	int64_t run_id = 0;
	int rc;

	rc = cps_sweeper_request(api->sweeper, req->principal ? req->principal : "anonymous",
	                         &run_id, errstr, sizeof(errstr));
	if (rc != CPS_OK) {
		reply_error(resp, rc, "starting a sweep", errstr);
		return;
	}
	cps_log_info("API", "sweep %lld requested by '%s'", (long long)run_id,
	             req->principal ? req->principal : "anonymous");
	cps_http_reply_json(
	    resp, 202, json_pack("{s:I, s:s}", "run_id", (json_int_t)run_id, "state", "running"));
}

/* GET /api/v1/sweeps */
static void sweeps_list(void *ctx, const struct cps_http_request *req,
                        struct cps_http_response *resp)
{
	struct cps_sweeps_api *api = ctx;
	char errstr[CPS_ERRSTR_SIZE];
	json_t *runs = NULL;
	int64_t limit;
	int rc;

	if (cps_api_query_int(req, resp, "limit", 1, CPS_API_LIMIT_MAX, 20, &limit))
		return;
	rc = cps_sweep_runs_list(api->conninfo, (int)limit, &runs, errstr, sizeof(errstr));
	if (rc != CPS_OK) {
		reply_error(resp, rc == CPS_ERR_INVALID ? CPS_ERR_FATAL : rc, "listing the sweeps",
		            errstr);
		return;
	}
	cps_http_reply_json(resp, 200,
	                    json_pack("{s:o, s:b, s:I}", "items", runs, "running",
	                              cps_sweeper_running(api->sweeper), "schedule_ms",
	                              (json_int_t)api->schedule_ms));
}

static bool kind_ok(const char *k)
{
	return !strcmp(k, "missing_at_platform") || !strcmp(k, "stale_value") ||
	       !strcmp(k, "unknown_to_store");
}

/* GET /api/v1/sweeps/{id}/differences */
static void sweeps_differences(void *ctx, const struct cps_http_request *req,
                               struct cps_http_response *resp)
{
	struct cps_sweeps_api *api = ctx;
	const char *platform = NULL, *kind = cps_http_query(req, "kind");
	char errstr[CPS_ERRSTR_SIZE];
	int64_t id, limit, after, next = 0;
	json_t *items = NULL, *it;
	size_t i;
	int rc;

	if (cps_parse_decimal(cps_http_param(req, "id"), &id) != 0 || id < 1) {
		cps_http_reply_error(resp, 400, "the sweep id must be a positive integer");
		return;
	}
	if (kind && !kind_ok(kind)) {
		cps_http_reply_error(resp, 400,
		                     "query parameter 'kind' must be missing_at_platform, "
		                     "stale_value or unknown_to_store");
		return;
	}
	if (cps_api_query_name(req, resp, "platform", &platform) ||
	    cps_api_query_int(req, resp, "limit", 1, CPS_API_LIMIT_MAX, 100, &limit) ||
	    cps_api_query_int(req, resp, "after", 0, INT64_MAX, 0, &after))
		return;
	rc = cps_sweep_differences_page(api->conninfo, id, after, (int)limit, platform, kind,
	                                &items, &next, errstr, sizeof(errstr));
	if (rc != CPS_OK) {
		reply_error(resp, rc, "listing the differences", errstr);
		return;
	}
	if (!cps_api_sees_unmasked(req->roles))
		json_array_foreach (items, i, it) {
			cps_api_viewer_audit_entry(api->catalog, it);
			json_object_del(it, "before");
			json_object_del(it, "after");
		}
	cps_http_reply_json(resp, 200,
	                    json_pack("{s:o, s:o}", "items", items, "next_after",
	                              next ? json_integer(next) : json_null()));
}

int cps_sweeps_api_register(struct cps_sweeps_api *api, struct cps_http_server *srv, char *errstr,
                            size_t errstr_size)
{
	int rc = cps_http_route(srv, "POST", "/api/v1/sweeps", sweeps_run, api, CPS_ROLE_OPERATOR,
	                        errstr, errstr_size);

	if (rc == CPS_OK)
		rc = cps_http_route(srv, "GET", "/api/v1/sweeps", sweeps_list, api, CPS_ROLE_ANY,
		                    errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_http_route(srv, "GET", "/api/v1/sweeps/{id}/differences",
		                    sweeps_differences, api, CPS_ROLE_ANY, errstr, errstr_size);
	return rc;
}
