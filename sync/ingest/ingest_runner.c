/*
 * The source runner thread (see ingest.h and ENGINE.md "Source runner"): poll
 * a batch, turn each message into an IngestEvent on the ingest topic or into
 * a dead letter, wait for every delivery report and the dead-letter store
 * write, then queue the batch (ingest_ack.h) and commit its positions to the
 * source once the store has applied everything it produced. A failed batch
 * is retried as it is (its messages stay valid until the next poll).
 */
#include "ingest/ingest_int.h"
#include "base/clock.h"
#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACK_MAX_PENDING    64   /* batches acknowledged by Kafka, not yet by the store */
#define ACK_WINDOW_BATCHES 4    /* ... and at most this many full batches of events */
#define ACK_DRAIN_MS       5000 /* at stop: how long to wait for the store to catch up */

/* --------------------------------------------------------------- batch */

/* One attempt at a batch: events and dead letters produced and acknowledged,
 * dead letters stored. Nothing is committed here. */
static int process_batch(struct cps_ingest *r, const struct cps_source_batch *b, char *errstr,
                         size_t errstr_size)
{
	int64_t now = cps_wall_ms();
	rd_kafka_resp_err_t err;
	char fatal[256];
	int rc;

	if (!r->rk) {
		rc = cps_ingest_producer_new(r, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc == CPS_ERR_INVALID ? CPS_ERR_RETRIABLE : rc;
	}
	/* what an earlier failed attempt left in flight does not count now */
	rd_kafka_flush(r->rk, r->flush_timeout_ms);
	r->dr_failed = 0;
	r->dr_first_error[0] = '\0';
	r->n_produced = 0;
	r->produced_oom = false;
	r->batch_accepted = 0;
	r->batch_newest_effective = -1;
	cps_deadletters_reset(&r->dead);
	for (size_t i = 0; i < b->n; i++) {
		rc = cps_ingest_message(r, &b->msgs[i], now, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	if (r->dead.n && r->dead_letter_topic) {
		rc = cps_deadletters_produce(&r->dead, r->rk, r->dead_letter_topic,
		                             r->dead_letter_raw, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	err = rd_kafka_flush(r->rk, r->flush_timeout_ms);
	if (rd_kafka_fatal_error(r->rk, fatal, sizeof(fatal)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "ingest producer fatal error: %s", fatal);
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "flush timed out after %d ms with %d messages undelivered",
		                  r->flush_timeout_ms, rd_kafka_outq_len(r->rk));
	if (r->dr_failed)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "%" PRId64 " deliveries failed, first: %s", r->dr_failed,
		                  r->dr_first_error);
	if (r->produced_oom)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "out of memory noting the produced offsets");
	if (r->dead.n) {
		if (!r->store) {
			rc = cps_store_open(r->store_conninfo, &r->store, errstr, errstr_size);
			if (rc != CPS_OK)
				return rc == CPS_ERR_INVALID ? CPS_ERR_RETRIABLE : rc;
		}
		rc = cps_deadletters_store(&r->dead, r->store, errstr, errstr_size);
		if (rc != CPS_OK) {
			/* a fresh connection next time */
			cps_store_close(r->store);
			r->store = NULL;
			return rc;
		}
	}
	return CPS_OK;
}

/* The highest position of each stream/partition of the batch. */
static int batch_positions(struct cps_ingest *r, const struct cps_source_batch *b, size_t *n,
                           char *errstr, size_t errstr_size)
{
	*n = 0;
	if (b->n > r->cap_positions) {
		struct cps_position *p = realloc(r->positions, b->n * sizeof(*p));

		if (!p)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		r->positions = p;
		r->cap_positions = b->n;
	}
	for (size_t i = 0; i < b->n; i++) /* room for b->n: never full */
		cps_positions_raise(r->positions, n, r->cap_positions, &b->msgs[i].pos);
	return CPS_OK;
}

/* ---------------------------------------------------------------- loop */

static void set_state(struct cps_ingest *r, enum cps_link_state s)
{
	if (r->link)
		cps_link_set_state(r->link, s);
}

static void record_failure(struct cps_ingest *r, const char *what, const char *err)
{
	char msg[CPS_ERRSTR_SIZE + 64];

	snprintf(msg, sizeof(msg), "%s: %s", what, err);
	atomic_fetch_add(&r->errors, 1);
	cps_log_warn(FACILITY, "source '%s' %s", r->platform, msg);
	if (r->link) {
		atomic_fetch_add(&r->link->errors, 1);
		if (r->status)
			cps_link_set_error(r->status, r->link, msg);
		cps_link_set_state(r->link, CPS_LINK_FAILED);
	}
}

static void update_lag(struct cps_ingest *r)
{
	struct cps_conn_status st;

	if (!r->link || !r->source)
		return;
	cps_conn_describe(r->source, &st);
	atomic_store(&r->link->lag, st.lag);
	atomic_store(&r->link->ignored_files, st.ignored);
	if (st.snapshot_table[0] && r->status) {
		struct cps_link_snapshot snap = {.chunks = st.snapshot_chunks,
		                                 .rows = st.snapshot_rows,
		                                 .waiting = st.snapshot_waiting};

		snprintf(snap.table, sizeof(snap.table), "%s", st.snapshot_table);
		snprintf(snap.state, sizeof(snap.state), "%s", st.snapshot_state);
		cps_link_set_snapshot(r->status, r->link, &snap);
	}
}

/* Sleeps the current backoff (interrupted by stop) and doubles it. */
static void backoff_sleep(struct cps_ingest *r, int *backoff_ms)
{
	int64_t until = cps_mono_ms() + *backoff_ms;

	while (!atomic_load(&r->stop) && cps_mono_ms() < until) {
		struct timespec ts = {0, 20 * 1000000};

		nanosleep(&ts, NULL);
	}
	*backoff_ms = *backoff_ms * 2 > r->backoff_max_ms ? r->backoff_max_ms : *backoff_ms * 2;
}

/* Closes the source. Its batches waiting for the store are forgotten: a
 * new source delivers them again from the last committed position. */
static void source_drop(struct cps_ingest *r)
{
	cps_source_close(r->source);
	r->source = NULL;
	cps_ingest_acks_clear(r->acks);
}

/* ------------------------------------------- single reader: leadership */

/* A single-reader source may be read only under its advisory lock: true
 * when this runner holds it; false (after a standby wait, the source closed)
 * when another instance does or the store cannot be asked. */
static bool leader_hold(struct cps_ingest *r)
{
	char err[CPS_ERRSTR_SIZE];

	if (r->leading) {
		if (cps_ingest_leader_check(r))
			return true;
		cps_log_warn(
		    FACILITY,
		    "platform '%s': the advisory lock's store session is lost, closing the source",
		    r->platform);
		if (r->source)
			source_drop(r);
		cps_ingest_leader_release(r);
	}
	if (cps_ingest_leader_try(r, err, sizeof(err)) != CPS_OK) {
		if (r->source)
			source_drop(r);
		r->standby_logged = false;
		record_failure(r, "taking the source's advisory lock failed", err);
		cps_ingest_standby_sleep(r);
		return false;
	}
	if (r->leading) {
		cps_log_info(FACILITY, "platform '%s': leading (advisory lock held)", r->platform);
		r->standby_logged = false;
		set_state(r, CPS_LINK_STARTING);
		return true;
	}
	if (r->source)
		source_drop(r);
	if (!r->standby_logged)
		cps_log_info(FACILITY, "platform '%s': standby (another instance holds the source)",
		             r->platform);
	r->standby_logged = true;
	set_state(r, CPS_LINK_STANDBY);
	cps_ingest_standby_sleep(r);
	return false;
}

/* Commits to the source the positions of every queued batch whose events
 * the store has applied (end-to-end acknowledgement, ingest_ack.h). Only
 * after the ingest topic's identity is verified: before that, stored offsets
 * may belong to an older topic. Returns false when the source must be
 * reopened. */
static bool commit_applied(struct cps_ingest *r, int *backoff_ms)
{
	const struct cps_position *pos;
	char err[CPS_ERRSTR_SIZE];
	size_t n_pos, n_batches;
	int rc;

	if (!cps_ingest_acks_pending(r->acks) || !cps_ingest_topic_verified(r->identity))
		return true;
	r->acks_checked_ms = cps_mono_ms();
	if (!r->store && cps_store_open(r->store_conninfo, &r->store, err, sizeof(err)) != CPS_OK) {
		r->store = NULL;
		record_failure(r, "asking the store what it has applied", err);
		return true;
	}
	rc = cps_ingest_acks_release(r->acks, r->store, &pos, &n_pos, &n_batches, err, sizeof(err));
	if (rc != CPS_OK) {
		record_failure(r, "asking the store what it has applied", err);
		cps_store_close(r->store);
		r->store = NULL;
		return true;
	}
	if (!n_pos)
		return true;
	/* No retry loop here: the source may have broken since it delivered
	 * (a terminated walsender); its next poll finds out and reopens it. A
	 * position not committed now is covered by the next commit (commits are
	 * cumulative) or delivered again after a restart. */
	(void)backoff_ms;
	rc = cps_source_commit(r->source, pos, n_pos, err, sizeof(err));
	if (rc != CPS_OK) {
		record_failure(r, "source commit failed", err);
		return !(rc == CPS_ERR_FATAL && r->reopen);
	}
	atomic_fetch_add(&r->commits, 1);
	return true;
}

/* At stop: gives the store a little time to apply what was acknowledged, so
 * that a clean restart delivers little again. */
static void drain_applied(struct cps_ingest *r)
{
	int64_t until = cps_mono_ms() + ACK_DRAIN_MS;
	int backoff_ms = 100;

	while (r->source && cps_ingest_acks_pending(r->acks) && cps_mono_ms() < until) {
		struct timespec ts = {0, ACK_CHECK_MS * 1000000};

		if (!commit_applied(r, &backoff_ms))
			return;
		nanosleep(&ts, NULL);
	}
	if (cps_ingest_acks_pending(r->acks))
		cps_log_info(
		    FACILITY,
		    "source '%s' stops with %zu batch(es) not yet applied by the store: they come again from the source on the next start",
		    r->platform, cps_ingest_acks_pending(r->acks));
}

/* Processes a polled batch until it is acknowledged by the ingest topic and
 * queued for the store's acknowledgement, or stop. Returns false when the
 * source must be reopened. */
static bool run_batch(struct cps_ingest *r, const struct cps_source_batch *b, int *backoff_ms)
{
	char err[CPS_ERRSTR_SIZE];
	size_t n_pos;
	int rc;

	for (;;) {
		rc = process_batch(r, b, err, sizeof(err));
		if (rc == CPS_OK)
			break;
		record_failure(r, "batch failed, retrying", err);
		if (rc == CPS_ERR_FATAL && r->rk && rd_kafka_fatal_error(r->rk, NULL, 0)) {
			cps_ingest_producer_free(r);
			if (cps_ingest_producer_new(r, err, sizeof(err)) != CPS_OK)
				record_failure(r, "recreating the producer", err);
		}
		backoff_sleep(r, backoff_ms);
		if (atomic_load(&r->stop))
			return true; /* not committed: the batch comes again */
	}
	if (batch_positions(r, b, &n_pos, err, sizeof(err)) != CPS_OK ||
	    cps_ingest_acks_push(r->acks, r->positions, n_pos, r->produced, r->n_produced,
	                         (size_t)r->batch_accepted) < 0) {
		record_failure(r, "commit", "out of memory");
		return false;
	}
	atomic_fetch_add(&r->accepted, r->batch_accepted);
	atomic_fetch_add(&r->dead_letters, (int64_t)r->dead.n);
	if (r->link) {
		int64_t newest = atomic_load(&r->link->newest_effective_ms);

		atomic_fetch_add(&r->link->records, r->batch_accepted);
		atomic_fetch_add(&r->link->dead_letters, (int64_t)r->dead.n);
		atomic_store(&r->link->last_success_ms, cps_wall_ms());
		if (r->batch_newest_effective > newest)
			atomic_store(&r->link->newest_effective_ms, r->batch_newest_effective);
	}
	*backoff_ms = 100;
	return true;
}

void *cps_ingest_runner_main(void *arg)
{
	struct cps_ingest *r = arg;
	char err[CPS_ERRSTR_SIZE];
	int backoff_ms = 100;

	/* nothing goes into the ingest topic before cpsync has checked (and on a
	 * real cluster created) it */
	while (!cps_ingest_topic_verified(r->identity) && !atomic_load(&r->stop)) {
		struct timespec ts = {0, 50 * 1000000};

		nanosleep(&ts, NULL);
	}
	set_state(r, r->single_reader ? CPS_LINK_STARTING : CPS_LINK_RUNNING);
	while (!atomic_load(&r->stop)) {
		struct cps_source_batch batch;
		int poll_ms = r->poll_timeout_ms;
		int rc;

		if (cps_ingest_acks_pending(r->acks)) {
			if (cps_mono_ms() - r->acks_checked_ms >= ACK_CHECK_MS &&
			    !commit_applied(r, &backoff_ms)) {
				source_drop(r);
				continue;
			}
			if (cps_ingest_acks_pending(r->acks) >= ACK_MAX_PENDING ||
			    cps_ingest_acks_pending_events(r->acks) >=
			        ACK_WINDOW_BATCHES * r->batch_max) {
				/* the store is behind: stop reading until it catches up (what
				 * a crash makes the source deliver again stays small) */
				struct timespec ts = {0, ACK_CHECK_MS * 1000000};

				nanosleep(&ts, NULL);
				continue;
			}
			if (poll_ms > ACK_CHECK_MS)
				poll_ms = ACK_CHECK_MS;
		}

		if (atomic_exchange(&r->restart, false)) {
			cps_log_info(FACILITY, "source '%s' restarting: closing and reopening it",
			             r->platform);
			if (r->source)
				source_drop(r);
			set_state(r, CPS_LINK_STARTING);
			atomic_fetch_add(&r->restarts, 1);
			continue;
		}
		if (cps_pause_on(&r->pause)) {
			struct timespec ts = {0, 50 * 1000000};

			set_state(r, CPS_LINK_PAUSED);
			cps_ingest_offsets_serve(r, drain_applied, source_drop);
			nanosleep(&ts, NULL);
			continue;
		}
		if (r->single_reader && !leader_hold(r))
			continue;
		if (!r->source) {
			rc = r->reopen ? r->reopen(r->reopen_arg, &r->source, err, sizeof(err))
			               : cps_seterr(CPS_ERR_INVALID, err, sizeof(err),
			                            "no way to reopen the source");
			if (rc != CPS_OK) {
				r->source = NULL;
				record_failure(r, "reopening the source failed", err);
				backoff_sleep(r, &backoff_ms);
				continue;
			}
		}
		rc = cps_source_poll(r->source, &batch, r->batch_max, poll_ms, err, sizeof(err));
		if (rc != CPS_OK) {
			record_failure(r, "poll failed", err);
			if (rc == CPS_ERR_FATAL && r->reopen)
				source_drop(r);
			backoff_sleep(r, &backoff_ms);
			continue;
		}
		update_lag(r);
		if (batch.n == 0) {
			set_state(r, CPS_LINK_RUNNING); /* the source answers again */
			continue;
		}
		if (!run_batch(r, &batch, &backoff_ms)) {
			source_drop(r);
			continue;
		}
		if (!atomic_load(&r->stop))
			set_state(r, CPS_LINK_RUNNING);
		update_lag(r);
	}
	drain_applied(r);
	set_state(r, CPS_LINK_STOPPED);
	return NULL;
}
