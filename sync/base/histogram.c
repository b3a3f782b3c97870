/*
 * Lock-free latency histograms (histogram.h): one atomic increment per
 * observation, and the process-wide histograms with their bucket bounds.
 * Moved here from observe/metrics.c so the store can time its commits
 * without including a higher room.
 */
#include "base/histogram.h"

struct cps_histogram cps_hist_reconcile_batch = {
    .name = "cpsync_reconcile_batch_seconds",
    .help = "Time of one reconcile worker batch, from decoding to the store commit.",
    .n_bounds = 11,
    .bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
};

struct cps_histogram cps_hist_store_commit = {
    .name = "cpsync_store_commit_seconds",
    .help = "Time of one store batch commit (one PostgreSQL transaction).",
    .n_bounds = 11,
    .bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
};

struct cps_histogram cps_hist_event_age = {
    .name = "cpsync_reconcile_event_age_seconds",
    .help = "How long an ingest event waited from its produce to the ingest topic (its message "
            "timestamp) to the start of the worker batch that applied it (across instances, "
            "plus their clocks' difference).",
    .n_bounds = 12,
    .bounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
};

void cps_histogram_observe(struct cps_histogram *h, double seconds)
{
	size_t i = 0;

	if (!(seconds >= 0)) /* NaN too */
		seconds = 0;
	while (i < h->n_bounds && seconds > h->bounds[i])
		i++;
	atomic_fetch_add(&h->bucket[i], 1);
	atomic_fetch_add(&h->sum_us, (uint64_t)(seconds * 1e6 + 0.5));
}

void cps_histogram_observe_since(struct cps_histogram *h, const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	cps_histogram_observe(h, (double)(now.tv_sec - start->tv_sec) +
	                             (double)(now.tv_nsec - start->tv_nsec) / 1e9);
}

void cps_histogram_snapshot(struct cps_histogram *h, uint64_t counts[CPS_HISTOGRAM_MAX_BUCKETS],
                            double *sum_s)
{
	uint64_t running = 0;

	for (size_t i = 0; i <= h->n_bounds; i++) {
		running += atomic_load(&h->bucket[i]);
		counts[i] = running;
	}
	*sum_s = (double)atomic_load(&h->sum_us) / 1e6;
}
