/*
 * The embedded Kafka broker (librdkafka's mock cluster hosted by an idle
 * producer handle) and the builder of Kafka client configurations from
 * cpsync settings. See broker.h.
 */
#include "kafka/broker.h"

#include "base/common.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cps_broker {
	rd_kafka_t *rk; /* hosts the mock cluster, never produces */
	rd_kafka_mock_cluster_t *mcluster;
	char *bootstrap;
};

int cps_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                       size_t errstr_size)
{
	char why[256];

	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) == RD_KAFKA_CONF_OK)
		return CPS_OK;
	if (cps_setting_is_secret(key))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "kafka property '%s' was rejected", key);
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "kafka property '%s' was rejected: %s", key, why);
}

/* librdkafka's own log lines, through cpsync's logger (they name brokers,
 * topics and partitions, never record contents). */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	enum cps_log_level l = level <= 3   ? CPS_LOG_ERROR
	                       : level == 4 ? CPS_LOG_WARN
	                       : level <= 6 ? CPS_LOG_INFO
	                                    : CPS_LOG_DEBUG;

	if (l == CPS_LOG_DEBUG)
		cps_log_debug(CPS_DBG_KAFKA, "KAFKA", "%s: %s", fac, buf);
	else
		CPS_LOG(l, "KAFKA", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static int apply_prefixed(rd_kafka_conf_t *conf, const struct cps_settings *properties,
                          const char *const prefixes[2], char *errstr, size_t errstr_size)
{
	for (size_t p = 0; p < 2; p++) {
		const struct cps_setting *kv;
		size_t it = 0;

		while ((kv = cps_settings_next(properties, prefixes[p], &it))) {
			const char *key = kv->key + strlen(prefixes[p]);

			if (!*key)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "setting '%s' names no property", kv->key);
			if (cps_kafka_conf_set(conf, key, kv->value, errstr, errstr_size) != CPS_OK)
				return CPS_ERR_INVALID;
		}
	}
	return CPS_OK;
}

rd_kafka_conf_t *cps_kafka_conf_new_for(enum cps_kafka_client kind, const char *bootstrap,
                                        const struct cps_settings *properties, char *errstr,
                                        size_t errstr_size)
{
	static const char *const common[2] = {"kafka.properties.", "properties."};
	static const char *const producer[2] = {"kafka.producer.", "producer."};
	static const char *const consumer[2] = {"kafka.consumer.", "consumer."};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (!conf) {
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "out of memory");
		return NULL;
	}
	rd_kafka_conf_set_log_cb(conf, kafka_log);
	if (bootstrap &&
	    cps_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	if (apply_prefixed(conf, properties, common, errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	if (kind == CPS_KAFKA_PRODUCER &&
	    apply_prefixed(conf, properties, producer, errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	if (kind == CPS_KAFKA_CONSUMER &&
	    apply_prefixed(conf, properties, consumer, errstr, errstr_size) != CPS_OK)
		goto out_destroy;
	return conf;

out_destroy:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

int cps_kafka_settings_for(enum cps_kafka_client kind, const struct cps_settings *props,
                           struct cps_settings *out)
{
	const char *own = kind == CPS_KAFKA_PRODUCER   ? "kafka.producer."
	                  : kind == CPS_KAFKA_CONSUMER ? "kafka.consumer."
	                                               : NULL;
	const struct cps_setting *kv;
	char key[512];
	size_t it = 0;

	while ((kv = cps_settings_next(props, "kafka.properties.", &it)))
		if (cps_settings_set(out, kv->key, kv->value) != 0)
			return -1;
	for (it = 0; own && (kv = cps_settings_next(props, own, &it));) {
		snprintf(key, sizeof(key), "kafka.properties.%s", kv->key + strlen(own));
		if (cps_settings_set(out, key, kv->value) != 0)
			return -1;
	}
	return 0;
}

rd_kafka_conf_t *cps_kafka_conf_new(const char *bootstrap, const struct cps_settings *properties,
                                    char *errstr, size_t errstr_size)
{
	return cps_kafka_conf_new_for(CPS_KAFKA_ANY, bootstrap, properties, errstr, errstr_size);
}

int cps_broker_create_topic(struct cps_broker *b, const char *topic, int partitions, char *errstr,
                            size_t errstr_size)
{
	rd_kafka_resp_err_t err;

	if (partitions < 1)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "topic '%s' needs at least one partition",
		                  topic);
	err = rd_kafka_mock_topic_create(b->mcluster, topic, partitions, 1);
	if (err)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "creating topic '%s' failed: %s", topic,
		                  rd_kafka_err2str(err));
	return CPS_OK;
}

int cps_broker_start(int partitions, const char **topics, size_t n, struct cps_broker **out,
                     char *errstr, size_t errstr_size)
{
	struct cps_broker *b;
	rd_kafka_conf_t *conf;
	char why[512];
	int rc;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	conf = rd_kafka_conf_new();
	/* the host handle has no broker to talk to: keep it quiet */
	if (rd_kafka_conf_set(conf, "log_level", "3", why, sizeof(why)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "broker config: %s", why);
		goto out_free;
	}
	b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!b->rk) {
		rd_kafka_conf_destroy(conf);
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "creating the broker host handle failed: %s", why);
		goto out_free;
	}
	b->mcluster = rd_kafka_mock_cluster_new(b->rk, 1);
	if (!b->mcluster) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "starting the embedded kafka cluster failed");
		goto out_free;
	}
	b->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(b->mcluster));
	if (!b->bootstrap) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < n; i++) {
		rc = cps_broker_create_topic(b, topics[i], partitions, errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_free;
	}
	fprintf(
	    stderr,
	    "broker: embedded kafka broker listening on '%s' (%zu topics, %d partitions each)\n",
	    b->bootstrap, n, partitions);
	*out = b;
	return CPS_OK;

out_free:
	cps_broker_stop(b);
	return rc;
}

const char *cps_broker_bootstrap(const struct cps_broker *b)
{
	return b->bootstrap;
}

rd_kafka_mock_cluster_t *cps_broker_mock(struct cps_broker *b)
{
	return b->mcluster;
}

void cps_broker_stop(struct cps_broker *b)
{
	if (!b)
		return;
	if (b->mcluster)
		rd_kafka_mock_cluster_destroy(b->mcluster);
	if (b->rk)
		rd_kafka_destroy(b->rk);
	free(b->bootstrap);
	free(b);
}
