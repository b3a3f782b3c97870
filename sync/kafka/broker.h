/*
 * The embedded Kafka broker: librdkafka's mock cluster, which speaks the real
 * Kafka protocol on 127.0.0.1 (kcat and any client can connect), for the demo
 * and the tests. No persistence, about 5 MiB kept per partition. Also the one
 * place where Kafka client configurations are built from cpsync settings.
 */
#ifndef CPS_BROKER_H
#define CPS_BROKER_H

#include "config/settings.h"

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

/* What a client configuration is for: properties meant for producers only
 * (`kafka.producer.*`) or consumers only (`kafka.consumer.*`) go to that kind
 * of client, so librdkafka never warns about a property it must ignore. */
enum cps_kafka_client {
	CPS_KAFKA_ANY,      /* common properties only (metadata probes) */
	CPS_KAFKA_PRODUCER, /* + "kafka.producer." / "producer." */
	CPS_KAFKA_CONSUMER, /* + "kafka.consumer." / "consumer." */
};

/* A new librdkafka configuration with bootstrap.servers = `bootstrap` (unless
 * NULL) and every pair of `properties` whose key starts with
 * "kafka.properties." or "properties." applied, prefix removed, through
 * rd_kafka_conf_set; then the pairs of the client kind's own prefixes, which
 * override. librdkafka's log lines go through cps_log (facility KAFKA). The
 * error names the key librdkafka rejected (and its reason, with the value only
 * when the key is not secret). NULL on error. The caller owns the result
 * (rd_kafka_new takes it over). */
rd_kafka_conf_t *cps_kafka_conf_new_for(enum cps_kafka_client kind, const char *bootstrap,
                                        const struct cps_settings *properties, char *errstr,
                                        size_t errstr_size);
/* Copies into `out` the "kafka.properties.*" pairs of `props`, then the
 * client kind's own pairs renamed to "kafka.properties.*" (they override):
 * the settings of a Kafka connector that plays that kind of client. -1 when
 * memory is out. */
int cps_kafka_settings_for(enum cps_kafka_client kind, const struct cps_settings *props,
                           struct cps_settings *out);
/* cps_kafka_conf_new_for(CPS_KAFKA_ANY, ...). */
rd_kafka_conf_t *cps_kafka_conf_new(const char *bootstrap, const struct cps_settings *properties,
                                    char *errstr, size_t errstr_size);

/* rd_kafka_conf_set with an error in our convention; never prints a secret. */
int cps_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                       size_t errstr_size);

#endif
