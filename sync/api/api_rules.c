/*
 * The rules lifecycle over HTTP (issue 12): the rule set in force (GET
 * /api/v1/rules, every role), a dry run of new rules over the stored states
 * (POST /api/v1/rules/diff, stewards and operators), their application
 * while streaming goes on (POST /api/v1/rules/apply, operators) and a
 * reload of the configuration file (POST /api/v1/reload, operators); and
 * the stored versions of the policy's standards (GET /api/v1/standards). A
 * body is the rules as YAML or JSON; samples show keys and values to
 * stewards of every region only.
 */
#include "api/api_int.h"

#include "base/common.h"
#include "base/live.h"
#include "base/log.h"
#include "base/pii.h"
#include "store/store_rules.h"
#include "worker/worker.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAC          "API"
#define PASS_BATCH   200
#define PASS_SAMPLES 5
#define SWAP_WAIT_MS 30000

/* The number of a rule set in force: every entity carries it as version. */
static int64_t set_number(const struct cps_rules *r)
{
	return r->n_entities ? r->entities[0].version : 0;
}

/* The body's rules, checked against the configured platforms; replies 400
 * with the reason and returns NULL when they are not valid. */
static struct cps_rules *body_rules(struct cps_api *api, const struct cps_http_request *req,
                                    struct cps_http_response *resp, char hash[65])
{
	const char *known[64];
	size_t n = 0, i;
	json_t *p;
	struct cps_rules *r = NULL;
	char errstr[CPS_ERRSTR_SIZE], *canonical = NULL;

	json_array_foreach (api->platforms, i, p)
		if (n < CPS_ARRAY_SIZE(known))
			known[n++] = json_string_value(p);
	if (!req->body_len) {
		cps_http_reply_error(resp, 400, "the body must hold the rules (YAML or JSON)");
		return NULL;
	}
	if (cps_rules_from_text((const char *)req->body, req->body_len, &r, errstr,
	                        sizeof(errstr)) != CPS_OK ||
	    cps_rules_check_platforms(r, known, n, errstr, sizeof(errstr)) != CPS_OK) {
		cps_rules_free(r);
		cps_http_reply_error(resp, 400, "%s", errstr);
		return NULL;
	}
	if (cps_rules_canonical(r, &canonical, hash) != CPS_OK) {
		cps_rules_free(r);
		cps_http_reply_error(resp, 500, "out of memory");
		return NULL;
	}
	free(canonical);
	return r;
}

/* Samples as a caller who does not see values gets them: keys masked (a
 * national ID in them), changed fields by name only. */
static void mask_samples(json_t *report)
{
	const char *ent, *f;
	json_t *e, *smp, *v;
	size_t i;

	json_object_foreach (json_object_get(report, "entities"), ent, e) {
		json_array_foreach (json_object_get(e, "samples"), i, smp) {
			json_t *names = json_array();
			char *key = strdup(json_string_value(json_object_get(smp, "key")) ?: "");

			json_object_set_new(
			    smp, "key",
			    json_string(key && cps_mask_national_ids_in(key) ? key : "***"));
			free(key);
			json_object_foreach (json_object_get(smp, "fields"), f, v)
				json_array_append_new(names, json_string(f));
			json_object_set_new(smp, "fields", names);
		}
	}
}

/* {"id", "hash"} of rules `r` (whose canonical form is hashed here). */
static json_t *set_ref(const struct cps_rules *r, int64_t id)
{
	char hash[65], *canonical = NULL;
	json_t *out;

	if (cps_rules_canonical(r, &canonical, hash) != CPS_OK)
		return NULL;
	free(canonical);
	out = json_pack("{s:s}", "hash", hash);
	if (out && id > 0)
		json_object_set_new(out, "id", json_integer(id));
	return out;
}

static void rules_show(void *ctx, const struct cps_http_request *req,
                       struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	const struct cps_rules *r;
	struct cps_store *s = NULL;
	char errstr[CPS_ERRSTR_SIZE];
	json_t *doc = NULL;
	int rc;

	(void)req;
	if (cps_api_enter(api, resp))
		return;
	r = cps_api_rules_take(api);
	rc = cps_store_open(api->conninfo, &s, errstr, sizeof(errstr));
	if (rc == CPS_OK)
		rc = cps_store_rule_set_get(s, set_number(r), 1, &doc, errstr, sizeof(errstr));
	cps_store_close(s);
	if (rc == CPS_OK && !json_is_object(doc)) {
		json_decref(doc); /* rules not from the store (a test's): their form only */
		doc = set_ref(r, 0);
		json_object_set_new(doc, "rules", cps_rules_to_json(r));
	}
	cps_api_rules_give(api, r);
	cps_api_reply_result(resp, rc, 0, errstr, doc);
	cps_api_leave(api);
}

/* GET /api/v1/standards: {"current": the latest version or null, "items":
 * every version, newest first} (cpsync.policy_standards). */
static void standards_list(void *ctx, const struct cps_http_request *req,
                           struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	struct cps_store *s = NULL;
	char errstr[CPS_ERRSTR_SIZE];
	json_t *items = NULL, *doc = NULL;
	int rc;

	(void)req;
	if (cps_api_enter(api, resp))
		return;
	rc = cps_store_open(api->conninfo, &s, errstr, sizeof(errstr));
	if (rc == CPS_OK)
		rc = cps_store_standards_list(s, &items, errstr, sizeof(errstr));
	cps_store_close(s);
	if (rc == CPS_OK &&
	    !(doc = json_pack("{s:O?, s:o}", "current", json_array_get(items, 0), "items", items)))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, sizeof(errstr), "out of memory");
	cps_api_reply_result(resp, rc, 0, errstr, doc);
	cps_api_leave(api);
}

/* {"current": {id, hash}, "proposed": {hash, "same": bool}, "report": …}. */
static json_t *diff_doc(const struct cps_rules *cur, const char *hash, json_t *report)
{
	json_t *c = set_ref(cur, set_number(cur));
	int same = c && !strcmp(json_string_value(json_object_get(c, "hash")), hash);

	return json_pack("{s:o*, s:{s:s, s:b}, s:o}", "current", c, "proposed", "hash", hash,
	                 "same", same, "report", report);
}

static void rules_diff(void *ctx, const struct cps_http_request *req,
                       struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	struct cps_rules_pass p = {.batch = PASS_BATCH, .samples = PASS_SAMPLES};
	const struct cps_rules *cur;
	struct cps_rules *r;
	struct cps_store *s = NULL;
	char errstr[CPS_ERRSTR_SIZE], hash[65], *scope = NULL;
	json_t *report = NULL;
	int rc;

	if (cps_api_enter(api, resp))
		return;
	if (cps_api_scope(api, req, resp, &scope) || !(r = body_rules(api, req, resp, hash)))
		goto out;
	p.rules = r;
	rc = cps_store_open(api->conninfo, &s, errstr, sizeof(errstr));
	if (rc == CPS_OK)
		rc = cps_store_rules_pass(s, &p, &report, errstr, sizeof(errstr));
	cps_store_close(s);
	if (rc == CPS_OK && (scope || !cps_api_sees_unmasked(req->roles)))
		mask_samples(report);
	cur = cps_api_rules_take(api);
	cps_api_reply_result(resp, rc, 0, errstr,
	                     rc == CPS_OK ? diff_doc(cur, hash, report) : NULL);
	cps_api_rules_give(api, cur);
	cps_rules_free(r);
out:
	free(scope);
	cps_api_leave(api);
}

static void wake_publisher(void *ctx)
{
	cps_publisher_wake(ctx);
}

/* Waits (a while) until no batch holds rules older than the ones just
 * swapped in: from then on every worker decides with the new rules. */
static void wait_for_old_rules(struct cps_api *api)
{
	int ms = 0;

	while (cps_live_retired(api->rules_live) > 0 && ms < SWAP_WAIT_MS) {
		usleep(10000);
		ms += 10;
	}
	if (ms >= SWAP_WAIT_MS)
		cps_log_warn(FAC, "rules apply: a batch still holds the previous rules after %d s",
		             SWAP_WAIT_MS / 1000);
}

/* The new rules stored and numbered, in force, then every stored state
 * decided again under them. The caller holds apply_mu. */
static int apply_rules(struct cps_api *api, struct cps_rules *r, const char *hash, const char *who,
                       json_t **doc, char *errstr, size_t errstr_size)
{
	struct cps_rules_pass p = {.batch = PASS_BATCH, .samples = PASS_SAMPLES, .apply = 1};
	const struct cps_rules *prev = cps_api_rules_take(api), *now;
	char actor[160], *canonical = NULL, h[65];
	struct cps_store *s = NULL;
	json_t *report = NULL, *before = set_ref(prev, set_number(prev));
	struct cps_policy_checker *checker = NULL;
	int rc;

	cps_api_rules_give(api, prev);
	rc = cps_rules_canonical(r, &canonical, h);
	if (rc == CPS_OK)
		rc = cps_store_open(api->conninfo, &s, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_store_rule_set_put(s, hash, canonical, api->instance, &p.rule_set, errstr,
		                            errstr_size);
	free(canonical);
	if (rc != CPS_OK) {
		cps_rules_free(r);
		goto out;
	}
	cps_rules_set_version(r, (int)p.rule_set);
	if ((rc = cps_live_swap(api->rules_live, r, NULL)) != CPS_OK) {
		cps_seterr(rc, errstr, errstr_size, "out of memory");
		goto out;
	}
	cps_log_info(FAC, "rules apply: rule set %lld in force, deciding every stored key again",
	             (long long)p.rule_set);
	wait_for_old_rules(api);
	now = cps_api_rules_take(api);
	snprintf(actor, sizeof(actor), "operator:%s", who ? who : "?");
	p.rules = now;
	p.actor = actor;
	p.instance = api->instance;
	p.topic_prefix = api->topic_prefix;
	p.encode = cps_api_encode_unified;
	p.encode_ctx = api;
	p.after_batch = wake_publisher;
	p.after_ctx = api->publisher;
	if (api->policy_live &&
	    (rc = cps_policy_checker_new(api->catalog, api->policy_live, &checker, errstr,
	                                 errstr_size)) != CPS_OK)
		goto out_rules;
	p.policy_check = checker ? cps_policy_checker_check : NULL;
	p.policy_ctx = checker;
	rc = cps_store_rules_pass(s, &p, &report, errstr, errstr_size);
	if (rc == CPS_OK) {
		*doc = json_pack("{s:o*, s:{s:I, s:s}, s:o}", "previous", before, "rule_set", "id",
		                 (json_int_t)p.rule_set, "hash", hash, "report", report);
		before = NULL;
		cps_log_info(FAC, "rules apply: rule set %lld applied: %lld new version(s)",
		             (long long)p.rule_set,
		             (long long)json_integer_value(json_object_get(report, "changed")));
	}
out_rules:
	cps_api_rules_give(api, now);
out:
	cps_policy_checker_free(checker);
	json_decref(before);
	cps_store_close(s);
	return rc;
}

static void rules_apply(void *ctx, const struct cps_http_request *req,
                        struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	struct cps_rules *r;
	char errstr[CPS_ERRSTR_SIZE], hash[65];
	json_t *doc = NULL;
	int rc;

	if (cps_api_enter(api, resp))
		return;
	if (!api->rules_live) {
		cps_http_reply_error(resp, 501,
		                     "this cpsync cannot change its rules while it runs");
		goto out;
	}
	if (!(r = body_rules(api, req, resp, hash)))
		goto out;
	if (pthread_mutex_trylock(&api->apply_mu)) {
		cps_rules_free(r);
		cps_http_reply_error(resp, 409, "a rules apply is already running");
		goto out;
	}
	rc = apply_rules(api, r, hash, req->principal, &doc, errstr, sizeof(errstr));
	pthread_mutex_unlock(&api->apply_mu);
	if (rc != CPS_OK)
		cps_log_warn(FAC, "rules apply: %s", errstr);
	else if (!cps_api_sees_unmasked(req->roles))
		mask_samples(json_object_get(doc, "report"));
	cps_api_reply_result(resp, rc, 0, errstr, doc);
out:
	cps_api_leave(api);
}

static void reload(void *ctx, const struct cps_http_request *req, struct cps_http_response *resp)
{
	struct cps_api *api = ctx;
	char errstr[CPS_ERRSTR_SIZE];
	const struct cps_rules *r;
	int rc;

	(void)req;
	if (cps_api_enter(api, resp))
		return;
	rc = api->reload(api->reload_ctx, errstr, sizeof(errstr));
	if (rc == CPS_ERR_INVALID) {
		cps_http_reply_error(resp, 400, "reload refused, nothing changed: %s", errstr);
	} else if (rc != CPS_OK) {
		cps_http_reply_error(resp, 503, "reload refused, nothing changed: %s", errstr);
	} else {
		r = cps_api_rules_take(api);
		cps_http_reply_json(
		    resp, 200,
		    json_pack("{s:b, s:o*}", "reloaded", 1, "rule_set", set_ref(r, set_number(r))));
		cps_api_rules_give(api, r);
	}
	cps_api_leave(api);
}

int cps_api_rules_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                           size_t errstr_size)
{
	int rc = cps_http_route(server, "GET", "/api/v1/rules", rules_show, api, CPS_ROLE_ANY,
	                        errstr, errstr_size);

	if (rc == CPS_OK)
		rc = cps_http_route(server, "GET", "/api/v1/standards", standards_list, api,
		                    CPS_ROLE_ANY, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_http_route(server, "POST", "/api/v1/rules/diff", rules_diff, api,
		                    CPS_ROLE_STEWARD | CPS_ROLE_OPERATOR, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_http_route(server, "POST", "/api/v1/rules/apply", rules_apply, api,
		                    CPS_ROLE_OPERATOR, errstr, errstr_size);
	if (rc == CPS_OK && api->reload)
		rc = cps_http_route(server, "POST", "/api/v1/reload", reload, api,
		                    CPS_ROLE_OPERATOR, errstr, errstr_size);
	return rc;
}
