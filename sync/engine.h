/*
 * The engine: wires logging, the schema catalog and registry, the store,
 * Kafka (embedded or external), the HTTP server with /healthz, /readyz and
 * /status, the publisher, the reconcile workers and one ingest runner per
 * enabled platform source; stops them in reverse order. The /status and
 * /readyz handlers, usable without an engine, are in observe/status_http.h.
 */
#ifndef CPS_ENGINE_H
#define CPS_ENGINE_H

#include "config/config.h"
#include "http/http.h"
#include "config/settings.h"
#include "observe/status.h"
#include "observe/status_http.h"

#include <stdbool.h>
#include <stddef.h>

struct cps_engine_opts {
	const char *http_listen; /* overrides http.listen when set ("127.0.0.1:0": a free port) */
	const char *schema_dir;  /* overrides schemas.dir when set */
	bool no_signals;         /* do not block SIGINT/SIGTERM (wait then only ends on stop) */
};

struct cps_engine;
struct cps_catalog;

/* Starts everything in order; on error stops what was started and returns
 * the reason. `cfg` is borrowed and must outlive the engine. Blocks SIGINT,
 * SIGTERM and SIGHUP in the calling thread first (every thread started later
 * inherits that), unless opts->no_signals. Tells systemd READY=1 at the end
 * when started under it (engine_notify.c). */
int cps_engine_start(struct cps_config *cfg, const struct cps_engine_opts *opts,
                     struct cps_engine **out, char *errstr, size_t errstr_size);
/* Blocks until SIGINT or SIGTERM arrives, or cps_engine_request_stop is
 * called. Returns the signal number, 0 for a request. Meanwhile a SIGHUP
 * re-reads log.* from the configuration file (an invalid file changes
 * nothing, the reason is logged), and systemd's watchdog is fed. */
int cps_engine_wait(struct cps_engine *e);
/* Makes cps_engine_wait return (any thread, async-signal-unsafe). */
void cps_engine_request_stop(struct cps_engine *e);
/* Stops everything in reverse order, joins every thread, frees; NULL-safe. */
void cps_engine_stop(struct cps_engine *e);

/* Borrowed views for tests and the CLI. */
unsigned cps_engine_http_port(const struct cps_engine *e);
/* The HTTP server with every route registered (e.g. for cps_http_routes). */
struct cps_http_server *cps_engine_http(struct cps_engine *e);
const char *cps_engine_bootstrap(const struct cps_engine *e);
struct cps_status *cps_engine_status(struct cps_engine *e);
struct cps_catalog *cps_engine_catalog(struct cps_engine *e);

/* Flattens a config MAP into settings: nested maps join their keys with
 * '.', sequences become comma-separated lists ("topics: [a, b]" -> "a,b"). */
int cps_engine_flatten_settings(const struct cps_config_node *map, const char *prefix,
                                struct cps_settings *out);

#endif
