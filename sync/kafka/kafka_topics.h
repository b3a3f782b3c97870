/*
 * cpsync's own topics on a real Kafka cluster (ingest, dead-letter, one
 * unified topic per entity), created at start when they are missing, with
 * `kafka.topics.*` partitions and replication and the unified topics'
 * `kafka.unified_topic_config.*` (e.g. cleanup.policy=compact). Existing
 * topics are left as they are. The embedded broker makes its own topics.
 */
#ifndef CPS_KAFKA_TOPICS_H
#define CPS_KAFKA_TOPICS_H

#include "config/config.h"
#include "config/settings.h"

#include <stddef.h>

/* Creates the missing ones with one CreateTopics request and waits for the
 * answer. CPS_OK when each exists now, or when the cluster answers but
 * refuses to create them (logged at WARN: producing then auto-creates them
 * where the cluster allows it); CPS_ERR_RETRIABLE when it does not answer. */
int cps_kafka_topics_ensure(const struct cps_config *cfg, const char *bootstrap,
                            const struct cps_settings *kafka_props, char *errstr,
                            size_t errstr_size);

#endif
