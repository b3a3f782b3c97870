/*
 * GET /metrics in the Prometheus text format (version 0.0.4): link, platform,
 * conflict, store, Kafka and HTTP figures, and the lock-free latency
 * histograms the reconcile workers and the store commit path record into.
 * Labels carry only link, platform, entity, route and status-class names,
 * never personal data.
 */
#ifndef CPS_METRICS_H
#define CPS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/histogram.h" /* struct cps_histogram and the process-wide histograms */

/* ---- the text format ----------------------------------------------------- */

struct cps_http_server;
struct cps_status;
struct cps_status_http;
struct cps_config;

/* Writes the exposition of `status_doc` (the /status document, see
 * status.h and status_http.c), the histograms, and the HTTP route stats
 * of `http` (NULL: none). `reconcile_group` names the reconcile workers'
 * consumer group (NULL: "cpsync-reconcile"). Families without data are
 * written with HELP and TYPE and no samples. */
int cps_metrics_format(struct cps_buf *out, const json_t *status_doc, struct cps_http_server *http,
                       const char *reconcile_group);

/* ---- the running service ------------------------------------------------- */

struct cps_metrics_conf {
	struct cps_status *status;           /* borrowed */
	struct cps_status_http *status_http; /* borrowed: the store figures */
	struct cps_http_server *http;        /* borrowed: GET /metrics is registered here */
	const struct cps_config *cfg;        /* freshness targets, kafka.group_id; read at start */
	unsigned required_roles;             /* of GET /metrics; CPS_HTTP_OPEN = anyone */
};

struct cps_metrics;

/* Sets each platform's freshness target on `status`, starts the 1 Hz
 * throughput sampler thread and registers GET /metrics. */
int cps_metrics_start(const struct cps_metrics_conf *conf, struct cps_metrics **out, char *errstr,
                      size_t errstr_size);
/* Stops and joins the sampler. Stop the HTTP server first (its handler
 * uses the struct). NULL is fine. */
void cps_metrics_stop(struct cps_metrics *m);

#endif
