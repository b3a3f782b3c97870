/*
 * Re-snapshot of a source's tables while it streams (issue 13, item 2):
 * POST /api/v1/connectors/{name}/snapshot {"tables": ["city.person"]},
 * operator only, audited before it is asked. The source does the rest
 * (connector.h: snapshot_request; the postgres source's incremental
 * snapshot, connectors/postgres/pg_source_resnap.md); /status shows progress.
 */
#include "api/api_ops_int.h"

#include "base/common.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FACILITY   "API"
#define REASON_MAX 1000
#define TABLES_MAX 64

/* {"tables": [1..TABLES_MAX strings], "reason": string?} into tables[]
 * (borrowed from body); false with the reason in why. */
static bool parse_body(json_t *body, const char **tables, size_t *n, const char **reason, char *why,
                       size_t why_size)
{
	json_t *t = json_object_get(body, "tables"), *r = json_object_get(body, "reason");

	*n = 0;
	*reason = NULL;
	if (!json_is_object(body) || !json_is_array(t) || json_array_size(t) == 0 ||
	    json_array_size(t) > TABLES_MAX || json_object_size(body) > (r ? 2u : 1u) ||
	    (r && (!json_is_string(r) || json_string_length(r) > REASON_MAX))) {
		snprintf(why, why_size,
		         "the body is {\"tables\": [1..%d \"schema.table\" names], \"reason\": "
		         "string of at most %d bytes (optional)}",
		         TABLES_MAX, REASON_MAX);
		return false;
	}
	for (size_t i = 0; i < json_array_size(t); i++) {
		json_t *one = json_array_get(t, i);

		if (!json_is_string(one) || json_string_length(one) == 0 ||
		    json_string_length(one) > 256) {
			snprintf(why, why_size, "each table is a \"schema.table\" name");
			return false;
		}
		tables[(*n)++] = json_string_value(one);
	}
	*reason = r ? json_string_value(r) : NULL;
	return true;
}

static void reply_refused(struct cps_http_response *resp, int rc, const char *err)
{
	int status = rc == CPS_ERR_INVALID     ? 400
	             : rc == CPS_CONN_CONFLICT ? 409
	             : rc == CPS_ERR_RETRIABLE ? 503
	                                       : 500;

	cps_http_reply_error(resp, status, "%s", err);
}

/* The audit row, before the request: what the store cannot hold is not done. */
static int audit_request(struct cps_ops_api *api, const struct cps_http_request *req,
                         const char *link, json_t *body, const char *reason, char *err,
                         size_t err_size)
{
	struct cps_dlq_store *store = NULL;
	json_t *after = json_pack("{s:O}", "tables", json_object_get(body, "tables"));
	int rc = cps_ops_api_store_get(api, &store, err, err_size);

	if (rc == CPS_OK)
		rc = cps_dlq_audit(store, req->principal ? req->principal : "anonymous",
		                   "connector.snapshot", "connector", link, NULL, after, reason,
		                   err, err_size);
	cps_ops_api_store_put(api, store);
	json_decref(after);
	return rc;
}

static void snapshot_run(struct cps_ops_api *api, const struct cps_http_request *req,
                         struct cps_http_response *resp, const struct cps_ops_api_source *src,
                         json_t *body, const char *const *tables, size_t n, const char *reason)
{
	char err[CPS_ERRSTR_SIZE];
	int rc = cps_ingest_snapshot_request(src->runner, tables, n, true, err, sizeof(err));

	if (rc != CPS_OK) {
		reply_refused(resp, rc, err);
		return;
	}
	if (audit_request(api, req, src->link_name, body, reason, err, sizeof(err)) != CPS_OK) {
		cps_log_warn(FACILITY, "snapshot of '%s' not asked: the store failed: %s",
		             src->link_name, err);
		cps_http_reply_error(resp, 503, "the audit trail is unavailable: %s", err);
		return;
	}
	rc = cps_ingest_snapshot_request(src->runner, tables, n, false, err, sizeof(err));
	if (rc != CPS_OK) {
		reply_refused(resp, rc, err);
		return;
	}
	cps_log_info(FACILITY, "incremental snapshot of %zu table(s) of '%s' asked by an operator",
	             n, src->link_name);
	cps_http_reply_json(
	    resp, 202,
	    json_pack("{s:s, s:s, s:O, s:s, s:s}", "name", src->link_name, "platform",
	              src->platform, "tables", json_object_get(body, "tables"), "state",
	              "requested", "note",
	              "the source re-reads the tables in chunks while it streams; /status shows "
	              "the link's snapshot progress"));
}

static void snapshot_post(void *ctx, const struct cps_http_request *req,
                          struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	const char *name = cps_http_param(req, "name");
	const struct cps_ops_api_source *src;
	const char *tables[TABLES_MAX], *reason;
	char why[CPS_ERRSTR_SIZE];
	json_t *body = cps_http_body_json(req, resp);
	size_t n;

	if (!body)
		return;
	if (!parse_body(body, tables, &n, &reason, why, sizeof(why))) {
		cps_http_reply_error(resp, 400, "%s", why);
		json_decref(body);
		return;
	}
	if (!name) {
		cps_http_reply_error(resp, 404, "no connector link of that name");
		json_decref(body);
		return;
	}
	src = cps_ops_api_source_by_link(api, name);
	if (src && src->runner)
		snapshot_run(api, req, resp, src, body, tables, n, reason);
	else
		cps_ops_api_reply_no_runner(
		    api, name, resp,
		    "cannot re-read tables: only a postgres source in replication mode can");
	cps_ops_api_runners_unlock(api);
	json_decref(body);
}

int cps_ops_api_register_snapshot(struct cps_ops_api *api, struct cps_http_server *srv,
                                  char *errstr, size_t errstr_size)
{
	return cps_http_route(srv, "POST", "/api/v1/connectors/{name}/snapshot", snapshot_post, api,
	                      CPS_ROLE_OPERATOR, errstr, errstr_size);
}
