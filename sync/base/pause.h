/*
 * An operator's pause of one link's runner (POST
 * /api/v1/connectors/{link}/pause): any thread sets it, the runner's own
 * loop reads it between batches. What a pause means is each runner's own
 * (ingest.h, worker.h, sink_runner.h, publish.h); a runner asleep on a
 * condition gives a `wake` so that a change takes effect at once.
 */
#ifndef CPS_PAUSE_H
#define CPS_PAUSE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct cps_pause {
	atomic_bool on;
	void (*wake)(void *ctx);
	void *ctx;
};

static inline void cps_pause_init(struct cps_pause *p, bool on, void (*wake)(void *ctx), void *ctx)
{
	atomic_init(&p->on, on);
	p->wake = wake;
	p->ctx = ctx;
}

static inline void cps_pause_set(struct cps_pause *p, bool on)
{
	atomic_store(&p->on, on);
	if (p->wake)
		p->wake(p->ctx);
}

static inline bool cps_pause_on(struct cps_pause *p)
{
	return atomic_load(&p->on);
}

#endif
