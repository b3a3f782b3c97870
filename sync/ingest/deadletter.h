/*
 * Dead letters of one source batch: messages cpsync could not accept, kept
 * with their raw bytes, origin and a specific reason (never personal data).
 * They go to PostgreSQL (cpsync.dead_letters, one call per batch, idempotent
 * by origin) and to the dead-letter topic (value = raw bytes, key = raw key,
 * headers cpsync-reason, cpsync-origin, cpsync-platform, cpsync-entity).
 */
#ifndef CPS_DEADLETTER_H
#define CPS_DEADLETTER_H

#include "base/common.h"
#include "connectors/connector.h"
#include "model/event.h"
#include "store/store.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#define CPS_DEADLETTER_HDR_REASON   "cpsync-reason"
#define CPS_DEADLETTER_HDR_ORIGIN   "cpsync-origin"
#define CPS_DEADLETTER_HDR_PLATFORM "cpsync-platform"
#define CPS_DEADLETTER_HDR_ENTITY   "cpsync-entity"

/* The texts of one dead letter, copied (the reason is cut at 511 bytes). */
struct cps_deadletter_text {
	char platform[CPS_PLATFORM_MAX];
	char origin[CPS_ORIGIN_MAX];
	char entity[CPS_NAME_MAX]; /* "" when unknown */
	char reason[CPS_ERRSTR_SIZE];
};

/* A batch of dead letters. The raw bytes are BORROWED from the source batch
 * (valid until the source's next poll); the texts are copied. */
struct cps_deadletters {
	struct cps_dead_letter *items; /* text pointers set by cps_deadletters_store */
	struct cps_deadletter_text *text;
	size_t n, cap;
};

/* No allocation. */
void cps_deadletters_init(struct cps_deadletters *d);
/* Frees the contents; reusable after cps_deadletters_init. */
void cps_deadletters_release(struct cps_deadletters *d);
/* Forgets the batch, keeps the memory. */
void cps_deadletters_reset(struct cps_deadletters *d);

/* Adds one dead letter of message `m` from `platform`; `entity` may be NULL.
 * CPS_ERR_FATAL only when memory is out. */
int cps_deadletters_add(struct cps_deadletters *d, const char *platform,
                        const struct cps_source_msg *m, const char *entity, const char *reason,
                        int64_t received_ms, char *errstr, size_t errstr_size);

/* Enqueues every dead letter of the batch on `topic` with producer `rk`:
 * the four headers (the origin names the row in cpsync.dead_letters), and
 * with `raw` the raw key and value too. Delivery is the producer owner's
 * to wait for (rd_kafka_flush and its delivery reports). CPS_ERR_RETRIABLE
 * when the queue stays full, CPS_ERR_FATAL on a fatal producer error.
 * @locality the thread that owns `rk` */
int cps_deadletters_produce(const struct cps_deadletters *d, rd_kafka_t *rk, const char *topic,
                            bool raw, char *errstr, size_t errstr_size);

/* Writes the batch to cpsync.dead_letters in one call (a dead letter whose
 * origin is already stored is kept as first stored). Errors are the store's. */
int cps_deadletters_store(struct cps_deadletters *d, struct cps_store *store, char *errstr,
                          size_t errstr_size);

#endif
