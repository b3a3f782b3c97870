/*
 * The re-publish route (api_republish.h): checks the body, takes the one
 * re-publish slot, writes the audit row first (a re-publish the audit trail
 * cannot hold is not done), runs cps_republish on this HTTP thread and
 * answers with what Kafka acknowledged.
 */
#include "api/api_republish.h"

#include "base/common.h"
#include "base/log.h"
#include "model/entity.h"
#include "store/store_deadletters.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FACILITY   "API"
#define REASON_MAX 1000

struct cps_republish_api {
	struct cps_republish_conf conf; /* its strings and properties below */
	char *conninfo, *bootstrap, *topic_prefix;
	struct cps_settings props;
	pthread_mutex_t busy; /* held while a re-publish runs */
	atomic_bool stop;
};

int cps_republish_api_new(const struct cps_republish_conf *conf, struct cps_republish_api **out,
                          char *errstr, size_t errstr_size)
{
	struct cps_republish_api *api;

	*out = NULL;
	if (!conf->conninfo || !conf->bootstrap || !conf->catalog)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the re-publish API needs a store, Kafka and the schema catalog");
	api = calloc(1, sizeof(*api));
	if (!api)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_settings_init(&api->props);
	pthread_mutex_init(&api->busy, NULL);
	atomic_init(&api->stop, false);
	api->conf = *conf;
	api->conninfo = strdup(conf->conninfo);
	api->bootstrap = strdup(conf->bootstrap);
	api->topic_prefix = strdup(conf->topic_prefix ? conf->topic_prefix : "cpsync.unified.");
	if (!api->conninfo || !api->bootstrap || !api->topic_prefix ||
	    (conf->kafka_properties && cps_settings_copy(&api->props, conf->kafka_properties))) {
		cps_republish_api_free(api);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	api->conf.conninfo = api->conninfo;
	api->conf.bootstrap = api->bootstrap;
	api->conf.topic_prefix = api->topic_prefix;
	api->conf.kafka_properties = &api->props;
	*out = api;
	return CPS_OK;
}

void cps_republish_api_stop(struct cps_republish_api *api)
{
	if (api)
		atomic_store(&api->stop, true);
}

void cps_republish_api_free(struct cps_republish_api *api)
{
	if (!api)
		return;
	pthread_mutex_destroy(&api->busy);
	cps_settings_release(&api->props);
	free(api->conninfo);
	free(api->bootstrap);
	free(api->topic_prefix);
	free(api);
}

/* The body {entity, since?, to_topic?, reason?} into `r` (borrowing from
 * `body`); replies 400 and returns CPS_ERR_INVALID when it is anything else. */
static int parse_body(const json_t *body, struct cps_http_response *resp,
                      struct cps_republish_request *r, const char **reason)
{
	const json_t *entity = json_object_get(body, "entity"),
	             *since = json_object_get(body, "since");
	const json_t *topic = json_object_get(body, "to_topic"),
	             *why = json_object_get(body, "reason");
	size_t known = (entity != NULL) + (since != NULL) + (topic != NULL) + (why != NULL);

	if (!json_is_object(body) || json_object_size(body) != known || !json_is_string(entity) ||
	    (since && !json_is_string(since)) || (topic && !json_is_string(topic)) ||
	    (why && !json_is_string(why))) {
		cps_http_reply_error(
		    resp, 400,
		    "the body must be {\"entity\": string, \"since\": time, \"to_topic\": string, \"reason\": string} (all but entity optional)");
		return CPS_ERR_INVALID;
	}
	r->entity = json_string_value(entity);
	r->since = since ? json_string_value(since) : NULL;
	r->to_topic = topic ? json_string_value(topic) : NULL;
	*reason = why ? json_string_value(why) : NULL;
	if (cps_entity_index(r->entity) < 0) {
		cps_http_reply_error(
		    resp, 400,
		    "entity must be one of person, household, enrolment, verification, alert");
		return CPS_ERR_INVALID;
	}
	if (r->to_topic && !cps_republish_topic_ok(r->to_topic)) {
		cps_http_reply_error(
		    resp, 400, "to_topic must be a Kafka topic name: 1-249 of A-Z a-z 0-9 . _ -");
		return CPS_ERR_INVALID;
	}
	if (r->since && !cps_republish_since_ok(r->since)) {
		cps_http_reply_error(
		    resp, 400, "since must be an RFC 3339 time (2024-05-01T00:00:00Z) or a date");
		return CPS_ERR_INVALID;
	}
	if (*reason && strlen(*reason) > REASON_MAX) {
		cps_http_reply_error(resp, 400, "reason must be at most %d bytes", REASON_MAX);
		return CPS_ERR_INVALID;
	}
	return CPS_OK;
}

/* The audit row "republish" (entity, topic, since) by the request's principal. */
static int audit(struct cps_republish_api *api, const struct cps_http_request *req,
                 const struct cps_republish_request *r, const char *reason, char *err,
                 size_t err_size)
{
	struct cps_dlq_store *store = NULL;
	char topic[256];
	json_t *after;
	int rc;

	if (r->to_topic)
		snprintf(topic, sizeof(topic), "%s", r->to_topic);
	else
		snprintf(topic, sizeof(topic), "%s%s", api->topic_prefix, r->entity);
	after = json_pack("{s:s, s:s, s:s?}", "entity", r->entity, "to_topic", topic, "since",
	                  r->since);
	if (!after)
		return cps_seterr(CPS_ERR_FATAL, err, err_size, "out of memory");
	rc = cps_dlq_store_open(api->conninfo, &store, err, err_size);
	if (rc == CPS_OK)
		rc =
		    cps_dlq_audit(store, req->principal ? req->principal : "anonymous", "republish",
		                  r->entity, topic, NULL, after, reason, err, err_size);
	cps_dlq_store_close(store);
	json_decref(after);
	return rc;
}

static void republish(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	struct cps_republish_api *api = ctx;
	struct cps_republish_request r = {0};
	struct cps_republish_result res;
	char err[CPS_ERRSTR_SIZE];
	const char *reason = NULL;
	json_t *body = cps_http_body_json(req, resp);
	int rc;

	if (!body)
		return;
	if (parse_body(body, resp, &r, &reason) != CPS_OK)
		goto out;
	if (pthread_mutex_trylock(&api->busy) != 0) {
		cps_http_reply_error(resp, 409,
		                     "a re-publish is running: try again when it is done");
		goto out;
	}
	rc = audit(api, req, &r, reason, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_log_warn(FACILITY, "re-publish not done: audit failed: %s", err);
		cps_http_reply_error(resp, 503, "the audit trail is unavailable: %s", err);
		goto out_unlock;
	}
	cps_log_info(FACILITY, "re-publish of '%s' %s by an operator", r.entity,
	             r.since ? "changes" : "current records");
	rc = cps_republish(&api->conf, &r, &api->stop, &res, err, sizeof(err));
	if (rc != CPS_OK) {
		cps_log_warn(FACILITY, "re-publish of '%s': %s", r.entity, err);
		cps_http_reply_error(resp,
		                     rc == CPS_ERR_INVALID     ? 400
		                     : rc == CPS_ERR_RETRIABLE ? 503
		                                               : 500,
		                     "%s (%lld events delivered before)", err,
		                     (long long)res.events);
		goto out_unlock;
	}
	cps_http_reply_json(
	    resp, 200,
	    json_pack("{s:s, s:s, s:s, s:s?, s:I, s:I, s:I, s:I, s:I}", "entity", r.entity, "topic",
	              res.topic, "mode", r.since ? "changes" : "current", "since", r.since,
	              "events", (json_int_t)res.events, "encoded", (json_int_t)res.encoded,
	              "skipped", (json_int_t)res.skipped, "pages", (json_int_t)res.pages,
	              "elapsed_ms", (json_int_t)res.elapsed_ms));
out_unlock:
	pthread_mutex_unlock(&api->busy);
out:
	json_decref(body);
}

int cps_republish_api_register(struct cps_republish_api *api, struct cps_http_server *srv,
                               char *errstr, size_t errstr_size)
{
	return cps_http_route(srv, "POST", "/api/v1/republish", republish, api, CPS_ROLE_OPERATOR,
	                      errstr, errstr_size);
}
