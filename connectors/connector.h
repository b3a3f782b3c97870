/*
 * The connector contract: how the engine moves BYTES in from a platform
 * (source: open / poll / commit(positions) / close) and out to it (sink:
 * open / put(batch) / flush / close). Decoding, validation and reconciliation
 * are the engine's. Each connector is one const table of function pointers
 * (struct cps_connector_ops), registered by type name at start-up.
 */
#ifndef CPS_CONNECTOR_H
#define CPS_CONNECTOR_H

#include "base/common.h"
#include "config/settings.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPS_CONNECTOR_API_VERSION 1

#define CPS_STREAM_MAX   256 /* a stream name: Kafka topic (<= 249), slot, file name */
#define CPS_PLATFORM_MAX 64  /* "province", "city", "shenshan" */
#define CPS_ORIGIN_MAX   (CPS_PLATFORM_MAX + CPS_STREAM_MAX + 48)

/* An opaque position in a source, self-contained so that the engine can copy
 * and store it: Kafka (topic, partition, offset); PostgreSQL (slot, -, LSN);
 * files (file name, -, record index). `offset` is the position OF the message
 * (committing it means "this one is done", the connector resumes after it). */
struct cps_position {
	char stream[CPS_STREAM_MAX];
	int32_t partition;
	int64_t offset;
};

/* "province:cpsync.province.person/3@1234" into buf (always terminated). */
void cps_position_format(const char *platform, const struct cps_position *pos, char *buf,
                         size_t size);

struct cps_header {
	const char *name;
	const void *value; /* may be NULL */
	size_t value_len;
};

/* A source's header naming the schema a raw record was written with (the
 * files source's container schema): 16 hex digits of its fingerprint. */
#define CPS_HEADER_WRITER_FP "cpsync-writer-fingerprint"

/* The first header `name` of h[0..n) as a schema fingerprint (16 lowercase
 * hex digits of the CRC-64-AVRO fingerprint, as cpsync writes them): 1 with
 * *fp set, 0 when there is none, -1 when its value is not that. */
int cps_header_fingerprint(const struct cps_header *h, size_t n, const char *name, uint64_t *fp);

/* One message from a source. Every pointer is borrowed from the connector and
 * stays valid until the next poll or close of that source. */
struct cps_source_msg {
	const char *entity; /* hint from the settings' stream -> entity mapping; NULL if none */
	const void *key;    /* may be NULL (no key) */
	size_t key_len;
	const void *value; /* raw as received: this is what the dead-letter store keeps */
	size_t value_len;
	struct cps_position pos;
	char origin[CPS_ORIGIN_MAX]; /* printable position, see cps_position_format */
	int64_t source_ts_ms;        /* when the platform recorded it; -1 when unknown */
	const struct cps_header *headers;
	size_t n_headers;
	/* When the fact became true, as the platform states it (a mapped
	 * effective-time column); without it ingest reads an "effective_time"
	 * header, then the record's own business time, then source_ts_ms. */
	bool has_effective;
	int64_t effective_ms;
	/* Set by a source that knows this message cannot become a record (a row
	 * it cannot map, a TRUNCATE): ingest dead-letters it with this reason,
	 * which names no personal data. Points into the batch like the value. */
	const char *refused;
};

/* What poll fills: a view whose `msgs` array is borrowed from the connector,
 * valid until the next poll or close of that source. */
struct cps_source_batch {
	struct cps_source_msg *msgs;
	size_t n;
};

/* One record for a sink. Everything is borrowed for the duration of put. */
struct cps_sink_record {
	const char *entity;          /* "person", ...: picks the destination */
	const char *stream;          /* destination override (topic/table/file); NULL = by entity */
	const char *origin_platform; /* the platform this change came from */
	const void *key;
	size_t key_len;
	const void *value; /* already framed by the engine */
	size_t value_len;
	const struct cps_header *headers;
	size_t n_headers;
};

/* Status figures for the HTTP status page and metrics. -1 = unknown. */
struct cps_conn_status {
	int64_t lag;         /* source: messages behind the end; sink: not yet delivered */
	uint64_t received;   /* source: messages returned by poll */
	uint64_t committed;  /* source: positions committed */
	uint64_t enqueued;   /* sink: records accepted by put */
	uint64_t delivered;  /* sink: records acknowledged by the platform */
	uint64_t failed;     /* sink: records whose delivery failed */
	uint64_t errors;     /* errors reported to the caller */
	int64_t last_msg_ms; /* wall clock of the last message seen/acknowledged; -1 */
	int64_t ignored;     /* source: entries at the platform it will never read (files) */
	/* source: the table re-read by an incremental snapshot (snapshot_request),
	 * "" when none ever ran; its state ("requested", "running", "done"),
	 * chunks and rows read so far, and the tables still waiting after it */
	char snapshot_table[128];
	char snapshot_state[16];
	int64_t snapshot_chunks, snapshot_rows, snapshot_waiting;
	char last_error[256]; /* "" when none; never personal data */
};

/* A connector counts its figures as it goes in a struct cps_conn_status of
 * its own (set up by cps_conn_status_reset); its describe copies that out
 * and fills in the lag. */
void cps_conn_status_reset(struct cps_conn_status *st);
/* One error reported to the caller: counted, its text ("" for NULL) kept as
 * last_error. */
void cps_conn_status_error(struct cps_conn_status *st, const char *text);

/*
 * Offsets (Kafka Connect's offsets API, KIP-875): what a source has
 * committed at its platform, read and moved from outside the running source.
 */

/* One position a source reports. -1 = unknown or not applicable. */
struct cps_offset_entry {
	char kind[16];               /* "partition", "slot", "file_in_flight", "files_done" */
	char stream[CPS_STREAM_MAX]; /* topic, slot name, file name */
	int32_t partition;           /* Kafka partition; -1 elsewhere */
	int64_t offset;              /* the committed position: Kafka's next offset to read,
	                               the slot's confirmed_flush_lsn, the file's committed
	                               record index, the number of files done */
	int64_t end;                 /* the log end offset, the server's current WAL LSN */
	int64_t lag;                 /* end - offset: messages, or bytes of WAL */
	char text[64];               /* offset as the platform writes it ("0/16B3748"); "" */
};

/* A growable list of entries; zero-initialised is empty. */
struct cps_offsets {
	struct cps_offset_entry *v;
	size_t n, cap;
};

/* Appends a copy of e; CPS_ERR_FATAL when memory is out. */
int cps_offsets_add(struct cps_offsets *o, const struct cps_offset_entry *e);
/* An entry with every number -1 and every text empty. */
void cps_offset_entry_init(struct cps_offset_entry *e, const char *kind, const char *stream);
void cps_offsets_release(struct cps_offsets *o);

enum cps_offsets_to {
	CPS_OFFSETS_EARLIEST,  /* the oldest position the platform still has */
	CPS_OFFSETS_LATEST,    /* the platform's current end: skip what is there */
	CPS_OFFSETS_TIMESTAMP, /* the first position at or after timestamp_ms */
	CPS_OFFSETS_EXPLICIT,  /* targets */
};

/* An explicit target: `offset` as text, as the platform writes it ("42",
 * "0/16B3748"); the connector parses it. */
struct cps_offset_target {
	char stream[CPS_STREAM_MAX];
	int32_t partition; /* -1 where none */
	char offset[64];
};

struct cps_offsets_reset {
	enum cps_offsets_to to;
	int64_t timestamp_ms;                    /* CPS_OFFSETS_TIMESTAMP */
	const struct cps_offset_target *targets; /* CPS_OFFSETS_EXPLICIT; borrowed */
	size_t n_targets;
};

struct cps_connector_ops;

/* Where a sweep_read delivers a platform's full data (sync/sweep/). */
struct cps_sweep_sink {
	/* must be set: an entity the read covers IN FULL (every record of it the
	 * platform holds follows), called once before its records; a record
	 * of an entity not announced is not compared */
	int (*entity)(void *arg, const char *entity, char *errstr, size_t errstr_size);
	/* must be set: one chunk of messages, borrowed for the call */
	int (*emit)(void *arg, const struct cps_source_msg *msgs, size_t n, char *errstr,
	            size_t errstr_size);
	void *arg;
	const atomic_bool *stop; /* may be NULL; checked between chunks */
};

/* sink_open's answer when another instance is the platform's one writer. */
#define CPS_CONN_STANDBY (-10)
/* snapshot_request's answer when the source's state refuses it (a snapshot
 * already waiting or running, a mode that cannot do it); errstr says why. */
#define CPS_CONN_CONFLICT (-11)

/* The base of every connector instance: a connector's own struct embeds it
 * FIRST (struct kafka_source { struct cps_conn base; ... }). Filled by
 * cps_connector_source_open / sink_open. */
struct cps_conn {
	const struct cps_connector_ops *ops;
	char platform[CPS_PLATFORM_MAX];
	bool is_source;
};

/*
 * The table. A connector provides the source side, the sink side, or both; a
 * side's open/poll|put/commit|flush/close are then all set ("must be set").
 * Each open receives settings already validated against `settings` and with
 * declared defaults filled in; open may keep nothing borrowed from them.
 * Errors: CPS_ERR_RETRIABLE for transient trouble (network, broker busy),
 * CPS_ERR_FATAL when the instance is unusable and must be closed.
 */
struct cps_connector_ops {
	int version;                             /* must be CPS_CONNECTOR_API_VERSION */
	const char *type;                        /* must be set: "kafka", "postgres", "files" */
	const struct cps_setting_decl *settings; /* must be set */
	size_t n_settings;                       /* must be > 0 */

	/* source side: may be NULL as a whole */
	int (*source_open)(const char *platform, const struct cps_settings *settings,
	                   struct cps_conn **out, char *errstr, size_t errstr_size);
	/* must be set with source_open. Returns within timeout_ms (pause/stop
	 * rely on it) with 0..max messages in *batch (replacing the previous
	 * batch). A message is only handed out again after a reopen, unless
	 * committed. */
	int (*source_poll)(struct cps_conn *c, struct cps_source_batch *batch, size_t max,
	                   int timeout_ms, char *errstr, size_t errstr_size);
	/* must be set with source_open. Durably records that the given positions
	 * (and everything before them in their stream/partition) are done;
	 * synchronous. */
	int (*source_commit)(struct cps_conn *c, const struct cps_position *pos, size_t n,
	                     char *errstr, size_t errstr_size);
	void (*source_close)(struct cps_conn *c); /* must be set with source_open */
	void (*source_describe)(struct cps_conn *c, struct cps_conn_status *st); /* may be NULL */
	/* may be NULL (no offsets to show); a source's only. Reads the source's committed
	 * positions at its platform with a short-lived client of its own, so any
	 * thread may call it while the source runs. Fills `out` (appends). */
	int (*offsets_get)(const char *platform, const struct cps_settings *settings,
	                   struct cps_offsets *out, char *errstr, size_t errstr_size);
	/* may be NULL (positions cannot be reset); needs offsets_get. Moves the committed positions
	 * to `to`, on the thread that owns `open`: this connector's open source
	 * of the link (paused: not polled), or NULL when none is open. The
	 * connector may use it (a Kafka consumer commits as the group's member)
	 * or end its sessions (a replication slot must be inactive to move).
	 * CPS_ERR_INVALID with the reason when the platform cannot go there (a
	 * slot cannot go back): then `open` must be left as it was, and the
	 * caller keeps it. On any other result the caller closes it and opens a
	 * fresh one, which starts at the new positions. Appends the new
	 * positions to `out`. */
	int (*offsets_reset)(const char *platform, const struct cps_settings *settings,
	                     struct cps_conn *open, const struct cps_offsets_reset *to,
	                     struct cps_offsets *out, char *errstr, size_t errstr_size);
	/* may be NULL (the source cannot re-read tables while it streams); a
	 * source's only. Asks the source to re-read `tables` ("schema.table")
	 * while it goes on streaming (an incremental snapshot), through a
	 * short-lived client of its own, so any thread may call it; the running
	 * source picks the request up (a stopped or paused one when it next
	 * streams). `check_only`: only says whether it would be accepted.
	 * CPS_ERR_INVALID: a table is unknown or not mapped; CPS_CONN_CONFLICT:
	 * a snapshot is already waiting or running, or the mode cannot do it. */
	int (*snapshot_request)(const char *platform, const struct cps_settings *settings,
	                        const char *const *tables, size_t n, bool check_only, char *errstr,
	                        size_t errstr_size);

	/* may be NULL (the platform cannot be swept); a source's only. Reads
	 * the platform's FULL current data for a sweep (sync/sweep/) with
	 * clients of its own, so any thread may call it while the source runs,
	 * and commits nothing: each record as poll would hand it out (value as
	 * the source sends it; a value NULL says the record is gone), at most
	 * `chunk` messages per sink->emit, never more than a chunk in memory.
	 * A nonzero return of the sink ends the read and is returned; a set
	 * sink->stop ends it with CPS_ERR_RETRIABLE. */
	int (*sweep_read)(const char *platform, const struct cps_settings *settings, size_t chunk,
	                  const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size);

	/* sink side: may be NULL as a whole. CPS_CONN_STANDBY: the platform takes
	 * one writer at a time and another instance is it; the runner shows the
	 * link STANDBY and tries again (nothing is consumed meanwhile). */
	int (*sink_open)(const char *platform, const struct cps_settings *settings,
	                 struct cps_conn **out, char *errstr, size_t errstr_size);
	/* must be set with sink_open. Accepts records in order; *accepted says
	 * how many were taken even on error. Acceptance is not delivery. */
	int (*sink_put)(struct cps_conn *c, const struct cps_sink_record *recs, size_t n,
	                size_t *accepted, char *errstr, size_t errstr_size);
	/* must be set with sink_open. Waits until every accepted record is
	 * delivered; an error if any delivery since the last flush failed. */
	int (*sink_flush)(struct cps_conn *c, int timeout_ms, char *errstr, size_t errstr_size);
	void (*sink_close)(struct cps_conn *c); /* must be set with sink_open */
	void (*sink_describe)(struct cps_conn *c, struct cps_conn_status *st); /* may be NULL */
};

/* Registry. Refuses (CPS_ERR_INVALID, reason in errstr) a table of another
 * version, one with a missing mandatory slot, or a type already registered.
 * The table is borrowed: it must be static. Call at start-up, before threads. */
int cps_connector_register(const struct cps_connector_ops *ops, char *errstr, size_t errstr_size);
/* The table for `type`, or NULL. */
const struct cps_connector_ops *cps_connector_find(const char *type);
/* Registers the connectors compiled into cpsync (kafka, files, postgres;
 * connectors/builtin.c, the one place that names them). Idempotent. */
int cps_connector_register_builtins(char *errstr, size_t errstr_size);
/* Forgets every registration (tests). */
void cps_connector_registry_clear(void);

/* Open one side: validates `settings` against ops->settings (an error names
 * the unknown or invalid key), fills in defaults, calls the connector's open
 * and fills the base. A connector without that side is CPS_ERR_FATAL. */
int cps_connector_source_open(const struct cps_connector_ops *ops, const char *platform,
                              const struct cps_settings *settings, struct cps_conn **out,
                              char *errstr, size_t errstr_size);
int cps_connector_sink_open(const struct cps_connector_ops *ops, const char *platform,
                            const struct cps_settings *settings, struct cps_conn **out,
                            char *errstr, size_t errstr_size);

/* The offsets slots with settings validated and defaults filled in, as
 * open does. CPS_ERR_INVALID ("... cannot ...") when the slot is NULL. */
int cps_connector_offsets_get(const struct cps_connector_ops *ops, const char *platform,
                              const struct cps_settings *settings, struct cps_offsets *out,
                              char *errstr, size_t errstr_size);
int cps_connector_offsets_reset(const struct cps_connector_ops *ops, const char *platform,
                                const struct cps_settings *settings, struct cps_conn *open,
                                const struct cps_offsets_reset *to, struct cps_offsets *out,
                                char *errstr, size_t errstr_size);

/* snapshot_request with settings validated and defaults filled in;
 * CPS_CONN_CONFLICT ("... cannot ...") when the slot is NULL. */
int cps_connector_snapshot_request(const struct cps_connector_ops *ops, const char *platform,
                                   const struct cps_settings *settings, const char *const *tables,
                                   size_t n, bool check_only, char *errstr, size_t errstr_size);

/* sweep_read with settings validated and defaults filled in;
 * CPS_ERR_INVALID ("... cannot ...") when the slot is NULL. */
int cps_connector_sweep_read(const struct cps_connector_ops *ops, const char *platform,
                             const struct cps_settings *settings, size_t chunk,
                             const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size);

/* Dispatchers: the only way the core calls into a connector. */
static inline int cps_source_poll(struct cps_conn *c, struct cps_source_batch *batch, size_t max,
                                  int timeout_ms, char *errstr, size_t errstr_size)
{
	return c->ops->source_poll(c, batch, max, timeout_ms, errstr, errstr_size);
}

static inline int cps_source_commit(struct cps_conn *c, const struct cps_position *pos, size_t n,
                                    char *errstr, size_t errstr_size)
{
	return c->ops->source_commit(c, pos, n, errstr, errstr_size);
}

static inline void cps_source_close(struct cps_conn *c)
{
	if (c)
		c->ops->source_close(c);
}

static inline int cps_sink_put(struct cps_conn *c, const struct cps_sink_record *recs, size_t n,
                               size_t *accepted, char *errstr, size_t errstr_size)
{
	return c->ops->sink_put(c, recs, n, accepted, errstr, errstr_size);
}

static inline int cps_sink_flush(struct cps_conn *c, int timeout_ms, char *errstr,
                                 size_t errstr_size)
{
	return c->ops->sink_flush(c, timeout_ms, errstr, errstr_size);
}

static inline void cps_sink_close(struct cps_conn *c)
{
	if (c)
		c->ops->sink_close(c);
}

/* Fills st (reset first) with what the connector knows; -1/0 otherwise.
 * @locality the thread that polls/puts on c (the engine snapshots the figures
 * for the status page; connectors keep their counters unsynchronised). */
void cps_conn_describe(struct cps_conn *c, struct cps_conn_status *st);

#endif
