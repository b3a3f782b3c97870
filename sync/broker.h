/*
 * The embedded Kafka broker: librdkafka's mock cluster, which speaks the real
 * Kafka protocol on 127.0.0.1 (kcat and any client can connect), for the demo
 * and the tests. No persistence, about 5 MiB kept per partition. Also the one
 * place where Kafka client configurations are built from cpsync settings.
 */
#ifndef CPS_BROKER_H
#define CPS_BROKER_H

#include "settings.h"

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

/* A new librdkafka configuration with bootstrap.servers = `bootstrap` (unless
 * NULL) and every pair of `properties` whose key starts with
 * "kafka.properties." or "properties." applied, prefix removed, through
 * rd_kafka_conf_set. The error names the key librdkafka rejected (and its
 * reason, with the value only when the key is not secret). NULL on error.
 * The caller owns the result (rd_kafka_new takes it over). */
rd_kafka_conf_t *cps_kafka_conf_new(const char *bootstrap, const struct cps_settings *properties,
                                    char *errstr, size_t errstr_size);

/* rd_kafka_conf_set with an error in our convention; never prints a secret. */
int cps_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                       size_t errstr_size);

#endif
