/*
 * Milliseconds from the two clocks cpsync uses: wall time for what is shown
 * or stored (event times, "last success"), monotonic time for intervals
 * and deadlines (immune to clock steps).
 */
#ifndef CPS_CLOCK_H
#define CPS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t cps_clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t cps_wall_ms(void)
{
	return cps_clock_ms(CLOCK_REALTIME);
}

static inline int64_t cps_mono_ms(void)
{
	return cps_clock_ms(CLOCK_MONOTONIC);
}

#endif
