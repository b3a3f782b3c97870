/*
 * The operator API under /api/v1: dead letters (list, inspect, replay,
 * discard — api_deadletters.c) and connector controls (list, pause, resume,
 * restart — api_connectors.c), with audit rows for every operator action.
 * The engine creates it once the ingest runners run, registers its routes,
 * detaches it before stopping the runners and frees it after the HTTP server.
 */
#ifndef CPS_API_OPS_H
#define CPS_API_OPS_H

#include "http/http.h"
#include "ingest/ingest.h"
#include "observe/status.h"
#include "store/store_deadletters.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* A platform source the API may control and replay through. */
struct cps_ops_api_source {
	const char *link_name;     /* its link in the status registry, "province-source" */
	const char *platform;      /* "province": dead letters of this platform replay here */
	struct cps_ingest *runner; /* borrowed until cps_ops_api_detach */
};

struct cps_ops_api_conf {
	const char *store_conninfo; /* copied; the API opens its own connections */
	struct cps_status *status;  /* borrowed, must outlive the API: links and their states */
	const struct cps_ops_api_source *sources; /* copied (runners borrowed) */
	size_t n_sources;
};

struct cps_ops_api;

int cps_ops_api_new(const struct cps_ops_api_conf *conf, struct cps_ops_api **out, char *errstr,
                    size_t errstr_size);
/* Registers every route of both parts on `srv`:
 *   GET  /api/v1/deadletters                 viewer, operator (viewers get no notes)
 *   GET  /api/v1/deadletters/{id}            operator
 *   POST /api/v1/deadletters/replay          operator
 *   POST /api/v1/deadletters/{id}/discard    operator
 *   GET  /api/v1/connectors                  viewer, operator
 *   POST /api/v1/connectors/{name}/pause     operator (also resume, restart) */
int cps_ops_api_register(struct cps_ops_api *api, struct cps_http_server *srv, char *errstr,
                         size_t errstr_size);
/* Forgets the runners (waits for requests using one): from then on replays
 * and connector actions answer 503. Call before stopping the runners. */
void cps_ops_api_detach(struct cps_ops_api *api);
/* After the HTTP server is stopped; NULL-safe. */
void cps_ops_api_free(struct cps_ops_api *api);

/* ---- private to api_deadletters.c and api_connectors.c ------------------ */

#define CPS_OPS_POOL_MAX 4

struct cps_ops_api {
	char *conninfo;
	struct cps_status *status;
	struct cps_ops_api_source *sources; /* strings owned */
	size_t n_sources;
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

/* The route registrations of each part. */
int cps_ops_api_register_deadletters(struct cps_ops_api *api, struct cps_http_server *srv,
                                     char *errstr, size_t errstr_size);
int cps_ops_api_register_connectors(struct cps_ops_api *api, struct cps_http_server *srv,
                                    char *errstr, size_t errstr_size);

#endif
