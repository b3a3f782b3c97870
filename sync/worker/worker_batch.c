/*
 * One batch of a reconcile worker: the ingest events decoded (undecodable
 * ones become dead letters), applied (worker_apply.c) and committed with
 * their next offsets in one store transaction; a store error re-applies the
 * SAME batch from freshly loaded states. Then the figures and the publisher.
 */
#include "worker/worker_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "observe/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int add_dead_letters(struct worker *w, struct item *items, size_t n, char *errstr,
                            size_t errstr_size)
{
	struct cps_dead_letter *dl = calloc(n, sizeof(*dl));
	size_t k = 0;
	int64_t now = cps_wall_ms();
	int rc;

	if (!dl)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!items[i].skip)
			continue;
		dl[k].platform =
		    items[i].ok && items[i].ev.platform[0] ? items[i].ev.platform : "ingest";
		dl[k].origin = items[i].origin;
		dl[k].entity = items[i].ok && items[i].ev.entity[0] ? items[i].ev.entity : NULL;
		dl[k].reason = items[i].reason ? items[i].reason : "refused";
		dl[k].raw = items[i].m->payload;
		dl[k].raw_len = items[i].m->len;
		dl[k].raw_key = items[i].m->key;
		dl[k].raw_key_len = items[i].m->key_len;
		dl[k].received_ms = now;
		k++;
	}
	rc = k ? cps_store_add_dead_letters(w->store, dl, k, errstr, errstr_size) : CPS_OK;
	free(dl);
	return rc;
}

/* The "reconcile" line of /status after a committed batch. */
static void link_committed(struct cps_link *l, size_t applied, size_t dead, int64_t newest_eff)
{
	int64_t prev = atomic_load(&l->newest_effective_ms);

	atomic_fetch_add(&l->records, (int64_t)applied);
	atomic_fetch_add(&l->dead_letters, (int64_t)dead);
	atomic_store(&l->last_success_ms, cps_wall_ms());
	while (newest_eff > prev &&
	       !atomic_compare_exchange_weak(&l->newest_effective_ms, &prev, newest_eff))
		;
	if (atomic_load(&l->state) != CPS_LINK_RUNNING)
		cps_link_set_state(l, CPS_LINK_RUNNING);
}

/* A batch that did not commit. A serialization failure is another writer
 * at work on one of its keys (a policy alert that two workers' batches both
 * touch, a steward's resolution, a partition that moved): the batch is
 * loaded and applied again, and only when that keeps failing is it a
 * failure of the link. */
static void batch_failed(struct worker *w, const char *errstr, int *conflicts)
{
	if (cps_store_serialization_failed(w->store) && ++*conflicts <= QUIET_CONFLICTS) {
		cps_log_info(FAC,
		             "worker %d: a key state of the batch changed under it; applying "
		             "the batch again",
		             w->idx);
		return;
	}
	cps_worker_fail(w, "batch", errstr);
}

/* cpsync_reconcile_event_age_seconds of a committed batch's events: from
 * the ingest message's timestamp (its produce) to `began_ms`. */
static void observe_ages(const struct item *items, size_t n, int64_t began_ms)
{
	for (size_t i = 0; i < n; i++) {
		int64_t ts = rd_kafka_message_timestamp(items[i].m, NULL);

		if (ts > 0)
			cps_histogram_observe(&cps_hist_event_age,
			                      (double)(began_ms - ts) / 1000.0);
	}
}

void cps_worker_process_batch(struct worker *w, rd_kafka_message_t **msgs, size_t n)
{
	struct cps_workers *p = w->pool;
	struct item *items = calloc(n, sizeof(*items));
	struct cps_store_offset *offs = calloc(n, sizeof(*offs));
	char errstr[CPS_ERRSTR_SIZE];
	int backoff = BACKOFF_MIN_MS, rc, attempts = 0, conflicts = 0;
	size_t n_offs, n_dead = 0;
	int64_t newest_eff = 0, opened = 0;
	uint64_t xid = 0; /* the committing transaction: the writer of the states kept */
	struct attempt a;
	struct timespec start;
	int64_t began_ms = cps_wall_ms();

	clock_gettime(CLOCK_MONOTONIC, &start);
	memset(&a, 0, sizeof(a));
	if (!items || !offs) {
		cps_worker_fail(w, "batch", "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		struct item *it = &items[i];

		it->m = msgs[i];
		snprintf(it->origin, sizeof(it->origin), "ingest:%s/%" PRId32 "@%" PRId64,
		         rd_kafka_topic_name(it->m->rkt), it->m->partition, it->m->offset);
		if (cps_ingest_event_decode_bytes(w->ec, it->m->payload, it->m->len, &it->ev,
		                                  errstr, sizeof(errstr)) != CPS_OK) {
			cps_log_warn(FAC, "dead-lettered %s: %s", it->origin, errstr);
			cps_worker_item_refuse(it, errstr);
			continue;
		}
		it->ok = 1;
		if (it->ev.effective_ms > newest_eff)
			newest_eff = it->ev.effective_ms;
	}
	n_offs = cps_worker_batch_offsets(p, items, n, offs);

	for (;;) {
		if (stopping(w))
			goto cleanup; /* not committed: the events stay after the stored offsets */
		if (cps_worker_store_ready(w) != CPS_OK)
			goto cleanup;
		attempts++;
		opened = 0;
		rc = cps_worker_attempt_build(w, items, n, &a, &opened, errstr, sizeof(errstr));
		if (rc == CPS_ERR_INVALID) {
			/* An event was refused: apply the batch again without it. */
			cps_worker_attempt_release(&a);
			continue;
		}
		if (rc == CPS_OK && w->pool->conf.policy &&
		    (rc = cps_worker_policy_pass(w, &a, errstr, sizeof(errstr))) == CPS_OK)
			rc = cps_worker_policy_alerts(w, &a, errstr, sizeof(errstr));
		if (rc == CPS_OK)
			rc = add_dead_letters(w, items, n, errstr, sizeof(errstr));
		if (rc == CPS_OK) {
			struct cps_store_batch b = {
			    .states = a.states,
			    .n_states = a.n_states,
			    .emits = a.emits,
			    .n_emits = a.n_emits,
			    .conflicts = a.conflicts,
			    .n_conflicts = a.n_conflicts,
			    .audits = a.audits,
			    .n_audits = a.n_audits,
			    .offsets = offs,
			    .n_offsets = n_offs,
			    .policy = a.policy,
			    .n_policy = a.n_policy,
			    .tstates = a.tstates,
			    .n_tstates = a.n_tstates,
			};

			rc = cps_store_commit_batch(w->store, &b, &xid, errstr, sizeof(errstr));
		}
		if (rc == CPS_OK)
			break;
		/* States were not committed: reload them and apply the SAME batch. */
		cps_worker_attempt_release(&a);
		batch_failed(w, errstr, &conflicts);
		atomic_fetch_add(&p->retries, 1);
		if (rc == CPS_ERR_RETRIABLE || cps_store_ping(w->store, errstr, sizeof(errstr)))
			cps_worker_store_drop(w);
		nap(w, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	cps_worker_attempt_keep(w, &a, xid);
	for (size_t i = 0; i < n; i++)
		n_dead += items[i].skip != 0;
	atomic_fetch_add(&p->batches, 1);
	atomic_fetch_add(&p->events, (long long)n);
	atomic_fetch_add(&p->emitted, (long long)a.n_emits);
	atomic_fetch_add(&p->dead_letters, (long long)n_dead);
	atomic_fetch_add(&p->conflicts, (long long)opened);
	cps_histogram_observe_since(&cps_hist_reconcile_batch, &start); /* committed batches */
	observe_ages(items, n, began_ms);
	if (p->conf.link)
		link_committed(p->conf.link, n - n_dead, n_dead, newest_eff);
	cps_log_debug(CPS_DBG_RECONCILE, FAC,
	              "worker %d committed %zu event(s), %zu version(s), %zu dead letter(s)",
	              w->idx, n, a.n_emits, n_dead);
	if (a.n_emits)
		cps_publisher_wake(p->conf.publisher);
	cps_worker_commit_for_lag(w, offs, n_offs);
cleanup:
	cps_worker_attempt_release(&a);
	for (size_t i = 0; items && i < n; i++) {
		if (items[i].ok)
			cps_ingest_event_release(&items[i].ev);
		free(items[i].reason);
	}
	free(items);
	free(offs);
}
