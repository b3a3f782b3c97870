/*
 * The sweeps' routes (sweep/sweep.h): POST /api/v1/sweeps (operator: a run
 * now, 202 with its id, 409 while one runs), GET /api/v1/sweeps (every
 * role: the runs with their counts) and GET /api/v1/sweeps/{id}/differences
 * (every role, paged; a personal key masked for all but stewards).
 */
#ifndef CPS_API_SWEEPS_H
#define CPS_API_SWEEPS_H

#include "http/http.h"
#include "sweep/sweep.h"

struct cps_sweeps_api;

/* `sweeper` and `catalog` are borrowed and must outlive the API. */
int cps_sweeps_api_new(struct cps_sweeper *sweeper, const char *conninfo,
                       struct cps_catalog *catalog, int64_t schedule_ms,
                       struct cps_sweeps_api **out, char *errstr, size_t errstr_size);
int cps_sweeps_api_register(struct cps_sweeps_api *api, struct cps_http_server *srv, char *errstr,
                            size_t errstr_size);
/* After the HTTP server is stopped; NULL-safe. */
void cps_sweeps_api_free(struct cps_sweeps_api *api);

#endif
