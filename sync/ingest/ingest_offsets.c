/*
 * A source's offsets through its runner (ingest.h: cps_ingest_offsets_*):
 * reading goes straight to the connector's offsets_get from the caller's
 * thread; a reset is posted to the runner thread, which owns the source and
 * its queue of batches waiting for the store, and serves it while paused.
 * A request to re-read tables goes straight to the connector as well.
 */
#include "ingest/ingest_int.h"
#include "base/clock.h"
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define RESET_TAKE_MS 5000  /* how long a posted reset waits for the runner to take it */
#define RESET_WAIT_MS 60000 /* ... and to finish it */

int cps_ingest_offsets_get(struct cps_ingest *r, struct cps_offsets *out, char *errstr,
                           size_t errstr_size)
{
	if (!r->ops)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "source '%s' has no offsets to show", r->platform);
	return cps_connector_offsets_get(r->ops, r->platform, r->settings, out, errstr,
	                                 errstr_size);
}

int cps_ingest_snapshot_request(struct cps_ingest *r, const char *const *tables, size_t n,
                                bool check_only, char *errstr, size_t errstr_size)
{
	if (!r->ops)
		return cps_seterr(CPS_CONN_CONFLICT, errstr, errstr_size,
		                  "source '%s' cannot re-read tables", r->platform);
	return cps_connector_snapshot_request(r->ops, r->platform, r->settings, tables, n,
	                                      check_only, errstr, errstr_size);
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits for the runner to take and finish the posted reset. @locks offsets_lock */
static int reset_wait(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	struct timespec take, finish;
	int rc = 0;

	deadline_in(&take, RESET_TAKE_MS);
	deadline_in(&finish, RESET_WAIT_MS);
	while (!r->reset_taken && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&r->offsets_cv, &r->offsets_lock, &take);
	if (!r->reset_taken) {
		r->reset_to = NULL; /* withdrawn: the runner never saw it */
		return cps_seterr(
		    CPS_ERR_RETRIABLE, errstr, errstr_size,
		    "the runner of source '%s' did not take the reset (is it paused?)",
		    r->platform);
	}
	rc = 0;
	while (!r->reset_done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&r->offsets_cv, &r->offsets_lock, &finish);
	if (!r->reset_done) /* the runner still writes reset_out: wait for it regardless */
		while (!r->reset_done)
			pthread_cond_wait(&r->offsets_cv, &r->offsets_lock);
	if (r->reset_rc != CPS_OK)
		return cps_seterr(r->reset_rc, errstr, errstr_size, "%s", r->reset_err);
	return CPS_OK;
}

int cps_ingest_offsets_reset(struct cps_ingest *r, const struct cps_offsets_reset *to,
                             struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	int rc;

	if (!r->ops || !r->ops->offsets_reset || !r->reopen)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "source '%s' (%s) cannot reset its offsets", r->platform,
		                  r->ops ? r->ops->type : "no connector");
	if (!cps_pause_on(&r->pause))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "not paused: pause source '%s' before resetting its offsets",
		                  r->platform);
	pthread_mutex_lock(&r->reset_serial);
	pthread_mutex_lock(&r->offsets_lock);
	r->reset_to = to;
	r->reset_out = out;
	r->reset_taken = r->reset_done = false;
	r->reset_rc = CPS_OK;
	r->reset_err[0] = '\0';
	rc = reset_wait(r, errstr, errstr_size);
	r->reset_to = NULL;
	r->reset_out = NULL;
	pthread_mutex_unlock(&r->offsets_lock);
	pthread_mutex_unlock(&r->reset_serial);
	return rc;
}

/* The reset itself: the store gets its chance to apply what was
 * acknowledged (committed to the source), the connector resets with the
 * open source at hand (opened for it when closed: a Kafka consumer commits
 * as a member of its group), and the source is closed unless the target was
 * refused: what it had queued is forgotten, and it reopens at the new
 * positions on resume. @locality runner thread */
static int reset_now(struct cps_ingest *r, const struct cps_offsets_reset *to,
                     struct cps_offsets *out, void (*drain)(struct cps_ingest *),
                     void (*drop)(struct cps_ingest *), char *err, size_t err_size)
{
	int rc;

	/* a single reader is reset by its leader only; a link paused since the
	 * start never asked for the lock: ask now (kept while paused) */
	if (r->single_reader && !r->leading && cps_ingest_leader_try(r, err, err_size) != CPS_OK)
		return CPS_ERR_RETRIABLE;
	if (r->single_reader && !r->leading)
		return cps_seterr(CPS_ERR_INVALID, err, err_size,
		                  "this instance does not lead source '%s' (standby): reset it on "
		                  "the instance that holds its lock",
		                  r->platform);
	if (r->source)
		drain(r);
	else if (r->reopen(r->reopen_arg, &r->source, err, err_size) != CPS_OK)
		r->source = NULL; /* the connector resets without it */
	rc = cps_connector_offsets_reset(r->ops, r->platform, r->settings, r->source, to, out, err,
	                                 err_size);
	if (r->source && rc != CPS_ERR_INVALID) {
		drop(r);
		cps_log_info(FACILITY, "source '%s' closed for an offsets reset", r->platform);
	}
	return rc;
}

void cps_ingest_offsets_serve(struct cps_ingest *r, void (*drain)(struct cps_ingest *),
                              void (*drop)(struct cps_ingest *))
{
	const struct cps_offsets_reset *to;
	struct cps_offsets *out;
	char err[CPS_ERRSTR_SIZE] = "";
	int rc;

	pthread_mutex_lock(&r->offsets_lock);
	to = r->reset_taken ? NULL : r->reset_to;
	out = r->reset_out;
	if (to) {
		r->reset_taken = true;
		pthread_cond_broadcast(&r->offsets_cv);
	}
	pthread_mutex_unlock(&r->offsets_lock);
	if (!to)
		return;
	rc = reset_now(r, to, out, drain, drop, err, sizeof(err));
	if (rc == CPS_OK)
		cps_log_info(FACILITY,
		             "source '%s': offsets reset, the source reopens there on resume",
		             r->platform);
	else
		cps_log_warn(FACILITY, "source '%s': offsets not reset: %s", r->platform, err);
	pthread_mutex_lock(&r->offsets_lock);
	r->reset_rc = rc;
	snprintf(r->reset_err, sizeof(r->reset_err), "%s", err);
	r->reset_done = true;
	pthread_cond_broadcast(&r->offsets_cv);
	pthread_mutex_unlock(&r->offsets_lock);
}
