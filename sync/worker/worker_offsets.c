/*
 * The ingest offsets of a reconcile worker: a rebalance assigns partitions at
 * the offsets stored in PostgreSQL with the states (never Kafka's committed
 * ones); a batch commits its next offsets, each with the fingerprint of the
 * message before it (the ingest topic's identity, ingest_topic.h).
 */
#include "worker/worker_int.h"
#include "base/log.h"

#include <stdlib.h>

static int assign_stored(struct worker *w, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
	char errstr[CPS_ERRSTR_SIZE];
	int backoff = BACKOFF_MIN_MS;
	int n = parts->cnt;
	int32_t *pn = calloc((size_t)n + 1, sizeof(*pn));
	int64_t *off = calloc((size_t)n + 1, sizeof(*off));
	int loaded = 0;

	if (!pn || !off)
		goto cleanup;
	for (int i = 0; i < n; i++)
		pn[i] = parts->elems[i].partition;
	while (!loaded && !stopping(w)) {
		if (cps_worker_store_ready(w) != CPS_OK)
			break;
		/* All partitions are of the one ingest topic we subscribe to. */
		if (cps_store_load_offsets(w->store, w->pool->conf.ingest_topic, pn, off, (size_t)n,
		                           errstr, sizeof(errstr)) == CPS_OK) {
			loaded = 1;
			break;
		}
		cps_worker_fail(w, "loading the stored offsets", errstr);
		cps_worker_store_drop(w);
		nap(w, backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	if (!loaded)
		goto cleanup;
	for (int i = 0; i < n; i++)
		parts->elems[i].offset = off[i] >= 0 ? off[i] : RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, parts);
	cps_log_info(FAC, "worker %d assigned %d partition(s) of %s at the stored offsets", w->idx,
	             n, w->pool->conf.ingest_topic);
cleanup:
	free(pn);
	free(off);
	return loaded ? CPS_OK : CPS_ERR_RETRIABLE;
}

/* Ready when idle: the link is RUNNING once every worker has joined the
 * group and holds its assignment, or none because another instance does. */
static void joined(struct worker *w)
{
	struct cps_workers *p = w->pool;

	if (w->joined)
		return;
	w->joined = 1;
	if (atomic_fetch_add(&p->joined, 1) + 1 == p->n && p->conf.link && !atomic_load(&p->paused))
		cps_link_set_state(p->conf.link, CPS_LINK_RUNNING);
}

void cps_worker_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct worker *w = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		w->revoked = 1; /* anything collected before is from an older assignment */
		if (assign_stored(w, rk, parts) == CPS_OK) {
			if (w->paused) /* a paused worker's new partitions wait too */
				rd_kafka_pause_partitions(rk, parts);
			joined(w);
		}
	} else {
		w->revoked = 1;
		rd_kafka_assign(rk, NULL);
	}
}

/* Next offsets of the batch's partitions, each with the fingerprint of the
 * message before it (the ingest topic's identity, ingest_topic.h). */
size_t cps_worker_batch_offsets(struct cps_workers *p, struct item *items, size_t n,
                                struct cps_store_offset *offs)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int32_t part = items[i].m->partition;
		int64_t next = items[i].m->offset + 1;
		size_t j;

		for (j = 0; j < k; j++)
			if (offs[j].partition == part)
				break;
		if (j == k) {
			offs[k].topic = p->conf.ingest_topic;
			offs[k].partition = part;
			offs[k].next_offset = next;
			k++;
		} else if (next > offs[j].next_offset) {
			offs[j].next_offset = next;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_message_t *m = items[i].m;

		for (size_t j = 0; j < k; j++)
			if (offs[j].partition == m->partition &&
			    offs[j].next_offset == m->offset + 1)
				offs[j].last_fingerprint =
				    cps_ingest_fingerprint(m->key, m->key_len, m->payload, m->len);
	}
	return k;
}

void cps_worker_commit_for_lag(struct worker *w, const struct cps_store_offset *offs, size_t k)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)k);

	if (!l)
		return;
	for (size_t i = 0; i < k; i++)
		rd_kafka_topic_partition_list_add(l, offs[i].topic, offs[i].partition)->offset =
		    offs[i].next_offset;
	rd_kafka_commit(w->rk, l, 1); /* async, informational only */
	rd_kafka_topic_partition_list_destroy(l);
}
