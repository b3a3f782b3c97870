/*
 * A per-link ring of per-second counts over the last minute, for the
 * throughput figures of /status (throughput_per_min and the 60-point series
 * the dashboard charts). Lock-free: each slot is one 64-bit atomic holding
 * the second it counts (high 32 bits) and the count (low 32 bits).
 */
#ifndef CPS_THROUGHPUT_H
#define CPS_THROUGHPUT_H

#include <stdatomic.h>
#include <stdint.h>

#define CPS_THROUGHPUT_SECONDS 60

struct cps_throughput {
	_Atomic uint64_t slot[CPS_THROUGHPUT_SECONDS];
};

/* Seconds of the monotonic clock: the `now_s` the other calls take. */
int64_t cps_throughput_now(void);
void cps_throughput_init(struct cps_throughput *t);
/* Adds n (>= 0) to second now_s. Any thread, several at once; a count
 * saturates at UINT32_MAX per second. */
void cps_throughput_add(struct cps_throughput *t, int64_t now_s, int64_t n);
/* The total of the 60 seconds ending with now_s (included). */
int64_t cps_throughput_sum(struct cps_throughput *t, int64_t now_s);
/* The counts of seconds now_s-59 … now_s, oldest first (0 for a second
 * with nothing counted). */
void cps_throughput_series(struct cps_throughput *t, int64_t now_s,
                           int64_t out[CPS_THROUGHPUT_SECONDS]);

#endif
