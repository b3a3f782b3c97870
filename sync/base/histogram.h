/*
 * Lock-free latency histograms (Prometheus buckets) and the process-wide
 * ones the reconcile workers and the store commit path record into. Low in
 * the rooms so any room can time its work; observe/metrics.c formats them
 * for GET /metrics.
 */
#ifndef CPS_HISTOGRAM_H
#define CPS_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

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
extern struct cps_histogram cps_hist_event_age;       /* ingest produce to its batch's start */

#endif
