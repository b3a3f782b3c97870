/*
 * Milliseconds from the two clocks cpsync uses: wall time for what is shown
 * or stored (event times, "last success"), monotonic time for intervals
 * and deadlines (immune to clock steps), and condition variables that wait
 * on the monotonic one.
 */
#ifndef CPS_CLOCK_H
#define CPS_CLOCK_H

#include <pthread.h>
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

/* Initialises `cv` so that pthread_cond_timedwait takes its deadline on
 * CLOCK_MONOTONIC (a wait is then immune to wall-clock steps). */
static inline int cps_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	int rc;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
	return rc;
}

#endif
