/*
 * The publisher (design: ENGINE.md "Publisher"): one thread that follows the
 * store's change log to the unified topics with an idempotent Kafka producer,
 * moving its cursor only past what Kafka acknowledged. Kafka down: changes
 * wait after the cursor and go out later, nothing is lost. Reconcile workers
 * wake it after each commit (cps_publisher_wake); otherwise it polls every
 * 20 ms.
 * One instance publishes: the holder of the advisory lock 'cpsync.publisher'
 * on the publisher's store session; the others are STANDBY and take over
 * within store.leader_retry_ms of its session ending.
 */
#ifndef CPS_PUBLISH_H
#define CPS_PUBLISH_H

#include "base/pause.h"
#include "config/settings.h"
#include "observe/status.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

struct cps_config;

struct cps_publisher_conf {
	const char *bootstrap;                       /* "host:port,…" (required) */
	const struct cps_settings *kafka_properties; /* "kafka.properties.*" pairs, may be NULL */
	const char *conninfo;                        /* the store (required) */
	size_t batch;                                /* change-log rows per fetch; 0 = 1000 */
	struct cps_status *status;                   /* may be NULL */
	struct cps_link *link;                       /* "publisher" line of /status, may be NULL */
	int leader_retry_ms; /* store.leader_retry_ms: how often a standby asks; 0 = 2000 */
	int64_t
	    retention_ms; /* store.history_retention: sent changes older are deleted; 0 = never */
	/* store.dead_letter_raw_retention, … (enum cps_retention order); 0 = never */
	int64_t retain_ms[CPS_RETAIN_KINDS];
	bool start_paused; /* start PAUSED (a pause kept in the store) */
};

struct cps_publisher;

/* Copies what it needs of `conf`; the thread opens its own store connection
 * and producer (and keeps retrying them when they fail). */
int cps_publisher_start(const struct cps_publisher_conf *conf, struct cps_publisher **out,
                        char *errstr, size_t errstr_size);
/* Something was appended to the change log: look now. Thread-safe, NULL-safe. */
void cps_publisher_wake(struct cps_publisher *p);
/* Stops the thread (undelivered changes stay after the cursor), joins, frees. NULL-safe. */
void cps_publisher_stop(struct cps_publisher *p);

/* An operator's controls; any thread, return at once. Pause (base/pause.h): nothing is
 * published (changes wait after the cursor) and the link is PAUSED; a
 * leader keeps its lock, so no other instance publishes either. Restart:
 * a fresh producer and store session (the lock is taken again). */
struct cps_pause *cps_publisher_pause(struct cps_publisher *p);
void cps_publisher_restart(struct cps_publisher *p);
int64_t cps_publisher_restarts(struct cps_publisher *p);

struct cps_publisher_stats {
	int64_t published; /* changes delivered (the cursor passed them) */
	int64_t errors;    /* failed deliveries, store and producer errors */
	int64_t pending;   /* changes seen at the last fetch, not yet delivered */
};

void cps_publisher_get_stats(struct cps_publisher *p, struct cps_publisher_stats *out);

/* Every kafka.properties.* pair of the config into `out` (initialised,
 * empty), keys kept whole ("kafka.properties.security.protocol"), for
 * cps_kafka_conf_new. -1 when memory is out. */
int cps_kafka_properties_from_config(const struct cps_config *cfg, struct cps_settings *out);

#endif
