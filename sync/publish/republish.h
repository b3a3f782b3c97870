/*
 * Re-publish (issue 13, item 3): the current unified record of every key of
 * an entity, or its change log from a time on, written again to the
 * entity's unified topic or another one for a new downstream system. Keyed
 * and framed exactly like the live stream (design: ENGINE.md "Re-publish"),
 * so a consumer that reads both drops the overlap by (key, version).
 */
#ifndef CPS_REPUBLISH_H
#define CPS_REPUBLISH_H

#include "codec/framing.h"
#include "config/settings.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cps_catalog;
struct cps_registry;

/* Where it reads, writes and how it encodes; all borrowed. */
struct cps_republish_conf {
	const char *conninfo;                        /* the store (required) */
	const char *bootstrap;                       /* Kafka (required) */
	const struct cps_settings *kafka_properties; /* "kafka.properties.*" pairs, may be NULL */
	/* the live stream's encoder settings, for records whose current version
	 * the change log no longer holds (retention): as the reconcile workers */
	struct cps_catalog *catalog;
	struct cps_registry *registry; /* may be NULL: registry-free ids */
	enum cps_framing framing;
	const char *topic_prefix; /* kafka.unified_topic_prefix; NULL = "cpsync.unified." */
	size_t batch;             /* rows per page and per produce round; 0 = 1000 */
};

struct cps_republish_request {
	const char *entity;   /* "person" */
	const char *since;    /* NULL: current records; else the change log from this timestamp */
	const char *to_topic; /* NULL: the entity's unified topic */
};

struct cps_republish_result {
	char topic[256];    /* where the events went */
	int64_t events;     /* delivered (acknowledged by Kafka) */
	int64_t encoded;    /* of them, encoded again because the log no longer held them */
	int64_t skipped;    /* change-log rows without an event (older than the log) */
	int64_t pages;      /* store pages read */
	int64_t elapsed_ms; /* wall time, store and Kafka */
};

/* Re-publishes `req`: pages of `batch` rows from the store (keyset, never
 * the whole table), each produced with an idempotent producer (acks=all)
 * and waited for before the next page is read. Current records: one event
 * per key at its current version (the logged event of that version, or, when
 * retention removed it, the same encoder run on cpsync.records); deleted
 * records give their DELETE event. Since: every logged change of the entity
 * committed at or after `since`, in log order. `stop` (may be NULL) is read
 * between messages: set, it returns CPS_ERR_RETRIABLE with what was
 * delivered so far in `out`. Bad entity, topic or time: CPS_ERR_INVALID;
 * store or Kafka unreachable or an undelivered event: CPS_ERR_RETRIABLE.
 * @locality any thread; opens its own store session and producer. */
int cps_republish(const struct cps_republish_conf *conf, const struct cps_republish_request *req,
                  const atomic_bool *stop, struct cps_republish_result *out, char *errstr,
                  size_t errstr_size);

/* Whether `since` is an RFC 3339 time, "2024-05-01T00:00:00Z" (fraction
 * and a "+08:00" offset allowed) or a date "2024-05-01" (midnight UTC). */
bool cps_republish_since_ok(const char *since);

/* Whether `topic` is a legal Kafka topic name: 1..249 of [A-Za-z0-9._-],
 * not "." or "..". */
bool cps_republish_topic_ok(const char *topic);

#endif
