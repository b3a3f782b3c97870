/*
 * cpsync's own topics on a real cluster (see kafka_topics.h): one
 * CreateTopics request with the Admin API; "already exists" is success.
 */
#include "kafka/kafka_topics.h"

#include "kafka/broker.h"
#include "base/common.h"
#include "model/event.h"
#include "base/log.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAC        "KAFKA"
#define TIMEOUT_MS 5000
#define N_TOPICS   (2 + CPS_ARRAY_SIZE(cps_entities))

/* A new topic of `name`; the unified ones carry kafka.unified_topic_config. */
static rd_kafka_NewTopic_t *new_topic(const struct cps_config *cfg, const char *name, bool unified,
                                      char *errstr, size_t errstr_size)
{
	const struct cps_config_node *conf = cps_config_get_map(cfg, "kafka.unified_topic_config");
	char why[256];
	rd_kafka_NewTopic_t *t = rd_kafka_NewTopic_new(
	    name, (int)cps_config_get_int(cfg, "kafka.topics.partitions"),
	    (int)cps_config_get_int(cfg, "kafka.topics.replication_factor"), why, sizeof(why));

	if (!t) {
		cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "topic '%s': %s", name, why);
		return NULL;
	}
	for (size_t i = 0; unified && conf && i < conf->count; i++) {
		const struct cps_config_node *kv = conf->children[i];

		if (kv->kind != CPS_NODE_SCALAR || !kv->key || !kv->value)
			continue;
		if (rd_kafka_NewTopic_set_config(t, kv->key, kv->value)) {
			cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			           "topic '%s': cannot set '%s'", name, kv->key);
			rd_kafka_NewTopic_destroy(t);
			return NULL;
		}
	}
	return t;
}

/* What the cluster answered, topic by topic. */
static int check_result(rd_kafka_event_t *ev, char *errstr, size_t errstr_size)
{
	const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
	const rd_kafka_topic_result_t **topics;
	size_t n = 0;
	int rc = CPS_OK;

	if (rd_kafka_event_error(ev))
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "creating cpsync's topics: %s", rd_kafka_event_error_string(ev));
	topics = rd_kafka_CreateTopics_result_topics(res, &n);
	for (size_t i = 0; i < n; i++) {
		const char *name = rd_kafka_topic_result_name(topics[i]);
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);

		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			cps_log_info(FAC, "created topic '%s'", name);
		else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && rc == CPS_OK)
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                "creating topic '%s': %s", name,
			                rd_kafka_topic_result_error_string(topics[i])
			                    ? rd_kafka_topic_result_error_string(topics[i])
			                    : rd_kafka_err2str(err));
	}
	return rc;
}

/* Whether `name` is among the cluster's topics. */
static bool exists(const struct rd_kafka_metadata *md, const char *name)
{
	for (int i = 0; i < md->topic_cnt; i++)
		if (!md->topics[i].err && !strcmp(md->topics[i].topic, name))
			return true;
	return false;
}

int cps_kafka_topics_ensure(const struct cps_config *cfg, const char *bootstrap,
                            const struct cps_settings *kafka_props, char *errstr,
                            size_t errstr_size)
{
	const char *prefix = cps_config_get_string(cfg, "kafka.unified_topic_prefix");
	rd_kafka_NewTopic_t *topics[N_TOPICS] = {0};
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_queue_t *queue = NULL;
	rd_kafka_event_t *ev = NULL;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk = NULL;
	char name[256], why[512];
	size_t n = 0;
	int rc = CPS_OK;

	conf =
	    cps_kafka_conf_new_for(CPS_KAFKA_PRODUCER, bootstrap, kafka_props, errstr, errstr_size);
	if (!conf)
		return CPS_ERR_FATAL;
	rk = cps_kafka_client_new(RD_KAFKA_PRODUCER, conf, "kafka admin client", errstr,
	                          errstr_size);
	if (!rk)
		return CPS_ERR_FATAL;
	if (rd_kafka_metadata(rk, 1, NULL, &md, TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "listing the cluster's topics: no answer within %d ms", TIMEOUT_MS);
		goto out;
	}
	for (size_t i = 0; i < N_TOPICS; i++) {
		const char *topic = name;

		if (i == 0)
			topic = cps_config_get_string(cfg, "kafka.ingest_topic");
		else if (i == 1)
			topic = cps_config_get_string(cfg, "kafka.dead_letter_topic");
		else
			snprintf(name, sizeof(name), "%s%s", prefix, cps_entities[i - 2]);
		if (!*topic || exists(md, topic))
			continue; /* no dead-letter topic, or already there */
		topics[n] = new_topic(cfg, topic, i >= 2, errstr, errstr_size);
		if (!topics[n]) {
			rc = CPS_ERR_FATAL;
			goto out;
		}
		n++;
	}
	if (!n)
		goto out;
	queue = rd_kafka_queue_new(rk);
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_request_timeout(opts, TIMEOUT_MS, why, sizeof(why));
	rd_kafka_AdminOptions_set_operation_timeout(opts, TIMEOUT_MS, why, sizeof(why));
	rd_kafka_CreateTopics(rk, topics, n, opts, queue);
	ev = rd_kafka_queue_poll(queue, TIMEOUT_MS + 5000);
	if (!ev)
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "creating cpsync's topics: no answer within %d ms",
		                TIMEOUT_MS + 5000);
	else
		rc = check_result(ev, errstr, errstr_size);
	if (rc == CPS_ERR_RETRIABLE) {
		/* the cluster answers but will not create them (no rights, a mock
		 * without a controller): producing auto-creates them, if allowed */
		cps_log_warn(FAC, "%s; leaving cpsync's topics to auto-creation", errstr);
		rc = CPS_OK;
	}
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	if (ev)
		rd_kafka_event_destroy(ev);
	if (opts)
		rd_kafka_AdminOptions_destroy(opts);
	if (queue)
		rd_kafka_queue_destroy(queue);
	rd_kafka_NewTopic_destroy_array(topics, n);
	rd_kafka_destroy(rk);
	return rc;
}
