/*
 * The embedded Kafka broker: librdkafka's mock cluster, which speaks the real
 * Kafka protocol on 127.0.0.1 (kcat and any client can connect), for the demo
 * and the tests. No persistence, about 5 MiB kept per partition. Kafka
 * clients are built by kafka/client.h (included here for the callers that
 * still reach it through this header).
 */
#ifndef CPS_BROKER_H
#define CPS_BROKER_H

#include "config/settings.h"
#include "kafka/client.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>

struct cps_broker;

/* Starts a one-broker cluster and creates each of the n topics with
 * `partitions` partitions (replication factor 1). Logs the bootstrap. */
int cps_broker_start(int partitions, const char **topics, size_t n, struct cps_broker **out,
                     char *errstr, size_t errstr_size);
int cps_broker_create_topic(struct cps_broker *b, const char *topic, int partitions, char *errstr,
                            size_t errstr_size);
/* "127.0.0.1:PORT" (borrowed, valid until stop). */
const char *cps_broker_bootstrap(const struct cps_broker *b);
/* The mock cluster, for fault injection in tests (borrowed). */
rd_kafka_mock_cluster_t *cps_broker_mock(struct cps_broker *b);
/* Stops the cluster; NULL-safe. Clients should be closed first. */
void cps_broker_stop(struct cps_broker *b);

#endif
