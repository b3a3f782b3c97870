/*
 * The offsets of a connector link (Kafka Connect's offsets API, KIP-875):
 * GET /api/v1/connectors/{name}/offsets shows a platform source's committed
 * positions at its platform (connector.h: offsets_get), a platform sink's
 * consumer group offsets and the reconcile workers' stored ingest offsets;
 * PUT resets a source's (operator, audited, only while the link is paused)
 * through the paused runner (ingest.h: cps_ingest_offsets_reset).
 * Semantics per transport: README "Offsets".
 */
#include "api/api_ops_int.h"

#include "base/common.h"
#include "base/log.h"

#include "base/pii.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FACILITY    "API"
#define REASON_MAX  1000
#define TARGETS_MAX 1024

/* A copy of `text` with every national ID in it masked: a Shenshan file
 * name may carry one, and viewers read these positions too. */
static json_t *masked_string(const char *text)
{
	char buf[CPS_STREAM_MAX + 64];

	snprintf(buf, sizeof(buf), "%s", text);
	cps_mask_national_ids_in(buf);
	return json_string(buf);
}

static json_t *entry_json(const struct cps_offset_entry *e)
{
	json_t *j = json_pack("{s:s, s:o}", "kind", e->kind, "stream", masked_string(e->stream));

	if (!j)
		return NULL;
	if (e->partition >= 0)
		json_object_set_new(j, "partition", json_integer(e->partition));
	json_object_set_new(j, "offset", e->offset >= 0 ? json_integer(e->offset) : json_null());
	if (e->text[0])
		json_object_set_new(j, "position", masked_string(e->text));
	json_object_set_new(j, "end", e->end >= 0 ? json_integer(e->end) : json_null());
	json_object_set_new(j, "lag", e->lag >= 0 ? json_integer(e->lag) : json_null());
	return j;
}

static json_t *offsets_json(const struct cps_offsets *o)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < o->n; i++)
		if (json_array_append_new(arr, entry_json(&o->v[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* The control of link `name` (runners_lock held for reading on return,
 * found or not); replies 404/503 and returns false when there is none. */
static bool control_or_reply(struct cps_ops_api *api, const char *name,
                             struct cps_http_response *resp, struct cps_ops_control *c)
{
	if (cps_ops_api_control_by_link(api, name, c))
		return true;
	cps_ops_api_reply_no_runner(api, name, resp,
	                            "has no offsets: platform sources and sinks and the reconcile "
	                            "workers have");
	return false;
}

/* The positions of a control, and whether it is paused. @locks runners_lock read */
static int control_offsets(const struct cps_ops_control *c, struct cps_offsets *o, bool *paused,
                           char *err, size_t err_size)
{
	*paused = cps_ops_control_paused(c);
	switch (c->kind) {
	case CPS_OPS_SOURCE:
		return cps_ingest_offsets_get(c->runner, o, err, err_size);
	case CPS_OPS_SINK:
		return cps_sink_runner_offsets(c->runner, o, err, err_size);
	case CPS_OPS_WORKERS:
		return cps_workers_offsets(c->runner, o, err, err_size);
	case CPS_OPS_PUBLISHER:
		break;
	}
	return cps_seterr(CPS_ERR_INVALID, err, err_size,
	                  "the publisher has no offsets: its position is the change-log cursor "
	                  "(/status: store.outbox_pending)");
}

static void offsets_get(void *ctx, const struct cps_http_request *req,
                        struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	const char *name = cps_http_param(req, "name");
	struct cps_ops_control c;
	struct cps_offsets o = {0};
	struct cps_link *l;
	char err[CPS_ERRSTR_SIZE];
	bool paused;
	int rc;

	if (!name) {
		cps_http_reply_error(resp, 404, "no connector link of that name");
		return;
	}
	if (!control_or_reply(api, name, resp, &c)) {
		cps_ops_api_runners_unlock(api);
		return;
	}
	l = cps_ops_api_link_by_name(api, name);
	rc = control_offsets(&c, &o, &paused, err, sizeof(err));
	if (rc == CPS_OK)
		cps_http_reply_json(resp, 200,
		                    json_pack("{s:s, s:s, s:b, s:o*}", "name", name, "platform",
		                              l ? l->platform : "", "paused", paused, "offsets",
		                              offsets_json(&o)));
	else
		cps_http_reply_error(resp, rc == CPS_ERR_INVALID ? 409 : 503, "%s", err);
	cps_ops_api_runners_unlock(api);
	cps_offsets_release(&o);
}

/* One explicit target {"stream", "partition"?, "offset": integer | string}. */
static int parse_target(json_t *t, struct cps_offset_target *out, char *why, size_t why_size)
{
	json_t *s = json_object_get(t, "stream"), *p = json_object_get(t, "partition");
	json_t *off = json_object_get(t, "offset");

	memset(out, 0, sizeof(*out));
	out->partition = -1;
	if (!json_is_object(t) || !json_is_string(s) || json_string_length(s) >= CPS_STREAM_MAX ||
	    (p && !json_is_integer(p)) ||
	    !(json_is_integer(off) || (json_is_string(off) && json_string_length(off) < 64))) {
		snprintf(why, why_size,
		         "each offset is {\"stream\": string, \"partition\": integer (Kafka), "
		         "\"offset\": integer or string}");
		return CPS_ERR_INVALID;
	}
	snprintf(out->stream, sizeof(out->stream), "%s", json_string_value(s));
	if (p) {
		if (json_integer_value(p) < 0 || json_integer_value(p) > INT32_MAX) {
			snprintf(why, why_size, "partition out of range");
			return CPS_ERR_INVALID;
		}
		out->partition = (int32_t)json_integer_value(p);
	}
	if (json_is_integer(off))
		snprintf(out->offset, sizeof(out->offset), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(off));
	else
		snprintf(out->offset, sizeof(out->offset), "%s", json_string_value(off));
	return CPS_OK;
}

/* {"to": "earliest" | "latest" | {"timestamp": ms} | {"offsets": [...]},
 *  "reason": string?} into *to (targets allocated: free them). */
static int parse_reset(json_t *body, struct cps_offsets_reset *to, char *reason, size_t reason_size,
                       char *why, size_t why_size)
{
	json_t *t = json_object_get(body, "to"), *r = json_object_get(body, "reason");
	json_t *ts, *offs;
	struct cps_offset_target *targets;

	memset(to, 0, sizeof(*to));
	reason[0] = '\0';
	if (!json_is_object(body) || !t || json_object_size(body) > (r ? 2u : 1u) ||
	    (r && !json_is_string(r))) {
		snprintf(why, why_size,
		         "the body is {\"to\": \"earliest\" | \"latest\" | {\"timestamp\": ms} | "
		         "{\"offsets\": [...]}, \"reason\": string (optional)}");
		return CPS_ERR_INVALID;
	}
	if (r && json_string_length(r) > REASON_MAX) {
		snprintf(why, why_size, "reason is longer than %d bytes", REASON_MAX);
		return CPS_ERR_INVALID;
	}
	if (r)
		snprintf(reason, reason_size, "%s", json_string_value(r));
	if (json_is_string(t) && !strcmp(json_string_value(t), "earliest")) {
		to->to = CPS_OFFSETS_EARLIEST;
		return CPS_OK;
	}
	if (json_is_string(t) && !strcmp(json_string_value(t), "latest")) {
		to->to = CPS_OFFSETS_LATEST;
		return CPS_OK;
	}
	ts = json_object_get(t, "timestamp");
	offs = json_object_get(t, "offsets");
	if (json_is_object(t) && json_object_size(t) == 1 && json_is_integer(ts) &&
	    json_integer_value(ts) >= 0) {
		to->to = CPS_OFFSETS_TIMESTAMP;
		to->timestamp_ms = json_integer_value(ts);
		return CPS_OK;
	}
	if (!json_is_object(t) || json_object_size(t) != 1 || !json_is_array(offs) ||
	    json_array_size(offs) == 0 || json_array_size(offs) > TARGETS_MAX) {
		snprintf(
		    why, why_size,
		    "\"to\" is \"earliest\", \"latest\", {\"timestamp\": ms since the epoch} or "
		    "{\"offsets\": [1..%d positions]}",
		    TARGETS_MAX);
		return CPS_ERR_INVALID;
	}
	targets = calloc(json_array_size(offs), sizeof(*targets));
	if (!targets) {
		snprintf(why, why_size, "out of memory");
		return CPS_ERR_FATAL;
	}
	to->to = CPS_OFFSETS_EXPLICIT;
	to->targets = targets;
	to->n_targets = json_array_size(offs);
	for (size_t i = 0; i < to->n_targets; i++)
		if (parse_target(json_array_get(offs, i), &targets[i], why, why_size) != CPS_OK)
			return CPS_ERR_INVALID;
	return CPS_OK;
}

/* The audit row, before the reset: what the store cannot hold is not done. */
static int audit_reset(struct cps_ops_api *api, const struct cps_http_request *req,
                       const struct cps_ops_api_source *src, json_t *body, const char *reason,
                       char *err, size_t err_size)
{
	struct cps_offsets before = {0};
	struct cps_dlq_store *store = NULL;
	char ignored[CPS_ERRSTR_SIZE];
	json_t *jb = NULL, *ja;
	int rc;

	if (cps_ingest_offsets_get(src->runner, &before, ignored, sizeof(ignored)) == CPS_OK)
		jb = json_pack("{s:o*}", "offsets", offsets_json(&before));
	cps_offsets_release(&before);
	ja = json_pack("{s:O}", "to", json_object_get(body, "to"));
	rc = cps_ops_api_store_get(api, &store, err, err_size);
	if (rc == CPS_OK)
		rc = cps_dlq_audit(store, req->principal ? req->principal : "anonymous",
		                   "connector.offsets_reset", "connector", src->link_name, jb, ja,
		                   reason[0] ? reason : NULL, err, err_size);
	cps_ops_api_store_put(api, store);
	json_decref(jb);
	json_decref(ja);
	return rc;
}

static void reset_run(struct cps_ops_api *api, const struct cps_http_request *req,
                      struct cps_http_response *resp, const struct cps_ops_api_source *src,
                      json_t *body, const struct cps_offsets_reset *to, const char *reason)
{
	struct cps_offsets o = {0};
	char err[CPS_ERRSTR_SIZE];
	int rc;

	if (!cps_pause_on(cps_ingest_pause(src->runner))) {
		cps_http_reply_error(resp, 409,
		                     "link '%s' is not paused: pause it first (POST "
		                     "/api/v1/connectors/%s/pause), then reset its offsets",
		                     src->link_name, src->link_name);
		return;
	}
	if (audit_reset(api, req, src, body, reason, err, sizeof(err)) != CPS_OK) {
		cps_log_warn(FACILITY, "offsets of '%s' not reset: the store failed: %s",
		             src->link_name, err);
		cps_http_reply_error(resp, 503, "the audit trail is unavailable: %s", err);
		return;
	}
	rc = cps_ingest_offsets_reset(src->runner, to, &o, err, sizeof(err));
	if (rc == CPS_OK) {
		cps_log_info(FACILITY, "offsets of '%s' reset by an operator", src->link_name);
		cps_http_reply_json(
		    resp, 200,
		    json_pack("{s:s, s:s, s:b, s:o*, s:s}", "name", src->link_name, "platform",
		              src->platform, "paused", true, "offsets", offsets_json(&o), "note",
		              "the source was closed; it reopens at these positions on resume"));
	} else if (rc == CPS_ERR_INVALID) {
		/* not paused (any more) or not the leader: a state; else the target */
		bool state = !strncmp(err, "not paused", 10) || strstr(err, "does not lead");

		cps_http_reply_error(resp, state ? 409 : 400, "%s", err);
	} else {
		cps_http_reply_error(resp, 503, "%s", err);
	}
	cps_offsets_release(&o);
}

static void offsets_put(void *ctx, const struct cps_http_request *req,
                        struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	const char *name = cps_http_param(req, "name");
	const struct cps_ops_api_source *src;
	struct cps_offsets_reset to;
	char reason[REASON_MAX + 1], why[CPS_ERRSTR_SIZE];
	json_t *body = cps_http_body_json(req, resp);
	int rc;

	if (!body)
		return;
	rc = parse_reset(body, &to, reason, sizeof(reason), why, sizeof(why));
	if (rc != CPS_OK) {
		cps_http_reply_error(resp, rc == CPS_ERR_INVALID ? 400 : 500, "%s", why);
		goto out_free;
	}
	if (!name) {
		cps_http_reply_error(resp, 404, "no connector link of that name");
		goto out_free;
	}
	src = cps_ops_api_source_by_link(api, name);
	if (src && src->runner)
		reset_run(api, req, resp, src, body, &to, reason);
	else
		cps_ops_api_reply_no_runner(
		    api, name, resp,
		    "cannot reset offsets: only platform sources can (a sink's "
		    "group and the workers' stored offsets are shown only)");
	cps_ops_api_runners_unlock(api);
out_free:
	free((void *)to.targets);
	json_decref(body);
}

int cps_ops_api_register_offsets(struct cps_ops_api *api, struct cps_http_server *srv, char *errstr,
                                 size_t errstr_size)
{
	int rc = cps_http_route(srv, "GET", "/api/v1/connectors/{name}/offsets", offsets_get, api,
	                        CPS_ROLE_VIEWER | CPS_ROLE_OPERATOR, errstr, errstr_size);

	return rc == CPS_OK
	           ? cps_http_route(srv, "PUT", "/api/v1/connectors/{name}/offsets", offsets_put,
	                            api, CPS_ROLE_OPERATOR, errstr, errstr_size)
	           : rc;
}
