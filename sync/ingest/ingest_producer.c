/*
 * The source runner's idempotent producer of the ingest topic (acks=all,
 * enable.idempotence=true): creating and closing it, producing one message,
 * and the delivery reports that note, per attempt, the last offset produced
 * to each partition (for ingest_ack.h) and the first failure.
 */
#include "ingest/ingest_int.h"
#include "base/clock.h"
#include "kafka/broker.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_FULL_WAIT_MS 30000

/* @locality runner thread */
static void note_produced(struct cps_ingest *r, int32_t partition, int64_t offset)
{
	while (cps_ingest_produced_note(r->produced, &r->n_produced, r->cap_produced, partition,
	                                offset) < 0) {
		if (cps_grow(&r->produced, &r->cap_produced, r->cap_produced + 1,
		             sizeof(*r->produced)) != 0) {
			r->produced_oom = true; /* the attempt fails: nothing to wait for */
			return;
		}
	}
}

/* @locality runner thread (rd_kafka_poll / rd_kafka_flush serve it there) */
static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct cps_ingest *r = opaque;

	if (!rkm->err) {
		if (strcmp(rd_kafka_topic_name(rkm->rkt), r->ingest_topic) == 0)
			note_produced(r, rkm->partition, rkm->offset);
		return;
	}
	if (r->dr_failed++ == 0)
		snprintf(r->dr_first_error, sizeof(r->dr_first_error),
		         "delivery to '%s' [%" PRId32 "] failed: %s", rd_kafka_topic_name(rkm->rkt),
		         rkm->partition, rd_kafka_err2str(rkm->err));
}

int cps_ingest_producer_new(struct cps_ingest *r, char *errstr, size_t errstr_size)
{
	char client_id[CPS_PLATFORM_MAX + 32];
	const char *const fixed[][2] = {
	    {"client.id", client_id}, {"acks", "all"}, {"enable.idempotence", "true"}};
	size_t first = cps_kafka_property_set(&r->props, "client.id") ? 1 : 0;
	rd_kafka_conf_t *conf;

	snprintf(client_id, sizeof(client_id), "cpsync-%s-ingest", r->platform);
	conf = cps_kafka_conf_new_with(CPS_KAFKA_PRODUCER, r->bootstrap, &r->props, fixed + first,
	                               CPS_ARRAY_SIZE(fixed) - first, errstr, errstr_size);
	if (!conf)
		return CPS_ERR_INVALID;
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
	rd_kafka_conf_set_opaque(conf, r);
	r->rk =
	    cps_kafka_client_new(RD_KAFKA_PRODUCER, conf, "ingest producer", errstr, errstr_size);
	return r->rk ? CPS_OK : CPS_ERR_INVALID;
}

void cps_ingest_producer_free(struct cps_ingest *r)
{
	if (!r->rk)
		return;
	rd_kafka_flush(r->rk, 1000);
	rd_kafka_purge(r->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(r->rk, 0);
	rd_kafka_destroy(r->rk);
	r->rk = NULL;
}

int cps_ingest_produce(struct cps_ingest *r, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, char *errstr, size_t errstr_size)
{
	int64_t deadline = cps_mono_ms() + QUEUE_FULL_WAIT_MS;
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(r->rk, RD_KAFKA_V_TOPIC(topic),
		                        RD_KAFKA_V_KEY((void *)key, key_len),
		                        RD_KAFKA_V_VALUE((void *)value, value_len),
		                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || cps_mono_ms() >= deadline)
			break;
		rd_kafka_poll(r->rk, 50);
	}
	if (!err)
		return CPS_OK;
	return cps_seterr(err == RD_KAFKA_RESP_ERR__FATAL ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE,
	                  errstr, errstr_size, "producing to '%s' failed: %s", topic,
	                  rd_kafka_err2str(err));
}
