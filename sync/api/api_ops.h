/*
 * The operator API under /api/v1: dead letters (list, inspect, replay,
 * discard — api_deadletters.c) and connector controls (list, pause, resume,
 * restart — api_connectors.c) and the live log level (api_log.c), with
 * audit rows for every operator action.
 * The engine creates it once the ingest runners run, registers its routes,
 * detaches it before stopping the runners and frees it after the HTTP server
 * (api_ops.c). Internals: api_ops_int.h.
 */
#ifndef CPS_API_OPS_H
#define CPS_API_OPS_H

#include "http/http.h"
#include "ingest/ingest.h"
#include "observe/status.h"
#include "publish/publish.h"
#include "sink/sink_runner.h"
#include "worker/worker.h"

#include <stddef.h>

/* A platform source the API may control and replay through. */
struct cps_ops_api_source {
	const char *link_name;     /* its link in the status registry, "province-source" */
	const char *platform;      /* "province": dead letters of this platform replay here */
	struct cps_ingest *runner; /* borrowed until cps_ops_api_detach */
};

/* A platform sink the API may control. */
struct cps_ops_api_sink {
	const char *link_name;          /* "city-sink" */
	struct cps_sink_runner *runner; /* borrowed until cps_ops_api_detach */
};

struct cps_ops_api_conf {
	const char *store_conninfo; /* copied; the API opens its own connections */
	struct cps_status *status;  /* borrowed, must outlive the API: links and their states */
	const struct cps_ops_api_source *sources; /* copied (runners borrowed) */
	size_t n_sources;
	const struct cps_ops_api_sink *sinks; /* copied (runners borrowed) */
	size_t n_sinks;
	struct cps_publisher *publisher; /* the "publisher" link; borrowed, may be NULL */
	struct cps_workers *workers;     /* the "reconcile" link; borrowed, may be NULL */
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
 *   POST /api/v1/connectors/{name}/pause     operator (also resume, restart): platform
 *                                            sources and sinks, the publisher, the
 *                                            reconcile workers (no restart); a pause is
 *                                            kept in the store (cpsync.paused_links)
 *   GET  /api/v1/connectors/{name}/offsets   viewer, operator: a platform source's positions
 *   PUT  /api/v1/connectors/{name}/offsets   operator, paused link only (audited
 *                                            connector.offsets_reset): resets them
 *   GET  /api/v1/log                         viewer, operator
 *   PUT  /api/v1/log                         operator (audited log.changed) */
int cps_ops_api_register(struct cps_ops_api *api, struct cps_http_server *srv, char *errstr,
                         size_t errstr_size);
/* Forgets the runners and the publisher (waits for requests using one): from then on replays
 * and connector actions answer 503. Call before stopping the runners. */
void cps_ops_api_detach(struct cps_ops_api *api);
/* After the HTTP server is stopped; NULL-safe. */
void cps_ops_api_free(struct cps_ops_api *api);

#endif
