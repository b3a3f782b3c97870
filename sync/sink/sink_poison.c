/*
 * Poison records of a sink and their replay. A record the target refuses
 * is delivered alone, tried again a bounded number of times after an
 * exponential backoff with jitter, then goes to the store's dead letters
 * (kind "sink", the sink's link, the unified key, version and bytes) and
 * the sink goes on. Trouble with the target (connection lost) is no poison:
 * the runner reopens and shows DEGRADED. A replay re-delivers a sink dead
 * letter's unified event on the runner's own thread.
 */
#include "sink/sink_runner_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/pii.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPLAY_TAKE_MS 30000

int cps_sink_dead_letter(struct cps_sink_runner *r, const struct cps_source_msg *m, int ei,
                         int64_t version, const char *reason, char *errstr, size_t errstr_size)
{
	char origin[CPS_ORIGIN_MAX + 8], masked[64] = "";
	struct cps_dead_letter dl;
	int rc;

	snprintf(origin, sizeof(origin), "sink:%s", m->origin);
	dl = (struct cps_dead_letter){
	    .platform = r->platform,
	    .origin = origin,
	    .entity = ei >= 0 ? cps_entities[ei] : NULL,
	    .reason = reason,
	    .raw = m->value,
	    .raw_len = m->value_len,
	    .raw_key = m->key,
	    .raw_key_len = m->key_len,
	    .kind = "sink",
	    .link = r->link_name,
	    .version = version,
	};
	rc = cps_sink_store(r, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_store_add_dead_letters(r->store, &dl, 1, errstr, errstr_size);
	if (rc != CPS_OK) {
		cps_sink_store_failed(r);
		return rc;
	}
	if (m->key && m->key_len) {
		char key[256];

		snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
		cps_mask_national_id(key, masked, sizeof(masked));
	}
	cps_log_warn(FACILITY, "sink '%s': dead letter '%s' (key '%s' v%" PRId64 "): %s",
	             r->platform, origin, masked, version, reason);
	stat_add(r, &r->stats.dead_letters, 1);
	if (r->link)
		atomic_fetch_add(&r->link->dead_letters, 1);
	return CPS_OK;
}

/* Sleeps the backoff before attempt `attempt` (1, 2, ...): the base doubled
 * per attempt up to the cap, a random half of it jitter. false when the
 * runner is told to stop. */
static bool backoff(struct cps_sink_runner *r, int attempt)
{
	int64_t delay = r->retry_backoff_ms, until;

	for (int i = 1; i < attempt && delay < r->retry_backoff_max_ms; i++)
		delay *= 2;
	if (delay > r->retry_backoff_max_ms)
		delay = r->retry_backoff_max_ms;
	r->jitter ^= r->jitter << 13;
	r->jitter ^= r->jitter >> 7;
	r->jitter ^= r->jitter << 17;
	delay = delay / 2 + (int64_t)(r->jitter % (uint64_t)(delay / 2 + 1));
	for (until = cps_mono_ms() + delay; cps_mono_ms() < until;) {
		if (atomic_load(&r->stop))
			return false;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	return true;
}

/* Puts r->recs[k] alone and flushes it. */
static int deliver_one(struct cps_sink_runner *r, size_t k, char *errstr, size_t errstr_size)
{
	size_t accepted = 0;
	int rc = cps_sink_open_sink(r, errstr, errstr_size);

	if (rc == CPS_OK)
		rc = cps_sink_put(r->sink, &r->recs[k], 1, &accepted, errstr, errstr_size);
	if (rc == CPS_OK && accepted != 1)
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "sink accepted no record");
	if (rc == CPS_OK)
		rc = cps_sink_flush(r->sink, CPS_SINK_FLUSH_TIMEOUT_MS, errstr, errstr_size);
	return rc;
}

int cps_sink_deliver_isolated(struct cps_sink_runner *r, const struct cps_source_batch *b, size_t n,
                              char *errstr, size_t errstr_size)
{
	char why[CPS_ERRSTR_SIZE];

	for (size_t k = 0; k < n; k++) {
		const struct out_rec *o = &r->out[r->out_of[k]];
		int attempt = 0, rc;

		for (;;) {
			rc = deliver_one(r, k, why, sizeof(why));
			if (rc == CPS_OK || !is_refusal(rc))
				break;
			/* what the refused attempt left in the sink is discarded */
			cps_sink_close(r->sink);
			r->sink = NULL;
			if (attempt++ >= r->retry_attempts)
				break;
			stat_add(r, &r->stats.retries, 1);
			if (!backoff(r, attempt))
				return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
				                  "sink '%s' stopping", r->platform);
		}
		if (rc == CPS_OK) {
			stat_add(r, &r->stats.sent, 1);
			if (r->link) {
				atomic_fetch_add(&r->link->records, 1);
				atomic_store(&r->link->last_success_ms, cps_wall_ms());
			}
			if (cps_sink_guard_note(r, k) < 0)
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                  "out of memory");
			continue;
		}
		if (!is_refusal(rc))
			return cps_seterr(rc, errstr, errstr_size, "%s", why);
		rc = cps_sink_dead_letter(r, &b->msgs[o->msg], o->ei, o->v, why, errstr,
		                          errstr_size);
		if (rc != CPS_OK)
			return rc;
		drop_add(r, &r->stats.refused, CPS_DROP_REFUSED);
	}
	return CPS_OK;
}

/* ---- replay ---------------------------------------------------------------- */

int cps_sink_runner_replay(struct cps_sink_runner *r, const char *entity, const uint8_t *raw,
                           size_t raw_len, char *reason, size_t reason_size, char *errstr,
                           size_t errstr_size)
{
	struct sink_replay *q;
	struct timespec until;
	int rc = 0;

	reason[0] = '\0';
	if (cps_pause_on(&r->pause))
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "sink '%s' is paused: resume it first", r->platform);
	if (!entity || !raw || !raw_len)
		return cps_seterr(CPS_ERR_INVALID, reason, reason_size,
		                  "the dead letter has no entity or no unified event");
	q = calloc(1, sizeof(*q));
	if (!q || !(q->raw = malloc(raw_len))) {
		free(q);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	snprintf(q->entity, sizeof(q->entity), "%s", entity);
	memcpy(q->raw, raw, raw_len);
	q->raw_len = raw_len;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += REPLAY_TAKE_MS / 1000;
	pthread_mutex_lock(&r->replay_lock);
	if (r->replay) {
		pthread_mutex_unlock(&r->replay_lock);
		free(q->raw);
		free(q);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "sink '%s' is replaying another dead letter", r->platform);
	}
	r->replay = q;
	while (!q->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&r->replay_cond, &r->replay_lock, &until);
	if (!q->taken) /* withdrawn: the runner never saw it */
		r->replay = NULL;
	while (q->taken && !q->done) /* being delivered: wait for its outcome */
		pthread_cond_wait(&r->replay_cond, &r->replay_lock);
	pthread_mutex_unlock(&r->replay_lock);
	if (!q->done)
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "sink '%s' did not take the replay within %d s", r->platform,
		                REPLAY_TAKE_MS / 1000);
	else if (q->rc == CPS_ERR_INVALID)
		rc = cps_seterr(CPS_ERR_INVALID, reason, reason_size, "%s", q->reason);
	else if (q->rc != CPS_OK)
		rc = cps_seterr(q->rc, errstr, errstr_size, "%s", q->err);
	else
		rc = CPS_OK;
	free(q->raw);
	free(q);
	return rc;
}

/* Builds the record of the replayed event into r->recs[0]; *skip when there
 * is nothing to send (an echo, not allowed, or superseded). */
static int replay_build(struct cps_sink_runner *r, struct sink_replay *q, bool *skip)
{
	int ei = cps_entity_index(q->entity);
	struct cps_sink_event ev;
	size_t n = 1;
	int rc;

	*skip = false;
	if (ei < 0 || !r->allow[ei])
		return cps_seterr(CPS_ERR_INVALID, q->reason, sizeof(q->reason),
		                  "sink '%s' sends no '%s'", r->platform, q->entity);
	cps_arena_reset(&r->values);
	rc = cps_sink_decode_event(r, ei, q->raw, q->raw_len, &ev, q->err, sizeof(q->err));
	if (rc != CPS_OK)
		return cps_seterr(CPS_ERR_INVALID, q->reason, sizeof(q->reason),
		                  "undecodable unified event: %s", q->err);
	rc = cps_sink_build_record(r, ei, &ev, &r->out[0], &r->recs[0], skip, q->err,
	                           sizeof(q->err));
	if (rc == CPS_ERR_INVALID)
		return cps_seterr(rc, q->reason, sizeof(q->reason), "%s", q->err);
	if (rc != CPS_OK || *skip)
		return rc;
	r->out[0].msg = 0;
	r->out_of[0] = 0;
	rc = cps_sink_guard_filter(r, &n, q->err, sizeof(q->err));
	*skip = rc == CPS_OK && n == 0;
	return rc;
}

/* Delivers a replay: what the runner put before is flushed first. */
static int replay_deliver(struct cps_sink_runner *r, struct sink_replay *q, int64_t *last_flush)
{
	bool skip = false;
	int rc = cps_sink_flush_and_commit(r, last_flush, q->err, sizeof(q->err));

	if (rc == CPS_OK)
		rc = replay_build(r, q, &skip);
	if (rc != CPS_OK || skip)
		return rc;
	rc = deliver_one(r, 0, q->err, sizeof(q->err));
	if (rc == CPS_OK) {
		stat_add(r, &r->stats.sent, 1);
		if (r->link) {
			atomic_fetch_add(&r->link->records, 1);
			atomic_store(&r->link->last_success_ms, cps_wall_ms());
		}
		if (cps_sink_guard_note(r, 0) < 0)
			return cps_seterr(CPS_ERR_FATAL, q->err, sizeof(q->err), "out of memory");
		return cps_sink_guard_save(r, q->err, sizeof(q->err));
	}
	if (is_refusal(rc))
		snprintf(q->reason, sizeof(q->reason), "%s", q->err);
	cps_sink_close(r->sink); /* discard what the failed delivery left */
	r->sink = NULL;
	return rc;
}

void cps_sink_serve_replay(struct cps_sink_runner *r, int64_t *last_flush)
{
	struct sink_replay *q;

	pthread_mutex_lock(&r->replay_lock);
	q = r->replay;
	if (q) {
		q->taken = true;
		r->replay = NULL;
	}
	pthread_mutex_unlock(&r->replay_lock);
	if (!q)
		return;
	q->rc = replay_deliver(r, q, last_flush);
	pthread_mutex_lock(&r->replay_lock);
	q->done = true;
	pthread_cond_broadcast(&r->replay_cond);
	pthread_mutex_unlock(&r->replay_lock);
}

void cps_sink_refuse_replay(struct cps_sink_runner *r, const char *why)
{
	pthread_mutex_lock(&r->replay_lock);
	if (r->replay) {
		r->replay->taken = true;
		r->replay->rc = CPS_ERR_RETRIABLE;
		snprintf(r->replay->err, sizeof(r->replay->err), "%s", why);
		r->replay->done = true;
		r->replay = NULL;
		pthread_cond_broadcast(&r->replay_cond);
	}
	pthread_mutex_unlock(&r->replay_lock);
}
