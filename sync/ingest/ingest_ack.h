/*
 * End-to-end acknowledgement of a source's positions (ENGINE.md "Source
 * runner"). The ingest topic acknowledging a batch is not enough to let the
 * platform forget it: an embedded broker dies with the process, a topic can
 * be re-created. So a source runner keeps each acknowledged batch here, with
 * the last ingest offset it produced per partition, and commits the batch's
 * source positions only once the store's committed ingest offsets
 * (cpsync.ingest_offsets, written with the states) have passed all of them.
 * Batches are released in order. Private to the source runner's thread.
 */
#ifndef CPS_INGEST_ACK_H
#define CPS_INGEST_ACK_H

#include "connectors/connector.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* The last offset produced to one partition of the ingest topic. */
struct cps_ingest_produced {
	int32_t partition;
	int64_t last_offset;
};

/* Raises the partition's last produced offset in `list` (of *n, room for
 * `cap`). -1 when `cap` is reached. */
int cps_ingest_produced_note(struct cps_ingest_produced *list, size_t *n, size_t cap,
                             int32_t partition, int64_t offset);

/* Raises the entry of pos's stream/partition in `list` (of *n, room for
 * `cap`) to pos->offset, or appends it. -1 when `cap` is reached. */
int cps_positions_raise(struct cps_position *list, size_t *n, size_t cap,
                        const struct cps_position *pos);

struct cps_ingest_acks;

/* Borrows `ingest_topic`: it must outlive the queue (the runner's copy). */
struct cps_ingest_acks *cps_ingest_acks_new(const char *ingest_topic);
void cps_ingest_acks_free(struct cps_ingest_acks *a);

/* Queues an acknowledged batch: its source positions (the highest of each
 * stream/partition), what it produced and how many events. Copied. */
int cps_ingest_acks_push(struct cps_ingest_acks *a, const struct cps_position *pos, size_t n_pos,
                         const struct cps_ingest_produced *produced, size_t n_produced,
                         size_t n_events);

/* Batches queued and not released, and the events they hold. */
size_t cps_ingest_acks_pending(const struct cps_ingest_acks *a);
size_t cps_ingest_acks_pending_events(const struct cps_ingest_acks *a);

/* Asks the store how far its committed ingest offsets have come, releases
 * every leading batch they have passed and gives the released batches'
 * positions merged (highest per stream/partition) in *out / *n_out, valid
 * until the next call. *n_batches says how many batches were released
 * (batches without positions count too). */
int cps_ingest_acks_release(struct cps_ingest_acks *a, struct cps_store *store,
                            const struct cps_position **out, size_t *n_out, size_t *n_batches,
                            char *errstr, size_t errstr_size);

/* Forgets every queued batch: the source was closed and will deliver them
 * again from its last committed position. */
void cps_ingest_acks_clear(struct cps_ingest_acks *a);

#endif
