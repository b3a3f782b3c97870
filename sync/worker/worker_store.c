/*
 * A reconcile worker's store connection — opened with backoff until it works
 * or the pool stops, dropped after an error — and how a worker reports a
 * failure (the log and the "reconcile" line of /status).
 */
#include "worker/worker_int.h"
#include "base/log.h"

#include <stdio.h>

void cps_worker_fail(struct worker *w, const char *what, const char *err)
{
	struct cps_workers *p = w->pool;
	char msg[CPS_ERRSTR_SIZE + 64];

	snprintf(msg, sizeof(msg), "worker %d: %s: %s", w->idx, what, err);
	cps_log_warn(FAC, "%s", msg);
	if (p->conf.link) {
		atomic_fetch_add(&p->conf.link->errors, 1);
		cps_link_set_state(p->conf.link, CPS_LINK_FAILED);
		if (p->conf.status)
			cps_link_set_error(p->conf.status, p->conf.link, msg);
	}
}

/* Opens the worker's store connection, retrying until it works or stop. */
int cps_worker_store_ready(struct worker *w)
{
	char errstr[CPS_ERRSTR_SIZE];
	int backoff = BACKOFF_MIN_MS;

	while (!w->store && !stopping(w)) {
		if (cps_store_open(w->pool->conf.conninfo, &w->store, errstr, sizeof(errstr)) ==
		    CPS_OK)
			break;
		w->store = NULL;
		cps_worker_fail(w, "store", errstr);
		nap(w, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return w->store ? CPS_OK : CPS_ERR_RETRIABLE;
}

void cps_worker_store_drop(struct worker *w)
{
	cps_store_close(w->store);
	w->store = NULL;
}
