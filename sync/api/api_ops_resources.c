/*
 * What the operator API's route files (api_deadletters.c, api_connectors.c)
 * share: the pool of dead letter store connections, and the runners looked
 * up by platform or link under runners_lock, so a detach waits for the
 * requests that use one.
 */
#include "api/api_ops_int.h"

#include "base/common.h"

#include <string.h>

int cps_ops_api_store_get(struct cps_ops_api *api, struct cps_dlq_store **out, char *errstr,
                          size_t errstr_size)
{
	pthread_mutex_lock(&api->pool_lock);
	*out = api->n_pool ? api->pool[--api->n_pool] : NULL;
	pthread_mutex_unlock(&api->pool_lock);
	if (*out)
		return CPS_OK;
	return cps_dlq_store_open(api->conninfo, out, errstr, errstr_size);
}

void cps_ops_api_store_put(struct cps_ops_api *api, struct cps_dlq_store *s)
{
	if (!s)
		return;
	if (cps_dlq_store_ok(s)) {
		pthread_mutex_lock(&api->pool_lock);
		if (api->n_pool < CPS_OPS_POOL_MAX) {
			api->pool[api->n_pool++] = s;
			s = NULL;
		}
		pthread_mutex_unlock(&api->pool_lock);
	}
	cps_dlq_store_close(s);
}

static const struct cps_ops_api_source *source_find(struct cps_ops_api *api, const char *platform,
                                                    const char *link_name)
{
	pthread_rwlock_rdlock(&api->runners_lock);
	if (api->detached)
		return NULL;
	for (size_t i = 0; i < api->n_sources; i++) {
		const struct cps_ops_api_source *s = &api->sources[i];

		if ((platform && !strcmp(s->platform, platform)) ||
		    (link_name && !strcmp(s->link_name, link_name)))
			return s->runner ? s : NULL;
	}
	return NULL;
}

const struct cps_ops_api_source *cps_ops_api_source_by_platform(struct cps_ops_api *api,
                                                                const char *platform)
{
	return source_find(api, platform, NULL);
}

const struct cps_ops_api_source *cps_ops_api_source_by_link(struct cps_ops_api *api,
                                                            const char *link_name)
{
	return source_find(api, NULL, link_name);
}

void cps_ops_api_runners_unlock(struct cps_ops_api *api)
{
	pthread_rwlock_unlock(&api->runners_lock);
}
