/*
 * What the operator API's route files (api_deadletters.c, api_connectors.c)
 * share: the pool of dead letter store connections, and the runners (platform
 * sources and sinks, the publisher) looked up by platform or link under
 * runners_lock, so a detach waits for the requests that use one, with the
 * connector actions on each kind.
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

bool cps_ops_api_control_by_link(struct cps_ops_api *api, const char *link_name,
                                 struct cps_ops_control *out)
{
	const struct cps_ops_api_source *src = source_find(api, NULL, link_name);

	/* runners_lock is held for reading from here on, found or not */
	if (src) {
		*out = (struct cps_ops_control){CPS_OPS_SOURCE, src->runner};
		return true;
	}
	if (api->detached)
		return false;
	for (size_t i = 0; i < api->n_sinks; i++)
		if (!strcmp(api->sinks[i].link_name, link_name) && api->sinks[i].runner) {
			*out = (struct cps_ops_control){CPS_OPS_SINK, api->sinks[i].runner};
			return true;
		}
	if (api->publisher && !strcmp(link_name, "publisher")) {
		*out = (struct cps_ops_control){CPS_OPS_PUBLISHER, api->publisher};
		return true;
	}
	if (api->workers && !strcmp(link_name, "reconcile")) {
		*out = (struct cps_ops_control){CPS_OPS_WORKERS, api->workers};
		return true;
	}
	return false;
}

/* The runner's pause (base/pause.h). */
static struct cps_pause *control_pause(const struct cps_ops_control *c)
{
	if (c->kind == CPS_OPS_SOURCE)
		return cps_ingest_pause(c->runner);
	if (c->kind == CPS_OPS_SINK)
		return cps_sink_runner_pause(c->runner);
	if (c->kind == CPS_OPS_WORKERS)
		return cps_workers_pause(c->runner);
	return cps_publisher_pause(c->runner);
}

void cps_ops_control_set_paused(const struct cps_ops_control *c, bool paused)
{
	cps_pause_set(control_pause(c), paused);
}

int cps_ops_control_restart(const struct cps_ops_control *c, char *errstr, size_t errstr_size)
{
	if (c->kind == CPS_OPS_SOURCE)
		return cps_ingest_restart(c->runner, errstr, errstr_size);
	if (c->kind == CPS_OPS_WORKERS)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the reconcile workers cannot restart (their consumers rejoin "
		                  "the group on their own); pause and resume them");
	if (c->kind == CPS_OPS_SINK)
		cps_sink_runner_restart(c->runner);
	else
		cps_publisher_restart(c->runner);
	return CPS_OK;
}

bool cps_ops_control_paused(const struct cps_ops_control *c)
{
	return cps_pause_on(control_pause(c));
}

int64_t cps_ops_control_restarts(const struct cps_ops_control *c)
{
	struct cps_ingest_stats stats;

	if (c->kind == CPS_OPS_SINK)
		return cps_sink_runner_restarts(c->runner);
	if (c->kind == CPS_OPS_PUBLISHER)
		return cps_publisher_restarts(c->runner);
	if (c->kind == CPS_OPS_WORKERS)
		return 0;
	cps_ingest_get_stats(c->runner, &stats);
	return stats.restarts;
}
