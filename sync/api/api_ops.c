/*
 * The operator API's lifecycle (api_ops.h): creating it with copies of the
 * sources it may control, registering the routes of api_deadletters.c,
 * api_connectors.c and api_log.c, detaching it from the runners before they
 * stop, and freeing it with its pool of store connections.
 */
#include "api/api_ops_int.h"

#include "base/common.h"

#include <stdlib.h>
#include <string.h>

int cps_ops_api_new(const struct cps_ops_api_conf *conf, struct cps_ops_api **out, char *errstr,
                    size_t errstr_size)
{
	struct cps_ops_api *api;

	*out = NULL;
	if (!conf->store_conninfo || !conf->status)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the operator API needs a store and a status");
	api = calloc(1, sizeof(*api));
	if (!api)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	api->status = conf->status;
	api->conninfo = strdup(conf->store_conninfo);
	api->sources = calloc(conf->n_sources ? conf->n_sources : 1, sizeof(*api->sources));
	if (!api->conninfo || !api->sources)
		goto out_oom;
	for (size_t i = 0; i < conf->n_sources; i++) {
		struct cps_ops_api_source *d = &api->sources[api->n_sources++];

		d->link_name = strdup(conf->sources[i].link_name);
		d->platform = strdup(conf->sources[i].platform);
		d->runner = conf->sources[i].runner;
		if (!d->link_name || !d->platform)
			goto out_oom;
	}
	api->sinks = calloc(conf->n_sinks ? conf->n_sinks : 1, sizeof(*api->sinks));
	if (!api->sinks)
		goto out_oom;
	for (size_t i = 0; i < conf->n_sinks; i++) {
		struct cps_ops_api_sink *d = &api->sinks[api->n_sinks];

		d->link_name = strdup(conf->sinks[i].link_name);
		d->runner = conf->sinks[i].runner;
		if (!d->link_name)
			goto out_oom;
		api->n_sinks++;
	}
	api->publisher = conf->publisher;
	api->workers = conf->workers;
	pthread_rwlock_init(&api->runners_lock, NULL);
	pthread_mutex_init(&api->pool_lock, NULL);
	*out = api;
	return CPS_OK;

out_oom:
	for (size_t i = 0; i < api->n_sources; i++) {
		free((char *)api->sources[i].link_name);
		free((char *)api->sources[i].platform);
	}
	for (size_t i = 0; i < api->n_sinks; i++)
		free((char *)api->sinks[i].link_name);
	free(api->sinks);
	free(api->sources);
	free(api->conninfo);
	free(api);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

void cps_ops_api_detach(struct cps_ops_api *api)
{
	if (!api)
		return;
	pthread_rwlock_wrlock(&api->runners_lock);
	api->detached = true;
	for (size_t i = 0; i < api->n_sources; i++)
		api->sources[i].runner = NULL;
	for (size_t i = 0; i < api->n_sinks; i++)
		api->sinks[i].runner = NULL;
	api->publisher = NULL;
	api->workers = NULL;
	pthread_rwlock_unlock(&api->runners_lock);
}

void cps_ops_api_free(struct cps_ops_api *api)
{
	if (!api)
		return;
	for (size_t i = 0; i < api->n_pool; i++)
		cps_dlq_store_close(api->pool[i]);
	for (size_t i = 0; i < api->n_sources; i++) {
		free((char *)api->sources[i].link_name);
		free((char *)api->sources[i].platform);
	}
	for (size_t i = 0; i < api->n_sinks; i++)
		free((char *)api->sinks[i].link_name);
	pthread_rwlock_destroy(&api->runners_lock);
	pthread_mutex_destroy(&api->pool_lock);
	free(api->sinks);
	free(api->sources);
	free(api->conninfo);
	free(api);
}

int cps_ops_api_register(struct cps_ops_api *api, struct cps_http_server *srv, char *errstr,
                         size_t errstr_size)
{
	int rc = cps_ops_api_register_deadletters(api, srv, errstr, errstr_size);

	if (rc == CPS_OK)
		rc = cps_ops_api_register_connectors(api, srv, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_ops_api_register_offsets(api, srv, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_ops_api_register_snapshot(api, srv, errstr, errstr_size);
	return rc == CPS_OK ? cps_ops_api_register_log(api, srv, errstr, errstr_size) : rc;
}
