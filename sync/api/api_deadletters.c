/*
 * Dead letters in the operator API: GET /api/v1/deadletters (filters, cursor
 * pagination), GET /api/v1/deadletters/{id} (without its bytes), GET
 * /api/v1/deadletters/{id}/raw (the explicit inspect: raw value and key as
 * base64, each read audited as deadletter.inspected), POST
 * /api/v1/deadletters/replay (by ids or by filter: each one runs again
 * through its platform's ingest path, or a sink's to that sink, under its
 * row lock) and POST
 * /api/v1/deadletters/{id}/discard (with a reason, audited).
 */
#include "api/api_ops_int.h"

#include "base/common.h"
#include "base/log.h"
#include "base/pii.h"
#include "sink/sink_runner.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FACILITY         "API"
#define LIST_DEFAULT     50
#define LIST_MAX         500
#define REPLAY_IDS_MAX   500
#define REPLAY_DEFAULT   100
#define REPLAY_MAX       1000
#define REASON_MAX       1000
#define FILTER_VALUE_MAX 200
#define REPLAY_NOTE_MAX  200

/* ---- parsing ------------------------------------------------------------- */

/* A positive decimal int64 with nothing else; 0 when it is not one. */
/* A positive decimal id, 0 when malformed. */
static int64_t parse_id(const char *s)
{
	int64_t v;

	return cps_parse_decimal(s, &v) == 0 && v > 0 ? v : 0;
}

/* The {id} path parameter; 0 after replying 400 when it is not a positive integer. */
static int64_t path_id(const struct cps_http_request *req, struct cps_http_response *resp)
{
	int64_t id = parse_id(cps_http_param(req, "id"));

	if (!id)
		cps_http_reply_error(resp, 400, "a dead letter id is a positive integer");
	return id;
}

/* A query limit in 1..max; default when absent; -1 when malformed. */
static long parse_limit(const char *s, long dflt, long max)
{
	int64_t v;

	if (!s)
		return dflt;
	v = parse_id(s);
	return v >= 1 && v <= max ? (long)v : -1;
}

/* Replies 400 with the message; returns CPS_ERR_INVALID. */
static int bad_request(struct cps_http_response *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad_request(struct cps_http_response *resp, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cps_http_reply_error(resp, 400, "%s", msg);
	return CPS_ERR_INVALID;
}

static bool valid_filter_text(const char *s)
{
	return !s || strlen(s) <= FILTER_VALUE_MAX;
}

/* ---- list and inspect ---------------------------------------------------- */

/* National IDs masked in a dead letter's origin and reason: a Shenshan
 * file's name may carry one (issue 11), and a reason quotes the origin. */
static void mask_item(json_t *it)
{
	static const char *const members[] = {"origin", "reason"};

	for (size_t i = 0; i < CPS_ARRAY_SIZE(members); i++) {
		const char *v = json_string_value(json_object_get(it, members[i]));
		char *text = v ? strdup(v) : NULL;

		if (text && cps_mask_national_ids_in(text))
			json_object_set_new(it, members[i], json_string(text));
		free(text);
	}
}

static void deadletters_list(void *ctx, const struct cps_http_request *req,
                             struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	struct cps_dlq_filter f = {0};
	struct cps_dlq_store *store = NULL;
	const char *cursor = cps_http_query(req, "cursor");
	char err[CPS_ERRSTR_SIZE], next[24];
	json_t *items = NULL;
	int64_t next_cursor = 0;
	long limit;
	int rc;

	if (req->regions) {
		/* refused before decoding: a dead letter has no region to be in */
		cps_http_reply_error(resp, 403,
		                     "dead letters have no region: a token confined to regions "
		                     "cannot list them");
		return;
	}
	f.status = cps_http_query(req, "status");
	f.platform = cps_http_query(req, "platform");
	f.entity = cps_http_query(req, "entity");
	f.reason_contains = cps_http_query(req, "reason_contains");
	if (f.status && *f.status && strcmp(f.status, "new") != 0 &&
	    strcmp(f.status, "replayed") != 0 && strcmp(f.status, "discarded") != 0) {
		cps_http_reply_error(resp, 400, "status must be new, replayed or discarded");
		return;
	}
	if (!valid_filter_text(f.platform) || !valid_filter_text(f.entity) ||
	    !valid_filter_text(f.reason_contains)) {
		cps_http_reply_error(resp, 400, "a filter value is longer than %d bytes",
		                     FILTER_VALUE_MAX);
		return;
	}
	limit = parse_limit(cps_http_query(req, "limit"), LIST_DEFAULT, LIST_MAX);
	if (limit < 0) {
		cps_http_reply_error(resp, 400, "limit must be an integer from 1 to %d", LIST_MAX);
		return;
	}
	f.limit = (size_t)limit;
	if (cursor && *cursor) {
		f.before_id = parse_id(cursor);
		if (!f.before_id) {
			cps_http_reply_error(resp, 400,
			                     "cursor must be a next_cursor of an earlier page");
			return;
		}
	}
	rc = cps_ops_api_store_get(api, &store, err, sizeof(err));
	if (rc == CPS_OK)
		rc = cps_dlq_list(store, &f, &items, &next_cursor, err, sizeof(err));
	cps_ops_api_store_put(api, store);
	if (rc != CPS_OK) {
		cps_http_reply_error(resp, 503, "%s", err);
		return;
	}
	{
		size_t i;
		json_t *it;

		json_array_foreach (items, i, it) {
			mask_item(it);
			/* operators' notes are free text: not for viewers */
			if (!(req->roles & CPS_ROLE_OPERATOR))
				json_object_del(it, "note");
		}
	}
	snprintf(next, sizeof(next), "%" PRId64, next_cursor);
	cps_http_reply_json(resp, 200,
	                    json_pack("{s:o, s:o}", "items", items, "next_cursor",
	                              next_cursor ? json_string(next) : json_null()));
}

static void deadletter_get(void *ctx, const struct cps_http_request *req,
                           struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	struct cps_dlq_store *store = NULL;
	int64_t id = path_id(req, resp);
	char err[CPS_ERRSTR_SIZE];
	json_t *item = NULL;
	int rc;

	if (!id)
		return;
	rc = cps_ops_api_store_get(api, &store, err, sizeof(err));
	if (rc == CPS_OK)
		rc = cps_dlq_get(store, id, &item, err, sizeof(err));
	cps_ops_api_store_put(api, store);
	if (rc != CPS_OK) {
		cps_http_reply_error(resp, 503, "%s", err);
	} else if (!item) {
		cps_http_reply_error(resp, 404, "no dead letter %" PRId64, id);
	} else {
		/* the bytes only through the audited inspect call */
		json_object_set_new(item, "raw_available",
		                    json_boolean(json_is_string(json_object_get(item, "raw"))));
		json_object_del(item, "raw");
		json_object_del(item, "key");
		mask_item(item);
		cps_http_reply_json(resp, 200, item);
	}
}

/* GET /api/v1/deadletters/{id}/raw: the one unmasked read of a dead letter
 * (raw value and key as base64, origin and reason as stored). Audited first,
 * as deadletter.inspected by the token's holder: no audit row, no bytes. */
static void deadletter_inspect(void *ctx, const struct cps_http_request *req,
                               struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	struct cps_dlq_store *store = NULL;
	const char *actor = req->principal ? req->principal : "anonymous";
	int64_t id = path_id(req, resp);
	char err[CPS_ERRSTR_SIZE], ids[24];
	json_t *item = NULL, *after = NULL;
	int rc;

	if (!id)
		return;
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	rc = cps_ops_api_store_get(api, &store, err, sizeof(err));
	if (rc == CPS_OK)
		rc = cps_dlq_get(store, id, &item, err, sizeof(err));
	if (rc == CPS_OK && item) {
		after =
		    json_pack("{s:b}", "raw_shown", json_is_string(json_object_get(item, "raw")));
		rc = after ? cps_dlq_audit(store, actor, "deadletter.inspected", "dead_letter", ids,
		                           NULL, after, "raw bytes read through the operator API",
		                           err, sizeof(err))
		           : cps_seterr(CPS_ERR_FATAL, err, sizeof(err), "out of memory");
	}
	cps_ops_api_store_put(api, store);
	if (rc != CPS_OK) {
		cps_http_reply_error(resp, 503,
		                     "the inspect was not audited, so nothing is shown: %s", err);
	} else if (!item) {
		cps_http_reply_error(resp, 404, "no dead letter %" PRId64, id);
	} else {
		cps_log_info(FACILITY, "dead letter %" PRId64 " inspected raw by '%s' (audited)",
		             id, actor);
		cps_http_reply_json(resp, 200, item);
		item = NULL;
	}
	json_decref(after);
	json_decref(item);
}

/* ---- replay -------------------------------------------------------------- */

struct replay_tally {
	int replayed, still_bad, skipped, not_found, errors;
};

/* A sink's dead letter: its unified event again to the sink of its link
 * (sink_runner.h). */
static int replay_to_sink(struct cps_ops_api *api, const struct cps_dlq_locked *row, char *reason,
                          size_t reason_size, char *err, size_t err_size)
{
	struct cps_ops_control c;
	int rc;

	if (!row->link || !cps_ops_api_control_by_link(api, row->link, &c) ||
	    c.kind != CPS_OPS_SINK)
		rc = cps_seterr(CPS_ERR_RETRIABLE, err, err_size,
		                "no sink runs for the dead letter's link now");
	else
		rc = cps_sink_runner_replay(c.runner, row->entity, row->raw, row->raw_len, reason,
		                            reason_size, err, err_size);
	cps_ops_api_runners_unlock(api);
	return rc;
}

/* Replays dead letter `id` under its row lock; one result object. */
static json_t *replay_one(struct cps_ops_api *api, struct cps_dlq_store *store, int64_t id,
                          const char *actor, const char *note, struct replay_tally *t)
{
	struct cps_dlq_locked row;
	const struct cps_ops_api_source *src;
	struct cps_ingest_replay_msg msg;
	char err[CPS_ERRSTR_SIZE], reason[CPS_ERRSTR_SIZE];
	bool found;
	json_t *res;
	int rc;

	rc = cps_dlq_lock(store, id, &row, &found, err, sizeof(err));
	if (rc != CPS_OK) {
		t->errors++;
		return json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "outcome", "error",
		                 "message", err);
	}
	if (!found) {
		t->not_found++;
		return json_pack("{s:I, s:s}", "id", (json_int_t)id, "outcome", "not_found");
	}
	if (strcmp(row.status, "new") != 0) {
		cps_dlq_rollback(store);
		t->skipped++;
		res = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "outcome", "skipped",
		                "status", row.status);
		cps_dlq_locked_release(&row);
		return res;
	}
	if (row.raw_purged) {
		cps_dlq_rollback(store);
		t->errors++;
		res = json_pack(
		    "{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "outcome", "error", "status",
		    "new", "message",
		    "its raw bytes were purged (store.dead_letter_raw_retention): nothing to replay; discard it");
		cps_dlq_locked_release(&row);
		return res;
	}
	src = NULL;
	if (!strcmp(row.kind, "sink")) {
		reason[0] = '\0';
		rc = replay_to_sink(api, &row, reason, sizeof(reason), err, sizeof(err));
		goto outcome;
	}
	src = cps_ops_api_source_by_platform(api, row.platform);
	if (!src) {
		cps_ops_api_runners_unlock(api);
		cps_dlq_rollback(store);
		t->errors++;
		res = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "outcome", "error",
		                "status", "new", "message",
		                "no ingest runs for the dead letter's platform now");
		cps_dlq_locked_release(&row);
		return res;
	}
	memset(&msg, 0, sizeof(msg));
	msg.value = row.raw;
	msg.value_len = row.raw_len;
	msg.key = row.raw_key;
	msg.key_len = row.raw_key_len;
	msg.entity = row.entity;
	msg.origin = row.origin;
	reason[0] = '\0';
	rc = cps_ingest_replay(src->runner, &msg, reason, sizeof(reason), err, sizeof(err));
	cps_ops_api_runners_unlock(api);
outcome:
	if (rc == CPS_OK || rc == CPS_ERR_INVALID) {
		bool replayed = rc == CPS_OK;

		rc = cps_dlq_finish_replay(store, &row, replayed, actor, note, reason, err,
		                           sizeof(err));
		if (rc == CPS_OK && replayed) {
			t->replayed++;
			res = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "outcome",
			                "replayed", "status", "replayed");
		} else if (rc == CPS_OK) {
			t->still_bad++;
			res = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "outcome",
			                "still_bad", "status", "new", "reason", reason);
		} else {
			/* a replayed event may be on the ingest topic while the row
			 * stays new: replaying it again is absorbed by reconciliation */
			t->errors++;
			res = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "outcome",
			                "error", "status", "new", "message", err);
		}
	} else {
		cps_dlq_rollback(store);
		t->errors++;
		res = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "outcome", "error",
		                "status", "new", "message", err);
	}
	cps_dlq_locked_release(&row);
	return res;
}

/* Reads {"ids": [..]} or {"filter": {..}, "limit": N} (and an optional
 * "note"); on error replies 400 and returns CPS_ERR_INVALID. */
static int replay_request(const struct cps_http_request *req, struct cps_http_response *resp,
                          json_t *body, int64_t **ids, size_t *n, struct cps_dlq_filter *f,
                          bool *by_filter, const char **note)
{
	json_t *jids = json_object_get(body, "ids"), *jf = json_object_get(body, "filter");
	json_t *jl = json_object_get(body, "limit"), *jn = json_object_get(body, "note");
	const char *key;
	json_t *v;
	size_t i;

	(void)req;
	*ids = NULL;
	*n = 0;
	*by_filter = false;
	*note = NULL;
	if (!json_is_object(body))
		return bad_request(resp, "the body must be a JSON object");
	json_object_foreach (body, key, v) {
		if (strcmp(key, "ids") && strcmp(key, "filter") && strcmp(key, "limit") &&
		    strcmp(key, "note"))
			return bad_request(resp, "unknown member '%.40s' in the body", key);
	}
	if (!jids == !jf)
		return bad_request(resp, "give either \"ids\" or \"filter\"");
	if (jn && (!json_is_string(jn) || json_string_length(jn) > REPLAY_NOTE_MAX))
		return bad_request(resp, "note must be a string of at most %d bytes",
		                   REPLAY_NOTE_MAX);
	*note = jn ? json_string_value(jn) : NULL;
	if (jids) {
		if (jl)
			return bad_request(resp,
			                   "\"limit\" goes with \"filter\", not with \"ids\"");
		if (!json_is_array(jids) || json_array_size(jids) == 0 ||
		    json_array_size(jids) > REPLAY_IDS_MAX)
			return bad_request(resp, "ids must be an array of 1 to %d dead letter ids",
			                   REPLAY_IDS_MAX);
		*ids = calloc(json_array_size(jids), sizeof(**ids));
		if (!*ids) {
			cps_http_reply_error(resp, 500, "out of memory");
			return CPS_ERR_FATAL;
		}
		json_array_foreach (jids, i, v) {
			if (!json_is_integer(v) || json_integer_value(v) <= 0) {
				free(*ids);
				*ids = NULL;
				return bad_request(resp, "ids[%zu] is not a positive integer", i);
			}
			(*ids)[(*n)++] = (int64_t)json_integer_value(v);
		}
		return CPS_OK;
	}
	if (!json_is_object(jf))
		return bad_request(resp, "filter must be an object");
	json_object_foreach (jf, key, v) {
		if (strcmp(key, "platform") && strcmp(key, "entity") &&
		    strcmp(key, "reason_contains"))
			return bad_request(
			    resp,
			    "filter members are platform, entity and reason_contains, not '%.40s'",
			    key);
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > FILTER_VALUE_MAX)
			return bad_request(resp, "filter.%s must be a string of 1 to %d bytes", key,
			                   FILTER_VALUE_MAX);
	}
	f->platform = json_string_value(json_object_get(jf, "platform"));
	f->entity = json_string_value(json_object_get(jf, "entity"));
	f->reason_contains = json_string_value(json_object_get(jf, "reason_contains"));
	f->limit = REPLAY_DEFAULT;
	if (jl) {
		if (!json_is_integer(jl) || json_integer_value(jl) < 1 ||
		    json_integer_value(jl) > REPLAY_MAX)
			return bad_request(resp, "limit must be an integer from 1 to %d",
			                   REPLAY_MAX);
		f->limit = (size_t)json_integer_value(jl);
	}
	*by_filter = true;
	return CPS_OK;
}

static void deadletters_replay(void *ctx, const struct cps_http_request *req,
                               struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	struct cps_dlq_filter f = {0};
	struct cps_dlq_store *store = NULL;
	struct replay_tally t = {0};
	const char *actor = req->principal ? req->principal : "anonymous";
	const char *note;
	char err[CPS_ERRSTR_SIZE], dflt_note[128];
	int64_t *ids = NULL;
	size_t n = 0;
	bool by_filter;
	json_t *body, *results = NULL;
	int rc;

	body = cps_http_body_json(req, resp);
	if (!body)
		return;
	if (replay_request(req, resp, body, &ids, &n, &f, &by_filter, &note) != CPS_OK)
		goto out;
	if (!note) {
		snprintf(dflt_note, sizeof(dflt_note), "replayed through the operator API");
		note = dflt_note;
	}
	rc = cps_ops_api_store_get(api, &store, err, sizeof(err));
	if (rc == CPS_OK && by_filter)
		rc = cps_dlq_select_new(store, &f, &ids, &n, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_http_reply_error(resp, 503, "%s", err);
		goto out;
	}
	results = json_array();
	for (size_t i = 0; results && i < n; i++)
		if (json_array_append_new(results,
		                          replay_one(api, store, ids[i], actor, note, &t)) < 0) {
			json_decref(results);
			results = NULL;
		}
	if (n)
		cps_log_info(
		    FACILITY,
		    "dead letter replay: %d replayed, %d still bad, %d skipped, %d not found, %d errors",
		    t.replayed, t.still_bad, t.skipped, t.not_found, t.errors);
	cps_http_reply_json(resp, 200,
	                    results ? json_pack("{s:o, s:i, s:i, s:i, s:i, s:i}", "results",
	                                        results, "replayed", t.replayed, "still_bad",
	                                        t.still_bad, "skipped", t.skipped, "not_found",
	                                        t.not_found, "errors", t.errors)
	                            : NULL);
out:
	cps_ops_api_store_put(api, store);
	free(ids);
	json_decref(body);
}

/* ---- discard ------------------------------------------------------------- */

static void deadletter_discard(void *ctx, const struct cps_http_request *req,
                               struct cps_http_response *resp)
{
	struct cps_ops_api *api = ctx;
	struct cps_dlq_store *store = NULL;
	int64_t id = path_id(req, resp);
	char err[CPS_ERRSTR_SIZE];
	const char *reason, *p;
	json_t *body, *item = NULL;
	int outcome = 1, rc;

	if (!id)
		return;
	body = cps_http_body_json(req, resp);
	if (!body)
		return;
	reason = json_string_value(json_object_get(body, "reason"));
	for (p = reason; p && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'); p++)
		;
	if (!json_is_object(body) || json_object_size(body) != 1 || !reason || !*p) {
		cps_http_reply_error(
		    resp, 400,
		    "the body must be {\"reason\": a non-blank string} and nothing else");
		goto out;
	}
	if (strlen(reason) > REASON_MAX) {
		cps_http_reply_error(resp, 400, "reason is longer than %d bytes", REASON_MAX);
		goto out;
	}
	rc = cps_ops_api_store_get(api, &store, err, sizeof(err));
	if (rc == CPS_OK)
		rc = cps_dlq_discard(store, id, req->principal ? req->principal : "anonymous",
		                     reason, &outcome, &item, err, sizeof(err));
	cps_ops_api_store_put(api, store);
	if (rc != CPS_OK) {
		cps_http_reply_error(resp, 503, "%s", err);
	} else if (outcome == 1) {
		cps_http_reply_error(resp, 404, "no dead letter %" PRId64, id);
	} else if (outcome == 2) {
		cps_http_reply_error(resp, 409, "dead letter %" PRId64 " is %s, not new", id,
		                     item ? json_string_value(json_object_get(item, "status"))
		                          : "gone");
	} else {
		cps_log_info(FACILITY, "dead letter %" PRId64 " discarded by an operator", id);
		json_object_del(item, "raw");
		json_object_del(item, "key");
		mask_item(item);
		cps_http_reply_json(resp, 200, item);
		item = NULL;
	}
	json_decref(item);
out:
	json_decref(body);
}

int cps_ops_api_register_deadletters(struct cps_ops_api *api, struct cps_http_server *srv,
                                     char *errstr, size_t errstr_size)
{
	static const struct cps_http_route_spec routes[] = {
	    {"GET", "/api/v1/deadletters", deadletters_list, CPS_ROLE_VIEWER | CPS_ROLE_OPERATOR},
	    {"GET", "/api/v1/deadletters/{id}", deadletter_get, CPS_ROLE_OPERATOR},
	    {"GET", "/api/v1/deadletters/{id}/raw", deadletter_inspect, CPS_ROLE_OPERATOR},
	    {"POST", "/api/v1/deadletters/replay", deadletters_replay, CPS_ROLE_OPERATOR},
	    {"POST", "/api/v1/deadletters/{id}/discard", deadletter_discard, CPS_ROLE_OPERATOR},
	};

	return cps_http_route_table(srv, routes, CPS_ARRAY_SIZE(routes), api, errstr, errstr_size);
}
