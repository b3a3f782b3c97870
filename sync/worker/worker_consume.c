/*
 * A reconcile worker's consumer and thread: one member of the group on the
 * ingest topic (assigned at the stored offsets, worker_offsets.c), collecting
 * up to store.batch_size messages or store.batch_ms, then one batch
 * (worker_batch.c). A rebalance drops what was collected for the old one.
 */
#include "worker/worker_int.h"
#include "base/clock.h"
#include "base/log.h"
#include "kafka/broker.h"

#include <stdlib.h>

static void drop_msgs(rd_kafka_message_t **msgs, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		rd_kafka_message_destroy(msgs[i]);
	*n = 0;
}

void cps_worker_set_paused(struct worker *w, bool paused)
{
	struct cps_workers *p = w->pool;
	rd_kafka_topic_partition_list_t *parts = NULL;

	if (!rd_kafka_assignment(w->rk, &parts) && parts) {
		if (paused)
			rd_kafka_pause_partitions(w->rk, parts);
		else
			rd_kafka_resume_partitions(w->rk, parts);
		rd_kafka_topic_partition_list_destroy(parts);
	}
	w->paused = paused;
	cps_log_info(FAC, "worker %d %s", w->idx, paused ? "paused" : "resumed");
	if (!p->conf.link)
		return;
	if (paused)
		cps_link_set_state(p->conf.link, CPS_LINK_PAUSED);
	else if (atomic_load(&p->joined) == p->n)
		cps_link_set_state(p->conf.link, CPS_LINK_RUNNING);
}

/* While the pool is paused: polls (rebalances, group membership) with the
 * partitions paused. A message that still comes (fetched before the pause)
 * is not applied: its partition is sought back to it. */
static void hold_paused(struct worker *w)
{
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_error_t *e;
	rd_kafka_message_t *m;

	if (!w->paused)
		cps_worker_set_paused(w, true);
	m = rd_kafka_consumer_poll(w->rk, 100);
	w->revoked = 0;
	if (!m)
		return;
	if (!m->err && m->rkt) {
		l = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)
		    ->offset = m->offset;
		e = rd_kafka_seek_partitions(w->rk, l, 5000);
		if (e) {
			cps_log_warn(FAC, "worker %d: seek back while paused: %s", w->idx,
			             rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
		}
		rd_kafka_topic_partition_list_destroy(l);
	}
	rd_kafka_message_destroy(m);
}

void *cps_worker_run(void *arg)
{
	struct worker *w = arg;
	struct cps_workers *p = w->pool;
	size_t cap = p->conf.batch_size ? p->conf.batch_size : 1000;
	rd_kafka_message_t **msgs = calloc(cap, sizeof(*msgs));
	size_t n = 0;

	if (!msgs) {
		cps_worker_fail(w, "batch", "out of memory");
		return NULL;
	}
	/* stored offsets of an older incarnation of the topic are not to be trusted */
	while (!cps_ingest_topic_verified(p->conf.identity) && !stopping(w))
		nap(w, 50);
	cps_worker_store_ready(w);
	while (!stopping(w)) {
		int64_t deadline = 0;

		if (cps_pause_on(&p->pause)) {
			hold_paused(w);
			continue;
		}
		if (w->paused)
			cps_worker_set_paused(w, false);
		w->revoked = 0;
		while (n < cap && !stopping(w) && !cps_pause_on(&p->pause)) {
			int timeout = 100;
			rd_kafka_message_t *m;

			if (n) {
				int64_t left = deadline - cps_mono_ms();

				if (left <= 0)
					break;
				timeout = left < 100 ? (int)left : 100;
			}
			m = rd_kafka_consumer_poll(w->rk, timeout);
			if (w->revoked) {
				/* A rebalance: what was collected belongs to the old
				 * assignment; the new one starts at the stored offsets. */
				drop_msgs(msgs, &n);
				w->revoked = 0;
			}
			if (!m)
				continue;
			if (m->err) {
				if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
					cps_log_warn(FAC, "worker %d: consume: %s", w->idx,
					             rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				continue;
			}
			if (!n)
				deadline = cps_mono_ms() + p->conf.batch_ms;
			msgs[n++] = m;
		}
		if (n && !stopping(w))
			cps_worker_process_batch(w, msgs, n);
		drop_msgs(msgs, &n);
	}
	drop_msgs(msgs, &n);
	free(msgs);
	return NULL;
}

int cps_worker_consumer_new(struct worker *w, char *errstr, size_t errstr_size)
{
	struct cps_workers *p = w->pool;
	const char *const fixed[][2] = {{"group.id", p->conf.group_id},
	                                {"enable.auto.commit", "false"},
	                                {"enable.auto.offset.store", "false"},
	                                {"auto.offset.reset", "earliest"},
	                                {"enable.partition.eof", "false"}};
	rd_kafka_topic_partition_list_t *topics;
	rd_kafka_conf_t *conf =
	    cps_kafka_conf_new_with(CPS_KAFKA_CONSUMER, p->conf.bootstrap, &p->props, fixed,
	                            CPS_ARRAY_SIZE(fixed), errstr, errstr_size);
	rd_kafka_resp_err_t err;

	if (!conf)
		return CPS_ERR_FATAL;
	rd_kafka_conf_set_rebalance_cb(conf, cps_worker_on_rebalance);
	rd_kafka_conf_set_opaque(conf, w);
	w->rk =
	    cps_kafka_client_new(RD_KAFKA_CONSUMER, conf, "ingest consumer", errstr, errstr_size);
	if (!w->rk)
		return CPS_ERR_FATAL;
	rd_kafka_poll_set_consumer(w->rk);
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, p->conf.ingest_topic, RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(w->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (err)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "cannot subscribe to %s: %s",
		                  p->conf.ingest_topic, rd_kafka_err2str(err));
	return CPS_OK;
}
