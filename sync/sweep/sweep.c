/*
 * The sweeper: one thread per instance that runs a sweep on schedule
 * (sweeps.schedule) or when asked (POST /api/v1/sweeps), with a store
 * connection of its own (streaming never waits for it) under the store's
 * sweep lock (one run per store across instances).
 */
#include "sweep/sweep_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "observe/status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REQUEST_WAIT_MS 30000 /* how long a request waits for the thread's answer */

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Answers the pending request, if any. @locks mu MUST be held */
static void answer(struct cps_sweeper *sw, int rc, int64_t run_id, const char *err)
{
	if (!sw->requested)
		return;
	sw->requested = false;
	sw->ack_seq = sw->req_seq;
	sw->ack_rc = rc;
	sw->ack_run_id = run_id;
	snprintf(sw->ack_err, sizeof(sw->ack_err), "%s", err ? err : "");
	pthread_cond_broadcast(&sw->cv);
}

/* One attempt: the lock, the run's row, the run, its end. @locality sweep thread */
static void attempt(struct cps_sweeper *sw, const char *trigger, const char *by)
{
	char errstr[CPS_ERRSTR_SIZE] = "", end_err[CPS_ERRSTR_SIZE];
	json_t *platforms = NULL, *counts = NULL;
	int64_t run_id = 0, t0 = cps_mono_ms();
	bool held = false;
	int rc = cps_sweep_conn(sw, errstr, sizeof(errstr));

	if (rc == CPS_OK)
		rc = cps_sweep_begin(sw, trigger, by, &held, &run_id, errstr, sizeof(errstr));
	pthread_mutex_lock(&sw->mu);
	if (rc == CPS_OK && !held)
		snprintf(errstr, sizeof(errstr),
		         "a sweep is running (on this or another instance)");
	answer(sw, rc != CPS_OK ? rc : held ? CPS_OK : CPS_SWEEP_BUSY, run_id, errstr);
	sw->running = rc == CPS_OK && held;
	pthread_mutex_unlock(&sw->mu);
	if (rc != CPS_OK || !held) {
		cps_log_warn(FACILITY, "%s sweep not started: %s", trigger, errstr);
		return;
	}
	cps_log_info(FACILITY, "sweep %lld started (%s%s%s)", (long long)run_id, trigger,
	             by ? " by " : "", by ? by : "");
	platforms = json_object();
	rc = platforms ? cps_sweep_run(sw, run_id, platforms, errstr, sizeof(errstr))
	               : cps_seterr(CPS_ERR_FATAL, errstr, sizeof(errstr), "out of memory");
	if (rc != CPS_OK)
		cps_log_error(FACILITY, "sweep %lld failed: %s", (long long)run_id, errstr);
	if (cps_sweep_end(sw, run_id, platforms, rc == CPS_OK ? NULL : errstr, &counts, end_err,
	                  sizeof(end_err)) != CPS_OK)
		cps_log_error(FACILITY, "sweep %lld: recording its end failed: %s",
		              (long long)run_id, end_err);
	json_decref(platforms);
	pthread_mutex_lock(&sw->mu);
	sw->running = false;
	if (counts) {
		json_decref(sw->last_counts);
		sw->last_counts = counts;
		if (sw->conf.status)
			cps_status_set_sweep(sw->conf.status, counts);
	}
	pthread_mutex_unlock(&sw->mu);
	cps_log_info(FACILITY, "sweep %lld %s in %lld ms", (long long)run_id,
	             rc == CPS_OK ? "done" : "failed", (long long)(cps_mono_ms() - t0));
}

static void *sweeper_main(void *arg)
{
	struct cps_sweeper *sw = arg;
	char errstr[CPS_ERRSTR_SIZE];
	int64_t due = -1; /* CLOCK_MONOTONIC ms of the next scheduled run; -1 none */

	if (sw->conf.schedule_ms > 0) {
		int64_t since = cps_sweep_conn(sw, errstr, sizeof(errstr)) == CPS_OK
		                    ? cps_sweep_store_since_last(sw)
		                    : -1;

		due = cps_mono_ms() + (since < 0 || since >= sw->conf.schedule_ms
		                           ? (since < 0 ? sw->conf.schedule_ms : 0)
		                           : sw->conf.schedule_ms - since);
	}
	pthread_mutex_lock(&sw->mu);
	while (!atomic_load(&sw->stop)) {
		char by[128];
		bool requested;

		if (!sw->requested) {
			struct timespec ts;
			int64_t wait = due < 0 ? 3600000 : due - cps_mono_ms();

			if (due < 0 || wait > 0) {
				deadline_in(&ts, wait > 0 ? wait : 0);
				pthread_cond_timedwait(&sw->cv, &sw->mu, &ts);
				continue;
			}
		}
		requested = sw->requested;
		snprintf(by, sizeof(by), "%s", sw->requested_by);
		pthread_mutex_unlock(&sw->mu);
		attempt(sw, requested ? "api" : "schedule", requested ? by : NULL);
		if (sw->conf.schedule_ms > 0)
			due = cps_mono_ms() + sw->conf.schedule_ms;
		pthread_mutex_lock(&sw->mu);
	}
	answer(sw, CPS_ERR_RETRIABLE, 0, "cpsync is stopping");
	pthread_mutex_unlock(&sw->mu);
	return NULL;
}

static void sweeper_free(struct cps_sweeper *sw)
{
	if (sw->conn)
		PQfinish(sw->conn);
	for (int i = 0; i < CPS_N_ENTITIES; i++)
		cps_codec_free(sw->codec[i]);
	json_decref(sw->last_counts);
	pthread_cond_destroy(&sw->cv);
	pthread_mutex_destroy(&sw->mu);
	free(sw->platforms);
	free(sw->conninfo);
	free(sw->instance);
	free(sw);
}

int cps_sweeper_start(const struct cps_sweeper_conf *conf, struct cps_sweeper **out, char *errstr,
                      size_t errstr_size)
{
	struct cps_sweeper *sw = calloc(1, sizeof(*sw));
	int rc = CPS_OK;

	*out = NULL;
	if (!sw)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	pthread_mutex_init(&sw->mu, NULL);
	pthread_cond_init(&sw->cv, NULL);
	atomic_init(&sw->stop, false);
	sw->conf = *conf;
	sw->conninfo = strdup(conf->conninfo ? conf->conninfo : "");
	sw->instance = strdup(conf->instance ? conf->instance : "cpsync");
	sw->platforms = calloc(conf->n_platforms + 1, sizeof(*sw->platforms));
	if (!sw->conninfo || !sw->instance || !sw->platforms) {
		sweeper_free(sw);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	memcpy(sw->platforms, conf->platforms, conf->n_platforms * sizeof(*sw->platforms));
	sw->conf.platforms = sw->platforms;
	sw->conf.conninfo = sw->conninfo;
	sw->conf.instance = sw->instance;
	if (!sw->conf.chunk_rows)
		sw->conf.chunk_rows = 1000;
	for (int i = 0; i < CPS_N_ENTITIES && rc == CPS_OK; i++)
		if (cps_catalog_by_entity(conf->catalog, cps_entities[i]))
			rc = cps_codec_for_entity(conf->catalog, cps_entities[i], &sw->codec[i],
			                          errstr, errstr_size);
	if (rc == CPS_OK && pthread_create(&sw->thread, NULL, sweeper_main, sw) != 0)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "starting the sweep thread: %s",
		                strerror(errno));
	if (rc != CPS_OK) {
		sweeper_free(sw);
		return rc;
	}
	sw->started = true;
	*out = sw;
	return CPS_OK;
}

void cps_sweeper_stop(struct cps_sweeper *sw)
{
	if (!sw)
		return;
	pthread_mutex_lock(&sw->mu);
	atomic_store(&sw->stop, true);
	pthread_cond_broadcast(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
	if (sw->started)
		pthread_join(sw->thread, NULL);
	sw->started = false;
}

void cps_sweeper_free(struct cps_sweeper *sw)
{
	if (!sw)
		return;
	cps_sweeper_stop(sw);
	sweeper_free(sw);
}

int cps_sweeper_request(struct cps_sweeper *sw, const char *by, int64_t *run_id, char *errstr,
                        size_t errstr_size)
{
	struct timespec ts;
	int seq, rc;

	*run_id = 0;
	pthread_mutex_lock(&sw->mu);
	if (atomic_load(&sw->stop)) {
		pthread_mutex_unlock(&sw->mu);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "cpsync is stopping");
	}
	if (sw->running || sw->requested) {
		pthread_mutex_unlock(&sw->mu);
		return cps_seterr(CPS_SWEEP_BUSY, errstr, errstr_size, "a sweep is running");
	}
	seq = ++sw->req_seq;
	sw->requested = true;
	snprintf(sw->requested_by, sizeof(sw->requested_by), "%s", by ? by : "");
	pthread_cond_broadcast(&sw->cv);
	deadline_in(&ts, REQUEST_WAIT_MS);
	while (sw->ack_seq < seq && !atomic_load(&sw->stop))
		if (pthread_cond_timedwait(&sw->cv, &sw->mu, &ts) == ETIMEDOUT)
			break;
	if (sw->ack_seq < seq) {
		pthread_mutex_unlock(&sw->mu);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "the sweep thread did not answer in %d ms", REQUEST_WAIT_MS);
	}
	rc = sw->ack_rc;
	*run_id = sw->ack_run_id;
	if (rc != CPS_OK)
		cps_seterr(rc, errstr, errstr_size, "%s", sw->ack_err);
	pthread_mutex_unlock(&sw->mu);
	return rc;
}

bool cps_sweeper_running(struct cps_sweeper *sw)
{
	bool r;

	pthread_mutex_lock(&sw->mu);
	r = sw->running;
	pthread_mutex_unlock(&sw->mu);
	return r;
}

json_t *cps_sweeper_last_counts(struct cps_sweeper *sw)
{
	json_t *c;

	pthread_mutex_lock(&sw->mu);
	c = json_incref(sw->last_counts);
	pthread_mutex_unlock(&sw->mu);
	return c;
}
