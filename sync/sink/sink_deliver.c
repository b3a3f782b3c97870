/*
 * Delivery to a sink's target, shared by the runner's loop (sink_runner.c)
 * and its poison records and replays (sink_poison.c): opening the sink
 * side, and the flush that saves the guard's versions and then commits the
 * consumed offsets.
 */
#include "sink/sink_runner_int.h"
#include "base/clock.h"

int cps_sink_open_sink(struct cps_sink_runner *r, char *errstr, size_t errstr_size)
{
	if (r->sink)
		return CPS_OK;
	return cps_connector_sink_open(r->ops, r->platform, &r->sink_settings, &r->sink, errstr,
	                               errstr_size);
}

int cps_sink_flush_and_commit(struct cps_sink_runner *r, int64_t *last_flush, char *errstr,
                              size_t errstr_size)
{
	/* no sink: the last record of a poll was refused and dead-lettered
	 * (closing the sink discarded it); nothing is waiting to be flushed */
	int rc = r->sink ? cps_sink_flush(r->sink, CPS_SINK_FLUSH_TIMEOUT_MS, errstr, errstr_size)
	                 : CPS_OK;

	if (rc != CPS_OK)
		return rc;
	*last_flush = cps_mono_ms();
	/* before the commit: a redelivered record finds its version written */
	rc = cps_sink_guard_save(r, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (r->n_pending) {
		rc = cps_source_commit(r->source, r->pending, r->n_pending, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	stat_add(r, &r->stats.sent, r->unflushed);
	if (r->unflushed || r->n_pending) /* something consumed went through */
		r->failing = false;
	if (r->link && r->unflushed) {
		atomic_fetch_add(&r->link->records, (int64_t)r->unflushed);
		atomic_store(&r->link->last_success_ms, cps_wall_ms());
	}
	r->n_pending = 0;
	r->unflushed = 0;
	return CPS_OK;
}
