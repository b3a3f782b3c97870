/*
 * POST /api/v1/republish (operator, audited "republish"): re-publishes an
 * entity's current unified records, or its change log from a time on, to its
 * unified topic or another one (publish/republish.h), in the request, and
 * answers with the counts. One re-publish at a time (409 while one runs).
 */
#ifndef CPS_API_REPUBLISH_H
#define CPS_API_REPUBLISH_H

#include "http/http.h"
#include "publish/republish.h"

struct cps_republish_api;

/* Copies the strings and the Kafka properties of `conf`; the catalog and
 * registry stay borrowed and must outlive the API. */
int cps_republish_api_new(const struct cps_republish_conf *conf, struct cps_republish_api **out,
                          char *errstr, size_t errstr_size);
int cps_republish_api_register(struct cps_republish_api *api, struct cps_http_server *srv,
                               char *errstr, size_t errstr_size);
/* Makes a re-publish in progress stop between two messages (it answers
 * 503); call before stopping the HTTP server. NULL-safe. */
void cps_republish_api_stop(struct cps_republish_api *api);
/* After the HTTP server is stopped; NULL-safe. */
void cps_republish_api_free(struct cps_republish_api *api);

#endif
