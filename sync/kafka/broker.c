/*
 * The embedded Kafka broker (librdkafka's mock cluster hosted by an idle
 * producer handle). See broker.h.
 */
#include "kafka/broker.h"

#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cps_broker {
	rd_kafka_t *rk; /* hosts the mock cluster, never produces */
	rd_kafka_mock_cluster_t *mcluster;
	char *bootstrap;
};

int cps_broker_create_topic(struct cps_broker *b, const char *topic, int partitions, char *errstr,
                            size_t errstr_size)
{
	rd_kafka_resp_err_t err;

	if (partitions < 1)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "topic '%s' needs at least one partition", topic);
	err = rd_kafka_mock_topic_create(b->mcluster, topic, partitions, 1);
	if (err)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "creating topic '%s' failed: %s", topic, rd_kafka_err2str(err));
	return CPS_OK;
}

int cps_broker_start(int partitions, const char **topics, size_t n, struct cps_broker **out,
                     char *errstr, size_t errstr_size)
{
	static const char *const quiet[][2] = {{"log_level", "3"}};
	struct cps_broker *b;
	rd_kafka_conf_t *conf;
	int rc;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	/* the host handle has no broker to talk to: keep it quiet */
	conf = cps_kafka_conf_new_with(CPS_KAFKA_ANY, NULL, NULL, quiet, 1, errstr, errstr_size);
	if (!conf) {
		rc = CPS_ERR_FATAL;
		goto out_free;
	}
	b->rk = cps_kafka_client_new(RD_KAFKA_PRODUCER, conf, "broker host handle", errstr,
	                             errstr_size);
	if (!b->rk) {
		rc = CPS_ERR_FATAL;
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
