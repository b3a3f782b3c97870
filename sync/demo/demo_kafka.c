/*
 * The platforms on Kafka for `cpsync demo`: the province always, the city
 * and the zone when they have no database or inbox. Each message is encoded
 * with its entity's schema in its platform's framing and produced, with its
 * "effective_time" header, by an idempotent producer (acks=all) to the
 * platform's entity topic; delivery reports go back to the running demo.
 */
#include "demo/demo.h"

#include "base/buf.h"
#include "base/common.h"
#include "codec/avro_json.h"
#include "codec/codec.h"
#include "codec/framing.h"
#include "kafka/client.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cps_demo_kafka {
	char *bootstrap;
	char *topics[CPS_DEMO_PLATFORMS][CPS_DEMO_ENTITIES];
	enum cps_framing framing[CPS_DEMO_PLATFORMS];
	struct cps_codec *codecs[CPS_DEMO_ENTITIES];
	struct cps_buf buf; /* the value being produced */
	rd_kafka_t *rk;
	cps_demo_delivered_fn delivered;
	void *delivered_arg;
};

/* Framing and topic of each platform. */
static int kafka_topics(struct cps_demo_kafka *k, const struct cps_demo_conf *conf, char *errstr,
                        size_t errstr_size)
{
	static const enum cps_framing default_framing[CPS_DEMO_PLATFORMS] = {
	    CPS_FRAMING_SINGLE_OBJECT, CPS_FRAMING_CONFLUENT, CPS_FRAMING_SINGLE_OBJECT};

	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++) {
		k->framing[p] = default_framing[p];
		if (conf->framing[p] && cps_framing_from_name(conf->framing[p], &k->framing[p]))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "demo: unknown framing '%s' for %s", conf->framing[p],
			                  cps_demo_platform_names[p]);
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
			if (conf->topics[p][e])
				k->topics[p][e] = strdup(conf->topics[p][e]);
			else if (asprintf(&k->topics[p][e], "%s.%s", cps_demo_platform_names[p],
			                  cps_demo_entity_names[e]) < 0)
				k->topics[p][e] = NULL;
			if (!k->topics[p][e])
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                  "out of memory");
		}
	}
	return CPS_OK;
}

/* A codec per entity; a confluent framing needs the schema's registry-free id. */
static int kafka_codecs(struct cps_demo_kafka *k, struct cps_catalog *catalog, char *errstr,
                        size_t errstr_size)
{
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
		struct cps_schema *s = cps_catalog_by_entity(catalog, cps_demo_entity_names[e]);
		int rc;

		if (!s)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "demo: the catalog has no '%s' schema",
			                  cps_demo_entity_names[e]);
		for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
			if (k->framing[p] == CPS_FRAMING_CONFLUENT && s->id <= 0)
				return cps_seterr(
				    CPS_ERR_INVALID, errstr, errstr_size,
				    "demo: schema '%s' has no registry-free id for %s", s->name,
				    cps_demo_platform_names[p]);
		rc = cps_codec_new(s, NULL, &k->codecs[e], errstr, errstr_size);
		if (rc)
			return rc;
	}
	return CPS_OK;
}

int cps_demo_kafka_open(const struct cps_demo_conf *conf, cps_demo_delivered_fn delivered,
                        void *arg, struct cps_demo_kafka **out, char *errstr, size_t errstr_size)
{
	struct cps_demo_kafka *k = calloc(1, sizeof(*k));
	int rc;

	*out = NULL;
	if (!k)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_buf_init(&k->buf, 0);
	k->delivered = delivered;
	k->delivered_arg = arg;
	k->bootstrap = strdup(conf->bootstrap);
	if (!k->bootstrap)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	else if ((rc = kafka_topics(k, conf, errstr, errstr_size)) == CPS_OK)
		rc = kafka_codecs(k, conf->catalog, errstr, errstr_size);
	if (rc) {
		cps_demo_kafka_close(k);
		return rc;
	}
	*out = k;
	return CPS_OK;
}

/* @locality a librdkafka thread (inside rd_kafka_poll/flush of the demo thread) */
static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct cps_demo_kafka *k = opaque;
	int platform = (int)(intptr_t)rkm->_private;
	char why[512];

	(void)rk;
	if (platform < 0 || platform >= CPS_DEMO_PLATFORMS)
		return;
	if (rkm->err) {
		snprintf(why, sizeof(why), "delivery to '%s' failed: %s",
		         rd_kafka_topic_name(rkm->rkt), rd_kafka_err2str(rkm->err));
		k->delivered(k->delivered_arg, (enum cps_demo_platform)platform, why);
	} else {
		k->delivered(k->delivered_arg, (enum cps_demo_platform)platform, NULL);
	}
}

int cps_demo_kafka_start(struct cps_demo_kafka *k, char *errstr, size_t errstr_size)
{
	static const char *const props[][2] = {
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	    {"compression.type", "lz4"},
	    {"log_level", "4"}, /* linger.ms: the client's latency default */
	};
	rd_kafka_conf_t *conf =
	    cps_kafka_conf_new_with(CPS_KAFKA_PRODUCER, k->bootstrap, NULL, props,
	                            CPS_ARRAY_SIZE(props), errstr, errstr_size);

	if (!conf)
		return CPS_ERR_FATAL;
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
	k->rk = cps_kafka_client_new(RD_KAFKA_PRODUCER, conf, "demo producer", errstr, errstr_size);
	return k->rk ? CPS_OK : CPS_ERR_FATAL;
}

int cps_demo_kafka_produce(struct cps_demo_kafka *k, const struct cps_demo_msg *m,
                           bool (*stopping)(void *arg), void *arg, size_t *bytes, char *errstr,
                           size_t errstr_size)
{
	struct cps_codec *codec = k->codecs[m->entity];
	const char *topic = k->topics[m->platform][m->entity];
	char err[CPS_ERRSTR_SIZE], eff[24];
	rd_kafka_resp_err_t kerr;
	size_t key_len = strlen(m->key);

	cps_buf_reset(&k->buf);
	if (m->record) {
		struct cps_schema *schema = cps_codec_schema(codec);

		if (cps_value_from_json(m->record, cps_codec_value(codec), err, sizeof(err)) !=
		        CPS_OK ||
		    cps_codec_encode_framed(codec, k->framing[m->platform], schema->id,
		                            cps_codec_value(codec), &k->buf, err,
		                            sizeof(err)) != CPS_OK) {
			snprintf(errstr, errstr_size, "encoding a %s record failed: %s",
			         cps_demo_entity_names[m->entity], err);
			return CPS_ERR_FATAL;
		}
	}
	snprintf(eff, sizeof(eff), "%lld", (long long)m->effective_ms);
	for (;;) {
		kerr = rd_kafka_producev(
		    k->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY(m->key, key_len),
		    RD_KAFKA_V_VALUE(m->record ? k->buf.data : NULL, m->record ? k->buf.len : 0),
		    RD_KAFKA_V_HEADER("effective_time", eff, (ssize_t)strlen(eff)),
		    RD_KAFKA_V_OPAQUE((void *)(intptr_t)m->platform), RD_KAFKA_V_END);
		if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		if (stopping(arg))
			return 1;
		rd_kafka_poll(k->rk, 50);
	}
	if (kerr) {
		char why[512];

		snprintf(why, sizeof(why), "producing to '%s' failed: %s", topic,
		         rd_kafka_err2str(kerr));
		snprintf(errstr, errstr_size, "%s", why);
		return CPS_ERR_FATAL;
	}
	*bytes = key_len + (m->record ? k->buf.len : 0);
	return CPS_OK;
}

void cps_demo_kafka_poll(struct cps_demo_kafka *k)
{
	rd_kafka_poll(k->rk, 0);
}

bool cps_demo_kafka_flush_all(struct cps_demo_kafka *k, bool (*stopping)(void *arg), void *arg)
{
	while (rd_kafka_outq_len(k->rk) > 0) {
		if (stopping(arg))
			return false;
		rd_kafka_flush(k->rk, 100);
	}
	return true;
}

int cps_demo_kafka_flush(struct cps_demo_kafka *k, int timeout_ms, int *unacked)
{
	*unacked = 0;
	if (!k->rk || rd_kafka_flush(k->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
		return CPS_OK;
	*unacked = rd_kafka_outq_len(k->rk);
	return CPS_ERR_RETRIABLE;
}

void cps_demo_kafka_close(struct cps_demo_kafka *k)
{
	if (!k)
		return;
	if (k->rk)
		rd_kafka_destroy(k->rk);
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		cps_codec_free(k->codecs[e]);
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
			free(k->topics[p][e]);
	cps_buf_release(&k->buf);
	free(k->bootstrap);
	free(k);
}
