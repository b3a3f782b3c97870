/*
 * Private to the ingest room: the source runner's state (struct cps_ingest)
 * shared by the files that split it by concept — lifecycle (ingest.c),
 * producer (ingest_producer.c), one message (ingest_message.c), the runner
 * thread (ingest_runner.c), single-reader leadership (ingest_leader.c) and
 * dead-letter replay (ingest_replay.c). Not for use outside sync/ingest/.
 */
#ifndef CPS_INGEST_INT_H
#define CPS_INGEST_INT_H

#include "ingest/deadletter.h"
#include "ingest/ingest.h"
#include "ingest/ingest_ack.h"
#include "base/arena.h"
#include "codec/record.h"
#include "model/event.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FACILITY     "INGEST"
#define ACK_CHECK_MS 20 /* how often the store is asked what it has applied */

struct cps_ingest {
	/* configuration */
	char platform[CPS_PLATFORM_MAX];
	char *ingest_topic, *dead_letter_topic, *store_conninfo, *bootstrap; /* in `strings` */
	struct cps_arena strings;
	struct cps_settings props;
	enum cps_framing framing;
	struct cps_catalog *catalog;
	struct cps_registry *registry;
	size_t batch_max;
	int poll_timeout_ms, flush_timeout_ms, backoff_max_ms;
	struct cps_link *link;
	struct cps_status *status;
	cps_ingest_reopen_fn reopen;
	void *reopen_arg;
	bool single_reader;
	bool dead_letter_raw; /* raw key and bytes on the dead-letter topic too */
	int leader_retry_ms;
	char instance[128];
	struct cps_ingest_topic *identity;

	/* @locality runner thread (after start) */
	struct cps_conn *source;
	rd_kafka_t *rk;
	struct cps_store *store;
	struct cps_codec *codec[CPS_N_ENTITIES];
	/* the typed decoder's compiled entity schemas (NULL: that entity goes
	 * the JSON way) and its arena, reset per message */
	struct cps_record_schema *rschema[CPS_N_ENTITIES];
	struct cps_arena arena;
	bool json_path; /* always today's JSON round trip (benchmark, tests) */
	struct cps_event_codec *events;
	struct cps_buf value, key;
	struct cps_deadletters dead;
	struct cps_position *positions;
	size_t cap_positions;
	int64_t batch_accepted, batch_newest_effective;
	/* delivery reports of the current attempt (served on the runner thread) */
	int64_t dr_failed;
	char dr_first_error[256];
	struct cps_ingest_produced *produced; /* the attempt's last offset per partition */
	size_t n_produced, cap_produced;
	bool produced_oom;
	/* acknowledged batches waiting for the store (ingest_ack.h) */
	struct cps_ingest_acks *acks;
	int64_t acks_checked_ms;
	/* a single-reader source's advisory lock: its own store session */
	PGconn *lock_conn;
	bool leading, standby_logged;
	int64_t lock_checked_ms;

	pthread_t thread;
	atomic_bool stop;
	struct cps_pause pause;
	_Atomic int64_t accepted, dead_letters, errors, commits;

	/* cps_ingest_restart: the runner closes and reopens its source */
	atomic_bool restart;
	_Atomic int64_t restarts;
	/* cps_ingest_replay: a second message path (its own codecs, producer
	 * and buffers, created on first use) so that replays never touch the
	 * runner thread's; serialised by replay_lock */
	struct cps_guard_limits limits;
	bool has_limits;
	pthread_mutex_t replay_lock;
	struct cps_ingest *replay;

	/* offsets (ingest_offsets.c): the connector and its settings (borrowed),
	 * and the one reset request the paused runner thread serves */
	const struct cps_connector_ops *ops;
	const struct cps_settings *settings;
	pthread_mutex_t offsets_lock; /* guards the reset_* fields */
	pthread_cond_t offsets_cv;
	pthread_mutex_t reset_serial;             /* one reset at a time */
	const struct cps_offsets_reset *reset_to; /* posted, not yet taken; NULL: none */
	bool reset_taken, reset_done;
	struct cps_offsets *reset_out;
	int reset_rc;
	char reset_err[CPS_ERRSTR_SIZE];
};

/* ---- ingest_producer.c: the idempotent producer of the ingest topic ---- */

/* Creates r->rk (acks=all, idempotent, r->props applied); its delivery
 * reports note the produced offsets and failures of the current attempt. */
int cps_ingest_producer_new(struct cps_ingest *r, char *errstr, size_t errstr_size);
/* Flushes briefly, purges and destroys r->rk; NULL-safe on r->rk. */
void cps_ingest_producer_free(struct cps_ingest *r);
/* Produces one message (copied), waiting up to 30 s while the queue is full. */
int cps_ingest_produce(struct cps_ingest *r, const char *topic, const void *key, size_t key_len,
                       const void *value, size_t value_len, char *errstr, size_t errstr_size);

/* ---- ingest_message.c ---------------------------------------------------- */

/* Turns one message into an event produced to the ingest topic or into a
 * dead letter (r->dead). An error return means the batch failed. */
int cps_ingest_message(struct cps_ingest *r, const struct cps_source_msg *m, int64_t now,
                       char *errstr, size_t errstr_size);
/* The same up to the produce: CPS_OK with *accepted true, the ingest topic's
 * key and value in r->key and r->value and the event's effective time in
 * *effective_ms; or *accepted false when the message became a dead letter.
 * An error return means the batch failed. */
int cps_ingest_message_encode(struct cps_ingest *r, const struct cps_source_msg *m, int64_t now,
                              bool *accepted, int64_t *effective_ms, char *errstr,
                              size_t errstr_size);

/* ---- ingest_leader.c: a single-reader source's advisory lock ------------- */

/* Closes the lock session: the lock goes with it. */
void cps_ingest_leader_release(struct cps_ingest *r);
/* Asks for the lock: CPS_OK with r->leading telling whether it is ours;
 * CPS_ERR_RETRIABLE when the store could not be asked (session closed). */
int cps_ingest_leader_try(struct cps_ingest *r, char *err, size_t err_size);
/* Whether the leader's lock session is still alive. */
bool cps_ingest_leader_check(struct cps_ingest *r);
/* Sleeps store.leader_retry_ms (interrupted by stop, restart or pause). */
void cps_ingest_standby_sleep(struct cps_ingest *r);

/* ---- ingest_runner.c: the runner thread ---------------------------------- */

/* The runner thread's start routine (arg: the struct cps_ingest). */
void *cps_ingest_runner_main(void *arg);

/* ---- ingest_offsets.c ---------------------------------------------------- */

/* Serves a posted offsets reset, if any: `drain` gives the store its chance
 * to apply the acknowledged batches, the connector resets with the open
 * source, `drop` closes it. @locality runner thread, while paused */
void cps_ingest_offsets_serve(struct cps_ingest *r, void (*drain)(struct cps_ingest *),
                              void (*drop)(struct cps_ingest *));

/* ---- ingest.c: lifecycle ------------------------------------------------- */

/* Frees a runner or a replay path (and its replay path), closing its
 * producer, lock session and store connection; not its source. NULL-safe. */
void cps_ingest_runner_free(struct cps_ingest *r);
/* A zeroed runner or replay path with its platform, framing, catalog and
 * registry set and its buffers ready; NULL when memory is out. */
struct cps_ingest *cps_ingest_alloc(const char *platform, enum cps_framing framing,
                                    struct cps_catalog *catalog, struct cps_registry *registry);
/* Copies the topics, the store's conninfo and the brokers into r->strings
 * (an empty or NULL dead_letter_topic leaves r->dead_letter_topic NULL) and
 * creates r->acks for the ingest topic; -1 when memory is out. */
int cps_ingest_set_endpoints(struct cps_ingest *r, const char *ingest_topic,
                             const char *dead_letter_topic, const char *store_conninfo,
                             const char *bootstrap);
/* The message path of `r` from its catalog and limits: a codec by entity,
 * the IngestEvent codec and the producer. Freed by cps_ingest_runner_free. */
int cps_ingest_path_open(struct cps_ingest *r, char *errstr, size_t errstr_size);
/* The same without the producer (cps_ingest_message_encode needs no more). */
int cps_ingest_codecs_open(struct cps_ingest *r, char *errstr, size_t errstr_size);

#endif
