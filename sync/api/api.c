/*
 * The steward API's handle (api.h, api_int.h): creating it, registering the
 * routes of each route file (api_conflicts.c, api_records.c, api_audit.c)
 * and freeing it. The helpers those files share are in api_request.c, the
 * HTTP access settings read from the config in api_auth.c, tokens' region
 * scopes in api_scope.c.
 */
#include "api/api_int.h"

#include "base/common.h"

#include <stdlib.h>
#include <string.h>

int cps_api_new(const struct cps_api_conf *conf, struct cps_api **out, char *errstr,
                size_t errstr_size)
{
	struct cps_api *api = calloc(1, sizeof(*api));
	struct cps_unified_conf uc = {
	    .catalog = conf->catalog,
	    .framing = conf->unified_framing,
	    .registry = conf->registry,
	    .topic_prefix = conf->unified_topic_prefix,
	};
	int rc;

	*out = NULL;
	if (!api)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	pthread_mutex_init(&api->uni_mu, NULL);
	pthread_mutex_init(&api->gate_mu, NULL);
	pthread_cond_init(&api->gate_cv, NULL);
	api->catalog = conf->catalog;
	api->rules = conf->rules;
	api->rules_live = conf->rules_live;
	api->policy_live = conf->policy_live;
	api->reload = conf->reload;
	api->reload_ctx = conf->reload_ctx;
	pthread_mutex_init(&api->apply_mu, NULL);
	api->instance = strdup(conf->instance ? conf->instance : "cpsync");
	api->conninfo = strdup(conf->conninfo ? conf->conninfo : "");
	api->platforms = json_array();
	for (size_t i = 0; conf->platforms && conf->platforms[i]; i++)
		json_array_append_new(api->platforms, json_string(conf->platforms[i]));
	api->publisher = conf->publisher;
	api->topic_prefix =
	    strdup(conf->unified_topic_prefix ? conf->unified_topic_prefix : "cpsync.unified.");
	if (!api->topic_prefix || !api->instance || !api->conninfo || !api->platforms) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto fail;
	}
	api->region_fields = cps_api_region_fields(conf->catalog);
	if (!api->region_fields) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto fail;
	}
	rc = cps_steward_store_new(conf->conninfo, 4, &api->store, errstr, errstr_size);
	if (rc != CPS_OK)
		goto fail;
	rc = cps_unified_new(&uc, &api->uni, errstr, errstr_size);
	if (rc != CPS_OK)
		goto fail;
	*out = api;
	return CPS_OK;
fail:
	cps_api_free(api);
	return rc;
}

int cps_api_register(struct cps_api *api, struct cps_http_server *server, char *errstr,
                     size_t errstr_size)
{
	int rc = cps_api_conflicts_register(api, server, errstr, errstr_size);

	if (rc == CPS_OK)
		rc = cps_api_records_register(api, server, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_api_audit_register(api, server, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_api_findings_register(api, server, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_api_rules_register(api, server, errstr, errstr_size);
	return rc;
}

void cps_api_free(struct cps_api *api)
{
	if (!api)
		return;
	cps_api_quiesce(api);
	cps_unified_free(api->uni);
	cps_steward_store_free(api->store);
	free(api->topic_prefix);
	free(api->instance);
	free(api->conninfo);
	json_decref(api->platforms);
	pthread_mutex_destroy(&api->apply_mu);
	json_decref(api->region_fields);
	pthread_cond_destroy(&api->gate_cv);
	pthread_mutex_destroy(&api->gate_mu);
	pthread_mutex_destroy(&api->uni_mu);
	free(api);
}
