/*
 * The ingest topic's identity. The stored ingest offsets (cpsync.ingest_offsets)
 * are positions in ONE incarnation of the ingest topic; a topic deleted and
 * re-created, a fresh embedded broker, or another cluster starts again at 0.
 * Before any worker consumes and before any source trusts the stored offsets,
 * a check (in its own thread, retried until Kafka and the store answer;
 * on a real cluster it first creates cpsync's missing topics) compares the cluster id and, per partition, the message now at the last
 * applied offset with the fingerprint stored for it. A new incarnation is
 * read from its beginning and said once at WARN; a partition that ends before
 * its stored offset (the broker lost messages) is read from its low
 * watermark and said at ERROR. Nothing is ever skipped. See ENGINE.md.
 */
#ifndef CPS_INGEST_TOPIC_H
#define CPS_INGEST_TOPIC_H

#include "config/config.h"
#include "config/settings.h"
#include "observe/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cps_ingest_topic_conf {
	const char *bootstrap;                  /* required */
	const struct cps_settings *kafka_props; /* "kafka.properties.*", may be NULL */
	const char *topic;                      /* kafka.ingest_topic */
	const char *conninfo;                   /* store.conninfo */
	struct cps_status *status;              /* may be NULL */
	struct cps_link *link;                  /* where failures show ("reconcile"), may be NULL */
	/* a real cluster: create cpsync's missing topics first (kafka_topics.h);
	 * NULL for the embedded broker, which makes its own. Borrowed. */
	const struct cps_config *create_topics;
};

struct cps_ingest_topic;

/* Starts the check in a thread of its own. `conf` is copied; status and link
 * must outlive cps_ingest_topic_stop. */
int cps_ingest_topic_start(const struct cps_ingest_topic_conf *conf, struct cps_ingest_topic **out,
                           char *errstr, size_t errstr_size);

/* Whether the stored offsets now belong to the topic that is there. NULL
 * (no check configured, as in unit tests) counts as verified. Thread-safe. */
bool cps_ingest_topic_verified(struct cps_ingest_topic *t);

/* Stops the check if still running, joins, frees. NULL-safe. */
void cps_ingest_topic_stop(struct cps_ingest_topic *t);

/* The fingerprint stored with a partition's next offset: FNV-1a 64 over the
 * key's length, the key and the value of the last message applied. */
uint64_t cps_ingest_fingerprint(const void *key, size_t key_len, const void *value,
                                size_t value_len);

#endif
