/*
 * The ingest offsets of a reconcile worker: a rebalance assigns partitions at
 * the offsets stored in PostgreSQL with the states (never Kafka's committed
 * ones); a batch commits its next offsets, each with the fingerprint of the
 * message before it (the ingest topic's identity, ingest_topic.h). And the
 * stored offsets shown next to the topic's log ends (cps_workers_offsets).
 */
#include "worker/worker_int.h"
#include "base/log.h"
#include "connectors/connector.h"
#include "kafka/client.h"

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
	if (atomic_fetch_add(&p->joined, 1) + 1 == p->n && p->conf.link && !cps_pause_on(&p->pause))
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
		cps_state_cache_clear(w->cache); /* keys of partitions no longer ours */
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

/* The ingest topic's partitions and their log ends (lo, hi) into `out`,
 * their offsets left -1. */
static int ingest_partitions(struct cps_workers *p, rd_kafka_t *rk, struct cps_offsets *out,
                             char *errstr, size_t errstr_size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, p->conf.ingest_topic, NULL);
	rd_kafka_resp_err_t err =
	    rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 10000) : rd_kafka_last_error();
	int rc = CPS_OK;

	if (!err && md->topic_cnt == 1 && md->topics[0].err)
		err = md->topics[0].err;
	for (int i = 0; !err && i < md->topics[0].partition_cnt && rc == CPS_OK; i++) {
		struct cps_offset_entry e;
		int64_t lo = -1, hi = -1;

		cps_offset_entry_init(&e, "partition", p->conf.ingest_topic);
		e.partition = md->topics[0].partitions[i].id;
		err = rd_kafka_query_watermark_offsets(rk, p->conf.ingest_topic, e.partition, &lo,
		                                       &hi, 10000);
		e.end = hi;
		e.lag = hi - lo; /* until a stored offset says more */
		if (!err && cps_offsets_add(out, &e) != CPS_OK)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	if (err)
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "reading the partitions of '%s' failed: %s", p->conf.ingest_topic,
		                rd_kafka_err2str(err));
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	return rc;
}

int cps_workers_offsets(struct cps_workers *p, struct cps_offsets *out, char *errstr,
                        size_t errstr_size)
{
	rd_kafka_conf_t *conf =
	    cps_kafka_conf_new(p->conf.bootstrap, p->conf.kafka_properties, errstr, errstr_size);
	rd_kafka_t *rk = conf ? cps_kafka_client_new(RD_KAFKA_PRODUCER, conf,
	                                             "kafka offsets client", errstr, errstr_size)
	                      : NULL;
	struct cps_store *store = NULL;
	size_t first = out->n;
	int32_t *pn = NULL;
	int64_t *off = NULL;
	int rc;

	if (!rk)
		return CPS_ERR_RETRIABLE;
	rc = ingest_partitions(p, rk, out, errstr, errstr_size);
	rd_kafka_destroy(rk);
	if (rc == CPS_OK)
		rc = cps_store_open(p->conf.conninfo, &store, errstr, errstr_size);
	if (rc == CPS_OK && out->n > first) {
		size_t n = out->n - first;

		pn = calloc(n, sizeof(*pn));
		off = calloc(n, sizeof(*off));
		if (!pn || !off)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		for (size_t i = 0; rc == CPS_OK && i < n; i++)
			pn[i] = out->v[first + i].partition;
		if (rc == CPS_OK)
			rc = cps_store_load_offsets(store, p->conf.ingest_topic, pn, off, n, errstr,
			                            errstr_size);
		for (size_t i = 0; rc == CPS_OK && i < n; i++) {
			struct cps_offset_entry *e = &out->v[first + i];

			e->offset = off[i];
			if (off[i] >= 0 && e->end >= 0)
				e->lag = e->end > off[i] ? e->end - off[i] : 0;
		}
	}
	cps_store_close(store);
	free(pn);
	free(off);
	return rc;
}
