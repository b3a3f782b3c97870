/*
 * Private to the operator API (api_ops*.c, api_deadletters.c,
 * api_connectors.c, api_offsets.c, api_log.c): the handle, its pool of store connections and the
 * runner lookup the route files use (api_ops_resources.c), and the route
 * registration of each route file (called by api_ops.c).
 */
#ifndef CPS_API_OPS_INT_H
#define CPS_API_OPS_INT_H

#include "api/api_ops.h"
#include "store/store_deadletters.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define CPS_OPS_POOL_MAX 4

struct cps_ops_api {
	char *conninfo;
	struct cps_status *status;
	struct cps_ops_api_source *sources; /* strings owned */
	size_t n_sources;
	struct cps_ops_api_sink *sinks; /* strings owned */
	size_t n_sinks;
	struct cps_publisher *publisher;
	struct cps_workers *workers;
	pthread_rwlock_t runners_lock; /* read: using a runner; write: detach */
	bool detached;
	pthread_mutex_t pool_lock;
	struct cps_dlq_store *pool[CPS_OPS_POOL_MAX];
	size_t n_pool;
	/* the contexts of the three connector action routes */
	struct cps_ops_action_route {
		struct cps_ops_api *api;
		int action;
	} action_routes[3];
};

/* A store connection from the pool (or a new one); give it back with put,
 * which closes it when it is no longer usable. @locality any HTTP thread */
int cps_ops_api_store_get(struct cps_ops_api *api, struct cps_dlq_store **out, char *errstr,
                          size_t errstr_size);
void cps_ops_api_store_put(struct cps_ops_api *api, struct cps_dlq_store *s);

/* Takes runners_lock for reading; NULL source (lock still held) when
 * detached or none matches. Always pair with cps_ops_api_runners_unlock. */
const struct cps_ops_api_source *cps_ops_api_source_by_platform(struct cps_ops_api *api,
                                                                const char *platform);
const struct cps_ops_api_source *cps_ops_api_source_by_link(struct cps_ops_api *api,
                                                            const char *link_name);
void cps_ops_api_runners_unlock(struct cps_ops_api *api);

/* What a connector action controls: a platform source, a platform sink or
 * the publisher or the reconcile workers, by link name. */
enum cps_ops_control_kind { CPS_OPS_SOURCE, CPS_OPS_SINK, CPS_OPS_PUBLISHER, CPS_OPS_WORKERS };
struct cps_ops_control {
	enum cps_ops_control_kind kind;
	void *runner; /* struct cps_ingest, cps_sink_runner, cps_publisher or cps_workers */
};

/* Takes runners_lock for reading; false (lock still held) when detached or
 * no controllable link has that name. Pair with cps_ops_api_runners_unlock. */
bool cps_ops_api_control_by_link(struct cps_ops_api *api, const char *link_name,
                                 struct cps_ops_control *out);
/* The actions on a control (under runners_lock, read). */
void cps_ops_control_set_paused(const struct cps_ops_control *c, bool paused);
int cps_ops_control_restart(const struct cps_ops_control *c, char *errstr, size_t errstr_size);
bool cps_ops_control_paused(const struct cps_ops_control *c);
int64_t cps_ops_control_restarts(const struct cps_ops_control *c);

/* api_connectors.c: the status link named `name`, or NULL. */
struct cps_link *cps_ops_api_link_by_name(struct cps_ops_api *api, const char *name);
/* Replies why link `name` has no runner a route can act on: 503 while cpsync
 * stops, 409 "link '<name>' <cannot>" when the link exists but is of another
 * kind, else 404. @locks runners_lock read (as the lookups above leave it) */
void cps_ops_api_reply_no_runner(struct cps_ops_api *api, const char *name,
                                 struct cps_http_response *resp, const char *cannot);

/* The route registrations of each part. */
int cps_ops_api_register_deadletters(struct cps_ops_api *api, struct cps_http_server *srv,
                                     char *errstr, size_t errstr_size);
int cps_ops_api_register_connectors(struct cps_ops_api *api, struct cps_http_server *srv,
                                    char *errstr, size_t errstr_size);
/* api_offsets.c: GET/PUT /api/v1/connectors/{name}/offsets. */
int cps_ops_api_register_offsets(struct cps_ops_api *api, struct cps_http_server *srv, char *errstr,
                                 size_t errstr_size);
/* api_snapshot.c: POST /api/v1/connectors/{name}/snapshot. */
int cps_ops_api_register_snapshot(struct cps_ops_api *api, struct cps_http_server *srv,
                                  char *errstr, size_t errstr_size);
/* api_log.c: GET/PUT /api/v1/log. */
int cps_ops_api_register_log(struct cps_ops_api *api, struct cps_http_server *srv, char *errstr,
                             size_t errstr_size);

#endif
