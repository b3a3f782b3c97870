/*
 * Kafka clients from cpsync settings, the one way: a librdkafka
 * configuration from a bootstrap and the "properties.*" settings (with the
 * client kind's own overrides), fixed pairs set on top, and the client
 * created with an error that says which client failed and why.
 */
#ifndef CPS_KAFKA_CLIENT_H
#define CPS_KAFKA_CLIENT_H

#include "config/settings.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/* What a client configuration is for: properties meant for producers only
 * (`kafka.producer.*`) or consumers only (`kafka.consumer.*`) go to that kind
 * of client, so librdkafka never warns about a property it must ignore. */
enum cps_kafka_client {
	CPS_KAFKA_ANY,      /* common properties only (metadata probes) */
	CPS_KAFKA_PRODUCER, /* + "kafka.producer." / "producer." */
	CPS_KAFKA_CONSUMER, /* + "kafka.consumer." / "consumer." */
};

/* cpsync's latency-first defaults (client.c): a consumer's fetch.wait.max.ms
 * (librdkafka: 500) and a producer's linger.ms (librdkafka: 5). */
#define CPS_KAFKA_FETCH_WAIT_MS "10"
#define CPS_KAFKA_LINGER_MS     "1"
/* cpsync's memory bounds (client.c): a consumer's prefetch (librdkafka:
 * 100000 messages, 64 MiB) and a producer's queue (100000 messages, 1 GiB). */
#define CPS_KAFKA_QUEUED_MIN_MESSAGES   "10000"
#define CPS_KAFKA_QUEUED_MAX_KBYTES     "8192"
#define CPS_KAFKA_PRODUCER_MAX_MESSAGES "10000"
#define CPS_KAFKA_PRODUCER_MAX_KBYTES   "16384"

/* A new librdkafka configuration with bootstrap.servers = `bootstrap` (unless
 * NULL), the latency defaults of the client kind (a consumer:
 * fetch.wait.max.ms CPS_KAFKA_FETCH_WAIT_MS, fetch.min.bytes 1; a producer:
 * linger.ms CPS_KAFKA_LINGER_MS) and its memory bounds (CPS_KAFKA_QUEUED_*,
 * CPS_KAFKA_PRODUCER_MAX_*), and every pair of `properties` whose key starts with
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

/* cps_kafka_conf_set for each (key, value) of `pairs`, in order; stops at the
 * first rejected one (CPS_ERR_INVALID, errstr from cps_kafka_conf_set). */
int cps_kafka_conf_set_pairs(rd_kafka_conf_t *conf, const char *const (*pairs)[2], size_t n,
                             char *errstr, size_t errstr_size);

/* cps_kafka_conf_new_for(kind, bootstrap, properties, ...) with `pairs` set
 * on top (cps_kafka_conf_set_pairs): the configuration of a client whose
 * delivery or group properties cpsync decides. NULL on error (nothing to
 * free). */
rd_kafka_conf_t *cps_kafka_conf_new_with(enum cps_kafka_client kind, const char *bootstrap,
                                         const struct cps_settings *properties,
                                         const char *const (*pairs)[2], size_t n_pairs,
                                         char *errstr, size_t errstr_size);

/* Whether `properties` sets librdkafka property `property` itself (as
 * "properties.<property>" or "kafka.properties.<property>"): a default of
 * ours then stands back. */
bool cps_kafka_property_set(const struct cps_settings *properties, const char *property);

/* rd_kafka_new(type, conf). Takes ownership of `conf` in every case (on
 * failure it is destroyed: do not free it). NULL on failure, errstr
 * "creating the <what> failed: <librdkafka's reason>" ("kafka consumer",
 * "kafka admin client", ...); the caller decides the code (librdkafka refuses
 * a configuration it cannot use, or lacks resources). */
rd_kafka_t *cps_kafka_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, const char *what,
                                 char *errstr, size_t errstr_size);

#endif
