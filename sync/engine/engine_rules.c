/*
 * The engine's rules stage and its reload: the rule set of the
 * configuration stored (cpsync.rule_sets) and numbered, the rules and the
 * policy put behind swappable pointers the workers and the API take per
 * batch or request (base/live.h), and SIGHUP / POST /api/v1/reload: rules,
 * policy, API tokens and log settings read again from the file, every part
 * validated before any is swapped, so an invalid file changes nothing. The
 * policy's standards are versioned in the store (cpsync.policy_standards)
 * at start and at each reload that changes them.
 */
#include "engine/engine_int.h"
#include "api/api.h"
#include "base/live.h"
#include "base/log.h"
#include "config/log_config.h"
#include "policy/policy.h"
#include "reconcile/rules.h"
#include "store/store.h"
#include "store/store_rules.h"

#include <stdlib.h>

#define FAC "ENGINE"

static void rules_free(void *r)
{
	cps_rules_free(r);
}

static void policy_free(void *p)
{
	cps_policy_free(p);
}

/* Stores `r`'s rule set (unless stored) and makes its number r's version. */
static int number_rules(struct cps_engine *e, struct cps_rules *r, int64_t *id, char *errstr,
                        size_t errstr_size)
{
	char hash[65], *canonical = NULL;
	struct cps_store *s = NULL;
	int rc = cps_rules_canonical(r, &canonical, hash);

	if (rc != CPS_OK)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "rules: out of memory");
	rc = cps_store_open(e->conninfo, &s, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_store_rule_set_put(s, hash, canonical,
		                            cps_config_get_string(e->cfg, "instance"), id, errstr,
		                            errstr_size);
	cps_store_close(s);
	free(canonical);
	if (rc == CPS_OK) {
		cps_rules_set_version(r, (int)*id);
		cps_log_info(FAC, "rule set %lld (sha256 %.12s…) in force", (long long)*id, hash);
	}
	return rc;
}

/* Stores the standards of `p` as a new version unless the latest is the same. */
static int record_standards(struct cps_engine *e, const struct cps_policy *p, char *errstr,
                            size_t errstr_size)
{
	char hash[65], *canonical = NULL;
	struct cps_store *s = NULL;
	json_t *std;
	int64_t version = 0;
	int rc;

	if (!p)
		return CPS_OK;
	if (!(std = cps_policy_standards_json(p, &canonical, hash)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "standards: out of memory");
	json_decref(std);
	rc = cps_store_open(e->conninfo, &s, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_store_standards_put(s, hash, canonical,
		                             cps_config_get_string(e->cfg, "instance"), &version,
		                             errstr, errstr_size);
	cps_store_close(s);
	free(canonical);
	if (rc == CPS_OK && version)
		cps_log_info(FAC, "policy standards version %lld (sha256 %.12s…) stored",
		             (long long)version, hash);
	return rc;
}

int cps_engine_record_rules(struct cps_engine *e, const struct cps_engine_opts *opts, char *errstr,
                            size_t errstr_size)
{
	int rc = number_rules(e, e->rules, &e->rule_set, errstr, errstr_size);

	(void)opts;
	if (rc == CPS_OK)
		rc = record_standards(e, e->policy, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	/* from here the lives own them; e->rules and e->policy stay the first ones */
	e->rules_live = cps_live_new(e->rules, rules_free);
	if (!e->rules_live)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	e->policy_live = cps_live_new(e->policy, policy_free);
	if (!e->policy_live)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}

/* What a reload read, validated, before anything is swapped. */
struct reload {
	struct cps_config *cfg;
	struct cps_rules *rules;
	struct cps_policy *policy;
	struct cps_api_auth auth;
	int have_auth;
	int64_t rule_set;
};

static void reload_release(struct reload *r)
{
	cps_rules_free(r->rules);
	cps_policy_free(r->policy);
	if (r->have_auth)
		cps_api_auth_release(&r->auth);
	cps_config_free(r->cfg);
}

static int reload_read(struct cps_engine *e, const char *path, struct reload *r, char *errstr,
                       size_t errstr_size)
{
	char err[CPS_ERRSTR_SIZE];
	int rc = cps_config_load(path, &r->cfg, err, sizeof(err));

	if (rc != CPS_OK)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s", err);
	if ((rc = cps_rules_from_config(r->cfg, &r->rules, err, sizeof(err))) != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size, "rules: %s", err);
	if ((rc = cps_policy_from_config(r->cfg, &r->policy, err, sizeof(err))) != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size, "policy: %s", err);
	if ((rc = cps_api_auth_from_config(r->cfg, &r->auth, err, sizeof(err))) != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size, "http: %s", err);
	r->have_auth = 1;
	if (!e->http || !e->rules_live)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "cpsync is still starting");
	/* the tokens are checked by setting them last; the rule set and the
	 * standards stored now */
	rc = number_rules(e, r->rules, &r->rule_set, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = record_standards(e, r->policy, errstr, errstr_size);
	return rc;
}

int cps_engine_reload(struct cps_engine *e, char *errstr, size_t errstr_size)
{
	const char *path = cps_config_file(e->cfg);
	struct reload r = {0};
	char err[CPS_ERRSTR_SIZE];
	int rc;

	if (!path)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the configuration did not come from a file");
	pthread_mutex_lock(&e->reload_lock);
	rc = reload_read(e, path, &r, errstr, errstr_size);
	/* tokens first: the one swap that can still refuse (a shared secret) */
	if (rc == CPS_OK)
		rc = cps_http_set_tokens(e->http, r.auth.tokens, r.auth.n_tokens, errstr,
		                         errstr_size);
	if (rc == CPS_OK) {
		if (cps_log_configure(r.cfg, err, sizeof(err)) != CPS_OK)
			cps_log_warn(FAC, "reload: log settings unchanged: %s", err);
		rc = cps_live_swap(e->rules_live, r.rules, NULL);
		r.rules = NULL;
		if (rc == CPS_OK)
			rc = cps_live_swap(e->policy_live, r.policy, NULL);
		r.policy = NULL;
		if (rc == CPS_OK)
			e->rule_set = r.rule_set;
	}
	pthread_mutex_unlock(&e->reload_lock);
	if (rc == CPS_OK)
		cps_log_info(FAC,
		             "reloaded '%s': rule set %lld, policy, %zu API token(s), log settings",
		             path, (long long)r.rule_set, r.auth.n_tokens);
	else
		cps_log_warn(FAC, "reload of '%s' refused, nothing changed: %s", path, errstr);
	reload_release(&r);
	return rc;
}

/* cps_api_conf.reload: the API's POST /api/v1/reload. */
int cps_engine_reload_cb(void *ctx, char *errstr, size_t errstr_size)
{
	return cps_engine_reload(ctx, errstr, errstr_size);
}
