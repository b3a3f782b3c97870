/*
 * The ingest stage: one source runner thread per source connector. It polls
 * raw messages, decodes them with the guarded codec (the connector's
 * framing), validates them, produces IngestEvents to the ingest topic with an
 * idempotent producer and dead letters to the store and the dead-letter
 * topic, and commits the source only once the store has applied every event
 * of a batch (end-to-end acknowledgement, ingest_ack.h).
 * See ENGINE.md "Source runner".
 */
#ifndef CPS_INGEST_H
#define CPS_INGEST_H

#include "base/pause.h"
#include "codec/codec.h"
#include "base/common.h"
#include "connectors/connector.h"
#include "codec/guard.h"
#include "ingest/ingest_topic.h"
#include "codec/registry.h"
#include "codec/schema.h"
#include "config/settings.h"
#include "observe/status.h"

#include <stdbool.h>
#include <stddef.h>

/* Opens a fresh source after a fatal poll or commit error (the runner has
 * already closed the old one). May be NULL: the runner then keeps retrying
 * the old source with backoff. */
typedef int (*cps_ingest_reopen_fn)(void *arg, struct cps_conn **out, char *errstr,
                                    size_t errstr_size);

struct cps_ingest_conf {
	const char *platform;          /* "province", "city", "shenshan": the events' platform */
	struct cps_conn *source;       /* an open source; the runner takes it over (see start) */
	enum cps_framing framing;      /* how the source's values are framed */
	struct cps_catalog *catalog;   /* borrowed, must outlive the runner */
	struct cps_registry *registry; /* borrowed, may be NULL (registry-free) */
	const char *ingest_topic;      /* kafka.ingest_topic */
	const char *dead_letter_topic; /* kafka.dead_letter_topic; NULL or "" = store only */
	bool dead_letter_raw;  /* kafka.dead_letter_raw: raw key and bytes on the topic too */
	const char *bootstrap; /* kafka.brokers */
	const struct cps_settings
	    *kafka_props;           /* "kafka.properties.*"/"properties.*"; may be NULL */
	const char *store_conninfo; /* the runner opens its own store connection */
	size_t batch_max;           /* store.batch_size; 0 = 500 */
	int poll_timeout_ms;        /* 0 = 200 */
	int flush_timeout_ms;       /* producer flush per batch; 0 = 30000 */
	int backoff_max_ms;         /* retry backoff cap; 0 = 5000 (starts at 100, doubles) */
	struct cps_link *link;      /* borrowed, may be NULL */
	struct cps_status *status;  /* borrowed, may be NULL (with link: for last_error) */
	const struct cps_guard_limits *limits; /* may be NULL: the defaults */
	cps_ingest_reopen_fn reopen;           /* may be NULL */
	void *reopen_arg;
	/* A single-reader source (a replication slot, a file inbox): the
	 * runner reads it only while it holds the PostgreSQL advisory lock
	 * 'cpsync.source.<platform>' on its own store connection; without it
	 * the link is STANDBY and the source closed. Needs `reopen`; `source`
	 * may then be NULL (opened once the lock is held). */
	bool single_reader;
	int leader_retry_ms;  /* store.leader_retry_ms; 0 = 2000 */
	const char *instance; /* shown as application_name of the lock's session */
	/* the ingest topic's identity check: positions are committed only once
	 * it has verified the stored offsets; NULL = already verified. Borrowed. */
	struct cps_ingest_topic *identity;
	bool start_paused; /* start PAUSED (a pause kept in the store) */
	/* the source's connector and settings, through which its offsets are
	 * read and reset (cps_ingest_offsets_*); borrowed, must outlive the
	 * runner. NULL: the source has no offsets to show. */
	const struct cps_connector_ops *ops;
	const struct cps_settings *settings;
};

struct cps_ingest;

/* Validates `conf` (a single_reader conf may come without a source), builds the codecs and the idempotent producer (acks=all,
 * enable.idempotence=true, conf->kafka_props applied) and starts the runner
 * thread. Strings of `conf` are copied. On success the runner owns
 * conf->source (closed by cps_ingest_stop_and_join); on failure the caller
 * still owns it. CPS_ERR_INVALID for a bad configuration. */
int cps_ingest_start(const struct cps_ingest_conf *conf, struct cps_ingest **out, char *errstr,
                     size_t errstr_size);

/* The operator's pause (base/pause.h): polling stops after the current
 * batch (link state PAUSED); resume goes on. Both take effect between polls. */
struct cps_pause *cps_ingest_pause(struct cps_ingest *r);

/* Stops after the current batch, waits up to 5 s for the store to apply the
 * acknowledged batches and commits their positions (a batch not applied by
 * then is NOT committed and comes again on the next start), joins the
 * thread, closes the source, producer and store connection, and frees the
 * runner. Link state STOPPED. NULL-safe. */
void cps_ingest_stop_and_join(struct cps_ingest *r);

/* Figures kept by the runner itself (also mirrored to the link when set).
 * Thread-safe snapshots. */
struct cps_ingest_stats {
	int64_t accepted;     /* events acknowledged on the ingest topic */
	int64_t dead_letters; /* dead letters stored and acknowledged */
	int64_t errors;       /* failed attempts (poll, produce, store, commit) */
	int64_t commits;      /* successful source commits (of batches the store applied) */
	int64_t restarts;     /* source restarts done (cps_ingest_restart) */
};
void cps_ingest_get_stats(struct cps_ingest *r, struct cps_ingest_stats *out);

/* Asks the runner to close its source and open a fresh one with the reopen
 * callback, between polls (a paused runner reopens on resume). The link is
 * STARTING meanwhile, then RUNNING; stats.restarts counts done restarts.
 * CPS_ERR_INVALID when the runner has no reopen callback. Thread-safe. */
int cps_ingest_restart(struct cps_ingest *r, char *errstr, size_t errstr_size);

/* The source's committed positions at its platform (connector.h:
 * offsets_get), read with a client of the connector's own: any thread,
 * running or paused. CPS_ERR_INVALID when the source has none to show. */
int cps_ingest_offsets_get(struct cps_ingest *r, struct cps_offsets *out, char *errstr,
                           size_t errstr_size);
/* Moves the source's committed positions to `to` (connector.h:
 * offsets_reset). Only while paused: the runner thread itself gives the
 * store up to 5 s to apply what was acknowledged, commits that, calls the
 * connector with the open source and closes the source (forgetting what is
 * not applied: it comes again from the new position or is skipped by it);
 * the source is reopened on resume, at the new position. A single-reader source resets
 * only on the instance that leads it. `out` gets the new positions.
 * CPS_ERR_INVALID with the reason: not paused (starts with "not paused"),
 * not the leader, or the platform cannot go there. Waits up to 60 s.
 * Thread-safe; one reset at a time per runner. */
int cps_ingest_offsets_reset(struct cps_ingest *r, const struct cps_offsets_reset *to,
                             struct cps_offsets *out, char *errstr, size_t errstr_size);

/* Asks the source to re-read `tables` while it goes on streaming (an
 * incremental snapshot, connector.h: snapshot_request), with a client of
 * the connector's own: any thread, running or paused (a paused source starts
 * it on resume). `check_only`: whether it would be accepted. CPS_ERR_INVALID:
 * an unknown or unmapped table; CPS_CONN_CONFLICT: one is already waiting or
 * running, or the source cannot. */
int cps_ingest_snapshot_request(struct cps_ingest *r, const char *const *tables, size_t n,
                                bool check_only, char *errstr, size_t errstr_size);

/* One stored dead letter to run again. Everything is borrowed for the call. */
struct cps_ingest_replay_msg {
	const void *value; /* the raw value as received */
	size_t value_len;
	const void *key; /* may be NULL */
	size_t key_len;
	const char *entity; /* the stream's entity; NULL or "" when it was unknown */
	const char *origin; /* its original source position: the event's provenance */
};

/* Runs ONE message through the runner's own decode / validate / produce path
 * (with a separate codec set and producer, so any thread may call it, while
 * the runner runs or is paused) and waits until the store has applied it
 * (end to end, as a source's positions; up to 30 s). Headers are not kept
 * with dead letters: the effective time is the record's business time or
 * now. Nothing goes to the dead-letter store or topic here.
 * CPS_OK: produced and applied. CPS_ERR_INVALID: still a dead letter,
 * `reason` says why (nothing produced). CPS_ERR_RETRIABLE / CPS_ERR_FATAL:
 * Kafka, the registry or the store failed, or the store did not apply it in
 * time (errstr); the message may have been produced.
 * Serialised per runner. */
int cps_ingest_replay(struct cps_ingest *r, const struct cps_ingest_replay_msg *msg, char *reason,
                      size_t reason_size, char *errstr, size_t errstr_size);

#endif
