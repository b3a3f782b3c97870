/*
 * Per-route HTTP counters: requests by status class and latency buckets,
 * kept by route pattern (never by raw path) under the server's stats_lock,
 * and read back for GET /metrics.
 */
#include "http/http.h"
#include "http/http_int.h"

#include "base/common.h"

#include <pthread.h>
#include <string.h>

const double cps_http_latency_bounds_s[CPS_HTTP_LATENCY_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
};

void cps_http_record_stats(struct cps_http_server *srv, struct stats *st, int status, double ms)
{
	int cls = status / 100 - 1;
	size_t i;

	if (cls < 0)
		cls = 0;
	if (cls > 4)
		cls = 4;
	pthread_mutex_lock(&srv->stats_lock);
	st->count[cls]++;
	st->total++;
	st->latency_sum_s += ms / 1e3;
	for (i = 0; i < CPS_HTTP_LATENCY_BUCKETS; i++)
		if (ms / 1e3 <= cps_http_latency_bounds_s[i])
			st->latency_le[i]++;
	pthread_mutex_unlock(&srv->stats_lock);
}

/* A snapshot of one route's counters, taken under stats_lock. */
static void stats_snapshot(struct cps_http_server *srv, const struct stats *st, const char *method,
                           const char *pattern, struct cps_http_route_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->method = method;
	out->pattern = pattern;
	pthread_mutex_lock(&srv->stats_lock);
	memcpy(out->count, st->count, sizeof(out->count));
	out->total = st->total;
	out->latency_sum_s = st->latency_sum_s;
	memcpy(out->latency_le, st->latency_le, sizeof(out->latency_le));
	pthread_mutex_unlock(&srv->stats_lock);
}

void cps_http_stats(struct cps_http_server *srv,
                    void (*cb)(void *ctx, const struct cps_http_route_stats *st), void *ctx)
{
	struct cps_http_route_stats out;
	const struct route *r;

	pthread_rwlock_rdlock(&srv->routes_lock);
	for (r = srv->routes; r; r = r->next) {
		stats_snapshot(srv, &r->st, r->method, r->pattern, &out);
		cb(ctx, &out);
	}
	pthread_rwlock_unlock(&srv->routes_lock);
	stats_snapshot(srv, &srv->unmatched, "*", CPS_HTTP_UNMATCHED, &out);
	cb(ctx, &out);
}
