/*
 * The operator's dead-letter replay (cps_ingest_replay): one stored message
 * run again through the runner's decode / validate / produce path, on a
 * second path with its own codecs and producer so that any thread may
 * replay while the runner runs, and waited for until the store applied it.
 */
#include "ingest/ingest_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "model/entity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPLAY_APPLY_MS 30000 /* a replay waits this long for the store */

/* The replay path: a struct cps_ingest without a thread or a source, with
 * the runner's configuration and its own codecs and producer.
 * @locks r->replay_lock MUST be held */
static int replay_path_new(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	struct cps_ingest *p = cps_ingest_alloc(r->platform, r->framing, r->catalog, r->registry);
	int rc;

	if (!p)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	p->limits = r->limits;
	p->has_limits = r->has_limits;
	p->flush_timeout_ms = r->flush_timeout_ms < 10000 ? r->flush_timeout_ms : 10000;
	p->identity = r->identity;
	if (cps_ingest_set_endpoints(p, r->ingest_topic, NULL, r->store_conninfo, r->bootstrap) <
	        0 ||
	    cps_settings_copy(&p->props, &r->props) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	rc = cps_ingest_path_open(p, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	r->replay = p;
	return CPS_OK;

out_free:
	cps_ingest_runner_free(p);
	return rc;
}

/* A replayed dead letter counts as replayed only once the store has it (as a
 * source's position, ingest_ack.h): the ingest topic alone may still lose
 * it. On a timeout the dead letter stays as it was; replaying it again is
 * harmless (applying an event twice changes nothing). */
static int replay_wait_applied(struct cps_ingest *p, char *errstr, size_t errstr_size)
{
	int64_t until = cps_mono_ms() + REPLAY_APPLY_MS;
	const struct cps_position *pos;
	size_t n_pos, n_batches = 0;
	int rc;

	cps_ingest_acks_clear(p->acks);
	if (cps_ingest_acks_push(p->acks, NULL, 0, p->produced, p->n_produced, 1) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	while (!n_batches) {
		if (cps_mono_ms() > until)
			return cps_seterr(
			    CPS_ERR_RETRIABLE, errstr, errstr_size,
			    "the replayed message is on the ingest topic but the store has not applied it within %d ms",
			    REPLAY_APPLY_MS);
		if (cps_ingest_topic_verified(p->identity)) {
			if (!p->store) {
				rc = cps_store_open(p->store_conninfo, &p->store, errstr,
				                    errstr_size);
				if (rc != CPS_OK) {
					p->store = NULL;
					return rc == CPS_ERR_INVALID ? CPS_ERR_RETRIABLE : rc;
				}
			}
			rc = cps_ingest_acks_release(p->acks, p->store, &pos, &n_pos, &n_batches,
			                             errstr, errstr_size);
			if (rc != CPS_OK) {
				cps_store_close(p->store);
				p->store = NULL;
				return rc;
			}
		}
		if (!n_batches) {
			struct timespec ts = {0, ACK_CHECK_MS * 1000000};

			nanosleep(&ts, NULL);
		}
	}
	return CPS_OK;
}

int cps_ingest_replay(struct cps_ingest *r, const struct cps_ingest_replay_msg *msg, char *reason,
                      size_t reason_size, char *errstr, size_t errstr_size)
{
	struct cps_source_msg m;
	struct cps_ingest *p;
	rd_kafka_resp_err_t err;
	char fatal[256];
	int rc;

	memset(&m, 0, sizeof(m));
	m.entity = msg->entity && *msg->entity ? msg->entity : NULL;
	m.key = msg->key;
	m.key_len = msg->key ? msg->key_len : 0;
	m.value = msg->value;
	m.value_len = msg->value ? msg->value_len : 0;
	m.source_ts_ms = -1;
	snprintf(m.pos.stream, sizeof(m.pos.stream), "%s", "dead-letter replay");
	m.pos.offset = -1;
	snprintf(m.origin, sizeof(m.origin), "%s", msg->origin ? msg->origin : "");

	pthread_mutex_lock(&r->replay_lock);
	if (!r->replay) {
		rc = replay_path_new(r, errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_unlock;
	}
	p = r->replay;
	/* what an earlier failed replay left in flight does not count now */
	rd_kafka_flush(p->rk, p->flush_timeout_ms);
	p->dr_failed = 0;
	p->dr_first_error[0] = '\0';
	p->n_produced = 0;
	p->batch_accepted = 0;
	p->batch_newest_effective = -1;
	cps_deadletters_reset(&p->dead);
	rc = cps_ingest_message(p, &m, cps_wall_ms(), errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_unlock;
	if (p->dead.n) {
		snprintf(reason, reason_size, "%s", p->dead.text[0].reason);
		rc = CPS_ERR_INVALID;
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		           "the message is still a dead letter");
		goto out_unlock;
	}
	err = rd_kafka_flush(p->rk, p->flush_timeout_ms);
	if (rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "replay producer fatal error: %s", fatal);
		cps_ingest_producer_free(p);
		if (cps_ingest_producer_new(p, fatal, sizeof(fatal)) != CPS_OK)
			cps_log_warn(FACILITY, "recreating the replay producer of '%s': %s",
			             r->platform, fatal);
		goto out_unlock;
	}
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "replay flush timed out after %d ms", p->flush_timeout_ms);
		goto out_unlock;
	}
	if (p->dr_failed) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "replay failed: %s",
		                p->dr_first_error);
		goto out_unlock;
	}
	rc = replay_wait_applied(p, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_unlock;
	atomic_fetch_add(&r->accepted, p->batch_accepted);
	if (r->link)
		atomic_fetch_add(&r->link->records, p->batch_accepted);
	rc = CPS_OK;
out_unlock:
	pthread_mutex_unlock(&r->replay_lock);
	return rc;
}
