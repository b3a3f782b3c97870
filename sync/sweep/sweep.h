/*
 * Three-way sweeps (issue 12): each platform's FULL current data (its
 * source connector's sweep_read: the city's tables in keyset chunks,
 * Shenshan's FULL files, the province's topics from their beginning)
 * compared by key with the unified store, the differences kept as steward
 * tasks (cpsync.sweep_differences). Design and SQL: sweep_store.c.
 */
#ifndef CPS_SWEEP_H
#define CPS_SWEEP_H

#include "codec/framing.h"
#include "codec/schema.h"
#include "connectors/connector.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cps_registry;
struct cps_status;

/* One platform's source as the engine runs it (everything borrowed). */
struct cps_sweep_platform {
	const char *platform;
	const struct cps_connector_ops *ops;
	const struct cps_settings *settings; /* validated, framing taken out */
	enum cps_framing framing;
};

struct cps_sweeper_conf {
	const char *conninfo; /* the store (copied) */
	struct cps_catalog *catalog;
	struct cps_registry *registry;              /* may be NULL */
	const struct cps_sweep_platform *platforms; /* copied shallowly; they must outlive it */
	size_t n_platforms;
	int64_t schedule_ms; /* between scheduled runs; 0: on demand only */
	size_t chunk_rows;   /* records per chunk and per comparison batch */
	const char *instance;
	struct cps_status *status; /* may be NULL: the last run's counts go there (/metrics) */
};

struct cps_sweeper;

/* What cps_sweeper_request answers when a run is going on (here, or on
 * another instance sharing the store: the advisory lock is taken). */
#define CPS_SWEEP_BUSY (-20)

/* Starts the sweep thread, which runs on schedule and on request with a
 * store connection of its own. */
int cps_sweeper_start(const struct cps_sweeper_conf *conf, struct cps_sweeper **out, char *errstr,
                      size_t errstr_size);
/* Stops a run in progress between two chunks (it is recorded failed) and
 * joins the thread; requests are refused from then on. Call before the
 * sources' settings go. NULL-safe. */
void cps_sweeper_stop(struct cps_sweeper *sw);
/* Stops if needed and frees; after the HTTP server stopped. NULL-safe. */
void cps_sweeper_free(struct cps_sweeper *sw);
/* Asks for a run now: waits until the sweep thread took the store's sweep
 * lock and recorded the run, whose id goes to *run_id. CPS_SWEEP_BUSY when
 * a run is going on; CPS_ERR_RETRIABLE when the store cannot be reached.
 * `by` names the requester (a token's name) for the run's row. */
int cps_sweeper_request(struct cps_sweeper *sw, const char *by, int64_t *run_id, char *errstr,
                        size_t errstr_size);
/* Whether a run is going on in this instance. */
bool cps_sweeper_running(struct cps_sweeper *sw);
/* The counts of the last run this instance finished ([{"platform", "kind",
 * "count"}] summed over entities), a new reference, or NULL before any. */
json_t *cps_sweeper_last_counts(struct cps_sweeper *sw);

/* ---- reading the results (any thread, a short connection of its own) ---- */

/* The newest `limit` runs, newest first: {"id", "trigger", "requested_by",
 * "state", "started_at", "finished_at", "duration_ms", "counts":
 * [{"platform", "entity", "kind", "count"}], "platforms", "error"}. */
int cps_sweep_runs_list(const char *conninfo, int limit, json_t **out, char *errstr,
                        size_t errstr_size);
/* One page of run `run_id`'s differences after id `after` (0: from the
 * start), at most `limit`, filtered by platform and kind when not NULL:
 * [{"id", "platform", "entity", "key", "field", "kind", "status"}];
 * *next the last id when more may follow, else 0. CPS_ERR_INVALID when
 * there is no such run. */
int cps_sweep_differences_page(const char *conninfo, int64_t run_id, int64_t after, int limit,
                               const char *platform, const char *kind, json_t **out, int64_t *next,
                               char *errstr, size_t errstr_size);

#endif
