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

/* ---- histograms ---------------------------------------------------------- */

#define CPS_HISTOGRAM_MAX_BUCKETS 16

/* Buckets hold plain (not cumulative) counts so one observation is one
 * atomic increment; the formatter adds them up. bucket[n_bounds] is +Inf. */
struct cps_histogram {
	const char *name; /* "cpsync_reconcile_batch_seconds" */
	const char *help;
	size_t n_bounds;
	double bounds[CPS_HISTOGRAM_MAX_BUCKETS - 1]; /* upper bounds in seconds, ascending */
	_Atomic uint64_t bucket[CPS_HISTOGRAM_MAX_BUCKETS];
	_Atomic uint64_t sum_us; /* sum of observations in microseconds */
};

/* Records one duration in seconds. Any thread, lock-free. */
void cps_histogram_observe(struct cps_histogram *h, double seconds);
/* Seconds since `start` (a CLOCK_MONOTONIC reading), then recorded. */
void cps_histogram_observe_since(struct cps_histogram *h, const struct timespec *start);
/* A consistent-enough copy: counts[i] cumulative up to bounds[i],
 * counts[n_bounds] the total (+Inf). */
void cps_histogram_snapshot(struct cps_histogram *h, uint64_t counts[CPS_HISTOGRAM_MAX_BUCKETS],
                            double *sum_s);

/* The process-wide histograms (one cpsync per process). */
extern struct cps_histogram cps_hist_reconcile_batch; /* one worker batch, decode to commit */
extern struct cps_histogram cps_hist_store_commit;    /* one cps_store_commit_batch */

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
